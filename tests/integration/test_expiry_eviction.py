"""Expiry and maxmemory through the real server and redis-py.

Threats (reliability matrix T1 and R1):
 - keys with a TTL that nobody reads again are never reclaimed, or too
   slowly (200k keys with PX 500 must be gone within ~2.5 s of expiring,
   measured with DBSIZE only, which reads no key);
 - used_memory running past maxmemory while clients keep writing (bound:
   1.02 x maxmemory at every sample, one sample after every batch, batches
   mixing SET and MSET);
 - a policy failing writes it could have served (allkeys-*: zero errors),
   refusing reads under noeviction, or a volatile-* policy refusing writes
   while keys with a TTL are still there to evict.

Servers are started per test with `--maxmemory 64mb --maxmemory-policy P`
by conftest.py's `server_factory` (ephemeral loopback port, PID recorded,
stopped with SIGTERM to that PID, exit status 0 checked). The test
is valid against Debian's redis-server too (SIMCACHE_SERVER=
/usr/bin/redis-server), which is how its expectations were checked.
"""
import time

import pytest
import redis

MAXMEMORY = 64 * 1024 * 1024
VALUE = b"v" * 4000          # entry + key + value fit a 4 KiB size class
BATCH = 200                  # commands per pipeline; one used_memory sample each
SLOW = {"socket_timeout": 30}   # redis-py options: a 64 MB fill or eviction is not quick
OOM_PREFIX = "OOM command not allowed when used memory > 'maxmemory'."


def keyspace_expires(r):
    db = r.info("keyspace").get("db0")
    return db["expires"] if db else 0


def test_active_expiry_reclaims_200k_keys_without_reads(server_factory):
    r = server_factory().redis(**SLOW)
    n, batch = 200_000, 10_000
    for start in range(0, n, batch):
        p = r.pipeline(transaction=False)
        for i in range(start, start + batch):
            p.set("exp:%d" % i, "v", px=500)
        p.execute()
    r.set("persistent", "stays")
    expired_at = time.monotonic() + 0.5   # every key's TTL has run out by then
    left = r.dbsize()
    while left > 1:
        assert time.monotonic() < expired_at + 2.5, \
            "%d keys with an expired TTL still present 2.5 s after expiry" % (left - 1)
        time.sleep(0.05)
        left = r.dbsize()
    assert r.get("persistent") == b"stays"
    stats = r.info("stats")
    assert stats["expired_keys"] >= n
    assert keyspace_expires(r) == 0


def write_batch(r, first, volatile_share):
    """BATCH writes of VALUE: every 4th batch one MSET of BATCH keys, else
    SETs; with volatile_share, that fraction of the SETs carry EX 100000.
    Returns the list of replies (exceptions included)."""
    p = r.pipeline(transaction=False)
    if (first // BATCH) % 4 == 3 and not volatile_share:
        p.mset({"k:%d" % (first + j): VALUE for j in range(BATCH)})
    else:
        for j in range(BATCH):
            i = first + j
            ttl = 100_000 if volatile_share and (i % 100) < volatile_share * 100 else None
            p.set("k:%d" % i, VALUE, ex=ttl)
    return p.execute(raise_on_error=False)


def oom_errors(replies):
    errs = [x for x in replies if isinstance(x, Exception)]
    for e in errs:
        assert isinstance(e, redis.exceptions.ResponseError), repr(e)
        assert str(e) == OOM_PREFIX, "unexpected error %r" % str(e)
    return len(errs)


def fill_5x(r, volatile_share=0.0, on_error=None):
    """Writes 5x maxmemory of values in batches, sampling used_memory after
    each. Returns (errors, worst used/maxmemory ratio)."""
    total = 5 * MAXMEMORY // len(VALUE)
    errors, worst = 0, 0.0
    for first in range(0, total, BATCH):
        e = oom_errors(write_batch(r, first, volatile_share))
        if e and on_error:
            on_error(first)
        errors += e
        used = r.info("memory")["used_memory"]
        ratio = used / MAXMEMORY
        worst = max(worst, ratio)
        assert ratio <= 1.02, "used_memory %d = %.4f x maxmemory after batch at %d" % (
            used, ratio, first)
    return errors, worst


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu", "allkeys-random"])
def test_allkeys_policies_stay_under_maxmemory_without_errors(server_factory, policy):
    r = server_factory("--maxmemory", "64mb", "--maxmemory-policy", policy).redis(**SLOW)
    errors, worst = fill_5x(r)
    assert errors == 0, "%d writes refused under %s" % (errors, policy)
    assert r.info("stats")["evicted_keys"] > 0
    assert 0.5 < worst <= 1.02


@pytest.mark.parametrize("policy", ["volatile-lru", "volatile-lfu", "volatile-random",
                                    "volatile-ttl"])
def test_volatile_policies_refuse_writes_only_when_no_key_has_a_ttl(server_factory, policy):
    r = server_factory("--maxmemory", "64mb", "--maxmemory-policy", policy).redis(**SLOW)

    def check_no_ttl_left(first):
        assert keyspace_expires(r) == 0, \
            "write refused at %d while %d keys with a TTL could be evicted" % (
                first, keyspace_expires(r))

    # Half the keys are persistent: they accumulate until nothing volatile
    # is left, then writes must fail with -OOM.
    errors, _ = fill_5x(r, volatile_share=0.5, on_error=check_no_ttl_left)
    assert errors > 0, "persistent keys alone exceed maxmemory: writes must fail"
    assert r.info("stats")["evicted_keys"] > 0


def test_noeviction_refuses_only_writes(server_factory):
    r = server_factory("--maxmemory", "64mb", "--maxmemory-policy", "noeviction").redis(**SLOW)
    state = {}

    def after_first_error(first):
        if state:
            return
        state["first"] = first
        # Reads and non-DENYOOM commands keep working.
        assert r.get("k:0") == VALUE
        assert r.exists("k:0", "k:1") == 2
        assert r.strlen("k:1") == len(VALUE)
        assert r.mget("k:0", "nope") == [VALUE, None]
        assert r.ttl("k:0") == -1
        assert r.dbsize() > 0
        # The failed batch's query buffer is gone, so a few writes may fit
        # again (client buffers count in used_memory); they soon fail.
        for i in range(1000):
            try:
                r.set("one-more:%d" % i, VALUE)
            except redis.exceptions.ResponseError as e:
                assert str(e) == OOM_PREFIX
                break
        else:
            pytest.fail("1000 more writes accepted over maxmemory under noeviction")
        assert r.get("k:0") == VALUE
        # DEL is not DENYOOM, and frees room for a write. (A write admitted
        # just under the limit may overshoot by one command: an MSET batch
        # adds 800 KB, so free more than that.)
        assert r.delete(*["k:%d" % i for i in range(500)]) == 500
        assert r.set("after-delete", b"x" * 100) is True

    errors, _ = fill_5x(r, on_error=after_first_error)
    assert errors > 0 and "first" in state
    assert r.info("stats")["evicted_keys"] == 0


def test_lowering_maxmemory_at_run_time_evicts_the_backlog(server_factory):
    """CONFIG SET maxmemory far below the data: writes keep being served
    (each evicts for a bounded time) and the cron brings used_memory under
    the new limit within a few seconds."""
    r = server_factory("--maxmemory-policy", "allkeys-random").redis(**SLOW)
    for first in range(0, 8000, BATCH):          # ~32 MB of values
        write_batch(r, first, 0.0)
    limit = 8 * 1024 * 1024
    assert r.config_set("maxmemory", str(limit)) is True
    assert r.set("after-lowering", "v") is True
    deadline = time.monotonic() + 5
    used = r.info("memory")["used_memory"]
    while used > limit * 1.02:
        assert time.monotonic() < deadline, "used_memory %d still over %d" % (used, limit)
        time.sleep(0.05)
        used = r.info("memory")["used_memory"]
    assert r.info("stats")["evicted_keys"] > 0
