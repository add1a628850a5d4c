/* ratelimit.h -- token buckets with FIFO wait queues (LIMIT.*), and the
 * GCRA cells of redis-cell's CL.THROTTLE. Pure logic: no libuv, no client,
 * no reply; time comes from an injectable clock, so every rule here is
 * unit-tested with a fake clock (tests/unit/test_ratelimit.c).
 * cmd_limit.c is the glue: it parses commands, parks clients, and runs a
 * libuv timer at the instant rl_process() says something can happen.
 *
 * Threading: a registry is used by one thread only (the loop thread in the
 * server). Completion callbacks run from inside rl_process/rl_del/rl_set/
 * rl_sweep/rl_shutdown, after the registry is consistent again; they may
 * call back into the registry (a parked client's pipelined requests run
 * from the callback).
 *
 * Errors: functions return 0 or a negative errno-style code (RL_E*), with
 * results through out-parameters. Nothing here aborts or prints. */
#ifndef SIMCACHE_RATELIMIT_H
#define SIMCACHE_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#define RL_NS_PER_MS 1000000ull
#define RL_NS_PER_S 1000000000ull

/* Parameter bounds (LIMIT.SET rejects values outside them). They keep the
 * fixed-point level (tokens * per_ns, held in 128 bits) far from overflow. */
#define RL_MAX_RATE 1000000000ull          /* tokens per period */
#define RL_MAX_BURST 1000000000000ull      /* tokens */
#define RL_MIN_PER_NS RL_NS_PER_MS         /* 1 ms */
#define RL_MAX_PER_NS (366ull * 86400ull * RL_NS_PER_S)  /* a year */
#define RL_MAX_QUEUE 1000000u
#define RL_DEFAULT_QUEUE 1000u
#define RL_MAX_NAMES 64                    /* buckets in one LIMIT.TAKE */

enum {
    RL_ENOENT = -2,     /* no such bucket */
    RL_ENOMEM = -12,
    RL_EINVAL = -22,    /* parameter out of range */
    RL_ECOST = -33,     /* cost > burst of a bucket: could never be granted */
    RL_EDUP = -34,      /* a bucket named twice in one take */
};

/* The outcome of a take, also passed to the completion callback. */
typedef enum rl_outcome {
    RL_GRANTED = 0,     /* tokens taken from every bucket */
    RL_LIMITED,         /* not enough tokens (or waiters ahead) and no WAIT */
    RL_QUEUE_FULL,      /* WAIT, but a bucket's queue is at its QUEUE bound */
    RL_TIMEOUT,         /* waited until its deadline (WAIT or MAXWAIT) */
    RL_DELETED,         /* a bucket it waited on was deleted (LIMIT.DEL) */
    RL_RECONFIGURED,    /* LIMIT.SET lowered a burst below its cost */
    RL_SHUTDOWN,        /* the server is shutting down */
    RL_GONE,            /* its owner disappeared (client closed): no reply */
    RL_QUEUED,          /* rl_take only: the request waits; completion later */
} rl_outcome;

/* Reply word of an outcome ("ok", "limited", "queue_full", ...). */
const char *rl_outcome_name(rl_outcome o);

typedef struct rl_params {
    uint64_t rate;        /* tokens added per period, 1..RL_MAX_RATE */
    uint64_t per_ns;      /* period in ns, RL_MIN_PER_NS..RL_MAX_PER_NS */
    uint64_t burst;       /* bucket capacity in tokens, 1..RL_MAX_BURST */
    uint32_t queue_max;   /* waiters allowed in the queue, 0..RL_MAX_QUEUE */
    uint64_t maxwait_ns;  /* cap on any waiter's WAIT; 0 = no cap */
} rl_params;

typedef struct rl_registry rl_registry;
typedef struct rl_waiter rl_waiter;

/* Monotonic nanoseconds. */
typedef uint64_t rl_clock_fn(void *ud);
/* Called once per waiter when it completes (any outcome but RL_QUEUED).
 * The waiter is already out of every queue; rl_waiter_* accessors work
 * during the call; the registry frees the waiter when the callback
 * returns. */
typedef void rl_done_fn(rl_waiter *w, rl_outcome o, void *ud);
/* 1 if the waiter's owner still wants an answer (client open). */
typedef int rl_alive_fn(void *owner);

/* A new empty registry. clock is required; done/alive may be NULL (no
 * waiting then makes little sense, but pure-math tests need neither).
 * NULL on OOM. */
rl_registry *rl_create(rl_clock_fn *clock, void *clock_ud, rl_done_fn *done,
                       rl_alive_fn *alive, void *ud);
/* Frees everything. Waiters still queued complete with RL_SHUTDOWN first. */
void rl_destroy(rl_registry *r);

/* ---- token buckets ---- */

/* Creates the bucket, or updates its parameters: the level is first
 * refilled at the old rate, then capped at the new burst; waiters whose
 * cost exceeds the new burst complete with RL_RECONFIGURED; a lower queue
 * bound applies to new waiters only; MAXWAIT applies to new waiters only.
 * A new bucket starts full. *created (may be NULL) says which. Returns 0,
 * RL_EINVAL (parameter out of bounds) or RL_ENOMEM. */
int rl_set(rl_registry *r, const char *name, size_t len, const rl_params *p, int *created);

/* Deletes the bucket; its waiters complete with RL_DELETED (their other
 * buckets keep their tokens). Returns 0 or RL_ENOENT. */
int rl_del(rl_registry *r, const char *name, size_t len);

typedef struct rl_take_req {
    const char *const *names;  /* n bucket names (not NUL-terminated) */
    const size_t *lens;
    int n;                     /* 1..RL_MAX_NAMES */
    uint64_t cost;             /* tokens from every bucket, >= 1 */
    int wait;                  /* 1: queue if not grantable now */
    uint64_t wait_ns;          /* with wait: how long; 0 = until granted */
    void *owner;               /* given back through rl_waiter_owner */
} rl_take_req;

typedef struct rl_take_res {
    rl_outcome outcome;        /* GRANTED, LIMITED, QUEUE_FULL or QUEUED */
    uint64_t retry_after_ns;   /* LIMITED/QUEUE_FULL: see rl_take */
    uint64_t remaining[RL_MAX_NAMES]; /* whole tokens left, per name, in order */
    int bad;                   /* index of the offending name on error */
    rl_waiter *waiter;         /* QUEUED: the waiter (owned by the registry) */
} rl_take_res;

/* Takes req->cost tokens from every named bucket at once, or from none.
 * A bucket with waiters grants nothing out of turn: a request that finds a
 * queue on any of its buckets is not granted now (head-of-line order).
 * Without wait, a request not granted is RL_LIMITED; retry_after_ns is
 * when the tokens for it and every waiter ahead of it will have refilled
 * (exact for one bucket with no newcomers; a lower bound otherwise). With
 * wait, it is RL_QUEUE_FULL if some bucket's queue is at its bound, else
 * it joins the tail of every bucket's queue (RL_QUEUED) with the deadline
 * now + min(wait_ns, each bucket's maxwait_ns) (0 values meaning none).
 * Errors (nothing changed, res->bad names the bucket): RL_ENOENT, RL_EDUP,
 * RL_ECOST (cost > burst), RL_EINVAL (n or cost out of range), RL_ENOMEM. */
int rl_take(rl_registry *r, const rl_take_req *req, rl_take_res *res);

/* Completes every waiter that can complete now: grants (head of every one
 * of its queues and enough tokens in all, taken atomically), timeouts, and
 * owners found dead at the head (RL_GONE, no tokens taken). Returns the
 * monotonic time in ns of the next event (a grant becoming possible or a
 * deadline), or UINT64_MAX when no waiter is left. */
uint64_t rl_process(rl_registry *r);

/* Drops every waiter whose owner is no longer alive (RL_GONE). O(waiters):
 * for the server's periodic cron and before INFO. */
void rl_sweep(rl_registry *r);

/* Completes every waiter with RL_SHUTDOWN. */
void rl_shutdown(rl_registry *r);

typedef struct rl_bucket_info {
    rl_params p;
    double tokens;             /* level now, fractional */
    uint64_t queue_depth;      /* waiters in its queue */
    uint64_t queued_cost;      /* tokens those waiters need */
    uint64_t oldest_wait_ns;   /* age of its oldest waiter, 0 if none */
    uint64_t granted, denied, timed_out;  /* requests, since creation */
} rl_bucket_info;

/* Fills *out for the bucket (refilled to now). 0 or RL_ENOENT. */
int rl_info(rl_registry *r, const char *name, size_t len, rl_bucket_info *out);

/* Calls fn for every bucket name (unordered). Do not modify the registry
 * from fn. */
void rl_foreach(rl_registry *r, void (*fn)(const char *name, size_t len, void *arg), void *arg);

typedef struct rl_stats {
    uint64_t buckets, cells;
    uint64_t waiters;          /* total queued requests */
    uint64_t oldest_wait_ns;   /* age of the oldest waiter, 0 if none */
    uint64_t granted, denied, timed_out;   /* all buckets, ever */
    uint64_t cells_expired;
} rl_stats;
void rl_get_stats(rl_registry *r, rl_stats *out);

/* ---- waiter accessors (valid inside the done callback) ---- */
void *rl_waiter_owner(const rl_waiter *w);
int rl_waiter_count(const rl_waiter *w);           /* names in its take */
uint64_t rl_waiter_remaining(const rl_waiter *w, int i);  /* at completion */
uint64_t rl_waiter_waited_ns(const rl_waiter *w);  /* enqueue -> completion */
uint64_t rl_waiter_retry_ns(const rl_waiter *w);   /* estimate, for denials */

/* ---- GCRA cells (CL.THROTTLE) ---- */

typedef struct rl_cell_res {
    int limited;               /* 1 if refused */
    int64_t limit;             /* max_burst + 1 */
    int64_t remaining;
    int64_t retry_after_ns;    /* -1 s (as ns) when not limited or never */
    int64_t reset_after_ns;
    /* The reply's whole seconds, rounded as redis-cell rounds: up when the
     * duration has a millisecond part. */
    int64_t retry_after_s, reset_after_s;
} rl_cell_res;

/* redis-cell's CL.THROTTLE on `key`: emission interval period_s/count
 * (ns, truncated), tolerance interval*(max_burst+1); the cell is created
 * on first use and forgotten once its theoretical arrival time has passed
 * (then it is indistinguishable from a new one). quantity 0 peeks.
 * Returns 0, RL_EINVAL (max_burst < 0, count <= 0, period_s <= 0,
 * quantity < 0, or an interval that overflows), RL_ENOMEM. */
int rl_cell_throttle(rl_registry *r, const char *key, size_t len, int64_t max_burst,
                     int64_t count, int64_t period_s, int64_t quantity, rl_cell_res *out);

/* Forgets up to `budget` hash slots' worth of expired cells (incremental
 * scan, resumes where it stopped). Returns cells removed. */
size_t rl_cell_expire(rl_registry *r, size_t budget);

#endif
