"""Protocol robustness through real sockets: what a hostile or broken client
can send, and the limits that bound what it costs the server.

Each test is named after the threat. Expected texts are Redis 7.0's
(`networking.c`); a protocol error replies and then closes the connection.
After every hostile connection the server must still answer other clients
(the `srv` fixture also fails the test if the process died).
"""
import socket
import time

import pytest

from conftest import RespConn, RespError


def still_serving(s):
    with s.conn() as c:
        assert c.cmd("PING") == "PONG"


def send_slowly(sock, data, offsets):
    """Send data in pieces cut at the given offsets, one segment each."""
    last = 0
    for off in list(offsets) + [len(data)]:
        if off > last:
            sock.sendall(data[last:off])
            time.sleep(0.002)
            last = off


# ------------------------------------------------------ framing and splits

REQUEST = (b"*3\r\n$3\r\nSET\r\n$5\r\nsplit\r\n$10\r\nab\r\ncd\x00efg\r\n"
           b"GET split\r\n"
           b"*2\r\n$6\r\nSTRLEN\r\n$5\r\nsplit\r\n")
REPLIES = b"+OK\r\n$10\r\nab\r\ncd\x00efg\r\n:10\r\n"


def test_request_split_at_every_byte_offset(srv):
    with srv.conn() as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for cut in range(1, len(REQUEST)):
            send_slowly(c.sock, REQUEST, [cut])
            got = b"".join(c.raw() for _ in range(3))
            assert got == REPLIES, "split at offset %d: %r" % (cut, got)


def test_request_sent_one_byte_at_a_time(srv):
    with srv.conn() as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        send_slowly(c.sock, REQUEST, range(1, len(REQUEST)))
        assert b"".join(c.raw() for _ in range(3)) == REPLIES


def test_pipelined_inline_and_multibulk_mix(srv):
    with srv.conn() as c:
        c.send(b"SET a 1\r\n*2\r\n$4\r\nINCR\r\n$1\r\na\r\nINCR a\n\r\n\r\n"
               b"GET a\r\n*1\r\n$4\r\nPING\r\nset \"b c\" \"x\\x41y\"\r\nGET \"b c\"\r\n"
               b"ECHO 'single quoted'\r\n")
        want = [b"+OK\r\n", b":2\r\n", b":3\r\n", b"$1\r\n3\r\n", b"+PONG\r\n",
                b"+OK\r\n", b"$3\r\nxAy\r\n", b"$13\r\nsingle quoted\r\n"]
        assert [c.raw() for _ in want] == want


def test_large_pipeline_in_one_write(srv):
    with srv.conn() as c:
        c.send(b"".join(RespConn.encode("INCR", "ctr") for _ in range(20000)))
        for i in range(1, 20001):
            assert c.value() == i


def test_empty_multibulk_and_zero_length_args(srv):
    with srv.conn() as c:
        c.send(b"*0\r\n*-1\r\n*3\r\n$3\r\nSET\r\n$0\r\n\r\n$0\r\n\r\n*2\r\n$3\r\nGET\r\n$0\r\n\r\n")
        assert c.raw() == b"+OK\r\n"
        assert c.raw() == b"$0\r\n\r\n"


# ---------------------------------------------------------- protocol errors

@pytest.mark.parametrize("payload,message", [
    (b"*abc\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
    (b"*3000000000\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
    (b"*1\r\nfoo\r\n", b"-ERR Protocol error: expected '$', got 'f'\r\n"),
    (b"*1\r\n$abc\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b"*1\r\n$-5\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b"*1\r\n$4294967296\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b"SET \"unterminated\r\n", b"-ERR Protocol error: unbalanced quotes in request\r\n"),
], ids=["multibulk-not-a-number", "multibulk-over-int-max", "missing-dollar",
        "bulk-not-a-number", "bulk-negative", "bulk-over-max", "unbalanced-quotes"])
def test_protocol_error_replies_then_closes(srv, payload, message):
    with srv.conn() as c:
        # a valid command first: it must be answered before the error
        c.send(b"PING\r\n" + payload)
        data = c.read_until_closed(5)
        assert data == b"+PONG\r\n" + message
    still_serving(srv)


def test_inline_request_over_64k_closes(srv):
    with srv.conn() as c:
        try:
            c.send(b"SET k " + b"x" * (70 * 1024))     # no newline: the inline buffer grows
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert c.read_until_closed(5) == b"-ERR Protocol error: too big inline request\r\n"
    still_serving(srv)


def test_bulk_over_proto_max_bulk_len_closes(server_factory):
    s = server_factory("--proto-max-bulk-len", "1mb")
    with s.conn() as c:
        c.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n" % (1024 * 1024 + 1))
        assert c.read_until_closed(5) == b"-ERR Protocol error: invalid bulk length\r\n"
    with s.conn() as c:    # exactly the limit is fine
        n = 1024 * 1024
        c.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n%s\r\n" % (n, b"y" * n))
        assert c.value() == "OK"
        assert c.cmd("STRLEN", "k") == n


# ------------------------------------------------------ unauthenticated limits

def test_unauthenticated_multibulk_over_10_elements_closes(server_factory):
    s = server_factory("--requirepass", "pw")
    with s.conn() as c:
        c.send(b"*11\r\n")
        data = c.read_until_closed(5)
        assert data == b"-ERR Protocol error: unauthenticated multibulk length\r\n"
    with s.conn() as c:    # ten elements are still parsed (and refused: NOAUTH)
        c.send(RespConn.encode(*(["MSET"] + ["a"] * 9)))
        assert c.value() == RespError("NOAUTH Authentication required.")
    with s.conn() as c:    # after AUTH the limit is gone
        assert c.cmd("AUTH", "pw") == "OK"
        assert c.cmd(*(["MSET"] + ["k%d" % i for i in range(20)])) == "OK"


def test_unauthenticated_bulk_over_16k_closes(server_factory):
    s = server_factory("--requirepass", "pw")
    with s.conn() as c:
        c.send(b"*2\r\n$4\r\nAUTH\r\n$16385\r\n")
        data = c.read_until_closed(5)
        assert data == b"-ERR Protocol error: unauthenticated bulk length\r\n"
    with s.conn() as c:
        assert c.cmd("AUTH", "pw") == "OK"
        assert c.cmd("SET", "k", "x" * 16385) == "OK"


# ------------------------------------------------------------------ limits

def test_query_buffer_limit_closes_client(server_factory):
    s = server_factory("--client-query-buffer-limit", "1mb")
    with s.conn() as c:
        c.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n" % (3 * 1024 * 1024))
        sent = 0
        chunk = b"z" * 65536
        try:
            while sent < 3 * 1024 * 1024:
                c.send(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = c.read_until_closed(10)
        assert b"+OK" not in data
    still_serving(s)
    assert s.redis().exists("k") == 0


def test_maxclients_refuses_the_extra_connection(server_factory):
    s = server_factory("--maxclients", "5")
    conns = [s.conn() for _ in range(5)]
    try:
        for c in conns:
            assert c.cmd("PING") == "PONG"
        extra = s.conn()
        data = extra.read_until_closed(5)
        extra.close()
        assert data == b"-ERR max number of clients reached\r\n"
        conns.pop().close()
        # a slot is free again once the server has seen the close
        deadline = time.monotonic() + 5
        while True:
            with s.conn() as c:
                c.send(RespConn.encode("PING"))
                v = c.read()[1]
                if v == b"+PONG\r\n":
                    break
            assert time.monotonic() < deadline, "slot not released"
            time.sleep(0.05)
    finally:
        for c in conns:
            c.close()


def test_idle_timeout_closes_idle_clients_only(server_factory):
    s = server_factory("--timeout", "1")
    idle = s.conn()
    busy = s.conn()
    try:
        assert idle.cmd("PING") == "PONG"
        end = time.monotonic() + 2.5
        while time.monotonic() < end:
            assert busy.cmd("PING") == "PONG"
            time.sleep(0.2)
        # idle for 2.5 s with timeout 1: closed (Redis checks in a 10 Hz cron)
        assert idle.read_until_closed(5) == b""
        assert busy.cmd("PING") == "PONG"
    finally:
        idle.close()
        busy.close()


def _obuf_limit_args(s):
    """CONFIG SET arguments for a 2 MB hard output limit in the syntax the
    server reports through CONFIG GET (Redis: 'normal 0 0 0 ...')."""
    with s.conn() as c:
        cur = c.cmd("CONFIG", "GET", "client-output-buffer-limit")
    assert len(cur) == 2, "CONFIG GET client-output-buffer-limit: %r" % cur
    if cur[1].startswith(b"normal"):
        return ["CONFIG", "SET", "client-output-buffer-limit", "normal 2mb 0 0"]
    return ["CONFIG", "SET", "client-output-buffer-limit", "2mb"]


def test_output_buffer_limit_disconnects_a_client_that_never_reads(server_factory):
    srv = server_factory()     # own server: the limit is changed at run time
    with srv.conn() as c:
        assert c.cmd(*_obuf_limit_args(srv)) == "OK"
        c.send(RespConn.encode("SET", "big", "x" * (1024 * 1024)))
        assert c.value() == "OK"
    greedy = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    greedy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        # 300 MB of replies requested; the client does not read
        greedy.sendall(RespConn.encode("GET", "big") * 300)
        time.sleep(1.0)
        total = 0
        end = time.monotonic() + 20
        closed = False
        while time.monotonic() < end:
            try:
                d = greedy.recv(1 << 20)
            except ConnectionResetError:
                closed = True
                break
            if not d:
                closed = True
                break
            total += len(d)
        assert closed, "client not disconnected after %d bytes" % total
        assert total < 100 * 1024 * 1024, "server sent %d bytes before closing" % total
    finally:
        greedy.close()
    still_serving(srv)


@pytest.mark.simcache_only
def test_preauth_deadline_closes_unauthenticated_idle_clients(server_factory):
    # Redis has no pre-auth deadline (a slowloris holds a slot forever);
    # simcache closes unauthenticated connections after preauth-timeout ms.
    s = server_factory("--requirepass", "pw", "--preauth-timeout", "500")
    lurker = s.conn()
    slow = s.conn()
    authed = s.conn()
    try:
        assert authed.cmd("AUTH", "pw") == "OK"
        slow.send(b"*2\r\n$4\r\nAUTH\r\n")          # half a request, then nothing
        assert lurker.read_until_closed(5) == b""
        assert slow.read_until_closed(5) == b""
        assert authed.cmd("PING") == "PONG"       # authenticated: no deadline
    finally:
        lurker.close()
        slow.close()
        authed.close()
