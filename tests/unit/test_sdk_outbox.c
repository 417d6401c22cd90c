/* test_sdk_outbox.c - cmocka tests for the SDK's store of unconfirmed events
 * (adapters/sdk/sdk_outbox.c): lookup by event_id, the three lists and their order, requeue
 * after a reconnect, the capacity limit and slot reuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

/* See test_sdk_ulid.c for why the sources are included. */
#include "../../include/joinery/joinery.h"
#include "../../adapters/sdk/sdk_hindex.c"
#include "../../adapters/sdk/sdk_outbox.c"
#include "../../adapters/sdk/sdk_util.c"

static uint32_t add(sdk_outbox_t *ob, const char *id)
{
    return sdk_outbox_add(ob, id, (const uint8_t *)id, strlen(id), NULL, NULL, NULL, 0);
}

/* The event ids on a list, space-separated, for order checks. */
static const char *list(sdk_outbox_t *ob, sdk_outbox_state_t st)
{
    static char out[512];
    out[0] = '\0';
    for (uint32_t id = sdk_outbox_first(ob, st); id != SDK_OUTBOX_NONE;) {
        sdk_outbox_entry_t *e = sdk_outbox_get(ob, id);
        size_t n = strlen(out);
        snprintf(out + n, sizeof out - n, "%s%s", n ? " " : "", e->event_id);
        id = e->next;
    }
    return out;
}

static void test_add_find_remove(void **state)
{
    (void)state;
    sdk_outbox_t *ob = sdk_outbox_new(10);
    uint32_t a = add(ob, "A");
    uint32_t b = add(ob, "B");
    assert_int_not_equal(a, SDK_OUTBOX_NONE);
    assert_int_equal(sdk_outbox_find(ob, "A"), a);
    assert_int_equal(sdk_outbox_find(ob, "B"), b);
    assert_int_equal(sdk_outbox_find(ob, "C"), SDK_OUTBOX_NONE);
    sdk_outbox_entry_t *e = sdk_outbox_get(ob, b);
    assert_int_equal(e->bytes.len, 1);
    assert_int_equal(e->bytes.data[0], 'B');
    char err[128] = "";
    assert_int_equal(sdk_outbox_add(ob, "A", (const uint8_t *)"x", 1, NULL, NULL, err, sizeof err),
                     SDK_OUTBOX_NONE);
    assert_non_null(strstr(err, "already awaiting"));
    sdk_outbox_remove(ob, a);
    assert_int_equal(sdk_outbox_find(ob, "A"), SDK_OUTBOX_NONE);
    assert_null(sdk_outbox_get(ob, a));
    assert_int_equal(sdk_outbox_count(ob), 1);
    assert_int_equal(add(ob, "A"), a); /* freed slot reused */
    sdk_outbox_destroy(&ob);
}

static void test_lists_and_requeue(void **state)
{
    (void)state;
    sdk_outbox_t *ob = sdk_outbox_new(10);
    const char *ids[] = {"E1", "E2", "E3", "E4", "E5"};
    uint32_t h[5];
    for (int i = 0; i < 5; i++) {
        h[i] = add(ob, ids[i]);
    }
    assert_string_equal(list(ob, SDK_OUTBOX_QUEUED), "E1 E2 E3 E4 E5");
    sdk_outbox_move(ob, h[0], SDK_OUTBOX_INFLIGHT);
    sdk_outbox_move(ob, h[1], SDK_OUTBOX_INFLIGHT);
    sdk_outbox_move(ob, h[2], SDK_OUTBOX_INFLIGHT);
    sdk_outbox_move(ob, h[1], SDK_OUTBOX_WAITING); /* RETRY answer */
    assert_string_equal(list(ob, SDK_OUTBOX_INFLIGHT), "E1 E3");
    assert_string_equal(list(ob, SDK_OUTBOX_WAITING), "E2");
    assert_string_equal(list(ob, SDK_OUTBOX_QUEUED), "E4 E5");
    sdk_outbox_requeue_inflight(ob); /* reconnect: in-flight go first, in send order */
    assert_string_equal(list(ob, SDK_OUTBOX_QUEUED), "E1 E3 E4 E5");
    assert_string_equal(list(ob, SDK_OUTBOX_INFLIGHT), "");
    assert_int_equal(sdk_outbox_count_in(ob, SDK_OUTBOX_QUEUED), 4);
    assert_int_equal(sdk_outbox_count_in(ob, SDK_OUTBOX_INFLIGHT), 0);
    sdk_outbox_remove(ob, h[3]);
    assert_string_equal(list(ob, SDK_OUTBOX_QUEUED), "E1 E3 E5");
    sdk_outbox_requeue_inflight(ob); /* nothing in flight: no change */
    assert_string_equal(list(ob, SDK_OUTBOX_QUEUED), "E1 E3 E5");
    /* requeue onto an empty queue */
    sdk_outbox_move(ob, h[0], SDK_OUTBOX_INFLIGHT);
    sdk_outbox_move(ob, h[2], SDK_OUTBOX_INFLIGHT);
    sdk_outbox_move(ob, h[4], SDK_OUTBOX_INFLIGHT);
    sdk_outbox_requeue_inflight(ob);
    assert_string_equal(list(ob, SDK_OUTBOX_QUEUED), "E1 E3 E5");
    /* due retries go back in front of events not yet sent */
    sdk_outbox_move_front(ob, h[1], SDK_OUTBOX_QUEUED);
    assert_string_equal(list(ob, SDK_OUTBOX_QUEUED), "E2 E1 E3 E5");
    assert_int_equal(sdk_outbox_last(ob, SDK_OUTBOX_QUEUED), h[4]);
    assert_int_equal(sdk_outbox_count_in(ob, SDK_OUTBOX_WAITING), 0);
    assert_int_equal(sdk_outbox_last(ob, SDK_OUTBOX_WAITING), SDK_OUTBOX_NONE);
    sdk_outbox_destroy(&ob);
}

static void test_capacity_and_growth(void **state)
{
    (void)state;
    enum { MAX = 1000 };
    sdk_outbox_t *ob = sdk_outbox_new(MAX);
    char id[32];
    for (int i = 0; i < MAX; i++) {
        snprintf(id, sizeof id, "ID-%d", i);
        assert_int_not_equal(add(ob, id), SDK_OUTBOX_NONE);
    }
    assert_true(sdk_outbox_full(ob));
    char err[128] = "";
    assert_int_equal(
        sdk_outbox_add(ob, "one-more", (const uint8_t *)"x", 1, NULL, NULL, err, sizeof err),
        SDK_OUTBOX_NONE);
    assert_non_null(strstr(err, "await confirmation"));
    for (int i = 0; i < MAX; i += 2) {
        snprintf(id, sizeof id, "ID-%d", i);
        sdk_outbox_remove(ob, sdk_outbox_find(ob, id));
    }
    for (int i = 0; i < MAX; i++) {
        snprintf(id, sizeof id, "ID-%d", i);
        assert_true((sdk_outbox_find(ob, id) == SDK_OUTBOX_NONE) == (i % 2 == 0));
    }
    assert_int_equal(sdk_outbox_count(ob), MAX / 2);
    sdk_outbox_destroy(&ob);
}

static void test_refuses_bad_ids(void **state)
{
    (void)state;
    sdk_outbox_t *ob = sdk_outbox_new(4);
    char longid[JOINERY_EVENT_ID_MAX + 2];
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    assert_int_equal(add(ob, ""), SDK_OUTBOX_NONE);
    assert_int_equal(add(ob, longid), SDK_OUTBOX_NONE);
    assert_null(sdk_outbox_new(0));
    sdk_outbox_destroy(&ob);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_find_remove),
        cmocka_unit_test(test_lists_and_requeue),
        cmocka_unit_test(test_capacity_and_growth),
        cmocka_unit_test(test_refuses_bad_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
