/* log.c - see log.h. Each line is formatted into one buffer and written with a
 * single write(2) so lines from several threads never interleave. */
#include "base/log.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static log_level_t log_min_level = LOG_INFO;
static log_format_t log_out_format = LOG_FORMAT_TEXT;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_configure(log_level_t level, log_format_t format)
{
    log_min_level = level;
    log_out_format = format;
}

int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (s && strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

int log_format_parse(const char *s)
{
    if (s && strcmp(s, "text") == 0)
        return LOG_FORMAT_TEXT;
    if (s && strcmp(s, "json") == 0)
        return LOG_FORMAT_JSON;
    return -1;
}

int log_enabled(log_level_t level)
{
    return level >= log_min_level;
}

/* JSON-escape src into dst; truncates rather than overflows. */
static size_t json_escape(char *dst, size_t cap, const char *src)
{
    size_t n = 0;
    for (; *src && n + 7 < cap; src++) {
        unsigned char c = (unsigned char)*src;
        if (c == '"' || c == '\\') {
            dst[n++] = '\\';
            dst[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(dst + n, cap - n, "\\u%04x", c);
        } else {
            dst[n++] = (char)c;
        }
    }
    dst[n] = '\0';
    return n;
}

void log_write(log_level_t level, const char *module, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    size_t tl = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + tl, sizeof ts - tl, ".%03ldZ", (long)(tv.tv_usec / 1000));

    char line[4608];
    int len;
    if (log_out_format == LOG_FORMAT_JSON) {
        char esc[4096];
        json_escape(esc, sizeof esc, msg);
        len = snprintf(line, sizeof line,
                       "{\"ts\":\"%s\",\"level\":\"%s\",\"module\":\"%s\",\"msg\":\"%s\"}\n", ts,
                       level_names[level], module, esc);
    } else {
        len = snprintf(line, sizeof line, "%s %-5s [%s] %s\n", ts, level_names[level], module, msg);
    }
    if (len < 0)
        return;
    if ((size_t)len >= sizeof line)
        len = (int)sizeof line - 1;
    ssize_t w = write(STDERR_FILENO, line, (size_t)len);
    (void)w; /* nothing sensible to do if stderr is gone */
}
