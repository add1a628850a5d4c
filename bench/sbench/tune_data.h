/* tune_data.h -- labelled prompt pairs for `simcache-bench tune`.
 *
 * A pair is (text_a, text_b, label[, category]): text_a is stored in the
 * cache, text_b is asked; label 1 means text_b may be answered with
 * text_a's answer (same meaning), 0 means it must not. The category is a
 * free label (paraphrase, negation, number, entity, ...) used only to break
 * the results down.
 *
 * Contracts: loaders append to a tune_set (which owns every string), return
 * 0 or -1 with a one-line message in err ("path:LINE: what"), never print.
 * Single-threaded.
 */
#ifndef SIMCACHE_SBENCH_TUNE_DATA_H
#define SIMCACHE_SBENCH_TUNE_DATA_H

#include <stddef.h>

typedef struct tune_pair {
    char *a, *b;        /* NUL-terminated, non-empty */
    char *cat;          /* category, or NULL when the file has none */
    int label;          /* 0 or 1 */
    int line;           /* 1-based line (TSV) or record index (JSON) */
} tune_pair;

typedef struct tune_set {
    tune_pair *p;
    size_t n, cap;
} tune_set;

/* Parses one TSV line (no trailing newline; a trailing '\r' is dropped)
 * into *out, copying the strings. Returns 1 for a pair, 0 for a line to
 * skip (empty, or starting with '#'), -1 with err set ("missing tab after
 * text_a", "label must be 0 or 1, got 'x'", "empty text_a", "too many
 * columns (at most 4)"). line is used only to fill out->line. */
int tune_parse_line(char *line, int lineno, tune_pair *out, char *err, size_t errlen);

/* Reads a TSV file of pairs (format above; UTF-8, one pair a line).
 * Errors name the file and line. An empty set is an error. */
int tune_load_tsv(const char *path, tune_set *s, char *err, size_t errlen);

/* Reads a GPTCache-style JSON list of {"origin": ..., "similar": ...}
 * objects as label-1 pairs (origin = text_a, similar = text_b), category
 * "paraphrase". */
int tune_load_gptcache(const char *path, tune_set *s, char *err, size_t errlen);

void tune_set_free(tune_set *s);

/* Deterministic split: marks held[i] = 1 for about frac of the pairs
 * (stratified by label so both parts keep the label mix), chosen by a
 * seeded shuffle (splitmix64). held has s->n entries. */
void tune_split(const tune_set *s, double frac, unsigned long long seed, unsigned char *held);

#endif
