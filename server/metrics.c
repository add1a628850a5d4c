/* metrics.c -- the Prometheus exposition of the server's statistics.
 *
 * Design decisions:
 * 1. No registry of metric objects: every family is written by code that
 *    reads the counters the modules already keep (g_stats, the keyspace,
 *    command stats, vector-set counters, providers, rate limits). A scrape
 *    therefore costs one pass over existing state, with no second copy of
 *    any counter to keep in sync and no cost on the command path beyond the
 *    histogram bucket commands.c increments.
 * 2. Names follow the Prometheus conventions: snake_case, prefix
 *    `simcache_`, base units (`_seconds`, `_bytes`), counters end in
 *    `_total`, every family has HELP and TYPE. Internal microsecond
 *    counters are converted to seconds when written.
 * 3. Per-command series exist only for commands that were called (or
 *    rejected) at least once, so the exposition stays small; the label set
 *    is bounded by the command table. CONFIG RESETSTAT resets them, which
 *    Prometheus's rate() treats as a counter reset.
 * 4. Providers and rate limits keep their counters private to their
 *    modules (provider.c, cmd_limit.c) and hand out typed copies
 *    (provider_get_snapshot, limits_get_stats), the same values their INFO
 *    sections print. (This file used to parse those INFO sections; a
 *    renamed field then silently dropped a series.) The keyspace hit/miss
 *    counters and the cache's pending fills are still read from INFO text
 *    (info_u64), whose field names are the documented contract of INFO.
 * 5. Label values are escaped as the format requires (backslash, double
 *    quote, newline); HELP text escapes backslash and newline.
 * 6. Cardinality: tenant and namespace names come from clients, so the
 *    semantic-cache families carry at most metrics-max-label-sets (config,
 *    default 1000) label sets (namespaces, and tenants, in list order); the
 *    rest are
 *    summed into one series labelled "_other", so totals stay exact and a
 *    client creating namespaces cannot blow up the exposition. */
#include "metrics.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "cache_alias.h"
#include "reqlog.h"
#include "trace.h"
#include "cmd_handlers.h"
#include "cmd_limit.h"
#include "commands.h"
#include "config.h"
#include "kernels/kernels.h"
#include "keyspace.h"
#include "mem.h"
#include "metrics_http.h"
#include "net.h"
#include "provider.h"
#include "stats.h"
#include "tenant.h"
#include "vset.h"
#include "workers.h"

uint64_t g_metrics_scrapes;

/* ---- the writer ---- */

static void escape_help(sbuf *o, const char *s) {
    const char *run = s;
    for (; *s; s++) {
        if (*s != '\\' && *s != '\n') continue;
        sbuf_append(o, run, (size_t)(s - run));
        sbuf_puts(o, *s == '\\' ? "\\\\" : "\\n");
        run = s + 1;
    }
    sbuf_append(o, run, (size_t)(s - run));
}

void metrics_family(sbuf *o, const char *name, const char *type, const char *help) {
    sbuf_printf(o, "# HELP %s ", name);
    escape_help(o, help);
    sbuf_printf(o, "\n# TYPE %s %s\n", name, type);
}

void metrics_escape_label(sbuf *o, const char *v) {
    const char *run = v;
    for (; *v; v++) {
        const char *rep = *v == '\\' ? "\\\\" : *v == '"' ? "\\\"" : *v == '\n' ? "\\n" : NULL;
        if (rep == NULL) continue;
        sbuf_append(o, run, (size_t)(v - run));
        sbuf_puts(o, rep);
        run = v + 1;
    }
    sbuf_append(o, run, (size_t)(v - run));
}

/* name{labels[,extra_name="extra_value"]} followed by a space. */
static void series_head(sbuf *o, const char *name, const metrics_label *l, int nl,
                        const char *extra_name, const char *extra_value) {
    sbuf_puts(o, name);
    if (nl > 0 || extra_name) {
        sbuf_append(o, "{", 1);
        for (int i = 0; i < nl; i++) {
            sbuf_printf(o, "%s%s=\"", i ? "," : "", l[i].name);
            metrics_escape_label(o, l[i].value);
            sbuf_append(o, "\"", 1);
        }
        if (extra_name) {
            sbuf_printf(o, "%s%s=\"", nl ? "," : "", extra_name);
            metrics_escape_label(o, extra_value);
            sbuf_append(o, "\"", 1);
        }
        sbuf_append(o, "}", 1);
    }
    sbuf_append(o, " ", 1);
}

static void put_double(sbuf *o, double v) {
    if (isnan(v)) sbuf_puts(o, "NaN");
    else if (isinf(v)) sbuf_puts(o, v > 0 ? "+Inf" : "-Inf");
    else {
        /* The shortest of %.15g / %.17g that reads back as v: 0.516, not
         * 0.51600000000000001. */
        char buf[40];
        snprintf(buf, sizeof buf, "%.15g", v);
        if (strtod(buf, NULL) != v) snprintf(buf, sizeof buf, "%.17g", v);
        sbuf_puts(o, buf);
    }
}

void metrics_sample_u64(sbuf *o, const char *name, const metrics_label *l, int nl, uint64_t v) {
    series_head(o, name, l, nl, NULL, NULL);
    sbuf_printf(o, "%llu\n", (unsigned long long)v);
}

void metrics_sample_f(sbuf *o, const char *name, const metrics_label *l, int nl, double v) {
    series_head(o, name, l, nl, NULL, NULL);
    put_double(o, v);
    sbuf_append(o, "\n", 1);
}

/* Microseconds as decimal seconds without exponent or trailing zeros:
 * 10 -> "0.00001", 2500000 -> "2.5", 10000000 -> "10". */
static void us_to_seconds_str(uint64_t us, char *buf, size_t cap) {
    snprintf(buf, cap, "%llu.%06llu", (unsigned long long)(us / 1000000),
             (unsigned long long)(us % 1000000));
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == '0') buf[--n] = '\0';
    if (n > 0 && buf[n - 1] == '.') buf[--n] = '\0';
}

void metrics_histogram(sbuf *o, const char *name, const metrics_label *l, int nl,
                       const uint64_t *bounds_us, int nb, const uint64_t *counts,
                       double sum_seconds) {
    char series[128], le[32];
    uint64_t cum = 0;
    snprintf(series, sizeof series, "%s_bucket", name);
    for (int i = 0; i < nb; i++) {
        cum += counts[i];
        us_to_seconds_str(bounds_us[i], le, sizeof le);
        series_head(o, series, l, nl, "le", le);
        sbuf_printf(o, "%llu\n", (unsigned long long)cum);
    }
    cum += counts[nb];
    series_head(o, series, l, nl, "le", "+Inf");
    sbuf_printf(o, "%llu\n", (unsigned long long)cum);
    snprintf(series, sizeof series, "%s_sum", name);
    metrics_sample_f(o, series, l, nl, sum_seconds);
    snprintf(series, sizeof series, "%s_count", name);
    metrics_sample_u64(o, series, l, nl, cum);
}

/* A family with one unlabelled sample. */
static void one_u64(sbuf *o, const char *name, const char *type, const char *help, uint64_t v) {
    metrics_family(o, name, type, help);
    metrics_sample_u64(o, name, NULL, 0, v);
}

static void one_f(sbuf *o, const char *name, const char *type, const char *help, double v) {
    metrics_family(o, name, type, help);
    metrics_sample_f(o, name, NULL, 0, v);
}

/* One sample of a by_label_u64 family: the label's value and the count. */
typedef struct labelled_u64 {
    const char *value;
    uint64_t n;
} labelled_u64;

/* A family of n samples that differ only by the value of label `key`
 * (e.g. reason="timeout"), written in array order. */
static void by_label_u64(sbuf *o, const char *name, const char *type, const char *help,
                         const char *key, const labelled_u64 *v, int n) {
    metrics_family(o, name, type, help);
    for (int i = 0; i < n; i++)
        metrics_sample_u64(o, name, &(metrics_label){key, v[i].value}, 1, v[i].n);
}

/* ---- reading INFO sections (design note 4) ---- */

/* Value of "key:<number>" at the start of a line of text. 0 if absent. */
static uint64_t info_u64(const char *text, const char *key) {
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, key, kl) == 0 && p[kl] == ':') return strtoull(p + kl + 1, NULL, 10);
    return 0;
}

/* ---- server, clients ---- */

static void render_server(sbuf *o) {
    uint64_t now = net_now_ms();
    one_u64(o, "simcache_up", "gauge", "1 while the server answers scrapes.", 1);
    one_f(o, "simcache_uptime_seconds", "gauge", "Seconds since the server started.",
          now > g_stats.start_ms ? (double)(now - g_stats.start_ms) / 1000.0 : 0.0);
    one_f(o, "simcache_start_time_seconds", "gauge", "Start time of the server, unix seconds.",
          (double)g_stats.start_ms / 1000.0);
    metrics_family(o, "simcache_build_info", "gauge",
                   "Always 1; labels: version, similarity kernel tier, allocator.");
    metrics_label bl[] = {{"version", SIMCACHE_VERSION},
                          {"kernel_tier", kernels_get()->name},
                          {"allocator", mem_allocator()}};
    metrics_sample_u64(o, "simcache_build_info", bl, 3, 1);
    one_u64(o, "simcache_metrics_scrapes_total", "counter",
            "Requests for /metrics served, this one included.", g_metrics_scrapes);
    one_u64(o, "simcache_metrics_connections", "gauge",
            "Connections open on the metrics port, this one included.",
            (uint64_t)metrics_http_connections());
}

static void render_clients(sbuf *o) {
    one_u64(o, "simcache_clients_connected", "gauge", "Redis-protocol clients connected.",
            (uint64_t)net_clients_count());
    one_u64(o, "simcache_clients_blocked", "gauge",
            "Clients parked on a pending operation (search, embedding, rate-limit wait).",
            (uint64_t)net_blocked_count());
    one_u64(o, "simcache_connections_total", "counter", "Connections accepted.",
            g_stats.total_connections_received);
    const labelled_u64 rejected[] = {{"maxclients", g_stats.rejected_connections},
                                     {"protected_mode", g_stats.denied_connections}};
    by_label_u64(o, "simcache_clients_rejected_total", "counter",
                 "Connections refused, by reason (maxclients, protected_mode).", "reason",
                 rejected, 2);
    const labelled_u64 closed[] = {
        {"timeout", g_stats.timeout_disconnections},
        {"query_buffer_limit", g_stats.client_query_limit_disconnections},
        {"output_buffer_limit", g_stats.client_output_limit_disconnections},
        {"protocol_error", g_stats.protocol_errors}};
    by_label_u64(o, "simcache_client_disconnections_total", "counter",
                 "Clients closed by the server, by reason.", "reason", closed, 4);
    one_u64(o, "simcache_net_input_bytes_total", "counter", "Bytes read from clients.",
            g_stats.total_net_input_bytes);
    one_u64(o, "simcache_net_output_bytes_total", "counter", "Bytes written to clients.",
            g_stats.total_net_output_bytes);
    one_u64(o, "simcache_error_replies_total", "counter", "Error replies sent.",
            g_stats.total_error_replies);
}

/* ---- commands ---- */

typedef struct cmd_pass {
    sbuf *o;
    int what;   /* 0 calls, 1 failed, 2 rejected, 3 histogram */
} cmd_pass;

static void cmd_visit(const command_stat_view *v, void *arg) {
    cmd_pass *p = arg;
    metrics_label l = {"cmd", v->name};
    switch (p->what) {
    case 0: metrics_sample_u64(p->o, "simcache_commands_total", &l, 1, v->calls); break;
    case 1: metrics_sample_u64(p->o, "simcache_command_errors_total", &l, 1, v->failed); break;
    case 2: metrics_sample_u64(p->o, "simcache_command_rejected_total", &l, 1, v->rejected); break;
    default:
        metrics_histogram(p->o, "simcache_command_duration_seconds", &l, 1,
                          command_hist_bounds_us, COMMAND_HIST_BOUNDS, v->hist,
                          (double)v->usec / 1e6);
    }
}

static void render_commands(sbuf *o) {
    static const char *const fam[4][3] = {
        {"simcache_commands_total", "counter", "Commands executed (handler ran), by command."},
        {"simcache_command_errors_total", "counter",
         "Commands whose handler replied with an error, by command."},
        {"simcache_command_rejected_total", "counter",
         "Commands refused before the handler (arity, auth, OOM...), by command."},
        {"simcache_command_duration_seconds", "histogram",
         "Handler execution time, by command (parked work is not included)."}};
    one_u64(o, "simcache_commands_processed_total", "counter", "Commands executed, all commands.",
            g_stats.total_commands_processed);
    for (int i = 0; i < 4; i++) {
        metrics_family(o, fam[i][0], fam[i][1], fam[i][2]);
        cmd_pass p = {o, i};
        commands_foreach_stat(cmd_visit, &p);
    }
}

/* ---- keyspace, memory ---- */

static void render_keyspace(sbuf *o) {
    sbuf st = SBUF_INIT;
    ks_info_stats(&st);
    const char *text = sbuf_cstr(&st);
    one_u64(o, "simcache_keys", "gauge", "Keys in the keyspace (db0).", (uint64_t)ks_dbsize());
    one_u64(o, "simcache_keys_expiring", "gauge", "Keys with a time to live.",
            (uint64_t)ks_expires_count());
    one_u64(o, "simcache_expired_keys_total", "counter", "Keys removed because their TTL passed.",
            ks_stat_expired());
    one_u64(o, "simcache_evicted_keys_total", "counter", "Keys evicted under maxmemory.",
            ks_stat_evicted());
    one_u64(o, "simcache_keyspace_hits_total", "counter", "Key lookups that found the key.",
            info_u64(text, "keyspace_hits"));
    one_u64(o, "simcache_keyspace_misses_total", "counter", "Key lookups that found no key.",
            info_u64(text, "keyspace_misses"));
    if (st.oom) o->oom = 1;
    sbuf_free(&st);
}

static void render_memory(sbuf *o) {
    one_u64(o, "simcache_memory_used_bytes", "gauge",
            "Live heap bytes as the allocator counts them (what maxmemory is compared with).",
            (uint64_t)mem_used());
    one_u64(o, "simcache_memory_peak_bytes", "gauge", "Highest memory_used_bytes observed.",
            (uint64_t)mem_peak());
    one_u64(o, "simcache_memory_max_bytes", "gauge", "The maxmemory setting; 0 = unlimited.",
            (uint64_t)g_cfg.maxmemory);
    if (strcmp(mem_allocator(), "libc") != 0) {
        size_t allocated = 0, active = 0, resident = 0;
        mem_allocator_stats(&allocated, &active, &resident);
        const labelled_u64 kinds[] = {
            {"allocated", allocated}, {"active", active}, {"resident", resident}};
        by_label_u64(o, "simcache_allocator_bytes", "gauge",
                     "jemalloc statistics: allocated, active (pages), resident.", "kind", kinds,
                     3);
    }
}

/* ---- vector sets ---- */

static void render_vset(sbuf *o) {
    struct workers *pool = vset_pool();
    one_u64(o, "simcache_vset_keys", "gauge", "Vector-set keys in the keyspace.",
            g_vset_stats.sets - g_vset_stats.detached);
    one_u64(o, "simcache_vset_detached", "gauge",
            "Vector sets deleted from the keyspace but still referenced by a search.",
            g_vset_stats.detached);
    one_u64(o, "simcache_vset_search_threads", "gauge", "Threads of the search pool.",
            workers_threads(pool));
    one_u64(o, "simcache_vset_search_busy_threads", "gauge", "Search threads running a job.",
            workers_busy(pool));
    one_u64(o, "simcache_vset_search_queue_depth", "gauge", "Searches waiting for a thread.",
            (uint64_t)workers_queue_depth(pool));
    const labelled_u64 modes[] = {{"threaded", g_vset_stats.searches_threaded},
                                  {"inline", g_vset_stats.searches_inline}};
    by_label_u64(o, "simcache_vset_searches_total", "counter",
                 "VSIM searches, by where they ran (threaded pool or inline on the loop).", "mode",
                 modes, 2);
    one_u64(o, "simcache_vset_search_retries_total", "counter",
            "Threaded searches re-run on the loop because elements were deleted meanwhile.",
            g_vset_stats.searches_retried);
    metrics_family(o, "simcache_vset_search_duration_seconds", "summary",
                   "Threaded searches, dispatch to reply.");
    metrics_sample_f(o, "simcache_vset_search_duration_seconds_sum", NULL, 0,
                     (double)g_vset_stats.search_usec / 1e6);
    metrics_sample_u64(o, "simcache_vset_search_duration_seconds_count", NULL, 0,
                       g_vset_stats.searches_threaded);
}

/* ---- providers (provider_get_snapshot, design note 4) ---- */

#define PS_U64(ps, off) (*(const uint64_t *)(const void *)((const char *)(ps) + (off)))

/* A counter family with one sample per provider: the uint64_t field at
 * byte offset `off` of each snapshot. */
static void prov_counter(sbuf *o, const provider_snapshot *ps, int n, const char *name,
                         const char *help, size_t off) {
    metrics_family(o, name, "counter", help);
    for (int i = 0; i < n; i++)
        metrics_sample_u64(o, name, &(metrics_label){"provider", ps[i].name}, 1,
                           PS_U64(&ps[i], off));
}

static void render_providers(sbuf *o) {
    int n = provider_count();
    provider_snapshot *ps = calloc(n > 0 ? (size_t)n : 1, sizeof *ps);
    if (ps == NULL) {
        o->oom = 1;
        return;
    }
    for (int i = 0; i < n; i++) provider_get_snapshot(i, &ps[i]);
#define ST(f) offsetof(provider_snapshot, st.f)
    one_u64(o, "simcache_providers", "gauge", "Embedding providers configured.", (uint64_t)n);
    prov_counter(o, ps, n, "simcache_provider_requests_total",
                 "Embedding requests accepted by the provider.", ST(requests));
    prov_counter(o, ps, n, "simcache_provider_inputs_total", "Texts submitted for embedding.",
                 ST(inputs));
    prov_counter(o, ps, n, "simcache_provider_coalesced_total",
                 "Texts answered by an identical pending text.", ST(coalesced));
    prov_counter(o, ps, n, "simcache_provider_calls_total", "HTTP calls to the provider.",
                 ST(calls));
    prov_counter(o, ps, n, "simcache_provider_calls_ok_total", "HTTP calls that succeeded.",
                 ST(calls_ok));
    prov_counter(o, ps, n, "simcache_provider_retries_total", "HTTP calls retried.",
                 ST(retries));
    prov_counter(o, ps, n, "simcache_provider_failovers_total",
                 "Calls sent to the secondary endpoint.", ST(failovers));
    prov_counter(o, ps, n, "simcache_provider_tokens_total", "Prompt tokens billed.",
                 ST(tokens));
    prov_counter(o, ps, n, "simcache_provider_breaker_opens_total",
                 "Times a circuit breaker opened.", offsetof(provider_snapshot, breaker_opens));
    static const struct {
        const char *kind;
        size_t off;
    } kinds[] = {{"timeout", ST(err_timeout)},     {"transport", ST(err_transport)},
                 {"http_429", ST(err_http_429)},   {"http_5xx", ST(err_http_5xx)},
                 {"http_4xx", ST(err_http_4xx)},   {"redirect", ST(err_redirect)},
                 {"quota", ST(err_quota)},         {"invalid", ST(err_invalid)},
                 {"too_large", ST(err_too_large)}, {"breaker", ST(err_breaker)},
                 {"queue_full", ST(err_queue_full)}, {"limit", ST(err_limit)}};
#undef ST
    metrics_family(o, "simcache_provider_errors_total", "counter",
                   "Failed embedding calls or requests, by provider and kind.");
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            metrics_label l[] = {{"provider", ps[i].name}, {"kind", kinds[k].kind}};
            metrics_sample_u64(o, "simcache_provider_errors_total", l, 2,
                               PS_U64(&ps[i], kinds[k].off));
        }
    metrics_family(o, "simcache_provider_request_duration_seconds", "summary",
                   "Latency of HTTP attempts to the provider (retries counted separately).");
    for (int i = 0; i < n; i++) {
        metrics_label l = {"provider", ps[i].name};
        metrics_sample_f(o, "simcache_provider_request_duration_seconds_sum", &l, 1,
                         (double)ps[i].st.latency_us_sum / 1e6);
        metrics_sample_u64(o, "simcache_provider_request_duration_seconds_count", &l, 1,
                           ps[i].st.latency_count);
    }
    metrics_family(o, "simcache_provider_breaker_state", "gauge",
                   "Circuit breaker per endpoint: 0 closed, 1 half-open, 2 open.");
    static const char *const endpoint[2] = {"primary", "secondary"};
    for (int i = 0; i < n; i++)
        for (int e = 0; e < 2; e++) {
            if (ps[i].breaker[e] == PROVIDER_BREAKER_NONE) continue;
            metrics_label l[] = {{"provider", ps[i].name}, {"endpoint", endpoint[e]}};
            metrics_sample_u64(o, "simcache_provider_breaker_state", l, 2,
                               (uint64_t)ps[i].breaker[e]);
        }
    metrics_family(o, "simcache_provider_queue_depth", "gauge", "Texts waiting to be sent.");
    for (int i = 0; i < n; i++)
        metrics_sample_u64(o, "simcache_provider_queue_depth",
                           &(metrics_label){"provider", ps[i].name}, 1, (uint64_t)ps[i].queue);
    metrics_family(o, "simcache_provider_inflight", "gauge", "HTTP calls in flight.");
    for (int i = 0; i < n; i++)
        metrics_sample_u64(o, "simcache_provider_inflight",
                           &(metrics_label){"provider", ps[i].name}, 1, (uint64_t)ps[i].inflight);
    free(ps);
}

/* ---- rate limits (limits_get_stats, design note 4) ---- */

static void render_limits(sbuf *o) {
    rl_stats s;
    limits_get_stats(&s);
    one_u64(o, "simcache_ratelimit_buckets", "gauge", "LIMIT.* token buckets defined.",
            s.buckets);
    one_u64(o, "simcache_ratelimit_queue_depth", "gauge",
            "Requests waiting in LIMIT.TAKE WAIT queues, all buckets.", s.waiters);
    /* whole milliseconds, as INFO limits reports it (the exposition predates
     * the typed accessor and stays byte-identical) */
    one_f(o, "simcache_ratelimit_oldest_waiter_age_seconds", "gauge",
          "Age of the oldest queued LIMIT.TAKE request; 0 if none.",
          (double)(s.oldest_wait_ns / RL_NS_PER_MS) / 1000.0);
    const labelled_u64 oc[] = {
        {"granted", s.granted}, {"denied", s.denied}, {"timed_out", s.timed_out}};
    by_label_u64(o, "simcache_ratelimit_requests_total", "counter",
                 "LIMIT.TAKE outcomes, all buckets: granted, denied, timed_out.", "outcome", oc,
                 3);
    one_u64(o, "simcache_ratelimit_throttle_cells", "gauge", "CL.THROTTLE keys tracked.",
            s.cells);
}

/* ---- semantic cache and tenants (design note 6) ---- */

static int label_cap(void) {
    return g_cfg.metrics_max_label_sets > 0 ? g_cfg.metrics_max_label_sets : 1000;
}

typedef struct ns_row {
    const char *tenant, *ns;
    uint64_t entries, bytes;
    cache_ns_stats st;
} ns_row;

static void ns_add(ns_row *r, const cache_ns *ns) {
    r->entries += cache_ns_count(ns);
    r->bytes += cache_ns_memory(ns);
    r->st.hits_exact += ns->st.hits_exact;
    r->st.hits_semantic += ns->st.hits_semantic;
    r->st.hits_stale += ns->st.hits_stale;
    r->st.misses += ns->st.misses;
    r->st.puts += ns->st.puts;
    r->st.expired += ns->st.expired;
    r->st.evicted += ns->st.evicted;
    r->st.deleted += ns->st.deleted;
    r->st.widened += ns->st.widened;
}

/* Rows for the first metrics-max-label-sets namespaces, plus one "_other"
 * row if there are more. Returns the number of rows, -1 on ENOMEM. */
static int ns_rows(ns_row **out) {
    int n = 0, other = 0;
    for (cache_ns *ns = cache_ns_first(); ns; ns = ns->next) n++;
    if (n > label_cap()) {
        n = label_cap();
        other = 1;
    }
    ns_row *rows = calloc((size_t)(n + other + 1), sizeof *rows);
    if (rows == NULL) return -1;
    int i = 0;
    for (cache_ns *ns = cache_ns_first(); ns; ns = ns->next) {
        ns_row *r = &rows[i < n ? i : n];
        if (i <= n) {
            r->tenant = i < n ? (ns->owner ? ns->owner->name : "") : "_other";
            r->ns = i < n ? ns->name : "_other";
        }
        ns_add(r, ns);
        i++;
    }
    *out = rows;
    return n + other;
}

static void ns_family(sbuf *o, const ns_row *rows, int n, const char *name, const char *type,
                      const char *help, size_t off) {
    metrics_family(o, name, type, help);
    for (int i = 0; i < n; i++) {
        metrics_label l[] = {{"tenant", rows[i].tenant}, {"namespace", rows[i].ns}};
        metrics_sample_u64(o, name, l, 2, *(const uint64_t *)((const char *)&rows[i] + off));
    }
}

static void render_cache_ns(sbuf *o) {
    ns_row *rows;
    int n = ns_rows(&rows);
    if (n < 0) {
        o->oom = 1;
        return;
    }
    uint64_t total = 0;
    for (cache_ns *ns = cache_ns_first(); ns; ns = ns->next) total++;
    one_u64(o, "simcache_cache_namespaces", "gauge", "Semantic-cache namespaces, all tenants.",
            total);
    ns_family(o, rows, n, "simcache_cache_entries", "gauge", "Entries stored, by namespace.",
              offsetof(ns_row, entries));
    ns_family(o, rows, n, "simcache_cache_memory_bytes", "gauge",
              "Bytes owned by the namespace (entries, index, maps).", offsetof(ns_row, bytes));
    metrics_family(o, "simcache_cache_hits_total", "counter",
                   "Lookups answered from the cache, by namespace and tier (exact, semantic, "
                   "stale).");
    for (int i = 0; i < n; i++) {
        static const char *const tiers[] = {"exact", "semantic", "stale"};
        const uint64_t v[] = {rows[i].st.hits_exact, rows[i].st.hits_semantic,
                              rows[i].st.hits_stale};
        for (int k = 0; k < 3; k++) {
            metrics_label l[] = {{"tenant", rows[i].tenant}, {"namespace", rows[i].ns},
                                 {"tier", tiers[k]}};
            metrics_sample_u64(o, "simcache_cache_hits_total", l, 3, v[k]);
        }
    }
    ns_family(o, rows, n, "simcache_cache_misses_total", "counter",
              "Lookups that found no usable entry, by namespace.",
              offsetof(ns_row, st) + offsetof(cache_ns_stats, misses));
    ns_family(o, rows, n, "simcache_cache_puts_total", "counter", "Entries stored (CACHE.PUT).",
              offsetof(ns_row, st) + offsetof(cache_ns_stats, puts));
    ns_family(o, rows, n, "simcache_cache_expired_total", "counter",
              "Entries deleted past their TTL and grace.",
              offsetof(ns_row, st) + offsetof(cache_ns_stats, expired));
    ns_family(o, rows, n, "simcache_cache_evicted_total", "counter",
              "Entries evicted under maxmemory.",
              offsetof(ns_row, st) + offsetof(cache_ns_stats, evicted));
    ns_family(o, rows, n, "simcache_cache_deleted_total", "counter",
              "Entries deleted by CACHE.DEL or CACHE.FLUSH.",
              offsetof(ns_row, st) + offsetof(cache_ns_stats, deleted));
    ns_family(o, rows, n, "simcache_cache_searches_widened_total", "counter",
              "Lookups searched again at EF x WIDEN after a graph miss (CACHE.INFO widened).",
              offsetof(ns_row, st) + offsetof(cache_ns_stats, widened));
    free(rows);
}

static double usd(int64_t nusd) { return (double)nusd / 1e9; }

static void render_tenants(sbuf *o) {
    int64_t now = commands_now_ms();
    int n = 0;
    tenant other;
    memset(&other, 0, sizeof other);
    for (tenant *t = tenant_first(); t; t = t->next) n++;
    one_u64(o, "simcache_tenants", "gauge", "Tenants known to the cache.", (uint64_t)n);
    int cap = label_cap(), capped = n > cap;
    /* One pass per family; the _other row sums what is over the cap. */
    static const char *const fam[][3] = {
        {"simcache_tenant_spend_usd_total", "counter",
         "Upstream spend reported with CACHE.PUT, in USD, all time."},
        {"simcache_tenant_saved_usd_total", "counter",
         "Upstream cost of answers served from the cache, in USD."},
        {"simcache_tenant_tokens_saved_total", "counter",
         "Input and output tokens of answers served from the cache."},
        {"simcache_tenant_budget_usd", "gauge", "Budget per period in USD; 0 = no budget."},
        {"simcache_tenant_period_spend_usd", "gauge", "Spend within the current budget period."},
        {"simcache_tenant_budget_exhausted", "gauge",
         "1 if the tenant's period spend reached its budget."}};
    for (int f = 0; f < 6; f++) {
        metrics_family(o, fam[f][0], fam[f][1], fam[f][2]);
        double osum = 0;
        int i = 0;
        for (tenant *t = tenant_first(); t; t = t->next, i++) {
            double v = f == 0   ? usd(t->led.spend_nusd)
                       : f == 1 ? usd(t->led.saved_nusd)
                       : f == 2 ? (double)t->led.tokens_saved
                       : f == 3 ? usd(t->budget_nusd)
                       : f == 4 ? usd(t->period_spend_nusd)
                                : (double)tenant_budget_exhausted(t, now);
            if (i < cap)
                metrics_sample_f(o, fam[f][0], &(metrics_label){"tenant", t->name}, 1, v);
            else
                osum += v;
        }
        if (capped)
            metrics_sample_f(o, fam[f][0], &(metrics_label){"tenant", "_other"}, 1, osum);
    }
}

static void render_cache(sbuf *o) {
    sbuf t = SBUF_INIT;
    cache_info(&t);
    one_u64(o, "simcache_cache_pending_fills", "gauge",
            "CACHE.GET WAIT callers parked on a fill in progress.",
            info_u64(sbuf_cstr(&t), "cache_pending_fills"));
    if (t.oom) o->oom = 1;
    sbuf_free(&t);
    render_cache_ns(o);
    render_tenants(o);
}

/* Span export (trace.c) and the request log (reqlog.c). */
static void render_observability(sbuf *o) {
    trace_stats ts;
    trace_get_stats(&ts);
    one_u64(o, "simcache_otlp_spans_exported_total", "counter",
            "Spans in OTLP exports the collector accepted (2xx).", ts.spans_exported);
    const labelled_u64 dropped[] = {{"queue_full", ts.spans_dropped},
                                    {"export_failed", ts.spans_failed}};
    by_label_u64(o, "simcache_otlp_spans_dropped_total", "counter",
                 "Spans lost: queue full (or shutdown), or in a failed export.", "reason", dropped,
                 2);
    one_u64(o, "simcache_otlp_export_failures_total", "counter",
            "OTLP exports that failed (connection, timeout or non-2xx).", ts.exports_failed);
    one_u64(o, "simcache_otlp_queue_spans", "gauge", "Spans waiting for export.", ts.queue_len);
    reqlog_stats rs;
    reqlog_get_stats(&rs);
    one_u64(o, "simcache_reqlog_entries_total", "counter",
            "Requests recorded in the request log.", rs.added);
    one_u64(o, "simcache_reqlog_entries", "gauge", "Request log entries kept now.", rs.entries);
    one_u64(o, "simcache_reqlog_bytes", "gauge", "Bytes the kept request log entries own.",
            rs.bytes);
    one_u64(o, "simcache_reqlog_file_dropped_total", "counter",
            "Request log lines dropped because the file writer was behind.", rs.file_dropped);
}

void metrics_render(sbuf *o) {
    render_server(o);
    render_clients(o);
    render_commands(o);
    render_keyspace(o);
    render_memory(o);
    render_vset(o);
    render_providers(o);
    render_limits(o);
    render_cache(o);
    canary_metrics(o);   /* sc/canary: per-arm families (cache_alias.c) */
    render_observability(o);
}
