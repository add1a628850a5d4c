"""Smoke tests of the server core as a user meets it: the real binary on an
ephemeral loopback port, driven by redis-py, redis-cli and raw sockets.

Covers the handshake (HELLO 2/3), AUTH flows, pipelining, protocol errors
closing the connection after the reply, maxclients, output-buffer limits
for a client that never reads, idle and pre-auth timeouts, the unix socket
and its permissions, SHUTDOWN, and graceful SIGTERM (every server started
here must exit 0 when stopped).

Servers come from conftest.py's server_factory (one per test, see the
fixtures below). Env: SIMCACHE_SERVER = path to simcache-server.
"""
import contextlib
import json
import os
import signal
import shutil
import stat
import subprocess
import tempfile
import threading
import time

import pytest
import redis

from conftest import SERVER


@pytest.fixture
def server_factory(server_factory):
    """conftest's factory with this module's defaults: --hz 20, and every
    server must log "ready to exit" when stopped (besides exiting 0)."""
    def start(*args):
        return server_factory("--hz", "20", *args, exit_log="ready to exit")
    return start


@pytest.fixture
def server(server_factory):
    """A fresh server per test (several tests here stop it)."""
    return server_factory()


def recv_until_closed(sock, timeout=10):
    """Reads until EOF; returns the bytes. Fails if the server keeps it open.
    A reset (the server closed with our unread input pending) counts as
    closed."""
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def read_exact_lines(sock, n):
    buf = b""
    while buf.count(b"\r\n") < n:
        chunk = sock.recv(65536)
        assert chunk, "connection closed early"
        buf += chunk
    return buf


# ---- handshake and basic commands ----

def test_hello_3_then_hello_2_shapes(server):
    s = server.raw()
    s.sendall(b"HELLO 3\r\n")
    data = s.recv(4096)
    assert data.startswith(b"%7\r\n$6\r\nserver\r\n$8\r\nsimcache\r\n")
    assert b"$5\r\nproto\r\n:3\r\n" in data
    assert data.endswith(b"$7\r\nmodules\r\n*0\r\n")
    s.sendall(b"HELLO 4\r\n")
    assert s.recv(4096) == b"-NOPROTO unsupported protocol version\r\n"
    s.sendall(b"HELLO 2\r\n")
    data = s.recv(4096)
    assert data.startswith(b"*14\r\n") and b":2\r\n" in data
    s.close()


def test_redis_py_basics_and_error_wording(server):
    r = server.redis()
    assert r.ping() is True
    assert r.echo("hé") == "hé".encode()
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("NOSUCHCMD", "a", "b")
    assert str(e.value) == "unknown command 'NOSUCHCMD', with args beginning with: 'a' 'b' "
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("ECHO")
    assert str(e.value) == "wrong number of arguments for 'echo' command"
    assert r.config_get("save") == {"save": ""}
    assert r.config_get("appendonly") == {"appendonly": "no"}
    assert r.config_set("timeout", 100) is True
    assert r.config_get("timeout") == {"timeout": "100"}
    info = r.info()
    assert info["redis_version"] == "7.0.0" and info["tcp_port"] == server.port
    assert info["connected_clients"] >= 1
    t = r.time()
    assert abs(t[0] - time.time()) < 5
    assert r.client_setname("smoke") is True
    assert r.client_getname() == "smoke"
    assert r.dbsize() == 0
    r.execute_command("SLOWLOG", "RESET")
    r.close()


def test_redis_cli_with_piped_stdin_reads_command_docs(server):
    # redis-cli without a TTY first sends COMMAND DOCS to build its help;
    # a malformed reply crashes it (seen during development).
    out = subprocess.run(["redis-cli", "-p", str(server.port)], input=b"ping\necho hi\n",
                         capture_output=True, timeout=20)
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"PONG\nhi\n"


# ---- authentication ----

def test_auth_flows(server_factory):
    srv = server_factory("--requirepass", "pw", "--user", "alice", "apw")
    r = srv.redis()
    with pytest.raises(redis.AuthenticationError):
        r.ping()
    r.close()
    bad = srv.redis(password="nope")
    with pytest.raises(redis.ResponseError) as e:
        bad.ping()
    assert "WRONGPASS" in str(e.value)
    assert srv.redis(password="pw").ping() is True
    assert srv.redis(username="alice", password="apw").ping() is True
    s = srv.raw()
    s.sendall(b"HELLO 3 AUTH default pw\r\n")
    assert s.recv(4096).startswith(b"%7\r\n")
    s.close()


def test_auth_without_password_configured(server):
    s = server.raw()
    s.sendall(b"AUTH pw\r\n")
    assert s.recv(4096) == (b"-ERR AUTH <password> called without any password configured "
                            b"for the default user. Are you sure your configuration is "
                            b"correct?\r\n")
    s.close()


def test_preauth_timeout_closes_silent_unauthenticated_client(server_factory):
    srv = server_factory("--requirepass", "pw", "--preauth-timeout", "300")
    s = srv.raw()
    t0 = time.time()
    assert recv_until_closed(s, timeout=5) == b""
    assert time.time() - t0 < 4
    s.close()


def test_unauthenticated_big_multibulk_is_refused(server_factory):
    srv = server_factory("--requirepass", "pw")
    s = srv.raw()
    s.sendall(b"*11\r\n")
    data = recv_until_closed(s)
    assert data.startswith(b"-ERR Protocol error")
    s.close()


# ---- pipelining and protocol errors ----

def test_pipelined_requests_split_at_random_bytes(server):
    import random
    rnd = random.Random(7)
    req = b""
    expected = b""
    for i in range(2000):
        msg = b"m%d" % i
        if i % 3 == 0:
            req += b"ECHO " + msg + b"\r\n"
        else:
            req += b"*2\r\n$4\r\nECHO\r\n$%d\r\n%s\r\n" % (len(msg), msg)
        expected += b"$%d\r\n%s\r\n" % (len(msg), msg)
    s = server.raw()
    pos = 0
    while pos < len(req):
        n = rnd.randint(1, 300)
        s.sendall(req[pos:pos + n])
        pos += n
    got = b""
    while len(got) < len(expected):
        chunk = s.recv(65536)
        assert chunk
        got += chunk
    assert got == expected
    s.close()


def test_protocol_error_replies_then_closes(server):
    s = server.raw()
    s.sendall(b"PING\r\n*1\r\n$abc\r\nPING\r\n")
    data = recv_until_closed(s)
    assert data == b"+PONG\r\n-ERR Protocol error: invalid bulk length\r\n"
    s.close()
    assert server.redis().ping()


def test_quit_replies_ok_then_closes(server):
    s = server.raw()
    s.sendall(b"QUIT\r\nPING\r\n")
    assert recv_until_closed(s) == b"+OK\r\n"
    s.close()


# ---- limits ----

def test_maxclients_rejects_with_redis_error(server_factory):
    srv = server_factory("--maxclients", "2")
    a, b = srv.raw(), srv.raw()
    for s in (a, b):
        s.sendall(b"PING\r\n")
        assert s.recv(100) == b"+PONG\r\n"
    c = srv.raw()
    assert recv_until_closed(c) == b"-ERR max number of clients reached\r\n"
    a.close()
    time.sleep(0.2)
    d = srv.raw()
    d.sendall(b"PING\r\n")
    assert d.recv(100) == b"+PONG\r\n"
    for s in (b, c, d):
        s.close()
    info = srv.redis().info("stats")
    assert info["rejected_connections"] == 1


def flood_without_reading(srv, sock, stop):
    # COMMAND replies ~20 KB per 9-byte request: lots of output, little input.
    req = b"COMMAND\r\n" * 200
    sock.setblocking(False)
    while not stop.is_set():
        try:
            sock.send(req)
        except BlockingIOError:
            time.sleep(0.01)
        except OSError:
            return


def wait_for(pred, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


@contextlib.contextmanager
def flooding_client(srv):
    """A client with a 4 KiB receive window flooding srv with requests and
    never reading, for the duration of the with-block."""
    s = srv.raw(rcvbuf=4096)
    stop = threading.Event()
    t = threading.Thread(target=flood_without_reading, args=(srv, s, stop))
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()
        s.close()


def output_limit_disconnections(r):
    return r.info("stats")["client_output_buffer_limit_disconnections"]


def test_output_hard_limit_disconnects_non_reading_client(server_factory):
    srv = server_factory("--client-output-buffer-limit", "normal 1mb 0 0")
    r = srv.redis()
    with flooding_client(srv):
        assert wait_for(lambda: output_limit_disconnections(r) >= 1, 20)
        assert r.info("clients")["connected_clients"] == 1
    assert r.ping()


def test_output_soft_limit_disconnects_stalled_client(server_factory):
    srv = server_factory("--client-output-buffer-limit", "normal 64mb 256kb 1")
    r = srv.redis()
    with flooding_client(srv):
        assert wait_for(lambda: output_limit_disconnections(r) >= 1, 20)
        # memory stayed bounded: reading paused near the soft mark, far below 64mb
        assert r.info("memory")["used_memory"] < 32 * 1024 * 1024


def test_idle_timeout_closes_connection(server_factory):
    srv = server_factory("--timeout", "1")
    s = srv.raw()
    s.sendall(b"PING\r\n")
    assert s.recv(100) == b"+PONG\r\n"
    t0 = time.time()
    assert recv_until_closed(s, timeout=6) == b""
    assert 0.9 < time.time() - t0 < 5
    s.close()


def test_query_buffer_limit_closes_client(server_factory):
    srv = server_factory("--client-query-buffer-limit", "1mb")
    s = srv.raw()
    # a bulk announced as 4 MB (allowed by proto-max-bulk-len) overflows 1 MB
    s.sendall(b"*2\r\n$4\r\nECHO\r\n$4000000\r\n")
    try:
        for _ in range(40):
            s.sendall(b"x" * 65536)
    except OSError:
        pass
    assert recv_until_closed(s) == b""
    s.close()
    assert srv.redis().info("stats")["client_query_buffer_limit_disconnections"] == 1


# ---- clients ----

def test_client_list_and_kill_by_id(server):
    r1 = server.redis()
    r1.client_setname("one")
    s2 = server.raw()
    s2.sendall(b"CLIENT ID\r\n")
    victim = int(s2.recv(100)[1:].strip())
    clients = r1.client_list()
    assert {c["name"] for c in clients} == {"one", ""} and len(clients) == 2
    assert r1.execute_command("CLIENT", "KILL", "ID", victim) == 1
    assert recv_until_closed(s2) == b""
    s2.close()
    assert len(r1.client_list()) == 1
    with pytest.raises(redis.ResponseError) as e:
        r1.execute_command("CLIENT", "KILL", "127.0.0.1:1")
    assert str(e.value) == "No such client"


# ---- unix socket and lifecycle ----

def test_unix_socket_with_permissions(server_factory, tmp_path):
    path = str(tmp_path / "sc.sock")
    srv = server_factory("--unixsocket", path, "--unixsocketperm", "700")
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode == 0o700
    r = redis.Redis(unix_socket_path=path)
    assert r.ping()
    assert "U" in r.client_list()[0]["flags"]
    r.close()
    srv.stop()
    assert not os.path.exists(path), "socket file removed at shutdown"


def test_sigterm_flushes_and_exits_zero(server):
    s = server.raw()
    s.sendall(b"PING\r\n")
    assert s.recv(100) == b"+PONG\r\n"
    server.proc.send_signal(signal.SIGTERM)
    assert recv_until_closed(s) == b""
    assert server.proc.wait(timeout=10) == 0
    s.close()
    server.stop()


def test_shutdown_command_exits_zero(server):
    s = server.raw()
    s.sendall(b"SHUTDOWN NOSAVE\r\n")
    assert recv_until_closed(s) == b""
    assert server.proc.wait(timeout=10) == 0
    s.close()
    server.stop()


# ---- protected mode and tools ----

# Protected mode needs a client whose address is not loopback. We make one
# without touching this machine's network: a private network namespace of
# our own whose lo also carries 192.0.2.1 (TEST-NET-1). The server runs
# inside it, bound to 127.0.0.1 and 192.0.2.1; a client inside it that
# connects to 192.0.2.1 has 192.0.2.1 as its peer address, which is not
# loopback. No packet leaves the namespace. Needs root and iproute2.
PROTECTED_CLIENT = r"""
import json, socket, sys, time
port = int(sys.argv[1])
def talk(host, payload, until_close=False):
    for i in range(100):
        try:
            s = socket.create_connection((host, port), timeout=10); break
        except OSError:
            if i == 99: raise
            time.sleep(0.05)
    s.sendall(payload)
    s.settimeout(2)
    d = b""
    try:
        while True:
            c = s.recv(4096)
            if not c: break
            d += c
            if not until_close and d.endswith(b"\r\n"): break
    except (socket.timeout, ConnectionResetError):
        pass   # a refused client may see RST once the server closed
    s.close()
    return d.decode(errors="replace")
out = {}
out["denied"] = talk("192.0.2.1", b"", until_close=True)
out["loopback"] = talk("127.0.0.1", b"PING\r\n")
out["off"] = talk("127.0.0.1", b"CONFIG SET protected-mode no\r\n")
out["allowed"] = talk("192.0.2.1", b"PING\r\n")
talk("127.0.0.1", b"CONFIG SET protected-mode yes\r\n")
talk("127.0.0.1", b"CONFIG SET requirepass pw\r\n")
out["noauth"] = talk("192.0.2.1", b"PING\r\n")
print(json.dumps(out))
"""


def test_protected_mode_denies_non_loopback_without_password():
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 for a private network namespace")
    ns = "scpm%d" % os.getpid()
    r = subprocess.run(["ip", "netns", "add", ns], capture_output=True, timeout=10)
    if r.returncode != 0:
        pytest.skip("cannot create a network namespace: " + r.stderr.decode(errors="replace"))
    proc = None
    log = tempfile.TemporaryFile()
    try:
        inns = ["ip", "netns", "exec", ns]
        subprocess.run(inns + ["ip", "link", "set", "lo", "up"], check=True, timeout=10)
        subprocess.run(inns + ["ip", "addr", "add", "192.0.2.1/32", "dev", "lo"],
                       check=True, timeout=10)
        port = 6380   # the namespace is ours alone: no other listener
        proc = subprocess.Popen(inns + [SERVER, "--port", str(port),
                                        "--bind", "127.0.0.1 192.0.2.1"],
                                stdout=log, stderr=subprocess.STDOUT)
        out = subprocess.run(inns + ["/usr/bin/python3", "-c", PROTECTED_CLIENT, str(port)],
                             capture_output=True, timeout=60)
        assert out.returncode == 0, out.stderr.decode(errors="replace")
        res = json.loads(out.stdout)
        assert res["denied"].startswith("-DENIED ") and res["denied"].endswith("\r\n"), res
        assert res["loopback"] == "+PONG\r\n", res
        assert res["off"] == "+OK\r\n", res
        assert res["allowed"] == "+PONG\r\n", res
        assert res["noauth"] == "-NOAUTH Authentication required.\r\n", res
    finally:
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=15)
            log.seek(0)
            assert rc == 0, "server exit code %r\n%s" % (rc, log.read().decode(errors="replace"))
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


def test_redis_benchmark_runs_without_config_warning(server):
    out = subprocess.run(["redis-benchmark", "-p", str(server.port), "-t", "ping,set,get",
                          "-n", "2000", "-c", "4", "-q"], capture_output=True, timeout=120)
    text = (out.stdout + out.stderr).decode(errors="replace")
    assert out.returncode == 0, text
    assert "WARNING" not in text and "requests per second" in text, text


def test_buffers_of_one_big_request_are_given_back(server):
    r = server.redis()
    big = b"x" * (4 * 1024 * 1024)
    assert r.echo(big) == big

    def info():
        line = r.execute_command("CLIENT", "INFO").decode()
        return dict(kv.split("=", 1) for kv in line.split())
    assert wait_for(lambda: int(info()["rbs"]) <= 65536 and int(info()["omem"]) <= 65536, 5), \
        info()


def test_requirepass_changes_at_runtime_follow_redis(server):
    a = server.raw()
    a.sendall(b"CONFIG SET requirepass pw\r\n")
    assert a.recv(100) == b"+OK\r\n"
    a.sendall(b"PING\r\n")                       # connected before: still in
    assert a.recv(100) == b"+PONG\r\n"
    c = server.raw()
    c.sendall(b"PING\r\n")
    assert c.recv(100) == b"-NOAUTH Authentication required.\r\n"
    a.sendall(b"CONFIG SET requirepass \"\"\r\n")
    assert a.recv(100) == b"+OK\r\n"
    c.sendall(b"PING\r\n")                       # no password any more
    assert c.recv(100) == b"+PONG\r\n"
    a.close()
    c.close()
