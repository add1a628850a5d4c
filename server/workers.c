/* workers.c -- the fixed search worker pool (workers.h).
 *
 * Design decisions:
 * 1. A fixed set of pthreads created at start-up, not a thread per query:
 *    Redis 8 spawns a detached thread per VSIM, which costs about a third
 *    of a millisecond of CPU per query and caps one client at ~1.5k
 *    queries/s (vector-sets.md section 2). Here a query costs one mutex
 *    round trip to enqueue, a condition-variable wake-up if a thread is
 *    idle, and a share of one uv_async_send.
 * 2. Our own pool rather than uv_queue_work: libuv's pool is shared with
 *    file-system and DNS work, is sized by UV_THREADPOOL_SIZE for the whole
 *    process, and has no bound on its queue. A dedicated pool sized by
 *    `vset-threads` keeps searches from queueing behind (or starving) other
 *    libuv work, and lets INFO report its own depth and busy count.
 * 3. Bounded queue: when max_queue jobs wait, submit returns -EAGAIN and
 *    the caller runs the search on the loop thread. That is backpressure
 *    (the loop slows down instead of memory growing without bound) and it
 *    never fails a client's request.
 * 4. Completions: workers push finished jobs on a mutex-protected list;
 *    the push that finds the list empty calls uv_async_send (later pushes
 *    ride on that pending wake-up: the async callback takes the whole list
 *    at once and runs done() in completion order). A worker that has more
 *    queued work does not take the lock again after its push unless it had
 *    to wake the loop.
 * 5. The async handle is unreferenced while no job is outstanding, so an
 *    idle pool never keeps the loop alive (graceful shutdown exits when the
 *    clients are gone), and referenced while jobs are in flight, so their
 *    replies are still flushed during the shutdown grace period.
 *
 * Threading: `mu` guards the queue, the done list and `stopping`; `busy`
 * and `completed` are atomics read by INFO. `outstanding` is loop-only. */
#include "workers.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct workers {
    uv_loop_t *loop;
    uv_async_t async;          /* async.data == the pool */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    worker_job *qhead, *qtail; /* waiting jobs, FIFO */
    size_t qlen, qmax;
    worker_job *dhead, *dtail; /* finished jobs, FIFO */
    int stopping;
    unsigned nthreads;         /* threads actually started */
    pthread_t *threads;
    size_t outstanding;        /* submitted, done() not yet run (loop thread) */
    _Atomic unsigned busy;
    _Atomic uint64_t completed;
    _Atomic size_t depth;      /* mirror of qlen for lock-free reads */
};

static void *worker_main(void *arg) {
    workers *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->qhead && !w->stopping) pthread_cond_wait(&w->cv, &w->mu);
        worker_job *j = w->qhead;
        if (!j) break;                       /* stopping and drained */
        w->qhead = j->next;
        if (!w->qhead) w->qtail = NULL;
        w->qlen--;
        atomic_store(&w->depth, w->qlen);
        pthread_mutex_unlock(&w->mu);

        atomic_fetch_add(&w->busy, 1);
        j->work(j);
        atomic_fetch_sub(&w->busy, 1);
        atomic_fetch_add(&w->completed, 1);

        /* Note 4: publish the completion and pick the next job under one
         * lock hold; only the push that finds the done list empty wakes the
         * loop (a non-empty list means a wake-up is already pending: the
         * loop's drain empties the list before it runs anything). */
        pthread_mutex_lock(&w->mu);
        int wake = w->dhead == NULL && !w->stopping;
        j->next = NULL;
        if (w->dtail) w->dtail->next = j;
        else w->dhead = j;
        w->dtail = j;
        if (wake) {
            pthread_mutex_unlock(&w->mu);
            uv_async_send(&w->async);
            pthread_mutex_lock(&w->mu);
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Runs every finished job's done() on the loop thread. */
static void drain_done(workers *w) {
    pthread_mutex_lock(&w->mu);
    worker_job *j = w->dhead;
    w->dhead = w->dtail = NULL;
    pthread_mutex_unlock(&w->mu);
    while (j) {
        worker_job *next = j->next;
        w->outstanding--;
        j->done(j);                          /* may free j */
        j = next;
    }
    if (w->outstanding == 0 && !uv_is_closing((uv_handle_t *)&w->async))
        uv_unref((uv_handle_t *)&w->async);
}

static void async_cb(uv_async_t *a) { drain_done(a->data); }

static void close_cb(uv_handle_t *h) {
    workers *w = h->data;
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w->threads);
    free(w);
}

int workers_create(uv_loop_t *loop, unsigned nthreads, size_t max_queue, workers **out) {
    if (!loop || !out || nthreads < 1 || nthreads > 256 || max_queue < 1) return -EINVAL;
    workers *w = calloc(1, sizeof *w);
    if (!w) return -ENOMEM;
    w->threads = calloc(nthreads, sizeof(pthread_t));
    if (!w->threads) {
        free(w);
        return -ENOMEM;
    }
    w->loop = loop;
    w->qmax = max_queue;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    int rc = uv_async_init(loop, &w->async, async_cb);
    if (rc != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w->threads);
        free(w);
        return rc;
    }
    w->async.data = w;
    uv_unref((uv_handle_t *)&w->async);
    for (unsigned i = 0; i < nthreads; i++) {
        rc = pthread_create(&w->threads[i], NULL, worker_main, w);
        if (rc != 0) {
            w->nthreads = i;
            workers_destroy(w);
            return -rc;
        }
    }
    w->nthreads = nthreads;
    *out = w;
    return 0;
}

int workers_submit(workers *w, worker_job *j) {
    pthread_mutex_lock(&w->mu);
    if (w->stopping) {
        pthread_mutex_unlock(&w->mu);
        return -ESHUTDOWN;
    }
    if (w->qlen >= w->qmax) {
        pthread_mutex_unlock(&w->mu);
        return -EAGAIN;
    }
    j->next = NULL;
    if (w->qtail) w->qtail->next = j;
    else w->qhead = j;
    w->qtail = j;
    w->qlen++;
    atomic_store(&w->depth, w->qlen);
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (w->outstanding++ == 0) uv_ref((uv_handle_t *)&w->async);
    return 0;
}

void workers_destroy(workers *w) {
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (unsigned i = 0; i < w->nthreads; i++) pthread_join(w->threads[i], NULL);
    drain_done(w);                           /* threads are gone: no race */
    uv_close((uv_handle_t *)&w->async, close_cb);
}

size_t workers_queue_depth(const workers *w) {
    return w ? atomic_load(&((workers *)w)->depth) : 0;
}

unsigned workers_busy(const workers *w) { return w ? atomic_load(&((workers *)w)->busy) : 0; }

unsigned workers_threads(const workers *w) { return w ? w->nthreads : 0; }

uint64_t workers_completed(const workers *w) {
    return w ? atomic_load(&((workers *)w)->completed) : 0;
}
