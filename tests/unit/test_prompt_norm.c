/* test_prompt_norm.c -- prompt normalisation's fast paths (the word-run
 * table and the single-space shortcut in server/prompt_norm.c) against the
 * plain byte-by-byte rules they replace: a differential test on seeded
 * random prompts drawn from bytes of every class (letters of both cases,
 * digits, '_', space and other separators, '.', ':', apostrophes, '-',
 * symbols, and the multi-byte sequences the rules map), so a shortcut that
 * changes any exact key fails here. The reference below is the former
 * implementation, verbatim but renamed, whose rules the unit tests of
 * test_embed_builtin.c pin. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "server/prompt_norm.h"

/* ---- the reference (prompt_norm.c before the fast paths) ---- */
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

static size_t norm_ref(const char *src, size_t len, char *dst) {
    const unsigned char *in = (const unsigned char *)src;
    unsigned char *out = (unsigned char *)dst;
    size_t o = 0;
    int prev = C_SEP;     /* class of the previous input character */
    int pending_sep = 0;  /* a separator is owed before the next output */
    size_t i = 0;
    while (i < len) {
        /* Fast path (note 5): a run of ASCII word bytes and digits is
         * copied lowercased with no look-ahead; no rule needs it. */
        if (in[i] < 0x80 && is_wordish(byte_class(in[i]))) {
            if (pending_sep && o > 0) out[o++] = ' ';
            pending_sep = 0;
            int cls = C_SEP;
            do {
                unsigned char b = in[i++];
                cls = byte_class(b);
                out[o++] = (b >= 'A' && b <= 'Z') ? (unsigned char)(b + 32) : b;
            } while (i < len && in[i] < 0x80 && is_wordish(byte_class(in[i])));
            prev = cls;
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


/* ---- the differential test ---- */

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static const char *const pieces[] = {
    "a", "z", "Q", "M", "0", "7", "_", " ", " ", "  ", "\t", "\n", ".", ":", ",", "?", "!",
    "'", "`", "-", "+", "/", "#", "(", "\"", "\xC2\xA0", "\xE2\x80\x99", "\xE2\x80\x98",
    "\xE2\x80\x9C", "\xE2\x80\x9D", "\xE2\x80", "\xC3\xA9", "\x80", "\xFF", "\x7F", "Hello",
    "world", "3.11", "2:30", "don't", "-5", "c++",
};

Test(prompt_norm, fast_paths_give_the_reference_bytes_for_random_prompts) {
    char in[160], got[160], want[160];
    size_t np = sizeof pieces / sizeof *pieces;
    for (int iter = 0; iter < 200000; iter++) {
        size_t len = 0, parts = next() % 24;
        for (size_t k = 0; k < parts; k++) {
            const char *p = pieces[next() % np];
            size_t n = strlen(p);
            if (len + n > sizeof in) break;
            memcpy(in + len, p, n);
            len += n;
        }
        size_t a = prompt_norm(in, len, got);
        size_t b = norm_ref(in, len, want);
        cr_assert_eq(a, b, "length %zu != %zu for \"%.*s\"", a, b, (int)len, in);
        cr_assert(memcmp(got, want, a) == 0, "\"%.*s\" -> \"%.*s\", want \"%.*s\"", (int)len, in,
                  (int)a, got, (int)b, want);
    }
}

Test(prompt_norm, every_single_byte_and_byte_pair_matches_the_reference) {
    char in[3], got[3], want[3];
    for (int x = 0; x < 256; x++) {
        for (int y = -1; y < 256; y++) {
            in[0] = (char)x;
            in[1] = (char)y;
            size_t len = y < 0 ? 1 : 2;
            size_t a = prompt_norm(in, len, got), b = norm_ref(in, len, want);
            cr_assert(a == b && memcmp(got, want, a) == 0, "bytes %02x %02x", x, y & 255);
        }
    }
}

/* prompt_norm.c inlines XXH3 from the header; the key must stay the
 * library's XXH3_64bits of the normal form (keys of a running server, and
 * any other code hashing a normal form, use the library). */
Test(prompt_norm, inlined_key_equals_the_library_hash) {
    char in[300], buf[300];
    for (size_t len = 1; len < sizeof in; len++) {   /* every XXH3 length class up to 240+ */
        for (size_t i = 0; i < len; i++) in[i] = (char)('a' + (next() % 26));
        uint64_t key = 0;
        cr_assert_eq(prompt_norm_key(in, len, &key), 0);
        size_t n = prompt_norm(in, len, buf);
        cr_assert_eq(key, XXH3_64bits(buf, n), "length %zu", len);
    }
}

/* Long runs of word bytes and single spaces (the SSE2 block path in
 * prompt_norm.c takes 16 bytes at a time), broken now and then by a
 * double space, a separator, a digit context, a byte >= 0x80 or a
 * capital, at every offset relative to the 16-byte blocks. */
Test(prompt_norm, block_path_gives_the_reference_bytes_on_long_runs) {
    static const char *const run_pieces[] = {
        "a", "b", "Z", "Q", "x", "9", "0", "_", " ", " ", " ", " ", "word", "WORD", "Mixed",
        "  ", "?", ".", "3.5", "'s", "-1", "\xC3\xA9", "\x80", "\xE2\x80\x99", "\t",
    };
    char in[200], got[200], want[200];
    size_t np = sizeof run_pieces / sizeof *run_pieces;
    for (int iter = 0; iter < 200000; iter++) {
        size_t len = 0, parts = next() % 60;
        int plain = next() % 2;   /* half the prompts: word bytes and single spaces only */
        for (size_t k = 0; k < parts; k++) {
            const char *p = run_pieces[next() % (plain ? 15 : np)];
            size_t n = strlen(p);
            if (len + n > sizeof in) break;
            memcpy(in + len, p, n);
            len += n;
        }
        size_t a = prompt_norm(in, len, got), b = norm_ref(in, len, want);
        cr_assert(a == b && memcmp(got, want, a) == 0, "\"%.*s\" -> \"%.*s\", want \"%.*s\"",
                  (int)len, in, (int)a, got, (int)b, want);
    }
}
