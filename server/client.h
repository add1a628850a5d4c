/* client.h -- the connection state command handlers see.
 *
 * Handlers read the request from c->argc/c->argv and answer through reply.h;
 * they never touch the socket. net.c owns the rest of the struct (buffers,
 * libuv handles, lifecycle) and may extend it; fields below the marker are
 * private to net.c and commands.c.
 *
 * Threading: a client is touched only by the loop thread. Work done on a
 * worker thread holds a reference (client_ref/client_unref in net.h) and
 * reports back through uv_async_send; the completion re-checks that the
 * client is still open before replying. */
#ifndef SIMCACHE_CLIENT_H
#define SIMCACHE_CLIENT_H

#include <stdint.h>
#include "resp_parser.h"

struct command;

typedef struct client client;

struct client {
    uint64_t id;              /* CLIENT ID: unique, increasing from 1 */
    int resp;                 /* reply protocol: 2 or 3 (HELLO) */
    int argc;                 /* arguments of the current request, name first */
    req_arg *argv;            /* NUL-terminated; valid until the handler returns */
    const struct command *cmd;/* the command being executed */
    int authenticated;        /* 1 once AUTH/HELLO AUTH succeeded, or no auth needed */
    char user[64];            /* authenticated user name ("default" if none) */
    /* The connection's own tenant and role as tenant_of_client (tenant.c)
     * resolved them, valid while tenant_gen equals the registry's
     * generation (never 0, so a zeroed client has no cache). Whoever
     * changes `user` calls tenant_client_forget(c). */
    uint64_t tenant_gen;
    struct tenant *tenant_own;
    int tenant_role;          /* tenant_role (tenant.h) */
    /* ---- private to net.c / commands.c below ---- */
    struct client_private *priv;
};

#endif
