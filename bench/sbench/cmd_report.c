/* cmd_report.c -- `simcache-bench report`: turn a CSV written by any mode
 * (or by another tool) into the markdown table and an SVG line plot of two
 * of its columns, so results from different runs can be redrawn without
 * re-running them.
 *
 *   simcache-bench report FILE.csv --x COL --y COL [--series COL]
 *                         [--xlog] [--ylog] [--title T] [--out DIR]
 *
 * --series splits rows into one line per distinct value of that column
 * (e.g. one line per engine in an ef sweep).
 */
#include "report.h"
#include "sbench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char sb_help_report[] = "redraw a CSV as a markdown table and an SVG plot";

enum { MAX_COLS = 64, MAX_SERIES = 8 };

/* Splits one CSV line (RFC 4180 quoting, no embedded newlines) in place. */
static int csv_split(char *line, char **cells, int max)
{
    int n = 0;
    char *r = line, *w = line;
    while (n < max) {
        cells[n++] = w;
        if (*r == '"') {
            r++;
            for (;;) {
                if (*r == '\0') break;
                if (*r == '"' && r[1] == '"') { *w++ = '"'; r += 2; continue; }
                if (*r == '"') { r++; break; }
                *w++ = *r++;
            }
        }
        while (*r && *r != ',') *w++ = *r++;
        if (*r != ',') { *w = '\0'; break; }
        r++;
        *w++ = '\0';
    }
    return n;
}

static int col_index(char **names, int n, const char *want)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], want)) return i;
    return -1;
}

static void usage(void)
{
    fputs("usage: simcache-bench report FILE.csv --x COL --y COL "
          "[--series COL] [--xlog] [--ylog] [--title T] [--out DIR]\n", stderr);
}

typedef struct line_set {
    char *name[MAX_SERIES];
    double *x[MAX_SERIES], *y[MAX_SERIES];
    size_t n[MAX_SERIES], cap[MAX_SERIES];
    int count;
} line_set;

static int add_point(line_set *ls, const char *series, double x, double y)
{
    int s = 0;
    while (s < ls->count && strcmp(ls->name[s], series)) s++;
    if (s == ls->count) {
        if (ls->count == MAX_SERIES) return 0;   /* extra series not drawn */
        ls->name[s] = strdup(series);
        if (!ls->name[s]) return -1;
        ls->count++;
    }
    if (ls->n[s] == ls->cap[s]) {
        size_t cap = ls->cap[s] ? ls->cap[s] * 2 : 64;
        double *nx = realloc(ls->x[s], cap * sizeof(double));
        if (!nx) return -1;
        ls->x[s] = nx;
        double *ny = realloc(ls->y[s], cap * sizeof(double));
        if (!ny) return -1;
        ls->y[s] = ny;
        ls->cap[s] = cap;
    }
    ls->x[s][ls->n[s]] = x;
    ls->y[s][ls->n[s]] = y;
    ls->n[s]++;
    return 0;
}

static int write_outputs(const char *out, const char *base, sb_table *t,
                         const line_set *ls, const sb_plot *proto)
{
    sb_series series[MAX_SERIES];
    for (int s = 0; s < ls->count; s++)
        series[s] = (sb_series){.label = ls->count > 1 ? ls->name[s] : NULL,
                                .x = ls->x[s], .y = ls->y[s], .n = ls->n[s],
                                .markers = 1};
    sb_plot p = *proto;
    p.series = series;
    p.nseries = (size_t)ls->count;
    char name[512];
    snprintf(name, sizeof(name), "%s.md", base);
    FILE *f = sb_out_open(out, name);
    if (!f || sb_table_write_md(t, f) != 0 || fclose(f) != 0) return -1;
    snprintf(name, sizeof(name), "%s.svg", base);
    f = sb_out_open(out, name);
    if (!f) return -1;
    int rc = sb_svg_write(&p, f);
    if (fclose(f) != 0) rc = -1;
    return rc;
}

int sb_cmd_report(int argc, char **argv)
{
    const char *file = NULL, *xcol = NULL, *ycol = NULL, *scol = NULL;
    const char *title = NULL, *out = ".";
    int xlog = 0, ylog = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--x") && more) xcol = argv[++i];
        else if (!strcmp(a, "--y") && more) ycol = argv[++i];
        else if (!strcmp(a, "--series") && more) scol = argv[++i];
        else if (!strcmp(a, "--title") && more) title = argv[++i];
        else if (!strcmp(a, "--out") && more) out = argv[++i];
        else if (!strcmp(a, "--xlog")) xlog = 1;
        else if (!strcmp(a, "--ylog")) ylog = 1;
        else if (!strcmp(a, "--help")) { usage(); return 0; }
        else if (a[0] != '-' && !file) file = a;
        else { usage(); return 2; }
    }
    if (!file || !xcol || !ycol) { usage(); return 2; }

    FILE *in = fopen(file, "r");
    if (!in) {
        fprintf(stderr, "report: %s: %s\n", file, strerror(errno));
        return 1;
    }
    char *line = NULL, *cells[MAX_COLS], *names[MAX_COLS];
    size_t lcap = 0;
    int rc = 1, ncols = 0, xi, yi, si = -1;
    sb_table *t = NULL;
    line_set ls = {0};
    if (getline(&line, &lcap, in) < 0) {
        fprintf(stderr, "report: %s: empty file\n", file);
        goto done;
    }
    line[strcspn(line, "\r\n")] = '\0';
    ncols = csv_split(line, cells, MAX_COLS);
    for (int i = 0; i < ncols; i++) names[i] = strdup(cells[i]);
    xi = col_index(names, ncols, xcol);
    yi = col_index(names, ncols, ycol);
    if (scol) si = col_index(names, ncols, scol);
    if (xi < 0 || yi < 0 || (scol && si < 0)) {
        fprintf(stderr, "report: column not found in %s\n", file);
        goto done;
    }
    t = sb_table_new(ncols, (const char *const *)names);
    if (!t) goto done;
    while (getline(&line, &lcap, in) >= 0) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!*line) continue;
        if (csv_split(line, cells, MAX_COLS) != ncols) {
            fprintf(stderr, "report: %s: row with a different cell count\n", file);
            goto done;
        }
        /* Rebuild the row for the table: cells cannot hold tabs. */
        char row[8192];
        size_t off = 0;
        for (int i = 0; i < ncols && off < sizeof(row); i++)
            off += (size_t)snprintf(row + off, sizeof(row) - off, "%s%s",
                                    i ? "\t" : "", cells[i]);
        if (off >= sizeof(row) || sb_table_rowf(t, "%s", row) != 0) {
            fprintf(stderr, "report: %s: unusable row\n", file);
            goto done;
        }
        char *ex, *ey;
        double x = strtod(cells[xi], &ex), y = strtod(cells[yi], &ey);
        if (ex == cells[xi] || ey == cells[yi]) continue;  /* non-numeric */
        if (add_point(&ls, si >= 0 ? cells[si] : "", x, y) != 0) goto done;
    }
    const char *slash = strrchr(file, '/');
    char base[256];
    snprintf(base, sizeof(base), "%s", slash ? slash + 1 : file);
    char *dot = strrchr(base, '.');
    if (dot) *dot = '\0';
    sb_plot proto = {.title = title ? title : base, .xlabel = xcol,
                     .ylabel = ycol, .xlog = xlog, .ylog = ylog};
    if (write_outputs(out, base, t, &ls, &proto) != 0) {
        fprintf(stderr, "report: writing to %s: %s\n", out, strerror(errno));
        goto done;
    }
    printf("%s/%s.md\n%s/%s.svg\n", out, base, out, base);
    rc = 0;
done:
    for (int s = 0; s < ls.count; s++) {
        free(ls.name[s]);
        free(ls.x[s]);
        free(ls.y[s]);
    }
    for (int i = 0; i < ncols; i++) free(names[i]);
    sb_table_free(t);
    free(line);
    fclose(in);
    return rc;
}
