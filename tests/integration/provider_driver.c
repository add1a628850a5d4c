/* provider_driver.c -- drives server/provider.c the way the cache will: a
 * libuv loop, one configured provider, many concurrent embed calls.
 *
 * Usage: provider_driver [--concurrency C] [--per-call K] [--cancel-every M]
 *                        [--quiet] -- <provider config arguments...>
 * The provider arguments are those of a `provider` config line (name first)
 * and go through config_load_string, so the config hook is exercised too.
 * Texts come from stdin, one per line. Each call embeds K consecutive texts;
 * C calls are outstanding at any time. --pause-after K --pause-ms M: once
 * the first K texts have completed, wait M ms before starting the rest
 * (breaker cool-down tests). --no-stall-timer: no 1 ms timer (benchmarks:
 * its wake-ups would be charged to the provider's CPU time). Output: JSON lines on stdout, one
 * per text ({"i","ok","dim","tokens","ms","v"} or {"i","ok":false,"code",
 * "err"}; "v" is the whole vector when dim <= 16, else its first 4 values),
 * then one summary line with "stall_ms_max" (the largest delay of a 1 ms
 * repeating timer beyond its period, minus the time the OS kept the thread
 * waiting for a CPU: proves the loop never blocked; see stall_cb),
 * CPU time (getrusage, whole process, between the first call and the last
 * completion), the provider's INFO line and "loop_close" (uv_loop_close
 * result after shutdown; must be 0). Exit status 0 unless something the
 * driver itself checks went wrong (callback after cancel, bad config). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

#include "server/config.h"
#include "server/provider.h"
#include "server/sbuf.h"

typedef struct call {
    size_t first, n;       /* texts [first, first + n) */
    uint64_t t0;
    int cancelled;
    struct call *next;     /* list of cancelled calls, freed at exit */
} call;

static uv_loop_t *loop;
static provider *prov;
static char **texts;
static size_t *lens;
static size_t ntexts, next_text, per_call = 1, outstanding, concurrency = 16;
static size_t cancel_every, ncalls, nok, nfail, ncancelled;
static int quiet, bug, no_stall;
static call *cancelled_calls;
static size_t pause_after, pause_ms;   /* --pause-after K --pause-ms M */
static int paused;                     /* 1 while waiting, 2 after */
static uv_timer_t pause_timer;
static uv_timer_t stall_timer, stop_idle;
static uint64_t last_tick, last_delay, stall_max_ns, stall_wall_ns;
static int schedfd = -1;
static struct rusage ru0;
static uint64_t wall0;

static void start_calls(void);

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f), fputc(*s, f);
        else if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", *s);
        else fputc(*s, f);
    }
    fputc('"', f);
}

static void done_cb(void *ud, int status, const float *vecs, size_t n, int dim, long long tokens,
                    const char *msg) {
    call *c = ud;
    if (c->cancelled) bug = 1;   /* contract: never after provider_cancel */
    double ms = (double)(uv_hrtime() - c->t0) / 1e6;
    for (size_t k = 0; k < n; k++) {
        if (status == 0) nok++;
        else nfail++;
        if (quiet) continue;
        if (status == 0) {
            printf("{\"i\":%zu,\"ok\":true,\"dim\":%d,\"tokens\":%lld,\"ms\":%.1f,\"v\":[", c->first + k,
                   dim, k == 0 ? tokens : 0, ms);
            int show = dim <= 16 ? dim : 4;
            for (int j = 0; j < show; j++) printf("%s%.9g", j ? "," : "", vecs[k * (size_t)dim + (size_t)j]);
            printf("]}\n");
        } else {
            printf("{\"i\":%zu,\"ok\":false,\"code\":%d,\"ms\":%.1f,\"err\":", c->first + k, status, ms);
            json_str(stdout, msg);
            printf("}\n");
        }
    }
    free(c);
    outstanding--;
    start_calls();
}

static void finish(void);

static void pause_cb(uv_timer_t *t) {
    uv_close((uv_handle_t *)t, NULL);
    paused = 2;
    start_calls();
}

static void start_calls(void) {
    if (paused == 1) return;
    while (outstanding < concurrency && next_text < ntexts) {
        if (pause_after && next_text == pause_after && paused == 0) {
            if (outstanding) return;   /* the pause starts once the first part is done */
            paused = 1;
            uv_timer_init(loop, &pause_timer);
            uv_timer_start(&pause_timer, pause_cb, pause_ms, 0);
            return;
        }
        call *c = calloc(1, sizeof *c);
        c->first = next_text;
        c->n = ntexts - next_text < per_call ? ntexts - next_text : per_call;
        c->t0 = uv_hrtime();
        next_text += c->n;
        ncalls++;
        provider_req *h;
        char err[256];
        int rc = provider_embed(prov, (const char *const *)texts + c->first, lens + c->first, c->n,
                                done_cb, c, &h, err, sizeof err);
        if (rc != 0) {
            for (size_t k = 0; k < c->n; k++) {
                nfail++;
                if (quiet) continue;
                printf("{\"i\":%zu,\"ok\":false,\"code\":%d,\"immediate\":true,\"err\":", c->first + k, rc);
                json_str(stdout, err);
                printf("}\n");
            }
            free(c);
            continue;
        }
        if (cancel_every && ncalls % cancel_every == 0) {
            provider_cancel(h);
            c->cancelled = 1;
            c->next = cancelled_calls;
            cancelled_calls = c;
            ncancelled += c->n;
            if (!quiet)
                for (size_t k = 0; k < c->n; k++) printf("{\"i\":%zu,\"cancelled\":true}\n", c->first + k);
            /* the callback must never run; keep c alive to detect it */
            continue;
        }
        outstanding++;
    }
    if (outstanding == 0 && next_text >= ntexts) finish();
}

/* Time this thread spent runnable but waiting for a CPU (ns), from
 * /proc/self/schedstat's second field; 0 if unavailable. */
static uint64_t run_delay_ns(void) {
    char buf[128];
    if (schedfd < 0) return 0;
    ssize_t n = pread(schedfd, buf, sizeof buf - 1, 0);
    if (n <= 0) return 0;
    buf[n] = '\0';
    unsigned long long run, delay;
    return sscanf(buf, "%llu %llu", &run, &delay) == 2 ? delay : 0;
}

/* A stall is the gap between ticks beyond the 1 ms period. On this shared
 * 2-core machine the OS alone delays a runnable process by tens of ms, so
 * the reported stall subtracts the run-queue wait (schedstat): what is
 * left is time the loop thread ran or slept inside a callback, which is
 * what a blocking call in the provider would show as. The raw wall-clock
 * figure is reported too (stall_wall_ms_max). */
static void stall_cb(uv_timer_t *t) {
    (void)t;
    uint64_t now = uv_hrtime(), rd = run_delay_ns();
    if (last_tick) {
        uint64_t gap = now - last_tick, waited = rd - last_delay;
        if (gap > 1000000 && gap - 1000000 > stall_wall_ns) stall_wall_ns = gap - 1000000;
        uint64_t own = gap > waited ? gap - waited : 0;
        if (own > 1000000 && own - 1000000 > stall_max_ns) stall_max_ns = own - 1000000;
    }
    last_tick = now;
    last_delay = rd;
}

static void idle_stop_cb(uv_timer_t *t) {
    /* cancelled calls' inputs may still be in flight: let them land so
     * a late callback would be seen, then shut down */
    uv_close((uv_handle_t *)t, NULL);
    uv_timer_stop(&stall_timer);
    uv_close((uv_handle_t *)&stall_timer, NULL);
    provider_stop_all();
}

static void finish(void) {
    static int finished;
    if (finished) return;
    finished = 1;
    struct rusage ru1;
    getrusage(RUSAGE_SELF, &ru1);
    double user_us = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) * 1e6 +
                     (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec);
    double sys_us = (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) * 1e6 +
                    (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec);
    sbuf info = SBUF_INIT;
    provider_info(&info);
    const char *line = strstr(sbuf_cstr(&info), "\r\n");
    line = line ? line + 2 : "";
    char *end = strstr(line, "\r\n");
    if (end) *end = '\0';
    printf("{\"done\":true,\"n\":%zu,\"ok\":%zu,\"failed\":%zu,\"cancelled\":%zu,\"stall_ms_max\":%.2f,"
           "\"stall_wall_ms_max\":%.2f,\"cpu_user_us\":%.0f,\"cpu_sys_us\":%.0f,\"wall_ms\":%.1f,\"queue\":%zu,\"info\":",
           ntexts, nok, nfail, ncancelled, (double)stall_max_ns / 1e6, (double)stall_wall_ns / 1e6, user_us, sys_us,
           (double)(uv_hrtime() - wall0) / 1e6, provider_queue_depth(prov));
    json_str(stdout, line);
    printf("}\n");
    fflush(stdout);
    sbuf_free(&info);
    uv_timer_init(loop, &stop_idle);
    uv_timer_start(&stop_idle, idle_stop_cb, ncancelled ? 300 : 0, 0);
}

static void read_texts(void) {
    size_t cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t n;
    while ((n = getline(&line, &lcap, stdin)) > 0) {
        if (line[n - 1] == '\n') line[--n] = '\0';
        if (n == 0) continue;
        if (ntexts == cap) {
            cap = cap ? cap * 2 : 256;
            texts = realloc(texts, cap * sizeof *texts);
            lens = realloc(lens, cap * sizeof *lens);
        }
        texts[ntexts] = strdup(line);
        lens[ntexts++] = (size_t)n;
    }
    free(line);
}

int main(int argc, char **argv) {
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--"); i++) {
        if (!strcmp(argv[i], "--concurrency") && i + 1 < argc) concurrency = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--per-call") && i + 1 < argc) per_call = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--cancel-every") && i + 1 < argc) cancel_every = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--quiet")) quiet = 1;
        else if (!strcmp(argv[i], "--no-stall-timer")) no_stall = 1;
        else if (!strcmp(argv[i], "--pause-after") && i + 1 < argc) pause_after = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--pause-ms") && i + 1 < argc) pause_ms = strtoul(argv[++i], NULL, 10);
        else return fprintf(stderr, "unknown option %s\n", argv[i]), 2;
    }
    if (i + 2 >= argc || concurrency == 0 || per_call == 0)
        return fprintf(stderr, "usage: provider_driver [options] -- <name> <kind> <url> [opt val]...\n"), 2;
    sbuf line = SBUF_INIT;
    sbuf_puts(&line, "provider");
    for (int k = i + 1; k < argc; k++) sbuf_printf(&line, " \"%s\"", argv[k]);
    config_init();
    char err[1024];
    if (config_load_string(sbuf_cstr(&line), "argv", err, sizeof err) != 0)
        return sbuf_free(&line), fprintf(stderr, "config: %s\n", err), 2;
    sbuf_free(&line);
    loop = uv_default_loop();
    if (provider_start_all(loop, err, sizeof err) != 0) return fprintf(stderr, "start: %s\n", err), 2;
    prov = provider_find(argv[i + 1]);
    read_texts();
    uv_timer_init(loop, &stall_timer);
    schedfd = open("/proc/self/schedstat", O_RDONLY | O_CLOEXEC);
    if (!no_stall) uv_timer_start(&stall_timer, stall_cb, 1, 1);
    getrusage(RUSAGE_SELF, &ru0);
    wall0 = uv_hrtime();
    start_calls();
    uv_run(loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(loop);
    if (schedfd >= 0) close(schedfd);
    printf("{\"loop_close\":%d,\"bug\":%d}\n", rc, bug);
    while (cancelled_calls) {
        call *c = cancelled_calls;
        cancelled_calls = c->next;
        free(c);
    }
    for (size_t k = 0; k < ntexts; k++) free(texts[k]);
    free(texts);
    free(lens);
    return rc != 0 || bug ? 1 : 0;
}
