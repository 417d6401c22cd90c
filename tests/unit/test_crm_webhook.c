/* test_crm_webhook.c - Dataverse webhooks (RemoteExecutionContext JSON) to Joinery events, on the
 * samples in tests/data/crm (a contact Create, an Update of the phone alone, an Update with a
 * post image, an incident, a Delete, bad values, an account) and on bodies written here. The
 * payloads are unpacked again and their values asserted as the files give them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/crm_webhook.h"

static crm_mapped_t *R;
static char BODY[65536];
static size_t BODY_LEN;
static const crm_webhook_opts_t OPTS = {.nhs_number_attribute = "jn_nhsnumber",
                                        .today = "2026-12-01"};

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

static const char *sample(const char *name)
{
    char path[1024];
    const char *src = getenv("JOINERY_SOURCE_DIR");
    (void)snprintf(path, sizeof path, "%s/tests/data/crm/%s", src ? src : ".", name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    BODY_LEN = fread(BODY, 1, sizeof BODY - 1, f);
    fclose(f);
    BODY[BODY_LEN] = '\0';
    return BODY;
}

static crm_map_rc_t map_sample(const char *name)
{
    sample(name);
    return crm_webhook_map(BODY, BODY_LEN, &OPTS, R);
}

static crm_map_rc_t map_text(const char *text)
{
    return crm_webhook_map(text, strlen(text), &OPTS, R);
}

static const crm_drop_t *dropped(const char *attribute)
{
    for (size_t i = 0; i < R->n_drops; i++)
        if (strcmp(R->drops[i].attribute, attribute) == 0)
            return &R->drops[i];
    return NULL;
}

static Joinery__V1__Person *person(void)
{
    assert_string_equal(R->type, "person.updated");
    assert_string_equal(R->payload_type, "joinery.v1.Person");
    Joinery__V1__Person *p = joinery__v1__person__unpack(NULL, R->payload_len, R->payload);
    assert_non_null(p);
    return p;
}

static void contact_create(void **state)
{
    (void)state;
    assert_int_equal(map_sample("contact_create.json"), CRM_MAP_OK);
    assert_string_equal(R->message, "Create");
    assert_string_equal(R->record_id, "6d1c2b3a-8f7e-ee11-9ae6-000d3a0b1c2d");
    assert_int_equal(R->n_drops, 0);
    assert_int_equal(strncmp(R->event_id,
                             "crm-9f3c2b1a-4e5d-4c6b-8a7f-1e2d3c4b5a69-"
                             "6d1c2b3a-8f7e-ee11-9ae6-000d3a0b1c2d-Create-",
                             4 + 37 + 37 + 7),
                     0);
    Joinery__V1__Person *p = person();
    assert_non_null(p->name);
    assert_int_equal(p->name->n_given, 2);
    assert_string_equal(p->name->given[0], "Maya");
    assert_string_equal(p->name->given[1], "Rose");
    assert_string_equal(p->name->family, "Carter");
    assert_string_equal(p->birth_date, "1975-06-02");
    assert_int_equal(p->sex, JOINERY__V1__ADMINISTRATIVE_SEX__SEX_FEMALE);
    assert_string_equal(p->nhs_number, "9434765919");
    assert_int_equal(p->n_addresses, 1);
    assert_string_equal(p->addresses[0]->use, "home");
    assert_int_equal(p->addresses[0]->n_lines, 2);
    assert_string_equal(p->addresses[0]->lines[0], "3 Park Row");
    assert_string_equal(p->addresses[0]->lines[1], "Headingley");
    assert_string_equal(p->addresses[0]->town, "Leeds");
    assert_string_equal(p->addresses[0]->postcode, "LS6 3AA");
    assert_int_equal(p->n_telecom, 3);
    assert_string_equal(p->telecom[0]->system, "phone");
    assert_string_equal(p->telecom[0]->value, "0113 496 0000");
    assert_string_equal(p->telecom[1]->value, "07700 900123");
    assert_string_equal(p->telecom[2]->system, "email");
    assert_string_equal(p->telecom[2]->value, "maya.carter@example.org");
    joinery__v1__person__free_unpacked(p, NULL);
}

/* An Update carries only what changed: the phone, and nothing else is made up. */
static void contact_update_phone(void **state)
{
    (void)state;
    assert_int_equal(map_sample("contact_update_phone.json"), CRM_MAP_OK);
    /* The id as sent was upper case: the source record id is the one Create gave. */
    assert_string_equal(R->record_id, "6d1c2b3a-8f7e-ee11-9ae6-000d3a0b1c2d");
    Joinery__V1__Person *p = person();
    assert_null(p->name);
    assert_string_equal(p->birth_date, "");
    assert_int_equal(p->n_addresses, 0);
    assert_int_equal(p->n_telecom, 1);
    assert_string_equal(p->telecom[0]->value, "0113 496 0999");
    joinery__v1__person__free_unpacked(p, NULL);
}

/* With a post image the whole address goes, not the changed city alone. */
static void contact_update_image(void **state)
{
    (void)state;
    assert_int_equal(map_sample("contact_update_image.json"), CRM_MAP_OK);
    Joinery__V1__Person *p = person();
    assert_int_equal(p->n_addresses, 1);
    assert_string_equal(p->addresses[0]->lines[0], "12 Manor Row");
    assert_string_equal(p->addresses[0]->town, "Bradford");
    assert_string_equal(p->addresses[0]->postcode, "BD1 4PB");
    assert_string_equal(p->name->family, "Carter");
    joinery__v1__person__free_unpacked(p, NULL);
}

static void incident_create(void **state)
{
    (void)state;
    assert_int_equal(map_sample("incident_create.json"), CRM_MAP_OK);
    assert_string_equal(R->type, "crm.service_request.created");
    assert_string_equal(R->payload_type, "joinery.v1.ServiceRequest");
    assert_string_equal(R->ticket, "CAS-01042-K9L2M3");
    Joinery__V1__ServiceRequest *r =
        joinery__v1__service_request__unpack(NULL, R->payload_len, R->payload);
    assert_non_null(r);
    assert_string_equal(r->request_id, "8e9f0a1b-2c3d-ee11-9ae6-000d3a0b1c2d");
    assert_string_equal(r->contact_id, "6d1c2b3a-8f7e-ee11-9ae6-000d3a0b1c2d");
    assert_string_equal(r->description, "Missed bin collection, Park Row");
    assert_string_equal(r->status, "in-progress");
    assert_string_equal(r->channel, "web");
    assert_string_equal(r->opened_at, "2026-11-02T09:15:00Z");
    joinery__v1__service_request__free_unpacked(r, NULL);
    /* The same incident changed: .updated. */
    char *upd = strdup(BODY);
    char *m = strstr(upd, "\"MessageName\":\"Create\"");
    assert_non_null(m);
    memcpy(m, "\"MessageName\":\"Update\"", 22);
    assert_int_equal(map_text(upd), CRM_MAP_OK);
    assert_string_equal(R->type, "crm.service_request.updated");
    free(upd);
}

static void contact_delete(void **state)
{
    (void)state;
    assert_int_equal(map_sample("contact_delete.json"), CRM_MAP_IGNORED);
    assert_non_null(strstr(R->why, "no deletions"));
}

static void bad_values(void **state)
{
    (void)state;
    assert_int_equal(map_sample("contact_bad_values.json"), CRM_MAP_OK);
    assert_int_equal(R->n_drops, 2);
    assert_non_null(dropped("birthdate"));
    assert_non_null(strstr(dropped("birthdate")->reason, "dropped"));
    assert_non_null(dropped("address1_postalcode"));
    Joinery__V1__Person *p = person();
    assert_string_equal(p->birth_date, "");
    assert_string_equal(p->name->family, "Nowak");
    assert_int_equal(p->sex, JOINERY__V1__ADMINISTRATIVE_SEX__SEX_MALE);
    assert_string_equal(p->addresses[0]->town, "Wakefield");
    assert_string_equal(p->addresses[0]->postcode, "");
    joinery__v1__person__free_unpacked(p, NULL);
}

static void unknown_entity(void **state)
{
    (void)state;
    assert_int_equal(map_sample("account_create.json"), CRM_MAP_UNMAPPABLE);
    assert_non_null(strstr(R->why, "'account' is not mapped"));
}

static void unreadable(void **state)
{
    (void)state;
    assert_int_equal(map_text("{\"MessageName\": \"Create\","), CRM_MAP_UNREADABLE);
    assert_non_null(strstr(R->why, "not JSON"));
    assert_int_equal(map_text("[1, 2]"), CRM_MAP_UNREADABLE);
    assert_int_equal(map_text(""), CRM_MAP_UNREADABLE);
    /* Duplicate keys could mean two things: refused. */
    assert_int_equal(map_text("{\"a\":1,\"a\":2}"), CRM_MAP_UNREADABLE);
}

static void unmappable(void **state)
{
    (void)state;
    assert_int_equal(map_text("{}"), CRM_MAP_UNMAPPABLE);
    /* No GUID where one must be. */
    assert_int_equal(map_text("{\"MessageName\":\"Create\",\"PrimaryEntityName\":\"contact\","
                              "\"PrimaryEntityId\":\"42\",\"CorrelationId\":"
                              "\"9f3c2b1a-4e5d-4c6b-8a7f-1e2d3c4b5a69\"}"),
                     CRM_MAP_UNMAPPABLE);
    /* Ids fine, a message not mapped. */
    const char *assign = "{\"MessageName\":\"Assign\",\"PrimaryEntityName\":\"contact\","
                         "\"PrimaryEntityId\":\"6d1c2b3a-8f7e-ee11-9ae6-000d3a0b1c2d\","
                         "\"CorrelationId\":\"9f3c2b1a-4e5d-4c6b-8a7f-1e2d3c4b5a69\"}";
    assert_int_equal(map_text(assign), CRM_MAP_UNMAPPABLE);
    assert_non_null(strstr(R->why, "'Assign'"));
    /* Create without a Target. */
    const char *no_target = "{\"MessageName\":\"Create\",\"PrimaryEntityName\":\"contact\","
                            "\"PrimaryEntityId\":\"6d1c2b3a-8f7e-ee11-9ae6-000d3a0b1c2d\","
                            "\"CorrelationId\":\"9f3c2b1a-4e5d-4c6b-8a7f-1e2d3c4b5a69\","
                            "\"InputParameters\":[]}";
    assert_int_equal(map_text(no_target), CRM_MAP_UNMAPPABLE);
}

/* A body that differs, even by one byte, is another event; the same bytes, the same id. */
static void event_ids(void **state)
{
    (void)state;
    assert_int_equal(map_sample("contact_update_phone.json"), CRM_MAP_OK);
    char first[CRM_EVENT_ID_MAX + 1];
    (void)snprintf(first, sizeof first, "%s", R->event_id);
    assert_true(strlen(first) <= 128);
    for (const char *p = first; *p; p++)
        assert_true(*p > 0x20 && *p < 0x7f);
    assert_int_equal(map_sample("contact_update_phone.json"), CRM_MAP_OK);
    assert_string_equal(R->event_id, first);
    char *m = strstr(BODY, "0113 496 0999");
    assert_non_null(m);
    m[12] = '8';
    assert_int_equal(crm_webhook_map(BODY, BODY_LEN, &OPTS, R), CRM_MAP_OK);
    assert_string_not_equal(R->event_id, first);
}

/* Values by their types: WCF dates with an offset, ISO dates, bare option values, bad text. */
static void values(void **state)
{
    (void)state;
    static const char tmpl[] =
        "{\"MessageName\":\"Update\",\"PrimaryEntityName\":\"contact\","
        "\"PrimaryEntityId\":\"6d1c2b3a-8f7e-ee11-9ae6-000d3a0b1c2d\","
        "\"CorrelationId\":\"9f3c2b1a-4e5d-4c6b-8a7f-1e2d3c4b5a69\","
        "\"InputParameters\":[{\"key\":\"Target\",\"value\":{\"Attributes\":[%s]}}]}";
    char body[4096];
    /* 1975-06-01T23:00Z written in BST (+0100): the day is 2 June. */
    (void)snprintf(body, sizeof body, tmpl,
                   "{\"key\":\"birthdate\",\"value\":\"\\/Date(170895600000+0100)\\/\"},"
                   "{\"key\":\"gendercode\",\"value\":1},"
                   "{\"key\":\"lastname\",\"value\":\"  O'Brien \\n Smyth \"}");
    assert_int_equal(map_text(body), CRM_MAP_OK);
    Joinery__V1__Person *p = person();
    assert_string_equal(p->birth_date, "1975-06-02");
    assert_int_equal(p->sex, JOINERY__V1__ADMINISTRATIVE_SEX__SEX_MALE);
    assert_string_equal(p->name->family, "O'Brien Smyth");
    joinery__v1__person__free_unpacked(p, NULL);

    (void)snprintf(body, sizeof body, tmpl,
                   "{\"key\":\"birthdate\",\"value\":\"1982-11-30T00:00:00Z\"},"
                   "{\"key\":\"gendercode\",\"value\":{\"Value\":9}},"
                   "{\"key\":\"firstname\",\"value\":\"Ann\\u0007e\"},"
                   "{\"key\":\"jn_nhsnumber\",\"value\":\"9434765918\"},"
                   "{\"key\":\"telephone1\",\"value\":42},"
                   "{\"key\":\"mobilephone\",\"value\":null}");
    assert_int_equal(map_text(body), CRM_MAP_OK);
    assert_non_null(dropped("gendercode"));
    assert_non_null(dropped("firstname"));
    assert_non_null(dropped("jn_nhsnumber"));
    assert_non_null(dropped("telephone1"));
    assert_null(dropped("mobilephone")); /* cleared: not sent, not refused */
    p = person();
    assert_string_equal(p->birth_date, "1982-11-30");
    assert_int_equal(p->sex, 0);
    assert_string_equal(p->nhs_number, "");
    assert_int_equal(p->n_telecom, 0);
    joinery__v1__person__free_unpacked(p, NULL);

    /* 29 February 1983 does not exist; a WCF date with garbage. */
    (void)snprintf(body, sizeof body, tmpl,
                   "{\"key\":\"birthdate\",\"value\":\"1983-02-29\"},"
                   "{\"key\":\"lastname\",\"value\":\"Lee\"}");
    assert_int_equal(map_text(body), CRM_MAP_OK);
    assert_non_null(dropped("birthdate"));
    (void)snprintf(body, sizeof body, tmpl,
                   "{\"key\":\"birthdate\",\"value\":\"\\/Date(99999999999999999)\\/\"},"
                   "{\"key\":\"lastname\",\"value\":\"Lee\"}");
    assert_int_equal(map_text(body), CRM_MAP_OK);
    assert_non_null(dropped("birthdate"));

    /* Only things Joinery does not keep: nothing to publish. */
    (void)snprintf(body, sizeof body, tmpl, "{\"key\":\"description\",\"value\":\"VIP\"}");
    assert_int_equal(map_text(body), CRM_MAP_IGNORED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(contact_create),
        cmocka_unit_test(contact_update_phone),
        cmocka_unit_test(contact_update_image),
        cmocka_unit_test(incident_create),
        cmocka_unit_test(contact_delete),
        cmocka_unit_test(bad_values),
        cmocka_unit_test(unknown_entity),
        cmocka_unit_test(unreadable),
        cmocka_unit_test(unmappable),
        cmocka_unit_test(event_ids),
        cmocka_unit_test(values),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
