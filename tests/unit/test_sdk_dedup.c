/* test_sdk_dedup.c - cmocka tests for the SDK's redelivery de-duplication set
 * (adapters/sdk/sdk_dedup.c and the hash index under it): keys are (subscription, source,
 * event_id), the set holds exactly the newest N keys, and long churn keeps lookups exact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>

/* See test_sdk_ulid.c for why the sources are included. */
#include "../../adapters/sdk/sdk_dedup.c"
#include "../../adapters/sdk/sdk_hindex.c"
#include "../../adapters/sdk/sdk_util.c"

static void key(char *buf, size_t len, unsigned i)
{
    snprintf(buf, len, "01HZZZZZZZZZZZZZZZZZ%06u", i);
}

static void test_add_contains(void **state)
{
    (void)state;
    sdk_dedup_t *d = sdk_dedup_new(16);
    assert_non_null(d);
    assert_false(sdk_dedup_contains(d, "sub", "crm", "E1"));
    assert_int_equal(sdk_dedup_add(d, "sub", "crm", "E1"), 0);
    assert_true(sdk_dedup_contains(d, "sub", "crm", "E1"));
    assert_int_equal(sdk_dedup_add(d, "sub", "crm", "E1"), 0); /* idempotent */
    assert_int_equal(sdk_dedup_count(d), 1);
    sdk_dedup_destroy(&d);
    assert_null(d);
    sdk_dedup_destroy(&d); /* safe twice */
}

static void test_key_parts_are_distinct(void **state)
{
    (void)state;
    sdk_dedup_t *d = sdk_dedup_new(16);
    sdk_dedup_add(d, "sub", "crm", "E1");
    /* same event id from another source is another event */
    assert_false(sdk_dedup_contains(d, "sub", "case", "E1"));
    /* the same event seen by another subscription must still reach that handler */
    assert_false(sdk_dedup_contains(d, "other", "crm", "E1"));
    /* concatenation ambiguity: ("sub","crmE","1") is not ("sub","crm","E1") */
    assert_false(sdk_dedup_contains(d, "sub", "crmE", "1"));
    assert_false(sdk_dedup_contains(d, "subc", "rm", "E1"));
    /* NULL parts behave as empty strings, not crashes */
    assert_false(sdk_dedup_contains(d, NULL, NULL, NULL));
    sdk_dedup_destroy(&d);
}

static void test_fifo_eviction(void **state)
{
    (void)state;
    enum { CAP = 100 };
    sdk_dedup_t *d = sdk_dedup_new(CAP);
    char k[64];
    for (unsigned i = 0; i < CAP; i++) {
        key(k, sizeof k, i);
        sdk_dedup_add(d, "s", "src", k);
    }
    assert_int_equal(sdk_dedup_count(d), CAP);
    key(k, sizeof k, CAP);
    sdk_dedup_add(d, "s", "src", k); /* evicts key 0, the oldest */
    assert_int_equal(sdk_dedup_count(d), CAP);
    key(k, sizeof k, 0);
    assert_false(sdk_dedup_contains(d, "s", "src", k));
    for (unsigned i = 1; i <= CAP; i++) {
        key(k, sizeof k, i);
        assert_true(sdk_dedup_contains(d, "s", "src", k));
    }
    /* re-adding a present key neither duplicates it nor refreshes its age */
    key(k, sizeof k, 1);
    sdk_dedup_add(d, "s", "src", k);
    key(k, sizeof k, CAP + 1);
    sdk_dedup_add(d, "s", "src", k);
    key(k, sizeof k, 1);
    assert_false(sdk_dedup_contains(d, "s", "src", k));
    key(k, sizeof k, 2);
    assert_true(sdk_dedup_contains(d, "s", "src", k));
    sdk_dedup_destroy(&d);
}

static void test_long_churn_exact(void **state)
{
    (void)state;
    /* Many evictions exercise backward-shift deletion in the index; afterwards exactly the
     * newest CAP keys must be found and nothing older. */
    enum { CAP = 1000, TOTAL = 50000 };
    sdk_dedup_t *d = sdk_dedup_new(CAP);
    char k[64];
    for (unsigned i = 0; i < TOTAL; i++) {
        key(k, sizeof k, i);
        sdk_dedup_add(d, "s", "src", k);
    }
    for (unsigned i = 0; i < TOTAL; i++) {
        key(k, sizeof k, i);
        int want = i >= TOTAL - CAP;
        if (sdk_dedup_contains(d, "s", "src", k) != want) {
            fail_msg("key %u: expected %s", i, want ? "present" : "evicted");
        }
    }
    sdk_dedup_destroy(&d);
}

static int ids_eq(const void *ctx, uint32_t id, const void *key_)
{
    (void)ctx;
    return id == *(const uint32_t *)key_;
}

static void test_hindex_colliding_hashes(void **state)
{
    (void)state;
    /* All items share one hash: the probe run is as long as it gets, and removals from its
     * middle must keep every other item reachable. */
    sdk_hindex_t ix;
    assert_int_equal(sdk_hindex_init(&ix, 50), 0);
    for (uint32_t i = 0; i < 50; i++) {
        assert_int_equal(sdk_hindex_insert(&ix, 7, i), 0);
    }
    assert_int_equal(sdk_hindex_insert(&ix, 7, 50), -1); /* full */
    for (uint32_t i = 0; i < 50; i += 3) {
        assert_int_equal(sdk_hindex_remove(&ix, 7, i), 0);
    }
    for (uint32_t i = 0; i < 50; i++) {
        uint32_t got = sdk_hindex_find(&ix, 7, ids_eq, NULL, &i);
        assert_int_equal(got, i % 3 == 0 ? SDK_HINDEX_NONE : i);
    }
    assert_int_equal(sdk_hindex_remove(&ix, 7, 0), -1);
    sdk_hindex_free(&ix);
}

static void test_hindex_wraparound(void **state)
{
    (void)state;
    sdk_hindex_t ix;
    assert_int_equal(sdk_hindex_init(&ix, 8), 0); /* 16 slots */
    /* hashes homed at the last slot wrap to the start of the table */
    for (uint32_t i = 0; i < 6; i++) {
        sdk_hindex_insert(&ix, 15 + 16 * i, i);
    }
    sdk_hindex_remove(&ix, 15, 0);
    for (uint32_t i = 1; i < 6; i++) {
        assert_int_equal(sdk_hindex_find(&ix, 15 + 16 * i, ids_eq, NULL, &i), i);
    }
    sdk_hindex_free(&ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_contains),
        cmocka_unit_test(test_key_parts_are_distinct),
        cmocka_unit_test(test_fifo_eviction),
        cmocka_unit_test(test_long_churn_exact),
        cmocka_unit_test(test_hindex_colliding_hashes),
        cmocka_unit_test(test_hindex_wraparound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
