/* entity.c - golden addresses and cases (contract in entity.h).
 *
 * Every event is handled as the person engine handles one (master.c): plan
 * from the current state without touching it, allocating what the new state
 * needs; hand the derived events and the rows to the sink; only when the sink
 * took all of it, swap the planned state in. A sink failure therefore leaves
 * the engine exactly as it was, which the hub's RETRY needs. The swap only
 * fails by running out of memory in a hash table, which marks the engine
 * broken until entity_load.
 *
 * The two kinds differ in identity and fields only; a kind_t table holds what
 * differs (names, fields, statements) and the code is shared. */
#include "master/entity.h"

#include "base/hmap.h"
#include "master/master_util.h"
#include "base/pbarena.h"
#include "match/validate.h"

#include <jansson.h>
#include <joinery/v1/case.pb-c.h>
#include <joinery/v1/master.pb-c.h>
#include <joinery/v1/person.pb-c.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EF_MAX 8             /* fields of the kind with most (case: 7) */
#define EVALUE_MAX 512       /* longest field value accepted, bytes */
#define ESYSTEMS_MAX 1024    /* configured adapters + names found in the tables */
#define ELINES_MAX 8         /* address lines kept */
#define PB_ENTITY_ARENA 8192 /* an Address or a Case decodes into well under this */

/* Kinds ------------------------------------------------------------------------- */

enum { AF_LINES, AF_TOWN, AF_DISTRICT, AF_POSTCODE, AF_COUNT };
enum { CF_PERSON, CF_STATUS, CF_OPENED, CF_CLOSED, CF_CLOSURE, CF_TEAM, CF_LEAD, CF_COUNT };

static const char *const ADDRESS_FIELDS[AF_COUNT] = {"lines", "town", "district", "postcode"};
static const char *const CASE_FIELDS[CF_COUNT] = {
    "person", "status", "opened_on", "closed_on", "closure_reason", "team", "lead_worker"};
static const char *const STATUS_NAMES[] = {"", "open", "on_hold", "closed", "transferred"};

typedef struct {
    const char *name;    /* "address": config section, event type prefix, audit detail */
    char prefix;         /* of master ids */
    const char *payload; /* message name its events carry */
    const char *changed, *correction, *proposed; /* derived event types */
    const char *const *fields;
    size_t nfields;
    /* statements: golden record (master_id, key, version, fields, created_at,
     * updated_at), history, cross-reference */
    const char *sql_golden, *copy_golden;
    master_upsert_t upsert_golden;
    const char *sql_history, *copy_history;
    const char *sql_xref, *copy_xref;
    master_upsert_t upsert_xref;
    const char *load_golden, *load_xref;
} kind_t;

static const kind_t KINDS[ENTITY_KINDS] = {
    [ENTITY_ADDRESS] =
        {"address",
         'A',
         "joinery.v1.Address",
         "address.changed",
         "address.correction",
         "address.proposed",
         ADDRESS_FIELDS,
         AF_COUNT,
         "INSERT INTO golden_address (master_id, uprn, version, fields, created_at, updated_at) "
         "VALUES ($1, $2, $3::bigint, $4::json, $5::bigint, $6::bigint) ON CONFLICT (master_id) "
         "DO UPDATE SET version = EXCLUDED.version, fields = EXCLUDED.fields, "
         "updated_at = EXCLUDED.updated_at",
         "COPY golden_address (master_id, uprn, version, fields, created_at, updated_at) FROM "
         "STDIN",
         {"CREATE TEMP TABLE IF NOT EXISTS stage_golden_address (LIKE golden_address) "
          "ON COMMIT DELETE ROWS",
          "COPY stage_golden_address (master_id, uprn, version, fields, created_at, updated_at) "
          "FROM STDIN",
          "INSERT INTO golden_address (master_id, uprn, version, fields, created_at, updated_at) "
          "SELECT master_id, uprn, version, fields, created_at, updated_at FROM "
          "stage_golden_address ON CONFLICT (master_id) DO UPDATE SET version = "
          "EXCLUDED.version, fields = EXCLUDED.fields, updated_at = EXCLUDED.updated_at",
          1},
         "INSERT INTO golden_address_history (master_id, version, source, event_id, at, changes) "
         "VALUES ($1, $2::bigint, $3, $4, $5::bigint, $6::json)",
         "COPY golden_address_history (master_id, version, source, event_id, at, changes) FROM "
         "STDIN",
         "INSERT INTO address_xref (system, local_id, master_id, linked_at) VALUES ($1, $2, $3, "
         "$4::bigint) ON CONFLICT (system, local_id) DO UPDATE SET master_id = "
         "EXCLUDED.master_id, linked_at = EXCLUDED.linked_at",
         "COPY address_xref (system, local_id, master_id, linked_at) FROM STDIN",
         {"CREATE TEMP TABLE IF NOT EXISTS stage_address_xref (LIKE address_xref) "
          "ON COMMIT DELETE ROWS",
          "COPY stage_address_xref (system, local_id, master_id, linked_at) FROM STDIN",
          "INSERT INTO address_xref (system, local_id, master_id, linked_at) SELECT system, "
          "local_id, master_id, linked_at FROM stage_address_xref ON CONFLICT (system, local_id) "
          "DO UPDATE SET master_id = EXCLUDED.master_id, linked_at = EXCLUDED.linked_at",
          2},
         "SELECT master_id, uprn, version, fields::text, created_at, updated_at "
         "FROM golden_address",
         "SELECT system, local_id, master_id, linked_at FROM address_xref"},
    [ENTITY_CASE] =
        {"case",
         'C',
         "joinery.v1.Case",
         "case.changed",
         "case.correction",
         "case.proposed",
         CASE_FIELDS,
         CF_COUNT,
         "INSERT INTO golden_case (master_id, person_master_id, version, fields, created_at, "
         "updated_at) VALUES ($1, $2, $3::bigint, $4::json, $5::bigint, $6::bigint) "
         "ON CONFLICT (master_id) DO UPDATE SET person_master_id = EXCLUDED.person_master_id, "
         "version = EXCLUDED.version, fields = EXCLUDED.fields, updated_at = EXCLUDED.updated_at",
         "COPY golden_case (master_id, person_master_id, version, fields, created_at, "
         "updated_at) FROM STDIN",
         {"CREATE TEMP TABLE IF NOT EXISTS stage_golden_case (LIKE golden_case) "
          "ON COMMIT DELETE ROWS",
          "COPY stage_golden_case (master_id, person_master_id, version, fields, created_at, "
          "updated_at) FROM STDIN",
          "INSERT INTO golden_case (master_id, person_master_id, version, fields, created_at, "
          "updated_at) SELECT master_id, person_master_id, version, fields, created_at, "
          "updated_at FROM stage_golden_case ON CONFLICT (master_id) DO UPDATE SET "
          "person_master_id = EXCLUDED.person_master_id, version = EXCLUDED.version, "
          "fields = EXCLUDED.fields, updated_at = EXCLUDED.updated_at",
          1},
         "INSERT INTO golden_case_history (master_id, version, source, event_id, at, changes) "
         "VALUES ($1, $2::bigint, $3, $4, $5::bigint, $6::json)",
         "COPY golden_case_history (master_id, version, source, event_id, at, changes) FROM STDIN",
         "INSERT INTO case_xref (system, local_id, master_id, linked_at) VALUES ($1, $2, $3, "
         "$4::bigint) ON CONFLICT (system, local_id) DO UPDATE SET master_id = "
         "EXCLUDED.master_id, linked_at = EXCLUDED.linked_at",
         "COPY case_xref (system, local_id, master_id, linked_at) FROM STDIN",
         {"CREATE TEMP TABLE IF NOT EXISTS stage_case_xref (LIKE case_xref) "
          "ON COMMIT DELETE ROWS",
          "COPY stage_case_xref (system, local_id, master_id, linked_at) FROM STDIN",
          "INSERT INTO case_xref (system, local_id, master_id, linked_at) SELECT system, "
          "local_id, master_id, linked_at FROM stage_case_xref ON CONFLICT (system, local_id) "
          "DO UPDATE SET master_id = EXCLUDED.master_id, linked_at = EXCLUDED.linked_at",
          2},
         "SELECT master_id, person_master_id, version, fields::text, created_at, updated_at "
         "FROM golden_case",
         "SELECT system, local_id, master_id, linked_at FROM case_xref"},
};

/* State ------------------------------------------------------------------------- */

typedef struct {
    char *value; /* owned; NULL = no value */
    uint16_t source;
    uint64_t version; /* record version at which it last changed */
    int64_t at_us;    /* when it happened in the source system */
} efield_t;

typedef struct erec erec_t;
typedef struct exref exref_t;

struct exref {
    erec_t *rec;
    char *local_id; /* owned */
    uint16_t system;
    uint8_t kind;
    int64_t linked_us;
    exref_t *hnext; /* (kind, system, local id) hash chain */
    exref_t *mnext; /* next on the same record */
};

struct erec {
    char id[MASTER_ID_MAX];
    uint8_t kind;
    char *key; /* owned: the UPRN of an address; NULL for a case */
    uint64_t version;
    int64_t created_us, updated_us;
    efield_t f[EF_MAX];
    exref_t *xrefs;        /* local ids linked here, through mnext */
    erec_t *hnext, *knext; /* id and UPRN hash chains */
};

typedef struct {
    bool set;
    int owner;          /* system id, -1 none */
    uint16_t *fallback; /* owned */
    size_t nfallback;
    bool propose;
} erule_t;

struct entity {
    const config_t *cfg;
    bool broken; /* memory and tables disagree: refuse until entity_load */
    char **systems;
    size_t nsystems;
    erule_t rules[ENTITY_KINDS][EF_MAX];
    uint16_t *sub_changed[ENTITY_KINDS], *sub_proposed[ENTITY_KINDS];
    size_t nsub_changed[ENTITY_KINDS], nsub_proposed[ENTITY_KINDS];
    hmap_t *by_id, *by_key, *xrefs;
    erec_t **recs; /* every record, for iteration and freeing */
    size_t nrecs, caprecs, count[ENTITY_KINDS];
    master_id_fn id_fn;
    void *id_ctx;
    master_ulid_t ulid;
    pbarena_t *arena;
    mbuf_t json, hist, out;
    /* per-event scratch, allocated once and cleared for each event */
    struct incoming *in;
    struct eplan *plan;
};

/* Names ----------------------------------------------------------------------------- */

int entity_field_known(entity_kind_t kind, const char *path)
{
    if ((unsigned)kind >= ENTITY_KINDS || path == NULL)
        return 0;
    for (size_t i = 0; i < KINDS[kind].nfields; i++)
        if (strcmp(KINDS[kind].fields[i], path) == 0)
            return 1;
    return 0;
}

static const char *const HANDLED[] = {"address.updated", "address.created", "case.updated",
                                      "case.created"};

int entity_handles(const char *type, size_t len)
{
    if (type == NULL)
        return 0;
    for (size_t i = 0; i < sizeof HANDLED / sizeof HANDLED[0]; i++)
        if (strlen(HANDLED[i]) == len && memcmp(HANDLED[i], type, len) == 0)
            return 1;
    return 0;
}

/* Interned system names; adapters first, so their order is the default
 * order of trust. */
static int system_id(entity_t *e, const char *name, bool create)
{
    for (size_t i = 0; i < e->nsystems; i++)
        if (strcmp(e->systems[i], name) == 0)
            return (int)i;
    if (!create || e->nsystems >= ESYSTEMS_MAX)
        return -1;
    char *copy = strdup(name);
    if (copy == NULL)
        return -1;
    e->systems[e->nsystems] = copy;
    return (int)e->nsystems++;
}

static int system_of(void *ctx, const char *name)
{
    return system_id(ctx, name, true);
}

static const config_entity_rules_t *kind_config(const config_t *cfg, int kind)
{
    return kind == ENTITY_ADDRESS ? &cfg->master.address : &cfg->master.case_;
}

/* Lower wins: the owner, then the rule's fallback list, then the kind's
 * survivorship list, then the adapters' order (system ids). */
static uint32_t rank_of(const entity_t *e, int kind, int field, int system)
{
    const erule_t *r = &e->rules[kind][field];
    if (r->set) {
        if (r->owner == system)
            return 0;
        for (size_t i = 0; i < r->nfallback; i++)
            if (r->fallback[i] == system)
                return 1 + (uint32_t)i;
    }
    const config_strings_t *order = &kind_config(e->cfg, kind)->survivorship;
    for (size_t i = 0; i < order->count; i++)
        if (strcmp(order->items[i], e->systems[system]) == 0)
            return 1000u + (uint32_t)i;
    return 100000u + (uint32_t)system;
}

/* Indexes ----------------------------------------------------------------------------- */

static uint64_t hash_key(const char *s, uint64_t seed)
{
    uint64_t h = hmap_hash_bytes(s, strlen(s), seed);
    return h ? h : 1; /* 0 is hmap's reserved key */
}

static uint64_t xref_hash(int kind, int system, const char *local_id)
{
    return hash_key(local_id, ((uint64_t)kind << 16 | (uint64_t)system) + 0x9e3779b97f4a7c15ULL);
}

static erec_t *rec_by_id(const entity_t *e, const char *id)
{
    for (erec_t *r = hmap_get(e->by_id, hash_key(id, 0)); r != NULL; r = r->hnext)
        if (strcmp(r->id, id) == 0)
            return r;
    return NULL;
}

static erec_t *rec_by_uprn(const entity_t *e, const char *uprn)
{
    for (erec_t *r = hmap_get(e->by_key, hash_key(uprn, 1)); r != NULL; r = r->knext)
        if (strcmp(r->key, uprn) == 0)
            return r;
    return NULL;
}

static exref_t *xref_find(const entity_t *e, int kind, int system, const char *local_id)
{
    for (exref_t *x = hmap_get(e->xrefs, xref_hash(kind, system, local_id)); x != NULL;
         x = x->hnext)
        if (x->kind == kind && x->system == system && strcmp(x->local_id, local_id) == 0)
            return x;
    return NULL;
}

static void rec_free(erec_t *r)
{
    if (r == NULL)
        return;
    for (int i = 0; i < EF_MAX; i++)
        free(r->f[i].value);
    free(r->key);
    free(r);
}

static void xref_free(exref_t *x)
{
    if (x != NULL)
        free(x->local_id);
    free(x);
}

/* The record goes into the indexes. It takes ownership of R whatever it
 * returns: on failure R is freed, or listed in recs for state_clear. */
static int rec_add(entity_t *e, erec_t *r)
{
    if (e->nrecs == e->caprecs) {
        size_t cap = e->caprecs ? e->caprecs * 2 : 256;
        erec_t **p = realloc(e->recs, cap * sizeof *p);
        if (p == NULL) {
            rec_free(r);
            return -1;
        }
        e->recs = p;
        e->caprecs = cap;
    }
    e->recs[e->nrecs++] = r;
    e->count[r->kind]++;
    uint64_t h = hash_key(r->id, 0);
    r->hnext = hmap_get(e->by_id, h);
    if (hmap_put(e->by_id, h, r) != 0)
        return -1;
    if (r->key != NULL) {
        uint64_t k = hash_key(r->key, 1);
        r->knext = hmap_get(e->by_key, k);
        if (hmap_put(e->by_key, k, r) != 0)
            return -1;
    }
    return 0;
}

static void xref_attach(erec_t *r, exref_t *x)
{
    x->rec = r;
    x->mnext = r->xrefs;
    r->xrefs = x;
}

static void xref_detach(exref_t *x)
{
    for (exref_t **p = &x->rec->xrefs; *p != NULL; p = &(*p)->mnext)
        if (*p == x) {
            *p = x->mnext;
            break;
        }
    x->mnext = NULL;
    x->rec = NULL;
}

/* The cross-reference takes ownership of X. */
static int xref_add(entity_t *e, exref_t *x)
{
    uint64_t h = xref_hash(x->kind, x->system, x->local_id);
    x->hnext = hmap_get(e->xrefs, h);
    return hmap_put(e->xrefs, h, x);
}

/* SYSTEM's local id for R: its oldest link (one system may have several
 * records for one property), "" if it has none. */
static const char *local_of(const erec_t *r, int system)
{
    const exref_t *best = NULL;
    for (const exref_t *x = r->xrefs; x != NULL; x = x->mnext)
        if (x->system == system &&
            (best == NULL || x->linked_us < best->linked_us ||
             (x->linked_us == best->linked_us && strcmp(x->local_id, best->local_id) < 0)))
            best = x;
    return best ? best->local_id : "";
}

static void state_clear(entity_t *e)
{
    size_t pos = 0;
    uint64_t key;
    void *v;
    while (hmap_next(e->xrefs, &pos, &key, &v))
        for (exref_t *x = v; x != NULL;) {
            exref_t *next = x->hnext;
            xref_free(x);
            x = next;
        }
    for (size_t i = 0; i < e->nrecs; i++)
        rec_free(e->recs[i]);
    e->nrecs = 0;
    memset(e->count, 0, sizeof e->count);
    hmap_clear(e->by_id);
    hmap_clear(e->by_key);
    hmap_clear(e->xrefs);
}

/* Ids --------------------------------------------------------------------------------- */

void entity_set_id_generator(entity_t *e, master_id_fn fn, void *ctx)
{
    if (e == NULL)
        return;
    e->id_fn = fn;
    e->id_ctx = ctx;
}

/* One event being handled -------------------------------------------------------------- */

typedef struct {
    entity_t *e;
    const master_t *persons;
    const master_event_t *ev;
    master_sink_t *sink;
    master_result_t *res;
    char *why;
    size_t why_len;
    int kind;
    const kind_t *k;
    int src;
    int64_t now, occurred;
} ectx_t;

static int say(ectx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int say(ectx_t *c, const char *fmt, ...)
{
    if (c->why != NULL && c->why_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        (void)vsnprintf(c->why, c->why_len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* The whole event is refused: the sender must fix it. */
static int refused(ectx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refused(ectx_t *c, const char *fmt, ...)
{
    if (c->why != NULL && c->why_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        (void)vsnprintf(c->why, c->why_len, fmt, ap);
        va_end(ap);
    }
    c->res->outcome = MASTER_REFUSED;
    return 0;
}

static int new_id(ectx_t *c, char out[MASTER_ID_MAX])
{
    entity_t *e = c->e;
    for (int attempt = 0; attempt < 4; attempt++) {
        if (e->id_fn != NULL) {
            if (e->id_fn(e->id_ctx, c->now, out, MASTER_ID_MAX) != 0 || out[0] == '\0' ||
                memchr(out, '\0', MASTER_ID_MAX) == NULL)
                return say(c, "the master id generator failed");
        } else {
            master_ulid_next(&e->ulid, c->k->prefix, c->now, out);
        }
        if (rec_by_id(e, out) == NULL)
            return 0;
    }
    return say(c, "the master id generator repeats ids");
}

/* Incoming values ----------------------------------------------------------------------- */

typedef struct incoming {
    bool has[EF_MAX];
    char v[EF_MAX][EVALUE_MAX];
    char uprn[16];
    char person_local[EVALUE_MAX];     /* Case.person_local_id as sent */
    char person_master[MASTER_ID_MAX]; /* Case.person_master_id as sent */
} incoming_t;

/* S as canonical text into OUT: valid UTF-8 without control characters,
 * blanks collapsed to one space, trimmed; UPPER for post towns. "" is "not
 * sent". */
static int clean(ectx_t *c, const char *what, const char *s, bool upper, char out[EVALUE_MAX])
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
            return refused(c, "%s is not clean UTF-8 text (control characters or invalid bytes)",
                           what),
                   -1;
        if (ch == ' ' || ch == '\t') {
            blank = n > 0;
            i++;
            continue;
        }
        if (n + len + 2 > EVALUE_MAX)
            return refused(c, "%s is longer than %d bytes", what, EVALUE_MAX - 1), -1;
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

static int keep_text(ectx_t *c, incoming_t *in, int field, const char *what, const char *s,
                     bool upper)
{
    if (clean(c, what, s, upper, in->v[field]) != 0)
        return -1;
    in->has[field] = in->v[field][0] != '\0';
    return 0;
}

static int flat_address(ectx_t *c, const Joinery__V1__Address *a, incoming_t *in)
{
    char reason[160];
    if (a->uprn == NULL || a->uprn[0] == '\0')
        return refused(c,
                       "%s needs address.uprn: the hub keeps one golden address per UPRN (the "
                       "property's Unique Property Reference Number, 1-12 digits); look it up "
                       "in your gazetteer and send it",
                       c->ev->type),
               -1;
    if (validate_uprn(a->uprn, reason, sizeof reason) != 0)
        return refused(c, "address.uprn is not valid: %s", reason), -1;
    const char *d = a->uprn;
    while (*d == '0' && d[1] != '\0')
        d++;
    (void)snprintf(in->uprn, sizeof in->uprn, "%s", d);
    if (a->postcode && a->postcode[0]) {
        if (validate_postcode_normalise(a->postcode, in->v[AF_POSTCODE], EVALUE_MAX) != 0) {
            (void)validate_postcode(a->postcode, reason, sizeof reason);
            return refused(c, "address.postcode is not valid: %s", reason), -1;
        }
        in->has[AF_POSTCODE] = true;
    }
    size_t n = 0;
    if (a->n_lines > ELINES_MAX)
        return refused(c, "address.lines has %zu lines; at most %d are kept", a->n_lines,
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
            return refused(c, "address.lines are longer than %d bytes", EVALUE_MAX - 1), -1;
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

static int keep_date(ectx_t *c, incoming_t *in, int field, const char *what, const char *s)
{
    if (s == NULL || s[0] == '\0')
        return 0;
    char reason[160];
    if (validate_date(s, reason, sizeof reason) != 0)
        return refused(c, "%s is not a date: %s", what, reason), -1;
    (void)snprintf(in->v[field], EVALUE_MAX, "%s", s);
    in->has[field] = true;
    return 0;
}

static int flat_case(ectx_t *c, const Joinery__V1__Case *k, incoming_t *in)
{
    if (k->status != 0) {
        if ((unsigned)k->status >= sizeof STATUS_NAMES / sizeof STATUS_NAMES[0])
            return refused(c, "case.status %d is not a CaseStatus", (int)k->status), -1;
        (void)snprintf(in->v[CF_STATUS], EVALUE_MAX, "%s", STATUS_NAMES[k->status]);
        in->has[CF_STATUS] = true;
    }
    if (keep_date(c, in, CF_OPENED, "case.opened_on", k->opened_on) != 0 ||
        keep_date(c, in, CF_CLOSED, "case.closed_on", k->closed_on) != 0)
        return -1;
    if (in->has[CF_OPENED] && in->has[CF_CLOSED] && strcmp(in->v[CF_CLOSED], in->v[CF_OPENED]) < 0)
        return refused(c, "case.closed_on %s is before case.opened_on %s", in->v[CF_CLOSED],
                       in->v[CF_OPENED]),
               -1;
    if (keep_text(c, in, CF_CLOSURE, "case.closure_reason", k->closure_reason, false) != 0 ||
        keep_text(c, in, CF_TEAM, "case.team", k->team, false) != 0 ||
        keep_text(c, in, CF_LEAD, "case.lead_worker", k->lead_worker, false) != 0 ||
        clean(c, "case.person_local_id", k->person_local_id, false, in->person_local) != 0)
        return -1;
    const char *pm = k->person_master_id ? k->person_master_id : "";
    if (strlen(pm) >= MASTER_ID_MAX)
        return refused(c, "case.person_master_id is longer than any master id"), -1;
    (void)snprintf(in->person_master, sizeof in->person_master, "%s", pm);
    return 0;
}

/* Decodes and checks the payload into IN. -1: refused (why set). */
static int flatten(ectx_t *c, incoming_t *in)
{
    const master_event_t *ev = c->ev;
    if (ev->payload_type == NULL || strcmp(ev->payload_type, c->k->payload) != 0)
        return refused(c, "%s must carry a %s payload, not %s", ev->type, c->k->payload,
                       ev->payload_type && ev->payload_type[0] ? ev->payload_type : "none"),
               -1;
    ProtobufCAllocator *alloc = pbarena_allocator(c->e->arena);
    int rc;
    if (c->kind == ENTITY_ADDRESS) {
        Joinery__V1__Address *a = joinery__v1__address__unpack(alloc, ev->payload_len, ev->payload);
        rc = a ? flat_address(c, a, in)
               : (refused(c, "the payload does not decode as %s", c->k->payload), -1);
    } else {
        Joinery__V1__Case *k = joinery__v1__case__unpack(alloc, ev->payload_len, ev->payload);
        rc = k ? flat_case(c, k, in)
               : (refused(c, "the payload does not decode as %s", c->k->payload), -1);
    }
    pbarena_reset(c->e->arena); /* everything kept was copied into IN */
    return rc;
}

/* The person a case is about, as the golden person id it resolves to now:
 * from the sender's own id for them, or from a person master id (a merged
 * record's survivor). Neither given: the case keeps its person (CURRENT), and
 * a new case cannot be made. -1: refused. */
static int resolve_person(ectx_t *c, incoming_t *in, const erec_t *current)
{
    char by_local[MASTER_ID_MAX] = "", by_master[MASTER_ID_MAX] = "";
    if (in->person_local[0] != '\0' &&
        master_lookup(c->persons, c->ev->source, in->person_local, by_local) == NULL)
        return refused(c,
                       "case.person_local_id '%.64s' is not a person %s has sent to the hub; "
                       "publish person.updated for it first, or give person_master_id",
                       in->person_local, c->ev->source),
               -1;
    if (in->person_master[0] != '\0' &&
        master_final_id(c->persons, in->person_master, by_master) != 0)
        return refused(c,
                       "case.person_master_id '%s' is not a golden person the hub knows; give "
                       "person_local_id (your own id for the person) instead",
                       in->person_master),
               -1;
    if (by_local[0] && by_master[0] && strcmp(by_local, by_master) != 0)
        return refused(c,
                       "case.person_local_id '%.64s' is golden person %s, but person_master_id "
                       "says %s; send one of them, or put your record right",
                       in->person_local, by_local, by_master),
               -1;
    const char *pid = by_local[0] ? by_local : by_master;
    if (pid[0] == '\0') {
        if (current == NULL)
            return refused(c, "a new case needs the person it is about: set case.person_local_id "
                              "(your own id for the person) or case.person_master_id"),
                   -1;
        return 0;
    }
    (void)snprintf(in->v[CF_PERSON], EVALUE_MAX, "%s", pid);
    in->has[CF_PERSON] = true;
    return 0;
}

/* Plan ---------------------------------------------------------------------------------- */

enum { REF_OWNER, REF_STALE };

typedef struct {
    uint8_t field, kind;
    bool propose;
    const char *refused, *current; /* into incoming_t / the record */
    uint64_t current_version;
} eref_t;

typedef struct eplan {
    erec_t *rec;       /* the record the event applies to */
    erec_t *newrec;    /* a new record, owned here until commit */
    exref_t *x;        /* the sender's link, if it had one */
    exref_t *newx;     /* the sender's new link, owned here until commit */
    bool move;         /* X moves to REC (its UPRN changed) */
    char *val[EF_MAX]; /* new values, owned until commit */
    const char *old[EF_MAX];
    uint8_t ch[EF_MAX];
    size_t nch;
    eref_t ref[EF_MAX];
    size_t nref;
    uint64_t version;
} eplan_t;

static void plan_free(eplan_t *p)
{
    rec_free(p->newrec);
    xref_free(p->newx);
    for (int i = 0; i < EF_MAX; i++)
        free(p->val[i]);
}

/* Which record the event is about, and the sender's link to it. -1 with
 * res REFUSED, or on an internal failure (why set, res APPLIED). */
static int plan_record(ectx_t *c, const incoming_t *in, eplan_t *p)
{
    const master_event_t *ev = c->ev;
    const char *local = ev->local_id ? ev->local_id : "";
    const char *named = ev->master_id ? ev->master_id : "";
    p->x = local[0] ? xref_find(c->e, c->kind, c->src, local) : NULL;
    if (c->kind == ENTITY_ADDRESS) {
        p->rec = rec_by_uprn(c->e, in->uprn);
    } else if (p->x != NULL) {
        p->rec = p->x->rec;
        if (named[0] && strcmp(named, p->rec->id) != 0)
            return refused(c,
                           "source_record_id '%.64s' is golden case %s, but master_id names %.40s; "
                           "send the case's own master id or none",
                           local, p->rec->id, named),
                   -1;
    } else if (named[0]) {
        p->rec = rec_by_id(c->e, named);
        if (p->rec == NULL || p->rec->kind != ENTITY_CASE)
            return refused(c,
                           "master_id %.40s is not a golden case; leave it empty to create a "
                           "case, or use the master id case.changed gave you",
                           named),
                   -1;
    }
    if (p->rec == NULL) {
        if ((p->newrec = calloc(1, sizeof *p->newrec)) == NULL)
            return say(c, "out of memory");
        if (new_id(c, p->newrec->id) != 0)
            return -1;
        p->newrec->kind = (uint8_t)c->kind;
        p->newrec->created_us = p->newrec->updated_us = c->now;
        if (c->kind == ENTITY_ADDRESS && (p->newrec->key = strdup(in->uprn)) == NULL)
            return say(c, "out of memory");
        p->rec = p->newrec;
    }
    if (local[0] && p->x == NULL) {
        if ((p->newx = calloc(1, sizeof *p->newx)) == NULL ||
            (p->newx->local_id = strdup(local)) == NULL)
            return say(c, "out of memory");
        p->newx->system = (uint16_t)c->src;
        p->newx->kind = (uint8_t)c->kind;
        p->newx->linked_us = c->now;
    }
    p->move = p->x != NULL && p->x->rec != p->rec;
    return 0;
}

static void refuse_field(eplan_t *p, int field, int kind, bool propose, const char *value,
                         const efield_t *cur)
{
    p->ref[p->nref++] = (eref_t){.field = (uint8_t)field,
                                 .kind = (uint8_t)kind,
                                 .propose = propose,
                                 .refused = value,
                                 .current = cur->value,
                                 .current_version = cur->version};
}

/* Is the person the case names (STORED, perhaps since merged away) the one
 * the sender names now (resolved, so never a retired record)? */
static bool same_person(const master_t *persons, const char *stored, const char *now)
{
    char final[MASTER_ID_MAX];
    return master_final_id(persons, stored, final) == 0 && strcmp(final, now) == 0;
}

/* Which of the sender's values the record takes: the person engine's rules
 * (master.c plan_fields). -1 on out of memory. */
static int plan_fields(ectx_t *c, const incoming_t *in, eplan_t *p)
{
    const erec_t *r = p->rec;
    uint64_t version = (p->newrec ? 0 : r->version) + 1;
    /* A base_version names a version of the record the sender had; a sender
     * linked just now has seen none of it. */
    bool check_base = c->ev->base_version != 0 && p->newx == NULL && p->newrec == NULL;
    for (size_t f = 0; f < c->k->nfields; f++) {
        if (!in->has[f])
            continue;
        const efield_t *cur = r->f[f].value ? &r->f[f] : NULL;
        if (cur != NULL &&
            (strcmp(cur->value, in->v[f]) == 0 || (c->kind == ENTITY_CASE && f == CF_PERSON &&
                                                   same_person(c->persons, cur->value, in->v[f]))))
            continue;
        const erule_t *rule = &c->e->rules[c->kind][f];
        int owner = rule->set ? rule->owner : -1;
        if (owner >= 0 && c->src != owner && cur != NULL && cur->source == owner) {
            refuse_field(p, (int)f, REF_OWNER, rule->propose, in->v[f], cur);
            continue;
        }
        if (check_base && cur != NULL && cur->version > c->ev->base_version) {
            refuse_field(p, (int)f, REF_STALE, false, in->v[f], cur);
            continue;
        }
        if (cur != NULL && c->src != owner) {
            uint32_t rs = rank_of(c->e, c->kind, (int)f, c->src);
            uint32_t rc = rank_of(c->e, c->kind, (int)f, cur->source);
            if (rs > rc || (rs == rc && c->occurred < cur->at_us))
                continue; /* a better or newer source stands */
        }
        if ((p->val[f] = strdup(in->v[f])) == NULL)
            return say(c, "out of memory");
        p->old[f] = cur ? cur->value : NULL;
        p->ch[p->nch++] = (uint8_t)f;
    }
    p->version = p->nch || p->newrec ? version : r->version;
    return 0;
}

static bool changes(const eplan_t *p, size_t f)
{
    return p->val[f] != NULL;
}

/* Field F of the record as it will be after the event. */
static efield_t field_after(const ectx_t *c, const eplan_t *p, size_t f)
{
    if (changes(p, f))
        return (efield_t){p->val[f], (uint16_t)c->src, p->version, c->occurred};
    return p->rec->f[f];
}

/* Write ---------------------------------------------------------------------------------- */

static int run_append(ectx_t *c, const char *copy_stmt, const char *stmt, int n,
                      const char *const *params)
{
    int rc = c->sink->append ? c->sink->append(c->sink->ctx, copy_stmt, n, params)
                             : c->sink->sql(c->sink->ctx, stmt, n, params);
    return rc != 0 ? say(c, "the store refused a master-data row") : 0;
}

static int run_upsert(ectx_t *c, const master_upsert_t *u, const char *stmt, int n,
                      const char *const *params)
{
    int rc = c->sink->upsert ? c->sink->upsert(c->sink->ctx, u, stmt, n, params)
                             : c->sink->sql(c->sink->ctx, stmt, n, params);
    return rc != 0 ? say(c, "the store refused a master-data row") : 0;
}

static int emit(ectx_t *c, const char *type, const char *target, const char *local_id,
                const ProtobufCMessage *msg)
{
    entity_t *e = c->e;
    size_t len = protobuf_c_message_get_packed_size(msg);
    e->out.len = 0;
    if (master_buf_reserve(&e->out, len + 1) != 0)
        return say(c, "out of memory");
    (void)protobuf_c_message_pack(msg, (uint8_t *)e->out.p);
    /* res->master_id is the record's id from plan_record on. */
    if (c->sink->emit(c->sink->ctx, type, target, c->res->master_id, local_id ? local_id : "",
                      msg->descriptor->name, (const uint8_t *)e->out.p, len) != 0)
        return say(c, "the journal refused a derived %s event", type);
    return 0;
}

/* The golden row: {"field": {"v", "s", "n", "t"}} as golden_person.fields. */
static int fields_json(ectx_t *c, const eplan_t *p, mbuf_t *b)
{
    int rc = master_buf_str(b, "{");
    bool first = true;
    for (size_t f = 0; f < c->k->nfields; f++) {
        efield_t v = field_after(c, p, f);
        if (v.value == NULL)
            continue;
        /* Compact, as golden_person.fields: the row is rewritten on every change. */
        rc |= master_buf_str(b, first ? "" : ",");
        rc |= master_buf_field_json(b, c->k->fields[f], v.value, c->e->systems[v.source], v.version,
                                    v.at_us);
        first = false;
    }
    return rc | master_buf_str(b, "}");
}

static int sql_golden(ectx_t *c, const eplan_t *p)
{
    entity_t *e = c->e;
    e->json.len = 0;
    if (fields_json(c, p, &e->json) != 0)
        return say(c, "out of memory");
    char v[MASTER_NUM_LEN], created[MASTER_NUM_LEN], now[MASTER_NUM_LEN];
    efield_t person = c->kind == ENTITY_CASE ? field_after(c, p, CF_PERSON) : (efield_t){0};
    const char *params[] = {p->rec->id,
                            c->kind == ENTITY_ADDRESS ? p->rec->key : person.value,
                            master_num_i(v, (int64_t)p->version),
                            e->json.p,
                            master_num_i(created, p->rec->created_us),
                            master_num_i(now, c->now)};
    if (p->newrec != NULL)
        return run_append(c, c->k->copy_golden, c->k->sql_golden, 6, params);
    return run_upsert(c, &c->k->upsert_golden, c->k->sql_golden, 6, params);
}

/* One history row for the version: {"field":{"o":old,"n":new}}, in the
 * person engine's compact form: "o" only when there was an old value, and no
 * "s", since every value an entity event sets comes from its sender, the
 * row's source (readers take a missing "s" as the row's source). */
static int sql_history(ectx_t *c, const eplan_t *p)
{
    if (p->nch == 0)
        return 0; /* a new record with no field yet (an address known by its UPRN alone) */
    entity_t *e = c->e;
    e->hist.len = 0;
    int rc = master_buf_str(&e->hist, "{");
    for (size_t i = 0; i < p->nch; i++) {
        size_t f = p->ch[i];
        rc |= master_buf_str(&e->hist, i ? "," : "");
        rc |= master_buf_json_str(&e->hist, c->k->fields[f]);
        rc |= master_buf_str(&e->hist, ":{");
        if (p->old[f] != NULL) {
            rc |= master_buf_str(&e->hist, "\"o\":");
            rc |= master_buf_json_str(&e->hist, p->old[f]);
            rc |= master_buf_str(&e->hist, ",");
        }
        rc |= master_buf_str(&e->hist, "\"n\":");
        rc |= master_buf_json_str(&e->hist, p->val[f]);
        rc |= master_buf_str(&e->hist, "}");
    }
    if ((rc | master_buf_str(&e->hist, "}")) != 0)
        return say(c, "out of memory");
    char v[MASTER_NUM_LEN], at[MASTER_NUM_LEN];
    const char *params[] = {p->rec->id,
                            master_num_i(v, (int64_t)p->version),
                            c->ev->source,
                            c->ev->event_id ? c->ev->event_id : "",
                            master_num_i(at, c->now),
                            e->hist.p};
    return run_append(c, c->k->copy_history, c->k->sql_history, 6, params);
}

static int sql_xref(ectx_t *c, const eplan_t *p)
{
    const exref_t *x = p->newx ? p->newx : p->move ? p->x : NULL;
    if (x == NULL)
        return 0;
    char at[MASTER_NUM_LEN];
    const char *params[] = {c->e->systems[x->system], x->local_id, p->rec->id,
                            master_num_i(at, p->newx ? x->linked_us : c->now)};
    if (p->newx != NULL)
        return run_append(c, c->k->copy_xref, c->k->sql_xref, 4, params);
    return run_upsert(c, &c->k->upsert_xref, c->k->sql_xref, 4, params);
}

/* DETAIL is the JSON object in e->json. */
static int sql_audit(ectx_t *c, const char *master_id, const char *action)
{
    char at[MASTER_NUM_LEN];
    const char *params[] = {master_num_i(at, c->now),
                            c->ev->event_id ? c->ev->event_id : "",
                            c->ev->source,
                            master_id,
                            action,
                            c->e->json.len ? c->e->json.p : "{}"};
    return run_append(c, MASTER_COPY_AUDIT, MASTER_SQL_AUDIT, 6, params);
}

/* "create", "link" (the sender's local id joined an existing record, or
 * moved to it) or "update", naming fields and systems, never values. */
static int audit_event(ectx_t *c, const eplan_t *p)
{
    entity_t *e = c->e;
    char v[MASTER_NUM_LEN];
    e->json.len = 0;
    int rc = master_buf_str(&e->json, "{\"entity\": \"");
    rc |= master_buf_str(&e->json, c->k->name);
    rc |= master_buf_str(&e->json, "\", \"version\": ");
    rc |= master_buf_str(&e->json, master_num_i(v, (int64_t)p->version));
    rc |= master_buf_str(&e->json, ", \"fields\": [");
    for (size_t i = 0; i < p->nch; i++) {
        rc |= master_buf_str(&e->json, i ? ", " : "");
        rc |= master_buf_json_str(&e->json, c->k->fields[p->ch[i]]);
    }
    rc |= master_buf_str(&e->json, "]");
    const exref_t *x = p->newx ? p->newx : p->move ? p->x : NULL;
    if (x != NULL) {
        rc |= master_buf_str(&e->json, ", \"link\": {\"system\": ");
        rc |= master_buf_json_str(&e->json, e->systems[x->system]);
        rc |= master_buf_str(&e->json, ", \"local_id\": ");
        rc |= master_buf_json_str(&e->json, x->local_id);
        if (p->move) {
            rc |= master_buf_str(&e->json, ", \"moved_from\": ");
            rc |= master_buf_json_str(&e->json, p->x->rec->id);
        }
        rc |= master_buf_str(&e->json, "}");
    }
    if ((rc | master_buf_str(&e->json, "}")) != 0)
        return say(c, "out of memory");
    return sql_audit(c, p->rec->id, p->newrec ? "create" : x ? "link" : "update");
}

/* An owner that does not listen for proposals cannot act on one; the sender
 * is corrected instead, so the difference does not go unnoticed. */
static bool proposes(const ectx_t *c, const eref_t *r)
{
    const erule_t *rule = &c->e->rules[c->kind][r->field];
    return r->propose && master_subscribes(c->e->sub_proposed[c->kind],
                                           c->e->nsub_proposed[c->kind], rule->owner);
}

static int audit_refusal(ectx_t *c, const eplan_t *p, const eref_t *r)
{
    entity_t *e = c->e;
    const erule_t *rule = &e->rules[c->kind][r->field];
    char v[MASTER_NUM_LEN];
    e->json.len = 0;
    int rc = master_buf_str(&e->json, "{\"entity\": \"");
    rc |= master_buf_str(&e->json, c->k->name);
    rc |= master_buf_str(&e->json, "\", \"field\": ");
    rc |= master_buf_json_str(&e->json, c->k->fields[r->field]);
    rc |= master_buf_str(&e->json, ", \"owner\": ");
    rc |=
        master_buf_json_str(&e->json, rule->set && rule->owner >= 0 ? e->systems[rule->owner] : "");
    rc |= master_buf_str(&e->json, r->kind == REF_OWNER ? ", \"reason\": \"owner\""
                                                        : ", \"reason\": \"stale\"");
    rc |= master_buf_str(&e->json, ", \"field_version\": ");
    rc |= master_buf_str(&e->json, master_num_i(v, (int64_t)r->current_version));
    if ((rc | master_buf_str(&e->json, "}")) != 0)
        return say(c, "out of memory");
    return sql_audit(c, p->rec->id, proposes(c, r) ? "propose" : "refuse");
}

/* A refused field's message: the owner's value to the sender, or the
 * proposal to the owner. */
static int emit_refusal(ectx_t *c, const eplan_t *p, const eref_t *r)
{
    entity_t *e = c->e;
    const erule_t *rule = &e->rules[c->kind][r->field];
    const char *field = c->k->fields[r->field];
    const char *owner = rule->set && rule->owner >= 0 ? e->systems[rule->owner] : "";
    const char *event_id = c->ev->event_id ? c->ev->event_id : "";
    if (proposes(c, r)) {
        Joinery__V1__FieldProposal msg = JOINERY__V1__FIELD_PROPOSAL__INIT;
        msg.master_id = p->rec->id;
        msg.version = p->version;
        msg.local_id = (char *)local_of(p->rec, rule->owner);
        msg.field = (char *)field;
        msg.proposed_value = (char *)r->refused;
        msg.current_value = (char *)r->current;
        msg.proposed_by = (char *)c->ev->source;
        msg.proposer_local_id = (char *)(c->ev->local_id ? c->ev->local_id : "");
        msg.event_id = (char *)event_id;
        return emit(c, c->k->proposed, owner, msg.local_id, (const ProtobufCMessage *)&msg);
    }
    char reason[256];
    if (r->kind == REF_OWNER)
        (void)snprintf(reason, sizeof reason,
                       "%s of this %s is owned by %s, whose value stands; put this value right "
                       "in your record, or ask %s to change it",
                       field, c->k->name, owner, owner);
    else
        (void)snprintf(reason, sizeof reason,
                       "%s changed at version %llu, after your base_version %llu; this is the "
                       "current value",
                       field, (unsigned long long)r->current_version,
                       (unsigned long long)c->ev->base_version);
    Joinery__V1__FieldCorrection msg = JOINERY__V1__FIELD_CORRECTION__INIT;
    msg.master_id = p->rec->id;
    msg.version = p->version;
    msg.local_id = (char *)(c->ev->local_id ? c->ev->local_id : "");
    msg.field = (char *)field;
    msg.owner = (char *)owner;
    msg.refused_value = (char *)r->refused;
    msg.current_value = (char *)r->current;
    msg.reason = reason;
    msg.refused_event_id = (char *)event_id;
    return emit(c, c->k->correction, c->ev->source, msg.local_id, (const ProtobufCMessage *)&msg);
}

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

static int emit_address_changed(ectx_t *c, const eplan_t *p, char **names)
{
    entity_t *e = c->e;
    char lines_buf[EVALUE_MAX];
    char *lines[ELINES_MAX];
    Joinery__V1__Address a = JOINERY__V1__ADDRESS__INIT;
    a.uprn = p->rec->key;
    if (changes(p, AF_LINES)) {
        a.n_lines = split_lines(p->val[AF_LINES], lines_buf, sizeof lines_buf, lines);
        a.lines = lines;
    }
    a.town = changes(p, AF_TOWN) ? p->val[AF_TOWN] : "";
    a.district = changes(p, AF_DISTRICT) ? p->val[AF_DISTRICT] : "";
    a.postcode = changes(p, AF_POSTCODE) ? p->val[AF_POSTCODE] : "";
    Joinery__V1__AddressChanged msg = JOINERY__V1__ADDRESS_CHANGED__INIT;
    msg.master_id = p->rec->id;
    msg.version = p->version;
    msg.n_changed_fields = p->nch;
    msg.changed_fields = names;
    msg.address = &a;
    for (size_t i = 0; i < e->nsub_changed[ENTITY_ADDRESS]; i++) {
        int s = e->sub_changed[ENTITY_ADDRESS][i];
        if (s == c->src)
            continue;
        msg.local_id = (char *)local_of(p->rec, s);
        if (emit(c, c->k->changed, e->systems[s], msg.local_id, (const ProtobufCMessage *)&msg))
            return -1;
    }
    return 0;
}

/* Each receiver gets its own id for the case and for the person. */
static int emit_case_changed(ectx_t *c, const eplan_t *p, char **names)
{
    entity_t *e = c->e;
    efield_t person = field_after(c, p, CF_PERSON);
    char pid[MASTER_ID_MAX];
    if (person.value == NULL || master_final_id(c->persons, person.value, pid) != 0)
        (void)snprintf(pid, sizeof pid, "%s", person.value ? person.value : "");
    Joinery__V1__Case k = JOINERY__V1__CASE__INIT;
    k.person_master_id = pid;
    if (changes(p, CF_STATUS))
        k.status = status_of(p->val[CF_STATUS]);
    k.opened_on = changes(p, CF_OPENED) ? p->val[CF_OPENED] : "";
    k.closed_on = changes(p, CF_CLOSED) ? p->val[CF_CLOSED] : "";
    k.closure_reason = changes(p, CF_CLOSURE) ? p->val[CF_CLOSURE] : "";
    k.team = changes(p, CF_TEAM) ? p->val[CF_TEAM] : "";
    k.lead_worker = changes(p, CF_LEAD) ? p->val[CF_LEAD] : "";
    Joinery__V1__CaseChanged msg = JOINERY__V1__CASE_CHANGED__INIT;
    msg.master_id = p->rec->id;
    msg.version = p->version;
    msg.n_changed_fields = p->nch;
    msg.changed_fields = names;
    msg.case_ = &k;
    for (size_t i = 0; i < e->nsub_changed[ENTITY_CASE]; i++) {
        int s = e->sub_changed[ENTITY_CASE][i];
        if (s == c->src)
            continue;
        msg.local_id = (char *)local_of(p->rec, s);
        k.case_id = msg.local_id;
        k.person_local_id = (char *)master_local_id(c->persons, pid, e->systems[s]);
        if (emit(c, c->k->changed, e->systems[s], msg.local_id, (const ProtobufCMessage *)&msg))
            return -1;
    }
    return 0;
}

/* Messages go to the sink before statements: a sink that refuses a message
 * then leaves no statement of this event behind it. */
static int write_event(ectx_t *c, const eplan_t *p)
{
    for (size_t i = 0; i < p->nref; i++)
        if (emit_refusal(c, p, &p->ref[i]) != 0)
            return -1;
    if (p->nch > 0) {
        char *names[EF_MAX];
        for (size_t i = 0; i < p->nch; i++)
            names[i] = (char *)c->k->fields[p->ch[i]];
        int rc = c->kind == ENTITY_ADDRESS ? emit_address_changed(c, p, names)
                                           : emit_case_changed(c, p, names);
        if (rc != 0)
            return -1;
    }
    bool changed = p->nch > 0 || p->newrec != NULL;
    if (changed && (sql_golden(c, p) != 0 || sql_history(c, p) != 0))
        return -1;
    if (sql_xref(c, p) != 0)
        return -1;
    if ((changed || p->newx || p->move) && audit_event(c, p) != 0)
        return -1;
    for (size_t i = 0; i < p->nref; i++)
        if (audit_refusal(c, p, &p->ref[i]) != 0)
            return -1;
    return 0;
}

static int broken(ectx_t *c)
{
    c->e->broken = true;
    return say(c, "out of memory while updating the address and case indexes; the engine must "
                  "be reloaded (entity_load) before it takes more events");
}

/* Swaps the plan in; the plan gives up what it owned. */
static int commit_event(ectx_t *c, eplan_t *p)
{
    entity_t *e = c->e;
    erec_t *r = p->rec;
    if (p->newrec != NULL) {
        p->newrec = NULL;
        if (rec_add(e, r) != 0)
            return broken(c);
    }
    for (size_t i = 0; i < p->nch; i++) {
        size_t f = p->ch[i];
        free(r->f[f].value);
        r->f[f] = (efield_t){p->val[f], (uint16_t)c->src, p->version, c->occurred};
        p->val[f] = NULL;
    }
    if (p->nch > 0) {
        r->version = p->version;
        r->updated_us = c->now;
    } else if (r->version == 0) {
        r->version = p->version;
    }
    if (p->move) {
        xref_detach(p->x);
        xref_attach(r, p->x);
        p->x->linked_us = c->now;
    }
    if (p->newx != NULL) {
        exref_t *x = p->newx;
        p->newx = NULL;
        xref_attach(r, x);
        if (xref_add(e, x) != 0) {
            xref_detach(x);
            xref_free(x);
            return broken(c);
        }
    }
    return 0;
}

static int apply_kind(ectx_t *c)
{
    const master_event_t *ev = c->ev;
    if (c->kind == ENTITY_CASE && (ev->local_id == NULL || ev->local_id[0] == '\0'))
        return refused(c,
                       "%s needs source_record_id: the case's id in %s, so the hub can keep "
                       "its golden case and tell you about it in your own id",
                       ev->type, ev->source);
    incoming_t *in = c->e->in;
    eplan_t *p = c->e->plan;
    memset(in, 0, sizeof *in);
    memset(p, 0, sizeof *p);
    int rc = 0;
    if (flatten(c, in) != 0 || plan_record(c, in, p) != 0)
        rc = c->res->outcome == MASTER_REFUSED ? 0 : -1;
    else if (c->kind == ENTITY_CASE && resolve_person(c, in, p->newrec ? NULL : p->rec) != 0)
        rc = c->res->outcome == MASTER_REFUSED ? 0 : -1;
    else {
        (void)snprintf(c->res->master_id, sizeof c->res->master_id, "%s", p->rec->id);
        rc = plan_fields(c, in, p);
        if (rc == 0)
            rc = write_event(c, p);
        if (rc == 0)
            rc = commit_event(c, p);
        if (rc == 0) {
            c->res->version = p->rec->version;
            c->res->changed = (unsigned)p->nch;
            c->res->refused = (unsigned)p->nref;
        }
    }
    plan_free(p); /* what the commit did not take */
    if (c->res->outcome == MASTER_REFUSED || rc != 0)
        c->res->master_id[0] = '\0';
    return rc;
}

int entity_apply(entity_t *e, const master_t *persons, const master_event_t *ev,
                 master_sink_t *sink, master_result_t *res, char *why, size_t why_len)
{
    master_result_t local;
    if (res == NULL)
        res = &local;
    memset(res, 0, sizeof *res);
    res->outcome = MASTER_APPLIED;
    if (why != NULL && why_len > 0)
        why[0] = '\0';
    ectx_t c = {.e = e,
                .persons = persons,
                .ev = ev,
                .sink = sink,
                .res = res,
                .why = why,
                .why_len = why_len};
    if (e == NULL || ev == NULL || sink == NULL || sink->sql == NULL || sink->emit == NULL ||
        ev->type == NULL)
        return say(&c, "entity_apply: missing engine, event or sink");
    if (e->broken)
        return say(&c, "the address and case engine lost its state; it must be reloaded "
                       "(entity_load)");
    if (!entity_handles(ev->type, strlen(ev->type)))
        return refused(&c,
                       "%.64s is not an address or case event (expected address.updated, "
                       "address.created, case.updated or case.created)",
                       ev->type);
    if (ev->source == NULL || ev->source[0] == '\0')
        return refused(&c, "the event has no source system");
    c.kind = strncmp(ev->type, "address.", 8) == 0 ? ENTITY_ADDRESS : ENTITY_CASE;
    c.k = &KINDS[c.kind];
    c.src = system_id(e, ev->source, true);
    if (c.src < 0)
        return say(&c, "too many distinct source systems");
    c.now = ev->received_at_us > 0 ? ev->received_at_us : ev->occurred_at_us;
    c.occurred = ev->occurred_at_us > 0 ? ev->occurred_at_us : c.now;
    return apply_kind(&c);
}

/* Life cycle ------------------------------------------------------------------------------ */

static int init_rules(entity_t *e, int kind, char *err, size_t errlen)
{
    const config_entity_rules_t *rc = kind_config(e->cfg, kind);
    for (size_t i = 0; i < rc->nfields; i++) {
        const config_master_field_t *f = &rc->fields[i];
        int field = -1;
        for (size_t k = 0; k < KINDS[kind].nfields; k++)
            if (strcmp(KINDS[kind].fields[k], f->path) == 0)
                field = (int)k;
        if (field < 0) {
            (void)snprintf(err, errlen, "master_data.%s: unknown field '%s'", KINDS[kind].name,
                           f->path);
            return -1;
        }
        erule_t *r = &e->rules[kind][field];
        r->set = true;
        r->propose = f->propose;
        if (master_rule_systems(f, system_of, e, &r->owner, &r->fallback, &r->nfallback) != 0)
            return -1;
    }
    return 0;
}

static int subscribers(entity_t *e, const char *type, uint16_t **out, size_t *n)
{
    return master_subscribers(e->cfg, type, system_of, e, out, n);
}

entity_t *entity_new(const config_t *cfg, char *err, size_t errlen)
{
    char dummy[8];
    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    if (cfg == NULL) {
        (void)snprintf(err, errlen, "entity_new: no configuration");
        return NULL;
    }
    entity_t *e = calloc(1, sizeof *e);
    if (e == NULL)
        goto oom;
    e->cfg = cfg;
    e->by_id = hmap_new(1024);
    e->by_key = hmap_new(1024);
    e->xrefs = hmap_new(1024);
    e->systems = calloc(ESYSTEMS_MAX, sizeof *e->systems);
    e->arena = pbarena_new(PB_ENTITY_ARENA);
    e->in = calloc(1, sizeof *e->in);
    e->plan = calloc(1, sizeof *e->plan);
    if (!e->by_id || !e->by_key || !e->xrefs || !e->systems || !e->arena || !e->in || !e->plan)
        goto oom;
    for (size_t i = 0; i < cfg->nadapters; i++)
        if (system_id(e, cfg->adapters[i].name, true) < 0)
            goto oom;
    for (int k = 0; k < ENTITY_KINDS; k++) {
        if (init_rules(e, k, err, errlen) != 0) {
            if (err[0] != '\0') {
                entity_destroy(&e);
                return NULL;
            }
            goto oom;
        }
        if (subscribers(e, KINDS[k].changed, &e->sub_changed[k], &e->nsub_changed[k]) != 0 ||
            subscribers(e, KINDS[k].proposed, &e->sub_proposed[k], &e->nsub_proposed[k]) != 0)
            goto oom;
    }
    master_ulid_seed(&e->ulid);
    return e;
oom:
    (void)snprintf(err, errlen, "entity_new: out of memory");
    entity_destroy(&e);
    return NULL;
}

void entity_destroy(entity_t **ep)
{
    if (ep == NULL || *ep == NULL)
        return;
    entity_t *e = *ep;
    if (e->by_id && e->by_key && e->xrefs)
        state_clear(e);
    hmap_destroy(&e->by_id);
    hmap_destroy(&e->by_key);
    hmap_destroy(&e->xrefs);
    free(e->recs);
    for (size_t i = 0; e->systems && i < e->nsystems; i++)
        free(e->systems[i]);
    free(e->systems);
    for (int k = 0; k < ENTITY_KINDS; k++) {
        for (int f = 0; f < EF_MAX; f++)
            free(e->rules[k][f].fallback);
        free(e->sub_changed[k]);
        free(e->sub_proposed[k]);
    }
    pbarena_destroy(&e->arena);
    free(e->in);
    free(e->plan);
    master_buf_free(&e->json);
    master_buf_free(&e->hist);
    master_buf_free(&e->out);
    free(e);
    *ep = NULL;
}

size_t entity_count(const entity_t *e, entity_kind_t kind)
{
    return e && (unsigned)kind < ENTITY_KINDS ? e->count[kind] : 0;
}

const char *entity_lookup(const entity_t *e, entity_kind_t kind, const char *system,
                          const char *local_id, char master_id[MASTER_ID_MAX])
{
    if (e == NULL || (unsigned)kind >= ENTITY_KINDS || system == NULL || local_id == NULL)
        return NULL;
    for (size_t i = 0; i < e->nsystems; i++) {
        if (strcmp(e->systems[i], system) != 0)
            continue;
        const exref_t *x = xref_find(e, (int)kind, (int)i, local_id);
        if (x == NULL)
            return NULL;
        if (master_id != NULL)
            (void)snprintf(master_id, MASTER_ID_MAX, "%s", x->rec->id);
        return "MATCH";
    }
    return NULL;
}

const char *entity_value(const entity_t *e, const char *master_id, const char *field,
                         const char **source)
{
    const erec_t *r = e && master_id && field ? rec_by_id(e, master_id) : NULL;
    if (r == NULL)
        return NULL;
    if (r->kind == ENTITY_ADDRESS && strcmp(field, "uprn") == 0) {
        if (source != NULL)
            *source = "";
        return r->key;
    }
    for (size_t f = 0; f < KINDS[r->kind].nfields; f++)
        if (strcmp(KINDS[r->kind].fields[f], field) == 0 && r->f[f].value != NULL) {
            if (source != NULL)
                *source = e->systems[r->f[f].source];
            return r->f[f].value;
        }
    return NULL;
}

/* Loading --------------------------------------------------------------------------------- */

typedef struct {
    entity_t *e;
    int kind;
    char *err;
    size_t errlen;
} loader_t;

/* golden_*.fields -> the record's fields. */
static int fields_from_json(loader_t *l, erec_t *r, const char *text)
{
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        return master_fail(l->err, l->errlen, "fields of %s are not a JSON object: %s", r->id,
                           jerr.text);
    }
    int rc = 0;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        int field = -1;
        for (size_t f = 0; f < KINDS[r->kind].nfields; f++)
            if (strcmp(KINDS[r->kind].fields[f], key) == 0)
                field = (int)f;
        const char *v = json_string_value(json_object_get(val, "v"));
        const char *s = json_string_value(json_object_get(val, "s"));
        json_t *nv = json_object_get(val, "n"), *tv = json_object_get(val, "t");
        int sys = s ? system_id(l->e, s, true) : -1;
        if (field < 0 || v == NULL || sys < 0 || !json_is_integer(nv) || !json_is_integer(tv)) {
            rc = master_fail(l->err, l->errlen,
                             "field '%s' of %s is not a known field as {v, s, n, t}", key, r->id);
            break;
        }
        if ((r->f[field].value = strdup(v)) == NULL) {
            rc = master_fail(l->err, l->errlen, "out of memory");
            break;
        }
        r->f[field].source = (uint16_t)sys;
        r->f[field].version = (uint64_t)json_integer_value(nv);
        r->f[field].at_us = (int64_t)json_integer_value(tv);
    }
    json_decref(root);
    return rc;
}

/* master_id, key (uprn | person_master_id), version, fields, created_at, updated_at */
static int golden_row(void *ctx, const PGresult *res)
{
    loader_t *l = ctx;
    erec_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return master_fail(l->err, l->errlen, "out of memory");
    r->kind = (uint8_t)l->kind;
    const char *id = PQgetvalue(res, 0, 0);
    int64_t version = 0;
    int rc = 0;
    if (strlen(id) >= MASTER_ID_MAX || master_parse_i64(PQgetvalue(res, 0, 2), &version) != 0 ||
        version <= 0 || master_parse_i64(PQgetvalue(res, 0, 4), &r->created_us) != 0 ||
        master_parse_i64(PQgetvalue(res, 0, 5), &r->updated_us) != 0)
        rc = master_fail(l->err, l->errlen, "golden %s row '%.64s' is malformed",
                         KINDS[l->kind].name, id);
    if (rc == 0) {
        (void)snprintf(r->id, sizeof r->id, "%s", id);
        r->version = (uint64_t)version;
        if (l->kind == ENTITY_ADDRESS && (r->key = strdup(PQgetvalue(res, 0, 1))) == NULL)
            rc = master_fail(l->err, l->errlen, "out of memory");
    }
    if (rc == 0)
        rc = fields_from_json(l, r, PQgetvalue(res, 0, 3));
    if (rc != 0) {
        rec_free(r);
        return rc;
    }
    return rec_add(l->e, r) != 0 ? master_fail(l->err, l->errlen, "out of memory")
                                 : 0; /* rec_add owns R */
}

/* system, local_id, master_id, linked_at */
static int xref_row(void *ctx, const PGresult *res)
{
    loader_t *l = ctx;
    const char *local = PQgetvalue(res, 0, 1), *id = PQgetvalue(res, 0, 2);
    erec_t *r = rec_by_id(l->e, id);
    int sys = system_id(l->e, PQgetvalue(res, 0, 0), true);
    int64_t at = 0;
    if (r == NULL || r->kind != l->kind || sys < 0 ||
        master_parse_i64(PQgetvalue(res, 0, 3), &at) != 0)
        return master_fail(l->err, l->errlen, "%s_xref row (%s, %.64s) names no golden %s %.40s",
                           KINDS[l->kind].name, PQgetvalue(res, 0, 0), local, KINDS[l->kind].name,
                           id);
    exref_t *x = calloc(1, sizeof *x);
    if (x == NULL || (x->local_id = strdup(local)) == NULL) {
        xref_free(x);
        return master_fail(l->err, l->errlen, "out of memory");
    }
    x->system = (uint16_t)sys;
    x->kind = (uint8_t)l->kind;
    x->linked_us = at;
    xref_attach(r, x);
    if (xref_add(l->e, x) != 0) {
        xref_detach(x);
        xref_free(x);
        return master_fail(l->err, l->errlen, "out of memory");
    }
    return 0;
}

int entity_load(entity_t *e, PGconn *conn, char *err, size_t errlen)
{
    if (e == NULL || conn == NULL)
        return master_fail(err, errlen, "entity_load: no engine or connection");
    loader_t l = {.e = e, .err = err, .errlen = errlen};
    state_clear(e);
    e->broken = true;
    /* One snapshot, so records and links agree. */
    int rc = master_exec_ok(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err, errlen);
    for (int k = 0; rc == 0 && k < ENTITY_KINDS; k++) {
        l.kind = k;
        rc = master_each_row(conn, KINDS[k].load_golden, golden_row, &l, err, errlen);
        if (rc == 0)
            rc = master_each_row(conn, KINDS[k].load_xref, xref_row, &l, err, errlen);
    }
    rc = master_load_end(conn, rc, err, errlen);
    if (rc != 0) {
        state_clear(e); /* a half-loaded engine must not decide anything */
        return -1;
    }
    e->broken = false;
    return 0;
}

/* Dump -------------------------------------------------------------------------------------- */

static int by_string(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One line per record, field and link. */
static int dump_lines(const entity_t *e, char ***lines, size_t *n)
{
    size_t cap = 0;
    for (size_t i = 0; i < e->nrecs; i++) {
        cap += 1 + EF_MAX;
        for (const exref_t *x = e->recs[i]->xrefs; x; x = x->mnext)
            cap++;
    }
    *lines = calloc(cap ? cap : 1, sizeof **lines);
    if (*lines == NULL)
        return -1;
    char buf[EVALUE_MAX + 256];
    for (size_t i = 0; i < e->nrecs; i++) {
        const erec_t *r = e->recs[i];
        const char *kn = KINDS[r->kind].name;
        (void)snprintf(buf, sizeof buf, "%s %s version=%llu key=%s", kn, r->id,
                       (unsigned long long)r->version, r->key ? r->key : "");
        if (((*lines)[(*n)++] = strdup(buf)) == NULL)
            return -1;
        for (size_t f = 0; f < KINDS[r->kind].nfields; f++) {
            if (r->f[f].value == NULL)
                continue;
            (void)snprintf(buf, sizeof buf, "%s %s field %s=%s source=%s n=%llu t=%lld", kn, r->id,
                           KINDS[r->kind].fields[f], r->f[f].value, e->systems[r->f[f].source],
                           (unsigned long long)r->f[f].version, (long long)r->f[f].at_us);
            if (((*lines)[(*n)++] = strdup(buf)) == NULL)
                return -1;
        }
        for (const exref_t *x = r->xrefs; x; x = x->mnext) {
            (void)snprintf(buf, sizeof buf, "%s_xref %s %s -> %s at=%lld", kn,
                           e->systems[x->system], x->local_id, r->id, (long long)x->linked_us);
            if (((*lines)[(*n)++] = strdup(buf)) == NULL)
                return -1;
        }
    }
    return 0;
}

int entity_dump(const entity_t *e, char **out, size_t *len)
{
    if (e == NULL || out == NULL)
        return -1;
    char **lines = NULL;
    size_t n = 0;
    int rc = dump_lines(e, &lines, &n);
    mbuf_t b = {0};
    if (rc == 0) {
        qsort(lines, n, sizeof *lines, by_string);
        rc = master_buf_str(&b, "");
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = master_buf_str(&b, lines[i]) | master_buf_str(&b, "\n");
    }
    for (size_t i = 0; lines && i < n; i++)
        free(lines[i]);
    free(lines);
    if (rc != 0) {
        master_buf_free(&b);
        return -1;
    }
    *out = b.p;
    if (len != NULL)
        *len = b.len;
    return 0;
}
