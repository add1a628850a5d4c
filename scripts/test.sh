#!/usr/bin/env bash
# The test command (README): installs missing Debian packages (as root),
# builds, and runs every test stage:
#   unit         release build, Criterion unit tests (ctest)
#   integration  the real server driven by redis-cli, redis-benchmark,
#                redis-py, hiredis; differential tests against redis-server
#   asan         ASan+UBSan build: unit and integration tests again
#   tsan         TSan build: the threaded unit tests (label "tsan")
#   fuzz         libFuzzer targets (clang-14), bounded runs
#   neon         AArch64 cross build of the kernels, tests under qemu-aarch64
# Usage: bash scripts/test.sh [stage ...]   (default: all, in that order)
# Env: SIMCACHE_FUZZ_RUNS (default 1000000), SIMCACHE_FUZZ_SECONDS (time cap
# for the request-parser target, default 100; other targets get a third).
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
ensure_pkgs $SIMCACHE_TEST_PKGS || exit 1

ROOT=$(pwd)
JOBS=$(nproc)
PY=/usr/bin/python3   # Debian's python: python3-redis lives there, not in pyenv
export PYTHONDONTWRITEBYTECODE=1

build() { # build DIR [cmake args...]
    local dir=$1; shift
    cmake -S "$ROOT" -B "$dir" "$@" >"$dir.cmake.log" 2>&1 ||
        { cat "$dir.cmake.log"; return 1; }
    cmake --build "$dir" -j "$JOBS" 2>&1 | grep -E 'error|warning' || true
    cmake --build "$dir" -j "$JOBS" >/dev/null 2>&1
}

integration() { # integration BUILD_DIR
    local server="$1/server/simcache-server"
    [ -x "$server" ] || { echo "no server binary at $server"; return 1; }
    ls tests/integration/test_*.py >/dev/null 2>&1 || { echo "no integration tests"; return 0; }
    SIMCACHE_SERVER="$server" SIMCACHE_BUILD="$1" \
        $PY -m pytest -q -p no:cacheprovider tests/integration
}

stage_unit() {
    mkdir -p build
    build build/release -DCMAKE_BUILD_TYPE=Release || return 1
    (cd build/release && ctest --output-on-failure -j "$JOBS")
}

stage_integration() {
    [ -x build/release/server/simcache-server ] || stage_unit || return 1
    integration "$ROOT/build/release"   # absolute: the fixtures start servers with cwd = a temp dir
}

stage_asan() {
    mkdir -p build
    build build/asan -DCMAKE_BUILD_TYPE=Debug -DSIMCACHE_ASAN=ON || return 1
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    (cd build/asan && ctest --output-on-failure -j "$JOBS") || return 1
    integration "$ROOT/build/asan"
}

stage_tsan() {
    mkdir -p build
    build build/tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIMCACHE_TSAN=ON || return 1
    export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
    (cd build/tsan && ctest --output-on-failure -L tsan --no-tests=ignore -j "$JOBS")
}

stage_fuzz() {
    mkdir -p build
    ls tests/fuzz/fuzz_*.c >/dev/null 2>&1 || { echo "no fuzz targets"; return 0; }
    build build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIMCACHE_FUZZ=ON \
        -DCMAKE_C_COMPILER=clang-14 || return 1
    local runs=${SIMCACHE_FUZZ_RUNS:-1000000} cap=${SIMCACHE_FUZZ_SECONDS:-100} t rc=0 secs
    for src in tests/fuzz/fuzz_*.c; do   # every target must have been built
        [ -x "build/fuzz/tests/fuzz/$(basename "$src" .c)" ] ||
            { echo "fuzz target $(basename "$src" .c) was not built"; rc=1; }
    done
    # Targets run $JOBS at a time (one core each), each into its own log;
    # results are read back in name order once all have finished.
    local names=()
    for t in build/fuzz/tests/fuzz/fuzz_*; do
        [ -x "$t" ] || continue
        local name corpus
        name=$(basename "$t")
        names+=("$name")
        # The request parser is the front door: ~1M inputs. Other targets
        # get a fifth of its time so the stage stays inside CI's budget.
        secs=$cap
        [ "$name" = fuzz_resp_parser ] || secs=$((cap / 5))
        corpus=build/fuzz/corpus-$name
        mkdir -p "$corpus"
        echo "fuzz: $name ($runs runs or ${secs}s)"
        local seeds=tests/fuzz/seeds/${name#fuzz_}
        [ -d "$seeds" ] || seeds=
        while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
        ( "$t" -runs="$runs" -max_total_time="$secs" -rss_limit_mb=2048 \
            -print_final_stats=1 "$corpus" $seeds >"build/fuzz/$name.log" 2>&1
          echo $? >"build/fuzz/$name.rc" ) &
    done
    wait
    for name in "${names[@]}"; do
        if [ "$(cat "build/fuzz/$name.rc" 2>/dev/null)" != 0 ]; then
            rc=1
            echo "fuzz: $name FAILED"
            tail -50 "build/fuzz/$name.log"
        fi
        echo "$name: $(grep -E 'Done' "build/fuzz/$name.log" | tail -1)"
    done
    return $rc
}

stage_neon() {
    [ -f cmake/aarch64-linux-gnu.cmake ] || { echo "no cross toolchain file"; return 0; }
    mkdir -p build
    build build/neon -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/aarch64-linux-gnu.cmake" \
        -DSIMCACHE_KERNELS_ONLY=ON -DCMAKE_BUILD_TYPE=Release || return 1
    (cd build/neon && ctest --output-on-failure -j "$JOBS")
}

stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(unit integration asan tsan fuzz neon)
passed=0 failed=0 failed_names=""
for s in "${stages[@]}"; do
    echo "=== stage $s ($(date +%H:%M:%S))"
    start=$SECONDS
    if "stage_$s"; then
        passed=$((passed + 1)); echo "=== stage $s passed in $((SECONDS - start))s"
    else
        failed=$((failed + 1)); failed_names="$failed_names $s"
        echo "=== stage $s FAILED in $((SECONDS - start))s"
    fi
done
[ -z "$failed_names" ] || echo "failed stages:$failed_names"
echo "stages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
