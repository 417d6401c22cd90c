/* test_admin_decode.c - a stored envelope as the admin API shows it
 * (hub/admin/admin_decode.h): its fields, and its payload decoded through the
 * descriptor its payload_type names, walking nested messages, repeated
 * fields, enums and booleans; defaults left out; unknown types and bytes
 * that do not parse stay base64. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <joinery/v1/envelope.pb-c.h>
#include <joinery/v1/person.pb-c.h>

#include "admin/admin_decode.h"

/* ENV packed into a new buffer (the caller's). */
static uint8_t *pack_env(const Joinery__V1__Envelope *env, size_t *len)
{
    *len = joinery__v1__envelope__get_packed_size(env);
    uint8_t *buf = malloc(*len ? *len : 1);
    assert_non_null(buf);
    joinery__v1__envelope__pack(env, buf);
    return buf;
}

static void test_person_payload(void **state)
{
    (void)state;
    Joinery__V1__HumanName name = JOINERY__V1__HUMAN_NAME__INIT;
    char *given[] = {"Ada", "Augusta"};
    name.given = given;
    name.n_given = 2;
    name.family = "Lovelace";
    Joinery__V1__Identifier id = JOINERY__V1__IDENTIFIER__INIT, *ids[] = {&id};
    id.system = "crm";
    id.value = "c-1";
    Joinery__V1__Person p = JOINERY__V1__PERSON__INIT;
    p.name = &name;
    p.birth_date = "1815-12-10";
    p.sex = JOINERY__V1__ADMINISTRATIVE_SEX__SEX_FEMALE;
    p.identifiers = ids;
    p.n_identifiers = 1;
    p.interpreter_required = 1;
    uint8_t pay[256];
    size_t plen = joinery__v1__person__pack(&p, pay);

    Joinery__V1__Envelope env = JOINERY__V1__ENVELOPE__INIT;
    env.event_id = "e-1";
    env.type = "person.updated";
    env.occurred_at = 1700000000000000;
    env.payload_type = "joinery.v1.Person";
    env.payload.data = pay;
    env.payload.len = plen;
    size_t len;
    uint8_t *buf = pack_env(&env, &len);
    json_t *j = admin_decode_envelope(buf, len);
    free(buf);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "event_id")), "e-1");
    assert_int_equal(json_integer_value(json_object_get(j, "occurred_at")), 1700000000000000);
    assert_null(json_object_get(j, "source")); /* empty: left out */
    json_t *pj = json_object_get(j, "payload");
    assert_true(json_is_object(pj));
    assert_string_equal(json_string_value(json_object_get(pj, "birth_date")), "1815-12-10");
    assert_string_equal(json_string_value(json_object_get(pj, "sex")), "SEX_FEMALE");
    assert_true(json_is_true(json_object_get(pj, "interpreter_required")));
    json_t *nm = json_object_get(pj, "name");
    assert_string_equal(json_string_value(json_object_get(nm, "family")), "Lovelace");
    assert_int_equal(json_array_size(json_object_get(nm, "given")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(nm, "given"), 1)),
                        "Augusta");
    json_t *idj = json_array_get(json_object_get(pj, "identifiers"), 0);
    assert_string_equal(json_string_value(json_object_get(idj, "value")), "c-1");
    assert_null(json_object_get(pj, "other_names")); /* empty repeated: left out */
    json_decref(j);
}

static void test_unknown_and_garbage(void **state)
{
    (void)state;
    uint8_t pay[] = {0xff, 0x00, 0x41};
    Joinery__V1__Envelope env = JOINERY__V1__ENVELOPE__INIT;
    env.event_id = "e-2";
    env.payload_type = "acme.v9.Widget";
    env.payload.data = pay;
    env.payload.len = sizeof pay;
    size_t len;
    uint8_t *buf = pack_env(&env, &len);
    json_t *j = admin_decode_envelope(buf, len);
    free(buf);
    assert_string_equal(json_string_value(json_object_get(j, "payload")), "/wBB");
    json_decref(j);

    /* A known type whose bytes do not parse stays base64 too. */
    env.payload_type = "joinery.v1.Person";
    buf = pack_env(&env, &len);
    j = admin_decode_envelope(buf, len);
    free(buf);
    assert_string_equal(json_string_value(json_object_get(j, "payload")), "/wBB");
    json_decref(j);

    const uint8_t junk[] = {0x0a, 0xff, 0xff};
    j = admin_decode_envelope(junk, sizeof junk);
    assert_string_equal(json_string_value(json_object_get(j, "envelope_base64")), "Cv//");
    json_decref(j);
    assert_null(admin_decode_find("joinery.v1.Nope"));
    assert_non_null(admin_decode_find("joinery.v1.CrmContact"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_person_payload),
        cmocka_unit_test(test_unknown_and_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
