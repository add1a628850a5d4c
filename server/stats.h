/* stats.h -- server-wide counters for INFO (stats, clients sections) and
 * the instantaneous ops/sec sampler.
 *
 * One global, touched only by the loop thread, so plain integers suffice.
 * CONFIG RESETSTAT zeroes the counters (not the start time). */
#ifndef SIMCACHE_STATS_H
#define SIMCACHE_STATS_H

#include <stdint.h>

typedef struct sc_stats {
    uint64_t start_ms;                    /* server start, ms since epoch */
    uint64_t total_connections_received;
    uint64_t total_commands_processed;
    uint64_t rejected_connections;        /* maxclients */
    uint64_t total_net_input_bytes;
    uint64_t total_net_output_bytes;
    uint64_t total_error_replies;
    uint64_t client_output_limit_disconnections;
    uint64_t client_query_limit_disconnections;
    uint64_t protocol_errors;
    uint64_t timeout_disconnections;      /* idle timeout + preauth timeout */
    uint64_t denied_connections;          /* protected mode */
    /* ops/sec sampler: ring of the last STATS_SAMPLES per-period rates */
#define STATS_SAMPLES 16
    uint64_t samples[STATS_SAMPLES];
    int sample_idx;
    uint64_t last_sample_ms, last_sample_cmds;
} sc_stats;

extern sc_stats g_stats;

/* Records a sample of total_commands_processed (call every ~100 ms). */
void stats_sample(uint64_t now_ms);
/* Mean of the recorded samples, in operations per second. */
uint64_t stats_instantaneous_ops(void);
/* CONFIG RESETSTAT. */
void stats_reset(void);

#endif
