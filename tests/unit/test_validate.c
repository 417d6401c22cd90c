/* test_validate.c - cmocka unit tests pinning the behaviour of the master-data validators in
 * lib/match/validate.c with real-world identifiers and the edge cases that bite in production
 * data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "match/validate.h"

typedef int (*validator_fn)(const char *, char *, size_t);

/* fail_msg names the input, so a failing table row is identifiable without a debugger. */
static void expect_valid(validator_fn fn, const char *input)
{
    char why[256] = "stale";
    if (fn(input, why, sizeof why) != 0) {
        fail_msg("expected \"%s\" to be valid, got: %s", input, why);
    }
    if (why[0] != '\0') {
        fail_msg("valid \"%s\" left a reason behind: %s", input, why);
    }
}

static void expect_invalid(validator_fn fn, const char *input, const char *needle)
{
    char why[256] = "";
    if (fn(input, why, sizeof why) != -1) {
        fail_msg("expected \"%s\" to be invalid", input ? input : "(null)");
    }
    if (why[0] == '\0') {
        fail_msg("invalid \"%s\" gave no reason", input ? input : "(null)");
    }
    if (needle != NULL && strstr(why, needle) == NULL) {
        fail_msg("reason for \"%s\" lacks \"%s\": %s", input ? input : "(null)", needle, why);
    }
}

/* NHS number ------------------------------------------------------------- */

static void nhs_number_accepts_real_numbers(void **state)
{
    (void)state;
    expect_valid(validate_nhs_number, "9434765919");
    expect_valid(validate_nhs_number, "9449305552");
    expect_valid(validate_nhs_number, "4010232137");
}

static void nhs_number_accepts_spaced_display_form(void **state)
{
    (void)state;
    expect_valid(validate_nhs_number, "943 476 5919");
}

static void nhs_number_accepts_check_eleven_as_zero(void **state)
{
    (void)state;
    /* 943476590 weighs to 297 = 27 * 11, so 11 - 0 = 11, which the scheme maps to check digit 0. */
    expect_valid(validate_nhs_number, "9434765900");
    expect_valid(validate_nhs_number, "4010232110");
}

static void nhs_number_rejects_bad_check_digit(void **state)
{
    (void)state;
    expect_invalid(validate_nhs_number, "9434765918", "modulus 11");
}

static void nhs_number_rejects_check_digit_ten(void **state)
{
    (void)state;
    /* 943476596 weighs to 309 and 309 % 11 = 1, so the check value is 10 for any last
     * digit. */
    for (char last = '0'; last <= '9'; last++) {
        char nhs[] = "943476596X";
        nhs[9] = last;
        expect_invalid(validate_nhs_number, nhs, "check value of 10");
    }
}

static void nhs_number_rejects_wrong_length(void **state)
{
    (void)state;
    expect_invalid(validate_nhs_number, "943476591", "has 9 digits");
    expect_invalid(validate_nhs_number, "94347659190", "has 11 digits");
}

static void nhs_number_rejects_letters(void **state)
{
    (void)state;
    expect_invalid(validate_nhs_number, "94347659A9", "'A' at position 9");
    expect_invalid(validate_nhs_number, "943-476-5919", "'-' at position 4");
}

static void nhs_number_rejects_empty_and_null(void **state)
{
    (void)state;
    expect_invalid(validate_nhs_number, "", "empty");
    expect_invalid(validate_nhs_number, NULL, "missing");
}

static void nhs_number_rejects_spacing_other_than_3_3_4(void **state)
{
    (void)state;
    expect_invalid(validate_nhs_number, "9434 765 919", "3-3-4");
    expect_invalid(validate_nhs_number, " 9434765919", "3-3-4");
    expect_invalid(validate_nhs_number, "943  476 5919", "3-3-4");
}

static void nhs_number_normalise_strips_spaces(void **state)
{
    (void)state;
    char out[11];
    assert_int_equal(validate_nhs_number_normalise("943 476 5919", out), 0);
    assert_string_equal(out, "9434765919");
    assert_int_equal(validate_nhs_number_normalise("4010232137", out), 0);
    assert_string_equal(out, "4010232137");
}

static void nhs_number_normalise_rejects_invalid_with_empty_output(void **state)
{
    (void)state;
    char out[11] = "junk";
    assert_int_equal(validate_nhs_number_normalise("9434765918", out), -1);
    assert_string_equal(out, "");
    assert_int_equal(validate_nhs_number_normalise(NULL, out), -1);
    assert_int_equal(validate_nhs_number_normalise("9434765919", NULL), -1);
}

static void nhs_number_reason_never_quotes_the_number(void **state)
{
    (void)state;
    char why[256];
    assert_int_equal(validate_nhs_number("9434765918", why, sizeof why), -1);
    assert_null(strstr(why, "9434765918"));
    assert_null(strstr(why, "943476591"));
}

/* Reason buffer ---------------------------------------------------------- */

static void reason_buffer_may_be_null(void **state)
{
    (void)state;
    assert_int_equal(validate_nhs_number("9434765918", NULL, 0), -1);
    assert_int_equal(validate_nhs_number("9434765918", NULL, 64), -1);
    assert_int_equal(validate_postcode("Q1 1AA", NULL, 0), -1);
    assert_int_equal(validate_nhs_number("9434765919", NULL, 0), 0);
}

static void reason_is_truncated_and_nul_terminated(void **state)
{
    (void)state;
    char why[8];
    memset(why, 'x', sizeof why);
    assert_int_equal(validate_ni_number("TN123456A", why, sizeof why), -1);
    assert_int_equal(strlen(why), sizeof why - 1);

    char one[1] = {'x'};
    assert_int_equal(validate_uprn("0", one, sizeof one), -1);
    assert_int_equal(one[0], '\0');
}

static void reason_length_zero_leaves_buffer_untouched(void **state)
{
    (void)state;
    char why[4] = "abc";
    assert_int_equal(validate_uprn("-1", why, 0), -1);
    assert_string_equal(why, "abc");
}

/* NI number -------------------------------------------------------------- */

static void ni_number_accepts_compact_form(void **state)
{
    (void)state;
    expect_valid(validate_ni_number, "AB123456C");
}

static void ni_number_accepts_spaced_form(void **state)
{
    (void)state;
    expect_valid(validate_ni_number, "JG 10 37 23 A");
    expect_valid(validate_ni_number, "AB 123456 C");
}

static void ni_number_is_case_insensitive(void **state)
{
    (void)state;
    expect_valid(validate_ni_number, "jg 10 37 23 a");
    expect_valid(validate_ni_number, "aB123456d");
}

static void ni_number_accepts_absent_or_space_suffix(void **state)
{
    (void)state;
    expect_valid(validate_ni_number, "AB123456");
    expect_valid(validate_ni_number, "AB123456 ");
    expect_valid(validate_ni_number, "AB 12 34 56");
}

static void ni_number_rejects_suffix_outside_a_to_d(void **state)
{
    (void)state;
    expect_invalid(validate_ni_number, "AB123456E", "suffix 'E'");
    expect_invalid(validate_ni_number, "AB1234567", "suffix '7'");
}

static void ni_number_rejects_forbidden_first_letters(void **state)
{
    (void)state;
    const char *letters = "DFIQUV";
    for (const char *l = letters; *l != '\0'; l++) {
        char ni[] = "?A123456C";
        char needle[] = "first letter '?'";
        ni[0] = *l;
        needle[14] = *l;
        expect_invalid(validate_ni_number, ni, needle);
    }
}

static void ni_number_rejects_forbidden_second_letters(void **state)
{
    (void)state;
    const char *letters = "DFIQUVO";
    for (const char *l = letters; *l != '\0'; l++) {
        char ni[] = "A?123456C";
        char needle[] = "second letter '?'";
        ni[1] = *l;
        needle[15] = *l;
        expect_invalid(validate_ni_number, ni, needle);
    }
}

static void ni_number_rejects_qq_example_because_q_is_never_first(void **state)
{
    (void)state;
    expect_invalid(validate_ni_number, "QQ 12 34 56 C", "first letter 'Q'");
}

static void ni_number_rejects_never_issued_prefixes(void **state)
{
    (void)state;
    static const char *const prefixes[] = {"BG", "GB", "KN", "NK", "NT", "ZZ"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        char ni[] = "??123456C";
        char needle[] = "prefix ?? has never been issued";
        memcpy(ni, prefixes[i], 2);
        memcpy(needle + 7, prefixes[i], 2);
        expect_invalid(validate_ni_number, ni, needle);
    }
}

static void ni_number_rejects_never_issued_prefix_in_lower_case(void **state)
{
    (void)state;
    expect_invalid(validate_ni_number, "gb 12 34 56 a", "prefix GB");
}

static void ni_number_rejects_tn_temporary_reference(void **state)
{
    (void)state;
    expect_invalid(validate_ni_number, "TN 01 01 80 M", "prefix TN");
    expect_invalid(validate_ni_number, "TN123456A", "temporary reference");
}

static void ni_number_rejects_wrong_shape(void **state)
{
    (void)state;
    expect_invalid(validate_ni_number, "A1234567C", "two letters");
    expect_invalid(validate_ni_number, "AB12345XC", "six digits");
    expect_invalid(validate_ni_number, "AB12345", "too short");
    expect_invalid(validate_ni_number, "AB1234567C", "too long");
    expect_invalid(validate_ni_number, "", "empty");
    expect_invalid(validate_ni_number, NULL, "missing");
}

static void ni_number_rejects_misplaced_spaces(void **state)
{
    (void)state;
    expect_invalid(validate_ni_number, " AB123456C", "misplaced space");
    expect_invalid(validate_ni_number, "A B123456C", "misplaced space");
    expect_invalid(validate_ni_number, "AB  123456C", "misplaced space");
}

/* Postcode --------------------------------------------------------------- */

static void postcode_accepts_each_format(void **state)
{
    (void)state;
    expect_valid(validate_postcode, "M1 1AE");   /* A9 9AA */
    expect_valid(validate_postcode, "B33 8TH");  /* A99 9AA */
    expect_valid(validate_postcode, "CR2 6XH");  /* AA9 9AA */
    expect_valid(validate_postcode, "DN55 1PT"); /* AA99 9AA */
    expect_valid(validate_postcode, "W1A 0AX");  /* A9A 9AA */
    expect_valid(validate_postcode, "EC1A 1BB"); /* AA9A 9AA */
}

static void postcode_accepts_girobank_special_case(void **state)
{
    (void)state;
    expect_valid(validate_postcode, "GIR 0AA");
    expect_valid(validate_postcode, "gir0aa");
}

static void postcode_accepts_nhs_pseudo_postcodes(void **state)
{
    (void)state;
    expect_valid(validate_postcode, "ZZ99 3VZ");
    expect_valid(validate_postcode, "ZZ99 3CZ");
}

static void postcode_accepts_missing_space_and_lower_case(void **state)
{
    (void)state;
    expect_valid(validate_postcode, "SW1A1AA");
    expect_valid(validate_postcode, "sw1a 1aa");
}

static void postcode_rejects_forbidden_first_position_letters(void **state)
{
    (void)state;
    expect_invalid(validate_postcode, "Q1 1AA", "'Q' cannot be in the first position");
    expect_invalid(validate_postcode, "V1 1AA", "'V' cannot be in the first position");
    expect_invalid(validate_postcode, "X11 1AA", "'X' cannot be in the first position");
}

static void postcode_rejects_forbidden_second_position_letters(void **state)
{
    (void)state;
    expect_invalid(validate_postcode, "AI1 1AA", "'I' cannot be in the second position");
    expect_invalid(validate_postcode, "AJ11 1AA", "'J' cannot be in the second position");
    expect_invalid(validate_postcode, "AZ1A 1AA", "'Z' cannot be in the second position");
}

static void postcode_rejects_third_position_letters_outside_a9a_set(void **state)
{
    (void)state;
    const char *letters = "ILMNOQRVXYZ";
    for (const char *l = letters; *l != '\0'; l++) {
        char pc[] = "W1? 0AX";
        char needle[] = "'?' cannot be in the third position";
        pc[2] = *l;
        needle[1] = *l;
        expect_invalid(validate_postcode, pc, needle);
    }
    expect_valid(validate_postcode, "E1W 1AA");
}

static void postcode_rejects_fourth_position_letters_outside_aa9a_set(void **state)
{
    (void)state;
    const char *letters = "CDFGIJKLOQSTUZ";
    for (const char *l = letters; *l != '\0'; l++) {
        char pc[] = "EC1? 1BB";
        char needle[] = "'?' cannot be in the fourth position";
        pc[3] = *l;
        needle[1] = *l;
        expect_invalid(validate_postcode, pc, needle);
    }
    expect_valid(validate_postcode, "SW1Y 5AG");
}

static void postcode_rejects_forbidden_inward_letters(void **state)
{
    (void)state;
    const char *letters = "CIKMOV";
    for (const char *l = letters; *l != '\0'; l++) {
        char first[] = "SW1A 1?A";
        char second[] = "SW1A 1A?";
        char needle[] = "inward code letter '?'";
        first[6] = *l;
        second[7] = *l;
        needle[20] = *l;
        expect_invalid(validate_postcode, first, needle);
        expect_invalid(validate_postcode, second, needle);
    }
}

static void postcode_rejects_bad_inward_shape(void **state)
{
    (void)state;
    expect_invalid(validate_postcode, "SW1A AAA", "digit followed by two letters");
    expect_invalid(validate_postcode, "SW1A 11A", "digit followed by two letters");
    expect_invalid(validate_postcode, "SW1A 1A1", "digit followed by two letters");
}

static void postcode_rejects_unknown_outward_shapes(void **state)
{
    (void)state;
    expect_invalid(validate_postcode, "1A 1AA", "shape 9A");
    expect_invalid(validate_postcode, "ABC 1AA", "shape AAA");
    expect_invalid(validate_postcode, "A1AA 1AA", "shape A9AA");
}

static void postcode_rejects_bad_length_characters_and_spacing(void **state)
{
    (void)state;
    expect_invalid(validate_postcode, "SW1A1 1AA", "too long");
    expect_invalid(validate_postcode, "M1 1A", "too short");
    expect_invalid(validate_postcode, "SW1A-1AA", "'-' at position 5");
    expect_invalid(validate_postcode, "SW 1A1AA", "spacing");
    expect_invalid(validate_postcode, "SW1A  1AA", "spacing");
    expect_invalid(validate_postcode, "SW1A 1AA ", "spacing");
    expect_invalid(validate_postcode, "", "empty");
    expect_invalid(validate_postcode, NULL, "missing");
}

static void postcode_pseudo_exception_is_only_zz99(void **state)
{
    (void)state;
    expect_invalid(validate_postcode, "ZZ98 3VZ", "'Z' cannot be in the second position");
    expect_invalid(validate_postcode, "ZZ99 AVZ", "'Z' cannot be in the second position");
}

static void postcode_normalise_upper_cases_and_inserts_space(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"sw1a1aa", "SW1A 1AA"}, {"m11ae", "M1 1AE"},     {"ec1a 1bb", "EC1A 1BB"},
        {"W1A0AX", "W1A 0AX"},   {"gir0aa", "GIR 0AA"},   {"zz993vz", "ZZ99 3VZ"},
        {"B33 8TH", "B33 8TH"},  {"dN551pT", "DN55 1PT"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[9];
        assert_int_equal(validate_postcode_normalise(cases[i][0], out, sizeof out), 0);
        assert_string_equal(out, cases[i][1]);
    }
}

static void postcode_normalise_rejects_invalid_and_small_buffers(void **state)
{
    (void)state;
    char out[9] = "junk";
    assert_int_equal(validate_postcode_normalise("Q1 1AA", out, sizeof out), -1);
    assert_string_equal(out, "");
    assert_int_equal(validate_postcode_normalise(NULL, out, sizeof out), -1);

    char small[8] = "junk";
    assert_int_equal(validate_postcode_normalise("SW1A1AA", small, sizeof small), -1);
    assert_string_equal(small, "");
    assert_int_equal(validate_postcode_normalise("M11AE", small, 7), 0);
    assert_string_equal(small, "M1 1AE");
    assert_int_equal(validate_postcode_normalise("M11AE", NULL, 9), -1);
}

static void postcode_is_pseudo_recognises_only_normalised_zz99(void **state)
{
    (void)state;
    assert_int_equal(validate_postcode_is_pseudo("ZZ99 3VZ"), 1);
    assert_int_equal(validate_postcode_is_pseudo("ZZ99 3CZ"), 1);
    assert_int_equal(validate_postcode_is_pseudo("SW1A 1AA"), 0);
    assert_int_equal(validate_postcode_is_pseudo("GIR 0AA"), 0);
    assert_int_equal(validate_postcode_is_pseudo("zz99 3vz"), 0);
    assert_int_equal(validate_postcode_is_pseudo("ZZ993VZ"), 0);
    assert_int_equal(validate_postcode_is_pseudo(NULL), 0);
}

/* UPRN ------------------------------------------------------------------- */

static void uprn_accepts_one_to_twelve_digits(void **state)
{
    (void)state;
    expect_valid(validate_uprn, "1");
    expect_valid(validate_uprn, "100023336956");
    expect_valid(validate_uprn, "999999999999");
}

static void uprn_accepts_zero_padded_value(void **state)
{
    (void)state;
    expect_valid(validate_uprn, "000000000001");
}

static void uprn_rejects_thirteen_digits(void **state)
{
    (void)state;
    expect_invalid(validate_uprn, "1000233369561", "longer than 12 digits");
}

static void uprn_rejects_zero(void **state)
{
    (void)state;
    expect_invalid(validate_uprn, "0", "zero");
    expect_invalid(validate_uprn, "000000000000", "zero");
}

static void uprn_rejects_sign_spaces_and_letters(void **state)
{
    (void)state;
    expect_invalid(validate_uprn, "-1", "'-' at position 1");
    expect_invalid(validate_uprn, "+1", "'+' at position 1");
    expect_invalid(validate_uprn, " 1", "' ' at position 1");
    expect_invalid(validate_uprn, "1 ", "' ' at position 2");
    expect_invalid(validate_uprn, "10002333695A", "'A' at position 12");
    expect_invalid(validate_uprn, "", "empty");
    expect_invalid(validate_uprn, NULL, "missing");
}

/* Dates ------------------------------------------------------------------ */

static void date_accepts_feb_29_in_leap_years(void **state)
{
    (void)state;
    expect_valid(validate_date, "2024-02-29");
    expect_valid(validate_date, "2000-02-29");
}

static void date_rejects_feb_29_in_non_leap_years(void **state)
{
    (void)state;
    expect_invalid(validate_date, "2023-02-29", "2023 is not a leap year");
    expect_invalid(validate_date, "1900-02-29", "1900 is not a leap year");
}

static void date_rejects_month_13_and_month_0(void **state)
{
    (void)state;
    expect_invalid(validate_date, "2024-13-01", "month 13");
    expect_invalid(validate_date, "2024-00-10", "month 00");
}

static void date_rejects_days_outside_the_month(void **state)
{
    (void)state;
    expect_invalid(validate_date, "2024-04-31", "April 2024 has days 01 to 30");
    expect_invalid(validate_date, "2024-01-00", "day 00");
    expect_invalid(validate_date, "2024-02-30", "February 2024 has days 01 to 29");
    expect_valid(validate_date, "2023-12-31");
}

static void date_rejects_other_layouts(void **state)
{
    (void)state;
    expect_invalid(validate_date, "2024/01/01", "YYYY-MM-DD");
    expect_invalid(validate_date, "2024-1-1", "YYYY-MM-DD");
    expect_invalid(validate_date, "24-01-01", "YYYY-MM-DD");
    expect_invalid(validate_date, "2024-01-011", "YYYY-MM-DD");
    expect_invalid(validate_date, "01/02/2024", "YYYY-MM-DD");
    expect_invalid(validate_date, "", "YYYY-MM-DD");
    expect_invalid(validate_date, NULL, "missing");
    expect_invalid(validate_date, "0000-01-01", "year 0000");
}

static void birth_death_accepts_plausible_pairs(void **state)
{
    (void)state;
    char why[256];
    assert_int_equal(
        validate_birth_death("1950-03-14", "2020-11-02", "2024-06-01", why, sizeof why), 0);
    assert_int_equal(
        validate_birth_death("2024-06-01", "2024-06-01", "2024-06-01", why, sizeof why), 0);
    assert_int_equal(validate_birth_death("1880-01-01", NULL, "2024-06-01", why, sizeof why), 0);
    assert_int_equal(validate_birth_death(NULL, "2001-01-01", "2024-06-01", why, sizeof why), 0);
    assert_int_equal(validate_birth_death(NULL, NULL, "2024-06-01", why, sizeof why), 0);
}

static void birth_death_rejects_future_birth(void **state)
{
    (void)state;
    char why[256];
    assert_int_equal(validate_birth_death("2024-06-02", NULL, "2024-06-01", why, sizeof why), -1);
    assert_non_null(strstr(why, "birth date is in the future"));
}

static void birth_death_rejects_birth_before_1880(void **state)
{
    (void)state;
    char why[256];
    assert_int_equal(validate_birth_death("1879-12-31", NULL, "2024-06-01", why, sizeof why), -1);
    assert_non_null(strstr(why, "1880-01-01"));
}

static void birth_death_rejects_death_before_birth(void **state)
{
    (void)state;
    char why[256];
    assert_int_equal(
        validate_birth_death("1950-03-14", "1950-03-13", "2024-06-01", why, sizeof why), -1);
    assert_non_null(strstr(why, "death date is before the birth date"));
}

static void birth_death_rejects_future_death(void **state)
{
    (void)state;
    char why[256];
    assert_int_equal(validate_birth_death(NULL, "2025-01-01", "2024-06-01", why, sizeof why), -1);
    assert_non_null(strstr(why, "death date is in the future"));
}

static void birth_death_names_which_date_is_malformed(void **state)
{
    (void)state;
    char why[256];
    assert_int_equal(validate_birth_death("2023-02-29", NULL, "2024-06-01", why, sizeof why), -1);
    assert_non_null(strstr(why, "birth date"));
    assert_int_equal(validate_birth_death(NULL, "2024-13-01", "2024-06-01", why, sizeof why), -1);
    assert_non_null(strstr(why, "death date"));
    assert_int_equal(validate_birth_death(NULL, NULL, "today", why, sizeof why), -1);
    assert_non_null(strstr(why, "today's date"));
    assert_int_equal(validate_birth_death(NULL, NULL, NULL, why, sizeof why), -1);
    assert_non_null(strstr(why, "today's date is missing"));
}

/* The one UTF-8 rule (validate_utf8_char): what PostgreSQL's text would refuse is refused
 * here, so a value that passes can never fail a commit. */
static void utf8_char_follows_rfc3629(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        size_t len, want;
    } cases[] = {
        {"a", 1, 1},
        {"\xc3\xa9", 2, 2},         /* e acute */
        {"\xe2\x82\xac", 3, 3},     /* euro sign */
        {"\xf0\x9f\x98\x80", 4, 4}, /* emoji, U+1F600 */
        {"\xc0\x80", 2, 0},         /* overlong NUL */
        {"\xc1\xbf", 2, 0},         /* overlong */
        {"\xe0\x80\x80", 3, 0},     /* overlong */
        {"\xed\xa0\x80", 3, 0},     /* a surrogate, U+D800 */
        {"\xf4\x90\x80\x80", 4, 0}, /* above U+10FFFF */
        {"\xf5\x80\x80\x80", 4, 0}, /* no such lead byte */
        {"\xff", 1, 0},
        {"\x80", 1, 0},         /* a continuation byte alone */
        {"\xe2\x82", 2, 0},     /* cut short by LEFT */
        {"\xe2\x82\x00", 4, 0}, /* cut short by a NUL */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(validate_utf8_char((const unsigned char *)cases[i].bytes, cases[i].len),
                         cases[i].want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nhs_number_accepts_real_numbers),
        cmocka_unit_test(nhs_number_accepts_spaced_display_form),
        cmocka_unit_test(nhs_number_accepts_check_eleven_as_zero),
        cmocka_unit_test(nhs_number_rejects_bad_check_digit),
        cmocka_unit_test(nhs_number_rejects_check_digit_ten),
        cmocka_unit_test(nhs_number_rejects_wrong_length),
        cmocka_unit_test(nhs_number_rejects_letters),
        cmocka_unit_test(nhs_number_rejects_empty_and_null),
        cmocka_unit_test(nhs_number_rejects_spacing_other_than_3_3_4),
        cmocka_unit_test(nhs_number_normalise_strips_spaces),
        cmocka_unit_test(nhs_number_normalise_rejects_invalid_with_empty_output),
        cmocka_unit_test(nhs_number_reason_never_quotes_the_number),
        cmocka_unit_test(reason_buffer_may_be_null),
        cmocka_unit_test(reason_is_truncated_and_nul_terminated),
        cmocka_unit_test(reason_length_zero_leaves_buffer_untouched),
        cmocka_unit_test(ni_number_accepts_compact_form),
        cmocka_unit_test(ni_number_accepts_spaced_form),
        cmocka_unit_test(ni_number_is_case_insensitive),
        cmocka_unit_test(ni_number_accepts_absent_or_space_suffix),
        cmocka_unit_test(ni_number_rejects_suffix_outside_a_to_d),
        cmocka_unit_test(ni_number_rejects_forbidden_first_letters),
        cmocka_unit_test(ni_number_rejects_forbidden_second_letters),
        cmocka_unit_test(ni_number_rejects_qq_example_because_q_is_never_first),
        cmocka_unit_test(ni_number_rejects_never_issued_prefixes),
        cmocka_unit_test(ni_number_rejects_never_issued_prefix_in_lower_case),
        cmocka_unit_test(ni_number_rejects_tn_temporary_reference),
        cmocka_unit_test(ni_number_rejects_wrong_shape),
        cmocka_unit_test(ni_number_rejects_misplaced_spaces),
        cmocka_unit_test(postcode_accepts_each_format),
        cmocka_unit_test(postcode_accepts_girobank_special_case),
        cmocka_unit_test(postcode_accepts_nhs_pseudo_postcodes),
        cmocka_unit_test(postcode_accepts_missing_space_and_lower_case),
        cmocka_unit_test(postcode_rejects_forbidden_first_position_letters),
        cmocka_unit_test(postcode_rejects_forbidden_second_position_letters),
        cmocka_unit_test(postcode_rejects_third_position_letters_outside_a9a_set),
        cmocka_unit_test(postcode_rejects_fourth_position_letters_outside_aa9a_set),
        cmocka_unit_test(postcode_rejects_forbidden_inward_letters),
        cmocka_unit_test(postcode_rejects_bad_inward_shape),
        cmocka_unit_test(postcode_rejects_unknown_outward_shapes),
        cmocka_unit_test(postcode_rejects_bad_length_characters_and_spacing),
        cmocka_unit_test(postcode_pseudo_exception_is_only_zz99),
        cmocka_unit_test(postcode_normalise_upper_cases_and_inserts_space),
        cmocka_unit_test(postcode_normalise_rejects_invalid_and_small_buffers),
        cmocka_unit_test(postcode_is_pseudo_recognises_only_normalised_zz99),
        cmocka_unit_test(uprn_accepts_one_to_twelve_digits),
        cmocka_unit_test(uprn_accepts_zero_padded_value),
        cmocka_unit_test(uprn_rejects_thirteen_digits),
        cmocka_unit_test(uprn_rejects_zero),
        cmocka_unit_test(uprn_rejects_sign_spaces_and_letters),
        cmocka_unit_test(date_accepts_feb_29_in_leap_years),
        cmocka_unit_test(date_rejects_feb_29_in_non_leap_years),
        cmocka_unit_test(date_rejects_month_13_and_month_0),
        cmocka_unit_test(date_rejects_days_outside_the_month),
        cmocka_unit_test(date_rejects_other_layouts),
        cmocka_unit_test(birth_death_accepts_plausible_pairs),
        cmocka_unit_test(birth_death_rejects_future_birth),
        cmocka_unit_test(birth_death_rejects_birth_before_1880),
        cmocka_unit_test(birth_death_rejects_death_before_birth),
        cmocka_unit_test(birth_death_rejects_future_death),
        cmocka_unit_test(birth_death_names_which_date_is_malformed),
        cmocka_unit_test(utf8_char_follows_rfc3629),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
