/* tune_data.c -- loading and splitting labelled pairs (contracts in
 * tune_data.h).
 *
 * Design decisions:
 * 1. TSV, not CSV: prompts are full of commas and quotes, rarely of tabs,
 *    and a TSV line can be written and read by hand and by `cut`. A tab
 *    inside a prompt is not representable; such a line fails with its line
 *    number instead of being silently mis-split (the label column must
 *    then parse as 0 or 1, which a prompt fragment rarely does).
 * 2. Strict: a bad line stops the run with "path:LINE: reason". A tuner
 *    that skipped unreadable lines would report rates over a set the user
 *    did not write.
 * 3. The split is stratified by label and seeded, so --seed reproduces it
 *    exactly and a small set keeps negatives on both sides.
 */
#include "tune_data.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int set_push(tune_set *s, const tune_pair *p)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        tune_pair *np = realloc(s->p, cap * sizeof *np);
        if (!np) return -1;
        s->p = np;
        s->cap = cap;
    }
    s->p[s->n++] = *p;
    return 0;
}

static void pair_free(tune_pair *p)
{
    free(p->a);
    free(p->b);
    free(p->cat);
    p->a = p->b = p->cat = NULL;
}

static int blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t') return 0;
    return 1;
}

int tune_parse_line(char *line, int lineno, tune_pair *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    size_t len = strlen(line);
    if (len && line[len - 1] == '\r') line[--len] = '\0';
    if (line[0] == '#' || blank(line)) return 0;
    char *f[5];
    int nf = 0;
    char *p = line;
    f[nf++] = p;
    while ((p = strchr(p, '\t')) != NULL) {
        *p++ = '\0';
        if (nf == 5) break;
        f[nf++] = p;
    }
    if (nf < 2) {
        snprintf(err, errlen, "missing tab after text_a");
        return -1;
    }
    if (nf < 3) {
        snprintf(err, errlen, "missing tab after text_b (no label column)");
        return -1;
    }
    if (nf > 4) {
        snprintf(err, errlen, "too many columns (at most 4: text_a, text_b, label, category)");
        return -1;
    }
    if (blank(f[0]) || blank(f[1])) {
        snprintf(err, errlen, "empty %s", blank(f[0]) ? "text_a" : "text_b");
        return -1;
    }
    if (strcmp(f[2], "0") && strcmp(f[2], "1")) {
        snprintf(err, errlen, "label must be 0 or 1, got '%.32s'", f[2]);
        return -1;
    }
    out->label = f[2][0] - '0';
    out->line = lineno;
    out->a = strdup(f[0]);
    out->b = strdup(f[1]);
    out->cat = nf == 4 && !blank(f[3]) ? strdup(f[3]) : NULL;
    if (!out->a || !out->b || (nf == 4 && !blank(f[3]) && !out->cat)) {
        pair_free(out);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 1;
}

int tune_load_tsv(const char *path, tune_set *s, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL, msg[160];
    size_t cap = 0;
    int lineno = 0, rc = 0;
    size_t before = s->n;
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        line[strcspn(line, "\n")] = '\0';
        tune_pair p;
        int r = tune_parse_line(line, lineno, &p, msg, sizeof msg);
        if (r < 0 || (r == 1 && set_push(s, &p) != 0)) {
            if (r == 1) {
                pair_free(&p);
                snprintf(msg, sizeof msg, "out of memory");
            }
            snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
            rc = -1;
            break;
        }
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        rc = -1;
    }
    if (rc == 0 && s->n == before) {
        snprintf(err, errlen, "%s: no pairs", path);
        rc = -1;
    }
    free(line);
    fclose(f);
    return rc;
}

static char *slurp(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1) break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    if (!buf) snprintf(err, errlen, "%s: out of memory", path);
    else buf[n] = '\0';
    fclose(f);
    return buf;
}

int tune_load_gptcache(const char *path, tune_set *s, char *err, size_t errlen)
{
    char *text = slurp(path, err, errlen);
    if (!text) return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsArray(root)) {
        snprintf(err, errlen, "%s: not a JSON list of {origin, similar}", path);
        cJSON_Delete(root);
        return -1;
    }
    int i = 0, rc = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
        i++;
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(it, "origin");
        const cJSON *sim = cJSON_GetObjectItemCaseSensitive(it, "similar");
        if (!cJSON_IsString(o) || !cJSON_IsString(sim) || blank(o->valuestring) ||
            blank(sim->valuestring)) {
            snprintf(err, errlen, "%s: record %d: needs non-empty strings origin and similar",
                     path, i);
            rc = -1;
            break;
        }
        tune_pair p = {.a = strdup(o->valuestring), .b = strdup(sim->valuestring),
                       .cat = strdup("paraphrase"), .label = 1, .line = i};
        if (!p.a || !p.b || !p.cat || set_push(s, &p) != 0) {
            pair_free(&p);
            snprintf(err, errlen, "%s: out of memory", path);
            rc = -1;
            break;
        }
    }
    if (rc == 0 && i == 0) {
        snprintf(err, errlen, "%s: no pairs", path);
        rc = -1;
    }
    cJSON_Delete(root);
    return rc;
}

void tune_set_free(tune_set *s)
{
    for (size_t i = 0; i < s->n; i++) pair_free(&s->p[i]);
    free(s->p);
    s->p = NULL;
    s->n = s->cap = 0;
}

static unsigned long long splitmix64(unsigned long long *x)
{
    unsigned long long z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void tune_split(const tune_set *s, double frac, unsigned long long seed, unsigned char *held)
{
    memset(held, 0, s->n);
    if (frac <= 0.0 || s->n == 0) return;
    size_t *idx = malloc(s->n * sizeof *idx);
    if (!idx) return;   /* no memory: nothing held back (caller sees 0 held) */
    unsigned long long st = seed;
    for (int label = 0; label <= 1; label++) {
        size_t m = 0;
        for (size_t i = 0; i < s->n; i++)
            if (s->p[i].label == label) idx[m++] = i;
        for (size_t i = m; i > 1; i--) {   /* Fisher-Yates */
            size_t j = (size_t)(splitmix64(&st) % i);
            size_t t = idx[i - 1];
            idx[i - 1] = idx[j];
            idx[j] = t;
        }
        size_t take = (size_t)(frac * (double)m + 0.5);
        if (take > m) take = m;
        for (size_t i = 0; i < take; i++) held[idx[i]] = 1;
    }
    free(idx);
}
