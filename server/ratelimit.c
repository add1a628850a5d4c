/* ratelimit.c -- token buckets with FIFO wait queues, and GCRA cells.
 *
 * Design decisions:
 * 1. Exact refill. A bucket's level is held in fixed point as
 *    tokens * per_ns in an unsigned 128-bit integer; t ns of refill add
 *    exactly t * rate units. No floating point and no rounding, so the
 *    long-run rate is exact however often the bucket is touched (a double
 *    level updated every few microseconds drifts). The bounds in
 *    ratelimit.h keep burst * per_ns * queued demand below 2^128.
 * 2. Head-of-line order. Every bucket has a FIFO queue of waiters; a bucket
 *    whose queue is not empty grants nothing out of turn, to waiters or to
 *    newcomers, so a later small request never starves an earlier big one.
 *    A waiter on several buckets sits in all their queues and is granted
 *    only when it is at the head of every one of them and every one holds
 *    its cost; the tokens are then taken from all at once. Because every
 *    queue is in arrival order, the oldest waiter overall is at the head of
 *    all its queues: it waits for tokens only, never for another waiter,
 *    so there is no deadlock and no starvation. The price is that a waiter
 *    at the head of bucket A keeps A's tokens from a later waiter that
 *    needs A only, even while it itself waits on busier bucket B (strict
 *    FIFO per bucket, the documented rule).
 * 3. Completions are deferred. Every function that completes waiters first
 *    unlinks them all and brings the registry to a consistent state, then
 *    runs the callbacks: a callback may re-enter the registry (in the
 *    server it unparks a client whose pipelined requests run at once).
 * 4. Deadlines live in a binary min-heap (index kept in the waiter), so a
 *    timeout, a disconnect and a grant all remove a waiter in O(log n);
 *    rl_process looks at queue heads and the heap top, never at every
 *    waiter. Dead owners are found at the head (before any grant) and by
 *    rl_sweep, which the server runs from its hz timer.
 * 5. GCRA cells follow redis-cell (brandur/redis-cell, RateLimiter::
 *    rate_limit) step for step, including its integer truncations and its
 *    rounding of the reply seconds, so CL.THROTTLE answers as the module
 *    does. The time base is the monotonic clock instead of the wall clock.
 *    A cell whose theoretical arrival time has passed is equivalent to no
 *    cell (redis-cell stores it with a TTL ending then); such cells are
 *    forgotten by an incremental scan (rl_cell_expire) and ignored if met
 *    before that.
 *
 * Threading: one thread per registry (see ratelimit.h). */
#include "ratelimit.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

typedef unsigned __int128 u128;

/* ---- a small chained hash map of named entries ---- */

typedef struct rl_entry {
    struct rl_entry *next;
    uint64_t hash;
    size_t nlen;
    char *name;               /* points into the owning struct; NUL-terminated */
} rl_entry;

typedef struct rl_map {
    rl_entry **slots;         /* cap slots, cap a power of two (or 0) */
    size_t cap, count;
} rl_map;

static uint64_t name_hash(const char *s, size_t n) { return XXH3_64bits(s, n); }

static rl_entry *map_find(const rl_map *m, const char *s, size_t n, uint64_t h) {
    if (m->cap == 0) return NULL;
    for (rl_entry *e = m->slots[h & (m->cap - 1)]; e; e = e->next)
        if (e->hash == h && e->nlen == n && memcmp(e->name, s, n) == 0) return e;
    return NULL;
}

static int map_insert(rl_map *m, rl_entry *e) {
    if (m->count >= m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 16;
        rl_entry **ns = calloc(ncap, sizeof *ns);
        if (ns == NULL) return RL_ENOMEM;
        for (size_t i = 0; i < m->cap; i++) {
            for (rl_entry *x = m->slots[i], *nx; x; x = nx) {
                nx = x->next;
                x->next = ns[x->hash & (ncap - 1)];
                ns[x->hash & (ncap - 1)] = x;
            }
        }
        free(m->slots);
        m->slots = ns;
        m->cap = ncap;
    }
    rl_entry **slot = &m->slots[e->hash & (m->cap - 1)];
    e->next = *slot;
    *slot = e;
    m->count++;
    return 0;
}

static void map_remove(rl_map *m, rl_entry *e) {
    for (rl_entry **p = &m->slots[e->hash & (m->cap - 1)]; *p; p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            m->count--;
            return;
        }
    }
}

/* ---- structures ---- */

typedef struct rl_bucket rl_bucket;

typedef struct rl_link {      /* a waiter's place in one bucket's queue */
    struct rl_link *prev, *next;
    rl_waiter *w;
    rl_bucket *b;
} rl_link;

struct rl_bucket {
    rl_entry e;               /* first: the map holds rl_entry pointers */
    rl_params p;
    u128 level;               /* tokens * p.per_ns; <= burst * per_ns */
    uint64_t last_ns;         /* level is as of this time */
    rl_link *qhead, *qtail;
    uint64_t qlen, qcost;     /* waiters queued, and their total cost */
    rl_bucket *aprev, *anext; /* the registry's list of non-empty queues */
    uint64_t granted, denied, timed_out;
    char name[];
};

struct rl_waiter {
    uint64_t cost;            /* tokens from each bucket */
    uint64_t enq_ns;          /* when it was queued */
    uint64_t deadline_ns;     /* UINT64_MAX: none */
    uint64_t done_ns;
    uint64_t retry_ns;        /* denial estimate at completion */
    size_t heap_idx;          /* SIZE_MAX: not in the heap */
    void *owner;
    rl_outcome outcome;
    struct rl_waiter *prev, *next;  /* the registry's list, arrival order */
    struct rl_waiter *done_next;    /* completion list */
    int n;
    uint64_t *remaining;      /* n entries, after links */
    rl_link links[];
};

typedef struct rl_cell {
    rl_entry e;
    int64_t tat_ns;           /* theoretical arrival time, monotonic ns */
    char name[];
} rl_cell;

struct rl_registry {
    rl_clock_fn *clock;
    void *clock_ud;
    rl_done_fn *done;
    rl_alive_fn *alive;
    void *ud;
    rl_map buckets, cells;
    size_t cell_cursor;       /* rl_cell_expire resumes at this slot */
    rl_bucket *active;        /* buckets with waiters */
    rl_waiter *whead, *wtail; /* every waiter, oldest first */
    uint64_t nwaiters;
    rl_waiter **heap;         /* deadlines, min-heap */
    size_t heap_len, heap_cap;
    rl_waiter *done_head, *done_tail;
    uint64_t granted, denied, timed_out, cells_expired;
};

const char *rl_outcome_name(rl_outcome o) {
    switch (o) {
    case RL_GRANTED: return "ok";
    case RL_LIMITED: return "limited";
    case RL_QUEUE_FULL: return "queue_full";
    case RL_TIMEOUT: return "timeout";
    case RL_DELETED: return "deleted";
    case RL_RECONFIGURED: return "reconfigured";
    case RL_SHUTDOWN: return "shutdown";
    case RL_GONE: return "gone";
    case RL_QUEUED: return "queued";
    }
    return "?";
}

rl_registry *rl_create(rl_clock_fn *clock, void *clock_ud, rl_done_fn *done,
                       rl_alive_fn *alive, void *ud) {
    if (clock == NULL) return NULL;
    rl_registry *r = calloc(1, sizeof *r);
    if (r == NULL) return NULL;
    r->clock = clock;
    r->clock_ud = clock_ud;
    r->done = done;
    r->alive = alive;
    r->ud = ud;
    return r;
}

static uint64_t now_ns(rl_registry *r) { return r->clock(r->clock_ud); }

/* ---- bucket math ---- */

static void bucket_refill(rl_bucket *b, uint64_t now) {
    if (now <= b->last_ns) return;
    u128 cap = (u128)b->p.burst * b->p.per_ns;
    if (b->level < cap) {
        u128 add = (u128)(now - b->last_ns) * b->p.rate;
        b->level = (cap - b->level <= add) ? cap : b->level + add;
    }
    b->last_ns = now;
}

static int bucket_has(const rl_bucket *b, uint64_t tokens) {
    return b->level >= (u128)tokens * b->p.per_ns;
}

/* ns until the (refilled) level reaches `tokens`, ignoring the cap. */
static uint64_t bucket_time_to(const rl_bucket *b, uint64_t tokens) {
    u128 need = (u128)tokens * b->p.per_ns;
    if (b->level >= need) return 0;
    u128 t = (need - b->level + b->p.rate - 1) / b->p.rate;
    return t > UINT64_MAX / 2 ? UINT64_MAX / 2 : (uint64_t)t;
}

static uint64_t bucket_whole(const rl_bucket *b) { return (uint64_t)(b->level / b->p.per_ns); }

static rl_bucket *bucket_find(rl_registry *r, const char *s, size_t n) {
    return (rl_bucket *)map_find(&r->buckets, s, n, name_hash(s, n));
}

static int params_ok(const rl_params *p) {
    return p->rate >= 1 && p->rate <= RL_MAX_RATE && p->per_ns >= RL_MIN_PER_NS &&
           p->per_ns <= RL_MAX_PER_NS && p->burst >= 1 && p->burst <= RL_MAX_BURST &&
           p->queue_max <= RL_MAX_QUEUE && p->maxwait_ns <= RL_MAX_PER_NS;
}

/* ---- the active list and queues ---- */

static void active_add(rl_registry *r, rl_bucket *b) {
    b->aprev = NULL;
    b->anext = r->active;
    if (r->active) r->active->aprev = b;
    r->active = b;
}

static void active_del(rl_registry *r, rl_bucket *b) {
    if (b->aprev) b->aprev->anext = b->anext;
    else r->active = b->anext;
    if (b->anext) b->anext->aprev = b->aprev;
    b->aprev = b->anext = NULL;
}

static void queue_push(rl_registry *r, rl_bucket *b, rl_link *l) {
    l->b = b;
    l->next = NULL;
    l->prev = b->qtail;
    if (b->qtail) b->qtail->next = l;
    else {
        b->qhead = l;
        active_add(r, b);
    }
    b->qtail = l;
    b->qlen++;
    b->qcost += l->w->cost;
}

static void queue_unlink(rl_registry *r, rl_link *l) {
    rl_bucket *b = l->b;
    if (l->prev) l->prev->next = l->next;
    else b->qhead = l->next;
    if (l->next) l->next->prev = l->prev;
    else b->qtail = l->prev;
    b->qlen--;
    b->qcost -= l->w->cost;
    if (b->qhead == NULL) active_del(r, b);
    l->prev = l->next = NULL;
}

/* ---- the deadline heap ---- */

static void heap_swap(rl_registry *r, size_t i, size_t j) {
    rl_waiter *t = r->heap[i];
    r->heap[i] = r->heap[j];
    r->heap[j] = t;
    r->heap[i]->heap_idx = i;
    r->heap[j]->heap_idx = j;
}

static void heap_up(rl_registry *r, size_t i) {
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (r->heap[p]->deadline_ns <= r->heap[i]->deadline_ns) break;
        heap_swap(r, i, p);
        i = p;
    }
}

static void heap_down(rl_registry *r, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < r->heap_len && r->heap[l]->deadline_ns < r->heap[m]->deadline_ns) m = l;
        if (l + 1 < r->heap_len && r->heap[l + 1]->deadline_ns < r->heap[m]->deadline_ns)
            m = l + 1;
        if (m == i) return;
        heap_swap(r, i, m);
        i = m;
    }
}

static int heap_push(rl_registry *r, rl_waiter *w) {
    if (r->heap_len == r->heap_cap) {
        size_t ncap = r->heap_cap ? r->heap_cap * 2 : 16;
        rl_waiter **nh = realloc(r->heap, ncap * sizeof *nh);
        if (nh == NULL) return RL_ENOMEM;
        r->heap = nh;
        r->heap_cap = ncap;
    }
    w->heap_idx = r->heap_len;
    r->heap[r->heap_len++] = w;
    heap_up(r, w->heap_idx);
    return 0;
}

static void heap_remove(rl_registry *r, rl_waiter *w) {
    size_t i = w->heap_idx;
    if (i == SIZE_MAX) return;
    w->heap_idx = SIZE_MAX;
    if (--r->heap_len == i) return;
    r->heap[i] = r->heap[r->heap_len];
    r->heap[i]->heap_idx = i;
    heap_down(r, i);
    heap_up(r, r->heap[i]->heap_idx);
}

/* ---- completing waiters ---- */

/* Tokens needed ahead of and including w in l's bucket. */
static uint64_t demand_through(const rl_link *l) {
    uint64_t d = 0;
    for (const rl_link *x = l; x; x = x->prev) d += x->w->cost;
    return d;
}

/* Takes w out of every queue, the heap and the list, records what its
 * reply needs, and appends it to the completion list. */
static void waiter_finish(rl_registry *r, rl_waiter *w, rl_outcome o, uint64_t now) {
    uint64_t retry = 0;
    for (int i = 0; i < w->n; i++) {
        rl_link *l = &w->links[i];
        rl_bucket *b = l->b;
        bucket_refill(b, now);
        if (o != RL_GRANTED && o != RL_GONE) {
            uint64_t t = bucket_time_to(b, demand_through(l));
            if (t > retry) retry = t;
            if (o == RL_TIMEOUT) b->timed_out++;
            else b->denied++;
        }
        queue_unlink(r, l);
        w->remaining[i] = bucket_whole(b);
    }
    if (o == RL_TIMEOUT) r->timed_out++;
    else if (o != RL_GRANTED && o != RL_GONE) r->denied++;
    heap_remove(r, w);
    if (w->prev) w->prev->next = w->next;
    else r->whead = w->next;
    if (w->next) w->next->prev = w->prev;
    else r->wtail = w->prev;
    r->nwaiters--;
    w->outcome = o;
    w->retry_ns = retry;
    w->done_ns = now;
    w->done_next = NULL;
    if (r->done_tail) r->done_tail->done_next = w;
    else r->done_head = w;
    r->done_tail = w;
}

/* Runs the callbacks of the completion list and frees the waiters. The
 * list is detached first: a callback may complete more waiters. */
static void fire_done(rl_registry *r) {
    while (r->done_head) {
        rl_waiter *w = r->done_head;
        r->done_head = w->done_next;
        if (r->done_head == NULL) r->done_tail = NULL;
        if (r->done) r->done(w, w->outcome, r->ud);
        free(w);
    }
}

/* ---- buckets ---- */

int rl_set(rl_registry *r, const char *name, size_t len, const rl_params *p, int *created) {
    if (!params_ok(p)) return RL_EINVAL;
    uint64_t now = now_ns(r);
    rl_bucket *b = bucket_find(r, name, len);
    if (created) *created = b == NULL;
    if (b == NULL) {
        b = calloc(1, sizeof *b + len + 1);
        if (b == NULL) return RL_ENOMEM;
        memcpy(b->name, name, len);
        b->e.name = b->name;
        b->e.nlen = len;
        b->e.hash = name_hash(name, len);
        b->p = *p;
        b->level = (u128)p->burst * p->per_ns;
        b->last_ns = now;
        if (map_insert(&r->buckets, &b->e) != 0) {
            free(b);
            return RL_ENOMEM;
        }
        return 0;
    }
    bucket_refill(b, now);
    /* Rescale the level to the new period without overflowing 128 bits. */
    u128 q = b->level / b->p.per_ns, rem = b->level % b->p.per_ns;
    u128 lv = q * p->per_ns + rem * p->per_ns / b->p.per_ns;
    u128 cap = (u128)p->burst * p->per_ns;
    b->level = lv < cap ? lv : cap;
    b->p = *p;
    for (rl_link *l = b->qhead, *nx; l; l = nx) {
        nx = l->next;
        if (l->w->cost > p->burst) waiter_finish(r, l->w, RL_RECONFIGURED, now);
    }
    fire_done(r);
    return 0;
}

int rl_del(rl_registry *r, const char *name, size_t len) {
    rl_bucket *b = bucket_find(r, name, len);
    if (b == NULL) return RL_ENOENT;
    uint64_t now = now_ns(r);
    while (b->qhead) waiter_finish(r, b->qhead->w, RL_DELETED, now);
    map_remove(&r->buckets, &b->e);
    free(b);
    fire_done(r);
    return 0;
}

int rl_info(rl_registry *r, const char *name, size_t len, rl_bucket_info *out) {
    rl_bucket *b = bucket_find(r, name, len);
    if (b == NULL) return RL_ENOENT;
    uint64_t now = now_ns(r);
    bucket_refill(b, now);
    memset(out, 0, sizeof *out);
    out->p = b->p;
    out->tokens = (double)bucket_whole(b) +
                  (double)(uint64_t)(b->level % b->p.per_ns) / (double)b->p.per_ns;
    out->queue_depth = b->qlen;
    out->queued_cost = b->qcost;
    if (b->qhead) {
        /* The oldest waiter of this bucket: its queue is in arrival order. */
        uint64_t t = b->qhead->w->enq_ns;
        out->oldest_wait_ns = now > t ? now - t : 0;
    }
    out->granted = b->granted;
    out->denied = b->denied;
    out->timed_out = b->timed_out;
    return 0;
}

void rl_foreach(rl_registry *r, void (*fn)(const char *name, size_t len, void *arg), void *arg) {
    for (size_t i = 0; i < r->buckets.cap; i++)
        for (rl_entry *e = r->buckets.slots[i]; e; e = e->next) fn(e->name, e->nlen, arg);
}

void rl_get_stats(rl_registry *r, rl_stats *out) {
    memset(out, 0, sizeof *out);
    out->buckets = r->buckets.count;
    out->cells = r->cells.count;
    out->waiters = r->nwaiters;
    if (r->whead) {
        uint64_t now = now_ns(r);
        out->oldest_wait_ns = now > r->whead->enq_ns ? now - r->whead->enq_ns : 0;
    }
    out->granted = r->granted;
    out->denied = r->denied;
    out->timed_out = r->timed_out;
    out->cells_expired = r->cells_expired;
}

/* ---- take ---- */

static int take_lookup(rl_registry *r, const rl_take_req *q, rl_bucket **bs, rl_take_res *res) {
    for (int i = 0; i < q->n; i++) {
        res->bad = i;
        bs[i] = bucket_find(r, q->names[i], q->lens[i]);
        if (bs[i] == NULL) return RL_ENOENT;
        for (int j = 0; j < i; j++)
            if (bs[j] == bs[i]) return RL_EDUP;
        if (q->cost > bs[i]->p.burst) return RL_ECOST;
    }
    res->bad = -1;
    return 0;
}

static int take_enqueue(rl_registry *r, const rl_take_req *q, rl_bucket **bs, uint64_t now,
                        rl_take_res *res) {
    rl_waiter *w = calloc(1, sizeof *w + (size_t)q->n * (sizeof(rl_link) + sizeof(uint64_t)));
    if (w == NULL) return RL_ENOMEM;
    w->remaining = (uint64_t *)(void *)&w->links[q->n];
    w->n = q->n;
    w->cost = q->cost;
    w->enq_ns = now;
    w->owner = q->owner;
    w->heap_idx = SIZE_MAX;
    uint64_t wait = q->wait_ns;   /* 0: none */
    for (int i = 0; i < q->n; i++) {
        uint64_t mw = bs[i]->p.maxwait_ns;
        if (mw && (wait == 0 || mw < wait)) wait = mw;
    }
    w->deadline_ns = wait ? now + wait : UINT64_MAX;
    if (wait && heap_push(r, w) != 0) {
        free(w);
        return RL_ENOMEM;
    }
    for (int i = 0; i < q->n; i++) {
        w->links[i].w = w;
        queue_push(r, bs[i], &w->links[i]);
        res->remaining[i] = bucket_whole(bs[i]);
    }
    w->prev = r->wtail;
    if (r->wtail) r->wtail->next = w;
    else r->whead = w;
    r->wtail = w;
    r->nwaiters++;
    res->outcome = RL_QUEUED;
    res->waiter = w;
    return 0;
}

int rl_take(rl_registry *r, const rl_take_req *q, rl_take_res *res) {
    rl_bucket *bs[RL_MAX_NAMES];
    res->bad = -1;
    res->waiter = NULL;
    res->retry_after_ns = 0;
    if (q->n < 1 || q->n > RL_MAX_NAMES || q->cost < 1) return RL_EINVAL;
    int rc = take_lookup(r, q, bs, res);
    if (rc != 0) return rc;
    uint64_t now = now_ns(r);
    int grant = 1, full = 0;
    for (int i = 0; i < q->n; i++) {
        bucket_refill(bs[i], now);
        if (bs[i]->qhead || !bucket_has(bs[i], q->cost)) grant = 0;
        if (bs[i]->qlen >= bs[i]->p.queue_max) full = 1;
    }
    if (grant) {
        for (int i = 0; i < q->n; i++) {
            bs[i]->level -= (u128)q->cost * bs[i]->p.per_ns;
            bs[i]->granted++;
            res->remaining[i] = bucket_whole(bs[i]);
        }
        r->granted++;
        res->outcome = RL_GRANTED;
        return 0;
    }
    if (q->wait && !full) return take_enqueue(r, q, bs, now, res);
    for (int i = 0; i < q->n; i++) {
        uint64_t t = bucket_time_to(bs[i], bs[i]->qcost + q->cost);
        if (t > res->retry_after_ns) res->retry_after_ns = t;
        bs[i]->denied++;
        res->remaining[i] = bucket_whole(bs[i]);
    }
    r->denied++;
    res->outcome = q->wait ? RL_QUEUE_FULL : RL_LIMITED;
    return 0;
}

/* ---- processing waiters ---- */

static int head_everywhere(const rl_waiter *w) {
    for (int i = 0; i < w->n; i++)
        if (w->links[i].prev != NULL) return 0;
    return 1;
}

/* Tries to complete the head waiter of b. 1 if it completed. */
static int try_head(rl_registry *r, rl_bucket *b, uint64_t now) {
    rl_waiter *w = b->qhead->w;
    if (!head_everywhere(w)) return 0;
    if (r->alive && !r->alive(w->owner)) {
        waiter_finish(r, w, RL_GONE, now);
        return 1;
    }
    for (int i = 0; i < w->n; i++) {
        bucket_refill(w->links[i].b, now);
        if (!bucket_has(w->links[i].b, w->cost)) return 0;
    }
    for (int i = 0; i < w->n; i++) {
        rl_bucket *x = w->links[i].b;
        x->level -= (u128)w->cost * x->p.per_ns;
        x->granted++;
    }
    r->granted++;
    waiter_finish(r, w, RL_GRANTED, now);
    return 1;
}

uint64_t rl_process(rl_registry *r) {
    uint64_t now = now_ns(r);
    while (r->heap_len && r->heap[0]->deadline_ns <= now)
        waiter_finish(r, r->heap[0], RL_TIMEOUT, now);
    /* A completion changes queue heads: rescan until nothing moves. Each
     * pass is O(buckets with waiters); each restart completes a waiter. */
    int again = 1;
    while (again) {
        again = 0;
        for (rl_bucket *b = r->active; b; b = b->anext) {
            if (try_head(r, b, now)) {
                again = 1;
                break;
            }
        }
    }
    uint64_t next = r->heap_len ? r->heap[0]->deadline_ns : UINT64_MAX;
    for (rl_bucket *b = r->active; b; b = b->anext) {
        rl_waiter *w = b->qhead->w;
        if (!head_everywhere(w)) continue;
        uint64_t t = 0;
        for (int i = 0; i < w->n; i++) {
            uint64_t ti = bucket_time_to(w->links[i].b, w->cost);
            if (ti > t) t = ti;
        }
        if (now + t < next) next = now + t;
    }
    fire_done(r);
    return next;
}

void rl_sweep(rl_registry *r) {
    if (r->alive == NULL) return;
    uint64_t now = now_ns(r);
    for (rl_waiter *w = r->whead, *nx; w; w = nx) {
        nx = w->next;
        if (!r->alive(w->owner)) waiter_finish(r, w, RL_GONE, now);
    }
    fire_done(r);
}

void rl_shutdown(rl_registry *r) {
    uint64_t now = now_ns(r);
    while (r->whead) waiter_finish(r, r->whead, RL_SHUTDOWN, now);
    fire_done(r);
}

void rl_destroy(rl_registry *r) {
    if (r == NULL) return;
    rl_shutdown(r);
    for (size_t i = 0; i < r->buckets.cap; i++) {
        for (rl_entry *e = r->buckets.slots[i], *nx; e; e = nx) {
            nx = e->next;
            free(e);
        }
    }
    for (size_t i = 0; i < r->cells.cap; i++) {
        for (rl_entry *e = r->cells.slots[i], *nx; e; e = nx) {
            nx = e->next;
            free(e);
        }
    }
    free(r->buckets.slots);
    free(r->cells.slots);
    free(r->heap);
    free(r);
}

/* ---- waiter accessors ---- */

void *rl_waiter_owner(const rl_waiter *w) { return w->owner; }
int rl_waiter_count(const rl_waiter *w) { return w->n; }
uint64_t rl_waiter_remaining(const rl_waiter *w, int i) { return w->remaining[i]; }
uint64_t rl_waiter_waited_ns(const rl_waiter *w) { return w->done_ns - w->enq_ns; }
uint64_t rl_waiter_retry_ns(const rl_waiter *w) { return w->retry_ns; }

/* ---- GCRA cells ---- */

/* redis-cell's reply rounding: whole seconds, plus one if the duration has
 * a millisecond part (time::Duration whole_seconds/subsec_milliseconds,
 * both truncating toward zero). */
static int64_t cell_seconds(int64_t ns) {
    int64_t s = ns / (int64_t)RL_NS_PER_S;
    int64_t ms = (ns % (int64_t)RL_NS_PER_S) / (int64_t)RL_NS_PER_MS;
    return ms > 0 ? s + 1 : s;
}

int rl_cell_throttle(rl_registry *r, const char *key, size_t len, int64_t max_burst,
                     int64_t count, int64_t period_s, int64_t quantity, rl_cell_res *out) {
    if (max_burst < 0 || max_burst == INT64_MAX || count <= 0 || period_s <= 0 || quantity < 0) return RL_EINVAL;
    if (period_s > INT64_MAX / (int64_t)RL_NS_PER_S) return RL_EINVAL;
    /* Rate::per_period: f64 division, truncated to whole ns. */
    int64_t emission = (int64_t)((double)(period_s * (int64_t)RL_NS_PER_S) / (double)count);
    if (emission <= 0) return RL_EINVAL;   /* redis-cell: "Zero rates are not supported" */
    int64_t dvt, increment;
    if (__builtin_mul_overflow(emission, max_burst + 1, &dvt)) return RL_EINVAL;
    if (__builtin_mul_overflow(emission, quantity, &increment)) return RL_EINVAL;
    int64_t now = (int64_t)now_ns(r);
    uint64_t h = name_hash(key, len);
    rl_cell *c = (rl_cell *)map_find(&r->cells, key, len, h);
    /* A cell whose TAT has passed is a missing key in redis-cell. */
    int64_t tat = (c && c->tat_ns > now) ? c->tat_ns : now;
    int64_t new_tat;
    if (__builtin_add_overflow(tat, increment, &new_tat)) return RL_EINVAL;
    int64_t allow_at = new_tat - dvt;
    int64_t diff = now - allow_at;
    int64_t ttl;
    memset(out, 0, sizeof *out);
    out->limit = max_burst + 1;
    out->retry_after_ns = -(int64_t)RL_NS_PER_S;
    if (diff < 0) {
        if (increment <= dvt) out->retry_after_ns = -diff;
        out->limited = 1;
        ttl = tat - now;
    } else {
        ttl = new_tat - now;
        if (c == NULL && new_tat > now) {
            c = calloc(1, sizeof *c + len + 1);
            if (c == NULL) return RL_ENOMEM;
            memcpy(c->name, key, len);
            c->e.name = c->name;
            c->e.nlen = len;
            c->e.hash = h;
            if (map_insert(&r->cells, &c->e) != 0) {
                free(c);
                return RL_ENOMEM;
            }
        }
        if (c) c->tat_ns = new_tat;
    }
    int64_t next = dvt - ttl;
    if (next > -emission) {
        /* whole_microseconds as f64, truncated (redis-cell); an interval
         * under 1 us would divide by zero there: use ns then. */
        int64_t em_us = emission / 1000;
        out->remaining = em_us > 0 ? (int64_t)((double)(next / 1000) / (double)em_us)
                                   : (int64_t)((double)next / (double)emission);
    }
    out->reset_after_ns = ttl;
    out->retry_after_s = cell_seconds(out->retry_after_ns);
    out->reset_after_s = cell_seconds(out->reset_after_ns);
    return 0;
}

size_t rl_cell_expire(rl_registry *r, size_t budget) {
    rl_map *m = &r->cells;
    if (m->count == 0 || m->cap == 0) return 0;
    int64_t now = (int64_t)now_ns(r);
    size_t removed = 0;
    if (budget > m->cap) budget = m->cap;
    for (size_t k = 0; k < budget; k++) {
        size_t i = r->cell_cursor++ & (m->cap - 1);
        for (rl_entry **p = &m->slots[i]; *p;) {
            rl_cell *c = (rl_cell *)*p;
            if (c->tat_ns <= now) {
                *p = c->e.next;
                m->count--;
                free(c);
                removed++;
            } else {
                p = &(*p)->next;
            }
        }
    }
    r->cells_expired += removed;
    return removed;
}
