/* provider.c -- the embedding provider client: named HTTP endpoints called
 * with libcurl on the libuv loop (curl_uv.c), request bodies and response
 * validation in provider_json.c.
 *
 * Data model: a provider_req is one caller's call (n texts, one callback).
 * Each distinct text pending in a provider is one `item` in a hash table
 * (XXH3 of the bytes, then memcmp); a second request for the same text
 * while it is queued or in flight adds a waiter to the item instead of a
 * second input (coalescing). Queued items form a FIFO; a `batch` takes up
 * to max-batch items and is one HTTP request (plus its retries).
 *
 * Design decisions:
 *  1. Everything runs on the loop thread: no locks. provider_embed only
 *     enqueues and arms the provider's timer, so callbacks never run inside
 *     it (a caller can finish setting up its state after the call).
 *  2. Micro-batching: a batch leaves when max-batch inputs are queued, or
 *     when the oldest queued input has waited max-wait-ms (default 2 ms:
 *     concurrent misses arriving in the same loop iterations share one
 *     request; a lone miss pays at most 2 ms). At most `concurrency`
 *     batches are in flight; the rest wait in the queue.
 *  3. The queue is bounded (`queue` inputs). A request that does not fit is
 *     refused at once (PROVIDER_EQUEUE), never parked without limit: under
 *     an outage, memory and latency stay bounded and the client learns
 *     immediately.
 *  4. Outgoing rate limit: two token buckets, requests and (estimated)
 *     tokens per minute. Each bucket holds one second's worth (rpm/60,
 *     tpm/60; at least 1 request / one batch) so a burst cannot spend a
 *     whole minute's budget at once. A batch larger than the token bucket
 *     may leave when the bucket is full and drives it negative. The token
 *     estimate (bytes/4 + 1 per input) is corrected with the billed usage
 *     when the response arrives. Retries also consume tokens (they are real
 *     calls) but do not wait for them.
 *  5. Retries: at most max-attempts (<= 3) attempts per endpoint, for
 *     timeouts, transport errors, 429 (unless insufficient_quota) and 5xx.
 *     Delay: full jitter (uniform in [0, min(5 s, base * 2^attempt)]), or
 *     the Retry-After the server sent (CURLINFO_RETRY_AFTER) clamped to
 *     30 s plus up to `base` jitter, so clients released together do not
 *     retry in step. Other 4xx, redirects, invalid or oversized responses
 *     are not retried: the same request would fail the same way.
 *  6. Circuit breaker per endpoint: `breaker-failures` consecutive failures
 *     (transport, timeout, 429, 5xx, invalid, oversized) open it; while open,
 *     batches fail fast (or fail over); after `breaker-cooldown-ms` one
 *     probe is let through (half-open) and its outcome closes or re-opens.
 *  7. Failover: if a secondary-url is configured and the primary's breaker
 *     is open or its retries are exhausted, the batch goes to the
 *     secondary (same model, same validation, its own breaker and retries).
 *  8. Hardening of every transfer: CURLOPT_NOSIGNAL, no redirects, http and
 *     https only, connect/total/low-speed timeouts, a response size cap
 *     enforced in the write callback (aborts the transfer), no
 *     "Expect: 100-continue" round trip. Validation is total (see
 *     provider_json.c): an invalid response fails every input of the batch.
 *  9. Billing: each batch's billed prompt tokens are split over its inputs
 *     in proportion to their byte length (integer shares whose sum is the
 *     billed total) and each input's share goes to the request that caused
 *     it to be sent (a coalesced waiter pays nothing).
 * 10. Responses of 64 KiB or more are parsed on the libuv threadpool
 *     (uv_queue_work; provider_json.c is pure): a float-encoded response of
 *     64 x 1,536 floats takes ~100 ms of cJSON/strtod, which measured as a
 *     136-151 ms loop stall when parsed inline (driver, 512 prompts). The
 *     worker touches only the batch's response buffer and result fields;
 *     everything else stays on the loop thread. Smaller responses (a few
 *     base64 vectors) are parsed inline: the hop would cost more.
 * 11. LIMIT buckets (issue 7): a provider may name LIMIT.* buckets (`limit`
 *     takes 1 token per batch, `limit-tokens` the batch's estimated
 *     tokens). After the provider's own rpm/tpm gate, a batch takes from
 *     them through limits_take_for (cmd_limit.h), in the same FIFO queues
 *     as clients' LIMIT.TAKE, waiting at most limit-wait-ms without
 *     blocking the loop; a denial fails the batch with PROVIDER_ELIMIT (not
 *     retried, not a breaker failure: the provider is healthy). A batch
 *     waiting there holds one of the `concurrency` slots. One take per
 *     batch: retries of the same batch do not take again. */
#include "provider.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <xxhash.h>

#include "cmd_limit.h"
#include "config.h"
#include "curl_uv.h"
#include "info.h"
#include "log.h"
#include "provider_json.h"

#define MAX_PROVIDERS 16
#define RETRY_AFTER_CAP_S 30
#define BACKOFF_CAP_MS 5000
#define PARSE_OFFLOAD_BYTES (64 * 1024)

/* ---- configuration ---- */

typedef struct pspec {
    char name[64];
    enum pj_kind kind;
    char url[512], url2[512];   /* primary, secondary ("" = none) */
    char model[128];
    char keyenv[128];
    int dims;                   /* 0 = learn from the first response */
    int max_batch, max_wait_ms, timeout_ms, connect_timeout_ms;
    int max_attempts, retry_base_ms, concurrency;
    long long rpm, tpm, queue_cap, max_response;
    int breaker_failures, breaker_cooldown_ms;
    int base64;
    char limit[2][64];          /* LIMIT buckets: [0] 1 per batch, [1] its tokens */
    int limit_wait_ms;
} pspec;

static pspec specs[MAX_PROVIDERS];
static int nspecs;

/* ---- runtime structures ---- */

typedef struct waiter {
    provider_req *req;
    size_t slot;
    struct waiter *next;
} waiter;

typedef struct item {
    uint64_t hash;
    char *text;
    size_t len;
    struct item *hnext;     /* hash chain */
    struct item *qnext;     /* queue link while queued */
    waiter *waiters;
    provider_req *owner;    /* billed for this input */
    uint64_t enq_ms;        /* uv_now when queued */
} item;

struct provider_req {
    provider *p;
    provider_done_cb *cb;
    void *ud;
    size_t n;
    size_t remaining;       /* unresolved slots; freed at 0 */
    float *vecs;            /* n * dim once the first vector arrived */
    int dim;
    long long tokens;
    int done;               /* callback ran (error delivered early) */
    int cancelled;
    waiter w[];             /* one per slot, linked into the items' lists */
};

typedef struct breaker {
    int state;              /* BR_CLOSED, BR_OPEN, BR_HALF */
    int fails;              /* consecutive */
    uint64_t open_until;    /* uv_now ms */
    int probe;              /* half-open probe in flight */
    uint64_t opens;
} breaker;
enum { BR_CLOSED, BR_OPEN, BR_HALF };

typedef struct batch {
    provider *p;
    item **items;
    size_t n;
    int attempt;            /* attempts made on the current endpoint */
    int endpoint;           /* 0 primary, 1 secondary */
    int probe;              /* this attempt is the endpoint's half-open probe */
    CURL *easy;             /* in flight, or NULL */
    struct curl_slist *hdrs;
    sbuf body, resp;
    int too_large;
    long long est_tokens;
    uint64_t t0;            /* uv_hrtime at attempt start */
    uv_timer_t timer;       /* retry backoff; timer.data = this */
    struct batch *prev, *next;
    /* off-loop parsing of big responses (decision 10): the worker reads
     * resp and the copies below, writes the results; the loop thread
     * touches none of them until the after-work callback */
    uv_work_t work;
    int parsing;            /* work queued, after-work callback not yet run */
    int abandoned;          /* provider shut down meanwhile: just free */
    enum pj_kind pkind;
    int pdim, prc;
    float *pvecs;
    long long ptokens;
    char perr[200];
    /* LIMIT buckets (decision 11) */
    struct lticket *lt;     /* pending take, or NULL */
    int lstage;             /* next bucket to take from: 0, 1, 2 = done */
} batch;

/* A batch's pending take from a LIMIT bucket; outlives the batch if the
 * batch ends first (the take's completion frees it). */
typedef struct lticket {
    batch *b;               /* NULL once the batch ended without it */
} lticket;

struct provider {
    pspec s;
    uv_loop_t *loop;
    curl_uv *cu;
    char auth[600];         /* "Authorization: Bearer ..." or "" */
    item **htab;
    size_t hsize, hcount;   /* power of two; items queued or in flight */
    item *qhead, *qtail;
    size_t qlen;            /* queued inputs */
    uv_timer_t timer;       /* batching / rate-limit wake-up; timer.data = this */
    batch *batches;         /* in flight or waiting to retry */
    int inflight;
    int dim;                /* configured or learned; 0 = unknown */
    breaker br[2];
    double req_bucket, tok_bucket;
    uint64_t bucket_ms;
    uint64_t rng;
    uint64_t seed;          /* XXH3 seed of the item table: random (hash flooding) */
    provider_stats st;
};

static provider *provs[MAX_PROVIDERS];
static int nprovs;

/* ---- config parsing ---- */

static int parse_int_opt(const char *v, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) return -1;
    *out = x;
    return 0;
}

static void spec_defaults(pspec *s) {
    memset(s, 0, sizeof *s);
    s->max_batch = 64;
    s->max_wait_ms = 2;
    s->timeout_ms = 10000;
    s->connect_timeout_ms = 2000;
    s->max_attempts = 3;
    s->retry_base_ms = 100;
    s->concurrency = 8;
    s->queue_cap = 10000;
    s->max_response = 64ll << 20;
    s->breaker_failures = 5;
    s->breaker_cooldown_ms = 5000;
    s->base64 = 1;
    s->limit_wait_ms = 1000;
}

static int url_ok(const char *u) {
    return !strncasecmp(u, "http://", 7) || !strncasecmp(u, "https://", 8);
}

typedef struct intopt { const char *name; size_t off; long long lo, hi; int is_ll; } intopt;
#define IOPT(n, f, lo, hi) {n, offsetof(pspec, f), lo, hi, 0}
#define LOPT(n, f, lo, hi) {n, offsetof(pspec, f), lo, hi, 1}
static const intopt intopts[] = {
    IOPT("dimensions", dims, 1, 65536), IOPT("max-batch", max_batch, 1, 2048),
    IOPT("max-wait-ms", max_wait_ms, 0, 10000), IOPT("timeout-ms", timeout_ms, 1, 600000),
    IOPT("connect-timeout-ms", connect_timeout_ms, 1, 600000),
    IOPT("max-attempts", max_attempts, 1, 3), IOPT("retry-base-ms", retry_base_ms, 1, 60000),
    IOPT("concurrency", concurrency, 1, 1024), LOPT("rpm", rpm, 0, 1000000000),
    LOPT("tpm", tpm, 0, 1000000000000ll), LOPT("queue", queue_cap, 1, 100000000),
    IOPT("breaker-failures", breaker_failures, 1, 1000000),
    IOPT("breaker-cooldown-ms", breaker_cooldown_ms, 1, 3600000),
    IOPT("limit-wait-ms", limit_wait_ms, 0, 600000),
};

static int set_option(pspec *s, const char *k, const char *v, char *err, size_t errlen) {
    for (size_t i = 0; i < sizeof intopts / sizeof *intopts; i++) {
        const intopt *o = &intopts[i];
        if (strcasecmp(k, o->name)) continue;
        long long x;
        if (parse_int_opt(v, o->lo, o->hi, &x))
            return snprintf(err, errlen, "provider option '%s' must be an integer in [%lld, %lld]", k, o->lo, o->hi), -1;
        if (o->is_ll) *(long long *)((char *)s + o->off) = x;
        else *(int *)((char *)s + o->off) = (int)x;
        return 0;
    }
    if (!strcasecmp(k, "model")) snprintf(s->model, sizeof s->model, "%s", v);
    else if (!strcasecmp(k, "api-key-env")) snprintf(s->keyenv, sizeof s->keyenv, "%s", v);
    else if (!strcasecmp(k, "limit") || !strcasecmp(k, "limit-tokens")) {
        if (!v[0] || strlen(v) >= sizeof s->limit[0])
            return snprintf(err, errlen, "provider %s must name a bucket (1..63 bytes)", k), -1;
        snprintf(s->limit[!strcasecmp(k, "limit-tokens")], sizeof s->limit[0], "%s", v);
    }
    else if (!strcasecmp(k, "secondary-url")) {
        if (!url_ok(v) || strlen(v) >= sizeof s->url2)
            return snprintf(err, errlen, "provider secondary-url must be http:// or https://"), -1;
        snprintf(s->url2, sizeof s->url2, "%s", v);
    } else if (!strcasecmp(k, "max-response")) {
        int ok = 1;
        long long x = config_parse_memory(v, &ok);
        if (!ok || x < 1024) return snprintf(err, errlen, "provider max-response must be a size >= 1kb"), -1;
        s->max_response = x;
    } else if (!strcasecmp(k, "encoding")) {
        if (!strcasecmp(v, "base64")) s->base64 = 1;
        else if (!strcasecmp(v, "float")) s->base64 = 0;
        else return snprintf(err, errlen, "provider encoding must be base64 or float"), -1;
    } else {
        return snprintf(err, errlen, "unknown provider option '%s'", k), -1;
    }
    return 0;
}

int provider_config_line(int argc, char **argv, char *err, size_t errlen) {
    if (argc >= 2 && !strcasecmp(argv[1], "set")) {   /* provider <name> set <opt> <val>... */
        pspec *s = NULL;
        for (int i = 0; i < nspecs; i++)
            if (!strcmp(specs[i].name, argv[0])) s = &specs[i];
        if (s == NULL) return snprintf(err, errlen, "provider '%s' is not defined above", argv[0]), -1;
        if (argc < 4 || argc % 2) return snprintf(err, errlen, "usage: provider <name> set <option> <value>..."), -1;
        pspec tmp = *s;
        for (int i = 2; i < argc; i += 2)
            if (set_option(&tmp, argv[i], argv[i + 1], err, errlen)) return -1;
        if (tmp.kind == PJ_OLLAMA) tmp.base64 = 0;
        *s = tmp;
        return 0;
    }
    if (argc < 3 || (argc - 3) % 2)
        return snprintf(err, errlen, "usage: provider <name> <openai|ollama> <url> [option value]..."), -1;
    pspec s;
    spec_defaults(&s);
    if (strlen(argv[0]) >= sizeof s.name || !argv[0][0])
        return snprintf(err, errlen, "provider name too long"), -1;
    snprintf(s.name, sizeof s.name, "%s", argv[0]);
    if (!strcasecmp(argv[1], "openai")) s.kind = PJ_OPENAI;
    else if (!strcasecmp(argv[1], "ollama")) s.kind = PJ_OLLAMA;
    else return snprintf(err, errlen, "provider kind must be openai or ollama"), -1;
    if (!url_ok(argv[2]) || strlen(argv[2]) >= sizeof s.url)
        return snprintf(err, errlen, "provider url must be http:// or https://"), -1;
    snprintf(s.url, sizeof s.url, "%s", argv[2]);
    for (int i = 3; i < argc; i += 2)
        if (set_option(&s, argv[i], argv[i + 1], err, errlen)) return -1;
    if (s.kind == PJ_OLLAMA) s.base64 = 0;   /* Ollama has no base64 */
    for (int i = 0; i < nspecs; i++)
        if (!strcmp(specs[i].name, s.name)) return specs[i] = s, 0;
    if (nspecs == MAX_PROVIDERS) return snprintf(err, errlen, "too many providers (max %d)", MAX_PROVIDERS), -1;
    specs[nspecs++] = s;
    return 0;
}

/* ---- small helpers ---- */

static uint64_t rng_next(provider *p) {   /* xorshift64*: jitter only */
    p->rng ^= p->rng >> 12;
    p->rng ^= p->rng << 25;
    p->rng ^= p->rng >> 27;
    return p->rng * 2685821657736338717ull;
}

/* The full endpoint URL: a URL with no path gets the kind's default path. */
static void endpoint_url(const provider *p, int ep, char *out, size_t cap) {
    const char *u = ep ? p->s.url2 : p->s.url;
    const char *host = strstr(u, "://");
    host = host ? host + 3 : u;
    const char *path = strchr(host, '/');
    if (path && path[1]) snprintf(out, cap, "%s", u);
    else snprintf(out, cap, "%.*s%s", (int)(path ? path - u : (long)strlen(u)), u,
                  p->s.kind == PJ_OLLAMA ? "/api/embed" : "/v1/embeddings");
}

/* ---- requests and items ---- */

static void req_resolve(provider_req *r, size_t slot, int status, const float *vec, int dim,
                        const char *msg) {
    if (!r->done && !r->cancelled) {
        if (status == 0) {
            if (r->vecs == NULL) {
                r->dim = dim;
                r->vecs = malloc(r->n * (size_t)dim * sizeof(float));
                if (r->vecs == NULL) status = PROVIDER_ENOMEM, msg = "out of memory";
            }
            if (status == 0 && r->dim != dim) status = PROVIDER_EINVALID, msg = "dimension changed between batches";
            if (status == 0) memcpy(r->vecs + slot * (size_t)dim, vec, (size_t)dim * sizeof(float));
        }
        if (status != 0) {
            r->done = 1;
            r->cb(r->ud, status, NULL, r->n, 0, 0, msg);
        }
    }
    if (--r->remaining == 0) {
        if (!r->done && !r->cancelled) {
            r->done = 1;
            r->cb(r->ud, 0, r->vecs, r->n, r->dim, r->tokens, NULL);
        }
        free(r->vecs);
        free(r);
    }
}

static void htab_remove(provider *p, item *it) {
    item **pp = &p->htab[it->hash & (p->hsize - 1)];
    while (*pp != it) pp = &(*pp)->hnext;
    *pp = it->hnext;
    p->hcount--;
}

/* Resolves every waiter of it, removes it from the table and frees it. */
static void item_finish(provider *p, item *it, int status, const float *vec, int dim,
                        long long tokens, const char *msg) {
    htab_remove(p, it);
    if (status == 0 && it->owner) it->owner->tokens += tokens;
    waiter *w = it->waiters;
    while (w) {
        waiter *next = w->next;
        req_resolve(w->req, w->slot, status, vec, dim, msg);   /* may free w's req */
        w = next;
    }
    free(it->text);
    free(it);
}

static int htab_grow(provider *p) {
    size_t nsize = p->hsize ? p->hsize * 2 : 64;
    item **nt = calloc(nsize, sizeof *nt);
    if (nt == NULL) return -1;
    for (size_t i = 0; i < p->hsize; i++) {
        item *it = p->htab[i];
        while (it) {
            item *next = it->hnext;
            it->hnext = nt[it->hash & (nsize - 1)];
            nt[it->hash & (nsize - 1)] = it;
            it = next;
        }
    }
    free(p->htab);
    p->htab = nt;
    p->hsize = nsize;
    return 0;
}

static item *htab_find(provider *p, uint64_t h, const char *t, size_t len) {
    if (p->hsize == 0) return NULL;
    for (item *it = p->htab[h & (p->hsize - 1)]; it; it = it->hnext)
        if (it->hash == h && it->len == len && !memcmp(it->text, t, len)) return it;
    return NULL;
}

/* ---- breaker ---- */

static int breaker_allow(breaker *b, uint64_t now, int *probe) {
    *probe = 0;
    if (b->state == BR_CLOSED) return 1;
    if (b->state == BR_OPEN) {
        if (now < b->open_until) return 0;
        b->state = BR_HALF;
    }
    if (b->probe) return 0;
    b->probe = *probe = 1;
    return 1;
}

static void breaker_record(provider *p, breaker *b, int failed, int was_probe) {
    if (was_probe) b->probe = 0;
    if (!failed) {
        if (b->state != BR_CLOSED && was_probe) b->state = BR_CLOSED;
        if (b->state == BR_CLOSED) b->fails = 0;
        return;
    }
    b->fails++;
    if ((b->state == BR_HALF && was_probe) || (b->state == BR_CLOSED && b->fails >= p->s.breaker_failures)) {
        if (b->state == BR_CLOSED)
            log_msg(LL_WARNING, "provider '%s': circuit breaker open after %d consecutive failures",
                    p->s.name, b->fails);
        b->state = BR_OPEN;
        b->open_until = uv_now(p->loop) + (uint64_t)p->s.breaker_cooldown_ms;
        b->opens++;
    }
}

/* ---- rate limit ---- */

static void buckets_refill(provider *p) {
    uint64_t now = uv_now(p->loop);
    double dt = (double)(now - p->bucket_ms);
    p->bucket_ms = now;
    if (p->s.rpm > 0) {
        double cap = p->s.rpm / 60.0 < 1 ? 1 : p->s.rpm / 60.0;
        p->req_bucket += dt * (double)p->s.rpm / 60000.0;
        if (p->req_bucket > cap) p->req_bucket = cap;
    }
    if (p->s.tpm > 0) {
        double cap = p->s.tpm / 60.0 < 1 ? 1 : p->s.tpm / 60.0;
        p->tok_bucket += dt * (double)p->s.tpm / 60000.0;
        if (p->tok_bucket > cap) p->tok_bucket = cap;
    }
}

/* 0 if a batch of est tokens may leave now, else the ms to wait. */
static uint64_t buckets_wait_ms(provider *p, long long est) {
    buckets_refill(p);
    double wait = 0;
    if (p->s.rpm > 0 && p->req_bucket < 1) {
        double w = (1 - p->req_bucket) * 60000.0 / (double)p->s.rpm;
        if (w > wait) wait = w;
    }
    if (p->s.tpm > 0) {
        double cap = p->s.tpm / 60.0 < 1 ? 1 : p->s.tpm / 60.0;
        double need = (double)est < cap ? (double)est : cap;
        if (p->tok_bucket < need) {
            double w = (need - p->tok_bucket) * 60000.0 / (double)p->s.tpm;
            if (w > wait) wait = w;
        }
    }
    return wait > 0 ? (uint64_t)wait + 1 : 0;
}

static void buckets_take(provider *p, long long est) {
    if (p->s.rpm > 0) p->req_bucket -= 1;
    if (p->s.tpm > 0) p->tok_bucket -= (double)est;
}

static long long estimate_tokens(item *const *items, size_t n) {
    long long t = 0;
    for (size_t i = 0; i < n; i++) t += (long long)(items[i]->len / 4) + 1;
    return t;
}

/* ---- batches ---- */

static void pump(provider *p);
static void batch_attempt(batch *b);
static void provider_timer_cb(uv_timer_t *t);

static void batch_close_cb(uv_handle_t *h) {
    batch *b = h->data;
    sbuf_free(&b->body);
    sbuf_free(&b->resp);
    free(b->items);
    free(b);
}

static void batch_release_easy(batch *b) {
    if (b->easy) {
        curl_easy_cleanup(b->easy);
        b->easy = NULL;
    }
    curl_slist_free_all(b->hdrs);
    b->hdrs = NULL;
}

/* Ends the batch: every item resolved with status (vecs on success). */
static void batch_finish(batch *b, int status, const float *vecs, int dim, long long tokens,
                         const char *msg) {
    provider *p = b->p;
    batch_release_easy(b);
    if (b->prev) b->prev->next = b->next;
    else p->batches = b->next;
    if (b->next) b->next->prev = b->prev;
    p->inflight--;
    if (b->lt) {   /* waiting in a LIMIT queue: its completion finds no batch */
        b->lt->b = NULL;
        b->lt = NULL;
    }
    /* split billed tokens by byte length (integer shares summing to tokens) */
    size_t total_len = 0;
    for (size_t i = 0; i < b->n; i++) total_len += b->items[i]->len;
    long long given = 0;
    for (size_t i = 0; i < b->n; i++) {
        long long share = 0;
        if (status == 0 && total_len) {
            share = i + 1 == b->n ? tokens - given
                                  : (long long)((double)tokens * (double)b->items[i]->len / (double)total_len);
            given += share;
        }
        item_finish(p, b->items[i], status, vecs ? vecs + i * (size_t)dim : NULL, dim, share, msg);
    }
    b->n = 0;
    if (b->parsing) b->abandoned = 1;   /* parse_after_cb closes and frees */
    else uv_close((uv_handle_t *)&b->timer, batch_close_cb);
    /* next batches from the timer, not recursively: a breaker failing every
     * batch at once must not nest one stack frame per batch */
    if (p->qlen && p->s.concurrency) uv_timer_start(&p->timer, provider_timer_cb, 0, 0);
}

static void batch_fail(batch *b, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void batch_fail(batch *b, int status, const char *fmt, ...) {
    char msg[400], detail[240];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    snprintf(msg, sizeof msg, "provider '%s' %s", b->p->s.name, detail);
    for (char *c = msg; *c; c++)
        if (*c == '\r' || *c == '\n') *c = ' ';
    batch_finish(b, status, NULL, 0, 0, msg);
}

static void retry_timer_cb(uv_timer_t *t) { batch_attempt(t->data); }

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud) {
    batch *b = ud;
    size_t n = size * nmemb;
    if ((long long)(b->resp.len + n) > b->p->s.max_response) {
        b->too_large = 1;
        return 0;   /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    sbuf_append(&b->resp, ptr, n);
    return b->resp.oom ? 0 : n;
}

enum outcome { OUT_OK, OUT_RETRY, OUT_FATAL, OUT_NEUTRAL_FATAL };

/* Schedules the next attempt (same endpoint or failover) or fails. */
static void batch_retry_or_fail(batch *b, int status, long retry_after_s, const char *what) {
    provider *p = b->p;
    if (b->attempt < p->s.max_attempts) {
        uint64_t delay;
        if (retry_after_s > 0) {
            if (retry_after_s > RETRY_AFTER_CAP_S) retry_after_s = RETRY_AFTER_CAP_S;
            delay = (uint64_t)retry_after_s * 1000 + rng_next(p) % ((uint64_t)p->s.retry_base_ms + 1);
        } else {
            uint64_t cap = (uint64_t)p->s.retry_base_ms << (b->attempt < 16 ? b->attempt : 16);
            if (cap > BACKOFF_CAP_MS) cap = BACKOFF_CAP_MS;
            delay = rng_next(p) % (cap + 1);   /* full jitter */
        }
        p->st.retries++;
        uv_timer_start(&b->timer, retry_timer_cb, delay, 0);
        return;
    }
    if (b->endpoint == 0 && p->s.url2[0]) {
        p->st.failovers++;
        b->endpoint = 1;
        b->attempt = 0;
        uv_timer_start(&b->timer, retry_timer_cb, 0, 0);
        return;
    }
    batch_fail(b, status, "%s after %d attempts", what, b->attempt);
}

/* cJSON records the position of its last parse error in a process-global
 * (global_error, written by every cJSON_Parse*), so two parses at once race
 * on it even though nobody reads it. All provider parses hold this mutex;
 * the loop thread only try-locks it and hands the parse to the threadpool
 * when a worker holds it, so the loop never waits. */
static uv_mutex_t parse_mu;
static uv_once_t parse_mu_once = UV_ONCE_INIT;
static void parse_mu_init(void) { uv_mutex_init(&parse_mu); }

static void parse_locked(batch *b) {
    int dim = 0;
    b->prc = pj_parse_response(b->pkind, b->resp.buf ? b->resp.buf : "", b->resp.len, b->n, b->pdim,
                               &b->pvecs, &dim, &b->ptokens, b->perr, sizeof b->perr);
    b->pdim = dim;
}

static void parse_work_cb(uv_work_t *w) {   /* worker thread: pure parsing only */
    uv_mutex_lock(&parse_mu);
    parse_locked(w->data);
    uv_mutex_unlock(&parse_mu);
}

static void batch_parsed(batch *b);

static void parse_after_cb(uv_work_t *w, int status) {
    batch *b = w->data;
    b->parsing = 0;
    if (status != 0 && b->prc == 0 && b->pvecs == NULL) {   /* cancelled before it ran */
        b->prc = PJ_ENOMEM;
        snprintf(b->perr, sizeof b->perr, "parse cancelled");
    }
    if (b->abandoned) {   /* items already failed by provider_free_now */
        free(b->pvecs);
        uv_close((uv_handle_t *)&b->timer, batch_close_cb);
        return;
    }
    batch_parsed(b);
}

/* Parses the 200 response: inline when small, on the libuv threadpool when
 * big enough that parsing would stall the loop (decision 10). */
static void batch_deliver(batch *b) {
    provider *p = b->p;
    b->pkind = p->s.kind;
    b->pdim = p->dim;
    b->pvecs = NULL;
    b->ptokens = 0;
    b->perr[0] = '\0';
    uv_once(&parse_mu_once, parse_mu_init);
    int inline_ok = b->resp.len < PARSE_OFFLOAD_BYTES && uv_mutex_trylock(&parse_mu) == 0;
    if (!inline_ok) {
        b->work.data = b;
        b->prc = 0;
        if (uv_queue_work(p->loop, &b->work, parse_work_cb, parse_after_cb) == 0) {
            b->parsing = 1;
            return;
        }
    }
    if (!inline_ok) uv_mutex_lock(&parse_mu);   /* uv_queue_work failed: parse here */
    parse_locked(b);
    uv_mutex_unlock(&parse_mu);
    batch_parsed(b);
}

static void batch_parsed(batch *b) {
    provider *p = b->p;
    float *vecs = b->pvecs;
    int dim = b->pdim, rc = b->prc;
    long long tokens = b->ptokens;
    const char *err = b->perr;
    b->pvecs = NULL;
    if (dim && p->dim && dim != p->dim) {   /* learned dimension changed meanwhile */
        free(vecs);
        vecs = NULL;
        rc = PJ_EDIM;
        err = "dimension changed between responses";
    }
    if (rc != PJ_OK) {
        p->st.err_invalid++;
        breaker_record(p, &p->br[b->endpoint], 1, b->probe);
        batch_fail(b, PROVIDER_EINVALID, "sent an invalid response: %s", err);
        return;
    }
    breaker_record(p, &p->br[b->endpoint], 0, b->probe);
    if (p->dim == 0) p->dim = dim;
    p->st.calls_ok++;
    p->st.tokens += (uint64_t)tokens;
    if (p->s.tpm > 0) p->tok_bucket += (double)(b->est_tokens - tokens);   /* correct the estimate */
    batch_finish(b, 0, vecs, dim, tokens, NULL);
    free(vecs);
}

static void transfer_done(CURL *easy, CURLcode res, void *ud) {
    batch *b = ud;
    provider *p = b->p;
    long code = 0;
    curl_off_t ra = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &ra);
    p->st.latency_us_sum += (uv_hrtime() - b->t0) / 1000;
    p->st.latency_count++;
    batch_release_easy(b);
    breaker *br = &p->br[b->endpoint];
    char what[200];
    if (res != CURLE_OK) {
        if (b->too_large) {
            p->st.err_too_large++;
            breaker_record(p, br, 1, b->probe);
            batch_fail(b, PROVIDER_ETOOLARGE, "response over max-response (%lld bytes)", p->s.max_response);
            return;
        }
        int timeout = res == CURLE_OPERATION_TIMEDOUT;
        if (timeout) p->st.err_timeout++;
        else p->st.err_transport++;
        breaker_record(p, br, 1, b->probe);
        snprintf(what, sizeof what, "%s", timeout ? "timed out" : curl_easy_strerror(res));
        for (char *c = what; *c; c++) *c = (char)((*c >= 'A' && *c <= 'Z') ? *c + 32 : *c);
        batch_retry_or_fail(b, timeout ? PROVIDER_ETIMEOUT : PROVIDER_ETRANSPORT, 0,
                            timeout ? "timed out" : what);
        return;
    }
    if (code == 200) {
        batch_deliver(b);
        return;
    }
    char emsg[160];
    int quota = pj_parse_error(b->resp.buf ? b->resp.buf : "", b->resp.len, emsg, sizeof emsg);
    if (code == 429 && quota) {
        p->st.err_quota++;
        breaker_record(p, br, 0, b->probe);
        batch_fail(b, PROVIDER_EQUOTA, "quota exceeded: %s", emsg[0] ? emsg : "insufficient_quota");
        return;
    }
    if (code == 429 || code >= 500) {
        if (code == 429) p->st.err_http_429++;
        else p->st.err_http_5xx++;
        breaker_record(p, br, 1, b->probe);
        snprintf(what, sizeof what, "returned http %ld%s%s", code, emsg[0] ? ": " : "", emsg);
        batch_retry_or_fail(b, PROVIDER_EHTTP, code == 429 || code == 503 ? (long)ra : 0, what);
        return;
    }
    breaker_record(p, br, 0, b->probe);   /* the endpoint answered: not an outage */
    if (code >= 300 && code < 400) {
        p->st.err_redirect++;
        batch_fail(b, PROVIDER_EHTTP, "redirect not followed (http %ld)", code);
        return;
    }
    p->st.err_http_4xx++;
    batch_fail(b, PROVIDER_EHTTP, "returned http %ld%s%s", code, emsg[0] ? ": " : "", emsg);
}

static CURL *make_easy(batch *b) {
    provider *p = b->p;
    char url[600];
    endpoint_url(p, b->endpoint, url, sizeof url);
    CURL *e = curl_easy_init();
    if (e == NULL) return NULL;
    b->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    b->hdrs = curl_slist_append(b->hdrs, "Expect:");   /* no 100-continue round trip */
    if (p->auth[0]) b->hdrs = curl_slist_append(b->hdrs, p->auth);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, b->hdrs);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)b->body.len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, b->body.buf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)p->s.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)p->s.timeout_ms);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 64L);   /* bytes/s ... */
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 10L);    /* ... over 10 s */
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    /* PIPEWAIT only where h2 multiplexing can happen (https): on plain http
     * it made every transfer wait behind a first one that hung (measured:
     * test_other_requests_proceed_while_one_hangs) */
    if (!strncasecmp(url, "https://", 8)) curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "simcache/" SIMCACHE_VERSION);
    return e;
}

static void batch_attempt(batch *b) {
    provider *p = b->p;
    int probe;
    uint64_t now = uv_now(p->loop);
    if (!breaker_allow(&p->br[b->endpoint], now, &probe)) {
        if (b->endpoint == 0 && p->s.url2[0]) {
            p->st.failovers++;
            b->endpoint = 1;
            b->attempt = 0;
            batch_attempt(b);
            return;
        }
        p->st.err_breaker++;
        batch_fail(b, PROVIDER_EBREAKER, "circuit breaker open");
        return;
    }
    b->probe = probe;
    b->attempt++;
    if (b->attempt > 1 || b->endpoint) buckets_take(p, b->est_tokens);   /* first attempt paid in pump */
    sbuf_reset(&b->resp);
    b->too_large = 0;
    b->easy = make_easy(b);
    b->t0 = uv_hrtime();
    p->st.calls++;
    p->st.inputs_sent += b->n;
    if (b->easy == NULL || b->body.oom || curl_uv_add(p->cu, b->easy, transfer_done, b) != 0) {
        if (probe) p->br[b->endpoint].probe = 0;
        batch_fail(b, PROVIDER_ENOMEM, "could not start a transfer");
    }
}

/* ---- LIMIT buckets (decision 11) ---- */

static void limit_next(batch *b);

static const char *limit_err(int rc) {
    if (rc == RL_ENOENT) return "no such limit";
    if (rc == RL_ECOST) return "the batch's tokens exceed the bucket's burst";
    if (rc == RL_ENOMEM) return "out of memory";
    return rl_outcome_name((rl_outcome)rc);
}

static void limit_done_cb(void *ud, rl_outcome o) {
    lticket *t = ud;
    batch *b = t->b;
    free(t);
    if (b == NULL) return;
    b->lt = NULL;
    if (o == RL_GRANTED) {
        b->lstage++;
        limit_next(b);
        return;
    }
    b->p->st.err_limit++;
    batch_fail(b, PROVIDER_ELIMIT, "rate limit '%s': %s", b->p->s.limit[b->lstage], limit_err((int)o));
}

/* Takes the batch's tokens from the provider's LIMIT buckets, waiting in
 * their queues, then sends it. Touches nothing after a queued take: the
 * completion continues (it may already have run). */
static void limit_next(batch *b) {
    provider *p = b->p;
    for (; b->lstage < 2; b->lstage++) {
        const char *name = p->s.limit[b->lstage];
        if (!name[0]) continue;
        uint64_t cost = b->lstage == 0 ? 1 : (uint64_t)(b->est_tokens > 0 ? b->est_tokens : 1);
        lticket *t = malloc(sizeof *t);
        if (t == NULL) {
            batch_fail(b, PROVIDER_ENOMEM, "out of memory");
            return;
        }
        t->b = b;
        b->lt = t;
        int rc = limits_take_for(name, cost, (uint64_t)p->s.limit_wait_ms, limit_done_cb, t);
        if (rc == RL_QUEUED) return;
        b->lt = NULL;
        free(t);
        if (rc != RL_GRANTED) {
            p->st.err_limit++;
            batch_fail(b, PROVIDER_ELIMIT, "rate limit '%s': %s", name, limit_err(rc));
            return;
        }
    }
    batch_attempt(b);
}

/* Takes up to max-batch queued items (skipping those nobody waits for). */
static batch *batch_take(provider *p) {
    batch *b = calloc(1, sizeof *b);
    item **items = b ? malloc(sizeof(item *) * (size_t)p->s.max_batch) : NULL;
    if (items == NULL) {
        free(b);
        return NULL;
    }
    b->p = p;
    b->items = items;
    while (p->qhead && b->n < (size_t)p->s.max_batch) {
        item *it = p->qhead;
        p->qhead = it->qnext;
        if (p->qhead == NULL) p->qtail = NULL;
        p->qlen--;
        int live = 0;
        for (waiter *w = it->waiters; w; w = w->next) live |= !w->req->cancelled && !w->req->done;
        if (!live) {
            item_finish(p, it, PROVIDER_ESHUTDOWN, NULL, 0, 0, "cancelled");
            continue;
        }
        b->items[b->n++] = it;
    }
    return b;
}

static void provider_timer_cb(uv_timer_t *t) { pump(t->data); }

/* Sends batches while allowed; otherwise arms the timer for when the next
 * one may leave (max-wait, rate limit). */
static void pump(provider *p) {
    while (p->qlen > 0 && p->inflight < p->s.concurrency) {
        uint64_t now = uv_now(p->loop);
        uint64_t due = p->qhead->enq_ms + (uint64_t)p->s.max_wait_ms;
        if (p->qlen < (size_t)p->s.max_batch && now < due) {
            uv_timer_start(&p->timer, provider_timer_cb, due - now, 0);
            return;
        }
        size_t peek = p->qlen < (size_t)p->s.max_batch ? p->qlen : (size_t)p->s.max_batch;
        long long est = 0;
        item *it = p->qhead;
        for (size_t i = 0; i < peek && it; i++, it = it->qnext) est += (long long)(it->len / 4) + 1;
        uint64_t wait = buckets_wait_ms(p, est);
        if (wait) {
            uv_timer_start(&p->timer, provider_timer_cb, wait, 0);
            return;
        }
        batch *b = batch_take(p);
        if (b == NULL) {
            uv_timer_start(&p->timer, provider_timer_cb, 10, 0);   /* OOM: try again soon */
            return;
        }
        if (b->n == 0) {
            free(b->items);
            free(b);
            continue;
        }
        b->est_tokens = estimate_tokens(b->items, b->n);
        buckets_take(p, b->est_tokens);
        uv_timer_init(p->loop, &b->timer);
        b->timer.data = b;
        b->next = p->batches;
        if (p->batches) p->batches->prev = b;
        p->batches = b;
        p->inflight++;
        p->st.batch_sum += b->n;
        p->st.batch_count++;
        if (b->n > p->st.batch_max) p->st.batch_max = b->n;
        const char **texts = malloc(b->n * sizeof *texts);
        size_t *lens = malloc(b->n * sizeof *lens);
        if (texts && lens) {
            for (size_t i = 0; i < b->n; i++) texts[i] = b->items[i]->text, lens[i] = b->items[i]->len;
            pj_build_request(&b->body, p->s.kind, p->s.model, p->s.dims, p->s.base64, texts, lens, b->n);
        } else {
            b->body.oom = 1;
        }
        free(texts);
        free(lens);
        limit_next(b);
    }
}

/* ---- public API ---- */

int provider_embed(provider *p, const char *const *texts, const size_t *lens, size_t n,
                   provider_done_cb *cb, void *ud, provider_req **handle, char *err,
                   size_t errlen) {
    if (handle) *handle = NULL;
    if (n == 0) return snprintf(err, errlen, "no texts to embed"), PROVIDER_EARG;
    for (size_t i = 0; i < n; i++)
        if (lens[i] == 0) return snprintf(err, errlen, "cannot embed an empty text"), PROVIDER_EARG;
    if (p->qlen + n > (size_t)p->s.queue_cap) {
        p->st.err_queue_full++;
        snprintf(err, errlen, "provider '%s' queue full (%zu queued inputs)", p->s.name, p->qlen);
        return PROVIDER_EQUEUE;
    }
    if ((p->hcount + n) * 2 > p->hsize) {
        while ((p->hcount + n) * 2 > p->hsize)
            if (htab_grow(p)) return snprintf(err, errlen, "out of memory"), PROVIDER_ENOMEM;
    }
    /* allocate everything first, so a failure leaves no trace */
    provider_req *r = calloc(1, sizeof *r + n * sizeof(waiter));
    item **fresh = calloc(n, sizeof *fresh);
    int oom = r == NULL || fresh == NULL;
    uint64_t now = uv_now(p->loop);
    for (size_t i = 0; i < n && !oom; i++) {
        uint64_t h = XXH3_64bits_withSeed(texts[i], lens[i], p->seed);
        if (htab_find(p, h, texts[i], lens[i])) continue;
        item *it = fresh[i] = calloc(1, sizeof *it);
        if (it == NULL || (it->text = malloc(lens[i])) == NULL) {
            oom = 1;
            break;
        }
        memcpy(it->text, texts[i], lens[i]);
        it->hash = h;
        it->len = lens[i];
        it->owner = r;
        it->enq_ms = now;
    }
    if (oom) {
        for (size_t i = 0; fresh && i < n; i++)
            if (fresh[i]) free(fresh[i]->text), free(fresh[i]);
        free(fresh);
        free(r);
        return snprintf(err, errlen, "out of memory"), PROVIDER_ENOMEM;
    }
    r->p = p;
    r->cb = cb;
    r->ud = ud;
    r->n = n;
    r->remaining = n;
    p->st.requests++;
    p->st.inputs += n;
    for (size_t i = 0; i < n; i++) {
        item *it = htab_find(p, XXH3_64bits_withSeed(texts[i], lens[i], p->seed), texts[i], lens[i]);
        if (it == NULL) {   /* fresh[i] exists: the pass above saw no match */
            it = fresh[i];
            fresh[i] = NULL;
            it->hnext = p->htab[it->hash & (p->hsize - 1)];
            p->htab[it->hash & (p->hsize - 1)] = it;
            p->hcount++;
            if (p->qtail) p->qtail->qnext = it;
            else p->qhead = it;
            p->qtail = it;
            p->qlen++;
        } else {
            p->st.coalesced++;
        }
        r->w[i].req = r;
        r->w[i].slot = i;
        r->w[i].next = it->waiters;
        it->waiters = &r->w[i];
    }
    for (size_t i = 0; i < n; i++)   /* texts repeated within this call */
        if (fresh[i]) free(fresh[i]->text), free(fresh[i]);
    free(fresh);
    if (handle) *handle = r;
    /* never send from inside this call: the timer runs pump on the loop */
    if (p->qlen >= (size_t)p->s.max_batch || p->s.max_wait_ms == 0)
        uv_timer_start(&p->timer, provider_timer_cb, 0, 0);
    else if (!uv_is_active((uv_handle_t *)&p->timer))
        uv_timer_start(&p->timer, provider_timer_cb, (uint64_t)p->s.max_wait_ms, 0);
    return 0;
}

void provider_cancel(provider_req *r) {
    if (r) r->cancelled = 1;
}

size_t provider_queue_depth(const provider *p) { return p->qlen; }
const char *provider_name(const provider *p) { return p->s.name; }
const char *provider_model(const provider *p) { return p->s.model; }
int provider_dims(const provider *p) { return p->s.dims; }

provider *provider_find(const char *name) {
    for (int i = 0; i < nprovs; i++)
        if (!strcmp(provs[i]->s.name, name)) return provs[i];
    return NULL;
}

static void provider_close_cb(uv_handle_t *h) { free(h->data); }

static void provider_free_now(provider *p) {
    /* in-flight batches: abort their transfers, fail them */
    while (p->batches) {
        batch *b = p->batches;
        if (b->easy) curl_uv_remove(p->cu, b->easy);
        uv_timer_stop(&b->timer);
        p->s.concurrency = 0;   /* nothing new leaves */
        batch_fail(b, PROVIDER_ESHUTDOWN, "is shutting down");
    }
    while (p->qhead) {
        item *it = p->qhead;
        p->qhead = it->qnext;
        p->qlen--;
        item_finish(p, it, PROVIDER_ESHUTDOWN, NULL, 0, 0, "provider is shutting down");
    }
    p->qtail = NULL;
    free(p->htab);
    curl_uv_close(p->cu);
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, provider_close_cb);
}

static provider *provider_new(uv_loop_t *loop, const pspec *s, char *err, size_t errlen) {
    provider *p = calloc(1, sizeof *p);
    if (p == NULL) return snprintf(err, errlen, "out of memory"), NULL;
    p->s = *s;
    p->loop = loop;
    p->dim = s->dims;
    if (s->keyenv[0]) {
        const char *key = getenv(s->keyenv);
        if (key == NULL || !key[0]) {
            snprintf(err, errlen, "provider '%s': environment variable %s is not set", s->name, s->keyenv);
            free(p);
            return NULL;
        }
        snprintf(p->auth, sizeof p->auth, "Authorization: Bearer %s", key);
    }
    p->cu = curl_uv_new(loop, 0);
    if (p->cu == NULL) {
        free(p);
        return snprintf(err, errlen, "provider '%s': curl initialisation failed", s->name), NULL;
    }
    uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    p->bucket_ms = uv_now(loop);
    p->req_bucket = s->rpm / 60.0 < 1 ? 1 : s->rpm / 60.0;
    p->tok_bucket = s->tpm / 60.0 < 1 ? 1 : s->tpm / 60.0;
    p->rng = uv_hrtime() | 1;
    p->seed = rng_next(p) ^ (uint64_t)(uintptr_t)p;
    return p;
}

int provider_start_all(uv_loop_t *loop, char *err, size_t errlen) {
    if (nspecs == 0) return 0;
    if (curl_uv_global_init() != 0) return snprintf(err, errlen, "curl_global_init failed"), -1;
    static int info_registered;   /* INFO's table is process-wide and fixed */
    if (!info_registered && info_register_section("providers", provider_info, 1) == 0) info_registered = 1;
    for (int i = 0; i < nspecs; i++) {
        provider *p = provider_new(loop, &specs[i], err, errlen);
        if (p == NULL) {
            provider_stop_all();
            return -1;
        }
        provs[nprovs++] = p;
    }
    return 0;
}

void provider_stop_all(void) {
    for (int i = 0; i < nprovs; i++) provider_free_now(provs[i]);
    nprovs = 0;
    nspecs = 0;
}

int provider_count(void) { return nprovs; }

static provider_breaker breaker_public(int st) {
    return st == BR_CLOSED ? PROVIDER_BREAKER_CLOSED
           : st == BR_OPEN ? PROVIDER_BREAKER_OPEN
                           : PROVIDER_BREAKER_HALF_OPEN;
}

int provider_get_snapshot(int i, provider_snapshot *out) {
    if (i < 0 || i >= nprovs) return -1;
    const provider *p = provs[i];
    out->name = p->s.name;
    out->kind = p->s.kind == PJ_OLLAMA ? "ollama" : "openai";
    out->dim = p->dim;
    out->breaker[0] = breaker_public(p->br[0].state);
    out->breaker[1] = p->s.url2[0] ? breaker_public(p->br[1].state) : PROVIDER_BREAKER_NONE;
    out->breaker_opens = p->br[0].opens + p->br[1].opens;
    out->queue = p->qlen;
    out->inflight = p->inflight;
    out->st = p->st;
    return 0;
}

static const char *breaker_info_name(provider_breaker b) {
    return b == PROVIDER_BREAKER_NONE     ? "none"
           : b == PROVIDER_BREAKER_CLOSED ? "closed"
           : b == PROVIDER_BREAKER_OPEN   ? "open"
                                          : "half-open";
}

void provider_info(sbuf *o) {
    sbuf_puts(o, "# Providers\r\n");
    provider_snapshot ps;
    for (int i = 0; provider_get_snapshot(i, &ps) == 0; i++) {
        const provider_stats *s = &ps.st;
        sbuf_printf(o,
                    "provider_%s:kind=%s,dim=%d,breaker=%s,breaker_secondary=%s,breaker_opens=%llu,"
                    "queue=%zu,inflight=%d,requests=%llu,inputs=%llu,coalesced=%llu,calls=%llu,"
                    "calls_ok=%llu,inputs_sent=%llu,retries=%llu,failovers=%llu,tokens=%llu,"
                    "err_timeout=%llu,err_transport=%llu,err_http_429=%llu,err_http_5xx=%llu,"
                    "err_http_4xx=%llu,err_redirect=%llu,err_quota=%llu,err_invalid=%llu,"
                    "err_too_large=%llu,err_breaker=%llu,err_queue_full=%llu,latency_us_sum=%llu,"
                    "latency_count=%llu,batch_sum=%llu,batch_count=%llu,batch_max=%llu,err_limit=%llu\r\n",
                    ps.name, ps.kind, ps.dim, breaker_info_name(ps.breaker[0]),
                    breaker_info_name(ps.breaker[1]), (unsigned long long)ps.breaker_opens,
                    ps.queue, ps.inflight,
                    (unsigned long long)s->requests, (unsigned long long)s->inputs,
                    (unsigned long long)s->coalesced, (unsigned long long)s->calls,
                    (unsigned long long)s->calls_ok, (unsigned long long)s->inputs_sent,
                    (unsigned long long)s->retries, (unsigned long long)s->failovers,
                    (unsigned long long)s->tokens, (unsigned long long)s->err_timeout,
                    (unsigned long long)s->err_transport, (unsigned long long)s->err_http_429,
                    (unsigned long long)s->err_http_5xx, (unsigned long long)s->err_http_4xx,
                    (unsigned long long)s->err_redirect, (unsigned long long)s->err_quota,
                    (unsigned long long)s->err_invalid, (unsigned long long)s->err_too_large,
                    (unsigned long long)s->err_breaker, (unsigned long long)s->err_queue_full,
                    (unsigned long long)s->latency_us_sum, (unsigned long long)s->latency_count,
                    (unsigned long long)s->batch_sum, (unsigned long long)s->batch_count,
                    (unsigned long long)s->batch_max, (unsigned long long)s->err_limit);
    }
}
