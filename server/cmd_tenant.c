/* cmd_tenant.c -- TENANT.USAGE and TENANT.BUDGET: the per-tenant ledger.
 *
 * USAGE reports the ledger of the connection's tenant; admin may name any
 * tenant. BUDGET is admin-only: gateways act for tenants on cache commands
 * but do not set their spending limits. Money is reported twice: exact
 * integer nano-USD (`*_nusd`) and a convenience double in USD (`*_usd`). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cmd_handlers.h"
#include "errors.h"
#include "keyspace.h"
#include "reply.h"
#include "strconv.h"
#include "tenant.h"

static const char *period_name(const tenant *t, char *buf, size_t cap) {
    switch (t->period) {
    case PERIOD_DAY: return "day";
    case PERIOD_MONTH: return "month";
    case PERIOD_SECONDS: snprintf(buf, cap, "%llds", (long long)t->period_s); return buf;
    default: return "total";
    }
}

static void kv_int(client *c, const char *k, long long v) {
    reply_bulk_cstr(c, k);
    reply_integer(c, v);
}
static void kv_usd(client *c, const char *k, int64_t nusd) {
    reply_bulk_cstr(c, k);
    reply_double(c, (double)nusd / 1e9);
}

void cmd_tenant_usage(client *c) {
    char own[TENANT_NAME_MAX];
    tenant_role role = tenant_role_of(c, own);
    if (c->argc > 2) {
        reply_error(c, ERR_SYNTAX);
        return;
    }
    const char *name = own;
    size_t len = strlen(own);
    if (c->argc == 2) {
        if (role != ROLE_ADMIN && (c->argv[1].len != len || memcmp(c->argv[1].ptr, own, len))) {
            reply_error(c, "NOPERM only admin may read another tenant's usage");
            return;
        }
        name = c->argv[1].ptr;
        len = c->argv[1].len;
    }
    tenant *t = tenant_find(name, len);
    int is_own = len == strlen(own) && memcmp(name, own, len) == 0;
    if (!t && !is_own) {
        reply_errorf(c, "ERR no such tenant '%.128s'", name);
        return;
    }
    if (!t) t = tenant_get_or_create(name, len);
    if (!t) {
        reply_error(c, "OOM out of memory");
        return;
    }
    int64_t now = ks_now_ms();
    int exhausted = tenant_budget_exhausted(t, now);
    char pbuf[32];
    reply_map(c, 18);
    reply_bulk_cstr(c, "tenant");
    reply_bulk_cstr(c, t->name);
    kv_int(c, "spend_nusd", t->led.spend_nusd);
    kv_usd(c, "spend_usd", t->led.spend_nusd);
    kv_int(c, "saved_nusd", t->led.saved_nusd);
    kv_usd(c, "saved_usd", t->led.saved_nusd);
    kv_int(c, "hits_exact", (long long)t->led.hits_exact);
    kv_int(c, "hits_semantic", (long long)t->led.hits_semantic);
    kv_int(c, "hits_stale", (long long)t->led.hits_stale);
    kv_int(c, "misses", (long long)t->led.misses);
    kv_int(c, "puts", (long long)t->led.puts);
    kv_int(c, "tokens_saved", (long long)t->led.tokens_saved);
    kv_int(c, "embed_tokens", (long long)t->led.embed_tokens);
    kv_int(c, "embed_spend_nusd", t->led.embed_nusd);
    kv_int(c, "budget_nusd", t->budget_nusd);
    reply_bulk_cstr(c, "budget_period");
    reply_bulk_cstr(c, period_name(t, pbuf, sizeof pbuf));
    kv_int(c, "period_spend_nusd", t->period_spend_nusd);
    kv_int(c, "period_remaining_nusd",
           t->budget_nusd > 0 && t->budget_nusd > t->period_spend_nusd
               ? t->budget_nusd - t->period_spend_nusd : 0);
    reply_bulk_cstr(c, "budget");
    reply_bulk_cstr(c, t->budget_nusd <= 0 ? "none" : exhausted ? "exhausted" : "ok");
}

void cmd_tenant_budget(client *c) {
    char own[TENANT_NAME_MAX];
    if (tenant_role_of(c, own) != ROLE_ADMIN) {
        reply_error(c, "NOPERM only admin may set budgets");
        return;
    }
    int64_t nusd;
    if (tenant_parse_usd(c->argv[2].ptr, c->argv[2].len, &nusd) != 0) {
        reply_error(c, "ERR amount must be a non-negative decimal USD amount "
                    "with at most 9 decimals");
        return;
    }
    tenant_period_kind k = PERIOD_TOTAL;
    long long secs = 0;
    if (c->argc == 5 && !strcasecmp(c->argv[3].ptr, "period")) {
        const req_arg *p = &c->argv[4];
        if (!strcasecmp(p->ptr, "day")) k = PERIOD_DAY;
        else if (!strcasecmp(p->ptr, "month")) k = PERIOD_MONTH;
        else if (!strcasecmp(p->ptr, "total")) k = PERIOD_TOTAL;
        else if (strconv_ll(p->ptr, p->len, &secs) == 0 && secs > 0) k = PERIOD_SECONDS;
        else {
            reply_error(c, "ERR PERIOD must be day, month, total or a number of seconds");
            return;
        }
    } else if (c->argc != 3) {
        reply_error(c, ERR_SYNTAX);
        return;
    }
    tenant *t = tenant_get_or_create(c->argv[1].ptr, c->argv[1].len);
    if (!t) {
        reply_error(c, "ERR invalid tenant name");
        return;
    }
    tenant_set_budget(t, nusd, k, secs, ks_now_ms());
    reply_ok(c);
}
