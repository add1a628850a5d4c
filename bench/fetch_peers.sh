#!/usr/bin/env bash
# Fetches the peer code the ANN benchmark compiles natively: hnswlib's
# header-only C++ sources, as shipped inside the npm package hnswlib-node
# (package/src/hnswlib/). They land in bench/.cache/hnswlib/hnswlib/ (the
# directory is git-ignored: fetched code is never committed). FAISS comes
# from Debian (python3-faiss), installed here if missing and run as root.
# Usage: bash bench/fetch_peers.sh        (idempotent; needs npm + registry)
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=bench/.cache
DEST=$CACHE/hnswlib/hnswlib
mkdir -p "$CACHE"

if [ ! -f "$DEST/hnswalg.h" ]; then
    command -v npm >/dev/null || { echo "fetch_peers: npm is needed (apt-get install npm)" >&2; exit 1; }
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && npm pack --silent hnswlib-node >/dev/null)
    tar -xzf "$tmp"/hnswlib-node-*.tgz -C "$tmp"
    [ -f "$tmp/package/src/hnswlib/hnswalg.h" ] ||
        { echo "fetch_peers: hnswlib headers not found in the npm package" >&2; exit 1; }
    mkdir -p "$DEST"
    cp "$tmp"/package/src/hnswlib/*.h "$tmp"/package/src/hnswlib/LICENSE "$DEST"/
    ver=$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$tmp/package/package.json" | head -1)
    echo "hnswlib-node $ver" >"$CACHE/hnswlib/VERSION"
fi
echo "fetch_peers: hnswlib headers in $DEST ($(cat "$CACHE/hnswlib/VERSION" 2>/dev/null))"

if ! /usr/bin/python3 -c 'import faiss' 2>/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-faiss python3-numpy
    else
        echo "fetch_peers: FAISS missing: apt-get install -y python3-faiss (as root)" >&2
    fi
fi
/usr/bin/python3 -c 'import faiss; print("fetch_peers: faiss", faiss.__version__)' 2>/dev/null ||
    echo "fetch_peers: FAISS unavailable; run.sh will skip it" >&2
