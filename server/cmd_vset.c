/* cmd_vset.c -- the vector-set commands: VADD, VSIM, VREM, VCARD, VDIM,
 * VEMB, VINFO, VISMEMBER, VGETATTR, VSETATTR, VRANDMEMBER, VLINKS, VRANGE, with
 * Redis 8's syntax, replies (RESP2 and RESP3) and error wordings
 * (/work/shared/reference/vector-sets.md is the compatibility spec).
 *
 * Design decisions:
 * 1. Searches run on the fixed worker pool (workers.h), never on the loop
 *    thread, unless the client asks NOTHREAD, the pool's queue is full
 *    (backpressure: the loop answers inline), or no pool exists (unit tests
 *    with a fake client). VSIM ELE reads the element's vector on the loop
 *    before handing off, so the worker touches nothing but the index.
 * 2. Parking: the handler submits the job, then client_block + client_ref
 *    and vset_ref. The client's later pipelined requests wait in its query
 *    buffer, so replies stay in request order. The completion runs on the
 *    loop: if the client closed meanwhile it replies nothing; otherwise it
 *    re-validates the results: the job recorded the set's del_epoch, and if
 *    any id was freed since (VREM, a vector replaced), an id in the results
 *    may now name another element, so the search is re-run inline on the
 *    loop (counted in INFO vset_searches_retried). Then it maps ids to names,
 *    replies, client_unblock, client_unref, vset_unref.
 * 3. A DEL/expiry/eviction/FLUSHALL of the key while the search runs drops
 *    only the keyspace's reference (vset.c note 4): the search finishes on
 *    the detached set, and the reply reflects the set as it was when VSIM
 *    was dispatched, which is also what Redis answers (its DEL waits for
 *    the search). The last reference frees the index, on the loop thread.
 * 4. Inserts and deletes run on the loop thread through hnsw_insert and
 *    hnsw_delete, which take the index's write side as hnsw.h's contract
 *    defines; they briefly wait for running searches (as Redis's VADD does).
 * 5. FILTER is compiled on the loop (a syntax error is answered before any
 *    hand-off) and evaluated by the worker (vset_search_filtered, vset.c
 *    note 6); its completion also re-runs the search if attributes changed
 *    meanwhile (attr_epoch). REDUCE projects VADD and VSIM vectors on the
 *    loop before the hand-off (one matrix-vector product).
 * 6. BIN sets use the index's HNSW_STORE_BIN (1 bit per dimension,
 *    Hamming distances, hnsw.c note 8): VSIM scores are 1 - hamming / dim,
 *    TRUTH is an exact Hamming scan, VEMB gives +1/-1 per component (no
 *    l2 scaling, as Redis) and VEMB RAW the packed words. Not yet: CAS is
 *    accepted and executed as a normal synchronous insert (its reply is
 *    then the normal 1/0).
 *
 * Threading: handlers and completions on the loop thread; vsim_work on a
 * pool thread, reading only the job and the index. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <cjson/cJSON.h>

#include "cmd_handlers.h"
#include "errors.h"
#include "kernels/kernels.h"
#include "keyspace.h"
#include "net.h"
#include "reply.h"
#include "strconv.h"
#include "vfilter.h"
#include "vset.h"
#include "workers.h"

#define ERR_VSPEC "ERR invalid vector specification"
#define ERR_ZERO "ERR invalid vector specification: zero vector (cosine is undefined)"
#define ERR_JSON "ERR invalid JSON attribute"
#define ERR_NOMEM "ERR out of memory"

static workers *pool;

void vset_set_pool(workers *w) { pool = w; }
workers *vset_pool(void) { return pool; }

static int arg_is(const req_arg *a, const char *s) { return strcasecmp(a->ptr, s) == 0; }

static uint64_t mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- shared argument helpers ---- */

/* The vector set stored at argv[1]: *out = NULL if the key is missing.
 * Replies WRONGTYPE and returns -1 for another type. */
static int lookup_vset_or_reply(client *c, unsigned flags, vset **out) {
    ks_entry *e = ks_lookup(c->argv[1].ptr, c->argv[1].len, flags);
    *out = NULL;
    if (!e) return 0;
    vset *v = ks_obj(e, &vset_type);
    if (!v) {
        reply_error_wrongtype(c);
        return -1;
    }
    *out = v;
    return 0;
}

typedef struct vec_arg {
    float *vec;        /* malloc'd, dim floats */
    uint32_t dim;
    float l2;          /* norm as given */
    int consumed;      /* arguments used, format token included */
} vec_arg;

/* Parses `FP32 blob` or `VALUES n v1..vn` at argv[i]. Rejects NaN/Inf,
 * values that overflow float, the zero vector and dim > 65536. Replies and
 * returns -1 on error. */
static int parse_vector_or_reply(client *c, int i, vec_arg *va) {
    memset(va, 0, sizeof *va);
    if (i >= c->argc) goto bad;
    if (arg_is(&c->argv[i], "FP32")) {
        if (i + 1 >= c->argc) goto bad;
        size_t n = c->argv[i + 1].len;
        if (n % 4 || n < 4 || n / 4 > VSET_MAX_DIM) goto bad;
        va->dim = (uint32_t)(n / 4);
        va->vec = malloc(n);
        if (!va->vec) goto oom;
        memcpy(va->vec, c->argv[i + 1].ptr, n);
        va->consumed = 2;
    } else if (arg_is(&c->argv[i], "VALUES")) {
        long long n;
        if (i + 1 >= c->argc || strconv_ll(c->argv[i + 1].ptr, c->argv[i + 1].len, &n) != 0 ||
            n < 1 || n > VSET_MAX_DIM || n > c->argc - i - 2)
            goto bad;
        va->dim = (uint32_t)n;
        va->vec = malloc((size_t)n * sizeof(float));
        if (!va->vec) goto oom;
        for (long long j = 0; j < n; j++) {
            double d;
            const req_arg *a = &c->argv[i + 2 + j];
            if (strconv_d(a->ptr, a->len, &d) != 0) goto bad;
            va->vec[j] = (float)d;
        }
        va->consumed = (int)(2 + n);
    } else {
        goto bad;
    }
    double ss = 0;
    for (uint32_t j = 0; j < va->dim; j++) {
        if (!isfinite(va->vec[j])) goto bad;
        ss += (double)va->vec[j] * va->vec[j];
    }
    va->l2 = (float)sqrt(ss);
    if (!isfinite(va->l2)) goto bad;
    if (ss == 0) {
        reply_error(c, ERR_ZERO);
        free(va->vec);
        va->vec = NULL;
        return -1;
    }
    return 0;
bad:
    free(va->vec);
    va->vec = NULL;
    reply_error(c, ERR_VSPEC);
    return -1;
oom:
    reply_error(c, ERR_NOMEM);
    return -1;
}

/* Attributes must be JSON (an empty string means "remove"). */
static int check_json_or_reply(client *c, const req_arg *a) {
    if (a->len == 0) return 0;
    cJSON *j = cJSON_ParseWithLength(a->ptr, a->len);
    if (!j) {
        reply_error(c, ERR_JSON);
        return -1;
    }
    cJSON_Delete(j);
    return 0;
}

static void reply_hnsw_error(client *c, int rc) {
    if (rc == HNSW_ENOMEM) reply_error(c, ERR_NOMEM);
    else if (rc == HNSW_EINVAL) reply_error(c, ERR_VSPEC);
    else reply_errorf(c, "ERR vector index error %d", rc);
}

/* ---- VADD ---- */

typedef struct vadd_opts {
    long long ef, M;
    vset_quant quant;
    const req_arg *attr;   /* SETATTR value or NULL */
} vadd_opts;

static int parse_vadd_opts_or_reply(client *c, int j, vadd_opts *o) {
    o->ef = VSET_DEFAULT_EF_BUILD;
    o->M = VSET_DEFAULT_M;
    o->quant = VSET_Q8;
    o->attr = NULL;
    for (; j < c->argc; j++) {
        const req_arg *a = &c->argv[j];
        if (arg_is(a, "CAS")) {
            /* accepted; executed as a synchronous insert (note 5) */
        } else if (arg_is(a, "EF") && j + 1 < c->argc) {
            if (strconv_ll(c->argv[j + 1].ptr, c->argv[j + 1].len, &o->ef) != 0 || o->ef <= 0 ||
                o->ef > 1000000) {
                reply_error(c, "ERR invalid EF");
                return -1;
            }
            j++;
        } else if (arg_is(a, "M") && j + 1 < c->argc) {
            if (strconv_ll(c->argv[j + 1].ptr, c->argv[j + 1].len, &o->M) != 0 || o->M < 4 ||
                o->M > 4096) {
                reply_error(c, "ERR invalid M");
                return -1;
            }
            j++;
        } else if (arg_is(a, "SETATTR") && j + 1 < c->argc) {
            o->attr = &c->argv[++j];
        } else if (arg_is(a, "NOQUANT")) {
            o->quant = VSET_NOQUANT;
        } else if (arg_is(a, "Q8")) {
            o->quant = VSET_Q8;
        } else if (arg_is(a, "BIN")) {
            o->quant = VSET_BIN;
        } else {
            reply_error(c, "ERR invalid option after element");
            return -1;
        }
    }
    if (o->attr && check_json_or_reply(c, o->attr) != 0) return -1;
    return 0;
}

/* Replaces va's vector by its projection through v (REDUCE). */
static int project_or_reply(client *c, const vset *v, vec_arg *va) {
    float *p = malloc((size_t)v->dim * sizeof(float));
    if (!p) {
        reply_error(c, ERR_NOMEM);
        return -1;
    }
    vset_project(v, va->vec, p);
    double ss = 0;
    for (uint32_t i = 0; i < v->dim; i++) ss += (double)p[i] * p[i];
    free(va->vec);
    va->vec = p;
    va->dim = v->dim;
    va->l2 = (float)sqrt(ss);
    if (ss == 0 || !isfinite(va->l2)) {
        reply_error(c, ERR_ZERO);
        return -1;
    }
    return 0;
}

/* The checks of an existing set against a VADD, in Redis 8's order. */
static int check_existing_or_reply(client *c, vset *v, const vadd_opts *o, uint32_t dim,
                                   long long reduce) {
    if (v->quant != o->quant) {
        reply_error(c, "ERR asked quantization mismatch with existing vector set");
        return -1;
    }
    if (v->M != (uint32_t)o->M) {
        reply_error(c, "ERR asked M value mismatch with existing vector set");
        return -1;
    }
    if ((!v->proj && v->dim != dim) || (v->proj && (long long)v->dim != reduce)) {
        reply_errorf(c, "ERR Vector dimension mismatch - got %u but set has %u", dim, v->dim);
        return -1;
    }
    if (reduce && !v->proj) {
        reply_error(c, "ERR cannot add projection to existing set without projection");
        return -1;
    }
    if (reduce && reduce != (long long)v->dim) {
        reply_error(c, "ERR projection dimension mismatch with existing set");
        return -1;
    }
    if (v->proj && dim != v->proj_in) {
        reply_errorf(c,
                     "ERR Input dimension mismatch for projection - got %u but projection "
                     "expects %u",
                     dim, v->proj_in);
        return -1;
    }
    return 0;
}

void cmd_vadd(client *c) {
    long long reduce = 0;
    int vi = 2;
    if (arg_is(&c->argv[2], "REDUCE")) {
        if (strconv_ll(c->argv[3].ptr, c->argv[3].len, &reduce) != 0 || reduce <= 0 ||
            reduce > VSET_MAX_DIM) {
            reply_error(c, ERR_VSPEC);
            return;
        }
        vi = 4;
    }
    vec_arg va;
    if (parse_vector_or_reply(c, vi, &va) != 0) return;
    int ei = vi + va.consumed;
    vadd_opts o;
    vset *v;
    if (reduce > (long long)va.dim) {
        reply_error(c, ERR_VSPEC);
        goto done;
    }
    if (ei >= c->argc) {
        reply_error_arity(c, "vadd");
        goto done;
    }
    if (parse_vadd_opts_or_reply(c, ei + 1, &o) != 0) goto done;
    if (lookup_vset_or_reply(c, KS_LOOKUP_WRITE, &v) != 0) goto done;
    const req_arg *ele = &c->argv[ei];
    int added, rc, created = 0;
    if (v) {
        if (check_existing_or_reply(c, v, &o, va.dim, reduce) != 0) goto done;
        if (v->proj && project_or_reply(c, v, &va) != 0) goto done;
    } else {
        rc = vset_create(reduce ? (uint32_t)reduce : va.dim, o.quant, (uint32_t)o.M, &v);
        if (rc == 0 && reduce) rc = vset_set_projection(v, va.dim);
        if (rc) {
            if (v) vset_unref(v);
            reply_hnsw_error(c, rc);
            goto done;
        }
        created = 1;
        if (reduce && project_or_reply(c, v, &va) != 0) {
            vset_unref(v);
            goto done;
        }
    }
    rc = vset_add(v, ele->ptr, ele->len, va.vec, va.l2, (uint32_t)o.ef, o.attr != NULL,
                  o.attr ? o.attr->ptr : NULL, o.attr ? o.attr->len : 0, &added);
    if (rc == 0 && created &&
        ks_set_object(c->argv[1].ptr, c->argv[1].len, &vset_type, v, 0) != 0)
        rc = HNSW_ENOMEM;
    if (rc && created) vset_unref(v);
    if (rc) reply_hnsw_error(c, rc);
    else reply_bool(c, added);
done:
    free(va.vec);
}

/* ---- VSIM ---- */

typedef struct vsim_job {
    worker_job wj;
    client *c;
    vset *v;
    uint64_t epoch;       /* v->del_epoch at submission */
    uint64_t aepoch;      /* v->attr_epoch at submission (filtered only) */
    uint64_t t0_us;       /* dispatch time (monotonic) */
    vfilter *filter;      /* owned, or NULL */
    uint32_t filter_ef;   /* candidates a filtered search may evaluate */
    uint32_t k, ef, dim;
    float eps;
    int withscores, withattribs, truth;
    int n;                /* results, or a negative HNSW error */
    float *q;             /* dim floats, owned */
    hnsw_result res[];    /* k entries */
} vsim_job;

static void vsim_search(vsim_job *j) {
    if (j->filter)
        j->n = vset_search_filtered(j->v, j->q, j->k, j->ef, j->filter, j->filter_ef, j->truth,
                                    j->res);
    else
        j->n = j->truth ? hnsw_search_exact(j->v->h, j->q, j->dim, j->k, j->res)
                        : hnsw_search(j->v->h, j->q, j->dim, j->k, j->ef, j->res);
}

static void vsim_reply(vsim_job *j) {
    client *c = j->c;
    const vset *v = j->v;
    if (j->n < 0) {
        reply_hnsw_error(c, j->n);
        return;
    }
    /* Results are sorted by distance: EPSILON cuts a prefix. Ids without an
     * element cannot occur once del_epoch matched; skipped defensively. */
    int n = 0;
    vset_elem **es = malloc((size_t)(j->n > 0 ? j->n : 1) * sizeof *es);
    if (!es) {
        reply_error(c, ERR_NOMEM);
        return;
    }
    for (int i = 0; i < j->n; i++) {
        if (j->res[i].dist / 2 > j->eps) break;
        vset_elem *e = vset_by_id(v, j->res[i].id);
        if (e) {
            es[n] = e;
            j->res[n++] = j->res[i];
        }
    }
    int resp3 = c->resp >= 3;
    int ws = j->withscores, wa = j->withattribs;
    if (resp3 && (ws || wa)) reply_map(c, n);
    else reply_array(c, (long)n * (1 + ws + wa));
    for (int i = 0; i < n; i++) {
        reply_bulk(c, es[i]->name, es[i]->nlen);
        if (resp3 && ws && wa) reply_array(c, 2);
        if (ws) reply_double(c, 1.0 - (double)j->res[i].dist / 2.0);
        if (wa) {
            if (es[i]->attr) reply_bulk(c, es[i]->attr, es[i]->alen);
            else reply_null(c);
        }
    }
    free(es);
}

static void vsim_job_free(vsim_job *j) {
    vfilter_free(j->filter);
    free(j->q);
    free(j);
}

static void vsim_work(worker_job *wj) { vsim_search((vsim_job *)wj); }

static void vsim_done(worker_job *wj) {
    vsim_job *j = (vsim_job *)wj;
    client *c = j->c;
    if (client_is_open(c)) {
        if (j->v->del_epoch != j->epoch || (j->filter && j->v->attr_epoch != j->aepoch)) {
            g_vset_stats.searches_retried++;
            vsim_search(j);
        }
        vsim_reply(j);
        g_vset_stats.searches_threaded++;
        g_vset_stats.search_usec += mono_us() - j->t0_us;
    }
    client_unblock(c);
    client_unref(c);
    vset_unref(j->v);
    vsim_job_free(j);
}

typedef struct vsim_opts {
    long long count, ef, filter_ef;
    double eps;
    int withscores, withattribs, truth, nothread;
    vfilter *filter;          /* owned until moved into the job */
} vsim_opts;

/* FILTER expr: compiled here, once per query. The error echoes the
 * expression from the offending token (Redis: from the start when the
 * expression ended early), cut to 128 bytes. */
static int compile_filter_or_reply(client *c, const req_arg *a, vsim_opts *o) {
    size_t pos;
    vfilter_free(o->filter);
    o->filter = NULL;
    int rc = vfilter_compile(a->ptr, a->len, &o->filter, &pos);
    if (rc == VFILTER_ENOMEM) {
        reply_error(c, ERR_NOMEM);
        return -1;
    }
    if (rc) {
        if (pos >= a->len) pos = 0;
        size_t n = a->len - pos;
        reply_errorf(c, "ERR syntax error in FILTER expression near: %.*s",
                     (int)(n > 128 ? 128 : n), a->ptr + pos);
        return -1;
    }
    return 0;
}

static int parse_vsim_opts_or_reply(client *c, int j, vsim_opts *o) {
    memset(o, 0, sizeof *o);
    o->count = 10;
    o->eps = 2.0;
    for (; j < c->argc; j++) {
        const req_arg *a = &c->argv[j];
        int has = j + 1 < c->argc;
        const req_arg *n = has ? &c->argv[j + 1] : NULL;
        if (arg_is(a, "WITHSCORES")) {
            o->withscores = 1;
        } else if (arg_is(a, "WITHATTRIBS")) {
            o->withattribs = 1;
        } else if (arg_is(a, "TRUTH")) {
            o->truth = 1;
        } else if (arg_is(a, "NOTHREAD")) {
            o->nothread = 1;
        } else if (arg_is(a, "COUNT") && has) {
            if (strconv_ll(n->ptr, n->len, &o->count) != 0 || o->count <= 0) {
                reply_error(c, "ERR invalid COUNT");
                return -1;
            }
            j++;
        } else if (arg_is(a, "EPSILON") && has) {
            if (strconv_d(n->ptr, n->len, &o->eps) != 0 || !(o->eps > 0)) {
                reply_error(c, "ERR invalid EPSILON");
                return -1;
            }
            j++;
        } else if (arg_is(a, "EF") && has) {
            if (strconv_ll(n->ptr, n->len, &o->ef) != 0 || o->ef <= 0 || o->ef > 1000000) {
                reply_error(c, "ERR invalid EF");
                return -1;
            }
            j++;
        } else if (arg_is(a, "FILTER-EF") && has) {
            if (strconv_ll(n->ptr, n->len, &o->filter_ef) != 0 || o->filter_ef <= 0) {
                reply_error(c, "ERR invalid FILTER-EF");
                return -1;
            }
            j++;
        } else if (arg_is(a, "FILTER") && has) {
            if (compile_filter_or_reply(c, n, o) != 0) return -1;
            j++;
        } else {
            reply_error(c, "ERR syntax error in VSIM command");
            return -1;
        }
    }
    return 0;
}

void cmd_vsim(client *c) {
    vset *v;
    if (lookup_vset_or_reply(c, 0, &v) != 0) return;
    if (!v) {
        reply_array(c, 0);
        return;
    }
    vec_arg va = {0};
    if (arg_is(&c->argv[2], "ELE")) {
        vset_elem *e = vset_find(v, c->argv[3].ptr, c->argv[3].len);
        if (!e) {
            reply_error(c, "ERR element not found in set");
            return;
        }
        va.vec = malloc((size_t)v->dim * sizeof(float));
        if (!va.vec) {
            reply_error(c, ERR_NOMEM);
            return;
        }
        hnsw_get_vector(v->h, e->id, va.vec);   /* normalised: fine as a query */
        va.dim = v->dim;
        va.consumed = 2;
    } else if (parse_vector_or_reply(c, 2, &va) != 0) {
        return;
    }
    vsim_opts o = {0};
    vsim_job *j = NULL;
    if (v->proj && va.dim != v->dim) {
        if (va.dim != v->proj_in) {
            reply_errorf(c,
                         "ERR Input dimension mismatch for projection - got %u but projection "
                         "expects %u",
                         va.dim, v->proj_in);
            goto fail;
        }
        float *p = malloc((size_t)v->dim * sizeof(float));
        if (!p) {
            reply_error(c, ERR_NOMEM);
            goto fail;
        }
        vset_project(v, va.vec, p);
        free(va.vec);
        va.vec = p;
        va.dim = v->dim;
    }
    if (va.dim != v->dim) {
        reply_errorf(c, "ERR Vector dimension mismatch - got %u but set has %u", va.dim, v->dim);
        goto fail;
    }
    if (parse_vsim_opts_or_reply(c, 2 + va.consumed, &o) != 0) goto fail;
    size_t live = v->count;
    uint32_t k = (uint32_t)((size_t)o.count < live ? (size_t)o.count : live);
    j = malloc(sizeof *j + (size_t)(k ? k : 1) * sizeof(hnsw_result));
    if (!j) {
        reply_error(c, ERR_NOMEM);
        goto fail;
    }
    memset(j, 0, sizeof *j);
    j->c = c;
    j->v = v;
    j->q = va.vec;
    j->dim = va.dim;
    j->k = k;
    j->ef = (uint32_t)(o.ef ? o.ef : VSET_DEFAULT_EF_SEARCH);
    j->eps = (float)o.eps;
    j->withscores = o.withscores;
    j->withattribs = o.withattribs;
    j->truth = o.truth;
    j->filter = o.filter;
    o.filter = NULL;
    if (o.filter_ef == 0)   /* Redis: COUNT * 100 candidates */
        o.filter_ef = o.count > (long long)UINT32_MAX / 100 ? UINT32_MAX : o.count * 100;
    j->filter_ef = o.filter_ef > (long long)UINT32_MAX ? UINT32_MAX : (uint32_t)o.filter_ef;
    j->epoch = v->del_epoch;
    j->aepoch = v->attr_epoch;
    j->t0_us = mono_us();
    j->wj.work = vsim_work;
    j->wj.done = vsim_done;
    if (!o.nothread && pool && k > 0 && workers_submit(pool, &j->wj) == 0) {
        client_block(c);
        client_ref(c);
        vset_ref(v);
        return;
    }
    vsim_search(j);
    vsim_reply(j);
    g_vset_stats.searches_inline++;
    vsim_job_free(j);
    return;
fail:
    vfilter_free(o.filter);
    free(va.vec);
}

/* ---- small commands ---- */

void cmd_vrem(client *c) {
    vset *v;
    if (lookup_vset_or_reply(c, KS_LOOKUP_WRITE, &v) != 0) return;
    if (!v || !vset_remove(v, c->argv[2].ptr, c->argv[2].len)) {
        reply_bool(c, 0);
        return;
    }
    if (v->count == 0) ks_delete(c->argv[1].ptr, c->argv[1].len);
    reply_bool(c, 1);
}

void cmd_vcard(client *c) {
    vset *v;
    if (lookup_vset_or_reply(c, 0, &v) != 0) return;
    reply_integer(c, v ? (long long)v->count : 0);
}

void cmd_vdim(client *c) {
    vset *v;
    if (lookup_vset_or_reply(c, 0, &v) != 0) return;
    if (!v) reply_error(c, "ERR key does not exist");
    else reply_integer(c, v->dim);
}

void cmd_vismember(client *c) {
    vset *v;
    if (lookup_vset_or_reply(c, 0, &v) != 0) return;
    reply_bool(c, v && vset_find(v, c->argv[2].ptr, c->argv[2].len) != NULL);
}

void cmd_vgetattr(client *c) {
    vset *v;
    if (lookup_vset_or_reply(c, 0, &v) != 0) return;
    vset_elem *e = v ? vset_find(v, c->argv[2].ptr, c->argv[2].len) : NULL;
    if (!e || !e->attr) reply_null(c);
    else reply_bulk(c, e->attr, e->alen);
}

void cmd_vsetattr(client *c) {
    vset *v;
    if (lookup_vset_or_reply(c, KS_LOOKUP_WRITE, &v) != 0) return;
    vset_elem *e = v ? vset_find(v, c->argv[2].ptr, c->argv[2].len) : NULL;
    if (!e) {
        reply_bool(c, 0);
        return;
    }
    if (check_json_or_reply(c, &c->argv[3]) != 0) return;
    if (vset_set_attr(v, e, c->argv[3].ptr, c->argv[3].len) != 0) reply_error(c, ERR_NOMEM);
    else reply_bool(c, 1);
}

static const char *quant_name(const vset *v) {
    return v->quant == VSET_Q8 ? "int8" : v->quant == VSET_BIN ? "bin" : "f32";
}

void cmd_vemb(client *c) {
    int raw = 0;
    for (int j = 3; j < c->argc; j++) {
        if (!arg_is(&c->argv[j], "RAW")) {
            reply_error(c, "ERR invalid option");
            return;
        }
        raw = 1;
    }
    vset *v;
    if (lookup_vset_or_reply(c, 0, &v) != 0) return;
    vset_elem *e = v ? vset_find(v, c->argv[2].ptr, c->argv[2].len) : NULL;
    if (!e) {
        reply_null(c);
        return;
    }
    float *vec = malloc((size_t)v->dim * sizeof(float));
    if (!vec) {
        reply_error(c, ERR_NOMEM);
        return;
    }
    if (!raw) {
        vset_get_vector(v, e, vec);
        reply_array(c, v->dim);
        for (uint32_t i = 0; i < v->dim; i++) reply_double(c, vec[i]);
        free(vec);
        return;
    }
    /* RAW: the normalised vector as stored. For int8 sets the bytes are
     * re-derived from the float32 re-rank copy with the same symmetric
     * max-abs scaling (q = round(x * 127 / range)). */
    hnsw_get_vector(v->h, e->id, vec);
    reply_array(c, v->quant == VSET_Q8 ? 4 : 3);
    reply_simple(c, quant_name(v));
    if (v->quant == VSET_Q8) {
        float range = 0;
        for (uint32_t i = 0; i < v->dim; i++)
            if (fabsf(vec[i]) > range) range = fabsf(vec[i]);
        int8_t *q = (int8_t *)vec;    /* in place: q[i] is written after vec[i] is read */
        for (uint32_t i = 0; i < v->dim; i++) q[i] = (int8_t)lrintf(vec[i] * 127.0f / range);
        reply_bulk(c, q, v->dim);
        reply_double(c, e->l2);
        reply_double(c, range);
    } else if (v->quant == VSET_BIN) {
        /* the stored words: bit i%64 of word i/64 is 1 when component i
         * was positive (little-endian, ceil(dim / 64) words, as Redis) */
        size_t nw = ((size_t)v->dim + 63) / 64;
        uint64_t *w = calloc(nw, sizeof(uint64_t));
        if (!w) {
            free(vec);
            reply_error(c, ERR_NOMEM);
            return;
        }
        for (uint32_t i = 0; i < v->dim; i++)
            if (vec[i] > 0) w[i / 64] |= (uint64_t)1 << (i % 64);
        reply_bulk(c, w, nw * sizeof(uint64_t));
        reply_double(c, e->l2);
        free(w);
    } else {
        reply_bulk(c, vec, (size_t)v->dim * sizeof(float));
        reply_double(c, e->l2);
    }
    free(vec);
}

void cmd_vinfo(client *c) {
    vset *v;
    if (lookup_vset_or_reply(c, 0, &v) != 0) return;
    if (!v) {
        reply_null_array(c);
        return;
    }
    reply_map(c, 9);
    reply_simple(c, "quant-type");
    reply_simple(c, quant_name(v));
    reply_simple(c, "hnsw-m");
    reply_integer(c, v->M);
    reply_simple(c, "vector-dim");
    reply_integer(c, v->dim);
    reply_simple(c, "projection-input-dim");
    reply_integer(c, v->proj_in);
    reply_simple(c, "size");
    reply_integer(c, (long long)v->count);
    reply_simple(c, "max-level");
    reply_integer(c, hnsw_max_level(v->h));
    reply_simple(c, "attributes-count");
    reply_integer(c, (long long)v->nattrs);
    reply_simple(c, "vset-uid");
    reply_integer(c, (long long)v->uid);
    reply_simple(c, "hnsw-max-node-uid");
    reply_integer(c, (long long)v->inserts);
}

/* VRANDMEMBER: SRANDMEMBER semantics (vector-sets.md). Distinct picks use
 * a bitmap over ids; above half the set they walk ids from a random start
 * instead of drawing (as Redis walks its node list), so a large count
 * never spins on rejections. */
void cmd_vrandmember(client *c) {
    if (c->argc > 3) {
        reply_error_arity(c, "vrandmember");
        return;
    }
    long long count = 1;
    int with_count = c->argc == 3;
    if (with_count) {
        if (strconv_ll(c->argv[2].ptr, c->argv[2].len, &count) != 0) {
            reply_error(c, "ERR COUNT value is not an integer");
            return;
        }
        if (count < -(LLONG_MAX / 2)) {
            reply_error(c, "ERR value is out of range");
            return;
        }
        if (count == 0) {
            reply_array(c, 0);
            return;
        }
    }
    vset *v;
    if (lookup_vset_or_reply(c, 0, &v) != 0) return;
    if (!v || v->count == 0) {
        if (with_count) reply_array(c, 0);
        else reply_null(c);
        return;
    }
    if (!with_count) {
        vset_elem *e = vset_random(v);
        reply_bulk(c, e->name, e->nlen);
        return;
    }
    if (count < 0) {
        reply_array(c, (long)-count);
        for (long long i = 0; i < -count; i++) {
            /* A huge negative count can outgrow the output limit, which
             * closes the client: stop producing a reply nobody reads. */
            if ((i & 1023) == 1023 && !client_is_open(c)) return;
            vset_elem *e = vset_random(v);
            reply_bulk(c, e->name, e->nlen);
        }
        return;
    }
    size_t want = (size_t)count < v->count ? (size_t)count : v->count;
    reply_array(c, (long)want);
    if (want * 2 > v->count) {
        uint32_t start = vset_random(v)->id;
        size_t got = 0;
        for (uint32_t i = 0; got < want && i < v->cap_id; i++) {
            vset_elem *e = v->by_id[(start + i) % v->cap_id];
            if (e) {
                reply_bulk(c, e->name, e->nlen);
                got++;
            }
        }
        return;
    }
    uint64_t *seen = calloc((v->cap_id + 63) / 64, sizeof(uint64_t));
    size_t got = 0;
    while (got < want) {
        vset_elem *e = vset_random(v);
        if (seen) {
            if (seen[e->id / 64] & (1ULL << (e->id % 64))) continue;
            seen[e->id / 64] |= 1ULL << (e->id % 64);
        }
        reply_bulk(c, e->name, e->nlen);
        got++;
    }
    free(seen);
}

void cmd_vlinks(client *c) {
    int ws = 0;
    if (c->argc > 4 || (c->argc == 4 && !arg_is(&c->argv[3], "WITHSCORES"))) {
        reply_error_arity(c, "vlinks");
        return;
    }
    ws = c->argc == 4;
    vset *v;
    if (lookup_vset_or_reply(c, 0, &v) != 0) return;
    vset_elem *e = v ? vset_find(v, c->argv[2].ptr, c->argv[2].len) : NULL;
    int top = e ? hnsw_node_level(v->h, e->id) : -1;
    if (top < 0) {
        reply_null(c);
        return;
    }
    uint32_t max = hnsw_max_links(v->h);
    uint32_t *ids = malloc((size_t)max * sizeof(uint32_t));
    float *a = ws ? malloc((size_t)v->dim * sizeof(float) * 2) : NULL;
    if (!ids || (ws && !a)) {
        free(ids);
        free(a);
        reply_error(c, ERR_NOMEM);
        return;
    }
    if (ws) hnsw_get_vector(v->h, e->id, a);
    const kernels *k = kernels_get();
    reply_array(c, top + 1);
    for (int l = top; l >= 0; l--) {
        int n = hnsw_get_links(v->h, e->id, l, ids, max);
        if (n < 0) n = 0;
        int m = 0;
        for (int i = 0; i < n; i++)       /* keep only ids with an element */
            if (vset_by_id(v, ids[i])) ids[m++] = ids[i];
        if (ws) reply_map(c, m);
        else reply_array(c, m);
        for (int i = 0; i < m; i++) {
            vset_elem *x = vset_by_id(v, ids[i]);
            reply_bulk(c, x->name, x->nlen);
            if (ws) {
                float *b = a + v->dim;
                hnsw_get_vector(v->h, ids[i], b);
                double dist = 1.0 - k->dot_f32(a, b, v->dim);
                reply_double(c, 1.0 - dist / 2.0);
            }
        }
    }
    free(ids);
    free(a);
}

/* VRANGE key start end [count]: start is `-`, `[name` or `(name`; end is
 * `+`, `[name` or `(name` (as ZRANGEBYLEX, `+` as start or `-` as end
 * select nothing). count < 0 or absent: every element in range. */
static int parse_lex_bound(const req_arg *a, int is_start, const char **p, size_t *n,
                           int *incl, int *empty) {
    *p = NULL;
    *n = 0;
    *incl = 0;
    if (a->len == 1 && (a->ptr[0] == '-' || a->ptr[0] == '+')) {
        /* the open end on its own side; the other side selects nothing */
        if ((a->ptr[0] == '-') != is_start) *empty = 1;
        return 0;
    }
    if (a->len < 1 || (a->ptr[0] != '[' && a->ptr[0] != '(')) return -1;
    *incl = a->ptr[0] == '[';
    *p = a->ptr + 1;
    *n = a->len - 1;
    return 0;
}

void cmd_vrange(client *c) {
    if (c->argc > 5) {
        reply_error_arity(c, "vrange");
        return;
    }
    const char *lo, *hi;
    size_t lolen, hilen;
    int loincl, hiincl, empty = 0;
    long long count = -1;
    if (parse_lex_bound(&c->argv[2], 1, &lo, &lolen, &loincl, &empty) != 0 ||
        parse_lex_bound(&c->argv[3], 0, &hi, &hilen, &hiincl, &empty) != 0) {
        reply_error(c, "ERR min or max not valid string range item");
        return;
    }
    if (c->argc == 5 && strconv_ll(c->argv[4].ptr, c->argv[4].len, &count) != 0) {
        reply_error_not_integer(c);
        return;
    }
    vset *v;
    if (lookup_vset_or_reply(c, 0, &v) != 0) return;
    if (!v || empty || count == 0) {
        reply_array(c, 0);
        return;
    }
    vset_elem **es;
    long n = vset_range(v, lo, lolen, loincl, hi, hilen, hiincl, count, &es);
    if (n < 0) {
        reply_error(c, ERR_NOMEM);
        return;
    }
    reply_array(c, n);
    for (long i = 0; i < n; i++) reply_bulk(c, es[i]->name, es[i]->nlen);
    free(es);
}

/* ---- INFO ---- */

void vset_info(sbuf *o) {
    sbuf_printf(o,
                "# Vectorsets\r\n"
                "kernel_tier:%s\r\n"
                "kernel_variant:%s\r\n"
                "vset_threads:%u\r\n"
                "vset_queue_depth:%zu\r\n"
                "vset_busy_threads:%u\r\n"
                "vset_jobs_completed:%llu\r\n"
                "vset_keys:%llu\r\n"
                "vset_detached:%llu\r\n"
                "vset_searches_threaded:%llu\r\n"
                "vset_searches_inline:%llu\r\n"
                "vset_searches_retried:%llu\r\n"
                "vset_search_usec_per_call:%.2f\r\n",
                kernels_get()->name, kernels_variant(kernels_get()), workers_threads(pool), workers_queue_depth(pool),
                workers_busy(pool), (unsigned long long)workers_completed(pool),
                (unsigned long long)(g_vset_stats.sets - g_vset_stats.detached),
                (unsigned long long)g_vset_stats.detached,
                (unsigned long long)g_vset_stats.searches_threaded,
                (unsigned long long)g_vset_stats.searches_inline,
                (unsigned long long)g_vset_stats.searches_retried,
                g_vset_stats.searches_threaded
                    ? (double)g_vset_stats.search_usec / (double)g_vset_stats.searches_threaded
                    : 0.0);
}
