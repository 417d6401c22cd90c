/* validate.c - identifier and field validators for master data: NHS number, NI number, UK
 * postcode, UPRN and ISO dates. See validate.h for the contract. The rules for NHS and NI numbers,
 * postcodes and the calendar are ident.c's, shared with the matcher; this file applies them
 * strictly and owns what a person is told: every reason below. */
#include "match/validate.h"

#include "match/ident.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#if defined(__GNUC__)
#define VALIDATE_PRINTF(fmt_index, args_index)                                                     \
    __attribute__((format(printf, fmt_index, args_index)))
#else
#define VALIDATE_PRINTF(fmt_index, args_index)
#endif

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

/* "WHAT is missing; EXPECTED" for NULL, "... is empty; ..." for "". */
static int absent(char *why, size_t why_len, const char *what, int missing, const char *expected)
{
    return fail(why, why_len, "%s is %s; %s", what, missing ? "missing" : "empty", expected);
}

/* "WHAT contains 'x' at position N; RULE" */
static int bad_char(char *why, size_t why_len, const char *what, char c, size_t at,
                    const char *rule)
{
    char buf[12];
    return fail(why, why_len, "%s contains %s at position %zu; %s", what, char_text(c, buf), at,
                rule);
}

/* NHS number ------------------------------------------------------------- */

/* The rules are ident.c's, taken strictly; what is wrong is told here. */
static int nhs_reason(const ident_error_t *e, char *why, size_t why_len)
{
    switch (e->status) {
    case IDENT_MISSING:
    case IDENT_EMPTY:
        return absent(why, why_len, "NHS number", e->status == IDENT_MISSING,
                      "expected 10 digits such as 943 476 5919");
    case IDENT_BAD_CHAR:
        return bad_char(why, why_len, "NHS number", e->c, e->at,
                        "only digits are allowed, optionally spaced 3-3-4 as in 943 476 5919");
    case IDENT_NHS_DIGIT_COUNT:
        return fail(why, why_len,
                    "NHS number has %zu digits; it must have exactly 10, e.g. 9434765919", e->at);
    case IDENT_SPACING:
        return fail(why, why_len,
                    "NHS number spacing is not 3-3-4; write it as 9434765919 or 943 476 5919");
    /* The expected digit is deliberately not quoted: a wrong check digit usually means a typo
     * elsewhere, and quoting it invites "fixing" the last digit into someone else's number. */
    case IDENT_NHS_CHECK_TEN:
        return fail(why, why_len,
                    "NHS number fails the modulus 11 check: the first nine digits give a check "
                    "value of 10, which is never issued, so the number is mistyped");
    case IDENT_NHS_CHECK_DIGIT:
    default:
        return fail(why, why_len,
                    "NHS number fails the modulus 11 check: the last digit does not match the "
                    "check digit computed from the first nine, so the number is mistyped");
    }
}

int validate_nhs_number(const char *s, char *why, size_t why_len)
{
    char digits[IDENT_NHS_DIGITS + 1];
    ident_error_t e;
    if (ident_nhs(s, 0, digits, &e) != 0)
        return nhs_reason(&e, why, why_len);
    return pass(why, why_len);
}

int validate_nhs_number_normalise(const char *s, char out[11])
{
    char digits[IDENT_NHS_DIGITS + 1];
    if (out == NULL)
        return -1;
    out[0] = '\0';
    if (ident_nhs(s, 0, digits, NULL) != 0)
        return -1;
    memcpy(out, digits, IDENT_NHS_DIGITS + 1);
    return 0;
}

/* NI number -------------------------------------------------------------- */

#define NI_EXAMPLE "e.g. AB 12 34 56 C"
#define NI_FORMAT "expected 2 letters, 6 digits and an optional suffix A-D, " NI_EXAMPLE

static int ni_reason(const ident_ni_t *ni, const ident_error_t *e, char *why, size_t why_len)
{
    char buf[12];
    const char *c = ni->c;
    switch (e->status) {
    case IDENT_MISSING:
    case IDENT_EMPTY:
        return absent(why, why_len, "NI number", e->status == IDENT_MISSING, NI_FORMAT);
    case IDENT_BAD_SPACE:
        return fail(why, why_len,
                    "NI number has a misplaced space at position %zu; spaces may only "
                    "separate the groups, as in AB 12 34 56 C",
                    e->at);
    case IDENT_TOO_LONG:
        return fail(why, why_len, "NI number is too long; " NI_FORMAT);
    case IDENT_TOO_SHORT:
        return fail(why, why_len,
                    "NI number is too short (%zu characters ignoring spaces); " NI_FORMAT, e->at);
    case IDENT_NI_NOT_LETTER:
        return fail(why, why_len,
                    "NI number must start with two letters, but character %zu is %s; " NI_EXAMPLE,
                    e->at, char_text(e->c, buf));
    case IDENT_NI_FIRST_LETTER:
        return fail(why, why_len,
                    "NI number prefix %.2s is invalid: first letter '%c' is never used "
                    "(D, F, I, Q, U and V are not allowed first); " NI_EXAMPLE,
                    c, e->c);
    case IDENT_NI_SECOND_LETTER:
        return fail(why, why_len,
                    "NI number prefix %.2s is invalid: second letter '%c' is never used "
                    "(D, F, I, O, Q, U and V are not allowed second); " NI_EXAMPLE,
                    c, e->c);
    /* TN is reported on its own because staff meet it as a real-looking temporary reference. */
    case IDENT_NI_TEMPORARY:
        return fail(why, why_len,
                    "NI number prefix TN marks a temporary reference number, not a National "
                    "Insurance number; ask for the person's permanent NI number");
    case IDENT_NI_NEVER_ISSUED:
        return fail(why, why_len,
                    "NI number prefix %.2s has never been issued (BG, GB, KN, NK, NT, TN and "
                    "ZZ are unused); " NI_EXAMPLE,
                    c);
    case IDENT_NI_NOT_DIGIT:
        return fail(why, why_len,
                    "NI number must have six digits after the prefix, but character %zu "
                    "(ignoring spaces) is %s; " NI_EXAMPLE,
                    e->at, char_text(e->c, buf));
    default:
        return fail(why, why_len,
                    "NI number suffix %s is invalid; the suffix must be A, B, C or D, or absent",
                    char_text(e->c, buf));
    }
}

int validate_ni_number(const char *s, char *why, size_t why_len)
{
    ident_ni_t ni;
    ident_error_t e;
    if (ident_ni(s, 0, &ni, &e) != 0)
        return ni_reason(&ni, &e, why, why_len);
    return pass(why, why_len);
}

/* Postcode --------------------------------------------------------------- */

#define POSTCODE_FORMATS "A9 9AA, A99 9AA, AA9 9AA, AA99 9AA, A9A 9AA or AA9A 9AA"

/* The outward code's letter rules, in the order of IDENT_PC_FIRST_LETTER..FOURTH_LETTER. */
static const struct outward_rule {
    const char *where, *rule, *example;
} outward_rules[] = {
    {"first position", "Q, V and X are never used there", "SW1A 1AA"},
    {"second position", "I, J and Z are never used there", "SW1A 1AA"},
    {"third position of an A9A outward code", "only A B C D E F G H J K P S T U W are used",
     "W1A 0AX"},
    {"fourth position of an AA9A outward code", "only A B E H M N P R V W X Y are used",
     "EC1A 1BB"},
};

static int postcode_reason(const ident_postcode_t *pc, const ident_error_t *e, char *why,
                           size_t why_len)
{
    size_t outward = pc->n >= IDENT_PC_INWARD ? pc->n - IDENT_PC_INWARD : 0;
    switch (e->status) {
    case IDENT_MISSING:
    case IDENT_EMPTY:
        return absent(why, why_len, "postcode", e->status == IDENT_MISSING,
                      "expected the form " POSTCODE_FORMATS);
    case IDENT_BAD_CHAR:
        return bad_char(why, why_len, "postcode", e->c, e->at,
                        "only letters, digits and one space are allowed, e.g. SW1A 1AA");
    case IDENT_TOO_LONG:
        return fail(why, why_len,
                    "postcode is too long; expected at most 7 letters and digits in the form "
                    "%s",
                    POSTCODE_FORMATS);
    case IDENT_TOO_SHORT:
        return fail(why, why_len,
                    "postcode is too short (%zu letters and digits); expected the form %s", e->at,
                    POSTCODE_FORMATS);
    case IDENT_SPACING:
        return fail(why, why_len,
                    "postcode spacing is wrong; use one space before the last three characters "
                    "(e.g. SW1A 1AA) or none");
    case IDENT_PC_OUTWARD_SHAPE:
        return fail(why, why_len,
                    "postcode outward code %.*s has the shape %s (A = letter, 9 = digit), which is "
                    "not a UK format; expected %s",
                    (int)outward, pc->c, pc->shape, POSTCODE_FORMATS);
    case IDENT_PC_FIRST_LETTER:
    case IDENT_PC_SECOND_LETTER:
    case IDENT_PC_THIRD_LETTER:
    case IDENT_PC_FOURTH_LETTER: {
        const struct outward_rule *r = &outward_rules[e->status - IDENT_PC_FIRST_LETTER];
        return fail(why, why_len, "postcode letter '%c' cannot be in the %s (%s); e.g. %s", e->c,
                    r->where, r->rule, r->example);
    }
    case IDENT_PC_INWARD_SHAPE:
        return fail(why, why_len,
                    "postcode inward code %.3s must be a digit followed by two letters, e.g. 1AA "
                    "as in SW1A 1AA",
                    pc->c + outward);
    default:
        return fail(why, why_len,
                    "postcode inward code letter '%c' is never used (C, I, K, M, O and V do "
                    "not appear in the last two letters); e.g. SW1A 1AA",
                    e->c);
    }
}

int validate_postcode(const char *s, char *why, size_t why_len)
{
    ident_postcode_t pc;
    ident_error_t e;
    if (ident_postcode(s, 0, &pc, &e) != 0)
        return postcode_reason(&pc, &e, why, why_len);
    return pass(why, why_len);
}

int validate_postcode_normalise(const char *s, char *out, size_t out_len)
{
    ident_postcode_t pc;

    if (out == NULL || out_len == 0)
        return -1;
    out[0] = '\0';
    /* Room for the space and the NUL besides the characters. */
    if (ident_postcode(s, 0, &pc, NULL) != 0 || out_len < pc.n + 2)
        return -1;
    ident_postcode_format(&pc, out);
    return 0;
}

int validate_postcode_is_pseudo(const char *normalised)
{
    return ident_postcode_is_pseudo(normalised);
}

/* UPRN ------------------------------------------------------------------- */

int validate_uprn(const char *s, char *why, size_t why_len)
{
    size_t i;
    int nonzero = 0;

    if (s == NULL || s[0] == '\0') {
        return absent(why, why_len, "UPRN", s == NULL,
                      "expected 1 to 12 digits, e.g. 100023336956");
    }
    for (i = 0; s[i] != '\0'; i++) {
        if (!ident_digit(s[i])) {
            return bad_char(why, why_len, "UPRN", s[i], i + 1,
                            "only digits are allowed (no sign or spaces), e.g. 100023336956");
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

static const char *month_name(int m)
{
    static const char *const names[] = {"January",   "February", "March",    "April",
                                        "May",       "June",     "July",     "August",
                                        "September", "October",  "November", "December"};
    return names[m - 1];
}

static int date_day_ok(const struct ymd *t, const char *what, char *why, size_t why_len)
{
    int max = ident_days_in_month(t->y, t->m);
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
    /* Exactly the ten characters: a time part is not a date. */
    if (!ident_date_fields(s, &out->y, &out->m, &out->d) || s[ISO_DATE_LEN] != '\0') {
        return fail(why, why_len,
                    "%s must be written YYYY-MM-DD with 4-2-2 digits, e.g. 2024-02-29", what);
    }
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

size_t validate_utf8_char(const unsigned char *p, size_t left)
{
    unsigned char c = p[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf; /* the second byte's range */
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4;
    else
        return 0;
    if (c == 0xe0)
        lo = 0xa0; /* overlong */
    else if (c == 0xed)
        hi = 0x9f; /* surrogates */
    else if (c == 0xf0)
        lo = 0x90; /* overlong */
    else if (c == 0xf4)
        hi = 0x8f; /* above U+10FFFF */
    if (left < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t k = 2; k < n; k++)
        if ((p[k] & 0xc0) != 0x80)
            return 0;
    return n;
}
