/* fuzz_hnsw_load.c -- libFuzzer target for hnsw_load (index/hnsw_io.c),
 * the parser of saved index files.
 *
 * Input: the bytes of a file. Seeds (tests/fuzz/seeds/hnsw_load) are
 * small valid saves of every storage and codes kind: float32 with int8
 * codes, with 4-bit codes and without codes, int8 with float16 re-rank,
 * and BIN. A mutated file would nearly always stop at the header's or a
 * section's XXH3, so unless its size is a multiple of 7 the target first
 * rewrites every hash the file's own lengths locate (header, then each
 * section in turn): mutations then reach the parameter, length and
 * structural checks behind the hashes. Checks, for any input: no crash, leak or UB
 * (ASan+UBSan); a refused file returns HNSW_EFORMAT (or HNSW_EIO /
 * HNSW_ENOMEM) and leaves *out NULL; a loaded index is usable, not just
 * parsed: it answers a search with at most k results in ascending
 * distance order, takes an insert, deletes a vector, and saves again. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <string.h>
#include <xxhash.h>

#include "index/hnsw.h"

#define HDR 88u /* hnsw_io.c: the header's bytes before its hash */

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Rewrites the header hash and each section's payload hash of the file
 * b[0..n) (hnsw_io.c's format), as far as its lengths stay inside it. */
static void fix_hashes(uint8_t *b, size_t n)
{
    size_t off = HDR + 8;
    if (n < off)
        return;
    put64(b + HDR, XXH3_64bits(b, HDR));
    while (n - off >= 16) {
        uint64_t len = get64(b + off + 8);
        off += 16;
        if (len > n - off || n - off - len < 8)
            return;
        put64(b + off + len, XXH3_64bits(b + off, (size_t)len));
        off += (size_t)len + 8;
    }
}

static void use(hnsw *h)
{
    uint32_t d = hnsw_dim(h), id;
    hnsw_result r[8];
    float *q;
    char *buf = NULL;
    size_t len = 0;
    FILE *m;
    int n;
    if (d == 0 || d > 4096)
        abort(); /* hnsw_load checks dim against hnsw_create's limits, and the
                  * file sizes the seeds allow keep it small */
    q = malloc(d * sizeof(float));
    if (!q)
        return;
    for (uint32_t i = 0; i < d; i++)
        q[i] = sinf((float)i + 1.0f);
    n = hnsw_search(h, q, d, 8, 32, r);
    if (n > 8)
        abort();
    for (int i = 1; i < n; i++)
        if (!(r[i - 1].dist <= r[i].dist)) {
            fprintf(stderr, "results out of order at %d: %g > %g\n", i, r[i - 1].dist, r[i].dist);
            abort();
        }
    if (hnsw_insert(h, q, d, &id) == HNSW_OK && hnsw_delete(h, id) != HNSW_OK)
        abort();
    m = open_memstream(&buf, &len);
    if (m) {
        hnsw_save(h, m);
        fclose(m);
        free(buf);
    }
    free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f;
    uint8_t *buf;
    hnsw *h = (hnsw *)&h; /* must be set to NULL on failure */
    int rc;
    if (size == 0 || size > (1u << 20))
        return 0;
    buf = malloc(size);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    if (size % 7 != 0)
        fix_hashes(buf, size);
    f = fmemopen(buf, size, "rb");
    if (!f) {
        free(buf);
        return 0;
    }
    rc = hnsw_load(f, &h);
    fclose(f);
    free(buf);
    if (rc != HNSW_OK) {
        if (h != NULL)
            abort();
        return 0;
    }
    use(h);
    hnsw_free(h);
    return 0;
}
