/* hnsw_codes_mt.c -- the traversal paths of hnsw.c design 9 under
 * concurrency: two inserters and two searchers on a float32 index of
 * d = 96 (so the construction codes exist, int8 and 4-bit in turn, and
 * both the inserts' and the searches' beams run on them) and on an int8 index (the VNNI batch
 * scorer over the records), while the slab and the code array grow. The
 * TSan stage runs it built with -fsanitize=thread: a code slot read by a
 * beam before its writer published it, or an unsynchronised growth of
 * the codes, is a reported race. Afterwards the graph must validate and
 * every search must have returned k sorted results with float32-exact
 * distances (for float32 storage: checked against the exact search).
 *
 * A plain C program (tests/CMakeLists.txt: Criterion cannot start under
 * TSan here); failures are printed and make the exit status 1. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "tests/unit/hnsw_testutil.h"

#define D 96
#define K 10
#define N_PRE 600   /* inserted before the threads start (>= K live) */
#define N_EACH 700  /* per inserter thread */

typedef struct shared {
    hnsw *h;
    const float *x;
    _Atomic int inserters_done;
    _Atomic int failed;
    char msg[256];
    pthread_mutex_t mu;
} shared;

typedef struct targ {
    shared *s;
    int which;
} targ;

static void fail(shared *s, const char *m)
{
    pthread_mutex_lock(&s->mu);
    if (!atomic_load(&s->failed))
        snprintf(s->msg, sizeof(s->msg), "%s", m);
    atomic_store(&s->failed, 1);
    pthread_mutex_unlock(&s->mu);
}

static void *inserter(void *arg)
{
    targ *t = arg;
    shared *s = t->s;
    for (int i = 0; i < N_EACH && !atomic_load(&s->failed); i++) {
        size_t row = N_PRE + (size_t)t->which * N_EACH + (size_t)i;
        uint32_t id;
        if (hnsw_insert(s->h, s->x + row * D, D, &id) != HNSW_OK)
            fail(s, "insert failed");
    }
    atomic_fetch_add(&s->inserters_done, 1);
    return NULL;
}

static void *searcher(void *arg)
{
    targ *t = arg;
    shared *s = t->s;
    tu_rng r = {100 + (uint64_t)t->which};
    while (atomic_load(&s->inserters_done) < 2 && !atomic_load(&s->failed)) {
        hnsw_result res[K];
        size_t row = tu_next(&r) % (N_PRE + 2 * N_EACH);
        int n = hnsw_search(s->h, s->x + row * D, D, K, 32, res);
        if (n != K) {
            fail(s, "search returned fewer than k results");
            break;
        }
        for (int j = 1; j < n; j++)
            if (res[j].dist < res[j - 1].dist)
                fail(s, "results not sorted");
    }
    return NULL;
}

static int run(hnsw_storage st, int codes)
{
    float *x = tu_clustered(77, N_PRE + 2 * N_EACH, D, 20, 0.5);
    hnsw_params p;
    shared s = {0};
    pthread_t th[4];
    targ ta[4];
    char err[256];
    int bad = 0;
    hnsw_params_default(&p, D);
    p.storage = st;
    p.codes = codes;
    if (hnsw_create(&p, &s.h) != HNSW_OK)
        return 1;
    hnsw_set_exact_threshold(s.h, 0); /* always the graph */
    s.x = x;
    pthread_mutex_init(&s.mu, NULL);
    for (size_t i = 0; i < N_PRE; i++) {
        uint32_t id;
        if (hnsw_insert(s.h, x + i * D, D, &id) != HNSW_OK)
            return 1;
    }
    for (int i = 0; i < 4; i++) {
        ta[i] = (targ){&s, i & 1};
        pthread_create(&th[i], NULL, i < 2 ? inserter : searcher, &ta[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    if (atomic_load(&s.failed)) {
        fprintf(stderr, "hnsw_codes_mt (%s, codes %d): %s\n", st == HNSW_STORE_F32 ? "f32" : "i8",
                codes, s.msg);
        bad = 1;
    }
    if (hnsw_count(s.h) != N_PRE + 2 * N_EACH) {
        fprintf(stderr, "hnsw_codes_mt: count %zu\n", hnsw_count(s.h));
        bad = 1;
    }
    if (hnsw_validate(s.h, err, sizeof(err))) {
        fprintf(stderr, "hnsw_codes_mt: validator: %s\n", err);
        bad = 1;
    }
    if (st == HNSW_STORE_F32) {
        /* the top result's distance is the float32 one the exact scan gives */
        for (size_t row = 0; row < 50; row++) {
            hnsw_result a[K], e[K];
            int na = hnsw_search(s.h, x + row * D, D, K, 64, a);
            int ne = hnsw_search_exact(s.h, x + row * D, D, K, e);
            if (na != K || ne != K || (a[0].id == e[0].id && fabsf(a[0].dist - e[0].dist) > 1e-5f)) {
                fprintf(stderr, "hnsw_codes_mt: row %zu: %d/%d results, dist %g vs exact %g\n",
                        row, na, ne, na > 0 ? a[0].dist : -1, ne > 0 ? e[0].dist : -1);
                bad = 1;
                break;
            }
        }
    }
    hnsw_free(s.h);
    pthread_mutex_destroy(&s.mu);
    free(x);
    return bad;
}

int main(void)
{
    int bad = run(HNSW_STORE_F32, HNSW_CODES_I8);
    bad |= run(HNSW_STORE_F32, HNSW_CODES_I4);
    bad |= run(HNSW_STORE_I8, HNSW_CODES_I8);
    if (!bad)
        printf("hnsw_codes_mt: ok\n");
    return bad;
}
