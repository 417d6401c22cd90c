/* admin_trace.c - see admin_trace.h.
 *
 * The journal has no column for correlation or causation ids: they live in
 * the stored envelope. Rather than a migration on the hot table, the search
 * looks for the field's exact protobuf encoding (tag, length, bytes) in the
 * envelope, which is a scan, bounded by the connection's statement_timeout;
 * each hit is decoded and checked here, so a payload that happens to hold
 * the same bytes is not taken for a match. */
#include "admin/admin_trace.h"

#include "admin/admin_decode.h"
#include "base/route.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DERIVED_MAX 100
#define ROWS_MAX 200

/* Envelope field numbers (schemas/joinery/v1/envelope.proto). */
#define FIELD_MASTER_ID 5
#define FIELD_CORRELATION_ID 8
#define FIELD_CAUSATION_ID 9

typedef struct {
    PGconn *c;
    char *err;
    size_t errlen;
    bool failed;
} tx_t;

/* A query's rows, or NULL (and T failed, ERR set). Text parameters only,
 * but for those marked in BINARY (bytea). */
static PGresult *run(tx_t *t, const char *sql, int n, const char *const *vals, const int *lens,
                     const int *binary)
{
    if (t->failed)
        return NULL;
    PGresult *r = PQexecParams(t->c, sql, n, NULL, vals, lens, binary, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK) {
        snprintf(t->err, t->errlen, "%s", PQerrorMessage(t->c));
        PQclear(r);
        t->failed = true;
        return NULL;
    }
    return r;
}

static json_int_t num(const PGresult *r, int row, int col)
{
    return (json_int_t)strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static json_t *text_or_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? json_null() : json_string(PQgetvalue(r, row, col));
}

/* A column holding JSON text, parsed; as a string if it does not parse. */
static json_t *json_col(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return json_null();
    json_t *j = json_loads(PQgetvalue(r, row, col), JSON_DECODE_ANY, NULL);
    return j ? j : json_string(PQgetvalue(r, row, col));
}

/* The protobuf encoding of string field FIELD holding V: what the envelope
 * holds if that field is V. OUT has room for TRACE_ID_MAX + 3. */
static int field_bytes(int field, const char *v, char *out)
{
    size_t len = strlen(v), n = 0;
    out[n++] = (char)(field << 3 | 2);
    if (len < 128) {
        out[n++] = (char)len;
    } else {
        out[n++] = (char)(0x80 | (len & 0x7f));
        out[n++] = (char)(len >> 7);
    }
    memcpy(out + n, v, len);
    return (int)(n + len);
}

/* ---- events ---- */

#define EVENT_COLUMNS "seq, source, event_id, type, entity_key, target, received_at, envelope"

static json_t *event_json(const PGresult *r, int i)
{
    json_t *e = json_pack("{sI ss ss ss ss ss sI}", "seq", num(r, i, 0), "source",
                          PQgetvalue(r, i, 1), "event_id", PQgetvalue(r, i, 2), "type",
                          PQgetvalue(r, i, 3), "entity_key", PQgetvalue(r, i, 4), "target",
                          PQgetvalue(r, i, 5), "received_at_us", num(r, i, 6));
    size_t len = 0;
    unsigned char *env = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 7), &len);
    if (e && env)
        json_object_set_new(e, "envelope", admin_decode_envelope(env, len));
    PQfreemem(env);
    return e;
}

/* Whether envelope field NAME of event E is V (the byte search's hits checked). */
static bool envelope_says(json_t *e, const char *name, const char *v)
{
    const char *got = json_string_value(json_object_get(json_object_get(e, "envelope"), name));
    return got && strcmp(got, v) == 0;
}

/* Whether event E is ordered by golden record ID ("m:<id>", ingest.c). */
static bool entity_is(json_t *e, const char *id)
{
    const char *k = json_string_value(json_object_get(e, "entity_key"));
    return k && strncmp(k, "m:", 2) == 0 && strcmp(k + 2, id) == 0;
}

static PGresult *find_events(tx_t *t, const admin_trace_query_t *q)
{
    char limit[16], pat[TRACE_ID_MAX + 3];
    snprintf(limit, sizeof limit, "%d", q->limit);
    if (q->key == TRACE_EVENT_ID) {
        const char *v[3] = {q->value, q->source, limit};
        return run(t,
                   "SELECT " EVENT_COLUMNS " FROM journal WHERE event_id = $1 AND ($2 = '' OR "
                   "source = $2) ORDER BY seq LIMIT $3::int",
                   3, v, NULL, NULL);
    }
    int field = q->key == TRACE_CORRELATION_ID ? FIELD_CORRELATION_ID : FIELD_MASTER_ID;
    int plen = field_bytes(field, q->value, pat);
    const char *v[3] = {pat, limit, q->value};
    const int lens[3] = {plen, 0, 0}, bin[3] = {1, 0, 0};
    /* The newest first: a busy record's first events matter less than its last. */
    return run(t,
               "SELECT " EVENT_COLUMNS " FROM journal WHERE position($1::bytea in envelope) > 0 "
               "OR entity_key = 'm:' || $3 ORDER BY seq DESC LIMIT $2::int",
               3, v, lens, bin);
}

/* ---- deliveries ---- */

typedef struct {
    PGresult *subs; /* adapter, name, patterns (text[] as text), acked_seq */
} subs_t;

static bool adapter_receives(const config_t *cfg, const char *adapter, const char *target)
{
    if (!*target || strcmp(target, adapter) == 0)
        return true;
    if (strcmp(target, "@operators") != 0)
        return false;
    for (size_t i = 0; i < cfg->nadapters; i++)
        if (strcmp(cfg->adapters[i].name, adapter) == 0)
            return cfg->adapters[i].is_operator;
    return false;
}

/* Whether PATTERNS, PostgreSQL's text form of a text[] ("{a,b}"), matches TYPE. */
static bool patterns_match(const char *patterns, const char *type)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", patterns);
    char *save = NULL;
    for (char *p = strtok_r(buf, "{},\"", &save); p; p = strtok_r(NULL, "{},\"", &save))
        if (route_match(p, type, strlen(type)))
            return true;
    return false;
}

static json_t *find_row(json_t *list, const char *adapter, const char *sub)
{
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *d = json_array_get(list, i);
        if (strcmp(json_string_value(json_object_get(d, "adapter")), adapter) == 0 &&
            strcmp(json_string_value(json_object_get(d, "subscription")), sub) == 0)
            return d;
    }
    return NULL;
}

/* One row per subscription the event was for; its state from the settled
 * floor, delivery_attempt, and the dead letters (live or since replayed or
 * discarded). A NACK that asked for a retry is not stored: its reason is
 * only kept if the event ends as a dead letter. */
static json_t *deliveries(tx_t *t, const config_t *cfg, const subs_t *subs, json_t *ev)
{
    json_t *list = json_array();
    const char *type = json_string_value(json_object_get(ev, "type"));
    const char *target = json_string_value(json_object_get(ev, "target"));
    json_int_t seq = json_integer_value(json_object_get(ev, "seq"));
    for (int i = 0; list && i < PQntuples(subs->subs); i++) {
        const char *a = PQgetvalue(subs->subs, i, 0), *n = PQgetvalue(subs->subs, i, 1);
        if (!patterns_match(PQgetvalue(subs->subs, i, 2), type) ||
            !adapter_receives(cfg, a, target))
            continue;
        json_array_append_new(list,
                              json_pack("{ss ss ss so}", "adapter", a, "subscription", n, "state",
                                        seq <= num(subs->subs, i, 3) ? "acked" : "waiting",
                                        "attempts", json_null()));
    }
    char s[24];
    snprintf(s, sizeof s, "%lld", (long long)seq);
    const char *v[1] = {s};
    PGresult *r = run(t,
                      "SELECT adapter, subscription, attempts FROM delivery_attempt WHERE seq "
                      "= $1::bigint",
                      1, v, NULL, NULL);
    for (int i = 0; r && i < PQntuples(r); i++) {
        json_t *d = find_row(list, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
        if (d) {
            json_object_set_new(d, "attempts", json_integer(num(r, i, 2)));
            if (strcmp(json_string_value(json_object_get(d, "state")), "waiting") == 0)
                json_object_set_new(d, "state", json_string("delivering"));
        }
    }
    PQclear(r);
    /* Live, replayed since (the row then lives on in dead_letter_replay), discarded. */
    r = run(t,
            "SELECT adapter, subscription, id, attempts, reason, dead_at, 'dead_lettered', "
            "NULL::text, NULL::bigint, NULL::text FROM dead_letter WHERE seq = $1::bigint "
            "UNION ALL SELECT adapter, subscription, id, NULL, reason, dead_at, 'replayed', "
            "replayed_by, replayed_at, CASE WHEN settled_at IS NULL THEN 'replaying' ELSE "
            "'settled' END FROM dead_letter_replay WHERE seq = $1::bigint UNION ALL SELECT "
            "adapter, subscription, id, attempts, reason, dead_at, 'discarded', discarded_by, "
            "discarded_at, discard_reason FROM dead_letter_discarded WHERE seq = $1::bigint "
            "ORDER BY 3",
            1, v, NULL, NULL);
    for (int i = 0; r && i < PQntuples(r); i++) {
        json_t *d = find_row(list, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
        if (!d) /* a subscription deleted or changed since */
            json_array_append_new(list, d = json_pack("{ss ss so}", "adapter", PQgetvalue(r, i, 0),
                                                      "subscription", PQgetvalue(r, i, 1),
                                                      "attempts", json_null()));
        const char *what = PQgetvalue(r, i, 6);
        json_t *dl = json_pack("{sI ss so ss sI}", "id", num(r, i, 2), "outcome", what, "attempts",
                               PQgetisnull(r, i, 3) ? json_null() : json_integer(num(r, i, 3)),
                               "reason", PQgetvalue(r, i, 4), "dead_at_us", num(r, i, 5));
        if (dl && !PQgetisnull(r, i, 7)) {
            json_object_set_new(dl, "by", json_string(PQgetvalue(r, i, 7)));
            json_object_set_new(dl, "at_us", json_integer(num(r, i, 8)));
            json_object_set_new(dl, strcmp(what, "discarded") == 0 ? "discard_reason" : "replay",
                                text_or_null(r, i, 9));
        }
        json_t *dls = json_object_get(d, "dead_letters");
        if (!dls)
            json_object_set_new(d, "dead_letters", dls = json_array());
        json_array_append_new(dls, dl);
        /* The latest outcome is the state: a replay that settled is acked again. */
        const char *state = strcmp(what, "dead_lettered") == 0            ? "dead_lettered"
                            : strcmp(what, "discarded") == 0              ? "discarded"
                            : strcmp(PQgetvalue(r, i, 9), "settled") == 0 ? "acked"
                                                                          : "replaying";
        json_object_set_new(d, "state", json_string(state));
        if (json_is_null(json_object_get(d, "attempts")) && !PQgetisnull(r, i, 3))
            json_object_set_new(d, "attempts", json_integer(num(r, i, 3)));
    }
    PQclear(r);
    return list;
}

/* ---- master data ---- */

static json_t *audit_rows(PGresult *r)
{
    json_t *a = json_array();
    for (int i = 0; r && a && i < PQntuples(r); i++)
        json_array_append_new(a, json_pack("{sI ss ss ss ss so}", "at_us", num(r, i, 0), "event_id",
                                           PQgetvalue(r, i, 1), "source", PQgetvalue(r, i, 2),
                                           "master_id", PQgetvalue(r, i, 3), "action",
                                           PQgetvalue(r, i, 4), "detail", json_col(r, i, 5)));
    PQclear(r);
    return a;
}

static json_t *queue_rows(PGresult *r)
{
    json_t *a = json_array();
    for (int i = 0; r && a && i < PQntuples(r); i++)
        json_array_append_new(
            a, json_pack("{sI ss ss so so ss sI so so so}", "id", num(r, i, 0), "master_a",
                         PQgetvalue(r, i, 1), "master_b", PQgetvalue(r, i, 2), "score",
                         PQgetisnull(r, i, 3) ? json_null() : json_real(atof(PQgetvalue(r, i, 3))),
                         "evidence", json_col(r, i, 4), "state", PQgetvalue(r, i, 5),
                         "created_at_us", num(r, i, 6), "decided_at_us",
                         PQgetisnull(r, i, 7) ? json_null() : json_integer(num(r, i, 7)),
                         "decided_by", text_or_null(r, i, 8), "reason", text_or_null(r, i, 9)));
    PQclear(r);
    return a;
}

#define AUDIT_SQL "SELECT at, event_id, source, master_id, action, detail::text FROM master_audit "
#define QUEUE_SQL                                                                                  \
    "SELECT id, master_a, master_b, score, evidence::text, state, created_at, decided_at, "        \
    "decided_by, reason FROM steward_queue "
#define HISTORY_SQL                                                                                \
    "SELECT master_id, version, source, event_id, at, changes::text FROM golden_person_history "

static json_t *history_rows(PGresult *r)
{
    json_t *a = json_array();
    for (int i = 0; r && a && i < PQntuples(r); i++)
        json_array_append_new(a, json_pack("{ss sI ss ss sI so}", "master_id", PQgetvalue(r, i, 0),
                                           "version", num(r, i, 1), "source", PQgetvalue(r, i, 2),
                                           "event_id", PQgetvalue(r, i, 3), "at_us", num(r, i, 4),
                                           "changes", json_col(r, i, 5)));
    PQclear(r);
    return a;
}

/* Adds steward queue item QID (a JSON integer; anything else is ignored) to QUEUE, once. */
static void queue_add(tx_t *t, json_t *queue, const json_t *qid)
{
    bool seen = !json_is_integer(qid) || json_integer_value(qid) <= 0;
    for (size_t k = 0; !seen && k < json_array_size(queue); k++)
        seen = json_integer_value(json_object_get(json_array_get(queue, k), "id")) ==
               json_integer_value(qid);
    if (seen)
        return;
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)json_integer_value(qid));
    const char *qv[1] = {id};
    json_t *rows = queue_rows(run(t, QUEUE_SQL "WHERE id = $1::bigint", 1, qv, NULL, NULL));
    json_array_extend(queue, rows);
    json_decref(rows);
}

/* What the master-data engine decided on the event: its audit rows, the
 * golden record versions it made, the steward items it opened. */
static json_t *event_decisions(tx_t *t, json_t *ev)
{
    const char *v[1] = {json_string_value(json_object_get(ev, "event_id"))};
    json_t *audit = audit_rows(run(t,
                                   AUDIT_SQL "WHERE event_id = $1 ORDER BY at LIMIT "
                                             "200",
                                   1, v, NULL, NULL));
    json_t *hist =
        history_rows(run(t, HISTORY_SQL "WHERE event_id = $1 ORDER BY master_id, version LIMIT 200",
                         1, v, NULL, NULL));
    /* A queue item names no event: the audit row that opened it names the item, and a
     * steward's decision its payload (StewardDecision.queue_id). */
    json_t *queue = json_array();
    for (size_t i = 0; i <= json_array_size(audit); i++) {
        json_t *qid =
            i < json_array_size(audit)
                ? json_object_get(json_object_get(json_array_get(audit, i), "detail"), "queue_id")
                : json_object_get(json_object_get(json_object_get(ev, "envelope"), "payload"),
                                  "queue_id");
        queue_add(t, queue, qid);
    }
    return json_pack("{so so so}", "audit", audit, "history", hist, "steward_queue", queue);
}

static json_t *derived(tx_t *t, const config_t *cfg, const subs_t *subs, json_t *ev)
{
    char pat[TRACE_ID_MAX + 3], seq[24], limit[16];
    const char *id = json_string_value(json_object_get(ev, "event_id"));
    if (strlen(id) > TRACE_ID_MAX)
        return json_array();
    int plen = field_bytes(FIELD_CAUSATION_ID, id, pat);
    snprintf(seq, sizeof seq, "%lld", (long long)json_integer_value(json_object_get(ev, "seq")));
    snprintf(limit, sizeof limit, "%d", DERIVED_MAX);
    const char *v[3] = {pat, seq, limit};
    const int lens[3] = {plen, 0, 0}, bin[3] = {1, 0, 0};
    /* An effect is journaled after its cause. */
    PGresult *r = run(t,
                      "SELECT " EVENT_COLUMNS " FROM journal WHERE seq > $2::bigint AND "
                      "position($1::bytea in envelope) > 0 ORDER BY seq LIMIT $3::int",
                      3, v, lens, bin);
    json_t *list = json_array();
    for (int i = 0; r && list && i < PQntuples(r); i++) {
        json_t *d = event_json(r, i);
        if (d && envelope_says(d, "causation_id", id)) {
            /* What the hub made reaches the systems: the answer to "did it arrive?". */
            json_object_set_new(d, "deliveries", deliveries(t, cfg, subs, d));
            json_array_append_new(list, d);
        } else
            json_decref(d);
    }
    PQclear(r);
    return list;
}

/* ---- refusals and the golden record ---- */

static json_t *refusals(tx_t *t, const admin_trace_query_t *q)
{
    if (q->key == TRACE_MASTER_ID)
        return json_array();
    char pat[TRACE_ID_MAX + 3];
    int plen = field_bytes(FIELD_CORRELATION_ID, q->value, pat);
    const char *v[3] = {q->value, q->key == TRACE_EVENT_ID ? "e" : "c", pat};
    const int lens[3] = {0, 0, plen}, bin[3] = {0, 0, 1};
    PGresult *r = run(t,
                      "SELECT id, received_at, adapter, event_id, type, reason FROM "
                      "rejected_event WHERE ($2 = 'e' AND event_id = $1) OR ($2 = 'c' AND "
                      "position($3::bytea in bytes) > 0) ORDER BY id DESC LIMIT "
                      "200",
                      3, v, lens, bin);
    json_t *a = json_array();
    for (int i = 0; r && a && i < PQntuples(r); i++)
        json_array_append_new(
            a, json_pack("{sI sI ss ss ss ss}", "id", num(r, i, 0), "received_at_us", num(r, i, 1),
                         "adapter", PQgetvalue(r, i, 2), "event_id", PQgetvalue(r, i, 3), "type",
                         PQgetvalue(r, i, 4), "reason", PQgetvalue(r, i, 5)));
    PQclear(r);
    return a;
}

static json_t *golden(tx_t *t, const char *id)
{
    const char *v[1] = {id};
    PGresult *r = run(t,
                      "SELECT version, state, redirect_to, fields::text FROM golden_person WHERE "
                      "master_id = $1",
                      1, v, NULL, NULL);
    json_t *g = r && PQntuples(r) == 1
                    ? json_pack("{ss sI ss so so}", "master_id", id, "version", num(r, 0, 0),
                                "state", PQgetvalue(r, 0, 1), "redirect_to", text_or_null(r, 0, 2),
                                "fields", json_col(r, 0, 3))
                    : json_null();
    PQclear(r);
    r = run(t,
            "SELECT system, local_id, link_state, how, score, linked_at FROM xref WHERE "
            "master_id = $1 ORDER BY system, local_id LIMIT 200",
            1, v, NULL, NULL);
    json_t *x = json_array();
    for (int i = 0; r && x && i < PQntuples(r); i++)
        json_array_append_new(
            x, json_pack("{ss ss ss ss so sI}", "system", PQgetvalue(r, i, 0), "local_id",
                         PQgetvalue(r, i, 1), "link_state", PQgetvalue(r, i, 2), "how",
                         PQgetvalue(r, i, 3), "score",
                         PQgetisnull(r, i, 4) ? json_null() : json_real(atof(PQgetvalue(r, i, 4))),
                         "linked_at_us", num(r, i, 5)));
    PQclear(r);
    json_t *audit = audit_rows(
        run(t, AUDIT_SQL "WHERE master_id = $1 ORDER BY at DESC LIMIT 200", 1, v, NULL, NULL));
    json_t *queue =
        queue_rows(run(t, QUEUE_SQL "WHERE master_a = $1 OR master_b = $1 ORDER BY id LIMIT 200", 1,
                       v, NULL, NULL));
    json_t *hist = history_rows(run(
        t, HISTORY_SQL "WHERE master_id = $1 ORDER BY version DESC LIMIT 200", 1, v, NULL, NULL));
    return json_pack("{so so so so so}", "golden", g, "xref", x, "audit", audit, "steward_queue",
                     queue, "history", hist);
}

/* ---- the whole ---- */

static json_t *events(tx_t *t, const config_t *cfg, const admin_trace_query_t *q, bool *truncated)
{
    PGresult *r = find_events(t, q);
    subs_t subs = {run(t, "SELECT adapter, name, patterns::text, acked_seq FROM subscription", 0,
                       NULL, NULL, NULL)};
    json_t *list = json_array();
    int n = r ? PQntuples(r) : 0;
    *truncated = n == q->limit;
    for (int i = 0; list && subs.subs && i < n; i++) {
        json_t *e = event_json(r, i);
        bool wanted =
            e &&
            (q->key == TRACE_EVENT_ID ||
             (q->key == TRACE_CORRELATION_ID && envelope_says(e, "correlation_id", q->value)) ||
             (q->key == TRACE_MASTER_ID &&
              (envelope_says(e, "master_id", q->value) || entity_is(e, q->value))));
        if (!wanted) {
            json_decref(e);
            continue;
        }
        json_object_set_new(e, "deliveries", deliveries(t, cfg, &subs, e));
        json_object_set_new(e, "master_data", event_decisions(t, e));
        json_object_set_new(e, "derived", derived(t, cfg, &subs, e));
        json_array_append_new(list, e);
    }
    PQclear(r);
    PQclear(subs.subs);
    return list;
}

json_t *admin_trace(PGconn *c, const config_t *cfg, const admin_trace_query_t *q, char *err,
                    size_t errlen)
{
    tx_t t = {c, err, errlen, false};
    /* One snapshot: a delivery settling between two reads would otherwise
     * show an event both waiting and acked. */
    PQclear(run(&t, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, NULL, NULL));
    bool truncated = false;
    json_t *evs = events(&t, cfg, q, &truncated);
    json_t *refused = refusals(&t, q);
    json_t *master = q->key == TRACE_MASTER_ID ? golden(&t, q->value) : json_null();
    PGresult *end = PQexec(c, t.failed ? "ROLLBACK" : "COMMIT");
    PQclear(end);
    static const char *const keys[] = {"event_id", "correlation_id", "master_id"};
    json_t *j = json_pack("{s{ss} so so so sb}", "query", keys[q->key], q->value, "events", evs,
                          "refusals", refused, "master", master, "truncated", truncated);
    if (t.failed) {
        json_decref(j);
        return NULL;
    }
    if (!j)
        snprintf(err, errlen, "out of memory");
    return j;
}

json_t *admin_trace_golden(PGconn *c, const char *master_id, char *err, size_t errlen)
{
    tx_t t = {c, err, errlen, false};
    PQclear(run(&t, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, NULL, NULL));
    json_t *j = golden(&t, master_id);
    PGresult *end = PQexec(c, t.failed ? "ROLLBACK" : "COMMIT");
    PQclear(end);
    if (t.failed) {
        json_decref(j);
        return NULL;
    }
    if (!j)
        snprintf(err, errlen, "out of memory");
    return j;
}
