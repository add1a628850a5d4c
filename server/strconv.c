/* strconv.c -- strict number parsing and printing; contracts in strconv.h.
 *
 * Design decisions:
 * 1. Integers are parsed by hand, not with strtoll: strtoll skips leading
 *    spaces, accepts '+', leading zeros and (with errno) saturates, all of
 *    which Redis rejects. Overflow is detected before it happens by
 *    comparing against (limit - digit) / 10, so no signed overflow (UB) is
 *    ever computed; LLONG_MIN is reached through its unsigned magnitude.
 * 2. Floating-point input is copied into a NUL-terminated stack buffer
 *    (at most STRCONV_LD_MAX_CHARS bytes, Redis's limit) because strtold
 *    needs a terminator and our inputs are length-delimited slices of the
 *    query buffer. An embedded NUL therefore shows up as trailing garbage.
 * 3. Doubles print with the fewest of 15/16/17 significant digits that
 *    round-trip. Redis 7.0 replies "%.17g", which shows 0.1 as
 *    0.10000000000000001; 7.2+ uses a shortest-round-trip printer (fpconv).
 *    Trying %.15g first gives the shortest form whenever one of <= 15
 *    digits exists (DBL_DIG = 15: every such decimal survives a round trip
 *    and %.15g reproduces it); the rare 16-digit case may not be the
 *    absolute shortest 16-digit string but always reads back exactly.
 * 4. ll-to-string writes digits backwards into a small local buffer and
 *    copies once; two digits per division as Redis's ll2string does. */
#include "strconv.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Accumulates the decimal digits s[0..len) into *out, rejecting any
 * non-digit and any value above `max`. The caller has checked len > 0 and
 * the leading-zero rule. */
static int parse_digits(const char *s, size_t len, unsigned long long max,
                        unsigned long long *out) {
    unsigned long long v = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9) return -1;
        if (v > (max - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int strconv_ll(const char *s, size_t len, long long *out) {
    if (len == 0) return -1;
    if (len == 1 && s[0] == '0') {
        *out = 0;
        return 0;
    }
    int neg = s[0] == '-';
    const char *p = s + neg;
    size_t n = len - (size_t)neg;
    /* first digit 1-9: rejects "-", "-0", "01", "+1", " 1" */
    if (n == 0 || p[0] < '1' || p[0] > '9') return -1;
    unsigned long long max = neg ? (unsigned long long)LLONG_MAX + 1
                                 : (unsigned long long)LLONG_MAX;
    unsigned long long mag;
    if (parse_digits(p, n, max, &mag) != 0) return -1;
    if (neg)
        *out = mag == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)mag;
    else
        *out = (long long)mag;
    return 0;
}

int strconv_ull(const char *s, size_t len, unsigned long long *out) {
    if (len == 0) return -1;
    if (len == 1 && s[0] == '0') {
        *out = 0;
        return 0;
    }
    if (s[0] < '1' || s[0] > '9') return -1;
    return parse_digits(s, len, ULLONG_MAX, out);
}

/* Shared front half of the float parsers: length limits, leading space,
 * copy to a terminated buffer. Returns 0 and fills buf, or -1. */
static int float_prepare(const char *s, size_t len, char *buf) {
    if (len == 0 || len >= STRCONV_LD_MAX_CHARS) return -1;
    /* isspace in the C locale, spelled out to stay locale-independent */
    unsigned char c = (unsigned char)s[0];
    if (c == ' ' || (c >= '\t' && c <= '\r')) return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return 0;
}

int strconv_ld(const char *s, size_t len, long double *out) {
    char buf[STRCONV_LD_MAX_CHARS];
    if (float_prepare(s, len, buf) != 0) return -1;
    char *end;
    errno = 0;
    long double v = strtold(buf, &end);
    if ((size_t)(end - buf) != len) return -1;
    if (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || v == 0)) return -1;
    if (isnan(v)) return -1;
    *out = v;
    return 0;
}

int strconv_d(const char *s, size_t len, double *out) {
    char buf[STRCONV_LD_MAX_CHARS];
    if (float_prepare(s, len, buf) != 0) return -1;
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if ((size_t)(end - buf) != len) return -1;
    if (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL || v == 0)) return -1;
    if (isnan(v)) return -1;
    *out = v;
    return 0;
}

size_t strconv_ll_to_str(long long v, char *buf, size_t cap) {
    char tmp[STRCONV_LL_BUFSZ];
    size_t n = strconv_ll_write(tmp, v);
    if (n + 1 > cap) return 0;
    memcpy(buf, tmp, n);
    buf[n] = '\0';
    return n;
}

size_t strconv_d_to_str(double v, char *buf, size_t cap) {
    char tmp[STRCONV_D_BUFSZ];
    int n;
    if (isnan(v)) {
        n = snprintf(tmp, sizeof tmp, "nan");
    } else if (isinf(v)) {
        n = snprintf(tmp, sizeof tmp, v > 0 ? "inf" : "-inf");
    } else {
        for (int prec = 15;; prec++) {
            n = snprintf(tmp, sizeof tmp, "%.*g", prec, v);
            if (prec == 17 || strtod(tmp, NULL) == v) break;
        }
    }
    if (n < 0 || (size_t)n + 1 > cap) return 0;
    memcpy(buf, tmp, (size_t)n + 1);
    return (size_t)n;
}

int strconv_size_units(const char *s, size_t len, unsigned long long *out) {
    size_t digits = 0;
    while (digits < len && s[digits] >= '0' && s[digits] <= '9') digits++;
    if (digits == 0) return -1;
    const char *u = s + digits;
    size_t ulen = len - digits;
    unsigned long long mul;
    if (ulen == 0 || (ulen == 1 && (u[0] | 0x20) == 'b')) {
        mul = 1;
    } else if (ulen <= 2 && (ulen == 1 || (u[1] | 0x20) == 'b')) {
        int bin = ulen == 2;
        switch (u[0] | 0x20) {
        case 'k': mul = bin ? 1024ULL : 1000ULL; break;
        case 'm': mul = bin ? 1024ULL * 1024 : 1000ULL * 1000; break;
        case 'g': mul = bin ? 1024ULL * 1024 * 1024 : 1000ULL * 1000 * 1000; break;
        default: return -1;
        }
    } else {
        return -1;
    }
    unsigned long long v = 0;
    for (size_t i = 0; i < digits; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (ULLONG_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    if (v > ULLONG_MAX / mul) return -1;
    *out = v * mul;
    return 0;
}
