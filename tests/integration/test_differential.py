"""Differential test: the same command scripts are sent, over raw sockets in
RESP2, to Debian's redis-server (the reference) and to the server under
test, and the raw reply bytes are compared.

Scripts live in tests/integration/scripts/*.txt, one command per line, in
redis-cli syntax (words split on spaces; "double quotes" with \\n \\r \\t
\\\\ \\" \\xNN escapes; 'single quotes' literal). Blank lines and lines
starting with `#` are ignored. Each script starts on an empty database
(FLUSHALL, not compared).

Each script runs three ways: one command per round trip (RESP2), all
commands between two @sleep lines in one write (RESP2, pipelined), and one
command per round trip after HELLO 3 (RESP3; the HELLO reply itself names
the server and is not compared).

Normalisation is opt-in per line and kept to what must differ between two
correct servers:
  @tol N CMD...   both replies are integers and differ by at most N
                  (TTL/PTTL: the two servers run the script moments apart)
  @sorted CMD...  arrays compared as multisets, recursively (KEYS, SCAN
                  order is unspecified)
  @sleep MS       pause on both servers (expiry), nothing sent
Everything else must match byte for byte, error texts included.
"""
import glob
import os
import time

import pytest

from conftest import HERE, RespError

SCRIPTS = sorted(glob.glob(os.path.join(HERE, "scripts", "*.txt")))


def split_args(line):
    """redis-cli/sdssplitargs word splitting. Raises ValueError on
    unbalanced quotes (a script bug)."""
    args, i, n = [], 0, len(line)
    while True:
        while i < n and line[i].isspace():
            i += 1
        if i >= n:
            return args
        cur = bytearray()
        inq = insq = False
        while True:
            if inq:
                if i >= n:
                    raise ValueError("unbalanced quotes: %r" % line)
                ch = line[i]
                if ch == "\\" and i + 3 < n and line[i + 1] == "x" and \
                        all(c in "0123456789abcdefABCDEF" for c in line[i + 2:i + 4]):
                    cur.append(int(line[i + 2:i + 4], 16))
                    i += 3
                elif ch == "\\" and i + 1 < n:
                    i += 1
                    cur += {"n": b"\n", "r": b"\r", "t": b"\t", "b": b"\b",
                            "a": b"\a"}.get(line[i], line[i].encode())
                elif ch == '"':
                    if i + 1 < n and not line[i + 1].isspace():
                        raise ValueError("closing quote must be followed by a space: %r" % line)
                    inq = False
                    i += 1
                    break
                else:
                    cur += ch.encode()
            elif insq:
                if i >= n:
                    raise ValueError("unbalanced quotes: %r" % line)
                ch = line[i]
                if ch == "\\" and i + 1 < n and line[i + 1] == "'":
                    i += 1
                    cur += b"'"
                elif ch == "'":
                    insq = False
                    i += 1
                    break
                else:
                    cur += ch.encode()
            else:
                if i >= n or line[i].isspace():
                    break
                ch = line[i]
                if ch == '"':
                    inq = True
                elif ch == "'":
                    insq = True
                else:
                    cur += ch.encode()
            i += 1
        args.append(bytes(cur))


def parse_script(path):
    steps = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            mode, arg = "exact", None
            if line.startswith("@"):
                word, _, rest = line.partition(" ")
                if word == "@tol":
                    tol, _, rest = rest.partition(" ")
                    mode, arg, line = "tol", int(tol), rest
                elif word == "@sorted":
                    mode, line = "sorted", rest
                elif word == "@sleep":
                    steps.append((lineno, "sleep", int(rest), None))
                    continue
                else:
                    raise ValueError("%s:%d: unknown directive %s" % (path, lineno, word))
            steps.append((lineno, mode, arg, split_args(line)))
    return steps


def canonical(v):
    """Order-insensitive form of a decoded reply (for @sorted)."""
    if isinstance(v, list):
        return ("array", tuple(sorted((canonical(x) for x in v), key=repr)))
    if isinstance(v, dict):
        return ("map", tuple(sorted(((canonical(k), canonical(x)) for k, x in v.items()),
                                    key=repr)))
    if isinstance(v, RespError):
        return ("error", str(v))
    return (type(v).__name__, v)


def run_script(server, steps, variant):
    """[(lineno, decoded, raw)] for every command step.

    variant: "resp2" one command, one reply; "pipelined" every command
    between two @sleep lines in one write, replies read afterwards;
    "resp3" like resp2 after HELLO 3 (whose reply names the server and is
    not compared)."""
    out = []
    with server.conn() as c:
        assert c.cmd("FLUSHALL") == "OK"
        if variant == "resp3":
            assert isinstance(c.cmd("HELLO", "3"), dict)
        batch = []

        def flush():
            c.send(b"".join(c.encode(*args) for _, args in batch))
            for lineno, _ in batch:
                v, raw = c.read()
                out.append((lineno, v, raw))
            batch.clear()

        for lineno, mode, arg, args in steps:
            if mode == "sleep":
                flush()
                time.sleep(arg / 1000.0)
                continue
            batch.append((lineno, args))
            if variant != "pipelined":
                flush()
        flush()
    return out


VARIANTS = ["resp2", "pipelined", "resp3"]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("script", SCRIPTS, ids=[os.path.basename(s) for s in SCRIPTS])
def test_differential(script, variant, srv, ref_redis):
    steps = parse_script(script)
    assert steps, "empty script"
    ref = run_script(ref_redis, steps, variant)
    ours = run_script(srv, steps, variant)
    assert len(ref) == len(ours)
    cmds = {lineno: (mode, arg, args) for lineno, mode, arg, args in steps}
    diffs = []
    for (lineno, rv, rraw), (_, ov, oraw) in zip(ref, ours):
        mode, arg, args = cmds[lineno]
        if mode == "tol":
            if not isinstance(rv, int):
                diffs.append("%d: reference reply to a @tol line is not an integer: %r"
                             % (lineno, rraw))
                continue
            ok = isinstance(ov, int) and abs(rv - ov) <= arg
        elif mode == "sorted":
            ok = canonical(rv) == canonical(ov)
        else:
            ok = rraw == oraw
        if not ok:
            diffs.append("%s:%d: %s\n    redis: %r\n    ours:  %r" % (
                os.path.basename(script), lineno, b" ".join(args).decode(errors="replace"),
                rraw, oraw))
    assert not diffs, "%s: %d of %d replies differ:\n%s" % (
        variant, len(diffs), len(ref), "\n".join(diffs))


def test_split_args():
    assert split_args('SET "a b" c') == [b"SET", b"a b", b"c"]
    assert split_args('"\\x00\\n" \'x\\\'y\'') == [b"\x00\n", b"x'y"]
    assert split_args('SET k ""') == [b"SET", b"k", b""]
    with pytest.raises(ValueError):
        split_args('SET "a')
