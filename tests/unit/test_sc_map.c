/* test_sc_map.c - the social-care contract's JSON records (docs/socialcare-openapi.yaml) to
 * Joinery events, on the samples in tests/data/socialcare (a person, one with bad values, a
 * referral, an open and a closed case, an assessment, care packages) and on bodies written here.
 * The payloads are unpacked again and their values asserted as the files give them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socialcare/sc_map.h"

static sc_mapped_t *R;
static char BODY[65536];
static size_t BODY_LEN;
static const sc_map_opts_t OPTS = {.today = "2026-12-07"};

static int setup(void **state)
{
    (void)state;
    R = calloc(1, sizeof *R);
    return R ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(R);
    return 0;
}

static sc_map_rc_t map_sample(sc_kind_t kind, const char *name)
{
    char path[1024];
    const char *src = getenv("JOINERY_SOURCE_DIR");
    (void)snprintf(path, sizeof path, "%s/tests/data/socialcare/%s", src ? src : ".", name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    BODY_LEN = fread(BODY, 1, sizeof BODY - 1, f);
    fclose(f);
    return sc_map(kind, BODY, BODY_LEN, &OPTS, R);
}

static sc_map_rc_t map_text(sc_kind_t kind, const char *text)
{
    return sc_map(kind, text, strlen(text), &OPTS, R);
}

static int dropped(const char *field)
{
    for (size_t i = 0; i < R->n_drops; i++)
        if (strcmp(R->drops[i].field, field) == 0)
            return 1;
    return 0;
}

static void person(void **state)
{
    (void)state;
    assert_int_equal(map_sample(SC_PEOPLE, "person.json"), SC_MAP_OK);
    assert_string_equal(R->type, "person.updated");
    assert_string_equal(R->payload_type, "joinery.v1.Person");
    assert_string_equal(R->record_id, "LL-100234");
    assert_int_equal(R->n_drops, 0);
    Joinery__V1__Person *p = joinery__v1__person__unpack(NULL, R->payload_len, R->payload);
    assert_non_null(p);
    assert_string_equal(p->nhs_number, "9434765919");
    assert_string_equal(p->ni_number, "AB123456C");
    assert_string_equal(p->name->prefix, "Mrs");
    assert_int_equal(p->name->n_given, 2);
    assert_string_equal(p->name->given[1], "Ann");
    assert_string_equal(p->name->family, "Shelley");
    assert_string_equal(p->birth_date, "1947-08-30");
    assert_int_equal(p->sex, JOINERY__V1__ADMINISTRATIVE_SEX__SEX_FEMALE);
    assert_int_equal(p->n_addresses, 1);
    assert_string_equal(p->addresses[0]->lines[0], "12 Park Lane"); /* blanks collapsed */
    assert_string_equal(p->addresses[0]->postcode, "LS6 2AB");
    assert_string_equal(p->addresses[0]->uprn, "72123456");
    assert_int_equal(p->n_telecom, 2);
    assert_string_equal(p->telecom[1]->system, "email");
    assert_string_equal(p->preferred_language, "en");
    joinery__v1__person__free_unpacked(p, NULL);
}

static void person_bad_values(void **state)
{
    (void)state;
    assert_int_equal(map_sample(SC_PEOPLE, "person_bad_values.json"), SC_MAP_OK);
    assert_true(dropped("nhs_number"));
    assert_true(dropped("birth_date"));
    assert_true(dropped("sex"));
    assert_true(dropped("address.postcode"));
    assert_true(dropped("phone"));
    Joinery__V1__Person *p = joinery__v1__person__unpack(NULL, R->payload_len, R->payload);
    assert_non_null(p);
    assert_string_equal(p->nhs_number, "");
    assert_string_equal(p->birth_date, "");
    assert_string_equal(p->addresses[0]->postcode, "");
    assert_string_equal(p->addresses[0]->town, "Leeds"); /* the rest is kept */
    assert_string_equal(p->name->family, "Shelley");
    joinery__v1__person__free_unpacked(p, NULL);
}

static void referral(void **state)
{
    (void)state;
    assert_int_equal(map_sample(SC_REFERRALS, "referral.json"), SC_MAP_OK);
    assert_string_equal(R->type, "case.referral.created");
    assert_string_equal(R->record_id, "REF-5001");
    Joinery__V1__Referral *r = joinery__v1__referral__unpack(NULL, R->payload_len, R->payload);
    assert_non_null(r);
    assert_string_equal(r->referral_id, "REF-5001");
    assert_string_equal(r->person_local_id, "LL-100234");
    assert_string_equal(r->priority, "urgent");
    assert_string_equal(r->referrer_org_ods, "RR8");
    joinery__v1__referral__free_unpacked(r, NULL);
}

static void cases(void **state)
{
    (void)state;
    assert_int_equal(map_sample(SC_CASES, "case.json"), SC_MAP_OK);
    assert_string_equal(R->type, "case.updated");
    assert_string_equal(R->payload_type, "joinery.v1.Case");
    assert_string_equal(R->record_id, "CASE-7001");
    assert_string_equal(R->person_id, "LL-100234");
    assert_int_equal(R->case_open, 1);
    Joinery__V1__Case *k = joinery__v1__case__unpack(NULL, R->payload_len, R->payload);
    assert_non_null(k);
    assert_string_equal(k->case_id, "CASE-7001");
    assert_string_equal(k->person_local_id, "LL-100234");
    assert_int_equal(k->status, JOINERY__V1__CASE_STATUS__CASE_OPEN);
    assert_string_equal(k->team, "Hospital Discharge Team");
    joinery__v1__case__free_unpacked(k, NULL);

    assert_int_equal(map_sample(SC_CASES, "case_closed.json"), SC_MAP_OK);
    assert_int_equal(R->case_open, 0);
    k = joinery__v1__case__unpack(NULL, R->payload_len, R->payload);
    assert_int_equal(k->status, JOINERY__V1__CASE_STATUS__CASE_CLOSED);
    assert_string_equal(k->closed_on, "2026-12-20");
    joinery__v1__case__free_unpacked(k, NULL);

    /* No status said: the discharge side must not take it as closed. */
    assert_int_equal(map_text(SC_CASES, "{\"case_id\":\"C1\",\"person_id\":\"P1\"}"), SC_MAP_OK);
    assert_int_equal(R->case_open, -1);
}

static void assessment(void **state)
{
    (void)state;
    assert_int_equal(map_sample(SC_ASSESSMENTS, "assessment.json"), SC_MAP_OK);
    assert_string_equal(R->type, "case.assessment.completed");
    Joinery__V1__Assessment *a = joinery__v1__assessment__unpack(NULL, R->payload_len, R->payload);
    assert_non_null(a);
    assert_string_equal(a->assessment_id, "ASM-3001");
    assert_string_equal(a->case_id, "CASE-7001");
    assert_string_equal(a->completed_on, "2026-12-04");
    assert_int_equal(a->n_eligible_outcomes, 2);
    joinery__v1__assessment__free_unpacked(a, NULL);
    assert_int_equal(map_text(SC_ASSESSMENTS, "{\"assessment_id\":\"A\",\"case_id\":\"C\"}"),
                     SC_MAP_UNMAPPABLE);
    assert_non_null(strstr(R->why, "completed_on"));
}

/* What Agresso's GL07 row reads (adapters/agresso/gl07.c) arrives as it needs it. */
static void care_package(void **state)
{
    (void)state;
    assert_int_equal(map_sample(SC_CARE_PACKAGES, "care_package.json"), SC_MAP_OK);
    assert_string_equal(R->type, "case.care_package.created");
    assert_string_equal(R->payload_type, "joinery.v1.CarePackage");
    Joinery__V1__CarePackage *p =
        joinery__v1__care_package__unpack(NULL, R->payload_len, R->payload);
    assert_non_null(p);
    assert_string_equal(p->package_id, "PKG-9001");
    assert_string_equal(p->case_id, "CASE-7001");
    assert_string_equal(p->service_type, "home care");
    assert_string_equal(p->provider_id, "SUP-0042");
    assert_string_equal(p->start_date, "2026-12-08");
    assert_int_equal(p->weekly_cost_pence, 38450);
    assert_true(p->weekly_hours > 14.4 && p->weekly_hours < 14.6);
    assert_string_equal(p->status, "active");
    joinery__v1__care_package__free_unpacked(p, NULL);

    assert_int_equal(map_sample(SC_CARE_PACKAGES, "care_package_no_cost.json"), SC_MAP_UNMAPPABLE);
    assert_non_null(strstr(R->why, "weekly_cost_pence"));
    assert_int_equal(map_text(SC_CARE_PACKAGES,
                              "{\"package_id\":\"P1\",\"case_id\":\"C\",\"service_type\":\"spa\","
                              "\"status\":\"active\",\"weekly_cost_pence\":100}"),
                     SC_MAP_UNMAPPABLE);
    assert_non_null(strstr(R->why, "service_type"));
    assert_int_equal(
        map_text(SC_CARE_PACKAGES,
                 "{\"package_id\":\"P1\",\"case_id\":\"C\",\"service_type\":\"nursing\","
                 "\"status\":\"ended\"}"),
        SC_MAP_OK); /* an ended package costs nothing more */
    assert_string_equal(R->type, "case.care_package.updated");
    assert_int_equal(map_text(SC_CARE_PACKAGES,
                              "{\"package_id\":\"P-123456789012345678901234\",\"case_id\":\"C\","
                              "\"service_type\":\"nursing\",\"status\":\"ended\"}"),
                     SC_MAP_UNMAPPABLE); /* 26 characters: not an Agresso project code */
}

static void refused(void **state)
{
    (void)state;
    assert_int_equal(map_text(SC_PEOPLE, "{not json"), SC_MAP_UNREADABLE);
    assert_int_equal(map_text(SC_PEOPLE, "[1,2]"), SC_MAP_UNREADABLE);
    assert_int_equal(map_text(SC_PEOPLE, ""), SC_MAP_UNREADABLE);
    assert_int_equal(map_text(SC_PEOPLE, "{\"nhs_number\":\"9434765919\"}"), SC_MAP_UNMAPPABLE);
    assert_non_null(strstr(R->why, "person_id"));
    assert_int_equal(map_text(SC_PEOPLE, "{\"person_id\":\"has blank\"}"), SC_MAP_UNMAPPABLE);
    assert_int_equal(map_text(SC_PEOPLE, "{\"person_id\":42}"), SC_MAP_UNMAPPABLE);
    assert_int_equal(map_text(SC_CASES, "{\"case_id\":\"C1\"}"), SC_MAP_UNMAPPABLE);
    assert_non_null(strstr(R->why, "person_id"));
    assert_int_equal(map_text(SC_REFERRALS, "{\"person_id\":\"P\"}"), SC_MAP_UNMAPPABLE);
    char big[200];
    memset(big, 'x', sizeof big);
    (void)snprintf(big, sizeof big, "{\"person_id\":\"%070d\"}", 1);
    assert_int_equal(map_text(SC_PEOPLE, big), SC_MAP_UNMAPPABLE); /* over 64 characters */
    /* A control character in a value drops that value alone. */
    assert_int_equal(map_text(SC_CASES,
                              "{\"case_id\":\"C1\",\"person_id\":\"P\",\"team\":\"a\\u0001b\","
                              "\"opened_on\":\"2026-02-30\"}"),
                     SC_MAP_OK);
    assert_true(dropped("team"));
    assert_true(dropped("opened_on"));
}

/* The case system's retry is the same event; a change of the record another. */
static void event_ids(void **state)
{
    (void)state;
    char first[SC_EVENT_ID_MAX + 1];
    assert_int_equal(map_sample(SC_CASES, "case.json"), SC_MAP_OK);
    (void)snprintf(first, sizeof first, "%s", R->event_id);
    assert_true(strncmp(first, "sc-case-CASE-7001-", 18) == 0);
    assert_int_equal(map_sample(SC_CASES, "case.json"), SC_MAP_OK);
    assert_string_equal(R->event_id, first);
    assert_int_equal(map_sample(SC_CASES, "case_closed.json"), SC_MAP_OK);
    assert_string_not_equal(R->event_id, first);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(person),     cmocka_unit_test(person_bad_values),
        cmocka_unit_test(referral),   cmocka_unit_test(cases),
        cmocka_unit_test(assessment), cmocka_unit_test(care_package),
        cmocka_unit_test(refused),    cmocka_unit_test(event_ids),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
