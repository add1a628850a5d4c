/* load.h -- internals of `simcache-bench load`, shared by cmd_load.c
 * (options, set-up, INFO deltas, reports), load_run.c (connections, threads,
 * open/closed loop) and load_wl.c (workloads: keys, vectors, prompts).
 *
 * Threading: a run starts opt.threads worker threads, each with its own
 * libuv loop, connections, RNG, histograms and counters (lthread); nothing
 * is shared between workers except the read-only options and workload data
 * (lwl) and the interval aggregate (lshared, behind a mutex), which workers
 * fold their last ~100 ms into and the main thread reads once a second for
 * the progress line and the time series. Totals are merged after join.
 */
#ifndef SIMCACHE_SBENCH_LOAD_H
#define SIMCACHE_SBENCH_LOAD_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>

#include "hdr.h"

/* What a run sends. One test per run; `-t set,get` is two runs. */
typedef enum ltest { T_PING, T_SET, T_GET, T_VADD, T_VSIM, T_LLM, T_NTESTS } ltest;

/* Request kinds on the wire (a test's primary kind, plus follow-ups). */
typedef enum lkind { K_PRIMARY, K_PUT, K_HANDSHAKE } lkind;

/* Prompt kinds of the LLM workload. */
enum { P_REPEAT, P_REWORD, P_NEW, P_NKINDS };
/* CACHE.GET tiers. */
enum { TIER_MISS, TIER_EXACT, TIER_SEMANTIC, TIER_STALE, TIER_N };

typedef struct lopt {
    const char *host;
    int port;
    const char *user, *pass;   /* AUTH at connect when pass != NULL */
    int resp3;                 /* HELLO 3 at connect */
    int conns, pipeline, threads;
    double timeout;            /* s without a reply before a busy connection fails; 0 = never */
    uint64_t requests;         /* -n: primary requests per run (0 with -d) */
    double duration;           /* -d seconds (0 = use -n) */
    double rate;               /* --rate requests/s in total (0 = closed loop) */
    int poisson;               /* --arrival poisson */
    uint64_t keyspace;         /* -r: random keys key:%012d in [0, r); 0 = one key */
    int datasize;              /* -d/--datasize: SET value bytes */
    /* vector sets */
    const char *vkey;
    int dim, vcount, clusters;
    /* LLM cache */
    const char *data;          /* gptcache_mock_pairs.json */
    double share[P_NKINDS];    /* repeat, reword, new (normalised) */
    double zipf;               /* popularity exponent over the prompt pool */
    int pool;                  /* prompts used from the data (0 = all) */
    int tenants;               /* 0 = no TENANT argument */
    int namespaces;
    const char *ns_prefix;
    double threshold;          /* < 0: namespace default */
    const char *cost;          /* CACHE.PUT COST (USD text) */
    int answer_size;
    int keep;                  /* 1: do not drop/create the bench namespaces */
    /* output */
    const char *out;
    int csv, quiet, progress;
    uint64_t seed;
} lopt;

/* Read-only workload data shared by all threads of a run. */
typedef struct lwl {
    ltest test;
    const lopt *o;
    /* LLM */
    int ntopics;
    char **origin, **similar;  /* ntopics each */
    double *zipf_cdf;          /* ntopics, increasing to 1 */
    int *rank_topic;           /* popularity rank -> topic */
    char **vocab;              /* words for new prompts */
    int nvocab;
    /* vectors */
    float *centers;            /* clusters x dim, unit length */
    /* SET */
    char *value;               /* datasize bytes of 'x' */
} lwl;

/* One error kind: the reply's error code ("ERR", "NOPERM"...) or a
 * connection failure ("connect: connection refused"). */
typedef struct lerr {
    char what[48];
    char sample[128];          /* first message seen */
    uint64_t n;
} lerr;

enum { LERR_MAX = 16 };

typedef struct lstats {
    uint64_t done;             /* primary requests answered (any reply) */
    uint64_t ok;               /* ... with a non-error reply */
    uint64_t puts, puts_ok;    /* LLM follow-up CACHE.PUTs */
    uint64_t errors;           /* error replies + requests lost to closed connections */
    uint64_t lost;             /* in flight when their connection failed */
    uint64_t conn_failed;      /* connections that failed to connect/handshake */
    uint64_t backlog;          /* open loop: requests that waited for a free slot */
    uint64_t late;             /* open loop: sent > 2 ms after their scheduled time */
    uint64_t max_lag_ns;       /* open loop: worst send delay */
    uint64_t tier[P_NKINDS][TIER_N];  /* LLM: reply tier by prompt kind */
    uint64_t false_hits;       /* LLM: a hit serving another prompt's answer */
    uint64_t wrong_tenant;     /* LLM: a hit serving another tenant's (or namespace's) answer */
    uint64_t foreign;          /* LLM: a hit whose answer the bench did not write */
    lerr err[LERR_MAX];
    int nerr;
} lstats;

void lstats_error(lstats *s, const char *what, const char *msg, size_t msglen);
void lstats_merge(lstats *dst, const lstats *src);

/* Interval aggregate for progress and the time series. */
typedef struct lshared {
    pthread_mutex_t mu;
    sb_hdr *interval;          /* primary latencies since the last read */
    uint64_t errors;           /* errors since the last read */
    uint64_t done_total;       /* primary requests answered so far (all threads) */
    int finished;              /* worker threads whose loop has ended */
} lshared;

/* Result of one run. */
typedef struct lresult {
    lstats st;
    sb_hdr *lat;               /* primary request latency, ns */
    sb_hdr *lat_put;           /* LLM follow-up PUT latency, ns */
    double seconds;            /* first connect to last reply */
    /* time series, one point per second */
    size_t npts;
    double *ts_t;              /* seconds since start */
    uint64_t *ts_n, *ts_err, *ts_p50, *ts_p99, *ts_max;
} lresult;

/* Runs one test with the options, on the resolved address. Fills res
 * (caller frees with lresult_free). Returns 0, or -1 when out of memory or
 * a thread could not start (message on stderr). */
int load_run(const lopt *o, const lwl *wl, const struct sockaddr_storage *addr,
             lresult *res);
void lresult_free(lresult *r);
/* "SET", "GET", "LLM"... (cmd_load.c). */
const char *load_test_name(ltest t);

/* ---- workloads (load_wl.c) ---- */

/* Loads the prompt pool (LLM) or the cluster centres (vectors). Returns 0,
 * or -1 with a message on stderr. */
int lwl_init(lwl *wl, ltest test, const lopt *o);
void lwl_free(lwl *wl);

/* Per-request state the reply handler needs: filled by lwl_gen, read by
 * lwl_check_reply and lwl_gen_put. */
typedef struct lreq {
    uint64_t t0;               /* ns: send time (closed) or scheduled time (open) */
    uint8_t kind;              /* lkind */
    uint8_t pkind;             /* LLM prompt kind */
    uint16_t tenant, ns;
    uint32_t topic;
    uint64_t nonce;            /* LLM new prompt: regenerates its text */
} lreq;

/* A growable byte buffer for outgoing commands. */
typedef struct lbuf {
    char *p;
    size_t len, cap;
} lbuf;

int lbuf_cmd(lbuf *b, int argc, const char **argv, const size_t *lens);

/* Appends the next primary request of the run to out and fills rq.
 * rng: the thread's generator state; seq: a thread-unique sequence number.
 * Returns 0 or -1 (ENOMEM). */
int lwl_gen(const lwl *wl, uint64_t *rng, uint64_t seq, lbuf *out, lreq *rq);

struct sc_reply;
/* Classifies a primary reply into st (tiers, false hits). Returns 1 when
 * the LLM workload must follow up with a PUT (a miss), else 0. */
int lwl_check_reply(const lwl *wl, const lreq *rq, const struct sc_reply *r, lstats *st);
/* Appends the CACHE.PUT following a miss of rq. */
int lwl_gen_put(const lwl *wl, const lreq *rq, lbuf *out);

uint64_t lrng_next(uint64_t *s);
double lrng_unit(uint64_t *s);   /* [0, 1) */

#endif
