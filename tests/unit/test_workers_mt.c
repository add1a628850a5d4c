/* test_workers_mt.c -- the search worker pool (server/workers.c): every
 * submitted job runs its work on a pool thread and its done on the loop
 * thread exactly once; a full queue pushes back with -EAGAIN instead of
 * growing; shutdown with jobs still queued runs them all and leaves no
 * handle open (uv_loop_close == 0); an idle pool never keeps the loop
 * alive. The tsan stage runs the same cases as a plain C program
 * (tests/mt/workers_mt.c with tests/unit/plain_test.h). */
#ifdef SIMCACHE_PLAIN_TEST      /* TSan build: see plain_test.h */
#include "tests/unit/plain_test.h"
#else
#include <criterion/criterion.h>
#endif
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <uv.h>

#include "server/workers.h"

typedef struct tjob {
    worker_job wj;
    int idx;
    pthread_t work_thread;    /* written by work(), read by done() */
    long value;               /* computed by work() */
    int done_calls;
} tjob;

static pthread_t loop_thread;
static _Atomic int works_run;
static int dones_run;
static int done_order[4096];

/* A small gate that blocking jobs wait on. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open;

static void gate_set(int open) {
    pthread_mutex_lock(&gate_mu);
    gate_open = open;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}

static void work_sum(worker_job *wj) {
    tjob *j = (tjob *)wj;
    long s = 0;
    for (int i = 0; i <= j->idx; i++) s += i;
    j->value = s;
    j->work_thread = pthread_self();
    atomic_fetch_add(&works_run, 1);
}

static void work_gated(worker_job *wj) {
    pthread_mutex_lock(&gate_mu);
    while (!gate_open) pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
    work_sum(wj);
}

static void done_check(worker_job *wj) {
    tjob *j = (tjob *)wj;
    cr_assert(pthread_equal(pthread_self(), loop_thread), "done() off the loop thread");
    cr_assert_not(pthread_equal(j->work_thread, loop_thread), "work() ran on the loop thread");
    cr_assert_eq(j->value, (long)j->idx * (j->idx + 1) / 2);
    j->done_calls++;
    if (dones_run < 4096) done_order[dones_run] = j->idx;
    dones_run++;
}

static void reset(void) {
    loop_thread = pthread_self();
    atomic_store(&works_run, 0);
    dones_run = 0;
    gate_set(0);
}

static tjob *make_jobs(int n, void (*work)(worker_job *)) {
    tjob *jobs = calloc((size_t)n, sizeof *jobs);
    cr_assert_not_null(jobs);
    for (int i = 0; i < n; i++) {
        jobs[i].idx = i;
        jobs[i].wj.work = work;
        jobs[i].wj.done = done_check;
    }
    return jobs;
}

/* A fresh test state, loop and pool of nthreads with max_queue. */
static workers *pool_start(uv_loop_t *loop, unsigned nthreads, size_t max_queue) {
    workers *w;
    reset();
    cr_assert_eq(uv_loop_init(loop), 0);
    cr_assert_eq(workers_create(loop, nthreads, max_queue, &w), 0);
    return w;
}

/* Stops the pool, lets its handle close, closes the loop, frees jobs. */
static void pool_stop(uv_loop_t *loop, workers *w, tjob *jobs) {
    workers_destroy(w);
    uv_run(loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(loop), 0);
    free(jobs);
}

Test(workers, every_job_completes_once_off_the_loop_and_the_loop_then_exits) {
    uv_loop_t loop;
    workers *w = pool_start(&loop, 4, 4096);
    cr_assert_eq(workers_threads(w), 4);
    enum { N = 2000 };
    tjob *jobs = make_jobs(N, work_sum);
    for (int i = 0; i < N; i++) cr_assert_eq(workers_submit(w, &jobs[i].wj), 0);
    /* The async handle is referenced while jobs are outstanding: uv_run
     * returns only after every done() ran, then the idle pool lets go. */
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(dones_run, N);
    cr_assert_eq(atomic_load(&works_run), N);
    for (int i = 0; i < N; i++) cr_assert_eq(jobs[i].done_calls, 1, "job %d", i);
    cr_assert_eq(workers_completed(w), N);
    cr_assert_eq(workers_queue_depth(w), 0);
    cr_assert_eq(workers_busy(w), 0);
    pool_stop(&loop, w, jobs);
}

Test(workers, single_thread_completes_in_submission_order) {
    uv_loop_t loop;
    workers *w = pool_start(&loop, 1, 1000);
    tjob *jobs = make_jobs(500, work_sum);
    for (int i = 0; i < 500; i++) cr_assert_eq(workers_submit(w, &jobs[i].wj), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(dones_run, 500);
    for (int i = 0; i < 500; i++) cr_assert_eq(done_order[i], i);
    pool_stop(&loop, w, jobs);
}

Test(workers, full_queue_pushes_back_with_eagain) {
    uv_loop_t loop;
    workers *w = pool_start(&loop, 1, 2);
    tjob *jobs = make_jobs(4, work_gated);
    cr_assert_eq(workers_submit(w, &jobs[0].wj), 0);
    while (workers_busy(w) != 1) sched_yield();     /* job 0 holds the thread */
    cr_assert_eq(workers_submit(w, &jobs[1].wj), 0);
    cr_assert_eq(workers_submit(w, &jobs[2].wj), 0);
    cr_assert_eq(workers_queue_depth(w), 2);
    cr_assert_eq(workers_submit(w, &jobs[3].wj), -EAGAIN, "a third waiting job must be refused");
    gate_set(1);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(dones_run, 3);
    cr_assert_eq(jobs[3].done_calls, 0);
    pool_stop(&loop, w, jobs);
}

Test(workers, shutdown_with_queued_jobs_runs_them_all_and_closes_cleanly) {
    uv_loop_t loop;
    workers *w = pool_start(&loop, 2, 100);
    tjob *jobs = make_jobs(50, work_gated);
    for (int i = 0; i < 50; i++) cr_assert_eq(workers_submit(w, &jobs[i].wj), 0);
    gate_set(1);
    /* No uv_run before destroy: every done() must still run, on this thread. */
    workers_destroy(w);
    cr_assert_eq(dones_run, 50);
    for (int i = 0; i < 50; i++) cr_assert_eq(jobs[i].done_calls, 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0);
    free(jobs);
}

Test(workers, idle_pool_does_not_keep_the_loop_alive) {
    uv_loop_t loop;
    workers *w = pool_start(&loop, 2, 10);
    cr_assert_eq(uv_run(&loop, UV_RUN_DEFAULT), 0, "an idle pool kept the loop running");
    workers_destroy(w);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0);
}

Test(workers, bad_arguments_are_rejected) {
    uv_loop_t loop;
    cr_assert_eq(uv_loop_init(&loop), 0);
    workers *w = NULL;
    cr_assert_eq(workers_create(&loop, 0, 10, &w), -EINVAL);
    cr_assert_eq(workers_create(&loop, 2, 0, &w), -EINVAL);
    cr_assert_eq(workers_create(&loop, 257, 10, &w), -EINVAL);
    cr_assert_null(w);
    cr_assert_eq(uv_loop_close(&loop), 0);
}

/* ---- priority (workers.c note 5) and the idle-pool shortcut (note 6) ---- */

/* Runs the loop until n done() calls have run in total. */
static void run_until_done(uv_loop_t *loop, int n) {
    while (dones_run < n) uv_run(loop, UV_RUN_ONCE);
}

Test(workers, queued_searches_overtake_queued_inserts) {
    uv_loop_t loop;
    workers *w = pool_start(&loop, 1, 100);
    tjob *jobs = make_jobs(14, work_sum);
    jobs[0].wj.work = work_gated;                    /* holds the only thread */
    cr_assert_eq(workers_submit(w, &jobs[0].wj), 0);
    while (workers_busy(w) != 1) sched_yield();
    for (int i = 1; i <= 10; i++) cr_assert_eq(workers_submit_insert(w, &jobs[i].wj), 0);
    for (int i = 11; i <= 13; i++) cr_assert_eq(workers_submit(w, &jobs[i].wj), 0);
    cr_assert_eq(workers_queue_depth(w), 13);
    cr_assert_eq(workers_insert_depth(w), 10);
    gate_set(1);
    run_until_done(&loop, 14);
    int want[14] = {0, 11, 12, 13, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    for (int i = 0; i < 14; i++) cr_assert_eq(done_order[i], want[i], "position %d", i);
    pool_stop(&loop, w, jobs);
}

Test(workers, a_stream_of_searches_does_not_starve_inserts) {
    uv_loop_t loop;
    workers *w = pool_start(&loop, 1, 100);
    enum { NI = 3, NS = 2 * WORKERS_INSERT_EVERY + 4 };
    tjob *jobs = make_jobs(1 + NI + NS, work_sum);
    jobs[0].wj.work = work_gated;
    cr_assert_eq(workers_submit(w, &jobs[0].wj), 0);
    while (workers_busy(w) != 1) sched_yield();
    for (int i = 1; i <= NI; i++) cr_assert_eq(workers_submit_insert(w, &jobs[i].wj), 0);
    for (int i = NI + 1; i <= NI + NS; i++) cr_assert_eq(workers_submit(w, &jobs[i].wj), 0);
    gate_set(1);
    run_until_done(&loop, 1 + NI + NS);
    /* After every WORKERS_INSERT_EVERY searches one insert goes through;
     * once the searches are gone the remaining inserts run. */
    int pos = 1, s = NI + 1, ins = 1;
    for (int round = 0; round < 2; round++) {
        for (int k = 0; k < WORKERS_INSERT_EVERY; k++, pos++)
            cr_assert_eq(done_order[pos], s++, "position %d", pos);
        cr_assert_eq(done_order[pos], ins++, "position %d: an insert was starved", pos);
        pos++;
    }
    for (; s <= NI + NS; pos++) cr_assert_eq(done_order[pos], s++, "position %d", pos);
    for (; ins <= NI; pos++) cr_assert_eq(done_order[pos], ins++, "position %d", pos);
    pool_stop(&loop, w, jobs);
}

Test(workers, searches_complete_while_inserts_hold_all_but_one_thread) {
    uv_loop_t loop;
    workers *w = pool_start(&loop, 3, 100);
    tjob *jobs = make_jobs(12, work_gated);
    for (int i = 0; i < 10; i++) cr_assert_eq(workers_submit_insert(w, &jobs[i].wj), 0);
    /* Only the first job wakes a thread at once; the loop's next iteration
     * wakes the others (workers.c note 8), so the loop must run. */
    while (workers_busy(w) != 2) uv_run(&loop, UV_RUN_NOWAIT);   /* nthreads - 1 inserts run */
    /* The third thread stays free for searches: two of them complete while
     * every insert is still blocked. */
    jobs[10].wj.work = work_sum;
    jobs[11].wj.work = work_sum;
    cr_assert_eq(workers_submit(w, &jobs[10].wj), 0);
    cr_assert_eq(workers_submit(w, &jobs[11].wj), 0);
    run_until_done(&loop, 2);
    cr_assert_eq(done_order[0], 10);
    cr_assert_eq(done_order[1], 11);
    cr_assert_eq(workers_busy(w), 2, "an insert took the thread kept for searches");
    cr_assert_eq(workers_insert_depth(w), 8);
    gate_set(1);
    run_until_done(&loop, 12);
    for (int i = 0; i < 12; i++) cr_assert_eq(jobs[i].done_calls, 1, "job %d", i);
    pool_stop(&loop, w, jobs);
}

Test(workers, a_long_insert_backlog_goes_before_searches_until_it_shrinks) {
    uv_loop_t loop;
    workers *w = pool_start(&loop, 1, 1000);
    enum { NI = WORKERS_INSERT_URGENT + 3, NS = 4 };
    tjob *jobs = make_jobs(1 + NI + NS, work_sum);
    jobs[0].wj.work = work_gated;
    cr_assert_eq(workers_submit(w, &jobs[0].wj), 0);
    while (workers_busy(w) != 1) sched_yield();
    for (int i = 1; i <= NI; i++) cr_assert_eq(workers_submit_insert(w, &jobs[i].wj), 0);
    for (int i = NI + 1; i <= NI + NS; i++) cr_assert_eq(workers_submit(w, &jobs[i].wj), 0);
    gate_set(1);
    run_until_done(&loop, 1 + NI + NS);
    /* inserts 1..4 run first (the backlog falls from URGENT + 3 to
     * URGENT - 1), then the searches, then the rest of the inserts */
    int pos = 1;
    for (int i = 1; i <= 4; i++, pos++) cr_assert_eq(done_order[pos], i, "position %d", pos);
    for (int i = NI + 1; i <= NI + NS; i++, pos++)
        cr_assert_eq(done_order[pos], i, "position %d", pos);
    for (int i = 5; i <= NI; i++, pos++) cr_assert_eq(done_order[pos], i, "position %d", pos);
    pool_stop(&loop, w, jobs);
}

Test(workers, with_two_threads_both_may_run_inserts) {
    uv_loop_t loop;
    workers *w = pool_start(&loop, 2, 100);
    tjob *jobs = make_jobs(4, work_gated);
    for (int i = 0; i < 4; i++) cr_assert_eq(workers_submit_insert(w, &jobs[i].wj), 0);
    while (workers_busy(w) != 2) uv_run(&loop, UV_RUN_NOWAIT);   /* a reservation would stop at 1 */
    gate_set(1);
    run_until_done(&loop, 4);
    pool_stop(&loop, w, jobs);
}

Test(workers, each_class_has_its_own_queue_bound) {
    uv_loop_t loop;
    workers *w = pool_start(&loop, 1, 2);
    tjob *jobs = make_jobs(7, work_sum);
    jobs[0].wj.work = work_gated;
    cr_assert_eq(workers_submit(w, &jobs[0].wj), 0);
    while (workers_busy(w) != 1) sched_yield();
    cr_assert_eq(workers_submit_insert(w, &jobs[1].wj), 0);
    cr_assert_eq(workers_submit_insert(w, &jobs[2].wj), 0);
    cr_assert_eq(workers_submit_insert(w, &jobs[3].wj), -EAGAIN, "a full insert queue grew");
    cr_assert_eq(workers_submit(w, &jobs[4].wj), 0, "full inserts refused a search");
    cr_assert_eq(workers_submit(w, &jobs[5].wj), 0);
    cr_assert_eq(workers_submit(w, &jobs[6].wj), -EAGAIN);
    gate_set(1);
    run_until_done(&loop, 5);
    cr_assert_eq(jobs[3].done_calls + jobs[6].done_calls, 0);
    pool_stop(&loop, w, jobs);
}

/* Threat: a burst of searches from one loop iteration waking a sleeping
 * thread per search (a futex wake and a context switch each) instead of
 * once per thread (workers.c note 8); and the hand-off tallies of INFO
 * eventloop missing jobs. */
Test(workers, one_iterations_burst_wakes_each_sleeping_thread_at_most_once) {
    uv_loop_t loop;
    workers *w = pool_start(&loop, 2, 100);
    enum { N = 64 };
    tjob *jobs = make_jobs(N, work_sum);
    jobs[0].wj.work = work_gated;                    /* keeps one thread awake */
    cr_assert_eq(workers_submit(w, &jobs[0].wj), 0);
    while (workers_busy(w) != 1) sched_yield();
    for (int i = 1; i < N; i++) cr_assert_eq(workers_submit(w, &jobs[i].wj), 0);
    gate_set(1);
    run_until_done(&loop, N);
    lat_stat q, rep;
    workers_counters k;
    workers_wait_stats(w, &q, &rep, &k);
    cr_assert(k.thread_wakeups <= 2, "%llu wake-ups for one burst on two threads",
                  (unsigned long long)k.thread_wakeups);
    cr_assert_eq(q.n, N, "queue waits counted %llu of %d searches", (unsigned long long)q.n, N);
    cr_assert_eq(rep.n, N);
    cr_assert(k.drains >= 1 && k.drains <= k.loop_wakeups, "drains without a wake-up");
    pool_stop(&loop, w, jobs);
}

static void idle_noop_cb(uv_idle_t *h) { (void)h; }

Test(workers, idle_pool_offers_one_inline_search_per_loop_iteration) {
    uv_loop_t loop;
    workers *w = pool_start(&loop, 2, 10);
    /* uv_run iterates only while a referenced handle is active (the
     * server's listeners are); an idle handle stands in for them. */
    uv_idle_t alive;
    cr_assert_eq(uv_idle_init(&loop, &alive), 0);
    cr_assert_eq(uv_idle_start(&alive, idle_noop_cb), 0);
    cr_assert_eq(workers_try_inline(NULL), 0);
    cr_assert_eq(workers_try_inline(w), 1, "an idle pool refused the inline search");
    cr_assert_eq(workers_try_inline(w), 0, "two inline searches in one iteration");
    uv_run(&loop, UV_RUN_NOWAIT);                    /* the next iteration */
    cr_assert_eq(workers_try_inline(w), 1);
    tjob *jobs = make_jobs(1, work_gated);
    uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert_eq(workers_submit(w, &jobs[0].wj), 0);
    uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert_eq(workers_try_inline(w), 0, "inline while a job was outstanding");
    gate_set(1);
    run_until_done(&loop, 1);
    uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert_eq(workers_try_inline(w), 1, "the budget did not come back once idle");
    cr_assert_eq(workers_inlined(w), 3);
    uv_close((uv_handle_t *)&alive, NULL);
    workers_destroy(w);
    cr_assert_eq(workers_try_inline(w), 0, "inline offered after destroy");
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0);
    free(jobs);
}
