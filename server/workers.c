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
 * 3. Bounded queues: when max_queue jobs of a class wait, submit returns
 *    -EAGAIN and the caller runs the job on the loop thread. That is
 *    backpressure (the loop slows down instead of memory growing without
 *    bound) and it never fails a client's request.
 * 4. Completions: workers push finished jobs on a mutex-protected list;
 *    the push that finds the list empty calls uv_async_send (later pushes
 *    ride on that pending wake-up: the async callback takes the whole list
 *    at once and runs done() in completion order). A worker publishes its
 *    completion and picks its next job under one lock hold.
 * 5. Two classes (workers.h): searches have a client waiting, inserts
 *    (CACHE.PUT's HNSW insert, ~0.8 ms at 100k x 512) do not. With one FIFO,
 *    a burst of misses put every thread inside an insert and the searches
 *    behind them waited: closed-loop semantic p99 went from 14.9 to 23.6 ms
 *    when inserts moved onto the pool (README "Semantic cache"). So searches
 *    go first; with three or more threads at most nthreads - 1 inserts run
 *    at once (one thread stays free for searches); and a streak counter lets one insert through after WORKERS_INSERT_EVERY
 *    searches taken while inserts waited, so a saturating search load
 *    slows inserts down without stopping them. And once
 *    WORKERS_INSERT_URGENT inserts per thread wait, inserts go first until
 *    the backlog is below that mark: the cache caps in-flight inserts at
 *    32 per thread and inserts over the cap on the loop thread (cache.c
 *    note 9), which stalls every connection, so letting searches starve
 *    the queue up to that cap is worse than making one search wait for an
 *    insert. Seen without this rule: in simcache-bench's LLM mix (closed
 *    loop, 100k entries, ~25% misses) the guard alone let one insert
 *    through per 8 searches, fewer than the misses produced, and PUT p50
 *    went from 0.3 ms (FIFO) to 4-6 ms. Rejected: a time-based
 *    guard (oldest insert's age) -- it needs a clock read per pick, and a
 *    count is what a test can check deterministically. With one or two
 *    threads every thread may run an insert: reserving one of two halved
 *    the pool's insert capacity, so bulk PUTs went over the in-flight cap
 *    and inserted on the loop thread instead (cache.c note 9), which stalls
 *    every client; in one 100k-entry LLM-mix run (load 12, noisy) PUT p50
 *    was 5.8 ms with the reservation against 0.30 ms for the previous
 *    build. A search then waits at most for the inserts already running.
 * 6. Hand-off avoidance (workers_try_inline). perf on the open loop at
 *    1000 VSIM/s (20k x 384, Q8) put ~38% of server samples in the
 *    scheduler (finish_task_switch, irq-restore spin unlocks): a query woke
 *    a sleeping worker (futex), which woke the sleeping loop (eventfd), four
 *    context switches for a ~45 us search, 140-200 us of server CPU per
 *    query against ~45 us pipelined. When the pool has nothing outstanding,
 *    no search is running that this one could overlap with anyway, so the
 *    caller runs a cheap search right on the loop thread: no wake-ups, no
 *    async. The budget of one inline search per loop iteration (reset by a
 *    uv_prepare handle) bounds what one iteration can add to the latency of
 *    the other connections it serves: the next search of that iteration goes
 *    to the pool, which is then no longer idle. Measured (vset_bench.py,
 *    20k, alternating with the previous build, load 8): server CPU per VSIM
 *    at 1000/s 130-160 us against 200-207 us. Not tried: workers spinning
 *    before they sleep -- at low rates the next job is ~1 ms away, so a
 *    20-50 us spin would burn CPU that the loop and the clients need on two
 *    cores without removing the loop's own wake-up.
 *    It is opt-in (`vset-inline-when-idle`, default no): the vector-set
 *    contract is that searches leave the loop thread unless NOTHREAD asks
 *    otherwise, and a cheap search is still tens to hundreds of us of loop
 *    time that a connection arriving meanwhile waits behind.
 * 7. The async handle is unreferenced while no job is outstanding, so an
 *    idle pool never keeps the loop alive (graceful shutdown exits when the
 *    clients are gone), and referenced while jobs are in flight, so their
 *    replies are still flushed during the shutdown grace period. The
 *    prepare and check handles are always unreferenced.
 * 8. Wake-ups per loop iteration, not per job. A submit wakes a sleeping
 *    thread at once only when no thread of the pool is awake (the lowest
 *    latency for a lone request). While one is awake, the job just queues:
 *    the awake thread takes it when it finishes its job (it never sleeps
 *    while a job it may start waits), and at the end of the iteration (a
 *    uv_check handle after the poll's callbacks, and the prepare handle for
 *    jobs submitted by timers) as many sleeping threads are woken as there
 *    are jobs they may start. `signalled` counts threads woken but not yet
 *    running, so a burst never signals the same sleeper twice. Signals are
 *    sent after mu is released: a thread woken under the submitter's lock
 *    runs on the other core at once and blocks again on that lock (a
 *    second context switch for one hand-off). Measured with the per-thread
 *    print of bench/cache_bench.py (100k x 512, cache-drive -c 50, two
 *    rounds alternating with the previous build on the shared 2-core
 *    machine): context switches per request (voluntary + involuntary, all
 *    server threads), closed loop one query 1.06-1.14 -> 0.27-0.28, 1,000
 *    queries 1.13-1.21 -> 0.14-0.18, open loop 2,000/s 5.0 -> 2.7-3.2 (the
 *    workers' second, lock-induced switch gone); server CPU per request
 *    and rps unchanged within the noise (24.4-25.1 us both, one query).
 *
 * Threading: `mu` guards the queues, the done list, the insert counters,
 * `idle`, `signalled`, the queue-wait tally and `stopping`; `busy`,
 * `completed`, `depth`, `idepth` are atomics read by INFO. `outstanding`,
 * `tick`, `inline_tick`, `wake_pending`, the reply-wait tally, `drains` and
 * `inlined` (written) are loop-only. */
#include "workers.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

enum { CLS_SEARCH = 0, CLS_INSERT = 1 };

typedef struct jqueue {
    worker_job *head, *tail;
    size_t len;
} jqueue;

struct workers {
    uv_loop_t *loop;
    uv_async_t async;          /* async.data == the pool */
    uv_prepare_t prepare;      /* resets the inline budget; flushes wake-ups (note 8) */
    uv_check_t check;          /* flushes wake-ups after the poll's callbacks (note 8) */
    int wake_pending;          /* jobs were queued without a wake-up (loop thread) */
    int open_handles;          /* handles not yet closed; free at 0 */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    jqueue q[2];               /* waiting jobs per class, FIFO */
    size_t qmax;               /* bound per class */
    unsigned ins_running;      /* inserts inside work() */
    unsigned ins_max;          /* nthreads - 1 from 3 threads, else nthreads (note 5) */
    unsigned streak;           /* searches taken in a row while inserts waited */
    size_t ins_urgent;         /* WORKERS_INSERT_URGENT * requested threads;
                                * set before the threads start (they read it) */
    worker_job *dhead, *dtail; /* finished jobs, FIFO */
    int stopping;
    unsigned idle;             /* threads waiting on cv */
    unsigned signalled;        /* of those, woken and not yet running (<= idle) */
    lat_stat qwait;            /* submit -> a thread starts a search (under mu) */
    lat_stat rwait;            /* work end -> done() (loop thread) */
    workers_counters k;        /* thread_wakeups, loop_wakeups under mu; drains loop */
    unsigned nthreads;         /* threads actually started */
    pthread_t *threads;
    size_t outstanding;        /* submitted, done() not yet run (loop thread) */
    uint64_t tick, inline_tick;/* loop iterations; the last one that ran inline */
    _Atomic uint64_t inlined;
    _Atomic unsigned busy;
    _Atomic uint64_t completed;
    _Atomic size_t depth;      /* both queues' length, for lock-free reads */
    _Atomic size_t idepth;     /* the insert queue's length */
};

static void q_push(jqueue *q, worker_job *j) {
    j->next = NULL;
    if (q->tail) q->tail->next = j;
    else q->head = j;
    q->tail = j;
    q->len++;
}

static worker_job *q_pop(jqueue *q) {
    worker_job *j = q->head;
    q->head = j->next;
    if (!q->head) q->tail = NULL;
    q->len--;
    return j;
}

/* The next job for a free thread under the rule of note 5, or NULL. Under mu. */
static worker_job *pick(workers *w) {
    jqueue *s = &w->q[CLS_SEARCH], *in = &w->q[CLS_INSERT];
    int insert_ok = in->len > 0 && w->ins_running < w->ins_max;
    int insert_due = w->streak >= WORKERS_INSERT_EVERY || in->len >= w->ins_urgent;
    worker_job *j = NULL;
    if (s->len > 0 && !(insert_ok && insert_due)) {
        j = q_pop(s);
        w->streak = in->len > 0 ? w->streak + 1 : 0;
    } else if (insert_ok) {
        j = q_pop(in);
        w->streak = 0;
        w->ins_running++;
        atomic_store_explicit(&w->idepth, in->len, memory_order_relaxed);
    }
    if (j) {
        atomic_store_explicit(&w->depth, s->len + in->len, memory_order_relaxed);
        if (j->cls == CLS_SEARCH) lat_stat_add(&w->qwait, uv_hrtime() - j->t_ns);
    }
    return j;
}

static void *worker_main(void *arg) {
    workers *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        worker_job *j = pick(w);
        if (!j) {
            if (w->stopping && w->q[CLS_SEARCH].len == 0 && w->q[CLS_INSERT].len == 0) {
                pthread_cond_broadcast(&w->cv);  /* others may wait for an insert slot */
                break;
            }
            w->idle++;
            pthread_cond_wait(&w->cv, &w->mu);
            w->idle--;
            if (w->signalled) w->signalled--;
            continue;
        }
        pthread_mutex_unlock(&w->mu);

        atomic_fetch_add(&w->busy, 1);
        j->work(j);
        atomic_fetch_sub(&w->busy, 1);
        atomic_fetch_add(&w->completed, 1);
        j->t_ns = uv_hrtime();

        /* Note 4: publish the completion and pick the next job under one
         * lock hold; only the push that finds the done list empty wakes the
         * loop (a non-empty list means a wake-up is already pending: the
         * loop's drain empties the list before it runs anything). */
        pthread_mutex_lock(&w->mu);
        if (j->cls == CLS_INSERT) w->ins_running--;
        int wake = w->dhead == NULL && !w->stopping;
        j->next = NULL;
        if (w->dtail) w->dtail->next = j;
        else w->dhead = j;
        w->dtail = j;
        if (wake) {
            w->k.loop_wakeups++;
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
    if (j) w->k.drains++;
    uint64_t now = j ? uv_hrtime() : 0;
    while (j) {
        worker_job *next = j->next;
        lat_stat_add(&w->rwait, now > j->t_ns ? now - j->t_ns : 0);
        w->outstanding--;
        j->done(j);                          /* may free j */
        j = next;
    }
    if (w->outstanding == 0 && !uv_is_closing((uv_handle_t *)&w->async))
        uv_unref((uv_handle_t *)&w->async);
}

static void async_cb(uv_async_t *a) { drain_done(a->data); }

/* Note 8: wakes as many sleeping threads as there are jobs they may start
 * (searches, and inserts within the running limit), once per iteration. */
static void flush_wakeups(workers *w) {
    if (!w->wake_pending) return;
    w->wake_pending = 0;
    pthread_mutex_lock(&w->mu);
    size_t runnable = w->q[CLS_SEARCH].len;
    if (w->ins_running < w->ins_max) {
        size_t room = w->ins_max - w->ins_running;
        runnable += w->q[CLS_INSERT].len < room ? w->q[CLS_INSERT].len : room;
    }
    unsigned n = 0;
    while (runnable-- > 0 && w->idle > w->signalled) {
        w->signalled++;
        w->k.thread_wakeups++;
        n++;
    }
    pthread_mutex_unlock(&w->mu);
    while (n--) pthread_cond_signal(&w->cv);   /* outside mu: note 8 */
}

static void prepare_cb(uv_prepare_t *p) {
    workers *w = p->data;
    w->tick++;
    flush_wakeups(w);   /* jobs submitted by timers and pending callbacks */
}

static void check_cb(uv_check_t *c) { flush_wakeups(c->data); }

static void pool_free(workers *w) {
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w->threads);
    free(w);
}

static void close_cb(uv_handle_t *h) {
    workers *w = h->data;
    if (--w->open_handles == 0) pool_free(w);
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
    w->ins_max = nthreads > 2 ? nthreads - 1 : nthreads;
    w->ins_urgent = (size_t)WORKERS_INSERT_URGENT * nthreads;
    w->tick = 1;                             /* inline_tick 0: budget available */
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    int rc = uv_async_init(loop, &w->async, async_cb);
    if (rc != 0) {
        pool_free(w);
        return rc;
    }
    w->async.data = w;
    w->open_handles = 1;
    uv_unref((uv_handle_t *)&w->async);
    rc = uv_prepare_init(loop, &w->prepare);
    if (rc == 0) {
        w->prepare.data = w;
        w->open_handles++;
        rc = uv_prepare_start(&w->prepare, prepare_cb);
        uv_unref((uv_handle_t *)&w->prepare);
    }
    if (rc == 0) rc = uv_check_init(loop, &w->check);
    if (rc == 0) {
        w->check.data = w;
        w->open_handles++;
        rc = uv_check_start(&w->check, check_cb);
        uv_unref((uv_handle_t *)&w->check);
    }
    for (unsigned i = 0; rc == 0 && i < nthreads; i++) {
        rc = -pthread_create(&w->threads[i], NULL, worker_main, w);
        w->nthreads = rc == 0 ? i + 1 : i;
        if (rc == 0) {
            char name[24];   /* the kernel takes 15 characters; this is 13 at most */
            snprintf(name, sizeof name, "sc-search-%u", i);
            pthread_setname_np(w->threads[i], name);   /* top -H, cache_bench.py */
        }
    }
    if (rc != 0) {
        workers_destroy(w);
        return rc;
    }
    *out = w;
    return 0;
}

static int submit(workers *w, worker_job *j, int cls) {
    pthread_mutex_lock(&w->mu);
    if (w->stopping) {
        pthread_mutex_unlock(&w->mu);
        return -ESHUTDOWN;
    }
    jqueue *q = &w->q[cls];
    if (q->len >= w->qmax) {
        pthread_mutex_unlock(&w->mu);
        return -EAGAIN;
    }
    j->cls = cls;
    j->t_ns = uv_hrtime();
    q_push(q, j);
    atomic_store_explicit(&w->depth, w->q[0].len + w->q[1].len, memory_order_relaxed);
    if (cls == CLS_INSERT) atomic_store_explicit(&w->idepth, q->len, memory_order_relaxed);
    /* An insert over the running limit waits for an insert to finish; the
     * thread that finishes it picks the next one itself (no wake-up). */
    /* Note 8: wake a thread now only if none is awake; otherwise the
     * awake one takes this job when it finishes, and the iteration's end
     * wakes more threads at once if jobs are left. */
    int wake = 0;
    if (w->idle > w->signalled && (cls == CLS_SEARCH || w->ins_running < w->ins_max)) {
        if (w->idle - w->signalled == w->nthreads) {
            w->signalled++;
            w->k.thread_wakeups++;
            wake = 1;
        } else {
            w->wake_pending = 1;
        }
    }
    pthread_mutex_unlock(&w->mu);
    if (wake) pthread_cond_signal(&w->cv);   /* outside mu: note 8 */
    if (w->outstanding++ == 0) uv_ref((uv_handle_t *)&w->async);
    return 0;
}

int workers_submit(workers *w, worker_job *j) { return submit(w, j, CLS_SEARCH); }

int workers_submit_insert(workers *w, worker_job *j) { return submit(w, j, CLS_INSERT); }

int workers_try_inline(workers *w) {
    if (!w || w->outstanding != 0 || w->inline_tick == w->tick || w->stopping) return 0;
    w->inline_tick = w->tick;
    atomic_fetch_add_explicit(&w->inlined, 1, memory_order_relaxed);
    return 1;
}

void workers_destroy(workers *w) {
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (unsigned i = 0; i < w->nthreads; i++) pthread_join(w->threads[i], NULL);
    drain_done(w);                           /* threads are gone: no race */
    if (w->open_handles > 2) uv_close((uv_handle_t *)&w->check, close_cb);
    if (w->open_handles > 1) uv_close((uv_handle_t *)&w->prepare, close_cb);
    uv_close((uv_handle_t *)&w->async, close_cb);
}

size_t workers_queue_depth(const workers *w) {
    return w ? atomic_load(&((workers *)w)->depth) : 0;
}

size_t workers_insert_depth(const workers *w) {
    return w ? atomic_load(&((workers *)w)->idepth) : 0;
}

unsigned workers_busy(const workers *w) { return w ? atomic_load(&((workers *)w)->busy) : 0; }

unsigned workers_threads(const workers *w) { return w ? w->nthreads : 0; }

uint64_t workers_completed(const workers *w) {
    return w ? atomic_load(&((workers *)w)->completed) : 0;
}

uint64_t workers_inlined(const workers *w) {
    return w ? atomic_load(&((workers *)w)->inlined) : 0;
}

void workers_wait_stats(workers *w, lat_stat *queue, lat_stat *reply, workers_counters *k) {
    pthread_mutex_lock(&w->mu);
    if (queue) *queue = w->qwait;
    if (k) {
        *k = w->k;
    }
    pthread_mutex_unlock(&w->mu);
    if (reply) *reply = w->rwait;
}
