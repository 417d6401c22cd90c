/* match.c - Fellegi-Sunter scoring for Joinery's resident matching: comparators, Double Metaphone
 * primary keys, British nickname groups, comparison levels, weights, decisions, blocking keys and
 * EM training. See match.h for the contract; this file explains the numbers and trade-offs.
 *
 * Everything on the scoring path works in fixed-size stack buffers: no allocation, no global
 * mutable state, so scoring is re-entrant and cheap across large candidate blocks.
 */
#include "match/match_int.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Default parameters
 *
 * m = P(level | same person), u = P(level | two random people), each summing to 1 over levels
 * 1..n-1. The u values are approximate random-pair agreement rates for a council population of
 * about 300,000 drawn from UK name and birth statistics; the m values reflect the error rates
 * typical of council and NHS systems. Both should be replaced by `joinery match train` (EM) on
 * local data once enough pairs exist; these are only a safe starting point.
 *
 * Thresholds: with ~300,000 residents the prior odds that a random pair is the same person are
 * about 1:2^18. A total of 30 therefore means posterior odds of ~2^12 (about 4,000:1) before
 * auto-linking, four times the 1,000:1 that a precision of 0.999 needs; the anchor guard in
 * match_decide then stops the known look-alikes (twins, a parent and child sharing a name, boy/girl
 * twins), and a pair with nothing beyond name and birth date in common needs upper +
 * MATCH_UNCORROBORATED_MARGIN = 33 (~32,000:1), because namesakes are more common than
 * independence predicts. 16 means odds of ~1:4, below which a steward's time is better spent
 * elsewhere. Worked examples with these numbers and no frequency table: exact names + birth date +
 * postcode ~ 41.7 (link); surname typo (jw>=0.92) with the rest exact ~ 36.7 (link); same-sex twins
 * (same surname, birth date, postcode, sex, different forename) ~ 29.7 (steward, and blocked from
 * linking by the guard anyway); the same person moved within the town ~ 29.9 with sex, another
 * town ~ 26.3 (steward unless phone/email also agree, or the names are rarer than average: with
 * the frequency table a rare surname is worth 13-16 bits, not 8.8). */

static void set_row(match_params_t *p, match_field_t f, int n, const double *m, const double *u)
{
    p->nlevels[f] = n;
    for (int k = 0; k < MATCH_MAX_LEVELS; k++) {
        p->m[f][k] = k > 0 && k < n ? m[k - 1] : 0.0;
        p->u[f][k] = k > 0 && k < n ? u[k - 1] : 0.0;
    }
}

void match_params_default(match_params_t *p)
{
    if (p == NULL)
        return;
    memset(p, 0, sizeof *p);
    /* Forename: exact, nickname, jw92, jw80, phonetic, different. u(exact) ~ 0.01: the sum of
     * squared forename frequencies, the top names being 1-2% each. m(different) = 0.01 covers
     * people known by a middle name; keeping it small is what makes a different forename strong
     * evidence of a different person (twins). */
    static const double gm[] = {0.855, 0.04, 0.05, 0.03, 0.015, 0.01};
    static const double gu[] = {0.01, 0.002, 0.003, 0.015, 0.01, 0.96};
    /* Surname: exact, jw92, jw80, phonetic, different. u(exact) ~ 0.002 (Smith alone is 1.26%, so
     * the sum of squares is ~0.001-0.002). m(different) = 0.055 because surnames change on
     * marriage and divorce. */
    static const double fm[] = {0.88, 0.04, 0.015, 0.01, 0.055};
    static const double fu[] = {0.002, 0.003, 0.015, 0.01, 0.97};
    /* Birth date: exact, transposed, typo, within month, same year, different. u(exact) ~ 4e-5:
     * ~90 birth years x 365 days, skewed by the age pyramid. u(transposed) is lower because only
     * dates with day <= 12 can transpose; u(typo) ~ 1e-3: a date has about 35 one-digit neighbours
     * that are real dates within the population's 95 birth years (9 for the last year digit, ~8
     * for the decade, ~17 in month and day), out of ~35,000 dates. */
    static const double bm[] = {0.95, 0.01, 0.02, 0.005, 0.005, 0.01};
    static const double bu[] = {4e-5, 1.5e-5, 1e-3, 2e-3, 0.012, 0.984945};
    /* Sex: exact, different. m(different) covers recording errors and changes of gender. */
    static const double sm[] = {0.98, 0.02};
    static const double su[] = {0.5, 0.5};
    /* Postcode: exact, sector, district, area, different. A unit postcode holds ~40 people, so
     * u(exact) ~ 2e-4 in a ~300,000 population. The other u values are for a population spread
     * over several postcode areas (a hub serving a city region or a group of councils; with one
     * council in one area, EM will find u(area) near 1): a sector ~ 1/300 of such a region, a
     * district ~ 1/150, an area ~ 1/7. m(exact) = 0.8 because people move and systems lag; of the
     * fifth that differ, most moved within their town (English migration statistics: about two
     * thirds of moves stay within the local authority), which is what m(area) = 0.08 against
     * m(different) = 0.04 says. So the same postcode area nearly cancels out (-0.8 bits) while
     * another part of the country is real evidence of a different person (-4.4 bits): the
     * namesake with the same name and birth date lives elsewhere. */
    static const double pm[] = {0.80, 0.04, 0.04, 0.08, 0.04};
    static const double pu[] = {2e-4, 0.003, 0.006, 0.14, 0.8508};
    /* Phone and email: m is P(level | same person, both recorded). Mobile numbers and e-mail
     * addresses last: about one record pair in eight or so carries a different one (a new phone,
     * a second address), so m(different) = 0.12 / 0.15 and disagreement is evidence (-3 bits),
     * not free. The random-pair agreement rate is ~1e-6, but contact details are shared inside
     * households (a parent's mobile on a child's record), exactly the pairs blocking surfaces.
     * Conditional independence fails there, so u is set deliberately high to cap this evidence
     * at ~10 bits. */
    static const double tm[] = {0.88, 0.12};
    static const double tu[] = {1e-3, 0.999};
    static const double em[] = {0.85, 0.15};
    static const double eu[] = {5e-4, 0.9995};

    set_row(p, MATCH_FIELD_GIVEN, MATCH_GIVEN_NLEVELS, gm, gu);
    set_row(p, MATCH_FIELD_FAMILY, MATCH_FAMILY_NLEVELS, fm, fu);
    set_row(p, MATCH_FIELD_BIRTH, MATCH_BIRTH_NLEVELS, bm, bu);
    set_row(p, MATCH_FIELD_SEX, MATCH_BINARY_NLEVELS, sm, su);
    set_row(p, MATCH_FIELD_POSTCODE, MATCH_POSTCODE_NLEVELS, pm, pu);
    set_row(p, MATCH_FIELD_PHONE, MATCH_BINARY_NLEVELS, tm, tu);
    set_row(p, MATCH_FIELD_EMAIL, MATCH_BINARY_NLEVELS, em, eu);
    p->upper = 30.0;
    p->lower = 16.0;
}

/* ------------------------------------------------------------------------------------------ */
/* Scoring                                                                                     */

/* Probabilities are floored so that a zero in hand-edited parameters gives a large finite weight
 * rather than an infinity or NaN in the total. */
#define PROB_FLOOR 1e-9

static double safe_log2_ratio(double num, double den)
{
    return log2((num > PROB_FLOOR ? num : PROB_FLOOR) / (den > PROB_FLOOR ? den : PROB_FLOOR));
}

/* NORM is the normalised name (match_prep_t). */
/* The frequency hook's answer for one of A's names, from A's cache when it holds this hook's. */
static double ask_tf(match_tf_fn tf, void *ctx, match_field_t f, const match_prep_t *a)
{
    if (a->tf_fn != NULL && a->tf_fn == (void (*)(void))tf && a->tf_ctx == ctx)
        return f == MATCH_FIELD_GIVEN ? a->tf_given : a->tf_family;
    return tf(ctx, f, f == MATCH_FIELD_GIVEN ? a->given : a->family);
}

void match_prepare_tf(match_prep_t *p, match_tf_fn tf, void *tf_ctx)
{
    p->tf_fn = NULL;
    if (tf == NULL)
        return;
    p->tf_given = p->given[0] != '\0' ? tf(tf_ctx, MATCH_FIELD_GIVEN, p->given) : 0.0;
    p->tf_family = p->family[0] != '\0' ? tf(tf_ctx, MATCH_FIELD_FAMILY, p->family) : 0.0;
    p->tf_fn = (void (*)(void))tf;
    p->tf_ctx = tf_ctx;
}

static double name_tf(match_tf_fn tf, void *ctx, match_field_t f, const match_prep_t *a)
{
    const char *norm = f == MATCH_FIELD_GIVEN ? a->given : a->family;
    if (tf == NULL || norm[0] == '\0')
        return 0.0;
    double v = ask_tf(tf, ctx, f, a);
    if (!(v > 0.0)) /* also rejects NaN */
        return 0.0;
    double floor = f == MATCH_FIELD_GIVEN ? MATCH_TF_GIVEN_FLOOR : MATCH_TF_FLOOR;
    if (v < floor)
        return floor;
    return v > 1.0 ? 1.0 : v;
}

static double field_weight(const match_params_t *p, match_field_t f, int level, match_tf_fn tf,
                           void *tf_ctx, const match_prep_t *a)
{
    if (level <= 0 || level >= p->nlevels[f] || level >= MATCH_MAX_LEVELS)
        return 0.0;
    double u = p->u[f][level];
    if (level == 1 && (f == MATCH_FIELD_GIVEN || f == MATCH_FIELD_FAMILY)) {
        /* Level 1 is EXACT for both name fields. */
        double freq = name_tf(tf, tf_ctx, f, a);
        if (freq > 0.0)
            return safe_log2_ratio(p->m[f][level], freq);
    }
    return p->frozen ? p->w[f][level] : safe_log2_ratio(p->m[f][level], u);
}

void match_params_freeze(match_params_t *p)
{
    if (p == NULL)
        return;
    for (int f = 0; f < MATCH_FIELD_COUNT; f++)
        for (int k = 0; k < MATCH_MAX_LEVELS; k++)
            p->w[f][k] = k > 0 && k < p->nlevels[f] ? safe_log2_ratio(p->m[f][k], p->u[f][k]) : 0.0;
    p->frozen = 1;
}

double match_score(const match_params_t *p, const match_person_t *a, const match_person_t *b,
                   match_tf_fn tf, void *tf_ctx, match_evidence_t *ev)
{
    if (a == NULL || b == NULL) {
        if (ev != NULL)
            memset(ev, 0, sizeof *ev);
        return 0.0;
    }
    match_prep_t pa, pb;
    match_prepare(a, &pa);
    match_prepare(b, &pb);
    return match_score_prep(p, &pa, &pb, tf, tf_ctx, ev);
}

double match_score_prep(const match_params_t *p, const match_prep_t *a, const match_prep_t *b,
                        match_tf_fn tf, void *tf_ctx, match_evidence_t *ev)
{
    match_evidence_t local;
    if (ev == NULL)
        ev = &local;
    memset(ev, 0, sizeof *ev);
    if (p == NULL || a == NULL || b == NULL)
        return 0.0;
    /* The levels first, then the weights in field order: the same sum, one call. */
    mi_levels(a, b, ev->level);
    for (int f = 0; f < MATCH_FIELD_COUNT; f++) {
        ev->weight[f] = field_weight(p, (match_field_t)f, ev->level[f], tf, tf_ctx, a);
        ev->total += ev->weight[f];
    }
    return ev->total;
}

/* ------------------------------------------------------------------------------------------ */
/* Decisions                                                                                   */

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

/* "TEXT (score 31.4)" without snprintf: kept candidates' reasons are written for every event. */
static void say(char *why, size_t why_len, const char *text, double score)
{
    if (why == NULL || why_len == 0)
        return;
    static const char open[] = " (score ";
    char num[MATCH_TENTHS_LEN];
    size_t n = (size_t)match_tenths(score, num), lt = strlen(text);
    if (lt + sizeof open - 1 + n + 2 > why_len) {
        snprintf(why, why_len, "%s (score %s)", text, num);
        return;
    }
    memcpy(why, text, lt);
    memcpy(why + lt, open, sizeof open - 1);
    memcpy(why + lt + sizeof open - 1, num, n);
    memcpy(why + lt + sizeof open - 1 + n, ")", 2);
}

static int birth_agrees_closely(int level)
{
    return level == MATCH_BIRTH_EXACT || level == MATCH_BIRTH_TRANSPOSED ||
           level == MATCH_BIRTH_TYPO;
}

/* 1 when the incoming record's forename (a) has never been seen in the population the candidates
 * come from: the frequency hook knows its table (it answers >= 0) and has no record with it. A
 * forename no other resident has is a keying slip ("Jafk" for Jack); a name a letter away from
 * another that residents really carry (Jake for Jack, Molly for Holly) is a different person as
 * far as the forename can tell, which is how twins are named. */
static int forename_unseen(const match_prep_t *a, match_tf_fn tf, void *tf_ctx)
{
    if (tf == NULL || a->given[0] == '\0')
        return 0;
    return ask_tf(tf, tf_ctx, MATCH_FIELD_GIVEN, a) == 0.0;
}

/* The identity anchors that twins and same-named parents/children fail; see match.h. */
static const char *anchor_failure(const match_prep_t *a, const match_evidence_t *ev, double upper,
                                  match_tf_fn tf, void *tf_ctx)
{
    int g = ev->level[MATCH_FIELD_GIVEN];
    int bd = ev->level[MATCH_FIELD_BIRTH];
    int loose = g == MATCH_GIVEN_JW80 || g == MATCH_GIVEN_PHONETIC;
    if (g == MATCH_GIVEN_MISSING || g == MATCH_GIVEN_DIFFERENT ||
        (loose && !forename_unseen(a, tf, tf_ctx)))
        return "forenames missing or only loosely similar (twin/sibling risk)";
    int contact = ev->level[MATCH_FIELD_PHONE] == MATCH_BINARY_EXACT ||
                  ev->level[MATCH_FIELD_EMAIL] == MATCH_BINARY_EXACT;
    int pc = ev->level[MATCH_FIELD_POSTCODE];
    /* A birth date missing on one side leaves a parent and child who share a name and a home
     * looking alike. The same address and the same MOBILE number still say it is one person: a
     * mobile is personal, where a landline and often an e-mail address belong to the household. */
    int dob_missing_ok = bd == MATCH_BIRTH_MISSING && pc == MATCH_POSTCODE_EXACT &&
                         ev->level[MATCH_FIELD_PHONE] == MATCH_BINARY_EXACT && mi_is_mobile(a) &&
                         (g == MATCH_GIVEN_EXACT || g == MATCH_GIVEN_NICKNAME);
    if (!birth_agrees_closely(bd) && !dob_missing_ok)
        return "birth dates missing or disagree (parent/child risk)";
    if (ev->level[MATCH_FIELD_SEX] == MATCH_BINARY_DIFFERENT) {
        /* Boy/girl twins have different forenames (opposite-sex forms of one name compare as
         * different), so one exact forename and one exact birth date with a sex disagreement is a
         * recording error -- unless the forename is a short form both sexes carry, or a slip away
         * from its opposite-sex form (the twin sister's Martina keyed as Martin). */
        if (g != MATCH_GIVEN_EXACT || bd != MATCH_BIRTH_EXACT || a->given[0] == '\0' ||
            mi_forename_shared_by_two_names(a->given) || mi_typo_from_opposite_sex_form(a->given))
            return "sex disagrees";
    }
    /* Namesakes -- another resident with the same name, birth date and sex -- live elsewhere and
     * have their own phone. A pair with nothing beyond name and birth date in common (postcode
     * missing or in another area, no phone or e-mail alike) must carry MATCH_UNCORROBORATED_MARGIN
     * more weight than upper. */
    int place = pc == MATCH_POSTCODE_EXACT || pc == MATCH_POSTCODE_SECTOR ||
                pc == MATCH_POSTCODE_DISTRICT || pc == MATCH_POSTCODE_AREA;
    if (!place && !contact && ev->total < upper + MATCH_UNCORROBORATED_MARGIN)
        return "nothing but name and birth date in common (namesake risk)";
    return NULL;
}

static match_decision_t by_score(const match_params_t *p, const match_prep_t *a,
                                 const match_evidence_t *ev, match_tf_fn tf, void *tf_ctx,
                                 char *why, size_t why_len)
{
    if (ev->total < p->lower) {
        say(why, why_len, "below lower threshold", ev->total);
        return MATCH_DECISION_NONE;
    }
    if (ev->total < p->upper) {
        say(why, why_len, "between thresholds: steward review", ev->total);
        return MATCH_DECISION_POSSIBLE;
    }
    const char *failure = anchor_failure(a, ev, p->upper, tf, tf_ctx);
    if (failure != NULL) {
        char text[128];
        snprintf(text, sizeof text, "above upper threshold but %s: steward review", failure);
        say(why, why_len, text, ev->total);
        return MATCH_DECISION_POSSIBLE;
    }
    say(why, why_len, "above upper threshold", ev->total);
    return MATCH_DECISION_LINK;
}

match_decision_t match_decide(const match_params_t *p, const match_person_t *a,
                              const match_person_t *b, match_tf_fn tf, void *tf_ctx,
                              match_evidence_t *ev, char *why, size_t why_len)
{
    if (a == NULL || b == NULL) {
        if (ev != NULL)
            memset(ev, 0, sizeof *ev);
        say(why, why_len, "missing input", 0.0);
        return MATCH_DECISION_NONE;
    }
    match_prep_t pa, pb;
    match_prepare(a, &pa);
    match_prepare(b, &pb);
    return match_decide_prep(p, &pa, &pb, tf, tf_ctx, ev, why, why_len);
}

static int same_ni(const match_prep_t *a, const match_prep_t *b)
{
    if (a->ni[0] == '\0' || b->ni[0] == '\0' || strcmp(a->ni, b->ni) != 0)
        return 0;
    /* the suffix is often dropped on entry */
    return a->ni_suffix == '\0' || b->ni_suffix == '\0' || a->ni_suffix == b->ni_suffix;
}

match_decision_t match_decide_prep(const match_params_t *p, const match_prep_t *a,
                                   const match_prep_t *b, match_tf_fn tf, void *tf_ctx,
                                   match_evidence_t *ev, char *why, size_t why_len)
{
    match_evidence_t local;
    if (ev == NULL)
        ev = &local;
    double score = match_score_prep(p, a, b, tf, tf_ctx, ev);
    if (p == NULL || a == NULL || b == NULL) {
        say(why, why_len, "missing input", score);
        return MATCH_DECISION_NONE;
    }

    if (a->nhs[0] != '\0' && b->nhs[0] != '\0') {
        if (strcmp(a->nhs, b->nhs) != 0) {
            say(why, why_len, "different NHS numbers: two people", score);
            return MATCH_DECISION_NONE;
        }
        int bl = ev->level[MATCH_FIELD_BIRTH];
        if (bl == MATCH_BIRTH_MISSING || birth_agrees_closely(bl)) {
            say(why, why_len, "same NHS number", score);
            return MATCH_DECISION_LINK;
        }
        say(why, why_len, "same NHS number but birth dates disagree: steward review", score);
        return MATCH_DECISION_POSSIBLE;
    }
    if (same_ni(a, b) && ev->level[MATCH_FIELD_BIRTH] == MATCH_BIRTH_EXACT) {
        say(why, why_len, "same NI number and birth date", score);
        return MATCH_DECISION_LINK;
    }
    return by_score(p, a, ev, tf, tf_ctx, why, why_len);
}

/* ------------------------------------------------------------------------------------------ */
/* Bounds                                                                                      */

static uint16_t hash16(const char *s)
{
    if (s[0] == '\0')
        return 0;
    uint64_t h = mi_fnv1a(s);
    uint16_t v = (uint16_t)(h ^ (h >> 16) ^ (h >> 32) ^ (h >> 48));
    return v ? v : 1;
}

static uint16_t fold16(unsigned long long h)
{
    uint16_t v = (uint16_t)(h ^ (h >> 16) ^ (h >> 32) ^ (h >> 48));
    return v ? v : 1;
}

/* The date's digits, four bits each: one keyed digit wrong is one nibble that differs. */
static uint32_t birth_digits(const match_prep_t *p)
{
    if (p->birth[0] == '\0')
        return 0;
    uint32_t v = 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7)
            v = v << 4 | (uint32_t)(p->birth[i] - '0');
    return v ? v : 1; /* 0000-00-00 is not a valid date anyway */
}

void match_sketch(const match_prep_t *p, match_sketch_t *o)
{
    memset(o, 0, sizeof *o);
    o->birth = birth_digits(p);
    o->bdays = (int32_t)p->bdays;
    o->given = hash16(p->given);
    o->family = hash16(p->family);
    o->postcode = hash16(p->pc_full);
    o->phone = hash16(p->phone);
    o->email = p->has_email ? fold16(p->email_hash) : 0;
    o->nhs = hash16(p->nhs);
    o->ni = hash16(p->ni);
    o->sex = p->sex;
}

/* birth_level, on sketches: the same level for the same dates. */
static int sketch_birth_level(const match_sketch_t *a, const match_sketch_t *b)
{
    if (a->birth == 0 || b->birth == 0)
        return MATCH_BIRTH_MISSING;
    if (a->birth == b->birth)
        return MATCH_BIRTH_EXACT;
    uint32_t ya = a->birth >> 16, ma = a->birth >> 8 & 0xff, da = a->birth & 0xff;
    uint32_t yb = b->birth >> 16, mb = b->birth >> 8 & 0xff, db = b->birth & 0xff;
    if (ya == yb && ma == db && da == mb)
        return MATCH_BIRTH_TRANSPOSED;
    int diffs = 0;
    for (uint32_t x = a->birth ^ b->birth; x != 0; x >>= 4)
        diffs += (x & 0xf) != 0;
    if (diffs == 1)
        return MATCH_BIRTH_TYPO;
    long gap = (long)a->bdays - (long)b->bdays;
    if (gap >= -31 && gap <= 31)
        return MATCH_BIRTH_WITHIN_MONTH;
    return ya == yb ? MATCH_BIRTH_SAME_YEAR : MATCH_BIRTH_DIFFERENT;
}

static double frozen_w(const match_params_t *p, match_field_t f, int level)
{
    return level > 0 && level < p->nlevels[f] && level < MATCH_MAX_LEVELS ? p->w[f][level] : 0.0;
}

static double max_w_from(const match_params_t *p, match_field_t f, int from)
{
    double best = -INFINITY;
    for (int k = from; k < p->nlevels[f] && k < MATCH_MAX_LEVELS; k++)
        best = fmax(best, p->w[f][k]);
    return best;
}

void match_bounder_init(match_bounder_t *b, const match_params_t *p, const match_prep_t *a,
                        match_tf_fn tf, void *tf_ctx)
{
    memset(b, 0, sizeof *b);
    if (p == NULL || a == NULL || !p->frozen)
        return;
    match_sketch(a, &b->a);
    b->given_exact = field_weight(p, MATCH_FIELD_GIVEN, MATCH_GIVEN_EXACT, tf, tf_ctx, a);
    b->family_exact = field_weight(p, MATCH_FIELD_FAMILY, MATCH_FAMILY_EXACT, tf, tf_ctx, a);
    b->given_other = max_w_from(p, MATCH_FIELD_GIVEN, MATCH_GIVEN_EXACT + 1);
    b->family_other = max_w_from(p, MATCH_FIELD_FAMILY, MATCH_FAMILY_EXACT + 1);
    b->postcode_other = max_w_from(p, MATCH_FIELD_POSTCODE, MATCH_POSTCODE_EXACT + 1);
    b->usable = 1;
}

/* The most a binary field can weigh: exact only if the hashes agree. */
static double binary_bound(const match_params_t *p, match_field_t f, uint16_t a, uint16_t b)
{
    if (a == 0 || b == 0)
        return 0.0;
    double diff = frozen_w(p, f, MATCH_BINARY_DIFFERENT);
    return a == b ? fmax(frozen_w(p, f, MATCH_BINARY_EXACT), diff) : diff;
}

static double name_bound(uint16_t a, uint16_t b, double exact, double other)
{
    if (a == 0 || b == 0)
        return 0.0;
    return a == b ? fmax(exact, other) : other;
}

double match_bound(const match_bounder_t *bd, const match_params_t *p, const match_sketch_t *c)
{
    const match_sketch_t *a = &bd->a;
    if (!bd->usable || (a->nhs != 0 && a->nhs == c->nhs) || (a->ni != 0 && a->ni == c->ni))
        return INFINITY;
    double total = name_bound(a->given, c->given, bd->given_exact, bd->given_other);
    total += name_bound(a->family, c->family, bd->family_exact, bd->family_other);
    total += frozen_w(p, MATCH_FIELD_BIRTH, sketch_birth_level(a, c));
    if (a->sex != 0 && c->sex != 0)
        total += frozen_w(p, MATCH_FIELD_SEX,
                          a->sex == c->sex ? MATCH_BINARY_EXACT : MATCH_BINARY_DIFFERENT);
    if (a->postcode != 0 && c->postcode != 0)
        total +=
            a->postcode == c->postcode
                ? fmax(frozen_w(p, MATCH_FIELD_POSTCODE, MATCH_POSTCODE_EXACT), bd->postcode_other)
                : bd->postcode_other;
    total += binary_bound(p, MATCH_FIELD_PHONE, a->phone, c->phone);
    total += binary_bound(p, MATCH_FIELD_EMAIL, a->email, c->email);
    /* Summed in another order than the score: allow for rounding. */
    return total + 1e-6;
}

/* ------------------------------------------------------------------------------------------ */
/* Blocking keys                                                                               */

typedef struct {
    char (*keys)[MATCH_KEY_LEN];
    int max;
    int n;
} keyset_t;

/* Appends a key unless the set is full or it would not fit (a truncated key could collide with an
 * unrelated one, which only costs candidates, but a silently shortened key is confusing). */
static void add_key(keyset_t *ks, const char *prefix, const char *value)
{
    if (ks->n >= ks->max || value[0] == '\0')
        return;
    /* Joined by hand: keys are made for every event and every record indexed. */
    size_t lp = strlen(prefix), lv = strlen(value);
    if (lp + lv >= MATCH_KEY_LEN)
        return;
    memcpy(ks->keys[ks->n], prefix, lp);
    memcpy(ks->keys[ks->n] + lp, value, lv + 1);
    ks->n++;
}

static void add_email_key(keyset_t *ks, const char *email)
{
    char e[EMAIL_BUF];
    if (!mi_norm_email(email, e, sizeof e))
        return;
    if (strlen(e) + 3 < MATCH_KEY_LEN) {
        add_key(ks, "em:", e);
        return;
    }
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)mi_fnv1a(e));
    add_key(ks, "em#", hex);
}

/* Writes V as exactly WIDTH decimal digits (V is a valid date part, 0 <= V < 10^WIDTH) and
 * returns the end. Keys are made for every event and every record indexed, by hand rather than
 * with snprintf, which was most of the cost of making them. */
static char *put_digits(char *out, int v, int width)
{
    for (int i = width - 1; i >= 0; i--, v /= 10)
        out[i] = (char)('0' + v % 10);
    return out + width;
}

/* "YYYY-MM-DD" from its parts; OUT has room for 11 bytes. */
static char *put_date(char *out, int y, int m, int d)
{
    out = put_digits(out, y, 4);
    *out++ = '-';
    out = put_digits(out, m, 2);
    *out++ = '-';
    out = put_digits(out, d, 2);
    *out = '\0';
    return out;
}

static void add_name_date_keys(keyset_t *ks, const match_person_t *p, const mi_ymd_t *dob)
{
    char fam[8], given[NAME_BUF], buf[MATCH_KEY_LEN];
    match_phonetic(p->family, fam, sizeof fam);
    size_t lf = strlen(fam);
    if (lf == 0)
        return;
    /* sizeof fam + ':' + "YYYY-MM-DD" fits MATCH_KEY_LEN with room to spare */
    memcpy(buf, fam, lf);
    buf[lf] = ':';
    *put_digits(buf + lf + 1, dob->y, 4) = '\0';
    add_key(ks, "ph:", buf);
    if (mi_norm_letters(p->given, given, sizeof given) == 0)
        return;
    /* Sorting day and month makes 1984-03-07 and 1984-07-03 produce the same key. */
    int lo = dob->m < dob->d ? dob->m : dob->d;
    int hi = dob->m < dob->d ? dob->d : dob->m;
    buf[0] = given[0];
    memcpy(buf + 1, fam, lf);
    buf[lf + 1] = ':';
    (void)put_date(buf + lf + 2, dob->y, lo, hi);
    add_key(ks, "dm:", buf);
}

int match_blocking_keys(const match_person_t *p, char keys[][MATCH_KEY_LEN], int max)
{
    keyset_t ks = {keys, max, 0};
    char buf[MATCH_KEY_LEN];
    mi_ymd_t dob;
    mi_postcode_t pc;

    if (p == NULL || keys == NULL || max <= 0)
        return 0;
    if (mi_nhs_normalise(p->nhs_number, buf))
        add_key(&ks, "nhs:", buf);
    char suffix;
    if (mi_ni_normalise(p->ni_number, buf, &suffix))
        add_key(&ks, "ni:", buf);
    int have_dob = mi_parse_date(p->birth_date, &dob);
    if (have_dob) {
        (void)put_date(buf, dob.y, dob.m, dob.d);
        add_key(&ks, "dob:", buf);
    }
    if (mi_parse_postcode(p->postcode, &pc))
        add_key(&ks, "pc:", pc.full);
    if (have_dob)
        add_name_date_keys(&ks, p, &dob);
    char phone[PHONE_BUF];
    if (mi_norm_phone(p->phone, phone, sizeof phone))
        add_key(&ks, "tel:", phone);
    add_email_key(&ks, p->email);
    return ks.n;
}

/* ------------------------------------------------------------------------------------------ */
/* EM training                                                                                 */

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

int match_train_em(match_params_t *p, const match_vector_t *v, size_t n, double *lambda_out)
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
            double du = em_update_row(p->u[f], c.u[f], p->nlevels[f]);
            change = fmax(change, fmax(dm, du));
        }
        if (change < EM_TOL)
            break;
    }
    if (lambda_out != NULL)
        *lambda_out = lambda;
    return iter;
}
