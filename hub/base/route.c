/* route.c - see route.h. Matching runs once per journaled event per
 * subscription, so it walks the strings in place without splitting them. */
#include "base/route.h"

#include <string.h>

static size_t seg_len(const char *s, size_t n)
{
    const char *dot = memchr(s, '.', n);
    return dot ? (size_t)(dot - s) : n;
}

bool route_match(const char *pattern, const char *type, size_t type_len)
{
    const char *p = pattern;
    size_t plen = strlen(pattern);
    const char *t = type;
    size_t tlen = type_len;
    for (;;) {
        size_t ps = seg_len(p, plen), ts = seg_len(t, tlen);
        bool p_last = ps == plen;
        if (ps == 1 && p[0] == '*') {
            if (p_last)
                return tlen > 0; /* trailing '*' takes the rest */
            if (ts == 0)
                return false;
        } else if (ps != ts || memcmp(p, t, ps) != 0) {
            return false;
        }
        bool t_last = ts == tlen;
        if (p_last || t_last)
            return p_last && t_last;
        p += ps + 1;
        plen -= ps + 1;
        t += ts + 1;
        tlen -= ts + 1;
    }
}

bool route_match_any(char *const *patterns, size_t n, const char *type, size_t type_len)
{
    for (size_t i = 0; i < n; i++)
        if (route_match(patterns[i], type, type_len))
            return true;
    return false;
}

/* A requested pattern is covered when a permitted pattern matches it read as a
 * type in which '*' is a literal segment: "person.*" covers "person.*" and
 * "person.updated"; "person.updated" does not cover "person.*". */
bool route_covered(char *const *permitted, size_t n, const char *requested)
{
    size_t rlen = strlen(requested);
    for (size_t i = 0; i < n; i++) {
        const char *p = permitted[i];
        if (strcmp(p, requested) == 0)
            return true;
        if (route_match(p, requested, rlen)) {
            /* '*' in the request must fall under a '*' in the permission. */
            size_t pl = strlen(p);
            bool p_tail = pl >= 1 && p[pl - 1] == '*' && (pl == 1 || p[pl - 2] == '.');
            if (!strchr(requested, '*') || p_tail)
                return true;
        }
    }
    return false;
}

static bool seg_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static bool segments_valid(const char *s, size_t len, bool allow_star)
{
    if (len == 0 || len > 128)
        return false;
    size_t seg = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            if (seg == 0)
                return false;
            if (allow_star && seg > 1 && memchr(s + i - seg, '*', seg))
                return false;
            seg = 0;
        } else if (seg_char(s[i]) || (allow_star && s[i] == '*')) {
            seg++;
        } else {
            return false;
        }
    }
    return true;
}

bool route_type_valid(const char *s, size_t len)
{
    return segments_valid(s, len, false);
}

bool route_pattern_valid(const char *s)
{
    return segments_valid(s, strlen(s), true);
}
