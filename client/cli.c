/* cli.c -- simcache-cli: a redis-cli work-alike on libsimcache.
 *
 * Design decisions:
 * 1. redis-cli's habits, so muscle memory and scripts carry over: the same
 *    flags (-h -p -s --user -a/--pass -n -2/-3 -x --raw --no-raw --csv),
 *    raw output when stdout is not a terminal, the same TTY formatting
 *    (numbered, indented aggregates, `(integer)`, `(nil)`, quoted bulks),
 *    the same exit codes as redis-cli 7.0 (1 when the connection fails,
 *    a usage error, or the connection breaks; an error *reply* prints
 *    `(error) ...` and still exits 0, as redis-cli does). The formatters follow redis-cli 7.0's
 *    cliFormatReplyTTY/Raw/CSV; tests/integration/test_client.py compares
 *    the output against golden files checked against redis-cli itself.
 * 2. --json (which redis-cli 7.0 lacks): one JSON value per reply; maps
 *    become objects (non-string keys are formatted as text), errors
 *    become {"error": "..."}, non-finite doubles strings.
 * 3. Interactive mode uses libedit (readline API) for line editing and a
 *    history file (~/.simcachecli_history, or $SIMCACHECLI_HISTFILE; set
 *    it to /dev/null to disable). Without libedit at build time it reads
 *    plain lines. `help <command>` is drawn from the server's COMMAND
 *    DOCS, so it always matches the server it talks to.
 * 4. Lines typed or piped on stdin are split like redis-cli's
 *    sdssplitargs: whitespace-separated, "double quotes" with \n \r \t \b
 *    \a \\ \" \xHH escapes, 'single quotes' with \' only.
 *
 * Not yet: -r/-i repetition, --scan/--bigkeys/--stat/latency modes,
 * cluster redirects, TLS, RESP3 push display while idle. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#ifdef SIMCACHE_HAVE_LIBEDIT
#include <editline/readline.h>
#endif

#include "simcache.h"

/* ---- growable output string ---- */

typedef struct str {
    char *p;
    size_t len, cap;
} str;

static void str_add(str *s, const char *p, size_t n) {
    if (s->cap - s->len < n + 1) {
        size_t cap = s->cap ? s->cap : 256;
        while (cap - s->len < n + 1) cap *= 2;
        char *np = realloc(s->p, cap);
        if (np == NULL) {
            fputs("simcache-cli: out of memory\n", stderr);
            exit(1);
        }
        s->p = np;
        s->cap = cap;
    }
    memcpy(s->p + s->len, p, n);
    s->len += n;
    s->p[s->len] = '\0';
}

static void str_cat(str *s, const char *z) { str_add(s, z, strlen(z)); }

static void str_fmt(str *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void str_fmt(str *s, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    str_add(s, tmp, n < (int)sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* redis sdscatrepr: a quoted, escaped rendering of binary data. */
static void str_repr(str *s, const char *p, size_t n) {
    str_add(s, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        switch (ch) {
        case '\\': str_add(s, "\\\\", 2); break;
        case '"': str_add(s, "\\\"", 2); break;
        case '\n': str_add(s, "\\n", 2); break;
        case '\r': str_add(s, "\\r", 2); break;
        case '\t': str_add(s, "\\t", 2); break;
        case '\a': str_add(s, "\\a", 2); break;
        case '\b': str_add(s, "\\b", 2); break;
        default:
            if (isprint(ch)) str_add(s, (const char *)&ch, 1);
            else str_fmt(s, "\\x%02x", ch);
        }
    }
    str_add(s, "\"", 1);
}

/* ---- formatters (redis-cli 7.0 compatible) ---- */

enum { OUT_TTY, OUT_RAW, OUT_CSV, OUT_JSON };

static void fmt_tty(str *o, const sc_reply *r, const char *prefix) {
    switch (r->type) {
    case SC_REPLY_ERROR: str_cat(o, "(error) "); str_add(o, r->str, r->len); break;
    case SC_REPLY_STATUS: str_add(o, r->str, r->len); break;
    case SC_REPLY_INTEGER: str_fmt(o, "(integer) %lld", r->integer); break;
    case SC_REPLY_DOUBLE: str_cat(o, "(double) "); str_add(o, r->str, r->len); break;
    case SC_REPLY_STRING: str_repr(o, r->str, r->len); break;
    case SC_REPLY_VERB: str_add(o, r->str, r->len); break;
    case SC_REPLY_NIL: str_cat(o, "(nil)"); break;
    case SC_REPLY_BOOL: str_cat(o, r->integer ? "(true)" : "(false)"); break;
    case SC_REPLY_BIGNUM: str_cat(o, "(big number) "); str_add(o, r->str, r->len); break;
    case SC_REPLY_ARRAY:
    case SC_REPLY_MAP:
    case SC_REPLY_SET:
    case SC_REPLY_PUSH:
    case SC_REPLY_ATTR: {
        if (r->elements == 0) {
            str_cat(o, r->type == SC_REPLY_ARRAY ? "(empty array)"
                       : r->type == SC_REPLY_MAP ? "(empty hash)"
                       : r->type == SC_REPLY_SET ? "(empty set)"
                       : r->type == SC_REPLY_PUSH ? "(empty push)"
                                                  : "(empty aggregate type)");
            break;
        }
        unsigned idxlen = 0;
        size_t i = r->type == SC_REPLY_MAP ? r->elements / 2 : r->elements;
        do {
            idxlen++;
            i /= 10;
        } while (i);
        char *np = malloc(strlen(prefix) + idxlen + 3);
        if (np == NULL) exit(1);
        sprintf(np, "%s%*s", prefix, (int)(idxlen + 2), "");
        char sep = r->type == SC_REPLY_SET ? '~' : r->type == SC_REPLY_MAP ? '#' : ')';
        for (i = 0; i < r->elements; i++) {
            unsigned human = (unsigned)(r->type == SC_REPLY_MAP ? i / 2 : i) + 1;
            str_fmt(o, "%s%*u%c ", i == 0 ? "" : prefix, (int)idxlen, human, sep);
            fmt_tty(o, r->element[i], np);
            if (r->type == SC_REPLY_MAP) {
                i++;
                o->len--;   /* drop the key's newline */
                str_cat(o, " => ");
                /* As redis-cli 7.0 shows it: a value spanning several
                 * lines starts on its own line, indented like this map's
                 * children; a one-line value stays after the arrow. */
                str v = {0};
                fmt_tty(&v, r->element[i], np);
                char *nl = memchr(v.p, '\n', v.len);
                if (nl && nl != v.p + v.len - 1) {
                    str_cat(o, "\n");
                    str_cat(o, np);
                }
                str_add(o, v.p, v.len);
                free(v.p);
            }
        }
        free(np);
        return;   /* children ended with their own newline */
    }
    }
    str_cat(o, "\n");
}

static void fmt_raw(str *o, const sc_reply *r) {
    switch (r->type) {
    case SC_REPLY_NIL: break;
    case SC_REPLY_ERROR:
        str_add(o, r->str, r->len);
        str_cat(o, "\n");
        break;
    case SC_REPLY_STATUS:
    case SC_REPLY_STRING:
    case SC_REPLY_VERB:
    case SC_REPLY_DOUBLE:
    case SC_REPLY_BIGNUM: str_add(o, r->str, r->len); break;
    case SC_REPLY_BOOL: str_cat(o, r->integer ? "(true)" : "(false)"); break;
    case SC_REPLY_INTEGER: str_fmt(o, "%lld", r->integer); break;
    case SC_REPLY_MAP:
    case SC_REPLY_ATTR:
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
            if (i > 0) str_cat(o, "\n");
            fmt_raw(o, r->element[i]);
            str_cat(o, " ");
            fmt_raw(o, r->element[i + 1]);
        }
        break;
    default:
        for (size_t i = 0; i < r->elements; i++) {
            if (i > 0) str_cat(o, "\n");
            fmt_raw(o, r->element[i]);
        }
    }
}

static void fmt_csv(str *o, const sc_reply *r) {
    switch (r->type) {
    case SC_REPLY_ERROR: str_cat(o, "ERROR,"); str_repr(o, r->str, r->len); break;
    case SC_REPLY_STATUS:
    case SC_REPLY_STRING:
    case SC_REPLY_VERB: str_repr(o, r->str, r->len); break;
    case SC_REPLY_INTEGER: str_fmt(o, "%lld", r->integer); break;
    case SC_REPLY_DOUBLE:
    case SC_REPLY_BIGNUM: str_add(o, r->str, r->len); break;
    case SC_REPLY_NIL: str_cat(o, "NULL"); break;
    case SC_REPLY_BOOL: str_cat(o, r->integer ? "true" : "false"); break;
    default:
        for (size_t i = 0; i < r->elements; i++) {
            fmt_csv(o, r->element[i]);
            if (i != r->elements - 1) str_cat(o, ",");
        }
    }
}

static void json_str(str *o, const char *p, size_t n) {
    str_add(o, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch == '"') str_add(o, "\\\"", 2);
        else if (ch == '\\') str_add(o, "\\\\", 2);
        else if (ch == '\n') str_add(o, "\\n", 2);
        else if (ch == '\r') str_add(o, "\\r", 2);
        else if (ch == '\t') str_add(o, "\\t", 2);
        else if (ch < 0x20 || ch == 0x7f) str_fmt(o, "\\u%04x", ch);
        else str_add(o, (const char *)&ch, 1);
    }
    str_add(o, "\"", 1);
}

static void fmt_json(str *o, const sc_reply *r) {
    switch (r->type) {
    case SC_REPLY_ERROR:
        str_cat(o, "{\"error\":");
        json_str(o, r->str, r->len);
        str_cat(o, "}");
        break;
    case SC_REPLY_STATUS:
    case SC_REPLY_STRING:
    case SC_REPLY_VERB: json_str(o, r->str, r->len); break;
    case SC_REPLY_INTEGER: str_fmt(o, "%lld", r->integer); break;
    case SC_REPLY_BIGNUM: str_add(o, r->str, r->len); break;
    case SC_REPLY_DOUBLE:
        if (isfinite(r->dval)) str_fmt(o, "%.17g", r->dval);
        else json_str(o, r->str, r->len);
        break;
    case SC_REPLY_NIL: str_cat(o, "null"); break;
    case SC_REPLY_BOOL: str_cat(o, r->integer ? "true" : "false"); break;
    case SC_REPLY_MAP:
    case SC_REPLY_ATTR:
        str_cat(o, "{");
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
            const sc_reply *k = r->element[i];
            if (i) str_cat(o, ",");
            if (k->str && k->type != SC_REPLY_DOUBLE) {
                json_str(o, k->str, k->len);
            } else {
                str t = {0};
                fmt_json(&t, k);
                json_str(o, t.p ? t.p : "", t.len);
                free(t.p);
            }
            str_cat(o, ":");
            fmt_json(o, r->element[i + 1]);
        }
        str_cat(o, "}");
        break;
    default:
        str_cat(o, "[");
        for (size_t i = 0; i < r->elements; i++) {
            if (i) str_cat(o, ",");
            fmt_json(o, r->element[i]);
        }
        str_cat(o, "]");
    }
}

static void print_reply(const sc_reply *r, int mode) {
    str o = {0};
    if (mode == OUT_TTY) {
        fmt_tty(&o, r, "");
    } else {
        if (mode == OUT_RAW) fmt_raw(&o, r);
        else if (mode == OUT_CSV) fmt_csv(&o, r);
        else fmt_json(&o, r);
        str_cat(&o, "\n");
    }
    fwrite(o.p, 1, o.len, stdout);
    fflush(stdout);
    free(o.p);
}

/* ---- argument splitting (redis sdssplitargs) ---- */

static int hexval(int c) {
    return isdigit(c) ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : -1;
}

typedef struct args {
    int argc;
    char **argv;
    size_t *lens;
} args;

static void args_free(args *a) {
    for (int i = 0; i < a->argc; i++) free(a->argv[i]);
    free(a->argv);
    free(a->lens);
    memset(a, 0, sizeof *a);
}

static void args_push(args *a, str *cur) {
    a->argv = realloc(a->argv, sizeof *a->argv * (size_t)(a->argc + 1));
    a->lens = realloc(a->lens, sizeof *a->lens * (size_t)(a->argc + 1));
    if (!a->argv || !a->lens) exit(1);
    if (cur->p == NULL) str_add(cur, "", 0);
    a->argv[a->argc] = cur->p;
    a->lens[a->argc++] = cur->len;
    memset(cur, 0, sizeof *cur);
}

/* Returns 0, or -1 on unbalanced quotes (a is then empty). */
static int split_args(const char *p, args *a) {
    memset(a, 0, sizeof *a);
    for (;;) {
        while (*p && isspace((unsigned char)*p)) p++;
        if (!*p) return 0;
        str cur = {0};
        int inq = 0, insq = 0, done = 0;
        while (!done) {
            if (inq) {
                if (p[0] == '\\' && p[1] == 'x' && hexval(p[2]) >= 0 && hexval(p[3]) >= 0) {
                    char ch = (char)(hexval(p[2]) * 16 + hexval(p[3]));
                    str_add(&cur, &ch, 1);
                    p += 3;
                } else if (p[0] == '\\' && p[1]) {
                    char ch;
                    p++;
                    switch (*p) {
                    case 'n': ch = '\n'; break;
                    case 'r': ch = '\r'; break;
                    case 't': ch = '\t'; break;
                    case 'b': ch = '\b'; break;
                    case 'a': ch = '\a'; break;
                    default: ch = *p;
                    }
                    str_add(&cur, &ch, 1);
                } else if (*p == '"') {
                    if (p[1] && !isspace((unsigned char)p[1])) goto bad;
                    done = 1;
                } else if (!*p) {
                    goto bad;
                } else {
                    str_add(&cur, p, 1);
                }
            } else if (insq) {
                if (p[0] == '\\' && p[1] == '\'') {
                    p++;
                    str_add(&cur, "'", 1);
                } else if (*p == '\'') {
                    if (p[1] && !isspace((unsigned char)p[1])) goto bad;
                    done = 1;
                } else if (!*p) {
                    goto bad;
                } else {
                    str_add(&cur, p, 1);
                }
            } else {
                switch (*p) {
                case ' ': case '\n': case '\r': case '\t': case '\0': done = 1; break;
                case '"': inq = 1; break;
                case '\'': insq = 1; break;
                default: str_add(&cur, p, 1);
                }
            }
            if (*p) p++;
        }
        args_push(a, &cur);
        continue;
    bad:
        free(cur.p);
        args_free(a);
        return -1;
    }
}

/* ---- help from COMMAND DOCS ---- */

static const sc_reply *map_get(const sc_reply *m, const char *key) {
    if (m == NULL || (m->type != SC_REPLY_MAP && m->type != SC_REPLY_ARRAY)) return NULL;
    for (size_t i = 0; i + 1 < m->elements; i += 2)
        if (m->element[i]->str && !strcasecmp(m->element[i]->str, key)) return m->element[i + 1];
    return NULL;
}

static int has_flag(const sc_reply *arg, const char *flag) {
    const sc_reply *f = map_get(arg, "flags");
    for (size_t i = 0; f && i < f->elements; i++)
        if (f->element[i]->str && !strcmp(f->element[i]->str, flag)) return 1;
    return 0;
}

static void syntax_args(str *o, const sc_reply *list, const char *sep);

static void syntax_arg(str *o, const sc_reply *a) {
    const sc_reply *name = map_get(a, "name"), *type = map_get(a, "type");
    const sc_reply *token = map_get(a, "token"), *sub = map_get(a, "arguments");
    int opt = has_flag(a, "optional"), mult = has_flag(a, "multiple");
    str one = {0};
    if (token && token->str) {
        str_add(&one, token->str, token->len);
        if (!(type && type->str && !strcmp(type->str, "pure-token"))) str_cat(&one, " ");
    }
    if (type && type->str && !strcmp(type->str, "oneof") && sub) syntax_args(&one, sub, "|");
    else if (type && type->str && !strcmp(type->str, "block") && sub) syntax_args(&one, sub, " ");
    else if (!(type && type->str && !strcmp(type->str, "pure-token")) && name && name->str)
        str_add(&one, name->str, name->len);
    if (opt) str_cat(o, "[");
    str_add(o, one.p ? one.p : "", one.len);
    if (mult) {
        str_cat(o, " [");
        str_add(o, one.p ? one.p : "", one.len);
        str_cat(o, " ...]");
    }
    if (opt) str_cat(o, "]");
    free(one.p);
}

static void syntax_args(str *o, const sc_reply *list, const char *sep) {
    for (size_t i = 0; i < list->elements; i++) {
        if (i) str_cat(o, sep);
        syntax_arg(o, list->element[i]);
    }
}

/* Prints help for the command named by argv[1..]. Returns 0 if found. */
static int print_help(sc_conn *c, int argc, char **argv) {
    if (argc < 2) {
        printf("simcache-cli %s\nType: \"help <command>\" for help on <command>\n"
               "      \"quit\" to exit\n",
               SIMCACHE_CLIENT_VERSION);
        return 0;
    }
    const char *av[3] = {"COMMAND", "DOCS", argv[1]};
    sc_reply *r = sc_command(c, 3, av, NULL);
    if (r == NULL) {
        fprintf(stderr, "Error: %s\n", sc_errstr(c));
        return -1;
    }
    const sc_reply *doc = r->elements >= 2 ? r->element[1] : NULL;
    if (doc == NULL || r->type == SC_REPLY_ERROR) {
        printf("No help for '%s'\n", argv[1]);
        sc_reply_free(r);
        return -1;
    }
    str o = {0};
    str_cat(&o, "\n  ");
    for (const char *p = r->element[0]->str; p && *p; p++) {
        char ch = (char)toupper((unsigned char)*p);
        str_add(&o, &ch, 1);
    }
    const sc_reply *a = map_get(doc, "arguments");
    if (a && a->elements) {
        str_cat(&o, " ");
        syntax_args(&o, a, " ");
    }
    str_cat(&o, "\n");
    const char *fields[] = {"summary", "since", "group", "complexity"};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        const sc_reply *v = map_get(doc, fields[i]);
        if (v && v->str && v->len) str_fmt(&o, "  %s: %s\n", fields[i], v->str);
    }
    str_cat(&o, "\n");
    fwrite(o.p, 1, o.len, stdout);
    free(o.p);
    sc_reply_free(r);
    return 0;
}

/* ---- options and main ---- */

typedef struct cfg {
    const char *host, *sock, *user, *pass;
    int port, db, resp, mode, mode_set, stdin_arg;
} cfg;

static void usage(FILE *f) {
    fprintf(f,
            "Usage: simcache-cli [OPTIONS] [cmd [arg [arg ...]]]\n"
            "  -h <hostname>      Server hostname (default: 127.0.0.1).\n"
            "  -p <port>          Server port (default: 6379).\n"
            "  -s <socket>        Server socket (overrides hostname and port).\n"
            "  -a <password>      Password to use when connecting to the server.\n"
            "  --pass <password>  Alias of -a.\n"
            "  --user <username>  Used to send ACL style 'AUTH username pass'. Needs -a.\n"
            "  -n <db>            Database number.\n"
            "  -2                 Start session in RESP2 protocol mode.\n"
            "  -3                 Start session in RESP3 protocol mode.\n"
            "  -x                 Read last argument from STDIN.\n"
            "  --raw              Use raw formatting for replies (default when STDOUT is\n"
            "                     not a tty).\n"
            "  --no-raw           Force formatted output even when STDOUT is not a tty.\n"
            "  --csv              Output in CSV format.\n"
            "  --json             Output in JSON format.\n"
            "  --help             Output this help and exit.\n"
            "  --version          Output version and exit.\n");
}

static int parse_opts(int argc, char **argv, cfg *c) {
    int i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "-h") && more) c->host = argv[++i];
        else if (!strcmp(a, "-p") && more) c->port = atoi(argv[++i]);
        else if (!strcmp(a, "-s") && more) c->sock = argv[++i];
        else if ((!strcmp(a, "-a") || !strcmp(a, "--pass")) && more) c->pass = argv[++i];
        else if (!strcmp(a, "--user") && more) c->user = argv[++i];
        else if (!strcmp(a, "-n") && more) c->db = atoi(argv[++i]);
        else if (!strcmp(a, "-2")) c->resp = 2;
        else if (!strcmp(a, "-3")) c->resp = 3;
        else if (!strcmp(a, "-x")) c->stdin_arg = 1;
        else if (!strcmp(a, "--raw")) c->mode = OUT_RAW, c->mode_set = 1;
        else if (!strcmp(a, "--no-raw")) c->mode = OUT_TTY, c->mode_set = 1;
        else if (!strcmp(a, "--csv")) c->mode = OUT_CSV, c->mode_set = 1;
        else if (!strcmp(a, "--json")) c->mode = OUT_JSON, c->mode_set = 1;
        else if (!strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "--version") || !strcmp(a, "-v")) {
            printf("simcache-cli %s\n", SIMCACHE_CLIENT_VERSION);
            exit(0);
        } else if (a[0] == '-' && a[1] != '\0' && !isdigit((unsigned char)a[1])) {
            fprintf(stderr, "Unrecognized option or bad number of args for: '%s'\n", a);
            exit(1);
        } else {
            break;
        }
    }
    return i;
}

static int run_one(sc_conn *c, int argc, const char **argv, const size_t *lens, int mode,
                   int *reply_err) {
    sc_reply *r = sc_command(c, argc, argv, lens);
    if (r == NULL) {
        fprintf(stderr, "Error: %s\n", sc_errstr(c));
        return -1;
    }
    if (r->type == SC_REPLY_ERROR) *reply_err = 1;
    print_reply(r, mode);
    sc_reply_free(r);
    return 0;
}

static char *read_all_stdin(size_t *len) {
    str s = {0};
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) str_add(&s, buf, n);
    if (s.p == NULL) str_add(&s, "", 0);
    *len = s.len;
    return s.p;
}

/* One typed or piped line: returns 1 to quit, 0 otherwise. */
static int run_line(sc_conn *c, const char *line, int mode, int interactive, int *reply_err) {
    args a;
    if (split_args(line, &a) != 0) {
        printf("Invalid argument(s)\n");
        return 0;
    }
    if (a.argc == 0) return 0;
    int quit = 0;
    if (interactive && (!strcasecmp(a.argv[0], "quit") || !strcasecmp(a.argv[0], "exit"))) {
        quit = 1;
    } else if (interactive && !strcasecmp(a.argv[0], "help")) {
        print_help(c, a.argc, a.argv);
    } else {
        if (sc_errcode(c) && sc_reconnect(c) != 0) {
            fprintf(stderr, "Could not connect: %s\n", sc_errstr(c));
        } else if (run_one(c, a.argc, (const char **)a.argv, a.lens, mode, reply_err) != 0 &&
                   !interactive) {
            quit = 1;
        }
    }
    args_free(&a);
    return quit;
}

static void interactive(sc_conn *c, const cfg *g) {
    char prompt[300];
    if (g->sock) snprintf(prompt, sizeof prompt, "%s> ", g->sock);
    else snprintf(prompt, sizeof prompt, "%s:%d> ", g->host, g->port);
    int dummy = 0;
#ifdef SIMCACHE_HAVE_LIBEDIT
    char hist[1024];
    const char *hf = getenv("SIMCACHECLI_HISTFILE");
    if (hf == NULL) {
        const char *home = getenv("HOME");
        snprintf(hist, sizeof hist, "%s/.simcachecli_history", home ? home : ".");
        hf = hist;
    }
    using_history();
    read_history(hf);
    for (;;) {
        char *line = readline(prompt);
        if (line == NULL) break;
        if (*line) {
            add_history(line);
            write_history(hf);
        }
        int q = run_line(c, line, g->mode, 1, &dummy);
        free(line);
        if (q) break;
    }
#else
    char line[65536];
    for (;;) {
        fputs(prompt, stdout);
        fflush(stdout);
        if (fgets(line, sizeof line, stdin) == NULL) break;
        if (run_line(c, line, g->mode, 1, &dummy)) break;
    }
#endif
}

int main(int argc, char **argv) {
    cfg g = {.host = "127.0.0.1", .port = 6379, .mode = OUT_TTY};
    int first = parse_opts(argc, argv, &g);
    if (!g.mode_set && !isatty(STDOUT_FILENO)) g.mode = OUT_RAW;
    /* The handshake is done here, not by sc_options, to behave as
     * redis-cli does: a failed AUTH or HELLO is a warning, and the
     * command then gets the server's NOAUTH error. */
    sc_options o = {0};
    sc_conn *c = g.sock ? sc_connect_unix_opts(g.sock, &o) : sc_connect_opts(g.host, g.port, &o);
    if (c == NULL) {
        fputs("simcache-cli: out of memory\n", stderr);
        return 1;
    }
    if (sc_errcode(c)) {
        const char *why = sc_errstr(c);
        if (!strncmp(why, "connect: ", 9)) why += 9;
        if (g.sock) fprintf(stderr, "Could not connect to simcache at %s: %s\n", g.sock, why);
        else fprintf(stderr, "Could not connect to simcache at %s:%d: %s\n", g.host, g.port, why);
        sc_free(c);
        return 1;
    }
    if (g.pass) {
        sc_reply *r = g.user ? sc_commandv(c, "AUTH", g.user, g.pass, NULL)
                             : sc_commandv(c, "AUTH", g.pass, NULL);
        if (r && r->type == SC_REPLY_ERROR) fprintf(stderr, "AUTH failed: %s\n", r->str);
        sc_reply_free(r);
    }
    if (g.db) {
        char db[16];
        snprintf(db, sizeof db, "%d", g.db);
        sc_reply *r = sc_commandv(c, "SELECT", db, NULL);
        if (r && r->type == SC_REPLY_ERROR) fprintf(stderr, "SELECT %d failed: %s\n", g.db, r->str);
        sc_reply_free(r);
    }
    if (g.resp == 3) {
        sc_reply *r = sc_commandv(c, "HELLO", "3", NULL);
        if (r && r->type == SC_REPLY_ERROR) fprintf(stderr, "HELLO 3 failed: %s\n", r->str);
        sc_reply_free(r);
    }
    int rc = 0, reply_err = 0;
    int nargs = argc - first;
    if (nargs > 0 || g.stdin_arg) {
        int n = nargs + g.stdin_arg;
        const char **av = calloc((size_t)n + 1, sizeof *av);
        size_t *lens = calloc((size_t)n + 1, sizeof *lens);
        char *last = NULL;
        if (!av || !lens) return 1;
        for (int i = 0; i < nargs; i++) {
            av[i] = argv[first + i];
            lens[i] = strlen(av[i]);
        }
        if (g.stdin_arg) {
            last = read_all_stdin(&lens[nargs]);
            av[nargs] = last;
        }
        if (n == 0 || run_one(c, n, av, lens, g.mode, &reply_err) != 0) rc = 1;
        free(last);
        free(av);
        free(lens);
    } else if (isatty(STDIN_FILENO)) {
        interactive(c, &g);
    } else {
        char *line = NULL;
        size_t cap = 0;
        while (getline(&line, &cap, stdin) > 0)
            if (run_line(c, line, g.mode, 0, &reply_err)) {
                rc = 1;
                break;
            }
        free(line);
    }
    sc_free(c);
    (void)reply_err;   /* redis-cli 7.0 exits 0 after an error reply */
    return rc;
}
