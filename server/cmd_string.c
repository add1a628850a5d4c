/* cmd_string.c -- string commands: GET, SET (NX|XX, GET, EX|PX|EXAT|PXAT|
 * KEEPTTL), SETNX, SETEX, PSETEX, GETEX, GETDEL, MGET, MSET, MSETNX,
 * GETSET, INCR/DECR/INCRBY/DECRBY, INCRBYFLOAT, APPEND, STRLEN, GETRANGE,
 * SETRANGE.
 *
 * Semantics and error wordings follow Redis 7.0 (t_string.c):
 *  1. Option parsing is Redis's parseExtendedStringArgumentsOrReply: options
 *     may repeat ("EX 1 EX 2": the last wins) but conflicting ones are a
 *     syntax error; the expire value is then validated
 *     (getExpireMillisecondsOrReply): not an integer -> "value is not an
 *     integer", <= 0 or overflowing -> "invalid expire time in 'set'
 *     command".
 *  2. An absolute expire time already in the past (EXAT/PXAT) stores and
 *     then deletes the key, replying OK, as Redis 7.0 does.
 *  3. Values are bytes; integers are parsed strictly (strconv_ll, Redis's
 *     string2ll) and INCR stores the decimal text keeping the TTL.
 *     INCRBYFLOAT computes in long double and prints with Redis's
 *     ld2string(LD_STR_HUMAN): "%.17Lf" with trailing zeros removed.
 *  4. Handlers stay short; parsing lives in parse_*_or_reply() helpers that
 *     reply with the error themselves and return -1.
 *
 * Threading: loop thread only (keyspace rule). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client.h"
#include "cmd_handlers.h"
#include "commands.h"
#include "config.h"
#include "keyspace.h"
#include "reply.h"
#include "strconv.h"

#define ERR_OOM_ALLOC "OOM out of memory allocating the value"

/* Flags of parse_set_args_or_reply (Redis OBJ_SET_*). */
enum {
    SET_NX = 1 << 0, SET_XX = 1 << 1, SET_GET = 1 << 2, SET_KEEPTTL = 1 << 3,
    SET_EX = 1 << 4, SET_PX = 1 << 5, SET_EXAT = 1 << 6, SET_PXAT = 1 << 7,
    SET_PERSIST = 1 << 8,
};
#define SET_ANY_EXPIRE (SET_EX | SET_PX | SET_EXAT | SET_PXAT)

enum { PARSE_SET, PARSE_GETEX };

static const char *cmd_name(client *c, const char *dflt) {
    return c->cmd && c->cmd->name ? c->cmd->name : dflt;
}

static void reply_invalid_expire(client *c, const char *dflt) {
    reply_errorf(c, "ERR invalid expire time in '%s' command", cmd_name(c, dflt));
}

static int arg_is(const req_arg *a, const char *s) {
    return strlen(s) == a->len && strncasecmp(a->ptr, s, a->len) == 0;
}

/* Redis parseExtendedStringArgumentsOrReply over argv[first..]. On success
 * *flags has the options and *exp_arg the expire argument (or NULL). */
static int parse_set_args_or_reply(client *c, int first, int type,
                                   int *flags, const req_arg **exp_arg) {
    *flags = 0;
    *exp_arg = NULL;
    for (int j = first; j < c->argc; j++) {
        const req_arg *a = &c->argv[j];
        const req_arg *next = j + 1 < c->argc ? &c->argv[j + 1] : NULL;
        int f = *flags;
        if (type == PARSE_SET && arg_is(a, "nx") && !(f & SET_XX)) {
            *flags |= SET_NX;
        } else if (type == PARSE_SET && arg_is(a, "xx") && !(f & SET_NX)) {
            *flags |= SET_XX;
        } else if (type == PARSE_SET && arg_is(a, "get")) {
            *flags |= SET_GET;
        } else if (type == PARSE_SET && arg_is(a, "keepttl") &&
                   !(f & (SET_PERSIST | SET_ANY_EXPIRE))) {
            *flags |= SET_KEEPTTL;
        } else if (type == PARSE_GETEX && arg_is(a, "persist") &&
                   !(f & (SET_KEEPTTL | SET_ANY_EXPIRE))) {
            *flags |= SET_PERSIST;
        } else if (next && !(f & (SET_KEEPTTL | SET_PERSIST))) {
            int want = arg_is(a, "ex") ? SET_EX : arg_is(a, "px") ? SET_PX
                     : arg_is(a, "exat") ? SET_EXAT : arg_is(a, "pxat") ? SET_PXAT : 0;
            if (want == 0 || (f & SET_ANY_EXPIRE & ~want)) goto syntax;
            *flags |= want;
            *exp_arg = next;
            j++;
        } else {
            goto syntax;
        }
    }
    return 0;
syntax:
    reply_error_syntax(c);
    return -1;
}

/* Redis getExpireMillisecondsOrReply: the absolute expire time in unix ms
 * for the parsed option. */
static int parse_expire_ms_or_reply(client *c, const req_arg *a, int flags,
                                    const char *dflt, int64_t *when) {
    long long v;
    if (strconv_ll(a->ptr, a->len, &v) != 0) {
        reply_error_not_integer(c);
        return -1;
    }
    int seconds = flags & (SET_EX | SET_EXAT);
    if (v <= 0 || (seconds && v > LLONG_MAX / 1000)) goto invalid;
    if (seconds) v *= 1000;
    if (flags & (SET_EX | SET_PX)) {
        int64_t now = ks_now_ms();
        if (v > LLONG_MAX - now) goto invalid;
        v += now;
    }
    *when = v;
    return 0;
invalid:
    reply_invalid_expire(c, dflt);
    return -1;
}

/* Looks a key up for reading a string: NULL with nothing sent if missing,
 * NULL after -WRONGTYPE if not a string (*err = 1). */
static ks_entry *lookup_string_or_reply(client *c, const req_arg *k,
                                        unsigned flags, int *err) {
    *err = 0;
    ks_entry *e = ks_lookup(k->ptr, k->len, flags);
    if (e && !ks_is_string(e)) {
        reply_error_wrongtype(c);
        *err = 1;
        return NULL;
    }
    return e;
}

static void reply_entry_value(client *c, const ks_entry *e) {
    size_t n;
    const char *s = ks_str(e, &n);
    reply_bulk(c, s, n);
}

/* Stores value under key with the expire time (or -1); deletes the key
 * again if the time is already past (Redis checkAlreadyExpired). */
static int store_or_reply(client *c, const req_arg *k, const req_arg *v,
                          int keepttl, int64_t when) {
    if (ks_set_string(k->ptr, k->len, v->ptr, v->len, keepttl) != 0) {
        reply_error(c, ERR_OOM_ALLOC);
        return -1;
    }
    if (when < 0) return 0;
    if (when <= ks_now_ms()) {
        ks_delete(k->ptr, k->len);
        return 0;
    }
    ks_entry *e = ks_lookup(k->ptr, k->len, KS_LOOKUP_WRITE | KS_LOOKUP_NOTOUCH);
    if (e && ks_set_expire(e, when) != 0) {
        ks_delete_entry(e);
        reply_error(c, ERR_OOM_ALLOC);
        return -1;
    }
    return 0;
}

void cmd_get(client *c) {
    int err;
    ks_entry *e = lookup_string_or_reply(c, &c->argv[1], 0, &err);
    if (err) return;
    if (e) reply_entry_value(c, e);
    else reply_null(c);
}

void cmd_set(client *c) {
    int flags;
    const req_arg *exp_arg;
    int64_t when = -1;
    if (parse_set_args_or_reply(c, 3, PARSE_SET, &flags, &exp_arg) != 0) return;
    if (exp_arg && parse_expire_ms_or_reply(c, exp_arg, flags, "set", &when) != 0)
        return;
    const req_arg *k = &c->argv[1];
    if (flags & SET_GET) {
        int err;
        ks_entry *old = lookup_string_or_reply(c, k, 0, &err);
        if (err) return;
        if (old) reply_entry_value(c, old);
        else reply_null(c);
    }
    int found = ks_lookup(k->ptr, k->len, KS_LOOKUP_WRITE | KS_LOOKUP_NOTOUCH) != NULL;
    if ((flags & SET_NX && found) || (flags & SET_XX && !found)) {
        if (!(flags & SET_GET)) reply_null(c);
        return;
    }
    if (store_or_reply(c, k, &c->argv[2], flags & SET_KEEPTTL, when) != 0) return;
    if (!(flags & SET_GET)) reply_ok(c);
}

void cmd_setnx(client *c) {
    const req_arg *k = &c->argv[1];
    if (ks_lookup(k->ptr, k->len, KS_LOOKUP_WRITE | KS_LOOKUP_NOTOUCH)) {
        reply_integer(c, 0);
        return;
    }
    if (store_or_reply(c, k, &c->argv[2], 0, -1) == 0) reply_integer(c, 1);
}

/* SETEX key seconds value / PSETEX key milliseconds value. */
static void setex_generic(client *c, int flags, const char *name) {
    int64_t when;
    if (parse_expire_ms_or_reply(c, &c->argv[2], flags, name, &when) != 0) return;
    if (store_or_reply(c, &c->argv[1], &c->argv[3], 0, when) == 0) reply_ok(c);
}

void cmd_setex(client *c) { setex_generic(c, SET_EX, "setex"); }
void cmd_psetex(client *c) { setex_generic(c, SET_PX, "psetex"); }

void cmd_getex(client *c) {
    int flags;
    const req_arg *exp_arg;
    int64_t when = -1;
    if (parse_set_args_or_reply(c, 2, PARSE_GETEX, &flags, &exp_arg) != 0) return;
    if (exp_arg && parse_expire_ms_or_reply(c, exp_arg, flags, "getex", &when) != 0)
        return;
    int err;
    ks_entry *e = lookup_string_or_reply(c, &c->argv[1], 0, &err);
    if (err) return;
    if (e == NULL) {
        reply_null(c);
        return;
    }
    reply_entry_value(c, e);
    if (when >= 0 && when <= ks_now_ms()) ks_delete_entry(e);
    else if (when >= 0 && ks_set_expire(e, when) != 0) ks_delete_entry(e);
    else if (flags & SET_PERSIST) ks_persist(e);
}

void cmd_getset(client *c) {
    int err;
    ks_entry *e = lookup_string_or_reply(c, &c->argv[1], 0, &err);
    if (err) return;
    /* Keep the old bytes until the new value is in: on ENOMEM the client
     * gets an error and the key is unchanged, never a half-done GETSET. */
    size_t n = 0;
    char *old = NULL;
    if (e) {
        const char *s = ks_str(e, &n);
        old = malloc(n ? n : 1);
        if (old == NULL) goto oom;
        memcpy(old, s, n);
    }
    if (ks_set_string(c->argv[1].ptr, c->argv[1].len, c->argv[2].ptr, c->argv[2].len, 0)) {
        free(old);
        goto oom;
    }
    if (old) reply_bulk(c, old, n);
    else reply_null(c);
    free(old);
    return;
oom:
    reply_error(c, ERR_OOM_ALLOC);
}

void cmd_getdel(client *c) {
    int err;
    ks_entry *e = lookup_string_or_reply(c, &c->argv[1], 0, &err);
    if (err) return;
    if (e == NULL) {
        reply_null(c);
        return;
    }
    reply_entry_value(c, e);
    ks_delete_entry(e);
}

void cmd_mget(client *c) {
    reply_array(c, c->argc - 1);
    for (int j = 1; j < c->argc; j++) {
        ks_entry *e = ks_lookup(c->argv[j].ptr, c->argv[j].len, 0);
        if (e && ks_is_string(e)) reply_entry_value(c, e);
        else reply_null(c);
    }
}

/* MSET/MSETNX: pairs after the name; an even argc is an arity error. */
static int check_pairs_or_reply(client *c) {
    if (c->argc % 2 == 0) {
        reply_error_arity(c, cmd_name(c, "mset"));
        return -1;
    }
    return 0;
}

static int mset_all_or_reply(client *c) {
    for (int j = 1; j < c->argc; j += 2)
        if (store_or_reply(c, &c->argv[j], &c->argv[j + 1], 0, -1) != 0) return -1;
    return 0;
}

void cmd_mset(client *c) {
    if (check_pairs_or_reply(c) != 0) return;
    if (mset_all_or_reply(c) == 0) reply_ok(c);
}

void cmd_msetnx(client *c) {
    if (check_pairs_or_reply(c) != 0) return;
    for (int j = 1; j < c->argc; j += 2) {
        if (ks_lookup(c->argv[j].ptr, c->argv[j].len,
                      KS_LOOKUP_WRITE | KS_LOOKUP_NOTOUCH)) {
            reply_integer(c, 0);
            return;
        }
    }
    if (mset_all_or_reply(c) == 0) reply_integer(c, 1);
}

/* INCR family: Redis incrDecrCommand. */
static void incr_generic(client *c, long long incr) {
    const req_arg *k = &c->argv[1];
    ks_entry *e = ks_lookup(k->ptr, k->len, KS_LOOKUP_WRITE);
    long long old = 0;
    if (e) {
        size_t n;
        const char *s = ks_str(e, &n);
        if (s == NULL) {
            reply_error_wrongtype(c);
            return;
        }
        if (strconv_ll(s, n, &old) != 0) {
            reply_error_not_integer(c);
            return;
        }
    }
    if ((incr < 0 && old < 0 && incr < LLONG_MIN - old) ||
        (incr > 0 && old > 0 && incr > LLONG_MAX - old)) {
        reply_error(c, "ERR increment or decrement would overflow");
        return;
    }
    long long v = old + incr;
    char buf[STRCONV_LL_BUFSZ];
    size_t n = strconv_ll_to_str(v, buf, sizeof(buf));
    if (ks_set_string(k->ptr, k->len, buf, n, 1) != 0) {
        reply_error(c, ERR_OOM_ALLOC);
        return;
    }
    reply_integer(c, v);
}

static int parse_ll_or_reply(client *c, const req_arg *a, long long *v) {
    if (strconv_ll(a->ptr, a->len, v) == 0) return 0;
    reply_error_not_integer(c);
    return -1;
}

void cmd_incr(client *c) { incr_generic(c, 1); }
void cmd_decr(client *c) { incr_generic(c, -1); }

void cmd_incrby(client *c) {
    long long v;
    if (parse_ll_or_reply(c, &c->argv[2], &v) == 0) incr_generic(c, v);
}

void cmd_decrby(client *c) {
    long long v;
    if (parse_ll_or_reply(c, &c->argv[2], &v) != 0) return;
    if (v == LLONG_MIN) {
        reply_error(c, "ERR decrement would overflow");
        return;
    }
    incr_generic(c, -v);
}

/* Redis ld2string(LD_STR_HUMAN). Returns the length. */
static size_t ld_to_human(long double v, char *buf, size_t cap) {
    int l = snprintf(buf, cap, "%.17Lf", v);
    if (l < 0 || (size_t)l >= cap) return 0;
    if (strchr(buf, '.') != NULL) {
        char *p = buf + l - 1;
        while (*p == '0') { p--; l--; }
        if (*p == '.') l--;
    }
    if (l == 2 && buf[0] == '-' && buf[1] == '0') { buf[0] = '0'; l = 1; }
    return (size_t)l;
}

void cmd_incrbyfloat(client *c) {
    const req_arg *k = &c->argv[1], *a = &c->argv[2];
    ks_entry *e = ks_lookup(k->ptr, k->len, KS_LOOKUP_WRITE);
    long double value = 0, incr;
    if (e) {
        size_t n;
        const char *s = ks_str(e, &n);
        if (s == NULL) {
            reply_error_wrongtype(c);
            return;
        }
        if (strconv_ld(s, n, &value) != 0) goto not_float;
    }
    if (strconv_ld(a->ptr, a->len, &incr) != 0) goto not_float;
    value += incr;
    if (isnan(value) || isinf(value)) {
        reply_error(c, "ERR increment would produce NaN or Infinity");
        return;
    }
    char buf[STRCONV_LD_MAX_CHARS];
    size_t n = ld_to_human(value, buf, sizeof(buf));
    if (n == 0 || ks_set_string(k->ptr, k->len, buf, n, 1) != 0) {
        reply_error(c, ERR_OOM_ALLOC);
        return;
    }
    reply_bulk(c, buf, n);
    return;
not_float:
    reply_error(c, "ERR value is not a valid float");
}

static long long max_string_len(void) {
    return g_cfg.proto_max_bulk_len > 0 ? g_cfg.proto_max_bulk_len : 512LL * 1024 * 1024;
}

void cmd_append(client *c) {
    const req_arg *k = &c->argv[1], *v = &c->argv[2];
    ks_entry *e = ks_lookup(k->ptr, k->len, KS_LOOKUP_WRITE);
    if (e == NULL) {
        if (store_or_reply(c, k, v, 0, -1) == 0) reply_integer(c, (long long)v->len);
        return;
    }
    size_t cur;
    if (ks_str(e, &cur) == NULL) {
        reply_error_wrongtype(c);
        return;
    }
    if ((long long)(cur + v->len) > max_string_len()) {
        reply_error(c, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
        return;
    }
    long long n = ks_append(e, v->ptr, v->len);
    if (n < 0) reply_error(c, ERR_OOM_ALLOC);
    else reply_integer(c, n);
}

/* Redis getrangeCommand: negative offsets count from the end; out of range
 * or inverted ranges give "". */
void cmd_getrange(client *c) {
    long long start, end;
    if (parse_ll_or_reply(c, &c->argv[2], &start) != 0) return;
    if (parse_ll_or_reply(c, &c->argv[3], &end) != 0) return;
    int err;
    ks_entry *e = lookup_string_or_reply(c, &c->argv[1], 0, &err);
    if (err) return;
    size_t n = 0;
    const char *s = e ? ks_str(e, &n) : "";
    long long len = (long long)n;
    if (start < 0 && end < 0 && start > end) goto empty;
    if (start < 0) start += len;
    if (end < 0) end += len;
    if (start < 0) start = 0;
    if (end < 0) end = 0;
    if (end >= len) end = len - 1;
    if (start > end || len == 0) goto empty;
    reply_bulk(c, s + start, (size_t)(end - start + 1));
    return;
empty:
    reply_bulk(c, "", 0);
}

/* Redis setrangeCommand: zero-pads up to offset; the new value is built
 * and stored whole (O(length)), keeping the TTL. */
void cmd_setrange(client *c) {
    long long off;
    const req_arg *k = &c->argv[1], *v = &c->argv[3];
    if (parse_ll_or_reply(c, &c->argv[2], &off) != 0) return;
    if (off < 0) {
        reply_error(c, "ERR offset is out of range");
        return;
    }
    ks_entry *e = ks_lookup(k->ptr, k->len, KS_LOOKUP_WRITE);
    size_t olen = 0;
    const char *old = e ? ks_str(e, &olen) : "";
    if (old == NULL) {
        reply_error_wrongtype(c);
        return;
    }
    if (v->len == 0) {
        reply_integer(c, (long long)olen);
        return;
    }
    if (off > max_string_len() - (long long)v->len) {
        reply_error(c, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
        return;
    }
    size_t nlen = (size_t)off + v->len > olen ? (size_t)off + v->len : olen;
    char *buf = calloc(nlen, 1);
    if (buf == NULL) {
        reply_error(c, ERR_OOM_ALLOC);
        return;
    }
    memcpy(buf, old, olen);
    memcpy(buf + off, v->ptr, v->len);
    int rc = ks_set_string(k->ptr, k->len, buf, nlen, 1);
    free(buf);
    if (rc != 0) reply_error(c, ERR_OOM_ALLOC);
    else reply_integer(c, (long long)nlen);
}

void cmd_strlen(client *c) {
    int err;
    ks_entry *e = lookup_string_or_reply(c, &c->argv[1], 0, &err);
    if (err) return;
    size_t n = 0;
    if (e) ks_str(e, &n);
    reply_integer(c, (long long)n);
}
