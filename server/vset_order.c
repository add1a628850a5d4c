/* vset_order.c -- the name-ordered index of a vector set (vset_order.h), so
 * that VRANGE seeks its start bound in O(log N) and walks count names,
 * where it used to scan the whole hash dictionary (O(N log count) per page
 * on the loop thread, N^2/C to page through a set in pages of C).
 *
 * Design decisions:
 * 1. A treap, intrusive: each vset_elem carries two child pointers (16
 *    bytes) and no other field. The heap priority is not stored: it is a
 *    keyed mix of the name hash the element already carries (e->hash), so
 *    the tree shape is that of a random treap, expected height ~3 ln N
 *    (about 40 at 1M elements). Measured: +16 B per element of allocator
 *    usage at 100k elements (README, vector-set design notes).
 *    Rejected: a B+tree of element pointers (~10 B/element, fewer cache
 *    misses per seek, but node splits/merges are several hundred lines to
 *    get right, and the seek is not the cost that matters: a page of 100
 *    costs a few microseconds either way); a skiplist (a separate node
 *    allocation per element, 16-32 B with the allocator's size classes);
 *    Redis's rax (shares prefixes, but is a large module of its own).
 * 2. All operations are iterative (split/merge through pointer-to-pointer
 *    slots), so no recursion depth depends on input; the range walk keeps
 *    its ancestor path on the stack and moves it to the heap only for a
 *    tree deeper than 96, which a random treap of any realistic size
 *    never is (the path is still correct if it happens).
 * 3. The priority key is a per-process random seed (getrandom) mixed into
 *    the hash with a bijective finaliser: a client that picks names cannot
 *    predict priorities and so cannot force a degenerate (list-shaped)
 *    tree. XXH3 itself is unseeded here because the hash table shares it.
 *
 * Threading: loop thread only; no lock (vset_order.h). */
#include "vset_order.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static uint64_t prio_seed;
static int prio_seeded;

static void seed_once(void) {
    if (prio_seeded) return;
    if (getrandom(&prio_seed, sizeof prio_seed, 0) != (ssize_t)sizeof prio_seed)
        prio_seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&prio_seed;
    prio_seeded = 1;
}

/* murmur3's 64-bit finaliser: a bijection, so distinct hashes keep
 * distinct priorities. */
static uint64_t prio(const vset_elem *e) {
    uint64_t z = e->hash ^ prio_seed;
    z ^= z >> 33;
    z *= 0xff51afd7ed558ccdULL;
    z ^= z >> 33;
    z *= 0xc4ceb9fe1a85ec53ULL;
    return z ^ (z >> 33);
}

int vset_order_cmp(const char *a, size_t an, const char *b, size_t bn) {
    size_t n = an < bn ? an : bn;
    int c = n ? memcmp(a, b, n) : 0;
    if (c) return c;
    return an < bn ? -1 : an > bn;
}

static int node_cmp(const vset_elem *a, const vset_elem *b) {
    return vset_order_cmp(a->name, a->nlen, b->name, b->nlen);
}

void vset_order_insert(vset_elem **root, vset_elem *e) {
    seed_once();
    uint64_t p = prio(e);
    vset_elem **slot = root;
    /* descend while the nodes outrank e: e becomes the root of the subtree
     * found there */
    while (*slot && prio(*slot) > p) slot = node_cmp(e, *slot) < 0 ? &(*slot)->left : &(*slot)->right;
    /* split that subtree by e's name into e's two children */
    vset_elem *t = *slot, **l = &e->left, **r = &e->right;
    while (t) {
        if (node_cmp(t, e) < 0) {
            *l = t;
            l = &t->right;
            t = t->right;
        } else {
            *r = t;
            r = &t->left;
            t = t->left;
        }
    }
    *l = *r = NULL;
    *slot = e;
}

void vset_order_remove(vset_elem **root, vset_elem *e) {
    vset_elem **slot = root;
    while (*slot != e) {
        if (!*slot) return;        /* not in the tree: contract broken, no-op */
        slot = node_cmp(e, *slot) < 0 ? &(*slot)->left : &(*slot)->right;
    }
    /* merge e's children into its slot: the higher priority goes on top */
    vset_elem *a = e->left, *b = e->right;
    while (a && b) {
        if (prio(a) > prio(b)) {
            *slot = a;
            slot = &a->right;
            a = a->right;
        } else {
            *slot = b;
            slot = &b->left;
            b = b->left;
        }
    }
    *slot = a ? a : b;
}

/* The ancestor path of the range walk: on the stack up to 96 deep. */
typedef struct path {
    const vset_elem **s;
    size_t n, cap;
    const vset_elem *local[96];
} path;

static int path_push(path *p, const vset_elem *e) {
    if (p->n == p->cap) {
        size_t cap = p->cap * 2;
        const vset_elem **s = p->s == p->local ? malloc(cap * sizeof *s) : realloc(p->s, cap * sizeof *s);
        if (!s) return -1;
        if (p->s == p->local) memcpy(s, p->local, sizeof p->local);
        p->s = s;
        p->cap = cap;
    }
    p->s[p->n++] = e;
    return 0;
}

/* Pushes t and its chain of left children: the next in order is on top. */
static int path_push_left(path *p, const vset_elem *t) {
    for (; t; t = t->left)
        if (path_push(p, t) != 0) return -1;
    return 0;
}

long vset_order_range(const vset_elem *root, const char *lo, size_t lolen, int loincl,
                      const char *hi, size_t hilen, int hiincl, size_t cap, vset_elem **out) {
    path p = {.n = 0, .cap = sizeof p.local / sizeof p.local[0]};
    p.s = p.local;
    long rc = -1;
    /* seek: keep on the path every node >= lo where the walk turned left,
     * i.e. the in-order successors still to visit */
    if (!lo) {
        if (path_push_left(&p, root) != 0) goto fail;
    } else {
        for (const vset_elem *t = root; t;) {
            int c = vset_order_cmp(t->name, t->nlen, lo, lolen);
            if (c > 0 || (c == 0 && loincl)) {
                if (path_push(&p, t) != 0) goto fail;
                t = t->left;
            } else {
                t = t->right;
            }
        }
    }
    size_t n = 0;
    while (n < cap && p.n) {
        const vset_elem *e = p.s[--p.n];
        if (hi) {
            int c = vset_order_cmp(e->name, e->nlen, hi, hilen);
            if (c > 0 || (c == 0 && !hiincl)) break;
        }
        out[n++] = (vset_elem *)e;
        if (path_push_left(&p, e->right) != 0) goto fail;
    }
    rc = (long)n;
fail:
    if (p.s != p.local) free(p.s);
    return rc;
}

int vset_order_check(const vset_elem *root, size_t *n) {
    *n = 0;
    if (!root) return 0;
    size_t nl, nr;
    if (vset_order_check(root->left, &nl) != 0 || vset_order_check(root->right, &nr) != 0) return -1;
    const vset_elem *l = root->left, *r = root->right;
    if (l && (node_cmp(l, root) >= 0 || prio(l) > prio(root))) return -1;
    if (r && (node_cmp(r, root) <= 0 || prio(r) > prio(root))) return -1;
    /* the whole left subtree is below root: its maximum is the rightmost */
    for (; l && l->right; l = l->right) {}
    for (; r && r->left; r = r->left) {}
    if (l && node_cmp(l, root) >= 0) return -1;
    if (r && node_cmp(r, root) <= 0) return -1;
    *n = nl + nr + 1;
    return 0;
}
