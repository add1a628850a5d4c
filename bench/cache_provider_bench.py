#!/usr/bin/python3
"""cache_provider_bench.py -- server CPU per embedded prompt through
CACHE.GET on a provider-embedded namespace (issue target: <= 50 us), end
to end: RESP parsing, exact tier, embedding-cache miss, provider request
building, curl transfer on the loop, base64 decoding and validation,
callback, embedding-cache insert, semantic tier, reply.

Method: starts tests/fake_provider.py (zero added latency) and the server
on loopback ports, creates an empty provider-embedded namespace, and sends
N distinct prompts as CACHE.GET over C connections, one request
outstanding per connection (a GET that needs an embedding parks its
connection, so C is the number of concurrent misses the provider can
batch). CPU is the server process's own run time, summed over all its
threads from /proc/<pid>/task/*/schedstat (ns), read before and after: the
fake's and this script's CPU are not counted. A warm-up pass (another
tenant, so it does not fill the measured tenant's embedding cache) first
fills the fake's vector cache. Peer in the same run: the same N prompts
through CACHE.GET on a builtin-embedder namespace. A last pass repeats the
provider namespace's prompts, now in the tenant's embedding cache (sized
256mb here so every prompt fits: under the 16mb default a sequential pass
over more prompts than fit evicts each before its reuse, as any LRU does).

Usage: bench/cache_provider_bench.py SERVER_BINARY [N [DIM [C]]]
Defaults: N 4096, DIM 1536, C 64."""
import os
import selectors
import socket
import subprocess
import sys
import time

import benchlib

HERE = os.path.dirname(os.path.abspath(__file__))


def enc(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def reply_complete(buf):
    """Length of the first complete RESP2 reply in buf, or 0."""
    def parse(pos):
        end = buf.find(b"\r\n", pos)
        if end < 0:
            return -1
        t, line = buf[pos:pos + 1], buf[pos + 1:end]
        if t in (b"+", b"-", b":"):
            return end + 2
        if t == b"$":
            n = int(line)
            if n < 0:
                return end + 2
            return end + 2 + n + 2 if len(buf) >= end + 2 + n + 2 else -1
        if t == b"*":
            p = end + 2
            for _ in range(max(int(line), 0)):
                p = parse(p)
                if p < 0:
                    return -1
            return p
        raise ValueError(buf[pos:pos + 20])
    p = parse(0)
    return p if p > 0 else 0


def cmd(sock, *args):
    sock.sendall(enc(*args))
    buf = b""
    while True:
        data = sock.recv(65536)
        if not data:
            return buf
        buf += data
        n = reply_complete(buf)
        if n:
            return buf[:n]


def run_gets(port, cmds, conc):
    """Sends every command, at most one outstanding per connection."""
    sel = selectors.DefaultSelector()
    todo = list(reversed(cmds))
    conns = []
    for _ in range(min(conc, len(cmds))):
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(False)
        conns.append(s)
        s.sendall(todo.pop())
        sel.register(s, selectors.EVENT_READ, [b""])
    done, misses = 0, 0
    while done < len(cmds):
        for key, _ in sel.select(30):
            buf = key.data[0] + key.fileobj.recv(65536)
            n = reply_complete(buf)
            key.data[0] = buf
            if not n:
                continue
            if b"unavailable" in buf[:n]:
                raise SystemExit("the provider failed during the benchmark")
            key.data[0] = buf[n:]
            done += 1
            if todo:
                key.fileobj.sendall(todo.pop())
    for s in conns:
        s.close()


def cpu_ns(pid):
    total = 0
    for t in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
            total += int(f.read().split()[0])
    return total


def info_field(sock, section, prefix):
    text = cmd(sock, "INFO", section).decode()
    for line in text.split("\r\n"):
        if line.startswith(prefix):
            return line
    return ""


def main():
    server = os.path.abspath(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 4096
    dim = int(sys.argv[3]) if len(sys.argv) > 3 else 1536
    conc = int(sys.argv[4]) if len(sys.argv) > 4 else 64
    fake = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "..", "tests", "fake_provider.py")],
                            stdout=subprocess.PIPE, text=True)
    srv = None
    try:
        fport = int(fake.stdout.readline())
        srv = benchlib.start(server, ["--provider", "emb", "openai", "http://127.0.0.1:%d" % fport,
                                      "model", "m", "dimensions", str(dim), "max-batch", "64",
                                      "max-wait-ms", "2", "timeout-ms", "60000",
                                      "--embed-cache-bytes", "256mb"], prefix="simcache-bench-")
        port = srv.port
        ctl = socket.create_connection(("127.0.0.1", port))
        prompts = ["benchmark prompt number %d: what is the capital of country %d?" % (i, i * 7919)
                   for i in range(n)]
        cmd(ctl, "CACHE.CREATE", "warm", "EMBEDDER", "emb", "TENANT", "warmup")
        cmd(ctl, "CACHE.CREATE", "p", "EMBEDDER", "emb")
        cmd(ctl, "CACHE.CREATE", "b")
        run_gets(port, [enc("CACHE.GET", "warm", p, "TENANT", "warmup") for p in prompts], conc)
        print("cache_provider_bench: N=%d distinct prompts, dim=%d, %d connections, "
              "empty namespaces, server CPU (all threads) per CACHE.GET" % (n, dim, conc))
        print("%-28s %14s %10s %14s" % ("namespace", "cpu_us/prompt", "wall_ms", "provider_calls"))
        for name, label in (("p", "provider (embedding miss)"), ("b", "builtin (peer)"),
                            ("p", "provider (embedding cached)")):
            calls0 = info_field(ctl, "providers", "provider_emb:")
            c0, t0 = cpu_ns(srv.pid), time.monotonic()
            run_gets(port, [enc("CACHE.GET", name, p) for p in prompts], conc)
            c1, t1 = cpu_ns(srv.pid), time.monotonic()
            calls1 = info_field(ctl, "providers", "provider_emb:")
            get = lambda line: int(dict(kv.split("=") for kv in line.split(":", 1)[1].split(","))["calls"])
            print("%-28s %14.1f %10.1f %14d" % (label, (c1 - c0) / 1000.0 / n, (t1 - t0) * 1000,
                                                 get(calls1) - get(calls0)))
        ctl.sendall(enc("SHUTDOWN"))
        srv.proc.wait(30)
    finally:
        if srv:
            srv.stop()
        fake.terminate()
        fake.wait(10)


if __name__ == "__main__":
    main()
