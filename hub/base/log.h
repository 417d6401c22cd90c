/* log.h - leveled, timestamped log lines on stderr, plain or JSON.
 *
 * One line per event worth logging, never one per routed event. The level and
 * format are process configuration, set once by main before threads start;
 * that is the only mutable global the hub keeps. */
#ifndef JOINERY_LOG_H
#define JOINERY_LOG_H

#include <stdarg.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level_t;
typedef enum { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON } log_format_t;

/* Set once at start-up, before any thread is created. */
void log_configure(log_level_t level, log_format_t format);
/* "debug" "info" "warn" "error" -> level; -1 if unknown. */
int log_level_parse(const char *s);
/* "text" "json" -> format; -1 if unknown. */
int log_format_parse(const char *s);
int log_enabled(log_level_t level);

void log_write(log_level_t level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(mod, ...)                                                                        \
    do {                                                                                           \
        if (log_enabled(LOG_DEBUG))                                                                \
            log_write(LOG_DEBUG, mod, __VA_ARGS__);                                                \
    } while (0)
#define log_info(mod, ...) log_write(LOG_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...) log_write(LOG_WARN, mod, __VA_ARGS__)
#define log_error(mod, ...) log_write(LOG_ERROR, mod, __VA_ARGS__)

#endif
