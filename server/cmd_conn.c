/* cmd_conn.c -- connection commands: PING, ECHO, HELLO, AUTH, QUIT, RESET,
 * SELECT and the CLIENT family.
 *
 * Replies and error strings follow redis-server 7.0.15 as captured in
 * /work/shared/reference/ecosystem.md (HELLO's map, AUTH's WRONGPASS, the
 * "no password configured" wording), plus CLIENT SETINFO from Redis 7.2,
 * which redis-py 5 sends. Authentication model (config.c): `requirepass`
 * is the default user's password, `user name password` lines add users;
 * with neither, every connection is authenticated as "default". */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cmd_handlers.h"
#include "commands.h"
#include "config.h"
#include "errors.h"
#include "net.h"
#include "reply.h"
#include "sbuf.h"
#include "strconv.h"
#include "tenant.h"

void cmd_ping(client *c) {
    if (c->argc > 2) {
        reply_error_arity(c, "ping");
        return;
    }
    if (c->argc == 2) reply_bulk(c, c->argv[1].ptr, c->argv[1].len);
    else reply_simple(c, "PONG");
}

void cmd_echo(client *c) { reply_bulk(c, c->argv[1].ptr, c->argv[1].len); }

/* Authenticates c as user with pass; replies with the error and returns -1
 * on failure. */
static int auth_or_reply(client *c, const char *user, const req_arg *pass) {
    if (!config_auth_required() && strcmp(user, "default") == 0) {
        c->authenticated = 1;
        snprintf(c->user, sizeof c->user, "default");
        tenant_client_forget(c);
        return 0;
    }
    if (!config_check_user(user, pass->ptr, pass->len)) {
        reply_error(c, ERR_WRONGPASS);
        return -1;
    }
    c->authenticated = 1;
    snprintf(c->user, sizeof c->user, "%s", user);
    tenant_client_forget(c);
    return 0;
}

void cmd_auth(client *c) {
    if (c->argc > 3) {
        reply_error_syntax(c);
        return;
    }
    if (c->argc == 2) {
        if (!config_auth_required()) {
            reply_error(c, ERR_NOPASS);
            return;
        }
        if (auth_or_reply(c, "default", &c->argv[1]) == 0) reply_ok(c);
        return;
    }
    if (auth_or_reply(c, c->argv[1].ptr, &c->argv[2]) == 0) reply_ok(c);
}

/* Client names: printable ASCII without spaces (Redis clientSetName). */
static int valid_name(const req_arg *a) {
    for (size_t i = 0; i < a->len; i++) {
        unsigned char ch = (unsigned char)a->ptr[i];
        if (ch < '!' || ch > '~') return 0;
    }
    return 1;
}

static int set_name_or_reply(client *c, const req_arg *a) {
    if (!valid_name(a)) {
        reply_error(c, ERR_CLIENT_NAME);
        return -1;
    }
    if (a->len >= sizeof c->priv->name) {
        reply_error(c, "ERR client name too long");
        return -1;
    }
    memcpy(c->priv->name, a->ptr, a->len);
    c->priv->name[a->len] = '\0';
    return 0;
}

void cmd_hello(client *c) {
    long long ver = c->resp;
    int i = 1;
    if (c->argc >= 2) {
        if (strconv_ll(c->argv[1].ptr, c->argv[1].len, &ver) != 0) {
            reply_error(c, "ERR Protocol version is not an integer or out of range");
            return;
        }
        if (ver < 2 || ver > 3) {
            reply_error(c, ERR_NOPROTO);
            return;
        }
        i = 2;
    }
    const req_arg *user = NULL, *pass = NULL, *name = NULL;
    for (; i < c->argc; i++) {
        int more = c->argc - i - 1;
        if (!strcasecmp(c->argv[i].ptr, "auth") && more >= 2) {
            user = &c->argv[i + 1];
            pass = &c->argv[i + 2];
            i += 2;
        } else if (!strcasecmp(c->argv[i].ptr, "setname") && more >= 1) {
            name = &c->argv[i + 1];
            i += 1;
        } else {
            reply_errorf(c, "ERR Syntax error in HELLO option '%.128s'", c->argv[i].ptr);
            return;
        }
    }
    if (user && auth_or_reply(c, user->ptr, pass) != 0) return;
    if (client_auth_pending(c)) {
        reply_error(c, "NOAUTH HELLO must be called with the client already authenticated, "
                       "otherwise the HELLO AUTH <user> <pass> option can be used "
                       "to authenticate the client and select the RESP protocol version "
                       "at the same time");
        return;
    }
    if (name && set_name_or_reply(c, name) != 0) return;
    c->resp = (int)ver;
    reply_map(c, 7);
    reply_bulk_cstr(c, "server");
    reply_bulk_cstr(c, "simcache");
    reply_bulk_cstr(c, "version");
    reply_bulk_cstr(c, SIMCACHE_REDIS_COMPAT_VERSION);
    reply_bulk_cstr(c, "proto");
    reply_integer(c, c->resp);
    reply_bulk_cstr(c, "id");
    reply_integer(c, (long long)c->id);
    reply_bulk_cstr(c, "mode");
    reply_bulk_cstr(c, "standalone");
    reply_bulk_cstr(c, "role");
    reply_bulk_cstr(c, "master");
    reply_bulk_cstr(c, "modules");
    reply_array(c, 0);
}

void cmd_quit(client *c) {
    reply_ok(c);
    client_close_after_reply(c);
}

void cmd_reset(client *c) {
    c->resp = 2;
    c->priv->name[0] = '\0';
    c->authenticated = !config_auth_required();
    snprintf(c->user, sizeof c->user, "default");
    tenant_client_forget(c);
    reply_simple(c, "RESET");
}

void cmd_select(client *c) {
    long long db;
    if (strconv_ll(c->argv[1].ptr, c->argv[1].len, &db) != 0) {
        reply_error(c, ERR_NOT_INTEGER);
        return;
    }
    if (db != 0) {
        reply_error(c, ERR_DB_RANGE);
        return;
    }
    reply_ok(c);
}

/* ---- CLIENT ---- */

void cmd_client_id(client *c) { reply_integer(c, (long long)c->id); }

void cmd_client_setname(client *c) {
    if (set_name_or_reply(c, &c->argv[2]) == 0) reply_ok(c);
}

void cmd_client_getname(client *c) {
    if (c->priv->name[0]) reply_bulk_cstr(c, c->priv->name);
    else reply_null(c);
}

void cmd_client_setinfo(client *c) {
    const req_arg *attr = &c->argv[2], *val = &c->argv[3];
    char *dst;
    size_t cap;
    if (!strcasecmp(attr->ptr, "lib-name")) {
        dst = c->priv->lib_name;
        cap = sizeof c->priv->lib_name;
    } else if (!strcasecmp(attr->ptr, "lib-ver")) {
        dst = c->priv->lib_ver;
        cap = sizeof c->priv->lib_ver;
    } else {
        reply_errorf(c, "ERR Unrecognized option '%.128s'", attr->ptr);
        return;
    }
    if (!valid_name(val) || val->len >= cap) {
        reply_errorf(c, "ERR %s cannot contain spaces, newlines or special characters.",
                     dst == c->priv->lib_name ? "lib-name" : "lib-ver");
        return;
    }
    memcpy(dst, val->ptr, val->len);
    dst[val->len] = '\0';
    reply_ok(c);
}

/* One CLIENT LIST line, in Redis 7's field order (fields simcache has no
 * notion of, like pub/sub counts, are reported as Redis reports an idle
 * client). */
static void client_info_line(sbuf *out, client *c, uint64_t now_ms) {
    struct client_private *p = c->priv;
    char flags[8];
    int nf = 0;
    if (p->flags & CLIENT_BLOCKED) flags[nf++] = 'b';
    if (p->flags & CLIENT_CLOSE_AFTER_REPLY) flags[nf++] = 'c';
    if (p->flags & CLIENT_UNIX) flags[nf++] = 'U';
    if (nf == 0) flags[nf++] = 'N';
    flags[nf] = '\0';
    size_t qbuf = p->qlen - p->qpos;
    size_t omem = p->out.cap + p->wout.cap;
    sbuf_printf(out,
                "id=%llu addr=%s laddr=%s fd=%d name=%s age=%llu idle=%llu flags=%s db=0 "
                "sub=0 psub=0 ssub=0 multi=-1 qbuf=%zu qbuf-free=%zu argv-mem=0 multi-mem=0 "
                "rbs=%zu rbp=%zu obl=%zu oll=0 omem=%zu tot-mem=%zu events=r%s cmd=%s "
                "user=%s redir=-1 resp=%d lib-name=%s lib-ver=%s\n",
                (unsigned long long)c->id, p->addr, p->laddr, p->fd, p->name,
                (unsigned long long)((now_ms - p->ctime_ms) / 1000),
                (unsigned long long)((now_ms - p->last_ms) / 1000), flags, qbuf,
                p->qcap - p->qlen, p->qcap, p->qlen, client_output_pending(c), omem,
                sizeof(client) + sizeof *p + p->qcap + omem, p->writing ? "w" : "",
                p->last_cmd ? p->last_cmd : "NULL", c->user, c->resp, p->lib_name,
                p->lib_ver);
}

void cmd_client_list(client *c) {
    sbuf out = SBUF_INIT;
    uint64_t now = net_now_ms();
    int by_id = 0;
    if (c->argc > 2) {
        if (strcasecmp(c->argv[2].ptr, "id") == 0 && c->argc > 3) {
            by_id = 1;
        } else if (strcasecmp(c->argv[2].ptr, "type") == 0 && c->argc == 4) {
            if (strcasecmp(c->argv[3].ptr, "normal") != 0) {   /* no replicas/pubsub */
                if (strcasecmp(c->argv[3].ptr, "master") && strcasecmp(c->argv[3].ptr, "replica") &&
                    strcasecmp(c->argv[3].ptr, "slave") && strcasecmp(c->argv[3].ptr, "pubsub")) {
                    reply_errorf(c, "ERR Unknown client type '%.128s'", c->argv[3].ptr);
                    return;
                }
                reply_verbatim(c, "", 0, "txt");
                return;
            }
        } else {
            reply_error_syntax(c);
            return;
        }
    }
    if (by_id) {
        for (int i = 3; i < c->argc; i++) {
            long long id;
            if (strconv_ll(c->argv[i].ptr, c->argv[i].len, &id) != 0 || id <= 0) {
                reply_error(c, "ERR Invalid client ID");
                sbuf_free(&out);
                return;
            }
            for (client *o = net_clients_head(); o; o = o->priv->next)
                if (o->id == (uint64_t)id) client_info_line(&out, o, now);
        }
    } else {
        for (client *o = net_clients_head(); o; o = o->priv->next)
            client_info_line(&out, o, now);
    }
    if (out.oom) reply_error(c, "ERR out of memory");
    else reply_verbatim(c, sbuf_cstr(&out), out.len, "txt");
    sbuf_free(&out);
}

void cmd_client_info(client *c) {
    sbuf out = SBUF_INIT;
    client_info_line(&out, c, net_now_ms());
    reply_verbatim(c, sbuf_cstr(&out), out.len, "txt");
    sbuf_free(&out);
}

/* Kills c2 on behalf of c: the current client gets its reply first. */
static void kill_client(client *c, client *victim) {
    if (victim == c) client_close_after_reply(c);
    else client_close(victim);
}

void cmd_client_kill(client *c) {
    if (c->argc == 3) {   /* old form: CLIENT KILL ip:port */
        for (client *o = net_clients_head(); o; o = o->priv->next) {
            if (strcmp(o->priv->addr, c->argv[2].ptr) == 0) {
                reply_ok(c);
                kill_client(c, o);
                return;
            }
        }
        reply_error(c, ERR_NO_SUCH_CLIENT);
        return;
    }
    if ((c->argc - 2) % 2 != 0) {
        reply_error_syntax(c);
        return;
    }
    long long id = 0;
    const char *addr = NULL, *laddr = NULL, *user = NULL;
    int skipme = 1;
    for (int i = 2; i < c->argc; i += 2) {
        const char *opt = c->argv[i].ptr;
        const req_arg *v = &c->argv[i + 1];
        if (!strcasecmp(opt, "id")) {
            if (strconv_ll(v->ptr, v->len, &id) != 0 || id <= 0) {
                reply_error(c, "ERR client-id should be greater than 0");
                return;
            }
        } else if (!strcasecmp(opt, "addr")) {
            addr = v->ptr;
        } else if (!strcasecmp(opt, "laddr")) {
            laddr = v->ptr;
        } else if (!strcasecmp(opt, "user")) {
            user = v->ptr;
        } else if (!strcasecmp(opt, "skipme")) {
            if (!strcasecmp(v->ptr, "yes")) skipme = 1;
            else if (!strcasecmp(v->ptr, "no")) skipme = 0;
            else {
                reply_error_syntax(c);
                return;
            }
        } else if (!strcasecmp(opt, "type")) {
            if (strcasecmp(v->ptr, "normal") != 0) {
                reply_errorf(c, "ERR Unknown client type '%.128s'", v->ptr);
                return;
            }
        } else {
            reply_error_syntax(c);
            return;
        }
    }
    long killed = 0;
    int self = 0;
    for (client *o = net_clients_head(), *next; o; o = next) {
        next = o->priv->next;
        if (id && o->id != (uint64_t)id) continue;
        if (addr && strcmp(o->priv->addr, addr) != 0) continue;
        if (laddr && strcmp(o->priv->laddr, laddr) != 0) continue;
        if (user && strcmp(o->user, user) != 0) continue;
        if (o == c && skipme) continue;
        if (o == c) self = 1;
        else client_close(o);
        killed++;
    }
    reply_integer(c, killed);
    if (self) client_close_after_reply(c);
}
