/* adapter_log.h - an adapter's log: one line per event on stderr, "TIME LEVEL name: text", so a
 * service manager (systemd, docker) collects it and an operator can grep it. The level is the
 * only process-wide setting, and it is configuration: set once from the adapter's YAML. */
#ifndef JOINERY_ADAPTER_LOG_H
#define JOINERY_ADAPTER_LOG_H

#include <stddef.h>

typedef enum {
    ADAPTER_LOG_DEBUG,
    ADAPTER_LOG_INFO,
    ADAPTER_LOG_WARN,
    ADAPTER_LOG_ERROR,
} adapter_log_level_t;

/* NAME (e.g. "joinery-health", kept by pointer: a string literal) and the lowest level written. */
void adapter_log_setup(const char *name, adapter_log_level_t level);
/* 0 and *OUT for "debug", "info", "warn" or "error"; -1 otherwise. */
int adapter_log_level_parse(const char *text, adapter_log_level_t *out);
int adapter_log_enabled(adapter_log_level_t level);
void adapter_log(adapter_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Writes LEN bytes of DATA into OUT (CAP bytes, NUL-terminated) as printable ASCII: "\r" for a
 * segment end, "\xNN" for any other byte outside 0x20-0x7e and for the backslash, so refused bytes
 * can go into a log line whatever they were. Cut short, it ends with "...". */
void adapter_log_escape(const void *data, size_t len, char *out, size_t cap);

#endif
