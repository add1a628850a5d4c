"""CACHE.GET hit replies byte for byte on the wire, RESP2 and RESP3: the
common hit (no WITHMETA, no alias, a response of at most 1024 bytes) is
assembled in one piece by a fast path in cmd_cache.c, everything else by
the general reply calls; both must give exactly the bytes a client parses.
The threat: a hand-written length ("$5\\r\\nscore") or map count off by one,
which redis-py would misread as a different reply or hang on."""
import re

import pytest

from conftest import ns_name

pytestmark = pytest.mark.simcache_only

PROMPT = "How do I reset my password on the mobile app?"


def expected(resp, tier_, eid, score, response):
    """The hit reply as a regex over bytes; age_ms is captured."""
    head = b"%5\r\n" if resp == 3 else b"*10\r\n"
    sc = (b"," + score + b"\r\n") if resp == 3 else (b"$%d\r\n%s\r\n" % (len(score), score))
    return re.compile(re.escape(head + b"$4\r\ntier\r\n$%d\r\n%s\r\n" % (len(tier_), tier_) +
                                b"$2\r\nid\r\n:%d\r\n$5\r\nscore\r\n" % eid + sc +
                                b"$6\r\nage_ms\r\n:") + rb"(\d+)" +
                      re.escape(b"\r\n$8\r\nresponse\r\n$%d\r\n" % len(response) + response +
                                b"\r\n"), re.S)


@pytest.mark.parametrize("resp", [2, 3])
@pytest.mark.parametrize("size", [0, 1, 9, 10, 200, 1023, 1024, 1025, 5000])
def test_exact_hit_reply_bytes(srv, resp, size):
    s = srv
    ns = ns_name()
    with s.conn() as c:
        if resp == 3:
            c.cmd("HELLO", "3")
        assert c.cmd("CACHE.CREATE", ns) == "OK"
        response = bytes((ord("a") + i % 26) for i in range(size))
        eid = c.cmd("CACHE.PUT", ns, PROMPT, response)
        for _ in range(2):   # twice: the score memo filled and reused
            raw = c.cmd_raw("CACHE.GET", ns, PROMPT.upper())
            m = expected(resp, b"exact", eid, b"1", response).fullmatch(raw)
            assert m, raw[:300]
            assert int(m.group(1)) < 60000
        c.cmd("CACHE.DROP", ns)


@pytest.mark.parametrize("resp", [2, 3])
def test_withmeta_hit_keeps_its_shape_and_the_next_plain_hit_its_bytes(srv, resp):
    s = srv
    ns = ns_name()
    with s.conn() as c:
        if resp == 3:
            c.cmd("HELLO", "3")
        c.cmd("CACHE.CREATE", ns)
        eid = c.cmd("CACHE.PUT", ns, PROMPT, "answer", "MODEL", "m1")
        v = c.cmd("CACHE.GET", ns, PROMPT, "WITHMETA")
        d = v if isinstance(v, dict) else dict(zip(v[::2], v[1::2]))
        keys = [k.decode() if isinstance(k, bytes) else k for k in d]
        assert keys == ["tier", "id", "score", "age_ms", "response", "prompt", "model", "params",
                        "meta", "tokens", "cost_nusd", "ttl_ms"]
        get = lambda k: d[k.encode()] if k.encode() in d else d[k]
        assert get("tier") == b"exact" and get("id") == eid and get("response") == b"answer"
        assert get("model") == b"m1"
        # a plain hit right after a WITHMETA one: the fast path again
        raw = c.cmd_raw("CACHE.GET", ns, PROMPT)
        assert expected(resp, b"exact", eid, b"1", b"answer").fullmatch(raw), raw
        c.cmd("CACHE.DROP", ns)
