/* test_strconv.c -- strict number parsing/printing at the boundaries where
 * Redis-compatible servers have had bugs: the 2^31/2^32/2^63 edges,
 * overflow by one, inputs strtoll would accept but Redis rejects, and
 * doubles that must round-trip exactly. */
#include <criterion/criterion.h>

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/strconv.h"

static int ll(const char *s, long long *v) { return strconv_ll(s, strlen(s), v); }
static int ull(const char *s, unsigned long long *v) { return strconv_ull(s, strlen(s), v); }

Test(strconv, ll_accepts_exact_boundaries) {
    long long v;
    cr_assert_eq(ll("9223372036854775807", &v), 0);
    cr_assert_eq(v, LLONG_MAX);
    cr_assert_eq(ll("-9223372036854775808", &v), 0);
    cr_assert_eq(v, LLONG_MIN);
    cr_assert_eq(ll("2147483647", &v), 0);
    cr_assert_eq(v, 2147483647LL);
    cr_assert_eq(ll("2147483648", &v), 0);
    cr_assert_eq(v, 2147483648LL);
    cr_assert_eq(ll("-2147483649", &v), 0);
    cr_assert_eq(v, -2147483649LL);
    cr_assert_eq(ll("4294967296", &v), 0);
    cr_assert_eq(v, 4294967296LL);
    cr_assert_eq(ll("0", &v), 0);
    cr_assert_eq(v, 0);
    cr_assert_eq(ll("-1", &v), 0);
    cr_assert_eq(v, -1);
}

Test(strconv, ll_overflow_by_one_is_rejected_not_wrapped) {
    long long v = 42;
    cr_assert_eq(ll("9223372036854775808", &v), -1);
    cr_assert_eq(ll("-9223372036854775809", &v), -1);
    cr_assert_eq(ll("18446744073709551616", &v), -1);
    cr_assert_eq(ll("99999999999999999999999", &v), -1);
    cr_assert_eq(v, 42, "rejection must not touch *out");
}

Test(strconv, ll_rejects_what_strtoll_would_accept) {
    const char *bad[] = {"", "-", "-0", "+1", " 1", "1 ", "01", "00", "-01",
                         "1a", "0x10", "1e3", "1.0", "\t1", "--1", "1-"};
    long long v;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(ll(bad[i], &v), -1, "accepted \"%s\"", bad[i]);
    /* an embedded NUL is garbage, not a terminator */
    cr_assert_eq(strconv_ll("12\0" "3", 4, &v), -1);
    /* length-delimited: the slice "12" of "123" */
    cr_assert_eq(strconv_ll("123", 2, &v), 0);
    cr_assert_eq(v, 12);
}

Test(strconv, ll_matches_printf_over_a_sweep) {
    /* every power of two and its neighbours, both signs */
    for (int b = 0; b < 63; b++) {
        long long base = 1LL << b;
        long long cases[] = {base - 1, base, base + 1, -base, -base - 1, -(base - 1)};
        for (size_t i = 0; i < 6; i++) {
            char s[32];
            snprintf(s, sizeof s, "%lld", cases[i]);
            long long v;
            cr_assert_eq(ll(s, &v), 0, "%s", s);
            cr_assert_eq(v, cases[i]);
            char o[STRCONV_LL_BUFSZ];
            size_t n = strconv_ll_to_str(cases[i], o, sizeof o);
            cr_assert_eq(n, strlen(s));
            cr_assert_str_eq(o, s);
        }
    }
}

Test(strconv, ull_boundaries) {
    unsigned long long v;
    cr_assert_eq(ull("18446744073709551615", &v), 0);
    cr_assert_eq(v, ULLONG_MAX);
    cr_assert_eq(ull("18446744073709551616", &v), -1);
    cr_assert_eq(ull("4294967296", &v), 0);
    cr_assert_eq(v, 4294967296ULL);
    cr_assert_eq(ull("0", &v), 0);
    cr_assert_eq(v, 0);
    cr_assert_eq(ull("-1", &v), -1);
    cr_assert_eq(ull("+1", &v), -1);
    cr_assert_eq(ull("01", &v), -1);
    cr_assert_eq(ull("", &v), -1);
}

Test(strconv, ll_to_str_extremes_and_small_buffers) {
    char o[STRCONV_LL_BUFSZ];
    cr_assert_eq(strconv_ll_to_str(LLONG_MIN, o, sizeof o), 20);
    cr_assert_str_eq(o, "-9223372036854775808");
    cr_assert_eq(strconv_ll_to_str(LLONG_MAX, o, sizeof o), 19);
    cr_assert_str_eq(o, "9223372036854775807");
    cr_assert_eq(strconv_ll_to_str(0, o, sizeof o), 1);
    cr_assert_str_eq(o, "0");
    /* "12345" needs 6 bytes with its NUL */
    cr_assert_eq(strconv_ll_to_str(12345, o, 5), 0);
    cr_assert_eq(strconv_ll_to_str(12345, o, 6), 5);
    cr_assert_str_eq(o, "12345");
}

static int ld(const char *s, long double *v) { return strconv_ld(s, strlen(s), v); }
static int d(const char *s, double *v) { return strconv_d(s, strlen(s), v); }

Test(strconv, ld_accepts_redis_float_syntax) {
    long double v;
    cr_assert_eq(ld("1.5", &v), 0);
    cr_assert_eq(v, 1.5L);
    cr_assert_eq(ld("-2e3", &v), 0);
    cr_assert_eq(v, -2000.0L);
    cr_assert_eq(ld("+1", &v), 0, "strtold syntax allows '+' (Redis too)");
    cr_assert_eq(v, 1.0L);
    cr_assert_eq(ld("inf", &v), 0);
    cr_assert(isinf(v) && v > 0);
    cr_assert_eq(ld("-inf", &v), 0);
    cr_assert(isinf(v) && v < 0);
    cr_assert_eq(ld("0", &v), 0);
    cr_assert_eq(v, 0.0L);
}

Test(strconv, ld_rejects_nan_spaces_garbage_and_range_errors) {
    const char *bad[] = {"", "nan", "NaN", "-nan", " 1", "\t1", "\n1", "1 ", "1x",
                         "1.5.", "abc", "1e999999", "-1e999999", "1e-999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long double v;
        double dv;
        cr_assert_eq(ld(bad[i], &v), -1, "ld accepted \"%s\"", bad[i]);
        cr_assert_eq(d(bad[i], &dv), -1, "d accepted \"%s\"", bad[i]);
    }
    long double v;
    cr_assert_eq(strconv_ld("1\0" "5", 3, &v), -1, "embedded NUL is garbage");
}

Test(strconv, float_input_over_the_length_limit_is_rejected) {
    size_t n = STRCONV_LD_MAX_CHARS;
    char *s = malloc(n + 1);
    memset(s, '1', n);
    s[n] = '\0';
    double v;
    cr_assert_eq(strconv_d(s, n, &v), -1);
    cr_assert_eq(strconv_d(s, n - 1, &v), -1, "1e5119 overflows: ERANGE");
    memset(s, '0', n);
    s[n - 3] = '.';
    s[n - 2] = '5';
    cr_assert_eq(strconv_d(s, n - 1, &v), 0, "5119 bytes: \"000...0.5\" is in range");
    cr_assert_eq(v, 0.5);
    free(s);
}

Test(strconv, d_accepts_double_boundaries) {
    double v;
    cr_assert_eq(d("1.7976931348623157e308", &v), 0);
    cr_assert_eq(v, DBL_MAX);
    cr_assert_eq(d("1.8e308", &v), -1, "overflow");
    cr_assert_eq(d("4.9406564584124654e-324", &v), 0, "denormal min is representable");
    cr_assert_eq(v, 4.9406564584124654e-324);
    cr_assert_eq(d("1e-400", &v), -1, "underflow to zero");
}

static const char *dstr(double v) {
    static char o[STRCONV_D_BUFSZ];
    cr_assert_neq(strconv_d_to_str(v, o, sizeof o), 0);
    return o;
}

Test(strconv, d_to_str_prints_shortest_round_trip) {
    cr_assert_str_eq(dstr(0.1), "0.1");
    cr_assert_str_eq(dstr(3.0), "3");
    cr_assert_str_eq(dstr(-0.0), "-0");
    cr_assert_str_eq(dstr(1e300), "1e+300");
    cr_assert_str_eq(dstr(1.0 / 3.0), "0.3333333333333333");
    cr_assert_str_eq(dstr(0.1 + 0.2), "0.30000000000000004");
    cr_assert_str_eq(dstr(INFINITY), "inf");
    cr_assert_str_eq(dstr(-INFINITY), "-inf");
    cr_assert_str_eq(dstr(NAN), "nan");
    cr_assert_str_eq(dstr(DBL_MAX), "1.7976931348623157e+308");
    cr_assert_str_eq(dstr(9007199254740993.0), "9007199254740992");
}

Test(strconv, d_to_str_round_trips_random_doubles) {
    unsigned long long x = 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v;
        memcpy(&v, &x, sizeof v);
        if (isnan(v) || isinf(v)) continue;
        char o[STRCONV_D_BUFSZ];
        size_t n = strconv_d_to_str(v, o, sizeof o);
        cr_assert_gt(n, 0);
        double back;
        cr_assert_eq(strconv_d(o, n, &back), 0, "%s does not parse", o);
        cr_assert_eq(memcmp(&back, &v, sizeof v), 0, "%s does not round-trip", o);
    }
}

Test(strconv, d_to_str_reports_a_too_small_buffer) {
    char o[4];
    cr_assert_eq(strconv_d_to_str(0.125, o, sizeof o), 0);
    cr_assert_eq(strconv_d_to_str(0.5, o, sizeof o), 3);
    cr_assert_str_eq(o, "0.5");
}

static int sz(const char *s, unsigned long long *v) {
    return strconv_size_units(s, strlen(s), v);
}

Test(strconv, size_units_follow_redis_memtoull) {
    struct { const char *s; unsigned long long v; } ok[] = {
        {"0", 0}, {"1", 1}, {"1b", 1}, {"1B", 1}, {"1k", 1000}, {"1kb", 1024},
        {"1KB", 1024}, {"1Kb", 1024}, {"1m", 1000000}, {"1mb", 1048576},
        {"512mb", 536870912ULL}, {"1g", 1000000000ULL}, {"1gb", 1073741824ULL},
        {"4gb", 4294967296ULL}, {"0100", 100},
        {"18446744073709551615", ULLONG_MAX}, {"17179869183gb", 17179869183ULL << 30},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        unsigned long long v = 0;
        cr_assert_eq(sz(ok[i].s, &v), 0, "rejected %s", ok[i].s);
        cr_assert_eq(v, ok[i].v, "%s -> %llu", ok[i].s, v);
    }
    const char *bad[] = {"", "mb", "-1", "+1", " 1", "1 ", "1 mb", "1kbb", "1tb",
                         "1x", "1.5mb", "18446744073709551616", "17179869184gb"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned long long v;
        cr_assert_eq(sz(bad[i], &v), -1, "accepted \"%s\"", bad[i]);
    }
}
