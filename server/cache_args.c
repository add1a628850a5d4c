/* cache_args.c -- argument helpers shared by the CACHE.* handlers (see
 * cache_args.h).
 *
 * Design decisions:
 * 1. The TENANT rule lives here once; cmd_cache.c and cmd_canary.c used to
 *    carry identical copies.
 * 2. cache_score memoises one (float -> double) pair: the conversion goes
 *    through snprintf("%.7g") and strtod, which costs more than the rest of
 *    an exact-hit lookup, and hits repeat the same few scores (1.0 for
 *    every exact and stale hit). The memo is keyed by the float's bits, so
 *    the result is exactly the unmemoised one. cache_reply_score also
 *    keeps the RESP2 text (the same bytes reply_double writes), since
 *    reply_double's own formatting (snprintf + strtod) was the largest
 *    single cost left in an exact hit after the rest of this change
 *    (~9% of server CPU, perf, redis-benchmark -P 16). The memo holds the
 *    finished RESP2 bulk and RESP3 double elements, appended with one
 *    reply_raw; infinities and NaN (never a cache score) go through
 *    reply_double. */
#include "cache_args.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "reply.h"

int cache_arg_is(const req_arg *a, const char *s) {
    return strlen(s) == a->len && strncasecmp(a->ptr, s, a->len) == 0;
}

tenant *cache_tenant_or_reply(client *c, const req_arg *targ) {
    tenant_role role;
    tenant *t = tenant_of_client(c, &role, targ == NULL);   /* cached per connection */
    if (targ) {
        if (role == ROLE_TENANT) {
            reply_error(c, "NOPERM the TENANT argument needs the gateway or admin role");
            return NULL;
        }
        if (targ->len == 0 || targ->len >= TENANT_NAME_MAX) {
            reply_error(c, "ERR invalid tenant name");
            return NULL;
        }
    }
    if (targ) t = tenant_get_or_create(targ->ptr, targ->len);
    if (!t) reply_error(c, "OOM out of memory creating the tenant");
    return t;
}

tenant *cache_only_tenant_opt_or_reply(client *c, int from) {
    if (c->argc != from && !(c->argc == from + 2 && cache_arg_is(&c->argv[from], "tenant"))) {
        reply_error(c, ERR_SYNTAX);
        return NULL;
    }
    return cache_tenant_or_reply(c, c->argc == from ? NULL : &c->argv[from + 1]);
}

/* The one-entry memo (design note 2): a float's bits, its double, and
 * that double as reply_double writes it (reply.c's fmt_double: the
 * shortest of %.15g..%.17g that reads back equal), as the whole RESP2 bulk
 * and the whole RESP3 double element. */
static struct {
    int set;
    uint32_t bits;
    double val;
    char resp2[48], resp3[40];
    size_t len2, len3;              /* 0 = not finite: reply_double */
} memo;

static void memo_fill(float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    if (memo.set && bits == memo.bits) return;
    char b[32], text[32];
    snprintf(b, sizeof b, "%.7g", (double)f);
    memo.val = strtod(b, NULL);
    int n = 0;
    if (isfinite(memo.val)) {
        for (int prec = 15; prec <= 17; prec++) {
            n = snprintf(text, sizeof text, "%.*g", prec, memo.val);
            if (strtod(text, NULL) == memo.val) break;
        }
    }
    memo.len2 = memo.len3 = 0;
    if (n > 0 && (size_t)n < sizeof text) {
        memo.len2 = (size_t)snprintf(memo.resp2, sizeof memo.resp2, "$%d\r\n%s\r\n", n, text);
        memo.len3 = (size_t)snprintf(memo.resp3, sizeof memo.resp3, ",%s\r\n", text);
    }
    memo.bits = bits;
    memo.set = 1;
}

double cache_score(float f) {
    memo_fill(f);
    return memo.val;
}

const char *cache_score_elem(float f, int resp, size_t *len) {
    memo_fill(f);
    *len = resp >= 3 ? memo.len3 : memo.len2;
    return *len ? (resp >= 3 ? memo.resp3 : memo.resp2) : NULL;
}

void cache_reply_score(client *c, float f) {
    memo_fill(f);
    if (c->resp < 3 && memo.len2) reply_raw(c, memo.resp2, memo.len2);
    else if (c->resp >= 3 && memo.len3) reply_raw(c, memo.resp3, memo.len3);
    else reply_double(c, memo.val);
}
