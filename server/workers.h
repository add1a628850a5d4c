/* workers.h -- a fixed pool of search threads with two bounded queues
 * (searches first, inserts behind them) and one uv_async_t for completions.
 *
 * A job is a struct the caller embeds a worker_job in. work() runs on a pool
 * thread; done() runs afterwards on the loop thread, in the order the async
 * callback drains completions (FIFO per drain). The pool never allocates per
 * job: the queues and the completion list are intrusive lists through
 * worker_job.next.
 *
 * Two classes of job: searches (workers_submit: VSIM, CACHE.GET/SEARCH),
 * which a client is waiting on, and inserts (workers_submit_insert: the HNSW
 * insert of a CACHE.PUT, whose client already has its reply). A free thread
 * takes a search whenever one waits; it takes an insert only when no search
 * waits, or when WORKERS_INSERT_EVERY searches in a row were taken while
 * inserts waited (the starvation guard), or while WORKERS_INSERT_URGENT
 * inserts per thread wait (the backlog guard); and with three or more threads at
 * most nthreads - 1 inserts run at once, so one thread is always free for the
 * next search instead of being inside a ~1 ms insert (with one or two threads
 * all may insert: see workers.c note 5).
 *
 * Threading: workers_create/submit/submit_insert/try_inline/destroy and every
 * done() callback run on the loop thread. work() runs on a pool thread and
 * must not touch libuv handles, clients or the keyspace (STYLE.md 5). The
 * statistics accessors may be called from any thread. */
#ifndef SIMCACHE_WORKERS_H
#define SIMCACHE_WORKERS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "latstat.h"

typedef struct worker_job worker_job;
struct worker_job {
    void (*work)(worker_job *j);   /* pool thread */
    void (*done)(worker_job *j);   /* loop thread; may free the job */
    worker_job *next;              /* private to the pool */
    int cls;                       /* private to the pool: search or insert */
    uint64_t t_ns;                 /* private to the pool: submit, then work-end time */
};

typedef struct workers workers;

/* Starvation guard: after this many searches taken in a row while an insert
 * waited, the next free thread (within the insert limit) takes an insert. */
#define WORKERS_INSERT_EVERY 8

/* Insert backlog, per pool thread, from which queued inserts go before
 * queued searches (half the cache's in-flight cap, CACHE_INS_PER_THREAD:
 * past that cap PUTs insert on the loop thread; workers.c note 5). */
#define WORKERS_INSERT_URGENT 16

/* Starts nthreads (1..256) threads on `loop`. max_queue (>= 1) bounds the
 * jobs waiting for a thread, per class (searches and inserts separately).
 * Returns 0 and *out, or -EINVAL / -ENOMEM / a negative libuv or pthread
 * error (nothing is left running). */
int workers_create(uv_loop_t *loop, unsigned nthreads, size_t max_queue, workers **out);

/* Queues search job j (its work and done set by the caller). The job starts
 * at once if every pool thread sleeps; otherwise when a thread frees up or
 * when the current loop iteration ends, whichever is first (workers.c note
 * 8): a caller that waits for it must keep the loop running. Returns 0,
 * -EAGAIN when the search queue is full (the caller runs the work itself:
 * backpressure without an error for the client), or -ESHUTDOWN after
 * workers_destroy started. While jobs are outstanding the async handle is
 * referenced, so the loop does not exit before their completions ran. */
int workers_submit(workers *w, worker_job *j);

/* Queues insert job j: the same contract as workers_submit, with the insert
 * queue's bound, and the priority rule of the header comment. */
int workers_submit_insert(workers *w, worker_job *j);

/* Hand-off avoidance for cheap searches (workers.c note 6): returns 1 if
 * the caller should run its search on the loop thread now instead of
 * submitting it: no job of the pool is outstanding (queued, running, or
 * waiting for its done()) and no other search ran inline in this loop
 * iteration (the call consumes that budget). Else 0. Loop thread only;
 * NULL returns 0. The caller decides which searches are cheap enough
 * (bounded EF, no FILTER, no TRUTH scan). */
int workers_try_inline(workers *w);

/* Stops the pool: threads finish every queued job and exit, then every
 * pending done() runs on the calling (loop) thread, and the handles are
 * closed; the memory is freed by the last close callback, so run the loop
 * once more (uv_run) before uv_loop_close. NULL is a no-op. */
void workers_destroy(workers *w);

/* Statistics for INFO: jobs waiting in both queues, inserts among them,
 * threads running a job, threads in the pool, jobs completed since start,
 * searches the callers ran inline through workers_try_inline. Any thread. */
size_t workers_queue_depth(const workers *w);
size_t workers_insert_depth(const workers *w);
unsigned workers_busy(const workers *w);
unsigned workers_threads(const workers *w);
uint64_t workers_completed(const workers *w);
uint64_t workers_inlined(const workers *w);

/* Hand-off counters (INFO eventloop): sleeping pool threads woken by a
 * submit, wake-ups of the loop posted by the pool (uv_async_send), and
 * drains of the completion list that ran at least one done(). */
typedef struct workers_counters {
    uint64_t thread_wakeups, loop_wakeups, drains;
} workers_counters;

/* Copies the hand-off delays: *queue, submit to a thread starting the job
 * (searches only: that includes waking a sleeping thread); *reply, the
 * end of work() to its done() starting on the loop (waking the loop, and
 * whatever the loop was busy with). Loop thread (takes the pool's mutex).
 * Any out-pointer may be NULL. */
void workers_wait_stats(workers *w, lat_stat *queue, lat_stat *reply, workers_counters *k);

#endif
