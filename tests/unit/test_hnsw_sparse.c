/* test_hnsw_sparse.c -- the index on the built-in embedder's vectors
 * (issue 5): sparse hashed lexical features at DIM 1024, nearly
 * orthogonal between unrelated prompts, with a cache namespace's
 * parameters (server/cache.c: M 16, EF 100, ef_construction 200, f32) and
 * the graph path forced (the index would scan exactly below 512 vectors
 * at this dimension). Every stored prompt asked back must come back
 * first, and the graph must stay valid.
 *
 * Prompts are generated: a third function words ("how", "the", ...), the
 * rest made-up words of 2-4 syllables, 4-12 words each: unrelated prompts
 * share a few character n-grams (mean cosine ~0.05), the regime where a
 * beam search has little gradient to follow. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "server/embed_builtin.h"
#include "tests/unit/hnsw_testutil.h"

#define DIM 1024

static const char *syl[] = {"ka", "lo", "mi", "ne", "ru", "ta", "vo", "si", "de", "po", "gu", "fa",
                            "le", "zo", "bi", "ch", "an", "er", "in", "on", "ex", "st", "tr", "pl"};
static const char *fw[] = {"how", "do",   "i",   "the", "a",   "to",  "in",   "of",  "what", "is",
                           "with", "for", "my",  "can", "you", "why", "does", "and", "on",   "it"};

static void make_prompt(tu_rng *r, char *buf, size_t cap)
{
    size_t n = 4 + tu_next(r) % 9, len = 0;
    buf[0] = 0;
    for (size_t w = 0; w < n; w++) {
        char word[32];
        size_t wl;
        if (tu_next(r) % 3 == 0) {
            snprintf(word, sizeof(word), "%s", fw[tu_next(r) % 20]);
        } else {
            int ns = 2 + (int)(tu_next(r) % 3);
            word[0] = 0;
            for (int s = 0; s < ns; s++)
                strcat(word, syl[tu_next(r) % 24]);
        }
        wl = strlen(word);
        if (len + wl + 2 >= cap)
            break;
        if (len)
            buf[len++] = ' ';
        memcpy(buf + len, word, wl);
        len += wl;
        buf[len] = 0;
    }
}

/* n embedded prompts (n x DIM, caller frees). */
static float *embed_prompts(uint64_t seed, uint32_t n)
{
    tu_rng r = {seed};
    float *x = malloc((size_t)n * DIM * sizeof(float));
    char buf[256];
    cr_assert_not_null(x);
    for (uint32_t i = 0; i < n;) {
        make_prompt(&r, buf, sizeof(buf));
        if (embed_builtin(buf, strlen(buf), DIM, x + (size_t)i * DIM, NULL) == EMBED_OK)
            i++;
    }
    return x;
}

static hnsw *namespace_index(void)
{
    hnsw_params p;
    hnsw *h;
    hnsw_params_default(&p, DIM);
    p.M = 16;
    p.ef_search = 100;
    p.ef_construction = 200;
    p.storage = HNSW_STORE_F32;
    cr_assert_eq(hnsw_create(&p, &h), HNSW_OK);
    hnsw_set_exact_threshold(h, 0);
    return h;
}

/* Each stored vector searched for itself comes back first (a duplicate
 * prompt's vector at distance 0 may tie ahead of it). */
static void check_self_first(hnsw *h, const float *x, const uint32_t *ids, uint32_t n)
{
    uint32_t first = 0;
    hnsw_result r[10];
    for (uint32_t i = 0; i < n; i++) {
        int k = hnsw_search(h, x + (size_t)i * DIM, DIM, 10, 0, r);
        cr_assert_eq(k, 10);
        if (r[0].id == ids[i] || r[0].dist <= 1e-6f)
            first++;
    }
    cr_log_info("self first: %u of %u", first, n);
    cr_assert_eq(first, n, "%u of %u stored prompts not found first", n - first, n);
}

Test(hnsw_sparse, builtin_vectors_at_dim_1024_each_finds_itself_first)
{
    uint32_t n = TU_SLOW ? 800 : 2000, *ids = malloc(n * sizeof(uint32_t));
    float *x = embed_prompts(12345, n);
    hnsw *h = namespace_index();
    char err[256];
    for (uint32_t i = 0; i < n; i++)
        cr_assert_eq(hnsw_insert(h, x + (size_t)i * DIM, DIM, &ids[i]), HNSW_OK);
    cr_assert_eq(hnsw_validate(h, err, sizeof(err)), 0, "%s", err);
    check_self_first(h, x, ids, n);
    hnsw_free(h);
    free(ids);
    free(x);
}

/* The same after churn: a third deleted one by one and replaced (a cache
 * PUT on an existing prompt replaces the entry), the way bug 3's
 * unreachable pairs appeared. */
Test(hnsw_sparse, builtin_vectors_after_replacing_a_third_each_finds_itself_first)
{
    uint32_t n = TU_SLOW ? 600 : 1500, *ids = malloc(n * sizeof(uint32_t));
    float *x = embed_prompts(777, n);
    hnsw *h = namespace_index();
    char err[256];
    for (uint32_t i = 0; i < n; i++)
        cr_assert_eq(hnsw_insert(h, x + (size_t)i * DIM, DIM, &ids[i]), HNSW_OK);
    for (uint32_t i = 0; i < n; i += 3) {
        cr_assert_eq(hnsw_delete(h, ids[i]), HNSW_OK);
        cr_assert_eq(hnsw_insert(h, x + (size_t)i * DIM, DIM, &ids[i]), HNSW_OK);
    }
    cr_assert_eq(hnsw_validate(h, err, sizeof(err)), 0, "%s", err);
    check_self_first(h, x, ids, n);
    hnsw_free(h);
    free(ids);
    free(x);
}
