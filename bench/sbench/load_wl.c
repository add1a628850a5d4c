/* load_wl.c -- the workloads of `simcache-bench load` (load.h): what each
 * request is, and what a correct reply is.
 *
 * 1. get/set/ping follow redis-benchmark: keys `key:__rand_int__`, or
 *    `key:%012d` drawn uniformly from [0, r) with -r; SET values of -d
 *    bytes. So the two generators send the same bytes and their numbers
 *    can be compared.
 * 2. vadd/vsim: FP32 blobs of --dim floats, unit length; uniform random
 *    directions, or with --clusters K a point near one of K random centres
 *    (noise of norm ~0.5), which is how embeddings bunch up by topic.
 * 3. llm: a prompt pool from the GPTCache paraphrase pairs (origin,
 *    similar). Each request draws a topic by Zipf popularity (rank i has
 *    weight 1/i^s, ranks shuffled over the pool with the seed) and a kind:
 *    repeat (the origin text, verbatim), reword (the paired paraphrase, a
 *    real rewording) or new (words drawn from the pool's vocabulary plus a
 *    unique token: never asked before). A miss is followed by a CACHE.PUT
 *    of an answer that names what it answers: `sb|tenant|ns|topic|` (or
 *    `n<nonce>` for a new prompt) padded to --answer-size. A hit's answer
 *    therefore tells whether the right entry was served: another tenant's
 *    (isolation broken), another topic's (a false semantic hit), or not the
 *    bench's at all. The data holds repeated texts (the same origin under
 *    several pairs, an origin that is another pair's paraphrase): pairs
 *    whose origin or paraphrase (letters and digits, lower-cased) already
 *    appeared are left out of the pool, so one question is one topic and
 *    serving it is never counted as false. Near-duplicates that differ in
 *    a word ("v2.10.0" / "version 2.10.0") stay distinct topics: a hit
 *    across them is counted as false, the strict reading.
 * 4. Every thread has its own splitmix64 state; the text of a new prompt
 *    is regenerated from its nonce for the follow-up PUT instead of being
 *    kept in the request record.
 */
#include "load.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simcache.h"

uint64_t lrng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double lrng_unit(uint64_t *s)
{
    return (double)(lrng_next(s) >> 11) / 9007199254740992.0;
}

static double lrng_gauss(uint64_t *s)
{
    double u = lrng_unit(s), v = lrng_unit(s);
    return sqrt(-2.0 * log(u + 1e-300)) * cos(2 * M_PI * v);
}

/* ---- command buffers ---- */

static int lbuf_reserve(lbuf *b, size_t more)
{
    if (b->len + more <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static void put_len(lbuf *b, char type, size_t n)
{
    b->len += (size_t)sprintf(b->p + b->len, "%c%zu\r\n", type, n);
}

int lbuf_cmd(lbuf *b, int argc, const char **argv, const size_t *lens)
{
    size_t need = 32;
    for (int i = 0; i < argc; i++) need += lens[i] + 32;
    if (lbuf_reserve(b, need) != 0) return -1;
    put_len(b, '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        put_len(b, '$', lens[i]);
        memcpy(b->p + b->len, argv[i], lens[i]);
        b->len += lens[i];
        b->p[b->len++] = '\r';
        b->p[b->len++] = '\n';
    }
    return 0;
}

static int lbuf_cmdv(lbuf *b, int argc, const char **argv)
{
    size_t lens[16];
    for (int i = 0; i < argc; i++) lens[i] = strlen(argv[i]);
    return lbuf_cmd(b, argc, argv, lens);
}

/* ---- set-up ---- */

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int add_words(lwl *wl, const char *text, int *cap)
{
    const char *p = text;
    while (*p) {
        while (*p && !isalpha((unsigned char)*p)) p++;
        const char *w = p;
        while (isalpha((unsigned char)*p)) p++;
        size_t n = (size_t)(p - w);
        if (n < 3 || n > 20) continue;
        if (wl->nvocab == *cap) {
            *cap = *cap ? *cap * 2 : 1024;
            char **v = realloc(wl->vocab, (size_t)*cap * sizeof(char *));
            if (!v) return -1;
            wl->vocab = v;
        }
        if (!(wl->vocab[wl->nvocab] = strndup(w, n))) return -1;
        for (char *c = wl->vocab[wl->nvocab]; *c; c++) *c = (char)tolower((unsigned char)*c);
        wl->nvocab++;
    }
    return 0;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    do {
        if (len + 65536 > cap) {
            cap = cap ? cap * 2 : 1 << 20;
            char *p = realloc(buf, cap + 1);
            if (!p) { free(buf); fclose(f); errno = ENOMEM; return NULL; }
            buf = p;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    int bad = ferror(f);
    fclose(f);
    if (bad) { free(buf); errno = EIO; return NULL; }
    buf[len] = '\0';
    return buf;
}

/* Letters and digits, lower-cased: two prompts with the same key are the
 * same question as far as the pool goes. */
static void norm_key(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    for (; *s && n + 1 < cap; s++)
        if (isalnum((unsigned char)*s)) out[n++] = (char)tolower((unsigned char)*s);
    out[n] = '\0';
}

/* 1 if a or b (normalised) is already the origin or paraphrase of an
 * earlier pair of the pool; else records both keys in keys[2k], keys[2k+1]
 * (each 512 bytes). O(pool) per pair: ~1000 pairs, a few ms. */
static int seen_before(char (*keys)[512], int k, const char *a, const char *b)
{
    norm_key(a, keys[2 * k], 512);
    norm_key(b, keys[2 * k + 1], 512);
    for (int i = 0; i < 2 * k; i++)
        if (!strcmp(keys[i], keys[2 * k]) || !strcmp(keys[i], keys[2 * k + 1])) return 1;
    return 0;
}

static int init_llm(lwl *wl, const lopt *o)
{
    char *text = read_file(o->data);
    if (!text) {
        fprintf(stderr, "load: cannot read prompt data %s: %s (give --data PATH)\n",
                o->data, strerror(errno));
        return -1;
    }
    cJSON *root = cJSON_Parse(text);
    free(text);
    int n = root && cJSON_IsArray(root) ? cJSON_GetArraySize(root) : 0;
    if (n <= 0) {
        fprintf(stderr, "load: %s: not a JSON array of {origin, similar}\n", o->data);
        cJSON_Delete(root);
        return -1;
    }
    if (o->pool > 0 && o->pool < n) n = o->pool;
    wl->origin = calloc((size_t)n, sizeof(char *));
    wl->similar = calloc((size_t)n, sizeof(char *));
    char (*keys)[512] = malloc((size_t)n * 2 * 512);
    int vcap = 0, k = 0;
    if (!wl->origin || !wl->similar || !keys) goto oom;
    for (int i = 0; i < cJSON_GetArraySize(root) && k < n; i++) {
        cJSON *it = cJSON_GetArrayItem(root, i);
        const char *a = cJSON_GetStringValue(cJSON_GetObjectItem(it, "origin"));
        const char *b = cJSON_GetStringValue(cJSON_GetObjectItem(it, "similar"));
        if (!a || !b || !*a || !*b || seen_before(keys, k, a, b)) continue;
        if (!(wl->origin[k] = xstrdup(a)) || !(wl->similar[k] = xstrdup(b))) goto oom;
        if (add_words(wl, a, &vcap) != 0) goto oom;
        k++;
    }
    cJSON_Delete(root);
    root = NULL;
    free(keys);
    keys = NULL;
    wl->ntopics = k;
    if (k == 0 || wl->nvocab < 10) {
        fprintf(stderr, "load: %s: no usable prompt pairs\n", o->data);
        return -1;
    }
    wl->zipf_cdf = malloc((size_t)k * sizeof(double));
    wl->rank_topic = malloc((size_t)k * sizeof(int));
    if (!wl->zipf_cdf || !wl->rank_topic) goto oom;
    double sum = 0;
    for (int i = 0; i < k; i++) sum += pow(i + 1, -o->zipf);
    double acc = 0;
    for (int i = 0; i < k; i++) {
        acc += pow(i + 1, -o->zipf) / sum;
        wl->zipf_cdf[i] = acc;
        wl->rank_topic[i] = i;
    }
    wl->zipf_cdf[k - 1] = 1.0;
    uint64_t s = o->seed ^ 0x5bd1e995;
    for (int i = k - 1; i > 0; i--) {   /* Fisher-Yates: popularity is not file order */
        int j = (int)(lrng_next(&s) % (uint64_t)(i + 1));
        int t = wl->rank_topic[i];
        wl->rank_topic[i] = wl->rank_topic[j];
        wl->rank_topic[j] = t;
    }
    return 0;
oom:
    cJSON_Delete(root);
    free(keys);
    fprintf(stderr, "load: out of memory loading %s\n", o->data);
    return -1;
}

static void unit_vec(float *v, int dim)
{
    double n = 0;
    for (int i = 0; i < dim; i++) n += (double)v[i] * v[i];
    n = sqrt(n);
    if (n > 0)
        for (int i = 0; i < dim; i++) v[i] = (float)(v[i] / n);
}

int lwl_init(lwl *wl, ltest test, const lopt *o)
{
    memset(wl, 0, sizeof(*wl));
    wl->test = test;
    wl->o = o;
    if (test == T_LLM) return init_llm(wl, o);
    if (test == T_SET) {   /* written once here: threads only read it */
        if (!(wl->value = malloc((size_t)o->datasize + 1))) return -1;
        memset(wl->value, 'x', (size_t)o->datasize);
    }
    if ((test == T_VADD || test == T_VSIM) && o->clusters > 0) {
        wl->centers = malloc((size_t)o->clusters * (size_t)o->dim * sizeof(float));
        if (!wl->centers) return -1;
        uint64_t s = o->seed ^ 0xc3a5c85c97cb3127ULL;   /* same centres for vadd and vsim */
        for (int c = 0; c < o->clusters; c++) {
            float *v = wl->centers + (size_t)c * (size_t)o->dim;
            for (int i = 0; i < o->dim; i++) v[i] = (float)lrng_gauss(&s);
            unit_vec(v, o->dim);
        }
    }
    return 0;
}

void lwl_free(lwl *wl)
{
    for (int i = 0; i < wl->ntopics; i++) {
        free(wl->origin[i]);
        free(wl->similar[i]);
    }
    free(wl->origin);
    free(wl->similar);
    for (int i = 0; i < wl->nvocab; i++) free(wl->vocab[i]);
    free(wl->vocab);
    free(wl->zipf_cdf);
    free(wl->rank_topic);
    free(wl->centers);
    free(wl->value);
    memset(wl, 0, sizeof(*wl));
}

/* ---- request generation ---- */

static void gen_vec(const lwl *wl, uint64_t *rng, float *v)
{
    int dim = wl->o->dim;
    if (wl->centers) {
        const float *c = wl->centers +
                         (size_t)(lrng_next(rng) % (uint64_t)wl->o->clusters) * (size_t)dim;
        double sigma = 0.5 / sqrt(dim);
        for (int i = 0; i < dim; i++) v[i] = (float)(c[i] + sigma * lrng_gauss(rng));
    } else {
        for (int i = 0; i < dim; i++) v[i] = (float)lrng_gauss(rng);
    }
    unit_vec(v, dim);
}

static int zipf_topic(const lwl *wl, uint64_t *rng)
{
    double u = lrng_unit(rng);
    int lo = 0, hi = wl->ntopics - 1;
    while (lo < hi) {          /* first rank with cdf >= u */
        int mid = (lo + hi) / 2;
        if (wl->zipf_cdf[mid] >= u) hi = mid;
        else lo = mid + 1;
    }
    return wl->rank_topic[lo];
}

/* The prompt text of rq into buf (new prompts: regenerated from the nonce). */
static const char *prompt_text(const lwl *wl, const lreq *rq, char *buf, size_t cap)
{
    if (rq->pkind == P_REPEAT) return wl->origin[rq->topic];
    if (rq->pkind == P_REWORD) return wl->similar[rq->topic];
    uint64_t s = rq->nonce * 0x2545f4914f6cdd1dULL;
    int words = 6 + (int)(lrng_next(&s) % 5);
    size_t off = 0;
    for (int i = 0; i < words && off + 32 < cap; i++) {
        const char *w = wl->vocab[lrng_next(&s) % (uint64_t)wl->nvocab];
        off += (size_t)snprintf(buf + off, cap - off, "%s%.24s", i ? " " : "", w);
    }
    snprintf(buf + off, cap - off, " q%llx?", (unsigned long long)rq->nonce);
    return buf;
}

static void ns_name(const lwl *wl, int ns, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%d", wl->o->ns_prefix, ns);
}

static int gen_llm_get(const lwl *wl, uint64_t *rng, uint64_t seq, lbuf *out, lreq *rq)
{
    const lopt *o = wl->o;
    double u = lrng_unit(rng);
    rq->pkind = u < o->share[P_REPEAT] ? P_REPEAT
              : u < o->share[P_REPEAT] + o->share[P_REWORD] ? P_REWORD : P_NEW;
    rq->topic = (uint32_t)zipf_topic(wl, rng);
    rq->tenant = o->tenants > 0 ? (uint16_t)(lrng_next(rng) % (uint64_t)o->tenants) : 0;
    rq->ns = (uint16_t)(lrng_next(rng) % (uint64_t)o->namespaces);
    rq->nonce = seq;
    char pbuf[512], ns[64], tenant[32];
    const char *prompt = prompt_text(wl, rq, pbuf, sizeof(pbuf));
    ns_name(wl, rq->ns, ns, sizeof(ns));
    snprintf(tenant, sizeof(tenant), "sbt%d", rq->tenant);
    const char *argv[5] = {"CACHE.GET", ns, prompt, "TENANT", tenant};
    return lbuf_cmdv(out, o->tenants > 0 ? 5 : 3, argv);
}

int lwl_gen(const lwl *wl, uint64_t *rng, uint64_t seq, lbuf *out, lreq *rq)
{
    const lopt *o = wl->o;
    char key[64], elem[64];
    rq->kind = K_PRIMARY;
    switch (wl->test) {
    case T_PING: {
        const char *argv[] = {"PING"};
        return lbuf_cmdv(out, 1, argv);
    }
    case T_SET:
    case T_GET: {
        if (o->keyspace)
            snprintf(key, sizeof(key), "key:%012llu",
                     (unsigned long long)(lrng_next(rng) % o->keyspace));
        else
            snprintf(key, sizeof(key), "key:__rand_int__");
        if (wl->test == T_GET) {
            const char *argv[] = {"GET", key};
            return lbuf_cmdv(out, 2, argv);
        }
        const char *argv[] = {"SET", key, wl->value};
        size_t lens[] = {3, strlen(key), (size_t)o->datasize};
        return lbuf_cmd(out, 3, argv, lens);
    }
    case T_VADD:
    case T_VSIM: {
        float v[4096];
        gen_vec(wl, rng, v);
        size_t vb = (size_t)o->dim * sizeof(float);
        if (wl->test == T_VADD) {
            uint64_t id = o->keyspace ? lrng_next(rng) % o->keyspace : seq;
            snprintf(elem, sizeof(elem), "e:%llu", (unsigned long long)id);
            const char *argv[] = {"VADD", o->vkey, "FP32", (const char *)v, elem};
            size_t lens[] = {4, strlen(o->vkey), 4, vb, strlen(elem)};
            return lbuf_cmd(out, 5, argv, lens);
        }
        char count[16];
        snprintf(count, sizeof(count), "%d", o->vcount);
        const char *argv[] = {"VSIM", o->vkey, "FP32", (const char *)v, "COUNT", count};
        size_t lens[] = {4, strlen(o->vkey), 4, vb, 5, strlen(count)};
        return lbuf_cmd(out, 6, argv, lens);
    }
    case T_LLM:
        return gen_llm_get(wl, rng, seq, out, rq);
    default:
        errno = EINVAL;
        return -1;
    }
}

int lwl_gen_put(const lwl *wl, const lreq *rq, lbuf *out)
{
    const lopt *o = wl->o;
    char pbuf[512], ns[64], tenant[32], answer[8192];
    const char *prompt = prompt_text(wl, rq, pbuf, sizeof(pbuf));
    ns_name(wl, rq->ns, ns, sizeof(ns));
    snprintf(tenant, sizeof(tenant), "sbt%d", rq->tenant);
    int n;
    if (rq->pkind == P_NEW)
        n = snprintf(answer, sizeof(answer), "sb|%d|%d|n%llx|", rq->tenant, rq->ns,
                     (unsigned long long)rq->nonce);
    else
        n = snprintf(answer, sizeof(answer), "sb|%d|%d|%u|", rq->tenant, rq->ns, rq->topic);
    size_t alen = (size_t)n;
    if ((size_t)o->answer_size > alen) {
        alen = (size_t)o->answer_size < sizeof(answer) ? (size_t)o->answer_size
                                                      : sizeof(answer) - 1;
        memset(answer + n, 'a', alen - (size_t)n);
    }
    const char *argv[] = {"CACHE.PUT", ns, prompt, answer, "COST", o->cost, "TENANT", tenant};
    size_t lens[8];
    for (int i = 0; i < 8; i++) lens[i] = i == 3 ? alen : strlen(argv[i]);
    return lbuf_cmd(out, o->tenants > 0 ? 8 : 6, argv, lens);
}

/* ---- replies ---- */

static const sc_reply *field(const sc_reply *r, const char *name)
{
    if (r->type != SC_REPLY_ARRAY && r->type != SC_REPLY_MAP) return NULL;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const sc_reply *k = r->element[i];
        if (k->str && !strcmp(k->str, name)) return r->element[i + 1];
    }
    return NULL;
}

static void check_answer(const lreq *rq, const sc_reply *resp, lstats *st)
{
    int tenant, ns;
    char what[32];
    if (!resp || !resp->str ||
        sscanf(resp->str, "sb|%d|%d|%31[^|]|", &tenant, &ns, what) != 3) {
        st->foreign++;
        return;
    }
    if (tenant != rq->tenant || ns != rq->ns) {
        st->wrong_tenant++;
        return;
    }
    if (rq->pkind == P_NEW || what[0] == 'n' || (uint32_t)strtoul(what, NULL, 10) != rq->topic)
        st->false_hits++;
}

int lwl_check_reply(const lwl *wl, const lreq *rq, const sc_reply *r, lstats *st)
{
    if (wl->test != T_LLM) return 0;
    const sc_reply *tier = field(r, "tier");
    if (!tier || !tier->str) {
        lstats_error(st, "bad-reply", "CACHE.GET reply without a tier", 30);
        return 0;
    }
    int t = !strcmp(tier->str, "exact")      ? TIER_EXACT
          : !strcmp(tier->str, "semantic")   ? TIER_SEMANTIC
          : !strcmp(tier->str, "stale")      ? TIER_STALE : TIER_MISS;
    st->tier[rq->pkind][t]++;
    if (t == TIER_MISS) return 1;
    check_answer(rq, field(r, "response"), st);
    return 0;
}
