/* test_ident.c - cmocka tests of lib/match/ident.c, the NHS number, NI number, postcode and
 * calendar rules that the validators (strictly) and the matcher (leniently) share, and of the
 * exact ways the two dialects differ, through the public API of each (validate.h, match.h). The
 * differences are pinned on purpose: the matcher's outputs must not move when the validators'
 * rules are touched, and the other way round. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "match/ident.h"
#include "match/match.h"
#include "match/validate.h"

/* The matcher's view of one identifier field, through match_prepare. */
static match_prep_t prep_ids(const char *nhs, const char *ni, const char *postcode)
{
    match_person_t p = {0};
    match_prep_t o;
    p.nhs_number = nhs;
    p.ni_number = ni;
    p.postcode = postcode;
    match_prepare(&p, &o);
    return o;
}

/* NHS number ------------------------------------------------------------------------------- */

static void nhs_both_dialects_apply_the_modulus_11_check(void **state)
{
    (void)state;
    char d[11];
    ident_error_t e;
    assert_int_equal(ident_nhs("943 476 5919", 0, d, &e), 0);
    assert_string_equal(d, "9434765919");
    assert_int_equal(e.status, IDENT_OK);
    assert_int_equal(ident_nhs("9434765918", IDENT_NHS_LENIENT, d, &e), -1);
    assert_int_equal(e.status, IDENT_NHS_CHECK_DIGIT);
    assert_int_equal(ident_nhs("9434765960", 0, d, &e), -1);
    assert_int_equal(e.status, IDENT_NHS_CHECK_TEN);
    assert_int_equal(ident_nhs("943476591", IDENT_NHS_LENIENT, d, &e), -1);
    assert_int_equal(e.status, IDENT_NHS_DIGIT_COUNT);
    assert_int_equal(e.at, 9);
    assert_int_equal(ident_nhs(NULL, 0, d, &e), -1);
    assert_int_equal(e.status, IDENT_MISSING);
    assert_int_equal(ident_nhs("", IDENT_NHS_LENIENT, d, NULL), -1);
}

/* The validators take the display form only; the matcher forgives any blanks and hyphens. */
static void nhs_matcher_forgives_separators_the_validators_reject(void **state)
{
    (void)state;
    static const char *const forms[] = {"943-476-5919",  " 9434765919",  "9434765919 ",
                                        "943  476 5919", "9434 765 919", "94-34-76-59-19",
                                        "--9434765919"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        char out[11];
        assert_int_equal(match_nhs_number_valid(forms[i]), 1);
        assert_string_equal(prep_ids(forms[i], NULL, NULL).nhs, "9434765919");
        assert_int_equal(validate_nhs_number(forms[i], NULL, 0), -1);
        assert_int_equal(validate_nhs_number_normalise(forms[i], out), -1);
    }
    ident_error_t e;
    char d[11];
    assert_int_equal(ident_nhs("943-476-5919", 0, d, &e), -1);
    assert_int_equal(e.status, IDENT_BAD_CHAR);
    assert_int_equal(e.at, 4);
    assert_int_equal(ident_nhs(" 9434765919", 0, d, &e), -1);
    assert_int_equal(e.status, IDENT_SPACING);
    /* Neither forgives anything else. */
    assert_int_equal(match_nhs_number_valid("943.476.5919"), 0);
    assert_int_equal(match_nhs_number_valid("943\t476\t5919"), 0);
}

/* Every repeated digit passes the check (its check digit is itself): the validators accept them
 * as numbers, the matcher refuses them as placeholders. */
static void nhs_repeated_digits_are_numbers_to_the_validators_only(void **state)
{
    (void)state;
    for (char c = '0'; c <= '9'; c++) {
        char nhs[11], spaced[13];
        memset(nhs, c, 10);
        nhs[10] = '\0';
        snprintf(spaced, sizeof spaced, "%.3s %.3s %.4s", nhs, nhs, nhs);
        assert_int_equal(validate_nhs_number(nhs, NULL, 0), 0);
        assert_int_equal(validate_nhs_number(spaced, NULL, 0), 0);
        assert_int_equal(match_nhs_number_valid(nhs), 0);
        assert_int_equal(match_nhs_number_valid(spaced), 0);
        ident_error_t e;
        char d[11];
        assert_int_equal(ident_nhs(nhs, IDENT_NHS_NO_PLACEHOLDERS, d, &e), -1);
        assert_int_equal(e.status, IDENT_NHS_PLACEHOLDER);
    }
}

/* NI number -------------------------------------------------------------------------------- */

static void ni_matcher_forgives_spaces_the_validators_reject(void **state)
{
    (void)state;
    static const char *const forms[] = {" AB123456C",  "AB123456C ",     "A B123456C",
                                        "AB  123456C", "AB 12 34 56  C", "A B 1 2 3 4 5 6 C"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        match_prep_t o = prep_ids(NULL, forms[i], NULL);
        assert_string_equal(o.ni, "AB123456");
        assert_int_equal(o.ni_suffix, 'C');
        assert_int_equal(validate_ni_number(forms[i], NULL, 0), -1);
    }
    ident_ni_t ni;
    ident_error_t e;
    assert_int_equal(ident_ni("A B123456C", 0, &ni, &e), -1);
    assert_int_equal(e.status, IDENT_BAD_SPACE);
    assert_int_equal(e.at, 2);
    assert_int_equal(ident_ni("A B123456C", IDENT_NI_LENIENT, &ni, &e), 0);
    assert_string_equal(ni.c, "AB123456C");
}

/* Apart from spacing the dialects are one: every prefix is judged alike. */
static void ni_prefix_rules_are_the_same_in_both_dialects(void **state)
{
    (void)state;
    for (char a = 'A'; a <= 'Z'; a++) {
        for (char b = 'A'; b <= 'Z'; b++) {
            char ni[] = "??123456D", lower[] = "?? 12 34 56";
            ni[0] = a;
            ni[1] = b;
            lower[0] = (char)(a - 'A' + 'a');
            lower[1] = (char)(b - 'A' + 'a');
            int valid = validate_ni_number(ni, NULL, 0) == 0;
            assert_int_equal(prep_ids(NULL, ni, NULL).ni[0] != '\0', valid);
            assert_int_equal(validate_ni_number(lower, NULL, 0) == 0, valid);
            assert_int_equal(prep_ids(NULL, lower, NULL).ni[0] != '\0', valid);
        }
    }
    ident_ni_t ni;
    ident_error_t e;
    assert_int_equal(ident_ni("TN123456A", IDENT_NI_LENIENT, &ni, &e), -1);
    assert_int_equal(e.status, IDENT_NI_TEMPORARY);
    assert_int_equal(ident_ni("AB123456E", IDENT_NI_LENIENT, &ni, &e), -1);
    assert_int_equal(e.status, IDENT_NI_SUFFIX);
    assert_int_equal(e.c, 'E');
}

/* Postcode --------------------------------------------------------------------------------- */

static void postcode_valid_ones_read_alike_in_both_dialects(void **state)
{
    (void)state;
    static const char *const valid[] = {"M1 1AE",  "B33 8TH", "CR2 6XH",  "DN55 1PT", "W1A 0AX",
                                        "EC1A1BB", "gir0aa",  "ZZ99 3VZ", "sw1a 1aa"};
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        char out[9];
        assert_int_equal(validate_postcode_normalise(valid[i], out, sizeof out), 0);
        assert_string_equal(prep_ids(NULL, NULL, valid[i]).pc_full, out);
        ident_postcode_t pc;
        assert_int_equal(ident_postcode(valid[i], 0, &pc, NULL), 0);
        assert_true(pc.uk_shape);
    }
}

/* The matcher's UK postcode is a shape, not Royal Mail's rules: a letter first, 5-7 characters,
 * digit-letter-letter last. */
static void postcode_matcher_takes_the_shape_without_the_letter_rules(void **state)
{
    (void)state;
    static const char *const shaped[][2] = {
        {"Q1 1AA", "Q1 1AA"},     {"AI1 1AA", "AI1 1AA"},   {"W1L 0AX", "W1L 0AX"},
        {"EC1C 1BB", "EC1C 1BB"}, {"SW1A 1CI", "SW1A 1CI"}, {"A1AA 1AA", "A1AA 1AA"},
        {"ZZ98 3VZ", "ZZ98 3VZ"}, {"AB 1AA", "AB 1AA"},
    };
    for (size_t i = 0; i < sizeof shaped / sizeof shaped[0]; i++) {
        match_prep_t o = prep_ids(NULL, NULL, shaped[i][0]);
        assert_string_equal(o.pc_full, shaped[i][1]);
        assert_true(o.pc_area[0] != '\0');
        assert_int_equal(validate_postcode(shaped[i][0], NULL, 0), -1);
    }
}

/* White space of any kind and number separates for the matcher; the validators allow one space
 * before the inward code. */
static void postcode_matcher_forgives_white_space(void **state)
{
    (void)state;
    static const char *const forms[] = {"SW1A\t1AA", "SW1A\n1AA",  " SW1A 1AA",
                                        "SW1A  1AA", "SW1A 1AA\r", "S W 1 A 1 A A"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        assert_string_equal(prep_ids(NULL, NULL, forms[i]).pc_full, "SW1A 1AA");
        assert_int_equal(validate_postcode(forms[i], NULL, 0), -1);
    }
    assert_string_equal(prep_ids(NULL, NULL, "SW1A-1AA").pc_full, ""); /* not white space */
}

/* What is no UK postcode but letters and digits (up to 8) the matcher still compares exactly. */
static void postcode_matcher_keeps_other_values_for_exact_comparison(void **state)
{
    (void)state;
    match_prep_t o = prep_ids(NULL, NULL, "bfpo 1234");
    assert_string_equal(o.pc_full, "BFPO1234");
    assert_string_equal(o.pc_area, "");
    assert_int_equal(validate_postcode("BFPO 1234", NULL, 0), -1);
    assert_string_equal(prep_ids(NULL, NULL, "12345").pc_full, "12345");
    assert_string_equal(prep_ids(NULL, NULL, "ABCDEFGHI").pc_full, ""); /* 9: too long */
    ident_postcode_t pc;
    ident_error_t e;
    assert_int_equal(ident_postcode("x", IDENT_PC_LENIENT, &pc, &e), 0);
    assert_false(pc.uk_shape);
    assert_int_equal(ident_postcode(" \t", IDENT_PC_LENIENT, &pc, &e), -1);
    assert_int_equal(e.status, IDENT_TOO_SHORT);
}

/* Random strings over the characters that matter: wherever the validators accept a value, the
 * matcher reads the same value from it (bar the placeholder NHS numbers). */
static void strict_acceptance_implies_the_same_lenient_reading(void **state)
{
    (void)state;
    static const char alphabet[] = "0123456789ABDGINOQSTWZabz -\t";
    uint32_t x = 12345;
    char s[16];
    for (int round = 0; round < 200000; round++) {
        size_t len = 0, n;
        x = x * 1664525u + 1013904223u;
        n = 5 + (x >> 28) % 9;
        for (len = 0; len < n; len++) {
            x = x * 1664525u + 1013904223u;
            s[len] = alphabet[(x >> 16) % (sizeof alphabet - 1)];
        }
        s[len] = '\0';
        char strict[11], lenient[11];
        if (ident_nhs(s, 0, strict, NULL) == 0 &&
            ident_nhs(s, IDENT_NHS_LENIENT, lenient, NULL) == 0)
            assert_string_equal(strict, lenient);
        ident_ni_t a, b;
        if (ident_ni(s, 0, &a, NULL) == 0) {
            assert_int_equal(ident_ni(s, IDENT_NI_LENIENT, &b, NULL), 0);
            assert_string_equal(a.c, b.c);
        }
        char out[9];
        if (validate_postcode_normalise(s, out, sizeof out) == 0)
            assert_string_equal(prep_ids(NULL, NULL, s).pc_full, out);
    }
}

/* Dates ------------------------------------------------------------------------------------ */

static void date_fields_read_the_first_ten_characters_only(void **state)
{
    (void)state;
    int y, m, d;
    assert_int_equal(ident_date_fields("1984-03-07", &y, &m, &d), 1);
    assert_int_equal(y * 10000 + m * 100 + d, 19840307);
    assert_int_equal(ident_date_fields("1984-13-99T10:00", &y, &m, &d), 1);
    assert_int_equal(m, 13);
    assert_int_equal(ident_date_fields("1984-3-07", &y, &m, &d), 0);
    assert_int_equal(ident_date_fields("1984-03-0", &y, &m, &d), 0);
    assert_int_equal(ident_date_fields("", &y, &m, &d), 0);
    assert_int_equal(ident_days_in_month(2024, 2), 29);
    assert_int_equal(ident_days_in_month(1900, 2), 28);
    assert_int_equal(ident_days_in_month(2000, 2), 29);
    assert_int_equal(ident_days_in_month(2023, 4), 30);
}

/* The two date dialects: the matcher reads a time part and nothing before 1800; the validators
 * read exactly ten characters from year 0001. */
static void dates_differ_only_where_documented(void **state)
{
    (void)state;
    match_person_t p = {0};
    match_prep_t o;
    p.birth_date = "1984-03-07T10:00:00Z";
    match_prepare(&p, &o);
    assert_string_equal(o.birth, "1984-03-07");
    assert_int_equal(validate_date(p.birth_date, NULL, 0), -1);
    p.birth_date = "1799-12-31";
    match_prepare(&p, &o);
    assert_string_equal(o.birth, "");
    assert_int_equal(validate_date(p.birth_date, NULL, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nhs_both_dialects_apply_the_modulus_11_check),
        cmocka_unit_test(nhs_matcher_forgives_separators_the_validators_reject),
        cmocka_unit_test(nhs_repeated_digits_are_numbers_to_the_validators_only),
        cmocka_unit_test(ni_matcher_forgives_spaces_the_validators_reject),
        cmocka_unit_test(ni_prefix_rules_are_the_same_in_both_dialects),
        cmocka_unit_test(postcode_valid_ones_read_alike_in_both_dialects),
        cmocka_unit_test(postcode_matcher_takes_the_shape_without_the_letter_rules),
        cmocka_unit_test(postcode_matcher_forgives_white_space),
        cmocka_unit_test(postcode_matcher_keeps_other_values_for_exact_comparison),
        cmocka_unit_test(strict_acceptance_implies_the_same_lenient_reading),
        cmocka_unit_test(date_fields_read_the_first_ten_characters_only),
        cmocka_unit_test(dates_differ_only_where_documented),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
