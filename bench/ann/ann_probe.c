/* ann_probe.c -- a small, repeatable probe of our HNSW search path, made
 * for instruction counting under callgrind (immune to the load of a shared
 * machine) rather than for wall-clock numbers (ann-bench does those).
 *
 * Usage: ann-probe --dir DIR [--index FILE] [--ef 24] [--nq 200]
 *                  [--variant f32|i8|i8-norr] [--reps 1]
 *   DIR    a dataset directory written by ann-prep (base/query/gt)
 *   FILE   a saved index: loaded if it exists, else built (M 16,
 *          ef_construction 200) and saved there, so repeated probes of the
 *          same graph skip the build.
 * Prints recall@10 over the first --nq queries and the wall time per
 * query (the fastest of --reps passes over them). Callgrind usage (counts only hnsw_search and what it calls):
 *   valgrind --tool=callgrind --toggle-collect=hnsw_search \
 *       build/release/bench/ann-probe --dir D --index /tmp/x.idx --ef 24
 * then divide the "Collected" Ir by --nq. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/ann/ann_data.h"
#include "index/hnsw.h"

#define K 10

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static hnsw *build(const ann_matrix *base, const char *variant, uint32_t *row_of_id)
{
    hnsw_params p;
    hnsw *h;
    hnsw_params_default(&p, base->dim);
    if (strcmp(variant, "f32")) {
        p.storage = HNSW_STORE_I8;
        p.rerank = !strcmp(variant, "i8");
    }
    if (hnsw_create(&p, &h))
        return NULL;
    hnsw_reserve(h, (uint32_t)base->rows);
    for (size_t i = 0; i < base->rows; i++) {
        uint32_t id;
        if (hnsw_insert(h, base->v + i * base->dim, base->dim, &id)) {
            hnsw_free(h);
            return NULL;
        }
        row_of_id[id] = (uint32_t)i;
    }
    return h;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *idx = NULL, *variant = "f32";
    unsigned ef = 24, nq = 200, reps = 1;
    double best = 1e30;
    char path[4096], err[256];
    ann_matrix base, q;
    ann_gt gt;
    hnsw *h = NULL;
    uint32_t *row_of_id;
    FILE *f;
    double recall = 0, t0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--dir")) dir = argv[i + 1];
        else if (!strcmp(argv[i], "--index")) idx = argv[i + 1];
        else if (!strcmp(argv[i], "--ef")) ef = (unsigned)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--nq")) nq = (unsigned)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--variant")) variant = argv[i + 1];
        else if (!strcmp(argv[i], "--reps")) reps = (unsigned)atoi(argv[i + 1]);
        else dir = NULL, i = argc;
    }
    if (!dir) {
        fprintf(stderr, "usage: ann-probe --dir DIR [--index FILE] [--ef 24] [--nq 200] "
                        "[--variant f32|i8|i8-norr] [--reps 1]\n");
        return 2;
    }
    snprintf(path, sizeof(path), "%s/base.fvecs", dir);
    if (ann_read_fvecs(path, &base, err, sizeof(err))) goto fail;
    snprintf(path, sizeof(path), "%s/query.fvecs", dir);
    if (ann_read_fvecs(path, &q, err, sizeof(err))) goto fail;
    snprintf(path, sizeof(path), "%s/gt.ivecs", dir);
    if (ann_read_ivecs(path, &gt, err, sizeof(err))) goto fail;
    if (nq > q.rows) nq = (unsigned)q.rows;
    row_of_id = malloc(base.rows * sizeof(uint32_t));
    /* Ids are dense and in insertion order for a fresh build (and
     * hnsw_save keeps ids), so id == row on both paths. */
    for (size_t i = 0; i < base.rows; i++) row_of_id[i] = (uint32_t)i;
    if (idx && (f = fopen(idx, "rb"))) {
        int rc = hnsw_load(f, &h);
        fclose(f);
        if (rc) { snprintf(err, sizeof(err), "hnsw_load %s: %d", idx, rc); goto fail; }
    } else {
        t0 = now_s();
        h = build(&base, variant, row_of_id);
        if (!h) { snprintf(err, sizeof(err), "build failed"); goto fail; }
        fprintf(stderr, "ann-probe: built %zu x %u in %.1f s\n", base.rows, base.dim, now_s() - t0);
        if (idx && (f = fopen(idx, "wb"))) {
            hnsw_save(h, f);
            fclose(f);
        }
    }
    for (unsigned r = 0; r < reps; r++) {
    recall = 0;
    t0 = now_s();
    for (unsigned i = 0; i < nq; i++) {
        hnsw_result res[K];
        int32_t got[K];
        int n = hnsw_search(h, q.v + (size_t)i * q.dim, q.dim, K, ef, res);
        for (int j = 0; j < K; j++)
            got[j] = j < n ? (int32_t)row_of_id[res[j].id] : -1;
        recall += ann_recall(got, gt.ids + (size_t)i * gt.k, K);
    }
    if (now_s() - t0 < best)
        best = now_s() - t0;
    }
    printf("ann-probe: %s ef %u nq %u recall@10 %.4f  %.1f us/query\n", variant, ef, nq,
           recall / nq, best * 1e6 / nq);
    hnsw_free(h);
    return 0;
fail:
    fprintf(stderr, "ann-probe: %s\n", err);
    return 1;
}
