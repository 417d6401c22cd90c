/* hl7_ack.c - writing the ACK: a bounded writer and one function per segment. */
#include "hl7_ack.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    char *out;
    size_t cap, n;
    int full;
    hl7_delims_t d;
    int same; /* the ACK uses the original's delimiters: its raw fields can be copied as they are */
} writer_t;

const char *hl7_ack_code_name(hl7_ack_code_t c)
{
    return c == HL7_AA ? "AA" : c == HL7_AE ? "AE" : "AR";
}

static const char *code_name(unsigned code)
{
    switch (code) {
    case 0:
        return "Message accepted";
    case HL7_ERR_SEGMENT_SEQUENCE:
        return "Segment sequence error";
    case HL7_ERR_REQUIRED_MISSING:
        return "Required field missing";
    case HL7_ERR_DATA_TYPE:
        return "Data type error";
    case HL7_ERR_TABLE_VALUE:
        return "Table value not found";
    case HL7_ERR_UNSUPPORTED_TYPE:
        return "Unsupported message type";
    case HL7_ERR_UNSUPPORTED_EVENT:
        return "Unsupported event code";
    case HL7_ERR_UNSUPPORTED_PROCESSING_ID:
        return "Unsupported processing id";
    case HL7_ERR_UNSUPPORTED_VERSION:
        return "Unsupported version id";
    default:
        return "Application internal error";
    }
}

static void put(writer_t *w, char c)
{
    if (w->n + 1 >= w->cap) {
        w->full = 1;
        return;
    }
    w->out[w->n++] = c;
}

static void puts_(writer_t *w, const char *s)
{
    for (; *s; s++)
        put(w, *s);
}

static void putd(writer_t *w, int delim)
{
    if (delim >= 0)
        put(w, (char)delim);
}

static void putu(writer_t *w, unsigned v)
{
    char b[16];
    (void)snprintf(b, sizeof b, "%u", v);
    puts_(w, b);
}

static int is_delim(const writer_t *w, unsigned char c)
{
    const hl7_delims_t *d = &w->d;
    return c == (unsigned char)d->field ||
           (d->component >= 0 && c == (unsigned char)d->component) ||
           (d->repetition >= 0 && c == (unsigned char)d->repetition) ||
           (d->escape >= 0 && c == (unsigned char)d->escape) ||
           (d->subcomponent >= 0 && c == (unsigned char)d->subcomponent);
}

/* A field of the original, copied: as it is when the delimiters are the same (its escapes stay
 * valid), with any delimiter of the ACK blanked when they are not. */
static void put_raw(writer_t *w, hl7_span_t v)
{
    for (size_t i = 0; i < v.n; i++) {
        unsigned char c = (unsigned char)v.p[i];
        put(w, (c < 0x20 || (!w->same && is_delim(w, c))) ? ' ' : (char)c);
    }
}

/* Plain text into a field: delimiters escaped, control characters blanked. */
static void put_text(writer_t *w, const char *s)
{
    const hl7_delims_t *d = &w->d;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char e = *p == (unsigned char)d->field                                  ? 'F'
                 : d->component >= 0 && *p == (unsigned char)d->component       ? 'S'
                 : d->repetition >= 0 && *p == (unsigned char)d->repetition     ? 'R'
                 : d->subcomponent >= 0 && *p == (unsigned char)d->subcomponent ? 'T'
                 : d->escape >= 0 && *p == (unsigned char)d->escape             ? 'E'
                                                                                : 0;
        if (e && d->escape >= 0) {
            putd(w, d->escape);
            put(w, e);
            putd(w, d->escape);
        } else {
            put(w, (e || *p < 0x20 || *p == 0x7f) ? ' ' : (char)*p);
        }
    }
}

static hl7_span_t orig(const hl7_msg_t *m, unsigned field, unsigned comp)
{
    hl7_span_t v = {NULL, 0};
    if (hl7_has_msh(m))
        (void)hl7_get(m, 0, field, 1, comp, 0, &v);
    return v;
}

static void msh(writer_t *w, const hl7_msg_t *m, const hl7_ack_t *a)
{
    const int fs = w->d.field;
    puts_(w, "MSH");
    putd(w, fs);
    putd(w, w->d.component);
    putd(w, w->d.repetition);
    putd(w, w->d.escape);
    putd(w, w->d.subcomponent);
    static const unsigned swapped[] = {5, 6, 3, 4};
    for (size_t i = 0; i < 4; i++) {
        putd(w, fs);
        put_raw(w, orig(m, swapped[i], 0));
    }
    putd(w, fs);
    put_text(w, a->timestamp ? a->timestamp : "");
    putd(w, fs);
    putd(w, fs);
    puts_(w, "ACK");
    hl7_span_t trigger = orig(m, 9, 2);
    if (trigger.n > 0 && w->d.component >= 0) {
        putd(w, w->d.component);
        put_raw(w, trigger);
        /* The structure (MSH-9.3) only for a sender that names structures itself. */
        if (orig(m, 9, 3).n > 0) {
            putd(w, w->d.component);
            puts_(w, "ACK");
        }
    }
    putd(w, fs);
    put_text(w, a->control_id ? a->control_id : "");
    putd(w, fs);
    hl7_span_t pid = orig(m, 11, 0);
    if (pid.n > 0)
        put_raw(w, pid);
    else
        put(w, 'P');
    putd(w, fs);
    hl7_span_t ver = orig(m, 12, 1);
    if (ver.n > 0 && hl7_version(m) > 0)
        put_raw(w, ver);
    else
        puts_(w, "2.5");
    put(w, '\r');
}

static void msa(writer_t *w, const hl7_msg_t *m, const hl7_ack_t *a, int old_style)
{
    puts_(w, "MSA");
    putd(w, w->d.field);
    puts_(w, hl7_ack_code_name(a->code));
    putd(w, w->d.field);
    put_raw(w, orig(m, 10, 0));
    if (old_style && a->n_issues > 0) {
        putd(w, w->d.field);
        put_text(w, a->issues[0].text);
    }
    put(w, '\r');
}

/* ERR-2 (2.5 on): segment^sequence^field^repetition^component, trailing zeros left off. */
static void location(writer_t *w, const hl7_issue_t *e)
{
    if (e->segment[0] == '\0')
        return;
    put_text(w, e->segment);
    const unsigned parts[] = {e->seq ? e->seq : 1, e->field, e->rep, e->comp};
    size_t last = 0;
    for (size_t i = 1; i < 4; i++)
        if (parts[i])
            last = i;
    for (size_t i = 0; i <= last && w->d.component >= 0; i++) {
        putd(w, w->d.component);
        putu(w, parts[i]);
    }
}

static void coded(writer_t *w, unsigned code, int delim)
{
    putu(w, code);
    if (delim < 0)
        return;
    putd(w, delim);
    put_text(w, code_name(code));
    putd(w, delim);
    puts_(w, "HL70357");
}

static void err_new(writer_t *w, const hl7_issue_t *e)
{
    const int fs = w->d.field;
    puts_(w, "ERR");
    putd(w, fs);
    putd(w, fs);
    location(w, e);
    putd(w, fs);
    coded(w, e->code, w->d.component);
    putd(w, fs);
    put(w, e->severity ? e->severity : 'E');
    for (int i = 0; i < 4; i++)
        putd(w, fs);
    put_text(w, e->text);
    put(w, '\r');
}

/* ERR-1 before 2.5: segment^sequence^field^code&text&HL70357. */
static void err_old(writer_t *w, const hl7_issue_t *e)
{
    const int cs = w->d.component;
    puts_(w, "ERR");
    putd(w, w->d.field);
    put_text(w, e->segment);
    if (cs >= 0) {
        putd(w, cs);
        if (e->segment[0])
            putu(w, e->seq ? e->seq : 1);
        putd(w, cs);
        if (e->field)
            putu(w, e->field);
        putd(w, cs);
    }
    coded(w, e->code, w->d.subcomponent);
    put(w, '\r');
}

int hl7_ack_build(const hl7_msg_t *m, const hl7_ack_t *a, char *out, size_t cap, size_t *len,
                  char *err, size_t errlen)
{
    static const hl7_delims_t standard = {'|', '^', '~', '\\', '&'};
    hl7_delims_t d = hl7_delims(m);
    int same = hl7_has_msh(m) && d.component >= 0;
    writer_t w = {out, cap, 0, 0, same ? d : standard, same};
    int version = hl7_has_msh(m) ? hl7_version(m) : 0;
    int old_style = version > 0 && version < 205;
    msh(&w, m, a);
    msa(&w, m, a, old_style);
    for (size_t i = 0; i < a->n_issues && a->code != HL7_AA; i++) {
        if (old_style)
            err_old(&w, &a->issues[i]);
        else
            err_new(&w, &a->issues[i]);
    }
    if (w.full || cap == 0) {
        if (err != NULL && errlen > 0)
            (void)snprintf(err, errlen, "the ACK does not fit in %zu bytes", cap);
        return -1;
    }
    out[w.n] = '\0';
    *len = w.n;
    return 0;
}
