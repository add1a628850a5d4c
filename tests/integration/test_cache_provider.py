"""Provider-embedded cache namespaces (server/cache_embed.c) against
tests/fake_provider.py, driven through CACHE.* with redis-py and raw
sockets.

The fake serves model "bow*" with bag-of-words vectors, so a reworded
prompt is near its original and semantic hits can be checked end to end;
its /stats counters are the oracle for what the server really sent (calls,
inputs, billed tokens).

Threats covered: a PUT lost or refused while the provider is down; a fault
(429 with Retry-After, 500, 503, hang, trickle, garbage JSON, NaN, wrong
dimension, wrong count, huge body, redirect) that turns a GET into an error,
outlives its budget, stalls PING, or stores an invalid vector; a prompt
embedded twice (repeats, miss -> PUT, concurrent identical GETs); tenants
sharing embeddings; N concurrent misses not batched; a ledger that does not
add up to the provider's own count; DROP/FLUSH/DEL or a client vanishing
while an embedding is in flight (run under ASan by scripts/test.sh asan);
pipelined replies out of order; FLUSHALL leaving cached answers behind."""
import json
import math
import os
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import RespConn, ns_name, as_dict
from otlp_collector import Collector, attrs

HERE = os.path.dirname(os.path.abspath(__file__))
pytestmark = pytest.mark.simcache_only

DIM = 32
PRICE_USD_PER_M = 1000   # 1e6 nano-USD per token: per-call rounding cannot hide an error
BUDGET_S = 8.0           # every faulty GET answers well within this


class Fake:
    def __init__(self, port):
        self.url = "http://127.0.0.1:%d" % port

    def post(self, path, obj):
        req = urllib.request.Request(self.url + path, json.dumps(obj).encode(), method="POST")
        return json.loads(urllib.request.urlopen(req, timeout=10).read())

    def stats(self):
        return json.loads(urllib.request.urlopen(self.url + "/stats", timeout=10).read())

    def mode(self, mode, count=1, arg=None):
        self.post("/mode", {"mode": mode, "count": count, "arg": arg})

    def reset(self):
        self.post("/reset", {})


@pytest.fixture(scope="module")
def fake():
    proc = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "..", "fake_provider.py")],
                            stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    yield Fake(port)
    proc.terminate()
    proc.wait(10)


def provider_args(fake, *extra):
    return ["--provider", "emb", "openai", fake.url, "model", "bow", "dimensions", DIM,
            "max-wait-ms", 2, "timeout-ms", 1000, "connect-timeout-ms", 500,
            "max-attempts", 2, "retry-base-ms", 20, "breaker-cooldown-ms", 200,
            "max-response", "1mb", *extra,
            "--price", "bow", PRICE_USD_PER_M, 0]


@pytest.fixture
def fk(fake):
    fake.reset()
    return fake


@pytest.fixture
def ps(fk, server_factory):
    """A server with provider `emb` (the fake), and its redis-py client."""
    s = server_factory(*provider_args(fk))
    s.fake = fk
    s.r = s.redis()
    yield s
    s.r.close()




def get(r, ns, prompt, *opts):
    return as_dict(r.execute_command("CACHE.GET", ns, prompt, *opts))


def info(r, ns, *opts):
    return as_dict(r.execute_command("CACHE.INFO", ns, *opts))


def wait_indexed(r, ns, timeout=10.0, *opts):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if info(r, ns, *opts)["pending_index"] == 0:
            return
        time.sleep(0.05)
    raise AssertionError("entries of %s still wait for a vector: %s" % (ns, info(r, ns, *opts)))


def usage(r, tenant="default"):
    return as_dict(r.execute_command("TENANT.USAGE", tenant))


# ---- binding ----

def test_a_namespace_is_bound_to_the_providers_model_and_dimension(ps):
    r = ps.r
    assert r.execute_command("CACHE.CREATE", "faq", "EMBEDDER", "emb") == b"OK"
    i = info(r, "faq")
    assert i["embedder"] == b"emb"
    assert i["fingerprint"] == b"provider:emb:bow:%d" % DIM
    assert i["dim"] == DIM
    assert float(i["threshold"]) == pytest.approx(0.85)
    with pytest.raises(Exception, match="returns 32 dimensions, not 64"):
        r.execute_command("CACHE.CREATE", "other", "EMBEDDER", "emb", "DIM", 64)
    with pytest.raises(Exception, match="unknown embedder 'nope'"):
        r.execute_command("CACHE.CREATE", "other", "EMBEDDER", "nope")
    # builtin namespaces keep their defaults
    r.execute_command("CACHE.CREATE", "plain")
    assert info(r, "plain")["fingerprint"].startswith(b"builtin")


def test_a_provider_without_dimensions_needs_dim(fk, server_factory):
    s = server_factory("--provider", "nodim", "openai", fk.url, "model", "bow")
    with s.redis() as r:
        with pytest.raises(Exception, match="no configured dimensions: give DIM"):
            r.execute_command("CACHE.CREATE", "a", "EMBEDDER", "nodim")
        assert r.execute_command("CACHE.CREATE", "a", "EMBEDDER", "nodim", "DIM", 16) == b"OK"
        # the fake answers 8 dimensions without "dimensions" in the request:
        # never stored, never searched; the GET degrades, the PUT waits
        r.execute_command("CACHE.PUT", "a", "what is the refund policy", "refund")
        g = get(r, "a", "what is your refund policy")
        assert g["tier"] == b"miss" and g["semantic"] == b"unavailable"
        assert info(r, "a")["pending_index"] == 1
        assert int(r.info("cache")["cache_embed_wrong_dim"]) >= 1


# ---- the semantic path ----

def test_a_reworded_prompt_hits_semantically_and_nothing_is_embedded_twice(ps):
    r, fake = ps.r, ps.fake
    r.execute_command("CACHE.CREATE", "faq", "EMBEDDER", "emb")
    assert r.execute_command("CACHE.PUT", "faq", "How do I reset my password?", "reset") == 1
    wait_indexed(r, "faq")
    g = get(r, "faq", "how do i reset my password please")
    assert g["tier"] == b"semantic" and g["response"] == b"reset"
    assert 0.85 <= float(g["score"]) < 1
    sent = fake.stats()["billable_inputs"]
    assert sent == 2
    # repeats come from the tenant's embedding cache
    for _ in range(3):
        assert get(r, "faq", "how do i reset my password please")["tier"] == b"semantic"
    # exact hits need no embedding at all
    assert get(r, "faq", "HOW do I reset my password")["tier"] == b"exact"
    # miss -> model -> PUT: the PUT reuses the GET's vector, indexed at once
    assert get(r, "faq", "what is the refund policy for annual plans")["tier"] == b"miss"
    r.execute_command("CACHE.PUT", "faq", "What is the refund policy for annual plans?", "refund")
    assert info(r, "faq")["pending_index"] == 0
    assert fake.stats()["billable_inputs"] == sent + 1
    g = get(r, "faq", "what is the refund policy for annual plans please")
    assert g["tier"] == b"semantic" and g["response"] == b"refund"
    ci = r.info("cache")
    assert ci["cache_embed_cache_hits"] >= 4
    assert ci["cache_index_pending"] == 0


def test_embedding_caches_are_per_tenant(ps):
    r, fake = ps.r, ps.fake
    for t in ("ta", "tb"):
        r.execute_command("CACHE.CREATE", "faq", "EMBEDDER", "emb", "TENANT", t)
    r.execute_command("CACHE.PUT", "faq", "the answer of tenant a", "secret-a", "TENANT", "ta")
    wait_indexed(r, "faq", 10.0, "TENANT", "ta")
    assert get(r, "faq", "the answer of tenant a please", "TENANT", "ta")["tier"] == b"semantic"
    n = fake.stats()["billable_inputs"]
    g = get(r, "faq", "the answer of tenant a please", "TENANT", "tb")
    assert g["tier"] == b"miss"             # tb's namespace is empty: no cross-tenant answer
    assert fake.stats()["billable_inputs"] == n + 1, "tb reused ta's embedding"
    assert get(r, "faq", "the answer of tenant a please", "TENANT", "ta")["tier"] == b"semantic"
    assert fake.stats()["billable_inputs"] == n + 1


def raw_gets(port, ns, prompts):
    """One connection per prompt, all sent before any reply is read."""
    conns = [RespConn(port) for _ in prompts]
    for c, p in zip(conns, prompts):
        c.send(RespConn.encode("CACHE.GET", ns, p))
    out = [as_dict(c.value()) for c in conns]
    for c in conns:
        c.close()
    return out


def test_identical_concurrent_misses_are_embedded_once(ps):
    r, fake = ps.r, ps.fake
    r.execute_command("CACHE.CREATE", "faq", "EMBEDDER", "emb")
    fake.mode("delay", 1, 300)   # the first call stays in flight while the rest arrive
    out = raw_gets(ps.port, "faq", ["Where is my order number %d?" % 7] * 12)
    assert all(o["tier"] == b"miss" for o in out)
    assert fake.stats()["billable_inputs"] == 1


def test_n_concurrent_misses_take_at_most_ceil_n_over_batch_calls(fk, server_factory):
    s = server_factory(*provider_args(fk, "max-batch", 8, "max-wait-ms", 300))
    with s.redis() as r:
        r.execute_command("CACHE.CREATE", "faq", "EMBEDDER", "emb")
    n = 40
    out = raw_gets(s.port, "faq", ["distinct question number %d about topic %d" % (i, i * 7)
                                   for i in range(n)])
    assert all(o["tier"] == b"miss" and "semantic" not in o for o in out)
    st = fk.stats()
    assert st["billable_inputs"] == n
    assert st["requests"] <= math.ceil(n / 8), st["batch_sizes"]


def test_pipelined_replies_keep_their_order_around_embeddings(ps):
    r = ps.r
    r.execute_command("CACHE.CREATE", "faq", "EMBEDDER", "emb")
    r.execute_command("CACHE.PUT", "faq", "How do I reset my password?", "reset")
    wait_indexed(r, "faq")
    ps.fake.mode("delay", 2, 100)
    p = r.pipeline(transaction=False)
    p.execute_command("CACHE.GET", "faq", "reset my password how do i please")
    p.ping()
    p.execute_command("CACHE.GET", "faq", "how do i reset my password")
    p.execute_command("CACHE.GET", "faq", "totally unrelated question about kumquats")
    p.echo("last")
    a, b, c, d, e = p.execute()
    assert as_dict(a)["tier"] == b"semantic"
    assert b is True
    assert as_dict(c)["tier"] == b"exact"
    assert as_dict(d)["tier"] == b"miss"
    assert e == b"last"


# ---- ledger ----

def test_embedding_spend_in_the_ledger_equals_the_providers_count(ps):
    r, fake = ps.r, ps.fake
    for t in ("ta", "tb"):
        r.execute_command("CACHE.CREATE", "faq", "EMBEDDER", "emb", "TENANT", t)
    for i in range(6):
        t = ("ta", "tb")[i % 2]
        r.execute_command("CACHE.PUT", "faq", "stored question %d of %s" % (i, t), "a", "TENANT", t)
        get(r, "faq", "asked question %d for %s" % (i, t), "TENANT", t)
        get(r, "faq", "asked question %d for %s" % (i, t), "TENANT", t)   # cached vector
    for t in ("ta", "tb"):
        wait_indexed(r, "faq", 10.0, "TENANT", t)
    st = fake.stats()
    ua, ub = usage(r, "ta"), usage(r, "tb")
    assert ua["embed_tokens"] + ub["embed_tokens"] == st["tokens"]
    assert ua["embed_tokens"] > 0 and ub["embed_tokens"] > 0
    for u in (ua, ub):
        assert u["embed_spend_nusd"] == u["embed_tokens"] * PRICE_USD_PER_M * 1000
        assert u["spend_nusd"] == u["embed_spend_nusd"]   # the PUTs gave no cost
    assert st["billable_inputs"] == 12


# ---- faults ----

FAULTS = [("429", 1), ("500", None), ("503", None), ("hang", None), ("trickle", None),
          ("garbage", None), ("nan", None), ("wrongdim", None), ("wrongcount", None),
          ("huge", None), ("redirect_meta", None)]


def ping_ms(port):
    with RespConn(port) as c:
        t0 = time.monotonic()
        assert c.cmd("PING") == "PONG"
        return (time.monotonic() - t0) * 1000


@pytest.mark.parametrize("mode,arg", FAULTS, ids=[f[0] for f in FAULTS])
def test_a_provider_fault_degrades_gets_and_loses_no_put(ps, mode, arg):
    r, fake = ps.r, ps.fake
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns, "EMBEDDER", "emb")
    r.execute_command("CACHE.PUT", ns, "How do I reset my password?", "reset")
    wait_indexed(r, ns)
    fake.mode(mode, -1, arg)
    # PUT while down: stored at once, served exactly, not indexed
    t0 = time.monotonic()
    assert r.execute_command("CACHE.PUT", ns, "What is the refund policy for annual plans?",
                             "refund") == 2
    assert time.monotonic() - t0 < 1.0
    assert get(r, ns, "what is the refund policy for annual plans")["tier"] == b"exact"
    # GET needing an embedding: a miss that says why, within the budget,
    # while PING stays fast
    result = {}

    def slow_get():
        t = time.monotonic()
        with ps.redis() as r2:
            result["g"] = get(r2, ns, "how can I export my data to csv")
        result["s"] = time.monotonic() - t

    th = threading.Thread(target=slow_get)
    th.start()
    time.sleep(0.1)
    assert ping_ms(ps.port) < 500
    th.join(BUDGET_S + 2)
    assert not th.is_alive()
    assert result["s"] < BUDGET_S
    assert result["g"]["tier"] == b"miss"
    assert result["g"]["semantic"] == b"unavailable"
    # nothing invalid stored: the PUT waits, unindexed, the old entry is intact
    i = info(r, ns)
    assert i["entries"] == 2 and i["pending_index"] == 1
    assert int(r.info("cache")["cache_gets_semantic_unavailable"]) >= 1
    # recovery: the stored answer gets its vector and serves semantically
    fake.reset()
    wait_indexed(r, ns, 15.0)
    g = get(r, ns, "what is the refund policy for annual plans please")
    assert g["tier"] == b"semantic" and g["response"] == b"refund"
    assert get(r, ns, "how do i reset my password please")["response"] == b"reset"


def test_stale_answers_are_served_when_the_provider_is_down(ps):
    r, fake = ps.r, ps.fake
    r.execute_command("CACHE.CREATE", "faq", "EMBEDDER", "emb", "GRACE", 60)
    r.execute_command("CACHE.PUT", "faq", "How do I reset my password?", "reset", "TTL", 1)
    time.sleep(1.1)
    fake.mode("500", -1)
    g = get(r, "faq", "How do I reset my password?", "STALE")
    assert g["tier"] == b"stale" and g["response"] == b"reset"
    # the same prompt's vector is in the embedding cache: the semantic tier
    # runs and finds only the expired entry
    g = get(r, "faq", "How do I reset my password?")
    assert g["tier"] == b"miss" and "semantic" not in g
    g = get(r, "faq", "how do I reset my password please")
    assert g["tier"] == b"miss" and g["semantic"] == b"unavailable"


def last_log(r):
    e = r.execute_command("CACHE.LOG", "GET", 1)[0]
    return dict(zip(e[::2], e[1::2]))


def test_the_unindexed_queue_is_bounded_and_refuses_clearly(fk, server_factory):
    s = server_factory(*provider_args(fk, "--cache-index-queue", 3))
    fk.mode("500", -1)
    with s.redis() as r:
        r.execute_command("CACHE.CREATE", "faq", "EMBEDDER", "emb")
        for i in range(3):
            r.execute_command("CACHE.PUT", "faq", "question number %d" % i, str(i))
        with pytest.raises(Exception, match="UPSTREAM embedder 'emb' is behind: 3 entries"):
            r.execute_command("CACHE.PUT", "faq", "question number 3", "3")
        # the refusal is in the request log, with what the PUT asked to store
        refused = last_log(r)
        assert (refused[b"op"], refused[b"tier"], refused[b"prompt"], refused[b"response"]) == \
            (b"put", b"error", b"question number 3", b"3")
        assert refused[b"error"].startswith(b"UPSTREAM embedder 'emb' is behind")
        assert info(r, "faq")["entries"] == 3
        assert int(r.info("cache")["cache_index_pending"]) == 3
        fk.reset()
        wait_indexed(r, "faq", 15.0)
        assert r.execute_command("CACHE.PUT", "faq", "question number 3", "3") == 4


# ---- lifetime (ASan) ----

@pytest.mark.parametrize("action", ["drop", "flush", "del", "flushall", "close"])
def test_namespace_changes_during_an_embedding_are_safe(ps, action):
    r, fake = ps.r, ps.fake
    r.execute_command("CACHE.CREATE", "faq", "EMBEDDER", "emb")
    fake.mode("delay", -1, 300)
    r.execute_command("CACHE.PUT", "faq", "How do I reset my password?", "reset")  # index call in flight
    c = RespConn(ps.port)
    c.send(RespConn.encode("CACHE.GET", "faq", "how do i reset my password please"))
    c.send(RespConn.encode("PING"))
    time.sleep(0.1)
    if action == "drop":
        r.execute_command("CACHE.DROP", "faq")
    elif action == "flush":
        r.execute_command("CACHE.FLUSH", "faq")
    elif action == "del":
        r.execute_command("CACHE.DEL", "faq", 1)
    elif action == "flushall":
        r.flushall()
    if action == "close":
        c.close()
    else:
        g = as_dict(c.value())
        assert g["tier"] == b"miss"
        assert c.value() == "PONG"
        c.close()
    time.sleep(0.6)   # both embeddings complete against the changed namespace
    fake.reset()
    assert r.ping()
    if action == "close":   # nothing deleted: the entry gets its vector
        wait_indexed(r, "faq")
        assert info(r, "faq")["entries"] == 1
    elif action != "drop":
        i = info(r, "faq")
        assert i["entries"] == 0 and i["pending_index"] == 0


def test_flushall_leaves_nothing_cached_and_keeps_namespaces(ps):
    r = ps.r
    r.execute_command("CACHE.CREATE", "prov", "EMBEDDER", "emb")
    r.execute_command("CACHE.CREATE", "plain")
    for i in range(30):
        r.execute_command("CACHE.PUT", "prov", "provider question %d" % i, "x")
        r.execute_command("CACHE.PUT", "plain", "builtin question %d" % i, "y")
    wait_indexed(r, "prov")
    mem = info(r, "plain")["memory_bytes"]
    assert r.flushall()
    for ns, p in (("prov", "provider question 3"), ("plain", "builtin question 3")):
        i = info(r, ns)
        assert i["entries"] == 0
        assert get(r, ns, p)["tier"] == b"miss"
    assert info(r, "plain")["memory_bytes"] < mem
    assert int(r.info("cache")["cache_entries"]) == 0
    assert r.execute_command("CACHE.PUT", "plain", "builtin question 3", "y") == 31


# ---- LIMIT buckets (issue 7) ----

def provider_line(r):
    return r.info("providers")["provider_emb"]


def test_provider_calls_take_from_a_limit_bucket_and_a_denial_degrades(fk, server_factory):
    s = server_factory(*provider_args(fk, "limit", "embreq", "limit-wait-ms", 300))
    with s.redis() as r:
        r.execute_command("LIMIT.SET", "embreq", "RATE", 1, "PER", 3600, "BURST", 2)
        r.execute_command("CACHE.CREATE", "faq", "EMBEDDER", "emb")
        for q in ("first question", "second question"):
            g = get(r, "faq", q)
            assert g["tier"] == b"miss" and "semantic" not in g
        t0 = time.monotonic()
        g = get(r, "faq", "third question")
        waited = time.monotonic() - t0
        assert g["tier"] == b"miss" and g["semantic"] == b"unavailable"
        assert 0.25 <= waited < BUDGET_S
        li = as_dict(r.execute_command("LIMIT.INFO", "embreq"))
        assert li["granted"] == 2 and li["timed_out"] == 1
        assert int(provider_line(r)["err_limit"]) == 1
        assert fk.stats()["billable_inputs"] == 2


def test_a_provider_call_waits_in_the_bucket_queue_without_blocking_the_loop(fk, server_factory):
    s = server_factory(*provider_args(fk, "limit", "embreq", "limit-wait-ms", 5000))
    with s.redis() as r:
        r.execute_command("LIMIT.SET", "embreq", "RATE", 1, "PER", 1, "BURST", 1)
        r.execute_command("CACHE.CREATE", "faq", "EMBEDDER", "emb")
        assert as_dict(r.execute_command("LIMIT.TAKE", "embreq"))["granted"] == 1  # a client took it
        result = {}

        def waiting_get():
            t = time.monotonic()
            with s.redis() as r2:
                result["g"] = get(r2, "faq", "a question that must wait for the bucket")
            result["s"] = time.monotonic() - t

        th = threading.Thread(target=waiting_get)
        th.start()
        time.sleep(0.2)
        assert ping_ms(s.port) < 500
        assert fk.stats()["requests"] == 0        # still queued behind the client's take
        th.join(BUDGET_S)
        assert not th.is_alive()
        assert result["g"]["tier"] == b"miss" and "semantic" not in result["g"]
        assert 0.5 <= result["s"] < 3
        assert fk.stats()["billable_inputs"] == 1


def test_a_put_stored_while_its_bucket_is_missing_is_indexed_once_it_exists(fk, server_factory):
    s = server_factory(*provider_args(fk, "limit", "later"))
    with s.redis() as r:
        r.execute_command("CACHE.CREATE", "faq", "EMBEDDER", "emb")
        r.execute_command("CACHE.PUT", "faq", "How do I reset my password?", "reset")
        g = get(r, "faq", "how do i reset my password please")
        assert g["tier"] == b"miss" and g["semantic"] == b"unavailable"
        assert info(r, "faq")["pending_index"] == 1
        r.execute_command("LIMIT.SET", "later", "RATE", 100, "PER", 1, "BURST", 100)
        wait_indexed(r, "faq")
        assert get(r, "faq", "how do i reset my password please")["tier"] == b"semantic"


def test_shutdown_with_embeddings_in_flight_answers_and_exits_cleanly(fk, server_factory):
    s = server_factory(*provider_args(fk, "timeout-ms", 30000))
    with s.redis() as r:
        r.execute_command("CACHE.CREATE", "faq", "EMBEDDER", "emb")
        fk.mode("hang", -1)
        r.execute_command("CACHE.PUT", "faq", "How do I reset my password?", "reset")
    c = RespConn(s.port)
    c.send(RespConn.encode("CACHE.GET", "faq", "how do i reset my password please"))
    time.sleep(0.3)
    t0 = time.monotonic()
    s.stop(check=True)   # SIGTERM; exit status 0 (and no ASan report) required
    assert time.monotonic() - t0 < BUDGET_S
    g = as_dict(c.value())
    assert g["tier"] == b"miss" and g["semantic"] == b"unavailable"
    c.close()
    fk.reset()


# ---- observability (sc/trace) ----

def test_the_provider_call_is_the_embedding_span_of_the_get(fk, server_factory):
    col = Collector("ok").start()
    try:
        s = server_factory(*provider_args(fk), "--otlp-endpoint", col.url,
                           "--otlp-flush-interval", "50")
        with s.redis() as r:
            r.execute_command("CACHE.CREATE", "faq", "EMBEDDER", "emb")
            fk.mode("delay", 1, 150)
            trace, parent = "ab" * 16, "cd" * 8
            g = get(r, "faq", "a question the provider embeds slowly",
                    "TRACEPARENT", "00-%s-%s-01" % (trace, parent))
            assert g["tier"] == b"miss"
            deadline = time.time() + 10
            spans = []
            while time.time() < deadline and len(spans) < 2:
                spans = [x for x in col.spans() if x["traceId"] == trace]
                time.sleep(0.02)
            (req,) = [x for x in spans if x["name"] == "CACHE.GET faq"]
            (emb,) = [x for x in spans if x["name"] == "embeddings emb"]
            assert req["parentSpanId"] == parent and emb["parentSpanId"] == req["spanId"]
            took = int(emb["endTimeUnixNano"]) - int(emb["startTimeUnixNano"])
            assert took >= 150e6        # it covers the provider round trip
            assert int(emb["endTimeUnixNano"]) <= int(req["endTimeUnixNano"])
            assert attrs(emb)["gen_ai.embeddings.dimension.count"] == DIM
            log = [as_dict(e) for e in r.execute_command("CACHE.LOG", "GET", -1)]
            assert any(e["trace_id"] == trace.encode() for e in log)
    finally:
        col.stop()


def test_wait_coalescing_parks_from_the_embedding_callback(ps):
    r, fake = ps.r, ps.fake
    r.execute_command("CACHE.CREATE", "faq", "EMBEDDER", "emb")
    prompt = "What is the warranty period for refurbished laptops?"
    fake.mode("delay", 1, 300)   # both GETs wait on the same (coalesced) embedding
    a, b = RespConn(ps.port), RespConn(ps.port)
    a.send(RespConn.encode("CACHE.GET", "faq", prompt, "WAIT", 5000))
    time.sleep(0.05)
    b.send(RespConn.encode("CACHE.GET", "faq", prompt, "WAIT", 5000))
    b.send(RespConn.encode("PING"))
    time.sleep(0.6)   # one callback registered the fill, the other parked on it
    assert r.execute_command("CACHE.PUT", "faq", prompt, "two years") == 1
    ga, gb = as_dict(a.value()), as_dict(b.value())
    assert b.value() == "PONG"
    tiers = sorted([ga["tier"], gb["tier"]])
    assert tiers == [b"exact", b"miss"], (ga, gb)
    (filler,) = [g for g in (ga, gb) if g["tier"] == b"miss"]
    (waiter,) = [g for g in (ga, gb) if g["tier"] == b"exact"]
    assert filler["fill"] == 1 and waiter["response"] == b"two years"
    a.close()
    b.close()
    assert fake.stats()["billable_inputs"] == 1


# ---- CACHE.SEARCH ----

def search(r, ns, prompt, *opts):
    return [as_dict(x) for x in r.execute_command("CACHE.SEARCH", ns, prompt, *opts)]


@pytest.mark.parametrize("fillers", [0, 80], ids=["loop", "pool"])
def test_search_ranks_by_the_providers_cosine(ps, fillers):
    r, fake = ps.r, ps.fake
    r.execute_command("CACHE.CREATE", "faq", "EMBEDDER", "emb")
    p = r.pipeline(transaction=False)
    for i in range(fillers):
        p.execute_command("CACHE.PUT", "faq", "filler about zeppelin%d and kumquat%d" % (i, i), "f")
    p.execute_command("CACHE.PUT", "faq", "How do I reset my password?", "reset")
    p.execute_command("CACHE.PUT", "faq", "What is the refund policy for annual plans?", "refund")
    p.execute()
    wait_indexed(r, "faq", 15.0)
    res = search(r, "faq", "how do i reset my password please", "COUNT", 3)
    assert len(res) == min(3, fillers + 2)
    assert res[0]["prompt"] == b"How do I reset my password?"
    assert float(res[0]["score"]) == float(res[0]["cosine"]) > 0.85
    cos = [float(x["cosine"]) for x in res]
    assert cos == sorted(cos, reverse=True)
    assert search(r, "faq", "how do i reset my password please", "COUNT", 0) == []
    # a provider failure is an error for SEARCH (no cached answer to fall back to)
    fake.mode("500", -1)
    with pytest.raises(Exception, match="UPSTREAM provider 'emb'") as err:
        r.execute_command("CACHE.SEARCH", "faq", "an unseen question about billing")
    fake.reset()
    failed = last_log(r)   # logged with the error the client got
    assert (failed[b"op"], failed[b"tier"], failed[b"prompt"]) == \
        (b"search", b"error", b"an unseen question about billing")
    assert failed[b"error"].decode() == str(err.value)


def test_search_survives_a_drop_while_embedding(ps):
    r, fake = ps.r, ps.fake
    r.execute_command("CACHE.CREATE", "faq", "EMBEDDER", "emb")
    fake.mode("delay", 1, 300)
    c = RespConn(ps.port)
    c.send(RespConn.encode("CACHE.SEARCH", "faq", "what is being embedded"))
    time.sleep(0.1)
    r.execute_command("CACHE.DROP", "faq")
    assert c.value() == []
    c.close()
