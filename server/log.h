/* log.h -- the server log, in Redis's line format:
 *   "pid:M dd Mon yyyy hh:mm:ss.mmm * message"
 * ('.' debug, '-' verbose, '*' notice, '#' warning; role M = master).
 *
 * Written to g_cfg.logfile (appended, reopened per line as Redis does, so
 * log rotation works) or to stderr when logfile is "". Lines below
 * `loglevel` are dropped. Loop thread, or any thread at start-up; one
 * write() per line so concurrent writers do not interleave inside a line. */
#ifndef SIMCACHE_LOG_H
#define SIMCACHE_LOG_H

enum { LL_DEBUG = 0, LL_VERBOSE, LL_NOTICE, LL_WARNING, LL_NOTHING };

/* Parses a level name ("debug", "verbose", "notice", "warning", "nothing");
 * -1 if unknown. */
int log_level_parse(const char *name);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
