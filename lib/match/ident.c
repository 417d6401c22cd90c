/* ident.c - NHS number, NI number and postcode rules and the calendar, once, for the validators
 * and the matcher; see ident.h for the two dialects and README.md for how they differ. Pure
 * functions over fixed buffers. */
#include "match/ident.h"

#include <string.h>

/* strchr alone would report '\0' as a member of every set. */
static int in_set(char c, const char *set)
{
    return c != '\0' && strchr(set, c) != NULL;
}

static int fail(ident_error_t *err, ident_status_t status, size_t at, char c)
{
    if (err != NULL) {
        err->status = status;
        err->at = at;
        err->c = c;
    }
    return -1;
}

static int pass(ident_error_t *err)
{
    if (err != NULL) {
        err->status = IDENT_OK;
        err->at = 0;
        err->c = '\0';
    }
    return 0;
}

/* NULL and "" are told apart for the reasons; both are simply absent to the matcher. */
static int absent(const char *s, ident_error_t *err)
{
    if (s == NULL)
        return fail(err, IDENT_MISSING, 0, '\0');
    if (s[0] == '\0')
        return fail(err, IDENT_EMPTY, 0, '\0');
    return 0;
}

/* NHS number ------------------------------------------------------------------------------- */

/* The modulus 11 check value (0..10) of the first nine digits, weights 10..2; 10 is never
 * issued. */
static int nhs_check_value(const char *digits)
{
    int sum = 0;
    for (int i = 0; i < IDENT_NHS_DIGITS - 1; i++)
        sum += (digits[i] - '0') * (IDENT_NHS_DIGITS - i);
    int check = 11 - sum % 11;
    return check == 11 ? 0 : check;
}

/* The display form: 10 bare digits, or 3-3-4 with single spaces. */
static int nhs_spacing_ok(const char *s, size_t len)
{
    return len == IDENT_NHS_DIGITS || (len == IDENT_NHS_DIGITS + 2 && s[3] == ' ' && s[7] == ' ');
}

int ident_nhs(const char *s, unsigned flags, char digits[IDENT_NHS_DIGITS + 1], ident_error_t *err)
{
    size_t count = 0, i;
    if (absent(s, err) != 0)
        return -1;
    for (i = 0; s[i] != '\0'; i++) {
        if (ident_digit(s[i])) {
            if (count < IDENT_NHS_DIGITS)
                digits[count] = s[i];
            count++;
        } else if (s[i] != ' ' && !(s[i] == '-' && (flags & IDENT_NHS_LENIENT))) {
            return fail(err, IDENT_BAD_CHAR, i + 1, s[i]);
        }
    }
    if (count != IDENT_NHS_DIGITS)
        return fail(err, IDENT_NHS_DIGIT_COUNT, count, '\0');
    digits[IDENT_NHS_DIGITS] = '\0';
    if (!(flags & IDENT_NHS_LENIENT) && !nhs_spacing_ok(s, i))
        return fail(err, IDENT_SPACING, 0, '\0');
    int check = nhs_check_value(digits);
    if (check == 10)
        return fail(err, IDENT_NHS_CHECK_TEN, 0, '\0');
    if (check != digits[IDENT_NHS_DIGITS - 1] - '0')
        return fail(err, IDENT_NHS_CHECK_DIGIT, 0, '\0');
    /* Every repeated digit passes the check (its check digit is itself), and 0000000000 is how
     * systems write "not known". */
    if ((flags & IDENT_NHS_NO_PLACEHOLDERS) && strspn(digits, digits + 9) == IDENT_NHS_DIGITS)
        return fail(err, IDENT_NHS_PLACEHOLDER, 0, '\0');
    return pass(err);
}

/* NI number -------------------------------------------------------------------------------- */

/* Strictly, spaces may only separate the groups AB|12|34|56|C, one at a time; anywhere else they
 * more likely mark a damaged value than formatting. */
static int ni_space_allowed(const char *s, size_t i, size_t kept)
{
    int at_boundary = kept == 2 || kept == 4 || kept == 6 || kept == 8;
    return at_boundary && s[i - 1] != ' ';
}

/* Upper-cases S into NI without spaces. */
static int ni_compact(const char *s, unsigned flags, ident_ni_t *ni, ident_error_t *err)
{
    size_t kept = 0;
    int ok = 0;
    for (size_t i = 0; s[i] != '\0' && ok == 0; i++) {
        if (s[i] == ' ') {
            if (!(flags & IDENT_NI_LENIENT) && !ni_space_allowed(s, i, kept))
                ok = fail(err, IDENT_BAD_SPACE, i + 1, ' ');
        } else if (kept == IDENT_NI_MAX) {
            ok = fail(err, IDENT_TOO_LONG, 0, '\0');
        } else {
            ni->c[kept++] = ident_toupper(s[i]);
        }
    }
    ni->c[kept] = '\0';
    ni->n = kept;
    return ok;
}

/* Length and the two prefix letters first, then the prefix rules, then the body: a temporary
 * reference such as "TN 01 01 80 M" is reported as TN, not as a bad suffix. */
static int ni_check(const ident_ni_t *ni, ident_error_t *err)
{
    static const char *const never_issued[] = {"BG", "GB", "KN", "NK", "NT", "ZZ"};
    const char *c = ni->c;
    if (ni->n < IDENT_NI_MAX - 1)
        return fail(err, IDENT_TOO_SHORT, ni->n, '\0');
    for (size_t i = 0; i < 2; i++)
        if (!ident_upper(c[i]))
            return fail(err, IDENT_NI_NOT_LETTER, i + 1, c[i]);
    if (in_set(c[0], "DFIQUV"))
        return fail(err, IDENT_NI_FIRST_LETTER, 1, c[0]);
    if (in_set(c[1], "DFIQUVO"))
        return fail(err, IDENT_NI_SECOND_LETTER, 2, c[1]);
    if (c[0] == 'T' && c[1] == 'N')
        return fail(err, IDENT_NI_TEMPORARY, 0, '\0');
    for (size_t i = 0; i < sizeof never_issued / sizeof never_issued[0]; i++)
        if (strncmp(c, never_issued[i], 2) == 0)
            return fail(err, IDENT_NI_NEVER_ISSUED, 0, '\0');
    for (size_t i = 2; i < 8; i++)
        if (!ident_digit(c[i]))
            return fail(err, IDENT_NI_NOT_DIGIT, i + 1, c[i]);
    if (ni->n == IDENT_NI_MAX && !in_set(c[8], "ABCD"))
        return fail(err, IDENT_NI_SUFFIX, 9, c[8]);
    return pass(err);
}

int ident_ni(const char *s, unsigned flags, ident_ni_t *ni, ident_error_t *err)
{
    ni->c[0] = '\0';
    ni->n = 0;
    if (absent(s, err) != 0 || ni_compact(s, flags, ni, err) != 0)
        return -1;
    return ni_check(ni, err);
}

/* Postcode --------------------------------------------------------------------------------- */

/* The matcher's separators are C's white space, as isspace knows it in the "C" locale: the space
 * and \t \n \v \f \r, which are 9 to 13. */
static int pc_separator(char c, unsigned flags)
{
    return c == ' ' || ((flags & IDENT_PC_LENIENT) && c >= '\t' && c <= '\r');
}

/* Upper-cases S into PC without separators; strictly, at most one space, before the inward code. */
static int pc_compact(const char *s, unsigned flags, ident_postcode_t *pc, ident_error_t *err)
{
    int lenient = (flags & IDENT_PC_LENIENT) != 0;
    size_t max = lenient ? IDENT_PC_MAX : IDENT_PC_MAX - 1, min = lenient ? 1 : 5;
    size_t kept = 0, space_at = 0;
    int spaces = 0;
    for (size_t i = 0; s[i] != '\0'; i++) {
        if (pc_separator(s[i], flags)) {
            space_at = kept;
            spaces++;
            continue;
        }
        if (!ident_digit(s[i]) && !ident_upper(ident_toupper(s[i])))
            return fail(err, IDENT_BAD_CHAR, i + 1, s[i]);
        if (kept == max)
            return fail(err, IDENT_TOO_LONG, 0, '\0');
        pc->c[kept++] = ident_toupper(s[i]);
    }
    pc->c[kept] = '\0';
    pc->n = kept;
    if (kept < min)
        return fail(err, IDENT_TOO_SHORT, kept, '\0');
    if (!lenient && (spaces > 1 || (spaces == 1 && kept - space_at != IDENT_PC_INWARD)))
        return fail(err, IDENT_SPACING, 0, '\0');
    return 0;
}

/* Digit, letter, letter: "1AA". */
static int pc_inward_shape_ok(const char *in)
{
    return ident_digit(in[0]) && ident_upper(in[1]) && ident_upper(in[2]);
}

/* The matcher's test: 5 to 7 characters, a letter first, an inward code's shape last. */
static int pc_uk_shape(const ident_postcode_t *pc)
{
    return pc->n >= 5 && pc->n <= 7 && ident_upper(pc->c[0]) &&
           pc_inward_shape_ok(pc->c + pc->n - IDENT_PC_INWARD);
}

static int pc_outward_shape_known(const char *shape)
{
    static const char *const formats[] = {"A9", "A99", "AA9", "AA99", "A9A", "AA9A"};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (strcmp(shape, formats[i]) == 0)
            return 1;
    return 0;
}

static int pc_outward_letters_ok(const char *o, const char *shape, ident_error_t *err)
{
    if (in_set(o[0], "QVX"))
        return fail(err, IDENT_PC_FIRST_LETTER, 1, o[0]);
    if (shape[1] == 'A' && in_set(o[1], "IJZ"))
        return fail(err, IDENT_PC_SECOND_LETTER, 2, o[1]);
    if (strcmp(shape, "A9A") == 0 && !in_set(o[2], "ABCDEFGHJKPSTUW"))
        return fail(err, IDENT_PC_THIRD_LETTER, 3, o[2]);
    if (strcmp(shape, "AA9A") == 0 && !in_set(o[3], "ABEHMNPRVWXY"))
        return fail(err, IDENT_PC_FOURTH_LETTER, 4, o[3]);
    return 0;
}

static int pc_inward_ok(const char *in, ident_error_t *err)
{
    if (!pc_inward_shape_ok(in))
        return fail(err, IDENT_PC_INWARD_SHAPE, 0, '\0');
    for (size_t i = 1; i < IDENT_PC_INWARD; i++)
        if (in_set(in[i], "CIKMOV"))
            return fail(err, IDENT_PC_INWARD_LETTER, i + 1, in[i]);
    return 0;
}

/* GIR 0AA and the ZZ99 pseudo-postcodes break the letter rules on purpose, so they are matched
 * before the rules are applied. */
static int pc_is_special(const ident_postcode_t *pc)
{
    if (pc->n == 6 && strcmp(pc->c, "GIR0AA") == 0)
        return 1;
    return pc->n == 7 && strncmp(pc->c, "ZZ99", 4) == 0 && pc_inward_shape_ok(pc->c + 4);
}

/* Royal Mail's rules, on a compact postcode of 5 to 7 characters. */
static int pc_check(ident_postcode_t *pc, ident_error_t *err)
{
    if (pc_is_special(pc))
        return 0;
    size_t outward = pc->n - IDENT_PC_INWARD;
    for (size_t i = 0; i < outward; i++)
        pc->shape[i] = ident_digit(pc->c[i]) ? '9' : 'A';
    pc->shape[outward] = '\0';
    if (!pc_outward_shape_known(pc->shape))
        return fail(err, IDENT_PC_OUTWARD_SHAPE, 0, '\0');
    if (pc_outward_letters_ok(pc->c, pc->shape, err) != 0)
        return -1;
    return pc_inward_ok(pc->c + outward, err);
}

int ident_postcode(const char *s, unsigned flags, ident_postcode_t *pc, ident_error_t *err)
{
    memset(pc, 0, sizeof *pc);
    if (absent(s, err) != 0 || pc_compact(s, flags, pc, err) != 0)
        return -1;
    pc->uk_shape = pc_uk_shape(pc);
    if (!(flags & IDENT_PC_LENIENT) && pc_check(pc, err) != 0)
        return -1;
    return pass(err);
}

void ident_postcode_format(const ident_postcode_t *pc, char *out)
{
    size_t outward = pc->n - IDENT_PC_INWARD;
    memcpy(out, pc->c, outward);
    out[outward] = ' ';
    memcpy(out + outward + 1, pc->c + outward, IDENT_PC_INWARD + 1); /* and the NUL */
}

int ident_postcode_is_pseudo(const char *canonical)
{
    return canonical != NULL && strlen(canonical) == 8 && strncmp(canonical, "ZZ99 ", 5) == 0 &&
           pc_inward_shape_ok(canonical + 5);
}

/* Dates ------------------------------------------------------------------------------------ */

static int digits_value(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

int ident_date_fields(const char *s, int *y, int *m, int *d)
{
    for (size_t i = 0; i < 10; i++) {
        int want_dash = i == 4 || i == 7;
        if (want_dash ? s[i] != '-' : !ident_digit(s[i]))
            return 0; /* a NUL is neither, so a short string stops here */
    }
    *y = digits_value(s, 4);
    *m = digits_value(s + 5, 2);
    *d = digits_value(s + 8, 2);
    return 1;
}

int ident_leap_year(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int ident_days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && ident_leap_year(y) ? 29 : days[m - 1];
}
