/* test_window_bytes.c - the journal window is bounded by the bytes its
 * batches hold as well as by their events (delivery.window_bytes), and a
 * batch gives back the slack of its buffers when the window takes it. */
#include "store/journal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define EVENT_BYTES (100 * 1000)

/* A committed batch of N events of EVENT_BYTES each, from seq FIRST. */
static jbatch_t *big_batch(uint64_t first, size_t n)
{
    static uint8_t env[EVENT_BYTES];
    jbatch_t *b = jbatch_new(JB_COMMIT);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++) {
        char id[32];
        int len = snprintf(id, sizeof id, "e-%llu", (unsigned long long)(first + i));
        assert_non_null(jbatch_add(b, first + i, "crm.big", 7, "crm", 3, id, (size_t)len, "k", 1,
                                   env, sizeof env, 1));
    }
    b->status = JB_COMMITTED;
    return b;
}

static void test_bytes_bound_evicts_before_the_event_bound(void **state)
{
    (void)state;
    window_t *w = window_new(1000000); /* the event bound never bites here */
    assert_non_null(w);
    window_set_max_bytes(w, 1000 * 1000); /* about ten events */
    for (uint64_t first = 1; first <= 100; first += 2) {
        jbatch_t *b = big_batch(first, 2);
        assert_int_equal(window_push(w, b), 0);
        jbatch_release(&b);
        assert_true(window_bytes(w) <= 1000 * 1000);
    }
    /* The newest events are held, the oldest were let go of. */
    assert_int_equal(window_last(w), 100);
    assert_true(window_events(w) >= 8 && window_events(w) <= 10);
    assert_int_equal(window_first(w), 100 - window_events(w) + 1);
    jbatch_t *in = NULL;
    assert_non_null(window_find(w, 100, &in));
    assert_null(window_find(w, 80, &in));
    window_destroy(&w);
}

static void test_a_batch_gives_back_its_slack(void **state)
{
    (void)state;
    window_t *w = window_new(1000);
    jbatch_t *b = big_batch(1, 3);
    /* Grown by doubling while it was filled: more room than data. */
    assert_true(b->data.cap > b->data.len);
    assert_int_equal(window_push(w, b), 0);
    assert_int_equal(b->data.cap, b->data.len);
    assert_int_equal(b->cap, b->n);
    assert_int_equal(window_bytes(w), jbatch_bytes(b));
    jbatch_t *in = NULL;
    jentry_t *e = window_find(w, 2, &in);
    assert_non_null(e);
    assert_int_equal(e->env_len, EVENT_BYTES);
    assert_memory_equal(jentry_event_id(in, e), "e-2", 3);
    jbatch_release(&b);
    window_destroy(&w);
}

static void test_one_batch_over_the_bound_is_kept(void **state)
{
    (void)state;
    window_t *w = window_new(1000);
    window_set_max_bytes(w, 1000);
    jbatch_t *b = big_batch(1, 2);
    assert_int_equal(window_push(w, b), 0);
    assert_int_equal(window_events(w), 2); /* deliveries need it */
    jbatch_t *next = big_batch(3, 1);
    assert_int_equal(window_push(w, next), 0);
    assert_int_equal(window_first(w), 3);
    assert_int_equal(window_bytes(w), jbatch_bytes(next));
    assert_int_equal(b->refs, 1); /* the window let go of it */
    jbatch_release(&b);
    jbatch_release(&next);
    window_destroy(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes_bound_evicts_before_the_event_bound),
        cmocka_unit_test(test_a_batch_gives_back_its_slack),
        cmocka_unit_test(test_one_batch_over_the_bound_is_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
