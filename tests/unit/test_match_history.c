/* test_match_history.c - a person's previous addresses and names through the master-data engine
 * against a real PostgreSQL (issue 17, item 8): a resident who moved is found by the address
 * they left, and is not with the lookup turned off (master_set_history); that survives a
 * restart (master_load); another person at that address is not linked to them; a match on a
 * forename the record no longer has goes to a steward; no more than the bound is kept; and a
 * steward's merge gives the survivor the retired record's addresses and names, which an unmerge
 * takes back, and a restart folds in again; and addresses a system marks "old" and the other
 * names it sends are kept as the record's previous values too.
 * JOINERY_NEEDS_PG: ctest gives this test the "pg" fixture (tests/CMakeLists.txt).
 *
 * The sink runs every statement the engine hands it, one transaction per event, as the hub
 * does (the same set-up as test_match_hub.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <joinery/v1/master.pb-c.h>
#include <joinery/v1/person.pb-c.h>

#include "base/config.h"
#include "master/master.h"
#include "store/migrate.h"
#include "support_fixture.h"
#include "testdb.h"

#define ERRLEN 512
#define T0 1717200000000000LL

static const char CONFIG_TEXT[] = "security: {curve: false}\n"
                                  "adapters:\n"
                                  "  - name: socialcare\n"
                                  "    subscribe: [\"person.*\"]\n"
                                  "  - name: crm\n"
                                  "    subscribe: [\"person.*\"]\n"
                                  "  - name: health\n"
                                  "    subscribe: [\"person.*\"]\n"
                                  "  - name: housing\n"
                                  "    subscribe: [\"person.*\"]\n"
                                  "  - name: steward\n"
                                  "master_data:\n"
                                  "  person:\n"
                                  "    survivorship: [socialcare, crm, health, housing]\n";

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
    bool batch; /* person() runs inside the caller's transaction */
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

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->cfg =
        fixture_config(fx->dir, sizeof fx->dir, "/tmp/joinery-match-history-XXXXXX", CONFIG_TEXT);
    char err[ERRLEN] = "";
    char *conninfo = testdb_fresh("match_history", err, sizeof err);
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

/* What a sender may add: an address it marks "old", and another name. */
typedef struct {
    const char *old_line, *old_town, *old_postcode;
    const char *other_given, *other_family;
} also_t;

/* One person event in its own transaction, with X (may be NULL); returns the golden record it
 * resolved to. */
static const char *person_also(fixture_t *fx, const char *source, const char *local_id, rec_t r,
                               const also_t *x)
{
    static const also_t none;
    if (x == NULL)
        x = &none;
    Joinery__V1__Person p = JOINERY__V1__PERSON__INIT;
    Joinery__V1__HumanName name = JOINERY__V1__HUMAN_NAME__INIT;
    Joinery__V1__Address addr = JOINERY__V1__ADDRESS__INIT;
    Joinery__V1__Address old = JOINERY__V1__ADDRESS__INIT;
    Joinery__V1__Address *addrs[2] = {&addr, &old};
    Joinery__V1__HumanName other = JOINERY__V1__HUMAN_NAME__INIT;
    Joinery__V1__HumanName *others[1] = {&other};
    char *other_given[1] = {(char *)x->other_given};
    char *old_lines[1] = {(char *)x->old_line};
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
    if (!fx->batch)
        exec_ok(fx->conn, "BEGIN");
    if (master_apply(fx->m, &ev, &fx->sink, &fx->res, fx->why, sizeof fx->why) != 0)
        fail_msg("%s: %s (%s)", local_id, fx->why, fx->last_error);
    if (fx->res.outcome != MASTER_APPLIED)
        fail_msg("%s refused: %s", local_id, fx->why);
    if (!fx->batch)
        exec_ok(fx->conn, "COMMIT");
    return fx->res.master_id;
}

static const char *person(fixture_t *fx, const char *source, const char *local_id, rec_t r)
{
    return person_also(fx, source, local_id, r, NULL);
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
    /* One transaction for them all: a commit each made this most of the test's time. */
    exec_ok(fx->conn, "BEGIN");
    fx->batch = true;
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
    fx->batch = false;
    exec_ok(fx->conn, "COMMIT");
}

/* The number of rows SQL counts. */
static long count_rows(fixture_t *fx, const char *sql)
{
    return testdb_count(fx->conn, sql);
}

/* The dump's lines that start with "previous ID KIND". */
static int count_previous(master_t *m, const char *id, const char *kind)
{
    char *out = NULL;
    if (master_dump(m, MASTER_DUMP_VERSIONS, &out, NULL) != 0)
        fail_msg("master_dump failed");
    char want[64];
    (void)snprintf(want, sizeof want, "previous %s %s = ", id, kind);
    int n = 0;
    for (const char *line = out; line != NULL && *line; line = strchr(line, '\n')) {
        if (*line == '\n')
            line++;
        n += strncmp(line, want, strlen(want)) == 0;
    }
    free(out);
    return n;
}

#define OLD_LINE "14 Larch Walk"
#define OLD_TOWN "Harrowgate Vale"
#define OLD_PC "HG2 7QT"
#define NEW_LINE "3 Quay Street"
#define NEW_TOWN "Saltmarsh"
#define NEW_PC "TR7 1DD"

/* Social care knows Naomi Ferrand at her old address, then hears she moved. Returns her golden
 * record's id, in ID. */
static void naomi_moves(fixture_t *fx, char id[40])
{
    populate(fx);
    (void)snprintf(id, 40, "%s",
                   person(fx, "socialcare", "SC-1",
                          (rec_t){"Naomi", "Ferrand", "1979-11-23", OLD_LINE, OLD_TOWN, OLD_PC}));
    const char *same =
        person(fx, "socialcare", "SC-1",
               (rec_t){"Naomi", "Ferrand", "1979-11-23", NEW_LINE, NEW_TOWN, NEW_PC});
    assert_string_equal(same, id);
    assert_int_equal(count_previous(fx->m, id, "address"), 1);
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM golden_person_previous WHERE kind = "
                                    "'address' AND source = 'socialcare'"),
                     1);
}

/* The CRM never heard of the move: its record is at the address she left. */
static const char *crm_at_old_address(fixture_t *fx, const char *local_id)
{
    return person(fx, "crm", local_id,
                  (rec_t){"Naomi", "Ferrand", "1979-11-23", OLD_LINE, OLD_TOWN, OLD_PC});
}

/* The same for Imogen Tarrant, who moved too. */
static void imogen_moves(fixture_t *fx)
{
    (void)person(
        fx, "socialcare", "SC-2",
        (rec_t){"Imogen", "Tarrant", "1991-05-06", "22 Wren Way", "Upper Dunmore", "DN4 8JS"});
    (void)person(fx, "socialcare", "SC-2",
                 (rec_t){"Imogen", "Tarrant", "1991-05-06", "7 Pier Road", "Whitsea", "TR9 3LB"});
}

/* The engine as master_load builds it from the database holds what FX's engine holds; FX's
 * engine is replaced by it. */
static void restart_same(fixture_t *fx)
{
    master_t *loaded = new_engine(fx);
    char err[ERRLEN] = "";
    if (master_load(loaded, fx->conn, err, sizeof err) != 0)
        fail_msg("master_load: %s", err);
    char *before = NULL, *after = NULL;
    unsigned flags = MASTER_DUMP_VERSIONS | MASTER_DUMP_STEWARD;
    assert_int_equal(master_dump(fx->m, flags, &before, NULL), 0);
    assert_int_equal(master_dump(loaded, flags, &after, NULL), 0);
    assert_string_equal(before, after);
    free(before);
    free(after);
    master_destroy(&fx->m);
    fx->m = loaded;
}

/* One database for the scenarios of a move: each fresh database costs seconds. */
static void test_a_resident_who_moved_is_found_by_the_address_they_left(void **state)
{
    fixture_t *fx = *state;
    char id[40];
    naomi_moves(fx, id);
    imogen_moves(fx);

    /* Without the lookup the previous address is kept but not compared: Imogen's CRM record at
     * the address she left is not linked. */
    master_set_history(fx->m, false);
    (void)person(
        fx, "crm", "CRM-2",
        (rec_t){"Imogen", "Tarrant", "1991-05-06", "22 Wren Way", "Upper Dunmore", "DN4 8JS"});
    assert_not_linked(fx, "CRM-2");
    master_set_history(fx->m, true);

    /* With it, Naomi's is. */
    assert_string_equal(crm_at_old_address(fx, "CRM-1"), id);
    assert_link_state(fx, "CRM-1", "MATCH");
    /* The audit trail says the link was made on a previous address, and from which system. */
    assert_int_equal(
        count_rows(fx, "SELECT count(*) FROM master_audit WHERE action = 'link_evidence' AND "
                       "detail->>'matched_previous' = 'address' AND "
                       "detail->>'system' = 'socialcare' AND "
                       "detail->>'reason' LIKE '%address matched a previous address, from "
                       "socialcare, until 2024-%'"),
        1);

    /* Her sister, who stayed: another forename and birth date. */
    const char *sister = person(
        fx, "crm", "CRM-3", (rec_t){"Ruth", "Ferrand", "1983-04-02", OLD_LINE, OLD_TOWN, OLD_PC});
    assert_string_not_equal(sister, id);
    assert_link_state(fx, "CRM-3", "NO_MATCH");
    /* Her daughter of the same name, born 25 years later. */
    const char *daughter = person(
        fx, "health", "H-4", (rec_t){"Naomi", "Ferrand", "2004-06-17", OLD_LINE, OLD_TOWN, OLD_PC});
    assert_string_not_equal(daughter, id);
    assert_not_linked(fx, "H-4");

    /* A restart (master_load) holds the same state, previous values and all, and still finds
     * her by the address she left. */
    restart_same(fx);
    assert_int_equal(count_previous(fx->m, id, "address"), 1);
    assert_string_equal(
        person(fx, "housing", "HO-5",
               (rec_t){"Naomi", "Ferrand", "1979-11-23", OLD_LINE, OLD_TOWN, OLD_PC}),
        id);
    assert_link_state(fx, "HO-5", "MATCH");

    /* A namesake (same name and birth date) in the district she left, at another house and
     * postcode: near an old address is not at it. */
    const char *namesake =
        person(fx, "health", "H-6",
               (rec_t){"Naomi", "Ferrand", "1979-11-23", "90 Birch Avenue", OLD_TOWN, "HG2 9ZZ"});
    assert_string_not_equal(namesake, id);
    assert_not_linked(fx, "H-6");
}

static void test_a_previous_forename_goes_to_a_steward_and_a_previous_surname_links(void **state)
{
    fixture_t *fx = *state;
    populate(fx);
    char id[40];
    (void)snprintf(
        id, sizeof id, "%s",
        person(fx, "socialcare", "SC-1",
               (rec_t){"Kasia", "Nowicka", "1990-02-14", "8 Fern Row", "Lowmoor", "BD9 4RT"}));
    /* Married, and moved: both the surname and the address are replaced. */
    (void)person(fx, "socialcare", "SC-1",
                 (rec_t){"Kasia", "Brennan", "1990-02-14", "51 Gull Lane", "Eastwick", "NR3 2PP"});
    assert_int_equal(count_previous(fx->m, id, "name"), 1);
    /* Housing still has her maiden name at the new address. */
    assert_string_equal(
        person(fx, "housing", "HO-1",
               (rec_t){"Kasia", "Nowicka", "1990-02-14", "51 Gull Lane", "Eastwick", "NR3 2PP"}),
        id);
    assert_link_state(fx, "HO-1", "MATCH");
    /* The forename put right: the old one finds the record only for a steward (a twin may
     * carry it). */
    (void)person(
        fx, "socialcare", "SC-1",
        (rec_t){"Katarzyna", "Brennan", "1990-02-14", "51 Gull Lane", "Eastwick", "NR3 2PP"});
    assert_int_equal(count_previous(fx->m, id, "name"), 2);
    (void)person(fx, "crm", "CRM-9",
                 (rec_t){"Kasia", "Brennan", "1990-02-14", "51 Gull Lane", "Eastwick", "NR3 2PP"});
    assert_link_state(fx, "CRM-9", "POSSIBLE_MATCH");
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM steward_queue WHERE evidence->"
                                    "'previous'->>'field' = 'name' AND evidence->>'reason' LIKE "
                                    "'%a forename it no longer has%'"),
                     1);
}

static void test_no_more_than_three_addresses_and_two_names_are_kept(void **state)
{
    fixture_t *fx = *state;
    populate(fx);
    static const char *const lines[] = {"1 Ash Close", "2 Birch Close", "3 Cedar Close",
                                        "4 Damson Close", "5 Elder Close"};
    static const char *const pcs[] = {"YO1 1AA", "YO2 2BB", "YO3 3CC", "YO4 4DD", "YO5 5EE"};
    static const char *const surnames[] = {"Quill", "Rook", "Sorrel", "Thorne"};
    char id[40] = "";
    for (int i = 0; i < 5; i++) {
        const char *got = person(fx, "socialcare", "SC-7",
                                 (rec_t){"Ottilie", surnames[i < 3 ? i : 3], "1966-08-30", lines[i],
                                         "Yarrowby", pcs[i]});
        if (i == 0)
            (void)snprintf(id, sizeof id, "%s", got);
        assert_string_equal(got, id);
    }
    /* Four addresses and three names were replaced; the newest three and two are kept, and
     * every one is a row. */
    assert_int_equal(count_previous(fx->m, id, "address"), 3);
    assert_int_equal(count_previous(fx->m, id, "name"), 2);
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM golden_person_previous"), 7);
    /* Back to the fourth address and on to the fifth again: a value seen again moves to the
     * front instead of being kept twice, so the second address is dropped now. */
    for (int i = 3; i < 5; i++)
        (void)person(fx, "socialcare", "SC-7",
                     (rec_t){"Ottilie", "Thorne", "1966-08-30", lines[i], "Yarrowby", pcs[i]});
    assert_int_equal(count_previous(fx->m, id, "address"), 3);
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM golden_person_previous"), 9);
    /* A restart keeps exactly what the engine kept. */
    restart_same(fx);
    assert_int_equal(count_previous(fx->m, id, "address"), 3);
    assert_int_equal(count_previous(fx->m, id, "name"), 2);
    /* The first address and name were dropped: a record there under them is not linked; the
     * third of each is kept, and links. */
    (void)person(fx, "crm", "CRM-A",
                 (rec_t){"Ottilie", "Quill", "1966-08-30", lines[0], "Yarrowby", pcs[0]});
    assert_not_linked(fx, "CRM-A");
    assert_string_equal(
        person(fx, "crm", "CRM-C",
               (rec_t){"Ottilie", "Sorrel", "1966-08-30", lines[2], "Yarrowby", pcs[2]}),
        id);
    assert_link_state(fx, "CRM-C", "MATCH");
}

/* A steward's decision from the steward system, in its own transaction. */
static void steward(fixture_t *fx, const char *type, const char *a, const char *b)
{
    Joinery__V1__StewardDecision d = JOINERY__V1__STEWARD_DECISION__INIT;
    d.master_id_a = (char *)a;
    d.master_id_b = (char *)b;
    d.decided_by = "steward@council.example";
    d.reason = "checked the paper file";
    uint8_t buf[1024];
    size_t len = joinery__v1__steward_decision__pack(&d, buf);
    char event_id[32];
    (void)snprintf(event_id, sizeof event_id, "E%04u", ++fx->events);
    fx->clock += 1000000;
    master_event_t ev = {.source = "steward",
                         .event_id = event_id,
                         .type = type,
                         .local_id = "",
                         .occurred_at_us = fx->clock,
                         .received_at_us = fx->clock,
                         .payload_type = "joinery.v1.StewardDecision",
                         .payload = buf,
                         .payload_len = len};
    exec_ok(fx->conn, "BEGIN");
    if (master_apply(fx->m, &ev, &fx->sink, &fx->res, fx->why, sizeof fx->why) != 0 ||
        fx->res.outcome != MASTER_APPLIED)
        fail_msg("%s %s %s: %s (%s)", type, a, b, fx->why, fx->last_error);
    exec_ok(fx->conn, "COMMIT");
}

/* Social care has Naomi at the address she left; the CRM has her under her married name at
 * her new home, with no birth date, so the two are separate records until a steward merges
 * them. Social care's values win (survivorship), so the survivor keeps the old address and
 * the maiden name, and holds the CRM's address and name as previous values: a third system's
 * record at the new address links to it through them. The unmerge takes them back, and a
 * restart in between and after holds the same. */
static void test_a_merge_gives_the_survivor_the_retired_records_addresses_and_names(void **state)
{
    fixture_t *fx = *state;
    populate(fx);
    char sc[40], crm[40];
    (void)snprintf(sc, sizeof sc, "%s",
                   person(fx, "socialcare", "SC-1",
                          (rec_t){"Naomi", "Ferrand", "1979-11-23", OLD_LINE, OLD_TOWN, OLD_PC}));
    (void)snprintf(
        crm, sizeof crm, "%s",
        person(fx, "crm", "CRM-1", (rec_t){"Naomi", "Whitlow", NULL, NEW_LINE, NEW_TOWN, NEW_PC}));
    assert_string_not_equal(sc, crm);
    assert_int_equal(count_previous(fx->m, sc, "address"), 0);

    steward(fx, "steward.merge", sc, crm);
    assert_int_equal(count_previous(fx->m, sc, "address"), 1);
    assert_int_equal(count_previous(fx->m, sc, "name"), 1);
    /* Derived from the merge, not rows of their own. */
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM golden_person_previous"), 0);
    restart_same(fx);
    assert_int_equal(count_previous(fx->m, sc, "address"), 1);

    /* Housing's record at the new address links to the survivor only through the retired
     * record's address. */
    assert_string_equal(
        person(fx, "housing", "HO-1",
               (rec_t){"Naomi", "Ferrand", "1979-11-23", NEW_LINE, NEW_TOWN, NEW_PC}),
        sc);
    assert_link_state(fx, "HO-1", "MATCH");

    /* Undone: the survivor no longer holds them, and a restart agrees. */
    steward(fx, "steward.unmerge", sc, crm);
    assert_int_equal(count_previous(fx->m, sc, "address"), 0);
    assert_int_equal(count_previous(fx->m, sc, "name"), 0);
    restart_same(fx);
    assert_int_equal(count_previous(fx->m, sc, "address"), 0);
}

/* The CRM knows that Naomi Whitlow lived at 14 Larch Walk and was born Ferrand: it sends the
 * old address and the maiden name with her record. Social care's record under her maiden name
 * at that address then links, a restart holds the same, and a second send keeps nothing twice.
 * Her current values are never kept as previous ones. */
static void test_old_addresses_and_other_names_the_sender_holds_are_kept(void **state)
{
    fixture_t *fx = *state;
    populate(fx);
    rec_t crm = {"Naomi", "Whitlow", "1979-11-23", NEW_LINE, NEW_TOWN, NEW_PC};
    also_t before = {OLD_LINE, OLD_TOWN, OLD_PC, "Naomi", "Ferrand"};
    char id[40];
    (void)snprintf(id, sizeof id, "%s", person_also(fx, "crm", "CRM-1", crm, &before));
    assert_int_equal(count_previous(fx->m, id, "address"), 1);
    assert_int_equal(count_previous(fx->m, id, "name"), 1);
    assert_int_equal(count_rows(fx,
                                "SELECT count(*) FROM golden_person_previous WHERE source = "
                                "'crm' AND ((kind = 'address' AND value LIKE '14 Larch Walk|%') "
                                "OR (kind = 'name' AND family = 'Ferrand'))"),
                     2);
    (void)person_also(fx, "crm", "CRM-1", crm, &before);
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM golden_person_previous"), 2);
    /* Her current address sent as old as well is not a previous value. */
    also_t current = {NEW_LINE, NEW_TOWN, NEW_PC, NULL, NULL};
    (void)person_also(fx, "crm", "CRM-1", crm, &current);
    assert_int_equal(count_previous(fx->m, id, "address"), 1);

    restart_same(fx);
    /* Social care's record of her before the marriage and the move: a link. */
    assert_string_equal(
        person(fx, "socialcare", "SC-1",
               (rec_t){"Naomi", "Ferrand", "1979-11-23", OLD_LINE, OLD_TOWN, OLD_PC}),
        id);
    assert_link_state(fx, "SC-1", "MATCH");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_resident_who_moved_is_found_by_the_address_they_left,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_previous_forename_goes_to_a_steward_and_a_previous_surname_links, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_no_more_than_three_addresses_and_two_names_are_kept,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_merge_gives_the_survivor_the_retired_records_addresses_and_names, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_old_addresses_and_other_names_the_sender_holds_are_kept, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
