/* metrics.h -- Prometheus text exposition (format 0.0.4): a small writer
 * for metric families, samples and histograms, and metrics_render(), which
 * collects the server's statistics into one exposition.
 *
 * The writer appends to an sbuf (sticky `oom`: check once at the end). It
 * does not check that a family is announced once or that samples follow
 * their family: metrics_render() is the only producer and its families are
 * fixed in code; tests/unit/test_metrics.c and the integration test (which
 * runs `promtool check metrics`) check the output.
 *
 * Threading: metrics_render() reads loop-thread-only state (g_stats, the
 * keyspace, command stats): call it on the loop thread only. The writer
 * functions touch nothing but their sbuf and may be used from any thread. */
#ifndef SIMCACHE_METRICS_H
#define SIMCACHE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"


/* One label: name (a valid Prometheus label name, not checked) and value
 * (any bytes; escaped on output). */
typedef struct metrics_label {
    const char *name;
    const char *value;   /* NUL-terminated */
} metrics_label;

/* "# HELP name help\n# TYPE name type\n". type is "counter", "gauge",
 * "histogram", "summary" or "untyped"; help is escaped (backslash, newline). */
void metrics_family(sbuf *o, const char *name, const char *type, const char *help);

/* Appends v escaped as a label value: backslash -> \\, '"' -> \", newline
 * -> \n; other bytes as they are. */
void metrics_escape_label(sbuf *o, const char *v);

/* "name{l1="v1",...} value\n" (no braces when nl == 0). The _u64 form prints
 * an exact integer, the _f form a double ("NaN", "+Inf", "-Inf" for the
 * special values, otherwise the shorter of %.15g and %.17g that
 * round-trips). */
void metrics_sample_u64(sbuf *o, const char *name, const metrics_label *l, int nl, uint64_t v);
void metrics_sample_f(sbuf *o, const char *name, const metrics_label *l, int nl, double v);

/* One histogram series: name_bucket{...,le="b"} for each bound (cumulative
 * counts), le="+Inf" equal to the total, name_sum and name_count. bounds_us
 * are nb ascending upper bounds in microseconds, printed in seconds;
 * counts holds nb + 1 per-bucket (non-cumulative) counts, the last for
 * values above every bound. sum_seconds is the sum of observed values. The
 * family line is the caller's (metrics_family with "histogram"). */
void metrics_histogram(sbuf *o, const char *name, const metrics_label *l, int nl,
                       const uint64_t *bounds_us, int nb, const uint64_t *counts,
                       double sum_seconds);

/* Appends the whole exposition of the server's state to o (loop thread
 * only; see the family list in metrics.c and the README). The text ends in
 * "\n". On allocation failure o->oom is set and the content is truncated:
 * the caller answers 500 rather than a partial exposition. */
void metrics_render(sbuf *o);

/* Scrapes served (metrics_http.c counts; the exposition reports it). */
extern uint64_t g_metrics_scrapes;

#endif
