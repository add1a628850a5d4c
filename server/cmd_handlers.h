/* cmd_handlers.h -- prototypes of every command handler in the table.
 *
 * One line per handler, grouped by the cmd_<family>.c file that defines
 * it. Handlers run on the loop thread with c->argc/c->argv holding a
 * request whose arity commands.c has already checked; they answer through
 * reply.h exactly once (or park the client with client_block). */
#ifndef SIMCACHE_CMD_HANDLERS_H
#define SIMCACHE_CMD_HANDLERS_H

#include "client.h"

/* cmd_conn.c: connection */
void cmd_ping(client *c);
void cmd_echo(client *c);
void cmd_hello(client *c);
void cmd_auth(client *c);
void cmd_quit(client *c);
void cmd_reset(client *c);
void cmd_select(client *c);
void cmd_client_id(client *c);
void cmd_client_setname(client *c);
void cmd_client_getname(client *c);
void cmd_client_setinfo(client *c);
void cmd_client_list(client *c);
void cmd_client_kill(client *c);
void cmd_client_info(client *c);

/* cmd_server.c: server */
void cmd_info(client *c);
void cmd_config_get(client *c);
void cmd_config_set(client *c);
void cmd_config_resetstat(client *c);
void cmd_dbsize(client *c);
void cmd_flushall(client *c);
void cmd_time(client *c);
void cmd_slowlog_get(client *c);
void cmd_slowlog_len(client *c);
void cmd_slowlog_reset(client *c);
void cmd_shutdown(client *c);

/* commands.c: introspection, and HELP of every container command */
void cmd_command(client *c);
void cmd_command_count(client *c);
void cmd_command_docs(client *c);
void cmd_command_info(client *c);
void cmd_command_list(client *c);
void cmd_help(client *c);

/* cmd_string.c: strings (sc/keyspace) */
void cmd_get(client *c);
void cmd_set(client *c);
void cmd_setnx(client *c);
void cmd_setex(client *c);
void cmd_psetex(client *c);
void cmd_getex(client *c);
void cmd_getdel(client *c);
void cmd_getset(client *c);
void cmd_mget(client *c);
void cmd_mset(client *c);
void cmd_msetnx(client *c);
void cmd_incr(client *c);
void cmd_decr(client *c);
void cmd_incrby(client *c);
void cmd_decrby(client *c);
void cmd_incrbyfloat(client *c);
void cmd_append(client *c);
void cmd_strlen(client *c);
void cmd_getrange(client *c);
void cmd_setrange(client *c);

/* cmd_keys.c: generic key commands (sc/keyspace) */
void cmd_del(client *c);
void cmd_unlink(client *c);
void cmd_exists(client *c);
void cmd_touch(client *c);
void cmd_type(client *c);
void cmd_expire(client *c);
void cmd_pexpire(client *c);
void cmd_expireat(client *c);
void cmd_pexpireat(client *c);
void cmd_ttl(client *c);
void cmd_pttl(client *c);
void cmd_expiretime(client *c);
void cmd_pexpiretime(client *c);
void cmd_persist(client *c);
void cmd_scan(client *c);
void cmd_keys(client *c);
void cmd_randomkey(client *c);
void cmd_memory_usage(client *c);

/* cmd_cache.c: the semantic cache (sc/cache) */
void cmd_cache_create(client *c);
void cmd_cache_drop(client *c);
void cmd_cache_list(client *c);
void cmd_cache_info(client *c);
void cmd_cache_put(client *c);
void cmd_cache_get(client *c);
void cmd_cache_search(client *c);
void cmd_cache_del(client *c);
void cmd_cache_flush(client *c);
/* cmd_canary.c: aliases, canaries, feedback, the version matrix (sc/canary) */
void cmd_cache_alias(client *c);
void cmd_cache_unalias(client *c);
void cmd_cache_aliases(client *c);
void cmd_cache_canary(client *c);
void cmd_cache_feedback(client *c);
void cmd_cache_versions(client *c);
/* server hooks of cmd_cache.c (main.c): the hz timer's expiry/eviction
 * pass and pending-WAIT cleanup; at shutdown, answer every parked WAIT
 * with a miss and close its timer. */
void cache_cron_tick(void);
void cache_wait_shutdown(void);
/* INFO section "cache" (info_register_section in main.c). */
struct sbuf;
void cache_info(struct sbuf *o);

/* cmd_tenant.c: tenants' ledger and budgets (sc/cache) */
void cmd_tenant_usage(client *c);
void cmd_tenant_budget(client *c);

/* cmd_vset.c: vector sets (sc/vset) */
void cmd_vadd(client *c);
void cmd_vsim(client *c);
void cmd_vrem(client *c);
void cmd_vcard(client *c);
void cmd_vdim(client *c);
void cmd_vemb(client *c);
void cmd_vinfo(client *c);
void cmd_vismember(client *c);
void cmd_vgetattr(client *c);
void cmd_vsetattr(client *c);
void cmd_vrange(client *c);
void cmd_vrandmember(client *c);
void cmd_vlinks(client *c);

/* cmd_limit.c: rate limits and redis-cell's CL.THROTTLE (sc/limits) */
void cmd_limit_set(client *c);
void cmd_limit_take(client *c);
void cmd_limit_info(client *c);
void cmd_limit_del(client *c);
void cmd_limit_list(client *c);
void cmd_cl_throttle(client *c);

#endif
