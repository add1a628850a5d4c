/* plain_test.h -- a minimal stand-in for the part of Criterion that the
 * threaded tests use (Test, cr_assert*, cr_assert_eq...), so that a test
 * file can also be built as a plain C program for the TSan stage: Criterion
 * cannot start under ThreadSanitizer (its BoxFort arena lands in TSan's
 * reserved ranges: "Could not initialize inheritable arena", Snaipe/
 * Criterion#274). A plain program in tests/mt/ defines SIMCACHE_PLAIN_TEST
 * and includes the Criterion test file (tests/mt/workers_mt.c).
 *
 * Each Test() registers itself through a constructor; main runs them in
 * order and exits 1 at the first failed assertion (printing file:line). */
#ifndef SIMCACHE_PLAIN_TEST_H
#define SIMCACHE_PLAIN_TEST_H

#include <stdio.h>
#include <stdlib.h>

typedef struct plain_case {
    const char *name;
    void (*fn)(void);
} plain_case;

static plain_case plain_cases[64];
static int plain_ncases;

#define Test(suite, name)                                                            \
    static void suite##_##name(void);                                                \
    __attribute__((constructor)) static void reg_##suite##_##name(void) {            \
        plain_cases[plain_ncases++] = (plain_case){#suite "::" #name, suite##_##name}; \
    }                                                                                \
    static void suite##_##name(void)

#define PLAIN_FAIL(...)                                                              \
    do {                                                                             \
        fprintf(stderr, "%s:%d: assertion failed: ", __FILE__, __LINE__);            \
        fprintf(stderr, " " __VA_ARGS__);                                             \
        fprintf(stderr, "\n");                                                       \
        exit(1);                                                                     \
    } while (0)

#define cr_assert(cond, ...) do { if (!(cond)) PLAIN_FAIL(__VA_ARGS__); } while (0)
#define cr_assert_not(cond, ...) cr_assert(!(cond), __VA_ARGS__)
#define cr_assert_eq(a, b, ...) cr_assert((a) == (b), __VA_ARGS__)
#define cr_assert_null(p, ...) cr_assert((p) == NULL, __VA_ARGS__)
#define cr_assert_not_null(p, ...) cr_assert((p) != NULL, __VA_ARGS__)

int main(void) {
    for (int i = 0; i < plain_ncases; i++) {
        plain_cases[i].fn();
        printf("[PASS] %s\n", plain_cases[i].name);
    }
    printf("%d passed, 0 failed\n", plain_ncases);
    return 0;
}

#endif
