# shellcheck shell=bash
# Debian 12 packages simcache needs, and a helper that installs the missing
# ones (as root) or prints the exact apt-get line to run. Sourced by
# scripts/run.sh, scripts/test.sh and .ci/run; never executed on its own.

SIMCACHE_BUILD_PKGS="build-essential cmake pkg-config libuv1-dev libcurl4-openssl-dev \
libopenblas-dev libjemalloc-dev libxxhash-dev libcjson-dev libedit-dev"

# Everything the test command uses: Criterion, the real clients we test
# against (redis-cli, redis-benchmark, redis-py, hiredis), Debian's
# redis-server for differential tests, clang for libFuzzer and sanitizers,
# the AArch64 cross compiler and qemu for the NEON kernels, and prometheus
# for promtool, which lints the /metrics exposition (test_metrics.py).
SIMCACHE_TEST_PKGS="$SIMCACHE_BUILD_PKGS libcriterion-dev redis-server redis-tools \
python3 python3-redis python3-pytest python3-numpy libhiredis-dev clang-14 \
libclang-rt-14-dev gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user iproute2 \
prometheus"

# ensure_pkgs PKG... : install what is missing, or explain how.
ensure_pkgs() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -eq 0 ]; then
        echo "simcache: installing ${missing[*]}" >&2
        if [ -z "${SIMCACHE_APT_UPDATED:-}" ]; then
            apt-get update -q >&2 || return 1
            export SIMCACHE_APT_UPDATED=1
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2 || return 1
    else
        echo "simcache: missing packages; run as root:" >&2
        echo "  apt-get install -y ${missing[*]}" >&2
        return 1
    fi
}
