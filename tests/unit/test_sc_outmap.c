/* test_sc_outmap.c - the hub's events as the case system's JSON (the outbound half of
 * docs/socialcare-openapi.yaml): each body is parsed back with jansson and its keys asserted, so
 * a body the case system could not read, or one carrying a field that did not change, fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "socialcare/sc_outmap.h"

static char BUF[SC_OUT_BODY_MAX];

/* The body parsed; the test owns the result. */
static json_t *parse(size_t len)
{
    assert_int_equal(strlen(BUF), len);
    json_error_t e;
    json_t *j = json_loadb(BUF, len, JSON_REJECT_DUPLICATES, &e);
    if (j == NULL)
        fail_msg("not JSON (%s): %s", e.text, BUF);
    assert_true(json_is_object(j));
    return j;
}

static const char *s_of(json_t *j, const char *k)
{
    return json_string_value(json_object_get(j, k));
}

static void person_changed_phone_only(void **state)
{
    (void)state;
    Joinery__V1__ContactPoint tel = JOINERY__V1__CONTACT_POINT__INIT;
    tel.system = "phone";
    tel.value = "0113 496 0000";
    Joinery__V1__ContactPoint *tels[] = {&tel};
    Joinery__V1__Person p = JOINERY__V1__PERSON__INIT;
    p.telecom = tels;
    p.n_telecom = 1;
    char *changed[] = {"telecom.phone"};
    Joinery__V1__PersonChanged pc = JOINERY__V1__PERSON_CHANGED__INIT;
    pc.master_id = "P01JXYZ";
    pc.version = 7;
    pc.local_id = "LL-100234";
    pc.changed_fields = changed;
    pc.n_changed_fields = 1;
    pc.person = &p;
    size_t len = 0;
    assert_int_equal(sc_outmap_person_changed(&pc, BUF, sizeof BUF, &len), 0);
    json_t *j = parse(len);
    assert_string_equal(s_of(j, "person_id"), "LL-100234");
    assert_string_equal(s_of(j, "master_id"), "P01JXYZ");
    assert_int_equal(json_integer_value(json_object_get(j, "version")), 7);
    json_t *ch = json_object_get(j, "changed");
    assert_int_equal(json_array_size(ch), 1);
    assert_string_equal(json_string_value(json_array_get(ch, 0)), "telecom.phone");
    assert_string_equal(s_of(j, "phone"), "0113 496 0000");
    /* Only what changed: the ids, the version, the list and the phone. */
    assert_int_equal(json_object_size(j), 5);
    json_decref(j);
}

static void person_changed_name_address_and_cleared(void **state)
{
    (void)state;
    char *given[] = {"Mary", "Ann"};
    Joinery__V1__HumanName n = JOINERY__V1__HUMAN_NAME__INIT;
    n.given = given;
    n.n_given = 2;
    n.family = "Shelley \"Wollstonecraft\"";
    char *lines[] = {"1 Park Lane"};
    Joinery__V1__Address a = JOINERY__V1__ADDRESS__INIT;
    a.lines = lines;
    a.n_lines = 1;
    a.town = "Leeds";
    a.postcode = "LS6 2AB";
    Joinery__V1__Address *as[] = {&a};
    Joinery__V1__Person p = JOINERY__V1__PERSON__INIT;
    p.name = &n;
    p.addresses = as;
    p.n_addresses = 1;
    p.sex = JOINERY__V1__ADMINISTRATIVE_SEX__SEX_FEMALE;
    p.interpreter_required = 1;
    char *changed[] = {"name.given",    "name.family",          "address.home",    "sex",
                       "telecom.email", "interpreter_required", "consent.research"};
    Joinery__V1__PersonChanged pc = JOINERY__V1__PERSON_CHANGED__INIT;
    pc.local_id = "LL/1 2";
    pc.changed_fields = changed;
    pc.n_changed_fields = 7;
    pc.person = &p;
    size_t len = 0;
    assert_int_equal(sc_outmap_person_changed(&pc, BUF, sizeof BUF, &len), 0);
    json_t *j = parse(len);
    json_t *name = json_object_get(j, "name");
    assert_string_equal(json_string_value(json_array_get(json_object_get(name, "given"), 1)),
                        "Ann");
    assert_string_equal(s_of(name, "family"), "Shelley \"Wollstonecraft\"");
    assert_null(json_object_get(name, "prefix")); /* did not change */
    json_t *addr = json_object_get(j, "address");
    assert_string_equal(s_of(addr, "town"), "Leeds");
    assert_string_equal(s_of(addr, "postcode"), "LS6 2AB");
    assert_true(json_is_null(json_object_get(addr, "uprn")));
    assert_string_equal(s_of(j, "sex"), "female");
    /* The email changed to none: null, so the case system clears its copy. */
    assert_non_null(json_object_get(j, "email"));
    assert_true(json_is_null(json_object_get(j, "email")));
    assert_true(json_is_true(json_object_get(j, "interpreter_required")));
    assert_null(json_object_get(j, "phone"));
    assert_null(json_object_get(j, "birth_date"));
    json_decref(j);
}

static void correction_values(void **state)
{
    (void)state;
    Joinery__V1__PersonCorrection pc = JOINERY__V1__PERSON_CORRECTION__INIT;
    pc.master_id = "P01";
    pc.version = 3;
    pc.local_id = "LL-1";
    pc.field = "name.given";
    pc.current_value = "Mary Ann";
    size_t len = 0;
    assert_int_equal(sc_outmap_correction(&pc, BUF, sizeof BUF, &len), 0);
    json_t *j = parse(len);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "changed"), 0)),
                        "name.given");
    json_t *given = json_object_get(json_object_get(j, "name"), "given");
    assert_int_equal(json_array_size(given), 2);
    assert_string_equal(json_string_value(json_array_get(given, 0)), "Mary");
    json_decref(j);

    pc.field = "address.home"; /* the hub's text of an address */
    pc.current_value = "1 Park Lane\nHeadingley|Leeds|LS6 2AB|72000123";
    assert_int_equal(sc_outmap_correction(&pc, BUF, sizeof BUF, &len), 0);
    j = parse(len);
    json_t *addr = json_object_get(j, "address");
    assert_int_equal(json_array_size(json_object_get(addr, "lines")), 2);
    assert_string_equal(s_of(addr, "town"), "Leeds");
    assert_string_equal(s_of(addr, "postcode"), "LS6 2AB");
    assert_string_equal(s_of(addr, "uprn"), "72000123");
    json_decref(j);

    pc.field = "birth_date";
    pc.current_value = "";
    assert_int_equal(sc_outmap_correction(&pc, BUF, sizeof BUF, &len), 0);
    j = parse(len);
    assert_true(json_is_null(json_object_get(j, "birth_date")));
    json_decref(j);
}

static void referral_body(void **state)
{
    (void)state;
    Joinery__V1__ServiceRequest sr = JOINERY__V1__SERVICE_REQUEST__INIT;
    sr.category = "adult-social-care/enquiry";
    sr.channel = "phone";
    sr.description = "Neighbour worried \x01 about\xff her";
    sr.opened_at = "2026-12-07T09:15:00Z";
    sc_outmap_referral_t r = {.request_id = "CAS-0042", .master_id = "", .sr = &sr};
    size_t len = 0;
    assert_int_equal(sc_outmap_referral(&r, BUF, sizeof BUF, &len), 0);
    json_t *j = parse(len);
    assert_string_equal(s_of(j, "source_system"), "crm");
    assert_string_equal(s_of(j, "request_id"), "CAS-0042");
    assert_string_equal(s_of(j, "master_id"), "");
    assert_string_equal(s_of(j, "category"), "adult-social-care/enquiry");
    assert_string_equal(s_of(j, "channel"), "phone");
    /* A control character escaped, a byte that is not UTF-8 replaced: still readable JSON. */
    assert_string_equal(s_of(j, "description"), "Neighbour worried \x01 about\xef\xbf\xbd her");
    assert_string_equal(s_of(j, "received_at"), "2026-12-07T09:15:00Z");
    json_decref(j);
}

static void task_body(void **state)
{
    (void)state;
    Joinery__V1__Encounter e = JOINERY__V1__ENCOUNTER__INIT;
    e.trust_ods = "RR8";
    e.ward = "J12";
    e.end_at = "2026-12-06T14:30:00Z";
    Joinery__V1__Discharge d = JOINERY__V1__DISCHARGE__INIT;
    d.encounter = &e;
    d.discharge_destination = "19";
    d.needs_care_support = 1;
    sc_outmap_task_t t = {.task_id = "sc-dn-42",
                          .case_id = "CASE-7001",
                          .person_id = "LL-100234",
                          .master_id = "P01",
                          .discharge = &d,
                          .discharged_on = "2026-12-07"};
    size_t len = 0;
    assert_int_equal(sc_outmap_task(&t, BUF, sizeof BUF, &len), 0);
    json_t *j = parse(len);
    assert_string_equal(s_of(j, "task_id"), "sc-dn-42");
    assert_string_equal(s_of(j, "kind"), "hospital_discharge");
    assert_string_equal(s_of(j, "case_id"), "CASE-7001");
    assert_string_equal(s_of(j, "person_id"), "LL-100234");
    assert_string_equal(s_of(j, "master_id"), "P01");
    assert_string_equal(s_of(j, "discharged_on"), "2026-12-06"); /* the encounter's end */
    assert_string_equal(s_of(j, "trust"), "RR8");
    assert_non_null(strstr(s_of(j, "summary"), "RR8"));
    assert_non_null(strstr(s_of(j, "summary"), "CASE-7001"));
    json_decref(j);

    /* No id of social care's for the person, no end date: person_id left out, the event's day. */
    e.end_at = "";
    t.person_id = NULL;
    assert_int_equal(sc_outmap_task(&t, BUF, sizeof BUF, &len), 0);
    j = parse(len);
    assert_null(json_object_get(j, "person_id"));
    assert_string_equal(s_of(j, "discharged_on"), "2026-12-07");
    json_decref(j);
}

static void too_small(void **state)
{
    (void)state;
    sc_outmap_task_t t = {.task_id = "sc-dn-1", .case_id = "C", .master_id = "P"};
    size_t len = 0;
    char small[40];
    assert_int_equal(sc_outmap_task(&t, small, sizeof small, &len), -1);
    Joinery__V1__PersonChanged pc = JOINERY__V1__PERSON_CHANGED__INIT;
    pc.local_id = "LL-1";
    assert_int_equal(sc_outmap_person_changed(&pc, small, 10, &len), -1);
    assert_int_equal(sc_outmap_person_changed(&pc, small, 0, &len), -1);
}

static void urls(void **state)
{
    (void)state;
    char u[64];
    assert_int_equal(sc_outmap_url("http://127.0.0.1:8091/", "/people/", "LL/1?a#b%", u, sizeof u),
                     0);
    assert_string_equal(u, "http://127.0.0.1:8091/people/LL%2F1%3Fa%23b%25");
    assert_int_equal(sc_outmap_url("https://x/api", "/tasks", NULL, u, sizeof u), 0);
    assert_string_equal(u, "https://x/api/tasks");
    assert_int_equal(sc_outmap_url("https://x", "/people/",
                                   "0123456789012345678901234567890123456789012345678901234567", u,
                                   sizeof u),
                     -1);
}

static void reasons(void **state)
{
    (void)state;
    char r[400];
    const char *b = "{\"error\": \"invalid\", \"message\": \"person LL-1 is locked\"}";
    sc_outmap_reason(422, b, strlen(b), r, sizeof r);
    assert_non_null(strstr(r, "person LL-1 is locked"));
    assert_non_null(strstr(r, "422"));
    b = "{\"error\": \"no such person\"}";
    sc_outmap_reason(404, b, strlen(b), r, sizeof r);
    assert_non_null(strstr(r, "no such person"));
    b = "<html>Bad\r\nRequest</html>";
    sc_outmap_reason(400, b, strlen(b), r, sizeof r);
    assert_non_null(strstr(r, "HTTP 400"));
    assert_non_null(strstr(r, "<html>Bad  Request"));
    sc_outmap_reason(410, NULL, 0, r, sizeof r);
    assert_non_null(strstr(r, "HTTP 410"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(person_changed_phone_only),
        cmocka_unit_test(person_changed_name_address_and_cleared),
        cmocka_unit_test(correction_values),
        cmocka_unit_test(referral_body),
        cmocka_unit_test(task_body),
        cmocka_unit_test(too_small),
        cmocka_unit_test(urls),
        cmocka_unit_test(reasons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
