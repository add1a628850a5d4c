/* config.c -- configuration: defaults, redis.conf-style files, command-line
 * overrides, CONFIG GET/SET, and the user table for AUTH.
 *
 * Design decisions:
 * 1. One table (`opts`) describes every option: name, type, where the value
 *    lives in g_cfg, bounds, and whether CONFIG SET may change it at run
 *    time. File parsing, CONFIG GET and CONFIG SET all go through it, so an
 *    option cannot be readable but unparsable or vice versa.
 * 2. Files are tokenised like Redis's sdssplitargs: "double quotes" with
 *    \n \r \t \b \a \xHH escapes, 'single quotes' with \' only. The command
 *    line is turned into the same text ("--port 1" -> "port 1") and parsed
 *    after the file, so the last occurrence wins, as redis-server does.
 * 3. Units follow Redis: 1k = 1000, 1kb = 1024 (likewise m/mb, g/gb).
 * 4. Users: `requirepass pw` sets the default user's password, `user name
 *    password` lines add users. Passwords are compared in constant time
 *    (content-independent; the length is not secret, as in Redis's
 *    time_independent_strcmp which also leaks nothing but the length).
 * 5. CONFIG SET of several pairs is all-or-nothing: the caller backs up
 *    g_cfg, applies pairs in order, and restores the backup on the first
 *    failure (Redis 7 does the same with its apply/rollback). */
#include "config.h"
#include "provider.h"

#include <ctype.h>
#include <errno.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "glob.h"
#include "log.h"
#include "resp_parser.h"
#include "strconv.h"
#include "tenant.h"
#include "trace.h"

sc_config g_cfg;

/* ---- users ---- */

#define MAX_USERS 64
typedef struct sc_user {
    char name[64];
    char pass[256];
    size_t passlen;
    int role;           /* tenant_role (tenant.h): 0 tenant, 1 gateway, 2 admin */
    char tenant[64];    /* the user's tenant; defaults to the user name */
} sc_user;
static sc_user users[MAX_USERS];
static int nusers;

/* Model prices (`price <model> <usd per 1M input> <usd per 1M output>`),
 * in nano-USD per million tokens; read by CACHE.PUT ... TOKENS. */
#define MAX_PRICES 64
typedef struct sc_price {
    char model[128];
    int64_t in_nusd_per_m, out_nusd_per_m;
} sc_price;
static sc_price prices[MAX_PRICES];
static int nprices;

int config_user_info(const char *user, int *role, char *tenant_out, size_t cap) {
    for (int i = 0; i < nusers; i++)
        if (strcmp(users[i].name, user) == 0) {
            *role = users[i].role;
            snprintf(tenant_out, cap, "%s", users[i].tenant);
            return 0;
        }
    return -1;
}

int config_price(const char *model, size_t len, int64_t *in_nusd_per_m,
                 int64_t *out_nusd_per_m) {
    for (int i = 0; i < nprices; i++)
        if (strlen(prices[i].model) == len && memcmp(prices[i].model, model, len) == 0) {
            *in_nusd_per_m = prices[i].in_nusd_per_m;
            *out_nusd_per_m = prices[i].out_nusd_per_m;
            return 0;
        }
    return -1;
}

int config_secure_equal(const char *a, size_t alen, const char *b, size_t blen) {
    /* Compare every byte of the longer string; the result depends on all
     * of them, and the loop length only on the lengths. */
    size_t n = alen > blen ? alen : blen;
    unsigned diff = (unsigned)(alen ^ blen);
    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < alen ? (unsigned char)a[i] : 0;
        unsigned char y = i < blen ? (unsigned char)b[i] : 0;
        diff |= (unsigned)(x ^ y);
    }
    return diff == 0;
}

int config_check_user(const char *user, const char *pass, size_t passlen) {
    if (strcmp(user, "default") == 0 && g_cfg.requirepass[0])
        return config_secure_equal(g_cfg.requirepass, strlen(g_cfg.requirepass),
                                   pass, passlen);
    for (int i = 0; i < nusers; i++)
        if (strcmp(users[i].name, user) == 0)
            return config_secure_equal(users[i].pass, users[i].passlen, pass, passlen);
    return 0;
}

int config_default_user_has_password(void) { return g_cfg.requirepass[0] != 0; }
int config_auth_required(void) { return g_cfg.requirepass[0] != 0 || nusers > 0; }

/* ---- value parsing ---- */

long long config_parse_memory(const char *s, int *ok) {
    unsigned long long v;
    *ok = 0;
    if (strconv_size_units(s, strlen(s), &v) != 0 || v > (unsigned long long)LLONG_MAX)
        return -1;
    *ok = 1;
    return (long long)v;
}

static int parse_ll(const char *s, long long *out) {
    return strconv_ll(s, strlen(s), out);
}

static int parse_bool(const char *s) {
    if (!strcasecmp(s, "yes")) return 1;
    if (!strcasecmp(s, "no")) return 0;
    return -1;
}

/* ---- the option table ---- */

enum opt_type { T_BOOL, T_INT, T_LL, T_MEM, T_STR, T_ENUM, T_OCTAL, T_SPECIAL };
enum { O_IMMUTABLE = 1, O_COMPAT = 2 };

typedef struct opt {
    const char *name;
    enum opt_type type;
    void *ptr;
    size_t size;                /* T_STR: buffer size */
    long long min, max;
    unsigned flags;
    const char *const *enum_names;
    /* T_SPECIAL: parse argv[0..argc) / format */
    int (*set)(int argc, char **argv, char *err, size_t errlen);
    void (*get)(char *buf, size_t cap);
} opt;

static const char *const policy_names[] = {
    "noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru",
    "volatile-lfu", "volatile-random", "volatile-ttl", NULL};
/* The order Redis lists them in its CONFIG SET error. */
static const char *const policy_names_redis_order[] = {
    "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl", "allkeys-lru",
    "allkeys-lfu", "allkeys-random", "noeviction", NULL};

static int set_loglevel(int argc, char **argv, char *err, size_t errlen) {
    if (argc != 1) return snprintf(err, errlen, "wrong number of arguments"), -1;
    if (log_level_parse(argv[0]) < 0) {
        snprintf(err, errlen, "argument(s) must be one of the following: "
                              "debug, verbose, notice, warning, nothing");
        return -1;
    }
    snprintf(g_cfg.loglevel, sizeof g_cfg.loglevel, "%s", argv[0]);
    for (char *p = g_cfg.loglevel; *p; p++) *p = (char)tolower((unsigned char)*p);
    return 0;
}
static void get_loglevel(char *buf, size_t cap) { snprintf(buf, cap, "%s", g_cfg.loglevel); }

/* bind: one or more addresses, stored space-separated. */
static int set_bind(int argc, char **argv, char *err, size_t errlen) {
    if (argc < 1) return snprintf(err, errlen, "wrong number of arguments"), -1;
    char tmp[sizeof g_cfg.bind];
    size_t len = 0;
    for (int i = 0; i < argc; i++) {
        size_t n = strlen(argv[i]);
        if (len + n + 2 > sizeof tmp) return snprintf(err, errlen, "too many bind addresses"), -1;
        if (i) tmp[len++] = ' ';
        memcpy(tmp + len, argv[i], n);
        len += n;
    }
    tmp[len] = '\0';
    memcpy(g_cfg.bind, tmp, len + 1);
    return 0;
}
static void get_bind(char *buf, size_t cap) { snprintf(buf, cap, "%s", g_cfg.bind); }

/* client-output-buffer-limit: "<hard> [<soft> <seconds>]" or Redis's class
 * form "normal <hard> <soft> <seconds> [replica ... pubsub ...]" (only the
 * normal class applies: simcache has no replicas and no pub/sub). A single
 * string with spaces (CONFIG SET) is split first. */
static int set_obuf(int argc, char **argv, char *err, size_t errlen) {
    char *words[16];
    char copy[256];
    int n = 0;
    if (argc == 1) {
        snprintf(copy, sizeof copy, "%s", argv[0]);
        for (char *tok = strtok(copy, " \t"); tok && n < 16; tok = strtok(NULL, " \t"))
            words[n++] = tok;
    } else {
        for (int i = 0; i < argc && n < 16; i++) words[n++] = argv[i];
    }
    long long hard = -1, soft = 0, secs = 0;
    int ok = 1;
    for (int i = 0; i < n && ok;) {
        if (!strcasecmp(words[i], "normal") || !strcasecmp(words[i], "replica") ||
            !strcasecmp(words[i], "slave") || !strcasecmp(words[i], "pubsub")) {
            if (i + 3 >= n) { ok = 0; break; }
            int is_normal = !strcasecmp(words[i], "normal");
            long long h = config_parse_memory(words[i + 1], &ok);
            long long s = ok ? config_parse_memory(words[i + 2], &ok) : 0;
            long long t = 0;
            if (ok && parse_ll(words[i + 3], &t) != 0) ok = 0;
            if (ok && is_normal) { hard = h; soft = s; secs = t; }
            i += 4;
        } else if (i == 0 && (n == 1 || n == 3)) {
            hard = config_parse_memory(words[0], &ok);
            if (ok && n == 3) {
                soft = config_parse_memory(words[1], &ok);
                if (ok && parse_ll(words[2], &secs) != 0) ok = 0;
            }
            i = n;
        } else {
            ok = 0;
        }
    }
    if (!ok || hard < 0 || secs < 0) {
        snprintf(err, errlen, "argument must be '<hard> [<soft> <seconds>]' or "
                              "'normal <hard> <soft> <seconds>' with memory values");
        return -1;
    }
    g_cfg.client_output_buffer_limit = hard;
    g_cfg.client_output_buffer_soft_limit = soft;
    g_cfg.client_output_buffer_soft_seconds = secs;
    return 0;
}
static void get_obuf(char *buf, size_t cap) {
    snprintf(buf, cap, "normal %lld %lld %lld", g_cfg.client_output_buffer_limit,
             g_cfg.client_output_buffer_soft_limit, g_cfg.client_output_buffer_soft_seconds);
}

static int set_user(int argc, char **argv, char *err, size_t errlen) {
    /* user <name> <password> [role admin|gateway|tenant] [tenant <id>] */
    int role = 0;
    const char *tname = argc >= 1 ? argv[0] : "";
    if (argc < 2 || argc % 2 != 0)
        goto usage;
    for (int j = 2; j < argc; j += 2) {
        if (!strcasecmp(argv[j], "role")) {
            if (!strcasecmp(argv[j + 1], "admin")) role = 2;
            else if (!strcasecmp(argv[j + 1], "gateway")) role = 1;
            else if (!strcasecmp(argv[j + 1], "tenant")) role = 0;
            else goto usage;
        } else if (!strcasecmp(argv[j], "tenant")) {
            tname = argv[j + 1];
        } else {
            goto usage;
        }
    }
    if (tname[0] == 0 || strlen(tname) >= sizeof users[0].tenant)
        return snprintf(err, errlen, "tenant name empty or too long"), -1;
    size_t nl = strlen(argv[0]), pl = strlen(argv[1]);
    if (nl == 0 || nl >= sizeof users[0].name || pl == 0 || pl >= sizeof users[0].pass)
        return snprintf(err, errlen, "user name or password empty or too long"), -1;
    if (!strcmp(argv[0], "default")) {
        memcpy(g_cfg.requirepass, argv[1], pl + 1);
        return 0;
    }
    int i;
    for (i = 0; i < nusers; i++)
        if (!strcmp(users[i].name, argv[0])) break;
    if (i == nusers) {
        if (nusers == MAX_USERS) return snprintf(err, errlen, "too many users"), -1;
        nusers++;
    }
    memcpy(users[i].name, argv[0], nl + 1);
    memcpy(users[i].pass, argv[1], pl + 1);
    users[i].passlen = pl;
    users[i].role = role;
    snprintf(users[i].tenant, sizeof users[i].tenant, "%s", tname);
    return 0;
usage:
    snprintf(err, errlen, "expected 'user <name> <password> [role admin|gateway|tenant] "
             "[tenant <id>]'");
    return -1;
}



static int set_price(int argc, char **argv, char *err, size_t errlen) {
    int64_t in, out;
    if (argc != 3 || strlen(argv[0]) == 0 || strlen(argv[0]) >= sizeof prices[0].model ||
        tenant_parse_usd(argv[1], strlen(argv[1]), &in) != 0 ||
        tenant_parse_usd(argv[2], strlen(argv[2]), &out) != 0)
        return snprintf(err, errlen, "expected 'price <model> <usd per 1M input tokens> "
                        "<usd per 1M output tokens>' with plain decimal amounts"), -1;
    int i;
    for (i = 0; i < nprices; i++)
        if (!strcmp(prices[i].model, argv[0])) break;
    if (i == nprices) {
        if (nprices == MAX_PRICES) return snprintf(err, errlen, "too many prices"), -1;
        nprices++;
    }
    snprintf(prices[i].model, sizeof prices[i].model, "%s", argv[0]);
    prices[i].in_nusd_per_m = in;
    prices[i].out_nusd_per_m = out;
    return 0;
}

#define F(field) &g_cfg.field
static const opt opts[] = {
    {"bind", T_SPECIAL, NULL, 0, 0, 0, O_IMMUTABLE, NULL, set_bind, get_bind},
    {"port", T_INT, F(port), 0, 0, 65535, O_IMMUTABLE, NULL, NULL, NULL},
    {"unixsocket", T_STR, F(unixsocket), sizeof g_cfg.unixsocket, 0, 0, O_IMMUTABLE, NULL, NULL, NULL},
    {"unixsocketperm", T_OCTAL, F(unixsocketperm), 0, 0, 0777, O_IMMUTABLE, NULL, NULL, NULL},
    {"tcp-backlog", T_INT, F(tcp_backlog), 0, 0, INT_MAX, O_IMMUTABLE, NULL, NULL, NULL},
    {"tcp-keepalive", T_LL, F(tcp_keepalive), 0, 0, INT_MAX, 0, NULL, NULL, NULL},
    {"protected-mode", T_BOOL, F(protected_mode), 0, 0, 1, 0, NULL, NULL, NULL},
    {"timeout", T_LL, F(timeout), 0, 0, INT_MAX, 0, NULL, NULL, NULL},
    {"maxclients", T_LL, F(maxclients), 0, 1, 1000000, 0, NULL, NULL, NULL},
    {"proto-max-bulk-len", T_MEM, F(proto_max_bulk_len), 0, 1024 * 1024, LLONG_MAX, 0, NULL, NULL, NULL},
    {"client-query-buffer-limit", T_MEM, F(client_query_buffer_limit), 0, 1024 * 1024, LLONG_MAX, 0, NULL, NULL, NULL},
    {"client-output-buffer-limit", T_SPECIAL, NULL, 0, 0, 0, 0, NULL, set_obuf, get_obuf},
    {"preauth-timeout", T_LL, F(preauth_timeout_ms), 0, 0, LLONG_MAX, 0, NULL, NULL, NULL},
    {"maxmemory", T_MEM, F(maxmemory), 0, 0, LLONG_MAX, 0, NULL, NULL, NULL},
    {"maxmemory-policy", T_ENUM, F(maxmemory_policy), 0, 0, 0, 0, policy_names, NULL, NULL},
    {"maxmemory-samples", T_INT, F(maxmemory_samples), 0, 1, 64, 0, NULL, NULL, NULL},
    {"hz", T_INT, F(hz), 0, 1, 500, 0, NULL, NULL, NULL},
    {"active-expire-effort", T_INT, F(active_expire_effort), 0, 1, 10, 0, NULL, NULL, NULL},
    {"slowlog-log-slower-than", T_LL, F(slowlog_log_slower_than), 0, -1, LLONG_MAX, 0, NULL, NULL, NULL},
    {"slowlog-max-len", T_LL, F(slowlog_max_len), 0, 0, LONG_MAX, 0, NULL, NULL, NULL},
    {"requirepass", T_STR, F(requirepass), sizeof g_cfg.requirepass, 0, 0, 0, NULL, NULL, NULL},
    {"logfile", T_STR, F(logfile), sizeof g_cfg.logfile, 0, 0, O_IMMUTABLE, NULL, NULL, NULL},
    {"loglevel", T_SPECIAL, NULL, 0, 0, 0, 0, NULL, set_loglevel, get_loglevel},
    {"databases", T_INT, F(databases), 0, 1, 1, O_IMMUTABLE, NULL, NULL, NULL},
    {"save", T_STR, F(save), sizeof g_cfg.save, 0, 0, O_COMPAT, NULL, NULL, NULL},
    {"appendonly", T_BOOL, F(appendonly), 0, 0, 0, O_COMPAT, NULL, NULL, NULL},
    {"vset-threads", T_INT, F(vset_threads), 0, 0, 256, O_IMMUTABLE, NULL, NULL, NULL},
    {"vset-inline-when-idle", T_BOOL, F(vset_inline_idle), 0, 0, 1, 0, NULL, NULL, NULL},
    {"metrics-port", T_INT, F(metrics_port), 0, 0, 65535, O_IMMUTABLE, NULL, NULL, NULL},
    {"metrics-max-label-sets", T_INT, F(metrics_max_label_sets), 0, 1, 1000000, 0, NULL, NULL, NULL},
    {"embed-cache-bytes", T_MEM, F(embed_cache_bytes), 0, 0, LLONG_MAX, 0, NULL, NULL, NULL},
    {"cache-index-queue", T_LL, F(cache_index_queue), 0, 0, 100000000, 0, NULL, NULL, NULL},
    {"metrics-bind", T_STR, F(metrics_bind), sizeof g_cfg.metrics_bind, 0, 0, O_IMMUTABLE, NULL, NULL, NULL},
    {"otlp-endpoint", T_STR, F(otlp_endpoint), sizeof g_cfg.otlp_endpoint, 0, 0, 0, NULL, NULL, NULL},
    {"otlp-service-name", T_STR, F(otlp_service_name), sizeof g_cfg.otlp_service_name, 0, 0, 0, NULL, NULL, NULL},
    {"otlp-batch-size", T_INT, F(otlp_batch_size), 0, 1, 65536, 0, NULL, NULL, NULL},
    {"otlp-flush-interval", T_INT, F(otlp_flush_interval_ms), 0, 10, 3600000, 0, NULL, NULL, NULL},
    {"otlp-max-queue", T_INT, F(otlp_max_queue), 0, 1, 1000000, O_IMMUTABLE, NULL, NULL, NULL},
    {"otlp-timeout", T_INT, F(otlp_timeout_ms), 0, 1, 600000, 0, NULL, NULL, NULL},
    {"otlp-sample-ratio", T_SPECIAL, NULL, 0, 0, 0, 0, NULL, trace_config_set_sample_ratio, trace_config_get_sample_ratio},
    {"reqlog-max-len", T_LL, F(reqlog_max_len), 0, 0, 100000000, 0, NULL, NULL, NULL},
    {"reqlog-max-bytes", T_MEM, F(reqlog_max_bytes), 0, 0, LLONG_MAX, 0, NULL, NULL, NULL},
    {"reqlog-max-field", T_MEM, F(reqlog_max_field), 0, 0, 64 * 1024 * 1024, 0, NULL, NULL, NULL},
    {"reqlog-file", T_STR, F(reqlog_file), sizeof g_cfg.reqlog_file, 0, 0, O_IMMUTABLE, NULL, NULL, NULL},
    {"reqlog-file-buffer", T_MEM, F(reqlog_file_buffer), 0, 4096, LLONG_MAX, O_IMMUTABLE, NULL, NULL, NULL},
    {"user", T_SPECIAL, NULL, 0, 0, 0, O_IMMUTABLE, NULL, set_user, NULL},
    {"price", T_SPECIAL, NULL, 0, 0, 0, O_IMMUTABLE, NULL, set_price, NULL},
};
#undef F
#define NOPTS (sizeof opts / sizeof opts[0])

void config_init(void) {
    memset(&g_cfg, 0, sizeof g_cfg);
    snprintf(g_cfg.bind, sizeof g_cfg.bind, "127.0.0.1");
    snprintf(g_cfg.metrics_bind, sizeof g_cfg.metrics_bind, "127.0.0.1");
    g_cfg.metrics_max_label_sets = 1000;
    g_cfg.port = 6380;
    g_cfg.unixsocketperm = 0700;
    g_cfg.tcp_backlog = 511;
    g_cfg.tcp_keepalive = 300;
    g_cfg.protected_mode = 1;
    g_cfg.vset_inline_idle = 0;
    g_cfg.maxclients = 10000;
    g_cfg.proto_max_bulk_len = REQ_DEFAULT_MAX_BULK;
    g_cfg.client_query_buffer_limit = 1024LL * 1024 * 1024;
    g_cfg.client_output_buffer_limit = 64LL * 1024 * 1024;
    g_cfg.client_output_buffer_soft_limit = 16LL * 1024 * 1024;
    g_cfg.client_output_buffer_soft_seconds = 60;
    g_cfg.preauth_timeout_ms = 10000;
    g_cfg.maxmemory_policy = MAXMEMORY_NOEVICTION;
    g_cfg.maxmemory_samples = 5;
    g_cfg.embed_cache_bytes = 16LL * 1024 * 1024;
    g_cfg.cache_index_queue = 100000;
    g_cfg.hz = 10;
    g_cfg.active_expire_effort = 1;
    g_cfg.slowlog_log_slower_than = 10000;
    g_cfg.slowlog_max_len = 128;
    snprintf(g_cfg.loglevel, sizeof g_cfg.loglevel, "notice");
    snprintf(g_cfg.otlp_service_name, sizeof g_cfg.otlp_service_name, "simcache");
    g_cfg.otlp_batch_size = 512;
    g_cfg.otlp_flush_interval_ms = 1000;
    g_cfg.otlp_max_queue = 2048;
    g_cfg.otlp_timeout_ms = 2000;
    g_cfg.reqlog_max_len = 1024;
    g_cfg.reqlog_max_bytes = 16LL * 1024 * 1024;
    g_cfg.reqlog_max_field = 1024;
    g_cfg.reqlog_file_buffer = 4LL * 1024 * 1024;
    g_cfg.databases = 1;
    memset(users, 0, sizeof users);
    nusers = 0;
    memset(prices, 0, sizeof prices);
    nprices = 0;
}

static const opt *opt_find(const char *name) {
    for (size_t i = 0; i < NOPTS; i++)
        if (!strcasecmp(opts[i].name, name)) return &opts[i];
    return NULL;
}

/* Applies argv to option o. 0, or -1 with the reason in err. */
static int opt_apply(const opt *o, int argc, char **argv, char *err, size_t errlen) {
    if (o->type == T_SPECIAL) return o->set(argc, argv, err, errlen);
    if (argc != 1) return snprintf(err, errlen, "wrong number of arguments"), -1;
    const char *v = argv[0];
    long long n = 0;
    int ok = 1;
    switch (o->type) {
    case T_BOOL: {
        int b = parse_bool(v);
        if (b < 0) return snprintf(err, errlen, "argument must be 'yes' or 'no'"), -1;
        if ((o->flags & O_COMPAT) && b != 0)
            return snprintf(err, errlen, "simcache has no append-only file"), -1;
        *(int *)o->ptr = b;
        return 0;
    }
    case T_STR:
        if (strlen(v) >= o->size) return snprintf(err, errlen, "argument too long"), -1;
        if ((o->flags & O_COMPAT) && v[0])
            return snprintf(err, errlen, "simcache does not write RDB snapshots"), -1;
        snprintf((char *)o->ptr, o->size, "%s", v);
        return 0;
    case T_ENUM:
        for (int i = 0; o->enum_names[i]; i++)
            if (!strcasecmp(o->enum_names[i], v)) {
                *(int *)o->ptr = i;
                return 0;
            }
        {
            size_t off = (size_t)snprintf(err, errlen, "argument(s) must be one of the following: ");
            const char *const *names =
                o->enum_names == policy_names ? policy_names_redis_order : o->enum_names;
            for (int i = 0; names[i] && off < errlen; i++)
                off += (size_t)snprintf(err + off, errlen - off, "%s%s", i ? ", " : "",
                                        names[i]);
        }
        return -1;
    case T_MEM:
        n = config_parse_memory(v, &ok);
        if (!ok) return snprintf(err, errlen, "argument must be a memory value"), -1;
        break;
    case T_OCTAL: {
        char *end;
        errno = 0;
        n = strtoll(v, &end, 8);
        if (errno || *end || end == v)
            return snprintf(err, errlen, "argument couldn't be parsed into an integer"), -1;
        break;
    }
    default:
        if (parse_ll(v, &n) != 0)
            return snprintf(err, errlen, "argument couldn't be parsed into an integer"), -1;
    }
    if (n < o->min || n > o->max) {
        if (o->type == T_MEM)
            snprintf(err, errlen, "argument must be between %lld and %lld inclusive",
                     o->min, o->max);
        else
            snprintf(err, errlen, "argument must be between %lld and %lld inclusive",
                     o->min, o->max);
        return -1;
    }
    if (o->type == T_INT || o->type == T_OCTAL)
        *(int *)o->ptr = (int)n;
    else
        *(long long *)o->ptr = n;
    return 0;
}

static void opt_format(const opt *o, char *buf, size_t cap) {
    switch (o->type) {
    case T_BOOL: snprintf(buf, cap, "%s", *(int *)o->ptr ? "yes" : "no"); break;
    case T_INT: snprintf(buf, cap, "%d", *(int *)o->ptr); break;
    case T_OCTAL: snprintf(buf, cap, "%o", *(int *)o->ptr); break;
    case T_LL:
    case T_MEM: snprintf(buf, cap, "%lld", *(long long *)o->ptr); break;
    case T_STR: snprintf(buf, cap, "%s", (const char *)o->ptr); break;
    case T_ENUM: snprintf(buf, cap, "%s", o->enum_names[*(int *)o->ptr]); break;
    case T_SPECIAL:
        if (o->get) o->get(buf, cap);
        else if (cap) buf[0] = '\0';
        break;
    }
}

int config_set_runtime(const char *name, const char *value, char *err, size_t errlen) {
    const opt *o = opt_find(name);
    if (o == NULL || (o->get == NULL && o->type == T_SPECIAL)) return -2;
    if (o->flags & O_IMMUTABLE) {
        snprintf(err, errlen, "can't set immutable config");
        return -3;
    }
    char *argv[1] = {(char *)value};
    return opt_apply(o, 1, argv, err, errlen);
}

int config_get_matching(const char *pattern, size_t plen,
                        void (*fn)(const char *name, const char *value, void *arg),
                        void *arg) {
    int count = 0;
    char buf[600];
    for (size_t i = 0; i < NOPTS; i++) {
        const opt *o = &opts[i];
        if (o->type == T_SPECIAL && o->get == NULL) continue;   /* user: secret */
        if (!glob_match(pattern, plen, o->name, strlen(o->name), 1)) continue;
        opt_format(o, buf, sizeof buf);
        fn(o->name, buf, arg);
        count++;
    }
    return count;
}

void config_backup(sc_config *out) { *out = g_cfg; }
void config_restore(const sc_config *in) { g_cfg = *in; }

/* ---- file parsing ---- */

static int hexval(int ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    ch = tolower(ch);
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
}

/* Splits a line in place into at most `max` words (sdssplitargs rules).
 * Returns the count, or -1 for unbalanced quotes. */
static int split_args(char *line, char **argv, int max) {
    int argc = 0;
    char *p = line;
    for (;;) {
        while (*p && isspace((unsigned char)*p)) p++;
        if (*p == '\0') return argc;
        if (argc == max) return -1;
        char *out = p, *start = p;
        int inq = 0, insq = 0, done = 0;
        while (!done) {
            if (inq) {
                if (*p == '\0') return -1;
                if (p[0] == '\\' && p[1] == 'x' && hexval(p[2]) >= 0 && hexval(p[3]) >= 0) {
                    *out++ = (char)(hexval(p[2]) * 16 + hexval(p[3]));
                    p += 3;
                } else if (p[0] == '\\' && p[1]) {
                    p++;
                    char ch = *p;
                    *out++ = ch == 'n' ? '\n' : ch == 'r' ? '\r' : ch == 't' ? '\t'
                           : ch == 'b' ? '\b' : ch == 'a' ? '\a' : ch;
                } else if (*p == '"') {
                    if (p[1] && !isspace((unsigned char)p[1])) return -1;
                    done = 1;
                } else {
                    *out++ = *p;
                }
            } else if (insq) {
                if (*p == '\0') return -1;
                if (p[0] == '\\' && p[1] == '\'') {
                    p++;
                    *out++ = '\'';
                } else if (*p == '\'') {
                    if (p[1] && !isspace((unsigned char)p[1])) return -1;
                    done = 1;
                } else {
                    *out++ = *p;
                }
            } else if (*p == '\0' || isspace((unsigned char)*p)) {
                done = 1;
                if (*p == '\0') { *out = '\0'; argv[argc++] = start; return argc; }
            } else if (*p == '"') {
                inq = 1;
            } else if (*p == '\'') {
                insq = 1;
            } else {
                *out++ = *p;
            }
            if (*p) p++;
        }
        *out = '\0';
        argv[argc++] = start;
    }
}

static char *read_stream(FILE *f) {
    char *buf = NULL;
    size_t cap = 0;
    FILE *m = open_memstream(&buf, &cap);
    if (m == NULL) return NULL;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) fwrite(chunk, 1, n, m);
    fclose(m);
    return buf;
}

static int load_text(const char *text, const char *origin, int depth, char *err, size_t errlen);

static int load_one_include(const char *path, int depth, char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "can't open include file '%s': %s", path, strerror(errno));
        return -1;
    }
    char *buf = read_stream(f);
    fclose(f);
    if (buf == NULL) return snprintf(err, errlen, "out of memory"), -1;
    int ret = load_text(buf, path, depth + 1, err, errlen);
    free(buf);
    return ret == 0 ? 0 : -2;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* `include` takes a path whose last component may be a glob pattern
 * (Redis 7); matches are loaded in sorted order, and no match is not an
 * error. libc glob(3) is not used: server/glob.h shadows <glob.h>, and our
 * glob_match has Redis's semantics anyway. */
static int load_include(const char *pattern, int depth, char *err, size_t errlen) {
    if (depth >= 16) return snprintf(err, errlen, "include nesting too deep"), -1;
    const char *slash = strrchr(pattern, '/');
    const char *base = slash ? slash + 1 : pattern;
    if (strpbrk(base, "*?[") == NULL) return load_one_include(pattern, depth, err, errlen);
    char dir[PATH_MAX];
    if (slash) snprintf(dir, sizeof dir, "%.*s", (int)(slash - pattern), pattern);
    else snprintf(dir, sizeof dir, ".");
    if (dir[0] == '\0') snprintf(dir, sizeof dir, "/");
    DIR *d = opendir(dir);
    if (d == NULL) return 0;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int ret = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' && base[0] != '.') continue;
        if (!glob_match(base, strlen(base), de->d_name, strlen(de->d_name), 0)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            char **nn = realloc(names, cap * sizeof *names);
            if (nn == NULL) { ret = -1; break; }
            names = nn;
        }
        names[n] = malloc(strlen(dir) + strlen(de->d_name) + 2);
        if (names[n] == NULL) { ret = -1; break; }
        sprintf(names[n], "%s/%s", dir, de->d_name);
        n++;
    }
    closedir(d);
    if (ret != 0) snprintf(err, errlen, "out of memory");
    else if (n) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (ret == 0) ret = load_one_include(names[i], depth, err, errlen);
        free(names[i]);
    }
    free(names);
    return ret;
}

static int load_text(const char *text, const char *origin, int depth, char *err, size_t errlen) {
    int lineno = 0;
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        lineno++;
        char *line = malloc(n + 1);
        if (line == NULL) return snprintf(err, errlen, "out of memory"), -1;
        memcpy(line, p, n);
        line[n] = '\0';
        if (n && line[n - 1] == '\r') line[n - 1] = '\0';
        char orig[256];
        snprintf(orig, sizeof orig, "%s", line);
        char *argv[32];
        char *s = line;
        while (isspace((unsigned char)*s)) s++;
        int argc = (*s == '#' || *s == '\0') ? 0 : split_args(s, argv, 32);
        char reason[256] = "";
        int bad = 0;
        if (argc < 0) {
            snprintf(reason, sizeof reason, "Unbalanced quotes in configuration line");
            bad = 1;
        } else if (argc > 0) {
            if (!strcasecmp(argv[0], "include")) {
                if (argc != 2) {
                    snprintf(reason, sizeof reason, "include needs one argument");
                    bad = 1;
                } else {
                    int rc = load_include(argv[1], depth, err, errlen);
                    if (rc == -2) {          /* nested file error: already formatted */
                        free(line);
                        return -1;
                    }
                    if (rc != 0) {
                        snprintf(reason, sizeof reason, "%s", err);
                        bad = 1;
                    }
                }
            } else if (!strcasecmp(argv[0], "provider")) {   /* provider.c owns the syntax */
                if (provider_config_line(argc - 1, argv + 1, reason, sizeof reason) != 0) bad = 1;
            } else {
                const opt *o = opt_find(argv[0]);
                if (o == NULL) {
                    snprintf(reason, sizeof reason, "Bad directive or wrong number of arguments");
                    bad = 1;
                } else if (opt_apply(o, argc - 1, argv + 1, reason, sizeof reason) != 0) {
                    bad = 1;
                }
            }
        }
        free(line);
        if (bad) {
            snprintf(err, errlen, "Reading the configuration file (%s), at line %d\n>>> '%s'\n%s",
                     origin, lineno, orig, reason);
            return -1;
        }
        if (!eol) break;
        p = eol + 1;
    }
    return 0;
}

int config_load_string(const char *text, const char *origin, char *err, size_t errlen) {
    return load_text(text, origin, 0, err, errlen);
}

int config_load_file(const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "Fatal error, can't open config file '%s': %s", path,
                 strerror(errno));
        return -1;
    }
    char *text = read_stream(f);
    fclose(f);
    if (text == NULL) return snprintf(err, errlen, "out of memory"), -1;
    int rc = load_text(text, path, 0, err, errlen);
    free(text);
    if (rc == 0) {
        char abs[PATH_MAX];
        if (realpath(path, abs) && strlen(abs) < sizeof g_cfg.config_file)
            memcpy(g_cfg.config_file, abs, strlen(abs) + 1);
    }
    return rc;
}

/* Appends s to the text buffer, quoting it so split_args gives it back. */
static void text_append_arg(FILE *m, const char *s) {
    fputc('"', m);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(m, "\\%c", ch);
        else if (ch < 32 || ch == 127) fprintf(m, "\\x%02x", ch);
        else fputc(ch, m);
    }
    fputc('"', m);
}

int config_from_argv(int argc, char **argv, char *err, size_t errlen) {
    int i = 1;
    if (i < argc && (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--version"))) {
        printf("simcache server v=%s redis_compat=7.0.0\n", SIMCACHE_VERSION);
        return 1;
    }
    if (i < argc && (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))) {
        printf("Usage: simcache-server [/path/to/simcache.conf] [options] [-]\n"
               "       simcache-server -v or --version\n"
               "       simcache-server -h or --help\n\n"
               "Options are configuration directives prefixed by '--', applied after\n"
               "the file (the last occurrence wins). '-' reads configuration from stdin.\n"
               "Examples:\n"
               "       simcache-server --port 7777\n"
               "       simcache-server /etc/simcache.conf --loglevel verbose\n"
               "       echo 'port 7777' | simcache-server -\n");
        return 1;
    }
    if (i < argc && argv[i][0] != '-') {
        if (config_load_file(argv[i], err, errlen) != 0) return -1;
        i++;
    }
    char *text = NULL;
    size_t tlen = 0;
    FILE *m = open_memstream(&text, &tlen);
    if (m == NULL) return snprintf(err, errlen, "out of memory"), -1;
    int read_stdin = 0;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "-")) {
            read_stdin = 1;
        } else if (argv[i][0] == '-' && argv[i][1] == '-' && argv[i][2]) {
            fprintf(m, "\n%s", argv[i] + 2);
        } else {
            fputc(' ', m);
            text_append_arg(m, argv[i]);
        }
    }
    fputc('\n', m);
    fclose(m);
    int rc = 0;
    if (read_stdin) {
        char *in = read_stream(stdin);
        if (in) {
            rc = load_text(in, "stdin", 0, err, errlen);
            free(in);
        }
    }
    if (rc == 0) rc = load_text(text, "command line", 0, err, errlen);
    free(text);
    return rc;
}
