/* prompt_norm.c -- prompt normalisation and the suffix stemmer; the rules
 * and their guarantees are in prompt_norm.h.
 *
 * Design decisions:
 * 1. One pass over bytes with one byte of look-behind (the last input
 *    class) and a look-ahead of at most three bytes. Context rules ('.'
 *    between digits, apostrophe between word characters, '-' before a
 *    digit) look at the *input* neighbours; every kept neighbour maps to
 *    itself, so the same rule fires again on the output, which is why the
 *    function is idempotent (the fuzz target checks it on arbitrary bytes).
 * 2. Bytes >= 0x80 are word characters and copied verbatim: lowercasing or
 *    folding Unicode would need tables (ICU) and would make the exact key
 *    depend on a Unicode version. Only four code points with an ASCII
 *    meaning are mapped (curly quotes, no-break space), each to something
 *    no longer than itself.
 * 3. Output never grows: every rule maps one input byte to at most one
 *    output byte, so callers size buffers by the input length.
 * 4. The stemmer is deliberately light (no Porter step 2-5 tables): a cache
 *    wants "runs" ~ "running", not "general" ~ "generous". It is integer
 *    only and byte-exact, so stems are the same on every platform.
 * 5. Speed: runs of ASCII word bytes and digits (most of a prompt) take a
 *    tight copy loop, and the look-ahead is computed only for the three
 *    classes whose rule reads it. This is the exact tier's whole cost
 *    before the hash; measured under redis-benchmark -P 16 it went from
 *    ~12% of an exact-hit CACHE.GET's server CPU to ~3% (perf). The
 *    output is unchanged (the fuzz target's idempotence check and the
 *    unit tests cover both paths). */
#include "prompt_norm.h"

#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
/* XXH3 inlined from the header (the same algorithm and values as
 * libxxhash's XXH3_64bits, stable since xxHash 0.8.0): the exact key of
 * every CACHE.GET hashes a short prompt, where the library call (PLT, size
 * dispatch) is a measurable share of the hash's cost. */
#define XXH_INLINE_ALL
#include <xxhash.h>

enum { C_SEP = 0, C_WORD, C_DIGIT, C_SYM, C_DOTCOLON, C_APOS, C_DASH };

/* Character class of every byte: bytes >= 0x80 are C_WORD; the ASCII
 * separators (whitespace, controls, DEL, , ! ? ; " ( ) [ ] { }) are the
 * zero default. A table rather than a switch: it is read once per byte of
 * every prompt (note 5). Range designators are a GNU C extension that gcc
 * and clang (the only compilers the build supports) both accept. */
static const unsigned char class_tab[256] = {
    ['0' ... '9'] = C_DIGIT,
    ['a' ... 'z'] = C_WORD, ['A' ... 'Z'] = C_WORD, ['_'] = C_WORD,
    [0x80 ... 0xFF] = C_WORD,
    ['.'] = C_DOTCOLON, [':'] = C_DOTCOLON,
    ['\''] = C_APOS, ['`'] = C_APOS,
    ['-'] = C_DASH,
    ['+'] = C_SYM, ['*'] = C_SYM, ['/'] = C_SYM, ['='] = C_SYM, ['<'] = C_SYM,
    ['>'] = C_SYM, ['%'] = C_SYM, ['$'] = C_SYM, ['#'] = C_SYM, ['@'] = C_SYM,
    ['&'] = C_SYM, ['|'] = C_SYM, ['^'] = C_SYM, ['~'] = C_SYM, ['\\'] = C_SYM,
};

static inline int byte_class(unsigned char b) { return class_tab[b]; }

/* The fast path's table: an ASCII word byte or digit maps to its output
 * byte (letters lowercased), anything else to 0. One load per byte
 * instead of a class load, a class test and a case test: the word loop
 * went from ~6% of an exact-hit CACHE.GET's server CPU (a 45-byte prompt,
 * perf) to the figure the README gives. */
static const unsigned char word_out_tab[256] = {
    ['0'] = '0', ['1'] = '1', ['2'] = '2', ['3'] = '3', ['4'] = '4',
    ['5'] = '5', ['6'] = '6', ['7'] = '7', ['8'] = '8', ['9'] = '9',
    ['_'] = '_',
    ['a'] = 'a', ['b'] = 'b', ['c'] = 'c', ['d'] = 'd', ['e'] = 'e', ['f'] = 'f', ['g'] = 'g',
    ['h'] = 'h', ['i'] = 'i', ['j'] = 'j', ['k'] = 'k', ['l'] = 'l', ['m'] = 'm', ['n'] = 'n',
    ['o'] = 'o', ['p'] = 'p', ['q'] = 'q', ['r'] = 'r', ['s'] = 's', ['t'] = 't', ['u'] = 'u',
    ['v'] = 'v', ['w'] = 'w', ['x'] = 'x', ['y'] = 'y', ['z'] = 'z',
    ['A'] = 'a', ['B'] = 'b', ['C'] = 'c', ['D'] = 'd', ['E'] = 'e', ['F'] = 'f', ['G'] = 'g',
    ['H'] = 'h', ['I'] = 'i', ['J'] = 'j', ['K'] = 'k', ['L'] = 'l', ['M'] = 'm', ['N'] = 'n',
    ['O'] = 'o', ['P'] = 'p', ['Q'] = 'q', ['R'] = 'r', ['S'] = 's', ['T'] = 't', ['U'] = 'u',
    ['V'] = 'v', ['W'] = 'w', ['X'] = 'x', ['Y'] = 'y', ['Z'] = 'z',
};

static int is_wordish(int c) { return c == C_WORD || c == C_DIGIT; }

/* Length of a mapped multi-byte sequence at in[i] (curly quotes, NBSP),
 * with its class in *cls; 0 if none. */
static size_t special_seq(const unsigned char *in, size_t len, size_t i, int *cls) {
    if (in[i] == 0xC2 && i + 1 < len && in[i + 1] == 0xA0) {
        *cls = C_SEP;
        return 2;
    }
    if (in[i] == 0xE2 && i + 2 < len && in[i + 1] == 0x80) {
        unsigned char c = in[i + 2];
        if (c == 0x98 || c == 0x99) { *cls = C_APOS; return 3; }
        if (c == 0x9C || c == 0x9D) { *cls = C_SEP; return 3; }
    }
    return 0;
}

/* Class of the character starting at in[i] (for look-ahead). */
static int class_at(const unsigned char *in, size_t len, size_t i) {
    int cls;
    if (i >= len) return C_SEP;
    if (special_seq(in, len, i, &cls)) return cls;
    return byte_class(in[i]);
}

#ifdef __SSE2__
/* 16 input bytes at in that are only ASCII word bytes and single spaces,
 * ending in a word byte, lowercased to out; 1 if so, else 0 (nothing
 * written). Such a block maps byte for byte under the rules (a single
 * space between words is kept, nothing else applies), so the caller may
 * copy it when in[0] is a word byte. SSE2 is baseline on x86-64; other
 * targets take the byte loop. ~2x faster on an English prompt (perf, a
 * 45-byte prompt under redis-benchmark -P 16). */
static inline int block16(const unsigned char *in, unsigned char *out) {
    __m128i v = _mm_loadu_si128((const __m128i *)in);
    __m128i lo = _mm_or_si128(v, _mm_set1_epi8(0x20));   /* 'A'-'Z' -> 'a'-'z' */
    /* signed compares: bytes >= 0x80 are negative and fail every range */
    __m128i alpha = _mm_and_si128(_mm_cmpgt_epi8(lo, _mm_set1_epi8('a' - 1)),
                                  _mm_cmplt_epi8(lo, _mm_set1_epi8('z' + 1)));
    __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                                  _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
    __m128i under = _mm_cmpeq_epi8(v, _mm_set1_epi8('_'));
    __m128i space = _mm_cmpeq_epi8(v, _mm_set1_epi8(' '));
    __m128i word = _mm_or_si128(_mm_or_si128(alpha, digit), under);
    unsigned wm = (unsigned)_mm_movemask_epi8(word), sm = (unsigned)_mm_movemask_epi8(space);
    if ((wm | sm) != 0xFFFF || (sm & (sm >> 1)) || !(wm & 0x8000)) return 0;
    /* lowercase letters only: OR 0x20 where alpha */
    __m128i res = _mm_or_si128(v, _mm_and_si128(alpha, _mm_set1_epi8(0x20)));
    _mm_storeu_si128((__m128i *)out, res);
    return 1;
}
#endif

size_t prompt_norm(const char *src, size_t len, char *dst) {
    const unsigned char *in = (const unsigned char *)src;
    unsigned char *out = (unsigned char *)dst;
    size_t o = 0;
    int prev = C_SEP;     /* class of the previous input character */
    int pending_sep = 0;  /* a separator is owed before the next output */
    size_t i = 0;
    while (i < len) {
        /* Fast path (note 5): a run of ASCII word bytes and digits is
         * copied lowercased with no look-ahead; no rule needs it. */
        unsigned char w = word_out_tab[in[i]];
        if (w) {
            if (pending_sep && o > 0) out[o++] = ' ';
            pending_sep = 0;
#ifdef __SSE2__
            while (i + 16 <= len && block16(in + i, out + o)) {
                i += 16;
                o += 16;
            }
            if (i >= len || !(w = word_out_tab[in[i]])) {   /* the block ended the run */
                prev = byte_class(in[i - 1]);
                continue;
            }
#endif
            do {
                out[o++] = w;
                i++;
            } while (i < len && (w = word_out_tab[in[i]]) != 0);
            prev = byte_class(in[i - 1]);
            /* a single space before another word run: the usual case,
             * handled here instead of by the general rules below */
            if (i + 1 < len && in[i] == ' ' && word_out_tab[in[i + 1]]) {
                pending_sep = 1;
                prev = C_SEP;
                i++;
            }
            continue;
        }
        int cls;
        size_t step = in[i] >= 0x80 ? special_seq(in, len, i, &cls) : 0;
        if (!step) {
            step = 1;
            cls = byte_class(in[i]);
        }
        int keep = 1;          /* emit the byte(s)? */
        int drop = 0;          /* delete without a separator */
        int next = C_SEP;      /* the next character's class, only where a rule needs it */
        if (cls == C_DOTCOLON || cls == C_APOS || cls == C_DASH) next = class_at(in, len, i + step);
        switch (cls) {
        case C_SEP: keep = 0; break;
        case C_DOTCOLON: keep = prev == C_DIGIT && next == C_DIGIT; break;
        case C_APOS:
            /* Only between ASCII word bytes: deleting it between bytes >=
             * 0x80 could join them into a mapped sequence ("\xE2\x80'\x99"
             * would become U+2019), breaking idempotence (found by the
             * fuzz target). */
            keep = 0;
            drop = is_wordish(prev) && is_wordish(next) && i > 0 && in[i - 1] < 0x80 &&
                   i + step < len && in[i + step] < 0x80;
            break;
        case C_DASH: keep = !is_wordish(prev) && next == C_DIGIT; break;
        default: break;
        }
        if (keep) {
            if (pending_sep && o > 0) out[o++] = ' ';
            pending_sep = 0;
            for (size_t k = 0; k < step; k++) {
                unsigned char b = in[i + k];
                out[o++] = (b >= 'A' && b <= 'Z') ? (unsigned char)(b + 32) : b;
            }
            prev = cls;
        } else if (drop) {
            /* "don't": the apostrophe vanishes and the word continues; prev
             * stays the word class so "don't's" keeps deleting. */
        } else {
            pending_sep = 1;
            prev = C_SEP;
        }
        i += step;
    }
    return o;
}

int prompt_norm_key(const char *in, size_t len, uint64_t *key) {
    char stackbuf[4096];
    char *buf = stackbuf;
    if (len > sizeof stackbuf) {
        buf = malloc(len);
        if (!buf) return -2;
    }
    size_t n = prompt_norm(in, len, buf);
    if (n > 0) *key = XXH3_64bits(buf, n);
    if (buf != stackbuf) free(buf);
    return n > 0 ? 0 : -1;
}

static int ends_with(const char *w, size_t len, const char *suf) {
    size_t n = strlen(suf);
    return len >= n && memcmp(w + len - n, suf, n) == 0;
}

static int is_vowel(char c) {
    return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' || c == 'y';
}

static int has_vowel(const char *w, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (is_vowel(w[i])) return 1;
    return 0;
}

/* After -ing/-ed: "runn" -> "run", but "install", "pass", "buzz" and the
 * short "add" stay. */
static size_t undouble(const char *w, size_t len) {
    if (len >= 4 && w[len - 1] == w[len - 2] && !is_vowel(w[len - 1]) &&
        w[len - 1] != 'l' && w[len - 1] != 's' && w[len - 1] != 'z')
        return len - 1;
    return len;
}

/* -ing and -ed: strip when at least 2 bytes with a vowel remain. */
static size_t strip_verb(char *w, size_t len, size_t suflen) {
    size_t rem = len - suflen;
    if (rem < 2 || !has_vowel(w, rem)) return len;
    return undouble(w, rem);
}

static size_t stem_suffix(char *w, size_t len) {
    if (ends_with(w, len, "ies") || ends_with(w, len, "ied")) {
        w[len - 3] = 'y';
        return len - 2;
    }
    if (ends_with(w, len, "sses") || ends_with(w, len, "ches") ||
        ends_with(w, len, "shes"))
        return len - 2;
    if (ends_with(w, len, "xes") || ends_with(w, len, "zes")) return len - 2;
    if (w[len - 1] == 's') {
        char p = w[len - 2];
        return (p == 's' || p == 'u' || p == 'i') ? len : len - 1;
    }
    if (ends_with(w, len, "ing")) return strip_verb(w, len, 3);
    if (ends_with(w, len, "ed")) return strip_verb(w, len, 2);
    if (ends_with(w, len, "ly") && len - 2 >= 4) return len - 2;
    return len;
}

size_t prompt_stem(char *w, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (w[i] < 'a' || w[i] > 'z') return len;
    if (len >= 4) len = stem_suffix(w, len);
    if (len >= 3 && w[len - 1] == 'e' && w[len - 2] != 'e') len--;
    return len;
}
