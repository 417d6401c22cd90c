/* validate.h - identifier and field validators for master data (NHS number, NI number, UK postcode,
 * UPRN, dates).
 *
 * Every validator is a pure function: no allocation, no global state, safe to call from any thread.
 * Validators return 0 when the value is valid and -1 when it is not. On failure a human-readable
 * reason (what is wrong and what a valid value looks like) is written to `why`, truncated to
 * `why_len` bytes and always NUL-terminated; on success `why` is set to the empty string. `why` may
 * be NULL when the caller only needs the verdict.
 *
 * Reasons quote only the offending part of a value (a letter, a prefix, a date component), never a
 * whole NHS or NI number, so they can be shown to data stewards. They may still contain fragments
 * of personal data, so treat them as such in logs.
 */
#ifndef JOINERY_HUB_VALIDATE_H
#define JOINERY_HUB_VALIDATE_H

#include <stddef.h>

/* The length of the well-formed UTF-8 character at P (at most LEFT bytes), or 0 if there is
 * none: the table of RFC 3629, section 4 (no overlong forms, no surrogates, nothing above
 * U+10FFFF), so whatever it accepts PostgreSQL's text and protobuf's strings accept too. The
 * one UTF-8 rule of the hub and the adapters. On a NUL-terminated string LEFT may be 4: the
 * NUL is no continuation byte, so nothing past it is read. */
size_t validate_utf8_char(const unsigned char *p, size_t left);

/* NHS number: exactly 10 digits, or the display form "943 476 5919" (3-3-4, single spaces).
 * The last digit is the modulus 11 check digit over the first nine (weights 10..2); a check value
 * of 10 means no valid number has those first nine digits. */
int validate_nhs_number(const char *s, char *why, size_t why_len);

/* Writes the 10 bare digits plus NUL to `out`; returns -1 (and writes "") if `s` is invalid. */
int validate_nhs_number_normalise(const char *s, char out[11]);

/* UK National Insurance number: two prefix letters, six digits, optional suffix A-D.
 * Case-insensitive; single spaces are accepted between the groups of "AB 12 34 56 C" and in place
 * of an absent suffix. Rejects prefixes with a first letter D, F, I, Q, U or V, a second letter
 * D, F, I, Q, U, V or O, and the never-issued prefixes BG, GB, KN, NK, NT, TN (temporary reference
 * numbers) and ZZ. */
int validate_ni_number(const char *s, char *why, size_t why_len);

/* UK postcode in any of the formats A9 9AA, A99 9AA, AA9 9AA, AA99 9AA, A9A 9AA, AA9A 9AA with
 * Royal Mail's letter-position rules. Case-insensitive; the outward and inward codes may be
 * separated by one space or none. Also accepts GIR 0AA and the NHS pseudo-postcodes ZZ99 9AA
 * (e.g. ZZ99 3VZ, no fixed abode), which break the letter rules on purpose. */
int validate_postcode(const char *s, char *why, size_t why_len);

/* Writes the canonical form (upper case, one space before the inward code, e.g. "SW1A 1AA") to
 * `out`. Returns -1 (and writes "" when out_len > 0) if `s` is invalid or `out_len` is too small;
 * 9 bytes always suffice. */
int validate_postcode_normalise(const char *s, char *out, size_t out_len);

/* Returns 1 if `normalised` (output of validate_postcode_normalise) is an NHS ZZ99 pseudo-postcode,
 * 0 otherwise, including for NULL. */
int validate_postcode_is_pseudo(const char *normalised);

/* Unique Property Reference Number: 1 to 12 decimal digits with value >= 1. Zero padding counts
 * towards the 12 digits; signs and spaces are rejected. */
int validate_uprn(const char *s, char *why, size_t why_len);

/* Calendar date written exactly "YYYY-MM-DD" (years 0001-9999, Gregorian leap years). */
int validate_date(const char *iso, char *why, size_t why_len);

/* Checks birth and death dates against `today` (an ISO date, passed in so results are
 * reproducible). Either date may be NULL when unknown. Birth must not be after today nor before
 * 1880-01-01; death must not be after today nor before birth (the same day is allowed). */
int validate_birth_death(const char *birth, const char *death, const char *today, char *why,
                         size_t why_len);

#endif /* JOINERY_HUB_VALIDATE_H */
