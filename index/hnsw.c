/* hnsw.c -- Hierarchical Navigable Small World graph (Malkov & Yashunin)
 * for cosine similarity, with true deletion and concurrent readers.
 *
 * Design decisions:
 *
 * 1. Memory layout: everything is a flat array indexed by the dense id
 *    (hnsw_int.h): vectors in one slab, level-0 links in one fixed-stride
 *    slab (1 + 2M uint32 words), upper levels in a small per-node block
 *    only for the ~1/M nodes that have them. No per-node malloc, no
 *    pointers between nodes: a search touches the vector slab, the link
 *    slab and an epoch-stamped visited array. At d=384, M=16 that is
 *    384 (int8) + 4 (scale) + 132 (links) + 4 (in-degree) + 1 (state)
 *    + 8 (upper pointer) + ~5 (upper blocks) ~= 538 bytes per vector, and
 *    1536 more with float32 (hnswlib: ~4 d + 132 + label + 40 B mutex).
 *
 * 2. Construction follows the paper and hnswlib: levels drawn from a seeded
 *    splitmix64 stream with mL = 1/ln(M) (same seed + same insertion order
 *    = same graph, byte for byte in hnsw_save), greedy descent, ef_construction
 *    beam per level, the diversity heuristic for selecting M neighbours,
 *    back links added to each neighbour, which re-runs the heuristic over
 *    its links when full (layer 0 holds 2M, upper layers M). Links are
 *    directed: the back link may be pruned (as in hnswlib; Redis keeps them
 *    strictly bidirectional, which costs recall on pruning).
 *
 * 3. True deletion. Because links are directed, every node keeps its
 *    in-degree per level (one atomic counter). To delete d at level l we
 *    find the nodes linking to d: first among d's out-neighbours and their
 *    out-neighbours (2 hops; this finds all of them in the vast majority of
 *    cases, counted in stat_inlink_scans otherwise), then, only if the
 *    in-degree says some are missing, by scanning the level. Each such node
 *    n drops d and re-selects its links with the same heuristic from its
 *    remaining links plus d's out-links (the 2-hop repair of hnswlib's
 *    repairConnectionsForUpdate and the MN-RU paper). A node whose only
 *    in-link was pruned would become unreachable, so every pruning keeps
 *    such a "sole in-link" (swapping out a link whose target has others),
 *    and after a delete each of d's out-neighbours left with in-degree 0 is
 *    linked from its nearest surviving neighbour. If d was the entry point,
 *    the live node with the highest level becomes the entry point (a scan,
 *    1/N likely per delete). The slot is freed at once: see 4.
 *
 * 4. Concurrency. A reader-writer lock `rw` plus striped link mutexes.
 *    - Searches hold the read side for their whole duration.
 *    - Inserts store the vector under the write side (briefly: allocate
 *      the id, grow arrays, draw the level, copy the vector), then link it
 *      under the read side, concurrently with searches and other inserts,
 *      taking one link mutex at a time (never two: no lock order) to
 *      append or prune a neighbour list. An insert that raises the top
 *      level also holds ep_lock for its linking phase (as hnswlib does).
 *    - Deletes take the write side: no search or insert runs, so the slot
 *      can be freed and reused immediately; no searcher can hold its id.
 *    Link words and counts are C11 atomics (release stores by writers,
 *    acquire loads by readers: plain moves on x86), so a searcher that
 *    follows a fresh link also sees the vector stored before it. A reader
 *    may see a list mid-prune: every id in it is a live node either way.
 *    Rejected: tombstones (grow with a TTL workload, and hnswlib's refill
 *    is 8x slower); a global lock for inserts (searches would stall for
 *    the whole ~100 us insert); epoch-based reclamation so deletes run
 *    concurrently with searches (the repair rewrites many lists, and the
 *    deferred reuse and its grace periods are much more code for a cache
 *    whose deletes are batched by the expiry cycle anyway).
 *
 * 5. Per-search scratch (visited stamps, heaps, selection buffers) lives
 *    in a pooled hnsw_ctx: no allocation per search once warm. The visited
 *    array is a uint16 epoch per slot, cleared only when the epoch wraps.
 *
 * 6. int8 storage: symmetric per-vector scale (max |x| / 127), the query
 *    quantised the same way for graph traversal; with rerank the final ef
 *    candidates are re-scored against float32 copies, so recall matches
 *    float32 at the same ef.
 *
 * 7. Small indexes are searched exactly (a flat sgemv scan): below
 *    exact_below live vectors that is faster than the graph and exact. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/hnsw.h"
#include "index/hnsw_int.h"

/* Below this many live vectors hnsw_search scans instead (measured on
 * this machine at d=128: see README "Vector engine: index"). */
#define HNSW_EXACT_BELOW_DEFAULT 2048u

/* ---------------------------------------------------------------- heaps */

static void heap_push_min(hnsw_heap *hp, uint32_t id, float d)
{
    uint32_t i = hp->n++;
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (hp->a[p].dist <= d)
            break;
        hp->a[i] = hp->a[p];
        i = p;
    }
    hp->a[i].id = id;
    hp->a[i].dist = d;
}

static void heap_pop_min(hnsw_heap *hp)
{
    hnsw_result last = hp->a[--hp->n];
    uint32_t i = 0, n = hp->n;
    for (;;) {
        uint32_t l = 2 * i + 1, m;
        if (l >= n)
            break;
        m = (l + 1 < n && hp->a[l + 1].dist < hp->a[l].dist) ? l + 1 : l;
        if (hp->a[m].dist >= last.dist)
            break;
        hp->a[i] = hp->a[m];
        i = m;
    }
    if (n)
        hp->a[i] = last;
}

static void heap_push_max(hnsw_heap *hp, uint32_t id, float d)
{
    uint32_t i = hp->n++;
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (hp->a[p].dist >= d)
            break;
        hp->a[i] = hp->a[p];
        i = p;
    }
    hp->a[i].id = id;
    hp->a[i].dist = d;
}

static void heap_pop_max(hnsw_heap *hp)
{
    hnsw_result last = hp->a[--hp->n];
    uint32_t i = 0, n = hp->n;
    for (;;) {
        uint32_t l = 2 * i + 1, m;
        if (l >= n)
            break;
        m = (l + 1 < n && hp->a[l + 1].dist > hp->a[l].dist) ? l + 1 : l;
        if (hp->a[m].dist <= last.dist)
            break;
        hp->a[i] = hp->a[m];
        i = m;
    }
    if (n)
        hp->a[i] = last;
}

static int cmp_result(const void *a, const void *b)
{
    const hnsw_result *x = a, *y = b;
    if (x->dist < y->dist)
        return -1;
    if (x->dist > y->dist)
        return 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Insertion sort for the short candidate lists of selection (<= ~70). */
static void sort_results(hnsw_result *a, uint32_t n)
{
    if (n > 64) {
        qsort(a, n, sizeof(*a), cmp_result);
        return;
    }
    for (uint32_t i = 1; i < n; i++) {
        hnsw_result v = a[i];
        uint32_t j = i;
        while (j > 0 && cmp_result(&a[j - 1], &v) > 0) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = v;
    }
}

/* ------------------------------------------------------------ distances */

static inline float dist_q(const hnsw *h, const hnsw_ctx *c, uint32_t id)
{
    size_t off = (size_t)id * h->dim;
    if (h->p.storage == HNSW_STORE_F32)
        return 1.0f - h->k->dot_f32(c->qf, h->vf + off, h->dim);
    return 1.0f - (float)h->k->dot_i8(c->qi, h->vi + off, h->dim) * c->qscale * h->vscale[id];
}

static inline float dist_nn(const hnsw *h, uint32_t a, uint32_t b)
{
    size_t oa = (size_t)a * h->dim, ob = (size_t)b * h->dim;
    if (h->p.storage == HNSW_STORE_F32)
        return 1.0f - h->k->dot_f32(h->vf + oa, h->vf + ob, h->dim);
    return 1.0f - (float)h->k->dot_i8(h->vi + oa, h->vi + ob, h->dim) * h->vscale[a] * h->vscale[b];
}

static inline void prefetch_vec(const hnsw *h, uint32_t id)
{
    const char *p = h->p.storage == HNSW_STORE_F32 ? (const char *)(h->vf + (size_t)id * h->dim)
                                                   : (const char *)(h->vi + (size_t)id * h->dim);
    __builtin_prefetch(p);
    __builtin_prefetch(p + 64);
}

/* ----------------------------------------------------------- parameters */

void hnsw_params_default(hnsw_params *p, uint32_t dim)
{
    memset(p, 0, sizeof(*p));
    p->dim = dim;
    p->M = 16;
    p->ef_construction = 200;
    p->ef_search = 100;
    p->storage = HNSW_STORE_F32;
    p->rerank = 1;
    p->seed = 0x5eed5eedULL;
}

int hnsw_check_params(const hnsw_params *p)
{
    if (!p || p->dim < 1 || p->dim > 65536 || p->M < 4 || p->M > 4096)
        return HNSW_EINVAL;
    if (p->ef_construction < 1 || p->ef_construction > 1000000 || p->ef_search < 1 ||
        p->ef_search > 1000000)
        return HNSW_EINVAL;
    if (p->storage != HNSW_STORE_F32 && p->storage != HNSW_STORE_I8)
        return HNSW_EINVAL;
    return HNSW_OK;
}

int hnsw_init_struct(hnsw *h, const hnsw_params *p)
{
    int rc = hnsw_check_params(p);
    if (rc)
        return rc;
    memset(h, 0, sizeof(*h));
    h->p = *p;
    h->p.rerank = p->storage == HNSW_STORE_I8 ? (p->rerank != 0) : 0;
    h->dim = p->dim;
    h->M = p->M;
    h->M0 = 2 * p->M;
    h->stride0 = 1 + h->M0;
    h->ustride = 2 + h->M;
    h->mL = 1.0 / log((double)p->M);
    h->k = kernels_get();
    h->rng = p->seed;
    h->exact_below = HNSW_EXACT_BELOW_DEFAULT;
    atomic_init(&h->entry, HNSW_NO_ENTRY);
    atomic_init(&h->maxlevel, -1);
    atomic_init(&h->count, 0);
    atomic_init(&h->upper_bytes, 0);
    atomic_init(&h->ctx_bytes, 0);
    atomic_init(&h->stat_inlink_scans, 0);
    if (pthread_rwlock_init(&h->rw, NULL))
        return HNSW_ENOMEM;
    pthread_mutex_init(&h->ep_lock, NULL);
    pthread_mutex_init(&h->pool_lock, NULL);
    for (uint32_t i = 0; i < HNSW_NLOCKS; i++)
        pthread_mutex_init(&h->locks[i], NULL);
    return HNSW_OK;
}

int hnsw_create(const hnsw_params *p, hnsw **out)
{
    hnsw *h;
    int rc;
    if (!out)
        return HNSW_EINVAL;
    *out = NULL;
    h = malloc(sizeof(*h));
    if (!h)
        return HNSW_ENOMEM;
    rc = hnsw_init_struct(h, p);
    if (rc) {
        free(h);
        return rc;
    }
    *out = h;
    return HNSW_OK;
}

/* --------------------------------------------------------------- arrays */

static void *grow(void *p, size_t n, size_t elem)
{
    if (n && elem > SIZE_MAX / n)
        return NULL;
    return realloc(p, n * elem);
}

/* Grows every per-slot array to cap slots (cap > h->cap). Caller holds
 * the write lock (or owns h alone). On failure the arrays already grown
 * stay grown (still consistent: h->cap is only raised at the end). */
int hnsw_alloc_slots(hnsw *h, uint32_t cap)
{
    uint32_t old = h->cap;
    size_t d = h->dim;
    void *t;
    if (cap <= old)
        return HNSW_OK;
#define GROW(field, elem)                        \
    do {                                         \
        t = grow((void *)h->field, cap, (elem)); \
        if (!t)                                  \
            return HNSW_ENOMEM;                  \
        h->field = t;                            \
    } while (0)
    GROW(state, 1);
    GROW(links0, (size_t)h->stride0 * sizeof(aword));
    GROW(indeg0, sizeof(aword));
    GROW(upper, sizeof(aword *));
    GROW(freeids, sizeof(uint32_t));
    if (h->p.storage == HNSW_STORE_F32 || h->p.rerank)
        GROW(vf, d * sizeof(float));
    if (h->p.storage == HNSW_STORE_I8) {
        GROW(vi, d);
        GROW(vscale, sizeof(float));
    }
#undef GROW
    for (uint32_t i = old; i < cap; i++) {
        atomic_init(&h->state[i], ST_FREE);
        h->upper[i] = NULL;
    }
    h->cap = cap;
    return HNSW_OK;
}

void hnsw_free_arrays(hnsw *h)
{
    if (h->upper)
        for (uint32_t i = 0; i < h->nslots; i++)
            free(h->upper[i]);
    free((void *)h->state);
    free(h->vf);
    free(h->vi);
    free(h->vscale);
    free(h->links0);
    free(h->indeg0);
    free(h->upper);
    free(h->freeids);
}

void hnsw_free(hnsw *h)
{
    if (!h)
        return;
    hnsw_free_arrays(h);
    while (h->pool) {
        hnsw_ctx *c = h->pool;
        h->pool = c->next;
        free(c->visited);
        free(c->qf);
        free(c->qi);
        free(c->cand.a);
        free(c->res.a);
        free(c->sel);
        free(c->tmp);
        free(c->f1);
        free(c->f2);
        free(c->exact);
        free(c);
    }
    pthread_rwlock_destroy(&h->rw);
    pthread_mutex_destroy(&h->ep_lock);
    pthread_mutex_destroy(&h->pool_lock);
    for (uint32_t i = 0; i < HNSW_NLOCKS; i++)
        pthread_mutex_destroy(&h->locks[i]);
    free(h);
}

int hnsw_reserve(hnsw *h, uint32_t n)
{
    int rc;
    if (!h)
        return HNSW_EINVAL;
    pthread_rwlock_wrlock(&h->rw);
    rc = hnsw_alloc_slots(h, n);
    pthread_rwlock_unlock(&h->rw);
    return rc;
}

/* ------------------------------------------------------ search contexts */

hnsw_ctx *hnsw_ctx_get(hnsw *h)
{
    hnsw_ctx *c;
    pthread_mutex_lock(&h->pool_lock);
    c = h->pool;
    if (c)
        h->pool = c->next;
    pthread_mutex_unlock(&h->pool_lock);
    if (c)
        return c;
    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->qf = malloc(h->dim * sizeof(float));
    c->qi = malloc(h->dim);
    if (!c->qf || !c->qi) {
        free(c->qf);
        free(c->qi);
        free(c);
        return NULL;
    }
    atomic_fetch_add(&h->ctx_bytes, sizeof(*c) + h->dim * 5);
    return c;
}

void hnsw_ctx_put(hnsw *h, hnsw_ctx *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&h->pool_lock);
    c->next = h->pool;
    h->pool = c;
    pthread_mutex_unlock(&h->pool_lock);
}

/* Sizes c for a beam of ef and the current capacity. Caller holds rw
 * (read or write), so h->cap is stable. */
int hnsw_ctx_reserve(hnsw *h, hnsw_ctx *c, uint32_t ef)
{
    uint32_t need = ef + 2, sel = (ef > 2 * h->M0 + 2 ? ef : 2 * h->M0 + 2) + 2;
    if (c->vcap < h->cap) {
        uint16_t *v = calloc(h->cap, sizeof(uint16_t));
        if (!v)
            return HNSW_ENOMEM;
        free(c->visited);
        atomic_fetch_add(&h->ctx_bytes, (size_t)(h->cap - c->vcap) * sizeof(uint16_t));
        c->visited = v;
        c->vcap = h->cap;
        c->epoch = 0;
    }
    /* The frontier starts at 2 ef and grows in search_layer if needed. */
    if (c->cand.cap < need * 2) {
        hnsw_result *a = grow(c->cand.a, need * 2, sizeof(hnsw_result));
        if (!a)
            return HNSW_ENOMEM;
        c->cand.a = a;
        atomic_fetch_add(&h->ctx_bytes, (size_t)(need * 2 - c->cand.cap) * sizeof(hnsw_result));
        c->cand.cap = need * 2;
    }
    if (c->res.cap < need) {
        hnsw_result *b = grow(c->res.a, need, sizeof(hnsw_result));
        if (!b)
            return HNSW_ENOMEM;
        c->res.a = b;
        atomic_fetch_add(&h->ctx_bytes, (size_t)(need - c->res.cap) * sizeof(hnsw_result));
        c->res.cap = need;
    }
    if (c->selcap < sel) {
        hnsw_result *a = grow(c->sel, sel, sizeof(hnsw_result));
        uint32_t *b;
        if (!a)
            return HNSW_ENOMEM;
        c->sel = a;
        b = grow(c->tmp, sel, sizeof(uint32_t));
        if (!b)
            return HNSW_ENOMEM;
        c->tmp = b;
        b = grow(c->f1, sel, 1);
        if (!b)
            return HNSW_ENOMEM;
        c->f1 = (uint8_t *)b;
        b = grow(c->f2, sel, 1);
        if (!b)
            return HNSW_ENOMEM;
        c->f2 = (uint8_t *)b;
        atomic_fetch_add(&h->ctx_bytes, (size_t)(sel - c->selcap) * (sizeof(hnsw_result) + 6));
        c->selcap = sel;
    }
    return HNSW_OK;
}

static inline void visited_next(hnsw_ctx *c)
{
    if (++c->epoch == 0) {
        memset(c->visited, 0, c->vcap * sizeof(uint16_t));
        c->epoch = 1;
    }
}

/* Checks q (dimension, finite, non-zero), stores it normalised in c->qf
 * and, for int8 storage, quantised in c->qi. */
int hnsw_prepare_query(const hnsw *h, hnsw_ctx *c, const float *q, uint32_t dim)
{
    double ss = 0;
    float inv, maxabs = 0;
    if (dim != h->dim)
        return HNSW_EDIM;
    if (!q)
        return HNSW_EINVAL;
    for (uint32_t i = 0; i < dim; i++) {
        if (!isfinite(q[i]))
            return HNSW_EINVAL;
        ss += (double)q[i] * q[i];
    }
    if (!(ss > 0) || !isfinite(ss))
        return HNSW_EINVAL;
    inv = (float)(1.0 / sqrt(ss));
    for (uint32_t i = 0; i < dim; i++) {
        c->qf[i] = q[i] * inv;
        if (fabsf(c->qf[i]) > maxabs)
            maxabs = fabsf(c->qf[i]);
    }
    if (h->p.storage == HNSW_STORE_I8) {
        float s = 127.0f / maxabs;
        for (uint32_t i = 0; i < dim; i++) {
            long v = lrintf(c->qf[i] * s);
            c->qi[i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
        }
        c->qscale = maxabs / 127.0f;
    }
    return HNSW_OK;
}

/* --------------------------------------------------------------- search */

static inline uint32_t load_ep(const hnsw *h, int *level)
{
    *level = atomic_load_explicit(&h->maxlevel, memory_order_acquire);
    return atomic_load_explicit(&h->entry, memory_order_acquire);
}

/* Greedy ef=1 descent from (cur, *curd) through levels top..stop+1. */
static uint32_t greedy_descent(const hnsw *h, const hnsw_ctx *c, uint32_t cur, float *curd,
                               int top, int stop)
{
    for (int l = top; l > stop; l--) {
        int changed = 1;
        while (changed) {
            aword *blk = hnsw_links(h, cur, l);
            uint32_t n = atomic_load_explicit(&blk[0], memory_order_acquire);
            aword *ids = hnsw_link_ids(h, blk, l);
            changed = 0;
            for (uint32_t i = 0; i < n; i++) {
                uint32_t nb = atomic_load_explicit(&ids[i], memory_order_acquire);
                float d = dist_q(h, c, nb);
                if (d < *curd) {
                    *curd = d;
                    cur = nb;
                    changed = 1;
                }
            }
        }
    }
    return cur;
}

/* The frontier is bounded by the nodes visited, not by ef: grow it. */
static int cand_grow(hnsw_ctx *c)
{
    uint32_t ncap = c->cand.cap * 2;
    hnsw_result *a = grow(c->cand.a, ncap, sizeof(hnsw_result));
    if (!a)
        return -1;
    c->cand.a = a;
    c->cand.cap = ncap;
    return 0;
}

/* Beam search of width ef on level l from ep. Leaves the best <= ef nodes
 * in c->res (a max-heap). */
static void search_layer(const hnsw *h, hnsw_ctx *c, uint32_t ep, float epd, uint32_t ef, int l)
{
    uint16_t *vis = c->visited;
    uint16_t epoch;
    visited_next(c);
    epoch = c->epoch;
    c->cand.n = 0;
    c->res.n = 0;
    vis[ep] = epoch;
    heap_push_min(&c->cand, ep, epd);
    heap_push_max(&c->res, ep, epd);
    while (c->cand.n) {
        hnsw_result cur = c->cand.a[0];
        aword *blk, *ids;
        uint32_t n;
        if (cur.dist > c->res.a[0].dist && c->res.n >= ef)
            break;
        heap_pop_min(&c->cand);
        blk = hnsw_links(h, cur.id, l);
        n = atomic_load_explicit(&blk[0], memory_order_acquire);
        ids = hnsw_link_ids(h, blk, l);
        if (n)
            prefetch_vec(h, atomic_load_explicit(&ids[0], memory_order_relaxed));
        for (uint32_t i = 0; i < n; i++) {
            uint32_t nb = atomic_load_explicit(&ids[i], memory_order_acquire);
            float d;
            if (i + 1 < n) {
                uint32_t nx = atomic_load_explicit(&ids[i + 1], memory_order_relaxed);
                __builtin_prefetch(&vis[nx]);
                prefetch_vec(h, nx);
            }
            if (vis[nb] == epoch)
                continue;
            vis[nb] = epoch;
            d = dist_q(h, c, nb);
            if (c->res.n < ef || d < c->res.a[0].dist) {
                if (c->cand.n == c->cand.cap && cand_grow(c))
                    continue; /* out of memory: a narrower search */
                heap_push_min(&c->cand, nb, d);
                __builtin_prefetch(hnsw_links(h, nb, l));
                heap_push_max(&c->res, nb, d);
                if (c->res.n > ef)
                    heap_pop_max(&c->res);
            }
        }
    }
}

/* Copies c->res to c->sel sorted ascending; returns the count. */
static uint32_t res_sorted(hnsw_ctx *c)
{
    uint32_t n = c->res.n;
    memcpy(c->sel, c->res.a, n * sizeof(hnsw_result));
    if (n > 1)
        qsort(c->sel, n, sizeof(hnsw_result), cmp_result);
    return n;
}

/* The diversity heuristic: keeps candidate x (ascending order) unless an
 * already kept r is closer to x than the base is. cand[] sorted. Writes
 * the kept indexes into keep[] and returns how many (<= m). */
static uint32_t select_heuristic(const hnsw *h, const hnsw_result *cand, uint32_t n, uint32_t m,
                                 uint32_t *keep)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < n && kept < m; i++) {
        int good = 1;
        for (uint32_t j = 0; j < kept; j++) {
            if (dist_nn(h, cand[i].id, cand[keep[j]].id) < cand[i].dist) {
                good = 0;
                break;
            }
        }
        if (good)
            keep[kept++] = i;
    }
    return kept;
}

int hnsw_search(hnsw *h, const float *q, uint32_t dim, uint32_t k, uint32_t ef,
                hnsw_result *out)
{
    hnsw_ctx *c;
    int rc, top;
    uint32_t ep, n, want;
    size_t live;
    float epd;
    if (!h || (!out && k))
        return HNSW_EINVAL;
    c = hnsw_ctx_get(h);
    if (!c)
        return HNSW_ENOMEM;
    rc = hnsw_prepare_query(h, c, q, dim);
    if (rc || k == 0) {
        hnsw_ctx_put(h, c);
        return rc;
    }
    if (ef == 0)
        ef = h->p.ef_search;
    if (ef < k)
        ef = k;
    pthread_rwlock_rdlock(&h->rw);
    live = atomic_load(&h->count);
    ep = load_ep(h, &top);
    if (live <= h->exact_below || ep == HNSW_NO_ENTRY) {
        rc = hnsw_exact_locked(h, c, k, out);
        goto done;
    }
    rc = hnsw_ctx_reserve(h, c, ef);
    if (rc)
        goto done;
    epd = dist_q(h, c, ep);
    ep = greedy_descent(h, c, ep, &epd, top, 0);
    search_layer(h, c, ep, epd, ef, 0);
    n = res_sorted(c);
    if (h->p.rerank) {
        for (uint32_t i = 0; i < n; i++)
            c->sel[i].dist =
                1.0f - h->k->dot_f32(c->qf, h->vf + (size_t)c->sel[i].id * h->dim, h->dim);
        qsort(c->sel, n, sizeof(hnsw_result), cmp_result);
    }
    want = live < k ? (uint32_t)live : k;
    if (n < want) {
        /* A graph search can only come back short if part of the graph
         * is unreachable from the entry point (or still being linked):
         * the contract promises k results, so scan. */
        rc = hnsw_exact_locked(h, c, k, out);
        goto done;
    }
    memcpy(out, c->sel, want * sizeof(hnsw_result));
    rc = (int)want;
done:
    pthread_rwlock_unlock(&h->rw);
    hnsw_ctx_put(h, c);
    return rc;
}

int hnsw_search_exact(hnsw *h, const float *q, uint32_t dim, uint32_t k, hnsw_result *out)
{
    hnsw_ctx *c;
    int rc;
    if (!h || (!out && k))
        return HNSW_EINVAL;
    c = hnsw_ctx_get(h);
    if (!c)
        return HNSW_ENOMEM;
    rc = hnsw_prepare_query(h, c, q, dim);
    if (rc == 0 && k) {
        pthread_rwlock_rdlock(&h->rw);
        rc = hnsw_exact_locked(h, c, k, out);
        pthread_rwlock_unlock(&h->rw);
    }
    hnsw_ctx_put(h, c);
    return rc;
}

/* --------------------------------------------------------------- insert */

static uint32_t draw_level(hnsw *h)
{
    uint64_t z = (h->rng += 0x9E3779B97F4A7C15ULL);
    double u, lv;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    u = (double)(z >> 11) * (1.0 / 9007199254740992.0); /* [0, 1) */
    lv = -log(1.0 - u) * h->mL;
    return lv >= HNSW_MAX_LEVEL ? HNSW_MAX_LEVEL : (uint32_t)lv;
}

static inline pthread_mutex_t *node_lock(hnsw *h, uint32_t id)
{
    return &h->locks[id & (HNSW_NLOCKS - 1)];
}

/* Is x "needy": would it lose its only way in if base dropped it?
 * was_linked: base currently links to x. */
static int needy(const hnsw *h, uint32_t x, int l, int was_linked)
{
    uint32_t in = atomic_load_explicit(hnsw_indeg(h, x, l), memory_order_relaxed);
    return was_linked ? in <= 1 : in == 0;
}

/* Rewrites base's level-l list from cand[0..n) (sorted ascending by
 * distance to base; linked[i] says base links to cand[i] now): heuristic
 * selection of up to mmax, then each needy candidate left out replaces the
 * farthest kept one that is not needy. Updates in-degrees. Caller holds
 * base's link lock (or the write lock). */
static void relink(hnsw *h, hnsw_ctx *c, uint32_t base, int l, hnsw_result *cand, uint32_t n,
                   const uint8_t *linked, uint32_t mmax)
{
    uint32_t *keep = c->tmp;
    uint8_t *chosen = c->f2;
    uint32_t kept = select_heuristic(h, cand, n, mmax, keep);
    aword *blk = hnsw_links(h, base, l), *ids = hnsw_link_ids(h, blk, l);
    memset(chosen, 0, n);
    for (uint32_t i = 0; i < kept; i++)
        chosen[keep[i]] = 1;
    for (uint32_t i = 0; i < n; i++) {
        if (chosen[i] || !needy(h, cand[i].id, l, linked[i]))
            continue;
        if (kept < mmax) {
            chosen[i] = 1;
            keep[kept++] = i;
            continue;
        }
        for (uint32_t j = kept; j-- > 0;) {
            uint32_t y = keep[j];
            if (!needy(h, cand[y].id, l, linked[y]) && cand[y].dist > cand[i].dist) {
                chosen[y] = 0;
                chosen[i] = 1;
                keep[j] = i;
                break;
            }
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        if (linked[i] && !chosen[i])
            atomic_fetch_sub_explicit(hnsw_indeg(h, cand[i].id, l), 1, memory_order_relaxed);
        else if (!linked[i] && chosen[i])
            atomic_fetch_add_explicit(hnsw_indeg(h, cand[i].id, l), 1, memory_order_relaxed);
    }
    kept = 0;
    for (uint32_t i = 0; i < n; i++)
        if (chosen[i])
            atomic_store_explicit(&ids[kept++], cand[i].id, memory_order_release);
    atomic_store_explicit(&blk[0], kept, memory_order_release);
}

/* Adds the link base -> q at level l, pruning base's list if full. */
static void connect(hnsw *h, hnsw_ctx *c, uint32_t base, uint32_t q, int l)
{
    uint32_t mmax = l ? h->M : h->M0;
    pthread_mutex_t *mu = node_lock(h, base);
    aword *blk, *ids;
    uint32_t n;
    pthread_mutex_lock(mu);
    blk = hnsw_links(h, base, l);
    ids = hnsw_link_ids(h, blk, l);
    n = atomic_load_explicit(&blk[0], memory_order_relaxed);
    for (uint32_t i = 0; i < n; i++)
        if (atomic_load_explicit(&ids[i], memory_order_relaxed) == q)
            goto out;
    if (n < mmax) {
        atomic_store_explicit(&ids[n], q, memory_order_release);
        atomic_store_explicit(&blk[0], n + 1, memory_order_release);
        atomic_fetch_add_explicit(hnsw_indeg(h, q, l), 1, memory_order_relaxed);
    } else {
        uint8_t *linked = c->f1;
        hnsw_result *cand = c->sel + c->selcap / 2; /* sel[0..m) holds the caller's list */
        for (uint32_t i = 0; i < n; i++) {
            cand[i].id = atomic_load_explicit(&ids[i], memory_order_relaxed);
            cand[i].dist = dist_nn(h, base, cand[i].id);
        }
        cand[n].id = q;
        cand[n].dist = dist_nn(h, base, q);
        sort_results(cand, n + 1);
        for (uint32_t i = 0; i <= n; i++)
            linked[i] = cand[i].id != q;
        relink(h, c, base, l, cand, n + 1, linked, mmax);
    }
out:
    pthread_mutex_unlock(mu);
}

/* Phase 1 of an insert, under the write lock: a slot, a level, the
 * vector. The node is PENDING: stored, counted, not linked. */
static int insert_store(hnsw *h, hnsw_ctx *c, uint32_t *id_out, uint32_t *level_out)
{
    uint32_t id, level;
    size_t d = h->dim;
    if (h->nfree) {
        id = h->freeids[--h->nfree];
    } else {
        if (h->nslots == UINT32_MAX - 1)
            return HNSW_ENOMEM;
        if (h->nslots == h->cap) {
            uint64_t ncap = h->cap < 64 ? 64 : (uint64_t)h->cap + h->cap / 2;
            int rc;
            if (ncap > UINT32_MAX - 1)
                ncap = UINT32_MAX - 1;
            rc = hnsw_alloc_slots(h, (uint32_t)ncap);
            if (rc)
                return rc;
        }
        id = h->nslots++;
    }
    level = draw_level(h);
    if (level > 0) {
        size_t bytes = (size_t)level * h->ustride * sizeof(aword);
        aword *u = calloc(1, bytes);
        if (!u) {
            h->freeids[h->nfree++] = id; /* slot stays free */
            return HNSW_ENOMEM;
        }
        h->upper[id] = u;
        atomic_fetch_add(&h->upper_bytes, bytes);
    }
    if (h->vf)
        memcpy(h->vf + id * d, c->qf, d * sizeof(float));
    if (h->vi) {
        memcpy(h->vi + id * d, c->qi, d);
        h->vscale[id] = c->qscale;
    }
    atomic_store_explicit(&h->links0[(size_t)id * h->stride0], 0, memory_order_relaxed);
    atomic_store_explicit(&h->indeg0[id], 0, memory_order_relaxed);
    atomic_store_explicit(&h->state[id], (uint8_t)(level | ST_PENDING), memory_order_release);
    atomic_fetch_add(&h->count, 1);
    *id_out = id;
    *level_out = level;
    return HNSW_OK;
}

/* Phase 2, under the read lock: link node id of level `level`. */
static int insert_link(hnsw *h, hnsw_ctx *c, uint32_t id, uint32_t level)
{
    int top, hold_ep = 0, rc;
    uint32_t ep;
    float epd;
    rc = hnsw_ctx_reserve(h, c, h->p.ef_construction);
    if (rc)
        return rc;
    if ((int)level > atomic_load_explicit(&h->maxlevel, memory_order_acquire)) {
        pthread_mutex_lock(&h->ep_lock);
        hold_ep = 1;
    }
    ep = load_ep(h, &top);
    if (ep == HNSW_NO_ENTRY) {
        atomic_store_explicit(&h->maxlevel, (int)level, memory_order_release);
        atomic_store_explicit(&h->entry, id, memory_order_release);
        goto out;
    }
    epd = dist_q(h, c, ep);
    ep = greedy_descent(h, c, ep, &epd, top, (int)level);
    for (int l = (int)level < top ? (int)level : top; l >= 0; l--) {
        uint32_t n, kept, *keep = c->tmp;
        aword *blk = hnsw_links(h, id, l), *ids = hnsw_link_ids(h, blk, l);
        search_layer(h, c, ep, epd, h->p.ef_construction, l);
        n = res_sorted(c);
        ep = c->sel[0].id;
        epd = c->sel[0].dist;
        kept = select_heuristic(h, c->sel, n, h->M, keep);
        /* keep[] indexes sel[]; compact sel to the kept ones. */
        for (uint32_t i = 0; i < kept; i++)
            c->sel[i] = c->sel[keep[i]];
        pthread_mutex_lock(node_lock(h, id));
        for (uint32_t i = 0; i < kept; i++) {
            atomic_store_explicit(&ids[i], c->sel[i].id, memory_order_release);
            atomic_fetch_add_explicit(hnsw_indeg(h, c->sel[i].id, l), 1, memory_order_relaxed);
        }
        atomic_store_explicit(&blk[0], kept, memory_order_release);
        pthread_mutex_unlock(node_lock(h, id));
        for (uint32_t i = 0; i < kept; i++)
            connect(h, c, c->sel[i].id, id, l);
    }
    if (hold_ep && (int)level > top) {
        atomic_store_explicit(&h->entry, id, memory_order_release);
        atomic_store_explicit(&h->maxlevel, (int)level, memory_order_release);
    }
out:
    atomic_store_explicit(&h->state[id], (uint8_t)level, memory_order_release);
    if (hold_ep)
        pthread_mutex_unlock(&h->ep_lock);
    return HNSW_OK;
}

int hnsw_insert(hnsw *h, const float *vec, uint32_t dim, uint32_t *id_out)
{
    hnsw_ctx *c;
    uint32_t id, level;
    int rc;
    if (!h || !id_out)
        return HNSW_EINVAL;
    c = hnsw_ctx_get(h);
    if (!c)
        return HNSW_ENOMEM;
    rc = hnsw_prepare_query(h, c, vec, dim);
    if (rc)
        goto out;
    pthread_rwlock_wrlock(&h->rw);
    rc = insert_store(h, c, &id, &level);
    pthread_rwlock_unlock(&h->rw);
    if (rc)
        goto out;
    pthread_rwlock_rdlock(&h->rw);
    rc = insert_link(h, c, id, level);
    pthread_rwlock_unlock(&h->rw);
    if (rc) {
        /* Out of memory for the search scratch: the node is stored but
         * unlinked; remove it so nothing half-inserted stays. */
        pthread_rwlock_wrlock(&h->rw);
        atomic_store(&h->state[id], (uint8_t)level);
        pthread_rwlock_unlock(&h->rw);
        hnsw_delete(h, id);
        goto out;
    }
    *id_out = id;
out:
    hnsw_ctx_put(h, c);
    return rc;
}

/* --------------------------------------------------------------- delete */

static inline int node_level(const hnsw *h, uint32_t id)
{
    uint8_t s = atomic_load_explicit(&h->state[id], memory_order_acquire);
    return s == ST_FREE ? -1 : (int)(s & ST_LEVEL_MASK);
}

static int links_contain_n(aword *ids, uint32_t cnt, uint32_t x)
{
    for (uint32_t i = 0; i < cnt; i++)
        if (atomic_load_explicit(&ids[i], memory_order_relaxed) == x)
            return 1;
    return 0;
}

static int links_contain(const hnsw *h, uint32_t n, int l, uint32_t x)
{
    aword *blk = hnsw_links(h, n, l), *ids = hnsw_link_ids(h, blk, l);
    uint32_t cnt = atomic_load_explicit(&blk[0], memory_order_relaxed);
    for (uint32_t i = 0; i < cnt; i++)
        if (atomic_load_explicit(&ids[i], memory_order_relaxed) == x)
            return 1;
    return 0;
}

/* The rest of d's in-links at level l, by scanning every list. Level 0
 * scans the link slab as plain words (the caller holds the write lock, so
 * nothing writes it concurrently; the compiler vectorises the compare):
 * measured ~1 ms per 100k nodes (13 MB) on this machine. */
static uint32_t inlinks_scan(hnsw *h, hnsw_ctx *c, uint32_t d, int l, uint32_t *in,
                             uint32_t found, uint32_t need)
{
    uint16_t ep = c->epoch;
    if (l == 0) {
        const uint32_t *w = (const uint32_t *)h->links0;
        size_t total = (size_t)h->nslots * h->stride0;
        for (size_t i = 0; i < total && found < need; i++) {
            uint32_t y, pos;
            if (w[i] != d)
                continue;
            y = (uint32_t)(i / h->stride0);
            pos = (uint32_t)(i % h->stride0);
            /* a link (not the count word), within the count, live node */
            if (pos == 0 || pos > w[(size_t)y * h->stride0] || y == d ||
                c->visited[y] == ep || node_level(h, y) < 0)
                continue;
            c->visited[y] = ep;
            in[found++] = y;
        }
        return found;
    }
    for (uint32_t y = 0; y < h->nslots && found < need; y++) {
        if (y == d || c->visited[y] == ep || node_level(h, y) < l)
            continue;
        if (links_contain(h, y, l, d))
            in[found++] = y;
    }
    return found;
}

/* The nodes linking to d at level l, into in[] (capacity cap). 2 hops
 * around d (dout[0..n): its out-links) first, then a scan if the in-degree says some are missing.
 * in[] has room for need entries. */
static uint32_t find_inlinks(hnsw *h, hnsw_ctx *c, uint32_t d, int l, const uint32_t *dout,
                             uint32_t n, uint32_t *in, uint32_t need)
{
    uint32_t found = 0;
    uint16_t ep;
    if (need == 0)
        return 0;
    visited_next(c);
    ep = c->epoch;
    c->visited[d] = ep;
    for (uint32_t i = 0; i < n && found < need; i++) {
        uint32_t x = dout[i];
        aword *xb = hnsw_links(h, x, l), *xi = hnsw_link_ids(h, xb, l);
        uint32_t xn = atomic_load_explicit(&xb[0], memory_order_relaxed);
        if (c->visited[x] != ep) {
            c->visited[x] = ep;
            if (links_contain(h, x, l, d))
                in[found++] = x;
        }
        for (uint32_t j = 0; j < xn && found < need; j++) {
            uint32_t y = atomic_load_explicit(&xi[j], memory_order_relaxed);
            if (c->visited[y] == ep)
                continue;
            c->visited[y] = ep;
            if (links_contain(h, y, l, d))
                in[found++] = y;
        }
    }
    if (found < need) {
        atomic_fetch_add(&h->stat_inlink_scans, 1);
        found = inlinks_scan(h, c, d, l, in, found, need);
    }
    return found;
}

/* Repairs node n at level l after d (whose out-links are dout[0..dn))
 * is removed. n keeps its other links (re-running the heuristic over all
 * of them would prune the non-diverse back links that fill lists during
 * construction, and measured recall after churn fell 4 points at ef 16);
 * d's slot goes to the nearest of d's out-links that passes the diversity
 * test against n's remaining links, or failing that the nearest one. */
static void repair_node(hnsw *h, hnsw_ctx *c, uint32_t n, uint32_t d, int l, const uint32_t *dout,
                        uint32_t dn)
{
    aword *blk = hnsw_links(h, n, l), *ids = hnsw_link_ids(h, blk, l);
    uint32_t cnt = atomic_load_explicit(&blk[0], memory_order_relaxed), m = 0, w = 0;
    hnsw_result *cand = c->sel;
    uint32_t pick = HNSW_NO_ENTRY;
    for (uint32_t i = 0; i < cnt; i++) {
        uint32_t x = atomic_load_explicit(&ids[i], memory_order_relaxed);
        if (x == d)
            atomic_fetch_sub_explicit(hnsw_indeg(h, d, l), 1, memory_order_relaxed);
        else
            atomic_store_explicit(&ids[w++], x, memory_order_relaxed);
    }
    cnt = w;
    for (uint32_t i = 0; i < dn; i++) {
        uint32_t x = dout[i];
        if (x == n || links_contain_n(ids, cnt, x))
            continue;
        cand[m].id = x;
        cand[m].dist = dist_nn(h, n, x);
        m++;
    }
    sort_results(cand, m);
    for (uint32_t i = 0; i < m && pick == HNSW_NO_ENTRY; i++) {
        int good = 1;
        for (uint32_t j = 0; j < cnt && good; j++)
            if (dist_nn(h, cand[i].id, atomic_load_explicit(&ids[j], memory_order_relaxed)) <
                cand[i].dist)
                good = 0;
        if (good)
            pick = cand[i].id;
    }
    if (pick == HNSW_NO_ENTRY && m)
        pick = cand[0].id;
    if (pick != HNSW_NO_ENTRY) {
        atomic_store_explicit(&ids[cnt++], pick, memory_order_relaxed);
        atomic_fetch_add_explicit(hnsw_indeg(h, pick, l), 1, memory_order_relaxed);
    }
    atomic_store_explicit(&blk[0], cnt, memory_order_release);
}

/* Links x (left with no in-link at level l) from its nearest node among
 * near[0..nn) that lives at level l. */
static void adopt_orphan(hnsw *h, hnsw_ctx *c, uint32_t x, int l, const uint32_t *near, uint32_t nn)
{
    uint32_t best = HNSW_NO_ENTRY;
    float bd = 3.0f;
    for (uint32_t i = 0; i < nn; i++) {
        float dd;
        if (near[i] == x || node_level(h, near[i]) < l)
            continue;
        dd = dist_nn(h, x, near[i]);
        if (dd < bd) {
            bd = dd;
            best = near[i];
        }
    }
    if (best != HNSW_NO_ENTRY)
        connect(h, c, best, x, l);
}

/* Picks the new entry point: the lowest id with the highest level. */
static void reselect_entry(hnsw *h)
{
    int best = -1;
    uint32_t id = HNSW_NO_ENTRY;
    for (uint32_t i = 0; i < h->nslots; i++) {
        uint8_t s = atomic_load_explicit(&h->state[i], memory_order_relaxed);
        if (s == ST_FREE || (s & ST_PENDING))
            continue;
        if ((int)s > best) {
            best = s;
            id = i;
            if (best == HNSW_MAX_LEVEL)
                break;
        }
    }
    atomic_store_explicit(&h->entry, id, memory_order_release);
    atomic_store_explicit(&h->maxlevel, best, memory_order_release);
}

static int delete_locked(hnsw *h, hnsw_ctx *c, uint32_t id)
{
    int L;
    uint8_t s;
    uint32_t *dout, *in, *near, maxin;
    if (id >= h->nslots)
        return HNSW_ENOENT;
    s = atomic_load(&h->state[id]);
    if (s == ST_FREE || (s & ST_PENDING))
        return HNSW_ENOENT;
    L = s;
    if (hnsw_ctx_reserve(h, c, h->p.ef_construction))
        return HNSW_ENOMEM;
    /* Scratch: d's out-links, its nearest in-links, all its in-links. */
    maxin = 0;
    for (int l = 0; l <= L; l++) {
        uint32_t v = atomic_load(hnsw_indeg(h, id, l));
        maxin = v > maxin ? v : maxin;
    }
    dout = malloc(((size_t)(h->M0 + 1) * 2 + maxin) * sizeof(uint32_t));
    if (!dout)
        return HNSW_ENOMEM;
    near = dout + h->M0 + 1;
    in = near + h->M0 + 1;
    for (int l = 0; l <= L; l++) {
        aword *blk = hnsw_links(h, id, l), *ids = hnsw_link_ids(h, blk, l);
        uint32_t dn = atomic_load(&blk[0]), need = atomic_load(hnsw_indeg(h, id, l)), nin, nnear;
        for (uint32_t i = 0; i < dn; i++) {
            dout[i] = atomic_load(&ids[i]);
            atomic_fetch_sub(hnsw_indeg(h, dout[i], l), 1);
        }
        atomic_store(&blk[0], 0);
        nin = find_inlinks(h, c, id, l, dout, dn, in, need);
        for (uint32_t i = 0; i < nin; i++)
            repair_node(h, c, in[i], id, l, dout, dn);
        /* Orphans: d's out-neighbours nobody links to any more. */
        nnear = 0;
        for (uint32_t i = 0; i < nin && nnear < h->M0 + 1; i++)
            near[nnear++] = in[i];
        for (uint32_t i = 0; i < dn; i++) {
            if (atomic_load(hnsw_indeg(h, dout[i], l)) != 0)
                continue;
            adopt_orphan(h, c, dout[i], l, near, nnear);
            if (atomic_load(hnsw_indeg(h, dout[i], l)) == 0)
                adopt_orphan(h, c, dout[i], l, dout, dn);
        }
    }
    free(dout);
    atomic_store(&h->state[id], ST_FREE);
    if (h->upper[id]) {
        atomic_fetch_sub(&h->upper_bytes, (size_t)L * h->ustride * sizeof(aword));
        free(h->upper[id]);
        h->upper[id] = NULL;
    }
    h->freeids[h->nfree++] = id;
    atomic_fetch_sub(&h->count, 1);
    if (atomic_load(&h->entry) == id)
        reselect_entry(h);
    return HNSW_OK;
}

int hnsw_delete(hnsw *h, uint32_t id)
{
    hnsw_ctx *c;
    int rc;
    if (!h)
        return HNSW_EINVAL;
    c = hnsw_ctx_get(h);
    if (!c)
        return HNSW_ENOMEM;
    pthread_rwlock_wrlock(&h->rw);
    rc = delete_locked(h, c, id);
    pthread_rwlock_unlock(&h->rw);
    hnsw_ctx_put(h, c);
    return rc;
}

/* ------------------------------------------------------------ accessors */

size_t hnsw_count(const hnsw *h)
{
    return h ? atomic_load(&h->count) : 0;
}

uint32_t hnsw_dim(const hnsw *h)
{
    return h ? h->dim : 0;
}

int hnsw_contains(const hnsw *h, uint32_t id)
{
    uint8_t s;
    hnsw *m = (hnsw *)h;
    int r = 0;
    if (!h)
        return 0;
    pthread_rwlock_rdlock(&m->rw);
    if (id < h->nslots) {
        s = atomic_load(&h->state[id]);
        r = s != ST_FREE && !(s & ST_PENDING);
    }
    pthread_rwlock_unlock(&m->rw);
    return r;
}

int hnsw_get_vector(const hnsw *h, uint32_t id, float *out)
{
    hnsw *m = (hnsw *)h;
    int rc = HNSW_OK;
    uint8_t s;
    if (!h || !out)
        return HNSW_EINVAL;
    pthread_rwlock_rdlock(&m->rw);
    s = id < h->nslots ? atomic_load(&h->state[id]) : ST_FREE;
    if (s == ST_FREE || (s & ST_PENDING)) {
        rc = HNSW_ENOENT;
    } else if (h->vf) {
        memcpy(out, h->vf + (size_t)id * h->dim, h->dim * sizeof(float));
    } else {
        for (uint32_t i = 0; i < h->dim; i++)
            out[i] = h->vi[(size_t)id * h->dim + i] * h->vscale[id];
    }
    pthread_rwlock_unlock(&m->rw);
    return rc;
}

size_t hnsw_memory_bytes(const hnsw *h)
{
    size_t per, b;
    if (!h)
        return 0;
    per = 1 + (size_t)h->stride0 * 4 + 4 + sizeof(aword *) + 4;
    if (h->vf)
        per += (size_t)h->dim * 4;
    if (h->vi)
        per += (size_t)h->dim + 4;
    b = sizeof(*h) + per * h->cap;
    b += atomic_load(&((hnsw *)h)->upper_bytes);
    b += atomic_load(&((hnsw *)h)->ctx_bytes);
    return b;
}

void hnsw_set_exact_threshold(hnsw *h, uint32_t n)
{
    if (!h)
        return;
    pthread_rwlock_wrlock(&h->rw);
    h->exact_below = n;
    pthread_rwlock_unlock(&h->rw);
}

uint64_t hnsw_stat_inlink_scans(const hnsw *h)
{
    return h ? atomic_load(&((hnsw *)h)->stat_inlink_scans) : 0;
}
