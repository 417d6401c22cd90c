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

#endif
