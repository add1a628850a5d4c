/* cmd_load.c -- `simcache-bench load`: options, server set-up, INFO deltas
 * and the reports of the load generator (the engine is load_run.c, the
 * workloads load_wl.c).
 *
 *   simcache-bench load [-h host] [-p port] [-a pass] [--user u] [-3]
 *       [-c conns] [-P pipeline] [--threads T] [-n requests | --duration s]
 *       [--rate r [--arrival fixed|poisson]] [-t set,get,ping,vadd,vsim,llm]
 *       [-r keyspace] [-d bytes] [--dim n] [--count k] [--clusters k]
 *       [--data pairs.json] [--repeat f] [--reword f] [--new f] [--zipf s]
 *       [--tenants n] [--namespaces m] [--out dir] [--csv] [-q]
 *
 * 1. Options follow redis-benchmark where it has one (-h -p -a --user -c
 *    -n -P -t -r -d -q --csv --threads), so a run can be repeated with
 *    either tool; the --csv lines have redis-benchmark's columns.
 * 2. Each test of -t is one run with fresh connections, in the order given.
 *    Around each run a separate control connection takes INFO all before
 *    and after, and the report shows the server's own deltas (commands,
 *    cache tiers, memory) next to what the bench counted. The INFO taken
 *    before the run is itself one command inside the window.
 * 3. The llm test owns namespaces named <--ns-prefix><m> (default sbench0,
 *    sbench1, ...) for each tenant sbt<i>: it drops and re-creates them
 *    before the run so hit rates start from an empty cache (--keep reuses
 *    them). With --tenants N every CACHE.* carries TENANT sbt<i>, which
 *    needs the admin or gateway role; without it no TENANT is sent.
 * 4. Exit status: 0 when some request of some run succeeded, 1 when none
 *    did (server unreachable, every reply an error), 2 for bad options.
 */
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "load.h"
#include "report.h"
#include "sbench.h"
#include "simcache.h"

const char sb_help_load[] = "load generator: GET/SET, VADD/VSIM and an LLM-cache workload";

static const char *const test_names[T_NTESTS] = {"PING_MBULK", "SET", "GET",
                                                 "VADD", "VSIM", "LLM"};
static const char *const test_opts[T_NTESTS] = {"ping", "set", "get", "vadd", "vsim", "llm"};
static const char *const pkind_names[P_NKINDS] = {"repeat", "reword", "new"};

const char *load_test_name(ltest t) { return test_names[t]; }

static void usage(FILE *f)
{
    fputs(
        "usage: simcache-bench load [options]\n"
        "connection:  -h host (127.0.0.1)  -p port (6379)  -a password  --user name  -3 (HELLO 3)\n"
        "load:        -c connections (50)  -P pipeline (1)  --threads T (1)\n"
        "             -n requests per test (100000)  |  --duration seconds\n"
        "             --rate R (open loop, requests/s in total)  --arrival fixed|poisson\n"
        "             --timeout s (30: a busy connection without a reply fails; 0 = never)\n"
        "tests:       -t list of ping,set,get,vadd,vsim,llm (set,get)\n"
        "  get/set:   -r keyspace (0: the single key key:__rand_int__)  -d value bytes (3)\n"
        "  vadd/vsim: --vkey key (sbench:vset)  --dim n (128)  --count k (10)  --clusters k (0)\n"
        "  llm:       --data pairs.json (../shared/data/gptcache_mock_pairs.json)  --pool n\n"
        "             --repeat 0.5 --reword 0.3 --new 0.2 (shares)  --zipf s (1.0)\n"
        "             --tenants n (0: no TENANT argument)  --namespaces m (1)  --ns-prefix p\n"
        "             --threshold t  --cost usd (0.002)  --answer-size bytes (200)  --keep\n"
        "output:      --out DIR (load.csv load.md load_cdf.svg load_timeseries.csv load_info.csv)\n"
        "             --csv (redis-benchmark CSV on stdout)  -q (one line per test)\n"
        "             --progress | --no-progress (default: when stderr is a terminal)\n"
        "             --seed n\n", f);
}

/* ---- options ---- */

static int parse_u64(const char *s, uint64_t *out)
{
    char *e;
    errno = 0;
    unsigned long long v = strtoull(s, &e, 10);
    if (errno || e == s || *e || s[0] == '-') return -1;
    *out = v;
    return 0;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    uint64_t v;
    if (parse_u64(s, &v) != 0 || v < (uint64_t)lo || v > (uint64_t)hi) return -1;
    *out = (int)v;
    return 0;
}

static int parse_dbl(const char *s, double lo, double hi, double *out)
{
    char *e;
    double v = strtod(s, &e);
    if (e == s || *e || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

static int parse_tests(const char *s, int *tests, int *ntests)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", s);
    *ntests = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        int t = 0;
        while (t < T_NTESTS && strcasecmp(tok, test_opts[t])) t++;
        if (t == T_NTESTS || *ntests == 16) {
            fprintf(stderr, "load: unknown test '%s' (ping, set, get, vadd, vsim, llm)\n", tok);
            return -1;
        }
        tests[(*ntests)++] = t;
    }
    return *ntests ? 0 : -1;
}

/* Returns 0, 1 for --help, -1 for a bad option (message printed). */
static int parse_opts(int argc, char **argv, lopt *o, int *tests, int *ntests)
{
    const char *tl = "set,get";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0, used = 1;
#define ARG(name) (!strcmp(a, name) && v)
        if (!strcmp(a, "--help")) return 1;
        else if (!strcmp(a, "--csv")) { o->csv = 1; used = 0; }
        else if (!strcmp(a, "-q")) { o->quiet = 1; used = 0; }
        else if (!strcmp(a, "-3")) { o->resp3 = 1; used = 0; }
        else if (!strcmp(a, "--keep")) { o->keep = 1; used = 0; }
        else if (!strcmp(a, "--progress")) { o->progress = 1; used = 0; }
        else if (!strcmp(a, "--no-progress")) { o->progress = 0; used = 0; }
        else if (ARG("-h")) o->host = v;
        else if (ARG("-p")) bad = parse_int(v, 1, 65535, &o->port);
        else if (ARG("-a")) o->pass = v;
        else if (ARG("--user")) o->user = v;
        else if (ARG("-c")) bad = parse_int(v, 1, 100000, &o->conns);
        else if (ARG("-P")) bad = parse_int(v, 1, 100000, &o->pipeline);
        else if (ARG("--threads")) bad = parse_int(v, 1, 256, &o->threads);
        else if (ARG("-n")) bad = parse_u64(v, &o->requests) || !o->requests;
        else if (ARG("--duration")) bad = parse_dbl(v, 0.001, 1e7, &o->duration);
        else if (ARG("--timeout")) bad = parse_dbl(v, 0, 1e6, &o->timeout);
        else if (ARG("--rate")) bad = parse_dbl(v, 0.001, 1e9, &o->rate);
        else if (ARG("--arrival")) {
            bad = strcmp(v, "fixed") && strcmp(v, "poisson");
            o->poisson = !strcmp(v, "poisson");
        }
        else if (ARG("-t")) tl = v;
        else if (ARG("-r")) bad = parse_u64(v, &o->keyspace);
        else if (ARG("-d")) bad = parse_int(v, 0, 65536, &o->datasize);
        else if (ARG("--vkey")) o->vkey = v;
        else if (ARG("--dim")) bad = parse_int(v, 1, 4096, &o->dim);
        else if (ARG("--count")) bad = parse_int(v, 1, 100000, &o->vcount);
        else if (ARG("--clusters")) bad = parse_int(v, 0, 100000, &o->clusters);
        else if (ARG("--data")) o->data = v;
        else if (ARG("--pool")) bad = parse_int(v, 0, 1 << 30, &o->pool);
        else if (ARG("--repeat")) bad = parse_dbl(v, 0, 1e9, &o->share[P_REPEAT]);
        else if (ARG("--reword")) bad = parse_dbl(v, 0, 1e9, &o->share[P_REWORD]);
        else if (ARG("--new")) bad = parse_dbl(v, 0, 1e9, &o->share[P_NEW]);
        else if (ARG("--zipf")) bad = parse_dbl(v, 0, 100, &o->zipf);
        else if (ARG("--tenants")) bad = parse_int(v, 0, 65535, &o->tenants);
        else if (ARG("--namespaces")) bad = parse_int(v, 1, 65535, &o->namespaces);
        else if (ARG("--ns-prefix")) o->ns_prefix = v;
        else if (ARG("--threshold")) bad = parse_dbl(v, 0, 1, &o->threshold);
        else if (ARG("--cost")) o->cost = v;
        else if (ARG("--answer-size")) bad = parse_int(v, 0, 8000, &o->answer_size);
        else if (ARG("--out")) o->out = v;
        else if (ARG("--seed")) bad = parse_u64(v, &o->seed);
        else {
            fprintf(stderr, "load: unknown or incomplete option '%s'\n", a);
            return -1;
        }
#undef ARG
        if (bad) {
            fprintf(stderr, "load: bad value for %s: '%s'\n", a, v ? v : "");
            return -1;
        }
        i += used;
    }
    if (parse_tests(tl, tests, ntests) != 0) return -1;
    double sum = o->share[P_REPEAT] + o->share[P_REWORD] + o->share[P_NEW];
    if (!(sum > 0)) {
        fputs("load: --repeat + --reword + --new must be > 0\n", stderr);
        return -1;
    }
    for (int k = 0; k < P_NKINDS; k++) o->share[k] /= sum;
    if (o->conns < o->threads) o->threads = o->conns;
    if (o->duration > 0) o->requests = 0;
    if (o->progress < 0) o->progress = isatty(2) && !o->quiet;
    return 0;
}

/* ---- INFO ---- */

typedef struct info {
    int ok;
    size_t n;
    char **key;
    double *val;
} info;

static void info_free(info *in)
{
    for (size_t i = 0; i < in->n; i++) free(in->key[i]);
    free(in->key);
    free(in->val);
    memset(in, 0, sizeof(*in));
}

static void info_add(info *in, const char *k, size_t klen, double v)
{
    char **nk = realloc(in->key, (in->n + 1) * sizeof(char *));
    if (!nk) return;
    in->key = nk;
    double *nv = realloc(in->val, (in->n + 1) * sizeof(double));
    if (!nv) return;
    in->val = nv;
    if (!(in->key[in->n] = strndup(k, klen))) return;
    in->val[in->n++] = v;
}

/* Numeric fields of INFO all; cmdstat_x lines become cmdstat_x.calls. */
static void info_take(sc_conn *cc, info *in)
{
    memset(in, 0, sizeof(*in));
    if (!cc) return;
    sc_reply *r = sc_commandv(cc, "INFO", "all", NULL);
    if (!r || !r->str || r->type == SC_REPLY_ERROR) {
        sc_reply_free(r);
        return;
    }
    in->ok = 1;
    for (char *save = NULL, *line = strtok_r(r->str, "\r\n", &save); line;
         line = strtok_r(NULL, "\r\n", &save)) {
        char *colon = strchr(line, ':');
        if (!colon || line[0] == '#') continue;
        size_t klen = (size_t)(colon - line);
        if (!strncmp(line, "cmdstat_", 8)) {
            char *calls = strstr(colon, "calls=");
            if (!calls) continue;
            char key[96];
            snprintf(key, sizeof(key), "%.*s.calls", (int)klen, line);
            info_add(in, key, strlen(key), strtod(calls + 6, NULL));
            continue;
        }
        char *e;
        double v = strtod(colon + 1, &e);
        if (e != colon + 1 && *e == '\0') info_add(in, line, klen, v);
    }
    sc_reply_free(r);
}

static int info_get(const info *in, const char *k, double *v)
{
    for (size_t i = 0; i < in->n; i++)
        if (!strcmp(in->key[i], k)) {
            *v = in->val[i];
            return 1;
        }
    return 0;
}

static const char *const info_fields[] = {
    "total_commands_processed", "total_connections_received", "total_error_replies",
    "keyspace_hits", "keyspace_misses", "used_memory", "cache_entries", "cache_hits_exact",
    "cache_hits_semantic", "cache_hits_stale", "cache_misses", "cache_memory_bytes",
    "vset_searches_threaded", "vset_searches_inline",
};

/* The reported deltas: the fixed fields, and every cmdstat that moved. */
static int info_is_reported(const char *k, double delta)
{
    for (size_t i = 0; i < sizeof(info_fields) / sizeof(*info_fields); i++)
        if (!strcmp(k, info_fields[i])) return 1;
    return !strncmp(k, "cmdstat_", 8) && delta != 0;
}

/* ---- set-up ---- */

static int setup_llm(sc_conn *cc, const lopt *o)
{
    if (o->keep) return 0;
    int nt = o->tenants > 0 ? o->tenants : 1;
    for (int t = 0; t < nt; t++)
        for (int m = 0; m < o->namespaces; m++) {
            char ns[64], tenant[32], thr[32];
            snprintf(ns, sizeof(ns), "%s%d", o->ns_prefix, m);
            snprintf(tenant, sizeof(tenant), "sbt%d", t);
            snprintf(thr, sizeof(thr), "%.6f", o->threshold);
            const char *drop[4] = {"CACHE.DROP", ns, "TENANT", tenant};
            const char *create[6] = {"CACHE.CREATE", ns};
            int n = 2;
            if (o->threshold >= 0) { create[n++] = "THRESHOLD"; create[n++] = thr; }
            if (o->tenants > 0) { create[n++] = "TENANT"; create[n++] = tenant; }
            sc_reply *r = sc_command(cc, o->tenants > 0 ? 4 : 2, drop, NULL);
            sc_reply_free(r);   /* "no such namespace" is fine */
            r = sc_command(cc, n, create, NULL);
            if (!r || r->type == SC_REPLY_ERROR) {
                fprintf(stderr, "load: CACHE.CREATE %s%s%s: %s\n", ns,
                        o->tenants > 0 ? " TENANT " : "", o->tenants > 0 ? tenant : "",
                        r && r->str ? r->str : sc_errstr(cc));
                sc_reply_free(r);
                return -1;
            }
            sc_reply_free(r);
        }
    return 0;
}

/* ---- reports ---- */

typedef struct run {
    ltest test;
    lresult res;
    info before, after;
} run;

static double ms(uint64_t ns) { return (double)ns / 1e6; }
static double us(uint64_t ns) { return (double)ns / 1e3; }

static double rps_of(const run *r)
{
    return r->res.seconds > 0 ? (double)r->res.st.done / r->res.seconds : 0;
}

static uint64_t hits(const lstats *s, int tier)
{
    uint64_t n = 0;
    for (int p = 0; p < P_NKINDS; p++) n += s->tier[p][tier];
    return n;
}

static void print_human(const run *r, const lopt *o)
{
    const lstats *s = &r->res.st;
    const sb_hdr *h = r->res.lat;
    if (o->quiet) {
        printf("%s: %.2f requests per second, p50=%.3f msec\n", test_names[r->test], rps_of(r),
               ms(sb_hdr_percentile(h, 50)));
        return;
    }
    printf("====== %s ======\n", test_names[r->test]);
    printf("  %llu requests answered in %.3f s; %d connections, pipeline %d, %d thread%s, ",
           (unsigned long long)s->done, r->res.seconds, o->conns, o->pipeline, o->threads,
           o->threads > 1 ? "s" : "");
    if (o->rate > 0)
        printf("open loop at %.0f req/s (%s arrivals)\n", o->rate,
               o->poisson ? "poisson" : "fixed");
    else
        printf("closed loop\n");
    printf("  throughput: %.2f requests per second\n", rps_of(r));
    printf("  latency (ms): p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f\n",
           ms(sb_hdr_percentile(h, 50)), ms(sb_hdr_percentile(h, 90)),
           ms(sb_hdr_percentile(h, 99)), ms(sb_hdr_percentile(h, 99.9)), ms(h->count ? h->max : 0),
           sb_hdr_mean(h) / 1e6);
    if (o->rate > 0)
        printf("  open loop: backlog %llu (waited for a free connection slot), late %llu "
               "(sent > 2 ms after schedule), worst send lag %.3f ms\n",
               (unsigned long long)s->backlog, (unsigned long long)s->late, ms(s->max_lag_ns));
    if (r->test == T_LLM) {
        uint64_t g = s->ok;
        printf("  cache tiers: exact %llu  semantic %llu  stale %llu  miss %llu  "
               "(hit rate %.1f%%)\n",
               (unsigned long long)hits(s, TIER_EXACT), (unsigned long long)hits(s, TIER_SEMANTIC),
               (unsigned long long)hits(s, TIER_STALE), (unsigned long long)hits(s, TIER_MISS),
               g ? 100.0 * (double)(g - hits(s, TIER_MISS)) / (double)g : 0);
        for (int p = 0; p < P_NKINDS; p++)
            printf("    %-7s exact %llu  semantic %llu  stale %llu  miss %llu\n", pkind_names[p],
                   (unsigned long long)s->tier[p][TIER_EXACT],
                   (unsigned long long)s->tier[p][TIER_SEMANTIC],
                   (unsigned long long)s->tier[p][TIER_STALE],
                   (unsigned long long)s->tier[p][TIER_MISS]);
        printf("  puts %llu (ok %llu, p50 %.3f ms, p99 %.3f ms)  false hits %llu  "
               "wrong tenant %llu  foreign %llu\n",
               (unsigned long long)s->puts, (unsigned long long)s->puts_ok,
               ms(sb_hdr_percentile(r->res.lat_put, 50)), ms(sb_hdr_percentile(r->res.lat_put, 99)),
               (unsigned long long)s->false_hits, (unsigned long long)s->wrong_tenant,
               (unsigned long long)s->foreign);
    }
    if (!s->nerr) printf("  errors: none\n");
    else {
        printf("  errors: %llu (%llu lost in flight, %llu connections failed)\n",
               (unsigned long long)s->errors, (unsigned long long)s->lost,
               (unsigned long long)s->conn_failed);
        for (int i = 0; i < s->nerr; i++)
            printf("    %-28s %10llu  e.g. %s\n", s->err[i].what, (unsigned long long)s->err[i].n,
                   s->err[i].sample);
    }
    if (r->before.ok && r->after.ok) {
        printf("  server INFO deltas (the window holds the bench's own INFO):\n");
        for (size_t i = 0; i < r->after.n; i++) {
            double b = 0;
            info_get(&r->before, r->after.key[i], &b);
            double d = r->after.val[i] - b;
            if (info_is_reported(r->after.key[i], d))
                printf("    %-28s %+.0f\n", r->after.key[i], d);
        }
    } else {
        printf("  server INFO: not available\n");
    }
}

static void print_csv_header(void)
{
    puts("\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\","
         "\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"");
}

static void print_csv(const run *r)
{
    const sb_hdr *h = r->res.lat;
    printf("\"%s\",\"%.2f\",\"%.3f\",\"%.3f\",\"%.3f\",\"%.3f\",\"%.3f\",\"%.3f\"\n",
           test_names[r->test], rps_of(r), sb_hdr_mean(h) / 1e6, ms(h->count ? h->min : 0),
           ms(sb_hdr_percentile(h, 50)), ms(sb_hdr_percentile(h, 95)),
           ms(sb_hdr_percentile(h, 99)), ms(h->count ? h->max : 0));
    fflush(stdout);
}

static const char *const run_cols[] = {
    "test", "mode", "conns", "pipeline", "threads", "rate", "requests", "ok", "errors",
    "seconds", "rps", "mean_us", "p50_us", "p90_us", "p99_us", "p999_us", "max_us",
    "backlog", "late", "max_lag_us", "puts", "hits_exact", "hits_semantic", "hits_stale",
    "misses", "hit_rate", "false_hits", "wrong_tenant", "server_commands"};
enum { NRUN_COLS = sizeof(run_cols) / sizeof(*run_cols) };

static int add_run_row(sb_table *t, const run *r, const lopt *o)
{
    const lstats *s = &r->res.st;
    const sb_hdr *h = r->res.lat;
    double b = 0, a = 0;
    char cmds[32] = "";
    if (info_get(&r->before, "total_commands_processed", &b) &&
        info_get(&r->after, "total_commands_processed", &a))
        snprintf(cmds, sizeof(cmds), "%.0f", a - b);
    uint64_t miss = hits(s, TIER_MISS), got = s->ok;
    return sb_table_rowf(
        t,
        "%s\t%s\t%d\t%d\t%d\t%.0f\t%llu\t%llu\t%llu\t%.3f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f"
        "\t%.1f\t%llu\t%llu\t%.1f\t%llu\t%llu\t%llu\t%llu\t%llu\t%.4f\t%llu\t%llu\t%s",
        test_names[r->test], o->rate > 0 ? (o->poisson ? "open-poisson" : "open-fixed") : "closed",
        o->conns, o->pipeline, o->threads, o->rate, (unsigned long long)s->done,
        (unsigned long long)s->ok, (unsigned long long)s->errors, r->res.seconds, rps_of(r),
        sb_hdr_mean(h) / 1e3, us(sb_hdr_percentile(h, 50)), us(sb_hdr_percentile(h, 90)),
        us(sb_hdr_percentile(h, 99)), us(sb_hdr_percentile(h, 99.9)), us(h->count ? h->max : 0),
        (unsigned long long)s->backlog, (unsigned long long)s->late, us(s->max_lag_ns),
        (unsigned long long)s->puts, (unsigned long long)hits(s, TIER_EXACT),
        (unsigned long long)hits(s, TIER_SEMANTIC), (unsigned long long)hits(s, TIER_STALE),
        (unsigned long long)miss,
        r->test == T_LLM && got ? (double)(got - miss) / (double)got : 0.0,
        (unsigned long long)s->false_hits, (unsigned long long)s->wrong_tenant, cmds);
}

static int write_table(const char *dir, const char *name, sb_table *t, int md)
{
    FILE *f = sb_out_open(dir, name);
    if (!f) return -1;
    int rc = md ? sb_table_write_md(t, f) : sb_table_write_csv(t, f);
    if (fclose(f) != 0) rc = -1;
    return rc;
}

static int write_cdf(const char *dir, const run *runs, int nruns)
{
    sb_series series[16];
    double *xs[16] = {0}, *ys[16] = {0};
    int ns = 0, rc = -1;
    for (int i = 0; i < nruns && ns < 16; i++) {
        const sb_hdr *h = runs[i].res.lat;
        size_t n = sb_hdr_cdf(h, NULL, NULL, 0);
        if (!n) continue;
        xs[ns] = malloc(n * sizeof(double));
        ys[ns] = malloc(n * sizeof(double));
        if (!xs[ns] || !ys[ns]) goto done;
        sb_hdr_cdf(h, xs[ns], ys[ns], n);
        for (size_t k = 0; k < n; k++) {
            xs[ns][k] /= 1e3;     /* µs */
            ys[ns][k] *= 100;     /* percent */
        }
        series[ns] = (sb_series){.label = test_names[runs[i].test], .x = xs[ns], .y = ys[ns],
                                 .n = n, .step = 1};
        ns++;
    }
    if (!ns) { rc = 0; goto done; }
    sb_plot p = {.title = "simcache-bench load: latency CDF", .xlabel = "latency (µs, log)",
                 .ylabel = "percent of requests at or below", .xlog = 1,
                 .series = series, .nseries = (size_t)ns,
                 .has_hline = 1, .hline = 99, .hline_label = "p99"};
    FILE *f = sb_out_open(dir, "load_cdf.svg");
    if (!f) goto done;
    rc = sb_svg_write(&p, f);
    if (fclose(f) != 0) rc = -1;
done:
    for (int i = 0; i < ns + 1 && i < 16; i++) {
        free(xs[i]);
        free(ys[i]);
    }
    return rc;
}

static int write_md(const char *dir, const run *runs, int nruns, sb_table *t, const lopt *o)
{
    FILE *f = sb_out_open(dir, "load.md");
    if (!f) return -1;
    fprintf(f, "# simcache-bench load\n\nServer %s:%d; %d connections, pipeline %d, %d "
               "thread(s), %s.\n\n", o->host, o->port, o->conns, o->pipeline, o->threads,
            o->rate > 0 ? "open loop" : "closed loop");
    sb_table_write_md(t, f);
    for (int i = 0; i < nruns; i++) {
        const run *r = &runs[i];
        const lstats *s = &r->res.st;
        fprintf(f, "\n## %s\n\n", test_names[r->test]);
        fprintf(f, "Latency (ms): p50 %.3f, p90 %.3f, p99 %.3f, p99.9 %.3f, max %.3f.\n",
                ms(sb_hdr_percentile(r->res.lat, 50)), ms(sb_hdr_percentile(r->res.lat, 90)),
                ms(sb_hdr_percentile(r->res.lat, 99)), ms(sb_hdr_percentile(r->res.lat, 99.9)),
                ms(r->res.lat->count ? r->res.lat->max : 0));
        if (r->test == T_LLM) {
            fprintf(f, "\n| prompt kind | exact | semantic | stale | miss |\n|---|---:|---:|---:|---:|\n");
            for (int p = 0; p < P_NKINDS; p++)
                fprintf(f, "| %s | %llu | %llu | %llu | %llu |\n", pkind_names[p],
                        (unsigned long long)s->tier[p][TIER_EXACT],
                        (unsigned long long)s->tier[p][TIER_SEMANTIC],
                        (unsigned long long)s->tier[p][TIER_STALE],
                        (unsigned long long)s->tier[p][TIER_MISS]);
            fprintf(f, "\nPUTs on misses: %llu (%llu ok). False hits (another prompt's answer): "
                       "%llu. Wrong tenant/namespace: %llu. Foreign answers: %llu.\n",
                    (unsigned long long)s->puts, (unsigned long long)s->puts_ok,
                    (unsigned long long)s->false_hits, (unsigned long long)s->wrong_tenant,
                    (unsigned long long)s->foreign);
        }
        if (s->nerr) {
            fprintf(f, "\n| error | count | example |\n|---|---:|---|\n");
            for (int k = 0; k < s->nerr; k++)
                fprintf(f, "| %s | %llu | %s |\n", s->err[k].what,
                        (unsigned long long)s->err[k].n, s->err[k].sample);
        } else {
            fprintf(f, "\nNo errors.\n");
        }
        if (r->before.ok && r->after.ok) {
            fprintf(f, "\n| server INFO field | before | after | delta |\n|---|---:|---:|---:|\n");
            for (size_t k = 0; k < r->after.n; k++) {
                double b = 0;
                info_get(&r->before, r->after.key[k], &b);
                double d = r->after.val[k] - b;
                if (info_is_reported(r->after.key[k], d))
                    fprintf(f, "| %s | %.0f | %.0f | %+.0f |\n", r->after.key[k], b,
                            r->after.val[k], d);
            }
        }
    }
    fprintf(f, "\nFiles: load.csv, load_timeseries.csv, load_info.csv, load_cdf.svg.\n");
    int rc = ferror(f) ? -1 : 0;
    if (fclose(f) != 0) rc = -1;
    return rc;
}

static int write_outputs(const char *dir, const run *runs, int nruns, const lopt *o)
{
    sb_table *t = sb_table_new(NRUN_COLS, run_cols);
    static const char *const ts_cols[] = {"test", "t_s", "ok", "errors", "p50_us",
                                          "p99_us", "max_us"};
    sb_table *ts = sb_table_new(7, ts_cols);
    static const char *const info_cols[] = {"test", "field", "before", "after", "delta"};
    sb_table *it = sb_table_new(5, info_cols);
    int rc = -1;
    if (!t || !ts || !it) goto done;
    for (int i = 0; i < nruns; i++) {
        const run *r = &runs[i];
        if (add_run_row(t, r, o) != 0) goto done;
        for (size_t k = 0; k < r->res.npts; k++)
            if (sb_table_rowf(ts, "%s\t%.3f\t%llu\t%llu\t%.1f\t%.1f\t%.1f", test_names[r->test],
                              r->res.ts_t[k], (unsigned long long)r->res.ts_n[k],
                              (unsigned long long)r->res.ts_err[k], us(r->res.ts_p50[k]),
                              us(r->res.ts_p99[k]), us(r->res.ts_max[k])) != 0)
                goto done;
        for (size_t k = 0; r->before.ok && r->after.ok && k < r->after.n; k++) {
            double b = 0;
            info_get(&r->before, r->after.key[k], &b);
            if (sb_table_rowf(it, "%s\t%s\t%.0f\t%.0f\t%.0f", test_names[r->test],
                              r->after.key[k], b, r->after.val[k], r->after.val[k] - b) != 0)
                goto done;
        }
    }
    if (write_table(dir, "load.csv", t, 0) || write_table(dir, "load_timeseries.csv", ts, 0) ||
        write_table(dir, "load_info.csv", it, 0) || write_md(dir, runs, nruns, t, o) ||
        write_cdf(dir, runs, nruns))
        goto done;
    rc = 0;
done:
    sb_table_free(t);
    sb_table_free(ts);
    sb_table_free(it);
    return rc;
}

/* ---- main ---- */

static int resolve(const char *host, int port, struct sockaddr_storage *out)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    char ps[16];
    snprintf(ps, sizeof(ps), "%d", port);
    int rc = getaddrinfo(host, ps, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "load: cannot resolve %s: %s\n", host, gai_strerror(rc));
        return -1;
    }
    memcpy(out, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

int sb_cmd_load(int argc, char **argv)
{
    lopt o = {.host = "127.0.0.1", .port = 6379, .conns = 50, .pipeline = 1, .threads = 1,
              .timeout = 30,
              .requests = 100000, .datasize = 3, .vkey = "sbench:vset", .dim = 128,
              .vcount = 10, .data = "../shared/data/gptcache_mock_pairs.json",
              .share = {0.5, 0.3, 0.2}, .zipf = 1.0, .namespaces = 1, .ns_prefix = "sbench",
              .threshold = -1, .cost = "0.002", .answer_size = 200, .progress = -1,
              .seed = 1};
    int tests[16], ntests = 0;
    int prc = parse_opts(argc, argv, &o, tests, &ntests);
    if (prc != 0) {
        usage(prc > 0 ? stdout : stderr);
        return prc > 0 ? 0 : 2;
    }
    struct sockaddr_storage addr;
    if (resolve(o.host, o.port, &addr) != 0) return 1;
    sc_options so = {.user = o.user, .password = o.pass, .timeout_ms = 10000,
                     .client_name = "simcache-bench"};
    sc_conn *cc = sc_connect_opts(o.host, o.port, &so);
    if (!cc || sc_errcode(cc) != 0) {
        fprintf(stderr, "load: cannot connect to %s:%d: %s\n", o.host, o.port,
                cc ? sc_errstr(cc) : "out of memory");
        sc_free(cc);
        return 1;
    }
    run runs[16];
    int nruns = 0, any_ok = 0, rc = 0;
    if (o.csv) print_csv_header();
    for (int i = 0; i < ntests; i++) {
        run *r = &runs[nruns];
        memset(r, 0, sizeof(*r));
        r->test = (ltest)tests[i];
        lwl wl;
        if (lwl_init(&wl, r->test, &o) != 0) { rc = 1; break; }
        if (r->test == T_LLM && setup_llm(cc, &o) != 0) {
            lwl_free(&wl);
            rc = 1;
            break;
        }
        info_take(cc, &r->before);
        int lr = load_run(&o, &wl, &addr, &r->res);
        info_take(cc, &r->after);
        lwl_free(&wl);
        nruns++;
        if (lr != 0) { rc = 1; break; }
        if (r->res.st.ok) any_ok = 1;
        if (o.csv) print_csv(r);
        else print_human(r, &o);
    }
    if (o.out && nruns && write_outputs(o.out, runs, nruns, &o) != 0) {
        fprintf(stderr, "load: writing to %s: %s\n", o.out, strerror(errno));
        rc = 1;
    }
    if (!rc && !any_ok) {
        fprintf(stderr, "load: no request succeeded\n");
        rc = 1;
    }
    for (int i = 0; i < nruns; i++) {
        lresult_free(&runs[i].res);
        info_free(&runs[i].before);
        info_free(&runs[i].after);
    }
    sc_free(cc);
    return rc;
}
