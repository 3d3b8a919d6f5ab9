/* Fee arithmetic in 128 bits (docs/semantics.md, "Fees").
 *
 * r: rate in basis points (>= 0; rebates are computed with -rate by the
 * caller), q: shares, e: own-outcome price and U: payout, in minor units.
 * mode 0 (FEE_BPS): r bps of the notional q * e.  mode 1 (FEE_CURVE): the
 * prediction-market curve r * q * e * (U - e) / U, largest at e = U / 2.
 */
#ifndef PROBO_FEES_H
#define PROBO_FEES_H

/* Fee of q shares at own price e, in 128-bit so that r * q * e * (U - e)
   cannot overflow.  up: round up (fees) or down (rebates). */
static inline long long probo_fee(long long r, long long q, long long e,
                                  long long U, int mode, int up) {
    __int128 num, den;
    if (r <= 0 || q <= 0) return 0;
    if (mode == 0) {
        num = (__int128)r * q * e;
        den = 10000;
    } else {
        num = (__int128)r * q * e * (U - e);
        den = (__int128)U * 10000;
    }
    return (long long)(up ? (num + den - 1) / den : num / den);
}

/* Per-share fee reserve of a buy with own limit L: the fee of one share at
   the worst price it can trade at, rounded up. */
static inline long long probo_fee_unit(long long r, long long L, long long U,
                                       int mode) {
    __int128 g;
    if (r <= 0) return 0;
    if (mode == 0) return (long long)(((__int128)r * L + 9999) / 10000);
    g = (2 * L <= U) ? (__int128)L * (U - L) : (__int128)(U / 2) * ((U + 1) / 2);
    return (long long)(((__int128)r * g + (__int128)U * 10000 - 1) /
                       ((__int128)U * 10000));
}

/* Largest q <= cap with q * e + fee(q) <= budget (binary search). */
static inline long long probo_affordable(long long cap, long long e,
                                         long long budget, long long r,
                                         long long U, int mode) {
    long long lo = 0, hi, mid;
    if (budget <= 0 || cap <= 0) return 0;
    hi = budget / e;
    if (hi > cap) hi = cap;
    while (lo < hi) {
        mid = lo + (hi - lo + 1) / 2;
        if ((__int128)mid * e + probo_fee(r, mid, e, U, mode, 1) <= budget)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

#endif /* PROBO_FEES_H */
