/* format.c - numbers as printf writes them, without printf: match_tenths ("%.1f", the score in a
 * reason) and match_g17 ("%.17g", every bit of a score for the database). Both are written for
 * every event, where snprintf was the slowest thing the matcher did. */
#include "match/match_int.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* V as snprintf's "%.1f" writes it: the exact value rounded to tenths, ties to even. The product
 * P = V * 10 is rounded; its error E (fma, exact) only matters when P lies on a half exactly, and
 * then says which side of the half the exact product is. */
int match_tenths(double v, char out[MATCH_TENTHS_LEN])
{
    double p = v * 10.0, t = rint(p);
    if (!isfinite(v) || fabs(t) >= 1e15) { /* not a score; cut to the buffer */
        (void)snprintf(out, MATCH_TENTHS_LEN, "%.1f", v);
        return (int)strlen(out);
    }
    double d = p - t, e = fma(v, 10.0, -p); /* both exact */
    if (d == 0.5 && e > 0)
        t += 1.0;
    else if (d == -0.5 && e < 0)
        t -= 1.0;
    char tmp[24];
    size_t n = 0, k = 0;
    if (t < 0 || (t == 0 && signbit(v)))
        out[n++] = '-';
    unsigned long long a = (unsigned long long)fabs(t), whole = a / 10;
    do {
        tmp[k++] = (char)('0' + whole % 10);
        whole /= 10;
    } while (whole != 0);
    while (k > 0)
        out[n++] = tmp[--k];
    out[n++] = '.';
    out[n++] = (char)('0' + a % 10);
    out[n] = '\0';
    return (int)n;
}

/* The 17 significant digits of |V| = M * 2^E (M < 2^53, E <= 0) as the integer round(|V| *
 * 10^K), ties to even, computed exactly in 128 bits: K <= 20 keeps M * 10^K below 2^120. */
static unsigned __int128 scaled_digits(uint64_t m, int e, int k)
{
    unsigned __int128 n = m;
    for (int i = 0; i < k; i++)
        n *= 10;
    int s = -e;
    if (s == 0)
        return n;
    unsigned __int128 q = n >> s, r = n & (((unsigned __int128)1 << s) - 1),
                      half = (unsigned __int128)1 << (s - 1);
    if (r > half || (r == half && (q & 1)))
        q++;
    return q;
}

/* Fast for 1e-4 <= |V| < 2^53, where %.17g writes fixed notation and the digits fit 128 bits;
 * anything else (never a score) goes to snprintf. */
const char *match_g17(double v, char out[MATCH_G17_LEN])
{
    if (!isfinite(v))
        return NULL;
    double a = fabs(v);
    if (!(a >= 1e-4 && a < 9007199254740992.0)) {
        (void)snprintf(out, MATCH_G17_LEN, "%.17g", v);
        return out;
    }
    int e2;
    double f = frexp(a, &e2); /* a = f * 2^e2, 0.5 <= f < 1 */
    uint64_t m = (uint64_t)ldexp(f, 53);
    int e = e2 - 53;
    /* X = the decimal exponent of the rounded value: guessed, then put right. */
    int x = (int)floor(log10(a));
    static const unsigned __int128 lo = (unsigned __int128)10000000000000000ULL; /* 10^16 */
    const unsigned __int128 hi = lo * 10;
    unsigned __int128 d = 0;
    for (int tries = 0; tries < 4; tries++) {
        d = scaled_digits(m, e, 16 - x);
        if (d >= hi)
            x++;
        else if (d < lo)
            x--;
        else
            break;
    }
    if (d >= hi) /* rounded up to the next power of ten */
        d = lo, x++;
    char dig[17];
    for (int i = 16; i >= 0; i--, d /= 10)
        dig[i] = (char)('0' + (int)(d % 10));
    int last = 16; /* %g drops trailing zeros of the fraction */
    size_t n = 0;
    if (signbit(v))
        out[n++] = '-';
    if (x >= 0) {
        while (last > x && dig[last] == '0')
            last--;
        for (int i = 0; i <= x; i++)
            out[n++] = dig[i];
        if (last > x) {
            out[n++] = '.';
            for (int i = x + 1; i <= last; i++)
                out[n++] = dig[i];
        }
    } else {
        while (dig[last] == '0')
            last--;
        out[n++] = '0';
        out[n++] = '.';
        for (int i = x + 1; i < 0; i++)
            out[n++] = '0';
        for (int i = 0; i <= last; i++)
            out[n++] = dig[i];
    }
    out[n] = '\0';
    return out;
}
