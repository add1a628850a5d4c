/* ann_prep.c -- writes one benchmark dataset directory (base.fvecs,
 * query.fvecs, gt.ivecs: see ann_data.h) from a dataset spec, so that our
 * index, native hnswlib and FAISS all read identical bytes.
 *
 * Usage: ann-prep --data SPEC --out DIR [--nq 1000] [--limit N] [--k 10]
 *   SPEC  synthetic:NxD[:SEED] | FILE.fvecs | FILE.npy | BASE.fvecs,QUERY.fvecs
 * With one file, its last nq rows become the queries (disjoint from the
 * base); --limit keeps only the first N base rows. The ground truth is
 * exact (OpenBLAS sgemm over normalised vectors, cosine). An existing
 * complete DIR is reused: that is the cache (bench/.cache/data/<key>). */
#include "ann_data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static int usage(void)
{
    fprintf(stderr, "usage: ann-prep --data SPEC --out DIR [--nq 1000] [--limit N] [--k 10]\n");
    return 2;
}

static int exists(const char *dir, const char *name)
{
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 && st.st_size > 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Splits src into base (first rows - nq, at most limit) and queries (last nq). */
static int split_tail(ann_matrix *src, size_t nq, size_t limit, ann_matrix *base, ann_matrix *q)
{
    if (src->rows <= nq) return -1;
    size_t nb = src->rows - nq, d = src->dim;
    q->v = malloc(nq * d * sizeof(float));
    if (!q->v) return -1;
    memcpy(q->v, src->v + nb * d, nq * d * sizeof(float));
    q->rows = nq;
    q->dim = src->dim;
    *base = *src;
    base->rows = limit && limit < nb ? limit : nb;
    memset(src, 0, sizeof *src);
    return 0;
}

int main(int argc, char **argv)
{
    const char *spec = NULL, *dir = NULL;
    size_t nq = 1000, limit = 0;
    unsigned k = 10;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) return usage();
        if (!strcmp(argv[i], "--data")) spec = argv[++i];
        else if (!strcmp(argv[i], "--out")) dir = argv[++i];
        else if (!strcmp(argv[i], "--nq")) nq = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--limit")) limit = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--k")) k = (unsigned)strtoul(argv[++i], NULL, 10);
        else return usage();
    }
    if (!spec || !dir || !nq || !k || k > 1000) return usage();
    if (exists(dir, "base.fvecs") && exists(dir, "query.fvecs") && exists(dir, "gt.ivecs")) {
        printf("ann-prep: %s cached\n", dir);
        return 0;
    }
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "ann-prep: cannot create %s\n", dir);
        return 1;
    }
    char err[512];
    ann_matrix all = {0}, base = {0}, q = {0};
    ann_gt gt = {0};
    const char *comma = strchr(spec, ',');
    if (comma && strncmp(spec, "synthetic:", 10) != 0) {
        char bpath[4096];
        snprintf(bpath, sizeof bpath, "%.*s", (int)(comma - spec), spec);
        if (ann_load(bpath, 0, &base, err, sizeof err) < 0 ||
            ann_load(comma + 1, 0, &q, err, sizeof err) < 0)
            goto fail;
        if (limit && limit < base.rows) base.rows = limit;
        if (nq < q.rows) q.rows = nq;
    } else {
        int syn = strncmp(spec, "synthetic:", 10) == 0;
        if (ann_load(spec, syn ? nq : 0, &all, err, sizeof err) < 0) goto fail;
        if (split_tail(&all, nq, limit, &base, &q) < 0) {
            snprintf(err, sizeof err, "%s: fewer rows than queries, or out of memory", spec);
            goto fail;
        }
    }
    if (base.dim != q.dim) {
        snprintf(err, sizeof err, "base dim %u != query dim %u", base.dim, q.dim);
        goto fail;
    }
    double t0 = now_s();
    if (ann_ground_truth(&base, &q, k, &gt, err, sizeof err) < 0) goto fail;
    double t1 = now_s();
    char p[4096];
    snprintf(p, sizeof p, "%s/base.fvecs", dir);
    if (ann_write_fvecs(p, &base, err, sizeof err) < 0) goto fail;
    snprintf(p, sizeof p, "%s/query.fvecs", dir);
    if (ann_write_fvecs(p, &q, err, sizeof err) < 0) goto fail;
    snprintf(p, sizeof p, "%s/gt.ivecs", dir);
    if (ann_write_ivecs(p, &gt, err, sizeof err) < 0) goto fail;
    printf("ann-prep: %s: %zu base x %u, %zu queries, exact top-%u in %.1f s\n", dir, base.rows,
           base.dim, q.rows, k, t1 - t0);
    ann_matrix_free(&base);
    ann_matrix_free(&q);
    ann_gt_free(&gt);
    return 0;
fail:
    fprintf(stderr, "ann-prep: %s\n", err);
    ann_matrix_free(&all);
    ann_matrix_free(&base);
    ann_matrix_free(&q);
    ann_gt_free(&gt);
    return 1;
}
