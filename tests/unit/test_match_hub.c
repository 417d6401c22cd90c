/* test_match_hub.c - the address evidence through the master-data engine against a real
 * PostgreSQL: records from systems that hold no NHS number, phone or birth date (the shape of a
 * FEBRL-style benchmark) link on names and the house, twins and a parent and child at one house
 * do not, and an engine that loads the tables again decides the same way.
 * JOINERY_NEEDS_PG: ctest gives this test the "pg" fixture (tests/CMakeLists.txt).
 *
 * The sink runs every statement the engine hands it, one transaction per event, as the hub
 * does (the same set-up as test_master_pg.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <joinery/v1/person.pb-c.h>

#include "base/config.h"
#include "master/master.h"
#include "store/migrate.h"
#include "support_fixture.h"
#include "testdb.h"

#define ERRLEN 512
#define T0 1717200000000000LL

#define ADAPTERS_TEXT                                                                              \
    "security: {curve: false}\n"                                                                   \
    "adapters:\n"                                                                                  \
    "  - name: socialcare\n"                                                                       \
    "    subscribe: [\"person.*\"]\n"                                                              \
    "  - name: crm\n"                                                                              \
    "    subscribe: [\"person.*\"]\n"                                                              \
    "  - name: health\n"                                                                           \
    "    subscribe: [\"person.*\"]\n"                                                              \
    "  - name: housing\n"                                                                          \
    "    subscribe: [\"person.*\"]\n"
static const char CONFIG_TEXT[] =
    ADAPTERS_TEXT "master_data:\n"
                  "  person:\n"
                  "    survivorship: [socialcare, crm, health, housing]\n";

/* The same hub with a number every system records alike. */
#define SHARED_SYSTEM "https://council.example/id/person"
static const char SHARED_CONFIG_TEXT[] = ADAPTERS_TEXT "master_data:\n"
                                                       "  matching:\n"
                                                       "    shared_identifier: " SHARED_SYSTEM "\n";

typedef struct {
    char dir[256];
    config_t *cfg;
    PGconn *conn;
    master_t *m;
    master_sink_t sink;
    master_result_t res;
    char why[ERRLEN];
    char last_error[ERRLEN];
    unsigned ids, events;
    int64_t clock;
} fixture_t;

static int pg_sql(void *ctx, const char *stmt, int n, const char *const *params)
{
    fixture_t *fx = ctx;
    PGresult *r = PQexecParams(fx->conn, stmt, n, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        (void)snprintf(fx->last_error, sizeof fx->last_error, "%s: %s", stmt,
                       PQerrorMessage(fx->conn));
    PQclear(r);
    return ok ? 0 : -1;
}

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

static void exec_ok(PGconn *conn, const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(conn));
    PQclear(r);
}

static master_t *new_engine(fixture_t *fx)
{
    char err[ERRLEN] = "";
    master_t *m = master_new(fx->cfg, err, sizeof err);
    if (m == NULL)
        fail_msg("master_new: %s", err);
    master_set_id_generator(m, fixture_counter_ids, &fx->ids);
    return m;
}

static int setup_with(void **state, const char *config_text)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->cfg = fixture_config(fx->dir, sizeof fx->dir, "/tmp/joinery-match-hub-XXXXXX", config_text);
    char err[ERRLEN] = "";
    char *conninfo = testdb_fresh("match_hub", err, sizeof err);
    if (conninfo == NULL)
        fail_msg("testdb_fresh: %s", err);
    fx->conn = testdb_connect(conninfo);
    free(conninfo);
    assert_non_null(fx->conn);
    if (migrate_apply(fx->conn, migrate_default_dir(), err, sizeof err) < 3)
        fail_msg("migrate_apply: %s", err);
    fx->m = new_engine(fx);
    fx->sink = (master_sink_t){fx, pg_emit, pg_sql, NULL, NULL};
    fx->clock = T0;
    *state = fx;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, CONFIG_TEXT);
}

static int setup_shared(void **state)
{
    return setup_with(state, SHARED_CONFIG_TEXT);
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    master_destroy(&fx->m);
    PQfinish(fx->conn);
    config_destroy(&fx->cfg);
    fixture_remove_dir(fx->dir);
    free(fx);
    return 0;
}

typedef struct {
    const char *given, *family, *birth, *line, *town, *postcode;
} rec_t;

/* An identifier a Person carries: its system and value. */
typedef struct {
    const char *system, *value;
} ident_t;

/* One person event in its own transaction, carrying ID when it is not NULL; returns the golden
 * record it resolved to. */
static const char *person_id(fixture_t *fx, const char *source, const char *local_id, rec_t r,
                             const ident_t *id)
{
    Joinery__V1__Identifier ident = JOINERY__V1__IDENTIFIER__INIT;
    Joinery__V1__Identifier *idents[1] = {&ident};
    Joinery__V1__Person p = JOINERY__V1__PERSON__INIT;
    Joinery__V1__HumanName name = JOINERY__V1__HUMAN_NAME__INIT;
    Joinery__V1__Address addr = JOINERY__V1__ADDRESS__INIT;
    Joinery__V1__Address *addrs[1] = {&addr};
    char *g[1] = {(char *)r.given};
    char *lines[1] = {(char *)r.line};
    name.given = g;
    name.n_given = 1;
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
    if (id != NULL) {
        ident.system = (char *)id->system;
        ident.value = (char *)id->value;
        p.identifiers = idents;
        p.n_identifiers = 1;
    }

    uint8_t buf[4096];
    size_t len = protobuf_c_message_pack((const ProtobufCMessage *)&p, buf);
    char event_id[32];
    (void)snprintf(event_id, sizeof event_id, "E%04u", ++fx->events);
    fx->clock += 1000000;
    master_event_t ev = {.source = source,
                         .event_id = event_id,
                         .type = "person.updated",
                         .local_id = local_id,
                         .occurred_at_us = fx->clock,
                         .received_at_us = fx->clock,
                         .payload_type = "joinery.v1.Person",
                         .payload = buf,
                         .payload_len = len};
    exec_ok(fx->conn, "BEGIN");
    if (master_apply(fx->m, &ev, &fx->sink, &fx->res, fx->why, sizeof fx->why) != 0)
        fail_msg("%s: %s (%s)", local_id, fx->why, fx->last_error);
    if (fx->res.outcome != MASTER_APPLIED)
        fail_msg("%s refused: %s", local_id, fx->why);
    exec_ok(fx->conn, "COMMIT");
    return fx->res.master_id;
}

static const char *person(fixture_t *fx, const char *source, const char *local_id, rec_t r)
{
    return person_id(fx, source, local_id, r, NULL);
}

static char *xref_state(fixture_t *fx, const char *local_id)
{
    const char *params[1] = {local_id};
    PGresult *r = PQexecParams(fx->conn, "SELECT link_state FROM xref WHERE local_id = $1", 1, NULL,
                               params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("xref of %s: %s", local_id, PQerrorMessage(fx->conn));
    char *v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static void assert_link_state(fixture_t *fx, const char *local_id, const char *want)
{
    char *got = xref_state(fx, local_id);
    if (strcmp(got, want) != 0)
        fail_msg("%s: link_state %s, want %s", local_id, got, want);
    free(got);
}

static void assert_not_linked(fixture_t *fx, const char *local_id)
{
    char *got = xref_state(fx, local_id);
    if (strcmp(got, "MATCH") == 0)
        fail_msg("%s was linked", local_id);
    free(got);
}

/* A town of unrelated residents, so that name frequencies mean something (the hub uses them
 * from 1,000 records on) and the town is as common as a real one. */
static void populate(fixture_t *fx)
{
    static const char *const given[] = {"Amelia", "Oscar", "Freya", "Rohan", "Isla",
                                        "Tariq",  "Nell",  "Bram",  "Ines",  "Colm"};
    static const char *const family[] = {"Archer", "Bryce", "Cole", "Dunn",   "Eade",
                                         "Frost",  "Gale",  "Hart", "Irving", "Joyce"};
    static const char *const street[] = {"Mill Lane", "Park Road", "Church Street", "Elm Grove"};
    char local[32], line[64];
    for (unsigned i = 0; i < 1100; i++) {
        (void)snprintf(local, sizeof local, "POP-%u", i);
        (void)snprintf(line, sizeof line, "%u %s", 100 + i, street[i % 4]);
        char birth[16];
        (void)snprintf(birth, sizeof birth, "19%02u-%02u-%02u", 30 + i % 60, 1 + i % 12,
                       1 + i % 28);
        (void)person(fx, "socialcare", local,
                     (rec_t){given[i % 10], family[(i / 10) % 10], birth, line,
                             i % 2 ? "Kingsford" : "Randwick", i % 8 ? NULL : "LS6 2AB"});
    }
}

/* FX's engine replaced by one master_load builds from the tables. */
static void reload(fixture_t *fx)
{
    master_t *loaded = new_engine(fx);
    char err[ERRLEN] = "";
    if (master_load(loaded, fx->conn, err, sizeof err) != 0)
        fail_msg("master_load: %s", err);
    master_destroy(&fx->m);
    fx->m = loaded;
}

static void test_a_house_links_records_without_birth_date_and_survives_a_reload(void **state)
{
    fixture_t *fx = *state;
    populate(fx);
    /* Social care has the birth date; the CRM never had one and keyed the street type short.
     * No postcode (a code that is not a UK one is dropped by the hub): the house and a locality
     * few residents share carry it. */
    char gold[40];
    (void)snprintf(gold, sizeof gold, "%s",
                   person(fx, "socialcare", "SC-1",
                          (rec_t){"Joshua", "Bensley", "1983-02-10", "31 Wattle Crescent",
                                  "Wattle Park", NULL}));
    const char *crm =
        person(fx, "crm", "CRM-1",
               (rec_t){"Joshua", "Bensley", NULL, "31 Wattle Cres", "Wattle Park", NULL});
    assert_string_equal(crm, gold);
    assert_link_state(fx, "CRM-1", "MATCH");
    /* Names keyed in each other's boxes, the same house: the same resident. */
    const char *swapped =
        person(fx, "health", "H-2",
               (rec_t){"Bensley", "Joshua", NULL, "31 Wattle Crescent", "Wattle Park", NULL});
    assert_string_equal(swapped, gold);
    assert_link_state(fx, "H-2", "MATCH");

    /* Twins at one house: same surname, birth date and house, different forenames. */
    (void)person(
        fx, "socialcare", "SC-2",
        (rec_t){"Oliver", "Quayle", "2015-06-01", "4 Banksia Street", "Banksia Vale", NULL});
    (void)person(fx, "crm", "CRM-3",
                 (rec_t){"Harry", "Quayle", "2015-06-01", "4 Banksia St", "Banksia Vale", NULL});
    assert_not_linked(fx, "CRM-3");
    /* A parent and child of one name at one house, both birth dates known. */
    (void)person(fx, "socialcare", "SC-3",
                 (rec_t){"Leon", "Marsh", "1960-03-02", "9 Acacia Avenue", "Acacia Heights", NULL});
    (void)person(fx, "crm", "CRM-4",
                 (rec_t){"Leon", "Marsh", "1992-08-19", "9 Acacia Ave", "Acacia Heights", NULL});
    assert_not_linked(fx, "CRM-4");

    /* A second engine loads the tables and finds the house again for another newcomer. */
    reload(fx);
    const char *again =
        person(fx, "housing", "HO-5",
               (rec_t){"Joshua", "Bensley", NULL, "31 Wattle Crescent", "Wattle Park", NULL});
    assert_string_equal(again, gold);
}

static long count_rows(fixture_t *fx, const char *sql)
{
    return testdb_count(fx->conn, sql);
}

/* master_data.matching.shared_identifier: the council's person number, which every system
 * records. A record without a forename (which a twin could be) links on it; the same record
 * with a number of another system does not; a number that is no number is a finding and the
 * rest of the person is kept; the golden record holds it after a reload. */
static void test_a_shared_identifier_links_what_the_forename_anchor_cannot(void **state)
{
    fixture_t *fx = *state;
    rec_t william = {"William", "Baker", "1939-05-19", "18 Charles Road", "Whitebrook", "LS6 2AB"};
    rec_t no_forename = {NULL, "Baker", "1939-05-19", "18 Charles Road", "Whitebrook", "LS6 2AB"};
    ident_t number = {SHARED_SYSTEM, "P-1234567"};
    char id[40];
    (void)snprintf(id, sizeof id, "%s", person_id(fx, "socialcare", "SC-1", william, &number));
    assert_string_equal(master_value(fx->m, id, "identifier.shared", NULL), "P1234567");

    /* Another system's number is no evidence: the record goes to a steward, as a twin would. */
    ident_t other = {"https://trust.example/id/mrn", "P-1234567"};
    (void)person_id(fx, "health", "H-1", no_forename, &other);
    assert_not_linked(fx, "H-1");

    /* A number that is no number: dropped, with a finding; the rest of the person is kept. */
    ident_t junk = {SHARED_SYSTEM, "--"};
    (void)person_id(fx, "health", "H-2", william, &junk);
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM person_data_quality WHERE field = "
                                    "'identifier.shared' AND local_id = 'H-2'"),
                     1);

    /* A reload holds the number, and the CRM's record without a forename links on it. */
    reload(fx);
    ident_t same = {SHARED_SYSTEM, "p 1234567"};
    assert_string_equal(person_id(fx, "crm", "CRM-1", no_forename, &same), id);
    assert_link_state(fx, "CRM-1", "MATCH");
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM xref WHERE local_id = 'CRM-1' AND "
                                    "how = 'rule'"),
                     1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_a_house_links_records_without_birth_date_and_survives_a_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_shared_identifier_links_what_the_forename_anchor_cannot, setup_shared, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
