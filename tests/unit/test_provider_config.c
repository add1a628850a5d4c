/* test_provider_config.c -- `provider` lines in the configuration file: the
 * options reach the provider (seen through its INFO line), bad lines are
 * refused with the line quoted, and a started provider shuts down leaving
 * no handle on the loop (uv_loop_close() == 0). The network paths are
 * covered by tests/integration/test_provider.py. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "server/config.h"
#include "server/provider.h"
#include "server/sbuf.h"

static void start_stop(const char *conf, const char *expect_in_info) {
    char err[1024];
    config_init();
    cr_assert_eq(config_load_string(conf, "test", err, sizeof err), 0, "%s", err);
    uv_loop_t loop;
    uv_loop_init(&loop);
    cr_assert_eq(provider_start_all(&loop, err, sizeof err), 0, "%s", err);
    sbuf o = SBUF_INIT;
    provider_info(&o);
    cr_assert_not_null(strstr(sbuf_cstr(&o), expect_in_info), "%s", sbuf_cstr(&o));
    sbuf_free(&o);
    provider_stop_all();
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0);
}

Test(provider_config, options_on_set_lines_reach_the_provider) {
    start_stop("provider emb openai http://127.0.0.1:1 model m\n"
               "provider emb set dimensions 256 max-batch 16\n",
               "provider_emb:kind=openai,dim=256,breaker=closed,breaker_secondary=none");
}

Test(provider_config, ollama_with_secondary_shows_both_breakers) {
    start_stop("provider o ollama http://127.0.0.1:1 secondary-url http://127.0.0.1:2 dimensions 4\n",
               "provider_o:kind=ollama,dim=4,breaker=closed,breaker_secondary=closed,");
}

Test(provider_config, bad_lines_are_refused_with_the_reason) {
    static const char *const bad[][2] = {
        {"provider x", "usage: provider"},
        {"provider x openai http://h model", "usage: provider"},
        {"provider x grpc http://h", "kind must be openai or ollama"},
        {"provider x openai gopher://h", "url must be http"},
        {"provider x openai http://h secondary-url file:///etc/passwd", "secondary-url must be http"},
        {"provider x openai http://h max-attempts 4", "max-attempts"},
        {"provider x openai http://h dimensions 0", "dimensions"},
        {"provider x openai http://h encoding hex", "encoding must be base64 or float"},
        {"provider x openai http://h max-response 10", "max-response"},
        {"provider y set dimensions 3", "is not defined above"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char err[1024];
        config_init();
        cr_assert_eq(config_load_string(bad[i][0], "test", err, sizeof err), -1, "%s", bad[i][0]);
        cr_assert_not_null(strstr(err, bad[i][1]), "%s -> %s", bad[i][0], err);
        cr_assert_not_null(strstr(err, "at line 1"), "%s", err);
    }
}

Test(provider_config, missing_api_key_variable_fails_start_up) {
    char err[256];
    unsetenv("SIMCACHE_TEST_NO_KEY");
    config_init();
    cr_assert_eq(config_load_string("provider k openai http://h api-key-env SIMCACHE_TEST_NO_KEY", "t", err,
                                    sizeof err), 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    cr_assert_eq(provider_start_all(&loop, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "SIMCACHE_TEST_NO_KEY is not set"), "%s", err);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0);
}

Test(provider_config, refused_embeds_never_call_back) {
    char err[256];
    config_init();
    cr_assert_eq(config_load_string("provider q openai http://127.0.0.1:1 queue 2", "t", err, sizeof err), 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    cr_assert_eq(provider_start_all(&loop, err, sizeof err), 0, "%s", err);
    provider *p = provider_find("q");
    cr_assert_not_null(p);
    const char *t[] = {"a", "b", "c"};
    size_t l[] = {1, 1, 1}, zero[] = {0};
    cr_assert_eq(provider_embed(p, t, l, 3, NULL, NULL, NULL, err, sizeof err), -1);   /* queue 2 */
    cr_assert_not_null(strstr(err, "queue full"), "%s", err);
    cr_assert_eq(provider_embed(p, t, zero, 1, NULL, NULL, NULL, err, sizeof err), -11);
    cr_assert_eq(provider_embed(p, t, l, 0, NULL, NULL, NULL, err, sizeof err), -11);
    cr_assert_eq(provider_queue_depth(p), 0);
    provider_stop_all();
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0);
}

/* The typed snapshot metrics.c reads agrees with the INFO line, numbers
 * providers in config order, and refuses an index out of range (a stale
 * count must not read past the table). */
Test(provider_config, snapshot_matches_config_and_refuses_out_of_range) {
    char err[1024];
    config_init();
    cr_assert_eq(provider_count(), 0);
    provider_snapshot s;
    cr_assert_eq(provider_get_snapshot(0, &s), -1, "no provider before start-up");
    cr_assert_eq(config_load_string("provider a openai http://127.0.0.1:1 dimensions 8\n"
                                    "provider b ollama http://127.0.0.1:1 secondary-url "
                                    "http://127.0.0.1:2 dimensions 4\n",
                                    "test", err, sizeof err),
                 0, "%s", err);
    uv_loop_t loop;
    uv_loop_init(&loop);
    cr_assert_eq(provider_start_all(&loop, err, sizeof err), 0, "%s", err);
    cr_assert_eq(provider_count(), 2);
    cr_assert_eq(provider_get_snapshot(0, &s), 0);
    cr_assert_str_eq(s.name, "a");
    cr_assert_str_eq(s.kind, "openai");
    cr_assert_eq(s.dim, 8);
    cr_assert_eq(s.breaker[0], PROVIDER_BREAKER_CLOSED);
    cr_assert_eq(s.breaker[1], PROVIDER_BREAKER_NONE, "no secondary-url");
    cr_assert_eq(s.queue, 0);
    cr_assert_eq(s.st.requests, 0);
    cr_assert_eq(provider_get_snapshot(1, &s), 0);
    cr_assert_str_eq(s.name, "b");
    cr_assert_str_eq(s.kind, "ollama");
    cr_assert_eq(s.breaker[1], PROVIDER_BREAKER_CLOSED);
    cr_assert_eq(provider_get_snapshot(2, &s), -1);
    cr_assert_eq(provider_get_snapshot(-1, &s), -1);
    provider_stop_all();
    cr_assert_eq(provider_count(), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0);
}
