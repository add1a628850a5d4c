#!/usr/bin/python3
"""What span export costs CACHE.GET (not a test; prints numbers).

Three servers configurations, measured in the same run with rounds
alternating between them (the machine is shared: only ratios within one
run mean anything):
  off         no otlp-endpoint (no spans are built)
  collector   otlp-endpoint at a live collector (tests/integration/
              otlp_collector.py, in this process) that answers 200
  black_hole  otlp-endpoint at a socket that listens but never accepts:
              every export waits its otlp-timeout (2 s) and new spans drop
Each round: redis-benchmark -c 50 -n N CACHE.GET <ns> <prompt> (an exact hit,
one span per request) --csv; reports the median rps and p50/p99 latency of
the rounds, the ratios to `off`, and the tracing counters of INFO.

Usage: bench/trace_overhead.py [SERVER] [--requests N] [--rounds N]
Servers run on ephemeral loopback ports and are stopped by their PID.
"""
import argparse
import csv
import io
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from otlp_collector import Collector, black_hole  # noqa: E402

import benchlib  # noqa: E402


def start(binary, args):
    srv = benchlib.start(binary, args, prefix="trace-bench-")
    return srv, srv.port, srv.redis()


def bench(port, n):
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-c", "50", "-n", str(n),
                          "--csv", "CACHE.GET", "bench", "alpha beta gamma"],
                         capture_output=True, text=True, check=True).stdout
    row = list(csv.DictReader(io.StringIO(out)))[-1]
    return float(row["rps"]), float(row["p50_latency_ms"]), float(row["p99_latency_ms"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("server", nargs="?",
                    default=os.path.join(HERE, "..", "build", "release", "server",
                                         "simcache-server"))
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    col = Collector("ok").start()
    hole, hole_url = black_hole()
    modes = {
        "off": [],
        "collector": ["--otlp-endpoint", col.url],
        "black_hole": ["--otlp-endpoint", hole_url, "--otlp-timeout", "2000"],
    }
    servers = {}
    try:
        for m, args in modes.items():
            servers[m] = start(a.server, args)
            r = servers[m][2]
            r.execute_command("CACHE.CREATE", "bench")
            r.execute_command("CACHE.PUT", "bench", "alpha beta gamma", "answer")
        res = {m: [] for m in modes}
        for _ in range(a.rounds):
            for m in modes:
                res[m].append(bench(servers[m][1], a.requests))
        base = statistics.median(x[0] for x in res["off"])
        print("mode         rps(median)  p50_ms  p99_ms  rps/off  spans exported/dropped/failed")
        for m in modes:
            rps = statistics.median(x[0] for x in res[m])
            p50 = statistics.median(x[1] for x in res[m])
            p99 = statistics.median(x[2] for x in res[m])
            st = servers[m][2].info("tracing")
            print("%-12s %11.0f  %6.3f  %6.3f  %7.3f  %d/%d/%d" % (
                m, rps, p50, p99, rps / base, st["otlp_spans_exported"],
                st["otlp_spans_dropped"], st["otlp_spans_failed"]))
    finally:
        for srv, _, _ in servers.values():
            srv.stop(15)
        hole.close()
        col.stop()


if __name__ == "__main__":
    main()
