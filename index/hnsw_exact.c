/* hnsw_exact.c -- the brute-force search and the graph validator.
 *
 * 1. Exact search scans the vector slab in blocks of EXACT_BLOCK rows:
 *    float32 rows (F32 storage, or the re-rank copies of I8) go through
 *    OpenBLAS sgemv (batch_dot_f32); int8 rows without float32 copies are
 *    scored against the float32 query in a plain loop (exact with respect
 *    to the stored, de-quantised vectors). A bounded max-heap keeps the k
 *    best. Blocks bound the scratch to EXACT_BLOCK floats per searcher
 *    whatever the index size. Free slots are scored too (sgemv over a
 *    contiguous block is cheaper than gathering) and skipped afterwards.
 *    BIN rows are scored by the Hamming kernel against the packed query
 *    (the same distances as the graph search: hnsw_bin_dist), which is
 *    what Redis's VSIM TRUTH does on a BIN set.
 *    It is the ground truth for tests and benches, and hnsw_search's path
 *    for indexes below exact_below vectors (except float32 with codes: 3).
 *
 * 2. The validator walks the whole structure under the write lock and
 *    reports the first violated invariant: slot accounting (count, free
 *    list), entry point (live, at the top level), per level link counts
 *    within M / 2M, links to live nodes that exist at that level, no self
 *    links or duplicates, in-degree counters equal to the real in-degree,
 *    and every live node reachable from the entry point on every level it
 *    has (a BFS per level). O(N M) time; for tests and offline checks.
 *
 * 3. hnsw_search's small-set path on a float32 index with int8 codes
 *    (hnsw.c design 9, 10) scans the codes instead of the float32 rows: a
 *    quarter of the bytes through the VNNI batch scorer, then the best
 *    max(4k, 40) by int8 distance re-scored in float32, so the k returned
 *    carry float32 distances. (The built-in embedder's sparse vectors
 *    defeat the graph: hnsw.c design 10 has the measurements.) Not exact:
 *    a true top-k member ranked past 4k by its int8 distance is lost;
 *    sparse-recall measured r@1 1.000 against the sgemv scan. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "index/hnsw.h"
#include "index/hnsw_int.h"
#include "kernels/batch.h"

#define EXACT_BLOCK 1024u

/* Keeps the k best (smallest dist) in a max-heap: the heap helpers of
 * hnsw_int.h, shared with the graph search. */
static void topk_offer(hnsw_heap *hp, uint32_t k, uint32_t id, float d)
{
    if (hp->n < k)
        heap_push_max(hp, id, d);
    else if (d < hp->a[0].dist)
        heap_replace_max(hp, id, d);
}

int hnsw_exact_locked(hnsw *h, hnsw_ctx *c, uint32_t k, hnsw_result *out)
{
    uint32_t n = h->nslots;
    size_t live = atomic_load(&h->count);
    int rc;
    if (live < k)
        k = (uint32_t)live;
    if (k == 0)
        return 0;
    rc = hnsw_ctx_reserve(h, c, k);
    if (rc)
        return rc;
    if (c->exactcap < EXACT_BLOCK) {
        float *e = realloc(c->exact, EXACT_BLOCK * sizeof(float));
        if (!e)
            return HNSW_ENOMEM;
        c->exact = e;
        atomic_fetch_add(&h->ctx_bytes, (EXACT_BLOCK - c->exactcap) * sizeof(float));
        c->exactcap = EXACT_BLOCK;
    }
    c->res.n = 0;
    if (h->p.storage == HNSW_STORE_BIN) {
        for (uint32_t id = 0; id < n; id++) {
            if (atomic_load_explicit(&h->state[id], memory_order_relaxed) == ST_FREE)
                continue;
            topk_offer(&c->res, k, id,
                       hnsw_bin_dist(h, h->k->hamming_u64(c->qb, hnsw_vb(h, id),
                                                          hnsw_bin_words(h))));
        }
        n = 0; /* nothing left for the block loop */
    }
    for (uint32_t start = 0; start < n; start += EXACT_BLOCK) {
        uint32_t rows = n - start < EXACT_BLOCK ? n - start : EXACT_BLOCK;
        if (h->p.storage == HNSW_STORE_F32) {
            /* the vectors sit at a fixed stride in the record slab */
            if (batch_dot_f32_stride(c->qf, hnsw_vf(h, start), rows, h->dim,
                                     h->rec0 / sizeof(float), c->exact))
                return HNSW_EINVAL;
        } else if (h->rf) {
            if (batch_dot_f32(c->qf, h->rf + (size_t)start * h->dim, rows, h->dim, c->exact))
                return HNSW_EINVAL;
        } else if (h->rh) {
            for (uint32_t r = 0; r < rows; r++)
                c->exact[r] = h->k->dot_f16(c->qh, h->rh + (size_t)(start + r) * h->dim, h->dim);
        } else {
            for (uint32_t r = 0; r < rows; r++) {
                const int8_t *v = hnsw_vi(h, start + r);
                float s = 0;
                for (uint32_t j = 0; j < h->dim; j++)
                    s += c->qf[j] * (float)v[j];
                c->exact[r] = s * hnsw_vscale(h, start + r);
            }
        }
        for (uint32_t r = 0; r < rows; r++) {
            if (atomic_load_explicit(&h->state[start + r], memory_order_relaxed) == ST_FREE)
                continue;
            topk_offer(&c->res, k, start + r, 1.0f - c->exact[r]);
        }
    }
    memcpy(out, c->res.a, c->res.n * sizeof(hnsw_result));
    qsort(out, c->res.n, sizeof(hnsw_result), cmp_result);
    return (int)c->res.n;
}

/* The small-set path of hnsw_search on a float32 index with codes (design
 * 3): every slot's int8 code scored by the VNNI batch scorer in chunks of
 * SCAN_CHUNK ids, the best SCAN_RESCORE(k) kept, those re-scored from the
 * float32 records, the k best returned (float32 distances). c holds the
 * query's codes (query_codes). */
#define SCAN_CHUNK 256u
#define SCAN_RESCORE(k) ((k) * 4u < 40u ? 40u : (k) * 4u)

int hnsw_scan_codes_locked(hnsw *h, hnsw_ctx *c, uint32_t k, hnsw_result *out)
{
    const hnsw_qscore_args qa = hnsw_codes_args(h, c);
    uint32_t n = h->nslots, ids[SCAN_CHUNK], keep, got;
    size_t live = atomic_load(&h->count);
    float d[SCAN_CHUNK];
    int rc;
    if (live < k)
        k = (uint32_t)live;
    if (k == 0)
        return 0;
    keep = SCAN_RESCORE(k);
    rc = hnsw_ctx_reserve(h, c, keep);
    if (rc)
        return rc;
    c->res.n = 0;
    for (uint32_t start = 0; start < n; start += SCAN_CHUNK) {
        uint32_t rows = n - start < SCAN_CHUNK ? n - start : SCAN_CHUNK, m = 0;
        for (uint32_t r = 0; r < rows; r++)
            if (atomic_load_explicit(&h->state[start + r], memory_order_relaxed) != ST_FREE)
                ids[m++] = start + r;
        h->qscore(&qa, ids, m, d);
        for (uint32_t r = 0; r < m; r++)
            topk_offer(&c->res, keep, ids[r], d[r]);
    }
    got = hnsw_res_sorted(c);
    for (uint32_t i = 0; i < got; i++)
        c->sel[i].dist = 1.0f - h->k->dot_f32(c->qf, hnsw_vf(h, c->sel[i].id), h->dim);
    sort_results(c->sel, got);
    if (got > k)
        got = k;
    memcpy(out, c->sel, got * sizeof(hnsw_result));
    return (int)got;
}

/* ------------------------------------------------------------ validator */

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int node_lvl(const hnsw *h, uint32_t id)
{
    uint8_t s = atomic_load(&h->state[id]);
    return s == ST_FREE ? -1 : (int)(s & ST_LEVEL_MASK);
}

/* Links, in-degrees and reachability of level l. indeg/queue/seen are
 * nslots-sized scratch. */
static int validate_level(hnsw *h, int l, uint32_t *indeg, uint32_t *queue, uint8_t *seen,
                          int reach, char *err, size_t errlen)
{
    uint32_t mmax = l ? h->M : h->M0, nodes = 0, head = 0, tail = 0;
    uint32_t ep = atomic_load(&h->entry);
    memset(indeg, 0, h->nslots * sizeof(uint32_t));
    memset(seen, 0, h->nslots);
    for (uint32_t id = 0; id < h->nslots; id++) {
        aword *blk, *ids;
        uint32_t n;
        if (node_lvl(h, id) < l)
            continue;
        nodes++;
        blk = hnsw_links(h, id, l);
        ids = hnsw_link_ids(h, blk, l);
        n = atomic_load(&blk[0]);
        if (n > mmax)
            return fail(err, errlen, "node %u level %d: %u links > max %u", id, l, n, mmax);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t x = atomic_load(&ids[i]);
            if (x >= h->nslots)
                return fail(err, errlen, "node %u level %d: link to id %u out of range", id, l, x);
            if (x == id)
                return fail(err, errlen, "node %u level %d: self link", id, l);
            if (node_lvl(h, x) < 0)
                return fail(err, errlen, "node %u level %d: link to free id %u", id, l, x);
            if (node_lvl(h, x) < l)
                return fail(err, errlen, "node %u level %d: link to %u of level %d", id, l, x,
                            node_lvl(h, x));
            for (uint32_t j = 0; j < i; j++)
                if (atomic_load(&ids[j]) == x)
                    return fail(err, errlen, "node %u level %d: duplicate link %u", id, l, x);
            indeg[x]++;
        }
    }
    for (uint32_t id = 0; id < h->nslots; id++) {
        if (node_lvl(h, id) < l)
            continue;
        if (atomic_load(hnsw_indeg(h, id, l)) != indeg[id])
            return fail(err, errlen, "node %u level %d: in-degree %u recorded, %u real", id, l,
                        atomic_load(hnsw_indeg(h, id, l)), indeg[id]);
    }
    if (nodes == 0 || !reach)
        return 0;
    queue[tail++] = ep;
    seen[ep] = 1;
    while (head < tail) {
        uint32_t id = queue[head++];
        aword *blk = hnsw_links(h, id, l), *ids = hnsw_link_ids(h, blk, l);
        uint32_t n = atomic_load(&blk[0]);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t x = atomic_load(&ids[i]);
            if (!seen[x]) {
                seen[x] = 1;
                queue[tail++] = x;
            }
        }
    }
    if (tail != nodes) {
        for (uint32_t id = 0; id < h->nslots; id++)
            if (node_lvl(h, id) >= l && !seen[id])
                return fail(err, errlen, "level %d: %u of %u nodes unreachable from entry %u "
                            "(first: %u)", l, nodes - tail, nodes, ep, id);
    }
    return 0;
}

static int validate_slots(hnsw *h, int *top, char *err, size_t errlen)
{
    size_t live = 0;
    uint8_t *isfree = calloc(h->nslots ? h->nslots : 1, 1);
    int rc = 0;
    *top = -1;
    if (!isfree)
        return fail(err, errlen, "out of memory");
    for (uint32_t id = 0; id < h->nslots; id++) {
        uint8_t s = atomic_load(&h->state[id]);
        if (s == ST_FREE) {
            if (h->upper[id]) {
                rc = fail(err, errlen, "free id %u has link blocks", id);
                goto out;
            }
            continue;
        }
        if (s & ST_PENDING) {
            rc = fail(err, errlen, "id %u still pending (insert in progress)", id);
            goto out;
        }
        if ((s > 0) != (h->upper[id] != NULL)) {
            rc = fail(err, errlen, "id %u level %u: upper blocks %s", id, s,
                      h->upper[id] ? "present" : "missing");
            goto out;
        }
        live++;
        if ((int)s > *top)
            *top = s;
    }
    if (live != atomic_load(&h->count)) {
        rc = fail(err, errlen, "count %zu but %zu live slots", atomic_load(&h->count), live);
        goto out;
    }
    if (live + h->nfree != h->nslots) {
        rc = fail(err, errlen, "%zu live + %u free != %u slots", live, h->nfree, h->nslots);
        goto out;
    }
    for (uint32_t i = 0; i < h->nfree; i++) {
        uint32_t id = h->freeids[i];
        if (id >= h->nslots || atomic_load(&h->state[id]) != ST_FREE || isfree[id]) {
            rc = fail(err, errlen, "free list entry %u (id %u) bad or repeated", i, id);
            goto out;
        }
        isfree[id] = 1;
    }
    if (atomic_load(&h->maxlevel) != *top) {
        rc = fail(err, errlen, "max level %d but highest node level %d", atomic_load(&h->maxlevel),
                  *top);
        goto out;
    }
    if (live == 0) {
        if (atomic_load(&h->entry) != HNSW_NO_ENTRY)
            rc = fail(err, errlen, "empty index with an entry point");
        goto out;
    }
    {
        uint32_t ep = atomic_load(&h->entry);
        if (ep >= h->nslots || node_lvl(h, ep) != *top)
            rc = fail(err, errlen, "entry point %u not a live node of the top level %d", ep, *top);
    }
out:
    free(isfree);
    return rc;
}

int hnsw_validate_locked(hnsw *h, int reach, char *err, size_t errlen)
{
    int top, rc;
    uint32_t *indeg, *queue;
    uint8_t *seen;
    if (err && errlen)
        err[0] = 0;
    rc = validate_slots(h, &top, err, errlen);
    if (rc)
        return rc;
    indeg = malloc((h->nslots + 1) * sizeof(uint32_t));
    queue = malloc((h->nslots + 1) * sizeof(uint32_t));
    seen = malloc(h->nslots + 1);
    if (!indeg || !queue || !seen) {
        rc = fail(err, errlen, "out of memory");
        goto out;
    }
    for (int l = 0; l <= top && rc == 0; l++)
        rc = validate_level(h, l, indeg, queue, seen, reach, err, errlen);
out:
    free(indeg);
    free(queue);
    free(seen);
    return rc;
}

int hnsw_validate(hnsw *h, char *err, size_t errlen)
{
    int rc;
    if (!h)
        return fail(err, errlen, "null index");
    pthread_rwlock_wrlock(&h->rw);
    rc = hnsw_validate_locked(h, 1, err, errlen);
    pthread_rwlock_unlock(&h->rw);
    return rc;
}
