#!/usr/bin/python3
"""faiss_bench.py -- the Python peers of the ANN benchmark, on the same
dataset directory (base.fvecs, query.fvecs, gt.ivecs from ann-prep) and
printing the same CSV records as ann-bench (see bench/ann/ann_bench.c):

  --impl faiss        FAISS IndexHNSWFlat (Debian python3-faiss), inner
                      product on normalised vectors = cosine; threads set
                      with faiss.omp_set_num_threads.
  --impl hnswlib-py   Debian's python3-hnswlib (0.6.x), space 'ip' on
                      normalised vectors; an extra column: about 0.74x of
                      native hnswlib.

Method differences, stated rather than hidden:
1. QPS is one batched search call over all queries (the library splits the
   batch over its threads); p50/p99 come from one call per query and so
   include the Python-to-C++ call overhead (a few microseconds).
2. No churn: IndexHNSWFlat cannot remove vectors, and hnswlib 0.6 has no
   replace_deleted.
3. bytes_acct for FAISS is the vectors plus the HNSW neighbour, offset and
   level arrays; hnswlib-py exposes nothing, so it is left empty.

Run with /usr/bin/python3 (Debian's faiss/numpy live there, not in pyenv).
"""
import argparse
import os
import sys
import time

import numpy as np

K = 10


def read_vecs(path, dtype):
    raw = np.fromfile(path, dtype=dtype)
    d = int(raw[:1].view(np.int32)[0])
    return np.ascontiguousarray(raw.reshape(-1, d + 1)[:, 1:])


def normalised(x):
    n = np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)
    n[n == 0] = 1
    return np.ascontiguousarray((x / n).astype(np.float32))


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def recall(found, gt):
    hits = 0
    for row, truth in zip(found, gt[:, :K]):
        hits += len(set(int(x) for x in row if x >= 0) & set(int(x) for x in truth))
    return hits / (K * len(gt))


class Faiss:
    name = "faiss"

    def __init__(self, faiss, d, M, efc):
        self.faiss, self.d, self.M, self.efc = faiss, d, M, efc

    def build(self, base, threads):
        self.faiss.omp_set_num_threads(threads)
        self.index = self.faiss.IndexHNSWFlat(self.d, self.M, self.faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = self.efc
        t0 = time.perf_counter()
        self.index.add(base)
        return time.perf_counter() - t0

    def bytes_acct(self):
        h, v2a = self.index.hnsw, self.faiss.vector_to_array
        return (self.index.ntotal * self.d * 4 + v2a(h.neighbors).nbytes +
                v2a(h.offsets).nbytes + v2a(h.levels).nbytes) / self.index.ntotal

    def search(self, q, ef, threads):
        self.faiss.omp_set_num_threads(threads)
        self.index.hnsw.efSearch = ef
        return self.index.search(q, K)[1]

    def free(self):
        self.index = None


class HnswlibPy:
    name = "hnswlib-py"

    def __init__(self, hnswlib, d, M, efc):
        self.hnswlib, self.d, self.M, self.efc = hnswlib, d, M, efc

    def build(self, base, threads):
        self.index = self.hnswlib.Index(space="ip", dim=self.d)
        self.index.init_index(max_elements=len(base), M=self.M, ef_construction=self.efc,
                              random_seed=100)
        t0 = time.perf_counter()
        self.index.add_items(base, np.arange(len(base)), num_threads=threads)
        return time.perf_counter() - t0

    def bytes_acct(self):
        return None

    def search(self, q, ef, threads):
        self.index.set_ef(ef)
        return self.index.knn_query(q, k=K, num_threads=threads)[0].astype(np.int64)

    def free(self):
        self.index = None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--impl", choices=["faiss", "hnswlib-py"], default="faiss")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--name", default="dataset")
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--ef", default="16,32,64,128,256,512")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    base = normalised(read_vecs(os.path.join(args.dir, "base.fvecs"), np.float32))
    q = normalised(read_vecs(os.path.join(args.dir, "query.fvecs"), np.float32))
    gt = read_vecs(os.path.join(args.dir, "gt.ivecs"), np.int32)
    n, d = base.shape
    if args.impl == "faiss":
        import faiss
        impl = Faiss(faiss, d, args.M, args.efc)
    else:
        import hnswlib
        impl = HnswlibPy(hnswlib, d, args.M, args.efc)

    rss0 = rss_bytes()
    t1 = impl.build(base, 1)
    rss1 = rss_bytes()
    acct = impl.bytes_acct()
    acct_s = "%.1f" % acct if acct is not None else ""
    print("BUILD,%s,f32,%s,%d,%d,%d,%d,1,%.3f,%.1f,%s" % (
        impl.name, args.name, n, d, args.M, args.efc, t1, max(rss1 - rss0, 0) / n, acct_s),
        flush=True)
    for ef in (int(x) for x in args.ef.split(",")):
        t_1, t_2 = [], []
        found = None
        for r in range(args.reps):
            t0 = time.perf_counter()
            res = impl.search(q, ef, 1)
            t_1.append(time.perf_counter() - t0)
            if found is None:
                found = res
            t0 = time.perf_counter()
            impl.search(q, ef, args.threads)
            t_2.append(time.perf_counter() - t0)
        lat = []
        for i in range(len(q)):
            t0 = time.perf_counter()
            impl.search(q[i:i + 1], ef, 1)
            lat.append((time.perf_counter() - t0) * 1e6)
        lat.sort()
        print("SEARCH,%s,f32,%s,%d,%.4f,%.1f,%.1f,%.1f,%.1f" % (
            impl.name, args.name, ef, recall(found, gt), len(q) / float(np.median(t_1)),
            len(q) / float(np.median(t_2)), lat[len(lat) // 2], lat[int(len(lat) * 0.99)]),
            flush=True)
    impl.free()
    if args.threads > 1:
        tn = impl.build(base, args.threads)
        print("BUILD,%s,f32,%s,%d,%d,%d,%d,%d,%.3f,,%s" % (
            impl.name, args.name, n, d, args.M, args.efc, args.threads, tn, acct_s), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
