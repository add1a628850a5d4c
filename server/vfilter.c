/* vfilter.c -- compiler and evaluator of VSIM FILTER expressions
 * (language in vfilter.h).
 *
 * Design decisions:
 * 1. Compile once per query, evaluate per candidate: a recursive-descent
 *    parser with precedence climbing emits postfix code (push constant,
 *    push field, operator) into one array; evaluation is a loop over it
 *    with a value stack whose maximum depth is computed at compile time.
 *    Nesting is capped (VFILTER_MAX_DEPTH) so a hostile expression can
 *    neither exhaust the C stack while parsing nor make evaluation long.
 * 2. Selectors are resolved to field slots at compile time (deduplicated),
 *    and every candidate's attributes are scanned once, left to right,
 *    stopping as soon as every named field has been seen. Values of other
 *    keys are skipped without being parsed (strings are stepped over,
 *    arrays and objects bracket-counted), nothing is allocated per
 *    candidate, and strings point into the attribute text unless they
 *    contain escapes (then they are decoded into the scratch buffer).
 *    Rejected: a cJSON tree per candidate (an allocation per node, and the
 *    whole document parsed to read one key) and a parsed form cached per
 *    element (memory for every element, invalidation on VSETATTR, and the
 *    cache would be written from worker threads).
 * 3. JSON arrays are kept as raw text and only walked by `in`, element by
 *    element, so an attribute such as a long tag list costs nothing unless
 *    the expression tests membership in it.
 * 4. Redis semantics for failure: a missing field, an object value or
 *    malformed attributes make the element not match, whatever the rest of
 *    the expression says (no three-valued logic), so evaluation needs no
 *    short-circuit: every field is known before the code runs.
 * 5. Value semantics follow Redis 8's expr.c (conversions, equality, truth,
 *    `in`), including its oddities: `<` and friends always compare numbers
 *    (a non-numeric string is 0), and mixed-type `==` compares numbers.
 *    Extensions that Redis rejects as syntax errors: true/false literals,
 *    unary minus on any operand, exponents with a sign (1e-5), and
 *    backslash escapes in string literals (Redis keeps the backslash).
 *
 * Threading: a compiled filter is read-only; the scratch is per thread. */
#include "vfilter.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { T_NONE = 0, T_NUM, T_STR, T_LIST, T_JARR, T_NULL };

typedef struct val {
    int t;
    uint32_t n;          /* T_STR bytes, T_LIST entries, T_JARR bytes */
    double num;          /* T_NUM */
    const void *p;       /* T_STR chars, T_LIST val[], T_JARR text from '[' */
} val;

enum {
    OP_CONST, OP_FIELD, OP_NOT, OP_NEG, OP_POW, OP_MUL, OP_DIV, OP_MOD, OP_ADD, OP_SUB,
    OP_GT, OP_GE, OP_LT, OP_LE, OP_EQ, OP_NE, OP_IN, OP_AND, OP_OR
};

typedef struct ins {
    uint8_t op;
    uint32_t arg;        /* constant or field index */
} ins;

typedef struct field {
    char *name;
    uint32_t len;
} field;

struct vfilter {
    ins *code;
    size_t ncode, capcode;
    val *consts;
    size_t nconst, capconst;
    field *fields;
    size_t nfields, capfields;
    void **allocs;       /* decoded literal strings and list arrays */
    size_t nallocs, capallocs;
    size_t max_stack;
};

/* ------------------------------------------------------------ lexer */

typedef enum kind {
    K_END, K_NUM, K_STR, K_SEL, K_TRUE, K_FALSE, K_LP, K_RP, K_LB, K_RB, K_COMMA,
    K_NOT, K_POW, K_MUL, K_DIV, K_MOD, K_ADD, K_SUB, K_GT, K_GE, K_LT, K_LE, K_EQ,
    K_NE, K_IN, K_AND, K_OR, K_NULL, K_BAD
} kind;

typedef struct tok {
    kind k;
    size_t pos, len;     /* bytes of the token in the expression */
    double num;
} tok;

typedef struct parser {
    const char *s;
    size_t len, i;
    tok t;
    vfilter *f;
    int depth;
    int err;             /* VFILTER_ESYNTAX / VFILTER_ENOMEM, sticky */
    size_t errpos;
    size_t sp;           /* stack depth of the code emitted so far */
} parser;

static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
/* Selector characters as Redis: letters, digits, '_' and '-'. */
static int is_sel(char c) { return is_alpha(c) || is_digit(c) || c == '-'; }

/* Parses a number token of at most 63 bytes completely: 0 or -1. */
static int parse_num(const char *p, size_t n, double *out) {
    char buf[64];
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    char *end;
    double d = strtod(buf, &end);
    if (end != buf + n) return -1;
    *out = d;
    return 0;
}

static void lex(parser *p) {
    const char *s = p->s;
    while (p->i < p->len && (s[p->i] == ' ' || s[p->i] == '\t' || s[p->i] == '\n' ||
                             s[p->i] == '\r'))
        p->i++;
    tok *t = &p->t;
    t->pos = p->i;
    t->len = 1;
    if (p->i >= p->len) {
        t->k = K_END;
        t->len = 0;
        return;
    }
    size_t i = p->i, n = p->len;
    char c = s[i], d = i + 1 < n ? s[i + 1] : '\0';
    if (is_digit(c)) {
        size_t j = i;
        while (j < n && (is_digit(s[j]) || s[j] == '.' || s[j] == 'e' || s[j] == 'E' ||
                         ((s[j] == '-' || s[j] == '+') && (s[j - 1] == 'e' || s[j - 1] == 'E'))))
            j++;
        t->k = parse_num(s + i, j - i, &t->num) == 0 ? K_NUM : K_BAD;
        t->len = j - i;
    } else if (c == '.' && is_sel(d)) {
        size_t j = i + 1;
        while (j < n && is_sel(s[j])) j++;
        t->k = K_SEL;
        t->len = j - i;
    } else if (c == '"' || c == '\'') {
        size_t j = i + 1;
        while (j < n && s[j] != c) j += s[j] == '\\' ? 2 : 1;
        if (j >= n) {
            t->k = K_BAD;
        } else {
            t->k = K_STR;
            t->len = j + 1 - i;
        }
    } else if (is_alpha(c)) {
        size_t j = i;
        while (j < n && (is_alpha(s[j]) || is_digit(s[j]))) j++;
        static const struct { const char *w; kind k; } words[] = {
            {"and", K_AND}, {"or", K_OR}, {"not", K_NOT}, {"in", K_IN},
            {"true", K_TRUE}, {"false", K_FALSE}, {"null", K_NULL}};
        t->k = K_BAD;
        t->len = j - i;
        for (size_t w = 0; w < sizeof words / sizeof words[0]; w++)
            if (strlen(words[w].w) == j - i && memcmp(words[w].w, s + i, j - i) == 0)
                t->k = words[w].k;
    } else {
        static const struct { const char *o; kind k; } ops[] = {
            {"**", K_POW}, {">=", K_GE}, {"<=", K_LE}, {"==", K_EQ}, {"!=", K_NE},
            {"&&", K_AND}, {"||", K_OR}, {"*", K_MUL}, {"/", K_DIV}, {"%", K_MOD},
            {"+", K_ADD}, {"-", K_SUB}, {">", K_GT}, {"<", K_LT}, {"!", K_NOT},
            {"(", K_LP}, {")", K_RP}, {"[", K_LB}, {"]", K_RB}, {",", K_COMMA}};
        t->k = K_BAD;
        for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
            size_t ol = strlen(ops[o].o);
            if (i + ol <= n && memcmp(ops[o].o, s + i, ol) == 0) {
                t->k = ops[o].k;
                t->len = ol;
                break;
            }
        }
    }
    if (t->k == K_BAD) return;   /* position stays at the bad token */
    p->i = t->pos + t->len;
}

/* ------------------------------------------------------------ emitter */

static void fail(parser *p, int err, size_t pos) {
    if (p->err) return;
    p->err = err;
    p->errpos = pos;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need) n *= 2;
    void *a = realloc(*arr, n * elem);
    if (!a) return -1;
    *arr = a;
    *cap = n;
    return 0;
}

static void *track(parser *p, void *mem) {
    vfilter *f = p->f;
    if (!mem || grow((void **)&f->allocs, &f->capallocs, f->nallocs + 1, sizeof(void *)) != 0) {
        free(mem);
        fail(p, VFILTER_ENOMEM, p->t.pos);
        return NULL;
    }
    f->allocs[f->nallocs++] = mem;
    return mem;
}

static void emit(parser *p, uint8_t op, uint32_t arg) {
    vfilter *f = p->f;
    if (p->err) return;
    if (f->ncode >= VFILTER_MAX_OPS) {
        fail(p, VFILTER_ESYNTAX, p->t.pos);
        return;
    }
    if (grow((void **)&f->code, &f->capcode, f->ncode + 1, sizeof(ins)) != 0) {
        fail(p, VFILTER_ENOMEM, p->t.pos);
        return;
    }
    f->code[f->ncode].op = op;
    f->code[f->ncode++].arg = arg;
    if (op == OP_CONST || op == OP_FIELD) {
        if (++p->sp > f->max_stack) f->max_stack = p->sp;
    } else if (op != OP_NOT && op != OP_NEG) {
        p->sp--;
    }
}

static void emit_const(parser *p, val v) {
    vfilter *f = p->f;
    if (p->err) return;
    if (grow((void **)&f->consts, &f->capconst, f->nconst + 1, sizeof(val)) != 0) {
        fail(p, VFILTER_ENOMEM, p->t.pos);
        return;
    }
    f->consts[f->nconst] = v;
    emit(p, OP_CONST, (uint32_t)f->nconst++);
}

/* The literal string token's contents, unescaped (a backslash keeps the
 * next byte, except \n \t \r). */
static val string_literal(parser *p) {
    val v = {T_STR, 0, 0, NULL};
    const char *s = p->s + p->t.pos + 1;
    size_t n = p->t.len - 2;
    char *o = track(p, malloc(n + 1));
    if (!o) return v;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < n) {
            c = s[++i];
            if (c == 'n') c = '\n';
            else if (c == 't') c = '\t';
            else if (c == 'r') c = '\r';
        }
        o[m++] = c;
    }
    v.p = o;
    v.n = (uint32_t)m;
    return v;
}

static uint32_t field_index(parser *p) {
    vfilter *f = p->f;
    const char *name = p->s + p->t.pos + 1;
    uint32_t len = (uint32_t)(p->t.len - 1);
    for (size_t i = 0; i < f->nfields; i++)
        if (f->fields[i].len == len && memcmp(f->fields[i].name, name, len) == 0)
            return (uint32_t)i;
    char *copy = malloc(len + 1);
    if (!copy || grow((void **)&f->fields, &f->capfields, f->nfields + 1, sizeof(field)) != 0) {
        free(copy);
        fail(p, VFILTER_ENOMEM, p->t.pos);
        return 0;
    }
    memcpy(copy, name, len);
    copy[len] = '\0';
    f->fields[f->nfields].name = copy;
    f->fields[f->nfields].len = len;
    return (uint32_t)f->nfields++;
}

/* ------------------------------------------------------------ parser */

static void parse_expr(parser *p, int minprec);

static int binprec(kind k) {
    switch (k) {
    case K_OR: return 0;
    case K_AND: return 1;
    case K_GT: case K_GE: case K_LT: case K_LE: case K_EQ: case K_NE: case K_IN: return 2;
    case K_ADD: case K_SUB: return 3;
    case K_MUL: case K_DIV: case K_MOD: return 4;
    case K_POW: return 5;
    default: return -1;
    }
}

static uint8_t binop(kind k) {
    static const struct { kind k; uint8_t op; } map[] = {
        {K_OR, OP_OR}, {K_AND, OP_AND}, {K_GT, OP_GT}, {K_GE, OP_GE}, {K_LT, OP_LT},
        {K_LE, OP_LE}, {K_EQ, OP_EQ}, {K_NE, OP_NE}, {K_IN, OP_IN}, {K_ADD, OP_ADD},
        {K_SUB, OP_SUB}, {K_MUL, OP_MUL}, {K_DIV, OP_DIV}, {K_MOD, OP_MOD}, {K_POW, OP_POW}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i].k == k) return map[i].op;
    return OP_OR;   /* unreachable: callers pass binary kinds only */
}

/* [lit, lit, ...]: numbers (optionally negated), strings, true/false. */
static void parse_list(parser *p) {
    size_t n = 0, cap = 0;
    val *items = NULL;
    lex(p);                                        /* past '[' */
    while (!p->err && p->t.k != K_RB) {
        if (n > 0) {
            if (p->t.k != K_COMMA) break;
            lex(p);
        }
        val v = {T_NUM, 0, 0, NULL};
        int neg = 0;
        if (p->t.k == K_SUB) {
            neg = 1;
            lex(p);
        }
        if (p->t.k == K_NUM) v.num = neg ? -p->t.num : p->t.num;
        else if (p->t.k == K_TRUE && !neg) v.num = 1;
        else if (p->t.k == K_FALSE && !neg) v.num = 0;
        else if (p->t.k == K_STR && !neg) v = string_literal(p);
        else if (p->t.k == K_NULL && !neg) v.t = T_NULL;
        else break;
        if (p->err) break;
        if (grow((void **)&items, &cap, n + 1, sizeof(val)) != 0) {
            fail(p, VFILTER_ENOMEM, p->t.pos);
            break;
        }
        items[n++] = v;
        lex(p);
    }
    if (!p->err && p->t.k != K_RB) fail(p, VFILTER_ESYNTAX, p->t.pos);
    if (p->err) {
        free(items);
        return;
    }
    if (items && !track(p, items)) return;
    val list = {T_LIST, (uint32_t)n, 0, items};
    emit_const(p, list);
    lex(p);                                        /* past ']' */
}

static void parse_primary(parser *p) {
    val v = {T_NUM, 0, 0, NULL};
    switch (p->t.k) {
    case K_NUM:
        v.num = p->t.num;
        emit_const(p, v);
        break;
    case K_TRUE:
    case K_FALSE:
        v.num = p->t.k == K_TRUE;
        emit_const(p, v);
        break;
    case K_NULL:
        v.t = T_NULL;
        emit_const(p, v);
        break;
    case K_STR:
        v = string_literal(p);
        emit_const(p, v);
        break;
    case K_SEL:
        emit(p, OP_FIELD, field_index(p));
        break;
    case K_LB:
        parse_list(p);
        return;
    case K_LP:
        lex(p);
        parse_expr(p, 0);
        if (p->err) return;
        if (p->t.k != K_RP) {
            fail(p, VFILTER_ESYNTAX, p->t.pos);
            return;
        }
        break;
    default:
        fail(p, VFILTER_ESYNTAX, p->t.pos);
        return;
    }
    lex(p);
}

static void parse_unary(parser *p) {
    if (p->err) return;
    if (p->t.k == K_NOT || p->t.k == K_SUB) {
        uint8_t op = p->t.k == K_NOT ? OP_NOT : OP_NEG;
        if (++p->depth > VFILTER_MAX_DEPTH) {
            fail(p, VFILTER_ESYNTAX, p->t.pos);
            return;
        }
        lex(p);
        parse_unary(p);
        emit(p, op, 0);
        p->depth--;
        return;
    }
    parse_primary(p);
}

static void parse_expr(parser *p, int minprec) {
    if (++p->depth > VFILTER_MAX_DEPTH) {
        fail(p, VFILTER_ESYNTAX, p->t.pos);
        return;
    }
    parse_unary(p);
    while (!p->err) {
        kind k = p->t.k;
        int prec = binprec(k);
        if (prec < minprec) break;
        lex(p);
        parse_expr(p, k == K_POW ? prec : prec + 1);
        emit(p, binop(k), 0);
    }
    p->depth--;
}

void vfilter_free(vfilter *f) {
    if (!f) return;
    for (size_t i = 0; i < f->nallocs; i++) free(f->allocs[i]);
    for (size_t i = 0; i < f->nfields; i++) free(f->fields[i].name);
    free(f->allocs);
    free(f->fields);
    free(f->consts);
    free(f->code);
    free(f);
}

int vfilter_compile(const char *expr, size_t len, vfilter **out, size_t *errpos) {
    *out = NULL;
    *errpos = 0;
    vfilter *f = calloc(1, sizeof *f);
    if (!f) return VFILTER_ENOMEM;
    parser p = {.s = expr, .len = len, .f = f};
    lex(&p);
    parse_expr(&p, 0);
    if (!p.err && p.t.k != K_END) fail(&p, VFILTER_ESYNTAX, p.t.pos);
    if (p.err) {
        *errpos = p.errpos;
        vfilter_free(f);
        return p.err;
    }
    *out = f;
    return 0;
}

size_t vfilter_nfields(const vfilter *f) { return f->nfields; }

/* ------------------------------------------------------------ JSON scan */

typedef struct jscan {
    const char *s, *end;
    char *buf;           /* decoded strings: fields first, then temporaries */
    size_t head;         /* next free byte of buf for fields */
} jscan;

static const char *skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* p at '"': returns the byte after the closing quote (NULL if
 * unterminated); *esc is set if the string contains a backslash. */
static const char *skip_string(const char *p, const char *end, int *esc) {
    *esc = 0;
    for (p++; p < end; p++) {
        if (*p == '\\') {
            *esc = 1;
            p++;
        } else if (*p == '"') {
            return p + 1;
        }
    }
    return NULL;
}

static int hex4(const char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

/* Decodes the JSON string body s[0..n) into o (at most n bytes written):
 * returns the decoded length, or -1 for a bad escape. */
static long decode_json(const char *s, size_t n, char *o) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            o[m++] = s[i];
            continue;
        }
        if (++i >= n) return -1;
        switch (s[i]) {
        case 'b': o[m++] = '\b'; break;
        case 'f': o[m++] = '\f'; break;
        case 'n': o[m++] = '\n'; break;
        case 'r': o[m++] = '\r'; break;
        case 't': o[m++] = '\t'; break;
        case 'u': {
            unsigned cp;
            if (i + 4 >= n || hex4(s + i + 1, &cp) != 0) return -1;
            i += 4;
            unsigned lo;
            if (cp >= 0xD800 && cp < 0xDC00 && i + 6 < n && s[i + 1] == '\\' &&
                s[i + 2] == 'u' && hex4(s + i + 3, &lo) == 0 && lo >= 0xDC00 && lo < 0xE000) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            }
            if (cp < 0x80) {
                o[m++] = (char)cp;
            } else if (cp < 0x800) {
                o[m++] = (char)(0xC0 | (cp >> 6));
                o[m++] = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                o[m++] = (char)(0xE0 | (cp >> 12));
                o[m++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                o[m++] = (char)(0x80 | (cp & 0x3F));
            } else {
                o[m++] = (char)(0xF0 | (cp >> 18));
                o[m++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                o[m++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                o[m++] = (char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default: o[m++] = s[i]; break;   /* \" \\ \/ and lenient others */
        }
    }
    return (long)m;
}

/* Skips one JSON value at p: the byte after it, or NULL if malformed.
 * Containers are bracket-counted (strings inside are stepped over). */
static const char *skip_value(const char *p, const char *end) {
    int esc;
    if (p >= end) return NULL;
    if (*p == '"') return skip_string(p, end, &esc);
    if (*p == '[' || *p == '{') {
        size_t depth = 0;
        while (p < end) {
            if (*p == '"') {
                p = skip_string(p, end, &esc);
                if (!p) return NULL;
                continue;
            }
            if (*p == '[' || *p == '{') depth++;
            else if (*p == ']' || *p == '}') {
                if (--depth == 0) return p + 1;
            }
            p++;
        }
        return NULL;
    }
    const char *q = p;
    while (q < end && (is_alpha(*q) || is_digit(*q) || *q == '-' || *q == '+' || *q == '.')) q++;
    return q > p ? q : NULL;
}

/* Parses the scalar or array at p into *v (strings with escapes decoded
 * at buf + *head, advancing it when advance is set). Returns the byte after
 * the value, or NULL if malformed; v->t = T_NONE for null and objects. */
static const char *parse_value(const char *p, const char *end, val *v, char *buf, size_t *head,
                               int advance) {
    v->t = T_NONE;
    if (p >= end) return NULL;
    if (*p == '"') {
        int esc;
        const char *q = skip_string(p, end, &esc);
        if (!q) return NULL;
        v->t = T_STR;
        v->p = p + 1;
        v->n = (uint32_t)(q - p - 2);
        if (esc) {
            long m = decode_json(p + 1, v->n, buf + *head);
            if (m < 0) return NULL;
            v->p = buf + *head;
            v->n = (uint32_t)m;
            if (advance) *head += (size_t)m;
        }
        return q;
    }
    const char *q = skip_value(p, end);
    if (!q) return NULL;
    if (*p == '[') {
        v->t = T_JARR;
        v->p = p;
        v->n = (uint32_t)(q - p);
    } else if (*p == '{') {
        v->t = T_NONE;
    } else if (q - p == 4 && memcmp(p, "true", 4) == 0) {
        v->t = T_NUM;
        v->num = 1;
    } else if (q - p == 5 && memcmp(p, "false", 5) == 0) {
        v->t = T_NUM;
        v->num = 0;
    } else if (q - p == 4 && memcmp(p, "null", 4) == 0) {
        v->t = T_NULL;
    } else {
        if (parse_num(p, (size_t)(q - p), &v->num) != 0) return NULL;
        v->t = T_NUM;
    }
    return q;
}

/* Fills fields[0..nfields) from the top-level object. 1 if every field was
 * found with a usable value, 0 otherwise. */
static int resolve_fields(const vfilter *f, jscan *js, val *fields) {
    const char *p = skip_ws(js->s, js->end), *end = js->end;
    size_t left = f->nfields;
    for (size_t i = 0; i < f->nfields; i++) fields[i].t = T_NONE;
    if (p >= end || *p != '{') return 0;
    if (left == 0) return 1;                /* constant expression: any object */
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}') return left == 0;
    while (p < end) {
        if (*p != '"') return 0;
        int esc;
        const char *q = skip_string(p, end, &esc);
        if (!q) return 0;
        const char *key = p + 1;
        long klen = q - p - 2;
        if (esc) {
            klen = decode_json(key, (size_t)klen, js->buf + js->head);
            if (klen < 0) return 0;
            key = js->buf + js->head;   /* temporary: not advanced */
        }
        p = skip_ws(q, end);
        if (p >= end || *p != ':') return 0;
        p = skip_ws(p + 1, end);
        size_t idx = f->nfields;
        for (size_t i = 0; i < f->nfields; i++)
            if (fields[i].t == T_NONE && f->fields[i].len == (uint32_t)klen &&
                memcmp(f->fields[i].name, key, (size_t)klen) == 0) {
                idx = i;
                break;
            }
        if (idx < f->nfields) {
            p = parse_value(p, end, &fields[idx], js->buf, &js->head, 1);
            if (!p || fields[idx].t == T_NONE) return 0;   /* object: no match */
            if (--left == 0) return 1;
        } else {
            p = skip_value(p, end);
            if (!p) return 0;
        }
        p = skip_ws(p, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        break;
    }
    return 0;
}

/* ------------------------------------------------------------ evaluator */

/* Redis's conversions (expr.c): a string that is entirely a number
 * converts, any other value is 0. */
static double to_num(const val *v) {
    if (v->t == T_NUM) return v->num;
    double d;
    if (v->t == T_STR && parse_num(v->p, v->n, &d) == 0) return d;
    return 0;
}

/* Numbers are true when non-zero, strings when non-empty, null is false,
 * arrays are true. */
static int truth(const val *v) {
    if (v->t == T_NUM) return v->num != 0;
    if (v->t == T_STR) return v->n > 0;
    return v->t != T_NULL;
}

static int equal(const val *a, const val *b) {
    if (a->t == T_STR && b->t == T_STR)
        return a->n == b->n && (a->n == 0 || memcmp(a->p, b->p, a->n) == 0);
    if (a->t == T_NUM && b->t == T_NUM) return a->num == b->num;
    if (a->t == T_NULL || b->t == T_NULL) return a->t == b->t;
    return to_num(a) == to_num(b);
}

static int contains(const val *a, const val *b, char *tmp) {
    if (b->t == T_LIST) {
        const val *items = b->p;
        for (uint32_t i = 0; i < b->n; i++)
            if (equal(a, &items[i])) return 1;
        return 0;
    }
    if (b->t == T_JARR) {
        const char *p = (const char *)b->p + 1, *end = (const char *)b->p + b->n - 1;
        p = skip_ws(p, end);
        while (p < end) {
            val e;
            size_t head = 0;
            p = parse_value(p, end, &e, tmp, &head, 0);
            if (!p) return 0;
            if (e.t != T_NONE && e.t != T_JARR && equal(a, &e)) return 1;   /* nested: skipped */
            p = skip_ws(p, end);
            if (p >= end || *p != ',') break;
            p = skip_ws(p + 1, end);
        }
        return 0;
    }
    if (a->t == T_STR && b->t == T_STR) {
        if (a->n == 0) return 1;
        if (a->n > b->n) return 0;
        const char *h = b->p;
        for (size_t i = 0; i + a->n <= b->n; i++)
            if (h[i] == *(const char *)a->p && memcmp(h + i, a->p, a->n) == 0) return 1;
    }
    return 0;
}

static int reserve(void **p, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    void *n = realloc(*p, need);
    if (!n) return -1;
    *p = n;
    *cap = need;
    return 0;
}

int vfilter_match(const vfilter *f, const char *json, size_t len, vfilter_scratch *s) {
    if (!json || len == 0) return 0;
    /* buf: decoded field strings (at most len bytes in all, each decoded
     * from a distinct part of the text) plus one temporary of at most len
     * (a key, or an array element inside `in`). */
    if (reserve(&s->stack, &s->stack_cap, (f->max_stack + 1) * sizeof(val)) != 0 ||
        reserve(&s->fields, &s->fields_cap, (f->nfields + 1) * sizeof(val)) != 0 ||
        reserve((void **)&s->buf, &s->buf_cap, 2 * len + 1) != 0)
        return VFILTER_ENOMEM;
    val *fields = s->fields, *st = s->stack;
    jscan js = {json, json + len, s->buf, 0};
    if (!resolve_fields(f, &js, fields)) return 0;
    char *tmp = s->buf + js.head;
    size_t sp = 0;
    for (size_t pc = 0; pc < f->ncode; pc++) {
        const ins *in = &f->code[pc];
        val *a, *b;
        double r;
        switch (in->op) {
        case OP_CONST: st[sp++] = f->consts[in->arg]; continue;
        case OP_FIELD: st[sp++] = fields[in->arg]; continue;
        case OP_NOT: r = !truth(&st[sp - 1]); st[sp - 1] = (val){T_NUM, 0, r, NULL}; continue;
        case OP_NEG: r = -to_num(&st[sp - 1]); st[sp - 1] = (val){T_NUM, 0, r, NULL}; continue;
        default: break;
        }
        b = &st[--sp];
        a = &st[sp - 1];
        switch (in->op) {
        case OP_POW: r = pow(to_num(a), to_num(b)); break;
        case OP_MUL: r = to_num(a) * to_num(b); break;
        case OP_DIV: r = to_num(a) / to_num(b); break;
        case OP_MOD: r = fmod(to_num(a), to_num(b)); break;
        case OP_ADD: r = to_num(a) + to_num(b); break;
        case OP_SUB: r = to_num(a) - to_num(b); break;
        case OP_GT: r = to_num(a) > to_num(b); break;
        case OP_GE: r = to_num(a) >= to_num(b); break;
        case OP_LT: r = to_num(a) < to_num(b); break;
        case OP_LE: r = to_num(a) <= to_num(b); break;
        case OP_EQ: r = equal(a, b); break;
        case OP_NE: r = !equal(a, b); break;
        case OP_IN: r = contains(a, b, tmp); break;
        case OP_AND: r = truth(a) && truth(b); break;
        default: r = truth(a) || truth(b); break;   /* OP_OR */
        }
        *a = (val){T_NUM, 0, r, NULL};
    }
    return sp == 1 && truth(&st[0]);
}

void vfilter_scratch_free(vfilter_scratch *s) {
    free(s->stack);
    free(s->fields);
    free(s->buf);
    memset(s, 0, sizeof *s);
}
