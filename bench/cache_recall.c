/* cache_recall.c -- how much search the semantic cache's lookups need:
 * recall of the HNSW search against the exact scan, and its cost, per EF
 * and storage (f32, int8 + float16 re-rank), on the vectors the cache
 * really stores (the built-in embedder, at the cache's default DIM,
 * EMBED_BUILTIN_DIM_DEFAULT, unless --dim).
 *
 * A CACHE.GET searches the namespace's HNSW index for CACHE_CANDIDATES (10)
 * neighbours and lets lexscore pick one of them (server/cache.c), so what
 * the lookup needs from the index is the true nearest entry *among the 10
 * candidates*, not a full top-10: reported as "top1 in 10" next to the
 * stricter recall@1 (HNSW's first result is the exact first).
 *
 * Data sets:
 *   pairs      ../shared/data/gptcache_mock_pairs.json: every distinct
 *              `origin` stored, every `similar` (a paraphrase) asked.
 *   synthetic  N prompts from the template of bench/cache_bench.py's
 *              semantic part ("how do I <verb> the <w> <w> for <w> <w>
 *              number i"); queries are rewordings ("Please, How do I ...?")
 *              of Q random stored prompts, as cache_bench.py asks.
 * The index is built with the cache's parameters (M 16, ef_construction
 * default), on --threads threads (hnsw inserts run concurrently); each
 * search runs on one thread, timed on the wall clock (mean us per search;
 * a shared machine inflates it, the recall is exact).
 *
 * Usage: cache-recall [--data PATH] [--n N] [--queries Q] [--dim D]
 *                     [--efs 10,16,...] [--threads T] [--set pairs|synthetic|both]
 *                     [--graph 1]
 * Sets under the index's exact threshold (max(2560, 2^19 / dim) for float32)
 * are scanned exactly by the index (hnsw.h), as in the cache: all EFs then give recall 1. --graph 1
 * forces the graph walk to show what a larger namespace of such prompts
 * would get.
 * Output: one markdown table per data set and storage. Exit 0; 2 when the
 * pairs file is missing (the synthetic set still runs with --set synthetic). */
#include <cjson/cJSON.h>

#include "bench/pairs.h"
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "index/hnsw.h"
#include "server/cache.h"
#include "server/embed_builtin.h"

typedef struct opts {
    const char *data, *set, *efs;
    int n, queries, threads;
    int graph;             /* 1: always walk the graph (no exact scan of small sets) */
    uint32_t dim;
} opts;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- data ---- */

typedef struct textset {
    char **stored;
    int nstored;
    char **queries;
    int nqueries;
} textset;

/* Distinct origins stored (first occurrence), every similar asked. */
static int load_pairs(const char *path, textset *t) {
    bench_pair *p;
    size_t n;
    if (bench_pairs_load(path, &p, &n)) return -1;
    t->stored = calloc(n + 1, sizeof(char *));
    t->queries = calloc(n + 1, sizeof(char *));
    for (size_t k = 0; k < n; k++) {
        int dup = 0;
        for (int i = 0; i < t->nstored && !dup; i++) dup = !strcmp(t->stored[i], p[k].origin);
        if (!dup) t->stored[t->nstored++] = strdup(p[k].origin);
        t->queries[t->nqueries++] = strdup(p[k].similar);
    }
    bench_pairs_free(p, n);
    return 0;
}

static const char *WORDS[] = {
    "account", "billing", "invoice", "password", "email", "export", "import", "report",
    "dashboard", "team", "workspace", "project", "token", "key", "webhook", "api", "limit",
    "quota", "plan", "refund", "upgrade", "downgrade", "cancel", "region", "backup", "restore",
    "schedule", "alert", "metric", "log", "trace", "user", "role", "permission", "group",
    "folder", "file", "image", "video", "audio", "language", "currency", "tax", "address",
    "phone", "device", "browser", "mobile", "desktop", "printer", "calendar", "meeting"};
static const char *VERBS[] = {"reset", "change", "export", "delete", "create", "rename",
                              "share", "archive", "restore", "enable", "disable", "configure",
                              "rotate", "invite", "remove", "update", "download", "upload",
                              "sync", "merge"};
#define NW (sizeof WORDS / sizeof *WORDS)
#define NV (sizeof VERBS / sizeof *VERBS)

static uint64_t rng_next(uint64_t *s) {   /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void synth(textset *t, int n, int q) {
    uint64_t s = 7;
    t->stored = calloc((size_t)n, sizeof(char *));
    t->nstored = n;
    char buf[256];
    for (int i = 0; i < n; i++) {
        snprintf(buf, sizeof buf, "how do I %s the %s %s for %s %s number %d",
                 VERBS[rng_next(&s) % NV], WORDS[rng_next(&s) % NW], WORDS[rng_next(&s) % NW],
                 WORDS[rng_next(&s) % NW], WORDS[rng_next(&s) % NW], i);
        t->stored[i] = strdup(buf);
    }
    t->queries = calloc((size_t)q, sizeof(char *));
    t->nqueries = q;
    for (int i = 0; i < q; i++) {
        const char *p = t->stored[rng_next(&s) % (uint64_t)n];
        snprintf(buf, sizeof buf, "Please, How do I%s?", p + strlen("how do I"));
        t->queries[i] = strdup(buf);
    }
}

/* ---- index ---- */

typedef struct build_arg {
    hnsw *h;
    const float *vecs;
    uint32_t dim;
    int from, to;
    int fails;
} build_arg;

static void *build_range(void *a) {
    build_arg *b = a;
    for (int i = b->from; i < b->to; i++) {
        uint32_t id;
        if (hnsw_insert(b->h, b->vecs + (size_t)i * b->dim, b->dim, &id) != HNSW_OK) b->fails++;
    }
    return NULL;
}

/* Embeds texts into a dim-wide matrix; rows that embed to nothing are zero
 * (hnsw refuses them; counted as failures). */
static float *embed_all(char **texts, int n, uint32_t dim) {
    float *v = calloc((size_t)n * dim, sizeof(float));
    embed_feats f;
    embed_feats_init(&f);
    for (int i = 0; i < n; i++)
        embed_builtin(texts[i], strlen(texts[i]), dim, v + (size_t)i * dim, &f);
    embed_feats_free(&f);
    return v;
}

static int run_set(const char *name, const textset *t, const opts *o) {
    float *sv = embed_all(t->stored, t->nstored, o->dim);
    float *qv = embed_all(t->queries, t->nqueries, o->dim);
    for (int quant = 0; quant < 2; quant++) {
        hnsw_params p;
        hnsw_params_default(&p, o->dim);
        p.storage = quant ? HNSW_STORE_I8 : HNSW_STORE_F32;
        hnsw *h;
        if (hnsw_create(&p, &h) != HNSW_OK) return -1;
        hnsw_reserve(h, (uint32_t)t->nstored);
        if (o->graph) hnsw_set_exact_threshold(h, 0);
        double t0 = now_s();
        pthread_t th[16];
        build_arg ba[16];
        int nt = o->threads < 1 ? 1 : o->threads > 16 ? 16 : o->threads;
        for (int i = 0; i < nt; i++) {
            ba[i] = (build_arg){h, sv, o->dim, (int)((long)t->nstored * i / nt),
                                (int)((long)t->nstored * (i + 1) / nt), 0};
            pthread_create(&th[i], NULL, build_range, &ba[i]);
        }
        int fails = 0;
        for (int i = 0; i < nt; i++) {
            pthread_join(th[i], NULL);
            fails += ba[i].fails;
        }
        double build_s = now_s() - t0;
        /* exact answers once */
        uint32_t *truth = malloc((size_t)t->nqueries * sizeof *truth);
        int nq = 0;
        for (int i = 0; i < t->nqueries; i++) {
            hnsw_result r;
            truth[i] = UINT32_MAX;
            if (hnsw_search_exact(h, qv + (size_t)i * o->dim, o->dim, 1, &r) == 1) {
                truth[i] = r.id;
                nq++;
            }
        }
        printf("\n%s, %s: %d stored (%d refused), %d queries with an answer, build %.1f s "
               "on %d threads, index %.1f MB\n\n",
               name, quant ? "int8 + f16 re-rank" : "f32", t->nstored, fails, nq, build_s, nt,
               hnsw_memory_bytes(h) / 1e6);
        printf("| EF | recall@1 | exact top-1 in the %d candidates | us per search |\n",
               CACHE_CANDIDATES);
        printf("|---|---|---|---|\n");
        for (const char *e = o->efs; e && *e;) {
            uint32_t ef = (uint32_t)atoi(e);
            int r1 = 0, inc = 0;
            hnsw_result res[CACHE_CANDIDATES];
            double s0 = now_s();
            for (int i = 0; i < t->nqueries; i++) {
                if (truth[i] == UINT32_MAX) continue;
                int n = hnsw_search(h, qv + (size_t)i * o->dim, o->dim, CACHE_CANDIDATES, ef, res);
                if (n > 0 && res[0].id == truth[i]) r1++;
                for (int k = 0; k < n; k++)
                    if (res[k].id == truth[i]) {
                        inc++;
                        break;
                    }
            }
            double us = (now_s() - s0) / (nq ? nq : 1) * 1e6;
            printf("| %u | %.4f | %.4f | %.1f |\n", ef, (double)r1 / nq, (double)inc / nq, us);
            fflush(stdout);
            e = strchr(e, ',');
            if (e) e++;
        }
        free(truth);
        hnsw_free(h);
    }
    free(sv);
    free(qv);
    return 0;
}

int main(int argc, char **argv) {
    opts o = {"../shared/data/gptcache_mock_pairs.json", "both", "10,16,24,32,48,64,100,200",
              100000, 1000, 2, 0, EMBED_BUILTIN_DIM_DEFAULT};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--data")) o.data = v;
        else if (!strcmp(k, "--set")) o.set = v;
        else if (!strcmp(k, "--efs")) o.efs = v;
        else if (!strcmp(k, "--n")) o.n = atoi(v);
        else if (!strcmp(k, "--queries")) o.queries = atoi(v);
        else if (!strcmp(k, "--threads")) o.threads = atoi(v);
        else if (!strcmp(k, "--dim")) o.dim = (uint32_t)atoi(v);
        else if (!strcmp(k, "--graph")) o.graph = atoi(v);
        else {
            fprintf(stderr, "unknown option %s\n", k);
            return 2;
        }
    }
    if (o.n < 1 || o.queries < 1 || o.dim < 1) {
        fprintf(stderr, "bad parameters\n");
        return 2;
    }
    int rc = 0;
    if (strcmp(o.set, "synthetic") != 0) {
        textset t = {0};
        if (load_pairs(o.data, &t) != 0) {
            fprintf(stderr, "cannot read %s (the pairs data set lives in ../shared/data)\n",
                    o.data);
            rc = 2;
        } else if (run_set("pairs", &t, &o) != 0) {
            return 1;
        }
    }
    if (strcmp(o.set, "pairs") != 0) {
        textset t = {0};
        synth(&t, o.n, o.queries);
        char name[64];
        snprintf(name, sizeof name, "synthetic %d", o.n);
        if (run_set(name, &t, &o) != 0) return 1;
    }
    return rc;
}
