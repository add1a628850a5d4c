/* hdr.c -- log-linear latency histogram (hdr.h).
 *
 * 1. Layout, as HdrHistogram with 8 bits of sub-bucket resolution: values
 *    0..255 have one bucket each; from there every power-of-two range
 *    [2^k, 2^(k+1)) (k >= 8) is split into 128 equal buckets of width
 *    2^(k-7). The bucket of v >= 256 is e*128 + (v >> e) with e = msb(v) - 7,
 *    one shift and one count-leading-zeros: recording costs a few
 *    instructions, cheap enough for every reply of a load run.
 * 2. A fixed array, no allocation per histogram after creation: per-thread
 *    histograms merge by adding arrays, so threads never share one.
 * 3. Percentiles walk the array (3840 buckets, ~1 µs); they are computed a
 *    few times per second at most.
 */
#include "hdr.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { SUB_BITS = 7, SUB = 1 << SUB_BITS, LINEAR = 2 * SUB };

int sb_hdr_bucket(uint64_t v)
{
    if (v > SB_HDR_MAX) v = SB_HDR_MAX;
    if (v < LINEAR) return (int)v;
    int e = 63 - __builtin_clzll(v) - SUB_BITS;
    return e * SUB + (int)(v >> e);
}

static int bucket_shift(int idx)
{
    return idx < LINEAR ? 0 : idx / SUB - 1;
}

uint64_t sb_hdr_bucket_low(int idx)
{
    int e = bucket_shift(idx);
    return (uint64_t)(idx - e * SUB) << e;
}

uint64_t sb_hdr_bucket_high(int idx)
{
    return sb_hdr_bucket_low(idx) + ((UINT64_C(1) << bucket_shift(idx)) - 1);
}

void sb_hdr_reset(sb_hdr *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

sb_hdr *sb_hdr_new(void)
{
    sb_hdr *h = malloc(sizeof(*h));
    if (h) sb_hdr_reset(h);
    return h;
}

void sb_hdr_free(sb_hdr *h) { free(h); }

void sb_hdr_record(sb_hdr *h, uint64_t v)
{
    if (v > SB_HDR_MAX) {
        v = SB_HDR_MAX;
        h->clamped++;
    }
    h->b[sb_hdr_bucket(v)]++;
    h->count++;
    h->sum += (double)v;
    if (v < h->min) h->min = v;
    if (v > h->max) h->max = v;
}

void sb_hdr_merge(sb_hdr *dst, const sb_hdr *src)
{
    if (!src->count) return;
    for (int i = 0; i < SB_HDR_BUCKETS; i++) dst->b[i] += src->b[i];
    dst->count += src->count;
    dst->sum += src->sum;
    dst->clamped += src->clamped;
    if (src->min < dst->min) dst->min = src->min;
    if (src->max > dst->max) dst->max = src->max;
}

static uint64_t capped_high(const sb_hdr *h, int idx)
{
    uint64_t v = sb_hdr_bucket_high(idx);
    return v > h->max ? h->max : v;
}

uint64_t sb_hdr_percentile(const sb_hdr *h, double p)
{
    if (!h->count) return 0;
    if (!(p > 0)) return h->min;
    if (p > 100) p = 100;
    uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)h->count);
    if (rank < 1) rank = 1;
    if (rank > h->count) rank = h->count;
    uint64_t seen = 0;
    for (int i = 0; i < SB_HDR_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) return capped_high(h, i);
    }
    return h->max;   /* not reached: the buckets add up to count */
}

double sb_hdr_mean(const sb_hdr *h)
{
    return h->count ? h->sum / (double)h->count : 0.0;
}

size_t sb_hdr_cdf(const sb_hdr *h, double *x, double *y, size_t cap)
{
    size_t n = 0;
    uint64_t seen = 0;
    for (int i = 0; i < SB_HDR_BUCKETS; i++) {
        if (!h->b[i]) continue;
        seen += h->b[i];
        if (n < cap) {
            x[n] = (double)capped_high(h, i);
            y[n] = (double)seen / (double)h->count;
        }
        n++;
    }
    return n;
}
