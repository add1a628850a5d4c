/* helpers.c -- typed helpers over the blocking connection: VADD, VSIM,
 * LIMIT.TAKE, CACHE.GET, CACHE.PUT.
 *
 * Design decisions:
 * 1. Vectors go as FP32 blobs (little-endian float32, as Redis vector sets
 *    take them): 4 bytes per dimension instead of ~10 of decimal text, and
 *    no float formatting/parsing on either side.
 * 2. Both reply shapes are accepted: RESP3 maps and RESP2 flat arrays
 *    (key, value, ...), doubles as `,` or as bulk text, so the helpers
 *    work whatever sc_options.resp chose.
 * 3. An error reply is SC_ERR_REPLY with the server's text in sc_errstr;
 *    the connection stays usable (it is not a stream error).
 *
 * Threading: as the connection (one thread at a time). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"

/* A reply element as a double: `,`, `:` or numeric bulk text. */
static int reply_double(const sc_reply *r, double *out) {
    if (r->type == SC_REPLY_DOUBLE) return *out = r->dval, 0;
    if (r->type == SC_REPLY_INTEGER) return *out = (double)r->integer, 0;
    if ((r->type == SC_REPLY_STRING || r->type == SC_REPLY_STATUS) && r->len > 0) {
        char *end;
        double d = strtod(r->str, &end);
        if (end == r->str + r->len) return *out = d, 0;
    }
    return -1;
}

static int reply_ll(const sc_reply *r, long long *out) {
    double d;
    if (r->type == SC_REPLY_INTEGER || r->type == SC_REPLY_BOOL) return *out = r->integer, 0;
    if (reply_double(r, &d) == 0) return *out = (long long)d, 0;
    return -1;
}

/* Key/value pairs of a RESP3 map or a RESP2 flat array. */
static int is_pairs(const sc_reply *r) {
    return (r->type == SC_REPLY_MAP || r->type == SC_REPLY_ARRAY) && r->elements % 2 == 0;
}

int sc_vadd(sc_conn *c, const char *key, const float *vec, size_t dim, const char *element,
            int *added) {
    if (key == NULL || vec == NULL || dim == 0 || element == NULL) return SC_ERR_ARG;
    const char *argv[5] = {"VADD", key, "FP32", (const char *)vec, element};
    size_t lens[5] = {4, strlen(key), 4, dim * sizeof(float), strlen(element)};
    sc_reply *r = sc_command(c, 5, argv, lens);
    int rc = 0;
    if (r && (r->type == SC_REPLY_INTEGER || r->type == SC_REPLY_BOOL)) {
        if (added) *added = r->integer != 0;
    } else {
        rc = sc_conn_reply_error(c, "VADD", r);
    }
    sc_reply_free(r);
    return rc;
}

void sc_vsim_result_free(sc_vsim_result *v) {
    if (v == NULL) return;
    for (size_t i = 0; i < v->n; i++) free(v->elements[i]);
    free(v->elements);
    free(v->lens);
    free(v->scores);
    memset(v, 0, sizeof *v);
}

static int vsim_fill(sc_vsim_result *out, const sc_reply *r) {
    if (!is_pairs(r)) return -1;
    size_t n = r->elements / 2;
    out->elements = calloc(n ? n : 1, sizeof *out->elements);
    out->lens = calloc(n ? n : 1, sizeof *out->lens);
    out->scores = calloc(n ? n : 1, sizeof *out->scores);
    if (!out->elements || !out->lens || !out->scores) return -2;
    for (size_t i = 0; i < n; i++) {
        const sc_reply *e = r->element[2 * i], *s = r->element[2 * i + 1];
        if (e->type != SC_REPLY_STRING && e->type != SC_REPLY_STATUS) return -1;
        if (reply_double(s, &out->scores[i]) != 0) return -1;
        if ((out->elements[i] = malloc(e->len + 1)) == NULL) return -2;
        memcpy(out->elements[i], e->str, e->len + 1);
        out->lens[i] = e->len;
        out->n = i + 1;
    }
    return 0;
}

int sc_vsim(sc_conn *c, const char *key, const float *vec, size_t dim, int count,
            sc_vsim_result *out) {
    memset(out, 0, sizeof *out);
    if (key == NULL || vec == NULL || dim == 0 || count <= 0) return SC_ERR_ARG;
    char cnt[24];
    snprintf(cnt, sizeof cnt, "%d", count);
    const char *argv[7] = {"VSIM", key, "FP32", (const char *)vec, "WITHSCORES", "COUNT", cnt};
    size_t lens[7] = {4, strlen(key), 4, dim * sizeof(float), 10, 5, strlen(cnt)};
    sc_reply *r = sc_command(c, 7, argv, lens);
    int rc = 0;
    if (r == NULL || r->type == SC_REPLY_ERROR) {
        rc = sc_conn_reply_error(c, "VSIM", r);
    } else {
        int f = vsim_fill(out, r);
        if (f != 0) {
            sc_vsim_result_free(out);
            rc = f == -2 ? SC_ERR_OOM : sc_conn_errf(c, "VSIM: unexpected reply shape");
        }
    }
    sc_reply_free(r);
    return rc;
}

int sc_limit_take(sc_conn *c, const char *name, long long cost, long long wait_ms,
                  sc_limit_result *out) {
    memset(out, 0, sizeof *out);
    if (name == NULL || cost <= 0) return SC_ERR_ARG;
    char cs[24], ws[24];
    snprintf(cs, sizeof cs, "%lld", cost);
    snprintf(ws, sizeof ws, "%lld", wait_ms);
    const char *argv[6] = {"LIMIT.TAKE", name, "COST", cs, "WAIT", ws};
    sc_reply *r = sc_command(c, wait_ms >= 0 ? 6 : 4, argv, NULL);
    int rc = 0, seen = 0;
    if (r && is_pairs(r)) {
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
            const sc_reply *k = r->element[i], *v = r->element[i + 1];
            if (k->str == NULL) continue;
            long long g;
            if (!strcmp(k->str, "granted") && reply_ll(v, &g) == 0) {
                out->granted = g != 0;
                seen = 1;
            } else if (!strcmp(k->str, "retry_after_ms")) {
                reply_ll(v, &out->retry_after_ms);
            } else if (!strcmp(k->str, "waited_ms")) {
                reply_ll(v, &out->waited_ms);
            } else if (!strcmp(k->str, "reason") && v->str) {
                snprintf(out->reason, sizeof out->reason, "%s", v->str);
            } else if (!strcmp(k->str, "remaining") && v->elements > 0) {
                reply_ll(v->element[0], &out->remaining);
            }
        }
    }
    if (!seen)
        rc = (r == NULL || r->type == SC_REPLY_ERROR)
                 ? sc_conn_reply_error(c, "LIMIT.TAKE", r)
                 : sc_conn_errf(c, "LIMIT.TAKE: unexpected reply shape");
    sc_reply_free(r);
    return rc;
}

/* ---- CACHE.GET / CACHE.PUT ---- */

void sc_cache_result_free(sc_cache_result *r) {
    if (r == NULL) return;
    free(r->answer);
    memset(r, 0, sizeof *r);
    r->id = -1;
}

/* Appends TENANT <t> when the connection has one. */
static int add_tenant(sc_conn *c, const char **argv, int argc) {
    const char *t = sc_tenant(c);
    if (t == NULL) return argc;
    argv[argc++] = "TENANT";
    argv[argc++] = t;
    return argc;
}

static int cache_fill(sc_cache_result *out, const sc_reply *r) {
    if (!is_pairs(r)) return -1;
    int have_tier = 0;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const sc_reply *k = r->element[i], *v = r->element[i + 1];
        if (k->str == NULL) continue;
        if (!strcmp(k->str, "tier") && v->str) {
            have_tier = 1;
            if (!strcmp(v->str, "exact")) out->tier = SC_CACHE_EXACT;
            else if (!strcmp(v->str, "semantic")) out->tier = SC_CACHE_SEMANTIC;
            else if (!strcmp(v->str, "stale")) out->tier = SC_CACHE_STALE;
            else if (!strcmp(v->str, "miss")) out->tier = SC_CACHE_MISS;
            else return -1;
        } else if (!strcmp(k->str, "response") && v->str) {
            if ((out->answer = malloc(v->len + 1)) == NULL) return -2;
            memcpy(out->answer, v->str, v->len + 1);
            out->answer_len = v->len;
        } else if (!strcmp(k->str, "id")) {
            reply_ll(v, &out->id);
        } else if (!strcmp(k->str, "score")) {
            reply_double(v, &out->score);
        } else if (!strcmp(k->str, "age_ms")) {
            reply_ll(v, &out->age_ms);
        } else if (!strcmp(k->str, "fill")) {
            long long f = 0;
            reply_ll(v, &f);
            out->fill = f != 0;
        } else if (!strcmp(k->str, "budget") && v->str) {
            out->budget_exhausted = !strcmp(v->str, "exhausted");
        }
    }
    if (!have_tier || (out->tier != SC_CACHE_MISS && out->answer == NULL)) return -1;
    return 0;
}

int sc_cache_get(sc_conn *c, const char *ns, const char *prompt, const sc_cache_get_opts *opt,
                 sc_cache_result *out) {
    memset(out, 0, sizeof *out);
    out->id = -1;
    if (ns == NULL || prompt == NULL) return SC_ERR_ARG;
    const char *argv[12] = {"CACHE.GET", ns, prompt};
    int argc = 3;
    char th[40], wait[24];
    if (opt && opt->has_threshold) {
        snprintf(th, sizeof th, "%.17g", opt->threshold);
        argv[argc++] = "THRESHOLD";
        argv[argc++] = th;
    }
    if (opt && opt->stale) argv[argc++] = "STALE";
    if (opt && opt->wait_ms > 0) {
        snprintf(wait, sizeof wait, "%lld", opt->wait_ms);
        argv[argc++] = "WAIT";
        argv[argc++] = wait;
    }
    argc = add_tenant(c, argv, argc);
    sc_reply *r = sc_command(c, argc, argv, NULL);
    int rc = 0;
    if (r == NULL || r->type == SC_REPLY_ERROR) {
        rc = sc_conn_reply_error(c, "CACHE.GET", r);
    } else {
        int f = cache_fill(out, r);
        if (f != 0) {
            sc_cache_result_free(out);
            rc = f == -2 ? SC_ERR_OOM : sc_conn_errf(c, "CACHE.GET: unexpected reply shape");
        }
    }
    sc_reply_free(r);
    return rc;
}

int sc_cache_put(sc_conn *c, const char *ns, const char *prompt, const char *answer,
                 size_t answer_len, const sc_cache_put_opts *opt, long long *id) {
    if (ns == NULL || prompt == NULL || answer == NULL) return SC_ERR_ARG;
    const char *argv[14] = {"CACHE.PUT", ns, prompt, answer};
    size_t lens[14] = {9, strlen(ns), strlen(prompt), answer_len};
    int argc = 4;
    char ttl[24];
    if (opt && opt->ttl_s > 0) {
        snprintf(ttl, sizeof ttl, "%lld", opt->ttl_s);
        argv[argc++] = "TTL";
        argv[argc++] = ttl;
    }
    if (opt && opt->cost_usd) {
        argv[argc++] = "COST";
        argv[argc++] = opt->cost_usd;
    }
    if (opt && opt->model) {
        argv[argc++] = "MODEL";
        argv[argc++] = opt->model;
    }
    if (opt && opt->meta) {
        argv[argc++] = "META";
        argv[argc++] = opt->meta;
    }
    argc = add_tenant(c, argv, argc);
    for (int i = 4; i < argc; i++) lens[i] = strlen(argv[i]);
    sc_reply *r = sc_command(c, argc, argv, lens);
    int rc = 0;
    if (r && r->type == SC_REPLY_INTEGER) {
        if (id) *id = r->integer;
    } else {
        rc = r && r->type != SC_REPLY_ERROR ? sc_conn_errf(c, "CACHE.PUT: unexpected reply shape")
                                            : sc_conn_reply_error(c, "CACHE.PUT", r);
    }
    sc_reply_free(r);
    return rc;
}
