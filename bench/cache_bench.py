#!/usr/bin/python3
"""Semantic cache benchmarks (not a test; prints numbers).

1. exact: CACHE.GET exact-hit throughput against simcache vs GET against
   Debian's redis-server (and simcache's own GET), redis-benchmark -c 50
   at -P 1 (client-bound) and -P 16 (server-bound, 5x the requests),
   same run, rounds alternating between the servers; reports medians and
   the ratios (target >= 0.9x).
2. semantic: p99 latency of a semantic hit (built-in embedder, default
   namespace settings) with N stored entries (default 100k) and 50
   connections, by redis-benchmark (target <= 1 ms), with the server's
   CPU per request; then bench/cache-drive over --queries distinct
   rewordings of stored prompts (not just the one query whose embedding
   and graph path stay cached): closed loop at 50 connections, and open
   loop at each of --rates (latency from the scheduled send time);
   --base OLD_SERVER alternates an older build.
3. quality: ../shared/data/gptcache_mock_pairs.json through the real
   server: store every distinct `origin` with its own answer, ask every
   `similar`;
   correct hits (own answer), false hits (another answer), misses
   (target >= 50% correct at <= 1% false, default settings).

Usage: bench/cache_bench.py [SERVER] [--parts exact,semantic,quality]
       [--entries N] [--requests N] [--rounds N] [--create "EF 32 QUANT int8"]
       [--base OLD_SERVER --sem-rounds N] [--queries N] [--rates R,R..]
       [--open-secs S]
Servers run on ephemeral loopback ports and are stopped by their PID.
"""
import argparse
import csv
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "shared", "data", "gptcache_mock_pairs.json")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_ping(port):
    for _ in range(400):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(10).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("server on port %d did not answer PING" % port)


def start(argv):
    port = free_port()
    d = tempfile.mkdtemp(prefix="cache-bench-")
    p = subprocess.Popen(argv + ["--port", str(port), "--bind", "127.0.0.1"], cwd=d,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ping(port)
    return p, port


def stop(p):
    os.kill(p.pid, signal.SIGTERM)
    p.wait(30)


def rb(port, requests, *cmd, pipeline=1):
    """redis-benchmark -c 50 [-P pipeline] of one command: (rps, p99 ms)."""
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-n", str(requests), "-c", "50",
                          "-P", str(pipeline), "--csv"] + list(cmd),
                         capture_output=True, text=True, timeout=900, check=True).stdout
    for f in csv.reader(out.splitlines()):
        if f and f[0] != "test":
            return float(f[1]), float(f[6])
    raise RuntimeError("no redis-benchmark result: %r" % out)


def cpu_s(pid):
    """utime + stime of a process, in seconds (/proc/<pid>/stat)."""
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def thread_sample(pid):
    """Per thread of process pid, by tid: (name, CPU ns, runqueue wait ns,
    voluntary and involuntary context switches). CPU and wait come from
    /proc/<pid>/task/<tid>/schedstat (ns, unlike stat's 10 ms ticks)."""
    out = {}
    base = "/proc/%d/task" % pid
    for tid in os.listdir(base):
        try:
            name = open("%s/%s/comm" % (base, tid)).read().strip()
            run, wait = (int(x) for x in open("%s/%s/schedstat" % (base, tid)).read().split()[:2])
            cs = {}
            for ln in open("%s/%s/status" % (base, tid)):
                if "ctxt_switches" in ln:
                    k, v = ln.split(":")
                    cs[k] = int(v)
            out[int(tid)] = (name, run, wait, cs.get("voluntary_ctxt_switches", 0),
                             cs.get("nonvoluntary_ctxt_switches", 0))
        except (OSError, ValueError):
            continue   # a thread that ended meanwhile
    return out


def thread_report(before, after, requests):
    """Per request, per server thread (main = the loop, sc-search-N = the
    pool): CPU us, us spent runnable but waiting for a CPU, and voluntary
    + involuntary context switches, between two thread_sample()s; then the
    totals. The hand-off between the loop and the pool shows as switches
    per request (each voluntary one is a sleep and a wake-up)."""
    rows, tot = [], [0.0, 0.0, 0.0, 0.0]
    for tid in sorted(after):
        if tid not in before:
            continue
        n0, r0, w0, v0, i0 = before[tid]
        n1, r1, w1, v1, i1 = after[tid]
        d = ((r1 - r0) / 1e3 / requests, (w1 - w0) / 1e3 / requests,
             (v1 - v0) / requests, (i1 - i0) / requests)
        if d[0] < 0.05 and d[2] < 0.005:
            continue   # idle threads (provider, trace exporters)
        tot = [a + b for a, b in zip(tot, d)]
        label = "loop" if tid == min(after) else n1
        rows.append("%s %.1f us cpu, %.1f us runq, cs %.2f+%.2f" % ((label,) + d))
    return "per request: %s; total %.1f us cpu, %.1f us runq, cs %.2f+%.2f" % (
        "; ".join(rows), *tot)


def rb_cpu(proc, port, requests, *cmd, pipeline=1):
    """rb() plus the server's CPU per request in µs: on a shared machine
    rps swings with the neighbours' load, CPU per request much less."""
    c0 = cpu_s(proc.pid)
    rps, p99 = rb(port, requests, *cmd, pipeline=pipeline)
    return rps, p99, (cpu_s(proc.pid) - c0) / requests * 1e6


def as_dict(reply):
    it = iter(reply)
    return {k.decode(): v for k, v in zip(it, it)}


def part_exact(server, args):
    prompt = "How do I reset my password on the mobile app?"
    ours, oport = start([server])
    ref, rport = start(["/usr/bin/redis-server", "--save", "", "--appendonly", "no"])
    try:
        c = redis.Redis(port=oport)
        c.execute_command("CACHE.CREATE", "bench")
        c.execute_command("CACHE.PUT", "bench", prompt, "x" * 200, "COST", "0.001")
        d = as_dict(c.execute_command("CACHE.GET", "bench", prompt))
        assert d["tier"] == b"exact", d
        redis.Redis(port=rport).set("key", "x" * 200)
        c.set("key", "x" * 200)
        for pl in (1, 16):
            # -P 16 moves the bottleneck from redis-benchmark (one core) to
            # the server: that ratio is the one that measures our CPU cost.
            n = args.requests * (5 if pl > 1 else 1)
            o, r, g = [], [], []
            for _ in range(args.rounds):   # alternating, so drift hits all three
                o.append(rb_cpu(ours, oport, n, "CACHE.GET", "bench", prompt, pipeline=pl))
                r.append(rb_cpu(ref, rport, n, "GET", "key", pipeline=pl))
                g.append(rb_cpu(ours, oport, n, "GET", "key", pipeline=pl))
            orps = statistics.median(x[0] for x in o)
            rrps = statistics.median(x[0] for x in r)
            grps = statistics.median(x[0] for x in g)
            print("exact -P %d: CACHE.GET exact hit %.0f rps (p99 %.3f ms) vs redis GET %.0f rps "
                  "(p99 %.3f ms): ratio %.2fx; simcache GET %.0f rps (%.2fx redis)  "
                  "[median of %d alternating rounds x %d requests, -c 50]" %
                  (pl, orps, statistics.median(x[1] for x in o), rrps,
                   statistics.median(x[1] for x in r), orps / rrps, grps, grps / rrps,
                   args.rounds, n), flush=True)
            ocpu, rcpu, gcpu = (statistics.median(x[2] for x in v) for v in (o, r, g))
            print("exact -P %d: server CPU per request: CACHE.GET %.2f us, redis GET %.2f us, "
                  "simcache GET %.2f us; CPU ratio redis/CACHE.GET %.2fx" %
                  (pl, ocpu, rcpu, gcpu, rcpu / ocpu), flush=True)
    finally:
        stop(ours)
        stop(ref)


WORDS = ("account billing invoice password email export import report dashboard team "
         "workspace project token key webhook api limit quota plan refund upgrade "
         "downgrade cancel region backup restore schedule alert metric log trace user "
         "role permission group folder file image video audio language currency tax "
         "address phone device browser mobile desktop printer calendar meeting").split()
VERBS = ("reset change export delete create rename share archive restore enable disable "
         "configure rotate invite remove update download upload sync merge").split()


def synth_prompt(rnd, i):
    return "how do I %s the %s %s for %s %s number %d" % (
        rnd.choice(VERBS), rnd.choice(WORDS), rnd.choice(WORDS), rnd.choice(WORDS),
        rnd.choice(WORDS), i)


NS = "sem0"   # simcache-bench load -t llm --ns-prefix sem --namespaces 1 uses it


def llm_mix(port, args):
    """simcache-bench's LLM prompt stream (repeats, rewordings, new prompts
    whose misses PUT: inserts on the pool) against the loaded namespace:
    closed loop of 50 connections, then open loop at --llm-rate."""
    sb = os.path.join(os.path.dirname(os.path.dirname(args.server_abs)), "bench", "sbench",
                      "simcache-bench")
    if not os.path.exists(sb):
        print("semantic: no %s: LLM mix skipped" % sb)
        return
    common = [sb, "load", "-p", str(port), "-t", "llm", "-c", "50", "--keep", "--ns-prefix",
              "sem", "--namespaces", "1", "--duration", str(args.llm_secs), "--no-progress"]
    c = redis.Redis(port=port)
    for extra, label in (([], "closed loop"), (["--rate", str(args.llm_rate)],
                                               "open loop %d/s" % args.llm_rate)):
        i0 = c.info("cache")
        out = subprocess.run(common + extra, capture_output=True, text=True, timeout=600).stdout
        i1 = c.info("cache")
        ins = {k: i1.get("cache_inserts_" + k, 0) - i0.get("cache_inserts_" + k, 0)
               for k in ("threaded", "inline")}
        keep = [ln for ln in out.splitlines()[:12] if ln.strip()]
        print("semantic: LLM mix, %s: PUT inserts on the pool %d, on the loop %d\n  %s" %
              (label, ins["threaded"], ins["inline"], "\n  ".join(keep)), flush=True)


def part_semantic(server, args):
    """--base: the same measurement on an older build, alternating with this
    one (--sem-rounds times each), so both see the same machine load."""
    runs = [("this build", server)]
    if args.base:
        runs.append(("base", args.base))
    for rnd in range(args.sem_rounds if args.base else 1):
        for label, binary in runs:
            print("semantic [%s, round %d]: %s" % (label, rnd + 1, binary), flush=True)
            semantic_once(binary, args)


def semantic_once(server, args):
    ours, port = start([server])
    try:
        c = redis.Redis(port=port)
        c.execute_command("CACHE.CREATE", NS, *args.create.split())
        rnd = random.Random(7)
        t0 = time.monotonic()
        pipe = c.pipeline(transaction=False)
        target = None
        stored = []
        for i in range(args.entries):
            p = synth_prompt(rnd, i)
            stored.append(p)
            if i == args.entries // 2:
                target = p
            pipe.execute_command("CACHE.PUT", NS, p, "answer %d" % i)
            if len(pipe) >= 1000:
                pipe.execute()
        pipe.execute()
        load_s = time.monotonic() - t0
        # a rewording: a word added, question mark, capitals
        query = reword(target)
        d = as_dict(c.execute_command("CACHE.GET", NS, query))
        info = as_dict(c.execute_command("CACHE.INFO", NS))
        print("semantic: CACHE.CREATE options [%s]" % args.create)
        print("semantic: %d entries loaded in %.1f s (%.0f puts/s), memory %.1f MB" %
              (args.entries, load_s, args.entries / load_s, info["memory_bytes"] / 1e6),
              flush=True)
        t1 = time.monotonic()
        for _ in range(200):
            c.execute_command("CACHE.GET", NS, query)
        print("semantic: one connection, sequential: %.1f us per CACHE.GET" %
              ((time.monotonic() - t1) / 200 * 1e6), flush=True)
        v0 = c.info("vectorsets")
        t0 = thread_sample(ours.pid)
        rps, p99, cpu = rb_cpu(ours, port, args.requests, "CACHE.GET", NS, query)
        t1 = thread_sample(ours.pid)
        v1 = c.info("vectorsets")
        print("semantic: query tier %s score %s; CACHE.GET %.0f rps, p99 %.3f ms, server CPU "
              "%.1f us per request  [-c 50, -n %d]; searches on the pool %d, on the idle "
              "pool's loop %d" % (d["tier"].decode(), d.get("score", b"-").decode(), rps, p99,
                                  cpu, args.requests,
                                  v1["vset_jobs_completed"] - v0["vset_jobs_completed"],
                                  v1.get("vset_searches_idle_inline", 0) -
                                  v0.get("vset_searches_idle_inline", 0)), flush=True)
        print("semantic: one query, %s" % thread_report(t0, t1, args.requests), flush=True)
        if args.queries > 0:
            distinct(ours, port, stored, args)
        if args.llm_mix:
            llm_mix(port, args)
    finally:
        stop(ours)


def reword(p):
    """The rewording the one-query run asks: a word added, capitals, '?'."""
    return "Please, " + p.replace("how do I", "How do I") + "?"


def distinct(proc, port, stored, args):
    """bench/cache-drive over --queries distinct rewordings of random stored
    prompts, cycled: closed loop (-c 50, --requests) with the server's CPU
    per request, then open loop at each of --rates for --open-secs. The
    driver of this checkout's build drives every build (as the LLM mix)."""
    drive = os.path.join(os.path.dirname(os.path.dirname(args.server_abs)), "bench",
                         "cache-drive")
    if not os.path.exists(drive):
        print("semantic: no %s: distinct-query runs skipped" % drive)
        return
    rnd = random.Random(11)
    d = tempfile.mkdtemp(prefix="cache-bench-q-")
    path = os.path.join(d, "prompts.txt")
    with open(path, "w") as f:
        for _ in range(args.queries):
            f.write(reword(stored[rnd.randrange(len(stored))]) + "\n")
    base = [drive, "-p", str(port), "--ns", NS, "--prompts", path, "-c", "50"]
    c0 = cpu_s(proc.pid)
    t0 = thread_sample(proc.pid)
    out = subprocess.run(base + ["-n", str(args.requests)], capture_output=True, text=True,
                         timeout=900, check=True).stdout.strip()
    t1 = thread_sample(proc.pid)
    cpu = (cpu_s(proc.pid) - c0) / args.requests * 1e6
    print("semantic: %d distinct queries, %s; server CPU %.1f us per request" %
          (args.queries, out, cpu), flush=True)
    print("semantic: closed loop, %s" % thread_report(t0, t1, args.requests), flush=True)
    for rate in (int(r) for r in args.rates.split(",") if r):
        t0 = thread_sample(proc.pid)
        out = subprocess.run(base + ["--rate", str(rate), "--duration", str(args.open_secs)],
                             capture_output=True, text=True, timeout=900, check=True).stdout
        t1 = thread_sample(proc.pid)
        print("semantic: %d distinct queries, %s" % (args.queries, out.strip()), flush=True)
        print("semantic: open loop %d/s, %s" % (rate, thread_report(
            t0, t1, max(1, int(rate * args.open_secs)))), flush=True)
    os.unlink(path)
    os.rmdir(d)


def part_quality(server, args):
    pairs = json.load(open(DATA))
    ours, port = start([server])
    try:
        c = redis.Redis(port=port)
        c.execute_command("CACHE.CREATE", "q", *args.create.split())
        # Some rows repeat an origin (some only up to case/punctuation): the
        # cache holds each once, under one exact key. A hit is correct when
        # it serves the entry of the query's own origin, found by an exact
        # lookup of that origin (as bench/embed_quality.c counts).
        pipe = c.pipeline(transaction=False)
        for i, p in enumerate(pairs):
            pipe.execute_command("CACHE.PUT", "q", p["origin"], "answer-%d" % i)
        pipe.execute()
        own = {}
        for p in pairs:
            d = as_dict(c.execute_command("CACHE.GET", "q", p["origin"]))
            assert d["tier"] == b"exact", d
            own[p["origin"]] = d["id"]
        correct = false = 0
        tiers = {}
        for i, p in enumerate(pairs):
            d = as_dict(c.execute_command("CACHE.GET", "q", p["similar"]))
            tiers[d["tier"]] = tiers.get(d["tier"], 0) + 1
            if d["tier"] == b"miss":
                continue
            if d["id"] == own[p["origin"]]:
                correct += 1
            else:
                false += 1
        n = len(pairs)
        print("quality: %d pairs (%d distinct origins stored): correct hits %d (%.1f%%), false hits %d (%.2f%%), misses %d; "
              "tiers %s" % (n, len(set(own.values())), correct, 100.0 * correct / n, false, 100.0 * false / n,
                            n - correct - false,
                            {k.decode(): v for k, v in sorted(tiers.items())}))
    finally:
        stop(ours)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("server", nargs="?", default="build/release/server/simcache-server")
    ap.add_argument("--parts", default="exact,semantic,quality")
    ap.add_argument("--entries", type=int, default=100000)
    ap.add_argument("--requests", type=int, default=200000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--create", default="",
                    help="extra CACHE.CREATE options of the semantic and quality namespaces, "
                         "e.g. 'EF 32 QUANT int8'")
    ap.add_argument("--base", default=None,
                    help="semantic part: an older simcache-server binary, run alternately")
    ap.add_argument("--llm-mix", action="store_true",
                    help="semantic part: also run simcache-bench's LLM stream on the namespace")
    ap.add_argument("--llm-secs", type=int, default=8)
    ap.add_argument("--llm-rate", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=1000,
                    help="semantic part: distinct reworded queries for bench/cache-drive "
                         "(0: only the one-query redis-benchmark run)")
    ap.add_argument("--rates", default="5000,10000,20000,30000",
                    help="semantic part: open-loop rates (requests/s) over the distinct queries")
    ap.add_argument("--open-secs", type=float, default=5)
    ap.add_argument("--sem-rounds", type=int, default=2,
                    help="semantic part with --base: runs of each build")
    args = ap.parse_args()
    server = os.path.abspath(args.server)
    args.server_abs = server   # its build's simcache-bench drives the LLM mix of every build
    if args.base:
        args.base = os.path.abspath(args.base)
    for part in args.parts.split(","):
        {"exact": part_exact, "semantic": part_semantic, "quality": part_quality}[part](
            server, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
