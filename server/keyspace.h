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
 * about budget_us microseconds (Redis: 25% of the timer period). Also the
 * keyspace cron: starts shrinks, rehashes for up to budget/4, evicts a
 * pending eviction backlog for up to budget/4, refreshes used memory. */
void ks_active_expire_cycle(uint64_t budget_us);
/* Before a DENYOOM command: evicts per maxmemory-policy until used memory is
 * under maxmemory. 0 = fine, -1 = still over the limit (reply -OOM).
 * Spends at most ~500 us per call: a larger backlog (maxmemory lowered at
 * run time) returns 0 and is worked off by ks_active_expire_cycle. */
int ks_evict_if_needed(void);
/* INFO sections, appended in Redis's "field:value\r\n" format. */
void ks_info_memory(sbuf *out);
void ks_info_stats(sbuf *out);        /* expired_keys, evicted_keys, keyspace_hits/misses */
void ks_info_keyspace(sbuf *out);     /* "db0:keys=N,expires=M,avg_ttl=T" */
void ks_reset_stats(void);            /* CONFIG RESETSTAT */

/* ---- handler-facing API ----
 *
 * Entries. A key and its value live in one ks_entry. Pointers returned by
 * the lookups are borrowed: valid until the next ks_* call that may delete
 * or replace entries (set, delete, append, expire cycle, eviction, flush,
 * or a lookup of an expired key). Handlers use them within one command and
 * never store them.
 *
 * Time. Every TTL is an absolute unix time in milliseconds. The keyspace
 * reads the clock through ks_now_ms(), which tests may redirect with
 * ks_set_clock(). */

typedef struct ks_entry ks_entry;

/* A value type other than string (vector sets, ...). The descriptor is a
 * static const object owned by the type's module; the keyspace calls free()
 * when the key is deleted, overwritten, expired, evicted or flushed, and
 * mem_usage() for MEMORY USAGE. name is what TYPE replies and what SCAN ...
 * TYPE matches. */
typedef struct ks_type {
    const char *name;                      /* "vectorset" */
    void (*free)(void *obj);               /* may be NULL */
    size_t (*mem_usage)(const void *obj);  /* bytes owned by obj; may be NULL */
} ks_type;

/* Lookup flags. */
enum {
    KS_LOOKUP_NOTOUCH = 1u << 0,  /* do not update LRU/LFU (EXISTS, TYPE, TTL) */
    KS_LOOKUP_NOSTATS = 1u << 1,  /* do not count keyspace_hits/misses */
    KS_LOOKUP_WRITE   = KS_LOOKUP_NOSTATS, /* lookups made by write commands */
};

/* Finds a live key. Returns NULL if the key is missing or expired (an
 * expired key is deleted on the spot and counted in expired_keys: no
 * expired key is ever returned). Counts a hit or miss unless NOSTATS;
 * touches the access time / frequency unless NOTOUCH. */
ks_entry *ks_lookup(const void *key, size_t klen, unsigned flags);

/* Entry accessors. ks_str: the bytes of a string value (not NUL-terminated)
 * and their length, or NULL if the value is not a string. ks_obj: the object
 * if the value's type is t, else NULL. ks_type_name: "string" or the
 * object's type name. */
const char *ks_key(const ks_entry *e, size_t *klen);
const char *ks_str(const ks_entry *e, size_t *len);
void *ks_obj(const ks_entry *e, const ks_type *t);
const char *ks_type_name(const ks_entry *e);
int ks_is_string(const ks_entry *e);

/* Stores a string under key, replacing any previous value of any type (the
 * old value is freed). keepttl: keep the old TTL, else the key becomes
 * persistent. The value is copied. Returns 0, or -ENOMEM (the old value is
 * then untouched). */
int ks_set_string(const void *key, size_t klen, const void *val, size_t vlen,
                  int keepttl);
/* Same, for an object of type t; on success the keyspace owns obj. On
 * -ENOMEM the caller still owns it. */
int ks_set_object(const void *key, size_t klen, const ks_type *t, void *obj,
                  int keepttl);
/* Appends to a string value (which must be one) in place, growing the
 * buffer geometrically. Returns the new length, or -ENOMEM (value intact).
 * Invalidates e: look the key up again. */
long long ks_append(ks_entry *e, const void *p, size_t n);

/* Deletes a key. Returns 1 if a live key was deleted, 0 if there was none
 * (an expired key counts as none). */
int ks_delete(const void *key, size_t klen);
void ks_delete_entry(ks_entry *e);

/* TTLs. ks_get_expire: absolute unix ms, or -1 for a persistent key.
 * ks_set_expire: when_ms > 0; 0 or -ENOMEM. A time already in the past is
 * legal (the key then expires at the next lookup or cycle; handlers that
 * want Redis's "delete now" semantics call ks_delete_entry instead).
 * ks_persist: 1 if a TTL was removed, 0 if the key had none. */
int64_t ks_get_expire(const ks_entry *e);
int ks_set_expire(ks_entry *e, int64_t when_ms);
int ks_persist(ks_entry *e);

/* SCAN. Visits the keys in the buckets at `cursor` and returns the next
 * cursor (0 = done). Redis's reverse-binary cursor: every key present for
 * the whole iteration is visited at least once, even across resizes and
 * rehashing; keys may be visited twice. Expired keys are not visited (they
 * are deleted after the step). The callback must not modify the keyspace.
 * `count` is a hint of how many keys to aim for (buckets are visited whole,
 * at most 10*count buckets per call). */
typedef void ks_scan_cb(void *ud, const ks_entry *e);
uint64_t ks_scan(uint64_t cursor, size_t count, ks_scan_cb *cb, void *ud);

/* KEYS: visits every live key exactly once (no resize can run during the
 * walk); expired keys are skipped and deleted after it. The callback must
 * not modify the keyspace. */
void ks_foreach(ks_scan_cb *cb, void *ud);

/* A uniformly-ish random live key (Redis RANDOMKEY), or NULL if empty. */
ks_entry *ks_random_entry(void);

/* MEMORY USAGE: bytes owned by the entry (allocator-rounded), its share of
 * the bucket array and expires index, and the value's bytes. For objects,
 * mem_usage() of the type. */
size_t ks_memory_usage(const ks_entry *e);

/* The clock every TTL is compared with: unix time in milliseconds.
 * ks_set_clock(fn) redirects it (tests); NULL restores the real clock. */
int64_t ks_now_ms(void);
void ks_set_clock(int64_t (*fn)(void));

/* Stats hooks for handlers (e.g. a command that finds a key expired by
 * other means). */
void ks_note_hit(int hit);

/* Test and debug introspection. ks_debug_rehashing: 1 while an incremental
 * rehash is in progress. ks_debug_buckets: total buckets in both tables.
 * ks_rehash_step(n): moves up to n buckets (the cron and tests). */
int ks_debug_rehashing(void);
size_t ks_debug_buckets(void);
void ks_rehash_step(int n);
/* Counters (also in INFO). */
uint64_t ks_stat_expired(void);
uint64_t ks_stat_evicted(void);

#endif
