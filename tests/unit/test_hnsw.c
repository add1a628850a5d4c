/* test_hnsw.c -- the HNSW index as a caller uses it: recall against the
 * exact search on seeded clustered data (float32 and int8 + re-rank),
 * input validation (nothing bad is ever stored), k results on tiny
 * indexes, reproducible graphs (also across kernel tiers), memory per
 * vector, the exact path. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kernels/kernels.h"

#include "tests/unit/hnsw_testutil.h"

#define D 64

static hnsw *build(hnsw_params *p, const float *x, size_t n, uint32_t *ids)
{
    hnsw *h = NULL;
    cr_assert_eq(hnsw_create(p, &h), HNSW_OK);
    for (size_t i = 0; i < n; i++) {
        uint32_t id;
        cr_assert_eq(hnsw_insert(h, x + i * p->dim, p->dim, &id), HNSW_OK, "insert %zu", i);
        if (ids)
            ids[i] = id;
    }
    return h;
}

static void check_valid(hnsw *h)
{
    char err[256];
    cr_assert_eq(hnsw_validate(h, err, sizeof(err)), 0, "validator: %s", err);
}

static void recall_case(hnsw_storage st, int rerank)
{
    size_t n = TU_SLOW ? 5000 : 20000;
    uint32_t nq = TU_SLOW ? 100 : 300;
    /* queries: drawn around the same centres, not inserted */
    float *x = tu_clustered(1, n + nq, D, 64, 0.5);
    float *q = x + n * D;
    hnsw_params p;
    hnsw *h;
    double r;
    hnsw_params_default(&p, D);
    p.storage = st;
    p.rerank = rerank;
    h = build(&p, x, n, NULL);
    hnsw_set_exact_threshold(h, 0); /* always the graph */
    cr_assert_eq(hnsw_count(h), n);
    r = tu_recall(h, q, nq, D, 10, 64);
    cr_assert_geq(r, 0.9, "recall@10 at ef 64 = %.4f", r);
    check_valid(h);
    hnsw_free(h);
    free(x);
}

Test(hnsw_recall, float32_recall_at_10_is_at_least_0_9)
{
    recall_case(HNSW_STORE_F32, 0);
}

Test(hnsw_recall, int8_with_f16_rerank_recall_at_10_is_at_least_0_9)
{
    recall_case(HNSW_STORE_I8, HNSW_RERANK_F16);
}

Test(hnsw_recall, int8_with_f32_rerank_recall_at_10_is_at_least_0_9)
{
    recall_case(HNSW_STORE_I8, HNSW_RERANK_F32);
}

Test(hnsw_recall, f16_rerank_ranks_like_f32_rerank)
{
    /* Same graph (same seed, same order; the graph is built on int8 in
     * both), so the candidates are the same: float16 copies must rank them
     * as float32 copies do, up to near ties. */
    size_t n = TU_SLOW ? 2000 : 6000;
    uint32_t nq = 100, agree = 0, total = 0;
    float *x = tu_clustered(11, n + nq, D, 32, 0.5), *q = x + n * D;
    hnsw_params p;
    hnsw *a, *b;
    hnsw_params_default(&p, D);
    p.storage = HNSW_STORE_I8;
    p.rerank = HNSW_RERANK_F16;
    a = build(&p, x, n, NULL);
    p.rerank = HNSW_RERANK_F32;
    b = build(&p, x, n, NULL);
    hnsw_set_exact_threshold(a, 0);
    hnsw_set_exact_threshold(b, 0);
    for (uint32_t i = 0; i < nq; i++) {
        hnsw_result ra[10], rb[10];
        int na = hnsw_search(a, q + i * D, D, 10, 64, ra), nb = hnsw_search(b, q + i * D, D, 10, 64, rb);
        cr_assert_eq(na, 10);
        cr_assert_eq(nb, 10);
        for (int j = 0; j < 10; j++) {
            cr_assert_float_eq(ra[j].dist, rb[j].dist, 2e-3, "query %u rank %d", i, j);
            for (int k = 0; k < 10; k++)
                agree += ra[j].id == rb[k].id;
            total++;
        }
    }
    cr_assert_geq((double)agree / total, 0.99, "top-10 overlap %u/%u", agree, total);
    hnsw_free(a);
    hnsw_free(b);
    free(x);
}

Test(hnsw_recall, int8_without_rerank_still_finds_most_neighbours)
{
    /* Without re-rank the order inside the top 10 is the quantised one:
     * recall is lower but must stay useful. */
    size_t n = TU_SLOW ? 3000 : 10000;
    float *x = tu_clustered(3, n + 100, D, 32, 0.5), *q = x + n * D;
    hnsw_params p;
    hnsw *h;
    double r;
    hnsw_params_default(&p, D);
    p.storage = HNSW_STORE_I8;
    p.rerank = 0;
    h = build(&p, x, n, NULL);
    hnsw_set_exact_threshold(h, 0);
    r = tu_recall(h, q, 100, D, 10, 64);
    cr_assert_geq(r, 0.8, "recall %.4f", r);
    hnsw_free(h);
    free(x);
}

Test(hnsw_input, nan_inf_zero_and_wrong_dimension_are_rejected_and_nothing_is_stored)
{
    hnsw_params p;
    hnsw *h;
    float v[4] = {1, 2, 3, 4}, bad[4];
    uint32_t id = 12345;
    hnsw_result r[2];
    hnsw_params_default(&p, 4);
    cr_assert_eq(hnsw_create(&p, &h), HNSW_OK);
    memcpy(bad, v, sizeof(v));
    bad[2] = NAN;
    cr_assert_eq(hnsw_insert(h, bad, 4, &id), HNSW_EINVAL);
    bad[2] = INFINITY;
    cr_assert_eq(hnsw_insert(h, bad, 4, &id), HNSW_EINVAL);
    bad[2] = -INFINITY;
    cr_assert_eq(hnsw_insert(h, bad, 4, &id), HNSW_EINVAL);
    memset(bad, 0, sizeof(bad));
    cr_assert_eq(hnsw_insert(h, bad, 4, &id), HNSW_EINVAL);
    bad[0] = 1e-30f; /* squares underflow: norm 0 in float, not in double */
    cr_assert_eq(hnsw_insert(h, bad, 4, &id), HNSW_OK);
    cr_assert_eq(hnsw_delete(h, id), HNSW_OK);
    bad[0] = 3e38f; /* squares overflow float: must be handled, not Inf */
    bad[1] = 3e38f;
    cr_assert_eq(hnsw_insert(h, bad, 4, &id), HNSW_OK);
    cr_assert_eq(hnsw_delete(h, id), HNSW_OK);
    cr_assert_eq(hnsw_insert(h, v, 3, &id), HNSW_EDIM);
    cr_assert_eq(hnsw_insert(h, v, 5, &id), HNSW_EDIM);
    cr_assert_eq(hnsw_insert(h, NULL, 4, &id), HNSW_EINVAL);
    cr_assert_eq(hnsw_count(h), 0);
    check_valid(h);
    /* queries get the same checks */
    cr_assert_eq(hnsw_insert(h, v, 4, &id), HNSW_OK);
    bad[0] = NAN;
    cr_assert_eq(hnsw_search(h, bad, 4, 1, 0, r), HNSW_EINVAL);
    cr_assert_eq(hnsw_search_exact(h, v, 3, 1, r), HNSW_EDIM);
    memset(bad, 0, sizeof(bad));
    cr_assert_eq(hnsw_search(h, bad, 4, 1, 0, r), HNSW_EINVAL);
    cr_assert_eq(hnsw_count(h), 1);
    hnsw_free(h);
}

Test(hnsw_input, bad_parameters_are_rejected)
{
    hnsw_params p;
    hnsw *h = (hnsw *)1;
    hnsw_params_default(&p, 0);
    cr_assert_eq(hnsw_create(&p, &h), HNSW_EINVAL);
    cr_assert_null(h);
    hnsw_params_default(&p, 65537);
    cr_assert_eq(hnsw_create(&p, &h), HNSW_EINVAL);
    hnsw_params_default(&p, 8);
    p.M = 3;
    cr_assert_eq(hnsw_create(&p, &h), HNSW_EINVAL);
    p.M = 4097;
    cr_assert_eq(hnsw_create(&p, &h), HNSW_EINVAL);
    p.M = 16;
    p.storage = (hnsw_storage)7;
    cr_assert_eq(hnsw_create(&p, &h), HNSW_EINVAL);
}

Test(hnsw_api, stored_vector_is_the_normalised_input_and_distances_are_one_minus_cosine)
{
    hnsw_params p;
    hnsw *h;
    float a[3] = {3, 0, 4}, b[3] = {0, 2, 0}, out[3];
    uint32_t ia, ib;
    hnsw_result r[2];
    hnsw_params_default(&p, 3);
    cr_assert_eq(hnsw_create(&p, &h), HNSW_OK);
    cr_assert_eq(hnsw_insert(h, a, 3, &ia), HNSW_OK);
    cr_assert_eq(hnsw_insert(h, b, 3, &ib), HNSW_OK);
    cr_assert_eq(hnsw_get_vector(h, ia, out), HNSW_OK);
    cr_assert_float_eq(out[0], 0.6f, 1e-6);
    cr_assert_float_eq(out[2], 0.8f, 1e-6);
    cr_assert_eq(hnsw_search(h, a, 3, 2, 0, r), 2);
    cr_assert_eq(r[0].id, ia);
    cr_assert_float_eq(r[0].dist, 0.0f, 1e-6);
    cr_assert_eq(r[1].id, ib);
    cr_assert_float_eq(r[1].dist, 1.0f, 1e-6);
    cr_assert(hnsw_contains(h, ia));
    cr_assert_not(hnsw_contains(h, 99));
    cr_assert_eq(hnsw_get_vector(h, 99, out), HNSW_ENOENT);
    cr_assert_eq(hnsw_dim(h), 3);
    hnsw_free(h);
}

Test(hnsw_api, deleting_a_missing_or_deleted_id_is_enoent)
{
    hnsw_params p;
    hnsw *h;
    float a[2] = {1, 1};
    uint32_t id;
    hnsw_params_default(&p, 2);
    cr_assert_eq(hnsw_create(&p, &h), HNSW_OK);
    cr_assert_eq(hnsw_delete(h, 0), HNSW_ENOENT);
    cr_assert_eq(hnsw_insert(h, a, 2, &id), HNSW_OK);
    cr_assert_eq(hnsw_delete(h, id), HNSW_OK);
    cr_assert_eq(hnsw_delete(h, id), HNSW_ENOENT);
    cr_assert_eq(hnsw_delete(h, UINT32_MAX), HNSW_ENOENT);
    cr_assert_eq(hnsw_count(h), 0);
    check_valid(h);
    hnsw_free(h);
}

Test(hnsw_small, tiny_indexes_return_k_results_when_k_is_at_most_the_live_count)
{
    for (int graph = 0; graph < 2; graph++) {
        for (uint32_t n = 0; n <= 40; n++) {
            hnsw_params p;
            hnsw *h;
            float *x = tu_clustered(10 + n, n ? n : 1, 8, 3, 0.3);
            hnsw_result r[64];
            hnsw_params_default(&p, 8);
            p.M = 4;
            h = build(&p, x, n, NULL);
            if (graph)
                hnsw_set_exact_threshold(h, 0);
            for (uint32_t k = 1; k <= n + 3; k++) {
                int got = hnsw_search(h, x, 8, k, 1, r);
                cr_assert_eq(got, (int)(k < n ? k : n), "n=%u k=%u got %d", n, k, got);
                for (int i = 1; i < got; i++)
                    cr_assert_leq(r[i - 1].dist, r[i].dist);
            }
            cr_assert_eq(hnsw_search(h, x, 8, 0, 0, r), 0);
            check_valid(h);
            hnsw_free(h);
            free(x);
        }
    }
}

static char *save_to_mem(hnsw *h, size_t *len)
{
    char *buf = tu_save_mem(h, len);
    cr_assert_not_null(buf, "hnsw_save");
    return buf;
}

Test(hnsw_build, same_seed_and_insert_order_give_the_same_graph_byte_for_byte)
{
    size_t n = 3000, l1, l2, l3;
    float *x = tu_clustered(5, n, 32, 10, 0.5);
    hnsw_params p;
    hnsw *a, *b, *c;
    char *s1, *s2, *s3;
    hnsw_params_default(&p, 32);
    p.seed = 77;
    a = build(&p, x, n, NULL);
    b = build(&p, x, n, NULL);
    p.seed = 78;
    c = build(&p, x, n, NULL);
    for (uint32_t id = 0; id < n; id += 3) {
        cr_assert_eq(hnsw_delete(a, id), HNSW_OK);
        cr_assert_eq(hnsw_delete(b, id), HNSW_OK);
    }
    s1 = save_to_mem(a, &l1);
    s2 = save_to_mem(b, &l2);
    s3 = save_to_mem(c, &l3);
    cr_assert_eq(l1, l2);
    cr_assert_eq(memcmp(s1, s2, l1), 0, "same seed, different graph");
    cr_assert(l1 != l3 || memcmp(s1, s3, l1) != 0, "different seeds, same graph");
    free(s1);
    free(s2);
    free(s3);
    hnsw_free(a);
    hnsw_free(b);
    hnsw_free(c);
    free(x);
}

Test(hnsw_build, levels_follow_ml_one_over_ln_m)
{
    /* With mL = 1/ln(M) the fraction of nodes above level 0 is 1/M. The
     * save format tells the upper-block bytes; easier: count via links of
     * the validator-free path: build and compare memory with all-level-0. */
    size_t n = 4000;
    float *x = tu_clustered(6, n, 16, 8, 0.5);
    hnsw_params p;
    hnsw *h;
    size_t before, after;
    hnsw_params_default(&p, 16);
    cr_assert_eq(hnsw_create(&p, &h), HNSW_OK);
    cr_assert_eq(hnsw_reserve(h, (uint32_t)n), HNSW_OK);
    before = hnsw_memory_bytes(h);
    for (size_t i = 0; i < n; i++) {
        uint32_t id;
        cr_assert_eq(hnsw_insert(h, x + i * 16, 16, &id), HNSW_OK);
    }
    after = hnsw_memory_bytes(h);
    /* upper blocks: each level above 0 costs (2 + M) * 4 = 72 bytes;
     * expected levels per node: sum_{l>=1} M^-l = 1/15. Context scratch
     * adds a little; allow a wide band around 4.8 B/node. */
    {
        double per = (double)(after - before) / n;
        cr_assert(per > 2.0 && per < 20.0, "upper bytes per node %.2f", per);
    }
    hnsw_free(h);
    free(x);
}

/* hnsw_memory_bytes per vector of an index with parameters p after n
 * clustered 384-d inserts, net of an empty index with the same p. */
static double bytes_per_vector_d384(hnsw_params *p, size_t n)
{
    float *x = tu_clustered(7, n, 384, 16, 0.5);
    hnsw *h, *empty;
    double per;
    p->ef_construction = 64;
    cr_assert_eq(hnsw_create(p, &empty), HNSW_OK);
    cr_assert_eq(hnsw_create(p, &h), HNSW_OK);
    cr_assert_eq(hnsw_reserve(h, (uint32_t)n), HNSW_OK);
    for (size_t i = 0; i < n; i++) {
        uint32_t id;
        cr_assert_eq(hnsw_insert(h, x + i * 384, 384, &id), HNSW_OK);
    }
    per = (double)(hnsw_memory_bytes(h) - hnsw_memory_bytes(empty)) / n;
    hnsw_free(h);
    hnsw_free(empty);
    free(x);
    return per;
}

Test(hnsw_memory, int8_costs_at_most_570_bytes_per_vector_at_d384)
{
    hnsw_params p;
    double per;
    hnsw_params_default(&p, 384);
    p.storage = HNSW_STORE_I8;
    p.rerank = 0;
    per = bytes_per_vector_d384(&p, TU_SLOW ? 1500 : 4000);
    cr_log_info("int8 d=384: %.1f B/vector", per);
    cr_assert_leq(per, 570.0, "int8 %.1f B/vector", per);
}

Test(hnsw_memory, int8_with_f16_rerank_costs_at_most_1340_bytes_per_vector_at_d384)
{
    /* int8 record (520 B) + float16 copy (768 B) + bookkeeping */
    hnsw_params p;
    double per;
    hnsw_params_default(&p, 384);
    cr_assert_eq(p.rerank, HNSW_RERANK_F16); /* the default */
    p.storage = HNSW_STORE_I8;
    per = bytes_per_vector_d384(&p, TU_SLOW ? 1500 : 4000);
    cr_log_info("int8 + f16 d=384: %.1f B/vector", per);
    cr_assert_leq(per, 1340.0, "int8 + f16 %.1f B/vector", per);
}

Test(hnsw_params, rerank_outside_the_three_modes_is_rejected)
{
    hnsw_params p;
    hnsw *h = (hnsw *)1;
    hnsw_params_default(&p, 8);
    p.storage = HNSW_STORE_I8;
    p.rerank = 3;
    cr_assert_eq(hnsw_create(&p, &h), HNSW_EINVAL);
    cr_assert_null(h);
    p.rerank = -1;
    cr_assert_eq(hnsw_create(&p, &h), HNSW_EINVAL);
}

Test(hnsw_exact, small_indexes_use_the_exact_path_and_match_the_brute_force)
{
    size_t n = 500;
    float *x = tu_clustered(8, n + 20, 24, 5, 0.5), *q = x + n * 24;
    hnsw_params p;
    hnsw *h;
    hnsw_result a[10], e[10];
    hnsw_params_default(&p, 24);
    h = build(&p, x, n, NULL);
    for (int i = 0; i < 20; i++) {
        const float *qq = q + i * 24;
        int na = hnsw_search(h, qq, 24, 10, 1, a), ne = hnsw_search_exact(h, qq, 24, 10, e);
        cr_assert_eq(na, 10);
        cr_assert_eq(ne, 10);
        for (int j = 0; j < 10; j++) {
            cr_assert_eq(a[j].id, e[j].id);
            /* a plain double-precision check of the reported distance */
            float v[24];
            double dot = 0;
            hnsw_get_vector(h, e[j].id, v);
            {
                double nq = 0;
                for (int t = 0; t < 24; t++)
                    nq += (double)qq[t] * qq[t];
                for (int t = 0; t < 24; t++)
                    dot += v[t] * qq[t] / sqrt(nq);
            }
            cr_assert_float_eq(e[j].dist, 1.0 - dot, 1e-4);
        }
    }
    hnsw_free(h);
    free(x);
}

/* Builds an int8 + float16 re-rank index in a child process whose kernel
 * tier is capped at `tier` (the choice is process-wide and made once, so
 * each tier needs its own process) and returns the saved bytes, read back
 * through a pipe. The child uses no Criterion asserts: any failure is an
 * exit status the parent checks. */
static char *saved_graph_on_tier(const char *tier, const float *x, size_t n, uint32_t dim,
                                 size_t *len)
{
    int fd[2];
    cr_assert_eq(pipe(fd), 0);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        close(fd[0]);
        setenv(KERNELS_ENV_TIER, tier, 1);
        if (strcmp(kernels_init(KTIER_MASK_ALL)->name, tier) != 0)
            _exit(3);
        hnsw_params p;
        hnsw *h = NULL;
        hnsw_params_default(&p, dim);
        p.storage = HNSW_STORE_I8;
        p.rerank = HNSW_RERANK_F16;
        p.seed = 99;
        if (hnsw_create(&p, &h) != HNSW_OK)
            _exit(4);
        for (size_t i = 0; i < n; i++) {
            uint32_t id;
            if (hnsw_insert(h, x + i * dim, dim, &id) != HNSW_OK)
                _exit(5);
        }
        FILE *f = fdopen(fd[1], "w");
        if (!f || hnsw_save(h, f) != HNSW_OK || fclose(f) != 0)
            _exit(6);
        hnsw_free(h);
        _exit(0);
    }
    close(fd[1]);
    size_t cap = 1 << 20, got = 0;
    char *buf = malloc(cap);
    ssize_t r;
    while (buf && (r = read(fd[0], buf + got, cap - got)) > 0) {
        got += (size_t)r;
        if (got == cap)
            buf = realloc(buf, cap *= 2);
    }
    close(fd[0]);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "tier %s child: status %d", tier,
              status);
    cr_assert_not_null(buf);
    *len = got;
    return buf;
}

/* The insert path scales, quantises and encodes float16 with the
 * dispatched kernels, which promise the same bits on every tier; so an
 * int8 graph (built on exact int8 distances) and its stored vectors,
 * scales and float16 copies must be identical byte for byte whichever
 * tier built them. The one tier-dependent step is the norm (dot_f32 sums
 * in a tier's own order), so the inputs are multiples of 1/64 in [-4, 4]:
 * every partial sum of their squares is exact in float, the norm is the
 * same everywhere, and what is left to differ is the preparation. Odd
 * dim 33: every SIMD tail path runs. (Queries go through the same
 * hnsw_prepare_query.) */
Test(hnsw_build, int8_graph_and_f16_copies_are_identical_on_every_kernel_tier)
{
    size_t n = 1500, lr, lt;
    uint32_t dim = 33;
    float *x = tu_clustered(8, n, dim, 12, 0.5);
    for (size_t i = 0; i < n * dim; i++) {
        float v = roundf(x[i] * 64.0f) / 64.0f;
        x[i] = v > 4.0f ? 4.0f : v < -4.0f ? -4.0f : v;
    }
    char *want = saved_graph_on_tier("ref", x, n, dim, &lr);
    cr_assert_gt(lr, n * dim * 3);
    const char *tiers[] = {"scalar", "avx2", "neon", "avx512"};
    int ran = 0;
    for (int t = 0; t < 4; t++) {
        ktier kt;
        cr_assert_eq(kernels_tier_from_name(tiers[t], &kt), 0);
        if (!kernels_tier(kt))
            continue;
        char *got = saved_graph_on_tier(tiers[t], x, n, dim, &lt);
        cr_assert_eq(lt, lr, "tier %s: %zu bytes, ref %zu", tiers[t], lt, lr);
        cr_assert_eq(memcmp(got, want, lr), 0, "tier %s saved a different index", tiers[t]);
        free(got);
        ran++;
    }
    cr_assert_geq(ran, 1);
    free(want);
    free(x);
}
