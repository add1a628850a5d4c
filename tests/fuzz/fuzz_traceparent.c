/* fuzz_traceparent.c -- libFuzzer target for the W3C traceparent parser
 * and the JSON string escaper that carries client bytes into OTLP bodies
 * and request-log lines.
 *
 * Checks, for any input: no crash or UB (ASan+UBSan); an accepted value
 * has lowercase hex, the '-' separators, non-zero ids and version != ff,
 * and re-encoding its ids and flags reproduces the input's bytes (the
 * parser cannot invent or move an id); a version-00 value is exactly 55
 * bytes. trace_json_str of the input always parses back as one JSON
 * string (cJSON), whatever the bytes. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/sbuf.h"
#include "server/trace.h"

static void fail(const char *why, const uint8_t *d, size_t n) {
    fprintf(stderr, "%s: '%.*s'\n", why, (int)(n > 100 ? 100 : n), (const char *)d);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    trace_ctx t;
    const char *s = (const char *)data;
    if (trace_parse_traceparent(s, size, &t) == 0) {
        char h[33], f[3];
        if (size < TRACEPARENT_LEN) fail("short value accepted", data, size);
        if (s[0] == '0' && s[1] == '0' && size != TRACEPARENT_LEN)
            fail("version 00 with extra bytes accepted", data, size);
        if (s[0] == 'f' && s[1] == 'f') fail("version ff accepted", data, size);
        trace_hex(t.trace_id, TRACE_ID_BYTES, h);
        if (memcmp(h, s + 3, 32) != 0 || !strcmp(h, "00000000000000000000000000000000"))
            fail("trace id mismatch", data, size);
        trace_hex(t.parent_id, SPAN_ID_BYTES, h);
        if (memcmp(h, s + 36, 16) != 0 || !strcmp(h, "0000000000000000"))
            fail("parent id mismatch", data, size);
        trace_hex(&t.flags, 1, f);
        if (memcmp(f, s + 53, 2) != 0) fail("flags mismatch", data, size);
        if (s[2] != '-' || s[35] != '-' || s[52] != '-') fail("separator", data, size);
    }
    sbuf o = SBUF_INIT;
    trace_json_str(&o, s, size);
    if (!o.oom) {
        cJSON *j = cJSON_ParseWithLength(o.buf, o.len);
        if (!j || !cJSON_IsString(j)) fail("escaped string is not valid JSON", data, size);
        cJSON_Delete(j);
    }
    sbuf_free(&o);
    return 0;
}
