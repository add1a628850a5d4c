/* test_vset.c -- the vector-set type (server/vset.c) against a trivial
 * model, and the commands through a fake client (no pool: inline search).
 *
 * Threats: the name -> id -> name maps drifting apart after replacements
 * and removals (a search would then name the wrong element); a replaced
 * vector leaving its old id live in the graph; attribute counts drifting;
 * the graph invariants broken by the server's insert/delete pattern;
 * a reference held by a search not keeping the set alive after the
 * keyspace dropped it (ASan catches the use after free). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/commands.h"
#include "server/config.h"
#include "server/keyspace.h"
#include "server/net.h"
#include "server/vset.h"
#include "fake_client.h"

#define DIM 8
#define NAMES 300

typedef struct model {
    int live;
    float vec[DIM];
    int has_attr;
} model;

static uint64_t rs = 12345;
static uint32_t rnd(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (uint32_t)rs;
}

static void random_vec(float *v) {
    for (int i = 0; i < DIM; i++) v[i] = (float)((int)(rnd() % 2001) - 1000) / 1000.0f;
    v[0] += 2.0f;   /* never zero */
}

static float norm(const float *v) {
    double s = 0;
    for (int i = 0; i < DIM; i++) s += (double)v[i] * v[i];
    return (float)sqrt(s);
}

static vset_quant model_quant; /* BIN: VEMB gives the signs as +-1 */

static void check_against_model(vset *v, const model *m) {
    size_t live = 0, attrs = 0;
    char name[32];
    float got[DIM];
    for (int i = 0; i < NAMES; i++) {
        snprintf(name, sizeof name, "ele:%d", i);
        vset_elem *e = vset_find(v, name, strlen(name));
        cr_assert_eq(e != NULL, m[i].live, "%s presence", name);
        if (!e) continue;
        live++;
        attrs += m[i].has_attr;
        cr_assert_eq(vset_by_id(v, e->id), e, "%s: id map disagrees", name);
        cr_assert_eq(e->attr != NULL, m[i].has_attr);
        cr_assert_eq(vset_get_vector(v, e, got), 0);
        for (int d = 0; d < DIM; d++)
            cr_assert_float_eq(got[d],
                               model_quant != VSET_BIN ? m[i].vec[d]
                                                       : m[i].vec[d] > 0 ? 1.0f : -1.0f,
                               1e-4f, "%s[%d]", name, d);
    }
    cr_assert_eq(v->count, live);
    cr_assert_eq(hnsw_count(v->h), live, "graph holds ids no element owns");
    cr_assert_eq(v->nattrs, attrs);
    char err[256];
    cr_assert_eq(hnsw_validate(v->h, err, sizeof err), 0, "%s", err);
}

static void run_model(vset_quant q) {
    vset *v;
    model_quant = q;
    cr_assert_eq(vset_create(DIM, q, 8, &v), 0);
    model m[NAMES];
    memset(m, 0, sizeof m);
    char name[32];
    for (int step = 0; step < 4000; step++) {
        int i = (int)(rnd() % NAMES);
        snprintf(name, sizeof name, "ele:%d", i);
        uint32_t op = rnd() % 10;
        if (op < 6) {                                   /* add or replace */
            float vec[DIM];
            random_vec(vec);
            int set_attr = rnd() % 3 == 0, added;
            const char *attr = rnd() % 2 ? "{\"a\":1}" : "";
            cr_assert_eq(vset_add(v, name, strlen(name), vec, norm(vec), 50, set_attr, attr,
                                  strlen(attr), &added), 0);
            cr_assert_eq(added, !m[i].live);
            m[i].live = 1;
            memcpy(m[i].vec, vec, sizeof vec);
            if (set_attr) m[i].has_attr = attr[0] != '\0';
        } else if (op < 9) {
            cr_assert_eq(vset_remove(v, name, strlen(name)), m[i].live);
            m[i].live = 0;
            m[i].has_attr = 0;
        } else {
            vset_elem *e = vset_find(v, name, strlen(name));
            if (e) {
                cr_assert_eq(vset_set_attr(v, e, "[1,2]", 5), 0);
                m[i].has_attr = 1;
            }
        }
        if (step % 500 == 499) check_against_model(v, m);
    }
    check_against_model(v, m);
    vset_unref(v);
}

Test(vset_model, q8_dictionary_ids_and_graph_agree_with_a_trivial_model) { run_model(VSET_Q8); }

Test(vset_model, noquant_dictionary_ids_and_graph_agree_with_a_trivial_model) {
    run_model(VSET_NOQUANT);
}

Test(vset_model, bin_dictionary_ids_and_graph_agree_with_a_trivial_model) { run_model(VSET_BIN); }

Test(vset_model, bad_parameters_create_nothing) {
    vset *v = NULL;
    cr_assert_lt(vset_create(0, VSET_Q8, 16, &v), 0);
    cr_assert_lt(vset_create(VSET_MAX_DIM + 1, VSET_Q8, 16, &v), 0);
    cr_assert_lt(vset_create(4, VSET_Q8, 3, &v), 0);
    cr_assert_lt(vset_create(4, VSET_BIN, 4097, &v), 0);
    cr_assert_null(v);
}

/* ---- commands through a fake client ---- */

static client *c;

static void setup(void) { c = fake_client_start(); }
static void teardown(void) { fake_client_stop(c); }

TestSuite(vset_cmd, .init = setup, .fini = teardown);

#define mb fake_mb

static void exchange(const char *in, const char *want) { fake_exchange(c, in, 0, want); }

Test(vset_cmd, inline_search_and_replies_in_both_protocols) {
    exchange("VADD k VALUES 2 1 0 a\r\n", ":1\r\n");
    exchange(mb("VADD", "k", "VALUES", "2", "0", "1", "b", "SETATTR", "{\"x\":1}", NULL), ":1\r\n");
    exchange("VADD k VALUES 2 1 0 a\r\n", ":0\r\n");
    exchange("VSIM k VALUES 2 1 0 WITHSCORES\r\n", "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n0.5\r\n");
    const char *hello = "HELLO 3\r\n";
    cr_assert_eq(client_feed(c, hello, strlen(hello)), 0);
    client_output_clear(c);
    exchange("VSIM k VALUES 2 1 0 WITHSCORES\r\n", "%2\r\n$1\r\na\r\n,1\r\n$1\r\nb\r\n,0.5\r\n");
    exchange("VSIM k VALUES 2 1 0 WITHSCORES WITHATTRIBS COUNT 1\r\n",
             "%1\r\n$1\r\na\r\n*2\r\n,1\r\n_\r\n");
    exchange("VSIM k ELE b WITHATTRIBS COUNT 1\r\n", "%1\r\n$1\r\nb\r\n$7\r\n{\"x\":1}\r\n");
    exchange("VSIM k ELE b COUNT 1\r\n", "*1\r\n$1\r\nb\r\n");
    exchange("VSIM nokey ELE b\r\n", "*0\r\n");
}

Test(vset_cmd, wrongtype_both_ways_and_last_vrem_deletes_the_key) {
    exchange("SET s x\r\n", "+OK\r\n");
    exchange("VADD s VALUES 2 1 0 a\r\n",
             "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
    exchange("VADD k VALUES 2 1 0 a\r\n", ":1\r\n");
    exchange("GET k\r\n", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
    exchange("TYPE k\r\n", "+vectorset\r\n");
    exchange("VREM k a\r\n", ":1\r\n");
    exchange("EXISTS k\r\n", ":0\r\n");
}

Test(vset_cmd, invalid_vectors_store_nothing) {
    exchange("VADD k VALUES 2 1 0 a\r\n", ":1\r\n");
    exchange("VADD k VALUES 2 nan 0 b\r\n", "-ERR invalid vector specification\r\n");
    exchange("VADD k VALUES 2 inf 0 b\r\n", "-ERR invalid vector specification\r\n");
    exchange("VADD k VALUES 2 1e39 0 b\r\n", "-ERR invalid vector specification\r\n");
    exchange("VADD k VALUES 2 0 0 b\r\n",
             "-ERR invalid vector specification: zero vector (cosine is undefined)\r\n");
    exchange("VADD k VALUES 3 1 0 0 b\r\n",
             "-ERR Vector dimension mismatch - got 3 but set has 2\r\n");
    exchange("VCARD k\r\n", ":1\r\n");
}

/* A search's reference keeps the set alive after DEL dropped the key's. */
Test(vset_cmd, reference_outlives_the_key) {
    exchange("VADD k VALUES 2 1 0 a\r\n", ":1\r\n");
    ks_entry *e = ks_lookup("k", 1, 0);
    cr_assert_not_null(e);
    vset *v = ks_obj(e, &vset_type);
    vset_ref(v);                         /* what an in-flight VSIM holds */
    exchange("DEL k\r\n", ":1\r\n");
    cr_assert(v->detached);
    hnsw_result r[1];
    float q[2] = {1, 0};
    cr_assert_eq(hnsw_search(v->h, q, 2, 1, 0, r), 1);
    cr_assert_eq(vset_by_id(v, r[0].id)->name[0], 'a');
    vset_unref(v);                       /* the last reference frees */
}
