/* test_sdk_codec.c - cmocka tests for the SDK's event encoding (adapters/sdk/sdk_codec.c): a
 * joinery_event_t survives encode -> Envelope bytes -> decode, bad events are refused with a
 * reason, and hand-framed PUBLISH bodies parse as protobuf Publish messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

/* See test_sdk_ulid.c for why the sources are included. */
#include "../../include/joinery/joinery.h"
#include "../../adapters/sdk/sdk_arena.c"
#include "../../adapters/sdk/sdk_codec.c"
#include "../../adapters/sdk/sdk_util.c"

#include <joinery/v1/protocol.pb-c.h>

static void test_roundtrip_all_fields(void **state)
{
    (void)state;
    static const uint8_t payload[] = {0x0a, 0x03, 'B', 'o', 'b', 0x00, 0xff};
    joinery_attr_t attrs[] = {{"tenant", "north"}, {"trace", ""}, {"k3", "v3"}};
    joinery_event_t ev = {
        .event_id = "ignored: the caller passes the id",
        .type = "person.updated",
        .source_record_id = "C-42",
        .master_id = "M-1",
        .correlation_id = "corr",
        .causation_id = "cause",
        .payload_type = "joinery.v1.Person",
        .payload = payload,
        .payload_len = sizeof payload,
        .occurred_at_us = 1700000000123456,
        .base_version = 7,
        .schema_version = 2,
        .attrs = attrs,
        .nattrs = 3,
    };
    sdk_codec_t k;
    sdk_codec_init(&k);
    sdk_buf_t buf = {0};
    char err[128];
    assert_int_equal(sdk_codec_encode(&k, &ev, "crm", "01HXYZ", 99, &buf, err, sizeof err), 0);

    sdk_arena_t *a = sdk_arena_new(0);
    joinery_event_t out;
    assert_int_equal(sdk_codec_decode(a, buf.data, buf.len, &out, err, sizeof err), 0);
    assert_string_equal(out.event_id, "01HXYZ");
    assert_string_equal(out.source, "crm");
    assert_string_equal(out.type, "person.updated");
    assert_string_equal(out.source_record_id, "C-42");
    assert_string_equal(out.master_id, "M-1");
    assert_string_equal(out.correlation_id, "corr");
    assert_string_equal(out.causation_id, "cause");
    assert_string_equal(out.payload_type, "joinery.v1.Person");
    assert_int_equal(out.payload_len, sizeof payload);
    assert_memory_equal(out.payload, payload, sizeof payload);
    assert_int_equal(out.occurred_at_us, 1700000000123456);
    assert_int_equal(out.base_version, 7);
    assert_int_equal(out.schema_version, 2);
    assert_int_equal(out.received_at_us, 0);
    assert_int_equal(out.nattrs, 3);
    for (size_t i = 0; i < 3; i++) { /* protobuf maps keep no order: look each one up */
        int found = 0;
        for (size_t j = 0; j < out.nattrs; j++) {
            if (strcmp(out.attrs[j].key, attrs[i].key) == 0) {
                assert_string_equal(out.attrs[j].value, attrs[i].value);
                found = 1;
            }
        }
        assert_true(found);
    }
    sdk_arena_destroy(&a);
    sdk_buf_free(&buf);
    sdk_codec_free(&k);
}

static void test_minimal_event_defaults(void **state)
{
    (void)state;
    joinery_event_t ev = {.type = "case.referral.created"};
    sdk_codec_t k;
    sdk_codec_init(&k);
    sdk_buf_t buf = {0};
    assert_int_equal(sdk_codec_encode(&k, &ev, "case", "E1", 1234, &buf, NULL, 0), 0);
    sdk_arena_t *a = sdk_arena_new(0);
    joinery_event_t out;
    assert_int_equal(sdk_codec_decode(a, buf.data, buf.len, &out, NULL, 0), 0);
    assert_int_equal(out.occurred_at_us, 1234); /* 0 means "now", which the caller passed */
    assert_string_equal(out.source_record_id, "");
    assert_string_equal(out.payload_type, "");
    assert_int_equal(out.payload_len, 0);
    assert_int_equal(out.nattrs, 0);
    assert_null(out.attrs);
    sdk_arena_destroy(&a);
    sdk_buf_free(&buf);
    sdk_codec_free(&k);
}

static void expect_refused(const joinery_event_t *ev, const char *id, const char *needle)
{
    sdk_codec_t k;
    sdk_codec_init(&k);
    sdk_buf_t buf = {0};
    char err[128] = "";
    assert_int_equal(sdk_codec_encode(&k, ev, "crm", id, 0, &buf, err, sizeof err), -1);
    if (strstr(err, needle) == NULL) {
        fail_msg("reason lacks \"%s\": %s", needle, err);
    }
    sdk_buf_free(&buf);
    sdk_codec_free(&k);
}

static void test_refuses_bad_events(void **state)
{
    (void)state;
    joinery_event_t no_type = {.source_record_id = "x"};
    expect_refused(&no_type, "E1", "type");
    joinery_event_t empty_type = {.type = ""};
    expect_refused(&empty_type, "E1", "type");
    joinery_event_t ok = {.type = "t"};
    expect_refused(&ok, "", "event_id");
    char long_id[JOINERY_EVENT_ID_MAX + 2];
    memset(long_id, 'A', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    expect_refused(&ok, long_id, "event_id");
    joinery_event_t no_payload = {.type = "t", .payload_len = 3};
    expect_refused(&no_payload, "E1", "payload");
    joinery_attr_t bad[] = {{NULL, "v"}};
    joinery_event_t bad_attr = {.type = "t", .attrs = bad, .nattrs = 1};
    expect_refused(&bad_attr, "E1", "attribute");
    expect_refused(NULL, "E1", "type");
}

static void test_decode_garbage(void **state)
{
    (void)state;
    static const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
    sdk_arena_t *a = sdk_arena_new(0);
    joinery_event_t out;
    char err[128] = "";
    assert_int_equal(sdk_codec_decode(a, junk, sizeof junk, &out, err, sizeof err), -1);
    assert_non_null(strstr(err, "does not parse"));
    sdk_arena_destroy(&a);
}

static void test_publish_framing(void **state)
{
    (void)state;
    /* Sizes chosen so the length varint takes 1, 2 and 3 bytes. */
    const size_t sizes[] = {10, 300, 20000};
    sdk_codec_t k;
    sdk_codec_init(&k);
    sdk_buf_t body = {0}, env = {0};
    static uint8_t payload[20000];
    memset(payload, 'p', sizeof payload);
    size_t expected_len = 0;
    for (size_t i = 0; i < 3; i++) {
        joinery_event_t ev = {.type = "bulk.item", .payload = payload, .payload_len = sizes[i]};
        char id[8] = {'E', (char)('0' + i), 0};
        assert_int_equal(sdk_codec_encode(&k, &ev, "crm", id, 1, &env, NULL, 0), 0);
        expected_len += env.len + sdk_codec_publish_overhead(env.len);
        assert_int_equal(sdk_codec_publish_append(&body, env.data, env.len), 0);
    }
    assert_int_equal(body.len, expected_len);
    Joinery__V1__Publish *p = joinery__v1__publish__unpack(NULL, body.len, body.data);
    assert_non_null(p);
    assert_int_equal(p->n_events, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(p->events[i]->payload.len, sizes[i]);
        assert_int_equal(p->events[i]->event_id[1], '0' + (int)i);
        assert_string_equal(p->events[i]->source, "crm");
    }
    joinery__v1__publish__free_unpacked(p, NULL);
    sdk_buf_free(&body);
    sdk_buf_free(&env);
    sdk_codec_free(&k);
}

static void test_arena_marks(void **state)
{
    (void)state;
    sdk_arena_t *a = sdk_arena_new(128);
    void *p1 = sdk_arena_alloc(a, 10);
    sdk_arena_mark_t m = sdk_arena_mark(a);
    void *p2 = sdk_arena_alloc(a, 10);
    void *big = sdk_arena_alloc(a, 1000); /* larger than a chunk */
    assert_non_null(p1);
    assert_non_null(p2);
    assert_non_null(big);
    memset(big, 0x5a, 1000);
    sdk_arena_release(a, m);
    assert_ptr_equal(sdk_arena_alloc(a, 10), p2); /* memory reused after release */
    assert_non_null(sdk_arena_alloc(a, 5000));    /* spare chunk too small: replaced */
    sdk_arena_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_all_fields), cmocka_unit_test(test_minimal_event_defaults),
        cmocka_unit_test(test_refuses_bad_events),   cmocka_unit_test(test_decode_garbage),
        cmocka_unit_test(test_publish_framing),      cmocka_unit_test(test_arena_marks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
