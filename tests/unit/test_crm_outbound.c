/* test_crm_outbound.c - the write-back's request bodies: a golden-record change as the
 * attributes of a Dataverse contact PATCH (only the changed fields, exactly), a correction's
 * canonical text as the same, a case change as a timeline note, and Dataverse's refusals as a
 * NACK reason. The gender code is checked against crm_webhook's reading of it, both ways. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "crm/crm_outbound.h"
#include "crm/crm_webhook.h"

#define CONTACT "6d1c2b3a-8f7e-ee11-9ae6-000d3a0b1c2d"

static char OUT[8192];
static size_t LEN;
static char WHY[256];

/* A PersonChanged of FIELDS (NULL-ended) with P's values. */
static int changed(char **fields, Joinery__V1__Person *p, const char *nhs_attr)
{
    Joinery__V1__PersonChanged pc = JOINERY__V1__PERSON_CHANGED__INIT;
    pc.master_id = "P01JABCDEF";
    pc.version = 7;
    pc.local_id = CONTACT;
    while (fields[pc.n_changed_fields] != NULL)
        pc.n_changed_fields++;
    pc.changed_fields = fields;
    pc.person = p;
    LEN = 0;
    return crm_outbound_contact_json(&pc, nhs_attr, OUT, sizeof OUT, &LEN, WHY, sizeof WHY);
}

static void address_and_phone(void **state)
{
    (void)state;
    Joinery__V1__Person p = JOINERY__V1__PERSON__INIT;
    Joinery__V1__Address a = JOINERY__V1__ADDRESS__INIT, *ap[1] = {&a};
    char *lines[] = {"12 Park Lane", "Headingley"};
    a.use = "home";
    a.n_lines = 2;
    a.lines = lines;
    a.town = "Leeds";
    a.postcode = "LS6 2AB";
    a.uprn = "72123456";
    p.n_addresses = 1;
    p.addresses = ap;
    Joinery__V1__ContactPoint t = JOINERY__V1__CONTACT_POINT__INIT, *tp[1] = {&t};
    t.system = "phone";
    t.value = "0113 496 0000";
    p.n_telecom = 1;
    p.telecom = tp;
    /* Values of fields that did not change are not written, even when the Person holds them. */
    p.birth_date = "1947-08-30";
    char *fields[] = {"address.home", "address.home.postcode", "address.home.uprn", "telecom.phone",
                      NULL};
    assert_int_equal(changed(fields, &p, "jn_nhsnumber"), 1);
    assert_string_equal(OUT, "{\"address1_line1\": \"12 Park Lane\", \"address1_line2\": "
                             "\"Headingley\", \"address1_line3\": null, \"address1_city\": "
                             "\"Leeds\", \"address1_postalcode\": \"LS6 2AB\", \"telephone1\": "
                             "\"0113 496 0000\"}");
    assert_int_equal(LEN, strlen(OUT));

    /* The postcode alone. */
    char *pc_only[] = {"address.home.postcode", NULL};
    assert_int_equal(changed(pc_only, &p, NULL), 1);
    assert_string_equal(OUT, "{\"address1_postalcode\": \"LS6 2AB\"}");
}

static void name_and_the_rest(void **state)
{
    (void)state;
    Joinery__V1__Person p = JOINERY__V1__PERSON__INIT;
    Joinery__V1__HumanName n = JOINERY__V1__HUMAN_NAME__INIT;
    char *given[] = {"Mary", "Ann", "Jo"};
    n.n_given = 3;
    n.given = given;
    n.family = "O'Neill \"Molly\"";
    p.name = &n;
    p.birth_date = "1947-08-30";
    p.nhs_number = "9434765919";
    Joinery__V1__ContactPoint t = JOINERY__V1__CONTACT_POINT__INIT, *tp[1] = {&t};
    t.system = "email";
    t.value = "mary@example.org";
    p.n_telecom = 1;
    p.telecom = tp;

    /* The family name alone: lastname only, quotes escaped. */
    char *family[] = {"name.family", NULL};
    assert_int_equal(changed(family, &p, "jn_nhsnumber"), 1);
    assert_string_equal(OUT, "{\"lastname\": \"O'Neill \\\"Molly\\\"\"}");

    char *all[] = {"name.given",    "birth_date",    "nhs_number",
                   "telecom.email", "telecom.phone", NULL};
    assert_int_equal(changed(all, &p, "jn_nhsnumber"), 1);
    assert_string_equal(OUT, "{\"firstname\": \"Mary\", \"middlename\": \"Ann Jo\", \"birthdate\": "
                             "\"1947-08-30\", \"jn_nhsnumber\": \"9434765919\", \"telephone1\": "
                             "null, \"emailaddress1\": \"mary@example.org\"}");
    /* Without the NHS number's attribute configured, the NHS number is not written. */
    assert_int_equal(changed(all, &p, NULL), 1);
    assert_null(strstr(OUT, "9434765919"));

    /* One given name: no middle name left over from an older one. */
    n.n_given = 1;
    char *given_only[] = {"name.given", NULL};
    assert_int_equal(changed(given_only, &p, NULL), 1);
    assert_string_equal(OUT, "{\"firstname\": \"Mary\", \"middlename\": null}");

    /* Nothing the CRM holds: no body. */
    char *none[] = {"ni_number",         "gp_practice_ods", "consent.research",
                    "address.home.uprn", "name.prefix",     NULL};
    assert_int_equal(changed(none, &p, "jn_nhsnumber"), 0);
    char *empty[] = {NULL};
    assert_int_equal(changed(empty, &p, "jn_nhsnumber"), 0);
}

/* gendercode as crm_webhook reads it (1 male, 2 female), back the other way. */
static void gender(void **state)
{
    (void)state;
    static const char tmpl[] =
        "{\"MessageName\":\"Update\",\"PrimaryEntityName\":\"contact\",\"PrimaryEntityId\":"
        "\"" CONTACT "\",\"CorrelationId\":\"9f3c2b1a-4e5d-4c6b-8a7f-1e2d3c4b5a69\","
        "\"InputParameters\":[{\"key\":\"Target\","
        "\"value\":{\"LogicalName\":\"contact\",\"Id\":\"" CONTACT "\",\"Attributes\":[{\"key\":"
        "\"gendercode\",\"value\":{\"Value\":%d}}]}}]}";
    static crm_mapped_t m;
    char *sex[] = {"sex", NULL};
    for (int code = 1; code <= 2; code++) {
        char body[1024], want[64];
        (void)snprintf(body, sizeof body, tmpl, code);
        crm_webhook_opts_t o = {0};
        assert_int_equal(crm_webhook_map(body, strlen(body), &o, &m), CRM_MAP_OK);
        assert_int_equal(changed(sex, &m.person, NULL), 1);
        (void)snprintf(want, sizeof want, "{\"gendercode\": %d}", code);
        assert_string_equal(OUT, want);
    }
    /* What Dataverse's option set cannot say is cleared. */
    Joinery__V1__Person p = JOINERY__V1__PERSON__INIT;
    p.sex = JOINERY__V1__ADMINISTRATIVE_SEX__SEX_UNKNOWN;
    assert_int_equal(changed(sex, &p, NULL), 1);
    assert_string_equal(OUT, "{\"gendercode\": null}");
}

static int corrected(const char *field, const char *value)
{
    Joinery__V1__PersonCorrection pc = JOINERY__V1__PERSON_CORRECTION__INIT;
    pc.local_id = CONTACT;
    pc.field = (char *)field;
    pc.current_value = (char *)value;
    pc.owner = "socialcare";
    return crm_outbound_correction_json(&pc, "jn_nhsnumber", OUT, sizeof OUT, &LEN, WHY,
                                        sizeof WHY);
}

static void corrections(void **state)
{
    (void)state;
    assert_int_equal(corrected("birth_date", "1984-03-08"), 1);
    assert_string_equal(OUT, "{\"birthdate\": \"1984-03-08\"}");
    assert_int_equal(corrected("name.given", "Mary Ann"), 1);
    assert_string_equal(OUT, "{\"firstname\": \"Mary\", \"middlename\": \"Ann\"}");
    assert_int_equal(corrected("sex", "female"), 1);
    assert_string_equal(OUT, "{\"gendercode\": 2}");
    /* The golden address's text: lines, then |town|postcode|uprn. */
    assert_int_equal(corrected("address.home", "12 Park Lane\nHeadingley|Leeds|LS6 2AB|72123456"),
                     1);
    assert_string_equal(OUT, "{\"address1_line1\": \"12 Park Lane\", \"address1_line2\": "
                             "\"Headingley\", \"address1_line3\": null, \"address1_city\": "
                             "\"Leeds\", \"address1_postalcode\": \"LS6 2AB\"}");
    assert_int_equal(corrected("telecom.phone", ""), 1); /* the owner holds none */
    assert_string_equal(OUT, "{\"telephone1\": null}");
    assert_int_equal(corrected("nhs_number", "9434765919"), 1);
    assert_string_equal(OUT, "{\"jn_nhsnumber\": \"9434765919\"}");
    assert_int_equal(corrected("ni_number", "AB123456C"), 0);
}

static void case_note(void **state)
{
    (void)state;
    Joinery__V1__Case c = JOINERY__V1__CASE__INIT;
    c.person_master_id = "P01JABCDEF";
    c.person_local_id = CONTACT;
    c.status = JOINERY__V1__CASE_STATUS__CASE_OPEN;
    c.team = "Hospital Discharge Team";
    c.opened_on = "2026-11-30";
    Joinery__V1__CaseChanged cc = JOINERY__V1__CASE_CHANGED__INIT;
    cc.master_id = "C01JCASE";
    cc.version = 1;
    cc.case_ = &c;
    assert_int_equal(
        crm_outbound_note_json(&cc, CONTACT, "2026-12-07", OUT, sizeof OUT, &LEN, WHY, sizeof WHY),
        1);
    assert_string_equal(OUT, "{\"subject\": \"Social care case C01JCASE: open\", \"notetext\": "
                             "\"Social care updated case C01JCASE on 2026-12-07: status changed "
                             "to open; team Hospital Discharge Team; opened on 2026-11-30.\", "
                             "\"objectid_contact@odata.bind\": \"/contacts(" CONTACT ")\"}");

    /* Closed, named by the CRM's own id for the case. */
    Joinery__V1__Case closed = JOINERY__V1__CASE__INIT;
    closed.person_local_id = CONTACT;
    closed.status = JOINERY__V1__CASE_STATUS__CASE_CLOSED;
    closed.closed_on = "2026-12-06";
    closed.closure_reason = "needs met";
    cc.local_id = "CRM-CASE-9";
    cc.case_ = &closed;
    assert_int_equal(
        crm_outbound_note_json(&cc, CONTACT, "2026-12-07", OUT, sizeof OUT, &LEN, WHY, sizeof WHY),
        1);
    assert_string_equal(OUT, "{\"subject\": \"Social care case CRM-CASE-9: closed\", \"notetext\": "
                             "\"Social care updated case CRM-CASE-9 on 2026-12-07: status changed "
                             "to closed; closed on 2026-12-06; closure reason: needs met.\", "
                             "\"objectid_contact@odata.bind\": \"/contacts(" CONTACT ")\"}");

    /* Only the person moved: nothing for the contact centre. */
    Joinery__V1__Case moved = JOINERY__V1__CASE__INIT;
    moved.person_local_id = CONTACT;
    cc.case_ = &moved;
    assert_int_equal(
        crm_outbound_note_json(&cc, CONTACT, "2026-12-07", OUT, sizeof OUT, &LEN, WHY, sizeof WHY),
        0);

    /* Too small a buffer is an error, never a cut-off body. */
    cc.case_ = &c;
    char small[40];
    assert_int_equal(crm_outbound_note_json(&cc, CONTACT, "2026-12-07", small, sizeof small, &LEN,
                                            WHY, sizeof WHY),
                     -1);
    assert_non_null(strstr(WHY, "over"));
}

static void reasons(void **state)
{
    (void)state;
    char r[200];
    const char *dv = "{\"error\":{\"code\":\"0x80040265\",\"message\":\"lastname: too\\nlong\"}}";
    crm_outbound_reason(400, dv, strlen(dv), r, sizeof r);
    assert_string_equal(r, "Dataverse refused it (HTTP 400): lastname: too long");
    const char *html = "<html>Not\r\nFound</html>";
    crm_outbound_reason(404, html, strlen(html), r, sizeof r);
    assert_string_equal(r, "Dataverse refused it (HTTP 404): <html>Not  Found</html>");
    crm_outbound_reason(412, NULL, 0, r, sizeof r);
    assert_string_equal(r, "Dataverse refused it (HTTP 412): no body");
    char tiny[20];
    crm_outbound_reason(400, dv, strlen(dv), tiny, sizeof tiny);
    assert_int_equal(strlen(tiny), sizeof tiny - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(address_and_phone),
        cmocka_unit_test(name_and_the_rest),
        cmocka_unit_test(gender),
        cmocka_unit_test(corrections),
        cmocka_unit_test(case_note),
        cmocka_unit_test(reasons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
