/* match.c - the Fellegi-Sunter core of Joinery's resident matching: the default m and u
 * probabilities and thresholds, match weights (with the term-frequency adjustment), the score of a
 * pair, and the link/steward/non-link decision with its precision guards. See match.h for the
 * contract; this file explains the numbers and trade-offs. The levels it weighs are compare.c's.
 *
 * Everything on the scoring path works in fixed-size stack buffers: no allocation, no global
 * mutable state, so scoring is re-entrant and cheap across large candidate blocks.
 */
#include "match/match_int.h"

#include <math.h>
#include <stdio.h>
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
    /* Forename: exact, swapped, nickname, jw92, jw80, phonetic, different. Swapped (forename and
     * surname in each other's boxes) happens to about one record in a hundred where names are
     * keyed into two boxes by hand; two different people whose names agree crosswise are rarer
     * than two with the same forename, but not unknown (James Thomas, Thomas James), so u is set
     * to give it nearly an exact forename's weight (6.1 bits against 6.4), never more. u(exact) ~
     * 0.01: the sum of squared forename frequencies, the top names being 1-2% each. m(different) =
     * 0.01 covers people known by a middle name; keeping it small is what makes a different
     * forename strong evidence of a different person (twins). */
    static const double gm[] = {0.845, 0.01, 0.04, 0.05, 0.03, 0.015, 0.01};
    static const double gu[] = {0.01, 1.5e-4, 0.002, 0.003, 0.015, 0.01, 0.95985};
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
    /* Address (house number and street): exact, same house (street keyed with a slip), same
     * street (a number on one side only), neighbour (another number), a street word in common,
     * different. m: as for the postcode, about a fifth of true pairs were recorded at different
     * addresses (people move, systems lag), and house numbers and street words are each dropped
     * or mistyped in a few per cent of records. u: two random residents share a house about once
     * in 10^5 pairs, but pairs are only compared inside blocks (same postcode, name or birth
     * date) and households share an address, so u(exact) is set fifty times higher, at 5e-4:
     * an address is worth about as much as a rare surname (10.3 bits). Full names, house and
     * town alike then reach the upper threshold without a birth date; a parent and child of one
     * name at one address are kept apart by the birth-date and two-link guards, not by this. Where
     * both records carry a UK postcode the postcode already says most of this, so the address only
     * adds what the postcode could not (see place_weights). */
    static const double am[] = {0.63, 0.08, 0.05, 0.03, 0.03, 0.18};
    static const double au[] = {5e-4, 3e-4, 2e-3, 3e-3, 0.01, 0.9842};
    /* Locality (town, suburb): exact, similar (a slip), different. u(exact) = 0.02: a hub's
     * residents spread over some fifty towns and suburbs of unequal size. m(different) = 0.15:
     * movers, and towns written as the district or the village. */
    static const double lm[] = {0.80, 0.05, 0.15};
    static const double lu[] = {0.02, 0.005, 0.975};
    set_row(p, MATCH_FIELD_ADDRESS, MATCH_ADDRESS_NLEVELS, am, au);
    set_row(p, MATCH_FIELD_LOCALITY, MATCH_LOCALITY_NLEVELS, lm, lu);
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

/* The normalised value of A's field F that the frequency hook is asked about. */
static const char *tf_value(match_field_t f, const match_prep_t *a)
{
    return f == MATCH_FIELD_GIVEN ? a->given : f == MATCH_FIELD_FAMILY ? a->family : a->locality;
}

static double ask_tf(match_tf_fn tf, void *ctx, match_field_t f, const match_prep_t *a)
{
    return tf(ctx, f, tf_value(f, a));
}

void match_tf_cache_init(match_tf_cache_t *c, const match_prep_t *p, match_tf_fn tf, void *tf_ctx)
{
    *c = (match_tf_cache_t){.tf = tf, .tf_ctx = tf_ctx, .p = p};
    if (tf == NULL)
        return;
    c->given = p->given[0] != '\0' ? tf(tf_ctx, MATCH_FIELD_GIVEN, p->given) : 0.0;
    c->family = p->family[0] != '\0' ? tf(tf_ctx, MATCH_FIELD_FAMILY, p->family) : 0.0;
    c->locality = p->locality[0] != '\0' ? tf(tf_ctx, MATCH_FIELD_LOCALITY, p->locality) : 0.0;
}

double match_tf_cached(void *cache, match_field_t f, const char *value)
{
    const match_tf_cache_t *c = cache;
    if (c->tf == NULL)
        return -1.0;
    if (f == MATCH_FIELD_GIVEN && value == c->p->given)
        return c->given;
    if (f == MATCH_FIELD_FAMILY && value == c->p->family)
        return c->family;
    if (f == MATCH_FIELD_LOCALITY && value == c->p->locality)
        return c->locality;
    return c->tf(c->tf_ctx, f, value);
}

static double name_tf(match_tf_fn tf, void *ctx, match_field_t f, const match_prep_t *a)
{
    if (tf == NULL || tf_value(f, a)[0] == '\0')
        return 0.0;
    double v = ask_tf(tf, ctx, f, a);
    if (!(v > 0.0)) /* also rejects NaN */
        return 0.0;
    double floor = f == MATCH_FIELD_GIVEN      ? MATCH_TF_GIVEN_FLOOR
                   : f == MATCH_FIELD_LOCALITY ? MATCH_TF_LOCALITY_FLOOR
                                               : MATCH_TF_FLOOR;
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
    if (level == 1 &&
        (f == MATCH_FIELD_GIVEN || f == MATCH_FIELD_FAMILY || f == MATCH_FIELD_LOCALITY)) {
        /* Level 1 is EXACT for both name fields and the locality. */
        double freq = name_tf(tf, tf_ctx, f, a);
        if (freq > 0.0)
            return safe_log2_ratio(p->m[f][level], freq);
    }
    return p->frozen ? p->w[f][level] : safe_log2_ratio(p->m[f][level], u);
}

double mi_field_weight(const match_params_t *p, match_field_t f, int level, match_tf_fn tf,
                       void *tf_ctx, const match_prep_t *a)
{
    return field_weight(p, f, level, tf, tf_ctx, a);
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

/* A UK unit postcode holds some fifteen households, so where both records carry one the
 * postcode already says most of what the address and the town would: the same postcode implies
 * the same street and town, and another postcode already counts a move. Counted in full they
 * would count it twice (conditional independence fails). So with two UK postcodes:
 * - the same postcode: the town adds nothing, and the address only what it says within one
 *   postcode (IN_POSTCODE: m as the same person's records look when the postcode agrees, u as
 *   two residents of one postcode do, one household in fifteen): the same house a little for,
 *   another house there (a neighbour with the same name) clearly against;
 * - the district in common (a postcode keyed with a slip): their agreement, not disagreement;
 * - postcodes further apart: nothing, since the same number on a street of the same name under
 *   a postcode in another district is another High Street.
 * Elsewhere (no postcode, or codes that are not UK ones: a four-digit code covers a whole
 * suburb) they count in full. */
static void place_weights(const match_prep_t *a, const match_prep_t *b, match_evidence_t *ev)
{
    /* log2(m/u) for exact, same house, same street, neighbour, word, different, with
     * m = 0.90, 0.04, 0.03, 0.01, 0.01, 0.01 and u = 0.067, 0.01, 0.15, 0.60, 0.05, 0.123
     * (written out: this runs for every candidate in the same postcode) */
    static const double in_pc_w[] = {
        MATCH_IN_POSTCODE_MAX, 2.0, -2.3219, -5.9069, -2.3219, -3.6206};
    if (a->pc_area[0] == '\0' || b->pc_area[0] == '\0')
        return;
    int pc = ev->level[MATCH_FIELD_POSTCODE], al = ev->level[MATCH_FIELD_ADDRESS];
    int slip = pc == MATCH_POSTCODE_SECTOR || pc == MATCH_POSTCODE_DISTRICT;
    for (int f = MATCH_FIELD_ADDRESS; f <= MATCH_FIELD_LOCALITY; f++)
        ev->weight[f] = slip ? fmax(ev->weight[f], 0.0) : 0.0;
    if (pc == MATCH_POSTCODE_EXACT && al > MATCH_ADDRESS_MISSING && al < MATCH_ADDRESS_NLEVELS)
        ev->weight[MATCH_FIELD_ADDRESS] = in_pc_w[al - 1];
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
    for (int f = 0; f < MATCH_FIELD_COUNT; f++)
        ev->weight[f] = field_weight(p, (match_field_t)f, ev->level[f], tf, tf_ctx, a);
    place_weights(a, b, ev);
    for (int f = 0; f < MATCH_FIELD_COUNT; f++)
        ev->total += ev->weight[f];
    return ev->total;
}

/* ------------------------------------------------------------------------------------------ */
/* Decisions                                                                                   */

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
static const char *anchor_failure(const match_prep_t *a, const match_prep_t *b,
                                  const match_evidence_t *ev, double upper, match_tf_fn tf,
                                  void *tf_ctx)
{
    int g = ev->level[MATCH_FIELD_GIVEN];
    int bd = ev->level[MATCH_FIELD_BIRTH];
    int loose = g == MATCH_GIVEN_JW80 || g == MATCH_GIVEN_PHONETIC;
    int forename_close = g == MATCH_GIVEN_EXACT || g == MATCH_GIVEN_NICKNAME ||
                         g == MATCH_GIVEN_SWAPPED || g == MATCH_GIVEN_JW92;
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
    /* Records from systems that never held a birth date (or held one so wrong it was refused)
     * still name the house: the same house number and street in the same postcode or town, with
     * a forename that agrees, stands in for the missing date. A date present on both sides and
     * different still stops the pair (parent and child at one address); twins differ in their
     * forenames. */
    int al = ev->level[MATCH_FIELD_ADDRESS], ll = ev->level[MATCH_FIELD_LOCALITY];
    /* the same house: number and street, or the street with the number on one side only */
    int house =
        al == MATCH_ADDRESS_EXACT || al == MATCH_ADDRESS_SAME_HOUSE || al == MATCH_ADDRESS_STREET;
    /* the town counts only where place_weights let it (not against another UK postcode) */
    int town = pc == MATCH_POSTCODE_EXACT ||
               ((ll == MATCH_LOCALITY_EXACT || ll == MATCH_LOCALITY_SIMILAR) &&
                ev->weight[MATCH_FIELD_LOCALITY] > 0.0);
    /* ... unless a personal contact disagrees: a mother and daughter of one name at one house
     * carry their own mobiles. */
    int contact_differs = ev->level[MATCH_FIELD_PHONE] == MATCH_BINARY_DIFFERENT ||
                          ev->level[MATCH_FIELD_EMAIL] == MATCH_BINARY_DIFFERENT;
    /* Not where both records carry a UK postcode: there the systems are ones that record birth
     * dates, and a record without one at a house where someone of that name lives was, in our own
     * population of 250,000, as often a parent's or child's as the same person's (seven false
     * merges of same-named parent and child when the house stood in there too); the same mobile
     * above is what settles it. */
    int uk = a->pc_area[0] != '\0' && b->pc_area[0] != '\0';
    dob_missing_ok |=
        bd == MATCH_BIRTH_MISSING && house && town && forename_close && !contact_differs && !uk;
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
                pc == MATCH_POSTCODE_DISTRICT || pc == MATCH_POSTCODE_AREA ||
                (al >= MATCH_ADDRESS_EXACT && al <= MATCH_ADDRESS_NEIGHBOUR &&
                 ev->weight[MATCH_FIELD_ADDRESS] > 0.0) ||
                (ll == MATCH_LOCALITY_EXACT && ev->weight[MATCH_FIELD_LOCALITY] > 0.0);
    if (!place && !contact && ev->total < upper + MATCH_UNCORROBORATED_MARGIN)
        return "nothing but name and birth date in common (namesake risk)";
    return NULL;
}

static match_decision_t by_score(const match_params_t *p, const match_prep_t *a,
                                 const match_prep_t *b, const match_evidence_t *ev, match_tf_fn tf,
                                 void *tf_ctx, char *why, size_t why_len)
{
    if (ev->total < p->lower) {
        say(why, why_len, "below lower threshold", ev->total);
        return MATCH_DECISION_NONE;
    }
    if (ev->total < p->upper) {
        say(why, why_len, "between thresholds: steward review", ev->total);
        return MATCH_DECISION_POSSIBLE;
    }
    const char *failure = anchor_failure(a, b, ev, p->upper, tf, tf_ctx);
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

/* The same shared identifier: two people do not have one number (twins and a parent and child
 * have their own), so it links unless the record says otherwise. A birth date present on both
 * sides and different beyond a slip still links when forename and surname both agree (a date
 * keyed wrong on the same person's record); with no birth date to compare, one of the names must
 * agree. Otherwise (a number keyed onto the wrong person) a steward decides. */
static match_decision_t by_shared_id(const match_evidence_t *ev, double score, char *why,
                                     size_t why_len)
{
    int bl = ev->level[MATCH_FIELD_BIRTH], g = ev->level[MATCH_FIELD_GIVEN],
        f = ev->level[MATCH_FIELD_FAMILY];
    int given = g == MATCH_GIVEN_EXACT || g == MATCH_GIVEN_SWAPPED || g == MATCH_GIVEN_NICKNAME ||
                g == MATCH_GIVEN_JW92;
    int family = f == MATCH_FAMILY_EXACT || f == MATCH_FAMILY_JW92 || g == MATCH_GIVEN_SWAPPED;
    if (birth_agrees_closely(bl) || (bl == MATCH_BIRTH_MISSING && (given || family))) {
        say(why, why_len, "same shared identifier", score);
        return MATCH_DECISION_LINK;
    }
    if (bl != MATCH_BIRTH_MISSING && given && family) {
        say(why, why_len, "same shared identifier and name, birth dates disagree", score);
        return MATCH_DECISION_LINK;
    }
    say(why, why_len,
        bl == MATCH_BIRTH_MISSING
            ? "same shared identifier but the names disagree: steward review"
            : "same shared identifier but birth dates and names disagree: steward review",
        score);
    return MATCH_DECISION_POSSIBLE;
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
    if (a->shared_hash != 0 && a->shared_hash == b->shared_hash)
        return by_shared_id(ev, score, why, why_len);
    if (same_ni(a, b) && ev->level[MATCH_FIELD_BIRTH] == MATCH_BIRTH_EXACT) {
        say(why, why_len, "same NI number and birth date", score);
        return MATCH_DECISION_LINK;
    }
    return by_score(p, a, b, ev, tf, tf_ctx, why, why_len);
}
