#!/usr/bin/env bash
# provider_bench.sh -- CPU per embedded prompt in the provider client
# (server/provider.c: JSON request building, curl transfer handling on the
# libuv loop, response parsing and validation, callbacks), against
# tests/fake_provider.py on loopback, comparing encoding base64 with float.
#
# Method: tests/integration/provider_driver embeds N distinct prompts
# (C calls outstanding, micro-batched up to B per request) and reports its
# own getrusage(RUSAGE_SELF) user+system time between the first call and
# the last completion: only the client process is measured, the fake's
# Python CPU is not. The driver's 1 ms stall timer is off. Nothing is
# subtracted. A first pass warms the fake's embedding cache (it would
# otherwise be the bottleneck); each encoding then runs REPS times and the
# median is printed.
# Usage: bash bench/provider_bench.sh [build dir (build/release)]
# Env: N (2048 prompts), DIM (1536), B (64), C (256), REPS (3).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/release}
DRIVER=$BUILD/tests/integration/provider_driver
[ -x "$DRIVER" ] || { echo "build first: $DRIVER missing"; exit 1; }
N=${N:-2048} DIM=${DIM:-1536} B=${B:-64} C=${C:-256} REPS=${REPS:-3}

FIFO=$(mktemp -u)
mkfifo "$FIFO"
/usr/bin/python3 tests/fake_provider.py >"$FIFO" &
FAKE=$!
trap 'kill $FAKE 2>/dev/null; rm -f "$FIFO"' EXIT
read -r PORT <"$FIFO"
URL=http://127.0.0.1:$PORT

texts() { /usr/bin/python3 -c "
for i in range($N): print('benchmark prompt number %d: what is the capital of country %d?' % (i, i * 7919))"; }

run() { # run ENCODING -> prints the summary JSON line
    texts | "$DRIVER" --quiet --no-stall-timer --concurrency "$C" -- \
        b openai "$URL" dimensions "$DIM" max-batch "$B" max-wait-ms 2 encoding "$1" \
        timeout-ms 60000 | grep '"done"'
}

run base64 >/dev/null   # warm the fake's cache
echo "provider_bench: N=$N prompts, dim=$DIM, max-batch=$B, $C calls outstanding, median of $REPS"
printf '%-8s %14s %14s %10s %10s\n' encoding cpu_us/prompt wall_ms calls ok
for enc in base64 float; do
    for r in $(seq "$REPS"); do run "$enc"; done | /usr/bin/python3 -c "
import json, sys, statistics
rows = [json.loads(l) for l in sys.stdin]
cpu = [(r['cpu_user_us'] + r['cpu_sys_us']) / r['n'] for r in rows]
i = sorted(range(len(rows)), key=lambda k: cpu[k])[len(rows) // 2]
r = rows[i]
calls = dict(kv.split('=') for kv in r['info'].split(':', 1)[1].split(','))['calls']
print('%-8s %14.1f %14.1f %10s %10d' % ('$enc', cpu[i], r['wall_ms'], calls, r['ok']))
assert all(x['ok'] == x['n'] for x in rows), 'failures in the run'
"
done

# End to end through the server: CPU per embedded prompt via CACHE.GET on a
# provider-embedded namespace, builtin namespace as the peer (see the
# script's header for the method).
echo
/usr/bin/python3 bench/cache_provider_bench.py "$BUILD/server/simcache-server" "$N" "$DIM" 64
