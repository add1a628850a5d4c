#!/usr/bin/env bash
# The start command (README): installs missing Debian packages (as root),
# builds a release simcache-server and runs it in the foreground on
# 127.0.0.1:6380 with the built-in embedder. Extra arguments go to the
# server, e.g. `bash scripts/run.sh --port 7000 --maxmemory 1gb`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
ensure_pkgs $SIMCACHE_BUILD_PKGS
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j "$(nproc)" --target simcache-server >/dev/null
exec build/release/server/simcache-server "$@"
