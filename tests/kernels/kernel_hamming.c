/* kernel_hamming.c -- plain-C test of the hamming_u64 kernel (BIN storage):
 * every tier compiled in and supported by this CPU against ref, which
 * counts bit by bit. No Criterion, so it is also cross-built for AArch64
 * and run under qemu (scripts/test.sh neon). Prints "N passed, N failed"
 * and exits 0 only when nothing failed.
 *
 * Threats covered: a dropped or doubled tail word (every word count 0..80
 * and counts around each tier's block sizes: 4 and 8 words for avx2, the
 * 4096-word flush of neon's 16-bit counters), a wrapped narrow counter
 * (all-ones inputs of 10,000 words: 640,000 differing bits), an aligned-
 * load assumption (every byte offset 0..7 of both operands), reading past
 * the end (each operand ends exactly at the end of its allocation, so an
 * ASan build catches an over-read). Results are exact integers: equality. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

static int passed, failed;

static void result(int ok, const char *what, const char *tier, size_t n, size_t oa, size_t ob,
                   unsigned long long got, unsigned long long want)
{
    if (ok) {
        passed++;
        return;
    }
    if (failed++ < 20)
        fprintf(stderr, "FAIL %s %s nwords=%zu offsets %zu/%zu: got %llu want %llu\n", what, tier,
                n, oa, ob, got, want);
}

static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* An operand of n words starting `off` bytes into an allocation that ends
 * right after it. mode 0 random, 1 all ones, 2 all zeros, 3 sparse. */
static unsigned char *make(size_t n, size_t off, int mode, uint64_t *s)
{
    unsigned char *buf = malloc(off + 8 * n + (off + n == 0));
    if (!buf) {
        perror("malloc");
        exit(2);
    }
    memset(buf, 0x5A, off);
    for (size_t i = 0; i < n; i++) {
        uint64_t w = mode == 0 ? next(s) : mode == 1 ? ~0ull : mode == 2 ? 0 : next(s) & next(s) & next(s);
        memcpy(buf + off + 8 * i, &w, 8);
    }
    return buf;
}

static void check(const kernels *k, const kernels *ref, size_t n, size_t oa, size_t ob, int ma,
                  int mb, uint64_t *s)
{
    unsigned char *a = make(n, oa, ma, s), *b = make(n, ob, mb, s);
    const uint64_t *pa = (const uint64_t *)(void *)(a + oa), *pb = (const uint64_t *)(void *)(b + ob);
    uint64_t want = ref->hamming_u64(pa, pb, n), got = k->hamming_u64(pa, pb, n);
    result(got == want, "hamming", k->name, n, oa, ob, got, want);
    if (ma == 1 && mb == 2)
        result(want == 64ull * n, "hamming(ones, zeros) == 64 n", "ref", n, oa, ob, want, 64ull * n);
    result(k->hamming_u64(pa, pa, n) == 0, "hamming(a, a) == 0", k->name, n, oa, oa, 1, 0);
    free(a);
    free(b);
}

int main(void)
{
    static const size_t big[] = {127, 128, 129, 255, 256, 257, 1023, 1024, 1025, 4095, 4096,
                                 4097, 4098, 8191, 8192, 8193, 10000};
    const kernels *ref = kernels_tier(KTIER_REF);
    uint64_t s = 42;
    /* The oracle itself on a known value: 0b1011 ^ 0b0110 = 0b1101. */
    uint64_t x[2] = {0xBull, ~0ull}, y[2] = {0x6ull, 0};
    result(ref->hamming_u64(x, y, 2) == 67, "known", "ref", 2, 0, 0, ref->hamming_u64(x, y, 2), 67);
    for (int t = 0; t < KTIER_COUNT; t++) {
        const kernels *k = kernels_tier((ktier)t);
        int before = failed;
        if (!k)
            continue;
        result(k->hamming_u64 != NULL, "table entry", k->name, 0, 0, 0, 0, 1);
        if (!k->hamming_u64)
            continue;
        result(k->hamming_u64(x, y, 2) == 67, "known", k->name, 2, 0, 0, k->hamming_u64(x, y, 2), 67);
        for (size_t n = 0; n <= 80; n++)
            for (size_t oa = 0; oa < 8; oa++)
                for (int mode = 0; mode < 4; mode++)
                    check(k, ref, n, oa, (oa * 3 + (size_t)mode) & 7, mode, mode == 1 ? 2 : mode,
                          &s);
        for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
            check(k, ref, big[i], 0, 0, 0, 0, &s);
            check(k, ref, big[i], 3, 5, 1, 2, &s);
            check(k, ref, big[i], 1, 0, 3, 0, &s);
        }
        printf("tier %-6s %s\n", k->name, failed == before ? "ok" : "FAILED");
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
