/* keyspace.h -- the exact-match keyspace: hash table, TTLs, eviction.
 *
 * This header is owned by the keyspace work (keyspace.c, mem.c); the
 * functions in the first block are the server-facing contract that net.c,
 * main.c and the INFO/FLUSHALL/DBSIZE handlers rely on. The handler-facing
 * API (lookup, set, delete, expire, scan) follows below it.
 *
 * Threading: loop thread only. */
#ifndef SIMCACHE_KEYSPACE_H
#define SIMCACHE_KEYSPACE_H

#include <stddef.h>
#include <stdint.h>
#include "sbuf.h"

/* ---- server-facing contract ---- */
int ks_init(void);                    /* 0 or -ENOMEM; before the loop runs */
void ks_shutdown(void);               /* frees every key */
size_t ks_dbsize(void);               /* live keys (may count not-yet-reclaimed expired ones, as Redis) */
size_t ks_expires_count(void);        /* keys with a TTL */
void ks_flushall(int async);          /* async: free in the background */
/* Active expiry, called by a loop timer hz times a second; spends at most
 * budget_us microseconds (Redis: 25% of the timer period). */
void ks_active_expire_cycle(uint64_t budget_us);
/* Before a DENYOOM command: evicts per maxmemory-policy until used memory is
 * under maxmemory. 0 = fine, -1 = still over the limit (reply -OOM). */
int ks_evict_if_needed(void);
/* INFO sections, appended in Redis's "field:value\r\n" format. */
void ks_info_memory(sbuf *out);
void ks_info_stats(sbuf *out);        /* expired_keys, evicted_keys, keyspace_hits/misses */
void ks_info_keyspace(sbuf *out);     /* "db0:keys=N,expires=M,avg_ttl=T" */
void ks_reset_stats(void);            /* CONFIG RESETSTAT */

#endif
