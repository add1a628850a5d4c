/* ann_data.c -- dataset loading, the synthetic generator and the exact
 * ground truth for the ANN benchmark (see ann_data.h for the file layout).
 *
 * Design decisions:
 * 1. The synthetic set imitates sentence embeddings rather than isotropic
 *    noise: 1,000 Gaussian centres, and around each a point is
 *    centre + 0.7 * B z + 0.15 * e, with B a fixed d x 32 random basis,
 *    z ~ N(0, I_32) and e ~ N(0, I_d). Clustered, with low intrinsic
 *    dimension (32) plus a little full-rank noise: isotropic Gaussian
 *    clusters in d = 384 have near-uniform distances, which no real
 *    embedding model produces and which makes every graph index look
 *    alike. Intra-cluster cosine is about 0.66, inter-cluster about 0.
 * 2. Row i is generated from its own stream seeded by (seed, i), so a set
 *    of N rows plus Q query rows is the same for every N: the queries are
 *    rows N..N+Q-1, disjoint from the base by construction.
 * 3. Ground truth is one sgemm per block of 8,192 base rows against all
 *    queries on normalised copies, then a top-k insertion per query: the
 *    product is the whole cost (2 * N * Q * d flops), OpenBLAS does it at
 *    full speed, and the block bounds the score buffer at Q * 8192 floats. */
#include "ann_data.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYN_CENTRES 1000
#define SYN_RANK 32
#define GT_BLOCK 8192

static void set_err(char *err, size_t errlen, const char *fmt, const char *arg)
{
    if (err && errlen) snprintf(err, errlen, fmt, arg);
}

/* --- seeded generator: splitmix64 + Box-Muller ---------------------------- */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double unit01(uint64_t *s) /* (0, 1] */
{
    return ((double)(splitmix(s) >> 11) + 1.0) / 9007199254740992.0;
}

static double gauss(uint64_t *s)
{
    double u = unit01(s), v = unit01(s);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static int gen_synthetic(size_t n, uint32_t d, uint64_t seed, ann_matrix *out)
{
    float *centres = malloc((size_t)SYN_CENTRES * d * sizeof(float));
    float *basis = malloc((size_t)d * SYN_RANK * sizeof(float));
    float *v = malloc(n * d * sizeof(float));
    if (!centres || !basis || !v) {
        free(centres); free(basis); free(v);
        return -1;
    }
    uint64_t s = seed ^ 0xC0FFEEULL;
    for (size_t i = 0; i < (size_t)SYN_CENTRES * d; i++) centres[i] = (float)gauss(&s);
    double bscale = 1.0 / sqrt((double)SYN_RANK);
    for (size_t i = 0; i < (size_t)d * SYN_RANK; i++) basis[i] = (float)(gauss(&s) * bscale);
    for (size_t r = 0; r < n; r++) {
        uint64_t rs = seed * 0x2545F4914F6CDD1DULL + r * 0x9E3779B97F4A7C15ULL + 1;
        const float *c = centres + (splitmix(&rs) % SYN_CENTRES) * d;
        double z[SYN_RANK];
        for (int j = 0; j < SYN_RANK; j++) z[j] = gauss(&rs);
        float *x = v + r * d;
        for (uint32_t i = 0; i < d; i++) {
            const float *b = basis + (size_t)i * SYN_RANK;
            double acc = 0;
            for (int j = 0; j < SYN_RANK; j++) acc += b[j] * z[j];
            x[i] = (float)(c[i] + 0.7 * acc + 0.15 * gauss(&rs));
        }
    }
    free(centres);
    free(basis);
    out->v = v;
    out->rows = n;
    out->dim = d;
    return 0;
}

/* --- file formats --------------------------------------------------------- */

static int read_vecs(const char *path, size_t elem, void **data, size_t *rows, uint32_t *dim,
                     char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "cannot open %s", path);
        return -1;
    }
    int32_t d;
    if (fread(&d, 4, 1, f) != 1 || d <= 0 || d > 65536) {
        fclose(f);
        set_err(err, errlen, "%s: bad or empty vecs file", path);
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    size_t rowbytes = 4 + (size_t)d * elem;
    if (size < 0 || (size_t)size % rowbytes) {
        fclose(f);
        set_err(err, errlen, "%s: size is not a whole number of rows", path);
        return -1;
    }
    size_t n = (size_t)size / rowbytes;
    char *buf = malloc(n * (size_t)d * elem);
    if (!buf) {
        fclose(f);
        set_err(err, errlen, "%s: out of memory", path);
        return -1;
    }
    for (size_t r = 0; r < n; r++) {
        int32_t rd;
        if (fread(&rd, 4, 1, f) != 1 || rd != d ||
            fread(buf + r * d * elem, elem, (size_t)d, f) != (size_t)d) {
            free(buf);
            fclose(f);
            set_err(err, errlen, "%s: truncated or ragged rows", path);
            return -1;
        }
    }
    fclose(f);
    *data = buf;
    *rows = n;
    *dim = (uint32_t)d;
    return 0;
}

static int write_vecs(const char *path, const void *data, size_t elem, size_t rows, uint32_t dim,
                      char *err, size_t errlen)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        set_err(err, errlen, "cannot create %s", path);
        return -1;
    }
    int32_t d = (int32_t)dim;
    const char *p = data;
    for (size_t r = 0; r < rows; r++) {
        if (fwrite(&d, 4, 1, f) != 1 || fwrite(p + r * dim * elem, elem, dim, f) != dim) {
            fclose(f);
            set_err(err, errlen, "write failed on %s", path);
            return -1;
        }
    }
    if (fclose(f) != 0) {
        set_err(err, errlen, "write failed on %s", path);
        return -1;
    }
    return 0;
}

int ann_read_fvecs(const char *path, ann_matrix *out, char *err, size_t errlen)
{
    void *v;
    if (read_vecs(path, 4, &v, &out->rows, &out->dim, err, errlen) < 0) return -1;
    out->v = v;
    return 0;
}

int ann_write_fvecs(const char *path, const ann_matrix *m, char *err, size_t errlen)
{
    return write_vecs(path, m->v, 4, m->rows, m->dim, err, errlen);
}

int ann_read_ivecs(const char *path, ann_gt *out, char *err, size_t errlen)
{
    void *v;
    if (read_vecs(path, 4, &v, &out->rows, &out->k, err, errlen) < 0) return -1;
    out->ids = v;
    return 0;
}

int ann_write_ivecs(const char *path, const ann_gt *g, char *err, size_t errlen)
{
    return write_vecs(path, g->ids, 4, g->rows, g->k, err, errlen);
}

/* .npy v1-v3, C order, little-endian float32, 2-d. */
static int read_npy(const char *path, ann_matrix *out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "cannot open %s", path);
        return -1;
    }
    unsigned char pre[10];
    char *hdr = NULL;
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) goto bad;
    size_t hlen = pre[8] | (size_t)pre[9] << 8;
    if (pre[6] >= 2) {
        unsigned char b[2];
        if (fread(b, 1, 2, f) != 2) goto bad;
        hlen |= (size_t)b[0] << 16 | (size_t)b[1] << 24;
    }
    if (hlen > 1 << 20 || !(hdr = calloc(1, hlen + 1)) || fread(hdr, 1, hlen, f) != hlen) goto bad;
    if (!strstr(hdr, "'<f4'") || strstr(hdr, "'fortran_order': True")) {
        set_err(err, errlen, "%s: only C-order little-endian float32 (<f4) is supported", path);
        goto fail;
    }
    const char *sh = strstr(hdr, "'shape':");
    unsigned long long n = 0, d = 0;
    if (!sh || sscanf(sh, "'shape': (%llu, %llu)", &n, &d) != 2 || !n || !d || d > 65536) {
        set_err(err, errlen, "%s: need a 2-d shape", path);
        goto fail;
    }
    out->v = malloc(n * d * sizeof(float));
    if (!out->v || fread(out->v, sizeof(float), n * d, f) != n * d) {
        free(out->v);
        goto bad;
    }
    out->rows = n;
    out->dim = (uint32_t)d;
    free(hdr);
    fclose(f);
    return 0;
bad:
    set_err(err, errlen, "%s: not a readable .npy file", path);
fail:
    free(hdr);
    fclose(f);
    return -1;
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

int ann_load(const char *spec, size_t extra_rows, ann_matrix *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (strncmp(spec, "synthetic:", 10) == 0) {
        unsigned long long n = 0, d = 0, seed = 42;
        int got = sscanf(spec + 10, "%llux%llu:%llu", &n, &d, &seed);
        if (got < 2 || !n || !d || d > 65536) {
            set_err(err, errlen, "bad synthetic spec '%s' (want synthetic:NxD[:SEED])", spec);
            return -1;
        }
        if (gen_synthetic((size_t)n + extra_rows, (uint32_t)d, seed, out) < 0) {
            set_err(err, errlen, "%s: out of memory", spec);
            return -1;
        }
        return 0;
    }
    if (ends_with(spec, ".fvecs")) return ann_read_fvecs(spec, out, err, errlen);
    if (ends_with(spec, ".npy")) return read_npy(spec, out, err, errlen);
    set_err(err, errlen, "unknown dataset '%s' (synthetic:NxD, *.fvecs or *.npy)", spec);
    return -1;
}

void ann_matrix_free(ann_matrix *m)
{
    free(m->v);
    memset(m, 0, sizeof *m);
}

void ann_gt_free(ann_gt *g)
{
    free(g->ids);
    memset(g, 0, sizeof *g);
}

/* --- ground truth --------------------------------------------------------- */

static float *normalised_copy(const ann_matrix *m)
{
    float *c = malloc(m->rows * m->dim * sizeof(float));
    if (!c) return NULL;
    for (size_t r = 0; r < m->rows; r++) {
        const float *x = m->v + r * m->dim;
        float *y = c + r * m->dim;
        double n2 = 0;
        for (uint32_t i = 0; i < m->dim; i++) n2 += (double)x[i] * x[i];
        float inv = n2 > 0 ? (float)(1.0 / sqrt(n2)) : 0.0f;
        for (uint32_t i = 0; i < m->dim; i++) y[i] = x[i] * inv;
    }
    return c;
}

int ann_ground_truth(const ann_matrix *base, const ann_matrix *queries, uint32_t k,
                     ann_gt *out, char *err, size_t errlen)
{
    size_t nq = queries->rows, nb = base->rows, d = base->dim;
    float *b = normalised_copy(base), *q = normalised_copy(queries);
    float *scores = malloc(nq * GT_BLOCK * sizeof(float));
    float *best = malloc(nq * k * sizeof(float));
    int32_t *ids = malloc(nq * k * sizeof(int32_t));
    if (!b || !q || !scores || !best || !ids || queries->dim != base->dim) {
        free(b); free(q); free(scores); free(best); free(ids);
        set_err(err, errlen, "%s", queries->dim != base->dim ? "dimension mismatch" : "out of memory");
        return -1;
    }
    for (size_t i = 0; i < nq * k; i++) {
        best[i] = -INFINITY;
        ids[i] = -1;
    }
    for (size_t b0 = 0; b0 < nb; b0 += GT_BLOCK) {
        size_t bn = nb - b0 < GT_BLOCK ? nb - b0 : GT_BLOCK;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)bn, (int)d, 1.0f, q,
                    (int)d, b + b0 * d, (int)d, 0.0f, scores, (int)bn);
        for (size_t qi = 0; qi < nq; qi++) {
            float *bs = best + qi * k;
            int32_t *bi = ids + qi * k;
            const float *row = scores + qi * bn;
            for (size_t j = 0; j < bn; j++) {
                float s = row[j];
                if (s <= bs[k - 1]) continue;
                uint32_t p = k - 1;
                while (p > 0 && bs[p - 1] < s) {
                    bs[p] = bs[p - 1];
                    bi[p] = bi[p - 1];
                    p--;
                }
                bs[p] = s;
                bi[p] = (int32_t)(b0 + j);
            }
        }
    }
    free(b); free(q); free(scores); free(best);
    out->ids = ids;
    out->rows = nq;
    out->k = k;
    return 0;
}

double ann_recall(const int32_t *got, const int32_t *gt_row, uint32_t k)
{
    uint32_t hit = 0;
    for (uint32_t i = 0; i < k; i++)
        for (uint32_t j = 0; j < k; j++)
            if (got[j] >= 0 && got[j] == gt_row[i]) {
                hit++;
                break;
            }
    return (double)hit / k;
}
