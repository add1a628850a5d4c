/* test_vfilter.c -- the FILTER expression language (server/vfilter.c).
 *
 * Threats: a precedence or associativity mistake silently changing which
 * elements a filtered VSIM returns; a missing field or malformed attributes
 * matching anyway; a field found inside a nested object or inside a string
 * value instead of at the first level; escapes in keys or values compared
 * raw; a syntax error reported at the wrong place (the reply echoes the
 * expression from that position); deep nesting crashing the parser. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/vfilter.h"

static int eval(const char *expr, const char *json) {
    vfilter *f;
    size_t pos;
    int rc = vfilter_compile(expr, strlen(expr), &f, &pos);
    cr_assert_eq(rc, 0, "compile %s: rc %d at %zu", expr, rc, pos);
    vfilter_scratch s = {0};
    int m = vfilter_match(f, json, json ? strlen(json) : 0, &s);
    vfilter_scratch_free(&s);
    vfilter_free(f);
    return m;
}

static size_t syntax_pos(const char *expr) {
    vfilter *f = NULL;
    size_t pos = 999;
    int rc = vfilter_compile(expr, strlen(expr), &f, &pos);
    cr_assert_eq(rc, VFILTER_ESYNTAX, "%s should not compile", expr);
    cr_assert_null(f);
    return pos;
}

#define YES(e, j) cr_expect_eq(eval(e, j), 1, "%s on %s should match", e, j)
#define NO(e, j) cr_expect_eq(eval(e, j), 0, "%s on %s should not match", e, j)

static const char *movie = "{\"year\": 1980, \"genre\": \"action\", \"rating\": 7.5, "
                           "\"tags\": [\"space\", \"war\", 3], \"seen\": true, "
                           "\"meta\": {\"year\": 2000}, \"title\": \"Empire\"}";

Test(vfilter, comparisons_and_boolean_operators) {
    YES(".year > 1950 and .genre == \"action\"", movie);
    NO(".year > 1950 and .genre == \"drama\"", movie);
    YES(".year < 1950 or .genre == 'action'", movie);
    YES(".year >= 1980 && .year <= 1980 && .year == 1980 && .year != 1981", movie);
    NO(".year > 1980 || .year < 1980", movie);
    YES("!(.year > 1990)", movie);
    YES("not .year == 0", movie);           /* (not 1980) == 0 */
    YES(".seen", movie);
    YES(".seen == true and .seen == 1", movie);
    YES(".rating >= 7.5 and .rating < 7.6", movie);
}

Test(vfilter, precedence_and_associativity) {
    YES("1 + 2 * 3 == 7", "{}");
    YES("(1 + 2) * 3 == 9", "{}");
    YES("2 ** 3 ** 2 == 512", "{}");        /* right-associative */
    YES("10 - 4 - 3 == 3", "{}");           /* left-associative */
    YES("100 / 10 / 5 == 2", "{}");
    YES("7 % 4 == 3 and -7 % 4 == -3", "{}");
    YES("-2 ** 2 == 4", "{}");              /* unary binds tighter, as Redis's -2 literal */
    YES("1 or 0 and 0", "{}");              /* and before or */
    NO("(1 or 0) and 0", "{}");
    YES("1 < 2 == 1", "{}");                /* comparisons left to right */
    YES(".year / 10 % 10 == 8", movie);
    YES(".year - 1900 * 2 == -1820", movie);
}

Test(vfilter, membership_in_arrays_and_substrings) {
    YES("\"war\" in .tags", movie);
    YES("3 in .tags", movie);
    YES("'3' in .tags", movie);             /* string and number compare as numbers */
    NO("\"peace\" in .tags", movie);
    YES(".genre in [\"drama\", \"action\"]", movie);
    NO(".genre in [\"drama\", \"comedy\"]", movie);
    YES(".year in [1970, 1980, -1]", movie);
    YES("\"mpi\" in .title", movie);
    NO("\"empire\" in .title", movie);      /* bytewise, case-sensitive */
    NO(".genre in []", movie);
    YES("not (.genre in [\"drama\"])", movie);
}

Test(vfilter, value_rules_follow_redis_expr) {
    /* == on two strings is bytewise; mixed types compare as numbers, a
     * non-numeric string being 0 (Redis's exprTokenToNum) */
    YES("\"10\" == 10", "{}");
    YES("\"abc\" == 0", "{}");
    NO("\"abc\" == \"abd\"", "{}");
    /* ordering always compares numbers: strings are not ordered bytewise */
    YES("\"10\" > \"9\"", "{}");
    NO(".title > \"Dune\"", movie);         /* 0 > 0 */
    YES(".title >= \"Dune\" and .title <= \"Dune\"", movie);
    /* null: equal only to null, false as a truth value */
    YES(".n == null and not .n", "{\"n\": null}");
    NO(".n == 0", "{\"n\": null}");
    YES(".n or 1", "{\"n\": null}");
    YES(".a in [null, 2]", "{\"a\": null}");
    /* truth: empty string false, arrays true, NaN true as in C */
    NO(".s", "{\"s\": \"\"}");
    YES(".t", "{\"t\": []}");
    YES("0 / 0", "{}");
    /* escapes */
    YES(".s == \"x\\\"y\"", "{\"s\": \"x\\\"y\"}");
    YES(".s == \"\xc3\xa9t\xc3\xa9\"", "{\"s\": \"\\u00e9t\\u00e9\"}");
    YES(".s == \"\xf0\x9f\x98\x80\"", "{\"s\": \"\\ud83d\\ude00\"}");
    /* selectors may hold '-' and start with a digit, as in Redis */
    YES(".first-name == \"x\" and .2020 == 1", "{\"first-name\": \"x\", \"2020\": 1}");
}

Test(vfilter, missing_field_or_bad_attributes_never_match) {
    NO(".missing == 1 or 1", movie);
    NO("not .missing", movie);
    NO(".meta == 1 or 1", movie);           /* objects are not values */
    NO(".x or 1", "{\"x\": {\"y\": 1}}");
    NO("1", NULL);                          /* no attributes */
    NO("1", "[1, 2]");                      /* not an object */
    NO("1", "");
    NO(".year > 0", "{\"genre\": \"act");  /* truncated before the field */
    NO(".year > 0", "{\"year\" 1980}");
    NO(".a", "{\"a\": tru}");
    NO(".a", "{\"a\" 1}");
    YES("1", "{}");                          /* constants need no field */
    YES("2 > 1", movie);
    NO("2 < 1", movie);
    YES("1", " { } ");
}

Test(vfilter, only_first_level_keys_are_fields) {
    /* "year" appears nested and inside a string before the real key */
    const char *j = "{\"meta\": {\"year\": 1}, \"note\": \"\\\"year\\\": 2\", \"year\": 3}";
    YES(".year == 3", j);
    NO(".year == 1 or .year == 2", j);
    /* a key with escapes is decoded before comparison; the first of
     * duplicate keys wins */
    YES(".year == 5", "{\"y\\u0065ar\": 5}");
    YES(".a == 1", "{\"a\": 1, \"a\": 2}");
    YES(".a == 1 and .b == 2", "{\"b\": 2, \"x\": [1, {\"a\": 9}], \"a\": 1}");
}

Test(vfilter, syntax_errors_report_the_offending_position) {
    cr_expect_eq(syntax_pos(".year >"), 7);          /* ended early: at the end */
    cr_expect_eq(syntax_pos(".year > > 3"), 8);
    cr_expect_eq(syntax_pos("(.a == 1"), 8);
    cr_expect_eq(syntax_pos(".a == 1)"), 7);
    cr_expect_eq(syntax_pos(".a = 1"), 3);
    cr_expect_eq(syntax_pos(".a == 'x"), 6);         /* unterminated string */
    cr_expect_eq(syntax_pos(".a and nope"), 7);      /* unknown word */
    cr_expect_eq(syntax_pos(""), 0);
    cr_expect_eq(syntax_pos("   "), 3);
    cr_expect_eq(syntax_pos(".a in [1, .b]"), 10);   /* arrays hold literals only */
    cr_expect_eq(syntax_pos("1.2.3 == 1"), 0);
    cr_expect_eq(syntax_pos(".a # 1"), 3);
}

Test(vfilter, nesting_beyond_the_limit_is_an_error_not_a_crash) {
    size_t n = 100000;
    char *e = malloc(2 * n + 2);
    memset(e, '(', n);
    e[n] = '1';
    memset(e + n + 1, ')', n);
    e[2 * n + 1] = '\0';
    vfilter *f;
    size_t pos;
    cr_assert_eq(vfilter_compile(e, strlen(e), &f, &pos), VFILTER_ESYNTAX);
    cr_expect_lt(pos, (size_t)VFILTER_MAX_DEPTH + 2);
    memset(e, '!', n);                      /* !!!!...1 */
    e[n] = '1';
    e[n + 1] = '\0';
    cr_assert_eq(vfilter_compile(e, n + 1, &f, &pos), VFILTER_ESYNTAX);
    free(e);
    /* within the limit it compiles and evaluates */
    char ok[256];
    memset(ok, '(', 60);
    ok[60] = '1';
    memset(ok + 61, ')', 60);
    ok[121] = '\0';
    YES(ok, "{}");
}

Test(vfilter, selectors_are_deduplicated) {
    vfilter *f;
    size_t pos;
    const char *e = ".a > 1 and .a < 5 or .b == .a";
    cr_assert_eq(vfilter_compile(e, strlen(e), &f, &pos), 0);
    cr_expect_eq(vfilter_nfields(f), 2);
    vfilter_free(f);
}

Test(vfilter, scratch_reused_across_candidates_of_different_sizes) {
    vfilter *f;
    size_t pos;
    const char *e = ".s == \"\xc3\xa9\" or \"\xc3\xa9\" in .t";
    cr_assert_eq(vfilter_compile(e, strlen(e), &f, &pos), 0);
    vfilter_scratch s = {0};
    const char *big = "{\"s\": \"zz\", \"t\": [\"\\u00e9\"], \"pad\": \"................"
                      "....................................................\"}";
    cr_expect_eq(vfilter_match(f, big, strlen(big), &s), 1);
    cr_expect_eq(vfilter_match(f, "{\"s\":\"a\",\"t\":[]}", 17, &s), 0);
    cr_expect_eq(vfilter_match(f, big, strlen(big), &s), 1);
    vfilter_scratch_free(&s);
    vfilter_free(f);
}
