/* sparse_recall_decide.c -- `sparse-recall --decide`: does widening an
 * uncertain graph answer (server/cache.c note 11) give the cache the
 * decision an exact search would give, and what does it cost on hits and
 * on misses? And does a lower DIM, or int8 storage, change the decision?
 *
 * The raw-index rows of sparse_recall.c judge recall@1; a cache does not
 * serve the first result, it serves lexscore's pick over CACHE_CANDIDATES
 * results, or misses. So this mode drives the real lookup path
 * (cache_put / cache_lookup of server/cache.c, synchronous: no pool, the
 * same pick and the same widening rule as the server) on one namespace at
 * the defaults (printed: DIM, M 16, f32, THRESHOLD 0.45, EF 32) holding the
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
 *   hits   hits (the truth's in the header row); for para, in brackets,
 *          the correct ones: hits on the query's own origin's entry
 *          (found by its exact key; GPTCache's pairs say which origin a
 *          paraphrase rewords, so this is quality at N, not agreement);
 *   wid    % of lookups searched again;
 *   us     mean wall-clock us per lookup (embedding, search(es), pick;
 *          one thread, one OpenBLAS thread; a shared machine inflates it).
 * The namespace is the same for every row: rows differ only in the
 * lookup's widen factor and band.
 * With --dim or --quant, the truth above is that setting's own exact scan;
 * the rows also report "agree ref": agreement with the exact-scan
 * decisions of a namespace at the defaults (f32, DIM EMBED_BUILTIN_DIM_DEFAULT,
 * or --ref-dim R: embed_builtin.h's measurements ran with 512, the default
 * then) holding the same
 * prompts, built first and dropped before the measured one. That is the
 * question a default change asks: does the cheaper setting still make the
 * decision today's default would make with a perfect search? */
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
    uint32_t correct;     /* hits on the query's own origin (para only) */
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

/* Looks every query of qs up; the decisions go to d (when not NULL) and
 * are compared with truth (when not NULL); own[i] (when not NULL) is the
 * id of the entry query i should hit. */
static void run_set(cache_ns *ns, const strv *qs, decision *d, const decision *truth,
                    const uint64_t *own, setres *r)
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
        r->correct += own && x.hit && x.id == own[i];
        if (d)
            d[i] = x;
        if (!truth)
            continue;
        r->agree += x.hit == truth[i].hit && x.id == truth[i].id;
        if (getenv("SPARSE_DECIDE_DIST"))
            dist_note(ns, qs->s[i], x.hit == truth[i].hit && x.id == truth[i].id, truth[i].hit);
    }
    r->us = (dec_now_us() - t0) / (double)(qs->n ? qs->n : 1);
    r->widened = ns->st.widened - w0;
}

/* The truth of a namespace at `dim` (0: the default) and storage `int8`
 * holding `stored`: every query of para and other looked up with the
 * exact scan and no widening, decisions into tp and to. The namespace is
 * left in *out with its index's own exact threshold in *dflt. 0, or 1 on
 * ENOMEM or a DIM the cache refuses. */
static int decide_truth(tenant *t, const char *name, uint32_t dim, int int8, uint32_t ef,
                        uint32_t m, const strv *stored,
                        const strv *para, const strv *para_origin, const strv *other,
                        decision *tp, decision *to, uint64_t *own, setres *rp, setres *ro,
                        cache_ns **out, uint32_t *dflt)
{
    cache_ns_config cfg;
    cache_ns *ns;
    cache_ns_config_default(&cfg);
    if (dim)
        cfg.dim = dim;
    if (int8)
        cfg.quant_int8 = 1;
    if (ef)
        cfg.ef = ef;
    if (m)
        cfg.M = m;
    if (sparse_codes >= 0)
        cfg.codes = sparse_codes;
    if (cache_ns_create(t, name, strlen(name), &cfg, &ns) != CACHE_OK)
        return 1;
    for (size_t i = 0; i < stored->n; i++)
        put_prompt(ns, stored->s[i]); /* an empty-after-normalisation prompt is skipped */
    for (size_t i = 0; i < para->n; i++) { /* the origin's entry, by its exact key */
        const char *o = para_origin->s[i];
        cache_hit h;
        own[i] = cache_lookup(ns, o, strlen(o), ns->cfg.threshold, 0, DECIDE_NOW, &h) == CACHE_OK &&
                         h.tier == CACHE_EXACT
                     ? h.e->id
                     : UINT64_MAX;
    }
    *dflt = hnsw_get_exact_threshold(ns->idx);
    hnsw_set_exact_threshold(ns->idx, UINT32_MAX);
    ns->cfg.widen = 0;
    run_set(ns, para, tp, NULL, own, rp);
    run_set(ns, other, to, NULL, NULL, ro);
    *out = ns;
    return 0;
}

/* How many of n decisions equal ref's. */
static uint32_t agree_count(const decision *d, const decision *ref, size_t n)
{
    uint32_t a = 0;
    for (size_t i = 0; i < n; i++)
        a += d[i].hit == ref[i].hit && d[i].id == ref[i].id;
    return a;
}

int sparse_recall_decide(const strv *stored, const strv *para, const strv *para_origin,
                         const strv *other,
                         const uint32_t *widen, uint32_t nw, const float *band, uint32_t nb,
                         uint32_t dim, int int8, uint32_t ref_dim, uint32_t ef, uint32_t m)
{
    tenant *t = tenant_get_or_create("bench", 5);
    cache_ns *ns, *ref;
    size_t np = para->n + 1, no = other->n + 1;
    /* truth (this setting's exact scan), reference (the default
     * namespace's exact scan), and this row's decisions */
    decision *tp = malloc(np * sizeof(decision)), *to = malloc(no * sizeof(decision));
    decision *rp_ = malloc(np * sizeof(decision)), *ro_ = malloc(no * sizeof(decision));
    decision *dp = malloc(np * sizeof(decision)), *do_ = malloc(no * sizeof(decision));
    uint64_t *own = malloc(np * sizeof(uint64_t));
    setres rp, ro;
    uint32_t dflt, rdflt;
    int rc = 1, with_ref = dim != 0 || int8 || ref_dim != 0 || ef != 0 || m != 0;
    if (!t || !tp || !to || !rp_ || !ro_ || !dp || !do_ || !own)
        goto out;
    if (with_ref) { /* the default namespace first, then dropped: one index in memory at a time */
        if (decide_truth(t, "decide-ref", ref_dim, 0, 0, 0, stored, para, para_origin, other, rp_, ro_, own,
                         &rp, &ro, &ref, &rdflt))
            goto out;
        printf("reference: DIM %u %s exact scan: para %u hits (%u correct), other %u hits\n",
               ref->cfg.dim, ref->cfg.quant_int8 ? "int8" : "f32", rp.hits, rp.correct, ro.hits);
        cache_ns_drop(ref);
    }
    if (decide_truth(t, "decide", dim, int8, ef, m, stored, para, para_origin, other, tp, to, own, &rp,
                     &ro, &ns, &dflt))
        goto out;
    printf("DIM %u, M %u, EF %u, %s, THRESHOLD %.2f, exact scan below %u entries, "
           "namespace memory %.1f MB\n",
           ns->cfg.dim, ns->cfg.M, ns->cfg.ef, ns->cfg.quant_int8 ? "int8" : "f32",
           (double)ns->cfg.threshold, dflt, (double)cache_ns_memory(ns) / 1e6);
    printf("| %zu entries, exact (truth) | para: %u hits (%u correct), %.0f us | other: %u hits, "
           "%.0f us |",
           cache_ns_count(ns), rp.hits, rp.correct, rp.us, ro.hits, ro.us);
    if (with_ref)
        printf(" truth vs reference: para %.3f, other %.3f |",
               (double)agree_count(tp, rp_, para->n) / (double)para->n,
               (double)agree_count(to, ro_, other->n) / (double)other->n);
    printf("\n| widen | band | para agree | para hits (correct) | para wid | para us | other agree | "
           "other hits | other wid | other us |%s\n|---|---|---|---|---|---|---|---|---|---|%s\n",
           with_ref ? " para agree ref | other agree ref |" : "", with_ref ? "---|---|" : "");
    hnsw_set_exact_threshold(ns->idx, getenv("SPARSE_DECIDE_GRAPH") ? 0 : dflt);
    for (uint32_t w = 0; w < nw; w++)
        for (uint32_t b = 0; b < (widen[w] > 1 ? nb : 1); b++) {
            ns->cfg.widen = (int32_t)widen[w];
            ns->cfg.widen_band = band[b];
            run_set(ns, para, dp, tp, own, &rp);
            run_set(ns, other, do_, to, NULL, &ro);
            printf("| %u | %.2f | %.3f | %u (%u) | %.1f%% | %.0f | %.3f | %u | %.1f%% | %.0f |",
                   widen[w], widen[w] > 1 ? (double)band[b] : 0.0,
                   (double)rp.agree / (double)para->n, rp.hits, rp.correct,
                   100.0 * (double)rp.widened / (double)para->n, rp.us,
                   (double)ro.agree / (double)other->n, ro.hits,
                   100.0 * (double)ro.widened / (double)other->n, ro.us);
            if (with_ref)
                printf(" %.3f | %.3f |", (double)agree_count(dp, rp_, para->n) / (double)para->n,
                       (double)agree_count(do_, ro_, other->n) / (double)other->n);
            printf("\n");
            fflush(stdout);
        }
    rc = 0;
out:
    cache_shutdown();
    tenant_shutdown();
    free(tp);
    free(to);
    free(rp_);
    free(ro_);
    free(dp);
    free(do_);
    free(own);
    return rc;
}
