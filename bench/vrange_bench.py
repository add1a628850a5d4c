#!/usr/bin/python3
"""VRANGE cost on a big vector set, for one or more server binaries measured
in the same run (e.g. this branch against a build of the previous commit).

For each binary: start it, VADD N elements (2-d vectors, EF 16: the graph
is not what is measured), then
  * page_us: one VRANGE page of PAGE names starting from the middle of the
    set (an exclusive `(name` bound), repeated REPS times; the server-side
    time is INFO commandstats' usec for VRANGE over those calls (no network
    or client parsing in it), the client-side one is the median round trip;
  * walk_s: wall time to page through the whole set with PAGE-sized pages
    and exclusive bounds (client round trips included);
  * mem_b_per_elem: MEMORY USAGE of the key divided by N.

Usage: vrange_bench.py [--n 200000] [--page 100] [--reps 200] [--no-walk] BIN [BIN...]
"""
import argparse
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


def vrange_usec(r):
    st = r.info("commandstats").get("cmdstat_vrange")
    return (st["calls"], st["usec"]) if st else (0, 0)


def run(binary, n, page, reps, walk_all=True):
    srv = benchlib.start(binary)
    try:
        r = srv.redis()
        rng = random.Random(1)
        names = ["e%09d" % rng.randrange(10 ** 9) for _ in range(n)]
        names = sorted(set(names))
        p = r.pipeline(transaction=False)
        for i, nm in enumerate(names):
            p.execute_command("VADD", "big", "VALUES", 2, 1 + (i % 97), 1 + (i % 89), nm, "EF", 16)
            if i % 5000 == 4999:
                p.execute()
        p.execute()
        mem = r.execute_command("MEMORY", "USAGE", "big")
        start = "(" + names[len(names) // 2]
        c0, u0 = vrange_usec(r)
        rtts = []
        for _ in range(reps):
            t = time.perf_counter()
            got = r.execute_command("VRANGE", "big", start, "+", page)
            rtts.append(time.perf_counter() - t)
            assert len(got) == page
        c1, u1 = vrange_usec(r)
        t = time.perf_counter()
        seen, cur = 0, "-"
        while walk_all:
            got = r.execute_command("VRANGE", "big", cur, "+", page)
            if not got:
                break
            seen += len(got)
            cur = b"(" + got[-1]
        walk = time.perf_counter() - t
        assert seen == len(names) or not walk_all
        return {
            "n": len(names),
            "page_us_server": (u1 - u0) / max(1, c1 - c0),
            "page_us_rtt_median": statistics.median(rtts) * 1e6,
            "walk_s": walk if walk_all else float("nan"),
            "mem_b_per_elem": mem / len(names),
        }
    finally:
        srv.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200000)
    ap.add_argument("--page", type=int, default=100)
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--no-walk", action="store_true", help="skip the full paging walk")
    ap.add_argument("binaries", nargs="+")
    a = ap.parse_args()
    print("%-40s %8s %14s %14s %10s %10s" % ("binary", "n", "page_us_srv", "page_us_rtt", "walk_s",
                                             "B/elem"))
    for b in a.binaries:
        m = run(b, a.n, a.page, a.reps, not a.no_walk)
        print("%-40s %8d %14.1f %14.1f %10.2f %10.1f" % (b[-40:], m["n"], m["page_us_server"],
                                                         m["page_us_rtt_median"], m["walk_s"],
                                                         m["mem_b_per_elem"]), flush=True)


if __name__ == "__main__":
    main()
