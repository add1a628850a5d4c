#!/usr/bin/python3
"""Vector-set benchmark: simcache against Redis 8 in the same run.

Starts simcache-server (and, when env REDIS8_SERVER names a Redis 8 binary,
that server too) on ephemeral loopback ports, runs build/<cfg>/bench/
vset-bench against each with the same seed, data and parameters, stops them
(SIGTERM to the recorded PIDs), and prints a markdown table with ratios.
Redis 8 is not installable on Debian 12 (its redis-server is 7.0, without
vector sets), so without REDIS8_SERVER the Redis column is skipped.

Usage: bench/vset_bench.py [--full] [--build build/release] [vset-bench options]
  default (quick): -n 20000 -d 384 -c 50 -P 16 -q 20000 --lat-queries 20000
  --full:          -n 100000 (the 100k x 384 target)
Extra options are passed to vset-bench (e.g. --quant NOQUANT, --ef 200)."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start(binary, extra):
    port = free_port()
    d = tempfile.mkdtemp(prefix="vset-bench-")
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1"] + extra
    if os.path.basename(binary).startswith("redis"):
        argv += ["--save", "", "--appendonly", "no", "--dir", d]
    log = open(os.path.join(d, "server.log"), "wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=log, cwd=d)
    end = time.monotonic() + 10
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("server %s did not start" % binary)


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)


def run(bench, port, args):
    out = subprocess.run([bench, "--port", str(port)] + args, check=True,
                         capture_output=True, text=True).stdout
    return dict(kv.split("=") for kv in out.split())


def main():
    argv = sys.argv[1:]
    build = os.path.join(ROOT, "build/release")
    if "--build" in argv:
        i = argv.index("--build")
        build = argv[i + 1]
        del argv[i:i + 2]
    n = "20000"
    if "--full" in argv:
        argv.remove("--full")
        n = "100000"
    args = ["-n", n, "-d", "384", "-c", "50", "-P", "16", "-q", "20000",
            "--lat-queries", "20000"] + argv
    bench = os.path.join(build, "bench/vset-bench")
    server = os.path.join(build, "server/simcache-server")
    rows = {}
    targets = [("simcache", server, [])]
    r8 = os.environ.get("REDIS8_SERVER")
    if r8:
        targets.append(("redis8", r8, []))
    for name, binary, extra in targets:
        proc, port = start(binary, extra)
        try:
            rows[name] = run(bench, port, args)
        finally:
            stop(proc)
    keys = [("vadd_per_s", "VADD/s (pipelined)"), ("vsim_per_s", "VSIM/s (pipelined)"),
            ("lat_qps", "VSIM/s (1 in flight per conn)"), ("p50_ms", "VSIM p50 ms"),
            ("p99_ms", "VSIM p99 ms"), ("recall10", "recall@10 vs TRUTH"),
            ("bytes_per_vector", "bytes/vector (MEMORY USAGE)")]
    print("vset-bench %s" % " ".join(args))
    hdr = "| metric | simcache |" + (" redis 8 | ratio |" if "redis8" in rows else "")
    print(hdr)
    print("|---|---|" + ("---|---|" if "redis8" in rows else ""))
    for k, label in keys:
        line = "| %s | %s |" % (label, rows["simcache"][k])
        if "redis8" in rows:
            a, b = float(rows["simcache"][k]), float(rows["redis8"][k])
            line += " %s | %.2fx |" % (rows["redis8"][k], a / b if b else float("nan"))
        print(line)
    if "redis8" not in rows:
        print("(REDIS8_SERVER not set: no Redis 8 column)")


if __name__ == "__main__":
    main()
