/* crm_webhook.c - a Dataverse RemoteExecutionContext as a Joinery event (contract in
 * crm_webhook.h). Every value goes the same way: found in Target (else in the post image),
 * checked for its JSON type, copied into the result's own text store and cleaned as the hub
 * cleans text, then checked by the hub's own rules (match/validate.h), so that what the hub
 * would refuse is dropped here, alone, instead of the hub refusing the whole contact. */
#include "crm_webhook.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match/validate.h"

typedef struct {
    const crm_webhook_opts_t *o;
    crm_mapped_t *out;
    json_t *target; /* Target's Attributes (array), or NULL */
    json_t *image;  /* the post image's Attributes (array), or NULL */
} ctx_t;

/* ---- small helpers ------------------------------------------------------------------------- */

uint64_t crm_webhook_hash(const void *body, size_t len)
{
    const unsigned char *p = body;
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void drop(ctx_t *c, const char *attribute, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void drop(ctx_t *c, const char *attribute, const char *fmt, ...)
{
    crm_mapped_t *out = c->out;
    if (out->n_drops == CRM_MAX_DROPS) {
        out->drops_lost++;
        return;
    }
    crm_drop_t *d = &out->drops[out->n_drops++];
    (void)snprintf(d->attribute, sizeof d->attribute, "%s", attribute);
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(d->reason, sizeof d->reason, fmt, ap);
    va_end(ap);
}

static const char *store(ctx_t *c, const char *s, size_t n)
{
    crm_store_t *st = &c->out->st;
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

/* S (N bytes) into the store with blanks collapsed and trimmed; NULL and WHY when it is not text
 * the hub takes. "" stays "" (the caller treats it as absent). */
static const char *clean(ctx_t *c, const char *s, size_t n, char *why, size_t whylen)
{
    crm_store_t *st = &c->out->st;
    if (n > CRM_MAX_TEXT) {
        (void)snprintf(why, whylen, "is longer than %d bytes", CRM_MAX_TEXT);
        return NULL;
    }
    if (st->used + n + 1 > sizeof st->text) {
        (void)snprintf(why, whylen, "does not fit: the record's text is too long");
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
        if (len == 0) {
            (void)snprintf(why, whylen, "is not UTF-8 text");
            return NULL;
        }
        if (*p < 0x20 || *p == 0x7f) {
            (void)snprintf(why, whylen, "contains a control character");
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

/* The value of KEY in a Dataverse key/value list ([{"key": K, "value": V}, ...]), or NULL. */
static json_t *kv_find(json_t *list, const char *key)
{
    size_t i;
    json_t *kv;
    if (!json_is_array(list))
        return NULL;
    json_array_foreach(list, i, kv)
    {
        const char *k = json_string_value(json_object_get(kv, "key"));
        if (k != NULL && strcmp(k, key) == 0)
            return json_object_get(kv, "value");
    }
    return NULL;
}

/* Attribute NAME: Target's, else the post image's; NULL when neither has it or it is null (a
 * cleared value: proto3 cannot say "cleared", so it is not sent). */
static json_t *attr(ctx_t *c, const char *name)
{
    json_t *v = kv_find(c->target, name);
    if (v == NULL)
        v = kv_find(c->image, name);
    return json_is_null(v) ? NULL : v;
}

/* A text attribute, cleaned into the store; NULL when absent, empty or dropped. */
static const char *text(ctx_t *c, const char *name)
{
    json_t *v = attr(c, name);
    if (v == NULL)
        return NULL;
    if (!json_is_string(v)) {
        drop(c, name, "%s is not text; it was dropped", name);
        return NULL;
    }
    char why[96];
    const char *s = clean(c, json_string_value(v), json_string_length(v), why, sizeof why);
    if (s == NULL) {
        drop(c, name, "%s %s; it was dropped", name, why);
        return NULL;
    }
    return s[0] ? s : NULL;
}

/* An OptionSetValue ({"Value": N}) or a bare integer: 1 and *OUT, 0 when absent, -1 (dropped)
 * when it is neither. */
static int option(ctx_t *c, const char *name, long long *out)
{
    json_t *v = attr(c, name);
    if (v == NULL)
        return 0;
    if (json_is_object(v))
        v = json_object_get(v, "Value");
    if (!json_is_integer(v)) {
        drop(c, name, "%s is not an OptionSetValue; it was dropped", name);
        return -1;
    }
    *out = json_integer_value(v);
    return 1;
}

/* days since 1970-01-01 -> civil date (H. Hinnant's algorithm). */
static void civil(long long z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long yy = (long long)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (*m <= 2));
}

/* "/Date(MS)/" or "/Date(MS+HHMM)/" (WCF's JSON date: MS since the epoch in UTC, the offset the
 * zone the value was written in): *UTC_MS, and *LOCAL_MS, the time in that zone; 0, or -1. */
static int wcf_ms(const char *s, long long *utc_ms, long long *local_ms)
{
    static const char pre[] = "/Date(";
    if (strncmp(s, pre, sizeof pre - 1) != 0)
        return -1;
    const char *p = s + sizeof pre - 1;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    long long ms = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (digits >= 15) /* beyond year 9999 either way */
            return -1;
        ms = ms * 10 + (*p - '0');
    }
    if (digits == 0)
        return -1;
    ms = neg ? -ms : ms;
    *utc_ms = ms;
    if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        p++;
        for (int i = 0; i < 4; i++)
            if (p[i] < '0' || p[i] > '9')
                return -1;
        long long mins = ((p[0] - '0') * 10 + (p[1] - '0')) * 60 + (p[2] - '0') * 10 + (p[3] - '0');
        ms += sign * mins * 60000;
        p += 4;
    }
    if (strcmp(p, ")/") != 0)
        return -1;
    *local_ms = ms;
    return 0;
}

/* MS as "YYYY-MM-DD" (WITH_TIME 0) or "YYYY-MM-DDTHH:MM:SSZ" into OUT (48 bytes); -1 outside
 * years 1-9999. */
static int format_ms(long long ms, int with_time, char out[48])
{
    long long days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
    long long rest = (ms - days * 86400000) / 1000;
    int y;
    unsigned m, d;
    civil(days, &y, &m, &d);
    if (y < 1 || y > 9999)
        return -1;
    if (with_time)
        (void)snprintf(out, 48, "%04d-%02u-%02uT%02u:%02u:%02uZ", y, m, d, (unsigned)(rest / 3600),
                       (unsigned)(rest / 60 % 60), (unsigned)(rest % 60));
    else
        (void)snprintf(out, 48, "%04d-%02u-%02u", y, m, d);
    return 0;
}

/* A date attribute as YYYY-MM-DD, the day in the zone it was written in (WITH_TIME: the UTC
 * time, YYYY-MM-DDTHH:MM:SSZ): the WCF form, or ISO 8601 text whose first ten characters are the
 * date (then the date alone). NULL when absent or dropped. */
static const char *date(ctx_t *c, const char *name, int with_time)
{
    json_t *v = attr(c, name);
    if (v == NULL)
        return NULL;
    const char *s = json_string_value(v);
    char day[48], why[160];
    if (s == NULL) {
        drop(c, name, "%s is not a date; it was dropped", name);
        return NULL;
    }
    long long utc, local;
    if (wcf_ms(s, &utc, &local) != 0 || format_ms(with_time ? utc : local, with_time, day) != 0) {
        if (strncmp(s, "/Date(", 6) == 0) {
            drop(c, name, "%s is not a date (\"/Date(ms)/\" or YYYY-MM-DD); it was dropped", name);
            return NULL;
        }
        size_t n = strlen(s);
        if (n < 10 || (n > 10 && s[10] != 'T')) {
            drop(c, name, "%s is not a date (\"/Date(ms)/\" or YYYY-MM-DD); it was dropped", name);
            return NULL;
        }
        memcpy(day, s, 10);
        day[10] = '\0';
    }
    char ymd[11];
    memcpy(ymd, day, 10);
    ymd[10] = '\0';
    if (validate_date(ymd, why, sizeof why) != 0) {
        drop(c, name, "%s: %s; it was dropped", name, why);
        return NULL;
    }
    return store(c, day, strlen(day));
}

/* ---- contact -> Person --------------------------------------------------------------------- */

static void person_name(ctx_t *c)
{
    crm_store_t *st = &c->out->st;
    Joinery__V1__Person *p = &c->out->person;
    const char *first = text(c, "firstname"), *middle = text(c, "middlename");
    const char *last = text(c, "lastname");
    if (first == NULL && middle == NULL && last == NULL)
        return;
    joinery__v1__human_name__init(&st->name);
    st->name.use = "official";
    if (first)
        st->given[st->name.n_given++] = (char *)first;
    if (middle)
        st->given[st->name.n_given++] = (char *)middle;
    st->name.given = st->given;
    if (last)
        st->name.family = (char *)last;
    p->name = &st->name;
}

static void birth(ctx_t *c)
{
    const char *day = date(c, "birthdate", 0);
    char why[160];
    if (day == NULL)
        return;
    if (c->o->today != NULL && validate_birth_death(day, NULL, c->o->today, why, sizeof why) != 0) {
        drop(c, "birthdate", "birthdate: %s; it was dropped", why);
        return;
    }
    c->out->person.birth_date = (char *)day;
}

static void sex(ctx_t *c)
{
    long long v;
    int rc = option(c, "gendercode", &v);
    if (rc <= 0)
        return;
    if (v == 1)
        c->out->person.sex = JOINERY__V1__ADMINISTRATIVE_SEX__SEX_MALE;
    else if (v == 2)
        c->out->person.sex = JOINERY__V1__ADMINISTRATIVE_SEX__SEX_FEMALE;
    else
        drop(c, "gendercode", "gendercode %lld is not 1 (male) or 2 (female); it was dropped", v);
}

static void nhs_number(ctx_t *c)
{
    const char *name = c->o->nhs_number_attribute;
    if (name == NULL || name[0] == '\0')
        return;
    const char *s = text(c, name);
    char why[200], digits[11];
    if (s == NULL)
        return;
    if (validate_nhs_number(s, why, sizeof why) != 0 ||
        validate_nhs_number_normalise(s, digits) != 0) {
        drop(c, name, "%s: %s; the NHS number was dropped", name, why);
        return;
    }
    c->out->person.nhs_number = (char *)store(c, digits, 10);
}

static void address(ctx_t *c)
{
    crm_store_t *st = &c->out->st;
    static const char *const line_attrs[] = {"address1_line1", "address1_line2", "address1_line3"};
    Joinery__V1__Address *a = &st->addr;
    joinery__v1__address__init(a);
    for (size_t i = 0; i < 3; i++) {
        const char *l = text(c, line_attrs[i]);
        if (l != NULL)
            st->lines[a->n_lines++] = (char *)l;
    }
    a->lines = st->lines;
    const char *town = text(c, "address1_city");
    if (town != NULL)
        a->town = (char *)town;
    const char *pc = text(c, "address1_postalcode");
    char canon[16], why[160];
    if (pc != NULL) {
        if (validate_postcode(pc, why, sizeof why) != 0 ||
            validate_postcode_normalise(pc, canon, sizeof canon) != 0)
            drop(c, "address1_postalcode", "address1_postalcode: %s; it was dropped", why);
        else
            a->postcode = (char *)store(c, canon, strlen(canon));
    }
    if (a->n_lines == 0 && town == NULL && (a->postcode == NULL || a->postcode[0] == '\0'))
        return;
    a->use = "home";
    st->addr_ptr[0] = a;
    c->out->person.addresses = st->addr_ptr;
    c->out->person.n_addresses = 1;
}

static void contact_point(ctx_t *c, const char *name, char *system, char *use)
{
    crm_store_t *st = &c->out->st;
    Joinery__V1__Person *p = &c->out->person;
    const char *v = text(c, name);
    if (v == NULL || p->n_telecom == 3)
        return;
    Joinery__V1__ContactPoint *t = &st->tel[p->n_telecom];
    joinery__v1__contact_point__init(t);
    t->system = system;
    t->value = (char *)v;
    t->use = use;
    st->tel_ptrs[p->n_telecom++] = t;
    p->telecom = st->tel_ptrs;
}

static int person_empty(const Joinery__V1__Person *p)
{
    return p->name == NULL && p->birth_date[0] == '\0' && p->sex == 0 && p->nhs_number[0] == '\0' &&
           p->n_addresses == 0 && p->n_telecom == 0;
}

static crm_map_rc_t contact(ctx_t *c)
{
    crm_mapped_t *out = c->out;
    joinery__v1__person__init(&out->person);
    person_name(c);
    birth(c);
    sex(c);
    nhs_number(c);
    address(c);
    /* telephone1 first: the golden record keeps the first phone. */
    contact_point(c, "telephone1", "phone", "work");
    contact_point(c, "mobilephone", "phone", "mobile");
    contact_point(c, "emailaddress1", "email", "home");
    if (person_empty(&out->person)) {
        (void)snprintf(out->why, sizeof out->why,
                       "nothing Joinery keeps about a contact was sent or could be kept");
        return CRM_MAP_IGNORED;
    }
    out->type = "person.updated";
    out->payload_type = "joinery.v1.Person";
    size_t n = protobuf_c_message_get_packed_size(&out->person.base);
    if (n > sizeof out->payload) {
        (void)snprintf(out->why, sizeof out->why, "the contact is too large");
        return CRM_MAP_UNMAPPABLE;
    }
    out->payload_len = protobuf_c_message_pack(&out->person.base, out->payload);
    return CRM_MAP_OK;
}

/* ---- incident -> ServiceRequest ------------------------------------------------------------ */

static const char *status_name(long long v)
{
    /* incident statuscode: Active 1-4, Resolved 5 and 1000, Cancelled 6 and 2000. */
    if (v >= 1 && v <= 4)
        return "in-progress";
    if (v == 5 || v == 1000)
        return "resolved";
    if (v == 6 || v == 2000)
        return "cancelled";
    return NULL;
}

static const char *channel_name(long long v)
{
    /* incident caseorigincode: 1 Phone, 2 Email, 3 Web. */
    return v == 1 ? "phone" : v == 2 ? "email" : v == 3 ? "web" : NULL;
}

/* customerid: an EntityReference; only a contact is a person. */
static void customer(ctx_t *c)
{
    json_t *v = attr(c, "customerid");
    if (v == NULL)
        return;
    const char *kind = json_string_value(json_object_get(v, "LogicalName"));
    const char *id = json_string_value(json_object_get(v, "Id"));
    if (!json_is_object(v) || kind == NULL || id == NULL || strlen(id) != 36) {
        drop(c, "customerid", "customerid is not an EntityReference; it was dropped");
        return;
    }
    if (strcmp(kind, "contact") != 0)
        return; /* an account: no person to name */
    char lower[37];
    for (size_t i = 0; i < 36; i++)
        lower[i] = (char)((id[i] >= 'A' && id[i] <= 'Z') ? id[i] + 32 : id[i]);
    lower[36] = '\0';
    c->out->request.contact_id = (char *)store(c, lower, 36);
}

static void request_codes(ctx_t *c, int create)
{
    Joinery__V1__ServiceRequest *r = &c->out->request;
    long long v;
    if (option(c, "statuscode", &v) > 0) {
        const char *s = status_name(v);
        if (s != NULL)
            r->status = (char *)s;
        else
            drop(c, "statuscode",
                 "statuscode %lld is not a known incident status; it was "
                 "dropped",
                 v);
    } else if (create) {
        r->status = "new";
    }
    if (option(c, "caseorigincode", &v) > 0) {
        const char *s = channel_name(v);
        if (s != NULL)
            r->channel = (char *)s;
        else
            drop(c, "caseorigincode",
                 "caseorigincode %lld is not phone, email or web; it was "
                 "dropped",
                 v);
    }
}

static crm_map_rc_t incident(ctx_t *c, int create)
{
    crm_mapped_t *out = c->out;
    Joinery__V1__ServiceRequest *r = &out->request;
    joinery__v1__service_request__init(r);
    r->request_id = out->record_id;
    const char *title = text(c, "title");
    if (title != NULL)
        r->description = (char *)title;
    const char *ticket = text(c, "ticketnumber");
    if (ticket != NULL)
        (void)snprintf(out->ticket, sizeof out->ticket, "%s", ticket);
    customer(c);
    request_codes(c, create);
    const char *opened = date(c, "createdon", 1);
    if (opened != NULL)
        r->opened_at = (char *)opened;
    out->type = create ? "crm.service_request.created" : "crm.service_request.updated";
    out->payload_type = "joinery.v1.ServiceRequest";
    size_t n = protobuf_c_message_get_packed_size(&r->base);
    if (n > sizeof out->payload) {
        (void)snprintf(out->why, sizeof out->why, "the incident is too large");
        return CRM_MAP_UNMAPPABLE;
    }
    out->payload_len = protobuf_c_message_pack(&r->base, out->payload);
    return CRM_MAP_OK;
}

/* ---- the context --------------------------------------------------------------------------- */

/* A GUID as Dataverse writes it (8-4-4-4-12 hex), lower-cased into OUT. */
static int guid(const char *s, char out[37])
{
    if (s == NULL || strlen(s) != 36)
        return -1;
    for (size_t i = 0; i < 36; i++) {
        char ch = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (ch != '-')
                return -1;
        } else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
                     (ch >= 'A' && ch <= 'F'))) {
            return -1;
        }
        out[i] = (char)((ch >= 'A' && ch <= 'F') ? ch + 32 : ch);
    }
    out[36] = '\0';
    return 0;
}

static crm_map_rc_t unmappable(crm_mapped_t *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static crm_map_rc_t unmappable(crm_mapped_t *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(out->why, sizeof out->why, fmt, ap);
    va_end(ap);
    return CRM_MAP_UNMAPPABLE;
}

/* A printable name for the log and the answer: what is not [A-Za-z0-9_] becomes '_'. */
static void safe_copy(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    for (; src != NULL && src[i] && i + 1 < cap; i++) {
        char ch = src[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '_';
        dst[i] = ok ? ch : '_';
    }
    dst[i] = '\0';
}

/* The header of the context: message, entity, ids; the event id. */
static crm_map_rc_t header(json_t *root, const void *body, size_t len, crm_mapped_t *out)
{
    const char *msg = json_string_value(json_object_get(root, "MessageName"));
    const char *ent = json_string_value(json_object_get(root, "PrimaryEntityName"));
    safe_copy(out->message, sizeof out->message, msg);
    safe_copy(out->entity, sizeof out->entity, ent);
    if (msg == NULL || ent == NULL)
        return unmappable(out, "not a Dataverse RemoteExecutionContext: MessageName and "
                               "PrimaryEntityName are required");
    if (strcmp(ent, "contact") != 0 && strcmp(ent, "incident") != 0)
        return unmappable(out, "entity '%s' is not mapped: only contact and incident are",
                          out->entity);
    char corr[37];
    if (guid(json_string_value(json_object_get(root, "PrimaryEntityId")), out->record_id) != 0)
        return unmappable(out, "PrimaryEntityId must be the record's GUID");
    if (guid(json_string_value(json_object_get(root, "CorrelationId")), corr) != 0)
        return unmappable(out, "CorrelationId must be a GUID");
    (void)snprintf(out->event_id, sizeof out->event_id, "crm-%s-%s-%.16s-%016llx", corr,
                   out->record_id, out->message, (unsigned long long)crm_webhook_hash(body, len));
    return CRM_MAP_OK;
}

/* Target's and the post image's Attributes. */
static void attributes(ctx_t *c, json_t *root)
{
    json_t *target = kv_find(json_object_get(root, "InputParameters"), "Target");
    json_t *ta = json_object_get(target, "Attributes");
    c->target = json_is_array(ta) ? ta : NULL;
    size_t i;
    json_t *kv;
    json_t *images = json_object_get(root, "PostEntityImages");
    if (!json_is_array(images))
        return;
    json_array_foreach(images, i, kv)
    {
        json_t *a = json_object_get(json_object_get(kv, "value"), "Attributes");
        if (json_is_array(a)) {
            c->image = a;
            return;
        }
    }
}

static crm_map_rc_t map_root(json_t *root, const void *body, size_t len, ctx_t *c)
{
    crm_mapped_t *out = c->out;
    crm_map_rc_t rc = header(root, body, len, out);
    if (rc != CRM_MAP_OK)
        return rc;
    int create = strcmp(out->message, "Create") == 0;
    if (strcmp(out->message, "Delete") == 0) {
        (void)snprintf(out->why, sizeof out->why,
                       "Delete of a%s %s is not taken: the hub's master data keeps no deletions; "
                       "ignored",
                       out->entity[0] == 'i' ? "n" : "", out->entity);
        return CRM_MAP_IGNORED;
    }
    if (!create && strcmp(out->message, "Update") != 0)
        return unmappable(out, "message '%s' is not mapped: only Create, Update and Delete are",
                          out->message);
    attributes(c, root);
    if (c->target == NULL)
        return unmappable(out, "InputParameters has no Target entity with Attributes");
    return strcmp(out->entity, "contact") == 0 ? contact(c) : incident(c, create);
}

crm_map_rc_t crm_webhook_map(const void *body, size_t len, const crm_webhook_opts_t *o,
                             crm_mapped_t *out)
{
    memset(out, 0, offsetof(crm_mapped_t, payload));
    out->payload_len = 0;
    out->st.used = 0;
    out->type = out->payload_type = NULL;
    joinery__v1__person__init(&out->person);
    joinery__v1__service_request__init(&out->request);
    ctx_t c = {.o = o, .out = out};
    const unsigned char *b = body;
    if (len >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf) { /* .NET may write a BOM */
        b += 3;
        len -= 3;
    }
    if (len > CRM_MAX_BODY) {
        (void)snprintf(out->why, sizeof out->why, "the body is longer than %u bytes", CRM_MAX_BODY);
        return CRM_MAP_UNREADABLE;
    }
    json_error_t e;
    json_t *root = json_loadb((const char *)b, len, JSON_REJECT_DUPLICATES, &e);
    if (root == NULL || !json_is_object(root)) {
        if (root == NULL)
            (void)snprintf(out->why, sizeof out->why, "not JSON: %s at line %d, column %d", e.text,
                           e.line, e.column);
        else
            (void)snprintf(out->why, sizeof out->why, "the body is JSON but not one object");
        json_decref(root);
        return CRM_MAP_UNREADABLE;
    }
    crm_map_rc_t rc = map_root(root, b, len, &c);
    json_decref(root);
    return rc;
}
