/* match_int.h - what the modules of lib/match share and callers must not use: buffer sizes, the
 * normalised forms the comparisons are defined on, and the few functions one module calls in
 * another. Every name here starts with mi_ ("match internal"); the library's API is match.h and
 * validate.h, and nothing outside lib/match includes this file. See README.md for the modules. */
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

#endif
