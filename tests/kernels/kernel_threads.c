/* kernel_threads.c -- kernels under threads, a plain-C program (label
 * tsan) because Criterion cannot start under ThreadSanitizer: its BoxFort
 * arena is mapped at random addresses inside TSan's reserved ranges and
 * aborts with "Could not initialize inheritable arena: Resource
 * temporarily unavailable" (Snaipe/Criterion#274, open; seen here with gcc
 * 12 -fsanitize=thread).
 *
 * Threats: the first kernels_get racing on several threads (a data race on
 * the chosen table, or threads ending up with different tiers), and the
 * OpenBLAS batch path called from several threads at once after
 * batch_set_threads(1) (results mixed between callers). The batch part is
 * compiled only when the OpenBLAS library is built (not in the AArch64
 * kernels-only build). Prints "N passed, N failed"; exit 0 only if none
 * failed. */
#include <pthread.h>

#include "tests/kernels/kcheck.h"
#ifdef SIMCACHE_TEST_BLAS
#include "kernels/batch.h"
#endif

#define NTHREADS 4
#define DIM 384
#define NROWS 64

static float rows[NROWS * DIM];
static pthread_barrier_t start;

typedef struct worker {
    const kernels *seen;
    int bad;
    int checked;
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
#ifdef SIMCACHE_TEST_BLAS
        if (batch_dot_f32(w->q, rows, NROWS, DIM, w->out) != 0)
            w->bad++;
#endif
        for (int r = 0; r < NROWS; r++) {
            const float *row = rows + (size_t)r * DIM;
            float want = ref->dot_f32(w->q, row, DIM);
            double S = kc_mag_f32(KC_DOT, w->q, row, DIM);
#ifdef SIMCACHE_TEST_BLAS
            w->bad += !kc_close(w->out[r], want, S, DIM);
            w->checked++;
#endif
            w->bad += !kc_close(w->seen->dot_f32(w->q, row, DIM), want, S, DIM);
            w->checked++;
        }
    }
    return NULL;
}

int main(void)
{
    kcheck c = {0};
#ifdef SIMCACHE_TEST_BLAS
    batch_set_threads(1);
#endif
    uint64_t seed = 99;
    for (size_t i = 0; i < NROWS * DIM; i++)
        rows[i] = kc_float(&seed);
    static worker w[NTHREADS];
    pthread_t th[NTHREADS];
    pthread_barrier_init(&start, NULL, NTHREADS);
    for (int t = 0; t < NTHREADS; t++) {
        for (int i = 0; i < DIM; i++)
            w[t].q[i] = kc_float(&seed);
        if (pthread_create(&th[t], NULL, worker_main, &w[t]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    }
    for (int t = 0; t < NTHREADS; t++)
        pthread_join(th[t], NULL);
    pthread_barrier_destroy(&start);
    for (int t = 0; t < NTHREADS; t++) {
        kc_result(&c, w[t].seen == w[0].seen, "thread %d chose %s, thread 0 %s", t,
                  w[t].seen->name, w[0].seen->name);
        kc_result(&c, w[t].bad == 0 && w[t].checked > 0, "thread %d: %d of %d results wrong", t,
                  w[t].bad, w[t].checked);
    }
    kc_result(&c, kernels_get() == w[0].seen, "kernels_get changed after the race");
    printf("tier %s, %d threads\n%d passed, %d failed\n", w[0].seen->name, NTHREADS, c.passed,
           c.failed);
    return c.failed ? 1 : 0;
}
