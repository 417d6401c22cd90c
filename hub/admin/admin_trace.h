/* admin_trace.h - GET /api/v1/trace: everything the database knows about one
 * event, the events of one correlation id, or one golden record, read on the
 * admin thread's read-only connection in one snapshot: the journaled events
 * (payload decoded), their deliveries per subscription (attempts, acked or
 * dead-lettered with the NACK's reason, replays, discards), refusals, the
 * master-data engine's decisions, and the events each one caused. */
#ifndef JOINERY_ADMIN_TRACE_H
#define JOINERY_ADMIN_TRACE_H

#include "base/config.h"

#include <jansson.h>
#include <libpq-fe.h>

#define TRACE_LIMIT_DEFAULT 20
#define TRACE_LIMIT_MAX 100
#define TRACE_ID_MAX 256 /* an event id, correlation id or master id, in bytes */

typedef enum { TRACE_EVENT_ID, TRACE_CORRELATION_ID, TRACE_MASTER_ID } trace_key_t;

typedef struct {
    trace_key_t key;
    const char *value;  /* checked by the caller: 1 to TRACE_ID_MAX printable bytes */
    const char *source; /* "" for any; narrows an event id to one publisher */
    int limit;          /* events at most, 1 to TRACE_LIMIT_MAX */
} admin_trace_query_t;

/* The trace as a new JSON object (the caller's), or NULL with ERR (a
 * database failure). CFG tells which adapters are operators (who receives
 * an event addressed to the operators). */
json_t *admin_trace(PGconn *c, const config_t *cfg, const admin_trace_query_t *q, char *err,
                    size_t errlen);

/* A golden person record with its local ids, audit, steward items and
 * history, newest first: {"golden": record or null, "xref", "audit",
 * "steward_queue", "history"}, or NULL with ERR. */
json_t *admin_trace_golden(PGconn *c, const char *master_id, char *err, size_t errlen);

#endif
