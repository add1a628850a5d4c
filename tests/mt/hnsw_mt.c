/* hnsw_mt.c -- searches running while other threads insert and
 * delete (a plain C program, as every tests/mt file:
 * the TSan stage runs it built with -fsanitize=thread).
 *
 * The "doomed" vectors sit in their own region (first component large),
 * everything else has a first component of 0, and the searchers query
 * that region. Once the deleter has finished deleting every doomed vector
 * (a release flag), any search that starts afterwards must not return one:
 * their distance to the query is < 0.2, everyone else's is >= 0.5 (the ids
 * themselves are reused by the inserter, so the distance, not the id, is
 * what identifies a doomed vector). Every search must return k results
 * (the live count never drops below k), sorted.
 *
 * Not Criterion (tests/CMakeLists.txt: its runner cannot start under TSan
 * here): each test is a plain function, failures are printed and make
 * the exit status 1. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>

#include "tests/unit/hnsw_testutil.h"

static int g_failed;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, \
                    #cond);                                                 \
            fprintf(stderr, __VA_ARGS__);                                   \
            fprintf(stderr, "\n");                                          \
            g_failed = 1;                                                   \
            return;                                                         \
        }                                                                   \
    } while (0)

#define D 16
#define K 10

typedef struct shared {
    hnsw *h;
    float *stable;          /* nstable x D, first component 0 */
    float *doomed;          /* ndoomed x D, first component 10 */
    uint32_t *doomed_ids;
    size_t nstable, ndoomed, preload;
    atomic_int all_doomed_gone;
    atomic_int stop;
    int batched;            /* deleter uses hnsw_delete_batch */
    atomic_int failures;
    atomic_long searches;
    char failmsg[256];
    pthread_mutex_t msg_lock;
} shared;

static void note_failure(shared *s, const char *msg)
{
    pthread_mutex_lock(&s->msg_lock);
    if (atomic_fetch_add(&s->failures, 1) == 0)
        snprintf(s->failmsg, sizeof(s->failmsg), "%s", msg);
    pthread_mutex_unlock(&s->msg_lock);
}

static void *searcher(void *arg)
{
    shared *s = arg;
    float q[D] = {1};
    hnsw_result r[K];
    tu_rng rng = {(uint64_t)(uintptr_t)&rng};
    while (!atomic_load(&s->stop)) {
        int gone = atomic_load_explicit(&s->all_doomed_gone, memory_order_acquire);
        int n;
        /* mostly the doomed region, sometimes a stable vector */
        if (tu_next(&rng) % 4 == 0) {
            memcpy(q, s->stable + (tu_next(&rng) % s->nstable) * D, sizeof(q));
        } else {
            memset(q, 0, sizeof(q));
            q[0] = 1;
        }
        n = hnsw_search(s->h, q, D, K, 32, r);
        atomic_fetch_add(&s->searches, 1);
        if (n != K) {
            char m[96];
            snprintf(m, sizeof(m), "search returned %d results, want %d", n, K);
            note_failure(s, m);
            continue;
        }
        for (int i = 0; i < n; i++) {
            if (i && r[i - 1].dist > r[i].dist)
                note_failure(s, "results not sorted");
            if (gone && q[0] == 1 && r[i].dist < 0.2f) {
                char m[128];
                snprintf(m, sizeof(m), "deleted vector returned (id %u dist %.3f)", r[i].id,
                         r[i].dist);
                note_failure(s, m);
            }
        }
    }
    return NULL;
}

static void *deleter(void *arg)
{
    shared *s = arg;
    for (size_t i = 0; i < s->ndoomed;) {
        if (s->batched) {
            size_t nb = s->ndoomed - i < 16 ? s->ndoomed - i : 16;
            if (hnsw_delete_batch(s->h, s->doomed_ids + i, nb) != (int)nb)
                note_failure(s, "batch delete of doomed ids failed");
            i += nb;
        } else {
            if (hnsw_delete(s->h, s->doomed_ids[i]) != HNSW_OK)
                note_failure(s, "delete of a doomed id failed");
            i++;
        }
    }
    atomic_store_explicit(&s->all_doomed_gone, 1, memory_order_release);
    return NULL;
}

/* Inserts stable vectors, and deletes some of the ones it inserted. */
static void *inserter(void *arg)
{
    shared *s = arg;
    uint32_t mine[4096];
    size_t nmine = 0;
    for (size_t i = s->preload; i < s->nstable; i++) {
        uint32_t id;
        if (hnsw_insert(s->h, s->stable + i * D, D, &id) != HNSW_OK) {
            note_failure(s, "insert failed");
            continue;
        }
        if (nmine < 4096)
            mine[nmine++] = id;
        if (i % 5 == 0 && nmine > 1) {
            if (hnsw_delete(s->h, mine[0]) != HNSW_OK)
                note_failure(s, "delete of an inserted id failed");
            mine[0] = mine[--nmine];
        }
    }
    return NULL;
}

static void make_data(shared *s, uint64_t seed)
{
    tu_rng r = {seed};
    s->stable = tu_clustered(seed, s->nstable, D, 8, 0.5);
    for (size_t i = 0; i < s->nstable; i++)
        s->stable[i * D] = 0;
    s->doomed = malloc(s->ndoomed * D * sizeof(float));
    for (size_t i = 0; i < s->ndoomed; i++) {
        s->doomed[i * D] = 10;
        for (int j = 1; j < D; j++)
            s->doomed[i * D + j] = (float)tu_gauss(&r);
    }
    s->doomed_ids = malloc(s->ndoomed * sizeof(uint32_t));
}

static void run(int nsearchers, int ninserters, int batched)
{
    shared s;
    hnsw_params p;
    pthread_t th[8];
    int nth = 0;
    char err[256];
    memset(&s, 0, sizeof(s));
    s.batched = batched;
    pthread_mutex_init(&s.msg_lock, NULL);
    s.nstable = TU_SLOW ? 2500 : 6000;
    s.preload = s.nstable / 2;
    s.ndoomed = TU_SLOW ? 200 : 500;
    make_data(&s, 81);
    hnsw_params_default(&p, D);
    p.M = 8;
    p.ef_construction = 64;
    CHECK(hnsw_create(&p, &s.h) == HNSW_OK, "create");
    hnsw_set_exact_threshold(s.h, 0); /* the graph path, not the scan */
    for (size_t i = 0; i < s.preload; i++) {
        uint32_t id;
        CHECK(hnsw_insert(s.h, s.stable + i * D, D, &id) == HNSW_OK, "preload %zu", i);
    }
    for (size_t i = 0; i < s.ndoomed; i++)
        CHECK(hnsw_insert(s.h, s.doomed + i * D, D, &s.doomed_ids[i]) == HNSW_OK, "doomed %zu", i);
    for (int i = 0; i < nsearchers; i++)
        pthread_create(&th[nth++], NULL, searcher, &s);
    pthread_create(&th[nth++], NULL, deleter, &s);
    for (int i = 0; i < ninserters; i++)
        pthread_create(&th[nth++], NULL, inserter, &s);
    /* wait for the writers, then let the searchers run a little more */
    for (int i = nsearchers; i < nth; i++)
        pthread_join(th[i], NULL);
    {
        long until = atomic_load(&s.searches) + 200;
        while (atomic_load(&s.searches) < until)
            sched_yield();
    }
    atomic_store(&s.stop, 1);
    for (int i = 0; i < nsearchers; i++)
        pthread_join(th[i], NULL);
    printf("  %ld searches during the writes\n", atomic_load(&s.searches));
    CHECK(atomic_load(&s.failures) == 0, "%d failures, first: %s", atomic_load(&s.failures),
          s.failmsg);
    CHECK(hnsw_validate(s.h, err, sizeof(err)) == 0, "validator: %s", err);
    hnsw_free(s.h);
    free(s.stable);
    free(s.doomed);
    free(s.doomed_ids);
    pthread_mutex_destroy(&s.msg_lock);
}

/* The inserter inserts the second half of the stable vectors; two
 * inserters would insert it twice, which is fine for the index (duplicate
 * vectors are distinct entries). */
static void searches_during_inserts_and_deletes_never_see_deleted_vectors(void)
{
    run(2, 1, 0);
}

static void two_inserters_a_deleter_and_searchers_leave_a_valid_graph(void)
{
    run(2, 2, 0);
}

static void batch_deletes_during_searches_never_show_deleted_vectors(void)
{
    run(2, 1, 1);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"searches_during_inserts_and_deletes_never_see_deleted_vectors",
         searches_during_inserts_and_deletes_never_see_deleted_vectors},
        {"two_inserters_a_deleter_and_searchers_leave_a_valid_graph",
         two_inserters_a_deleter_and_searchers_leave_a_valid_graph},
        {"batch_deletes_during_searches_never_show_deleted_vectors",
         batch_deletes_during_searches_never_show_deleted_vectors},
    };
    int failed = 0, n = (int)(sizeof(tests) / sizeof(tests[0]));
    (void)argc;
    (void)argv;
    for (int i = 0; i < n; i++) {
        g_failed = 0;
        printf("[RUN ] hnsw_mt::%s\n", tests[i].name);
        fflush(stdout);
        tests[i].fn();
        printf("[%s] hnsw_mt::%s\n", g_failed ? "FAIL" : "PASS", tests[i].name);
        failed += g_failed;
    }
    printf("hnsw_mt: %d tests, %d passed, %d failed\n", n, n - failed, failed);
    return failed ? 1 : 0;
}
