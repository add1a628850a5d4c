#!/usr/bin/env bash
# SET throughput under maxmemory eviction: simcache vs Debian's redis-server,
# measured in the same run, alternating (ours, redis, ours, redis, ...).
#
# Each run starts a fresh server on a free loopback port with
# --maxmemory 32mb --maxmemory-policy P, runs
#   redis-benchmark -t set -n N -r 10000000 -d 500 -c 50 -P 16 --csv
# (so nearly every write evicts), reads used_memory and evicted_keys, and
# stops the server by its PID. Prints each run and the median ratio.
#
# Usage: bench/keyspace_evict.sh SIMCACHE_SERVER [policy] [runs]
# Env: N (default 300000).
set -euo pipefail
OURS=$1
POLICY=${2:-allkeys-lru}
RUNS=${3:-5}
N=${N:-300000}
REDIS=/usr/bin/redis-server

free_port() {
    /usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

run() { # binary -> "rps used evicted"
    local bin=$1 port pid extra=()
    port=$(free_port)
    [[ $bin == *redis-server ]] && extra=(--save '' --appendonly no --dir /tmp)
    "$bin" --port "$port" --bind 127.0.0.1 --maxmemory 32mb --maxmemory-policy "$POLICY" \
        "${extra[@]}" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
    local rps used ev
    rps=$(redis-benchmark -p "$port" -t set -n "$N" -r 10000000 -d 500 -c 50 -P 16 --csv 2>/dev/null |
          tail -1 | cut -d, -f2 | tr -d '"')
    used=$(redis-cli -p "$port" info memory | tr -d '\r' | sed -n 's/^used_memory://p')
    ev=$(redis-cli -p "$port" info stats | tr -d '\r' | sed -n 's/^evicted_keys://p')
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    echo "$rps $used $ev"
}

ours=() theirs=()
for r in $(seq "$RUNS"); do
    read -r a ua ea < <(run "$OURS")
    read -r b ub eb < <(run "$REDIS")
    echo "run $r: simcache $a rps (used_memory $ua, evicted $ea) | redis $b rps (used_memory $ub, evicted $eb)"
    ours+=("$a"); theirs+=("$b")
done
/usr/bin/python3 - "${ours[*]}" "${theirs[*]}" "$POLICY" <<'EOF'
import statistics, sys
a = [float(x) for x in sys.argv[1].split()]
b = [float(x) for x in sys.argv[2].split()]
print("%s SET -P16 -c50 -d500, maxmemory 32mb: median simcache %.0f rps, redis %.0f rps, ratio %.2f"
      % (sys.argv[3], statistics.median(a), statistics.median(b),
         statistics.median(a) / statistics.median(b)))
EOF
