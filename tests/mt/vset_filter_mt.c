/* vset_filter_mt.c -- tests/unit/test_vset_filter_mt.c built as a plain C
 * program for the TSan stage (Criterion cannot start under TSan; see
 * tests/unit/plain_test.h). Same cases, same assertions. */
#define SIMCACHE_PLAIN_TEST 1
#include "tests/unit/test_vset_filter_mt.c"
