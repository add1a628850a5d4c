/* vset_order.h -- the name order of a vector set's elements (VRANGE): an
 * intrusive treap threaded through vset_elem's left/right fields, keyed by
 * the name in memcmp order (a proper prefix sorts first), with a heap
 * priority derived from the element's name hash (vset_order.c).
 *
 * Threading: loop thread only. The links are read by VRANGE and written by
 * VADD (new element) / VREM, all on the loop thread; filter workers never
 * follow them, so no lock covers them (v->lock guards by_id and attributes
 * only). */
#ifndef SIMCACHE_VSET_ORDER_H
#define SIMCACHE_VSET_ORDER_H

#include <stddef.h>

#include "vset.h"

/* memcmp order on names of length an and bn: negative, 0 or positive. */
int vset_order_cmp(const char *a, size_t an, const char *b, size_t bn);

/* Links e (e->name, e->nlen and e->hash set; left/right overwritten) into
 * the tree at *root. No element with the same name may be in the tree.
 * O(log N) expected; never allocates, cannot fail. */
void vset_order_insert(vset_elem **root, vset_elem *e);

/* Unlinks e, which must be in the tree at *root. O(log N) expected; cannot
 * fail. e's links are left stale (the caller frees or re-inserts it). */
void vset_order_remove(vset_elem **root, vset_elem *e);

/* Writes to out[0..cap) the first elements (ascending name) whose names
 * lie between the bounds: a bound is a name with incl 1 (inclusive) or 0
 * (exclusive), or open (lo == NULL: from the first; hi == NULL: to the
 * last). Returns how many were written, or -1 on ENOMEM (a tree deeper
 * than the on-stack path, never seen in practice). Elements stay owned by
 * the set. O(log N + cap) expected. */
long vset_order_range(const vset_elem *root, const char *lo, size_t lolen, int loincl,
                      const char *hi, size_t hilen, int hiincl, size_t cap, vset_elem **out);

/* Test hook: checks the search-tree order (strictly ascending names) and
 * the heap order of priorities; *n gets the node count. 0 if both hold,
 * -1 otherwise. O(N), recursion depth = tree height. */
int vset_order_check(const vset_elem *root, size_t *n);

#endif
