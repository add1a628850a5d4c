"""redis-cli against the real server: one-shot, --raw, RESP3 (-3), piped
stdin, an interactive session through a pty, --pipe mass insertion (which
ends with ECHO of a random 20-byte marker), -a AUTH, and --scan --pattern.

redis-cli output formats (7.0): on a non-tty stdout it prints raw replies
(`OK`, `v`, empty line for nil); with `--no-raw` it prints the tty format
(`"v"`, `(nil)`, `(integer) 1`). Interactive and piped stdin first send
`COMMAND DOCS`; any reply, even an error, is acceptable there.
"""
import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time

import pytest

CLI = "/usr/bin/redis-cli"


def cli(srv, *args, env, stdin=None, timeout=20, check=True):
    p = subprocess.run([CLI, "-p", str(srv.port), "-h", "127.0.0.1", *args],
                       input=stdin, capture_output=True, timeout=timeout, env=env)
    if check:
        assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    return p


def test_one_shot_set_get(srv, tool_env):
    assert cli(srv, "set", "k", "v", env=tool_env).stdout == b"OK\n"
    assert cli(srv, "get", "k", env=tool_env).stdout == b"v\n"
    assert cli(srv, "--no-raw", "get", "k", env=tool_env).stdout == b'"v"\n'
    assert cli(srv, "--no-raw", "get", "missing", env=tool_env).stdout == b"(nil)\n"
    assert cli(srv, "--no-raw", "incr", "n", env=tool_env).stdout == b"(integer) 1\n"
    assert cli(srv, "--no-raw", "ping", env=tool_env).stdout == b"PONG\n"


def test_one_shot_raw_binary_and_newlines(srv, tool_env):
    cli(srv, "set", "k", "line1\nline2", env=tool_env)
    assert cli(srv, "--raw", "get", "k", env=tool_env).stdout == b"line1\nline2\n"
    assert cli(srv, "--no-raw", "get", "k", env=tool_env).stdout == b'"line1\\nline2"\n'
    out = cli(srv, "--raw", "mget", "k", "nokey", env=tool_env).stdout
    assert out == b"line1\nline2\n\n"


def test_one_shot_error_reply(srv, tool_env):
    cli(srv, "set", "k", "notanumber", env=tool_env)
    p = cli(srv, "incr", "k", env=tool_env, check=False)
    # redis-cli 7.0 prints errors as "ERR ..." (raw) and exits 1 for one-shot errors
    assert b"ERR value is not an integer or out of range" in p.stdout + p.stderr


def test_resp3_mode(srv, tool_env):
    # -3 sends HELLO 3 first; a failure would print "HELLO 3 failed" on stderr
    p = cli(srv, "-3", "--no-raw", "get", "missing", env=tool_env)
    assert b"HELLO 3 failed" not in p.stderr, p.stderr
    assert p.stdout == b"(nil)\n"
    cli(srv, "-3", "set", "k", "v", env=tool_env)
    p = cli(srv, "-3", "--no-raw", "get", "k", env=tool_env)
    assert p.stdout == b'"v"\n'
    # CONFIG GET is a map in RESP3: redis-cli prints it as "1# key => value"
    p = cli(srv, "-3", "--no-raw", "config", "get", "maxmemory", env=tool_env)
    assert b"HELLO 3 failed" not in p.stderr
    assert p.stdout.startswith(b'1# "maxmemory" => '), p.stdout


def test_piped_stdin(srv, tool_env):
    p = cli(srv, env=tool_env, stdin=b"set a 1\nget a\nincr a\nget nokey\nping\n")
    assert p.stdout == b"OK\n1\n2\n\nPONG\n"


def test_piped_stdin_quoted_arguments(srv, tool_env):
    p = cli(srv, env=tool_env, stdin=b'set "a key" "hello world"\nget "a key"\nstrlen "a key"\n')
    assert p.stdout == b"OK\nhello world\n11\n"


def _pty_run(port, env, lines, timeout=20):
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execve(CLI, [CLI, "-p", str(port), "-h", "127.0.0.1"], env)
        finally:
            os._exit(127)
    # linenoise asks the terminal its width: give the pty a size, and answer
    # cursor-position queries (ESC[6n) in case it asks anyway
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 200, 0, 0))
    out = b""
    prompt = b"127.0.0.1:%d> " % port
    end = time.monotonic() + timeout
    status = None
    try:
        def pump(nreplies):
            # linenoise redraws the prompt on every keystroke; a prompt that
            # follows a newline is the one printed after a reply
            nonlocal out
            while (out.count(b"\n" + prompt) < nreplies
                   or (nreplies == 0 and prompt not in out)):
                left = end - time.monotonic()
                assert left > 0, "pty session timed out; got %r" % out
                rd, _, _ = select.select([fd], [], [], left)
                if not rd:
                    continue
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    chunk = b""
                assert chunk, "redis-cli exited early; got %r" % out
                if b"\x1b[6n" in chunk:
                    os.write(fd, b"\x1b[1;1R")
                out += chunk

        pump(0)
        for i, line in enumerate(lines):
            os.write(fd, line.encode() + b"\r")
            pump(i + 1)
        os.write(fd, b"quit\r")
        while True:
            left = end - time.monotonic()
            assert left > 0, "redis-cli did not exit after quit; got %r" % out
            rd, _, _ = select.select([fd], [], [], left)
            if rd:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    break
                out += chunk
        _, status = os.waitpid(pid, 0)
        pid = 0
    finally:
        if pid:
            os.kill(pid, 9)   # the child we forked, by its PID
            os.waitpid(pid, 0)
        os.close(fd)
    return out.replace(b"\r\n", b"\n"), status


def test_interactive_session_through_pty(srv, tool_env):
    out, status = _pty_run(srv.port, tool_env,
                           ["set greeting hello", "get greeting", "incrby n 41",
                            "get nothing", "strlen greeting", "nosuchcommand x"])
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (status, out)
    assert b"OK\n" in out
    assert b'"hello"\n' in out
    assert b"(integer) 41\n" in out
    assert b"(nil)\n" in out
    assert b"(integer) 5\n" in out
    assert b"(error) ERR unknown command 'nosuchcommand', with args beginning with: 'x' " in out


def test_pipe_mass_insertion(srv, tool_env):
    n = 5000
    proto = b"".join(
        b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
        % (len(k), k, len(v), v)
        for k, v in ((b"key:%d" % i, b"value:%d" % i) for i in range(n)))
    p = cli(srv, "--pipe", env=tool_env, stdin=proto, timeout=60)
    # The summary comes after redis-cli matched its ECHO marker reply.
    assert b"errors: 0, replies: %d" % n in p.stdout, p.stdout
    r = srv.redis()
    assert r.dbsize() == n
    assert r.get("key:4999") == b"value:4999"


def test_pipe_reports_errors(srv, tool_env):
    proto = b"*2\r\n$4\r\nINCR\r\n$1\r\nx\r\n" + b"*3\r\n$3\r\nSET\r\n$1\r\ny\r\n$1\r\nz\r\n" \
        + b"*2\r\n$4\r\nINCR\r\n$1\r\ny\r\n"
    p = cli(srv, "--pipe", env=tool_env, stdin=proto, check=False)
    assert b"errors: 1, replies: 3" in p.stdout, (p.stdout, p.stderr)


def test_auth_with_dash_a(server_factory, tool_env):
    s = server_factory("--requirepass", "s3cret")
    p = cli(s, "--no-auth-warning", "-a", "s3cret", "set", "k", "v", env=tool_env)
    assert p.stdout == b"OK\n"
    p = cli(s, "--no-auth-warning", "-a", "s3cret", "get", "k", env=tool_env)
    assert p.stdout == b"v\n"
    p = cli(s, "get", "k", env=tool_env, check=False)
    assert b"NOAUTH Authentication required." in p.stdout + p.stderr
    p = cli(s, "--no-auth-warning", "-a", "wrong", "get", "k", env=tool_env, check=False)
    assert b"WRONGPASS invalid username-password pair or user is disabled." in p.stdout + p.stderr
    # REDISCLI_AUTH is the other way to pass it
    env = dict(tool_env, REDISCLI_AUTH="s3cret")
    assert cli(s, "get", "k", env=env).stdout == b"v\n"


def test_scan_with_pattern(srv, tool_env):
    r = srv.redis()
    r.mset({"user:%d" % i: i for i in range(300)})
    r.mset({"other:%d" % i: i for i in range(50)})
    p = cli(srv, "--scan", "--pattern", "user:1*", env=tool_env)
    got = sorted(p.stdout.decode().split())
    want = sorted("user:%d" % i for i in range(300) if str(i).startswith("1"))
    assert got == want
    p = cli(srv, "--scan", env=tool_env)
    assert len(p.stdout.split()) == 350
    assert len(set(p.stdout.split())) == 350
