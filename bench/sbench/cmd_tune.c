/* cmd_tune.c -- `simcache-bench tune`: sweep CACHE.GET's similarity
 * threshold over labelled prompt pairs and recommend one.
 *
 *   simcache-bench tune [--pairs FILE.tsv | --gptcache FILE.json]
 *       [-h host] [-p port] [-a password] [--user u] [--tenant t]
 *       [--embedder NAME] [--ns NAME] [--keep] [--holdout F] [--seed S]
 *       [--target-fhr F] [--step F] [--check N] [--out DIR]
 *
 * Every text_a goes into a fresh namespace (CACHE.PUT, the answer being a
 * tag naming the entry); every text_b is asked once with CACHE.GET; the
 * outcome at each threshold is then computed offline. Per threshold it
 * reports hits, correct and false hits, the false-hit rate per query and
 * per served hit with Wilson 95% intervals, precision, recall and F1, and
 * recommends a threshold for a target false-hit rate and one for the best
 * F1. With --holdout the recommendation is made on the tuning part and
 * measured again on the held-back part.
 *
 * Design decisions:
 * 1. The decision at threshold t is CACHE.GET's own, not a re-implementation.
 *    The server picks its candidate (lexical gate, swap test, margin over
 *    the runner-up: server/lexscore.c) without looking at the threshold and
 *    only then compares the candidate's score with it, so one GET at the
 *    lowest threshold (the namespace is created with THRESHOLD 0 and
 *    ALLOW-LOWER) tells for every t: hit with that entry iff score >= t,
 *    else miss. CACHE.SEARCH is not used: its scores are the raw IDF
 *    cosine without gate, swap test or margin, so a sweep over them would
 *    tune a decision the server never makes. The assumption is checked on
 *    every run: a seeded sample of queries is asked again with THRESHOLD
 *    just below and just above its score (--check N), and any disagreement
 *    (hit/miss or the entry served) stops the run with exit status 3.
 * 2. A hit is correct only when the pair is labelled 1 and the entry served
 *    is the pair's own text_a; a hit on another pair's text_a is false even
 *    for a label-1 pair (that is a wrong answer served). Two text_a that the
 *    server normalises to the same prompt are one entry (PUT replaces):
 *    after loading, each distinct text_a is asked exactly once to learn
 *    which entry answers for it (an exact-tier hit), and served entries are
 *    compared through that alias.
 * 3. Two false-hit rates, named apart: per query (false hits / queries:
 *    how often a user gets a wrong answer) and per served hit (false hits /
 *    hits = 1 - precision: how much of what the cache serves is wrong).
 *    The target applies to the per-query rate.
 * 4. Recommendations (on the tuning part): "target" = most correct hits
 *    with per-query false-hit rate <= target (ties: the highest threshold,
 *    i.e. fewest false hits); "confident" = the lowest threshold whose
 *    Wilson upper bound is <= target, when the set is large enough for one
 *    to exist; "best-f1". The held-back check compares the held-back rate
 *    with a 95% prediction interval (stats.h), not with the tuning CI,
 *    which describes the true rate and is narrower than the scatter of a
 *    second small sample.
 * 5. The namespace holds every text_a (both parts): a split changes which
 *    queries tune and which check, not what the cache contains, so both
 *    parts face the same neighbours, as production queries would.
 */
#include "report.h"
#include "sbench.h"
#include "stats.h"
#include "tune_data.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/simcache.h"

const char sb_help_tune[] =
    "sweep the cache threshold over labelled pairs; recommend one (CSV/MD/SVG)";

#ifndef SB_DATA_DIR
#define SB_DATA_DIR "bench/data"
#endif

enum { PART_TUNE = 0, PART_HELD = 1, PART_ALL = 2 };

typedef struct tune_opts {
    const char *pairs, *gptcache, *host, *password, *user, *tenant, *embedder;
    const char *ns, *out;
    int port, keep, check;
    double holdout, target, step;
    unsigned long long seed;
} tune_opts;

/* One run's measurements: per pair, what CACHE.GET served at the floor. */
typedef struct tune_run {
    const tune_set *set;
    size_t *ua;            /* pair -> index of its distinct text_a */
    size_t nu;             /* distinct text_a */
    long *alias;           /* distinct text_a -> entry index answering it */
    long *served;          /* pair -> alias of the entry served, -1 = miss */
    double *score;         /* pair -> score of the entry served (exact: 1) */
    unsigned char *held;   /* pair -> 1 if held back */
    const size_t *rep;     /* distinct text_a -> a pair holding it */
} tune_run;

typedef struct tune_counts {
    long n, pos, hits, correct, fals;
} tune_counts;

static void usage(FILE *f)
{
    fputs("usage: simcache-bench tune [--pairs FILE.tsv | --gptcache FILE.json]\n"
          "  [-h host] [-p port] [-a password] [--user u] [--tenant t]\n"
          "  [--embedder NAME] [--ns NAME] [--keep] [--holdout F] [--seed S]\n"
          "  [--target-fhr F] [--step F] [--check N] [--out DIR]\n"
          "pairs: text_a<TAB>text_b<TAB>label[<TAB>category], label 1 = same meaning;\n"
          "default " SB_DATA_DIR "/tune_pairs.tsv. Writes tune.csv, tune.md, tune.svg,\n"
          "tune_recommend.csv (and tune_heldout.csv, tune_categories.csv) to --out.\n",
          f);
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

static int parse_opts(int argc, char **argv, tune_opts *o)
{
    *o = (tune_opts){.host = "127.0.0.1", .port = 6379, .embedder = NULL, .out = ".",
                     .check = 60, .holdout = 0.0, .target = 0.01, .step = 0.01, .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        if (!strcmp(a, "--help")) { usage(stdout); exit(0); }
        else if (!strcmp(a, "--keep")) { o->keep = 1; continue; }
        if (!v) goto bad;
        i++;
        if (!strcmp(a, "--pairs")) o->pairs = v;
        else if (!strcmp(a, "--gptcache")) o->gptcache = v;
        else if (!strcmp(a, "-h") || !strcmp(a, "--host")) o->host = v;
        else if (!strcmp(a, "-p") || !strcmp(a, "--port")) {
            if (parse_double(v, 1, 65535, &d)) goto bad;
            o->port = (int)d;
        } else if (!strcmp(a, "-a") || !strcmp(a, "--pass")) o->password = v;
        else if (!strcmp(a, "--user")) o->user = v;
        else if (!strcmp(a, "--tenant")) o->tenant = v;
        else if (!strcmp(a, "--embedder")) o->embedder = v;
        else if (!strcmp(a, "--ns")) o->ns = v;
        else if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--holdout")) {
            if (parse_double(v, 0, 0.9, &o->holdout)) goto bad;
        } else if (!strcmp(a, "--seed")) {
            if (parse_double(v, 0, 1e18, &d)) goto bad;
            o->seed = (unsigned long long)d;
        } else if (!strcmp(a, "--target-fhr")) {
            if (parse_double(v, 0, 1, &o->target)) goto bad;
        } else if (!strcmp(a, "--step")) {
            if (parse_double(v, 0.001, 0.5, &o->step)) goto bad;
        } else if (!strcmp(a, "--check")) {
            if (parse_double(v, 0, 1e6, &d)) goto bad;
            o->check = (int)d;
        } else goto bad;
        continue;
    bad:
        fprintf(stderr, "tune: bad or incomplete option '%s'%s%s\n", a, v ? " " : "",
                v ? v : "");
        usage(stderr);
        return -1;
    }
    if (o->pairs && o->gptcache) {
        fputs("tune: --pairs and --gptcache are exclusive\n", stderr);
        return -1;
    }
    return 0;
}

/* ---- talking to the server ---- */

static sc_reply *command_or_report(sc_conn *c, int argc, const char **argv, const char *what)
{
    sc_reply *r = sc_command(c, argc, argv, NULL);
    if (!r) {
        fprintf(stderr, "tune: %s: %s\n", what, sc_errstr(c));
        return NULL;
    }
    if (r->type == SC_REPLY_ERROR) {
        fprintf(stderr, "tune: %s: %s\n", what, r->str);
        sc_reply_free(r);
        return NULL;
    }
    return r;
}

static int ns_create(sc_conn *c, const tune_opts *o)
{
    const char *argv[12] = {"CACHE.CREATE", o->ns, "THRESHOLD", "0", "ALLOW-LOWER"};
    int argc = 5;
    if (o->embedder) {
        argv[argc++] = "EMBEDDER";
        argv[argc++] = o->embedder;
    }
    if (o->tenant) {
        argv[argc++] = "TENANT";
        argv[argc++] = o->tenant;
    }
    sc_reply *r = command_or_report(c, argc, argv, "CACHE.CREATE");
    sc_reply_free(r);
    return r ? 0 : -1;
}

static void ns_drop(sc_conn *c, const tune_opts *o)
{
    const char *argv[4] = {"CACHE.DROP", o->ns, "TENANT", o->tenant};
    sc_reply_free(sc_command(c, o->tenant ? 4 : 2, argv, NULL));
}

/* The entry tag a PUT stores as the answer: "e<index>". -1 if r is not one. */
static long tag_parse(const sc_cache_result *r)
{
    if (r->tier == SC_CACHE_MISS || !r->answer || r->answer[0] != 'e') return -1;
    char *end;
    long v = strtol(r->answer + 1, &end, 10);
    return *end || v < 0 ? -1 : v;
}

static int cmp_str_idx(const void *x, const void *y, void *ctx)
{
    const tune_set *s = ctx;
    size_t i = *(const size_t *)x, j = *(const size_t *)y;
    int c = strcmp(s->p[i].a, s->p[j].a);
    return c ? c : (i > j) - (i < j);
}

/* Distinct text_a: r->ua[pair] and r->nu; returns the representative pair
 * of each distinct text_a in *rep (malloc'd). */
static int distinct_a(tune_run *r, size_t **rep)
{
    const tune_set *s = r->set;
    size_t *ord = malloc(s->n * sizeof *ord);
    *rep = malloc(s->n * sizeof **rep);
    if (!ord || !*rep) {
        free(ord);
        return -1;
    }
    for (size_t i = 0; i < s->n; i++) ord[i] = i;
    qsort_r(ord, s->n, sizeof *ord, cmp_str_idx, (void *)s);
    r->nu = 0;
    for (size_t k = 0; k < s->n; k++) {
        if (k == 0 || strcmp(s->p[ord[k]].a, s->p[ord[k - 1]].a))
            (*rep)[r->nu++] = ord[k];
        r->ua[ord[k]] = r->nu - 1;
    }
    free(ord);
    return 0;
}

/* Loads every distinct text_a, then learns the alias of each (note 2). */
static int load_entries(sc_conn *c, const tune_opts *o, tune_run *r, const size_t *rep)
{
    char tag[32];
    for (size_t u = 0; u < r->nu; u++) {
        snprintf(tag, sizeof tag, "e%zu", u);
        const tune_pair *p = &r->set->p[rep[u]];
        if (sc_cache_put(c, o->ns, p->a, tag, strlen(tag), NULL, NULL) != 0) {
            fprintf(stderr, "tune: CACHE.PUT of text_a of pair at line %d: %s\n", p->line,
                    sc_errstr(c));
            return -1;
        }
    }
    sc_cache_get_opts go = {.has_threshold = 1, .threshold = 0.0};
    for (size_t u = 0; u < r->nu; u++) {
        sc_cache_result res;
        const tune_pair *p = &r->set->p[rep[u]];
        if (sc_cache_get(c, o->ns, p->a, &go, &res) != 0) {
            fprintf(stderr, "tune: CACHE.GET of text_a at line %d: %s\n", p->line,
                    sc_errstr(c));
            return -1;
        }
        long e = tag_parse(&res);
        int exact = res.tier == SC_CACHE_EXACT;
        sc_cache_result_free(&res);
        if (!exact || e < 0 || (size_t)e >= r->nu) {
            fprintf(stderr, "tune: text_a at line %d is not served back exactly after "
                            "CACHE.PUT (evicted? maxmemory too small?)\n", p->line);
            return -1;
        }
        r->alias[u] = e;
    }
    return 0;
}

/* One GET: *served = alias of the entry served or -1, *score. */
static int ask(sc_conn *c, const tune_opts *o, const tune_run *r, const char *prompt,
               double threshold, long *served, double *score)
{
    sc_cache_get_opts go = {.has_threshold = 1, .threshold = threshold};
    sc_cache_result res;
    if (sc_cache_get(c, o->ns, prompt, &go, &res) != 0) return -1;
    long e = tag_parse(&res);
    *served = e >= 0 && (size_t)e < r->nu ? r->alias[e] : -1;
    *score = res.tier == SC_CACHE_MISS ? 0.0 : res.score;
    if (res.tier != SC_CACHE_MISS && e < 0) *served = -2;   /* not one of ours */
    sc_cache_result_free(&res);
    return 0;
}

static int ask_all(sc_conn *c, const tune_opts *o, tune_run *r)
{
    for (size_t i = 0; i < r->set->n; i++) {
        if (ask(c, o, r, r->set->p[i].b, 0.0, &r->served[i], &r->score[i]) != 0) {
            fprintf(stderr, "tune: CACHE.GET of text_b at line %d: %s\n", r->set->p[i].line,
                    sc_errstr(c));
            return -1;
        }
        if (r->served[i] == -2) {
            fprintf(stderr, "tune: namespace %s holds entries this run did not put\n", o->ns);
            return -1;
        }
    }
    return 0;
}

/* The outcome the sweep predicts at threshold t (note 1). Scores are
 * compared as the server compares them, in float. */
static long predict(const tune_run *r, size_t i, double t)
{
    return r->served[i] >= 0 && (float)r->score[i] >= (float)t ? r->served[i] : -1;
}

/* Spot check (note 1): 0 when every sampled GET agrees, 3 on a
 * disagreement, -1 on a connection error. */
static int spot_check(sc_conn *c, const tune_opts *o, const tune_run *r, int *checked)
{
    unsigned long long st = o->seed ^ 0x5EEDC0DEull;
    *checked = 0;
    for (int k = 0; k < o->check && r->set->n; k++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        size_t i = (size_t)((st >> 33) % r->set->n);
        double s = r->score[i];
        /* below and above the score for hits; anywhere for misses */
        double t = r->served[i] < 0 ? (double)((st >> 20) % 1000) / 1000.0
                   : (k & 1)        ? s + 0.005
                                    : s - 0.005;
        if (t < 0) t = 0;
        if (t > 1) continue;   /* an exact hit (score 1) has nothing above */
        long got;
        double gs;
        if (ask(c, o, r, r->set->p[i].b, t, &got, &gs) != 0) {
            fprintf(stderr, "tune: spot check: %s\n", sc_errstr(c));
            return -1;
        }
        (*checked)++;
        long want = predict(r, i, t);
        if (got != want) {
            fprintf(stderr,
                    "tune: spot check FAILED: line %d, CACHE.GET THRESHOLD %.4f served %s%ld "
                    "but the sweep predicts %s%ld (floor score %.6f): the server's decision "
                    "is not 'fixed candidate, score >= threshold'; this tuner's results "
                    "would not describe it\n",
                    r->set->p[i].line, t, got < 0 ? "miss" : "entry ", got < 0 ? 0 : got,
                    want < 0 ? "miss" : "entry ", want < 0 ? 0 : want, s);
            return 3;
        }
    }
    return 0;
}

/* ---- the sweep ---- */

static int in_part(const tune_run *r, size_t i, int part)
{
    return part == PART_ALL || r->held[i] == (part == PART_HELD);
}

static void count_at(const tune_run *r, double t, int part, const char *cat, tune_counts *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < r->set->n; i++) {
        const tune_pair *p = &r->set->p[i];
        if (!in_part(r, i, part)) continue;
        if (cat && (!p->cat || strcmp(p->cat, cat))) continue;
        c->n++;
        c->pos += p->label;
        long e = predict(r, i, t);
        if (e < 0) continue;
        c->hits++;
        if (p->label == 1 && e == r->alias[r->ua[i]]) c->correct++;
        else c->fals++;
    }
}

static double ratio(long a, long b) { return b ? (double)a / (double)b : 0.0; }

static double f1_of(const tune_counts *c)
{
    double pr = ratio(c->correct, c->hits), rc = ratio(c->correct, c->pos);
    return pr + rc > 0 ? 2 * pr * rc / (pr + rc) : 0.0;
}

static const char *const CSV_COLS[] = {
    "threshold", "queries", "positives", "hits", "correct", "false", "hit_rate",
    "correct_rate", "fhr_query", "fhr_query_lo", "fhr_query_hi", "fhr_hit", "fhr_hit_lo",
    "fhr_hit_hi", "precision", "recall", "f1"};
enum { NCSV = sizeof(CSV_COLS) / sizeof(*CSV_COLS) };

static int table_row(sb_table *t, double thr, const tune_counts *c)
{
    double ql, qh, hl, hh;
    sb_wilson(c->fals, c->n, SB_Z95, &ql, &qh);
    sb_wilson(c->fals, c->hits, SB_Z95, &hl, &hh);
    return sb_table_rowf(t,
                         "%.3f\t%ld\t%ld\t%ld\t%ld\t%ld\t%.4f\t%.4f\t%.5f\t%.5f\t%.5f\t%.5f\t"
                         "%.5f\t%.5f\t%.4f\t%.4f\t%.4f",
                         thr, c->n, c->pos, c->hits, c->correct, c->fals, ratio(c->hits, c->n),
                         ratio(c->correct, c->n), ratio(c->fals, c->n), ql, qh,
                         ratio(c->fals, c->hits), hl, hh,
                         c->hits ? ratio(c->correct, c->hits) : 1.0, ratio(c->correct, c->pos),
                         f1_of(c));
}

typedef struct tune_rec {
    const char *rule;      /* "target", "confident", "best-f1", "default" */
    int found;
    double t;
} tune_rec;

/* Recommendations on the tuning part (note 4). */
static void recommend(const tune_run *r, const tune_opts *o, int nt, tune_rec rec[4])
{
    rec[0] = (tune_rec){"target", 0, 0};
    rec[1] = (tune_rec){"confident", 0, 0};
    rec[2] = (tune_rec){"best-f1", 0, 0};
    rec[3] = (tune_rec){"default", 1, 0.45};
    long best_correct = -1;
    double best_f1 = -1;
    for (int j = 0; j < nt; j++) {
        double t = j * o->step;
        tune_counts c;
        count_at(r, t, PART_TUNE, NULL, &c);
        double rate = ratio(c.fals, c.n), lo, hi;
        sb_wilson(c.fals, c.n, SB_Z95, &lo, &hi);
        if (rate <= o->target && c.correct >= best_correct) {
            best_correct = c.correct;
            rec[0].found = 1;
            rec[0].t = t;
        }
        if (hi <= o->target && !rec[1].found) {
            rec[1].found = 1;
            rec[1].t = t;
        }
        double f = f1_of(&c);
        if (f >= best_f1) {
            best_f1 = f;
            rec[2].found = 1;
            rec[2].t = t;
        }
    }
}

/* Thresholds the sweep visits: 0, step, 2 step, ... up to 1. */
static int n_thresholds(double step) { return (int)floor(1.0 / step + 1e-9) + 1; }

static int write_sweep_csv(const tune_run *r, const tune_opts *o, int part, const char *name)
{
    sb_table *t = sb_table_new(NCSV, CSV_COLS);
    if (!t) return -1;
    int rc = 0, nt = n_thresholds(o->step);
    for (int j = 0; j < nt && rc == 0; j++) {
        tune_counts c;
        count_at(r, j * o->step, part, NULL, &c);
        rc = table_row(t, j * o->step, &c);
    }
    FILE *f = rc ? NULL : sb_out_open(o->out, name);
    if (!f || sb_table_write_csv(t, f) != 0) rc = -1;
    if (f && fclose(f) != 0) rc = -1;
    sb_table_free(t);
    return rc;
}

static const char *part_name(int part)
{
    return part == PART_TUNE ? "tune" : part == PART_HELD ? "held-back" : "all";
}

static const char *const REC_COLS[] = {
    "rule", "threshold", "part", "queries", "hits", "correct", "false", "hit_rate",
    "correct_rate", "fhr_query", "fhr_query_lo", "fhr_query_hi", "fhr_hit", "precision",
    "recall", "f1", "predicted_lo", "predicted_hi", "within", "in_tune_ci"};
enum { NREC = sizeof(REC_COLS) / sizeof(*REC_COLS) };

/* One row of the recommendation table; pred_from (tuning counts) gives the
 * prediction interval for a held-back row. */
static int rec_row(sb_table *t, const tune_rec *rec, int part, const tune_counts *c,
                   const tune_counts *pred_from)
{
    double lo, hi, pl = 0, ph = 1;
    sb_wilson(c->fals, c->n, SB_Z95, &lo, &hi);
    const char *within = "", *in_ci = "";
    if (pred_from) {
        double tl, th, m = ratio(c->fals, c->n);
        sb_predict_rate(pred_from->fals, pred_from->n, c->n, &pl, &ph);
        within = m >= pl - 1e-12 && m <= ph + 1e-12 ? "yes" : "no";
        sb_wilson(pred_from->fals, pred_from->n, SB_Z95, &tl, &th);
        in_ci = m >= tl - 1e-12 && m <= th + 1e-12 ? "yes" : "no";
    }
    char pls[24] = "", phs[24] = "";
    if (pred_from) {
        snprintf(pls, sizeof pls, "%.5f", pl);
        snprintf(phs, sizeof phs, "%.5f", ph);
    }
    return sb_table_rowf(t,
                         "%s\t%.3f\t%s\t%ld\t%ld\t%ld\t%ld\t%.4f\t%.4f\t%.5f\t%.5f\t%.5f\t%.5f\t"
                         "%.4f\t%.4f\t%.4f\t%s\t%s\t%s\t%s",
                         rec->rule, rec->t, part_name(part), c->n, c->hits, c->correct, c->fals,
                         ratio(c->hits, c->n), ratio(c->correct, c->n), ratio(c->fals, c->n), lo,
                         hi, ratio(c->fals, c->hits), c->hits ? ratio(c->correct, c->hits) : 1.0,
                         ratio(c->correct, c->pos), f1_of(c), pls, phs, within, in_ci);
}

static int write_table(const sb_table *t, const char *dir, const char *name, FILE *md)
{
    FILE *f = sb_out_open(dir, name);
    int rc = f && sb_table_write_csv(t, f) == 0 ? 0 : -1;
    if (f && fclose(f) != 0) rc = -1;
    if (md && sb_table_write_md(t, md) != 0) rc = -1;
    return rc;
}

/* Category names in order of first appearance (at most 32). */
static int categories(const tune_set *s, const char **cats, int max)
{
    int n = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!s->p[i].cat) continue;
        int k = 0;
        while (k < n && strcmp(cats[k], s->p[i].cat)) k++;
        if (k == n && n < max) cats[n++] = s->p[i].cat;
    }
    return n;
}

static int write_categories(const tune_run *r, const tune_opts *o, const tune_rec *rec,
                            int nrec, FILE *md)
{
    const char *cats[32];
    int nc = categories(r->set, cats, 32);
    if (nc == 0) return 0;
    static const char *const cols[] = {"rule", "threshold", "category", "queries",
                                       "positives", "hits", "correct", "false", "fhr_query",
                                       "recall"};
    sb_table *t = sb_table_new(10, cols);
    if (!t) return -1;
    int rc = 0;
    for (int k = 0; k < nrec && rc == 0; k++) {
        if (!rec[k].found) continue;
        for (int j = 0; j < nc && rc == 0; j++) {
            tune_counts c;
            count_at(r, rec[k].t, PART_ALL, cats[j], &c);
            rc = sb_table_rowf(t, "%s\t%.3f\t%s\t%ld\t%ld\t%ld\t%ld\t%ld\t%.4f\t%.4f",
                               rec[k].rule, rec[k].t, cats[j], c.n, c.pos, c.hits, c.correct,
                               c.fals, ratio(c.fals, c.n), ratio(c.correct, c.pos));
        }
    }
    if (rc == 0) {
        fputs("\n## Per category (all pairs)\n\n", md);
        rc = write_table(t, o->out, "tune_categories.csv", md);
    }
    sb_table_free(t);
    return rc;
}

/* tune_false_hits.csv: every false hit at each recommended threshold,
 * with the query and the stored prompt served for it (what to look at
 * when choosing between thresholds or reporting a scoring bug). */
static int write_false_hits(const tune_run *r, const tune_opts *o, const tune_rec *rec,
                            int nrec, FILE *md)
{
    static const char *const cols[] = {"rule", "threshold", "line", "category", "label",
                                       "score", "query", "served"};
    sb_table *t = sb_table_new(8, cols);
    if (!t) return -1;
    int rc = 0;
    long shown = 0;
    for (int k = 0; k < nrec && rc == 0; k++) {
        if (!rec[k].found) continue;
        for (size_t i = 0; i < r->set->n && rc == 0; i++) {
            const tune_pair *p = &r->set->p[i];
            long e = predict(r, i, rec[k].t);
            if (e < 0 || (p->label == 1 && e == r->alias[r->ua[i]])) continue;
            rc = sb_table_rowf(t, "%s\t%.3f\t%d\t%s\t%d\t%.4f\t%s\t%s", rec[k].rule,
                               rec[k].t, p->line, p->cat ? p->cat : "", p->label, r->score[i],
                               p->b, r->set->p[r->rep[e]].a);
            shown++;
        }
    }
    if (rc == 0) {
        fprintf(md, "\n## False hits at the recommended thresholds (%ld, all pairs)\n\n",
                shown);
        rc = write_table(t, o->out, "tune_false_hits.csv", md);
    }
    sb_table_free(t);
    return rc;
}

/* tune.svg: hit rate and correct-hit rate against the per-query false-hit
 * rate, one point per threshold, recommended points as labelled markers. */
static int write_svg(const tune_run *r, const tune_opts *o, const tune_rec *rec, int nrec)
{
    int nt = n_thresholds(o->step);
    double *x = malloc(nt * sizeof *x), *y = malloc(nt * sizeof *y),
           *y2 = malloc(nt * sizeof *y2);
    int rc = -1;
    if (!x || !y || !y2) goto done;
    for (int j = 0; j < nt; j++) {
        tune_counts c;
        count_at(r, j * o->step, PART_TUNE, NULL, &c);
        x[j] = ratio(c.fals, c.n);
        y[j] = ratio(c.hits, c.n);
        y2[j] = ratio(c.correct, c.n);
    }
    sb_series s[2 + 4];
    double px[4], py[4];
    char lab[4][64];
    size_t ns = 0;
    s[ns++] = (sb_series){.label = "hit rate", .x = x, .y = y, .n = (size_t)nt, .markers = 1};
    s[ns++] = (sb_series){.label = "correct-hit rate", .x = x, .y = y2, .n = (size_t)nt};
    for (int k = 0; k < nrec && k < 4; k++) {
        if (!rec[k].found) continue;
        tune_counts c;
        count_at(r, rec[k].t, PART_TUNE, NULL, &c);
        px[k] = ratio(c.fals, c.n);
        py[k] = ratio(c.hits, c.n);
        snprintf(lab[k], sizeof lab[k], "%s t=%.2f", rec[k].rule, rec[k].t);
        s[ns++] = (sb_series){.label = lab[k], .x = &px[k], .y = &py[k], .n = 1, .markers = 1};
    }
    sb_plot p = {.title = "threshold sweep: hit rate vs false-hit rate (tuning part)",
                 .xlabel = "false hits per query", .ylabel = "hits per query",
                 .series = s, .nseries = ns, .has_vline = 1, .vline = o->target,
                 .vline_label = "target"};
    FILE *f = sb_out_open(o->out, "tune.svg");
    if (!f) goto done;
    rc = sb_svg_write(&p, f);
    if (fclose(f) != 0) rc = -1;
done:
    free(x);
    free(y);
    free(y2);
    return rc;
}

/* tune.md, tune_recommend.csv and the summary on stdout. */
static int write_summary(const tune_run *r, const tune_opts *o, const tune_rec *rec, int nrec,
                         int checked, const char *source)
{
    FILE *md = sb_out_open(o->out, "tune.md");
    if (!md) return -1;
    sb_table *t = sb_table_new(NREC, REC_COLS);
    if (!t) {
        fclose(md);
        return -1;
    }
    long nheld = 0;
    for (size_t i = 0; i < r->set->n; i++) nheld += r->held[i];
    int rc = 0;
    for (int k = 0; k < nrec && rc == 0; k++) {
        if (!rec[k].found) continue;
        tune_counts ct, ch;
        count_at(r, rec[k].t, PART_TUNE, NULL, &ct);
        rc = rec_row(t, &rec[k], PART_TUNE, &ct, NULL);
        if (rc == 0 && nheld) {
            count_at(r, rec[k].t, PART_HELD, NULL, &ch);
            rc = rec_row(t, &rec[k], PART_HELD, &ch, &ct);
        }
    }
    fprintf(md, "# Threshold tuning\n\nPairs: %s (%zu pairs, %zu distinct stored prompts); "
                "tuning part %zu queries, held-back part %ld (--holdout %.2f, --seed %llu). "
                "Target false hits per query: %.2f%%. CACHE.GET spot check: %d GETs agreed "
                "with the sweep.\n\n",
            source, r->set->n, r->nu, r->set->n - (size_t)nheld, nheld, o->holdout, o->seed,
            100 * o->target, checked);
    fputs("Rules: *target* = most correct hits with false hits per query <= target; "
          "*confident* = lowest threshold whose Wilson 95% upper bound is <= target; "
          "*best-f1*; *default* = the server's default threshold (0.45). fhr_query = false "
          "hits / queries (Wilson 95% interval), fhr_hit = false hits / hits. Held-back rows: "
          "predicted_lo/hi is the 95% prediction interval for the held-back rate from the "
          "tuning counts; within = the measured held-back rate lies in it; in_tune_ci = it "
          "also lies in the tuning part's Wilson interval (a stricter check that a second "
          "small sample may fail by chance: see stats.c).\n\n",
          md);
    if (rc == 0) rc = write_table(t, o->out, "tune_recommend.csv", md);
    if (!rec[1].found)
        fprintf(md, "\nNo threshold reaches the target with 95%% confidence on %zu tuning "
                    "queries (0 false hits in n queries bounds the rate at 3.84/(n+3.84)).\n",
                r->set->n - (size_t)nheld);
    fputs("\nFull sweep: tune.csv (tuning part)", md);
    if (nheld) fputs(", tune_heldout.csv (held-back part)", md);
    fputs("; plot: tune.svg.\n", md);
    if (rc == 0) rc = write_categories(r, o, rec, nrec, md);
    if (rc == 0) rc = write_false_hits(r, o, rec, nrec, md);
    /* stdout: one line per recommendation, tuning part then held-back */
    for (size_t row = 0; row < sb_table_rows(t); row++) {
        printf("%-9s t=%s %-9s queries %s hits %s correct %s false %s fhr/query %s "
               "[%s, %s]",
               sb_table_cell(t, row, 0), sb_table_cell(t, row, 1), sb_table_cell(t, row, 2),
               sb_table_cell(t, row, 3), sb_table_cell(t, row, 4), sb_table_cell(t, row, 5),
               sb_table_cell(t, row, 6), sb_table_cell(t, row, 9), sb_table_cell(t, row, 10),
               sb_table_cell(t, row, 11));
        if (*sb_table_cell(t, row, 18))
            printf(" predicted [%s, %s] within %s (in tuning CI: %s)",
                   sb_table_cell(t, row, 16), sb_table_cell(t, row, 17),
                   sb_table_cell(t, row, 18), sb_table_cell(t, row, 19));
        putchar('\n');
    }
    sb_table_free(t);
    if (fclose(md) != 0) rc = -1;
    return rc;
}

static int load_pairs(const tune_opts *o, tune_set *s, const char **source)
{
    char err[512];
    int rc;
    if (o->gptcache) {
        *source = o->gptcache;
        rc = tune_load_gptcache(o->gptcache, s, err, sizeof err);
    } else {
        *source = o->pairs;
        if (!*source)
            *source = access("bench/data/tune_pairs.tsv", R_OK) == 0
                          ? "bench/data/tune_pairs.tsv"
                          : SB_DATA_DIR "/tune_pairs.tsv";
        rc = tune_load_tsv(*source, s, err, sizeof err);
    }
    if (rc != 0) fprintf(stderr, "tune: %s\n", err);
    return rc;
}

static int run_all(sc_conn *c, const tune_opts *o, tune_run *r, const char *source)
{
    size_t *rep = NULL;
    int rc = -1, checked = 0;
    if (distinct_a(r, &rep) != 0) {
        fputs("tune: out of memory\n", stderr);
        return -1;
    }
    r->rep = rep;
    if (ns_create(c, o) != 0) goto done;
    if (load_entries(c, o, r, rep) != 0 || ask_all(c, o, r) != 0) goto drop;
    rc = spot_check(c, o, r, &checked);
    if (rc != 0) goto drop;
    tune_rec rec[4];
    int nt = n_thresholds(o->step);
    recommend(r, o, nt, rec);
    long nheld = 0;
    for (size_t i = 0; i < r->set->n; i++) nheld += r->held[i];
    if (write_sweep_csv(r, o, PART_TUNE, "tune.csv") != 0 ||
        (nheld && write_sweep_csv(r, o, PART_HELD, "tune_heldout.csv") != 0) ||
        write_svg(r, o, rec, 4) != 0 || write_summary(r, o, rec, 4, checked, source) != 0) {
        fprintf(stderr, "tune: writing to %s: %s\n", o->out, strerror(errno));
        rc = -1;
        goto drop;
    }
    printf("spot check: %d CACHE.GET calls agreed with the sweep\n", checked);
    printf("wrote %s/tune.csv %s/tune.md %s/tune.svg %s/tune_recommend.csv\n", o->out, o->out,
           o->out, o->out);
    rc = 0;
drop:
    if (!o->keep) ns_drop(c, o);
done:
    free(rep);
    return rc;
}

int sb_cmd_tune(int argc, char **argv)
{
    tune_opts o;
    if (parse_opts(argc, argv, &o) != 0) return 2;
    char nsbuf[64];
    if (!o.ns) {
        snprintf(nsbuf, sizeof nsbuf, "sbench-tune-%ld", (long)getpid());
        o.ns = nsbuf;
    }
    tune_set set = {0};
    const char *source;
    if (load_pairs(&o, &set, &source) != 0) {
        tune_set_free(&set);   /* pairs read before the bad line */
        return 1;
    }
    size_t n = set.n;
    tune_run r = {.set = &set, .ua = calloc(n, sizeof(size_t)),
                  .alias = calloc(n, sizeof(long)), .served = calloc(n, sizeof(long)),
                  .score = calloc(n, sizeof(double)), .held = calloc(n, 1)};
    int rc = 1;
    sc_conn *c = NULL;
    if (!r.ua || !r.alias || !r.served || !r.score || !r.held) {
        fputs("tune: out of memory\n", stderr);
        goto done;
    }
    tune_split(&set, o.holdout, o.seed, r.held);
    sc_options so = {.user = o.user, .password = o.password, .tenant = o.tenant,
                     .timeout_ms = 30000, .client_name = "simcache-bench-tune"};
    c = sc_connect_opts(o.host, o.port, &so);
    if (!c || sc_errcode(c) != 0) {
        fprintf(stderr, "tune: connecting to %s:%d: %s\n", o.host, o.port,
                c ? sc_errstr(c) : "out of memory");
        goto done;
    }
    int r2 = run_all(c, &o, &r, source);
    rc = r2 == 0 ? 0 : r2 == 3 ? 3 : 1;
done:
    sc_free(c);
    free(r.ua);
    free(r.alias);
    free(r.served);
    free(r.score);
    free(r.held);
    tune_set_free(&set);
    return rc;
}
