/* hl7_map.c - ADT to Joinery. Every value goes through the same steps: found by its HL7
 * position, decoded into the result's own text store, cleaned as the hub cleans text (blanks
 * collapsed, UTF-8 and no control characters), then checked by the hub's own rules
 * (match/validate.h) so that what the hub would refuse is dropped here, alone, instead of the
 * hub refusing the whole patient. */
#include "hl7_map.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "match/validate.h"

typedef struct {
    const hl7_msg_t *m;
    const hl7_map_opts_t *o;
    hl7_mapped_t *out;
    size_t pid;
} ctx_t;

/* A place in the message, for ERR-2 and for reading. */
typedef struct {
    size_t seg;
    const char *segname;
    unsigned field, rep, comp, sub;
} pos_t;

typedef enum { V_ABSENT, V_NULL, V_OK, V_BAD } vstate_t;

typedef struct {
    vstate_t st;
    const char *s; /* V_OK: cleaned text in the store */
    hl7_span_t raw;
    char why[96]; /* V_BAD */
} value_t;

const char *hl7_event_name(hl7_event_t e)
{
    switch (e) {
    case HL7_EVENT_PERSON_UPDATED:
        return "person.updated";
    case HL7_EVENT_PERSON_MERGED:
        return "person.merged";
    case HL7_EVENT_ADMISSION:
        return "health.admission";
    case HL7_EVENT_DISCHARGE:
        return "health.discharge";
    default:
        return "";
    }
}

static int ieq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return 0;
    for (; *a && *b; a++, b++) {
        char x = (*a >= 'a' && *a <= 'z') ? (char)(*a - 32) : *a;
        char y = (*b >= 'a' && *b <= 'z') ? (char)(*b - 32) : *b;
        if (x != y)
            return 0;
    }
    return *a == *b;
}

/* Issues ---------------------------------------------------------------------------------- */

static const char *keep_raw(ctx_t *c, hl7_span_t raw, size_t *n)
{
    hl7_map_store_t *st = &c->out->st;
    size_t len = raw.n < HL7_MAP_RAW_MAX ? raw.n : HL7_MAP_RAW_MAX;
    *n = 0;
    if (raw.n == 0 || st->used + len + 1 > sizeof st->text)
        return NULL;
    char *p = st->text + st->used;
    memcpy(p, raw.p, len);
    p[len] = '\0';
    st->used += len + 1;
    *n = len;
    return p;
}

static void issue(ctx_t *c, const pos_t *at, const char *person_field, unsigned code,
                  hl7_span_t raw, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void issue(ctx_t *c, const pos_t *at, const char *person_field, unsigned code,
                  hl7_span_t raw, const char *fmt, ...)
{
    hl7_mapped_t *out = c->out;
    if (out->n_issues == HL7_MAP_MAX_ISSUES) {
        out->issues_lost++;
        return;
    }
    hl7_issue_t *e = &out->issues[out->n_issues++];
    memset(e, 0, sizeof *e);
    if (at != NULL) {
        (void)snprintf(e->segment, sizeof e->segment, "%s", at->segname);
        e->seq = 1;
        e->field = at->field;
        e->rep = at->rep;
        e->comp = at->comp;
    }
    e->code = code;
    e->severity = 'E';
    e->person_field = person_field;
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(e->text, sizeof e->text, fmt, ap);
    va_end(ap);
    e->raw = keep_raw(c, raw, &e->raw_len);
}

static void nulled(ctx_t *c, const char *person_field)
{
    if (c->out->n_nulled < HL7_MAP_MAX_NULLED)
        c->out->nulled[c->out->n_nulled++] = person_field;
}

/* Values ---------------------------------------------------------------------------------- */

static int is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Collapses blanks and trims S in place; NULL and WHY when it is not text the hub takes. */
static const char *clean(char *s, char *why, size_t whylen)
{
    size_t n = 0;
    int pending = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        if (is_blank(*p)) {
            pending = n > 0;
            p++;
            continue;
        }
        size_t len = validate_utf8_char(p, 4); /* NUL-terminated: see validate.h */
        if (len == 0) {
            (void)snprintf(why, whylen, "is not UTF-8 text");
            return NULL;
        }
        if (*p < 0x20 || *p == 0x7f) {
            (void)snprintf(why, whylen, "contains a control character");
            return NULL;
        }
        if (pending)
            s[n++] = ' ';
        pending = 0;
        memmove(s + n, p, len);
        n += len;
        p += len;
    }
    s[n] = '\0';
    return s;
}

/* The value at P, decoded and cleaned into the store. */
static value_t get(ctx_t *c, pos_t p)
{
    value_t v = {.st = V_ABSENT};
    if (hl7_get(c->m, p.seg, p.field, p.rep, p.comp, p.sub, &v.raw) != 0 || v.raw.n == 0)
        return v;
    if (hl7_is_null(v.raw)) {
        v.st = V_NULL;
        return v;
    }
    hl7_map_store_t *st = &c->out->st;
    char *dst = st->text + st->used;
    size_t n = 0;
    if (hl7_decode(c->m, v.raw, dst, sizeof st->text - st->used, &n) != 0) {
        v.st = V_BAD;
        (void)snprintf(v.why, sizeof v.why, "is too long or holds a NUL byte");
        return v;
    }
    v.s = clean(dst, v.why, sizeof v.why);
    if (v.s == NULL) {
        v.st = V_BAD;
        return v;
    }
    if (v.s[0] == '\0') {
        v.st = V_ABSENT;
        return v;
    }
    st->used += strlen(v.s) + 1;
    v.st = V_OK;
    return v;
}

static pos_t at(ctx_t *c, unsigned field, unsigned rep, unsigned comp, unsigned sub)
{
    return (pos_t){c->pid, "PID", field, rep, comp, sub};
}

/* A value that must be plain text: V_OK's text, NULL otherwise (V_BAD is refused, V_NULL noted). */
static const char *text(ctx_t *c, pos_t p, const char *person_field, const char *label)
{
    value_t v = get(c, p);
    if (v.st == V_BAD)
        issue(c, &p, person_field, HL7_ERR_DATA_TYPE, v.raw, "%s-%u %s %s; it was dropped",
              p.segname, p.field, label, v.why);
    else if (v.st == V_NULL && person_field != NULL)
        nulled(c, person_field);
    return v.st == V_OK ? v.s : NULL;
}

static const char *store_str(ctx_t *c, const char *s)
{
    hl7_map_store_t *st = &c->out->st;
    size_t n = strlen(s);
    if (st->used + n + 1 > sizeof st->text)
        return NULL;
    char *p = st->text + st->used;
    memcpy(p, s, n + 1);
    st->used += n + 1;
    return p;
}

/* Header ---------------------------------------------------------------------------------- */

static int header(ctx_t *c)
{
    const hl7_msg_t *m = c->m;
    hl7_mapped_t *out = c->out;
    hl7_span_t v;
    int version = hl7_version(m);
    pos_t p12 = {0, "MSH", 12, 0, 0, 0};
    if (version < 203 || version > 208) {
        (void)hl7_get(m, 0, 12, 1, 0, 0, &v);
        issue(c, &p12, NULL, HL7_ERR_UNSUPPORTED_VERSION, v,
              "MSH-12 must be an HL7 version from 2.3 to 2.8");
        return -1;
    }
    const char *ids = c->o->processing_ids ? c->o->processing_ids : "PT";
    pos_t p11 = {0, "MSH", 11, 0, 0, 0};
    if (hl7_get(m, 0, 11, 1, 1, 0, &v) != 0 || v.n != 1 || strchr(ids, v.p[0]) == NULL) {
        issue(c, &p11, NULL, HL7_ERR_UNSUPPORTED_PROCESSING_ID, v,
              "MSH-11 processing id is not one this interface takes (%s)", ids);
        return -1;
    }
    hl7_span_t t, e;
    (void)hl7_get(m, 0, 9, 1, 1, 0, &t);
    (void)hl7_get(m, 0, 9, 1, 2, 0, &e);
    if (t.n == 0 || t.n >= sizeof out->type || e.n >= sizeof out->trigger) {
        pos_t p9 = {0, "MSH", 9, 0, 0, 0};
        issue(c, &p9, NULL, HL7_ERR_UNSUPPORTED_TYPE, t,
              "MSH-9 message type is missing or "
              "not an HL7 message type");
        return -1;
    }
    memcpy(out->type, t.p, t.n);
    out->type[t.n] = '\0';
    if (e.n > 0)
        memcpy(out->trigger, e.p, e.n);
    out->trigger[e.n] = '\0';
    return 0;
}

static hl7_event_t classify(const char *type, const char *trigger)
{
    if (strcmp(type, "ADT") != 0)
        return HL7_EVENT_NONE;
    if (strcmp(trigger, "A01") == 0)
        return HL7_EVENT_ADMISSION;
    if (strcmp(trigger, "A03") == 0)
        return HL7_EVENT_DISCHARGE;
    if (strcmp(trigger, "A08") == 0 || strcmp(trigger, "A28") == 0 || strcmp(trigger, "A31") == 0)
        return HL7_EVENT_PERSON_UPDATED;
    if (strcmp(trigger, "A40") == 0)
        return HL7_EVENT_PERSON_MERGED;
    return HL7_EVENT_NONE;
}

/* Identifiers (PID-3, MRG-1) -------------------------------------------------------------- */

typedef struct {
    unsigned rep; /* 0: none */
    const char *value;
    const char *authority;
} cx_t;

/* The local id in a CX list: the MR whose assigning authority is the trust, else the first MR. */
static cx_t local_id(ctx_t *c, size_t seg, const char *segname, unsigned field)
{
    cx_t first = {0}, trust = {0};
    unsigned n = hl7_repetitions(c->m, seg, field);
    for (unsigned r = 1; r <= n; r++) {
        value_t type = get(c, (pos_t){seg, segname, field, r, 5, 0});
        if (type.st != V_OK || !ieq(type.s, "MR"))
            continue;
        value_t id = get(c, (pos_t){seg, segname, field, r, 1, 0});
        value_t auth = get(c, (pos_t){seg, segname, field, r, 4, 1});
        if (id.st != V_OK)
            continue;
        cx_t x = {r, id.s, auth.st == V_OK ? auth.s : NULL};
        if (first.rep == 0)
            first = x;
        if (trust.rep == 0 && c->o->trust_ods && c->o->trust_ods[0] &&
            ieq(x.authority, c->o->trust_ods))
            trust = x;
    }
    return trust.rep ? trust : first;
}

static void add_identifier(ctx_t *c, const char *system, const char *value, const char *ods)
{
    hl7_map_store_t *st = &c->out->st;
    Joinery__V1__Person *p = &c->out->person;
    if (p->n_identifiers == HL7_MAP_MAX_IDS)
        return;
    Joinery__V1__Identifier *id = &st->ids[p->n_identifiers];
    joinery__v1__identifier__init(id);
    id->system = (char *)system;
    id->value = (char *)value;
    if (ods)
        id->assigner_ods = (char *)ods;
    st->id_ptrs[p->n_identifiers++] = id;
}

static void nhs_number(ctx_t *c, unsigned rep)
{
    pos_t p = at(c, 3, rep, 1, 0);
    value_t v = get(c, p);
    if (v.st == V_NULL) {
        nulled(c, "nhs_number");
        return;
    }
    char why[200], digits[11];
    if (v.st == V_BAD) {
        issue(c, &p, "nhs_number", HL7_ERR_DATA_TYPE, v.raw,
              "PID-3 repetition %u: the NHS number %s; it was dropped", rep, v.why);
        return;
    }
    if (v.st != V_OK)
        return;
    if (validate_nhs_number(v.s, why, sizeof why) != 0 ||
        validate_nhs_number_normalise(v.s, digits) != 0) {
        issue(c, &p, "nhs_number", HL7_ERR_DATA_TYPE, v.raw,
              "PID-3 repetition %u: %s. The NHS number was dropped; the rest of the patient "
              "was taken",
              rep, why);
        return;
    }
    c->out->person.nhs_number = (char *)store_str(c, digits);
}

static void verification(ctx_t *c)
{
    pos_t p = at(c, 32, 1, 1, 0);
    value_t v = get(c, p);
    if (v.st != V_OK)
        return;
    int code = 0;
    if (strlen(v.s) == 2 && v.s[0] == '0' && v.s[1] >= '1' && v.s[1] <= '8')
        code = v.s[1] - '0';
    if (code == 0) {
        issue(c, &p, "nhs_number_verification", HL7_ERR_TABLE_VALUE, v.raw,
              "PID-32 NHS number status must be 01 to 08 (NHS Data Dictionary); it was dropped");
        return;
    }
    c->out->person.nhs_number_verification = (Joinery__V1__NhsNumberVerification)code;
}

/* PID-3: the local id (required), the NHS number, the other identifiers. 0, or -1 when there is
 * no local id. */
static int identifiers(ctx_t *c)
{
    hl7_mapped_t *out = c->out;
    cx_t local = local_id(c, c->pid, "PID", 3);
    if (local.rep == 0) {
        pos_t p = at(c, 3, 0, 0, 0);
        hl7_span_t raw;
        (void)hl7_get(c->m, c->pid, 3, 0, 0, 0, &raw);
        issue(c, &p, NULL, HL7_ERR_REQUIRED_MISSING, raw,
              "PID-3 has no identifier of type MR (the trust's hospital number for the patient); "
              "nothing was taken");
        return -1;
    }
    out->source_record_id = local.value;
    unsigned n = hl7_repetitions(c->m, c->pid, 3), nhs_rep = 0;
    for (unsigned r = 1; r <= n; r++) {
        value_t type = get(c, at(c, 3, r, 5, 0));
        value_t auth = get(c, at(c, 3, r, 4, 1));
        if (type.st == V_OK && ieq(type.s, "NH") && auth.st == V_OK && ieq(auth.s, "NHS")) {
            if (nhs_rep == 0)
                nhs_rep = r;
            continue;
        }
        value_t id = get(c, at(c, 3, r, 1, 0));
        if (id.st == V_OK && type.st == V_OK)
            add_identifier(c, type.s, id.s, auth.st == V_OK ? auth.s : NULL);
    }
    out->person.identifiers = out->st.id_ptrs;
    if (nhs_rep)
        nhs_number(c, nhs_rep);
    verification(c);
    return 0;
}

/* Names (PID-5) --------------------------------------------------------------------------- */

static const char *name_use(const char *type)
{
    if (type == NULL)
        return NULL;
    static const char *const map[][2] = {
        {"L", "official"}, {"D", "usual"}, {"N", "nickname"}, {"M", "maiden"}, {"B", "maiden"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (ieq(type, map[i][0]))
            return map[i][1];
    return NULL;
}

/* One XPN into NAME; 1 if it held a name. */
static int one_name(ctx_t *c, unsigned rep, Joinery__V1__HumanName *name, char **given)
{
    joinery__v1__human_name__init(name);
    name->given = given;
    const char *family = text(c, at(c, 5, rep, 1, 1), "name.family", "family name");
    if (family)
        name->family = (char *)family;
    for (unsigned comp = 2; comp <= 3 && name->n_given < HL7_MAP_MAX_GIVEN; comp++) {
        const char *g = text(c, at(c, 5, rep, comp, 0), "name.given", "given name");
        if (g)
            given[name->n_given++] = (char *)g;
    }
    const char *prefix = text(c, at(c, 5, rep, 5, 0), NULL, "name prefix");
    if (prefix)
        name->prefix = (char *)prefix;
    value_t type = get(c, at(c, 5, rep, 7, 0));
    const char *use = name_use(type.st == V_OK ? type.s : NULL);
    if (use)
        name->use = (char *)use;
    return family != NULL || name->n_given > 0;
}

static void names(ctx_t *c)
{
    hl7_map_store_t *st = &c->out->st;
    Joinery__V1__Person *p = &c->out->person;
    unsigned n = hl7_repetitions(c->m, c->pid, 5), legal = 0;
    for (unsigned r = 1; r <= n && legal == 0; r++) {
        value_t type = get(c, at(c, 5, r, 7, 0));
        if (type.st == V_OK && ieq(type.s, "L"))
            legal = r;
    }
    /* The legal name (type L) is the name, whatever its place; then the others in order. */
    size_t used = 0;
    if (legal && one_name(c, legal, &st->names[used], st->given[used]))
        used++;
    for (unsigned r = 1; r <= n && used < HL7_MAP_MAX_NAMES; r++) {
        if (r != legal && one_name(c, r, &st->names[used], st->given[used]))
            used++;
    }
    if (used == 0)
        return;
    p->name = &st->names[0];
    for (size_t i = 1; i < used; i++)
        st->other_ptrs[i - 1] = &st->names[i];
    p->other_names = st->other_ptrs;
    p->n_other_names = used - 1;
}

/* Dates ----------------------------------------------------------------------------------- */

/* An HL7 TS/DTM's date as YYYY-MM-DD in OUT[11]; -1 and WHY when it has no whole date. */
static int ts_date(const char *s, char out[11], char *why, size_t whylen)
{
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9')
        n++;
    if (n < 8) {
        (void)snprintf(why, whylen, "does not give a whole date (YYYYMMDD)");
        return -1;
    }
    (void)snprintf(out, 11, "%.4s-%.2s-%.2s", s, s + 4, s + 6);
    char r[160];
    if (validate_date(out, r, sizeof r) != 0) {
        (void)snprintf(why, whylen, "is not a real date: %s", r);
        return -1;
    }
    return 0;
}

/* PID-7 or PID-29 into *DST; the refusal names the field. */
static void date_field(ctx_t *c, unsigned field, const char *person_field, const char *label,
                       char **dst, const char *other)
{
    pos_t p = at(c, field, 1, 1, 0);
    value_t v = get(c, p);
    if (v.st == V_NULL)
        nulled(c, person_field);
    if (v.st == V_BAD)
        issue(c, &p, person_field, HL7_ERR_DATA_TYPE, v.raw, "PID-%u %s %s; it was dropped", field,
              label, v.why);
    if (v.st != V_OK)
        return;
    char iso[11], why[200];
    if (ts_date(v.s, iso, why, sizeof why) != 0) {
        issue(c, &p, person_field, HL7_ERR_DATA_TYPE, v.raw, "PID-%u %s %s; it was dropped", field,
              label, why);
        return;
    }
    const char *birth = field == 7 ? iso : other, *death = field == 7 ? NULL : iso;
    if (c->o->today && validate_birth_death(birth, death, c->o->today, why, sizeof why) != 0) {
        issue(c, &p, person_field, HL7_ERR_DATA_TYPE, v.raw, "PID-%u %s: %s; it was dropped", field,
              label, why);
        return;
    }
    *dst = (char *)store_str(c, iso);
}

static void dates(ctx_t *c)
{
    Joinery__V1__Person *p = &c->out->person;
    date_field(c, 7, "birth_date", "birth date", &p->birth_date, NULL);
    const char *birth = p->birth_date && p->birth_date[0] ? p->birth_date : NULL;
    date_field(c, 29, "death_date", "date of death", &p->death_date, birth);
}

/* Sex (PID-8) ----------------------------------------------------------------------------- */

static void sex(ctx_t *c)
{
    pos_t p = at(c, 8, 1, 1, 0);
    value_t v = get(c, p);
    if (v.st == V_NULL)
        nulled(c, "sex");
    if (v.st != V_OK)
        return;
    static const struct {
        const char *code;
        Joinery__V1__AdministrativeSex sex;
    } map[] = {
        {"M", JOINERY__V1__ADMINISTRATIVE_SEX__SEX_MALE},
        {"F", JOINERY__V1__ADMINISTRATIVE_SEX__SEX_FEMALE},
        {"O", JOINERY__V1__ADMINISTRATIVE_SEX__SEX_OTHER},
        {"A", JOINERY__V1__ADMINISTRATIVE_SEX__SEX_OTHER},
        {"U", JOINERY__V1__ADMINISTRATIVE_SEX__SEX_UNKNOWN},
        {"N", JOINERY__V1__ADMINISTRATIVE_SEX__SEX_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (ieq(v.s, map[i].code)) {
            c->out->person.sex = map[i].sex;
            return;
        }
    }
    issue(c, &p, "sex", HL7_ERR_TABLE_VALUE, v.raw,
          "PID-8 administrative sex must be M, F, O, U, A or N (HL7 table 0001); it was dropped");
}

/* Addresses (PID-11) ---------------------------------------------------------------------- */

static const char *address_use(const char *type)
{
    static const char *const map[][2] = {
        {"H", "home"}, {"P", "home"}, {"L", "home"}, {"C", "temp"}, {"BA", "old"}};
    for (size_t i = 0; type && i < sizeof map / sizeof map[0]; i++)
        if (ieq(type, map[i][0]))
            return map[i][1];
    return NULL;
}

static int uk_country(const char *country)
{
    static const char *const uk[] = {"GB",      "GBR",   "UK",       "United Kingdom",
                                     "England", "Wales", "Scotland", "Northern Ireland"};
    if (country == NULL)
        return 1;
    for (size_t i = 0; i < sizeof uk / sizeof uk[0]; i++)
        if (ieq(country, uk[i]))
            return 1;
    return 0;
}

static void add_line(Joinery__V1__Address *a, char **lines, const char *s)
{
    if (s && a->n_lines < HL7_MAP_MAX_LINES)
        lines[a->n_lines++] = (char *)s;
}

/* A UK address's postcode in its canonical form, or refused; a foreign one kept as a line
 * (Address has no country, and its postcode field is UK only). */
static void postcode(ctx_t *c, unsigned rep, Joinery__V1__Address *a, char **lines)
{
    pos_t p = at(c, 11, rep, 5, 0);
    value_t v = get(c, p);
    value_t country = get(c, at(c, 11, rep, 6, 0));
    const char *cn = country.st == V_OK ? country.s : NULL;
    if (v.st == V_BAD)
        issue(c, &p, "address.postcode", HL7_ERR_DATA_TYPE, v.raw,
              "PID-11 repetition %u postcode %s; it was dropped", rep, v.why);
    if (v.st != V_OK)
        return;
    if (!uk_country(cn)) {
        add_line(a, lines, v.s);
        add_line(a, lines, cn);
        return;
    }
    char canon[16], why[200];
    if (validate_postcode_normalise(v.s, canon, sizeof canon) != 0) {
        (void)validate_postcode(v.s, why, sizeof why);
        issue(c, &p, "address.postcode", HL7_ERR_DATA_TYPE, v.raw,
              "PID-11 repetition %u: %s. The postcode was dropped, the rest of the address taken",
              rep, why);
        return;
    }
    a->postcode = (char *)store_str(c, canon);
}

/* XAD-1: the street address (SAD-1), with the street name (SAD-2) when SAD-1 does not already
 * hold it, as some senders split "1000&Hospital Lane". */
static const char *street(ctx_t *c, unsigned rep)
{
    const char *s1 = text(c, at(c, 11, rep, 1, 1), "address.lines", "street address");
    const char *s2 = text(c, at(c, 11, rep, 1, 2), "address.lines", "street name");
    if (s1 == NULL || s2 == NULL || strstr(s1, s2) != NULL)
        return s1 ? s1 : s2;
    char joined[512];
    int n = snprintf(joined, sizeof joined, "%s %s", s1, s2);
    return n > 0 && (size_t)n < sizeof joined ? store_str(c, joined) : s1;
}

static int one_address(ctx_t *c, unsigned rep, Joinery__V1__Address *a, char **lines)
{
    joinery__v1__address__init(a);
    a->lines = lines;
    add_line(a, lines, street(c, rep));
    add_line(a, lines, text(c, at(c, 11, rep, 2, 0), "address.lines", "other designation"));
    const char *town = text(c, at(c, 11, rep, 3, 0), "address.town", "city");
    const char *district = text(c, at(c, 11, rep, 4, 0), "address.district", "county");
    if (town)
        a->town = (char *)town;
    if (district)
        a->district = (char *)district;
    postcode(c, rep, a, lines);
    value_t type = get(c, at(c, 11, rep, 7, 0));
    const char *use = address_use(type.st == V_OK ? type.s : NULL);
    if (use)
        a->use = (char *)use;
    return a->n_lines > 0 || town || district || (a->postcode && a->postcode[0]);
}

static void addresses(ctx_t *c)
{
    hl7_map_store_t *st = &c->out->st;
    Joinery__V1__Person *p = &c->out->person;
    unsigned n = hl7_repetitions(c->m, c->pid, 11);
    for (unsigned r = 1; r <= n && p->n_addresses < HL7_MAP_MAX_ADDRS; r++) {
        Joinery__V1__Address *a = &st->addrs[p->n_addresses];
        if (one_address(c, r, a, st->lines[p->n_addresses]))
            st->addr_ptrs[p->n_addresses++] = a;
    }
    p->addresses = st->addr_ptrs;
}

/* Telecom (PID-13) ------------------------------------------------------------------------ */

static void one_telecom(ctx_t *c, unsigned rep)
{
    hl7_map_store_t *st = &c->out->st;
    Joinery__V1__Person *p = &c->out->person;
    value_t use = get(c, at(c, 13, rep, 2, 0)), equip = get(c, at(c, 13, rep, 3, 0));
    const char *u = use.st == V_OK ? use.s : "", *e = equip.st == V_OK ? equip.s : "";
    int email = ieq(e, "Internet") || ieq(e, "X.400") || ieq(u, "NET");
    const char *value = text(c, at(c, 13, rep, email ? 4 : 1, 0), "telecom", "telephone");
    if (value == NULL && !email) {
        /* 2.5 on: the number in parts, area code and local number */
        const char *area = text(c, at(c, 13, rep, 6, 0), "telecom", "area code");
        const char *local = text(c, at(c, 13, rep, 7, 0), "telecom", "local number");
        char joined[64];
        if (local) {
            (void)snprintf(joined, sizeof joined, "%s%s", area ? area : "", local);
            value = store_str(c, joined);
        }
    }
    if (value == NULL)
        return;
    Joinery__V1__ContactPoint *t = &st->tel[p->n_telecom];
    joinery__v1__contact_point__init(t);
    t->system = (char *)(email ? "email" : "phone");
    t->value = (char *)value;
    t->use = (char *)(ieq(e, "CP") ? "mobile" : ieq(u, "WPN") ? "work" : "home");
    st->tel_ptrs[p->n_telecom++] = t;
}

static void telecom(ctx_t *c)
{
    Joinery__V1__Person *p = &c->out->person;
    unsigned n = hl7_repetitions(c->m, c->pid, 13);
    for (unsigned r = 1; r <= n && p->n_telecom < HL7_MAP_MAX_TELECOM; r++)
        one_telecom(c, r);
    p->telecom = c->out->st.tel_ptrs;
}

/* Encounters (PV1) and merges (MRG) ------------------------------------------------------- */

/* An HL7 TS as ISO 8601 ("2024-02-29T10:30:00+01:00"), NULL when it is not a date and time. */
static const char *ts_iso(ctx_t *c, const char *s)
{
    char date[11], why[200], iso[40];
    if (s == NULL || ts_date(s, date, why, sizeof why) != 0)
        return NULL;
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9')
        n++;
    char hh[3] = "00", mm[3] = "00", ss[3] = "00";
    if (n >= 10)
        memcpy(hh, s + 8, 2);
    if (n >= 12)
        memcpy(mm, s + 10, 2);
    if (n >= 14)
        memcpy(ss, s + 12, 2);
    const char *tz = strpbrk(s + n, "+-");
    char zone[8] = "";
    if (tz && strlen(tz) == 5)
        (void)snprintf(zone, sizeof zone, "%c%.2s:%.2s", tz[0], tz + 1, tz + 3);
    (void)snprintf(iso, sizeof iso, "%sT%s:%s:%s%s", date, hh, mm, ss, zone);
    return store_str(c, iso);
}

static char *pv1_text(ctx_t *c, size_t pv1, unsigned field, unsigned comp)
{
    value_t v = get(c, (pos_t){pv1, "PV1", field, 1, comp, 1});
    return v.st == V_OK ? (char *)v.s : NULL;
}

static const char *patient_class(const char *code)
{
    static const char *const map[][2] = {{"I", "inpatient"}, {"O", "outpatient"},
                                         {"E", "emergency"}, {"P", "preadmit"},
                                         {"R", "recurring"}, {"B", "obstetrics"}};
    for (size_t i = 0; code && i < sizeof map / sizeof map[0]; i++)
        if (ieq(code, map[i][0]))
            return map[i][1];
    return code;
}

#define SET(dst, v)                                                                                \
    do {                                                                                           \
        const char *v_ = (v);                                                                      \
        if (v_)                                                                                    \
            (dst) = (char *)v_;                                                                    \
    } while (0)

static int encounter(ctx_t *c)
{
    hl7_mapped_t *out = c->out;
    long pv1 = hl7_segment_find(c->m, "PV1", 0);
    if (pv1 < 0) {
        /* cppcheck-suppress varFuncNullUB ; NULL is the typed person_field */
        issue(c, &(pos_t){0, "PV1", 0, 0, 0, 0}, NULL, HL7_ERR_SEGMENT_SEQUENCE,
              (hl7_span_t){NULL, 0}, "ADT^%s has no PV1 segment: there is no encounter to take",
              out->trigger);
        return -1;
    }
    size_t s = (size_t)pv1;
    Joinery__V1__Encounter *e = &out->encounter;
    SET(e->encounter_id, pv1_text(c, s, 19, 1));
    SET(e->nhs_number, out->person.nhs_number);
    SET(e->trust_ods, c->o->trust_ods);
    SET(e->patient_class, patient_class(pv1_text(c, s, 2, 1)));
    SET(e->ward, pv1_text(c, s, 3, 1));
    SET(e->consultant, pv1_text(c, s, 7, 1));
    SET(e->specialty, pv1_text(c, s, 10, 1));
    SET(e->start_at, ts_iso(c, pv1_text(c, s, 44, 1)));
    SET(e->end_at, ts_iso(c, pv1_text(c, s, 45, 1)));
    if (out->event == HL7_EVENT_ADMISSION) {
        out->admission.encounter = e;
        SET(out->admission.admission_method, pv1_text(c, s, 4, 1));
        SET(out->admission.source_of_admission, pv1_text(c, s, 14, 1));
    } else {
        out->discharge.encounter = e;
        SET(out->discharge.discharge_method, pv1_text(c, s, 36, 1));
        SET(out->discharge.discharge_destination, pv1_text(c, s, 37, 1));
    }
    return 0;
}

static int merge(ctx_t *c)
{
    hl7_mapped_t *out = c->out;
    long mrg = hl7_segment_find(c->m, "MRG", 0);
    if (mrg < 0) {
        /* cppcheck-suppress varFuncNullUB ; NULL is the typed person_field */
        issue(c, &(pos_t){0, "MRG", 0, 0, 0, 0}, NULL, HL7_ERR_SEGMENT_SEQUENCE,
              (hl7_span_t){NULL, 0},
              "ADT^A40 has no MRG segment: the retired hospital number is not known");
        return -1;
    }
    cx_t retired = local_id(c, (size_t)mrg, "MRG", 1);
    if (retired.rep == 0) {
        hl7_span_t raw;
        (void)hl7_get(c->m, (size_t)mrg, 1, 0, 0, 0, &raw);
        /* cppcheck-suppress varFuncNullUB ; NULL is the typed person_field */
        issue(c, &(pos_t){(size_t)mrg, "MRG", 1, 0, 0, 0}, NULL, HL7_ERR_REQUIRED_MISSING, raw,
              "MRG-1 has no identifier of type MR: the retired hospital number is not known");
        return -1;
    }
    out->retired_id = retired.value;
    out->merged.survivor_local_id = (char *)out->source_record_id;
    out->merged.retired_local_id = (char *)retired.value;
    char reason[96];
    (void)snprintf(reason, sizeof reason, "HL7 ADT^A40 from trust %s",
                   c->o->trust_ods && c->o->trust_ods[0] ? c->o->trust_ods : "(not configured)");
    SET(out->merged.reason, store_str(c, reason));
    return 0;
}

/* The whole ------------------------------------------------------------------------------- */

static void reset(hl7_mapped_t *out)
{
    out->event = HL7_EVENT_NONE;
    out->ack = HL7_AA;
    out->type[0] = out->trigger[0] = '\0';
    out->source_record_id = NULL;
    out->retired_id = NULL;
    out->n_issues = out->issues_lost = out->n_nulled = 0;
    out->st.used = 0;
    joinery__v1__person__init(&out->person);
    joinery__v1__person_merged__init(&out->merged);
    joinery__v1__encounter__init(&out->encounter);
    joinery__v1__admission__init(&out->admission);
    joinery__v1__discharge__init(&out->discharge);
}

static int refuse(ctx_t *c, hl7_ack_code_t code, char *err, size_t errlen)
{
    c->out->ack = code;
    c->out->event = HL7_EVENT_NONE;
    if (err != NULL && errlen > 0)
        (void)snprintf(err, errlen, "%s", c->out->n_issues ? c->out->issues[0].text : "refused");
    return -1;
}

int hl7_map_adt(const hl7_msg_t *m, const hl7_map_opts_t *o, hl7_mapped_t *out, char *err,
                size_t errlen)
{
    static const hl7_map_opts_t defaults = {0};
    ctx_t c = {m, o ? o : &defaults, out, 0};
    reset(out);
    if (!hl7_has_msh(m) || hl7_delims(m).component < 0) {
        issue(&c, NULL, NULL, HL7_ERR_UNSUPPORTED_TYPE, (hl7_span_t){NULL, 0},
              "the message has no readable MSH segment");
        return refuse(&c, HL7_AR, err, errlen);
    }
    if (header(&c) != 0)
        return refuse(&c, HL7_AR, err, errlen);
    hl7_event_t ev = classify(out->type, out->trigger);
    if (ev == HL7_EVENT_NONE) {
        if (c.o->unmapped == HL7_UNMAPPED_ACCEPT)
            return 1;
        int adt = strcmp(out->type, "ADT") == 0;
        /* cppcheck-suppress varFuncNullUB ; NULL is the typed person_field */
        issue(&c, &(pos_t){0, "MSH", 9, 0, 0, 0}, NULL,
              adt ? HL7_ERR_UNSUPPORTED_EVENT : HL7_ERR_UNSUPPORTED_TYPE, (hl7_span_t){NULL, 0},
              "%s^%s is not a message type this interface takes", out->type, out->trigger);
        out->ack = HL7_AR;
        if (err != NULL && errlen > 0)
            (void)snprintf(err, errlen, "%s", out->issues[0].text);
        return 1;
    }
    long pid = hl7_segment_find(m, "PID", 0);
    if (pid < 0) {
        /* cppcheck-suppress varFuncNullUB ; NULL is the typed person_field */
        issue(&c, &(pos_t){0, "PID", 0, 0, 0, 0}, NULL, HL7_ERR_SEGMENT_SEQUENCE,
              (hl7_span_t){NULL, 0}, "the message has no PID segment: there is no patient");
        return refuse(&c, HL7_AE, err, errlen);
    }
    c.pid = (size_t)pid;
    out->event = ev;
    if (identifiers(&c) != 0)
        return refuse(&c, HL7_AE, err, errlen);
    names(&c);
    dates(&c);
    sex(&c);
    addresses(&c);
    telecom(&c);
    if ((ev == HL7_EVENT_ADMISSION || ev == HL7_EVENT_DISCHARGE) && encounter(&c) != 0)
        return refuse(&c, HL7_AE, err, errlen);
    if (ev == HL7_EVENT_PERSON_MERGED && merge(&c) != 0)
        return refuse(&c, HL7_AE, err, errlen);
    out->ack = out->n_issues || out->issues_lost ? HL7_AE : HL7_AA;
    return 0;
}

hl7_ack_t hl7_mapped_ack(const hl7_mapped_t *out)
{
    hl7_ack_t a = {.code = out->ack, .issues = out->issues, .n_issues = out->n_issues};
    return a;
}
