/* hnsw_reach_stress.c -- local stress for issue 3 (level-0 nodes left
 * unreachable by concurrent insert + delete): tests/mt/hnsw_mt.c's
 * workload with a reachability check of level 0 after EVERY mutation
 * (each thread takes the write lock after its own insert or delete, so the
 * first mutation that breaks reachability is caught with the thread and
 * operation that did it, and the unreachable nodes' in-links are
 * printed), and the full validator (every level) at the end of each run.
 * Not built by CMake or run in CI (it reads the private layout and runs
 * for minutes); build and run against a release build:
 *
 *   cmake -S . -B build/rel -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
 *   cmake --build build/rel -j2 --target simcache_index
 *   gcc -O2 -g -I. tests/stress/hnsw_reach_stress.c -o build/reach_stress \
 *       build/rel/index/libsimcache_index.a build/rel/kernels/libsimcache_kernels.a \
 *       build/rel/kernels/libsimcache_kernels_blas.a -lopenblas -lxxhash -lpthread -lm
 *   build/reach_stress RUNS INSERTERS DELETER CHECK_INSERTS DELETE_EVERY
 *
 * e.g. `100 2 1 1 5`: 100 runs (seeds 81..180), two inserters that delete
 * every fifth of their own inserts, a deleter of the 500 doomed vectors,
 * checks after inserts too. Exit status 1 at the first failure. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include "tests/unit/hnsw_testutil.h"
#include "index/hnsw_int.h"

#define D 16
static hnsw *H;
static float *stable, *doomed; static uint32_t *doomed_ids;
static size_t nstable = 6000, preload = 3000, ndoomed = 500;
static atomic_int bad;
static atomic_long opno;

static int reach_check(const char *what, long op)
{
    pthread_rwlock_wrlock(&H->rw);
    uint32_t n = H->nslots, ep = atomic_load(&H->entry), *q = malloc(n * 4), head = 0, tail = 0, nodes = 0;
    uint8_t *seen = calloc(n, 1);
    int rc = 0;
    if (ep != HNSW_NO_ENTRY) {
        q[tail++] = ep; seen[ep] = 1;
        while (head < tail) {
            uint32_t id = q[head++];
            aword *blk = hnsw_links(H, id, 0), *ids = hnsw_link_ids(H, blk, 0);
            uint32_t c = atomic_load(&blk[0]);
            for (uint32_t i = 0; i < c; i++) { uint32_t x = atomic_load(&ids[i]); if (!seen[x]) { seen[x] = 1; q[tail++] = x; } }
        }
        for (uint32_t id = 0; id < n; id++) {
            uint8_t s = atomic_load(&H->state[id]);
            if (s == ST_FREE || (s & ST_PENDING)) continue;
            nodes++;
            if (!seen[id]) {
                if (!rc) fprintf(stderr, "after op %ld (%s): unreachable:\n", op, what);
                rc = 1;
                fprintf(stderr, "  node %u state %u indeg %u links %u; in-links from:", id, s, atomic_load(&H->indeg0[id]), atomic_load(hnsw_links(H,id,0)));
                for (uint32_t y = 0; y < n; y++) {
                    uint8_t t = atomic_load(&H->state[y]);
                    if (t == ST_FREE) continue;
                    aword *blk = hnsw_links(H, y, 0), *ids = hnsw_link_ids(H, blk, 0);
                    uint32_t c = atomic_load(&blk[0]);
                    for (uint32_t i = 0; i < c; i++) if (atomic_load(&ids[i]) == id) fprintf(stderr, " %u%s(st %u)", y, seen[y] ? "R" : "U", t);
                }
                fprintf(stderr, "\n");
            }
        }
    }
    pthread_rwlock_unlock(&H->rw);
    free(q); free(seen);
    return rc;
}

static void diag_upper(void)
{
    char err[256];
    pthread_rwlock_wrlock(&H->rw);
    int top = atomic_load(&H->maxlevel);
    for (int l = 1; l <= top; l++) {
        uint32_t n = H->nslots, ep = atomic_load(&H->entry), *q = malloc(n * 4), head = 0, tail = 0;
        uint8_t *seen = calloc(n, 1);
        q[tail++] = ep; seen[ep] = 1;
        while (head < tail) { uint32_t id = q[head++]; aword *blk = hnsw_links(H, id, l), *ids = hnsw_link_ids(H, blk, l); uint32_t c = atomic_load(&blk[0]);
            for (uint32_t i = 0; i < c; i++) { uint32_t x = atomic_load(&ids[i]); if (!seen[x]) { seen[x] = 1; q[tail++] = x; } } }
        for (uint32_t id = 0; id < n; id++) {
            uint8_t s = atomic_load(&H->state[id]);
            if (s == ST_FREE || (s & ST_PENDING) || (int)(s & 15) < l || seen[id]) continue;
            uint32_t par = atomic_load(hnsw_parent(H, id, l));
            fprintf(stderr, "  level %d node %u state %u indeg %u parent %u links %u; in-links from:", l, id, s, atomic_load(hnsw_indeg(H,id,l)), par, atomic_load(hnsw_links(H,id,l)));
            for (uint32_t y = 0; y < n; y++) { uint8_t t = atomic_load(&H->state[y]); if (t == ST_FREE || (int)(t&15) < l) continue;
                aword *blk = hnsw_links(H, y, l), *ids = hnsw_link_ids(H, blk, l); uint32_t c = atomic_load(&blk[0]);
                for (uint32_t i = 0; i < c; i++) if (atomic_load(&ids[i]) == id) fprintf(stderr, " %u%s", y, seen[y] ? "R" : "U"); }
            if (par < n) { fprintf(stderr, "; parent %u state %u links:", par, atomic_load(&H->state[par])); aword *blk = hnsw_links(H, par, l), *ids = hnsw_link_ids(H, blk, l); uint32_t c = atomic_load(&blk[0]);
                for (uint32_t i = 0; i < c; i++) fprintf(stderr, " %u(p%u)", atomic_load(&ids[i]), atomic_load(hnsw_parent(H, atomic_load(&ids[i]), l))); }
            fprintf(stderr, "\n");
        }
        free(q); free(seen);
    }
    pthread_rwlock_unlock(&H->rw);
    (void)err;
}

static void *deleter(void *a)
{
    (void)a;
    for (size_t i = 0; i < ndoomed && !bad; i++) {
        hnsw_delete(H, doomed_ids[i]);
        long op = atomic_fetch_add(&opno, 1);
        char w[64]; snprintf(w, sizeof w, "deleter delete %u", doomed_ids[i]);
        if (reach_check(w, op)) bad = 1;
    }
    return NULL;
}

static int ninserters = 2, checkins = 1, delper = 5;
static void *inserter(void *arg)
{
    int me = (int)(intptr_t)arg;
    uint32_t mine[4096]; size_t nmine = 0;
    for (size_t i = preload; i < nstable && !bad; i++) {
        uint32_t id;
        hnsw_insert(H, stable + i * D, D, &id);
        long op = atomic_fetch_add(&opno, 1);
        char w[64];
        if (checkins) { snprintf(w, sizeof w, "inserter %d insert -> %u", me, id); if (reach_check(w, op)) { bad = 1; break; } }
        mine[nmine++] = id;
        if (delper && i % delper == 0 && nmine > 1) {
            uint32_t d = mine[0];
            hnsw_delete(H, d);
            mine[0] = mine[--nmine];
            op = atomic_fetch_add(&opno, 1);
            snprintf(w, sizeof w, "inserter %d delete %u", me, d);
            if (reach_check(w, op)) { bad = 1; break; }
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 10;
    ninserters = argc > 2 ? atoi(argv[2]) : 2;
    int ndel = argc > 3 ? atoi(argv[3]) : 1;
    checkins = argc > 4 ? atoi(argv[4]) : 1; delper = argc > 5 ? atoi(argv[5]) : 5;
    for (int r = 0; r < runs; r++) {
        tu_rng rng = {81 + r};
        hnsw_params p;
        stable = tu_clustered(81 + r, nstable, D, 8, 0.5);
        for (size_t i = 0; i < nstable; i++) stable[i * D] = 0;
        doomed = malloc(ndoomed * D * 4); doomed_ids = malloc(ndoomed * 4);
        for (size_t i = 0; i < ndoomed; i++) { doomed[i * D] = 10; for (int j = 1; j < D; j++) doomed[i * D + j] = (float)tu_gauss(&rng); }
        hnsw_params_default(&p, D); p.M = 8; p.ef_construction = 64;
        hnsw_create(&p, &H);
        for (size_t i = 0; i < preload; i++) { uint32_t id; hnsw_insert(H, stable + i * D, D, &id); }
        for (size_t i = 0; i < ndoomed; i++) hnsw_insert(H, doomed + i * D, D, &doomed_ids[i]);
        if (reach_check("preload", -1)) { printf("run %d: preload unreachable\n", r); return 1; }
        pthread_t th[8]; int nth = 0;
        if (ndel) pthread_create(&th[nth++], NULL, deleter, NULL);
        for (int i = 0; i < ninserters; i++) pthread_create(&th[nth++], NULL, inserter, (void *)(intptr_t)i);
        for (int i = 0; i < nth; i++) pthread_join(th[i], NULL);
        char err[256];
        int v = hnsw_validate(H, err, sizeof err);
        printf("run %d: ops %ld bad %d validate %d %s\n", r, (long)opno, (int)bad, v, v ? err : "");
        fflush(stdout);
        if (v) diag_upper();
        if (bad || v) return 1;
        hnsw_free(H); free(stable); free(doomed); free(doomed_ids); opno = 0;
    }
    return 0;
}
