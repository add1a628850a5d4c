"""bench/cache-drive (the CACHE.GET load driver) against the real server and
against a scripted fake one.

The threats: a driver that reports requests the server never answered, or
answers it never counted; a miss or an error counted as a hit; replies
split across reads, or several in one read, mis-parsed or mis-attributed;
a malformed request encoding; unanswered requests hidden instead of
counted as lost; a dropped connection or a garbled reply that hangs the
run; and an output line that bench/cache_bench.py's readers no longer
parse. Counts on the real server are cross-checked against its own
CACHE.INFO; on the fake one they follow from the scripted replies. No
timing is asserted beyond the lost-request drain taking its 5 seconds.
"""
import os
import random
import re
import socket
import subprocess
import threading
import time

import pytest

from conftest import BUILD, FAQ, REWORDED, as_dict, ns_name

DRIVE = os.path.join(BUILD, "bench", "cache-drive")
pytestmark = pytest.mark.skipif(not os.path.exists(DRIVE), reason="cache-drive not built")

LINE = re.compile(
    r"^(?:closed loop|open loop (?P<rate>\d+)/s): requests (?P<requests>\d+), (?P<rps>\d+) rps, "
    r"p50 (?P<p50>[\d.]+) ms, p90 (?P<p90>[\d.]+) ms, p99 (?P<p99>[\d.]+) ms, "
    r"max (?P<max>[\d.]+) ms, hits (?P<hits>\d+), misses (?P<misses>\d+), "
    r"errors (?P<errors>\d+), lost (?P<lost>\d+), prompts (?P<prompts>\d+), "
    r"connections (?P<connections>\d+)"
    r"(?:, sent late by the driver: >0\.25 ms (?P<late250>\d+), >1 ms (?P<late1ms>\d+), "
    r"max [\d.]+ ms; from the actual send: p50 [\d.]+ ms, p90 [\d.]+ ms, p99 [\d.]+ ms)?"
    r"; driver cpu (?P<cpu>\d+) ms, waited for a cpu (?P<wait>\d+) ms$")


def drive(port, ns, prompts, tmp_path, *args, timeout=60):
    """Runs cache-drive over `prompts` (one per line); (parsed line, stderr).
    Fails unless it exits 0 with exactly one line that LINE parses."""
    path = tmp_path / ("prompts-%d.txt" % random.randrange(1 << 30))
    path.write_text("".join(p + "\n" for p in prompts))
    r = subprocess.run([DRIVE, "-p", str(port), "--ns", ns, "--prompts", str(path),
                        *map(str, args)], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1, r.stdout
    m = LINE.match(lines[0])
    assert m, lines[0]
    res = {k: (float(v) if "." in v else int(v)) for k, v in m.groupdict().items() if v}
    assert res["prompts"] == len(prompts)
    assert res["p50"] <= res["p90"] <= res["p99"] <= res["max"]
    return res, r.stderr


def served(r, ns):
    """(hits, misses) the server counted for namespace ns."""
    d = as_dict(r.execute_command("CACHE.INFO", ns))
    return d["hits_exact"] + d["hits_semantic"] + d["hits_stale"], d["misses"]


def fill(r):
    ns = ns_name()
    assert r.execute_command("CACHE.CREATE", ns) == b"OK"
    for prompt, answer in FAQ.items():
        r.execute_command("CACHE.PUT", ns, prompt, answer)
    return ns


# ------------------------------------------------------------- real server

@pytest.mark.simcache_only
def test_closed_and_open_loop_counts_match_the_servers_own(srv, r, tmp_path):
    ns = fill(r)
    prompts = list(REWORDED)
    res, err = drive(srv.port, ns, prompts, tmp_path, "-n", 2000)
    assert err == ""
    assert res["requests"] == 2000 == res["hits"] + res["misses"]
    assert res["errors"] == 0 and res["lost"] == 0 and res["hits"] > 0
    assert res["connections"] == 50 and "rate" not in res
    assert served(r, ns) == (res["hits"], res["misses"])

    res2, err = drive(srv.port, ns, prompts, tmp_path, "-c", 8, "--rate", 500, "--duration", 1)
    assert err == ""
    assert res2["rate"] == 500 and res2["connections"] == 8 and "late250" in res2
    assert res2["requests"] == 500 == res2["hits"] + res2["misses"]
    assert res2["errors"] == 0 and res2["lost"] == 0 and res2["hits"] > 0
    assert served(r, ns) == (res["hits"] + res2["hits"], res["misses"] + res2["misses"])


@pytest.mark.simcache_only
def test_a_prompt_that_misses_is_counted_as_a_miss(srv, r, tmp_path):
    ns = fill(r)
    prompts = [next(iter(REWORDED)), "How do I bake sourdough bread at home?"]
    res, _ = drive(srv.port, ns, prompts, tmp_path, "-c", 4, "-n", 400)
    # request i asks prompt i mod 2: one rewording, one unrelated prompt
    assert (res["hits"], res["misses"], res["errors"], res["lost"]) == (200, 200, 0, 0)
    assert served(r, ns) == (200, 200)
    res, _ = drive(srv.port, ns, prompts, tmp_path, "-c", 3, "--rate", 400, "--duration", 0.5)
    assert (res["hits"], res["misses"], res["errors"], res["lost"]) == (100, 100, 0, 0)


def test_a_missing_namespace_counts_every_reply_as_an_error(srv, tmp_path):
    res, _ = drive(srv.port, ns_name(), ["anything"], tmp_path, "-c", 2, "-n", 50)
    assert (res["requests"], res["errors"], res["hits"], res["misses"]) == (50, 50, 0, 0)


# ------------------------------------------------------------- fake server

BIG = b"x" * 200000
# prompt -> (reply bytes, what the driver must count it as)
SCRIPT = {
    "hit": (b"*6\r\n$4\r\ntier\r\n$8\r\nsemantic\r\n$2\r\nid\r\n:7\r\n$4\r\nmeta\r\n"
            b"*3\r\n$1\r\na\r\n*1\r\n$-1\r\n*-1\r\n", "hits"),
    "miss": (b"*6\r\n$4\r\ntier\r\n$4\r\nmiss\r\n$6\r\nbudget\r\n$2\r\nok\r\n"
             b"$4\r\nfill\r\n:1\r\n", "misses"),
    "err": (b"-ERR no such namespace 'x'\r\n", "errors"),
    "big": (b"*4\r\n$4\r\ntier\r\n$5\r\nexact\r\n$8\r\nresponse\r\n$%d\r\n%s\r\n"
            % (len(BIG), BIG), "hits"),
    "status-miss": (b"*2\r\n+tier\r\n+miss\r\n", "misses"),
    "null-tier": (b"*2\r\n$4\r\ntier\r\n$-1\r\n", "hits"),
    "missing-tier": (b"*1\r\n$4\r\ntier\r\n", "hits"),
    "not-miss": (b"*2\r\n$4\r\ntier\r\n$5\r\nmisss\r\n", "hits"),
}


class FakeServer:
    """Answers CACHE.GET by prompt from SCRIPT, in order, each batch of
    replies cut at random points and sent with pauses, so the driver sees
    replies split across reads and several in one read. `answer` caps the
    replies sent in all (then it stays silent); `then` is what to do after
    the cap: "silent", "close" or "garbage"."""

    def __init__(self, ns, answer=None, then="silent"):
        self.ns = ns.encode()
        self.answer, self.then = answer, then
        self.sent = 0
        self.bad = []           # requests that were not CACHE.GET ns prompt
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.rnd = random.Random(5)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)   # no Nagle + delayed-ACK stalls
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    @staticmethod
    def _parse(buf):
        """Complete multibulk requests at the head of buf: (list, rest)."""
        out = []
        while True:
            try:
                p = buf.index(b"\r\n")
                n, pos, args = int(buf[1:p]), p + 2, []
                for _ in range(n):
                    q = buf.index(b"\r\n", pos)
                    ln = int(buf[pos + 1:q])
                    if len(buf) < q + 2 + ln + 2:
                        raise ValueError
                    args.append(buf[q + 2:q + 2 + ln])
                    pos = q + 2 + ln + 2
            except ValueError:
                return out, buf
            out.append(args)
            buf = buf[pos:]

    def _serve(self, c):
        buf = b""
        while True:
            try:
                d = c.recv(65536)
            except OSError:
                return
            if not d:
                return
            buf += d
            if self.rnd.random() < 0.3:       # let a few more requests queue up
                time.sleep(0.003)
                try:
                    buf += c.recv(65536, socket.MSG_DONTWAIT)
                except (BlockingIOError, OSError):
                    pass
            reqs, buf = self._parse(buf)
            out = b""
            for args in reqs:
                if len(args) != 3 or args[0] != b"CACHE.GET" or args[1] != self.ns:
                    self.bad.append(args)
                with self.lock:
                    if self.answer is not None and self.sent >= self.answer:
                        if self.then == "close":
                            c.close()
                            return
                        if self.then == "garbage":
                            out += b"!garbage\r\n"
                        break
                    self.sent += 1
                out += SCRIPT[args[2].decode()][0] if len(args) == 3 else b"-ERR bad\r\n"
            # the batch in up to 4 pieces cut anywhere, a pause between them
            cuts = sorted(self.rnd.sample(range(1, len(out)), min(3, len(out) - 1))) if out else []
            try:
                for a, b in zip([0] + cuts, cuts + [len(out)]):
                    if a:
                        time.sleep(0.0005)
                    c.sendall(out[a:b])
            except OSError:
                return

    def close(self):
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


def expected(prompts, n):
    want = {"hits": 0, "misses": 0, "errors": 0}
    for i in range(n):
        want[SCRIPT[prompts[i % len(prompts)]][1]] += 1
    return want


def test_split_coalesced_and_nested_replies_are_counted_exactly(tmp_path):
    fake = FakeServer("fake")
    prompts = list(SCRIPT)
    try:
        res, _ = drive(fake.port, "fake", prompts, tmp_path, "-c", 3, "-n", 400)
        want = expected(prompts, 400)
        assert {k: res[k] for k in want} == want
        assert res["requests"] == 400 and res["lost"] == 0
        # open loop: 2 connections at 800/s pipeline behind the paced replies
        res, _ = drive(fake.port, "fake", prompts, tmp_path, "-c", 2, "--rate", 800,
                       "--duration", 0.5)
        want = expected(prompts, 400)
        assert {k: res[k] for k in want} == want
        assert res["requests"] == 400 and res["lost"] == 0
        assert fake.bad == []
    finally:
        fake.close()


def test_unanswered_requests_count_as_lost_after_five_seconds(tmp_path):
    fake = FakeServer("fake", answer=10)
    try:
        t0 = time.monotonic()
        res, _ = drive(fake.port, "fake", ["hit"], tmp_path, "-c", 2, "--rate", 100,
                       "--duration", 0.3)
        el = time.monotonic() - t0
        assert (res["requests"], res["lost"], res["hits"]) == (10, 20, 10)
        assert 5.0 <= el < 15, el
    finally:
        fake.close()


@pytest.mark.parametrize("then,why", [("close", "closed by the server"),
                                      ("garbage", "protocol error")])
def test_a_dropped_connection_or_a_garbled_reply_ends_the_run(tmp_path, then, why):
    fake = FakeServer("fake", answer=5, then=then)
    try:
        res, err = drive(fake.port, "fake", ["miss"], tmp_path, "-c", 1, "-n", 100, timeout=20)
        assert why in err
        assert (res["requests"], res["misses"], res["lost"]) == (5, 5, 1)
    finally:
        fake.close()


def test_bad_arguments_and_no_server_are_clean_errors(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("hello\n")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                                 # nothing listens there now
    for args in (["-p", str(port), "--ns", "x", "--prompts", str(path)],
                 ["-p", "1", "--ns", "x"],
                 ["-p", "1", "--ns", "x", "--prompts", str(tmp_path / "none.txt")],
                 ["-p", "1", "--ns", "x", "--prompts", str(path), "-c", "0"]):
        r = subprocess.run([DRIVE, *args], capture_output=True, text=True, timeout=10)
        assert r.returncode == 1 and r.stdout == "" and r.stderr, args
