/* cmd_limit.h -- the server's rate limiter (cmd_limit.c): start-up, the hz
 * hook, INFO section and shutdown. The handlers are in cmd_handlers.h, the
 * bucket and GCRA logic in ratelimit.h.
 *
 * Lifecycle (main.c): limits_start(loop) before the loop runs, so LIMIT.TAKE
 * WAIT can park clients (without it, WAIT is ignored); limits_cron() from
 * the hz timer; limits_stop() when shutdown begins (waiters get a
 * "shutdown" denial, the timer handle is closed); limits_free() after the
 * loop ended. Loop thread only. */
#ifndef SIMCACHE_CMD_LIMIT_H
#define SIMCACHE_CMD_LIMIT_H

#include <stdint.h>
#include <uv.h>

#include "ratelimit.h"
#include "sbuf.h"

void limits_start(uv_loop_t *loop);
void limits_stop(void);
void limits_free(void);
/* Drops waiters whose client closed, forgets replenished CL.THROTTLE cells
 * (bounded work), re-arms the wake-up timer. */
void limits_cron(void);
/* INFO section "limits" (registered by main.c with info_register_section):
 * the fields of limits_get_stats(), oldest wait in whole ms. */
void limits_info(sbuf *o);
/* Fills *out with the registry's totals (after dropping waiters whose
 * client closed, so queue depth counts live requests only); all zero
 * before limits_start() or after limits_free(). Loop thread only. */
void limits_get_stats(rl_stats *out);

/* ---- takes by the server itself (embedding provider calls) ----
 * The server's own outgoing calls go through the same LIMIT buckets as
 * clients' LIMIT.TAKE (same queues, same order). Loop thread only.
 * Takes `cost` tokens from bucket `name`. Returns RL_GRANTED (taken now;
 * cb never runs), a denial (RL_LIMITED when wait_ms is 0 or the limiter
 * has no loop, RL_QUEUE_FULL), a negative RL_E* (RL_ENOENT: no such
 * bucket, RL_ECOST: cost > burst, RL_ENOMEM), or RL_QUEUED: then cb runs
 * exactly once with the outcome (RL_GRANTED, RL_TIMEOUT after wait_ms,
 * RL_DELETED, RL_RECONFIGURED, or RL_SHUTDOWN from limits_stop), possibly
 * before limits_take_for returns. */
typedef void limits_done_cb(void *ud, rl_outcome o);
int limits_take_for(const char *name, uint64_t cost, uint64_t wait_ms, limits_done_cb *cb,
                    void *ud);

#endif
