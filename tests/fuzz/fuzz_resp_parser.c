/* fuzz_resp_parser.c -- libFuzzer target for the request parser.
 *
 * Input: 5 parameter bytes, then the byte stream a client might send.
 *   p[0]  max_inline: bit 7 set = 64 KiB, else 1..128
 *   p[1]  max_args:   bit 7 set = the default, else 0..127
 *   p[2]  max_bulk:   bit 7 set = the default, else 0..127
 *   p[3..4] where to split the stream in the second feeding
 * The stream is parsed three ways, each on its own copy (the parser
 * writes into the buffer): whole; in two parts at the data-derived split
 * point, with the buffer moved to a fresh allocation in between (as a
 * realloc would), so a pointer kept across calls is caught by ASan; and,
 * for streams up to 512 bytes, one byte per call, with the not-yet-fed tail
 * poisoned so any read past `len` is caught. All three must produce the
 * same requests and the same final state (error text or pending bytes).
 * Invariants checked on every request: used within the buffer, each
 * argument inside its request and NUL-terminated, multibulk argc within
 * max_args and lengths within max_bulk, and in the byte-at-a-time run the
 * parser's work counter linear in the input. Any violation aborts. */
#include <sanitizer/asan_interface.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/resp_parser.h"
#include "server/sbuf.h"

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "invariant failed: %s (line %d)\n", #cond, __LINE__); \
            abort();                                                       \
        }                                                                  \
    } while (0)

typedef struct run {
    reqparser p;
    sbuf out;     /* serialised requests and final state */
    size_t start; /* offset of the current request in the buffer */
} run;

static void run_init(run *r) {
    reqparser_init(&r->p);
    r->out = (sbuf)SBUF_INIT;
    r->start = 0;
}

/* Parses every complete request in buf[start..have); returns the last rc. */
static int drain(run *r, char *buf, size_t have, const reqparser_limits *lim) {
    for (;;) {
        size_t used = 1;
        char *req = buf + r->start;
        /* the kind of request, read before parsing: inline decoding
         * rewrites the line in place, first byte included */
        int mb = have > r->start && req[0] == '*';
        int rc = reqparser_parse(&r->p, req, have - r->start, lim, &used);
        if (rc != REQ_OK) {
            CHECK(used == 0);
            CHECK(rc == REQ_INCOMPLETE || (rc == REQ_ERR && r->p.err[0] != '\0'));
            return rc;
        }
        CHECK(used > 0 && used <= have - r->start);
        CHECK(r->p.argc >= 0 && r->p.argc <= r->p.argv_cap);
        if (mb) CHECK(r->p.argc <= lim->max_args);
        sbuf_printf(&r->out, "%d", r->p.argc);
        for (int i = 0; i < r->p.argc; i++) {
            const char *a = r->p.argv[i].ptr;
            size_t len = r->p.argv[i].len;
            CHECK(a >= req && a < req + used);
            CHECK(len < used && (size_t)(a - req) + len < used);
            CHECK(a[len] == '\0');
            if (mb) CHECK((long long)len <= lim->max_bulk_len);
            sbuf_printf(&r->out, "[%zu:", len);
            sbuf_append(&r->out, a, len);
            sbuf_puts(&r->out, "]");
        }
        sbuf_puts(&r->out, ";");
        r->start += used;
        reqparser_reset(&r->p);
    }
}

static void run_finish(run *r, int rc, size_t have) {
    if (rc == REQ_ERR) {
        CHECK(r->p.failed);
        sbuf_printf(&r->out, "E:%s", r->p.err);
        /* sticky: a further call still fails */
        size_t used;
        char c = 'x';
        reqparser_limits lim = {1, 1, 1};
        CHECK(reqparser_parse(&r->p, &c, 1, &lim, &used) == REQ_ERR);
    } else {
        sbuf_printf(&r->out, "P:%zu", have - r->start);
    }
    CHECK(!r->out.oom);
}

static void same(run *a, run *b) {
    if (a->out.len != b->out.len || memcmp(a->out.buf, b->out.buf, a->out.len) != 0) {
        fprintf(stderr, "whole: %s\nsplit: %s\n", sbuf_cstr(&a->out), sbuf_cstr(&b->out));
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 5) return 0;
    reqparser_limits lim;
    lim.max_inline = (data[0] & 0x80) ? REQ_DEFAULT_MAX_INLINE : (size_t)(data[0] & 0x7f) + 1;
    lim.max_args = (data[1] & 0x80) ? REQ_DEFAULT_MAX_ARGS : (long long)(data[1] & 0x7f);
    lim.max_bulk_len = (data[2] & 0x80) ? REQ_DEFAULT_MAX_BULK : (long long)(data[2] & 0x7f);
    const char *in = (const char *)data + 5;
    size_t n = size - 5;
    size_t cut = n ? ((size_t)data[3] << 8 | data[4]) % (n + 1) : 0;

    /* 1. whole, in an allocation of exactly n bytes */
    run w;
    run_init(&w);
    char *bw = malloc(n ? n : 1);
    memcpy(bw, in, n);
    int rc = n ? drain(&w, bw, n, &lim) : REQ_INCOMPLETE;
    run_finish(&w, rc, n);

    /* 2. two parts, the buffer moved in between */
    run s;
    run_init(&s);
    char *b1 = malloc(cut ? cut : 1);
    memcpy(b1, in, cut);
    rc = cut ? drain(&s, b1, cut, &lim) : REQ_INCOMPLETE;
    if (rc != REQ_ERR && cut < n) {
        char *b2 = malloc(n);
        memcpy(b2, b1, cut); /* keeps what the parser wrote */
        memcpy(b2 + cut, in + cut, n - cut);
        free(b1);
        b1 = b2;
        rc = drain(&s, b1, n, &lim);
    }
    run_finish(&s, rc, rc == REQ_ERR ? 0 : n);
    same(&w, &s);

    /* 3. one byte per call, unfed bytes poisoned */
    if (n <= 512) {
        run o;
        run_init(&o);
        char *bo = malloc(n ? n : 1);
        memcpy(bo, in, n);
        ASAN_POISON_MEMORY_REGION(bo, n);
        rc = REQ_INCOMPLETE;
        size_t have = 0, calls = 0;
        while (have < n && rc != REQ_ERR) {
            ASAN_UNPOISON_MEMORY_REGION(bo + have, 1);
            have++;
            calls++;
            rc = drain(&o, bo, have, &lim);
        }
        ASAN_UNPOISON_MEMORY_REGION(bo, n);
        run_finish(&o, rc, have);
        if (rc != REQ_ERR) CHECK(have == n);
        same(&w, &o);
        CHECK(o.p.work <= 4ULL * n + 2ULL * calls + 64);
        reqparser_free(&o.p);
        sbuf_free(&o.out);
        free(bo);
    }

    reqparser_free(&w.p);
    reqparser_free(&s.p);
    sbuf_free(&w.out);
    sbuf_free(&s.out);
    free(bw);
    free(b1);
    return 0;
}
