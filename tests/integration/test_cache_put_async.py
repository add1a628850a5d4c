"""CACHE.PUT's HNSW insert on the worker pool (server/cache.c note 9).

A PUT into a namespace of at least CACHE_ASYNC_MIN (64) entries stores the
entry at once (exact tier, reply with its id) and runs the HNSW insert on
the pool; lookups meanwhile also score the in-flight vectors exactly, so
the entry is visible to both tiers at once. The threats: the loop stalls
behind inserts (other clients wait), a pipelined GET after a PUT misses
the entry, and an entry deleted while its
insert runs (DEL, replacing PUT, FLUSH, DROP, expiry) comes back through
the semantic tier once the insert lands. Deletes inside one pipeline run
before any completion (completions run on the loop, after the batch), so
the orphan path is exercised deterministically; INFO's
cache_inserts_orphaned proves it ran. scripts/test.sh asan runs this file
under ASan+UBSan (use-after-free of an entry or a job would abort)."""
import socket
import threading
import time

import pytest

from conftest import ns_name, as_dict, FAQ, REWORDED

pytestmark = pytest.mark.simcache_only

FILLERS = 100




def fillers(c, ns, n=FILLERS, start=0):
    p = c.pipeline(transaction=False)
    for i in range(start, start + n):
        p.execute_command("CACHE.PUT", ns, f"filler entry {i} about kumquat{i} and zeppelin{i}",
                          f"filler-{i}")
    return p.execute()


def ins(c):
    i = c.info("cache")
    return {k: i["cache_inserts_" + k] for k in ("inflight", "threaded", "inline", "orphaned")}


def settle(c, timeout=20.0):
    """Waits until no insert is in flight on the pool."""
    deadline = time.time() + timeout
    while ins(c)["inflight"] != 0:
        assert time.time() < deadline, "inserts still in flight after %.0fs" % timeout
        time.sleep(0.01)


def get(c, ns, q):
    return as_dict(c.execute_command("CACHE.GET", ns, q))


def test_puts_into_a_large_namespace_insert_on_the_pool_and_become_semantic(r):
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    before = ins(r)
    fillers(r, ns)
    mid = ins(r)
    # the first 64 PUTs found a small namespace: inline; the rest went to the pool
    assert mid["inline"] - before["inline"] >= 64
    assert mid["threaded"] + mid["inflight"] - before["threaded"] - before["inflight"] > 0
    for q, a in FAQ.items():
        r.execute_command("CACHE.PUT", ns, q, a)
    settle(r)
    after = ins(r)
    assert after["threaded"] - before["threaded"] >= 3
    for q, a in REWORDED.items():
        d = get(r, ns, q)
        assert d["tier"] == b"semantic" and d["response"] == a.encode(), (q, d)
    assert r.info("cache")["cache_entries"] >= FILLERS + len(FAQ)


def test_pipelined_put_then_get_sees_the_entry_in_both_tiers(r):
    """Read-your-writes: in one pipeline, right after each PUT, the exact GET
    hits and the reworded GET and CACHE.SEARCH find the entry semantically,
    whether its insert is still in flight when the lookup starts (the
    in-flight vector is scored) or not. (A semantic GET parks the
    connection, so completions may run before the next command: the
    deterministic in-flight case is tests/unit/test_cache_put_mt.c.)"""
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    fillers(r, ns)
    settle(r)
    p = r.pipeline(transaction=False)
    for (q, a), rq in zip(FAQ.items(), REWORDED):
        p.execute_command("CACHE.PUT", ns, q, a)
        p.execute_command("CACHE.GET", ns, q)
        p.execute_command("CACHE.GET", ns, rq)
        p.execute_command("CACHE.SEARCH", ns, rq, "COUNT", 1)
    out = p.execute()
    for i, (q, a) in enumerate(FAQ.items()):
        eid, d, ds, found = out[4 * i], as_dict(out[4 * i + 1]), as_dict(out[4 * i + 2]), \
            out[4 * i + 3]
        assert d["tier"] == b"exact" and d["response"] == a.encode(), d
        assert int(d["id"]) == eid
        assert ds["tier"] == b"semantic" and ds["response"] == a.encode(), ds
        assert as_dict(found[0])["id"] == eid, found
    settle(r)
    assert ins(r)["threaded"] > 0


def test_entries_deleted_while_their_insert_runs_never_come_back(r):
    """DEL, replacing PUT, FLUSH and DROP in the same pipeline as the PUTs:
    the inserts are still queued when the entries go; after they landed,
    semantic GETs of the deleted prompts miss (or answer the replacement)."""
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    fillers(r, ns)
    settle(r)
    before = ins(r)

    # DEL by predicted id: ids are sequential per namespace
    probe = r.execute_command("CACHE.PUT", ns, "probe entry xylophone quartz", "probe")
    p = r.pipeline(transaction=False)
    for k, (q, a) in enumerate(FAQ.items()):
        p.execute_command("CACHE.PUT", ns, q, a)
        p.execute_command("CACHE.DEL", ns, probe + 1 + k)
    out = p.execute()
    assert out == [probe + 1, 1, probe + 2, 1, probe + 3, 1], out
    settle(r)
    for q in REWORDED:
        assert get(r, ns, q)["tier"] == b"miss", q

    # replacing PUT: the first answer's vector must never serve
    p = r.pipeline(transaction=False)
    for q, a in FAQ.items():
        p.execute_command("CACHE.PUT", ns, q, "old-" + a)
        p.execute_command("CACHE.PUT", ns, q, "new-" + a)
    p.execute()
    settle(r)
    for q, a in REWORDED.items():
        d = get(r, ns, q)
        assert d["tier"] == b"semantic" and d["response"] == ("new-" + a).encode(), (q, d)

    # FLUSH after a batch of queued inserts
    p = r.pipeline(transaction=False)
    for i in range(40):
        p.execute_command("CACHE.PUT", ns, f"late filler {i} about walrus{i} and tuba{i}", "x")
    for q, a in FAQ.items():
        p.execute_command("CACHE.PUT", ns, q, a)
    p.execute_command("CACHE.FLUSH", ns)
    out = p.execute()
    assert out[-1] >= 40 + len(FAQ)
    settle(r)
    fillers(r, ns, start=1000)   # large again: lookups go through the pool path too
    settle(r)
    for q in REWORDED:
        assert get(r, ns, q)["tier"] == b"miss", q
    after = ins(r)
    # the deleted entries' inserts completed after the deletes: orphans
    assert after["orphaned"] - before["orphaned"] >= 3 + 3 + 40 + 3, (before, after)

    # DROP (and re-create under the same name) with inserts queued
    p = r.pipeline(transaction=False)
    for q, a in FAQ.items():
        p.execute_command("CACHE.PUT", ns, q, a)
    p.execute_command("CACHE.DROP", ns)
    p.execute_command("CACHE.CREATE", ns)
    p.execute()
    fillers(r, ns)
    settle(r)
    for q in REWORDED:
        assert get(r, ns, q)["tier"] == b"miss", q
    assert r.ping()


def test_expired_entries_inserted_on_the_pool_are_not_served(r):
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    fillers(r, ns)
    for q, a in FAQ.items():
        r.execute_command("CACHE.PUT", ns, q, a, "TTL", 1)
    settle(r)
    assert get(r, ns, next(iter(REWORDED)))["tier"] == b"semantic"
    time.sleep(1.3)
    for q in REWORDED:
        assert get(r, ns, q)["tier"] == b"miss", q


def test_loop_serves_other_clients_while_inserts_are_queued(srv):
    """A writer pipelines PUTs into a large, high-dimensional namespace
    while a reader on another connection polls INFO and runs GETs: the
    reader must see inserts in flight (it was served while they were
    queued), and every GET it sent was answered correctly (exact tier
    always; a semantic hit only with the right answer)."""
    main = srv.redis()
    ns = ns_name()
    main.execute_command("CACHE.CREATE", ns, "DIM", 1024)
    fillers(main, ns, n=200)
    for q, a in FAQ.items():
        main.execute_command("CACHE.PUT", ns, q, a)
    settle(main)
    before = ins(main)
    stop = threading.Event()
    errors, puts = [], [0]

    def writer():
        c = srv.redis()
        try:
            i = 0
            while not stop.is_set():
                p = c.pipeline(transaction=False)
                for _ in range(32):
                    p.execute_command("CACHE.PUT", ns,
                                      f"writer {i} prompt about gadget{i} and widget{i % 97}",
                                      f"w{i}")
                    i += 1
                p.execute()
                puts[0] += 32
        except Exception as e:  # noqa: BLE001 -- reported below
            errors.append(repr(e))
        finally:
            c.close()

    t = threading.Thread(target=writer)
    t.start()
    seen_inflight, gets = 0, 0
    try:
        deadline = time.time() + 3
        while time.time() < deadline:
            seen_inflight = max(seen_inflight, ins(main)["inflight"])
            d = get(main, ns, "How do I reset my password?")
            assert d["tier"] == b"exact" and d["response"] == b"reset", d
            # semantic: a hit, if any, is the right answer (see the README's
            # note on graph recall past the exact-scan size)
            d = get(main, ns, "how do I reset my password please")
            assert d["tier"] == b"miss" or d["response"] == b"reset", d
            gets += 1
    finally:
        stop.set()
        t.join()
    settle(main)
    after = ins(main)
    assert not errors, errors[:3]
    assert seen_inflight > 0, "never served while an insert was queued"
    assert gets > 0 and puts[0] > 0
    # most of the writer's inserts ran on the pool, not the loop
    assert after["threaded"] - before["threaded"] >= puts[0] // 2, (before, after, puts)


def test_shutdown_with_inserts_in_flight_exits_cleanly(server_factory):
    s = server_factory()
    c = s.redis()
    ns = ns_name()
    c.execute_command("CACHE.CREATE", ns, "DIM", 2048)
    fillers(c, ns, n=100)
    settle(c)
    # raw pipeline: PUTs written, replies read, then SIGTERM at once
    sock = socket.create_connection(("127.0.0.1", s.port))
    buf = b""
    for i in range(60):
        prompt = f"shutdown {i} prompt about lantern{i} and compass{i}".encode()
        buf += b"*4\r\n$9\r\nCACHE.PUT\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$1\r\nx\r\n" % (
            len(ns), ns.encode(), len(prompt), prompt)
    sock.sendall(buf)
    got = b""
    while got.count(b"\r\n") < 60:
        chunk = sock.recv(65536)
        assert chunk, "connection closed early"
        got += chunk
    assert not got.startswith(b"-"), got[:200]
    c.close()
    sock.close()
    assert s.stop(check=True) == 0
