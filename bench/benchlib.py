"""Server lifecycle shared by the bench/*.py scripts.

Each benchmark starts one or more servers (simcache-server, or a Redis peer
measured in the same run) on an ephemeral loopback port, waits until it
answers PING, and stops it by the PID it recorded (never by name: other
servers run on this machine).

Design decisions:
1. The port comes from binding port 0 and closing the socket; the short
   race with another process taking it is caught by the readiness wait
   (the server fails to bind and exits, and start() reports its log).
2. Each server runs in its own temporary directory (its cwd, so a
   dump.rdb or log lands there, not in the checkout) with stdout/stderr in
   DIR/server.log; a Redis peer (binary name starting with "redis") gets
   --save "" --appendonly no --dir DIR so it never writes elsewhere.
3. Readiness is a raw-socket PING, so the library needs no redis-py; the
   scripts that use redis-py get a client from Server.redis().
"""
import os
import signal
import socket
import subprocess
import tempfile
import time


def free_port():
    """An ephemeral loopback TCP port that was free a moment ago."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cpu_seconds(pid):
    """User + system CPU seconds the process has used (/proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def _pong(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class Server:
    """A started server: proc (Popen), pid, port, dir (its cwd and log)."""

    def __init__(self, proc, port, d):
        self.proc, self.pid, self.port, self.dir = proc, proc.pid, port, d

    def redis(self):
        """A redis-py client on this server (imported here: optional)."""
        import redis
        return redis.Redis(host="127.0.0.1", port=self.port)

    def stop(self, timeout=30):
        """SIGTERM to the recorded PID and wait for the exit (idempotent)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout)


def start(binary, args=(), prefix="bench-", timeout=10.0):
    """Starts `binary --port P --bind 127.0.0.1 ARGS...` and returns a Server
    once it answers PING; raises RuntimeError (with the log's tail) if it
    exits or does not answer within `timeout` seconds."""
    if os.sep in binary:
        binary = os.path.abspath(binary)   # the server runs in its own cwd
    port = free_port()
    d = tempfile.mkdtemp(prefix=prefix)
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1"] + list(args)
    if os.path.basename(binary).startswith("redis"):
        argv += ["--save", "", "--appendonly", "no", "--dir", d]
    with open(os.path.join(d, "server.log"), "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=log, cwd=d)
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        if _pong(port):
            return Server(proc, port, d)
        time.sleep(0.02)
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    with open(os.path.join(d, "server.log"), "rb") as f:
        tail = f.read()[-2000:].decode(errors="replace")
    raise RuntimeError("server %s did not start:\n%s" % (binary, tail))
