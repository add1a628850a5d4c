/* slowlog.h -- the slow log (SLOWLOG GET/LEN/RESET), as Redis keeps it.
 *
 * Commands that took at least slowlog-log-slower-than microseconds (a
 * negative value disables logging, 0 logs everything) are recorded newest
 * first, at most slowlog-max-len entries. Arguments are cut as Redis cuts
 * them: at most 32 (the last one says "... (N more arguments)"), each at
 * most 128 bytes ("... (N more bytes)"). Loop thread only. */
#ifndef SIMCACHE_SLOWLOG_H
#define SIMCACHE_SLOWLOG_H

#include <stdint.h>
#include "client.h"

/* Records c's current request if duration_us qualifies. */
void slowlog_push_if_needed(client *c, uint64_t duration_us);
/* Replies with the newest `count` entries (count < 0: all). */
void slowlog_reply(client *c, long count);
long slowlog_len(void);
void slowlog_reset(void);
/* Frees every entry (shutdown). */
void slowlog_free(void);

#endif
