/* provider.h -- embedding providers: named HTTP endpoints (OpenAI-compatible
 * or Ollama) called through libcurl on the libuv loop, with micro-batching,
 * coalescing of identical texts, timeouts, retries, a circuit breaker, an
 * outgoing rate limit with a bounded queue, and failover to a secondary
 * endpoint. See provider.c for the design.
 *
 * Lifecycle (loop thread only, like every function here):
 *   config file:   provider_config_line() per `provider ...` line (config.c)
 *   start-up:      provider_start_all(loop) after the config is loaded
 *   use:           provider_find(name), provider_embed(), provider_cancel()
 *   INFO:          provider_info(sbuf) ("# Providers" section), registered
 *                  with INFO (info.h) by provider_start_all
 *   statistics:    provider_count(), provider_get_snapshot() (metrics.c)
 *   shutdown:      provider_stop_all(), then run the loop until
 *                  uv_loop_close() == 0.
 *
 * Config syntax (one line per provider, redis.conf style):
 *   provider <name> <openai|ollama> <url> [option value]...
 * options: model M, dimensions N, api-key-env VAR, secondary-url U,
 *   max-batch N (64), max-wait-ms N (2), timeout-ms N (10000),
 *   connect-timeout-ms N (2000), max-attempts N (3, at most 3),
 *   retry-base-ms N (100), rpm N (0 = unlimited), tpm N (0 = unlimited),
 *   queue N (10000 queued inputs), concurrency N (8 requests in flight),
 *   breaker-failures N (5), breaker-cooldown-ms N (5000),
 *   max-response N (bytes, Redis units: 64mb), encoding base64|float
 *   (openai default base64; ollama is always float), limit B (a LIMIT.*
 *   bucket: each batch takes 1 token), limit-tokens B (a bucket each batch
 *   takes its estimated tokens from), limit-wait-ms N (1000: how long a
 *   batch may wait in those buckets' queues; then it fails with
 *   PROVIDER_ELIMIT).
 * A config line holds at most 32 words (config.c), so options may continue
 * on later lines: provider <name> set <option> <value>... */
#ifndef SIMCACHE_PROVIDER_H
#define SIMCACHE_PROVIDER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "sbuf.h"

typedef struct provider provider;
typedef struct provider_req provider_req;

/* Error codes passed to provider_done_cb (negative; 0 = success). */
enum {
    PROVIDER_OK = 0,
    PROVIDER_EQUEUE = -1,    /* queue full (immediate, from provider_embed) */
    PROVIDER_EBREAKER = -2,  /* circuit open on every endpoint */
    PROVIDER_ETIMEOUT = -3,  /* connect or total timeout, after retries */
    PROVIDER_ETRANSPORT = -4,/* connection refused/reset, ... after retries */
    PROVIDER_EHTTP = -5,     /* non-200 status (after retries for 429/5xx) */
    PROVIDER_EQUOTA = -6,    /* 429 insufficient_quota: not retried */
    PROVIDER_EINVALID = -7,  /* 200 with a response failing validation */
    PROVIDER_ETOOLARGE = -8, /* response over max-response */
    PROVIDER_ESHUTDOWN = -9, /* provider_stop_all while pending */
    PROVIDER_ENOMEM = -10,
    PROVIDER_EARG = -11,     /* empty text or no texts */
    PROVIDER_ELIMIT = -12,   /* a LIMIT bucket named by the provider denied the call */
};

/* Completion. On success status == 0, vecs holds n * dim floats in input
 * order (valid only during the call: copy what you keep) and tokens is this
 * request's share of the billed prompt tokens. On failure status < 0, vecs
 * is NULL and msg is a reply-ready message without the error code, starting
 * with "upstream"-style wording, e.g. "provider 'oa' timed out after 3
 * attempts" (the caller sends "-UPSTREAM <msg>"). Runs on the loop thread,
 * exactly once per successful provider_embed, never from inside it, and
 * never after provider_cancel. */
typedef void provider_done_cb(void *ud, int status, const float *vecs, size_t n, int dim,
                              long long tokens, const char *msg);

/* Parses the arguments of one `provider` config line (argv[0] = name) and
 * registers it (not started). Returns 0, or -1 with a one-line reason in
 * err. A second line with the same name replaces the first. Start-up. */
int provider_config_line(int argc, char **argv, char *err, size_t errlen);

/* Creates the configured providers on loop (reads api keys from the
 * environment) and registers the INFO section "providers" (default
 * section). Returns 0, or -1 with err set (nothing started). */
int provider_start_all(uv_loop_t *loop, char *err, size_t errlen);

/* Shutdown: aborts every transfer, runs the callback of every pending
 * request with PROVIDER_ESHUTDOWN inside this call, closes the handles and
 * forgets the configuration. The caller then runs the loop until it has no
 * handles left (the memory is freed in the close callbacks). */
void provider_stop_all(void);

/* The started provider called name, or NULL. */
provider *provider_find(const char *name);

/* Embeds n texts (bytes, lens[i] > 0; copied, the caller may free them on
 * return). Returns 0 and, if handle is non-NULL, a handle valid until the
 * callback runs or provider_cancel; cb runs exactly once later. Returns a
 * negative PROVIDER_E* code if the request is refused now (queue full,
 * bad arguments, out of memory): cb never runs, and err holds the message.
 * Identical texts pending in this provider (queued or in flight) are sent
 * once and shared. */
int provider_embed(provider *p, const char *const *texts, const size_t *lens, size_t n,
                   provider_done_cb *cb, void *ud, provider_req **handle, char *err,
                   size_t errlen);

/* Withdraws a pending request: its callback will not run. Inputs already
 * sent still complete (and are billed in the provider's stats); queued
 * inputs nobody else waits for are dropped. */
void provider_cancel(provider_req *r);

/* Appends "# Providers" and one line per provider to o (INFO): the fields
 * of provider_get_snapshot(), in that order. */
void provider_info(sbuf *o);

/* Counters of one provider since start-up (monotonic). */
typedef struct provider_stats {
    uint64_t requests, inputs, coalesced;       /* provider_embed calls / texts */
    uint64_t calls, calls_ok, inputs_sent, retries, failovers;  /* HTTP calls */
    uint64_t err_timeout, err_transport, err_http_429, err_http_5xx, err_http_4xx;
    uint64_t err_redirect, err_quota, err_invalid, err_too_large, err_breaker, err_queue_full;
    uint64_t latency_us_sum, latency_count;     /* per HTTP attempt, microseconds */
    uint64_t batch_sum, batch_count, batch_max; /* inputs per batch */
    uint64_t tokens;                            /* billed prompt tokens */
    uint64_t err_limit;                         /* LIMIT bucket denials */
} provider_stats;

/* State of one endpoint's circuit breaker; the values are the ones the
 * Prometheus gauge simcache_provider_breaker_state exports. */
typedef enum provider_breaker {
    PROVIDER_BREAKER_NONE = -1,     /* no such endpoint (no secondary-url) */
    PROVIDER_BREAKER_CLOSED = 0,
    PROVIDER_BREAKER_HALF_OPEN = 1,
    PROVIDER_BREAKER_OPEN = 2,
} provider_breaker;

/* A copy of one provider's state and counters at the time of the call. */
typedef struct provider_snapshot {
    const char *name;               /* the provider's own; valid while it runs */
    const char *kind;               /* "openai" or "ollama" (static) */
    int dim;                        /* configured or learned; 0 = not known yet */
    provider_breaker breaker[2];    /* [0] primary url, [1] secondary-url */
    uint64_t breaker_opens;         /* times either breaker opened */
    size_t queue;                   /* inputs waiting to be sent */
    int inflight;                   /* HTTP calls in flight */
    provider_stats st;
} provider_snapshot;

/* Number of started providers; they are numbered 0..count-1 in config
 * order. 0 before provider_start_all and after provider_stop_all. */
int provider_count(void);

/* Fills *out for provider number i. Returns 0, or -1 if i is out of range
 * (*out untouched). Loop thread only. */
int provider_get_snapshot(int i, provider_snapshot *out);

/* Queue depth (inputs waiting to be sent) of p. */
size_t provider_queue_depth(const provider *p);

/* p's configuration as given (loop thread; strings live as long as p):
 * its name, its `model` ("" if none was configured) and its `dimensions`
 * (0 if not configured: the vectors' length is whatever the model returns).
 * Used to bind a cache namespace to p (cache_embed.h). */
const char *provider_name(const provider *p);
const char *provider_model(const provider *p);
int provider_dims(const provider *p);

#endif
