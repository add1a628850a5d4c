/* vset_bench.c -- vector-set load generator: VADD and VSIM throughput over
 * N connections with pipelining, VSIM latency percentiles, recall@10 of
 * VSIM against VSIM ... TRUTH, and bytes per vector from MEMORY USAGE.
 *
 * It drives any server speaking Redis 8's vector-set commands (simcache,
 * or Redis 8 when one is available): bench/vset_bench.py starts the servers
 * and runs this program against each in the same run, so the numbers are
 * ratios measured side by side on one machine (STYLE.md 8).
 *
 * Data: synthetic clustered vectors (gaussian centres, gaussian spread),
 * generated from a seed, so both servers get the same vectors and queries.
 *
 * Phases (each over all connections, one thread per connection):
 *   insert   VADD FP32 of n vectors, pipelined P deep
 *   qps      VSIM COUNT 10 of q queries, pipelined P deep
 *   latency  VSIM COUNT 10, one request in flight per connection; every
 *            request timed (p50/p99 of the round trip)
 *   open     (--open-rates r1,r2,...) open loop: for each total rate R,
 *            every connection sends VSIM on a fixed schedule (R/conns per
 *            second, staggered), one request in flight, no pipelining, for
 *            --open-secs seconds. Latency runs from the *scheduled* send
 *            time to the reply, so a server that falls behind is charged
 *            for the queue it causes (no coordinated omission, as wrk2).
 *            Reported per rate: achieved rate, p50, p99, p99.9.
 *   recall   200 queries (one connection): |VSIM & TRUTH| / 10, and the
 *            tie-aware recall10_ties: results scoring at least TRUTH's
 *            10th score count as hits (BIN scores are multiples of 1/dim,
 *            so the true top 10 is a set only up to ties), and
 *            recall10_f32: against the exact float cosine top 10 computed
 *            here by brute force (what a quantisation costs in answers:
 *            TRUTH itself uses the set's quantised distances)
 *   memory   MEMORY USAGE key / n
 * With --server-pid (same machine), the server's CPU time (user + system,
 * all threads, from /proc/PID/stat) is read around the pipelined VSIM
 * phase and each open-loop rate and reported as server CPU microseconds per
 * VSIM: the cost of a query including hand-offs, which scheduling noise
 * from other processes does not inflate the way it inflates latency.
 * Output: one line of key=value pairs (parsed by vset_bench.py). */
#include <hiredis/hiredis.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct cfg {
    const char *host;
    int port, n, dim, conns, pipe, queries, clusters, lat_queries, ef;
    unsigned seed;
    const char *key;
    const char *quant;     /* "Q8" or "NOQUANT" */
    const char *open_rates;  /* comma-separated total req/s, or NULL */
    double open_secs;
    int server_pid;          /* 0: no CPU accounting */
} cfg;

static cfg C = {"127.0.0.1", 6380, 10000, 384, 50, 16, 20000, 100, 20000, 0, 1, "bench", "Q8",
                NULL, 3.0, 0};

/* Server CPU seconds (utime + stime), or -1 without --server-pid. */
static double server_cpu_s(void) {
    if (!C.server_pid) return -1;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", C.server_pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');       /* comm may contain spaces */
    if (!p) return -1;
    unsigned long ut = 0, st = 0;
    /* after ")": state(3) ... utime is field 14, stime 15 */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}
static float *data, *queries;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rs;
static double gauss(void) {
    /* Box-Muller over a xorshift stream: deterministic for a seed. */
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    double u1 = ((rs >> 11) + 1.0) / 9007199254740993.0;
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    double u2 = (rs >> 11) / 9007199254740992.0;
    return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

static void gen(void) {
    rs = 0x9E3779B97F4A7C15ULL ^ C.seed;
    float *cent = malloc((size_t)C.clusters * C.dim * sizeof(float));
    for (size_t i = 0; i < (size_t)C.clusters * C.dim; i++) cent[i] = (float)gauss();
    data = malloc((size_t)C.n * C.dim * sizeof(float));
    queries = malloc((size_t)C.queries * C.dim * sizeof(float));
    for (int i = 0; i < C.n; i++) {
        const float *c = cent + (size_t)(i % C.clusters) * C.dim;
        for (int d = 0; d < C.dim; d++) data[(size_t)i * C.dim + d] = c[d] + 0.4f * (float)gauss();
    }
    for (int i = 0; i < C.queries; i++) {
        const float *c = cent + (size_t)((i * 7) % C.clusters) * C.dim;
        for (int d = 0; d < C.dim; d++)
            queries[(size_t)i * C.dim + d] = c[d] + 0.4f * (float)gauss();
    }
    free(cent);
}

static redisContext *conn(void) {
    redisContext *c = redisConnect(C.host, C.port);
    if (!c || c->err) {
        fprintf(stderr, "connect %s:%d: %s\n", C.host, C.port, c ? c->errstr : "oom");
        exit(1);
    }
    return c;
}

static void check(redisReply *r, const char *what) {
    if (!r || r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "%s failed: %s\n", what, r ? r->str : "connection error");
        exit(1);
    }
}

static void append_vadd(redisContext *c, int i) {
    char name[32];
    snprintf(name, sizeof name, "e%d", i);
    const char *argv[6] = {"VADD", C.key, "FP32", (const char *)(data + (size_t)i * C.dim), name,
                           C.quant};
    size_t lens[6] = {4, strlen(C.key), 4, (size_t)C.dim * 4, strlen(name), strlen(C.quant)};
    redisAppendCommandArgv(c, 6, argv, lens);
}

static int vsim_withscores; /* the recall phase asks WITHSCORES */

static void append_vsim(redisContext *c, int qi, int truth) {
    char efs[16];
    const char *argv[9] = {"VSIM", C.key, "FP32", (const char *)(queries + (size_t)qi * C.dim),
                           "COUNT", "10", NULL, NULL, NULL};
    size_t lens[9] = {4, strlen(C.key), 4, (size_t)C.dim * 4, 5, 2, 0, 0, 0};
    int argc = 6;
    if (vsim_withscores) {
        argv[argc] = "WITHSCORES";
        lens[argc++] = 10;
    }
    if (truth) {
        argv[argc] = "TRUTH";
        lens[argc++] = 5;
    } else if (C.ef > 0) {
        snprintf(efs, sizeof efs, "%d", C.ef);
        argv[argc] = "EF";
        lens[argc++] = 2;
        argv[argc] = efs;
        lens[argc++] = strlen(efs);
    }
    redisAppendCommandArgv(c, argc, argv, lens);
}

typedef struct task {
    int id, phase;
    int lo, hi;            /* item range */
    double *lat;           /* latency phases: seconds per request */
    int nlat;
    double t0, interval;   /* open loop: start of schedule, seconds between sends */
} task;

static void sleep_until(double t) {
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0) {
    }
}

static void *run(void *arg) {
    task *t = arg;
    redisContext *c = conn();
    redisReply *r;
    if (t->phase == 3) {                 /* open loop: sends on a schedule */
        for (int i = 0; i < t->hi - t->lo; i++) {
            double due = t->t0 + (double)i * t->interval;
            if (now_s() < due) sleep_until(due);
            append_vsim(c, (t->lo + i) % C.queries, 0);
            if (redisGetReply(c, (void **)&r) != REDIS_OK) check(NULL, "VSIM");
            check(r, "VSIM");
            freeReplyObject(r);
            t->lat[t->nlat++] = now_s() - due;
        }
    } else if (t->phase == 2) {                 /* latency: one in flight */
        for (int i = t->lo; i < t->hi; i++) {
            double t0 = now_s();
            append_vsim(c, i % C.queries, 0);
            if (redisGetReply(c, (void **)&r) != REDIS_OK) check(NULL, "VSIM");
            check(r, "VSIM");
            freeReplyObject(r);
            t->lat[t->nlat++] = now_s() - t0;
        }
    } else {
        for (int i = t->lo; i < t->hi; i += C.pipe) {
            int m = i + C.pipe <= t->hi ? C.pipe : t->hi - i;
            for (int k = 0; k < m; k++) {
                if (t->phase == 0) append_vadd(c, i + k);
                else append_vsim(c, (i + k) % C.queries, 0);
            }
            for (int k = 0; k < m; k++) {
                if (redisGetReply(c, (void **)&r) != REDIS_OK) check(NULL, "reply");
                check(r, t->phase == 0 ? "VADD" : "VSIM");
                freeReplyObject(r);
            }
        }
    }
    redisFree(c);
    return NULL;
}

/* rate: open loop only, total requests per second. */
static double phase(int ph, int total, double rate, double **lat_out, int *nlat_out) {
    static pthread_t th[1024];
    static task ts[1024];
    int nc = C.conns;
    double t0 = now_s();
    double start = t0 + 0.2;             /* every connection open before the schedule starts */
    for (int i = 0; i < nc; i++) {
        ts[i] = (task){i, ph, (int)((long)total * i / nc), (int)((long)total * (i + 1) / nc),
                       NULL, 0, 0, 0};
        if (ph >= 2) ts[i].lat = malloc(sizeof(double) * (size_t)(ts[i].hi - ts[i].lo + 1));
        if (ph == 3) {
            ts[i].interval = (double)nc / rate;
            ts[i].t0 = start + (double)i / rate;    /* staggered: arrivals evenly spread */
        }
        pthread_create(&th[i], NULL, run, &ts[i]);
    }
    for (int i = 0; i < nc; i++) pthread_join(th[i], NULL);
    double el = now_s() - (ph == 3 ? start : t0);
    if (ph >= 2) {
        double *all = malloc(sizeof(double) * (size_t)total);
        int n = 0;
        for (int i = 0; i < nc; i++) {
            memcpy(all + n, ts[i].lat, sizeof(double) * (size_t)ts[i].nlat);
            n += ts[i].nlat;
            free(ts[i].lat);
        }
        *lat_out = all;
        *nlat_out = n;
    }
    return el;
}

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The exact cosine top 10 of query qi over data (double accumulation). */
static void cos_top10(int qi, int *top) {
    const float *q = queries + (size_t)qi * C.dim;
    double best[10];
    int nb = 0;
    for (int i = 0; i < C.n; i++) {
        const float *x = data + (size_t)i * C.dim;
        double dot = 0, nx = 0;
        for (int d = 0; d < C.dim; d++) {
            dot += (double)q[d] * x[d];
            nx += (double)x[d] * x[d];
        }
        double s = nx > 0 ? dot / sqrt(nx) : -2;
        if (nb < 10 || s > best[nb - 1]) {
            int j = nb < 10 ? nb++ : 9;
            while (j > 0 && best[j - 1] < s) {
                best[j] = best[j - 1];
                top[j] = top[j - 1];
                j--;
            }
            best[j] = s;
            top[j] = i;
        }
    }
}

static double recall(double *ties, double *vs_f32) {
    redisContext *c = conn();
    int nq = 200 < C.queries ? 200 : C.queries, hits = 0, total = 0, thits = 0, fhits = 0;
    vsim_withscores = 1; /* RESP2: name, score, name, score... */
    for (int q = 0; q < nq; q++) {
        redisReply *a = NULL, *b = NULL;
        append_vsim(c, q, 0);
        append_vsim(c, q, 1);
        if (redisGetReply(c, (void **)&a) != REDIS_OK || redisGetReply(c, (void **)&b) != REDIS_OK)
            check(NULL, "recall");
        check(a, "VSIM");
        check(b, "VSIM TRUTH");
        for (size_t i = 0; i < b->elements; i += 2)
            for (size_t j = 0; j < a->elements; j += 2)
                if (b->element[i]->len == a->element[j]->len &&
                    !memcmp(b->element[i]->str, a->element[j]->str, a->element[j]->len)) {
                    hits++;
                    break;
                }
        if (b->elements >= 2) {
            double last = atof(b->element[b->elements - 1]->str);
            /* 1e-6: float noise between the two paths' scores, below BIN's
             * step of 1/dim (>= 1.5e-5) */
            for (size_t j = 1; j < a->elements; j += 2)
                thits += atof(a->element[j]->str) >= last - 1e-6;
        }
        total += (int)b->elements / 2;
        int top[10];
        cos_top10(q, top);
        for (size_t j = 0; j < a->elements; j += 2)
            for (int t = 0; t < 10 && t < C.n; t++) {
                char nm[32];
                int len = snprintf(nm, sizeof nm, "e%d", top[t]);
                if ((size_t)len == a->element[j]->len && !memcmp(nm, a->element[j]->str, len)) {
                    fhits++;
                    break;
                }
            }
        freeReplyObject(a);
        freeReplyObject(b);
    }
    redisFree(c);
    vsim_withscores = 0;
    *ties = total ? (double)thits / total : 0;
    *vs_f32 = nq ? (double)fhits / (nq * (C.n < 10 ? C.n : 10)) : 0;
    return total ? (double)hits / total : 0;
}

int main(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--host")) C.host = v;
        else if (!strcmp(k, "--port")) C.port = atoi(v);
        else if (!strcmp(k, "-n")) C.n = atoi(v);
        else if (!strcmp(k, "-d")) C.dim = atoi(v);
        else if (!strcmp(k, "-c")) C.conns = atoi(v);
        else if (!strcmp(k, "-P")) C.pipe = atoi(v);
        else if (!strcmp(k, "-q")) C.queries = atoi(v);
        else if (!strcmp(k, "--lat-queries")) C.lat_queries = atoi(v);
        else if (!strcmp(k, "--clusters")) C.clusters = atoi(v);
        else if (!strcmp(k, "--ef")) C.ef = atoi(v);
        else if (!strcmp(k, "--seed")) C.seed = (unsigned)atoi(v);
        else if (!strcmp(k, "--quant")) C.quant = v;
        else if (!strcmp(k, "--open-rates")) C.open_rates = v;
        else if (!strcmp(k, "--open-secs")) C.open_secs = atof(v);
        else if (!strcmp(k, "--server-pid")) C.server_pid = atoi(v);
        else {
            fprintf(stderr, "unknown option %s\n", k);
            return 2;
        }
    }
    if (C.conns < 1 || C.conns > 1024 || C.pipe < 1 || C.n < 1 || C.queries < 1) {
        fprintf(stderr, "bad parameters\n");
        return 2;
    }
    gen();
    redisContext *c = conn();
    redisReply *r = redisCommand(c, "DEL %s", C.key);
    check(r, "DEL");
    freeReplyObject(r);
    /* The first element creates the key (with its quantisation). */
    append_vadd(c, 0);
    if (redisGetReply(c, (void **)&r) != REDIS_OK) check(NULL, "VADD");
    check(r, "VADD");
    freeReplyObject(r);

    double t_ins = phase(0, C.n, 0, NULL, NULL);
    double cpu0 = server_cpu_s();
    double t_q = phase(1, C.queries, 0, NULL, NULL);
    double cpu_q = server_cpu_s() - cpu0;
    double *lat;
    int nlat;
    double t_lat = phase(2, C.lat_queries, 0, &lat, &nlat);
    qsort(lat, (size_t)nlat, sizeof(double), cmpd);
    for (const char *p = C.open_rates; p && *p;) {
        double rate = atof(p);
        if (rate > 0) {
            double *ol;
            int no;
            int total = (int)(rate * C.open_secs);
            if (total < C.conns) total = C.conns;
            double c0 = server_cpu_s();
            double el = phase(3, total, rate, &ol, &no);
            if (c0 >= 0)
                printf("open_%.0f_cpu_us=%.1f ", rate, (server_cpu_s() - c0) / no * 1e6);
            qsort(ol, (size_t)no, sizeof(double), cmpd);
            printf("open_%.0f_achieved=%.0f open_%.0f_p50_ms=%.3f open_%.0f_p99_ms=%.3f "
                   "open_%.0f_p999_ms=%.3f ",
                   rate, no / el, rate, ol[no / 2] * 1e3, rate, ol[(size_t)(no * 0.99)] * 1e3,
                   rate, ol[(size_t)(no * 0.999)] * 1e3);
            free(ol);
        }
        p = strchr(p, ',');
        if (p) p++;
    }
    double rec_ties, rec_f32;
    double rec = recall(&rec_ties, &rec_f32);
    r = redisCommand(c, "MEMORY USAGE %s", C.key);
    long long mem = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    r = redisCommand(c, "VCARD %s", C.key);
    long long card = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    if (cpu0 >= 0) printf("vsim_cpu_us=%.1f ", cpu_q / C.queries * 1e6);
    printf("recall10_ties=%.4f recall10_f32=%.4f ", rec_ties, rec_f32);
    printf("n=%d dim=%d conns=%d pipe=%d card=%lld vadd_per_s=%.0f vsim_per_s=%.0f "
           "lat_qps=%.0f p50_ms=%.3f p99_ms=%.3f recall10=%.4f bytes_per_vector=%.0f\n",
           C.n, C.dim, C.conns, C.pipe, card, C.n / t_ins, C.queries / t_q, nlat / t_lat,
           lat[nlat / 2] * 1e3, lat[(size_t)(nlat * 0.99)] * 1e3, rec,
           card > 0 ? (double)mem / (double)card : -1.0);
    free(lat);
    redisFree(c);
    free(data);
    free(queries);
    return 0;
}
