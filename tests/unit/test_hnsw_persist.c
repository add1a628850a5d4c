/* test_hnsw_persist.c -- hnsw_save / hnsw_load: a round trip answers
 * every query identically and keeps accepting inserts and deletes; a
 * truncated file (every length, sampled) or one with any single bit
 * flipped is rejected with HNSW_EFORMAT and leaks nothing (ASan); a file
 * claiming a huge index does not make the loader allocate it. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <xxhash.h>

#include "tests/unit/hnsw_testutil.h"

static hnsw *build(hnsw_params *p, const float *x, size_t n)
{
    hnsw *h = NULL;
    cr_assert_eq(hnsw_create(p, &h), HNSW_OK);
    for (size_t i = 0; i < n; i++) {
        uint32_t id;
        cr_assert_eq(hnsw_insert(h, x + i * p->dim, p->dim, &id), HNSW_OK);
    }
    return h;
}

static char *save_mem(hnsw *h, size_t *len)
{
    char *buf = tu_save_mem(h, len);
    cr_assert_not_null(buf, "hnsw_save");
    return buf;
}


static void same_answers(hnsw *a, hnsw *b, const float *q, uint32_t nq, uint32_t d)
{
    hnsw_result ra[10], rb[10];
    for (uint32_t i = 0; i < nq; i++) {
        int na = hnsw_search(a, q + (size_t)i * d, d, 10, 32, ra);
        int nb = hnsw_search(b, q + (size_t)i * d, d, 10, 32, rb);
        cr_assert_eq(na, nb);
        for (int j = 0; j < na; j++) {
            cr_assert_eq(ra[j].id, rb[j].id, "query %u rank %d", i, j);
            cr_assert_eq(ra[j].dist, rb[j].dist);
        }
        na = hnsw_search_exact(a, q + (size_t)i * d, d, 10, ra);
        nb = hnsw_search_exact(b, q + (size_t)i * d, d, 10, rb);
        cr_assert_eq(na, nb);
        for (int j = 0; j < na; j++)
            cr_assert_eq(ra[j].id, rb[j].id);
    }
}

static void round_trip(hnsw_storage st, int rerank)
{
    size_t n = 3000, len, len2;
    uint32_t d = 24;
    float *x = tu_clustered(61, n + 50, d, 10, 0.5), *q = x + n * d;
    hnsw_params p;
    hnsw *h, *g = NULL;
    char *buf, *buf2, err[256];
    uint32_t id1, id2;
    hnsw_params_default(&p, d);
    p.storage = st;
    p.rerank = rerank;
    h = build(&p, x, n);
    hnsw_set_exact_threshold(h, 0);
    for (uint32_t id = 0; id < n; id += 5)
        cr_assert_eq(hnsw_delete(h, id), HNSW_OK);
    buf = save_mem(h, &len);
    cr_assert_eq(tu_load_bytes(buf, len, &g), HNSW_OK);
    cr_assert_not_null(g);
    cr_assert_eq(hnsw_count(g), hnsw_count(h));
    cr_assert_eq(hnsw_dim(g), d);
    cr_assert_eq(hnsw_validate(g, err, sizeof(err)), 0, "%s", err);
    same_answers(h, g, q, 50, d);
    /* saving the loaded index gives the same bytes */
    buf2 = save_mem(g, &len2);
    cr_assert_eq(len, len2);
    cr_assert_eq(memcmp(buf, buf2, len), 0);
    /* both keep working the same way: same free ids, same levels */
    cr_assert_eq(hnsw_insert(h, q, d, &id1), HNSW_OK);
    cr_assert_eq(hnsw_insert(g, q, d, &id2), HNSW_OK);
    cr_assert_eq(id1, id2);
    cr_assert_eq(hnsw_delete(g, 1), HNSW_OK);
    cr_assert_eq(hnsw_delete(h, 1), HNSW_OK);
    same_answers(h, g, q, 50, d);
    cr_assert_eq(hnsw_validate(g, err, sizeof(err)), 0, "%s", err);
    free(buf);
    free(buf2);
    hnsw_free(g);
    hnsw_free(h);
    free(x);
}

Test(hnsw_persist, float32_round_trip_gives_identical_results)
{
    round_trip(HNSW_STORE_F32, 0);
}

Test(hnsw_persist, int8_f16_rerank_round_trip_gives_identical_results)
{
    round_trip(HNSW_STORE_I8, HNSW_RERANK_F16);
}

Test(hnsw_persist, int8_f32_rerank_round_trip_gives_identical_results)
{
    round_trip(HNSW_STORE_I8, HNSW_RERANK_F32);
}

/* Rewrites a saved file's header as format version 1 with the given
 * rerank word (the layout of version 1 files of these kinds is the same). */
static void make_v1(char *buf, uint32_t rerank)
{
    uint32_t v = 1;
    uint64_t hash;
    memcpy(buf + 8, &v, 4);
    memcpy(buf + 32, &rerank, 4);
    hash = XXH3_64bits(buf, 88);
    memcpy(buf + 88, &hash, 8);
}

Test(hnsw_persist, version_1_files_still_load_with_their_float32_copies)
{
    size_t n = 600, len;
    uint32_t d = 16;
    float *x = tu_clustered(62, n + 20, d, 6, 0.5), *q = x + n * d;
    hnsw_storage st[2] = {HNSW_STORE_F32, HNSW_STORE_I8};
    int rr[2] = {HNSW_RERANK_NONE, HNSW_RERANK_F32};
    for (int t = 0; t < 2; t++) {
        hnsw_params p;
        hnsw *h, *g = NULL;
        char *buf, err[256];
        hnsw_params_default(&p, d);
        p.storage = st[t];
        p.rerank = rr[t];
        h = build(&p, x, n);
        hnsw_set_exact_threshold(h, 0);
        buf = save_mem(h, &len);
        make_v1(buf, rr[t] ? 1 : 0); /* version 1: rerank 1 = float32 copies */
        cr_assert_eq(tu_load_bytes(buf, len, &g), HNSW_OK, "kind %d", t);
        cr_assert_eq(hnsw_validate(g, err, sizeof(err)), 0, "%s", err);
        same_answers(h, g, q, 20, d);
        /* version 1 never had rerank 2 (float16) */
        make_v1(buf, 2);
        hnsw_free(g);
        g = (hnsw *)1;
        cr_assert_eq(tu_load_bytes(buf, len, &g), HNSW_EFORMAT);
        cr_assert_null(g);
        free(buf);
        hnsw_free(h);
    }
    free(x);
}

Test(hnsw_persist, int8_round_trip_gives_identical_results)
{
    round_trip(HNSW_STORE_I8, 0);
}

Test(hnsw_persist, empty_index_round_trips)
{
    hnsw_params p;
    hnsw *h, *g;
    char *buf;
    size_t len;
    hnsw_result r[1];
    float v[3] = {1, 2, 3};
    uint32_t id;
    hnsw_params_default(&p, 3);
    cr_assert_eq(hnsw_create(&p, &h), HNSW_OK);
    buf = save_mem(h, &len);
    cr_assert_eq(tu_load_bytes(buf, len, &g), HNSW_OK);
    cr_assert_eq(hnsw_count(g), 0);
    cr_assert_eq(hnsw_search(g, v, 3, 1, 0, r), 0);
    cr_assert_eq(hnsw_insert(g, v, 3, &id), HNSW_OK);
    cr_assert_eq(hnsw_search(g, v, 3, 1, 0, r), 1);
    free(buf);
    hnsw_free(g);
    hnsw_free(h);
}

static char *small_file(size_t *len, hnsw_storage st)
{
    size_t n = 120;
    uint32_t d = 8;
    float *x = tu_clustered(71, n, d, 4, 0.5);
    hnsw_params p;
    hnsw *h;
    char *buf;
    hnsw_params_default(&p, d);
    p.M = 4;
    p.storage = st;
    h = build(&p, x, n);
    for (uint32_t id = 0; id < n; id += 7)
        hnsw_delete(h, id);
    buf = save_mem(h, len);
    hnsw_free(h);
    free(x);
    return buf;
}

Test(hnsw_persist, every_truncation_of_the_file_is_rejected_with_eformat)
{
    for (int st = 0; st < 2; st++) {
        size_t len;
        char *buf = small_file(&len, (hnsw_storage)st);
        /* every length from 0 to the header end and past the first
         * sections, then a stride through the rest, and the last bytes */
        for (size_t cut = 0; cut < len; cut += cut < 512 ? 1 : (cut > len - 64 ? 1 : 37)) {
            hnsw *g = (hnsw *)1;
            cr_assert_eq(tu_load_bytes(buf, cut, &g), HNSW_EFORMAT, "cut at %zu of %zu", cut, len);
            cr_assert_null(g);
        }
        free(buf);
    }
}

Test(hnsw_persist, every_single_bit_flip_is_rejected_with_eformat)
{
    size_t len;
    char *buf = small_file(&len, HNSW_STORE_I8);
    size_t tried = 0;
    for (size_t byte = 0; byte < len; byte += byte < 256 ? 1 : 13) {
        for (int bit = 0; bit < 8; bit++) {
            hnsw *g = (hnsw *)1;
            buf[byte] ^= (char)(1 << bit);
            cr_assert_eq(tu_load_bytes(buf, len, &g), HNSW_EFORMAT, "flip byte %zu bit %d", byte, bit);
            cr_assert_null(g);
            buf[byte] ^= (char)(1 << bit);
            tried++;
        }
    }
    cr_assert_gt(tried, 1000);
    {
        hnsw *g;
        cr_assert_eq(tu_load_bytes(buf, len, &g), HNSW_OK, "unflipped file must load");
        hnsw_free(g);
    }
    free(buf);
}

Test(hnsw_persist, a_header_claiming_a_huge_index_is_refused_without_allocating_it)
{
    /* Build a header that passes its own checksum but claims 4 billion
     * slots: the loader must see the file is far too short. (Under ASan an
     * attempt to allocate it would abort on the allocation limit.) */
    size_t len;
    char *buf = small_file(&len, HNSW_STORE_F32);
    uint32_t big = 0xFFFFFFF0u;
    uint64_t hash;
    hnsw *g = (hnsw *)1;
    memcpy(buf + 36, &big, 4);     /* nslots */
    hash = XXH3_64bits(buf, 88);
    memcpy(buf + 88, &hash, 8);
    cr_assert_eq(tu_load_bytes(buf, len, &g), HNSW_EFORMAT);
    cr_assert_null(g);
    free(buf);
}

Test(hnsw_persist, wrong_magic_or_version_or_garbage_is_rejected)
{
    size_t len;
    char *buf = small_file(&len, HNSW_STORE_F32);
    hnsw *g = (hnsw *)1;
    char junk[200];
    uint32_t v = 3;
    uint64_t hash;
    memset(junk, 'x', sizeof(junk));
    cr_assert_eq(tu_load_bytes(junk, sizeof(junk), &g), HNSW_EFORMAT);
    memcpy(buf + 8, &v, 4);        /* version 3 (unknown), checksum fixed up */
    hash = XXH3_64bits(buf, 88);
    memcpy(buf + 88, &hash, 8);
    cr_assert_eq(tu_load_bytes(buf, len, &g), HNSW_EFORMAT);
    cr_assert_null(g);
    cr_assert_eq(hnsw_load(NULL, &g), HNSW_EINVAL);
    free(buf);
}

/* hnsw_params.codes = 0 must really drop the float32 index's int8 codes
 * (the least-memory float32 variant) and the choice must survive a
 * save/load, which rebuilds codes only for indexes that had them. */
Test(hnsw_persist, float32_without_codes_stays_without_codes_across_save_and_load)
{
    size_t n = 1500, len;
    uint32_t d = 96;
    float *x = tu_clustered(67, n + 40, d, 12, 0.5), *q = x + n * d;
    hnsw_params pc, pn;
    hnsw *hc, *hn, *gc = NULL, *gn = NULL;
    char *buf, err[256];
    hnsw_params_default(&pc, d);
    pn = pc;
    pn.codes = 0;
    cr_assert_eq(pc.codes, 1, "codes are the default");
    hc = build(&pc, x, n);
    hn = build(&pn, x, n);
    /* at least 4 + d bytes per vector less, minus slack for rounding */
    cr_assert_geq(hnsw_memory_bytes(hc), hnsw_memory_bytes(hn) + n * (d + 4) * 9 / 10,
                  "with codes %zu, without %zu", hnsw_memory_bytes(hc), hnsw_memory_bytes(hn));
    buf = save_mem(hn, &len);
    cr_assert_eq(tu_load_bytes(buf, len, &gn), HNSW_OK);
    free(buf);
    buf = save_mem(hc, &len);
    cr_assert_eq(tu_load_bytes(buf, len, &gc), HNSW_OK);
    free(buf);
    cr_assert_geq(hnsw_memory_bytes(gc), hnsw_memory_bytes(gn) + n * (d + 4) * 9 / 10);
    cr_assert_eq(hnsw_validate(gn, err, sizeof(err)), 0, "%s", err);
    same_answers(hn, gn, q, 40, d);
    same_answers(hc, gc, q, 40, d);
    hnsw_free(gc);
    hnsw_free(gn);
    hnsw_free(hc);
    hnsw_free(hn);
    free(x);
}
