/* log.c -- Redis-format log lines (see log.h).
 *
 * The level is read from g_cfg.loglevel each call (CONFIG SET loglevel
 * takes effect at once); parsing a short string is far cheaper than the
 * write that follows. */
#include "log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "config.h"

static const char *level_names[] = {"debug", "verbose", "notice", "warning", "nothing"};

int log_level_parse(const char *name) {
    for (int i = 0; i <= LL_NOTHING; i++)
        if (strcasecmp(name, level_names[i]) == 0) return i;
    return -1;
}

void log_msg(int level, const char *fmt, ...) {
    int min = log_level_parse(g_cfg.loglevel);
    if (min < 0) min = LL_NOTICE;
    if (level < min || level >= LL_NOTHING) return;

    char line[1024];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    time_t secs = tv.tv_sec;
    localtime_r(&secs, &tm);
    char ts[64];
    size_t tl = strftime(ts, sizeof ts, "%d %b %Y %H:%M:%S", &tm);
    snprintf(ts + tl, sizeof ts - tl, ".%03d", (int)(tv.tv_usec / 1000));
    int n = snprintf(line, sizeof line, "%d:M %s %c ", (int)getpid(), ts, ".-*#"[level]);
    if (n < 0 || (size_t)n >= sizeof line) return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0) return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof line - 2) len = sizeof line - 2;
    line[len++] = '\n';

    int fd = STDERR_FILENO, opened = 0;
    if (g_cfg.logfile[0]) {
        fd = open(g_cfg.logfile, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) return;
        opened = 1;
    }
    ssize_t w = write(fd, line, len);
    (void)w;
    if (opened) close(fd);
}
