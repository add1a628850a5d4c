#!/usr/bin/env bash
# redis_compare.sh -- simcache-server vs Debian's redis-server under the same
# redis-benchmark workloads, on this machine, in the same run.
#
# What it does:
#  1. Starts redis-server (--save '' --appendonly no) and simcache-server on
#     free loopback ports (chosen by binding port 0), waits for PING, and
#     records both PIDs; the EXIT trap stops exactly those PIDs with SIGTERM.
#  2. Runs `redis-benchmark -c 50 -r 100000 -n N -t set,get,mset,incr --csv`
#     with pipeline 1 and 16 against each server, alternating
#     (ours, redis, ours, redis, ...) for ROUNDS rounds, so drift in machine
#     load hits both sides alike. Both databases are flushed before a run.
#  3. Parses the CSV (rps, avg, min, p50, p95, p99, max in ms) and prints a
#     markdown table of medians per workload, with the ratio ours/redis for
#     throughput (> 1 = we are faster) and p50/p99 latency (< 1 = we are
#     faster).
#
# Usage: bash bench/redis_compare.sh
# Env:   SIMCACHE_SERVER  our binary (default build/release/server/simcache-server;
#                         /usr/bin/redis-server works to check the script itself)
#        BENCH_N          requests per workload per run (default 1000000; use
#                         100000 on a shared machine)
#        BENCH_ROUNDS     alternations (default 3: medians of 3 runs each)
#        BENCH_CLIENTS    connections (default 50)
#        BENCH_PIPELINES  pipeline depths (default "1 16")
#        BENCH_OUT        directory for raw CSVs (default a mktemp dir)
# redis-benchmark is single-threaded: on a 2-core machine it shares the CPU
# with the server, for both servers alike. Absolute numbers depend on the
# machine; the ratio is the result.
set -euo pipefail
cd "$(dirname "$0")/.."

OURS=${SIMCACHE_SERVER:-build/release/server/simcache-server}
REF=/usr/bin/redis-server
N=${BENCH_N:-1000000}
ROUNDS=${BENCH_ROUNDS:-3}
CLIENTS=${BENCH_CLIENTS:-50}
PIPELINES=${BENCH_PIPELINES:-"1 16"}
OUT=${BENCH_OUT:-$(mktemp -d /tmp/simcache-bench.XXXXXX)}
TESTS=set,get,mset,incr
mkdir -p "$OUT"

for bin in "$OURS" "$REF" /usr/bin/redis-benchmark /usr/bin/redis-cli; do
    [ -x "$bin" ] || { echo "redis_compare: $bin not found or not executable" >&2; exit 1; }
done

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT

# start NAME BINARY [extra args...] -> sets PORT_<NAME>
start() {
    local name=$1 bin=$2; shift 2
    local try port pid
    for try in 1 2 3 4 5; do
        port=$(free_port)
        "$bin" --port "$port" --bind 127.0.0.1 "$@" >"$OUT/$name.log" 2>&1 &
        pid=$!
        local i
        for i in $(seq 1 100); do
            if ! kill -0 "$pid" 2>/dev/null; then break; fi
            if [ "$(/usr/bin/redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; then
                PIDS+=("$pid")
                printf -v "PORT_$name" '%s' "$port"
                return 0
            fi
            sleep 0.1
        done
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    echo "redis_compare: $name ($bin) did not start; log:" >&2
    tail -20 "$OUT/$name.log" >&2
    exit 1
}

ours_args=()
case "$(basename "$OURS")" in
    redis-server*) ours_args=(--save '' --appendonly no --dir "$OUT") ;;
esac
start ours "$OURS" "${ours_args[@]}"
start redis "$REF" --save '' --appendonly no --dir "$OUT"

run() { # run NAME PORT PIPELINE ROUND
    local name=$1 port=$2 p=$3 round=$4
    /usr/bin/redis-cli -p "$port" flushall >/dev/null
    /usr/bin/redis-benchmark -h 127.0.0.1 -p "$port" -c "$CLIENTS" -n "$N" -r 100000 \
        -P "$p" -t "$TESTS" --csv >"$OUT/$name-P$p-r$round.csv" 2>"$OUT/$name-P$p-r$round.err" || {
        echo "redis_compare: redis-benchmark failed against $name (P=$p):" >&2
        tail -5 "$OUT/$name-P$p-r$round.csv" "$OUT/$name-P$p-r$round.err" >&2
        exit 1
    }
}

echo "redis_compare: ours=$OURS (port $PORT_ours) redis=$REF (port $PORT_redis)" >&2
echo "redis_compare: n=$N clients=$CLIENTS rounds=$ROUNDS pipelines=[$PIPELINES] raw CSVs in $OUT" >&2
for round in $(seq 1 "$ROUNDS"); do
    for p in $PIPELINES; do
        run ours "$PORT_ours" "$p" "$round"
        run redis "$PORT_redis" "$p" "$round"
    done
    echo "redis_compare: round $round/$ROUNDS done" >&2
done

# Medians over rounds, then the table. CSV columns: test, rps, avg, min,
# p50, p95, p99, max (quoted).
echo
echo "simcache vs redis-server $("$REF" --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'):" \
     "redis-benchmark -c $CLIENTS -n $N -r 100000, median of $ROUNDS alternating runs," \
     "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
for f in "$OUT"/*-P*-r*.csv; do
    b=$(basename "$f" .csv)               # ours-P16-r2
    srv=${b%%-*}; rest=${b#*-P}; p=${rest%%-*}
    tail -n +2 "$f" | tr -d '"' | awk -F, -v s="$srv" -v p="$p" \
        '{ print s "\t" p "\t" $1 "\t" $2 "\t" $5 "\t" $7 }'
done | awk -F'\t' '
    function median(list,   n, a, i, j, t) {
        n = split(list, a, " ")
        for (i = 2; i <= n; i++) { t = a[i]; j = i - 1
            while (j >= 1 && a[j] + 0 > t + 0) { a[j + 1] = a[j]; j-- } a[j + 1] = t }
        return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    { key = $3 "\t" $2; keys[key] = 1
      rps[$1, key] = rps[$1, key] " " $4; p50[$1, key] = p50[$1, key] " " $5
      p99[$1, key] = p99[$1, key] " " $6 }
    END {
        print "| workload | pipeline | ours ops/s | redis ops/s | ops ratio | ours p50 ms | redis p50 ms | p50 ratio | ours p99 ms | redis p99 ms | p99 ratio |"
        print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        n = 0
        for (k in keys) order[++n] = k
        for (i = 2; i <= n; i++) { t = order[i]; j = i - 1
            while (j >= 1 && order[j] > t) { order[j + 1] = order[j]; j-- } order[j + 1] = t }
        for (i = 1; i <= n; i++) {
            k = order[i]; split(k, kp, "\t")
            if (!(("ours", k) in rps) || !(("redis", k) in rps)) continue
            or = median(rps["ours", k]); rr = median(rps["redis", k])
            o5 = median(p50["ours", k]); r5 = median(p50["redis", k])
            o9 = median(p99["ours", k]); r9 = median(p99["redis", k])
            printf "| %s | %s | %.0f | %.0f | %.2f | %.3f | %.3f | %s | %.3f | %.3f | %s |\n",
                kp[1], kp[2], or, rr, (rr > 0 ? or / rr : 0), o5, r5,
                (r5 > 0 ? sprintf("%.2f", o5 / r5) : "n/a"), o9, r9,
                (r9 > 0 ? sprintf("%.2f", o9 / r9) : "n/a")
        }
    }'
