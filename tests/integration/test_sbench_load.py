"""simcache-bench load: the load generator, against the real server.

The threats: a bench that reports requests the server never executed (or
executes more than it reports), a pipeline that is not one batch in flight,
an open loop that sends at the wrong rate or hides queueing, an LLM
workload whose tier counts disagree with the server's own, tenants that
see each other's answers, output files that do not parse, and bad input
that crashes instead of failing cleanly. Every count is cross-checked
against the server's INFO (commandstats, cache counters) or a scripted
fake server; no timing is asserted beyond loose rate bounds.
"""
import csv
import os
import socket
import threading
import time
import xml.etree.ElementTree as ET

import pytest

from conftest import HERE, SVG, csv_rows as rows, free_port, needs_sbench, sbench

DATA = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "data",
                                     "gptcache_mock_pairs.json"))

pytestmark = [pytest.mark.simcache_only, needs_sbench]


def bench(port, *args, timeout=120):
    r = sbench("load", "-p", port, "--no-progress", *args, timeout=timeout)
    assert "Traceback" not in r.stderr and r.returncode >= 0, r.stderr
    return r


def info(s, section="all"):
    return s.redis().info(section)


def calls(inf, cmd):
    return inf.get("cmdstat_" + cmd, {}).get("calls", 0)


def test_get_set_counts_match_server_commandstats_and_files_parse(srv, tmp_path):
    before = info(srv)
    out = tmp_path / "o"
    r = bench(srv.port, "-n", 3000, "-c", 8, "-t", "set,get", "-r", 100, "--out", out)
    assert r.returncode == 0, r.stderr
    after = info(srv)
    runs = {row["test"]: row for row in rows(out / "load.csv")}
    assert set(runs) == {"SET", "GET"}
    for t in ("SET", "GET"):
        assert int(runs[t]["requests"]) == int(runs[t]["ok"]) == 3000
        assert int(runs[t]["errors"]) == 0
        assert calls(after, t.lower()) - calls(before, t.lower()) == 3000
        # the bench's own INFO-based delta: its requests plus its one INFO
        assert int(runs[t]["server_commands"]) == 3001
        assert 0 < float(runs[t]["p50_us"]) <= float(runs[t]["p99_us"]) <= float(runs[t]["max_us"])
        assert float(runs[t]["rps"]) > 0
    assert after["keyspace_hits"] - before["keyspace_hits"] == 3000   # every GET finds a SET key
    ts = rows(out / "load_timeseries.csv")
    assert {row["test"] for row in ts} == {"SET", "GET"}
    assert sum(int(row["ok"]) for row in ts if row["test"] == "GET") == 3000
    inf = {(row["test"], row["field"]): row for row in rows(out / "load_info.csv")}
    assert int(inf[("GET", "cmdstat_get.calls")]["delta"]) == 3000
    md = (out / "load.md").read_text()
    assert md.startswith("# simcache-bench load")
    assert "| SET | closed |" in md and "## GET" in md
    root = ET.parse(out / "load_cdf.svg").getroot()
    assert len(root.findall(f"{SVG}polyline")) == 2                # one CDF per test
    assert {"SET", "GET"} <= {t.text for t in root.iter(f"{SVG}text")}


def test_csv_output_has_redis_benchmark_columns(srv):
    r = bench(srv.port, "-n", 500, "-c", 4, "-t", "ping,get", "--csv")
    assert r.returncode == 0, r.stderr
    lines = list(csv.reader(r.stdout.splitlines()))
    assert lines[0] == ["test", "rps", "avg_latency_ms", "min_latency_ms", "p50_latency_ms",
                        "p95_latency_ms", "p99_latency_ms", "max_latency_ms"]
    assert [l[0] for l in lines[1:]] == ["PING_MBULK", "GET"]
    for l in lines[1:]:
        vals = [float(x) for x in l[1:]]
        assert vals[0] > 0 and vals[3] <= vals[5] <= vals[6]


class FakeServer:
    """A RESP server that answers every GET with a nil only after a delay,
    and records how many commands each connection had outstanding at most
    and how many arrived in one recv()."""

    def __init__(self, delay=0.003, hang=False):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.delay = delay
        self.hang = hang          # never answer a GET
        self.max_per_read = 0
        self.gets = 0
        self.lock = threading.Lock()
        self.threads = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(c,), daemon=True)
            t.start()
            self.threads.append(t)

    @staticmethod
    def _parse(buf):
        """Complete multibulk commands at the front of buf -> (cmds, rest)."""
        cmds = []
        while buf.startswith(b"*"):
            pos = buf.find(b"\r\n")
            if pos < 0:
                break
            n, p, args = int(buf[1:pos]), pos + 2, []
            for _ in range(n):
                e = buf.find(b"\r\n", p)
                if e < 0:
                    return cmds, buf
                ln = int(buf[p + 1:e])
                if len(buf) < e + 2 + ln + 2:
                    return cmds, buf
                args.append(buf[e + 2:e + 2 + ln])
                p = e + 2 + ln + 2
            else:
                cmds.append(args)
                buf = buf[p:]
                continue
            break
        return cmds, buf

    def _serve(self, c):
        buf = b""
        with c:
            while True:
                try:
                    data = c.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buf += data
                cmds, buf = self._parse(buf)
                gets = sum(1 for a in cmds if a[0].upper() == b"GET")
                with self.lock:
                    self.gets += gets
                    self.max_per_read = max(self.max_per_read, gets)
                out = []
                for a in cmds:
                    name = a[0].upper()
                    if name == b"GET":
                        if not self.hang:
                            out.append(b"$-1\r\n")
                    elif name == b"INFO":
                        out.append(b"$8\r\n# Server\r\n")
                    else:
                        out.append(b"+OK\r\n")
                if gets:
                    time.sleep(self.delay)   # the client must wait: nothing else is sent
                c.sendall(b"".join(out))

    def close(self):
        self.sock.close()


def test_pipeline_is_one_batch_of_P_in_flight_per_connection():
    fake = FakeServer()
    try:
        r = bench(fake.port, "-n", 960, "-c", 3, "-P", 16, "-t", "get")
        assert r.returncode == 0, r.stderr
        assert fake.gets == 960
        # each batch arrives in one write: 16 commands in one recv (the fake
        # server answers a batch only after it has it all, so the client
        # can never have more than one batch outstanding on a connection)
        assert fake.max_per_read == 16
        assert "960 requests answered" in r.stdout
    finally:
        fake.close()


def test_a_server_that_stops_answering_ends_the_run_by_timeout():
    fake = FakeServer(hang=True)
    try:
        r = bench(fake.port, "-n", 100, "-c", 2, "-P", 4, "-t", "get", "--timeout", 0.5,
                  timeout=30)
        assert r.returncode == 1
        assert "timeout" in r.stdout and "8 lost in flight" in r.stdout
        assert fake.gets == 8           # one batch per connection, then nothing more
    finally:
        fake.close()


def test_pipelined_requests_match_server_counts(srv, tmp_path):
    before = info(srv)
    r = bench(srv.port, "-n", 4000, "-c", 5, "-P", 8, "--threads", 2, "-t", "set", "-r", 1000,
              "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    row = rows(tmp_path / "load.csv")[0]
    assert row["pipeline"] == "8" and row["threads"] == "2"
    assert int(row["ok"]) == 4000
    assert calls(info(srv), "set") - calls(before, "set") == 4000


def test_open_loop_sends_about_rate_times_duration_without_backlog(srv, tmp_path):
    before = info(srv)
    r = bench(srv.port, "--rate", 400, "--duration", 2, "-c", 20, "-P", 4, "-t", "get",
              "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    row = rows(tmp_path / "load.csv")[0]
    n = int(row["requests"])
    assert 700 <= n <= 802, n                      # 400/s x 2 s, loose
    assert row["mode"] == "open-fixed"
    assert int(row["backlog"]) == 0                # 80 slots for 400 req/s
    assert calls(info(srv), "get") - calls(before, "get") == n
    assert "open loop" in r.stdout and "backlog 0" in r.stdout


def test_poisson_arrivals_run(srv, tmp_path):
    r = bench(srv.port, "--rate", 300, "--arrival", "poisson", "--duration", 1, "-c", 10,
              "-t", "get", "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    row = rows(tmp_path / "load.csv")[0]
    assert row["mode"] == "open-poisson"
    assert 150 <= int(row["requests"]) <= 450


def test_vadd_then_vsim(srv, tmp_path):
    r = bench(srv.port, "-n", 600, "-c", 4, "-P", 4, "-t", "vadd,vsim", "--dim", 16,
              "--clusters", 4, "--count", 5, "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    runs = {row["test"]: row for row in rows(tmp_path / "load.csv")}
    assert int(runs["VADD"]["ok"]) == 600 and int(runs["VSIM"]["ok"]) == 600
    assert srv.redis().execute_command("VCARD", "sbench:vset") == 600   # unique elements
    assert srv.redis().execute_command("VDIM", "sbench:vset") == 16


def test_llm_tiers_match_the_server_and_every_miss_is_put(srv, tmp_path):
    before = info(srv)
    # one connection: no two misses of the same prompt race, so entries == PUTs
    r = bench(srv.port, "-t", "llm", "--data", DATA, "-n", 1500, "-c", 1, "--zipf", 1.0,
              "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    after = info(srv)
    row = rows(tmp_path / "load.csv")[0]
    exact, sem, stale, miss = (int(row[k]) for k in
                               ("hits_exact", "hits_semantic", "hits_stale", "misses"))
    assert exact + sem + stale + miss == 1500 == int(row["ok"])
    assert exact > 0 and sem > 0 and miss > 0 and stale == 0
    assert int(row["puts"]) == miss
    for k, v in (("cache_hits_exact", exact), ("cache_hits_semantic", sem), ("cache_misses", miss)):
        assert after[k] - before[k] == v, k
    assert calls(after, "cache.put") - calls(before, "cache.put") == miss
    ns = srv.redis().execute_command("CACHE.INFO", "sbench0")
    ns = dict(zip(ns[::2], ns[1::2]))
    assert ns[b"entries"] == miss
    assert int(row["wrong_tenant"]) == 0
    # repeats of a stored prompt hit exactly; rewordings hit semantically
    assert "repeat  exact" in r.stdout and "reword" in r.stdout
    md = (tmp_path / "load.md").read_text()
    assert "| reword |" in md and "PUTs on misses" in md


def test_tenants_with_identical_prompts_never_see_each_others_answers(srv, tmp_path):
    # Exact-only (THRESHOLD 1) repeats of 20 prompts by 3 tenants: with
    # isolation every tenant misses each prompt once itself (misses > 20
    # is impossible with one shared store), and no hit serves another
    # tenant's answer.
    r = bench(srv.port, "-t", "llm", "--data", DATA, "-n", 900, "-c", 1, "--tenants", 3,
              "--pool", 20, "--zipf", 0, "--repeat", 1, "--reword", 0, "--new", 0,
              "--threshold", 1, "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    row = rows(tmp_path / "load.csv")[0]
    miss = int(row["misses"])
    assert 20 < miss <= 60
    assert int(row["wrong_tenant"]) == 0 and int(row["false_hits"]) == 0
    cl = srv.redis()
    entries = 0
    for t in range(3):
        inf = cl.execute_command("CACHE.INFO", "sbench0", "TENANT", f"sbt{t}")
        entries += dict(zip(inf[::2], inf[1::2]))[b"entries"]
    assert entries == miss
    # a prompt tenant 1 stored is answered with tenant 1's answer
    found = cl.execute_command("CACHE.SEARCH", "sbench0", "documentation", "COUNT", 1,
                               "TENANT", "sbt1")
    prompt = dict(zip(found[0][::2], found[0][1::2]))[b"prompt"]
    got = cl.execute_command("CACHE.GET", "sbench0", prompt, "TENANT", "sbt1")
    assert dict(zip(got[::2], got[1::2]))[b"response"].startswith(b"sb|1|0|")


def test_errors_are_counted_by_code_and_exit_is_nonzero_when_nothing_succeeds(srv, tmp_path):
    srv.redis().set("sbench:vset", "not a vector set")
    r = bench(srv.port, "-n", 200, "-c", 4, "-t", "vsim", "--dim", 8, "--out", tmp_path)
    assert r.returncode == 1
    assert "no request succeeded" in r.stderr
    row = rows(tmp_path / "load.csv")[0]
    assert int(row["errors"]) == 200 and int(row["ok"]) == 0
    assert "WRONGTYPE" in r.stdout and "WRONGTYPE" in (tmp_path / "load.md").read_text()


def test_auth(server_factory):
    s = server_factory("--requirepass", "sekret")
    r = bench(s.port, "-a", "wrong", "-n", 10, "-t", "get")
    assert r.returncode == 1 and "cannot connect" in r.stderr
    r = bench(s.port, "-a", "sekret", "-n", 300, "-c", 3, "-t", "get")
    assert r.returncode == 0, r.stderr
    assert "300 requests answered" in r.stdout and "errors: none" in r.stdout


def test_nothing_listening_is_a_clean_error():
    r = bench(free_port(), "-n", 10, "-t", "get", timeout=30)
    assert r.returncode == 1
    assert "cannot connect" in r.stderr


def test_unknown_host_and_bad_options_are_clean_errors():
    r = sbench("load", "-h", "no-such-host.invalid", "-n", 1, timeout=30)
    assert r.returncode == 1 and "cannot resolve" in r.stderr
    r = sbench("load", "-t", "nope", timeout=30)
    assert r.returncode == 2 and "unknown test" in r.stderr
    r = sbench("load", "-c", 0, timeout=30)
    assert r.returncode == 2


def test_missing_prompt_data_is_a_clean_error(srv):
    r = bench(srv.port, "-t", "llm", "--data", "/nonexistent/pairs.json", "-n", 10)
    assert r.returncode == 1 and "cannot read prompt data" in r.stderr


def test_llm_through_a_gateway_user(server_factory, tmp_path):
    s = server_factory("--user", "gw", "gwpw", "role", "gateway",
                       "--user", "alice", "apw", "tenant", "acme")
    r = bench(s.port, "--user", "gw", "-a", "gwpw", "-t", "llm", "--data", DATA, "-n", 400,
              "-c", 4, "--tenants", 2, "--namespaces", 2, "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    row = rows(tmp_path / "load.csv")[0]
    assert int(row["ok"]) == 400 and int(row["errors"]) == 0
    assert int(row["wrong_tenant"]) == 0
    # a tenant-role user may not pass TENANT: every request is refused, counted
    r = bench(s.port, "--user", "alice", "-a", "apw", "-t", "llm", "--data", DATA, "-n", 50,
              "--tenants", 2, "--keep")
    assert r.returncode == 1
    assert "NOPERM" in r.stdout
