/* stats.c -- binomial intervals and percentiles (contracts in stats.h).
 *
 * Design decisions:
 * 1. Wilson score interval, not the normal ("Wald") one: the false-hit
 *    rates the tuner reports are near 0 (0 to 3 false hits in a few hundred
 *    queries), where Wald collapses to [0, 0] for k = 0 and goes negative;
 *    Wilson stays inside [0, 1] and gives 0 false hits in n queries an
 *    upper bound of z^2 / (n + z^2) (1.9% at n = 200), which is the honest
 *    statement of what a small set can show.
 * 2. The prediction interval (for "does the rate measured on the held-back
 *    part agree with the tuning part?") adds two uncertainties: where the
 *    true rate is (Wilson on the tuning counts) and how a sample of m
 *    queries scatters around it (binomial quantiles at each end). Checking
 *    a held-back rate against the tuning CI alone would be wrong: with 1
 *    false hit in 200 tuning queries the CI excludes 0, yet 0 false hits in
 *    90 held-back queries is the most likely outcome.
 */
#include "stats.h"

#include <math.h>

void sb_wilson(long k, long n, double z, double *lo, double *hi)
{
    if (n <= 0) {
        *lo = 0.0;
        *hi = 1.0;
        return;
    }
    if (k < 0) k = 0;
    if (k > n) k = n;
    double nn = (double)n, p = (double)k / nn, z2 = z * z;
    double den = 1.0 + z2 / nn;
    double mid = (p + z2 / (2.0 * nn)) / den;
    double half = z * sqrt(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn)) / den;
    *lo = k == 0 ? 0.0 : fmax(0.0, mid - half);
    *hi = k == n ? 1.0 : fmin(1.0, mid + half);
    /* rounding must not exclude the point estimate */
    if (*lo > p) *lo = p;
    if (*hi < p) *hi = p;
}

long sb_binom_quantile(long n, double p, double q)
{
    if (n <= 0 || p <= 0.0 || q <= 0.0) return 0;
    if (p >= 1.0) return n;
    if (q >= 1.0) return n;
    double lp = log(p), lq = log1p(-p), cdf = 0.0;
    for (long x = 0; x <= n; x++) {
        double lpmf = lgamma((double)n + 1) - lgamma((double)x + 1) -
                      lgamma((double)(n - x) + 1) + (double)x * lp +
                      (double)(n - x) * lq;
        cdf += exp(lpmf);
        /* the 1e-12 slack keeps an exact-boundary q from tipping one over */
        if (cdf >= q - 1e-12) return x;
    }
    return n;
}

void sb_predict_rate(long k, long n, long m, double *lo, double *hi)
{
    if (m <= 0) {
        *lo = 0.0;
        *hi = 1.0;
        return;
    }
    double plo, phi;
    sb_wilson(k, n, SB_Z95, &plo, &phi);
    *lo = (double)sb_binom_quantile(m, plo, 0.025) / (double)m;
    *hi = (double)sb_binom_quantile(m, phi, 0.975) / (double)m;
}

double sb_quantile_sorted(const double *v, size_t n, double q)
{
    if (n == 0) return NAN;
    if (q <= 0.0) return v[0];
    if (q >= 1.0) return v[n - 1];
    size_t rank = (size_t)ceil(q * (double)n);   /* nearest rank, 1-based */
    if (rank < 1) rank = 1;
    return v[rank - 1];
}
