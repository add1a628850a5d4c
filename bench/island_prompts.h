/* island_prompts.h -- the "island" data set of the built-in embedder's
 * recall gap (README "Known recall gap"), shared by
 * bench/hnsw_island_probe.c, tests/unit/test_hnsw_plateau.c and
 * tests/unit/test_cache_widen.c so that the bench and the tests that
 * guard its finding store the same prompts.
 *
 * It is the data of tests/integration/test_cache_put_async.py's
 * test_loop_serves_other_clients_while_inserts_are_queued: 200 fillers,
 * the 3 FAQ prompts at positions 200..202, then templated writer prompts.
 * Later dense groups of similar writers form the plateau on which the
 * HNSW beam stops before it reaches the FAQ entries. */
#ifndef SIMCACHE_BENCH_ISLAND_PROMPTS_H
#define SIMCACHE_BENCH_ISLAND_PROMPTS_H

#include <stdio.h>

#define ISLAND_FAQ_FIRST 200u   /* faq[k] is prompt ISLAND_FAQ_FIRST + k */
#define ISLAND_FAQ_COUNT 3u

static const char *const island_faq[ISLAND_FAQ_COUNT] = {
    "How do I reset my password?", "What is the refund policy for annual plans?",
    "How can I export my data to CSV?"};

/* The FAQ prompts as a user rewords them: the queries that must find them. */
static const char *const island_reworded[ISLAND_FAQ_COUNT] = {
    "how do I reset my password please", "what is the refund policy for annual plan",
    "How can I export all my data to CSV"};

/* Writes prompt i of the set into buf (NUL-terminated, cut to size). */
static inline void island_prompt(unsigned i, char *buf, size_t size)
{
    if (i < ISLAND_FAQ_FIRST)
        snprintf(buf, size, "filler entry %u about kumquat%u and zeppelin%u", i, i, i);
    else if (i < ISLAND_FAQ_FIRST + ISLAND_FAQ_COUNT)
        snprintf(buf, size, "%s", island_faq[i - ISLAND_FAQ_FIRST]);
    else
        snprintf(buf, size, "writer %u prompt about gadget%u and widget%u", i - 203, i - 203,
                 (i - 203) % 97);
}

#endif
