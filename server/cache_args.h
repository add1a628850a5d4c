/* cache_args.h -- argument helpers shared by the CACHE.* handlers
 * (cmd_cache.c, cmd_canary.c) and the cache's observability (obs.c): one
 * copy of the TENANT rule and of the score conversion, so the two command
 * families cannot drift apart.
 *
 * Threading: loop thread only (they reply, and cache_score keeps a
 * one-entry memo). */
#ifndef SIMCACHE_CACHE_ARGS_H
#define SIMCACHE_CACHE_ARGS_H

#include "client.h"
#include "tenant.h"

/* 1 if argument a is s (ASCII case-insensitive), else 0. */
int cache_arg_is(const req_arg *a, const char *s);

/* The tenant the request acts for: the connection's, or the TENANT
 * argument targ's (admin/gateway roles only; a tenant-role connection gets
 * -NOPERM even for its own name, cmd_cache.c note 1). Created on first
 * use. NULL after replying (-NOPERM, invalid name, -OOM). */
tenant *cache_tenant_or_reply(client *c, const req_arg *targ);

/* For commands whose only option is a trailing TENANT t after `from`
 * fixed arguments (counting the name): the tenant, or NULL after replying
 * (syntax error, or as cache_tenant_or_reply). */
tenant *cache_only_tenant_opt_or_reply(client *c, int from);

/* A float score as the shortest double that prints like it (0.45f ->
 * 0.45, not 0.44999998807907104): what CACHE.GET replies and the request
 * log records. Pure; memoises the last value (an exact hit is always 1.0,
 * and the %.7g + strtod round trip was ~10% of an exact-hit CACHE.GET's
 * server CPU under redis-benchmark -P 16, measured with perf). */
double cache_score(float f);

/* Replies cache_score(f) as reply_double would (a RESP3 double, a RESP2
 * bulk string), the RESP2 text from the memo. Loop thread. */
void cache_reply_score(client *c, float f);

/* The bytes cache_reply_score would append for protocol version resp
 * (the memoised element; stays valid until the next call with another
 * score), their length in *len; NULL for a non-finite score (use
 * cache_reply_score). Loop thread. */
const char *cache_score_elem(float f, int resp, size_t *len);

#endif
