#!/usr/bin/python3
"""Throughput and p99 of simcache-server against Debian's redis-server,
measured in the same run with redis-benchmark (SET/GET/INCR/MSET, 50
clients, pipelines of 1 and 16). Rounds alternate between the two servers
so that load from other processes hits both alike; the report gives the
per-test median over rounds and the ratio simcache/redis.

Usage: bench/server_vs_redis.py [SERVER_BINARY] [--rounds N] [--requests N]
Both servers run on ephemeral loopback ports and are stopped by PID.
"""
import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_ping(port):
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(10).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server on port %d did not answer PING" % port)


def bench(port, pipeline, requests):
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-t", "set,get,incr,mset",
                          "-n", str(requests), "-c", "50", "-P", str(pipeline), "--csv"],
                         capture_output=True, text=True, timeout=600, check=True).stdout
    res = {}
    for line in out.splitlines():
        f = [x.strip('"') for x in line.split(",")]
        if f[0] == "test":
            continue
        res[f[0]] = (float(f[1]), float(f[6]))   # rps, p99 ms
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("server", nargs="?", default="build/release/server/simcache-server")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=200000)
    args = ap.parse_args()
    procs = {}
    try:
        for name, cmd in (("simcache", [args.server]),
                          ("redis", ["redis-server", "--save", "", "--appendonly", "no"])):
            port = free_port()
            procs[name] = (subprocess.Popen(cmd + ["--port", str(port)],
                                            stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL), port)
            wait_ping(port)
        for pipeline in (1, 16):
            n = args.requests * (4 if pipeline > 1 else 1)
            runs = {"simcache": [], "redis": []}
            for _ in range(args.rounds):
                for name in ("simcache", "redis"):
                    runs[name].append(bench(procs[name][1], pipeline, n))
            print("pipeline %d, 50 clients, %d requests, %d rounds (medians)" %
                  (pipeline, n, args.rounds))
            for test in runs["simcache"][0]:
                med = {k: (statistics.median(r[test][0] for r in v),
                           statistics.median(r[test][1] for r in v)) for k, v in runs.items()}
                print("  %-16s simcache %9.0f rps p99 %6.3f ms | redis %9.0f rps p99 %6.3f ms"
                      " | ratio %.2f" % (test, med["simcache"][0], med["simcache"][1],
                                         med["redis"][0], med["redis"][1],
                                         med["simcache"][0] / med["redis"][0]))
    finally:
        for proc, _ in procs.values():
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)
    print("load average at end: %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
