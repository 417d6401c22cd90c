/* compare.c - comparison levels: Jaro-Winkler, the prepared person (match_prepare: every field
 * normalised and parsed once), each field's level for a pair of prepared persons, and the names of
 * fields and levels. Weights, scores and decisions over these levels are match.c's. */
#include "match/match_int.h"

#include <ctype.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Jaro-Winkler                                                                                */

static size_t upper_copy(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (; in != NULL && n < cap && in[n] != '\0'; n++)
        out[n] = (char)toupper((unsigned char)in[n]);
    return n;
}

/* Matched positions as bits: names are scored for every candidate pair, and two words per side
 * cost less than clearing two arrays per call. */
#define JW_WORDS ((MATCH_JW_MAX_LEN + 63) / 64)
static int bit_get(const uint64_t *set, size_t i)
{
    return (int)(set[i >> 6] >> (i & 63) & 1);
}

static void bit_set(uint64_t *set, size_t i)
{
    set[i >> 6] |= (uint64_t)1 << (i & 63);
}

/* A and B are at most MATCH_JW_MAX_LEN characters. */
static double jaro(const char *a, size_t la, const char *b, size_t lb)
{
    uint64_t ma[JW_WORDS] = {0}, mb[JW_WORDS] = {0};
    size_t longer = la > lb ? la : lb;
    size_t window = longer / 2 > 0 ? longer / 2 - 1 : 0;
    size_t matches = 0;

    for (size_t i = 0; i < la; i++) {
        size_t lo = i > window ? i - window : 0;
        size_t hi = i + window + 1 < lb ? i + window + 1 : lb;
        for (size_t j = lo; j < hi; j++) {
            if (!bit_get(mb, j) && a[i] == b[j]) {
                bit_set(ma, i);
                bit_set(mb, j);
                matches++;
                break;
            }
        }
    }
    if (matches == 0)
        return 0.0;

    size_t half_transpositions = 0;
    for (size_t i = 0, j = 0; i < la; i++) {
        if (!bit_get(ma, i))
            continue;
        while (!bit_get(mb, j))
            j++;
        if (a[i] != b[j])
            half_transpositions++;
        j++;
    }
    double m = (double)matches;
    /* Integer halving as in Winkler's strcmp95, which the published reference values come from. */
    double t = (double)(half_transpositions / 2);
    return (m / (double)la + m / (double)lb + (m - t) / m) / 3.0;
}

/* Jaro-Winkler of two upper-case strings of known length. */
static double jaro_winkler_upper(const char *a, size_t la, const char *b, size_t lb)
{
    if (la == 0 || lb == 0)
        return (la == 0 && lb == 0) ? 1.0 : 0.0;
    double j = jaro(a, la, b, lb);
    /* Winkler only trusted the common-prefix bonus on strings that were already fairly similar. */
    if (j <= 0.7)
        return j;
    size_t prefix = 0;
    while (prefix < 4 && prefix < la && prefix < lb && a[prefix] == b[prefix])
        prefix++;
    return j + (double)prefix * 0.1 * (1.0 - j);
}

double match_jaro_winkler(const char *a, const char *b)
{
    char ua[MATCH_JW_MAX_LEN];
    char ub[MATCH_JW_MAX_LEN];
    size_t la = upper_copy(a, ua, sizeof ua);
    size_t lb = upper_copy(b, ub, sizeof ub);
    return jaro_winkler_upper(ua, la, ub, lb);
}

static int birth_level(const match_prep_t *a, const match_prep_t *b)
{
    if (a->birth[0] == '\0' || b->birth[0] == '\0')
        return MATCH_BIRTH_MISSING;
    if (a->by == b->by && a->bm == b->bm && a->bd == b->bd)
        return MATCH_BIRTH_EXACT;
    if (a->by == b->by && a->bm == b->bd && a->bd == b->bm)
        return MATCH_BIRTH_TRANSPOSED;
    /* One keyed digit wrong, anywhere in the date: 1952 typed as 1902 is as much a slip as the 13th
     * typed as the 18th. */
    int diffs = 0;
    for (int i = 0; i < 10; i++)
        diffs += a->birth[i] != b->birth[i];
    if (diffs == 1)
        return MATCH_BIRTH_TYPO;
    long gap = a->bdays - b->bdays;
    if (gap >= -31 && gap <= 31)
        return MATCH_BIRTH_WITHIN_MONTH;
    return a->by == b->by ? MATCH_BIRTH_SAME_YEAR : MATCH_BIRTH_DIFFERENT;
}

/* Two codes of one length that differ in one character: a postcode that is not a UK one (a
 * four-digit code, say) keyed with one slip is as near as the same area, not another place. */
static int one_slip(const char *a, const char *b)
{
    int diffs = 0;
    size_t i = 0;
    for (; a[i] != '\0' && b[i] != '\0'; i++)
        diffs += a[i] != b[i];
    return a[i] == '\0' && b[i] == '\0' && diffs == 1;
}

static int postcode_level(const match_prep_t *a, const match_prep_t *b)
{
    if (a->pc_full[0] == '\0' || b->pc_full[0] == '\0')
        return MATCH_POSTCODE_MISSING;
    if (str_eq(a->pc_full, b->pc_full))
        return MATCH_POSTCODE_EXACT;
    if (a->pc_area[0] == '\0' || b->pc_area[0] == '\0') /* not both UK postcodes */
        return one_slip(a->pc_full, b->pc_full) ? MATCH_POSTCODE_AREA : MATCH_POSTCODE_DIFFERENT;
    if (str_eq(a->pc_sector, b->pc_sector))
        return MATCH_POSTCODE_SECTOR;
    if (str_eq(a->pc_outward, b->pc_outward))
        return MATCH_POSTCODE_DISTRICT;
    if (str_eq(a->pc_area, b->pc_area))
        return MATCH_POSTCODE_AREA;
    return MATCH_POSTCODE_DIFFERENT;
}

static int binary_level(int present, int equal)
{
    if (!present)
        return MATCH_BINARY_MISSING;
    return equal ? MATCH_BINARY_EXACT : MATCH_BINARY_DIFFERENT;
}

static int sex_level(const match_prep_t *a, const match_prep_t *b)
{
    return binary_level(a->sex != 0 && b->sex != 0, a->sex == b->sex);
}

int mi_is_mobile(const match_prep_t *p)
{
    return p->phone[0] == '0' && p->phone[1] == '7' && strlen(p->phone) == 11;
}

static int phone_level(const match_prep_t *a, const match_prep_t *b)
{
    int present = a->phone[0] != '\0' && b->phone[0] != '\0';
    return binary_level(present, present && str_eq(a->phone, b->phone));
}

/* Compared by a 64-bit hash of the normalised address: two different addresses share one with a
 * chance of 1 in 2^64 per pair, far below any error rate in the data. */
static int email_level(const match_prep_t *a, const match_prep_t *b)
{
    int present = a->has_email && b->has_email;
    return binary_level(present, present && a->email_hash == b->email_hash);
}

/* ------------------------------------------------------------------------------------------ */
/* Addresses                                                                                   */

/* Street types and unit words, each with the one form it compares as. Systems write "Road",
 * "Rd" and "Rd." for one street; the folded form makes them one string for Jaro-Winkler. */
static const char *const street_types[][2] = {
    {"ROAD", "RD"},     {"RD", "RD"},          {"STREET", "ST"},    {"ST", "ST"},
    {"AVENUE", "AVE"},  {"AVE", "AVE"},        {"AV", "AVE"},       {"DRIVE", "DR"},
    {"DR", "DR"},       {"LANE", "LN"},        {"LN", "LN"},        {"CRESCENT", "CRES"},
    {"CRES", "CRES"},   {"CR", "CRES"},        {"CLOSE", "CL"},     {"CL", "CL"},
    {"PLACE", "PL"},    {"PL", "PL"},          {"COURT", "CT"},     {"CT", "CT"},
    {"TERRACE", "TCE"}, {"TCE", "TCE"},        {"TER", "TCE"},      {"GARDENS", "GDNS"},
    {"GDNS", "GDNS"},   {"SQUARE", "SQ"},      {"SQ", "SQ"},        {"GROVE", "GR"},
    {"GR", "GR"},       {"PARADE", "PDE"},     {"PDE", "PDE"},      {"HIGHWAY", "HWY"},
    {"HWY", "HWY"},     {"BOULEVARD", "BLVD"}, {"BLVD", "BLVD"},    {"CIRCUIT", "CCT"},
    {"CCT", "CCT"},     {"WAY", "WAY"},        {"PARKWAY", "PKWY"}, {"PKWY", "PKWY"},
};

/* A word after which a number is a flat's or a unit's, not the house's. */
static int unit_word(const char *w)
{
    static const char *const units[] = {"FLAT",  "UNIT",  "APT",   "APARTMENT", "SUITE", "ROOM",
                                        "LEVEL", "FLOOR", "BLOCK", "LOT",       "SHOP"};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(w, units[i]) == 0)
            return 1;
    return 0;
}

static const char *street_type(const char *w)
{
    for (size_t i = 0; i < sizeof street_types / sizeof street_types[0]; i++)
        if (strcmp(w, street_types[i][0]) == 0)
            return street_types[i][1];
    return NULL;
}

/* The next word of an address at *S: letters and digits upper-cased, apostrophes and full stops
 * inside it dropped ("St." and "John's" are ST and JOHNS); every other character separates words.
 * Reading stops at NUL or '|'. Returns the word's length (0: no more words); *NEWLINE is set when
 * a line break came before it. Overlong words are cut. */
static size_t next_word(const char **s, char *w, size_t cap, int *newline)
{
    const char *p = *s;
    *newline = 0;
    while (*p != '\0' && *p != '|' && !isalnum((unsigned char)*p)) {
        *newline |= *p == '\n';
        p++;
    }
    size_t n = 0;
    while (*p != '\0' && *p != '|' &&
           (isalnum((unsigned char)*p) || ((*p == '\'' || *p == '.') && n > 0))) {
        if (isalnum((unsigned char)*p) && n + 1 < cap)
            w[n++] = (char)toupper((unsigned char)*p);
        p++;
    }
    w[n] = '\0';
    *s = p;
    return n;
}

static void append_word(char *street, size_t *len, const char *w)
{
    size_t lw = strlen(w), need = lw + (*len > 0);
    if (*len + need >= MATCH_STREET_BUF)
        return; /* the first words tell streets apart; the rest is cut */
    if (*len > 0)
        street[(*len)++] = ' ';
    memcpy(street + *len, w, lw + 1);
    *len += lw;
}

/* The house number (the first number that is not a flat's or unit's, with a letter suffix: 12A),
 * and the street: the words of the first line that has any, street types folded, numbers and unit
 * words left out. */
static void prepare_address(const char *lines, match_prep_t *o)
{
    char w[32];
    size_t len = 0, nwords = 0;
    int newline, after_unit = 0, street_line_done = 0;
    for (const char *s = lines; next_word(&s, w, sizeof w, &newline) > 0;) {
        if (newline && len > 0)
            street_line_done = 1;
        if (w[0] >= '0' && w[0] <= '9') {
            if (o->house[0] == '\0' && !after_unit) {
                size_t n = strlen(w) < sizeof o->house ? strlen(w) : sizeof o->house - 1;
                memcpy(o->house, w, n);
                o->house[n] = '\0';
            }
            after_unit = 0;
            continue;
        }
        after_unit = unit_word(w);
        if (after_unit || street_line_done)
            continue;
        const char *type = street_type(w);
        if (type == NULL && nwords < MATCH_STREET_WORDS && w[1] != '\0')
            o->street_word[nwords++] = (uint16_t)(mi_fnv1a(w) | 1);
        append_word(o->street, &len, type != NULL ? type : w);
    }
}

/* Letters of the locality up to NUL or '|' (the hub's stored address text goes on after it). */
static void prepare_locality(const char *in, match_prep_t *o)
{
    char buf[MATCH_LOCALITY_BUF * 4];
    size_t n = 0;
    for (; in[n] != '\0' && in[n] != '|' && n + 1 < sizeof buf; n++)
        buf[n] = in[n];
    buf[n] = '\0';
    (void)mi_norm_letters(buf, o->locality, sizeof o->locality);
}

void mi_prepare_place(const match_person_t *p, match_prep_t *o)
{
    if (p->address != NULL)
        prepare_address(p->address, o);
    if (p->locality != NULL)
        prepare_locality(p->locality, o);
}

static int street_words_shared(const match_prep_t *a, const match_prep_t *b)
{
    for (int i = 0; i < MATCH_STREET_WORDS && a->street_word[i] != 0; i++)
        for (int j = 0; j < MATCH_STREET_WORDS && b->street_word[j] != 0; j++)
            if (a->street_word[i] == b->street_word[j])
                return 1;
    return 0;
}

/* Street similarity at the threshold Jaro-Winkler is commonly used at for short strings: one or
 * two keying slips in "WATTLE CRES" stay above it, another street of the same type does not. */
#define STREET_JW 0.88

static int address_level(const match_prep_t *a, const match_prep_t *b)
{
    if (a->street[0] == '\0' || b->street[0] == '\0')
        return MATCH_ADDRESS_MISSING;
    int same = str_eq(a->street, b->street);
    int similar = same || jaro_winkler_upper(a->street, strlen(a->street), b->street,
                                             strlen(b->street)) >= STREET_JW;
    int numbers = a->house[0] != '\0' && b->house[0] != '\0';
    int same_number = numbers && strcmp(a->house, b->house) == 0;
    int word = street_words_shared(a, b);
    if (same_number && same)
        return MATCH_ADDRESS_EXACT;
    if (same_number && (similar || word))
        return MATCH_ADDRESS_SAME_HOUSE;
    if (similar)
        return numbers ? MATCH_ADDRESS_NEIGHBOUR : MATCH_ADDRESS_STREET;
    return word ? MATCH_ADDRESS_WORD : MATCH_ADDRESS_DIFFERENT;
}

static int locality_level(const match_prep_t *a, const match_prep_t *b)
{
    if (a->locality[0] == '\0' || b->locality[0] == '\0')
        return MATCH_LOCALITY_MISSING;
    if (str_eq(a->locality, b->locality))
        return MATCH_LOCALITY_EXACT;
    double jw =
        jaro_winkler_upper(a->locality, strlen(a->locality), b->locality, strlen(b->locality));
    return jw >= STREET_JW ? MATCH_LOCALITY_SIMILAR : MATCH_LOCALITY_DIFFERENT;
}

/* ------------------------------------------------------------------------------------------ */
/* Names                                                                                       */

/* One name as match_prep_t holds it: normalised, its length and phonetic key. */
typedef struct {
    const char *s, *ph;
    size_t len;
} pname_t;

/* How often each letter occurs in NAME, normalised (upper-case A-Z only). Counted when asked, not
 * kept in match_prep_t: the hub holds one preparation per golden record, and counting a name of a
 * few letters costs less than the cache misses of reading 52 stored bytes. */
static void letter_counts(const char *name, unsigned char count[26])
{
    memset(count, 0, 26);
    for (size_t n = 0; name[n] != '\0'; n++) {
        if (name[n] < 'A' || name[n] > 'Z') {
            /* Not a normalised name after all: counts that bound nothing. */
            memset(count, 255, 26);
            return;
        }
        count[name[n] - 'A']++;
    }
}

/* Could Jaro-Winkler reach 0.80? Jaro counts matching characters, and no more characters can
 * match than the two names have letters in common, so m <= sum of the smaller letter counts, and
 * with no transpositions and the full prefix bonus JW <= 0.6 Jaro + 0.4. Most candidates' names
 * share too few letters for that bound to reach 0.80, and then neither JW level can apply and the
 * comparison is left undone: the level is the same as if it had been computed. */
static int jw_may_reach_80(const pname_t *a, const pname_t *b)
{
    unsigned char ca[26], cb[26];
    letter_counts(a->s, ca);
    letter_counts(b->s, cb);
    unsigned m = 0;
    for (int i = 0; i < 26; i++)
        m += ca[i] < cb[i] ? ca[i] : cb[i];
    if (m == 0)
        return 0;
    double j = ((double)m / (double)a->len + (double)m / (double)b->len + 1.0) / 3.0;
    return 0.6 * j + 0.4 >= 0.80 - 1e-9;
}

/* A and B are names as prepared; GA and GB the prepared persons whose forenames they are, NULL
 * when comparing surnames. */
static int name_level_given_terms(const pname_t *na, const pname_t *nb, const match_prep_t *ga,
                                  const match_prep_t *gb)
{
    const char *a = na->s, *b = nb->s, *pa = na->ph, *pb = nb->ph;
    if (a[0] == '\0' || b[0] == '\0')
        return MATCH_GIVEN_MISSING;
    if (str_eq(a, b))
        return MATCH_GIVEN_EXACT;
    int forenames = ga != NULL && gb != NULL;
    if (forenames && mi_opposite_sex_forms(ga, gb))
        return MATCH_GIVEN_DIFFERENT;
    if (forenames && mi_nicknames(ga, gb))
        return MATCH_GIVEN_NICKNAME;
    /* Normalised names are upper-case letters already, shorter than MATCH_JW_MAX_LEN. */
    if (jw_may_reach_80(na, nb)) {
        double jw = jaro_winkler_upper(a, na->len, b, nb->len);
        if (jw >= 0.92)
            return MATCH_GIVEN_JW92;
        if (jw >= 0.80)
            return MATCH_GIVEN_JW80;
    }
    if (pa[0] != '\0' && str_eq(pa, pb))
        return MATCH_GIVEN_PHONETIC;
    return MATCH_GIVEN_DIFFERENT;
}

/* The family-name enum is the given-name enum without SWAPPED and NICKNAME; compute in given
 * terms, then map. */
static int to_family_level(int given_terms)
{
    static const int to_family[MATCH_GIVEN_NLEVELS] = {
        MATCH_FAMILY_MISSING, MATCH_FAMILY_EXACT, MATCH_FAMILY_DIFFERENT, MATCH_FAMILY_DIFFERENT,
        MATCH_FAMILY_JW92,    MATCH_FAMILY_JW80,  MATCH_FAMILY_PHONETIC,  MATCH_FAMILY_DIFFERENT,
    };
    return to_family[given_terms];
}

static int family_level(const match_prep_t *a, const match_prep_t *b)
{
    pname_t na = {a->family, a->family_ph, a->family_len};
    pname_t nb = {b->family, b->family_ph, b->family_len};
    return to_family_level(name_level_given_terms(&na, &nb, NULL, NULL));
}

void match_prepare(const match_person_t *p, match_prep_t *o)
{
    memset(o, 0, sizeof *o);
    if (p == NULL)
        return;
    if (mi_norm_letters(p->given, o->given, sizeof o->given) > 0) {
        match_phonetic(o->given, o->given_ph, sizeof o->given_ph);
        o->given_len = (unsigned char)strlen(o->given);
        mi_forename_runs(o);
    }
    if (mi_norm_letters(p->family, o->family, sizeof o->family) > 0) {
        match_phonetic(o->family, o->family_ph, sizeof o->family_ph);
        o->family_len = (unsigned char)strlen(o->family);
    }
    mi_ymd_t d;
    if (mi_parse_date(p->birth_date, &d)) {
        memcpy(o->birth, p->birth_date, 10);
        o->by = (int16_t)d.y; /* a valid date's: four digits, 1-12, 1-31 */
        o->bm = (unsigned char)d.m;
        o->bd = (unsigned char)d.d;
        o->bdays = (int32_t)mi_days_from_civil(d);
    }
    o->sex = (unsigned char)mi_sex_code(p->sex);
    mi_postcode_t pc;
    if (mi_parse_postcode(p->postcode, &pc)) {
        memcpy(o->pc_full, pc.full, sizeof o->pc_full);
        if (pc.parsed) {
            memcpy(o->pc_sector, pc.sector, sizeof o->pc_sector);
            memcpy(o->pc_outward, pc.outward, sizeof o->pc_outward);
            memcpy(o->pc_area, pc.area, sizeof o->pc_area);
        }
    }
    if (!mi_norm_phone(p->phone, o->phone, sizeof o->phone))
        o->phone[0] = '\0';
    char e[EMAIL_BUF];
    if (mi_norm_email(p->email, e, sizeof e)) {
        o->email_hash = mi_fnv1a(e);
        o->has_email = 1;
    }
    char sid[SHARED_ID_BUF];
    if (mi_norm_shared_id(p->shared_id, sid, sizeof sid) > 0)
        o->shared_hash = mi_fnv1a(sid) | 1; /* never 0, which says "none" */
    if (!mi_nhs_normalise(p->nhs_number, o->nhs))
        o->nhs[0] = '\0';
    if (!mi_ni_normalise(p->ni_number, o->ni, &o->ni_suffix))
        o->ni[0] = o->ni_suffix = '\0';
    mi_prepare_place(p, o);
}

static int given_level(const match_prep_t *a, const match_prep_t *b)
{
    pname_t na = {a->given, a->given_ph, a->given_len};
    pname_t nb = {b->given, b->given_ph, b->given_len};
    return name_level_given_terms(&na, &nb, a, b);
}

/* A's forename against B's surname (CROSS 0), or A's surname against B's forename (1), in given
 * terms without the forename-only levels. */
static int cross_level(const match_prep_t *a, const match_prep_t *b, int cross)
{
    pname_t ng = {a->given, a->given_ph, a->given_len};
    pname_t nf = {b->family, b->family_ph, b->family_len};
    if (cross) {
        ng = (pname_t){b->given, b->given_ph, b->given_len};
        nf = (pname_t){a->family, a->family_ph, a->family_len};
    }
    return name_level_given_terms(&ng, &nf, NULL, NULL);
}

/* Forename and surname crosswise (MATCH_GIVEN_SWAPPED): asked only when the forenames do not
 * agree directly and one crosswise pair is the same name, which the first letters show cheaply. */
static void swapped_levels(const match_prep_t *a, const match_prep_t *b, int *given, int *family)
{
    if (a->given[0] == '\0' || a->family[0] == '\0' || b->given[0] == '\0' ||
        b->family[0] == '\0' || (a->given[0] != b->family[0] && a->family[0] != b->given[0]))
        return;
    int g = cross_level(a, b, 0), f = cross_level(a, b, 1);
    int close_g = g == MATCH_GIVEN_EXACT || g == MATCH_GIVEN_JW92 || g == MATCH_GIVEN_JW80;
    int close_f = f == MATCH_GIVEN_EXACT || f == MATCH_GIVEN_JW92 || f == MATCH_GIVEN_JW80;
    if (!close_g || !close_f || (g != MATCH_GIVEN_EXACT && f != MATCH_GIVEN_EXACT))
        return;
    *given = MATCH_GIVEN_SWAPPED;
    /* The surname's evidence is the weaker crosswise agreement (exact when both are). */
    *family = to_family_level(g > f ? g : f);
}

/* Field by field, without a switch: this runs for every candidate pair. */
void mi_levels(const match_prep_t *a, const match_prep_t *b, int level[MATCH_FIELD_COUNT])
{
    level[MATCH_FIELD_GIVEN] = given_level(a, b);
    level[MATCH_FIELD_FAMILY] = family_level(a, b);
    int g = level[MATCH_FIELD_GIVEN];
    if (g != MATCH_GIVEN_EXACT && g != MATCH_GIVEN_NICKNAME && g != MATCH_GIVEN_JW92)
        swapped_levels(a, b, &level[MATCH_FIELD_GIVEN], &level[MATCH_FIELD_FAMILY]);
    level[MATCH_FIELD_BIRTH] = birth_level(a, b);
    level[MATCH_FIELD_SEX] = sex_level(a, b);
    level[MATCH_FIELD_POSTCODE] = postcode_level(a, b);
    level[MATCH_FIELD_PHONE] = phone_level(a, b);
    level[MATCH_FIELD_EMAIL] = email_level(a, b);
    level[MATCH_FIELD_ADDRESS] = address_level(a, b);
    level[MATCH_FIELD_LOCALITY] = locality_level(a, b);
}

int match_level(match_field_t f, const match_person_t *a, const match_person_t *b)
{
    if ((int)f < 0 || f >= MATCH_FIELD_COUNT)
        return -1;
    match_prep_t pa, pb;
    int level[MATCH_FIELD_COUNT];
    match_prepare(a, &pa);
    match_prepare(b, &pb);
    mi_levels(&pa, &pb, level);
    return level[f];
}

static const int field_nlevels[MATCH_FIELD_COUNT] = {
    MATCH_GIVEN_NLEVELS,  MATCH_FAMILY_NLEVELS,   MATCH_BIRTH_NLEVELS,
    MATCH_BINARY_NLEVELS, MATCH_POSTCODE_NLEVELS, MATCH_BINARY_NLEVELS,
    MATCH_BINARY_NLEVELS, MATCH_ADDRESS_NLEVELS,  MATCH_LOCALITY_NLEVELS,
};

const char *match_level_name(match_field_t f, int level)
{
    static const char *const given[] = {"missing",  "exact",    "swapped",  "nickname",
                                        "jw>=0.92", "jw>=0.80", "phonetic", "different"};
    static const char *const family[] = {"missing",  "exact",    "jw>=0.92",
                                         "jw>=0.80", "phonetic", "different"};
    static const char *const birth[] = {"missing",        "exact",        "day-month-transposed",
                                        "one-digit-typo", "within-month", "same-year",
                                        "different"};
    static const char *const postcode[] = {"missing",       "exact",     "same-sector",
                                           "same-district", "same-area", "different"};
    static const char *const binary[] = {"missing", "exact", "different"};
    static const char *const address[] = {"missing",   "exact", "same-house", "same-street",
                                          "neighbour", "word",  "different"};
    static const char *const locality[] = {"missing", "exact", "similar", "different"};
    static const char *const *const tables[MATCH_FIELD_COUNT] = {
        given, family, birth, binary, postcode, binary, binary, address, locality};

    if ((int)f < 0 || f >= MATCH_FIELD_COUNT || level < 0 || level >= field_nlevels[f])
        return "invalid";
    return tables[f][level];
}

const char *match_field_name(match_field_t f)
{
    static const char *const names[MATCH_FIELD_COUNT] = {"given", "family",   "birth_date",
                                                         "sex",   "postcode", "phone",
                                                         "email", "address",  "locality"};
    if ((int)f < 0 || f >= MATCH_FIELD_COUNT)
        return "invalid";
    return names[f];
}
