"""Shared fixtures for the integration suite: real servers on ephemeral
loopback ports, driven by real clients.

Design decisions:
 1. The server under test is the binary named by env SIMCACHE_SERVER
    (scripts/test.sh points it at build/<cfg>/server/simcache-server). For
    validating the tests themselves it may be /usr/bin/redis-server: both
    accept `--port N --bind 127.0.0.1` and redis.conf-style `--name value`
    options. Tests that exercise simcache-only behaviour carry the marker
    `simcache_only` and are skipped only in that validation mode.
 2. Ports: bind a socket to 127.0.0.1:0, read the port, close it, pass
    `--port N`. Another process may grab the port in between, so start-up
    retries with a new port (up to 5 times) when the server exits early.
 3. A server is "up" when PING answers +PONG (deadline 10 s, generous for
    ASan builds). Every started process's PID is recorded; servers are
    stopped with SIGTERM sent to that PID only, and the exit status must be
    0: a crash or a non-zero exit on SIGTERM fails the test that owns it.
 4. The plain server is shared by a test module (start-up under ASan costs
    ~0.3 s); the `r` fixture FLUSHALLs before each test and checks after the
    test that the server is still alive. If a test killed it, that test
    fails (with the server's log tail) and a fresh server is started for the
    next one, so one crash does not cascade.
 5. Servers with options (requirepass, maxclients, timeouts...) are started
    per test through `server_factory` and stopped at the end of the test.
 6. Raw-socket tests use RespConn below: a small RESP2/RESP3 reader that
    returns both the decoded value and the exact bytes of each reply, so
    tests can assert on wire format (`_\\r\\n` vs `$-1\\r\\n`).
"""
import csv
import os
import uuid
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import redis

REDIS_SERVER = "/usr/bin/redis-server"
# Absolute: servers run with their own temporary directory as cwd, and
# scripts/test.sh passes paths relative to the repository root.
SERVER = os.path.abspath(os.environ["SIMCACHE_SERVER"]) if os.environ.get("SIMCACHE_SERVER") else ""
BUILD = os.path.abspath(os.environ["SIMCACHE_BUILD"]) if os.environ.get("SIMCACHE_BUILD") else ""
IS_REDIS = os.path.basename(SERVER).startswith("redis-server")
HERE = os.path.dirname(os.path.abspath(__file__))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "simcache_only: behaviour redis-server 7.0 does not have "
        "(skipped only when SIMCACHE_SERVER is redis-server)")


def pytest_collection_modifyitems(config, items):
    if not IS_REDIS:
        return
    skip = pytest.mark.skip(reason="simcache-only behaviour; SIMCACHE_SERVER is redis-server")
    for item in items:
        if "simcache_only" in item.keywords:
            item.add_marker(skip)


def free_port():
    """A loopback port that was free a moment ago (see design note 2)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """One server process on 127.0.0.1:port. Owns its PID and log file."""

    def __init__(self, binary, args=(), redis_compat=None, exit_log=None):
        """exit_log: text the log must contain after a clean stop (e.g. the
        server's "ready to exit"), checked by stop(check=True)."""
        self.binary = binary
        self.args = list(args)
        self.exit_log = exit_log
        self.stopped = False
        self.redis_compat = (os.path.basename(binary).startswith("redis-server")
                             if redis_compat is None else redis_compat)
        self.proc = None
        self.port = None
        self.dir = tempfile.mkdtemp(prefix="simcache-it-")
        self.log_path = os.path.join(self.dir, "server.log")

    def _argv(self, port):
        argv = [self.binary, "--port", str(port), "--bind", "127.0.0.1"]
        if self.redis_compat:
            # never write dump.rdb/appendonly files; keep files in our dir
            argv += ["--save", "", "--appendonly", "no", "--dir", self.dir]
        return argv + self.args

    def start(self, deadline=10.0):
        last_err = None
        for _attempt in range(5):
            self._spawn(free_port())
            err = self._wait_ready(deadline)
            if err is None:
                return self
            last_err = err
            if self.proc.poll() is None:       # alive but not answering: give up
                self.stop(check=False)
                break
        raise RuntimeError("server did not start: %s\n%s" % (last_err, self.log_tail()))

    def _spawn(self, port):
        """Starts the process on `port` (log appended, cwd = own dir)."""
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self._argv(port), stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL, cwd=self.dir)
        self.port = port
        self.stopped = False

    def _wait_ready(self, deadline):
        end = time.monotonic() + deadline
        err = "timeout"
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                return "exited with %d" % self.proc.returncode
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"*1\r\n$4\r\nPING\r\n")
                    data = s.recv(64)
                    # +PONG, or -NOAUTH when started with requirepass: both mean up
                    if data.startswith(b"+PONG") or data.startswith(b"-NOAUTH"):
                        return None
                    err = "PING answered %r" % data
            except OSError as e:
                err = str(e)
            time.sleep(0.02)
        return err

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, check=True, timeout=15.0):
        """SIGTERM our PID; return the exit status. check: assert it is 0
        (and that the log holds exit_log). Idempotent: a second call returns
        the status without checking again (the log is gone by then)."""
        if self.proc is None:
            return None
        if self.stopped:
            return self.proc.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()          # our own PID only
                self.proc.wait()
                if check:
                    raise AssertionError("server did not exit within %.0fs of SIGTERM\n%s"
                                         % (timeout, self.log_tail()))
        rc = self.proc.returncode
        if check and rc != 0:
            raise AssertionError("server exit status %r (want 0 on SIGTERM)\n%s"
                                 % (rc, self.log_tail()))
        if check and self.exit_log is not None and self.exit_log not in self.output():
            raise AssertionError("server log lacks %r after exit\n%s"
                                 % (self.exit_log, self.log_tail()))
        self.stopped = True
        shutil.rmtree(self.dir, ignore_errors=True)   # kept only when something failed
        return rc

    def output(self):
        """The whole server log so far (stdout and stderr), as text."""
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=40):
        text = self.output()
        return "--- server log tail ---\n" + "\n".join(text.splitlines()[-n:]) if text else ""

    def redis(self, **kw):
        kw.setdefault("socket_timeout", 10)
        return redis.Redis(host="127.0.0.1", port=self.port, **kw)

    def conn(self, timeout=10.0):
        return RespConn(self.port, timeout)

    def raw(self, rcvbuf=None, timeout=10.0):
        """A plain connected TCP socket (the caller closes it); rcvbuf sets
        SO_RCVBUF before connecting (a small window for clients that never
        read)."""
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(timeout)
        s.connect(("127.0.0.1", self.port))
        return s


# ---------------------------------------------------------------- RESP reader

class RespError(Exception):
    """An error reply (`-ERR ...` or RESP3 `!` bulk error)."""

    def __eq__(self, other):
        return isinstance(other, RespError) and self.args == other.args

    def __hash__(self):
        return hash(self.args)


class Push(list):
    pass


class Verbatim(bytes):
    fmt = b""


class Closed(Exception):
    pass


class RespConn:
    """A raw TCP connection with a RESP2/RESP3 reply reader.

    read() returns (value, raw) where raw are the exact bytes of the reply.
    Values: +x -> str, -x -> RespError(str), :n -> int, $ -> bytes or None,
    * -> list or None, _ -> None, # -> bool, , -> float, ( -> int,
    % -> dict, ~ -> frozenset-ish list, > -> Push, = -> Verbatim.
    """

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    @staticmethod
    def encode(*args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            elif isinstance(a, int):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise Closed("connection closed by server (buffer %r)" % self.buf[:200])
        self.buf += d

    def _line(self, pos):
        while True:
            i = self.buf.find(b"\r\n", pos)
            if i >= 0:
                return self.buf[pos:i], i + 2
            self._fill()

    def _need(self, end):
        while len(self.buf) < end:
            self._fill()

    def _parse(self, pos):
        line, pos = self._line(pos)
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode(), pos
        if t == b"-":
            return RespError(rest.decode()), pos
        if t in (b":", b"("):
            return int(rest), pos
        if t == b",":
            return float(rest.decode()), pos
        if t == b"#":
            return rest == b"t", pos
        if t == b"_":
            return None, pos
        if t in (b"$", b"!", b"="):
            n = int(rest)
            if n < 0:
                return None, pos
            self._need(pos + n + 2)
            data = self.buf[pos:pos + n]
            assert self.buf[pos + n:pos + n + 2] == b"\r\n", "bulk not CRLF-terminated"
            pos += n + 2
            if t == b"!":
                return RespError(data.decode()), pos
            if t == b"=":
                v = Verbatim(data[4:])
                v.fmt = data[:3]
                return v, pos
            return data, pos
        if t in (b"*", b"~", b">"):
            n = int(rest)
            if n < 0:
                return None, pos
            items = []
            for _ in range(n):
                v, pos = self._parse(pos)
                items.append(v)
            return (Push(items) if t == b">" else items), pos
        if t in (b"%", b"|"):
            n = int(rest)
            d = {}
            for _ in range(n):
                k, pos = self._parse(pos)
                v, pos = self._parse(pos)
                d[k if not isinstance(k, list) else tuple(k)] = v
            return d, pos
        raise AssertionError("bad RESP type byte in %r" % line)

    def read(self):
        """One reply: (value, raw bytes)."""
        v, pos = self._parse(0)
        raw, self.buf = self.buf[:pos], self.buf[pos:]
        return v, raw

    def value(self):
        return self.read()[0]

    def raw(self):
        return self.read()[1]

    def cmd(self, *args):
        self.send(self.encode(*args))
        return self.value()

    def cmd_raw(self, *args):
        self.send(self.encode(*args))
        return self.raw()

    def read_until_closed(self, limit=10.0):
        """Everything the server sends until it closes; raises on timeout."""
        end = time.monotonic() + limit
        data = self.buf
        self.buf = b""
        while time.monotonic() < end:
            try:
                d = self.sock.recv(65536)
            except ConnectionResetError:
                return data
            if not d:
                return data
            data += d
        raise AssertionError("server did not close the connection within %.0fs; got %r"
                             % (limit, data[:200]))


# ------------------------------------------------------------------- fixtures

def _require_server():
    if not SERVER:
        pytest.fail("SIMCACHE_SERVER is not set (path of simcache-server, or "
                    "/usr/bin/redis-server to validate the tests)")
    if not os.access(SERVER, os.X_OK):
        pytest.fail("SIMCACHE_SERVER=%s is not executable" % SERVER)


@pytest.fixture(scope="module")
def server():
    """The plain server under test, shared by a module (see design note 4)."""
    _require_server()
    holder = {"s": Server(SERVER).start()}
    yield holder
    holder["s"].stop(check=True)


@pytest.fixture
def srv(server):
    """The shared server, flushed; fails the test that crashes it."""
    s = server["s"]
    if not s.alive():
        s = server["s"] = Server(SERVER).start()
    with s.conn() as c:
        assert c.cmd("FLUSHALL") == "OK"
    yield s
    if not s.alive():
        rc = s.proc.returncode
        tail = s.log_tail()
        server["s"] = Server(SERVER).start()
        pytest.fail("server died during this test (status %r)\n%s" % (rc, tail))


@pytest.fixture
def r(srv):
    """redis-py (RESP2) client to the shared, flushed server."""
    client = srv.redis()
    yield client
    client.close()


@pytest.fixture
def server_factory():
    """start(*args) -> a started Server with extra options; stopped (exit 0
    asserted, and exit_log found in its log when given) at the end of the
    test."""
    _require_server()
    started = []

    def start(*args, binary=None, exit_log=None):
        s = Server(binary or SERVER, [str(a) for a in args], exit_log=exit_log)
        started.append(s)
        return s.start()

    yield start
    errors = []
    for s in started:
        try:
            s.stop(check=True)
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n".join(errors))


@pytest.fixture(scope="module")
def ref_redis():
    """Debian's redis-server as the reference (differential tests)."""
    if not os.access(REDIS_SERVER, os.X_OK):
        pytest.fail("reference %s missing: apt-get install redis-server" % REDIS_SERVER)
    s = Server(REDIS_SERVER, redis_compat=True).start()
    yield s
    s.stop(check=True)


# ------------------------------------------------------------ simcache-bench

SBENCH = os.path.join(BUILD, "bench", "sbench", "simcache-bench")
SVG = "{http://www.w3.org/2000/svg}"     # ElementTree namespace of the plots
needs_sbench = pytest.mark.skipif(not os.path.exists(SBENCH), reason="simcache-bench not built")


def sbench(*args, timeout=120, cwd=None):
    """Runs simcache-bench with args (str()-ed); the CompletedProcess, text."""
    return subprocess.run([SBENCH, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def csv_rows(path):
    """The rows of a CSV file with a header line, as dicts."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


_TOOL_HOME = tempfile.mkdtemp(prefix="simcache-it-home-")


def pytest_unconfigure(config):
    shutil.rmtree(_TOOL_HOME, ignore_errors=True)


@pytest.fixture
def tool_env():
    """Environment for redis-cli/redis-benchmark: no user rc files, no
    REDISCLI_AUTH leaking in from the caller."""
    env = dict(os.environ)
    env.pop("REDISCLI_AUTH", None)
    env["HOME"] = _TOOL_HOME
    env["REDISCLI_HISTFILE"] = "/dev/null"
    return env


# ---- shared by the CACHE.* test files ----

def ns_name():
    """A fresh namespace name, unique across tests and runs."""
    return "ns-" + uuid.uuid4().hex[:12]


def as_dict(reply):
    """RESP2 flat array -> dict with str keys (values left as bytes/ints)."""
    it = iter(reply)
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in zip(it, it)}


# Three stored prompts and a rewording of each that the built-in embedder
# serves semantically (test_cache_async.py, test_cache_put_async.py).
FAQ = {
    "How do I reset my password?": "reset",
    "What is the refund policy for annual plans?": "refund",
    "How can I export my data to CSV?": "export",
}
REWORDED = {
    "how do I reset my password please": "reset",
    "what is the refund policy for annual plan": "refund",
    "How can I export all my data to CSV": "export",
}
