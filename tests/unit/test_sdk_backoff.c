/* test_sdk_backoff.c - cmocka tests for the SDK's one backoff rule (adapters/sdk/sdk_backoff.c)
 * used for reconnects and RETRY resends: doubling, the cap, bounded jitter and reset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* See test_sdk_ulid.c for why the source is included. */
#include "../../adapters/sdk/sdk_backoff.c"

static void test_doubles_to_cap(void **state)
{
    (void)state;
    const unsigned want[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000};
    for (unsigned i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_int_equal(sdk_backoff_delay(100, 5000, i + 1, 0), want[i]);
    }
    /* attempt 0 is treated like the first attempt */
    assert_int_equal(sdk_backoff_delay(100, 5000, 0, 0), 100);
}

static void test_huge_attempt_no_overflow(void **state)
{
    (void)state;
    assert_int_equal(sdk_backoff_delay(100, 30000, UINT32_MAX, 0), 30000);
    assert_int_equal(sdk_backoff_delay(UINT32_MAX / 2, UINT32_MAX, 1000, 0), UINT32_MAX);
}

static void test_degenerate_bounds(void **state)
{
    (void)state;
    assert_int_equal(sdk_backoff_delay(0, 0, 1, 0), 1); /* never a zero-delay spin */
    assert_int_equal(sdk_backoff_delay(500, 100, 3, 0), 500);
}

static void test_jitter_bounded(void **state)
{
    (void)state;
    for (uint32_t r = 0; r < 100000; r += 7) {
        unsigned d = sdk_backoff_delay(1000, 60000, 4, r);
        assert_in_range(d, 6000, 8000); /* 8000 minus at most a quarter */
    }
    /* some jitter actually happens */
    assert_int_not_equal(sdk_backoff_delay(1000, 60000, 4, 1234), 8000);
}

static void test_sequence_and_reset(void **state)
{
    (void)state;
    sdk_backoff_t b;
    sdk_backoff_init(&b, 100, 1000);
    assert_int_equal(sdk_backoff_next(&b, 0), 100);
    assert_int_equal(sdk_backoff_next(&b, 0), 200);
    assert_int_equal(sdk_backoff_next(&b, 0), 400);
    assert_int_equal(sdk_backoff_next(&b, 0), 800);
    assert_int_equal(sdk_backoff_next(&b, 0), 1000);
    assert_int_equal(sdk_backoff_next(&b, 0), 1000);
    sdk_backoff_reset(&b);
    assert_int_equal(sdk_backoff_next(&b, 0), 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doubles_to_cap),     cmocka_unit_test(test_huge_attempt_no_overflow),
        cmocka_unit_test(test_degenerate_bounds),  cmocka_unit_test(test_jitter_bounded),
        cmocka_unit_test(test_sequence_and_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
