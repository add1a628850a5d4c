/* lexscore.h -- hit quality for the built-in embedder: a per-namespace IDF
 * table, IDF-weighted re-scoring of ANN candidates, the margin rule and the
 * lexical gate.
 *
 * Why: plain cosine on hashed features cannot tell a reworded prompt from a
 * different prompt on the same topic (they share the topic's words). The
 * cache therefore takes the HNSW top-k, re-scores each candidate with an
 * IDF-weighted cosine over the sparse features (words that are rare in this
 * namespace count, words every prompt has do not), drops candidates that
 * fail the gate (different numbers, negated vs not negated, different
 * identifiers, opposite polar words), and serves the best only if its score >= threshold AND it
 * beats the runner-up by >= margin. Defaults, and how they were chosen
 * without tuning on the reported half, are in lexscore.c.
 *
 * Threading: a lex_idf is mutated by lexidf_add/lexidf_remove; readers
 * (lexscore_*) may run concurrently with each other but not with a writer:
 * the caller serialises them. A lex_doc's features are immutable once
 * created; its norm memo (lexscore.c note 7) is written by
 * lexscore_similarity and lexscore_pick, so two calls scoring the SAME
 * document must not run concurrently (the server scores on the loop
 * thread only). No function prints or aborts. */
#ifndef SIMCACHE_LEXSCORE_H
#define SIMCACHE_LEXSCORE_H

#include <stddef.h>
#include <stdint.h>

#define LEXIDF_BITS_DEFAULT 17   /* 2 x 2^17 counters = 1 MiB per namespace */
#define LEXIDF_BITS_MIN 8
#define LEXIDF_BITS_MAX 26

#define LEX_OK 0
#define LEX_EINVAL (-1)
#define LEX_ENOMEM (-2)
#define LEX_ESTATE (-3)   /* remove of a document that was never added */

/* Document frequencies of features, hashed into 2^bits counters for word
 * unigrams and 2^bits for the other features (bounded memory: two features
 * sharing a counter share a df, which only lowers their IDF; it never
 * breaks add/remove symmetry). Gate features (kind 3) are not counted. */
typedef struct lex_idf lex_idf;

/* One stored entry's features: ids strictly ascending, term counts, packed
 * in one allocation of 32 + 5n bytes. The features are immutable; the
 * memo fields belong to lexscore.c (note 7). */
typedef struct lex_doc {
    uint32_t n;
    float memo_kw[3];        /* kind weights the memo was computed with */
    uint64_t memo_version;   /* lex_idf state of the memo; 0 = none */
    double memo_norm2;       /* sum of squared feature weights at that state */
    uint32_t ids[];   /* n ids, then n uint8 term counts */
} lex_doc;

typedef struct lex_params {
    float threshold;        /* minimum IDF-cosine of the best candidate, [0,1] */
    float margin;           /* minimum best - runner-up, [0,1] */
    float kind_weight[3];   /* word, bigram, char feature weights */
    uint32_t swap_df;       /* swap test: rare = df below/at this; 0 = off */
    int gate;               /* 1: apply the lexical gate (default) */
} lex_params;

typedef enum lex_verdict {
    LEX_HIT = 0,
    LEX_MISS_NONE,        /* no candidates */
    LEX_MISS_GATE,        /* every candidate failed the gate */
    LEX_MISS_SWAP,        /* every gate-passing candidate swaps a rare word */
    LEX_MISS_THRESHOLD,   /* best below threshold */
    LEX_MISS_MARGIN,      /* best too close to the runner-up */
} lex_verdict;

typedef struct lex_pick {
    lex_verdict verdict;
    int index;          /* candidate index of the best gate-passing one, or -1 */
    float best;         /* its score (0 if none) */
    float runner_up;    /* second best gate-passing score (0 if none) */
} lex_pick;

/* Defaults measured with bench/embed_quality.c (see lexscore.c). */
void lex_params_default(lex_params *p);

/* Creates an empty table of 2 x 2^bits counters (8 << bits bytes). LEX_OK, LEX_EINVAL (bits
 * outside [LEXIDF_BITS_MIN, LEXIDF_BITS_MAX]) or LEX_ENOMEM. */
int lexidf_create(uint32_t bits, lex_idf **out);
void lexidf_free(lex_idf *t);
/* Counts one document: ids must be the strictly ascending ids of
 * embed_builtin_features. LEX_OK or LEX_ESTATE (document count or a
 * counter would overflow 2^32-1; nothing changed). */
int lexidf_add(lex_idf *t, const uint32_t *ids, uint32_t n);
/* Uncounts a document added before with the same ids. LEX_OK, or
 * LEX_ESTATE if some counter would go below zero (the document was not
 * added); the table is then unchanged. add then remove restores the table
 * exactly. */
int lexidf_remove(lex_idf *t, const uint32_t *ids, uint32_t n);
uint64_t lexidf_docs(const lex_idf *t);
/* The IDF of feature id: ln((N + 1) / (df + 1)) + 1. */
float lexidf_idf(const lex_idf *t, uint32_t id);
size_t lexidf_memory_bytes(const lex_idf *t);
/* Order-independent checksum of the counters and N (tests use it to check
 * that add + remove restores the table). */
uint64_t lexidf_checksum(const lex_idf *t);

/* Packs features into a new lex_doc (malloc; free with free()). NULL on
 * ENOMEM. ids strictly ascending (embed_feats output). */
lex_doc *lex_doc_create(const uint32_t *ids, const uint8_t *tfs, uint32_t n);
size_t lex_doc_bytes(const lex_doc *d);
/* Asks the CPU to load the first 768 bytes of d into cache (a document of
 * ~150 features): a caller
 * about to score several cold documents issues all of them first, so the
 * misses overlap instead of queueing behind each other. d may be NULL. */
void lex_doc_prefetch(const lex_doc *d);
static inline const uint8_t *lex_doc_tfs(const lex_doc *d) {
    return (const uint8_t *)(d->ids + d->n);
}

/* IDF-weighted cosine in [0, 1] between query features (qids/qtfs, qn,
 * ascending) and a stored document, over word/bigram/char features with
 * weights kind_weight * (1 + ln tf) * idf. 0 if either side is empty. */
float lexscore_similarity(const lex_idf *t, const lex_params *p, const uint32_t *qids,
                          const uint8_t *qtfs, uint32_t qn, const lex_doc *c);

/* The gate: 1 if the two feature lists agree on number tokens (same
 * numbers in the same order), on whether a negation word is present, on
 * identifiers (words containing '_', as a set), and no
 * polar pair appears with one side only in one and the other side only in
 * the other; 0 otherwise. */
int lexscore_gate(const uint32_t *qids, uint32_t qn, const uint32_t *cids, uint32_t cn);

/* The swap test (an entity-swap guard): 1 if the query has a word the
 * candidate lacks that is rare in the namespace (df < swap_df: stored in
 * fewer than swap_df entries) AND the candidate has a word the query lacks
 * that is rare (df <= swap_df, counting the candidate itself): "read a
 * JSON file with Go" vs "read a CSV file with pandas". Insertions and
 * deletions alone never trigger it, nor do swaps of common words. 0 if
 * swap_df is 0. */
int lexscore_swapped(const lex_idf *t, uint32_t swap_df, const uint32_t *qids, uint32_t qn,
                     const uint32_t *cids, uint32_t cn);

/* Re-scores ncand candidates (NULL entries are skipped) for the query and
 * applies gate, threshold and margin. Fills *out; returns LEX_OK (also for
 * a miss) or LEX_EINVAL. */
int lexscore_pick(const lex_idf *t, const lex_params *p, const uint32_t *qids,
                  const uint8_t *qtfs, uint32_t qn, const lex_doc *const *cands,
                  uint32_t ncand, lex_pick *out);

/* A query's memo (lexscore.c note 8), kept by the caller beside the
 * query's features (the embedding cache entry): the header, followed in
 * memory by idf[qn], the IDF of each query feature. All zero = empty. */
typedef struct lex_qmemo {
    uint64_t version;   /* lex_idf state it was computed at; 0 = none */
    float kw[3];        /* kind weights it was computed with */
    uint32_t n;         /* query features it covers */
    double norm;        /* the query's weight norm */
    float idf[];        /* n floats (gate features: unused) */
} lex_qmemo;
_Static_assert(sizeof(lex_qmemo) == 32, "the embedding cache's aux header");

/* lexscore_pick that uses *qm (32 + 4 * qn bytes, 8-aligned) when it is
 * valid for (t, p, qn) and else recomputes and stores it (qm NULL:
 * lexscore_pick). Same result, bit for bit, either way; the query
 * features must be the ones qm was made for. */
int lexscore_pick_memo(const lex_idf *t, const lex_params *p, const uint32_t *qids,
                       const uint8_t *qtfs, uint32_t qn, lex_qmemo *qm,
                       const lex_doc *const *cands, uint32_t ncand, lex_pick *out);

#endif
