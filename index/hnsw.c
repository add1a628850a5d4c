/* hnsw.c -- Hierarchical Navigable Small World graph (Malkov & Yashunin)
 * for cosine similarity, with true deletion and concurrent readers.
 *
 * Design decisions:
 *
 * 1. Memory layout: one fixed-size record per node for level 0, as
 *    hnswlib does (hnsw_int.h): float32 [vector | link count, 2M link ids]
 *    padded to 64 bytes so every vector is 64-byte aligned (unaligned
 *    records measured 260-338 us/query against 215-243 aligned, ann-probe
 *    100k x 384 ef 24, alternating runs at load average ~10); int8
 *    [link count, 2M ids | scale | vector], unpadded (the 570 B budget). A
 *    search pays for one record per node it touches: the vector when it
 *    scores the node, and, if it later expands the node, the link words
 *    next to that vector, usually still cached. (Separate vector and link slabs
 *    cost two unrelated misses per expanded node: measured 0.85x hnswlib
 *    single-thread QPS at 100k x 384 f32 with separate slabs.) Upper levels
 *    live in a small per-node block only for the ~1/M nodes that have
 *    them. No per-node malloc, no pointers between nodes. The record slab
 *    is its own anonymous mapping, grown by mremap (pages move, nothing is
 *    copied) and from 128 MB on marked MADV_HUGEPAGE: a 100k x 384 float32
 *    slab is 173 MB, 42k 4 KB pages, and a search touches ~600 records at
 *    random. (The gain measured small, ~2%, and the partly used last huge
 *    page costs up to 2 MB, hence the threshold: slab_resize.) At d=384, M=16 the bytes per vector are
 *    520 (int8 record: 132 links + 4 scale + 384) + 4 (in-degree) + 1
 *    (state) + 8 (upper pointer) + 4 (free-id stack) + ~5 (upper blocks)
 *    + 4 (tree parent, design 3) ~= 546 for int8 (test_hnsw measures
 *    it with the search scratch), +768 with the float16 re-rank copies
 *    (default for int8), +1536 with float32 copies instead; float32
 *    storage 1728 + 388 (int8 construction codes, design 9) + ~26 =
 *    ~2144 (hnswlib: ~4 d + 132 + label + 40 B mutex).
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
 * 3. True deletion. Links are directed, so to delete d the index must
 *    find the nodes that link to d: every node keeps its in-degree per
 *    level (one atomic counter, 4 bytes), and the search stops as soon as
 *    that many are found: first among d's out-neighbours and theirs (2
 *    hops), then by scanning the level (level 0: the link words of every
 *    record as plain words, which gcc vectorises). Measured on clustered data the 2 hops
 *    suffice for only ~15% of deletes: the rest of the in-links are long
 *    "diverse" links from other clusters, so a single hnsw_delete costs a
 *    scan of the first 132 bytes of every record at M=16 (a strided read
 *    since design 1 put the vectors between them: slower than the former
 *    contiguous link slab; the batch delete amortises it). hnsw_delete_batch does
 *    one scan per batch instead (2.7x the delete rate at 20k x 64 with
 *    batches of 256; more as N grows). Reverse-link lists would avoid the
 *    scan but cost ~80 bytes per vector, which breaks the int8 budget.
 *    Each node n that linked to d keeps its other links and gets one
 *    replacement: the nearest of d's out-links that passes the diversity
 *    test against n's remaining links, else the nearest one. (Re-running
 *    the heuristic over all of n's links, as hnswlib's update repair does,
 *    prunes the non-diverse back links that fill lists during
 *    construction: measured recall@10 at ef 16 after 3x churn fell from
 *    0.963 to 0.919; with the refill it stays at 0.963.) The old in-degree
 *    rule still steers pruning (a node with no other in-link keeps its
 *    link), and d's out-neighbours left with in-degree 0 are linked from
 *    their nearest surviving neighbour. If the entry point is deleted,
 *    the lowest id on the highest remaining level replaces it. The slot
 *    is freed at once (see 4).
 *
 *    Reachability: a spanning tree per level. Every node of level >= l
 *    has a parent at level l (parent0[], and one word per upper level at
 *    the end of its upper block: 4 bytes per vector), a node whose list
 *    links to it, and the parents lead to the entry point, the root. A
 *    tree link is never pruned (relink places the children first), so
 *    every node stays reachable from the entry point on every level by
 *    construction, not by a check. The in-degree rule alone broke three
 *    ways (issue 3; all found by checking reachability after every
 *    mutation, test_hnsw_reach reproduces the single-threaded two): (a)
 *    an insert's back link re-prunes b's full list and drops b -> x where
 *    x's other in-link comes from y and y's only one from x: the 2-cycle
 *    {x, y} is cut off (in-degree counts links, not ways in); (b) a single
 *    delete of b whose repair leaves such a cycle, never re-checked at
 *    level 0; (c) two inserters pruning different lists under different
 *    link locks, each seeing x's in-degree 2, each dropping its link to
 *    x. The tree makes the decision local and race-free: parent[x] == b
 *    changes from b only under b's own link lock or the write lock.
 *    Parents are set when a node is first linked (tree_adopt: the first
 *    base that keeps it; an insert whose selected neighbours all had
 *    lists full of children gets a forced link from one of theirs,
 *    adopt_new_node); a new entry point becomes the root and links to the
 *    old root as its child; a single delete orphans d's children and
 *    re-attaches each to a rooted node that already links to it among the
 *    nodes the repair touched, or by a forced link from the nearest rooted
 *    node a search finds (hnsw_delete.c; a subtree comes along with its
 *    root, and a chain that meets an orphan is not rooted, so no cycle
 *    forms). Rebuilt by BFS wherever the code already runs one: upper
 *    levels after deleting an upper-level node, every level after an
 *    entry-point change or a batch delete, and at load (the trees are not
 *    saved). Rejected: a level-0 BFS after every single delete (O(N M)
 *    random reads per delete, where the in-link scan reads the same words
 *    in address order); reverse-link lists (~80 B per vector, design 1's
 *    budget).
 *
 * 4. Concurrency. A reader-writer lock `rw` plus striped link mutexes.
 *    - Searches hold the read side for their whole duration.
 *    - Inserts store the vector under the write side (briefly: allocate
 *      the id, grow arrays, draw the level, copy the vector), then link it
 *      under the read side, concurrently with searches and other inserts,
 *      taking one link mutex at a time (never two: no lock order) to
 *      append or prune a neighbour list. Pruning never drops a tree link
 *      (design 3), the one pruning decision that must be exact; the
 *      in-degree counters that also steer it may be stale under
 *      concurrent inserts, which only costs a less diverse list. An
 *      insert that raises the top level also holds ep_lock for its
 *      linking phase (as hnswlib does).
 *    - Deletes take the write side: no search or insert runs, so the slot
 *      can be freed and reused immediately; no searcher can hold its id.
 *    Link words and counts are C11 atomics (release stores by writers,
 *    acquire loads by readers: plain moves on x86), so a searcher that
 *    follows a fresh link also sees the vector stored before it. A reader
 *    may see a list mid-prune: every id in it is a live node either way.
 *    The read side stays on the search path: on one thread it is two atomic
 *    read-modify-writes per search (tens of ns against a search of tens of
 *    us), and dropping it needs deferred reclamation of deleted slots
 *    (rejected below).
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
 *    quantised the same way for graph traversal. Re-rank (hnsw_params
 *    .rerank) re-scores the final ef candidates against a copy kept outside
 *    the records (only ef rows are read per search): float16 by default
 *    (2 d bytes; the rounding error, ~2^-11 relative per element, moves a
 *    distance by ~1e-4, far below the gaps that decide a top 10: test_hnsw
 *    checks the top 10 agree with float32 copies), float32 as an option
 *    (4 d bytes), or none (ranks by the int8 distance). The graph itself
 *    is built on int8 distances in every case.
 *
 * 7. Small indexes are searched exactly (a flat sgemv scan): below
 *    exact_below live vectors that is faster than the graph and exact.
 *    Float32 indexes with int8 codes (design 9) scan the codes and
 *    re-score the best 4k in float32 instead, up to 2,560 vectors or the
 *    float rule, whichever is more (design 10).
 *
 * 8. BIN storage (Redis 8's VADD ... BIN): one sign bit per dimension in
 *    uint64 words inside the level-0 record (after the links, 8-byte
 *    aligned), the query packed the same way, dist = 2 hamming / dim
 *    through the dispatched hamming_u64 kernel. No re-rank copy: like
 *    Redis, the graph, the results and the scores are all Hamming based
 *    (the point of BIN is the memory: 184 B of record at d=384 against 520
 *    for int8). Its beam search is a separate function (search_layer_bin)
 *    so the float32/int8 specialisation above stays as it is. Distances
 *    are multiples of 2/dim, so many candidates tie; ties keep heap
 *    order, and recall is measured tie-aware (test_hnsw_bin.c).
 *
 * 9. Traversal cost. int8 distances in the beam come from hnsw_qdot.c:
 *    the query is prepared once (its codes + 128 as unsigned bytes) and
 *    one call scores all unvisited neighbours of an expanded node with
 *    VNNI (exact: the same int32 as dot_i8, so the same graph). Before a
 *    batch is scored every cache line its distances read is prefetched
 *    (prefetch_range), so the misses of up to 2M records overlap. A
 *    float32 index of dim >= HNSW_CODES_MIN_DIM also keeps int8 codes of
 *    every vector (cq, d bytes, and its scale and code sum in cm: +23% at d = 384;
 *    cq is page aligned and the scale apart, so a code at d = 256 is exactly
 *    4 cache lines, not 5: pool CPU per distinct semantic hit 23.3 vs
 *    24.3 us, server 35.1 vs 36.2 us, cache_bench --base, 2 rounds,
 *    100k): an insert's
 *    ef_construction beam runs on them (a quarter of the bytes per node,
 *    so a 20k x 384 index's beam fits the L3 where the float32 records do
 *    not), then the 2 M0 nearest of its ef_construction results are
 *    re-scored in float32 (the rest keep int8 distances: selection keeps
 *    M and rarely looks past 2 M0; re-scoring all 200 was random float32
 *    reads: churned inserts 2,620-3,003/s -> 4,589-5,222/s, recall after
 *    churn unchanged, ann-probe --churn 1 at 20k x 384, 2 alternating
 *    pairs, load 5-8), and neighbour selection and pruning stay float32. Searches on level 0
 *    do the same with ef: traverse the codes, re-score the ef results
 *    from the float32 records (the returned distances are float32). Same
 *    saved 100k x 384 graph, ann-probe ef 24: recall@10 0.9765 -> 0.9764,
 *    best of 3 passes ~57 -> ~27 us/query (load ~13, so rough). Upper
 *    levels stay float32 (a few dozen distances). The codes are derived
 *    data: not saved, rebuilt by hnsw_load. hnsw_params.codes = 0 turns
 *    them off (float32 records only: the least memory, ~1,756 B/vector at
 *    d = 384 against hnswlib's ~1,810; the header's flags word keeps the
 *    choice across save/load).
 *
 * 10. Sparse vectors and the small-set scan. The built-in embedder's
 *    hashed lexical vectors are nearly orthogonal between unrelated
 *    prompts: a group of similar prompts sits at almost the same distance
 *    from every query, and the level-0 beam stops on that plateau before
 *    it reaches an older entry (hnsw-island-probe 2000 512: 2 of 3 FAQ
 *    prompts asked back not in their own top 10, validator ok). On cache
 *    traffic (sparse-recall: 964 GPTCache origins stored first, 864
 *    meancache questions, N prompts generated from their words; the 999
 *    paraphrases asked, ef 100) the graph's first result is the exact
 *    first for 1.000 / 1.000 / 0.998 / 0.981 of queries at 1,828 / 3,828
 *    / 6,828 / 21,828 vectors (0.991 at 21,828 with the origins shuffled
 *    in; 0.999 at ef 400). Tried and measured without effect: a level-1
 *    beam of 16 whose results all seed level 0 (0.981 -> 0.983 at 21,828,
 *    and slower); the previous helper found the same for a higher EF and
 *    Vamana's relaxed pruning on the templated data. What is kept: small
 *    float32 indexes scan their int8 codes (hnsw_exact.c design 3, a
 *    quarter of the sgemv scan's bytes, 2.2-5x faster than it) and
 *    re-score the best max(4k, 40) in float32 (r@1 1.000 at every N
 *    above), up to HNSW_SCAN_CODES_BELOW vectors, where that scan costs
 *    what the graph does at ef 100 (the cache's and VSIM's default). Dense
 *    control (sparse-recall --dense 1, d 384, ef 100): scan 24 us, graph
 *    37, sgemv 38 at 1,828 vectors, recall 1.000 for all three. At ef 24
 *    the graph is cheaper (9 us against 24 at 1,828, d 384): the
 *    threshold is set for ef 100, as the float rule before it was. Above
 *    it the graph's gap stays (a namespace can raise its threshold:
 *    CACHE.CREATE ... EXACT-BELOW).
 *
 * 11. Re-score only what the top k needs. The level-0 beam ranks its ef
 *    results by int8 distance; only the first max(2k, RESCORE_MIN) of
 *    them are re-scored at full precision (float32 records, or the I8
 *    re-rank copies) and re-sorted, the rest keep their int8 distances
 *    behind them. Re-scoring all ef was ef random 2 KB reads at d = 512:
 *    dot_f32 was 7.6% of the server's samples for a cached semantic hit
 *    (100k entries, EF 64, k 10). The int8 error moves a distance by far
 *    less than the gap between rank 10 and rank 20: cache-recall (100k
 *    synthetic prompts and the paraphrase pairs, EF 24-64, f32 and int8)
 *    gave the same recall@1 and top-1-in-10 to four digits, ann-bench
 *    100k x 384 ef 24 the same recall@10 (0.9759).
 *
 * 12. A search of a float32 index with codes also descends the upper
 *    levels on the codes (descent_codes; the insert keeps its float32
 *    descent): with distinct queries at 100k x 512 the float32 upper-level
 *    distances were cold 2 KB reads, part of dot_f32's 12% of server
 *    samples; a code record is 516 B and the batch scorer takes a whole
 *    list per call. Only the level-0 entry point can change, and the
 *    level-0 beam from it decides the results.
 *
 * 13. 4-bit codes (hnsw_params.codes = HNSW_CODES_I4; the cache
 *    namespaces' default). A search at 100k x 256 scores ~830 codes, and
 *    perf on the server under distinct queries put most of beam_sorted's
 *    samples on the prefetch instructions themselves: the misses in
 *    flight were the limit, not arithmetic. A 4-bit code halves them (a
 *    code at d = 256 is 2 lines, 12.8 MB at 100k instead of 25.6 MB,
 *    against a 32 MB L3). The query stays int8; a stored code is packed by
 *    hnsw_pack4 (hnsw_qdot.c design 4) with a least-squares scale, so the
 *    distance is still 1 - q.c * qscale * scale. Coarser codes rank
 *    coarsely, so the search re-scores all ef results in float32, not
 *    max(2k, 16) (design 11): with the cut, recall@10 at ef 64 on the
 *    clustered d = 96 unit-test set stopped at 0.98 against the float32
 *    beam's 1.000; with all ef re-scored it is 1.000, and 0.995 against
 *    0.9985 at ef 32. At ef 16 the beam itself is too narrow for them
 *    (0.920 against 0.969), so 4-bit codes are for ef >= 2k or so: the
 *    cache searches at EF 32 for k 10, and vector sets keep int8 codes.
 *    On the cache's own data (sparse-recall --decide 8 100000) the
 *    decisions match int8 codes' (0.986 against 0.984 of the exact scan's
 *    paraphrase decisions, 605 (601 correct) hits both), and the graph
 *    search is 15.3-15.7 against 17.3-17.7 us, one thread; the server
 *    figures are in the README ("4-bit codes"). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#include "index/hnsw.h"
#include "index/hnsw_int.h"

/* hnsw_search scans exactly while live count x dim <= this many floats
 * (2 MB of float32). Measured with 2,000 queries, k=10, ef 100: at d=128
 * the scan is 1.65x faster than the graph at 4,096 vectors and 0.68x at
 * 8,192; at d=384 (int8 + re-rank, scan over the float32 copies) 1.11x at
 * 1,024 and 0.82x at 2,048. Both cross near 600k floats; 2^19 sits just
 * below. int8 without re-rank scans with a plain loop: half of that. */
#define HNSW_EXACT_FLOATS (1u << 19)
/* A float32 index with codes scans its int8 codes instead (hnsw_exact.c
 * design 3) while live count <= max(this, HNSW_EXACT_FLOATS / dim): the
 * crossover with the graph measured ~2,800 vectors at both d = 512 and
 * d = 1024 (sparse-recall, built-in embedder, ef 100: d 512 at 2,828
 * vectors scan 44 us, graph 44 us; d 1024 at 2,828 68 vs 66 us). See
 * design note 10. */
#define HNSW_SCAN_CODES_BELOW 2560u

/* Float32 indexes keep int8 construction codes from this dimension on
 * (design 9); below it a float32 record is small enough already. */
#define HNSW_CODES_MIN_DIM 64u

/* ----------------------------------------------------------- parameters */

void hnsw_params_default(hnsw_params *p, uint32_t dim)
{
    memset(p, 0, sizeof(*p));
    p->dim = dim;
    p->M = 16;
    p->ef_construction = 200;
    p->ef_search = 100;
    p->storage = HNSW_STORE_F32;
    p->rerank = HNSW_RERANK_F16;
    p->seed = 0x5eed5eedULL;
    p->codes = 1;
}

int hnsw_check_params(const hnsw_params *p)
{
    if (!p || p->dim < 1 || p->dim > 65536 || p->M < 4 || p->M > 4096)
        return HNSW_EINVAL;
    if (p->ef_construction < 1 || p->ef_construction > 1000000 || p->ef_search < 1 ||
        p->ef_search > 1000000)
        return HNSW_EINVAL;
    if (p->storage != HNSW_STORE_F32 && p->storage != HNSW_STORE_I8 &&
        p->storage != HNSW_STORE_BIN)
        return HNSW_EINVAL;
    if (p->storage == HNSW_STORE_I8 && (p->rerank < HNSW_RERANK_NONE || p->rerank > HNSW_RERANK_F32))
        return HNSW_EINVAL;
    if (p->codes < HNSW_CODES_NONE || p->codes > HNSW_CODES_I4)
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
    h->p.rerank = p->storage == HNSW_STORE_I8 ? p->rerank : HNSW_RERANK_NONE;
    h->dim = p->dim;
    h->M = p->M;
    h->M0 = 2 * p->M;
    h->stride0 = 1 + h->M0;
    if (p->storage == HNSW_STORE_F32) {
        /* vector first, 64-byte aligned (kernels/avx2.c design 1: rows
         * that are not split every other 32-byte load across lines) */
        h->voff = 0;
        h->loff = (size_t)p->dim * sizeof(float);
        h->rec0 = (h->loff + (size_t)h->stride0 * sizeof(aword) + 63) & ~(size_t)63;
    } else if (p->storage == HNSW_STORE_BIN) {
        /* links first, then the words 8-byte aligned (design note 8) */
        h->loff = 0;
        h->voff = ((size_t)h->stride0 * sizeof(aword) + 7) & ~(size_t)7;
        h->rec0 = h->voff + (size_t)((p->dim + 63u) / 64u) * sizeof(uint64_t);
    } else {
        h->loff = 0;
        h->voff = (size_t)h->stride0 * sizeof(aword);
        h->rec0 = h->voff + sizeof(float) + ((p->dim + 3u) & ~3u);
    }
    if (p->storage == HNSW_STORE_F32 && p->codes && p->dim >= HNSW_CODES_MIN_DIM)
        h->crec = p->codes == HNSW_CODES_I4 ? HNSW_CODE4_BYTES(p->dim) : (p->dim + 3u) & ~(size_t)3;
    h->ustride = 2 + h->M;
    h->mL = 1.0 / log((double)p->M);
    h->k = kernels_get();
    h->qscore = h->crec && p->codes == HNSW_CODES_I4 ? hnsw_qscore4_select(h->k)
                                                      : hnsw_qscore_select(h->k);
    h->rng = p->seed;
    h->exact_below = (p->storage == HNSW_STORE_I8 && !p->rerank ? HNSW_EXACT_FLOATS / 2
                                                                 : HNSW_EXACT_FLOATS) / p->dim;
    if (h->exact_below < 64)
        h->exact_below = 64;
    if (h->crec && h->exact_below < HNSW_SCAN_CODES_BELOW)
        h->exact_below = HNSW_SCAN_CODES_BELOW;
    atomic_init(&h->entry, HNSW_NO_ENTRY);
    atomic_init(&h->maxlevel, -1);
    atomic_init(&h->count, 0);
    atomic_init(&h->upper_bytes, 0);
    atomic_init(&h->ctx_bytes, 0);
    atomic_init(&h->stat_inlink_scans, 0);
    {
        /* Writer-preferring: glibc's default lets a steady stream of
         * searches starve deletes and inserts (measured: a 2-searcher
         * test took 8 s for 3,500 writes). No path takes the read side
         * recursively, so the non-recursive kind is safe. */
        pthread_rwlockattr_t a;
        pthread_rwlockattr_init(&a);
        pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
        if (pthread_rwlock_init(&h->rw, &a)) {
            pthread_rwlockattr_destroy(&a);
            return HNSW_ENOMEM;
        }
        pthread_rwlockattr_destroy(&a);
    }
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

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HNSW_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define HNSW_SANITIZED 1
#endif
#endif

#if defined(__linux__) && !defined(HNSW_SANITIZED)
/* The record slab is its own anonymous mapping (design note 1): grown
 * with mremap (pages move, nothing is copied) and, from HNSW_HUGE_MIN
 * bytes on, marked MADV_HUGEPAGE. The partly filled last huge page is
 * resident whole (up to 2 MB): at 32 MB that measured 578 B/vector RSS
 * for int8 at 100k x 384 (563 without), over the 570 budget, for a gain
 * within the noise (f32 100k x 384 ef 24, best of 7 alternating ann-probe
 * runs: 73.8 us/query with huge pages, 75.7 without). From 128 MB the
 * tail costs at most 1.6%. Sanitizer builds use realloc so ASan still
 * sees every access to the slab. */
#ifndef HNSW_HUGE_MIN
#define HNSW_HUGE_MIN ((size_t)128 << 20)
#endif

static void *slab_resize(void *p, size_t oldb, size_t newb)
{
    void *q;
    if (!p)
        q = mmap(NULL, newb, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    else
        q = mremap(p, oldb, newb, MREMAP_MAYMOVE);
    if (q == MAP_FAILED)
        return NULL;
    if (newb >= HNSW_HUGE_MIN)
        (void)madvise(q, newb, MADV_HUGEPAGE); /* advice only: no error */
    return q;
}

static void slab_free(void *p, size_t bytes)
{
    if (p)
        munmap(p, bytes);
}
#else
static void *slab_resize(void *p, size_t oldb, size_t newb)
{
    (void)oldb;
    return realloc(p, newb);
}

static void slab_free(void *p, size_t bytes)
{
    (void)bytes;
    free(p);
}
#endif

/* Grows the slab *p of *bytes to cap records of rec bytes (slab_resize);
 * -1 on overflow or no memory, *p and *bytes then unchanged. */
static int slab_grow(uint8_t **p, size_t *bytes, uint32_t cap, size_t rec)
{
    void *t;
    if (rec > SIZE_MAX / cap)
        return -1;
    t = slab_resize(*p, *bytes, (size_t)cap * rec);
    if (!t)
        return -1;
    *p = t;
    *bytes = (size_t)cap * rec;
    return 0;
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
    /* The small per-slot arrays grow by realloc. The record slab grows by
     * slab_resize (mremap: in place or moved, never copied, and page
     * aligned, so float32 records keep their 64-byte alignment). An
     * earlier aligned_alloc + memcpy growth raised the resident bytes per
     * vector after a build from ~1735 to 2068 in ann-bench: freed slabs
     * stayed in the heap. */
    GROW(state, 1);
    GROW(indeg0, sizeof(aword));
    GROW(parent0, sizeof(aword));
    GROW(upper, sizeof(aword *));
    GROW(freeids, sizeof(uint32_t));
    if (h->p.rerank == HNSW_RERANK_F16)
        GROW(rh, d * sizeof(uint16_t));
    if (h->p.rerank == HNSW_RERANK_F32)
        GROW(rf, d * sizeof(float));
    if (h->crec)
        GROW(cm, sizeof(hnsw_cmeta));
#undef GROW
    if (h->crec && slab_grow(&h->cq, &h->cq_bytes, cap, h->crec))
        return HNSW_ENOMEM;
    if (slab_grow(&h->base0, &h->base0_bytes, cap, h->rec0))
        return HNSW_ENOMEM;
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
    slab_free(h->base0, h->base0_bytes);
    free(h->rh);
    free(h->rf);
    slab_free(h->cq, h->cq_bytes);
    free(h->cm);
    free(h->indeg0);
    free(h->parent0);
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
        free(c->qh);
        free(c->qu);
        free(c->bd);
        free(c->qb);
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
    c->qi = calloc(1, HNSW_CODE4_DIMS(h->dim)); /* the tail stays 0 */
    c->qh = malloc(h->dim * sizeof(uint16_t));
    c->qu = malloc(h->dim);
    c->qb = malloc(hnsw_bin_words(h) * sizeof(uint64_t));
    if (!c->qf || !c->qi || !c->qh || !c->qu || !c->qb) {
        free(c->qf);
        free(c->qi);
        free(c->qh);
        free(c->qu);
        free(c->qb);
        free(c);
        return NULL;
    }
    atomic_fetch_add(&h->ctx_bytes,
                     sizeof(*c) + h->dim * 8 + hnsw_bin_words(h) * sizeof(uint64_t));
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
        b = grow(c->bd, sel, sizeof(float));
        if (!b)
            return HNSW_ENOMEM;
        c->bd = (float *)b;
        atomic_fetch_add(&h->ctx_bytes, (size_t)(sel - c->selcap) * (sizeof(hnsw_result) + 10));
        c->selcap = sel;
    }
    return HNSW_OK;
}


/* The int8 codes of the unit vector v into c->qi, c->qscale and (if
 * c->qu) c->qu: symmetric scale max |v_i| / 127 (design 6). A zero
 * vector (never stored: inserts refuse it) gets scale 0, codes 0. */
static void query_codes(const hnsw *h, hnsw_ctx *c, const float *v)
{
    float maxabs = h->k->maxabs_f32(v, h->dim);
    if (!(maxabs > 0)) {
        memset(c->qi, 0, h->dim);
        maxabs = 0;
    } else {
        h->k->quant_i8(c->qi, v, 127.0f / maxabs, h->dim);
    }
    c->qscale = maxabs / 127.0f;
    if (h->crec && h->p.codes == HNSW_CODES_I4) {
        int32_t sum = 0;
        for (uint32_t i = 0; i < h->dim; i++)
            sum += c->qi[i];
        c->qsum = sum;
    }
    if (c->qu)
        for (uint32_t i = 0; i < h->dim; i++) /* hnsw_qdot.c design 1 */
            c->qu[i] = (uint8_t)c->qi[i] ^ 0x80u;
}

/* BIN: bit i of the words is set when x[i] > 0 (Redis's rule: zero and
 * negative components give 0); bits past dim stay 0 in every vector, so
 * they never count in a Hamming distance. */
static void pack_signs(uint64_t *w, const float *x, uint32_t dim)
{
    for (uint32_t j = 0; j < dim; j += 64) {
        uint64_t bits = 0;
        uint32_t n = dim - j < 64 ? dim - j : 64;
        for (uint32_t b = 0; b < n; b++)
            bits |= (uint64_t)(x[j + b] > 0.0f) << b;
        w[j / 64] = bits;
    }
}

/* Checks q (dimension, finite, non-zero), stores it normalised in c->qf
 * and, for int8 storage, quantised in c->qi (BIN: sign bits in c->qb). */
int hnsw_prepare_query(const hnsw *h, hnsw_ctx *c, const float *q, uint32_t dim)
{
    double ss;
    float inv, fss;
    if (dim != h->dim)
        return HNSW_EDIM;
    if (!q)
        return HNSW_EINVAL;
    /* Fast path: the squared norm with the SIMD kernel. A finite sum
     * proves every element finite (an Inf or NaN element makes it Inf or
     * NaN); outside [1e-30, 1e30] the float sum may have under- or
     * overflowed, so the double loop decides. (The scalar double loop with
     * a per-element isfinite cost 5% of a search's instructions.) */
    fss = h->k->dot_f32(q, q, dim);
    if (fss >= 1e-30f && fss <= 1e30f) {
        ss = fss;
    } else {
        ss = 0;
        for (uint32_t i = 0; i < dim; i++) {
            if (!isfinite(q[i]))
                return HNSW_EINVAL;
            ss += (double)q[i] * q[i];
        }
        if (!(ss > 0) || !isfinite(ss))
            return HNSW_EINVAL;
    }
    /* Normalise, quantise and encode with the dispatched kernels (same
     * bits in every tier, kernels.h): the scalar loops here were ~26k of a
     * search's instructions at d=384 (callgrind, int8 + f16 re-rank, ef 24),
     * 13% of the total. maxabs > 0: the largest |q_i| / |q| is at least
     * 1 / sqrt(dim). */
    inv = (float)(1.0 / sqrt(ss));
    h->k->scale_f32(c->qf, q, inv, dim);
    if (h->p.storage == HNSW_STORE_I8) {
        query_codes(h, c, c->qf);
        if (h->p.rerank == HNSW_RERANK_F16)
            h->k->f32_to_f16(c->qh, c->qf, dim);
    } else if (h->p.storage == HNSW_STORE_BIN) {
        pack_signs(c->qb, c->qf, dim);
    }
    return HNSW_OK;
}

/* Stores the code of slot id from its unit vector v: int8 (qi, of scale
 * qscale, already computed by query_codes) or 4-bit (packed from v). */
static void store_code(hnsw *h, uint32_t id, const float *v, float qscale, const int8_t *qi)
{
    uint8_t *e = h->cq + (size_t)id * h->crec;
    int32_t sum = 0;
    if (h->p.codes == HNSW_CODES_I4) {
        hnsw_pack4(e, v, h->dim, &h->cm[id].scale);
        h->cm[id].sum = 0;
        return;
    }
    for (uint32_t i = 0; i < h->dim; i++)
        sum += qi[i];
    if (e != (const uint8_t *)qi)
        memcpy(e, qi, h->dim);
    h->cm[id].scale = qscale;
    h->cm[id].sum = sum;
}

void hnsw_codes_rebuild(hnsw *h)
{
    hnsw_ctx tmp;
    if (!h->cq)
        return;
    for (uint32_t id = 0; id < h->nslots; id++) {
        if (atomic_load_explicit(&h->state[id], memory_order_relaxed) == ST_FREE)
            continue;
        tmp.qi = (int8_t *)(h->cq + (size_t)id * h->crec);
        tmp.qu = NULL;
        tmp.qscale = 0;
        if (h->p.codes != HNSW_CODES_I4) /* int8: the codes in place */
            query_codes(h, &tmp, hnsw_vf(h, id));
        store_code(h, id, hnsw_vf(h, id), tmp.qscale, tmp.qi);
    }
}

void hnsw_load_query(const hnsw *h, hnsw_ctx *c, uint32_t id)
{
    if (h->p.storage == HNSW_STORE_F32) {
        memcpy(c->qf, hnsw_vf(h, id), h->dim * sizeof(float));
        return;
    }
    if (h->p.storage == HNSW_STORE_BIN) {
        memcpy(c->qb, hnsw_vb(h, id), hnsw_bin_words(h) * sizeof(uint64_t));
        return;
    }
    memcpy(c->qi, hnsw_vi(h, id), h->dim);
    for (uint32_t i = 0; i < h->dim; i++)
        c->qu[i] = (uint8_t)c->qi[i] ^ 0x80u;
    c->qscale = hnsw_vscale(h, id);
    if (h->rf)
        memcpy(c->qf, h->rf + (size_t)id * h->dim, h->dim * sizeof(float));
    if (h->rh)
        memcpy(c->qh, h->rh + (size_t)id * h->dim, h->dim * sizeof(uint16_t));
}

/* --------------------------------------------------------------- search */


/* Prefetching every cache line a distance will read, not just the first
 * two, measured on the same saved 100k x 384 graphs (ann-probe, ef 24, 2
 * alternating rounds): int8 34.0 -> 27.8 us/query, float32 68.9 -> 60.3.
 * With up to 2M neighbours scored per expansion the misses then overlap
 * instead of following the kernel's loads one by one (the hardware
 * prefetcher does not cross the 4 KB pages that random records sit on).
 * The cap keeps large float32 vectors (d = 3072: 12 KB) from flooding
 * the L1 with lines the kernel reaches only much later. */
#define HNSW_PF_MAX 1536u
/* Re-rank rows prefetched ahead of their dot: 8 rows of float16 at
 * d = 384 are 6 KB in flight, well inside the L1. */
#define RR_AHEAD 8u

/* How many of a search's ef results (in int8 order) are re-scored at full
 * precision for a top k (design 11): max(2k, RESCORE_MIN), at most ef. */
#define RESCORE_MIN 16u

static inline uint32_t rescore_count(uint32_t k, uint32_t n)
{
    uint32_t r = 2 * k > RESCORE_MIN ? 2 * k : RESCORE_MIN;
    return r < n ? r : n;
}

/* The same for a float32 index's codes: 4-bit codes rank too coarsely
 * for the cut (design 13), so all ef results are re-scored. */
static inline uint32_t codes_rescore_count(const hnsw *h, uint32_t k, uint32_t ef)
{
    return h->p.codes == HNSW_CODES_I4 ? ef : rescore_count(k, ef);
}

static inline void prefetch_range(const uint8_t *p, size_t bytes)
{
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)63, end = (uintptr_t)p + bytes;
    for (; a < end; a += 64)
        __builtin_prefetch((const void *)a);
}

/* Greedy ef=1 descent from (cur, *curd) through levels top..stop+1 on the
 * int8 records qa describes (the I8 records, or a float32 index's codes):
 * one batch call (hnsw_qdot.c) per link list, with the records
 * prefetched; the per-neighbour dot_i8 calls this replaced were 5% of a
 * search's cycles (perf, 100k x 384, ef 24). */
static uint32_t descend_batched(const hnsw *h, const hnsw_ctx *c, const hnsw_qscore_args *qa,
                                uint32_t cur, float *curd, int top, int stop)
{
    for (int l = top; l > stop; l--) {
        int changed = 1;
        while (changed) {
            aword *blk = hnsw_links(h, cur, l);
            uint32_t n = atomic_load_explicit(&blk[0], memory_order_acquire);
            aword *ids = hnsw_link_ids(h, blk, l);
            uint32_t *todo = c->tmp;
            changed = 0;
            for (uint32_t i = 0; i < n; i++) {
                todo[i] = atomic_load_explicit(&ids[i], memory_order_acquire);
                prefetch_range(qa->base + (size_t)todo[i] * qa->rec + qa->voff,
                               qa->meta ? qa->rec : sizeof(float) + qa->dim);
            }
            h->qscore(qa, todo, n, c->bd);
            for (uint32_t i = 0; i < n; i++) {
                if (c->bd[i] < *curd) {
                    *curd = c->bd[i];
                    cur = todo[i];
                    changed = 1;
                }
            }
        }
    }
    return cur;
}

/* Greedy ef=1 descent from (cur, *curd) through levels top..stop+1. */
uint32_t hnsw_greedy_descent(const hnsw *h, const hnsw_ctx *c, uint32_t cur, float *curd,
                               int top, int stop)
{
    if (h->p.storage == HNSW_STORE_I8 && c->bd) {
        const hnsw_qscore_args qa = {h->base0, h->rec0, h->voff, h->dim, c->qi, c->qu,
                                     c->qscale, h->k->dot_i8, NULL, 0};
        return descend_batched(h, c, &qa, cur, curd, top, stop);
    }
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

/* hnsw_greedy_descent for a search of a float32 index with codes
 * (design 12): the upper levels on the int8 codes h->cq. Returns the
 * level-0 entry; its code distance goes to *curd. */
static uint32_t descent_codes(const hnsw *h, const hnsw_ctx *c, uint32_t cur, float *curd,
                              int top)
{
    const hnsw_qscore_args qa = hnsw_codes_args(h, c);
    h->qscore(&qa, &cur, 1, curd);
    return descend_batched(h, c, &qa, cur, curd, top, 0);
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

/* Beam search of width ef on level l from ep, specialised by storage
 * (f32 is a compile-time constant in each caller below): the storage test
 * and the kernel-table loads leave the per-neighbour path, which then is
 * one indirect call through a pointer held in a register. Leaves the best
 * <= ef nodes in c->res (a max-heap). */
static inline __attribute__((always_inline)) void
search_layer_impl(const hnsw *h, hnsw_ctx *c, uint32_t ep, float epd, uint32_t ef, int l,
                  const int f32, const int codes)
{
    uint16_t *vis = c->visited;
    uint16_t epoch;
    const size_t dim = h->dim;
    float (*const dotf)(const float *, const float *, size_t) = h->k->dot_f32;
    const float *qf = c->qf;
    const uint8_t *base = h->base0;
    const size_t rec = h->rec0, voff = h->voff, loff = h->loff;
    hnsw_heap *cand = &c->cand, *res = &c->res;
    /* codes: float32 records scored on their int8 codes (h->cq, insert
     * only: design note 9); the link words still come from the records. */
    const int byi8 = !f32 || codes;
    const uint8_t *sbase = codes ? h->cq : base;
    const size_t srec = codes ? h->crec : rec, svoff = codes ? 0 : voff;
    const hnsw_qscore_args qa =
        codes ? hnsw_codes_args(h, c)
              : (hnsw_qscore_args){base, rec, voff, dim, c->qi, c->qu, c->qscale, h->k->dot_i8,
                                   NULL, 0};
    float *bd = c->bd;
    /* Bytes of a record a distance reads, from voff (f32: the vector;
     * int8: scale + codes), prefetched whole but at most HNSW_PF_MAX. */
    const size_t vbytes = codes ? h->crec : byi8 ? sizeof(float) + dim : dim * sizeof(float);
    const size_t pfb = vbytes < HNSW_PF_MAX ? vbytes : HNSW_PF_MAX;
    visited_next(c);
    epoch = c->epoch;
    cand->n = 0;
    res->n = 0;
    vis[ep] = epoch;
    heap_push_min(cand, ep, epd);
    heap_push_max(res, ep, epd);
    while (cand->n) {
        hnsw_result cur = cand->a[0];
        aword *blk, *ids;
        uint32_t n, m, *todo = c->tmp;
        if (cur.dist > res->a[0].dist && res->n >= ef)
            break;
        heap_pop_min(cand);
        blk = l == 0 ? (aword *)(base + (size_t)cur.id * rec + loff) : hnsw_links(h, cur.id, l);
        n = atomic_load_explicit(&blk[0], memory_order_acquire);
        ids = hnsw_link_ids(h, blk, l);
        /* Two passes: first the unvisited neighbours, prefetching the
         * start of each one's vector (up to 2M misses in flight instead
         * of one), then the distances. */
        m = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t nb = atomic_load_explicit(&ids[i], memory_order_acquire);
            const uint8_t *r;
            if (vis[nb] == epoch)
                continue;
            vis[nb] = epoch;
            todo[m++] = nb;
            r = sbase + (size_t)nb * srec + svoff;
            prefetch_range(r, pfb);
            if (codes) /* 16 scales a line: mostly L2 hits */
                __builtin_prefetch(&h->cm[nb]);
        }
        /* int8: one batch call scores them all (hnsw_qdot.c). */
        if (byi8)
            h->qscore(&qa, todo, m, bd);
        for (uint32_t i = 0; i < m; i++) {
            uint32_t nb = todo[i];
            float d = byi8 ? bd[i]
                           : 1.0f - dotf(qf, (const float *)(base + (size_t)nb * rec + voff), dim);
            if (res->n < ef)
                heap_push_max(res, nb, d);
            else if (d < res->a[0].dist)
                heap_replace_max(res, nb, d);
            else
                continue;
            if (cand->n == cand->cap && cand_grow(c))
                continue; /* out of memory: a narrower search */
            heap_push_min(cand, nb, d);
            if (codes) /* nothing else brought its record's link words in */
                prefetch_range((const uint8_t *)hnsw_links(h, nb, l), h->stride0 * sizeof(aword));
            else
                __builtin_prefetch(hnsw_links(h, nb, l));
        }
    }
}

/* The beam search of search_layer_impl for BIN storage (design note 8):
 * same loop, the Hamming kernel for the distance. */
static void search_layer_bin(const hnsw *h, hnsw_ctx *c, uint32_t ep, float epd, uint32_t ef,
                             int l)
{
    uint16_t *vis = c->visited;
    uint16_t epoch;
    uint64_t (*const ham)(const uint64_t *, const uint64_t *, size_t) = h->k->hamming_u64;
    const uint64_t *qb = c->qb;
    const size_t words = hnsw_bin_words(h);
    const uint8_t *base = h->base0;
    const size_t rec = h->rec0, voff = h->voff, loff = h->loff;
    hnsw_heap *cand = &c->cand, *res = &c->res;
    visited_next(c);
    epoch = c->epoch;
    cand->n = 0;
    res->n = 0;
    vis[ep] = epoch;
    heap_push_min(cand, ep, epd);
    heap_push_max(res, ep, epd);
    while (cand->n) {
        hnsw_result cur = cand->a[0];
        aword *blk, *ids;
        uint32_t n, m, *todo = c->tmp;
        if (cur.dist > res->a[0].dist && res->n >= ef)
            break;
        heap_pop_min(cand);
        blk = l == 0 ? (aword *)(base + (size_t)cur.id * rec + loff) : hnsw_links(h, cur.id, l);
        n = atomic_load_explicit(&blk[0], memory_order_acquire);
        ids = hnsw_link_ids(h, blk, l);
        m = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t nb = atomic_load_explicit(&ids[i], memory_order_acquire);
            if (vis[nb] == epoch)
                continue;
            vis[nb] = epoch;
            todo[m++] = nb;
            __builtin_prefetch(base + (size_t)nb * rec + voff);
        }
        for (uint32_t i = 0; i < m; i++) {
            uint32_t nb = todo[i];
            const uint64_t *r = (const uint64_t *)(const void *)(base + (size_t)nb * rec + voff);
            float d = hnsw_bin_dist(h, ham(qb, r, words));
            if (res->n < ef)
                heap_push_max(res, nb, d);
            else if (d < res->a[0].dist)
                heap_replace_max(res, nb, d);
            else
                continue;
            if (cand->n == cand->cap && cand_grow(c))
                continue; /* out of memory: a narrower search */
            heap_push_min(cand, nb, d);
            __builtin_prefetch(hnsw_links(h, nb, l));
        }
    }
}

void hnsw_search_layer(const hnsw *h, hnsw_ctx *c, uint32_t ep, float epd, uint32_t ef, int l)
{
    if (h->p.storage == HNSW_STORE_BIN)
        search_layer_bin(h, c, ep, epd, ef, l);
    else if (h->p.storage == HNSW_STORE_F32)
        search_layer_impl(h, c, ep, epd, ef, l, 1, 0);
    else
        search_layer_impl(h, c, ep, epd, ef, l, 0, 0);
}

/* The beam of inserts and searches on level l (design note 9): on the
 * int8 codes when the index keeps them, then the ef results re-scored in
 * float32 and sorted into c->sel; else hnsw_search_layer. Returns their
 * count. */
static uint32_t beam_sorted(const hnsw *h, hnsw_ctx *c, uint32_t ep, uint32_t ef, int l,
                            uint32_t rescore)
{
    uint32_t n, nr;
    float epd;
    if (!h->cq) {
        hnsw_search_layer(h, c, ep, dist_q(h, c, ep), ef, l);
        return hnsw_res_sorted(c);
    }
    {
        const hnsw_qscore_args qa = hnsw_codes_args(h, c);
        h->qscore(&qa, &ep, 1, &epd);
    }
    search_layer_impl(h, c, ep, epd, ef, l, 1, 1);
    n = hnsw_res_sorted(c);
    /* Only the first `rescore` (by int8 distance) are re-scored and
     * re-sorted; the rest keep their int8 distances and order after them. */
    nr = n < rescore ? n : rescore;
    for (uint32_t i = 0; i < nr && i < RR_AHEAD; i++)
        prefetch_range(hnsw_rec0(h, c->sel[i].id) + h->voff, h->dim * sizeof(float));
    for (uint32_t i = 0; i < nr; i++) {
        if (i + RR_AHEAD < nr)
            prefetch_range(hnsw_rec0(h, c->sel[i + RR_AHEAD].id) + h->voff,
                           h->dim * sizeof(float));
        c->sel[i].dist = dist_q(h, c, c->sel[i].id);
    }
    sort_results(c->sel, nr);
    return n;
}

/* Empties the c->res max-heap into c->sel, ascending; returns the count.
 * (Popping the heap from the back replaced a qsort that took 8% of build
 * time in perf, mostly in the comparator calls.) */
uint32_t hnsw_res_sorted(hnsw_ctx *c)
{
    uint32_t n = c->res.n;
    for (uint32_t i = n; i-- > 0;) {
        c->sel[i] = c->res.a[0];
        heap_pop_max(&c->res);
    }
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


static inline void rerank_prefetch(const hnsw *h, uint32_t id)
{
    if (h->rf)
        prefetch_range((const uint8_t *)(h->rf + (size_t)id * h->dim), h->dim * sizeof(float));
    else
        prefetch_range((const uint8_t *)(h->rh + (size_t)id * h->dim), h->dim * sizeof(uint16_t));
}

int hnsw_search(hnsw *h, const float *q, uint32_t dim, uint32_t k, uint32_t ef,
                hnsw_result *out)
{
    hnsw_ctx *c;
    int rc, top;
    uint32_t ep, n, nr, want;
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
    if (h->crec)
        query_codes(h, c, c->qf);
    if (ef == 0)
        ef = h->p.ef_search;
    if (ef < k)
        ef = k;
    pthread_rwlock_rdlock(&h->rw);
    live = atomic_load(&h->count);
    ep = load_ep(h, &top);
    if (live <= h->exact_below || ep == HNSW_NO_ENTRY) {
        rc = h->cq ? hnsw_scan_codes_locked(h, c, k, out) : hnsw_exact_locked(h, c, k, out);
        goto done;
    }
    rc = hnsw_ctx_reserve(h, c, ef);
    if (rc)
        goto done;
    if (h->cq) {
        ep = descent_codes(h, c, ep, &epd, top);
        n = beam_sorted(h, c, ep, ef, 0, codes_rescore_count(h, k, ef));
    } else {
        epd = dist_q(h, c, ep);
        ep = hnsw_greedy_descent(h, c, ep, &epd, top, 0);
        hnsw_search_layer(h, c, ep, epd, ef, 0);
        n = hnsw_res_sorted(c);
    }
    /* The re-rank rows are random reads outside the records: each is
     * prefetched RR_AHEAD rows before its dot. Only the first nr (int8
     * order) are re-ranked (design 11); the rest keep their int8
     * distances after them. */
    nr = rescore_count(k, n);
    for (uint32_t i = 0; i < nr && i < RR_AHEAD && (h->rf || h->rh); i++)
        rerank_prefetch(h, c->sel[i].id);
    if (h->rf) {
        for (uint32_t i = 0; i < nr; i++) {
            if (i + RR_AHEAD < nr)
                rerank_prefetch(h, c->sel[i + RR_AHEAD].id);
            c->sel[i].dist =
                1.0f - h->k->dot_f32(c->qf, h->rf + (size_t)c->sel[i].id * h->dim, h->dim);
        }
        sort_results(c->sel, nr);
    } else if (h->rh) {
        for (uint32_t i = 0; i < nr; i++) {
            if (i + RR_AHEAD < nr)
                rerank_prefetch(h, c->sel[i + RR_AHEAD].id);
            c->sel[i].dist =
                1.0f - h->k->dot_f16(c->qh, h->rh + (size_t)c->sel[i].id * h->dim, h->dim);
        }
        sort_results(c->sel, nr);
    }
    /* Re-ranked rows are nearly in order already (the int8 order), so the
     * insertion sort is close to linear; the qsort it replaced was 2.4% of
     * a search's instructions (callgrind, int8 + f16, 100k x 384, ef 24),
     * in merge-sort set-up and comparator calls. Same total order (ties by
     * id), so the same results. */
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


/* Is x "needy": would it lose its only way in if base dropped it?
 * was_linked: base currently links to x. At level 0 a link to a child in
 * the spanning tree (design 3) is never dropped: an in-degree above 1 does
 * not prove another way in (the other in-link may come from a node that
 * is itself reachable only through x: a 2-cycle that base alone linked
 * into, which dropping base -> x cut off, the unreachable pairs of issue
 * 3). parent0[x] == base is stable here: only base, under its link lock,
 * or a writer under the write lock changes it from base. */
static int pinned(const hnsw *h, uint32_t base, uint32_t x, int l, int was_linked)
{
    return was_linked && atomic_load_explicit(hnsw_parent(h, x, l), memory_order_relaxed) == base;
}

static int needy(const hnsw *h, uint32_t base, uint32_t x, int l, int was_linked)
{
    uint32_t in = atomic_load_explicit(hnsw_indeg(h, x, l), memory_order_relaxed);
    if (pinned(h, base, x, l, was_linked))
        return 1;
    return was_linked ? in <= 1 : in == 0;
}

/* base now links to x at level l: if x has no parent yet (a node being
 * inserted, or an orphan being re-attached), base becomes it. Caller
 * holds base's link lock or the write lock. */
static void tree_adopt(hnsw *h, uint32_t base, uint32_t x, int l)
{
    uint32_t none = HNSW_TREE_NONE;
    atomic_compare_exchange_strong_explicit(hnsw_parent(h, x, l), &none, base,
                                            memory_order_relaxed, memory_order_relaxed);
}

/* Rewrites base's level-l list from cand[0..n) (sorted ascending by
 * distance to base; linked[i] says base links to cand[i] now): heuristic
 * selection of up to mmax, then each needy candidate left out replaces the
 * farthest kept one that is not needy; `force` (an id or HNSW_NO_ENTRY)
 * counts as needy whatever its in-degree. Updates in-degrees. Caller holds
 * base's link lock (or the write lock). */
static void relink(hnsw *h, hnsw_ctx *c, uint32_t base, int l, hnsw_result *cand, uint32_t n,
                   const uint8_t *linked, uint32_t mmax, uint32_t force)
{
    uint32_t *keep = c->tmp;
    uint8_t *chosen = c->f2;
    uint32_t kept = select_heuristic(h, cand, n, mmax, keep);
    aword *blk = hnsw_links(h, base, l), *ids = hnsw_link_ids(h, blk, l);
    memset(chosen, 0, n);
    for (uint32_t i = 0; i < kept; i++)
        chosen[keep[i]] = 1;
    /* Pass 0 places the tree children (at most mmax: base links to each),
     * displacing anything else; pass 1 the other needy ones and `force`,
     * displacing only links nobody needs. (One pass let a new node, needy
     * with in-degree 0, push a child out of a list full of children.) */
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t i = 0; i < n; i++) {
            if (chosen[i] || (pass == 0 ? !pinned(h, base, cand[i].id, l, linked[i])
                                        : cand[i].id != force &&
                                              !needy(h, base, cand[i].id, l, linked[i])))
                continue;
            if (kept < mmax) {
                chosen[i] = 1;
                keep[kept++] = i;
                continue;
            }
            for (uint32_t j = kept; j-- > 0;) {
                uint32_t y = keep[j];
                if (pass == 0 ? !pinned(h, base, cand[y].id, l, linked[y])
                              : cand[y].id != force && !needy(h, base, cand[y].id, l, linked[y])) {
                    chosen[y] = 0;
                    chosen[i] = 1;
                    keep[j] = i;
                    break;
                }
            }
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        if (linked[i] && !chosen[i])
            atomic_fetch_sub_explicit(hnsw_indeg(h, cand[i].id, l), 1, memory_order_relaxed);
        else if (!linked[i] && chosen[i]) {
            atomic_fetch_add_explicit(hnsw_indeg(h, cand[i].id, l), 1, memory_order_relaxed);
            tree_adopt(h, base, cand[i].id, l);
        }
    }
    kept = 0;
    for (uint32_t i = 0; i < n; i++)
        if (chosen[i])
            atomic_store_explicit(&ids[kept++], cand[i].id, memory_order_release);
    atomic_store_explicit(&blk[0], kept, memory_order_release);
}

/* Adds the link base -> q at level l, pruning base's list if full; with
 * force the link survives the pruning. */
void hnsw_connect(hnsw *h, hnsw_ctx *c, uint32_t base, uint32_t q, int l, int force)
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
        tree_adopt(h, base, q, l);
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
        relink(h, c, base, l, cand, n + 1, linked, mmax, force ? q : HNSW_NO_ENTRY);
    }
out:
    pthread_mutex_unlock(mu);
}

/* No selected neighbour kept the new node id at level l (each list was
 * full of tree links, most likely on the upper levels where lists hold
 * M): link it, forced, from a neighbour of theirs; c->sel[0..kept) are
 * the selected neighbours. Without this the node would be unreachable
 * at level l. */
static void adopt_new_node(hnsw *h, hnsw_ctx *c, uint32_t id, int l, uint32_t kept)
{
    for (uint32_t i = 0; i < kept; i++) {
        aword *blk = hnsw_links(h, c->sel[i].id, l), *ids = hnsw_link_ids(h, blk, l);
        uint32_t n = atomic_load_explicit(&blk[0], memory_order_acquire);
        for (uint32_t j = 0; j < n; j++) {
            uint32_t z = atomic_load_explicit(&ids[j], memory_order_acquire);
            if (z == id || (atomic_load_explicit(&h->state[z], memory_order_acquire) & ST_PENDING))
                continue;
            hnsw_connect(h, c, z, id, l, 1);
            if (atomic_load_explicit(hnsw_parent(h, id, l), memory_order_relaxed) !=
                HNSW_TREE_NONE)
                return;
        }
    }
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
        size_t bytes = hnsw_upper_size(h, (int)level);
        aword *u = calloc(1, bytes);
        if (!u) {
            h->freeids[h->nfree++] = id; /* slot stays free */
            return HNSW_ENOMEM;
        }
        h->upper[id] = u;
        for (uint32_t l = 0; l < level; l++) /* tree parents of levels 1..level */
            atomic_store_explicit(&u[(size_t)level * h->ustride + l], HNSW_TREE_NONE,
                                  memory_order_relaxed);
        atomic_fetch_add(&h->upper_bytes, bytes);
    }
    if (h->p.storage == HNSW_STORE_F32) {
        memcpy(hnsw_rec0(h, id) + h->voff, c->qf, d * sizeof(float));
    } else if (h->p.storage == HNSW_STORE_BIN) {
        memcpy(hnsw_rec0(h, id) + h->voff, c->qb, hnsw_bin_words(h) * sizeof(uint64_t));
    } else {
        memcpy(hnsw_rec0(h, id) + h->voff, &c->qscale, sizeof(float));
        memcpy(hnsw_rec0(h, id) + h->voff + sizeof(float), c->qi, d);
    }
    if (h->rf)
        memcpy(h->rf + id * d, c->qf, d * sizeof(float));
    if (h->rh)
        memcpy(h->rh + id * d, c->qh, d * sizeof(uint16_t));
    if (h->cq)
        store_code(h, (uint32_t)id, c->qf, c->qscale, c->qi);
    atomic_store_explicit(hnsw_links(h, id, 0), 0, memory_order_relaxed);
    atomic_store_explicit(&h->indeg0[id], 0, memory_order_relaxed);
    atomic_store_explicit(&h->parent0[id], HNSW_TREE_NONE, memory_order_relaxed);
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
    rc = hnsw_ctx_reserve(h, c, hnsw_build_ef(h));
    if (rc)
        return rc;
    if ((int)level > atomic_load_explicit(&h->maxlevel, memory_order_acquire)) {
        pthread_mutex_lock(&h->ep_lock);
        hold_ep = 1;
    }
    ep = load_ep(h, &top);
    if (ep == HNSW_NO_ENTRY) {
        for (int l = 0; l <= (int)level; l++)
            atomic_store_explicit(hnsw_parent(h, id, l), HNSW_TREE_ROOT, memory_order_relaxed);
        atomic_store_explicit(&h->maxlevel, (int)level, memory_order_release);
        atomic_store_explicit(&h->entry, id, memory_order_release);
        goto out;
    }
    epd = dist_q(h, c, ep);
    ep = hnsw_greedy_descent(h, c, ep, &epd, top, (int)level);
    for (int l = (int)level < top ? (int)level : top; l >= 0; l--) {
        uint32_t n, kept, *keep = c->tmp;
        aword *blk = hnsw_links(h, id, l), *ids = hnsw_link_ids(h, blk, l);
        /* Re-score the 2 M0 nearest by int8 in float32: selection keeps
         * M of them and rarely looks further; the other ef_construction
         * - 2 M0 re-scores were random float32 reads (design 9). */
        n = beam_sorted(h, c, ep, hnsw_build_ef(h), l, 2 * h->M0);
        ep = c->sel[0].id;
        kept = select_heuristic(h, c->sel, n, h->M, keep);
        /* keep[] indexes sel[]; compact sel to the kept ones. */
        for (uint32_t i = 0; i < kept; i++)
            c->sel[i] = c->sel[keep[i]];
        /* Another inserter may already have linked itself into this list:
         * once id is linked on a higher level, a concurrent insert can
         * descend to id, start its level-l search there and append to
         * id's level-l list (hnsw_connect) before this write. Those links
         * are counted in their targets' in-degrees, so they are kept and
         * ours are appended after them, up to the capacity. (Overwriting
         * the list lost them and left an in-degree one too high: the
         * validator caught it once in ~40 runs of tests/mt/hnsw_mt.c.) A selected neighbour that does not fit only loses the
         * link from this new node, never its way in: it was reachable
         * before this node existed. */
        pthread_mutex_lock(node_lock(h, id));
        {
            uint32_t cnt = atomic_load_explicit(&blk[0], memory_order_relaxed), n0 = cnt;
            uint32_t mmax = l ? h->M : h->M0;
            for (uint32_t i = 0; i < kept && cnt < mmax; i++) {
                uint32_t x = c->sel[i].id, dup = 0;
                for (uint32_t j = 0; j < n0 && !dup; j++)
                    dup = atomic_load_explicit(&ids[j], memory_order_relaxed) == x;
                if (dup)
                    continue;
                atomic_store_explicit(&ids[cnt++], x, memory_order_release);
                atomic_fetch_add_explicit(hnsw_indeg(h, x, l), 1, memory_order_relaxed);
            }
            atomic_store_explicit(&blk[0], cnt, memory_order_release);
        }
        pthread_mutex_unlock(node_lock(h, id));
        for (uint32_t i = 0; i < kept; i++)
            hnsw_connect(h, c, c->sel[i].id, id, l, 0);
        if (atomic_load_explicit(hnsw_parent(h, id, l), memory_order_relaxed) == HNSW_TREE_NONE)
            adopt_new_node(h, c, id, l, kept);
    }
    if (hold_ep && (int)level > top) {
        /* The new entry point becomes the root of every level's tree
         * (design 3): on each level the old root (the old entry point,
         * linked from nowhere in the tree) gets a protected link from it.
         * Order: the parent first, so a concurrent prune of id's list
         * already keeps the link the forced connect adds. */
        uint32_t old = atomic_load_explicit(&h->entry, memory_order_relaxed);
        for (int l = 0; l <= (int)level; l++) {
            atomic_store_explicit(hnsw_parent(h, id, l), HNSW_TREE_ROOT, memory_order_relaxed);
            if (l > top)
                continue;
            atomic_store_explicit(hnsw_parent(h, old, l), id, memory_order_relaxed);
            hnsw_connect(h, c, id, old, l, 1);
        }
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
    if (h->crec) /* h->cq may not be allocated yet */
        query_codes(h, c, c->qf);
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
    } else if (h->p.storage == HNSW_STORE_F32) {
        memcpy(out, hnsw_vf(h, id), h->dim * sizeof(float));
    } else if (h->p.storage == HNSW_STORE_BIN) {
        const uint64_t *w = hnsw_vb(h, id);
        float one = (float)(1.0 / sqrt((double)h->dim));
        for (uint32_t i = 0; i < h->dim; i++)
            out[i] = (w[i / 64] >> (i % 64)) & 1u ? one : -one;
    } else if (h->rf) {
        memcpy(out, h->rf + (size_t)id * h->dim, h->dim * sizeof(float));
    } else if (h->rh) {
        h->k->f16_to_f32(out, h->rh + (size_t)id * h->dim, h->dim);
    } else {
        const int8_t *v = hnsw_vi(h, id);
        float sc = hnsw_vscale(h, id);
        for (uint32_t i = 0; i < h->dim; i++)
            out[i] = v[i] * sc;
    }
    pthread_rwlock_unlock(&m->rw);
    return rc;
}

size_t hnsw_memory_bytes(const hnsw *h)
{
    size_t per, b;
    if (!h)
        return 0;
    /* state, record, in-degree, tree parent, upper pointer, free-id
     * stack, copies */
    per = 1 + h->rec0 + 4 + 4 + sizeof(aword *) + 4;
    if (h->rf)
        per += (size_t)h->dim * 4;
    if (h->crec)
        per += h->crec + sizeof(hnsw_cmeta);
    if (h->rh)
        per += (size_t)h->dim * 2;
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

uint32_t hnsw_get_exact_threshold(hnsw *h)
{
    uint32_t n;
    if (!h)
        return 0;
    pthread_rwlock_rdlock(&h->rw);
    n = h->exact_below;
    pthread_rwlock_unlock(&h->rw);
    return n;
}

int hnsw_get_codes(const hnsw *h)
{
    return h && h->crec ? h->p.codes : HNSW_CODES_NONE;
}

uint64_t hnsw_stat_inlink_scans(const hnsw *h)
{
    return h ? atomic_load(&((hnsw *)h)->stat_inlink_scans) : 0;
}
