/* embed_quality.c -- hit quality and latency of the built-in embedder.
 *
 * Quality: on ../shared/data/gptcache_mock_pairs.json (999 {origin,
 * similar} paraphrase pairs), store each distinct origin (with "its own
 * answer", i.e. the origin itself: 63 rows share their origin with another
 * row and a real cache would hold it once, under one exact key: 964
 * distinct), then ask with each `similar` and run the full lookup
 * pipeline: embed_builtin -> HNSW top-k (index/hnsw.h) -> lexscore gate,
 * swap test, IDF re-score, threshold and margin.
 * A hit is CORRECT when the served entry is the query's own origin, FALSE
 * when it is another pair's (the false-hit rate is over all queries).
 *
 * No tuning on the reported numbers: the pairs are split by index parity;
 * the EVEN half (tune) chose the defaults in lexscore.c, the ODD half is
 * held out. Each half is its own namespace (own index, own IDF table); the
 * "all" row stores every origin. Markdown tables go to stdout: the default
 * settings per half, a threshold sweep and a margin sweep, and the
 * plain-cosine baseline (HNSW similarity alone, no IDF, gate or margin),
 * then the tune-half grid pick (most correct hits with at most
 * --grid-false % false hits on the tune half, default 0) and how it fares
 * on the held-out half. --show-gated/--show-false print examples.
 *
 * Latency: median ns of embed_builtin (features + 512-d vector) on a
 * 50-word prompt and of lexscore_pick over 10 candidates, on the thread's
 * CPU clock and on the wall clock (see the comment above latency()).
 *
 * Usage: embed-quality [--data PATH] [--dim D] [--k K] [--bits B]
 *                      [--lexw W,B,C] [--threshold T] [--margin M] [--swap-df N]
 *                      [--no-gate] [--latency-only] [--quality-only]
 *                      [--show-gated N] [--show-false N] [--grid-false PCT]
 * Exit status 0; 2 when the data file is missing (message says so). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "index/hnsw.h"
#include "server/embed_builtin.h"
#include "server/lexscore.h"
#include "bench/pairs.h"

#define MAXK 64

typedef struct pair {
    char *origin, *similar;
    int origin_id;   /* index of the distinct origin */
} pair;

typedef struct opts {
    const char *data;
    uint32_t dim, k, bits;
    lex_params lp;
    int latency_only, quality_only;
    int show_gated;       /* print this many gate rejections of own origins */
    int show_false;       /* print this many false hits (all namespace) */
    double grid_false;    /* tune-half grid search: max false-hit %, default 0 */
} opts;

/* Per-query outcome, independent of threshold and margin. */
typedef struct outcome {
    int best_origin;      /* origin id of the best gate-passing candidate, -1 */
    float best, runner_up;
    int own_origin;       /* the query's own origin id in its namespace */
    int own_gated;        /* own origin was among candidates and gated out */
    int own_in_topk;
    int cos_origin;       /* plain cosine: nearest origin id */
    float cos_sim;        /* and its cosine similarity */
} outcome;

/* The pairs with origin_id to fill in (pairs.h owns the file format). */
static int load_pairs(const char *path, pair **out, int *n) {
    bench_pair *bp;
    size_t m;
    if (bench_pairs_load(path, &bp, &m)) return -1;
    pair *p = calloc(m + 1, sizeof *p);
    if (!p) {
        bench_pairs_free(bp, m);
        return -1;
    }
    for (size_t i = 0; i < m; i++) {
        p[i].origin = bp[i].origin;   /* ownership moves to p */
        p[i].similar = bp[i].similar;
    }
    free(bp);
    *out = p;
    *n = (int)m;
    return 0;
}

/* A namespace: distinct origins, their HNSW ids, docs and the IDF table. */
typedef struct nspace {
    hnsw *h;
    lex_idf *idf;
    lex_doc **docs;        /* by origin id */
    int *id2origin;        /* hnsw id -> origin id */
    char **origins;        /* by origin id */
    int norigins;
} nspace;

static int origin_lookup(nspace *ns, const char *s) {
    for (int i = 0; i < ns->norigins; i++)
        if (strcmp(ns->origins[i], s) == 0) return i;
    return -1;
}

static int ns_build(nspace *ns, pair *p, int n, int stride, int off, const opts *o,
                    embed_feats *f) {
    memset(ns, 0, sizeof *ns);
    hnsw_params hp;
    hnsw_params_default(&hp, o->dim);
    if (hnsw_create(&hp, &ns->h) || lexidf_create(o->bits, &ns->idf)) return -1;
    ns->docs = calloc((size_t)n, sizeof *ns->docs);
    ns->id2origin = calloc((size_t)n * 2, sizeof *ns->id2origin);
    ns->origins = calloc((size_t)n, sizeof *ns->origins);
    float *v = malloc(o->dim * sizeof *v);
    for (int i = off; i < n; i += stride) {
        int oid = origin_lookup(ns, p[i].origin);
        if (oid < 0) {
            oid = ns->norigins++;
            ns->origins[oid] = p[i].origin;
            if (embed_builtin(p[i].origin, strlen(p[i].origin), o->dim, v, f)) return -1;
            uint32_t id;
            if (hnsw_insert(ns->h, v, o->dim, &id)) return -1;
            ns->id2origin[id] = oid;
            ns->docs[oid] = lex_doc_create(f->ids, f->tfs, f->n);
            lexidf_add(ns->idf, f->ids, f->n);
        }
        p[i].origin_id = oid;
    }
    free(v);
    return 0;
}

static void ns_free(nspace *ns) {
    for (int i = 0; i < ns->norigins; i++) free(ns->docs[i]);
    free(ns->docs);
    free(ns->id2origin);
    free(ns->origins);
    hnsw_free(ns->h);
    lexidf_free(ns->idf);
}

static void run_queries(nspace *ns, pair *p, int n, int stride, int off, const opts *o,
                        embed_feats *f, outcome *out) {
    float *v = malloc(o->dim * sizeof *v);
    hnsw_result res[MAXK];
    const lex_doc *cands[MAXK];
    int corig[MAXK];
    int shown = 0, shown_false = 0;
    for (int i = off, q = 0; i < n; i += stride, q++) {
        outcome *r = &out[q];
        memset(r, 0, sizeof *r);
        r->best_origin = r->cos_origin = -1;
        r->own_origin = p[i].origin_id;
        if (embed_builtin(p[i].similar, strlen(p[i].similar), o->dim, v, f)) continue;
        int got = hnsw_search(ns->h, v, o->dim, o->k, 0, res);
        for (int j = 0; j < got; j++) {
            corig[j] = ns->id2origin[res[j].id];
            cands[j] = ns->docs[corig[j]];
            if (corig[j] == p[i].origin_id) r->own_in_topk = 1;
        }
        if (got > 0) {
            r->cos_origin = corig[0];
            r->cos_sim = 1.0f - res[0].dist;
        }
        lex_pick pk;
        lexscore_pick(ns->idf, &o->lp, f->ids, f->tfs, f->n, cands, (uint32_t)(got > 0 ? got : 0), &pk);
        if (pk.index >= 0) {
            r->best_origin = corig[pk.index];
            r->best = pk.best;
            r->runner_up = pk.runner_up;
        }
        if (stride == 1 && pk.verdict == LEX_HIT && r->best_origin != r->own_origin &&
            shown_false < o->show_false) {
            shown_false++;
            printf("false hit %.3f (runner-up %.3f): [%s] served [%s] (own: [%s])\n", pk.best,
                   pk.runner_up, p[i].similar, ns->origins[r->best_origin], p[i].origin);
        }
        if (r->own_in_topk && o->lp.gate) {
            for (int j = 0; j < got; j++)
                if (corig[j] == p[i].origin_id &&
                    !lexscore_gate(f->ids, f->n, cands[j]->ids, cands[j]->n)) {
                    r->own_gated = 1;
                    if (shown < o->show_gated && off == 0 && stride == 2) {
                        shown++;
                        printf("gated: [%s] vs [%s]\n", p[i].similar, ns->origins[corig[j]]);
                    }
                }
        }
    }
    free(v);
}

/* Correct and false hit counts at (threshold, margin). */
static void count(const outcome *r, int nq, const pair *p, int stride, int off, float th,
                  float mg, int *ok, int *bad) {
    *ok = *bad = 0;
    for (int q = 0, i = off; q < nq; q++, i += stride) {
        if (r[q].best_origin < 0 || r[q].best < th || r[q].best - r[q].runner_up < mg)
            continue;
        if (r[q].best_origin == r[q].own_origin) (*ok)++;
        else (*bad)++;
    }
}

static void count_cos(const outcome *r, int nq, const pair *p, int stride, int off,
                      float th, int *ok, int *bad) {
    *ok = *bad = 0;
    for (int q = 0, i = off; q < nq; q++, i += stride) {
        if (r[q].cos_origin < 0 || r[q].cos_sim < th) continue;
        if (r[q].cos_origin == r[q].own_origin) (*ok)++;
        else (*bad)++;
    }
}

typedef struct half {
    const char *name;
    int stride, off, nq;
    nspace ns;
    outcome *r;
} half;

static void row(const char *label, int ok, int bad, int nq) {
    printf("| %s | %d/%d | %.1f%% | %d | %.2f%% |\n", label, ok, nq, 100.0 * ok / nq, bad,
           100.0 * bad / nq);
}

static void quality(pair *p, int n, const opts *o) {
    embed_feats f;
    embed_feats_init(&f);
    half hv[3] = {{"tune (even)", 2, 0, 0, {0}, NULL},
                  {"held-out (odd)", 2, 1, 0, {0}, NULL},
                  {"all", 1, 0, 0, {0}, NULL}};
    for (int h = 0; h < 3; h++) {
        half *x = &hv[h];
        x->nq = (n - x->off + x->stride - 1) / x->stride;
        if (ns_build(&x->ns, p, n, x->stride, x->off, o, &f)) {
            fprintf(stderr, "namespace build failed\n");
            exit(1);
        }
        x->r = calloc((size_t)x->nq, sizeof *x->r);
        run_queries(&x->ns, p, n, x->stride, x->off, o, &f, x->r);
    }
    int ok, bad;
    printf("## Built-in embedder hit quality (gptcache_mock_pairs, %d pairs)\n\n", n);
    printf("Settings: dim=%u, HNSW top-k=%u, IDF table 2 x 2^%u counters, lex weights "
           "word/bigram/char=%.2f/%.2f/%.2f, gate=%s, swap df=%u, threshold=%.3f, margin=%.3f\n\n",
           o->dim, o->k, o->bits, o->lp.kind_weight[0], o->lp.kind_weight[1],
           o->lp.kind_weight[2], o->lp.gate ? "on" : "off", o->lp.swap_df, o->lp.threshold, o->lp.margin);
    printf("### At these settings\n\n| split | correct hits | correct %% | false hits | false %% |\n|---|---|---|---|---|\n");
    for (int h = 0; h < 3; h++) {
        half *x = &hv[h];
        count(x->r, x->nq, p, x->stride, x->off, o->lp.threshold, o->lp.margin, &ok, &bad);
        char label[96];
        snprintf(label, sizeof label, "%s, %d stored", x->name, x->ns.norigins);
        row(label, ok, bad, x->nq);
    }
    for (int h = 0; h < 3; h++) {
        half *x = &hv[h];
        int intop = 0, gated = 0;
        for (int q = 0; q < x->nq; q++) {
            intop += x->r[q].own_in_topk;
            gated += x->r[q].own_gated;
        }
        printf("\n%s: own origin in HNSW top-%u for %d/%d queries; gate rejected the own origin for %d",
               x->name, o->k, intop, x->nq, gated);
    }
    printf("\n\n### Threshold sweep (margin %.3f)\n\n| threshold | tune correct | tune false | held-out correct | held-out false | all correct | all false |\n|---|---|---|---|---|---|---|\n",
           o->lp.margin);
    for (float th = 0.30f; th < 0.801f; th += 0.05f) {
        int ok2, bad2, ok3, bad3;
        count(hv[0].r, hv[0].nq, p, 2, 0, th, o->lp.margin, &ok, &bad);
        count(hv[1].r, hv[1].nq, p, 2, 1, th, o->lp.margin, &ok2, &bad2);
        count(hv[2].r, hv[2].nq, p, 1, 0, th, o->lp.margin, &ok3, &bad3);
        printf("| %.2f | %.1f%% | %.2f%% | %.1f%% | %.2f%% | %.1f%% | %.2f%% |\n", th, 100.0 * ok / hv[0].nq,
               100.0 * bad / hv[0].nq, 100.0 * ok2 / hv[1].nq, 100.0 * bad2 / hv[1].nq, 100.0 * ok3 / hv[2].nq,
               100.0 * bad3 / hv[2].nq);
    }
    printf("\n### Margin sweep (threshold %.3f)\n\n| margin | tune correct | tune false | held-out correct | held-out false | all correct | all false |\n|---|---|---|---|---|---|---|\n",
           o->lp.threshold);
    for (float mg = 0.0f; mg < 0.251f; mg += 0.025f) {
        int ok2, bad2, ok3, bad3;
        count(hv[0].r, hv[0].nq, p, 2, 0, o->lp.threshold, mg, &ok, &bad);
        count(hv[1].r, hv[1].nq, p, 2, 1, o->lp.threshold, mg, &ok2, &bad2);
        count(hv[2].r, hv[2].nq, p, 1, 0, o->lp.threshold, mg, &ok3, &bad3);
        printf("| %.3f | %.1f%% | %.2f%% | %.1f%% | %.2f%% | %.1f%% | %.2f%% |\n", mg, 100.0 * ok / hv[0].nq,
               100.0 * bad / hv[0].nq, 100.0 * ok2 / hv[1].nq, 100.0 * bad2 / hv[1].nq, 100.0 * ok3 / hv[2].nq,
               100.0 * bad3 / hv[2].nq);
    }
    printf("\n### Baseline: plain cosine of the dense vectors (nearest neighbour, threshold only)\n\n| cosine threshold | tune correct | tune false | held-out correct | held-out false | all correct | all false |\n|---|---|---|---|---|---|---|\n");
    for (float th = 0.40f; th < 0.951f; th += 0.05f) {
        int ok2, bad2, ok3, bad3;
        count_cos(hv[0].r, hv[0].nq, p, 2, 0, th, &ok, &bad);
        count_cos(hv[1].r, hv[1].nq, p, 2, 1, th, &ok2, &bad2);
        count_cos(hv[2].r, hv[2].nq, p, 1, 0, th, &ok3, &bad3);
        printf("| %.2f | %.1f%% | %.2f%% | %.1f%% | %.2f%% | %.1f%% | %.2f%% |\n", th, 100.0 * ok / hv[0].nq,
               100.0 * bad / hv[0].nq, 100.0 * ok2 / hv[1].nq, 100.0 * bad2 / hv[1].nq, 100.0 * ok3 / hv[2].nq,
               100.0 * bad3 / hv[2].nq);
    }
    /* Tune-half grid search: what the tune half alone would pick. */
    float bt = 0, bm = 0;
    int bok = -1;
    for (float th = 0.20f; th < 0.901f; th += 0.025f)
        for (float mg = 0.0f; mg < 0.301f; mg += 0.025f) {
            count(hv[0].r, hv[0].nq, p, 2, 0, th, mg, &ok, &bad);
            if (100.0 * bad <= o->grid_false * hv[0].nq && ok > bok) {
                bok = ok;
                bt = th;
                bm = mg;
            }
        }
    count(hv[1].r, hv[1].nq, p, 2, 1, bt, bm, &ok, &bad);
    int ok3, bad3;
    count(hv[2].r, hv[2].nq, p, 1, 0, bt, bm, &ok3, &bad3);
    printf("\nTune-half grid pick (max correct with <= %.2f%% false on tune): threshold %.3f margin %.3f -> tune %.1f%% correct; held-out %.1f%% correct, %.2f%% false; all %.1f%% correct, %.2f%% false\n",
           o->grid_false, bt, bm, 100.0 * bok / hv[0].nq, 100.0 * ok / hv[1].nq, 100.0 * bad / hv[1].nq,
           100.0 * ok3 / hv[2].nq, 100.0 * bad3 / hv[2].nq);
    count(hv[1].r, hv[1].nq, p, 2, 1, o->lp.threshold, o->lp.margin, &ok, &bad);
    printf("\nDEFAULTS (threshold %.3f, margin %.3f), held-out half: %.1f%% correct hits, %.2f%% false hits\n",
           o->lp.threshold, o->lp.margin, 100.0 * ok / hv[1].nq, 100.0 * bad / hv[1].nq);
    size_t docbytes = 0;
    for (int i = 0; i < hv[2].ns.norigins; i++) docbytes += lex_doc_bytes(hv[2].ns.docs[i]);
    printf("Stored sparse features: %.0f bytes per entry on average; IDF table %zu bytes per namespace\n\n",
           (double)docbytes / hv[2].ns.norigins, lexidf_memory_bytes(hv[2].ns.idf));
    for (int h = 0; h < 3; h++) {
        ns_free(&hv[h].ns);
        free(hv[h].r);
    }
    embed_feats_free(&f);
}

static uint64_t clock_ns(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Timing: 31 batches of `reps` calls; per batch the mean ns per call on
 * the wall clock and on this thread's CPU clock. The medians are reported;
 * the CPU-clock figure excludes time the thread spent preempted (the
 * development machine is shared: 2 cores, several builds at once). */
#define LAT_BATCHES 101
typedef struct lat {
    uint64_t wall[LAT_BATCHES], cpu[LAT_BATCHES];
} lat;

static void lat_sort(lat *l) {
    qsort(l->wall, LAT_BATCHES, sizeof l->wall[0], cmp_u64);
    qsort(l->cpu, LAT_BATCHES, sizeof l->cpu[0], cmp_u64);
}

static void lat_row(const char *what, lat *l) {
    lat_sort(l);
    printf("| %s | %llu | %llu | %llu |\n", what, (unsigned long long)l->cpu[LAT_BATCHES / 2],
           (unsigned long long)l->wall[LAT_BATCHES / 2], (unsigned long long)l->wall[0]);
}

static void latency(const opts *o) {
    static const char *prompt =
        "How do I configure the connection pool size and the request timeout for "
        "the Python client library when my application runs many concurrent workers "
        "behind a load balancer, and what happens to requests that are still waiting "
        "when the pool is exhausted during a deployment of the new version of it?";
    size_t len = strlen(prompt);
    int words = 1;
    for (size_t i = 0; i < len; i++) words += prompt[i] == ' ';
    embed_feats f;
    embed_feats_init(&f);
    float *v = malloc(o->dim * sizeof *v);
    lat l;
    const int reps = 200;
    volatile float sink = 0;
    for (int b = 0; b < LAT_BATCHES; b++) {
        uint64_t w0 = clock_ns(CLOCK_MONOTONIC), c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        for (int r = 0; r < reps; r++) {
            embed_builtin(prompt, len, o->dim, v, &f);
            sink += v[r % o->dim];
        }
        l.cpu[b] = (clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0) / (uint64_t)reps;
        l.wall[b] = (clock_ns(CLOCK_MONOTONIC) - w0) / (uint64_t)reps;
    }
    printf("## Latency\n\n| operation | median ns (thread CPU) | median ns (wall) | min ns (wall) |\n|---|---|---|---|\n");
    char what[160];
    snprintf(what, sizeof what, "embed_builtin, %d-word prompt (%zu bytes, %u features), dim %u",
             words, len, f.n, o->dim);
    lat_row(what, &l);
    /* lexscore_pick over 10 stored variants of the prompt. */
    lex_idf *idf;
    lexidf_create(o->bits, &idf);
    lex_doc *docs[10];
    char buf[600];
    for (int i = 0; i < 10; i++) {
        snprintf(buf, sizeof buf, "%s variant %d", prompt, i);
        embed_builtin_features(buf, strlen(buf), &f);
        docs[i] = lex_doc_create(f.ids, f.tfs, f.n);
        lexidf_add(idf, f.ids, f.n);
    }
    embed_builtin_features(prompt, len, &f);
    lex_pick pk;
    for (int b = 0; b < LAT_BATCHES; b++) {
        uint64_t w0 = clock_ns(CLOCK_MONOTONIC), c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        for (int r = 0; r < reps / 4; r++) {
            lexscore_pick(idf, &o->lp, f.ids, f.tfs, f.n, (const lex_doc *const *)docs, 10, &pk);
            sink += pk.best;
        }
        l.cpu[b] = (clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0) / (uint64_t)(reps / 4);
        l.wall[b] = (clock_ns(CLOCK_MONOTONIC) - w0) / (uint64_t)(reps / 4);
    }
    snprintf(what, sizeof what, "lexscore_pick, 10 candidates of ~%u features", f.n);
    lat_row(what, &l);
    printf("\n");
    for (int i = 0; i < 10; i++) free(docs[i]);
    lexidf_free(idf);
    free(v);
    embed_feats_free(&f);
    (void)sink;
}

static void usage(void) {
    fprintf(stderr, "usage: embed-quality [--data PATH] [--dim D] [--k K] [--bits B] "
                    "[--lexw W,B,C] [--threshold T] [--margin M] [--swap-df N] [--no-gate] "
                    "[--latency-only] [--quality-only] [--show-gated N] [--show-false N] [--grid-false PCT]\n");
    exit(1);
}

int main(int argc, char **argv) {
    opts o = {.data = "../shared/data/gptcache_mock_pairs.json",
              .dim = EMBED_BUILTIN_DIM_DEFAULT, .k = 10, .bits = LEXIDF_BITS_DEFAULT,
              .grid_false = 0.0};
    lex_params_default(&o.lp);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--data") && v) o.data = argv[++i];
        else if (!strcmp(a, "--dim") && v) o.dim = (uint32_t)atoi(argv[++i]);
        else if (!strcmp(a, "--k") && v) o.k = (uint32_t)atoi(argv[++i]);
        else if (!strcmp(a, "--bits") && v) o.bits = (uint32_t)atoi(argv[++i]);
        else if (!strcmp(a, "--threshold") && v) o.lp.threshold = (float)atof(argv[++i]);
        else if (!strcmp(a, "--margin") && v) o.lp.margin = (float)atof(argv[++i]);
        else if (!strcmp(a, "--swap-df") && v) o.lp.swap_df = (uint32_t)atoi(argv[++i]);
        else if (!strcmp(a, "--lexw") && v) {
            if (sscanf(argv[++i], "%f,%f,%f", &o.lp.kind_weight[0], &o.lp.kind_weight[1],
                       &o.lp.kind_weight[2]) != 3)
                usage();
        } else if (!strcmp(a, "--no-gate")) o.lp.gate = 0;
        else if (!strcmp(a, "--show-gated") && v) o.show_gated = atoi(argv[++i]);
        else if (!strcmp(a, "--show-false") && v) o.show_false = atoi(argv[++i]);
        else if (!strcmp(a, "--grid-false") && v) o.grid_false = atof(argv[++i]);
        else if (!strcmp(a, "--latency-only")) o.latency_only = 1;
        else if (!strcmp(a, "--quality-only")) o.quality_only = 1;
        else usage();
    }
    if (o.k < 1 || o.k > MAXK) usage();
    char fp[EMBED_BUILTIN_FP_MAX];
    if (embed_builtin_fingerprint(o.dim, fp, sizeof fp)) usage();
    printf("Embedder fingerprint: %s\n\n", fp);
    if (!o.latency_only) {
        pair *p;
        int n;
        if (load_pairs(o.data, &p, &n)) {
            fprintf(stderr, "embed-quality: cannot read %s (the pairs live in ../shared/data; "
                            "run from the worktree root or pass --data)\n", o.data);
            return 2;
        }
        quality(p, n, &o);
        for (int i = 0; i < n; i++) {
            free(p[i].origin);
            free(p[i].similar);
        }
        free(p);
    }
    if (!o.quality_only) latency(&o);
    return 0;
}
