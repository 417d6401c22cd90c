/* crm_outbound.c - joinery-crm's write-back side (contract in crm_outbound.h).
 *
 * The SDK's handler only builds: it turns the event into a request for adapter_httpc (which
 * copies it into a slot of its own pool) and answers JOINERY_DEFER. The answer comes to on_done
 * from crm_outbound_handle, outside the SDK, and settles the delivery there. */
#include "crm_outbound.h"
#include "common/adapter_arena.h"
#include "common/adapter_httpc.h"
#include "common/adapter_log.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_CREDIT 64
#define DEFAULT_SUBSCRIPTION "crm-writeback"
#define ARENA_BYTES (256 * 1024)
#define URL_MAX 1024
#define BASE_URL_MAX 512
#define BODY_MAX (32 * 1024)
#define REASON_MAX 400
#define EXCERPT_MAX 200
#define GUID_LEN 36
#define VALUE_MAX 4096 /* a correction's value, as text */
#define GIVEN_MAX 8
#define API_PATH "/api/data/v9.2/"
#define CHANGED_TYPE "person.changed"
#define CORRECTION_TYPE "person.correction"
#define CASE_TYPE "case.changed"

/* One delivery waiting for Dataverse; the request's UD. */
typedef struct {
    struct crm_outbound *owner;
    uint64_t seq;
    int used;
} held_t;

struct crm_outbound {
    crm_outbound_opts_t o;
    joinery_client_t *client; /* borrowed */
    adapter_httpc_t *hc;      /* owned */
    held_t *held;             /* o.credit of them; owned */
    size_t nheld;
    adapter_arena_t *arena; /* payloads unpacked, reset per event; owned */
    char url[URL_MAX];
    char body[BODY_MAX];
};

/* ---- a JSON writer over a fixed buffer ----------------------------------------------------- */

/* Writes into a caller's buffer in a fixed key order, so a body is the same bytes every time
 * (and a test can compare it whole); `over` remembers that something did not fit. */
typedef struct {
    char *p;
    size_t cap, len;
    int over, items;
} jw_t;

static void jw_raw(jw_t *w, const char *s, size_t n)
{
    if (w->over || n >= w->cap - w->len) {
        w->over = 1;
        return;
    }
    memcpy(w->p + w->len, s, n);
    w->len += n;
    w->p[w->len] = '\0';
}

static void jw_text(jw_t *w, const char *s)
{
    jw_raw(w, s, strlen(s));
}

static void jw_str(jw_t *w, const char *s)
{
    jw_raw(w, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char esc[8];
        if (*c == '"' || *c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*c;
            jw_raw(w, esc, 2);
        } else if (*c < 0x20) {
            (void)snprintf(esc, sizeof esc, "\\u%04x", *c);
            jw_raw(w, esc, 6);
        } else {
            jw_raw(w, (const char *)c, 1);
        }
    }
    jw_raw(w, "\"", 1);
}

static void jw_key(jw_t *w, const char *k)
{
    if (w->items++ > 0)
        jw_raw(w, ", ", 2);
    else
        jw_raw(w, "{", 1);
    jw_str(w, k);
    jw_raw(w, ": ", 2);
}

/* K: V, or K: null when V is NULL or "" (Dataverse clears the attribute). */
static void jw_kstr(jw_t *w, const char *k, const char *v)
{
    jw_key(w, k);
    if (v == NULL || v[0] == '\0')
        jw_text(w, "null");
    else
        jw_str(w, v);
}

static int jw_end(jw_t *w, size_t *len, char *why, size_t whylen)
{
    if (w->items == 0)
        return 0;
    jw_raw(w, "}", 1);
    if (w->over) {
        (void)snprintf(why, whylen, "the request body is over %zu bytes", w->cap - 1);
        return -1;
    }
    *len = w->len;
    return 1;
}

/* ---- person -> contact attributes ---------------------------------------------------------- */

enum {
    F_GIVEN = 1 << 0,
    F_FAMILY = 1 << 1,
    F_BIRTH = 1 << 2,
    F_SEX = 1 << 3,
    F_NHS = 1 << 4,
    F_ADDR = 1 << 5,
    F_POSTCODE = 1 << 6,
    F_PHONE = 1 << 7,
    F_EMAIL = 1 << 8,
};

/* The golden record's field paths the CRM holds (docs/master-data.md); the rest it does not. */
static unsigned field_flag(const char *path)
{
    static const struct {
        const char *path;
        unsigned flag;
    } map[] = {
        {"name.given", F_GIVEN},
        {"name.family", F_FAMILY},
        {"birth_date", F_BIRTH},
        {"sex", F_SEX},
        {"nhs_number", F_NHS},
        {"address.home", F_ADDR | F_POSTCODE}, /* its text carries the postcode too */
        {"address.home.postcode", F_POSTCODE},
        {"telecom.phone", F_PHONE},
        {"telecom.email", F_EMAIL},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(path, map[i].path) == 0)
            return map[i].flag;
    return 0;
}

static const char *telecom(const Joinery__V1__Person *p, const char *system)
{
    for (size_t i = 0; p != NULL && i < p->n_telecom; i++)
        if (p->telecom[i] != NULL && p->telecom[i]->system != NULL &&
            strcmp(p->telecom[i]->system, system) == 0)
            return p->telecom[i]->value;
    return NULL;
}

static const Joinery__V1__Address *home(const Joinery__V1__Person *p)
{
    return p != NULL && p->n_addresses > 0 ? p->addresses[0] : NULL;
}

/* Dataverse's gendercode option set as crm_webhook reads it (1 male, 2 female); what it has no
 * option for is cleared rather than left saying something the golden record no longer does. */
static void write_gender(jw_t *w, const Joinery__V1__Person *p)
{
    jw_key(w, "gendercode");
    if (p != NULL && p->sex == JOINERY__V1__ADMINISTRATIVE_SEX__SEX_MALE)
        jw_text(w, "1");
    else if (p != NULL && p->sex == JOINERY__V1__ADMINISTRATIVE_SEX__SEX_FEMALE)
        jw_text(w, "2");
    else
        jw_text(w, "null");
}

/* firstname is the first given name and middlename the rest, as crm_webhook joins them. */
static void write_given(jw_t *w, const Joinery__V1__HumanName *n)
{
    size_t ng = n != NULL ? n->n_given : 0;
    char mid[VALUE_MAX];
    size_t at = 0;
    mid[0] = '\0';
    for (size_t i = 1; i < ng; i++) {
        const char *g = n->given[i] ? n->given[i] : "";
        int k = snprintf(mid + at, sizeof mid - at, "%s%s", at ? " " : "", g);
        if (k < 0 || (size_t)k >= sizeof mid - at) {
            w->over = 1;
            return;
        }
        at += (size_t)k;
    }
    jw_kstr(w, "firstname", ng > 0 ? n->given[0] : NULL);
    jw_kstr(w, "middlename", mid);
}

static void write_address(jw_t *w, const Joinery__V1__Address *a, unsigned f)
{
    static const char *const lines[] = {"address1_line1", "address1_line2", "address1_line3"};
    if (f & F_ADDR) {
        for (size_t i = 0; i < 3; i++)
            jw_kstr(w, lines[i], a != NULL && i < a->n_lines ? a->lines[i] : NULL);
        jw_kstr(w, "address1_city", a != NULL ? a->town : NULL);
    }
    if (f & F_POSTCODE)
        jw_kstr(w, "address1_postalcode", a != NULL ? a->postcode : NULL);
}

static int contact_body(const Joinery__V1__Person *p, unsigned f, const char *nhs_attr, char *out,
                        size_t cap, size_t *len, char *why, size_t whylen)
{
    jw_t w = {.p = out, .cap = cap};
    const Joinery__V1__HumanName *name = p != NULL ? p->name : NULL;
    if (cap == 0)
        return -1;
    out[0] = '\0';
    if (f & F_GIVEN)
        write_given(&w, name);
    if (f & F_FAMILY)
        jw_kstr(&w, "lastname", name != NULL ? name->family : NULL);
    if (f & F_BIRTH)
        jw_kstr(&w, "birthdate", p != NULL ? p->birth_date : NULL);
    if (f & F_SEX)
        write_gender(&w, p);
    if ((f & F_NHS) && nhs_attr != NULL && nhs_attr[0] != '\0')
        jw_kstr(&w, nhs_attr, p != NULL ? p->nhs_number : NULL);
    write_address(&w, home(p), f);
    if (f & F_PHONE)
        jw_kstr(&w, "telephone1", telecom(p, "phone"));
    if (f & F_EMAIL)
        jw_kstr(&w, "emailaddress1", telecom(p, "email"));
    return jw_end(&w, len, why, whylen);
}

int crm_outbound_contact_json(const Joinery__V1__PersonChanged *pc, const char *nhs_attr, char *out,
                              size_t cap, size_t *len, char *why, size_t whylen)
{
    unsigned f = 0;
    for (size_t i = 0; i < pc->n_changed_fields; i++)
        f |= pc->changed_fields[i] ? field_flag(pc->changed_fields[i]) : 0;
    return contact_body(pc->person, f, nhs_attr, out, cap, len, why, whylen);
}

/* ---- a correction's canonical text as a Person --------------------------------------------- */

/* The pieces a correction's value fills; the Person's pointers go into V (split in place). */
typedef struct {
    Joinery__V1__Person p;
    Joinery__V1__HumanName name;
    char *given[GIVEN_MAX];
    Joinery__V1__Address addr, *addrs[1];
    char *lines[3];
    Joinery__V1__ContactPoint tel, *tels[1];
} fixed_person_t;

/* Splits S in place at each SEP into at most MAX pieces; the last keeps any rest. */
static size_t split(char *s, char sep, char **out, size_t max)
{
    size_t n = 0;
    while (s != NULL && *s && n < max) {
        out[n++] = s;
        s = n < max ? strchr(s, sep) : NULL;
        if (s != NULL)
            *s++ = '\0';
    }
    return n;
}

/* The golden address text: lines (by "\n"), then "|town|postcode|uprn". */
static void parse_address(fixed_person_t *fp, char *v)
{
    char *town = strchr(v, '|');
    if (town != NULL)
        *town++ = '\0';
    fp->addr.n_lines = split(v, '\n', fp->lines, 3);
    fp->addr.lines = fp->lines;
    char *pc = town != NULL ? strchr(town, '|') : NULL;
    if (pc != NULL) {
        *pc++ = '\0';
        char *uprn = strchr(pc, '|');
        if (uprn != NULL)
            *uprn = '\0';
        fp->addr.postcode = pc;
    }
    fp->addr.town = town != NULL ? town : "";
}

static Joinery__V1__AdministrativeSex sex_named(const char *v)
{
    if (strcmp(v, "male") == 0)
        return JOINERY__V1__ADMINISTRATIVE_SEX__SEX_MALE;
    if (strcmp(v, "female") == 0)
        return JOINERY__V1__ADMINISTRATIVE_SEX__SEX_FEMALE;
    return JOINERY__V1__ADMINISTRATIVE_SEX__SEX_UNSPECIFIED;
}

static void fill_person(fixed_person_t *fp, unsigned f, char *v)
{
    Joinery__V1__Person *p = &fp->p;
    if (f & (F_GIVEN | F_FAMILY)) {
        p->name = &fp->name;
        if (f & F_GIVEN) {
            fp->name.n_given = split(v, ' ', fp->given, GIVEN_MAX);
            fp->name.given = fp->given;
        } else {
            fp->name.family = v;
        }
    } else if (f & F_BIRTH) {
        p->birth_date = v;
    } else if (f & F_SEX) {
        p->sex = sex_named(v);
    } else if (f & F_NHS) {
        p->nhs_number = v;
    } else if (f & (F_ADDR | F_POSTCODE)) {
        if (f & F_ADDR)
            parse_address(fp, v);
        else
            fp->addr.postcode = v;
        fp->addrs[0] = &fp->addr;
        p->addresses = fp->addrs;
        p->n_addresses = 1;
    } else if (f & (F_PHONE | F_EMAIL)) {
        fp->tel.system = (f & F_PHONE) ? "phone" : "email";
        fp->tel.value = v;
        fp->tels[0] = &fp->tel;
        p->telecom = fp->tels;
        p->n_telecom = 1;
    }
}

int crm_outbound_correction_json(const Joinery__V1__PersonCorrection *pc, const char *nhs_attr,
                                 char *out, size_t cap, size_t *len, char *why, size_t whylen)
{
    unsigned f = pc->field != NULL ? field_flag(pc->field) : 0;
    const char *cur = pc->current_value != NULL ? pc->current_value : "";
    char v[VALUE_MAX];
    if (f == 0)
        return 0;
    if (strlen(cur) >= sizeof v) {
        (void)snprintf(why, whylen, "the corrected value of %s is over %zu bytes", pc->field,
                       sizeof v - 1);
        return -1;
    }
    memcpy(v, cur, strlen(cur) + 1);
    fixed_person_t fp;
    joinery__v1__person__init(&fp.p);
    joinery__v1__human_name__init(&fp.name);
    joinery__v1__address__init(&fp.addr);
    joinery__v1__contact_point__init(&fp.tel);
    if (v[0] != '\0')
        fill_person(&fp, f, v);
    return contact_body(&fp.p, f, nhs_attr, out, cap, len, why, whylen);
}

/* ---- case progress as a note --------------------------------------------------------------- */

static const char *status_name(Joinery__V1__CaseStatus s)
{
    switch (s) {
    case JOINERY__V1__CASE_STATUS__CASE_OPEN:
        return "open";
    case JOINERY__V1__CASE_STATUS__CASE_ON_HOLD:
        return "on hold";
    case JOINERY__V1__CASE_STATUS__CASE_CLOSED:
        return "closed";
    case JOINERY__V1__CASE_STATUS__CASE_TRANSFERRED:
        return "transferred";
    default:
        return NULL;
    }
}

static int set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* One "what: value" piece of the note's sentence, after a "; " when not the first. */
static void piece(jw_t *w, int *n, const char *what, const char *v)
{
    if (!set(v))
        return;
    jw_raw(w, *n ? "; " : ": ", 2);
    (*n)++;
    jw_text(w, what);
    jw_text(w, v);
}

/* The sentence, escaped, without its quotes: into a scratch writer, then copied. */
static void note_text(jw_t *w, const Joinery__V1__Case *c, const char *id, const char *day)
{
    char raw[BODY_MAX / 2];
    jw_t t = {.p = raw, .cap = sizeof raw};
    int n = 0;
    raw[0] = '\0';
    jw_text(&t, "Social care updated case ");
    jw_text(&t, id);
    if (set(day)) {
        jw_text(&t, " on ");
        jw_text(&t, day);
    }
    piece(&t, &n, "status changed to ", status_name(c->status));
    piece(&t, &n, "team ", c->team);
    piece(&t, &n, "lead worker ", c->lead_worker);
    piece(&t, &n, "opened on ", c->opened_on);
    piece(&t, &n, "closed on ", c->closed_on);
    piece(&t, &n, "closure reason: ", c->closure_reason);
    jw_text(&t, ".");
    if (t.over)
        w->over = 1;
    else
        jw_str(w, raw);
}

int crm_outbound_note_json(const Joinery__V1__CaseChanged *cc, const char *contactid,
                           const char *day, char *out, size_t cap, size_t *len, char *why,
                           size_t whylen)
{
    const Joinery__V1__Case *c = cc->case_;
    if (cap == 0)
        return -1;
    out[0] = '\0';
    if (c == NULL || (status_name(c->status) == NULL && !set(c->team) && !set(c->lead_worker) &&
                      !set(c->opened_on) && !set(c->closed_on) && !set(c->closure_reason)))
        return 0;
    const char *id = set(cc->local_id) ? cc->local_id : cc->master_id ? cc->master_id : "";
    const char *st = status_name(c->status);
    char subject[256], bind[64];
    (void)snprintf(subject, sizeof subject, "Social care case %.200s: %s", id,
                   st != NULL ? st : "updated");
    (void)snprintf(bind, sizeof bind, "/contacts(%.40s)", contactid);
    jw_t w = {.p = out, .cap = cap};
    jw_kstr(&w, "subject", subject);
    jw_key(&w, "notetext");
    note_text(&w, c, id, day);
    jw_kstr(&w, "objectid_contact@odata.bind", bind);
    return jw_end(&w, len, why, whylen);
}

/* ---- Dataverse's reasons ------------------------------------------------------------------- */

/* Copies N bytes of S into OUT from *AT on, a control character as a blank. */
static void reason_put(char *out, size_t cap, size_t *at, const char *s, size_t n)
{
    for (size_t i = 0; i < n && *at + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        out[(*at)++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    out[*at] = '\0';
}

void crm_outbound_reason(long status, const char *body, size_t len, char *out, size_t cap)
{
    if (cap == 0)
        return;
    int w = snprintf(out, cap, "Dataverse refused it (HTTP %ld): ", status);
    size_t at = w < 0 ? 0 : (size_t)w >= cap ? cap - 1 : (size_t)w;
    json_t *j = len > 0 ? json_loadb(body, len, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    if (msg != NULL)
        reason_put(out, cap, &at, msg, strlen(msg));
    else if (len > 0)
        reason_put(out, cap, &at, body, len < EXCERPT_MAX ? len : EXCERPT_MAX);
    else
        reason_put(out, cap, &at, "no body", 7);
    json_decref(j); /* jansson's allocation, on the refusal path only */
}

/* ---- the delivery's life ------------------------------------------------------------------- */

/* A Dataverse GUID, 8-4-4-4-12 hex digits: the only thing put into the URL's key. */
static int guid_ok(const char *s)
{
    if (s == NULL || strlen(s) != GUID_LEN)
        return 0;
    for (size_t i = 0; i < GUID_LEN; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return 0;
    }
    return 1;
}

static int bad_id(const char *id, char *why, size_t whylen)
{
    (void)snprintf(why, whylen,
                   "the CRM's id for the person, '%.60s', is not a Dataverse contactid "
                   "(a GUID)",
                   id);
    return -1;
}

static int contact_url(crm_outbound_t *o, const char *id, char *why, size_t whylen)
{
    if (!guid_ok(id))
        return bad_id(id, why, whylen);
    (void)snprintf(o->url, sizeof o->url, "%s" API_PATH "contacts(%s)", o->o.base_url, id);
    return 0;
}

static void day_of(int64_t us, char *out, size_t cap)
{
    time_t t = (time_t)(us > 0 ? us / 1000000 : time(NULL));
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, cap, "%Y-%m-%d", &tm) == 0)
        out[0] = '\0';
}

static int build_changed(crm_outbound_t *o, const joinery_event_t *ev, size_t *len, char *why,
                         size_t whylen)
{
    Joinery__V1__PersonChanged *pc = joinery__v1__person_changed__unpack(
        adapter_arena_pb(o->arena), ev->payload_len, ev->payload);
    if (pc == NULL) {
        (void)snprintf(why, whylen, "the payload (%zu bytes) is not a joinery.v1.PersonChanged",
                       ev->payload_len);
        return -1;
    }
    if (!set(pc->local_id)) /* the CRM holds no record of this person */
        return 0;
    int b = crm_outbound_contact_json(pc, o->o.nhs_number_attribute, o->body, sizeof o->body, len,
                                      why, whylen);
    return b > 0 && contact_url(o, pc->local_id, why, whylen) != 0 ? -1 : b;
}

static int build_correction(crm_outbound_t *o, const joinery_event_t *ev, size_t *len, char *why,
                            size_t whylen)
{
    Joinery__V1__PersonCorrection *pc = joinery__v1__person_correction__unpack(
        adapter_arena_pb(o->arena), ev->payload_len, ev->payload);
    if (pc == NULL) {
        (void)snprintf(why, whylen, "the payload (%zu bytes) is not a joinery.v1.PersonCorrection",
                       ev->payload_len);
        return -1;
    }
    if (!set(pc->local_id))
        return 0;
    int b = crm_outbound_correction_json(pc, o->o.nhs_number_attribute, o->body, sizeof o->body,
                                         len, why, whylen);
    return b > 0 && contact_url(o, pc->local_id, why, whylen) != 0 ? -1 : b;
}

static int build_note(crm_outbound_t *o, const joinery_event_t *ev, size_t *len, char *why,
                      size_t whylen)
{
    Joinery__V1__CaseChanged *cc =
        joinery__v1__case_changed__unpack(adapter_arena_pb(o->arena), ev->payload_len, ev->payload);
    if (cc == NULL) {
        (void)snprintf(why, whylen, "the payload (%zu bytes) is not a joinery.v1.CaseChanged",
                       ev->payload_len);
        return -1;
    }
    const char *contact = cc->case_ != NULL ? cc->case_->person_local_id : NULL;
    if (!set(contact)) /* a case about someone the CRM has no contact for */
        return 0;
    if (!guid_ok(contact))
        return bad_id(contact, why, whylen);
    char day[16];
    day_of(ev->occurred_at_us, day, sizeof day);
    (void)snprintf(o->url, sizeof o->url, "%s" API_PATH "annotations", o->o.base_url);
    return crm_outbound_note_json(cc, contact, day, o->body, sizeof o->body, len, why, whylen);
}

/* The request for EV into o->url and o->body: 1 to send (*POST 1 for a POST), 0 when there is
 * nothing to write, -1 and WHY when it can never be written. */
static int build(crm_outbound_t *o, const joinery_event_t *ev, int *post, size_t *len, char *why,
                 size_t whylen)
{
    adapter_arena_reset(o->arena);
    *post = 0;
    if (strcmp(ev->type, CHANGED_TYPE) == 0)
        return build_changed(o, ev, len, why, whylen);
    if (strcmp(ev->type, CORRECTION_TYPE) == 0)
        return build_correction(o, ev, len, why, whylen);
    if (strcmp(ev->type, CASE_TYPE) == 0) {
        *post = 1;
        return build_note(o, ev, len, why, whylen);
    }
    return 0;
}

static held_t *held_find(crm_outbound_t *o, uint64_t seq)
{
    for (size_t i = 0; i < o->o.credit; i++)
        if (o->held[i].used && o->held[i].seq == seq)
            return &o->held[i];
    return NULL;
}

static held_t *held_free(crm_outbound_t *o)
{
    for (size_t i = 0; i < o->o.credit; i++)
        if (!o->held[i].used)
            return &o->held[i];
    return NULL;
}

/* Dataverse's answer: settles the delivery (never before this). */
static void on_done(void *ud, const adapter_httpc_result_t *r)
{
    held_t *h = ud;
    crm_outbound_t *o = h->owner;
    h->used = 0;
    o->nheld--;
    if (r->stopped) /* the client is closing: the hub delivers it again next session */
        return;
    char why[REASON_MAX];
    joinery_verdict_t v = JOINERY_ACK;
    if (!r->ok && r->status >= 400 && r->status < 500 && r->status != 408 && r->status != 429) {
        v = JOINERY_REJECT;
        crm_outbound_reason(r->status, r->body, r->len, why, sizeof why);
    } else if (!r->ok) {
        v = JOINERY_RETRY;
        (void)snprintf(why, sizeof why, "Dataverse did not answer: %s", r->error);
    }
    if (v != JOINERY_ACK)
        adapter_log(ADAPTER_LOG_WARN, "write-back: seq %" PRIu64 " %s: %s", h->seq,
                    v == JOINERY_REJECT ? "rejected" : "to be retried by the hub", why);
    /* A lost session took the delivery with it: the hub delivers it again, and it is sent
     * again (a PATCH of the same values is harmless). */
    if (joinery_settle(o->client, o->o.subscription, h->seq, v, v == JOINERY_ACK ? NULL : why) != 0)
        adapter_log(ADAPTER_LOG_DEBUG, "write-back: seq %" PRIu64 " not settled: %s", h->seq,
                    joinery_last_error(o->client));
}

/* The SDK's handler: runs inside joinery_poll, so it only builds and queues. */
static joinery_verdict_t on_event(void *ud, const joinery_event_t *ev, uint64_t seq,
                                  unsigned attempt, char *reason, size_t reason_len)
{
    crm_outbound_t *o = ud;
    /* A redelivery (the hub session was lost) of what is still in hand: keep the one request.
     * Rare (a new session), so worth a line. */
    if (held_find(o, seq) != NULL) {
        adapter_log(ADAPTER_LOG_INFO,
                    "write-back: seq %" PRIu64 " delivered again (attempt %u) while its request "
                    "is with Dataverse; it is settled when Dataverse answers",
                    seq, attempt);
        return JOINERY_DEFER;
    }
    held_t *h = held_free(o);
    if (h == NULL) {
        (void)snprintf(reason, reason_len, "write-back queue full (%u requests)", o->o.credit);
        return JOINERY_RETRY;
    }
    int post;
    size_t len = 0;
    char why[REASON_MAX], err[256];
    int b = build(o, ev, &post, &len, why, sizeof why);
    if (b == 0)
        return JOINERY_ACK;
    if (b < 0) {
        (void)snprintf(reason, reason_len, "cannot be written to Dataverse: %s", why);
        adapter_log(ADAPTER_LOG_WARN, "write-back: %s %s (seq %" PRIu64 ") refused: %s", ev->type,
                    ev->event_id, seq, why);
        return JOINERY_REJECT;
    }
    static const char *const patch_hdr[] = {"Content-Type", "application/json", "If-Match", "*",
                                            NULL};
    static const char *const post_hdr[] = {"Content-Type", "application/json", NULL};
    if (adapter_httpc_request(o->hc, post ? "POST" : "PATCH", o->url, post ? post_hdr : patch_hdr,
                              o->body, len, on_done, h, err, sizeof err) != 0) {
        (void)snprintf(reason, reason_len, "cannot queue the request to Dataverse: %s", err);
        return JOINERY_RETRY;
    }
    h->seq = seq;
    h->used = 1;
    o->nheld++;
    return JOINERY_DEFER;
}

/* ---- configuration ------------------------------------------------------------------------- */

/* The token file's first line, without its line end. */
static int token_file(const char *path, char *out, size_t cap, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        (void)snprintf(err, errlen, "'dataverse.token_file' %s: %s", path, strerror(errno));
        return -1;
    }
    char *line = fgets(out, (int)cap, f);
    (void)fclose(f);
    if (line == NULL) {
        (void)snprintf(err, errlen, "'dataverse.token_file' %s is empty", path);
        return -1;
    }
    size_t n = strcspn(out, "\r\n");
    if (out[n] == '\0' && n + 1 == cap) {
        (void)snprintf(err, errlen, "'dataverse.token_file' %s: the token is over %zu bytes", path,
                       cap - 2);
        return -1;
    }
    out[n] = '\0';
    return 0;
}

static int read_token(const adapter_config_t *cfg, crm_outbound_opts_t *o, char *err, size_t errlen)
{
    const char *t, *tf;
    if (adapter_config_string(cfg, "dataverse.token", NULL, &t, err, errlen) != 0 ||
        adapter_config_string(cfg, "dataverse.token_file", NULL, &tf, err, errlen) != 0)
        return -1;
    if (t != NULL && tf != NULL) {
        (void)snprintf(err, errlen,
                       "give one of 'dataverse.token' and 'dataverse.token_file', "
                       "not both");
        return -1;
    }
    if (t != NULL && strlen(t) >= sizeof o->token) {
        (void)snprintf(err, errlen, "'dataverse.token' is over %zu bytes", sizeof o->token - 1);
        return -1;
    }
    if (t != NULL)
        (void)snprintf(o->token, sizeof o->token, "%s", t);
    else if (tf != NULL && token_file(tf, o->token, sizeof o->token, err, errlen) != 0)
        return -1;
    for (const char *c = o->token; *c; c++)
        if ((unsigned char)*c < 0x21 || (unsigned char)*c > 0x7e) {
            (void)snprintf(err, errlen,
                           "the Dataverse token must be printable ASCII without "
                           "blanks");
            return -1;
        }
    return 0;
}

static int check_base_url(crm_outbound_opts_t *o, char *err, size_t errlen)
{
    const char *u = o->base_url;
    size_t n = strlen(u);
    if ((strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) || n >= BASE_URL_MAX ||
        strpbrk(u, " \t\r\n?#") != NULL) {
        (void)snprintf(err, errlen,
                       "'dataverse.base_url' must be the organisation's URL, "
                       "http(s)://HOST[:PORT], e.g. https://leedscc.crm11.dynamics.com");
        return -1;
    }
    if (n > 0 && u[n - 1] == '/') {
        (void)snprintf(err, errlen, "'dataverse.base_url' must not end with '/': write %.*s",
                       (int)(n - 1), u);
        return -1;
    }
    return 0;
}

int crm_outbound_settings(const adapter_config_t *cfg, crm_outbound_opts_t *o, int *enabled,
                          char *err, size_t errlen)
{
    static const char *const keys[] = {"base_url",     "token",        "token_file",
                                       "timeout_ms",   "max_attempts", "retry_min_ms",
                                       "retry_max_ms", "subscription", NULL};
    static const char *const none[] = {NULL};
    unsigned long to, ma, rmin, rmax;
    char probe[8];
    memset(o, 0, sizeof *o);
    *enabled = 0;
    /* A section with any key at all is one the operator meant: it must then name its URL. */
    int present = adapter_config_keys(cfg, "dataverse", none, probe, sizeof probe) != 0;
    if (adapter_config_keys(cfg, "dataverse", keys, err, errlen) != 0 ||
        adapter_config_string(cfg, "dataverse.base_url", NULL, &o->base_url, err, errlen) != 0 ||
        adapter_config_uint(cfg, "dataverse.timeout_ms", 100, 600000, 30000, &to, err, errlen) !=
            0 ||
        adapter_config_uint(cfg, "dataverse.max_attempts", 1, 100, 5, &ma, err, errlen) != 0 ||
        adapter_config_uint(cfg, "dataverse.retry_min_ms", 10, 600000, 500, &rmin, err, errlen) !=
            0 ||
        adapter_config_uint(cfg, "dataverse.retry_max_ms", 10, 3600000, 60000, &rmax, err,
                            errlen) != 0 ||
        adapter_config_string(cfg, "dataverse.subscription", DEFAULT_SUBSCRIPTION, &o->subscription,
                              err, errlen) != 0 ||
        adapter_config_string(cfg, "nhs_number_attribute", NULL, &o->nhs_number_attribute, err,
                              errlen) != 0 ||
        read_token(cfg, o, err, errlen) != 0)
        return -1;
    if (!present && o->base_url == NULL)
        return 0;
    if (o->base_url == NULL) {
        (void)snprintf(err, errlen,
                       "'dataverse.base_url' is required when there is a "
                       "'dataverse' section: the organisation's URL");
        return -1;
    }
    if (check_base_url(o, err, errlen) != 0)
        return -1;
    if (rmin > rmax) {
        (void)snprintf(err, errlen,
                       "'dataverse.retry_min_ms' (%lu) is above 'dataverse.retry_max_ms' (%lu)",
                       rmin, rmax);
        return -1;
    }
    o->timeout_ms = (unsigned)to;
    o->max_attempts = (unsigned)ma;
    o->retry_min_ms = (unsigned)rmin;
    o->retry_max_ms = (unsigned)rmax;
    *enabled = 1;
    return 0;
}

/* ---- the interface ------------------------------------------------------------------------- */

crm_outbound_t *crm_outbound_new(const crm_outbound_opts_t *opts, joinery_client_t *c, char *err,
                                 size_t errlen)
{
    crm_outbound_t *o = calloc(1, sizeof *o);
    if (o == NULL) {
        (void)snprintf(err, errlen, "out of memory");
        return NULL;
    }
    o->o = *opts;
    o->o.subscription = opts->subscription ? opts->subscription : DEFAULT_SUBSCRIPTION;
    o->o.credit = opts->credit ? opts->credit : DEFAULT_CREDIT;
    o->client = c;
    o->held = calloc(o->o.credit, sizeof *o->held);
    o->arena = adapter_arena_new(ARENA_BYTES);
    if (o->held == NULL || o->arena == NULL) {
        (void)snprintf(err, errlen, "out of memory");
        crm_outbound_destroy(&o);
        return NULL;
    }
    for (size_t i = 0; i < o->o.credit; i++)
        o->held[i].owner = o;
    /* OData's version headers, as Microsoft's Web API samples send them. */
    static const char *const fixed[] = {
        "Accept", "application/json", "OData-MaxVersion", "4.0", "OData-Version", "4.0", NULL};
    adapter_httpc_opts_t ho = {
        .timeout_ms = o->o.timeout_ms,
        .retry_min_ms = o->o.retry_min_ms,
        .retry_max_ms = o->o.retry_max_ms,
        .max_attempts = o->o.max_attempts,
        .max_in_flight = o->o.credit < 8 ? o->o.credit : 8,
        .max_queued = o->o.credit, /* the credit bounds the deliveries in hand */
        .max_body = BODY_MAX,
        .bearer_token = o->o.token[0] ? o->o.token : NULL,
        .headers = fixed,
    };
    o->hc = adapter_httpc_new(&ho, err, errlen);
    if (o->hc == NULL) {
        crm_outbound_destroy(&o);
        return NULL;
    }
    static const char *const patterns[] = {CHANGED_TYPE, CORRECTION_TYPE, CASE_TYPE};
    if (joinery_subscribe(c, o->o.subscription, patterns, 3, o->o.credit, on_event, o) != 0) {
        (void)snprintf(err, errlen, "cannot subscribe to %s, %s and %s: %s", CHANGED_TYPE,
                       CORRECTION_TYPE, CASE_TYPE, joinery_last_error(c));
        crm_outbound_destroy(&o);
        return NULL;
    }
    return o;
}

void crm_outbound_destroy(crm_outbound_t **op)
{
    crm_outbound_t *o = *op;
    if (o == NULL)
        return;
    adapter_httpc_destroy(&o->hc); /* on_done with stopped: nothing is settled */
    adapter_arena_destroy(&o->arena);
    free(o->held);
    free(o);
    *op = NULL;
}

size_t crm_outbound_fds(crm_outbound_t *o, struct pollfd *fds, size_t cap)
{
    return adapter_httpc_fds(o->hc, fds, cap);
}

int crm_outbound_timeout_ms(const crm_outbound_t *o)
{
    return adapter_httpc_timeout_ms(o->hc);
}

void crm_outbound_handle(crm_outbound_t *o, const struct pollfd *fds, size_t n)
{
    adapter_httpc_handle(o->hc, fds, n);
}

size_t crm_outbound_held(const crm_outbound_t *o)
{
    return o->nheld;
}
