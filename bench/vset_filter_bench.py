#!/usr/bin/python3
"""Filtered VSIM cost: one connection, sequential queries, against the
unfiltered search on the same set, at several filter selectivities.

Starts build/release/server/simcache-server on an ephemeral loopback port
(stopped by its PID), loads N random vectors whose attributes carry
{"bucket": i % 100, "tag": ...}, then times Q queries per row:
  - no filter
  - `.bucket < S` for S = 50, 10, 1 (selectivity 50%, 10%, 1%)
  - the same with a string test (`.tag == "t3" and .bucket < S`)
and reports mean/p50/p99 microseconds per VSIM (client round trip) and the
server's CPU microseconds per VSIM (/proc/PID/stat), plus how many of the
COUNT results came back (the default FILTER-EF, COUNT*100, may not find
COUNT matches at 1% selectivity: that is Redis's semantics too).

Usage: bench/vset_filter_bench.py [--n 20000] [--dim 128] [--queries 300]
                                  [--server PATH]"""
import argparse
import os
import random
import struct
import time

import benchlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--server", default=os.path.join(ROOT, "build/release/server/simcache-server"))
    a = ap.parse_args()
    srv = benchlib.start(a.server, prefix="vfilter-bench-")
    try:
        r = srv.redis()
        rng = random.Random(1)
        p = r.pipeline(transaction=False)
        for i in range(a.n):
            v = struct.pack("<%df" % a.dim, *[rng.gauss(0, 1) for _ in range(a.dim)])
            p.execute_command("VADD", "fb", "FP32", v, "e%d" % i, "SETATTR",
                              '{"bucket": %d, "tag": "t%d", "year": %d}' %
                              (i % 100, i % 7, 1950 + i % 70))
            if len(p) >= 500:
                p.execute()
        p.execute()
        qs = [struct.pack("<%df" % a.dim, *[rng.gauss(0, 1) for _ in range(a.dim)])
              for _ in range(a.queries)]
        rows = [("no filter", None)]
        for s in (50, 10, 1):
            rows.append(("`.bucket < %d` (%d%%)" % (s, s), ".bucket < %d" % s))
        for s in (50, 10):
            rows.append(("`.tag == \"t3\" and .bucket < %d` (~%.1f%%)" % (s, s / 7),
                         '.tag == "t3" and .bucket < %d' % s))
        print("%d x %d, Q8, COUNT 10, one connection, %d queries per row"
              % (a.n, a.dim, a.queries))
        print("| filter | mean us | p50 us | p99 us | server CPU us/query | results/10 |")
        print("|---|---|---|---|---|---|")
        for label, expr in rows:
            extra = ["FILTER", expr] if expr else []
            lat, got = [], 0
            c0 = benchlib.cpu_seconds(srv.pid)
            for q in qs:
                t0 = time.perf_counter()
                res = r.execute_command("VSIM", "fb", "FP32", q, "COUNT", 10, *extra)
                lat.append((time.perf_counter() - t0) * 1e6)
                got += len(res)
            c1 = benchlib.cpu_seconds(srv.pid)
            lat.sort()
            print("| %s | %.0f | %.0f | %.0f | %.0f | %.1f |" % (
                label, sum(lat) / len(lat), lat[len(lat) // 2], lat[int(len(lat) * 0.99)],
                (c1 - c0) / len(qs) * 1e6, got / len(qs)))
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
