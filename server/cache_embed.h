/* cache_embed.h -- cache namespaces embedded by an HTTP provider
 * (provider.h): binding at CACHE.CREATE, the per-tenant embedding cache,
 * the asynchronous CACHE.GET/PUT paths, and the queue of entries stored
 * while their embedding was unavailable. See cache_embed.c for the design.
 *
 * Threading: loop thread only (every function here, and every callback). */
#ifndef SIMCACHE_CACHE_EMBED_H
#define SIMCACHE_CACHE_EMBED_H

#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "cache_alias.h"
#include "client.h"
#include "obs.h"
#include "sbuf.h"
#include "tenant.h"

/* Default cosine threshold of a provider-embedded namespace (CACHE.CREATE
 * without THRESHOLD). */
#define CACHE_EMBED_THRESHOLD_DEFAULT 0.85f

/* CACHE.CREATE ... EMBEDDER <name> with name != "builtin": binds cfg to the
 * started provider `name` (cfg->ext_embedder, cfg->embedder). 0, or -1
 * after replying (-ERR unknown embedder). */
int cache_embed_choose_or_reply(client *c, const char *name, size_t len, cache_ns_config *cfg);

/* After CACHE.CREATE's options were parsed with cfg->threshold < 0 and
 * cfg->dim == 0 meaning "not given": fills the embedder's defaults, checks
 * DIM against the provider's configured dimensions, and sets the
 * fingerprint "provider:<name>:<model>:<dim>". 0, or -1 after replying. */
int cache_embed_finish_config_or_reply(client *c, cache_ns_config *cfg);

/* CACHE.GET on an ext_embedder namespace (options already resolved, r the
 * alias route, ob begun by obs_begin_or_reply): exact tier; then the
 * tenant's embedding cache or a provider call (the client is parked
 * meanwhile); then the semantic tier. When no vector can be had the reply
 * is the exact/stale answer or a miss carrying `semantic unavailable`.
 * Replies (now or later) through cmd_cache.c's cache_get_answer, and ends
 * ob (or hands it on to the pool search). */
void cache_embed_get(client *c, cache_ns *ns, tenant *t, const char *prompt, size_t len,
                     float threshold, int allow_stale, int withmeta, long long wait_ms,
                     int64_t now, const alias_route *r, obs_req *ob);

/* CACHE.SEARCH on an ext_embedder namespace (k <= 1000; ob begun): the
 * vector from the tenant's embedding cache or the provider (client parked
 * meanwhile), then the search, scored by cosine. A provider failure
 * replies -UPSTREAM with the provider's reason (SEARCH is a tuning tool:
 * there is no cached answer to fall back to); a namespace dropped
 * meanwhile gives an empty array. */
void cache_embed_search(client *c, cache_ns *ns, tenant *t, const char *prompt, size_t len,
                        uint32_t k, int64_t now, obs_req *ob);

/* CACHE.PUT on an ext_embedder namespace: stores the entry at once (exact
 * tier), indexed immediately if the tenant's embedding cache has the
 * vector, else queued and indexed when the provider answers (retried by
 * cache_embed_cron while it fails). Replies the id, or an error if the
 * queue of unindexed entries is at `cache-index-queue`. */
void cache_embed_put(client *c, cache_ns *ns, tenant *t, const cache_put_args *a, int64_t now,
                     const alias_route *r, obs_req *ob);

/* hz cron: at most once a second, deletes queued entries past their grace
 * and resubmits queued entries whose embedding is not in flight. */
void cache_embed_cron(int64_t now);

/* Entries waiting for a vector: in ns, and in every namespace. */
size_t cache_embed_pending(const cache_ns *ns);
size_t cache_embed_pending_total(void);

struct ecache;
struct ecache_stats;
/* The embedding cache of tenant t (embed_cache.h), created on first use
 * and kept at the current `embed-cache-bytes` bound; NULL when that bound
 * is 0 (the cache is off: a tenant's existing cache is emptied) or on
 * ENOMEM. cache.c uses it for built-in namespaces (vector + features under
 * the builtin fingerprint's hash), this file for provider ones. The
 * pointer stays valid until cache_embed_shutdown. Loop thread. */
struct ecache *cache_embed_tenant_cache(const tenant *t);
/* Statistics of tenant t's embedding cache: 0 and *out, or -1 if t has
 * none. Loop thread. */
int cache_embed_tenant_stats(const tenant *t, struct ecache_stats *out);

/* Appends this module's lines to INFO's "# Cache" section. */
void cache_embed_info(sbuf *o);

/* Frees the embedding caches (shutdown, after provider_stop_all). */
void cache_embed_shutdown(void);

#endif

/* ---- provided by cmd_cache.c (its reply and WAIT machinery) ---- */
struct workers;
/* Replies a GET from a lookup result, as CACHE.GET does (ledger, WAIT
 * coalescing); semantic_down adds `semantic unavailable` to a miss.
 * Returns 1 if the client was parked on a pending fill instead: the waiter
 * then took ob over (the caller's obs_end_get(..., parked = 1) is a no-op)
 * and logs the request with its final answer. */
int cache_get_answer(client *c, cache_ns *ns, tenant *t, int rc, cache_hit *h, uint64_t key,
                     int withmeta, long long wait_ms, int64_t now, const alias_route *r,
                     int semantic_down, obs_req *ob);
/* Submits q's search to pool and parks c (the completion replies and ends
 * ob, which it takes over after obs_detach). 0, or -1 (the pool is idle so
 * searching here is cheaper (workers_try_inline), or the queue is full: the
 * caller runs q with cache_get_run_inline, finishes it, and still owns ob). */
int cache_get_park(client *c, cache_query *q, int withmeta, long long wait_ms, int64_t now,
                   struct workers *pool, const alias_route *r, obs_req *ob);
/* Runs q's search on the loop thread, recording its search span for the
 * request's trace and counting it as an inline search. Loop thread. */
void cache_get_run_inline(cache_query *q);
/* Runs a started CACHE.SEARCH query q (k results) on the pool (1: parked,
 * the completion replies, ends ob and frees q) or inline (0: replied, ob
 * ended, q freed). */
int cache_search_run_reply(client *c, cache_ns *ns, cache_query *q, uint32_t k, int64_t now,
                           obs_req *ob);
/* After a PUT stored e: answers the GET ... WAIT callers parked on it. */
void cache_pending_resolve(cache_ns *ns, cache_entry *e);
