/* pairs.h -- the GPTCache paraphrase pairs for the C benches.
 *
 * ../shared/data/gptcache_mock_pairs.json is a JSON array of
 * {"origin": ..., "similar": ...}: a sentence and a paraphrase of it.
 * embed-quality, cache-recall and sparse-recall all read it; each derives
 * what it stores (distinct origins) and asks (every paraphrase) itself. */
#ifndef SIMCACHE_BENCH_PAIRS_H
#define SIMCACHE_BENCH_PAIRS_H

#include <stddef.h>

typedef struct bench_pair {
    char *origin, *similar;   /* malloc'd, NUL-terminated */
} bench_pair;

/* Reads every element of the array at path that has both strings, in file
 * order (others are skipped). 0 with *out (free with bench_pairs_free) and
 * *n set; -1 if the file cannot be read, is not a JSON array, or memory
 * runs out (nothing to free then). */
int bench_pairs_load(const char *path, bench_pair **out, size_t *n);
void bench_pairs_free(bench_pair *p, size_t n);

#endif
