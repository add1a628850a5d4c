"""The semantic cache through the real server and redis-py: tiers (exact,
semantic, stale, miss), TTL expiry in both the exact map and the HNSW
index, WAIT coalescing, SEARCH/DEL/FLUSH/INFO, and error replies.

Namespaces are not keys: FLUSHALL (run by the `r` fixture) does not drop
them, so every test creates its own uniquely named namespace."""
import os
import socket
import threading
import time

import pytest

from conftest import ns_name, as_dict
import redis

pytestmark = pytest.mark.simcache_only




def get(r, ns, prompt, *opts):
    return as_dict(r.execute_command("CACHE.GET", ns, prompt, *opts))


def test_exact_hit_after_normalisation(r):
    ns = ns_name()
    assert r.execute_command("CACHE.CREATE", ns) == b"OK"
    eid = r.execute_command("CACHE.PUT", ns, "How do I reset my password?", "Settings > Reset",
                            "COST", "0.002")
    assert eid == 1
    d = get(r, ns, "  how do i RESET my password ")
    assert d["tier"] == b"exact"
    assert d["id"] == eid
    assert float(d["score"]) == 1.0
    assert d["response"] == b"Settings > Reset"
    assert d["age_ms"] >= 0


def test_semantic_hit_on_rewordings_and_miss_on_unrelated(r):
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    faq = {
        "How do I reset my password?": "A-password",
        "What is the refund policy for annual plans?": "A-refund",
        "How can I export my data to CSV?": "A-export",
        "Which regions is the service available in?": "A-regions",
    }
    ids = {p: r.execute_command("CACHE.PUT", ns, p, a) for p, a in faq.items()}
    rewordings = {
        "how do I reset my password please": "How do I reset my password?",
        "reset my password, how do I do it?": "How do I reset my password?",
        "what is the refund policy for annual plan": "What is the refund policy for annual plans?",
        "How can I export all my data to CSV": "How can I export my data to CSV?",
    }
    for q, origin in rewordings.items():
        d = get(r, ns, q)
        assert d["tier"] == b"semantic", (q, d)
        assert d["id"] == ids[origin]
        assert d["response"] == faq[origin].encode()
        assert 0 < float(d["score"]) <= 1
    for q in ["What is the capital of France?", "How do I bake sourdough bread?",
              "How do I not reset my password?", "How do I reset my email?"]:
        d = get(r, ns, q)
        assert d["tier"] == b"miss", (q, d)
        assert d["budget"] == b"ok"


def test_withmeta_returns_what_replay_needs(r):
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns, "MODEL-VERSION", "gpt-x-2025-01")
    r.execute_command("CACHE.PUT", ns, "Summarise the Q3 report", "Q3 was good", "COST", "0.5",
                      "MODEL", "gpt-x", "PARAMS", '{"temperature":0.2}', "META", '{"trace":"t1"}')
    d = get(r, ns, "summarise the Q3 report", "WITHMETA")
    assert d["tier"] == b"exact"
    assert d["prompt"] == b"Summarise the Q3 report"
    assert d["model"] == b"gpt-x"
    assert d["params"] == b'{"temperature":0.2}'
    assert d["meta"] == b'{"trace":"t1"}'
    assert d["cost_nusd"] == 500000000
    assert d["ttl_ms"] == -1


def test_resp3_reply_is_a_map(srv):
    ns = ns_name()
    with srv.conn() as c:
        c.cmd("HELLO", "3")
        c.cmd("CACHE.CREATE", ns)
        c.cmd("CACHE.PUT", ns, "hello world question", "answer")
        c.send(c.encode("CACHE.GET", ns, "hello world question"))
        d, raw = c.read()
        assert raw.startswith(b"%5\r\n")
        assert d[b"tier"] == b"exact" and d[b"response"] == b"answer"
        assert isinstance(d[b"score"], float)
        miss = c.cmd("CACHE.GET", ns, "something else entirely")
        assert miss[b"tier"] == b"miss" and miss[b"budget"] == b"ok"


def test_ttl_expiry_never_returns_expired_entry_exact_or_semantic(r):
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns, "TTL", "1")
    r.execute_command("CACHE.PUT", ns, "How do I rotate my API keys?", "rotate-answer")
    r.execute_command("CACHE.PUT", ns, "How do I delete my account?", "keep", "TTL", "100")
    assert get(r, ns, "How do I rotate my API keys?")["tier"] == b"exact"
    assert get(r, ns, "how do I rotate my API keys please")["tier"] == b"semantic"
    time.sleep(1.2)
    assert get(r, ns, "How do I rotate my API keys?")["tier"] == b"miss"
    assert get(r, ns, "how do I rotate my API keys please")["tier"] == b"miss"
    assert get(r, ns, "How do I delete my account?")["tier"] == b"exact"
    # SEARCH does not list expired entries either
    found = [as_dict(x) for x in r.execute_command("CACHE.SEARCH", ns, "rotate API keys")]
    assert all(f["prompt"] != b"How do I rotate my API keys?" for f in found)
    # the expired entry is really gone (no grace): deleted from the index
    time.sleep(0.3)
    info = as_dict(r.execute_command("CACHE.INFO", ns))
    assert info["entries"] == 1
    assert info["expired"] == 1


def test_active_expiry_deletes_without_lookups(r):
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns, "TTL", "1")
    for i in range(200):
        r.execute_command("CACHE.PUT", ns, "question number %d about topic %d" % (i, i * 7), "a")
    assert as_dict(r.execute_command("CACHE.INFO", ns))["entries"] == 200
    deadline = time.time() + 5
    while time.time() < deadline:
        if as_dict(r.execute_command("CACHE.INFO", ns))["entries"] == 0:
            break
        time.sleep(0.1)
    info = as_dict(r.execute_command("CACHE.INFO", ns))
    assert info["entries"] == 0 and info["expired"] == 200


def test_stale_served_only_within_grace_and_only_when_asked(r):
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns, "TTL", "1", "GRACE", "1")
    r.execute_command("CACHE.PUT", ns, "What is the status of the API?", "all good")
    time.sleep(1.2)
    assert get(r, ns, "What is the status of the API?")["tier"] == b"miss"
    d = get(r, ns, "What is the status of the API?", "STALE")
    assert d["tier"] == b"stale" and d["response"] == b"all good"
    d = get(r, ns, "what is the status of the API please", "STALE")
    assert d["tier"] == b"stale"
    time.sleep(1.1)
    assert get(r, ns, "What is the status of the API?", "STALE")["tier"] == b"miss"
    assert get(r, ns, "what is the status of the API please", "STALE")["tier"] == b"miss"


def test_threshold_may_only_be_raised_unless_allow_lower(r):
    ns, ns2 = ns_name(), ns_name()
    r.execute_command("CACHE.CREATE", ns, "THRESHOLD", "0.5")
    r.execute_command("CACHE.PUT", ns, "How do I reset my password?", "a")
    with pytest.raises(redis.ResponseError, match="threshold may not go below"):
        r.execute_command("CACHE.GET", ns, "x", "THRESHOLD", "0.2")
    d = get(r, ns, "how do I reset my password please", "THRESHOLD", "0.99")
    assert d["tier"] == b"miss"
    r.execute_command("CACHE.CREATE", ns2, "THRESHOLD", "0.5", "ALLOW-LOWER")
    r.execute_command("CACHE.PUT", ns2, "How do I reset my password?", "a")
    assert get(r, ns2, "how do I reset my password please", "THRESHOLD", "0.2")["tier"] == \
        b"semantic"


def test_wait_coalesces_concurrent_identical_misses(srv):
    ns = ns_name()
    admin = srv.redis()
    admin.execute_command("CACHE.CREATE", ns)
    prompt = "Explain the difference between TCP and UDP"
    first = get(admin, ns, prompt, "WAIT", "5000")
    assert first["tier"] == b"miss" and first["fill"] == 1
    n = 8
    results = [None] * n

    def worker(i):
        c = srv.redis()
        results[i] = get(c, ns, prompt, "WAIT", "5000")
        c.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    time.sleep(0.5)                     # all parked
    assert all(x is None for x in results)
    eid = admin.execute_command("CACHE.PUT", ns, prompt, "TCP is reliable", "COST", "0.01")
    for t in threads:
        t.join(10)
    assert all(x["tier"] == b"exact" and x["response"] == b"TCP is reliable" and x["id"] == eid
               for x in results), results
    info = as_dict(admin.execute_command("CACHE.INFO", ns))
    assert info["misses"] == 1 and info["hits_exact"] == n


def test_wait_times_out_with_a_miss(srv):
    ns = ns_name()
    c = srv.redis()
    c.execute_command("CACHE.CREATE", ns)
    assert get(c, ns, "a question nobody answers", "WAIT", "2000")["fill"] == 1
    t0 = time.monotonic()
    d = get(srv.redis(), ns, "a question nobody answers", "WAIT", "300")
    dt = time.monotonic() - t0
    assert d["tier"] == b"miss" and d["fill"] == 1
    assert dt >= 0.25


def test_search_del_flush_drop_list(r):
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    a = r.execute_command("CACHE.PUT", ns, "How do I reset my password?", "a")
    b = r.execute_command("CACHE.PUT", ns, "How do I change my password?", "b")
    r.execute_command("CACHE.PUT", ns, "What are your opening hours?", "c")
    found = [as_dict(x) for x in r.execute_command("CACHE.SEARCH", ns, "reset password", "COUNT", "2")]
    assert len(found) == 2
    assert {f["id"] for f in found} == {a, b}
    assert float(found[0]["cosine"]) >= float(found[1]["cosine"])
    assert r.execute_command("CACHE.DEL", ns, a) == 1
    assert r.execute_command("CACHE.DEL", ns, a) == 0
    assert get(r, ns, "How do I reset my password?")["tier"] != b"exact"
    assert r.execute_command("CACHE.FLUSH", ns) == 2
    assert get(r, ns, "What are your opening hours?")["tier"] == b"miss"
    assert ns.encode() in r.execute_command("CACHE.LIST")
    assert r.execute_command("CACHE.DROP", ns) == b"OK"
    assert ns.encode() not in r.execute_command("CACHE.LIST")
    with pytest.raises(redis.ResponseError, match="^no such namespace '%s'$" % ns):
        r.execute_command("CACHE.GET", ns, "x")


def test_put_replaces_same_exact_prompt(r):
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    a = r.execute_command("CACHE.PUT", ns, "What is 2+2?", "4")
    b = r.execute_command("CACHE.PUT", ns, "what is 2+2", "four")
    assert b != a
    d = get(r, ns, "What is 2+2?")
    assert d["id"] == b and d["response"] == b"four"
    assert as_dict(r.execute_command("CACHE.INFO", ns))["entries"] == 1


def test_info_reports_configuration_and_versions(r):
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns, "THRESHOLD", "0.6", "TTL", "30", "GRACE", "10",
                      "M", "8", "EF", "50", "QUANT", "int8", "PROMPT-VERSION", "p7",
                      "MODEL-VERSION", "m2", "TOOLS-VERSION", "t3", "DIM", "384")
    info = as_dict(r.execute_command("CACHE.INFO", ns))
    assert info["threshold"] == b"0.6"
    assert (info["ttl"], info["grace"], info["m"], info["ef"], info["dim"]) == (30, 10, 8, 50, 384)
    assert info["quant"] == b"int8"
    assert (info["prompt_version"], info["model_version"], info["tools_version"]) == \
        (b"p7", b"m2", b"t3")
    assert info["fingerprint"].startswith(b"builtin:v1:d=384:")
    r.execute_command("CACHE.PUT", ns, "int8 namespaces work too", "yes")
    assert get(r, ns, "int8 namespaces work too")["tier"] == b"exact"


def test_info_replies_exactly_the_documented_fields_in_resp2_and_resp3(r, srv):
    # The field list of README's CACHE.INFO row, in order. The map's
    # declared length must match what follows it: a short count leaves the
    # last pairs in the stream, to be read as the next command's reply.
    readme = open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")).read()
    row = [l for l in readme.splitlines() if l.startswith("| `CACHE.INFO ns [TENANT t]`")][0]
    fields = row.split("|")[3].strip().strip("`").split()
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    assert list(as_dict(r.execute_command("CACHE.INFO", ns)).keys()) == fields
    assert r.ping()  # nothing left over in the stream
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.sendall(b"HELLO 3\r\nCACHE.INFO " + ns.encode() + b"\r\nPING\r\n")
    buf = b""
    while not buf.endswith(b"+PONG\r\n"):
        chunk = s.recv(65536)
        assert chunk
        buf += chunk
    s.close()
    info = buf[buf.index(b"%" + str(len(fields)).encode() + b"\r\n$4\r\nname"):]
    assert info.count(b"\r\n+PONG\r\n") == 1


def test_codes_choose_the_traversal_codes_and_every_kind_answers(r):
    # CODES int4 (the default), int8 or none: the codes a float32
    # namespace's searches traverse (index/hnsw.c design 13). Each kind
    # must still serve a reworded prompt from the graph (EXACT-BELOW 0
    # forces it); QUANT int8 keeps no separate codes.
    prompts = ["How do I reverse a list in Python?", "What is the capital of France?",
               "How many legs does a spider have?", "Who wrote Pride and Prejudice?"]
    for kind in (b"int4", b"int8", b"none"):
        ns = ns_name()
        assert r.execute_command("CACHE.CREATE", ns, "CODES", kind, "EXACT-BELOW", "0") == b"OK"
        assert as_dict(r.execute_command("CACHE.INFO", ns))["codes"] == kind
        for i, p in enumerate(prompts):
            r.execute_command("CACHE.PUT", ns, p, "answer %d" % i)
        d = get(r, ns, "how do i reverse lists in python")
        assert d["tier"] == b"semantic" and d["response"] == b"answer 0", kind
        d = get(r, ns, "pride and prejudice, who wrote it?")
        assert d["tier"] == b"semantic" and d["response"] == b"answer 3", kind
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns, "QUANT", "int8")
    assert as_dict(r.execute_command("CACHE.INFO", ns))["codes"] == b"none"
    with pytest.raises(redis.ResponseError, match="syntax"):
        r.execute_command("CACHE.CREATE", ns_name(), "CODES", "int2")
    with pytest.raises(redis.ResponseError, match="syntax"):
        r.execute_command("CACHE.CREATE", ns_name(), "CODES")


def test_a_namespace_without_options_gets_the_measured_defaults(r):
    # DIM 256 (embed_builtin.h: chosen by bench/sparse-recall --decide and
    # cache_bench.py at 100k entries), float32, EF 32, and the exact scan
    # up to max(2560, 2^19 / 256) entries; the fingerprint names the DIM.
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    info = as_dict(r.execute_command("CACHE.INFO", ns))
    assert (info["dim"], info["m"], info["ef"], info["quant"]) == (256, 16, 32, b"f32")
    assert info["codes"] == b"int4"
    assert info["fingerprint"].startswith(b"builtin:v1:d=256:")
    assert info["exact_below"] == 2560
    r.execute_command("CACHE.PUT", ns, "How do I reverse a list in Python?", "reversed()")
    d = get(r, ns, "how do i reverse lists in python")
    assert d["tier"] == b"semantic" and d["response"] == b"reversed()"


@pytest.mark.parametrize("args,err", [
    (("CACHE.CREATE", "x", "THRESHOLD", "2"), "threshold must be a number between 0 and 1"),
    (("CACHE.CREATE", "x", "EMBEDDER", "openai"), "unknown embedder 'openai'"),
    (("CACHE.CREATE", "x", "BOGUS"), "syntax error"),
    (("CACHE.GET", "nope", "x"), "no such namespace 'nope'"),
    (("CACHE.PUT", "nope", "x", "y"), "no such namespace 'nope'"),
])
def test_errors(r, args, err):
    with pytest.raises(redis.ResponseError, match=err):
        r.execute_command(*args)


def test_empty_prompt_refused(r):
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    with pytest.raises(redis.ResponseError, match="prompt is empty"):
        r.execute_command("CACHE.PUT", ns, " ?! ", "x")
    with pytest.raises(redis.ResponseError, match="prompt is empty"):
        r.execute_command("CACHE.GET", ns, "...")


def used_memory(c):
    return int(c.info("memory")["used_memory"])


def test_eviction_under_maxmemory_keeps_valuable_answers(server_factory):
    s = server_factory("--maxmemory-policy", "allkeys-lru", "--maxmemory-samples", "10")
    c = s.redis()
    ns = ns_name()
    c.execute_command("CACHE.CREATE", ns)
    big = "x" * 100000
    expensive = ["expensive question number %d about pricing" % i for i in range(5)]
    for p in expensive:
        c.execute_command("CACHE.PUT", ns, p, big, "COST", "5")
    c.config_set("maxmemory", str(used_memory(c) + 3 * 1000 * 1000))
    for i in range(150):         # 15 MB of cheap answers into 3 MB of room
        c.execute_command("CACHE.PUT", ns, "cheap filler %d words %d" % (i, i * 31), big,
                          "COST", "0.000001")
    info = as_dict(c.execute_command("CACHE.INFO", ns))
    assert info["evicted"] > 100
    assert used_memory(c) <= int(c.config_get("maxmemory")["maxmemory"]) + 200000
    for p in expensive:
        assert get(c, ns, p)["tier"] == b"exact", p


def test_put_over_maxmemory_with_noeviction_is_refused(server_factory):
    s = server_factory()
    c = s.redis()
    ns = ns_name()
    c.execute_command("CACHE.CREATE", ns)
    c.config_set("maxmemory", str(used_memory(c) + 500000))
    with pytest.raises(redis.exceptions.ResponseError, match="OOM"):
        for i in range(100):
            c.execute_command("CACHE.PUT", ns, "filler %d number %d" % (i, i * 7), "x" * 100000)
    c.config_set("maxmemory", "0")


def test_option_values_are_never_taken_for_a_tenant(r):
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    # a META/MODEL value spelled "tenant" is a value, not the TENANT option
    r.execute_command("CACHE.PUT", ns, "q one", "a", "MODEL", "tenant", "TTL", "100")
    r.execute_command("CACHE.PUT", ns, "q two", "a", "META", "tenant")
    assert as_dict(r.execute_command("CACHE.INFO", ns))["entries"] == 2
    assert r.execute_command("CACHE.LIST", "TENANT", "TTL") == []


def test_shutdown_answers_parked_waiters_and_exits_cleanly(server_factory):
    s = server_factory()
    c = s.redis()
    ns = ns_name()
    c.execute_command("CACHE.CREATE", ns)
    assert get(c, ns, "a slow question", "WAIT", "60000")["fill"] == 1
    out = []

    def waiter():
        try:
            out.append(get(s.redis(), ns, "a slow question", "WAIT", "60000"))
        except Exception as e:      # noqa: BLE001 - reported by the assert
            out.append(repr(e))

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    assert s.stop() == 0                   # SIGTERM: exit status 0, loop closed
    assert time.monotonic() - t0 < 5       # not held for the 60 s WAIT
    t.join(5)
    assert out and out[0]["tier"] == b"miss", out


def test_info_cache_section_counts_tiers(server_factory):
    s = server_factory()
    c = s.redis()
    ns = ns_name()
    c.execute_command("CACHE.CREATE", ns)
    c.execute_command("CACHE.PUT", ns, "How do I reset my password?", "a")
    get(c, ns, "How do I reset my password?")
    get(c, ns, "how do I reset my password please")
    get(c, ns, "unrelated question about the weather")
    info = c.info("cache")
    assert (info["cache_namespaces"], info["cache_entries"]) == (1, 1)
    assert (info["cache_hits_exact"], info["cache_hits_semantic"], info["cache_misses"]) == \
        (1, 1, 1)
    assert info["cache_tenants_budget_exhausted"] == 0
    assert "cache_hits_exact" in c.info()       # part of the default INFO
