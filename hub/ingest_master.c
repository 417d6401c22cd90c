/* ingest_master.c - the master-data engine on the ingest path.
 *
 * For an entity event, the engine decides (golden record, ownership,
 * matching) and hands back derived events, typed rows and statements through
 * a sink; this file turns them into journal entries, rows and statements of
 * the pending batch, so the event, the golden-record change, its history and
 * the events it causes commit in one transaction. The engine changes its
 * in-memory state as it decides; if that transaction then fails, the state is
 * ahead of the database, so the core marks it stale and reloads it before it
 * takes another entity event.
 *
 * The reload never runs on the core thread: connecting and reading every
 * golden record can take seconds, and the core must go on answering
 * heartbeats, STATUS and other publishes meanwhile. It is a job for the store
 * thread (store_submit_job), which builds new engines on its own connection
 * and hands them back through the store pipe; the core swaps them in between
 * two turns. Until then entity events are answered RETRY.
 *
 * Why the new engines match what the old ones will have committed: a reload
 * is asked for only when the pending batch holds no engine rows, while the
 * engines are stale nothing adds any (entity events are refused), and the
 * store runs the job after every batch submitted before it. So the tables
 * the job reads hold every engine row that will ever commit from the old
 * engines, and nothing commits on top until the new ones are in.
 *
 * Decisions by outcome (/metrics: joinery_master_decisions_total). Each
 * decision is one master_audit row; the sink sees it go into the batch and
 * counts it there, on the core thread, with no query and no lock. The total
 * is the database's count at a snapshot plus what was decided since: a
 * store job counts master_audit (entity, action) when the pending batch holds
 * no engine rows, so it sees exactly the decisions of the batches handed
 * over before it, which are the ones counted until then. It runs at start
 * (a restart does not zero the counter) and again after a commit of engine
 * rows failed, whose decisions were counted but never stored. Between such
 * a failure and the next snapshot the count is ahead by the failed batch's
 * decisions; decisions of a batch not yet committed are counted a group
 * commit early. */
#include "ingest_master.h"

#include "admin/admin_metrics.h"
#include "base/log.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- decisions by outcome ---- */

/* The entities whose engines write master_audit, and the actions they write (engine_plan.c,
 * master_steward.c); an action not listed counts as "other". */
enum { ENT_PERSON, ENT_ADDRESS, ENT_CASE, ENT_COUNT };
static const char *const entity_names[ENT_COUNT] = {"person", "address", "case"};
static const char *const action_names[] = {"create",  "link",       "update",      "propose",
                                           "refuse",  "queue",      "merge",       "merged_into",
                                           "unmerge", "keep_apart", "local_merge", "other"};
#define NACTIONS (sizeof action_names / sizeof *action_names)
/* Which actions each entity's engine can decide: shown at 0 before the first one, so that a
 * rate over them starts from the beginning. Addresses and cases have no matching. */
#define PERSON_ACTIONS 11u
#define ENTITY_ACTIONS 5u

_Static_assert(NACTIONS == MASTER_DEC_ACTIONS && ENT_COUNT == MASTER_DEC_ENTITIES,
               "core.h's master_decisions_t is sized for these lists");
typedef master_decision_counts_t decision_counts_t;

/* The core's counters; the first use asks for the stored decisions to be counted. */
static master_decisions_t *dec_of(core_t *c)
{
    master_decisions_t *d = &c->decisions;
    if (!d->started) {
        d->started = true;
        d->wanted = true;
    }
    return d;
}

static size_t action_index(const char *a, size_t len)
{
    for (size_t i = 0; i + 1 < NACTIONS; i++)
        if (strlen(action_names[i]) == len && memcmp(action_names[i], a, len) == 0)
            return i;
    return NACTIONS - 1;
}

/* An entity engine's audit detail starts {"entity": "NAME", (engine_plan.c audit_start); the
 * person engine's names none. -1: an entity not listed. */
static int entity_index(const char *detail)
{
    static const char tag[] = "{\"entity\": \"";
    if (detail == NULL || strncmp(detail, tag, sizeof tag - 1) != 0)
        return ENT_PERSON;
    const char *name = detail + sizeof tag - 1, *end = strchr(name, '"');
    for (int e = 0; end && e < ENT_COUNT; e++)
        if ((size_t)(end - name) == strlen(entity_names[e]) &&
            memcmp(name, entity_names[e], (size_t)(end - name)) == 0)
            return e;
    return -1;
}

/* A row going into the batch: if it is an audit row, one decision. */
static void dec_count_row(core_t *c, const row_desc_t *row, const row_val_t *vals)
{
    master_decisions_t *d = dec_of(c);
    if (row != d->audit) {
        if (d->audit != NULL || strcmp(row->table, "master_audit") != 0)
            return;
        d->action_col = d->detail_col = -1;
        for (int i = 0; i < row->ncols; i++) {
            if (strcmp(row->cols[i].name, "action") == 0)
                d->action_col = i;
            else if (strcmp(row->cols[i].name, "detail") == 0)
                d->detail_col = i;
        }
        if (d->action_col < 0)
            return;
        d->audit = row;
    }
    const char *action = vals[d->action_col].s;
    int e = entity_index(d->detail_col >= 0 ? vals[d->detail_col].s : NULL);
    if (action != NULL && e >= 0)
        d->made[e][action_index(action, strlen(action))]++;
}

/* Derived events are gathered in c->derived as length-prefixed records until
 * the triggering event has its seq: the cause is journaled before its effects. */
typedef struct {
    uint32_t type_len, target_len, master_len, local_len, ptype_len, payload_len;
} derived_hdr_t;

static int sink_emit(void *ctx, const char *type, const char *target, const char *master_id,
                     const char *local_id, const char *payload_type, const uint8_t *payload,
                     size_t len)
{
    core_t *c = ctx;
    derived_hdr_t h = {(uint32_t)strlen(type),
                       target ? (uint32_t)strlen(target) : 0,
                       master_id ? (uint32_t)strlen(master_id) : 0,
                       local_id ? (uint32_t)strlen(local_id) : 0,
                       payload_type ? (uint32_t)strlen(payload_type) : 0,
                       (uint32_t)len};
    if (h.type_len > 128 || h.target_len > 64 || h.master_len > 128 || h.local_len > 256 ||
        h.ptype_len > 128 || len > (1u << 24))
        return -1;
    pb_buf_t *b = &c->derived;
    if (pb_put_raw(b, &h, sizeof h) < 0 || pb_put_raw(b, type, h.type_len) < 0 ||
        pb_put_raw(b, target, h.target_len) < 0 || pb_put_raw(b, master_id, h.master_len) < 0 ||
        pb_put_raw(b, local_id, h.local_len) < 0 || pb_put_raw(b, payload_type, h.ptype_len) < 0 ||
        pb_put_raw(b, payload, len) < 0)
        return -1;
    c->nderived++;
    return 0;
}

static int sink_sql(void *ctx, const char *stmt, int nparams, const char *const *params)
{
    core_t *c = ctx;
    return jbatch_add_sql(c->pending, stmt, nparams, params);
}

/* The engine's typed rows go into the batch as they will be copied (store/journal.h). */
static int sink_upsert(void *ctx, const row_upsert_t *u, const row_val_t *vals)
{
    core_t *c = ctx;
    return jbatch_add_upsert_row(c->pending, u, vals);
}

static int sink_append(void *ctx, const row_desc_t *row, const row_val_t *vals)
{
    core_t *c = ctx;
    if (jbatch_add_row(c->pending, row, vals) < 0)
        return -1;
    dec_count_row(c, row, vals);
    return 0;
}

/* Writes one derived event's envelope into c->env. */
static int derived_envelope(core_t *c, uint64_t seq, const derived_hdr_t *h, const char *type,
                            const char *target, const char *master, const char *local,
                            const char *ptype, const uint8_t *payload, const char *cause,
                            size_t cause_len, char *event_id, size_t id_cap)
{
    pb_buf_t *e = &c->env;
    e->len = 0;
    int n = snprintf(event_id, id_cap, "h%llu", (unsigned long long)seq);
    size_t attr = h->target_len ? pb_field_size_len(1, 6) + pb_field_size_len(2, h->target_len) : 0;
    if (pb_put_bytes_field(e, 1, event_id, (size_t)n) < 0 ||
        pb_put_bytes_field(e, 2, type, h->type_len) < 0 ||
        pb_put_bytes_field(e, 3, "joinery", 7) < 0 ||
        pb_put_bytes_field(e, 4, local, h->local_len) < 0 ||
        pb_put_bytes_field(e, 5, master, h->master_len) < 0 ||
        pb_put_varint_field(e, 6, (uint64_t)c->now_us) < 0 ||
        pb_put_varint_field(e, 7, (uint64_t)c->now_us) < 0 ||
        pb_put_bytes_field(e, 9, cause, cause_len) < 0 ||
        pb_put_bytes_field(e, 11, ptype, h->ptype_len) < 0 ||
        pb_put_bytes_field(e, 12, payload, h->payload_len) < 0)
        return -1;
    if (attr && (pb_put_len_header(e, 13, attr) < 0 || pb_put_bytes_field(e, 1, "target", 6) < 0 ||
                 pb_put_bytes_field(e, 2, target, h->target_len) < 0))
        return -1;
    return 0;
}

/* Journals the gathered derived events after their cause. */
static int add_derived(core_t *c, const char *cause, size_t cause_len)
{
    const uint8_t *p = c->derived.data, *end = p + c->derived.len;
    for (size_t i = 0; i < c->nderived; i++) {
        derived_hdr_t h;
        memcpy(&h, p, sizeof h);
        const char *type = (const char *)p + sizeof h;
        const char *target = type + h.type_len;
        const char *master = target + h.target_len;
        const char *local = master + h.master_len;
        const char *ptype = local + h.local_len;
        const uint8_t *payload = (const uint8_t *)ptype + h.ptype_len;
        p = payload + h.payload_len;
        if (p > end)
            return -1;
        uint64_t seq = c->next_seq;
        char event_id[32], ek[160];
        int ekn = snprintf(ek, sizeof ek, "m:%.*s", (int)h.master_len, master);
        if (derived_envelope(c, seq, &h, type, target, master, local, ptype, payload, cause,
                             cause_len, event_id, sizeof event_id) < 0)
            return -1;
        jentry_t *e =
            jbatch_add(c->pending, seq, type, h.type_len, "joinery", 7, event_id, strlen(event_id),
                       ek, (size_t)ekn, c->env.data, c->env.len, c->now_us);
        if (!e)
            return -1;
        if (h.target_len) {
            char name[65];
            snprintf(name, sizeof name, "%.*s", (int)h.target_len, target);
            const config_adapter_t *a = config_adapter(c->cfg, name);
            if (jbatch_set_target(c->pending, a ? (int16_t)(a - c->cfg->adapters + 1) : -1, name,
                                  h.target_len) < 0)
                return -1;
        }
        c->next_seq++;
    }
    return 0;
}

int ingest_master_apply(core_t *c, const ingest_master_in_t *in, master_result_t *res, char *why,
                        size_t why_len)
{
    c->derived.len = 0;
    c->nderived = 0;
    master_sink_t sink = {c, sink_emit, sink_sql, sink_append, sink_upsert};
    master_event_t ev = {.source = in->source,
                         .event_id = in->event_id,
                         .type = in->type,
                         .local_id = in->local_id,
                         .master_id = in->master_id,
                         .base_version = in->base_version,
                         .occurred_at_us = in->occurred_at_us,
                         .received_at_us = c->now_us,
                         .payload_type = in->payload_type,
                         .payload = in->payload,
                         .payload_len = in->payload_len};
    memset(res, 0, sizeof *res);
    size_t mark = c->pending->nsql;
    /* The decisions counted so far, to take back if the engine's rows are. */
    decision_counts_t before;
    master_decisions_t *d = dec_of(c);
    memcpy(before, d->made, sizeof before);
    int rc = entity_handles(in->type, strlen(in->type))
                 ? entity_apply(c->entity, c->master, &ev, &sink, res, why, why_len)
                 : master_apply(c->master, &ev, &sink, res, why, why_len);
    if (rc < 0) {
        /* The engine changed nothing: neither may the batch. */
        jbatch_truncate_sql(c->pending, mark);
        memcpy(d->made, before, sizeof before);
        c->derived.len = 0;
        c->nderived = 0;
        return -1;
    }
    return 0;
}

int ingest_master_commit_derived(core_t *c, const char *cause, size_t cause_len)
{
    int rc = add_derived(c, cause, cause_len);
    c->derived.len = 0;
    c->nderived = 0;
    return rc;
}

/* ---- reload ---- */

#define RELOAD_RETRY_US 1000000

/* The job: on the store thread, builds MASTER and ENTITY from the database,
 * or (DISCARD) frees the ones the core swapped out. */
typedef struct {
    store_job_t job; /* first: the store hands back this pointer */
    const config_t *cfg;
    master_t *master;
    entity_t *entity;
    bool discard;
    uint64_t epoch; /* c->master_epoch when it was asked for */
} reload_job_t;

static int reload_run(store_job_t *job, PGconn *conn, char *err, size_t errlen)
{
    reload_job_t *r = (reload_job_t *)job;
    if (r->discard) {
        master_destroy(&r->master);
        entity_destroy(&r->entity);
        return 0;
    }
    r->master = master_new(r->cfg, err, errlen);
    r->entity = r->master ? entity_new(r->cfg, err, errlen) : NULL;
    /* Both engines' rows were in the failed transaction: both reload, from
     * the same committed state. */
    if (!r->master || !r->entity || master_load(r->master, conn, err, errlen) < 0 ||
        entity_load(r->entity, conn, err, errlen) < 0) {
        master_destroy(&r->master);
        entity_destroy(&r->entity);
        return -1;
    }
    return 0;
}

static void reload_drop(store_job_t *job)
{
    reload_job_t *r = (reload_job_t *)job;
    master_destroy(&r->master);
    entity_destroy(&r->entity);
    free(r);
}

void ingest_master_stale(core_t *c)
{
    c->master_stale = true;
    c->master_epoch++;
    /* The failed batch's decisions were counted: count again from the database. */
    master_decisions_t *d = dec_of(c);
    d->wanted = true;
}

/* ---- the decisions snapshot ---- */

typedef struct {
    store_job_t job; /* first: the store hands back this pointer */
    decision_counts_t counts;
} count_job_t;

static int count_run(store_job_t *job, PGconn *conn, char *err, size_t errlen)
{
    count_job_t *j = (count_job_t *)job;
    /* detail is json (0004): ->> reads it without a cast. Once per start or failed commit,
     * never per event. */
    PGresult *r = PQexec(conn, "SELECT coalesce(detail->>'entity', 'person'), action, count(*) "
                               "FROM master_audit GROUP BY 1, 2");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "counting master-data decisions: %s", PQerrorMessage(conn));
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        const char *entity = PQgetvalue(r, i, 0), *action = PQgetvalue(r, i, 1);
        for (int e = 0; e < ENT_COUNT; e++)
            if (strcmp(entity, entity_names[e]) == 0)
                j->counts[e][action_index(action, strlen(action))] +=
                    strtoull(PQgetvalue(r, i, 2), NULL, 10);
    }
    PQclear(r);
    return 0;
}

static void count_drop(store_job_t *job)
{
    free(job);
}

/* Hands the store a snapshot job when one is wanted and the pending batch has no engine rows
 * (see the top of this file for why that makes it exact). */
static void dec_snapshot(core_t *c)
{
    master_decisions_t *d = dec_of(c);
    if (!d->wanted || d->asked || !c->db_up || c->pending->nsql || c->now_us < d->retry_us)
        return;
    count_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return;
    j->job = (store_job_t){.run = count_run, .drop = count_drop};
    if (store_submit_job(c->store, &j->job) < 0) {
        free(j);
        d->retry_us = c->now_us + RELOAD_RETRY_US;
        return;
    }
    memcpy(d->made_at, d->made, sizeof d->made);
    d->asked = true;
    d->wanted = false;
}

static void count_done(core_t *c, count_job_t *j)
{
    master_decisions_t *d = dec_of(c);
    d->asked = false;
    if (j->job.rc < 0) {
        log_warn("master", "master-data decisions not counted (trying again): %s", j->job.error);
        d->wanted = true;
        d->retry_us = c->now_us + RELOAD_RETRY_US;
    } else {
        memcpy(d->base, j->counts, sizeof d->base);
        d->known = true;
        /* made_at is the made[] of this job's hand-over: a later job overwrites both. */
    }
    free(j);
}

void ingest_master_metrics(core_t *c, metrics_t *m)
{
    static const char name[] = "joinery_master_decisions_total";
    master_decisions_t *d = dec_of(c);
    metrics_family(m, name, "counter",
                   "Master-data decisions by entity and outcome (the engine's audit action), "
                   "stored ones included (counted from the database at start)");
    if (!d->known)
        return; /* no samples until the stored ones are counted: a counter must not go back */
    for (int e = 0; e < ENT_COUNT; e++)
        for (size_t a = 0; a < NACTIONS; a++) {
            uint64_t v = d->base[e][a] + (d->made[e][a] - d->made_at[e][a]);
            unsigned shown = e == ENT_PERSON ? PERSON_ACTIONS : ENTITY_ACTIONS;
            if (v == 0 && a >= shown)
                continue;
            const char *l[] = {"entity", entity_names[e], "outcome", action_names[a]};
            metrics_sample(m, name, l, 2, (double)v);
        }
}

void ingest_master_reload(core_t *c)
{
    dec_snapshot(c);
    if (!c->master_stale || c->master_reloading || !c->db_up || c->pending->nsql ||
        c->now_us < c->master_retry_us)
        return;
    reload_job_t *r = calloc(1, sizeof *r);
    if (!r)
        return;
    *r = (reload_job_t){
        .job = {.run = reload_run, .drop = reload_drop}, .cfg = c->cfg, .epoch = c->master_epoch};
    if (store_submit_job(c->store, &r->job) < 0) {
        free(r);
        c->master_retry_us = c->now_us + RELOAD_RETRY_US;
        return;
    }
    c->master_reloading = true;
    log_info("master", "reloading master data from the database; entity events are answered "
                       "RETRY until it is done");
}

void ingest_master_job_done(core_t *c, store_job_t *job)
{
    if (job->run == count_run) {
        count_done(c, (count_job_t *)job);
        return;
    }
    reload_job_t *r = (reload_job_t *)job;
    if (r->discard) {
        free(r);
        return;
    }
    c->master_reloading = false;
    if (r->job.rc < 0 || r->epoch != c->master_epoch) {
        if (r->job.rc < 0)
            log_warn("master", "reloading master data failed (trying again): %s", r->job.error);
        c->master_retry_us = r->job.rc < 0 ? c->now_us + RELOAD_RETRY_US : 0;
        reload_drop(job);
        return;
    }
    master_t *old_master = c->master;
    entity_t *old_entity = c->entity;
    c->master = r->master;
    c->entity = r->entity;
    c->master_stale = false;
    log_info("master",
             "master data reloaded from the database: %zu golden records, %zu addresses, %zu "
             "cases",
             master_golden_count(c->master), entity_count(c->entity, ENTITY_ADDRESS),
             entity_count(c->entity, ENTITY_CASE));
    /* Freeing a large engine takes a while too: the store thread does it. */
    r->master = old_master;
    r->entity = old_entity;
    r->discard = true;
    if (store_submit_job(c->store, &r->job) < 0)
        reload_drop(job);
}
