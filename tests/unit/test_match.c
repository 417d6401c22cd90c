/* test_match.c - cmocka tests pinning the behaviour of the matcher (lib/match, match.h): the
 * comparators against published values, every comparison level, term-frequency weighting, the
 * link/steward/non-link decisions that protect against wrong merges (twins, parent and child),
 * blocking-key recall and EM recovery of known parameters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "match/match.h"

/* ------------------------------------------------------------------------------------------ */
/* Fixtures                                                                                    */

/* A small frequency table: Smith is the commonest UK surname (~1.26%); Featherstonehaugh is rare
 * enough to be clamped at MATCH_TF_FLOOR. */
static double tf_table(void *ctx, match_field_t f, const char *value)
{
    (void)ctx;
    if (f == MATCH_FIELD_FAMILY && strcmp(value, "SMITH") == 0)
        return 0.0126;
    if (f == MATCH_FIELD_FAMILY && strcmp(value, "FEATHERSTONEHAUGH") == 0)
        return 1e-7;
    if (f == MATCH_FIELD_GIVEN && strcmp(value, "JOHN") == 0)
        return 0.015;
    return 0.0;
}

/* A live population table: these names are carried by residents, any other is carried by
 * nobody (0). */
static double tf_population(void *ctx, match_field_t f, const char *value)
{
    (void)ctx;
    static const char *const given[] = {"JACK",   "JAKE",    "HOLLY", "MOLLY",    "OLIVER",
                                        "MARTIN", "MARTINA", "JACOB", "MARGARET", "ALEX"};
    if (f == MATCH_FIELD_FAMILY)
        return strcmp(value, "SMITH") == 0 ? 0.0126 : 1e-4;
    for (size_t i = 0; i < sizeof given / sizeof given[0]; i++)
        if (strcmp(value, given[i]) == 0)
            return 0.005;
    return strcmp(value, "SZYMON") == 0 ? 2e-5 : 0.0;
}

/* No table yet (a population too small for frequencies): negative for everything. */
static double tf_none(void *ctx, match_field_t f, const char *value)
{
    (void)ctx;
    (void)f;
    (void)value;
    return -1.0;
}

static match_person_t person(const char *given, const char *family, const char *dob,
                             const char *sex, const char *postcode)
{
    match_person_t p = {0};
    p.given = given;
    p.family = family;
    p.birth_date = dob;
    p.sex = sex;
    p.postcode = postcode;
    return p;
}

static int level_of(match_field_t f, match_person_t a, match_person_t b)
{
    return match_level(f, &a, &b);
}

/* ------------------------------------------------------------------------------------------ */
/* Jaro-Winkler                                                                                */

static void test_jaro_winkler_matches_published_values(void **state)
{
    (void)state;
    assert_true(fabs(match_jaro_winkler("MARTHA", "MARHTA") - 0.961) < 0.001);
    assert_true(fabs(match_jaro_winkler("DWAYNE", "DUANE") - 0.84) < 0.001);
    assert_true(fabs(match_jaro_winkler("DIXON", "DICKSONX") - 0.813) < 0.001);
}

static void test_jaro_winkler_is_case_insensitive_and_bounded(void **state)
{
    (void)state;
    assert_true(fabs(match_jaro_winkler("martha", "MARHTA") - 0.961) < 0.001);
    assert_true(match_jaro_winkler("Smith", "SMITH") == 1.0);
    assert_true(match_jaro_winkler("ABC", "XYZ") == 0.0);
    assert_true(match_jaro_winkler("", "SMITH") == 0.0);
    assert_true(match_jaro_winkler(NULL, "SMITH") == 0.0);
    assert_true(match_jaro_winkler("", "") == 1.0);
    assert_true(fabs(match_jaro_winkler("DIXON", "DICKSONX") -
                     match_jaro_winkler("DICKSONX", "DIXON")) < 1e-12);
}

static void test_jaro_winkler_survives_overlong_input(void **state)
{
    (void)state;
    char a[300], b[300];
    memset(a, 'A', sizeof a - 1);
    memset(b, 'A', sizeof b - 1);
    a[sizeof a - 1] = '\0';
    b[sizeof b - 1] = '\0';
    b[10] = 'B';
    double jw = match_jaro_winkler(a, b);
    assert_true(jw > 0.99 && jw <= 1.0);
}

/* Matched positions are kept as bits in 64-bit words: exact values must hold on both sides of
 * a word boundary. Identical strings score 1; one substitution at the end of n letters gives Jaro
 * (2(n-1)/n + 1)/3, plus the 4-letter prefix bonus. */
static void test_jaro_winkler_is_the_same_either_side_of_64_characters(void **state)
{
    (void)state;
    char a[80], b[80];
    for (size_t n = 60; n <= 70; n++) {
        memset(a, 'A', n);
        memset(b, 'A', n);
        a[n] = b[n] = '\0';
        assert_true(match_jaro_winkler(a, b) == 1.0);
        b[n - 1] = 'B';
        double j = (2.0 * (double)(n - 1) / (double)n + 1.0) / 3.0;
        double want = j + 4 * 0.1 * (1.0 - j);
        assert_true(fabs(match_jaro_winkler(a, b) - want) < 1e-12);
        /* A transposition of the last two letters: n matches, one transposition. */
        memset(b, 'A', n);
        b[n - 2] = 'C';
        a[n - 1] = 'C';
        double jt = (1.0 + 1.0 + (double)(n - 1) / (double)n) / 3.0;
        assert_true(fabs(match_jaro_winkler(a, b) - (jt + 0.4 * (1.0 - jt))) < 1e-12);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Prepared persons: what the hub scores candidates with                                       */

static void test_prepare_normalises_once_what_every_comparison_needs(void **state)
{
    (void)state;
    match_person_t p = person("Siobhán", "O'Brien-Smyth", "1984-03-07", "female", "ls6 2ab");
    p.phone = "+44 7700 900123";
    p.email = "  Siobhan.OBrien@Example.org ";
    p.nhs_number = "943 476 5919";
    p.ni_number = "ab 12 34 56 c";
    match_prep_t o;
    match_prepare(&p, &o);
    assert_string_equal(o.given, "SIOBHAN");
    assert_string_equal(o.family, "OBRIENSMYTH");
    char ph[8];
    match_phonetic("SIOBHAN", ph, sizeof ph);
    assert_string_equal(o.given_ph, ph);
    assert_string_equal(o.birth, "1984-03-07");
    assert_int_equal(o.by, 1984);
    assert_int_equal(o.bm, 3);
    assert_int_equal(o.bd, 7);
    assert_int_equal(o.sex, 2);
    assert_string_equal(o.pc_full, "LS6 2AB");
    assert_string_equal(o.pc_sector, "LS6 2");
    assert_string_equal(o.pc_outward, "LS6");
    assert_string_equal(o.pc_area, "LS");
    assert_string_equal(o.phone, "07700900123");
    assert_true(o.has_email);
    assert_string_equal(o.nhs, "9434765919");
    assert_string_equal(o.ni, "AB123456");
    assert_int_equal(o.ni_suffix, 'C');

    /* What cannot be used counts as missing, not as a value. */
    match_person_t bad = person("", "--", "1984-02-30", "unknown", "not a postcode!");
    bad.phone = "n/a";
    bad.email = "nobody";
    bad.nhs_number = "9434765918"; /* wrong check digit */
    bad.ni_number = "QQ123456C";   /* a prefix never issued */
    match_prepare(&bad, &o);
    assert_string_equal(o.given, "");
    assert_string_equal(o.family, "");
    assert_string_equal(o.birth, "");
    assert_int_equal(o.sex, 0);
    assert_string_equal(o.pc_full, "");
    assert_string_equal(o.phone, "");
    assert_false(o.has_email);
    assert_string_equal(o.nhs, "");
    assert_string_equal(o.ni, "");
    match_prepare(NULL, &o);
    assert_string_equal(o.given, "");
}

/* The raw entry points are the prepared ones on both sides: the same levels, weights, decision
 * and reason for a spread of pairs. */
static void test_prepared_and_raw_scoring_agree(void **state)
{
    (void)state;
    match_params_t params;
    match_params_default(&params);
    match_person_t people[] = {
        person("Jack", "Presingshurst", "2012-03-27", "male", "M36 6BJ"),
        person("Jafk", "Presingshurst", "2012-03-27", "male", "M36 6BJ"),
        person("Jake", "Presingshurst", "2012-03-27", "male", "M36 6BJ"),
        person("Alexandra", "Khan", "1990-11-02", "female", "B12 9QT"),
        person("Alexander", "Khan", "1990-11-02", "male", "B12 9QT"),
        person("Bill", "Smyth", "1961-07-04", NULL, "LS1 4AB"),
        person("William", "Smith", "1961-04-07", "male", "LS17 4XY"),
        person(NULL, "Nowak", NULL, "female", NULL),
    };
    people[5].phone = "07700 900456";
    people[6].phone = "+44 7700 900456";
    people[6].nhs_number = "9434765919";
    size_t n = sizeof people / sizeof people[0];
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            match_prep_t a, b;
            match_prepare(&people[i], &a);
            match_prepare(&people[j], &b);
            match_evidence_t er, ep;
            char wr[160], wp[160];
            int dr = match_decide(&params, &people[i], &people[j], NULL, NULL, &er, wr, sizeof wr);
            int dp = match_decide_prep(&params, &a, &b, NULL, NULL, &ep, wp, sizeof wp);
            assert_int_equal(dr, dp);
            assert_string_equal(wr, wp);
            assert_true(er.total == ep.total);
            for (int f = 0; f < MATCH_FIELD_COUNT; f++) {
                assert_int_equal(er.level[f], ep.level[f]);
                assert_int_equal(er.level[f],
                                 match_level((match_field_t)f, &people[i], &people[j]));
            }
            /* Without a reason asked for, the same decision. */
            assert_int_equal(dp, match_decide_prep(&params, &a, &b, NULL, NULL, NULL, NULL, 0));
            assert_true(match_score_prep(&params, &a, &b, NULL, NULL, NULL) == ep.total);
        }
    }
}

/* A frequency hook that counts its calls: Smith is common, everything else rare. */
typedef struct {
    int calls;
} tf_counter_t;

static double counting_tf(void *ctx, match_field_t f, const char *value)
{
    ((tf_counter_t *)ctx)->calls++;
    return f == MATCH_FIELD_FAMILY && strcmp(value, "SMITH") == 0 ? 0.0126 : 0.0001;
}

/* A match_tf_cache_t asks the hook once per name; scores are the same as asking every time, and
 * another person's names are asked, not answered from the cache. */
static void test_prepared_frequencies_are_asked_once_and_change_nothing(void **state)
{
    (void)state;
    match_params_t params;
    match_params_default(&params);
    match_person_t a = person("John", "Smith", "1970-01-02", "male", "LS1 4AB");
    match_prep_t pa;
    match_prepare(&a, &pa);
    tf_counter_t once = {0}, every = {0};
    match_tf_cache_t cache;
    match_tf_cache_init(&cache, &pa, counting_tf, &once);
    assert_int_equal(once.calls, 2);
    for (int i = 0; i < 5; i++) {
        match_person_t b = person("John", "Smith", "1970-01-02", "male", i % 2 ? "LS1 4AB" : NULL);
        match_prep_t pb;
        match_prepare(&b, &pb);
        match_evidence_t e1, e2;
        double s1 = match_score_prep(&params, &pa, &pb, match_tf_cached, &cache, &e1);
        double s2 = match_score_prep(&params, &pa, &pb, counting_tf, &every, &e2);
        assert_true(s1 == s2);
        assert_true(e1.weight[MATCH_FIELD_FAMILY] == e2.weight[MATCH_FIELD_FAMILY]);
    }
    assert_int_equal(once.calls, 2);
    assert_int_equal(every.calls, 10); /* exact forename and surname, five pairs */
    match_person_t b = a;
    match_prep_t pb;
    match_prepare(&b, &pb);
    (void)match_score_prep(&params, &pb, &pa, match_tf_cached, &cache, NULL);
    assert_int_equal(once.calls, 4);
    match_tf_cache_t none;
    match_tf_cache_init(&none, &pa, NULL, NULL);
    assert_true(match_score_prep(&params, &pa, &pb, match_tf_cached, &none, NULL) ==
                match_score_prep(&params, &pa, &pb, NULL, NULL, NULL));
}

/* Jaro-Winkler is skipped when the names share too few letters to reach 0.80: the level must be
 * the one the full comparison gives, for every pair. */
static void test_name_levels_equal_the_full_comparison_for_every_pair(void **state)
{
    (void)state;
    static const char *const names[] = {
        "Smith",    "Smyth",      "Smithe",   "Schmidt",  "Jones",  "Johns",   "Johnson",
        "Jonson",   "Thompson",   "Thomson",  "Tomson",   "Dixon",  "Dickson", "Dicksonx",
        "Martha",   "Marhta",     "Dwayne",   "Duane",    "Khan",   "Kahn",    "Ali",
        "Alli",     "Wisniewski", "Kowalski", "Kowalska", "OBrien", "Brien",   "Bryan",
        "Ashworth", "Ashwood",    "Bradshaw", "Bradley",  "Nguyen", "Ng",      "Li",
        "Lee",      "Patel",      "Patil",    "Begum",    "Beegum", "X",       "Abcdefghij"};
    size_t n = sizeof names / sizeof names[0];
    size_t skipped = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            match_person_t a = person(NULL, names[i], NULL, NULL, NULL);
            match_person_t b = person(NULL, names[j], NULL, NULL, NULL);
            int want;
            if (strcasecmp(names[i], names[j]) == 0) {
                want = MATCH_FAMILY_EXACT;
            } else {
                double jw = match_jaro_winkler(names[i], names[j]);
                char pa[8], pb[8];
                match_phonetic(names[i], pa, sizeof pa);
                match_phonetic(names[j], pb, sizeof pb);
                want = jw >= 0.92                             ? MATCH_FAMILY_JW92
                       : jw >= 0.80                           ? MATCH_FAMILY_JW80
                       : pa[0] != '\0' && strcmp(pa, pb) == 0 ? MATCH_FAMILY_PHONETIC
                                                              : MATCH_FAMILY_DIFFERENT;
                skipped += jw < 0.5;
            }
            if (level_of(MATCH_FIELD_FAMILY, a, b) != want)
                fail_msg("%s / %s: level %d, full comparison %d", names[i], names[j],
                         level_of(MATCH_FIELD_FAMILY, a, b), want);
        }
    }
    assert_true(skipped > 100); /* the list has plenty of pairs the bound dismisses */
}

/* ------------------------------------------------------------------------------------------ */
/* Phonetic keys (Double Metaphone primary)                                                    */

static void assert_phonetic(const char *name, const char *want)
{
    char key[8];
    match_phonetic(name, key, sizeof key);
    assert_string_equal(key, want);
}

static void test_phonetic_equates_smith_and_smyth(void **state)
{
    (void)state;
    assert_phonetic("Smith", "SM0");
    assert_phonetic("smyth", "SM0");
}

static void test_phonetic_equates_catherine_and_kathryn(void **state)
{
    (void)state;
    assert_phonetic("Catherine", "K0RN");
    assert_phonetic("Kathryn", "K0RN");
}

/* Double Metaphone codes the p of Thompson, so it does not claim Thompson == Thomson; the pair is
 * caught by Jaro-Winkler instead, one level above phonetic. */
static void test_phonetic_keeps_thompson_apart_but_jaro_winkler_catches_it(void **state)
{
    (void)state;
    assert_phonetic("Thompson", "TMPS");
    assert_phonetic("Thomson", "TMSN");
    match_person_t a = person(NULL, "Thompson", NULL, NULL, NULL);
    match_person_t b = person(NULL, "Thomson", NULL, NULL, NULL);
    assert_int_equal(level_of(MATCH_FIELD_FAMILY, a, b), MATCH_FAMILY_JW92);
}

static void test_phonetic_matches_published_double_metaphone_codes(void **state)
{
    (void)state;
    assert_phonetic("Schmidt", "XMT");
    assert_phonetic("Knight", "NT");
    assert_phonetic("Wright", "RT");
    assert_phonetic("Xavier", "SF");
    assert_phonetic("Campbell", "KMPL");
    assert_phonetic("McLaughlin", "MKLF");
    assert_phonetic("Featherstonehaugh", "F0RS");
    assert_phonetic("Thomas", "TMS");
    assert_phonetic("Michael", "MKL");
    assert_phonetic("Edge", "AJ");
    assert_phonetic("O'Brien", "APRN");
    assert_phonetic("Mac Gregor", "MKRK");
}

static void test_phonetic_respects_small_buffers_and_empty_names(void **state)
{
    (void)state;
    char key[3];
    match_phonetic("Catherine", key, sizeof key);
    assert_string_equal(key, "K0");
    char one[1] = {'x'};
    match_phonetic("Catherine", one, sizeof one);
    assert_int_equal(one[0], '\0');
    assert_phonetic("", "");
    assert_phonetic(NULL, "");
    assert_phonetic("1234 -- ", "");
}

/* ------------------------------------------------------------------------------------------ */
/* Nicknames                                                                                   */

static void test_nicknames_cover_common_british_diminutives(void **state)
{
    (void)state;
    static const char *const pairs[][2] = {
        {"William", "Bill"},    {"Elizabeth", "Liz"},  {"Elizabeth", "Beth"},
        {"Elizabeth", "Betty"}, {"Robert", "Bob"},     {"Robert", "Rob"},
        {"Margaret", "Maggie"}, {"Margaret", "Peggy"}, {"Catherine", "Kate"},
        {"Catherine", "Cathy"}, {"James", "Jim"},      {"James", "Jimmy"},
        {"Richard", "Dick"},    {"Richard", "Rich"},   {"Bill", "Will"},
        {"Edward", "Ted"},      {"Anthony", "Tony"},   {"Mohammed", "Muhammad"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        assert_int_equal(match_is_nickname(pairs[i][0], pairs[i][1]), 1);
        assert_int_equal(match_is_nickname(pairs[i][1], pairs[i][0]), 1);
    }
}

static void test_nicknames_are_case_insensitive_and_reflexive(void **state)
{
    (void)state;
    assert_int_equal(match_is_nickname("WILLIAM", "bill"), 1);
    assert_int_equal(match_is_nickname("Zebedee", "zebedee"), 1);
}

static void test_nicknames_do_not_chain_through_shared_diminutives(void **state)
{
    (void)state;
    assert_int_equal(match_is_nickname("Alex", "Alexander"), 1);
    assert_int_equal(match_is_nickname("Alex", "Alexandra"), 1);
    assert_int_equal(match_is_nickname("Alexander", "Alexandra"), 0);
    assert_int_equal(match_is_nickname("Christopher", "Christine"), 0);
}

static void test_nicknames_reject_unrelated_and_empty_names(void **state)
{
    (void)state;
    assert_int_equal(match_is_nickname("William", "Robert"), 0);
    assert_int_equal(match_is_nickname("Bob", "Bill"), 0);
    assert_int_equal(match_is_nickname("", "Bill"), 0);
    assert_int_equal(match_is_nickname(NULL, NULL), 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Comparison levels                                                                           */

typedef struct {
    match_field_t field;
    const char *a;
    const char *b;
    int level;
} level_case_t;

static match_person_t with_field(match_field_t f, const char *v)
{
    match_person_t p = {0};
    switch (f) {
    case MATCH_FIELD_GIVEN:
        p.given = v;
        break;
    case MATCH_FIELD_FAMILY:
        p.family = v;
        break;
    case MATCH_FIELD_BIRTH:
        p.birth_date = v;
        break;
    case MATCH_FIELD_SEX:
        p.sex = v;
        break;
    case MATCH_FIELD_POSTCODE:
        p.postcode = v;
        break;
    case MATCH_FIELD_PHONE:
        p.phone = v;
        break;
    case MATCH_FIELD_ADDRESS:
        p.address = v;
        break;
    case MATCH_FIELD_LOCALITY:
        p.locality = v;
        break;
    default:
        p.email = v;
        break;
    }
    return p;
}

static const level_case_t level_cases[] = {
    {MATCH_FIELD_GIVEN, "", "Anna", MATCH_GIVEN_MISSING},
    {MATCH_FIELD_GIVEN, "anna", "ANNA", MATCH_GIVEN_EXACT},
    {MATCH_FIELD_GIVEN, "William", "Bill", MATCH_GIVEN_NICKNAME},
    {MATCH_FIELD_GIVEN, "Jon", "John", MATCH_GIVEN_JW92},
    {MATCH_FIELD_GIVEN, "Jack", "Jake", MATCH_GIVEN_JW80},
    {MATCH_FIELD_GIVEN, "Sophie", "Sofia", MATCH_GIVEN_PHONETIC},
    {MATCH_FIELD_GIVEN, "Oliver", "Harry", MATCH_GIVEN_DIFFERENT},
    {MATCH_FIELD_FAMILY, "Robinson", NULL, MATCH_FAMILY_MISSING},
    {MATCH_FIELD_FAMILY, "O'Brien", "OBRIEN", MATCH_FAMILY_EXACT},
    {MATCH_FIELD_FAMILY, "Robinson", "Robinsen", MATCH_FAMILY_JW92},
    {MATCH_FIELD_FAMILY, "Philips", "Fillips", MATCH_FAMILY_JW80},
    {MATCH_FIELD_FAMILY, "Wright", "Rite", MATCH_FAMILY_PHONETIC},
    {MATCH_FIELD_FAMILY, "Smith", "Jones", MATCH_FAMILY_DIFFERENT},
    {MATCH_FIELD_BIRTH, "1984-02-30", "1984-03-07", MATCH_BIRTH_MISSING},
    {MATCH_FIELD_BIRTH, "1984-03-07", "1984-03-07", MATCH_BIRTH_EXACT},
    {MATCH_FIELD_BIRTH, "1984-03-07", "1984-07-03", MATCH_BIRTH_TRANSPOSED},
    {MATCH_FIELD_BIRTH, "1984-03-07", "1984-03-08", MATCH_BIRTH_TYPO},
    {MATCH_FIELD_BIRTH, "1952-12-13", "1902-12-13", MATCH_BIRTH_TYPO}, /* a year digit */
    {MATCH_FIELD_BIRTH, "1984-03-07", "1984-03-29", MATCH_BIRTH_WITHIN_MONTH},
    {MATCH_FIELD_BIRTH, "1984-03-07", "1984-11-20", MATCH_BIRTH_SAME_YEAR},
    {MATCH_FIELD_BIRTH, "1984-03-07", "1990-03-07", MATCH_BIRTH_DIFFERENT},
    {MATCH_FIELD_SEX, "unknown", "male", MATCH_BINARY_MISSING},
    {MATCH_FIELD_SEX, "Female", "female", MATCH_BINARY_EXACT},
    {MATCH_FIELD_SEX, "male", "female", MATCH_BINARY_DIFFERENT},
    {MATCH_FIELD_POSTCODE, "", "SW1A 1AA", MATCH_POSTCODE_MISSING},
    {MATCH_FIELD_POSTCODE, "sw1a1aa", "SW1A 1AA", MATCH_POSTCODE_EXACT},
    {MATCH_FIELD_POSTCODE, "SW1A 1AA", "SW1A 1BB", MATCH_POSTCODE_SECTOR},
    {MATCH_FIELD_POSTCODE, "SW1A 1AA", "SW1A 2AB", MATCH_POSTCODE_DISTRICT},
    {MATCH_FIELD_POSTCODE, "SW1A 1AA", "SW9 7QD", MATCH_POSTCODE_AREA},
    {MATCH_FIELD_POSTCODE, "SW1A 1AA", "M1 1AE", MATCH_POSTCODE_DIFFERENT},
    {MATCH_FIELD_POSTCODE, "S1 2HE", "SW1A 1AA", MATCH_POSTCODE_DIFFERENT}, /* S is not SW */
    {MATCH_FIELD_PHONE, "123", "07700 900123", MATCH_BINARY_MISSING},
    {MATCH_FIELD_PHONE, "+44 7700 900123", "07700 900123", MATCH_BINARY_EXACT},
    {MATCH_FIELD_PHONE, "07700 900123", "07700 900124", MATCH_BINARY_DIFFERENT},
    {MATCH_FIELD_EMAIL, "not-an-email", "jo@example.org", MATCH_BINARY_MISSING},
    {MATCH_FIELD_EMAIL, "Jo@Example.ORG", " jo@example.org ", MATCH_BINARY_EXACT},
    {MATCH_FIELD_EMAIL, "jo@example.org", "jo2@example.org", MATCH_BINARY_DIFFERENT},
    /* postcodes that are not UK ones compare exactly; one slip is as near as the same area */
    {MATCH_FIELD_POSTCODE, "2615", "2615", MATCH_POSTCODE_EXACT},
    {MATCH_FIELD_POSTCODE, "2615", "2651", MATCH_POSTCODE_DIFFERENT},
    {MATCH_FIELD_POSTCODE, "2615", "2616", MATCH_POSTCODE_AREA},
    {MATCH_FIELD_ADDRESS, "12", "12 High Street", MATCH_ADDRESS_MISSING}, /* no street */
    {MATCH_FIELD_ADDRESS, "12 High Street", "12, High St.", MATCH_ADDRESS_EXACT},
    {MATCH_FIELD_ADDRESS, "Flat 3, 12 Acacia Avenue", "12 acacia ave", MATCH_ADDRESS_EXACT},
    {MATCH_FIELD_ADDRESS, "7 Wattle Crescent", "7 Watle Cres", MATCH_ADDRESS_SAME_HOUSE},
    {MATCH_FIELD_ADDRESS, "7 Wattle Crescent", "7 Wattle Grove", MATCH_ADDRESS_SAME_HOUSE},
    {MATCH_FIELD_ADDRESS, "Wattle Crescent", "7 Wattle Crescent", MATCH_ADDRESS_STREET},
    {MATCH_FIELD_ADDRESS, "9 Wattle Crescent", "7 Wattle Crescent", MATCH_ADDRESS_NEIGHBOUR},
    {MATCH_FIELD_ADDRESS, "9 Wattle Crescent", "7 Banksia Wattle Road", MATCH_ADDRESS_WORD},
    {MATCH_FIELD_ADDRESS, "12 High Street", "12 Mill Lane", MATCH_ADDRESS_DIFFERENT},
    {MATCH_FIELD_LOCALITY, "", "Leeds", MATCH_LOCALITY_MISSING},
    {MATCH_FIELD_LOCALITY, "St Albans", "ST. ALBANS", MATCH_LOCALITY_EXACT},
    {MATCH_FIELD_LOCALITY, "Kingsford", "Kingsfrod", MATCH_LOCALITY_SIMILAR},
    {MATCH_FIELD_LOCALITY, "Leeds", "Bradford", MATCH_LOCALITY_DIFFERENT},
};

static void test_every_comparison_level_is_reachable(void **state)
{
    (void)state;
    match_params_t p;
    match_params_default(&p);
    int seen[MATCH_FIELD_COUNT][MATCH_MAX_LEVELS] = {{0}};
    for (size_t i = 0; i < sizeof level_cases / sizeof level_cases[0]; i++) {
        const level_case_t *c = &level_cases[i];
        int got = level_of(c->field, with_field(c->field, c->a), with_field(c->field, c->b));
        if (got != c->level)
            fail_msg("%s %s/%s: got %s, want %s", match_field_name(c->field), c->a, c->b,
                     match_level_name(c->field, got), match_level_name(c->field, c->level));
        /* and symmetric */
        assert_int_equal(level_of(c->field, with_field(c->field, c->b), with_field(c->field, c->a)),
                         c->level);
        seen[c->field][got] = 1;
    }
    /* swapped names need both names: test_swapped_names_compare_crosswise */
    seen[MATCH_FIELD_GIVEN][MATCH_GIVEN_SWAPPED] = 1;
    for (int f = 0; f < MATCH_FIELD_COUNT; f++) {
        for (int k = 0; k < p.nlevels[f]; k++) {
            if (!seen[f][k])
                fail_msg("level %s/%s never reached", match_field_name((match_field_t)f),
                         match_level_name((match_field_t)f, k));
        }
    }
}

static void test_transposed_day_and_month_are_detected(void **state)
{
    (void)state;
    match_person_t a = person(NULL, NULL, "1984-03-07", NULL, NULL);
    match_person_t b = person(NULL, NULL, "1984-07-03", NULL, NULL);
    assert_int_equal(level_of(MATCH_FIELD_BIRTH, a, b), MATCH_BIRTH_TRANSPOSED);
    assert_string_equal(match_level_name(MATCH_FIELD_BIRTH, MATCH_BIRTH_TRANSPOSED),
                        "day-month-transposed");
}

static void test_birth_dates_within_a_month_across_a_year_end_are_close(void **state)
{
    (void)state;
    match_person_t a = person(NULL, NULL, "1983-12-30", NULL, NULL);
    match_person_t b = person(NULL, NULL, "1984-01-02", NULL, NULL);
    assert_int_equal(level_of(MATCH_FIELD_BIRTH, a, b), MATCH_BIRTH_WITHIN_MONTH);
}

static void test_unparseable_birth_dates_count_as_missing(void **state)
{
    (void)state;
    static const char *const bad[] = {"1984-13-01", "1983-02-29",  "84-03-07",
                                      "1984/03/07", "1984-03-07x", "unknown"};
    match_person_t good = person(NULL, NULL, "1984-03-07", NULL, NULL);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        match_person_t b = person(NULL, NULL, bad[i], NULL, NULL);
        assert_int_equal(level_of(MATCH_FIELD_BIRTH, good, b), MATCH_BIRTH_MISSING);
    }
    match_person_t leap = person(NULL, NULL, "1984-02-29", NULL, NULL);
    assert_int_equal(level_of(MATCH_FIELD_BIRTH, leap, leap), MATCH_BIRTH_EXACT);
}

static void test_opposite_sex_forms_of_a_forename_compare_as_different(void **state)
{
    (void)state;
    match_person_t a = person("Alexander", NULL, NULL, NULL, NULL);
    match_person_t b = person("Alexandra", NULL, NULL, NULL, NULL);
    assert_int_equal(level_of(MATCH_FIELD_GIVEN, a, b), MATCH_GIVEN_DIFFERENT);
    a.given = "Louis";
    b.given = "Louise";
    assert_int_equal(level_of(MATCH_FIELD_GIVEN, a, b), MATCH_GIVEN_DIFFERENT);
}

static void test_phone_numbers_fold_uk_country_code_to_trunk_zero(void **state)
{
    (void)state;
    match_person_t a = {0}, b = {0};
    a.phone = "+44 (0)20 7946 0000";
    b.phone = "020-7946-0000";
    assert_int_equal(level_of(MATCH_FIELD_PHONE, a, b), MATCH_BINARY_EXACT);
    a.phone = "0044 20 7946 0000";
    assert_int_equal(level_of(MATCH_FIELD_PHONE, a, b), MATCH_BINARY_EXACT);
}

static void test_level_and_field_names_are_stable_and_guard_ranges(void **state)
{
    (void)state;
    assert_string_equal(match_field_name(MATCH_FIELD_GIVEN), "given");
    assert_string_equal(match_field_name(MATCH_FIELD_EMAIL), "email");
    assert_string_equal(match_field_name(MATCH_FIELD_COUNT), "invalid");
    assert_string_equal(match_level_name(MATCH_FIELD_GIVEN, MATCH_GIVEN_JW92), "jw>=0.92");
    assert_string_equal(match_level_name(MATCH_FIELD_FAMILY, MATCH_FAMILY_JW92), "jw>=0.92");
    assert_string_equal(match_level_name(MATCH_FIELD_POSTCODE, MATCH_POSTCODE_SECTOR),
                        "same-sector");
    assert_string_equal(match_level_name(MATCH_FIELD_SEX, 3), "invalid");
    assert_string_equal(match_level_name(MATCH_FIELD_GIVEN, -1), "invalid");
    match_person_t a = {0};
    assert_int_equal(match_level(MATCH_FIELD_COUNT, &a, &a), -1);
    assert_int_equal(match_level(MATCH_FIELD_GIVEN, NULL, &a), MATCH_GIVEN_MISSING);
}

/* ------------------------------------------------------------------------------------------ */
/* Parameters and weights                                                                      */

static void test_default_params_are_distributions_with_signed_weights(void **state)
{
    (void)state;
    match_params_t p;
    match_params_default(&p);
    for (int f = 0; f < MATCH_FIELD_COUNT; f++) {
        double sm = 0.0, su = 0.0;
        assert_true(p.nlevels[f] >= 3 && p.nlevels[f] <= MATCH_MAX_LEVELS);
        for (int k = 1; k < p.nlevels[f]; k++) {
            sm += p.m[f][k];
            su += p.u[f][k];
        }
        assert_true(fabs(sm - 1.0) < 1e-9);
        assert_true(fabs(su - 1.0) < 1e-9);
        assert_true(p.m[f][1] > p.u[f][1]);                               /* agreement helps */
        assert_true(p.m[f][p.nlevels[f] - 1] < p.u[f][p.nlevels[f] - 1]); /* disagreement hurts */
    }
    assert_true(p.upper > p.lower);
}

static void test_score_of_pair_with_nothing_in_common_to_compare_is_zero(void **state)
{
    (void)state;
    match_params_t p;
    match_params_default(&p);
    match_person_t a = person("Anna", NULL, NULL, NULL, NULL);
    match_person_t b = person(NULL, "Smith", NULL, NULL, NULL);
    match_evidence_t ev;
    assert_true(match_score(&p, &a, &b, NULL, NULL, &ev) == 0.0);
    for (int f = 0; f < MATCH_FIELD_COUNT; f++) {
        assert_int_equal(ev.level[f], 0);
        assert_true(ev.weight[f] == 0.0);
    }
    assert_true(match_score(&p, &a, &b, NULL, NULL, NULL) == 0.0);
}

static void test_score_total_is_sum_of_log2_m_over_u(void **state)
{
    (void)state;
    match_params_t p;
    match_params_default(&p);
    match_person_t a = person("Anna", "Jones", "1984-03-07", "female", "LS1 4AP");
    match_person_t b = person("Anna", "Jonse", "1984-07-03", "female", "LS1 4BB");
    match_evidence_t ev;
    double total = match_score(&p, &a, &b, NULL, NULL, &ev);
    double sum = 0.0;
    for (int f = 0; f < MATCH_FIELD_COUNT; f++) {
        int k = ev.level[f];
        double want = k == 0 ? 0.0 : log2(p.m[f][k] / p.u[f][k]);
        assert_true(fabs(ev.weight[f] - want) < 1e-9);
        sum += ev.weight[f];
    }
    assert_true(fabs(total - sum) < 1e-9);
    assert_true(fabs(ev.total - total) < 1e-12);
    assert_int_equal(ev.level[MATCH_FIELD_BIRTH], MATCH_BIRTH_TRANSPOSED);
    assert_int_equal(ev.level[MATCH_FIELD_POSTCODE], MATCH_POSTCODE_SECTOR);
}

/* The reasons' "score 31.4" is what snprintf's %.1f writes, ties and near-ties included. */
static void test_tenths_are_written_as_printf_writes_them(void **state)
{
    (void)state;
    static const double edge[] = {0.0,   -0.0, 0.05,   0.15,   0.25,  -0.25, 30.25, 30.35,
                                  -4.65, 1e14, 123.45, 999.95, -0.04, 16.0,  1e300, -1e20};
    char want[512], got[MATCH_TENTHS_LEN];
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
        snprintf(want, sizeof want, "%.1f", edge[i]);
        want[MATCH_TENTHS_LEN - 1] = '\0';
        int n = match_tenths(edge[i], got);
        assert_string_equal(got, want);
        assert_int_equal(n, (int)strlen(want));
    }
    unsigned long long x = 88172645463325252ULL;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        /* scores, and values a hair either side of a half-tenth */
        double v = ((double)(x % 2000000) - 1000000.0) / 10000.0;
        if (i % 3 == 1)
            v = nextafter(((double)(x % 20000) - 10000.0) / 100.0 + 0.05, 1e9);
        if (i % 3 == 2)
            v = nextafter(((double)(x % 20000) - 10000.0) / 100.0 + 0.05, -1e9);
        snprintf(want, sizeof want, "%.1f", v);
        (void)match_tenths(v, got);
        if (strcmp(want, got) != 0)
            fail_msg("%.17g: printf %s, match_tenths %s", v, want, got);
    }
}

/* A score's text for the database is exactly what snprintf's %.17g writes: scores, exact ties
 * at the 17th digit, the edges of the fast range, and random bit patterns (the fallback). */
static void test_g17_is_written_as_printf_writes_it(void **state)
{
    (void)state;
    static const double edge[] = {0.0,
                                  -0.0,
                                  1e-4,
                                  nextafter(1e-4, 0),
                                  nextafter(1e-4, 1),
                                  0.1,
                                  0.5,
                                  1.0,
                                  -1.0,
                                  9.999999999999999,
                                  99.99999999999999,
                                  31.4,
                                  -12.25,
                                  1e15,
                                  1234567890123456.25,
                                  1234567890123456.75,
                                  9007199254740991.0,
                                  9007199254740992.0,
                                  1e300,
                                  -1e-300,
                                  5e-324};
    char want[64], got[MATCH_G17_LEN];
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
        snprintf(want, sizeof want, "%.17g", edge[i]);
        assert_non_null(match_g17(edge[i], got));
        assert_string_equal(got, want);
    }
    assert_null(match_g17(INFINITY, got));
    assert_null(match_g17(NAN, got));
    unsigned long long x = 88172645463325252ULL;
    for (int i = 0; i < 600000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v;
        switch (i % 4) {
        case 0: /* a score */
            v = ((double)(x % 4000000000ULL) - 2000000000.0) / 1e7;
            break;
        case 1: /* quarters above 2^50: the 17th digit is an exact tie */
            v = (double)((1ULL << 50) + x % (1ULL << 50)) + 0.25 * (double)(x >> 62);
            break;
        case 2: /* any magnitude in the fast range */
            v = ldexp((double)(x >> 11) / 9007199254740992.0, (int)(x % 66) - 14);
            break;
        default: /* any double at all */
            memcpy(&v, &x, sizeof v);
            if (!isfinite(v))
                continue;
            break;
        }
        snprintf(want, sizeof want, "%.17g", v);
        (void)match_g17(v, got);
        if (strcmp(want, got) != 0)
            fail_msg("printf %s, match_g17 %s", want, got);
    }
}

static double fixed_tf(void *ctx, match_field_t f, const char *value)
{
    (void)ctx;
    (void)value;
    return f == MATCH_FIELD_GIVEN ? 0.02 : 0.0005;
}

/* The frozen weight table gives every weight and total to the bit, with and without name
 * frequencies, and a change to m made after freezing counts only once frozen again. */
static void test_frozen_weights_score_to_the_bit_and_follow_a_refreeze(void **state)
{
    (void)state;
    match_params_t plain, frozen;
    match_params_default(&plain);
    frozen = plain;
    match_params_freeze(&frozen);
    assert_true(frozen.frozen);
    const match_person_t people[] = {
        person("Anna", "Jones", "1984-03-07", "female", "LS1 4AP"),
        person("Anna", "Jonse", "1984-07-03", "female", "LS1 4BB"),
        person("Ann", "Jones", "1984-03-08", NULL, "LS2 9JT"),
        person("Bill", "Smith", "1950-01-01", "male", "B1 1AA"),
        person("William", "Smyth", "1950-01-01", "male", "B1 1AB"),
        person(NULL, "Smith", NULL, NULL, NULL),
        person("Wiliam", NULL, "1950-10-01", "female", "BS1 5TR"),
    };
    size_t n = sizeof people / sizeof people[0];
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            for (int with_tf = 0; with_tf < 2; with_tf++) {
                match_tf_fn tf = with_tf ? fixed_tf : NULL;
                match_evidence_t a, b;
                double sa = match_score(&plain, &people[i], &people[j], tf, NULL, &a);
                double sb = match_score(&frozen, &people[i], &people[j], tf, NULL, &b);
                assert_true(sa == sb);
                for (int f = 0; f < MATCH_FIELD_COUNT; f++)
                    assert_true(a.weight[f] == b.weight[f]);
            }
        }
    }
    match_evidence_t ev;
    double before = match_score(&frozen, &people[0], &people[1], NULL, NULL, &ev);
    frozen.m[MATCH_FIELD_BIRTH][MATCH_BIRTH_TRANSPOSED] *= 2.0;
    assert_true(match_score(&frozen, &people[0], &people[1], NULL, NULL, &ev) == before);
    match_params_freeze(&frozen);
    double after = match_score(&frozen, &people[0], &people[1], NULL, NULL, &ev);
    assert_true(fabs(after - before - 1.0) < 1e-9); /* twice as likely: one bit */
}

/* match_bound never falls below the score, whatever the pair (names alike or not, dates typed
 * wrong, postcodes near or far, contacts present or not, with and without name frequencies), is
 * INFINITY where a deterministic rule may link, and is low enough for neighbours with nothing
 * else in common to be dismissed. */
static void test_bound_is_never_below_the_score_and_dismisses_neighbours(void **state)
{
    (void)state;
    match_params_t p;
    match_params_default(&p);
    match_params_freeze(&p);
    static const char *const given[] = {"William", "Bill", "Wiliam", "Jack", "Jake", NULL};
    static const char *const family[] = {"Smith", "Smyth", "Jones", NULL};
    static const char *const dob[] = {"1984-03-07", "1984-07-03", "1984-03-08", "1994-03-07",
                                      "1984-03-27", "2001-11-30", NULL};
    static const char *const pc[] = {"LS6 2AB", "LS6 2AD", "LS7 1AA", "B1 1AA", "ZZ99 3VZ", NULL};
    static const char *const sex[] = {"male", "female", NULL};
    static const char *const tel[] = {"07700 900123", "07700 900999", NULL};
    static const char *const mail[] = {"w.smith@example.org", "bill@example.org", NULL};
    static const char *const addr[] = {
        "12 High Street",      "12 High St", "14 High St", "12 Hihg St",
        "Flat 2, 3 Mill Lane", "Mill Lane",  NULL};
    static const char *const town[] = {"Leeds", "Leeds", "Leeds|LS6 2AB|", "Otley", NULL};
    static const char *const swap[] = {"Jones", "William", "Smith"};
    enum { N = 400 };
    match_prep_t prep[N];
    size_t n = 0;
    unsigned x = 12345;
    for (size_t i = 0; i < N; i++) {
        match_person_t q = {0};
        x = x * 1103515245u + 12345u;
        q.given = given[(x >> 8) % 6];
        q.family = family[(x >> 11) % 4];
        q.birth_date = dob[(x >> 14) % 7];
        q.postcode = pc[(x >> 17) % 6];
        q.sex = sex[(x >> 20) % 3];
        q.phone = tel[(x >> 22) % 3];
        q.email = mail[(x >> 24) % 3];
        q.nhs_number = (x >> 26) % 4 == 0 ? "943 476 5919" : NULL;
        unsigned y = x * 2654435761u;
        q.address = addr[(y >> 8) % 7];
        q.locality = town[(y >> 12) % 5];
        if ((y >> 16) % 4 == 0) /* names in each other's boxes, now and then */
            q.given = swap[(y >> 18) % 3], q.family = given[(y >> 20) % 6];
        if ((y >> 22) % 4 == 0)
            q.postcode = (y >> 24) % 2 ? "2615" : "2616";
        match_prepare(&q, &prep[n++]);
    }
    size_t dismissed = 0;
    for (int with_tf = 0; with_tf < 2; with_tf++) {
        match_tf_fn tf = with_tf ? fixed_tf : NULL;
        for (size_t i = 0; i < n; i++) {
            match_bounder_t b;
            match_bounder_init(&b, &p, &prep[i], tf, NULL);
            assert_true(b.usable);
            for (size_t j = 0; j < n; j++) {
                match_sketch_t sk;
                match_sketch(&prep[j], &sk);
                double bound = match_bound(&b, &p, &sk);
                double score = match_score_prep(&p, &prep[i], &prep[j], tf, NULL, NULL);
                if (!(bound >= score))
                    fail_msg("pair %zu/%zu: bound %.6f below score %.6f", i, j, bound, score);
                if (prep[i].nhs[0] != '\0' && prep[j].nhs[0] != '\0')
                    assert_true(isinf(bound));
                dismissed += bound < p.lower;
            }
        }
    }
    assert_true(dismissed > (size_t)n * n / 4);

    /* Neighbours: same postcode, nothing else alike. */
    match_person_t a = person("Margaret", "Robinson", "1950-02-11", "female", "LS6 2AB");
    match_person_t b = person("Tyler", "Okafor", "1999-08-30", "male", "LS6 2AB");
    match_prep_t pa, pb;
    match_prepare(&a, &pa);
    match_prepare(&b, &pb);
    match_bounder_t bd;
    match_bounder_init(&bd, &p, &pa, NULL, NULL);
    match_sketch_t sb;
    match_sketch(&pb, &sb);
    assert_true(match_bound(&bd, &p, &sb) < p.lower);
    /* Unfrozen parameters give no bound. */
    match_params_t loose;
    match_params_default(&loose);
    match_bounder_init(&bd, &loose, &pa, NULL, NULL);
    assert_false(bd.usable);
    assert_true(isinf(match_bound(&bd, &loose, &sb)));
}

static void test_tf_adjustment_makes_common_surname_weigh_less_than_rare_one(void **state)
{
    (void)state;
    match_params_t p;
    match_params_default(&p);
    match_person_t smith = person(NULL, "Smith", NULL, NULL, NULL);
    match_person_t rare = person(NULL, "Featherstonehaugh", NULL, NULL, NULL);
    match_evidence_t ev_smith, ev_rare, ev_plain;

    match_score(&p, &smith, &smith, tf_table, NULL, &ev_smith);
    match_score(&p, &rare, &rare, tf_table, NULL, &ev_rare);
    match_score(&p, &smith, &smith, NULL, NULL, &ev_plain);

    double w_smith = ev_smith.weight[MATCH_FIELD_FAMILY];
    double w_rare = ev_rare.weight[MATCH_FIELD_FAMILY];
    assert_true(w_smith < w_rare);
    assert_true(w_smith < ev_plain.weight[MATCH_FIELD_FAMILY]);
    assert_true(fabs(w_smith - log2(p.m[MATCH_FIELD_FAMILY][1] / 0.0126)) < 1e-9);
    /* 1e-7 is below what a council table can resolve, so it is clamped. */
    assert_true(fabs(w_rare - log2(p.m[MATCH_FIELD_FAMILY][1] / MATCH_TF_FLOOR)) < 1e-9);
}

static void test_tf_adjustment_applies_to_exact_names_only(void **state)
{
    (void)state;
    match_params_t p;
    match_params_default(&p);
    match_person_t a = person("John", "Smith", NULL, NULL, NULL);
    match_person_t b = person("Jon", "Smyth", NULL, NULL, NULL);
    match_evidence_t with_tf, without_tf;
    match_score(&p, &a, &b, tf_table, NULL, &with_tf);
    match_score(&p, &a, &b, NULL, NULL, &without_tf);
    assert_true(fabs(with_tf.total - without_tf.total) < 1e-12);

    match_score(&p, &a, &a, tf_table, NULL, &with_tf);
    assert_true(fabs(with_tf.weight[MATCH_FIELD_GIVEN] - log2(p.m[MATCH_FIELD_GIVEN][1] / 0.015)) <
                1e-9);
}

/* ------------------------------------------------------------------------------------------ */
/* Decisions                                                                                   */

static match_decision_t decide(match_person_t a, match_person_t b, match_tf_fn tf, char *why,
                               size_t why_len)
{
    match_params_t p;
    match_params_default(&p);
    match_evidence_t ev;
    return match_decide(&p, &a, &b, tf, NULL, &ev, why, why_len);
}

static void test_nhs_number_validation_uses_modulus_11_and_rejects_placeholders(void **state)
{
    (void)state;
    assert_int_equal(match_nhs_number_valid("9434765919"), 1);
    assert_int_equal(match_nhs_number_valid("943 476 5919"), 1);
    assert_int_equal(match_nhs_number_valid("9434765910"), 0);
    assert_int_equal(match_nhs_number_valid("0000000000"), 0);
    assert_int_equal(match_nhs_number_valid("943476591"), 0);
    assert_int_equal(match_nhs_number_valid("94347659190"), 0);
    assert_int_equal(match_nhs_number_valid("943476591X"), 0);
    assert_int_equal(match_nhs_number_valid(NULL), 0);
}

static void test_same_nhs_number_links_even_when_names_disagree(void **state)
{
    (void)state;
    match_person_t a = person("Elizabeth", "Jones", "1950-02-11", "female", NULL);
    match_person_t b = person("Liz", "Evans", "1950-02-11", "female", NULL);
    a.nhs_number = "9434765919";
    b.nhs_number = "943 476 5919";
    char why[96];
    assert_int_equal(decide(a, b, NULL, why, sizeof why), MATCH_DECISION_LINK);
    assert_non_null(strstr(why, "NHS"));
    b.birth_date = "1950-11-02"; /* transposed: still the same person */
    assert_int_equal(decide(a, b, NULL, NULL, 0), MATCH_DECISION_LINK);
    b.birth_date = NULL;
    assert_int_equal(decide(a, b, NULL, NULL, 0), MATCH_DECISION_LINK);
}

static void test_same_nhs_number_with_a_different_birth_date_goes_to_steward(void **state)
{
    (void)state;
    match_person_t a = person("Elizabeth", "Jones", "1950-02-11", "female", NULL);
    match_person_t b = person("Elizabeth", "Jones", "1982-06-30", "female", NULL);
    a.nhs_number = b.nhs_number = "9434765919";
    assert_int_equal(decide(a, b, NULL, NULL, 0), MATCH_DECISION_POSSIBLE);
}

static void test_different_nhs_numbers_are_two_people_whatever_the_score(void **state)
{
    (void)state;
    match_person_t a = person("Elizabeth", "Jones", "1950-02-11", "female", "LS1 4AP");
    match_person_t b = a;
    a.nhs_number = "9434765919";
    b.nhs_number = "4010232137";
    a.phone = b.phone = "07700 900123";
    char why[96];
    assert_int_equal(decide(a, b, NULL, why, sizeof why), MATCH_DECISION_NONE);
    assert_non_null(strstr(why, "different NHS"));
}

static void test_invalid_nhs_number_is_ignored_not_trusted(void **state)
{
    (void)state;
    match_person_t a = person("Anna", "Jones", NULL, NULL, NULL);
    match_person_t b = person("Zoe", "Patel", NULL, NULL, NULL);
    a.nhs_number = b.nhs_number = "0000000000";
    assert_int_equal(decide(a, b, NULL, NULL, 0), MATCH_DECISION_NONE);
    a.nhs_number = "9434765919";
    b.nhs_number = "9434765910"; /* bad check digit: not evidence of two people either */
    a.given = b.given = "Anna";
    a.family = b.family = "Jones";
    a.birth_date = b.birth_date = "1950-02-11";
    a.postcode = b.postcode = "LS1 4AP";
    assert_int_equal(decide(a, b, NULL, NULL, 0), MATCH_DECISION_LINK);
}

static void test_same_ni_number_and_birth_date_link(void **state)
{
    (void)state;
    match_person_t a = person("Anna", "Jones", "1950-02-11", NULL, NULL);
    match_person_t b = person("Anne", "Evans", "1950-02-11", NULL, NULL);
    a.ni_number = "AB 12 34 56 C";
    b.ni_number = "ab123456";
    assert_int_equal(decide(a, b, NULL, NULL, 0), MATCH_DECISION_LINK);
    b.birth_date = "1951-02-11";
    assert_int_not_equal(decide(a, b, NULL, NULL, 0), MATCH_DECISION_LINK);
    b.birth_date = a.birth_date;
    a.ni_number = b.ni_number = "TN123456"; /* temporary numbers are shared, never trusted */
    assert_int_not_equal(decide(a, b, NULL, NULL, 0), MATCH_DECISION_LINK);
}

/* A number every system records alike: it settles what the forename anchors cannot (twins have
 * numbers of their own), unless the record says otherwise. */
static void test_same_shared_identifier_links_unless_the_record_disagrees(void **state)
{
    (void)state;
    /* No forename on one side: a twin would fail the forename anchor; the number settles it. */
    match_person_t a = person(NULL, "Baker", "1939-05-19", NULL, NULL);
    match_person_t b = person("William", "Baker", "1939-05-19", NULL, NULL);
    char why[96];
    assert_int_not_equal(decide(a, b, NULL, NULL, 0), MATCH_DECISION_LINK);
    a.shared_id = "1234567";
    b.shared_id = " 12-345 67";
    assert_int_equal(decide(a, b, NULL, why, sizeof why), MATCH_DECISION_LINK);
    assert_non_null(strstr(why, "same shared identifier"));
    b.birth_date = "1939-05-18"; /* one keyed digit */
    assert_int_equal(decide(a, b, NULL, NULL, 0), MATCH_DECISION_LINK);
    /* Another date, with forename and surname the same: the date was keyed wrong. */
    a.given = "William";
    b.birth_date = "1969-11-02";
    assert_int_equal(decide(a, b, NULL, why, sizeof why), MATCH_DECISION_LINK);
    assert_non_null(strstr(why, "birth dates disagree"));
    /* Another date and another forename: a number keyed onto the wrong record. */
    b.given = "Margaret";
    assert_int_equal(decide(a, b, NULL, why, sizeof why), MATCH_DECISION_POSSIBLE);
    assert_non_null(strstr(why, "birth dates and names disagree"));
    a.given = NULL;
    b.given = "William";
    /* Without a birth date, a name must agree. */
    b.birth_date = NULL;
    assert_int_equal(decide(a, b, NULL, NULL, 0), MATCH_DECISION_LINK);
    b.family = "Okafor";
    assert_int_equal(decide(a, b, NULL, why, sizeof why), MATCH_DECISION_POSSIBLE);
    assert_non_null(strstr(why, "names disagree"));
    /* Different numbers are no evidence either way (one may be mistyped); different NHS numbers
     * still mean two people. */
    b = person("William", "Baker", "1939-05-19", NULL, NULL);
    b.shared_id = "7654321";
    assert_int_not_equal(decide(a, b, NULL, NULL, 0), MATCH_DECISION_LINK);
    b.shared_id = a.shared_id;
    a.nhs_number = "9434765919";
    b.nhs_number = "4010232137";
    assert_int_equal(decide(a, b, NULL, NULL, 0), MATCH_DECISION_NONE);
}

static void test_twins_with_same_surname_dob_postcode_are_not_linked_automatically(void **state)
{
    (void)state;
    match_params_t p;
    match_params_default(&p);
    match_person_t a = person("Oliver", "Smith", "2015-06-01", "male", "LS1 4AP");
    match_person_t b = person("Harry", "Smith", "2015-06-01", "male", "LS1 4AP");
    match_evidence_t ev;

    assert_int_not_equal(match_decide(&p, &a, &b, NULL, NULL, &ev, NULL, 0), MATCH_DECISION_LINK);
    assert_true(ev.total < p.upper); /* the score alone keeps them apart */

    /* A rare surname and a shared household phone push the score over the threshold; the
     * forename guard must still hold. */
    a.family = b.family = "Featherstonehaugh";
    a.phone = b.phone = "0113 496 0000";
    char why[128];
    assert_int_not_equal(match_decide(&p, &a, &b, tf_table, NULL, &ev, why, sizeof why),
                         MATCH_DECISION_LINK);
    assert_true(ev.total >= p.upper);
    assert_non_null(strstr(why, "twin"));
}

static void test_boy_girl_twins_with_similar_names_and_no_sex_are_not_linked(void **state)
{
    (void)state;
    match_person_t a = person("Alexander", "Jones", "2012-09-14", NULL, "M1 1AE");
    match_person_t b = person("Alexandra", "Jones", "2012-09-14", NULL, "M1 1AE");
    assert_int_not_equal(decide(a, b, NULL, NULL, 0), MATCH_DECISION_LINK);
    a.given = "Francis";
    b.given = "Frances";
    a.sex = "male";
    b.sex = "female";
    assert_int_not_equal(decide(a, b, NULL, NULL, 0), MATCH_DECISION_LINK);
}

static void test_same_named_parent_and_child_sharing_contacts_are_not_linked(void **state)
{
    (void)state;
    match_person_t a = person("John", "Smith", "1961-04-12", "male", "LS1 4AP");
    match_person_t b = person("John", "Smith", "1990-08-23", "male", "LS1 4AP");
    a.phone = b.phone = "0113 496 0000";
    a.email = b.email = "smith.family@example.org";
    assert_int_not_equal(decide(a, b, NULL, NULL, 0), MATCH_DECISION_LINK);
    b.birth_date = NULL; /* the son's record has no birth date: still must not merge */
    assert_int_not_equal(decide(a, b, NULL, NULL, 0), MATCH_DECISION_LINK);
}

static void test_typo_surname_with_same_dob_postcode_and_given_links_by_default(void **state)
{
    (void)state;
    match_person_t a = person("Margaret", "Robinson", "1950-02-11", NULL, "M1 1AE");
    match_person_t b = person("Margaret", "Robinsen", "1950-02-11", NULL, "M1 1AE");
    char why[96];
    assert_int_equal(decide(a, b, NULL, why, sizeof why), MATCH_DECISION_LINK);
    assert_non_null(strstr(why, "upper"));
}

static void test_nickname_and_transposed_dob_still_link_with_matching_address(void **state)
{
    (void)state;
    match_person_t a = person("Elizabeth", "Robinson", "1950-02-11", "female", "M1 1AE");
    match_person_t b = person("Beth", "Robinson", "1950-11-02", "female", "M1 1AE");
    assert_int_equal(decide(a, b, NULL, NULL, 0), MATCH_DECISION_LINK);
}

static void test_person_who_moved_goes_to_steward_not_auto_link(void **state)
{
    (void)state;
    match_person_t a = person("Margaret", "Robinson", "1950-02-11", "female", "M1 1AE");
    match_person_t b = person("Margaret", "Robinson", "1950-02-11", "female", "LS2 9JT");
    assert_int_equal(decide(a, b, NULL, NULL, 0), MATCH_DECISION_POSSIBLE);
    a.phone = b.phone = "07700 900123"; /* same mobile: now enough */
    assert_int_equal(decide(a, b, NULL, NULL, 0), MATCH_DECISION_LINK);
}

static void test_strangers_sharing_only_a_birth_date_are_non_matches(void **state)
{
    (void)state;
    match_person_t a = person("Margaret", "Robinson", "1950-02-11", "female", "M1 1AE");
    match_person_t b = person("Zoe", "Patel", "1950-02-11", "female", "LS2 9JT");
    char why[8]; /* deliberately short: must truncate, not overflow */
    assert_int_equal(decide(a, b, NULL, why, sizeof why), MATCH_DECISION_NONE);
    assert_int_equal(strlen(why), sizeof why - 1);
}

static void test_diacritics_fold_to_their_base_letter(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(match_norm_name("P\xc3\xa1"
                                     "draig",
                                     out, sizeof out),
                     7); /* Pádraig */
    assert_string_equal(out, "PADRAIG");
    match_norm_name("Wi\xc5\x9b"
                    "niewski",
                    out, sizeof out); /* Wiśniewski */
    assert_string_equal(out, "WISNIEWSKI");
    match_norm_name("\xc5\x81ukasz", out, sizeof out); /* Łukasz */
    assert_string_equal(out, "LUKASZ");
    match_norm_name("\xc3\x86"
                    "thel O'Brien",
                    out, sizeof out); /* Æthel */
    assert_string_equal(out, "AETHELOBRIEN");
    match_norm_name("Zo\xc3\xab\xe2\x80\x99s", out, sizeof out); /* Zoë’s: a quote is dropped */
    assert_string_equal(out, "ZOES");
    assert_int_equal(match_norm_name("\xc3", out, sizeof out), 0); /* truncated sequence */

    match_person_t a = person("R\xc3\xb3"
                              "is\xc3\xad"
                              "n",
                              "Wi\xc5\x9b"
                              "niewska",
                              NULL, NULL, NULL);
    match_person_t b = person("Roisin", "Wisniewska", NULL, NULL, NULL);
    assert_int_equal(level_of(MATCH_FIELD_GIVEN, a, b), MATCH_GIVEN_EXACT);
    assert_int_equal(level_of(MATCH_FIELD_FAMILY, a, b), MATCH_GIVEN_EXACT);
    char pa[8], pb[8];
    match_phonetic(a.family, pa, sizeof pa);
    match_phonetic(b.family, pb, sizeof pb);
    assert_string_equal(pa, pb);
}

static void test_nicknames_include_jake_bella_and_lottie_but_not_charlie(void **state)
{
    (void)state;
    assert_true(match_is_nickname("Jacob", "Jake"));
    assert_true(match_is_nickname("Isabella", "Bella"));
    assert_true(match_is_nickname("Charlotte", "Lottie"));
    assert_true(match_is_nickname("Jessica", "Jess"));
    assert_false(match_is_nickname("Jack", "Jake")); /* John's and Jacob's: twins' names */
    assert_false(match_is_nickname("Charlotte", "Charlie"));
}

static void test_forename_typo_nobody_has_links_but_a_twins_real_name_does_not(void **state)
{
    (void)state;
    match_person_t a = person("Jafk", "Presingshurst", "2012-03-27", "male", "M36 6BJ");
    match_person_t b = person("Jack", "Presingshurst", "2012-03-27", "male", "M36 6BJ");
    match_evidence_t ev;
    match_params_t p;
    match_params_default(&p);
    char why[128];
    assert_int_equal(match_decide(&p, &a, &b, tf_population, NULL, &ev, why, sizeof why),
                     MATCH_DECISION_LINK);
    assert_int_equal(ev.level[MATCH_FIELD_GIVEN], MATCH_GIVEN_JW80);
    /* Jake is a name residents have: Jack's twin, not a typo. */
    a.given = "Jake";
    assert_int_equal(match_decide(&p, &a, &b, tf_population, NULL, &ev, why, sizeof why),
                     MATCH_DECISION_POSSIBLE);
    assert_true(ev.total >= p.upper);
    assert_non_null(strstr(why, "twin"));
    a.given = "Molly";
    b.given = "Holly";
    b.sex = a.sex = "female";
    assert_int_not_equal(decide(a, b, tf_population, NULL, 0), MATCH_DECISION_LINK);
    /* Without a live table nobody can tell a typo from a name: no link. */
    a.given = "Jafk";
    b.given = "Jack";
    assert_int_not_equal(decide(a, b, tf_none, NULL, 0), MATCH_DECISION_LINK);
    assert_int_not_equal(decide(a, b, NULL, NULL, 0), MATCH_DECISION_LINK);
    /* Only the record being matched is asked about: the candidate is in the table itself. */
    a.given = "Jack";
    b.given = "Jafk";
    assert_int_not_equal(decide(a, b, tf_population, NULL, 0), MATCH_DECISION_LINK);
}

static void test_sex_recording_error_links_only_with_exact_unambiguous_forename(void **state)
{
    (void)state;
    match_person_t a = person("Jacob", "Kay", "2004-12-11", "male", "B85 7GT");
    match_person_t b = person("Jacob", "Kay", "2004-12-11", "female", "B85 7GT");
    assert_int_equal(decide(a, b, tf_population, NULL, 0), MATCH_DECISION_LINK);
    /* boy/girl twins: opposite-sex forms compare as different forenames */
    a.given = "Martin";
    b.given = "Martina";
    assert_int_not_equal(decide(a, b, tf_population, NULL, 0), MATCH_DECISION_LINK);
    /* ... and a typo that turns Martina into Martin must not make them one */
    b.given = "Martin";
    assert_int_not_equal(decide(a, b, tf_population, NULL, 0), MATCH_DECISION_LINK);
    /* Stephen is far from Stephanie: a slip does not make one of the other */
    a.given = b.given = "Stephen";
    assert_int_equal(decide(a, b, tf_population, NULL, 0), MATCH_DECISION_LINK);
    a.given = b.given = "Daniel"; /* but Daniela is one letter away */
    assert_int_not_equal(decide(a, b, tf_population, NULL, 0), MATCH_DECISION_LINK);
    /* Alex is Alexander's and Alexandra's */
    a.given = b.given = "Alex";
    assert_int_not_equal(decide(a, b, tf_population, NULL, 0), MATCH_DECISION_LINK);
    /* a forename or birth date that is only close is not enough to overrule sex */
    a.given = b.given = "Jacob";
    b.birth_date = "2004-12-12";
    assert_int_not_equal(decide(a, b, tf_population, NULL, 0), MATCH_DECISION_LINK);
    b.birth_date = a.birth_date;
    b.given = "Jake";
    assert_int_not_equal(decide(a, b, tf_population, NULL, 0), MATCH_DECISION_LINK);
}

static void test_mover_within_the_area_links_but_a_namesake_elsewhere_does_not(void **state)
{
    (void)state;
    match_person_t a = person("Margaret", "Ackroyd", "1950-02-11", "female", "M1 1AE");
    match_person_t b = person("Margaret", "Ackroyd", "1950-02-11", "female", "M40 2XY");
    match_evidence_t ev;
    match_params_t p;
    match_params_default(&p);
    char why[160];
    assert_int_equal(match_decide(&p, &a, &b, tf_population, NULL, &ev, why, sizeof why),
                     MATCH_DECISION_LINK);
    assert_int_equal(ev.level[MATCH_FIELD_POSTCODE], MATCH_POSTCODE_AREA);
    /* the same name and birth date in another city: above upper, but nothing else in common */
    b.postcode = "LS2 9JT";
    assert_int_equal(match_decide(&p, &a, &b, tf_population, NULL, &ev, why, sizeof why),
                     MATCH_DECISION_POSSIBLE);
    assert_true(ev.total >= p.upper && ev.total < p.upper + MATCH_UNCORROBORATED_MARGIN);
    assert_non_null(strstr(why, "namesake"));
    a.phone = b.phone = "07700 900123"; /* the same mobile ties them */
    assert_int_equal(decide(a, b, tf_population, NULL, 0), MATCH_DECISION_LINK);
}

static void test_missing_birth_date_links_only_with_same_address_and_same_mobile(void **state)
{
    (void)state;
    match_person_t a = person("Hannah", "Langshaw", "2003-02-21", "female", "M9 1BB");
    match_person_t b = person("Hannah", "Langshaw", NULL, "female", "M9 1BB");
    assert_int_not_equal(decide(a, b, tf_population, NULL, 0), MATCH_DECISION_LINK);
    a.phone = "07781 050898";
    b.phone = "+44 7781 050898";
    assert_int_equal(decide(a, b, tf_population, NULL, 0), MATCH_DECISION_LINK);
    /* a household landline or e-mail is not personal */
    a.phone = b.phone = "0161 496 0000";
    a.email = b.email = "langshaw.family@example.org";
    assert_int_not_equal(decide(a, b, tf_population, NULL, 0), MATCH_DECISION_LINK);
    /* nor is a mobile without the address */
    a.phone = b.phone = "07781 050898";
    b.postcode = "M9 2AA";
    assert_int_not_equal(decide(a, b, tf_population, NULL, 0), MATCH_DECISION_LINK);
}

static void test_contact_weights_are_calibrated_and_forenames_capped(void **state)
{
    (void)state;
    match_params_t p;
    match_params_default(&p);
    /* a different mobile or e-mail is evidence against, not free */
    assert_true(log2(p.m[MATCH_FIELD_PHONE][MATCH_BINARY_DIFFERENT] /
                     p.u[MATCH_FIELD_PHONE][MATCH_BINARY_DIFFERENT]) < -2.5);
    assert_true(log2(p.m[MATCH_FIELD_EMAIL][MATCH_BINARY_DIFFERENT] /
                     p.u[MATCH_FIELD_EMAIL][MATCH_BINARY_DIFFERENT]) < -2.5);
    /* an exact forename nobody else has counts no more than MATCH_TF_GIVEN_FLOOR allows */
    match_person_t a = person("Szymon", "Kaminski", NULL, NULL, NULL);
    match_evidence_t ev;
    match_score(&p, &a, &a, tf_population, NULL, &ev);
    assert_true(fabs(ev.weight[MATCH_FIELD_GIVEN] - log2(p.m[MATCH_FIELD_GIVEN][MATCH_GIVEN_EXACT] /
                                                         MATCH_TF_GIVEN_FLOOR)) < 1e-9);
}

/* ------------------------------------------------------------------------------------------ */
/* Blocking keys                                                                               */

#define MAX_KEYS 12

static int keys_of(match_person_t p, char keys[MAX_KEYS][MATCH_KEY_LEN])
{
    return match_blocking_keys(&p, keys, MAX_KEYS);
}

static int has_key(char keys[][MATCH_KEY_LEN], int n, const char *want)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(keys[i], want) == 0)
            return 1;
    }
    return 0;
}

static int share_a_key(match_person_t a, match_person_t b)
{
    char ka[MAX_KEYS][MATCH_KEY_LEN], kb[MAX_KEYS][MATCH_KEY_LEN];
    int na = keys_of(a, ka), nb = keys_of(b, kb);
    for (int i = 0; i < na; i++) {
        if (has_key(kb, nb, ka[i]))
            return 1;
    }
    return 0;
}

static void test_blocking_keys_cover_identifiers_dates_places_and_names(void **state)
{
    (void)state;
    match_person_t p = person("Margaret", "Robinson", "1950-02-11", "female", "m11ae");
    p.nhs_number = "943 476 5919";
    p.ni_number = "AB123456C";
    p.phone = "+44 7700 900123";
    p.email = "Maggie.R@Example.org";
    p.shared_id = "ab-1234 5";
    char keys[MAX_KEYS][MATCH_KEY_LEN];
    int n = keys_of(p, keys);
    assert_int_equal(n, 9);
    assert_true(has_key(keys, n, "nhs:9434765919"));
    assert_true(has_key(keys, n, "ni:AB123456"));
    assert_true(has_key(keys, n, "sid:AB12345"));
    assert_true(has_key(keys, n, "dob:1950-02-11"));
    assert_true(has_key(keys, n, "pc:M1 1AE"));
    assert_true(has_key(keys, n, "ph:RPNS:1950"));
    assert_true(has_key(keys, n, "dm:MRPNS:1950-02-11"));
    assert_true(has_key(keys, n, "tel:07700900123"));
    assert_true(has_key(keys, n, "em:maggie.r@example.org"));
}

static void test_blocking_keys_survive_one_typo_transposition_or_move(void **state)
{
    (void)state;
    match_person_t base = person("Margaret", "Robinson", "1950-02-11", "female", "M1 1AE");
    match_person_t v = base;

    v.family = "Robinsen";
    assert_true(share_a_key(base, v));
    v = base;
    v.given = "Maggie";
    assert_true(share_a_key(base, v));
    v = base;
    v.birth_date = "1950-11-02";
    assert_true(share_a_key(base, v));
    v = base;
    v.birth_date = "1905-02-11";
    assert_true(share_a_key(base, v));
    v = base;
    v.birth_date = "1950-02-12";
    assert_true(share_a_key(base, v));
    v = base;
    v.postcode = "LS2 9JT";
    assert_true(share_a_key(base, v));
    /* Two errors at once: moved and transposed; the sorted day-month key still meets. */
    v.birth_date = "1950-11-02";
    char ka[MAX_KEYS][MATCH_KEY_LEN], kb[MAX_KEYS][MATCH_KEY_LEN];
    int na = keys_of(base, ka), nb = keys_of(v, kb);
    assert_true(has_key(ka, na, "dm:MRPNS:1950-02-11"));
    assert_true(has_key(kb, nb, "dm:MRPNS:1950-02-11"));
}

/* ------------------------------------------------------------------------------------------ */
/* Address, swapped names and records with few fields                                          */

/* A FEBRL-style record: names, an address with a four-digit postcode, no NHS number, phone or
 * e-mail, and often no birth date. */
static match_person_t febrl(const char *given, const char *family, const char *dob,
                            const char *address, const char *locality, const char *postcode)
{
    match_person_t p = person(given, family, dob, NULL, postcode);
    p.address = address;
    p.locality = locality;
    return p;
}

static void test_address_house_number_and_street_are_normalised(void **state)
{
    (void)state;
    static const char *const same[][2] = {
        {"12 High Street", "12 HIGH ST."},
        {"12 High Street, Flat 3", "Flat 3\n12 High St"},
        {"Unit 5, 23 Station Road", "23 station rd"},
        {"23a St John's Avenue", "23A ST JOHNS AVE"},
        {"7 Wattle Crescent|CANBERRA|2615|", "7 Wattle Cres"},
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        match_person_t a = {0}, b = {0};
        a.address = same[i][0];
        b.address = same[i][1];
        if (level_of(MATCH_FIELD_ADDRESS, a, b) != MATCH_ADDRESS_EXACT)
            fail_msg("%s / %s: %s", same[i][0], same[i][1],
                     match_level_name(MATCH_FIELD_ADDRESS, level_of(MATCH_FIELD_ADDRESS, a, b)));
    }
    match_person_t a = {0};
    match_prep_t pa;
    a.address = "Flat 3, 12 High Street\nRiverside";
    a.locality = "St. Albans|AL1 1AA|";
    match_prepare(&a, &pa);
    assert_string_equal(pa.house, "12");
    assert_string_equal(pa.street, "HIGH ST");
    assert_string_equal(pa.locality, "STALBANS");
    /* a number that is a flat's is not the house's */
    a.address = "Flat 3";
    match_prepare(&a, &pa);
    assert_string_equal(pa.house, "");
    assert_string_equal(pa.street, "");
    assert_string_equal(match_level_name(MATCH_FIELD_ADDRESS, MATCH_ADDRESS_SAME_HOUSE),
                        "same-house");
    assert_string_equal(match_field_name(MATCH_FIELD_LOCALITY), "locality");
}

static void test_swapped_names_compare_crosswise(void **state)
{
    (void)state;
    match_params_t p;
    match_params_default(&p);
    match_person_t a = person("James", "Thornton", "1961-04-02", "male", "LS6 2AB");
    match_person_t b = person("Thornton", "James", "1961-04-02", "male", "LS6 2AB");
    match_evidence_t ev, straight;
    assert_int_equal(match_decide(&p, &a, &b, NULL, NULL, &ev, NULL, 0), MATCH_DECISION_LINK);
    assert_int_equal(ev.level[MATCH_FIELD_GIVEN], MATCH_GIVEN_SWAPPED);
    assert_int_equal(ev.level[MATCH_FIELD_FAMILY], MATCH_FAMILY_EXACT);
    (void)match_score(&p, &a, &a, NULL, NULL, &straight);
    /* close to an exact forename, never more */
    assert_true(ev.weight[MATCH_FIELD_GIVEN] > straight.weight[MATCH_FIELD_GIVEN] - 1.0);
    assert_true(ev.weight[MATCH_FIELD_GIVEN] <= straight.weight[MATCH_FIELD_GIVEN]);
    /* one side with a typo still counts crosswise; the surname then carries the typo's level */
    b.given = "Thornten";
    (void)match_score(&p, &a, &b, NULL, NULL, &ev);
    assert_int_equal(ev.level[MATCH_FIELD_GIVEN], MATCH_GIVEN_SWAPPED);
    assert_int_equal(ev.level[MATCH_FIELD_FAMILY], MATCH_FAMILY_JW92);
    /* nothing crosswise exact: not swapped */
    b.given = "Thornten";
    b.family = "Jamie";
    (void)match_score(&p, &a, &b, NULL, NULL, &ev);
    assert_int_not_equal(ev.level[MATCH_FIELD_GIVEN], MATCH_GIVEN_SWAPPED);
    /* names that agree directly are never read crosswise */
    match_person_t c = person("Thomas", "Thomas", NULL, NULL, NULL);
    (void)match_score(&p, &c, &c, NULL, NULL, &ev);
    assert_int_equal(ev.level[MATCH_FIELD_GIVEN], MATCH_GIVEN_EXACT);
    /* the crosswise pair of a swapped record scored before this change at 15.8, below lower:
     * everything else equal it now scores as the straight pair within a bit */
    match_person_t d = febrl("Thornton", "James", "1961-04-02", NULL, NULL, "LS6 2AB");
    match_person_t e = febrl("James", "Thornton", "1961-04-02", NULL, NULL, "LS6 2AB");
    assert_true(match_score(&p, &d, &e, NULL, NULL, NULL) >
                match_score(&p, &e, &e, NULL, NULL, NULL) - 1.0);
}

static void test_febrl_pair_without_birth_date_links_on_name_and_address(void **state)
{
    (void)state;
    match_params_t p;
    match_params_default(&p);
    match_person_t a = febrl("Joshua", "Bensley", NULL, "31 Wattle Crescent\nRosetta Village",
                             "Kingsford", "2615");
    match_person_t b =
        febrl("Joshua", "Bensley", "1983-02-10", "31 Wattle Cres", "Kingsford", "2615");
    char why[160];
    match_evidence_t ev;
    assert_int_equal(match_decide(&p, &a, &b, tf_none, NULL, &ev, why, sizeof why),
                     MATCH_DECISION_LINK);
    assert_int_equal(ev.level[MATCH_FIELD_ADDRESS], MATCH_ADDRESS_EXACT);
    assert_int_equal(ev.level[MATCH_FIELD_LOCALITY], MATCH_LOCALITY_EXACT);
    /* the postcode missing on one side is not disagreement */
    b.postcode = NULL;
    assert_int_equal(match_decide(&p, &a, &b, tf_none, NULL, &ev, NULL, 0), MATCH_DECISION_LINK);
    assert_true(ev.weight[MATCH_FIELD_POSTCODE] == 0.0);
    /* the house number lost on one side: still the house, no other number contradicts it */
    b.postcode = "2615";
    b.address = "Wattle Crescent";
    assert_int_equal(match_decide(&p, &a, &b, tf_none, NULL, &ev, NULL, 0), MATCH_DECISION_LINK);
    assert_int_equal(ev.level[MATCH_FIELD_ADDRESS], MATCH_ADDRESS_STREET);
    /* another number on the street is not */
    b.address = "37 Wattle Crescent";
    assert_int_not_equal(match_decide(&p, &a, &b, tf_none, NULL, &ev, NULL, 0),
                         MATCH_DECISION_LINK);
    b.address = "31 Wattle Cres";
    b.postcode = NULL;
    /* the same names and house but another town is not the same house: a steward decides */
    b.locality = "Belconnen";
    assert_int_not_equal(match_decide(&p, &a, &b, tf_none, NULL, &ev, NULL, 0),
                         MATCH_DECISION_LINK);
    /* no address at all: names alone never link */
    a.address = b.address = NULL;
    a.locality = b.locality = "Kingsford";
    a.postcode = b.postcode = "2615";
    assert_int_not_equal(match_decide(&p, &a, &b, tf_none, NULL, &ev, NULL, 0),
                         MATCH_DECISION_LINK);
    /* swapped names with the same house, no birth date */
    match_person_t c = febrl("Bensley", "Joshua", NULL, "31 Wattle Crescent", "Kingsford", "2615");
    match_person_t d = febrl("Joshua", "Bensley", NULL, "31 Wattle Crescent", "Kingsford", "2615");
    assert_int_equal(match_decide(&p, &c, &d, tf_none, NULL, &ev, NULL, 0), MATCH_DECISION_LINK);
}

static void test_twins_and_parent_child_at_one_address_stay_apart(void **state)
{
    (void)state;
    match_params_t p;
    match_params_default(&p);
    /* twins: same surname, birth date, house; different forenames */
    match_person_t a = febrl("Oliver", "Smith", "2015-06-01", "4 Elm Grove", "Leeds", "LS1 4AP");
    match_person_t b = febrl("Harry", "Smith", "2015-06-01", "4 Elm Grove", "Leeds", "LS1 4AP");
    assert_int_not_equal(match_decide(&p, &a, &b, tf_population, NULL, NULL, NULL, 0),
                         MATCH_DECISION_LINK);
    a.given = "Jack", b.given = "Jake"; /* twins' real names a letter apart */
    assert_int_not_equal(match_decide(&p, &a, &b, tf_population, NULL, NULL, NULL, 0),
                         MATCH_DECISION_LINK);
    a.postcode = b.postcode = "2615"; /* and where the postcode is not a UK one */
    assert_int_not_equal(match_decide(&p, &a, &b, tf_population, NULL, NULL, NULL, 0),
                         MATCH_DECISION_LINK);
    /* one birth date missing does not make twins one person either */
    b.birth_date = NULL;
    assert_int_not_equal(match_decide(&p, &a, &b, tf_population, NULL, NULL, NULL, 0),
                         MATCH_DECISION_LINK);
    /* a mother and daughter of one name at one house, one birth date missing: their own
     * mobiles tell them apart */
    match_person_t m1 = febrl("Teresa", "Goldside", NULL, "42 Oxford Close", "Liverpool", "L7 7HZ");
    match_person_t m2 =
        febrl("Teresa", "Goldside", "2001-04-21", "42 Oxford Close", "Liverpool", "L7 7HZ");
    m1.phone = "07564 921728";
    m2.phone = "07322 412440";
    assert_int_not_equal(match_decide(&p, &m1, &m2, tf_population, NULL, NULL, NULL, 0),
                         MATCH_DECISION_LINK);
    /* a father and son of one name at one house with a UK postcode, the son's record without a
     * birth date and neither with a phone: in UK council data that is a household, not a slip */
    match_person_t e1 = febrl("Errol", "Francis", NULL, "33 Lime Court", "Bromsgrove", "B82 0QS");
    match_person_t e2 =
        febrl("Errol", "Francis", "2020-05-24", "33 Lime Court", "Bromsgrove", "B82 0QS");
    assert_int_not_equal(match_decide(&p, &e1, &e2, tf_population, NULL, NULL, NULL, 0),
                         MATCH_DECISION_LINK);
    /* parent and child: same names, same house, birth dates present and different */
    match_person_t f = febrl("John", "Smith", "1960-03-02", "4 Elm Grove", "Leeds", "LS1 4AP");
    match_person_t s = febrl("John", "Smith", "1992-08-19", "4 Elm Grove", "Leeds", "LS1 4AP");
    assert_int_not_equal(match_decide(&p, &f, &s, tf_population, NULL, NULL, NULL, 0),
                         MATCH_DECISION_LINK);
    f.postcode = s.postcode = "2615";
    char why[160];
    match_evidence_t ev;
    assert_int_not_equal(match_decide(&p, &f, &s, tf_population, NULL, &ev, why, sizeof why),
                         MATCH_DECISION_LINK);
    if (ev.total >= p.upper)
        assert_non_null(strstr(why, "parent/child"));
    f.phone = s.phone = "07700 900123"; /* and a shared mobile does not change that */
    assert_int_not_equal(match_decide(&p, &f, &s, tf_population, NULL, NULL, NULL, 0),
                         MATCH_DECISION_LINK);
    f.postcode = s.postcode = "2615";
    assert_int_not_equal(match_decide(&p, &f, &s, tf_population, NULL, NULL, NULL, 0),
                         MATCH_DECISION_LINK);
    /* namesakes: same name and birth date, another town, another street */
    match_person_t n1 = febrl("Mary", "Jones", "1970-01-05", "3 Mill Lane", "Otley", "2615");
    match_person_t n2 = febrl("Mary", "Jones", "1970-01-05", "18 Park Road", "Ripon", "2790");
    assert_int_not_equal(match_decide(&p, &n1, &n2, tf_population, NULL, NULL, NULL, 0),
                         MATCH_DECISION_LINK);
}

static void test_uk_postcode_leaves_address_nothing_to_count_twice(void **state)
{
    (void)state;
    match_params_t p;
    match_params_default(&p);
    match_person_t a = febrl("Ann", "Lee", "1970-01-05", "3 Mill Lane", "Leeds", "LS1 4AP");
    match_person_t b = a;
    match_evidence_t ev;
    (void)match_score(&p, &a, &b, NULL, NULL, &ev);
    /* within one postcode the town says nothing more and the house only a little (one
     * household in fifteen) ... */
    assert_true(ev.weight[MATCH_FIELD_LOCALITY] == 0.0);
    assert_true(ev.weight[MATCH_FIELD_ADDRESS] > 3.0 && ev.weight[MATCH_FIELD_ADDRESS] < 4.0);
    /* ... and another house in it is a neighbour, clearly against */
    b.address = "5 Mill Lane";
    (void)match_score(&p, &a, &b, NULL, NULL, &ev);
    assert_true(ev.weight[MATCH_FIELD_ADDRESS] < -5.0);
    b = a;
    /* another postcode: a move already counted there, so no penalty twice ... */
    b.address = "9 Park Road";
    b.locality = "Otley";
    b.postcode = "LS21 1AA";
    (void)match_score(&p, &a, &b, NULL, NULL, &ev);
    assert_true(ev.weight[MATCH_FIELD_ADDRESS] == 0.0 && ev.weight[MATCH_FIELD_LOCALITY] == 0.0);
    /* ... but the same house under a mistyped postcode still counts */
    b = a;
    b.postcode = "LS1 4PA";
    (void)match_score(&p, &a, &b, NULL, NULL, &ev);
    assert_true(ev.weight[MATCH_FIELD_ADDRESS] > 5.0);
    /* without UK postcodes the address counts in full, both ways */
    a.postcode = NULL;
    b = a;
    b.address = "9 Park Road";
    (void)match_score(&p, &a, &b, NULL, NULL, &ev);
    assert_true(ev.weight[MATCH_FIELD_ADDRESS] < 0.0);
}

static void test_blocking_keys_find_a_duplicate_without_birth_date(void **state)
{
    (void)state;
    match_person_t base =
        febrl("Joshua", "Bensley", "1983-02-10", "31 Wattle Crescent", "Kingsford", "2615");
    match_person_t v = base;
    /* no birth date, postcode with a slip, a typo in each name in turn */
    v.birth_date = NULL;
    v.postcode = "2651";
    v.given = "Joshau";
    assert_true(share_a_key(base, v));
    v.given = "Joshua";
    v.family = "Bensly";
    assert_true(share_a_key(base, v));
    /* and with the house number lost as well: the name in the town still meets */
    v.address = "Wattle Crescent";
    assert_true(share_a_key(base, v));
    char k[MAX_KEYS][MATCH_KEY_LEN];
    int n = keys_of(base, k);
    assert_true(has_key(k, n, "st:31:WATTLE"));
    assert_true(has_key(k, n, "fl:JPNSL:KINGSFORD"));
}

/* Frequencies of localities: a town a fifth of the residents share against a suburb of few. */
static double tf_places(void *ctx, match_field_t f, const char *value)
{
    (void)ctx;
    if (f != MATCH_FIELD_LOCALITY)
        return 0.0;
    return strcmp(value, "LEEDS") == 0 ? 0.2 : strcmp(value, "KINGSFORD") == 0 ? 2e-6 : 0.0;
}

static void test_locality_weighs_by_how_many_residents_share_it(void **state)
{
    (void)state;
    match_params_t p;
    match_params_default(&p);
    match_params_freeze(&p);
    match_person_t a = {0};
    a.locality = "Leeds";
    match_evidence_t common, rare, plain;
    (void)match_score(&p, &a, &a, tf_places, NULL, &common);
    (void)match_score(&p, &a, &a, NULL, NULL, &plain);
    a.locality = "Kingsford";
    (void)match_score(&p, &a, &a, tf_places, NULL, &rare);
    assert_true(common.weight[MATCH_FIELD_LOCALITY] < plain.weight[MATCH_FIELD_LOCALITY]);
    assert_true(rare.weight[MATCH_FIELD_LOCALITY] > plain.weight[MATCH_FIELD_LOCALITY]);
    /* clamped at 1 in 1,000: a place is shared by households */
    assert_true(fabs(rare.weight[MATCH_FIELD_LOCALITY] -
                     log2(p.m[MATCH_FIELD_LOCALITY][MATCH_LOCALITY_EXACT] /
                          MATCH_TF_LOCALITY_FLOOR)) < 1e-9);
    /* and the bound allows for it */
    match_prep_t pa;
    match_prepare(&a, &pa);
    match_bounder_t b;
    match_bounder_init(&b, &p, &pa, tf_places, NULL);
    match_sketch_t sk;
    match_sketch(&pa, &sk);
    assert_true(match_bound(&b, &p, &sk) >= rare.total);
}

static void test_birth_date_a_month_apart_stays_with_the_steward(void **state)
{
    (void)state;
    match_params_t p;
    match_params_default(&p);
    /* Mohammad and Muhammad, born three weeks apart in one household of three generations:
     * cousins, not one boy. A date that differs beyond a slip is never waved through. */
    match_person_t a =
        febrl("Mohammad", "Butt", "2017-04-08", "104 Nelson View", "Bradford", "BD5 1YL");
    match_person_t b =
        febrl("Muhammad", "Butt", "2017-03-16", "104 Nelson View", "Bradford", "BD5 1YL");
    a.sex = b.sex = "male";
    match_evidence_t ev;
    assert_int_not_equal(match_decide(&p, &a, &b, tf_none, NULL, &ev, NULL, 0),
                         MATCH_DECISION_LINK);
    assert_int_equal(ev.level[MATCH_FIELD_BIRTH], MATCH_BIRTH_WITHIN_MONTH);
}

static void test_blocking_keys_respect_max_and_hash_long_emails(void **state)
{
    (void)state;
    match_person_t p = person("Margaret", "Robinson", "1950-02-11", NULL, "M1 1AE");
    char keys[MAX_KEYS][MATCH_KEY_LEN];
    assert_int_equal(match_blocking_keys(&p, keys, 2), 2);
    assert_string_equal(keys[0], "dob:1950-02-11");
    assert_string_equal(keys[1], "pc:M1 1AE");
    assert_int_equal(match_blocking_keys(&p, keys, 0), 0);
    assert_int_equal(match_blocking_keys(NULL, keys, MAX_KEYS), 0);

    match_person_t e = {0};
    e.email = "a.very.long.local.part.for.a.council.mailbox@social-care.example.gov.uk";
    int n = match_blocking_keys(&e, keys, MAX_KEYS);
    assert_int_equal(n, 1);
    assert_int_equal(strncmp(keys[0], "em#", 3), 0);
    assert_int_equal(strlen(keys[0]), 3 + 16);
    match_person_t e2 = e;
    e2.email = "A.Very.Long.Local.Part.For.A.Council.Mailbox@Social-Care.Example.GOV.UK";
    char keys2[MAX_KEYS][MATCH_KEY_LEN];
    assert_int_equal(match_blocking_keys(&e2, keys2, MAX_KEYS), 1);
    assert_string_equal(keys[0], keys2[0]);
}

/* ------------------------------------------------------------------------------------------ */
/* EM                                                                                          */

/* Fixed-seed 64-bit LCG (Knuth's MMIX constants) so the synthetic sample is reproducible. */
static double lcg_uniform(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) * (1.0 / 9007199254740992.0);
}

static int draw_level(uint64_t *s, const double *dist, int nlevels)
{
    double r = lcg_uniform(s), acc = 0.0;
    for (int k = 1; k < nlevels; k++) {
        acc += dist[k];
        if (r < acc)
            return k;
    }
    return nlevels - 1;
}

/* Known generating parameters, deliberately unlike the defaults EM starts from. */
static void truth_params(match_params_t *t)
{
    static const double m[MATCH_FIELD_COUNT][MATCH_MAX_LEVELS] = {
        {0, 0.70, 0.02, 0.06, 0.08, 0.05, 0.04, 0.05},
        {0, 0.75, 0.10, 0.05, 0.03, 0.07},
        {0, 0.80, 0.05, 0.05, 0.04, 0.03, 0.03},
        {0, 0.95, 0.05},
        {0, 0.60, 0.15, 0.10, 0.15},
        {0, 0.50, 0.50},
        {0, 0.40, 0.60},
        {0, 0.50, 0.10, 0.10, 0.10, 0.10, 0.10},
        {0, 0.80, 0.10, 0.10},
    };
    static const double u[MATCH_FIELD_COUNT][MATCH_MAX_LEVELS] = {
        {0, 0.05, 0.01, 0.02, 0.04, 0.10, 0.08, 0.70},
        {0, 0.04, 0.03, 0.08, 0.05, 0.80},
        {0, 0.02, 0.01, 0.03, 0.06, 0.18, 0.70},
        {0, 0.50, 0.50},
        {0, 0.03, 0.07, 0.20, 0.70},
        {0, 0.02, 0.98},
        {0, 0.01, 0.99},
        {0, 0.02, 0.03, 0.05, 0.10, 0.20, 0.60},
        {0, 0.10, 0.10, 0.80},
    };
    match_params_default(t);
    memcpy(t->m, m, sizeof m);
    memcpy(t->u, u, sizeof u);
}

static match_vector_t *synthetic_sample(const match_params_t *t, size_t n, double lambda)
{
    match_vector_t *v = malloc(n * sizeof *v);
    assert_non_null(v);
    uint64_t seed = 20240607ULL;
    for (size_t i = 0; i < n; i++) {
        int is_match = lcg_uniform(&seed) < lambda;
        for (int f = 0; f < MATCH_FIELD_COUNT; f++) {
            if (lcg_uniform(&seed) < 0.1) { /* 10% missing, independent of class */
                v[i].level[f] = 0;
                continue;
            }
            const double *dist = is_match ? t->m[f] : t->u[f];
            v[i].level[f] = draw_level(&seed, dist, t->nlevels[f]);
        }
    }
    return v;
}

static void test_em_recovers_known_m_u_and_lambda_from_synthetic_sample(void **state)
{
    (void)state;
    const size_t n = 40000;
    const double lambda_true = 0.3;
    match_params_t truth, est;
    truth_params(&truth);
    match_vector_t *v = synthetic_sample(&truth, n, lambda_true);

    match_params_default(&est);
    double lambda = -1.0;
    int iters = match_train_em(&est, v, n, &lambda);
    free(v);

    assert_true(iters >= 1 && iters <= 100);
    assert_true(fabs(lambda - lambda_true) < 0.05);
    for (int f = 0; f < MATCH_FIELD_COUNT; f++) {
        for (int k = 1; k < truth.nlevels[f]; k++) {
            if (fabs(est.m[f][k] - truth.m[f][k]) >= 0.05 ||
                fabs(est.u[f][k] - truth.u[f][k]) >= 0.05)
                fail_msg("%s/%s: m %.3f (want %.3f) u %.3f (want %.3f)",
                         match_field_name((match_field_t)f), match_level_name((match_field_t)f, k),
                         est.m[f][k], truth.m[f][k], est.u[f][k], truth.u[f][k]);
        }
    }
}

static void test_em_keeps_unseen_levels_at_a_small_floor(void **state)
{
    (void)state;
    match_params_t p;
    match_params_default(&p);
    match_vector_t v[200];
    for (int i = 0; i < 200; i++) {
        for (int f = 0; f < MATCH_FIELD_COUNT; f++)
            v[i].level[f] = i % 4 == 0 ? 1 : p.nlevels[f] - 1; /* middle levels never occur */
    }
    assert_true(match_train_em(&p, v, 200, NULL) >= 1);
    for (int f = 0; f < MATCH_FIELD_COUNT; f++) {
        double sm = 0.0;
        for (int k = 1; k < p.nlevels[f]; k++) {
            assert_true(p.m[f][k] > 0.0 && p.u[f][k] > 0.0);
            sm += p.m[f][k];
        }
        assert_true(fabs(sm - 1.0) < 1e-9);
        if (p.nlevels[f] > 3)
            assert_true(p.m[f][2] < 1e-5);
    }
}

static void test_em_rejects_bad_input(void **state)
{
    (void)state;
    match_params_t p;
    match_params_default(&p);
    match_vector_t v = {{0}};
    assert_int_equal(match_train_em(&p, NULL, 1, NULL), -1);
    assert_int_equal(match_train_em(&p, &v, 0, NULL), -1);
    assert_int_equal(match_train_em(NULL, &v, 1, NULL), -1);
    v.level[MATCH_FIELD_SEX] = 3; /* sex has levels 0..2 */
    assert_int_equal(match_train_em(&p, &v, 1, NULL), -1);
}

static void nickname_index_agrees_with_groups(void **state)
{
    (void)state;
    assert_true(match_name_index_consistent());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nickname_index_agrees_with_groups),
        cmocka_unit_test(test_jaro_winkler_matches_published_values),
        cmocka_unit_test(test_jaro_winkler_is_case_insensitive_and_bounded),
        cmocka_unit_test(test_jaro_winkler_survives_overlong_input),
        cmocka_unit_test(test_jaro_winkler_is_the_same_either_side_of_64_characters),
        cmocka_unit_test(test_prepare_normalises_once_what_every_comparison_needs),
        cmocka_unit_test(test_prepared_and_raw_scoring_agree),
        cmocka_unit_test(test_name_levels_equal_the_full_comparison_for_every_pair),
        cmocka_unit_test(test_prepared_frequencies_are_asked_once_and_change_nothing),
        cmocka_unit_test(test_phonetic_equates_smith_and_smyth),
        cmocka_unit_test(test_phonetic_equates_catherine_and_kathryn),
        cmocka_unit_test(test_phonetic_keeps_thompson_apart_but_jaro_winkler_catches_it),
        cmocka_unit_test(test_phonetic_matches_published_double_metaphone_codes),
        cmocka_unit_test(test_phonetic_respects_small_buffers_and_empty_names),
        cmocka_unit_test(test_nicknames_cover_common_british_diminutives),
        cmocka_unit_test(test_nicknames_are_case_insensitive_and_reflexive),
        cmocka_unit_test(test_nicknames_do_not_chain_through_shared_diminutives),
        cmocka_unit_test(test_nicknames_reject_unrelated_and_empty_names),
        cmocka_unit_test(test_every_comparison_level_is_reachable),
        cmocka_unit_test(test_transposed_day_and_month_are_detected),
        cmocka_unit_test(test_birth_dates_within_a_month_across_a_year_end_are_close),
        cmocka_unit_test(test_unparseable_birth_dates_count_as_missing),
        cmocka_unit_test(test_opposite_sex_forms_of_a_forename_compare_as_different),
        cmocka_unit_test(test_phone_numbers_fold_uk_country_code_to_trunk_zero),
        cmocka_unit_test(test_level_and_field_names_are_stable_and_guard_ranges),
        cmocka_unit_test(test_default_params_are_distributions_with_signed_weights),
        cmocka_unit_test(test_score_of_pair_with_nothing_in_common_to_compare_is_zero),
        cmocka_unit_test(test_score_total_is_sum_of_log2_m_over_u),
        cmocka_unit_test(test_frozen_weights_score_to_the_bit_and_follow_a_refreeze),
        cmocka_unit_test(test_tenths_are_written_as_printf_writes_them),
        cmocka_unit_test(test_g17_is_written_as_printf_writes_it),
        cmocka_unit_test(test_bound_is_never_below_the_score_and_dismisses_neighbours),
        cmocka_unit_test(test_tf_adjustment_makes_common_surname_weigh_less_than_rare_one),
        cmocka_unit_test(test_tf_adjustment_applies_to_exact_names_only),
        cmocka_unit_test(test_nhs_number_validation_uses_modulus_11_and_rejects_placeholders),
        cmocka_unit_test(test_same_nhs_number_links_even_when_names_disagree),
        cmocka_unit_test(test_same_nhs_number_with_a_different_birth_date_goes_to_steward),
        cmocka_unit_test(test_different_nhs_numbers_are_two_people_whatever_the_score),
        cmocka_unit_test(test_invalid_nhs_number_is_ignored_not_trusted),
        cmocka_unit_test(test_same_ni_number_and_birth_date_link),
        cmocka_unit_test(test_same_shared_identifier_links_unless_the_record_disagrees),
        cmocka_unit_test(test_twins_with_same_surname_dob_postcode_are_not_linked_automatically),
        cmocka_unit_test(test_boy_girl_twins_with_similar_names_and_no_sex_are_not_linked),
        cmocka_unit_test(test_same_named_parent_and_child_sharing_contacts_are_not_linked),
        cmocka_unit_test(test_typo_surname_with_same_dob_postcode_and_given_links_by_default),
        cmocka_unit_test(test_nickname_and_transposed_dob_still_link_with_matching_address),
        cmocka_unit_test(test_person_who_moved_goes_to_steward_not_auto_link),
        cmocka_unit_test(test_diacritics_fold_to_their_base_letter),
        cmocka_unit_test(test_nicknames_include_jake_bella_and_lottie_but_not_charlie),
        cmocka_unit_test(test_forename_typo_nobody_has_links_but_a_twins_real_name_does_not),
        cmocka_unit_test(test_sex_recording_error_links_only_with_exact_unambiguous_forename),
        cmocka_unit_test(test_mover_within_the_area_links_but_a_namesake_elsewhere_does_not),
        cmocka_unit_test(test_missing_birth_date_links_only_with_same_address_and_same_mobile),
        cmocka_unit_test(test_contact_weights_are_calibrated_and_forenames_capped),
        cmocka_unit_test(test_strangers_sharing_only_a_birth_date_are_non_matches),
        cmocka_unit_test(test_blocking_keys_cover_identifiers_dates_places_and_names),
        cmocka_unit_test(test_blocking_keys_survive_one_typo_transposition_or_move),
        cmocka_unit_test(test_blocking_keys_respect_max_and_hash_long_emails),
        cmocka_unit_test(test_address_house_number_and_street_are_normalised),
        cmocka_unit_test(test_swapped_names_compare_crosswise),
        cmocka_unit_test(test_febrl_pair_without_birth_date_links_on_name_and_address),
        cmocka_unit_test(test_twins_and_parent_child_at_one_address_stay_apart),
        cmocka_unit_test(test_uk_postcode_leaves_address_nothing_to_count_twice),
        cmocka_unit_test(test_blocking_keys_find_a_duplicate_without_birth_date),
        cmocka_unit_test(test_locality_weighs_by_how_many_residents_share_it),
        cmocka_unit_test(test_birth_date_a_month_apart_stays_with_the_steward),
        cmocka_unit_test(test_em_recovers_known_m_u_and_lambda_from_synthetic_sample),
        cmocka_unit_test(test_em_keeps_unseen_levels_at_a_small_floor),
        cmocka_unit_test(test_em_rejects_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
