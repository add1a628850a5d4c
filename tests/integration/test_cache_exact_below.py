"""CACHE.CREATE ... EXACT-BELOW n: the entry count up to which a namespace's
lookups scan its vectors instead of walking the HNSW graph (README "Known
recall gap"; index/hnsw.c design 10), through the real server and
redis-py.

The data is bench/hnsw_island_probe.c's: 200 fillers, the 3 FAQ prompts,
then templated writer prompts, 2,000 entries: the regime where the graph
alone misses the FAQ entries (test_hnsw_plateau.c): with EXACT-BELOW 0
(the graph always) a reworded FAQ query comes back a miss (checked by
hand), as every namespace of this size did before the code scan."""
import time

import pytest

from conftest import ns_name, as_dict

pytestmark = pytest.mark.simcache_only

FAQ = {"How do I reset my password?": "Settings > Reset",
       "What is the refund policy for annual plans?": "Refunds within 30 days",
       "How can I export my data to CSV?": "Account > Export"}
REWORDED = {"how do I reset my password please": "Settings > Reset",
            "what is the refund policy for annual plan": "Refunds within 30 days",
            "How can I export all my data to CSV": "Account > Export"}


def fill(r, ns, n=2000):
    p = r.pipeline(transaction=False)
    for i in range(200):
        p.execute_command("CACHE.PUT", ns, f"filler entry {i} about kumquat{i} and zeppelin{i}",
                          f"f{i}")
    for q, a in FAQ.items():
        p.execute_command("CACHE.PUT", ns, q, a)
    for i in range(n - 203):
        p.execute_command("CACHE.PUT", ns,
                          f"writer {i} prompt about gadget{i} and widget{i % 97}", f"w{i}")
    p.execute()
    deadline = time.time() + 30
    while as_dict(r.execute_command("CACHE.INFO", ns))["pending_index"] and time.time() < deadline:
        time.sleep(0.05)
    info = as_dict(r.execute_command("CACHE.INFO", ns))
    assert info["entries"] == n and info["pending_index"] == 0


def test_info_reports_the_default_threshold_and_an_explicit_one(r):
    a, b, c = ns_name(), ns_name(), ns_name()
    assert r.execute_command("CACHE.CREATE", a) == b"OK"
    assert r.execute_command("CACHE.CREATE", b, "EXACT-BELOW", "10000") == b"OK"
    assert r.execute_command("CACHE.CREATE", c, "QUANT", "int8", "EXACT-BELOW", "0") == b"OK"
    # the default DIM 256, float32 with int8 codes: max(2,560, 2^19 / 256) (hnsw.c)
    assert as_dict(r.execute_command("CACHE.INFO", a))["exact_below"] == 2560
    assert as_dict(r.execute_command("CACHE.INFO", b))["exact_below"] == 10000
    assert as_dict(r.execute_command("CACHE.INFO", c))["exact_below"] == 0


@pytest.mark.parametrize("value,err", [("-1", "value is not an integer or out of range"),
                                       ("ten", "value is not an integer or out of range"),
                                       ("4294967296", "EXACT-BELOW must be 0..4294967295")])
def test_a_bad_exact_below_is_refused_and_creates_nothing(r, value, err):
    ns = ns_name()
    with pytest.raises(Exception) as e:
        r.execute_command("CACHE.CREATE", ns, "EXACT-BELOW", value)
    assert err in str(e.value)
    with pytest.raises(Exception):
        r.execute_command("CACHE.INFO", ns)


def test_exact_below_without_a_value_is_a_syntax_error(r):
    with pytest.raises(Exception) as e:
        r.execute_command("CACHE.CREATE", ns_name(), "EXACT-BELOW")
    assert "syntax error" in str(e.value)


@pytest.mark.parametrize("opts", [(), ("EXACT-BELOW", "5000")])
def test_reworded_faq_hits_behind_the_writer_plateau(r, opts):
    ns = ns_name()
    assert r.execute_command("CACHE.CREATE", ns, *opts) == b"OK"
    fill(r, ns)
    for q, a in REWORDED.items():
        d = as_dict(r.execute_command("CACHE.GET", ns, q))
        assert d["tier"] == b"semantic", (q, d)
        assert d["response"] == a.encode()
