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

#define SIMCACHE_VERSION "0.1.0"
#define SIMCACHE_REDIS_COMPAT_VERSION "7.0.0" /* redis_version in INFO/HELLO */

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
    long long client_output_buffer_limit; /* hard limit, bytes; 64mb; 0 = none */
    long long client_output_buffer_soft_limit; /* bytes, 16mb; 0 = none. Input
                                    * reading pauses above it; a client over it
                                    * for soft_seconds is closed */
    long long client_output_buffer_soft_seconds; /* 60 */
    long long tcp_keepalive;        /* seconds, 300; 0 = off */
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
    char save[64];                  /* compatibility: "" (simcache writes no RDB) */
    int appendonly;                 /* compatibility: 0 (no AOF) */
    int databases;                  /* 1: only db 0 exists */
    int vset_threads;               /* search pool threads; 0 = number of cores */
    int vset_inline_idle;           /* 1: cheap searches run on the loop when the pool is idle */
    int metrics_port;               /* Prometheus HTTP endpoint; 0 = off (default) */
    char metrics_bind[256];         /* one address for it, default "127.0.0.1" */
    int metrics_max_label_sets;     /* tenant/namespace series before "_other", 1000 */
    long long embed_cache_bytes;    /* per-tenant embedding cache bound, 16mb */
    long long cache_index_queue;    /* entries waiting for a provider vector, 100000 */
    /* tracing (trace.c) and the request log (reqlog.c) */
    char otlp_endpoint[512];        /* OTLP/HTTP traces URL; "" = no spans (default) */
    char otlp_service_name[128];    /* resource service.name, "simcache" */
    int otlp_batch_size;            /* spans per export, 512 */
    int otlp_flush_interval_ms;     /* export timer period, 1000 */
    int otlp_max_queue;             /* spans waiting before new ones drop, 2048 */
    int otlp_timeout_ms;            /* one export's connect + transfer limit, 2000 */
    long long reqlog_max_len;       /* entries kept, 1024; 0 = log nothing */
    long long reqlog_max_bytes;     /* bytes of kept entries, 16mb */
    long long reqlog_max_field;     /* prompt/response/params bytes kept per entry, 1024 */
    char reqlog_file[512];          /* JSON-lines file appended to; "" = none */
    long long reqlog_file_buffer;   /* bytes queued for the file before lines drop, 4mb */
    char config_file[512];          /* absolute path of the file loaded, or "" */
} sc_config;

extern sc_config g_cfg;

/* Resets g_cfg to the defaults and forgets configured users. */
void config_init(void);

/* Loads a redis.conf-style file (`include` honoured, depth <= 16). Returns
 * 0, or -1 with a Redis-style multi-line message in err ("Reading the
 * configuration file, at line N\n>>> 'line'\nreason"). Start-up only. */
int config_load_file(const char *path, char *err, size_t errlen);

/* Parses configuration text (the same syntax as a file); `origin` names it
 * in error messages. Start-up only. */
int config_load_string(const char *text, const char *origin, char *err, size_t errlen);

/* Parses `simcache-server [file] [--name value ...] [-]` as redis-server
 * does: the file first, then the options in order (last wins), `-` reads
 * stdin. Returns 0, 1 if --help/--version printed something and the
 * program should exit 0, or -1 with err set. */
int config_from_argv(int argc, char **argv, char *err, size_t errlen);

/* CONFIG SET of one option at run time: validates value and applies it.
 * Returns 0, or -1 with err holding the reason only ("argument must be
 * 'yes' or 'no'"); unknown names return -2, immutable ones -3. */
int config_set_runtime(const char *name, const char *value, char *err, size_t errlen);

/* Calls fn(name, value, arg) for every option whose name matches pattern
 * (glob, case-insensitive), in table order. Returns the number of calls. */
int config_get_matching(const char *pattern, size_t plen,
                        void (*fn)(const char *name, const char *value, void *arg),
                        void *arg);

/* Snapshot/restore of the whole configuration, for CONFIG SET of several
 * pairs (all or nothing). */
void config_backup(sc_config *out);
void config_restore(const sc_config *in);

/* Authentication: 1 if (user, pass) is a configured pair ("default" with
 * requirepass, or a `user name password` line). The password comparison
 * takes time independent of where the strings differ. */
int config_check_user(const char *user, const char *pass, size_t passlen);
/* Role and tenant of a configured user (`user <name> <password> [role
 * admin|gateway|tenant] [tenant <id>]`; role defaults to tenant, tenant to
 * the user name). 0, or -1 if no `user` line names it (the default user).
 * Used by tenant.c. */
int config_user_info(const char *user, int *role, char *tenant, size_t cap);
/* Price of a model from `price <model> <usd/1M in> <usd/1M out>` lines, in
 * nano-USD per million tokens. 0, or -1 if the model has no price. */
int config_price(const char *model, size_t len, int64_t *in_nusd_per_m,
                 int64_t *out_nusd_per_m);
/* 1 if any password is configured for the default user. */
int config_default_user_has_password(void);
/* 1 if clients must authenticate (requirepass or any user line). */
int config_auth_required(void);

/* Constant-time equality of two byte strings (length leaks, content not). */
int config_secure_equal(const char *a, size_t alen, const char *b, size_t blen);

/* "1kb" -> 1024, "1k" -> 1000, "5mb", "2gb", plain integers. -1 on error
 * (sets *ok = 0). */
long long config_parse_memory(const char *s, int *ok);

#endif
