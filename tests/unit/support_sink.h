/* support_sink.h - a capturing master_sink_t for the master-data unit tests
 * (test_master.c, test_entity.c): it keeps every derived event and every
 * statement an engine hands it, can fail a chosen call, and can also run the
 * statements in a real database. Plus what the tests look for in it. */
#ifndef JOINERY_TEST_SUPPORT_SINK_H
#define JOINERY_TEST_SUPPORT_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "master/master.h"

#define SINK_MAX_PARAMS 12

typedef struct {
    char *type, *target, *master_id, *local_id, *payload_type;
    uint8_t *payload;
    size_t len;
} emitted_t;

typedef struct {
    char *stmt;
    int n;
    char *params[SINK_MAX_PARAMS]; /* NULL = SQL NULL */
} stmt_t;

typedef struct {
    emitted_t *emits;
    size_t nemits, capemits;
    stmt_t *stmts;
    size_t nstmts, capstmts;
    int fail_at; /* the call (sql or emit, counted from 1) that fails; 0 = none */
    int calls;
    bool emit_after_sql; /* a message came after a statement of the same event */
    PGconn *conn;        /* when set, statements also run there */
} capture_t;

/* A sink (emit and sql only) that captures into C. */
master_sink_t sink_capture(capture_t *c);
/* Forgets what was captured, the call count and fail_at; keeps conn. */
void sink_clear(capture_t *c);
void sink_free(capture_t *c);

/* The first event of TYPE for TARGET (NULL: for anyone), or NULL. */
const emitted_t *sink_find_emit(const capture_t *c, const char *type, const char *target);
/* Events of TYPE (NULL: any) for TARGET (NULL: anyone). */
size_t sink_count_emits(const capture_t *c, const char *type, const char *target);
/* The NTH (from 0) statement that starts with PREFIX, or NULL. */
const stmt_t *sink_find_sql(const capture_t *c, const char *prefix, size_t nth);
size_t sink_count_sql(const capture_t *c, const char *prefix);
const stmt_t *sink_last_sql(const capture_t *c, const char *prefix);

#endif
