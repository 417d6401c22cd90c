/* hl7.c - the HL7 v2 message index and its accessors. The index is segment offsets only; fields
 * and their parts are found by scanning the segment when asked, which for the handful of values
 * an adapter reads is cheaper than splitting every segment of every message. */
#include "hl7.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    size_t off, len;
} seg_t;

struct hl7_msg {
    const char *buf; /* borrowed from the caller of hl7_parse */
    size_t len;
    hl7_delims_t d;
    int has_msh;
    seg_t *seg; /* CAP entries, owned */
    size_t nseg, cap;
};

static const hl7_delims_t NO_DELIMS = {-1, -1, -1, -1, -1};

hl7_msg_t *hl7_msg_new(size_t max_segments)
{
    if (max_segments == 0)
        return NULL;
    hl7_msg_t *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->seg = calloc(max_segments, sizeof *m->seg);
    if (m->seg == NULL) {
        free(m);
        return NULL;
    }
    m->cap = max_segments;
    m->d = NO_DELIMS;
    return m;
}

void hl7_msg_destroy(hl7_msg_t **m)
{
    if (m == NULL || *m == NULL)
        return;
    free((*m)->seg);
    free(*m);
    *m = NULL;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        (void)vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int is_eol(unsigned char c)
{
    return c == '\r' || c == '\n';
}

static int is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* A delimiter must be something that cannot be data of the kind it separates. */
static int delim_ok(unsigned char c)
{
    return !is_alnum(c) && !is_eol(c) && c != '\0' && c != ' ';
}

/* Where MSH starts: after a byte order mark and any blank lines. */
static size_t msh_start(const unsigned char *b, size_t len)
{
    size_t i = 0;
    if (len >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF)
        i = 3;
    while (i < len && (is_eol(b[i]) || b[i] == ' ' || b[i] == '\t'))
        i++;
    return i;
}

/* Splits the message into segments at \r, \n or \r\n; empty ones are skipped. */
static int index_segments(hl7_msg_t *m, size_t from, char *err, size_t errlen)
{
    const unsigned char *b = (const unsigned char *)m->buf;
    size_t i = from;
    while (i < m->len) {
        size_t start = i;
        while (i < m->len && !is_eol(b[i]))
            i++;
        if (i > start) {
            if (m->nseg == m->cap)
                return fail(err, errlen, "the message has more than %zu segments", m->cap);
            m->seg[m->nseg].off = start;
            m->seg[m->nseg].len = i - start;
            m->nseg++;
        }
        while (i < m->len && is_eol(b[i]))
            i++;
    }
    return 0;
}

/* MSH-2: component, repetition, escape, subcomponent and (2.7 and later) truncation character.
 * Fewer than four leaves the rest unused; each must differ from the others and from MSH-1. */
static int read_encoding(hl7_msg_t *m, const unsigned char *enc, size_t n, char *err, size_t errlen)
{
    if (n > 5)
        return fail(err, errlen, "MSH-2 has %zu encoding characters; HL7 defines at most 5", n);
    int c[5] = {-1, -1, -1, -1, -1};
    for (size_t i = 0; i < n; i++) {
        if (!delim_ok(enc[i]))
            return fail(err, errlen,
                        "MSH-2 encoding character %zu (byte 0x%02X) cannot be a "
                        "delimiter",
                        i + 1, enc[i]);
        if (enc[i] == (unsigned char)m->d.field)
            return fail(err, errlen, "MSH-2 encoding character %zu repeats the field separator",
                        i + 1);
        for (size_t j = 0; j < i; j++)
            if (enc[j] == enc[i])
                return fail(err, errlen, "MSH-2 encoding characters %zu and %zu are the same",
                            j + 1, i + 1);
        c[i] = enc[i];
    }
    m->d.component = c[0];
    m->d.repetition = c[1];
    m->d.escape = c[2];
    m->d.subcomponent = c[3];
    return 0;
}

int hl7_parse(hl7_msg_t *m, const void *buf, size_t len, char *err, size_t errlen)
{
    const unsigned char *b = buf;
    m->buf = buf;
    m->len = buf == NULL ? 0 : len;
    m->d = NO_DELIMS;
    m->has_msh = 0;
    m->nseg = 0;
    size_t i = msh_start(b, m->len);
    if (m->len - i < 4 || memcmp(b + i, "MSH", 3) != 0)
        return fail(err, errlen, "the message does not begin with an MSH segment");
    if (!delim_ok(b[i + 3]))
        return fail(err, errlen, "MSH-1, the field separator, is byte 0x%02X", b[i + 3]);
    m->d.field = b[i + 3];
    if (index_segments(m, i, err, errlen) != 0)
        return -1;
    m->has_msh = 1;
    size_t e = i + 4, n = 0;
    while (e + n < m->len && b[e + n] != (unsigned char)m->d.field && !is_eol(b[e + n]))
        n++;
    return read_encoding(m, b + e, n, err, errlen);
}

int hl7_has_msh(const hl7_msg_t *m)
{
    return m->has_msh;
}

hl7_delims_t hl7_delims(const hl7_msg_t *m)
{
    return m->d;
}

size_t hl7_segment_count(const hl7_msg_t *m)
{
    return m->nseg;
}

hl7_span_t hl7_segment(const hl7_msg_t *m, size_t seg)
{
    hl7_span_t s = {NULL, 0};
    if (seg < m->nseg) {
        s.p = m->buf + m->seg[seg].off;
        s.n = m->seg[seg].len;
    }
    return s;
}

int hl7_segment_is(const hl7_msg_t *m, size_t seg, const char *id)
{
    hl7_span_t s = hl7_segment(m, seg);
    size_t n = strlen(id);
    if (s.n < n || memcmp(s.p, id, n) != 0)
        return 0;
    return s.n == n || (unsigned char)s.p[n] == (unsigned char)m->d.field;
}

long hl7_segment_find(const hl7_msg_t *m, const char *id, size_t from)
{
    for (size_t i = from; i < m->nseg; i++)
        if (hl7_segment_is(m, i, id))
            return (long)i;
    return -1;
}

/* Piece K (0-based) of S split at DELIM; -1 if S has fewer pieces. An unused delimiter (-1)
 * leaves S whole: piece 0 only. */
static int piece(hl7_span_t s, int delim, unsigned k, hl7_span_t *out)
{
    size_t start = 0;
    unsigned at = 0;
    for (size_t i = 0; delim >= 0 && i < s.n && at < k; i++) {
        if ((unsigned char)s.p[i] == (unsigned char)delim) {
            at++;
            start = i + 1;
        }
    }
    if (at < k) {
        *out = (hl7_span_t){NULL, 0};
        return -1;
    }
    size_t end = start;
    while (end < s.n && (delim < 0 || (unsigned char)s.p[end] != (unsigned char)delim))
        end++;
    out->p = end > start ? s.p + start : NULL;
    out->n = end - start;
    return 0;
}

/* The whole of FIELD, repetitions and all. MSH counts its fields from the separator itself. */
static int whole_field(const hl7_msg_t *m, size_t seg, unsigned field, hl7_span_t *out)
{
    *out = (hl7_span_t){NULL, 0};
    hl7_span_t s = hl7_segment(m, seg);
    if (field == 0 || s.n == 0 || m->d.field < 0)
        return -1;
    if (hl7_segment_is(m, seg, "MSH")) {
        if (field == 1) {
            if (s.n < 4)
                return -1;
            *out = (hl7_span_t){s.p + 3, 1};
            return 0;
        }
        field--;
    }
    return piece(s, m->d.field, field, out);
}

int hl7_get(const hl7_msg_t *m, size_t seg, unsigned field, unsigned rep, unsigned comp,
            unsigned sub, hl7_span_t *out)
{
    hl7_span_t f;
    if (whole_field(m, seg, field, &f) != 0) {
        *out = f;
        return -1;
    }
    /* MSH-1 and MSH-2 hold the delimiters themselves: never split. */
    if (field <= 2 && hl7_segment_is(m, seg, "MSH")) {
        *out = f;
        if (rep > 1 || comp > 1 || sub > 1) {
            *out = (hl7_span_t){NULL, 0};
            return -1;
        }
        return 0;
    }
    hl7_span_t r, c;
    if (piece(f, m->d.repetition, rep ? rep - 1 : 0, &r) != 0) {
        *out = r;
        return -1;
    }
    if (comp == 0) {
        *out = r;
        return 0;
    }
    if (piece(r, m->d.component, comp - 1, &c) != 0) {
        *out = c;
        return -1;
    }
    if (sub == 0) {
        *out = c;
        return 0;
    }
    return piece(c, m->d.subcomponent, sub - 1, out);
}

unsigned hl7_repetitions(const hl7_msg_t *m, size_t seg, unsigned field)
{
    hl7_span_t f;
    if (whole_field(m, seg, field, &f) != 0 || f.n == 0)
        return 0;
    if (field <= 2 && hl7_segment_is(m, seg, "MSH"))
        return 1;
    unsigned n = 1;
    for (size_t i = 0; m->d.repetition >= 0 && i < f.n; i++)
        if ((unsigned char)f.p[i] == (unsigned char)m->d.repetition)
            n++;
    return n;
}

int hl7_is_null(hl7_span_t v)
{
    return v.n == 2 && v.p[0] == '"' && v.p[1] == '"';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

typedef struct {
    char *out;
    size_t cap, n;
    int bad; /* out of room, or a NUL byte */
} sink_t;

static void put(sink_t *s, int c)
{
    if (c == 0 || s->n + 1 >= s->cap) {
        s->bad = 1;
        return;
    }
    s->out[s->n++] = (char)c;
}

static void put_span(sink_t *s, const char *p, size_t n)
{
    for (size_t i = 0; i < n && !s->bad; i++)
        put(s, (unsigned char)p[i]);
}

/* \Xhhhh\: 1 if every character is a hex digit and there is an even number of them. */
static int hex_ok(const char *p, size_t n)
{
    if (n == 0 || n % 2 != 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (hexval(p[i]) < 0)
            return 0;
    return 1;
}

/* One escape sequence's body (between the escape characters): 1 if it was understood. */
static int unescape(const hl7_delims_t *d, sink_t *s, const char *p, size_t n)
{
    if (n == 1) {
        int c;
        switch (p[0]) {
        case 'F':
            c = d->field;
            break;
        case 'S':
            c = d->component;
            break;
        case 'T':
            c = d->subcomponent;
            break;
        case 'R':
            c = d->repetition;
            break;
        case 'E':
            c = d->escape;
            break;
        case 'H': /* highlighting on and off: no text */
        case 'N':
            return 1;
        default:
            return 0;
        }
        if (c < 0) /* a delimiter the message does not use: no escape for it either */
            return 0;
        put(s, c);
        return 1;
    }
    if (n >= 1 && p[0] == 'X' && hex_ok(p + 1, n - 1)) {
        for (size_t i = 1; i + 1 < n; i += 2)
            put(s, hexval(p[i]) * 16 + hexval(p[i + 1]));
        return 1;
    }
    if (n == 3 && memcmp(p, ".br", 3) == 0) {
        put(s, '\n');
        return 1;
    }
    return n >= 1 && (p[0] == 'C' || p[0] == 'M' || p[0] == 'Z');
}

int hl7_decode(const hl7_msg_t *m, hl7_span_t v, char *out, size_t cap, size_t *written)
{
    if (cap == 0)
        return -1;
    sink_t s = {out, cap, 0, 0};
    const int esc = m->d.escape;
    size_t i = 0;
    while (i < v.n && !s.bad) {
        if (esc < 0 || (unsigned char)v.p[i] != (unsigned char)esc) {
            put(&s, (unsigned char)v.p[i++]);
            continue;
        }
        size_t j = i + 1;
        while (j < v.n && (unsigned char)v.p[j] != (unsigned char)esc)
            j++;
        if (j == v.n) { /* no closing escape: the rest is text */
            put_span(&s, v.p + i, v.n - i);
            break;
        }
        if (!unescape(&m->d, &s, v.p + i + 1, j - i - 1))
            put_span(&s, v.p + i, j - i + 1);
        i = j + 1;
    }
    out[s.bad ? 0 : s.n] = '\0';
    if (s.bad)
        return -1;
    if (written != NULL)
        *written = s.n;
    return 0;
}

int hl7_version(const hl7_msg_t *m)
{
    hl7_span_t v;
    if (!m->has_msh || hl7_get(m, 0, 12, 1, 1, 0, &v) != 0)
        return 0;
    size_t i = 0;
    int major = 0, minor = 0;
    while (i < v.n && v.p[i] >= '0' && v.p[i] <= '9' && major < 100)
        major = major * 10 + (v.p[i++] - '0');
    if (i == 0 || i >= v.n || v.p[i] != '.')
        return 0;
    size_t k = ++i;
    while (i < v.n && v.p[i] >= '0' && v.p[i] <= '9' && minor < 100)
        minor = minor * 10 + (v.p[i++] - '0');
    if (i == k || minor > 99 || (i < v.n && v.p[i] != '.'))
        return 0;
    return major * 100 + minor;
}
