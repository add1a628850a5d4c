"""libsimcache and simcache-cli against the real server.

The C side is tests/integration/client_driver.c (built next to the server:
$SIMCACHE_BUILD/tests/integration/client_driver), which checks its own
results and exits 0; these tests start servers, run it, and restart the
server under it. The CLI tests compare one-shot output in each output mode
against tests/integration/golden/<case>.<mode>.txt; for the modes redis-cli
7.0 also has (default, --raw, --csv) the same golden files are checked
against redis-cli itself, so "formats like redis-cli" is a tested claim.
Set SIMCACHE_GOLDEN_UPDATE=1 to rewrite the golden files from simcache-cli
(then review the diff: the redis-cli comparison still has to pass).
"""
import os
import pty
import select
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import BUILD, SERVER, Server, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "golden")
REDIS_CLI = "/usr/bin/redis-cli"


def tool(*parts):
    path = os.path.join(BUILD, *parts)
    if not BUILD or not os.access(path, os.X_OK):
        pytest.fail("%s not built (SIMCACHE_BUILD=%r)" % (path, BUILD))
    return path


def driver():
    return tool("tests", "integration", "client_driver")


def cli():
    return tool("client", "simcache-cli")


def run_driver(*args, timeout=120, **kw):
    p = subprocess.run([driver()] + [str(a) for a in args], capture_output=True,
                       timeout=timeout, **kw)
    assert p.returncode == 0, "driver %r failed (%d):\n%s\n%s" % (
        args, p.returncode, p.stdout.decode(), p.stderr.decode())
    return p.stdout.decode()


# ------------------------------------------------------------------ library

pytestmark = pytest.mark.simcache_only


def test_pipeline_of_10k_commands_in_order(srv):
    out = run_driver("pipeline", srv.port, 10000)
    assert "ok pipeline 30000" in out


def test_typed_helpers_vadd_vsim_limit_take(srv):
    assert "ok helpers" in run_driver("helpers", srv.port)


def test_cache_helpers_tiers_and_tenant(srv):
    assert "ok cache" in run_driver("cache", srv.port)


def test_auth_hello_and_client_name_at_connect(server_factory):
    s = server_factory("--requirepass", "s3cret")
    assert "ok auth" in run_driver("auth", s.port, "s3cret")


def test_unix_socket_connect(server_factory):
    d = tempfile.mkdtemp(prefix="simcache-client-")
    try:
        path = os.path.join(d, "s.sock")
        server_factory("--unixsocket", path)
        assert "ok unix" in run_driver("unix", path)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_example_program_runs(srv):
    p = subprocess.run([tool("client", "simcache-example"), "127.0.0.1", str(srv.port)],
                       capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode()
    assert "SET -> OK" in out and "INCR -> 3" in out
    assert "VSIM a " in out and "LIMIT.TAKE granted=1" in out
    assert "CACHE.GET tier=semantic answer=Paris" in out


def build_has_sanitizers():
    try:
        with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
            cache = f.read()
    except OSError:
        return False
    return "SIMCACHE_ASAN:BOOL=ON" in cache or "SIMCACHE_TSAN:BOOL=ON" in cache


def test_install_and_pkg_config_link_an_application(srv, tmp_path):
    if build_has_sanitizers():
        pytest.skip("sanitizer build: an installed libsimcache needs the sanitizer runtime")
    prefix = tmp_path / "prefix"
    p = subprocess.run(["cmake", "--install", BUILD, "--prefix", str(prefix)],
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr
    libdirs = [d for d in prefix.glob("lib*/pkgconfig")]
    assert libdirs, list(prefix.rglob("*"))
    env = dict(os.environ, PKG_CONFIG_PATH=str(libdirs[0]))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "simcache"], env=env,
                           capture_output=True, timeout=30)
    assert flags.returncode == 0, flags.stderr
    exe = tmp_path / "example"
    src = os.path.join(HERE, "..", "..", "client", "example.c")
    cc = subprocess.run(["cc", src, "-o", str(exe)] + flags.stdout.decode().split(),
                        capture_output=True, timeout=120)
    assert cc.returncode == 0, cc.stderr
    run = subprocess.run([str(exe), "127.0.0.1", str(srv.port)], capture_output=True, timeout=60,
                         env=dict(os.environ, LD_LIBRARY_PATH=str(libdirs[0].parent)))
    assert run.returncode == 0 and b"SET -> OK" in run.stdout, run


class FixedPortServer(Server):
    """A server restarted on the port its predecessor had."""

    def start_on(self, port, deadline=10.0):
        self._spawn(port)
        err = self._wait_ready(deadline)
        assert err is None, "restart on port %d: %s\n%s" % (port, err, self.log_tail())
        return self


def test_reconnect_after_server_restart():
    first = Server(SERVER).start()
    second = None
    proc = subprocess.Popen([driver(), "reconnect", str(first.port)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"ready"
        port = first.port
        assert first.stop(check=True) == 0
        second = FixedPortServer(SERVER).start_on(port)
        out, err = proc.communicate(b"go\n", timeout=60)
        assert proc.returncode == 0, err.decode()
        assert b"ok reconnect" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        first.stop(check=False)
        if second:
            second.stop(check=True)


def test_async_many_in_flight_callbacks_in_order_and_clean_close(srv):
    assert "ok async 10000" in run_driver("async", srv.port, 10000)


def test_async_disconnect_mid_flight_fails_each_pending_callback_once(srv):
    out = run_driver("async_midflight", srv.port)
    assert "ok async_midflight" in out


def test_async_handshake_auth_and_wrong_password(server_factory):
    s = server_factory("--requirepass", "pw")
    assert "ok async_auth" in run_driver("async_auth", s.port, "pw")


# ---------------------------------------------------------------------- CLI

def setup_data(s):
    with s.conn() as c:
        assert c.cmd("FLUSHALL") == "OK"
        assert c.cmd("SET", "greeting", "hello world") == "OK"
        assert c.cmd("SET", "esc", b'a\nb"c\\d\x01\xc3\xa9 \t') == "OK"
        assert c.cmd("SET", "counter", "41") == "OK"
        c.cmd("DEL", "vs")
        assert c.cmd("VADD", "vs", "VALUES", "2", "1", "0", "a") == 1
        assert c.cmd("VADD", "vs", "VALUES", "2", "0", "1", "b") == 1


# (case, argv); each runs in each mode of MODES on freshly set-up data.
CASES = [
    ("set", ["SET", "k", "v"]),
    ("get", ["GET", "greeting"]),
    ("get_escapes", ["GET", "esc"]),
    ("get_nil", ["GET", "missing"]),
    ("incr", ["INCR", "counter"]),
    ("mget", ["MGET", "greeting", "missing", "counter"]),
    ("unknown_command", ["NOSUCHCMD", "x"]),
    ("arity_error", ["GET"]),
    ("empty_array", ["KEYS", "nomatch*"]),
    ("echo_binary", ["ECHO", "tab\there \"q\""]),
    ("vsim_scores", ["VSIM", "vs", "ELE", "a", "WITHSCORES"]),
    ("vsim_scores_resp3", ["-3", "VSIM", "vs", "ELE", "a", "WITHSCORES"]),
    ("config_map_resp3", ["-3", "CONFIG", "GET", "maxmemory-policy"]),
    ("command_docs", ["COMMAND", "DOCS", "GETEX"]),
    ("command_docs_resp3", ["-3", "COMMAND", "DOCS", "GETEX"]),
]
MODES = {"default": ["--no-raw"], "raw": ["--raw"], "csv": ["--csv"], "json": ["--json"]}


def cli_env():
    env = dict(os.environ)
    env.pop("REDISCLI_AUTH", None)
    env["HOME"] = tempfile.gettempdir()
    env["SIMCACHECLI_HISTFILE"] = "/dev/null"
    env["REDISCLI_HISTFILE"] = "/dev/null"
    return env


def run_cli(binary, port, mode, argv, stdin=None):
    flags = [a for a in argv if a.startswith("-")]
    rest = [a for a in argv if not a.startswith("-")]
    p = subprocess.run([binary, "-p", str(port)] + flags + MODES[mode] + rest,
                       capture_output=True, timeout=30, env=cli_env(), input=stdin)
    return p


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("case,argv", CASES, ids=[c[0] for c in CASES])
def test_cli_one_shot_matches_golden(srv, case, argv, mode):
    setup_data(srv)
    p = run_cli(cli(), srv.port, mode, argv)
    assert p.returncode == 0, p.stderr
    path = os.path.join(GOLDEN, "%s.%s.txt" % (case, mode))
    if os.environ.get("SIMCACHE_GOLDEN_UPDATE"):
        os.makedirs(GOLDEN, exist_ok=True)
        with open(path, "wb") as f:
            f.write(p.stdout)
    with open(path, "rb") as f:
        want = f.read()
    assert p.stdout == want, "simcache-cli %s %s:\n%r\nwant\n%r" % (mode, argv, p.stdout, want)


@pytest.mark.parametrize("mode", ["default", "raw", "csv"])
@pytest.mark.parametrize("case,argv", CASES, ids=[c[0] for c in CASES])
def test_golden_files_agree_with_redis_cli(srv, case, argv, mode):
    if not os.access(REDIS_CLI, os.X_OK):
        pytest.fail("redis-cli missing: apt-get install redis-tools")
    setup_data(srv)
    p = run_cli(REDIS_CLI, srv.port, mode, argv)
    with open(os.path.join(GOLDEN, "%s.%s.txt" % (case, mode)), "rb") as f:
        want = f.read()
    assert p.stdout == want, "redis-cli %s %s:\n%r\ngolden\n%r" % (mode, argv, p.stdout, want)


def test_cli_x_reads_last_argument_from_stdin(srv):
    value = b"line one\nline two\x00binary"
    p = subprocess.run([cli(), "-p", str(srv.port), "-x", "SET", "fromstdin"], input=value,
                       capture_output=True, timeout=30, env=cli_env())
    assert p.returncode == 0 and p.stdout == b"OK\n", p
    with srv.conn() as c:
        assert c.cmd("GET", "fromstdin") == value


def test_cli_commands_piped_on_stdin(srv):
    p = subprocess.run([cli(), "-p", str(srv.port)],
                       input=b'SET a "x y"\nGET a\n\nINCR n\nECHO "q\\"uote"\n',
                       capture_output=True, timeout=30, env=cli_env())
    assert p.returncode == 0, p.stderr
    assert p.stdout == b'OK\nx y\n1\nq"uote\n'


def test_cli_exit_codes_like_redis_cli(srv):
    port = free_port()   # nothing listens there
    p = subprocess.run([cli(), "-p", str(port), "PING"], capture_output=True, timeout=30,
                       env=cli_env())
    assert p.returncode == 1
    assert b"Could not connect" in p.stderr and b"Connection refused" in p.stderr
    # an error reply is printed and exits 0, as redis-cli 7.0 does
    p = subprocess.run([cli(), "-p", str(srv.port), "NOSUCHCMD"], capture_output=True,
                       timeout=30, env=cli_env())
    r = subprocess.run([REDIS_CLI, "-p", str(srv.port), "NOSUCHCMD"], capture_output=True,
                       timeout=30, env=cli_env())
    assert p.returncode == r.returncode == 0
    assert p.stdout == r.stdout
    p = subprocess.run([cli(), "--bogus"], capture_output=True, timeout=30, env=cli_env())
    assert p.returncode == 1 and b"Unrecognized option" in p.stderr


def test_cli_auth_flags(server_factory):
    s = server_factory("--requirepass", "pw")
    base = [cli(), "-p", str(s.port)]
    p = subprocess.run(base + ["-a", "pw", "PING"], capture_output=True, timeout=30,
                       env=cli_env())
    assert p.stdout == b"PONG\n", p
    p = subprocess.run(base + ["--user", "default", "--pass", "pw", "-n", "0", "-3",
                               "--json", "HELLO"], capture_output=True, timeout=30,
                       env=cli_env())
    assert p.returncode == 0 and p.stdout.startswith(b'{"server":"simcache"'), p
    p = subprocess.run(base + ["-a", "bad", "PING"], capture_output=True, timeout=30,
                       env=cli_env())
    assert b"AUTH failed: WRONGPASS" in p.stderr
    assert p.stdout.startswith(b"NOAUTH"), p


def proc_state(pid):
    try:
        with open("/proc/%d/wchan" % pid) as f:
            wchan = f.read()
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read().split()[2]
        bt = subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "bt"],
                            capture_output=True, timeout=30).stdout.decode()[-1500:]
        return "state %s wchan %s\n%s" % (stat, wchan, bt)
    except (OSError, subprocess.SubprocessError) as e:
        return str(e)


class PtyReader:
    """Reads a pty; expect() consumes output up to and including a marker,
    keeping whatever came after it for the next expect()."""

    def __init__(self, fd, pid):
        self.fd, self.pid, self.buf = fd, pid, b""

    def expect(self, want, timeout=10.0):
        end = time.monotonic() + timeout
        while want not in self.buf:
            left = end - time.monotonic()
            assert left > 0, "timed out waiting for %r; got %r; %s" % (
                want, self.buf, proc_state(self.pid))
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    d = os.read(self.fd, 4096)
                except OSError:
                    d = b""
                assert d, "pty closed while waiting for %r; got %r" % (want, self.buf)
                self.buf += d
        i = self.buf.index(want) + len(want)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out


def test_cli_interactive_through_a_pty(srv):
    hist = tempfile.NamedTemporaryFile(prefix="simcache-cli-hist-", delete=False)
    hist.close()
    env = cli_env()
    env["SIMCACHECLI_HISTFILE"] = hist.name
    env["TERM"] = "dumb"
    binary = cli()
    pid, fd = pty.fork()
    if pid == 0:   # the child must never return into pytest
        try:
            os.execve(binary, [binary, "-p", str(srv.port)], env)
        except BaseException as e:   # noqa: B036
            os.write(2, ("execve %s: %r\n" % (binary, e)).encode())
        finally:
            os._exit(127)
    try:
        prompt = b"127.0.0.1:%d> " % srv.port
        t = PtyReader(fd, pid)
        t.expect(prompt)
        os.write(fd, b"SET ik iv\r")
        assert b"OK" in t.expect(prompt)
        os.write(fd, b"GET ik\r")
        assert b'"iv"' in t.expect(prompt)
        os.write(fd, b"INCR icount\r")
        assert b"(integer) 1" in t.expect(prompt)
        os.write(fd, b"help GET\r")
        out = t.expect(prompt)
        assert b"GET key" in out and b"summary: Returns the string value of a key." in out
        os.write(fd, b"quit\r")
        _, status = os.waitpid(pid, 0)
        pid = 0
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        with open(hist.name, "rb") as f:
            history = f.read()
        assert b"GET\\040ik" in history   # libedit encodes spaces as \\040
    finally:
        if pid:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
        os.unlink(hist.name)
