/* cmd_keys.c -- generic key commands: DEL, UNLINK, EXISTS, TOUCH, TYPE,
 * EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT [NX|XX|GT|LT], TTL, PTTL, EXPIRETIME,
 * PEXPIRETIME, PERSIST, SCAN, KEYS, RANDOMKEY, MEMORY USAGE.
 *
 * Semantics and wordings follow Redis 7.0 (db.c, expire.c, object.c):
 *  1. EXPIRE accepts negative and zero times; a time at or before now
 *     deletes the key and replies 1. GT treats a persistent key as an
 *     infinite TTL (never extended), LT lets any TTL be set on it.
 *  2. UNLINK frees synchronously, like DEL: values are freed on the loop
 *     thread (a big string is one free(); object types free themselves).
 *  3. SCAN walks the keyspace with the reverse-binary cursor (keyspace.c):
 *     every key present for the whole iteration is returned at least once;
 *     MATCH and TYPE filter after the walk, so a step can return no keys
 *     with a non-zero cursor (as in Redis).
 *  4. TTL/EXISTS/TYPE do not touch the LRU/LFU clock (Redis LOOKUP_NOTOUCH).
 *
 * Threading: loop thread only. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client.h"
#include "cmd_handlers.h"
#include "commands.h"
#include "glob.h"
#include "keyspace.h"
#include "reply.h"
#include "strconv.h"

static const char *cmd_name(client *c, const char *dflt) {
    return c->cmd && c->cmd->name ? c->cmd->name : dflt;
}

static int arg_is(const req_arg *a, const char *s) {
    return strlen(s) == a->len && strncasecmp(a->ptr, s, a->len) == 0;
}

void cmd_del(client *c) {
    long long n = 0;
    for (int j = 1; j < c->argc; j++) n += ks_delete(c->argv[j].ptr, c->argv[j].len);
    reply_integer(c, n);
}

void cmd_unlink(client *c) { cmd_del(c); }

void cmd_exists(client *c) {
    long long n = 0;
    for (int j = 1; j < c->argc; j++)
        n += ks_lookup(c->argv[j].ptr, c->argv[j].len, KS_LOOKUP_NOTOUCH) != NULL;
    reply_integer(c, n);
}

void cmd_touch(client *c) {
    long long n = 0;
    for (int j = 1; j < c->argc; j++)
        n += ks_lookup(c->argv[j].ptr, c->argv[j].len, 0) != NULL;
    reply_integer(c, n);
}

void cmd_type(client *c) {
    ks_entry *e = ks_lookup(c->argv[1].ptr, c->argv[1].len, KS_LOOKUP_NOTOUCH);
    reply_simple(c, e ? ks_type_name(e) : "none");
}

/* ---- EXPIRE family ---- */

enum { EXP_NX = 1, EXP_XX = 2, EXP_GT = 4, EXP_LT = 8 };

/* Redis parseExtendedExpireArgumentsOrReply. */
static int parse_expire_flags_or_reply(client *c, int *flags) {
    *flags = 0;
    for (int j = 3; j < c->argc; j++) {
        const req_arg *a = &c->argv[j];
        if (arg_is(a, "nx")) *flags |= EXP_NX;
        else if (arg_is(a, "xx")) *flags |= EXP_XX;
        else if (arg_is(a, "gt")) *flags |= EXP_GT;
        else if (arg_is(a, "lt")) *flags |= EXP_LT;
        else {
            reply_errorf(c, "ERR Unsupported option %.128s", a->ptr);
            return -1;
        }
    }
    if ((*flags & EXP_NX) && (*flags & (EXP_XX | EXP_GT | EXP_LT))) {
        reply_error(c, "ERR NX and XX, GT or LT options at the same time are not compatible");
        return -1;
    }
    if ((*flags & EXP_GT) && (*flags & EXP_LT)) {
        reply_error(c, "ERR GT and LT options at the same time are not compatible");
        return -1;
    }
    return 0;
}

/* The absolute time in ms from argv[2]: seconds or ms, relative or not. */
static int parse_when_or_reply(client *c, int seconds, int relative, int64_t *when) {
    long long v;
    if (strconv_ll(c->argv[2].ptr, c->argv[2].len, &v) != 0) {
        reply_error_not_integer(c);
        return -1;
    }
    if (seconds) {
        if (v > LLONG_MAX / 1000 || v < LLONG_MIN / 1000) goto invalid;
        v *= 1000;
    }
    if (relative) {
        int64_t now = ks_now_ms();
        if (v > LLONG_MAX - now) goto invalid;
        v += now;
    }
    *when = v;
    return 0;
invalid:
    reply_errorf(c, "ERR invalid expire time in '%s' command", cmd_name(c, "expire"));
    return -1;
}

/* NX/XX/GT/LT against the current expire (-1 = persistent). */
static int expire_allowed(int flags, int64_t cur, int64_t when) {
    if ((flags & EXP_NX) && cur != -1) return 0;
    if ((flags & EXP_XX) && cur == -1) return 0;
    if ((flags & EXP_GT) && (cur == -1 || when <= cur)) return 0;
    if ((flags & EXP_LT) && cur != -1 && when >= cur) return 0;
    return 1;
}

static void expire_generic(client *c, int seconds, int relative) {
    int flags;
    int64_t when;
    if (parse_expire_flags_or_reply(c, &flags) != 0) return;
    if (parse_when_or_reply(c, seconds, relative, &when) != 0) return;
    ks_entry *e = ks_lookup(c->argv[1].ptr, c->argv[1].len,
                            KS_LOOKUP_WRITE | KS_LOOKUP_NOTOUCH);
    if (e == NULL || !expire_allowed(flags, ks_get_expire(e), when)) {
        reply_integer(c, 0);
        return;
    }
    if (when <= ks_now_ms()) {
        ks_delete_entry(e);
    } else if (ks_set_expire(e, when) != 0) {
        reply_error(c, "OOM out of memory setting the expire time");
        return;
    }
    reply_integer(c, 1);
}

void cmd_expire(client *c) { expire_generic(c, 1, 1); }
void cmd_pexpire(client *c) { expire_generic(c, 0, 1); }
void cmd_expireat(client *c) { expire_generic(c, 1, 0); }
void cmd_pexpireat(client *c) { expire_generic(c, 0, 0); }

/* TTL/PTTL (remaining) and EXPIRETIME/PEXPIRETIME (absolute). */
static void ttl_generic(client *c, int ms, int absolute) {
    ks_entry *e = ks_lookup(c->argv[1].ptr, c->argv[1].len, KS_LOOKUP_NOTOUCH);
    if (e == NULL) {
        reply_integer(c, -2);
        return;
    }
    int64_t when = ks_get_expire(e);
    if (when == -1) {
        reply_integer(c, -1);
        return;
    }
    if (absolute) {
        reply_integer(c, ms ? when : (when + 500) / 1000); /* Redis rounds */
        return;
    }
    int64_t ttl = when - ks_now_ms();
    if (ttl < 0) ttl = 0;
    reply_integer(c, ms ? ttl : (ttl + 500) / 1000);
}

void cmd_ttl(client *c) { ttl_generic(c, 0, 0); }
void cmd_pttl(client *c) { ttl_generic(c, 1, 0); }
void cmd_expiretime(client *c) { ttl_generic(c, 0, 1); }
void cmd_pexpiretime(client *c) { ttl_generic(c, 1, 1); }

void cmd_persist(client *c) {
    ks_entry *e = ks_lookup(c->argv[1].ptr, c->argv[1].len,
                            KS_LOOKUP_WRITE | KS_LOOKUP_NOTOUCH);
    reply_integer(c, e ? ks_persist(e) : 0);
}

/* ---- SCAN / KEYS / RANDOMKEY ---- */

typedef struct scan_opts {
    const req_arg *match;  /* NULL or "*" = everything */
    const req_arg *type;   /* NULL = any type */
    long long count;
} scan_opts;

/* Redis 7.0 parseScanCursorOrReply is strtoul(): an optional sign, then
 * decimal digits (leading zeros fine); "-1" wraps to 2^64-1 as strtoul
 * does, out of range or anything else is "invalid cursor". */
static int parse_cursor_or_reply(client *c, const req_arg *a, uint64_t *cur) {
    const char *p = a->ptr, *end = a->ptr + a->len;
    int neg = 0;
    if (p < end && (*p == '-' || *p == '+')) neg = *p++ == '-';
    if (p == end) goto invalid;
    uint64_t v = 0;
    for (; p < end; p++) {
        unsigned d = (unsigned)((unsigned char)*p - '0');
        if (d > 9 || v > (UINT64_MAX - d) / 10) goto invalid;
        v = v * 10 + d;
    }
    *cur = neg ? (uint64_t)0 - v : v;
    return 0;
invalid:
    reply_error(c, "ERR invalid cursor");
    return -1;
}

static int parse_scan_opts_or_reply(client *c, int first, scan_opts *o) {
    o->match = o->type = NULL;
    o->count = 10;
    for (int j = first; j < c->argc; j += 2) {
        const req_arg *a = &c->argv[j];
        if (j + 1 >= c->argc) goto syntax;
        const req_arg *v = &c->argv[j + 1];
        if (arg_is(a, "count")) {
            if (strconv_ll(v->ptr, v->len, &o->count) != 0) {
                reply_error_not_integer(c);
                return -1;
            }
            if (o->count < 1) goto syntax;
        } else if (arg_is(a, "match")) {
            o->match = (v->len == 1 && v->ptr[0] == '*') ? NULL : v;
        } else if (arg_is(a, "type")) {
            o->type = v;
        } else {
            goto syntax;
        }
    }
    return 0;
syntax:
    reply_error_syntax(c);
    return -1;
}

typedef struct scan_out {
    const scan_opts *o;
    const ks_entry **v;
    size_t n, cap;
    int oom;
} scan_out;

static int scan_keep(const scan_opts *o, const ks_entry *e) {
    size_t kl;
    const char *k = ks_key(e, &kl);
    if (o->match && !glob_match(o->match->ptr, o->match->len, k, kl, 0)) return 0;
    if (o->type) {
        const char *t = ks_type_name(e);
        if (strlen(t) != o->type->len || strncasecmp(t, o->type->ptr, o->type->len))
            return 0;
    }
    return 1;
}

static void scan_collect_cb(void *ud, const ks_entry *e) {
    scan_out *s = ud;
    if (s->oom || !scan_keep(s->o, e)) return;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        const ks_entry **nv = realloc(s->v, cap * sizeof(*nv));
        if (nv == NULL) { s->oom = 1; return; }
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = e;
}

void cmd_scan(client *c) {
    uint64_t cursor;
    scan_opts o;
    if (parse_cursor_or_reply(c, &c->argv[1], &cursor) != 0) return;
    if (parse_scan_opts_or_reply(c, 2, &o) != 0) return;
    scan_out s = {&o, NULL, 0, 0, 0};
    size_t count = o.count > 1000000 ? 1000000 : (size_t)o.count;
    uint64_t next = ks_scan(cursor, count, scan_collect_cb, &s);
    if (s.oom) {
        free(s.v);
        reply_error(c, "OOM out of memory collecting SCAN results");
        return;
    }
    char buf[STRCONV_LL_BUFSZ + 1];
    /* The cursor is unsigned: print it as such. */
    size_t n = 0;
    char tmp[24];
    do { tmp[n++] = (char)('0' + next % 10); next /= 10; } while (next);
    for (size_t i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
    reply_array(c, 2);
    reply_bulk(c, buf, n);
    reply_array(c, (long)s.n);
    for (size_t i = 0; i < s.n; i++) {
        size_t kl;
        const char *k = ks_key(s.v[i], &kl);
        reply_bulk(c, k, kl);
    }
    free(s.v);
}

typedef struct keys_out {
    client *c;
    const req_arg *pat;  /* NULL = all */
    long n;
} keys_out;

static void keys_cb(void *ud, const ks_entry *e) {
    keys_out *o = ud;
    size_t kl;
    const char *k = ks_key(e, &kl);
    if (o->pat && !glob_match(o->pat->ptr, o->pat->len, k, kl, 0)) return;
    reply_bulk(o->c, k, kl);
    o->n++;
}

void cmd_keys(client *c) {
    const req_arg *p = &c->argv[1];
    keys_out o = {c, (p->len == 1 && p->ptr[0] == '*') ? NULL : p, 0};
    reply_deferred *d = reply_deferred_begin(c);
    ks_foreach(keys_cb, &o);
    reply_deferred_array(c, d, o.n);
}

void cmd_randomkey(client *c) {
    ks_entry *e = ks_random_entry();
    if (e == NULL) {
        reply_null(c);
        return;
    }
    size_t kl;
    const char *k = ks_key(e, &kl);
    reply_bulk(c, k, kl);
}

/* ---- MEMORY ---- */

/* MEMORY USAGE key [SAMPLES n]: a subcommand of core's MEMORY container
 * (argv[0] "memory", argv[1] "usage"); the table checks arity (-3). */
void cmd_memory_usage(client *c) {
    for (int j = 3; j < c->argc; j += 2) {
        long long samples;
        if (!arg_is(&c->argv[j], "samples") || j + 1 >= c->argc) {
            reply_error_syntax(c);
            return;
        }
        /* Sizes here are exact, so SAMPLES is validated and ignored. */
        if (strconv_ll(c->argv[j + 1].ptr, c->argv[j + 1].len, &samples) != 0) {
            reply_error_not_integer(c);
            return;
        }
        if (samples < 0) {
            reply_error_syntax(c);
            return;
        }
    }
    ks_entry *e = ks_lookup(c->argv[2].ptr, c->argv[2].len,
                            KS_LOOKUP_NOTOUCH | KS_LOOKUP_NOSTATS);
    if (e == NULL) reply_null(c);
    else reply_integer(c, (long long)ks_memory_usage(e));
}
