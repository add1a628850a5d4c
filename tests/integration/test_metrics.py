"""The Prometheus endpoint (server/metrics_http.c, server/metrics.c) on a
real server started with --metrics-port, scraped over HTTP.

Threats covered: an exposition promtool rejects; counters that do not match
the requests made; histograms whose buckets are not cumulative or whose
+Inf differs from _count (promtool does not check +Inf, so this file does);
wrong status codes or content type; an oversized, malformed, slow or
excessive client on the metrics port hurting the Redis port or other
scrapes; shutdown hanging or failing with metrics clients connected.
"""
import http.client
import os
import re
import shutil
import socket
import subprocess
import time

import pytest

from conftest import free_port

pytestmark = pytest.mark.simcache_only

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PROMTOOL = shutil.which("promtool") or ("/usr/bin/promtool" if os.path.exists("/usr/bin/promtool")
                                        else None)


@pytest.fixture
def msrv(server_factory):
    port = free_port()
    s = server_factory("--metrics-port", port)
    s.metrics_port = port
    return s


def scrape(srv, path="/metrics", method="GET"):
    conn = http.client.HTTPConnection("127.0.0.1", srv.metrics_port, timeout=10)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def metrics_text(srv):
    status, headers, body = scrape(srv)
    assert status == 200
    assert headers["Content-Type"] == CONTENT_TYPE
    assert int(headers["Content-Length"]) == len(body)
    return body.decode("utf-8")


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """-> (families {name: type}, helps {name}, samples [(name, labels dict, value)])."""
    types, helps, samples = {}, set(), []
    for line in text.split("\n")[:-1]:
        if line.startswith("# HELP "):
            helps.add(line.split(" ")[2])
        elif line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ")
            assert name not in types, "TYPE twice: " + name
            types[name] = typ
        else:
            m = SAMPLE.match(line)
            assert m, "unparsable line %r" % line
            labels = dict(LABEL.findall(m.group(2) or ""))
            samples.append((m.group(1), labels, float(m.group(3))))
    return types, helps, samples


def value(samples, name, **labels):
    for n, l, v in samples:
        if n == name and l == labels:
            return v
    return None


def test_scrape_is_valid_text_format_and_passes_promtool(msrv):
    r = msrv.redis()
    r.set("k", "v")
    r.get("k")
    text = metrics_text(msrv)
    assert text.endswith("\n")
    types, helps, samples = parse(text)
    assert set(types) == helps, "every family needs HELP and TYPE"
    for fam in ("simcache_up", "simcache_uptime_seconds", "simcache_build_info",
                "simcache_clients_connected", "simcache_clients_blocked",
                "simcache_clients_rejected_total", "simcache_connections_total",
                "simcache_commands_total", "simcache_command_errors_total",
                "simcache_command_duration_seconds", "simcache_keys", "simcache_keys_expiring",
                "simcache_expired_keys_total", "simcache_evicted_keys_total",
                "simcache_keyspace_hits_total", "simcache_keyspace_misses_total",
                "simcache_memory_used_bytes", "simcache_memory_max_bytes", "simcache_vset_keys",
                "simcache_vset_search_queue_depth", "simcache_vset_search_busy_threads",
                "simcache_vset_searches_total", "simcache_ratelimit_buckets",
                "simcache_ratelimit_queue_depth", "simcache_ratelimit_oldest_waiter_age_seconds",
                "simcache_ratelimit_requests_total", "simcache_provider_errors_total",
                "simcache_provider_breaker_state"):
        assert fam in types, fam
    assert value(samples, "simcache_up") == 1
    assert types["simcache_command_duration_seconds"] == "histogram"
    build = [l for n, l, v in samples if n == "simcache_build_info"]
    assert len(build) == 1 and build[0]["version"] and build[0]["kernel_tier"]
    if PROMTOOL is None:
        pytest.skip("promtool not installed (Debian package prometheus, in scripts/deps.sh); "
                    "format checked by this test's own parser only")
    out = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                         capture_output=True, timeout=60)
    assert out.returncode == 0, out.stdout.decode() + out.stderr.decode()


def test_counters_grow_by_the_requests_made(msrv):
    r = msrv.redis()
    _, _, before = parse(metrics_text(msrv))
    sets0 = value(before, "simcache_commands_total", cmd="set") or 0
    hist0 = value(before, "simcache_command_duration_seconds_count", cmd="set") or 0
    misses0 = value(before, "simcache_keyspace_misses_total")
    for i in range(37):
        r.set("key:%d" % i, "v")
    for i in range(5):
        assert r.get("absent:%d" % i) is None
    with pytest.raises(Exception):
        r.execute_command("INCR", "key:0")   # not an integer: a failed call
    _, _, after = parse(metrics_text(msrv))
    assert value(after, "simcache_commands_total", cmd="set") - sets0 == 37
    assert value(after, "simcache_command_duration_seconds_count", cmd="set") - hist0 == 37
    assert value(after, "simcache_command_duration_seconds_bucket", cmd="set", le="+Inf") \
        - hist0 == 37
    assert value(after, "simcache_keyspace_misses_total") - misses0 == 5
    assert value(after, "simcache_command_errors_total", cmd="incr") == 1
    assert value(after, "simcache_keys") == 37
    assert value(after, "simcache_clients_connected") >= 1
    scrapes = value(after, "simcache_metrics_scrapes_total")
    _, _, again = parse(metrics_text(msrv))
    assert value(again, "simcache_metrics_scrapes_total") == scrapes + 1


def test_histograms_are_cumulative_and_inf_equals_count(msrv):
    r = msrv.redis()
    pipe = r.pipeline(transaction=False)
    for i in range(200):
        pipe.set("k%d" % i, "x" * (i * 50))
        pipe.get("k%d" % i)
    pipe.execute()
    types, _, samples = parse(metrics_text(msrv))
    hists = [n for n, t in types.items() if t == "histogram"]
    assert hists
    checked = 0
    for h in hists:
        series = {}
        for n, l, v in samples:
            if n == h + "_bucket":
                key = tuple(sorted((k, x) for k, x in l.items() if k != "le"))
                series.setdefault(key, []).append((l["le"], v))
        for key, buckets in series.items():
            les = [float(le) for le, _ in buckets]
            assert les == sorted(les) and les[-1] == float("inf"), (h, key, les)
            counts = [v for _, v in buckets]
            assert counts == sorted(counts), ("not cumulative", h, key, counts)
            labels = dict(key)
            assert value(samples, h + "_count", **labels) == counts[-1], (h, key)
            assert value(samples, h + "_sum", **labels) >= 0
            checked += 1
    assert checked >= 2      # set and get at least


def test_other_paths_are_404_other_methods_405_and_head_has_no_body(msrv):
    status, _, body = scrape(msrv, "/")
    assert status == 404 and body
    status, _, _ = scrape(msrv, "/metricsx")
    assert status == 404
    status, headers, _ = scrape(msrv, "/metrics", method="POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    status, headers, body = scrape(msrv, "/metrics?name[]=x")
    assert status == 200 and body.startswith(b"# HELP")
    status, headers, body = scrape(msrv, "/metrics", method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 0


def test_keep_alive_serves_several_scrapes_on_one_connection(msrv):
    conn = http.client.HTTPConnection("127.0.0.1", msrv.metrics_port, timeout=10)
    conn.connect()
    local = conn.sock.getsockname()
    for _ in range(3):
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read()
        assert conn.sock is not None and conn.sock.getsockname() == local
    conn.close()


def test_pipelined_requests_are_answered_in_order(msrv):
    with socket.create_connection(("127.0.0.1", msrv.metrics_port), timeout=10) as s:
        s.sendall(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\n"
                  b"Host: x\r\nConnection: close\r\n\r\n")
        data = read_all(s)
    assert data.startswith(b"HTTP/1.1 404 ")
    second = data.index(b"HTTP/1.1 200 OK\r\n")
    assert b"Connection: close\r\n" in data[second:]


def read_all(s, limit=10.0):
    end = time.monotonic() + limit
    chunks = []
    while time.monotonic() < end:
        try:
            d = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not d:
            break
        chunks.append(d)
    return b"".join(chunks)


def test_oversized_request_head_gets_431_and_redis_port_still_answers(msrv):
    with socket.create_connection(("127.0.0.1", msrv.metrics_port), timeout=10) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
        data = read_all(s)
    assert data.startswith(b"HTTP/1.1 431 "), data[:80]
    assert msrv.redis().ping()
    assert scrape(msrv)[0] == 200


def test_malformed_request_line_gets_400_and_close(msrv):
    for bad in (b"GARBAGE\r\n\r\n", b"GET /metrics HTTP/2.0\r\n\r\n",
                b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", msrv.metrics_port), timeout=10) as s:
            s.sendall(bad)
            data = read_all(s)
        assert data.startswith(b"HTTP/1.1 400 "), (bad, data[:80])
        assert b"Connection: close\r\n" in data


def test_slow_partial_request_blocks_neither_redis_nor_other_scrapes(msrv):
    with socket.create_connection(("127.0.0.1", msrv.metrics_port), timeout=10) as slow:
        slow.sendall(b"GET /met")
        time.sleep(0.2)
        assert msrv.redis().ping()
        assert scrape(msrv)[0] == 200
        slow.sendall(b"rics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = read_all(slow)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert data.endswith(b"\n")


def test_request_trickled_slower_than_the_deadline_is_closed(msrv):
    """Slowloris: a request head must complete within 5 s (metrics_http.h)
    however steadily its bytes trickle in; the connection is then closed
    and its slot freed."""
    with socket.create_connection(("127.0.0.1", msrv.metrics_port), timeout=10) as s:
        start = time.monotonic()
        closed_after = None
        for i in range(40):          # one header byte every 0.2 s: never completes
            try:
                s.sendall(b"GET /metrics HTTP/1.1\r\nX: " if i == 0 else b"a")
            except (BrokenPipeError, ConnectionResetError):
                closed_after = time.monotonic() - start
                break
            s.settimeout(0.2)
            try:
                if s.recv(1) == b"":
                    closed_after = time.monotonic() - start
                    break
            except socket.timeout:
                pass
            except ConnectionResetError:
                closed_after = time.monotonic() - start
                break
    assert closed_after is not None, "trickling request never closed"
    assert 4.5 <= closed_after <= 7.5, closed_after
    _, _, samples = parse(metrics_text(msrv))
    assert value(samples, "simcache_metrics_connections") == 1   # only this scrape


def test_connections_over_the_cap_are_closed_and_the_cap_frees_up(msrv):
    held = []
    try:
        for _ in range(16):
            s = socket.create_connection(("127.0.0.1", msrv.metrics_port), timeout=10)
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")   # keep-alive
            assert s.recv(15) == b"HTTP/1.1 200 OK"
            held.append(s)
        extra = socket.create_connection(("127.0.0.1", msrv.metrics_port), timeout=10)
        extra.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_all(extra) == b""          # accepted, then closed at once
        extra.close()
        assert msrv.redis().ping()
        held.pop().close()
        deadline = time.monotonic() + 10
        while True:   # the server sees the close asynchronously
            status = None
            try:
                status = scrape(msrv)[0]
            except (ConnectionError, http.client.HTTPException):
                pass
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert status == 200
    finally:
        for s in held:
            s.close()


def test_provider_and_rate_limit_series_follow_their_modules(server_factory):
    port = free_port()
    srv = server_factory("--metrics-port", port, "--provider", "emb", "openai",
                         "http://127.0.0.1:9", "model", "m1", "dimensions", "16",
                         "secondary-url", "http://127.0.0.1:9")
    srv.metrics_port = port
    with srv.conn() as c:
        assert c.cmd("LIMIT.SET", "b1", "RATE", 10, "PER", 1, "BURST", 3) == "OK"
        for _ in range(5):
            c.cmd("LIMIT.TAKE", "b1")          # 3 granted, 2 denied
    types, _, samples = parse(metrics_text(srv))
    assert value(samples, "simcache_ratelimit_buckets") == 1
    assert value(samples, "simcache_ratelimit_requests_total", outcome="granted") == 3
    assert value(samples, "simcache_ratelimit_requests_total", outcome="denied") == 2
    assert value(samples, "simcache_providers") == 1
    assert value(samples, "simcache_provider_breaker_state", provider="emb",
                 endpoint="primary") == 0
    assert value(samples, "simcache_provider_breaker_state", provider="emb",
                 endpoint="secondary") == 0
    assert value(samples, "simcache_provider_errors_total", provider="emb", kind="timeout") == 0
    assert value(samples, "simcache_provider_queue_depth", provider="emb") == 0
    assert types["simcache_provider_request_duration_seconds"] == "summary"


def test_metrics_port_zero_means_no_endpoint(server_factory):
    port = free_port()
    srv = server_factory()   # default metrics-port 0
    assert srv.redis().config_get("metrics-port") == {"metrics-port": "0"}
    assert srv.redis().config_get("metrics-bind") == {"metrics-bind": "127.0.0.1"}
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_sigterm_exits_zero_with_metrics_clients_connected(server_factory):
    port = free_port()
    srv = server_factory("--metrics-port", port)
    idle = socket.create_connection(("127.0.0.1", port), timeout=10)
    idle.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert idle.recv(15) == b"HTTP/1.1 200 OK"
    partial = socket.create_connection(("127.0.0.1", port), timeout=10)
    partial.sendall(b"GET /metr")
    unread = socket.create_connection(("127.0.0.1", port), timeout=10)
    unread.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    for _ in range(50):       # responses pile up unread: a write may be in flight
        unread.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.2)
    try:
        assert srv.stop() == 0       # asserts exit status 0 (uv_loop_close() == 0)
    finally:
        for s in (idle, partial, unread):
            s.close()


def test_metrics_port_in_use_fails_start_up_with_a_message(tmp_path):
    server = os.environ["SIMCACHE_SERVER"]
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        out = subprocess.run([server, "--port", str(free_port()), "--metrics-port",
                              str(busy.getsockname()[1])],
                             capture_output=True, timeout=30, cwd=str(tmp_path))
    finally:
        busy.close()
    assert out.returncode != 0
    assert b"metrics endpoint" in out.stdout + out.stderr


def test_cache_series_by_tenant_and_namespace_are_capped_with_exact_totals(server_factory):
    """Semantic-cache families: hits by tier, misses, entries per (tenant,
    namespace); tenant spend/budget. Names come from clients, so only
    metrics-max-label-sets label sets are exposed and the rest are summed
    into "_other" (here the cap is 2 so a test can exceed it)."""
    port = free_port()
    srv = server_factory("--metrics-port", port, "--metrics-max-label-sets", 2)
    srv.metrics_port = port
    r = srv.redis()
    # the cache lists namespaces newest first: the quoted name comes out first
    names = [("default", "n1"), ("acme", "n2"), ("globex", "n3"), ("default", 'q"a\\1')]
    for i, (tenant, ns) in enumerate(names):
        opt = () if tenant == "default" else ("TENANT", tenant)
        r.execute_command("CACHE.CREATE", ns, *opt)
        for j in range(i + 1):        # namespace i gets i + 1 entries
            r.execute_command("CACHE.PUT", ns, "question number %d about topic %d" % (j, i),
                              "answer %d" % j, "COST", "0.5", *opt)
        r.execute_command("CACHE.GET", ns, "question number 0 about topic %d" % i, *opt)
        r.execute_command("CACHE.GET", ns, "completely unrelated zebra migration facts", *opt)
    assert r.execute_command("TENANT.BUDGET", "acme", "2") == b"OK"
    text = metrics_text(srv)
    types, _, samples = parse(text)
    assert value(samples, "simcache_cache_namespaces") == 4
    entries = {(l["tenant"], l["namespace"]): v for n, l, v in samples
               if n == "simcache_cache_entries"}
    assert entries == {("default", 'q\\"a\\\\1'): 4, ("globex", "n3"): 3,
                       ("_other", "_other"): 1 + 2}, entries   # raw (escaped) label text
    assert '{tenant="default",namespace="q\\"a\\\\1"}' in text   # escaped on the wire
    exact = sum(v for n, l, v in samples if n == "simcache_cache_hits_total" and
                l["tier"] == "exact")
    misses = sum(v for n, l, v in samples if n == "simcache_cache_misses_total")
    assert exact == 4 and misses == 4
    spend = {l["tenant"]: v for n, l, v in samples if n == "simcache_tenant_spend_usd_total"}
    assert len(spend) == 3 and "_other" in spend and abs(sum(spend.values()) - 5.0) < 1e-9, spend
    assert value(samples, "simcache_tenants") == 3
    if PROMTOOL:
        out = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                             capture_output=True, timeout=60)
        assert out.returncode == 0, out.stdout.decode() + out.stderr.decode()


def test_widened_lookups_are_counted_per_namespace_as_in_cache_info(server_factory):
    """A miss answered by the graph (EXACT-BELOW 0) is searched again at
    EF x WIDEN; the namespace's counter in the exposition is CACHE.INFO's."""
    port = free_port()
    srv = server_factory("--metrics-port", port)
    srv.metrics_port = port
    r = srv.redis()
    r.execute_command("CACHE.CREATE", "w", "EXACT-BELOW", "0", "WIDEN", "4")
    r.execute_command("CACHE.CREATE", "plain", "EXACT-BELOW", "0", "WIDEN", "0")
    for ns in ("w", "plain"):
        for j in range(20):
            r.execute_command("CACHE.PUT", ns, "how do I bake bread number %d" % j, "a%d" % j)
        for _ in range(3):
            r.execute_command("CACHE.GET", ns, "completely unrelated zebra migration facts")
    info = r.execute_command("CACHE.INFO", "w")
    info = dict(zip(info[::2], info[1::2]))
    widened = int(info[b"widened"])
    assert widened == 3, info
    _, _, samples = parse(metrics_text(srv))
    got = {l["namespace"]: v for n, l, v in samples
           if n == "simcache_cache_searches_widened_total"}
    assert got == {"w": 3, "plain": 0}, got
