/* vfilter.h -- VSIM FILTER expressions: Redis 8's JavaScript-like language
 * over the first-level keys of an element's JSON attributes
 * (`.year > 1950 and .genre == "action"`), compiled once per query and
 * evaluated per candidate.
 *
 * Language (vector-sets.md, "FILTER expr"; value rules as Redis 8's expr.c):
 *   selectors   .name  (first-level key; letters, digits, '_', '-')
 *   literals    numbers (1, -2.5, 1e3), strings ('a' or "a", backslash
 *               escapes), null, true / false (the numbers 1 / 0), arrays
 *               of literals [1, "a", null]
 *   operators   by decreasing precedence:
 *               ! not - (unary)  >  **  >  * / %  >  + -  >
 *               > >= < <= == != in  >  and &&  >  or ||
 *               ** is right-associative, the others left-associative;
 *               parentheses group.
 * Values: JSON numbers, strings, true/false (1/0), null and arrays.
 * Arithmetic and < <= > >= work on numbers: a string that is entirely a
 * number converts, any other string, null or array is 0. == and != compare
 * two strings bytewise, two numbers numerically, null equals only null,
 * anything else as numbers. `a in b`: b an array (literal or JSON) ->
 * membership by ==; both strings -> substring; otherwise false. Truth:
 * numbers are true when non-zero, strings when non-empty, null is false,
 * arrays are true.
 * An element without attributes, with attributes that are not a JSON
 * object, or lacking a field the expression names (or whose value is an
 * object) does not match, whatever the expression. The scanner stops
 * at the last field the expression names: bytes after it are not checked
 * (the server validates attributes as JSON when they are set).
 *
 * Threading: a compiled vfilter is immutable, so any number of threads may
 * evaluate it at once, each with its own vfilter_scratch. */
#ifndef SIMCACHE_VFILTER_H
#define SIMCACHE_VFILTER_H

#include <stddef.h>

/* Nesting (parentheses, unary operators, operands of one operator) beyond
 * this is rejected at compile time: evaluation cost and recursion depth
 * stay bounded whatever the client sends. */
#define VFILTER_MAX_DEPTH 128
/* Expressions longer than this many operations are rejected. */
#define VFILTER_MAX_OPS 4096

typedef struct vfilter vfilter;

/* Per-thread evaluation memory; zero-initialise, release with
 * vfilter_scratch_free. Grows to the largest attribute seen. */
typedef struct vfilter_scratch {
    void *stack;      /* evaluation stack, vfilter->max_stack entries */
    size_t stack_cap;
    void *fields;     /* resolved selector values */
    size_t fields_cap;
    char *buf;        /* decoded JSON strings with escapes */
    size_t buf_cap;
} vfilter_scratch;

#define VFILTER_ESYNTAX (-1)
#define VFILTER_ENOMEM (-2)

/* Compiles expr[len] (not NUL-terminated). Returns 0 and *out (the caller
 * frees it with vfilter_free), VFILTER_ESYNTAX with *errpos the byte offset
 * of the offending token (len when the expression ended too early), or
 * VFILTER_ENOMEM. Any thread. */
int vfilter_compile(const char *expr, size_t len, vfilter **out, size_t *errpos);
void vfilter_free(vfilter *f);

/* 1 if the attributes json[len] (NULL or len 0: no attributes) satisfy f,
 * 0 if not (including every "does not match" case above), VFILTER_ENOMEM
 * if the scratch could not grow. json need not be NUL-terminated; nothing
 * past len is read. */
int vfilter_match(const vfilter *f, const char *json, size_t len, vfilter_scratch *s);

void vfilter_scratch_free(vfilter_scratch *s);

/* Number of distinct selectors in f (tests). */
size_t vfilter_nfields(const vfilter *f);

#endif
