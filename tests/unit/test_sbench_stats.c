/* test_sbench_stats.c -- simcache-bench's statistics and pair-file parser.
 *
 * The tuner's recommendations are only as good as its intervals and its
 * reading of the labelled file, so both are pinned here: Wilson bounds
 * against published values and their invariants, binomial quantiles against
 * a direct sum, the prediction interval's edges, and every way a TSV line
 * can be malformed. The bench sources are compiled into this test directly
 * (they live in the simcache-bench executable, not in a library).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/sbench/stats.c"
#include "bench/sbench/tune_data.c"

Test(wilson, matches_reference_values)
{
    double lo, hi;
    /* reference values from the closed form evaluated independently (Python) */
    sb_wilson(10, 100, SB_Z95, &lo, &hi);
    cr_assert_float_eq(lo, 0.05523, 1e-4);
    cr_assert_float_eq(hi, 0.17437, 1e-4);
    sb_wilson(1, 200, SB_Z95, &lo, &hi);
    cr_assert_float_eq(lo, 0.000883, 1e-5);
    cr_assert_float_eq(hi, 0.027774, 1e-5);
}

Test(wilson, zero_successes_start_at_zero_and_bound_at_z2_over_n_plus_z2)
{
    double lo, hi;
    sb_wilson(0, 200, SB_Z95, &lo, &hi);
    cr_assert_eq(lo, 0.0);
    cr_assert_float_eq(hi, SB_Z95 * SB_Z95 / (200 + SB_Z95 * SB_Z95), 1e-12);
    sb_wilson(200, 200, SB_Z95, &lo, &hi);
    cr_assert_eq(hi, 1.0);
    cr_assert_lt(lo, 1.0);
}

Test(wilson, empty_sample_is_the_whole_range)
{
    double lo, hi;
    sb_wilson(0, 0, SB_Z95, &lo, &hi);
    cr_assert(lo == 0.0 && hi == 1.0);
}

Test(wilson, always_contains_the_point_estimate_and_narrows_with_n)
{
    for (long n = 1; n <= 60; n++)
        for (long k = 0; k <= n; k++) {
            double lo, hi, p = (double)k / (double)n;
            sb_wilson(k, n, SB_Z95, &lo, &hi);
            cr_assert(lo >= 0.0 && hi <= 1.0 && lo <= p && p <= hi, "k=%ld n=%ld", k, n);
            double lo4, hi4;
            sb_wilson(4 * k, 4 * n, SB_Z95, &lo4, &hi4);
            cr_assert_lt(hi4 - lo4, hi - lo + 1e-12, "k=%ld n=%ld", k, n);
        }
}

/* Direct quantile from an exact pmf sum (n small enough for doubles). */
static long quantile_direct(long n, double p, double q)
{
    double cdf = 0.0, c = 1.0;
    for (long x = 0; x <= n; x++) {
        if (x > 0) c = c * (double)(n - x + 1) / (double)x;
        cdf += c * pow(p, (double)x) * pow(1 - p, (double)(n - x));
        if (cdf >= q - 1e-12) return x;
    }
    return n;
}

Test(binom_quantile, agrees_with_a_direct_sum)
{
    const double ps[] = {0.001, 0.01, 0.05, 0.3, 0.5, 0.9};
    const double qs[] = {0.025, 0.5, 0.975};
    for (long n = 1; n <= 40; n += 3)
        for (size_t i = 0; i < sizeof ps / sizeof *ps; i++)
            for (size_t j = 0; j < 3; j++)
                cr_assert_eq(sb_binom_quantile(n, ps[i], qs[j]),
                             quantile_direct(n, ps[i], qs[j]), "n=%ld p=%g q=%g", n, ps[i],
                             qs[j]);
    cr_assert_eq(sb_binom_quantile(10, 0.5, 0.5), 5);
}

Test(binom_quantile, degenerate_probabilities)
{
    cr_assert_eq(sb_binom_quantile(100, 0.0, 0.975), 0);
    cr_assert_eq(sb_binom_quantile(100, 1.0, 0.025), 100);
    cr_assert_eq(sb_binom_quantile(0, 0.5, 0.5), 0);
}

Test(predict_rate, covers_zero_for_a_rare_event_and_widens_the_wilson_interval)
{
    double lo, hi, wlo, whi;
    /* 1 false hit in 200: the CI excludes 0, yet 0 in 90 is likely */
    sb_wilson(1, 200, SB_Z95, &wlo, &whi);
    sb_predict_rate(1, 200, 90, &lo, &hi);
    cr_assert_gt(wlo, 0.0);
    cr_assert_eq(lo, 0.0);
    cr_assert_geq(hi, whi);
    sb_predict_rate(50, 100, 100, &lo, &hi);
    cr_assert(lo < 0.40 && hi > 0.60 && lo > 0.25 && hi < 0.75);
    sb_predict_rate(3, 10, 0, &lo, &hi);
    cr_assert(lo == 0.0 && hi == 1.0);
}

Test(quantile, nearest_rank)
{
    const double v[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    cr_assert_eq(sb_quantile_sorted(v, 10, 0.5), 5);
    cr_assert_eq(sb_quantile_sorted(v, 10, 0.99), 10);
    cr_assert_eq(sb_quantile_sorted(v, 10, 0.0), 1);
    cr_assert(isnan(sb_quantile_sorted(v, 0, 0.5)));
}

static int parse(const char *text, tune_pair *p, char *err)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", text);
    return tune_parse_line(buf, 7, p, err, 200);
}

Test(tsv, a_pair_with_and_without_category)
{
    tune_pair p;
    char err[200];
    cr_assert_eq(parse("is X safe\tis X not safe\t0\tnegation\r", &p, err), 1);
    cr_assert_str_eq(p.a, "is X safe");
    cr_assert_str_eq(p.b, "is X not safe");
    cr_assert_eq(p.label, 0);
    cr_assert_str_eq(p.cat, "negation");
    cr_assert_eq(p.line, 7);
    free(p.a); free(p.b); free(p.cat);
    cr_assert_eq(parse("a, \"quoted\"\tb\t1", &p, err), 1);
    cr_assert_str_eq(p.a, "a, \"quoted\"");
    cr_assert_null(p.cat);
    cr_assert_eq(p.label, 1);
    free(p.a); free(p.b);
}

Test(tsv, comments_and_blank_lines_are_skipped)
{
    tune_pair p;
    char err[200];
    cr_assert_eq(parse("# text_a\ttext_b\tlabel", &p, err), 0);
    cr_assert_eq(parse("", &p, err), 0);
    cr_assert_eq(parse("  \r", &p, err), 0);
}

Test(tsv, malformed_lines_are_refused_with_the_reason)
{
    tune_pair p;
    char err[200];
    cr_assert_eq(parse("no tab at all", &p, err), -1);
    cr_assert(strstr(err, "missing tab after text_a"), "%s", err);
    cr_assert_eq(parse("a\tb", &p, err), -1);
    cr_assert(strstr(err, "no label"), "%s", err);
    cr_assert_eq(parse("a\tb\tyes", &p, err), -1);
    cr_assert(strstr(err, "label must be 0 or 1, got 'yes'"), "%s", err);
    cr_assert_eq(parse("a\tb\t2", &p, err), -1);
    cr_assert_eq(parse("a\tb\t1 ", &p, err), -1);
    cr_assert_eq(parse("a\tb\t1\tcat\textra", &p, err), -1);
    cr_assert(strstr(err, "too many columns"), "%s", err);
    cr_assert_eq(parse(" \tb\t1", &p, err), -1);
    cr_assert(strstr(err, "empty text_a"), "%s", err);
    cr_assert_eq(parse("a\t\t1", &p, err), -1);
    cr_assert(strstr(err, "empty text_b"), "%s", err);
}

Test(tsv, file_errors_name_path_and_line)
{
    char path[] = "/tmp/sbench_tsv_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    const char *text = "# header\na\tb\t1\nc\td\t1\tparaphrase\nbroken line\n";
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    tune_set s = {0};
    char err[300];
    cr_assert_eq(tune_load_tsv(path, &s, err, sizeof err), -1);
    char want[100];
    snprintf(want, sizeof want, "%s:4: missing tab", path);
    cr_assert(strstr(err, want), "%s", err);
    tune_set_free(&s);
    unlink(path);
    cr_assert_eq(tune_load_tsv("/nonexistent/pairs.tsv", &s, err, sizeof err), -1);
    cr_assert(strstr(err, "No such file"), "%s", err);
}

/* The repository root from this file's path (CMake compiles it by its
 * absolute path). */
static void source_path(char *out, size_t cap, const char *rel)
{
    const char *f = __FILE__, *cut = strstr(f, "tests/unit/");
    snprintf(out, cap, "%.*s%s", cut ? (int)(cut - f) : 0, f, rel);
}

Test(tsv, the_bundled_set_loads_with_both_labels_and_categories)
{
    tune_set s = {0};
    char err[300], path[1024];
    source_path(path, sizeof path, "bench/data/tune_pairs.tsv");
    cr_assert_eq(tune_load_tsv(path, &s, err, sizeof err), 0, "%s", err);
    long pos = 0, cat = 0;
    for (size_t i = 0; i < s.n; i++) {
        pos += s.p[i].label;
        cat += s.p[i].cat != NULL;
    }
    cr_assert_gt(s.n, 250);
    cr_assert(pos > 100 && (long)s.n - pos > 100);
    cr_assert_eq(cat, (long)s.n);
    tune_set_free(&s);
}

Test(split, stratified_seeded_and_reproducible)
{
    tune_set s = {0};
    for (int i = 0; i < 100; i++) {
        tune_pair p = {.a = strdup("a"), .b = strdup("b"), .label = i < 30, .line = i + 1};
        cr_assert_eq(set_push(&s, &p), 0);
    }
    unsigned char h1[100], h2[100], h3[100];
    tune_split(&s, 0.3, 42, h1);
    tune_split(&s, 0.3, 42, h2);
    tune_split(&s, 0.3, 43, h3);
    cr_assert_eq(memcmp(h1, h2, 100), 0);
    cr_assert_neq(memcmp(h1, h3, 100), 0);
    int held_pos = 0, held_neg = 0;
    for (int i = 0; i < 100; i++) {
        held_pos += h1[i] && i < 30;
        held_neg += h1[i] && i >= 30;
    }
    cr_assert_eq(held_pos, 9);
    cr_assert_eq(held_neg, 21);
    tune_split(&s, 0.0, 42, h1);
    for (int i = 0; i < 100; i++) cr_assert_eq(h1[i], 0);
    tune_set_free(&s);
}
