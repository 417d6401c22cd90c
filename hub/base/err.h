/* err.h - the hub's way of leaving a message: a function that fails writes one
 * line into the caller's buffer (ERR, ERRLEN; either may be NULL/0) and
 * returns -1, so `return err_set(err, errlen, "...", ...)` is the whole
 * failure path. */
#ifndef JOINERY_ERR_H
#define JOINERY_ERR_H

#include <stdarg.h>
#include <stddef.h>

/* Formats FMT into ERR (truncated to ERRLEN) and returns -1. */
int err_set(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same with a va_list, for wrappers of their own. */
int err_vset(char *err, size_t errlen, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif
