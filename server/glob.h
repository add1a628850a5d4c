/* glob.h -- Redis-compatible glob matching (KEYS/SCAN MATCH, ACL patterns,
 * CONFIG GET, PSUBSCRIBE) without exponential backtracking.
 *
 * Syntax, as Redis stringmatchlen():
 *   *       any sequence of bytes, including none
 *   ?       exactly one byte
 *   [abc]   one byte from the set; [^abc] one byte not in it; [a-z] a range
 *           (ends may come in either order: [z-a] = [a-z]); \x inside a
 *           class is a literal x (compared case-sensitively, as Redis does)
 *   \x      the literal byte x outside a class
 * Quirks kept from Redis so patterns behave identically: an unterminated
 * class "[abc" is the class of the remaining bytes; "[" alone never
 * matches; "[^" matches any one byte; "[]" and "[]a]" are empty classes
 * (']' right after '[' closes it); "[a-]" is the range 'a'..']'; a trailing
 * lone '\' is a literal backslash.
 *
 * Deliberate differences from Redis:
 * - bytes compare as unsigned char (Redis compares plain char, signed on
 *   x86, so on x86 its ranges involving bytes >= 0x80 differ; ARM Redis
 *   agrees with us);
 * - nocase folds ASCII letters only, independent of the C locale;
 * - no "nesting > 1000 -> no match" cut-off: Redis 7.2 gives up (returns
 *   no match) on patterns with more than 1000 stars that need deep
 *   recursion; we have no recursion, so we always return the true answer.
 *
 * Cost: O(plen + slen) when the segments between stars are plain literal
 * bytes (the CVE-2022-36021 family "*a*a*a...*b", "*foo*", "foo*", "*foo");
 * at worst O(256 plen + slen * plen / 64) (bit-parallel search for long
 * wildcard segments, glob.c note 2); never exponential, no recursion. One
 * malloc (256 x tokens / 8 bytes) only for a long wildcard segment in a
 * long subject; if it fails, a slower search is used, never an error.
 * Pure: any thread. */
#ifndef SIMCACHE_GLOB_H
#define SIMCACHE_GLOB_H

#include <stddef.h>

/* Returns 1 if str[0..slen) matches pat[0..plen), else 0. Neither needs a
 * NUL terminator; both may contain NUL bytes. nocase != 0 folds ASCII case. */
int glob_match(const char *pat, size_t plen, const char *str, size_t slen, int nocase);

/* glob_match that also adds the work done to *steps (tokens tried, bytes
 * of character classes scanned, bytes memmem passed over). For tests and
 * benchmarks that check the complexity bound without timing anything:
 * one call adds at most GLOB_STEPS_BOUND(plen, slen). */
#define GLOB_STEPS_BOUND(plen, slen) \
    (2ULL * ((plen) + 1) * ((slen) + 1) + 7ULL * (plen) + (slen) + 8)
int glob_match_steps(const char *pat, size_t plen, const char *str, size_t slen,
                     int nocase, unsigned long long *steps);

#endif
