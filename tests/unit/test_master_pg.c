/* test_master_pg.c - the master-data engine against a real PostgreSQL.
 * JOINERY_NEEDS_PG: ctest gives this test the "pg" fixture (tests/CMakeLists.txt).
 *
 * The sink runs every statement the engine hands it in a fresh database
 * migrated with hub/store/migrate.c, one transaction per event, as the hub does.
 * A second engine then master_loads the tables and must hold exactly the
 * state of the first (master_dump with versions and steward state), and
 * must go on deciding exactly as the first would.
 *
 * And the rows the engines hand the hub's store are declared, table by table,
 * as static data (base/rows.h): every declaration must say what the migrated
 * schema says, so that a migration cannot silently disagree with it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <joinery/v1/master.pb-c.h>
#include <joinery/v1/person.pb-c.h>

#include "base/config.h"
#include "master/master.h"
#include "store/migrate.h"
#include "support_fixture.h"
#include "testdb.h"

#define ERRLEN 512
#define T0 1717200000000000LL

static const char CONFIG_TEXT[] =
    "security: {curve: false}\n"
    "adapters:\n"
    "  - name: health\n"
    "    subscribe: [\"person.*\"]\n"
    "  - name: socialcare\n"
    "    subscribe: [\"person.*\"]\n"
    "  - name: crm\n"
    "    subscribe: [\"person.*\"]\n"
    "  - name: steward\n"
    "master_data:\n"
    "  person:\n"
    "    fields:\n"
    "      nhs_number:   {owner: health}\n"
    "      name:         {owner: socialcare, fallback: [health, crm]}\n"
    "      birth_date:   {owner: socialcare, fallback: [health]}\n"
    "      address.home: {owner: crm, on_conflict: propose}\n"
    "      telecom:      {owner: crm}\n"
    "    survivorship: [health, socialcare, crm]\n";

/* A sink that runs the statements; emits are only counted. */
typedef struct {
    PGconn *conn;
    size_t statements, emits;
    char last_error[ERRLEN];
} pg_sink_t;

static int pg_sql(void *ctx, const char *stmt, int n, const char *const *params)
{
    pg_sink_t *s = ctx;
    PGresult *r = PQexecParams(s->conn, stmt, n, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        (void)snprintf(s->last_error, sizeof s->last_error, "%s: %s", stmt,
                       PQerrorMessage(s->conn));
    PQclear(r);
    s->statements++;
    return ok ? 0 : -1;
}

static int pg_emit(void *ctx, const char *type, const char *target, const char *master_id,
                   const char *local_id, const char *payload_type, const uint8_t *payload,
                   size_t len)
{
    (void)type;
    (void)target;
    (void)master_id;
    (void)local_id;
    (void)payload_type;
    (void)payload;
    (void)len;
    ((pg_sink_t *)ctx)->emits++;
    return 0;
}

/* Counts emits and statements without running them. */
static int null_sql(void *ctx, const char *stmt, int n, const char *const *params)
{
    (void)stmt;
    (void)n;
    (void)params;
    ((pg_sink_t *)ctx)->statements++;
    return 0;
}

static void exec_ok(PGconn *conn, const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(conn));
    PQclear(r);
}

typedef struct {
    char dir[256];
    config_t *cfg;
    PGconn *conn;
    master_t *m;
    pg_sink_t db;
    master_sink_t sink;
    master_result_t res;
    char why[ERRLEN];
    unsigned ids;
    unsigned events;
    int64_t clock;
} fixture_t;

static master_t *new_engine(fixture_t *fx)
{
    char err[ERRLEN] = "";
    master_t *m = master_new(fx->cfg, err, sizeof err);
    if (m == NULL)
        fail_msg("master_new: %s", err);
    master_set_id_generator(m, fixture_counter_ids, &fx->ids);
    return m;
}

static void open_fixture(fixture_t *fx, const char *dbname)
{
    fx->cfg = fixture_config(fx->dir, sizeof fx->dir, "/tmp/joinery-master-pg-XXXXXX", CONFIG_TEXT);
    char err[ERRLEN] = "";
    char *conninfo = testdb_fresh(dbname, err, sizeof err);
    if (conninfo == NULL)
        fail_msg("testdb_fresh: %s", err);
    fx->conn = testdb_connect(conninfo);
    free(conninfo);
    assert_non_null(fx->conn);
    if (migrate_apply(fx->conn, migrate_default_dir(), err, sizeof err) < 3)
        fail_msg("migrate_apply: %s", err);
    fx->m = new_engine(fx);
    fx->db.conn = fx->conn;
    fx->sink = (master_sink_t){&fx->db, pg_emit, pg_sql, NULL, NULL};
    fx->clock = T0;
}

static void close_fixture(fixture_t *fx)
{
    master_destroy(&fx->m);
    PQfinish(fx->conn);
    config_destroy(&fx->cfg);
    fixture_remove_dir(fx->dir);
}

/* One event in its own transaction, committed only if the engine took it. */
static void apply(fixture_t *fx, const char *source, const char *type, const char *local_id,
                  const ProtobufCMessage *msg)
{
    uint8_t buf[4096];
    size_t len = protobuf_c_message_pack(msg, buf);
    char event_id[32];
    (void)snprintf(event_id, sizeof event_id, "E%04u", ++fx->events);
    fx->clock += 1000000;
    master_event_t ev = {.source = source,
                         .event_id = event_id,
                         .type = type,
                         .local_id = local_id,
                         .occurred_at_us = fx->clock,
                         .received_at_us = fx->clock,
                         .payload_type = msg->descriptor->name,
                         .payload = buf,
                         .payload_len = len};
    exec_ok(fx->conn, "BEGIN");
    int rc = master_apply(fx->m, &ev, &fx->sink, &fx->res, fx->why, sizeof fx->why);
    if (rc != 0)
        fail_msg("%s %s: %s (%s)", type, local_id, fx->why, fx->db.last_error);
    if (fx->res.outcome != MASTER_APPLIED)
        fail_msg("%s %s refused: %s", type, local_id, fx->why);
    exec_ok(fx->conn, "COMMIT");
}

static void person(fixture_t *fx, const char *source, const char *local_id, const char *nhs,
                   const char *given, const char *family, const char *birth, const char *postcode,
                   const char *email)
{
    Joinery__V1__Person p = JOINERY__V1__PERSON__INIT;
    Joinery__V1__HumanName name = JOINERY__V1__HUMAN_NAME__INIT;
    Joinery__V1__Address addr = JOINERY__V1__ADDRESS__INIT;
    Joinery__V1__Address *addrs[1];
    Joinery__V1__ContactPoint tel = JOINERY__V1__CONTACT_POINT__INIT;
    Joinery__V1__ContactPoint *tels[1];
    Joinery__V1__Consent consent = JOINERY__V1__CONSENT__INIT;
    Joinery__V1__Consent *consents[1];
    char *g[1] = {(char *)given};
    char *lines[1] = {"1 O'Connell \"Street\""}; /* quotes must survive JSON */
    if (nhs)
        p.nhs_number = (char *)nhs;
    if (given) {
        name.given = g;
        name.n_given = 1;
    }
    if (family)
        name.family = (char *)family;
    if (given || family)
        p.name = &name;
    if (birth)
        p.birth_date = (char *)birth;
    if (postcode) {
        addr.use = "home";
        addr.postcode = (char *)postcode;
        addr.lines = lines;
        addr.n_lines = 1;
        addrs[0] = &addr;
        p.addresses = addrs;
        p.n_addresses = 1;
    }
    if (email) {
        tel.system = "email";
        tel.value = (char *)email;
        tels[0] = &tel;
        p.telecom = tels;
        p.n_telecom = 1;
        consent.purpose = "direct-care";
        consent.granted = 1;
        consents[0] = &consent;
        p.consents = consents;
        p.n_consents = 1;
    }
    apply(fx, source, "person.updated", local_id, (const ProtobufCMessage *)&p);
}

static void decision(fixture_t *fx, const char *type, const char *a, const char *b, uint64_t q)
{
    Joinery__V1__StewardDecision d = JOINERY__V1__STEWARD_DECISION__INIT;
    d.master_id_a = (char *)(a ? a : "");
    d.master_id_b = (char *)(b ? b : "");
    d.queue_id = q;
    d.decided_by = "steward@council.example";
    apply(fx, "steward", type, "", (const ProtobufCMessage *)&d);
}

static char *dump(const master_t *m)
{
    char *out = NULL;
    assert_int_equal(master_dump(m, MASTER_DUMP_VERSIONS | MASTER_DUMP_STEWARD, &out, NULL), 0);
    return out;
}

static char *scalar(PGconn *conn, const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("%s: %s", sql, PQerrorMessage(conn));
    char *v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static void assert_scalar(PGconn *conn, const char *sql, const char *want)
{
    char *got = scalar(conn, sql);
    assert_string_equal(got, want);
    free(got);
}

/* A history worth reloading: links, a refusal, a queue item decided and one
 * left open, a merge undone, a merge left in place, a source system's merge. */
static void build_history(fixture_t *fx)
{
    person(fx, "health", "H1", "9434765919", "Anne", "Jones", "1984-03-07", "LS1 4AB", NULL);
    /* socialcare, the owner, corrects the birth date (day and month swapped) */
    person(fx, "socialcare", "S1", "9434765919", "Anne", "Jones", "1984-07-03", NULL, NULL);
    person(fx, "crm", "C1", "9434765919", NULL, "Jones", "1984-03-07", "LS1 5AB", "a@x.org");
    person(fx, "crm", "C1", NULL, NULL, NULL, "1990-01-01", NULL, NULL); /* refused: owner */
    person(fx, "health", "H2", NULL, "Omar", "Haddad", "1975-11-30", "LS6 2QT", NULL); /* P0002 */
    person(fx, "crm", "C2", NULL, "Omar", "Haddad", "1975-11-30", "LS9 8AA", NULL);    /* P0003 */
    assert_int_equal(master_steward_count(fx->m), 1);
    decision(fx, "steward.keep_apart", NULL, NULL, 1);
    person(fx, "socialcare", "S3", NULL, "Omar", "Haddad", "1975-11-30", "LS7 1AA", NULL);
    assert_string_equal(fx->res.master_id, "P0004");
    person(fx, "health", "H4", "4010232137", "Robert", "Ellison", "1950-01-20", "LS2 7HY", NULL);
    person(fx, "socialcare", "S4", "4010232137", "Bob", "Ellison", "1950-01-20", NULL, "b@x.org");
    assert_string_equal(fx->res.master_id, "P0005");
    person(fx, "health", "H5", "4857773457", "Ewa", "Nowak", "1960-06-06", "LS3 1AB", NULL);
    assert_string_equal(fx->res.master_id, "P0006");
    decision(fx, "steward.merge", "P0005", "P0006", 0);
    decision(fx, "steward.unmerge", "P0005", "P0006", 0);
    decision(fx, "steward.merge", "P0001", "P0006", 0); /* left in place */

    Joinery__V1__PersonMerged pm = JOINERY__V1__PERSON_MERGED__INIT;
    pm.survivor_local_id = "H4";
    pm.retired_local_id = "H2";
    pm.reason = "A40";
    apply(fx, "health", "person.merged", "H4", (const ProtobufCMessage *)&pm);
    assert_true(master_steward_count(fx->m) >= 1);
}

static void test_load_rebuilds_the_same_state(void **state)
{
    (void)state;
    fixture_t fx = {0};
    open_fixture(&fx, "test_master_pg_load");
    build_history(&fx);
    assert_scalar(fx.conn, "SELECT count(*) FROM golden_person WHERE state = 'REDIRECTED'", "2");
    assert_scalar(fx.conn, "SELECT count(*) FROM golden_merge WHERE state = 'UNMERGED'", "1");
    assert_scalar(fx.conn, "SELECT count(*) FROM keep_apart", "2");
    assert_scalar(fx.conn,
                  "SELECT fields->'address.home'->>'v' FROM golden_person WHERE master_id = "
                  "'P0005'",
                  "1 O'Connell \"Street\"||LS2 7HY|");
    assert_scalar(fx.conn,
                  "SELECT count(*) > 0 FROM master_audit WHERE action = 'refuse' AND "
                  "detail->>'field' = 'birth_date'",
                  "t");

    char *before = dump(fx.m);
    master_t *loaded = new_engine(&fx);
    char err[ERRLEN] = "";
    if (master_load(loaded, fx.conn, err, sizeof err) != 0)
        fail_msg("master_load: %s", err);
    char *after = dump(loaded);
    assert_string_equal(before, after);
    assert_int_equal(master_golden_count(loaded), master_golden_count(fx.m));
    assert_int_equal(master_steward_count(loaded), master_steward_count(fx.m));

    /* Loading again over a loaded engine gives the same state, not double. */
    if (master_load(loaded, fx.conn, err, sizeof err) != 0)
        fail_msg("second master_load: %s", err);
    char *again = dump(loaded);
    assert_string_equal(before, again);

    /* The loaded engine decides as the first would: the same next event on
     * both (unmerging the merge left in place, then a new possible match that
     * takes the next queue id) leaves both in the same state. */
    pg_sink_t counter = {0};
    master_sink_t dry = {&counter, pg_emit, null_sql, NULL, NULL};
    unsigned ids = fx.ids;
    master_t *engines[2] = {fx.m, loaded};
    for (int i = 0; i < 2; i++) {
        fx.ids = ids;
        Joinery__V1__StewardDecision d = JOINERY__V1__STEWARD_DECISION__INIT;
        d.master_id_a = "P0001";
        d.master_id_b = "P0006";
        uint8_t buf[256];
        size_t len = joinery__v1__steward_decision__pack(&d, buf);
        master_event_t ev = {.source = "steward",
                             .event_id = "X1",
                             .type = "steward.unmerge",
                             .local_id = "",
                             .received_at_us = T0 + 900000000,
                             .payload_type = "joinery.v1.StewardDecision",
                             .payload = buf,
                             .payload_len = len};
        assert_int_equal(master_apply(engines[i], &ev, &dry, &fx.res, fx.why, sizeof fx.why), 0);
        assert_int_equal(fx.res.outcome, MASTER_APPLIED);
        Joinery__V1__Person p = JOINERY__V1__PERSON__INIT;
        Joinery__V1__HumanName name = JOINERY__V1__HUMAN_NAME__INIT;
        char *g[1] = {"Omar"};
        name.given = g;
        name.n_given = 1;
        name.family = "Haddad";
        p.name = &name;
        p.birth_date = "1975-11-30";
        len = joinery__v1__person__pack(&p, buf);
        ev = (master_event_t){.source = "crm",
                              .event_id = "X2",
                              .type = "person.updated",
                              .local_id = "C-next",
                              .received_at_us = T0 + 901000000,
                              .payload_type = "joinery.v1.Person",
                              .payload = buf,
                              .payload_len = len};
        assert_int_equal(master_apply(engines[i], &ev, &dry, &fx.res, fx.why, sizeof fx.why), 0);
        assert_int_equal(fx.res.outcome, MASTER_APPLIED);
    }
    char *first = dump(fx.m);
    char *second = dump(loaded);
    assert_string_equal(first, second);
    assert_non_null(strstr(first, "keep_apart P0001 P0006"));

    free(first);
    free(second);
    free(before);
    free(after);
    free(again);
    master_destroy(&loaded);
    close_fixture(&fx);
}

static void test_failed_load_leaves_an_engine_that_refuses_work(void **state)
{
    (void)state;
    fixture_t fx = {0};
    open_fixture(&fx, "test_master_pg_badload");
    person(&fx, "health", "H1", "9434765919", "Anne", "Jones", "1984-03-07", "LS1 4AB", NULL);
    exec_ok(fx.conn, "UPDATE golden_person SET fields = '{\"sex\": 1}'");
    master_t *m = new_engine(&fx);
    char err[ERRLEN] = "";
    assert_int_equal(master_load(m, fx.conn, err, sizeof err), -1);
    assert_non_null(strstr(err, "P0001"));
    assert_int_equal(master_golden_count(m), 0);
    Joinery__V1__Person p = JOINERY__V1__PERSON__INIT;
    uint8_t buf[16];
    size_t len = joinery__v1__person__pack(&p, buf);
    master_event_t ev = {.source = "crm",
                         .event_id = "E",
                         .type = "person.updated",
                         .local_id = "C1",
                         .received_at_us = T0,
                         .payload_type = "joinery.v1.Person",
                         .payload = buf,
                         .payload_len = len};
    pg_sink_t counter = {0};
    master_sink_t dry = {&counter, pg_emit, null_sql, NULL, NULL};
    assert_int_equal(master_apply(m, &ev, &dry, &fx.res, fx.why, sizeof fx.why), -1);
    assert_non_null(strstr(fx.why, "reloaded"));
    assert_int_equal(counter.statements + counter.emits, 0);
    /* Put right, the table loads again. */
    exec_ok(fx.conn, "DELETE FROM xref");
    exec_ok(fx.conn, "DELETE FROM golden_person");
    assert_int_equal(master_load(m, fx.conn, err, sizeof err), 0);
    assert_int_equal(master_apply(m, &ev, &dry, &fx.res, fx.why, sizeof fx.why), 0);
    master_destroy(&m);
    close_fixture(&fx);
}

/* Every table the engines write rows to, after the migrations: each declared column is there
 * with the declared type, and every column left out of the rows takes a default or may be
 * NULL (a binary COPY of the declared columns fills the rest so). */
static void test_row_declarations_match_the_schema(void **state)
{
    (void)state;
    fixture_t fx = {0};
    open_fixture(&fx, "test_master_pg_rows");
    const row_desc_t *rows[32];
    size_t n = master_row_tables(rows, 32);
    assert_true(n >= 11 && n <= 32); /* 3 kinds x (golden, xref, history), audit, queue */
    for (size_t i = 0; i < n; i++) {
        const row_desc_t *d = rows[i];
        for (size_t j = 0; j < i; j++)
            assert_true(strcmp(rows[j]->table, d->table) != 0);
        assert_true(d->ncols > 0 && d->ncols <= ROW_MAX_COLS);
        const char *p[1] = {d->table};
        PGresult *r = PQexecParams(fx.conn,
                                   "SELECT a.attname, format_type(a.atttypid, NULL), "
                                   "a.attnotnull AND NOT a.atthasdef "
                                   "FROM pg_attribute a WHERE a.attrelid = $1::regclass "
                                   "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                                   1, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            fail_msg("%s: %s", d->table, PQerrorMessage(fx.conn));
        int found = 0;
        for (int t = 0; t < PQntuples(r); t++) {
            const char *name = PQgetvalue(r, t, 0), *type = PQgetvalue(r, t, 1);
            int c = 0;
            while (c < d->ncols && strcmp(d->cols[c].name, name) != 0)
                c++;
            if (c == d->ncols) {
                if (strcmp(PQgetvalue(r, t, 2), "t") == 0)
                    fail_msg("%s.%s is NOT NULL without a default, and no row gives it", d->table,
                             name);
                continue;
            }
            found++;
            if (strcmp(type, row_type_sql(d->cols[c].type)) != 0)
                fail_msg("%s.%s is %s in the schema, declared %s", d->table, name, type,
                         row_type_sql(d->cols[c].type));
        }
        PQclear(r);
        if (found != d->ncols)
            fail_msg("%s: %d of its %d declared columns are not in the table", d->table,
                     d->ncols - found, d->ncols);
    }
    close_fixture(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_row_declarations_match_the_schema),
        cmocka_unit_test(test_load_rebuilds_the_same_state),
        cmocka_unit_test(test_failed_load_leaves_an_engine_that_refuses_work),
    };
    return cmocka_run_group_tests_name("master_pg", tests, NULL, NULL);
}
