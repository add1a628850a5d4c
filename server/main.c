/* main.c -- simcache-server: configuration, start-up, the hz timer,
 * signals and graceful shutdown.
 *
 * Design decisions:
 * 1. Everything runs on one libuv loop (the default loop). The hz timer
 *    (config `hz`, default 10) drives active expiry with a budget of 25% of
 *    its period (Redis's ACTIVE_EXPIRE_CYCLE_SLOW_TIME_PERC), client
 *    timeouts and the ops/sec sampler; CONFIG SET hz takes effect at the
 *    next tick.
 * 2. SIGTERM/SIGINT (uv_signal) and the SHUTDOWN command take the same
 *    path (net_request_shutdown -> begin_shutdown): close the timer and
 *    signal handles, net_stop() with a bounded grace period for flushing
 *    replies, run the loop until no handle is left, free the keyspace, and
 *    require uv_loop_close() == 0 before exiting 0. The signal handles are
 *    closed at once, so a second signal during the grace period takes the
 *    default action and ends the process (an operator's way out).
 *    Embedding providers are stopped first: their pending callbacks run
 *    with PROVIDER_ESHUTDOWN and curl's handles close with the loop.
 * 3. SIGPIPE is ignored process-wide: a peer that vanished surfaces as
 *    EPIPE on the write and closes that client only. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "cache.h"
#include "cache_alias.h"
#include "cmd_handlers.h"
#include "cmd_limit.h"
#include "commands.h"
#include "config.h"
#include "info.h"
#include "kernels/batch.h"
#include "kernels/kernels.h"
#include "keyspace.h"
#include "log.h"
#include "loopmon.h"
#include "metrics_http.h"
#include "net.h"
#include "provider.h"
#include "cache_embed.h"
#include "reqlog.h"
#include "slowlog.h"
#include "stats.h"
#include "tenant.h"
#include "trace.h"
#include "vset.h"
#include "workers.h"

#define SHUTDOWN_GRACE_MS 3000

static uv_loop_t *loop;
static uv_timer_t hz_timer;
static uv_signal_t sig_term, sig_int;
static int shutting_down;
static int current_hz;
static workers *search_pool;

/* The vector-set search pool (workers.c): vset-threads threads, or one per
 * online core; its queue holds 64 jobs per thread before VSIM answers
 * inline (backpressure, workers.c note 3). */
static int start_search_pool(uv_loop_t *l) {
    long n = g_cfg.vset_threads > 0 ? g_cfg.vset_threads : sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    if (n > 256) n = 256;
    int rc = workers_create(l, (unsigned)n, (size_t)n * 64, &search_pool);
    if (rc != 0) {
        log_msg(LL_WARNING, "Cannot start the vector-set search pool: %s", strerror(-rc));
        return -1;
    }
    vset_set_pool(search_pool);
    return 0;
}

/* The Prometheus endpoint (metrics-port, 0 = off) on the same loop. */
static int start_metrics(uv_loop_t *l) {
    if (g_cfg.metrics_port <= 0) return 0;
    int rc = metrics_http_start(l, g_cfg.metrics_bind, g_cfg.metrics_port);
    if (rc != 0) {
        log_msg(LL_WARNING, "Could not create the metrics endpoint %s:%d: %s", g_cfg.metrics_bind,
                g_cfg.metrics_port, uv_strerror(rc));
        return -1;
    }
    log_msg(LL_NOTICE, "Metrics on http://%s:%d/metrics", g_cfg.metrics_bind,
            metrics_http_port());
    return 0;
}

static void hz_cb(uv_timer_t *t) {
    uint64_t t0 = uv_hrtime();
    uint64_t now = net_now_ms();
    int hz = g_cfg.hz > 0 ? g_cfg.hz : 10;
    commands_clock_sync();
    ks_active_expire_cycle((uint64_t)1000000 / (uint64_t)hz / 4);
    cache_cron_tick();   /* cache entries: expiry, eviction (sc/cache) */
    net_cron(now);
    limits_cron();
    stats_sample(now);
    if (hz != current_hz) {
        current_hz = hz;
        uv_timer_set_repeat(t, (uint64_t)(1000 / hz));
    }
    loopmon_cron_ran(uv_hrtime() - t0);
}

static void close_walk_cb(uv_handle_t *h, void *arg) {
    (void)arg;
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

static void begin_shutdown(void) {
    if (shutting_down) return;
    shutting_down = 1;
    log_msg(LL_NOTICE, "Preparing to shut down: closing listeners and flushing replies.");
    uv_timer_stop(&hz_timer);
    uv_close((uv_handle_t *)&hz_timer, NULL);
    loopmon_stop();
    cache_wait_shutdown();   /* answer parked CACHE.GET WAIT, close their timers */
    uv_signal_stop(&sig_term);
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_signal_stop(&sig_int);
    uv_close((uv_handle_t *)&sig_int, NULL);
    provider_stop_all();   /* pending embeddings complete with PROVIDER_ESHUTDOWN */
    trace_stop();   /* the export in flight is aborted, queued spans dropped */
    limits_stop();   /* waiters get their denial before net_stop flushes */
    metrics_http_stop();   /* scrapes in progress are dropped */
    net_stop(SHUTDOWN_GRACE_MS);
}

static void signal_cb(uv_signal_t *s, int signum) {
    (void)s;
    log_msg(LL_WARNING, "Received %s scheduling shutdown...",
            signum == SIGINT ? "SIGINT" : "SIGTERM");
    net_request_shutdown();
}

int main(int argc, char **argv) {
    config_init();
    char err[1024];
    int rc = config_from_argv(argc, argv, err, sizeof err);
    if (rc == 1) return 0;
    if (rc != 0) {
        fprintf(stderr, "\n*** FATAL CONFIG FILE ERROR (simcache %s) ***\n%s\n", SIMCACHE_VERSION,
                err);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    g_stats.start_ms = net_now_ms();
    log_msg(LL_NOTICE, "simcache %s starting, pid=%d", SIMCACHE_VERSION, (int)getpid());
    if (ks_init() != 0 || commands_init() != 0) {
        log_msg(LL_WARNING, "Out of memory during initialisation");
        return 1;
    }
    ks_set_clock(commands_now_ms);
    /* Kernel tier: chosen once, before any thread starts (INFO reports it). */
    const kernels *kt = kernels_init(KTIER_MASK_ALL);
    log_msg(LL_NOTICE, "Similarity kernels: %s (%s)", kt->name, kernels_variant(kt));
    /* OpenBLAS (exact searches, VSIM TRUTH) runs on the calling thread: the
     * search pool already uses every core, and OpenBLAS's own threads would
     * oversubscribe them (kernels/batch.h). */
    batch_set_threads(1);
    loop = uv_default_loop();
    info_register_section("vectorsets", vset_info, 1);
    info_register_section("cache", cache_info, 1);   /* sc/cache */
    info_register_section("canary", canary_info, 1);   /* sc/canary */
    info_register_section("limits", limits_info, 1);
    info_register_section("tracing", trace_info, 1);
    info_register_section("reqlog", reqlog_info, 1);
    info_register_section("eventloop", loopmon_info, 0);   /* INFO eventloop / all */
    /* Embedding providers: curl is initialised here, before any thread. */
    if (provider_start_all(loop, err, sizeof err) != 0) {
        log_msg(LL_WARNING, "%s", err);
        return 1;
    }
    err[0] = 0;
    if (trace_start(loop) != 0 || reqlog_start(err, sizeof err) != 0) {
        log_msg(LL_WARNING, "%s", err[0] ? err : "curl_global_init failed");
        return 1;
    }
    if (start_search_pool(loop) != 0) return 1;
    if (net_start(loop) != 0 || start_metrics(loop) != 0) {
        provider_stop_all();
        vset_set_pool(NULL);
        workers_destroy(search_pool);
        uv_walk(loop, close_walk_cb, NULL);   /* listeners opened so far */
        uv_run(loop, UV_RUN_DEFAULT);
        uv_loop_close(loop);
        ks_shutdown();
        return 1;
    }
    net_set_shutdown_hook(begin_shutdown);
    limits_start(loop);
    current_hz = g_cfg.hz > 0 ? g_cfg.hz : 10;
    uv_timer_init(loop, &hz_timer);
    uv_timer_start(&hz_timer, hz_cb, (uint64_t)(1000 / current_hz), (uint64_t)(1000 / current_hz));
    uv_signal_init(loop, &sig_term);
    uv_signal_start(&sig_term, signal_cb, SIGTERM);
    uv_signal_init(loop, &sig_int);
    uv_signal_start(&sig_int, signal_cb, SIGINT);
    if (loopmon_start(loop) != 0) log_msg(LL_WARNING, "Event loop monitor not started");
    log_msg(LL_NOTICE, "Server initialized");
    if (g_cfg.port > 0)
        log_msg(LL_NOTICE, "Ready to accept connections tcp on %s port %d", g_cfg.bind,
                net_tcp_port());
    if (g_cfg.unixsocket[0])
        log_msg(LL_NOTICE, "Ready to accept connections unix on %s", g_cfg.unixsocket);

    uv_run(loop, UV_RUN_DEFAULT);

    /* Remaining searches finish, their completions run (clients are closed
     * by now: nothing is sent), then the pool's handle is closed. */
    vset_set_pool(NULL);
    workers_destroy(search_pool);
    uv_run(loop, UV_RUN_DEFAULT);
    ks_shutdown();
    alias_shutdown();   /* sc/canary */
    cache_shutdown();
    cache_embed_shutdown();   /* per-tenant embedding caches (sc/nsprov) */
    tenant_shutdown();
    slowlog_free();
    reqlog_stop();
    limits_free();
    rc = uv_loop_close(loop);
    if (rc != 0) {
        log_msg(LL_WARNING, "uv_loop_close: %s (a handle was left open)", uv_strerror(rc));
        return 1;
    }
    log_msg(LL_WARNING, "simcache is now ready to exit, bye bye...");
    return 0;
}
