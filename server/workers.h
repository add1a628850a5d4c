/* workers.h -- a fixed pool of search threads with a bounded queue and one
 * uv_async_t for completions.
 *
 * A job is a struct the caller embeds a worker_job in. work() runs on a pool
 * thread; done() runs afterwards on the loop thread, in the order the async
 * callback drains completions (FIFO per drain). The pool never allocates per
 * job: the queue and the completion list are intrusive lists through
 * worker_job.next.
 *
 * Threading: workers_create/submit/destroy and every done() callback run on
 * the loop thread. work() runs on a pool thread and must not touch libuv
 * handles, clients or the keyspace (STYLE.md 5). The statistics accessors
 * may be called from any thread. */
#ifndef SIMCACHE_WORKERS_H
#define SIMCACHE_WORKERS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct worker_job worker_job;
struct worker_job {
    void (*work)(worker_job *j);   /* pool thread */
    void (*done)(worker_job *j);   /* loop thread; may free the job */
    worker_job *next;              /* private to the pool */
};

typedef struct workers workers;

/* Starts nthreads (1..256) threads on `loop`. max_queue (>= 1) bounds the
 * jobs waiting for a thread. Returns 0 and *out, or -EINVAL / -ENOMEM /
 * a negative libuv or pthread error (nothing is left running). */
int workers_create(uv_loop_t *loop, unsigned nthreads, size_t max_queue, workers **out);

/* Queues j (its work and done set by the caller). Returns 0, -EAGAIN when
 * the queue is full (the caller runs the work itself: backpressure without
 * an error for the client), or -ESHUTDOWN after workers_destroy started.
 * While jobs are outstanding the async handle is referenced, so the loop
 * does not exit before their completions ran. */
int workers_submit(workers *w, worker_job *j);

/* Stops the pool: threads finish every queued job and exit, then every
 * pending done() runs on the calling (loop) thread, and the async handle is
 * closed; its memory is freed by the close callback, so run the loop once
 * more (uv_run) before uv_loop_close. NULL is a no-op. */
void workers_destroy(workers *w);

/* Statistics for INFO: jobs waiting in the queue, threads running a job,
 * threads in the pool, jobs completed since start. Any thread. */
size_t workers_queue_depth(const workers *w);
unsigned workers_busy(const workers *w);
unsigned workers_threads(const workers *w);
uint64_t workers_completed(const workers *w);

#endif
