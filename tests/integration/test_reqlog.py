"""The request log for replay (CACHE.LOG GET/LEN/RESET, reqlog-file) through
the real server: exact fields of PUT/GET/SEARCH records, the ring's bounds
(entries, bytes, per-field cut with the full length kept), tenant isolation
(a tenant never sees another tenant's prompts), and the JSON-lines file."""
import json
import os
import tempfile
import time
import uuid

import pytest
import redis

from conftest import SERVER, Server, ns_name, as_dict

pytestmark = pytest.mark.simcache_only

PRICE = ["--price", "gpt-x", "2.5", "10"]
USERS = [
    "--user", "root", "rootpw", "role", "admin",
    "--user", "gw", "gwpw", "role", "gateway",
    "--user", "alice", "apw", "tenant", "acme",
    "--user", "bob", "bpw", "tenant", "globex",
]
FIELDS = ["id", "time_us", "tenant", "namespace", "op", "tier", "score", "entry_id", "prompt",
          "prompt_len", "response", "response_len", "model", "model_version", "params",
          "params_len", "tokens_in", "tokens_out", "cost_nusd", "latency_us", "trace_id",
          "span_id", "error", "truncated"]




def log(r, *args):
    """CACHE.LOG GET as a list of dicts with str keys, newest first."""
    out = []
    for e in r.execute_command("CACHE.LOG", "GET", *args):
        keys = [e[i].decode() for i in range(0, len(e), 2)]
        assert keys == FIELDS   # order is part of the contract (the file uses it too)
        out.append(as_dict(e))
    return out


def test_put_get_search_records_hold_exactly_what_happened(server_factory):
    s = server_factory(*PRICE)
    r = s.redis()
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns, "MODEL-VERSION", "gpt-x-2025-01")
    trace, parent = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    before = time.time()
    eid = r.execute_command("CACHE.PUT", ns, "How do I reset my password?", "Settings > Reset",
                            "TOKENS", 1000, 200, "MODEL", "gpt-x", "PARAMS", '{"t":0.2}',
                            "TRACEPARENT", "00-%s-%s-01" % (trace, parent))
    hit = as_dict(r.execute_command("CACHE.GET", ns, "how do I reset my password"))
    miss = as_dict(r.execute_command("CACHE.GET", ns, "Which regions are supported?"))
    r.execute_command("CACHE.SEARCH", ns, "reset password", "COUNT", 2)
    after = time.time()
    assert hit["tier"] == b"exact" and miss["tier"] == b"miss"

    srch, g_miss, g_hit, put = log(r, 10)
    assert [put["op"], g_hit["op"], g_miss["op"], srch["op"]] == [b"put", b"get", b"get",
                                                                    b"search"]
    assert put["id"] < g_hit["id"] < g_miss["id"] < srch["id"]
    for e in (put, g_hit, g_miss, srch):
        assert e["tenant"] == b"default"
        assert e["namespace"] == ns.encode()
        assert e["model_version"] == b"gpt-x-2025-01"
        assert before - 1 <= e["time_us"] / 1e6 <= after + 1
        assert 0 < e["latency_us"] < 5_000_000
        assert e["error"] is None and e["truncated"] == 0
        assert len(e["trace_id"]) == 32 and len(e["span_id"]) == 16
    # PUT: the stored entry as given, priced from the config: 2.5 and 10 USD per 1M
    # tokens are 2500 and 10000 nano-USD per token
    assert put["tier"] == b"stored" and put["score"] is None
    assert put["entry_id"] == eid
    assert put["prompt"] == b"How do I reset my password?" and put["prompt_len"] == 27
    assert put["response"] == b"Settings > Reset" and put["response_len"] == 16
    assert put["model"] == b"gpt-x" and put["params"] == b'{"t":0.2}'
    assert [put["tokens_in"], put["tokens_out"]] == [1000, 200]
    assert put["cost_nusd"] == 1000 * 2500 + 200 * 10000
    assert put["trace_id"] == trace.encode()   # joins the caller's trace
    # GET hit: the caller's prompt, the entry served and what it had cost
    assert g_hit["tier"] == b"exact" and float(g_hit["score"]) == 1.0
    assert g_hit["entry_id"] == eid
    assert g_hit["prompt"] == b"how do I reset my password"
    assert g_hit["response"] == b"Settings > Reset"
    assert g_hit["model"] == b"gpt-x" and g_hit["cost_nusd"] == 4_500_000
    assert g_hit["trace_id"] != put["trace_id"]   # no traceparent: a new trace
    # GET miss: nothing served
    assert g_miss["tier"] == b"miss" and g_miss["score"] is None and g_miss["entry_id"] == 0
    assert g_miss["response"] is None and g_miss["model"] is None
    assert g_miss["prompt"] == b"Which regions are supported?"
    # SEARCH: the best score
    assert srch["tier"] == b"search" and 0 < float(srch["score"]) <= 1
    assert r.execute_command("CACHE.LOG", "LEN") == 4


def test_semantic_hit_logs_the_same_score_the_client_was_given(server_factory):
    s = server_factory()
    r = s.redis()
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    eid = r.execute_command("CACHE.PUT", ns, "How do I reset my password?", "A")
    d = as_dict(r.execute_command("CACHE.GET", ns, "how do I reset my password please"))
    assert d["tier"] == b"semantic"
    (e,) = log(r, 1)
    assert e["tier"] == b"semantic" and e["entry_id"] == eid
    assert float(e["score"]) == float(d["score"])


def test_failed_put_is_logged_with_its_error(server_factory):
    s = server_factory()
    r = s.redis()
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    with pytest.raises(redis.ResponseError, match="empty after normalisation"):
        r.execute_command("CACHE.PUT", ns, "   ", "A")
    (e,) = log(r, 1)
    assert e["op"] == b"put" and e["tier"] == b"error"
    assert e["error"] == b"ERR prompt is empty after normalisation"
    assert e["response"] == b"A" and e["entry_id"] == 0


def test_ring_keeps_the_newest_max_len_entries(server_factory):
    s = server_factory("--reqlog-max-len", "5")
    r = s.redis()
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    for i in range(8):
        r.execute_command("CACHE.PUT", ns, "prompt %d" % i, "a")
    assert r.execute_command("CACHE.LOG", "LEN") == 5
    got = log(r, -1)
    assert [e["prompt"] for e in got] == [b"prompt %d" % i for i in (7, 6, 5, 4, 3)]
    assert [e["id"] for e in got] == [7, 6, 5, 4, 3]
    assert [e["prompt"] for e in log(r, 2)] == [b"prompt 7", b"prompt 6"]
    r.config_set("reqlog-max-len", 2)   # takes effect with the next entry
    r.execute_command("CACHE.PUT", ns, "prompt 8", "a")
    assert [e["prompt"] for e in log(r, -1)] == [b"prompt 8", b"prompt 7"]
    assert r.info("reqlog")["reqlog_evicted"] == 7
    r.config_set("reqlog-max-len", 0)   # 0 logs nothing more
    r.execute_command("CACHE.PUT", ns, "prompt 9", "a")
    assert r.execute_command("CACHE.LOG", "LEN") == 2


def test_huge_prompt_is_cut_to_max_field_with_its_full_length_kept(server_factory):
    s = server_factory("--reqlog-max-field", "16")
    r = s.redis()
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    big = "word " + "x" * 100000
    r.execute_command("CACHE.PUT", ns, big, "y" * 50, "PARAMS", "p" * 20)
    (e,) = log(r, 1)
    assert e["prompt"] == big[:16].encode() and e["prompt_len"] == len(big)
    assert e["response"] == b"y" * 16 and e["response_len"] == 50
    assert e["params"] == b"p" * 16 and e["params_len"] == 20
    assert e["truncated"] == 1


def test_ring_is_bounded_in_bytes(server_factory):
    s = server_factory("--reqlog-max-bytes", "20000", "--reqlog-max-field", "4096")
    r = s.redis()
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    for i in range(40):
        r.execute_command("CACHE.PUT", ns, ("p%d " % i) + "z" * 3000, "a" * 3000)
    st = r.info("reqlog")
    assert st["reqlog_bytes"] <= 20000
    assert 1 <= st["reqlog_entries"] < 40
    assert st["reqlog_added"] == 40
    assert log(r, 1)[0]["prompt"].startswith(b"p39 ")


def _puts(r, ns, lo, hi, size=0):
    p = r.pipeline(transaction=False)
    for i in range(lo, hi):
        p.execute_command("CACHE.PUT", ns, ("prompt %d " % i) + "q" * size, "answer %d" % i)
    p.execute()


def _prompts(r, *args):
    return [int(e["prompt"].split()[1]) for e in log(r, *args)]


def test_ring_order_survives_slot_growth_and_wrapping(server_factory):
    # 250 entries through a 100-entry ring: the slot array grows (64, 128)
    # and then wraps several times; every read is newest first, no entry
    # is lost or repeated, ids and contents stay paired
    s = server_factory("--reqlog-max-len", "100")
    r = s.redis()
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    _puts(r, ns, 0, 250)
    got = log(r, -1)
    assert [int(e["prompt"].split()[1]) for e in got] == list(range(249, 149, -1))
    assert [e["id"] for e in got] == list(range(249, 149, -1))   # ids from 0, one per PUT
    assert all(e["response"] == b"answer %d" % int(e["prompt"].split()[1]) for e in got)
    assert r.info("reqlog")["reqlog_evicted"] == 150
    assert _prompts(r, 3) == [249, 248, 247]


def test_lowering_and_raising_max_len_on_a_wrapped_ring(server_factory):
    # a ring whose slots outnumber the new bound (the reused buffer moves to
    # the next slot), then room to grow again
    s = server_factory("--reqlog-max-len", "100")
    r = s.redis()
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    _puts(r, ns, 0, 150, size=50)
    r.config_set("reqlog-max-len", 3)
    _puts(r, ns, 150, 155)
    assert _prompts(r, -1) == [154, 153, 152]
    assert r.execute_command("CACHE.LOG", "LEN") == 3
    st = r.info("reqlog")
    assert st["reqlog_entries"] == 3 and st["reqlog_evicted"] == 152
    r.config_set("reqlog-max-len", 10)
    _puts(r, ns, 155, 170)
    assert _prompts(r, -1) == list(range(169, 159, -1))
    r.execute_command("CACHE.LOG", "RESET")
    assert r.execute_command("CACHE.LOG", "LEN") == 0
    assert r.info("reqlog")["reqlog_bytes"] == 0
    _puts(r, ns, 170, 172)
    assert _prompts(r, -1) == [171, 170]


def test_reused_slots_keep_short_and_long_records_apart(server_factory):
    # alternating huge and tiny records through a full ring: a slot reused
    # for a shorter record holds only that record (no bytes of the former
    # one), and the byte count shrinks back with the records
    s = server_factory("--reqlog-max-len", "4", "--reqlog-max-field", "65536")
    r = s.redis()
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    _puts(r, ns, 0, 8, size=60000)
    big = r.info("reqlog")["reqlog_bytes"]
    assert big > 4 * 60000
    _puts(r, ns, 8, 12)
    got = log(r, -1)
    assert [e["prompt"] for e in got] == [b"prompt %d " % i for i in (11, 10, 9, 8)]
    assert [e["prompt_len"] for e in got] == [len("prompt %d " % i) for i in (11, 10, 9, 8)]
    assert r.info("reqlog")["reqlog_bytes"] < big / 10


def test_tenants_see_only_their_own_entries(server_factory):
    s = server_factory(*USERS)
    alice = s.redis(username="alice", password="apw")
    bob = s.redis(username="bob", password="bpw")
    root = s.redis(username="root", password="rootpw")
    gw = s.redis(username="gw", password="gwpw")
    for who, secret in ((alice, "acme secret plan"), (bob, "globex secret plan")):
        who.execute_command("CACHE.CREATE", "faq")
        who.execute_command("CACHE.PUT", "faq", secret, "answer")
        who.execute_command("CACHE.GET", "faq", secret)
    gw.execute_command("CACHE.GET", "faq", "via gateway", "TENANT", "acme")

    a = log(alice, -1)
    assert {e["tenant"] for e in a} == {b"acme"} and len(a) == 3
    assert b"globex secret plan" not in [e["prompt"] for e in a]
    assert alice.execute_command("CACHE.LOG", "LEN") == 3
    b = log(bob, -1)
    assert {e["tenant"] for e in b} == {b"globex"} and len(b) == 2
    # a tenant may not name another tenant, not even its own
    for cmd in (["GET", "10", "TENANT", "globex"], ["LEN", "TENANT", "acme"]):
        with pytest.raises(redis.ResponseError, match="^the TENANT argument"):
            alice.execute_command("CACHE.LOG", *cmd)
    with pytest.raises(redis.exceptions.NoPermissionError):
        alice.execute_command("CACHE.LOG", "RESET")
    with pytest.raises(redis.exceptions.NoPermissionError):
        gw.execute_command("CACHE.LOG", "RESET")
    # admin and gateway see everything, or one tenant with TENANT
    assert root.execute_command("CACHE.LOG", "LEN") == 5
    assert {e["tenant"] for e in log(gw, -1)} == {b"acme", b"globex"}
    assert [e["prompt"] for e in log(root, -1, "TENANT", "globex")] == \
        [b"globex secret plan", b"globex secret plan"]
    assert root.execute_command("CACHE.LOG", "LEN", "TENANT", "acme") == 3
    assert root.execute_command("CACHE.LOG", "RESET") == b"OK"
    assert root.execute_command("CACHE.LOG", "LEN") == 0
    assert alice.execute_command("CACHE.LOG", "LEN") == 0


def test_ns_filter_and_argument_errors(server_factory):
    s = server_factory()
    r = s.redis()
    n1, n2 = ns_name(), ns_name()
    for n in (n1, n2):
        r.execute_command("CACHE.CREATE", n)
        r.execute_command("CACHE.PUT", n, "hello " + n, "a")
    assert [e["namespace"] for e in log(r, -1, "NS", n1)] == [n1.encode()]
    assert [e["namespace"] for e in log(r, "NS", n2)] == [n2.encode()]
    assert log(r, 0) == []
    with pytest.raises(redis.ResponseError, match="count should be"):
        r.execute_command("CACHE.LOG", "GET", "-2")
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("CACHE.LOG", "GET", "1", "NS")
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("CACHE.LOG", "LEN", "x")


def test_file_gets_one_json_line_per_request_as_cache_log_shows_it(server_factory):
    d = tempfile.mkdtemp(prefix="simcache-reqlog-")
    path = os.path.join(d, "req.jsonl")
    s = server_factory("--reqlog-file", path, "--reqlog-max-field", "64", *PRICE)
    r = s.redis()
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    r.execute_command("CACHE.PUT", ns, b"caf\xc3\xa9 \xff\xfe \"quoted\"\n", "a",
                      "TOKENS", 10, 1, "MODEL", "gpt-x")
    r.execute_command("CACHE.GET", ns, "x" * 100)
    shown = list(reversed(log(r, -1)))
    assert s.stop() == 0   # the writer drains before exit
    with open(path, "rb") as f:
        lines = f.read().splitlines()
    assert len(lines) == 2
    recs = [json.loads(x) for x in lines]   # valid JSON whatever the prompt bytes
    for rec, e in zip(recs, shown):
        assert list(rec) == FIELDS
        assert rec["id"] == e["id"] and rec["time_us"] == e["time_us"]
        assert rec["op"] == e["op"].decode() and rec["tier"] == e["tier"].decode()
        assert rec["trace_id"] == e["trace_id"].decode()
        assert rec["latency_us"] == e["latency_us"]
        assert rec["prompt_len"] == e["prompt_len"]
    assert recs[0]["prompt"] == "caf\u00e9 \ufffd\ufffd \"quoted\"\n"
    assert recs[0]["cost_nusd"] == 10 * 2500 + 1 * 10000 and recs[0]["model"] == "gpt-x"
    assert recs[1]["prompt"] == "x" * 64 and recs[1]["prompt_len"] == 100
    assert recs[1]["truncated"] is True and recs[1]["score"] is None


def test_unwritable_file_refuses_to_start():
    srv = Server(SERVER, ["--reqlog-file", "/nonexistent-dir/req.jsonl"])
    try:
        with pytest.raises(RuntimeError, match="exited with 1"):
            srv.start(deadline=5)
        assert "Can't open the request log file" in srv.log_tail()
    finally:
        srv.stop(check=False)


def test_stuck_file_writer_drops_lines_not_requests(server_factory):
    """reqlog-file is a FIFO this test opens but does not read: the writer
    thread blocks once the pipe is full (64 KiB), the queue fills
    (reqlog-file-buffer 8kb) and further lines are dropped and counted,
    while every request is still answered promptly and logged in the ring."""
    d = tempfile.mkdtemp(prefix="simcache-reqlog-")
    path = os.path.join(d, "stuck.fifo")
    os.mkfifo(path)
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)   # lets the server's open succeed
    try:
        s = server_factory("--reqlog-file", path, "--reqlog-file-buffer", "8kb",
                           "--reqlog-max-field", "4096")
        r = s.redis()
        ns = ns_name()
        r.execute_command("CACHE.CREATE", ns)
        r.execute_command("CACHE.PUT", ns, "alpha beta", "a")
        slowest = 0.0
        for i in range(200):
            t0 = time.perf_counter()
            r.execute_command("CACHE.GET", ns, "alpha beta " + "q" * 2000)
            slowest = max(slowest, time.perf_counter() - t0)
        assert slowest < 0.75, "slowest CACHE.GET took %.3f s" % slowest
        st = r.info("reqlog")
        assert st["reqlog_file_dropped"] > 0
        assert st["reqlog_file_lines"] + st["reqlog_file_dropped"] == 201
        assert st["reqlog_added"] == 201
        # drain the pipe so the writer can finish and the server exit 0
        import threading
        stop = threading.Event()

        def drain():
            while not stop.is_set():
                try:
                    if not os.read(reader, 1 << 16):
                        time.sleep(0.01)
                except BlockingIOError:
                    time.sleep(0.01)
        t = threading.Thread(target=drain, daemon=True)
        t.start()
        assert s.stop() == 0
        stop.set()
        t.join(5)
    finally:
        os.close(reader)


def test_get_parked_by_wait_is_logged_once_with_its_final_answer(server_factory):
    """A CACHE.GET ... WAIT parked on another caller's fill is one log entry,
    written when it is answered: tier exact (served by the PUT) or miss (its
    WAIT ran out), latency up to that reply -- not a `wait` entry at park time."""
    import threading
    s = server_factory()
    r = s.redis()
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    prompt = "What is the refund policy for annual plans?"
    first = as_dict(r.execute_command("CACHE.GET", ns, prompt, "WAIT", "10000"))
    assert first["tier"] == b"miss" and first["fill"] == 1   # this caller fills
    got = {}

    def waiter():
        got["d"] = as_dict(s.redis().execute_command("CACHE.GET", ns, prompt, "WAIT", "10000"))

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.5)                     # parked on the fill
    assert "d" not in got
    assert [e["op"] for e in log(r, 10)] == [b"get"]   # only the filler's miss so far
    r.execute_command("CACHE.PUT", ns, prompt, "Refunds within 30 days.")
    t.join(10)
    assert got["d"]["tier"] == b"exact"
    entries = log(r, 10)
    assert [(e["op"], e["tier"]) for e in entries] == [(b"get", b"exact"), (b"put", b"stored"),
                                                         (b"get", b"miss")]
    served = entries[0]
    assert served["prompt"] == prompt.encode() and served["namespace"] == ns.encode()
    assert served["response"] == b"Refunds within 30 days."
    assert served["entry_id"] == entries[1]["entry_id"] and float(served["score"]) == 1.0
    assert served["latency_us"] >= 250_000   # it waited for the PUT, and says so

    # a waiter whose WAIT runs out: one entry, a miss, logged at the timeout
    other = "Do you ship to Antarctica?"
    assert as_dict(r.execute_command("CACHE.GET", ns, other, "WAIT", "10000"))["fill"] == 1
    d = as_dict(s.redis().execute_command("CACHE.GET", ns, other, "WAIT", "300"))
    assert d["tier"] == b"miss"
    timed_out = log(r, 1)[0]
    assert (timed_out["tier"], timed_out["prompt"]) == (b"miss", other.encode())
    assert 250_000 <= timed_out["latency_us"] < 5_000_000
    assert [e["tier"] for e in log(r, 10)].count(b"wait") == 0
    assert r.execute_command("CACHE.LOG", "LEN") == 5
