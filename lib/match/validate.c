/* validate.c - identifier and field validators for master data: NHS number, NI number, UK
 * postcode, UPRN and ISO dates. See validate.h for the contract. */
#include "match/validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#if defined(__GNUC__)
#define VALIDATE_PRINTF(fmt_index, args_index)                                                     \
    __attribute__((format(printf, fmt_index, args_index)))
#else
#define VALIDATE_PRINTF(fmt_index, args_index)
#endif

#define NHS_DIGITS 10
#define NHS_SPACED_LEN 12
#define NI_MAX_CHARS 9
#define POSTCODE_MAX_CHARS 7
#define POSTCODE_MIN_CHARS 5
#define POSTCODE_INWARD_CHARS 3
#define UPRN_MAX_DIGITS 12
#define ISO_DATE_LEN 10
#define EARLIEST_BIRTH 18800101L

/* Reason reporting ------------------------------------------------------- */

static int fail(char *why, size_t why_len, const char *fmt, ...) VALIDATE_PRINTF(3, 4);

static int fail(char *why, size_t why_len, const char *fmt, ...)
{
    if (why != NULL && why_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        (void)vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Clearing on success stops a caller that reuses one buffer from showing a stale reason. */
static int pass(char *why, size_t why_len)
{
    if (why != NULL && why_len > 0) {
        why[0] = '\0';
    }
    return 0;
}

/* Character classes ------------------------------------------------------ */

/* Own ASCII tests rather than <ctype.h>: identifiers are ASCII whatever the process locale is, and
 * ctype's undefined behaviour on negative chars is an easy trap with UTF-8 input. */
static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

static char to_upper(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

/* strchr alone would report '\0' as a member of every set. */
static int in_set(char c, const char *set)
{
    return c != '\0' && strchr(set, c) != NULL;
}

/* Control bytes and non-ASCII would garble a reason shown to a person, so they are shown as hex. */
static const char *char_text(char c, char buf[12])
{
    unsigned int byte = (unsigned char)c;
    if (byte >= 0x20 && byte < 0x7f) {
        (void)snprintf(buf, 12, "'%c'", c);
    } else {
        (void)snprintf(buf, 12, "byte 0x%02X", byte);
    }
    return buf;
}

/* NHS number ------------------------------------------------------------- */

static int nhs_spacing_ok(const char *s, size_t len)
{
    if (len == NHS_DIGITS) {
        return 1;
    }
    return len == NHS_SPACED_LEN && s[3] == ' ' && s[7] == ' ';
}

/* Copies the digits of `s` into `digits`, enforcing either the bare or the 3-3-4 spaced form. */
static int nhs_digits(const char *s, char digits[NHS_DIGITS], char *why, size_t why_len)
{
    size_t count = 0;
    size_t i;
    char buf[12];

    if (s == NULL) {
        return fail(why, why_len, "NHS number is missing; expected 10 digits such as 943 476 5919");
    }
    if (s[0] == '\0') {
        return fail(why, why_len, "NHS number is empty; expected 10 digits such as 943 476 5919");
    }
    for (i = 0; s[i] != '\0'; i++) {
        if (is_digit(s[i])) {
            if (count < NHS_DIGITS) {
                digits[count] = s[i];
            }
            count++;
        } else if (s[i] != ' ') {
            return fail(why, why_len,
                        "NHS number contains %s at position %zu; only digits are allowed, "
                        "optionally spaced 3-3-4 as in 943 476 5919",
                        char_text(s[i], buf), i + 1);
        }
    }
    if (count != NHS_DIGITS) {
        return fail(why, why_len,
                    "NHS number has %zu digits; it must have exactly 10, e.g. 9434765919", count);
    }
    if (!nhs_spacing_ok(s, i)) {
        return fail(why, why_len,
                    "NHS number spacing is not 3-3-4; write it as 9434765919 or 943 476 5919");
    }
    return 0;
}

/* Returns the modulus 11 check value (0..10) of the first nine digits; 10 is never issued. */
static int nhs_check_value(const char digits[NHS_DIGITS])
{
    int sum = 0;
    int i;
    for (i = 0; i < NHS_DIGITS - 1; i++) {
        sum += (digits[i] - '0') * (NHS_DIGITS - i);
    }
    int check = 11 - (sum % 11);
    return check == 11 ? 0 : check;
}

static int nhs_check(const char *s, char digits[NHS_DIGITS], char *why, size_t why_len)
{
    if (nhs_digits(s, digits, why, why_len) != 0) {
        return -1;
    }
    int check = nhs_check_value(digits);
    /* The expected digit is deliberately not quoted: a wrong check digit usually means a typo
     * elsewhere, and quoting it invites "fixing" the last digit into someone else's number. */
    if (check == 10) {
        return fail(why, why_len,
                    "NHS number fails the modulus 11 check: the first nine digits give a check "
                    "value of 10, which is never issued, so the number is mistyped");
    }
    if (check != digits[NHS_DIGITS - 1] - '0') {
        return fail(why, why_len,
                    "NHS number fails the modulus 11 check: the last digit does not match the "
                    "check digit computed from the first nine, so the number is mistyped");
    }
    return 0;
}

int validate_nhs_number(const char *s, char *why, size_t why_len)
{
    char digits[NHS_DIGITS];
    if (nhs_check(s, digits, why, why_len) != 0) {
        return -1;
    }
    return pass(why, why_len);
}

int validate_nhs_number_normalise(const char *s, char out[11])
{
    char digits[NHS_DIGITS];
    if (out == NULL) {
        return -1;
    }
    out[0] = '\0';
    if (nhs_check(s, digits, NULL, 0) != 0) {
        return -1;
    }
    memcpy(out, digits, NHS_DIGITS);
    out[NHS_DIGITS] = '\0';
    return 0;
}

/* NI number -------------------------------------------------------------- */

/* Spaces may only separate the groups AB|12|34|56|C, one at a time; anywhere else they more
 * likely mark a damaged value than formatting. */
static int ni_space_allowed(const char *s, size_t i, size_t kept)
{
    int at_boundary = kept == 2 || kept == 4 || kept == 6 || kept == 8;
    return at_boundary && s[i - 1] != ' ';
}

/* Upper-cases `s` into `c` without spaces; `*n` receives the number of characters kept. */
static int ni_compact(const char *s, char c[NI_MAX_CHARS + 1], size_t *n, char *why, size_t why_len)
{
    size_t kept = 0;
    size_t i;
    for (i = 0; s[i] != '\0'; i++) {
        if (s[i] == ' ') {
            if (!ni_space_allowed(s, i, kept)) {
                return fail(why, why_len,
                            "NI number has a misplaced space at position %zu; spaces may only "
                            "separate the groups, as in AB 12 34 56 C",
                            i + 1);
            }
            continue;
        }
        if (kept == NI_MAX_CHARS) {
            return fail(why, why_len,
                        "NI number is too long; expected 2 letters, 6 digits and an optional "
                        "suffix A-D, e.g. AB 12 34 56 C");
        }
        c[kept++] = to_upper(s[i]);
    }
    c[kept] = '\0';
    *n = kept;
    return 0;
}

/* Length and the two prefix letters come first so that the prefix rules can run before the body:
 * a temporary reference such as "TN 01 01 80 M" should be reported as TN, not as a bad suffix. */
static int ni_check_head(const char *c, size_t n, char *why, size_t why_len)
{
    size_t i;
    char buf[12];
    if (n < NI_MAX_CHARS - 1) {
        return fail(why, why_len,
                    "NI number is too short (%zu characters ignoring spaces); expected 2 letters, "
                    "6 digits and an optional suffix A-D, e.g. AB 12 34 56 C",
                    n);
    }
    for (i = 0; i < 2; i++) {
        if (!is_upper(c[i])) {
            return fail(why, why_len,
                        "NI number must start with two letters, but character %zu is %s; "
                        "e.g. AB 12 34 56 C",
                        i + 1, char_text(c[i], buf));
        }
    }
    return 0;
}

static int ni_check_body(const char *c, size_t n, char *why, size_t why_len)
{
    size_t i;
    char buf[12];
    for (i = 2; i < 8; i++) {
        if (!is_digit(c[i])) {
            return fail(why, why_len,
                        "NI number must have six digits after the prefix, but character %zu "
                        "(ignoring spaces) is %s; e.g. AB 12 34 56 C",
                        i + 1, char_text(c[i], buf));
        }
    }
    if (n == NI_MAX_CHARS && !in_set(c[8], "ABCD")) {
        return fail(why, why_len,
                    "NI number suffix %s is invalid; the suffix must be A, B, C or D, or absent",
                    char_text(c[8], buf));
    }
    return 0;
}

static int ni_check_prefix(const char *c, char *why, size_t why_len)
{
    static const char *const never_issued[] = {"BG", "GB", "KN", "NK", "NT", "ZZ"};
    size_t i;

    if (in_set(c[0], "DFIQUV")) {
        return fail(why, why_len,
                    "NI number prefix %.2s is invalid: first letter '%c' is never used "
                    "(D, F, I, Q, U and V are not allowed first); e.g. AB 12 34 56 C",
                    c, c[0]);
    }
    if (in_set(c[1], "DFIQUVO")) {
        return fail(why, why_len,
                    "NI number prefix %.2s is invalid: second letter '%c' is never used "
                    "(D, F, I, O, Q, U and V are not allowed second); e.g. AB 12 34 56 C",
                    c, c[1]);
    }
    /* TN is reported on its own because staff meet it as a real-looking temporary reference. */
    if (c[0] == 'T' && c[1] == 'N') {
        return fail(why, why_len,
                    "NI number prefix TN marks a temporary reference number, not a National "
                    "Insurance number; ask for the person's permanent NI number");
    }
    for (i = 0; i < sizeof never_issued / sizeof never_issued[0]; i++) {
        if (strncmp(c, never_issued[i], 2) == 0) {
            return fail(why, why_len,
                        "NI number prefix %s has never been issued (BG, GB, KN, NK, NT, TN and "
                        "ZZ are unused); e.g. AB 12 34 56 C",
                        never_issued[i]);
        }
    }
    return 0;
}

int validate_ni_number(const char *s, char *why, size_t why_len)
{
    char c[NI_MAX_CHARS + 1];
    size_t n = 0;

    if (s == NULL || s[0] == '\0') {
        return fail(why, why_len,
                    "NI number is %s; expected 2 letters, 6 digits and an optional suffix A-D, "
                    "e.g. AB 12 34 56 C",
                    s == NULL ? "missing" : "empty");
    }
    if (ni_compact(s, c, &n, why, why_len) != 0 || ni_check_head(c, n, why, why_len) != 0 ||
        ni_check_prefix(c, why, why_len) != 0 || ni_check_body(c, n, why, why_len) != 0) {
        return -1;
    }
    return pass(why, why_len);
}

/* Postcode --------------------------------------------------------------- */

#define POSTCODE_FORMATS "A9 9AA, A99 9AA, AA9 9AA, AA99 9AA, A9A 9AA or AA9A 9AA"

/* Upper-cases `s` into `c` without the separating space; `*n` receives the character count. */
static int postcode_compact(const char *s, char c[POSTCODE_MAX_CHARS + 1], size_t *n, char *why,
                            size_t why_len)
{
    size_t kept = 0;
    size_t space_at = 0;
    int spaces = 0;
    size_t i;
    char buf[12];

    for (i = 0; s[i] != '\0'; i++) {
        if (s[i] == ' ') {
            space_at = kept;
            spaces++;
            continue;
        }
        if (!is_digit(s[i]) && !is_upper(to_upper(s[i]))) {
            return fail(why, why_len,
                        "postcode contains %s at position %zu; only letters, digits and one "
                        "space are allowed, e.g. SW1A 1AA",
                        char_text(s[i], buf), i + 1);
        }
        if (kept == POSTCODE_MAX_CHARS) {
            return fail(why, why_len,
                        "postcode is too long; expected at most 7 letters and digits in the form "
                        "%s",
                        POSTCODE_FORMATS);
        }
        c[kept++] = to_upper(s[i]);
    }
    c[kept] = '\0';
    if (kept < POSTCODE_MIN_CHARS) {
        return fail(why, why_len,
                    "postcode is too short (%zu letters and digits); expected the form %s", kept,
                    POSTCODE_FORMATS);
    }
    if (spaces > 1 || (spaces == 1 && kept - space_at != POSTCODE_INWARD_CHARS)) {
        return fail(why, why_len,
                    "postcode spacing is wrong; use one space before the last three characters "
                    "(e.g. SW1A 1AA) or none");
    }
    *n = kept;
    return 0;
}

/* Describes `c` as letters (A) and digits (9) so it can be compared with the published formats. */
static void postcode_shape(const char *c, size_t n, char *shape)
{
    size_t i;
    for (i = 0; i < n; i++) {
        shape[i] = is_digit(c[i]) ? '9' : 'A';
    }
    shape[n] = '\0';
}

static int outward_shape_known(const char *shape)
{
    static const char *const formats[] = {"A9", "A99", "AA9", "AA99", "A9A", "AA9A"};
    size_t i;
    for (i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        if (strcmp(shape, formats[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static int outward_letters_ok(const char *o, const char *shape, char *why, size_t why_len)
{
    if (in_set(o[0], "QVX")) {
        return fail(why, why_len,
                    "postcode letter '%c' cannot be in the first position (Q, V and X are never "
                    "used there); e.g. SW1A 1AA",
                    o[0]);
    }
    if (shape[1] == 'A' && in_set(o[1], "IJZ")) {
        return fail(why, why_len,
                    "postcode letter '%c' cannot be in the second position (I, J and Z are never "
                    "used there); e.g. SW1A 1AA",
                    o[1]);
    }
    if (strcmp(shape, "A9A") == 0 && !in_set(o[2], "ABCDEFGHJKPSTUW")) {
        return fail(why, why_len,
                    "postcode letter '%c' cannot be in the third position of an A9A outward code "
                    "(only A B C D E F G H J K P S T U W are used); e.g. W1A 0AX",
                    o[2]);
    }
    if (strcmp(shape, "AA9A") == 0 && !in_set(o[3], "ABEHMNPRVWXY")) {
        return fail(why, why_len,
                    "postcode letter '%c' cannot be in the fourth position of an AA9A outward "
                    "code (only A B E H M N P R V W X Y are used); e.g. EC1A 1BB",
                    o[3]);
    }
    return 0;
}

static int postcode_check_outward(const char *o, size_t n, char *why, size_t why_len)
{
    char shape[POSTCODE_MAX_CHARS + 1];
    postcode_shape(o, n, shape);
    if (!outward_shape_known(shape)) {
        return fail(why, why_len,
                    "postcode outward code %.*s has the shape %s (A = letter, 9 = digit), which is "
                    "not a UK format; expected %s",
                    (int)n, o, shape, POSTCODE_FORMATS);
    }
    return outward_letters_ok(o, shape, why, why_len);
}

static int postcode_check_inward(const char *in, char *why, size_t why_len)
{
    size_t i;
    if (!is_digit(in[0]) || !is_upper(in[1]) || !is_upper(in[2])) {
        return fail(why, why_len,
                    "postcode inward code %.3s must be a digit followed by two letters, e.g. 1AA "
                    "as in SW1A 1AA",
                    in);
    }
    for (i = 1; i < POSTCODE_INWARD_CHARS; i++) {
        if (in_set(in[i], "CIKMOV")) {
            return fail(why, why_len,
                        "postcode inward code letter '%c' is never used (C, I, K, M, O and V do "
                        "not appear in the last two letters); e.g. SW1A 1AA",
                        in[i]);
        }
    }
    return 0;
}

/* GIR 0AA and the ZZ99 pseudo-postcodes break the letter rules on purpose, so they are matched
 * before the rules are applied. */
static int postcode_is_special(const char *c, size_t n)
{
    if (n == 6 && strcmp(c, "GIR0AA") == 0) {
        return 1;
    }
    return n == 7 && strncmp(c, "ZZ99", 4) == 0 && is_digit(c[4]) && is_upper(c[5]) &&
           is_upper(c[6]);
}

/* Parses `s` into its compact upper-case form (no space) in `c`, with length `*n`. */
static int postcode_parse(const char *s, char c[POSTCODE_MAX_CHARS + 1], size_t *n, char *why,
                          size_t why_len)
{
    if (s == NULL || s[0] == '\0') {
        return fail(why, why_len, "postcode is %s; expected the form %s",
                    s == NULL ? "missing" : "empty", POSTCODE_FORMATS);
    }
    if (postcode_compact(s, c, n, why, why_len) != 0) {
        return -1;
    }
    if (postcode_is_special(c, *n)) {
        return 0;
    }
    size_t outward_len = *n - POSTCODE_INWARD_CHARS;
    if (postcode_check_outward(c, outward_len, why, why_len) != 0) {
        return -1;
    }
    return postcode_check_inward(c + outward_len, why, why_len);
}

int validate_postcode(const char *s, char *why, size_t why_len)
{
    char c[POSTCODE_MAX_CHARS + 1];
    size_t n = 0;
    if (postcode_parse(s, c, &n, why, why_len) != 0) {
        return -1;
    }
    return pass(why, why_len);
}

int validate_postcode_normalise(const char *s, char *out, size_t out_len)
{
    char c[POSTCODE_MAX_CHARS + 1];
    size_t n = 0;

    if (out == NULL || out_len == 0) {
        return -1;
    }
    out[0] = '\0';
    /* Room for the space and the NUL besides the characters. */
    if (postcode_parse(s, c, &n, NULL, 0) != 0 || out_len < n + 2) {
        return -1;
    }
    size_t outward_len = n - POSTCODE_INWARD_CHARS;
    (void)snprintf(out, out_len, "%.*s %s", (int)outward_len, c, c + outward_len);
    return 0;
}

int validate_postcode_is_pseudo(const char *normalised)
{
    if (normalised == NULL || strlen(normalised) != 8) {
        return 0;
    }
    return strncmp(normalised, "ZZ99 ", 5) == 0 && is_digit(normalised[5]) &&
           is_upper(normalised[6]) && is_upper(normalised[7]);
}

/* UPRN ------------------------------------------------------------------- */

int validate_uprn(const char *s, char *why, size_t why_len)
{
    size_t i;
    int nonzero = 0;
    char buf[12];

    if (s == NULL || s[0] == '\0') {
        return fail(why, why_len, "UPRN is %s; expected 1 to 12 digits, e.g. 100023336956",
                    s == NULL ? "missing" : "empty");
    }
    for (i = 0; s[i] != '\0'; i++) {
        if (!is_digit(s[i])) {
            return fail(why, why_len,
                        "UPRN contains %s at position %zu; only digits are allowed (no sign or "
                        "spaces), e.g. 100023336956",
                        char_text(s[i], buf), i + 1);
        }
        if (i == UPRN_MAX_DIGITS) {
            return fail(why, why_len,
                        "UPRN is longer than 12 digits; expected 1 to 12 digits, e.g. "
                        "100023336956");
        }
        nonzero |= s[i] != '0';
    }
    if (!nonzero) {
        return fail(why, why_len, "UPRN is zero; UPRNs start at 1, e.g. 100023336956");
    }
    return pass(why, why_len);
}

/* Dates ------------------------------------------------------------------ */

struct ymd {
    int y;
    int m;
    int d;
};

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return (m == 2 && is_leap(y)) ? 29 : days[m - 1];
}

static const char *month_name(int m)
{
    static const char *const names[] = {"January",   "February", "March",    "April",
                                        "May",       "June",     "July",     "August",
                                        "September", "October",  "November", "December"};
    return names[m - 1];
}

static int digits_value(const char *s, size_t n)
{
    int v = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Checks the fixed YYYY-MM-DD layout; stopping at the first NUL keeps short strings in bounds. */
static int date_layout_ok(const char *s)
{
    size_t i;
    for (i = 0; i < ISO_DATE_LEN; i++) {
        int want_dash = i == 4 || i == 7;
        if (want_dash ? s[i] != '-' : !is_digit(s[i])) {
            return 0;
        }
    }
    return s[ISO_DATE_LEN] == '\0';
}

static int date_day_ok(const struct ymd *t, const char *what, char *why, size_t why_len)
{
    int max = days_in_month(t->y, t->m);
    if (t->d >= 1 && t->d <= max) {
        return 0;
    }
    if (t->m == 2 && t->d == 29) {
        return fail(why, why_len,
                    "%s has day 29 in February %04d, but %04d is not a leap year so February has "
                    "28 days",
                    what, t->y, t->y);
    }
    return fail(why, why_len, "%s has day %02d, but %s %04d has days 01 to %02d", what, t->d,
                month_name(t->m), t->y, max);
}

static int parse_date(const char *s, const char *what, struct ymd *out, char *why, size_t why_len)
{
    if (s == NULL) {
        return fail(why, why_len, "%s is missing; expected YYYY-MM-DD, e.g. 2024-02-29", what);
    }
    if (!date_layout_ok(s)) {
        return fail(why, why_len,
                    "%s must be written YYYY-MM-DD with 4-2-2 digits, e.g. 2024-02-29", what);
    }
    out->y = digits_value(s, 4);
    out->m = digits_value(s + 5, 2);
    out->d = digits_value(s + 8, 2);
    if (out->y == 0) {
        return fail(why, why_len, "%s has year 0000, which does not exist; years run 0001 to 9999",
                    what);
    }
    if (out->m < 1 || out->m > 12) {
        return fail(why, why_len, "%s has month %02d; months run 01 to 12", what, out->m);
    }
    return date_day_ok(out, what, why, why_len);
}

/* A single number orders dates without caring about month lengths. */
static long date_key(const struct ymd *t)
{
    return (long)t->y * 10000L + t->m * 100L + t->d;
}

int validate_date(const char *iso, char *why, size_t why_len)
{
    struct ymd t = {0, 0, 0};
    if (parse_date(iso, "date", &t, why, why_len) != 0) {
        return -1;
    }
    return pass(why, why_len);
}

static int check_birth(const char *birth, const struct ymd *today, struct ymd *b, char *why,
                       size_t why_len)
{
    if (parse_date(birth, "birth date", b, why, why_len) != 0) {
        return -1;
    }
    if (date_key(b) > date_key(today)) {
        return fail(why, why_len, "birth date is in the future (after today, %04d-%02d-%02d)",
                    today->y, today->m, today->d);
    }
    if (date_key(b) < EARLIEST_BIRTH) {
        return fail(why, why_len,
                    "birth date is before 1880-01-01, the earliest birth date accepted");
    }
    return 0;
}

static int check_death(const char *death, const struct ymd *today, const struct ymd *b, char *why,
                       size_t why_len)
{
    struct ymd d = {0, 0, 0};
    if (parse_date(death, "death date", &d, why, why_len) != 0) {
        return -1;
    }
    if (date_key(&d) > date_key(today)) {
        return fail(why, why_len, "death date is in the future (after today, %04d-%02d-%02d)",
                    today->y, today->m, today->d);
    }
    if (b != NULL && date_key(&d) < date_key(b)) {
        return fail(why, why_len,
                    "death date is before the birth date; death must be on or after birth");
    }
    return 0;
}

int validate_birth_death(const char *birth, const char *death, const char *today, char *why,
                         size_t why_len)
{
    struct ymd t = {0, 0, 0};
    struct ymd b = {0, 0, 0};

    if (parse_date(today, "today's date", &t, why, why_len) != 0) {
        return -1;
    }
    if (birth != NULL && check_birth(birth, &t, &b, why, why_len) != 0) {
        return -1;
    }
    if (death != NULL && check_death(death, &t, birth != NULL ? &b : NULL, why, why_len) != 0) {
        return -1;
    }
    return pass(why, why_len);
}
