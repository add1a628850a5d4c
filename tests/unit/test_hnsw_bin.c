/* test_hnsw_bin.c -- the index's BIN storage (HNSW_STORE_BIN, hnsw.c design
 * note 8): distances equal an independent Hamming oracle computed from the
 * raw vectors' signs (dimensions that are not multiples of 64 included, so
 * padding bits never count); the graph finds the exact Hamming top 10 on
 * clustered data (tie-aware: BIN distances are multiples of 2/dim, so the
 * exact top 10 is a set only up to ties); hnsw_get_vector gives the
 * de-quantised +-1/sqrt(dim) vector; save/load answers identically and
 * re-saves byte for byte, and every truncation is rejected; deletes and
 * re-inserts keep a valid graph and never return a deleted id; the memory
 * per vector is below int8's. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "tests/unit/hnsw_testutil.h"

static hnsw *make(uint32_t d, hnsw_storage st)
{
    hnsw_params p;
    hnsw *h = NULL;
    hnsw_params_default(&p, d);
    p.storage = st;
    p.rerank = HNSW_RERANK_NONE;
    cr_assert_eq(hnsw_create(&p, &h), HNSW_OK);
    return h;
}

static void insert_all(hnsw *h, const float *x, size_t n, uint32_t d, uint32_t *ids)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t id;
        cr_assert_eq(hnsw_insert(h, x + i * d, d, &id), HNSW_OK, "insert %zu", i);
        if (ids)
            ids[i] = id;
    }
}

/* The oracle: 2 * #{j : (a_j > 0) != (b_j > 0)} / d, from raw floats. */
static float oracle_dist(const float *a, const float *b, uint32_t d)
{
    uint32_t diff = 0;
    for (uint32_t j = 0; j < d; j++)
        diff += (a[j] > 0) != (b[j] > 0);
    return (float)(2 * (uint64_t)diff) / (float)d;
}

Test(hnsw_bin, distances_equal_a_hamming_oracle_of_the_raw_signs_at_odd_dims)
{
    static const uint32_t dims[] = {1, 3, 63, 64, 65, 100, 129};
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        uint32_t d = dims[di], n = 150, *ids = malloc(n * sizeof(uint32_t));
        float *x = tu_clustered(7 + d, n, d, 5, 1.0);
        float *q = tu_clustered(99 + d, 20, d, 5, 1.0);
        hnsw *h = make(d, HNSW_STORE_BIN);
        hnsw_result r[20];
        float *v = malloc(d * sizeof(float));
        insert_all(h, x, n, d, ids);
        cr_assert_eq(ids[n - 1], n - 1, "ids are dense from 0");
        for (uint32_t i = 0; i < 20; i++) {
            int got = hnsw_search_exact(h, q + (size_t)i * d, d, 20, r);
            cr_assert_eq(got, 20);
            for (int j = 0; j < got; j++) {
                float want = oracle_dist(q + (size_t)i * d, x + (size_t)r[j].id * d, d);
                cr_assert_eq(r[j].dist, want, "d=%u query %u rank %d: %g != %g", d, i, j,
                             r[j].dist, want);
                cr_assert(j == 0 || r[j - 1].dist <= r[j].dist, "ascending");
            }
        }
        for (uint32_t id = 0; id < n; id++) {
            float one = (float)(1.0 / sqrt((double)d));
            cr_assert_eq(hnsw_get_vector(h, id, v), HNSW_OK);
            for (uint32_t j = 0; j < d; j++)
                cr_assert_eq(v[j], x[(size_t)id * d + j] > 0 ? one : -one, "d=%u id %u dim %u",
                             d, id, j);
        }
        hnsw_free(h);
        free(v);
        free(x);
        free(q);
        free(ids);
    }
}

Test(hnsw_bin, the_exact_scan_returns_the_true_hamming_top_k_with_ties_allowed)
{
    uint32_t d = 96, n = 800, k = 10;
    float *x = tu_clustered(3, n, d, 8, 0.8), *q = tu_clustered(4, 30, d, 8, 0.8);
    float *all = malloc(n * sizeof(float));
    hnsw *h = make(d, HNSW_STORE_BIN);
    hnsw_result r[10];
    insert_all(h, x, n, d, NULL);
    for (uint32_t i = 0; i < 30; i++) {
        cr_assert_eq(hnsw_search_exact(h, q + (size_t)i * d, d, k, r), (int)k);
        uint32_t closer = 0;
        for (uint32_t id = 0; id < n; id++) {
            all[id] = oracle_dist(q + (size_t)i * d, x + (size_t)id * d, d);
            closer += all[id] < r[k - 1].dist;
        }
        /* every vector strictly closer than the k-th result is returned */
        cr_assert_leq(closer, k - 1, "query %u: %u vectors beat the k-th", i, closer);
        for (uint32_t j = 0; j < k; j++)
            cr_assert_eq(r[j].dist, all[r[j].id]);
    }
    hnsw_free(h);
    free(all);
    free(x);
    free(q);
}

/* Tie-aware recall@k: a graph result counts if its distance is within the
 * exact k-th distance (any member of the tied set is a correct answer). */
static double bin_recall(hnsw *h, const float *q, uint32_t nq, uint32_t d, uint32_t k,
                         uint32_t ef)
{
    hnsw_result *a = malloc(k * sizeof(*a)), *e = malloc(k * sizeof(*e));
    size_t hit = 0, tot = 0;
    for (uint32_t i = 0; i < nq; i++) {
        int na = hnsw_search(h, q + (size_t)i * d, d, k, ef, a);
        int ne = hnsw_search_exact(h, q + (size_t)i * d, d, k, e);
        cr_assert_eq(na, ne);
        for (int y = 0; y < na; y++)
            hit += a[y].dist <= e[ne - 1].dist;
        tot += (size_t)ne;
    }
    free(a);
    free(e);
    return tot ? (double)hit / (double)tot : 0;
}

Test(hnsw_bin, graph_search_recall_at_10_against_the_exact_hamming_scan, .timeout = 300)
{
    uint32_t d = 256, n = TU_SLOW ? 2000 : 10000, nq = 100;
    float *x = tu_clustered(11, n, d, 40, 0.7), *q = tu_clustered(12, nq, d, 40, 0.7);
    hnsw *h = make(d, HNSW_STORE_BIN);
    char err[256];
    insert_all(h, x, n, d, NULL);
    hnsw_set_exact_threshold(h, 0); /* always the graph */
    cr_assert_eq(hnsw_validate(h, err, sizeof err), 0, "%s", err);
    /* Measured (seeded, so deterministic): 0.918 at ef 100 and 0.995 at
     * ef 400 for n 10000; float32 storage on the same data scores 0.848
     * and 0.976 against its own exact search (these clusters are hard). */
    double r100 = bin_recall(h, q, nq, d, 10, 100), r400 = bin_recall(h, q, nq, d, 10, 400);
    cr_log_info("BIN recall@10 ef 100: %.3f, ef 400: %.3f (n %u, d %u)\n", r100, r400, n, d);
    cr_assert_geq(r100, 0.88, "recall@10 at ef 100: %.3f", r100);
    cr_assert_geq(r400, 0.98, "recall@10 at ef 400: %.3f", r400);
    hnsw_free(h);
    free(x);
    free(q);
}

static char *save_mem(hnsw *h, size_t *len)
{
    char *buf = tu_save_mem(h, len);
    cr_assert_not_null(buf, "hnsw_save");
    return buf;
}


Test(hnsw_bin, save_load_round_trip_answers_identically_and_resaves_byte_for_byte)
{
    uint32_t d = 100, n = 3000, nq = 40;
    float *x = tu_clustered(21, n, d, 10, 0.8), *q = tu_clustered(22, nq, d, 10, 0.8);
    hnsw *h = make(d, HNSW_STORE_BIN), *g = NULL;
    size_t len, len2;
    hnsw_result ra[10], rb[10];
    insert_all(h, x, n, d, NULL);
    for (uint32_t id = 0; id < n; id += 7)
        cr_assert_eq(hnsw_delete(h, id), HNSW_OK);
    char *buf = save_mem(h, &len);
    cr_assert_eq(tu_load_bytes(buf, len, &g), HNSW_OK);
    cr_assert_eq(hnsw_count(g), hnsw_count(h));
    hnsw_set_exact_threshold(h, 0);
    hnsw_set_exact_threshold(g, 0);
    for (uint32_t i = 0; i < nq; i++) {
        int na = hnsw_search(h, q + (size_t)i * d, d, 10, 50, ra);
        int nb = hnsw_search(g, q + (size_t)i * d, d, 10, 50, rb);
        cr_assert_eq(na, nb);
        for (int j = 0; j < na; j++) {
            cr_assert_eq(ra[j].id, rb[j].id, "query %u rank %d", i, j);
            cr_assert_eq(ra[j].dist, rb[j].dist);
        }
    }
    hnsw_set_exact_threshold(g, hnsw_count(g)); /* the file stores h's threshold */
    hnsw_set_exact_threshold(h, hnsw_count(h));
    char *buf2 = save_mem(g, &len2);
    char *buf1 = save_mem(h, &len);
    cr_assert_eq(len, len2);
    cr_assert(memcmp(buf1, buf2, len) == 0, "re-saved file differs");
    /* a loaded BIN index keeps taking inserts */
    uint32_t id;
    cr_assert_eq(hnsw_insert(g, q, d, &id), HNSW_OK);
    cr_assert_eq(hnsw_search_exact(g, q, d, 1, ra), 1);
    cr_assert_eq(ra[0].dist, 0.0f);
    /* truncations, sampled: none loads */
    for (size_t cut = 0; cut < len; cut += 1 + len / 97) {
        hnsw *t = NULL;
        cr_assert_eq(tu_load_bytes(buf1, cut, &t), HNSW_EFORMAT, "cut %zu", cut);
        cr_assert_null(t);
    }
    free(buf);
    free(buf1);
    free(buf2);
    hnsw_free(h);
    hnsw_free(g);
    free(x);
    free(q);
}

Test(hnsw_bin, churn_of_deletes_and_reinserts_keeps_a_valid_graph, .timeout = 300)
{
    uint32_t d = 128, n = TU_SLOW ? 1500 : 4000, nq = 50;
    float *x = tu_clustered(31, n, d, 20, 0.7), *q = tu_clustered(32, nq, d, 20, 0.7);
    uint32_t *ids = malloc(n * sizeof(uint32_t));
    uint8_t *live = calloc(n, 1);
    hnsw *h = make(d, HNSW_STORE_BIN);
    char err[256];
    tu_rng r = {5};
    hnsw_result res[10];
    insert_all(h, x, n, d, ids);
    memset(live, 1, n);
    hnsw_set_exact_threshold(h, 0);
    for (int round = 0; round < 3; round++) {
        uint32_t batch[256], nb = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (!live[i] || tu_unif(&r) > 0.3)
                continue;
            if (round == 1 && nb < 256) {
                batch[nb++] = ids[i];
            } else {
                cr_assert_eq(hnsw_delete(h, ids[i]), HNSW_OK);
            }
            live[i] = 0;
        }
        if (nb)
            cr_assert_eq(hnsw_delete_batch(h, batch, nb), (int)nb);
        cr_assert_eq(hnsw_validate(h, err, sizeof err), 0, "round %d after deletes: %s", round,
                     err);
        for (uint32_t i = 0; i < n; i++)
            if (!live[i] && tu_unif(&r) < 0.5) {
                cr_assert_eq(hnsw_insert(h, x + (size_t)i * d, d, &ids[i]), HNSW_OK);
                live[i] = 1;
            }
        cr_assert_eq(hnsw_validate(h, err, sizeof err), 0, "round %d after inserts: %s", round,
                     err);
        for (uint32_t i = 0; i < nq; i++) {
            int got = hnsw_search(h, q + (size_t)i * d, d, 10, 64, res);
            cr_assert_eq(got, 10);
            for (int j = 0; j < got; j++)
                cr_assert(hnsw_contains(h, res[j].id), "a deleted id came back");
        }
        double rec = bin_recall(h, q, nq, d, 10, 200);
        cr_log_info("churn round %d: recall@10 ef 200 %.3f\n", round, rec);
        cr_assert_geq(rec, 0.9, "round %d recall %.3f", round, rec);
    }
    hnsw_free(h);
    free(ids);
    free(live);
    free(x);
    free(q);
}

Test(hnsw_bin, memory_per_vector_is_below_int8_and_float32)
{
    uint32_t d = 384, n = 2000;
    float *x = tu_clustered(41, n, d, 10, 0.8);
    hnsw *b = make(d, HNSW_STORE_BIN), *i8 = make(d, HNSW_STORE_I8), *f = make(d, HNSW_STORE_F32);
    insert_all(b, x, n, d, NULL);
    insert_all(i8, x, n, d, NULL);
    insert_all(f, x, n, d, NULL);
    size_t mb = hnsw_memory_bytes(b), mi = hnsw_memory_bytes(i8), mf = hnsw_memory_bytes(f);
    cr_log_info("bytes/vector at d=384: bin %zu int8 %zu f32 %zu\n", mb / n, mi / n, mf / n);
    /* the record differs by the vector only: 384 + 4 bytes int8, 48 BIN */
    cr_assert_lt(mb + (size_t)n * 300, mi, "bin %zu int8 %zu", mb, mi);
    cr_assert_lt(mi, mf);
    hnsw_free(b);
    hnsw_free(i8);
    hnsw_free(f);
    free(x);
}

Test(hnsw_bin, zero_nan_and_wrong_dimension_vectors_are_rejected)
{
    hnsw *h = make(70, HNSW_STORE_BIN);
    float v[70] = {0};
    uint32_t id;
    cr_assert_eq(hnsw_insert(h, v, 70, &id), HNSW_EINVAL);
    v[3] = NAN;
    cr_assert_eq(hnsw_insert(h, v, 70, &id), HNSW_EINVAL);
    v[3] = -2;
    cr_assert_eq(hnsw_insert(h, v, 69, &id), HNSW_EDIM);
    cr_assert_eq(hnsw_insert(h, v, 70, &id), HNSW_OK);
    /* a vector with no positive component is all zero bits: distance to
     * itself 0, to its negation the maximum 2 */
    hnsw_result r;
    cr_assert_eq(hnsw_search_exact(h, v, 70, 1, &r), 1);
    cr_assert_eq(r.dist, 0.0f);
    for (int j = 0; j < 70; j++)
        v[j] = j == 3 ? 2.0f : 1.0f;
    cr_assert_eq(hnsw_search_exact(h, v, 70, 1, &r), 1);
    cr_assert_eq(r.dist, 2.0f);
    hnsw_free(h);
}
