/* hnsw_island_probe.c -- measures the built-in embedder's recall gap at
 * the index level (README "Known recall gap"; issue 5).
 *
 * The data of tests/integration/test_cache_put_async.py's
 * test_loop_serves_other_clients_while_inserts_are_queued, embedded with
 * the built-in embedder: 200 fillers ("filler entry i about kumquat i and
 * zeppelin i"), the 3 FAQ prompts, then writers ("writer i prompt about
 * gadget i and widget i%97") up to N vectors, into an index with a cache
 * namespace's parameters (M 16, ef_construction 200, f32, graph path
 * forced). Prints, per ef: how many stored vectors searched for
 * themselves come back first and in the top 10, which FAQ entries are
 * missed, and recall@10 of the 3 reworded FAQ queries against the exact
 * search; then the mean time of a graph search (first ef) and of an exact
 * scan over the first 1,000 stored vectors as queries (what raising the
 * exact-scan threshold to N would cost).
 *
 * usage: hnsw-island-probe [N [DIM [ef...]]]   (default 4003 1024 100) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "index/hnsw.h"
#include "kernels/batch.h"
#include "server/embed_builtin.h"
#include "bench/island_prompts.h"


static int embed(const char *s, uint32_t dim, float *out)
{
    return embed_builtin(s, strlen(s), dim, out, NULL);
}

int main(int argc, char **argv)
{
    /* One BLAS thread, as the server sets (server/main.c): on two shared
     * cores OpenBLAS's own threads made an exact scan ~100x slower. */
    batch_set_threads(1);
    uint32_t n = argc > 1 ? (uint32_t)atoi(argv[1]) : 4003;
    uint32_t dim = argc > 2 ? (uint32_t)atoi(argv[2]) : 1024;
    float *x, q[3][4096];
    uint32_t *ids;
    hnsw_params p;
    hnsw *h;
    char buf[256], err[256];
    if (n < 204 || dim < 16 || dim > 4096) {
        fprintf(stderr, "usage: hnsw-island-probe [N >= 204 [DIM 16..4096 [ef...]]]\n");
        return 2;
    }
    x = malloc((size_t)n * dim * sizeof(float));
    ids = malloc(n * sizeof(uint32_t));
    if (!x || !ids)
        return 1;
    for (uint32_t i = 0; i < n; i++) {
        island_prompt(i, buf, sizeof(buf));
        if (embed(buf, dim, x + (size_t)i * dim))
            return 1;
    }
    for (int i = 0; i < 3; i++)
        if (embed(island_reworded[i], dim, q[i]))
            return 1;
    hnsw_params_default(&p, dim);
    p.M = 16;
    p.ef_construction = 200;
    p.storage = HNSW_STORE_F32;
    if (hnsw_create(&p, &h))
        return 1;
    hnsw_set_exact_threshold(h, 0);
    for (uint32_t i = 0; i < n; i++)
        if (hnsw_insert(h, x + (size_t)i * dim, dim, &ids[i]))
            return 1;
    printf("n %u dim %u M 16 efc 200 f32: validator %s\n", n, dim,
           hnsw_validate(h, err, sizeof(err)) ? err : "ok");
    for (int a = 3; a < argc || a == 3; a++) {
        uint32_t ef = argc > a ? (uint32_t)atoi(argv[a]) : 100, first = 0, top10 = 0, hit = 0;
        hnsw_result r[10], e[10];
        char missed[64] = "";
        for (uint32_t i = 0; i < n; i++) {
            int k = hnsw_search(h, x + (size_t)i * dim, dim, 10, ef, r), in = 0;
            for (int j = 0; j < k; j++)
                in |= r[j].id == ids[i];
            first += k > 0 && (r[0].id == ids[i] || r[0].dist <= 1e-6f);
            top10 += in;
            if (!in && i >= 200 && i < 203)
                snprintf(missed + strlen(missed), sizeof(missed) - strlen(missed), " faq%u", i - 200);
        }
        for (int i = 0; i < 3; i++) {
            int k = hnsw_search(h, q[i], dim, 10, ef, r), ke = hnsw_search_exact(h, q[i], dim, 10, e);
            for (int j = 0; j < ke; j++)
                for (int m = 0; m < k; m++)
                    hit += r[m].id == e[j].id;
        }
        printf("ef %u: self first %u/%u, self in top 10 %u/%u, missed FAQ:%s; reworded FAQ "
               "recall@10 %.3f\n",
               ef, first, n, top10, n, missed[0] ? missed : " none", hit / 30.0);
        if (argc <= 3)
            break;
    }
    {
        uint32_t m = n < 1000 ? n : 1000, ef = argc > 3 ? (uint32_t)atoi(argv[3]) : 100;
        hnsw_result r[10];
        struct timespec t0, t1, t2;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (uint32_t i = 0; i < m; i++)
            hnsw_search(h, x + (size_t)i * dim, dim, 10, ef, r);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        for (uint32_t i = 0; i < m; i++)
            hnsw_search_exact(h, x + (size_t)i * dim, dim, 10, r);
        clock_gettime(CLOCK_MONOTONIC, &t2);
        printf("time per query (%u queries): graph ef %u %.1f us, exact scan %.1f us\n", m, ef,
               ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / m / 1e3,
               ((t2.tv_sec - t1.tv_sec) * 1e9 + (t2.tv_nsec - t1.tv_nsec)) / m / 1e3);
    }
    hnsw_free(h);
    free(x);
    free(ids);
    return 0;
}
