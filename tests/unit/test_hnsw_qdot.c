/* test_hnsw_qdot.c -- the query-side int8 scorers of index/hnsw_qdot.c:
 * every tier this CPU runs must return, for each record of a batch, the
 * distance the reference int8 dot gives (the dot is exact in int32, so the
 * only difference allowed is none), at every dimension class (tails of
 * every length, sub-block sizes), with extreme codes (-127, 127, and -128,
 * which quant_i8 never writes but a hand-made record may hold), and with
 * records at odd offsets (the int8 record is unpadded). A scorer that
 * dropped a tail byte, saturated, or mixed up the +128 correction fails
 * here before it can bend a graph. */
#include <criterion/criterion.h>
#include <string.h>

#include "index/hnsw_int.h"

static uint64_t rng = 88172645463325252ULL;

static int8_t rand_code(int extreme)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    if (extreme)
        return (rng & 1) ? 127 : ((rng & 2) ? -127 : -128);
    return (int8_t)((int)(rng % 255) - 127);
}

static int32_t ref_dot(const int8_t *a, const int8_t *b, size_t n)
{
    int64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += (int64_t)a[i] * b[i];
    return (int32_t)s;
}

/* Scores m records of a synthetic slab with tier f; compares with the
 * reference formula. rec is odd-sized so vectors sit at every alignment. */
static void check_tier(hnsw_qscore_fn f, const char *name, size_t dim, int extreme)
{
    const uint32_t m = 37;
    const size_t voff = 13, rec = voff + sizeof(float) + dim + 3;
    uint8_t *base = calloc(m + 1, rec);
    int8_t *qi = malloc(dim + 1);
    uint8_t *qu = malloc(dim + 1);
    uint32_t ids[37];
    float out[37];
    hnsw_qscore_args a;
    cr_assert(base && qi && qu);
    for (size_t i = 0; i < dim; i++) {
        qi[i] = rand_code(extreme);
        if (qi[i] == -128)
            qi[i] = -127; /* the query comes from quant_i8: never -128 */
        qu[i] = (uint8_t)qi[i] ^ 0x80u;
    }
    for (uint32_t r = 0; r <= m; r++) {
        uint8_t *p = base + (size_t)r * rec + voff;
        float sc = 0.001f * (float)(r + 1);
        memcpy(p, &sc, sizeof(sc));
        for (size_t i = 0; i < dim; i++)
            ((int8_t *)(p + sizeof(float)))[i] = rand_code(extreme);
    }
    for (uint32_t k = 0; k < m; k++)
        ids[k] = (k * 7 + 3) % (m + 1); /* out of order, one id skipped */
    a = (hnsw_qscore_args){base, rec, voff, dim, qi, qu, 0.0123f, kernels_get()->dot_i8};
    f(&a, ids, m, out);
    for (uint32_t k = 0; k < m; k++) {
        const uint8_t *p = base + (size_t)ids[k] * rec + voff;
        float sc, want;
        memcpy(&sc, p, sizeof(sc));
        want = 1.0f - (float)ref_dot(qi, (const int8_t *)(p + sizeof(float)), dim) * a.qscale * sc;
        cr_assert_eq(out[k], want, "%s dim %zu extreme %d record %u: %.9g != %.9g", name, dim,
                     extreme, k, out[k], want);
    }
    free(base);
    free(qi);
    free(qu);
}

Test(hnsw_qdot, every_scorer_tier_matches_the_exact_int8_distance_at_every_tail_length)
{
    static const size_t dims[] = {1,  3,   7,   8,   15,  16,  17,  31,  32,  33,  63,  64,
                                  65, 100, 127, 128, 129, 191, 255, 256, 257, 320, 383, 384,
                                  385, 768, 1536, 3072};
    static const char *names[HNSW_QSCORE_COUNT] = {"generic", "avx512vnni", "avxvnni"};
    int ran = 0;
    for (int t = 0; t < HNSW_QSCORE_COUNT; t++) {
        hnsw_qscore_fn f = hnsw_qscore_tier((hnsw_qscore_tier_id)t);
        if (!f)
            continue;
        ran++;
        for (size_t i = 0; i < sizeof(dims) / sizeof(dims[0]); i++) {
            check_tier(f, names[t], dims[i], 0);
            check_tier(f, names[t], dims[i], 1);
        }
    }
    cr_assert_geq(ran, 1);
}

Test(hnsw_qdot, the_selected_scorer_is_generic_when_kernels_are_capped_at_scalar)
{
    cr_assert_eq(hnsw_qscore_select(kernels_tier(KTIER_SCALAR)),
                 hnsw_qscore_tier(HNSW_QSCORE_GENERIC));
    cr_assert_eq(hnsw_qscore_select(kernels_tier(KTIER_REF)),
                 hnsw_qscore_tier(HNSW_QSCORE_GENERIC));
}
