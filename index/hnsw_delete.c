/* hnsw_delete.c -- deletion: hnsw_delete, hnsw_delete_batch, the
 * reachability repair they run and the spanning trees' upkeep. The design
 * (in-degree counters, the 2-hop-then-scan in-link search, the refill
 * repair, the spanning tree per level that keeps every node reachable,
 * the write-lock threading) is decision 3 and 4 of hnsw.c's opening
 * essay; this file is its implementation,
 * split out of hnsw.c to keep both under ~1,100 lines. Every function
 * here runs under the write lock: nothing else touches the graph, so the
 * atomics are used only for uniformity with the readers' code. */
#include <stdlib.h>
#include <string.h>

#include "index/hnsw.h"
#include "index/hnsw_int.h"

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
 * reads each record's link words as plain words (the caller holds the
 * write lock, so nothing writes them concurrently; the compiler
 * vectorises the compare over the fixed 2M words). */
static uint32_t inlinks_scan(hnsw *h, hnsw_ctx *c, uint32_t d, int l, uint32_t *in,
                             uint32_t found, uint32_t need)
{
    uint16_t ep = c->epoch;
    if (l == 0) {
        for (uint32_t y = 0; y < h->nslots && found < need; y++) {
            const uint32_t *w = (const uint32_t *)hnsw_links(h, y, 0);
            uint32_t hit = 0;
            if (y + 8 < h->nslots) { /* strided reads: help the prefetcher */
                const char *ahead = (const char *)hnsw_links(h, y + 8, 0);
                __builtin_prefetch(ahead);
                __builtin_prefetch(ahead + 64);
                __builtin_prefetch(ahead + 4 * h->stride0 - 1);
            }
            for (uint32_t i = 1; i <= h->M0; i++)
                hit |= w[i] == d;
            /* a link within the count, of a live node */
            if (!hit || y == d || c->visited[y] == ep || node_level(h, y) < 0)
                continue;
            if (!links_contain(h, y, 0, d))
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
        hnsw_connect(h, c, best, x, l, 0);
}

/* BFS over level l from queue[head..tail), marking seen[]; each newly
 * reached node's level-l tree parent becomes the node it was reached from
 * (a BFS tree: its parent links exist and lead back to the start). */
static void bfs_mark(hnsw *h, uint8_t *seen, uint32_t *queue, uint32_t head, uint32_t tail, int l)
{
    while (head < tail) {
        uint32_t id = queue[head++];
        aword *blk = hnsw_links(h, id, l), *ids = hnsw_link_ids(h, blk, l);
        uint32_t n = atomic_load_explicit(&blk[0], memory_order_relaxed);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t x = atomic_load_explicit(&ids[i], memory_order_relaxed);
            if (!seen[x]) {
                seen[x] = 1;
                atomic_store_explicit(hnsw_parent(h, x, l), id, memory_order_relaxed);
                queue[tail++] = x;
            }
        }
    }
}

/* Makes every node of level l reachable from the entry point again and
 * rebuilds the level's spanning tree: BFS (the BFS tree is the new tree),
 * then each unreachable node u gets a forced link from the nearest
 * reachable node (a beam search for u's vector from the entry point; u's
 * parent) and what u reaches is marked. Run after deleting a node of
 * level >= l (levels >= 1: the deleted node has level >= 1 with
 * probability 1/M, and the level holds N/M^l nodes, so this costs ~N/M
 * link reads per delete on average), at every level after the entry
 * point changes (1/N of deletes) or a batch delete, and with c NULL (the
 * BFS and tree only) at load. Level 0 after an ordinary delete is not
 * re-run (O(N M) random reads each time): the tree keeps it reachable and
 * tree_reattach re-roots the deleted node's children. Caller holds the
 * write lock. */
/* The beam that finds a home for a node the deletion cut off. */
#define RECONNECT_EF 16u

static void reconnect_level(hnsw *h, hnsw_ctx *c, int l)
{
    uint32_t ep = atomic_load(&h->entry), *queue, *lost, nlost = 0;
    uint8_t *seen;
    if (ep == HNSW_NO_ENTRY)
        return;
    queue = malloc((size_t)h->nslots * 2 * sizeof(uint32_t) + h->nslots);
    if (!queue)
        return; /* best effort: the graph stays valid, only less reachable */
    lost = queue + h->nslots;
    seen = (uint8_t *)(lost + h->nslots);
    memset(seen, 0, h->nslots);
    for (uint32_t id = 0; id < h->nslots; id++) /* the tree is rebuilt as the BFS goes */
        if (node_level(h, id) >= l)
            atomic_store_explicit(hnsw_parent(h, id, l),
                                  id == ep ? HNSW_TREE_ROOT : HNSW_TREE_NONE,
                                  memory_order_relaxed);
    seen[ep] = 1;
    queue[0] = ep;
    bfs_mark(h, seen, queue, 0, 1, l);
    for (uint32_t id = 0; id < h->nslots; id++) {
        uint8_t s = atomic_load_explicit(&h->state[id], memory_order_relaxed);
        if (s != ST_FREE && !(s & ST_PENDING) && (int)s >= l && !seen[id])
            lost[nlost++] = id;
    }
    /* The beam below is RECONNECT_EF wide, which the caller's reserve
     * (ef_construction, as small as 1) need not cover: fuzz_hnsw_load
     * overflowed the result heap of a file with ef_construction 1. */
    if (nlost && c && hnsw_ctx_reserve(h, c, RECONNECT_EF))
        c = NULL; /* out of memory: leave them for a later pass */
    for (uint32_t i = 0; i < nlost && c; i++) {
        uint32_t u = lost[i], best, nres;
        float bd;
        int top;
        if (seen[u])
            continue; /* reached through an earlier one */
        hnsw_load_query(h, c, u);
        best = load_ep(h, &top);
        bd = dist_q(h, c, best);
        best = hnsw_greedy_descent(h, c, best, &bd, top, l);
        hnsw_search_layer(h, c, best, bd, RECONNECT_EF, l);
        nres = hnsw_res_sorted(c);
        best = HNSW_NO_ENTRY;
        for (uint32_t j = 0; j < nres && best == HNSW_NO_ENTRY; j++)
            if (c->sel[j].id != u && seen[c->sel[j].id])
                best = c->sel[j].id;
        if (best == HNSW_NO_ENTRY)
            continue;
        hnsw_connect(h, c, best, u, l, 1); /* u's tree parent is best */
        seen[u] = 1;
        queue[0] = u;
        bfs_mark(h, seen, queue, 0, 1, l);
    }
    free(queue);
}

/* ------------------------------------------------- level-0 spanning tree */

void hnsw_tree_rebuild(hnsw *h)
{
    for (int l = 0; l <= atomic_load(&h->maxlevel); l++)
        reconnect_level(h, NULL, l);
}

/* Does y's parent chain reach the root (the entry point)? A chain that
 * meets an orphan (HNSW_TREE_NONE: a child of the node being deleted, or
 * a node below one) is not rooted, which is what keeps a re-attached
 * orphan from taking a parent inside its own subtree. The step bound only
 * guards against a corrupt array (an allocation failure in
 * reconnect_level leaves stale parents): the chain is acyclic. */
static int tree_rooted(const hnsw *h, uint32_t y)
{
    uint32_t ep = atomic_load_explicit(&h->entry, memory_order_relaxed);
    for (uint32_t steps = 0; steps <= h->nslots; steps++) {
        uint32_t p = atomic_load_explicit(&h->parent0[y], memory_order_relaxed);
        if (p == HNSW_TREE_ROOT)
            return y == ep;
        if (p == HNSW_TREE_NONE || p >= h->nslots || node_level(h, p) < 0)
            return 0;
        y = p;
    }
    return 0;
}

/* Gives orphan x (parent HNSW_TREE_NONE) a rooted parent by a new link:
 * a beam search for x's vector (ef = M0, so the results fit below the
 * half of c->sel that hnsw_connect uses) and a forced link from the
 * nearest rooted result, else from the entry point. The forced link may
 * prune the base's list, but never a tree link (needy() in hnsw.c). */
static void tree_attach_by_search(hnsw *h, hnsw_ctx *c, uint32_t x)
{
    uint32_t ep, nres;
    int top;
    float bd;
    if (hnsw_ctx_reserve(h, c, h->M0)) /* the beam below is M0 wide */
        goto entry;
    hnsw_load_query(h, c, x);
    ep = load_ep(h, &top);
    bd = dist_q(h, c, ep);
    ep = hnsw_greedy_descent(h, c, ep, &bd, top, 0);
    hnsw_search_layer(h, c, ep, bd, h->M0, 0);
    nres = hnsw_res_sorted(c);
    for (uint32_t j = 0; j < nres; j++) {
        uint32_t y = c->sel[j].id;
        if (y == x || !tree_rooted(h, y))
            continue;
        hnsw_connect(h, c, y, x, 0, 1);
        if (links_contain(h, y, 0, x)) {
            atomic_store_explicit(&h->parent0[x], y, memory_order_relaxed);
            return;
        }
    }
entry:
    ep = atomic_load(&h->entry);
    hnsw_connect(h, c, ep, x, 0, 1);
    if (links_contain(h, ep, 0, x))
        atomic_store_explicit(&h->parent0[x], ep, memory_order_relaxed);
}

/* After a single delete of d (not the entry point): d's tree children
 * orph[0..no) (their parent set to HNSW_TREE_NONE) each get a rooted
 * parent. First among the nodes whose lists the repair touched (near[]:
 * d's former in- and out-neighbours) that already link to the orphan and
 * are rooted, repeated while that makes progress (an orphan re-attached
 * roots the orphans below it); what is left gets a new link. The subtree
 * under each orphan comes with it. This is the level-0 reachability
 * guarantee for single deletes: every node's chain leads to the entry
 * point again, and each chain step is a link. */
static void tree_reattach(hnsw *h, hnsw_ctx *c, uint32_t *orph, uint32_t no, const uint32_t *near,
                          uint32_t nn)
{
    while (no) {
        int progress = 1;
        while (progress && no) {
            progress = 0;
            for (uint32_t i = 0; i < no;) {
                uint32_t x = orph[i], p = HNSW_TREE_NONE;
                for (uint32_t j = 0; j < nn && p == HNSW_TREE_NONE; j++) {
                    uint32_t y = near[j];
                    if (y != x && node_level(h, y) >= 0 && links_contain(h, y, 0, x) &&
                        tree_rooted(h, y))
                        p = y;
                }
                if (p == HNSW_TREE_NONE) {
                    i++;
                    continue;
                }
                atomic_store_explicit(&h->parent0[x], p, memory_order_relaxed);
                orph[i] = orph[--no];
                progress = 1;
            }
        }
        if (no)
            tree_attach_by_search(h, c, orph[--no]);
    }
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
    uint32_t *dout, *in, *near, maxin, *orph = NULL, norph = 0, *near0 = NULL, nnear0 = 0;
    if (id >= h->nslots)
        return HNSW_ENOENT;
    s = atomic_load(&h->state[id]);
    if (s == ST_FREE || (s & ST_PENDING))
        return HNSW_ENOENT;
    L = s;
    if (hnsw_ctx_reserve(h, c, hnsw_build_ef(h)))
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
        if (l == 0) {
            /* d's tree children lose their parent; the nodes the repair
             * touched are the first candidates for new ones
             * (tree_reattach, after every level is repaired so no search
             * can pass through d). */
            orph = malloc(((size_t)dn * 2 + nin + 1) * sizeof(uint32_t));
            if (orph) {
                near0 = orph + dn;
                for (uint32_t i = 0; i < dn; i++) {
                    near0[nnear0++] = dout[i];
                    if (atomic_load(&h->parent0[dout[i]]) == id) {
                        atomic_store(&h->parent0[dout[i]], HNSW_TREE_NONE);
                        orph[norph++] = dout[i];
                    }
                }
                for (uint32_t i = 0; i < nin; i++)
                    near0[nnear0++] = in[i];
            }
        }
    }
    free(dout);
    atomic_store(&h->parent0[id], HNSW_TREE_NONE);
    atomic_store(&h->state[id], ST_FREE);
    if (h->upper[id]) {
        atomic_fetch_sub(&h->upper_bytes, hnsw_upper_size(h, L));
        free(h->upper[id]);
        h->upper[id] = NULL;
    }
    h->freeids[h->nfree++] = id;
    atomic_fetch_sub(&h->count, 1);
    if (atomic_load(&h->entry) == id) {
        reselect_entry(h);
        L = atomic_load(&h->maxlevel);
        for (int l = 0; l <= L; l++)
            reconnect_level(h, c, l); /* level 0 rebuilds the tree */
    } else {
        for (int l = 1; l <= L && l <= atomic_load(&h->maxlevel); l++)
            reconnect_level(h, c, l);
        if (orph)
            tree_reattach(h, c, orph, norph, near0, nnear0);
        else /* out of memory for the list: the O(N M) way */
            reconnect_level(h, c, 0);
    }
    free(orph);
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

/* Batch deletion: one pass over every list per level finds the links to
 * any of the dying nodes (the single delete's in-link search costs up to
 * a full scan per delete; here it is one scan per batch), each node that
 * linked to dying ones gets one replacement per lost link, chosen among
 * the dying nodes' surviving out-links (the same rule as repair_node),
 * and finally every level is re-checked for reachability (a BFS, the same
 * order of cost as the scan), so a batch delete also guarantees level 0
 * stays connected. */
static void batch_repair_node(hnsw *h, hnsw_ctx *c, uint32_t n, int l, const uint8_t *dying)
{
    aword *blk = hnsw_links(h, n, l), *ids = hnsw_link_ids(h, blk, l);
    uint32_t cnt = atomic_load_explicit(&blk[0], memory_order_relaxed), w = 0, m = 0, lost = 0;
    uint32_t gone[2 * 4096];
    hnsw_result *cand = c->sel;
    uint8_t *used = c->f1;
    for (uint32_t i = 0; i < cnt; i++) {
        uint32_t x = atomic_load_explicit(&ids[i], memory_order_relaxed);
        if (dying[x])
            gone[lost++] = x;
        else
            atomic_store_explicit(&ids[w++], x, memory_order_relaxed);
    }
    if (!lost)
        return;
    cnt = w;
    for (uint32_t g = 0; g < lost; g++) {
        aword *db = hnsw_links(h, gone[g], l), *di = hnsw_link_ids(h, db, l);
        uint32_t dn = atomic_load_explicit(&db[0], memory_order_relaxed);
        for (uint32_t i = 0; i < dn && m + 1 < c->selcap; i++) {
            uint32_t x = atomic_load_explicit(&di[i], memory_order_relaxed), dup = 0;
            if (x == n || dying[x] || links_contain_n(ids, cnt, x))
                continue;
            for (uint32_t j = 0; j < m && !dup; j++)
                dup = cand[j].id == x;
            if (dup)
                continue;
            cand[m].id = x;
            cand[m].dist = dist_nn(h, n, x);
            m++;
        }
    }
    sort_results(cand, m);
    memset(used, 0, m);
    for (uint32_t g = 0; g < lost; g++) {
        uint32_t pick = UINT32_MAX;
        for (uint32_t i = 0; i < m && pick == UINT32_MAX; i++) {
            int good = 1;
            if (used[i])
                continue;
            for (uint32_t j = 0; j < cnt && good; j++)
                if (dist_nn(h, cand[i].id, atomic_load_explicit(&ids[j], memory_order_relaxed)) <
                    cand[i].dist)
                    good = 0;
            if (good)
                pick = i;
        }
        for (uint32_t i = 0; i < m && pick == UINT32_MAX; i++)
            if (!used[i])
                pick = i;
        if (pick == UINT32_MAX)
            break;
        used[pick] = 1;
        atomic_store_explicit(&ids[cnt++], cand[pick].id, memory_order_relaxed);
        atomic_fetch_add_explicit(hnsw_indeg(h, cand[pick].id, l), 1, memory_order_relaxed);
    }
    atomic_store_explicit(&blk[0], cnt, memory_order_release);
}

static int delete_batch_locked(hnsw *h, hnsw_ctx *c, const uint32_t *ids, size_t n)
{
    uint8_t *dying;
    int top = -1, ndel = 0, ep_dies;
    if (hnsw_ctx_reserve(h, c, hnsw_build_ef(h)))
        return HNSW_ENOMEM;
    dying = calloc(h->nslots ? h->nslots : 1, 1);
    if (!dying)
        return HNSW_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        uint32_t id = ids[i];
        uint8_t s;
        if (id >= h->nslots || dying[id])
            continue;
        s = atomic_load(&h->state[id]);
        if (s == ST_FREE || (s & ST_PENDING))
            continue;
        dying[id] = 1;
        ndel++;
        if ((int)s > top)
            top = s;
    }
    if (ndel == 0) {
        free(dying);
        return 0;
    }
    for (int l = 0; l <= top; l++) {
        /* the dying nodes' own out-links stop counting as in-links */
        for (uint32_t id = 0; id < h->nslots; id++) {
            aword *blk, *li;
            uint32_t cnt;
            if (!dying[id] || node_level(h, id) < l)
                continue;
            blk = hnsw_links(h, id, l);
            li = hnsw_link_ids(h, blk, l);
            cnt = atomic_load(&blk[0]);
            for (uint32_t i = 0; i < cnt; i++)
                atomic_fetch_sub(hnsw_indeg(h, atomic_load(&li[i]), l), 1);
        }
        for (uint32_t id = 0; id < h->nslots; id++)
            if (!dying[id] && node_level(h, id) >= l &&
                !(atomic_load(&h->state[id]) & ST_PENDING))
                batch_repair_node(h, c, id, l, dying);
    }
    ep_dies = dying[atomic_load(&h->entry)];
    for (size_t i = 0; i < n; i++) {
        uint32_t id = ids[i];
        int L;
        if (id >= h->nslots || !dying[id])
            continue;
        dying[id] = 0; /* frees each id once even if listed twice */
        L = node_level(h, id);
        atomic_store(&h->state[id], ST_FREE);
        if (h->upper[id]) {
            atomic_fetch_sub(&h->upper_bytes, hnsw_upper_size(h, L));
            free(h->upper[id]);
            h->upper[id] = NULL;
        }
        h->freeids[h->nfree++] = id;
        atomic_fetch_sub(&h->count, 1);
    }
    free(dying);
    if (ep_dies)
        reselect_entry(h);
    top = atomic_load(&h->maxlevel);
    for (int l = 0; l <= top; l++)
        reconnect_level(h, c, l);
    return ndel;
}

int hnsw_delete_batch(hnsw *h, const uint32_t *ids, size_t n)
{
    hnsw_ctx *c;
    int rc;
    if (!h || (!ids && n))
        return HNSW_EINVAL;
    if (n == 0)
        return 0;
    c = hnsw_ctx_get(h);
    if (!c)
        return HNSW_ENOMEM;
    pthread_rwlock_wrlock(&h->rw);
    rc = delete_batch_locked(h, c, ids, n);
    pthread_rwlock_unlock(&h->rw);
    hnsw_ctx_put(h, c);
    return rc;
}

