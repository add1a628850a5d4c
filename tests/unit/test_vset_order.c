/* test_vset_order.c -- the name-order treap of vector sets
 * (server/vset_order.c) against a trivial model: a sorted array of names.
 *
 * Threats: a rotation (split/merge) that loses or duplicates a subtree, so
 * VRANGE would skip or repeat elements while paging; a seek that gets
 * exclusive/inclusive bounds wrong around names that are prefixes of each
 * other, the empty name, or names with NUL bytes (memcmp order, binary
 * safe); a walk that stops early or runs past the end bound; the heap
 * order decaying under churn (the tree would degrade to a list). */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "server/vset.h"
#include "server/vset_order.h"

static uint64_t rs = 0x2545f4914f6cdd1dULL;
static uint32_t rnd(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (uint32_t)(rs >> 11);
}

static vset_elem *mk(const char *name, size_t n) {
    vset_elem *e = calloc(1, sizeof *e + n + 1);
    cr_assert(e);
    memcpy(e->name, name, n);
    e->nlen = (uint32_t)n;
    e->hash = XXH3_64bits(name, n);
    return e;
}

/* The model: live elements, kept sorted. */
typedef struct model {
    vset_elem **a;
    size_t n, cap;
} model;

static long model_find(const model *m, const char *p, size_t n, int *found) {
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (vset_order_cmp(m->a[mid]->name, m->a[mid]->nlen, p, n) < 0) lo = mid + 1;
        else hi = mid;
    }
    *found = lo < m->n && vset_order_cmp(m->a[lo]->name, m->a[lo]->nlen, p, n) == 0;
    return (long)lo;
}

/* The expected range by a linear filter of the model. */
static size_t model_range(const model *m, const char *lo, size_t lolen, int loincl, const char *hi,
                          size_t hilen, int hiincl, size_t cap, vset_elem **out) {
    size_t k = 0;
    for (size_t i = 0; i < m->n && k < cap; i++) {
        vset_elem *e = m->a[i];
        if (lo) {
            int c = vset_order_cmp(e->name, e->nlen, lo, lolen);
            if (c < 0 || (c == 0 && !loincl)) continue;
        }
        if (hi) {
            int c = vset_order_cmp(e->name, e->nlen, hi, hilen);
            if (c > 0 || (c == 0 && !hiincl)) break;
        }
        out[k++] = e;
    }
    return k;
}

/* Names over a 3-letter alphabet with NUL, length 0..5: many prefixes,
 * collisions and the empty name. */
static size_t random_name(char *buf) {
    static const char alpha[] = {'\0', 'a', 'b', '\xff'};
    size_t n = rnd() % 6;
    for (size_t i = 0; i < n; i++) buf[i] = alpha[rnd() % 4];
    return n;
}

static void check_shape(vset_elem *root, const model *m) {
    size_t n;
    cr_assert_eq(vset_order_check(root, &n), 0, "treap order or heap order broken");
    cr_assert_eq(n, m->n, "treap holds %zu nodes, model %zu", n, m->n);
}

static void check_range(vset_elem *root, const model *m, vset_elem **got, vset_elem **want) {
    char lo[8], hi[8];
    size_t lolen = random_name(lo), hilen = random_name(hi);
    int lo_open = rnd() % 5 == 0, hi_open = rnd() % 5 == 0;
    int loincl = rnd() & 1, hiincl = rnd() & 1;
    size_t cap = rnd() % 3 == 0 ? m->n : rnd() % 8;
    long g = vset_order_range(root, lo_open ? NULL : lo, lolen, loincl, hi_open ? NULL : hi, hilen,
                              hiincl, cap, got);
    size_t w = model_range(m, lo_open ? NULL : lo, lolen, loincl, hi_open ? NULL : hi, hilen, hiincl,
                           cap, want);
    cr_assert_eq(g, (long)w, "range returned %ld, model %zu", g, w);
    for (size_t i = 0; i < w; i++) cr_assert_eq(got[i], want[i], "range element %zu differs", i);
}

Test(vset_order, random_inserts_deletes_and_seeks_match_a_sorted_model) {
    model m = {0};
    m.cap = 4096;
    m.a = malloc(m.cap * sizeof *m.a);
    vset_elem **got = malloc(m.cap * sizeof *got), **want = malloc(m.cap * sizeof *want);
    vset_elem *root = NULL;
    char buf[8];
    for (int op = 0; op < 100000; op++) {
        size_t n = random_name(buf);
        int found;
        long at = model_find(&m, buf, n, &found);
        uint32_t kind = rnd() % 10;
        if (kind < 5 && !found) {
            vset_elem *e = mk(buf, n);
            vset_order_insert(&root, e);
            cr_assert(m.n < m.cap);
            memmove(m.a + at + 1, m.a + at, (m.n - (size_t)at) * sizeof *m.a);
            m.a[at] = e;
            m.n++;
        } else if (kind < 8 && found) {
            vset_elem *e = m.a[at];
            vset_order_remove(&root, e);
            memmove(m.a + at, m.a + at + 1, (m.n - (size_t)at - 1) * sizeof *m.a);
            m.n--;
            free(e);
        } else {
            check_range(root, &m, got, want);
        }
        if (op % 997 == 0) check_shape(root, &m);
    }
    check_shape(root, &m);
    /* the alphabet has 4^0 + ... + 4^5 = 1365 names: the churn reached a
     * sizeable tree, not a trivial one */
    cr_assert_gt(m.n, 300);
    for (size_t i = 0; i < m.n; i++) vset_order_remove(&root, m.a[i]);
    cr_assert_null(root, "removing every element leaves an empty tree");
    for (size_t i = 0; i < m.n; i++) free(m.a[i]);
    free(m.a);
    free(got);
    free(want);
}

Test(vset_order, prefixes_empty_name_and_nul_bytes_sort_as_memcmp_then_length) {
    /* given in shuffled order; expected order below */
    static const struct { const char *p; size_t n; } want[] = {
        {"", 0}, {"\0", 1}, {"\0\0", 2}, {"\0a", 2}, {"a", 1}, {"a\0", 2}, {"ab", 2}, {"b", 1},
        {"\xff", 1},
    };
    const size_t N = sizeof want / sizeof want[0];
    static const int order[] = {5, 0, 8, 3, 1, 7, 2, 6, 4};
    vset_elem *root = NULL, *es[9], *out[16];
    for (size_t i = 0; i < N; i++) {
        es[i] = mk(want[order[i]].p, want[order[i]].n);
        vset_order_insert(&root, es[i]);
    }
    long n = vset_order_range(root, NULL, 0, 0, NULL, 0, 0, 16, out);
    cr_assert_eq(n, (long)N);
    for (size_t i = 0; i < N; i++) {
        cr_assert_eq(out[i]->nlen, want[i].n, "element %zu", i);
        cr_assert(memcmp(out[i]->name, want[i].p, want[i].n) == 0, "element %zu", i);
    }
    /* "(a" excludes "a" but keeps its extensions; "[\0" includes "\0" */
    n = vset_order_range(root, "a", 1, 0, NULL, 0, 0, 16, out);
    cr_assert_eq(n, 4);
    cr_assert_eq(out[0]->nlen, 2);
    cr_assert(memcmp(out[0]->name, "a\0", 2) == 0);
    n = vset_order_range(root, "\0", 1, 1, "\0a", 2, 0, 16, out);
    cr_assert_eq(n, 2, "[\\0 .. (\\0a holds \\0 and \\0\\0");
    /* the empty name as an inclusive and an exclusive bound */
    n = vset_order_range(root, "", 0, 1, "", 0, 1, 16, out);
    cr_assert_eq(n, 1);
    cr_assert_eq(out[0]->nlen, 0);
    n = vset_order_range(root, "", 0, 0, NULL, 0, 0, 16, out);
    cr_assert_eq(n, (long)N - 1);
    /* count 0 and an empty interval */
    cr_assert_eq(vset_order_range(root, NULL, 0, 0, NULL, 0, 0, 0, out), 0);
    cr_assert_eq(vset_order_range(root, "b", 1, 1, "a", 1, 1, 16, out), 0);
    cr_assert_eq(vset_order_range(NULL, NULL, 0, 0, NULL, 0, 0, 16, out), 0);
    for (size_t i = 0; i < N; i++) free(es[i]);
}

Test(vset_order, sequential_names_keep_the_tree_shallow) {
    /* ascending inserts are a plain BST's worst case (a list); the hashed
     * priorities must keep the depth logarithmic. The bound, 96, is far
     * above a random treap's expected ~3 ln N = 32 at this size. */
    enum { N = 50000 };
    vset_elem **es = malloc(N * sizeof *es);
    vset_elem *root = NULL;
    char name[16];
    for (int i = 0; i < N; i++) {
        int n = snprintf(name, sizeof name, "%08d", i);
        es[i] = mk(name, (size_t)n);
        vset_order_insert(&root, es[i]);
    }
    size_t cnt;
    cr_assert_eq(vset_order_check(root, &cnt), 0);
    cr_assert_eq(cnt, N);
    size_t maxd = 0;
    for (int i = 0; i < N; i += 7) {       /* depth of a sample of nodes */
        size_t d = 0;
        for (vset_elem *t = root; t != es[i]; d++)
            t = vset_order_cmp(es[i]->name, es[i]->nlen, t->name, t->nlen) < 0 ? t->left : t->right;
        if (d > maxd) maxd = d;
    }
    cr_assert_lt(maxd, 96, "depth %zu for %d sequential names", maxd, N);
    /* page through with exclusive bounds: every name once, in order */
    vset_elem *out[100];
    const char *lo = NULL;
    size_t lolen = 0, seen = 0;
    for (;;) {
        long n = vset_order_range(root, lo, lolen, 0, NULL, 0, 0, 100, out);
        cr_assert_geq(n, 0);
        if (n == 0) break;
        for (long i = 0; i < n; i++) cr_assert_eq(out[i], es[seen + (size_t)i]);
        seen += (size_t)n;
        lo = out[n - 1]->name;
        lolen = out[n - 1]->nlen;
    }
    cr_assert_eq(seen, N);
    for (int i = 0; i < N; i++) free(es[i]);
    free(es);
}

Test(vset_order, vset_add_remove_and_range_keep_the_order_index_in_step_with_the_dictionary) {
    /* the hooks in vset.c: a new name is linked once, a replaced vector
     * does not link it again, a removed name is unlinked */
    vset *v;
    cr_assert_eq(vset_create(2, VSET_NOQUANT, 16, &v), 0);
    char buf[8];
    for (int op = 0; op < 4000; op++) {
        size_t n = random_name(buf);
        vset_elem *e = vset_find(v, buf, n);
        if (rnd() % 3) {
            float vec[2] = {1.0f, (float)(rnd() % 100) / 100.0f};
            int added;
            cr_assert_eq(vset_add(v, buf, n, vec, 1.0f, 16, 0, NULL, 0, &added), 0);
            cr_assert_eq(added, e == NULL);
        } else {
            cr_assert_eq(vset_remove(v, buf, n), e != NULL);
        }
        size_t cnt;
        cr_assert_eq(vset_order_check(v->order, &cnt), 0);
        cr_assert_eq(cnt, v->count, "order index %zu nodes, dictionary %zu", cnt, v->count);
    }
    /* the whole range equals the dictionary's names, sorted */
    vset_elem **es;
    long n = vset_range(v, NULL, 0, 0, NULL, 0, 0, -1, &es);
    cr_assert_eq(n, (long)v->count);
    for (long i = 0; i < n; i++) {
        cr_assert_eq(vset_find(v, es[i]->name, es[i]->nlen), es[i]);
        if (i) cr_assert_lt(vset_order_cmp(es[i - 1]->name, es[i - 1]->nlen, es[i]->name, es[i]->nlen), 0);
    }
    free(es);
    vset_unref(v);
}
