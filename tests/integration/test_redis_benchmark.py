"""redis-benchmark (7.0) against the real server.

redis-benchmark 7.0 exits with status 1 on the first error reply, so exit
status 0 plus one "N requests per second" line per test means every reply
of every request was well-formed and not an error. It also opens a control
connection that sends `CONFIG GET save` and `CONFIG GET appendonly`
pipelined; with -3 each benchmark connection starts with HELLO 3.

No rate is asserted beyond "positive": timing belongs in bench/.
"""
import re
import subprocess

import pytest

BENCH = "/usr/bin/redis-benchmark"
RATE = re.compile(r"^(.+?): ([0-9.]+) requests per second")


def bench(srv, *args, env, timeout=180):
    p = subprocess.run([BENCH, "-h", "127.0.0.1", "-p", str(srv.port), *args],
                       capture_output=True, timeout=timeout, env=env)
    text = p.stdout.decode(errors="replace")
    assert p.returncode == 0, (p.returncode, text[-2000:], p.stderr[-2000:])
    assert b"Error from server" not in p.stdout + p.stderr
    rates = {}
    for line in re.split(r"[\r\n]", text):
        m = RATE.match(line.strip())
        if m:
            rates[m.group(1)] = float(m.group(2))
    return rates, p


WANT = ["PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "MSET (10 keys)"]


def check_rates(rates):
    assert sorted(rates) == sorted(WANT), rates
    for name, rps in rates.items():
        assert rps > 0, (name, rps)


def test_standard_workloads(srv, tool_env):
    rates, p = bench(srv, "-t", "ping,set,get,incr,mset", "-n", "20000", "-c", "20", "-q",
                     env=tool_env)
    assert b"WARNING: Could not fetch server CONFIG" not in p.stdout + p.stderr
    check_rates(rates)
    r = srv.redis()
    # INCR ran 20000 times on one key; -r not given, so the key is literal
    assert int(r.get("counter:__rand_int__")) == 20000
    assert r.get("key:__rand_int__") == b"VXK"


def test_pipelined_workloads(srv, tool_env):
    rates, _ = bench(srv, "-t", "ping,set,get,incr,mset", "-n", "20000", "-c", "20", "-P", "16",
                     "-q", env=tool_env)
    check_rates(rates)
    assert int(srv.redis().get("counter:__rand_int__")) == 20000


def test_resp3_workloads(srv, tool_env):
    rates, _ = bench(srv, "-3", "-t", "ping,set,get,incr,mset", "-n", "20000", "-c", "20", "-q",
                     env=tool_env)
    check_rates(rates)


def test_random_keys_and_value_size(srv, tool_env):
    rates, _ = bench(srv, "-t", "set", "-n", "5000", "-c", "10", "-r", "1000", "-d", "100",
                     "-q", env=tool_env)
    assert list(rates) == ["SET"]
    r = srv.redis()
    n = r.dbsize()
    assert 900 <= n <= 1000, n    # 5000 draws from 1000 keys: all but a few hit
    key = r.randomkey()
    assert re.fullmatch(rb"key:\d{12}", key), key
    assert r.strlen(key) == 100


def test_custom_command(srv, tool_env):
    rates, _ = bench(srv, "-n", "2000", "-c", "10", "-r", "100", "-q",
                     "set", "ck:__rand_int__", "hello", env=tool_env)
    assert list(rates) == ["set ck:__rand_int__ hello"], rates
    r = srv.redis()
    keys = r.keys("ck:*")
    assert 1 <= len(keys) <= 100
    assert all(r.get(k) == b"hello" for k in keys)
    rates, _ = bench(srv, "-n", "2000", "-c", "10", "-q", "incrby", "cnt", "3", env=tool_env)
    assert list(rates) == ["incrby cnt 3"], rates
    assert int(r.get("cnt")) == 6000


def test_csv_output_fields(srv, tool_env):
    _, p = bench(srv, "-t", "get", "-n", "2000", "-c", "5", "--csv", env=tool_env)
    lines = p.stdout.decode().strip().splitlines()
    assert lines[0] == ('"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",'
                        '"p95_latency_ms","p99_latency_ms","max_latency_ms"')
    fields = [f.strip('"') for f in lines[1].split(",")]
    assert fields[0] == "GET" and float(fields[1]) > 0
