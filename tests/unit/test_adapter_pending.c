/* test_adapter_pending.c - adapters/common/adapter_pending: answers go to every waiter of an event
 * exactly once, with the hub's verdict; a resend joins the wait; an owner's departure drops only
 * its waiters; the pools refuse rather than grow, and slots come back after use (the index stays
 * correct through thousands of deletions in any order). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/adapter_pending.h"

#define N 3000

typedef struct {
    int answers[N], ok[N];
    char reason[64];
} seen_t;

static void on_answer(void *ud, void *token, int ok, const char *reason,
                      const joinery_confirm_t *cf)
{
    (void)cf;
    seen_t *s = ud;
    size_t i = (size_t)(uintptr_t)token;
    assert_true(i < N);
    s->answers[i]++;
    s->ok[i] = ok;
    (void)snprintf(s->reason, sizeof s->reason, "%s", reason);
}

static void confirm(adapter_pending_t *p, const char *id, joinery_status_t st, const char *why)
{
    joinery_confirm_t cf = {.event_id = id, .status = st, .reason = why};
    adapter_pending_on_confirm(p, &cf);
}

static void verdicts_and_joins(void **state)
{
    (void)state;
    seen_t *s = calloc(1, sizeof *s);
    adapter_pending_t *p = adapter_pending_new(4, 8, on_answer, s);
    assert_non_null(p);
    assert_int_equal(adapter_pending_add(p, "a", (void *)1, 7), 0);
    assert_int_equal(adapter_pending_add(p, "a", (void *)2, 8), 1); /* a resend joins */
    assert_int_equal(adapter_pending_add(p, "b", (void *)3, 7), 0);
    assert_int_equal(adapter_pending_events(p), 2);
    confirm(p, "zzz", JOINERY_OK, ""); /* not ours: ignored */
    confirm(p, "a", JOINERY_DUPLICATE, "");
    assert_int_equal(s->answers[1], 1);
    assert_int_equal(s->answers[2], 1);
    assert_true(s->ok[1] && s->ok[2]);
    confirm(p, "a", JOINERY_OK, ""); /* a second confirmation finds nothing */
    assert_int_equal(s->answers[1], 1);
    confirm(p, "b", JOINERY_REJECTED, "not permitted");
    assert_int_equal(s->answers[3], 1);
    assert_false(s->ok[3]);
    assert_string_equal(s->reason, "not permitted");
    assert_int_equal(adapter_pending_events(p), 0);
    /* The publish failed at once. */
    assert_int_equal(adapter_pending_add(p, "c", (void *)4, 7), 0);
    adapter_pending_fail(p, "c", "too large");
    assert_int_equal(s->answers[4], 1);
    assert_false(s->ok[4]);
    adapter_pending_destroy(&p);
    assert_null(p);
    free(s);
}

static void owners_and_limits(void **state)
{
    (void)state;
    seen_t *s = calloc(1, sizeof *s);
    adapter_pending_t *p = adapter_pending_new(2, 3, on_answer, s);
    assert_int_equal(adapter_pending_add(p, "a", (void *)1, 1), 0);
    assert_int_equal(adapter_pending_add(p, "b", (void *)2, 2), 0);
    assert_int_equal(adapter_pending_add(p, "c", (void *)3, 2), -1); /* no event slot */
    assert_int_equal(adapter_pending_add(p, "a", (void *)4, 2), 1);
    assert_int_equal(adapter_pending_add(p, "a", (void *)5, 2), -1); /* no waiter slot */
    assert_int_equal(adapter_pending_room(p), 0);
    assert_int_equal(adapter_pending_drop_owner(p, 2), 2);
    assert_int_equal(adapter_pending_events(p), 2); /* still tracked until the hub answers */
    confirm(p, "b", JOINERY_OK, "");
    assert_int_equal(s->answers[2], 0); /* its owner left */
    confirm(p, "a", JOINERY_OK, "");
    assert_int_equal(s->answers[1], 1);
    assert_int_equal(s->answers[4], 0);
    assert_int_equal(adapter_pending_room(p), 2);
    char long_id[JOINERY_EVENT_ID_MAX + 2];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    assert_int_equal(adapter_pending_add(p, long_id, (void *)1, 1), -1);
    assert_int_equal(adapter_pending_add(p, "", (void *)1, 1), -1);
    adapter_pending_destroy(&p);
    free(s);
}

/* Many events confirmed in a scrambled order, twice over the same pool: every waiter answered
 * once, and lookups stay right through the index's deletions. */
static void churn(void **state)
{
    (void)state;
    seen_t *s = calloc(1, sizeof *s);
    adapter_pending_t *p = adapter_pending_new(N, N, on_answer, s);
    static size_t order[N];
    char id[32];
    for (int round = 0; round < 2; round++) {
        memset(s->answers, 0, sizeof s->answers);
        for (size_t i = 0; i < N; i++) {
            (void)snprintf(id, sizeof id, "ev-%d-%zu", round, i);
            assert_int_equal(adapter_pending_add(p, id, (void *)(uintptr_t)i, i % 7), 0);
            order[i] = i;
        }
        assert_int_equal(adapter_pending_add(p, "one-more", (void *)0, 0), -1);
        srand(42 + round);
        for (size_t i = N - 1; i > 0; i--) {
            size_t j = (size_t)rand() % (i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        for (size_t k = 0; k < N; k++) {
            (void)snprintf(id, sizeof id, "ev-%d-%zu", round, order[k]);
            confirm(p, id, JOINERY_OK, "");
        }
        for (size_t i = 0; i < N; i++)
            assert_int_equal(s->answers[i], 1);
        assert_int_equal(adapter_pending_events(p), 0);
        assert_int_equal(adapter_pending_room(p), N);
    }
    adapter_pending_destroy(&p);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(verdicts_and_joins),
        cmocka_unit_test(owners_and_limits),
        cmocka_unit_test(churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
