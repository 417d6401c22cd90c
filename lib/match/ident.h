/* ident.h - the rules for UK identifiers and ISO dates, written once: NHS number, NI number and
 * postcode parsing and normalisation, and the calendar. Two callers use them, and must go on
 * answering as they always have (issue 16):
 *   - the validators (validate.c) judge a value a person typed and explain a failure, so they take
 *     the published formats strictly and want to know exactly what is wrong (ident_error_t);
 *   - the matcher (normalise.c) only asks "which identifier is this, if any?" of whatever another
 *     system sent, so it forgives formatting and keeps its own looser notions, selected by flags.
 * Where the two differ (README.md lists it), a flag says so here instead of a second copy of the
 * rules elsewhere. Private to lib/match: included by validate.c and normalise.c (and test_ident.c)
 * only.
 *
 * ASCII throughout, whatever the process locale: identifiers are ASCII, and <ctype.h> is both
 * locale-dependent and undefined for negative chars. */
#ifndef JOINERY_MATCH_IDENT_H
#define JOINERY_MATCH_IDENT_H

#include <stddef.h>

#define IDENT_NHS_DIGITS 10
#define IDENT_NI_MAX 9 /* two letters, six digits, a suffix letter */
#define IDENT_PC_MAX 8 /* letters and digits the matcher keeps; a valid postcode has 5 to 7 */
#define IDENT_PC_INWARD 3

static inline int ident_digit(char c)
{
    return c >= '0' && c <= '9';
}

static inline int ident_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

static inline char ident_toupper(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

/* What is wrong with a value: STATUS, and where AT and C say so, the 1-based position (or count)
 * and the character concerned. The validators turn it into a sentence; the matcher ignores it. */
typedef enum {
    IDENT_OK,
    IDENT_MISSING,          /* NULL */
    IDENT_EMPTY,            /* "" */
    IDENT_BAD_CHAR,         /* C at position AT is not allowed at all */
    IDENT_BAD_SPACE,        /* NI: a space at position AT, not between groups */
    IDENT_TOO_LONG,         /* more characters than the identifier has */
    IDENT_TOO_SHORT,        /* AT characters (spaces dropped) are too few */
    IDENT_SPACING,          /* NHS not 3-3-4; postcode space not before the inward code */
    IDENT_NHS_DIGIT_COUNT,  /* AT digits, not 10 */
    IDENT_NHS_CHECK_TEN,    /* the first nine digits give check value 10: never issued */
    IDENT_NHS_CHECK_DIGIT,  /* the last digit is not the check digit */
    IDENT_NHS_PLACEHOLDER,  /* one digit ten times (only with IDENT_NHS_NO_PLACEHOLDERS) */
    IDENT_NI_NOT_LETTER,    /* character AT (spaces dropped), C, of the prefix is not a letter */
    IDENT_NI_FIRST_LETTER,  /* prefix's first letter C is never used (D F I Q U V) */
    IDENT_NI_SECOND_LETTER, /* prefix's second letter C is never used (D F I O Q U V) */
    IDENT_NI_TEMPORARY,     /* prefix TN: a temporary reference number */
    IDENT_NI_NEVER_ISSUED,  /* prefix BG GB KN NK NT or ZZ */
    IDENT_NI_NOT_DIGIT,     /* character AT (spaces dropped), C, of the six is not a digit */
    IDENT_NI_SUFFIX,        /* suffix C is not A-D */
    IDENT_PC_OUTWARD_SHAPE, /* the outward code's shape is not a UK one */
    /* these four in this order: validate.c words them from a table */
    IDENT_PC_FIRST_LETTER,  /* letter C is never first (Q V X) */
    IDENT_PC_SECOND_LETTER, /* letter C is never second (I J Z) */
    IDENT_PC_THIRD_LETTER,  /* letter C is never third in an A9A outward code */
    IDENT_PC_FOURTH_LETTER, /* letter C is never fourth in an AA9A outward code */
    IDENT_PC_INWARD_SHAPE,  /* the inward code is not digit-letter-letter */
    IDENT_PC_INWARD_LETTER, /* letter C never appears in the inward code (C I K M O V) */
} ident_status_t;

typedef struct {
    ident_status_t status;
    size_t at;
    char c;
} ident_error_t;

/* NHS number --------------------------------------------------------------------------------- */

/* Without flags, the validators' form: 10 digits, bare or spaced 3-3-4 with single spaces. */
#define IDENT_NHS_LENIENT 1u         /* blanks and hyphens anywhere, any number (the matcher) */
#define IDENT_NHS_NO_PLACEHOLDERS 2u /* reject one digit ten times, 0000000000 (the matcher) */

/* 0 and the ten digits plus NUL in DIGITS when S is a valid NHS number (modulus 11 check digit);
 * -1 and *ERR (ERR may be NULL) when it is not, DIGITS then undefined. */
int ident_nhs(const char *s, unsigned flags, char digits[IDENT_NHS_DIGITS + 1], ident_error_t *err);

/* NI number ---------------------------------------------------------------------------------- */

/* Without flags, the validators' form: single spaces between the groups of AB 12 34 56 C only. */
#define IDENT_NI_LENIENT 1u /* spaces anywhere, any number (the matcher) */

typedef struct {
    char c[IDENT_NI_MAX + 1]; /* upper case, spaces dropped: AB123456 and the suffix if any */
    size_t n;                 /* 8 or 9 when valid */
} ident_ni_t;

/* 0 when S is a valid NI number: two prefix letters (never-used letters and unissued prefixes
 * rejected), six digits, an optional suffix A-D; -1 and *ERR otherwise. NI->c holds what was read
 * (for a reason to quote), valid or not. */
int ident_ni(const char *s, unsigned flags, ident_ni_t *ni, ident_error_t *err);

/* Postcode ----------------------------------------------------------------------------------- */

/* Without flags, the validators' postcode: 5 to 7 letters and digits, one space before the inward
 * code or none, and Royal Mail's letter rules (GIR 0AA and the ZZ99 pseudo-postcodes excepted).
 * With IDENT_PC_LENIENT, the matcher's: white space anywhere and in any number, then 1 to 8
 * letters and digits, any of which is a value to compare; it is a UK postcode (uk_shape) when it
 * has 5 to 7 of them, a letter first and digit-letter-letter last, whatever its letters are. */
#define IDENT_PC_LENIENT 1u

typedef struct {
    char c[IDENT_PC_MAX + 1];     /* upper case, separators dropped */
    size_t n;                     /* its length */
    char shape[IDENT_PC_MAX + 1]; /* the outward code as A (letter) and 9 (digit), when checked */
    int uk_shape;                 /* IDENT_PC_LENIENT: 1 if shaped like a UK postcode */
} ident_postcode_t;

int ident_postcode(const char *s, unsigned flags, ident_postcode_t *pc, ident_error_t *err);

/* PC's canonical form, "SW1A 1AA": the outward code, one space, the inward code (the last three
 * characters); OUT holds pc->n + 2 bytes. PC has at least IDENT_PC_INWARD characters. */
void ident_postcode_format(const ident_postcode_t *pc, char *out);

/* 1 for the NHS pseudo-postcodes ZZ99 9AA in their canonical form ("ZZ99 3VZ"). */
int ident_postcode_is_pseudo(const char *canonical);

/* Dates -------------------------------------------------------------------------------------- */

/* 1 if the first ten characters of S are written YYYY-MM-DD (digits and two dashes; nothing past a
 * NUL is read), with the numbers in *Y, *M, *D unchecked; 0 otherwise. What may follow the ten is
 * the caller's rule. */
int ident_date_fields(const char *s, int *y, int *m, int *d);
int ident_leap_year(int y);
int ident_days_in_month(int y, int m); /* M in 1..12; Gregorian */

#endif
