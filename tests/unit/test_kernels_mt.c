/* test_kernels_mt.c -- kernels under threads (label tsan): the first
 * kernels_get racing on several threads must agree on one table without a
 * data race, and the batch path with batch_set_threads(1) must give each
 * caller thread its own correct results. */
#include <criterion/criterion.h>
#include <pthread.h>

#include "kernels/batch.h"
#include "tests/kernels/kcheck.h"

#define NTHREADS 4
#define DIM 384
#define NROWS 64

static float rows[NROWS * DIM];
static pthread_barrier_t start;

typedef struct worker {
    const kernels *seen;
    int bad;
    float q[DIM];
    float out[NROWS];
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    pthread_barrier_wait(&start);
    w->seen = kernels_get();
    const kernels *ref = kernels_tier(KTIER_REF);
    for (int iter = 0; iter < 20; iter++) {
        if (batch_dot_f32(w->q, rows, NROWS, DIM, w->out) != 0) {
            w->bad++;
            continue;
        }
        for (int r = 0; r < NROWS; r++) {
            const float *row = rows + (size_t)r * DIM;
            float want = ref->dot_f32(w->q, row, DIM);
            if (!kc_close(w->out[r], want, kc_mag_f32(KC_DOT, w->q, row, DIM), DIM))
                w->bad++;
            if (!kc_close(w->seen->dot_f32(w->q, row, DIM), want,
                          kc_mag_f32(KC_DOT, w->q, row, DIM), DIM))
                w->bad++;
        }
    }
    return NULL;
}

Test(kernels_mt, racing_first_use_agrees_and_batch_is_per_thread_correct)
{
    batch_set_threads(1);
    uint64_t seed = 99;
    for (size_t i = 0; i < NROWS * DIM; i++)
        rows[i] = kc_float(&seed);
    static worker w[NTHREADS];
    pthread_t th[NTHREADS];
    pthread_barrier_init(&start, NULL, NTHREADS);
    for (int t = 0; t < NTHREADS; t++) {
        for (int i = 0; i < DIM; i++)
            w[t].q[i] = kc_float(&seed);
        cr_assert_eq(pthread_create(&th[t], NULL, worker_main, &w[t]), 0);
    }
    for (int t = 0; t < NTHREADS; t++)
        pthread_join(th[t], NULL);
    pthread_barrier_destroy(&start);
    for (int t = 0; t < NTHREADS; t++) {
        cr_assert_eq(w[t].seen, w[0].seen, "threads chose different tiers");
        cr_assert_eq(w[t].bad, 0, "thread %d: %d wrong results", t, w[t].bad);
    }
    cr_assert_eq(kernels_get(), w[0].seen);
}
