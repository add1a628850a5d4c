"""The per-tenant embedding cache on built-in namespaces (server/cache.c
note 12), through the real server and redis-py: a repeated prompt is
embedded once, tenants never share embeddings, answers are the same with
the cache off (`CONFIG SET embed-cache-bytes 0`) and on, on the GPTCache
paraphrase pairs over the pool's threaded search path, and the byte bound
holds.

Counters: INFO cache_embed_builtin_computed (the built-in embedder ran),
cache_embed_builtin_cached (the tenant's cache supplied the embedding),
cache_embed_cache_entries/_bytes (all tenants' caches)."""
import json
import os

import pytest

from conftest import as_dict, ns_name

pytestmark = pytest.mark.simcache_only

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "data",
                                     "gptcache_mock_pairs.json"))

USERS = [
    "--user", "root", "rootpw", "role", "admin",
    "--user", "alice", "apw", "tenant", "acme",
    "--user", "bob", "bpw", "tenant", "globex",
]


def info(r):
    d = r.info("cache")
    return {k: int(d[k]) for k in ("cache_embed_builtin_computed", "cache_embed_builtin_cached",
                                   "cache_embed_cache_entries", "cache_embed_cache_bytes",
                                   "cache_embed_cache_tenants")}


def get(r, ns, prompt):
    d = as_dict(r.execute_command("CACHE.GET", ns, prompt, "WITHMETA"))
    return d["tier"], d.get("id"), d.get("score")


def test_a_repeated_prompt_is_embedded_once(r):
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    r.execute_command("CACHE.PUT", ns, "How do I reset my password?", "reset")
    i0 = info(r)
    answers = {get(r, ns, p) for p in ("how do I reset my password please",
                                       "How do I reset my password, please?",
                                       "HOW DO I RESET MY PASSWORD PLEASE")}
    i1 = info(r)
    assert len(answers) == 1 and next(iter(answers))[0] == b"semantic", answers
    assert i1["cache_embed_builtin_computed"] - i0["cache_embed_builtin_computed"] == 1
    assert i1["cache_embed_builtin_cached"] - i0["cache_embed_builtin_cached"] == 2


def test_a_put_after_a_miss_of_the_same_prompt_embeds_once(r):
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    i0 = info(r)
    assert get(r, ns, "what is the refund policy for annual plans")[0] == b"miss"
    r.execute_command("CACHE.PUT", ns, "What is the refund policy for annual plans?", "30 days")
    i1 = info(r)
    assert i1["cache_embed_builtin_computed"] - i0["cache_embed_builtin_computed"] == 1
    assert i1["cache_embed_builtin_cached"] - i0["cache_embed_builtin_cached"] == 1


def test_two_tenants_each_embed_the_same_prompt(server_factory):
    s = server_factory(*USERS)
    root = s.redis(username="root", password="rootpw")
    a = s.redis(username="alice", password="apw")
    b = s.redis(username="bob", password="bpw")
    for c, answer in ((a, "acme"), (b, "globex")):
        c.execute_command("CACHE.CREATE", "faq")
        c.execute_command("CACHE.PUT", "faq", "How can I export my data to CSV?", answer)
    i0 = info(root)
    q = "How can I export all my data to CSV"
    ra = as_dict(a.execute_command("CACHE.GET", "faq", q))
    rb = as_dict(b.execute_command("CACHE.GET", "faq", q))
    i1 = info(root)
    assert (ra["tier"], ra["response"]) == (b"semantic", b"acme")
    assert (rb["tier"], rb["response"]) == (b"semantic", b"globex")
    # the second tenant embedded again: its cache never saw the first's entry
    assert i1["cache_embed_builtin_computed"] - i0["cache_embed_builtin_computed"] == 2
    assert i1["cache_embed_builtin_cached"] == i0["cache_embed_builtin_cached"]
    assert i1["cache_embed_cache_tenants"] == 2
    assert i1["cache_embed_cache_entries"] - i0["cache_embed_cache_entries"] == 2
    for c in (a, b):
        c.execute_command("CACHE.GET", "faq", q)
    i2 = info(root)
    assert i2["cache_embed_builtin_cached"] - i1["cache_embed_builtin_cached"] == 2
    assert i2["cache_embed_builtin_computed"] == i1["cache_embed_builtin_computed"]


def test_answers_are_identical_with_the_cache_off_and_on(r):
    if not os.path.exists(DATA):
        pytest.skip("no %s (shared data beside the checkout)" % DATA)
    pairs = json.load(open(DATA))[:400]
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    pipe = r.pipeline(transaction=False)
    for i, p in enumerate(pairs):
        pipe.execute_command("CACHE.PUT", ns, p["origin"], "answer-%d" % i)
    pipe.execute()
    queries = [p["similar"] for p in pairs]
    try:
        assert r.execute_command("CONFIG", "SET", "embed-cache-bytes", "0") == b"OK"
        i0 = info(r)
        off = [get(r, ns, q) for q in queries]
        i1 = info(r)
        assert i1["cache_embed_builtin_cached"] == i0["cache_embed_builtin_cached"]
        assert i1["cache_embed_cache_entries"] == 0
    finally:
        r.execute_command("CONFIG", "SET", "embed-cache-bytes", "16mb")
    on1 = [get(r, ns, q) for q in queries]   # fills the cache
    i2 = info(r)
    on2 = [get(r, ns, q) for q in queries]   # served by it
    i3 = info(r)
    embedded = sum(1 for a in off if a[0] != b"exact")
    assert i3["cache_embed_builtin_cached"] - i2["cache_embed_builtin_cached"] == embedded
    assert i3["cache_embed_builtin_computed"] == i2["cache_embed_builtin_computed"]
    for q, a, b, c in zip(queries, off, on1, on2):
        assert a == b == c, q
    tiers = {a[0] for a in off}
    assert b"semantic" in tiers and b"miss" in tiers, tiers


def test_the_byte_bound_holds_and_can_be_lowered_at_run_time(r):
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    r.execute_command("CACHE.PUT", ns, "seed prompt", "x")
    limit = 64 * 1024
    try:
        assert r.execute_command("CONFIG", "SET", "embed-cache-bytes", str(limit)) == b"OK"
        for i in range(120):
            get(r, ns, "distinct question number %d about topic %d" % (i, i * 7))
            if i % 20 == 19:
                d = info(r)
                assert 0 < d["cache_embed_cache_bytes"] <= limit, d
        d = info(r)
        assert d["cache_embed_cache_entries"] < 120   # ~2.6 KB each at d=512
        assert r.execute_command("CONFIG", "SET", "embed-cache-bytes", "8kb") == b"OK"
        get(r, ns, "one more distinct question")
        assert info(r)["cache_embed_cache_bytes"] <= 8 * 1024
    finally:
        r.execute_command("CONFIG", "SET", "embed-cache-bytes", "16mb")
