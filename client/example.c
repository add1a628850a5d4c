/* example.c -- libsimcache in one page: connect, a command, a pipeline, the
 * vector-set, rate-limiter and semantic-cache helpers. Build after `cmake --install`:
 *   cc example.c $(pkg-config --cflags --libs simcache) -o example
 * Run: ./example [host] [port]   (a simcache-server on 127.0.0.1:6379) */
#include <stdio.h>
#include <stdlib.h>

#include <simcache.h>

int main(int argc, char **argv) {
    const char *host = argc > 1 ? argv[1] : "127.0.0.1";
    int port = argc > 2 ? atoi(argv[2]) : 6379;
    sc_options opt = {.resp = 3, .client_name = "example", .timeout_ms = 2000};
    sc_conn *c = sc_connect_opts(host, port, &opt);
    if (c == NULL || sc_errcode(c)) {
        fprintf(stderr, "connect: %s\n", c ? sc_errstr(c) : "out of memory");
        sc_free(c);
        return 1;
    }

    /* One command. */
    sc_reply *r = sc_commandv(c, "SET", "greeting", "hello", NULL);
    if (r) printf("SET -> %s\n", r->str);
    sc_reply_free(r);

    /* A pipeline: append many, then read the replies in order. */
    for (int i = 0; i < 3; i++) {
        const char *argv2[] = {"INCR", "counter"};
        sc_append(c, 2, argv2, NULL);
    }
    for (int i = 0; i < 3; i++) {
        if (sc_get_reply(c, &r) != 0) break;
        printf("INCR -> %lld\n", r->integer);
        sc_reply_free(r);
    }

    /* Vector sets: add two vectors, ask for the nearest. */
    float a[3] = {1, 0, 0}, b[3] = {0, 1, 0}, q[3] = {0.9f, 0.1f, 0};
    int added;
    if (sc_vadd(c, "docs", a, 3, "a", &added) == 0 && sc_vadd(c, "docs", b, 3, "b", &added) == 0) {
        sc_vsim_result res;
        if (sc_vsim(c, "docs", q, 3, 2, &res) == 0) {
            for (size_t i = 0; i < res.n; i++) printf("VSIM %s %.3f\n", res.elements[i], res.scores[i]);
            sc_vsim_result_free(&res);
        }
    } else {
        fprintf(stderr, "VADD: %s\n", sc_errstr(c));
    }

    /* Rate limiter: 5 requests per second, take one. */
    r = sc_commandv(c, "LIMIT.SET", "api", "RATE", "5", "PER", "1", "BURST", "5", NULL);
    sc_reply_free(r);
    sc_limit_result lr;
    if (sc_limit_take(c, "api", 1, -1, &lr) == 0)
        printf("LIMIT.TAKE granted=%d retry_after_ms=%lld\n", lr.granted, lr.retry_after_ms);

    /* Semantic cache: store an answer, look a paraphrase up. */
    r = sc_commandv(c, "CACHE.CREATE", "faq", NULL);
    sc_reply_free(r);
    long long id;
    sc_cache_put_opts po = {.cost_usd = "0.002"};
    if (sc_cache_put(c, "faq", "What is the capital of France?", "Paris", 5, &po, &id) == 0) {
        sc_cache_get_opts go = {.has_threshold = 1, .threshold = 0.5};
        sc_cache_result cr;
        if (sc_cache_get(c, "faq", "What is the capital city of France?", &go, &cr) == 0) {
            static const char *tiers[] = {"miss", "exact", "semantic", "stale"};
            printf("CACHE.GET tier=%s answer=%s score=%.2f\n", tiers[cr.tier],
                   cr.answer ? cr.answer : "-", cr.score);
            sc_cache_result_free(&cr);
        }
    } else {
        fprintf(stderr, "CACHE.PUT: %s\n", sc_errstr(c));
    }

    sc_free(c);
    return 0;
}
