#!/usr/bin/python3
"""Bytes per key: simcache vs Debian's redis-server, measured in the same run.

Starts both servers on free loopback ports (PIDs recorded, stopped with
SIGTERM), writes N keys "key:%012d" (16 bytes) with values of 3 and 100
bytes, persistent and with a TTL, and reports (used_memory after - before)
/ N from INFO memory, and the ratio ours / Redis.

Usage: bench/keyspace_mem.py SIMCACHE_SERVER [N]   (N default 500000)
Prints a markdown table.
"""
import sys
import time

import benchlib

REDIS = "/usr/bin/redis-server"


def per_key(r, n, vlen, ttl):
    r.flushall()
    time.sleep(0.3)                      # let a cron refresh settle
    before = r.info("memory")["used_memory"]
    value = b"v" * vlen
    for s in range(0, n, 10000):
        p = r.pipeline(transaction=False)
        for i in range(s, min(n, s + 10000)):
            p.set("key:%012d" % i, value, ex=ttl)
        p.execute()
    time.sleep(0.3)
    after = r.info("memory")["used_memory"]
    assert r.dbsize() == n
    return (after - before) / n


def main():
    ours_bin = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 500000
    cases = [(3, None), (3, 3600), (100, None)]
    results = {}
    for name, binary in (("simcache", ours_bin), ("redis", REDIS)):
        srv = benchlib.start(binary, prefix="keyspace-mem-")
        try:
            results[name] = [per_key(srv.redis(), n, v, t) for v, t in cases]
        finally:
            srv.stop()
    print("| %d keys `key:%%012d` | simcache B/key | redis-server B/key | ratio |" % n)
    print("|---|---|---|---|")
    for i, (v, t) in enumerate(cases):
        a, b = results["simcache"][i], results["redis"][i]
        print("| %d B value%s | %.1f | %.1f | %.2f |" % (v, ", TTL" if t else "", a, b, a / b))


if __name__ == "__main__":
    main()
