/* sc_discharge.c - discharges of persons with an open case as tasks (contract in
 * sc_discharge.h). The handler only decides and publishes (and writes the task's body for the
 * case system); the task's CONFIRM is recorded by the SDK's callback, the case system's answer by
 * the HTTP client's, and sc_discharge_flush acts on both from the loop. */
#include "sc_discharge.h"
#include "sc_outmap.h"
#include "common/adapter_arena.h"
#include "common/adapter_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "joinery/v1/case.pb-c.h"
#include "joinery/v1/health.pb-c.h"

#define ID_MAX 64
#define DECODE_BYTES (64u << 10) /* what one payload may take decoded */
#define PAYLOAD_MAX (32u << 10)  /* a payload longer than this is no Discharge or CaseChanged */
#define FILE_NAME "socialcare-cases"
#define TASK_BODY 2048 /* the JSON of one task for the case system */

enum { EMPTY, USED, GONE };

typedef struct {
    unsigned char state;
    char key[ID_MAX + 1];
    char val[ID_MAX + 1];
} entry_t;

typedef struct {
    entry_t *e; /* cap entries; owned */
    size_t cap, used, live;
} table_t;

/* One discharge held unsettled: its task published (DONE once the hub answered, OK when it
 * took it) and, with an outbound section, POSTed to the case system (POSTED; ANSWERED once the
 * case system answered, VERDICT what that means for the discharge). */
typedef struct {
    int used, done, ok, closing, posted, answered;
    joinery_verdict_t verdict;
    uint64_t seq;
    char event_id[JOINERY_EVENT_ID_MAX + 1];
    char reason[400];
    char body[TASK_BODY];
    size_t body_len;
} deferred_t;

struct sc_discharge {
    sc_discharge_opts_t o;
    joinery_client_t *client; /* borrowed */
    table_t persons;          /* the case system's person id -> golden person id */
    table_t cases;            /* golden person id -> the open case's id */
    table_t locals;           /* golden person id -> the case system's person id */
    sc_outbound_t *out;       /* borrowed; NULL: no outbound section */
    deferred_t *waits;        /* o.credit; owned */
    int fd;                   /* the file, appended to */
    char path[4096];
    adapter_arena_t *arena; /* payloads unpacked, reset per event; owned */
};

/* ---- the tables: open addressing, fixed size ----------------------------------------------- */

static uint64_t hash(const char *s)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static int table_init(table_t *t, size_t items)
{
    t->cap = 16;
    while (t->cap < items * 2)
        t->cap *= 2;
    t->e = calloc(t->cap, sizeof *t->e);
    return t->e ? 0 : -1;
}

/* The entry of KEY, or (ADD) the slot it goes in; NULL when absent (or full). */
static entry_t *table_find(table_t *t, const char *key, int add)
{
    entry_t *gone = NULL;
    for (size_t i = hash(key) & (t->cap - 1), n = 0; n < t->cap; i = (i + 1) & (t->cap - 1), n++) {
        entry_t *e = &t->e[i];
        if (e->state == EMPTY)
            return add ? (gone ? gone : e) : NULL;
        if (e->state == GONE && gone == NULL)
            gone = e;
        else if (e->state == USED && strcmp(e->key, key) == 0)
            return e;
    }
    return add ? gone : NULL;
}

static const char *table_get(table_t *t, const char *key)
{
    entry_t *e = table_find(t, key, 0);
    return e ? e->val : NULL;
}

/* 1 when KEY now maps to VAL and did not before, 0 when it did, -1 when full. Half the slots at
 * most are ever used, so a probe always ends. */
static int table_put(table_t *t, const char *key, const char *val)
{
    entry_t *e = table_find(t, key, 1);
    if (e == NULL)
        return -1;
    if (e->state == USED) {
        if (strcmp(e->val, val) == 0)
            return 0;
    } else {
        if (t->live * 2 >= t->cap)
            return -1;
        if (e->state == EMPTY)
            t->used++;
        e->state = USED;
        t->live++;
        (void)snprintf(e->key, sizeof e->key, "%s", key);
    }
    (void)snprintf(e->val, sizeof e->val, "%s", val);
    return 1;
}

/* 1 when KEY mapped to VAL (NULL: anything) and no longer does. */
static int table_del(table_t *t, const char *key, const char *val)
{
    entry_t *e = table_find(t, key, 0);
    if (e == NULL || (val != NULL && strcmp(e->val, val) != 0))
        return 0;
    e->state = GONE;
    t->live--;
    return 1;
}

/* ---- the file ------------------------------------------------------------------------------ */

/* An id the file and an event can hold: 1 to ID_MAX printable characters without blanks. */
static int id_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return 0;
    return n >= 1 && n <= ID_MAX;
}

static int apply(sc_discharge_t *d, char op, const char *a, const char *b)
{
    if (op == 'P') {
        /* The reverse is only a hint for the task's person_id: a full table loses no person. */
        (void)table_put(&d->locals, b, a);
        return table_put(&d->persons, a, b);
    }
    if (op == 'O')
        return table_put(&d->cases, a, b);
    if (op == 'X')
        return table_del(&d->cases, a, b);
    return -1;
}

/* Appends one change, durably: a restart must not forget an open case. */
static void record(sc_discharge_t *d, char op, const char *a, const char *b)
{
    char line[2 * ID_MAX + 8];
    int n = snprintf(line, sizeof line, "%c %s %s\n", op, a, b);
    if (n < 0 || (size_t)n >= sizeof line || write(d->fd, line, (size_t)n) != n ||
        fdatasync(d->fd) != 0)
        adapter_log(ADAPTER_LOG_ERROR, "cannot write %s: %s; a restart may forget this change",
                    d->path, strerror(errno));
}

static int load(sc_discharge_t *d, char *err, size_t errlen)
{
    FILE *f = fopen(d->path, "re");
    if (f == NULL)
        return errno == ENOENT
                   ? 0
                   : (snprintf(err, errlen, "cannot read %s: %s", d->path, strerror(errno)), -1);
    char line[512], a[ID_MAX + 1], b[ID_MAX + 1], op;
    unsigned long no = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
        no++;
        if (sscanf(line, "%c %64s %64s", &op, a, b) != 3 || apply(d, op, a, b) < 0) {
            (void)snprintf(err, errlen,
                           "%s:%lu: not a line this adapter wrote, or more persons "
                           "than discharge.max_people",
                           d->path, no);
            rc = -1;
        }
    }
    fclose(f);
    return rc;
}

/* Writes what the tables hold to a new file and puts it in place of the old one. */
static int compact(sc_discharge_t *d, char *err, size_t errlen)
{
    char tmp[sizeof d->path + 8];
    (void)snprintf(tmp, sizeof tmp, "%s.tmp", d->path);
    FILE *f = fopen(tmp, "we");
    int ok = f != NULL;
    for (size_t i = 0; ok && i < d->persons.cap; i++)
        if (d->persons.e[i].state == USED)
            ok = fprintf(f, "P %s %s\n", d->persons.e[i].key, d->persons.e[i].val) > 0;
    for (size_t i = 0; ok && i < d->cases.cap; i++)
        if (d->cases.e[i].state == USED)
            ok = fprintf(f, "O %s %s\n", d->cases.e[i].key, d->cases.e[i].val) > 0;
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (f != NULL && fclose(f) != 0)
        ok = 0;
    if (!ok || rename(tmp, d->path) != 0) {
        (void)snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        return -1;
    }
    d->fd = open(d->path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (d->fd < 0) {
        (void)snprintf(err, errlen, "cannot open %s: %s", d->path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- what the hub confirmed ---------------------------------------------------------------- */

void sc_discharge_person(sc_discharge_t *d, const char *local_id, const char *master_id)
{
    if (d == NULL || !id_ok(local_id) || !id_ok(master_id))
        return;
    int rc = table_put(&d->persons, local_id, master_id);
    if (rc >= 0)
        (void)table_put(&d->locals, master_id, local_id);
    if (rc == 1)
        record(d, 'P', local_id, master_id);
    else if (rc < 0)
        adapter_log(ADAPTER_LOG_ERROR,
                    "more persons than discharge.max_people (%zu): person %s is not kept, so "
                    "a discharge will not find their case",
                    d->o.max_people, local_id);
}

static void note_case(sc_discharge_t *d, const char *master, const char *case_id, int open)
{
    if (!id_ok(master) || !id_ok(case_id))
        return;
    if (!open) {
        if (table_del(&d->cases, master, case_id))
            record(d, 'X', master, case_id);
        return;
    }
    int rc = table_put(&d->cases, master, case_id);
    if (rc == 1)
        record(d, 'O', master, case_id);
    else if (rc < 0)
        adapter_log(ADAPTER_LOG_ERROR,
                    "more open cases than discharge.max_people: case %s is "
                    "not kept",
                    case_id);
}

void sc_discharge_case(sc_discharge_t *d, const char *person_local_id, const char *case_id,
                       int open)
{
    const char *master =
        d && id_ok(person_local_id) ? table_get(&d->persons, person_local_id) : NULL;
    if (master != NULL)
        note_case(d, master, case_id, open);
}

/* ---- decoding without an allocation per event ---------------------------------------------- */

static ProtobufCMessage *decode(sc_discharge_t *d, const ProtobufCMessageDescriptor *desc,
                                const joinery_event_t *ev)
{
    if (ev->payload_len > PAYLOAD_MAX)
        return NULL;
    return adapter_arena_unpack(d->arena, desc, ev->payload, ev->payload_len);
}

/* ---- the subscription ---------------------------------------------------------------------- */

static deferred_t *deferred_of(sc_discharge_t *d, uint64_t seq)
{
    for (unsigned i = 0; i < d->o.credit; i++)
        if (d->waits[i].used && d->waits[i].seq == seq)
            return &d->waits[i];
    return NULL;
}

static void on_published(void *ud, const joinery_confirm_t *cf)
{
    sc_discharge_t *d = ud;
    for (unsigned i = 0; i < d->o.credit; i++) {
        deferred_t *w = &d->waits[i];
        if (w->used && !w->done && strcmp(w->event_id, cf->event_id) == 0) {
            w->done = 1;
            w->ok = cf->status == JOINERY_OK || cf->status == JOINERY_DUPLICATE;
            w->closing = cf->status == JOINERY_UNCONFIRMED;
            (void)snprintf(w->reason, sizeof w->reason, "%s", cf->reason ? cf->reason : "");
        }
    }
}

static joinery_verdict_t on_case_changed(sc_discharge_t *d, const joinery_event_t *ev, char *reason,
                                         size_t reason_len)
{
    Joinery__V1__CaseChanged *cc =
        (Joinery__V1__CaseChanged *)decode(d, &joinery__v1__case_changed__descriptor, ev);
    if (cc == NULL) {
        (void)snprintf(reason, reason_len, "case.changed payload is not a joinery.v1.CaseChanged");
        return JOINERY_REJECT;
    }
    const Joinery__V1__Case *k = cc->case_;
    if (k == NULL || k->status == JOINERY__V1__CASE_STATUS__CASE_STATUS_UNSPECIFIED)
        return JOINERY_ACK; /* its status did not change */
    /* A case this system holds is known by its own id; another's by the golden case id. */
    const char *case_id = cc->local_id && cc->local_id[0] ? cc->local_id : cc->master_id;
    int open = k->status == JOINERY__V1__CASE_STATUS__CASE_OPEN ||
               k->status == JOINERY__V1__CASE_STATUS__CASE_ON_HOLD;
    note_case(d, k->person_master_id, case_id, open);
    return JOINERY_ACK;
}

/* The golden person a discharge is about: the envelope's, else the encounter's. */
static const char *discharge_person(sc_discharge_t *d, const joinery_event_t *ev)
{
    if (ev->master_id != NULL && ev->master_id[0] != '\0')
        return ev->master_id;
    Joinery__V1__Discharge *dc =
        (Joinery__V1__Discharge *)decode(d, &joinery__v1__discharge__descriptor, ev);
    if (dc == NULL || dc->encounter == NULL)
        return NULL;
    return dc->encounter->person_master_id;
}

/* The day the event happened, YYYY-MM-DD (UTC): the discharge's date when its encounter has no
 * end. */
static void event_day(const joinery_event_t *ev, char out[11])
{
    time_t t = (time_t)(ev->occurred_at_us / 1000000);
    struct tm tm;
    if (ev->occurred_at_us <= 0 || gmtime_r(&t, &tm) == NULL ||
        strftime(out, 11, "%Y-%m-%d", &tm) != 10)
        out[0] = '\0';
}

/* W's body for the case system's POST /tasks; -1 when it does not fit. */
static int task_body(sc_discharge_t *d, deferred_t *w, const joinery_event_t *ev,
                     const char *master, const char *case_id)
{
    char day[11];
    event_day(ev, day);
    Joinery__V1__Discharge *dc =
        (Joinery__V1__Discharge *)decode(d, &joinery__v1__discharge__descriptor, ev);
    sc_outmap_task_t t = {.task_id = w->event_id,
                          .case_id = case_id,
                          .person_id = table_get(&d->locals, master),
                          .master_id = master,
                          .discharge = dc,
                          .discharged_on = day};
    return sc_outmap_task(&t, w->body, sizeof w->body, &w->body_len);
}

static joinery_verdict_t on_discharge(sc_discharge_t *d, const joinery_event_t *ev, uint64_t seq,
                                      char *reason, size_t reason_len)
{
    if (deferred_of(d, seq) != NULL)
        return JOINERY_DEFER; /* redelivered after a lost session: its task is on its way */
    /* A copy: the person may point into the decode arena, which the task's body reuses. */
    char master[ID_MAX + 1];
    const char *who = discharge_person(d, ev);
    const char *case_id = id_ok(who) ? table_get(&d->cases, who) : NULL;
    if (case_id == NULL)
        return JOINERY_ACK; /* no open case: nothing for social care */
    (void)snprintf(master, sizeof master, "%s", who);
    deferred_t *w = NULL;
    for (unsigned i = 0; w == NULL && i < d->o.credit; i++)
        if (!d->waits[i].used)
            w = &d->waits[i];
    if (w == NULL) {
        (void)snprintf(reason, reason_len, "too many discharges wait for their task's CONFIRM");
        return JOINERY_RETRY;
    }
    /* The journal's seq names the discharge once and for all, so a redelivery after a restart
     * publishes the same task id and the hub answers DUPLICATE. */
    (void)snprintf(w->event_id, sizeof w->event_id, "sc-dn-%llu", (unsigned long long)seq);
    joinery_attr_t attrs[] = {{"case_id", case_id},
                              {"person_master_id", master},
                              {"discharge_event_id", ev->event_id ? ev->event_id : ""}};
    joinery_event_t task = {.event_id = w->event_id,
                            .type = "case.discharge_notified",
                            .source_record_id = case_id,
                            .causation_id = ev->event_id,
                            .correlation_id = ev->correlation_id,
                            .payload_type = "joinery.v1.Discharge",
                            .payload = ev->payload,
                            .payload_len = ev->payload_len,
                            .attrs = attrs,
                            .nattrs = sizeof attrs / sizeof attrs[0]};
    if (d->out != NULL && task_body(d, w, ev, master, case_id) != 0) {
        (void)snprintf(reason, reason_len, "the task for the case system is over %d bytes",
                       TASK_BODY);
        memset(w, 0, sizeof *w);
        return JOINERY_REJECT;
    }
    w->used = 1;
    w->seq = seq;
    if (joinery_publish_async(d->client, &task, on_published, d, NULL) != 0) {
        (void)snprintf(reason, reason_len, "cannot publish the task: %s",
                       joinery_last_error(d->client));
        memset(w, 0, sizeof *w);
        return JOINERY_RETRY;
    }
    return JOINERY_DEFER;
}

static joinery_verdict_t on_event(void *ud, const joinery_event_t *ev, uint64_t seq,
                                  unsigned attempt, char *reason, size_t reason_len)
{
    (void)attempt;
    sc_discharge_t *d = ud;
    if (strcmp(ev->type, "health.discharge") == 0)
        return on_discharge(d, ev, seq, reason, reason_len);
    if (strcmp(ev->type, "case.changed") == 0)
        return on_case_changed(d, ev, reason, reason_len);
    return JOINERY_ACK;
}

/* The case system's answer to a task's POST: recorded, acted on by sc_discharge_flush. */
static void on_task_answer(void *ud, const adapter_httpc_result_t *r)
{
    deferred_t *w = ud;
    w->answered = 1;
    w->verdict = sc_outbound_verdict(r, w->reason, sizeof w->reason);
    w->closing = w->verdict == JOINERY_DEFER; /* stopped: the hub delivers it again */
}

/* The hub took W's task: with an outbound section, POST it; the discharge is settled once the
 * case system answered. 0 while it waits. */
static int post_task(sc_discharge_t *d, deferred_t *w)
{
    char why[200];
    if (w->posted)
        return 0;
    if (sc_outbound_post(d->out, "/tasks", w->body, w->body_len, on_task_answer, w, why,
                         sizeof why) != 0) {
        w->answered = 1;
        w->verdict = JOINERY_RETRY;
        (void)snprintf(w->reason, sizeof w->reason, "cannot POST the task: %s", why);
        return 1;
    }
    w->posted = 1;
    return 0;
}

/* What settles W: the hub's refusal of its task, else the case system's answer, else (no
 * outbound section) the CONFIRM alone. */
static joinery_verdict_t verdict(const sc_discharge_t *d, const deferred_t *w)
{
    if (!w->ok)
        return JOINERY_REJECT;
    return d->out != NULL ? w->verdict : JOINERY_ACK;
}

void sc_discharge_flush(sc_discharge_t *d)
{
    for (unsigned i = 0; d != NULL && i < d->o.credit; i++) {
        deferred_t *w = &d->waits[i];
        if (!w->used || !w->done)
            continue;
        if (w->ok && !w->closing && d->out != NULL && !w->answered && post_task(d, w) == 0)
            continue;
        joinery_verdict_t v = verdict(d, w);
        /* A closing client: the hub delivers the discharge again to the next session. */
        if (!w->closing &&
            joinery_settle(d->client, SC_DISCHARGE_SUBSCRIPTION, w->seq, v, w->reason) != 0)
            adapter_log(ADAPTER_LOG_WARN, "discharge %llu: %s", (unsigned long long)w->seq,
                        joinery_last_error(d->client));
        if (!w->ok && !w->closing)
            adapter_log(ADAPTER_LOG_WARN, "discharge %llu: the hub refused its task: %s",
                        (unsigned long long)w->seq, w->reason);
        else if (v != JOINERY_ACK && !w->closing)
            adapter_log(ADAPTER_LOG_WARN, "discharge %llu: task %s: %s", (unsigned long long)w->seq,
                        w->event_id, w->reason);
        memset(w, 0, sizeof *w);
    }
}

int sc_discharge_subscribe(sc_discharge_t *d, char *err, size_t errlen)
{
    static const char *const patterns[] = {"health.discharge", "case.changed"};
    if (joinery_subscribe(d->client, SC_DISCHARGE_SUBSCRIPTION, patterns, 2, d->o.credit, on_event,
                          d) != 0) {
        (void)snprintf(err, errlen, "cannot subscribe to health.discharge and case.changed: %s",
                       joinery_last_error(d->client));
        return -1;
    }
    return 0;
}

/* ---- set-up -------------------------------------------------------------------------------- */

int sc_discharge_settings(const adapter_config_t *cfg, sc_discharge_opts_t *o, char *err,
                          size_t errlen)
{
    static const char *const keys[] = {"data_dir", "max_people", "credit", NULL};
    unsigned long people, credit;
    memset(o, 0, sizeof *o);
    if (adapter_config_keys(cfg, "discharge", keys, err, errlen) != 0 ||
        adapter_config_string(cfg, "discharge.data_dir", NULL, &o->data_dir, err, errlen) != 0 ||
        adapter_config_uint(cfg, "discharge.max_people", 16, 10000000, 100000, &people, err,
                            errlen) != 0 ||
        adapter_config_uint(cfg, "discharge.credit", 1, 1024, 32, &credit, err, errlen) != 0)
        return -1;
    o->max_people = people;
    o->credit = (unsigned)credit;
    return 0;
}

sc_discharge_t *sc_discharge_new(const sc_discharge_opts_t *o, joinery_client_t *c,
                                 sc_outbound_t *out, char *err, size_t errlen)
{
    sc_discharge_t *d = calloc(1, sizeof *d);
    if (d == NULL) {
        (void)snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->o = *o;
    d->client = c;
    d->out = out;
    d->fd = -1;
    d->waits = calloc(o->credit, sizeof *d->waits);
    d->arena = adapter_arena_new(DECODE_BYTES);
    if (d->waits == NULL || d->arena == NULL || table_init(&d->persons, o->max_people) != 0 ||
        table_init(&d->cases, o->max_people) != 0 || table_init(&d->locals, o->max_people) != 0) {
        (void)snprintf(err, errlen, "out of memory");
        sc_discharge_destroy(&d);
        return NULL;
    }
    int n = snprintf(d->path, sizeof d->path, "%s/%s", o->data_dir, FILE_NAME);
    if (n < 0 || (size_t)n >= sizeof d->path) {
        (void)snprintf(err, errlen, "'discharge.data_dir' is too long");
        sc_discharge_destroy(&d);
        return NULL;
    }
    if (load(d, err, errlen) != 0 || compact(d, err, errlen) != 0) {
        sc_discharge_destroy(&d);
        return NULL;
    }
    return d;
}

void sc_discharge_destroy(sc_discharge_t **dp)
{
    sc_discharge_t *d = *dp;
    if (d == NULL)
        return;
    if (d->fd >= 0)
        close(d->fd);
    free(d->persons.e);
    free(d->cases.e);
    free(d->locals.e);
    free(d->waits);
    adapter_arena_destroy(&d->arena);
    free(d);
    *dp = NULL;
}

size_t sc_discharge_open_cases(const sc_discharge_t *d)
{
    return d ? d->cases.live : 0;
}

size_t sc_discharge_waiting(const sc_discharge_t *d)
{
    size_t n = 0;
    for (unsigned i = 0; d != NULL && i < d->o.credit; i++)
        n += d->waits[i].used != 0;
    return n;
}
