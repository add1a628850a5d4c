/* sparse_recall.c -- is the built-in embedder's HNSW recall gap (README
 * "Known recall gap"; issue 5) real on realistic cache traffic, and what
 * does each search path cost at N?
 *
 * Stored, in this order, embedded with the built-in embedder (DIM
 * EMBED_BUILTIN_DIM_DEFAULT unless --dim, M 16, ef_construction 200, ef 100
 * unless --ef, float32 storage):
 *   1. every distinct `origin` of ../shared/data/gptcache_mock_pairs.json
 *      (999), first, as the oldest entries of a namespace;
 *   2. the meancache questions (`main` and `followup` of
 *      meancache_contextual_chains.jsonl.gz, read through zcat);
 *   3. N generated prompts: a question opener ("how do I", "what is", ...)
 *      and 5-12 words drawn from the vocabulary of 1 and 2 (seeded), so
 *      they share the real prompts' words without being paraphrases.
 * Queries: every `similar` (a paraphrase of an origin). For each the
 * truth is hnsw_search_exact (float32 sgemv over every vector); reported
 * per path:
 *   r@1     the path's first result is the exact first;
 *   in10    the exact first is among the path's 10 results (a CACHE.GET
 *           asks the index for 10 candidates and lexscore picks one, so
 *           this is what decides a hit);
 *   us      mean wall-clock microseconds per search (one thread, one
 *           OpenBLAS thread as the server sets; a shared machine inflates it).
 * Paths: "graph" (hnsw_search with the exact threshold 0: the HNSW walk),
 * "scan" (hnsw_search with an infinite threshold: the index's small-set
 * path), "default" (hnsw_search with the index's own threshold: what the
 * cache does at this N).
 *
 * usage: sparse-recall [--data DIR] [--dim D] [--ef EF] [--mixed 1] [--dense 1] [--widen D] N...
 *   (default N: 0 5000 20000). --mixed 1 shuffles the origins among the
 *   generated prompts instead of storing them first. --dense 1 is the
 *   control: the same counts of dense vectors instead (64 Gaussian
 *   clusters, spread 0.5 around unit centres; queries are stored vectors
 *   plus 0.1 noise), to show what the paths cost and find on data the
 *   graph suits. --widen D adds a row: the graph searched again at 4 x ef
 *   when its first result is farther than D (a policy a caller could
 *   apply to weak results). --reps R runs the graph path R times and
 *   reports the median of its microseconds (one decimal), for A/B runs of
 *   two builds on a noisy machine. --codes int4|int8|none sets every
 *   index's traversal codes (default: the cache namespaces' own, int4). --decide W,W,... [--band B,B,...] measures the
 *   cache's decision instead (sparse_recall_decide.c): per N, the lookup
 *   path of server/cache.c at each WIDEN factor W and band B (default 0),
 *   on a namespace at the cache defaults, or at --dim D and --quant int8
 *   (int8 codes, float16 re-rank copies, no float32) when given, each decision also
 *   compared with a default namespace's exact scan (at --ref-dim R when
 *   given; --quant and --ref-dim apply to --decide only).
 *   Exit 2 when the data files are missing. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "index/hnsw.h"
#include "kernels/batch.h"
#include "server/cache.h"
#include "server/embed_builtin.h"
#include "bench/pairs.h"
#include "bench/sparse_recall.h"


static int strv_push(strv *v, const char *s)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 256;
        char **p = realloc(v->s, cap * sizeof(char *));
        if (!p)
            return -1;
        v->s = p;
        v->cap = cap;
    }
    v->s[v->n] = strdup(s);
    return v->s[v->n++] ? 0 : -1;
}

/* Distinct origins into orig; every paraphrase into sim, its origin into
 * simorig (the same index). */
static int load_pairs(const char *dir, strv *orig, strv *sim, strv *simorig)
{
    char path[1024];
    bench_pair *p;
    size_t n;
    int rc = 0;
    snprintf(path, sizeof(path), "%s/gptcache_mock_pairs.json", dir);
    if (bench_pairs_load(path, &p, &n))
        return -1;
    for (size_t k = 0; k < n && !rc; k++) {
        int dup = 0;
        for (size_t i = 0; i < orig->n && !dup; i++)
            dup = strcmp(orig->s[i], p[k].origin) == 0;
        if (!dup && strv_push(orig, p[k].origin))
            rc = -1;
        else if (strv_push(sim, p[k].similar) || /* the paraphrase: its truth is computed, not assumed */
                 strv_push(simorig, p[k].origin))
            rc = -1;
    }
    bench_pairs_free(p, n);
    return rc;
}

static int load_meancache(const char *dir, strv *out)
{
    char cmd[1200], line[8192];
    snprintf(cmd, sizeof(cmd), "zcat '%s/meancache_contextual_chains.jsonl.gz'", dir);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    while (fgets(line, sizeof(line), p)) {
        cJSON *o = cJSON_Parse(line);
        const char *keys[2] = {"main", "followup"};
        for (int i = 0; o && i < 2; i++) {
            const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, keys[i]));
            if (s && strv_push(out, s)) {
                cJSON_Delete(o);
                pclose(p);
                return -1;
            }
        }
        cJSON_Delete(o);
    }
    return pclose(p) == 0 ? 0 : -1;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The lower-cased alphabetic words of v, appended to words. */
static int vocab_add(const strv *v, strv *words)
{
    char w[64];
    for (size_t i = 0; i < v->n; i++) {
        const char *s = v->s[i];
        while (*s) {
            size_t n = 0;
            while (*s && !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
                s++;
            while (((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')) && n < sizeof(w) - 1)
                w[n++] = (char)(*s++ | 0x20);
            while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))
                s++;
            w[n] = 0;
            if (n >= 3 && strv_push(words, w))
                return -1;
        }
    }
    return 0;
}

/* A generated prompt (malloc'd): a question opener and 5-12 words of
 * `words`, drawn with *seed; NULL on ENOMEM. */
static char *gen_prompt(uint64_t *seed, const strv *words)
{
    static const char *open_[] = {"how do I", "what is", "can you explain", "why does",
                                  "how can I", "what are the", "is it possible to", "tell me about",
                                  "how to", "what does"};
    char buf[512];
    size_t len = (size_t)snprintf(buf, sizeof(buf), "%s", open_[rng_next(seed) % 10]);
    uint32_t nw = 5 + (uint32_t)(rng_next(seed) % 8);
    for (uint32_t w = 0; w < nw && len < sizeof(buf) - 70; w++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, " %s",
                                words->s[rng_next(seed) % words->n]);
    return strdup(buf);
}

/* A standard normal deviate (Box-Muller). */
static float gauss(uint64_t *s)
{
    double u = ((rng_next(s) >> 11) + 0.5) / 9007199254740992.0;
    double v = ((rng_next(s) >> 11) + 0.5) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

/* --dense: vector i of the control set (cluster i % 64, spread 0.5),
 * plus `extra` more noise (the queries). */
static void dense_vec(uint64_t i, uint32_t dim, float extra, float *out)
{
    uint64_t cs = 1000003u * (i % 64), ns = (i + 1) * 0x9e3779b97f4a7c15ull, xs = ~ns;
    for (uint32_t j = 0; j < dim; j++)
        out[j] = gauss(&cs) / sqrtf((float)dim);
    for (uint32_t j = 0; j < dim; j++)
        out[j] += 0.5f * gauss(&ns) / sqrtf((float)dim);
    for (uint32_t j = 0; extra > 0 && j < dim; j++)
        out[j] += extra * gauss(&xs) / sqrtf((float)dim);
}

/* The comma-separated numbers of s into out[0..max); returns how many. */
static uint32_t list_parse(char *s, float *out, uint32_t max)
{
    uint32_t n = 0;
    for (char *t = strtok(s, ","); t && n < max; t = strtok(NULL, ","))
        out[n++] = (float)atof(t);
    return n;
}

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct pathres {
    uint32_t r1, in10, widened;
    double us;
} pathres;

/* Searches every query through hnsw_search with exact threshold thr
 * (UINT32_MAX + 1 = keep the index's own: passed as keep != 0). */
static void run_path(hnsw *h, const float *q, size_t nq, uint32_t dim, uint32_t ef,
                     float widen, const uint32_t *truth, const float *tdist, pathres *pr)
{
    hnsw_result r[10];
    double t0 = now_us();
    memset(pr, 0, sizeof(*pr));
    for (size_t i = 0; i < nq; i++) {
        int k = hnsw_search(h, q + i * dim, dim, 10, ef, r);
        if (widen > 0 && k > 0 && r[0].dist > widen) {
            k = hnsw_search(h, q + i * dim, dim, 10, ef * 4, r);
            pr->widened++;
        }
        pr->r1 += k > 0 && r[0].id == truth[i];
        if (getenv("SPARSE_RECALL_MISSES") && k > 0 && r[0].id != truth[i])
            fprintf(stderr, "miss q%zu: exact first %u, path first %u at %.3f, %s\n", i, truth[i],
                    r[0].id, r[0].dist, r[0].dist <= tdist[i] + 1e-6f ? "tie" : "farther");
        for (int j = 0; j < k; j++)
            if (r[j].id == truth[i]) {
                pr->in10++;
                break;
            }
    }
    pr->us = (now_us() - t0) / (double)nq;
}

int sparse_codes = -1;

int main(int argc, char **argv)
{
    const char *dir = "../shared/data";
    uint32_t dim = EMBED_BUILTIN_DIM_DEFAULT, ef = 100, ns[16], nn = 0, mixed = 0, dense = 0, dflt_below, reps = 1;
    float widen = 0, band[8] = {0};
    uint32_t dwiden[8], ndw = 0, nband = 1, dim_given = 0, ref_dim = 0, ef_given = 0, m_given = 0;
    int int8 = 0;
    strv orig = {0}, sim = {0}, simorig = {0}, mean = {0}, words = {0};
    batch_set_threads(1); /* as server/main.c */
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--data") && a + 1 < argc)
            dir = argv[++a];
        else if (!strcmp(argv[a], "--dim") && a + 1 < argc)
            dim = dim_given = (uint32_t)atoi(argv[++a]);
        else if (!strcmp(argv[a], "--ref-dim") && a + 1 < argc)
            ref_dim = (uint32_t)atoi(argv[++a]);
        else if (!strcmp(argv[a], "--quant") && a + 1 < argc)
            int8 = !strcmp(argv[++a], "int8");
        else if (!strcmp(argv[a], "--m") && a + 1 < argc)
            m_given = (uint32_t)atoi(argv[++a]);
        else if (!strcmp(argv[a], "--ef") && a + 1 < argc)
            ef = ef_given = (uint32_t)atoi(argv[++a]);
        else if (!strcmp(argv[a], "--mixed") && a + 1 < argc)
            mixed = (uint32_t)atoi(argv[++a]);
        else if (!strcmp(argv[a], "--codes") && a + 1 < argc &&
                 (!strcmp(argv[a + 1], "int4") || !strcmp(argv[a + 1], "int8") ||
                  !strcmp(argv[a + 1], "none"))) {
            a++;
            sparse_codes = !strcmp(argv[a], "int8")   ? HNSW_CODES_I8
                           : !strcmp(argv[a], "none") ? HNSW_CODES_NONE
                                                      : HNSW_CODES_I4;
        } else if (!strcmp(argv[a], "--reps") && a + 1 < argc)
            reps = (uint32_t)atoi(argv[++a]);
        else if (!strcmp(argv[a], "--widen") && a + 1 < argc)
            widen = (float)atof(argv[++a]);
        else if (!strcmp(argv[a], "--decide") && a + 1 < argc) {
            float f[8];
            ndw = list_parse(argv[++a], f, 8);
            for (uint32_t i = 0; i < ndw; i++)
                dwiden[i] = (uint32_t)f[i];
        } else if (!strcmp(argv[a], "--band") && a + 1 < argc)
            nband = list_parse(argv[++a], band, 8);
        else if (!strcmp(argv[a], "--dense") && a + 1 < argc)
            dense = (uint32_t)atoi(argv[++a]);
        else if (argv[a][0] != '-' && nn < 16)
            ns[nn++] = (uint32_t)atoi(argv[a]);
        else {
            fprintf(stderr, "usage: sparse-recall [--data DIR] [--dim D] [--ef EF] [--mixed 1] [--dense 1] [--widen D] [--reps R] [--decide W,..] [--band B,..] [--quant int8] [--codes int4|int8|none] [--ref-dim R] [--m M] "
                            "N...\n");
            return 2;
        }
    }
    if (nn == 0) {
        ns[nn++] = 0;
        ns[nn++] = 5000;
        ns[nn++] = 20000;
    }
    if (load_pairs(dir, &orig, &sim, &simorig) || load_meancache(dir, &mean)) {
        fprintf(stderr, "sparse-recall: cannot read the data files in %s\n", dir);
        return 2;
    }
    if (vocab_add(&orig, &words) || vocab_add(&mean, &words))
        return 1;
    if (ndw)
        printf("origins %zu, meancache %zu, queries %zu; cache namespace defaults%s%s\n",
               orig.n, mean.n, sim.n, dim_given || int8 ? " but DIM/QUANT as given" : "",
               mixed ? ", origins shuffled in" : "");
    else
        printf("origins %zu, meancache %zu, queries %zu, dim %u, M 16, efc 200, ef %u, f32%s%s\n",
               orig.n, mean.n, sim.n, dim, ef, mixed ? ", origins shuffled in" : "",
               dense ? ", DENSE control (clustered Gaussian vectors, same counts)" : "");
    if (!ndw)
        printf("| N generated | stored | default path | graph r@1 | graph in10 | graph us | scan "
           "r@1 | scan in10 | scan us | default r@1 | default us | exact us |\n"
           "|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    float *q = malloc(sim.n * dim * sizeof(float));
    uint32_t *truth = malloc(sim.n * sizeof(uint32_t));
    float *tdist = malloc(sim.n * sizeof(float));
    if (!q || !truth || !tdist)
        return 1;
    for (size_t i = 0; i < sim.n; i++)
        if (embed_builtin(sim.s[i], strlen(sim.s[i]), dim, q + i * dim, NULL))
            return 1;
    for (uint32_t t = 0; t < nn; t++) {
        size_t total = orig.n + mean.n + ns[t], placed = 0;
        uint64_t seed = 42;
        char **order = malloc(total * sizeof(char *));
        char **gen = malloc((ns[t] + 1) * sizeof(char *));
        float *v = malloc(dim * sizeof(float));
        hnsw_params p;
        hnsw *h;
        pathres g, s, d;
        double te;
        if (!order || !gen || !v)
            return 1;
        for (uint32_t i = 0; i < ns[t]; i++)
            if (!(gen[i] = gen_prompt(&seed, &words)))
                return 1;
        for (size_t i = 0; i < orig.n; i++)
            order[placed++] = orig.s[i];
        for (size_t i = 0; i < mean.n; i++)
            order[placed++] = mean.s[i];
        for (uint32_t i = 0; i < ns[t]; i++)
            order[placed++] = gen[i];
        if (mixed)
            for (size_t i = total - 1; i > 0; i--) {
                size_t j = rng_next(&seed) % (i + 1);
                char *x = order[i];
                order[i] = order[j];
                order[j] = x;
            }
        if (ndw) { /* the cache's decision instead (sparse_recall_decide.c) */
            strv st = {order, total, total}, other = {0};
            uint64_t oseed = 4242; /* the same "other" set at every N */
            for (size_t i = 0; i < sim.n; i++) {
                char *gp = gen_prompt(&oseed, &words);
                int bad = !gp || strv_push(&other, gp);
                free(gp);
                if (bad)
                    return 1;
            }
            printf("\nN %u: %zu stored prompts\n", ns[t], total);
            if (sparse_recall_decide(&st, &sim, &simorig, &other, dwiden, ndw, band, nband, dim_given,
                                     int8, ref_dim, ef_given, m_given))
                return 1;
            for (size_t i = 0; i < other.n; i++)
                free(other.s[i]);
            free(other.s);
            for (uint32_t i = 0; i < ns[t]; i++)
                free(gen[i]);
            free(gen);
            free(order);
            free(v);
            continue;
        }
        hnsw_params_default(&p, dim);
        p.M = 16;
        p.ef_search = ef;
        p.storage = HNSW_STORE_F32;
        {
            cache_ns_config dc;
            cache_ns_config_default(&dc);
            p.codes = sparse_codes >= 0 ? sparse_codes : dc.codes;
        }
        if (hnsw_create(&p, &h) || hnsw_reserve(h, (uint32_t)total))
            return 1;
        for (size_t i = 0; i < total; i++) {
            uint32_t id;
            if (dense)
                dense_vec(i, dim, 0.0f, v);
            if (dense || embed_builtin(order[i], strlen(order[i]), dim, v, NULL) == 0)
                hnsw_insert(h, v, dim, &id); /* a duplicate prompt is simply stored twice */
        }
        for (size_t i = 0; dense && i < sim.n; i++)
            dense_vec((i * 7919u) % total, dim, 0.1f, q + i * dim);
        te = now_us();
        for (size_t i = 0; i < sim.n; i++) {
            hnsw_result r[1];
            truth[i] = hnsw_search_exact(h, q + i * dim, dim, 1, r) == 1 ? r[0].id : UINT32_MAX;
            tdist[i] = truth[i] == UINT32_MAX ? 2.0f : r[0].dist;
        }
        te = (now_us() - te) / (double)sim.n;
        /* the index's own threshold: read back by setting it and restoring */
        dflt_below = hnsw_get_exact_threshold(h);
        run_path(h, q, sim.n, dim, ef, 0, truth, tdist, &d);
        hnsw_set_exact_threshold(h, 0);
        run_path(h, q, sim.n, dim, ef, 0, truth, tdist, &g);
        if (reps > 1) {
            double us[64];
            uint32_t nr = reps < 64 ? reps : 64;
            us[0] = g.us;
            for (uint32_t r = 1; r < nr; r++) {
                run_path(h, q, sim.n, dim, ef, 0, truth, tdist, &g);
                us[r] = g.us;
            }
            qsort(us, nr, sizeof(us[0]), cmp_double);
            g.us = us[nr / 2];
        }
        hnsw_set_exact_threshold(h, UINT32_MAX);
        run_path(h, q, sim.n, dim, ef, 0, truth, tdist, &s);
        printf("| %u | %zu | %s | %.3f | %.3f | %.1f | %.3f | %.3f | %.0f | %.3f | %.0f | %.0f |\n",
               ns[t], hnsw_count(h), hnsw_count(h) <= dflt_below ? "scan" : "graph",
               (double)g.r1 / sim.n, (double)g.in10 / sim.n, g.us, (double)s.r1 / sim.n,
               (double)s.in10 / sim.n, s.us, (double)d.r1 / sim.n, d.us, te);
        if (widen > 0) {
            hnsw_set_exact_threshold(h, 0);
            run_path(h, q, sim.n, dim, ef, widen, truth, tdist, &g);
            printf("|   widen: graph, again at ef %u when the first is farther than %.2f: r@1 "
                   "%.3f, in10 %.3f, %.0f us, %.1f%% of queries widened |\n",
                   ef * 4, widen, (double)g.r1 / sim.n, (double)g.in10 / sim.n, g.us,
                   100.0 * g.widened / sim.n);
        }
        fflush(stdout);
        hnsw_free(h);
        for (uint32_t i = 0; i < ns[t]; i++)
            free(gen[i]);
        free(gen);
        free(order);
        free(v);
    }
    free(q);
    free(truth);
    free(tdist);
    return 0;
}
