/* stats.h -- the small statistics simcache-bench reports with its numbers:
 * binomial confidence intervals, a prediction interval for a rate measured
 * again on a fresh sample, and percentiles of a sample.
 *
 * Contracts: pure functions of their arguments, no allocation except where
 * stated, no printing, any thread. Rates are fractions in [0, 1].
 */
#ifndef SIMCACHE_SBENCH_STATS_H
#define SIMCACHE_SBENCH_STATS_H

#include <stddef.h>

#define SB_Z95 1.959963984540054   /* two-sided 95% normal quantile */

/* Wilson score interval for k successes in n trials at normal quantile z
 * (SB_Z95 for 95%). n == 0 gives [0, 1]. k is clamped to [0, n]. The
 * interval always contains k/n, and lo == 0 exactly when k == 0 (hi == 1
 * exactly when k == n). */
void sb_wilson(long k, long n, double z, double *lo, double *hi);

/* Smallest x in [0, n] with P(X <= x) >= q for X ~ Binomial(n, p), p in
 * [0, 1], q in [0, 1]. Computed by summing the pmf in log space (n up to a
 * few million is fine). */
long sb_binom_quantile(long n, double p, double q);

/* A 95% prediction interval for the rate a fresh sample of m trials will
 * show, given k successes in n trials measured before: the Wilson interval
 * [plo, phi] of k/n, widened by binomial sampling of m trials at each end
 * ([Q(m, plo, 0.025) / m, Q(m, phi, 0.975) / m]). Conservative: both
 * uncertainties are added, so the true coverage is at least about 95%.
 * m == 0 gives [0, 1]. */
void sb_predict_rate(long k, long n, long m, double *lo, double *hi);

/* The q-quantile (q in [0, 1]) of v[0..n) by nearest rank on a sorted copy
 * made by the caller: v must be sorted ascending. NaN for n == 0. */
double sb_quantile_sorted(const double *v, size_t n, double q);

#endif
