/* lexscore.c -- IDF table, IDF-weighted re-scoring, margin rule and
 * lexical gate (contracts in lexscore.h).
 *
 * Design decisions:
 * 1. The IDF table hashes feature ids into uint32 counters (Fibonacci
 *    hashing of the 32-bit id): 2^bits for word unigrams and 2^bits for
 *    bigrams and character n-grams. Memory is fixed per namespace (1 MiB at
 *    the default 17 bits) whatever the number of entries; a shared counter
 *    overstates df, i.e. understates IDF, for both features. Words get
 *    their own half because the swap test (note 6) asks "is this word in at
 *    most one entry?", which only an unloaded counter answers: an entry has
 *    ~20 distinct words but ~200 n-grams, and with one shared table the
 *    n-grams saturated the counters and silently switched the swap test
 *    off as a namespace grew (measured with embed-quality --bits 10..18:
 *    correct hits rose from 57% to 70% as the guard faded). With their own
 *    half, the 964-entry bench namespace is unaffected down to 2^14 word
 *    counters and starts to fade at 2^12 (60% correct) and 2^10 (67%):
 *    at the default 2^17 the unaffected load holds to ~8k entries of that
 *    vocabulary and the fade point is at ~30k (vocabularies grow slower
 *    than entries, so both are lower bounds); create larger namespaces
 *    with more bits. N-gram IDF degrades gracefully under load (it
 *    compresses towards 1). Adding and removing walk
 *    the same ids with +1/-1, so they are exact inverses; a remove that
 *    would drive a counter below zero undoes itself, so a bad remove
 *    changes nothing.
 * 2. IDF = ln((N + 1) / (df + 1)) + 1 (smoothed, always >= 1 since df <= N;
 *    a query feature unknown to the namespace gets the largest IDF).
 *    ln(df + 1) comes from a table for df < 4096, logf beyond.
 * 3. The score is a cosine over sparse vectors w(f) = kind_weight * (1 +
 *    ln tf) * idf(f), computed by merge-joining the two ascending id lists:
 *    O(qn + cn) per candidate, no allocation. Float arithmetic here may
 *    differ in the last bit across platforms; it only feeds threshold
 *    comparisons, never a hash or a stored value.
 * 4. Defaults (lex_params_default): threshold 0.45 and margin 0.125 are
 *    what bench/embed_quality.c's grid search picks on the EVEN-indexed
 *    half of gptcache_mock_pairs (tune half) under the rule "most correct
 *    hits with zero false hits on the tune half" (zero, not 1%: 500
 *    queries cannot resolve 1%, and false hits grow with namespace size).
 *    Reported on the ODD half (held out): 57.3% correct, 0.40% false; on
 *    all 999 pairs in one namespace: 54.8% correct, 0.50% false. The
 *    issue's reference point was 52% correct at 0.7% false hits; the
 *    target >= 50% at <= 1%. Kind weights stay 1/1/1: word/bigram/char
 *    weights of 2/1/1, 1/0.5/1, 1/1/2 and 1/0/1 moved the tune pick by
 *    under 2 points. Without the margin (0) the same threshold gives 68%
 *    correct at 3.0% false (held out): the margin is what buys precision.
 * 5. The margin is taken against the best *gate-passing* runner-up: a
 *    stored "disable X" must not stop "enable X" from being served to a
 *    query "enable X" — the gate already tells them apart. A namespace
 *    holding two rewordings of one prompt (with different answers) gets
 *    misses for both: the cache cannot know which answer is meant.
 * 6. The swap test guards entity swaps the gate cannot list: "read a JSON
 *    file with Go" vs "read a CSV file with pandas" share the frame and
 *    score above any usable threshold. A rewording adds or drops words, or
 *    swaps common ones; a different question swaps a rare word (never
 *    stored: df 0) for another rare word (only in that candidate: df 1).
 *    It costs paraphrase recall (synonyms are rare-word swaps too): on the
 *    GPTCache pairs 67% -> 57% correct at the same false-hit rate, a price
 *    paid for a guard against the false hit users complain about most. A
 *    swapped candidate still counts as runner-up for the margin (it is a
 *    plausible neighbour), unlike a gated one.
 * 7. Norm memo. A candidate's cosine needs its squared weight norm, a sum
 *    over all its ~100-200 features, each a df counter read at a random
 *    place of the 1 MiB table: that, not the dot product over the few
 *    shared features, was the cost (perf of the loop thread under
 *    bench/cache-drive at 100k entries: feat_weight 14% of its samples).
 *    The norm only changes when the table does, so each lex_doc keeps the
 *    last one computed with the table state (`version`: drawn from one
 *    process-wide counter on create and on every add/remove, so two tables
 *    never share a value) and the kind weights it used. A valid memo
 *    leaves a merge join that computes weights only where the ids match.
 *    The sums are the same floating-point operations in the same order as
 *    without the memo, so scores are bit-identical
 *    (tests/unit/test_lexscore_memo.c). In a read-mostly cache the memo
 *    of a popular entry stays valid between PUTs; any PUT invalidates
 *    every memo of its namespace (one version), which costs what the
 *    computation cost before. Rejected: per-feature weight caches (they
 *    go stale per df counter, and would cost memory per feature).
 * 8. The query's side is memoised the same way, by the caller
 *    (lexscore_pick_memo with a lex_qmemo kept in the embedding cache
 *    entry of the prompt, cache.c note 12): its norm and the idf of each
 *    of its features, so a shared feature's weights on both sides come
 *    from one stored idf (the same float feat_weight would compute: same
 *    id, same table state). With note 7 alone, the query's norm (~100-500
 *    df reads that miss the CPU caches) and the weights at shared ids
 *    were still 12% and 3% of the loop thread's samples. */
#include "lexscore.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "embed_builtin.h"

#define LN_TABLE 4096

struct lex_idf {
    uint32_t *df;          /* 2^bits counters */
    uint64_t version;      /* changes with every add/remove (note 7); never 0 */
    uint32_t bits;
    uint64_t ndocs;        /* documents added minus removed */
    float lnp1[LN_TABLE];  /* ln(df + 1) */
    float tfw[256];        /* 1 + ln(tf), tf = 0..255 (0 unused) */
};

void lex_params_default(lex_params *p) {
    p->threshold = 0.45f;
    p->margin = 0.125f;
    p->kind_weight[0] = 1.0f;
    p->kind_weight[1] = 1.0f;
    p->kind_weight[2] = 1.0f;
    p->swap_df = 1;
    p->gate = 1;
}

/* Process-wide so that no two table states share a version (note 7). */
static _Atomic uint64_t version_seq;

static uint64_t version_next(void) {
    return atomic_fetch_add_explicit(&version_seq, 1, memory_order_relaxed) + 1;
}

int lexidf_create(uint32_t bits, lex_idf **out) {
    if (bits < LEXIDF_BITS_MIN || bits > LEXIDF_BITS_MAX) return LEX_EINVAL;
    lex_idf *t = calloc(1, sizeof *t);
    if (!t) return LEX_ENOMEM;
    t->df = calloc((size_t)2 << bits, sizeof *t->df);
    if (!t->df) {
        free(t);
        return LEX_ENOMEM;
    }
    t->bits = bits;
    t->version = version_next();
    for (int i = 0; i < LN_TABLE; i++) t->lnp1[i] = logf((float)i + 1.0f);
    t->tfw[0] = 0.0f;
    for (int i = 1; i < 256; i++) t->tfw[i] = 1.0f + logf((float)i);
    *out = t;
    return LEX_OK;
}

void lexidf_free(lex_idf *t) {
    if (!t) return;
    free(t->df);
    free(t);
}

/* Word unigrams count in the upper half, everything else in the lower
 * (design note 1). */
static uint32_t bucket(const lex_idf *t, uint32_t id) {
    uint32_t h = (uint32_t)(id * 0x9E3779B1u) >> (32 - t->bits);
    return EMBED_FEAT_KIND(id) == EMBED_KIND_WORD ? h + (1u << t->bits) : h;
}

int lexidf_add(lex_idf *t, const uint32_t *ids, uint32_t n) {
    if (t->ndocs == UINT32_MAX) return LEX_ESTATE; /* df counters are 32-bit */
    for (uint32_t i = 0; i < n; i++)
        if (EMBED_FEAT_KIND(ids[i]) != EMBED_KIND_GATE) t->df[bucket(t, ids[i])]++;
    t->ndocs++;
    t->version = version_next();
    return LEX_OK;
}

int lexidf_remove(lex_idf *t, const uint32_t *ids, uint32_t n) {
    if (t->ndocs == 0) return LEX_ESTATE;
    /* Decrement; on underflow undo the decrements done so far. A document
     * may map two ids to one counter, so checking every counter is > 0
     * before decrementing would not be enough. */
    for (uint32_t i = 0; i < n; i++) {
        if (EMBED_FEAT_KIND(ids[i]) == EMBED_KIND_GATE) continue;
        uint32_t b = bucket(t, ids[i]);
        if (t->df[b] == 0) {
            for (uint32_t j = 0; j < i; j++)
                if (EMBED_FEAT_KIND(ids[j]) != EMBED_KIND_GATE) t->df[bucket(t, ids[j])]++;
            return LEX_ESTATE;
        }
        t->df[b]--;
    }
    t->ndocs--;
    t->version = version_next();
    return LEX_OK;
}

uint64_t lexidf_docs(const lex_idf *t) { return t->ndocs; }

static float ln_p1(const lex_idf *t, uint32_t df) {
    return df < LN_TABLE ? t->lnp1[df] : logf((float)df + 1.0f);
}

float lexidf_idf(const lex_idf *t, uint32_t id) {
    return ln_p1(t, (uint32_t)(t->ndocs > UINT32_MAX ? UINT32_MAX : t->ndocs)) -
           ln_p1(t, t->df[bucket(t, id)]) + 1.0f;
}

size_t lexidf_memory_bytes(const lex_idf *t) {
    return sizeof *t + ((size_t)2 << t->bits) * sizeof *t->df;
}

uint64_t lexidf_checksum(const lex_idf *t) {
    uint64_t h = t->ndocs * 0x9E3779B97F4A7C15ULL;
    size_t n = (size_t)2 << t->bits;
    for (size_t i = 0; i < n; i++)
        h = (h ^ t->df[i]) * 0x100000001B3ULL + i;
    return h;
}

lex_doc *lex_doc_create(const uint32_t *ids, const uint8_t *tfs, uint32_t n) {
    lex_doc *d = malloc(sizeof *d + (size_t)n * 5);
    if (!d) return NULL;
    d->n = n;
    memset(d->memo_kw, 0, sizeof d->memo_kw);
    d->memo_version = 0;
    d->memo_norm2 = 0;
    memcpy(d->ids, ids, (size_t)n * 4);
    memcpy((uint8_t *)(d->ids + n), tfs, n);
    return d;
}

size_t lex_doc_bytes(const lex_doc *d) { return sizeof *d + (size_t)d->n * 5; }

void lex_doc_prefetch(const lex_doc *d) {
    /* a fixed span, so no miss is taken here to read n: a prefetch past
     * the end of a short document is harmless (it never faults) */
    if (!d) return;
    for (size_t o = 0; o < 768; o += 64) __builtin_prefetch((const char *)d + o);
}

/* Weight of a non-gate feature of this kind and tf with this idf: the
 * one expression every path uses (note 7: bit-identical scores). */
static inline float weight_of(const lex_params *p, const lex_idf *t, uint32_t kind, uint8_t tf,
                              float idf) {
    return p->kind_weight[kind] * t->tfw[tf] * idf;
}

/* Weight of one feature, 0 for gate features; lnN = ln(N + 1) + 1. */
static float feat_weight(const lex_idf *t, const lex_params *p, float lnN, uint32_t id,
                         uint8_t tf) {
    uint32_t kind = EMBED_FEAT_KIND(id);
    if (kind == EMBED_KIND_GATE) return 0.0f;
    float idf = lnN - ln_p1(t, t->df[bucket(t, id)]);
    return weight_of(p, t, kind, tf, idf);
}

static float log_docs(const lex_idf *t) {
    return ln_p1(t, (uint32_t)(t->ndocs > UINT32_MAX ? UINT32_MAX : t->ndocs)) + 1.0f;
}

/* The query's weight norm; with idf != NULL also each feature's idf into
 * idf[0..qn) (0 for gate features: the lex_qmemo of note 8). */
static double query_norm(const lex_idf *t, const lex_params *p, float lnN,
                         const uint32_t *qids, const uint8_t *qtfs, uint32_t qn, float *idf) {
    double s = 0;
    for (uint32_t i = 0; i < qn; i++) {
        uint32_t kind = EMBED_FEAT_KIND(qids[i]);
        float f = kind == EMBED_KIND_GATE ? 0.0f : lnN - ln_p1(t, t->df[bucket(t, qids[i])]);
        double w = kind == EMBED_KIND_GATE ? 0.0f : weight_of(p, t, kind, qtfs[i], f);
        if (idf) idf[i] = f;
        s += w * w;
    }
    return sqrt(s);
}

/* Cosine of a candidate given the query's norm (design notes 3 and 7).
 * Writes c's norm memo. */
static float similarity_qn(const lex_idf *t, const lex_params *p, float lnN, double qnorm,
                           const uint32_t *qids, const uint8_t *qtfs, const float *qidf,
                           uint32_t qn, const lex_doc *c) {
    lex_doc *m = (lex_doc *)c;   /* the memo fields only (lexscore.h) */
    const uint8_t *ctfs = lex_doc_tfs(c);
    double dot = 0, cs = 0;
    uint32_t i = 0;
    if (c->memo_version == t->version &&
        memcmp(c->memo_kw, p->kind_weight, sizeof c->memo_kw) == 0) {
        /* the same additions as below, at the shared ids only */
        cs = c->memo_norm2;
        for (uint32_t j = 0; j < c->n && i < qn;) {
            uint32_t id = c->ids[j];
            if (qids[i] < id) {
                i++;
            } else if (qids[i] > id) {
                j++;
            } else if (qidf) {   /* the query's idf of this id is the candidate's */
                uint32_t kind = EMBED_FEAT_KIND(id);
                if (kind != EMBED_KIND_GATE) {
                    double wc = weight_of(p, t, kind, ctfs[j], qidf[i]);
                    if (wc != 0) dot += wc * weight_of(p, t, kind, qtfs[i], qidf[i]);
                }
                i++;
                j++;
            } else {
                double wc = feat_weight(t, p, lnN, id, ctfs[j]);
                if (wc != 0) dot += wc * feat_weight(t, p, lnN, id, qtfs[i]);
                i++;
                j++;
            }
        }
    } else {
        for (uint32_t j = 0; j < c->n; j++) {
            uint32_t id = c->ids[j];
            double wc = feat_weight(t, p, lnN, id, ctfs[j]);
            if (wc == 0) continue;
            cs += wc * wc;
            while (i < qn && qids[i] < id) i++;
            if (i < qn && qids[i] == id) dot += wc * feat_weight(t, p, lnN, id, qtfs[i]);
        }
        m->memo_version = t->version;
        memcpy(m->memo_kw, p->kind_weight, sizeof m->memo_kw);
        m->memo_norm2 = cs;
    }
    if (qnorm == 0 || cs == 0) return 0.0f;
    double r = dot / (qnorm * sqrt(cs));
    return (float)(r > 1.0 ? 1.0 : r < 0.0 ? 0.0 : r);
}

float lexscore_similarity(const lex_idf *t, const lex_params *p, const uint32_t *qids,
                          const uint8_t *qtfs, uint32_t qn, const lex_doc *c) {
    float lnN = log_docs(t);
    return similarity_qn(t, p, lnN, query_norm(t, p, lnN, qids, qtfs, qn, NULL), qids, qtfs, NULL,
                         qn, c);
}

int lexscore_swapped(const lex_idf *t, uint32_t swap_df, const uint32_t *qids, uint32_t qn,
                     const uint32_t *cids, uint32_t cn) {
    if (swap_df == 0) return 0;
    int q_rare = 0, c_rare = 0;
    uint32_t i = 0, j = 0;
    /* word ids (kind 0) come first in both ascending lists */
    while (i < qn && EMBED_FEAT_KIND(qids[i]) == EMBED_KIND_WORD) {
        while (j < cn && cids[j] < qids[i]) {
            if (EMBED_FEAT_KIND(cids[j]) == EMBED_KIND_WORD && t->df[bucket(t, cids[j])] <= swap_df)
                c_rare = 1;
            j++;
        }
        if (j < cn && cids[j] == qids[i]) j++;
        else if (t->df[bucket(t, qids[i])] < swap_df) q_rare = 1;
        i++;
    }
    for (; j < cn && EMBED_FEAT_KIND(cids[j]) == EMBED_KIND_WORD; j++)
        if (t->df[bucket(t, cids[j])] <= swap_df) c_rare = 1;
    return q_rare && c_rare;
}

/* Gate features are the ids >= 3 << 30, at the end of the ascending list:
 * returns the index of the first one. */
static uint32_t gate_start(const uint32_t *ids, uint32_t n) {
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (EMBED_FEAT_KIND(ids[mid]) == EMBED_KIND_GATE) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

static int has_id(const uint32_t *ids, uint32_t n, uint32_t id) {
    for (uint32_t i = 0; i < n; i++)
        if (ids[i] == id) return 1;
    return 0;
}

/* Number, negation and identifier features must be identical sets
 * (numbers carry their position, negation is one presence feature); polar
 * pairs must not be opposed. */
int lexscore_gate(const uint32_t *qids, uint32_t qn, const uint32_t *cids, uint32_t cn) {
    uint32_t qs = gate_start(qids, qn), cs = gate_start(cids, cn);
    const uint32_t *q = qids + qs, *c = cids + cs;
    uint32_t nq = qn - qs, nc = cn - cs;
    for (int pass = 0; pass < 2; pass++) {
        const uint32_t *a = pass ? c : q, *b = pass ? q : c;
        uint32_t na = pass ? nc : nq, nb = pass ? nq : nc;
        for (uint32_t i = 0; i < na; i++) {
            uint32_t type = EMBED_GATE_TYPE(a[i]);
            if (type != EMBED_GATE_POL) {
                if (!has_id(b, nb, a[i])) return 0;
            } else if (type == EMBED_GATE_POL) {
                uint32_t other = a[i] ^ 1u; /* the opposite side of the pair */
                if (!has_id(a, na, other) && has_id(b, nb, other) && !has_id(b, nb, a[i]))
                    return 0;
            }
        }
    }
    return 1;
}

int lexscore_pick(const lex_idf *t, const lex_params *p, const uint32_t *qids,
                  const uint8_t *qtfs, uint32_t qn, const lex_doc *const *cands,
                  uint32_t ncand, lex_pick *out) {
    return lexscore_pick_memo(t, p, qids, qtfs, qn, NULL, cands, ncand, out);
}

int lexscore_pick_memo(const lex_idf *t, const lex_params *p, const uint32_t *qids,
                       const uint8_t *qtfs, uint32_t qn, lex_qmemo *qm,
                       const lex_doc *const *cands, uint32_t ncand, lex_pick *out) {
    if (!t || !p || !out || (qn && (!qids || !qtfs)) || (ncand && !cands)) return LEX_EINVAL;
    out->verdict = LEX_MISS_NONE;
    out->index = -1;
    out->best = out->runner_up = 0.0f;
    float lnN = log_docs(t);
    double qnorm;
    if (qm && qm->version == t->version && qm->n == qn &&
        memcmp(qm->kw, p->kind_weight, sizeof qm->kw) == 0) {
        qnorm = qm->norm;
    } else if (qm) {
        qnorm = query_norm(t, p, lnN, qids, qtfs, qn, qm->idf);
        qm->version = t->version;
        memcpy(qm->kw, p->kind_weight, sizeof qm->kw);
        qm->n = qn;
        qm->norm = qnorm;
    } else {
        qnorm = query_norm(t, p, lnN, qids, qtfs, qn, NULL);
    }
    const float *qidf = qm ? qm->idf : NULL;
    int seen = 0, passed = 0, unswapped = 0;
    /* best: highest score among candidates passing gate and swap test;
     * top2: the two highest scores among all gate-passing candidates, so
     * the runner-up may be a swapped one (design note 6). */
    float top[2] = {-1.0f, -1.0f};
    int topi[2] = {-1, -1};
    for (uint32_t k = 0; k < ncand; k++) {
        const lex_doc *c = cands[k];
        if (!c) continue;
        seen++;
        if (p->gate && !lexscore_gate(qids, qn, c->ids, c->n)) continue;
        passed++;
        float s = similarity_qn(t, p, lnN, qnorm, qids, qtfs, qidf, qn, c);
        int ok = !lexscore_swapped(t, p->swap_df, qids, qn, c->ids, c->n);
        if (s > top[0]) {
            top[1] = top[0]; topi[1] = topi[0];
            top[0] = s; topi[0] = (int)k;
        } else if (s > top[1]) {
            top[1] = s; topi[1] = (int)k;
        }
        if (ok && (out->index < 0 || s > out->best)) {
            out->best = s;
            out->index = (int)k;
        }
        unswapped += ok;
    }
    if (out->index >= 0) {
        /* the runner-up is the best other gate-passing candidate */
        float ru = topi[0] == out->index ? top[1] : top[0];
        out->runner_up = ru < 0 ? 0.0f : ru;
    }
    if (!seen) out->verdict = LEX_MISS_NONE;
    else if (!passed) out->verdict = LEX_MISS_GATE;
    else if (!unswapped) out->verdict = LEX_MISS_SWAP;
    else if (out->best < p->threshold) out->verdict = LEX_MISS_THRESHOLD;
    else if (out->best - out->runner_up < p->margin) out->verdict = LEX_MISS_MARGIN;
    else out->verdict = LEX_HIT;
    return LEX_OK;
}
