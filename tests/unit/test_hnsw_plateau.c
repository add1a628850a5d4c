/* test_hnsw_plateau.c -- the built-in embedder's plateau (issue 5) at the
 * index level, at a cache namespace's defaults (server/cache.c: DIM
 * EMBED_BUILTIN_DIM_DEFAULT, M 16, ef_construction 200, EF 100, float32
 * storage) and the index's own exact threshold: the data of
 * bench/hnsw_island_probe.c (200 fillers, 3 FAQ prompts, templated writer
 * prompts, 2,000 vectors). The graph alone misses 2 of the 3 FAQ prompts
 * asked back (hnsw-island-probe 2000 512: "missed FAQ: faq0 faq2"; at the
 * default 256: "faq1 faq2"); a namespace of this size must find them:
 * since hnsw.c design 10 it scans the int8 codes and re-scores in
 * float32. Before that change the threshold was 1,024 vectors at DIM 512,
 * the graph answered, and these tests failed. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>

#include "server/embed_builtin.h"
#include "tests/unit/hnsw_testutil.h"
#include "bench/island_prompts.h"

#define DIM EMBED_BUILTIN_DIM_DEFAULT
#define N 2000


static float *probe_vectors(void)
{
    float *x = malloc((size_t)N * DIM * sizeof(float));
    char buf[256];
    cr_assert_not_null(x);
    for (uint32_t i = 0; i < N; i++) {
        island_prompt(i, buf, sizeof(buf));
        cr_assert_eq(embed_builtin(buf, strlen(buf), DIM, x + (size_t)i * DIM, NULL), EMBED_OK);
    }
    return x;
}

/* An index with the namespace's parameters and its default threshold. */
static hnsw *namespace_index(const float *x, uint32_t *ids)
{
    hnsw_params p;
    hnsw *h;
    char err[256];
    hnsw_params_default(&p, DIM);
    p.M = 16;
    p.ef_search = 100;
    p.ef_construction = 200;
    p.storage = HNSW_STORE_F32;
    cr_assert_eq(hnsw_create(&p, &h), HNSW_OK);
    for (uint32_t i = 0; i < N; i++)
        cr_assert_eq(hnsw_insert(h, x + (size_t)i * DIM, DIM, &ids[i]), HNSW_OK);
    cr_assert_eq(hnsw_validate(h, err, sizeof(err)), 0, "%s", err);
    return h;
}

Test(hnsw_plateau, faq_prompts_asked_back_come_first_at_namespace_defaults)
{
    uint32_t ids[N];
    float *x = probe_vectors();
    hnsw *h = namespace_index(x, ids);
    hnsw_result r[10];
    for (uint32_t i = 200; i < 203; i++) {
        int k = hnsw_search(h, x + (size_t)i * DIM, DIM, 10, 0, r);
        cr_assert_eq(k, 10);
        cr_assert_eq(r[0].id, ids[i], "FAQ %u asked back: first is %u (dist %.4f), not %u", i - 200,
                     r[0].id, r[0].dist, ids[i]);
        cr_assert_float_eq(r[0].dist, 0.0f, 1e-5f);
    }
    hnsw_free(h);
    free(x);
}

/* Reworded FAQ queries and every 10th stored prompt: the index's answer
 * is the exact scan's top 10, same ids in the same order, with the same
 * float32 distances (the re-score is float32, not int8). */
Test(hnsw_plateau, small_namespace_search_equals_the_exact_top_10)
{
    uint32_t ids[N];
    float *x = probe_vectors(), q[DIM];
    hnsw *h = namespace_index(x, ids);
    hnsw_result r[10], e[10];
    for (uint32_t t = 0; t < 3 + N / 10; t++) {
        const float *v = q;
        if (t < 3)
            cr_assert_eq(embed_builtin(island_reworded[t], strlen(island_reworded[t]), DIM, q, NULL), EMBED_OK);
        else
            v = x + (size_t)(t - 3) * 10 * DIM;
        int k = hnsw_search(h, v, DIM, 10, 0, r), ke = hnsw_search_exact(h, v, DIM, 10, e);
        cr_assert_eq(k, 10);
        cr_assert_eq(ke, 10);
        for (int j = 0; j < 10; j++) {
            /* equal distances may come in either order: compare them, and
             * the id where the distance is not tied with a neighbour */
            cr_assert_float_eq(r[j].dist, e[j].dist, 1e-5f, "query %u rank %d", t, j);
            if ((j == 0 || e[j].dist - e[j - 1].dist > 1e-5f) &&
                (j == 9 || e[j + 1].dist - e[j].dist > 1e-5f))
                cr_assert_eq(r[j].id, e[j].id, "query %u rank %d: %u vs exact %u", t, j, r[j].id,
                             e[j].id);
        }
    }
    hnsw_free(h);
    free(x);
}
