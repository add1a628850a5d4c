"""Tenants, roles, the cost ledger and budgets, through the real server.

Users come from the command line as from a config file:
`--user <name> <password> [role admin|gateway|tenant] [tenant <id>]`,
prices from `--price <model> <usd per 1M in> <usd per 1M out>`."""
import random
import threading
import time

import pytest

from conftest import as_dict
import redis

pytestmark = pytest.mark.simcache_only

USERS = [
    "--user", "root", "rootpw", "role", "admin",
    "--user", "gw", "gwpw", "role", "gateway",
    "--user", "alice", "apw", "tenant", "acme",
    "--user", "bob", "bpw", "role", "tenant", "tenant", "globex",
    "--user", "carol", "cpw", "tenant", "initech",
    "--price", "gpt-x", "2.5", "10",
    "--price", "cheap", "0.15", "0.6",
]



@pytest.fixture
def users_server(server_factory):
    return server_factory(*USERS)


def login(s, user, pw):
    return s.redis(username=user, password=pw)


def test_tenant_scoped_namespace_names(users_server):
    a = login(users_server, "alice", "apw")
    b = login(users_server, "bob", "bpw")
    a.execute_command("CACHE.CREATE", "faq")
    b.execute_command("CACHE.CREATE", "faq")      # same name, other tenant: no clash
    a.execute_command("CACHE.PUT", "faq", "What is the refund policy?", "acme refunds")
    b.execute_command("CACHE.PUT", "faq", "What is the refund policy?", "globex refunds")
    assert as_dict(a.execute_command("CACHE.GET", "faq", "What is the refund policy?"))[
        "response"] == b"acme refunds"
    assert as_dict(b.execute_command("CACHE.GET", "faq", "What is the refund policy?"))[
        "response"] == b"globex refunds"
    c = login(users_server, "carol", "cpw")
    with pytest.raises(redis.ResponseError, match="no such namespace 'faq'"):
        c.execute_command("CACHE.GET", "faq", "What is the refund policy?")
    assert c.execute_command("CACHE.LIST") == []
    assert a.execute_command("CACHE.LIST") == [b"faq"]


def test_roles(users_server):
    a = login(users_server, "alice", "apw")
    gw = login(users_server, "gw", "gwpw")
    root = login(users_server, "root", "rootpw")
    # tenant users: no TENANT argument (not even their own), no budgets, no admin commands
    with pytest.raises(redis.ResponseError, match="^the TENANT argument needs"):
        a.execute_command("CACHE.CREATE", "x", "TENANT", "globex")
    with pytest.raises(redis.ResponseError, match="^the TENANT argument needs"):
        a.execute_command("CACHE.LIST", "TENANT", "acme")
    for cmd in (("TENANT.BUDGET", "acme", "10"), ("CONFIG", "GET", "maxmemory"),
                ("FLUSHALL",), ("FLUSHDB",), ("TENANT.USAGE", "globex")):
        with pytest.raises(redis.exceptions.NoPermissionError):
            a.execute_command(*cmd)
    assert as_dict(a.execute_command("TENANT.USAGE", "acme"))["tenant"] == b"acme"
    # the gateway acts for tenants, but is not an admin
    gw.execute_command("CACHE.CREATE", "faq", "TENANT", "acme")
    gw.execute_command("CACHE.PUT", "faq", "hello there", "from gw", "TENANT", "acme")
    assert as_dict(a.execute_command("CACHE.GET", "faq", "hello there"))["response"] == b"from gw"
    with pytest.raises(redis.exceptions.NoPermissionError):
        gw.execute_command("TENANT.BUDGET", "acme", "10")
    with pytest.raises(redis.exceptions.NoPermissionError):
        gw.execute_command("CONFIG", "SET", "maxmemory", "0")
    # admin may do all of it
    assert root.execute_command("TENANT.BUDGET", "acme", "10") == b"OK"
    assert root.execute_command("CONFIG", "GET", "maxmemory") == [b"maxmemory", b"0"]
    assert as_dict(root.execute_command("TENANT.USAGE", "acme"))["budget_nusd"] == 10 * 10**9
    with pytest.raises(redis.ResponseError, match="no such tenant 'nobody'"):
        root.execute_command("TENANT.USAGE", "nobody")


def test_default_user_is_admin_of_tenant_default(r):
    assert as_dict(r.execute_command("TENANT.USAGE"))["tenant"] == b"default"
    assert r.execute_command("TENANT.BUDGET", "default", "0") == b"OK"


def test_isolation_under_concurrent_inserts_and_expiry(users_server):
    """Several tenants store the same prompts with tenant-unique answers;
    every tenant queries every prompt and paraphrase while inserts and
    expiry run: not one foreign answer may be served."""
    tenants = {"alice": ("apw", "acme"), "bob": ("bpw", "globex"), "carol": ("cpw", "initech")}
    prompts = ["How do I reset my password?", "What is the refund policy for annual plans?",
               "How can I export my data to CSV?", "Which regions is the service available in?",
               "How do I invite a colleague to my workspace?", "Can I pay by bank transfer?"]
    paraphrases = ["how do I reset my password please", "refund policy for annual plans",
                   "How can I export all my data to CSV", "which regions is the service in",
                   "how do I invite a colleague to the workspace", "can I pay by bank transfer"]
    for user, (pw, _) in tenants.items():
        c = login(users_server, user, pw)
        c.execute_command("CACHE.CREATE", "faq", "TTL", "1")
    stop = time.monotonic() + 3.0
    foreign, served, errors = [], [0], []

    def writer(user, pw, tname):
        c = login(users_server, user, pw)
        rnd = random.Random(user)
        try:
            while time.monotonic() < stop:
                p = rnd.choice(prompts + ["unique %s noise %d" % (tname, rnd.randrange(10**6))])
                ttl = rnd.choice(["1", "2", "100"])
                c.execute_command("CACHE.PUT", "faq", p, "answer-of-%s" % tname, "TTL", ttl)
        except Exception as e:          # noqa: BLE001 - reported below
            errors.append(repr(e))

    def reader(user, pw, tname):
        c = login(users_server, user, pw)
        try:
            while time.monotonic() < stop:
                for q in prompts + paraphrases:
                    d = as_dict(c.execute_command("CACHE.GET", "faq", q, "STALE"))
                    if d["tier"] != b"miss":
                        served[0] += 1
                        if d["response"] != ("answer-of-%s" % tname).encode():
                            foreign.append((tname, q, d["response"]))
        except Exception as e:          # noqa: BLE001
            errors.append(repr(e))

    threads = []
    for user, (pw, tname) in tenants.items():
        threads.append(threading.Thread(target=writer, args=(user, pw, tname)))
        threads.append(threading.Thread(target=reader, args=(user, pw, tname)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert foreign == []
    assert served[0] > 50         # the test did exercise hits


def test_ledger_exactness(users_server):
    gw = login(users_server, "gw", "gwpw")
    gw.execute_command("CACHE.CREATE", "l", "TENANT", "acme")
    # COST: 0.000000001 + 1.5 + 0.123456789 USD; TOKENS priced per 1M tokens
    gw.execute_command("CACHE.PUT", "l", "prompt one", "r1", "COST", "0.000000001", "TENANT", "acme")
    gw.execute_command("CACHE.PUT", "l", "prompt two", "r2", "COST", "1.5", "TENANT", "acme")
    gw.execute_command("CACHE.PUT", "l", "prompt three", "r3", "COST", "0.123456789",
                       "TENANT", "acme")
    # gpt-x: 1234 in * 2.5/1M + 567 out * 10/1M = 0.003085 + 0.00567 = 0.008755 USD
    gw.execute_command("CACHE.PUT", "l", "prompt four", "r4", "TOKENS", "1234", "567",
                       "MODEL", "gpt-x", "TENANT", "acme")
    # cheap: 7 in * 0.15/1M = 1.05e-6, 3 out * 0.6/1M = 1.8e-6 -> 1050 + 1800 nano-USD
    gw.execute_command("CACHE.PUT", "l", "prompt five", "r5", "TOKENS", "7", "3",
                       "MODEL", "cheap", "TENANT", "acme")
    spend = 1 + 1500000000 + 123456789 + 8755000 + 2850
    u = as_dict(gw.execute_command("TENANT.USAGE"))   # gateway's own tenant: untouched
    assert u["spend_nusd"] == 0
    a = login(users_server, "alice", "apw")
    u = as_dict(a.execute_command("TENANT.USAGE"))
    assert u["spend_nusd"] == spend and u["puts"] == 5
    # savings: two exact hits on prompt two, one on four, one miss
    for q in ("prompt two", "PROMPT TWO!", "prompt four", "something unrelated entirely"):
        a.execute_command("CACHE.GET", "l", q)
    u = as_dict(a.execute_command("TENANT.USAGE"))
    assert u["saved_nusd"] == 2 * 1500000000 + 8755000
    assert u["tokens_saved"] == 1234 + 567
    assert (u["hits_exact"], u["hits_semantic"], u["misses"]) == (3, 0, 1)
    with pytest.raises(redis.ResponseError, match="no price for model 'unknown'"):
        a.execute_command("CACHE.PUT", "l", "p", "r", "TOKENS", "1", "1", "MODEL", "unknown")
    with pytest.raises(redis.ResponseError, match="COST must be"):
        a.execute_command("CACHE.PUT", "l", "p", "r", "COST", "-1")
    with pytest.raises(redis.ResponseError, match="COST must be"):
        a.execute_command("CACHE.PUT", "l", "p", "r", "COST", "0.0000000001")


def test_budget_signal_and_period_boundary(users_server):
    root = login(users_server, "root", "rootpw")
    b = login(users_server, "bob", "bpw")
    b.execute_command("CACHE.CREATE", "q")
    # windows of 2 s: the spend restarts at each boundary
    root.execute_command("TENANT.BUDGET", "globex", "0.01", "PERIOD", "2")
    # align to the start of a window so the puts and checks fall in one
    now = time.time()
    time.sleep(2 - (now % 2) + 0.05)
    assert as_dict(b.execute_command("CACHE.GET", "q", "unanswered question"))["budget"] == b"ok"
    b.execute_command("CACHE.PUT", "q", "first question", "a", "COST", "0.006")
    assert as_dict(b.execute_command("CACHE.GET", "q", "unanswered question"))["budget"] == b"ok"
    b.execute_command("CACHE.PUT", "q", "second question", "a", "COST", "0.004")
    d = as_dict(b.execute_command("CACHE.GET", "q", "unanswered question"))
    assert d["tier"] == b"miss" and d["budget"] == b"exhausted"
    assert as_dict(b.execute_command("CACHE.INFO", "q"))["budget"] == b"exhausted"
    u = as_dict(b.execute_command("TENANT.USAGE"))
    assert u["budget"] == b"exhausted" and u["period_spend_nusd"] == 10**7
    time.sleep(2.1)                                    # next window
    assert as_dict(b.execute_command("CACHE.GET", "q", "unanswered question"))["budget"] == b"ok"
    u = as_dict(b.execute_command("TENANT.USAGE"))
    assert u["period_spend_nusd"] == 0 and u["spend_nusd"] == 10**7


def test_on_budget_stale_and_lower_threshold(users_server):
    root = login(users_server, "root", "rootpw")
    c = login(users_server, "carol", "cpw")
    c.execute_command("CACHE.CREATE", "s", "TTL", "1", "GRACE", "60", "ON-BUDGET", "stale")
    c.execute_command("CACHE.CREATE", "t", "THRESHOLD", "0.95", "ON-BUDGET",
                      "lower-threshold", "0.3")
    c.execute_command("CACHE.PUT", "s", "What is the status of the API?", "fine", "COST", "1")
    c.execute_command("CACHE.PUT", "t", "How do I reset my password?", "pw", "COST", "1")
    time.sleep(1.2)
    q = "how do I reset my password please"
    # within budget: no stale, strict threshold
    root.execute_command("TENANT.BUDGET", "initech", "100")
    assert as_dict(c.execute_command("CACHE.GET", "s", "What is the status of the API?"))[
        "tier"] == b"miss"
    assert as_dict(c.execute_command("CACHE.GET", "t", q))["tier"] == b"miss"
    # budget exhausted: the namespaces degrade as configured
    root.execute_command("TENANT.BUDGET", "initech", "1")
    d = as_dict(c.execute_command("CACHE.GET", "s", "What is the status of the API?"))
    assert d["tier"] == b"stale" and d["response"] == b"fine"
    assert as_dict(c.execute_command("CACHE.GET", "t", q))["tier"] == b"semantic"
