/* err.c - see err.h. */
#include "base/err.h"

#include <stdio.h>

int err_vset(char *err, size_t errlen, const char *fmt, va_list ap)
{
    if (err == NULL || errlen == 0)
        return -1;
    (void)vsnprintf(err, errlen, fmt, ap);
    return -1;
}

int err_set(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = err_vset(err, errlen, fmt, ap);
    va_end(ap);
    return rc;
}
