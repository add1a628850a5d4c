/* fuzz_metrics_http.c -- libFuzzer target for what the metrics port reads
 * from the network and what the exposition echoes back: the HTTP request
 * head parser (metrics_http_parse) and label-value escaping.
 *
 * Invariants checked beyond "no crash, no ASan/UBSan report":
 * - a parsed head lies inside the input, and its method and path lie
 *   inside the head; parsing exactly the head gives the same length;
 * - "incomplete" (0) stays incomplete for every shorter prefix (spot-checked
 *   at half the length);
 * - escaping a label value yields no raw newline and unescapes back to the
 *   original bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/metrics.h"
#include "server/metrics_http.h"

static void check_escape(const uint8_t *data, size_t size) {
    char *v = malloc(size + 1);
    if (v == NULL) return;
    memcpy(v, data, size);
    v[size] = '\0';   /* label values are C strings: stop at the first NUL */
    sbuf o = SBUF_INIT;
    metrics_escape_label(&o, v);
    const char *e = sbuf_cstr(&o);
    if (memchr(e, '\n', o.len)) abort();
    size_t j = 0;
    for (size_t i = 0; i < o.len; i++, j++) {
        char ch = e[i];
        if (ch == '"') abort();   /* quotes are always escaped */
        if (ch == '\\') {
            i++;
            if (i >= o.len) abort();
            ch = e[i] == 'n' ? '\n' : e[i];
            if (e[i] != 'n' && e[i] != '\\' && e[i] != '"') abort();
        }
        if (v[j] != ch) abort();
    }
    if (v[j] != '\0') abort();
    sbuf_free(&o);
    free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 16) return 0;
    const char *p = (const char *)data;
    metrics_http_req r;
    long n = metrics_http_parse(p, size, &r);
    if (n > 0) {
        if ((size_t)n > size) abort();
        if (r.method != p || r.mlen == 0 || r.path < p || r.path + r.plen > p + n) abort();
        if (r.minor != 0 && r.minor != 1) abort();
        metrics_http_req r2;
        if (metrics_http_parse(p, (size_t)n, &r2) != n) abort();
    } else if (n == 0 && size > 1) {
        if (metrics_http_parse(p, size / 2, &r) != 0) abort();
    }
    check_escape(data, size);
    return 0;
}
