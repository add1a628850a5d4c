/* cache_alias.c -- namespace aliases, canary split, per-arm metrics,
 * feedback and guards (cache_alias.h; the commands are in cmd_canary.c).
 *
 * Design decisions:
 * 1. Aliases are a flat linked list, like namespaces (cache.c): a server
 *    holds tens of them, and a lookup compares the owner pointer first.
 *    An alias stores its targets by namespace generation, not by pointer,
 *    and re-finds them on every resolution (cache_ns_by_generation), so no
 *    path that frees a namespace can leave an alias dangling; CACHE.DROP
 *    additionally refuses to drop a pinned namespace (alias_pinning).
 * 2. Resolution happens once per command, at lookup; the chosen namespace
 *    is then used for the whole request, including a search parked on the
 *    worker pool. Repointing an alias is a single store on the loop
 *    thread, so every request sees either the old or the new target, never
 *    a mix, and an in-flight request finishes where it started.
 * 3. The split: bucket = XXH3-64(sticky key, seed = XXH3(alias name,
 *    CANARY_SEED)) mod 1e6; the canary gets buckets below percent * 1e4.
 *    Seeding with the alias name decorrelates aliases (a user in the canary
 *    of one alias is not systematically in the canary of another) while the
 *    same alias name in different tenants splits tenants consistently.
 *    Raising the percent only adds buckets: nobody flips back to stable.
 * 4. Per-arm counters belong to a canary run and are counted only for
 *    requests routed through the alias while the run is active; a request
 *    whose run changed before it replied (epoch mismatch) is not counted,
 *    so a rollback's numbers describe the run that was rolled back.
 * 5. Latency is the time from resolution to reply (µs, monotonic clock),
 *    kept as a sum and a histogram on the command histogram's bounds
 *    (10 µs .. 10 s); mean and p99 are read off it (p99 = the upper bound
 *    of its bucket, i.e. at most 2.5x high), which is what the guard and
 *    the exposition need without a sketch per arm.
 * 6. Guards run after every counted event (GET, feedback), so a trip acts
 *    on the request that crossed the line; they are O(1). No timer: a
 *    canary without traffic has nothing to judge.
 * 7. Feedback counters per namespace live here, in a list keyed by
 *    generation (cache_ns belongs to cache.c); records of dropped
 *    namespaces are purged when met. */
#include "cache_alias.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "prompt_norm.h"
#include "reply.h"

uint64_t g_canary_rollbacks_auto;

static cache_alias *all_aliases;
static uint64_t next_alias_id = 1;

/* ---- pure helpers ---- */

uint64_t canary_salt(const char *name, size_t len) {
    return XXH3_64bits_withSeed(name, len, CANARY_SEED);
}

uint32_t canary_bucket(uint64_t salt, const void *key, size_t len) {
    return (uint32_t)(XXH3_64bits_withSeed(key, len, salt) % CANARY_PPM_MAX);
}

int canary_pick(uint64_t salt, const void *key, size_t len, uint32_t ppm) {
    return canary_bucket(salt, key, len) < ppm;
}

int canary_parse_percent(const char *s, size_t len, uint32_t *ppm) {
    uint64_t ip = 0, frac = 0;
    size_t i = 0, nd = 0, fd = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, nd++) {
        ip = ip * 10 + (uint64_t)(s[i] - '0');
        if (ip > 100) return -1;
    }
    if (i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, fd++) {
            if (fd == 4) return -1;
            frac = frac * 10 + (uint64_t)(s[i] - '0');
        }
        if (fd == 0) return -1;
    }
    if (i != len || nd == 0) return -1;
    for (; fd < 4; fd++) frac *= 10;
    uint64_t v = ip * 10000 + frac;
    if (v == 0 || v > CANARY_PPM_MAX) return -1;
    *ppm = (uint32_t)v;
    return 0;
}

void canary_arm_note_get(canary_arm_stats *a, cache_tier tier, int64_t saved_nusd,
                         uint64_t latency_us) {
    a->requests++;
    switch (tier) {
    case CACHE_EXACT: a->hits_exact++; break;
    case CACHE_SEMANTIC: a->hits_semantic++; break;
    case CACHE_STALE: a->hits_stale++; break;
    default: a->misses++; break;
    }
    if (tier != CACHE_MISS) a->saved_nusd += saved_nusd;
    a->lat_sum_us += latency_us;
    int b = 0;
    while (b < COMMAND_HIST_BOUNDS && latency_us > command_hist_bounds_us[b]) b++;
    a->lat_hist[b]++;
}

double canary_arm_hit_rate(const canary_arm_stats *a) {
    if (!a->requests) return 0;
    return (double)(a->hits_exact + a->hits_semantic + a->hits_stale) / (double)a->requests;
}

double canary_arm_bad_rate(const canary_arm_stats *a) {
    return a->requests ? (double)a->feedback_bad / (double)a->requests : 0;
}

double canary_arm_mean_latency_us(const canary_arm_stats *a) {
    return a->requests ? (double)a->lat_sum_us / (double)a->requests : 0;
}

uint64_t canary_arm_latency_quantile_us(const canary_arm_stats *a, double q) {
    uint64_t total = 0;
    for (int b = 0; b <= COMMAND_HIST_BOUNDS; b++) total += a->lat_hist[b];
    if (!total) return 0;
    uint64_t rank = (uint64_t)(q * (double)total + 0.999999);
    if (rank < 1) rank = 1;
    uint64_t seen = 0;
    for (int b = 0; b < COMMAND_HIST_BOUNDS; b++) {
        seen += a->lat_hist[b];
        if (seen >= rank) return command_hist_bounds_us[b];
    }
    return command_hist_bounds_us[COMMAND_HIST_BOUNDS - 1];
}

void canary_guard_default(canary_guard *g) {
    g->max_bad_rate = -1;
    g->min_hit_ratio = -1;
    g->max_latency_ratio = -1;
    g->min_requests = CANARY_MIN_REQUESTS_DEFAULT;
}

int canary_guard_check(const canary_guard *g, const canary_arm_stats *stable,
                       const canary_arm_stats *canary, char *reason, size_t cap) {
    if (canary->requests < g->min_requests) return 0;
    double v;
    if (g->max_bad_rate >= 0 && (v = canary_arm_bad_rate(canary)) > g->max_bad_rate) {
        snprintf(reason, cap, "bad feedback rate %.4f > max %.4f after %llu canary requests",
                 v, g->max_bad_rate, (unsigned long long)canary->requests);
        return 1;
    }
    /* the ratios also need a stable arm with enough requests to compare to */
    int cmp = stable->requests >= g->min_requests && stable->requests > 0;
    double sh = canary_arm_hit_rate(stable);
    if (cmp && g->min_hit_ratio >= 0 && sh > 0 &&
        (v = canary_arm_hit_rate(canary) / sh) < g->min_hit_ratio) {
        snprintf(reason, cap, "hit rate ratio %.4f < min %.4f (canary %.4f, stable %.4f)", v,
                 g->min_hit_ratio, canary_arm_hit_rate(canary), sh);
        return 1;
    }
    double sl = canary_arm_mean_latency_us(stable);
    if (cmp && g->max_latency_ratio >= 0 && sl > 0 &&
        (v = canary_arm_mean_latency_us(canary) / sl) > g->max_latency_ratio) {
        snprintf(reason, cap, "latency ratio %.4f > max %.4f (canary %.1f us, stable %.1f us)",
                 v, g->max_latency_ratio, canary_arm_mean_latency_us(canary), sl);
        return 1;
    }
    return 0;
}

const char *canary_status_name(canary_status s) {
    static const char *const n[] = {"none", "active", "off", "promoted", "rolled_back"};
    return (unsigned)s < 5 ? n[s] : "none";
}

const char *canary_sticky_name(canary_sticky s) {
    static const char *const n[] = {"user", "tenant", "prompt"};
    return (unsigned)s < 3 ? n[s] : "user";
}

static uint64_t mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int64_t unix_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- registry ---- */

cache_alias *alias_find(const tenant *t, const char *name, size_t len) {
    for (cache_alias *a = all_aliases; a; a = a->next)
        if (a->owner == t && strlen(a->name) == len && memcmp(a->name, name, len) == 0)
            return a;
    return NULL;
}

cache_alias *alias_by_id(uint64_t id) {
    for (cache_alias *a = all_aliases; a; a = a->next)
        if (a->id == id) return a;
    return NULL;
}

cache_alias *alias_first(void) { return all_aliases; }

int alias_set(tenant *t, const char *name, size_t len, cache_ns *target, uint64_t *prev_gen) {
    cache_alias *a = alias_find(t, name, len);
    if (a) {
        *prev_gen = a->target_gen;
        if (a->target_gen != target->generation) {
            a->target_gen = target->generation;
            a->epoch++;
            if (a->status == CANARY_ACTIVE) {   /* compare against the new stable */
                memset(a->arm, 0, sizeof a->arm);
                a->started_ms = unix_ms();
            }
        }
        return 0;
    }
    a = calloc(1, sizeof *a);
    if (!a) return -1;
    a->owner = t;
    memcpy(a->name, name, len);
    a->name[len] = '\0';
    a->id = next_alias_id++;
    a->salt = canary_salt(name, len);
    a->target_gen = target->generation;
    canary_guard_default(&a->guard);
    a->next = all_aliases;
    all_aliases = a;
    *prev_gen = 0;
    return 0;
}

void alias_del(cache_alias *a) {
    for (cache_alias **pp = &all_aliases; *pp; pp = &(*pp)->next)
        if (*pp == a) {
            *pp = a->next;
            break;
        }
    free(a);
}

cache_alias *alias_pinning(const cache_ns *ns, int *as_canary) {
    for (cache_alias *a = all_aliases; a; a = a->next) {
        if (a->target_gen == ns->generation) {
            *as_canary = 0;
            return a;
        }
        if (a->status == CANARY_ACTIVE && a->canary_gen == ns->generation) {
            *as_canary = 1;
            return a;
        }
    }
    return NULL;
}

/* The arm a sticky key selects (a canary is active). */
static int pick_arm(const cache_alias *a, const alias_key *k) {
    if (a->ppm >= CANARY_PPM_MAX) return ARM_CANARY;
    switch (a->sticky) {
    case STICKY_TENANT: {
        const char *tn = k->tenant ? k->tenant : "";
        return canary_pick(a->salt, tn, strlen(tn), a->ppm);
    }
    case STICKY_PROMPT: {
        uint64_t key = 0;
        /* an empty prompt has no key: it fails in the lookup anyway */
        if (k->prompt) prompt_norm_key(k->prompt, k->prompt_len, &key);
        return canary_pick(a->salt, &key, sizeof key, a->ppm);
    }
    default:
        return canary_pick(a->salt, k->user ? k->user : "", k->user ? k->user_len : 0, a->ppm);
    }
}

cache_ns *alias_resolve(cache_alias *a, const alias_key *k, alias_route *r) {
    int arm = -1;
    uint64_t gen = a->target_gen;
    if (k && a->status == CANARY_ACTIVE) {
        arm = pick_arm(a, k);
        if (arm == ARM_CANARY) gen = a->canary_gen;
    }
    cache_ns *ns = cache_ns_by_generation(gen);
    if (r) {
        r->alias_id = a->id;
        r->epoch = a->epoch;
        r->arm = arm;
        r->start_us = mono_us();
        snprintf(r->ns, sizeof r->ns, "%s", ns ? ns->name : "");
    }
    return ns;
}

static void guard_eval(cache_alias *a) {
    char why[CANARY_REASON_MAX];
    if (a->status != CANARY_ACTIVE ||
        !canary_guard_check(&a->guard, &a->arm[ARM_STABLE], &a->arm[ARM_CANARY], why,
                            sizeof why))
        return;
    a->rollbacks_auto++;
    g_canary_rollbacks_auto++;
    canary_stop(a, CANARY_ROLLED_BACK, why);
    cache_ns *cn = cache_ns_by_generation(a->canary_gen);
    log_msg(LL_WARNING, "Canary '%s' of alias '%s' (tenant '%s') rolled back by its guard: %s",
            cn ? cn->name : "?", a->name, a->owner->name, why);
}

/* The alias and arm r was counted on, if its run is still the same. */
static cache_alias *route_run(const alias_route *r) {
    if (!r || !r->alias_id || r->arm < 0) return NULL;
    cache_alias *a = alias_by_id(r->alias_id);
    return a && a->epoch == r->epoch && a->status == CANARY_ACTIVE ? a : NULL;
}

void alias_route_get(const alias_route *r, cache_tier tier, int64_t saved_nusd) {
    cache_alias *a = route_run(r);
    if (!a) return;
    canary_arm_note_get(&a->arm[r->arm], tier, saved_nusd, mono_us() - r->start_us);
    guard_eval(a);
}

void alias_route_put(const alias_route *r, int64_t cost_nusd) {
    cache_alias *a = route_run(r);
    if (!a) return;
    a->arm[r->arm].puts++;
    a->arm[r->arm].spend_nusd += cost_nusd;
}

int alias_reply_pairs(const alias_route *r) {
    if (!r || !r->alias_id) return 0;
    return r->arm >= 0 ? 2 : 1;
}

void alias_reply_append(client *c, const alias_route *r) {
    if (!r || !r->alias_id) return;
    reply_bulk_cstr(c, "namespace");
    reply_bulk_cstr(c, r->ns);
    if (r->arm < 0) return;
    reply_bulk_cstr(c, "arm");
    reply_bulk_cstr(c, r->arm == ARM_CANARY ? "canary" : "stable");
}

/* ---- feedback ---- */

typedef struct ns_feedback {
    uint64_t gen, good, bad;
    struct ns_feedback *next;
} ns_feedback;

static ns_feedback *feedbacks;

static ns_feedback *feedback_of(uint64_t gen, int create) {
    for (ns_feedback **pp = &feedbacks; *pp;) {
        ns_feedback *f = *pp;
        if (f->gen == gen) return f;
        if (!cache_ns_by_generation(f->gen)) {   /* dropped namespace: purge */
            *pp = f->next;
            free(f);
            continue;
        }
        pp = &f->next;
    }
    if (!create) return NULL;
    ns_feedback *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->gen = gen;
    f->next = feedbacks;
    feedbacks = f;
    return f;
}

void alias_feedback(const cache_ns *ns, int bad) {
    ns_feedback *f = feedback_of(ns->generation, 1);
    if (f) *(bad ? &f->bad : &f->good) += 1;
    for (cache_alias *a = all_aliases; a; a = a->next) {
        if (a->status != CANARY_ACTIVE) continue;
        int arm = a->canary_gen == ns->generation ? ARM_CANARY
                  : a->target_gen == ns->generation ? ARM_STABLE : -1;
        if (arm < 0) continue;
        *(bad ? &a->arm[arm].feedback_bad : &a->arm[arm].feedback_good) += 1;
        guard_eval(a);
    }
}

void alias_ns_feedback(const cache_ns *ns, uint64_t *good, uint64_t *bad) {
    ns_feedback *f = feedback_of(ns->generation, 0);
    *good = f ? f->good : 0;
    *bad = f ? f->bad : 0;
}

/* ---- canary state ---- */

void canary_start(cache_alias *a, cache_ns *canary, uint32_t ppm, canary_sticky s) {
    a->canary_gen = canary->generation;
    a->ppm = ppm;
    a->sticky = s;
    a->status = CANARY_ACTIVE;
    a->epoch++;
    memset(a->arm, 0, sizeof a->arm);
    a->reason[0] = '\0';
    a->started_ms = unix_ms();
    a->ended_ms = 0;
}

void canary_stop(cache_alias *a, canary_status why, const char *reason) {
    a->status = why;
    a->epoch++;
    a->ended_ms = unix_ms();
    snprintf(a->reason, sizeof a->reason, "%s", reason);
}

void canary_promote(cache_alias *a) {
    a->target_gen = a->canary_gen;
    canary_stop(a, CANARY_PROMOTED, "promoted");
}

/* ---- INFO ---- */

static const char *gen_name(uint64_t gen) {
    cache_ns *ns = gen ? cache_ns_by_generation(gen) : NULL;
    return ns ? ns->name : "";
}

/* INFO values are field:value lines with comma-separated key=value
 * sub-fields: names and reasons are printed with ',', ':', '=', CR and LF
 * replaced by ';' and spaces by '_' (CACHE.CANARY INFO has them verbatim). */
static void info_str(sbuf *o, const char *key, const char *s) {
    sbuf_printf(o, ",%s=", key);
    for (; *s; s++) {
        char ch = *s == ',' || *s == ':' || *s == '=' || *s == '\r' || *s == '\n' ? ';' : *s;
        if (ch == ' ') ch = '_';
        sbuf_append(o, &ch, 1);
    }
}

static void info_arm(sbuf *o, const char *p, const canary_arm_stats *s) {
    sbuf_printf(o, ",%s_requests=%llu,%s_hits=%llu,%s_misses=%llu,%s_hit_rate=%.4f"
                ",%s_latency_mean_us=%.1f,%s_latency_p99_us=%llu,%s_spend_nusd=%lld"
                ",%s_cost_per_request_nusd=%.1f,%s_feedback_good=%llu,%s_feedback_bad=%llu",
                p, (unsigned long long)s->requests, p,
                (unsigned long long)(s->hits_exact + s->hits_semantic + s->hits_stale), p,
                (unsigned long long)s->misses, p, canary_arm_hit_rate(s), p,
                canary_arm_mean_latency_us(s), p,
                (unsigned long long)canary_arm_latency_quantile_us(s, 0.99), p,
                (long long)s->spend_nusd, p,
                s->requests ? (double)s->spend_nusd / (double)s->requests : 0.0, p,
                (unsigned long long)s->feedback_good, p, (unsigned long long)s->feedback_bad);
}

void canary_info(sbuf *o) {
    uint64_t n = 0, active = 0;
    for (cache_alias *a = all_aliases; a; a = a->next) {
        n++;
        active += a->status == CANARY_ACTIVE;
    }
    sbuf_printf(o, "# Canary\r\ncanary_aliases:%llu\r\ncanary_active:%llu\r\n"
                "canary_rollbacks_auto:%llu\r\n",
                (unsigned long long)n, (unsigned long long)active,
                (unsigned long long)g_canary_rollbacks_auto);
    /* One line per alias that ran a canary, at most 100 (the rest are in
     * CACHE.ALIASES). */
    int lines = 0;
    for (cache_alias *a = all_aliases; a && lines < 100; a = a->next) {
        if (a->status == CANARY_NONE) continue;
        sbuf_printf(o, "canary%d:percent=%.4f", lines++, (double)a->ppm / 10000.0);
        info_str(o, "tenant", a->owner->name);
        info_str(o, "alias", a->name);
        info_str(o, "stable", gen_name(a->target_gen));
        info_str(o, "canary", gen_name(a->canary_gen));
        sbuf_printf(o, ",sticky=%s,status=%s,rollbacks_auto=%llu", canary_sticky_name(a->sticky),
                    canary_status_name(a->status), (unsigned long long)a->rollbacks_auto);
        info_str(o, "reason", a->reason);
        info_arm(o, "stable", &a->arm[ARM_STABLE]);
        info_arm(o, "canary", &a->arm[ARM_CANARY]);
        sbuf_puts(o, "\r\n");
    }
}

/* ---- Prometheus ---- */

/* Bounded cardinality as metrics.c note 6: the first metrics-max-label-sets
 * aliases that ran a canary get their own series, the rest are summed
 * into tenant="_other", alias="_other". */
typedef struct arm_row {
    const char *tenant, *alias;
    double percent;
    int active;
    uint64_t rollbacks;
    canary_arm_stats arm[2];
} arm_row;

static void arm_add(canary_arm_stats *d, const canary_arm_stats *s) {
    d->requests += s->requests;
    d->hits_exact += s->hits_exact;
    d->hits_semantic += s->hits_semantic;
    d->hits_stale += s->hits_stale;
    d->misses += s->misses;
    d->puts += s->puts;
    d->spend_nusd += s->spend_nusd;
    d->saved_nusd += s->saved_nusd;
    d->feedback_good += s->feedback_good;
    d->feedback_bad += s->feedback_bad;
    d->lat_sum_us += s->lat_sum_us;
    for (int b = 0; b <= COMMAND_HIST_BOUNDS; b++) d->lat_hist[b] += s->lat_hist[b];
}

static const char *const arm_names[2] = {"stable", "canary"};

void canary_metrics(sbuf *o) {
    int cap = g_cfg.metrics_max_label_sets > 0 ? g_cfg.metrics_max_label_sets : 1000;
    int n = 0;
    for (cache_alias *a = all_aliases; a; a = a->next) n += a->status != CANARY_NONE;
    int rows_n = n > cap ? cap + 1 : n;
    arm_row *rows = calloc((size_t)rows_n + 1, sizeof *rows);
    if (!rows) {
        o->oom = 1;
        return;
    }
    int i = 0;
    for (cache_alias *a = all_aliases; a; a = a->next) {
        if (a->status == CANARY_NONE) continue;
        arm_row *r = &rows[i < cap ? i : cap];
        if (i <= cap) {
            r->tenant = i < cap ? a->owner->name : "_other";
            r->alias = i < cap ? a->name : "_other";
        }
        r->percent = i < cap ? (double)a->ppm / 10000.0 : 0;
        r->active += a->status == CANARY_ACTIVE;
        r->rollbacks += a->rollbacks_auto;
        arm_add(&r->arm[0], &a->arm[0]);
        arm_add(&r->arm[1], &a->arm[1]);
        i++;
    }
    metrics_family(o, "simcache_canary_rollbacks_auto_total", "counter",
                   "Canaries rolled back by a guard, all aliases.");
    metrics_sample_u64(o, "simcache_canary_rollbacks_auto_total", NULL, 0,
                       g_canary_rollbacks_auto);
    metrics_family(o, "simcache_canary_active", "gauge",
                   "1 while the alias's canary splits traffic.");
    for (int k = 0; k < rows_n; k++) {
        metrics_label l[] = {{"tenant", rows[k].tenant}, {"alias", rows[k].alias}};
        metrics_sample_u64(o, "simcache_canary_active", l, 2, (uint64_t)rows[k].active);
    }
    metrics_family(o, "simcache_canary_percent", "gauge",
                   "Share of the alias's traffic sent to the canary, in percent.");
    for (int k = 0; k < rows_n; k++) {
        metrics_label l[] = {{"tenant", rows[k].tenant}, {"alias", rows[k].alias}};
        metrics_sample_f(o, "simcache_canary_percent", l, 2, rows[k].percent);
    }
    static const struct {
        const char *name, *help;
        size_t off;
    } fams[] = {
        {"simcache_canary_requests_total", "CACHE.GET requests counted on the arm this run.",
         offsetof(canary_arm_stats, requests)},
        {"simcache_canary_misses_total", "Misses on the arm this run.",
         offsetof(canary_arm_stats, misses)},
        {"simcache_canary_puts_total", "CACHE.PUT routed to the arm this run.",
         offsetof(canary_arm_stats, puts)},
    };
    for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
        metrics_family(o, fams[f].name, "counter", fams[f].help);
        for (int k = 0; k < rows_n; k++)
            for (int a = 0; a < 2; a++) {
                metrics_label l[] = {{"tenant", rows[k].tenant}, {"alias", rows[k].alias},
                                     {"arm", arm_names[a]}};
                metrics_sample_u64(o, fams[f].name, l, 3,
                                   *(const uint64_t *)((const char *)&rows[k].arm[a] +
                                                       fams[f].off));
            }
    }
    static const char *const tiers[] = {"exact", "semantic", "stale"};
    metrics_family(o, "simcache_canary_hits_total", "counter",
                   "Hits on the arm this run, by tier.");
    for (int k = 0; k < rows_n; k++)
        for (int a = 0; a < 2; a++) {
            const canary_arm_stats *s = &rows[k].arm[a];
            const uint64_t hv[] = {s->hits_exact, s->hits_semantic, s->hits_stale};
            for (int t = 0; t < 3; t++) {
                metrics_label l[] = {{"tenant", rows[k].tenant}, {"alias", rows[k].alias},
                                     {"arm", arm_names[a]}, {"tier", tiers[t]}};
                metrics_sample_u64(o, "simcache_canary_hits_total", l, 4, hv[t]);
            }
        }
    metrics_family(o, "simcache_canary_feedback_total", "counter",
                   "CACHE.FEEDBACK on the arm's namespace this run, by kind.");
    for (int k = 0; k < rows_n; k++)
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++) {
                const canary_arm_stats *s = &rows[k].arm[a];
                metrics_label l[] = {{"tenant", rows[k].tenant}, {"alias", rows[k].alias},
                                     {"arm", arm_names[a]}, {"kind", b ? "bad" : "good"}};
                metrics_sample_u64(o, "simcache_canary_feedback_total", l, 4,
                                   b ? s->feedback_bad : s->feedback_good);
            }
    metrics_family(o, "simcache_canary_spend_usd_total", "counter",
                   "Upstream cost reported by PUTs routed to the arm this run, in USD.");
    for (int k = 0; k < rows_n; k++)
        for (int a = 0; a < 2; a++) {
            metrics_label l[] = {{"tenant", rows[k].tenant}, {"alias", rows[k].alias},
                                 {"arm", arm_names[a]}};
            metrics_sample_f(o, "simcache_canary_spend_usd_total", l, 3,
                             (double)rows[k].arm[a].spend_nusd / 1e9);
        }
    metrics_family(o, "simcache_canary_latency_seconds", "histogram",
                   "CACHE.GET latency on the arm this run (resolution to reply).");
    for (int k = 0; k < rows_n; k++)
        for (int a = 0; a < 2; a++) {
            const canary_arm_stats *s = &rows[k].arm[a];
            metrics_label l[] = {{"tenant", rows[k].tenant}, {"alias", rows[k].alias},
                                 {"arm", arm_names[a]}};
            metrics_histogram(o, "simcache_canary_latency_seconds", l, 3, command_hist_bounds_us,
                              COMMAND_HIST_BOUNDS, s->lat_hist, (double)s->lat_sum_us / 1e6);
        }
    free(rows);
}

void alias_shutdown(void) {
    while (all_aliases) alias_del(all_aliases);
    while (feedbacks) {
        ns_feedback *f = feedbacks;
        feedbacks = f->next;
        free(f);
    }
}
