/* test_hnsw_churn.c -- deletion as a TTL cache does it: random inserts
 * and deletes checked against a trivial model (the set of live ids and
 * their vectors), the validator after every batch, churn of 3x the index
 * size compared with a fresh build of the same live set, and the edges:
 * deleting the entry point, almost everything, everything. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "tests/unit/hnsw_testutil.h"

static void check_valid(hnsw *h, const char *when)
{
    char err[256];
    cr_assert_eq(hnsw_validate(h, err, sizeof(err)), 0, "validator (%s): %s", when, err);
}

/* The model: which keys (rows of the data) are live and under which id. */
typedef struct model {
    uint32_t *id_of;    /* key -> id, UINT32_MAX if not in the index */
    uint32_t *key_of;   /* id -> key, UINT32_MAX if free */
    size_t nkeys, nids;
} model;

static void model_init(model *m, size_t nkeys)
{
    m->nkeys = nkeys;
    m->nids = nkeys * 2 + 64;
    m->id_of = malloc(nkeys * sizeof(uint32_t));
    m->key_of = malloc(m->nids * sizeof(uint32_t));
    memset(m->id_of, 0xff, nkeys * sizeof(uint32_t));
    memset(m->key_of, 0xff, m->nids * sizeof(uint32_t));
}

static void model_free(model *m)
{
    free(m->id_of);
    free(m->key_of);
}

static void do_insert(hnsw *h, model *m, const float *x, uint32_t d, uint32_t key)
{
    uint32_t id;
    cr_assert_eq(hnsw_insert(h, x + (size_t)key * d, d, &id), HNSW_OK);
    cr_assert_lt(id, m->nids);
    cr_assert_eq(m->key_of[id], UINT32_MAX, "id %u handed out while live", id);
    m->key_of[id] = key;
    m->id_of[key] = id;
}

static void do_delete(hnsw *h, model *m, uint32_t key)
{
    uint32_t id = m->id_of[key];
    cr_assert_eq(hnsw_delete(h, id), HNSW_OK);
    m->key_of[id] = UINT32_MAX;
    m->id_of[key] = UINT32_MAX;
}

/* Every result is a live id; k results when k <= live; sorted. */
static void check_search(hnsw *h, const model *m, const float *q, uint32_t d, uint32_t k,
                         size_t live)
{
    hnsw_result r[64];
    int n = hnsw_search(h, q, d, k, 0, r);
    cr_assert_eq(n, (int)(k < live ? k : live), "k=%u live=%zu got %d", k, live, n);
    for (int i = 0; i < n; i++) {
        cr_assert_lt(r[i].id, m->nids);
        cr_assert_neq(m->key_of[r[i].id], UINT32_MAX, "deleted id %u returned", r[i].id);
        if (i)
            cr_assert_leq(r[i - 1].dist, r[i].dist);
    }
}

Test(hnsw_churn, random_inserts_and_deletes_match_the_model_and_keep_the_graph_valid)
{
    size_t nkeys = TU_SLOW ? 1500 : 4000;
    uint32_t d = 16;
    float *x = tu_clustered(21, nkeys, d, 12, 0.4);
    tu_rng r = {99};
    model m;
    hnsw_params p;
    hnsw *h;
    size_t live = 0;
    hnsw_params_default(&p, d);
    p.M = 8;
    p.ef_construction = 64;
    cr_assert_eq(hnsw_create(&p, &h), HNSW_OK);
    hnsw_set_exact_threshold(h, 0);
    model_init(&m, nkeys);
    for (int batch = 0; batch < 20; batch++) {
        /* alternate growing and shrinking phases */
        double pins = batch % 4 < 2 ? 0.75 : 0.3;
        for (int op = 0; op < 400; op++) {
            uint32_t key = (uint32_t)(tu_next(&r) % nkeys);
            if (m.id_of[key] == UINT32_MAX) {
                if (tu_unif(&r) < pins) {
                    do_insert(h, &m, x, d, key);
                    live++;
                }
            } else if (tu_unif(&r) >= pins) {
                do_delete(h, &m, key);
                live--;
            }
        }
        cr_assert_eq(hnsw_count(h), live);
        check_valid(h, "after batch");
        for (int i = 0; i < 20; i++)
            check_search(h, &m, x + (tu_next(&r) % nkeys) * d, d, 1 + i % 20, live);
    }
    for (size_t key = 0; key < nkeys; key++) {
        uint32_t id = m.id_of[key];
        float v[16];
        cr_assert_eq(hnsw_contains(h, id == UINT32_MAX ? (uint32_t)m.nids : id), id != UINT32_MAX);
        if (id != UINT32_MAX) {
            cr_assert_eq(hnsw_get_vector(h, id, v), HNSW_OK);
        }
    }
    model_free(&m);
    hnsw_free(h);
    free(x);
}

/* Deletes and re-inserts 3x the index size in batches of 10%, then
 * compares recall@10 (at a low ef, where damage shows) with a fresh build
 * of the same live set inserted in the same id order. */
static void churn_case(hnsw_storage st, int batched)
{
    size_t n = TU_SLOW ? 1500 : 8000;
    uint32_t d = 32, nq = 200, ef = TU_SLOW ? 10 : 16; /* where damage shows */
    float *x = tu_clustered(31, n + nq, d, 40, 0.5), *q = x + n * d;
    hnsw_params p;
    hnsw *h, *fresh;
    model m;
    tu_rng r = {5};
    uint32_t *perm = malloc(n * sizeof(uint32_t));
    double rc, rf;
    size_t batch = n / 10;
    hnsw_params_default(&p, d);
    p.storage = st;
    cr_assert_eq(hnsw_create(&p, &h), HNSW_OK);
    hnsw_set_exact_threshold(h, 0);
    model_init(&m, n);
    for (uint32_t k = 0; k < n; k++) {
        perm[k] = k;
        do_insert(h, &m, x, d, k);
    }
    for (size_t done = 0; done < 3 * n; done += batch) {
        /* a random batch out, the same keys back in (new ids) */
        for (size_t i = 0; i < batch; i++) {
            size_t j = i + tu_next(&r) % (n - i);
            uint32_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        if (batched) {
            /* the batch API, with a repeat and a bogus id mixed in */
            uint32_t *del = malloc((batch + 2) * sizeof(uint32_t));
            for (size_t i = 0; i < batch; i++)
                del[i] = m.id_of[perm[i]];
            del[batch] = del[0];
            del[batch + 1] = (uint32_t)m.nids + 7;
            cr_assert_eq(hnsw_delete_batch(h, del, batch + 2), (int)batch);
            for (size_t i = 0; i < batch; i++) {
                m.key_of[del[i]] = UINT32_MAX;
                m.id_of[perm[i]] = UINT32_MAX;
            }
            free(del);
        } else {
            for (size_t i = 0; i < batch; i++)
                do_delete(h, &m, perm[i]);
        }
        check_valid(h, "after deletes");
        for (int i = 0; i < 10; i++)
            check_search(h, &m, q + (size_t)i * d, d, 10, n - batch);
        for (size_t i = 0; i < batch; i++)
            do_insert(h, &m, x, d, perm[i]);
        check_valid(h, "after re-inserts");
    }
    cr_assert_eq(hnsw_count(h), n);
    /* fresh build of the live set */
    cr_assert_eq(hnsw_create(&p, &fresh), HNSW_OK);
    hnsw_set_exact_threshold(fresh, 0);
    for (uint32_t id = 0; id < m.nids; id++) {
        uint32_t nid;
        if (m.key_of[id] == UINT32_MAX)
            continue;
        cr_assert_eq(hnsw_insert(fresh, x + (size_t)m.key_of[id] * d, d, &nid), HNSW_OK);
    }
    rc = tu_recall(h, q, nq, d, 10, ef);
    rf = tu_recall(fresh, q, nq, d, 10, ef);
    cr_log_info("recall@10 ef %u (%s%s): churned %.4f fresh %.4f (in-link scans %llu)", ef,
                st == HNSW_STORE_I8 ? "int8" : "f32", batched ? ", batched" : "", rc, rf,
                (unsigned long long)hnsw_stat_inlink_scans(h));
    cr_assert_geq(rc, rf - 0.01, "churned recall %.4f vs fresh %.4f", rc, rf);
    hnsw_free(fresh);
    hnsw_free(h);
    model_free(&m);
    free(perm);
    free(x);
}

Test(hnsw_churn, float32_churn_of_3x_the_size_keeps_recall_within_1_point_of_a_fresh_build,
     .timeout = 300)
{
    churn_case(HNSW_STORE_F32, 0);
}

Test(hnsw_churn, batch_deletes_of_3x_the_size_keep_recall_within_1_point_of_a_fresh_build,
     .timeout = 300)
{
    churn_case(HNSW_STORE_F32, 1);
}

Test(hnsw_churn, int8_churn_of_3x_the_size_keeps_recall_within_1_point_of_a_fresh_build,
     .timeout = 300)
{
    churn_case(HNSW_STORE_I8, 0);
}

Test(hnsw_churn, deleting_the_entry_point_repeatedly_keeps_search_working)
{
    size_t n = 600;
    uint32_t d = 8;
    float *x = tu_clustered(41, n, d, 6, 0.4);
    hnsw_params p;
    hnsw *h;
    model m;
    size_t live = n;
    hnsw_params_default(&p, d);
    p.M = 4; /* more levels, more entry point changes */
    cr_assert_eq(hnsw_create(&p, &h), HNSW_OK);
    hnsw_set_exact_threshold(h, 0);
    model_init(&m, n);
    for (uint32_t k = 0; k < n; k++)
        do_insert(h, &m, x, d, k);
    /* Deleting all but 3 nodes deletes the entry point (and every node
     * that replaces it) along the way; the validator checks the entry
     * point is live and on the top level after each step it runs. */
    for (uint32_t k = 0; k < n - 3; k++) {
        do_delete(h, &m, k);
        live--;
        if (k % 25 == 0) {
            check_valid(h, "entry deletes");
            check_search(h, &m, x + (size_t)(n - 1) * d, d, 5, live);
        }
    }
    check_valid(h, "three left");
    check_search(h, &m, x, d, 3, 3);
    check_search(h, &m, x, d, 10, 3);
    model_free(&m);
    hnsw_free(h);
    free(x);
}

Test(hnsw_churn, deleting_everything_then_reinserting_works_and_reuses_ids)
{
    size_t n = 300;
    uint32_t d = 8;
    float *x = tu_clustered(51, n, d, 4, 0.4);
    hnsw_params p;
    hnsw *h;
    model m;
    hnsw_result r[4];
    hnsw_params_default(&p, d);
    cr_assert_eq(hnsw_create(&p, &h), HNSW_OK);
    hnsw_set_exact_threshold(h, 0);
    model_init(&m, n);
    for (int round = 0; round < 3; round++) {
        for (uint32_t k = 0; k < n; k++)
            do_insert(h, &m, x, d, k);
        check_valid(h, "full");
        for (uint32_t k = 0; k < n; k++) {
            do_delete(h, &m, (k * 7) % n);
            if (n - k - 1 > 0 && k % 50 == 0)
                check_search(h, &m, x, d, 4, n - k - 1);
        }
        cr_assert_eq(hnsw_count(h), 0);
        check_valid(h, "empty");
        cr_assert_eq(hnsw_search(h, x, d, 4, 0, r), 0);
        cr_assert_eq(hnsw_search_exact(h, x, d, 4, r), 0);
    }
    /* ids were reused: three rounds of n inserts fit in n ids */
    cr_assert_lt(hnsw_memory_bytes(h), (size_t)1 << 22);
    model_free(&m);
    hnsw_free(h);
    free(x);
}
