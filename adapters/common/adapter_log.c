/* adapter_log.c - the adapter's log lines (contract in adapter_log.h). */
#include "adapter_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Configuration, set once at start-up before anything logs. */
static const char *log_name = "adapter";
static adapter_log_level_t log_level = ADAPTER_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void adapter_log_setup(const char *name, adapter_log_level_t level)
{
    if (name != NULL)
        log_name = name;
    log_level = level;
}

int adapter_log_level_parse(const char *text, adapter_log_level_t *out)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcmp(text, level_names[i]) == 0) {
            *out = (adapter_log_level_t)i;
            return 0;
        }
    }
    return -1;
}

int adapter_log_enabled(adapter_log_level_t level)
{
    return level >= log_level;
}

void adapter_log(adapter_log_level_t level, const char *fmt, ...)
{
    if (level < log_level)
        return;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    (void)gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line,
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_names[level], log_name);
    if (n < 0 || (size_t)n >= sizeof line)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    /* One write per line, so lines from a crash handler or a child never interleave inside one. */
    (void)fprintf(stderr, "%s\n", line);
}

void adapter_log_escape(const void *data, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = data;
    size_t o = 0;
    if (cap == 0)
        return;
    for (size_t i = 0; i < len; i++) {
        unsigned char b = p[i];
        char tmp[4];
        size_t k = 0;
        if (b == '\r') {
            tmp[k++] = '\\';
            tmp[k++] = 'r';
        } else if (b >= 0x20 && b < 0x7f && b != '\\') {
            tmp[k++] = (char)b;
        } else {
            tmp[k++] = '\\';
            tmp[k++] = 'x';
            tmp[k++] = hex[b >> 4];
            tmp[k++] = hex[b & 15];
        }
        if (o + k + 4 > cap) {
            if (cap >= 4) {
                o = o + 4 <= cap ? o : cap - 4;
                memcpy(out + o, "...", 3);
                o += 3;
            }
            break;
        }
        memcpy(out + o, tmp, k);
        o += k;
    }
    out[o < cap ? o : cap - 1] = '\0';
}
