"""Shutdown under load: SIGTERM (and SIGINT) must end the server with exit
status 0 and promptly, whatever its clients are doing: idle, half-way
through a request, not reading a large reply, or hammering it with
redis-benchmark. Under the ASan build a leak or use-after-free on these
paths turns into a non-zero status, so these tests also cover teardown.
"""
import signal
import socket
import subprocess
import time

from conftest import RespConn


def test_sigterm_with_clients_in_every_state(server_factory):
    s = server_factory()
    idle = [s.conn() for _ in range(20)]
    for c in idle:
        assert c.cmd("PING") == "PONG"
    partial = s.conn()
    partial.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nabc")      # never finished
    greedy = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    with s.conn() as c:
        assert c.cmd("SET", "big", "x" * 200000) == "OK"
    greedy.sendall(RespConn.encode("GET", "big") * 50)               # never read
    time.sleep(0.3)
    try:
        t0 = time.monotonic()
        assert s.stop(check=True) == 0
        assert time.monotonic() - t0 < 10
    finally:
        for c in idle + [partial]:
            c.close()
        greedy.close()


def test_sigterm_during_benchmark_load(server_factory, tool_env):
    s = server_factory()
    bench = subprocess.Popen(["/usr/bin/redis-benchmark", "-h", "127.0.0.1", "-p", str(s.port),
                              "-c", "20", "-n", "10000000", "-P", "8", "-t", "set,get", "-q"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=tool_env)
    try:
        time.sleep(1.0)
        assert bench.poll() is None, "redis-benchmark ended early"
        assert s.stop(check=True) == 0
    finally:
        if bench.poll() is None:
            bench.kill()       # our own child, by its Popen handle
        bench.wait()


def test_sigint_exits_zero(server_factory):
    s = server_factory()
    with s.conn() as c:
        assert c.cmd("SET", "k", "v") == "OK"
    s.proc.send_signal(signal.SIGINT)
    assert s.proc.wait(15) == 0, s.log_tail()


def test_sigterm_after_protocol_errors_and_kills(server_factory):
    s = server_factory()
    for payload in (b"*abc\r\n", b"*1\r\n$-5\r\n", b'SET "x\r\n'):
        with s.conn() as c:
            c.send(payload)
            c.read_until_closed(5)
    victim = s.conn()
    vid = victim.cmd("CLIENT", "ID")
    with s.conn() as c:
        assert c.cmd("CLIENT", "KILL", "ID", str(vid)) == 1
    victim.close()
    assert s.stop(check=True) == 0
