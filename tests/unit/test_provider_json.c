/* test_provider_json.c -- the provider response parser accepts exactly one
 * finite vector of the right dimension per input, placed by index, and
 * rejects everything else (the threats: a provider that reorders, drops,
 * duplicates or corrupts vectors must never get a wrong vector cached);
 * request bodies escape any prompt bytes into valid JSON. */
#include <criterion/criterion.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/provider_json.h"

static int parse(enum pj_kind k, const char *body, size_t n, int dim, float **v, int *d, long long *t) {
    char err[200];
    return pj_parse_response(k, body, strlen(body), n, dim, v, d, t, err, sizeof err);
}

static const char *b64enc(const float *f, size_t n) {   /* little-endian float32 -> base64 */
    static char out[4096];
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char raw[1024];
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &f[i], 4);
        for (int b = 0; b < 4; b++) raw[4 * i + (size_t)b] = (unsigned char)(u >> (8 * b));
    }
    size_t len = 4 * n, o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (i + 1 < len ? (uint32_t)raw[i + 1] << 8 : 0) |
                     (i + 2 < len ? raw[i + 2] : 0);
        out[o++] = tbl[v >> 18];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? tbl[v & 63] : '=';
    }
    out[o] = 0;
    return out;
}

Test(provider_json, openai_float_vectors_are_placed_by_index_not_order) {
    const char *body = "{\"object\":\"list\",\"data\":["
                       "{\"object\":\"embedding\",\"index\":1,\"embedding\":[4,5,6]},"
                       "{\"object\":\"embedding\",\"index\":0,\"embedding\":[1,2,3]}],"
                       "\"usage\":{\"prompt_tokens\":7,\"total_tokens\":7}}";
    float *v;
    int d;
    long long t;
    cr_assert_eq(parse(PJ_OPENAI, body, 2, 3, &v, &d, &t), PJ_OK);
    cr_assert_eq(d, 3);
    cr_assert_eq(t, 7);
    float want[] = {1, 2, 3, 4, 5, 6};
    for (int i = 0; i < 6; i++) cr_assert_eq(v[i], want[i]);
    free(v);
}

Test(provider_json, openai_base64_decodes_little_endian_float32) {
    float a[] = {0.25f, -1.5f, 3.0e-8f, 1234.5f}, b[] = {-0.0f, 1.0f, 2.0f, -3.0f};
    char body[2048], sa[512];
    snprintf(sa, sizeof sa, "%s", b64enc(a, 4));
    snprintf(body, sizeof body,
             "{\"data\":[{\"index\":0,\"embedding\":\"%s\"},{\"index\":1,\"embedding\":\"%s\"}]}", sa,
             b64enc(b, 4));
    float *v;
    int d;
    long long t;
    cr_assert_eq(parse(PJ_OPENAI, body, 2, 0, &v, &d, &t), PJ_OK);
    cr_assert_eq(d, 4);
    cr_assert_eq(t, 0);
    cr_assert_eq(memcmp(v, a, sizeof a), 0);
    cr_assert_eq(memcmp(v + 4, b, sizeof b), 0);
    free(v);
}

Test(provider_json, ollama_embeddings_and_prompt_eval_count) {
    const char *body = "{\"model\":\"m\",\"embeddings\":[[0.5,0.25],[1,-1]],\"prompt_eval_count\":11}";
    float *v;
    int d;
    long long t;
    cr_assert_eq(parse(PJ_OLLAMA, body, 2, 2, &v, &d, &t), PJ_OK);
    cr_assert_eq(t, 11);
    cr_assert_eq(v[0], 0.5f);
    cr_assert_eq(v[3], -1.0f);
    free(v);
}

#define REJECT(kind, body, n, dim, code)                                      \
    do {                                                                      \
        float *v = (float *)1;                                                \
        int d = 9;                                                            \
        long long t = 9;                                                      \
        int rc_ = parse(kind, body, n, dim, &v, &d, &t);                      \
        cr_assert_eq(rc_, code, "%s: got %d", body, rc_);                     \
        cr_assert_null(v);                                                    \
        cr_assert_eq(d, 0);                                                   \
    } while (0)

Test(provider_json, duplicate_or_out_of_range_indexes_are_rejected) {
    REJECT(PJ_OPENAI, "{\"data\":[{\"index\":0,\"embedding\":[1]},{\"index\":0,\"embedding\":[2]}]}", 2, 1, PJ_EINDEX);
    REJECT(PJ_OPENAI, "{\"data\":[{\"index\":0,\"embedding\":[1]},{\"index\":2,\"embedding\":[2]}]}", 2, 1, PJ_EINDEX);
    REJECT(PJ_OPENAI, "{\"data\":[{\"index\":-1,\"embedding\":[1]}]}", 1, 1, PJ_EINDEX);
    REJECT(PJ_OPENAI, "{\"data\":[{\"index\":0.5,\"embedding\":[1]}]}", 1, 1, PJ_EINDEX);
    REJECT(PJ_OPENAI, "{\"data\":[{\"index\":1e300,\"embedding\":[1]}]}", 1, 1, PJ_EINDEX);
    REJECT(PJ_OPENAI, "{\"data\":[{\"embedding\":[1]}]}", 1, 1, PJ_EMALFORMED);
}

Test(provider_json, wrong_counts_are_rejected) {
    REJECT(PJ_OPENAI, "{\"data\":[{\"index\":0,\"embedding\":[1]}]}", 2, 1, PJ_ECOUNT);
    REJECT(PJ_OPENAI, "{\"data\":[{\"index\":0,\"embedding\":[1]},{\"index\":1,\"embedding\":[1]}]}", 1, 1, PJ_ECOUNT);
    REJECT(PJ_OPENAI, "{\"data\":[]}", 1, 1, PJ_ECOUNT);
    REJECT(PJ_OLLAMA, "{\"embeddings\":[[1],[2],[3]]}", 2, 1, PJ_ECOUNT);
    REJECT(PJ_OPENAI, "{\"data\":[]}", 0, 1, PJ_ECOUNT);
}

Test(provider_json, wrong_or_inconsistent_dimensions_are_rejected) {
    REJECT(PJ_OPENAI, "{\"data\":[{\"index\":0,\"embedding\":[1,2]}]}", 1, 3, PJ_EDIM);
    REJECT(PJ_OPENAI, "{\"data\":[{\"index\":0,\"embedding\":[1,2]},{\"index\":1,\"embedding\":[1]}]}", 2, 0, PJ_EDIM);
    REJECT(PJ_OLLAMA, "{\"embeddings\":[[1,2],[1,2,3]]}", 2, 0, PJ_EDIM);
    REJECT(PJ_OLLAMA, "{\"embeddings\":[[]]}", 1, 0, PJ_EDIM);
    /* 5 bytes of base64 payload is not a whole float32 */
    REJECT(PJ_OPENAI, "{\"data\":[{\"index\":0,\"embedding\":\"AAAAAAA=\"}]}", 1, 0, PJ_EDIM);
}

Test(provider_json, nan_and_infinity_are_rejected_in_every_encoding) {
    REJECT(PJ_OPENAI, "{\"data\":[{\"index\":0,\"embedding\":[1e999,1]}]}", 1, 2, PJ_ENONFINITE);
    REJECT(PJ_OPENAI, "{\"data\":[{\"index\":0,\"embedding\":[1,-1e999]}]}", 1, 2, PJ_ENONFINITE);
    REJECT(PJ_OPENAI, "{\"data\":[{\"index\":0,\"embedding\":[NaN,1]}]}", 1, 2, PJ_EMALFORMED);
    REJECT(PJ_OLLAMA, "{\"embeddings\":[[1e39]]}", 1, 1, PJ_ENONFINITE);   /* overflows float */
    float bad[2] = {1.0f, NAN};
    char body[512];
    snprintf(body, sizeof body, "{\"data\":[{\"index\":0,\"embedding\":\"%s\"}]}", b64enc(bad, 2));
    REJECT(PJ_OPENAI, body, 1, 2, PJ_ENONFINITE);
    bad[1] = -INFINITY;
    snprintf(body, sizeof body, "{\"data\":[{\"index\":0,\"embedding\":\"%s\"}]}", b64enc(bad, 2));
    REJECT(PJ_OPENAI, body, 1, 2, PJ_ENONFINITE);
}

Test(provider_json, malformed_bodies_are_rejected) {
    REJECT(PJ_OPENAI, "", 1, 1, PJ_EMALFORMED);
    REJECT(PJ_OPENAI, "[1,2]", 1, 1, PJ_EMALFORMED);
    REJECT(PJ_OPENAI, "{\"data\":[{\"index\":0,\"embedding\":[1,2,,", 1, 2, PJ_EMALFORMED);
    REJECT(PJ_OPENAI, "{\"data\":{}}", 1, 1, PJ_EMALFORMED);
    REJECT(PJ_OPENAI, "{\"data\":[{\"index\":0,\"embedding\":[\"1\"]}]}", 1, 1, PJ_EMALFORMED);
    REJECT(PJ_OPENAI, "{\"data\":[{\"index\":0,\"embedding\":\"!!!!!!!!!!!!!!!!\"}]}", 1, 0, PJ_EMALFORMED);
    REJECT(PJ_OLLAMA, "{\"embedding\":[1]}", 1, 1, PJ_EMALFORMED);
    REJECT(PJ_OPENAI, "{\"error\":{\"message\":\"x\"}}", 1, 1, PJ_EMALFORMED);
}

Test(provider_json, error_bodies_distinguish_quota_from_rate_limits) {
    char msg[64];
    const char *quota = "{\"error\":{\"message\":\"You exceeded\\nyour quota\",\"type\":\"insufficient_quota\","
                        "\"code\":\"insufficient_quota\"}}";
    cr_assert_eq(pj_parse_error(quota, strlen(quota), msg, sizeof msg), 1);
    cr_assert_str_eq(msg, "You exceeded your quota");   /* no CR/LF in replies */
    const char *rate = "{\"error\":{\"message\":\"Rate limit\",\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}";
    cr_assert_eq(pj_parse_error(rate, strlen(rate), msg, sizeof msg), 0);
    cr_assert_str_eq(msg, "Rate limit");
    const char *oll = "{\"error\":\"model not found\"}";
    cr_assert_eq(pj_parse_error(oll, strlen(oll), msg, sizeof msg), 0);
    cr_assert_str_eq(msg, "model not found");
    cr_assert_eq(pj_parse_error("<html>", 6, msg, sizeof msg), 0);
    cr_assert_str_eq(msg, "");
}

Test(provider_json, request_escapes_any_bytes_into_valid_json) {
    const char t0[] = {'a', '"', '\\', '\n', 0, 0x1f, 'z'};
    const char *texts[] = {t0, "plain"};
    size_t lens[] = {sizeof t0, 5};
    sbuf b = SBUF_INIT;
    pj_build_request(&b, PJ_OPENAI, "text-embedding-3-small", 256, 1, texts, lens, 2);
    cr_assert_eq(b.oom, 0);
    cJSON *root = cJSON_ParseWithLength(b.buf, b.len);
    cr_assert_not_null(root, "%s", b.buf);
    cJSON *in = cJSON_GetObjectItem(root, "input");
    cr_assert_eq(cJSON_GetArraySize(in), 2);
    cr_assert_str_eq(cJSON_GetArrayItem(in, 1)->valuestring, "plain");
    cr_assert_str_eq(cJSON_GetObjectItem(root, "encoding_format")->valuestring, "base64");
    cr_assert_eq(cJSON_GetObjectItem(root, "dimensions")->valueint, 256);
    cr_assert_str_eq(cJSON_GetObjectItem(root, "model")->valuestring, "text-embedding-3-small");
    cr_assert_not_null(strstr(b.buf, "\"a\\\"\\\\\\n\\u0000\\u001fz\""), "%s", b.buf);
    cJSON_Delete(root);
    sbuf_reset(&b);
    pj_build_request(&b, PJ_OLLAMA, "", 0, 1, texts + 1, lens + 1, 1);
    cr_assert_str_eq(sbuf_cstr(&b), "{\"input\":[\"plain\"],\"truncate\":true}");   /* no base64 for Ollama */
    sbuf_free(&b);
}

Test(provider_json, base64_decoder_rejects_bad_input) {
    unsigned char out[16];
    cr_assert_eq(pj_base64_decode("TWFu", 4, out, sizeof out), 3);
    cr_assert_eq(memcmp(out, "Man", 3), 0);
    cr_assert_eq(pj_base64_decode("TWE=", 4, out, sizeof out), 2);
    cr_assert_eq(pj_base64_decode("TQ==", 4, out, sizeof out), 1);
    cr_assert_eq(pj_base64_decode("T", 1, out, sizeof out), -1);
    cr_assert_eq(pj_base64_decode("TW*u", 4, out, sizeof out), -1);
    cr_assert_eq(pj_base64_decode("TWFuTWFu", 8, out, 5), -1);   /* overflow */
}
