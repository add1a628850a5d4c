/* hnsw_inspect.c -- read-only views of the graph for the server's VLINKS
 * and VINFO (neighbour lists, node levels, top level), and the per-insert
 * construction beam that VADD EF sets.
 *
 * Kept apart from hnsw.c so the graph code stays as the index owner wrote
 * it; these functions only read the layout described in hnsw_int.h, under
 * the read side of `rw` (a snapshot of one neighbour list: a concurrent
 * insert may be appending to it, every id read is a live node either way,
 * hnsw.c design note 4). */
#include "index/hnsw.h"
#include "index/hnsw_int.h"

int hnsw_node_level(hnsw *h, uint32_t id)
{
    int lvl = HNSW_ENOENT;
    uint8_t s;
    if (!h)
        return HNSW_EINVAL;
    pthread_rwlock_rdlock(&h->rw);
    s = id < h->nslots ? atomic_load(&h->state[id]) : ST_FREE;
    if (s != ST_FREE && !(s & ST_PENDING))
        lvl = (int)(s & ST_LEVEL_MASK);
    pthread_rwlock_unlock(&h->rw);
    return lvl;
}

int hnsw_get_links(hnsw *h, uint32_t id, int level, uint32_t *out, uint32_t max)
{
    int rc;
    uint8_t s;
    if (!h || level < 0 || (!out && max))
        return HNSW_EINVAL;
    pthread_rwlock_rdlock(&h->rw);
    s = id < h->nslots ? atomic_load(&h->state[id]) : ST_FREE;
    if (s == ST_FREE || (s & ST_PENDING)) {
        rc = HNSW_ENOENT;
    } else if (level > (int)(s & ST_LEVEL_MASK)) {
        rc = HNSW_EINVAL;
    } else {
        aword *blk = hnsw_links(h, id, level);
        aword *ids = hnsw_link_ids(h, blk, level);
        uint32_t n = atomic_load_explicit(&blk[0], memory_order_acquire);
        uint32_t cap = level == 0 ? h->M0 : h->M;
        if (n > cap)
            n = cap;
        if (n > max)
            n = max;
        for (uint32_t i = 0; i < n; i++)
            out[i] = atomic_load_explicit(&ids[i], memory_order_acquire);
        rc = (int)n;
    }
    pthread_rwlock_unlock(&h->rw);
    return rc;
}

int hnsw_max_level(hnsw *h)
{
    return h ? atomic_load(&h->maxlevel) : -1;
}

uint32_t hnsw_max_links(const hnsw *h)
{
    return h ? h->M0 : 0;
}

int hnsw_set_ef_construction(hnsw *h, uint32_t ef)
{
    if (!h || ef < 1 || ef > 1000000)
        return HNSW_EINVAL;
    if (h->p.ef_construction == ef)
        return HNSW_OK;
    pthread_rwlock_wrlock(&h->rw);
    h->p.ef_construction = ef;
    pthread_rwlock_unlock(&h->rw);
    return HNSW_OK;
}

uint32_t hnsw_slots_used(hnsw *h)
{
    uint32_t n;
    if (!h)
        return 0;
    pthread_rwlock_rdlock(&h->rw);
    n = h->nslots;
    pthread_rwlock_unlock(&h->rw);
    return n;
}
