/* fuzz_reader.c -- libFuzzer target for libsimcache's reply reader: the
 * input is fed in chunks whose sizes come from the first bytes (so splits
 * are fuzzed too), with small limits so the limit paths are reached; every
 * reply is walked (touching every node under ASan) and freed. The same
 * input fed whole must give the same number of replies and the same
 * outcome, or the reader depends on how bytes arrive. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/reader.h"

static size_t walk(const sc_reply *r) {
    size_t n = 1 + (r->str ? r->len : 0);
    if (r->attr) n += walk(r->attr);
    for (size_t i = 0; i < r->elements; i++) n += walk(r->element[i]);
    return n;
}

/* Returns the number of replies; *rc the final code. */
static size_t feed(const uint8_t *d, size_t n, const uint8_t *cuts, size_t ncuts, int *rc) {
    sc_reader_limits lim = {.max_bulk = 4096, .max_line = 512, .max_elements = 1024,
                            .max_depth = 8};
    sc_reader *r = sc_reader_create(&lim, ncuts & 1);
    if (r == NULL) abort();
    size_t off = 0, ci = 0, replies = 0;
    *rc = 0;
    while (off < n && *rc == 0) {
        size_t chunk = ncuts ? (size_t)cuts[ci++ % ncuts] + 1 : n;
        if (chunk > n - off) chunk = n - off;
        *rc = sc_reader_feed(r, (const char *)d + off, chunk);
        off += chunk;
        sc_reply *rep;
        while (*rc == 0 && (*rc = sc_reader_get_reply(r, &rep)) == 0 && rep) {
            walk(rep);
            replies++;
            sc_reply_free(rep);
        }
    }
    sc_reader_free(r);
    return replies;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    size_t ncuts = data[0] % 8;
    if (size < 1 + ncuts) return 0;
    const uint8_t *cuts = data + 1, *in = data + 1 + ncuts;
    size_t n = size - 1 - ncuts;
    int rc1, rc2;
    size_t a = feed(in, n, cuts, ncuts, &rc1);
    size_t b = feed(in, n, NULL, 0, &rc2);
    if (a != b || rc1 != rc2) abort();
    return 0;
}
