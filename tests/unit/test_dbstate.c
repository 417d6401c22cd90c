/* test_dbstate.c - the core's view of the journal database: a refusing
 * database is retried with a doubling pause, not at full speed, and STATUS
 * says it is failing (issue 23, item 8). The log lines are counted by the
 * e2e test (test_db_faults.sh); here the clock is driven by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dbstate.h"

#define S 1000000LL

static void test_failing_backs_off_doubling(void **state)
{
    (void)state;
    dbstate_t d;
    dbstate_init(&d, 0);
    assert_true(dbstate_may_commit(&d, 0));
    int64_t now = 10 * S;
    int64_t expect = DBSTATE_BACKOFF_MIN_US;
    for (int i = 0; i < 12; i++) {
        dbstate_commit_failed(&d, "could not extend file: No space left on device\n", now);
        assert_int_equal(d.health, DB_FAILING);
        assert_false(dbstate_may_commit(&d, now));
        assert_false(dbstate_may_commit(&d, now + expect - 1));
        assert_true(dbstate_may_commit(&d, now + expect));
        now += expect;
        expect = expect * 2 > DBSTATE_BACKOFF_MAX_US ? DBSTATE_BACKOFF_MAX_US : expect * 2;
    }
    assert_int_equal(d.failures, 12);
    /* capped: 12 doublings of 100 ms would be 409 s */
    assert_int_equal(d.next_try_us - (now - DBSTATE_BACKOFF_MAX_US), DBSTATE_BACKOFF_MAX_US);
    /* still taking publishes: the next batch is the probe that finds it fixed */
    assert_true(dbstate_accepting(&d));
}

static void test_success_resets(void **state)
{
    (void)state;
    dbstate_t d;
    dbstate_init(&d, 0);
    for (int i = 0; i < 5; i++)
        dbstate_commit_failed(&d, "permission denied for table journal", i * S);
    dbstate_commit_ok(&d, 20 * S);
    assert_int_equal(d.health, DB_UP);
    assert_int_equal(d.failures, 0);
    assert_int_equal(d.failures_total, 5);
    assert_true(dbstate_may_commit(&d, 20 * S));
    dbstate_commit_failed(&d, "permission denied for table journal", 21 * S);
    assert_true(dbstate_may_commit(&d, 21 * S + DBSTATE_BACKOFF_MIN_US));
}

static void test_describe(void **state)
{
    (void)state;
    dbstate_t d;
    char text[320];
    dbstate_init(&d, 0);
    dbstate_describe(&d, 0, text, sizeof text);
    assert_string_equal(text, "up");
    dbstate_commit_failed(&d, "permission denied for table journal\n", 3 * S);
    dbstate_commit_failed(&d, "permission denied for table journal\n", 4 * S);
    dbstate_describe(&d, 15 * S, text, sizeof text);
    assert_string_equal(
        text, "failing for 12 s (2 failed commit(s)): permission denied for table journal");
    dbstate_down(&d, "connection lost", 16 * S);
    assert_false(dbstate_accepting(&d));
    assert_false(dbstate_may_commit(&d, 100 * S));
    dbstate_describe(&d, 18 * S, text, sizeof text);
    assert_string_equal(text, "down for 2 s: connection lost");
    dbstate_up(&d, 19 * S);
    assert_true(dbstate_may_commit(&d, 19 * S));
    assert_true(dbstate_accepting(&d));
}

/* One line when the failing starts; then a reminder at most once a minute,
 * and only if more commits failed since. */
static void test_reminders_are_rate_limited(void **state)
{
    (void)state;
    dbstate_t d;
    dbstate_init(&d, 0);
    dbstate_commit_failed(&d, "disk full", 1 * S);
    int64_t first = d.reminded_us;
    for (int64_t t = 2; t < 60; t++) {
        dbstate_commit_failed(&d, "disk full", t * S);
        dbstate_tick(&d, t * S);
    }
    assert_int_equal(d.reminded_us, first);
    dbstate_tick(&d, 61 * S + 1);
    assert_int_equal(d.reminded_us, 61 * S + 1);
    assert_int_equal(d.failures_logged, d.failures);
    dbstate_tick(&d, 200 * S); /* nothing failed since: no line */
    assert_int_equal(d.reminded_us, 61 * S + 1);
    /* The same error at another row is not news: libpq's CONTEXT names the row. */
    dbstate_commit_failed(&d,
                          "ERROR:  could not extend file: No space left on device\n"
                          "HINT:  Check free disk space.\nCONTEXT:  COPY journal, line 2\n",
                          190 * S);
    int64_t news = d.reminded_us;
    dbstate_commit_failed(&d,
                          "ERROR:  could not extend file: No space left on device\n"
                          "HINT:  Check free disk space.\nCONTEXT:  COPY journal, line 67\n",
                          191 * S);
    assert_int_equal(d.reminded_us, news);
    assert_string_equal(d.error, "ERROR:  could not extend file: No space left on device; HINT:  "
                                 "Check free disk space.; CONTEXT:  COPY journal, line 67");
    /* a different reason is news at once */
    dbstate_commit_failed(&d, "permission denied", 201 * S);
    assert_int_equal(d.reminded_us, 201 * S);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failing_backs_off_doubling),
        cmocka_unit_test(test_success_resets),
        cmocka_unit_test(test_describe),
        cmocka_unit_test(test_reminders_are_rate_limited),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
