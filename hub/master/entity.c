/* entity.c - golden addresses and cases (contract in entity.h): the address and case kinds
 * of the master-data engine (engine.h), as two descriptors. What is theirs is how their
 * events decode and are cleaned up, their identity (an address is its UPRN; a case is the
 * sender's (system, local id), or the golden case an event names, about a person the person
 * engine resolves) and the messages they pack; planning, ownership, survivorship, the rows,
 * loading and dumping are the engine's, as for persons. */
#include "master/entity.h"

#include "master/engine.h"
#include "match/validate.h"

#include <joinery/v1/case.pb-c.h>
#include <joinery/v1/master.pb-c.h>
#include <joinery/v1/person.pb-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EF_MAX 8             /* fields of the kind with most (case: 7) */
#define EVALUE_MAX 512       /* longest field value accepted, bytes */
#define ELINES_MAX 8         /* address lines kept */
#define PB_ENTITY_ARENA 8192 /* an Address or a Case decodes into well under this */

enum { AF_LINES, AF_TOWN, AF_DISTRICT, AF_POSTCODE, AF_COUNT };
enum { CF_PERSON, CF_STATUS, CF_OPENED, CF_CLOSED, CF_CLOSURE, CF_TEAM, CF_LEAD, CF_COUNT };

static const char *const ADDRESS_FIELDS[AF_COUNT] = {"lines", "town", "district", "postcode"};
static const char *const CASE_FIELDS[CF_COUNT] = {
    "person", "status", "opened_on", "closed_on", "closure_reason", "team", "lead_worker"};
static const char *const STATUS_NAMES[] = {"", "open", "on_hold", "closed", "transferred"};

struct entity {
    engine_t e;           /* first: an event's md_ctx_t names it */
    struct eincoming *in; /* per-event scratch, allocated once and cleared for each event */
};

static int kind_of(const md_ctx_t *c)
{
    return (int)(c->k - c->e->kinds);
}

static struct eincoming *incoming_of(const md_ctx_t *c)
{
    return ((entity_t *)c->e)->in;
}

/* Incoming values ----------------------------------------------------------------------- */

typedef struct eincoming {
    bool has[EF_MAX];
    char v[EF_MAX][EVALUE_MAX];
    char uprn[16];
    char person_local[EVALUE_MAX];     /* Case.person_local_id as sent */
    char person_master[MASTER_ID_MAX]; /* Case.person_master_id as sent */
} eincoming_t;

/* S as canonical text into OUT: valid UTF-8 without control characters,
 * blanks collapsed to one space, trimmed; UPPER for post towns. "" is "not
 * sent". */
static int clean(md_ctx_t *c, const char *what, const char *s, bool upper, char out[EVALUE_MAX])
{
    size_t n = 0;
    bool blank = false;
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    for (size_t i = 0; p[i] != '\0';) {
        unsigned char ch = p[i];
        size_t len = ch < 0x80         ? 1
                     : (ch >> 5) == 6  ? 2
                     : (ch >> 4) == 14 ? 3
                     : (ch >> 3) == 30 ? 4
                                       : 0;
        if ((len == 2 && ch < 0xc2) || (len == 4 && ch > 0xf4))
            len = 0; /* overlong, or beyond U+10FFFF */
        for (size_t k = 1; k < len; k++)
            if ((p[i + k] & 0xc0) != 0x80)
                len = 0;
        if (len == 0 || (len == 1 && ch < 0x20 && ch != '\t') || ch == 0x7f)
            return md_refused(c, "%s is not clean UTF-8 text (control characters or invalid bytes)",
                              what),
                   -1;
        if (ch == ' ' || ch == '\t') {
            blank = n > 0;
            i++;
            continue;
        }
        if (n + len + 2 > EVALUE_MAX)
            return md_refused(c, "%s is longer than %d bytes", what, EVALUE_MAX - 1), -1;
        if (blank)
            out[n++] = ' ';
        blank = false;
        for (size_t k = 0; k < len; k++)
            out[n++] = (char)(upper && len == 1 && ch >= 'a' && ch <= 'z' ? ch - 32 : p[i + k]);
        i += len;
    }
    out[n] = '\0';
    return 0;
}

static int keep_text(md_ctx_t *c, eincoming_t *in, int field, const char *what, const char *s,
                     bool upper)
{
    if (clean(c, what, s, upper, in->v[field]) != 0)
        return -1;
    in->has[field] = in->v[field][0] != '\0';
    return 0;
}

static int flat_address(md_ctx_t *c, const Joinery__V1__Address *a, eincoming_t *in)
{
    char reason[160];
    if (a->uprn == NULL || a->uprn[0] == '\0')
        return md_refused(c,
                          "%s needs address.uprn: the hub keeps one golden address per UPRN (the "
                          "property's Unique Property Reference Number, 1-12 digits); look it up "
                          "in your gazetteer and send it",
                          c->ev->type),
               -1;
    if (validate_uprn(a->uprn, reason, sizeof reason) != 0)
        return md_refused(c, "address.uprn is not valid: %s", reason), -1;
    const char *d = a->uprn;
    while (*d == '0' && d[1] != '\0')
        d++;
    (void)snprintf(in->uprn, sizeof in->uprn, "%s", d);
    if (a->postcode && a->postcode[0]) {
        if (validate_postcode_normalise(a->postcode, in->v[AF_POSTCODE], EVALUE_MAX) != 0) {
            (void)validate_postcode(a->postcode, reason, sizeof reason);
            return md_refused(c, "address.postcode is not valid: %s", reason), -1;
        }
        in->has[AF_POSTCODE] = true;
    }
    size_t n = 0;
    if (a->n_lines > ELINES_MAX)
        return md_refused(c, "address.lines has %zu lines; at most %d are kept", a->n_lines,
                          ELINES_MAX),
               -1;
    for (size_t i = 0; i < a->n_lines; i++) {
        char line[EVALUE_MAX];
        if (clean(c, "address.lines", a->lines[i], false, line) != 0)
            return -1;
        size_t len = strlen(line);
        if (len == 0)
            continue;
        if (n + len + 2 > EVALUE_MAX)
            return md_refused(c, "address.lines are longer than %d bytes", EVALUE_MAX - 1), -1;
        if (n > 0)
            in->v[AF_LINES][n++] = '\n';
        memcpy(in->v[AF_LINES] + n, line, len + 1);
        n += len;
    }
    in->has[AF_LINES] = n > 0;
    return keep_text(c, in, AF_TOWN, "address.town", a->town, true) != 0 ||
                   keep_text(c, in, AF_DISTRICT, "address.district", a->district, false) != 0
               ? -1
               : 0;
}

static int keep_date(md_ctx_t *c, eincoming_t *in, int field, const char *what, const char *s)
{
    if (s == NULL || s[0] == '\0')
        return 0;
    char reason[160];
    if (validate_date(s, reason, sizeof reason) != 0)
        return md_refused(c, "%s is not a date: %s", what, reason), -1;
    (void)snprintf(in->v[field], EVALUE_MAX, "%s", s);
    in->has[field] = true;
    return 0;
}

static int flat_case(md_ctx_t *c, const Joinery__V1__Case *k, eincoming_t *in)
{
    if (k->status != 0) {
        if ((unsigned)k->status >= sizeof STATUS_NAMES / sizeof STATUS_NAMES[0])
            return md_refused(c, "case.status %d is not a CaseStatus", (int)k->status), -1;
        (void)snprintf(in->v[CF_STATUS], EVALUE_MAX, "%s", STATUS_NAMES[k->status]);
        in->has[CF_STATUS] = true;
    }
    if (keep_date(c, in, CF_OPENED, "case.opened_on", k->opened_on) != 0 ||
        keep_date(c, in, CF_CLOSED, "case.closed_on", k->closed_on) != 0)
        return -1;
    if (in->has[CF_OPENED] && in->has[CF_CLOSED] && strcmp(in->v[CF_CLOSED], in->v[CF_OPENED]) < 0)
        return md_refused(c, "case.closed_on %s is before case.opened_on %s", in->v[CF_CLOSED],
                          in->v[CF_OPENED]),
               -1;
    if (keep_text(c, in, CF_CLOSURE, "case.closure_reason", k->closure_reason, false) != 0 ||
        keep_text(c, in, CF_TEAM, "case.team", k->team, false) != 0 ||
        keep_text(c, in, CF_LEAD, "case.lead_worker", k->lead_worker, false) != 0 ||
        clean(c, "case.person_local_id", k->person_local_id, false, in->person_local) != 0)
        return -1;
    const char *pm = k->person_master_id ? k->person_master_id : "";
    if (strlen(pm) >= MASTER_ID_MAX)
        return md_refused(c, "case.person_master_id is longer than any master id"), -1;
    (void)snprintf(in->person_master, sizeof in->person_master, "%s", pm);
    return 0;
}

/* Decodes and checks the payload into IN. -1: refused (why set). */
static int flatten(md_ctx_t *c, eincoming_t *in)
{
    const master_event_t *ev = c->ev;
    if (ev->payload_type == NULL || strcmp(ev->payload_type, c->d->payload) != 0)
        return md_refused(c, "%s must carry a %s payload, not %s", ev->type, c->d->payload,
                          ev->payload_type && ev->payload_type[0] ? ev->payload_type : "none"),
               -1;
    ProtobufCAllocator *alloc = pbarena_allocator(c->e->arena);
    int rc;
    if (kind_of(c) == ENTITY_ADDRESS) {
        Joinery__V1__Address *a = joinery__v1__address__unpack(alloc, ev->payload_len, ev->payload);
        rc = a ? flat_address(c, a, in)
               : (md_refused(c, "the payload does not decode as %s", c->d->payload), -1);
    } else {
        Joinery__V1__Case *k = joinery__v1__case__unpack(alloc, ev->payload_len, ev->payload);
        rc = k ? flat_case(c, k, in)
               : (md_refused(c, "the payload does not decode as %s", c->d->payload), -1);
    }
    pbarena_reset(c->e->arena); /* everything kept was copied into IN */
    return rc;
}

/* The person a case is about, as the golden person id it resolves to now:
 * from the sender's own id for them, or from a person master id (a merged
 * record's survivor). Neither given: the case keeps its person (CURRENT), and
 * a new case cannot be made. -1: refused. */
static int resolve_person(md_ctx_t *c, eincoming_t *in, const golden_t *current)
{
    char by_local[MASTER_ID_MAX] = "", by_master[MASTER_ID_MAX] = "";
    if (in->person_local[0] != '\0' &&
        master_lookup(c->persons, c->ev->source, in->person_local, by_local) == NULL)
        return md_refused(c,
                          "case.person_local_id '%.64s' is not a person %s has sent to the hub; "
                          "publish person.updated for it first, or give person_master_id",
                          in->person_local, c->ev->source),
               -1;
    if (in->person_master[0] != '\0' &&
        master_final_id(c->persons, in->person_master, by_master) != 0)
        return md_refused(c,
                          "case.person_master_id '%s' is not a golden person the hub knows; give "
                          "person_local_id (your own id for the person) instead",
                          in->person_master),
               -1;
    if (by_local[0] && by_master[0] && strcmp(by_local, by_master) != 0)
        return md_refused(c,
                          "case.person_local_id '%.64s' is golden person %s, but person_master_id "
                          "says %s; send one of them, or put your record right",
                          in->person_local, by_local, by_master),
               -1;
    const char *pid = by_local[0] ? by_local : by_master;
    if (pid[0] == '\0') {
        if (current == NULL)
            return md_refused(c,
                              "a new case needs the person it is about: set case.person_local_id "
                              "(your own id for the person) or case.person_master_id"),
                   -1;
        return 0;
    }
    (void)snprintf(in->v[CF_PERSON], EVALUE_MAX, "%s", pid);
    in->has[CF_PERSON] = true;
    return 0;
}

/* The cleaned fields as the engine's list, in field order. */
static void list_incoming(md_ctx_t *c, const eincoming_t *in)
{
    c->e->nin = 0;
    for (size_t f = 0; f < c->d->fields.n; f++)
        if (in->has[f])
            c->e->in[c->e->nin++] = (incoming_t){(uint16_t)f, in->v[f]};
}

static int entity_decode(md_ctx_t *c)
{
    eincoming_t *in = incoming_of(c);
    memset(in, 0, sizeof *in);
    if (flatten(c, in) != 0)
        return -1;
    list_incoming(c, in);
    return 0;
}

/* Is the person the case names (STORED, perhaps since merged away) the one
 * the sender names now (resolved, so never a retired record)? */
static bool same_person(const master_t *persons, const char *stored, const char *now)
{
    char final[MASTER_ID_MAX];
    return master_final_id(persons, stored, final) == 0 && strcmp(final, now) == 0;
}

static bool case_same(const md_ctx_t *c, int field, const char *stored, const char *sent)
{
    return field == CF_PERSON && same_person(c->persons, stored, sent);
}

/* Identity ------------------------------------------------------------------------------- */

/* One golden address per UPRN; the sender's local id moves with its UPRN. */
static int address_identify(md_ctx_t *c, md_plan_t *p)
{
    const char *uprn = incoming_of(c)->uprn;
    p->g = md_by_key(c->e, ENTITY_ADDRESS, uprn);
    if (p->g == NULL && md_plan_new(c, p, uprn) != 0)
        return -1;
    p->move = p->x != NULL && p->x->master != p->g;
    return 0;
}

/* The case the sender's local id is, or the golden case the event names; a new case needs its
 * person. */
static int case_identify(md_ctx_t *c, md_plan_t *p)
{
    const master_event_t *ev = c->ev;
    const char *local = ev->local_id ? ev->local_id : "";
    const char *named = ev->master_id ? ev->master_id : "";
    if (p->x != NULL) {
        p->g = p->x->master;
        if (named[0] && strcmp(named, p->g->id) != 0)
            return md_refused(c,
                              "source_record_id '%.64s' is golden case %s, but master_id names "
                              "%.40s; send the case's own master id or none",
                              local, p->g->id, named),
                   -1;
    } else if (named[0]) {
        p->g = md_golden(c->e, named);
        if (p->g == NULL || p->g->kind != ENTITY_CASE)
            return md_refused(c,
                              "master_id %.40s is not a golden case; leave it empty to create a "
                              "case, or use the master id case.changed gave you",
                              named),
                   -1;
    }
    if (p->g == NULL && md_plan_new(c, p, NULL) != 0)
        return -1;
    eincoming_t *in = incoming_of(c);
    if (resolve_person(c, in, p->newg ? NULL : p->g) != 0)
        return -1;
    list_incoming(c, in);
    return 0;
}

/* Messages ------------------------------------------------------------------------------- */

/* Splits the stored lines ("a\nb") into OUT, in BUF (a copy). */
static size_t split_lines(const char *v, char *buf, size_t cap, char **out)
{
    (void)snprintf(buf, cap, "%s", v ? v : "");
    size_t n = 0;
    for (char *s = buf; *s != '\0' && n < ELINES_MAX;) {
        out[n++] = s;
        char *nl = strchr(s, '\n');
        if (nl == NULL)
            break;
        *nl = '\0';
        s = nl + 1;
    }
    return n;
}

static Joinery__V1__CaseStatus status_of(const char *v)
{
    for (size_t i = 1; i < sizeof STATUS_NAMES / sizeof STATUS_NAMES[0]; i++)
        if (strcmp(STATUS_NAMES[i], v) == 0)
            return (Joinery__V1__CaseStatus)i;
    return JOINERY__V1__CASE_STATUS__CASE_STATUS_UNSPECIFIED;
}

/* The value of FIELD among the changed FIELDS of VALS, else "". */
static char *changed_value(const mvals_t *vals, const uint16_t *fields, size_t n, int field)
{
    for (size_t i = 0; i < n; i++)
        if (fields[i] == field) {
            const mval_t *v = md_val(vals, field);
            return v ? (char *)md_val_text(vals, v) : "";
        }
    return "";
}

typedef struct {
    Joinery__V1__AddressChanged msg;
    Joinery__V1__Address a;
    char lines_buf[EVALUE_MAX];
    char *lines[ELINES_MAX];
} achanged_t;

/* Each text member TEXT[f] of a payload (NULL: none) gets field f's changed value, or "". */
static void fill_texts(char **const *text, size_t nfields, const mvals_t *vals,
                       const uint16_t *fields, size_t n)
{
    for (size_t f = 0; f < nfields; f++)
        if (text[f] != NULL)
            *text[f] = changed_value(vals, fields, n, (int)f);
}

/* AddressChanged: the UPRN always, and the changed fields. */
static const ProtobufCMessage *address_changed(md_ctx_t *c, void *scratch, const golden_t *g,
                                               uint64_t version, const mvals_t *vals,
                                               const uint16_t *fields, char **names, size_t n)
{
    static const Joinery__V1__Address a_init = JOINERY__V1__ADDRESS__INIT;
    static const Joinery__V1__AddressChanged m_init = JOINERY__V1__ADDRESS_CHANGED__INIT;
    achanged_t *s = scratch;
    (void)c;
    s->a = a_init;
    s->a.uprn = g->key;
    const char *lines = changed_value(vals, fields, n, AF_LINES);
    if (lines[0] != '\0') {
        s->a.n_lines = split_lines(lines, s->lines_buf, sizeof s->lines_buf, s->lines);
        s->a.lines = s->lines;
    }
    char **const text[AF_COUNT] = {
        [AF_TOWN] = &s->a.town, [AF_DISTRICT] = &s->a.district, [AF_POSTCODE] = &s->a.postcode};
    fill_texts(text, AF_COUNT, vals, fields, n);
    s->msg = m_init;
    MD_FILL_CHANGED(s->msg, g, version, names, n);
    s->msg.address = &s->a;
    return &s->msg.base;
}

typedef struct {
    Joinery__V1__CaseChanged msg;
    Joinery__V1__Case k;
    char pid[MASTER_ID_MAX];
} cchanged_t;

/* CaseChanged: the person as the golden person it is now, and the changed fields. */
static const ProtobufCMessage *case_changed(md_ctx_t *c, void *scratch, const golden_t *g,
                                            uint64_t version, const mvals_t *vals,
                                            const uint16_t *fields, char **names, size_t n)
{
    cchanged_t *s = scratch;
    const mval_t *pv = md_val(vals, CF_PERSON);
    const char *person = pv ? md_val_text(vals, pv) : NULL;
    if (person == NULL || master_final_id(c->persons, person, s->pid) != 0)
        (void)snprintf(s->pid, sizeof s->pid, "%s", person ? person : "");
    s->k = (Joinery__V1__Case)JOINERY__V1__CASE__INIT;
    s->k.person_master_id = s->pid;
    const char *status = changed_value(vals, fields, n, CF_STATUS);
    if (status[0] != '\0')
        s->k.status = status_of(status);
    char **const text[CF_COUNT] = {[CF_OPENED] = &s->k.opened_on,
                                   [CF_CLOSED] = &s->k.closed_on,
                                   [CF_CLOSURE] = &s->k.closure_reason,
                                   [CF_TEAM] = &s->k.team,
                                   [CF_LEAD] = &s->k.lead_worker};
    fill_texts(text, CF_COUNT, vals, fields, n);
    s->msg = (Joinery__V1__CaseChanged)JOINERY__V1__CASE_CHANGED__INIT;
    MD_FILL_CHANGED(s->msg, g, version, names, n);
    s->msg.case_ = &s->k;
    return &s->msg.base;
}

/* Each receiver gets its own id for the case and for the person. */
static void case_changed_to(md_ctx_t *c, void *scratch, int system, const char *local_id)
{
    cchanged_t *s = scratch;
    s->k.case_id = (char *)local_id;
    s->k.person_local_id = (char *)master_local_id(c->persons, s->pid, c->e->systems[system]);
}

/* FieldCorrection to the sender, or FieldProposal to the owner. */
static int field_refusal(md_ctx_t *c, const md_refmsg_t *r, bool propose)
{
    union {
        Joinery__V1__FieldProposal proposal;
        Joinery__V1__FieldCorrection correction;
    } u;
    if (propose) {
        u.proposal = (Joinery__V1__FieldProposal)JOINERY__V1__FIELD_PROPOSAL__INIT;
        MD_FILL_PROPOSAL(u.proposal, r);
    } else {
        u.correction = (Joinery__V1__FieldCorrection)JOINERY__V1__FIELD_CORRECTION__INIT;
        MD_FILL_CORRECTION(u.correction, r);
    }
    return md_send_refusal(c, r, propose, &u.proposal.base);
}

/* Descriptors --------------------------------------------------------------------------- */

/* The rows and statements of an entity kind whose tables are golden_NAME (master_id, KEY,
 * version, fields, created_at, updated_at), golden_NAME_history and NAME_xref (system, local_id,
 * master_id, linked_at); SET_KEY is what an update sets besides the fields ("" or
 * "KEY = EXCLUDED.KEY, "). KEYED_ROWS defines P_GOLDEN, P_XREF (each with P_..._UPSERT) and
 * P_HISTORY; KEYED_TABLES names them in the descriptor. */
#define KEYED_COLS(key) "master_id, " key ", version, fields, created_at, updated_at"
#define KEYED_COLS_LOAD(key) "master_id, " key ", version, fields::text, created_at, updated_at"
#define KEYED_SET(set_key)                                                                         \
    "ON CONFLICT (master_id) DO UPDATE SET " set_key "version = EXCLUDED.version, "                \
    "fields = EXCLUDED.fields, updated_at = EXCLUDED.updated_at"
#define KEYED_XREF_SET                                                                             \
    "ON CONFLICT (system, local_id) DO UPDATE SET master_id = EXCLUDED.master_id, "                \
    "linked_at = EXCLUDED.linked_at"
/* clang-format off */
#define KEYED_MERGE(name, key, set_key)                                                            \
    "INSERT INTO golden_" name " (" KEYED_COLS(key) ") "                                           \
    "SELECT " KEYED_COLS(key) " FROM stage_golden_" name " " KEYED_SET(set_key)
/* clang-format on */
#define KEYED_ROWS(P, name, key, set_key)                                                          \
    static const row_desc_t P##_GOLDEN = {"golden_" name,                                          \
                                          6,                                                       \
                                          {{"master_id", ROW_TEXT},                                \
                                           {key, ROW_TEXT},                                        \
                                           {"version", ROW_INT8},                                  \
                                           {"fields", ROW_JSON},                                   \
                                           {"created_at", ROW_INT8},                               \
                                           {"updated_at", ROW_INT8}}};                             \
    static const row_upsert_t P##_GOLDEN_UPSERT = {&P##_GOLDEN, "stage_golden_" name,              \
                                                   KEYED_MERGE(name, key, set_key), 1};            \
    static const row_desc_t P##_XREF = {name "_xref",                                              \
                                        4,                                                         \
                                        {{"system", ROW_TEXT},                                     \
                                         {"local_id", ROW_TEXT},                                   \
                                         {"master_id", ROW_TEXT},                                  \
                                         {"linked_at", ROW_INT8}}};                                \
    static const row_upsert_t P##_XREF_UPSERT = {                                                  \
        &P##_XREF, "stage_" name "_xref",                                                          \
        "INSERT INTO " name "_xref (system, local_id, master_id, linked_at) "                      \
        "SELECT system, local_id, master_id, linked_at FROM stage_" name "_xref " KEYED_XREF_SET,  \
        2};                                                                                        \
    static const row_desc_t P##_HISTORY = MD_HISTORY_ROW("golden_" name "_history")
#define KEYED_TABLES(P, name, key, set_key, key_col)                                               \
    .golden = {.row = &P##_GOLDEN,                                                                 \
               .upsert = &P##_GOLDEN_UPSERT,                                                       \
               .sql = "INSERT INTO golden_" name " (" KEYED_COLS(                                  \
                   key) ") VALUES ($1, $2, "                                                       \
                        "$3::bigint, $4::json, $5::bigint, $6::bigint) " KEYED_SET(set_key),       \
               .load = "SELECT " KEYED_COLS_LOAD(key) " FROM golden_" name,                        \
               .cols = {GC_ID, key_col, GC_VERSION, GC_FIELDS, GC_CREATED, GC_UPDATED}},           \
    .history = &P##_HISTORY, .sql_history = MD_SQL_HISTORY("golden_" name "_history"),             \
    .xref = {.row = &P##_XREF,                                                                     \
             .upsert = &P##_XREF_UPSERT,                                                           \
             .sql = "INSERT INTO " name "_xref (system, local_id, master_id, linked_at) VALUES "   \
                    "($1, $2, $3, $4::bigint) " KEYED_XREF_SET,                                    \
             .load = "SELECT system, local_id, master_id, linked_at FROM " name "_xref",           \
             .cols = {XC_SYSTEM, XC_LOCAL, XC_MASTER, XC_LINKED}}

KEYED_ROWS(ADDRESS, "address", "uprn", "");
KEYED_ROWS(CASE, "case", "person_master_id", "person_master_id = EXCLUDED.person_master_id, ");

const md_desc_t ADDRESS_DESC = {
    .name = "address",
    .prefix = 'A',
    .payload = "joinery.v1.Address",
    .fields = {ADDRESS_FIELDS, AF_COUNT, NULL, "lines, town, district, postcode"},
    .key_field = -1,
    .flags = MD_NAMED,
    KEYED_TABLES(ADDRESS, "address", "uprn", "", GC_KEY),
    .size = {sizeof(md_plan_t), sizeof(achanged_t), offsetof(achanged_t, msg.local_id)},
    .id = {entity_decode, address_identify, NULL},
    .msg = {address_changed, NULL, field_refusal},
};

const md_desc_t CASE_DESC = {
    .name = "case",
    .prefix = 'C',
    .payload = "joinery.v1.Case",
    .fields = {CASE_FIELDS, CF_COUNT, NULL,
               "person, status, opened_on, closed_on, closure_reason, team, lead_worker"},
    .needs_local = "%s needs source_record_id: the case's id in %s, so the hub can keep its "
                   "golden case and tell you about it in your own id",
    .key_field = CF_PERSON,
    .flags = MD_NAMED,
    KEYED_TABLES(CASE, "case", "person_master_id", "person_master_id = EXCLUDED.person_master_id, ",
                 GC_KEY_FIELD),
    .size = {sizeof(md_plan_t), sizeof(cchanged_t), offsetof(cchanged_t, msg.local_id)},
    .id = {entity_decode, case_identify, case_same},
    .msg = {case_changed, case_changed_to, field_refusal},
};

static const md_desc_t *const KINDS[ENTITY_KINDS] = {
    [ENTITY_ADDRESS] = &ADDRESS_DESC, [ENTITY_CASE] = &CASE_DESC};

static const md_words_t ENTITY_WORDS = {
    "entity_apply: missing engine, event or sink",
    "the address and case engine lost its state; it must be reloaded (entity_load)",
    "out of memory while updating the address and case indexes; the engine must be reloaded "
    "(entity_load) before it takes more events",
};

/* Names ----------------------------------------------------------------------------- */

int entity_field_known(entity_kind_t kind, const char *path)
{
    if ((unsigned)kind >= ENTITY_KINDS || path == NULL)
        return 0;
    for (size_t i = 0; i < KINDS[kind]->fields.n; i++)
        if (strcmp(KINDS[kind]->fields.paths[i], path) == 0)
            return 1;
    return 0;
}

static const char *const HANDLED[] = {"address.updated", "address.created", "case.updated",
                                      "case.created"};

int entity_handles(const char *type, size_t len)
{
    return md_type_in(HANDLED, sizeof HANDLED / sizeof HANDLED[0], type, len);
}

static void sections(const config_t *cfg, config_entity_rules_t out[ENTITY_KINDS])
{
    out[ENTITY_ADDRESS] = cfg->master.address;
    out[ENTITY_CASE] = cfg->master.case_;
}

int entity_check_config(const config_t *cfg, char *err, size_t errlen)
{
    config_entity_rules_t rules[ENTITY_KINDS];
    sections(cfg, rules);
    for (int k = 0; k < ENTITY_KINDS; k++)
        if (md_check_rules(cfg, KINDS[k], &rules[k], err, errlen) != 0)
            return -1;
    return 0;
}

/* Apply ----------------------------------------------------------------------------- */

static int accept_type(md_ctx_t *c)
{
    if (entity_handles(c->ev->type, strlen(c->ev->type)))
        return 1;
    return md_refused(c,
                      "%.64s is not an address or case event (expected address.updated, "
                      "address.created, case.updated or case.created)",
                      c->ev->type);
}

int entity_apply(entity_t *e, const master_t *persons, const master_event_t *ev,
                 master_sink_t *sink, master_result_t *res, char *why, size_t why_len)
{
    md_ctx_t c;
    int rc =
        md_begin(&c, e ? &e->e : NULL, &ENTITY_WORDS, ev, sink, res, why, why_len, accept_type);
    if (rc != 1)
        return rc;
    c.persons = persons;
    c.exclude_src = true;
    md_use_kind(&c, strncmp(ev->type, "address.", 8) == 0 ? ENTITY_ADDRESS : ENTITY_CASE);
    return md_apply_keyed(&c);
}

/* Life cycle ------------------------------------------------------------------------------ */

entity_t *entity_new(const config_t *cfg, char *err, size_t errlen)
{
    entity_t *e = calloc(1, sizeof *e);
    config_entity_rules_t rules[ENTITY_KINDS] = {{0}};
    if (cfg != NULL)
        sections(cfg, rules);
    if (e == NULL || (e->in = calloc(1, sizeof *e->in)) == NULL)
        (void)err_set(err, errlen, "entity_new: out of memory");
    else if (md_open(&e->e, "entity_new", PB_ENTITY_ARENA, cfg, &ENTITY_WORDS, KINDS, rules,
                     ENTITY_KINDS, err, errlen) == 0)
        return e;
    entity_destroy(&e);
    return NULL;
}

void entity_destroy(entity_t **ep)
{
    entity_t *e = ep ? *ep : NULL;
    if (e == NULL)
        return;
    md_fini(&e->e);
    free(e->in);
    free(e);
    *ep = NULL;
}

void entity_set_id_generator(entity_t *e, master_id_fn fn, void *ctx)
{
    if (e != NULL)
        md_set_id_generator(&e->e, fn, ctx);
}

size_t entity_count(const entity_t *e, entity_kind_t kind)
{
    return e && (unsigned)kind < ENTITY_KINDS ? e->e.kinds[kind].nactive : 0;
}

const char *entity_lookup(const entity_t *e, entity_kind_t kind, const char *system,
                          const char *local_id, char master_id[MASTER_ID_MAX])
{
    if (e == NULL || (unsigned)kind >= ENTITY_KINDS || system == NULL || local_id == NULL)
        return NULL;
    const xref_t *x = md_lookup(&e->e, (int)kind, system, local_id);
    if (x != NULL && master_id != NULL)
        (void)snprintf(master_id, MASTER_ID_MAX, "%s", x->master->id);
    return x ? "MATCH" : NULL;
}

/* An address's UPRN is its key, from no system. */
const char *entity_value(const entity_t *e, const char *master_id, const char *field,
                         const char **source)
{
    const golden_t *g = e && master_id && field ? md_golden(&e->e, master_id) : NULL;
    if (g == NULL || g->kind != ENTITY_ADDRESS || strcmp(field, "uprn") != 0)
        return g ? md_value(&e->e, g, field, source) : NULL;
    if (source != NULL)
        *source = "";
    return g->key;
}

/* Loading and dumping ------------------------------------------------------------------- */

static int load_kinds(engine_t *e, PGconn *conn, void *ctx)
{
    md_loader_t *l = ctx;
    int rc = 0;
    for (int k = 0; rc == 0 && k < (int)e->nkinds; k++) {
        l->kind = k;
        rc = md_load_kind(l, conn, NULL);
    }
    return rc;
}

int entity_load(entity_t *e, PGconn *conn, char *err, size_t errlen)
{
    if (e == NULL || conn == NULL)
        return err_set(err, errlen, "entity_load: no engine or connection");
    md_loader_t l = {.e = &e->e, .err = err, .errlen = errlen};
    return md_load(&e->e, conn, load_kinds, &l, err, errlen);
}

/* One line per record, field and link. */
static int dump_record(const engine_t *e, md_dump_t *d, const golden_t *g, void *ctx)
{
    (void)ctx;
    const md_kind_t *k = &e->kinds[g->kind];
    const char *kn = k->d->name;
    if (md_dump_line(d, "%s %s version=%llu key=%s", kn, g->id, (unsigned long long)g->version,
                     g->key ? g->key : "") != 0)
        return -1;
    for (uint32_t i = 0; g->vals != NULL && i < g->vals->n; i++) {
        const mval_t *v = &g->vals->v[i];
        if (md_dump_line(d, "%s %s field %s=%s source=%s n=%llu t=%lld", kn, g->id,
                         md_field_name(k, v->field), md_val_text(g->vals, v), e->systems[v->source],
                         (unsigned long long)v->version, (long long)v->at_us) != 0)
            return -1;
    }
    for (const xref_t *x = g->xrefs; x; x = x->mnext)
        if (md_dump_line(d, "%s_xref %s %s -> %s at=%lld", kn, e->systems[x->system], x->local_id,
                         g->id, (long long)x->linked_us) != 0)
            return -1;
    return 0;
}

int entity_dump(const entity_t *e, char **out, size_t *len)
{
    if (e == NULL || out == NULL)
        return -1;
    return md_dump(&e->e, dump_record, NULL, NULL, out, len);
}
