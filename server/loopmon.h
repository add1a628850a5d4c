/* loopmon.h -- the event loop's latency monitor (INFO eventloop).
 *
 * Measures how long each loop iteration kept the loop thread busy (time
 * between two passes of a uv_check handle, minus the time libuv spent
 * blocked in the poll: UV_METRICS_IDLE_TIME), and how long the hz timer's
 * callback ran; INFO eventloop prints both tallies and the search pool's
 * hand-off delays (workers_wait_stats). A request arriving during a long
 * iteration waits for the rest of it, so the over-1 ms counts are the
 * first place to look when an open-loop p99 is far above its p50.
 *
 * Threading: loop thread only. */
#ifndef SIMCACHE_LOOPMON_H
#define SIMCACHE_LOOPMON_H

#include <stdint.h>
#include <uv.h>

#include "sbuf.h"

/* Call before the first uv_run of `loop` (idle-time metrics must be
 * enabled before the loop runs). Starts an unreferenced check handle.
 * Returns 0 or a negative libuv error (the server runs unmonitored). */
int loopmon_start(uv_loop_t *loop);

/* Closes the check handle (shutdown). Idempotent. */
void loopmon_stop(void);

/* Adds one hz-timer callback that ran for ns nanoseconds. */
void loopmon_cron_ran(uint64_t ns);

/* INFO eventloop section (info_register_section). */
void loopmon_info(sbuf *o);

#endif
