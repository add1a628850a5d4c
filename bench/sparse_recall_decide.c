/* sparse_recall_decide.c -- `sparse-recall --decide`: does widening an
 * uncertain graph answer (server/cache.c note 11) give the cache the
 * decision an exact search would give, and what does it cost on hits and
 * on misses?
 *
 * The raw-index rows of sparse_recall.c judge recall@1; a cache does not
 * serve the first result, it serves lexscore's pick over CACHE_CANDIDATES
 * results, or misses. So this mode drives the real lookup path
 * (cache_put / cache_lookup of server/cache.c, synchronous: no pool, the
 * same pick and the same widening rule as the server) on one namespace at
 * the defaults (printed: DIM 512, M 16, f32, THRESHOLD 0.45, EF 32) holding the
 * origins, the meancache questions and N generated prompts (sparse_recall.c
 * describes them), and asks two query sets:
 *   para   the 999 paraphrases (mostly hits);
 *   other  999 prompts generated like the stored ones from another seed
 *          (the same vocabulary, none stored: mostly misses, the traffic
 *          that pays for widening).
 * Truth: the same lookups with the index's exact scan forced
 * (hnsw_set_exact_threshold UINT32_MAX: int8 code scan with float32
 * re-score, recall@1 1.000 at every size sparse-recall measured) and no
 * widening. Per WIDEN factor and band, reported per set:
 *   agree  the lookup's decision equals the truth's (both miss, or both
 *          hit the same entry);
 *   hits   hits (the truth's in the header row);
 *   wid    % of lookups searched again;
 *   us     mean wall-clock us per lookup (embedding, search(es), pick;
 *          one thread, one OpenBLAS thread; a shared machine inflates it).
 * The namespace is the same for every row: rows differ only in the
 * lookup's widen factor and band. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/sparse_recall.h"
#include "server/cache.h"
#include "server/tenant.h"

#define DECIDE_NOW 1700000000000LL

static double dec_now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

typedef struct decision {
    int hit;
    uint64_t id; /* the entry's public id when hit */
} decision;

typedef struct setres {
    uint32_t agree, hits;
    uint64_t widened;
    double us;
} setres;

static int put_prompt(cache_ns *ns, const char *p)
{
    cache_put_args a;
    cache_entry *e;
    memset(&a, 0, sizeof(a));
    a.prompt = p;
    a.prompt_len = strlen(p);
    a.response = "r";
    a.response_len = 1;
    a.ttl_ms = -1;
    return cache_put(ns, &a, DECIDE_NOW, &e);
}

/* SPARSE_DECIDE_DIST: one stderr line per lookup, the graph's first
 * distance (ef = the index's) with the lookup's agreement and the truth's
 * verdict, to study gates on distance. */
static void dist_note(cache_ns *ns, const char *p, int agree, int truth_hit)
{
    float *v = malloc(ns->cfg.dim * sizeof(float));
    hnsw_result r[1];
    if (v && embed_builtin(p, strlen(p), ns->cfg.dim, v, NULL) == 0 &&
        hnsw_search(ns->idx, v, ns->cfg.dim, 1, 0, r) == 1)
        fprintf(stderr, "dist %.4f agree %d truth_hit %d w %d\n", (double)r[0].dist, agree,
                truth_hit, ns->cfg.widen);
    free(v);
}

/* Looks every query of qs up; the decisions go to d (when truth is NULL)
 * or are compared with truth. */
static void run_set(cache_ns *ns, const strv *qs, decision *d, const decision *truth,
                    setres *r)
{
    uint64_t w0 = ns->st.widened;
    double t0 = dec_now_us();
    memset(r, 0, sizeof(*r));
    for (size_t i = 0; i < qs->n; i++) {
        cache_hit h;
        decision x = {0, 0};
        if (cache_lookup(ns, qs->s[i], strlen(qs->s[i]), ns->cfg.threshold, 0, DECIDE_NOW,
                         &h) == CACHE_OK &&
            h.tier != CACHE_MISS) {
            x.hit = 1;
            x.id = h.e->id;
        }
        r->hits += (uint32_t)x.hit;
        if (!truth) {
            d[i] = x;
            continue;
        }
        r->agree += x.hit == truth[i].hit && x.id == truth[i].id;
        if (getenv("SPARSE_DECIDE_DIST"))
            dist_note(ns, qs->s[i], x.hit == truth[i].hit && x.id == truth[i].id, truth[i].hit);
    }
    r->us = (dec_now_us() - t0) / (double)(qs->n ? qs->n : 1);
    r->widened = ns->st.widened - w0;
}

int sparse_recall_decide(const strv *stored, const strv *para, const strv *other,
                         const uint32_t *widen, uint32_t nw, const float *band, uint32_t nb)
{
    tenant *t = tenant_get_or_create("bench", 5);
    cache_ns_config cfg;
    cache_ns *ns;
    decision *tp = malloc((para->n + 1) * sizeof(decision));
    decision *to = malloc((other->n + 1) * sizeof(decision));
    setres rp, ro;
    uint32_t dflt;
    int rc = 1;
    if (!t || !tp || !to)
        goto out;
    cache_ns_config_default(&cfg);
    if (cache_ns_create(t, "decide", 6, &cfg, &ns) != CACHE_OK)
        goto out;
    for (size_t i = 0; i < stored->n; i++)
        put_prompt(ns, stored->s[i]); /* an empty-after-normalisation prompt is skipped */
    dflt = hnsw_get_exact_threshold(ns->idx);
    hnsw_set_exact_threshold(ns->idx, UINT32_MAX);
    ns->cfg.widen = 0;
    run_set(ns, para, tp, NULL, &rp);
    run_set(ns, other, to, NULL, &ro);
    printf("DIM %u, M %u, EF %u, %s, THRESHOLD %.2f\n", cfg.dim, cfg.M, cfg.ef,
           cfg.quant_int8 ? "int8" : "f32", (double)cfg.threshold);
    printf("| %zu entries, exact (truth) | para: %u hits, %.0f us | other: %u hits, %.0f us |\n",
           cache_ns_count(ns), rp.hits, rp.us, ro.hits, ro.us);
    printf("| widen | band | para agree | para hits | para wid | para us | other agree | "
           "other hits | other wid | other us |\n|---|---|---|---|---|---|---|---|---|---|\n");
    hnsw_set_exact_threshold(ns->idx, getenv("SPARSE_DECIDE_GRAPH") ? 0 : dflt);
    for (uint32_t w = 0; w < nw; w++)
        for (uint32_t b = 0; b < (widen[w] > 1 ? nb : 1); b++) {
            ns->cfg.widen = (int32_t)widen[w];
            ns->cfg.widen_band = band[b];
            run_set(ns, para, NULL, tp, &rp);
            run_set(ns, other, NULL, to, &ro);
            printf("| %u | %.2f | %.3f | %u | %.1f%% | %.0f | %.3f | %u | %.1f%% | %.0f |\n",
                   widen[w], widen[w] > 1 ? (double)band[b] : 0.0,
                   (double)rp.agree / (double)para->n, rp.hits,
                   100.0 * (double)rp.widened / (double)para->n, rp.us,
                   (double)ro.agree / (double)other->n, ro.hits,
                   100.0 * (double)ro.widened / (double)other->n, ro.us);
            fflush(stdout);
        }
    rc = 0;
out:
    cache_shutdown();
    tenant_shutdown();
    free(tp);
    free(to);
    return rc;
}
