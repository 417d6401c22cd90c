/* adapter_csv.c - the CSV reader and writer (contract in adapter_csv.h).
 *
 * One pass over the bytes with a four-state machine per field. Decoded fields go into one buffer
 * sized for the longest row allowed (a decoded field is never longer than it was written), each
 * followed by a NUL, so a row costs no allocation. */
#include "adapter_csv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match/validate.h"

typedef enum { F_START, F_PLAIN, F_QUOTED, F_AFTER_QUOTE } fstate_t;

struct adapter_csv {
    adapter_csv_opts_t o;
    const unsigned char *p;
    size_t len, pos;
    unsigned long line;
    char *buf;          /* decoded fields, each NUL-terminated; max_row + max_fields bytes; owned */
    const char **field; /* max_fields; owned */
    size_t *flen;       /* max_fields; owned */
};

/* The state of the row being read. */
typedef struct {
    size_t start;        /* offset of the row */
    size_t line_start;   /* offset of the current physical line, for columns */
    size_t used, fstart; /* bytes of buf used; where the current field began */
    size_t nf;           /* fields done */
    fstate_t st;
    unsigned long qline; /* line and offset where the open quote was */
    size_t qline_start, qpos;
} rowstate_t;

adapter_csv_t *adapter_csv_new(const adapter_csv_opts_t *o, const void *data, size_t len)
{
    adapter_csv_opts_t d = o ? *o : (adapter_csv_opts_t){0};
    if (d.delimiter == 0)
        d.delimiter = ',';
    if (d.delimiter == '"' || d.delimiter == '\r' || d.delimiter == '\n' ||
        (unsigned char)d.delimiter >= 0x80)
        return NULL;
    if (d.max_field == 0)
        d.max_field = 4096;
    if (d.max_fields == 0)
        d.max_fields = 64;
    if (d.max_row == 0)
        d.max_row = 65536;
    adapter_csv_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->o = d;
    r->p = data;
    r->len = len;
    r->line = 1;
    r->buf = malloc(d.max_row + d.max_fields + 1);
    r->field = calloc(d.max_fields, sizeof *r->field);
    r->flen = calloc(d.max_fields, sizeof *r->flen);
    if (r->buf == NULL || r->field == NULL || r->flen == NULL) {
        adapter_csv_destroy(&r);
        return NULL;
    }
    /* A byte order mark is how Windows tools say "UTF-8"; it is not part of the first field. */
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        r->pos = 3;
    return r;
}

void adapter_csv_destroy(adapter_csv_t **r)
{
    if (r == NULL || *r == NULL)
        return;
    free((*r)->buf);
    free((*r)->field);
    free((*r)->flen);
    free(*r);
    *r = NULL;
}

size_t adapter_csv_offset(const adapter_csv_t *r)
{
    return r->pos;
}

/* Offset just past the line break that ends the physical line holding AT (or the end). */
static size_t after_line(const adapter_csv_t *r, size_t at, size_t *line_end)
{
    while (at < r->len && r->p[at] != '\n' && r->p[at] != '\r')
        at++;
    *line_end = at;
    if (at < r->len && r->p[at] == '\r')
        at++;
    if (at < r->len && r->p[at] == '\n')
        at++;
    return at;
}

static int fail(adapter_csv_t *r, const rowstate_t *s, adapter_csv_error_t *e, size_t at,
                int from_quote, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Reports the error at offset AT and moves past the line it is on (or, for a quote that runs
 * away, past the line the quote opened on: what follows is then read as rows again). */
static int fail(adapter_csv_t *r, const rowstate_t *s, adapter_csv_error_t *e, size_t at,
                int from_quote, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    /* cppcheck-suppress ctuuninitvar ; E is written here, not read: callers need not clear it */
    (void)vsnprintf(e->reason, sizeof e->reason, fmt, ap);
    va_end(ap);
    size_t line_end, resume;
    if (from_quote) {
        e->line = s->qline;
        e->column = (unsigned long)(s->qpos - s->qline_start + 1);
        resume = after_line(r, s->qpos, &line_end);
        r->line = s->qline + 1;
    } else {
        e->line = r->line;
        e->column = (unsigned long)(at - s->line_start + 1);
        resume = after_line(r, at, &line_end);
        r->line++;
    }
    e->field = s->nf + 1;
    e->raw = (const char *)r->p + s->start;
    e->raw_len = line_end - s->start;
    r->pos = resume;
    return -1;
}

static int end_field(adapter_csv_t *r, rowstate_t *s, adapter_csv_error_t *e)
{
    if (s->nf == r->o.max_fields)
        return fail(r, s, e, r->pos, 0, "more than %zu fields in the row", r->o.max_fields);
    r->buf[s->used] = '\0';
    r->field[s->nf] = r->buf + s->fstart;
    r->flen[s->nf] = s->used - s->fstart;
    s->nf++;
    s->used++;
    s->fstart = s->used;
    return 0;
}

static int append(adapter_csv_t *r, rowstate_t *s, adapter_csv_error_t *e, const unsigned char *c,
                  size_t n)
{
    if (s->used - s->fstart + n > r->o.max_field)
        return fail(r, s, e, r->pos, s->st == F_QUOTED, "field %zu is longer than %zu bytes%s",
                    s->nf + 1, r->o.max_field,
                    s->st == F_QUOTED ? " (is a quote not closed?)" : "");
    memcpy(r->buf + s->used, c, n);
    s->used += n;
    return 0;
}

/* Consumes the line break at r->pos (CRLF, LF or CR). */
static void take_break(adapter_csv_t *r)
{
    if (r->p[r->pos] == '\r' && r->pos + 1 < r->len && r->p[r->pos + 1] == '\n')
        r->pos++;
    r->pos++;
    r->line++;
}

static void fill_row(adapter_csv_t *r, const rowstate_t *s, size_t end, adapter_csv_row_t *row,
                     unsigned long line)
{
    row->field = r->field;
    row->len = r->flen;
    row->nfields = s->nf;
    row->line = line;
    row->raw = (const char *)r->p + s->start;
    row->raw_len = end - s->start;
}

/* One byte (or UTF-8 character, N bytes) C at r->pos in a quoted field. */
static int quoted(adapter_csv_t *r, rowstate_t *s, adapter_csv_error_t *e, size_t n)
{
    const unsigned char *c = r->p + r->pos;
    if (*c == '"') {
        if (r->pos + 1 < r->len && c[1] == '"') {
            if (append(r, s, e, c, 1) != 0)
                return -1;
            r->pos += 2;
            return 0;
        }
        s->st = F_AFTER_QUOTE;
        r->pos++;
        return 0;
    }
    if (append(r, s, e, c, n) != 0)
        return -1;
    r->pos += n;
    /* A line break inside quotes is data, but it still starts a new line of the file. */
    if (*c == '\n' || (*c == '\r' && !(r->pos < r->len && r->p[r->pos] == '\n'))) {
        r->line++;
        s->line_start = r->pos;
    }
    return 0;
}

int adapter_csv_next(adapter_csv_t *r, adapter_csv_row_t *row, adapter_csv_error_t *e)
{
    /* Blank lines are not rows. */
    while (r->pos < r->len && (r->p[r->pos] == '\n' || r->p[r->pos] == '\r'))
        take_break(r);
    if (r->pos >= r->len)
        return 0;
    rowstate_t s = {.start = r->pos, .line_start = r->pos, .st = F_START};
    unsigned long first_line = r->line;
    const char delim = r->o.delimiter;
    for (;;) {
        if (r->pos - s.start > r->o.max_row)
            return fail(r, &s, e, r->pos, s.st == F_QUOTED, "the row is longer than %zu bytes%s",
                        r->o.max_row, s.st == F_QUOTED ? " (is a quote not closed?)" : "");
        if (r->pos >= r->len) {
            if (s.st == F_QUOTED)
                return fail(r, &s, e, r->pos, 1, "a quoted field opened here is never closed");
            if (end_field(r, &s, e) != 0)
                return -1;
            fill_row(r, &s, r->len, row, first_line);
            return 1;
        }
        const unsigned char *c = r->p + r->pos;
        size_t n = 1;
        if (*c == 0)
            return fail(r, &s, e, r->pos, 0, "a NUL byte: this is not a text file");
        if (*c >= 0x80 && (n = validate_utf8_char(c, r->len - r->pos)) == 0)
            return fail(r, &s, e, r->pos, 0, "byte 0x%02X is not valid UTF-8 here", *c);
        switch (s.st) {
        case F_QUOTED:
            if (quoted(r, &s, e, n) != 0)
                return -1;
            continue;
        case F_START:
            if (*c == '"') {
                s.st = F_QUOTED;
                s.qline = r->line;
                s.qline_start = s.line_start;
                s.qpos = r->pos;
                r->pos++;
                continue;
            }
            break;
        case F_PLAIN:
            if (*c == '"')
                return fail(r, &s, e, r->pos, 0,
                            "a quote inside an unquoted field (quote the whole field and double "
                            "the quote)");
            break;
        case F_AFTER_QUOTE:
            if (*c != (unsigned char)delim && *c != '\n' && *c != '\r')
                return fail(r, &s, e, r->pos, 0, "text after the closing quote of field %zu",
                            s.nf + 1);
            break;
        }
        if (*c == (unsigned char)delim) {
            if (end_field(r, &s, e) != 0)
                return -1;
            s.st = F_START;
            r->pos++;
        } else if (*c == '\n' || *c == '\r') {
            if (end_field(r, &s, e) != 0)
                return -1;
            fill_row(r, &s, r->pos, row, first_line);
            take_break(r);
            return 1;
        } else {
            if (append(r, &s, e, c, n) != 0)
                return -1;
            s.st = F_PLAIN;
            r->pos += n;
        }
    }
}

static int needs_quotes(const char *s, size_t n, char delim)
{
    if (n > 0 && (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        return 1;
    /* A value that begins with U+FEFF would, first in a file, be read as a byte order mark. */
    if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        return 1;
    for (size_t i = 0; i < n; i++)
        if (s[i] == delim || s[i] == '"' || s[i] == '\r' || s[i] == '\n')
            return 1;
    return 0;
}

int adapter_csv_write_row(char *out, size_t cap, size_t *used, const char *const *fields, size_t n,
                          char delimiter)
{
    size_t u = *used;
    for (size_t i = 0; i < n; i++) {
        const char *f = fields[i] ? fields[i] : "";
        size_t len = strlen(f);
        int q = needs_quotes(f, len, delimiter);
        if (i > 0) {
            if (u + 1 > cap)
                return -1;
            out[u++] = delimiter;
        }
        if (q) {
            if (u + 1 > cap)
                return -1;
            out[u++] = '"';
        }
        for (size_t k = 0; k < len; k++) {
            size_t need = (q && f[k] == '"') ? 2 : 1;
            if (u + need > cap)
                return -1;
            if (need == 2)
                out[u++] = '"';
            out[u++] = f[k];
        }
        if (q) {
            if (u + 1 > cap)
                return -1;
            out[u++] = '"';
        }
    }
    if (u + 2 > cap)
        return -1;
    out[u++] = '\r';
    out[u++] = '\n';
    *used = u;
    return 0;
}
