/* fuzz_vfilter.c -- libFuzzer target for the VSIM FILTER compiler and
 * evaluator (server/vfilter.c).
 *
 * Input: the expression, a NUL byte, then the attribute text (both copied
 * into exact-size heap buffers so ASan flags a read one byte past either).
 * Without a NUL the whole input is the expression and is also tried as the
 * attributes. Checks, for any input: no crash or UB; a syntax error's
 * position lies inside the expression (or at its end); evaluation returns
 * 0 or 1 and the same answer twice with a reused scratch (no state leaks
 * between candidates); the expression recompiles to the same answer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/vfilter.h"

static char *dup_exact(const uint8_t *p, size_t n) {
    char *d = malloc(n ? n : 1);
    if (d && n) memcpy(d, p, n);
    return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t elen = nul ? (size_t)(nul - data) : size;
    const uint8_t *jp = nul ? nul + 1 : data;
    size_t jlen = nul ? size - elen - 1 : size;
    char *expr = dup_exact(data, elen), *json = dup_exact(jp, jlen);
    if (!expr || !json) goto out;

    vfilter *f = NULL;
    size_t errpos = 0;
    int rc = vfilter_compile(expr, elen, &f, &errpos);
    if (rc == VFILTER_ESYNTAX) {
        if (errpos > elen) {
            fprintf(stderr, "errpos %zu beyond expression length %zu\n", errpos, elen);
            abort();
        }
        goto out;
    }
    if (rc != 0) goto out;
    vfilter_scratch s = {0};
    int a = vfilter_match(f, json, jlen, &s);
    int b = vfilter_match(f, json, jlen, &s);
    vfilter *g = NULL;
    if (vfilter_compile(expr, elen, &g, &errpos) != 0) {
        fprintf(stderr, "recompilation failed\n");
        abort();
    }
    int c = vfilter_match(g, json, jlen, &s);
    if (a < 0 || a > 1 || a != b || a != c) {
        fprintf(stderr, "unstable match: %d %d %d\n", a, b, c);
        abort();
    }
    vfilter_scratch_free(&s);
    vfilter_free(g);
    vfilter_free(f);
out:
    free(expr);
    free(json);
    return 0;
}
