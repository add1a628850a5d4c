/* cache_alias.h -- namespace aliases, canaries with a sticky split, per-arm
 * metrics, feedback and guards that roll a canary back (issue 7).
 *
 * An alias is a tenant-scoped name that points at one of the tenant's
 * namespaces (its "stable" target). A canary on an alias sends a
 * deterministic slice of the alias's traffic to a second namespace: the
 * slice is chosen by hashing a sticky key (the end user, the tenant, or the
 * normalised prompt) so a given key always lands on the same arm. While a
 * canary runs, every CACHE.GET/PUT routed through the alias is counted on
 * its arm (requests, hits by tier, misses, latency, upstream spend,
 * feedback), and guards compare the arms after each counted event and roll
 * the canary back (100% to stable) when a threshold is crossed.
 *
 * Threading: loop thread only (the registry is read and written by command
 * handlers and their loop-thread completions). The pure helpers
 * (canary_bucket, canary_pick, canary_guard_check, canary_arm_*) are
 * reentrant and used by the unit tests. */
#ifndef SIMCACHE_CACHE_ALIAS_H
#define SIMCACHE_CACHE_ALIAS_H

#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "client.h"
#include "commands.h"
#include "sbuf.h"
#include "tenant.h"

#define CANARY_PPM_MAX 1000000u     /* percent is kept in parts per million */
#define CANARY_SEED 0x5ca1ab1e0ddba11ULL   /* fixed XXH3 seed of the split */
#define CANARY_REASON_MAX 160
#define CANARY_MIN_REQUESTS_DEFAULT 100

enum { ARM_STABLE = 0, ARM_CANARY = 1 };

typedef enum canary_sticky {
    STICKY_USER = 0,     /* USER argument, else the authenticated user name */
    STICKY_TENANT,       /* the tenant name: a tenant is wholly on one arm */
    STICKY_PROMPT,       /* the normalised prompt's exact key */
} canary_sticky;

typedef enum canary_status {
    CANARY_NONE = 0,     /* never started on this alias */
    CANARY_ACTIVE,       /* splitting traffic */
    CANARY_OFF,          /* stopped by CACHE.CANARY alias OFF */
    CANARY_PROMOTED,     /* the canary became the alias target */
    CANARY_ROLLED_BACK,  /* ROLLBACK, or a guard tripped (reason says which) */
} canary_status;

/* Counters of one arm over one canary run (reset when a run starts). */
typedef struct canary_arm_stats {
    uint64_t requests;                     /* GETs counted on the arm */
    uint64_t hits_exact, hits_semantic, hits_stale, misses;
    uint64_t puts;
    int64_t spend_nusd;                    /* upstream cost reported by PUTs */
    int64_t saved_nusd;                    /* cost of the answers served */
    uint64_t feedback_good, feedback_bad;
    uint64_t lat_sum_us;                   /* sum of GET latencies, µs */
    uint64_t lat_hist[COMMAND_HIST_BOUNDS + 1]; /* per bucket of command_hist_bounds_us */
} canary_arm_stats;

/* Guard thresholds; a negative value disables that guard. No guard is
 * evaluated before the canary arm has min_requests requests; the two ratio
 * guards also wait for the stable arm to have min_requests (and at least
 * one) requests and a non-zero hit rate / latency to compare with. */
typedef struct canary_guard {
    double max_bad_rate;        /* canary bad feedback / canary requests > r trips */
    double min_hit_ratio;       /* canary hit rate / stable hit rate < x trips */
    double max_latency_ratio;   /* canary mean latency / stable mean latency > y trips */
    uint64_t min_requests;
} canary_guard;

typedef struct cache_alias {
    tenant *owner;
    char name[CACHE_NS_NAME_MAX];
    uint64_t id;                /* unique per alias ever created, from 1 */
    uint64_t salt;              /* XXH3(name, CANARY_SEED): the split's seed */
    uint64_t target_gen;        /* stable namespace (cache_ns.generation) */
    /* canary: the run's parameters stay readable after it ends */
    uint64_t canary_gen;        /* 0 = no canary was ever set */
    uint32_t ppm;               /* share of traffic to the canary, 1..1e6 */
    canary_sticky sticky;
    canary_status status;
    uint64_t epoch;             /* bumped whenever the split or the run changes */
    canary_guard guard;
    canary_arm_stats arm[2];
    char reason[CANARY_REASON_MAX];   /* why the last run ended, "" while active */
    int64_t started_ms, ended_ms;     /* unix ms of the run */
    uint64_t rollbacks_auto;          /* guard trips on this alias */
    struct cache_alias *next;
} cache_alias;

/* What a routed request needs to remember until it replies: which alias
 * and run it was counted on (re-validated by id and epoch at the end, so a
 * run that changed meanwhile is not credited) and which namespace served. */
typedef struct alias_route {
    uint64_t alias_id;          /* 0: the request did not go through an alias */
    uint64_t epoch;
    int arm;                    /* ARM_*, or -1 when no canary is active */
    uint64_t start_us;          /* monotonic µs at resolution */
    char ns[CACHE_NS_NAME_MAX]; /* the namespace the request was routed to */
} alias_route;

/* Sticky-key inputs of a routed request; any field may be NULL/0. */
typedef struct alias_key {
    const char *user; size_t user_len;       /* USER argument or c->user */
    const char *tenant;                      /* NUL-terminated */
    const char *prompt; size_t prompt_len;
} alias_key;

/* ---- pure helpers ---- */

/* The bucket of a sticky key in [0, CANARY_PPM_MAX): XXH3-64 of key with
 * seed `salt`, modulo 1e6. */
uint32_t canary_bucket(uint64_t salt, const void *key, size_t len);
/* 1 if the key goes to the canary at `ppm` parts per million. Raising ppm
 * only adds keys to the canary (bucket < ppm), so a user in the canary at
 * 5% stays there at 10%. */
int canary_pick(uint64_t salt, const void *key, size_t len, uint32_t ppm);
/* The split's salt of an alias name. */
uint64_t canary_salt(const char *name, size_t len);
/* Parses a percent "p" (decimal, 0 < p <= 100, at most 4 decimals) into
 * parts per million. 0, or -1 on syntax/range. */
int canary_parse_percent(const char *s, size_t len, uint32_t *ppm);

/* Records one GET outcome / one feedback on an arm. */
void canary_arm_note_get(canary_arm_stats *a, cache_tier tier, int64_t saved_nusd,
                         uint64_t latency_us);
double canary_arm_hit_rate(const canary_arm_stats *a);     /* 0 without requests */
double canary_arm_bad_rate(const canary_arm_stats *a);     /* bad / requests */
double canary_arm_mean_latency_us(const canary_arm_stats *a);
/* The upper bound (µs) of the histogram bucket holding quantile q (0..1);
 * 0 without requests; values over the last bound report the last bound. */
uint64_t canary_arm_latency_quantile_us(const canary_arm_stats *a, double q);

/* Evaluates the guards. Returns 1 and writes a one-line reason (no CR/LF)
 * if one tripped, else 0. Guards are checked in the order bad rate, hit
 * rate ratio, latency ratio. */
int canary_guard_check(const canary_guard *g, const canary_arm_stats *stable,
                       const canary_arm_stats *canary, char *reason, size_t cap);
/* Guards off, min_requests CANARY_MIN_REQUESTS_DEFAULT. */
void canary_guard_default(canary_guard *g);

/* ---- registry (loop thread) ---- */

/* The alias `name` of tenant t, or NULL. */
cache_alias *alias_find(const tenant *t, const char *name, size_t len);
cache_alias *alias_by_id(uint64_t id);
cache_alias *alias_first(void);
/* Creates alias `name` of t pointing at target, or repoints it; *prev_gen
 * gets the previous target's generation (0 if new). Repointing an alias
 * whose canary runs keeps the canary and restarts its statistics.
 * 0, or -1 on ENOMEM. The caller checked names (alias_name_check). */
int alias_set(tenant *t, const char *name, size_t len, cache_ns *target, uint64_t *prev_gen);
/* Unlinks and frees a. */
void alias_del(cache_alias *a);
/* The alias or canary pointing at ns (an active canary counts), or NULL:
 * CACHE.DROP refuses while one does. *as_canary tells which. */
cache_alias *alias_pinning(const cache_ns *ns, int *as_canary);

/* The namespace a request on alias a goes to. k NULL: the stable target,
 * not counted (INFO, SEARCH, DEL, FLUSH, FEEDBACK). Otherwise the arm the
 * sticky key selects when a canary is active. r (may be NULL) is filled
 * for alias_route_* below. NULL if the target no longer exists. */
cache_ns *alias_resolve(cache_alias *a, const alias_key *k, alias_route *r);

/* A routed GET finished with `tier` (saved: the served entry's cost).
 * Counts it on the arm if the run is still the one it started in, then
 * evaluates the guards (a trip rolls the canary back and logs). */
void alias_route_get(const alias_route *r, cache_tier tier, int64_t saved_nusd);
/* A routed PUT stored an entry costing cost_nusd. */
void alias_route_put(const alias_route *r, int64_t cost_nusd);
/* Extra GET reply fields for a routed request: the number of map pairs
 * (0 if r is NULL or not routed), and their writer: `namespace <ns>` and
 * `arm stable|canary` (arm only while a canary was active). */
int alias_reply_pairs(const alias_route *r);
void alias_reply_append(client *c, const alias_route *r);

/* Feedback on an entry of ns: counted on ns and on the arm of every active
 * canary run ns takes part in (then guards are evaluated). */
void alias_feedback(const cache_ns *ns, int bad);
/* Feedback counters of a namespace (0 if none was given). */
void alias_ns_feedback(const cache_ns *ns, uint64_t *good, uint64_t *bad);

/* Canary state changes. Each bumps the epoch; the run's counters stay
 * readable. canary_start resets the counters and status ACTIVE. */
void canary_start(cache_alias *a, cache_ns *canary, uint32_t ppm, canary_sticky s);
void canary_stop(cache_alias *a, canary_status why, const char *reason);
void canary_promote(cache_alias *a);

const char *canary_status_name(canary_status s);
const char *canary_sticky_name(canary_sticky s);

/* Auto rollbacks since start (INFO, metrics). */
extern uint64_t g_canary_rollbacks_auto;

/* INFO section "canary" and the Prometheus families (metrics.c). */
void canary_info(sbuf *o);
void canary_metrics(sbuf *o);

/* ---- command hooks (cmd_canary.c) for cmd_cache.c ---- */

/* When no namespace `name` exists in t: the namespace alias `name`
 * resolves to (k/r as alias_resolve), or NULL after replying
 * "-ERR no such namespace". */
cache_ns *alias_ns_or_reply(client *c, tenant *t, const req_arg *name, const alias_key *k,
                            alias_route *r);
/* CACHE.GET/PUT (argv[1] namespace or alias, argv[2] prompt): the
 * namespace, or the arm the alias's canary picks for the sticky key (user:
 * the USER argument, else c->user). r is always initialised; alias_id 0 if
 * no alias was used. NULL after replying. */
cache_ns *alias_route_ns_or_reply(client *c, tenant *t, const req_arg *user, alias_route *r);
/* CACHE.CREATE: -1 after replying if `name` is an alias of t. */
int alias_create_check_or_reply(client *c, tenant *t, const req_arg *name);
/* CACHE.DROP: -1 after replying if an alias or running canary pins ns. */
int alias_drop_check_or_reply(client *c, const cache_ns *ns);

/* Frees every alias and feedback record (shutdown, tests). */
void alias_shutdown(void);

#endif
