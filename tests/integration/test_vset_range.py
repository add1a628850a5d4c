"""VRANGE over the name-order index (server/vset_order.c) through redis-py.

Threats covered: a page boundary that skips or repeats an element when a
client pages with exclusive `(name` bounds (the index must seek past the
bound, not to it); writes between pages (VADD of new names, VREM of names
ahead of and behind the cursor) corrupting the walk or leaving a removed
name reachable; binary names (NUL bytes, 0xff, the empty name, names that
are prefixes of each other) sorted by something other than memcmp then
length; count 0 / negative / larger than the set; missing keys; the index
outliving DEL / FLUSHALL (run under the ASan server build)."""
import random

import pytest

pytestmark = pytest.mark.simcache_only


def vadd_many(r, key, names, seed=1):
    rng = random.Random(seed)
    p = r.pipeline(transaction=False)
    for nm in names:
        p.execute_command("VADD", key, "VALUES", 2, rng.uniform(0.1, 1), rng.uniform(0.1, 1), nm)
    return p.execute()


def page_all(r, key, count, start=b"-"):
    seen = []
    while True:
        page = r.execute_command("VRANGE", key, start, "+", count)
        assert len(page) <= count
        if not page:
            return seen
        seen += page
        start = b"(" + page[-1]


def model_range(names, lo, hi, count):
    """names sorted; lo/hi as VRANGE arguments (bytes)."""
    out = []
    for n in names:
        if lo != b"-":
            if n < lo[1:] or (n == lo[1:] and lo[:1] == b"("):
                continue
        if hi != b"+":
            if n > hi[1:] or (n == hi[1:] and hi[:1] == b"("):
                break
        out.append(n)
    return out if count < 0 else out[:count]


def random_name(rng):
    alpha = b"\x00ab\xff"
    return bytes(rng.choice(alpha) for _ in range(rng.randrange(0, 6)))


def test_paging_10k_with_exclusive_bounds_returns_every_element_once_in_memcmp_order(r):
    rng = random.Random(3)
    names = set()
    while len(names) < 10000:
        names.add(b"e%d" % rng.randrange(10 ** 6) + bytes(rng.choice(b"\x00A\xff") for _ in range(rng.randrange(3))))
    names |= {b"", b"\x00", b"e1", b"e10", b"e100"}   # empty name, prefixes
    names = sorted(names)     # Python bytes order is memcmp then length
    vadd_many(r, "big", names)
    assert r.execute_command("VCARD", "big") == len(names)
    for count in (1, 7, 100, 4096):
        assert page_all(r, "big", count) == names
    assert r.execute_command("VRANGE", "big", "-", "+") == names
    assert r.execute_command("VRANGE", "big", "-", "+", -5) == names
    assert r.execute_command("VRANGE", "big", "-", "+", len(names) + 10) == names


def test_vadd_and_vrem_between_pages_never_repeat_or_skip_a_stable_element(r):
    rng = random.Random(4)
    live = set(b"k%06d" % rng.randrange(10 ** 6) for _ in range(3000))
    vadd_many(r, "churn", sorted(live))
    stable = set(live)     # names never removed during the walk
    seen, start = [], b"-"
    while True:
        page = r.execute_command("VRANGE", "churn", start, "+", 50)
        if not page:
            break
        for n in page:
            assert n in live, "a removed name was returned"
        seen += page
        start = b"(" + page[-1]
        # removals ahead of and behind the cursor, and fresh names anywhere
        for n in rng.sample(sorted(live), min(10, len(live))):
            assert r.execute_command("VREM", "churn", n) == 1
            live.discard(n)
            stable.discard(n)
        for _ in range(10):
            n = b"k%06d" % rng.randrange(10 ** 6)
            if n not in live:
                r.execute_command("VADD", "churn", "VALUES", 2, 1, 0.5, n)
                live.add(n)
    assert seen == sorted(set(seen)), "pages repeated a name or went backwards"
    assert stable <= set(seen), "an element present throughout was skipped"
    assert r.execute_command("VRANGE", "churn", "-", "+") == sorted(live)
    assert r.execute_command("VCARD", "churn") == len(live)


def test_random_bounds_and_counts_match_a_model_on_binary_names(r):
    rng = random.Random(5)
    names = sorted(set(random_name(rng) for _ in range(600)))
    vadd_many(r, "bin", names)
    assert r.execute_command("VRANGE", "bin", "-", "+") == names
    for _ in range(400):
        lo = rng.choice([b"-", b"[" + random_name(rng), b"(" + random_name(rng)])
        hi = rng.choice([b"+", b"[" + random_name(rng), b"(" + random_name(rng)])
        count = rng.choice([-1, -7, 0, 1, 2, 5, 50, 10 ** 6])
        args = ["VRANGE", "bin", lo, hi, count]
        want = model_range(names, lo, hi, count)
        assert r.execute_command(*args) == want, args
    # `+` as start or `-` as end select nothing; so does an inverted range
    assert r.execute_command("VRANGE", "bin", "+", "+") == []
    assert r.execute_command("VRANGE", "bin", "-", "-") == []
    assert r.execute_command("VRANGE", "bin", "[b", "[a") == []


def test_missing_key_count_zero_and_index_after_del_and_flushall(r):
    assert r.execute_command("VRANGE", "nokey", "-", "+", 10) == []
    vadd_many(r, "d", [b"a", b"b", b"c"])
    assert r.execute_command("VRANGE", "d", "-", "+", 0) == []
    assert r.execute_command("VRANGE", "d", "(a", "+", 1) == [b"b"]
    assert r.execute_command("DEL", "d") == 1
    assert r.execute_command("VRANGE", "d", "-", "+") == []
    vadd_many(r, "d", [b"z", b"y"])
    assert r.execute_command("VRANGE", "d", "-", "+") == [b"y", b"z"]
    # removing every element empties the index; the key is gone with it
    for n in (b"y", b"z"):
        assert r.execute_command("VREM", "d", n) == 1
    assert r.execute_command("VRANGE", "d", "-", "+") == []
    vadd_many(r, "f", [b"q%d" % i for i in range(100)])
    r.flushall()
    assert r.execute_command("VRANGE", "f", "-", "+") == []


def test_vector_replacement_keeps_the_name_once_in_the_order(r):
    vadd_many(r, "rep", [b"a", b"b", b"c"])
    for i in range(20):    # replacing a vector must not re-link the name
        assert r.execute_command("VADD", "rep", "VALUES", 2, 1, i + 1, "b") == 0
    assert r.execute_command("VRANGE", "rep", "-", "+") == [b"a", b"b", b"c"]
