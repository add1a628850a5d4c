/* test_lexscore_memo.c -- lexscore.c note 7: each lex_doc memoises its
 * squared weight norm for one table state and kind weights.
 *
 * The query's norm memo (note 8, lex_qmemo) is checked the same way.
 *
 * Threats: a memo survives a change of the table (an add or a remove
 * changes every IDF) and scores a candidate with a stale norm; a memo made
 * with one table or one set of kind weights is used with another; the memo
 * path adds the dot product in another order and a score differs in the
 * last bit, which can flip a threshold or margin decision. Every score is
 * compared bit for bit with the same document freshly copied (no memo). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/embed_builtin.h"
#include "server/lexscore.h"

#define ND 200

static const char *const w1[] = {"reverse", "sort", "copy", "delete", "print", "merge",
                                 "split", "open", "close", "compare", "parse", "encode"};
static const char *const w2[] = {"list", "dict", "string", "file", "socket", "thread",
                                 "vector", "matrix", "branch", "commit"};
static const char *const w3[] = {"python", "rust", "go", "java", "c", "bash", "sql"};

static void prompt_of(char *b, size_t n, int i) {
    snprintf(b, n, "how do I %s a %s in %s without the %s %d", w1[i % 12], w2[(i / 12) % 10],
             w3[(i / 120) % 7], w2[(i * 7) % 10], i % 3);
}

static lex_doc *doc_of(embed_feats *f, const char *s) {
    cr_assert_eq(embed_builtin_features(s, strlen(s), f), EMBED_OK);
    lex_doc *d = lex_doc_create(f->ids, f->tfs, f->n);
    cr_assert_not_null(d);
    return d;
}

static lex_doc *fresh_copy(const lex_doc *d) {
    return lex_doc_create(d->ids, lex_doc_tfs(d), d->n);
}

/* Picks over cands[0..10) for query q with memoised docs and the query's
 * memo *qm (kept by the caller across table changes, as the embedding
 * cache keeps it) and with fresh copies and no memo; asserts every number
 * is bit-identical. */
static void same_pick(const lex_idf *t, const lex_params *p, const embed_feats *q,
                      lex_doc **cands, lex_qmemo *qm) {
    lex_doc *copies[10];
    for (int i = 0; i < 10; i++) copies[i] = fresh_copy(cands[i]);
    lex_pick a, b;
    cr_assert_eq(lexscore_pick_memo(t, p, q->ids, q->tfs, q->n, qm,
                                    (const lex_doc *const *)cands, 10, &a), LEX_OK);
    cr_assert_neq(qm->version, 0);
    cr_assert_eq(lexscore_pick(t, p, q->ids, q->tfs, q->n, (const lex_doc *const *)copies, 10,
                               &b), LEX_OK);
    cr_assert_eq(a.verdict, b.verdict);
    cr_assert_eq(a.index, b.index);
    cr_assert_eq(memcmp(&a.best, &b.best, sizeof a.best), 0, "best %.9g vs %.9g", a.best,
                 b.best);
    cr_assert_eq(memcmp(&a.runner_up, &b.runner_up, sizeof a.runner_up), 0);
    for (int i = 0; i < 10; i++) {
        float x = lexscore_similarity(t, p, q->ids, q->tfs, q->n, cands[i]);
        float y = lexscore_similarity(t, p, q->ids, q->tfs, q->n, copies[i]);
        cr_assert_eq(memcmp(&x, &y, sizeof x), 0, "candidate %d: %.9g vs %.9g", i, x, y);
        free(copies[i]);
    }
}

Test(lexscore_memo, scores_are_bit_identical_and_follow_every_table_change) {
    embed_feats f, q;
    embed_feats_init(&f);
    embed_feats_init(&q);
    lex_idf *t;
    cr_assert_eq(lexidf_create(LEXIDF_BITS_DEFAULT, &t), LEX_OK);
    static lex_doc *docs[ND];
    char b[256];
    for (int i = 0; i < ND; i++) {
        prompt_of(b, sizeof b, i);
        docs[i] = doc_of(&f, b);
        cr_assert_eq(lexidf_add(t, docs[i]->ids, docs[i]->n), LEX_OK);
    }
    lex_params p;
    lex_params_default(&p);
    lex_doc *extra = NULL;
    lex_qmemo *qms[20];
    for (int k = 0; k < 20; k++) qms[k] = calloc(1, 32 + 4 * 4096);   /* zeroed: empty */
    for (int round = 0; round < 6; round++) {
        for (int k = 0; k < 20; k++) {
            prompt_of(b, sizeof b, k * 9 + 1);
            strcat(b, " please");
            cr_assert_eq(embed_builtin_features(b, strlen(b), &q), EMBED_OK);
            lex_doc **cands = docs + (k * 9) % (ND - 10);
            cr_assert_leq(q.n, 4096);
            same_pick(t, &p, &q, cands, qms[k]);   /* memos filled (or stale) */
            same_pick(t, &p, &q, cands, qms[k]);   /* memos used */
        }
        switch (round) {
        case 0:   /* an add changes N and some df: every memo is stale */
            extra = doc_of(&f, "how do I reverse a list in python without the list 0");
            cr_assert_eq(lexidf_add(t, extra->ids, extra->n), LEX_OK);
            break;
        case 1:   /* a remove restores the counters, still a new state */
            cr_assert_eq(lexidf_remove(t, extra->ids, extra->n), LEX_OK);
            break;
        case 2:
            p.kind_weight[1] = 0.5f;
            break;
        case 3:
            p.kind_weight[1] = 1.0f;
            break;
        default:
            break;
        }
    }
    /* a memo made against another table is not used with this one */
    lex_idf *u;
    cr_assert_eq(lexidf_create(LEXIDF_BITS_DEFAULT, &u), LEX_OK);
    for (int i = 0; i < ND / 2; i++) lexidf_add(u, docs[i]->ids, docs[i]->n);
    cr_assert_eq(embed_builtin_features("sort a dict in rust", 19, &q), EMBED_OK);
    lex_qmemo *qm = qms[0];
    memset(qm, 0, sizeof *qm);
    same_pick(t, &p, &q, docs, qm);
    same_pick(u, &p, &q, docs, qm);
    same_pick(t, &p, &q, docs, qm);
    for (int k = 0; k < 20; k++) free(qms[k]);
    lexidf_free(u);
    free(extra);
    for (int i = 0; i < ND; i++) free(docs[i]);
    lexidf_free(t);
    embed_feats_free(&f);
    embed_feats_free(&q);
}

Test(lexscore_memo, a_new_document_is_charged_for_its_features_and_the_memo) {
    uint32_t ids[3] = {1, 2, 3};
    uint8_t tfs[3] = {1, 2, 3};
    lex_doc *d = lex_doc_create(ids, tfs, 3);
    cr_assert_eq(lex_doc_bytes(d), sizeof *d + 15);
    cr_assert_eq(d->memo_version, 0);
    cr_assert_eq(lex_doc_tfs(d)[2], 3);
    free(d);
}
