/* tenant.h -- tenants, roles, the per-tenant cost ledger and budgets.
 *
 * A tenant is the unit of isolation and of accounting: it owns cache
 * namespaces (cache.h), and its ledger records what the upstream model
 * calls cost (reported by CACHE.PUT) and what the cache saved (the cost of
 * every answer served from the cache). Money is kept as integer nano-USD
 * (1e-9 USD) so sums are exact: a ledger never drifts by float rounding, and
 * a test can compare totals with ==. int64 nano-USD holds 9.2e9 USD.
 *
 * Roles come from the configuration (config.c `user` lines, see
 * tenant_role_of): ADMIN may do everything, GATEWAY may act for any tenant
 * through a TENANT argument, TENANT users only for their own tenant. The
 * tenant of a request always comes from the authenticated connection (or,
 * for admin/gateway, from a TENANT argument they are allowed to give).
 *
 * Threading: loop thread only (tenants are looked up and charged by
 * command handlers). The pure helpers (tenant_price_nusd, tenant_parse_usd,
 * tenant_period_index) are reentrant. */
#ifndef SIMCACHE_TENANT_H
#define SIMCACHE_TENANT_H

#include <stddef.h>
#include <stdint.h>

#include "client.h"

#define TENANT_NAME_MAX 64          /* bytes, NUL included */
#define TENANT_DEFAULT "default"

typedef enum tenant_role {
    ROLE_TENANT = 0,   /* own tenant only */
    ROLE_GATEWAY = 1,  /* any tenant through TENANT t on CACHE.* */
    ROLE_ADMIN = 2,    /* everything: CONFIG, FLUSHALL, budgets */
} tenant_role;

typedef enum tenant_period_kind {
    PERIOD_TOTAL = 0,  /* never resets */
    PERIOD_DAY,        /* UTC calendar day */
    PERIOD_MONTH,      /* UTC calendar month */
    PERIOD_SECONDS,    /* fixed windows of `period_s` seconds since the epoch */
} tenant_period_kind;

typedef struct tenant_ledger {
    int64_t spend_nusd;        /* upstream spend reported by PUT, all time */
    int64_t saved_nusd;        /* cost of answers served from the cache */
    uint64_t hits_exact, hits_semantic, hits_stale, misses;
    uint64_t puts;
    uint64_t tokens_saved;     /* input + output tokens of answers served */
    uint64_t embed_tokens;     /* provider-billed tokens of this tenant's embeddings */
    int64_t embed_nusd;        /* their price (`price` line of the provider's model) */
} tenant_ledger;

typedef struct tenant {
    char name[TENANT_NAME_MAX];
    tenant_ledger led;
    /* budget: amount 0 = none */
    int64_t budget_nusd;
    tenant_period_kind period;
    int64_t period_s;          /* PERIOD_SECONDS only, > 0 */
    int64_t period_idx;        /* index of the period period_spend belongs to */
    int64_t period_spend_nusd; /* spend within the current period */
    struct tenant *next;
} tenant;

/* ---- pure helpers ---- */

/* Parses a non-negative decimal USD amount ("0.0123", "5", "1e-3" is
 * rejected: plain decimals only, at most 9 fractional digits) into nano-USD.
 * 0 or -1 (syntax, too many decimals, negative, overflow). */
int tenant_parse_usd(const char *s, size_t len, int64_t *nusd);

/* Cost of `tokens` at `price_nusd_per_m` nano-USD per million tokens,
 * rounded half up to a nano-USD. Exact for any realistic input (128-bit
 * intermediate). */
int64_t tenant_price_nusd(int64_t price_nusd_per_m, uint64_t tokens);

/* The index of the period containing now_ms (unix ms): a day number, a
 * month number (year * 12 + month), now / period_s, or 0 for TOTAL. */
int64_t tenant_period_index(tenant_period_kind k, int64_t period_s, int64_t now_ms);

/* ---- registry ---- */

/* Finds a tenant by name; NULL if unknown. tenant_get_or_create creates it
 * (empty ledger, no budget); NULL on ENOMEM or a name of TENANT_NAME_MAX
 * bytes or more. The registry owns tenants; they live until
 * tenant_shutdown. */
tenant *tenant_find(const char *name, size_t len);
tenant *tenant_get_or_create(const char *name, size_t len);
tenant *tenant_first(void);
void tenant_shutdown(void);

/* ---- ledger ---- */

/* Rolls the budget period forward if now_ms is past it (period spend
 * restarts at 0). Called by every function below that reads or adds to the
 * period spend. */
void tenant_roll_period(tenant *t, int64_t now_ms);
/* Records an upstream spend (a PUT). */
void tenant_charge(tenant *t, int64_t nusd, int64_t now_ms);
/* Records the embedding spend of a provider call made for the tenant:
 * tokens and their price go to embed_tokens/embed_nusd and the price also
 * to spend_nusd and the period spend (it is real upstream spend). */
void tenant_charge_embedding(tenant *t, uint64_t tokens, int64_t nusd, int64_t now_ms);
/* 1 if the tenant has a budget and its period spend reached it. */
int tenant_budget_exhausted(tenant *t, int64_t now_ms);
/* Sets the budget (nusd 0 removes it); the period spend is recomputed
 * from zero if the period kind changes. */
void tenant_set_budget(tenant *t, int64_t nusd, tenant_period_kind k, int64_t period_s,
                       int64_t now_ms);

/* ---- roles ---- */

/* The role and tenant of the connection's authenticated user (config.c
 * user lines; the default user is admin of tenant "default"). tenant_name
 * gets at least TENANT_NAME_MAX bytes. */
tenant_role tenant_role_of(const client *c, char *tenant_name);

/* The connection's own tenant and role, cached in the client (client.h)
 * so an exact-hit CACHE.GET does not copy the tenant name and walk the
 * user and tenant lists per request (~1.5% of its CPU, perf -P 16). The
 * answer depends only on c->user and the configured users (immutable
 * after start-up); the cache is dropped by tenant_client_forget(c), which
 * AUTH, HELLO AUTH and RESET call when they change c->user, and by
 * tenant_invalidate_all() (tenant_shutdown calls it: the pointers die).
 * create: 1 creates the tenant if it does not exist yet (NULL only on
 * ENOMEM); 0 returns NULL for a tenant not created yet (*role is set
 * either way). Loop thread only. */
tenant *tenant_of_client(client *c, tenant_role *role, int create);
static inline void tenant_client_forget(client *c) { c->tenant_gen = 0; }
void tenant_invalidate_all(void);

/* Dispatch hook (commands.c): 1 if the connection's role may run a command
 * with these flags (CMD_ADMIN and CMD_ROLE_ADMIN commands, e.g. FLUSHALL
 * and FLUSHDB, need ROLE_ADMIN); 0 means reply NOPERM. */
int tenant_may_run(const client *c, uint32_t cmd_flags);

#endif
