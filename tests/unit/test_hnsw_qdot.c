/* test_hnsw_qdot.c -- the query-side int8 scorers of index/hnsw_qdot.c:
 * every tier this CPU runs must return, for each record of a batch, the
 * distance the reference int8 dot gives (the dot is exact in int32, so the
 * only difference allowed is none), at every dimension class (tails of
 * every length, sub-block sizes), with extreme codes (-127, 127, and -128,
 * which quant_i8 never writes but a hand-made record may hold), and with
 * records at odd offsets (the int8 record is unpadded). A scorer that
 * dropped a tail byte, saturated, or mixed up the +128 correction fails
 * here before it can bend a graph.
 * Also the float32 construction codes (hnsw.c design 9): derived data that
 * hnsw_load must rebuild, or a loaded index would link new inserts
 * differently from the one that was saved; and their bytes are counted.
 * Both record shapes: scale inline (I8 storage) and scale and code sum
 * apart (the codes of a float32 index: a 256-byte code fills 4 lines, not
 * 5, and the scorers take the sum instead of computing it). And the
 * 4-bit codes (hnsw.c design 13): kept across save/load, rebuilt the same,
 * and built on at most 1 point of recall from the float32 beam; their
 * scorers' tiers are checked by tests/kernels/code4_tiers.c, which also
 * runs under qemu-aarch64. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "index/hnsw_int.h"
#include "tests/unit/hnsw_testutil.h"

static uint64_t rng = 88172645463325252ULL;

static int8_t rand_code(int extreme)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    if (extreme)
        return (rng & 1) ? 127 : ((rng & 2) ? -127 : -128);
    return (int8_t)((int)(rng % 255) - 127);
}

static int32_t ref_dot(const int8_t *a, const int8_t *b, size_t n)
{
    int64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += (int64_t)a[i] * b[i];
    return (int32_t)s;
}

/* Scores m records of a synthetic slab with tier f; compares with the
 * reference formula. rec is odd-sized so vectors sit at every alignment.
 * sep: the scales in their own array (a float32 index's codes, whose
 * records are the codes alone), else each record's first float (I8). */
static void check_tier(hnsw_qscore_fn f, const char *name, size_t dim, int extreme, int sep)
{
    const uint32_t m = 37;
    const size_t hdr = sep ? 0 : sizeof(float), voff = 13, rec = voff + hdr + dim + 3;
    uint8_t *base = calloc(m + 1, rec);
    hnsw_cmeta meta[38];
    int8_t *qi = malloc(dim + 1);
    uint8_t *qu = malloc(dim + 1);
    uint32_t ids[37];
    float out[37];
    hnsw_qscore_args a;
    cr_assert(base && qi && qu);
    for (size_t i = 0; i < dim; i++) {
        qi[i] = rand_code(extreme);
        if (qi[i] == -128)
            qi[i] = -127; /* the query comes from quant_i8: never -128 */
        qu[i] = (uint8_t)qi[i] ^ 0x80u;
    }
    for (uint32_t r = 0; r <= m; r++) {
        uint8_t *p = base + (size_t)r * rec + voff;
        float sc = 0.001f * (float)(r + 1);
        int32_t sum = 0;
        if (!sep)
            memcpy(p, &sc, sizeof(sc));
        for (size_t i = 0; i < dim; i++) {
            ((int8_t *)(p + hdr))[i] = rand_code(extreme);
            sum += ((int8_t *)(p + hdr))[i];
        }
        meta[r] = (hnsw_cmeta){sc, sum};
    }
    for (uint32_t k = 0; k < m; k++)
        ids[k] = (k * 7 + 3) % (m + 1); /* out of order, one id skipped */
    a = (hnsw_qscore_args){base, rec, voff, dim, qi, qu, 0.0123f, kernels_get()->dot_i8,
                           sep ? meta : NULL, 0};
    f(&a, ids, m, out);
    for (uint32_t k = 0; k < m; k++) {
        const uint8_t *p = base + (size_t)ids[k] * rec + voff;
        float sc, want;
        if (sep)
            sc = meta[ids[k]].scale;
        else
            memcpy(&sc, p, sizeof(sc));
        want = 1.0f - (float)ref_dot(qi, (const int8_t *)(p + hdr), dim) * a.qscale * sc;
        cr_assert_eq(out[k], want, "%s dim %zu extreme %d sep %d record %u: %.9g != %.9g", name,
                     dim, extreme, sep, k, out[k], want);
    }
    free(base);
    free(qi);
    free(qu);
}

Test(hnsw_qdot, every_scorer_tier_matches_the_exact_int8_distance_at_every_tail_length)
{
    static const size_t dims[] = {1,  3,   7,   8,   15,  16,  17,  31,  32,  33,  63,  64,
                                  65, 100, 127, 128, 129, 191, 255, 256, 257, 320, 383, 384,
                                  385, 768, 1536, 3072};
    static const char *names[HNSW_QSCORE_COUNT] = {"generic", "avx512vnni", "avxvnni"};
    int ran = 0;
    for (int t = 0; t < HNSW_QSCORE_COUNT; t++) {
        hnsw_qscore_fn f = hnsw_qscore_tier((hnsw_qscore_tier_id)t);
        if (!f)
            continue;
        ran++;
        for (size_t i = 0; i < sizeof(dims) / sizeof(dims[0]); i++) {
            for (int sep = 0; sep < 2; sep++) {
                check_tier(f, names[t], dims[i], 0, sep);
                check_tier(f, names[t], dims[i], 1, sep);
            }
        }
    }
    cr_assert_geq(ran, 1);
}

Test(hnsw_qdot, the_selected_scorer_is_never_wider_than_the_kernel_tier)
{
    const kernels *avx2 = kernels_tier(KTIER_AVX2);
    if (avx2)
        cr_assert_neq(hnsw_qscore_select(avx2), hnsw_qscore_tier(HNSW_QSCORE_AVX512VNNI));
    cr_assert_eq(hnsw_qscore_select(kernels_tier(KTIER_SCALAR)),
                 hnsw_qscore_tier(HNSW_QSCORE_GENERIC));
    cr_assert_eq(hnsw_qscore_select(kernels_tier(KTIER_REF)),
                 hnsw_qscore_tier(HNSW_QSCORE_GENERIC));
}

static char *save_mem(hnsw *h, size_t *len)
{
    char *buf = tu_save_mem(h, len);
    cr_assert_not_null(buf, "hnsw_save");
    return buf;
}

/* Saves an index with codes of kind `codes`, loads it, and checks the
 * loaded one rebuilt the same codes and answers as the saved one. */
static void reload_answers_alike(int codes)
{
    const uint32_t d = 96;
    const size_t n = 1500, more = 200;
    float *x = tu_clustered(7, n + more, d, 12, 0.5);
    hnsw_params p;
    hnsw *h = NULL, *g = NULL;
    size_t len, lenh, leng;
    char *buf, *bh, *bg, err[256];
    FILE *f;
    hnsw_params_default(&p, d);
    p.codes = codes;
    cr_assert_eq(hnsw_create(&p, &h), HNSW_OK);
    for (size_t i = 0; i < n; i++) {
        uint32_t id;
        cr_assert_eq(hnsw_insert(h, x + i * d, d, &id), HNSW_OK);
    }
    cr_assert_not_null(h->cq, "float32 at d = %u keeps construction codes", d);
    cr_assert_eq(hnsw_get_codes(h), codes);
    buf = save_mem(h, &len);
    f = fmemopen(buf, len, "rb");
    cr_assert_not_null(f);
    cr_assert_eq(hnsw_load(f, &g), HNSW_OK);
    fclose(f);
    cr_assert_eq(hnsw_get_codes(g), codes, "the header keeps the kind of codes");
    cr_assert_eq(g->crec, h->crec);
    for (size_t b = 0; b < n * h->crec; b++)
        cr_assert_eq(g->cq[b], h->cq[b], "codes rebuilt on load: byte %zu (slot %zu): %d vs %d", b, b / h->crec, g->cq[b], h->cq[b]);
    for (size_t i = 0; i < n; i++)
        cr_assert(g->cm[i].scale == h->cm[i].scale && g->cm[i].sum == h->cm[i].sum,
                  "code scale and sum rebuilt on load: slot %zu", i);
    for (size_t i = n; i < n + more; i++) {
        uint32_t a, b;
        cr_assert_eq(hnsw_insert(h, x + i * d, d, &a), HNSW_OK);
        cr_assert_eq(hnsw_insert(g, x + i * d, d, &b), HNSW_OK);
        cr_assert_eq(a, b);
    }
    cr_assert_eq(hnsw_validate(g, err, sizeof(err)), 0, "%s", err);
    /* Not byte-identical any more: the spanning trees (hnsw.c design 3)
     * are rebuilt by a BFS at load, so a loaded index may keep a different
     * tree link when it prunes. Both must answer alike. */
    bh = save_mem(h, &lenh);
    bg = save_mem(g, &leng);
    cr_assert_eq(lenh, leng);
    {
        hnsw_result ra[10], rb[10];
        size_t same = 0, total = 0;
        for (size_t i = 0; i < n + more; i += 7) {
            int na = hnsw_search(h, x + i * d, d, 10, 64, ra);
            int nb = hnsw_search(g, x + i * d, d, 10, 64, rb);
            cr_assert_eq(na, 10);
            cr_assert_eq(nb, 10);
            for (int a = 0; a < 10; a++)
                for (int b = 0; b < 10; b++)
                    same += ra[a].id == rb[b].id;
            total += 10;
        }
        cr_assert_geq(same * 100, total * 97, "top-10 agreement %zu of %zu", same, total);
    }
    /* the codes are in the accounted bytes */
    cr_assert_geq(hnsw_memory_bytes(h), (size_t)h->cap * (h->rec0 + h->crec + sizeof(hnsw_cmeta)));
    free(buf);
    free(bh);
    free(bg);
    hnsw_free(g);
    hnsw_free(h);
    free(x);
}

Test(hnsw_qdot, a_loaded_float32_index_rebuilds_its_int8_codes_and_answers_as_the_saved_one)
{
    reload_answers_alike(HNSW_CODES_I8);
}

Test(hnsw_qdot, a_loaded_float32_index_rebuilds_its_4bit_codes_and_answers_as_the_saved_one)
{
    reload_answers_alike(HNSW_CODES_I4);
}

Test(hnsw_qdot, codes_outside_none_int8_int4_are_refused)
{
    hnsw_params p;
    hnsw *h = NULL;
    hnsw_params_default(&p, 128);
    p.codes = 3;
    cr_assert_eq(hnsw_create(&p, &h), HNSW_EINVAL);
    p.codes = -1;
    cr_assert_eq(hnsw_create(&p, &h), HNSW_EINVAL);
    p.codes = HNSW_CODES_I4;
    p.dim = 32; /* below the codes' minimum dimension: none kept */
    cr_assert_eq(hnsw_create(&p, &h), HNSW_OK);
    cr_assert_eq(hnsw_get_codes(h), HNSW_CODES_NONE);
    hnsw_free(h);
}

/* Builds n rows of x into a float32 index with codes of kind `codes`;
 * HNSW_CODES_NONE forces the float32 beam. */
static hnsw *build_f32(const float *x, size_t n, uint32_t d, int codes)
{
    hnsw_params p;
    hnsw *h = NULL;
    hnsw_params_default(&p, d);
    p.codes = codes;
    cr_assert_eq(hnsw_create(&p, &h), HNSW_OK);
    hnsw_set_exact_threshold(h, 0);
    for (size_t i = 0; i < n; i++) {
        uint32_t id;
        cr_assert_eq(hnsw_insert(h, x + i * d, d, &id), HNSW_OK);
        cr_assert_eq(id, (uint32_t)i);
    }
    cr_assert(codes ? h->cq != NULL : h->cq == NULL);
    return h;
}

/* Building and searching on codes of kind `codes` costs a float32 index
 * at most 1 point of recall@10 at ef against the float32 beam, also after
 * 3x churn. */
static void codes_recall(int codes, uint32_t d, uint32_t ef)
{
    const uint32_t nq = 200;
    const size_t n = TU_SLOW ? 1500 : 6000;
    float *x = tu_clustered(41, n + nq, d, 40, 0.5), *q = x + n * d;
    hnsw *hc = build_f32(x, n, d, codes), *hf = build_f32(x, n, d, HNSW_CODES_NONE);
    double rc = tu_recall(hc, q, nq, d, 10, ef), rf = tu_recall(hf, q, nq, d, 10, ef);
    char err[256];
    cr_log_info("recall@10 ef %u d %u: codes %d %.4f float32 beam %.4f", ef, d, codes, rc, rf);
    cr_assert_geq(rc, rf - 0.01, "built on codes %.4f vs float32 %.4f", rc, rf);
    cr_assert_eq(hnsw_validate(hc, err, sizeof(err)), 0, "%s", err);
    /* churn 3x on codes: recall stays within 1 point of the fresh build */
    {
        tu_rng r = {9};
        uint32_t *id_of = malloc(n * sizeof(uint32_t));
        uint32_t *key_of = malloc(2 * n * sizeof(uint32_t));
        double rch;
        for (size_t i = 0; i < n; i++)
            id_of[i] = key_of[i] = (uint32_t)i;
        for (size_t done = 0; done < 3 * n; done += n / 10) {
            size_t keys[1000], m = n / 10 < 1000 ? n / 10 : 1000;
            for (size_t i = 0; i < m; i++) {
                keys[i] = tu_next(&r) % n;
                if (id_of[keys[i]] == UINT32_MAX) {
                    i--;
                    continue;
                }
                cr_assert_eq(hnsw_delete(hc, id_of[keys[i]]), HNSW_OK);
                id_of[keys[i]] = UINT32_MAX;
            }
            for (size_t i = 0; i < m; i++) {
                uint32_t id;
                cr_assert_eq(hnsw_insert(hc, x + keys[i] * d, d, &id), HNSW_OK);
                cr_assert_lt(id, 2 * n);
                id_of[keys[i]] = id;
                key_of[id] = (uint32_t)keys[i];
            }
        }
        cr_assert_eq(hnsw_validate(hc, err, sizeof(err)), 0, "%s", err);
        /* ids changed: recall against the exact search of the same index */
        {
            double hit = 0;
            for (uint32_t i = 0; i < nq; i++) {
                hnsw_result a[10], e[10];
                int na = hnsw_search(hc, q + (size_t)i * d, d, 10, ef, a);
                int ne = hnsw_search_exact(hc, q + (size_t)i * d, d, 10, e);
                cr_assert_eq(na, 10);
                cr_assert_eq(ne, 10);
                for (int j = 0; j < 10; j++)
                    for (int k = 0; k < 10; k++)
                        hit += a[j].id == e[k].id;
            }
            rch = hit / (10.0 * nq);
        }
        cr_log_info("after 3x churn on codes: recall@10 %.4f (fresh %.4f)", rch, rc);
        cr_assert_geq(rch, rc - 0.01, "churned %.4f vs fresh %.4f", rch, rc);
        free(id_of);
        free(key_of);
    }
    hnsw_free(hc);
    hnsw_free(hf);
    free(x);
}

Test(hnsw_qdot, building_on_int8_codes_costs_a_float32_index_at_most_1_point_of_recall,
     .timeout = 300)
{
    codes_recall(HNSW_CODES_I8, 96, 16);
}

Test(hnsw_qdot, building_on_4bit_codes_costs_a_float32_index_at_most_1_point_of_recall,
     .timeout = 300)
{
    /* at ef 32: 4-bit codes need a wider beam than int8 codes (at ef 16
     * on this set they reach 0.920 against the float32 beam's 0.969;
     * the cache searches at EF 32) */
    codes_recall(HNSW_CODES_I4, 96, 32);
    codes_recall(HNSW_CODES_I4, 256, 32);
}
