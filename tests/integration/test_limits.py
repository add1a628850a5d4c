"""Rate limits through real clients: LIMIT.* (token buckets with FIFO wait
queues) and redis-cell's CL.THROTTLE, over raw RESP2/RESP3 sockets and
redis-py.

Threats covered: a refill rate that is off over seconds (loose tolerance:
this is a correctness check, not a benchmark); a multi-bucket take that
half-happens; a later small waiter served before an earlier big one; a
queue that grows past its bound; a wait that outlives MAXWAIT; queue depth
that INFO/LIMIT.INFO do not show while clients wait (it is the leading
indicator of capacity trouble); a disconnected waiter that stays queued or
still consumes tokens; a parked TAKE whose reply overtakes or is overtaken
by the same client's pipelined replies; a CL.THROTTLE reply that differs
from redis-cell's shape or numbers; a waiter that blocks shutdown.

Every test uses its own bucket names (FLUSHALL does not clear limits)."""
import socket
import threading
import time
import uuid

import pytest
import redis

from conftest import RespConn, RespError

pytestmark = pytest.mark.simcache_only


def name(tag):
    return "%s-%s" % (tag, uuid.uuid4().hex[:8])


def as_dict(v):
    """A TAKE/INFO reply as a dict whatever the protocol (RESP2: flat)."""
    if isinstance(v, dict):
        return {k.decode() if isinstance(k, bytes) else k: v[k] for k in v}
    return {v[i].decode(): v[i + 1] for i in range(0, len(v), 2)}


def take(c, *args):
    return as_dict(c.cmd("LIMIT.TAKE", *args))


def info(c, b):
    return as_dict(c.cmd("LIMIT.INFO", b))


def park(c, w, b, wait_ms, depth=1):
    """Sends LIMIT.TAKE b WAIT wait_ms on w (not read), and waits until c
    sees bucket b's queue at `depth` waiters."""
    w.send(w.encode("LIMIT.TAKE", b, "WAIT", wait_ms))
    assert wait_for(lambda: info(c, b)["queue_depth"] == depth)


def wait_for(pred, timeout=5.0, step=0.01):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return False


def test_set_take_reply_shape_resp2_and_resp3(srv):
    b = name("shape")
    with srv.conn() as c:
        assert c.cmd("LIMIT.SET", b, "RATE", 10, "PER", 1, "BURST", 3) == "OK"
        c.send(c.encode("LIMIT.TAKE", b, "COST", 2))
        v, raw = c.read()
        assert raw == (b"*10\r\n$7\r\ngranted\r\n:1\r\n$6\r\nreason\r\n$2\r\nok\r\n"
                       b"$14\r\nretry_after_ms\r\n:0\r\n$9\r\nwaited_ms\r\n:0\r\n"
                       b"$9\r\nremaining\r\n*1\r\n:1\r\n")
        d = take(c, b, "COST", 2)
        assert d["granted"] == 0 and d["reason"] == b"limited"
        assert d["remaining"] == [1]
        assert 1 <= d["retry_after_ms"] <= 100        # 1 token at 10/s
        assert c.cmd("HELLO", 3)[b"proto"] == 3
        d = c.cmd("LIMIT.TAKE", b)
        assert isinstance(d, dict) and d[b"granted"] == 1 and d[b"reason"] == b"ok"


def test_errors(srv):
    b = name("err")
    with srv.conn() as c:
        assert c.cmd("LIMIT.TAKE", "nope-x") == RespError("ERR no such limit 'nope-x'")
        assert c.cmd("LIMIT.INFO", "nope-x") == RespError("ERR no such limit 'nope-x'")
        assert c.cmd("LIMIT.SET", b, "RATE", 1, "PER", 1, "BURST", 5) == "OK"
        e = c.cmd("LIMIT.TAKE", b, "COST", 6)
        assert isinstance(e, RespError) and "could never be granted" in e.args[0]
        e = c.cmd("LIMIT.TAKE", b, b)
        assert isinstance(e, RespError) and "named twice" in e.args[0]
        assert c.cmd("LIMIT.TAKE", b, "nope-y") == RespError("ERR no such limit 'nope-y'")
        assert isinstance(c.cmd("LIMIT.SET", b, "RATE", 0, "PER", 1, "BURST", 5), RespError)
        assert isinstance(c.cmd("LIMIT.SET", b, "RATE", 1, "PER", "0.0001", "BURST", 5),
                          RespError)
        assert isinstance(c.cmd("LIMIT.SET", b, "RATE", 1, "PER", 1, "QUEUE", 5), RespError)
        assert c.cmd("LIMIT.SET", b, "RATE", 1, "PER", 1, "BURST", 5, "BOGUS") == \
            RespError("ERR syntax error")
        assert info(c, b)["tokens"] == b"5"          # nothing taken by the errors


def test_list_and_del(r):
    a, b = name("lst-a"), name("lst-b")
    for x in (a, b):
        assert r.execute_command("LIMIT.SET", x, "RATE", 1, "PER", "0.5", "BURST", 1) == b"OK"
    names = r.execute_command("LIMIT.LIST", "lst-*")
    assert a.encode() in names and b.encode() in names and names == sorted(names)
    assert r.execute_command("LIMIT.DEL", a, "nope-z") == 1
    assert a.encode() not in r.execute_command("LIMIT.LIST")
    d = as_dict(r.execute_command("LIMIT.INFO", b))
    assert d["per_ms"] == b"500" and d["burst"] == 1 and d["queue_max"] == 1000


def test_rate_accuracy_over_two_seconds(srv):
    """50 tokens/s, polled every ~5 ms for 2 s after draining: ~100 granted
    (loose bounds: a loaded CI machine may delay the last polls)."""
    b = name("rate")
    with srv.conn() as c:
        c.cmd("LIMIT.SET", b, "RATE", 50, "PER", 1, "BURST", 5)
        assert take(c, b, "COST", 5)["granted"] == 1
        t0 = time.monotonic()
        granted = 0
        while time.monotonic() - t0 < 2.0:
            granted += take(c, b)["granted"]
            time.sleep(0.005)
        elapsed = time.monotonic() - t0
        assert 0.85 * 50 * 2.0 <= granted <= 50 * elapsed + 1, (granted, elapsed)


def test_multi_bucket_take_is_atomic(srv):
    model, user = name("model"), name("user")
    with srv.conn() as c:
        c.cmd("LIMIT.SET", model, "RATE", 1, "PER", 3600, "BURST", 100)
        c.cmd("LIMIT.SET", user, "RATE", 1, "PER", 3600, "BURST", 10)
        assert take(c, user, "COST", 9)["granted"] == 1
        d = take(c, model, user, "COST", 2)
        assert d["granted"] == 0 and d["remaining"] == [100, 1]
        assert info(c, model)["tokens"].startswith(b"100")
        d = take(c, model, user, "COST", 1)
        assert d["granted"] == 1 and d["remaining"] == [99, 0]


def _waiter(port, args, out, key):
    with RespConn(port) as c:
        c.send(c.encode("LIMIT.TAKE", *args))
        v = as_dict(c.value())
        out[key] = (time.monotonic(), v)


def test_fifo_fairness_among_waiting_clients(srv):
    """A big request queued first is served before small ones queued after
    it, although the small ones could have been served earlier."""
    b = name("fifo")
    with srv.conn() as c:
        c.cmd("LIMIT.SET", b, "RATE", 10, "PER", 1, "BURST", 10)
        assert take(c, b, "COST", 10)["granted"] == 1
        out, threads = {}, []
        for key, cost in (("big", 8), ("s1", 1), ("s2", 1)):
            t = threading.Thread(target=_waiter,
                                 args=(srv.port, [b, "COST", cost, "WAIT", 5000], out, key))
            t.start()
            threads.append(t)
            depth = len(threads)
            assert wait_for(lambda: info(c, b)["queue_depth"] == depth)
        for t in threads:
            t.join(10)
    assert set(out) == {"big", "s1", "s2"}
    assert all(v["granted"] == 1 for _, v in out.values())
    assert out["big"][0] <= out["s1"][0] <= out["s2"][0]
    assert out["big"][1]["waited_ms"] >= 300        # 8 tokens at 10/s from empty


def test_bounded_queue_rejects_at_once(srv):
    b = name("bound")
    with srv.conn() as c, srv.conn() as w:
        c.cmd("LIMIT.SET", b, "RATE", 1, "PER", 60, "BURST", 1, "QUEUE", 1)
        assert take(c, b)["granted"] == 1
        park(c, w, b, 3000)
        t0 = time.monotonic()
        d = take(c, b, "WAIT", 3000)
        assert time.monotonic() - t0 < 1.0
        assert d["granted"] == 0 and d["reason"] == b"queue_full"
        assert d["retry_after_ms"] > 60000          # two tokens at 1/min
        # LIMIT.DEL answers the waiter with a denial
        assert c.cmd("LIMIT.DEL", b) == 1
        d = as_dict(w.value())
        assert d["granted"] == 0 and d["reason"] == b"deleted"


def test_maxwait_expiry_reply(srv):
    b = name("maxwait")
    with srv.conn() as c:
        c.cmd("LIMIT.SET", b, "RATE", 1, "PER", 60, "BURST", 1, "MAXWAIT", 200)
        assert take(c, b)["granted"] == 1
        t0 = time.monotonic()
        d = take(c, b, "WAIT", 10000)
        dt = time.monotonic() - t0
        assert d["granted"] == 0 and d["reason"] == b"timeout"
        assert 0.15 <= dt < 5.0, dt
        assert 190 <= d["waited_ms"] < 5000
        assert info(c, b)["timed_out"] == 1


def test_queue_depth_in_limit_info_and_info(server_factory):
    s = server_factory()
    b = name("depth")
    conns = []
    with s.conn() as c:
        c.cmd("LIMIT.SET", b, "RATE", 1, "PER", 60, "BURST", 1)
        assert take(c, b)["granted"] == 1
        for i in range(3):
            conns.append(s.conn())
            park(c, conns[-1], b, 20000, depth=i + 1)
        time.sleep(0.2)
        d = info(c, b)
        assert d["queue_depth"] == 3 and d["queued_cost"] == 3
        assert d["oldest_wait_ms"] >= 150
        text = c.cmd("INFO", "limits").decode()
        fields = dict(l.split(":", 1) for l in text.split("\r\n") if ":" in l)
        assert fields["limit_buckets"] == "1"
        assert fields["limit_queue_depth"] == "3"
        assert int(fields["limit_oldest_wait_ms"]) >= 150
        assert "# Limits" in c.cmd("INFO").decode()     # a default section
        c.cmd("LIMIT.DEL", b)
        for w in conns:
            assert as_dict(w.value())["reason"] == b"deleted"
            w.close()


def test_waiting_client_that_disconnects_leaves_the_queue(srv):
    b = name("gone")
    with srv.conn() as c:
        c.cmd("LIMIT.SET", b, "RATE", 2, "PER", 1, "BURST", 1)
        assert take(c, b)["granted"] == 1
        w = srv.conn()
        park(c, w, b, 20000)
        w.sock.shutdown(socket.SHUT_RDWR)
        w.close()
        assert wait_for(lambda: info(c, b)["queue_depth"] == 0, timeout=3.0)
        time.sleep(0.6)                               # one token refilled
        d = info(c, b)
        assert float(d["tokens"]) >= 1.0              # not consumed for the gone client
        assert d["granted"] == 1 and c.cmd("PING") == "PONG"


def test_pipelined_take_wait_and_get_replies_in_order(srv):
    b = name("pipe")
    with srv.conn() as c:
        assert c.cmd("SET", "pipe-key", "v1") == "OK"
        c.cmd("LIMIT.SET", b, "RATE", 10, "PER", 1, "BURST", 1)
        assert take(c, b)["granted"] == 1
        c.send(c.encode("LIMIT.TAKE", b, "WAIT", 3000) + c.encode("GET", "pipe-key") +
               c.encode("LIMIT.TAKE", b) + c.encode("PING"))
        d = as_dict(c.value())
        assert d["granted"] == 1 and d["waited_ms"] >= 50
        assert c.value() == b"v1"
        assert as_dict(c.value())["granted"] == 0   # ran after the wait, bucket empty again
        assert c.value() == "PONG"


def test_redis_py_take_wait(r):
    b = name("py")
    r.execute_command("LIMIT.SET", b, "RATE", 20, "PER", 1, "BURST", 2)
    t0 = time.monotonic()
    got = [as_dict(r.execute_command("LIMIT.TAKE", b, "WAIT", 5000))["granted"]
           for _ in range(6)]
    assert got == [1] * 6
    assert time.monotonic() - t0 >= 0.15             # 4 tokens at 20/s after the burst


def test_cl_throttle_reply_shape_and_burst_sequence(srv, r):
    k = name("cl")
    with srv.conn() as c:
        assert c.cmd_raw("CL.THROTTLE", k, 15, 30, 60, 1) == \
            b"*5\r\n:0\r\n:16\r\n:15\r\n:-1\r\n:2\r\n"
        assert c.cmd("CL.THROTTLE", k, 15, 30, 60) == [0, 16, 14, -1, 4]
    k2 = name("cl")
    seq = [r.execute_command("CL.THROTTLE", k2, 2, 1, 60) for _ in range(4)]
    assert seq[0] == [0, 3, 2, -1, 60]
    assert seq[1] == [0, 3, 1, -1, 120]
    assert seq[2] == [0, 3, 0, -1, 180]
    assert seq[3] == [1, 3, 0, 60, 180]
    # quantity 0 peeks without taking
    assert r.execute_command("CL.THROTTLE", k2, 2, 1, 60, 0)[0] == 0
    with pytest.raises(redis.ResponseError):
        r.execute_command("CL.THROTTLE", k2, 2, 0, 60)
    with pytest.raises(redis.ResponseError):
        r.execute_command("CL.THROTTLE", k2, "x", 1, 60)
    fields = r.info("limits")
    assert fields["limit_cl_cells"] >= 2


def test_shutdown_answers_waiters(server_factory):
    s = server_factory()
    b = name("shut")
    with s.conn() as c:
        c.cmd("LIMIT.SET", b, "RATE", 1, "PER", 60, "BURST", 1)
        assert take(c, b)["granted"] == 1
        w = s.conn()
        park(c, w, b, 0)
    assert s.stop() == 0
    d = as_dict(w.value())
    assert d["granted"] == 0 and d["reason"] == b"shutdown"
    w.close()
