/* strconv.h -- strict number parsing and printing, as Redis does it.
 *
 * Every parser takes (pointer, length), never needs a NUL terminator, and
 * accepts the whole string or nothing: no leading or trailing spaces, no
 * trailing garbage. Functions return 0 on success and -1 on rejection; on
 * rejection *out is left untouched. All functions are pure (no globals, no
 * allocation) and may be called from any thread.
 *
 * Locale: the floating-point functions use strtold/snprintf, which follow
 * LC_NUMERIC. The server never calls setlocale(), so the "C" locale (a '.'
 * decimal point) applies, as in Redis. */
#ifndef SIMCACHE_STRCONV_H
#define SIMCACHE_STRCONV_H

#include <stddef.h>

/* Longest output of strconv_ll_to_str: "-9223372036854775808" plus NUL. */
#define STRCONV_LL_BUFSZ 21
/* Longest output of strconv_d_to_str: "-1.2345678901234567e-308" plus NUL,
 * with room to spare. */
#define STRCONV_D_BUFSZ 32
/* Longest accepted floating-point input (Redis MAX_LONG_DOUBLE_CHARS). */
#define STRCONV_LD_MAX_CHARS (5 * 1024)

/* Parses a signed 64-bit decimal integer exactly as Redis string2ll:
 * an optional '-', then digits; the first digit is non-zero unless the whole
 * string is "0". Rejects "", "-", "-0", "+1", " 1", "1 ", "01", and values
 * outside [LLONG_MIN, LLONG_MAX]. */
int strconv_ll(const char *s, size_t len, long long *out);

/* Unsigned variant (Redis string2ull without the sign): digits only, no
 * leading zeros except "0", value <= ULLONG_MAX. Rejects any '-' or '+'. */
int strconv_ull(const char *s, size_t len, unsigned long long *out);

/* Parses a long double as Redis string2ld (INCRBYFLOAT, HINCRBYFLOAT):
 * strtold syntax ("1.5", "-2e3", "inf", "0x1p3"), rejecting an empty string,
 * more than STRCONV_LD_MAX_CHARS bytes, a leading space, trailing bytes
 * (including an embedded NUL), NaN, and overflow or underflow (ERANGE with
 * a result of +-HUGE_VALL or 0). "inf" and "-inf" are accepted: callers
 * that forbid infinities (INCRBYFLOAT's result) check isinf themselves. */
int strconv_ld(const char *s, size_t len, long double *out);

/* The double variant (Redis string2d, used for scores and thresholds):
 * same acceptance rules as strconv_ld, parsed with strtod. */
int strconv_d(const char *s, size_t len, double *out);

/* Writes v in decimal to dst (room for 20 bytes; no NUL) and returns the
 * length. The digits go in place from the end of the counted width, with
 * no scratch buffer and no variable-length memcpy: the reply path writes
 * integers this way (a libc memcpy per integer was ~4% of an exact-hit
 * CACHE.GET's server CPU; perf, redis-benchmark -c 50 -P 16).
 * strconv_ll_to_str is built on it. */
static inline size_t strconv_ll_write(char *dst, long long v) {
    static const char pairs[201] =
        "0001020304050607080910111213141516171819"
        "2021222324252627282930313233343536373839"
        "4041424344454647484950515253545556575859"
        "6061626364656667686970717273747576777879"
        "8081828384858687888990919293949596979899";
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    size_t neg = v < 0, w = 1;
    for (unsigned long long t = u; t >= 10; t /= 10) w++;
    char *p = dst + neg + w;
    while (u >= 100) {
        unsigned i = (unsigned)(u % 100) * 2;
        u /= 100;
        *--p = pairs[i + 1];
        *--p = pairs[i];
    }
    if (u < 10) {
        *--p = (char)('0' + u);
    } else {
        *--p = pairs[u * 2 + 1];
        *--p = pairs[u * 2];
    }
    if (neg) dst[0] = '-';
    return neg + w;
}

/* Writes v in decimal into buf (capacity cap, NUL-terminated). Returns the
 * length written excluding the NUL, or 0 if cap is too small (cap >=
 * STRCONV_LL_BUFSZ always suffices). */
size_t strconv_ll_to_str(long long v, char *buf, size_t cap);

/* Writes the shortest decimal that reads back as exactly v, as Redis replies
 * doubles: "inf", "-inf", "nan" for the special values, otherwise "%.17g"
 * style output, trying 15, then 16, then 17 significant digits and keeping
 * the first that round-trips through strtod (17 always does). So 0.1 prints
 * "0.1" rather than "0.10000000000000001", 3.0 prints "3", -0.0 prints "-0",
 * 1e300 prints "1e+300". Returns the length excluding the NUL, or 0 if cap
 * is too small (STRCONV_D_BUFSZ always suffices). */
size_t strconv_d_to_str(double v, char *buf, size_t cap);

/* Parses a memory size with Redis's units (memtoull): a non-negative
 * decimal integer followed by an optional case-insensitive unit: "b" = 1,
 * "k" = 1000, "kb" = 1024, "m" = 1000^2, "mb" = 1024^2, "g" = 1000^3,
 * "gb" = 1024^3. "1kb" -> 1024, "1k" -> 1000, "512mb" -> 536870912.
 * Leading zeros are accepted ("0100" = 100, as Redis's strtoull does).
 * Rejects an empty number ("mb"), signs, spaces, unknown units and results
 * that overflow unsigned long long (Redis lets val*mul wrap; we do not). */
int strconv_size_units(const char *s, size_t len, unsigned long long *out);

#endif
