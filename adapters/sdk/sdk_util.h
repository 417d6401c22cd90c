/* sdk_util.h - small helpers shared by the SDK modules: error messages, clocks and a growable
 * byte buffer that is reused so the hot path does not allocate per event. */
#ifndef JOINERY_SDK_UTIL_H
#define JOINERY_SDK_UTIL_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
} sdk_buf_t;

/* Formats into err (if err is not NULL and errlen > 0), always NUL-terminated. */
void sdk_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Monotonic milliseconds: for timers, immune to wall-clock steps. */
int64_t sdk_now_ms(void);
/* Wall-clock UTC microseconds since the epoch: for occurred_at. */
int64_t sdk_wall_us(void);

/* Makes room for at least n bytes in total (keeps len). 0, or -1 when out of memory. */
int sdk_buf_reserve(sdk_buf_t *b, size_t n);
/* Appends n bytes. 0 or -1. */
int sdk_buf_append(sdk_buf_t *b, const void *p, size_t n);
void sdk_buf_free(sdk_buf_t *b);

/* Copies s (NULL -> NULL) into fresh memory; NULL only when s is NULL or memory ran out. */
char *sdk_strdup(const char *s);
/* Copies at most dstlen-1 bytes of src and NUL-terminates; src NULL -> "". */
void sdk_strlcpy(char *dst, const char *src, size_t dstlen);

/* Whether name is a valid adapter or key-file name: [a-z0-9_-]{1,64}. */
int sdk_name_valid(const char *name);

#endif
