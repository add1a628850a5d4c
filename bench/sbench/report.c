/* report.c -- CSV, markdown and SVG output of simcache-bench (report.h).
 *
 * 1. Tables keep every cell as an owned string: modes format numbers once,
 *    with the precision that means something for that column, and CSV and
 *    markdown print the same text.
 * 2. Plots are drawn by hand as SVG 1.1 (polylines, text, a legend): a
 *    plotting library would be a dependency for ~200 lines of output code,
 *    and a self-contained file can be attached to an issue or opened from a
 *    CI artifact without tools.
 * 3. Axis ticks are "nice" numbers (1, 2, 5 x 10^k) on linear axes and
 *    decades on log axes, so a reader can interpolate.
 */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct sb_table {
    int ncols;
    char **names;        /* ncols */
    char **cells;        /* rows * ncols, row-major */
    size_t rows, cap;    /* cap in rows */
};

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

sb_table *sb_table_new(int ncols, const char *const *names)
{
    if (ncols <= 0 || !names) {
        errno = EINVAL;
        return NULL;
    }
    sb_table *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->ncols = ncols;
    t->names = calloc((size_t)ncols, sizeof(char *));
    if (!t->names) goto fail;
    for (int i = 0; i < ncols; i++)
        if (!(t->names[i] = dup_str(names[i]))) goto fail;
    return t;
fail:
    sb_table_free(t);
    errno = ENOMEM;
    return NULL;
}

void sb_table_free(sb_table *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->rows * (size_t)t->ncols; i++) free(t->cells[i]);
    free(t->cells);
    if (t->names)
        for (int i = 0; i < t->ncols; i++) free(t->names[i]);
    free(t->names);
    free(t);
}

int sb_table_rowf(sb_table *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *line = NULL;
    int n = vasprintf(&line, fmt, ap);
    va_end(ap);
    if (n < 0) {
        errno = ENOMEM;
        return -1;
    }
    int cells = 1;
    for (const char *p = line; *p; p++) {
        if (*p == '\t') cells++;
        if (*p == '\n' || *p == '\r') cells = -1000;
    }
    if (cells != t->ncols) {
        free(line);
        errno = EINVAL;
        return -1;
    }
    if (t->rows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **c = realloc(t->cells, cap * (size_t)t->ncols * sizeof(char *));
        if (!c) {
            free(line);
            errno = ENOMEM;
            return -1;
        }
        t->cells = c;
        t->cap = cap;
    }
    char **row = t->cells + t->rows * (size_t)t->ncols;
    char *p = line;
    for (int i = 0; i < t->ncols; i++) {
        char *tab = strchr(p, '\t');
        if (tab) *tab = '\0';
        row[i] = dup_str(p);
        if (!row[i]) {
            while (i-- > 0) free(row[i]);
            free(line);
            errno = ENOMEM;
            return -1;
        }
        p = tab ? tab + 1 : p + strlen(p);
    }
    free(line);
    t->rows++;
    return 0;
}

size_t sb_table_rows(const sb_table *t) { return t->rows; }

const char *sb_table_cell(const sb_table *t, size_t row, int col)
{
    if (row >= t->rows || col < 0 || col >= t->ncols) return NULL;
    return t->cells[row * (size_t)t->ncols + (size_t)col];
}

static void csv_cell(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

int sb_table_write_csv(const sb_table *t, FILE *f)
{
    for (int i = 0; i < t->ncols; i++) {
        if (i) fputc(',', f);
        csv_cell(f, t->names[i]);
    }
    fputc('\n', f);
    for (size_t r = 0; r < t->rows; r++) {
        for (int i = 0; i < t->ncols; i++) {
            if (i) fputc(',', f);
            csv_cell(f, sb_table_cell(t, r, i));
        }
        fputc('\n', f);
    }
    return ferror(f) ? -1 : 0;
}

static void md_cell(FILE *f, const char *s)
{
    fputc(' ', f);
    for (; *s; s++) {
        if (*s == '|') fputc('\\', f);
        fputc(*s, f);
    }
    fputs(" |", f);
}

int sb_table_write_md(const sb_table *t, FILE *f)
{
    fputc('|', f);
    for (int i = 0; i < t->ncols; i++) md_cell(f, t->names[i]);
    fputs("\n|", f);
    for (int i = 0; i < t->ncols; i++) fputs(" --- |", f);
    fputc('\n', f);
    for (size_t r = 0; r < t->rows; r++) {
        fputc('|', f);
        for (int i = 0; i < t->ncols; i++) md_cell(f, sb_table_cell(t, r, i));
        fputc('\n', f);
    }
    return ferror(f) ? -1 : 0;
}

/* ---- SVG ---- */

enum { W = 640, H = 420, ML = 72, MR = 24, MT = 40, MB = 56 };

static const char *const palette[] = {
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
    "#9467bd", "#8c564b", "#e377c2", "#17becf",
};

typedef struct axis {
    int log;
    double lo, hi;       /* data range, in log10 units on a log axis */
    int px0, px1;        /* pixel positions of lo and hi */
} axis;

static int usable(double v, int log)
{
    return isfinite(v) && (!log || v > 0);
}

static double axis_val(const axis *a, double v)
{
    return a->log ? log10(v) : v;
}

static double axis_px(const axis *a, double v)
{
    double u = (axis_val(a, v) - a->lo) / (a->hi - a->lo);
    return a->px0 + u * (a->px1 - a->px0);
}

/* Widens [lo, hi] to nice tick boundaries; returns the tick step. */
static double nice_range(axis *a)
{
    if (a->hi <= a->lo) {
        double pad = a->lo != 0 ? fabs(a->lo) * 0.1 : 1.0;
        a->lo -= pad;
        a->hi += pad;
    }
    if (a->log) {
        a->lo = floor(a->lo);
        a->hi = ceil(a->hi);
        if (a->hi == a->lo) a->hi += 1;
        return 1.0;
    }
    double raw = (a->hi - a->lo) / 6.0;
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    double step = (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
    a->lo = floor(a->lo / step) * step;
    a->hi = ceil(a->hi / step) * step;
    return step;
}

static void xml_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static void tick_label(char *buf, size_t n, double v, int log)
{
    if (log) v = pow(10, v);
    if (v == 0 || (fabs(v) >= 1e-3 && fabs(v) < 1e6))
        snprintf(buf, n, "%g", v);
    else
        snprintf(buf, n, "%.0e", v);
}

static void draw_axes(FILE *f, axis *x, axis *y, double xs, double ys)
{
    char lab[32];
    fprintf(f, "<rect x='%d' y='%d' width='%d' height='%d' fill='none' "
               "stroke='#444'/>\n", ML, MT, W - ML - MR, H - MT - MB);
    for (double v = x->lo; v <= x->hi + xs * 1e-9; v += xs) {
        double px = x->px0 + (v - x->lo) / (x->hi - x->lo) * (x->px1 - x->px0);
        tick_label(lab, sizeof(lab), v, x->log);
        fprintf(f, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='#ddd'/>"
                   "<text x='%.1f' y='%d' text-anchor='middle'>%s</text>\n",
                px, MT, px, H - MB, px, H - MB + 16, lab);
    }
    for (double v = y->lo; v <= y->hi + ys * 1e-9; v += ys) {
        double py = y->px0 + (v - y->lo) / (y->hi - y->lo) * (y->px1 - y->px0);
        tick_label(lab, sizeof(lab), v, y->log);
        fprintf(f, "<line x1='%d' y1='%.1f' x2='%d' y2='%.1f' stroke='#ddd'/>"
                   "<text x='%d' y='%.1f' text-anchor='end'>%s</text>\n",
                ML, py, W - MR, py, ML - 6, py + 4, lab);
    }
}

int sb_svg_write(const sb_plot *p, FILE *f)
{
    axis x = {.log = p->xlog, .lo = INFINITY, .hi = -INFINITY,
              .px0 = ML, .px1 = W - MR};
    axis y = {.log = p->ylog, .lo = INFINITY, .hi = -INFINITY,
              .px0 = H - MB, .px1 = MT};
    for (size_t s = 0; s < p->nseries; s++) {
        const sb_series *se = &p->series[s];
        for (size_t i = 0; i < se->n; i++) {
            if (!usable(se->x[i], x.log) || !usable(se->y[i], y.log)) continue;
            double xv = axis_val(&x, se->x[i]), yv = axis_val(&y, se->y[i]);
            if (xv < x.lo) x.lo = xv;
            if (xv > x.hi) x.hi = xv;
            if (yv < y.lo) y.lo = yv;
            if (yv > y.hi) y.hi = yv;
        }
    }
    if (!(x.lo <= x.hi) || !(y.lo <= y.hi)) {
        errno = EINVAL;
        return -1;
    }
    if (p->has_hline && usable(p->hline, y.log)) {
        double v = axis_val(&y, p->hline);
        if (v < y.lo) y.lo = v;
        if (v > y.hi) y.hi = v;
    }
    if (p->has_vline && usable(p->vline, x.log)) {
        double v = axis_val(&x, p->vline);
        if (v < x.lo) x.lo = v;
        if (v > x.hi) x.hi = v;
    }
    double xs = nice_range(&x), ys = nice_range(&y);

    fprintf(f, "<?xml version='1.0' encoding='UTF-8'?>\n"
               "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' "
               "viewBox='0 0 %d %d' font-family='sans-serif' font-size='11'>\n"
               "<rect width='100%%' height='100%%' fill='white'/>\n",
            W, H, W, H);
    fprintf(f, "<text x='%d' y='22' text-anchor='middle' font-size='14'>",
            (ML + W - MR) / 2);
    xml_text(f, p->title);
    fprintf(f, "</text>\n<text x='%d' y='%d' text-anchor='middle'>",
            (ML + W - MR) / 2, H - 14);
    xml_text(f, p->xlabel);
    fprintf(f, "</text>\n<text x='16' y='%d' text-anchor='middle' "
               "transform='rotate(-90 16 %d)'>", (MT + H - MB) / 2,
            (MT + H - MB) / 2);
    xml_text(f, p->ylabel);
    fputs("</text>\n", f);
    draw_axes(f, &x, &y, xs, ys);

    int legend = 0;
    for (size_t s = 0; s < p->nseries; s++) {
        const sb_series *se = &p->series[s];
        const char *col = palette[s % (sizeof(palette) / sizeof(*palette))];
        fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='1.6' "
                   "points='", col);
        double lasty = NAN;
        for (size_t i = 0; i < se->n; i++) {
            if (!usable(se->x[i], x.log) || !usable(se->y[i], y.log)) continue;
            double px = axis_px(&x, se->x[i]), py = axis_px(&y, se->y[i]);
            if (se->step && !isnan(lasty)) fprintf(f, "%.1f,%.1f ", px, lasty);
            fprintf(f, "%.1f,%.1f ", px, py);
            lasty = py;
        }
        fputs("'/>\n", f);
        if (se->markers)
            for (size_t i = 0; i < se->n; i++) {
                if (!usable(se->x[i], x.log) || !usable(se->y[i], y.log))
                    continue;
                fprintf(f, "<circle cx='%.1f' cy='%.1f' r='2.6' fill='%s'/>\n",
                        axis_px(&x, se->x[i]), axis_px(&y, se->y[i]), col);
            }
        if (se->label) {
            int ly = MT + 14 + 16 * legend++;
            fprintf(f, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='%s' "
                       "stroke-width='3'/><text x='%d' y='%d'>",
                    W - MR - 170, ly - 4, W - MR - 150, ly - 4, col,
                    W - MR - 144, ly);
            xml_text(f, se->label);
            fputs("</text>\n", f);
        }
    }
    if (p->has_vline && usable(p->vline, x.log)) {
        double px = axis_px(&x, p->vline);
        fprintf(f, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='#555' "
                   "stroke-dasharray='5,4'/><text x='%.1f' y='%d'>",
                px, MT, px, H - MB, px + 4, MT + 12);
        xml_text(f, p->vline_label);
        fputs("</text>\n", f);
    }
    if (p->has_hline && usable(p->hline, y.log)) {
        double py = axis_px(&y, p->hline);
        fprintf(f, "<line x1='%d' y1='%.1f' x2='%d' y2='%.1f' stroke='#555' "
                   "stroke-dasharray='5,4'/><text x='%d' y='%.1f'>",
                ML, py, W - MR, py, ML + 4, py - 4);
        xml_text(f, p->hline_label);
        fputs("</text>\n", f);
    }
    fputs("</svg>\n", f);
    return ferror(f) ? -1 : 0;
}

FILE *sb_out_open(const char *dir, const char *name)
{
    if (!dir || !*dir || !name || !*name || strchr(name, '/')) {
        errno = EINVAL;
        return NULL;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return NULL;
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    return fopen(path, "w");
}
