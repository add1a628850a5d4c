/* fuzz_glob.c -- libFuzzer target for the glob matcher.
 *
 * Input: byte 0 = flags (bit 0: nocase), byte 1 = pattern length (the
 * first byte-1 bytes of the rest, capped by what is there), the remainder
 * is the subject (first 1 KiB). Checks, for any input: no crash or UB (ASan+UBSan), the
 * work stays within GLOB_STEPS_BOUND (glob.h: each middle segment is tried
 * at most slen + 1 times at a cost of at most twice its pattern bytes; all
 * else is linear), and, when both sides are short enough for the O(plen * slen)
 * oracle, the same answer as the dynamic-programming reference in
 * tests/unit/glob_ref.h. Patterns are also tried as their own subject and
 * with every byte case-flipped under nocase. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/glob.h"
#include "../unit/glob_ref.h"

static void check(const char *p, size_t pl, const char *s, size_t sl, int nocase) {
    unsigned long long steps = 0;
    int got = glob_match_steps(p, pl, s, sl, nocase, &steps);
    unsigned long long bound = GLOB_STEPS_BOUND(pl, sl);
    if (steps > bound) {
        fprintf(stderr, "steps %llu > bound %llu (plen %zu slen %zu)\n", steps, bound, pl, sl);
        abort();
    }
    if (pl <= 48 && sl <= 600) {
        int want = glob_ref(p, pl, s, sl, nocase);
        if (got != want) {
            fprintf(stderr, "glob_match %d, reference %d (plen %zu slen %zu nocase %d)\n", got,
                    want, pl, sl, nocase);
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    int nocase = data[0] & 1;
    size_t rest = size - 2;
    size_t pl = data[1] < rest ? data[1] : rest;
    const char *p = (const char *)data + 2;
    const char *s = p + pl;
    size_t sl = rest - pl;
    /* a 255-byte pattern against a 1 KiB subject is already ~0.5M steps
     * in the worst case; longer subjects add run time, not coverage */
    if (sl > 1024) sl = 1024;
    check(p, pl, s, sl, nocase);
    check(p, pl, p, pl, nocase);
    if (nocase && sl) {
        char *f = malloc(sl);
        for (size_t i = 0; i < sl; i++) {
            char c = s[i];
            f[i] = (c >= 'a' && c <= 'z') ? c - 32 : (c >= 'A' && c <= 'Z') ? c + 32 : c;
        }
        check(p, pl, f, sl, 1);
        free(f);
    }
    return 0;
}
