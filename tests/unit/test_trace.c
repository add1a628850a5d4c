/* test_trace.c -- the W3C traceparent parser accepts exactly the valid
 * level-1 values (a lax parser would silently start a new trace and break
 * the gateway's trace, or accept ids that collectors reject), span ids are
 * random and never zero, and the OTLP JSON encoder produces valid JSON with
 * the exact field shapes OTLP/HTTP requires (hex ids, string nanos, string
 * intValue) whatever bytes the attribute strings hold. */
#include <criterion/criterion.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/sbuf.h"
#include "server/trace.h"

static const char *VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

static int parse(const char *s, trace_ctx *t) { return trace_parse_traceparent(s, strlen(s), t); }

Test(traceparent, valid_value_gives_ids_flags_and_parent) {
    trace_ctx t;
    cr_assert_eq(parse(VALID, &t), 0);
    char h[33];
    trace_hex(t.trace_id, TRACE_ID_BYTES, h);
    cr_assert_str_eq(h, "4bf92f3577b34da6a3ce929d0e0e4736");
    trace_hex(t.parent_id, SPAN_ID_BYTES, h);
    cr_assert_str_eq(h, "00f067aa0ba902b7");
    cr_assert_eq(t.flags, 1);
    cr_assert_eq(t.has_parent, 1);
    cr_assert_eq(parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", &t), 0);
    cr_assert_eq(t.flags, 0);
}

Test(traceparent, every_single_byte_change_outside_hex_digits_is_refused) {
    /* Replace each byte by each of a set of wrong characters: only a hex
     * digit in a hex position may parse (and then only to a valid value). */
    const char bad[] = "-_ gGA\x00\xff/";
    for (size_t i = 0; i < TRACEPARENT_LEN; i++) {
        for (size_t k = 0; k < sizeof bad - 1; k++) {
            char s[TRACEPARENT_LEN + 1];
            memcpy(s, VALID, sizeof s);
            if (s[i] == bad[k]) continue;
            s[i] = bad[k];
            trace_ctx t;
            cr_assert_eq(trace_parse_traceparent(s, TRACEPARENT_LEN, &t), -1,
                         "byte %zu -> 0x%02x accepted", i, (unsigned char)bad[k]);
        }
    }
}

Test(traceparent, every_truncation_and_extension_of_version_00_is_refused) {
    trace_ctx t;
    for (size_t n = 0; n < TRACEPARENT_LEN; n++)
        cr_assert_eq(trace_parse_traceparent(VALID, n, &t), -1, "prefix of %zu accepted", n);
    char longer[80];
    snprintf(longer, sizeof longer, "%s-00", VALID);
    cr_assert_eq(parse(longer, &t), -1);
    snprintf(longer, sizeof longer, "%s0", VALID);
    cr_assert_eq(parse(longer, &t), -1);
}

Test(traceparent, zero_ids_uppercase_and_version_ff_are_refused) {
    trace_ctx t;
    cr_assert_eq(parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01", &t), -1);
    cr_assert_eq(parse("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", &t), -1);
    cr_assert_eq(parse("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", &t), -1);
    cr_assert_eq(parse("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &t), -1);
}

Test(traceparent, later_versions_may_carry_more_fields_after_a_dash) {
    trace_ctx t;
    cr_assert_eq(parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-abc", &t), 0);
    cr_assert_eq(parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &t), 0);
    cr_assert_eq(parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", &t), -1);
}

Test(trace_ids, random_ids_are_never_zero_and_do_not_repeat) {
    enum { N = 4096 };
    static uint8_t ids[N][SPAN_ID_BYTES];
    for (int i = 0; i < N; i++) {
        trace_random_id(ids[i], SPAN_ID_BYTES);
        uint8_t z[SPAN_ID_BYTES] = {0};
        cr_assert_neq(memcmp(ids[i], z, SPAN_ID_BYTES), 0);
        for (int j = 0; j < i; j++) cr_assert_neq(memcmp(ids[i], ids[j], SPAN_ID_BYTES), 0);
    }
    trace_ctx a, b;
    trace_ctx_new(&a);
    trace_ctx_new(&b);
    cr_assert_neq(memcmp(a.trace_id, b.trace_id, TRACE_ID_BYTES), 0);
    cr_assert_eq(a.flags & TRACE_FLAG_SAMPLED, TRACE_FLAG_SAMPLED);
    cr_assert_eq(a.has_parent, 0);
}

/* ---- JSON ---- */

static cJSON *encode(const trace_span *s, size_t n, const char *service, sbuf *o) {
    trace_json_encode(o, s, n, service);
    cr_assert_eq(o->oom, 0);
    cJSON *j = cJSON_ParseWithLength(o->buf, o->len);
    cr_assert_not_null(j, "invalid JSON: %s", sbuf_cstr(o));
    return j;
}

static cJSON *path(cJSON *j, const char *a, int i) {
    cJSON *x = cJSON_GetObjectItemCaseSensitive(j, a);
    cr_assert_not_null(x, "no %s", a);
    return i >= 0 ? cJSON_GetArrayItem(x, i) : x;
}

static const char *str(cJSON *j, const char *k) {
    cJSON *x = cJSON_GetObjectItemCaseSensitive(j, k);
    cr_assert(cJSON_IsString(x), "%s is not a string", k);
    return x->valuestring;
}

Test(otlp_json, export_request_has_the_otlp_shape) {
    trace_ctx tc;
    cr_assert_eq(parse(VALID, &tc), 0);
    trace_span s;
    trace_span_init(&s, tc.trace_id, tc.parent_id, "CACHE.GET faq", 13, SPAN_KIND_SERVER,
                    1700000000123456789ULL);
    s.end_ns = 1700000000223456789ULL;
    s.status = SPAN_STATUS_OK;
    trace_span_str(&s, "gen_ai.request.model", "gpt-x", 5);
    trace_span_int(&s, "gen_ai.usage.input_tokens", 9007199254740993LL);   /* > 2^53 */
    trace_span_double(&s, "simcache.cache.score", 0.875);
    sbuf o = SBUF_INIT;
    cJSON *j = encode(&s, 1, "svc \"quoted\"", &o);
    cJSON *rs = path(j, "resourceSpans", 0);
    cJSON *ra = path(path(rs, "resource", -1), "attributes", 0);
    cr_assert_str_eq(str(ra, "key"), "service.name");
    cr_assert_str_eq(str(path(ra, "value", -1), "stringValue"), "svc \"quoted\"");
    cJSON *ss = path(rs, "scopeSpans", 0);
    cr_assert_str_eq(str(path(ss, "scope", -1), "name"), "simcache");
    cJSON *sp = path(ss, "spans", 0);
    cr_assert_str_eq(str(sp, "traceId"), "4bf92f3577b34da6a3ce929d0e0e4736");
    cr_assert_str_eq(str(sp, "parentSpanId"), "00f067aa0ba902b7");
    cr_assert_eq(strlen(str(sp, "spanId")), 16);
    cr_assert_str_eq(str(sp, "name"), "CACHE.GET faq");
    cr_assert_eq(path(sp, "kind", -1)->valueint, 2);
    cr_assert_str_eq(str(sp, "startTimeUnixNano"), "1700000000123456789");
    cr_assert_str_eq(str(sp, "endTimeUnixNano"), "1700000000223456789");
    cr_assert_eq(path(path(sp, "status", -1), "code", -1)->valueint, 1);
    cJSON *at = path(sp, "attributes", -1);
    cr_assert_eq(cJSON_GetArraySize(at), 3);
    cr_assert_str_eq(str(path(cJSON_GetArrayItem(at, 0), "value", -1), "stringValue"), "gpt-x");
    cr_assert_str_eq(str(path(cJSON_GetArrayItem(at, 1), "value", -1), "intValue"),
                     "9007199254740993");
    cr_assert_float_eq(path(path(cJSON_GetArrayItem(at, 2), "value", -1), "doubleValue", -1)
                           ->valuedouble, 0.875, 1e-12);
    cJSON_Delete(j);
    sbuf_free(&o);
}

Test(otlp_json, root_span_has_no_parent_field) {
    trace_ctx tc;
    trace_ctx_new(&tc);
    trace_span s;
    trace_span_init(&s, tc.trace_id, NULL, "x", 1, SPAN_KIND_INTERNAL, 1);
    sbuf o = SBUF_INIT;
    cJSON *j = encode(&s, 1, "simcache", &o);
    cJSON *sp = path(path(path(j, "resourceSpans", 0), "scopeSpans", 0), "spans", 0);
    cr_assert_null(cJSON_GetObjectItemCaseSensitive(sp, "parentSpanId"));
    cJSON_Delete(j);
    sbuf_free(&o);
}

Test(otlp_json, any_bytes_in_strings_give_valid_json_and_valid_utf8_survives) {
    /* every byte value, plus valid multi-byte sequences and invalid ones
     * (overlong, surrogate, truncated, above U+10FFFF) */
    char raw[256 + 64];
    size_t n = 0;
    for (int i = 1; i < 256; i++) raw[n++] = (char)i;   /* NUL: cJSON strings are C strings */
    const char extra[] = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xc0\xaf\xed\xa0\x80\xe2\x82"
                         "\xf4\x90\x80\x80";
    memcpy(raw + n, extra, sizeof extra - 1);
    n += sizeof extra - 1;
    sbuf o = SBUF_INIT;
    trace_json_str(&o, raw, n);
    cJSON *j = cJSON_ParseWithLength(o.buf, o.len);
    cr_assert_not_null(j, "invalid JSON string: %s", sbuf_cstr(&o));
    cr_assert(cJSON_IsString(j));
    const char *v = j->valuestring;
    cr_assert_not_null(strstr(v, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
    cr_assert_not_null(strstr(v, "!\"#"));        /* quote and backslash round-trip */
    cr_assert_not_null(strstr(v, "[\\]"));
    cr_assert_null(strstr(v, "\xc0\xaf"));        /* overlong slash replaced */
    cr_assert_null(strstr(v, "\xed\xa0\x80"));    /* surrogate replaced */
    cJSON_Delete(j);
    sbuf_reset(&o);
    trace_json_str(&o, "a\nb\tc\x01\0", 7);
    cr_assert_str_eq(sbuf_cstr(&o), "\"a\\nb\\tc\\u0001\\u0000\"");
    sbuf_free(&o);
}

Test(otlp_json, strings_are_cut_to_the_span_arena_not_beyond) {
    trace_ctx tc;
    trace_ctx_new(&tc);
    trace_span s;
    char big[4096];
    memset(big, 'n', sizeof big);
    trace_span_init(&s, tc.trace_id, NULL, big, sizeof big, SPAN_KIND_SERVER, 1);
    cr_assert_eq(s.name_len, TRACE_STR_MAX);
    for (int i = 0; i < TRACE_MAX_ATTRS + 4; i++) trace_span_str(&s, "k", big, sizeof big);
    cr_assert_eq(s.nattr, TRACE_MAX_ATTRS);
    cr_assert_leq(s.used, TRACE_ARENA);
    sbuf o = SBUF_INIT;
    cJSON *j = encode(&s, 1, "simcache", &o);
    cJSON_Delete(j);
    sbuf_free(&o);
}

Test(otlp_json, many_spans_in_one_request) {
    enum { N = 100 };
    trace_span *s = calloc(N, sizeof *s);
    trace_ctx tc;
    trace_ctx_new(&tc);
    for (int i = 0; i < N; i++) {
        trace_span_init(&s[i], tc.trace_id, NULL, "s", 1, SPAN_KIND_INTERNAL, (uint64_t)i);
        trace_span_int(&s[i], "i", i);
    }
    sbuf o = SBUF_INIT;
    cJSON *j = encode(s, N, "simcache", &o);
    cJSON *spans = path(path(path(j, "resourceSpans", 0), "scopeSpans", 0), "spans", -1);
    cr_assert_eq(cJSON_GetArraySize(spans), N);
    cJSON_Delete(j);
    sbuf_free(&o);
    free(s);
}

/* ---- otlp-sample-ratio (TraceIdRatioBased) ---- */

static void id_with_low(uint8_t id[16], uint64_t low) {
    memset(id, 0xAB, 8);
    for (int i = 15; i >= 8; i--, low >>= 8) id[i] = (uint8_t)(low & 0xff);
}

Test(sampling, ratio_bounds_keep_all_or_nothing_and_split_on_the_low_id_bytes) {
    uint8_t id[16];
    id_with_low(id, 0);
    cr_assert_eq(trace_id_sampled(id, 0.0), 0, "ratio 0 must drop even the smallest id");
    cr_assert_eq(trace_id_sampled(id, 1.0), 1);
    id_with_low(id, UINT64_MAX);
    cr_assert_eq(trace_id_sampled(id, 1.0), 1, "ratio 1 must keep even the largest id");
    cr_assert_eq(trace_id_sampled(id, 0.999), 0);
    id_with_low(id, 0x7fffffffffffffffULL);
    cr_assert_eq(trace_id_sampled(id, 0.5), 1);
    id_with_low(id, 0x8000000000000000ULL);
    cr_assert_eq(trace_id_sampled(id, 0.5), 0);
}

Test(sampling, new_roots_follow_the_configured_ratio) {
    char err[128], buf[64];
    char *one[] = {"0.25"};
    cr_assert_eq(trace_config_set_sample_ratio(1, one, err, sizeof err), 0);
    trace_config_get_sample_ratio(buf, sizeof buf);
    cr_assert_eq(strtod(buf, NULL), 0.25);
    int kept = 0, n = 20000;
    for (int i = 0; i < n; i++) {
        trace_ctx tc;
        trace_ctx_new(&tc);
        cr_assert_eq(tc.flags & TRACE_FLAG_SAMPLED ? 1 : 0, trace_id_sampled(tc.trace_id, 0.25));
        kept += tc.flags & TRACE_FLAG_SAMPLED;
    }
    /* binomial(20000, 0.25): sd ~61, so +-600 is ~10 sd */
    cr_assert(kept > n / 4 - 600 && kept < n / 4 + 600, "kept %d of %d at 0.25", kept, n);
    char *bad[] = {"1.5", "-0.1", "nan", "abc", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(trace_config_set_sample_ratio(1, &bad[i], err, sizeof err), -1, "%s", bad[i]);
    char *def[] = {"1"};
    cr_assert_eq(trace_config_set_sample_ratio(1, def, err, sizeof err), 0);
    trace_ctx tc;
    trace_ctx_new(&tc);
    cr_assert(tc.flags & TRACE_FLAG_SAMPLED);
}
