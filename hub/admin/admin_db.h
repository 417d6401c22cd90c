/* admin_db.h - the admin thread's reads of the database, on its own
 * read-only connection: dead letters listed and shown, stored counts per
 * subscription, readiness. Answers are JSON made here; no row is written. */
#ifndef JOINERY_ADMIN_DB_H
#define JOINERY_ADMIN_DB_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

/* The schema version this hub's admin API needs (0010_admin.sql). */
#define ADMIN_SCHEMA_VERSION 10

typedef struct {
    const char *adapter, *subscription, *type; /* "" for any */
    long long after;                           /* ids above this */
    int limit;
} admin_dl_filter_t;

/* A read-only connection (NULL with ERR); reconnects are the caller's. */
PGconn *admin_db_connect(const char *conninfo, char *err, size_t errlen);
/* {"dead_letters": [...], "next_after": id or null}, or NULL with ERR. */
json_t *admin_db_dead_letters(PGconn *c, const admin_dl_filter_t *f, char *err, size_t errlen);
/* One dead letter with its envelope decoded; NULL with ERR, *FOUND false if there is none. */
json_t *admin_db_dead_letter(PGconn *c, long long id, bool *found, char *err, size_t errlen);
/* Dead letters stored per subscription, set as "dead_letters" on each object of SUBS. */
int admin_db_add_counts(PGconn *c, json_t *subs, char *err, size_t errlen);
/* Whether the database answers with this hub's schema; ERR says why not. */
bool admin_db_ready(PGconn *c, char *err, size_t errlen);

#endif
