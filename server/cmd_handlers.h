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

#endif
