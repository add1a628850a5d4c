#!/usr/bin/env bash
# load_compare.sh -- simcache-bench load against redis-benchmark on the same
# simcache server, same -c/-P/-n/-r, alternating runs (sb, rb, sb, rb...),
# medians per tool. The two generators measure the same thing, so their
# numbers should agree within the machine's noise; a gap is a bug in one of
# them (or a client-bound run: both share the cores with the server).
#
#   bash bench/sbench/load_compare.sh [BUILD_DIR]     (default build/release)
# Env: ROUNDS (5), N (200000), CLIENTS (50), PIPELINES ("1 16"), KEYS (100000)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build/release}
SERVER=$BUILD/server/simcache-server
BENCH=$BUILD/bench/sbench/simcache-bench
ROUNDS=${ROUNDS:-5} N=${N:-200000} CLIENTS=${CLIENTS:-50} PIPELINES=${PIPELINES:-"1 16"}
KEYS=${KEYS:-100000}
[ -x "$SERVER" ] && [ -x "$BENCH" ] || { echo "build first: $SERVER, $BENCH" >&2; exit 1; }
command -v redis-benchmark >/dev/null || { echo "redis-benchmark missing (apt-get install redis-tools)" >&2; exit 1; }
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
OUT=$(mktemp -d)
"$SERVER" --port "$PORT" --bind 127.0.0.1 >"$OUT/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$OUT"' EXIT
for _ in $(seq 50); do
    redis-cli -p "$PORT" ping >/dev/null 2>&1 && break
    sleep 0.1
done
for p in $PIPELINES; do
    for r in $(seq "$ROUNDS"); do
        "$BENCH" load -p "$PORT" -c "$CLIENTS" -n "$N" -r "$KEYS" -P "$p" -t set,get --csv \
            --no-progress | tail -n +2 | sed "s/^/sb,$p,/" >>"$OUT/all.csv"
        redis-benchmark -p "$PORT" -c "$CLIENTS" -n "$N" -r "$KEYS" -P "$p" -t set,get --csv \
            2>/dev/null | tail -n +2 | sed "s/^/rb,$p,/" >>"$OUT/all.csv"
    done
done
/usr/bin/python3 - "$OUT/all.csv" "$ROUNDS" "$N" "$CLIENTS" <<'PY'
import csv, statistics, sys
rows = list(csv.reader(open(sys.argv[1])))
print(f"medians of {sys.argv[2]} alternating runs, -n {sys.argv[3]} -c {sys.argv[4]}\n")
print("| test | -P | simcache-bench rps | redis-benchmark rps | ratio | sb p50 ms | rb p50 ms | sb p99 ms | rb p99 ms |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
keys = sorted({(r[2], int(r[1])) for r in rows}, key=lambda k: (k[1], k[0]))
for test, p in keys:
    med = lambda tool, col: statistics.median(float(r[col]) for r in rows
                                             if r[0] == tool and r[2] == test and int(r[1]) == p)
    sb, rb = med("sb", 3), med("rb", 3)
    print(f"| {test} | {p} | {sb:.0f} | {rb:.0f} | {sb / rb:.2f} | {med('sb', 6):.3f} | "
          f"{med('rb', 6):.3f} | {med('sb', 8):.3f} | {med('rb', 8):.3f} |")
PY
