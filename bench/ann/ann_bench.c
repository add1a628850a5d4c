/* ann_bench.c -- measures our HNSW index (index/hnsw.h) on a dataset
 * directory written by ann-prep, printing the same CSV records as the
 * hnswlib harness and the FAISS script so bench/ann/report.py can put them
 * side by side.
 *
 * Usage: ann-bench --dir DIR [--name NAME] [--variant f32|f32-i4|f32-nocodes|i8|i8-f32|i8-norr] [--M 16]
 *          [--efc 200] [--ef 16,32,64,128,256,512] [--reps 3]
 *          [--churn-ef 128] [--churn-factor 3] [--no-churn] [--threads 2]
 *
 * Variants: f32 (float32 storage), i8 (int8 storage, float16 copies kept
 * to re-rank the final candidates: HNSW_STORE_I8 + HNSW_RERANK_F16, the
 * default), i8-f32 (the same with float32 copies, HNSW_RERANK_F32),
 * i8-norr (int8 only, no re-rank: the smallest footprint), f32-nocodes
 * (float32 records only, hnsw_params.codes = 0: the least float32 memory),
 * f32-i4 (float32 with 4-bit traversal codes, HNSW_CODES_I4: the cache
 * namespaces' choice, measured here on dense data).
 *
 * Output records (one per line, first field = record type):
 *   BUILD,impl,variant,dataset,n,dim,M,efc,threads,build_s,bytes_rss,bytes_acct
 *   SEARCH,impl,variant,dataset,ef,recall,qps1,qps2,p50_us,p99_us
 *   CHURN,impl,variant,dataset,ef,recall_before,recall_after,fresh_ins_s,
 *         churn_ins_s,reinserted,bytes_acct_before,bytes_acct_after
 *
 * Method (identical in bench/ann/hnswlib_harness.cpp):
 * 1. Build single-threaded, timing the inserts; bytes_rss is the growth of
 *    the resident set over the build divided by n (everything the index
 *    allocated and touched, allocator overhead included), bytes_acct the
 *    index's own accounting (hnsw_memory_bytes) divided by n.
 * 2. For each ef: all queries one at a time on one thread, each timed
 *    (p50/p99 from those), recall@10 against gt.ivecs; QPS single-thread
 *    and with the queries split over --threads threads, median of --reps.
 * 3. Churn: recall at --churn-ef, then delete a random tenth of the rows
 *    and insert them again, until factor * n rows were re-inserted; the
 *    insert rate counts insert time only, and is compared with the fresh
 *    build's n / build_s. Recall again at the end.
 * 4. A second build with --threads threads, timed only.
 * The machine is shared: medians, never means, and ratios only between
 * implementations measured in the same run. */
#include "ann_data.h"
#include "index/hnsw.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define K 10
#define MAX_EF 64
#define MAX_THREADS 64

typedef struct bench {
    const char *name, *variant;
    ann_matrix base, q;
    ann_gt gt;
    hnsw_params params;
    hnsw *h;
    int32_t *id2row;     /* index id -> base row; -1 = none */
    size_t id_cap;       /* entries in id2row */
    uint32_t *row2id;    /* base row -> current index id */
    atomic_size_t next;  /* next row to insert (threaded build) */
    atomic_int failed;   /* first insert error, 0 if none */
} bench;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &res) != 2) res = 0;
        fclose(f);
    }
    return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int map_id(bench *b, uint32_t id, size_t row)
{
    if (id >= b->id_cap) return -1; /* grown only single-threaded, in churn */
    b->id2row[id] = (int32_t)row;
    b->row2id[row] = id;
    return 0;
}

static void *build_worker(void *arg)
{
    bench *b = arg;
    for (;;) {
        size_t r = atomic_fetch_add(&b->next, 1);
        if (r >= b->base.rows || atomic_load(&b->failed)) break;
        uint32_t id;
        int rc = hnsw_insert(b->h, b->base.v + r * b->base.dim, b->base.dim, &id);
        if (rc == 0 && map_id(b, id, r) < 0) rc = HNSW_ENOMEM;
        if (rc < 0) {
            int zero = 0;
            atomic_compare_exchange_strong(&b->failed, &zero, rc);
        }
    }
    return NULL;
}

/* Builds b->h from all base rows with nthreads threads; returns seconds or -1. */
static double build(bench *b, int nthreads)
{
    if (hnsw_create(&b->params, &b->h) != 0) return -1;
    for (size_t i = 0; i < b->id_cap; i++) b->id2row[i] = -1;
    atomic_store(&b->next, 0);
    atomic_store(&b->failed, 0);
    pthread_t th[MAX_THREADS];
    double t0 = now_s();
    for (int i = 1; i < nthreads; i++) pthread_create(&th[i], NULL, build_worker, b);
    build_worker(b);
    for (int i = 1; i < nthreads; i++) pthread_join(th[i], NULL);
    double t = now_s() - t0;
    if (atomic_load(&b->failed)) {
        fprintf(stderr, "ann-bench: insert failed: %d\n", atomic_load(&b->failed));
        return -1;
    }
    return t;
}

typedef struct search_job {
    bench *b;
    uint32_t ef;
    size_t from, to;
    int32_t *rows;     /* nq * K base rows found, -1 padded */
    double *lat_us;    /* per-query latency, or NULL */
    int rc;
} search_job;

static void *search_worker(void *arg)
{
    search_job *j = arg;
    bench *b = j->b;
    hnsw_result res[K];
    for (size_t qi = j->from; qi < j->to; qi++) {
        double t0 = j->lat_us ? now_s() : 0;
        int n = hnsw_search(b->h, b->q.v + qi * b->q.dim, b->q.dim, K, j->ef, res);
        if (j->lat_us) j->lat_us[qi] = (now_s() - t0) * 1e6;
        if (n < 0) {
            j->rc = n;
            return NULL;
        }
        int32_t *out = j->rows + qi * K;
        for (int i = 0; i < K; i++)
            out[i] = i < n && res[i].id < b->id_cap ? b->id2row[res[i].id] : -1;
    }
    return NULL;
}

/* Runs every query over nthreads threads; returns wall seconds or -1. */
static double search_all(bench *b, uint32_t ef, int nthreads, int32_t *rows, double *lat)
{
    search_job jobs[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    size_t nq = b->q.rows;
    for (int i = 0; i < nthreads; i++)
        jobs[i] = (search_job){b, ef, nq * i / nthreads, nq * (i + 1) / nthreads, rows, lat, 0};
    double t0 = now_s();
    for (int i = 1; i < nthreads; i++) pthread_create(&th[i], NULL, search_worker, &jobs[i]);
    search_worker(&jobs[0]);
    for (int i = 1; i < nthreads; i++) pthread_join(th[i], NULL);
    double t = now_s() - t0;
    for (int i = 0; i < nthreads; i++)
        if (jobs[i].rc < 0) return -1;
    return t;
}

static double recall_of(const bench *b, const int32_t *rows)
{
    double sum = 0;
    for (size_t qi = 0; qi < b->q.rows; qi++)
        sum += ann_recall(rows + qi * K, b->gt.ids + qi * b->gt.k, K);
    return sum / (double)b->q.rows;
}

static int sweep(bench *b, const uint32_t *efs, int nef, int reps, int nthreads)
{
    size_t nq = b->q.rows;
    int32_t *rows = malloc(nq * K * sizeof *rows);
    double *lat = malloc(nq * sizeof *lat);
    if (!rows || !lat) goto fail;
    for (int e = 0; e < nef; e++) {
        double t1[16], t2[16], rec = 0;
        for (int r = 0; r < reps; r++) {
            if ((t1[r] = search_all(b, efs[e], 1, rows, lat)) < 0) goto fail;
            if (r == 0) rec = recall_of(b, rows);
            if ((t2[r] = search_all(b, efs[e], nthreads, rows, NULL)) < 0) goto fail;
        }
        qsort(lat, nq, sizeof *lat, cmp_double);
        printf("SEARCH,simcache,%s,%s,%u,%.4f,%.1f,%.1f,%.1f,%.1f\n", b->variant, b->name,
               efs[e], rec, nq / median(t1, reps), nq / median(t2, reps), lat[nq / 2],
               lat[(size_t)(nq * 0.99)]);
        fflush(stdout);
    }
    free(rows);
    free(lat);
    return 0;
fail:
    fprintf(stderr, "ann-bench: search failed\n");
    free(rows);
    free(lat);
    return -1;
}

static double recall_at(bench *b, uint32_t ef)
{
    int32_t *rows = malloc(b->q.rows * K * sizeof *rows);
    double r = rows && search_all(b, ef, 1, rows, NULL) >= 0 ? recall_of(b, rows) : -1;
    free(rows);
    return r;
}

static int churn(bench *b, uint32_t ef, double factor, double fresh_s)
{
    size_t n = b->base.rows, batch = n / 10 ? n / 10 : 1, target = (size_t)(factor * n), done = 0;
    size_t *perm = malloc(n * sizeof *perm);
    if (!perm) return -1;
    for (size_t i = 0; i < n; i++) perm[i] = i;
    double before = recall_at(b, ef);
    size_t bytes_before = hnsw_memory_bytes(b->h);
    uint64_t s = 12345;
    double ins_s = 0;
    while (done < target) {
        size_t m = target - done < batch ? target - done : batch;
        for (size_t i = 0; i < m; i++) { /* partial Fisher-Yates: m random rows */
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            size_t j = i + (size_t)((s >> 33) % (n - i));
            size_t t = perm[i]; perm[i] = perm[j]; perm[j] = t;
        }
        for (size_t i = 0; i < m; i++) {
            uint32_t id = b->row2id[perm[i]];
            if (hnsw_delete(b->h, id) != 0) goto fail;
            b->id2row[id] = -1;
        }
        double t0 = now_s();
        for (size_t i = 0; i < m; i++) {
            uint32_t id;
            if (hnsw_insert(b->h, b->base.v + perm[i] * b->base.dim, b->base.dim, &id) != 0)
                goto fail;
            if (id >= b->id_cap) {
                size_t cap = (size_t)id * 2;
                int32_t *g = realloc(b->id2row, cap * sizeof *g);
                if (!g) goto fail;
                for (size_t k = b->id_cap; k < cap; k++) g[k] = -1;
                b->id2row = g;
                b->id_cap = cap;
            }
            map_id(b, id, perm[i]);
        }
        ins_s += now_s() - t0;
        done += m;
    }
    double after = recall_at(b, ef);
    printf("CHURN,simcache,%s,%s,%u,%.4f,%.4f,%.1f,%.1f,%zu,%.1f,%.1f\n", b->variant, b->name, ef,
           before, after, n / fresh_s, done / ins_s, done, (double)bytes_before / n,
           (double)hnsw_memory_bytes(b->h) / n);
    fflush(stdout);
    free(perm);
    return 0;
fail:
    fprintf(stderr, "ann-bench: churn failed\n");
    free(perm);
    return -1;
}

static int load_dir(bench *b, const char *dir)
{
    char p[4096], err[512];
    snprintf(p, sizeof p, "%s/base.fvecs", dir);
    if (ann_read_fvecs(p, &b->base, err, sizeof err) < 0) goto fail;
    snprintf(p, sizeof p, "%s/query.fvecs", dir);
    if (ann_read_fvecs(p, &b->q, err, sizeof err) < 0) goto fail;
    snprintf(p, sizeof p, "%s/gt.ivecs", dir);
    if (ann_read_ivecs(p, &b->gt, err, sizeof err) < 0) goto fail;
    if (b->q.dim != b->base.dim || b->gt.rows != b->q.rows || b->gt.k < K) {
        snprintf(err, sizeof err, "%s: inconsistent files", dir);
        goto fail;
    }
    return 0;
fail:
    fprintf(stderr, "ann-bench: %s\n", err);
    return -1;
}

static int usage(void)
{
    fprintf(stderr, "usage: ann-bench --dir DIR [--name NAME] [--variant f32|f32-i4|f32-nocodes|i8|i8-f32|i8-norr] [--M 16] "
                    "[--efc 200] [--ef 16,32,...] [--reps 3] [--churn-ef 128] "
                    "[--churn-factor 3] [--no-churn] [--threads 2]\n");
    return 2;
}

int main(int argc, char **argv)
{
    bench b = {.name = "dataset", .variant = "f32"};
    const char *dir = NULL, *eflist = "16,32,64,128,256,512";
    unsigned M = 16, efc = 200, churn_ef = 128;
    int reps = 3, nthreads = 2, do_churn = 1;
    double factor = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--no-churn")) { do_churn = 0; continue; }
        if (i + 1 >= argc) return usage();
        const char *a = argv[i], *v = argv[++i];
        if (!strcmp(a, "--dir")) dir = v;
        else if (!strcmp(a, "--name")) b.name = v;
        else if (!strcmp(a, "--variant")) b.variant = v;
        else if (!strcmp(a, "--M")) M = (unsigned)atoi(v);
        else if (!strcmp(a, "--efc")) efc = (unsigned)atoi(v);
        else if (!strcmp(a, "--ef")) eflist = v;
        else if (!strcmp(a, "--reps")) reps = atoi(v);
        else if (!strcmp(a, "--churn-ef")) churn_ef = (unsigned)atoi(v);
        else if (!strcmp(a, "--churn-factor")) factor = atof(v);
        else if (!strcmp(a, "--threads")) nthreads = atoi(v);
        else return usage();
    }
    uint32_t efs[MAX_EF];
    int nef = 0;
    for (const char *p = eflist; *p && nef < MAX_EF;) {
        efs[nef++] = (uint32_t)strtoul(p, (char **)&p, 10);
        if (*p == ',') p++;
        else if (*p) return usage();
    }
    int i8 = !strcmp(b.variant, "i8"), i8f32 = !strcmp(b.variant, "i8-f32"),
        i8raw = !strcmp(b.variant, "i8-norr"), nocodes = !strcmp(b.variant, "f32-nocodes"),
        i4 = !strcmp(b.variant, "f32-i4");
    if (!dir || reps < 1 || reps > 16 || nthreads < 1 || nthreads > MAX_THREADS ||
        (!i8 && !i8f32 && !i8raw && !nocodes && !i4 && strcmp(b.variant, "f32")))
        return usage();
    if (load_dir(&b, dir) < 0) return 1;

    size_t n = b.base.rows;
    hnsw_params_default(&b.params, b.base.dim);
    b.params.M = M;
    b.params.ef_construction = efc;
    b.params.storage = i8 || i8f32 || i8raw ? HNSW_STORE_I8 : HNSW_STORE_F32;
    b.params.rerank = i8 ? HNSW_RERANK_F16 : i8f32 ? HNSW_RERANK_F32 : HNSW_RERANK_NONE;
    b.params.codes = nocodes ? HNSW_CODES_NONE : i4 ? HNSW_CODES_I4 : HNSW_CODES_I8;
    b.params.seed = 100;
    b.id_cap = 2 * n + 16;
    b.id2row = malloc(b.id_cap * sizeof *b.id2row);
    b.row2id = malloc(n * sizeof *b.row2id);
    if (!b.id2row || !b.row2id) return 1;

    size_t rss0 = rss_bytes();
    double t1 = build(&b, 1);
    if (t1 < 0) return 1;
    size_t rss1 = rss_bytes();
    printf("BUILD,simcache,%s,%s,%zu,%u,%u,%u,1,%.3f,%.1f,%.1f\n", b.variant, b.name, n,
           b.base.dim, M, efc, t1, rss1 > rss0 ? (double)(rss1 - rss0) / n : 0.0,
           (double)hnsw_memory_bytes(b.h) / n);
    fflush(stdout);
    if (sweep(&b, efs, nef, reps, nthreads) < 0) return 1;
    if (do_churn && churn(&b, churn_ef, factor, t1) < 0) return 1;
    hnsw_free(b.h);

    if (nthreads > 1) {
        double tn = build(&b, nthreads);
        if (tn < 0) return 1;
        printf("BUILD,simcache,%s,%s,%zu,%u,%u,%u,%d,%.3f,,%.1f\n", b.variant, b.name, n,
               b.base.dim, M, efc, nthreads, tn, (double)hnsw_memory_bytes(b.h) / n);
        hnsw_free(b.h);
    }
    free(b.id2row);
    free(b.row2id);
    ann_matrix_free(&b.base);
    ann_matrix_free(&b.q);
    ann_gt_free(&b.gt);
    return 0;
}
