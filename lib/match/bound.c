/* bound.c - sketches and bounds (match_sketch, match_bounder_init, match_bound): a candidate's
 * matching fields in 24 bytes, and from them a score the pair cannot exceed, so that a search can
 * dismiss most candidates without reading their preparation. */
#include "match/match_int.h"

#include <math.h>
#include <string.h>

/* A 64-bit hash folded to 16 bits, never 0 (which stands for "missing"). */
static uint16_t fold16(unsigned long long h)
{
    uint16_t v = (uint16_t)(h ^ (h >> 16) ^ (h >> 32) ^ (h >> 48));
    return v ? v : 1;
}

static uint16_t hash16(const char *s)
{
    return s[0] == '\0' ? 0 : fold16(mi_fnv1a(s));
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
    o->uk_postcode = p->pc_area[0] != '\0';
    if (p->street[0] != '\0') {
        /* EXACT needs the same number and the same street: one hash of both */
        o->address = fold16(mi_fnv1a(p->street) ^ (mi_fnv1a(p->house) * 0x9e3779b97f4a7c15ULL));
    }
    o->locality = hash16(p->locality);
    o->district = hash16(p->pc_outward);
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
    b->given_exact = mi_field_weight(p, MATCH_FIELD_GIVEN, MATCH_GIVEN_EXACT, tf, tf_ctx, a);
    b->family_exact = mi_field_weight(p, MATCH_FIELD_FAMILY, MATCH_FAMILY_EXACT, tf, tf_ctx, a);
    /* SWAPPED needs one name to agree crosswise exactly, which the hashes show: it is bounded on
     * its own (names_bound), and the other levels without it. */
    b->given_other = max_w_from(p, MATCH_FIELD_GIVEN, MATCH_GIVEN_SWAPPED + 1);
    b->given_swapped = frozen_w(p, MATCH_FIELD_GIVEN, MATCH_GIVEN_SWAPPED);
    b->address_all = max_w_from(p, MATCH_FIELD_ADDRESS, MATCH_ADDRESS_EXACT);
    b->address_other = max_w_from(p, MATCH_FIELD_ADDRESS, MATCH_ADDRESS_EXACT + 1);
    b->locality_all =
        fmax(mi_field_weight(p, MATCH_FIELD_LOCALITY, MATCH_LOCALITY_EXACT, tf, tf_ctx, a),
             max_w_from(p, MATCH_FIELD_LOCALITY, MATCH_LOCALITY_EXACT + 1));
    b->locality_other = max_w_from(p, MATCH_FIELD_LOCALITY, MATCH_LOCALITY_EXACT + 1);
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

/* Both names: as they stand, or crosswise when one side's forename may be the other's surname. */
static double names_bound(const match_bounder_t *bd, const match_sketch_t *c)
{
    const match_sketch_t *a = &bd->a;
    double direct = name_bound(a->given, c->given, bd->given_exact, bd->given_other) +
                    name_bound(a->family, c->family, bd->family_exact, bd->family_other);
    int cross =
        (a->given != 0 && a->given == c->family) || (a->family != 0 && a->family == c->given);
    if (!cross || a->given == 0 || a->family == 0 || c->given == 0 || c->family == 0)
        return direct;
    return fmax(direct, bd->given_swapped + fmax(bd->family_exact, bd->family_other));
}

static double hashed_bound(uint16_t a, uint16_t b, double all, double other)
{
    if (a == 0 || b == 0)
        return 0.0;
    return a == b ? all : other;
}

/* The postcode's weight bounded alone: exact only if the hashes agree. */
static double postcode_bound(const match_bounder_t *bd, const match_params_t *p,
                             const match_sketch_t *c)
{
    const match_sketch_t *a = &bd->a;
    if (a->postcode == 0 || c->postcode == 0)
        return 0.0;
    double exact = frozen_w(p, MATCH_FIELD_POSTCODE, MATCH_POSTCODE_EXACT);
    return a->postcode == c->postcode ? fmax(exact, bd->postcode_other) : bd->postcode_other;
}

/* Postcode, address and locality together, as place_weights in match.c counts them. Between
 * two UK postcodes the address counts little when the postcodes are the same and more when they
 * differ by a slip, so the two cases are bounded apart: the same postcode (hashes agree) with the
 * most the address weighs within one, or another postcode of the district with the address and
 * locality's agreement. Outward codes that differ prove the postcodes are at most in one area,
 * where the address and locality count nothing. */
static double place_bound(const match_bounder_t *bd, const match_params_t *p,
                          const match_sketch_t *c)
{
    const match_sketch_t *a = &bd->a;
    double pc = postcode_bound(bd, p, c);
    double addr = hashed_bound(a->address, c->address, bd->address_all, bd->address_other);
    double loc = hashed_bound(a->locality, c->locality, bd->locality_all, bd->locality_other);
    if (!a->uk_postcode || !c->uk_postcode)
        return pc + addr + loc;
    if (a->district != c->district)
        return bd->postcode_other;
    double other = bd->postcode_other + fmax(addr, 0.0) + fmax(loc, 0.0);
    if (a->postcode != c->postcode)
        return other;
    double in_pc = a->address != 0 && c->address != 0 ? MATCH_IN_POSTCODE_MAX : 0.0;
    return fmax(frozen_w(p, MATCH_FIELD_POSTCODE, MATCH_POSTCODE_EXACT) + in_pc, other);
}

double match_bound(const match_bounder_t *bd, const match_params_t *p, const match_sketch_t *c)
{
    const match_sketch_t *a = &bd->a;
    if (!bd->usable || c->alt || (a->nhs != 0 && a->nhs == c->nhs) ||
        (a->ni != 0 && a->ni == c->ni))
        return INFINITY;
    double total = names_bound(bd, c) + place_bound(bd, p, c);
    total += frozen_w(p, MATCH_FIELD_BIRTH, sketch_birth_level(a, c));
    if (a->sex != 0 && c->sex != 0)
        total += frozen_w(p, MATCH_FIELD_SEX,
                          a->sex == c->sex ? MATCH_BINARY_EXACT : MATCH_BINARY_DIFFERENT);
    total += binary_bound(p, MATCH_FIELD_PHONE, a->phone, c->phone);
    total += binary_bound(p, MATCH_FIELD_EMAIL, a->email, c->email);
    /* Summed in another order than the score: allow for rounding. */
    return total + 1e-6;
}
