/* support_matchdb.h - the master-data engine against a real PostgreSQL, as the matching tests
 * (test_match_hub.c, test_match_history.c) drive it: a fresh database with the migrations, an
 * engine whose sink runs every statement it hands over, one transaction per event as the hub
 * does (or one for many, with BATCH), Person events built from a few fields, and the checks of
 * where a local id went. Failures fail the test. Tests using it need the "pg" fixture
 * (JOINERY_NEEDS_PG). */
#ifndef JOINERY_TEST_SUPPORT_MATCHDB_H
#define JOINERY_TEST_SUPPORT_MATCHDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "base/config.h"
#include "master/master.h"

#define MATCHDB_ERRLEN 512

typedef struct {
    char dir[256];
    config_t *cfg;
    PGconn *conn;
    master_t *m;
    master_sink_t sink;
    master_result_t res;
    char why[MATCHDB_ERRLEN];
    char last_error[MATCHDB_ERRLEN];
    unsigned ids, events;
    int64_t clock;
    bool batch; /* events run inside the caller's transaction */
} matchdb_t;

/* A cmocka set-up: a database DB_NAME made afresh and migrated, CONFIG_TEXT loaded from a
 * directory made from DIR_TEMPLATE (ending XXXXXX), an engine; *STATE is the matchdb_t. */
int matchdb_setup(void **state, const char *db_name, const char *dir_template,
                  const char *config_text);
int matchdb_teardown(void **state);

/* A new engine on DB's configuration, with master ids from DB's counter. */
master_t *matchdb_engine(matchdb_t *db);
void matchdb_exec(matchdb_t *db, const char *sql);

/* One event through DB's engine (its id and time made here), which must be applied; in its own
 * transaction unless DB->batch. Returns the golden record it resolved to. */
const char *matchdb_apply(matchdb_t *db, const char *source, const char *type, const char *local_id,
                          const char *payload_type, const uint8_t *payload, size_t len);

/* A person as a system sends it: a name, a birth date and a home address (any may be NULL). */
typedef struct {
    const char *given, *family, *birth, *line, *town, *postcode;
} matchdb_rec_t;
/* What a sender may add: an address it marks "old", another (maiden) name, an identifier. */
typedef struct {
    const char *old_line, *old_town, *old_postcode;
    const char *other_given, *other_family;
    const char *id_system, *id_value;
} matchdb_also_t;
/* person.updated from SOURCE for LOCAL_ID with R and ALSO (may be NULL). */
const char *matchdb_person(matchdb_t *db, const char *source, const char *local_id, matchdb_rec_t r,
                           const matchdb_also_t *also);

/* LOCAL_ID's link_state in the xref is WANT; is anything but MATCH. */
void matchdb_assert_link_state(matchdb_t *db, const char *local_id, const char *want);
void matchdb_assert_not_linked(matchdb_t *db, const char *local_id);

/* A town of 1,100 unrelated residents from socialcare (POP-0...), so that name frequencies mean
 * something (the hub uses them from 1,000 records on) and the town is as common as a real one. */
void matchdb_populate(matchdb_t *db);

/* DB's engine replaced by one master_load builds from the tables; with SAME, the two must hold
 * the same state (master_dump of versions and steward data). */
void matchdb_reload(matchdb_t *db, bool same);

#endif
