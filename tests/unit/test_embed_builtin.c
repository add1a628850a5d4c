/* test_embed_builtin.c -- the built-in embedder and prompt normalisation,
 * tested against what goes wrong in a semantic cache: a silently changed
 * algorithm mixing incompatible vectors in one namespace (pinned
 * fingerprint and vector checksum), exact keys that differ for the same
 * prompt or collide for different ones, normalisation that is not a fixed
 * point, UTF-8 split into invalid n-grams, vectors that are not unit
 * length, empty prompts that would match everything, and rewordings users
 * send that must still hit while unrelated prompts must not. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "server/embed_builtin.h"
#include "server/lexscore.h"
#include "server/prompt_norm.h"

static size_t norm(const char *s, char *out) { return prompt_norm(s, strlen(s), out); }

static void assert_norm(const char *in, const char *want) {
    char out[512];
    size_t n = norm(in, out);
    out[n] = 0;
    cr_assert_str_eq(out, want, "prompt_norm(\"%s\") = \"%s\", want \"%s\"", in, out, want);
}

Test(prompt_norm, case_punctuation_and_whitespace_fold_to_one_form) {
    assert_norm("  What IS Redis?\n", "what is redis");
    assert_norm("what is redis", "what is redis");
    assert_norm("What is\t\tRedis!!!", "what is redis");
    assert_norm("state-of-the-art", "state of the art");
    assert_norm("(hello), [world]; {x}: \"y\"", "hello world x y");
    assert_norm("", "");
    assert_norm(" \t\r\n ", "");
    assert_norm("?!.,;:", "");
}

Test(prompt_norm, contractions_join_and_curly_quotes_map) {
    assert_norm("Don't stop", "dont stop");
    assert_norm("don\xE2\x80\x99t stop", "dont stop");              /* U+2019 */
    assert_norm("\xE2\x80\x9Cquoted\xE2\x80\x9D", "quoted");         /* U+201C/D */
    assert_norm("a\xC2\xA0" "b", "a b");                             /* NBSP */
    assert_norm("'quoted'", "quoted");
    assert_norm("users' data", "users data");
}

Test(prompt_norm, numbers_and_symbols_that_change_meaning_are_kept) {
    assert_norm("What is 2+2?", "what is 2+2");
    assert_norm("What is 2-2?", "what is 2 2");  /* '-' between digits: a dash */
    assert_norm("It is -5 degrees", "it is -5 degrees");
    assert_norm("Python 3.11.", "python 3.11");
    assert_norm("at 2:30.", "at 2:30");
    assert_norm("v2.10.0", "v2.10.0");
    assert_norm("C++ vs C#", "c++ vs c#");
    assert_norm("snake_case_name", "snake_case_name");
    assert_norm("a/b = 50%", "a/b = 50%");
}

Test(prompt_norm, utf8_passes_through_byte_for_byte) {
    assert_norm("Caf\xC3\xA9 na\xC3\xAFve \xE6\x97\xA5\xE6\x9C\xAC", "caf\xC3\xA9 na\xC3\xAFve \xE6\x97\xA5\xE6\x9C\xAC");
    /* invalid bytes are kept, never repaired or dropped */
    assert_norm("a\xFF\xFE" "b", "a\xFF\xFE" "b");
}

/* Deterministic pseudo-random prompts biased towards the bytes the rules
 * care about. */
static size_t random_prompt(uint64_t *st, char *buf, size_t cap) {
    static const char alphabet[] = "aZ09 .:-'`_+,!?\t\n\xC2\xA0\xE2\x80\x99\x9C\xFF";
    *st = *st * 6364136223846793005ULL + 1442695040888963407ULL;
    size_t n = (size_t)(*st >> 33) % cap;
    for (size_t i = 0; i < n; i++) {
        *st = *st * 6364136223846793005ULL + 1442695040888963407ULL;
        buf[i] = alphabet[(*st >> 33) % (sizeof alphabet - 1)];
    }
    return n;
}

Test(prompt_norm, idempotent_and_never_longer_on_random_prompts) {
    uint64_t st = 42;
    char in[200], a[200], b[200];
    for (int t = 0; t < 20000; t++) {
        size_t n = random_prompt(&st, in, sizeof in);
        size_t na = prompt_norm(in, n, a);
        cr_assert_leq(na, n);
        size_t nb = prompt_norm(a, na, b);
        cr_assert_eq(nb, na, "second pass changed the length (case %d)", t);
        cr_assert_eq(memcmp(a, b, na), 0, "second pass changed the bytes (case %d)", t);
    }
}

Test(prompt_norm, exact_key_equal_for_same_prompt_distinct_for_different) {
    uint64_t k1, k2, k3;
    cr_assert_eq(prompt_norm_key("What is Redis?", 14, &k1), 0);
    cr_assert_eq(prompt_norm_key("  what is REDIS ", 16, &k2), 0);
    cr_assert_eq(k1, k2);
    cr_assert_eq(prompt_norm_key("What is 2+2?", 12, &k1), 0);
    cr_assert_eq(prompt_norm_key("What is 2*2?", 12, &k2), 0);
    cr_assert_neq(k1, k2);
    cr_assert_eq(prompt_norm_key(" ?! ", 4, &k3), -1, "separator-only prompt has no key");
    cr_assert_eq(prompt_norm_key("", 0, &k3), -1);
    /* a prompt over the 4 KiB stack buffer takes the heap path */
    size_t big = 10000;
    char *p = malloc(big);
    for (size_t i = 0; i < big; i++) p[i] = "Ab c"[i % 4];
    cr_assert_eq(prompt_norm_key(p, big, &k1), 0);
    p[0] = 'a';
    cr_assert_eq(prompt_norm_key(p, big, &k2), 0);
    cr_assert_eq(k1, k2, "case must not change the key");
    free(p);
}

static void assert_stem(const char *w, const char *want) {
    char buf[64];
    size_t n = strlen(w);
    memcpy(buf, w, n);
    n = prompt_stem(buf, n);
    buf[n] = 0;
    cr_assert_str_eq(buf, want, "stem(%s) = %s, want %s", w, buf, want);
}

Test(prompt_stem, inflections_meet_and_short_or_foreign_words_stay) {
    const char *groups[][5] = {
        {"run", "runs", "running", NULL},
        {"create", "creates", "created", "creating", NULL},
        {"library", "libraries", NULL},
        {"cache", "caches", "cached", "caching", NULL},
        {"install", "installs", "installed", "installing", NULL},
        {"stop", "stops", "stopped", "stopping", NULL},
        {"match", "matches", "matched", NULL},
        {"class", "classes", NULL},
        {"use", "uses", "used", "using", NULL},
        {"add", "adds", "added", "adding", NULL},
    };
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        char first[64];
        size_t n0 = strlen(groups[g][0]);
        memcpy(first, groups[g][0], n0);
        n0 = prompt_stem(first, n0);
        first[n0] = 0;
        for (int i = 1; i < 5 && groups[g][i]; i++) assert_stem(groups[g][i], first);
    }
    assert_stem("status", "status");   /* -us is not a plural */
    assert_stem("analysis", "analysis");
    assert_stem("string", "string");   /* no vowel before -ing */
    assert_stem("is", "is");
    assert_stem("caf\xC3\xA9s", "caf\xC3\xA9s");  /* non-ASCII words untouched */
    assert_stem("py3s", "py3s");
}

/* XXH3 of the vector's float bits, little-endian. */
static uint64_t vec_checksum(const float *v, uint32_t dim) {
    unsigned char *le = malloc((size_t)dim * 4);
    for (uint32_t i = 0; i < dim; i++) {
        uint32_t b;
        memcpy(&b, &v[i], 4);
        le[4 * i] = (unsigned char)b;
        le[4 * i + 1] = (unsigned char)(b >> 8);
        le[4 * i + 2] = (unsigned char)(b >> 16);
        le[4 * i + 3] = (unsigned char)(b >> 24);
    }
    uint64_t h = XXH3_64bits(le, (size_t)dim * 4);
    free(le);
    return h;
}

static const char pinned_prompt[] =
    "How do I configure the Redis connection pool size in Python 3.11? "
    "It doesn't reuse connections, and caf\xC3\xA9_mode is enabled.";

/* These constants were computed once from this implementation and pinned:
 * a change here means every stored vector of every namespace using the
 * built-in embedder is incompatible. Bump EMBED_VERSION (the fingerprint
 * changes with it) and update the pins in the same commit. */
#define PINNED_FP_512 "builtin:v1:d=512:1af25adeeec25fab"
#define PINNED_FP_384 "builtin:v1:d=384:7ed31c19f61d677a"
#define PINNED_VEC_512 0xfdf451d6d7c184deULL
#define PINNED_NFEATS 232u

Test(embed_builtin, fingerprint_is_pinned_and_depends_on_dim) {
    char fp[EMBED_BUILTIN_FP_MAX];
    cr_assert_eq(embed_builtin_fingerprint(512, fp, sizeof fp), EMBED_OK);
    cr_assert_str_eq(fp, PINNED_FP_512);
    cr_assert_eq(embed_builtin_fingerprint(384, fp, sizeof fp), EMBED_OK);
    cr_assert_str_eq(fp, PINNED_FP_384);
    cr_assert_eq(embed_builtin_fingerprint(8, fp, sizeof fp), EMBED_EINVAL);
    cr_assert_eq(embed_builtin_fingerprint(512, fp, 10), EMBED_EINVAL);
}

Test(embed_builtin, vector_of_fixed_prompt_is_pinned) {
    float v[512];
    embed_feats f;
    embed_feats_init(&f);
    cr_assert_eq(embed_builtin_features(pinned_prompt, sizeof pinned_prompt - 1, &f), EMBED_OK);
    cr_assert_eq(f.n, PINNED_NFEATS, "feature count %u", f.n);
    cr_assert_eq(embed_builtin_vector(&f, 512, v), EMBED_OK);
    cr_assert_eq(vec_checksum(v, 512), PINNED_VEC_512, "checksum 0x%016llx",
                 (unsigned long long)vec_checksum(v, 512));
    /* same bytes in, same vector out, with or without reused scratch */
    float w[512];
    cr_assert_eq(embed_builtin(pinned_prompt, sizeof pinned_prompt - 1, 512, w, NULL), EMBED_OK);
    cr_assert_eq(memcmp(v, w, sizeof v), 0);
    embed_feats_free(&f);
}

Test(embed_builtin, vectors_are_unit_length_at_every_dim) {
    const char *prompts[] = {"a", "hello", "What is the capital of France?", pinned_prompt,
                             "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", "x y z 1 2 3 + - *"};
    uint32_t dims[] = {16, 17, 384, 512, 1024, 1536, 4096};
    embed_feats f;
    embed_feats_init(&f);
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
        float *v = malloc(dims[d] * sizeof *v);
        for (size_t p = 0; p < sizeof prompts / sizeof prompts[0]; p++) {
            cr_assert_eq(embed_builtin(prompts[p], strlen(prompts[p]), dims[d], v, &f), EMBED_OK);
            double s = 0;
            for (uint32_t i = 0; i < dims[d]; i++) s += (double)v[i] * v[i];
            cr_assert_float_eq(s, 1.0, 1e-5, "dim %u prompt %zu: |v|^2 = %f", dims[d], p, s);
        }
        free(v);
    }
    embed_feats_free(&f);
}

Test(embed_builtin, empty_and_separator_only_prompts_are_refused) {
    float v[64];
    embed_feats f;
    embed_feats_init(&f);
    cr_assert_eq(embed_builtin("", 0, 64, v, &f), EMBED_EEMPTY);
    cr_assert_eq(embed_builtin(" \t\n  ", 5, 64, v, &f), EMBED_EEMPTY);
    cr_assert_eq(embed_builtin("?!...", 5, 64, v, NULL), EMBED_EEMPTY);
    cr_assert_eq(f.n, 0u);
    cr_assert_eq(embed_builtin("ok", 2, 8, v, &f), EMBED_EINVAL, "dim below minimum");
    cr_assert_eq(embed_builtin_features("ok", (size_t)EMBED_BUILTIN_MAX_BYTES + 1, &f), EMBED_EINVAL,
                 "over-long prompt refused before anything is read or allocated");
    cr_assert_eq(embed_builtin("ok", 2, 64, v, &f), EMBED_OK, "scratch reusable after errors");
    embed_feats_free(&f);
}

static uint32_t count_kind(const embed_feats *f, uint32_t kind) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < f->n; i++) n += EMBED_FEAT_KIND(f->ids[i]) == kind;
    return n;
}

Test(embed_builtin, char_ngrams_never_split_a_utf8_sequence) {
    embed_feats f;
    embed_feats_init(&f);
    /* " ab€ " is 5 code points (7 bytes): 3 trigrams + 2 four-grams = 5.
     * Byte n-grams would give 5 + 4 = 9. */
    cr_assert_eq(embed_builtin_features("ab\xE2\x82\xAC", 5, &f), EMBED_OK);
    cr_assert_eq(count_kind(&f, EMBED_KIND_CHAR), 5u);
    cr_assert_eq(count_kind(&f, EMBED_KIND_WORD), 1u);
    cr_assert_eq(count_kind(&f, EMBED_KIND_BIGRAM), 0u);
    embed_feats_free(&f);
}

Test(embed_builtin, features_ascending_with_sublinear_term_counts) {
    embed_feats f;
    embed_feats_init(&f);
    cr_assert_eq(embed_builtin_features("cache caches cached", 19, &f), EMBED_OK);
    for (uint32_t i = 1; i < f.n; i++) cr_assert_gt(f.ids[i], f.ids[i - 1]);
    /* three inflections of one stem: one word feature with tf 3 */
    cr_assert_eq(count_kind(&f, EMBED_KIND_WORD), 1u);
    for (uint32_t i = 0; i < f.n; i++)
        if (EMBED_FEAT_KIND(f.ids[i]) == EMBED_KIND_WORD) cr_assert_eq(f.tfs[i], 3);
    /* and the vector weights it 1 + ln 3, not 3: the repeated-stem prompt
     * stays close to the single word */
    float a[512], b[512];
    cr_assert_eq(embed_builtin("cache cache cache", 17, 512, a, &f), EMBED_OK);
    cr_assert_eq(embed_builtin("cache", 5, 512, b, &f), EMBED_OK);
    double dot = 0;
    for (int i = 0; i < 512; i++) dot += (double)a[i] * b[i];
    cr_assert_gt(dot, 0.5);
    embed_feats_free(&f);
}

/* ---- rewordings through the full pipeline ---------------------------- */

static const char *background[] = {
    "How do I reverse a list in Python?",
    "What is the difference between TCP and UDP?",
    "How can I center a div with CSS?",
    "Explain the CAP theorem in simple terms",
    "How do I read a CSV file with pandas?",
    "What does the git rebase command do?",
    "How do I create a virtual environment in Python?",
    "What is a segmentation fault in C?",
    "How do I set an environment variable in Linux?",
    "What is the time complexity of quicksort?",
    "How do I merge two dictionaries in Python?",
    "How does garbage collection work in Java?",
    "What is a foreign key in SQL?",
    "How do I undo the last git commit?",
    "How do I install Docker on Ubuntu?",
    "What is the difference between a process and a thread?",
    "How do I sort a dictionary by value in Python?",
    "How do I configure nginx as a reverse proxy?",
    "What are Redis persistence options?",
    "How do I convert a string to an integer in JavaScript?",
};
#define NBG (sizeof background / sizeof background[0])

typedef struct ns {
    lex_idf *idf;
    lex_doc *docs[NBG];
} ns;

static lex_doc *doc_of(const char *s, embed_feats *f) {
    cr_assert_eq(embed_builtin_features(s, strlen(s), f), EMBED_OK);
    return lex_doc_create(f->ids, f->tfs, f->n);
}

static void ns_init(ns *n, embed_feats *f) {
    cr_assert_eq(lexidf_create(LEXIDF_BITS_DEFAULT, &n->idf), LEX_OK);
    for (size_t i = 0; i < NBG; i++) {
        n->docs[i] = doc_of(background[i], f);
        cr_assert_eq(lexidf_add(n->idf, n->docs[i]->ids, n->docs[i]->n), LEX_OK);
    }
}

static void ns_free(ns *n) {
    for (size_t i = 0; i < NBG; i++) free(n->docs[i]);
    lexidf_free(n->idf);
}

/* Looks query up among all stored prompts (exact search: every doc is a
 * candidate) and returns the pick. */
static lex_pick lookup(ns *n, const char *query, embed_feats *f) {
    lex_params p;
    lex_params_default(&p);
    cr_assert_eq(embed_builtin_features(query, strlen(query), f), EMBED_OK);
    lex_pick pk;
    cr_assert_eq(lexscore_pick(n->idf, &p, f->ids, f->tfs, f->n,
                               (const lex_doc *const *)n->docs, NBG, &pk), LEX_OK);
    return pk;
}

static void assert_hits(ns *n, const char *query, int want, embed_feats *f) {
    lex_pick pk = lookup(n, query, f);
    cr_assert_eq(pk.verdict, LEX_HIT, "\"%s\": verdict %d, best %.3f (index %d), runner-up %.3f",
                 query, pk.verdict, pk.best, pk.index, pk.runner_up);
    cr_assert_eq(pk.index, want, "\"%s\" served \"%s\"", query,
                 pk.index >= 0 ? background[pk.index] : "-");
}

static void assert_misses(ns *n, const char *query, embed_feats *f) {
    lex_pick pk = lookup(n, query, f);
    cr_assert_neq(pk.verdict, LEX_HIT, "\"%s\" served \"%s\" (score %.3f)", query,
                  pk.index >= 0 ? background[pk.index] : "-", pk.best);
}

Test(pipeline, rewordings_users_send_still_hit) {
    embed_feats f;
    embed_feats_init(&f);
    ns n;
    ns_init(&n, &f);
    assert_hits(&n, "how do i reverse a list in python", 0, &f);            /* case, punct */
    assert_hits(&n, "How   do I reverse a list in Python ???", 0, &f);      /* whitespace */
    assert_hits(&n, "In Python, how do I reverse a list?", 0, &f);          /* word order */
    assert_hits(&n, "How do I reverse lists in Python?", 0, &f);            /* inflection */
    assert_hits(&n, "How do I quickly reverse a list in Python?", 0, &f);   /* insertion */
    assert_hits(&n, "what's the difference between tcp and udp", 1, &f);
    assert_hits(&n, "How to read CSV files with pandas", 4, &f);
    assert_hits(&n, "how do I undo my last git commit?", 13, &f);
    assert_hits(&n, "Installing Docker on Ubuntu: how do I do it?", 14, &f);
    ns_free(&n);
    embed_feats_free(&f);
}

Test(pipeline, unrelated_and_same_topic_different_prompts_miss) {
    embed_feats f;
    embed_feats_init(&f);
    ns n;
    ns_init(&n, &f);
    assert_misses(&n, "What is the weather like in Paris today?", &f);
    assert_misses(&n, "Write a haiku about autumn leaves", &f);
    assert_misses(&n, "How do I reverse a string in Rust?", &f);
    assert_misses(&n, "How do I read a JSON file with Go?", &f);
    assert_misses(&n, "How do I install Python on Windows?", &f);
    ns_free(&n);
    embed_feats_free(&f);
}

Test(pipeline, dense_vector_ranks_rewording_above_unrelated) {
    float q[512], r[512], u[512];
    embed_builtin("How do I reverse a list in Python?", 34, 512, q, NULL);
    embed_builtin("in python how do i reverse lists", 32, 512, r, NULL);
    embed_builtin("What is a foreign key in SQL?", 29, 512, u, NULL);
    double qr = 0, qu = 0;
    for (int i = 0; i < 512; i++) {
        qr += (double)q[i] * r[i];
        qu += (double)q[i] * u[i];
    }
    cr_assert_gt(qr, 0.6, "rewording cosine %.3f", qr);
    cr_assert_lt(qu, 0.3, "unrelated cosine %.3f", qu);
}
