#!/usr/bin/env python3
"""What widening (CACHE.CREATE ... WIDEN n, server/cache.c note 11) costs
the server per request, on a hit and on a miss.

One server, two namespaces filled with the same N synthetic prompts
(cache_bench.synth_prompt, seed 7): `w0` (WIDEN 0) and `wd` (the default
WIDEN). Then redis-benchmark (-c 50, cache_bench.rb_cpu) repeats one
CACHE.GET per row: a reworded stored prompt (a confident hit: never
widens) and an unrelated prompt (a miss: widens once per request above
the exact-scan threshold), alternating the namespaces for `rounds` rounds
so both see the same machine load. Reported: rps, p99, server CPU per
request (the stable number on a shared machine) and the lookups widened.

Usage: /usr/bin/python3 bench/widen_cost.py [SERVER] [--entries N]
       [--requests R] [--rounds K]"""
import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redis  # noqa: E402

from cache_bench import start, stop, rb_cpu, as_dict, synth_prompt  # noqa: E402

MISS = "what is the best recipe for a lemon tart with almond crust"


def fill(c, ns, n):
    rnd = random.Random(7)
    pipe = c.pipeline(transaction=False)
    target = None
    for i in range(n):
        p = synth_prompt(rnd, i)
        if i == n // 2:
            target = p
        pipe.execute_command("CACHE.PUT", ns, p, "answer %d" % i)
        if len(pipe) >= 1000:
            pipe.execute()
    pipe.execute()
    return "Please, " + target.replace("how do I", "How do I") + "?"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("server", nargs="?", default="build/release/server/simcache-server")
    ap.add_argument("--entries", type=int, default=20000)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    proc, port = start([os.path.abspath(args.server)])
    try:
        c = redis.Redis(port=port)
        c.execute_command("CACHE.CREATE", "w0", "WIDEN", "0")
        c.execute_command("CACHE.CREATE", "wd")
        hit = fill(c, "w0", args.entries)
        fill(c, "wd", args.entries)
        while any(as_dict(c.execute_command("CACHE.INFO", ns))["pending_index"]
                  for ns in ("w0", "wd")):
            time.sleep(0.1)
        time.sleep(2)   # pool inserts of the last PUTs
        for ns in ("w0", "wd"):
            info = as_dict(c.execute_command("CACHE.INFO", ns))
            h = as_dict(c.execute_command("CACHE.GET", ns, hit))["tier"].decode()
            m = as_dict(c.execute_command("CACHE.GET", ns, MISS))["tier"].decode()
            print("%s: WIDEN %d, %d entries, EF %d; hit query -> %s, miss query -> %s" %
                  (ns, info["widen"], info["entries"], info["ef"], h, m), flush=True)
        for rnd in range(args.rounds):
            for kind, q in (("miss", MISS), ("hit", hit)):
                for ns in ("w0", "wd"):
                    w0 = as_dict(c.execute_command("CACHE.INFO", ns))["widened"]
                    rps, p99, cpu = rb_cpu(proc, port, args.requests, "CACHE.GET", ns, q)
                    w1 = as_dict(c.execute_command("CACHE.INFO", ns))["widened"]
                    print("round %d %-4s %s: %6.0f rps, p99 %6.3f ms, server CPU %6.1f us per "
                          "request, widened %d" % (rnd + 1, kind, ns, rps, p99, cpu, w1 - w0),
                          flush=True)
    finally:
        stop(proc)


if __name__ == "__main__":
    main()
