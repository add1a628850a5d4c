#!/usr/bin/env bash
# Fetches SimSIMD's C headers (the npm package `simsimd` ships them under
# package/include) into bench/.cache for kernel-bench's comparison column.
# bench/.cache is git-ignored: fetched code is never committed. Re-run
# cmake afterwards; kernel-bench compiles the SimSIMD comparison only when
# bench/.cache/package/include/simsimd/simsimd.h exists.
# Usage: bash bench/fetch_simsimd.sh [version]   (default: latest)
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p .cache
cd .cache
rm -rf package simsimd-*.tgz
npm pack --silent "simsimd${1:+@$1}" >/dev/null
tar xzf simsimd-*.tgz
ls package/include/simsimd/simsimd.h >/dev/null
echo "SimSIMD $(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' package/package.json) headers in bench/.cache/package/include"
