/* loopmon.c -- the event loop's latency monitor (loopmon.h).
 *
 * Design decisions:
 * 1. Busy time per iteration, not per callback: a request that arrives
 *    while the loop is busy waits for everything the loop does before its
 *    next poll, whoever does it (reads of other clients, completions,
 *    timers). A uv_check handle runs once per iteration, right after the
 *    poll's callbacks; the wall time between two passes minus the poll's
 *    blocked time (uv_metrics_idle_time) is one iteration's busy time.
 *    Cost: one uv_hrtime and one idle-time read per iteration.
 * 2. The hz timer is timed on its own (main.c calls loopmon_cron_ran), so
 *    a long iteration can be told apart from a long periodic job.
 * 3. Counters only grow (no reset): a benchmark takes differences of
 *    INFO eventloop before and after a run; the maxima are since start.
 *
 * Threading: loop thread only. */
#include "loopmon.h"

#include "latstat.h"
#include "vset.h"
#include "workers.h"

static uv_check_t check;
static uv_loop_t *mon_loop;
static int running;
static uint64_t last_ns, last_idle_ns;
static lat_stat iter_stat, cron_stat;

static void check_cb(uv_check_t *h) {
    (void)h;
    uint64_t now = uv_hrtime(), idle = uv_metrics_idle_time(mon_loop);
    uint64_t wall = now - last_ns, slept = idle - last_idle_ns;
    lat_stat_add(&iter_stat, wall > slept ? wall - slept : 0);
    last_ns = now;
    last_idle_ns = idle;
}

int loopmon_start(uv_loop_t *loop) {
    int rc = uv_loop_configure(loop, UV_METRICS_IDLE_TIME);
    if (rc == 0) rc = uv_check_init(loop, &check);
    if (rc != 0) return rc;
    mon_loop = loop;
    last_ns = uv_hrtime();
    last_idle_ns = uv_metrics_idle_time(loop);
    uv_check_start(&check, check_cb);
    uv_unref((uv_handle_t *)&check);
    running = 1;
    return 0;
}

void loopmon_stop(void) {
    if (!running) return;
    running = 0;
    uv_close((uv_handle_t *)&check, NULL);
}

void loopmon_cron_ran(uint64_t ns) { lat_stat_add(&cron_stat, ns); }

static void print_stat(sbuf *o, const char *name, const lat_stat *s) {
    sbuf_printf(o, "%s_count:%llu\r\n%s_us_sum:%llu\r\n%s_us_max:%llu\r\n"
                "%s_over_250us:%llu\r\n%s_over_1ms:%llu\r\n",
                name, (unsigned long long)s->n, name, (unsigned long long)s->sum_us, name,
                (unsigned long long)s->max_us, name, (unsigned long long)s->over_250us, name,
                (unsigned long long)s->over_1ms);
}

void loopmon_info(sbuf *o) {
    sbuf_printf(o, "# Eventloop\r\n");
    print_stat(o, "eventloop_iter", &iter_stat);
    print_stat(o, "eventloop_cron", &cron_stat);
    workers *w = vset_pool();
    if (!w) return;
    lat_stat queue, reply;
    workers_counters k;
    workers_wait_stats(w, &queue, &reply, &k);
    print_stat(o, "search_queue_wait", &queue);
    print_stat(o, "search_reply_wait", &reply);
    sbuf_printf(o, "search_thread_wakeups:%llu\r\nsearch_loop_wakeups:%llu\r\n"
                "search_completion_drains:%llu\r\n",
                (unsigned long long)k.thread_wakeups, (unsigned long long)k.loop_wakeups,
                (unsigned long long)k.drains);
}
