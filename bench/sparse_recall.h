/* sparse_recall.h -- what sparse_recall.c shares with its --decide mode
 * (sparse_recall_decide.c). */
#ifndef SIMCACHE_BENCH_SPARSE_RECALL_H
#define SIMCACHE_BENCH_SPARSE_RECALL_H

#include <stddef.h>
#include <stdint.h>

typedef struct strv {
    char **s;
    size_t n, cap;
} strv;

/* Stores `stored` in a fresh cache namespace at the defaults (but DIM
 * `dim` when dim != 0, and int8 storage when int8 != 0; then also compared
 * with a float32 namespace at DIM ref_dim, 0 = the default), looks every
 * prompt of `para` and `other` up with the exact scan (the truth), then
 * with the graph at each widen[0..nw) factor and band[0..nb) (factors
 * 0 and 1 once), and prints one markdown row each. para_origin->s[i] is
 * the stored prompt para->s[i] paraphrases (its correct hit). 0, or 1 on ENOMEM or
 * a DIM the cache refuses. ef != 0 and m != 0 set the namespace's EF and
 * M (the reference keeps the defaults). */
/* --codes: the traversal codes of every index built (HNSW_CODES_*), or
 * -1 for the cache namespaces' default. */
extern int sparse_codes;

int sparse_recall_decide(const strv *stored, const strv *para, const strv *para_origin,
                         const strv *other,
                         const uint32_t *widen, uint32_t nw, const float *band, uint32_t nb,
                         uint32_t dim, int int8, uint32_t ref_dim, uint32_t ef, uint32_t m);

#endif
