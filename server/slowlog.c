/* slowlog.c -- the slow log (see slowlog.h).
 *
 * Entries live in a doubly linked list, newest at the head; each owns one
 * allocation for its arguments. Trimming to slowlog-max-len happens on
 * push, so CONFIG SET slowlog-max-len takes effect with the next entry,
 * as in Redis. */
#include "slowlog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "net.h"
#include "reply.h"

#define SLOWLOG_MAX_ARGC 32
#define SLOWLOG_MAX_ARGLEN 128

typedef struct slowlog_entry {
    struct slowlog_entry *prev, *next;
    long long id;
    long long time;          /* unix seconds */
    long long duration;      /* microseconds */
    int argc;
    req_arg *argv;           /* into the same allocation */
    char addr[272];
    char name[128];
} slowlog_entry;

static slowlog_entry *head, *tail;
static long count;
static long long next_id;

static void entry_unlink_free(slowlog_entry *e) {
    if (e->prev) e->prev->next = e->next;
    else head = e->next;
    if (e->next) e->next->prev = e->prev;
    else tail = e->prev;
    free(e);
    count--;
}

void slowlog_push_if_needed(client *c, uint64_t duration_us) {
    if (g_cfg.slowlog_log_slower_than < 0 || g_cfg.slowlog_max_len == 0) return;
    if (duration_us < (uint64_t)g_cfg.slowlog_log_slower_than) return;
    int argc = c->argc > SLOWLOG_MAX_ARGC ? SLOWLOG_MAX_ARGC : c->argc;
    char notes[SLOWLOG_MAX_ARGC + 1][48];
    size_t bytes = sizeof(slowlog_entry) + (size_t)argc * sizeof(req_arg);
    for (int i = 0; i < argc; i++) {
        notes[i][0] = '\0';
        if (argc != c->argc && i == argc - 1) {
            snprintf(notes[i], sizeof notes[i], "... (%d more arguments)", c->argc - argc + 1);
        } else if (c->argv[i].len > SLOWLOG_MAX_ARGLEN) {
            snprintf(notes[i], sizeof notes[i], "... (%zu more bytes)",
                     c->argv[i].len - SLOWLOG_MAX_ARGLEN);
        }
        bytes += (notes[i][0] && argc != c->argc && i == argc - 1) ? strlen(notes[i]) + 1
                 : (c->argv[i].len > SLOWLOG_MAX_ARGLEN ? SLOWLOG_MAX_ARGLEN : c->argv[i].len)
                   + strlen(notes[i]) + 1;
    }
    slowlog_entry *e = malloc(bytes);
    if (e == NULL) return;
    e->argv = (req_arg *)(e + 1);
    char *dst = (char *)(e->argv + argc);
    for (int i = 0; i < argc; i++) {
        e->argv[i].ptr = dst;
        if (argc != c->argc && i == argc - 1) {
            size_t n = strlen(notes[i]);
            memcpy(dst, notes[i], n + 1);
            e->argv[i].len = n;
        } else {
            size_t n = c->argv[i].len > SLOWLOG_MAX_ARGLEN ? SLOWLOG_MAX_ARGLEN : c->argv[i].len;
            size_t m = strlen(notes[i]);
            memcpy(dst, c->argv[i].ptr, n);
            memcpy(dst + n, notes[i], m + 1);
            e->argv[i].len = n + m;
        }
        dst += e->argv[i].len + 1;
    }
    e->argc = argc;
    e->id = next_id++;
    e->time = (long long)time(NULL);
    e->duration = (long long)duration_us;
    snprintf(e->addr, sizeof e->addr, "%s", c->priv ? c->priv->addr : "");
    snprintf(e->name, sizeof e->name, "%s", c->priv ? c->priv->name : "");
    e->prev = NULL;
    e->next = head;
    if (head) head->prev = e;
    else tail = e;
    head = e;
    count++;
    while (count > g_cfg.slowlog_max_len && tail) entry_unlink_free(tail);
}

void slowlog_reply(client *c, long n) {
    if (n < 0 || n > count) n = count;
    reply_array(c, n);
    slowlog_entry *e = head;
    for (long i = 0; i < n && e; i++, e = e->next) {
        reply_array(c, 6);
        reply_integer(c, e->id);
        reply_integer(c, e->time);
        reply_integer(c, e->duration);
        reply_array(c, e->argc);
        for (int j = 0; j < e->argc; j++) reply_bulk(c, e->argv[j].ptr, e->argv[j].len);
        reply_bulk_cstr(c, e->addr);
        reply_bulk_cstr(c, e->name);
    }
}

long slowlog_len(void) { return count; }

void slowlog_reset(void) {
    while (head) entry_unlink_free(head);
}

void slowlog_free(void) { slowlog_reset(); }
