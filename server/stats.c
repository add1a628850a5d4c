/* stats.c -- server counters and the ops/sec sampler (see stats.h).
 *
 * The sampler follows Redis's trackInstantaneousMetric: every ~100 ms the
 * hz timer records the rate since the previous sample into a small ring,
 * and INFO reports the ring's mean. */
#include "stats.h"

#include <string.h>

sc_stats g_stats;

void stats_sample(uint64_t now_ms) {
    if (g_stats.last_sample_ms == 0) {
        g_stats.last_sample_ms = now_ms;
        g_stats.last_sample_cmds = g_stats.total_commands_processed;
        return;
    }
    uint64_t dt = now_ms - g_stats.last_sample_ms;
    if (dt < 100) return;
    uint64_t ops = g_stats.total_commands_processed - g_stats.last_sample_cmds;
    g_stats.samples[g_stats.sample_idx] = ops * 1000 / dt;
    g_stats.sample_idx = (g_stats.sample_idx + 1) % STATS_SAMPLES;
    g_stats.last_sample_ms = now_ms;
    g_stats.last_sample_cmds = g_stats.total_commands_processed;
}

uint64_t stats_instantaneous_ops(void) {
    uint64_t sum = 0;
    for (int i = 0; i < STATS_SAMPLES; i++) sum += g_stats.samples[i];
    return sum / STATS_SAMPLES;
}

void stats_reset(void) {
    uint64_t start = g_stats.start_ms;
    memset(&g_stats, 0, sizeof g_stats);
    g_stats.start_ms = start;
}
