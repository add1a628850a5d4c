"""Namespace aliases, canaries, feedback, guards and CACHE.VERSIONS through
the real server (issue 7).

Threats: a switch that serves a mix of two namespaces or errors under load;
a rollback that finds the old version cold; a canary share that drifts
from the asked percent; a user who flips between arms; a PUT that fills a
different arm than the GET that missed; a guard that does not roll back, or
does so silently; an alias that lets one tenant reach another's namespace;
a DROP that leaves an alias dangling; a version matrix that misses a
namespace or a label."""
import math
import os
import re
import shutil
import subprocess
import threading
import time
import uuid

import pytest
import redis

from conftest import free_port

pytestmark = pytest.mark.simcache_only

PROMTOOL = shutil.which("promtool") or ("/usr/bin/promtool" if os.path.exists("/usr/bin/promtool")
                                        else None)

USERS = [
    "--user", "root", "rootpw", "role", "admin",
    "--user", "gw", "gwpw", "role", "gateway",
    "--user", "alice", "apw", "tenant", "acme",
    "--user", "anna", "annapw", "tenant", "acme",
    "--user", "bob", "bpw", "tenant", "globex",
]


def d(reply):
    """A RESP2 flat map reply as a dict with str keys."""
    if isinstance(reply, dict):
        return {(k.decode() if isinstance(k, bytes) else k): v for k, v in reply.items()}
    it = iter(reply)
    return {k.decode(): v for k, v in zip(it, it)}


def uniq(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def within_4_sigma(count, n, p):
    mu, sd = n * p, math.sqrt(n * p * (1 - p))
    return abs(count - mu) <= 4 * sd, "%d of %d, expected %.1f +- %.1f" % (count, n, mu, 4 * sd)


def two_versions(r, prompts=("How do I reset my password?",)):
    """Namespaces v1/v2 with the same prompts and answers naming their
    namespace; returns (v1, v2)."""
    v1, v2 = uniq("v1"), uniq("v2")
    r.execute_command("CACHE.CREATE", v1, "PROMPT-VERSION", "p1", "MODEL-VERSION", "m1",
                      "TOOLS-VERSION", "t1")
    r.execute_command("CACHE.CREATE", v2, "PROMPT-VERSION", "p2", "MODEL-VERSION", "m1",
                      "TOOLS-VERSION", "t2")
    for ns in (v1, v2):
        for i, p in enumerate(prompts):
            r.execute_command("CACHE.PUT", ns, p, "%s|answer %d" % (ns, i), "COST", "0.002")
    return v1, v2


def test_alias_switch_and_rollback_keep_both_versions_warm(r):
    v1, v2 = two_versions(r)
    faq = uniq("faq")
    assert r.execute_command("CACHE.ALIAS", faq, v1) is None
    g = d(r.execute_command("CACHE.GET", faq, "how do I reset my password"))
    assert g["tier"] == b"exact" and g["response"] == ("%s|answer 0" % v1).encode()
    assert g["namespace"] == v1.encode() and "arm" not in g
    assert r.execute_command("CACHE.ALIAS", faq, v2) == v1.encode()   # returns the previous target
    g = d(r.execute_command("CACHE.GET", faq, "How do I reset my password?"))
    assert g["response"].startswith(v2.encode()) and g["namespace"] == v2.encode()
    # rollback is one command, and the old version is still warm
    assert r.execute_command("CACHE.ALIAS", faq, v1) == v2.encode()
    g = d(r.execute_command("CACHE.GET", faq, "How do I reset my password?"))
    assert g["tier"] == b"exact" and g["namespace"] == v1.encode()
    assert d(r.execute_command("CACHE.INFO", v2))["entries"] == 1
    # every CACHE.* command accepts the alias (its stable target)
    assert d(r.execute_command("CACHE.INFO", faq))["name"] == v1.encode()
    assert len(r.execute_command("CACHE.SEARCH", faq, "reset password")) == 1
    nid = r.execute_command("CACHE.PUT", faq, "What is the refund policy?", "30 days")
    assert d(r.execute_command("CACHE.GET", v1, "What is the refund policy?"))["id"] == nid
    assert r.execute_command("CACHE.DEL", faq, nid) == 1
    # a plain namespace GET keeps its old reply shape
    assert list(d(r.execute_command("CACHE.GET", v1, "How do I reset my password?"))) == [
        "tier", "id", "score", "age_ms", "response"]
    miss = d(r.execute_command("CACHE.GET", faq, "Where is my parcel?"))
    assert miss["tier"] == b"miss" and miss["namespace"] == v1.encode()


def test_alias_name_rules_and_drop_protection(r):
    v1, v2 = two_versions(r)
    faq = uniq("faq")
    with pytest.raises(redis.ResponseError, match="is a namespace; an alias may not shadow it"):
        r.execute_command("CACHE.ALIAS", v2, v1)
    with pytest.raises(redis.ResponseError, match="no such namespace 'nope'"):
        r.execute_command("CACHE.ALIAS", faq, "nope")
    r.execute_command("CACHE.ALIAS", faq, v1)
    with pytest.raises(redis.ResponseError, match="is an alias; a namespace may not take"):
        r.execute_command("CACHE.CREATE", faq)
    with pytest.raises(redis.ResponseError, match="is an alias; an alias must point at a namespace"):
        r.execute_command("CACHE.ALIAS", uniq("x"), faq)
    with pytest.raises(redis.ResponseError, match="is the target of alias '%s'" % faq):
        r.execute_command("CACHE.DROP", v1)
    with pytest.raises(redis.ResponseError, match="is the target of alias"):
        r.execute_command("CACHE.DROP", faq)   # through the alias: the same refusal
    r.execute_command("CACHE.CANARY", faq, v2, "PERCENT", "10")
    with pytest.raises(redis.ResponseError, match="is the running canary of alias"):
        r.execute_command("CACHE.DROP", v2)
    with pytest.raises(redis.ResponseError, match="running canary"):
        r.execute_command("CACHE.ALIAS", faq, v2)
    with pytest.raises(redis.ResponseError, match="already the target"):
        r.execute_command("CACHE.CANARY", faq, v1, "PERCENT", "10")
    for bad in ("0", "100.5", "-3", "ten", "12.345678"):
        with pytest.raises(redis.ResponseError, match="PERCENT must be"):
            r.execute_command("CACHE.CANARY", faq, v2, "PERCENT", bad)
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("CACHE.CANARY", faq, v2, "PERCENT", "5", "STICKY-BY", "moon")
    assert r.execute_command("CACHE.UNALIAS", faq) == 1
    assert r.execute_command("CACHE.UNALIAS", faq) == 0
    with pytest.raises(redis.ResponseError, match="no such namespace '%s'" % faq):
        r.execute_command("CACHE.GET", faq, "hello")
    assert r.execute_command("CACHE.DROP", v1) == b"OK"
    assert r.execute_command("CACHE.DROP", v2) == b"OK"


def canary_alias(r, percent, sticky="user", prompts=("How do I reset my password?",)):
    v1, v2 = two_versions(r, prompts)
    faq = uniq("faq")
    r.execute_command("CACHE.ALIAS", faq, v1)
    r.execute_command("CACHE.CANARY", faq, v2, "PERCENT", percent, "STICKY-BY", sticky)
    return faq, v1, v2


def get_many(r, faq, prompt, users):
    p = r.pipeline(transaction=False)
    for u in users:
        p.execute_command("CACHE.GET", faq, prompt, "USER", u)
    return [d(x) for x in p.execute()]


@pytest.mark.parametrize("percent,p", [("10", 0.10), ("50", 0.50)])
def test_canary_split_within_binomial_tolerance(r, percent, p):
    faq, v1, v2 = canary_alias(r, percent)
    users = ["user-%d" % i for i in range(3000)]
    replies = get_many(r, faq, "How do I reset my password?", users)
    canary = 0
    for g in replies:
        assert g["tier"] == b"exact"
        # wholly from one namespace, and the arm names it
        want = v2 if g["arm"] == b"canary" else v1
        assert g["namespace"] == want.encode() and g["response"].startswith(want.encode())
        canary += g["arm"] == b"canary"
    ok, msg = within_4_sigma(canary, len(users), p)
    assert ok, msg
    info = d(r.execute_command("CACHE.CANARY", faq, "INFO"))
    arms = d(info["arms"])
    assert d(arms["canary"])["requests"] == canary
    assert d(arms["stable"])["requests"] == len(users) - canary
    assert info["status"] == b"active" and float(info["percent"]) == p * 100


def test_canary_is_sticky_per_user_and_put_fills_the_same_arm(r):
    faq, v1, v2 = canary_alias(r, "30")
    users = ["u%d" % i for i in range(400)]
    first = [g["arm"] for g in get_many(r, faq, "How do I reset my password?", users)]
    for _ in range(2):
        again = [g["arm"] for g in get_many(r, faq, "How do I reset my password?", users)]
        assert again == first
    # another prompt: the user keeps the arm (STICKY-BY user)
    other = get_many(r, faq, "Is there a student discount?", users)
    assert [g["arm"] for g in other] == first
    # the miss is filled through the alias with the same USER: it lands on
    # the arm that missed, so the canary fills itself
    for u, g in zip(users[:40], other[:40]):
        assert g["tier"] == b"miss"
        r.execute_command("CACHE.PUT", faq, "Is there a student discount?", "yes, 20%",
                          "USER", u, "COST", "0.001")
        h = d(r.execute_command("CACHE.GET", g["namespace"], "Is there a student discount?"))
        assert h["tier"] == b"exact"
    n_canary = sum(1 for g in other[:40] if g["arm"] == b"canary")
    assert d(r.execute_command("CACHE.INFO", v2))["entries"] == 1 + (1 if n_canary else 0)
    arms = d(d(r.execute_command("CACHE.CANARY", faq, "INFO"))["arms"])
    assert d(arms["canary"])["puts"] == n_canary
    assert d(arms["canary"])["spend_nusd"] == n_canary * 1000000
    assert d(arms["stable"])["puts"] == 40 - n_canary
    cn = d(arms["canary"])
    assert float(cn["cost_per_request_nusd"]) == pytest.approx(
        cn["spend_nusd"] / cn["requests"])
    assert cn["saved_nusd"] == 2000000 * (cn["hits_exact"] + cn["hits_semantic"])


def test_canary_sticky_by_authenticated_user(server_factory):
    s = server_factory(*USERS)
    gw = s.redis(username="gw", password="gwpw")
    faq, v1, v2 = canary_alias_tenant(gw, "acme", "50")
    arms = {}
    for user, pw in (("alice", "apw"), ("anna", "annapw")):
        c = s.redis(username=user, password=pw)
        seen = {d(c.execute_command("CACHE.GET", faq, "How do I reset my password?"))["arm"]
                for _ in range(5)}
        assert len(seen) == 1, "%s flipped arms" % user
        arms[user] = seen.pop()
        # the same user, named by a gateway with USER, lands on the same arm
        g = d(gw.execute_command("CACHE.GET", faq, "How do I reset my password?", "TENANT",
                                 "acme", "USER", user))
        assert g["arm"] == arms[user]


def canary_alias_tenant(gw, tenant, percent):
    v1, v2 = uniq("v1"), uniq("v2")
    for ns in (v1, v2):
        gw.execute_command("CACHE.CREATE", ns, "TENANT", tenant)
        gw.execute_command("CACHE.PUT", ns, "How do I reset my password?", ns, "TENANT", tenant)
    faq = uniq("faq")
    gw.execute_command("CACHE.ALIAS", faq, v1, "TENANT", tenant)
    gw.execute_command("CACHE.CANARY", faq, v2, "PERCENT", percent, "TENANT", tenant)
    return faq, v1, v2


def test_canary_sticky_by_prompt(r):
    prompts = ["Question number %d about billing?" % i for i in range(600)]
    faq, v1, v2 = canary_alias(r, "50", sticky="prompt", prompts=prompts[:1])
    p = r.pipeline(transaction=False)
    for q in prompts:
        for u in ("a", "b", "c"):
            p.execute_command("CACHE.GET", faq, q, "USER", u)
    out = [d(x) for x in p.execute()]
    canary = 0
    for i in range(len(prompts)):
        arms = {out[3 * i + k]["arm"] for k in range(3)}
        assert len(arms) == 1, "prompt %d split across users" % i
        canary += arms.pop() == b"canary"
    ok, msg = within_4_sigma(canary, len(prompts), 0.5)
    assert ok, msg
    # case and spacing do not move a prompt (the normalised prompt is the key)
    a1 = d(r.execute_command("CACHE.GET", faq, prompts[7], "USER", "z"))["arm"]
    a2 = d(r.execute_command("CACHE.GET", faq, "  QUESTION number 7 about BILLING  ",
                             "USER", "y"))["arm"]
    assert a1 == a2


def test_guard_trip_rolls_back_and_records_the_reason(srv, r):
    faq, v1, v2 = canary_alias(r, "50")
    assert r.execute_command("CACHE.CANARY", faq, "GUARD", "MAX-BAD-RATE", "0.1",
                             "MIN-REQUESTS", "20") == b"OK"
    info = d(r.execute_command("CACHE.CANARY", faq, "INFO"))
    assert float(info["guard_max_bad_rate"]) == 0.1 and info["guard_min_requests"] == 20
    rolled = False
    for i in range(400):
        g = d(r.execute_command("CACHE.GET", faq, "How do I reset my password?",
                                "USER", "user-%d" % i))
        if "arm" not in g:
            rolled = True
            break
        if g["arm"] == b"canary":
            # users dislike the new prompt version: bad feedback on every answer
            r.execute_command("CACHE.FEEDBACK", g["namespace"], g["id"], "bad")
            r.execute_command("CACHE.PUT", faq, "How do I reset my password?", "again",
                              "USER", "user-%d" % i)
    assert rolled, "the guard never tripped"
    info = d(r.execute_command("CACHE.CANARY", faq, "INFO"))
    assert info["status"] == b"rolled_back" and info["rollbacks_auto"] == 1
    assert info["reason"].startswith(b"bad feedback rate ")
    canary = d(d(info["arms"])["canary"])
    assert canary["requests"] >= 20 and canary["feedback_bad"] >= 1
    # traffic is 100% stable now
    for i in range(200):
        g = d(r.execute_command("CACHE.GET", faq, "How do I reset my password?",
                                "USER", "user-%d" % i))
        assert g["namespace"] == v1.encode() and "arm" not in g
    sec = r.info("canary")
    assert sec["canary_rollbacks_auto"] >= 1
    line = [v for k, v in sec.items() if k.startswith("canary") and isinstance(v, dict)
            and v.get("alias") == faq]
    assert line and line[0]["status"] == "rolled_back"
    assert str(line[0]["reason"]).startswith("bad_feedback_rate")
    with open(srv.log_path) as f:
        log = f.read()
    assert "of alias '%s' (tenant 'default') rolled back by its guard: bad feedback rate" % faq in log
    aliases = {d(a)["alias"]: d(a) for a in r.execute_command("CACHE.ALIASES")}
    assert aliases[faq.encode()]["status"] == b"rolled_back"
    # the rolled-back canary may now be dropped; the stable one may not
    assert r.execute_command("CACHE.DROP", v2) == b"OK"


def test_hit_rate_guard_rolls_back_a_cold_canary(r):
    prompts = ["What are your opening hours on day %d?" % i for i in range(20)]
    v1, v2 = two_versions(r, prompts)
    r.execute_command("CACHE.FLUSH", v2)          # the canary starts cold
    faq = uniq("faq")
    r.execute_command("CACHE.ALIAS", faq, v1)
    r.execute_command("CACHE.CANARY", faq, v2, "PERCENT", "50")
    r.execute_command("CACHE.CANARY", faq, "GUARD", "MIN-HIT-RATE-RATIO", "0.5",
                      "MIN-REQUESTS", "30")
    arms_seen = []
    for i in range(400):
        g = d(r.execute_command("CACHE.GET", faq, prompts[i % 20], "USER", "u%d" % i))
        if "arm" not in g:
            break
        arms_seen.append(g["arm"])
    info = d(r.execute_command("CACHE.CANARY", faq, "INFO"))
    assert info["status"] == b"rolled_back", info
    assert info["reason"].startswith(b"hit rate ratio 0.0000 < min 0.5000")
    arms = d(info["arms"])
    cn, st = d(arms["canary"]), d(arms["stable"])
    # it trips on the request that gives both arms MIN-REQUESTS (the ratio
    # needs a stable arm to compare with), not later
    assert min(cn["requests"], st["requests"]) == 30, (cn["requests"], st["requests"])
    assert float(st["hit_rate"]) == 1.0 and float(cn["hit_rate"]) == 0.0
    assert arms_seen.count(b"canary") == cn["requests"]


def test_feedback_counts_and_bad_deletes_the_entry(r):
    v1, v2 = two_versions(r)
    eid = d(r.execute_command("CACHE.GET", v1, "How do I reset my password?"))["id"]
    assert r.execute_command("CACHE.FEEDBACK", v1, eid, "good") == 1
    assert r.execute_command("CACHE.FEEDBACK", v1, eid, "bad") == 1
    assert r.execute_command("CACHE.FEEDBACK", v1, eid, "bad") == 0   # already gone
    assert d(r.execute_command("CACHE.GET", v1, "How do I reset my password?"))["tier"] == b"miss"
    with pytest.raises(redis.ResponseError, match="was ever stored"):
        r.execute_command("CACHE.FEEDBACK", v1, 999, "bad")
    with pytest.raises(redis.ResponseError, match="must be 'good' or 'bad'"):
        r.execute_command("CACHE.FEEDBACK", v1, eid, "meh")
    rows = {d(x)["namespace"]: d(x) for x in r.execute_command("CACHE.VERSIONS")}
    assert rows[v1.encode()]["feedback_good"] == 1 and rows[v1.encode()]["feedback_bad"] == 2
    assert d(r.execute_command("CACHE.INFO", v1))["deleted"] == 1


def test_alias_switch_is_atomic_under_load(r, srv):
    prompts = ["Support question %d: how do I configure feature %d?" % (i, i) for i in range(80)]
    v1, v2 = two_versions(r, prompts)   # >= 64 entries: semantic lookups go to the pool
    faq = uniq("faq")
    r.execute_command("CACHE.ALIAS", faq, v1)
    threaded_before = r.info("cache")["cache_searches_threaded"]
    stop = threading.Event()
    errors, seen, count = [], set(), [0]

    def reader(k):
        c = srv.redis()
        try:
            i = 0
            while not stop.is_set():
                q = prompts[(i * 7 + k) % len(prompts)] if i % 2 else \
                    "how would I configure feature %d" % ((i + k) % 80)
                g = d(c.execute_command("CACHE.GET", faq, q))
                ns = g["namespace"]
                if ns not in (v1.encode(), v2.encode()):
                    errors.append("namespace %r" % ns)
                if "response" in g and not g["response"].startswith(ns + b"|"):
                    errors.append("reply mixes %r with %r" % (ns, g["response"]))
                seen.add(ns)
                count[0] += 1
                i += 1
        except Exception as e:   # noqa: BLE001 - any error fails the test
            errors.append(repr(e))
        finally:
            c.close()

    threads = [threading.Thread(target=reader, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    # flip until the readers have seen both targets many times (bounded, so
    # a loaded machine makes the test slower, not flaky)
    flips = 0
    w = srv.redis()
    deadline = time.monotonic() + 30
    while (flips < 200 or count[0] < 1000 or len(seen) < 2) and time.monotonic() < deadline \
            and not errors:
        prev = w.execute_command("CACHE.ALIAS", faq, v2 if flips % 2 == 0 else v1)
        assert prev == (v1 if flips % 2 == 0 else v2).encode()
        flips += 1
    stop.set()
    for t in threads:
        t.join(30)
    assert not errors, errors[:5]
    assert seen == {v1.encode(), v2.encode()}
    assert count[0] >= 1000 and flips >= 200
    # the paraphrases went through the worker pool: parked requests crossed flips
    assert r.info("cache")["cache_searches_threaded"] > threaded_before


def test_aliases_are_tenant_scoped(server_factory):
    s = server_factory(*USERS)
    alice = s.redis(username="alice", password="apw")
    bob = s.redis(username="bob", password="bpw")
    gw = s.redis(username="gw", password="gwpw")
    alice.execute_command("CACHE.CREATE", "answers")
    alice.execute_command("CACHE.PUT", "answers", "hello there", "acme says hi")
    alice.execute_command("CACHE.ALIAS", "faq", "answers")
    # bob neither sees acme's alias nor can point at acme's namespace
    with pytest.raises(redis.ResponseError, match="no such namespace 'faq'"):
        bob.execute_command("CACHE.GET", "faq", "hello there")
    with pytest.raises(redis.ResponseError, match="no such namespace 'answers'"):
        bob.execute_command("CACHE.ALIAS", "mine", "answers")
    with pytest.raises(redis.exceptions.NoPermissionError):
        bob.execute_command("CACHE.ALIAS", "mine", "answers", "TENANT", "acme")
    with pytest.raises(redis.exceptions.NoPermissionError):
        bob.execute_command("CACHE.CANARY", "faq", "INFO", "TENANT", "acme")
    # the same alias name in globex is another alias
    bob.execute_command("CACHE.CREATE", "answers")
    bob.execute_command("CACHE.PUT", "answers", "hello there", "globex says hi")
    bob.execute_command("CACHE.ALIAS", "faq", "answers")
    assert d(bob.execute_command("CACHE.GET", "faq", "hello there"))["response"] == b"globex says hi"
    assert d(alice.execute_command("CACHE.GET", "faq", "hello there"))["response"] == b"acme says hi"
    assert [d(x)["alias"] for x in bob.execute_command("CACHE.ALIASES")] == [b"faq"]
    # the gateway acts for a tenant through TENANT
    g = d(gw.execute_command("CACHE.GET", "faq", "hello there", "TENANT", "acme", "USER", "u1"))
    assert g["response"] == b"acme says hi" and g["namespace"] == b"answers"
    assert bob.execute_command("CACHE.UNALIAS", "faq") == 1
    assert d(alice.execute_command("CACHE.GET", "faq", "hello there"))["response"] == b"acme says hi"


def test_versions_matrix(server_factory):
    s = server_factory(*USERS)
    root = s.redis(username="root", password="rootpw")
    alice = s.redis(username="alice", password="apw")
    bob = s.redis(username="bob", password="bpw")
    alice.execute_command("CACHE.CREATE", "v1", "PROMPT-VERSION", "2024-06", "MODEL-VERSION",
                          "gpt-4o-2024-05-13", "TOOLS-VERSION", "tools-3")
    alice.execute_command("CACHE.CREATE", "v2", "PROMPT-VERSION", "2024-07", "MODEL-VERSION",
                          "gpt-4o-2024-08-06", "TOOLS-VERSION", "tools-3")
    alice.execute_command("CACHE.PUT", "v2", "hi", "hello")
    bob.execute_command("CACHE.CREATE", "main", "MODEL-VERSION", "claude-3-5")
    alice.execute_command("CACHE.ALIAS", "faq", "v1")
    alice.execute_command("CACHE.ALIAS", "support", "v1")
    alice.execute_command("CACHE.CANARY", "faq", "v2", "PERCENT", "5")
    rows = [d(x) for x in alice.execute_command("CACHE.VERSIONS")]
    by = {r["namespace"]: r for r in rows}
    assert set(by) == {b"v1", b"v2"}, "a tenant sees only its own namespaces"
    assert by[b"v1"]["prompt_version"] == b"2024-06"
    assert by[b"v1"]["model_version"] == b"gpt-4o-2024-05-13"
    assert by[b"v1"]["tools_version"] == b"tools-3"
    assert sorted(by[b"v1"]["aliases"]) == [b"faq", b"support"] and by[b"v1"]["canary_of"] == []
    assert by[b"v2"]["aliases"] == [] and by[b"v2"]["canary_of"] == [b"faq"]
    assert by[b"v2"]["entries"] == 1 and by[b"v1"]["tenant"] == b"acme"
    # admin: every tenant; admin with TENANT: that tenant
    all_rows = [d(x) for x in root.execute_command("CACHE.VERSIONS")]
    assert {(r["tenant"], r["namespace"]) for r in all_rows} >= {
        (b"acme", b"v1"), (b"acme", b"v2"), (b"globex", b"main")}
    only = [d(x) for x in root.execute_command("CACHE.VERSIONS", "TENANT", "globex")]
    assert [(r["namespace"], r["model_version"]) for r in only] == [(b"main", b"claude-3-5")]
    # RESP3: an array of maps, same fields
    with s.conn() as c:
        assert c.cmd("HELLO", "3", "AUTH", "alice", "apw")[b"proto"] == 3
        v = c.cmd("CACHE.VERSIONS")
        assert isinstance(v, list) and all(isinstance(x, dict) for x in v)
        assert {x[b"namespace"] for x in v} == {b"v1", b"v2"}
        info = c.cmd("CACHE.CANARY", "faq", "INFO")
        assert isinstance(info, dict) and isinstance(info[b"arms"][b"canary"], dict)
        g = c.cmd("CACHE.GET", "faq", "hi", "USER", "x")
        assert g[b"namespace"] in (b"v1", b"v2") and g[b"arm"] in (b"stable", b"canary")


def test_canary_lifecycle_promote_off_rollback(r):
    faq, v1, v2 = canary_alias(r, "100")
    g = d(r.execute_command("CACHE.GET", faq, "How do I reset my password?", "USER", "x"))
    assert g["arm"] == b"canary" and g["namespace"] == v2.encode()
    assert r.execute_command("CACHE.CANARY", faq, "PROMOTE") == b"OK"
    aliases = {d(a)["alias"]: d(a) for a in r.execute_command("CACHE.ALIASES")}
    assert aliases[faq.encode()]["namespace"] == v2.encode()
    assert aliases[faq.encode()]["status"] == b"promoted"
    with pytest.raises(redis.ResponseError, match="has no running canary"):
        r.execute_command("CACHE.CANARY", faq, "ROLLBACK")
    # rollback of the promotion is one ALIAS
    assert r.execute_command("CACHE.ALIAS", faq, v1) == v2.encode()
    r.execute_command("CACHE.CANARY", faq, v2, "PERCENT", "0.5")
    assert r.execute_command("CACHE.CANARY", faq, "ROLLBACK") == b"OK"
    info = d(r.execute_command("CACHE.CANARY", faq, "INFO"))
    assert info["status"] == b"rolled_back" and info["reason"] == b"manual rollback"
    assert info["rollbacks_auto"] == 0
    r.execute_command("CACHE.CANARY", faq, v2, "PERCENT", "20")
    assert r.execute_command("CACHE.CANARY", faq, "OFF") == b"OK"
    g = d(r.execute_command("CACHE.GET", faq, "How do I reset my password?", "USER", "x"))
    assert g["namespace"] == v1.encode() and "arm" not in g
    assert r.execute_command("CACHE.CANARY", faq, "GUARD", "NONE") == b"OK"
    with pytest.raises(redis.ResponseError, match="no such alias"):
        r.execute_command("CACHE.CANARY", uniq("nope"), "INFO")


def test_command_docs_describe_the_commands(srv):
    names = ["cache.canary", "cache.alias", "cache.versions", "cache.feedback", "cache.unalias",
             "cache.aliases"]
    with srv.conn() as c:
        docs = c.cmd("COMMAND", "DOCS", *names)
        info = c.cmd("COMMAND", "INFO", *names)
    got = dict(zip(docs[0::2], docs[1::2]))
    assert set(got) == {n.encode() for n in names}
    for n in names:
        doc = dict(zip(got[n.encode()][0::2], got[n.encode()][1::2]))
        assert doc[b"summary"] and doc[b"group"] == b"cache"
        assert doc[b"arguments"], n
    arity = {e[0]: e[1] for e in info}
    assert arity[b"cache.canary"] == -3 and arity[b"cache.feedback"] == -4


def test_per_arm_metrics_exposition(server_factory):
    import http.client
    port = free_port()
    s = server_factory("--metrics-port", port)
    r = s.redis()
    faq, v1, v2 = canary_alias(r, "50")
    get_many(r, faq, "How do I reset my password?", ["u%d" % i for i in range(200)])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    lines = [l for l in text.splitlines() if l.startswith("simcache_canary_requests_total{")]
    assert len(lines) == 2
    total = sum(int(l.rsplit(" ", 1)[1]) for l in lines)
    assert total == 200
    assert any('arm="canary"' in l for l in lines) and any('arm="stable"' in l for l in lines)
    assert 'simcache_canary_latency_seconds_bucket{tenant="default",alias="%s",arm="canary",le="+Inf"}' % faq in text
    assert "# TYPE simcache_canary_hits_total counter" in text
    if PROMTOOL is None:
        pytest.skip("promtool not installed")
    out = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                         capture_output=True, timeout=60)
    assert out.returncode == 0, out.stdout.decode() + out.stderr.decode()


def test_redis_cli_help_and_hints_work_interactively(srv, tool_env):
    """redis-cli builds its help and hints from COMMAND DOCS; a malformed
    argument doc crashes it (commands.c). Typed through a pty."""
    from test_redis_cli import _pty_run
    v1, v2 = uniq("v1"), uniq("v2")
    out, status = _pty_run(srv.port, tool_env, [
        "help CACHE.CANARY", "CACHE.CREATE %s" % v1, "CACHE.CREATE %s" % v2,
        "CACHE.ALIAS faq-cli %s" % v1, "CACHE.CANARY faq-cli %s PERCENT 25 STICKY-BY prompt" % v2,
        "CACHE.FEEDBACK %s 1 good" % v1, "CACHE.VERSIONS"])
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (status, out)
    out = re.sub(rb"\x1b\[[0-9;]*[A-Za-z]", b"", out)   # help is printed in colour
    assert b"CACHE.CANARY alias [namespace]" in out and b"[PERCENT p]" in out
    assert b"summary: Sends a sticky share" in out
    assert b"(nil)\n" in out          # CACHE.ALIAS: no previous target
    assert b"no entry 1 was ever stored" in out
    r = srv.redis()
    r.execute_command("CACHE.UNALIAS", "faq-cli")
    r.close()
