/* test_hnsw_rescore.c -- the search re-scores only the first max(2k, 16)
 * of its ef results at full precision (hnsw.c design 11) and descends the
 * upper levels of a float32 index on its int8 codes (design 12). The
 * threats: a result that carries an int8 distance instead of the exact
 * one, results out of order, or a top k that differs from the one a full
 * re-score of all ef results gives. Seeded clustered data, the graph
 * forced (exact threshold 0). */
#include <criterion/criterion.h>

#include "kernels/kernels.h"
#include "tests/unit/hnsw_testutil.h"

#define D 128
#define K 5
#define EF 200

static hnsw *build(hnsw_storage st, int rerank, const float *x, size_t n)
{
    hnsw_params p;
    hnsw *h = NULL;
    hnsw_params_default(&p, D);
    p.storage = st;
    p.rerank = rerank;
    cr_assert_eq(hnsw_create(&p, &h), HNSW_OK);
    for (size_t i = 0; i < n; i++) {
        uint32_t id;
        cr_assert_eq(hnsw_insert(h, x + i * D, D, &id), HNSW_OK, "insert %zu", i);
    }
    hnsw_set_exact_threshold(h, 0);
    return h;
}

/* 1 - cos(q, stored id), in double: the float32 distance a re-scored
 * result must carry (within float rounding). */
static double exact_dist(hnsw *h, const float *q, uint32_t id)
{
    float v[D];
    double dot = 0, qq = 0, vv = 0;
    cr_assert_eq(hnsw_get_vector(h, id, v), HNSW_OK);
    for (int i = 0; i < D; i++) {
        dot += (double)q[i] * v[i];
        qq += (double)q[i] * q[i];
        vv += (double)v[i] * v[i];
    }
    return 1.0 - dot / sqrt(qq * vv);
}

static void rescore_case(hnsw_storage st, int rerank, double tol)
{
    size_t n = TU_SLOW ? 2000 : 6000;
    uint32_t nq = TU_SLOW ? 40 : 150;
    float *x = tu_clustered(5, n + nq, D, 32, 0.5);
    const float *q = x + n * D;
    hnsw *h = build(st, rerank, x, n);
    hnsw_result top[K], all[EF];
    size_t same = 0;
    for (uint32_t i = 0; i < nq; i++) {
        const float *qi = q + (size_t)i * D;
        int nk = hnsw_search(h, qi, D, K, EF, top);   /* re-scores 16 of 200 */
        int na = hnsw_search(h, qi, D, EF, EF, all);  /* re-scores all 200 */
        cr_assert_eq(nk, K);
        cr_assert_eq(na, EF);
        for (int j = 0; j < K; j++) {
            double e = exact_dist(h, qi, top[j].id);
            cr_assert(fabs(top[j].dist - e) <= tol, "query %u rank %d: dist %.6f, exact %.6f", i,
                      j, (double)top[j].dist, e);
            if (j)
                cr_assert_leq(top[j - 1].dist, top[j].dist, "query %u: ranks %d, %d out of order",
                              i, j - 1, j);
            for (int y = 0; y < K; y++)
                same += all[y].id == top[j].id;
        }
    }
    /* The int8 order puts the true top 5 within the first 16 on all but
     * the rarest near-ties. */
    cr_assert_geq((double)same, 0.99 * nq * K, "top %d agrees with the full re-score for %zu "
                  "of %u", K, same, nq * K);
    hnsw_free(h);
    free(x);
}

Test(hnsw_rescore, float32_results_of_a_partial_rescore_carry_exact_distances_in_order)
{
    rescore_case(HNSW_STORE_F32, 0, 1e-5);
}

Test(hnsw_rescore, int8_f32_rerank_results_of_a_partial_rescore_carry_exact_distances_in_order)
{
    /* hnsw_get_vector returns the float32 re-rank copy: the distance a
     * re-scored result carries. */
    rescore_case(HNSW_STORE_I8, HNSW_RERANK_F32, 1e-5);
}

Test(hnsw_rescore, float32_codes_descent_keeps_recall_at_10_of_the_graph)
{
    size_t n = TU_SLOW ? 3000 : 10000;
    uint32_t nq = TU_SLOW ? 50 : 200;
    float *x = tu_clustered(9, n + nq, D, 64, 0.5);
    hnsw *h = build(HNSW_STORE_F32, 0, x, n);
    double r = tu_recall(h, x + n * D, nq, D, 10, 32);
    cr_assert_geq(r, 0.9, "recall@10 at ef 32 = %.4f", r);
    hnsw_free(h);
    free(x);
}
