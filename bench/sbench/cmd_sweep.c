/* cmd_sweep.c -- `simcache-bench sweep`: recall against latency and
 * throughput of VSIM over a list of EF values, on the server, and the
 * smallest EF reaching a target recall.
 *
 *   simcache-bench sweep [-h host] [-p port] [-a password] [--user u]
 *       [--key K] [--existing] [--fvecs FILE [--query-fvecs FILE]]
 *       [--n N] [--dim D] [--clusters C] [--spread F] [--queries Q] [--seed S]
 *       [--k K] [--ef LIST] [--target-recall R] [--pipeline P]
 *       [--quant q8|noquant] [--m M] [--build-ef E] [--keep] [--out DIR]
 *
 * Design decisions:
 * 1. Data: by default N seeded clustered vectors (C Gaussian clusters
 *    around random unit centres; uniform random vectors make every ANN
 *    index look bad and real embeddings are clustered), loaded with VADD
 *    pipelined 256 deep; queries are Q fresh points from the same clusters,
 *    not stored. --fvecs loads real vectors (the first N; queries are the
 *    next Q of the same file, or --query-fvecs). --existing uses the key as
 *    it is: queries are the vectors of Q random members (VRANDMEMBER,
 *    VEMB) with seeded noise added, so a query is never its own answer.
 * 2. Ground truth is the server's own exact search (VSIM ... TRUTH) over
 *    the same stored vectors, so recall measures the index, not a
 *    client-side quantisation or distance mismatch. recall@k of a query =
 *    |approx top-k ∩ exact top-k| / k; the table reports the mean and the
 *    worst query.
 * 3. Two timings per EF, both on one connection: latency (p50/p99) from
 *    one query at a time (round trip on loopback, the server's threaded
 *    search included), and QPS from a closed loop keeping --pipeline
 *    queries in flight (a new query is appended as each reply arrives).
 *    One pipelined connection is not many clients: the server's search
 *    pool still runs queries in parallel, but the loop thread's parsing is
 *    shared. For many-client load use `simcache-bench load`.
 * 4. The recommendation is the smallest EF in the list whose mean
 *    recall >= --target-recall; none when no EF reaches it (then larger
 *    EF values, or a larger M at build time, are needed).
 */
#include "report.h"
#include "sbench.h"
#include "stats.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/simcache.h"

const char sb_help_sweep[] = "VSIM EF sweep: recall@k vs QPS and latency; recommend an EF";

enum { MAX_EF = 32, LOAD_DEPTH = 256 };

typedef struct sweep_opts {
    const char *host, *password, *user, *key, *fvecs, *qfvecs, *out, *quant;
    int port, existing, keep, m, build_ef, pipeline, k, nef;
    long n, dim, clusters, nq;
    unsigned long long seed;
    double target, spread;
    int ef[MAX_EF];
} sweep_opts;

typedef struct sweep_data {
    float *q;          /* nq x dim queries */
    long nq, dim;
    char ***truth;     /* per query: its exact answers (element names) */
    int *ntruth;       /* answers per query (< k if the set is small) */
} sweep_data;

static void usage(FILE *f)
{
    fputs("usage: simcache-bench sweep [-h host] [-p port] [-a password] [--user u]\n"
          "  [--key K] [--existing] [--fvecs FILE [--query-fvecs FILE]]\n"
          "  [--n N] [--dim D] [--clusters C] [--spread F] [--queries Q] [--seed S]\n"
          "  [--k K] [--ef 10,20,40,...] [--target-recall R] [--pipeline P]\n"
          "  [--quant q8|noquant] [--m M] [--build-ef E] [--keep] [--out DIR]\n"
          "Writes sweep.csv, sweep.md, sweep.svg (recall vs QPS) to --out.\n",
          f);
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_efs(const char *s, sweep_opts *o)
{
    o->nef = 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        long v;
        if (o->nef == MAX_EF || parse_long(tok, 1, 1000000, &v)) return -1;
        o->ef[o->nef++] = (int)v;
    }
    for (int i = 1; i < o->nef; i++)
        if (o->ef[i] <= o->ef[i - 1]) return -1;   /* ascending, distinct */
    return o->nef ? 0 : -1;
}

static int parse_opts(int argc, char **argv, sweep_opts *o)
{
    *o = (sweep_opts){.host = "127.0.0.1", .port = 6379, .out = ".", .n = 20000, .dim = 384,
                      .clusters = 64, .nq = 200, .seed = 1, .k = 10, .target = 0.95,
                      .pipeline = 16, .spread = 1.0};
    parse_efs("10,20,40,80,160,320", o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long l;
        if (!strcmp(a, "--help")) { usage(stdout); exit(0); }
        if (!strcmp(a, "--existing")) { o->existing = 1; continue; }
        if (!strcmp(a, "--keep")) { o->keep = 1; continue; }
        if (!v) goto bad;
        i++;
        if (!strcmp(a, "-h") || !strcmp(a, "--host")) o->host = v;
        else if (!strcmp(a, "-p") || !strcmp(a, "--port")) {
            if (parse_long(v, 1, 65535, &l)) goto bad;
            o->port = (int)l;
        } else if (!strcmp(a, "-a") || !strcmp(a, "--pass")) o->password = v;
        else if (!strcmp(a, "--user")) o->user = v;
        else if (!strcmp(a, "--key")) o->key = v;
        else if (!strcmp(a, "--fvecs")) o->fvecs = v;
        else if (!strcmp(a, "--query-fvecs")) o->qfvecs = v;
        else if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--quant")) {
            if (strcmp(v, "q8") && strcmp(v, "noquant")) goto bad;
            o->quant = v;
        } else if (!strcmp(a, "--n")) { if (parse_long(v, 1, 100000000, &o->n)) goto bad; }
        else if (!strcmp(a, "--dim")) { if (parse_long(v, 1, 65536, &o->dim)) goto bad; }
        else if (!strcmp(a, "--clusters")) { if (parse_long(v, 1, 1000000, &o->clusters)) goto bad; }
        else if (!strcmp(a, "--queries")) { if (parse_long(v, 1, 1000000, &o->nq)) goto bad; }
        else if (!strcmp(a, "--seed")) {
            if (parse_long(v, 0, LONG_MAX, &l)) goto bad;
            o->seed = (unsigned long long)l;
        } else if (!strcmp(a, "--k")) {
            if (parse_long(v, 1, 1000, &l)) goto bad;
            o->k = (int)l;
        } else if (!strcmp(a, "--pipeline")) {
            if (parse_long(v, 1, 4096, &l)) goto bad;
            o->pipeline = (int)l;
        } else if (!strcmp(a, "--m")) {
            if (parse_long(v, 4, 4096, &l)) goto bad;
            o->m = (int)l;
        } else if (!strcmp(a, "--build-ef")) {
            if (parse_long(v, 1, 1000000, &l)) goto bad;
            o->build_ef = (int)l;
        } else if (!strcmp(a, "--ef")) { if (parse_efs(v, o)) goto bad; }
        else if (!strcmp(a, "--spread")) {
            char *end;
            o->spread = strtod(v, &end);
            if (*end || end == v || !(o->spread >= 0 && o->spread <= 100)) goto bad;
        }
        else if (!strcmp(a, "--target-recall")) {
            char *end;
            o->target = strtod(v, &end);
            if (*end || end == v || !(o->target > 0 && o->target <= 1)) goto bad;
        } else goto bad;
        continue;
    bad:
        fprintf(stderr, "sweep: bad or incomplete option '%s'%s%s\n", a, v ? " " : "",
                v ? v : "");
        usage(stderr);
        return -1;
    }
    if (o->existing && !o->key) {
        fputs("sweep: --existing needs --key\n", stderr);
        return -1;
    }
    if (o->existing && o->fvecs) {
        fputs("sweep: --existing and --fvecs are exclusive\n", stderr);
        return -1;
    }
    return 0;
}

/* ---- data ---- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_gauss(uint64_t *s)
{
    double u1 = ((double)(rng_next(s) >> 11) + 0.5) / 9007199254740992.0;
    double u2 = (double)(rng_next(s) >> 11) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* Clustered points: unit centres, Gaussian offsets of total norm ~spread
 * (--spread; at 1 clusters overlap, so neighbours are close but the index
 * has to work to separate them). */
typedef struct gen {
    float *centres;
    long clusters, dim;
    double spread;      /* total norm of a point's offset from its centre */
    uint64_t st;
} gen;

static int gen_init(gen *g, long clusters, long dim, double spread, unsigned long long seed)
{
    g->spread = spread;
    g->clusters = clusters;
    g->dim = dim;
    g->st = seed * 0x2545F4914F6CDD1Dull + 1;
    g->centres = malloc((size_t)clusters * dim * sizeof(float));
    if (!g->centres) return -1;
    for (long c = 0; c < clusters; c++) {
        double norm = 0;
        float *v = g->centres + c * dim;
        for (long d = 0; d < dim; d++) {
            v[d] = (float)rng_gauss(&g->st);
            norm += (double)v[d] * v[d];
        }
        for (long d = 0; d < dim; d++) v[d] = (float)(v[d] / sqrt(norm));
    }
    return 0;
}

static void gen_point(gen *g, float *out)
{
    const float *c = g->centres + (long)(rng_next(&g->st) % (uint64_t)g->clusters) * g->dim;
    double s = g->spread / sqrt((double)g->dim);
    for (long d = 0; d < g->dim; d++) out[d] = c[d] + (float)(s * rng_gauss(&g->st));
}

/* Reads up to max vectors from an .fvecs file (int32 dim, dim floats),
 * skipping the first `skip`. *dim is set from the file (all vectors must
 * agree). Returns the count read, -1 on error (message printed). */
static long fvecs_read(const char *path, long skip, long max, long *dim, float **out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "sweep: %s: %s\n", path, strerror(errno));
        return -1;
    }
    long n = 0, cap = 0, idx = 0;
    float *v = NULL;
    int32_t d;
    *dim = 0;
    while (n < max && fread(&d, 4, 1, f) == 1) {
        if (d <= 0 || d > 65536 || (*dim && d != *dim)) {
            fprintf(stderr, "sweep: %s: vector %ld has dimension %d\n", path, idx, (int)d);
            goto fail;
        }
        *dim = d;
        if (idx++ < skip) {
            if (fseek(f, (long)d * 4, SEEK_CUR) != 0) goto trunc;
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            float *nv = realloc(v, (size_t)cap * d * sizeof(float));
            if (!nv) goto fail;
            v = nv;
        }
        if (fread(v + n * d, 4, (size_t)d, f) != (size_t)d) goto trunc;
        n++;
    }
    fclose(f);
    *out = v;
    return n;
trunc:
    fprintf(stderr, "sweep: %s: truncated vector %ld\n", path, idx - 1);
fail:
    free(v);
    fclose(f);
    return -1;
}

/* ---- server ---- */

static int check_reply(sc_conn *c, sc_reply *r, const char *what)
{
    if (!r) {
        fprintf(stderr, "sweep: %s: %s\n", what, sc_errstr(c));
        return -1;
    }
    if (r->type == SC_REPLY_ERROR) {
        fprintf(stderr, "sweep: %s: %s\n", what, r->str);
        return -1;
    }
    return 0;
}

/* VADDs n vectors (names v<first+i>), LOAD_DEPTH commands per round trip. */
static int load_vectors(sc_conn *c, const sweep_opts *o, const float *v, long n, long dim)
{
    char name[32], mbuf[16], efbuf[16];
    snprintf(mbuf, sizeof mbuf, "%d", o->m);
    snprintf(efbuf, sizeof efbuf, "%d", o->build_ef);
    for (long base = 0; base < n; base += LOAD_DEPTH) {
        long end = base + LOAD_DEPTH < n ? base + LOAD_DEPTH : n;
        for (long i = base; i < end; i++) {
            const char *argv[12] = {"VADD", o->key, "FP32", (const char *)(v + i * dim)};
            size_t len[12] = {4, strlen(o->key), 4, (size_t)dim * sizeof(float)};
            int argc = 4;
            snprintf(name, sizeof name, "v%ld", i);
            argv[argc] = name;
            len[argc++] = strlen(name);
            if (o->quant) {
                argv[argc] = !strcmp(o->quant, "q8") ? "Q8" : "NOQUANT";
                len[argc] = strlen(argv[argc]);
                argc++;
            }
            if (o->m) {
                argv[argc] = "M"; len[argc++] = 1;
                argv[argc] = mbuf; len[argc] = strlen(mbuf); argc++;
            }
            if (o->build_ef) {
                argv[argc] = "EF"; len[argc++] = 2;
                argv[argc] = efbuf; len[argc] = strlen(efbuf); argc++;
            }
            if (sc_append(c, argc, argv, len) != 0) return check_reply(c, NULL, "VADD");
        }
        for (long i = base; i < end; i++) {
            sc_reply *r = NULL;
            sc_get_reply(c, &r);
            int bad = check_reply(c, r, "VADD");
            sc_reply_free(r);
            if (bad) return -1;
        }
    }
    return 0;
}

/* VSIM key FP32 q COUNT k [EF ef | TRUTH] as an argv (ef 0 = TRUTH). */
typedef struct vsim_cmd {
    const char *argv[9];
    size_t len[9];
    int argc;
    char kbuf[16], efbuf[16];
} vsim_cmd;

static void vsim_build(vsim_cmd *v, const char *key, const float *q, long dim, int k, int ef)
{
    snprintf(v->kbuf, sizeof v->kbuf, "%d", k);
    snprintf(v->efbuf, sizeof v->efbuf, "%d", ef);
    const char *a[] = {"VSIM", key, "FP32", (const char *)q, "COUNT", v->kbuf,
                       ef ? "EF" : "TRUTH", v->efbuf};
    v->argc = ef ? 8 : 7;
    for (int i = 0; i < v->argc; i++) {
        v->argv[i] = a[i];
        v->len[i] = i == 3 ? (size_t)dim * sizeof(float) : strlen(a[i]);
    }
}

static int vsim_names(sc_conn *c, sc_reply *r, char ***names, int *n)
{
    if (check_reply(c, r, "VSIM") != 0) return -1;
    if (r->type != SC_REPLY_ARRAY && r->type != SC_REPLY_SET) {
        fputs("sweep: VSIM: unexpected reply type\n", stderr);
        return -1;
    }
    *n = (int)r->elements;
    *names = calloc(r->elements ? r->elements : 1, sizeof(char *));
    if (!*names) return -1;
    for (size_t i = 0; i < r->elements; i++)
        (*names)[i] = strdup(r->element[i]->str ? r->element[i]->str : "");
    return 0;
}

static void names_free(char **names, int n)
{
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

static int truth_all(sc_conn *c, const sweep_opts *o, sweep_data *d)
{
    d->truth = calloc((size_t)d->nq, sizeof *d->truth);
    d->ntruth = calloc((size_t)d->nq, sizeof(int));
    if (!d->truth || !d->ntruth) return -1;
    for (long i = 0; i < d->nq; i++) {
        vsim_cmd v;
        vsim_build(&v, o->key, d->q + i * d->dim, d->dim, o->k, 0);
        sc_reply *r = sc_command(c, v.argc, v.argv, v.len);
        char **names;
        int rc = vsim_names(c, r, &names, &d->ntruth[i]);
        sc_reply_free(r);
        if (rc) return -1;
        d->truth[i] = names;
    }
    return 0;
}

static double recall_of(const sweep_data *d, long i, char **got, int ngot, int k)
{
    char **want = d->truth[i];
    int nw = d->ntruth[i], hit = 0;
    if (nw == 0) return 1.0;
    for (int a = 0; a < ngot && a < k; a++)
        for (int b = 0; b < nw; b++)
            if (!strcmp(got[a], want[b])) {
                hit++;
                break;
            }
    return (double)hit / (double)(nw < k ? nw : k);
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct ef_result {
    int ef;
    double recall, recall_min, qps, p50_us, p99_us, mean_us;
} ef_result;

/* Latency and recall: one query at a time (note 3). */
static int run_sequential(sc_conn *c, const sweep_opts *o, const sweep_data *d, int ef,
                          ef_result *res, double *lat)
{
    double sum_r = 0, min_r = 1, sum_l = 0;
    for (long i = 0; i < d->nq; i++) {
        vsim_cmd v;
        vsim_build(&v, o->key, d->q + i * d->dim, d->dim, o->k, ef);
        double t0 = now_us();
        sc_reply *r = sc_command(c, v.argc, v.argv, v.len);
        lat[i] = now_us() - t0;
        char **names;
        int n;
        int rc = vsim_names(c, r, &names, &n);
        sc_reply_free(r);
        if (rc) return -1;
        double rr = recall_of(d, i, names, n, o->k);
        names_free(names, n);
        sum_r += rr;
        if (rr < min_r) min_r = rr;
        sum_l += lat[i];
    }
    qsort(lat, (size_t)d->nq, sizeof *lat, cmp_double);
    res->recall = sum_r / (double)d->nq;
    res->recall_min = min_r;
    res->mean_us = sum_l / (double)d->nq;
    res->p50_us = sb_quantile_sorted(lat, (size_t)d->nq, 0.50);
    res->p99_us = sb_quantile_sorted(lat, (size_t)d->nq, 0.99);
    return 0;
}

/* Throughput: a closed loop with o->pipeline queries in flight, cycling
 * through the query set until at least max(nq, 1000) replies and 0.5 s. */
static int run_pipelined(sc_conn *c, const sweep_opts *o, const sweep_data *d, int ef,
                         ef_result *res)
{
    long sent = 0, done = 0, want = d->nq > 1000 ? d->nq : 1000;
    double t0 = now_us(), elapsed = 0;
    for (;;) {
        while (sent - done < o->pipeline && (sent < want || elapsed < 5e5)) {
            vsim_cmd v;
            vsim_build(&v, o->key, d->q + (sent % d->nq) * d->dim, d->dim, o->k, ef);
            if (sc_append(c, v.argc, v.argv, v.len) != 0) return check_reply(c, NULL, "VSIM");
            sent++;
        }
        if (done == sent) break;
        sc_reply *r = NULL;
        sc_get_reply(c, &r);
        int bad = check_reply(c, r, "VSIM");
        sc_reply_free(r);
        if (bad) return -1;
        done++;
        elapsed = now_us() - t0;
    }
    res->qps = (double)done / (elapsed / 1e6);
    return 0;
}

/* ---- queries ---- */

static int queries_existing(sc_conn *c, const sweep_opts *o, sweep_data *d)
{
    char nq[24];
    snprintf(nq, sizeof nq, "%ld", o->nq);
    sc_reply *r = sc_commandv(c, "VDIM", o->key, NULL);
    if (check_reply(c, r, "VDIM") != 0 || r->type != SC_REPLY_INTEGER) {
        sc_reply_free(r);
        return -1;
    }
    d->dim = (long)r->integer;
    sc_reply_free(r);
    r = sc_commandv(c, "VRANDMEMBER", o->key, nq, NULL);
    if (check_reply(c, r, "VRANDMEMBER") != 0 || r->type != SC_REPLY_ARRAY || !r->elements) {
        sc_reply_free(r);
        return -1;
    }
    d->nq = (long)r->elements;
    d->q = malloc((size_t)d->nq * d->dim * sizeof(float));
    uint64_t st = o->seed;
    int rc = d->q ? 0 : -1;
    for (long i = 0; i < d->nq && rc == 0; i++) {
        sc_reply *e = sc_commandv(c, "VEMB", o->key, r->element[i]->str, NULL);
        if (check_reply(c, e, "VEMB") != 0 || (long)e->elements != d->dim) rc = -1;
        double norm = 0;
        for (long j = 0; rc == 0 && j < d->dim; j++) {
            const sc_reply *x = e->element[j];
            double val = x->type == SC_REPLY_DOUBLE ? x->dval : strtod(x->str ? x->str : "0", NULL);
            d->q[i * d->dim + j] = (float)val;
            norm += val * val;
        }
        /* noise of 10% of the vector's norm: near a member, not on it */
        double s = 0.1 * sqrt(norm / (double)d->dim);
        for (long j = 0; rc == 0 && j < d->dim; j++)
            d->q[i * d->dim + j] += (float)(s * rng_gauss(&st));
        sc_reply_free(e);
    }
    sc_reply_free(r);
    return rc;
}

/* Loads the data (unless --existing) and builds the queries. */
static int prepare(sc_conn *c, const sweep_opts *o, sweep_data *d, long *stored)
{
    if (o->existing) {
        sc_reply *r = sc_commandv(c, "VCARD", o->key, NULL);
        int bad = check_reply(c, r, "VCARD") || r->type != SC_REPLY_INTEGER || r->integer == 0;
        if (!bad) *stored = (long)r->integer;
        sc_reply_free(r);
        if (bad) {
            fprintf(stderr, "sweep: key %s is missing or empty\n", o->key);
            return -1;
        }
        return queries_existing(c, o, d);
    }
    sc_reply *r = sc_commandv(c, "EXISTS", o->key, NULL);
    int exists = r && r->type == SC_REPLY_INTEGER && r->integer > 0;
    sc_reply_free(r);
    if (exists) {
        fprintf(stderr, "sweep: key %s exists; use --existing to sweep it, or another --key\n",
                o->key);
        return -1;
    }
    float *base = NULL;
    long n;
    int rc = -1;
    if (o->fvecs) {
        long dim;
        n = fvecs_read(o->fvecs, 0, o->n, &dim, &base);
        if (n <= 0) return -1;
        long qdim = 0;
        d->nq = fvecs_read(o->qfvecs ? o->qfvecs : o->fvecs, o->qfvecs ? 0 : n, o->nq, &qdim,
                           &d->q);
        if (d->nq <= 0 || qdim != dim) {
            fprintf(stderr, "sweep: no usable queries (%s)\n",
                    o->qfvecs ? o->qfvecs : "the file holds no vectors after the base set");
            goto done;
        }
        d->dim = dim;
    } else {
        gen g;
        n = o->n;
        d->dim = o->dim;
        d->nq = o->nq;
        base = malloc((size_t)n * o->dim * sizeof(float));
        d->q = malloc((size_t)d->nq * o->dim * sizeof(float));
        if (!base || !d->q || gen_init(&g, o->clusters, o->dim, o->spread, o->seed) != 0) goto done;
        for (long i = 0; i < n; i++) gen_point(&g, base + i * o->dim);
        for (long i = 0; i < d->nq; i++) gen_point(&g, d->q + i * o->dim);
        free(g.centres);
    }
    double t0 = now_us();
    if (load_vectors(c, o, base, n, d->dim) != 0) goto done;
    printf("loaded %ld x %ld into %s in %.2f s\n", n, d->dim, o->key, (now_us() - t0) / 1e6);
    *stored = n;
    rc = 0;
done:
    free(base);
    return rc;
}

/* ---- outputs ---- */

static int write_outputs(const sweep_opts *o, const sweep_data *d, long stored,
                         const ef_result *res, int nres, int rec)
{
    static const char *const cols[] = {"ef", "k", "queries", "recall", "recall_min", "qps",
                                       "p50_us", "p99_us", "mean_us"};
    sb_table *t = sb_table_new(9, cols);
    if (!t) return -1;
    int rc = 0;
    double x[MAX_EF], y[MAX_EF];
    for (int i = 0; i < nres && rc == 0; i++) {
        rc = sb_table_rowf(t, "%d\t%d\t%ld\t%.4f\t%.4f\t%.0f\t%.1f\t%.1f\t%.1f", res[i].ef,
                           o->k, d->nq, res[i].recall, res[i].recall_min, res[i].qps,
                           res[i].p50_us, res[i].p99_us, res[i].mean_us);
        x[i] = res[i].recall;
        y[i] = res[i].qps;
    }
    FILE *f = rc ? NULL : sb_out_open(o->out, "sweep.csv");
    if (!f || sb_table_write_csv(t, f) != 0) rc = -1;
    if (f && fclose(f) != 0) rc = -1;
    FILE *md = rc ? NULL : sb_out_open(o->out, "sweep.md");
    if (md) {
        fprintf(md, "# VSIM EF sweep\n\nKey `%s`: %ld vectors of dimension %ld (%s); %ld "
                    "queries, recall@%d against VSIM TRUTH. Latency: one query at a time on "
                    "one connection; QPS: one connection, %d queries in flight.\n\n",
                o->key, stored, d->dim,
                o->existing ? "existing key" : o->fvecs ? o->fvecs : "seeded clustered",
                d->nq, o->k, o->pipeline);
        if (sb_table_write_md(t, md) != 0) rc = -1;
        if (rec >= 0)
            fprintf(md, "\nRecommended: **EF %d**, the smallest EF reaching recall@%d >= %.3f "
                        "(measured %.4f, %.0f QPS, p99 %.1f us).\n",
                    res[rec].ef, o->k, o->target, res[rec].recall, res[rec].qps,
                    res[rec].p99_us);
        else
            fprintf(md, "\nNo EF in the list reaches recall@%d >= %.3f (best %.4f): try larger "
                        "EF values, or a larger M when the key is built.\n",
                    o->k, o->target, res[nres - 1].recall);
        if (fclose(md) != 0) rc = -1;
    } else {
        rc = -1;
    }
    sb_series s = {.x = x, .y = y, .n = (size_t)nres, .markers = 1, .label = "VSIM EF sweep"};
    char title[160];
    snprintf(title, sizeof title, "recall@%d vs QPS, %ld x %ld, EF %d..%d", o->k, stored,
             d->dim, res[0].ef, res[nres - 1].ef);
    sb_plot p = {.title = title, .xlabel = "recall", .ylabel = "queries per second",
                 .ylog = 1, .series = &s, .nseries = 1, .has_vline = 1, .vline = o->target,
                 .vline_label = "target recall"};
    f = rc ? NULL : sb_out_open(o->out, "sweep.svg");
    if (!f || sb_svg_write(&p, f) != 0) rc = -1;
    if (f && fclose(f) != 0) rc = -1;
    sb_table_free(t);
    return rc;
}

int sb_cmd_sweep(int argc, char **argv)
{
    sweep_opts o;
    if (parse_opts(argc, argv, &o) != 0) return 2;
    char keybuf[64];
    if (!o.key) {
        snprintf(keybuf, sizeof keybuf, "sbench-sweep-%ld", (long)getpid());
        o.key = keybuf;
    }
    sc_options so = {.user = o.user, .password = o.password, .timeout_ms = 120000,
                     .client_name = "simcache-bench-sweep"};
    sc_conn *c = sc_connect_opts(o.host, o.port, &so);
    if (!c || sc_errcode(c) != 0) {
        fprintf(stderr, "sweep: connecting to %s:%d: %s\n", o.host, o.port,
                c ? sc_errstr(c) : "out of memory");
        sc_free(c);
        return 1;
    }
    sweep_data d = {0};
    ef_result res[MAX_EF];
    double *lat = NULL;
    long stored = 0;
    int rc = 1, loaded = 0, rec = -1;
    if (prepare(c, &o, &d, &stored) != 0) goto done;
    loaded = !o.existing;
    if (truth_all(c, &o, &d) != 0) goto done;
    lat = malloc((size_t)d.nq * sizeof *lat);
    if (!lat) goto done;
    printf("%6s %8s %10s %10s %10s %10s\n", "ef", "recall", "recall_min", "qps", "p50_us",
           "p99_us");
    for (int i = 0; i < o.nef; i++) {
        res[i].ef = o.ef[i];
        if (run_sequential(c, &o, &d, o.ef[i], &res[i], lat) != 0 ||
            run_pipelined(c, &o, &d, o.ef[i], &res[i]) != 0)
            goto done;
        printf("%6d %8.4f %10.4f %10.0f %10.1f %10.1f\n", res[i].ef, res[i].recall,
               res[i].recall_min, res[i].qps, res[i].p50_us, res[i].p99_us);
        if (rec < 0 && res[i].recall >= o.target) rec = i;
    }
    int all_exact = 1;
    for (int i = 0; i < o.nef; i++) all_exact &= res[i].recall_min >= 1.0;
    if (all_exact)
        puts("note: recall is 1 for every query at every EF: the set may be small enough for "
             "the server to scan it exactly (n x dim <= 2^19 floats), where EF has no effect");
    if (rec >= 0)
        printf("recommended ef %d (smallest with recall@%d >= %.3f)\n", res[rec].ef, o.k,
               o.target);
    else
        printf("no ef reaches recall@%d >= %.3f\n", o.k, o.target);
    if (write_outputs(&o, &d, stored, res, o.nef, rec) != 0) {
        fprintf(stderr, "sweep: writing to %s: %s\n", o.out, strerror(errno));
        goto done;
    }
    printf("wrote %s/sweep.csv %s/sweep.md %s/sweep.svg\n", o.out, o.out, o.out);
    rc = 0;
done:
    if (loaded && !o.keep) sc_reply_free(sc_commandv(c, "DEL", o.key, NULL));
    if (d.truth)
        for (long i = 0; i < d.nq; i++)
            if (d.truth[i]) names_free(d.truth[i], d.ntruth[i]);
    free(d.truth);
    free(d.ntruth);
    free(d.q);
    free(lat);
    sc_free(c);
    return rc;
}
