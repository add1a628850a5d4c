/* test_sbench_hdr.c -- the latency histogram of simcache-bench (bench/sbench/hdr.c).
 *
 * The threats: a percentile off by more than the promised 1/128 (a load
 * report that misstates p99), a reported percentile below the true one,
 * merging per-thread histograms that loses or double-counts values, values
 * past the range corrupting memory instead of clamping, and a CDF that is
 * not monotone or does not end at 1. Percentiles are checked against the
 * exact order statistic of the same seeded samples.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "bench/sbench/hdr.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Log-uniform values from 1 ns to ~60 s, as latencies spread. */
static uint64_t rnd_latency(void)
{
    double u = (double)(rnd() >> 11) / 9007199254740992.0;
    return (uint64_t)exp(u * log(6e10));
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static uint64_t exact_pct(const uint64_t *sorted, size_t n, double p)
{
    size_t rank = (size_t)ceil(p / 100.0 * (double)n);
    if (rank < 1) rank = 1;
    return sorted[rank - 1];
}

Test(hdr, buckets_tile_the_range_without_gaps_and_stay_within_1_128)
{
    cr_assert_eq(sb_hdr_bucket(0), 0);
    cr_assert_eq(sb_hdr_bucket_low(0), 0);
    for (int i = 0; i < SB_HDR_BUCKETS; i++) {
        uint64_t lo = sb_hdr_bucket_low(i), hi = sb_hdr_bucket_high(i);
        cr_assert_leq(lo, hi);
        cr_assert_eq(sb_hdr_bucket(lo), i, "bucket %d low %llu", i, (unsigned long long)lo);
        cr_assert_eq(sb_hdr_bucket(hi), i, "bucket %d high %llu", i, (unsigned long long)hi);
        if (i + 1 < SB_HDR_BUCKETS)
            cr_assert_eq(sb_hdr_bucket_low(i + 1), hi + 1, "gap after bucket %d", i);
        /* reporting hi for any value of the bucket errs by at most 1/128 */
        if (lo > 0) cr_assert_lt((double)(hi - lo) / (double)lo, 1.0 / 128);
    }
    cr_assert_eq(sb_hdr_bucket_high(SB_HDR_BUCKETS - 1), SB_HDR_MAX);
    cr_assert_eq(sb_hdr_bucket(SB_HDR_MAX), SB_HDR_BUCKETS - 1);
}

Test(hdr, percentiles_of_random_latencies_within_1_128_and_never_below_truth)
{
    enum { N = 200000 };
    uint64_t *v = malloc(N * sizeof(*v));
    sb_hdr *h = sb_hdr_new();
    cr_assert(v && h);
    for (size_t i = 0; i < N; i++) {
        v[i] = rnd_latency();
        sb_hdr_record(h, v[i]);
    }
    qsort(v, N, sizeof(*v), cmp_u64);
    cr_assert_eq(h->count, N);
    cr_assert_eq(h->min, v[0]);
    cr_assert_eq(h->max, v[N - 1]);
    const double ps[] = {0.1, 1, 10, 50, 90, 99, 99.9, 99.99, 100};
    for (size_t k = 0; k < sizeof(ps) / sizeof(*ps); k++) {
        uint64_t want = exact_pct(v, N, ps[k]), got = sb_hdr_percentile(h, ps[k]);
        cr_assert_geq(got, want, "p%g: %llu < true %llu", ps[k],
                      (unsigned long long)got, (unsigned long long)want);
        cr_assert_leq((double)(got - want), (double)want / 128.0 + 1.0,
                      "p%g: %llu vs true %llu", ps[k], (unsigned long long)got,
                      (unsigned long long)want);
    }
    cr_assert_eq(sb_hdr_percentile(h, 100), v[N - 1]);
    cr_assert_eq(sb_hdr_percentile(h, 0), v[0]);
    double mean = 0;
    for (size_t i = 0; i < N; i++) mean += (double)v[i];
    mean /= N;
    cr_assert_float_eq(sb_hdr_mean(h), mean, mean * 1e-9);
    free(v);
    sb_hdr_free(h);
}

Test(hdr, small_values_are_exact)
{
    sb_hdr *h = sb_hdr_new();
    for (uint64_t i = 1; i <= 200; i++) sb_hdr_record(h, i);
    cr_assert_eq(sb_hdr_percentile(h, 50), 100);
    cr_assert_eq(sb_hdr_percentile(h, 99), 198);
    cr_assert_eq(sb_hdr_percentile(h, 0.5), 1);
    sb_hdr_free(h);
}

Test(hdr, merging_thread_histograms_equals_recording_everything_in_one)
{
    sb_hdr *all = sb_hdr_new(), *a = sb_hdr_new(), *b = sb_hdr_new(), *m = sb_hdr_new();
    for (int i = 0; i < 50000; i++) {
        uint64_t x = rnd_latency();
        sb_hdr_record(all, x);
        sb_hdr_record(i % 3 ? a : b, x);
    }
    sb_hdr_merge(m, a);
    sb_hdr_merge(m, b);
    sb_hdr *empty = sb_hdr_new();
    sb_hdr_merge(m, empty);          /* an empty one changes nothing */
    sb_hdr_free(empty);
    cr_assert_eq(m->count, all->count);
    cr_assert_eq(m->min, all->min);
    cr_assert_eq(m->max, all->max);
    cr_assert_arr_eq(m->b, all->b, sizeof(all->b));
    for (double p = 1; p <= 100; p += 7.5)
        cr_assert_eq(sb_hdr_percentile(m, p), sb_hdr_percentile(all, p));
    sb_hdr_free(all);
    sb_hdr_free(a);
    sb_hdr_free(b);
    sb_hdr_free(m);
}

Test(hdr, values_past_the_range_are_clamped_and_counted)
{
    sb_hdr *h = sb_hdr_new();
    sb_hdr_record(h, 1000);
    sb_hdr_record(h, UINT64_MAX);
    sb_hdr_record(h, SB_HDR_MAX + 1);
    cr_assert_eq(h->count, 3);
    cr_assert_eq(h->clamped, 2);
    cr_assert_eq(h->max, SB_HDR_MAX);
    cr_assert_eq(h->b[SB_HDR_BUCKETS - 1], 2);
    cr_assert_eq(sb_hdr_percentile(h, 99), SB_HDR_MAX);
    sb_hdr_free(h);
}

Test(hdr, empty_histogram_reports_zero_and_no_cdf)
{
    sb_hdr *h = sb_hdr_new();
    cr_assert_eq(sb_hdr_percentile(h, 99), 0);
    cr_assert_eq(sb_hdr_mean(h), 0.0);
    cr_assert_eq(sb_hdr_cdf(h, NULL, NULL, 0), 0);
    sb_hdr_record(h, 5);
    sb_hdr_reset(h);
    cr_assert_eq(h->count, 0);
    cr_assert_eq(sb_hdr_percentile(h, 50), 0);
    sb_hdr_free(h);
}

Test(hdr, cdf_is_monotone_ends_at_one_and_matches_percentiles)
{
    sb_hdr *h = sb_hdr_new();
    for (int i = 0; i < 20000; i++) sb_hdr_record(h, rnd_latency() / 1000);
    size_t n = sb_hdr_cdf(h, NULL, NULL, 0);
    cr_assert_gt(n, 10);
    double *x = malloc(n * sizeof(double)), *y = malloc(n * sizeof(double));
    cr_assert_eq(sb_hdr_cdf(h, x, y, n), n);
    for (size_t i = 1; i < n; i++) {
        cr_assert_gt(x[i], x[i - 1]);
        cr_assert_gt(y[i], y[i - 1]);
    }
    cr_assert_float_eq(y[n - 1], 1.0, 1e-12);
    cr_assert_eq(x[n - 1], (double)h->max);
    /* the first CDF point reaching 0.99 is the p99 */
    size_t i = 0;
    while (y[i] < 0.99) i++;
    cr_assert_eq(x[i], (double)sb_hdr_percentile(h, 99));
    free(x);
    free(y);
    sb_hdr_free(h);
}
