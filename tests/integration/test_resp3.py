"""RESP3 on the wire (after HELLO 3), checked byte for byte where the
format is the point: the HELLO map, `_` nulls, maps for CONFIG GET,
verbatim strings for INFO/CLIENT INFO, and that a connection that never
sent HELLO 3 keeps getting RESP2 (hiredis 0.14 and redis-py 4 rely on it).

Doubles: no string/keyspace command answers a double in Redis 7.0
(INCRBYFLOAT stays a bulk string in RESP3), so the test pins that; the
RESP reader in conftest decodes `,` for the commands that do use it.
"""
from conftest import RespError


def hello3(c):
    c.send(c.encode("HELLO", "3"))
    v, raw = c.read()
    return v, raw


def test_hello3_map_shape(srv):
    with srv.conn() as c:
        v, raw = hello3(c)
        assert raw.startswith(b"%7\r\n")
        assert list(v) == ["server", "version", "proto", "id", "mode", "role", "modules"] or \
            list(v) == [b"server", b"version", b"proto", b"id", b"mode", b"role", b"modules"]
        d = {(k.decode() if isinstance(k, bytes) else k): val for k, val in v.items()}
        assert d["proto"] == 3
        assert isinstance(d["id"], int) and d["id"] == c.cmd("CLIENT", "ID")
        assert d["modules"] == []
        assert b"$7\r\nmodules\r\n*0\r\n" in raw
        assert b"$5\r\nproto\r\n:3\r\n" in raw


def test_hello_without_args_reports_current_protocol(srv):
    with srv.conn() as c:
        hello3(c)
        c.send(c.encode("HELLO"))
        v, raw = c.read()
        assert raw.startswith(b"%7\r\n")
        c.send(c.encode("HELLO", "2"))
        v, raw = c.read()
        assert raw.startswith(b"*14\r\n")
        assert c.cmd_raw("GET", "missing") == b"$-1\r\n"


def test_null_is_underscore(srv):
    with srv.conn() as c:
        hello3(c)
        assert c.cmd_raw("GET", "missing") == b"_\r\n"
        assert c.cmd_raw("SET", "k", "v") == b"+OK\r\n"
        assert c.cmd_raw("MGET", "k", "missing") == b"*2\r\n$1\r\nv\r\n_\r\n"
        assert c.cmd_raw("SET", "k", "v", "NX") == b"_\r\n"
        assert c.cmd_raw("SET", "n", "1", "GET") == b"_\r\n"
        assert c.cmd_raw("GETDEL", "missing") == b"_\r\n"
        assert c.cmd_raw("CLIENT", "GETNAME") == b"_\r\n"
        assert c.cmd_raw("RANDOMKEY") in (b"$1\r\nk\r\n", b"$1\r\nn\r\n")


def test_resp2_connection_never_sees_resp3_types(srv):
    with srv.conn() as c:
        assert c.cmd_raw("GET", "missing") == b"$-1\r\n"
        assert c.cmd_raw("MGET", "missing") == b"*1\r\n$-1\r\n"
        raw = c.cmd_raw("CONFIG", "GET", "maxmemory")
        assert raw == b"*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"
        assert c.cmd_raw("INFO", "server").startswith(b"$")


def test_config_get_is_a_map(srv):
    with srv.conn() as c:
        hello3(c)
        raw = c.cmd_raw("CONFIG", "GET", "maxmemory")
        assert raw == b"%1\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"
        v = c.cmd("CONFIG", "GET", "max*")
        assert isinstance(v, dict) and b"maxmemory" in v and b"maxclients" in v
        assert c.cmd_raw("CONFIG", "GET", "nosuchoption") == b"%0\r\n"


def test_info_and_client_info_are_verbatim(srv):
    with srv.conn() as c:
        hello3(c)
        c.send(c.encode("INFO", "server"))
        v, raw = c.read()
        assert raw.startswith(b"=") and v.fmt == b"txt"
        assert b"# Server" in v
        c.send(c.encode("CLIENT", "INFO"))
        v, raw = c.read()
        assert raw.startswith(b"=") and v.fmt == b"txt" and b"id=" in v


def test_doubles_and_numbers(srv):
    with srv.conn() as c:
        hello3(c)
        # INCRBYFLOAT answers a bulk string in both protocols (Redis 7.0)
        assert c.cmd_raw("INCRBYFLOAT", "f", "1.5") == b"$3\r\n1.5\r\n"
        assert c.cmd_raw("INCR", "i") == b":1\r\n"
        assert c.cmd_raw("EXISTS", "i", "f", "missing") == b":2\r\n"
        assert c.cmd_raw("TTL", "i") == b":-1\r\n"


def test_errors_unchanged_in_resp3(srv):
    with srv.conn() as c:
        hello3(c)
        assert c.cmd_raw("GET") == b"-ERR wrong number of arguments for 'get' command\r\n"
        c.cmd("SET", "s", "x")
        assert c.cmd("INCR", "s") == RespError("ERR value is not an integer or out of range")


def test_command_docs_is_a_map(srv):
    with srv.conn() as c:
        hello3(c)
        v = c.cmd("COMMAND", "DOCS", "get")
        assert isinstance(v, dict) and b"get" in v
        assert isinstance(v[b"get"], dict) and b"summary" in v[b"get"]


def test_hello3_pipelined_with_commands(srv):
    with srv.conn() as c:
        c.send(c.encode("HELLO", "3") + c.encode("GET", "missing") + c.encode("PING"))
        v, raw = c.read()
        assert raw.startswith(b"%7\r\n")
        assert c.raw() == b"_\r\n"
        assert c.raw() == b"+PONG\r\n"
