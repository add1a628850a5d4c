/* report.h -- CSV tables, markdown summaries and self-contained SVG plots.
 *
 * Contracts:
 * - Nothing here prints to stdout/stderr or aborts; functions return 0 or
 *   -1 (errno set for I/O, EINVAL for bad arguments, ENOMEM).
 * - A table owns copies of its cells. Cells are plain text; a cell may not
 *   contain a tab or a newline (sb_table_rowf splits its output on tabs).
 * - SVG output is one file with no external references (fonts are generic
 *   families, styles inline), viewable in any browser.
 * - Single-threaded: call from one thread.
 */
#ifndef SIMCACHE_SBENCH_REPORT_H
#define SIMCACHE_SBENCH_REPORT_H

#include <stddef.h>
#include <stdio.h>

/* ---- tables ---- */

typedef struct sb_table sb_table;

/* A table with ncols named columns. Returns NULL on ENOMEM/EINVAL. */
sb_table *sb_table_new(int ncols, const char *const *names);
void sb_table_free(sb_table *t);

/* Appends a row: printf-formats fmt, then splits the result on '\t' into
 * exactly ncols cells, e.g. sb_table_rowf(t, "%d\t%.3f\t%s", ef, r, s).
 * -1/EINVAL if the cell count differs from ncols. */
int sb_table_rowf(sb_table *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

size_t sb_table_rows(const sb_table *t);
const char *sb_table_cell(const sb_table *t, size_t row, int col);

/* RFC 4180 CSV: header line, then rows; cells with ',', '"' quoted. */
int sb_table_write_csv(const sb_table *t, FILE *f);
/* GitHub-flavoured markdown pipe table ('|' in cells escaped). */
int sb_table_write_md(const sb_table *t, FILE *f);

/* ---- plots ---- */

typedef struct sb_series {
    const char *label;       /* legend text; NULL = no legend entry */
    const double *x, *y;     /* n points; NaN/Inf points are skipped */
    size_t n;
    int markers;             /* 1 = draw a dot at every point */
    int step;                /* 1 = draw as a step function (CDFs) */
} sb_series;

typedef struct sb_plot {
    const char *title, *xlabel, *ylabel;
    int xlog, ylog;          /* log10 axis; points <= 0 on it are skipped */
    const sb_series *series;
    size_t nseries;
    /* Optional reference lines (a chosen threshold, a target recall). */
    int has_vline, has_hline;
    double vline, hline;
    const char *vline_label, *hline_label;
} sb_plot;

/* Writes a complete SVG document (640x420) for p. -1/EINVAL if no series
 * has a drawable point. */
int sb_svg_write(const sb_plot *p, FILE *f);

/* ---- files ---- */

/* Creates directory dir if missing (one level, mode 0755) and opens
 * dir/name for writing. Returns NULL with errno set on failure. */
FILE *sb_out_open(const char *dir, const char *name);

#endif
