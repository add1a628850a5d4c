"""redis-py 4.3.4 (RESP2) against the real server: every server/connection
command and every keyspace command with its options, checked the way an
application sees them (redis-py's own response parsing), plus the exact
error text through a raw socket where an application would match on it.

redis-py's default pipeline() wraps commands in MULTI/EXEC, which simcache
does not implement; applications use pipeline(transaction=False), so that is
what is tested here.
"""
import threading
import time

import pytest
import redis

from conftest import RespError


def err(srv, *args):
    """Exact error line for a command, through a raw connection."""
    with srv.conn() as c:
        v = c.cmd(*args)
    assert isinstance(v, RespError), "expected an error reply for %r, got %r" % (args, v)
    return str(v)


# ------------------------------------------------------------- connection

def test_ping_echo(r, srv):
    assert r.ping() is True
    with srv.conn() as c:
        assert c.cmd_raw("PING") == b"+PONG\r\n"
        assert c.cmd_raw("PING", "hello") == b"$5\r\nhello\r\n"
    assert r.echo("hi there") == b"hi there"
    assert r.echo(b"\x00\xff\r\n") == b"\x00\xff\r\n"


def test_ping_echo_errors(srv):
    assert err(srv, "ECHO") == "ERR wrong number of arguments for 'echo' command"
    assert err(srv, "PING", "a", "b") == "ERR wrong number of arguments for 'ping' command"


def test_hello_resp2_reply(r, srv):
    for args in [("HELLO",), ("HELLO", "2")]:
        reply = r.execute_command(*args)
        assert isinstance(reply, list) and len(reply) == 14
        d = dict(zip(reply[0::2], reply[1::2]))
        assert set(d) == {b"server", b"version", b"proto", b"id", b"mode", b"role", b"modules"}
        assert d[b"proto"] == 2
        assert isinstance(d[b"id"], int) and d[b"id"] > 0
        assert d[b"role"] == b"master"
        assert d[b"modules"] == []


def test_hello_bad_protocol(srv):
    assert err(srv, "HELLO", "4") == "NOPROTO unsupported protocol version"
    assert err(srv, "HELLO", "1") == "NOPROTO unsupported protocol version"
    assert err(srv, "HELLO", "x") == "ERR Protocol version is not an integer or out of range"


def test_auth_without_password_configured(srv):
    assert err(srv, "AUTH", "pw") == (
        "ERR AUTH <password> called without any password configured for the default user. "
        "Are you sure your configuration is correct?")


def test_auth_flow(server_factory):
    s = server_factory("--requirepass", "pw1")
    with pytest.raises(redis.AuthenticationError):
        s.redis().get("k")
    with s.conn() as c:
        assert c.cmd("GET", "k") == RespError("NOAUTH Authentication required.")
        assert c.cmd("AUTH", "nope") == RespError(
            "WRONGPASS invalid username-password pair or user is disabled.")
        assert c.cmd("AUTH", "pw1") == "OK"
        assert c.cmd("SET", "k", "v") == "OK"
        assert c.cmd("AUTH", "default", "pw1") == "OK"
    r = s.redis(password="pw1")
    assert r.get("k") == b"v"
    r = s.redis(username="default", password="pw1")
    assert r.get("k") == b"v"
    with pytest.raises(redis.ResponseError):
        s.redis(password="bad").get("k")
    # HELLO with AUTH authenticates in one step
    with s.conn() as c:
        reply = c.cmd("HELLO", "2", "AUTH", "default", "pw1")
        assert isinstance(reply, list) and reply[0] == b"server"
        assert c.cmd("GET", "k") == b"v"
    with s.conn() as c:
        assert c.cmd("HELLO", "2", "AUTH", "default", "bad") == RespError(
            "WRONGPASS invalid username-password pair or user is disabled.")


def test_commands_allowed_before_auth(server_factory):
    s = server_factory("--requirepass", "pw1")
    with s.conn() as c:
        assert c.cmd("PING") == RespError("NOAUTH Authentication required.")
        # HELLO without AUTH is refused, QUIT works
        # Redis 7.0 says "the HELLO AUTH <user> <pass> option", 7.2+ says
        # "the HELLO <proto> AUTH <user> <pass> option": either is Redis's text
        assert c.cmd("HELLO", "2") in [RespError(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
            "HELLO %sAUTH <user> <pass> option can be used to authenticate the client and "
            "select the RESP protocol version at the same time" % proto)
            for proto in ("", "<proto> ")]
        assert c.cmd("QUIT") == "OK"


def test_quit_closes_connection(srv):
    with srv.conn() as c:
        assert c.cmd("SET", "k", "v") == "OK"
        c.send(c.encode("QUIT") + c.encode("GET", "k"))
        data = c.read_until_closed(5)
        assert data == b"+OK\r\n"     # the pipelined GET is never answered


def test_reset(server_factory):
    s = server_factory("--requirepass", "pw1")
    with s.conn() as c:
        assert c.cmd("AUTH", "pw1") == "OK"
        assert c.cmd("CLIENT", "SETNAME", "before") == "OK"
        assert c.cmd("RESET") == "RESET"
        # RESET drops authentication when a password is required ...
        assert c.cmd("GET", "k") == RespError("NOAUTH Authentication required.")
        assert c.cmd("AUTH", "pw1") == "OK"
        # ... and the name
        assert c.cmd("CLIENT", "GETNAME") is None


def test_reset_returns_to_resp2(srv):
    with srv.conn() as c:
        c.cmd("HELLO", "3")
        assert c.cmd_raw("GET", "missing") == b"_\r\n"
        assert c.cmd("RESET") == "RESET"
        assert c.cmd_raw("GET", "missing") == b"$-1\r\n"


def test_select(r, srv):
    assert r.execute_command("SELECT", "0") is True
    assert err(srv, "SELECT", "16") == "ERR DB index is out of range"
    assert err(srv, "SELECT", "-1") == "ERR DB index is out of range"
    assert err(srv, "SELECT", "abc") == "ERR value is not an integer or out of range"


# ----------------------------------------------------------------- CLIENT

def test_client_id_name(r):
    cid = r.client_id()
    assert isinstance(cid, int) and cid > 0
    assert r.client_id() == cid               # same pooled connection
    other = r.connection_pool.make_connection()
    other.send_command("CLIENT", "ID")
    assert other.read_response() > cid        # ids increase
    other.disconnect()
    assert r.client_getname() is None
    assert r.client_setname("worker-1") is True
    assert r.client_getname() == "worker-1" or r.client_getname() == b"worker-1"


def test_client_setname_rejects_spaces(srv):
    assert err(srv, "CLIENT", "SETNAME", "a b") == (
        "ERR Client names cannot contain spaces, newlines or special characters.")


@pytest.mark.simcache_only
def test_client_setinfo(srv):
    # CLIENT SETINFO arrived in Redis 7.2 (redis-py 5 sends it on connect)
    with srv.conn() as c:
        assert c.cmd("CLIENT", "SETINFO", "LIB-NAME", "redis-py") == "OK"
        assert c.cmd("CLIENT", "SETINFO", "LIB-VER", "5.0.1") == "OK"
        info = c.cmd("CLIENT", "INFO").decode()
        assert "lib-name=redis-py" in info and "lib-ver=5.0.1" in info
        assert isinstance(c.cmd("CLIENT", "SETINFO", "BADATTR", "x"), RespError)


def test_client_list_and_info(r, srv):
    r.client_setname("lister")
    clients = r.client_list()
    me = [c for c in clients if c["name"] == "lister"]
    assert len(me) == 1
    me = me[0]
    assert int(me["id"]) == r.client_id()
    assert me["addr"].startswith("127.0.0.1:")
    assert "laddr" in me and me["laddr"] == "127.0.0.1:%d" % srv.port
    assert me["cmd"] in ("client|list", "client")
    info = r.client_info()
    assert int(info["id"]) == r.client_id() and info["name"] == "lister"
    # CLIENT LIST ID filters
    only = r.client_list(client_id=[str(r.client_id())])
    assert [int(c["id"]) for c in only] == [r.client_id()]


def test_client_kill(r, srv):
    victim = srv.conn()
    try:
        vid = victim.cmd("CLIENT", "ID")
        assert r.client_kill_filter(_id=vid) == 1
        assert victim.read_until_closed(5) == b""
    finally:
        victim.close()
    victim = srv.conn()
    try:
        victim.cmd("CLIENT", "SETNAME", "v2")
        addr = [c["addr"] for c in r.client_list() if c["name"] == "v2"][0]
        assert r.client_kill(addr) is True
        assert victim.read_until_closed(5) == b""
    finally:
        victim.close()
    assert err(srv, "CLIENT", "KILL", "127.0.0.1:1") == "ERR No such client"
    assert r.client_kill_filter(_id=999999) == 0


def test_client_unknown_subcommand(srv):
    assert err(srv, "CLIENT", "NOPE") == "ERR unknown subcommand 'NOPE'. Try CLIENT HELP."


# ---------------------------------------------------------------- COMMAND

def test_command_count_list_info_docs(r, srv):
    c = srv.conn()
    count = c.cmd("COMMAND", "COUNT")
    names = c.cmd("COMMAND", "LIST")
    # COMMAND LIST also names subcommands ("client|list"); COUNT does not
    assert count == len([n for n in names if b"|" not in n])
    needed = {b"get", b"set", b"ping", b"echo", b"hello", b"auth", b"client", b"command",
              b"info", b"config", b"scan", b"expire", b"incr", b"mget", b"mset"}
    assert needed <= set(names)
    everything = c.cmd("COMMAND")
    assert len(everything) == count
    c.close()
    with srv.conn() as c:
        info = c.cmd("COMMAND", "INFO", "get", "set", "mset", "nosuchcmd")
    get, set_, mset, none = info
    assert get[:6] == [b"get", 2, get[2], 1, 1, 1]
    assert "readonly" in get[2]   # flags are status replies
    assert set_[0] == b"set" and set_[1] == -3 and "write" in set_[2]
    assert mset[0] == b"mset" and mset[1] == -3 and mset[3:6] == [1, -1, 2]
    assert none is None
    with srv.conn() as c:
        docs = c.cmd("COMMAND", "DOCS", "get")
    assert docs[0] == b"get"
    d = dict(zip(docs[1][0::2], docs[1][1::2]))
    assert b"summary" in d and d[b"summary"]
    assert b"group" in d


# ------------------------------------------------------------ INFO/CONFIG

def test_info_sections(r, srv):
    r.set("a", 1)
    r.set("b", 2, ex=100)
    r.get("a")
    r.get("nokey")
    info = r.info()
    assert info["tcp_port"] == srv.port
    assert info["process_id"] == srv.proc.pid
    assert info["connected_clients"] >= 1
    assert info["used_memory"] > 0
    assert info["db0"]["keys"] == 2 and info["db0"]["expires"] == 1
    server = r.info("server")
    assert "uptime_in_seconds" in server and "used_memory" not in server
    stats = r.info("stats")
    assert stats["keyspace_hits"] >= 1 and stats["keyspace_misses"] >= 1
    assert stats["total_commands_processed"] >= 4
    assert "connected_clients" in r.info("clients")
    assert "used_memory" in r.info("memory")
    assert r.info("keyspace")["db0"]["keys"] == 2
    everything = r.info("all")
    assert "tcp_port" in everything and "used_memory" in everything


def test_info_empty_keyspace(r):
    assert r.info("keyspace") == {}


def test_config_get_set(r, srv):
    assert r.config_get("maxmemory") == {"maxmemory": "0"}
    assert r.config_set("maxmemory", "10mb") is True
    assert r.config_get("maxmemory") == {"maxmemory": "10485760"}
    assert r.config_set("maxmemory", "0") is True
    many = r.config_get("max*")
    assert {"maxmemory", "maxclients", "maxmemory-policy"} <= set(many)
    assert r.config_get("port") == {"port": str(srv.port)}
    assert r.config_get("nosuchoption") == {}
    assert r.config_set("maxmemory-policy", "allkeys-lru") is True
    assert r.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
    r.config_set("maxmemory-policy", "noeviction")


def test_config_set_errors(srv):
    assert err(srv, "CONFIG", "SET", "nosuchoption", "1").startswith(
        "ERR Unknown option or number of arguments for CONFIG SET - 'nosuchoption'")
    e = err(srv, "CONFIG", "SET", "maxmemory", "lots")
    assert e.startswith("ERR CONFIG SET failed (possibly related to argument 'maxmemory')"), e


def test_config_resetstat(r):
    r.get("nokey")
    assert r.info("stats")["keyspace_misses"] >= 1
    assert r.config_resetstat() is True
    assert r.info("stats")["keyspace_misses"] == 0


def test_dbsize_flush(r):
    assert r.dbsize() == 0
    r.mset({"a": 1, "b": 2, "c": 3})
    assert r.dbsize() == 3
    assert r.flushdb() is True
    assert r.dbsize() == 0
    r.set("a", 1)
    assert r.flushall() is True
    assert r.dbsize() == 0
    r.set("a", 1)
    assert r.execute_command("FLUSHALL", "SYNC") is True
    r.set("a", 1)
    assert r.execute_command("FLUSHDB", "ASYNC") is True
    assert r.dbsize() == 0


def test_time(r):
    secs, usecs = r.time()
    assert abs(secs + usecs / 1e6 - time.time()) < 5
    assert 0 <= usecs < 1000000


def test_slowlog(r):
    assert r.slowlog_reset() is True
    assert r.config_set("slowlog-log-slower-than", "0") is True
    try:
        r.set("slow", "x")
        r.get("slow")
        n = r.slowlog_len()
        assert n >= 2
        entries = r.slowlog_get(10)
        assert len(entries) >= n   # SLOWLOG LEN itself is logged too
        cmds = [e["command"] for e in entries]
        assert b"SET slow x" in cmds or "SET slow x" in cmds
        e = entries[0]
        assert e["id"] >= 0 and e["duration"] >= 0
        assert abs(e["start_time"] - time.time()) < 60
        assert r.slowlog_reset() is True
    finally:
        r.config_set("slowlog-log-slower-than", "10000")
    assert r.slowlog_len() <= 1       # only the CONFIG SET after the reset


# ---------------------------------------------------------------- strings

def test_get_set_basic(r):
    assert r.get("k") is None
    assert r.set("k", "v") is True
    assert r.get("k") == b"v"
    assert r.set("k", b"\x00bin\r\nary\xff") is True
    assert r.get("k") == b"\x00bin\r\nary\xff"
    assert r.set("empty", "") is True
    assert r.get("empty") == b""
    big = b"x" * (1 << 20)
    assert r.set("big", big) is True
    assert r.get("big") == big


def test_set_expiry_options(r):
    now = time.time()
    assert r.set("ex", "v", ex=100)
    assert 98 <= r.ttl("ex") <= 100
    assert r.set("px", "v", px=100000)
    assert 98000 <= r.pttl("px") <= 100000
    assert r.set("exat", "v", exat=int(now) + 100)
    assert 97 <= r.ttl("exat") <= 100
    assert r.set("pxat", "v", pxat=int(now * 1000) + 100000)
    assert 97000 <= r.pttl("pxat") <= 100000
    assert r.set("short", "v", px=50)
    time.sleep(0.2)
    assert r.get("short") is None
    assert r.exists("short") == 0


def test_set_nx_xx_keepttl_get(r, srv):
    assert r.set("k", "1", nx=True) is True
    assert r.set("k", "2", nx=True) is None
    assert r.get("k") == b"1"
    assert r.set("nokey", "x", xx=True) is None
    assert r.exists("nokey") == 0
    assert r.set("k", "3", xx=True) is True
    assert r.set("k", "4", ex=100) is True
    assert r.set("k", "5", keepttl=True) is True
    assert r.ttl("k") > 90 and r.get("k") == b"5"
    assert r.set("k", "6") is True
    assert r.ttl("k") == -1                        # plain SET clears the TTL
    assert r.set("k", "7", get=True) == b"6"
    assert r.set("new", "1", get=True) is None
    assert r.get("new") == b"1"
    with srv.conn() as c:   # 7.0: NX and GET together
        assert c.cmd("SET", "k", "8", "NX", "GET") == b"7"
        assert c.cmd("SET", "k2", "8", "NX", "GET") is None
    assert r.get("k") == b"7" and r.get("k2") == b"8"


def test_set_option_errors(srv):
    assert err(srv, "SET", "k", "v", "NX", "XX") == "ERR syntax error"
    assert err(srv, "SET", "k", "v", "EX", "10", "PX", "100") == "ERR syntax error"
    assert err(srv, "SET", "k", "v", "EX") == "ERR syntax error"
    assert err(srv, "SET", "k", "v", "BOGUS") == "ERR syntax error"
    assert err(srv, "SET", "k", "v", "EX", "0") == "ERR invalid expire time in 'set' command"
    assert err(srv, "SET", "k", "v", "PX", "-5") == "ERR invalid expire time in 'set' command"
    assert err(srv, "SET", "k", "v", "EX", "ten") == "ERR value is not an integer or out of range"
    assert err(srv, "SET", "k", "v", "KEEPTTL", "EX", "5") == "ERR syntax error"
    assert err(srv, "SET", "k") == "ERR wrong number of arguments for 'set' command"


def test_getex(r):
    r.set("k", "v")
    assert r.getex("k") == b"v"
    assert r.ttl("k") == -1
    assert r.getex("k", ex=100) == b"v" and 98 <= r.ttl("k") <= 100
    assert r.getex("k", px=200000) == b"v" and r.pttl("k") > 190000
    assert r.getex("k", exat=int(time.time()) + 300) == b"v" and r.ttl("k") > 290
    assert r.getex("k", pxat=int(time.time() * 1000) + 400000) == b"v" and r.ttl("k") > 390
    assert r.getex("k", persist=True) == b"v" and r.ttl("k") == -1
    assert r.getex("nokey", ex=10) is None


def test_getex_errors(srv, r):
    r.set("k", "v")
    assert err(srv, "GETEX", "k", "EX", "10", "PERSIST") == "ERR syntax error"
    assert err(srv, "GETEX", "k", "EX", "0") == "ERR invalid expire time in 'getex' command"


def test_getdel_mget_mset_setnx(r):
    r.set("k", "v")
    assert r.getdel("k") == b"v"
    assert r.getdel("k") is None
    assert r.mset({"a": "1", "b": "2", "c": "3"}) is True
    assert r.mget("a", "nokey", "c", "a") == [b"1", None, b"3", b"1"]
    assert r.setnx("a", "9") is False
    assert r.setnx("d", "4") is True
    assert r.get("a") == b"1" and r.get("d") == b"4"
    assert r.msetnx({"e": "5", "a": "x"}) is False
    assert r.exists("e") == 0


def test_mset_odd_arguments(srv):
    assert err(srv, "MSET", "a", "1", "b") == "ERR wrong number of arguments for 'mset' command"


def test_del_unlink_exists_type(r):
    r.mset({"a": 1, "b": 2, "c": 3})
    assert r.exists("a", "a", "nokey", "b") == 3
    assert r.delete("a", "nokey") == 1
    assert r.unlink("b", "c", "c") == 2
    assert r.exists("a", "b", "c") == 0
    r.set("s", "x")
    assert r.type("s") == b"string"
    assert r.type("nokey") == b"none"


def test_expire_family(r):
    r.set("k", "v")
    assert r.ttl("nokey") == -2 and r.pttl("nokey") == -2
    assert r.ttl("k") == -1 and r.pttl("k") == -1
    assert r.expire("nokey", 10) is False
    assert r.expire("k", 100) is True
    assert 99 <= r.ttl("k") <= 100
    assert r.pexpire("k", 50000) is True and 49000 <= r.pttl("k") <= 50000
    assert r.expireat("k", int(time.time()) + 200) is True and 198 <= r.ttl("k") <= 200
    assert r.pexpireat("k", int(time.time() * 1000) + 300000) is True
    assert 298 <= r.ttl("k") <= 300
    assert r.persist("k") is True and r.ttl("k") == -1
    assert r.persist("k") is False
    assert r.expire("k", -1) is True               # non-positive deletes the key
    assert r.exists("k") == 0


def test_expiretime(r):
    r.set("k", "v")
    assert r.execute_command("EXPIRETIME", "k") == -1
    assert r.execute_command("EXPIRETIME", "nokey") == -2
    at = int(time.time()) + 500
    r.expireat("k", at)
    assert r.execute_command("EXPIRETIME", "k") == at
    assert r.execute_command("PEXPIRETIME", "k") == at * 1000


def test_expire_nx_xx_gt_lt(r):
    r.set("k", "v")
    assert r.expire("k", 100, xx=True) is False     # no TTL yet
    assert r.expire("k", 100, gt=True) is False     # no TTL counts as infinite
    assert r.expire("k", 100, lt=True) is True
    assert r.expire("k", 200, nx=True) is False
    assert r.expire("k", 200, xx=True) is True
    assert r.expire("k", 100, gt=True) is False
    assert r.expire("k", 300, gt=True) is True
    assert r.expire("k", 400, lt=True) is False
    assert r.expire("k", 50, lt=True) is True
    assert 48 <= r.ttl("k") <= 50
    assert r.pexpire("k", 10000, lt=True) is True and r.pttl("k") <= 10000


def test_expire_option_errors(srv):
    assert err(srv, "EXPIRE", "k", "10", "NX", "XX") == (
        "ERR NX and XX, GT or LT options at the same time are not compatible")
    assert err(srv, "EXPIRE", "k", "10", "GT", "LT") == (
        "ERR GT and LT options at the same time are not compatible")
    assert err(srv, "EXPIRE", "k", "10", "BOGUS") == "ERR Unsupported option BOGUS"
    assert err(srv, "EXPIRE", "k", "ten") == "ERR value is not an integer or out of range"


def test_incr_family(r):
    assert r.incr("n") == 1
    assert r.incrby("n", 10) == 11
    assert r.decr("n") == 10
    assert r.decrby("n", 3) == 7
    assert r.incrbyfloat("n", 0.5) == 7.5
    assert r.get("n") == b"7.5"
    assert r.incrbyfloat("f", "1e3") == 1000.0
    assert r.get("f") == b"1000"
    assert r.incrbyfloat("g", "3.0e-1") == pytest.approx(0.3)
    assert r.get("g") == b"0.3"
    r.set("big", 2 ** 63 - 2)
    assert r.incr("big") == 2 ** 63 - 1
    r.set("neg", "-5")
    assert r.incr("neg") == -4
    r.set("n", "12", ex=100)
    assert r.incr("n") == 13
    assert r.ttl("n") > 90                          # INCR keeps the TTL


def test_incr_errors(srv, r):
    r.set("s", "abc")
    assert err(srv, "INCR", "s") == "ERR value is not an integer or out of range"
    r.set("sp", " 1")
    assert err(srv, "INCR", "sp") == "ERR value is not an integer or out of range"
    r.set("max", 2 ** 63 - 1)
    assert err(srv, "INCR", "max") == "ERR increment or decrement would overflow"
    assert err(srv, "INCRBY", "n", "x") == "ERR value is not an integer or out of range"
    assert err(srv, "DECRBY", "n", str(-2 ** 63)) == "ERR decrement would overflow"
    assert err(srv, "INCRBYFLOAT", "s", "1") == "ERR value is not a valid float"
    assert err(srv, "INCRBYFLOAT", "n", "abc") == "ERR value is not a valid float"
    assert err(srv, "INCRBYFLOAT", "n", "inf") == "ERR increment would produce NaN or Infinity"


def test_append_strlen(r):
    assert r.append("k", "hello") == 5
    assert r.append("k", " world") == 11
    assert r.get("k") == b"hello world"
    assert r.strlen("k") == 11
    assert r.strlen("nokey") == 0
    r.set("n", 12)
    assert r.append("n", "3") == 3 and r.incr("n") == 124


def test_keys_randomkey(r):
    assert r.randomkey() is None
    assert r.keys("*") == []
    r.mset({"user:1": 1, "user:2": 2, "user:10": 3, "other": 4, "u?x": 5})
    assert sorted(r.keys("user:*")) == [b"user:1", b"user:10", b"user:2"]
    assert sorted(r.keys("user:?")) == [b"user:1", b"user:2"]
    assert sorted(r.keys("user:[12]*")) == [b"user:1", b"user:10", b"user:2"]
    assert sorted(r.keys("user:[^1]")) == [b"user:2"]
    assert r.keys("u\\?x") == [b"u?x"]
    assert len(r.keys()) == 5
    assert r.randomkey() in {b"user:1", b"user:2", b"user:10", b"other", b"u?x"}


def test_scan_match_count_type(r):
    r.mset({"a:%d" % i: i for i in range(200)})
    r.mset({"b:%d" % i: i for i in range(50)})
    seen = list(r.scan_iter(match="a:*", count=7))
    assert sorted(seen) == sorted(b"a:%d" % i for i in range(200))
    assert len(set(r.scan_iter(count=1000))) == 250
    assert len(list(r.scan_iter(_type="string"))) == 250
    assert list(r.scan_iter(_type="list")) == []
    cursor, keys = r.scan(0, count=10)
    assert isinstance(cursor, int) and len(keys) <= 30   # COUNT is a hint


def test_scan_errors(srv):
    assert err(srv, "SCAN", "abc") == "ERR invalid cursor"
    assert err(srv, "SCAN", "0", "COUNT", "0") == "ERR syntax error"
    assert err(srv, "SCAN", "0", "BOGUS", "1") == "ERR syntax error"


def test_scan_full_iteration_while_adding(r, srv):
    """Every key present for the whole iteration is returned exactly once,
    while another connection keeps adding keys (the table grows)."""
    original = {b"orig:%d" % i for i in range(2000)}
    r.mset({k: 1 for k in original})
    stop = threading.Event()

    def writer():
        w = srv.redis()
        i = 0
        while not stop.is_set():
            w.mset({"new:%d:%d" % (i, j): 1 for j in range(50)})
            i += 1
        w.close()

    t = threading.Thread(target=writer)
    t.start()
    try:
        seen = []
        cursor = 0
        while True:
            cursor, keys = r.scan(cursor, count=20)
            seen.extend(keys)
            if cursor == 0:
                break
    finally:
        stop.set()
        t.join()
    orig_seen = [k for k in seen if k.startswith(b"orig:")]
    assert sorted(orig_seen) == sorted(original)       # each exactly once
    assert len(seen) == len(set(seen)), "SCAN returned duplicates while the table grew"


def test_wrongtype_free_errors(srv):
    assert err(srv, "GET") == "ERR wrong number of arguments for 'get' command"
    assert err(srv, "GET", "a", "b") == "ERR wrong number of arguments for 'get' command"
    assert err(srv, "NOSUCH", "x", "y") == (
        "ERR unknown command 'NOSUCH', with args beginning with: 'x' 'y' ")
    assert err(srv, "NOSUCH") == "ERR unknown command 'NOSUCH', with args beginning with: "


def test_pipeline_without_transaction(r):
    p = r.pipeline(transaction=False)
    p.set("a", 1).incr("a").get("a").mget("a", "b").delete("a").get("a").ttl("a")
    assert p.execute() == [True, 2, b"2", [b"2", None], 1, None, -2]
    p = r.pipeline(transaction=False)
    for i in range(1000):
        p.set("k%d" % i, i)
    assert p.execute() == [True] * 1000
    p = r.pipeline(transaction=False)
    for i in range(1000):
        p.get("k%d" % i)
    assert p.execute() == [str(i).encode() for i in range(1000)]


def test_pipeline_error_in_middle(r):
    r.set("s", "abc")
    p = r.pipeline(transaction=False)
    p.set("x", 1).incr("s").get("x")
    res = p.execute(raise_on_error=False)
    assert res[0] is True and res[2] == b"1"
    assert isinstance(res[1], redis.ResponseError)


def test_many_connections_pool(srv):
    pool = redis.ConnectionPool(host="127.0.0.1", port=srv.port, max_connections=20)
    errors = []

    def work(i):
        try:
            c = redis.Redis(connection_pool=pool)
            for j in range(100):
                c.incr("shared")
                c.set("t%d" % i, j)
        except Exception as e:   # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    c = redis.Redis(connection_pool=pool)
    assert int(c.get("shared")) == 1000
    pool.disconnect()


def _check_doc_args(cmd, args, problems):
    for a in args:
        d = dict(zip(a[0::2], a[1::2]))
        if b"name" not in d or b"type" not in d:
            problems.append("%s: argument without name/type: %r" % (cmd, d))
            continue
        if d[b"type"] in (b"oneof", b"block"):
            # redis-cli 7.0 (cliAddArgument) dereferences the nested
            # "arguments" of oneof/block unconditionally: SIGSEGV without it
            if not isinstance(d.get(b"arguments"), list) or not d[b"arguments"]:
                problems.append("%s: %s argument %r has no nested arguments"
                                % (cmd, d[b"type"].decode(), d[b"name"]))
                continue
        if b"arguments" in d:
            _check_doc_args(cmd, d[b"arguments"], problems)


def test_command_docs_shape_that_redis_cli_parses(srv):
    """redis-cli (interactive and piped stdin) builds its help from the full
    COMMAND DOCS reply; every entry must have the shape it walks."""
    with srv.conn() as c:
        docs = c.cmd("COMMAND", "DOCS")
    problems = []

    def walk(entries):
        for name, spec in zip(entries[0::2], entries[1::2]):
            d = dict(zip(spec[0::2], spec[1::2]))
            for k in (b"summary", b"since", b"group"):
                if not isinstance(d.get(k), bytes):
                    problems.append("%s: %s missing or not a string" % (name, k))
            if b"arguments" in d:
                _check_doc_args(name.decode(), d[b"arguments"], problems)
            if b"subcommands" in d:
                for sub in d[b"subcommands"][0::2]:
                    if b"|" not in sub:
                        problems.append("%s: subcommand %r not named 'cmd|sub'" % (name, sub))
                walk(d[b"subcommands"])

    walk(docs)
    assert not problems, "\n".join(problems)
