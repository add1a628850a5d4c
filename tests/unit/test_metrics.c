/* test_metrics.c -- the Prometheus writer (escaping, number formatting,
 * histograms) and the server's exposition after real commands run through
 * a fake client: counters that match the requests made, histogram
 * invariants (cumulative buckets, +Inf == _count, _sum), HELP and TYPE for
 * every family, one TYPE per family, the trailing newline. The checks on
 * the whole exposition are a small validator (check_exposition) written
 * from the text-format rules, because promtool accepts a histogram without
 * +Inf (ecosystem.md 4); tests/integration/test_metrics.py also runs
 * promtool on the real server's output. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "server/cmd_limit.h"
#include "server/commands.h"
#include "server/config.h"
#include "server/keyspace.h"
#include "server/metrics.h"
#include "server/metrics_http.h"
#include "server/net.h"
#include "fake_client.h"

/* ---- the writer ---- */

Test(metrics_writer, label_values_escape_backslash_quote_and_newline) {
    sbuf o = SBUF_INIT;
    metrics_label l[] = {{"cmd", "a\\b\"c\nd"}, {"x", "plain"}};
    metrics_sample_u64(&o, "m_total", l, 2, 7);
    cr_assert_str_eq(sbuf_cstr(&o), "m_total{cmd=\"a\\\\b\\\"c\\nd\",x=\"plain\"} 7\n");
    sbuf_free(&o);
}

Test(metrics_writer, help_escapes_backslash_and_newline_and_type_follows) {
    sbuf o = SBUF_INIT;
    metrics_family(&o, "m", "gauge", "one\\two\nthree \"q\"");
    cr_assert_str_eq(sbuf_cstr(&o), "# HELP m one\\\\two\\nthree \"q\"\n# TYPE m gauge\n");
    sbuf_free(&o);
}

Test(metrics_writer, doubles_are_short_exact_and_special_values_spelled) {
    sbuf o = SBUF_INIT;
    metrics_sample_f(&o, "a", NULL, 0, 0.516);
    metrics_sample_f(&o, "b", NULL, 0, INFINITY);
    metrics_sample_f(&o, "c", NULL, 0, -INFINITY);
    metrics_sample_f(&o, "d", NULL, 0, NAN);
    metrics_sample_f(&o, "e", NULL, 0, 0.1 + 0.2);   /* needs 17 digits */
    metrics_sample_u64(&o, "f", NULL, 0, UINT64_MAX);
    cr_assert_str_eq(sbuf_cstr(&o), "a 0.516\nb +Inf\nc -Inf\nd NaN\ne 0.30000000000000004\n"
                                    "f 18446744073709551615\n");
    sbuf_free(&o);
}

Test(metrics_writer, histogram_buckets_are_cumulative_and_inf_equals_count) {
    sbuf o = SBUF_INIT;
    static const uint64_t bounds[] = {10, 100, 2500000, 10000000};
    static const uint64_t counts[] = {2, 0, 3, 0, 1};   /* last: above 10 s */
    metrics_label l = {"cmd", "set"};
    metrics_histogram(&o, "h_seconds", &l, 1, bounds, 4, counts, 12.5);
    cr_assert_str_eq(sbuf_cstr(&o), "h_seconds_bucket{cmd=\"set\",le=\"0.00001\"} 2\n"
                                    "h_seconds_bucket{cmd=\"set\",le=\"0.0001\"} 2\n"
                                    "h_seconds_bucket{cmd=\"set\",le=\"2.5\"} 5\n"
                                    "h_seconds_bucket{cmd=\"set\",le=\"10\"} 5\n"
                                    "h_seconds_bucket{cmd=\"set\",le=\"+Inf\"} 6\n"
                                    "h_seconds_sum{cmd=\"set\"} 12.5\n"
                                    "h_seconds_count{cmd=\"set\"} 6\n");
    sbuf_free(&o);
}

Test(metrics_writer, histogram_without_labels_has_only_le) {
    sbuf o = SBUF_INIT;
    static const uint64_t bounds[] = {1000000};
    static const uint64_t counts[] = {0, 0};
    metrics_histogram(&o, "h", NULL, 0, bounds, 1, counts, 0);
    cr_assert_str_eq(sbuf_cstr(&o), "h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\n"
                                    "h_count 0\n");
    sbuf_free(&o);
}

/* ---- the HTTP request parser ---- */

static long parse(const char *s, metrics_http_req *r) { return metrics_http_parse(s, strlen(s), r); }

Test(metrics_http, request_split_at_every_byte_is_incomplete_until_the_blank_line) {
    const char *req = "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade"
                      "\r\n\r\nGET /next HTTP/1.1\r\n\r\n";
    size_t first = strstr(req, "GET /next") - req;
    metrics_http_req r;
    for (size_t n = 0; n < first; n++)
        cr_assert_eq(metrics_http_parse(req, n, &r), 0, "prefix of %zu bytes", n);
    cr_assert_eq(metrics_http_parse(req, strlen(req), &r), (long)first);   /* pipelined: first only */
    cr_assert_eq(r.mlen, 3);
    cr_assert_eq(memcmp(r.method, "GET", 3), 0);
    cr_assert_eq(r.plen, strlen("/metrics?x=1"));
    cr_assert_eq(memcmp(r.path, "/metrics?x=1", r.plen), 0);
    cr_assert_eq(r.minor, 1);
    cr_assert(r.conn_keep_alive && !r.conn_close && !r.has_body);
}

Test(metrics_http, bare_lf_line_ends_are_accepted) {
    metrics_http_req r;
    const char *req = "HEAD /metrics HTTP/1.0\nConnection: close\n\n";
    cr_assert_eq(parse(req, &r), (long)strlen(req));
    cr_assert_eq(r.minor, 0);
    cr_assert(r.conn_close);
}

Test(metrics_http, malformed_request_lines_and_headers_are_rejected) {
    static const char *const bad[] = {
        "GARBAGE\r\n\r\n", " GET /metrics HTTP/1.1\r\n\r\n", "GET  HTTP/1.1\r\n\r\n",
        "GET /metrics HTTP/2.0\r\n\r\n", "GET /metrics HTTP/1.1x\r\n\r\n",
        "GET /metrics http/1.1\r\n\r\n", "GET /metrics HTTP/1.1\r\nno colon\r\n\r\n",
        "GET /metrics HTTP/1.1\r\n: empty name\r\n\r\n", "\r\n\r\n"};
    metrics_http_req r;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(parse(bad[i], &r), -1, "accepted: %s", bad[i]);
}

Test(metrics_http, connection_tokens_and_bodies_are_recognised) {
    metrics_http_req r;
    cr_assert_gt(parse("GET / HTTP/1.1\r\nconnection: Close\r\n\r\n", &r), 0);
    cr_assert(r.conn_close);
    cr_assert_gt(parse("GET / HTTP/1.1\r\nConnection: closed\r\n\r\n", &r), 0);
    cr_assert(!r.conn_close, "'closed' is not the token 'close'");
    cr_assert_gt(parse("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &r), 0);
    cr_assert(!r.has_body);
    cr_assert_gt(parse("GET / HTTP/1.1\r\nContent-Length: 12\r\n\r\n", &r), 0);
    cr_assert(r.has_body);
    cr_assert_gt(parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &r), 0);
    cr_assert(r.has_body);
}

/* ---- the server's exposition ---- */

static client *c;

static void setup(void) {
    kernels_init(KTIER_MASK_ALL);
    c = fake_client_start();
    commands_reset_stats();
}

static void teardown(void) { fake_client_stop(c); }

TestSuite(metrics_render, .init = setup, .fini = teardown);

static void run(const char *req) {
    cr_assert_eq(client_feed(c, req, strlen(req)), 0, "request %s", req);
    client_output_clear(c);
}

static char *render(void) {
    sbuf o = SBUF_INIT;
    metrics_render(&o);
    cr_assert_eq(o.oom, 0);
    size_t len;
    return sbuf_steal(&o, &len);
}

/* The value of the sample whose line starts with `series ` (exact series
 * text, labels included), or -1 if absent. */
static double sample(const char *text, const char *series) {
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ') return strtod(p + n + 1, NULL);
    return -1;
}

#define MAX_FAM 256
typedef struct fam {
    char name[128], type[16];
    int help, samples;
} fam;

static fam *fam_find(fam *f, int n, const char *name, size_t len) {
    for (int i = 0; i < n; i++)
        if (strlen(f[i].name) == len && strncmp(f[i].name, name, len) == 0) return &f[i];
    return NULL;
}

/* The family a sample name belongs to: itself, or for histograms and
 * summaries the name without _bucket/_sum/_count. */
static fam *owner(fam *f, int n, const char *name, size_t len) {
    fam *x = fam_find(f, n, name, len);
    if (x) return x;
    static const char *const suf[] = {"_bucket", "_sum", "_count"};
    for (int i = 0; i < 3; i++) {
        size_t sl = strlen(suf[i]);
        if (len > sl && strncmp(name + len - sl, suf[i], sl) == 0) {
            x = fam_find(f, n, name, len - sl);
            if (x && (strcmp(x->type, "histogram") == 0 || strcmp(x->type, "summary") == 0) &&
                (i != 0 || strcmp(x->type, "histogram") == 0))
                return x;
        }
    }
    return NULL;
}

/* Format rules: text ends in "\n"; each family has HELP then TYPE exactly
 * once, before its samples; every sample belongs to the family announced
 * last; every family has at least one sample unless it is per-entity
 * (providers may be none); names are snake_case; counters end in _total. */
static void check_exposition(const char *text) {
    static fam f[MAX_FAM];
    int nf = 0;
    size_t tl = strlen(text);
    cr_assert(tl > 0 && text[tl - 1] == '\n', "exposition must end in a newline");
    fam *cur = NULL;
    for (const char *p = text; *p;) {
        const char *eol = strchr(p, '\n');
        cr_assert_not_null(eol);
        if (strncmp(p, "# HELP ", 7) == 0) {
            const char *ne = strchr(p + 7, ' ');
            size_t len = (size_t)(ne - p - 7);
            cr_assert_null(fam_find(f, nf, p + 7, len), "HELP twice: %.*s", (int)len, p + 7);
            cr_assert_lt(nf, MAX_FAM);
            cur = &f[nf++];
            memset(cur, 0, sizeof *cur);
            snprintf(cur->name, sizeof cur->name, "%.*s", (int)len, p + 7);
            cur->help = 1;
            for (const char *q = cur->name; *q; q++)
                cr_assert((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '_',
                          "not snake_case: %s", cur->name);
        } else if (strncmp(p, "# TYPE ", 7) == 0) {
            cr_assert_not_null(cur, "TYPE before HELP");
            char want[160];
            snprintf(want, sizeof want, "# TYPE %s ", cur->name);
            cr_assert_eq(strncmp(p, want, strlen(want)), 0, "TYPE does not follow its HELP");
            cr_assert_str_eq(cur->type, "", "TYPE twice for %s", cur->name);
            snprintf(cur->type, sizeof cur->type, "%.*s", (int)(eol - p - strlen(want)),
                     p + strlen(want));
            if (strcmp(cur->type, "counter") == 0) {
                size_t nl = strlen(cur->name);
                cr_assert(nl > 6 && strcmp(cur->name + nl - 6, "_total") == 0,
                          "counter without _total: %s", cur->name);
            }
        } else {
            cr_assert_neq(*p, '#', "unexpected comment line");
            size_t len = strcspn(p, "{ ");
            fam *o = owner(f, nf, p, len);
            cr_assert(o != NULL && o == cur, "sample outside its family: %.*s",
                      (int)(eol - p), p);
            cr_assert_str_neq(o->type, "");
            o->samples++;
            char *end;
            const char *v = eol;
            while (v > p && v[-1] != ' ') v--;
            if (strncmp(v, "NaN", 3) && strncmp(v, "+Inf", 4) && strncmp(v, "-Inf", 4)) {
                strtod(v, &end);
                cr_assert_eq(end, eol, "bad value in %.*s", (int)(eol - p), p);
            }
        }
        p = eol + 1;
    }
}

/* For every histogram series of `name` in text: buckets are non-decreasing,
 * the last is le="+Inf" and equals _count. Returns the number of series. */
static int check_histograms(const char *text, const char *name) {
    char bucket[160];
    snprintf(bucket, sizeof bucket, "%s_bucket{", name);
    int series = 0;
    double prev = -1;
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, bucket, strlen(bucket)) != 0) continue;
        const char *le = strstr(p, "le=\"");
        cr_assert_not_null(le);
        double v = strtod(strchr(le, '}') + 2, NULL);
        cr_assert_geq(v, prev, "buckets not cumulative at %.60s", p);
        prev = v;
        if (strncmp(le, "le=\"+Inf\"}", 10) == 0) {
            /* the _count line of the same labels follows the _sum line */
            const char *cnt = strstr(p, "_count{");
            cr_assert_not_null(cnt);
            cr_assert_eq(strtod(strchr(cnt, '}') + 2, NULL), v, "+Inf != _count near %.60s", p);
            series++;
            prev = -1;
        }
    }
    return series;
}

Test(metrics_render, counters_match_the_commands_run) {
    for (int i = 0; i < 37; i++) run("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
    run("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    run("*2\r\n$3\r\nGET\r\n$4\r\nnone\r\n");
    run("*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n");          /* not an integer: failed */
    run("*1\r\n$3\r\nGET\r\n");                      /* arity: rejected */
    run("*2\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n");      /* config|get arity: rejected */
    run("*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$2\r\nhz\r\n");
    char *t = render();
    cr_assert_eq(sample(t, "simcache_commands_total{cmd=\"set\"}"), 37);
    cr_assert_eq(sample(t, "simcache_commands_total{cmd=\"get\"}"), 2);
    cr_assert_eq(sample(t, "simcache_command_rejected_total{cmd=\"get\"}"), 1);
    cr_assert_eq(sample(t, "simcache_command_errors_total{cmd=\"incr\"}"), 1);
    cr_assert_eq(sample(t, "simcache_command_errors_total{cmd=\"set\"}"), 0);
    cr_assert_eq(sample(t, "simcache_commands_total{cmd=\"config|get\"}"), 1);
    cr_assert_eq(sample(t, "simcache_command_rejected_total{cmd=\"config|get\"}"), 1);
    cr_assert_eq(sample(t, "simcache_command_duration_seconds_count{cmd=\"set\"}"), 37);
    cr_assert_eq(sample(t, "simcache_command_duration_seconds_bucket{cmd=\"set\",le=\"+Inf\"}"), 37);
    cr_assert_geq(sample(t, "simcache_command_duration_seconds_sum{cmd=\"set\"}"), 0);
    cr_assert_eq(sample(t, "simcache_keys"), 1);
    cr_assert_eq(sample(t, "simcache_keyspace_hits_total"), 1, "hits %f",
                 sample(t, "simcache_keyspace_hits_total"));   /* GET k (INCR looks up for write: not counted, as Redis) */
    cr_assert_eq(sample(t, "simcache_keyspace_misses_total"), 1, "misses %f",
                 sample(t, "simcache_keyspace_misses_total"));
    cr_assert_eq(sample(t, "simcache_up"), 1);
    cr_assert_eq(sample(t, "simcache_commands_processed_total"), 41);
    cr_assert_eq(sample(t, "simcache_command_duration_seconds_count{cmd=\"ping\"}"), -1,
                 "commands never called have no series");
    /* get: 2 calls (the rejected one never ran the handler) */
    cr_assert_eq(check_histograms(t, "simcache_command_duration_seconds"), 4);
    check_exposition(t);
    free(t);
}

/* The rate-limit families come from limits_get_stats (typed), which must
 * agree with what the commands did and with INFO limits. */
Test(metrics_render, rate_limit_families_follow_limit_take) {
    run("LIMIT.SET b RATE 1 PER 60 BURST 2\r\n");
    for (int i = 0; i < 5; i++) run("LIMIT.TAKE b\r\n");      /* 2 granted, 3 denied */
    run("CL.THROTTLE k 5 10 60\r\n");
    rl_stats st;
    limits_get_stats(&st);
    cr_assert_eq(st.buckets, 1);
    cr_assert_eq(st.granted, 2);
    cr_assert_eq(st.denied, 3);
    cr_assert_eq(st.cells, 1);
    char *t = render();
    cr_assert_eq(sample(t, "simcache_ratelimit_buckets"), 1);
    cr_assert_eq(sample(t, "simcache_ratelimit_requests_total{outcome=\"granted\"}"), 2);
    cr_assert_eq(sample(t, "simcache_ratelimit_requests_total{outcome=\"denied\"}"), 3);
    cr_assert_eq(sample(t, "simcache_ratelimit_requests_total{outcome=\"timed_out\"}"), 0);
    cr_assert_eq(sample(t, "simcache_ratelimit_queue_depth"), 0);
    cr_assert_eq(sample(t, "simcache_ratelimit_throttle_cells"), 1);
    check_exposition(t);
    free(t);
    sbuf info = SBUF_INIT;
    limits_info(&info);
    cr_assert_not_null(strstr(sbuf_cstr(&info), "limit_granted:2\r\nlimit_denied:3\r\n"), "%s",
                       sbuf_cstr(&info));
    sbuf_free(&info);
    limits_free();
}

Test(metrics_render, every_family_has_help_type_and_ends_in_newline_when_idle) {
    char *t = render();
    check_exposition(t);
    cr_assert_eq(check_histograms(t, "simcache_command_duration_seconds"), 0);
    cr_assert_neq(strstr(t, "simcache_build_info{version=\"" SIMCACHE_VERSION "\",kernel_tier=\""),
                  NULL);
    free(t);
}

Test(metrics_render, config_resetstat_zeroes_the_histograms) {
    run("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
    run("*2\r\n$6\r\nCONFIG\r\n$9\r\nRESETSTAT\r\n");
    char *t = render();
    /* only config|resetstat itself, counted after the reset */
    cr_assert_eq(sample(t, "simcache_commands_total{cmd=\"set\"}"), -1);
    cr_assert_eq(sample(t, "simcache_command_duration_seconds_count{cmd=\"config|resetstat\"}"), 1);
    cr_assert_eq(check_histograms(t, "simcache_command_duration_seconds"), 1);
    check_exposition(t);
    free(t);
}
