/* hdr.h -- an HDR-style latency histogram for simcache-bench.
 *
 * Values are unsigned integers (simcache-bench records nanoseconds) from 0
 * to SB_HDR_MAX (2^36 - 1 ns, about 68.7 s); larger values are clamped to
 * SB_HDR_MAX and counted in sb_hdr.clamped. Buckets are log-linear, as in
 * HdrHistogram with 2 significant binary digits of 7 bits: values below 256
 * are exact, and every larger value shares its bucket only with values
 * within 1/128 of it, so every percentile is reported with a relative error
 * of at most 1/128 (0.78%). 3840 buckets of 8 bytes: 30 KiB per histogram.
 *
 * Contracts:
 * - Nothing here allocates except sb_hdr_new, prints or aborts.
 * - Percentiles are "highest equivalent value" of the bucket holding the
 *   wanted rank (the largest value the bucket can hold), capped at the
 *   largest value recorded, so p100 == max exactly and a reported
 *   percentile is never below the true one.
 * - Not thread-safe: one writer; merge per-thread histograms at the end.
 */
#ifndef SIMCACHE_SBENCH_HDR_H
#define SIMCACHE_SBENCH_HDR_H

#include <stddef.h>
#include <stdint.h>

#define SB_HDR_MAX ((UINT64_C(1) << 36) - 1)
#define SB_HDR_BUCKETS 3840

typedef struct sb_hdr {
    uint64_t count;          /* values recorded */
    uint64_t min, max;       /* exact extremes (after clamping); min = UINT64_MAX when empty */
    double sum;              /* exact sum of recorded (clamped) values, for the mean */
    uint64_t clamped;        /* values above SB_HDR_MAX recorded as SB_HDR_MAX */
    uint64_t b[SB_HDR_BUCKETS];
} sb_hdr;

/* A zeroed, empty histogram (free() it), or NULL when out of memory. */
sb_hdr *sb_hdr_new(void);
void sb_hdr_free(sb_hdr *h);
void sb_hdr_reset(sb_hdr *h);

void sb_hdr_record(sb_hdr *h, uint64_t v);
/* Adds every value of src to dst (as if recorded into dst). */
void sb_hdr_merge(sb_hdr *dst, const sb_hdr *src);

/* The value at percentile p (0..100; clamped to that range): the highest
 * equivalent value of the bucket holding rank ceil(p/100 * count) (at
 * least 1), capped at max. p = 0 returns min. 0 when empty. */
uint64_t sb_hdr_percentile(const sb_hdr *h, double p);
double sb_hdr_mean(const sb_hdr *h);

/* The CDF, one point per non-empty bucket in increasing order: x[i] = the
 * bucket's highest equivalent value (capped at max), y[i] = fraction of
 * values <= x[i] (the last is 1). Writes at most cap points; returns the
 * number of non-empty buckets (call with cap 0 to size the arrays). */
size_t sb_hdr_cdf(const sb_hdr *h, double *x, double *y, size_t cap);

/* Bucket arithmetic, exposed for the unit tests: the bucket of v and the
 * lowest/highest value a bucket holds. */
int sb_hdr_bucket(uint64_t v);
uint64_t sb_hdr_bucket_low(int idx);
uint64_t sb_hdr_bucket_high(int idx);

#endif
