/* config.h -- server configuration: the values, their defaults, and the
 * CONFIG GET/SET table (config.c).
 *
 * Options use Redis's names and defaults wherever Redis has the option.
 * Sizes accept Redis's units (1k = 1000, 1kb = 1024, mb, gb). The values
 * live in one global read by the loop thread; worker threads get copies of
 * what they need when work is handed to them, never a pointer to g_cfg. */
#ifndef SIMCACHE_CONFIG_H
#define SIMCACHE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

enum maxmemory_policy {
    MAXMEMORY_NOEVICTION = 0,
    MAXMEMORY_ALLKEYS_LRU,
    MAXMEMORY_ALLKEYS_LFU,
    MAXMEMORY_ALLKEYS_RANDOM,
    MAXMEMORY_VOLATILE_LRU,
    MAXMEMORY_VOLATILE_LFU,
    MAXMEMORY_VOLATILE_RANDOM,
    MAXMEMORY_VOLATILE_TTL,
};

typedef struct sc_config {
    /* network */
    char bind[256];                 /* space-separated addresses, default "127.0.0.1" */
    int port;                       /* default 6380; 0 = do not listen on TCP */
    char unixsocket[256];           /* "" = none */
    int unixsocketperm;             /* octal, default 0700 */
    int tcp_backlog;                /* 511 */
    int protected_mode;             /* 1 */
    long long timeout;              /* idle seconds, 0 = never */
    long long maxclients;           /* 10000 */
    /* protocol limits */
    long long proto_max_bulk_len;   /* 512mb */
    long long client_query_buffer_limit; /* 1gb */
    long long client_output_buffer_limit; /* hard limit, bytes; 64mb */
    long long preauth_timeout_ms;   /* unauthenticated clients closed after this, 10000 */
    /* memory */
    long long maxmemory;            /* bytes, 0 = unlimited */
    enum maxmemory_policy maxmemory_policy;
    int maxmemory_samples;          /* 5 */
    int hz;                         /* 10 */
    int active_expire_effort;       /* 1..10, 1 */
    /* misc */
    long long slowlog_log_slower_than; /* microseconds, 10000 */
    long long slowlog_max_len;      /* 128 */
    char requirepass[256];          /* "" = none: password of the default user */
    char logfile[256];              /* "" = stderr */
    char loglevel[16];              /* "notice" */
} sc_config;

extern sc_config g_cfg;

#endif
