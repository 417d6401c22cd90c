/* ingest_master.h - the master-data engine's place on the ingest path, its
 * reload after a failed commit, and its decisions by outcome for /metrics
 * (see ingest_master.c). Used by ingest.c, router.c and admin/admin_core.c. */
#ifndef JOINERY_INGEST_MASTER_H
#define JOINERY_INGEST_MASTER_H

#include "admin/admin_metrics.h"
#include "core.h"

typedef struct {
    const char *source, *event_id, *type, *local_id, *payload_type;
    const char *master_id; /* the envelope's, "" if none */
    uint64_t base_version;
    int64_t occurred_at_us;
    const uint8_t *payload;
    size_t payload_len;
} ingest_master_in_t;

/* Runs the engine for the event's type (persons and stewards: master_apply;
 * addresses and cases: entity_apply); its rows go straight into the pending batch, its events
 * are held until ingest_master_commit_derived. -1 on internal failure. */
int ingest_master_apply(core_t *c, const ingest_master_in_t *in, master_result_t *res, char *why,
                        size_t why_len);
/* Journals the held events, caused by event CAUSE, after it. */
int ingest_master_commit_derived(core_t *c, const char *cause, size_t cause_len);

/* The engines' memory is ahead of the database (a commit of their rows
 * failed): they take no event until they are reloaded. */
void ingest_master_stale(core_t *c);
/* Once a turn: if the engines are stale and a reload can start, hands the
 * store a job that builds new engines from the database. Never waits. */
void ingest_master_reload(core_t *c);
/* A job of ours came back from the store (STORE_JOB): new engines to swap in
 * (the old ones go back to the store thread to be freed), a failure to retry,
 * old engines freed, or the stored decisions counted. */
void ingest_master_job_done(core_t *c, store_job_t *job);

/* joinery_master_decisions_total{entity, outcome}: the decisions stored and
 * made since, by the engine's audit action (create, link, update, queue,
 * propose, refuse, merge, merged_into, unmerge, keep_apart, local_merge,
 * other). Family only, no samples, until the stored ones are counted. On the
 * core thread. */
void ingest_master_metrics(core_t *c, metrics_t *m);

#endif
