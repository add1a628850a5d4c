/* commands.c -- the command table, dispatch, per-command statistics and the
 * introspection commands generated from the table (COMMAND, COMMAND DOCS,
 * COMMAND INFO, COMMAND LIST, COMMAND COUNT, <container> HELP).
 *
 * Design decisions:
 * 1. One static const table (`command_table`); container commands (CONFIG,
 *    CLIENT, COMMAND, SLOWLOG) carry a static const subcommand table. The
 *    only mutable state is the statistics array, parallel to the table,
 *    and a lookup index built once by commands_init().
 * 2. Lookup is an open-addressing hash over the length and four lowercased bytes (the table
 *    is small; 1024 slots keep probes short), so a request costs one hash
 *    of argv[0], a length check and one case-folding compare through a
 *    256-byte table (no strlen, tolower or strncasecmp calls), without
 *    lowercasing argv[0] in place
 *    (the argument bytes belong to the query buffer and are echoed in
 *    errors as the client sent them).
 * 3. Dispatch order: unknown command, arity, authentication, unknown
 *    subcommand and its arity, memory (DENYOOM under maxmemory), then the
 *    handler. Permission: CMD_ADMIN and CMD_ROLE_ADMIN (FLUSHALL, FLUSHDB) need the
 *    admin role (tenant_may_run in tenant.c; the default user is admin).
 * 4. Timing uses CLOCK_MONOTONIC around each handler, read through the TSC
 *    where the kernel's clocksource is the TSC (see tsc_anchor: 9 ns
 *    instead of the vDSO's 21 ns), for cmdstat usec and the slow log; failed_calls counts handlers that
 *    replied with an error (total_error_replies moved), rejected_calls
 *    requests refused before the handler, as Redis 7 defines them. */
#include "commands.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cmd_handlers.h"
#include "config.h"
#include "errors.h"
#include "glob.h"
#include "keyspace.h"
#include "net.h"
#include "reply.h"
#include "sbuf.h"
#include "reqlog.h"
#include "slowlog.h"
#include "stats.h"
#include "tenant.h"

/* ---- argument docs ---- */

#define ARG(n, t) {n, t, NULL, 0, 0}
#define OPT(n, t) {n, t, NULL, 1, 0}
#define TOK(n, tok) {n, "pure-token", tok, 1, 0}
#define MULTI(n, t) {n, t, NULL, 0, 1}
#define OPTMULTI(n, t) {n, t, NULL, 1, 1}
#define END {NULL, NULL, NULL, 0, 0}

static const command_arg_doc args_message[] = {OPT("message", "string"), END};
static const command_arg_doc args_echo[] = {ARG("message", "string"), END};
static const command_arg_doc args_hello[] = {
    OPT("protover", "integer"), {"username", "string", "AUTH", 1, 0}, OPT("password", "string"),
    {"clientname", "string", "SETNAME", 1, 0}, END};
static const command_arg_doc args_auth[] = {OPT("username", "string"),
                                            ARG("password", "string"), END};
static const command_arg_doc args_select[] = {ARG("index", "integer"), END};
static const command_arg_doc args_setname[] = {ARG("connection-name", "string"), END};
static const command_arg_doc args_setinfo[] = {
    {"libname", "string", "LIB-NAME", 0, 0}, {"libver", "string", "LIB-VER", 0, 0}, END};
static const command_arg_doc args_client_list[] = {
    {"id", "integer", "ID", 1, 1}, END};
static const command_arg_doc args_client_kill[] = {
    OPT("ip:port", "string"), {"client-id", "integer", "ID", 1, 0},
    {"ip:port", "string", "ADDR", 1, 0}, END};
static const command_arg_doc args_names[] = {OPTMULTI("command-name", "string"), END};
static const command_arg_doc args_section[] = {OPTMULTI("section", "string"), END};
static const command_arg_doc args_config_get[] = {MULTI("parameter", "pattern"), END};
static const command_arg_doc args_config_set[] = {MULTI("parameter", "string"),
                                                  MULTI("value", "string"), END};
static const command_arg_doc args_flush[] = {
    {"async", "pure-token", "ASYNC", 1, 0}, {"sync", "pure-token", "SYNC", 1, 0}, END};
static const command_arg_doc args_count[] = {OPT("count", "integer"), END};
static const command_arg_doc args_shutdown[] = {
    {"nosave", "pure-token", "NOSAVE", 1, 0}, {"save", "pure-token", "SAVE", 1, 0}, END};
static const command_arg_doc args_filterby[] = {
    {"filterby", "string", "FILTERBY", 1, 0}, END};

/* keyspace commands (sc/keyspace: cmd_string.c, cmd_keys.c) */
static const command_arg_doc args_key[] = {ARG("key", "key"), END};
static const command_arg_doc args_keys_multi[] = {MULTI("key", "key"), END};
static const command_arg_doc args_set[] = {
    /* Flat (no "oneof" blocks without sub-arguments: redis-cli 7.0 crashes
     * on those while building its hints). */
    ARG("key", "key"), ARG("value", "string"), TOK("nx", "NX"), TOK("xx", "XX"),
    TOK("get", "GET"), {"seconds", "integer", "EX", 1, 0},
    {"milliseconds", "integer", "PX", 1, 0}, {"unix-time-seconds", "unix-time", "EXAT", 1, 0},
    {"unix-time-milliseconds", "unix-time", "PXAT", 1, 0}, TOK("keepttl", "KEEPTTL"), END};
static const command_arg_doc args_key_value[] = {ARG("key", "key"), ARG("value", "string"), END};
static const command_arg_doc args_setex[] = {ARG("key", "key"), ARG("seconds", "integer"),
                                             ARG("value", "string"), END};
static const command_arg_doc args_psetex[] = {ARG("key", "key"),
                                              ARG("milliseconds", "integer"),
                                              ARG("value", "string"), END};
static const command_arg_doc args_getex[] = {
    ARG("key", "key"), {"seconds", "integer", "EX", 1, 0},
    {"milliseconds", "integer", "PX", 1, 0}, {"unix-time-seconds", "unix-time", "EXAT", 1, 0},
    {"unix-time-milliseconds", "unix-time", "PXAT", 1, 0}, TOK("persist", "PERSIST"), END};
static const command_arg_doc args_pairs[] = {MULTI("key value", "string"), END};
static const command_arg_doc args_getrange[] = {ARG("key", "key"), ARG("start", "integer"),
                                               ARG("end", "integer"), END};
static const command_arg_doc args_setrange[] = {ARG("key", "key"), ARG("offset", "integer"),
                                               ARG("value", "string"), END};
static const command_arg_doc args_incrby[] = {ARG("key", "key"), ARG("increment", "integer"), END};
static const command_arg_doc args_decrby[] = {ARG("key", "key"), ARG("decrement", "integer"), END};
static const command_arg_doc args_expire[] = {
    ARG("key", "key"), ARG("time", "integer"), TOK("nx", "NX"), TOK("xx", "XX"),
    TOK("gt", "GT"), TOK("lt", "LT"), END};
static const command_arg_doc args_scan[] = {
    ARG("cursor", "integer"), {"pattern", "pattern", "MATCH", 1, 0},
    {"count", "integer", "COUNT", 1, 0}, {"type", "string", "TYPE", 1, 0}, END};
static const command_arg_doc args_pattern[] = {ARG("pattern", "pattern"), END};
static const command_arg_doc args_memory_usage[] = {
    ARG("key", "key"), {"count", "integer", "SAMPLES", 1, 0}, END};

static const command_arg_doc args_cache_create[] = {
    ARG("namespace", "string"), {"embedder", "string", "EMBEDDER", 1, 0},
    {"threshold", "double", "THRESHOLD", 1, 0}, {"seconds", "integer", "TTL", 1, 0},
    {"grace", "integer", "GRACE", 1, 0}, {"m", "integer", "M", 1, 0},
    {"ef", "integer", "EF", 1, 0}, {"dim", "integer", "DIM", 1, 0},
    {"quant", "oneof", "QUANT f32|QUANT int8", 1, 0},
    {"codes", "oneof", "CODES int4|CODES int8|CODES none", 1, 0},
    {"exact-below", "integer", "EXACT-BELOW", 1, 0}, {"widen", "integer", "WIDEN", 1, 0},
    TOK("allow-lower", "ALLOW-LOWER"),
    {"v", "string", "PROMPT-VERSION", 1, 0}, {"v", "string", "MODEL-VERSION", 1, 0},
    {"v", "string", "TOOLS-VERSION", 1, 0},
    {"on-budget", "oneof", "ON-BUDGET stale|ON-BUDGET lower-threshold t", 1, 0},
    {"tenant", "string", "TENANT", 1, 0}, END};
static const command_arg_doc args_cache_ns[] = {
    ARG("namespace", "string"), {"tenant", "string", "TENANT", 1, 0}, END};
static const command_arg_doc args_cache_list[] = {{"tenant", "string", "TENANT", 1, 0}, END};
static const command_arg_doc args_cache_put[] = {
    ARG("namespace", "string"), ARG("prompt", "string"), ARG("response", "string"),
    {"seconds", "integer", "TTL", 1, 0},
    {"cost", "oneof", "COST usd|TOKENS in out MODEL m", 1, 0},
    {"model", "string", "MODEL", 1, 0}, {"json", "string", "PARAMS", 1, 0},
    {"json", "string", "META", 1, 0}, {"tenant", "string", "TENANT", 1, 0},
    {"user", "string", "USER", 1, 0},
    {"traceparent", "string", "TRACEPARENT", 1, 0}, END};
static const command_arg_doc args_cache_get[] = {
    ARG("namespace", "string"), ARG("prompt", "string"),
    {"threshold", "double", "THRESHOLD", 1, 0}, TOK("stale", "STALE"),
    {"ms", "integer", "WAIT", 1, 0}, TOK("withmeta", "WITHMETA"),
    {"tenant", "string", "TENANT", 1, 0}, {"user", "string", "USER", 1, 0},
    {"traceparent", "string", "TRACEPARENT", 1, 0}, END};
static const command_arg_doc args_cache_search[] = {
    ARG("namespace", "string"), ARG("prompt", "string"), {"k", "integer", "COUNT", 1, 0},
    {"tenant", "string", "TENANT", 1, 0}, {"traceparent", "string", "TRACEPARENT", 1, 0}, END};
static const command_arg_doc args_cache_log_get[] = {
    OPT("count", "integer"), {"namespace", "string", "NS", 1, 0},
    {"tenant", "string", "TENANT", 1, 0}, END};
static const command_arg_doc args_cache_log_len[] = {{"tenant", "string", "TENANT", 1, 0}, END};
static const command_arg_doc args_cache_del[] = {
    ARG("namespace", "string"), ARG("id", "integer"), {"tenant", "string", "TENANT", 1, 0},
    END};
/* aliases and canaries (sc/canary: cmd_canary.c) */
static const command_arg_doc args_cache_alias[] = {
    ARG("alias", "string"), ARG("namespace", "string"), {"tenant", "string", "TENANT", 1, 0},
    END};
static const command_arg_doc args_cache_unalias[] = {
    ARG("alias", "string"), {"tenant", "string", "TENANT", 1, 0}, END};
static const command_arg_doc args_cache_canary[] = {
    /* CACHE.CANARY alias namespace PERCENT p [STICKY-BY ...] starts a run;
     * CACHE.CANARY alias OFF|PROMOTE|ROLLBACK|INFO|GUARD ... acts on it */
    ARG("alias", "string"), OPT("namespace", "string"),
    {"action", "oneof", "OFF|PROMOTE|ROLLBACK|INFO|GUARD|NONE", 1, 0},
    {"p", "double", "PERCENT", 1, 0},
    {"sticky-by", "oneof", "STICKY-BY user|STICKY-BY tenant|STICKY-BY prompt", 1, 0},
    {"r", "double", "MAX-BAD-RATE", 1, 0}, {"x", "double", "MIN-HIT-RATE-RATIO", 1, 0},
    {"y", "double", "MAX-LATENCY-RATIO", 1, 0}, {"n", "integer", "MIN-REQUESTS", 1, 0},
    {"tenant", "string", "TENANT", 1, 0}, END};
static const command_arg_doc args_cache_feedback[] = {
    ARG("namespace", "string"), ARG("id", "integer"),
    {"verdict", "oneof", "GOOD|BAD", 0, 0}, {"tenant", "string", "TENANT", 1, 0}, END};
static const command_arg_doc args_tenant_usage[] = {OPT("tenant", "string"), END};
static const command_arg_doc args_tenant_budget[] = {
    ARG("tenant", "string"), ARG("usd", "string"),
    {"period", "string", "PERIOD", 1, 0}, END};
/* vector sets (sc/vset: cmd_vset.c) */
static const command_arg_doc args_vadd[] = {
    ARG("key", "key"), {"reduce", "integer", "REDUCE", 1, 0},
    {"vector", "oneof", "FP32 blob|VALUES num value...", 0, 0}, ARG("element", "string"),
    TOK("cas", "CAS"), {"quant", "oneof", "NOQUANT|Q8|BIN", 1, 0},
    {"build-exploration-factor", "integer", "EF", 1, 0},
    {"attributes", "string", "SETATTR", 1, 0}, {"numlinks", "integer", "M", 1, 0}, END};
static const command_arg_doc args_vsim[] = {
    ARG("key", "key"), {"query", "oneof", "ELE element|FP32 blob|VALUES num value...", 0, 0},
    TOK("withscores", "WITHSCORES"), TOK("withattribs", "WITHATTRIBS"),
    {"count", "integer", "COUNT", 1, 0}, {"max-distance", "double", "EPSILON", 1, 0},
    {"search-exploration-factor", "integer", "EF", 1, 0},
    {"expression", "string", "FILTER", 1, 0}, {"max-filtering-effort", "integer", "FILTER-EF", 1, 0},
    TOK("truth", "TRUTH"), TOK("nothread", "NOTHREAD"), END};
static const command_arg_doc args_key_element[] = {ARG("key", "key"), ARG("element", "string"), END};
static const command_arg_doc args_vemb[] = {ARG("key", "key"), ARG("element", "string"),
                                            TOK("raw", "RAW"), END};
static const command_arg_doc args_vsetattr[] = {ARG("key", "key"), ARG("element", "string"),
                                                ARG("json", "string"), END};
static const command_arg_doc args_vrandmember[] = {ARG("key", "key"), OPT("count", "integer"), END};
static const command_arg_doc args_vrange[] = {ARG("key", "key"), ARG("start", "string"),
                                              ARG("end", "string"), OPT("count", "integer"),
                                              END};
static const command_arg_doc args_vlinks[] = {ARG("key", "key"), ARG("element", "string"),
                                              TOK("withscores", "WITHSCORES"), END};

/* rate limits (sc/limits: cmd_limit.c) */
static const command_arg_doc args_limit_set[] = {
    ARG("name", "string"), {"rate", "integer", "RATE", 0, 0}, {"seconds", "double", "PER", 0, 0},
    {"burst", "integer", "BURST", 0, 0}, {"max-waiters", "integer", "QUEUE", 1, 0},
    {"milliseconds", "integer", "MAXWAIT", 1, 0}, END};
static const command_arg_doc args_limit_take[] = {
    MULTI("name", "string"), {"tokens", "integer", "COST", 1, 0},
    {"milliseconds", "integer", "WAIT", 1, 0}, END};
static const command_arg_doc args_limit_name[] = {ARG("name", "string"), END};
static const command_arg_doc args_limit_names[] = {MULTI("name", "string"), END};
static const command_arg_doc args_limit_list[] = {OPT("pattern", "pattern"), END};
static const command_arg_doc args_cl_throttle[] = {
    ARG("key", "key"), ARG("max_burst", "integer"), ARG("count_per_period", "integer"),
    ARG("period", "integer"), OPT("quantity", "integer"), END};

#define FAST CMD_FAST
#define NOAUTH CMD_NOAUTH
#define STALE CMD_STALE
#define LOADING CMD_LOADING

static const command client_subcommands[] = {
    {"id", cmd_client_id, 2, FAST, 0, 0, 0, "connection", "0.1.0",
     "Returns the unique client ID of the connection.", "O(1)", NULL, NULL},
    {"setname", cmd_client_setname, 3, FAST, 0, 0, 0, "connection", "0.1.0",
     "Sets the connection name.", "O(1)", args_setname, NULL},
    {"getname", cmd_client_getname, 2, FAST, 0, 0, 0, "connection", "0.1.0",
     "Returns the name of the connection.", "O(1)", NULL, NULL},
    {"setinfo", cmd_client_setinfo, 4, FAST, 0, 0, 0, "connection", "0.1.0",
     "Sets information specific to the client or connection (LIB-NAME, LIB-VER).",
     "O(1)", args_setinfo, NULL},
    {"list", cmd_client_list, -2, CMD_ADMIN, 0, 0, 0, "connection", "0.1.0",
     "Lists open connections.", "O(N) where N is the number of client connections",
     args_client_list, NULL},
    {"kill", cmd_client_kill, -3, CMD_ADMIN, 0, 0, 0, "connection", "0.1.0",
     "Terminates open connections (ID id, ADDR ip:port, or the old form ip:port).",
     "O(N) where N is the number of client connections", args_client_kill, NULL},
    {"info", cmd_client_info, 2, FAST, 0, 0, 0, "connection", "0.1.0",
     "Returns information about the connection.", "O(1)", NULL, NULL},
    {"help", cmd_help, 2, LOADING | STALE, 0, 0, 0, "connection", "0.1.0",
     "Returns helpful text about the different subcommands.", "O(1)", NULL, NULL},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL},
};

static const command command_subcommands[] = {
    {"count", cmd_command_count, 2, LOADING | STALE, 0, 0, 0, "server", "0.1.0",
     "Returns a count of commands.", "O(1)", NULL, NULL},
    {"docs", cmd_command_docs, -2, LOADING | STALE, 0, 0, 0, "server", "0.1.0",
     "Returns documentary information about one, multiple or all commands.",
     "O(N) where N is the number of commands to look up", args_names, NULL},
    {"info", cmd_command_info, -2, LOADING | STALE, 0, 0, 0, "server", "0.1.0",
     "Returns information about one, multiple or all commands.",
     "O(N) where N is the number of commands to look up", args_names, NULL},
    {"list", cmd_command_list, -2, LOADING | STALE, 0, 0, 0, "server", "0.1.0",
     "Returns a list of command names.", "O(N) where N is the total number of commands",
     args_filterby, NULL},
    {"help", cmd_help, 2, LOADING | STALE, 0, 0, 0, "server", "0.1.0",
     "Returns helpful text about the different subcommands.", "O(1)", NULL, NULL},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL},
};

static const command config_subcommands[] = {
    {"get", cmd_config_get, -3, CMD_ADMIN | LOADING | STALE, 0, 0, 0, "server", "0.1.0",
     "Returns the effective values of configuration parameters (glob patterns).",
     "O(N) when N is the number of configuration parameters provided", args_config_get, NULL},
    {"set", cmd_config_set, -4, CMD_ADMIN | LOADING | STALE, 0, 0, 0, "server", "0.1.0",
     "Sets configuration parameters in-flight (all or nothing).",
     "O(N) when N is the number of configuration parameters provided", args_config_set, NULL},
    {"resetstat", cmd_config_resetstat, 2, CMD_ADMIN | LOADING | STALE, 0, 0, 0, "server",
     "0.1.0", "Resets the server's statistics.", "O(1)", NULL, NULL},
    {"help", cmd_help, 2, LOADING | STALE, 0, 0, 0, "server", "0.1.0",
     "Returns helpful text about the different subcommands.", "O(1)", NULL, NULL},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL},
};

static const command slowlog_subcommands[] = {
    {"get", cmd_slowlog_get, -2, CMD_ADMIN | LOADING | STALE, 0, 0, 0, "server", "0.1.0",
     "Returns the slow log's entries (newest first; default 10, -1 for all).",
     "O(N) where N is the number of entries returned", args_count, NULL},
    {"len", cmd_slowlog_len, 2, CMD_ADMIN | LOADING | STALE, 0, 0, 0, "server", "0.1.0",
     "Returns the number of entries in the slow log.", "O(1)", NULL, NULL},
    {"reset", cmd_slowlog_reset, 2, CMD_ADMIN | LOADING | STALE, 0, 0, 0, "server", "0.1.0",
     "Clears all entries from the slow log.", "O(N) where N is the number of entries",
     NULL, NULL},
    {"help", cmd_help, 2, LOADING | STALE, 0, 0, 0, "server", "0.1.0",
     "Returns helpful text about the different subcommands.", "O(1)", NULL, NULL},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL},
};

/* CACHE.LOG (reqlog.c): tenants see their own entries; RESET is admin. */
static const command cache_log_subcommands[] = {
    {"get", cmd_cache_log_get, -2, CMD_READONLY | LOADING | STALE, 0, 0, 0, "cache", "0.1.0",
     "Returns request log entries, newest first (default 10, -1 for all), optionally of one "
     "namespace.",
     "O(N) where N is the number of entries kept", args_cache_log_get, NULL},
    {"len", cmd_cache_log_len, -2, CMD_READONLY | LOADING | STALE, 0, 0, 0, "cache", "0.1.0",
     "Returns the number of request log entries the caller may see.",
     "O(N) where N is the number of entries kept", args_cache_log_len, NULL},
    {"reset", cmd_cache_log_reset, 2, CMD_ADMIN | LOADING | STALE, 0, 0, 0, "cache", "0.1.0",
     "Clears the request log.", "O(N) where N is the number of entries", NULL, NULL},
    {"help", cmd_help, 2, LOADING | STALE, 0, 0, 0, "cache", "0.1.0",
     "Returns helpful text about the different subcommands.", "O(1)", NULL, NULL},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL},
};

static const command memory_subcommands[] = {
    {"usage", cmd_memory_usage, -3, CMD_READONLY, 2, 2, 1, "server", "0.1.0",
     "Returns the bytes a key and its value use (entry, bucket and TTL slots, value).",
     "O(1)", args_memory_usage, NULL},
    {"help", cmd_help, 2, LOADING | STALE, 0, 0, 0, "server", "0.1.0",
     "Returns helpful text about the different subcommands.", "O(1)", NULL, NULL},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL},
};

/* The table. Rows: name, handler, arity, flags, first/last/step key,
 * group, since, summary, complexity, argument docs, subcommands. */
static const command command_table[] = {
    /* connection */
    {"ping", cmd_ping, -1, FAST | STALE, 0, 0, 0, "connection", "0.1.0",
     "Returns PONG, or the message if one is given.", "O(1)", args_message, NULL},
    {"echo", cmd_echo, 2, FAST | LOADING | STALE, 0, 0, 0, "connection", "0.1.0",
     "Returns the given string.", "O(1)", args_echo, NULL},
    {"hello", cmd_hello, -1, FAST | NOAUTH | LOADING | STALE, 0, 0, 0, "connection", "0.1.0",
     "Handshakes with the server: protocol 2 or 3, optional AUTH and SETNAME.", "O(1)",
     args_hello, NULL},
    {"auth", cmd_auth, -2, FAST | NOAUTH | LOADING | STALE, 0, 0, 0, "connection", "0.1.0",
     "Authenticates the connection.", "O(N) where N is the number of passwords defined",
     args_auth, NULL},
    {"quit", cmd_quit, -1, FAST | NOAUTH | LOADING | STALE, 0, 0, 0, "connection", "0.1.0",
     "Closes the connection after replying OK.", "O(1)", NULL, NULL},
    {"reset", cmd_reset, 1, FAST | NOAUTH | LOADING | STALE, 0, 0, 0, "connection", "0.1.0",
     "Resets the connection: RESP2, no name, unauthenticated if auth is required.",
     "O(1)", NULL, NULL},
    {"select", cmd_select, 2, FAST | LOADING | STALE, 0, 0, 0, "connection", "0.1.0",
     "Changes the selected database (only 0 exists).", "O(1)", args_select, NULL},
    {"client", NULL, -2, 0, 0, 0, 0, "connection", "0.1.0",
     "A container for client connection commands.", "Depends on subcommand.", NULL,
     client_subcommands},
    /* server */
    {"command", cmd_command, -1, LOADING | STALE, 0, 0, 0, "server", "0.1.0",
     "Returns detailed information about all commands.",
     "O(N) where N is the total number of commands", NULL, command_subcommands},
    {"config", NULL, -2, 0, 0, 0, 0, "server", "0.1.0",
     "A container for server configuration commands.", "Depends on subcommand.", NULL,
     config_subcommands},
    {"info", cmd_info, -1, LOADING | STALE, 0, 0, 0, "server", "0.1.0",
     "Returns information and statistics about the server.", "O(1)", args_section, NULL},
    {"dbsize", cmd_dbsize, 1, CMD_READONLY | FAST, 0, 0, 0, "server", "0.1.0",
     "Returns the number of keys in the database.", "O(1)", NULL, NULL},
    {"flushall", cmd_flushall, -1, CMD_WRITE | CMD_ROLE_ADMIN, 0, 0, 0, "server", "0.1.0",
     "Removes all keys (ASYNC frees them in the background).",
     "O(N) where N is the total number of keys", args_flush, NULL},
    {"flushdb", cmd_flushall, -1, CMD_WRITE | CMD_ROLE_ADMIN, 0, 0, 0, "server", "0.1.0",
     "Removes all keys of the current database (the only one).",
     "O(N) where N is the number of keys in the selected database", args_flush, NULL},
    {"time", cmd_time, 1, FAST | LOADING | STALE, 0, 0, 0, "server", "0.1.0",
     "Returns the server time as [unix seconds, microseconds].", "O(1)", NULL, NULL},
    {"slowlog", NULL, -2, 0, 0, 0, 0, "server", "0.1.0",
     "A container for slow log commands.", "Depends on subcommand.", NULL,
     slowlog_subcommands},
    {"shutdown", cmd_shutdown, -1, CMD_ADMIN | LOADING | STALE, 0, 0, 0,
     "server", "0.1.0",
     "Stops the server gracefully: stops accepting, flushes replies, exits 0.", "O(1)",
     args_shutdown, NULL},
    /* keyspace (sc/keyspace) */
    {"get", cmd_get, 2, CMD_READONLY | FAST, 1, 1, 1, "string", "0.1.0",
     "Returns the string value of a key.",
     "O(1)", args_key, NULL},
    {"set", cmd_set, -3, CMD_WRITE | CMD_DENYOOM, 1, 1, 1, "string", "0.1.0",
     "Sets the string value of a key, optionally only if it (does not) exist, with a TTL, returning the old value.",
     "O(1)", args_set, NULL},
    {"setnx", cmd_setnx, 3, CMD_WRITE | CMD_DENYOOM | FAST, 1, 1, 1, "string", "0.1.0",
     "Sets the value of a key only when the key does not exist.",
     "O(1)", args_key_value, NULL},
    {"setex", cmd_setex, 4, CMD_WRITE | CMD_DENYOOM, 1, 1, 1, "string", "0.1.0",
     "Sets the value and the expiration in seconds of a key.",
     "O(1)", args_setex, NULL},
    {"psetex", cmd_psetex, 4, CMD_WRITE | CMD_DENYOOM, 1, 1, 1, "string", "0.1.0",
     "Sets the value and the expiration in milliseconds of a key.",
     "O(1)", args_psetex, NULL},
    {"getex", cmd_getex, -2, CMD_WRITE | FAST, 1, 1, 1, "string", "0.1.0",
     "Returns the string value of a key after setting or removing its expiration.",
     "O(1)", args_getex, NULL},
    {"getdel", cmd_getdel, 2, CMD_WRITE | FAST, 1, 1, 1, "string", "0.1.0",
     "Returns the string value of a key after deleting the key.",
     "O(1)", args_key, NULL},
    {"getset", cmd_getset, 3, CMD_WRITE | CMD_DENYOOM | FAST, 1, 1, 1, "string", "0.1.0",
     "Returns the previous string value of a key after setting it to a new value.",
     "O(1)", args_key_value, NULL},
    {"mget", cmd_mget, -2, CMD_READONLY | FAST, 1, -1, 1, "string", "0.1.0",
     "Returns the string values of one or more keys.",
     "O(N) where N is the number of keys to retrieve", args_keys_multi, NULL},
    {"mset", cmd_mset, -3, CMD_WRITE | CMD_DENYOOM, 1, -1, 2, "string", "0.1.0",
     "Sets the string values of one or more keys.",
     "O(N) where N is the number of keys to set", args_pairs, NULL},
    {"msetnx", cmd_msetnx, -3, CMD_WRITE | CMD_DENYOOM, 1, -1, 2, "string", "0.1.0",
     "Sets the values of keys only when none of them exist.",
     "O(N) where N is the number of keys to set", args_pairs, NULL},
    {"incr", cmd_incr, 2, CMD_WRITE | CMD_DENYOOM | FAST, 1, 1, 1, "string", "0.1.0",
     "Increments the integer value of a key by one.",
     "O(1)", args_key, NULL},
    {"decr", cmd_decr, 2, CMD_WRITE | CMD_DENYOOM | FAST, 1, 1, 1, "string", "0.1.0",
     "Decrements the integer value of a key by one.",
     "O(1)", args_key, NULL},
    {"incrby", cmd_incrby, 3, CMD_WRITE | CMD_DENYOOM | FAST, 1, 1, 1, "string", "0.1.0",
     "Increments the integer value of a key by a number.",
     "O(1)", args_incrby, NULL},
    {"decrby", cmd_decrby, 3, CMD_WRITE | CMD_DENYOOM | FAST, 1, 1, 1, "string", "0.1.0",
     "Decrements the integer value of a key by a number.",
     "O(1)", args_decrby, NULL},
    {"incrbyfloat", cmd_incrbyfloat, 3, CMD_WRITE | CMD_DENYOOM | FAST, 1, 1, 1, "string", "0.1.0",
     "Increments the floating point value of a key by a number.",
     "O(1)", args_incrby, NULL},
    {"append", cmd_append, 3, CMD_WRITE | CMD_DENYOOM | FAST, 1, 1, 1, "string", "0.1.0",
     "Appends a string to the value of a key; creates the key if needed.",
     "O(1) amortised", args_key_value, NULL},
    {"strlen", cmd_strlen, 2, CMD_READONLY | FAST, 1, 1, 1, "string", "0.1.0",
     "Returns the length of a string value.",
     "O(1)", args_key, NULL},
    {"getrange", cmd_getrange, 4, CMD_READONLY, 1, 1, 1, "string", "0.1.0",
     "Returns a substring of the string stored at a key.",
     "O(N) where N is the length of the returned string", args_getrange, NULL},
    {"setrange", cmd_setrange, 4, CMD_WRITE | CMD_DENYOOM, 1, 1, 1, "string", "0.1.0",
     "Overwrites part of a string value from an offset; creates the key if needed.",
     "O(N) where N is the length of the resulting string", args_setrange, NULL},
    {"del", cmd_del, -2, CMD_WRITE, 1, -1, 1, "generic", "0.1.0",
     "Deletes one or more keys.",
     "O(N) where N is the number of keys", args_keys_multi, NULL},
    {"unlink", cmd_unlink, -2, CMD_WRITE | FAST, 1, -1, 1, "generic", "0.1.0",
     "Deletes one or more keys (freed synchronously, as DEL).",
     "O(N) where N is the number of keys", args_keys_multi, NULL},
    {"exists", cmd_exists, -2, CMD_READONLY | FAST, 1, -1, 1, "generic", "0.1.0",
     "Counts how many of the given keys exist (duplicates counted).",
     "O(N) where N is the number of keys", args_keys_multi, NULL},
    {"touch", cmd_touch, -2, CMD_READONLY | FAST, 1, -1, 1, "generic", "0.1.0",
     "Updates the last access time of keys; returns how many exist.",
     "O(N) where N is the number of keys", args_keys_multi, NULL},
    {"type", cmd_type, 2, CMD_READONLY | FAST, 1, 1, 1, "generic", "0.1.0",
     "Returns the type of the value of a key.",
     "O(1)", args_key, NULL},
    {"expire", cmd_expire, -3, CMD_WRITE | FAST, 1, 1, 1, "generic", "0.1.0",
     "Sets the expiration of a key in seconds.",
     "O(1)", args_expire, NULL},
    {"pexpire", cmd_pexpire, -3, CMD_WRITE | FAST, 1, 1, 1, "generic", "0.1.0",
     "Sets the expiration of a key in milliseconds.",
     "O(1)", args_expire, NULL},
    {"expireat", cmd_expireat, -3, CMD_WRITE | FAST, 1, 1, 1, "generic", "0.1.0",
     "Sets the expiration of a key to a unix time in seconds.",
     "O(1)", args_expire, NULL},
    {"pexpireat", cmd_pexpireat, -3, CMD_WRITE | FAST, 1, 1, 1, "generic", "0.1.0",
     "Sets the expiration of a key to a unix time in milliseconds.",
     "O(1)", args_expire, NULL},
    {"ttl", cmd_ttl, 2, CMD_READONLY | FAST, 1, 1, 1, "generic", "0.1.0",
     "Returns the remaining time to live of a key in seconds (-2 missing, -1 none).",
     "O(1)", args_key, NULL},
    {"pttl", cmd_pttl, 2, CMD_READONLY | FAST, 1, 1, 1, "generic", "0.1.0",
     "Returns the remaining time to live of a key in milliseconds.",
     "O(1)", args_key, NULL},
    {"expiretime", cmd_expiretime, 2, CMD_READONLY | FAST, 1, 1, 1, "generic", "0.1.0",
     "Returns the expiration of a key as a unix time in seconds.",
     "O(1)", args_key, NULL},
    {"pexpiretime", cmd_pexpiretime, 2, CMD_READONLY | FAST, 1, 1, 1, "generic", "0.1.0",
     "Returns the expiration of a key as a unix time in milliseconds.",
     "O(1)", args_key, NULL},
    {"persist", cmd_persist, 2, CMD_WRITE | FAST, 1, 1, 1, "generic", "0.1.0",
     "Removes the expiration of a key.",
     "O(1)", args_key, NULL},
    {"scan", cmd_scan, -2, CMD_READONLY, 0, 0, 0, "generic", "0.1.0",
     "Iterates over the keys (MATCH, COUNT, TYPE); every key present throughout is returned.",
     "O(1) per call, O(N) for a full iteration", args_scan, NULL},
    {"keys", cmd_keys, 2, CMD_READONLY, 0, 0, 0, "generic", "0.1.0",
     "Returns all key names that match a glob pattern.",
     "O(N) with N the number of keys", args_pattern, NULL},
    {"randomkey", cmd_randomkey, 1, CMD_READONLY, 0, 0, 0, "generic", "0.1.0",
     "Returns a random key name.",
     "O(1)", NULL, NULL},
    {"vadd", cmd_vadd, -5, CMD_WRITE | CMD_DENYOOM, 1, 1, 1, "vectorset", "0.1.0",
     "Adds an element with its vector to a vector set, or replaces its vector.",
     "O(log(N)) for each element added, where N is the number of elements in the vector set.",
     args_vadd, NULL},
    {"vsim", cmd_vsim, -4, CMD_READONLY, 1, 1, 1, "vectorset", "0.1.0",
     "Returns the elements most similar to a vector or an element (HNSW, on the search pool).",
     "O(log(N)) where N is the number of elements in the vector set.", args_vsim, NULL},
    {"vrem", cmd_vrem, 3, CMD_WRITE, 1, 1, 1, "vectorset", "0.1.0",
     "Removes an element from a vector set; the last one deletes the key.",
     "O(log(N)) for each element removed.", args_key_element, NULL},
    {"vcard", cmd_vcard, 2, CMD_READONLY | FAST, 1, 1, 1, "vectorset", "0.1.0",
     "Returns the number of elements in a vector set.", "O(1)", args_key, NULL},
    {"vdim", cmd_vdim, 2, CMD_READONLY | FAST, 1, 1, 1, "vectorset", "0.1.0",
     "Returns the dimension of the vectors in a vector set.", "O(1)", args_key, NULL},
    {"vemb", cmd_vemb, -3, CMD_READONLY | FAST, 1, 1, 1, "vectorset", "0.1.0",
     "Returns the vector of an element (RAW: the stored representation).", "O(1)", args_vemb,
     NULL},
    {"vinfo", cmd_vinfo, 2, CMD_READONLY | FAST, 1, 1, 1, "vectorset", "0.1.0",
     "Returns information about a vector set.", "O(1)", args_key, NULL},
    {"vismember", cmd_vismember, 3, CMD_READONLY, 1, 1, 1, "vectorset", "0.1.0",
     "Checks whether an element is in a vector set.", "O(1)", args_key_element, NULL},
    {"vgetattr", cmd_vgetattr, 3, CMD_READONLY | FAST, 1, 1, 1, "vectorset", "0.1.0",
     "Returns the JSON attributes of an element.", "O(1)", args_key_element, NULL},
    {"vsetattr", cmd_vsetattr, 4, CMD_WRITE | FAST, 1, 1, 1, "vectorset", "0.1.0",
     "Sets (or with an empty string removes) the JSON attributes of an element.", "O(1)",
     args_vsetattr, NULL},
    {"vrandmember", cmd_vrandmember, -2, CMD_READONLY, 1, 1, 1, "vectorset", "0.1.0",
     "Returns random elements of a vector set (SRANDMEMBER semantics).",
     "O(N) where N is the absolute value of the count.", args_vrandmember, NULL},
    {"vlinks", cmd_vlinks, -3, CMD_READONLY | FAST, 1, 1, 1, "vectorset", "0.1.0",
     "Returns the HNSW neighbours of an element on every level.", "O(1)", args_vlinks, NULL},
    {"vrange", cmd_vrange, -4, CMD_READONLY, 1, 1, 1, "vectorset", "0.1.0",
     "Returns the elements between two names in memcmp order (stateless iterator).",
     "O(N log(M)): N elements scanned (hash dictionary), M returned.", args_vrange, NULL},
    {"limit.set", cmd_limit_set, -8, CMD_WRITE | CMD_DENYOOM | FAST, 0, 0, 0, "ratelimit", "0.1.0",
     "Creates or updates a token bucket: RATE tokens every PER seconds, up to BURST.", "O(1)",
     args_limit_set, NULL},
    {"limit.take", cmd_limit_take, -2, CMD_WRITE | FAST | CMD_BLOCKING, 0, 0, 0, "ratelimit",
     "0.1.0",
     "Takes COST tokens from every named bucket or none; with WAIT, queues (FIFO) until granted.",
     "O(N) with N the number of buckets named", args_limit_take, NULL},
    {"limit.info", cmd_limit_info, 2, CMD_READONLY | FAST, 0, 0, 0, "ratelimit", "0.1.0",
     "Returns a bucket's parameters, tokens, queue depth, oldest waiter age and counters.",
     "O(W) with W the number of waiters (closed clients are swept first)", args_limit_name,
     NULL},
    {"limit.del", cmd_limit_del, -2, CMD_WRITE, 0, 0, 0, "ratelimit", "0.1.0",
     "Deletes buckets; their waiters are answered with a denial. Returns how many existed.",
     "O(N+W)", args_limit_names, NULL},
    {"limit.list", cmd_limit_list, -1, CMD_READONLY, 0, 0, 0, "ratelimit", "0.1.0",
     "Returns the bucket names matching a glob pattern (all without one), sorted.",
     "O(N log N) with N the number of buckets", args_limit_list, NULL},
    {"cl.throttle", cmd_cl_throttle, -5, CMD_WRITE | FAST, 1, 1, 1, "ratelimit", "0.1.0",
     "redis-cell's GCRA rate limiter: [limited, limit, remaining, retry_after, reset_after].",
     "O(1)", args_cl_throttle, NULL},
    {"memory", NULL, -2, 0, 0, 0, 0, "server", "0.1.0",
     "A container for memory diagnostics commands.", "Depends on subcommand.", NULL,
     memory_subcommands},
    /* semantic cache (sc/cache): cmd_cache.c, cmd_tenant.c */
    {"cache.create", cmd_cache_create, -2, CMD_WRITE, 0, 0, 0, "cache", "0.1.0",
     "Creates a cache namespace of the tenant: embedder, threshold, TTL, grace, index, versions.",
     "O(1)", args_cache_create, NULL},
    {"cache.drop", cmd_cache_drop, -2, CMD_WRITE, 0, 0, 0, "cache", "0.1.0",
     "Deletes a namespace and all its entries.", "O(N)", args_cache_ns, NULL},
    {"cache.list", cmd_cache_list, -1, CMD_READONLY, 0, 0, 0, "cache", "0.1.0",
     "Lists the tenant's namespaces.", "O(N)", args_cache_list, NULL},
    {"cache.info", cmd_cache_info, -2, CMD_READONLY, 0, 0, 0, "cache", "0.1.0",
     "Returns a namespace's configuration, size and hit statistics.", "O(1)",
     args_cache_ns, NULL},
    {"cache.put", cmd_cache_put, -4, CMD_WRITE, 0, 0, 0, "cache", "0.1.0",
     "Stores an answer for a prompt with its cost; returns the entry id.",
     "O(log N)", args_cache_put, NULL},
    {"cache.get", cmd_cache_get, -3, CMD_READONLY | CMD_BLOCKING, 0, 0, 0, "cache", "0.1.0",
     "Looks a prompt up: exact, then semantic; says which tier served it.",
     "O(log N)", args_cache_get, NULL},
    {"cache.search", cmd_cache_search, -3, CMD_READONLY, 0, 0, 0, "cache", "0.1.0",
     "Lists the nearest entries with their scores (threshold tuning).", "O(log N + k)",
     args_cache_search, NULL},
    {"cache.del", cmd_cache_del, -3, CMD_WRITE, 0, 0, 0, "cache", "0.1.0",
     "Deletes an entry by id.", "O(log N)", args_cache_del, NULL},
    {"cache.log", NULL, -2, 0, 0, 0, 0, "cache", "0.1.0",
     "A container for request log commands (replay of PUT/GET/SEARCH).",
     "Depends on subcommand.", NULL, cache_log_subcommands},
    {"cache.flush", cmd_cache_flush, -2, CMD_WRITE, 0, 0, 0, "cache", "0.1.0",
     "Deletes every entry of a namespace; returns how many.", "O(N)", args_cache_ns, NULL},
    {"cache.alias", cmd_cache_alias, -3, CMD_WRITE, 0, 0, 0, "cache", "0.1.0",
     "Creates or atomically repoints an alias to a namespace; returns the previous target.",
     "O(N) with N the namespaces and aliases", args_cache_alias, NULL},
    {"cache.unalias", cmd_cache_unalias, -2, CMD_WRITE, 0, 0, 0, "cache", "0.1.0",
     "Deletes an alias (and its canary); returns 1 if it existed.", "O(N)",
     args_cache_unalias, NULL},
    {"cache.aliases", cmd_cache_aliases, -1, CMD_READONLY, 0, 0, 0, "cache", "0.1.0",
     "Lists the tenant's aliases with their target, canary, percent and status.", "O(N)",
     args_cache_list, NULL},
    {"cache.canary", cmd_cache_canary, -3, CMD_WRITE, 0, 0, 0, "cache", "0.1.0",
     "Sends a sticky share of an alias's traffic to a canary namespace; OFF, PROMOTE, "
     "ROLLBACK, INFO (per-arm metrics), GUARD (automatic rollback thresholds).",
     "O(N)", args_cache_canary, NULL},
    {"cache.feedback", cmd_cache_feedback, -4, CMD_WRITE, 0, 0, 0, "cache", "0.1.0",
     "Records good or bad feedback on an entry; bad deletes it. Counts on canary arms.",
     "O(log N)", args_cache_feedback, NULL},
    {"cache.versions", cmd_cache_versions, -1, CMD_READONLY, 0, 0, 0, "cache", "0.1.0",
     "The version matrix: every namespace with its prompt, model and tools versions and the "
     "aliases and canaries pointing at it.", "O(N)", args_cache_list, NULL},
    {"tenant.usage", cmd_tenant_usage, -1, CMD_READONLY, 0, 0, 0, "cache", "0.1.0",
     "Returns a tenant's ledger: spend, savings, hits by tier, budget.", "O(1)",
     args_tenant_usage, NULL},
    {"tenant.budget", cmd_tenant_budget, -3, CMD_WRITE, 0, 0, 0, "cache", "0.1.0",
     "Sets a tenant's budget for a period (admin).", "O(1)", args_tenant_budget, NULL},
};

#define NCOMMANDS (sizeof command_table / sizeof command_table[0])

/* ---- statistics and lookup index ---- */

typedef struct cmd_stat {
    uint64_t calls, usec, rejected, failed;
    uint64_t hist[COMMAND_HIST_BOUNDS + 1]; /* calls per duration bucket, not
                                             * cumulative; last = over 10 s */
    char fullname[48];       /* "config|get" */
} cmd_stat;

/* Upper bounds (inclusive, microseconds) of the duration histogram the
 * metrics endpoint exposes: 10 us .. 10 s in 1-2.5-5 steps. */
const uint64_t command_hist_bounds_us[COMMAND_HIST_BOUNDS] = {
    10,     25,     50,      100,     250,     500,     1000,     2500,    5000,    10000,
    25000,  50000,  100000,  250000,  500000,  1000000, 2500000,  5000000, 10000000};

/* Bucket of a duration: the first bound >= dur. Most commands take under
 * 10 us, so the scan usually stops at the first comparison. */
static inline int hist_bucket(uint64_t dur) {
    int i = 0;
    while (i < COMMAND_HIST_BOUNDS && dur > command_hist_bounds_us[i]) i++;
    return i;
}

typedef struct cmd_entry {
    cmd_stat st;
    cmd_stat *sub;           /* parallel to cmd->subcommands, or NULL */
    int nsub;
} cmd_entry;

static cmd_entry entries[NCOMMANDS];
#define INDEX_SLOTS 1024
static uint16_t index_slots[INDEX_SLOTS];  /* entry index + 1, 0 = empty */
static uint8_t name_lens[NCOMMANDS];       /* strlen(command_table[i].name) */

/* ASCII lowercase of a byte, as tolower() in the C locale. A table rather
 * than tolower(): glibc's tolower is a call through the locale per byte,
 * and with strlen + strncasecmp it made the lookup ~4% of an exact-hit
 * CACHE.GET (perf, redis-benchmark -P 16). */
static const unsigned char lower_tab[256] = {
#define L4(i) L1(i), L1(i + 1), L1(i + 2), L1(i + 3)
#define L1(i) (unsigned char)((i) >= 'A' && (i) <= 'Z' ? (i) + 32 : (i))
#define L16(i) L4(i), L4(i + 4), L4(i + 8), L4(i + 12)
    L16(0),   L16(16),  L16(32),  L16(48),  L16(64),  L16(80),  L16(96),  L16(112),
    L16(128), L16(144), L16(160), L16(176), L16(192), L16(208), L16(224), L16(240),
#undef L16
#undef L1
#undef L4
};

/* The slot hash: the length and four case-folded bytes (first, last,
 * middle, third from last), not every byte: a per-byte FNV with a multiply
 * per byte kept the lookup at ~2.7% of an exact-hit CACHE.GET. Names that
 * agree on all five (few in this table) only cost an extra probe; the
 * match is always decided by name_equal over the whole name. */
static uint32_t name_hash(const char *s, size_t len) {
    if (len == 0) return 0;
    const unsigned char *u = (const unsigned char *)s;
    uint32_t h = (uint32_t)len;
    h = h * 31 + lower_tab[u[0]];
    h = h * 31 + lower_tab[u[len - 1]];
    h = h * 31 + lower_tab[u[len / 2]];
    h = h * 31 + lower_tab[u[len >= 3 ? len - 3 : 0]];
    return (h * 2654435761u) >> 16;
}

/* 1 if name (len bytes, any case) equals the lowercase table name `n` of
 * the same length: strncasecmp's answer in the C locale. */
static inline int name_equal(const char *n, const char *name, size_t len) {
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)n[i] != lower_tab[(unsigned char)name[i]]) return 0;
    return 1;
}

int commands_init(void) {
    memset(index_slots, 0, sizeof index_slots);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const command *cmd = &command_table[i];
        cmd_entry *e = &entries[i];
        free(e->sub);
        memset(e, 0, sizeof *e);
        snprintf(e->st.fullname, sizeof e->st.fullname, "%s", cmd->name);
        if (cmd->subcommands) {
            int n = 0;
            while (cmd->subcommands[n].name) n++;
            e->sub = calloc((size_t)n, sizeof(cmd_stat));
            if (e->sub == NULL) return -1;
            e->nsub = n;
            for (int j = 0; j < n; j++)
                snprintf(e->sub[j].fullname, sizeof e->sub[j].fullname, "%s|%s", cmd->name,
                         cmd->subcommands[j].name);
        }
        size_t len = strlen(cmd->name);
        if (len > UINT8_MAX) return -1;
        name_lens[i] = (uint8_t)len;
        uint32_t h = name_hash(cmd->name, len) & (INDEX_SLOTS - 1);
        while (index_slots[h]) h = (h + 1) & (INDEX_SLOTS - 1);
        index_slots[h] = (uint16_t)(i + 1);
    }
    return 0;
}

static long command_index(const char *name, size_t len) {
    uint32_t h = name_hash(name, len) & (INDEX_SLOTS - 1);
    while (index_slots[h]) {
        long i = index_slots[h] - 1;
        if (name_lens[i] == len && name_equal(command_table[i].name, name, len)) return i;
        h = (h + 1) & (INDEX_SLOTS - 1);
    }
    return -1;
}

const command *command_lookup(const char *name, size_t len) {
    long i = command_index(name, len);
    return i < 0 ? NULL : &command_table[i];
}

static long subcommand_index(const command *parent, const char *name, size_t len) {
    for (long j = 0; parent->subcommands[j].name; j++) {
        const char *n = parent->subcommands[j].name;
        if (strlen(n) == len && strncasecmp(n, name, len) == 0) return j;
    }
    return -1;
}

void commands_reset_stats(void) {
    for (size_t i = 0; i < NCOMMANDS; i++) {
        cmd_entry *e = &entries[i];
        e->st.calls = e->st.usec = e->st.rejected = e->st.failed = 0;
        memset(e->st.hist, 0, sizeof e->st.hist);
        for (int j = 0; j < e->nsub; j++) {
            e->sub[j].calls = e->sub[j].usec = e->sub[j].rejected = e->sub[j].failed = 0;
            memset(e->sub[j].hist, 0, sizeof e->sub[j].hist);
        }
    }
}

static void stat_visit(const cmd_stat *s, void (*fn)(const command_stat_view *, void *),
                       void *arg) {
    if (s->calls == 0 && s->rejected == 0 && s->failed == 0) return;
    command_stat_view v = {s->fullname, s->calls, s->usec, s->rejected, s->failed, s->hist};
    fn(&v, arg);
}

void commands_foreach_stat(void (*fn)(const command_stat_view *v, void *arg), void *arg) {
    for (size_t i = 0; i < NCOMMANDS; i++) {
        stat_visit(&entries[i].st, fn, arg);
        for (int j = 0; j < entries[i].nsub; j++) stat_visit(&entries[i].sub[j], fn, arg);
    }
}

static void stat_line(sbuf *out, const cmd_stat *s) {
    if (s->calls == 0 && s->rejected == 0 && s->failed == 0) return;
    char name[48];
    snprintf(name, sizeof name, "%s", s->fullname);
    sbuf_printf(out, "cmdstat_%s:calls=%llu,usec=%llu,usec_per_call=%.2f,"
                "rejected_calls=%llu,failed_calls=%llu\r\n", name,
                (unsigned long long)s->calls, (unsigned long long)s->usec,
                s->calls ? (double)s->usec / (double)s->calls : 0.0,
                (unsigned long long)s->rejected, (unsigned long long)s->failed);
}

void commands_info_stats(sbuf *out) {
    for (size_t i = 0; i < NCOMMANDS; i++) {
        stat_line(out, &entries[i].st);
        for (int j = 0; j < entries[i].nsub; j++) stat_line(out, &entries[i].sub[j]);
    }
}

/* ---- dispatch ---- */

static void reply_unknown_command(client *c) {
    sbuf args = SBUF_INIT;
    for (int i = 1; i < c->argc && args.len < 128; i++)
        sbuf_printf(&args, "'%.*s' ", (int)(128 - args.len), c->argv[i].ptr);
    reply_errorf(c, "ERR unknown command '%.128s', with args beginning with: %s",
                 c->argv[0].ptr, sbuf_cstr(&args));
    sbuf_free(&args);
}

static inline int arity_ok(int arity, int argc) {
    return arity > 0 ? argc == arity : argc >= -arity;
}

static inline uint64_t mono_ns_sys(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

/* The TSC behind the command clock (x86-64 only). clock_gettime through
 * the vDSO costs 21 ns here against 9 ns for a plain rdtsc (10M calls
 * each, this machine), and the one read per command was ~4% of an
 * exact-hit CACHE.GET under redis-benchmark -P 16. Used only when the
 * kernel itself uses the TSC as its clocksource (so it judged the TSC
 * invariant and synchronised across CPUs) and only once calibrated:
 * clock_sync() (start of the first batch, then the hz timer, 10 times a
 * second) re-anchors it to CLOCK_MONOTONIC and measures its rate over the
 * whole time since the first anchor, so between anchors (100 ms) the
 * error is the rate's error times 100 ms, far under a µs. Readings are
 * clamped so they never go backwards across a re-anchoring. Elsewhere, and
 * before calibration (the first 50 ms, or a process with no hz timer such
 * as the unit tests), CLOCK_MONOTONIC is read directly. Redis has the
 * same option (monotonic.c, USE_PROCESSOR_CLOCK). */
static struct {
    int checked, usable, calibrated;
    uint64_t cal_tsc, cal_ns;   /* first anchor: the rate is measured from it */
    uint64_t tsc0, ns0;         /* last anchor */
    uint64_t mult;              /* ns per tick << 32 */
    uint64_t last_us;           /* last reading handed out (the clamp) */
} tsc;

#if defined(__x86_64__)
#include <x86intrin.h>
static int tsc_kernel_clocksource(void) {
    char buf[32] = {0};
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
    if (f == NULL) return 0;
    int ok = fgets(buf, sizeof buf, f) != NULL && strncmp(buf, "tsc\n", 4) == 0;
    fclose(f);
    return ok;
}
static inline uint64_t tsc_read(void) { return __rdtsc(); }
#else
static int tsc_kernel_clocksource(void) { return 0; }
static inline uint64_t tsc_read(void) { return 0; }
#endif

#define TSC_CAL_MIN_NS 50000000ULL   /* calibrate over at least 50 ms */

static void tsc_anchor(void) {
    if (!tsc.checked) {
        tsc.checked = 1;
        tsc.usable = tsc_kernel_clocksource() && getenv("SIMCACHE_NO_TSC") == NULL;
    }
    if (!tsc.usable) return;
    uint64_t t0 = tsc_read();
    uint64_t ns = mono_ns_sys();
    uint64_t t1 = tsc_read();
    if (t1 < t0 || t1 - t0 > 100000) return;   /* preempted in between: skip */
    uint64_t t = t0 + (t1 - t0) / 2;
    if (tsc.cal_ns == 0) {
        tsc.cal_ns = ns;
        tsc.cal_tsc = t;
    } else if (ns - tsc.cal_ns >= TSC_CAL_MIN_NS && t > tsc.cal_tsc) {
        unsigned __int128 m = ((unsigned __int128)(ns - tsc.cal_ns) << 32) / (t - tsc.cal_tsc);
        if (m > 0 && m < ((unsigned __int128)1 << 40)) {   /* sane: > 1/256 GHz */
            tsc.mult = (uint64_t)m;
            tsc.calibrated = 1;
        }
    }
    tsc.tsc0 = t;
    tsc.ns0 = ns;
}

static inline uint64_t mono_us(void) {
    uint64_t us;
    if (tsc.calibrated) {
        uint64_t dt = tsc_read() - tsc.tsc0;   /* wraps to huge if before t0: clamped */
        us = (tsc.ns0 + (uint64_t)(((unsigned __int128)dt * tsc.mult) >> 32)) / 1000;
        if (us < tsc.last_us || dt > (1ULL << 62)) us = tsc.last_us;
    } else {
        us = mono_ns_sys() / 1000;
        if (us < tsc.last_us) us = tsc.last_us;
    }
    tsc.last_us = us;
    return us;
}

/* The command clock. Reading the clock costs ~20 ns here (vDSO), and a
 * profile of redis-benchmark -P 16 showed clock_gettime at 16% of the
 * server's samples when every command read it twice and every key lookup
 * once more. So a batch of pipelined requests reads CLOCK_MONOTONIC once at
 * its start and once after each command: the end of one command is the
 * start of the next, and the keyspace gets the same reading as its "now"
 * (Redis similarly snapshots the time per command for expiry checks).
 * Outside a batch commands_now_ms() reads the real clock. */
static uint64_t clk_mono_us;     /* last reading, valid while clk_active */
static int64_t clk_offset_us;    /* CLOCK_REALTIME - CLOCK_MONOTONIC */
static int clk_active;
static int clk_in_cmd;           /* a handler is running (commands_execute) */
static uint64_t clk_noted_us;    /* commands_clock_read_us during it, 0 = none */

static void clock_sync(void) {
    tsc_anchor();
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    uint64_t m = mono_us();
    clk_offset_us = (int64_t)rt.tv_sec * 1000000 + rt.tv_nsec / 1000 - (int64_t)m;
}

void commands_batch_begin(void) {
    if (clk_offset_us == 0) clock_sync();
    clk_mono_us = mono_us();
    clk_active = 1;
}

void commands_batch_end(void) { clk_active = 0; }

void commands_clock_sync(void) { clock_sync(); }

uint64_t commands_clock_start_us(void) { return clk_in_cmd ? clk_mono_us : mono_us(); }

uint64_t commands_clock_read_us(void) {
    uint64_t now = mono_us();
    if (clk_in_cmd) clk_noted_us = now;
    return now;
}

int64_t commands_now_ms(void) {
    if (!clk_active) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    return ((int64_t)clk_mono_us + clk_offset_us) / 1000;
}

void commands_execute(client *c) {
    long idx = command_index(c->argv[0].ptr, c->argv[0].len);
    if (idx < 0) {
        reply_unknown_command(c);
        return;
    }
    const command *cmd = &command_table[idx];
    cmd_stat *st = &entries[idx].st;
    if (!arity_ok(cmd->arity, c->argc)) {
        st->rejected++;
        reply_error_arity(c, cmd->name);
        return;
    }
    if (!(cmd->flags & CMD_NOAUTH) && client_auth_pending(c)) {
        st->rejected++;
        reply_error(c, ERR_NOAUTH);
        return;
    }
    if (cmd->subcommands && (c->argc >= 2 || cmd->proc == NULL)) {
        long j = c->argc >= 2 ? subcommand_index(cmd, c->argv[1].ptr, c->argv[1].len) : -1;
        if (j < 0) {
            char upper[32];
            size_t k;
            for (k = 0; cmd->name[k] && k < sizeof upper - 1; k++)
                upper[k] = (char)toupper((unsigned char)cmd->name[k]);
            upper[k] = '\0';
            st->rejected++;
            reply_errorf(c, "ERR unknown subcommand '%.128s'. Try %s HELP.",
                         c->argv[1].ptr, upper);
            return;
        }
        st = &entries[idx].sub[j];
        cmd = &cmd->subcommands[j];
        if (!arity_ok(cmd->arity, c->argc)) {
            st->rejected++;
            reply_errorf(c, "ERR wrong number of arguments for '%s' command", st->fullname);
            return;
        }
    }
    if (!tenant_may_run(c, cmd->flags)) {   /* roles: tenant.c (sc/cache) */
        st->rejected++;
        reply_errorf(c, "NOPERM this user has no permissions to run the '%s' command",
                     st->fullname);
        return;
    }
    if ((cmd->flags & CMD_DENYOOM) && g_cfg.maxmemory > 0 && ks_evict_if_needed() != 0) {
        st->rejected++;
        reply_error(c, ERR_OOM);
        return;
    }
    c->cmd = cmd;
    c->priv->last_cmd = st->fullname;
    c->priv->cmds++;
    uint64_t errors = g_stats.total_error_replies;
    if (!clk_active) commands_batch_begin();
    uint64_t t0 = clk_mono_us;
    int nested = clk_in_cmd;
    clk_in_cmd = 1;
    clk_noted_us = 0;
    cmd->proc(c);
    clk_in_cmd = nested;
    clk_mono_us = clk_noted_us ? clk_noted_us : mono_us();   /* one read per CACHE.GET */
    clk_noted_us = 0;
    uint64_t dur = clk_mono_us - t0;
    st->calls++;
    st->usec += dur;
    st->hist[hist_bucket(dur)]++;
    if (g_stats.total_error_replies != errors) st->failed++;
    g_stats.total_commands_processed++;
    slowlog_push_if_needed(c, dur);
}

/* ---- COMMAND ---- */

static const char *const flag_names[] = {"write", "readonly", "denyoom", "admin", "fast",
                                         "no_auth", "loading", "stale", "noscript",
                                         "blocking"};

static void reply_flags(client *c, uint32_t flags) {
    int n = 0;
    for (int i = 0; i < 10; i++)
        if (flags & (1u << i)) n++;
    reply_set(c, n);
    for (int i = 0; i < 10; i++)
        if (flags & (1u << i)) reply_simple(c, flag_names[i]);
}

/* Categories in Redis's ACL order (keyspace, read, write, string, admin,
 * fast/slow, dangerous, connection), which COMMAND INFO lists in. */
static void reply_acl_categories(client *c, const command *cmd) {
    const char *cats[8];
    int n = 0;
    if (cmd->proc == NULL) {          /* a container: Redis lists only @slow */
        reply_set(c, 1);
        reply_simple(c, "@slow");
        return;
    }
    if (!strcmp(cmd->group, "generic")) cats[n++] = "@keyspace";
    if (cmd->flags & CMD_READONLY) cats[n++] = "@read";
    if (cmd->flags & CMD_WRITE) cats[n++] = "@write";
    if (!strcmp(cmd->group, "string")) cats[n++] = "@string";
    if (cmd->flags & CMD_ADMIN) cats[n++] = "@admin";
    cats[n++] = (cmd->flags & CMD_FAST) ? "@fast" : "@slow";
    if (cmd->flags & CMD_ADMIN) cats[n++] = "@dangerous";
    if (!strcmp(cmd->group, "connection")) cats[n++] = "@connection";
    reply_set(c, n);
    for (int i = 0; i < n; i++) reply_simple(c, cats[i]);
}

/* Redis 7 key specs derived from first/last/step. */
static void reply_key_specs(client *c, const command *cmd) {
    if (cmd->first_key <= 0) {
        reply_set(c, 0);
        return;
    }
    reply_set(c, 1);   /* a set in RESP3, as Redis sends it */
    reply_map(c, 3);
    reply_bulk_cstr(c, "flags");
    reply_set(c, 2);
    reply_simple(c, (cmd->flags & CMD_WRITE) ? "RW" : "RO");
    reply_simple(c, (cmd->flags & CMD_WRITE) ? "update" : "access");
    reply_bulk_cstr(c, "begin_search");
    reply_map(c, 2);
    reply_bulk_cstr(c, "type");
    reply_bulk_cstr(c, "index");
    reply_bulk_cstr(c, "spec");
    reply_map(c, 1);
    reply_bulk_cstr(c, "index");
    reply_integer(c, cmd->first_key);
    reply_bulk_cstr(c, "find_keys");
    reply_map(c, 2);
    reply_bulk_cstr(c, "type");
    reply_bulk_cstr(c, "range");
    reply_bulk_cstr(c, "spec");
    reply_map(c, 3);
    reply_bulk_cstr(c, "lastkey");
    reply_integer(c, cmd->last_key < 0 ? cmd->last_key : cmd->last_key - cmd->first_key);
    reply_bulk_cstr(c, "keystep");
    reply_integer(c, cmd->key_step);
    reply_bulk_cstr(c, "limit");
    reply_integer(c, 0);
}

static void reply_command_info(client *c, const command *cmd, const char *fullname) {
    reply_array(c, 10);
    reply_bulk_cstr(c, fullname);
    reply_integer(c, cmd->arity);
    reply_flags(c, cmd->flags);
    reply_integer(c, cmd->first_key);
    reply_integer(c, cmd->last_key);
    reply_integer(c, cmd->key_step);
    reply_acl_categories(c, cmd);
    reply_set(c, 0);   /* tips */
    reply_key_specs(c, cmd);
    if (cmd->subcommands) {
        long n = 0;
        while (cmd->subcommands[n].name) n++;
        reply_set(c, n);
        for (long j = 0; j < n; j++) {
            char full[64];
            snprintf(full, sizeof full, "%s|%s", cmd->name, cmd->subcommands[j].name);
            reply_command_info(c, &cmd->subcommands[j], full);
        }
    } else {
        reply_set(c, 0);
    }
}

void cmd_command(client *c) {
    reply_array(c, (long)NCOMMANDS);
    for (size_t i = 0; i < NCOMMANDS; i++)
        reply_command_info(c, &command_table[i], command_table[i].name);
}

void cmd_command_count(client *c) { reply_integer(c, (long long)NCOMMANDS); }

void cmd_command_info(client *c) {
    if (c->argc == 2) {
        cmd_command(c);
        return;
    }
    reply_array(c, c->argc - 2);
    for (int i = 2; i < c->argc; i++) {
        const command *cmd = command_lookup(c->argv[i].ptr, c->argv[i].len);
        if (cmd) reply_command_info(c, cmd, cmd->name);
        else reply_null(c);       /* Redis 7 answers $-1 (_ in RESP3) */
    }
}

void cmd_command_list(client *c) {
    if (c->argc != 2) {
        /* FILTERBY MODULE/ACLCAT/PATTERN: only PATTERN applies here. */
        if (c->argc == 5 && !strcasecmp(c->argv[2].ptr, "filterby") &&
            !strcasecmp(c->argv[3].ptr, "pattern")) {
            reply_deferred *d = reply_deferred_begin(c);
            long n = 0;
            for (size_t i = 0; i < NCOMMANDS; i++) {
                const char *name = command_table[i].name;
                if (glob_match(c->argv[4].ptr, c->argv[4].len, name, strlen(name), 1)) {
                    reply_bulk_cstr(c, name);
                    n++;
                }
            }
            reply_deferred_array(c, d, n);
            return;
        }
        reply_error_syntax(c);
        return;
    }
    reply_array(c, (long)NCOMMANDS);
    for (size_t i = 0; i < NCOMMANDS; i++) reply_bulk_cstr(c, command_table[i].name);
}

/* Copies [p, p+n) lowercased into buf. */
static const char *lower_copy(char *buf, size_t cap, const char *p, size_t n) {
    if (n >= cap) n = cap - 1;
    for (size_t i = 0; i < n; i++) buf[i] = (char)tolower((unsigned char)p[i]);
    buf[n] = '\0';
    return buf;
}

/* One alternative of a "oneof" written in the table as "EX seconds" (token
 * and value) or "KEEPTTL" (a pure token), as Redis 7 nests them. */
static void reply_oneof_alternative(client *c, const char *alt, size_t n) {
    const char *sp = memchr(alt, ' ', n);
    char tok[64], name[64];
    snprintf(tok, sizeof tok, "%.*s", (int)(sp ? (size_t)(sp - alt) : n), alt);
    reply_map(c, 3);
    reply_bulk_cstr(c, "name");
    if (sp) reply_bulk_cstr(c, lower_copy(name, sizeof name, sp + 1, n - (size_t)(sp - alt) - 1));
    else reply_bulk_cstr(c, lower_copy(name, sizeof name, alt, n));
    reply_bulk_cstr(c, "type");
    reply_bulk_cstr(c, sp ? "string" : "pure-token");
    reply_bulk_cstr(c, "token");
    reply_bulk_cstr(c, tok);
}

/* The nested "arguments" of a oneof (alternatives in `token`, separated by
 * '|') or a block (parts in `name`, separated by spaces). redis-cli 7.0
 * reads these recursively and crashes on a oneof/block without them. */
static void reply_nested_args(client *c, const command_arg_doc *a) {
    const char *src = a->token ? a->token : a->name;
    char sep = !strcmp(a->type, "oneof") ? '|' : ' ';
    long n = 1;
    for (const char *q = src; *q; q++) n += *q == sep;
    reply_array(c, n);
    const char *p = src;
    for (long i = 0; i < n; i++) {
        const char *e = strchr(p, sep);
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (sep == '|') {
            reply_oneof_alternative(c, p, len);
        } else {
            char name[64];
            reply_map(c, 2);
            reply_bulk_cstr(c, "name");
            reply_bulk_cstr(c, lower_copy(name, sizeof name, p, len));
            reply_bulk_cstr(c, "type");
            reply_bulk_cstr(c, "string");
        }
        p = e ? e + 1 : p + len;
    }
}

static void reply_arg_docs(client *c, const command_arg_doc *args) {
    long n = 0;
    while (args[n].name) n++;
    reply_array(c, n);
    for (long i = 0; i < n; i++) {
        const command_arg_doc *a = &args[i];
        int nested = !strcmp(a->type, "oneof") || !strcmp(a->type, "block");
        const char *token = nested ? NULL : a->token;
        int fields = 2 + (token != NULL) + ((a->optional || a->multiple) ? 1 : 0) + nested;
        reply_map(c, fields);
        reply_bulk_cstr(c, "name");
        reply_bulk_cstr(c, a->name);
        reply_bulk_cstr(c, "type");
        reply_bulk_cstr(c, a->type);
        if (token) {
            reply_bulk_cstr(c, "token");
            reply_bulk_cstr(c, token);
        }
        if (a->optional || a->multiple) {
            reply_bulk_cstr(c, "flags");
            reply_set(c, (a->optional != 0) + (a->multiple != 0));
            if (a->optional) reply_simple(c, "optional");
            if (a->multiple) reply_simple(c, "multiple");
        }
        if (nested) {
            reply_bulk_cstr(c, "arguments");
            reply_nested_args(c, a);
        }
    }
}

static void reply_command_docs(client *c, const command *cmd) {
    int fields = 4 + (cmd->args != NULL) + (cmd->subcommands != NULL);
    reply_map(c, fields);
    reply_bulk_cstr(c, "summary");
    reply_bulk_cstr(c, cmd->summary);
    reply_bulk_cstr(c, "since");
    reply_bulk_cstr(c, cmd->since);
    reply_bulk_cstr(c, "group");
    reply_bulk_cstr(c, cmd->group);
    reply_bulk_cstr(c, "complexity");
    reply_bulk_cstr(c, cmd->complexity);
    if (cmd->args) {
        reply_bulk_cstr(c, "arguments");
        reply_arg_docs(c, cmd->args);
    }
    if (cmd->subcommands) {
        long n = 0;
        while (cmd->subcommands[n].name) n++;
        reply_bulk_cstr(c, "subcommands");
        reply_map(c, n);
        for (long j = 0; j < n; j++) {
            char full[64];
            snprintf(full, sizeof full, "%s|%s", cmd->name, cmd->subcommands[j].name);
            reply_bulk_cstr(c, full);
            reply_command_docs(c, &cmd->subcommands[j]);
        }
    }
}

void cmd_command_docs(client *c) {
    if (c->argc == 2) {
        reply_map(c, (long)NCOMMANDS);
        for (size_t i = 0; i < NCOMMANDS; i++) {
            reply_bulk_cstr(c, command_table[i].name);
            reply_command_docs(c, &command_table[i]);
        }
        return;
    }
    reply_deferred *d = reply_deferred_begin(c);
    long n = 0;
    for (int i = 2; i < c->argc; i++) {
        const command *cmd = command_lookup(c->argv[i].ptr, c->argv[i].len);
        if (cmd == NULL) continue;    /* Redis skips unknown names */
        reply_bulk_cstr(c, cmd->name);
        reply_command_docs(c, cmd);
        n++;
    }
    reply_deferred_map(c, d, n);
}

/* <CONTAINER> HELP, generated from the subcommand table. */
void cmd_help(client *c) {
    const command *parent = command_lookup(c->argv[0].ptr, c->argv[0].len);
    if (parent == NULL || parent->subcommands == NULL) {
        reply_error_syntax(c);
        return;
    }
    char upper[32];
    size_t k;
    for (k = 0; parent->name[k] && k < sizeof upper - 1; k++)
        upper[k] = (char)toupper((unsigned char)parent->name[k]);
    upper[k] = '\0';
    reply_deferred *d = reply_deferred_begin(c);
    long lines = 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
             upper);
    reply_simple(c, buf);
    lines++;
    for (const command *s = parent->subcommands; s->name; s++) {
        size_t off = 0;
        for (k = 0; s->name[k] && off < sizeof buf - 1; k++)
            buf[off++] = (char)toupper((unsigned char)s->name[k]);
        buf[off] = '\0';
        for (const command_arg_doc *a = s->args; a && a->name && off < sizeof buf - 64; a++) {
            const char *open = a->optional ? "[" : "", *close = a->optional ? "]" : "";
            if (a->token && !strcmp(a->type, "pure-token"))
                off += (size_t)snprintf(buf + off, sizeof buf - off, " %s%s%s", open, a->token, close);
            else if (a->token)
                off += (size_t)snprintf(buf + off, sizeof buf - off, " %s%s <%s>%s", open,
                                        a->token, a->name, close);
            else
                off += (size_t)snprintf(buf + off, sizeof buf - off, " %s<%s>%s%s", open,
                                        a->name, a->multiple ? " ..." : "", close);
        }
        reply_simple(c, buf);
        snprintf(buf, sizeof buf, "    %s", s->summary);
        reply_simple(c, buf);
        lines += 2;
    }
    reply_deferred_array(c, d, lines);
}
