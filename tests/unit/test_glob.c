/* test_glob.c -- glob matching: Redis's semantics (checked against an
 * independent dynamic-programming oracle on random inputs and on Redis's
 * documented examples) and the denial-of-service bound (CVE-2022-36021:
 * pathological 10k-byte patterns must cost linear or at worst
 * plen*slen work, measured in steps, never in wall time). */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "server/glob.h"
#include "glob_ref.h"

static int gm(const char *p, const char *s) { return glob_match(p, strlen(p), s, strlen(s), 0); }
static int gmi(const char *p, const char *s) { return glob_match(p, strlen(p), s, strlen(s), 1); }

Test(glob, documented_redis_examples) {
    /* from the KEYS documentation */
    cr_assert(gm("h?llo", "hello") && gm("h?llo", "hallo") && gm("h?llo", "hxllo"));
    cr_assert(gm("h*llo", "hllo") && gm("h*llo", "heeeello"));
    cr_assert(gm("h[ae]llo", "hello") && gm("h[ae]llo", "hallo") && !gm("h[ae]llo", "hillo"));
    cr_assert(gm("h[^e]llo", "hallo") && gm("h[^e]llo", "hbllo") && !gm("h[^e]llo", "hello"));
    cr_assert(gm("h[a-b]llo", "hallo") && gm("h[a-b]llo", "hbllo") && !gm("h[a-b]llo", "hcllo"));
    cr_assert(gm("h\\*llo", "h*llo") && !gm("h\\*llo", "hello"));
    cr_assert(gm("*", "") && gm("*", "anything") && gm("", "") && !gm("", "a"));
    cr_assert(gm("a*", "a") && !gm("a?", "a") && gm("*a*", "bab") && !gm("*a*", "bbb"));
}

Test(glob, redis_quirks_are_kept) {
    cr_assert(gm("[z-a]", "m"), "reversed range");
    cr_assert(gm("[abc", "b") && !gm("[abc", "d"), "unterminated class");
    cr_assert(!gm("[", "[") && !gm("[", ""), "lone [ never matches");
    cr_assert(gm("[^", "x"), "[^ matches any byte");
    cr_assert(!gm("[]", "]") && !gm("[]a]", "a]"), "] right after [ closes an empty class");
    cr_assert(gm("[a-]", "^") && !gm("[a-]", "-"), "[a-] is the range ]..a");
    cr_assert(gm("a\\", "a\\"), "trailing backslash is literal");
    cr_assert(gm("[\\]]", "]") && gm("[\\-]", "-"), "escapes inside a class");
    cr_assert(gmi("[\\A]", "A") && !gmi("[\\A]", "a"), "class escapes ignore nocase");
    cr_assert(gmi("HELLO", "hello") && gmi("[A-C]x", "bX") && !gm("HELLO", "hello"));
    cr_assert(glob_match("a\0*", 3, "a\0bc", 4, 0), "NUL bytes are ordinary bytes");
    cr_assert(!glob_match("a\0*", 3, "a", 1, 0));
}

/* xorshift: deterministic, seeded per test */
static unsigned long long rng = 88172645463325252ULL;
static unsigned rnd(unsigned n) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

Test(glob, agrees_with_the_oracle_on_random_small_inputs) {
    static const char pa[] = {'a', 'b', 'A', '*', '?', '[', ']', '^', '-', '\\', '\0', (char)0xC3};
    static const char sa[] = {'a', 'b', 'A', 'B', '-', ']', '^', '\\', '[', '\0', (char)0xC3};
    char p[12], s[14];
    long matches = 0;
    for (int it = 0; it < 300000; it++) {
        size_t pl = rnd(sizeof p + 1), sl = rnd(sizeof s + 1);
        for (size_t i = 0; i < pl; i++) p[i] = pa[rnd(sizeof pa)];
        if (rnd(2)) {
            for (size_t i = 0; i < sl; i++) s[i] = sa[rnd(sizeof sa)];
        } else { /* a subject shaped like the pattern, so matches are common */
            sl = 0;
            for (size_t i = 0; i < pl && sl + 2 <= sizeof s; i++) {
                if (p[i] == '*')
                    for (unsigned k = rnd(3); k > 0; k--) s[sl++] = sa[rnd(sizeof sa)];
                else if (p[i] == '?' || p[i] == '[')
                    s[sl++] = sa[rnd(sizeof sa)];
                else
                    s[sl++] = p[i];
            }
        }
        int nocase = rnd(2);
        int want = glob_ref(p, pl, s, sl, nocase);
        int got = glob_match(p, pl, s, sl, nocase);
        if (got != want)
            cr_assert_fail("pattern %.*s subject %.*s nocase %d: got %d want %d", (int)pl, p,
                     (int)sl, s, nocase, got, want);
        matches += got;
    }
    /* the generator must exercise both outcomes, or the test proves little */
    cr_assert_gt(matches, 10000);
    cr_assert_lt(matches, 290000);
}

static char *repeat(const char *unit, size_t times, const char *tail) {
    size_t u = strlen(unit), t = strlen(tail);
    char *b = malloc(u * times + t + 1);
    for (size_t i = 0; i < times; i++) memcpy(b + i * u, unit, u);
    memcpy(b + u * times, tail, t + 1);
    return b;
}

/* head + body + tail in a new malloc'd string. */
static char *cat3(const char *head, const char *body, const char *tail) {
    size_t h = strlen(head), b = strlen(body), t = strlen(tail);
    char *s = malloc(h + b + t + 1);
    cr_assert_not_null(s);
    memcpy(s, head, h);
    memcpy(s + h, body, b);
    memcpy(s + h + b, tail, t + 1);
    return s;
}

Test(glob, cve_2022_36021_star_chain_pattern_costs_linear_steps) {
    /* "*a*a*a...*a*b" (10k bytes) against 10k 'a's: exponential in Redis
     * before the fix; here each "a" segment is found by one memmem step
     * and the anchored "b" fails at once. */
    char *pat = repeat("*a", 5000, "*b");
    char *str = repeat("a", 10000, "");
    size_t pl = strlen(pat), sl = strlen(str);
    unsigned long long steps = 0;
    cr_assert_eq(glob_match_steps(pat, pl, str, sl, 0, &steps), 0);
    cr_assert_leq(steps, 4ULL * (pl + sl), "steps %llu", steps);
    /* and the matching variant */
    str[sl - 1] = 'b';
    steps = 0;
    cr_assert_eq(glob_match_steps(pat, pl, str, sl, 0, &steps), 1);
    cr_assert_leq(steps, 4ULL * (pl + sl), "steps %llu", steps);
    free(pat);
    free(str);
}

Test(glob, many_stars_do_not_overflow_the_stack) {
    /* 100k stars: a recursive matcher would need 100k frames */
    char *pat = repeat("*", 100000, "x");
    char *str = repeat("y", 1000, "x");
    cr_assert_eq(glob_match(pat, strlen(pat), str, strlen(str), 0), 1);
    free(pat);
    free(str);
}

Test(glob, anchored_and_literal_segments_cost_linear_steps) {
    /* "*" + 9999 'a' + "b" against 20000 'a's: quadratic for a
     * backtracking matcher (1e8 steps, ~0.8 s measured with the earlier
     * two-pointer version); the last segment is anchored at the end */
    char *seg = repeat("a", 9999, "b");
    char *tail = cat3("*", seg, ""), *mid = cat3("*", seg, "*");
    char *str = repeat("a", 20000, "");
    size_t sl = strlen(str);
    const char *pats[] = {tail, mid, seg};
    for (int k = 0; k < 3; k++) {
        size_t pl = strlen(pats[k]);
        unsigned long long steps = 0;
        cr_assert_eq(glob_match_steps(pats[k], pl, str, sl, 0, &steps), 0);
        cr_assert_leq(steps, 4ULL * (pl + sl), "pattern %d: steps %llu", k, steps);
    }
    free(seg);
    free(tail);
    free(mid);
    free(str);
}

Test(glob, worst_case_work_is_within_the_documented_bound) {
    /* middle segments with '?', classes, escapes or nocase are searched
     * naively: quadratic, but within GLOB_STEPS_BOUND */
    const char *units[] = {"a", "?", "[ab]", "[^b]", "\\a"};
    for (int nocase = 0; nocase < 2; nocase++) {
        for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
            char *body = repeat(units[u], 300, "b*");
            char *pat = cat3("*", body, "");
            char *str = repeat("a", 2000, "");
            size_t pl = strlen(pat), sl = strlen(str);
            unsigned long long steps = 0;
            cr_assert_eq(glob_match_steps(pat, pl, str, sl, nocase, &steps), 0);
            cr_assert_leq(steps, GLOB_STEPS_BOUND(pl, sl), "%s: steps %llu", units[u], steps);
            free(body);
            free(pat);
            free(str);
        }
    }
}

Test(glob, long_wildcard_segments_agree_with_the_oracle_and_cost_linear_steps) {
    /* middle segments of 16+ tokens with wildcards in subjects of 256+
     * bytes take the Shift-And path: check it against the oracle on random
     * inputs (both outcomes), then its cost on the quadratic family */
    static const char *units[] = {"a", "b", "?", "[ab]", "[^a]", "\\a", "A", "[a-b]"};
    static const char fits[] = "ab?abaAa"; /* a byte each unit accepts ('?': any) */
    char pat[1024], str[800], seg[200];
    long matches = 0;
    for (int it = 0; it < 400; it++) {
        size_t pl = 0, sl = 300 + rnd(500), nt = 16 + rnd(150);
        pat[pl++] = '*';
        for (size_t t = 0; t < nt; t++) {
            size_t ui = rnd(4) ? rnd(3) : rnd(8);
            memcpy(pat + pl, units[ui], strlen(units[ui]));
            pl += strlen(units[ui]);
            seg[t] = fits[ui] == '?' ? "ab"[rnd(2)] : fits[ui];
        }
        pat[pl++] = '*';
        size_t tail = rnd(3); /* anchored tail "b", "bb" or none */
        for (size_t k = 0; k < tail; k++) pat[pl++] = 'b';
        for (size_t k = 0; k < sl; k++) str[k] = rnd(8) ? 'a' : 'b';
        switch (rnd(4)) { /* plant the segment: anywhere, first, last */
        case 0: memcpy(str + rnd(sl - nt - 2), seg, nt); break;
        case 1: memcpy(str, seg, nt); break;
        case 2:
            memcpy(str + sl - tail - nt, seg, nt);
            memset(str + sl - tail, 'b', tail);
            break;
        default: break;
        }
        int nocase = rnd(2);
        int want = glob_ref(pat, pl, str, sl, nocase);
        int got = glob_match(pat, pl, str, sl, nocase);
        cr_assert_eq(got, want, "iteration %d: got %d want %d", it, got, want);
        matches += got;
    }
    cr_assert(matches > 20 && matches < 380, "matches %ld", matches);

    char *body = repeat("a?", 5000, "b*");
    char *p = cat3("*", body, "");
    char *subj = repeat("a", 20000, "");
    size_t pl = strlen(p), sl = strlen(subj);
    unsigned long long steps = 0;
    cr_assert_eq(glob_match_steps(p, pl, subj, sl, 0, &steps), 0);
    /* 256 probes per token to build the table + ceil(tokens/64) words per
     * subject byte: about 6e6 here, against 1e8 for the naive search */
    cr_assert_leq(steps, 256ULL * pl + (pl / 64 + 1) * sl + 4ULL * (pl + sl), "steps %llu",
                  steps);
    free(body);
    free(p);
    free(subj);
}
