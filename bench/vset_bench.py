#!/usr/bin/python3
"""Vector-set benchmark: simcache against Redis 8 in the same run.

Starts simcache-server (and, when env REDIS8_SERVER names a Redis 8 binary,
that server too) on ephemeral loopback ports, runs build/<cfg>/bench/
vset-bench against each with the same seed, data and parameters, stops them
(SIGTERM to the recorded PIDs), and prints a markdown table with ratios.
Redis 8 is not installable on Debian 12 (its redis-server is 7.0, without
vector sets), so without REDIS8_SERVER the Redis column is skipped.

Usage: bench/vset_bench.py [--full] [--build build/release] [--base DIR]
                           [--rounds N] [--server-args "..."] [--quants LIST]
                           [vset-bench options]
  default (quick): -n 20000 -d 384 -c 50 -P 16 -q 20000 --lat-queries 20000
                   --open-rates 1000,2000,4000,8000 --open-secs 3
  --full:          -n 100000 (the 100k x 384 target)
  --base DIR:      also run DIR/server/simcache-server (an older build),
                   alternating new, base, new, base... (--rounds, default 2)
                   so both are measured under the same machine load
--quants BIN,Q8,NOQUANT: one simcache column per quantisation (a fresh
server each), the same data and queries: bytes/vector, QPS, recall@10
against TRUTH (exact and tie-aware) and against the exact float32 cosine
top 10 side by side.
Extra options are passed to vset-bench (e.g. --quant NOQUANT, --ef 200,
--open-rates 500,1000). Closed-loop latency: 50 connections, one request in
flight each, no pipelining. Open loop: fixed arrival rate over the same 50
connections, latency from the scheduled send time (see vset_bench.c)."""
import os
import subprocess
import sys

import benchlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(bench, port, args, pid):
    out = subprocess.run([bench, "--port", str(port), "--server-pid", str(pid)] + args, check=True,
                         capture_output=True, text=True).stdout
    return dict(kv.split("=") for kv in out.split())


def pop_opt(argv, name, default=None):
    if name in argv:
        i = argv.index(name)
        v = argv[i + 1]
        del argv[i:i + 2]
        return v
    return default


def main():
    argv = sys.argv[1:]
    build = os.path.abspath(pop_opt(argv, "--build", os.path.join(ROOT, "build/release")))
    base = pop_opt(argv, "--base")
    base = os.path.abspath(base) if base else None
    rounds = int(pop_opt(argv, "--rounds", "2"))
    server_args = pop_opt(argv, "--server-args", "").split()
    quants = pop_opt(argv, "--quants")
    n = "20000"
    if "--full" in argv:
        argv.remove("--full")
        n = "100000"
    args = ["-n", n, "-d", "384", "-c", "50", "-P", "16", "-q", "20000",
            "--lat-queries", "20000"]
    if "--open-rates" not in argv:
        args += ["--open-rates", "1000,2000,4000,8000", "--open-secs", "3"]
    args += argv
    bench = os.path.join(build, "bench/vset-bench")
    server = os.path.join(build, "server/simcache-server")
    targets = [("simcache", server, server_args)]
    if quants:
        targets = [("simcache %s" % q, server, server_args + ["@quant", q])
                   for q in quants.split(",")]
    if base:
        targets.append(("base", os.path.join(base, "server/simcache-server"), server_args))
    r8 = os.environ.get("REDIS8_SERVER")
    if r8:
        targets.append(("redis8", r8, []))
    rows = {name: [] for name, _, _ in targets}
    for _ in range(rounds if base else 1):
        for name, binary, extra in targets:
            qargs = []
            if "@quant" in extra:  # a --quants column: vset-bench's --quant, not a server option
                i = extra.index("@quant")
                qargs = ["--quant", extra[i + 1]]
                extra = extra[:i] + extra[i + 2:]
            srv = benchlib.start(binary, extra, prefix="vset-bench-")
            try:
                rows[name].append(run(bench, srv.port, args + qargs, srv.pid))
            finally:
                srv.stop()
    keys = [("vadd_per_s", "VADD/s (pipelined)"), ("vsim_per_s", "VSIM/s (pipelined)"),
            ("vsim_cpu_us", "server CPU us per VSIM (pipelined phase)"),
            ("lat_qps", "VSIM/s closed loop, 1 in flight per conn"),
            ("p50_ms", "closed-loop VSIM p50 ms"), ("p99_ms", "closed-loop VSIM p99 ms")]
    first = rows[targets[0][0]][0]
    for k in sorted((k for k in first if k.startswith("open_") and k.endswith("_achieved")),
                    key=lambda k: float(k.split("_")[1])):
        rate = k.split("_")[1]
        keys += [(k, "open loop %s/s: achieved/s" % rate),
                 ("open_%s_p50_ms" % rate, "open loop %s/s: p50 ms" % rate),
                 ("open_%s_p99_ms" % rate, "open loop %s/s: p99 ms" % rate),
                 ("open_%s_p999_ms" % rate, "open loop %s/s: p99.9 ms" % rate),
                 ("open_%s_cpu_us" % rate, "open loop %s/s: server CPU us per VSIM" % rate)]
    keys += [("recall10", "recall@10 vs TRUTH"),
             ("recall10_ties", "recall@10 vs TRUTH, ties counted"),
             ("recall10_f32", "recall@10 vs exact float32 cosine (client brute force)"),
             ("bytes_per_vector", "bytes/vector (MEMORY USAGE)")]
    print("vset-bench %s" % " ".join(args))
    names = [t[0] for t in targets]
    print("| metric | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for k, label in keys:
        cells = [" / ".join(r.get(k, "-") for r in rows[nm]) for nm in names]
        print("| %s | %s |" % (label, " | ".join(cells)))
    if base:
        print("(base and simcache alternated %d times; cells list each round in order)" % rounds)
    if not r8:
        print("(REDIS8_SERVER not set: no Redis 8 column)")


if __name__ == "__main__":
    main()
