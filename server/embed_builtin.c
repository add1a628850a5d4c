/* embed_builtin.c -- the built-in embedder (contract in embed_builtin.h).
 *
 * Design decisions:
 * 1. Features, not a model. A prompt becomes word unigrams (stemmed),
 *    word bigrams (order-sensitive locally, so "dog bites man" and "man
 *    bites dog" differ a little, not a lot), and character 3- and 4-grams
 *    over " w1 w2 ... wn " (stems joined by single spaces), which carry
 *    spelling variants, compounds and the boundary between words. 5-grams
 *    were measured too (bench/embed_quality.c, tune half, before the swap
 *    test existed): 3..5-grams 66.4% correct, 3..4-grams 67.6%, both at
 *    zero tune false hits, with 45% more stored features and 20% more time
 *    for 3..5, so 5-grams are out.
 *    N-grams are cut at code-point starts: a UTF-8 sequence is never split,
 *    so an n-gram is n characters, not n bytes; invalid UTF-8 (stray
 *    continuation bytes) is grouped with the byte before it, consistently.
 * 2. Feature ids are 32-bit: 2 bits of kind and 30 bits of XXH3-64 with a
 *    fixed per-kind seed. Collisions at 30 bits (about 1e-9 per pair) are
 *    irrelevant next to the hashing into `dim` slots.
 * 3. Term counts come from sorting the raw feature ids (LSD radix, 4 passes
 *    of 8 bits: a 50-word prompt has ~700 raw features, where a radix sort
 *    costs a few microseconds and needs no hash table) and merging runs.
 *    The sorted unique list is also what lexscore stores per entry and
 *    merge-joins at query time.
 * 4. Weights are integers: kind weight (percent) * round(1024 * (1 + ln tf))
 *    from a table, accumulated in int32 per slot with a sign from the slot
 *    hash. The L2 norm is an exact uint64 sum of squares, then one sqrt and
 *    one multiply per slot. No platform-dependent libm call and no place
 *    for FMA contraction, hence bit-identical vectors on x86-64 and AArch64.
 *    Kind weights (word 100, bigram 60, char 40) only shape the vector used
 *    to find candidates; HNSW top-10 holds the own origin for 500/500 tune
 *    and 497/499 held-out queries with them, so they were not tuned.
 * 5. Gate features (kind 3) describe what must match exactly for a hit:
 *    number tokens in order (so "2 hours" != "3 hours" and "convert 2 to 3"
 *    != "convert 3 to 2"; leading letters are dropped, so "v2.10.0" ==
 *    "2.10.0"; "two".."twelve" count as digits), whether a negation word is
 *    present, and polar words
 *    from a fixed table of opposite pairs (enable/disable, allow/deny...),
 *    and identifiers (words containing '_': "load_hub" vs "upload_dataset"
 *    is an entity swap that shares most character n-grams).
 *    They never enter the vector; lexscore_gate reads them. Negation is
 *    presence, not a count: paraphrases restate a negation with a
 *    different number of negation words ("it is not in v2" / "no, it
 *    doesn't exist in v2"), which counting rejected (35 of 500 tune pairs
 *    in bench/embed_quality.c --show-gated), and a double negative is
 *    rare in a prompt.
 * 6. Empty prompts are an error (EMBED_EEMPTY), not a fixed vector: a
 *    fixed vector would make every empty prompt a hit for every other.
 * 7. The fingerprint hashes the parameters, the word tables and the output
 *    (features and vector) for a probe prompt that exercises every rule, so
 *    a change anywhere in the pipeline changes it even if nobody bumps
 *    EMBED_VERSION; the unit tests pin it. Checked on AArch64 (gcc 12
 *    cross build under qemu, also with -ffp-contract=fast -O3): same
 *    fingerprint and same pinned vector checksum as x86-64. */
#include "embed_builtin.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* Inline XXH3: features hash 3-5 byte strings, where the call into
 * libxxhash costs as much as the hash (perf: 13% of embed time). The output
 * is XXH3's specified value either way. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "prompt_norm.h"

#define EMBED_VERSION 1
#define SEED_BASE 0x73696d6361636865ULL   /* "simcache" */
#define NGRAM_MIN 3
#define NGRAM_MAX 4
#define TF_TABLE 64

/* Kind weights in percent (word, bigram, char); see design note 4. */
static const int32_t kind_weight[3] = {100, 60, 40};

/* round(1024 * (1 + ln tf)) for tf = 1..64; larger counts use the last. */
static const int32_t tf_weight[TF_TABLE] = {
    1024, 1734, 2149, 2444, 2672, 2859, 3017, 3153, 3274, 3382, 3479, 3569,
    3651, 3726, 3797, 3863, 3925, 3984, 4039, 4092, 4142, 4189, 4235, 4278,
    4320, 4360, 4399, 4436, 4472, 4507, 4540, 4573, 4604, 4635, 4665, 4694,
    4722, 4749, 4775, 4801, 4827, 4851, 4875, 4899, 4922, 4945, 4967, 4988,
    5009, 5030, 5050, 5070, 5090, 5109, 5128, 5146, 5164, 5182, 5199, 5217,
    5234, 5250, 5267, 5283};

/* Negation words after normalisation (apostrophes deleted). */
static const char *const negations[] = {
    "not", "no", "never", "none", "nothing", "nobody", "nowhere", "neither",
    "nor", "without", "cannot", "cant", "dont", "doesnt", "didnt", "isnt",
    "arent", "wasnt", "werent", "wont", "wouldnt", "shouldnt", "couldnt",
    "hasnt", "havent", "hadnt", "mustnt", "neednt", "aint"};

/* Number words mapped to digits for the number gate ("one" is left out:
 * it is mostly a pronoun, "which one"). */
static const char *const number_words[] = {
    "zero", "", "two", "three", "four", "five", "six", "seven", "eight",
    "nine", "ten", "eleven", "twelve"};

/* Opposite pairs, as stems (prompt_stem of the base form; a unit test
 * checks every entry against the stemmer). */
static const char *const polar[][2] = {
    {"enabl", "disabl"}, {"allow", "deny"}, {"add", "remov"},
    {"increas", "decreas"}, {"includ", "exclud"}, {"install", "uninstall"},
    {"encrypt", "decrypt"}, {"import", "export"}, {"upload", "download"},
    {"befor", "after"}, {"min", "max"}, {"minimum", "maximum"},
    {"tru", "fals"}, {"start", "stop"}, {"open", "clos"}, {"push", "pull"},
    {"lock", "unlock"}, {"connect", "disconnect"}, {"show", "hid"},
    {"accept", "reject"}, {"saf", "unsaf"}, {"valid", "invalid"},
    {"mor", "less"}, {"higher", "lower"}, {"faster", "slower"},
    {"better", "wors"}, {"first", "last"}, {"larger", "smaller"},
    {"encod", "decod"}, {"serializ", "deserializ"}, {"compress", "decompress"},
    {"mount", "unmount"}, {"subscrib", "unsubscrib"}, {"left", "right"},
    {"input", "output"}, {"read", "writ"}, {"sync", "async"},
    {"synchronous", "asynchronous"}, {"public", "privat"}, {"client", "server"},
    {"ascend", "descend"}, {"upper", "lower"}};
#define NPOLAR (sizeof polar / sizeof polar[0])

void embed_feats_init(embed_feats *f) { memset(f, 0, sizeof *f); }

void embed_feats_free(embed_feats *f) {
    /* ids points into raw */
    free(f->tfs);
    free(f->raw);
    free(f->tmp);
    free(f->buf);
    memset(f, 0, sizeof *f);
}

/* Grows the scratch for a prompt of len bytes; keeps old buffers on
 * failure. Raw features per byte of normalised text: at most 4 per word
 * (word, bigram, number or identifier, polar) and 2 char n-grams per code
 * point of the joined text, which is at most 2 bytes per input byte plus
 * 1: 4m + 2(2m + 1) + 1 (negation) <= 10m + 64. Scratch is 3 + 10 * 9 =
 * 93 bytes per prompt byte. */
static int feats_reserve(embed_feats *f, size_t len) {
    size_t need_buf = 3 * len + 8;
    uint32_t need_cap = (uint32_t)(10 * len + 64);
    if (f->bufcap < need_buf) {
        char *b = malloc(need_buf);
        if (!b) return EMBED_ENOMEM;
        free(f->buf);
        f->buf = b;
        f->bufcap = need_buf;
    }
    if (f->cap < need_cap) {
        uint32_t *raw = malloc((size_t)need_cap * 4), *tmp = malloc((size_t)need_cap * 4);
        uint8_t *tfs = malloc(need_cap);
        if (!raw || !tmp || !tfs) {
            free(raw); free(tmp); free(tfs);
            return EMBED_ENOMEM;
        }
        free(f->raw); free(f->tmp); free(f->tfs);
        f->raw = raw; f->tmp = tmp; f->tfs = tfs;
        f->ids = raw; /* unique ids are compacted in place (u <= i) */
        f->cap = need_cap;
    }
    return EMBED_OK;
}

static uint32_t feat_id(uint32_t kind, uint64_t h) {
    return (kind << 30) | (uint32_t)(h & 0x3FFFFFFFu);
}

static uint32_t gate_id(uint32_t type, uint32_t value) {
    return (EMBED_KIND_GATE << 30) | (type << 28) | (value & 0x0FFFFFFFu);
}

/* Index of w in list[0..n) or -1. No table entry is longer than 12 bytes;
 * the first-byte test rejects almost every word before strlen runs. */
static int word_in(const char *w, size_t len, const char *const *list, size_t n) {
    if (len > 12) return -1;
    for (size_t i = 0; i < n; i++)
        if (list[i][0] == w[0] && strlen(list[i]) == len && memcmp(list[i], w, len) == 0)
            return (int)i;
    return -1;
}

static int has_digit(const char *w, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (w[i] >= '0' && w[i] <= '9') return 1;
    return 0;
}

/* Word characters inside normalised text: everything but ' ' and the kept
 * ASCII symbols; '.', ':' (only kept between digits) and a leading '-'
 * before a digit belong to the word. */
static int is_symbol(unsigned char c) {
    return c < 0x80 && c != '_' && c != '.' && c != ':' &&
           !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z');
}

/* Emission state while walking the words of one prompt. */
typedef struct walk {
    uint32_t *raw;
    uint32_t n;
    uint64_t prev_hash;   /* hash of the previous word's stem */
    int have_prev;
    uint32_t num_pos;     /* number tokens seen so far */
    uint32_t negs;        /* negation words seen so far */
} walk;

/* Gate features of one word (before stemming: w is the normalised word). */
static void gate_word(walk *st, const char *w, size_t len) {
    int nw;
    /* "v2.10.0" and "2.10.0", "python3" and "python 3" are one number:
     * leading letters are not part of it. */
    size_t lead = 0;
    while (lead < len && w[lead] >= 'a' && w[lead] <= 'z') lead++;
    if (has_digit(w, len)) {
        uint64_t h = XXH3_64bits_withSeed(w + lead, len - lead, SEED_BASE + 16 + st->num_pos);
        st->raw[st->n++] = gate_id(EMBED_GATE_NUM, (uint32_t)h);
        st->num_pos++;
    } else if ((nw = word_in(w, len, number_words, 13)) >= 0) {
        char d[3];
        int dl = snprintf(d, sizeof d, "%d", nw);
        uint64_t h = XXH3_64bits_withSeed(d, (size_t)dl, SEED_BASE + 16 + st->num_pos);
        st->raw[st->n++] = gate_id(EMBED_GATE_NUM, (uint32_t)h);
        st->num_pos++;
    } else if (word_in(w, len, negations, sizeof negations / sizeof negations[0]) >= 0) {
        st->negs++;
    }
    if (memchr(w, '_', len)) {
        uint64_t h = XXH3_64bits_withSeed(w, len, SEED_BASE + 15);
        st->raw[st->n++] = gate_id(EMBED_GATE_IDENT, (uint32_t)h);
    }
}

static void polar_word(walk *st, const char *s, size_t len) {
    if (len > 12) return; /* longest entry: "asynchronous" */
    for (uint32_t p = 0; p < NPOLAR; p++)
        for (uint32_t side = 0; side < 2; side++) {
            const char *e = polar[p][side];
            if (e[0] == s[0] && strlen(e) == len && memcmp(e, s, len) == 0)
                st->raw[st->n++] = gate_id(EMBED_GATE_POL, p * 2 + side);
        }
}

/* Emits word, bigram and gate features for the word norm[0..len), and
 * appends its stem to the joined buffer at *jo. */
static void emit_word(walk *st, const char *w, size_t len, char *joined, size_t *jo) {
    gate_word(st, w, len);
    char *s = joined + *jo;
    memcpy(s, w, len);
    size_t sl = prompt_stem(s, len);
    polar_word(st, s, sl);
    uint64_t h = XXH3_64bits_withSeed(s, sl, SEED_BASE);
    st->raw[st->n++] = feat_id(EMBED_KIND_WORD, h);
    if (st->have_prev) {
        uint64_t hb = XXH3_64bits_withSeed(&st->prev_hash, 8, SEED_BASE + 1 + h);
        st->raw[st->n++] = feat_id(EMBED_KIND_BIGRAM, hb);
    }
    st->prev_hash = h;
    st->have_prev = 1;
    *jo += sl;
    joined[(*jo)++] = ' ';
}

/* Splits normalised text into words (design note in is_symbol) and emits
 * their features; returns the length of the joined " s1 s2 ... " text. */
static size_t walk_words(walk *st, const char *norm, size_t m, char *joined) {
    size_t jo = 0, i = 0;
    joined[jo++] = ' ';
    while (i < m) {
        unsigned char c = (unsigned char)norm[i];
        if (c == ' ') { i++; continue; }
        size_t j = i;
        if (is_symbol(c) && !(c == '-' && i + 1 < m && norm[i + 1] >= '0' && norm[i + 1] <= '9')) {
            while (j < m && norm[j] != ' ' && is_symbol((unsigned char)norm[j]) &&
                   !(norm[j] == '-' && j + 1 < m && norm[j + 1] >= '0' && norm[j + 1] <= '9'))
                j++;
        } else {
            j++; /* the first byte (possibly the '-' of "-5") */
            while (j < m && norm[j] != ' ' && !is_symbol((unsigned char)norm[j])) j++;
        }
        emit_word(st, norm + i, j - i, joined, &jo);
        i = j;
    }
    if (st->negs) st->raw[st->n++] = gate_id(EMBED_GATE_NEG, 1);
    return jo;
}

/* Character n-grams over joined[0..jl): NGRAM_MIN..NGRAM_MAX code points.
 * starts[] receives the code-point start offsets (scratch). */
static void walk_chars(walk *st, const char *joined, size_t jl, uint32_t *starts) {
    uint32_t ns = 0;
    for (size_t i = 0; i < jl; i++)
        if (((unsigned char)joined[i] & 0xC0) != 0x80) starts[ns++] = (uint32_t)i;
    starts[ns] = (uint32_t)jl;
    for (uint32_t k = 0; k < ns; k++)
        for (uint32_t n = NGRAM_MIN; n <= NGRAM_MAX && k + n <= ns; n++) {
            size_t a = starts[k], b = starts[k + n];
            uint64_t h = XXH3_64bits_withSeed(joined + a, b - a, SEED_BASE + 2 + n);
            st->raw[st->n++] = feat_id(EMBED_KIND_CHAR, h);
        }
}

/* LSD radix sort of a[0..n) using tmp; result in a. The four byte
 * histograms are built in one read pass, then four scatter passes. */
static void radix_sort(uint32_t *a, uint32_t *tmp, uint32_t n) {
    uint32_t cnt[4][256];
    memset(cnt, 0, sizeof cnt);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t x = a[i];
        cnt[0][x & 0xFF]++;
        cnt[1][(x >> 8) & 0xFF]++;
        cnt[2][(x >> 16) & 0xFF]++;
        cnt[3][x >> 24]++;
    }
    for (int d = 0; d < 4; d++) {
        uint32_t sum = 0;
        for (int b = 0; b < 256; b++) {
            uint32_t c = cnt[d][b];
            cnt[d][b] = sum;
            sum += c;
        }
    }
    uint32_t *src = a, *dst = tmp;
    for (int d = 0; d < 4; d++) {
        int shift = 8 * d;
        for (uint32_t i = 0; i < n; i++) dst[cnt[d][(src[i] >> shift) & 0xFF]++] = src[i];
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    /* four passes: the sorted data is back in a */
}

int embed_builtin_features(const char *prompt, size_t len, embed_feats *f) {
    f->n = 0;
    if (len == 0) return EMBED_EEMPTY;
    if (len > EMBED_BUILTIN_MAX_BYTES) return EMBED_EINVAL;
    int rc = feats_reserve(f, len);
    if (rc) return rc;
    size_t m = prompt_norm(prompt, len, f->buf);
    if (m == 0) return EMBED_EEMPTY;
    char *joined = f->buf + m;
    walk st = {.raw = f->raw};
    size_t jl = walk_words(&st, f->buf, m, joined);
    walk_chars(&st, joined, jl, f->tmp); /* tmp is free until the sort */
    radix_sort(st.raw, f->tmp, st.n);
    uint32_t u = 0;
    for (uint32_t i = 0; i < st.n;) {
        uint32_t j = i + 1;
        while (j < st.n && st.raw[j] == st.raw[i]) j++;
        f->ids[u] = st.raw[i];
        f->tfs[u] = (uint8_t)(j - i > 255 ? 255 : j - i);
        u++;
        i = j;
    }
    f->n = u;
    return EMBED_OK;
}

/* Slot and sign of a feature: a 32-bit integer finaliser (murmur3 fmix). */
static uint32_t slot_hash(uint32_t x) {
    x ^= x >> 16;
    x *= 0x85EBCA6Bu;
    x ^= x >> 13;
    x *= 0xC2B2AE35u;
    x ^= x >> 16;
    return x;
}

int embed_builtin_vector(const embed_feats *f, uint32_t dim, float *out) {
    if (dim < EMBED_BUILTIN_DIM_MIN || dim > EMBED_BUILTIN_DIM_MAX) return EMBED_EINVAL;
    int32_t stackacc[1024];
    int32_t *acc = dim <= 1024 ? stackacc : malloc((size_t)dim * sizeof *acc);
    if (!acc) return EMBED_ENOMEM;
    memset(acc, 0, (size_t)dim * sizeof *acc);
    for (uint32_t i = 0; i < f->n; i++) {
        uint32_t kind = EMBED_FEAT_KIND(f->ids[i]);
        if (kind == EMBED_KIND_GATE) continue;
        uint32_t tf = f->tfs[i] > TF_TABLE ? TF_TABLE : f->tfs[i];
        int32_t w = kind_weight[kind] * tf_weight[tf - 1] / 100;
        uint32_t h = slot_hash(f->ids[i]);
        uint32_t slot = (h >> 1) % dim;
        /* |acc| <= features * 5283: fits int32 for < 400k features per
         * slot, which a prompt of any accepted size cannot reach. */
        acc[slot] += (h & 1) ? -w : w;
    }
    uint64_t ss = 0;
    for (uint32_t i = 0; i < dim; i++) ss += (uint64_t)((int64_t)acc[i] * acc[i]);
    int rc = EMBED_OK;
    if (ss == 0) {
        memset(out, 0, (size_t)dim * sizeof *out);
        rc = EMBED_EEMPTY;
    } else {
        double inv = 1.0 / sqrt((double)ss);
        for (uint32_t i = 0; i < dim; i++) out[i] = (float)((double)acc[i] * inv);
    }
    if (acc != stackacc) free(acc);
    return rc;
}

int embed_builtin(const char *prompt, size_t len, uint32_t dim, float *out,
                  embed_feats *scratch) {
    embed_feats local;
    embed_feats *f = scratch;
    if (!f) {
        embed_feats_init(&local);
        f = &local;
    }
    int rc = embed_builtin_features(prompt, len, f);
    if (rc == EMBED_OK) rc = embed_builtin_vector(f, dim, out);
    if (!scratch) embed_feats_free(&local);
    return rc;
}

/* Exercises every rule: case, contraction, curly apostrophe, UTF-8,
 * numbers, a negative, a decimal, identifiers, symbols, stemming, a polar
 * word and a negation. */
static const char fp_probe[] =
    "Don't RUN the 2 tests: enable c++ caching, install_libs quickly; "
    "na\xC3\xAFve caf\xC3\xA9\xE2\x80\x99s v2.10.0 -5 3.5 libraries were running";

int embed_builtin_fingerprint(uint32_t dim, char *buf, size_t buflen) {
    if (dim < EMBED_BUILTIN_DIM_MIN || dim > EMBED_BUILTIN_DIM_MAX ||
        buflen < EMBED_BUILTIN_FP_MAX)
        return EMBED_EINVAL;
    /* 1. Every parameter that shapes features or vectors. */
    char params[512];
    int n = snprintf(params, sizeof params,
                     "v=%d;dim=%u;seed=%llx;ngram=%d-%d;kind=%d,%d,%d;tf=%d,%d,%d;"
                     "npolar=%zu;nneg=%zu",
                     EMBED_VERSION, dim, (unsigned long long)SEED_BASE, NGRAM_MIN,
                     NGRAM_MAX, kind_weight[0], kind_weight[1], kind_weight[2],
                     tf_weight[1], tf_weight[TF_TABLE - 1], TF_TABLE, NPOLAR,
                     sizeof negations / sizeof negations[0]);
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, params, (size_t)n);
    /* the word tables, entry by entry (NUL included as a separator) */
    for (size_t i = 0; i < sizeof negations / sizeof negations[0]; i++)
        XXH3_64bits_update(&st, negations[i], strlen(negations[i]) + 1);
    for (size_t i = 0; i < sizeof number_words / sizeof number_words[0]; i++)
        XXH3_64bits_update(&st, number_words[i], strlen(number_words[i]) + 1);
    for (size_t i = 0; i < NPOLAR; i++)
        for (int k = 0; k < 2; k++) XXH3_64bits_update(&st, polar[i][k], strlen(polar[i][k]) + 1);
    /* 2. The output itself on a probe prompt: any change to normalisation,
     * stemming, tables or hashing that the parameters miss still changes
     * the fingerprint, and a platform that computed different vectors
     * would get a different fingerprint instead of mixing them. */
    embed_feats f;
    embed_feats_init(&f);
    float *v = malloc((size_t)dim * sizeof *v);
    int rc = v ? embed_builtin_features(fp_probe, sizeof fp_probe - 1, &f) : EMBED_ENOMEM;
    if (rc == EMBED_OK) rc = embed_builtin_vector(&f, dim, v);
    if (rc == EMBED_OK) {
        for (uint32_t i = 0; i < f.n; i++) {
            unsigned char rec[5] = {(unsigned char)f.ids[i], (unsigned char)(f.ids[i] >> 8),
                                    (unsigned char)(f.ids[i] >> 16),
                                    (unsigned char)(f.ids[i] >> 24), f.tfs[i]};
            XXH3_64bits_update(&st, rec, sizeof rec);
        }
        for (uint32_t i = 0; i < dim; i++) {
            uint32_t bits;
            memcpy(&bits, &v[i], 4);
            unsigned char le[4] = {(unsigned char)bits, (unsigned char)(bits >> 8),
                                   (unsigned char)(bits >> 16), (unsigned char)(bits >> 24)};
            XXH3_64bits_update(&st, le, 4);
        }
        snprintf(buf, buflen, "builtin:v%d:d=%u:%016llx", EMBED_VERSION, dim,
                 (unsigned long long)XXH3_64bits_digest(&st));
    }
    free(v);
    embed_feats_free(&f);
    return rc == EMBED_OK ? EMBED_OK : EMBED_ENOMEM;
}
