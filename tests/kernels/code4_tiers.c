/* code4_tiers.c -- plain-C test of the 4-bit traversal codes of
 * index/hnsw_qdot.c (hnsw.c design 13): the packer and every scorer tier
 * compiled in and run by this CPU. No Criterion, so it is also cross-built
 * for AArch64 and run under qemu (scripts/test.sh neon), where the NEON
 * scorer is the one selected. Prints "N passed, N failed" and exits 0 only
 * when nothing failed.
 *
 * Threats covered:
 *  - a scorer that pairs a nibble with the wrong query byte (the layout:
 *    in each 128-dimension block, byte j holds dimension j in its low
 *    nibble and j + 64 in its high one), drops a block, or forgets the
 *    -8 offset: every tier against a reference that unpacks nibble by
 *    nibble, at dimensions around the 64- and 128-wide blocks, with every
 *    nibble value 0..15 (the packer writes 1..15; a corrupted record may
 *    hold 0), garbage in the padding nibbles (the query's zero padding
 *    must cancel them), extreme query bytes (+-127) and records at odd
 *    strides (unaligned loads). The dot is an exact integer, so the
 *    distance must be bit-identical to the reference formula's.
 *  - a packer that writes a nibble out of 1..15, touches the padding, loses
 *    a sign, or picks a scale that makes s * c a poor copy of v: dense,
 *    sparse and one-hot unit vectors.
 *  - a selection wider than the kernel tier (as for the int8 scorers). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/hnsw_int.h"

static int passed, failed;

static void result(int ok, const char *fmt, const char *tier, size_t dim, double got,
                   double want)
{
    if (ok) {
        passed++;
        return;
    }
    if (failed++ < 20) {
        fprintf(stderr, "FAIL %s %s dim %zu: got %.9g want %.9g\n", fmt, tier, dim, got, want);
    }
}

static uint64_t rs = 0x243F6A8885A308D3ull;

static uint64_t next(void)
{
    uint64_t z = (rs += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Nibble i of code x, as the layout defines it (value c + 8). */
static int nibble(const uint8_t *x, size_t i)
{
    uint8_t b = x[(i / 128) * 64 + i % 64];
    return i % 128 < 64 ? b & 15 : b >> 4;
}

static void check_scorer(hnsw_qscore_fn f, const char *tier, size_t dim, int extreme)
{
    enum { M = 29 };
    const size_t bytes = HNSW_CODE4_BYTES(dim), rec = bytes + 13;
    uint8_t *base = malloc((M + 1) * rec);
    int8_t *qi = calloc(1, HNSW_CODE4_DIMS(dim));
    hnsw_cmeta meta[M + 1];
    uint32_t ids[M];
    float out[M];
    int32_t qsum = 0;
    hnsw_qscore_args a;
    if (!base || !qi) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < dim; i++) {
        qi[i] = extreme ? ((next() & 1) ? 127 : -127) : (int8_t)((int)(next() % 255) - 127);
        qsum += qi[i];
    }
    for (size_t i = 0; i < (M + 1) * rec; i++)
        base[i] = (uint8_t)next(); /* every nibble value, garbage padding */
    for (uint32_t r = 0; r <= M; r++)
        meta[r] = (hnsw_cmeta){0.0007f * (float)(r + 1), 0};
    for (uint32_t k = 0; k < M; k++)
        ids[k] = (k * 11 + 5) % (M + 1); /* out of order, one id skipped */
    a = (hnsw_qscore_args){base, rec, 0, dim, qi, NULL, 0.0093f, NULL, meta, qsum};
    f(&a, ids, M, out);
    for (uint32_t k = 0; k < M; k++) {
        const uint8_t *x = base + (size_t)ids[k] * rec;
        int64_t dot = 0;
        float want;
        for (size_t i = 0; i < dim; i++)
            dot += (int64_t)(nibble(x, i) - 8) * qi[i];
        want = 1.0f - (float)(int32_t)dot * a.qscale * meta[ids[k]].scale;
        result(out[k] == want, "score", tier, dim, out[k], want);
    }
    free(base);
    free(qi);
}

/* A unit vector of dimension dim: kind 0 dense Gaussian-like, 1 sparse
 * (dim / 16 nonzero of mixed sizes), 2 one-hot. */
static void unit_vector(float *v, size_t dim, int kind)
{
    double ss = 0;
    for (size_t i = 0; i < dim; i++) {
        double u = 0;
        if (kind == 0) {
            for (int j = 0; j < 4; j++)
                u += (double)(next() % 10001) / 10000.0 - 0.5;
        } else if (kind == 1) {
            u = next() % 16 == 0 ? ((double)(next() % 1000) / 250.0 - 2.0) : 0;
        }
        v[i] = (float)u;
    }
    if (kind == 2 || kind == 1)
        v[next() % dim] = 1.5f;
    for (size_t i = 0; i < dim; i++)
        ss += (double)v[i] * v[i];
    for (size_t i = 0; i < dim; i++)
        v[i] = (float)(v[i] / sqrt(ss));
}

static void check_pack(size_t dim, int kind)
{
    static const char *kinds[] = {"dense", "sparse", "one-hot"};
    const size_t bytes = HNSW_CODE4_BYTES(dim);
    float *v = malloc(dim * sizeof(float)), scale, step;
    uint8_t *x = malloc(bytes + 1);
    double vc = 0, cc = 0, cosine;
    int ok_nib = 1, ok_pad = 1, ok_sign = 1;
    if (!v || !x) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    unit_vector(v, dim, kind);
    x[bytes] = 0xA5; /* a write past the code shows here */
    hnsw_pack4(x, v, (uint32_t)dim, &scale);
    step = scale;
    for (size_t i = 0; i < HNSW_CODE4_DIMS(dim); i++) {
        int u = nibble(x, i);
        if (i >= dim) {
            ok_pad &= u == 8;
            continue;
        }
        ok_nib &= u >= 1 && u <= 15;
        /* a component at least a step from 0 keeps its sign */
        if (fabsf(v[i]) >= step)
            ok_sign &= (u - 8 > 0) == (v[i] > 0) && u != 8;
        vc += (double)v[i] * (u - 8);
        cc += (double)(u - 8) * (u - 8);
    }
    cosine = vc / sqrt(cc);
    result(ok_nib, "pack: nibble in 1..15", kinds[kind], dim, ok_nib, 1);
    result(ok_pad && x[bytes] == 0xA5, "pack: padding nibbles 8, nothing past the code",
           kinds[kind], dim, ok_pad, 1);
    result(ok_sign, "pack: signs kept", kinds[kind], dim, ok_sign, 1);
    result(scale > 0 && isfinite(scale), "pack: scale", kinds[kind], dim, scale, 0);
    /* 15 levels: a dense vector's copy has cosine ~0.99; sparse and
     * one-hot vectors are (nearly) exact. */
    result(cosine >= (kind == 0 ? 0.98 : 0.995), "pack: cosine(v, code)", kinds[kind], dim,
           cosine, kind == 0 ? 0.98 : 0.995);
    /* the scale is the least-squares one: s = v.c / c.c */
    result(fabs(scale - vc / cc) <= 1e-5 * fabs(vc / cc), "pack: least-squares scale", kinds[kind],
           dim, scale, vc / cc);
    free(v);
    free(x);
}

int main(void)
{
    static const size_t dims[] = {1,   2,   63,  64,  65,  100, 127, 128,  129,
                                  191, 192, 200, 255, 256, 257, 384, 1000, 1536};
    static const char *names[HNSW_QSCORE_COUNT] = {"generic", "avx512vnni", "avxvnni", "avx2",
                                                   "neon"};
    int ran = 0;
    for (int t = 0; t < HNSW_QSCORE_COUNT; t++) {
        hnsw_qscore_fn f = hnsw_qscore4_tier((hnsw_qscore_tier_id)t);
        if (!f)
            continue;
        ran++;
        for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
            check_scorer(f, names[t], dims[i], 0);
            check_scorer(f, names[t], dims[i], 1);
        }
        printf("tier %s: checked\n", names[t]);
    }
    result(ran >= 1, "at least the generic tier", "", 0, ran, 1);
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        for (int kind = 0; kind < 3; kind++)
            if (dims[i] >= 16)
                check_pack(dims[i], kind);
    /* the selection is never wider than the kernel tier */
    {
        const kernels *avx2 = kernels_tier(KTIER_AVX2), *neon = kernels_tier(KTIER_NEON);
        hnsw_qscore_fn g = hnsw_qscore4_tier(HNSW_QSCORE_GENERIC);
        result(hnsw_qscore4_select(kernels_tier(KTIER_SCALAR)) == g, "select: scalar -> generic",
               "", 0, 0, 0);
        result(hnsw_qscore4_select(kernels_tier(KTIER_REF)) == g, "select: ref -> generic", "", 0,
               0, 0);
        if (avx2)
            result(hnsw_qscore4_select(avx2) != hnsw_qscore4_tier(HNSW_QSCORE_AVX512VNNI) &&
                       hnsw_qscore4_select(avx2) == hnsw_qscore4_tier(HNSW_QSCORE_AVX2),
                   "select: avx2 -> avx2", "", 0, 0, 0);
        if (neon)
            result(hnsw_qscore4_select(neon) == hnsw_qscore4_tier(HNSW_QSCORE_NEON),
                   "select: neon -> neon", "", 0, 0, 0);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
