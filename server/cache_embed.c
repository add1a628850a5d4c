/* cache_embed.c -- provider-embedded cache namespaces (cache_embed.h).
 *
 * A namespace created with EMBEDDER <provider> gets its vectors from that
 * provider (provider.c: batching, coalescing, retries, breaker, failover,
 * rate limit); everything else (exact map, HNSW, expiry, eviction, ledger)
 * is the cache of cache.c.
 *
 * Design decisions:
 * 1. Binding: the namespace records the provider's name, model and
 *    dimension in its fingerprint ("provider:<name>:<model>:<dim>") and
 *    every vector received is checked against the namespace's dimension
 *    before it is stored or searched: a provider reconfigured to another
 *    model or size fails the call instead of mixing vector spaces. The
 *    provider is looked up by name on every call (provider_find), never
 *    cached as a pointer: after provider_stop_all at shutdown calls simply
 *    find nothing and degrade.
 * 2. Score: the semantic tier of such a namespace is the cosine of the
 *    provider's vectors against the namespace threshold (default 0.85);
 *    the builtin's lexscore re-scoring is tuned to its own hashed features
 *    and would veto paraphrases a real model recognises.
 * 3. Embedding cache: one bounded LRU per tenant (embed_cache.c, bound
 *    `embed-cache-bytes`, default 16 MB), keyed by the prompt's exact key
 *    (XXH3 of the normalised prompt) and the fingerprint's hash, so a
 *    repeated prompt, or a PUT of a prompt a GET just embedded (the usual
 *    miss -> model -> PUT sequence), is not embedded twice. Tenants never
 *    share a cache. Built-in namespaces use the same caches through
 *    cache_embed_tenant_cache (cache.c note 12): their entries hold the
 *    built-in vector and features under the builtin fingerprint's hash.
 *    Identical prompts embedded concurrently are coalesced
 *    by the provider into one input (provider.c decision 1); the text sent
 *    is the normalised prompt, so prompts with the same exact key share one
 *    embedding.
 * 4. GET: the exact tier needs no vector and answers at once. Otherwise
 *    the embedding cache, else the client is parked (client_block +
 *    client_ref, so pipelined replies keep their order) while the provider
 *    embeds; the completion re-finds the namespace by generation (a DROP
 *    meanwhile answers a miss; FLUSH/DEL are harmless since entries are
 *    re-validated by the search) and continues with the same semantic path
 *    as the builtin (pool search over CACHE_ASYNC_MIN entries). A provider
 *    failure never becomes an error reply: the answer is the exact tier
 *    again, the exact entry in its grace window if STALE was given, or a
 *    miss with `semantic unavailable` (the caller calls its model, as on
 *    any miss).
 * 5. PUT never waits for the provider and never loses an answer: the entry
 *    is stored at once (exact tier, and the reply is its id); its vector
 *    comes from the embedding cache if present (indexed at once), else the
 *    entry is put on its namespace's unindexed list and an embedding call
 *    goes out; the callback indexes it if it still exists. Calls that fail
 *    are retried by the cron once a second (the provider's breaker makes
 *    retries cheap while it is open), so entries stored during an outage
 *    are indexed when it recovers. The list is bounded server-wide
 *    (`cache-index-queue`): beyond it a PUT gets -UPSTREAM and stores
 *    nothing, so an outage cannot grow memory without limit and the client
 *    knows. Rejected: parking the PUT until indexed (a hanging provider
 *    would hold every PUT for its timeout).
 * 6. Ledger: the tokens the provider bills for a call (its share of the
 *    batch, provider.c decision 9) go to the tenant that made it, priced
 *    with the `price` line of the provider's model (0 if none): TENANT.USAGE
 *    embed_tokens / embed_spend_nusd, also counted in spend (budgets).
 *    Coalesced waiters pay nothing, so the sum over tenants equals what the
 *    provider billed.
 * 7. Lifetime: callbacks hold (generation, public id), never entry or
 *    namespace pointers, so DROP/FLUSH/DEL/expiry/eviction during a call
 *    are safe; a GET's client is referenced until its callback. */
#include "cache_embed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "embed_cache.h"
#include "keyspace.h"
#include "net.h"
#include "prompt_norm.h"
#include "provider.h"
#include "reply.h"
#include "vset.h"
#include "workers.h"

#define CRON_PERIOD_MS 1000
#define RESUBMIT_PER_TICK 1024

/* ---- statistics (INFO cache) ---- */

static struct {
    uint64_t calls, call_errors;        /* provider_embed requests and failures */
    uint64_t gets_parked, gets_degraded;
    uint64_t indexed_late, index_retries, index_refused;
    uint64_t wrong_dim;
} st;
static size_t inflight;                 /* embedding calls pending */

/* ---- per-tenant embedding caches ---- */

typedef struct tcache {
    const tenant *t;
    ecache *ec;
    struct tcache *next;
} tcache;
static tcache *tcaches;

static ecache *tenant_cache(const tenant *t, int create) {
    for (tcache *x = tcaches; x; x = x->next)
        if (x->t == t) {
            ecache_stats s;
            ecache_get_stats(x->ec, &s);
            if (s.limit != (size_t)g_cfg.embed_cache_bytes)   /* CONFIG SET */
                ecache_set_limit(x->ec, (size_t)g_cfg.embed_cache_bytes);
            return x->ec;
        }
    if (!create) return NULL;
    tcache *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    x->ec = ecache_new((size_t)g_cfg.embed_cache_bytes);
    if (!x->ec) {
        free(x);
        return NULL;
    }
    x->t = t;
    x->next = tcaches;
    tcaches = x;
    return x->ec;
}

ecache *cache_embed_tenant_cache(const tenant *t) {
    if (g_cfg.embed_cache_bytes <= 0) {
        tenant_cache(t, 0);   /* applies the 0 bound to an existing cache */
        return NULL;
    }
    return tenant_cache(t, 1);
}

int cache_embed_tenant_stats(const tenant *t, ecache_stats *out) {
    for (tcache *x = tcaches; x; x = x->next)
        if (x->t == t) {
            ecache_get_stats(x->ec, out);
            return 0;
        }
    return -1;
}

/* ---- binding (CACHE.CREATE) ---- */

int cache_embed_choose_or_reply(client *c, const char *name, size_t len, cache_ns_config *cfg) {
    char nm[sizeof cfg->embedder];
    if (len >= sizeof nm) goto unknown;
    memcpy(nm, name, len);
    nm[len] = 0;
    if (!provider_find(nm)) goto unknown;
    memcpy(cfg->embedder, nm, len + 1);
    cfg->ext_embedder = 1;
    return 0;
unknown:
    reply_errorf(c, "ERR unknown embedder '%.128s' (builtin, or a configured provider)", name);
    return -1;
}

int cache_embed_finish_config_or_reply(client *c, cache_ns_config *cfg) {
    if (!cfg->ext_embedder) {
        cache_ns_config d;
        cache_ns_config_default(&d);
        if (cfg->threshold < 0) cfg->threshold = d.threshold;
        if (cfg->dim == 0) cfg->dim = d.dim;
        return 0;
    }
    if (cfg->threshold < 0) cfg->threshold = CACHE_EMBED_THRESHOLD_DEFAULT;
    provider *p = provider_find(cfg->embedder);
    if (!p) {
        reply_errorf(c, "ERR unknown embedder '%s'", cfg->embedder);
        return -1;
    }
    int pd = provider_dims(p);
    if (cfg->dim == 0 && pd <= 0) {
        reply_errorf(c, "ERR provider '%s' has no configured dimensions: give DIM", cfg->embedder);
        return -1;
    }
    if (cfg->dim == 0) cfg->dim = (uint32_t)pd;
    if (pd > 0 && cfg->dim != (uint32_t)pd) {
        reply_errorf(c, "ERR provider '%s' returns %d dimensions, not %u", cfg->embedder, pd,
                     cfg->dim);
        return -1;
    }
    snprintf(cfg->ext_fingerprint, sizeof cfg->ext_fingerprint, "provider:%s:%.60s:%u",
             cfg->embedder, provider_model(p), cfg->dim);
    return 0;
}

/* ---- calls ---- */

/* One embedding call: a GET waiting for its vector (c != NULL) or the
 * indexing of a stored entry (c == NULL). */
typedef struct call {
    client *c;                 /* referenced and blocked while the call runs */
    tenant *t;                 /* tenants live until shutdown */
    char provider[32];         /* its embedder, for the price of its model */
    uint64_t gen;              /* namespace generation */
    uint64_t key, fph;         /* exact key, fingerprint hash */
    uint32_t dim;
    uint64_t id;               /* indexing: the entry's public id */
    float threshold;           /* GET */
    int allow_stale, withmeta; /* GET */
    long long wait_ms;         /* GET */
    uint32_t k;                /* SEARCH: results wanted */
    int64_t now;               /* GET: the request's time */
    alias_route route;         /* GET: its alias route (sc/canary) */
    obs_req ob;                /* GET: detached; owns its prompt copy */
} call;

/* The tokens of a call into its tenant's ledger (decision 6). */
static void bill(const call *k, long long tokens) {
    if (tokens <= 0) return;
    int64_t pin = 0, pout;
    provider *p = provider_find(k->provider);
    const char *model = p ? provider_model(p) : NULL;
    if (!model || !*model || config_price(model, strlen(model), &pin, &pout) != 0) pin = 0;
    tenant_charge_embedding(k->t, (uint64_t)tokens, tenant_price_nusd(pin, (uint64_t)tokens),
                            ks_now_ms());
}

static call *call_new(cache_ns *ns, tenant *t, uint64_t key) {
    call *k = calloc(1, sizeof *k);
    if (!k) return NULL;
    k->t = t;
    snprintf(k->provider, sizeof k->provider, "%s", ns->cfg.embedder);
    k->gen = ns->generation;
    k->key = key;
    k->fph = ns->fp_hash;
    k->dim = ns->cfg.dim;
    return k;
}

/* Sends the normalised prompt to ns's provider. 0, or -1 (no provider,
 * refused: queue full, out of memory) with nothing pending. */
static int call_send(call *k, const char *prompt, size_t len, provider_done_cb *cb) {
    provider *p = provider_find(k->provider);
    if (!p) return -1;
    char *norm = malloc(len ? len : 1);
    if (!norm) return -1;
    size_t n = prompt_norm(prompt, len, norm);
    char err[256];
    const char *texts[1] = {norm};
    int rc = n ? provider_embed(p, texts, &n, 1, cb, k, NULL, err, sizeof err) : -1;
    free(norm);
    st.calls++;
    if (rc != 0) {
        st.call_errors++;
        return -1;
    }
    inflight++;
    return 0;
}

/* A vector that may be stored and searched: status 0 and the namespace's
 * dimension (decision 1). Stores it in the tenant's embedding cache. */
static const float *call_vector(const call *k, int status, const float *vecs, size_t n, int dim) {
    if (status != 0 || !vecs || n != 1) return NULL;
    if (dim != (int)k->dim) {
        st.wrong_dim++;
        return NULL;
    }
    ecache *ec = tenant_cache(k->t, 1);
    if (ec) ecache_put(ec, k->key, k->fph, vecs, k->dim);
    return vecs;
}

/* ---- GET (decision 4) ---- */

/* The semantic tier over vec, then the reply, and the end of ob unless
 * the search went to the pool (whose completion ends it). 1 if c was
 * parked (pool search, or WAIT), 0 if it was answered. */
static int get_with_vector(client *c, cache_ns *ns, tenant *t, uint64_t key, const float *vec,
                           float thr, int stale, int withmeta, long long wait_ms, int64_t now,
                           const alias_route *r, obs_req *ob) {
    cache_hit h;
    workers *pool = vset_pool();
    cache_query *q = NULL;
    int rc = cache_lookup_vec_start(ns, key, vec, thr, stale, now, &h, pool ? &q : NULL);
    if (rc == CACHE_PENDING) {
        if (cache_get_park(c, q, withmeta, wait_ms, now, pool, r, ob) == 0) return 1;
        do {   /* idle pool or queue full: answer here; again on widening */
            cache_get_run_inline(q);
            rc = cache_lookup_finish(q, &h);
        } while (rc == CACHE_PENDING);
        cache_query_free(q);
    }
    int parked = cache_get_answer(c, ns, t, rc, &h, key, withmeta, wait_ms, now, r, 0, ob);
    obs_end_get(ob, ns, t, rc, &h, parked);
    return parked;
}

/* No vector: exact, stale or a miss that says so; ends ob. 1 if parked
 * (WAIT). */
static int get_degraded(client *c, cache_ns *ns, tenant *t, uint64_t key, int stale,
                        int withmeta, long long wait_ms, int64_t now, const alias_route *r,
                        obs_req *ob) {
    cache_hit h;
    st.gets_degraded++;
    int rc = cache_lookup_degraded(ns, key, stale, now, &h);
    int parked = cache_get_answer(c, ns, t, rc, &h, key, withmeta, wait_ms, now, r, 1, ob);
    obs_end_get(ob, ns, t, rc, &h, parked);
    return parked;
}

static void get_cb(void *ud, int status, const float *vecs, size_t n, int dim, long long tokens,
                   const char *msg) {
    (void)msg;
    call *k = ud;
    inflight--;
    if (status != 0) st.call_errors++;
    k->ob.embed1 = obs_clock();
    bill(k, tokens);
    const float *vec = call_vector(k, status, vecs, n, dim);
    client *c = k->c;
    int parked = 0;
    /* k->ob.prompt points at this copy; a pool search takes its own copy
     * (obs_detach), so ours is freed here in every case */
    char *prompt_copy = k->ob.prompt_copy;
    k->ob.prompt_copy = NULL;
    if (client_is_open(c)) {
        cache_ns *ns = cache_ns_by_generation(k->gen);
        if (!ns) {
            cache_hit miss;
            memset(&miss, 0, sizeof miss);
            parked = cache_get_answer(c, NULL, NULL, CACHE_OK, &miss, k->key, k->withmeta,
                                      k->wait_ms, k->now, &k->route, 0, &k->ob);
            obs_end_get(&k->ob, NULL, k->t, CACHE_OK, &miss, parked);
        } else if (vec) {
            parked = get_with_vector(c, ns, ns->owner, k->key, vec, k->threshold,
                                     k->allow_stale, k->withmeta, k->wait_ms, k->now, &k->route,
                                     &k->ob);
        } else {
            parked = get_degraded(c, ns, ns->owner, k->key, k->allow_stale, k->withmeta,
                                  k->wait_ms, k->now, &k->route, &k->ob);
        }
    }
    free(prompt_copy);
    if (!parked) client_unblock(c);
    client_unref(c);
    free(k);
}

void cache_embed_get(client *c, cache_ns *ns, tenant *t, const char *prompt, size_t len,
                     float threshold, int allow_stale, int withmeta, long long wait_ms,
                     int64_t now, const alias_route *r, obs_req *ob) {
    cache_hit h;
    uint64_t key = 0;
    int rc = cache_lookup_exact(ns, prompt, len, now, &h, &key);
    if (rc != CACHE_OK || h.tier != CACHE_MISS) {
        int parked = cache_get_answer(c, ns, t, rc, &h, key, withmeta, wait_ms, now, r, 0, ob);
        obs_end_get(ob, ns, t, rc, &h, parked);
        return;
    }
    ecache *ec = tenant_cache(t, 1);
    const float *vec = ec ? ecache_get(ec, key, ns->fp_hash, ns->cfg.dim) : NULL;
    if (vec) {
        get_with_vector(c, ns, t, key, vec, threshold, allow_stale, withmeta, wait_ms, now, r, ob);
        return;
    }
    call *k = call_new(ns, t, key);
    if (k) {
        k->c = c;
        k->threshold = threshold;
        k->allow_stale = allow_stale;
        k->withmeta = withmeta;
        k->wait_ms = wait_ms;
        k->now = now;
        k->route = *r;
        uint64_t t0 = obs_clock();
        if (call_send(k, prompt, len, get_cb) == 0) {
            obs_detach(ob, ns);   /* the prompt outlives the request's arguments */
            k->ob = *ob;          /* the call owns the prompt copy now */
            k->ob.embed0 = t0;
            client_block(c);
            client_ref(c);
            st.gets_parked++;
            return;
        }
        free(k);
    }
    get_degraded(c, ns, t, key, allow_stale, withmeta, wait_ms, now, r, ob);
}

/* ---- SEARCH ---- */

/* The search over vec, replied; ends ob (here or in the pool completion).
 * 1 if parked on the pool. */
static int search_with_vector(client *c, cache_ns *ns, tenant *t, const float *vec, uint32_t k,
                              int64_t now, obs_req *ob) {
    cache_query *q;
    int rc = cache_search_vec_start(ns, vec, k, now, &q);
    if (rc != CACHE_PENDING) {
        obs_end_search(ob, ns, t, rc, 0.0);
        reply_error(c, "OOM out of memory");
        return 0;
    }
    return cache_search_run_reply(c, ns, q, k, now, ob);
}

static void search_cb(void *ud, int status, const float *vecs, size_t n, int dim,
                      long long tokens, const char *msg) {
    call *k = ud;
    inflight--;
    if (status != 0) st.call_errors++;
    k->ob.embed1 = obs_clock();
    bill(k, tokens);
    const float *vec = call_vector(k, status, vecs, n, dim);
    client *c = k->c;
    int parked = 0;
    char *prompt_copy = k->ob.prompt_copy;   /* see get_cb */
    k->ob.prompt_copy = NULL;
    if (client_is_open(c)) {
        cache_ns *ns = cache_ns_by_generation(k->gen);
        if (!ns) {
            obs_end_search(&k->ob, NULL, k->t, 0, 0.0);
            reply_array(c, 0);
        } else if (vec) {
            parked = search_with_vector(c, ns, ns->owner, vec, k->k, k->now, &k->ob);
        } else {
            char e[256];
            if (status != 0) snprintf(e, sizeof e, "UPSTREAM %s", msg ? msg : "embedding failed");
            else snprintf(e, sizeof e, "UPSTREAM embedder '%s' returned %d dimensions, not %u",
                          k->provider, dim, k->dim);
            obs_end_error(&k->ob, ns, ns->owner, NULL, e);
            reply_error(c, e);
        }
    }
    free(prompt_copy);
    if (!parked) client_unblock(c);
    client_unref(c);
    free(k);
}

void cache_embed_search(client *c, cache_ns *ns, tenant *t, const char *prompt, size_t len,
                        uint32_t kres, int64_t now, obs_req *ob) {
    uint64_t key;
    int rc = cache_key(prompt, len, &key);
    if (rc != CACHE_OK) {
        obs_end_search(ob, ns, t, rc, 0.0);
        reply_error(c, rc == CACHE_EEMPTY ? "ERR prompt is empty after normalisation"
                                          : "OOM out of memory");
        return;
    }
    if (kres == 0) {
        obs_end_search(ob, ns, t, 0, 0.0);
        reply_array(c, 0);
        return;
    }
    ecache *ec = tenant_cache(t, 1);
    const float *vec = ec ? ecache_get(ec, key, ns->fp_hash, ns->cfg.dim) : NULL;
    if (vec) {
        search_with_vector(c, ns, t, vec, kres, now, ob);
        return;
    }
    call *k = call_new(ns, t, key);
    if (k) {
        k->c = c;
        k->k = kres;
        k->now = now;
        uint64_t t0 = obs_clock();
        if (call_send(k, prompt, len, search_cb) == 0) {
            obs_detach(ob, ns);
            k->ob = *ob;
            k->ob.embed0 = t0;
            client_block(c);
            client_ref(c);
            return;
        }
        free(k);
    }
    char e[256];
    snprintf(e, sizeof e, "UPSTREAM embedder '%s' refused the call (queue full or not running)",
             ns->cfg.embedder);
    obs_end_error(ob, ns, t, NULL, e);
    reply_error(c, e);
}

/* ---- PUT and the index queue (decision 5) ---- */

static void index_cb(void *ud, int status, const float *vecs, size_t n, int dim,
                     long long tokens, const char *msg) {
    (void)msg;
    call *k = ud;
    inflight--;
    if (status != 0) st.call_errors++;
    bill(k, tokens);
    const float *vec = call_vector(k, status, vecs, n, dim);
    cache_ns *ns = cache_ns_by_generation(k->gen);
    cache_entry *e = ns ? cache_entry_by_id(ns, k->id) : NULL;
    if (e) {
        e->embedding = 0;
        if (vec && e->slot == CACHE_NO_SLOT && cache_entry_index(ns, e, vec) == CACHE_OK)
            st.indexed_late++;
    }
    free(k);
}

/* Asks for e's vector. 0, or -1 (e stays queued for the cron). */
static int index_submit(cache_ns *ns, cache_entry *e) {
    call *k = call_new(ns, ns->owner, e->key);
    if (!k) return -1;
    k->id = e->id;
    if (call_send(k, e->prompt.p, e->prompt.n, index_cb) != 0) {
        free(k);
        return -1;
    }
    e->embedding = 1;
    return 0;
}

size_t cache_embed_pending(const cache_ns *ns) { return ns->n_unindexed; }

size_t cache_embed_pending_total(void) {
    size_t n = 0;
    for (cache_ns *ns = cache_ns_first(); ns; ns = ns->next) n += ns->n_unindexed;
    return n;
}

void cache_embed_put(client *c, cache_ns *ns, tenant *t, const cache_put_args *a, int64_t now,
                     const alias_route *r, obs_req *ob) {
    uint64_t key;
    cache_entry *e = NULL;
    int rc = cache_key(a->prompt, a->prompt_len, &key);
    if (rc != CACHE_OK) {
        obs_end_put(ob, ns, t, a, rc, NULL);
        reply_error(c, rc == CACHE_EEMPTY ? "ERR prompt is empty after normalisation"
                                          : "OOM out of memory");
        return;
    }
    ecache *ec = tenant_cache(t, 1);
    const float *vec = ec ? ecache_get(ec, key, ns->fp_hash, ns->cfg.dim) : NULL;
    if (!vec && cache_embed_pending_total() >= (size_t)g_cfg.cache_index_queue) {
        st.index_refused++;
        char msg[256];
        snprintf(msg, sizeof msg, "UPSTREAM embedder '%s' is behind: %zu entries wait for a "
                 "vector (cache-index-queue)", ns->cfg.embedder, cache_embed_pending_total());
        obs_end_error(ob, ns, t, a, msg);
        reply_error(c, msg);
        return;
    }
    rc = cache_put_vec(ns, a, vec, now, &e);
    obs_end_put(ob, ns, t, a, rc, rc == CACHE_OK ? e : NULL);
    if (rc != CACHE_OK) {
        if (rc == CACHE_EEMPTY) reply_error(c, "ERR prompt is empty after normalisation");
        else if (rc == CACHE_ENOMEM) reply_error(c, "OOM out of memory");
        else reply_error(c, "ERR the index refused the vector");
        return;
    }
    tenant_charge(t, e->cost_nusd, now);
    alias_route_put(r, e->cost_nusd);
    reply_integer(c, (long long)e->id);
    cache_pending_resolve(ns, e);
    if (e->slot == CACHE_NO_SLOT && !e->ins) index_submit(ns, e);   /* no vector yet */
}

static int64_t last_cron_ms;

void cache_embed_cron(int64_t now) {
    if (now - last_cron_ms < CRON_PERIOD_MS) return;
    last_cron_ms = now;
    int budget = RESUBMIT_PER_TICK;
    for (cache_ns *ns = cache_ns_first(); ns; ns = ns->next) {
        if (!ns->cfg.ext_embedder || !ns->unindexed) continue;
        for (cache_entry *e = ns->unindexed, *nx; e; e = nx) {
            nx = e->unx_next;
            if (e->expire_ms && now >= e->expire_ms + ns->cfg.grace_ms) {
                cache_entry_delete(ns, e);
                ns->st.expired++;
            } else if (!e->embedding && budget > 0) {
                budget--;
                st.index_retries++;
                if (index_submit(ns, e) != 0) budget = 0;   /* provider refuses: next tick */
            }
        }
    }
}

void cache_embed_info(sbuf *o) {
    size_t tenants = 0, entries = 0, bytes = 0;
    uint64_t hits = 0, misses = 0, evictions = 0;
    for (tcache *x = tcaches; x; x = x->next) {
        ecache_stats s;
        ecache_get_stats(x->ec, &s);
        tenants++;
        entries += s.entries;
        bytes += s.bytes;
        hits += s.hits;
        misses += s.misses;
        evictions += s.evictions;
    }
    sbuf_printf(o, "cache_index_pending:%zu\r\ncache_index_inflight:%zu\r\n"
                "cache_indexed_late:%llu\r\ncache_index_retries:%llu\r\n"
                "cache_index_refused:%llu\r\ncache_embed_calls:%llu\r\n"
                "cache_embed_errors:%llu\r\ncache_embed_wrong_dim:%llu\r\n"
                "cache_gets_embedding:%llu\r\ncache_gets_semantic_unavailable:%llu\r\n"
                "cache_embed_cache_tenants:%zu\r\ncache_embed_cache_entries:%zu\r\n"
                "cache_embed_cache_bytes:%zu\r\ncache_embed_cache_hits:%llu\r\n"
                "cache_embed_cache_misses:%llu\r\ncache_embed_cache_evictions:%llu\r\n",
                cache_embed_pending_total(), inflight, (unsigned long long)st.indexed_late,
                (unsigned long long)st.index_retries, (unsigned long long)st.index_refused,
                (unsigned long long)st.calls, (unsigned long long)st.call_errors,
                (unsigned long long)st.wrong_dim, (unsigned long long)st.gets_parked,
                (unsigned long long)st.gets_degraded, tenants, entries, bytes,
                (unsigned long long)hits, (unsigned long long)misses,
                (unsigned long long)evictions);
    cache_builtin_embed_stats b;
    cache_builtin_embed_stats_get(&b);
    sbuf_printf(o, "cache_embed_builtin_computed:%llu\r\ncache_embed_builtin_cached:%llu\r\n",
                (unsigned long long)b.computed, (unsigned long long)b.cached);
}

void cache_embed_shutdown(void) {
    while (tcaches) {
        tcache *x = tcaches;
        tcaches = x->next;
        ecache_free(x->ec);
        free(x);
    }
}
