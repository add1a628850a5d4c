/* provider_json.c -- request building and response validation for the
 * embedding providers (see provider_json.h for the contracts).
 *
 * Design decisions:
 *  1. The request body is written by hand into an sbuf: the only variable
 *     parts are the model name and the texts, and escaping them directly
 *     avoids building a cJSON tree of n copies of the inputs. Texts are
 *     (pointer, length) pairs, so a prompt may contain NUL (sent as \u0000).
 *  2. Responses are parsed with cJSON (the fastest C parser packaged in
 *     Debian 12: 2.84 M instructions for a 1,536-float response, see
 *     /work/shared/reference/ecosystem.md section 3). Float parsing
 *     dominates, which is why OpenAI requests ask for base64: a base64
 *     vector is one string node, decoded here as little-endian float32
 *     (byte order fixed explicitly, so a big-endian host decodes it right).
 *  3. Validation is total: every vector must exist exactly once (OpenAI
 *     results are placed by data[i].index, never by order; an index out of
 *     range or seen twice rejects the whole response), have the expected
 *     dimension, and contain only finite values. JSON has no NaN literal,
 *     so a provider that prints NaN fails as malformed; overflowing numbers
 *     (1e999) parse as infinity and fail as non-finite; base64 carries any
 *     bit pattern and is checked value by value.
 *  4. Usage (prompt tokens) is read but never trusted for validity: a
 *     missing or negative count reads as 0. */
#include "provider_json.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *pj_strerror(int code) {
    switch (code) {
    case PJ_OK: return "ok";
    case PJ_EMALFORMED: return "malformed";
    case PJ_ECOUNT: return "count";
    case PJ_EINDEX: return "index";
    case PJ_EDIM: return "dimension";
    case PJ_ENONFINITE: return "nonfinite";
    case PJ_ENOMEM: return "oom";
    default: return "unknown";
    }
}

/* ---- request ---- */

static void put_json_string(sbuf *o, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    sbuf_append(o, "\"", 1);
    size_t run = 0;   /* start of the current run of bytes needing no escape */
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\') continue;
        sbuf_append(o, s + run, i - run);
        run = i + 1;
        switch (ch) {
        case '"': sbuf_append(o, "\\\"", 2); break;
        case '\\': sbuf_append(o, "\\\\", 2); break;
        case '\n': sbuf_append(o, "\\n", 2); break;
        case '\r': sbuf_append(o, "\\r", 2); break;
        case '\t': sbuf_append(o, "\\t", 2); break;
        default: {
            char e[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
            sbuf_append(o, e, 6);
        }
        }
    }
    sbuf_append(o, s + run, n - run);
    sbuf_append(o, "\"", 1);
}

void pj_build_request(sbuf *out, enum pj_kind kind, const char *model, int dims, int base64,
                      const char *const *texts, const size_t *lens, size_t n) {
    sbuf_puts(out, "{");
    if (model && model[0]) {
        sbuf_puts(out, "\"model\":");
        put_json_string(out, model, strlen(model));
        sbuf_puts(out, ",");
    }
    sbuf_puts(out, "\"input\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) sbuf_append(out, ",", 1);
        put_json_string(out, texts[i], lens[i]);
    }
    sbuf_puts(out, "]");
    if (dims > 0) sbuf_printf(out, ",\"dimensions\":%d", dims);
    if (kind == PJ_OPENAI && base64) sbuf_puts(out, ",\"encoding_format\":\"base64\"");
    if (kind == PJ_OLLAMA) sbuf_puts(out, ",\"truncate\":true");
    sbuf_puts(out, "}");
}

/* ---- base64 ---- */

/* 256-entry table, -1 = not base64: a chain of range tests per character
 * cost more than the rest of a 1,536-float response (bench/provider_bench.sh) */
static const signed char b64tab[256] = {
#define X4 -1, -1, -1, -1
#define X16 X4, X4, X4, X4
    X16, X16,                                   /* 0x00-0x1f */
    X4, X4, -1, -1, -1, 62, -1, -1, -1, 63,     /* 0x20-0x2f: '+' 0x2b, '/' 0x2f */
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,   /* '0'-'9' */
    -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,            /* '@', 'A'-'O' */
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,  /* 'P'-'Z' */
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,  /* '`', 'a'-'o' */
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,  /* 'p'-'z' */
    X16, X16, X16, X16, X16, X16, X16, X16,     /* 0x80-0xff */
#undef X16
#undef X4
};
#define b64val(c) b64tab[(unsigned char)(c)]

long pj_base64_decode(const char *in, size_t len, unsigned char *out, size_t cap) {
    while (len > 0 && in[len - 1] == '=') len--;
    if (len % 4 == 1) return -1;
    size_t olen = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    if (olen > cap) return -1;
    size_t o = 0, i = 0;
    for (; i + 4 <= len; i += 4) {
        signed char a = b64val((unsigned char)in[i]), b = b64val((unsigned char)in[i + 1]);
        signed char c = b64val((unsigned char)in[i + 2]), d = b64val((unsigned char)in[i + 3]);
        if ((a | b | c | d) < 0) return -1;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        out[o++] = (unsigned char)(v >> 16);
        out[o++] = (unsigned char)(v >> 8);
        out[o++] = (unsigned char)v;
    }
    if (i < len) {
        size_t rem = len - i;   /* 2 or 3 */
        uint32_t v = 0;
        for (size_t k = 0; k < rem; k++) {
            signed char x = b64val((unsigned char)in[i + k]);
            if (x < 0) return -1;
            v |= (uint32_t)x << (18 - 6 * k);
        }
        out[o++] = (unsigned char)(v >> 16);
        if (rem == 3) out[o++] = (unsigned char)(v >> 8);
    }
    return (long)o;
}

/* ---- response ---- */

typedef struct pctx {
    size_t n;
    int dim;           /* expected, or 0 until the first vector fixes it */
    float *vecs;       /* n * dim once dim is known */
    unsigned char *seen;
    char *err;
    size_t errlen;
} pctx;

static int fail(pctx *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(pctx *c, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
    return code;
}

static int fix_dim(pctx *c, size_t d) {
    if (d == 0 || d > (1u << 20)) return fail(c, PJ_EDIM, "bad dimension %zu", d);
    if (c->dim == 0) c->dim = (int)d;
    else if ((size_t)c->dim != d)
        return fail(c, PJ_EDIM, "dimension %zu, expected %zu", d, (size_t)c->dim);
    if (c->vecs == NULL) {
        c->vecs = malloc(c->n * (size_t)c->dim * sizeof(float));
        if (c->vecs == NULL) return PJ_ENOMEM;
    }
    return PJ_OK;
}

static int put_float_array(pctx *c, size_t slot, const cJSON *arr) {
    if (!cJSON_IsArray(arr)) return fail(c, PJ_EMALFORMED, "embedding %zu is not an array", slot);
    int rc = fix_dim(c, (size_t)cJSON_GetArraySize(arr));
    if (rc) return rc;
    float *v = c->vecs + slot * (size_t)c->dim;
    size_t k = 0;
    for (const cJSON *e = arr->child; e; e = e->next, k++) {
        if (!cJSON_IsNumber(e)) return fail(c, PJ_EMALFORMED, "embedding %zu holds a non-number at %zu", slot, k);
        float f = (float)e->valuedouble;
        if (!isfinite(f)) return fail(c, PJ_ENONFINITE, "embedding %zu: non-finite value at %zu", slot, k);
        v[k] = f;
    }
    return PJ_OK;
}

static int put_base64(pctx *c, size_t slot, const char *s) {
    size_t len = strlen(s), bytes = len / 4 * 3 + 3;
    while (len > 0 && s[len - 1] == '=') len--;
    size_t exact = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    if (exact % 4) return fail(c, PJ_EDIM, "embedding %zu: %zu base64 bytes is not float32", slot, exact);
    int rc = fix_dim(c, exact / 4);
    if (rc) return rc;
    unsigned char *raw = malloc(bytes);
    if (raw == NULL) return PJ_ENOMEM;
    long got = pj_base64_decode(s, strlen(s), raw, bytes);
    if (got != (long)exact) {
        free(raw);
        return fail(c, PJ_EMALFORMED, "embedding %zu: bad base64", slot);
    }
    float *v = c->vecs + slot * (size_t)c->dim;
    for (int k = 0; k < c->dim; k++) {
        const unsigned char *p = raw + 4 * (size_t)k;
        uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        float f;
        memcpy(&f, &u, 4);
        if (!isfinite(f)) {
            free(raw);
            return fail(c, PJ_ENONFINITE, "embedding %zu: non-finite value at %zu", slot, (size_t)k);
        }
        v[k] = f;
    }
    free(raw);
    return PJ_OK;
}

static int parse_openai(pctx *c, const cJSON *root, long long *tokens) {
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (!cJSON_IsArray(data)) return fail(c, PJ_EMALFORMED, "no data array");
    size_t count = (size_t)cJSON_GetArraySize(data);
    if (count != c->n) return fail(c, PJ_ECOUNT, "%zu embeddings for %zu inputs", count, c->n);
    for (const cJSON *d = data->child; d; d = d->next) {
        const cJSON *idx = cJSON_GetObjectItemCaseSensitive(d, "index");
        const cJSON *emb = cJSON_GetObjectItemCaseSensitive(d, "embedding");
        if (!cJSON_IsNumber(idx) || emb == NULL)
            return fail(c, PJ_EMALFORMED, "data item without index or embedding");
        double di = idx->valuedouble;
        if (!(di >= 0) || di >= (double)c->n || di != (double)(size_t)di)
            return fail(c, PJ_EINDEX, "index out of range (%zu inputs)", c->n);
        size_t slot = (size_t)di;
        if (c->seen[slot]) return fail(c, PJ_EINDEX, "duplicate index %zu", slot);
        c->seen[slot] = 1;
        int rc = cJSON_IsString(emb) ? put_base64(c, slot, emb->valuestring)
                                     : put_float_array(c, slot, emb);
        if (rc) return rc;
    }
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens");
    if (cJSON_IsNumber(pt) && pt->valuedouble > 0 && pt->valuedouble < 9e15)
        *tokens = (long long)pt->valuedouble;
    return PJ_OK;
}

static int parse_ollama(pctx *c, const cJSON *root, long long *tokens) {
    const cJSON *embs = cJSON_GetObjectItemCaseSensitive(root, "embeddings");
    if (!cJSON_IsArray(embs)) return fail(c, PJ_EMALFORMED, "no embeddings array");
    size_t count = (size_t)cJSON_GetArraySize(embs);
    if (count != c->n) return fail(c, PJ_ECOUNT, "%zu embeddings for %zu inputs", count, c->n);
    size_t slot = 0;
    for (const cJSON *e = embs->child; e; e = e->next, slot++) {
        int rc = put_float_array(c, slot, e);
        if (rc) return rc;
    }
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(root, "prompt_eval_count");
    if (cJSON_IsNumber(pt) && pt->valuedouble > 0 && pt->valuedouble < 9e15)
        *tokens = (long long)pt->valuedouble;
    return PJ_OK;
}

int pj_parse_response(enum pj_kind kind, const char *body, size_t len, size_t n, int dim,
                      float **vecs_out, int *dim_out, long long *tokens_out, char *err,
                      size_t errlen) {
    *vecs_out = NULL;
    *dim_out = 0;
    *tokens_out = 0;
    if (errlen) err[0] = '\0';
    pctx c = {n, dim > 0 ? dim : 0, NULL, NULL, err, errlen};
    if (n == 0) return fail(&c, PJ_ECOUNT, "no inputs");
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (root == NULL || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fail(&c, PJ_EMALFORMED, "response is not a JSON object");
    }
    c.seen = calloc(n, 1);
    int rc = c.seen ? PJ_OK : PJ_ENOMEM;
    long long tokens = 0;
    if (rc == PJ_OK) rc = kind == PJ_OLLAMA ? parse_ollama(&c, root, &tokens) : parse_openai(&c, root, &tokens);
    if (rc == PJ_OK && c.vecs == NULL) rc = fail(&c, PJ_EDIM, "no vectors");
    if (rc == PJ_ENOMEM) snprintf(err, errlen, "out of memory");
    cJSON_Delete(root);
    free(c.seen);
    if (rc != PJ_OK) {
        free(c.vecs);
        return rc;
    }
    *vecs_out = c.vecs;
    *dim_out = c.dim;
    *tokens_out = tokens;
    return PJ_OK;
}

static void copy_msg(char *msg, size_t msglen, const char *s) {
    if (msglen == 0) return;
    snprintf(msg, msglen, "%s", s);
    for (char *p = msg; *p; p++)
        if (*p == '\r' || *p == '\n') *p = ' ';
}

int pj_parse_error(const char *body, size_t len, char *msg, size_t msglen) {
    if (msglen) msg[0] = '\0';
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (root == NULL) return 0;
    int quota = 0;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (cJSON_IsString(e)) {
        copy_msg(msg, msglen, e->valuestring);
    } else if (cJSON_IsObject(e)) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "type");
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
        if (cJSON_IsString(m)) copy_msg(msg, msglen, m->valuestring);
        if ((cJSON_IsString(t) && !strcmp(t->valuestring, "insufficient_quota")) ||
            (cJSON_IsString(code) && !strcmp(code->valuestring, "insufficient_quota")))
            quota = 1;
    }
    cJSON_Delete(root);
    return quota;
}
