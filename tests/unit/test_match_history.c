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
 * The engine runs as support_matchdb.h sets it up: every statement it hands over is run, one
 * transaction per event, as the hub does. */
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

#include "support_matchdb.h"
#include "testdb.h"

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

typedef matchdb_t fixture_t;
typedef matchdb_rec_t rec_t;
typedef matchdb_also_t also_t;

static int setup(void **state)
{
    return matchdb_setup(state, "match_history", "/tmp/joinery-match-history-XXXXXX", CONFIG_TEXT);
}

static const char *person(fixture_t *fx, const char *source, const char *local_id, rec_t r)
{
    return matchdb_person(fx, source, local_id, r, NULL);
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
    matchdb_populate(fx);
    (void)snprintf(id, 40, "%s",
                   person(fx, "socialcare", "SC-1",
                          (rec_t){"Naomi", "Ferrand", "1979-11-23", OLD_LINE, OLD_TOWN, OLD_PC}));
    const char *same =
        person(fx, "socialcare", "SC-1",
               (rec_t){"Naomi", "Ferrand", "1979-11-23", NEW_LINE, NEW_TOWN, NEW_PC});
    assert_string_equal(same, id);
    assert_int_equal(count_previous(fx->m, id, "address"), 1);
    assert_int_equal(testdb_count(fx->conn,
                                  "SELECT count(*) FROM golden_person_previous WHERE kind = "
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
    matchdb_assert_not_linked(fx, "CRM-2");
    master_set_history(fx->m, true);

    /* With it, Naomi's is. */
    assert_string_equal(crm_at_old_address(fx, "CRM-1"), id);
    matchdb_assert_link_state(fx, "CRM-1", "MATCH");
    /* The audit trail says the link was made on a previous address, and from which system. */
    assert_int_equal(
        testdb_count(fx->conn,
                     "SELECT count(*) FROM master_audit WHERE action = 'link_evidence' AND "
                     "detail->>'matched_previous' = 'address' AND "
                     "detail->>'system' = 'socialcare' AND "
                     "detail->>'reason' LIKE '%address matched a previous address, from "
                     "socialcare, until 2024-%'"),
        1);

    /* Her sister, who stayed: another forename and birth date. */
    const char *sister = person(
        fx, "crm", "CRM-3", (rec_t){"Ruth", "Ferrand", "1983-04-02", OLD_LINE, OLD_TOWN, OLD_PC});
    assert_string_not_equal(sister, id);
    matchdb_assert_link_state(fx, "CRM-3", "NO_MATCH");
    /* Her daughter of the same name, born 25 years later. */
    const char *daughter = person(
        fx, "health", "H-4", (rec_t){"Naomi", "Ferrand", "2004-06-17", OLD_LINE, OLD_TOWN, OLD_PC});
    assert_string_not_equal(daughter, id);
    matchdb_assert_not_linked(fx, "H-4");

    /* A restart (master_load) holds the same state, previous values and all, and still finds
     * her by the address she left. */
    matchdb_reload(fx, true);
    assert_int_equal(count_previous(fx->m, id, "address"), 1);
    assert_string_equal(
        person(fx, "housing", "HO-5",
               (rec_t){"Naomi", "Ferrand", "1979-11-23", OLD_LINE, OLD_TOWN, OLD_PC}),
        id);
    matchdb_assert_link_state(fx, "HO-5", "MATCH");

    /* A namesake (same name and birth date) in the district she left, at another house and
     * postcode: near an old address is not at it. */
    const char *namesake =
        person(fx, "health", "H-6",
               (rec_t){"Naomi", "Ferrand", "1979-11-23", "90 Birch Avenue", OLD_TOWN, "HG2 9ZZ"});
    assert_string_not_equal(namesake, id);
    matchdb_assert_not_linked(fx, "H-6");
}

static void test_a_previous_forename_goes_to_a_steward_and_a_previous_surname_links(void **state)
{
    fixture_t *fx = *state;
    matchdb_populate(fx);
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
    matchdb_assert_link_state(fx, "HO-1", "MATCH");
    /* The forename put right: the old one finds the record only for a steward (a twin may
     * carry it). */
    (void)person(
        fx, "socialcare", "SC-1",
        (rec_t){"Katarzyna", "Brennan", "1990-02-14", "51 Gull Lane", "Eastwick", "NR3 2PP"});
    assert_int_equal(count_previous(fx->m, id, "name"), 2);
    (void)person(fx, "crm", "CRM-9",
                 (rec_t){"Kasia", "Brennan", "1990-02-14", "51 Gull Lane", "Eastwick", "NR3 2PP"});
    matchdb_assert_link_state(fx, "CRM-9", "POSSIBLE_MATCH");
    assert_int_equal(testdb_count(fx->conn,
                                  "SELECT count(*) FROM steward_queue WHERE evidence->"
                                  "'previous'->>'field' = 'name' AND evidence->>'reason' LIKE "
                                  "'%a forename it no longer has%'"),
                     1);
}

static void test_no_more_than_three_addresses_and_two_names_are_kept(void **state)
{
    fixture_t *fx = *state;
    matchdb_populate(fx);
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
    assert_int_equal(testdb_count(fx->conn, "SELECT count(*) FROM golden_person_previous"), 7);
    /* Back to the fourth address and on to the fifth again: a value seen again moves to the
     * front instead of being kept twice, so the second address is dropped now. */
    for (int i = 3; i < 5; i++)
        (void)person(fx, "socialcare", "SC-7",
                     (rec_t){"Ottilie", "Thorne", "1966-08-30", lines[i], "Yarrowby", pcs[i]});
    assert_int_equal(count_previous(fx->m, id, "address"), 3);
    assert_int_equal(testdb_count(fx->conn, "SELECT count(*) FROM golden_person_previous"), 9);
    /* A restart keeps exactly what the engine kept. */
    matchdb_reload(fx, true);
    assert_int_equal(count_previous(fx->m, id, "address"), 3);
    assert_int_equal(count_previous(fx->m, id, "name"), 2);
    /* The first address and name were dropped: a record there under them is not linked; the
     * third of each is kept, and links. */
    (void)person(fx, "crm", "CRM-A",
                 (rec_t){"Ottilie", "Quill", "1966-08-30", lines[0], "Yarrowby", pcs[0]});
    matchdb_assert_not_linked(fx, "CRM-A");
    assert_string_equal(
        person(fx, "crm", "CRM-C",
               (rec_t){"Ottilie", "Sorrel", "1966-08-30", lines[2], "Yarrowby", pcs[2]}),
        id);
    matchdb_assert_link_state(fx, "CRM-C", "MATCH");
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
    (void)matchdb_apply(fx, "steward", type, "", "joinery.v1.StewardDecision", buf, len);
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
    matchdb_populate(fx);
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
    assert_int_equal(testdb_count(fx->conn, "SELECT count(*) FROM golden_person_previous"), 0);
    matchdb_reload(fx, true);
    assert_int_equal(count_previous(fx->m, sc, "address"), 1);

    /* Housing's record at the new address links to the survivor only through the retired
     * record's address. */
    assert_string_equal(
        person(fx, "housing", "HO-1",
               (rec_t){"Naomi", "Ferrand", "1979-11-23", NEW_LINE, NEW_TOWN, NEW_PC}),
        sc);
    matchdb_assert_link_state(fx, "HO-1", "MATCH");

    /* Undone: the survivor no longer holds them, and a restart agrees. */
    steward(fx, "steward.unmerge", sc, crm);
    assert_int_equal(count_previous(fx->m, sc, "address"), 0);
    assert_int_equal(count_previous(fx->m, sc, "name"), 0);
    matchdb_reload(fx, true);
    assert_int_equal(count_previous(fx->m, sc, "address"), 0);
}

/* The CRM knows that Naomi Whitlow lived at 14 Larch Walk and was born Ferrand: it sends the
 * old address and the maiden name with her record. Social care's record under her maiden name
 * at that address then links, a restart holds the same, and a second send keeps nothing twice.
 * Her current values are never kept as previous ones. */
static void test_old_addresses_and_other_names_the_sender_holds_are_kept(void **state)
{
    fixture_t *fx = *state;
    matchdb_populate(fx);
    rec_t crm = {"Naomi", "Whitlow", "1979-11-23", NEW_LINE, NEW_TOWN, NEW_PC};
    also_t before = {.old_line = OLD_LINE,
                     .old_town = OLD_TOWN,
                     .old_postcode = OLD_PC,
                     .other_given = "Naomi",
                     .other_family = "Ferrand"};
    char id[40];
    (void)snprintf(id, sizeof id, "%s", matchdb_person(fx, "crm", "CRM-1", crm, &before));
    assert_int_equal(count_previous(fx->m, id, "address"), 1);
    assert_int_equal(count_previous(fx->m, id, "name"), 1);
    assert_int_equal(testdb_count(fx->conn,
                                  "SELECT count(*) FROM golden_person_previous WHERE source = "
                                  "'crm' AND ((kind = 'address' AND value LIKE '14 Larch Walk|%') "
                                  "OR (kind = 'name' AND family = 'Ferrand'))"),
                     2);
    (void)matchdb_person(fx, "crm", "CRM-1", crm, &before);
    assert_int_equal(testdb_count(fx->conn, "SELECT count(*) FROM golden_person_previous"), 2);
    /* Her current address sent as old as well is not a previous value. */
    also_t current = {.old_line = NEW_LINE, .old_town = NEW_TOWN, .old_postcode = NEW_PC};
    (void)matchdb_person(fx, "crm", "CRM-1", crm, &current);
    assert_int_equal(count_previous(fx->m, id, "address"), 1);

    matchdb_reload(fx, true);
    /* Social care's record of her before the marriage and the move: a link. */
    assert_string_equal(
        person(fx, "socialcare", "SC-1",
               (rec_t){"Naomi", "Ferrand", "1979-11-23", OLD_LINE, OLD_TOWN, OLD_PC}),
        id);
    matchdb_assert_link_state(fx, "SC-1", "MATCH");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_resident_who_moved_is_found_by_the_address_they_left,
                                        setup, matchdb_teardown),
        cmocka_unit_test_setup_teardown(
            test_a_previous_forename_goes_to_a_steward_and_a_previous_surname_links, setup,
            matchdb_teardown),
        cmocka_unit_test_setup_teardown(test_no_more_than_three_addresses_and_two_names_are_kept,
                                        setup, matchdb_teardown),
        cmocka_unit_test_setup_teardown(
            test_a_merge_gives_the_survivor_the_retired_records_addresses_and_names, setup,
            matchdb_teardown),
        cmocka_unit_test_setup_teardown(
            test_old_addresses_and_other_names_the_sender_holds_are_kept, setup, matchdb_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
