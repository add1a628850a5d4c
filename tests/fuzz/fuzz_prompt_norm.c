/* fuzz_prompt_norm.c -- libFuzzer target for prompt normalisation and the
 * built-in embedder's feature extraction.
 *
 * Checks, for any input bytes: no crash or UB (ASan+UBSan); the output is
 * never longer than the input; normalising the output again gives the same
 * bytes (idempotence, which the exact-match key relies on); the output
 * never starts or ends with ' ' nor holds two ' ' in a row; valid UTF-8 in
 * gives valid UTF-8 out; every word of the output stems to something
 * non-empty and no longer; and embed_builtin on the input and on its normal form
 * gives the same features and the same vector (the embedder sees only the
 * normal form), strictly ascending ids, unit norm or EMBED_EEMPTY. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/embed_builtin.h"
#include "server/prompt_norm.h"

#define DIM 64

/* 1 if s[0..n) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
static int utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
        else return 0;
        if (i + len > n) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

static void fail(const char *what, size_t size) {
    fprintf(stderr, "fuzz_prompt_norm: %s (input %zu bytes)\n", what, size);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 8192) size = 8192; /* longer inputs add run time, not paths */
    const char *in = (const char *)data;
    char *a = malloc(size + 1), *b = malloc(size + 1);
    size_t na = prompt_norm(in, size, a);
    if (na > size) fail("output longer than input", size);
    size_t nb = prompt_norm(a, na, b);
    if (nb != na || memcmp(a, b, na) != 0) fail("not idempotent", size);
    if (na && (a[0] == ' ' || a[na - 1] == ' ')) fail("leading or trailing space", size);
    for (size_t i = 1; i < na; i++)
        if (a[i] == ' ' && a[i - 1] == ' ') fail("double space", size);
    if (utf8_valid(data, size) && !utf8_valid((const unsigned char *)a, na))
        fail("valid UTF-8 in, invalid out", size);
    for (size_t i = 0; i < na;) {
        size_t j = i;
        while (j < na && a[j] != ' ') j++;
        memcpy(b, a + i, j - i);
        size_t sl = prompt_stem(b, j - i);
        if (sl == 0 || sl > j - i) fail("stem empty or longer than the word", size);
        i = j + 1;
    }

    embed_feats f1, f2;
    embed_feats_init(&f1);
    embed_feats_init(&f2);
    float v1[DIM], v2[DIM];
    int r1 = embed_builtin_features(in, size, &f1);
    int r2 = embed_builtin_features(a, na, &f2);
    if (r1 != r2) fail("input and normal form embed differently", size);
    if (r1 == EMBED_OK) {
        if (f1.n != f2.n || memcmp(f1.ids, f2.ids, f1.n * 4) || memcmp(f1.tfs, f2.tfs, f1.n))
            fail("input and normal form have different features", size);
        for (uint32_t i = 1; i < f1.n; i++)
            if (f1.ids[i] <= f1.ids[i - 1]) fail("feature ids not ascending", size);
        int e1 = embed_builtin_vector(&f1, DIM, v1);
        int e2 = embed_builtin_vector(&f2, DIM, v2);
        if (e1 != e2 || memcmp(v1, v2, sizeof v1)) fail("vectors differ", size);
        if (e1 == EMBED_OK) {
            double s = 0;
            for (int i = 0; i < DIM; i++) s += (double)v1[i] * v1[i];
            if (fabs(s - 1.0) > 1e-5) fail("vector not unit length", size);
        } else if (e1 != EMBED_EEMPTY) {
            fail("unexpected vector error", size);
        }
    } else if (r1 != EMBED_EEMPTY || na != 0) {
        fail("unexpected feature error", size);
    }
    embed_feats_free(&f1);
    embed_feats_free(&f2);
    free(a);
    free(b);
    return 0;
}
