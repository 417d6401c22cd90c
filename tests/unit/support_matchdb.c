/* support_matchdb.c - the master-data engine against PostgreSQL for tests (support_matchdb.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <joinery/v1/person.pb-c.h>

#include "store/migrate.h"
#include "support_fixture.h"
#include "support_matchdb.h"
#include "testdb.h"

#define T0 1717200000000000LL

static int pg_sql(void *ctx, const char *stmt, int n, const char *const *params)
{
    matchdb_t *db = ctx;
    PGresult *r = PQexecParams(db->conn, stmt, n, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        (void)snprintf(db->last_error, sizeof db->last_error, "%s: %s", stmt,
                       PQerrorMessage(db->conn));
    PQclear(r);
    return ok ? 0 : -1;
}

/* What the engine sends is not what these tests look at. */
static int pg_emit(void *ctx, const char *type, const char *target, const char *master_id,
                   const char *local_id, const char *payload_type, const uint8_t *payload,
                   size_t len)
{
    (void)ctx;
    (void)type;
    (void)target;
    (void)master_id;
    (void)local_id;
    (void)payload_type;
    (void)payload;
    (void)len;
    return 0;
}

void matchdb_exec(matchdb_t *db, const char *sql)
{
    PGresult *r = PQexec(db->conn, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(db->conn));
    PQclear(r);
}

master_t *matchdb_engine(matchdb_t *db)
{
    char err[MATCHDB_ERRLEN] = "";
    master_t *m = master_new(db->cfg, err, sizeof err);
    if (m == NULL)
        fail_msg("master_new: %s", err);
    master_set_id_generator(m, fixture_counter_ids, &db->ids);
    return m;
}

int matchdb_setup(void **state, const char *db_name, const char *dir_template,
                  const char *config_text)
{
    matchdb_t *db = calloc(1, sizeof *db);
    assert_non_null(db);
    db->cfg = fixture_config(db->dir, sizeof db->dir, dir_template, config_text);
    char err[MATCHDB_ERRLEN] = "";
    char *conninfo = testdb_fresh(db_name, err, sizeof err);
    if (conninfo == NULL)
        fail_msg("testdb_fresh: %s", err);
    db->conn = testdb_connect(conninfo);
    free(conninfo);
    assert_non_null(db->conn);
    if (migrate_apply(db->conn, migrate_default_dir(), err, sizeof err) < 3)
        fail_msg("migrate_apply: %s", err);
    db->m = matchdb_engine(db);
    db->sink = (master_sink_t){db, pg_emit, pg_sql, NULL, NULL};
    db->clock = T0;
    *state = db;
    return 0;
}

int matchdb_teardown(void **state)
{
    matchdb_t *db = *state;
    master_destroy(&db->m);
    PQfinish(db->conn);
    config_destroy(&db->cfg);
    fixture_remove_dir(db->dir);
    free(db);
    return 0;
}

const char *matchdb_apply(matchdb_t *db, const char *source, const char *type, const char *local_id,
                          const char *payload_type, const uint8_t *payload, size_t len)
{
    char event_id[32];
    (void)snprintf(event_id, sizeof event_id, "E%04u", ++db->events);
    db->clock += 1000000;
    master_event_t ev = {.source = source,
                         .event_id = event_id,
                         .type = type,
                         .local_id = local_id,
                         .occurred_at_us = db->clock,
                         .received_at_us = db->clock,
                         .payload_type = payload_type,
                         .payload = payload,
                         .payload_len = len};
    if (!db->batch)
        matchdb_exec(db, "BEGIN");
    if (master_apply(db->m, &ev, &db->sink, &db->res, db->why, sizeof db->why) != 0)
        fail_msg("%s %s: %s (%s)", type, local_id, db->why, db->last_error);
    if (db->res.outcome != MASTER_APPLIED)
        fail_msg("%s %s refused: %s", type, local_id, db->why);
    if (!db->batch)
        matchdb_exec(db, "COMMIT");
    return db->res.master_id;
}

const char *matchdb_person(matchdb_t *db, const char *source, const char *local_id, matchdb_rec_t r,
                           const matchdb_also_t *also)
{
    static const matchdb_also_t none;
    const matchdb_also_t *x = also ? also : &none;
    Joinery__V1__Person p = JOINERY__V1__PERSON__INIT;
    Joinery__V1__HumanName name = JOINERY__V1__HUMAN_NAME__INIT;
    Joinery__V1__Address addr = JOINERY__V1__ADDRESS__INIT;
    Joinery__V1__Address old = JOINERY__V1__ADDRESS__INIT;
    Joinery__V1__Address *addrs[2] = {&addr, &old};
    Joinery__V1__HumanName other = JOINERY__V1__HUMAN_NAME__INIT;
    Joinery__V1__HumanName *others[1] = {&other};
    Joinery__V1__Identifier ident = JOINERY__V1__IDENTIFIER__INIT;
    Joinery__V1__Identifier *idents[1] = {&ident};
    char *other_given[1] = {(char *)x->other_given};
    char *old_lines[1] = {(char *)x->old_line};
    char *g[1] = {(char *)r.given};
    char *lines[1] = {(char *)r.line};
    name.given = g;
    name.n_given = r.given ? 1 : 0;
    name.family = (char *)r.family;
    p.name = &name;
    if (r.birth)
        p.birth_date = (char *)r.birth;
    addr.use = "home";
    addr.lines = lines;
    addr.n_lines = 1;
    addr.town = (char *)r.town;
    addr.postcode = (char *)r.postcode;
    p.addresses = addrs;
    p.n_addresses = 1;
    if (x->old_line != NULL) {
        old.use = "old";
        old.lines = old_lines;
        old.n_lines = 1;
        old.town = (char *)x->old_town;
        old.postcode = (char *)x->old_postcode;
        p.n_addresses = 2;
    }
    if (x->other_family != NULL) {
        other.use = "maiden";
        other.given = other_given;
        other.n_given = x->other_given ? 1 : 0;
        other.family = (char *)x->other_family;
        p.other_names = others;
        p.n_other_names = 1;
    }
    if (x->id_system != NULL) {
        ident.system = (char *)x->id_system;
        ident.value = (char *)x->id_value;
        p.identifiers = idents;
        p.n_identifiers = 1;
    }
    uint8_t buf[4096];
    assert_true(protobuf_c_message_get_packed_size((const ProtobufCMessage *)&p) <= sizeof buf);
    size_t len = protobuf_c_message_pack((const ProtobufCMessage *)&p, buf);
    return matchdb_apply(db, source, "person.updated", local_id, "joinery.v1.Person", buf, len);
}

/* LOCAL_ID's link_state, malloc'd. */
static char *xref_state(matchdb_t *db, const char *local_id)
{
    const char *params[1] = {local_id};
    PGresult *r = PQexecParams(db->conn, "SELECT link_state FROM xref WHERE local_id = $1", 1, NULL,
                               params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("xref of %s: %s", local_id, PQerrorMessage(db->conn));
    char *v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    assert_non_null(v);
    return v;
}

void matchdb_assert_link_state(matchdb_t *db, const char *local_id, const char *want)
{
    char *got = xref_state(db, local_id);
    if (strcmp(got, want) != 0)
        fail_msg("%s: link_state %s, want %s", local_id, got, want);
    free(got);
}

void matchdb_assert_not_linked(matchdb_t *db, const char *local_id)
{
    char *got = xref_state(db, local_id);
    if (strcmp(got, "MATCH") == 0)
        fail_msg("%s was linked", local_id);
    free(got);
}

void matchdb_populate(matchdb_t *db)
{
    static const char *const given[] = {"Amelia", "Oscar", "Freya", "Rohan", "Isla",
                                        "Tariq",  "Nell",  "Bram",  "Ines",  "Colm"};
    static const char *const family[] = {"Archer", "Bryce", "Cole", "Dunn",   "Eade",
                                         "Frost",  "Gale",  "Hart", "Irving", "Joyce"};
    static const char *const street[] = {"Mill Lane", "Park Road", "Church Street", "Elm Grove"};
    char local[32], line[64], birth[16];
    /* One transaction for them all: a commit each made this most of a test's time. */
    matchdb_exec(db, "BEGIN");
    db->batch = true;
    for (unsigned i = 0; i < 1100; i++) {
        (void)snprintf(local, sizeof local, "POP-%u", i);
        (void)snprintf(line, sizeof line, "%u %s", 100 + i, street[i % 4]);
        (void)snprintf(birth, sizeof birth, "19%02u-%02u-%02u", 30 + i % 60, 1 + i % 12,
                       1 + i % 28);
        (void)matchdb_person(db, "socialcare", local,
                             (matchdb_rec_t){given[i % 10], family[(i / 10) % 10], birth, line,
                                             i % 2 ? "Kingsford" : "Randwick",
                                             i % 8 ? NULL : "LS6 2AB"},
                             NULL);
    }
    db->batch = false;
    matchdb_exec(db, "COMMIT");
}

void matchdb_reload(matchdb_t *db, bool same)
{
    master_t *loaded = matchdb_engine(db);
    char err[MATCHDB_ERRLEN] = "";
    if (master_load(loaded, db->conn, err, sizeof err) != 0)
        fail_msg("master_load: %s", err);
    if (same) {
        char *before = NULL, *after = NULL;
        unsigned flags = MASTER_DUMP_VERSIONS | MASTER_DUMP_STEWARD;
        assert_int_equal(master_dump(db->m, flags, &before, NULL), 0);
        assert_int_equal(master_dump(loaded, flags, &after, NULL), 0);
        assert_string_equal(before, after);
        free(before);
        free(after);
    }
    master_destroy(&db->m);
    db->m = loaded;
}
