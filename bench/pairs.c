/* pairs.c -- see pairs.h. */
#include "pairs.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The whole file, NUL-terminated, or NULL. */
static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
        if (buf)
            buf[n] = '\0';
    }
    fclose(f);
    return buf;
}

void bench_pairs_free(bench_pair *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].origin);
        free(p[i].similar);
    }
    free(p);
}

int bench_pairs_load(const char *path, bench_pair **out, size_t *n)
{
    char *txt = read_all(path);
    cJSON *root = txt ? cJSON_Parse(txt) : NULL, *it;
    bench_pair *p;
    size_t m = 0;
    free(txt);
    if (!root || !cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return -1;
    }
    p = calloc((size_t)cJSON_GetArraySize(root) + 1, sizeof *p);
    if (!p) {
        cJSON_Delete(root);
        return -1;
    }
    cJSON_ArrayForEach(it, root) {
        const char *o = cJSON_GetStringValue(cJSON_GetObjectItem(it, "origin"));
        const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(it, "similar"));
        if (!o || !s)
            continue;
        p[m].origin = strdup(o);
        p[m].similar = strdup(s);
        if (!p[m].origin || !p[m].similar) {
            bench_pairs_free(p, m + 1);
            cJSON_Delete(root);
            return -1;
        }
        m++;
    }
    cJSON_Delete(root);
    *out = p;
    *n = m;
    return 0;
}
