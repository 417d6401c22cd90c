/* test_sdk_payload.c - cmocka tests for the SDK's payload decoder (adapters/sdk/sdk_payload.c and
 * lib/protojson, joinery_payload_json): a Person packed by protobuf-c comes back as JSON with every
 * field the packer set (nested messages, repeated fields, enums by name) and none it left at its
 * default; unknown types, bytes that are not the message and non-UTF-8 strings are handled without
 * a half answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

/* See test_sdk_ulid.c for why the source is included; the walk and the list of types are
 * lib/protojson's. */
#include "../../adapters/sdk/sdk_payload.c"
#include "../../lib/protojson/protojson.c"

static uint8_t *pack_person(Joinery__V1__Person *p, size_t *len)
{
    *len = joinery__v1__person__get_packed_size(p);
    uint8_t *buf = malloc(*len ? *len : 1);
    assert_non_null(buf);
    assert_int_equal(joinery__v1__person__pack(p, buf), *len);
    return buf;
}

static void test_person_fields(void **state)
{
    (void)state;
    Joinery__V1__Person p = JOINERY__V1__PERSON__INIT;
    Joinery__V1__HumanName name = JOINERY__V1__HUMAN_NAME__INIT;
    Joinery__V1__Address addr = JOINERY__V1__ADDRESS__INIT;
    char *given[] = {"Ann", "Marie"};
    char *lines[] = {"1 High Street"};
    Joinery__V1__Address *addrs[] = {&addr};
    name.given = given;
    name.n_given = 2;
    name.family = "Smith";
    addr.use = "home";
    addr.lines = lines;
    addr.n_lines = 1;
    addr.postcode = "LS1 4AP";
    p.nhs_number = "9434765919";
    p.name = &name;
    p.birth_date = "1960-01-05";
    p.sex = JOINERY__V1__ADMINISTRATIVE_SEX__SEX_FEMALE;
    p.addresses = addrs;
    p.n_addresses = 1;
    p.interpreter_required = 1;
    size_t len;
    uint8_t *buf = pack_person(&p, &len);

    json_t *j = sdk_payload_decode("joinery.v1.Person", buf, len);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "nhs_number")), "9434765919");
    assert_string_equal(json_string_value(json_object_get(j, "birth_date")), "1960-01-05");
    assert_string_equal(json_string_value(json_object_get(j, "sex")), "SEX_FEMALE");
    assert_true(json_is_true(json_object_get(j, "interpreter_required")));
    json_t *n = json_object_get(j, "name");
    assert_string_equal(json_string_value(json_object_get(n, "family")), "Smith");
    assert_int_equal(json_array_size(json_object_get(n, "given")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(n, "given"), 1)), "Marie");
    json_t *a = json_array_get(json_object_get(j, "addresses"), 0);
    assert_string_equal(json_string_value(json_object_get(a, "postcode")), "LS1 4AP");
    assert_string_equal(json_string_value(json_array_get(json_object_get(a, "lines"), 0)),
                        "1 High Street");
    /* Left at their defaults by the packer: left out, as protobuf's JSON mapping does. */
    assert_null(json_object_get(j, "ni_number"));
    assert_null(json_object_get(j, "telecom"));
    assert_null(json_object_get(j, "nhs_number_verification"));
    assert_null(json_object_get(a, "town"));
    assert_int_equal(json_object_size(j), 6);
    json_decref(j);

    char *text = joinery_payload_json("joinery.v1.Person", buf, len);
    assert_non_null(text);
    json_t *back = json_loads(text, 0, NULL);
    assert_non_null(back);
    assert_string_equal(json_string_value(json_object_get(back, "nhs_number")), "9434765919");
    assert_null(strchr(text, '\n')); /* compact: one line of tail output */
    json_decref(back);
    free(text);
    free(buf);
}

static void test_nested_message_and_uint64(void **state)
{
    (void)state;
    Joinery__V1__PersonChanged pc = JOINERY__V1__PERSON_CHANGED__INIT;
    Joinery__V1__Person p = JOINERY__V1__PERSON__INIT;
    char *fields[] = {"birth_date"};
    p.birth_date = "1971-03-02";
    pc.master_id = "P01";
    pc.version = UINT64_MAX; /* beyond a JSON integer of jansson's: kept as digits */
    pc.changed_fields = fields;
    pc.n_changed_fields = 1;
    pc.person = &p;
    size_t len = joinery__v1__person_changed__get_packed_size(&pc);
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    joinery__v1__person_changed__pack(&pc, buf);
    json_t *j = sdk_payload_decode("joinery.v1.PersonChanged", buf, len);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "version")), "18446744073709551615");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "person"), "birth_date")),
        "1971-03-02");
    json_decref(j);
    pc.version = 7;
    joinery__v1__person_changed__pack(&pc, buf);
    len = joinery__v1__person_changed__get_packed_size(&pc);
    j = sdk_payload_decode("joinery.v1.PersonChanged", buf, len);
    assert_int_equal(json_integer_value(json_object_get(j, "version")), 7);
    json_decref(j);
    free(buf);
}

static void test_unknown_and_unparsable(void **state)
{
    (void)state;
    static const uint8_t text[] = "{\"a\": 1}";
    assert_null(sdk_payload_find("application/json"));
    assert_null(sdk_payload_find(NULL));
    assert_null(joinery_payload_json("application/json", text, sizeof text - 1));
    assert_null(joinery_payload_json(NULL, text, sizeof text - 1));
    /* The protocol's own messages are not payloads. */
    assert_null(joinery_payload_json("joinery.v1.Hello", "", 0));
    /* A field 1 (string) claiming 100 bytes where there are 2: not a Person. */
    static const uint8_t cut[] = {0x0a, 100, 'a', 'b'};
    assert_null(joinery_payload_json("joinery.v1.Person", cut, sizeof cut));
    /* The empty message is a Person with every field at its default. */
    char *empty = joinery_payload_json("joinery.v1.Person", NULL, 0);
    assert_non_null(empty);
    assert_string_equal(empty, "{}");
    free(empty);
    /* Every listed type is found by its own name. */
    for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
        assert_ptr_equal(sdk_payload_find(known[i]->name), known[i]);
    }
}

static void test_not_utf8_string(void **state)
{
    (void)state;
    Joinery__V1__Person p = JOINERY__V1__PERSON__INIT;
    p.ni_number = "\xff\xfe";
    size_t len;
    uint8_t *buf = pack_person(&p, &len);
    json_t *j = sdk_payload_decode("joinery.v1.Person", buf, len);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "ni_number")), "//4=");
    json_decref(j);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_person_fields),
        cmocka_unit_test(test_nested_message_and_uint64),
        cmocka_unit_test(test_unknown_and_unparsable),
        cmocka_unit_test(test_not_utf8_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
