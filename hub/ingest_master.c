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
 * engines, and nothing commits on top until the new ones are in. */
#include "ingest_master.h"

#include "base/log.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    return jbatch_add_row(c->pending, row, vals);
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
    int rc = entity_handles(in->type, strlen(in->type))
                 ? entity_apply(c->entity, c->master, &ev, &sink, res, why, why_len)
                 : master_apply(c->master, &ev, &sink, res, why, why_len);
    if (rc < 0) {
        /* The engine changed nothing: neither may the batch. */
        jbatch_truncate_sql(c->pending, mark);
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
}

void ingest_master_reload(core_t *c)
{
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
