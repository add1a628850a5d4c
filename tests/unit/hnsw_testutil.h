/* hnsw_testutil.h -- seeded data and recall helpers shared by the HNSW
 * unit tests (test_hnsw*.c). Header-only: every test file is its own
 * executable. Data: nc Gaussian clusters (unit-variance centres, spread
 * sigma), the shape of sentence embeddings grouped by topic. */
#ifndef HNSW_TESTUTIL_H
#define HNSW_TESTUTIL_H

#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "index/hnsw.h"

#ifdef __SANITIZE_ADDRESS__
#define TU_SLOW 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TU_SLOW 1
#endif
#endif
#ifdef __SANITIZE_THREAD__
#undef TU_SLOW
#define TU_SLOW 1
#endif
#ifndef TU_SLOW
#define TU_SLOW 0
#endif

typedef struct tu_rng {
    uint64_t s;
} tu_rng;

static inline uint64_t tu_next(tu_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline double tu_unif(tu_rng *r)
{
    return (double)(tu_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static inline double tu_gauss(tu_rng *r)
{
    double u = tu_unif(r) + 1e-300, v = tu_unif(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* n x d clustered vectors (caller frees). Same seed = same data. */
static inline float *tu_clustered(uint64_t seed, size_t n, uint32_t d, uint32_t nc, double sigma)
{
    tu_rng r = {seed};
    float *cent = malloc(sizeof(float) * nc * d), *x = malloc(sizeof(float) * n * d);
    for (size_t i = 0; i < (size_t)nc * d; i++)
        cent[i] = (float)tu_gauss(&r);
    for (size_t i = 0; i < n; i++) {
        uint32_t c = (uint32_t)(tu_unif(&r) * nc);
        for (uint32_t j = 0; j < d; j++)
            x[i * d + j] = cent[(size_t)c * d + j] + (float)(sigma * tu_gauss(&r));
    }
    free(cent);
    return x;
}

/* recall@k of the approximate search against the exact one over nq
 * queries (ef as given). */
static inline double tu_recall(hnsw *h, const float *q, uint32_t nq, uint32_t d, uint32_t k,
                               uint32_t ef)
{
    hnsw_result *a = malloc(sizeof(*a) * k), *e = malloc(sizeof(*e) * k);
    size_t hit = 0, tot = 0;
    for (uint32_t i = 0; i < nq; i++) {
        int na = hnsw_search(h, q + (size_t)i * d, d, k, ef, a);
        int ne = hnsw_search_exact(h, q + (size_t)i * d, d, k, e);
        if (na < 0 || ne < 0)
            continue;
        for (int x = 0; x < ne; x++)
            for (int y = 0; y < na; y++)
                if (a[y].id == e[x].id) {
                    hit++;
                    break;
                }
        tot += (size_t)ne;
    }
    free(a);
    free(e);
    return tot ? (double)hit / (double)tot : 0.0;
}

/* The bytes hnsw_save writes for h (malloc'd, length in *len), or NULL. */
static inline char *tu_save_mem(hnsw *h, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    int rc;
    if (!f)
        return NULL;
    rc = hnsw_save(h, f);
    fclose(f);
    if (rc != HNSW_OK) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* hnsw_load from a real temporary file (seekable, like a snapshot) holding
 * buf[0..len); hnsw_load's result, or HNSW_EINVAL if the file could not be
 * written. */
static inline int tu_load_bytes(const char *buf, size_t len, hnsw **out)
{
    FILE *f = tmpfile();
    int rc;
    if (!f)
        return HNSW_EINVAL;
    if (len && fwrite(buf, 1, len, f) != len) {
        fclose(f);
        return HNSW_EINVAL;
    }
    rewind(f);
    rc = hnsw_load(f, out);
    fclose(f);
    return rc;
}

#endif
