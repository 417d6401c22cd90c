/* hl7_build.c - outbound ADT: a bounded writer that knows where it is in a segment (field,
 * repetition, component), one function per PID field, and the reading of the trust's ACK.
 * The writer only ever moves forward, so a field or component that is never written costs
 * nothing and trailing empty positions are never sent. */
#include "hl7_build.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "match/validate.h"

/* The delimiters of every message written here. */
#define FS '|'
#define CS '^'
#define RS '~'
#define ES '\\'
#define SS '&'

typedef struct {
    char *out;
    size_t cap, n;
    int full;
    unsigned field, comp; /* where the writer is in the current segment */
    int in_rep;           /* the current field already holds a repetition */
} w_t;

/* What is being sent: the Person and, for a PersonChanged, which of its fields are known. */
typedef struct {
    const Joinery__V1__Person *p; /* never NULL */
    char *const *changed;         /* NULL: the whole Person */
    size_t n_changed;
} src_t;

typedef struct {
    const char *value, *authority, *type;
} cx_t;

typedef struct {
    w_t w;
    const hl7_build_opts_t *o;
    char *err;
    size_t errlen;
    int failed;
} ctx_t;

static void fail(ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(ctx_t *c, const char *fmt, ...)
{
    if (c->failed)
        return;
    c->failed = 1;
    if (c->err == NULL || c->errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
}

/* The writer ------------------------------------------------------------------------------ */

static void put(w_t *w, char ch)
{
    if (w->n + 1 >= w->cap) {
        w->full = 1;
        return;
    }
    w->out[w->n++] = ch;
}

static void puts_(w_t *w, const char *s)
{
    for (; *s; s++)
        put(w, *s);
}

static void segment(w_t *w, const char *id)
{
    if (w->n > 0)
        put(w, '\r');
    puts_(w, id);
    w->field = 0;
    w->comp = 1;
    w->in_rep = 0;
}

/* Moves to field F of the segment (never back). */
static void field(w_t *w, unsigned f)
{
    while (w->field < f) {
        put(w, FS);
        w->field++;
        w->comp = 1;
        w->in_rep = 0;
    }
}

/* Starts a repetition of the current field: the first is where the field starts. */
static void rep(w_t *w)
{
    if (w->in_rep)
        put(w, RS);
    w->in_rep = 1;
    w->comp = 1;
}

static void comp(w_t *w, unsigned k)
{
    for (; w->comp < k; w->comp++)
        put(w, CS);
}

/* Plain text with the delimiters escaped. Control characters, which the hub never stores, are
 * blanked rather than escaped: some engines do not read \Xhh\. */
static void text(w_t *w, const char *s)
{
    if (strcmp(s, "\"\"") == 0) { /* the text "" is not the null */
        puts_(w, "\\X22\\\"");
        return;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char e = *p == FS   ? 'F'
                 : *p == CS ? 'S'
                 : *p == RS ? 'R'
                 : *p == SS ? 'T'
                 : *p == ES ? 'E'
                            : 0;
        if (e) {
            put(w, ES);
            put(w, e);
            put(w, ES);
        } else {
            put(w, *p < 0x20 || *p == 0x7f ? ' ' : (char)*p);
        }
    }
}

/* V at component K: NULL leaves it empty, "" is HL7's explicit null. */
static void value(w_t *w, unsigned k, const char *v)
{
    if (v == NULL)
        return;
    comp(w, k);
    if (v[0] == '\0')
        puts_(w, "\"\"");
    else
        text(w, v);
}

/* The list as one value, SEP between its items. */
static void joined(w_t *w, unsigned k, char *const *items, size_t n, const char *sep)
{
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (items[i] == NULL || items[i][0] == '\0')
            continue;
        comp(w, k);
        if (!first)
            text(w, sep);
        text(w, items[i]);
        first = 0;
    }
}

/* What is known ---------------------------------------------------------------------------- */

static int nonempty(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* 1 if PATH is among the changed fields (or under one of them: "name" covers "name.family"). */
static int known(const src_t *s, const char *path)
{
    if (s->changed == NULL)
        return 1;
    for (size_t i = 0; i < s->n_changed; i++) {
        const char *c = s->changed[i];
        size_t n = c ? strlen(c) : 0;
        if (n > 0 && strncmp(path, c, n) == 0 && (path[n] == '\0' || path[n] == '.'))
            return 1;
    }
    return 0;
}

/* The value to send for PATH: NULL to leave it empty, "" for the explicit null. */
static const char *pick(const src_t *s, const char *path, const char *v)
{
    if (s->changed == NULL)
        return nonempty(v) ? v : NULL;
    if (!known(s, path))
        return NULL;
    return nonempty(v) ? v : "";
}

/* "YYYY-MM-DD" as HL7's "YYYYMMDD" in OUT; "" stays "" (the null). NULL on a bad date. */
static const char *hl7_date(ctx_t *c, const char *path, const char *iso, char out[9])
{
    if (iso == NULL || iso[0] == '\0')
        return iso;
    char why[160];
    if (validate_date(iso, why, sizeof why) != 0) {
        fail(c, "%s is not a date the hub would hold: %s", path, why);
        return NULL;
    }
    (void)snprintf(out, 9, "%.4s%.2s%.2s", iso, iso + 5, iso + 8);
    return out;
}

/* MSH and EVN ----------------------------------------------------------------------------- */

static int opt_ok(ctx_t *c, const char *v, const char *what)
{
    if (nonempty(v))
        return 1;
    fail(c, "%s is required", what);
    return 0;
}

/* HL7 DTM: at least the date, then digits, a fraction and a zone. */
static int timestamp_ok(const char *ts)
{
    size_t digits = strspn(ts, "0123456789");
    return digits >= 8 && strspn(ts + digits, "0123456789.+-") == strlen(ts + digits);
}

static int check_opts(ctx_t *c)
{
    const hl7_build_opts_t *o = c->o;
    if (o == NULL) {
        fail(c, "no options");
        return -1;
    }
    if (!opt_ok(c, o->sending_facility, "the sending facility (MSH-4)") ||
        !opt_ok(c, o->trust_ods, "the trust's ODS code (MSH-6)") ||
        !opt_ok(c, o->timestamp, "the timestamp (MSH-7)") ||
        !opt_ok(c, o->control_id, "the control id (MSH-10)"))
        return -1;
    if (!timestamp_ok(o->timestamp)) {
        fail(c, "the timestamp (MSH-7) must be an HL7 date and time, e.g. 20240301093000+0000");
        return -1;
    }
    if (strlen(o->control_id) > HL7_BUILD_CONTROL_ID_MAX) {
        fail(c, "the control id (MSH-10) is longer than %d characters", HL7_BUILD_CONTROL_ID_MAX);
        return -1;
    }
    char p = o->processing_id ? o->processing_id : 'P';
    if (p != 'P' && p != 'T' && p != 'D') {
        fail(c, "the processing id (MSH-11) must be P, T or D");
        return -1;
    }
    return 0;
}

static void msh(ctx_t *c, const char *trigger, const char *structure)
{
    w_t *w = &c->w;
    const hl7_build_opts_t *o = c->o;
    puts_(w, "MSH|^~\\&");
    w->field = 2;
    field(w, 3);
    text(w, o->sending_app ? o->sending_app : "JOINERY");
    field(w, 4);
    text(w, o->sending_facility);
    field(w, 5);
    if (o->receiving_app)
        text(w, o->receiving_app);
    field(w, 6);
    text(w, o->trust_ods);
    field(w, 7);
    text(w, o->timestamp);
    field(w, 9);
    puts_(w, "ADT^");
    puts_(w, trigger);
    put(w, CS);
    puts_(w, structure);
    field(w, 10);
    text(w, o->control_id);
    field(w, 11);
    put(w, o->processing_id ? o->processing_id : 'P');
    field(w, 12);
    puts_(w, "2.5");
    /* Names like Siân and Zoë travel as they are: say which character set they are in. */
    field(w, 18);
    puts_(w, "UNICODE UTF-8");
    segment(w, "EVN");
    field(w, 1);
    puts_(w, trigger);
    field(w, 2);
    text(w, o->timestamp);
}

/* PID --------------------------------------------------------------------------------------- */

static void cx(w_t *w, const char *id, const char *authority, const char *type)
{
    rep(w);
    value(w, 1, id);
    value(w, 4, authority);
    value(w, 5, type);
}

/* PID-3: the trust's id (or, for a person new to it, ours), then the NHS number. */
static void pid_ids(w_t *w, const src_t *s, const cx_t *id)
{
    field(w, 3);
    cx(w, id->value, id->authority, id->type);
    const char *nhs = pick(s, "nhs_number", s->p->nhs_number);
    if (nhs)
        cx(w, nhs, "NHS", "NH");
}

/* HL7 table 0200 (2.5) has no "temporary" or "former" name: those go as U, unspecified. The
 * name itself, when it says nothing, is the legal one (L), which is how the trust finds it. */
static const char *name_type(const char *use, int primary)
{
    static const char *const map[][2] = {
        {"official", "L"}, {"usual", "D"}, {"nickname", "N"}, {"maiden", "M"}, {"anonymous", "S"}};
    for (size_t i = 0; use && i < sizeof map / sizeof map[0]; i++)
        if (strcmp(use, map[i][0]) == 0)
            return map[i][1];
    return primary && !nonempty(use) ? "L" : "U";
}

/* One XPN: family, first given name, the others (HL7's "second and further given names",
 * space separated), prefix, type. */
static void xpn(w_t *w, const src_t *s, const Joinery__V1__HumanName *n, int primary)
{
    const char *family = pick(s, "name.family", n ? n->family : NULL);
    const char *prefix = pick(s, "name.prefix", n ? n->prefix : NULL);
    size_t n_given = n ? n->n_given : 0;
    int given = known(s, "name.given") && (s->changed != NULL || n_given > 0);
    if (family == NULL && prefix == NULL && !given)
        return;
    field(w, 5);
    rep(w);
    value(w, 1, family);
    if (given)
        value(w, 2, n_given > 0 ? n->given[0] : "");
    if (given && n_given > 1)
        joined(w, 3, n->given + 1, n_given - 1, " ");
    value(w, 5, prefix);
    value(w, 7, name_type(n ? n->use : NULL, primary));
}

static void pid_names(w_t *w, const src_t *s)
{
    xpn(w, s, s->p->name, 1);
    if (s->changed != NULL) /* a change names only the golden record's name */
        return;
    for (size_t i = 0; i < s->p->n_other_names; i++)
        xpn(w, s, s->p->other_names[i], 0);
}

static void pid_sex(w_t *w, const src_t *s)
{
    static const char *const codes[] = {"", "M", "F", "O", "U"};
    unsigned sex = (unsigned)s->p->sex;
    const char *code = sex < sizeof codes / sizeof codes[0] ? codes[sex] : "";
    const char *v = pick(s, "sex", code);
    if (v == NULL)
        return;
    field(w, 8);
    value(w, 1, v);
}

static const char *address_type(const char *use)
{
    static const char *const map[][2] = {
        {"home", "H"}, {"temp", "C"}, {"old", "BA"}, {"work", "O"}, {"billing", "M"}};
    for (size_t i = 0; use && i < sizeof map / sizeof map[0]; i++)
        if (strcmp(use, map[i][0]) == 0)
            return map[i][1];
    return "H";
}

static int address_empty(const Joinery__V1__Address *a)
{
    for (size_t i = 0; a && i < a->n_lines; i++)
        if (nonempty(a->lines[i]))
            return 0;
    return a == NULL || (!nonempty(a->town) && !nonempty(a->district) && !nonempty(a->postcode));
}

/* One XAD: the first line as the street address, the others as the other designation, then
 * city (post town), county (district), postcode and type. */
static void xad(w_t *w, const Joinery__V1__Address *a)
{
    rep(w);
    if (a->n_lines > 0)
        joined(w, 1, a->lines, 1, "");
    if (a->n_lines > 1)
        joined(w, 2, a->lines + 1, a->n_lines - 1, ", ");
    value(w, 3, nonempty(a->town) ? a->town : NULL);
    value(w, 4, nonempty(a->district) ? a->district : NULL);
    value(w, 5, nonempty(a->postcode) ? a->postcode : NULL);
    value(w, 7, address_type(a->use));
}

/* The golden record's one address: the home one, else the first. */
static const Joinery__V1__Address *home_address(const Joinery__V1__Person *p)
{
    for (size_t i = 0; i < p->n_addresses; i++)
        if (p->addresses[i] && p->addresses[i]->use && strcmp(p->addresses[i]->use, "home") == 0)
            return p->addresses[i];
    return p->n_addresses > 0 ? p->addresses[0] : NULL;
}

static void pid_addresses(w_t *w, const src_t *s)
{
    const Joinery__V1__Person *p = s->p;
    if (s->changed == NULL) {
        for (size_t i = 0; i < p->n_addresses; i++) {
            if (!address_empty(p->addresses[i])) {
                field(w, 11);
                xad(w, p->addresses[i]);
            }
        }
        return;
    }
    const Joinery__V1__Address *a = home_address(p);
    if (known(s, "address.home")) {
        field(w, 11);
        if (address_empty(a))
            puts_(w, "\"\"");
        else
            xad(w, a);
    } else if (known(s, "address.home.postcode")) {
        field(w, 11);
        rep(w);
        value(w, 5, a && nonempty(a->postcode) ? a->postcode : "");
        value(w, 7, "H");
    }
}

static int is_system(const Joinery__V1__ContactPoint *t, const char *system)
{
    return t != NULL && t->system != NULL && strcmp(t->system, system) == 0;
}

/* One XTN: a number in XTN-1, an e-mail address in XTN-4; use and equipment between. */
static void xtn(w_t *w, const char *system, const char *use, const char *v)
{
    rep(w);
    if (strcmp(system, "email") == 0) {
        value(w, 2, "NET");
        value(w, 3, "Internet");
        value(w, 4, v);
        return;
    }
    int mobile = strcmp(system, "sms") == 0 || (use && strcmp(use, "mobile") == 0);
    int work = use && strcmp(use, "work") == 0;
    value(w, 1, v);
    value(w, 2, work ? "WPN" : "PRN");
    value(w, 3, mobile ? "CP" : "PH");
}

static const Joinery__V1__ContactPoint *first_of(const Joinery__V1__Person *p, const char *system)
{
    for (size_t i = 0; i < p->n_telecom; i++)
        if (is_system(p->telecom[i], system))
            return p->telecom[i];
    return NULL;
}

static void pid_telecom(w_t *w, const src_t *s)
{
    const Joinery__V1__Person *p = s->p;
    if (s->changed == NULL) {
        for (size_t i = 0; i < p->n_telecom; i++) {
            const Joinery__V1__ContactPoint *t = p->telecom[i];
            int ours = is_system(t, "phone") || is_system(t, "sms") || is_system(t, "email");
            if (ours && nonempty(t->value)) {
                field(w, 13);
                xtn(w, t->system, t->use, t->value);
            }
        }
        return;
    }
    static const char *const kinds[][2] = {{"telecom.phone", "phone"}, {"telecom.email", "email"}};
    for (size_t k = 0; k < 2; k++) {
        if (!known(s, kinds[k][0]))
            continue;
        const Joinery__V1__ContactPoint *t = first_of(p, kinds[k][1]);
        field(w, 13);
        xtn(w, kinds[k][1], t ? t->use : NULL, t && nonempty(t->value) ? t->value : "");
    }
}

static void pid_dates(ctx_t *c, const src_t *s)
{
    w_t *w = &c->w;
    char birth[9], death[9];
    const char *b = hl7_date(c, "birth_date", pick(s, "birth_date", s->p->birth_date), birth);
    if (b) {
        field(w, 7);
        value(w, 1, b);
    }
    pid_sex(w, s);
    pid_addresses(w, s);
    pid_telecom(w, s);
    const char *d = hl7_date(c, "death_date", pick(s, "death_date", s->p->death_date), death);
    if (d) {
        field(w, 29);
        value(w, 1, d);
        field(w, 30); /* the death indicator goes with the date, so a cleared date says N */
        puts_(w, d[0] ? "Y" : "N");
    }
}

/* PID-32: the NHS number's verification status, 01 to 08 (as NHS England's v2 feeds send it). */
static void pid_verification(w_t *w, const src_t *s)
{
    unsigned code = (unsigned)s->p->nhs_number_verification;
    char v[3] = "";
    if (code >= 1 && code <= 8)
        (void)snprintf(v, sizeof v, "0%u", code);
    const char *x = pick(s, "nhs_number_verification", v);
    if (x == NULL)
        return;
    field(w, 32);
    value(w, 1, x);
}

static void pid(ctx_t *c, const src_t *s, const cx_t *id)
{
    w_t *w = &c->w;
    segment(w, "PID");
    field(w, 1);
    put(w, '1');
    pid_ids(w, s, id);
    pid_names(w, s);
    pid_dates(c, s);
    pid_verification(w, s);
}

/* The whole -------------------------------------------------------------------------------- */

static int finish(ctx_t *c, size_t *len)
{
    w_t *w = &c->w;
    put(w, '\r');
    if (w->full)
        fail(c, "the message does not fit in %zu bytes", w->cap);
    if (c->failed) {
        if (w->cap > 0)
            w->out[0] = '\0';
        return -1;
    }
    w->out[w->n] = '\0';
    if (len)
        *len = w->n;
    return 0;
}

static ctx_t start(const hl7_build_opts_t *o, char *out, size_t cap, char *err, size_t errlen)
{
    ctx_t c = {.w = {out, out ? cap : 0, 0, 0, 0, 1, 0}, .o = o, .err = err, .errlen = errlen};
    if (out == NULL || cap == 0)
        fail(&c, "no room for the message");
    if (err && errlen)
        err[0] = '\0';
    return c;
}

static const char *trigger_of(hl7_build_kind_t kind)
{
    return kind == HL7_BUILD_A28 ? "A28" : "A31";
}

static int build_pid_message(ctx_t *c, const src_t *s, const cx_t *id, hl7_build_kind_t kind,
                             size_t *len)
{
    if (c->failed || check_opts(c) != 0)
        return finish(c, len);
    msh(c, trigger_of(kind), "ADT_A05");
    pid(c, s, id);
    return finish(c, len);
}

int hl7_build_changed(const Joinery__V1__PersonChanged *pc, hl7_build_kind_t kind,
                      const hl7_build_opts_t *o, char *out, size_t cap, size_t *len, char *err,
                      size_t errlen)
{
    static const Joinery__V1__Person none = JOINERY__V1__PERSON__INIT;
    static char *const no_fields[1] = {NULL};
    ctx_t c = start(o, out, cap, err, errlen);
    if (pc == NULL) {
        fail(&c, "no PersonChanged");
        return finish(&c, len);
    }
    src_t s = {pc->person ? pc->person : &none, pc->changed_fields, pc->n_changed_fields};
    if (s.changed == NULL) /* a change with no fields still names only what it lists: none */
        s.changed = no_fields;
    cx_t id = {pc->local_id, o ? o->trust_ods : NULL, "MR"};
    if (!nonempty(pc->local_id)) {
        if (kind != HL7_BUILD_A28 || !nonempty(pc->master_id))
            fail(&c, "the trust has no id for this person: an A31 cannot name them (send an "
                     "A28, which names them by their master id)");
        id = (cx_t){pc->master_id, o ? o->sending_facility : NULL, "PI"};
    }
    return build_pid_message(&c, &s, &id, kind, len);
}

int hl7_build_person(const Joinery__V1__Person *p, const char *local_id, hl7_build_kind_t kind,
                     const hl7_build_opts_t *o, char *out, size_t cap, size_t *len, char *err,
                     size_t errlen)
{
    ctx_t c = start(o, out, cap, err, errlen);
    if (p == NULL || !nonempty(local_id))
        fail(&c, "a Person and the trust's id for it are required");
    src_t s = {p, NULL, 0};
    cx_t id = {local_id, o ? o->trust_ods : NULL, "MR"};
    return build_pid_message(&c, &s, &id, kind, len);
}

int hl7_build_merged(const Joinery__V1__PersonMerged *pm, const Joinery__V1__Person *survivor,
                     const hl7_build_opts_t *o, char *out, size_t cap, size_t *len, char *err,
                     size_t errlen)
{
    static const Joinery__V1__Person none = JOINERY__V1__PERSON__INIT;
    ctx_t c = start(o, out, cap, err, errlen);
    if (pm == NULL || !nonempty(pm->survivor_local_id) || !nonempty(pm->retired_local_id))
        fail(&c, "a merge needs the trust's ids for both the surviving and the retired record");
    else if (strcmp(pm->survivor_local_id, pm->retired_local_id) == 0)
        fail(&c, "the surviving and the retired record have the same id in the trust");
    if (c.failed || check_opts(&c) != 0)
        return finish(&c, len);
    src_t s = {survivor ? survivor : &none, NULL, 0};
    cx_t id = {pm->survivor_local_id, o->trust_ods, "MR"};
    msh(&c, "A40", "ADT_A39");
    pid(&c, &s, &id);
    segment(&c.w, "MRG");
    field(&c.w, 1);
    cx(&c.w, pm->retired_local_id, o->trust_ods, "MR");
    return finish(&c, len);
}

/* The trust's ACK ---------------------------------------------------------------------------- */

typedef struct {
    char *out;
    size_t cap, n;
} reason_t;

/* Length of the UTF-8 sequence at S (1..4, within N bytes), 0 if it is not valid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t k = (s[0] & 0xe0) == 0xc0   ? 2
               : (s[0] & 0xf0) == 0xe0 ? 3
               : (s[0] & 0xf8) == 0xf0 ? 4
                                       : 0;
    if (k == 0 || k > n || (k == 2 && s[0] < 0xc2) || (k == 4 && s[0] > 0xf4))
        return 0;
    for (size_t i = 1; i < k; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return k;
}

/* Appends N bytes of S as one line of UTF-8 (control characters blanked, bytes that are not
 * UTF-8 as '?'), never cutting a character in two. */
static void say(reason_t *r, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_len(p + i, n - i);
        if (r->n + (k ? k : 1) + 1 > r->cap)
            break;
        if (k == 0 || (k == 1 && (p[i] < 0x20 || p[i] == 0x7f))) {
            r->out[r->n++] = k == 0 ? '?' : ' ';
            i++;
            continue;
        }
        memcpy(r->out + r->n, p + i, k);
        r->n += k;
        i += k;
    }
    r->out[r->n] = '\0';
}

static void says(reason_t *r, const char *s)
{
    say(r, s, strlen(s));
}

/* The decoded value at the position, in OUT; "" when absent or empty. */
static const char *get(const hl7_msg_t *m, size_t seg, unsigned f, unsigned comp, unsigned sub,
                       char *out, size_t cap)
{
    hl7_span_t v;
    out[0] = '\0';
    if (hl7_get(m, seg, f, 1, comp, sub, &v) != 0 || v.n == 0 || hl7_is_null(v))
        return out;
    if (hl7_decode(m, v, out, cap, NULL) != 0) { /* too long: the raw bytes, cut */
        size_t n = v.n < cap ? v.n : cap - 1;
        memcpy(out, v.p, n);
        out[n] = '\0';
    }
    return out;
}

/* One ERR's text (ERR-8, else ERR-3's or ERR-1's code text) with where it is, if it has any. */
static int err_text(const hl7_msg_t *m, size_t seg, int user_only, reason_t *r)
{
    char t[1024], where[16], pos[16];
    const char *s = get(m, seg, 8, 0, 0, t, sizeof t);
    if (!s[0] && !user_only)
        s = get(m, seg, 3, 2, 0, t, sizeof t);
    if (!s[0] && !user_only)
        s = get(m, seg, 1, 4, 2, t, sizeof t);
    if (!s[0])
        return 0;
    if (r->n > 0)
        says(r, "; ");
    int v25 = get(m, seg, 2, 1, 0, where, sizeof where)[0] != '\0';
    (void)get(m, seg, v25 ? 2 : 1, 3, 0, pos, sizeof pos); /* ERL and ELD: field at 3 */
    if (!v25)
        (void)get(m, seg, 1, 1, 0, where, sizeof where);
    if (where[0] && strspn(pos, "0123456789") == strlen(pos)) {
        says(r, where);
        if (pos[0]) {
            says(r, "-");
            says(r, pos);
        }
        says(r, ": ");
    }
    says(r, s);
    return 1;
}

static void ack_reason(const hl7_msg_t *m, size_t msa, reason_t *r)
{
    char t[1024];
    int any = 0;
    for (int pass = 0; pass < 3 && !any; pass++) {
        if (pass == 1) { /* no user message in any ERR: MSA-3's */
            any = get(m, msa, 3, 0, 0, t, sizeof t)[0] != '\0';
            if (any)
                says(r, t);
            continue;
        }
        for (long e = hl7_segment_find(m, "ERR", 0); e >= 0;
             e = hl7_segment_find(m, "ERR", (size_t)e + 1))
            any |= err_text(m, (size_t)e, pass == 0, r);
    }
    if (!any)
        says(r, "the trust gave no reason");
}

static int ack_fail(reason_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int ack_fail(reason_t *r, const char *fmt, ...)
{
    char t[512];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(t, sizeof t, fmt, ap);
    va_end(ap);
    r->n = 0;
    says(r, t);
    return -1;
}

int hl7_build_read_ack(hl7_msg_t *m, const void *buf, size_t len, const char *expected_control_id,
                       hl7_ack_code_t *code, char *reason, size_t cap)
{
    char scratch[1];
    reason_t r = {cap ? reason : scratch, cap ? cap : 1, 0};
    r.out[0] = '\0';
    char why[200], t[256];
    if (m == NULL || buf == NULL || code == NULL || expected_control_id == NULL)
        return ack_fail(&r, "no message to read");
    if (hl7_parse(m, buf, len, why, sizeof why) != 0)
        return ack_fail(&r, "the answer is not an HL7 message: %s", why);
    long msa = hl7_segment_find(m, "MSA", 0);
    if (msa < 0)
        return ack_fail(&r, "the answer has no MSA segment: it is not an acknowledgement");
    static const struct {
        const char *name;
        hl7_ack_code_t code;
    } codes[] = {{"AA", HL7_AA}, {"CA", HL7_AA}, {"AE", HL7_AE},
                 {"CE", HL7_AE}, {"AR", HL7_AR}, {"CR", HL7_AR}};
    const char *c = get(m, (size_t)msa, 1, 1, 0, t, sizeof t);
    size_t k = 0;
    while (k < sizeof codes / sizeof codes[0] && strcmp(c, codes[k].name) != 0)
        k++;
    if (k == sizeof codes / sizeof codes[0])
        return ack_fail(&r, "MSA-1 is \"%.16s\", not an acknowledgement code", c);
    const char *id = get(m, (size_t)msa, 2, 0, 0, t, sizeof t);
    if (strcmp(id, expected_control_id) != 0)
        return ack_fail(&r, "MSA-2 answers message \"%.64s\", not \"%.64s\"", id,
                        expected_control_id);
    *code = codes[k].code;
    if (*code != HL7_AA)
        ack_reason(m, (size_t)msa, &r);
    return 0;
}
