"""Vector sets through real clients: redis-py 4.3.4 (RESP2, execute_command)
and raw RESP3 sockets after HELLO 3, against the reply shapes and error
wordings of Redis 8 (/work/shared/reference/vector-sets.md).

Threats covered: a reply shape that differs from Redis 8 in either protocol
(clients parse maps vs flat arrays differently); an invalid vector stored
half-way; replies reordered by the threaded search (pipelines mixing VSIM
with other commands); a DEL/EXPIRE/FLUSHALL freeing an index while worker
threads search it (run this file under the ASan stage); refcount leaks
(INFO vset_keys must come back to the number of live keys); recall of the
HNSW search against TRUTH; vector-set keys escaping the keyspace's rules
(TYPE, SCAN TYPE, expiry, eviction, MEMORY USAGE)."""
import json
import math
import os
import random
import socket
import struct
import subprocess
import threading
import time

import pytest
import redis

from conftest import RespConn, RespError

pytestmark = pytest.mark.simcache_only

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"


def vals(v):
    return ["VALUES", len(v)] + ["%r" % float(x) for x in v]


def fp32(v):
    return struct.pack("<%df" % len(v), *v)


def err(r, *args):
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command(*args)
    return str(e.value)


def info(r, section="vectorsets"):
    return r.info(section)


# ------------------------------------------------------------ basic replies

def test_vadd_new_then_update_replies_1_then_0_and_replaces_vector(r):
    assert r.execute_command("VADD", "k", *vals([1, 0, 0]), "a") == 1
    assert r.execute_command("VADD", "k", *vals([0, 1, 0]), "a") == 0
    assert r.execute_command("VCARD", "k") == 1
    emb = [float(x) for x in r.execute_command("VEMB", "k", "a")]
    assert emb[0] == pytest.approx(0, abs=1e-6) and emb[1] == pytest.approx(1, abs=1e-6)
    # FP32 blob input, NOQUANT keeps float32 exactly (de-normalised by l2)
    assert r.execute_command("VADD", "f", "FP32", fp32([3, 4]), "x", "NOQUANT") == 1
    emb = [float(x) for x in r.execute_command("VEMB", "f", "x")]
    assert emb == pytest.approx([3, 4], rel=1e-6)
    assert r.execute_command("VDIM", "f") == 2
    # CAS is accepted and executed as a normal insert
    assert r.execute_command("VADD", "f", "FP32", fp32([4, 3]), "y", "NOQUANT", "CAS") == 1


def test_vsim_resp2_reply_shapes(r):
    r.execute_command("VADD", "k", *vals([1, 0]), "a")
    r.execute_command("VADD", "k", *vals([0, 1]), "b", "SETATTR", '{"n":2}')
    r.execute_command("VADD", "k", *vals([-1, 0]), "c")
    assert r.execute_command("VSIM", "k", *vals([1, 0])) == [b"a", b"b", b"c"]
    assert r.execute_command("VSIM", "k", *vals([1, 0]), "WITHSCORES") == \
        [b"a", b"1", b"b", b"0.5", b"c", b"0"]
    assert r.execute_command("VSIM", "k", *vals([1, 0]), "WITHATTRIBS", "COUNT", 2) == \
        [b"a", None, b"b", b'{"n":2}']
    assert r.execute_command("VSIM", "k", "ELE", "b", "WITHSCORES", "WITHATTRIBS", "COUNT", 1) == \
        [b"b", b"1", b'{"n":2}']
    # EPSILON: similarity >= 1 - eps only
    assert r.execute_command("VSIM", "k", *vals([1, 0]), "EPSILON", "0.6") == [b"a", b"b"]
    assert r.execute_command("VSIM", "k", *vals([1, 0]), "EPSILON", "0.4") == [b"a"]
    # missing key: empty array
    assert r.execute_command("VSIM", "nokey", *vals([1, 0])) == []
    # NOTHREAD and TRUTH answer the same here
    assert r.execute_command("VSIM", "k", *vals([1, 0]), "NOTHREAD", "TRUTH") == [b"a", b"b", b"c"]


def test_small_commands_resp2(r):
    r.execute_command("VADD", "k", *vals([1, 2, 2]), "a", "SETATTR", '{"x":1}')
    r.execute_command("VADD", "k", *vals([2, 1, 2]), "b")
    assert r.execute_command("VISMEMBER", "k", "a") == 1
    assert r.execute_command("VISMEMBER", "k", "zz") == 0
    assert r.execute_command("VISMEMBER", "nokey", "a") == 0
    assert r.execute_command("VGETATTR", "k", "a") == b'{"x":1}'
    assert r.execute_command("VGETATTR", "k", "b") is None
    assert r.execute_command("VSETATTR", "k", "b", '{"y":[1,2]}') == 1
    assert r.execute_command("VSETATTR", "k", "zz", '{}') == 0
    assert r.execute_command("VSETATTR", "nokey", "a", '{}') == 0
    assert r.execute_command("VGETATTR", "k", "b") == b'{"y":[1,2]}'
    assert r.execute_command("VSETATTR", "k", "b", "") == 1      # removes
    assert r.execute_command("VGETATTR", "k", "b") is None
    # VADD without SETATTR keeps attributes; SETATTR "" removes them
    r.execute_command("VADD", "k", *vals([1, 2, 3]), "a")
    assert r.execute_command("VGETATTR", "k", "a") == b'{"x":1}'
    r.execute_command("VADD", "k", *vals([1, 2, 3]), "a", "SETATTR", "")
    assert r.execute_command("VGETATTR", "k", "a") is None
    inf = r.execute_command("VINFO", "k")
    d = dict(zip(inf[0::2], inf[1::2]))
    assert d[b"quant-type"] == b"int8" and d[b"hnsw-m"] == 16 and d[b"vector-dim"] == 3
    assert d[b"projection-input-dim"] == 0 and d[b"size"] == 2 and d[b"attributes-count"] == 0
    assert set(d) == {b"quant-type", b"hnsw-m", b"vector-dim", b"projection-input-dim", b"size",
                      b"max-level", b"attributes-count", b"vset-uid", b"hnsw-max-node-uid"}
    assert r.execute_command("VINFO", "nokey") is None
    # VEMB: de-normalised vector; RAW for int8: [int8, blob, l2, range]
    emb = [float(x) for x in r.execute_command("VEMB", "k", "b")]
    assert emb == pytest.approx([2, 1, 2], abs=0.02)
    raw = r.execute_command("VEMB", "k", "b", "RAW")
    assert raw[0] == b"int8" and len(raw[1]) == 3 and float(raw[2]) == pytest.approx(3.0, rel=1e-5)
    assert float(raw[3]) == pytest.approx(2 / 3, rel=1e-3)
    assert r.execute_command("VEMB", "k", "zz") is None
    assert r.execute_command("VEMB", "nokey", "a") is None
    r.execute_command("VADD", "n", *vals([3, 4]), "p", "NOQUANT")
    raw = r.execute_command("VEMB", "n", "p", "RAW")
    assert raw[0] == b"f32" and struct.unpack("<2f", raw[1]) == pytest.approx((0.6, 0.8))
    assert len(raw) == 3 and float(raw[2]) == pytest.approx(5.0)
    # VLINKS: one entry per level, top first; WITHSCORES flat in RESP2
    links = r.execute_command("VLINKS", "k", "a")
    assert links[-1] == [b"b"]
    ws = r.execute_command("VLINKS", "k", "a", "WITHSCORES")
    assert ws[-1][0] == b"b" and 0.5 < float(ws[-1][1]) <= 1.0
    assert r.execute_command("VLINKS", "k", "zz") is None
    assert r.execute_command("VCARD", "nokey") == 0


def test_vrandmember_semantics(r):
    assert r.execute_command("VRANDMEMBER", "nokey") is None
    assert r.execute_command("VRANDMEMBER", "nokey", 3) == []
    names = set()
    for i in range(50):
        r.execute_command("VADD", "k", *vals([1, i + 1]), "e%d" % i)
        names.add(b"e%d" % i)
    assert r.execute_command("VRANDMEMBER", "k") in names
    assert r.execute_command("VRANDMEMBER", "k", 0) == []
    for n in (1, 5, 30, 50, 80):
        got = r.execute_command("VRANDMEMBER", "k", n)
        assert len(got) == min(n, 50) and len(set(got)) == len(got) and set(got) <= names
    got = r.execute_command("VRANDMEMBER", "k", -200)
    assert len(got) == 200 and set(got) <= names
    assert err(r, "VRANDMEMBER", "k", "x") == "COUNT value is not an integer"


# ------------------------------------------------------------------- RESP3

@pytest.fixture
def c3(srv):
    with srv.conn() as c:
        assert isinstance(c.cmd("HELLO", "3"), dict)
        yield c


def test_resp3_reply_shapes(c3):
    c = c3
    assert c.cmd_raw("VADD", "k", *vals([1, 0]), "a") == b"#t\r\n"
    c.cmd("VADD", "k", *vals([0, 1]), "b", "SETATTR", '{"n":2}')
    assert c.cmd_raw("VADD", "k", *vals([0, 1]), "b") == b"#f\r\n"
    assert c.cmd_raw("VSIM", "k", *vals([1, 0])) == b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"
    assert c.cmd_raw("VSIM", "k", *vals([1, 0]), "WITHSCORES") == \
        b"%2\r\n$1\r\na\r\n,1\r\n$1\r\nb\r\n,0.5\r\n"
    assert c.cmd_raw("VSIM", "k", *vals([1, 0]), "WITHATTRIBS") == \
        b'%2\r\n$1\r\na\r\n_\r\n$1\r\nb\r\n$7\r\n{"n":2}\r\n'
    assert c.cmd_raw("VSIM", "k", *vals([1, 0]), "WITHSCORES", "WITHATTRIBS") == \
        b'%2\r\n$1\r\na\r\n*2\r\n,1\r\n_\r\n$1\r\nb\r\n*2\r\n,0.5\r\n$7\r\n{"n":2}\r\n'
    assert c.cmd_raw("VSIM", "nokey", *vals([1, 0])) == b"*0\r\n"
    assert c.cmd_raw("VISMEMBER", "k", "a") == b"#t\r\n"
    assert c.cmd_raw("VREM", "k", "zz") == b"#f\r\n"
    assert c.cmd_raw("VGETATTR", "k", "a") == b"_\r\n"
    assert c.cmd_raw("VEMB", "nokey", "a") == b"_\r\n"
    assert c.cmd_raw("VINFO", "nokey") == b"_\r\n"
    assert c.cmd_raw("VEMB", "k", "a") == b"*2\r\n,1\r\n,0\r\n"
    info3 = c.cmd_raw("VINFO", "k")
    assert info3.startswith(b"%9\r\n+quant-type\r\n+int8\r\n+hnsw-m\r\n:16\r\n")
    assert c.cmd_raw("VLINKS", "k", "a", "WITHSCORES").endswith(b"%1\r\n$1\r\nb\r\n,0.5\r\n")
    assert c.cmd_raw("VSETATTR", "k", "a", "{}") == b"#t\r\n"


# ------------------------------------------------------------------- errors

def test_error_wordings(r):
    r.execute_command("VADD", "k", *vals([1, 0]), "a")
    r.set("s", "x")
    cases = [
        (("VADD", "k", "REDUCE", 1, *vals([1, 0]), "b"),
         "cannot add projection to existing set without projection"),
        (("VADD", "k2", "REDUCE", 3, *vals([1, 0]), "b"), "invalid vector specification"),
        (("VADD", "k2", "REDUCE", 0, *vals([1, 0]), "b"), "invalid vector specification"),
        (("VADD", "k", *vals([1, 0]), "b", "BIN"), "asked quantization mismatch with existing vector set"),
        (("VADD", "k", *vals([1, 0]), "b", "NOQUANT"),
         "asked quantization mismatch with existing vector set"),
        (("VADD", "k", *vals([1, 0]), "b", "M", 32), "asked M value mismatch with existing vector set"),
        (("VADD", "k", *vals([1, 0, 0]), "b"), "Vector dimension mismatch - got 3 but set has 2"),
        (("VADD", "k", *vals([1, 0]), "b", "EF", 0), "invalid EF"),
        (("VADD", "k", *vals([1, 0]), "b", "M", 3), "invalid M"),
        (("VADD", "k", *vals([1, 0]), "b", "BOGUS"), "invalid option after element"),
        (("VADD", "k", *vals([1, 0]), "b", "SETATTR", "{bad"), "invalid JSON attribute"),
        (("VADD", "k", "VALUES", 2, "1", "x", "b"), "invalid vector specification"),
        (("VADD", "k", "FP32", b"abc", "b"), "invalid vector specification"),
        (("VADD", "k", "NOPE", "1", "b", "c"), "invalid vector specification"),
        (("VADD", "k", *vals([1, 0])), "wrong number of arguments for 'vadd' command"),
        (("VADD", "s", *vals([1, 0]), "b"), WRONGTYPE),
        (("VSIM", "k", *vals([1, 0]), "COUNT", 0), "invalid COUNT"),
        (("VSIM", "k", *vals([1, 0]), "EF", 0), "invalid EF"),
        (("VSIM", "k", *vals([1, 0]), "EPSILON", "-1"), "invalid EPSILON"),
        (("VSIM", "k", *vals([1, 0]), "FILTER", ".a >"),
         "syntax error in FILTER expression near: .a >"),
        (("VSIM", "k", *vals([1, 0]), "FILTER", ".a > > 1"),
         "syntax error in FILTER expression near: > 1"),
        (("VSIM", "k", *vals([1, 0]), "FILTER", ".a = 1 and .b"),
         "syntax error in FILTER expression near: = 1 and .b"),
        (("VSIM", "k", *vals([1, 0]), "FILTER-EF", "0"), "invalid FILTER-EF"),
        (("VSIM", "k", *vals([1, 0]), "FILTER-EF", "-5"), "invalid FILTER-EF"),
        (("VRANGE", "k", "a", "+"), "min or max not valid string range item"),
        (("VRANGE", "k", "-", "+", "x"), "value is not an integer or out of range"),
        (("VRANGE", "k", "-", "+", "1", "2"), "wrong number of arguments for 'vrange' command"),
        (("VRANGE", "s", "-", "+"), WRONGTYPE),
        (("VSIM", "k", *vals([1, 0]), "BOGUS"), "syntax error in VSIM command"),
        (("VSIM", "k", "ELE", "zz"), "element not found in set"),
        (("VSIM", "k", *vals([1, 0, 0])), "Vector dimension mismatch - got 3 but set has 2"),
        (("VSIM", "s", *vals([1, 0])), WRONGTYPE),
        (("VSETATTR", "k", "a", "not json"), "invalid JSON attribute"),
        (("VDIM", "nokey"), "key does not exist"),
        (("VEMB", "k", "a", "BOGUS"), "invalid option"),
        (("VLINKS", "k", "a", "BOGUS"), "wrong number of arguments for 'vlinks' command"),
        (("VCARD", "s"), WRONGTYPE),
        (("GET", "k"), WRONGTYPE),
    ]
    for args, want in cases:
        assert err(r, *args) == want, args
    assert r.execute_command("VCARD", "k") == 1


def test_invalid_vectors_are_rejected_and_nothing_is_stored(r):
    r.execute_command("VADD", "k", *vals([1, 0, 0]), "a")
    bad = [
        ("VALUES", 3, "nan", "0", "0"),
        ("VALUES", 3, "inf", "0", "0"),
        ("VALUES", 3, "-inf", "0", "0"),
        ("VALUES", 3, "1e39", "0", "0"),          # overflows float32
        ("FP32", fp32([float("nan"), 0, 0])),
        ("FP32", fp32([float("inf"), 0, 0])),
        ("FP32", fp32([0, 0, 0])),
        ("VALUES", 3, "0", "0", "0"),
        ("VALUES", 2, "1", "0"),
        ("FP32", fp32([1, 0, 0, 0])),
    ]
    for i, spec in enumerate(bad):
        with pytest.raises(redis.ResponseError):
            r.execute_command("VADD", "k", *spec, "b")
        with pytest.raises(redis.ResponseError):
            r.execute_command("VSIM", "k", *spec)
        if i < 8:       # the last two are only wrong for k's dimension
            with pytest.raises(redis.ResponseError):
                r.execute_command("VADD", "new", *spec, "b")
    assert r.execute_command("VCARD", "k") == 1
    assert r.execute_command("VISMEMBER", "k", "b") == 0
    assert r.exists("new") == 0
    # max dimension 65536: one more is rejected, exactly 65536 accepted
    assert err(r, "VADD", "big", "FP32", fp32([1.0] * 65537), "x") == "invalid vector specification"
    assert r.execute_command("VADD", "big", "FP32", fp32([1.0] * 65536), "x") == 1
    assert r.execute_command("VDIM", "big") == 65536


# -------------------------------------------------------- keyspace integration

def test_vectorset_is_a_key(r, srv):
    r.execute_command("VADD", "k", *vals([1, 0]), "a")
    r.set("s", "x")
    assert r.type("k") == b"vectorset"
    assert r.exists("k") == 1
    assert sorted(r.scan(0, _type="vectorset", count=100)[1]) == [b"k"]
    assert r.expire("k", 100) is True and 0 < r.ttl("k") <= 100
    m1 = r.memory_usage("k")
    for i in range(500):
        r.execute_command("VADD", "k", *vals([1, i + 2]), "e%d" % i)
    m2 = r.memory_usage("k")
    assert m2 > m1 + 500 * 8, (m1, m2)
    assert r.unlink("k") == 1 and r.exists("k") == 0
    r.execute_command("VADD", "k", *vals([1, 0]), "a")
    assert r.delete("k") == 1
    # the last VREM deletes the key
    r.execute_command("VADD", "k", *vals([1, 0]), "a")
    r.execute_command("VADD", "k", *vals([0, 1]), "b")
    assert r.execute_command("VREM", "k", "a") == 1
    assert r.exists("k") == 1
    assert r.execute_command("VREM", "k", "b") == 1
    assert r.exists("k") == 0
    # an expired vector set disappears with its index
    r.execute_command("VADD", "t", *vals([1, 0]), "a")
    r.pexpire("t", 30)
    time.sleep(0.1)
    assert r.execute_command("VCARD", "t") == 0 and r.exists("t") == 0
    for i in range(5):
        r.execute_command("VADD", "f%d" % i, *vals([1, 0]), "a")
    assert info(r)["vset_keys"] == 5
    r.flushall()
    assert info(r)["vset_keys"] == 0
    assert r.dbsize() == 0


def test_info_section_and_commandstats(r):
    r.execute_command("VADD", "k", *vals([1, 0]), "a")
    for _ in range(5):
        r.execute_command("VSIM", "k", *vals([1, 0]))
    r.execute_command("VSIM", "k", *vals([1, 0]), "NOTHREAD")
    i = info(r)
    assert i["kernel_tier"] in ("avx512", "avx2", "scalar", "neon", "ref")
    assert i["kernel_variant"] in ("avx512", "avx2+vnni", "avx2", "scalar", "neon", "ref")
    assert i["kernel_variant"].startswith(i["kernel_tier"])
    assert i["vset_threads"] >= 1 and i["vset_queue_depth"] >= 0 and i["vset_busy_threads"] >= 0
    assert i["vset_searches_threaded"] >= 5 and i["vset_searches_inline"] >= 1
    assert "vset_search_usec_per_call" in i
    assert "cmdstat_vsim" in r.info("commandstats")
    assert "kernel_tier" in r.info()          # part of the default INFO


def test_vset_threads_config(server_factory):
    s = server_factory("--vset-threads", "3")
    r = s.redis()
    assert r.info("vectorsets")["vset_threads"] == 3
    assert r.config_get("vset-threads") == {"vset-threads": "3"}
    r.close()


def test_maxmemory_evicts_vector_sets(server_factory):
    s = server_factory("--maxmemory", "3mb", "--maxmemory-policy", "allkeys-random")
    r = s.redis()
    rng = random.Random(3)
    p = r.pipeline(transaction=False)
    for k in range(40):
        for i in range(100):
            p.execute_command("VADD", "v%d" % k, "FP32",
                              fp32([rng.uniform(-1, 1) for _ in range(64)]), "e%d" % i)
        p.execute()
    st = r.info("stats")
    assert st["evicted_keys"] > 0
    assert r.dbsize() < 40
    assert r.info("memory")["used_memory"] < 3 * 1024 * 1024 * 1.2
    r.close()


# --------------------------------------------------------------- pipelining

def test_pipelined_mix_replies_in_order(srv):
    """VSIM parks the client; later pipelined requests must wait for it."""
    rng = random.Random(7)
    vecs = [[rng.uniform(-1, 1) for _ in range(8)] for _ in range(300)]
    reqs, want = [], []
    for i, v in enumerate(vecs):
        reqs.append(RespConn.encode("VADD", "pk", "FP32", fp32(v), "e%d" % i))
        want.append(1)
        reqs.append(RespConn.encode("VSIM", "pk", "FP32", fp32(v), "COUNT", "1"))
        want.append([b"e%d" % i])
        reqs.append(RespConn.encode("SET", "s%d" % i, "v%d" % i))
        want.append("OK")
        reqs.append(RespConn.encode("GET", "s%d" % i))
        want.append(b"v%d" % i)
        if i % 3 == 2:
            reqs.append(RespConn.encode("VREM", "pk", "e%d" % i))
            want.append(1)
            reqs.append(RespConn.encode("VSIM", "pk", "FP32", fp32(v), "COUNT", "1", "WITHSCORES"))
            want.append("any-but-e%d" % i)
        reqs.append(RespConn.encode("GET", "pk"))
        want.append(RespError(WRONGTYPE))
    with srv.conn() as c:
        c.send(b"".join(reqs))
        for i, w in enumerate(want):
            got = c.value()
            if isinstance(w, str) and w.startswith("any-but-"):
                assert isinstance(got, list) and len(got) == 2, (i, got)
                assert got[0] != w[len("any-but-"):].encode(), (i, got)
            else:
                assert got == w, (i, got, w)


# ----------------------------------------------------- concurrency and frees

def _populate(r, key, n, dim, seed):
    rng = random.Random(seed)
    p = r.pipeline(transaction=False)
    for i in range(n):
        p.execute_command("VADD", key, "FP32", fp32([rng.gauss(0, 1) for _ in range(dim)]),
                          "e%d" % i)
    p.execute()


def test_del_and_expire_during_concurrent_searches(srv):
    """Searches in flight hold the set; DEL/EXPIRE/FLUSHALL only drop the
    key's reference. Under ASan a premature free is a crash here."""
    r = srv.redis()
    dim = 32
    _populate(r, "hot", 3000, dim, 1)
    stop = threading.Event()
    errors = []
    counts = [0] * 4

    def hammer(t):
        cl = srv.redis()
        rng = random.Random(t)
        try:
            while not stop.is_set():
                q = fp32([rng.gauss(0, 1) for _ in range(dim)])
                p = cl.pipeline(transaction=False)
                for _ in range(8):
                    p.execute_command("VSIM", "hot", "FP32", q, "COUNT", 5, "EF", 50)
                for res in p.execute(raise_on_error=False):
                    if isinstance(res, Exception):
                        # the key may be a fresh set of another dim briefly? never:
                        errors.append(repr(res))
                    else:
                        assert len(res) in (0, 5) or len(res) <= 5
                counts[t] += 8
        except Exception as e:      # noqa: BLE001 (reported below)
            errors.append(repr(e))
        finally:
            cl.close()

    threads = [threading.Thread(target=hammer, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    end = time.monotonic() + 3.0
    rounds = 0
    while time.monotonic() < end:
        op = rounds % 3
        if op == 0:
            r.delete("hot")
        elif op == 1:
            r.pexpire("hot", 5)
            time.sleep(0.02)
            r.exists("hot")
        else:
            r.flushall()
        _populate(r, "hot", 300, dim, rounds)
        rounds += 1
    stop.set()
    for t in threads:
        t.join(30)
    assert not errors, errors[:5]
    assert sum(counts) > 100 and rounds > 3
    # every detached set was freed by its last search
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        i = info(r)
        if i["vset_detached"] == 0 and i["vset_keys"] == 1:
            break
        time.sleep(0.05)
    i = info(r)
    assert i["vset_detached"] == 0 and i["vset_keys"] == 1, i
    r.close()


def test_client_closing_while_parked_does_not_crash(srv):
    r = srv.redis()
    _populate(r, "big", 3000, 64, 5)
    rng = random.Random(1)
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", srv.port))
        q = fp32([rng.gauss(0, 1) for _ in range(64)])
        s.sendall(RespConn.encode("VSIM", "big", "FP32", q, "COUNT", 100, "EF", 500) * 20)
        s.close()
    assert r.ping() is True
    assert r.execute_command("VCARD", "big") == 3000
    r.close()


# ------------------------------------------------------------------- recall

def test_recall_at_10_against_truth(r):
    rng = random.Random(42)
    dim, n, clusters = 24, 4000, 20
    centers = [[rng.gauss(0, 1) for _ in range(dim)] for _ in range(clusters)]
    p = r.pipeline(transaction=False)
    for i in range(n):
        c = centers[i % clusters]
        p.execute_command("VADD", "rk", "FP32", fp32([x + rng.gauss(0, 0.3) for x in c]),
                          "e%d" % i)
        if i % 500 == 499:
            p.execute()
    p.execute()
    assert r.execute_command("VCARD", "rk") == n
    hits = total = 0
    for qi in range(60):
        c = centers[qi % clusters]
        q = fp32([x + rng.gauss(0, 0.3) for x in c])
        approx = r.execute_command("VSIM", "rk", "FP32", q, "COUNT", 10)
        exact = r.execute_command("VSIM", "rk", "FP32", q, "COUNT", 10, "TRUTH")
        assert len(exact) == 10
        hits += len(set(approx) & set(exact))
        total += 10
    recall = hits / total
    assert recall >= 0.9, recall


# ------------------------------------------------------------------ hiredis

def test_hiredis_pipelined_binary_vadd_vsim(srv):
    """hiredis (through bench/vset-bench): 4 connections pipelining binary
    FP32 VADD and VSIM, then recall against TRUTH and MEMORY USAGE."""
    build = os.environ.get("SIMCACHE_BUILD", "")
    prog = os.path.join(build, "bench", "vset-bench")
    if not build or not os.access(prog, os.X_OK):
        pytest.skip("vset-bench not built (needs libhiredis-dev and SIMCACHE_BUILD)")
    out = subprocess.run([prog, "--port", str(srv.port), "-n", "3000", "-d", "32", "-c", "4",
                          "-P", "8", "-q", "500", "--lat-queries", "200", "--clusters", "30"],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    res = dict(kv.split("=") for kv in out.split())
    assert int(res["card"]) == 3000
    assert float(res["recall10"]) >= 0.9, res
    assert 32 * 4 < float(res["bytes_per_vector"]) < 20000, res


def test_vrandmember_huge_negative_count_does_not_stall_the_server(server_factory):
    """The reply outgrows the output limit and the client is closed; the
    handler must stop producing it rather than loop 10^12 times."""
    s = server_factory("--client-output-buffer-limit", "normal 8mb 4mb 60")
    r = s.redis()
    r.execute_command("VADD", "k", *vals([1, 0]), "a")
    raw = socket.create_connection(("127.0.0.1", s.port))
    raw.sendall(RespConn.encode("VRANDMEMBER", "k", "-1000000000000"))
    time.sleep(0.5)
    raw.close()
    r2 = s.redis(socket_timeout=5)
    assert r2.ping() is True
    assert r2.execute_command("VCARD", "k") == 1
    r.close()
    r2.close()


# ------------------------------------------------------------ FILTER

GENRES = ["action", "drama", "comedy", "sci-fi"]


def _movies(r, key, n, dim, seed, quant="NOQUANT"):
    """n random vectors; most carry {"year", "genre", "rating", "tags"},
    every 7th has none, every 11th has only a year (field missing)."""
    rng = random.Random(seed)
    data = {}
    p = r.pipeline(transaction=False)
    for i in range(n):
        v = [rng.gauss(0, 1) for _ in range(dim)]
        name = "m%d" % i
        attrs = None
        if i % 7 == 0:
            attrs = None
        elif i % 11 == 0:
            attrs = {"year": rng.randint(1900, 2020)}
        else:
            attrs = {"year": rng.randint(1900, 2020), "genre": rng.choice(GENRES),
                     "rating": round(rng.uniform(1, 10), 1),
                     "tags": rng.sample(["space", "war", "love", "heist", "robot"], 2)}
        args = ["VADD", key, "FP32", fp32(v), name, quant]
        if attrs is not None:
            args += ["SETATTR", json.dumps(attrs)]
        p.execute_command(*args)
        data[name] = (v, attrs)
    p.execute()
    return data


def _cos(a, b):
    na = sum(x * x for x in a) ** 0.5
    nb = sum(x * x for x in b) ** 0.5
    return sum(x * y for x, y in zip(a, b)) / (na * nb)


def _truth(data, q, pred, count):
    ok = []
    for name, (v, attrs) in data.items():
        try:
            if attrs is not None and pred(attrs):
                ok.append((-_cos(q, v), name))
        except KeyError:
            pass
    ok.sort()
    return [name for _, name in ok[:count]]


FILTERS = [
    ('.year > 1950 and .genre == "action"', lambda a: a["year"] > 1950 and a["genre"] == "action"),
    ('.genre in ["drama", "comedy"] || .rating >= 9', lambda a: a["genre"] in ("drama", "comedy") or a["rating"] >= 9),
    ('"war" in .tags and not (.year < 2000)', lambda a: "war" in a["tags"] and not a["year"] < 2000),
    ('.year % 10 == 0', lambda a: a["year"] % 10 == 0),
    ('(.rating * 2 - 1) ** 2 > 100 and "sci" in .genre', lambda a: (a["rating"] * 2 - 1) ** 2 > 100 and "sci" in a["genre"]),
    ('.year >= 1900', lambda a: a["year"] >= 1900),     # 1-in-11 lack genre: still match
]


def test_filter_truth_equals_brute_force(r):
    """TRUTH + FILTER is an exact scan: it must name exactly the top COUNT
    elements satisfying the predicate, as computed here in Python; elements
    without attributes or without the field never match."""
    dim = 8
    data = _movies(r, "mv", 400, dim, 1)
    rng = random.Random(2)
    for expr, pred in FILTERS:
        for _ in range(3):
            q = [rng.gauss(0, 1) for _ in range(dim)]
            got = r.execute_command("VSIM", "mv", "FP32", fp32(q), "COUNT", 10, "TRUTH",
                                    "FILTER", expr)
            assert [x.decode() for x in got] == _truth(data, q, pred, 10), expr


def test_filter_hnsw_results_satisfy_predicate_and_recall(r):
    """The graph search with a filter: every returned element satisfies the
    predicate, scores descend, and recall against the filtered truth is
    high on a set large enough to use the graph (not the exact scan)."""
    dim = 8
    data = _movies(r, "mv", 3000, dim, 3, quant="Q8")
    rng = random.Random(4)
    hits = total = 0
    for expr, pred in FILTERS[:4]:
        for _ in range(5):
            q = [rng.gauss(0, 1) for _ in range(dim)]
            got = r.execute_command("VSIM", "mv", "FP32", fp32(q), "COUNT", 10, "WITHSCORES",
                                    "FILTER", expr)
            names = [got[i].decode() for i in range(0, len(got), 2)]
            scores = [float(got[i]) for i in range(1, len(got), 2)]
            assert scores == sorted(scores, reverse=True)
            for nm in names:
                assert pred(data[nm][1]), (expr, nm, data[nm][1])
            want = _truth(data, q, pred, 10)
            assert len(names) == len(want) == 10
            hits += len(set(names) & set(want))
            total += len(want)
    assert hits / total >= 0.85, hits / total


def test_filter_ef_bounds_the_candidates_evaluated(r):
    """Only the element farthest from the query matches: with FILTER-EF 10
    the ten nearest candidates are evaluated and nothing is found; so with
    the default (COUNT*100) at COUNT 1 (100 of 200); COUNT 2's default (200)
    and a large FILTER-EF find it."""
    n = 200
    p = r.pipeline(transaction=False)
    for i in range(n):
        a = 2 * math.pi * i / n
        args = ["VADD", "circ", *vals([math.cos(a), math.sin(a)]), "p%d" % i]
        args += ["SETATTR", '{"far": %d}' % (1 if i == n // 2 else 0)]
        p.execute_command(*args)
    p.execute()
    q = vals([1, 0])
    assert r.execute_command("VSIM", "circ", *q, "COUNT", 1, "FILTER", ".far", "FILTER-EF", 10) == []
    assert r.execute_command("VSIM", "circ", *q, "COUNT", 1, "FILTER", ".far") == []
    assert r.execute_command("VSIM", "circ", *q, "COUNT", 2, "FILTER", ".far") == [b"p100"]
    assert r.execute_command("VSIM", "circ", *q, "COUNT", 1, "FILTER", ".far",
                             "FILTER-EF", 100000) == [b"p100"]
    assert r.execute_command("VSIM", "circ", *q, "COUNT", 3, "FILTER", ".far == 0",
                             "FILTER-EF", 3) == [b"p0", b"p1", b"p199"] or \
        r.execute_command("VSIM", "circ", *q, "COUNT", 3, "FILTER", ".far == 0",
                          "FILTER-EF", 3) == [b"p0", b"p199", b"p1"]
    # EPSILON and COUNT still apply to the filtered results
    got = r.execute_command("VSIM", "circ", *q, "COUNT", 50, "FILTER", "not .far",
                            "EPSILON", "0.01")
    assert 0 < len(got) < 50


def test_filter_reply_shapes_threaded_and_inline_agree(r, c3):
    r.execute_command("VADD", "k", *vals([1, 0]), "a", "SETATTR", '{"n": 1}')
    r.execute_command("VADD", "k", *vals([0, 1]), "b", "SETATTR", '{"n": 2}')
    r.execute_command("VADD", "k", *vals([-1, 0]), "c")
    for extra in ([], ["NOTHREAD"]):
        assert r.execute_command("VSIM", "k", *vals([1, 0]), "WITHATTRIBS", "FILTER", ".n >= 1",
                                 *extra) == [b"a", b'{"n": 1}', b"b", b'{"n": 2}']
        assert r.execute_command("VSIM", "k", "ELE", "b", "FILTER", ".n == 1", *extra) == [b"a"]
    # a missing key answers an empty array before the expression is parsed
    assert r.execute_command("VSIM", "nokey", *vals([1, 0]), "FILTER", "((") == []
    c3.cmd("VADD", "k", *vals([1, 0]), "a")
    assert c3.cmd_raw("VSIM", "k", *vals([1, 0]), "WITHSCORES", "FILTER", ".n == 2") == \
        b"%1\r\n$1\r\nb\r\n,0.5\r\n"


def test_filter_never_returns_an_element_whose_attributes_changed(srv):
    """Threat: a threaded filtered search evaluates attributes that another
    client replaces meanwhile. Each reply's attributes (WITHATTRIBS, read
    by the completion) must satisfy the filter."""
    r = srv.redis()
    dim = 16
    n = 2000
    rng = random.Random(5)
    p = r.pipeline(transaction=False)
    for i in range(n):
        p.execute_command("VADD", "flip", "FP32", fp32([rng.gauss(0, 1) for _ in range(dim)]),
                          "e%d" % i, "SETATTR", '{"ok": 1}')
    p.execute()
    stop = threading.Event()
    bad = []

    def flipper():
        cl = srv.redis()
        k = random.Random(6)
        while not stop.is_set():
            pp = cl.pipeline(transaction=False)
            for _ in range(50):
                pp.execute_command("VSETATTR", "flip", "e%d" % k.randrange(n),
                                   '{"ok": %d}' % k.randrange(2))
            pp.execute()
        cl.close()

    t = threading.Thread(target=flipper)
    t.start()
    try:
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            q = fp32([rng.gauss(0, 1) for _ in range(dim)])
            got = r.execute_command("VSIM", "flip", "FP32", q, "COUNT", 20, "WITHATTRIBS",
                                    "FILTER", ".ok == 1")
            for i in range(1, len(got), 2):
                if json.loads(got[i])["ok"] != 1:
                    bad.append(got[i - 1])
    finally:
        stop.set()
        t.join()
    assert not bad


# ------------------------------------------------------------ VRANGE

def test_vrange_lexicographic_ranges_and_paging(r):
    fruits = ["apple", "apricot", "banana", "cherry", "date", "elderberry", "fig", "grape"]
    for i, f in enumerate(fruits):
        r.execute_command("VADD", "fr", *vals([1, i + 1]), f)
    d = lambda res: [x.decode() for x in res]    # noqa: E731
    assert d(r.execute_command("VRANGE", "fr", "[apple", "[grape", 5)) == fruits[:5]
    assert d(r.execute_command("VRANGE", "fr", "(apple", "[cherry", 10)) == ["apricot", "banana", "cherry"]
    assert d(r.execute_command("VRANGE", "fr", "[banana", "(date")) == ["banana", "cherry"]
    assert d(r.execute_command("VRANGE", "fr", "-", "+")) == fruits
    assert d(r.execute_command("VRANGE", "fr", "-", "+", -1)) == fruits
    assert d(r.execute_command("VRANGE", "fr", "[c", "+", 2)) == ["cherry", "date"]
    assert r.execute_command("VRANGE", "fr", "-", "+", 0) == []
    assert r.execute_command("VRANGE", "fr", "+", "+") == []
    assert r.execute_command("VRANGE", "fr", "-", "-") == []
    assert r.execute_command("VRANGE", "fr", "[z", "+") == []
    assert r.execute_command("VRANGE", "nokey", "-", "+") == []
    # memcmp order: bytes, not locale; binary-safe names
    for name in [b"B", b"a", b"\x00x", b"\xffz", b"ab"]:
        r.execute_command("VADD", "bin", *vals([1, 1]), name)
    assert r.execute_command("VRANGE", "bin", "-", "+") == [b"\x00x", b"B", b"a", b"ab", b"\xffz"]


def test_vrange_stateless_iteration_visits_every_element_once(r):
    names = ["n%05d" % i for i in range(1000)]
    random.Random(7).shuffle(names)
    p = r.pipeline(transaction=False)
    for i, nm in enumerate(names):
        p.execute_command("VADD", "it", *vals([1, i + 1]), nm)
    p.execute()
    seen, start = [], "-"
    while True:
        page = r.execute_command("VRANGE", "it", start, "+", 64)
        if not page:
            break
        seen += page
        start = b"(" + page[-1]
    assert seen == sorted(n.encode() for n in names)


# ------------------------------------------------------------ REDUCE

def test_reduce_projects_vadd_and_vsim(r):
    rng = random.Random(8)
    vs = [[rng.gauss(0, 1) for _ in range(16)] for _ in range(50)]
    for i, v in enumerate(vs):
        args = ["VADD", "red", "REDUCE", 4, "FP32", fp32(v), "e%d" % i]
        assert r.execute_command(*args) == 1
    assert r.execute_command("VDIM", "red") == 4
    info = r.execute_command("VINFO", "red")
    info = dict(zip(info[::2], info[1::2]))
    assert info[b"projection-input-dim"] == 16 and info[b"vector-dim"] == 4
    assert len(r.execute_command("VEMB", "red", "e0")) == 4
    # a query of the input dimension is projected: each element finds itself
    for i in (0, 17, 49):
        got = r.execute_command("VSIM", "red", "FP32", fp32(vs[i]), "COUNT", 1, "WITHSCORES")
        assert got[0] == b"e%d" % i and float(got[1]) > 0.999
    # a query already of the reduced dimension is used as is
    emb = [float(x) for x in r.execute_command("VEMB", "red", "e3")]
    assert r.execute_command("VSIM", "red", *vals(emb), "COUNT", 1) == [b"e3"]
    assert r.execute_command("VSIM", "red", "ELE", "e5", "COUNT", 1) == [b"e5"]
    # the matrix is a function of the dimensions: another key agrees
    r.execute_command("VADD", "red2", "REDUCE", 4, "FP32", fp32(vs[3]), "x")
    emb2 = [float(x) for x in r.execute_command("VEMB", "red2", "x")]
    assert emb2 == pytest.approx(emb, rel=1e-4, abs=1e-4)
    # errors, in Redis 8's order and wording
    assert err(r, "VSIM", "red", *vals([1] * 8)) == \
        "Input dimension mismatch for projection - got 8 but projection expects 16"
    assert err(r, "VADD", "red", "FP32", fp32(vs[0]), "z") == \
        "Vector dimension mismatch - got 16 but set has 4"
    assert err(r, "VADD", "red", "REDUCE", 4, *vals([1] * 8), "z") == \
        "Input dimension mismatch for projection - got 8 but projection expects 16"
    assert err(r, "VADD", "red", "REDUCE", 3, "FP32", fp32(vs[0]), "z") == \
        "Vector dimension mismatch - got 16 but set has 4"
    assert r.execute_command("VCARD", "red") == 50
