/* test_sdk_ulid.c - cmocka tests for the SDK's ULID event ids (adapters/sdk/sdk_ulid.c): the
 * 26-character Crockford base32 shape, the encoded time, and strict monotonic order within a
 * millisecond, across clock steps backwards and against the public joinery_event_id_new. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

/* tests/CMakeLists.txt links unit tests with joinery_core only, and libjoinery exports nothing
 * but its public API, so the SDK internals under test are compiled into the test itself. */
#include "../../adapters/sdk/sdk_ulid.c"

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static void assert_ulid_shape(const char *id)
{
    assert_int_equal(strlen(id), 26);
    for (size_t i = 0; i < 26; i++) {
        if (strchr(alphabet, id[i]) == NULL) {
            fail_msg("character %zu of %s is not Crockford base32", i, id);
        }
    }
    assert_true(id[0] <= '7'); /* 128 bits in 130: the first character carries 3 bits */
}

static void test_known_encoding(void **state)
{
    (void)state;
    sdk_ulid_t g = {0};
    uint8_t zero[10] = {0};
    char id[27];
    sdk_ulid_next_with(&g, 0, zero, id);
    assert_string_equal(id, "00000000000000000000000000");

    /* Spec example time 1469918176385 ms encodes as 01ARYZ6S41. */
    sdk_ulid_t g2 = {0};
    sdk_ulid_next_with(&g2, 1469918176385ull, zero, id);
    assert_memory_equal(id, "01ARYZ6S41", 10);
    assert_string_equal(id + 10, "0000000000000000");

    uint8_t ones[10];
    memset(ones, 0xFF, sizeof ones);
    sdk_ulid_t g3 = {0};
    sdk_ulid_next_with(&g3, 0xFFFFFFFFFFFFull, ones, id);
    /* The generator clears the top random bit for headroom: 0x7F FF.. */
    assert_string_equal(id, "7ZZZZZZZZZFZZZZZZZZZZZZZZZ");
}

static void test_time_roundtrip(void **state)
{
    (void)state;
    const uint64_t times[] = {0, 1, 1469918176385ull, 1700000000000ull, 0xFFFFFFFFFFFFull};
    uint8_t rnd[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        sdk_ulid_t g = {0};
        char id[27];
        uint64_t back = 42;
        sdk_ulid_next_with(&g, times[i], rnd, id);
        assert_ulid_shape(id);
        assert_int_equal(sdk_ulid_time_ms(id, &back), 0);
        assert_int_equal(back, times[i]);
    }
    uint64_t ms;
    char truncated[27] = "01ARYZ6S41"; /* sized like a full id, as callers' buffers are */
    assert_int_equal(sdk_ulid_time_ms(truncated, &ms), -1);
    assert_int_equal(sdk_ulid_time_ms("8ZZZZZZZZZZZZZZZZZZZZZZZZZ", &ms), -1);
    assert_int_equal(sdk_ulid_time_ms("01ARYZ6S41UUUUUUUUUUUUUUUU", &ms), -1); /* U excluded */
    assert_int_equal(sdk_ulid_time_ms(NULL, &ms), -1);
}

static void test_monotonic_same_millisecond(void **state)
{
    (void)state;
    sdk_ulid_t g = {0};
    char prev[27], id[27];
    uint8_t rnd[10];
    memset(rnd, 0xAB, sizeof rnd);
    sdk_ulid_next_with(&g, 1000, rnd, prev);
    for (int i = 0; i < 5000; i++) {
        /* Fresh random bytes that would sort lower must not be used within the millisecond. */
        memset(rnd, i & 1 ? 0x00 : 0xFF, sizeof rnd);
        sdk_ulid_next_with(&g, 1000, rnd, id);
        assert_ulid_shape(id);
        if (strcmp(prev, id) >= 0) {
            fail_msg("id %d not increasing: %s then %s", i, prev, id);
        }
        uint64_t ms;
        sdk_ulid_time_ms(id, &ms);
        assert_int_equal(ms, 1000);
        memcpy(prev, id, sizeof id);
    }
}

static void test_monotonic_clock_backwards(void **state)
{
    (void)state;
    sdk_ulid_t g = {0};
    uint8_t rnd[10] = {0};
    char a[27], b[27], c[27];
    sdk_ulid_next_with(&g, 5000, rnd, a);
    sdk_ulid_next_with(&g, 4000, rnd, b); /* clock stepped back */
    assert_true(strcmp(a, b) < 0);
    memset(rnd, 0, sizeof rnd);
    sdk_ulid_next_with(&g, 6000, rnd, c);
    assert_true(strcmp(b, c) < 0);
    uint64_t ms;
    sdk_ulid_time_ms(c, &ms);
    assert_int_equal(ms, 6000);
}

static void test_random_overflow_borrows_next_ms(void **state)
{
    (void)state;
    sdk_ulid_t g = {0};
    uint8_t rnd[10] = {0};
    char a[27], b[27];
    sdk_ulid_next_with(&g, 7000, rnd, a);
    memset(g.rand, 0xFF, sizeof g.rand); /* force the increment to wrap */
    sdk_ulid_next_with(&g, 7000, rnd, b);
    assert_true(strcmp(a, b) < 0);
    uint64_t ms;
    sdk_ulid_time_ms(b, &ms);
    assert_int_equal(ms, 7001);
}

static void test_real_clock_sortable_and_unique(void **state)
{
    (void)state;
    sdk_ulid_t g = {0};
    char prev[27] = "";
    for (int i = 0; i < 20000; i++) {
        char id[27];
        sdk_ulid_next(&g, id);
        assert_ulid_shape(id);
        assert_true(strcmp(prev, id) < 0);
        memcpy(prev, id, sizeof id);
    }
}

static void test_two_generators_differ(void **state)
{
    (void)state;
    sdk_ulid_t g1 = {0}, g2 = {0};
    char a[27], b[27];
    sdk_ulid_next(&g1, a);
    sdk_ulid_next(&g2, b);
    assert_string_not_equal(a, b); /* 79 random bits: a clash here means no randomness */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_encoding),
        cmocka_unit_test(test_time_roundtrip),
        cmocka_unit_test(test_monotonic_same_millisecond),
        cmocka_unit_test(test_monotonic_clock_backwards),
        cmocka_unit_test(test_random_overflow_borrows_next_ms),
        cmocka_unit_test(test_real_clock_sortable_and_unique),
        cmocka_unit_test(test_two_generators_differ),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
