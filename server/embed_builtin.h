/* embed_builtin.h -- the built-in embedder: prompt -> sparse lexical
 * features -> dense float32 vector, no network, no model file.
 *
 * It measures WORDING, not meaning: two prompts are close when they share
 * words (after case/punctuation normalisation and light stemming), word
 * pairs and character n-grams. It catches rewordings users actually send
 * (case, punctuation, whitespace, word order, inflections, a word inserted
 * or dropped) and misses synonyms and paraphrases that share no words ("how
 * do I quit vim" vs "exiting the vim editor"). Use an external embedding
 * provider when meaning matters; a namespace is bound to one fingerprint
 * (embed_builtin_fingerprint) and never mixes vectors of two embedders.
 *
 * Pipeline (embed_builtin.c has the design notes):
 *   prompt_norm (prompt_norm.h) -> words (stemmed) ->
 *   features: word unigrams, word bigrams, character 3/4-grams over
 *   " w1 w2 ... " (code points, never splitting a UTF-8 sequence), and gate
 *   features (numbers in order, negation present, polar words,
 *   identifiers) used only by
 *   lexscore's gate -> sorted unique 32-bit feature ids with term counts.
 *   Vector: signed feature hashing of the non-gate features into dim slots
 *   with integer weights kind_weight * (1 + ln tf), L2-normalised.
 *
 * Determinism: hashing is XXH3 with fixed seeds and all weights are
 * integers accumulated in int32; the only float steps are one sqrt and one
 * multiply per slot (IEEE, correctly rounded), so the same bytes give the
 * same vector bit for bit on x86-64 and AArch64.
 *
 * Threading: all functions are reentrant; an embed_feats is scratch owned
 * by one thread at a time. */
#ifndef SIMCACHE_EMBED_BUILTIN_H
#define SIMCACHE_EMBED_BUILTIN_H

#include <stddef.h>
#include <stdint.h>

/* The default DIM of a built-in namespace (CACHE.CREATE without DIM): 256,
 * was 512. The vector only proposes candidates (lexscore decides), so what
 * matters is whether the HNSW walk still reaches the entry lexscore would
 * pick. bench/sparse-recall --decide 0,8 --dim D 100000 (101,491 entries,
 * WIDEN 8, the 999 paraphrases, whose origins are stored): correct hits
 * 591 at DIM 512, 601 at 256, 604 at 128, 603 at 64; agreement with DIM
 * 512's exact-scan decisions 0.978 at 512 (its own graph), 0.981 at 256,
 * 0.965 at 128, 0.929 at 64. bench/cache_bench.py --parts semantic, 100k
 * entries, 1,000 distinct queries, three alternating rounds, median server
 * CPU per hit: 65.1 us at 512, 53.3 at 256, 52.9 at 128, 41.1 at 64;
 * CACHE.INFO memory 507, 325, 235, 189 MB. 128 saved no CPU over 256 and
 * 64 moves 7% of the paraphrases' decisions away from 512's; 256 keeps
 * them and keeps EXACT-BELOW's default at 2,560 (max(2560, 2^19/256)). */
#define EMBED_BUILTIN_DIM_DEFAULT 256
#define EMBED_BUILTIN_DIM_MIN 16
#define EMBED_BUILTIN_DIM_MAX 65536
#define EMBED_BUILTIN_FP_MAX 64   /* fingerprint buffer size, NUL included */
#define EMBED_BUILTIN_MAX_BYTES (256u << 10)  /* longest prompt accepted */

#define EMBED_OK 0
#define EMBED_EEMPTY (-1)   /* prompt normalises to nothing */
#define EMBED_EINVAL (-2)   /* dim out of range, buffer too small, prompt too long */
#define EMBED_ENOMEM (-3)

/* Feature id layout: bits 31-30 kind, bits 29-0 hash (gate features: bits
 * 29-28 gate type, 27-0 value). */
#define EMBED_KIND_WORD 0u
#define EMBED_KIND_BIGRAM 1u
#define EMBED_KIND_CHAR 2u
#define EMBED_KIND_GATE 3u
#define EMBED_FEAT_KIND(id) ((uint32_t)(id) >> 30)
#define EMBED_GATE_NUM 0u   /* value: hash of a number token and its position */
#define EMBED_GATE_NEG 1u   /* value 1: a negation word is present */
#define EMBED_GATE_POL 2u   /* value: polar pair index * 2 + side */
#define EMBED_GATE_IDENT 3u /* value: hash of an identifier (a word with '_') */
#define EMBED_GATE_TYPE(id) (((uint32_t)(id) >> 28) & 3u)
#define EMBED_GATE_VALUE(id) ((uint32_t)(id) & 0x0FFFFFFFu)

/* Sparse features of one prompt, and the scratch that produced them.
 * After a successful embed_builtin_features: ids[0..n) strictly ascending,
 * tfs[i] = occurrences of ids[i] clamped to 1..255; both point into the
 * scratch and are valid until the next call or embed_feats_free. Owned by
 * the caller; reused across calls to avoid allocation (buffers only
 * grow). */
typedef struct embed_feats {
    uint32_t *ids;     /* points into raw */
    uint8_t *tfs;
    uint32_t n;
    /* scratch, private */
    uint32_t cap;      /* capacity of ids/tfs/raw/tmp, in features */
    uint32_t *raw, *tmp;
    char *buf;         /* normalised text, then the joined stems */
    size_t bufcap;
} embed_feats;

/* Zero-initialises f (equivalent to `embed_feats f = {0}`). */
void embed_feats_init(embed_feats *f);
/* Frees the buffers; f may be reused after embed_feats_init. */
void embed_feats_free(embed_feats *f);

/* Extracts the features of prompt[0..len) into f. Returns EMBED_OK,
 * EMBED_EEMPTY (the prompt is empty or only separators: defined, the cache
 * refuses such prompts; f->n is then 0), EMBED_EINVAL (len >
 * EMBED_BUILTIN_MAX_BYTES) or EMBED_ENOMEM (f keeps its old buffers and
 * f->n is 0). Any thread, one f per thread. Scratch grows to at most 93
 * bytes per prompt byte (24 MiB at the 256 KiB limit) and is kept for
 * reuse; a thread that embedded a huge prompt may embed_feats_free it. Cost: ~11 us CPU for a 50-word prompt
 * (bench/embed_quality.c, latency table). */
int embed_builtin_features(const char *prompt, size_t len, embed_feats *f);

/* Writes the L2-normalised vector of the features in f into out[dim].
 * Returns EMBED_OK, EMBED_EINVAL (dim outside [EMBED_BUILTIN_DIM_MIN,
 * EMBED_BUILTIN_DIM_MAX]) or EMBED_EEMPTY (no vector features, or they
 * cancelled out exactly: out is then all zeros, which hnsw rejects). */
int embed_builtin_vector(const embed_feats *f, uint32_t dim, float *out);

/* embed_builtin_features + embed_builtin_vector. scratch may be NULL (a
 * temporary one is allocated and freed). Same returns. */
int embed_builtin(const char *prompt, size_t len, uint32_t dim, float *out,
                  embed_feats *scratch);

/* Writes "builtin:v1:d=<dim>:<16 hex digits>" into buf (at least
 * EMBED_BUILTIN_FP_MAX bytes); the hex digits are XXH3 of every parameter
 * that shapes the features or the vector AND of the features and vector
 * of a fixed probe prompt, so any change of algorithm or parameter changes
 * the string. Costs one embedding (~20 us): call it when a namespace is
 * created or opened, not per request. Returns EMBED_OK, EMBED_EINVAL (dim
 * out of range, buflen < EMBED_BUILTIN_FP_MAX) or EMBED_ENOMEM. */
int embed_builtin_fingerprint(uint32_t dim, char *buf, size_t buflen);

#endif
