"""BIN-quantised vector sets (VADD ... BIN) through redis-py (RESP2) and raw
RESP3 sockets, against Redis 8's behaviour (/work/shared/reference/
vector-sets.md): one sign bit per dimension (a component > 0 gives 1),
distance 2 * hamming / dim, so VSIM scores are 1 - hamming / dim; VINFO
quant-type "bin"; VEMB +1/-1 per component (no l2 scaling); VEMB RAW
["bin", packed little-endian uint64 words, l2]; the quantisation is fixed
by the first VADD and a different (or omitted) one is an error.

Threats covered: scores or TRUTH results that are not the exact Hamming
ones (checked against a brute force in Python, ties allowed); padding bits
past dim counted in a distance (dims 5 and 70); the graph search missing
the true neighbours (recall@10 against TRUTH, tie-aware); FILTER on a BIN
set returning non-matching or wrong elements; a BIN set that is no smaller
than a Q8 one in MEMORY USAGE; reply shapes that differ between RESP2 and
RESP3; a quantisation silently changed by a later VADD."""
import json
import random
import struct

import pytest
import redis

from conftest import as_dict

pytestmark = pytest.mark.simcache_only

MISMATCH = "asked quantization mismatch with existing vector set"


def vals(v):
    return ["VALUES", len(v)] + ["%r" % float(x) for x in v]


def fp32(v):
    return struct.pack("<%df" % len(v), *v)


def f32(x):
    """x as the server sees it after the float32 round trip."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def err(r, *args):
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command(*args)
    return str(e.value)


def bits(v):
    return [1 if f32(x) > 0 else 0 for x in v]


def score(a, b):
    """Redis's BIN similarity: 1 - hamming / dim."""
    ba, bb = bits(a), bits(b)
    return 1.0 - sum(x != y for x, y in zip(ba, bb)) / len(ba)


def clustered(seed, n, dim, clusters, sigma):
    rng = random.Random(seed)
    cent = [[rng.gauss(0, 1) for _ in range(dim)] for _ in range(clusters)]
    return [[x + rng.gauss(0, sigma) for x in cent[i % clusters]] for i in range(n)], cent, rng


def load(r, key, data, quant="BIN", attrs=None):
    p = r.pipeline(transaction=False)
    for i, v in enumerate(data):
        args = ["VADD", key, "FP32", fp32(v), "e%d" % i, quant]
        if attrs is not None and attrs[i] is not None:
            args += ["SETATTR", json.dumps(attrs[i])]
        p.execute_command(*args)
        if i % 500 == 499:
            p.execute()
    p.execute()


def test_vadd_bin_vinfo_and_vemb_values(r):
    assert r.execute_command("VADD", "b", *vals([0.5, -2, 0, 3, -0.1]), "a", "BIN") == 1
    d = as_dict(r.execute_command("VINFO", "b"))
    assert d["quant-type"] == b"bin" and d["vector-dim"] == 5 and d["size"] == 1
    # +1 where the component was > 0, -1 otherwise (0 included); not scaled
    emb = [float(x) for x in r.execute_command("VEMB", "b", "a")]
    assert emb == [1.0, -1.0, -1.0, 1.0, -1.0]
    raw = r.execute_command("VEMB", "b", "a", "RAW")
    assert len(raw) == 3 and raw[0] == b"bin"
    assert raw[1] == struct.pack("<Q", 0b01001)       # bits 0 and 3
    assert float(raw[2]) == pytest.approx((0.25 + 4 + 9 + 0.01) ** 0.5, rel=1e-6)
    # an update replies 0 and replaces the bits
    assert r.execute_command("VADD", "b", *vals([-1, 1, 1, -1, 1]), "a", "BIN") == 0
    assert [float(x) for x in r.execute_command("VEMB", "b", "a")] == [-1, 1, 1, -1, 1]
    # 70 dimensions: two words, the second holding 6 bits
    v = [(-1) ** i * (i + 1) for i in range(70)]
    r.execute_command("VADD", "w", *vals(v), "x", "BIN")
    raw = r.execute_command("VEMB", "w", "x", "RAW")
    lo, hi = struct.unpack("<2Q", raw[1])
    assert lo == 0x5555555555555555 and hi == 0b010101
    assert [float(x) for x in r.execute_command("VEMB", "w", "x")] == \
        [1.0 if i % 2 == 0 else -1.0 for i in range(70)]
    assert r.execute_command("VDIM", "w") == 70


def test_quantization_is_fixed_by_the_first_vadd(r):
    r.execute_command("VADD", "b", *vals([1, 0, 1]), "a", "BIN")
    assert err(r, "VADD", "b", *vals([1, 1, 1]), "x") == MISMATCH          # omitted = Q8
    assert err(r, "VADD", "b", *vals([1, 1, 1]), "x", "Q8") == MISMATCH
    assert err(r, "VADD", "b", *vals([1, 1, 1]), "x", "NOQUANT") == MISMATCH
    r.execute_command("VADD", "q", *vals([1, 0, 1]), "a")
    assert err(r, "VADD", "q", *vals([1, 1, 1]), "x", "BIN") == MISMATCH
    r.execute_command("VADD", "n", *vals([1, 0, 1]), "a", "NOQUANT")
    assert err(r, "VADD", "n", *vals([1, 1, 1]), "x", "BIN") == MISMATCH
    # the last quantisation option wins, as in Redis's parser
    assert r.execute_command("VADD", "b", *vals([1, 1, 1]), "x", "Q8", "BIN") == 1
    assert r.execute_command("VCARD", "b") == 2
    assert r.execute_command("VCARD", "q") == 1 and r.execute_command("VCARD", "n") == 1
    # a zero vector is still rejected (cosine undefined), nothing stored
    assert err(r, "VADD", "b", *vals([0, 0, 0]), "z", "BIN").startswith(
        "invalid vector specification")
    assert r.execute_command("VISMEMBER", "b", "z") == 0


def test_vsim_scores_are_one_minus_hamming_over_dim(r):
    rng = random.Random(3)
    dim = 8
    data = {"e%d" % i: [rng.gauss(0, 1) for _ in range(dim)] for i in range(40)}
    for name, v in data.items():
        r.execute_command("VADD", "s", "FP32", fp32(v), name, "BIN")
    q = [rng.gauss(0, 1) for _ in range(dim)]
    rep = r.execute_command("VSIM", "s", "FP32", fp32(q), "WITHSCORES", "COUNT", 40, "TRUTH")
    got = {rep[i].decode(): float(rep[i + 1]) for i in range(0, len(rep), 2)}
    assert len(got) == 40
    for name, s in got.items():
        assert s == score(q, data[name]), name       # multiples of 1/8: exact
        assert 0.0 <= s <= 1.0
    scores = [float(rep[i + 1]) for i in range(0, len(rep), 2)]
    assert scores == sorted(scores, reverse=True)
    # EPSILON keeps similarity >= 1 - eps
    rep = r.execute_command("VSIM", "s", "FP32", fp32(q), "WITHSCORES", "COUNT", 40,
                            "EPSILON", "0.25")
    assert all(float(rep[i + 1]) >= 0.75 for i in range(0, len(rep), 2))
    assert len(rep) // 2 == sum(1 for v in data.values() if score(q, v) >= 0.75)
    # ELE: the element's own bits as the query; itself first with score 1
    rep = r.execute_command("VSIM", "s", "ELE", "e7", "WITHSCORES", "COUNT", 3)
    assert float(rep[1]) == 1.0 and rep[0] in [n.encode() for n, v in data.items()
                                               if bits(v) == bits(data["e7"])]


def test_truth_is_the_exact_hamming_top_k_and_graph_recall_at_10(r):
    dim, n = 128, 3000
    data, cent, rng = clustered(5, n, dim, 30, 0.8)
    load(r, "rk", data)
    assert r.execute_command("VCARD", "rk") == n
    hits = total = 0
    for qi in range(40):
        q = [x + rng.gauss(0, 0.8) for x in cent[qi % len(cent)]]
        exact = r.execute_command("VSIM", "rk", "FP32", fp32(q), "COUNT", 10, "WITHSCORES",
                                  "TRUTH")
        assert len(exact) == 20
        names = [exact[i].decode() for i in range(0, 20, 2)]
        escores = [float(exact[i + 1]) for i in range(0, 20, 2)]
        brute = sorted((score(q, v) for v in data), reverse=True)
        assert escores == brute[:10], qi                  # TRUTH = exact Hamming scan
        for nm, s in zip(names, escores):
            assert s == score(q, data[int(nm[1:])])
        approx = r.execute_command("VSIM", "rk", "FP32", fp32(q), "COUNT", 10, "WITHSCORES")
        # tie-aware: any element scoring at least the 10th true score is right
        hits += sum(1 for i in range(1, len(approx), 2) if float(approx[i]) >= escores[-1])
        total += 10
    recall = hits / total
    assert recall >= 0.9, recall


def test_filter_and_truth_on_a_bin_set(r):
    dim, n = 16, 600
    data, cent, rng = clustered(9, n, dim, 6, 1.0)
    attrs = [None if i % 7 == 0 else {"year": 1950 + i % 70} for i in range(n)]
    load(r, "fb", data, attrs=attrs)
    for qi in range(10):
        q = [rng.gauss(0, 1) for _ in range(dim)]
        ok = sorted((score(q, data[i]) for i in range(n)
                     if attrs[i] is not None and attrs[i]["year"] > 1990), reverse=True)
        rep = r.execute_command("VSIM", "fb", "FP32", fp32(q), "FILTER", ".year > 1990",
                                "COUNT", 15, "WITHSCORES", "TRUTH")
        names = [int(rep[i].decode()[1:]) for i in range(0, len(rep), 2)]
        sc = [float(rep[i + 1]) for i in range(0, len(rep), 2)]
        assert sc == ok[:15]
        assert all(attrs[i] is not None and attrs[i]["year"] > 1990 for i in names)
        rep = r.execute_command("VSIM", "fb", "FP32", fp32(q), "FILTER", ".year > 1990",
                                "COUNT", 15, "WITHSCORES", "WITHATTRIBS")
        assert len(rep) == 45
        for i in range(0, 45, 3):
            idx = int(rep[i].decode()[1:])
            assert json.loads(rep[i + 2])["year"] > 1990 and float(rep[i + 1]) == score(q, data[idx])


def test_bin_memory_usage_is_below_q8_and_noquant(r):
    dim, n = 384, 2000
    data, _, _ = clustered(13, n, dim, 10, 0.8)
    usage = {}
    for quant, key in (("BIN", "mb"), ("Q8", "mq"), ("NOQUANT", "mn")):
        load(r, key, data, quant=quant)
        usage[quant] = r.memory_usage(key, samples=0)
    # per vector at d=384: BIN holds 48 bytes of bits, Q8 384 + its copies
    assert usage["BIN"] * 2 < usage["Q8"], usage
    assert usage["BIN"] * 2 < usage["NOQUANT"], usage
    assert usage["BIN"] / n < 500, usage


def test_vlinks_vrandmember_vrem_on_a_bin_set(r):
    dim = 32
    data, _, _ = clustered(17, 300, dim, 5, 0.7)
    load(r, "lk", data)
    links = r.execute_command("VLINKS", "lk", "e0", "WITHSCORES")
    assert links and len(links[-1]) >= 2
    for i in range(0, len(links[-1]), 2):
        other = int(links[-1][i].decode()[1:])
        assert float(links[-1][i + 1]) == pytest.approx(score(data[0], data[other]), abs=1e-6)
    picks = r.execute_command("VRANDMEMBER", "lk", 10)
    assert len(set(picks)) == 10
    assert r.execute_command("VREM", "lk", "e0") == 1
    assert r.execute_command("VEMB", "lk", "e0") is None
    rep = r.execute_command("VSIM", "lk", "FP32", fp32(data[0]), "COUNT", 300)
    assert b"e0" not in rep and len(rep) == 299


def test_resp3_reply_shapes_on_a_bin_set(srv):
    with srv.conn() as c:
        assert isinstance(c.cmd("HELLO", "3"), dict)
        assert c.cmd_raw("VADD", "k", *vals([1, 0.5]), "a", "BIN") == b"#t\r\n"
        c.cmd("VADD", "k", *vals([1, -1]), "b", "BIN")
        assert c.cmd_raw("VEMB", "k", "b") == b"*2\r\n,1\r\n,-1\r\n"
        assert c.cmd_raw("VINFO", "k").startswith(b"%9\r\n+quant-type\r\n+bin\r\n")
        assert c.cmd_raw("VSIM", "k", *vals([1, 1]), "WITHSCORES") == \
            b"%2\r\n$1\r\na\r\n,1\r\n$1\r\nb\r\n,0.5\r\n"
        raw = c.cmd_raw("VEMB", "k", "a", "RAW")
        assert raw.startswith(b"*3\r\n+bin\r\n$8\r\n" + struct.pack("<Q", 3) + b"\r\n,")
