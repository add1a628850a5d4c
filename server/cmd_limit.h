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

#endif
