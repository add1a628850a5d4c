/* glob_ref.h -- an independent oracle for server/glob.c, shared by the unit
 * test and the fuzz target.
 *
 * It compiles the pattern into tokens, each either a star or a 256-bit set
 * of the bytes it accepts (Redis's class rules applied once, at compile
 * time), then decides the match with the textbook dynamic program over
 * (token, subject position). Different structure, same semantics: if both
 * agree on random inputs, neither the two-pointer backtracking nor the
 * class decoding in glob.c has a bug the other lacks. Cost O(plen * slen)
 * time and memory: for small inputs only. */
#ifndef SIMCACHE_GLOB_REF_H
#define SIMCACHE_GLOB_REF_H

#include <stdlib.h>
#include <string.h>

typedef struct ref_tok {
    int star;
    unsigned char set[32]; /* bit x set: byte x matches */
} ref_tok;

static unsigned char ref_fold(unsigned char c) {
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}
static void ref_add(ref_tok *t, unsigned x) { t->set[x >> 3] |= (unsigned char)(1u << (x & 7)); }
static int ref_has(const ref_tok *t, unsigned x) { return (t->set[x >> 3] >> (x & 7)) & 1; }

static void ref_add_literal(ref_tok *t, unsigned char c, int nocase) {
    ref_add(t, c);
    if (nocase && c >= 'A' && c <= 'Z') ref_add(t, c + 32u);
    if (nocase && c >= 'a' && c <= 'z') ref_add(t, c - 32u);
}

/* Compiles one class starting after '['; returns the index after it. */
static size_t ref_class(const unsigned char *p, size_t plen, size_t k, int nocase, ref_tok *t) {
    int neg = 0;
    if (k < plen && p[k] == '^') {
        neg = 1;
        k++;
    }
    for (;;) {
        if (k >= plen) break;                 /* unterminated: all bytes were members */
        if (p[k] == '\\' && plen - k >= 2) {  /* escaped: exact byte, no folding */
            ref_add(t, p[k + 1]);
            k += 2;
        } else if (p[k] == ']') {
            k++;
            break;
        } else if (plen - k >= 3 && p[k + 1] == '-') {
            unsigned char lo = p[k], hi = p[k + 2];
            if (lo > hi) {
                unsigned char tmp = lo;
                lo = hi;
                hi = tmp;
            }
            for (unsigned x = 0; x < 256; x++) {
                unsigned char v = (unsigned char)x, a = lo, b = hi;
                if (nocase) {
                    v = ref_fold(v);
                    a = ref_fold(a);
                    b = ref_fold(b);
                }
                if (v >= a && v <= b) ref_add(t, x);
            }
            k += 3;
        } else {
            ref_add_literal(t, p[k], nocase);
            k++;
        }
    }
    if (neg)
        for (int b = 0; b < 32; b++) t->set[b] = (unsigned char)~t->set[b];
    return k;
}

static int glob_ref(const char *pat, size_t plen, const char *str, size_t slen, int nocase) {
    const unsigned char *p = (const unsigned char *)pat;
    const unsigned char *s = (const unsigned char *)str;
    ref_tok *tok = calloc(plen + 1, sizeof *tok);
    size_t n = 0;
    for (size_t i = 0; i < plen;) {
        ref_tok *t = &tok[n++];
        if (p[i] == '*') {
            t->star = 1;
            i++;
        } else if (p[i] == '?') {
            memset(t->set, 0xff, sizeof t->set);
            i++;
        } else if (p[i] == '[') {
            i = ref_class(p, plen, i + 1, nocase, t);
        } else if (p[i] == '\\' && plen - i >= 2) {
            ref_add_literal(t, p[i + 1], nocase);
            i += 2;
        } else {
            ref_add_literal(t, p[i], nocase);
            i++;
        }
    }
    /* dp[t][j]: tokens t.. match s[j..). Row n is "subject exhausted". */
    size_t w = slen + 1;
    unsigned char *dp = calloc((n + 1) * w, 1);
    dp[n * w + slen] = 1;
    for (size_t t = n; t-- > 0;) {
        for (size_t j = slen + 1; j-- > 0;) {
            unsigned char v;
            if (tok[t].star)
                v = dp[(t + 1) * w + j] || (j < slen && dp[t * w + j + 1]);
            else
                v = j < slen && ref_has(&tok[t], s[j]) && dp[(t + 1) * w + j + 1];
            dp[t * w + j] = v;
        }
    }
    int r = dp[0];
    free(dp);
    free(tok);
    return r;
}

#endif
