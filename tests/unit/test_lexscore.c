/* test_lexscore.c -- hit-quality machinery, tested against the false hits
 * users complain about and the bookkeeping bugs that cause them: an IDF
 * table that drifts after deletes (add/remove not inverse), a remove of an
 * unknown entry corrupting counts, negations ("enable" vs "disable", "is X
 * safe" vs "is X not safe"), number swaps ("2 hours" vs "3 hours"),
 * identifier and entity swaps served as hits, and an ambiguous best match
 * served although a runner-up is as close. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/embed_builtin.h"
#include "server/lexscore.h"

static lex_doc *doc_of(const char *s) {
    embed_feats f;
    embed_feats_init(&f);
    cr_assert_eq(embed_builtin_features(s, strlen(s), &f), EMBED_OK, "embed \"%s\"", s);
    lex_doc *d = lex_doc_create(f.ids, f.tfs, f.n);
    cr_assert_not_null(d);
    embed_feats_free(&f);
    return d;
}

/* ---- IDF table ------------------------------------------------------- */

static const char *corpus[] = {
    "How do I reverse a list in Python?", "What is the difference between TCP and UDP?",
    "How can I center a div with CSS?", "Explain the CAP theorem in simple terms",
    "How do I read a CSV file with pandas?", "What does git rebase do?",
    "How do I undo the last git commit?", "How do I install Docker on Ubuntu?",
    "What is a foreign key in SQL?", "What are Redis persistence options?",
};
#define NC (sizeof corpus / sizeof corpus[0])

Test(lexidf, add_then_remove_in_any_order_restores_the_table) {
    for (uint32_t bits = LEXIDF_BITS_MIN; bits <= 18; bits += 10) { /* 8: many collisions */
        lex_idf *t;
        cr_assert_eq(lexidf_create(bits, &t), LEX_OK);
        uint64_t empty = lexidf_checksum(t);
        lex_doc *d[NC];
        for (size_t i = 0; i < NC; i++) d[i] = doc_of(corpus[i]);
        /* base state: the first three */
        for (size_t i = 0; i < 3; i++) cr_assert_eq(lexidf_add(t, d[i]->ids, d[i]->n), LEX_OK);
        uint64_t base = lexidf_checksum(t);
        float idf_before = lexidf_idf(t, d[0]->ids[0]);
        for (size_t i = 3; i < NC; i++) cr_assert_eq(lexidf_add(t, d[i]->ids, d[i]->n), LEX_OK);
        cr_assert_eq(lexidf_docs(t), NC);
        cr_assert_neq(lexidf_checksum(t), base);
        /* remove the later ones in an order unrelated to the adds */
        static const size_t order[] = {9, 3, 7, 5, 8, 4, 6};
        for (size_t k = 0; k < sizeof order / sizeof order[0]; k++)
            cr_assert_eq(lexidf_remove(t, d[order[k]]->ids, d[order[k]]->n), LEX_OK);
        cr_assert_eq(lexidf_docs(t), 3u);
        cr_assert_eq(lexidf_checksum(t), base, "bits %u: table differs after add+remove", bits);
        cr_assert_float_eq(lexidf_idf(t, d[0]->ids[0]), idf_before, 0.0);
        for (size_t i = 0; i < 3; i++) cr_assert_eq(lexidf_remove(t, d[i]->ids, d[i]->n), LEX_OK);
        cr_assert_eq(lexidf_checksum(t), empty);
        for (size_t i = 0; i < NC; i++) free(d[i]);
        lexidf_free(t);
    }
}

Test(lexidf, removing_an_entry_never_added_fails_and_changes_nothing) {
    lex_idf *t;
    cr_assert_eq(lexidf_create(16, &t), LEX_OK);
    lex_doc *a = doc_of("How do I reverse a list in Python?");
    lex_doc *b = doc_of("Completely different words: quantum chromodynamics lattice");
    cr_assert_eq(lexidf_remove(t, a->ids, a->n), LEX_ESTATE, "remove from an empty table");
    cr_assert_eq(lexidf_add(t, a->ids, a->n), LEX_OK);
    uint64_t before = lexidf_checksum(t);
    cr_assert_eq(lexidf_remove(t, b->ids, b->n), LEX_ESTATE);
    cr_assert_eq(lexidf_checksum(t), before, "a failed remove must leave the table unchanged");
    cr_assert_eq(lexidf_docs(t), 1u);
    free(a);
    free(b);
    lexidf_free(t);
}

Test(lexidf, idf_is_smoothed_log_ratio_and_bits_are_bounded) {
    lex_idf *t;
    cr_assert_eq(lexidf_create(LEXIDF_BITS_MIN - 1, &t), LEX_EINVAL);
    cr_assert_eq(lexidf_create(LEXIDF_BITS_MAX + 1, &t), LEX_EINVAL);
    cr_assert_eq(lexidf_create(18, &t), LEX_OK);
    cr_assert_geq(lexidf_memory_bytes(t), (size_t)8 << 18);
    lex_doc *d = doc_of("alpha beta");
    for (int i = 0; i < 9; i++) lexidf_add(t, d->ids, d->n);
    /* a feature in every document: ln(10/10) + 1 = 1; an unseen one:
     * ln(10/1) + 1 */
    cr_assert_float_eq(lexidf_idf(t, d->ids[0]), 1.0f, 1e-6);
    lex_doc *u = doc_of("gamma");
    cr_assert_float_eq(lexidf_idf(t, u->ids[0]), logf(10.0f) + 1.0f, 1e-5);
    free(d);
    free(u);
    lexidf_free(t);
}

/* ---- gate -------------------------------------------------------------- */

static int gate(const char *a, const char *b) {
    lex_doc *x = doc_of(a), *y = doc_of(b);
    int g = lexscore_gate(x->ids, x->n, y->ids, y->n);
    int g2 = lexscore_gate(y->ids, y->n, x->ids, x->n);
    cr_assert_eq(g, g2, "gate must be symmetric: \"%s\" / \"%s\"", a, b);
    free(x);
    free(y);
    return g;
}

Test(gate, negation_and_opposite_verbs_block_the_hit) {
    cr_assert_eq(gate("how do I enable the cache", "how do I disable the cache"), 0);
    cr_assert_eq(gate("how do I enable the cache", "how to enabling caches"), 1);
    cr_assert_eq(gate("enabling the cache", "the cache was disabled"), 0);
    cr_assert_eq(gate("is redis safe", "is redis not safe"), 0);
    cr_assert_eq(gate("is redis safe", "is redis unsafe"), 0);
    cr_assert_eq(gate("why doesn't it work", "why does it work"), 0);
    cr_assert_eq(gate("why doesn't it work", "why does it not work"), 1);
    cr_assert_eq(gate("can I use it without a license", "can I use it with a license"), 0);
    cr_assert_eq(gate("how to install numpy", "how to uninstall numpy"), 0);
    cr_assert_eq(gate("how do I add a column", "how do I remove a column"), 0);
    cr_assert_eq(gate("allow traffic on port", "deny traffic on port"), 0);
    /* both sides of a pair on one side: "from input to output" is not an
     * opposition to "input" */
    cr_assert_eq(gate("map input to output", "map the input"), 1);
}

Test(gate, every_polar_pair_is_recognised_in_base_form) {
    /* The table in embed_builtin.c holds stems; this checks each pair's
     * base words reach them through the stemmer. */
    static const char *pairs[][2] = {
        {"enable", "disable"}, {"allow", "deny"}, {"add", "remove"},
        {"increase", "decrease"}, {"include", "exclude"}, {"install", "uninstall"},
        {"encrypt", "decrypt"}, {"import", "export"}, {"upload", "download"},
        {"before", "after"}, {"min", "max"}, {"minimum", "maximum"},
        {"true", "false"}, {"start", "stop"}, {"open", "close"}, {"push", "pull"},
        {"lock", "unlock"}, {"connect", "disconnect"}, {"show", "hide"},
        {"accept", "reject"}, {"safe", "unsafe"}, {"valid", "invalid"},
        {"more", "less"}, {"higher", "lower"}, {"faster", "slower"},
        {"better", "worse"}, {"first", "last"}, {"larger", "smaller"},
        {"encode", "decode"}, {"serialize", "deserialize"}, {"compress", "decompress"},
        {"mount", "unmount"}, {"subscribe", "unsubscribe"}, {"left", "right"},
        {"input", "output"}, {"read", "write"}, {"sync", "async"},
        {"synchronous", "asynchronous"}, {"public", "private"}, {"client", "server"},
        {"ascending", "descending"}, {"upper", "lower"}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        char a[96], b[96];
        snprintf(a, sizeof a, "how to %s the thing", pairs[i][0]);
        snprintf(b, sizeof b, "how to %s the thing", pairs[i][1]);
        cr_assert_eq(gate(a, b), 0, "pair %s/%s not gated", pairs[i][0], pairs[i][1]);
    }
}

Test(gate, number_swaps_block_the_hit) {
    cr_assert_eq(gate("cook rice for 2 hours", "cook rice for 3 hours"), 0);
    cr_assert_eq(gate("cook rice for 2 hours", "Cook rice for 2 hours!"), 1);
    cr_assert_eq(gate("convert 2 to 3", "convert 3 to 2"), 0, "order of numbers matters");
    cr_assert_eq(gate("python 3.11 features", "python 3.12 features"), 0);
    cr_assert_eq(gate("in v2.10.0", "in version 2.10.0"), 1, "leading letters are not the number");
    cr_assert_eq(gate("cook it for two hours", "cook it for 2 hours"), 1);
    cr_assert_eq(gate("cook it for two hours", "cook it for three hours"), 0);
    cr_assert_eq(gate("set it to -5", "set it to 5"), 0);
    cr_assert_eq(gate("what is 2+2", "what is 2+3"), 0);
}

Test(gate, identifier_swaps_block_the_hit) {
    cr_assert_eq(gate("LOAD_HUB is not available", "UPLOAD_DATASET is not available"), 0);
    cr_assert_eq(gate("what does max_tokens do", "What does `max_tokens` do?"), 1);
}

/* ---- pick: threshold, margin, gate and swap --------------------------- */

typedef struct fixture {
    lex_idf *t;
    lex_doc *d[NC + 4];
    size_t n;
} fixture;

static void fx_init(fixture *fx, const char *const *extra, size_t nextra) {
    cr_assert_eq(lexidf_create(LEXIDF_BITS_DEFAULT, &fx->t), LEX_OK);
    fx->n = 0;
    for (size_t i = 0; i < NC; i++) fx->d[fx->n++] = doc_of(corpus[i]);
    for (size_t i = 0; i < nextra; i++) fx->d[fx->n++] = doc_of(extra[i]);
    for (size_t i = 0; i < fx->n; i++) lexidf_add(fx->t, fx->d[i]->ids, fx->d[i]->n);
}

static void fx_free(fixture *fx) {
    for (size_t i = 0; i < fx->n; i++) free(fx->d[i]);
    lexidf_free(fx->t);
}

static lex_pick pick(fixture *fx, const lex_params *p, const char *q) {
    embed_feats f;
    embed_feats_init(&f);
    cr_assert_eq(embed_builtin_features(q, strlen(q), &f), EMBED_OK);
    lex_pick pk;
    cr_assert_eq(lexscore_pick(fx->t, p, f.ids, f.tfs, f.n, (const lex_doc *const *)fx->d,
                               (uint32_t)fx->n, &pk), LEX_OK);
    embed_feats_free(&f);
    return pk;
}

Test(pick, identical_prompt_scores_one_and_hits) {
    fixture fx;
    fx_init(&fx, NULL, 0);
    lex_params p;
    lex_params_default(&p);
    lex_pick pk = pick(&fx, &p, corpus[4]);
    cr_assert_eq(pk.verdict, LEX_HIT);
    cr_assert_eq(pk.index, 4);
    cr_assert_float_eq(pk.best, 1.0f, 1e-4);
    cr_assert_lt(pk.runner_up, pk.best - p.margin);
    fx_free(&fx);
}

Test(pick, two_near_identical_entries_are_ambiguous_and_miss_on_margin) {
    static const char *extra[] = {"How do I reverse a list in Python 3?"};
    fixture fx;
    fx_init(&fx, extra, 1);
    lex_params p;
    lex_params_default(&p);
    p.gate = 0; /* with the gate, "3" would separate them: test the margin alone */
    lex_pick pk = pick(&fx, &p, "how do i reverse a list in python");
    cr_assert_eq(pk.verdict, LEX_MISS_MARGIN, "verdict %d best %.3f runner-up %.3f", pk.verdict,
                 pk.best, pk.runner_up);
    cr_assert_geq(pk.best, p.threshold);
    /* with no margin required the better one is served */
    p.margin = 0;
    pk = pick(&fx, &p, "how do i reverse a list in python");
    cr_assert_eq(pk.verdict, LEX_HIT);
    cr_assert_eq(pk.index, 0);
    fx_free(&fx);
}

Test(pick, gated_candidate_is_not_a_runner_up) {
    static const char *extra[] = {"How do I enable the query cache?",
                                  "How do I disable the query cache?"};
    fixture fx;
    fx_init(&fx, extra, 2);
    lex_params p;
    lex_params_default(&p);
    lex_pick pk = pick(&fx, &p, "how can I enable the query cache");
    cr_assert_eq(pk.verdict, LEX_HIT, "verdict %d best %.3f ru %.3f", pk.verdict, pk.best,
                 pk.runner_up);
    cr_assert_eq(pk.index, (int)NC);
    pk = pick(&fx, &p, "how do I disable the query cache");
    cr_assert_eq(pk.verdict, LEX_HIT);
    cr_assert_eq(pk.index, (int)NC + 1);
    fx_free(&fx);
}

Test(pick, below_threshold_misses) {
    fixture fx;
    fx_init(&fx, NULL, 0);
    lex_params p;
    lex_params_default(&p);
    p.swap_df = 0; /* the swap test would also refuse it: isolate the threshold */
    lex_pick pk = pick(&fx, &p, "Write a haiku about autumn leaves");
    cr_assert_eq(pk.verdict, LEX_MISS_THRESHOLD, "verdict %d best %.3f", pk.verdict, pk.best);
    cr_assert_lt(pk.best, p.threshold);
    fx_free(&fx);
}

Test(pick, entity_swap_with_shared_frame_misses) {
    fixture fx;
    fx_init(&fx, NULL, 0);
    lex_params p;
    lex_params_default(&p);
    lex_pick pk = pick(&fx, &p, "How do I read a JSON file with Go?");
    cr_assert_neq(pk.verdict, LEX_HIT, "served \"%s\" at %.3f", pk.index >= 0 ? corpus[pk.index] : "-",
                  pk.best);
    /* the swap test is what stops it: without it the frame alone scores
     * above the threshold */
    p.swap_df = 0;
    pk = pick(&fx, &p, "How do I read a JSON file with Go?");
    cr_assert_eq(pk.index, 4);
    cr_assert_geq(pk.best, p.threshold);
    /* an insertion is not a swap */
    lex_params_default(&p);
    pk = pick(&fx, &p, "How do I quickly read a CSV file with pandas?");
    cr_assert_eq(pk.verdict, LEX_HIT);
    cr_assert_eq(pk.index, 4);
    fx_free(&fx);
}

Test(pick, no_candidates_all_gated_null_entries_and_bad_args) {
    fixture fx;
    fx_init(&fx, NULL, 0);
    lex_params p;
    lex_params_default(&p);
    embed_feats f;
    embed_feats_init(&f);
    embed_builtin_features("how do I install Docker on Ubuntu 22", 36, &f);
    lex_pick pk;
    cr_assert_eq(lexscore_pick(fx.t, &p, f.ids, f.tfs, f.n, NULL, 0, &pk), LEX_OK);
    cr_assert_eq(pk.verdict, LEX_MISS_NONE);
    cr_assert_eq(pk.index, -1);
    const lex_doc *only[2] = {NULL, fx.d[7]}; /* the Docker entry: number differs */
    cr_assert_eq(lexscore_pick(fx.t, &p, f.ids, f.tfs, f.n, only, 2, &pk), LEX_OK);
    cr_assert_eq(pk.verdict, LEX_MISS_GATE);
    const lex_doc *none[1] = {NULL};
    cr_assert_eq(lexscore_pick(fx.t, &p, f.ids, f.tfs, f.n, none, 1, &pk), LEX_OK);
    cr_assert_eq(pk.verdict, LEX_MISS_NONE);
    cr_assert_eq(lexscore_pick(NULL, &p, f.ids, f.tfs, f.n, none, 1, &pk), LEX_EINVAL);
    cr_assert_eq(lexscore_pick(fx.t, &p, f.ids, f.tfs, f.n, NULL, 1, &pk), LEX_EINVAL);
    embed_feats_free(&f);
    fx_free(&fx);
}

Test(pick, similarity_is_symmetric_bounded_and_ignores_gate_features) {
    fixture fx;
    fx_init(&fx, NULL, 0);
    lex_params p;
    lex_params_default(&p);
    lex_doc *a = doc_of("cook rice for 2 hours"), *b = doc_of("cook rice for 3 hours");
    float ab = lexscore_similarity(fx.t, &p, a->ids, lex_doc_tfs(a), a->n, b);
    float ba = lexscore_similarity(fx.t, &p, b->ids, lex_doc_tfs(b), b->n, a);
    cr_assert_float_eq(ab, ba, 1e-5);
    cr_assert_gt(ab, 0.0f);
    cr_assert_leq(ab, 1.0f);
    cr_assert_float_eq(lexscore_similarity(fx.t, &p, a->ids, lex_doc_tfs(a), a->n, a), 1.0f, 1e-5);
    free(a);
    free(b);
    fx_free(&fx);
}

/* ---- the headline figure, as a regression guard ----------------------- */

#include <cjson/cJSON.h>

#include "index/hnsw.h"

/* ../shared/data/gptcache_mock_pairs.json next to the repository root,
 * located from this file's path (cmake compiles it by absolute path). */
static char *pairs_path(void) {
    const char *me = __FILE__;
    const char *cut = strstr(me, "tests/unit/test_lexscore.c");
    if (!cut) return NULL;
    size_t n = (size_t)(cut - me);
    const char *rel = "../shared/data/gptcache_mock_pairs.json";
    char *p = malloc(n + strlen(rel) + 1);
    memcpy(p, me, n);
    strcpy(p + n, rel);
    return p;
}

static cJSON *load_pairs(void) {
    char *path = pairs_path();
    FILE *f = path ? fopen(path, "rb") : NULL;
    free(path);
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    buf[got] = 0;
    cJSON *root = cJSON_Parse(buf);
    free(buf);
    return root;
}

/* Stores every distinct origin, asks with every `similar` through the full
 * pipeline at default settings (embed -> HNSW top-10 -> lexscore_pick) and
 * checks the target: >= 50% correct hits, <= 1% false hits. The
 * bench (embed-quality) prints the full tables; this pins the claim. */
Test(quality, gptcache_pairs_meet_the_target_at_defaults, .timeout = 300) {
    cJSON *root = load_pairs();
    if (!root)
        cr_skip_test("../shared/data/gptcache_mock_pairs.json not found next to the checkout: "
                     "quality regression test skipped");
    int n = cJSON_GetArraySize(root);
    cr_assert_gt(n, 900);
    hnsw_params hp;
    hnsw_params_default(&hp, EMBED_BUILTIN_DIM_DEFAULT);
    hnsw *h;
    cr_assert_eq(hnsw_create(&hp, &h), HNSW_OK);
    lex_idf *t;
    cr_assert_eq(lexidf_create(LEXIDF_BITS_DEFAULT, &t), LEX_OK);
    const char **origin = calloc((size_t)n, sizeof *origin);  /* by hnsw id */
    lex_doc **docs = calloc((size_t)n, sizeof *docs);         /* by hnsw id */
    int norig = 0;
    float v[EMBED_BUILTIN_DIM_DEFAULT];
    embed_feats f;
    embed_feats_init(&f);
    cJSON *it;
    cJSON_ArrayForEach(it, root) {
        const char *o = cJSON_GetObjectItem(it, "origin")->valuestring;
        int dup = 0;
        for (int i = 0; i < norig && !dup; i++) dup = strcmp(origin[i], o) == 0;
        if (dup) continue; /* one exact key per distinct prompt */
        cr_assert_eq(embed_builtin(o, strlen(o), EMBED_BUILTIN_DIM_DEFAULT, v, &f), EMBED_OK);
        uint32_t id;
        cr_assert_eq(hnsw_insert(h, v, EMBED_BUILTIN_DIM_DEFAULT, &id), HNSW_OK);
        cr_assert_eq(id, (uint32_t)norig, "ids are dense from 0 without deletes");
        origin[id] = o;
        docs[id] = lex_doc_create(f.ids, f.tfs, f.n);
        lexidf_add(t, f.ids, f.n);
        norig++;
    }
    lex_params p;
    lex_params_default(&p);
    int correct = 0, wrong = 0, queries = 0;
    cJSON_ArrayForEach(it, root) {
        const char *o = cJSON_GetObjectItem(it, "origin")->valuestring;
        const char *s = cJSON_GetObjectItem(it, "similar")->valuestring;
        queries++;
        cr_assert_eq(embed_builtin(s, strlen(s), EMBED_BUILTIN_DIM_DEFAULT, v, &f), EMBED_OK);
        hnsw_result res[10];
        int k = hnsw_search(h, v, EMBED_BUILTIN_DIM_DEFAULT, 10, 0, res);
        cr_assert_geq(k, 1);
        const lex_doc *cands[10];
        for (int j = 0; j < k; j++) cands[j] = docs[res[j].id];
        lex_pick pk;
        cr_assert_eq(lexscore_pick(t, &p, f.ids, f.tfs, f.n, cands, (uint32_t)k, &pk), LEX_OK);
        if (pk.verdict != LEX_HIT) continue;
        if (strcmp(origin[res[pk.index].id], o) == 0) correct++;
        else wrong++;
    }
    double c = 100.0 * correct / queries, w = 100.0 * wrong / queries;
    cr_log_info("gptcache pairs at defaults: %.1f%% correct, %.2f%% false (%d queries)", c, w,
                queries);
    cr_assert_geq(c, 50.0, "correct hits %.1f%% < 50%%", c);
    cr_assert_leq(w, 1.0, "false hits %.2f%% > 1%%", w);
    for (int i = 0; i < norig; i++) free(docs[i]);
    free(docs);
    free(origin);
    embed_feats_free(&f);
    lexidf_free(t);
    hnsw_free(h);
    cJSON_Delete(root);
}
