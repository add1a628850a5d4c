"""OTLP/HTTP JSON span export, checked by a collector the test starts.

Every test starts the real server with --otlp-endpoint pointing at
otlp_collector.Collector (a stdlib HTTP server on an ephemeral loopback
port, in this process) and asserts on the JSON bodies that arrive: ids and
parentage (the client's W3C traceparent joins its trace; embedding and
search spans are children of the request span), GenAI and cache
attributes, batching, and what a dead or stuck collector costs (nothing on
the request path: spans are dropped and counted)."""
import re
import time
import uuid

import pytest
import redis

from otlp_collector import Collector, attrs, black_hole
from conftest import free_port, ns_name, as_dict

pytestmark = pytest.mark.simcache_only

PRICE = ["--price", "gpt-x", "2.5", "10"]
HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")



def tp(trace=None, parent=None, flags="01"):
    trace = trace or uuid.uuid4().hex
    parent = parent or uuid.uuid4().hex[:16]
    return trace, parent, "00-%s-%s-%s" % (trace, parent, flags)



def info(r, section):
    return r.info(section)


@pytest.fixture
def collector():
    c = Collector("ok").start()
    yield c
    c.stop()


def start(server_factory, url, *extra):
    return server_factory("--otlp-endpoint", url, "--otlp-flush-interval", "50", *PRICE, *extra)


def by_trace(spans, trace_id):
    return [s for s in spans if s["traceId"] == trace_id]


def wait_trace(col, trace_id, n, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = by_trace(col.spans(), trace_id)
        if len(got) >= n:
            return got
        time.sleep(0.02)
    return by_trace(col.spans(), trace_id)


def test_request_span_joins_the_callers_trace_with_genai_attributes(server_factory, collector):
    s = start(server_factory, collector.url, "--otlp-service-name", "cache-eu")
    r = s.redis()
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns, "MODEL-VERSION", "gpt-x-2025-01")
    t_put, p_put, h_put = tp()
    eid = r.execute_command("CACHE.PUT", ns, "How do I reset my password?", "Settings > Reset",
                            "TOKENS", 12, 34, "MODEL", "gpt-x", "TRACEPARENT", h_put)
    t_get, p_get, h_get = tp()
    d = as_dict(r.execute_command("CACHE.GET", ns, "how do i reset my password",
                                  "TRACEPARENT", h_get))
    assert d["tier"] == b"exact"

    (get_span,) = wait_trace(collector, t_get, 1)
    assert get_span["parentSpanId"] == p_get
    assert HEX16.match(get_span["spanId"]) and get_span["spanId"] != p_get
    assert get_span["name"] == "CACHE.GET " + ns
    assert get_span["kind"] == 2
    assert get_span["status"] == {"code": 1}
    assert isinstance(get_span["startTimeUnixNano"], str)
    start_ns, end_ns = int(get_span["startTimeUnixNano"]), int(get_span["endTimeUnixNano"])
    assert 0 < end_ns - start_ns < 5 * 10**9
    assert abs(start_ns / 1e9 - time.time()) < 60
    a = attrs(get_span)
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == "gpt-x"
    assert a["gen_ai.usage.input_tokens"] == 12
    assert a["gen_ai.usage.output_tokens"] == 34
    assert a["simcache.cache.tier"] == "exact"
    assert a["simcache.cache.score"] == 1.0
    assert a["simcache.cache.entry_id"] == eid
    assert a["db.namespace"] == ns
    assert a["simcache.tenant"] == "default"
    assert get_span["_resource"]["service.name"] == {"stringValue": "cache-eu"}
    assert get_span["_scope"]["name"] == "simcache"
    # an exact hit needs no embedding: no children
    assert [x for x in collector.spans() if x.get("parentSpanId") == get_span["spanId"]] == []

    put_spans = wait_trace(collector, t_put, 2)
    (put_span,) = [x for x in put_spans if x["name"].startswith("CACHE.PUT")]
    assert put_span["parentSpanId"] == p_put
    assert attrs(put_span)["simcache.cache.tier"] == "stored"
    assert attrs(put_span)["simcache.cache.entry_id"] == eid
    (embed,) = [x for x in put_spans if x["name"].startswith("embeddings")]
    assert embed["parentSpanId"] == put_span["spanId"]


def test_miss_has_embedding_and_search_children_inside_the_request_span(server_factory,
                                                                         collector):
    s = start(server_factory, collector.url)
    r = s.redis()
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns, "DIM", 256)
    r.execute_command("CACHE.PUT", ns, "What is the refund policy?", "30 days")
    trace, parent, h = tp()
    d = as_dict(r.execute_command("CACHE.GET", ns, "Which regions are supported?",
                                  "TRACEPARENT", h))
    assert d["tier"] == b"miss"
    spans = wait_trace(collector, trace, 3)
    assert len(spans) == 3
    (req,) = [x for x in spans if x["name"] == "CACHE.GET " + ns]
    (emb,) = [x for x in spans if x["name"] == "embeddings builtin"]
    (sea,) = [x for x in spans if x["name"] == "search " + ns]
    assert req["parentSpanId"] == parent
    assert attrs(req)["simcache.cache.tier"] == "miss"
    assert "simcache.cache.score" not in attrs(req)
    for child in (emb, sea):
        assert child["parentSpanId"] == req["spanId"]
        assert child["kind"] == 1
        assert int(req["startTimeUnixNano"]) <= int(child["startTimeUnixNano"])
        assert int(child["startTimeUnixNano"]) <= int(child["endTimeUnixNano"])
        assert int(child["endTimeUnixNano"]) <= int(req["endTimeUnixNano"])
    assert int(emb["endTimeUnixNano"]) <= int(sea["startTimeUnixNano"])
    ea = attrs(emb)
    assert ea["gen_ai.operation.name"] == "embeddings"
    assert ea["gen_ai.request.model"] == "builtin"
    assert ea["gen_ai.embeddings.dimension.count"] == 256
    assert attrs(sea)["simcache.search.threaded"] == 0
    assert len({x["spanId"] for x in spans}) == 3


def test_threaded_search_span_is_timed_on_the_worker_and_parented(server_factory, collector):
    s = start(server_factory, collector.url, "--vset-threads", "2",
              "--vset-inline-when-idle", "no")   # else an idle pool searches on the loop
    r = s.redis()
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    p = r.pipeline(transaction=False)
    for i in range(80):   # over CACHE_ASYNC_MIN (64): the search goes to the pool
        p.execute_command("CACHE.PUT", ns, "question number %d about topic %d" % (i, i * 7), "a")
    p.execute()
    trace, parent, h = tp()
    r.execute_command("CACHE.SEARCH", ns, "question about topic", "COUNT", 3, "TRACEPARENT", h)
    spans = wait_trace(collector, trace, 3)
    (req,) = [x for x in spans if x["name"] == "CACHE.SEARCH " + ns]
    (sea,) = [x for x in spans if x["name"] == "search " + ns]
    assert attrs(sea)["simcache.search.threaded"] == 1
    assert sea["parentSpanId"] == req["spanId"]
    assert attrs(req)["simcache.search.results"] == 3
    assert 0 < attrs(req)["simcache.cache.score"] <= 1
    assert int(sea["endTimeUnixNano"]) <= int(req["endTimeUnixNano"])


def test_without_traceparent_each_request_starts_a_new_sampled_trace(server_factory, collector):
    s = start(server_factory, collector.url)
    r = s.redis()
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    r.execute_command("CACHE.PUT", ns, "alpha beta", "x")
    for _ in range(3):
        r.execute_command("CACHE.GET", ns, "alpha beta")
    spans = collector.wait_spans(5)
    reqs = [x for x in spans if x["name"] == "CACHE.GET " + ns]
    assert len(reqs) == 3
    assert len({x["traceId"] for x in reqs}) == 3
    for x in reqs:
        assert HEX32.match(x["traceId"]) and x["traceId"] != "0" * 32
        assert "parentSpanId" not in x


def test_unsampled_traceparent_exports_no_span(server_factory, collector):
    s = start(server_factory, collector.url)
    r = s.redis()
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    r.execute_command("CACHE.PUT", ns, "alpha beta", "x")
    t0, _, h0 = tp(flags="00")
    r.execute_command("CACHE.GET", ns, "alpha beta", "TRACEPARENT", h0)
    t1, _, h1 = tp(flags="01")
    r.execute_command("CACHE.GET", ns, "alpha beta", "TRACEPARENT", h1)
    assert len(wait_trace(collector, t1, 1)) == 1   # the later, sampled one arrived
    assert by_trace(collector.spans(), t0) == []


@pytest.mark.parametrize("bad", [
    "", "00", "garbage",
    "00-%s-%s-01" % ("A" * 32, "b" * 16),              # uppercase hex
    "00-%s-%s-01" % ("0" * 32, "b" * 16),              # zero trace id
    "00-%s-%s-01" % ("a" * 32, "0" * 16),              # zero parent id
    "ff-%s-%s-01" % ("a" * 32, "b" * 16),              # version ff
    "00-%s-%s-01-extra" % ("a" * 32, "b" * 16),        # version 00 has 4 fields
    "00-%s-%s-1" % ("a" * 32, "b" * 16),               # short flags
    "00_%s-%s-01" % ("a" * 32, "b" * 16),              # wrong separator
    "00-%s-%s-0g" % ("a" * 32, "b" * 16),
])
def test_malformed_traceparent_is_an_error_and_changes_nothing(server_factory, collector, bad):
    s = start(server_factory, collector.url)
    r = s.redis()
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    for cmd in (["CACHE.PUT", ns, "p", "a"], ["CACHE.GET", ns, "p"], ["CACHE.SEARCH", ns, "p"]):
        with pytest.raises(redis.ResponseError, match="invalid traceparent"):
            r.execute_command(*cmd, "TRACEPARENT", bad)
    assert as_dict(r.execute_command("CACHE.INFO", ns))["entries"] == 0


def test_future_version_traceparent_with_extra_fields_is_accepted(server_factory, collector):
    s = start(server_factory, collector.url)
    r = s.redis()
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    trace, parent = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    r.execute_command("CACHE.PUT", ns, "p q", "a", "TRACEPARENT",
                      "01-%s-%s-01-what-the-future-holds" % (trace, parent))
    spans = wait_trace(collector, trace, 1)
    assert spans and spans[0]["parentSpanId"] == parent


def test_spans_go_out_in_batches_of_the_configured_size(server_factory, collector):
    # flush interval of a minute: only the batch-size kick can send
    s = server_factory("--otlp-endpoint", collector.url, "--otlp-flush-interval", "60000",
                       "--otlp-batch-size", "5")
    r = s.redis()
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    r.execute_command("CACHE.PUT", ns, "alpha beta", "x")   # 2 spans: request + embedding
    for _ in range(8):
        r.execute_command("CACHE.GET", ns, "alpha beta")   # 1 span each (exact)
    spans = collector.wait_spans(10)
    assert len(spans) == 10
    with collector.lock:
        reqs = list(collector.requests)
    assert [len(b["resourceSpans"][0]["scopeSpans"][0]["spans"]) for b in collector.bodies()] \
        == [5, 5]
    for q in reqs:
        assert q["path"] == "/v1/traces"
        assert q["content_type"] == "application/json"
    deadline = time.time() + 5   # the collector has the body before the server has the 200
    while info(r, "tracing")["otlp_exports_ok"] < 2 and time.time() < deadline:
        time.sleep(0.02)
    st = info(r, "tracing")
    assert st["otlp_spans_exported"] == 10
    assert st["otlp_exports_ok"] == 2
    assert st["otlp_spans_dropped"] == 0


def test_config_set_endpoint_turns_export_on_and_off(server_factory, collector):
    s = server_factory("--otlp-flush-interval", "50")
    r = s.redis()
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    r.execute_command("CACHE.PUT", ns, "alpha beta", "x")
    assert info(r, "tracing")["otlp_enabled"] == 0
    r.config_set("otlp-endpoint", collector.url)
    assert r.config_get("otlp-endpoint") == {"otlp-endpoint": collector.url}
    trace, _, h = tp()
    r.execute_command("CACHE.GET", ns, "alpha beta", "TRACEPARENT", h)
    assert len(wait_trace(collector, trace, 1)) == 1
    r.config_set("otlp-endpoint", "")
    trace2, _, h2 = tp()
    r.execute_command("CACHE.GET", ns, "alpha beta", "TRACEPARENT", h2)
    time.sleep(0.3)
    assert by_trace(collector.spans(), trace2) == []
    assert info(r, "tracing")["otlp_spans_queued"] == 1


def latencies(r, ns, n):
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        r.execute_command("CACHE.GET", ns, "alpha beta")
        out.append(time.perf_counter() - t0)
    out.sort()
    return out


@pytest.mark.parametrize("kind", ["black_hole", "hang", "refused"])
def test_dead_collector_costs_no_latency_and_spans_are_dropped_and_counted(server_factory,
                                                                          kind):
    """With a collector that never answers, the export waits otlp-timeout
    (3 s here) on the loop's curl multi; a blocking exporter would make some
    requests take that long. Every request must stay far below it, and the
    spans that do not fit the queue (16) are dropped and counted."""
    hole, col = None, None
    if kind == "black_hole":
        hole, url = black_hole()
    elif kind == "hang":
        col = Collector("hang").start()
        url = col.url
    else:
        url = "http://127.0.0.1:%d/v1/traces" % free_port()
    try:
        s = server_factory("--otlp-endpoint", url, "--otlp-flush-interval", "10",
                           "--otlp-batch-size", "4", "--otlp-max-queue", "16",
                           "--otlp-timeout", "3000")
        r = s.redis()
        ns = ns_name()
        r.execute_command("CACHE.CREATE", ns)
        r.execute_command("CACHE.PUT", ns, "alpha beta", "x")
        t0 = time.perf_counter()
        lat = latencies(r, ns, 300)
        total = time.perf_counter() - t0
        assert lat[-1] < 0.75, "slowest CACHE.GET took %.3f s" % lat[-1]
        assert total < 3.0, "300 CACHE.GET took %.2f s" % total
        st = info(r, "tracing")
        assert st["otlp_spans_exported"] == 0
        if kind == "refused":
            # nothing listens: each export fails at once and its spans count as failed
            deadline = time.time() + 5
            while info(r, "tracing")["otlp_spans_failed"] == 0 and time.time() < deadline:
                time.sleep(0.05)
            assert info(r, "tracing")["otlp_spans_failed"] > 0
        else:
            assert st["otlp_spans_dropped"] > 0
            assert st["otlp_spans_queued"] + st["otlp_spans_dropped"] == 302
        assert r.ping()
    finally:
        if hole:
            hole.close()
        if col:
            col.stop()


def test_dead_collector_does_not_delay_shutdown(server_factory):
    hole, url = black_hole()
    try:
        s = server_factory("--otlp-endpoint", url, "--otlp-flush-interval", "10",
                           "--otlp-timeout", "60000")
        r = s.redis()
        ns = ns_name()
        r.execute_command("CACHE.CREATE", ns)
        r.execute_command("CACHE.PUT", ns, "alpha beta", "x")
        time.sleep(0.2)   # the export is now stuck on the black hole
        assert info(r, "tracing")["otlp_inflight_spans"] > 0
        t0 = time.perf_counter()
        assert s.stop() == 0
        assert time.perf_counter() - t0 < 5.0
    finally:
        hole.close()


def test_prometheus_counts_exported_dropped_spans_and_reqlog_entries(server_factory, collector):
    import urllib.request
    mport = free_port()
    s = server_factory("--otlp-endpoint", collector.url, "--otlp-flush-interval", "20",
                       "--otlp-max-queue", "4", "--otlp-batch-size", "1000",
                       "--metrics-port", mport)
    r = s.redis()
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    p = r.pipeline(transaction=False)   # one read: 10 PUTs before the loop can export
    for i in range(10):
        p.execute_command("CACHE.PUT", ns, "prompt %d" % i, "a")
    p.execute()
    deadline = time.time() + 5
    while info(r, "tracing")["otlp_queue_len"] + info(r, "tracing")["otlp_inflight_spans"] \
            and time.time() < deadline:
        time.sleep(0.02)
    st = info(r, "tracing")
    body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=10).read()
    m = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            m[k] = float(v)
    # 20 spans (request + embedding per PUT) against a queue of 4
    exported = m["simcache_otlp_spans_exported_total"]
    dropped = m['simcache_otlp_spans_dropped_total{reason="queue_full"}']
    assert exported == st["otlp_spans_exported"] and dropped == st["otlp_spans_dropped"]
    assert dropped > 0 and exported + dropped == 20
    assert len(collector.spans()) == exported
    assert m['simcache_otlp_spans_dropped_total{reason="export_failed"}'] == 0
    assert m["simcache_reqlog_entries_total"] == 10
    assert m["simcache_reqlog_entries"] == 10


def test_ring_wraps_without_losing_or_duplicating_spans(server_factory, collector):
    """A queue of 6 spans exported 4 at a time wraps around many times; every
    span that arrives belongs to a logged request, none twice, and the
    counters add up."""
    s = server_factory("--otlp-endpoint", collector.url, "--otlp-flush-interval", "10",
                       "--otlp-batch-size", "4", "--otlp-max-queue", "6")
    r = s.redis()
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    r.execute_command("CACHE.PUT", ns, "alpha beta", "x")
    for _ in range(60):
        r.execute_command("CACHE.GET", ns, "alpha beta")
        time.sleep(0.003)
    deadline = time.time() + 5
    while time.time() < deadline:
        st = info(r, "tracing")
        if st["otlp_queue_len"] == 0 and st["otlp_inflight_spans"] == 0:
            break
        time.sleep(0.02)
    st = info(r, "tracing")
    assert st["otlp_spans_exported"] + st["otlp_spans_dropped"] == 62
    assert st["otlp_spans_exported"] > 6   # more than one ring's worth went through
    spans = collector.spans()
    assert len(spans) == st["otlp_spans_exported"]
    assert len({x["spanId"] for x in spans}) == len(spans)
    logged = {}
    for e in r.execute_command("CACHE.LOG", "GET", -1):
        d = as_dict(e)
        logged[d["span_id"].decode()] = d["trace_id"].decode()
    for x in spans:
        if x["name"].startswith("CACHE."):
            assert logged[x["spanId"]] == x["traceId"]


def test_sample_ratio_zero_builds_no_span_unless_the_caller_sampled(server_factory, collector):
    """otlp-sample-ratio 0: requests without a traceparent export nothing (but
    are still logged with a trace id); a caller's sampled traceparent is
    followed. CONFIG SET takes 0..1 only."""
    s = start(server_factory, collector.url, "--otlp-sample-ratio", "0")
    r = s.redis()
    assert r.config_get("otlp-sample-ratio") == {"otlp-sample-ratio": "0"}
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    r.execute_command("CACHE.PUT", ns, "alpha beta", "x")
    for _ in range(20):
        r.execute_command("CACHE.GET", ns, "alpha beta")
    t1, _, h1 = tp(flags="01")
    r.execute_command("CACHE.GET", ns, "alpha beta", "TRACEPARENT", h1)
    assert len(wait_trace(collector, t1, 1)) == 1
    time.sleep(0.3)   # two flush intervals: anything else would have arrived
    assert {x["traceId"] for x in collector.spans()} == {t1}
    logged = r.execute_command("CACHE.LOG", "GET", 3)
    assert all(len(dict(zip(e[::2], e[1::2]))[b"trace_id"]) == 32 for e in logged)
    for bad in ("1.5", "-1", "x"):
        with pytest.raises(redis.ResponseError):
            r.config_set("otlp-sample-ratio", bad)
    r.config_set("otlp-sample-ratio", "1")
    r.execute_command("CACHE.GET", ns, "alpha beta")
    spans = collector.wait_spans(2)
    assert len({x["traceId"] for x in spans}) == 2   # an unparented root, sampled again
