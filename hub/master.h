/* master.h - the master-data engine: one golden record per resident, field
 * ownership, identity matching, the cross-reference of local ids, the steward
 * queue, merge and unmerge. It runs on the core thread inside ingest, on
 * in-memory indexes loaded at start; PostgreSQL stays the truth.
 *
 * The engine never talks to the database while the hub runs: everything it
 * decides is handed to a sink — derived events to journal, and SQL rows to
 * write — and the hub commits both in the same transaction as the event that
 * caused them. See docs/master-data.md. */
#ifndef JOINERY_MASTER_H
#define JOINERY_MASTER_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef struct master master_t;

/* An entity event as ingest has checked it. Strings are NUL-terminated and
 * valid for the duration of the call only. */
typedef struct {
    const char *source;   /* adapter name (the system) */
    const char *event_id;
    const char *type;     /* "person.updated", "person.merged", "steward.merge", ... */
    const char *local_id; /* source_record_id: the record's id in the source system */
    uint64_t base_version;/* golden version the sender last saw; 0 = unknown */
    int64_t occurred_at_us, received_at_us;
    const char *payload_type;
    const uint8_t *payload;
    size_t payload_len;
} master_event_t;

/* Where the engine's decisions go. Both return 0, or -1 (the event is then
 * answered RETRY and the engine must not have changed its state). */
typedef struct {
    void *ctx;
    /* A derived event to journal with the triggering one. TARGET is the one
     * adapter that receives it (NULL: every subscriber whose patterns match).
     * The payload is a serialised message named by PAYLOAD_TYPE. */
    int (*emit)(void *ctx, const char *type, const char *target, const char *master_id,
                const char *local_id, const char *payload_type, const uint8_t *payload,
                size_t len);
    /* A statement to run in the same transaction, with text parameters
     * (NULL = SQL NULL); the parameters are copied. STMT is kept by pointer,
     * so it must be a string literal. Statements run in the order given. */
    int (*sql)(void *ctx, const char *stmt, int nparams, const char *const *params);
} master_sink_t;

typedef enum {
    MASTER_APPLIED = 0, /* (part of) the event changed or confirmed the golden record */
    MASTER_REFUSED,     /* refused whole: invalid content; why says what to fix */
} master_outcome_t;

typedef struct {
    master_outcome_t outcome;
    char master_id[40];    /* golden record the event resolved to */
    uint64_t version;      /* its version afterwards */
    unsigned changed;      /* fields changed */
    unsigned refused;      /* fields refused (not owner / stale base_version) */
} master_result_t;

/* Does the engine handle events of this type? (person.*, steward.*) */
int master_handles(const char *type, size_t len);

master_t *master_new(const config_t *cfg, char *err, size_t errlen);
void master_destroy(master_t **m);
/* Loads golden records, cross-reference, steward queue and builds the
 * indexes (blocking connection, at start-up). */
int master_load(master_t *m, PGconn *conn, char *err, size_t errlen);
/* Applies one event. -1 on an internal failure (sink refused): nothing changed. */
int master_apply(master_t *m, const master_event_t *ev, master_sink_t *sink, master_result_t *res,
                 char *why, size_t why_len);
/* Counts for STATUS and metrics. */
size_t master_golden_count(const master_t *m);
size_t master_steward_count(const master_t *m);

#endif
