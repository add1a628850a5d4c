/* test_hnsw_reach.c -- every node stays reachable from the entry point,
 * checked by the validator after every single mutation, single-threaded
 * (issue 3: "level 0: 2 of 3252 nodes unreachable").
 *
 * The bad pattern is a 2-cycle x <-> y whose only way in from the rest of
 * the graph is one link b -> x. An in-degree rule ("drop b -> x only if x
 * has another in-link") sees in-degree 2 at x and drops it, and both x
 * and y are cut off. It happens on two paths, both reproduced here with
 * the data of tests/mt/hnsw_mt.c (a dense "doomed" region next to
 * clustered vectors, M 8, ef_construction 64): an insert's back link
 * re-pruning b's full list (seed 98: 162 inserts in), and a delete of b
 * itself, whose repair re-checked only in-degrees (seed 81: the 376th
 * delete). Both sequences failed the validator before the spanning tree
 * of hnsw.c design 3; the seeds are the ones the local stress run
 * (reach_stress, check after every mutation) found first. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "tests/unit/hnsw_testutil.h"

#define D 16

typedef struct data {
    float *stable, *doomed;
    size_t nstable, ndoomed;
} data;

/* tests/mt/hnsw_mt.c's make_data: stable vectors with first component
 * 0, doomed ones with first component 10. */
static data make_data(uint64_t seed)
{
    data x = {NULL, NULL, 6000, 500};
    tu_rng r = {seed};
    x.stable = tu_clustered(seed, x.nstable, D, 8, 0.5);
    for (size_t i = 0; i < x.nstable; i++)
        x.stable[i * D] = 0;
    x.doomed = malloc(x.ndoomed * D * sizeof(float));
    for (size_t i = 0; i < x.ndoomed; i++) {
        x.doomed[i * D] = 10;
        for (int j = 1; j < D; j++)
            x.doomed[i * D + j] = (float)tu_gauss(&r);
    }
    return x;
}

static hnsw *preload(const data *x, uint32_t *doomed_ids)
{
    hnsw_params p;
    hnsw *h;
    hnsw_params_default(&p, D);
    p.M = 8;
    p.ef_construction = 64;
    cr_assert_eq(hnsw_create(&p, &h), HNSW_OK);
    for (size_t i = 0; i < x->nstable / 2; i++) {
        uint32_t id;
        cr_assert_eq(hnsw_insert(h, x->stable + i * D, D, &id), HNSW_OK);
    }
    for (size_t i = 0; i < x->ndoomed; i++)
        cr_assert_eq(hnsw_insert(h, x->doomed + i * D, D, &doomed_ids[i]), HNSW_OK);
    return h;
}

static void check_valid(hnsw *h, const char *what, size_t i)
{
    char err[256];
    cr_assert_eq(hnsw_validate(h, err, sizeof(err)), 0, "after %s %zu: %s", what, i, err);
}

Test(hnsw_reach, insert_pruning_never_cuts_off_a_two_cycle)
{
    data x = make_data(98);
    uint32_t *ids = malloc(x.ndoomed * sizeof(uint32_t));
    hnsw *h = preload(&x, ids);
    check_valid(h, "preload", 0);
    for (size_t i = x.nstable / 2; i < x.nstable; i++) {
        uint32_t id;
        cr_assert_eq(hnsw_insert(h, x.stable + i * D, D, &id), HNSW_OK);
        check_valid(h, "insert", i - x.nstable / 2);
    }
    hnsw_free(h);
    free(ids);
    free(x.stable);
    free(x.doomed);
}

Test(hnsw_reach, single_deletes_never_cut_off_a_two_cycle)
{
    data x = make_data(81);
    uint32_t *ids = malloc(x.ndoomed * sizeof(uint32_t));
    hnsw *h = preload(&x, ids);
    for (size_t i = 0; i < x.ndoomed; i++) {
        cr_assert_eq(hnsw_delete(h, ids[i]), HNSW_OK);
        check_valid(h, "delete", i);
    }
    hnsw_free(h);
    free(ids);
    free(x.stable);
    free(x.doomed);
}

/* Mixed, over several seeds: every fifth insert deletes the oldest of
 * the inserted ones (tests/mt/hnsw_mt.c's inserter), and the doomed
 * region goes at the same time, one delete per insert. */
Test(hnsw_reach, mixed_inserts_and_deletes_keep_every_level_reachable)
{
    for (uint64_t seed = 81; seed < 81 + (TU_SLOW ? 2 : 6); seed++) {
        data x = make_data(seed);
        uint32_t *ids = malloc(x.ndoomed * sizeof(uint32_t)), mine[4096];
        size_t nmine = 0, nd = 0;
        hnsw *h = preload(&x, ids);
        for (size_t i = x.nstable / 2; i < x.nstable; i++) {
            uint32_t id;
            cr_assert_eq(hnsw_insert(h, x.stable + i * D, D, &id), HNSW_OK);
            mine[nmine++] = id;
            if (i % 5 == 0 && nmine > 1) {
                cr_assert_eq(hnsw_delete(h, mine[0]), HNSW_OK);
                mine[0] = mine[--nmine];
            }
            if (nd < x.ndoomed)
                cr_assert_eq(hnsw_delete(h, ids[nd++]), HNSW_OK);
            if (i % 16 == 0 || nd == x.ndoomed)
                check_valid(h, "step", i);
        }
        check_valid(h, "end", 0);
        hnsw_free(h);
        free(ids);
        free(x.stable);
        free(x.doomed);
    }
}

/* The trees are not saved: load rebuilds them. Deletes and inserts after
 * a load (which re-attach orphans by their parents) keep every level
 * reachable, and so does deleting the entry point (the tree's root). */
Test(hnsw_reach, trees_rebuilt_at_load_keep_deletes_after_it_reachable)
{
    data x = make_data(81);
    uint32_t *ids = malloc(x.ndoomed * sizeof(uint32_t));
    hnsw *h = preload(&x, ids), *g = NULL;
    FILE *f = tmpfile();
    cr_assert_not_null(f);
    cr_assert_eq(hnsw_save(h, f), HNSW_OK);
    rewind(f);
    cr_assert_eq(hnsw_load(f, &g), HNSW_OK);
    fclose(f);
    hnsw_free(h);
    for (size_t i = 0; i < x.ndoomed; i++) {
        cr_assert_eq(hnsw_delete(g, ids[i]), HNSW_OK);
        if (i % 8 == 0) {
            uint32_t id;
            cr_assert_eq(hnsw_insert(g, x.stable + (x.nstable / 2 + i) * D, D, &id), HNSW_OK);
        }
        check_valid(g, "delete after load", i);
    }
    /* every node of the top level, the entry point among them, three
     * times over */
    for (int round = 0; round < 3; round++) {
        int top = hnsw_max_level(g);
        uint32_t slots = hnsw_slots_used(g);
        for (uint32_t id = 0; id < slots; id++) {
            if (hnsw_node_level(g, id) != top)
                continue;
            cr_assert_eq(hnsw_delete(g, id), HNSW_OK);
            check_valid(g, "top-level delete", id);
        }
        cr_assert_lt(hnsw_max_level(g), top);
    }
    hnsw_free(g);
    free(ids);
    free(x.stable);
    free(x.doomed);
}

/* ef_construction may be as small as 1 (hnsw_set_ef_construction, VADD
 * ... EF 1). Such a beam left level-1 nodes unreachable right after the
 * inserts (and, at 2 or 3, level-0 nodes after deletes) until the build
 * beam became max(ef_construction, M); and a context reserved for it
 * was too small for the 16-wide beam with which a delete re-homes a
 * cut-off node (fuzz_hnsw_load found that; the ASan stage would see the
 * overflow). Every node deleted, the entry point among them, in a
 * scattered order: valid after each. */
Test(hnsw_reach, deletes_in_an_index_built_with_ef_construction_1_stay_in_bounds)
{
    data x = make_data(81);
    hnsw_params p;
    hnsw *h;
    uint32_t ids[400];
    hnsw_params_default(&p, D);
    p.M = 4;
    p.ef_construction = 1;
    cr_assert_eq(hnsw_create(&p, &h), HNSW_OK);
    hnsw_set_exact_threshold(h, 0);
    for (size_t i = 0; i < 400; i++)
        cr_assert_eq(hnsw_insert(h, (i % 2 ? x.doomed : x.stable) + (i / 2) * D, D, &ids[i]),
                     HNSW_OK);
    check_valid(h, "inserts", 400);
    for (size_t i = 0; i < 400; i++) {
        cr_assert_eq(hnsw_delete(h, ids[(i * 7) % 400]), HNSW_OK);
        check_valid(h, "delete", i);
    }
    cr_assert_eq(hnsw_count(h), 0);
    hnsw_free(h);
    free(x.stable);
    free(x.doomed);
}
