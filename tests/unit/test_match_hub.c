/* test_match_hub.c - the address evidence through the master-data engine against a real
 * PostgreSQL: records from systems that hold no NHS number, phone or birth date (the shape of a
 * FEBRL-style benchmark) link on names and the house, twins and a parent and child at one house
 * do not, and an engine that loads the tables again decides the same way.
 * JOINERY_NEEDS_PG: ctest gives this test the "pg" fixture (tests/CMakeLists.txt).
 *
 * The engine runs as support_matchdb.h sets it up: every statement it hands over is run, one
 * transaction per event, as the hub does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <joinery/v1/person.pb-c.h>

#include "support_matchdb.h"
#include "testdb.h"

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

typedef matchdb_t fixture_t;
typedef matchdb_rec_t rec_t;

static int setup(void **state)
{
    return matchdb_setup(state, "match_hub", "/tmp/joinery-match-hub-XXXXXX", CONFIG_TEXT);
}

static int setup_shared(void **state)
{
    return matchdb_setup(state, "match_hub", "/tmp/joinery-match-hub-XXXXXX", SHARED_CONFIG_TEXT);
}

static const char *person(fixture_t *fx, const char *source, const char *local_id, rec_t r)
{
    return matchdb_person(fx, source, local_id, r, NULL);
}

static void test_a_house_links_records_without_birth_date_and_survives_a_reload(void **state)
{
    fixture_t *fx = *state;
    matchdb_populate(fx);
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
    matchdb_assert_link_state(fx, "CRM-1", "MATCH");
    /* Names keyed in each other's boxes, the same house: the same resident. */
    const char *swapped =
        person(fx, "health", "H-2",
               (rec_t){"Bensley", "Joshua", NULL, "31 Wattle Crescent", "Wattle Park", NULL});
    assert_string_equal(swapped, gold);
    matchdb_assert_link_state(fx, "H-2", "MATCH");

    /* Twins at one house: same surname, birth date and house, different forenames. */
    (void)person(
        fx, "socialcare", "SC-2",
        (rec_t){"Oliver", "Quayle", "2015-06-01", "4 Banksia Street", "Banksia Vale", NULL});
    (void)person(fx, "crm", "CRM-3",
                 (rec_t){"Harry", "Quayle", "2015-06-01", "4 Banksia St", "Banksia Vale", NULL});
    matchdb_assert_not_linked(fx, "CRM-3");
    /* A parent and child of one name at one house, both birth dates known. */
    (void)person(fx, "socialcare", "SC-3",
                 (rec_t){"Leon", "Marsh", "1960-03-02", "9 Acacia Avenue", "Acacia Heights", NULL});
    (void)person(fx, "crm", "CRM-4",
                 (rec_t){"Leon", "Marsh", "1992-08-19", "9 Acacia Ave", "Acacia Heights", NULL});
    matchdb_assert_not_linked(fx, "CRM-4");

    /* A second engine loads the tables and finds the house again for another newcomer. */
    matchdb_reload(fx, false);
    const char *again =
        person(fx, "housing", "HO-5",
               (rec_t){"Joshua", "Bensley", NULL, "31 Wattle Crescent", "Wattle Park", NULL});
    assert_string_equal(again, gold);
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
    matchdb_also_t number = {.id_system = SHARED_SYSTEM, .id_value = "P-1234567"};
    char id[40];
    (void)snprintf(id, sizeof id, "%s", matchdb_person(fx, "socialcare", "SC-1", william, &number));
    assert_string_equal(master_value(fx->m, id, "identifier.shared", NULL), "P1234567");

    /* Another system's number is no evidence: the record goes to a steward, as a twin would. */
    matchdb_also_t other = {.id_system = "https://trust.example/id/mrn", .id_value = "P-1234567"};
    (void)matchdb_person(fx, "health", "H-1", no_forename, &other);
    matchdb_assert_not_linked(fx, "H-1");

    /* A number that is no number: dropped, with a finding; the rest of the person is kept. */
    matchdb_also_t junk = {.id_system = SHARED_SYSTEM, .id_value = "--"};
    (void)matchdb_person(fx, "health", "H-2", william, &junk);
    assert_int_equal(testdb_count(fx->conn,
                                  "SELECT count(*) FROM person_data_quality WHERE field = "
                                  "'identifier.shared' AND local_id = 'H-2'"),
                     1);

    /* A reload holds the number, and the CRM's record without a forename links on it. */
    matchdb_reload(fx, false);
    matchdb_also_t same = {.id_system = SHARED_SYSTEM, .id_value = "p 1234567"};
    assert_string_equal(matchdb_person(fx, "crm", "CRM-1", no_forename, &same), id);
    matchdb_assert_link_state(fx, "CRM-1", "MATCH");
    assert_int_equal(testdb_count(fx->conn,
                                  "SELECT count(*) FROM xref WHERE local_id = 'CRM-1' AND "
                                  "how = 'rule'"),
                     1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_a_house_links_records_without_birth_date_and_survives_a_reload, setup,
            matchdb_teardown),
        cmocka_unit_test_setup_teardown(
            test_a_shared_identifier_links_what_the_forename_anchor_cannot, setup_shared,
            matchdb_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
