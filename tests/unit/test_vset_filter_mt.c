/* test_vset_filter_mt.c -- filtered searches (vset_search_filtered) on
 * threads while the owning thread replaces attributes, replaces vectors
 * and removes/re-adds elements; plus the filtered search, VRANGE selection
 * and the REDUCE projection against trivial models.
 *
 * Threats: a worker reading an attribute string or the id->element array
 * while the loop frees or reallocates it (TSan reports the race, ASan the
 * use after free); a filtered exact search naming an element that does
 * not satisfy the filter or missing a nearer one that does; VRANGE's
 * bounded selection dropping or misordering names; a projection that is
 * not deterministic. */
#ifdef SIMCACHE_PLAIN_TEST      /* TSan build (tests/mt/vset_filter_mt.c): plain_test.h */
#include <string.h>
#include "tests/unit/plain_test.h"
/* the assertions this file uses beyond plain_test.h's set */
#define cr_expect(c, ...) cr_assert(c, __VA_ARGS__)
#define cr_expect_eq(a, b, ...) cr_assert((a) == (b), __VA_ARGS__)
#define cr_expect_gt(a, b, ...) cr_assert((a) > (b), __VA_ARGS__)
#define cr_assert_gt(a, b, ...) cr_assert((a) > (b), __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) cr_assert(strcmp((a), (b)) == 0, __VA_ARGS__)
#define cr_expect_str_eq(a, b, ...) cr_assert(strcmp((a), (b)) == 0, __VA_ARGS__)
#define cr_expect_float_eq(a, b, eps, ...) cr_assert(fabs((double)(a) - (double)(b)) <= (eps), __VA_ARGS__)
#else
#include <criterion/criterion.h>
#endif
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/vfilter.h"
#include "server/vset.h"

#define DIM 8
#define N 400

static uint64_t rs = 99;
static uint32_t rnd(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (uint32_t)rs;
}

static void random_vec(float *v, uint32_t dim) {
    for (uint32_t i = 0; i < dim; i++) v[i] = (float)((int)(rnd() % 2001) - 1000) / 1000.0f;
    v[0] += 3.0f;
}

static float l2(const float *v, uint32_t dim) {
    double s = 0;
    for (uint32_t i = 0; i < dim; i++) s += (double)v[i] * v[i];
    return (float)sqrt(s);
}

static void add(vset *v, int i, const float *vec, int g) {
    char name[32], attr[32];
    snprintf(name, sizeof name, "e%d", i);
    int alen = snprintf(attr, sizeof attr, "{\"g\": %d}", g);
    int added;
    cr_assert_eq(vset_add(v, name, strlen(name), vec, l2(vec, DIM), 50, 1, attr, (size_t)alen,
                          &added),
                 0);
}

typedef struct searcher {
    vset *v;
    const vfilter *f;
    atomic_int *stop;
    long searches;
    int errors;
} searcher;

static void *search_main(void *arg) {
    searcher *s = arg;
    float q[DIM];
    hnsw_result out[10];
    uint64_t st = (uint64_t)(uintptr_t)arg;
    while (!atomic_load(s->stop)) {
        for (int i = 0; i < DIM; i++) {
            st = st * 6364136223846793005ULL + 1442695040888963407ULL;
            q[i] = (float)((st >> 33) % 2001) / 1000.0f - 1.0f;
        }
        q[0] += 3.0f;
        int n = vset_search_filtered(s->v, q, 10, 40, s->f, 1000, s->searches % 5 == 0, out);
        if (n < 0 || n > 10) s->errors++;
        s->searches++;
    }
    return NULL;
}

Test(vset_filter_mt, searches_race_attribute_and_vector_replacement) {
    vset *v;
    cr_assert_eq(vset_create(DIM, VSET_Q8, 16, &v), 0);
    float vec[DIM];
    for (int i = 0; i < N; i++) {
        random_vec(vec, DIM);
        add(v, i, vec, i % 4);
    }
    vfilter *f;
    size_t pos;
    const char *e = ".g == 1 or .g == 3";
    cr_assert_eq(vfilter_compile(e, strlen(e), &f, &pos), 0);
    atomic_int stop = 0;
    searcher s[2] = {{v, f, &stop, 0, 0}, {v, f, &stop, 0, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) cr_assert_eq(pthread_create(&t[i], NULL, search_main, &s[i]), 0);
    char name[32], attr[32];
    for (int round = 0; round < 3000; round++) {
        int i = (int)(rnd() % N);
        snprintf(name, sizeof name, "e%d", i);
        vset_elem *el = vset_find(v, name, strlen(name));
        switch (round % 4) {
        case 0:            /* attributes replaced or removed */
            if (el) {
                int alen = round % 8 ? snprintf(attr, sizeof attr, "{\"g\": %d}", (int)(rnd() % 4))
                                     : 0;
                cr_assert_eq(vset_set_attr(v, el, attr, (size_t)alen), 0);
            }
            break;
        case 1:            /* vector replaced: new id, old id freed */
            random_vec(vec, DIM);
            add(v, i, vec, (int)(rnd() % 4));
            break;
        case 2:            /* removed */
            vset_remove(v, name, strlen(name));
            break;
        default:           /* re-added */
            random_vec(vec, DIM);
            add(v, i, vec, (int)(rnd() % 4));
            break;
        }
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        cr_expect_eq(s[i].errors, 0);
        cr_expect_gt(s[i].searches, 0);
    }
    vfilter_free(f);
    vset_unref(v);
}

Test(vset_filter_mt, exact_filtered_search_matches_a_brute_force_model) {
    vset *v;
    cr_assert_eq(vset_create(DIM, VSET_NOQUANT, 16, &v), 0);
    static float vecs[N][DIM];
    static int g[N];
    for (int i = 0; i < N; i++) {
        random_vec(vecs[i], DIM);
        g[i] = (int)(rnd() % 5);
        add(v, i, vecs[i], g[i]);
    }
    vfilter *f;
    size_t pos;
    const char *e = ".g * 2 >= 6";       /* g in {3, 4} */
    cr_assert_eq(vfilter_compile(e, strlen(e), &f, &pos), 0);
    for (int t = 0; t < 20; t++) {
        float q[DIM];
        random_vec(q, DIM);
        hnsw_result out[10];
        int n = vset_search_filtered(v, q, 10, 0, f, 1, 1, out);   /* TRUTH ignores FILTER-EF */
        cr_assert_eq(n, 10);
        /* model: cosine of every g>=3 element, take the 10 best */
        double best[N];
        int idx[N], m = 0;
        float qn = l2(q, DIM);
        for (int i = 0; i < N; i++) {
            if (g[i] < 3) continue;
            double d = 0;
            for (int k = 0; k < DIM; k++) d += (double)q[k] * vecs[i][k];
            best[m] = d / (qn * l2(vecs[i], DIM));
            idx[m++] = i;
        }
        for (int r = 0; r < 10; r++) {
            int bi = r;
            for (int j = r + 1; j < m; j++)
                if (best[j] > best[bi]) bi = j;
            double tb = best[r];
            best[r] = best[bi];
            best[bi] = tb;
            int ti = idx[r];
            idx[r] = idx[bi];
            idx[bi] = ti;
            vset_elem *el = vset_by_id(v, out[r].id);
            char want[32];
            snprintf(want, sizeof want, "e%d", idx[r]);
            cr_expect_str_eq(el->name, want, "rank %d", r);
            cr_expect_float_eq(1.0 - out[r].dist, best[r], 1e-4);
        }
    }
    vfilter_free(f);
    vset_unref(v);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

Test(vset_filter_mt, vrange_selection_agrees_with_sorting) {
    vset *v;
    cr_assert_eq(vset_create(2, VSET_Q8, 16, &v), 0);
    static char names[N][16];
    char *sorted[N];
    float vec[2] = {1, 1};
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "k%u", rnd() % 100000);
        int added;
        cr_assert_eq(vset_add(v, names[i], strlen(names[i]), vec, 1.4142f, 10, 0, NULL, 0, &added),
                     0);
    }
    int n = 0;   /* distinct names, sorted */
    for (int i = 0; i < N; i++) sorted[n++] = names[i];
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_str);
    int u = 0;
    for (int i = 0; i < n; i++)
        if (u == 0 || strcmp(sorted[u - 1], sorted[i]) != 0) sorted[u++] = sorted[i];
    cr_assert_eq((size_t)u, v->count);
    /* page through with exclusive starts, page sizes 1..50 */
    int at = 0;
    const char *lo = NULL;
    size_t lolen = 0;
    for (int page = 1; at < u; page = page % 50 + 1) {
        vset_elem **es;
        long got = vset_range(v, lo, lolen, 0, NULL, 0, 0, page, &es);
        cr_assert_gt(got, 0);
        for (long i = 0; i < got; i++) cr_assert_str_eq(es[i]->name, sorted[at + i]);
        at += (int)got;
        lo = es[got - 1]->name;
        lolen = es[got - 1]->nlen;
        free(es);
    }
    /* inclusive bounds on both ends, all */
    vset_elem **es;
    long got = vset_range(v, sorted[10], strlen(sorted[10]), 1, sorted[20], strlen(sorted[20]), 1,
                          -1, &es);
    cr_expect_eq(got, 11);
    free(es);
    vset_unref(v);
}

Test(vset_filter_mt, projection_is_deterministic_and_preserves_angles_roughly) {
    vset *a, *b;
    cr_assert_eq(vset_create(64, VSET_NOQUANT, 16, &a), 0);
    cr_assert_eq(vset_create(64, VSET_NOQUANT, 16, &b), 0);
    cr_assert_eq(vset_set_projection(a, 512), 0);
    cr_assert_eq(vset_set_projection(b, 512), 0);
    cr_expect_eq(vset_set_projection(b, 512), HNSW_EINVAL);   /* only once */
    cr_expect_eq(memcmp(a->proj, b->proj, 64 * 512 * sizeof(float)), 0);
    vset *c;
    cr_assert_eq(vset_create(64, VSET_NOQUANT, 16, &c), 0);
    cr_expect_eq(vset_set_projection(c, 32), HNSW_EINVAL);    /* input smaller than output */
    vset_unref(c);
    /* Johnson-Lindenstrauss: norms survive within a loose factor */
    static float x[512], y[64];
    for (int t = 0; t < 20; t++) {
        random_vec(x, 512);
        vset_project(a, x, y);
        double r = l2(y, 64) / l2(x, 512);
        cr_expect(r > 0.6 && r < 1.4, "norm ratio %f", r);
    }
    vset_unref(a);
    vset_unref(b);
}
