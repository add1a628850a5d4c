/* commands.h -- the command table and dispatch.
 *
 * One static const table in commands.c holds every command: name, handler,
 * arity (negative = at least -arity arguments, counting the name), flags,
 * key positions (first, last, step; for COMMAND INFO and cluster-aware
 * clients), and the documentation that COMMAND DOCS and the README come from.
 * Families live in cmd_<family>.c; their handlers are declared in
 * cmd_handlers.h and listed in the table.
 *
 * Dispatch order (commands.c): unknown command, arity, authentication,
 * permission, memory limit (DENYOOM under maxmemory), then the handler.
 * Handlers never re-check arity. */
#ifndef SIMCACHE_COMMANDS_H
#define SIMCACHE_COMMANDS_H

#include <stdint.h>
#include "client.h"

typedef void cmd_proc(client *c);

enum {
    CMD_WRITE    = 1u << 0,  /* modifies data */
    CMD_READONLY = 1u << 1,  /* reads data only */
    CMD_DENYOOM  = 1u << 2,  /* refused with -OOM over maxmemory */
    CMD_ADMIN    = 1u << 3,  /* admin role only */
    CMD_FAST     = 1u << 4,  /* O(1) or O(log N) */
    CMD_NOAUTH   = 1u << 5,  /* allowed before authentication */
    CMD_LOADING  = 1u << 6,  /* allowed while loading */
    CMD_STALE    = 1u << 7,
    CMD_NOSCRIPT = 1u << 8,
    CMD_BLOCKING = 1u << 9,  /* may park the client */
    CMD_ROLE_ADMIN = 1u << 10, /* admin role only, yet outside Redis's @admin
                                * category (FLUSHALL, FLUSHDB) */
};

typedef struct command_arg_doc {
    const char *name;         /* "key", "seconds", ...; for a "block", its parts
                               * separated by spaces ("key value") */
    const char *type;         /* "key", "string", "integer", "pure-token", "oneof",
                               * "block" */
    const char *token;        /* "EX" for a token argument, or NULL; for a "oneof",
                               * its alternatives separated by '|', each a
                               * token optionally followed by a value name
                               * ("NX|XX", "EX seconds|PX milliseconds|KEEPTTL") */
    int optional;
    int multiple;
} command_arg_doc;

typedef struct command {
    const char *name;         /* lowercase */
    cmd_proc *proc;
    int arity;
    uint32_t flags;
    int first_key, last_key, key_step;  /* 0,0,0 for keyless */
    const char *group;        /* "string", "generic", "connection", "server", ... */
    const char *since;        /* version the command appeared in simcache */
    const char *summary;      /* one line */
    const char *complexity;
    const command_arg_doc *args;        /* NULL-terminated by name == NULL */
    const struct command *subcommands;  /* for CONFIG, CLIENT, ... NULL-terminated */
} command;

/* Builds the lookup index over the table. Call once before dispatching. */
int commands_init(void);

/* Runs the request in c->argc/c->argv: the checks listed above, then the
 * handler; updates command stats and the slow log. Loop thread only. */
void commands_execute(client *c);

/* The command clock (see commands.c): net.c brackets each batch of
 * requests with commands_batch_begin/end; within a batch commands_now_ms()
 * is the unix time in ms as of the end of the previous command, without a
 * clock read; outside a batch it reads CLOCK_REALTIME. main.c installs it
 * as the keyspace clock (ks_set_clock) and calls commands_clock_sync() from
 * the hz timer so wall-clock steps are followed. Loop thread only. */
void commands_batch_begin(void);
void commands_batch_end(void);
void commands_clock_sync(void);
int64_t commands_now_ms(void);

/* CLOCK_MONOTONIC in µs for request observation (obs.c), sharing the
 * command clock's reads. commands_clock_start_us: inside a command, the
 * reading its duration starts from (no clock read); outside, a fresh read.
 * commands_clock_read_us: a fresh read; inside a command it also serves as
 * the command's end reading, so the dispatcher does not read the clock
 * again after the handler (the handler's last work after it is not timed).
 * Loop thread only. */
uint64_t commands_clock_start_us(void);
uint64_t commands_clock_read_us(void);

/* INFO commandstats: "cmdstat_<name>:calls=..,usec=..,usec_per_call=..,
 * rejected_calls=..,failed_calls=.." lines for commands called at least
 * once; CONFIG RESETSTAT zeroes them. */
struct sbuf;
void commands_info_stats(struct sbuf *out);
void commands_reset_stats(void);

/* Per-command duration histogram (metrics.c): COMMAND_HIST_BOUNDS inclusive
 * upper bounds in microseconds, ascending; hist[i] of a command counts the
 * calls whose handler took <= bound i (and > bound i-1), hist[BOUNDS] the
 * slower ones. Not cumulative. */
#define COMMAND_HIST_BOUNDS 19
extern const uint64_t command_hist_bounds_us[COMMAND_HIST_BOUNDS];

typedef struct command_stat_view {
    const char *name;          /* "set", "config|get": static storage */
    uint64_t calls, usec, rejected, failed;   /* as in INFO commandstats */
    const uint64_t *hist;      /* COMMAND_HIST_BOUNDS + 1 counts; sum == calls */
} command_stat_view;

/* Calls fn for every command and subcommand with non-zero statistics, in
 * table order. The view is valid during the call only. Loop thread only. */
void commands_foreach_stat(void (*fn)(const command_stat_view *v, void *arg), void *arg);

/* Looks a command up by name, case-insensitively. NULL if unknown. */
const command *command_lookup(const char *name, size_t len);

#endif
