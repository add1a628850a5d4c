/* cache_put_mt.c -- the pool-insert test (tests/unit/test_cache_put_mt.c)
 * built as a plain C program, labelled tsan: Criterion cannot start under
 * ThreadSanitizer, so tests/unit/plain_test.h stands in for the Criterion
 * macros that file uses. Same cases, same assertions. */
#define SIMCACHE_PLAIN_TEST 1
#include "tests/unit/test_cache_put_mt.c"
