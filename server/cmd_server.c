/* cmd_server.c -- server commands: INFO, CONFIG GET/SET/RESETSTAT, DBSIZE,
 * FLUSHALL/FLUSHDB, TIME, SLOWLOG and SHUTDOWN.
 *
 * INFO uses Redis's field names so that tools parsing them keep working
 * (redis_version reports the Redis version whose protocol and replies we
 * follow, simcache_version our own); the keyspace sections come from
 * keyspace.c (ks_info_*), command statistics from commands.c. INFO is a
 * verbatim string in RESP3, a bulk string in RESP2, as in Redis 7. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cache.h"
#include "cmd_handlers.h"
#include "commands.h"
#include "config.h"
#include "errors.h"
#include "info.h"
#include "keyspace.h"
#include "log.h"
#include "net.h"
#include "reply.h"
#include "sbuf.h"
#include "slowlog.h"
#include "stats.h"
#include "strconv.h"

/* ---- INFO ---- */

static char run_id[41];

static void info_server(sbuf *o) {
    if (!run_id[0]) {
        static const char hex[] = "0123456789abcdef";
        unsigned seed = (unsigned)(net_now_ms() ^ (uint64_t)getpid());
        for (int i = 0; i < 40; i++) run_id[i] = hex[rand_r(&seed) & 15];
    }
    struct utsname u;
    if (uname(&u) != 0) memset(&u, 0, sizeof u);
    uint64_t now = net_now_ms();
    uint64_t up = (now - g_stats.start_ms) / 1000;
    char exe[512] = "";
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) exe[n] = '\0';
    sbuf_printf(o,
                "# Server\r\n"
                "redis_version:%s\r\n"
                "simcache_version:%s\r\n"
                "redis_mode:standalone\r\n"
                "os:%s %s %s\r\n"
                "arch_bits:%d\r\n"
                "multiplexing_api:libuv %s\r\n"
                "process_id:%d\r\n"
                "run_id:%s\r\n"
                "tcp_port:%d\r\n"
                "server_time_usec:%llu\r\n"
                "uptime_in_seconds:%llu\r\n"
                "uptime_in_days:%llu\r\n"
                "hz:%d\r\n"
                "executable:%s\r\n"
                "config_file:%s\r\n",
                SIMCACHE_REDIS_COMPAT_VERSION, SIMCACHE_VERSION, u.sysname, u.release, u.machine,
                (int)(sizeof(void *) * 8), uv_version_string(), (int)getpid(), run_id,
                net_tcp_port(), (unsigned long long)now * 1000, (unsigned long long)up,
                (unsigned long long)(up / 86400), g_cfg.hz, exe, g_cfg.config_file);
}

static void info_clients(sbuf *o) {
    sbuf_printf(o,
                "# Clients\r\n"
                "connected_clients:%ld\r\n"
                "maxclients:%lld\r\n"
                "blocked_clients:%ld\r\n",
                net_clients_count(), g_cfg.maxclients, net_blocked_count());
}

static void info_stats(sbuf *o) {
    sbuf_printf(o,
                "# Stats\r\n"
                "total_connections_received:%llu\r\n"
                "total_commands_processed:%llu\r\n"
                "instantaneous_ops_per_sec:%llu\r\n"
                "total_net_input_bytes:%llu\r\n"
                "total_net_output_bytes:%llu\r\n"
                "rejected_connections:%llu\r\n"
                "total_error_replies:%llu\r\n"
                "client_query_buffer_limit_disconnections:%llu\r\n"
                "client_output_buffer_limit_disconnections:%llu\r\n"
                "protocol_errors:%llu\r\n"
                "timeout_disconnections:%llu\r\n"
                "protected_mode_denied_connections:%llu\r\n",
                (unsigned long long)g_stats.total_connections_received,
                (unsigned long long)g_stats.total_commands_processed,
                (unsigned long long)stats_instantaneous_ops(),
                (unsigned long long)g_stats.total_net_input_bytes,
                (unsigned long long)g_stats.total_net_output_bytes,
                (unsigned long long)g_stats.rejected_connections,
                (unsigned long long)g_stats.total_error_replies,
                (unsigned long long)g_stats.client_query_limit_disconnections,
                (unsigned long long)g_stats.client_output_limit_disconnections,
                (unsigned long long)g_stats.protocol_errors,
                (unsigned long long)g_stats.timeout_disconnections,
                (unsigned long long)g_stats.denied_connections);
    ks_info_stats(o);
}

typedef struct info_section {
    const char *name;
    void (*fn)(sbuf *o);
    int is_default;      /* part of INFO / INFO default */
} info_section;

static void info_memory(sbuf *o) {
    sbuf_puts(o, "# Memory\r\n");
    ks_info_memory(o);
}
static void info_replication(sbuf *o) {
    sbuf_puts(o, "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n");
}
static void info_cluster(sbuf *o) { sbuf_puts(o, "# Cluster\r\ncluster_enabled:0\r\n"); }
static void info_keyspace(sbuf *o) {
    sbuf_puts(o, "# Keyspace\r\n");
    ks_info_keyspace(o);
}
static void info_commandstats(sbuf *o) {
    sbuf_puts(o, "# Commandstats\r\n");
    commands_info_stats(o);
}

static const info_section sections[] = {
    {"server", info_server, 1},         {"clients", info_clients, 1},
    {"memory", info_memory, 1},         {"stats", info_stats, 1},
    {"replication", info_replication, 1}, {"cluster", info_cluster, 1},
    {"keyspace", info_keyspace, 1},     {"commandstats", info_commandstats, 0},
};
#define NSECTIONS (sizeof sections / sizeof sections[0])

/* Extension point (info.h): sections registered at start-up by modules
 * outside the core (vector sets), listed after the built-in ones. */
#define MAX_EXTRA_SECTIONS 8
static info_section extra_sections[MAX_EXTRA_SECTIONS];
static size_t nextra;

int info_register_section(const char *name, void (*fn)(sbuf *o), int is_default) {
    if (nextra == MAX_EXTRA_SECTIONS) return -1;
    extra_sections[nextra++] = (info_section){name, fn, is_default};
    return 0;
}

static const info_section *section_at(size_t i) {
    return i < NSECTIONS ? &sections[i] : &extra_sections[i - NSECTIONS];
}

void cmd_info(client *c) {
    size_t total = NSECTIONS + nextra;
    int want[NSECTIONS + MAX_EXTRA_SECTIONS] = {0};
    if (c->argc == 1) {
        for (size_t i = 0; i < total; i++) want[i] = section_at(i)->is_default;
    }
    for (int a = 1; a < c->argc; a++) {
        const char *s = c->argv[a].ptr;
        int all = !strcasecmp(s, "all") || !strcasecmp(s, "everything");
        for (size_t i = 0; i < total; i++) {
            if (all || !strcasecmp(s, section_at(i)->name) ||
                (!strcasecmp(s, "default") && section_at(i)->is_default))
                want[i] = 1;
        }
    }
    sbuf o = SBUF_INIT;
    int first = 1;
    for (size_t i = 0; i < total; i++) {
        if (!want[i]) continue;
        if (!first) sbuf_puts(&o, "\r\n");
        first = 0;
        section_at(i)->fn(&o);
    }
    if (o.oom) reply_error(c, "ERR out of memory");
    else reply_verbatim(c, sbuf_cstr(&o), o.len, "txt");
    sbuf_free(&o);
}

/* ---- CONFIG ---- */

typedef struct get_ctx {
    client *c;
    const char *asked;       /* the name as the client wrote it, if not a pattern */
    const char *seen[64];
    int nseen;
    long n;
} get_ctx;

static void config_get_cb(const char *name, const char *value, void *arg) {
    get_ctx *g = arg;
    for (int i = 0; i < g->nseen; i++)
        if (g->seen[i] == name) return;          /* matched by an earlier pattern */
    if (g->nseen < 64) g->seen[g->nseen++] = name;
    reply_bulk_cstr(g->c, g->asked ? g->asked : name);   /* Redis echoes exact names */
    reply_bulk_cstr(g->c, value);
    g->n++;
}

void cmd_config_get(client *c) {
    get_ctx g = {.c = c};
    reply_deferred *d = reply_deferred_begin(c);
    for (int i = 2; i < c->argc; i++) {
        g.asked = strpbrk(c->argv[i].ptr, "*?[") ? NULL : c->argv[i].ptr;
        config_get_matching(c->argv[i].ptr, c->argv[i].len, config_get_cb, &g);
    }
    reply_deferred_map(c, d, g.n);
}

void cmd_config_set(client *c) {
    if ((c->argc - 2) % 2 != 0) {
        reply_error_arity(c, "config|set");
        return;
    }
    for (int i = 2; i < c->argc; i += 2)
        for (int j = 2; j < i; j += 2)
            if (!strcasecmp(c->argv[i].ptr, c->argv[j].ptr)) {
                reply_errorf(c, "ERR CONFIG SET failed (possibly related to argument "
                             "'%.128s') - duplicate parameter", c->argv[i].ptr);
                return;
            }
    sc_config *backup = malloc(sizeof *backup);
    if (backup == NULL) {
        reply_error(c, "ERR out of memory");
        return;
    }
    config_backup(backup);
    for (int i = 2; i < c->argc; i += 2) {
        char err[256] = "";
        int rc = config_set_runtime(c->argv[i].ptr, c->argv[i + 1].ptr, err, sizeof err);
        if (rc == 0) continue;
        config_restore(backup);
        free(backup);
        if (rc == -2)
            reply_errorf(c, "ERR Unknown option or number of arguments for CONFIG SET - "
                         "'%.128s'", c->argv[i].ptr);
        else
            reply_errorf(c, "ERR CONFIG SET failed (possibly related to argument '%.128s') - %s",
                         c->argv[i].ptr, err);
        return;
    }
    free(backup);
    if (g_cfg.maxmemory > 0) ks_evict_if_needed();   /* as Redis: apply a lower limit now */
    reply_ok(c);
}

void cmd_config_resetstat(client *c) {
    stats_reset();
    commands_reset_stats();
    ks_reset_stats();
    reply_ok(c);
}

/* ---- keyspace-wide ---- */

void cmd_dbsize(client *c) { reply_integer(c, (long long)ks_dbsize()); }

void cmd_flushall(client *c) {
    int async = 0;
    if (c->argc == 2 && !strcasecmp(c->argv[1].ptr, "async")) async = 1;
    else if (c->argc == 2 && !strcasecmp(c->argv[1].ptr, "sync")) async = 0;
    else if (c->argc != 1) {
        reply_error_syntax(c);
        return;
    }
    ks_flushall(async);
    cache_flushall();   /* empties every cache namespace (definitions stay) */
    reply_ok(c);
}

void cmd_time(client *c) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    reply_array(c, 2);
    reply_bulk_ll(c, (long long)tv.tv_sec);
    reply_bulk_ll(c, (long long)tv.tv_usec);
}

/* ---- SLOWLOG ---- */

void cmd_slowlog_get(client *c) {
    long long n = 10;
    if (c->argc > 3) {
        reply_error_syntax(c);
        return;
    }
    if (c->argc == 3 && (strconv_ll(c->argv[2].ptr, c->argv[2].len, &n) != 0 || n < -1)) {
        reply_error(c, "ERR count should be greater than or equal to -1");
        return;
    }
    slowlog_reply(c, n < 0 ? -1 : (long)n);
}

void cmd_slowlog_len(client *c) { reply_integer(c, slowlog_len()); }

void cmd_slowlog_reset(client *c) {
    slowlog_reset();
    reply_ok(c);
}

/* ---- SHUTDOWN ---- */

void cmd_shutdown(client *c) {
    for (int i = 1; i < c->argc; i++) {
        const char *a = c->argv[i].ptr;
        if (!strcasecmp(a, "nosave") || !strcasecmp(a, "now") || !strcasecmp(a, "force")) {
            continue;
        } else if (!strcasecmp(a, "save")) {
            log_msg(LL_WARNING, "SHUTDOWN SAVE refused: simcache has no persistence to save to");
            reply_error(c, ERR_SHUTDOWN);
            return;
        } else if (!strcasecmp(a, "abort")) {
            reply_error(c, "ERR No shutdown in progress.");
            return;
        } else {
            reply_error_syntax(c);
            return;
        }
    }
    log_msg(LL_WARNING, "User requested shutdown...");
    /* No reply, as Redis: the connection closes when the server stops. */
    client_close_after_reply(c);
    net_request_shutdown();
}
