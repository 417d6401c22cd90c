/* match_int.h - what the modules of lib/match share and callers must not use: buffer sizes, the
 * normalised forms the comparisons are defined on, and the few functions one module calls in
 * another. Its functions and types start with mi_ ("match internal"); the library's API is
 * match.h and validate.h, and nothing outside lib/match includes this file. See README.md for the
 * modules. */
#ifndef JOINERY_MATCH_INT_H
#define JOINERY_MATCH_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "match/match.h"

/* Longest normalised name we keep. Real forenames/surnames are far shorter; anything longer is a
 * data-entry accident and comparing its first 63 letters loses nothing. */
#define NAME_BUF MATCH_NAME_BUF
#define EMAIL_BUF 256
#define PHONE_BUF MATCH_PHONE_BUF

/* normalise.c ------------------------------------------------------------------------------ */

/* The upper-case ASCII letters a UTF-8 character at *s stands for (up to 2, NUL-terminated in
 * out), advancing *s past it; out[0] is NUL for anything that is not a letter. */
void mi_fold_utf8(const char **s, char out[3]);
/* Upper-case letters only, diacritics folded (match_norm_name); returns the length written. */
size_t mi_norm_letters(const char *in, char *out, size_t out_len);

/* A valid NHS number's 10 digits into OUT (1), or 0; see match_nhs_number_valid. */
int mi_nhs_normalise(const char *nhs, char out[11]);
/* A valid NI number's 8-character core into CORE and its suffix letter (or NUL) into *SUFFIX (1),
 * or 0. */
int mi_ni_normalise(const char *ni, char core[9], char *suffix);

typedef struct {
    int y, m, d;
} mi_ymd_t;
/* A birth date as the matcher reads it (1), or 0: "missing". */
int mi_parse_date(const char *s, mi_ymd_t *out);
long mi_days_from_civil(mi_ymd_t t); /* days since 1970-01-01 */

typedef struct {
    char full[9];   /* "SW1A 1AA" */
    char sector[7]; /* "SW1A 1" */
    char outward[5];
    char area[3]; /* "SW", "B" */
    int parsed;   /* 0: not a UK postcode shape, compare only exactly */
} mi_postcode_t;

/* A postcode as the matcher compares it (1), or 0: "missing". */
int mi_parse_postcode(const char *in, mi_postcode_t *pc);

/* Digits with +44 folded to 0 (1: at least 7 of them), or 0: "missing". */
int mi_norm_phone(const char *in, char *out, size_t out_len);
/* Lower case, blanks trimmed (1: has a local part and a domain), or 0: "missing". */
int mi_norm_email(const char *in, char *out, size_t out_len);
/* A shared identifier as compared: its letters (upper case) and digits, at most LEN - 1 of them;
 * 0 when it has none or more than that (a value cut short could equal another). */
size_t mi_norm_shared_id(const char *in, char *out, size_t len);
#define SHARED_ID_BUF 25
int mi_sex_code(const char *s); /* 1 male, 2 female, 3 other, 0 missing/unknown */
/* 64-bit FNV-1a: stable across platforms and runs, which blocking keys stored in an index need. */
uint64_t mi_fnv1a(const char *s);

/* nickname.c ------------------------------------------------------------------------------- */

/* Finds the prepared forename O->given in the nickname and opposite-sex indexes (O->nick_at,
 * nick_n, gend_at, gend_n), once per person, so that a pair's questions below cost no search. */
void mi_forename_runs(match_prep_t *o);
int mi_nicknames(const match_prep_t *a, const match_prep_t *b);          /* one nickname group */
int mi_opposite_sex_forms(const match_prep_t *a, const match_prep_t *b); /* Alexander/Alexandra */
/* NORM (a normalised forename) is a short form of two formal names (Alex, Sam, Chris). */
int mi_forename_shared_by_two_names(const char *norm);
/* NORM is one keystroke from its own opposite-sex form (Martin/Martina, John/Joan). */
int mi_typo_from_opposite_sex_form(const char *norm);

/* compare.c -------------------------------------------------------------------------------- */

/* strcmp(a, b) == 0, without the call for the many pairs whose first letters already differ:
 * it runs several times for each of an event's ~20 candidates. */
static inline int str_eq(const char *a, const char *b)
{
    return a[0] == b[0] && strcmp(a, b) == 0;
}

/* Every field's comparison level for a pair (match_level's, on prepared persons). */
void mi_levels(const match_prep_t *a, const match_prep_t *b, int level[MATCH_FIELD_COUNT]);
/* The address and locality of P into O's house, street, street_word and locality (the rest of O
 * untouched), as match_prepare does. */
void mi_prepare_place(const match_person_t *p, match_prep_t *o);
/* A UK mobile number (07..., also written +44 7...): one person's, unlike a household landline. */
int mi_is_mobile(const match_prep_t *p);

/* The most an address weighs within one UK postcode (place_weights in match.c): log2(0.9/0.067),
 * the same house where one household in fifteen lives. */
#define MATCH_IN_POSTCODE_MAX 3.7477

/* match.c ---------------------------------------------------------------------------------- */

/* Field F's weight at LEVEL for a pair whose incoming record is A: log2(m/u), or log2(m/tf) for an
 * exact name whose frequency the hook knows; 0 for a missing or out-of-range level. */
double mi_field_weight(const match_params_t *p, match_field_t f, int level, match_tf_fn tf,
                       void *tf_ctx, const match_prep_t *a);

#endif
