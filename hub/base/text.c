/* text.c - see text.h. */
#include "base/text.h"

#include <stdint.h>
#include <stdio.h>

/* The length of the well-formed character at P (at most LEFT bytes), or 0 if
 * there is none: the table of RFC 3629, section 4, so that anything this
 * accepts PostgreSQL accepts too. */
static size_t char_len(const uint8_t *p, size_t left)
{
    uint8_t c = p[0];
    size_t n;
    uint8_t lo = 0x80, hi = 0xbf; /* the second byte's range */
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4;
    else
        return 0;
    if (c == 0xe0)
        lo = 0xa0; /* overlong */
    else if (c == 0xed)
        hi = 0x9f; /* surrogates */
    else if (c == 0xf0)
        lo = 0x90; /* overlong */
    else if (c == 0xf4)
        hi = 0x8f; /* above U+10FFFF */
    if (left < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t k = 2; k < n; k++)
        if ((p[k] & 0xc0) != 0x80)
            return 0;
    return n;
}

static bool is_control(uint8_t c)
{
    return c < 0x20 || c == 0x7f;
}

bool text_valid(const void *in, size_t len)
{
    const uint8_t *p = in;
    for (size_t i = 0; i < len;) {
        size_t n = char_len(p + i, len - i);
        if (n == 0 || (n == 1 && is_control(p[i])))
            return false;
        i += n;
    }
    return true;
}

bool text_utf8(const void *in, size_t len)
{
    const uint8_t *p = in;
    for (size_t i = 0; i < len;) {
        size_t n = char_len(p + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

size_t text_clean(char *out, size_t cap, const void *in, size_t len)
{
    const uint8_t *p = in;
    size_t w = 0;
    if (p == NULL)
        len = 0;
    for (size_t i = 0; i < len;) {
        size_t n = char_len(p + i, len - i);
        bool escape = n == 0 || (n == 1 && is_control(p[i]));
        size_t need = escape ? 4 : n;
        if (w + need >= cap)
            break;
        if (escape) {
            snprintf(out + w, cap - w, "\\x%02x", p[i]);
            n = 1;
        } else {
            for (size_t k = 0; k < n; k++)
                out[w + k] = (char)p[i + k];
        }
        w += need;
        i += n;
    }
    out[w] = '\0';
    return w;
}
