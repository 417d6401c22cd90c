/* text.c - see text.h. */
#include "base/text.h"

#include "match/validate.h"

#include <stdint.h>
#include <stdio.h>

static bool is_control(uint8_t c)
{
    return c < 0x20 || c == 0x7f;
}

bool text_valid(const void *in, size_t len)
{
    const uint8_t *p = in;
    for (size_t i = 0; i < len;) {
        size_t n = validate_utf8_char(p + i, len - i);
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
        size_t n = validate_utf8_char(p + i, len - i);
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
        size_t n = validate_utf8_char(p + i, len - i);
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
