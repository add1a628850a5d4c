/* tenant.c -- tenant registry, ledger arithmetic, budget periods and roles.
 *
 * Design decisions:
 * 1. Money is integer nano-USD (tenant.h). Prices are configured per
 *    million tokens, so a token cost is price * tokens / 1e6, computed in
 *    128 bits and rounded half up once per PUT: the ledger equals the sum
 *    of the per-PUT costs exactly, which is what the tests check.
 * 2. Budget periods are identified by an index (day number, month number,
 *    window number); the period spend restarts when the index of "now"
 *    differs from the stored one. No timer is needed: every read or charge
 *    rolls the period first. PERIOD <seconds> exists for short windows
 *    (tests exercise a period boundary with PERIOD 1).
 * 3. The registry is a singly linked list: tenants are few (one per
 *    customer) and lookups happen once per request. Tenants are never
 *    freed before shutdown, so a namespace's tenant pointer stays valid.
 * 4. Roles come from config.c. The default user (no `user` line) is admin
 *    of tenant "default": with no users configured the server behaves as a
 *    plain Redis where the one user may do everything.
 * 5. A connection's own tenant and role are cached in the client
 *    (tenant_of_client) under a generation: the resolution depends only on
 *    c->user (AUTH, HELLO AUTH and RESET forget the cache when they change
 *    it) and on the user lines, which cannot change after start-up
 *    (`user` is immutable in CONFIG SET); tenant_shutdown, which frees the
 *    tenants, moves the generation. Budgets and ledgers are read from the
 *    tenant itself on every request, so they need no invalidation. */
#include "tenant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "commands.h"
#include "config.h"

static tenant *tenants;
static uint64_t tenant_gen = 1;   /* never 0: 0 marks an empty client cache */

int tenant_parse_usd(const char *s, size_t len, int64_t *nusd) {
    size_t i = 0;
    int64_t whole = 0, frac = 0;
    int digits = 0, fdigits = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        if (whole > (INT64_MAX / 1000000000 - 9) / 10) return -1;
        whole = whole * 10 + (s[i++] - '0');
        digits++;
    }
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (++fdigits > 9) return -1;
            frac = frac * 10 + (s[i++] - '0');
        }
    }
    if (i != len || digits + fdigits == 0) return -1;
    for (int k = fdigits; k < 9; k++) frac *= 10;
    *nusd = whole * 1000000000 + frac;
    return 0;
}

int64_t tenant_price_nusd(int64_t price_nusd_per_m, uint64_t tokens) {
    unsigned __int128 p = (unsigned __int128)(uint64_t)price_nusd_per_m * tokens;
    p = (p + 500000) / 1000000;
    return p > (unsigned __int128)INT64_MAX ? INT64_MAX : (int64_t)p;
}

int64_t tenant_period_index(tenant_period_kind k, int64_t period_s, int64_t now_ms) {
    int64_t s = now_ms / 1000;
    switch (k) {
    case PERIOD_DAY:
        return s / 86400;
    case PERIOD_MONTH: {
        time_t t = (time_t)s;
        struct tm tm;
        gmtime_r(&t, &tm);
        return (int64_t)(tm.tm_year + 1900) * 12 + tm.tm_mon;
    }
    case PERIOD_SECONDS:
        return period_s > 0 ? now_ms / (period_s * 1000) : 0;
    case PERIOD_TOTAL:
    default:
        return 0;
    }
}

tenant *tenant_find(const char *name, size_t len) {
    for (tenant *t = tenants; t; t = t->next)
        if (strlen(t->name) == len && memcmp(t->name, name, len) == 0) return t;
    return NULL;
}

tenant *tenant_get_or_create(const char *name, size_t len) {
    tenant *t = tenant_find(name, len);
    if (t) return t;
    if (len == 0 || len >= TENANT_NAME_MAX) return NULL;
    t = calloc(1, sizeof *t);
    if (!t) return NULL;
    memcpy(t->name, name, len);
    t->next = tenants;
    tenants = t;
    return t;
}

tenant *tenant_first(void) { return tenants; }

void tenant_invalidate_all(void) { tenant_gen++; }

void tenant_shutdown(void) {
    tenant_invalidate_all();
    while (tenants) {
        tenant *n = tenants->next;
        free(tenants);
        tenants = n;
    }
}

void tenant_roll_period(tenant *t, int64_t now_ms) {
    int64_t idx = tenant_period_index(t->period, t->period_s, now_ms);
    if (idx != t->period_idx) {
        t->period_idx = idx;
        t->period_spend_nusd = 0;
    }
}

void tenant_charge(tenant *t, int64_t nusd, int64_t now_ms) {
    tenant_roll_period(t, now_ms);
    t->led.spend_nusd += nusd;
    t->period_spend_nusd += nusd;
    t->led.puts++;
}

void tenant_charge_embedding(tenant *t, uint64_t tokens, int64_t nusd, int64_t now_ms) {
    tenant_roll_period(t, now_ms);
    t->led.embed_tokens += tokens;
    t->led.embed_nusd += nusd;
    t->led.spend_nusd += nusd;
    t->period_spend_nusd += nusd;
}

int tenant_budget_exhausted(tenant *t, int64_t now_ms) {
    if (t->budget_nusd <= 0) return 0;
    tenant_roll_period(t, now_ms);
    return t->period_spend_nusd >= t->budget_nusd;
}

void tenant_set_budget(tenant *t, int64_t nusd, tenant_period_kind k, int64_t period_s,
                       int64_t now_ms) {
    if (k != t->period || period_s != t->period_s) {
        /* A new kind of period starts now; what was spent before the
         * budget was (re)defined does not count against it. */
        t->period = k;
        t->period_s = period_s;
        t->period_idx = tenant_period_index(k, period_s, now_ms);
        t->period_spend_nusd = 0;
    }
    t->budget_nusd = nusd;
}

tenant_role tenant_role_of(const client *c, char *tenant_name) {
    int role;
    if (config_user_info(c->user, &role, tenant_name, TENANT_NAME_MAX) == 0)
        return (tenant_role)role;
    snprintf(tenant_name, TENANT_NAME_MAX, "%s", TENANT_DEFAULT);
    return ROLE_ADMIN;
}

tenant *tenant_of_client(client *c, tenant_role *role, int create) {
    if (c->tenant_gen == tenant_gen) {
        *role = (tenant_role)c->tenant_role;
        return c->tenant_own;
    }
    char name[TENANT_NAME_MAX];
    *role = tenant_role_of(c, name);
    size_t n = strlen(name);
    tenant *t = create ? tenant_get_or_create(name, n) : tenant_find(name, n);
    if (t) {   /* only a tenant that exists is cached: a later create finds it */
        c->tenant_gen = tenant_gen;
        c->tenant_own = t;
        c->tenant_role = (int)*role;
    }
    return t;
}

int tenant_may_run(const client *c, uint32_t cmd_flags) {
    if (!(cmd_flags & (CMD_ADMIN | CMD_ROLE_ADMIN))) return 1;
    char tn[TENANT_NAME_MAX];
    return tenant_role_of(c, tn) == ROLE_ADMIN;
}
