#!/usr/bin/env bash
# run.sh -- the ANN benchmark: our HNSW index against native hnswlib (the
# anchor) and FAISS, in one run, on identical data and parameters.
#
# Usage: bash bench/ann/run.sh [dataset ...]
#   dataset: synthetic:NxD[:SEED] (1,000 Gaussian centres, seeded),
#            glove | fashion-mnist (after bench/fetch_data.sh),
#            FILE.fvecs | FILE.npy (last ANN_NQ rows become the queries)
#   default: synthetic:20000x384
# Env: ANN_NQ (1000 queries), ANN_LIMIT (cap on base rows), ANN_EF (ef_search
#   sweep, default 10,16,24,32,48,64,96,128,256,512), ANN_REPS (3, medians),
#   ANN_THREADS (2), ANN_PEERS ("hnswlib faiss"; add hnswlib-py for Debian's
#   python3-hnswlib), ANN_VARIANTS ("f32 i8 i8-norr", ours; also i8-f32, f32-nocodes, f32-i4), ANN_CHURN_MAX_N (churn
#   runs on datasets up to this many base rows, default 50000; the delete +
#   re-insert of 3x n rows takes hnswlib about 10x its build time),
#   ANN_CHURN_FACTOR (3), ANN_ROUNDS (1: how many times ours and hnswlib run,
#   alternating; the report takes the median of each number over rounds;
#   churn runs in the first round only), ANN_FAISS_MAX_N (FAISS runs on datasets up to this
#   many base rows, default 50000: Debian's build is ~10x slower to build
#   than hnswlib here), BUILD_DIR (build/release).
# Needs bench/fetch_peers.sh to have run once (hnswlib headers). Writes
# bench/out/ann-<UTC stamp>.{raw,md,*.csv,*.svg} and ann-latest.md; prints
# the markdown tables. Nothing here runs in the test suite.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
B=${BUILD_DIR:-build/release}
PY=/usr/bin/python3
NQ=${ANN_NQ:-1000}
EF=${ANN_EF:-10,16,24,32,48,64,96,128,256,512}
REPS=${ANN_REPS:-3}
THREADS=${ANN_THREADS:-2}
PEERS=${ANN_PEERS:-hnswlib faiss}
VARIANTS=${ANN_VARIANTS:-f32 i8 i8-norr}
CHURN_MAX_N=${ANN_CHURN_MAX_N:-50000}
CHURN_FACTOR=${ANN_CHURN_FACTOR:-3}
FAISS_MAX_N=${ANN_FAISS_MAX_N:-50000}
ROUNDS=${ANN_ROUNDS:-1}
HNSWLIB_INC=bench/.cache/hnswlib
[ $# -gt 0 ] || set -- synthetic:20000x384

# --- build ours and the harness ---------------------------------------------
if [ ! -f "$B/CMakeCache.txt" ]; then
    mkdir -p "$B"
    cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$B" -j "$(nproc)" --target ann-prep >/dev/null
HAVE_OURS=1
cmake --build "$B" -j "$(nproc)" --target ann-bench >/dev/null 2>&1 || HAVE_OURS=0
[ -x "$B/bench/ann-bench" ] || HAVE_OURS=0
[ $HAVE_OURS = 1 ] || echo "run.sh: WARNING: ann-bench not built (no simcache_index?): peers only" >&2
HARNESS=$B/bench/hnswlib_harness
if [[ " $PEERS " == *" hnswlib "* ]]; then
    [ -f "$HNSWLIB_INC/hnswlib/hnswalg.h" ] ||
        { echo "run.sh: no hnswlib headers: run bash bench/fetch_peers.sh first" >&2; exit 1; }
    if [ ! -x "$HARNESS" ] || [ bench/ann/hnswlib_harness.cpp -nt "$HARNESS" ]; then
        g++ -O3 -march=native -std=c++17 -pthread -w -I "$HNSWLIB_INC" \
            bench/ann/hnswlib_harness.cpp -o "$HARNESS"
    fi
fi

mkdir -p bench/out bench/.cache/data
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=bench/out/ann-$STAMP
RAW=$OUT.raw
: >"$RAW"
{
    echo "# ann-bench run $STAMP on $(hostname): $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
    echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# args: $* | NQ=$NQ EF=$EF REPS=$REPS ROUNDS=$ROUNDS THREADS=$THREADS PEERS=$PEERS VARIANTS=$VARIANTS"
} >>"$RAW"

# dataset_spec NAME -> "KEY SPEC" (SPEC as ann-prep takes it)
dataset_spec() {
    local d=$1 data=bench/.cache/data
    case $d in
    synthetic:*) local s=${d#synthetic:}; echo "synthetic-${s//:/-s} $d" ;;
    glove) echo "glove-100 $data/glove-100.fvecs,$data/glove-100-query.fvecs" ;;
    fashion-mnist) echo "fashion-mnist $data/fashion-mnist.fvecs,$data/fashion-mnist-query.fvecs" ;;
    *.fvecs | *.npy) local b=${d##*/}; echo "${b%.*} $d" ;;
    *) echo "run.sh: unknown dataset '$d'" >&2; return 1 ;;
    esac
}

run() { # run LABEL CMD... : appends the records to RAW, echoes them
    echo "run.sh: $1" >&2
    shift
    "$@" | tee -a "$RAW"
}

for d in "$@"; do
    read -r key spec < <(dataset_spec "$d") || true
    [ -n "${key:-}" ] || exit 2
    case $d in glove | fashion-mnist)
        [ -f "${spec%%,*}" ] || { echo "run.sh: $d missing: run bash bench/fetch_data.sh $d" >&2; exit 1; } ;;
    esac
    limit_args=()
    if [ -n "${ANN_LIMIT:-}" ]; then key=$key-n$ANN_LIMIT; limit_args=(--limit "$ANN_LIMIT"); fi
    dir=bench/.cache/data/$key-q$NQ
    "$B/bench/ann-prep" --data "$spec" --out "$dir" --nq "$NQ" "${limit_args[@]}" >&2
    dim=$(od -An -t d4 -N4 "$dir/base.fvecs" | tr -d ' ')
    n=$(( $(stat -c %s "$dir/base.fvecs") / (4 + 4 * dim) ))
    common=(--dir "$dir" --name "$key" --ef "$EF" --reps "$REPS" --threads "$THREADS"
            --churn-factor "$CHURN_FACTOR")
    [ "$n" -le "$CHURN_MAX_N" ] || common+=(--no-churn)
    # Interleaved (ours, anchor, ours again, in rounds) so a burst of load
    # on the shared machine hits both sides rather than one.
    for ((round = 1; round <= ROUNDS; round++)); do
        [ $round -eq 1 ] || common+=(--no-churn)
        for v in $VARIANTS; do
            [ $HAVE_OURS = 1 ] &&
                run "$key: simcache $v (round $round)" "$B/bench/ann-bench" "${common[@]}" --variant "$v"
            if [ "$v" = f32 ] && [[ " $PEERS " == *" hnswlib "* ]]; then
                run "$key: hnswlib native (round $round)" "$HARNESS" "${common[@]}"
            fi
        done
    done
    for p in $PEERS; do
        case $p in
        faiss | hnswlib-py)
            if [ "$p" = faiss ] && [ "$n" -gt "$FAISS_MAX_N" ]; then
                echo "# $key: faiss skipped (n=$n > ANN_FAISS_MAX_N=$FAISS_MAX_N)" | tee -a "$RAW" >&2
                continue
            fi
            run "$key: $p" $PY bench/ann/faiss_bench.py --impl "$p" --dir "$dir" --name "$key" \
                --ef "$EF" --reps "$REPS" --threads "$THREADS" ;;
        esac
    done
done
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RAW"

$PY bench/ann/report.py "$RAW" "$OUT" >/dev/null
cp "$OUT.md" bench/out/ann-latest.md
echo
cat "$OUT.md"
echo "run.sh: wrote $OUT.{raw,md} $OUT-{build,search,churn}.csv and $OUT-<dataset>.svg" >&2
