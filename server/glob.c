/* glob.c -- Redis-compatible glob matching in O(plen * slen) without
 * recursion; the syntax and its quirks are documented in glob.h.
 *
 * Design decisions:
 * 1. Every token other than '*' ('?', a class, an escape, a literal)
 *    consumes exactly one byte of the subject, and how far a token extends
 *    in the pattern depends only on the pattern, never on the subject byte.
 *    Under those two conditions the classic two-pointer algorithm is exact:
 *    on a mismatch it is enough to retry from the most recent '*', letting
 *    that star swallow one more byte; earlier stars never need revisiting
 *    (a later star can absorb whatever an earlier one would). This is the
 *    argument behind Redis's own `skipLongerMatches` fix for
 *    CVE-2022-36021, taken to its conclusion: no recursion at all, so no
 *    stack depth proportional to the pattern (CVE-2024-31228 style), and
 *    the work is bounded by (phases) x (pattern bytes), where a phase starts
 *    at each star or retry: at most (slen + stars) phases.
 * 2. token_match() is a line-by-line port of the body of Redis's
 *    stringmatchlen_impl() switch, with every read bounds-checked where
 *    Redis relies on the sds NUL terminator (pattern[1] at the end, the
 *    byte after an unterminated class). The unit test compares this file
 *    against a direct recursive transcription of Redis on random patterns.
 * 3. Case folding is ASCII-only (fold()), so results never depend on the
 *    process locale. */
#include "glob.h"

#define NO_STAR ((size_t)-1)

static inline unsigned char fold(unsigned char c) {
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* Matches the class starting at p[i] == '[' against byte c; sets *next to
 * the pattern index after the class. Mirrors Redis's loop, including its
 * handling of an unterminated class (step back one byte and stop). */
static int class_match(const unsigned char *p, size_t plen, size_t i, unsigned char c,
                       int nocase, size_t *next, unsigned long long *steps) {
    size_t start = i;
    int neg = 0, match = 0;
    i++;
    if (i < plen && p[i] == '^') {
        neg = 1;
        i++;
    }
    for (;;) {
        size_t rem = plen - i;
        if (rem >= 2 && p[i] == '\\') {
            i++;
            if (p[i] == c) match = 1;
        } else if (rem > 0 && p[i] == ']') {
            break;
        } else if (rem == 0) {
            i--; /* unterminated: the last byte closes it, as in Redis */
            break;
        } else if (rem >= 3 && p[i + 1] == '-') {
            unsigned char lo = p[i], hi = p[i + 2], x = c;
            if (lo > hi) {
                unsigned char t = lo;
                lo = hi;
                hi = t;
            }
            if (nocase) {
                lo = fold(lo);
                hi = fold(hi);
                x = fold(x);
            }
            i += 2;
            if (x >= lo && x <= hi) match = 1;
        } else if (nocase ? fold(p[i]) == fold(c) : p[i] == c) {
            match = 1;
        }
        i++;
    }
    *next = i + 1;
    *steps += i + 1 - start;
    return neg ? !match : match;
}

/* Matches the single non-star token at p[i] (i < plen) against byte c. */
static int token_match(const unsigned char *p, size_t plen, size_t i, unsigned char c,
                       int nocase, size_t *next, unsigned long long *steps) {
    switch (p[i]) {
    case '?':
        *next = i + 1;
        return 1;
    case '[':
        return class_match(p, plen, i, c, nocase, next, steps);
    case '\\':
        if (plen - i >= 2) i++;
        /* fall through */
    default:
        *next = i + 1;
        return nocase ? fold(p[i]) == fold(c) : p[i] == c;
    }
}

int glob_match_steps(const char *pat, size_t plen, const char *str, size_t slen,
                     int nocase, unsigned long long *steps) {
    const unsigned char *p = (const unsigned char *)pat;
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, j = 0;             /* next pattern byte, next subject byte */
    size_t star_i = NO_STAR, star_j = 0; /* resume point after the last star */
    unsigned long long n = 0;

    while (j < slen) {
        n++;
        if (i < plen && p[i] == '*') {
            while (i < plen && p[i] == '*') i++;
            if (i == plen) { /* trailing star swallows the rest */
                *steps += n;
                return 1;
            }
            star_i = i;
            star_j = j;
            continue;
        }
        size_t next;
        if (i < plen && token_match(p, plen, i, s[j], nocase, &next, &n)) {
            i = next;
            j++;
            continue;
        }
        if (star_i == NO_STAR) {
            *steps += n;
            return 0;
        }
        i = star_i; /* let the last star absorb one more byte */
        j = ++star_j;
    }
    while (i < plen && p[i] == '*') i++;
    *steps += n;
    return i == plen;
}

int glob_match(const char *pat, size_t plen, const char *str, size_t slen, int nocase) {
    unsigned long long steps = 0;
    return glob_match_steps(pat, plen, str, slen, nocase, &steps);
}
