/* sc_outmap.c - the hub's events as the case system's JSON (contract in sc_outmap.h). A small
 * JSON writer over the caller's buffer: a body is written once per event, so it must not
 * allocate (jansson would, per value). */
#include "sc_outmap.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "match/validate.h"

#define MAX_GIVEN 8
#define VALUE_MAX 4096 /* one corrected value, as the hub writes it */
#define EXCERPT 300

/* ---- the writer ---------------------------------------------------------------------------- */

/* FIRST: nothing written yet in the innermost open object or array. Closing a container leaves
 * it 0, which is right for the one around it: that one holds at least the key just written. */
typedef struct {
    char *p;
    size_t cap, len;
    int bad, first;
} jw_t;

static void raw(jw_t *w, const char *s, size_t n)
{
    if (w->bad || n >= w->cap - w->len) {
        w->bad = 1;
        return;
    }
    memcpy(w->p + w->len, s, n);
    w->len += n;
    w->p[w->len] = '\0';
}

static void lit(jw_t *w, const char *s)
{
    raw(w, s, strlen(s));
}

static void item(jw_t *w)
{
    if (!w->first)
        lit(w, ",");
    w->first = 0;
}

static void begin(jw_t *w, const char *bracket)
{
    lit(w, bracket);
    w->first = 1;
}

static void end(jw_t *w, const char *bracket)
{
    lit(w, bracket);
    w->first = 0;
}

/* S as a JSON string: quotes, backslashes and control characters escaped, bytes that are not
 * UTF-8 replaced by U+FFFD. */
static void str(jw_t *w, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    lit(w, "\"");
    for (size_t i = 0; i < n && !w->bad;) {
        if (p[i] == '"' || p[i] == '\\') {
            char e[2] = {'\\', (char)p[i]};
            raw(w, e, 2);
            i++;
        } else if (p[i] < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[p[i] >> 4], hex[p[i] & 15]};
            raw(w, e, 6);
            i++;
        } else if (p[i] < 0x80) {
            raw(w, s + i, 1);
            i++;
        } else {
            size_t k = validate_utf8_char(p + i, n - i);
            raw(w, k ? s + i : "\xef\xbf\xbd", k ? k : 3);
            i += k ? k : 1;
        }
    }
    lit(w, "\"");
}

static void key(jw_t *w, const char *k)
{
    item(w);
    str(w, k);
    lit(w, ":");
}

/* "K": "V", or "K": null when V is empty (the field changed to no value). */
static void text_or_null(jw_t *w, const char *k, const char *v)
{
    key(w, k);
    if (v != NULL && v[0] != '\0')
        str(w, v);
    else
        lit(w, "null");
}

static void text_if(jw_t *w, const char *k, const char *v)
{
    if (v != NULL && v[0] != '\0') {
        key(w, k);
        str(w, v);
    }
}

static int done(jw_t *w, size_t *len)
{
    if (w->bad)
        return -1;
    *len = w->len;
    return 0;
}

/* ---- people -------------------------------------------------------------------------------- */

typedef struct {
    char *const *paths;
    size_t n;
} changed_t;

static int has(const changed_t *c, const char *path)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->paths[i] != NULL && strcmp(c->paths[i], path) == 0)
            return 1;
    return 0;
}

static const char *telecom_value(const Joinery__V1__Person *p, const char *system)
{
    for (size_t i = 0; p != NULL && i < p->n_telecom; i++)
        if (p->telecom[i] != NULL && p->telecom[i]->system != NULL &&
            strcmp(p->telecom[i]->system, system) == 0)
            return p->telecom[i]->value;
    return NULL;
}

static void name_fields(jw_t *w, const Joinery__V1__Person *p, const changed_t *c)
{
    int all = has(c, "name");
    int prefix = all || has(c, "name.prefix"), given = all || has(c, "name.given"),
        family = all || has(c, "name.family");
    if (!prefix && !given && !family)
        return;
    const Joinery__V1__HumanName *n = p ? p->name : NULL;
    key(w, "name");
    begin(w, "{");
    if (prefix)
        text_or_null(w, "prefix", n ? n->prefix : NULL);
    if (given) {
        key(w, "given");
        begin(w, "[");
        for (size_t i = 0; n != NULL && i < n->n_given; i++) {
            item(w);
            str(w, n->given[i] ? n->given[i] : "");
        }
        end(w, "]");
    }
    if (family)
        text_or_null(w, "family", n ? n->family : NULL);
    end(w, "}");
}

static void address_fields(jw_t *w, const Joinery__V1__Person *p, const changed_t *c)
{
    int all = has(c, "address") || has(c, "address.home");
    int postcode = all || has(c, "address.home.postcode"),
        uprn = all || has(c, "address.home.uprn");
    if (!postcode && !uprn)
        return;
    const Joinery__V1__Address *a = p && p->n_addresses > 0 ? p->addresses[0] : NULL;
    key(w, "address");
    if (all && a == NULL) {
        lit(w, "null"); /* the hub holds no home address any more */
        return;
    }
    begin(w, "{");
    if (all) {
        key(w, "lines");
        begin(w, "[");
        for (size_t i = 0; i < a->n_lines; i++) {
            item(w);
            str(w, a->lines[i] ? a->lines[i] : "");
        }
        end(w, "]");
        text_or_null(w, "town", a->town);
        text_or_null(w, "district", a->district);
    }
    if (postcode)
        text_or_null(w, "postcode", a ? a->postcode : NULL);
    if (uprn)
        text_or_null(w, "uprn", a ? a->uprn : NULL);
    end(w, "}");
}

static void person_fields(jw_t *w, const Joinery__V1__Person *p, const changed_t *c)
{
    static const char *const sexes[] = {NULL, "male", "female", "other", "unknown"};
    if (has(c, "nhs_number"))
        text_or_null(w, "nhs_number", p ? p->nhs_number : NULL);
    if (has(c, "ni_number"))
        text_or_null(w, "ni_number", p ? p->ni_number : NULL);
    name_fields(w, p, c);
    if (has(c, "birth_date"))
        text_or_null(w, "birth_date", p ? p->birth_date : NULL);
    if (has(c, "death_date"))
        text_or_null(w, "death_date", p ? p->death_date : NULL);
    if (has(c, "sex")) {
        unsigned s = p ? (unsigned)p->sex : 0;
        text_or_null(w, "sex", s < sizeof sexes / sizeof sexes[0] ? sexes[s] : NULL);
    }
    address_fields(w, p, c);
    if (has(c, "telecom") || has(c, "telecom.phone"))
        text_or_null(w, "phone", telecom_value(p, "phone"));
    if (has(c, "telecom") || has(c, "telecom.email"))
        text_or_null(w, "email", telecom_value(p, "email"));
    if (has(c, "preferred_language"))
        text_or_null(w, "preferred_language", p ? p->preferred_language : NULL);
    if (has(c, "gp_practice_ods"))
        text_or_null(w, "gp_practice_ods", p ? p->gp_practice_ods : NULL);
    if (has(c, "interpreter_required")) {
        key(w, "interpreter_required");
        lit(w, p && p->interpreter_required ? "true" : "false");
    }
}

static int person_body(const char *local_id, const char *master_id, unsigned long long version,
                       const changed_t *c, const Joinery__V1__Person *p, char *buf, size_t cap,
                       size_t *len)
{
    jw_t w = {.p = buf, .cap = cap};
    if (cap == 0)
        return -1;
    buf[0] = '\0';
    begin(&w, "{");
    text_or_null(&w, "person_id", local_id);
    text_or_null(&w, "master_id", master_id);
    char v[24];
    (void)snprintf(v, sizeof v, "%llu", version);
    key(&w, "version");
    lit(&w, v);
    key(&w, "changed");
    begin(&w, "[");
    for (size_t i = 0; i < c->n; i++) {
        item(&w);
        str(&w, c->paths[i] ? c->paths[i] : "");
    }
    end(&w, "]");
    person_fields(&w, p, c);
    end(&w, "}");
    return done(&w, len);
}

int sc_outmap_person_changed(const Joinery__V1__PersonChanged *pc, char *buf, size_t cap,
                             size_t *len)
{
    changed_t c = {pc->changed_fields, pc->n_changed_fields};
    return person_body(pc->local_id, pc->master_id, (unsigned long long)pc->version, &c, pc->person,
                       buf, cap, len);
}

/* ---- a corrected value, as the hub writes it, back into a Person --------------------------- */

typedef struct {
    char text[VALUE_MAX];
    char *given[MAX_GIVEN];
    char *lines[MAX_GIVEN];
    Joinery__V1__Person person;
    Joinery__V1__HumanName name;
    Joinery__V1__Address addr;
    Joinery__V1__Address *addrs[1];
    Joinery__V1__ContactPoint tel;
    Joinery__V1__ContactPoint *tels[1];
} one_t;

/* Splits S in place at each SEP into at most MAX pieces. */
static size_t split(char *s, char sep, char **out, size_t max)
{
    size_t n = 0;
    while (s != NULL && *s && n < max) {
        out[n++] = s;
        s = strchr(s, sep);
        if (s != NULL)
            *s++ = '\0';
    }
    return n;
}

/* The hub's text of a home address: "LINE\nLINE|TOWN|POSTCODE|UPRN". */
static void one_address(one_t *o, char *v)
{
    char *parts[3] = {NULL, NULL, NULL};
    char *rest = strchr(v, '|');
    if (rest != NULL)
        *rest++ = '\0';
    o->addr.n_lines = split(v, '\n', o->lines, MAX_GIVEN);
    o->addr.lines = o->lines;
    for (size_t n = 0; rest != NULL && n < 3; n++) {
        parts[n] = rest;
        rest = strchr(rest, '|');
        if (rest != NULL)
            *rest++ = '\0';
    }
    if (parts[0] != NULL)
        o->addr.town = parts[0];
    if (parts[1] != NULL)
        o->addr.postcode = parts[1];
    if (parts[2] != NULL)
        o->addr.uprn = parts[2];
}

static void one_value(one_t *o, const char *field, char *v)
{
    static const char *const sexes[] = {"", "male", "female", "other", "unknown"};
    Joinery__V1__Person *p = &o->person;
    if (strcmp(field, "nhs_number") == 0)
        p->nhs_number = v;
    else if (strcmp(field, "ni_number") == 0)
        p->ni_number = v;
    else if (strcmp(field, "name.prefix") == 0)
        o->name.prefix = v;
    else if (strcmp(field, "name.family") == 0)
        o->name.family = v;
    else if (strcmp(field, "name.given") == 0)
        o->name.n_given = split(v, ' ', o->given, MAX_GIVEN);
    else if (strcmp(field, "birth_date") == 0)
        p->birth_date = v;
    else if (strcmp(field, "death_date") == 0)
        p->death_date = v;
    else if (strcmp(field, "preferred_language") == 0)
        p->preferred_language = v;
    else if (strcmp(field, "gp_practice_ods") == 0)
        p->gp_practice_ods = v;
    else if (strcmp(field, "interpreter_required") == 0)
        p->interpreter_required = strcmp(v, "true") == 0;
    else if (strcmp(field, "address.home") == 0 && v[0] != '\0')
        one_address(o, v);
    else if (strcmp(field, "address.home.postcode") == 0)
        o->addr.postcode = v;
    else if (strcmp(field, "address.home.uprn") == 0)
        o->addr.uprn = v;
    else if (strcmp(field, "telecom.phone") == 0 || strcmp(field, "telecom.email") == 0) {
        o->tel.system = (char *)(field[8] == 'p' ? "phone" : "email");
        o->tel.value = v;
    } else if (strcmp(field, "sex") == 0)
        for (size_t i = 1; i < sizeof sexes / sizeof sexes[0]; i++)
            if (strcmp(v, sexes[i]) == 0)
                p->sex = (Joinery__V1__AdministrativeSex)i;
}

int sc_outmap_correction(const Joinery__V1__PersonCorrection *pc, char *buf, size_t cap,
                         size_t *len)
{
    one_t o;
    memset(&o, 0, sizeof o);
    joinery__v1__person__init(&o.person);
    joinery__v1__human_name__init(&o.name);
    joinery__v1__address__init(&o.addr);
    joinery__v1__contact_point__init(&o.tel);
    const char *field = pc->field ? pc->field : "";
    int n = snprintf(o.text, sizeof o.text, "%s", pc->current_value ? pc->current_value : "");
    if (n < 0 || (size_t)n >= sizeof o.text)
        return -1;
    one_value(&o, field, o.text);
    o.name.given = o.given;
    o.person.name = &o.name;
    if (strncmp(field, "address.", 8) == 0 && o.text[0] != '\0') {
        o.addrs[0] = &o.addr;
        o.person.addresses = o.addrs;
        o.person.n_addresses = 1;
    }
    if (o.tel.value != NULL && o.tel.value[0] != '\0') {
        o.tels[0] = &o.tel;
        o.person.telecom = o.tels;
        o.person.n_telecom = 1;
    }
    char *paths[1] = {(char *)field};
    changed_t c = {paths, 1};
    return person_body(pc->local_id, pc->master_id, (unsigned long long)pc->version, &c, &o.person,
                       buf, cap, len);
}

/* ---- referrals and tasks ------------------------------------------------------------------- */

int sc_outmap_referral(const sc_outmap_referral_t *r, char *buf, size_t cap, size_t *len)
{
    jw_t w = {.p = buf, .cap = cap};
    const Joinery__V1__ServiceRequest *sr = r->sr;
    if (cap == 0)
        return -1;
    begin(&w, "{");
    text_or_null(&w, "source_system", "crm");
    text_or_null(&w, "request_id", r->request_id);
    key(&w, "master_id"); /* always text: "" when the hub knows no golden person */
    str(&w, r->master_id ? r->master_id : "");
    if (sr != NULL) {
        text_if(&w, "category", sr->category);
        text_if(&w, "channel", sr->channel);
        text_if(&w, "description", sr->description);
    }
    text_if(&w, "received_at",
            sr && sr->opened_at && sr->opened_at[0] ? sr->opened_at : r->received_at);
    end(&w, "}");
    return done(&w, len);
}

/* The encounter's end as a date, when it starts with one. */
static int end_date(const Joinery__V1__Encounter *e, char out[11])
{
    char why[96];
    if (e == NULL || e->end_at == NULL || strlen(e->end_at) < 10)
        return -1;
    memcpy(out, e->end_at, 10);
    out[10] = '\0';
    return validate_date(out, why, sizeof why);
}

static void summary(const sc_outmap_task_t *t, const char *on, char *out, size_t cap)
{
    const Joinery__V1__Discharge *d = t->discharge;
    const Joinery__V1__Encounter *e = d ? d->encounter : NULL;
    const char *trust = e && e->trust_ods && e->trust_ods[0] ? e->trust_ods : "the trust";
    const char *ward = e && e->ward && e->ward[0] ? e->ward : NULL;
    const char *dest = d && d->discharge_destination ? d->discharge_destination : "";
    (void)snprintf(out, cap, "Discharged from %s%s%s%s%s for case %s%s%s%s", trust,
                   ward ? ", ward " : "", ward ? ward : "", on && on[0] ? " on " : "", on ? on : "",
                   t->case_id ? t->case_id : "", dest[0] ? "; destination " : "", dest,
                   d && d->needs_care_support ? "; needs care and support" : "");
}

int sc_outmap_task(const sc_outmap_task_t *t, char *buf, size_t cap, size_t *len)
{
    jw_t w = {.p = buf, .cap = cap};
    const Joinery__V1__Encounter *e = t->discharge ? t->discharge->encounter : NULL;
    char on[11], text[512];
    const char *when = end_date(e, on) == 0 ? on : t->discharged_on;
    if (cap == 0)
        return -1;
    summary(t, when, text, sizeof text);
    begin(&w, "{");
    text_or_null(&w, "task_id", t->task_id);
    text_or_null(&w, "kind", "hospital_discharge");
    text_or_null(&w, "case_id", t->case_id);
    text_if(&w, "person_id", t->person_id);
    text_or_null(&w, "master_id", t->master_id);
    text_if(&w, "discharged_on", when);
    text_if(&w, "trust", e ? e->trust_ods : NULL);
    text_or_null(&w, "summary", text);
    end(&w, "}");
    return done(&w, len);
}

/* ---- URLs and answers ---------------------------------------------------------------------- */

static int unreserved(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

int sc_outmap_url(const char *base, const char *path, const char *id, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t b = strlen(base);
    while (b > 0 && base[b - 1] == '/')
        b--;
    int n = snprintf(out, cap, "%.*s%s", (int)b, base, path);
    if (n < 0 || (size_t)n >= cap)
        return -1;
    size_t k = (size_t)n;
    for (const unsigned char *p = (const unsigned char *)(id ? id : ""); *p; p++) {
        if (k + 4 > cap)
            return -1;
        if (unreserved(*p)) {
            out[k++] = (char)*p;
        } else {
            out[k++] = '%';
            out[k++] = hex[*p >> 4];
            out[k++] = hex[*p & 15];
        }
    }
    out[k] = '\0';
    return 0;
}

static void printable(const char *s, size_t len, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < len && k + 1 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[k++] = ch >= 0x20 && ch < 0x7f ? (char)ch : ' ';
    }
    out[k] = '\0';
}

void sc_outmap_reason(long status, const char *body, size_t len, char *out, size_t cap)
{
    json_t *j = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    const char *said = NULL;
    if (json_is_object(j)) {
        said = json_string_value(json_object_get(j, "message"));
        if (said == NULL || said[0] == '\0')
            said = json_string_value(json_object_get(j, "error"));
    }
    char excerpt[EXCERPT + 1];
    if (said != NULL && said[0] != '\0')
        printable(said, strlen(said), excerpt, sizeof excerpt);
    else
        printable(body ? body : "", len, excerpt, sizeof excerpt);
    if (said != NULL && said[0] != '\0')
        (void)snprintf(out, cap, "the case system answered %ld: %s", status, excerpt);
    else
        (void)snprintf(out, cap, "the case system answered HTTP %ld: %s", status,
                       excerpt[0] ? excerpt : "(no body)");
    json_decref(j);
}
