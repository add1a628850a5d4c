/* client_internal.h -- pieces shared by simcache.c (sync), simcache_async.c
 * and helpers.c; not installed. */
#ifndef SIMCACHE_CLIENT_INTERNAL_H
#define SIMCACHE_CLIENT_INTERNAL_H

#include "simcache.h"

/* sc_options with owned string copies. */
typedef struct sc_opts_copy {
    char *user, *password, *client_name, *tenant;
    int resp, timeout_ms, keep_attrs;
} sc_opts_copy;

int sc_opts_copy_init(sc_opts_copy *o, const sc_options *in);
void sc_opts_copy_free(sc_opts_copy *o);

/* One handshake command; argv points into the sc_opts_copy. */
typedef struct sc_cmd_args {
    int argc;
    const char *argv[8];
} sc_cmd_args;
int sc_handshake_cmds(const sc_opts_copy *o, sc_cmd_args cmds[3]);

/* Records "what: <error reply text>" in c's errstr (not sticky) and
 * returns SC_ERR_REPLY; r NULL: returns the connection's error. */
int sc_conn_reply_error(sc_conn *c, const char *what, const sc_reply *r);

/* Records a formatted message in c's errstr (not sticky); returns
 * SC_ERR_REPLY. */
int sc_conn_errf(sc_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
