/* hiredis_client.c -- drives a server with hiredis 0.14 (RESP2), the C
 * client most Redis tooling links, and checks every reply's type and value.
 *
 * Usage: hiredis_client HOST PORT. Prints one line per failed check and
 * "hiredis_client: N checks, 0 failures" at the end; exits 0 only if every
 * check passed, 1 on any mismatch, 2 if it cannot connect.
 *
 * Design decisions:
 *  1. Pipelining uses redisAppendCommand/redisAppendCommandArgv and then
 *     redisGetReply per command, which is how hiredis users pipeline: the
 *     server sees all requests in one write and must answer in order.
 *  2. Values carry NUL, CR and LF bytes (binary-safe %b and argv lengths):
 *     a server that treats arguments as C strings fails here.
 *  3. The test keys start with "hiredis:" and are deleted first, so the
 *     program needs no FLUSHALL and can run against a shared server. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_checks, g_failures;

static void fail(int line, const char *what, const redisReply *r)
{
    g_failures++;
    fprintf(stderr, "line %d: %s: got ", line, what);
    if (r == NULL)
        fprintf(stderr, "no reply\n");
    else if (r->type == REDIS_REPLY_ERROR || r->type == REDIS_REPLY_STATUS ||
             r->type == REDIS_REPLY_STRING)
        fprintf(stderr, "type %d \"%.*s\"\n", r->type, (int)r->len, r->str);
    else
        fprintf(stderr, "type %d integer %lld elements %zu\n", r->type, r->integer,
                r->elements);
}

#define CHECK(cond, what, r)                                                   \
    do {                                                                       \
        g_checks++;                                                            \
        if (!(cond)) fail(__LINE__, what, r);                                  \
    } while (0)

static int is_str(const redisReply *r, int type, const char *s, size_t n)
{
    return r && r->type == type && r->len == n && memcmp(r->str, s, n) == 0;
}

static int is_int(const redisReply *r, long long v)
{
    return r && r->type == REDIS_REPLY_INTEGER && r->integer == v;
}

/* Reads the next pipelined reply; NULL (and a failure) on a dead link. */
static redisReply *next(redisContext *c)
{
    void *r = NULL;
    if (redisGetReply(c, &r) != REDIS_OK) {
        g_failures++;
        fprintf(stderr, "redisGetReply: %s\n", c->errstr);
        return NULL;
    }
    return r;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s HOST PORT\n", argv[0]);
        return 2;
    }
    struct timeval tv = {10, 0};
    redisContext *c = redisConnectWithTimeout(argv[1], atoi(argv[2]), tv);
    if (c == NULL || c->err) {
        fprintf(stderr, "connect: %s\n", c ? c->errstr : "out of memory");
        redisFree(c);   /* NULL-safe; a failed context still owns memory */
        return 2;
    }
    redisSetTimeout(c, tv);

    redisReply *r = redisCommand(c, "DEL hiredis:a hiredis:b hiredis:n hiredis:bin");
    CHECK(r && r->type == REDIS_REPLY_INTEGER, "DEL", r);
    freeReplyObject(r);

    r = redisCommand(c, "PING");
    CHECK(is_str(r, REDIS_REPLY_STATUS, "PONG", 4), "PING", r);
    freeReplyObject(r);

    /* Binary-safe value: NUL, CR, LF and 0xff inside. */
    static const char bin[] = "a\0b\r\nc\xff\0";
    const size_t binlen = sizeof bin - 1;

    /* One pipeline: SET, GET, INCR x3, SET binary, MGET, GET missing. */
    redisAppendCommand(c, "SET hiredis:a %s", "hello");
    redisAppendCommand(c, "GET hiredis:a");
    redisAppendCommand(c, "INCR hiredis:n");
    redisAppendCommand(c, "INCRBY hiredis:n %d", 41);
    redisAppendCommand(c, "INCR hiredis:n");
    redisAppendCommand(c, "SET hiredis:bin %b", bin, binlen);
    redisAppendCommand(c, "MGET hiredis:a hiredis:missing hiredis:bin");
    redisAppendCommand(c, "GET hiredis:missing");
    {
        const char *av[] = {"SET", "hiredis:b", "x\0y"};
        size_t avl[] = {3, 9, 3};
        redisAppendCommandArgv(c, 3, av, avl);
    }
    redisAppendCommand(c, "STRLEN hiredis:b");
    redisAppendCommand(c, "INCR hiredis:a");
    redisAppendCommand(c, "GET");

    r = next(c); CHECK(is_str(r, REDIS_REPLY_STATUS, "OK", 2), "SET", r); freeReplyObject(r);
    r = next(c); CHECK(is_str(r, REDIS_REPLY_STRING, "hello", 5), "GET", r); freeReplyObject(r);
    r = next(c); CHECK(is_int(r, 1), "INCR", r); freeReplyObject(r);
    r = next(c); CHECK(is_int(r, 42), "INCRBY", r); freeReplyObject(r);
    r = next(c); CHECK(is_int(r, 43), "INCR", r); freeReplyObject(r);
    r = next(c); CHECK(is_str(r, REDIS_REPLY_STATUS, "OK", 2), "SET binary", r); freeReplyObject(r);
    r = next(c);
    CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 3, "MGET shape", r);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 3) {
        CHECK(is_str(r->element[0], REDIS_REPLY_STRING, "hello", 5), "MGET[0]", r->element[0]);
        CHECK(r->element[1]->type == REDIS_REPLY_NIL, "MGET[1] nil", r->element[1]);
        CHECK(is_str(r->element[2], REDIS_REPLY_STRING, bin, binlen), "MGET[2] binary",
              r->element[2]);
    }
    freeReplyObject(r);
    r = next(c); CHECK(r && r->type == REDIS_REPLY_NIL, "GET missing", r); freeReplyObject(r);
    r = next(c); CHECK(is_str(r, REDIS_REPLY_STATUS, "OK", 2), "SET argv", r); freeReplyObject(r);
    r = next(c); CHECK(is_int(r, 3), "STRLEN with NUL", r); freeReplyObject(r);
    r = next(c);
    CHECK(is_str(r, REDIS_REPLY_ERROR, "ERR value is not an integer or out of range", 43),
          "INCR non-integer", r);
    freeReplyObject(r);
    r = next(c);
    CHECK(is_str(r, REDIS_REPLY_ERROR, "ERR wrong number of arguments for 'get' command", 47),
          "GET arity", r);
    freeReplyObject(r);

    /* A large pipeline: 10000 SETs then 10000 GETs, all appended first. */
    for (int i = 0; i < 10000; i++)
        redisAppendCommand(c, "SET hiredis:k%d v%d", i, i);
    for (int i = 0; i < 10000; i++)
        redisAppendCommand(c, "GET hiredis:k%d", i);
    int bad = 0;
    for (int i = 0; i < 10000; i++) {
        r = next(c);
        if (!is_str(r, REDIS_REPLY_STATUS, "OK", 2)) bad++;
        freeReplyObject(r);
    }
    for (int i = 0; i < 10000; i++) {
        char want[32];
        int n = snprintf(want, sizeof want, "v%d", i);
        r = next(c);
        if (!is_str(r, REDIS_REPLY_STRING, want, (size_t)n)) bad++;
        freeReplyObject(r);
    }
    CHECK(bad == 0, "10000-command pipeline", NULL);
    r = redisCommand(c, "DEL hiredis:a hiredis:b hiredis:n hiredis:bin");
    CHECK(is_int(r, 4), "DEL", r);
    freeReplyObject(r);

    redisFree(c);
    printf("hiredis_client: %d checks, %d failures\n", g_checks, g_failures);
    return g_failures ? 1 : 0;
}
