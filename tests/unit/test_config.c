/* test_config.c -- configuration parsing as a user writes it: defaults,
 * redis.conf syntax (comments, quotes, escapes), size units, include with
 * globs, command-line overrides (last wins), bad values rejected with the
 * line that caused them, CONFIG SET validation and immutability, CONFIG GET
 * patterns, users and the constant-time password check. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/config.h"

static char dir[64];

static void setup(void) {
    config_init();
    snprintf(dir, sizeof dir, "/tmp/simcache-cfg-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) cr_log_warn("could not remove %s", dir);
}

TestSuite(config, .init = setup, .fini = teardown);

static void write_file(const char *name, const char *text, char *path, size_t cap) {
    snprintf(path, cap, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

Test(config, defaults_are_redis_defaults) {
    cr_assert_str_eq(g_cfg.bind, "127.0.0.1");
    cr_assert_eq(g_cfg.port, 6380);
    cr_assert_eq(g_cfg.protected_mode, 1);
    cr_assert_eq(g_cfg.maxclients, 10000);
    cr_assert_eq(g_cfg.proto_max_bulk_len, 512LL * 1024 * 1024);
    cr_assert_eq(g_cfg.client_query_buffer_limit, 1024LL * 1024 * 1024);
    cr_assert_eq(g_cfg.hz, 10);
    cr_assert_eq(g_cfg.slowlog_log_slower_than, 10000);
    cr_assert_eq(g_cfg.slowlog_max_len, 128);
    cr_assert_eq(g_cfg.unixsocketperm, 0700);
    cr_assert_str_eq(g_cfg.loglevel, "notice");
    cr_assert_eq(g_cfg.preauth_timeout_ms, 10000);
}

Test(config, file_with_comments_quotes_and_units) {
    char err[512], path[256];
    write_file("a.conf",
               "# a comment\n"
               "\n"
               "   port 7001\n"
               "maxmemory 1kb\n"
               "proto-max-bulk-len 2mb\r\n"
               "requirepass \"p w\\x41\\n\"\n"
               "unixsocket '/tmp/x y.sock'\n"
               "unixsocketperm 770\n"
               "protected-mode no\n"
               "maxmemory-policy allkeys-lru\n"
               "bind 127.0.0.1 -::1\n"
               "loglevel WARNING\n",
               path, sizeof path);
    cr_assert_eq(config_load_file(path, err, sizeof err), 0, "%s", err);
    cr_assert_eq(g_cfg.port, 7001);
    cr_assert_eq(g_cfg.maxmemory, 1024);
    cr_assert_eq(g_cfg.proto_max_bulk_len, 2LL * 1024 * 1024);
    cr_assert_str_eq(g_cfg.requirepass, "p wA\n");
    cr_assert_str_eq(g_cfg.unixsocket, "/tmp/x y.sock");
    cr_assert_eq(g_cfg.unixsocketperm, 0770);
    cr_assert_eq(g_cfg.protected_mode, 0);
    cr_assert_eq(g_cfg.maxmemory_policy, MAXMEMORY_ALLKEYS_LRU);
    cr_assert_str_eq(g_cfg.bind, "127.0.0.1 -::1");
    cr_assert_str_eq(g_cfg.loglevel, "warning");
}

Test(config, size_units_follow_redis) {
    int ok;
    cr_assert_eq(config_parse_memory("1k", &ok), 1000);
    cr_assert(ok);
    cr_assert_eq(config_parse_memory("1kb", &ok), 1024);
    cr_assert_eq(config_parse_memory("1KB", &ok), 1024);
    cr_assert_eq(config_parse_memory("5m", &ok), 5000000);
    cr_assert_eq(config_parse_memory("5mb", &ok), 5LL * 1024 * 1024);
    cr_assert_eq(config_parse_memory("2gb", &ok), 2LL * 1024 * 1024 * 1024);
    cr_assert_eq(config_parse_memory("123", &ok), 123);
    config_parse_memory("12xb", &ok);
    cr_assert_not(ok);
    config_parse_memory("-1", &ok);
    cr_assert_not(ok);
    config_parse_memory("", &ok);
    cr_assert_not(ok);
    config_parse_memory("99999999999999999999gb", &ok);
    cr_assert_not(ok, "overflow must be rejected");
}

Test(config, bad_value_reports_line_and_reason) {
    char err[512], path[256];
    write_file("bad.conf", "port 7001\nport abc\n", path, sizeof path);
    cr_assert_neq(config_load_file(path, err, sizeof err), 0);
    cr_assert_not_null(strstr(err, "at line 2"), "%s", err);
    cr_assert_not_null(strstr(err, ">>> 'port abc'"), "%s", err);
    cr_assert_not_null(strstr(err, "integer"), "%s", err);
}

Test(config, out_of_range_and_bad_enum_are_rejected) {
    char err[512];
    cr_assert_neq(config_load_string("port 70000\n", "t", err, sizeof err), 0);
    cr_assert_not_null(strstr(err, "between 0 and 65535"), "%s", err);
    cr_assert_neq(config_load_string("protected-mode maybe\n", "t", err, sizeof err), 0);
    cr_assert_not_null(strstr(err, "'yes' or 'no'"), "%s", err);
    cr_assert_neq(config_load_string("maxmemory-policy lol\n", "t", err, sizeof err), 0);
    cr_assert_not_null(strstr(err, "noeviction"), "%s", err);
    cr_assert_neq(config_load_string("maxmemory 12xb\n", "t", err, sizeof err), 0);
    cr_assert_not_null(strstr(err, "memory value"), "%s", err);
    cr_assert_neq(config_load_string("no-such-option 1\n", "t", err, sizeof err), 0);
    cr_assert_not_null(strstr(err, "Bad directive"), "%s", err);
    cr_assert_neq(config_load_string("requirepass \"unterminated\n", "t", err, sizeof err), 0);
    cr_assert_not_null(strstr(err, "Unbalanced quotes"), "%s", err);
    cr_assert_neq(config_load_string("port 1 2\n", "t", err, sizeof err), 0);
    cr_assert_neq(config_load_string("hz 0\n", "t", err, sizeof err), 0);
    cr_assert_neq(config_load_string("loglevel loud\n", "t", err, sizeof err), 0);
}

Test(config, include_with_glob_in_sorted_order) {
    char err[512], path[256], main_path[256], text[512];
    char sub[200];
    snprintf(sub, sizeof sub, "%s/conf.d", dir);
    cr_assert_eq(mkdir(sub, 0700), 0);
    write_file("conf.d/10-port.conf", "port 7100\nhz 20\n", path, sizeof path);
    write_file("conf.d/20-port.conf", "port 7200\n", path, sizeof path);
    write_file("conf.d/skip.txt", "port 9999\n", path, sizeof path);
    snprintf(text, sizeof text, "port 7000\ninclude %s/conf.d/*.conf\nmaxclients 5\n", dir);
    write_file("main.conf", text, main_path, sizeof main_path);
    cr_assert_eq(config_load_file(main_path, err, sizeof err), 0, "%s", err);
    cr_assert_eq(g_cfg.port, 7200);
    cr_assert_eq(g_cfg.hz, 20);
    cr_assert_eq(g_cfg.maxclients, 5);
}

Test(config, include_loop_is_bounded) {
    char err[512], path[256], text[300];
    snprintf(text, sizeof text, "include %s/self.conf\n", dir);
    write_file("self.conf", text, path, sizeof path);
    cr_assert_neq(config_load_file(path, err, sizeof err), 0);
    cr_assert_not_null(strstr(err, "too deep"), "%s", err);
}

Test(config, command_line_overrides_file_last_wins) {
    char err[512], path[256];
    write_file("c.conf", "port 16600\nmaxclients 7\n", path, sizeof path);
    char *argv[] = {"simcache-server", path, "--port", "16601", "--timeout", "5",
                    "--port", "16602", "--save", "", "--bind", "127.0.0.1", "::1", NULL};
    cr_assert_eq(config_from_argv(13, argv, err, sizeof err), 0, "%s", err);
    cr_assert_eq(g_cfg.port, 16602);
    cr_assert_eq(g_cfg.maxclients, 7);
    cr_assert_eq(g_cfg.timeout, 5);
    cr_assert_str_eq(g_cfg.save, "");
    cr_assert_str_eq(g_cfg.bind, "127.0.0.1 ::1");
}

Test(config, command_line_bad_value_fails) {
    char err[512];
    char *argv[] = {"simcache-server", "--port", "x", NULL};
    cr_assert_neq(config_from_argv(3, argv, err, sizeof err), 0);
    cr_assert_not_null(strstr(err, "command line"), "%s", err);
}

Test(config, missing_file_fails) {
    char err[512];
    char *argv[] = {"simcache-server", "/nonexistent/simcache.conf", NULL};
    cr_assert_neq(config_from_argv(2, argv, err, sizeof err), 0);
    cr_assert_not_null(strstr(err, "can't open config file"), "%s", err);
}

Test(config, runtime_set_validates_and_refuses_immutable) {
    char err[256];
    cr_assert_eq(config_set_runtime("maxmemory", "10mb", err, sizeof err), 0);
    cr_assert_eq(g_cfg.maxmemory, 10LL * 1024 * 1024);
    cr_assert_eq(config_set_runtime("MAXCLIENTS", "50", err, sizeof err), 0);
    cr_assert_eq(g_cfg.maxclients, 50);
    cr_assert_eq(config_set_runtime("port", "1234", err, sizeof err), -3);
    cr_assert_str_eq(err, "can't set immutable config");
    cr_assert_eq(g_cfg.port, 6380);
    cr_assert_eq(config_set_runtime("nope", "1", err, sizeof err), -2);
    cr_assert_eq(config_set_runtime("user", "a b", err, sizeof err), -2,
                 "user lines are not a CONFIG SET parameter");
    cr_assert_eq(config_set_runtime("timeout", "-5", err, sizeof err), -1);
    cr_assert_eq(g_cfg.timeout, 0);
    cr_assert_eq(config_set_runtime("appendonly", "yes", err, sizeof err), -1);
    cr_assert_eq(config_set_runtime("appendonly", "no", err, sizeof err), 0);
    cr_assert_eq(config_set_runtime("client-output-buffer-limit", "normal 1mb 256kb 3", err,
                                    sizeof err), 0, "%s", err);
    cr_assert_eq(g_cfg.client_output_buffer_limit, 1024 * 1024);
    cr_assert_eq(g_cfg.client_output_buffer_soft_limit, 256 * 1024);
    cr_assert_eq(g_cfg.client_output_buffer_soft_seconds, 3);
    cr_assert_eq(config_set_runtime("client-output-buffer-limit", "2mb", err, sizeof err), 0);
    cr_assert_eq(g_cfg.client_output_buffer_limit, 2 * 1024 * 1024);
    cr_assert_eq(config_set_runtime("client-output-buffer-limit", "normal x", err, sizeof err), -1);
}

Test(config, backup_restore_is_all_or_nothing) {
    char err[256];
    sc_config b;
    config_backup(&b);
    cr_assert_eq(config_set_runtime("timeout", "30", err, sizeof err), 0);
    cr_assert_eq(g_cfg.timeout, 30);
    config_restore(&b);
    cr_assert_eq(g_cfg.timeout, 0);
}

typedef struct got {
    char names[64][64];
    char values[64][128];
    int n;
} got;

static void collect(const char *name, const char *value, void *arg) {
    got *g = arg;
    snprintf(g->names[g->n], sizeof g->names[0], "%s", name);
    snprintf(g->values[g->n], sizeof g->values[0], "%s", value);
    g->n++;
}

static const char *find(got *g, const char *name) {
    for (int i = 0; i < g->n; i++)
        if (!strcmp(g->names[i], name)) return g->values[i];
    return NULL;
}

Test(config, get_matches_glob_patterns) {
    got g = {0};
    int n = config_get_matching("maxmemory*", 10, collect, &g);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(find(&g, "maxmemory"), "0");
    cr_assert_str_eq(find(&g, "maxmemory-policy"), "noeviction");
    cr_assert_str_eq(find(&g, "maxmemory-samples"), "5");
    memset(&g, 0, sizeof g);
    cr_assert_eq(config_get_matching("SAVE", 4, collect, &g), 1);
    cr_assert_str_eq(find(&g, "save"), "");
    memset(&g, 0, sizeof g);
    config_get_matching("*", 1, collect, &g);
    cr_assert_str_eq(find(&g, "appendonly"), "no");
    cr_assert_str_eq(find(&g, "unixsocketperm"), "700");
    cr_assert_str_eq(find(&g, "client-output-buffer-limit"), "normal 67108864 16777216 60");
    cr_assert_null(find(&g, "user"), "user passwords must not be listed");
    memset(&g, 0, sizeof g);
    cr_assert_eq(config_get_matching("nomatch*", 8, collect, &g), 0);
}

Test(config, users_and_passwords) {
    char err[256];
    cr_assert_not(config_auth_required());
    cr_assert_eq(config_load_string("user alice s3cret\nuser bob \"x y\"\n", "t", err, sizeof err),
                 0, "%s", err);
    cr_assert(config_auth_required());
    cr_assert_not(config_default_user_has_password());
    cr_assert(config_check_user("alice", "s3cret", 6));
    cr_assert_not(config_check_user("alice", "s3cre", 5));
    cr_assert_not(config_check_user("alice", "s3cret!", 7));
    cr_assert(config_check_user("bob", "x y", 3));
    cr_assert_not(config_check_user("carol", "s3cret", 6));
    cr_assert_not(config_check_user("default", "", 0));
    cr_assert_eq(config_load_string("requirepass pw\n", "t", err, sizeof err), 0);
    cr_assert(config_check_user("default", "pw", 2));
    cr_assert(config_default_user_has_password());
    cr_assert_neq(config_load_string("user onlyname\n", "t", err, sizeof err), 0);
}

Test(config, secure_equal_compares_content_and_length) {
    cr_assert(config_secure_equal("abc", 3, "abc", 3));
    cr_assert_not(config_secure_equal("abc", 3, "abd", 3));
    cr_assert_not(config_secure_equal("abc", 3, "ab", 2));
    cr_assert_not(config_secure_equal("", 0, "a", 1));
    cr_assert(config_secure_equal("", 0, "", 0));
    cr_assert_not(config_secure_equal("a\0b", 3, "a\0c", 3));
}
