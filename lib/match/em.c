/* em.c - EM training of the m and u probabilities (match_train_em, used by `joinery match
 * train`): the standard two-class mixture under conditional independence, on the level vectors of
 * sampled pairs. */
#include "match/match_int.h"

#include <math.h>
#include <string.h>

#define EM_FLOOR 1e-6
#define EM_TOL 1e-6
#define EM_MAX_ITER 100
#define EM_LAMBDA0 0.1 /* blocked samples are mostly non-matches; EM moves it quickly anyway */

typedef struct {
    double m[MATCH_FIELD_COUNT][MATCH_MAX_LEVELS];
    double u[MATCH_FIELD_COUNT][MATCH_MAX_LEVELS];
} em_counts_t;

static int em_valid(const match_params_t *p, const match_vector_t *v, size_t n)
{
    if (p == NULL || v == NULL || n == 0)
        return 0;
    for (int f = 0; f < MATCH_FIELD_COUNT; f++) {
        if (p->nlevels[f] < 2 || p->nlevels[f] > MATCH_MAX_LEVELS)
            return 0;
    }
    for (size_t i = 0; i < n; i++) {
        for (int f = 0; f < MATCH_FIELD_COUNT; f++) {
            if (v[i].level[f] < 0 || v[i].level[f] >= p->nlevels[f])
                return 0;
        }
    }
    return 1;
}

/* Floors levels 1..n-1 and renormalises them to sum to 1; keeps level 0 at 0. */
static void em_normalise(double *row, int nlevels)
{
    double sum = 0.0;
    row[0] = 0.0;
    for (int k = 1; k < nlevels; k++) {
        if (!(row[k] > EM_FLOOR))
            row[k] = EM_FLOOR;
        sum += row[k];
    }
    for (int k = 1; k < nlevels; k++)
        row[k] /= sum;
}

/* Posterior probability that pair v is a match, computed in logs to survive long products. */
static double em_posterior(const match_params_t *p, const match_vector_t *v, double lambda)
{
    double lm = log(lambda), lu = log(1.0 - lambda);
    for (int f = 0; f < MATCH_FIELD_COUNT; f++) {
        int k = v->level[f];
        if (k == 0)
            continue;
        lm += log(p->m[f][k]);
        lu += log(p->u[f][k]);
    }
    return 1.0 / (1.0 + exp(lu - lm));
}

/* One E-step plus the accumulation for the M-step; returns the new lambda. */
static double em_expect(const match_params_t *p, const match_vector_t *v, size_t n, double lambda,
                        em_counts_t *c)
{
    double total = 0.0;
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < n; i++) {
        double g = em_posterior(p, &v[i], lambda);
        total += g;
        for (int f = 0; f < MATCH_FIELD_COUNT; f++) {
            c->m[f][v[i].level[f]] += g;
            c->u[f][v[i].level[f]] += 1.0 - g;
        }
    }
    return total / (double)n;
}

/* M-step for one row; a field missing in every pair keeps its previous estimate. Returns the
 * largest parameter change. */
static double em_update_row(double *row, const double *count, int nlevels)
{
    double sum = 0.0, change = 0.0;
    double next[MATCH_MAX_LEVELS];
    for (int k = 1; k < nlevels; k++)
        sum += count[k];
    if (!(sum > 0.0))
        return 0.0;
    for (int k = 0; k < nlevels; k++)
        next[k] = k == 0 ? 0.0 : count[k] / sum;
    em_normalise(next, nlevels);
    for (int k = 1; k < nlevels; k++) {
        double d = fabs(next[k] - row[k]);
        change = d > change ? d : change;
        row[k] = next[k];
    }
    return change;
}

/* EM proper; with FIX_U only m and lambda move (u is the random pairs' estimate, which is better
 * than any EM can make of it: random pairs are almost all non-matches). */
static int em_run(match_params_t *p, const match_vector_t *v, size_t n, double *lambda_out,
                  int fix_u)
{
    if (!em_valid(p, v, n))
        return -1;
    for (int f = 0; f < MATCH_FIELD_COUNT; f++) {
        em_normalise(p->m[f], p->nlevels[f]);
        em_normalise(p->u[f], p->nlevels[f]);
    }
    double lambda = EM_LAMBDA0;
    em_counts_t c;
    int iter = 0;
    while (iter < EM_MAX_ITER) {
        iter++;
        double next = em_expect(p, v, n, lambda, &c);
        /* Keep both classes alive: lambda at 0 or 1 would make the logs above blow up. */
        next = next < EM_FLOOR ? EM_FLOOR : (next > 1.0 - EM_FLOOR ? 1.0 - EM_FLOOR : next);
        double change = fabs(next - lambda);
        lambda = next;
        for (int f = 0; f < MATCH_FIELD_COUNT; f++) {
            double dm = em_update_row(p->m[f], c.m[f], p->nlevels[f]);
            double du = fix_u ? 0.0 : em_update_row(p->u[f], c.u[f], p->nlevels[f]);
            change = fmax(change, fmax(dm, du));
        }
        if (change < EM_TOL)
            break;
    }
    if (lambda_out != NULL)
        *lambda_out = lambda;
    return iter;
}

int match_train_em(match_params_t *p, const match_vector_t *v, size_t n, double *lambda_out)
{
    return em_run(p, v, n, lambda_out, 0);
}

int match_train_em_m(match_params_t *p, const match_vector_t *v, size_t n, double *lambda_out)
{
    return em_run(p, v, n, lambda_out, 1);
}

/* Fields that say where someone lives, at three grains: between different people one agreeing
 * makes the others agree far more often than at random. */
#define EM_PLACE                                                                                   \
    ((1u << MATCH_FIELD_POSTCODE) | (1u << MATCH_FIELD_ADDRESS) | (1u << MATCH_FIELD_LOCALITY))
/* What people who live together share: the place, a landline, and often the family name. A key
 * made of any of the first two finds households; their members are different people who agree on
 * these fields. */
#define EM_HOME (EM_PLACE | (1u << MATCH_FIELD_PHONE))
#define EM_HOUSEHOLD (EM_HOME | (1u << MATCH_FIELD_FAMILY))

/* Leaving a field out only costs its estimate the rule's pairs; leaving in a field that depends
 * on the key biases every field's m, so when in doubt a field goes. */
unsigned match_train_left_out(unsigned key_fields)
{
    unsigned out = key_fields;
    if (key_fields & EM_HOME)
        out |= EM_HOUSEHOLD;
    return out;
}
