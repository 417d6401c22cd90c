/* sc_map.c - a case system's JSON record as a Joinery event (contract in sc_map.h). Every value
 * goes the same way: checked for its JSON type, copied into the result's own text store and
 * cleaned as the hub cleans text, then checked by the hub's own rules (match/validate.h), so that
 * what the hub would refuse is dropped here, alone, instead of the hub refusing the record. */
#include "sc_map.h"

#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "match/validate.h"

typedef struct {
    const sc_map_opts_t *o;
    sc_mapped_t *out;
    json_t *body;
} ctx_t;

/* ---- small helpers ------------------------------------------------------------------------- */

uint64_t sc_map_hash(const void *body, size_t len)
{
    const unsigned char *p = body;
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void drop(ctx_t *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void drop(ctx_t *c, const char *field, const char *fmt, ...)
{
    sc_mapped_t *out = c->out;
    if (out->n_drops == SC_MAX_DROPS) {
        out->drops_lost++;
        return;
    }
    sc_drop_t *d = &out->drops[out->n_drops++];
    (void)snprintf(d->field, sizeof d->field, "%s", field);
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(d->reason, sizeof d->reason, fmt, ap);
    va_end(ap);
}

static sc_map_rc_t refuse(ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static sc_map_rc_t refuse(ctx_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(c->out->why, sizeof c->out->why, fmt, ap);
    va_end(ap);
    return SC_MAP_UNMAPPABLE;
}

static char *store(ctx_t *c, const char *s, size_t n)
{
    sc_store_t *st = &c->out->st;
    if (st->used + n + 1 > sizeof st->text)
        return NULL;
    char *p = st->text + st->used;
    memcpy(p, s, n);
    p[n] = '\0';
    st->used += n + 1;
    return p;
}

static int is_blank(unsigned char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\v' || ch == '\f';
}

/* S (N bytes) into the store with blanks collapsed and trimmed, as the hub keeps text; NULL and
 * WHY when it is not text the hub takes. */
static char *clean(ctx_t *c, const char *s, size_t n, char *why, size_t whylen)
{
    sc_store_t *st = &c->out->st;
    if (n > SC_MAX_TEXT || st->used + n + 1 > sizeof st->text) {
        (void)snprintf(why, whylen, "is longer than %d bytes", SC_MAX_TEXT);
        return NULL;
    }
    char *dst = st->text + st->used;
    size_t k = 0;
    int pending = 0;
    for (size_t i = 0; i < n;) {
        const unsigned char *p = (const unsigned char *)s + i;
        if (is_blank(*p)) {
            pending = k > 0;
            i++;
            continue;
        }
        size_t len = validate_utf8_char(p, n - i);
        if (len == 0 || *p < 0x20 || *p == 0x7f) {
            (void)snprintf(why, whylen, "is not UTF-8 text without control characters");
            return NULL;
        }
        if (pending)
            dst[k++] = ' ';
        pending = 0;
        memcpy(dst + k, p, len);
        k += len;
        i += len;
    }
    dst[k] = '\0';
    st->used += k + 1;
    return dst;
}

/* A text value of OBJ, cleaned into the store; NULL when absent, null, empty or dropped. NAME is
 * the field as the contract names it (FIELD, for the drop, may say where it is). */
static char *text_of(ctx_t *c, json_t *v, const char *field)
{
    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        drop(c, field, "%s is not text; it was dropped", field);
        return NULL;
    }
    char why[96];
    char *s = clean(c, json_string_value(v), json_string_length(v), why, sizeof why);
    if (s == NULL) {
        drop(c, field, "%s %s; it was dropped", field, why);
        return NULL;
    }
    return s[0] ? s : NULL;
}

static char *text(ctx_t *c, json_t *obj, const char *name)
{
    return text_of(c, json_object_get(obj, name), name);
}

/* A date (YYYY-MM-DD) of OBJ; NULL when absent or dropped. */
static char *date(ctx_t *c, json_t *obj, const char *name)
{
    char *s = text(c, obj, name);
    char why[160];
    if (s != NULL && validate_date(s, why, sizeof why) != 0) {
        drop(c, name, "%s: %s; it was dropped", name, why);
        return NULL;
    }
    return s;
}

/* A case-system id: 1 to SC_ID_MAX printable ASCII characters without blanks, so it fits an
 * event id. 0 and OUT, or -1 (refused, WHY set). */
static int id(ctx_t *c, const char *name, char *out)
{
    json_t *v = json_object_get(c->body, name);
    const char *s = json_string_value(v);
    size_t n = s ? json_string_length(v) : 0;
    if (n == 0 || n > SC_ID_MAX) {
        refuse(c, "%s is required: 1 to %d printable characters without blanks", name, SC_ID_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e) {
            refuse(c, "%s must be printable ASCII without blanks", name);
            return -1;
        }
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

/* A list of text (an array of strings) into SLOT of the store; its length. */
static size_t list(ctx_t *c, json_t *obj, const char *name, int slot)
{
    json_t *a = json_object_get(obj, name), *v;
    size_t i, n = 0;
    if (a == NULL || json_is_null(a))
        return 0;
    if (!json_is_array(a)) {
        drop(c, name, "%s is not a list of text; it was dropped", name);
        return 0;
    }
    json_array_foreach(a, i, v)
    {
        char *s = text_of(c, v, name);
        if (s != NULL && n < SC_MAX_LIST)
            c->out->st.list[slot][n++] = s;
        else if (s != NULL)
            drop(c, name, "%s has more than %d entries; the rest were dropped", name, SC_MAX_LIST);
    }
    return n;
}

/* ---- people -> Person ---------------------------------------------------------------------- */

static void person_name(ctx_t *c, Joinery__V1__Person *p)
{
    json_t *n = json_object_get(c->body, "name");
    sc_store_t *st = &c->out->st;
    if (n == NULL || json_is_null(n))
        return;
    if (!json_is_object(n)) {
        drop(c, "name", "name is not an object; it was dropped");
        return;
    }
    joinery__v1__human_name__init(&st->name);
    st->name.use = "official";
    st->name.prefix = text(c, n, "prefix");
    st->name.given = st->list[0];
    st->name.n_given = list(c, n, "given", 0);
    st->name.family = text(c, n, "family");
    if (st->name.prefix == NULL)
        st->name.prefix = "";
    if (st->name.family == NULL)
        st->name.family = "";
    p->name = &st->name;
}

static void person_dates(ctx_t *c, Joinery__V1__Person *p)
{
    char why[160];
    char *birth = date(c, c->body, "birth_date"), *death = date(c, c->body, "death_date");
    if (c->o->today != NULL && birth != NULL &&
        validate_birth_death(birth, NULL, c->o->today, why, sizeof why) != 0) {
        drop(c, "birth_date", "birth_date: %s; it was dropped", why);
        birth = NULL;
    }
    if (c->o->today != NULL && death != NULL &&
        validate_birth_death(birth, death, c->o->today, why, sizeof why) != 0) {
        drop(c, "death_date", "death_date: %s; it was dropped", why);
        death = NULL;
    }
    if (birth)
        p->birth_date = birth;
    if (death)
        p->death_date = death;
}

static void person_ids(ctx_t *c, Joinery__V1__Person *p)
{
    char why[200], digits[11];
    char *nhs = text(c, c->body, "nhs_number");
    if (nhs != NULL) {
        if (validate_nhs_number(nhs, why, sizeof why) != 0 ||
            validate_nhs_number_normalise(nhs, digits) != 0)
            drop(c, "nhs_number", "nhs_number: %s; it was dropped", why);
        else if ((nhs = store(c, digits, 10)) != NULL)
            p->nhs_number = nhs;
    }
    char *ni = text(c, c->body, "ni_number");
    if (ni != NULL) {
        if (validate_ni_number(ni, why, sizeof why) != 0) {
            drop(c, "ni_number", "ni_number: %s; it was dropped", why);
        } else {
            size_t k = 0; /* the hub's form: upper case, no spaces */
            for (size_t i = 0; ni[i]; i++)
                if (ni[i] != ' ')
                    ni[k++] = (char)toupper((unsigned char)ni[i]);
            ni[k] = '\0';
            p->ni_number = ni;
        }
    }
}

static void person_sex(ctx_t *c, Joinery__V1__Person *p)
{
    static const char *const names[] = {"male", "female", "other", "unknown"};
    static const Joinery__V1__AdministrativeSex codes[] = {
        JOINERY__V1__ADMINISTRATIVE_SEX__SEX_MALE, JOINERY__V1__ADMINISTRATIVE_SEX__SEX_FEMALE,
        JOINERY__V1__ADMINISTRATIVE_SEX__SEX_OTHER, JOINERY__V1__ADMINISTRATIVE_SEX__SEX_UNKNOWN};
    const char *s = text(c, c->body, "sex");
    if (s == NULL)
        return;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i]) == 0) {
            p->sex = codes[i];
            return;
        }
    drop(c, "sex", "sex is not male, female, other or unknown; it was dropped");
}

static void person_address(ctx_t *c, Joinery__V1__Person *p)
{
    json_t *a = json_object_get(c->body, "address");
    sc_store_t *st = &c->out->st;
    char canon[16], why[160];
    if (a == NULL || json_is_null(a))
        return;
    if (!json_is_object(a)) {
        drop(c, "address", "address is not an object; it was dropped");
        return;
    }
    Joinery__V1__Address *ad = &st->addr;
    joinery__v1__address__init(ad);
    ad->use = "home";
    ad->lines = st->list[1];
    ad->n_lines = list(c, a, "lines", 1);
    char *town = text(c, a, "town"), *district = text(c, a, "district");
    char *pc = text(c, a, "postcode"), *uprn = text(c, a, "uprn");
    if (town)
        ad->town = town;
    if (district)
        ad->district = district;
    if (pc != NULL) {
        if (validate_postcode(pc, why, sizeof why) != 0 ||
            validate_postcode_normalise(pc, canon, sizeof canon) != 0)
            drop(c, "address.postcode", "address.postcode: %s; it was dropped", why);
        else if ((pc = store(c, canon, strlen(canon))) != NULL)
            ad->postcode = pc;
    }
    if (uprn != NULL) {
        if (validate_uprn(uprn, why, sizeof why) != 0)
            drop(c, "address.uprn", "address.uprn: %s; it was dropped", why);
        else
            ad->uprn = uprn;
    }
    st->addr_ptr[0] = ad;
    p->addresses = st->addr_ptr;
    p->n_addresses = 1;
}

static void person_telecom(ctx_t *c, Joinery__V1__Person *p)
{
    static const struct {
        const char *field, *system, *use;
    } kinds[] = {
        {"phone", "phone", "home"}, {"mobile", "phone", "mobile"}, {"email", "email", "home"}};
    sc_store_t *st = &c->out->st;
    for (size_t i = 0; i < 3; i++) {
        char *v = text(c, c->body, kinds[i].field);
        if (v == NULL)
            continue;
        Joinery__V1__ContactPoint *t = &st->tel[p->n_telecom];
        joinery__v1__contact_point__init(t);
        t->system = (char *)kinds[i].system;
        t->use = (char *)kinds[i].use;
        t->value = v;
        st->tel_ptrs[p->n_telecom++] = t;
    }
    p->telecom = st->tel_ptrs;
}

static sc_map_rc_t map_person(ctx_t *c)
{
    Joinery__V1__Person *p = &c->out->m.person;
    joinery__v1__person__init(p);
    if (id(c, "person_id", c->out->record_id) != 0)
        return SC_MAP_UNMAPPABLE;
    person_ids(c, p);
    person_name(c, p);
    person_dates(c, p);
    person_sex(c, p);
    person_address(c, p);
    person_telecom(c, p);
    char *lang = text(c, c->body, "preferred_language"), *gp = text(c, c->body, "gp_practice_ods");
    if (lang)
        p->preferred_language = lang;
    if (gp)
        p->gp_practice_ods = gp;
    json_t *interp = json_object_get(c->body, "interpreter_required");
    if (json_is_boolean(interp))
        p->interpreter_required = json_is_true(interp);
    else if (interp != NULL && !json_is_null(interp))
        drop(c, "interpreter_required",
             "interpreter_required is not true or false; it was dropped");
    c->out->type = "person.updated";
    c->out->payload_type = "joinery.v1.Person";
    return SC_MAP_OK;
}

/* ---- referrals, cases, assessments, care packages ------------------------------------------ */

/* Sets *DST to the text of NAME when present: proto-c wants "" (its default), never NULL. */
static void set_text(ctx_t *c, char **dst, const char *name)
{
    char *s = text(c, c->body, name);
    if (s != NULL)
        *dst = s;
}

static void set_date(ctx_t *c, char **dst, const char *name)
{
    char *s = date(c, c->body, name);
    if (s != NULL)
        *dst = s;
}

static sc_map_rc_t map_referral(ctx_t *c)
{
    Joinery__V1__Referral *r = &c->out->m.referral;
    joinery__v1__referral__init(r);
    if (id(c, "referral_id", c->out->record_id) != 0 || id(c, "person_id", c->out->person_id) != 0)
        return SC_MAP_UNMAPPABLE;
    r->referral_id = c->out->record_id;
    r->person_local_id = c->out->person_id;
    set_text(c, &r->received_at, "received_at");
    set_text(c, &r->source, "source");
    set_text(c, &r->reason, "reason");
    set_text(c, &r->service_area, "service_area");
    set_text(c, &r->priority, "priority");
    set_text(c, &r->referrer_org_ods, "referrer_org_ods");
    c->out->type = "case.referral.created";
    c->out->payload_type = "joinery.v1.Referral";
    return SC_MAP_OK;
}

static sc_map_rc_t map_case(ctx_t *c)
{
    static const char *const names[] = {"open", "on_hold", "closed", "transferred"};
    Joinery__V1__Case *k = &c->out->m.kase;
    joinery__v1__case__init(k);
    if (id(c, "case_id", c->out->record_id) != 0 || id(c, "person_id", c->out->person_id) != 0)
        return SC_MAP_UNMAPPABLE;
    k->case_id = c->out->record_id;
    k->person_local_id = c->out->person_id;
    c->out->case_open = -1;
    const char *status = text(c, c->body, "status");
    for (size_t i = 0; status != NULL && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(status, names[i]) == 0) {
            k->status = (Joinery__V1__CaseStatus)(i + 1); /* CASE_OPEN .. CASE_TRANSFERRED */
            c->out->case_open = i < 2;
        }
    if (status != NULL && k->status == JOINERY__V1__CASE_STATUS__CASE_STATUS_UNSPECIFIED)
        drop(c, "status", "status is not open, on_hold, closed or transferred; it was dropped");
    set_date(c, &k->opened_on, "opened_on");
    set_date(c, &k->closed_on, "closed_on");
    set_text(c, &k->closure_reason, "closure_reason");
    set_text(c, &k->team, "team");
    set_text(c, &k->lead_worker, "lead_worker");
    c->out->type = "case.updated";
    c->out->payload_type = "joinery.v1.Case";
    return SC_MAP_OK;
}

static sc_map_rc_t map_assessment(ctx_t *c)
{
    Joinery__V1__Assessment *a = &c->out->m.assessment;
    joinery__v1__assessment__init(a);
    if (id(c, "assessment_id", c->out->record_id) != 0 || id(c, "case_id", c->out->person_id) != 0)
        return SC_MAP_UNMAPPABLE;
    a->assessment_id = c->out->record_id;
    char *case_id = store(c, c->out->person_id, strlen(c->out->person_id));
    c->out->person_id[0] = '\0';
    if (case_id == NULL)
        return refuse(c, "the record's text is too long");
    a->case_id = case_id;
    set_text(c, &a->kind, "kind");
    set_date(c, &a->started_on, "started_on");
    set_date(c, &a->completed_on, "completed_on");
    if (a->completed_on[0] == '\0')
        return refuse(c, "completed_on is required (YYYY-MM-DD): this is a completed assessment");
    set_text(c, &a->outcome, "outcome");
    a->eligible_outcomes = c->out->st.list[2];
    a->n_eligible_outcomes = list(c, c->body, "eligible_outcomes", 2);
    c->out->type = "case.assessment.completed";
    c->out->payload_type = "joinery.v1.Assessment";
    return SC_MAP_OK;
}

/* What Agresso turns into a GL07 row (adapters/agresso/gl07.c) must be there and be codes it
 * takes, or the charge would be refused there, far from whoever can put it right. */
static int agresso_code(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == ',' || s[i] == '"')
            return 0;
    return n >= 1 && n <= 25;
}

static sc_map_rc_t package_money(ctx_t *c, Joinery__V1__CarePackage *p)
{
    json_t *cost = json_object_get(c->body, "weekly_cost_pence");
    json_t *hours = json_object_get(c->body, "weekly_hours");
    int charged = strcmp(p->status, "suspended") != 0 && strcmp(p->status, "ended") != 0;
    if (json_is_integer(cost) && json_integer_value(cost) > 0)
        p->weekly_cost_pence = json_integer_value(cost);
    else if (charged)
        return refuse(c, "weekly_cost_pence must be a positive whole number of pence for a "
                         "planned or active package");
    if (json_is_number(hours) && json_number_value(hours) >= 0 && json_number_value(hours) <= 168)
        p->weekly_hours = json_number_value(hours);
    else if (hours != NULL && !json_is_null(hours))
        drop(c, "weekly_hours", "weekly_hours is not a number from 0 to 168; it was dropped");
    return SC_MAP_OK;
}

static sc_map_rc_t map_package(ctx_t *c)
{
    static const char *const services[] = {"home care", "residential", "nursing", "direct payment"};
    static const char *const statuses[] = {"planned", "active", "suspended", "ended"};
    Joinery__V1__CarePackage *p = &c->out->m.package;
    joinery__v1__care_package__init(p);
    if (id(c, "package_id", c->out->record_id) != 0 || id(c, "case_id", c->out->person_id) != 0)
        return SC_MAP_UNMAPPABLE;
    if (!agresso_code(c->out->record_id))
        return refuse(c, "package_id must be 1 to 25 characters without commas or quotes: it is "
                         "Agresso's project code");
    p->package_id = c->out->record_id;
    char *case_id = store(c, c->out->person_id, strlen(c->out->person_id));
    c->out->person_id[0] = '\0';
    if (case_id == NULL)
        return refuse(c, "the record's text is too long");
    p->case_id = case_id;
    set_text(c, &p->service_type, "service_type");
    set_text(c, &p->status, "status");
    size_t i;
    for (i = 0; i < 4 && strcmp(p->service_type, services[i]) != 0; i++)
        ;
    if (i == 4)
        return refuse(c, "service_type must be one of: home care, residential, nursing, direct "
                         "payment (Agresso's service codes)");
    for (i = 0; i < 4 && strcmp(p->status, statuses[i]) != 0; i++)
        ;
    if (i == 4)
        return refuse(c, "status must be one of: planned, active, suspended, ended");
    set_text(c, &p->provider_id, "provider_id");
    if (p->provider_id[0] && (!agresso_code(p->provider_id) || strchr(p->provider_id, ' ')))
        return refuse(c, "provider_id must be Agresso's supplier id: 1 to 25 characters without "
                         "blanks, commas or quotes");
    set_date(c, &p->start_date, "start_date");
    set_date(c, &p->end_date, "end_date");
    if (package_money(c, p) != SC_MAP_OK)
        return SC_MAP_UNMAPPABLE;
    const char *change = text(c, c->body, "change");
    if (change != NULL && strcmp(change, "created") != 0 && strcmp(change, "updated") != 0)
        return refuse(c, "change must be created or updated");
    c->out->type = change != NULL && strcmp(change, "created") == 0 ? "case.care_package.created"
                                                                    : "case.care_package.updated";
    c->out->payload_type = "joinery.v1.CarePackage";
    return SC_MAP_OK;
}

/* ---- the whole record ---------------------------------------------------------------------- */

static const char *const KIND_NAME[] = {"person", "referral", "case", "assessment", "package"};

/* -1 when the payload would not fit. */
static int pack(sc_mapped_t *m, sc_kind_t kind)
{
    const ProtobufCMessage *msg = kind == SC_PEOPLE        ? &m->m.person.base
                                  : kind == SC_REFERRALS   ? &m->m.referral.base
                                  : kind == SC_CASES       ? &m->m.kase.base
                                  : kind == SC_ASSESSMENTS ? &m->m.assessment.base
                                                           : &m->m.package.base;
    if (protobuf_c_message_get_packed_size(msg) > sizeof m->payload)
        return -1;
    m->payload_len = protobuf_c_message_pack(msg, m->payload);
    return 0;
}

sc_map_rc_t sc_map(sc_kind_t kind, const void *body, size_t len, const sc_map_opts_t *o,
                   sc_mapped_t *out)
{
    static const sc_map_opts_t none = {0};
    memset(out, 0, sizeof *out);
    ctx_t c = {.o = o ? o : &none, .out = out};
    json_error_t je;
    if (len > SC_MAX_BODY || body == NULL) {
        (void)snprintf(out->why, sizeof out->why, "the body is empty or over %u bytes",
                       SC_MAX_BODY);
        return SC_MAP_UNREADABLE;
    }
    c.body = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (c.body == NULL || !json_is_object(c.body)) {
        (void)snprintf(out->why, sizeof out->why, "the body is not one JSON object: %s",
                       c.body ? "another JSON value" : je.text);
        json_decref(c.body);
        return SC_MAP_UNREADABLE;
    }
    sc_map_rc_t rc = kind == SC_PEOPLE        ? map_person(&c)
                     : kind == SC_REFERRALS   ? map_referral(&c)
                     : kind == SC_CASES       ? map_case(&c)
                     : kind == SC_ASSESSMENTS ? map_assessment(&c)
                                              : map_package(&c);
    json_decref(c.body);
    if (rc != SC_MAP_OK)
        return rc;
    if (pack(out, kind) != 0)
        return refuse(&c, "the record is over %d bytes packed", SC_PAYLOAD_MAX);
    (void)snprintf(out->event_id, sizeof out->event_id, "sc-%s-%s-%016llx", KIND_NAME[kind],
                   out->record_id, (unsigned long long)sc_map_hash(body, len));
    return SC_MAP_OK;
}
