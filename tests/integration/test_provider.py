"""Embedding providers (server/provider.c) against tests/fake_provider.py.

Each test runs tests/integration/provider_driver (built next to the server:
$SIMCACHE_BUILD/tests/integration/provider_driver), which configures one
provider from its arguments, embeds stdin's texts with N calls outstanding
and prints JSON lines: one per text, then a summary with the loop's largest
stall, the provider's INFO line and uv_loop_close()'s result.

Threats covered (reliability matrix E1-E4): every fault mode ends within its
budget with the right error and never yields a vector; the loop never
stalls (< 50 ms: loose on purpose, this is not a performance assertion);
retries stop at the attempt cap and honour Retry-After; quota errors and
4xx are not retried; redirects are not followed; the breaker opens and
recovers; failover reaches the secondary; the rate limit queues and the
full queue rejects at once; the provider's token ledger equals the fake's
billing. The fake's /stats is the oracle for what actually went out.
"""
import json
import math
import os
import subprocess
import sys
import time
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import fake_provider  # noqa: E402  (the embedding oracle)
from conftest import free_port  # noqa: E402

BUILD = os.path.abspath(os.environ.get("SIMCACHE_BUILD", ""))
DRIVER = os.path.join(BUILD, "tests", "integration", "provider_driver")
STALL_MS = 50


@pytest.fixture(scope="module")
def fake():
    proc = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "..", "fake_provider.py")],
                            stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    yield Fake(port)
    proc.terminate()
    proc.wait(10)


class Fake:
    def __init__(self, port):
        self.port = port
        self.url = "http://127.0.0.1:%d" % port

    def post(self, path, obj):
        req = urllib.request.Request(self.url + path, json.dumps(obj).encode(), method="POST")
        return json.loads(urllib.request.urlopen(req, timeout=10).read())

    def stats(self):
        return json.loads(urllib.request.urlopen(self.url + "/stats", timeout=10).read())

    def mode(self, mode, count=1, arg=None):
        self.post("/mode", {"mode": mode, "count": count, "arg": arg})


@pytest.fixture
def fk(fake):
    fake.post("/reset", {})
    return fake


def info_fields(line):
    head, _, rest = line.partition(":")
    return dict(kv.split("=", 1) for kv in rest.split(","))


class Run:
    def __init__(self, out, elapsed):
        lines = [json.loads(x) for x in out.splitlines() if x.strip()]
        self.results = {x["i"]: x for x in lines if "i" in x}
        self.summary = next(x for x in lines if x.get("done"))
        self.final = lines[-1]
        self.info = info_fields(self.summary["info"])
        self.elapsed = elapsed

    @property
    def oks(self):
        return [r for r in self.results.values() if r.get("ok")]

    @property
    def errors(self):
        return [r for r in self.results.values() if r.get("ok") is False]


def run(texts, provider_args, concurrency=16, per_call=1, timeout=60, extra=(), env=None):
    if not os.path.exists(DRIVER):
        pytest.fail("provider_driver not built at %s (set SIMCACHE_BUILD)" % DRIVER)
    cmd = [DRIVER, "--concurrency", str(concurrency), "--per-call", str(per_call), *extra, "--",
           *map(str, provider_args)]
    t0 = time.monotonic()
    p = subprocess.run(cmd, input="\n".join(texts) + "\n", capture_output=True, text=True,
                       timeout=timeout, env=env)
    elapsed = time.monotonic() - t0
    assert p.returncode == 0, "driver failed (%d): %s\n%s" % (p.returncode, p.stderr, p.stdout[-2000:])
    r = Run(p.stdout, elapsed)
    assert r.final == {"loop_close": 0, "bug": 0}, r.final
    assert r.summary["stall_ms_max"] < STALL_MS, r.summary
    return r


def check_vectors(r, texts, dim):
    for i, t in enumerate(texts):
        res = r.results[i]
        assert res["ok"], res
        assert res["dim"] == dim
        want = fake_provider.embedding(t, dim)
        got = res["v"]
        assert len(got) == min(dim, 16) if dim <= 16 else len(got) == 4
        for a, b in zip(got, want):
            assert math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-7), (i, a, b)


def prov(fk, kind="openai", *opts):
    return ["p", kind, fk.url, *map(str, opts)]


# ---- happy paths ----

@pytest.mark.parametrize("encoding", ["base64", "float"])
def test_openai_vectors_match_the_provider_and_arrive_in_input_order(fk, encoding):
    texts = ["prompt %d with \"quotes\" and \\ and \t tab" % i for i in range(30)]
    r = run(texts, prov(fk, "openai", "encoding", encoding, "dimensions", 12))
    check_vectors(r, texts, 12)
    assert fk.stats()["billable_inputs"] == 30


def test_ollama_vectors_match_the_provider(fk):
    texts = ["ollama %d" % i for i in range(10)]
    r = run(texts, prov(fk, "ollama", "dimensions", 5))
    check_vectors(r, texts, 5)


def test_large_dimension_base64(fk):
    texts = ["big %d" % i for i in range(8)]
    r = run(texts, prov(fk, "openai", "dimensions", 1536))
    check_vectors(r, texts, 1536)


def test_api_key_comes_from_the_named_environment_variable(fk):
    env = dict(os.environ, SC_TEST_KEY="sk-test-123")
    run(["a"], prov(fk, "openai", "api-key-env", "SC_TEST_KEY"), env=env)
    assert fk.stats()["last_auth"] == "Bearer sk-test-123"


def test_missing_api_key_variable_fails_start_up(fk):
    env = {k: v for k, v in os.environ.items() if k != "SC_NOPE"}
    p = subprocess.run([DRIVER, "--", *prov(fk, "openai", "api-key-env", "SC_NOPE")], input="a\n",
                       capture_output=True, text=True, timeout=30, env=env)
    assert p.returncode == 2 and "SC_NOPE is not set" in p.stderr


@pytest.mark.parametrize("line,reason", [
    (["p", "bogus", "http://x"], "kind must be openai or ollama"),
    (["p", "openai", "file:///etc/passwd"], "url must be http"),
    (["p", "openai", "http://x", "max-attempts", "9"], "max-attempts"),
    (["p", "openai", "http://x", "colour", "red"], "unknown provider option"),
])
def test_bad_provider_config_lines_are_rejected(line, reason):
    p = subprocess.run([DRIVER, "--", *line], input="a\n", capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and reason in p.stderr, p.stderr


# ---- batching, coalescing, keep-alive, ledger ----

def test_concurrent_prompts_are_micro_batched(fk):
    texts = ["batch me %d" % i for i in range(40)]
    r = run(texts, prov(fk, "openai", "max-batch", 8, "max-wait-ms", 50), concurrency=40)
    check_vectors(r, texts, 8)
    st = fk.stats()
    assert st["requests"] <= math.ceil(40 / 8), st
    assert max(st["batch_sizes"]) <= 8
    assert st["billable_inputs"] == 40


def test_identical_concurrent_texts_are_sent_once(fk):
    texts = ["same prompt"] * 10 + ["other"] * 5
    r = run(texts, prov(fk, "openai", "max-wait-ms", 20), concurrency=15)
    check_vectors(r, texts, 8)
    assert fk.stats()["billable_inputs"] == 2
    assert r.info["coalesced"] == "13"


def test_sequential_calls_reuse_one_connection(fk):
    texts = ["seq %d" % i for i in range(10)]
    run(texts, prov(fk, "openai", "max-wait-ms", 0), concurrency=1)
    st = fk.stats()
    # connections counts this /stats query's own connection too
    assert st["requests"] == 10 and st["connections"] - 1 == 1, st


def test_token_ledger_equals_provider_billing(fk):
    texts = ["ledger text number %d %s" % (i, "x" * (i * 7)) for i in range(50)]
    texts += ["!500 fails"]   # one failing batch bills nothing
    r = run(texts, prov(fk, "openai", "max-batch", 7, "max-wait-ms", 10, "max-attempts", 1),
            concurrency=20)
    st = fk.stats()
    assert int(r.info["tokens"]) == st["tokens"]
    assert sum(x.get("tokens", 0) for x in r.oks) == st["tokens"]
    assert int(r.info["calls_ok"]) == st["billable_calls"]


def test_cancelled_requests_never_call_back(fk):
    texts = ["cancel %d" % i for i in range(20)]
    r = run(texts, prov(fk, "openai", "max-wait-ms", 5), extra=["--cancel-every", "2"])
    assert r.summary["cancelled"] == 10 and len(r.oks) == 10


# ---- the fault matrix ----

FAST = ["timeout-ms", 600, "connect-timeout-ms", 500, "max-attempts", 1]


@pytest.mark.parametrize("mode,code,words,opts,budget", [
    ("hang", -3, "timed out", FAST, 1.5),
    ("trickle", -3, "timed out", FAST, 1.5),
    ("garbage", -7, "not a json object", FAST, 1.0),
    ("nan", -7, "invalid response", FAST + ["encoding", "float"], 1.0),
    ("nan", -7, "non-finite", FAST, 1.0),
    ("inf", -7, "non-finite", FAST + ["encoding", "float"], 1.0),
    ("wrongdim", -7, "dimension", FAST + ["dimensions", 8], 1.0),
    ("wrongcount", -7, "embeddings for", FAST, 1.0),
    ("dupindex", -7, "index", FAST, 1.0),
    ("badindex", -7, "index", FAST, 1.0),
    ("huge", -8, "max-response", FAST + ["max-response", "1mb"], 2.0),
    ("redirect_meta", -5, "redirect not followed", FAST, 1.0),
    ("redirect_file", -5, "redirect not followed", FAST, 1.0),
    ("redirect_local", -5, "redirect not followed", FAST, 1.0),
    ("quota", -6, "quota exceeded", ["max-attempts", 3], 1.0),
    ("400", -5, "http 400", ["max-attempts", 3], 1.0),
])
def test_fault_mode_ends_in_budget_with_an_error_never_a_vector(fk, mode, code, words, opts, budget):
    texts = ["!%s a" % mode, "!%s b" % mode]   # one batch of two, both poisoned
    r = run(texts, prov(fk, "openai", "max-wait-ms", 20, *opts), concurrency=2)
    assert not r.oks, r.results
    for e in r.errors:
        assert e["code"] == code and words in e["err"].lower(), e
        assert e["err"].startswith("provider 'p' ")
    assert r.elapsed < budget + 0.5, r.elapsed
    st = fk.stats()
    assert st["requests"] == 1, st          # none of these is retried
    assert st["followed"] == 0


def test_ollama_malformed_and_nonfinite_are_rejected(fk):
    r = run(["!nan x"], prov(fk, "ollama", *FAST))
    assert r.errors and not r.oks
    r = run(["!inf x"], prov(fk, "ollama", *FAST))
    assert r.errors[0]["code"] == -7 and "non-finite" in r.errors[0]["err"]


def test_other_requests_proceed_while_one_hangs(fk):
    texts = ["!hang stuck"] + ["fine %d" % i for i in range(10)]
    r = run(texts, prov(fk, "openai", "max-batch", 1, "max-wait-ms", 0, *FAST), concurrency=11)
    assert r.results[0]["code"] == -3
    assert len(r.oks) == 10
    assert max(x["ms"] for x in r.oks) < 500


# ---- retries ----

def test_retry_after_is_honoured(fk):
    fk.mode("429", count=1, arg=1)
    r = run(["retry me"], prov(fk, "openai", "retry-base-ms", 10))
    assert len(r.oks) == 1
    assert r.results[0]["ms"] >= 1000
    assert fk.stats()["requests"] == 2 and r.info["retries"] == "1"


def test_retries_stop_at_the_attempt_cap(fk):
    fk.mode("503", count=-1)
    r = run(["always failing"], prov(fk, "openai", "retry-base-ms", 20, "breaker-failures", 100))
    e = r.errors[0]
    assert e["code"] == -5 and "http 503" in e["err"] and "after 3 attempts" in e["err"], e
    assert fk.stats()["requests"] == 3
    assert r.elapsed < 3


def test_timeouts_are_retried_within_the_budget(fk):
    fk.mode("hang", count=-1)
    r = run(["slow"], prov(fk, "openai", "timeout-ms", 300, "retry-base-ms", 20, "breaker-failures", 100))
    assert r.errors[0]["code"] == -3 and "after 3 attempts" in r.errors[0]["err"]
    assert fk.stats()["requests"] == 3
    assert r.elapsed < 3 * 0.3 + 0.2 + 0.5 + 1


# ---- breaker and failover ----

def test_breaker_opens_then_recovers_after_the_cool_down(fk):
    fk.mode("500", count=2)
    texts = ["b1", "b2", "b3", "b4", "b5"]
    r = run(texts, prov(fk, "openai", "max-attempts", 1, "max-wait-ms", 0, "breaker-failures", 2,
                        "breaker-cooldown-ms", 400),
            concurrency=1, extra=["--pause-after", "3", "--pause-ms", "600"])
    assert [r.results[i]["code"] for i in range(2)] == [-5, -5]
    assert r.results[2]["code"] == -2 and "circuit breaker open" in r.results[2]["err"]
    assert r.results[2]["ms"] < 50          # fails fast, no request
    assert r.results[3]["ok"] and r.results[4]["ok"]
    assert r.info["breaker"] == "closed" and r.info["breaker_opens"] == "1"
    assert fk.stats()["requests"] == 4


def test_failover_to_the_secondary_when_the_primary_is_down(fk):
    texts = ["fo %d" % i for i in range(6)]
    dead = "http://127.0.0.1:%d" % free_port()     # nothing listens there
    args = ["p", "openai", dead, "secondary-url", fk.url,
            "max-attempts", 2, "retry-base-ms", 10, "max-wait-ms", 10]
    r = run(texts, args, concurrency=6)
    check_vectors(r, texts, 8)
    assert int(r.info["failovers"]) >= 1 and int(r.info["err_transport"]) >= 2


# ---- rate limit and queue ----

def test_rate_limit_queues_and_a_full_queue_rejects_at_once(fk):
    texts = ["rl %d" % i for i in range(10)]
    r = run(texts, prov(fk, "openai", "rpm", 60, "queue", 3, "max-batch", 1, "max-wait-ms", 0),
            concurrency=10)
    immediate = [e for e in r.errors if e.get("immediate")]
    assert len(immediate) == 7 and all("queue full" in e["err"] for e in immediate)
    assert len(r.oks) == 3
    assert r.elapsed >= 1.9                 # 60 rpm: one request per second
    assert fk.stats()["requests"] == 3
    assert r.info["err_queue_full"] == "7"


def test_open_breaker_sends_batches_straight_to_the_secondary(fk, fake):
    proc = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "..", "fake_provider.py")],
                            stdout=subprocess.PIPE, text=True)
    try:
        primary = Fake(int(proc.stdout.readline()))
        primary.mode("500", count=-1)
        texts = ["bo %d" % i for i in range(4)]
        args = ["p", "openai", primary.url, "secondary-url", fk.url, "max-attempts", 1,
                "max-wait-ms", 0, "breaker-failures", 1, "breaker-cooldown-ms", 60000]
        r = run(texts, args, concurrency=1)
        check_vectors(r, texts, 8)
        assert primary.stats()["requests"] == 1      # opened after one failure, then skipped
        assert fk.stats()["billable_inputs"] == 4
        assert r.info["breaker"] == "open" and r.info["breaker_secondary"] == "closed"
    finally:
        proc.terminate()
        proc.wait(10)


def test_token_rate_limit_spaces_batches(fk):
    # tpm 1200: a bucket of 20 tokens refilled at 20/s; each 76-byte text is
    # estimated at 20 tokens, so 4 single-text batches need >= 3 refills
    texts = ["%02d" % i + "y" * 74 for i in range(4)]
    r = run(texts, prov(fk, "openai", "tpm", 1200, "max-batch", 1, "max-wait-ms", 0), concurrency=4)
    assert len(r.oks) == 4
    # the fake bills 19 tokens per text: the correction lets later batches
    # leave slightly early, never before (20 * 3 - 3) / 20 s
    assert r.elapsed >= 2.5, r.elapsed


@pytest.mark.parametrize("kind", ["openai", "ollama"])
def test_big_float_responses_are_parsed_off_the_loop(fk, kind):
    # 16 x 1536 floats as JSON is ~500 KB: parsed on the threadpool, the
    # vectors are right and the loop does not stall (run() checks < 50 ms)
    texts = ["big float %d" % i for i in range(16)]
    opts = ["dimensions", 1536, "max-batch", 16, "max-wait-ms", 20]
    if kind == "openai":
        opts += ["encoding", "float"]
    r = run(texts, prov(fk, kind, *opts), concurrency=16)
    check_vectors(r, texts, 1536)
    assert fk.stats()["requests"] == 1


# ---- providers inside simcache-server ----

def test_server_starts_configured_provider_and_stops_cleanly(fk, server_factory):
    """A `provider` line in the server's configuration starts that provider
    with the server: it shows in INFO providers, and the server still exits
    0 on SIGTERM (curl's handles close with the loop)."""
    srv = server_factory("--provider", "emb", "openai", fk.url, "model", "m1",
                         "dimensions", "16")
    with srv.conn() as c:
        info = c.cmd("INFO", "providers")
    text = info.decode() if isinstance(info, bytes) else str(info)
    lines = [l for l in text.splitlines() if l.startswith("provider_emb:")]
    assert len(lines) == 1, text
    fields = lines[0].split(":", 1)[1].split(",")
    assert fields[0] == "kind=openai" and "dim=16" in fields, fields


def test_server_refuses_provider_with_missing_api_key(server_factory, tmp_path):
    """A provider whose API key variable is unset stops start-up with a
    clear message instead of failing later on every request."""
    env_var = "SIMCACHE_TEST_UNSET_KEY_%d" % os.getpid()
    os.environ.pop(env_var, None)
    out = subprocess.run([os.environ["SIMCACHE_SERVER"], "--port", "0",
                          "--provider", "emb", "openai", "http://127.0.0.1:9",
                          "api-key-env", env_var],
                         capture_output=True, timeout=30)
    assert out.returncode != 0
    assert env_var.encode() in out.stdout + out.stderr
