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

#include "base/config.h"
#include "base/rows.h"

typedef struct master master_t;

/* An entity event as ingest has checked it. Strings are NUL-terminated and
 * valid for the duration of the call only. */
typedef struct {
    const char *source; /* adapter name (the system) */
    const char *event_id;
    const char *type;      /* "person.updated", "person.merged", "steward.merge", ... */
    const char *local_id;  /* source_record_id: the record's id in the source system */
    const char *master_id; /* the envelope's master_id ("" or NULL: none); the entity engine's */
    uint64_t base_version; /* golden version the sender last saw; 0 = unknown */
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
                const char *local_id, const char *payload_type, const uint8_t *payload, size_t len);
    /* A statement to run in the same transaction, with text parameters
     * (NULL = SQL NULL); the parameters are copied. STMT is kept by pointer,
     * so it must be a string literal. Statements run in the order given. */
    int (*sql)(void *ctx, const char *stmt, int nparams, const char *const *params);
    /* A new row of ROW's table (history, audit, a new golden record or link,
     * a steward item): one typed value per column of ROW, in order
     * (base/rows.h); strings are copied. ROW is static data, kept by
     * pointer. The hub gathers a batch's rows of each table into one binary
     * COPY. May be NULL: the engine then sends each row through sql, as an
     * INSERT with the values as text. */
    int (*append)(void *ctx, const row_desc_t *row, const row_val_t *vals);
    /* A row whose effect is its last row per key within the batch (a golden
     * record or link changed): U->row's columns, as append. May be NULL: the
     * engine then sends an INSERT ... ON CONFLICT through sql. */
    int (*upsert)(void *ctx, const row_upsert_t *u, const row_val_t *vals);
} master_sink_t;

typedef enum {
    MASTER_APPLIED = 0, /* (part of) the event changed or confirmed the golden record */
    MASTER_REFUSED,     /* refused whole: invalid content; why says what to fix */
} master_outcome_t;

typedef struct {
    master_outcome_t outcome;
    char master_id[40]; /* golden record the event resolved to */
    uint64_t version;   /* its version afterwards */
    unsigned changed;   /* fields changed */
    unsigned refused;   /* fields refused (not owner / stale base_version) */
} master_result_t;

/* Every table the engines (persons, addresses and cases) write rows to, as their row
 * descriptors declare it, into OUT (at most CAP); returns how many there are. For a test that
 * the declarations match the schema. */
size_t master_row_tables(const row_desc_t **out, size_t cap);

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
/* Whether a candidate search also compares each record's previous addresses and names (on by
 * default; a test turns it off to show what it adds). They are kept either way. */
void master_set_history(master_t *m, bool on);

/* Candidate searches run, candidate records read (each once per search) and
 * candidates dismissed on their sketch (match_bound) without being scored --
 * most of them on the copy in the blocking index, without reading the
 * record, counted once per block they were found in -- since start: how
 * much work blocking leaves for the scorer, per event. */
void master_search_counts(const master_t *m, uint64_t *searches, uint64_t *scored,
                          uint64_t *bounded);

/* Additions beyond the first contract --------------------------------------- */

/* master_load also recovers the engine after a failure it cannot see: when a
 * transaction holding statements it handed to a sink fails to commit (or a
 * group commit is rolled back), memory is ahead of the tables, and the engine
 * must be reloaded before it takes another event. master_load first empties
 * the engine; if it fails, the engine refuses every event (-1) until a later
 * master_load succeeds. */

/* Master ids are "P" + 26 characters of Crockford base32 (a ULID: 48 bits of
 * milliseconds, then 80 bits counting up from a random start), so they sort by
 * creation and never repeat. Tests, and a hub that wants its own scheme, may
 * replace the generator: FN writes a NUL-terminated id of at most
 * MASTER_ID_MAX - 1 printable characters into OUT and returns 0, or -1. */
#define MASTER_ID_MAX 40
typedef int (*master_id_fn)(void *ctx, int64_t now_us, char *out, size_t len);
void master_set_id_generator(master_t *m, master_id_fn fn, void *ctx);

/* Are the field paths the master_data rules name (person, address and case)
 * fields the engine knows? 0, or -1 with "FILE:LINE: ... unknown field ..."
 * in ERR. master_new and entity_new check it too; joineryd --check-config
 * calls it after config_load. */
int master_check_config(const config_t *cfg, char *err, size_t errlen);

/* Is PATH a field path a master_data rule may name? The fields
 * (nhs_number, name.given, address.home, consent.<purpose>, ...), and the
 * prefixes that cover several (name, address, telecom, consent). */
int master_field_known(const char *path);

/* The golden record SYSTEM's LOCAL_ID resolves to (following merges): its id
 * is copied to MASTER_ID and the xref's link state ("MATCH", ...) returned;
 * NULL if the local id is unknown. */
const char *master_lookup(const master_t *m, const char *system, const char *local_id,
                          char master_id[MASTER_ID_MAX]);
/* The active golden record MASTER_ID is, following merges (a REDIRECTED
 * record's survivor), copied to OUT; -1 if there is no such record. */
int master_final_id(const master_t *m, const char *master_id, char out[MASTER_ID_MAX]);
/* SYSTEM's local id for the active record MASTER_ID resolves to (its live
 * link before one that followed a merge, then the oldest, as person.changed
 * chooses); "" if it has none. Valid until the next master_apply or
 * master_load. */
const char *master_local_id(const master_t *m, const char *master_id, const char *system);
/* Field FIELD of record MASTER_ID as stored (no redirect is followed), or
 * NULL; *source (may be NULL) gets the supplying system. Valid until the next
 * master_apply or master_load. */
const char *master_value(const master_t *m, const char *master_id, const char *field,
                         const char **source);

/* The whole in-memory state as canonical text, sorted, one fact per line:
 * for tests (state equality after a reload, or after merge + unmerge) and
 * for operators' diagnostics. *OUT is malloc'd; the caller frees it. */
enum {
    MASTER_DUMP_VERSIONS = 1, /* record and field versions, timestamps of change */
    MASTER_DUMP_STEWARD = 2,  /* queue, keep-apart pairs and undoable merges */
};
int master_dump(const master_t *m, unsigned flags, char **out, size_t *len);

#endif
