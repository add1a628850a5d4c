/* fuzz_provider_json.c -- libFuzzer target for the provider response parser.
 *
 * Input: byte 0 selects the kind (bit 0: Ollama) and whether the expected
 * dimension is fixed (bit 1), byte 1 = number of inputs (1..8), byte 2 =
 * expected dimension (1..64, when fixed); the rest is the response body.
 * Checks, for any input: no crash, leak or UB (ASan+UBSan), and every
 * accepted response holds exactly n * dim finite floats, dim equals the
 * expected one when fixed, and the error path returns no vectors. The error
 * body parser runs on the same bytes and must keep its message free of
 * CR/LF. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/provider_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    enum pj_kind kind = (data[0] & 1) ? PJ_OLLAMA : PJ_OPENAI;
    size_t n = (size_t)(data[1] % 8) + 1;
    int dim = (data[0] & 2) ? (data[2] % 64) + 1 : 0;
    const char *body = (const char *)data + 3;
    size_t len = size - 3;
    float *v = NULL;
    int d = -1;
    long long tokens = -1;
    char err[128];
    int rc = pj_parse_response(kind, body, len, n, dim, &v, &d, &tokens, err, sizeof err);
    if (rc == PJ_OK) {
        if (v == NULL || d <= 0 || (dim && d != dim) || tokens < 0) abort();
        for (size_t i = 0; i < n * (size_t)d; i++)
            if (!isfinite(v[i])) abort();
        free(v);
    } else if (v != NULL || d != 0 || rc > 0 || strchr(err, '\n') || strchr(err, '\r')) {
        abort();
    }
    char msg[64];
    pj_parse_error(body, len, msg, sizeof msg);
    if (strchr(msg, '\n') || strchr(msg, '\r')) abort();
    return 0;
}
