/* ann_probe.c -- a small, repeatable probe of our HNSW search path, made
 * for instruction counting under callgrind (immune to the load of a shared
 * machine) rather than for wall-clock numbers (ann-bench does those).
 *
 * Usage: ann-probe --dir DIR [--index FILE] [--ef 24] [--nq 200]
 *                  [--variant f32|i8|i8-f32|i8-norr] [--reps 1] [--churn 0]
 *   DIR    a dataset directory written by ann-prep (base/query/gt)
 *   FILE   a saved index: loaded if it exists, else built (M 16,
 *          ef_construction 200) and saved there, so repeated probes of the
 *          same graph skip the build.
 * Prints recall@10 over the first --nq queries and the wall time per
 * query (the fastest of --reps passes over them). Callgrind usage (counts only hnsw_search and what it calls):
 *   valgrind --tool=callgrind --toggle-collect=hnsw_search \
 *       build/release/bench/ann-probe --dir D --index /tmp/x.idx --ef 24
 * then divide the "Collected" Ir by --nq.
 * --churn F: after the build, delete a random tenth of the rows and insert
 * them again until F x n rows were re-inserted (as ann-bench does), and
 * print the fresh build's insert rate, the churned insert rate and the
 * delete rate, before the searches (which then run on the churned graph).
 * Under perf (`perf record -g build/release/bench/ann-probe ... --churn 3`)
 * this shows where churned inserts spend their time. */
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

/* Mean level-0 out-degree and the share of full lists (2M links). */
static void degree_stats(hnsw *h, const char *when)
{
    uint32_t used = hnsw_slots_used(h), mx = hnsw_max_links(h), links[8192];
    double sum = 0, full = 0, live = 0;
    for (uint32_t id = 0; id < used; id++) {
        int n = hnsw_get_links(h, id, 0, links, mx < 8192 ? mx : 8192);
        if (n < 0)
            continue;
        live++;
        sum += n;
        full += (uint32_t)n == mx;
    }
    fprintf(stderr, "ann-probe: %s: level-0 out-degree %.2f, %.1f%% of lists full\n", when,
            live ? sum / live : 0, live ? 100 * full / live : 0);
}

/* The churn of ann-bench: rounds of deleting a random tenth of the rows
 * and re-inserting them; row_of_id follows the new ids. */
static int churn(hnsw *h, const ann_matrix *base, uint32_t *row_of_id, double factor,
                 double build_s, char *err, size_t errlen)
{
    size_t n = base->rows, batch = n / 10 ? n / 10 : 1, target = (size_t)(factor * n), done = 0;
    size_t *perm = malloc(n * sizeof(*perm));
    uint32_t *id_of_row = malloc(n * sizeof(uint32_t));
    uint64_t s = 12345;
    double ins_s = 0, del_s = 0, t0;
    if (!perm || !id_of_row) {
        free(perm);
        free(id_of_row);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        perm[i] = i;
        id_of_row[row_of_id[i]] = (uint32_t)i; /* fresh build: ids < n */
    }
    degree_stats(h, "before churn");
    while (done < target) {
        size_t m = target - done < batch ? target - done : batch;
        for (size_t i = 0; i < m; i++) {
            size_t j, t;
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            j = i + (size_t)((s >> 33) % (n - i));
            t = perm[i], perm[i] = perm[j], perm[j] = t;
        }
        t0 = now_s();
        for (size_t i = 0; i < m; i++)
            if (hnsw_delete(h, id_of_row[perm[i]]))
                goto fail;
        del_s += now_s() - t0;
        t0 = now_s();
        for (size_t i = 0; i < m; i++) {
            uint32_t id;
            if (hnsw_insert(h, base->v + perm[i] * base->dim, base->dim, &id) || id >= n)
                goto fail;
            id_of_row[perm[i]] = id;
            row_of_id[id] = (uint32_t)perm[i];
        }
        ins_s += now_s() - t0;
        done += m;
    }
    degree_stats(h, "after churn");
    fprintf(stderr, "ann-probe: churn %zu: fresh %.0f ins/s, churned %.0f ins/s (%.2fx), "
                    "%.0f del/s\n", done, build_s > 0 ? n / build_s : 0, done / ins_s,
            build_s > 0 ? done / ins_s / (n / build_s) : 0, done / del_s);
    free(perm);
    free(id_of_row);
    return 0;
fail:
    snprintf(err, errlen, "churn: delete or insert failed");
    free(perm);
    free(id_of_row);
    return -1;
}

static hnsw *build(const ann_matrix *base, const char *variant, uint32_t *row_of_id)
{
    hnsw_params p;
    hnsw *h;
    double t90 = 0;
    hnsw_params_default(&p, base->dim);
    if (strcmp(variant, "f32")) {
        p.storage = HNSW_STORE_I8;
        p.rerank = !strcmp(variant, "i8")       ? HNSW_RERANK_F16
                   : !strcmp(variant, "i8-f32") ? HNSW_RERANK_F32
                                                : HNSW_RERANK_NONE;
    }
    if (hnsw_create(&p, &h))
        return NULL;
    hnsw_reserve(h, (uint32_t)base->rows);
    for (size_t i = 0; i < base->rows; i++) {
        uint32_t id;
        if (i == base->rows - base->rows / 10)
            t90 = now_s();
        if (hnsw_insert(h, base->v + i * base->dim, base->dim, &id)) {
            hnsw_free(h);
            return NULL;
        }
        row_of_id[id] = (uint32_t)i;
    }
    /* The last tenth of a build inserts into an index of nearly full
     * size, as churn does: the rate to compare churned inserts with,
     * apart from the whole build's mean. */
    if (base->rows >= 10)
        fprintf(stderr, "ann-probe: fresh build, last tenth: %.0f ins/s\n",
                (base->rows / 10) / (now_s() - t90));
    return h;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *idx = NULL, *variant = "f32";
    unsigned ef = 24, nq = 200, reps = 1;
    double churn_f = 0, build_s = 0;
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
        else if (!strcmp(argv[i], "--churn")) churn_f = atof(argv[i + 1]);
        else dir = NULL, i = argc;
    }
    if (!dir) {
        fprintf(stderr, "usage: ann-probe --dir DIR [--index FILE] [--ef 24] [--nq 200] "
                        "[--variant f32|i8|i8-f32|i8-norr] [--reps 1] [--churn 0]\n");
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
        build_s = now_s() - t0;
        fprintf(stderr, "ann-probe: built %zu x %u in %.1f s\n", base.rows, base.dim, build_s);
        if (idx && (f = fopen(idx, "wb"))) {
            hnsw_save(h, f);
            fclose(f);
        }
    }
    if (churn_f > 0 && churn(h, &base, row_of_id, churn_f, build_s, err, sizeof(err)))
        goto fail;
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
