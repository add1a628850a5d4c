"""The per-connection tenant cache (tenant.c, tenant_of_client) must never
answer for a tenant the connection no longer is, and an exact hit must
never come from a namespace that was dropped.

A connection's tenant and role are resolved once and kept in the client
until AUTH, HELLO AUTH or RESET changes its user. These tests switch the
user on one connection (also inside one pipelined write, so the switch and
the next CACHE.GET run in the same read batch) and check each CACHE.GET
answers from the new tenant's namespaces only."""
import pytest

from conftest import RespError

pytestmark = pytest.mark.simcache_only

USERS = [
    "--user", "root", "rootpw", "role", "admin",
    "--user", "gw", "gwpw", "role", "gateway", "tenant", "gwhome",
    "--user", "alice", "apw", "tenant", "acme",
    "--user", "bob", "bpw", "role", "tenant", "tenant", "globex",
    "--user", "carol", "cpw", "tenant", "initech",
]
P = "What is the refund policy?"


def answer(reply):
    """The response field of a hit (RESP2 flat list or RESP3 map)."""
    if isinstance(reply, dict):
        return reply.get("response", reply.get(b"response"))
    it = iter(reply)
    return dict(zip(it, it)).get(b"response")


@pytest.fixture
def srv(server_factory):
    s = server_factory(*USERS)
    with s.conn() as c:
        for user, pw, text in (("alice", "apw", b"acme refunds"), ("bob", "bpw", b"globex refunds")):
            assert c.cmd("AUTH", user, pw) == "OK"
            assert c.cmd("CACHE.CREATE", "faq") == "OK"
            assert not isinstance(c.cmd("CACHE.PUT", "faq", P, text), RespError)
    return s


def test_reauth_as_another_tenant_never_sees_the_old_tenants_namespace(srv):
    with srv.conn() as c:
        assert c.cmd("AUTH", "alice", "apw") == "OK"
        assert answer(c.cmd("CACHE.GET", "faq", P)) == b"acme refunds"
        assert c.cmd("AUTH", "bob", "bpw") == "OK"
        assert answer(c.cmd("CACHE.GET", "faq", P)) == b"globex refunds"
        assert c.cmd("AUTH", "carol", "cpw") == "OK"
        got = c.cmd("CACHE.GET", "faq", P)
        assert isinstance(got, RespError) and "no such namespace 'faq'" in got.args[0], got
        # HELLO with AUTH switches the user too
        hello = c.cmd("HELLO", "3", "AUTH", "alice", "apw")
        assert not isinstance(hello, RespError), hello
        assert answer(c.cmd("CACHE.GET", "faq", P)) == b"acme refunds"
        # a failed AUTH keeps the user (and its tenant)
        assert isinstance(c.cmd("AUTH", "bob", "wrong"), RespError)
        assert answer(c.cmd("CACHE.GET", "faq", P)) == b"acme refunds"
        # RESET drops to the default user, who must authenticate again
        assert c.cmd("RESET") == "RESET"
        got = c.cmd("CACHE.GET", "faq", P)
        assert isinstance(got, RespError) and got.args[0].startswith("NOAUTH"), got


def test_user_switch_inside_one_pipelined_batch(srv):
    with srv.conn() as c:
        c.send(c.encode("AUTH", "alice", "apw") + c.encode("CACHE.GET", "faq", P) +
               c.encode("AUTH", "bob", "bpw") + c.encode("CACHE.GET", "faq", P) +
               c.encode("AUTH", "carol", "cpw") + c.encode("CACHE.GET", "faq", P) +
               c.encode("AUTH", "alice", "apw") + c.encode("CACHE.GET", "faq", P))
        replies = [c.value() for _ in range(8)]
        assert replies[0::2] == ["OK"] * 4
        assert answer(replies[1]) == b"acme refunds"
        assert answer(replies[3]) == b"globex refunds"
        assert isinstance(replies[5], RespError) and "no such namespace" in replies[5].args[0]
        assert answer(replies[7]) == b"acme refunds"


def test_role_is_not_lost_or_borrowed_through_the_cache(srv):
    with srv.conn() as c:
        assert c.cmd("AUTH", "gw", "gwpw") == "OK"
        # the gateway acts for acme with TENANT, and its own tenant has no faq
        assert answer(c.cmd("CACHE.GET", "faq", P, "TENANT", "acme")) == b"acme refunds"
        got = c.cmd("CACHE.GET", "faq", P)
        assert isinstance(got, RespError) and "no such namespace 'faq'" in got.args[0], got
        assert c.cmd("CACHE.CREATE", "faq") == "OK"          # in gwhome, cached from now on
        assert answer(c.cmd("CACHE.GET", "faq", P, "TENANT", "globex")) == b"globex refunds"
        # a tenant user on the same connection loses the gateway's TENANT right
        assert c.cmd("AUTH", "alice", "apw") == "OK"
        got = c.cmd("CACHE.GET", "faq", P, "TENANT", "globex")
        assert isinstance(got, RespError) and "TENANT argument needs" in got.args[0], got
        assert answer(c.cmd("CACHE.GET", "faq", P)) == b"acme refunds"


def test_dropped_namespace_is_never_served_an_exact_hit(srv):
    with srv.conn() as a, srv.conn() as b:
        assert a.cmd("AUTH", "alice", "apw") == "OK"
        assert b.cmd("AUTH", "alice", "apw") == "OK"
        assert answer(a.cmd("CACHE.GET", "faq", P)) == b"acme refunds"
        assert b.cmd("CACHE.DROP", "faq") == "OK"
        got = a.cmd("CACHE.GET", "faq", P)
        assert isinstance(got, RespError) and "no such namespace 'faq'" in got.args[0], got
        # recreated under the same name: empty, the old entry is gone
        assert b.cmd("CACHE.CREATE", "faq") == "OK"
        assert answer(a.cmd("CACHE.GET", "faq", P)) is None
        # hit, drop and lookup in one pipelined batch on one connection
        assert not isinstance(a.cmd("CACHE.PUT", "faq", P, "again"), RespError)
        a.send(a.encode("CACHE.GET", "faq", P) + a.encode("CACHE.DROP", "faq") +
               a.encode("CACHE.GET", "faq", P))
        r = [a.value() for _ in range(3)]
        assert answer(r[0]) == b"again" and r[1] == "OK"
        assert isinstance(r[2], RespError) and "no such namespace" in r[2].args[0], r[2]
