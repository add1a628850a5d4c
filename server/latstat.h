/* latstat.h -- a latency tally small enough to update on every event: count,
 * sum, maximum, and how many went over 250 us and over 1 ms. It answers
 * "how often does this step take long" (INFO eventloop), which is what an
 * open-loop p99 needs explained, without a histogram's memory or a
 * percentile's sort. Not thread-safe: each tally has one writer (the loop
 * thread, or a pool thread under the pool's mutex); readers copy it under
 * the same rule. */
#ifndef SIMCACHE_LATSTAT_H
#define SIMCACHE_LATSTAT_H

#include <stdint.h>

typedef struct lat_stat {
    uint64_t n;            /* events */
    uint64_t sum_us;       /* total duration, us */
    uint64_t max_us;       /* longest, us */
    uint64_t over_250us;   /* events longer than 250 us */
    uint64_t over_1ms;     /* events longer than 1 ms */
} lat_stat;

/* Adds one event of ns nanoseconds. */
static inline void lat_stat_add(lat_stat *s, uint64_t ns) {
    uint64_t us = ns / 1000;
    s->n++;
    s->sum_us += us;
    if (us > s->max_us) s->max_us = us;
    s->over_250us += us > 250;
    s->over_1ms += us > 1000;
}

#endif
