"""CACHE.GET's semantic tier and CACHE.SEARCH on the worker pool: replies
stay in request order on a pipelined connection, INFO counts the threaded
searches, and a DROP/FLUSH of the namespace or a client vanishing while its
search is in flight neither crashes the server (run under ASan by
scripts/test.sh asan) nor serves a deleted or foreign answer.

Namespaces below CACHE_ASYNC_MIN (64) entries are searched on the loop, so
every namespace here is filled past it with unrelated filler entries."""
import socket
import threading
import time

import pytest

from conftest import ns_name, as_dict, FAQ, REWORDED

pytestmark = pytest.mark.simcache_only

FILLERS = 100




def fill(c, ns, tag=""):
    """FAQ answers prefixed with tag, plus FILLERS unrelated entries."""
    p = c.pipeline(transaction=False)
    for i in range(FILLERS):
        p.execute_command("CACHE.PUT", ns, f"filler entry {i} about kumquat{i} and zeppelin{i}",
                          f"filler-{i}")
    for q, a in FAQ.items():
        p.execute_command("CACHE.PUT", ns, q, tag + a)
    p.execute()


def info_cache(c):
    return c.info("cache")


@pytest.fixture(autouse=True)
def searches_on_the_pool(srv):
    """Every test here is about the pool path, so the idle-pool shortcut
    (a search runs on the loop when nothing is in flight, workers.c note 6)
    is off (it is off by default too; this guards against a changed
    default); test_vset_pool.py covers the shortcut."""
    with srv.conn() as c:
        assert c.cmd("CONFIG", "SET", "vset-inline-when-idle", "no") == "OK"
    yield
    if srv.alive():
        with srv.conn() as c:
            c.cmd("CONFIG", "SET", "vset-inline-when-idle", "no")


def test_semantic_get_and_search_run_on_the_pool(r):
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    fill(r, ns)
    before = info_cache(r)["cache_searches_threaded"]
    for q, a in REWORDED.items():
        d = as_dict(r.execute_command("CACHE.GET", ns, q, "WITHMETA"))
        assert d["tier"] == b"semantic", (q, d)
        assert d["response"] == a.encode()
        assert d["prompt"] in [p.encode() for p in FAQ]
    assert as_dict(r.execute_command("CACHE.GET", ns, "completely unrelated ocelot"))["tier"] \
        == b"miss"
    res = r.execute_command("CACHE.SEARCH", ns, "how do I reset my password please", "COUNT", "3")
    assert len(res) == 3
    top = as_dict(res[0])
    assert top["prompt"] == b"How do I reset my password?"
    after = info_cache(r)["cache_searches_threaded"]
    assert after - before == len(REWORDED) + 2   # 3 hits, 1 miss, 1 SEARCH
    # the exact tier never reaches the pool
    assert as_dict(r.execute_command("CACHE.GET", ns, "How do I reset my password?"))["tier"] \
        == b"exact"
    assert info_cache(r)["cache_searches_threaded"] == after


def test_small_namespace_is_searched_on_the_loop(r):
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    r.execute_command("CACHE.PUT", ns, "How do I reset my password?", "reset")
    before = info_cache(r)["cache_searches_threaded"]
    d = as_dict(r.execute_command("CACHE.GET", ns, "how do I reset my password please"))
    assert d["tier"] == b"semantic"
    assert info_cache(r)["cache_searches_threaded"] == before


def test_pipelined_mix_replies_in_request_order(r):
    ns = ns_name()
    r.execute_command("CACHE.CREATE", ns)
    fill(r, ns)
    for rnd in range(5):
        p = r.pipeline(transaction=False)
        p.execute_command("CACHE.PUT", ns, f"Where is the invoice number {rnd} printed?",
                          f"inv-{rnd}")
        p.execute_command("CACHE.GET", ns, f"Where is the invoice number {rnd} printed?")
        p.execute_command("CACHE.GET", ns, "how do I reset my password please")
        p.set(f"k{rnd}", f"v{rnd}")
        p.execute_command("CACHE.GET", ns, "what is the refund policy for annual plan")
        p.get(f"k{rnd}")
        p.execute_command("CACHE.GET", ns, "completely unrelated ocelot")
        p.execute_command("CACHE.SEARCH", ns, "How can I export all my data to CSV", "COUNT", "1")
        p.ping()
        out = p.execute()
        assert isinstance(out[0], int)
        assert as_dict(out[1])["tier"] == b"exact"
        assert as_dict(out[1])["response"] == f"inv-{rnd}".encode()
        assert as_dict(out[2])["response"] == b"reset"
        assert out[3] is True
        assert as_dict(out[4])["response"] == b"refund"
        assert out[5] == f"v{rnd}".encode()
        assert as_dict(out[6])["tier"] == b"miss"
        assert as_dict(out[7][0])["prompt"] == b"How can I export my data to CSV?"
        assert out[8] is True


def test_drop_and_flush_while_clients_hammer_semantic_gets(srv):
    """Four connections loop semantic GETs on namespace A while the main
    connection FLUSHes, refills, DROPs and recreates A. A neighbour
    namespace B holds the same prompts with other answers: B's answers must
    never come back from A; after a FLUSH or DROP returned, the next GET on
    the main connection is a miss (or an error for a missing namespace)."""
    s = srv
    main = s.redis()
    a, b = ns_name(), ns_name()
    main.execute_command("CACHE.CREATE", a)
    main.execute_command("CACHE.CREATE", b)
    fill(main, a, "A-")
    fill(main, b, "B-")
    stop = threading.Event()
    errors, seen = [], {"hits": 0, "misses": 0, "nons": 0}

    def hammer():
        c = s.redis()
        try:
            while not stop.is_set():
                p = c.pipeline(transaction=False)
                for q in REWORDED:
                    p.execute_command("CACHE.GET", a, q)
                for out in p.execute(raise_on_error=False):
                    if isinstance(out, Exception):
                        if "no such namespace" not in str(out).lower():
                            errors.append(repr(out))
                        seen["nons"] += 1
                        continue
                    d = as_dict(out)
                    if d["tier"] == b"miss":
                        seen["misses"] += 1
                    elif not d["response"].startswith(b"A-"):
                        errors.append(repr(d))
                    else:
                        seen["hits"] += 1
        except Exception as e:  # noqa: BLE001 -- reported below
            errors.append(repr(e))
        finally:
            c.close()

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        deadline = time.time() + 3
        while time.time() < deadline:
            main.execute_command("CACHE.FLUSH", a)
            d = as_dict(main.execute_command("CACHE.GET", a, "how do I reset my password please"))
            assert d["tier"] == b"miss", d
            fill(main, a, "A-")
            main.execute_command("CACHE.DROP", a)
            main.execute_command("CACHE.CREATE", a)
            d = as_dict(main.execute_command("CACHE.GET", a, "how do I reset my password please"))
            assert d["tier"] == b"miss", d
            fill(main, a, "A-")
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[:5]
    assert seen["hits"] > 0
    # B was never touched and still answers from its own entries
    d = as_dict(main.execute_command("CACHE.GET", b, "how do I reset my password please"))
    assert d["response"] == b"B-reset"
    assert main.ping()


def test_client_disconnecting_while_parked(srv):
    s = srv
    main = s.redis()
    ns = ns_name()
    main.execute_command("CACHE.CREATE", ns)
    fill(main, ns)
    before = info_cache(main)["cache_searches_threaded"]
    req = b""
    for q in list(REWORDED) * 10:
        parts = [b"CACHE.GET", ns.encode(), q.encode()]
        req += b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in parts)
    for _ in range(20):
        sock = socket.create_connection(("127.0.0.1", s.port))
        sock.sendall(req)
        sock.close()
    # the server keeps serving, and the abandoned searches completed
    d = as_dict(main.execute_command("CACHE.GET", ns, "how do I reset my password please"))
    assert d["response"] == b"reset"
    assert info_cache(main)["cache_searches_threaded"] > before
    assert main.ping()


def test_wait_coalescing_after_a_threaded_miss(srv):
    """GET ... WAIT on a pool-searched namespace: the first miss gets fill 1,
    later identical misses park on the pending fill after their threaded
    search, and the PUT answers all of them as exact hits."""
    admin = srv.redis()
    ns = ns_name()
    admin.execute_command("CACHE.CREATE", ns)
    fill(admin, ns)
    prompt = "Explain the difference between TCP and UDP"
    before = info_cache(admin)["cache_searches_threaded"]
    first = as_dict(admin.execute_command("CACHE.GET", ns, prompt, "WAIT", "20000"))
    assert first["tier"] == b"miss" and first["fill"] == 1
    n = 4
    results = [None] * n

    def waiter(i):
        c = srv.redis()
        results[i] = as_dict(c.execute_command("CACHE.GET", ns, prompt, "WAIT", "20000"))
        c.close()

    threads = [threading.Thread(target=waiter, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    # every waiter's search completed (and parked it on the fill) before the PUT
    deadline = time.time() + 15
    while info_cache(admin)["cache_searches_threaded"] < before + 1 + n:
        assert time.time() < deadline, "threaded searches did not complete"
        time.sleep(0.02)
    eid = admin.execute_command("CACHE.PUT", ns, prompt, "TCP is reliable")
    for t in threads:
        t.join(20)
    assert all(x and x["tier"] == b"exact" and x["id"] == eid for x in results), results
    info = as_dict(admin.execute_command("CACHE.INFO", ns))
    assert info["misses"] == 1 and info["hits_exact"] == n
