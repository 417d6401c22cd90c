/* test_sdk_outbox.c - cmocka tests for the SDK's store of unconfirmed events
 * (adapters/sdk/sdk_outbox.c): lookup by event_id, the lists and their order, requeue after a
 * reconnect, the capacity limit and slot reuse, and per-record order: events held behind an
 * older event of their record that awaits a resend (RETRY, timeout, lost session), resends one
 * at a time in publish order, other records never held. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* See test_sdk_ulid.c for why the sources are included. */
#include "../../include/joinery/joinery.h"
#include "../../adapters/sdk/sdk_hindex.c"
#include "../../adapters/sdk/sdk_outbox.c"
#include "../../adapters/sdk/sdk_util.c"

static uint32_t add(sdk_outbox_t *ob, const char *id)
{
    return sdk_outbox_add(ob, id, (const uint8_t *)id, strlen(id), 0, NULL, NULL, NULL, 0);
}

/* An event of record rec (0: none). */
static uint32_t add_rec(sdk_outbox_t *ob, const char *id, uint64_t rec)
{
    return sdk_outbox_add(ob, id, (const uint8_t *)id, strlen(id), rec, NULL, NULL, NULL, 0);
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
    assert_int_equal(
        sdk_outbox_add(ob, "A", (const uint8_t *)"x", 1, 0, NULL, NULL, err, sizeof err),
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
        sdk_outbox_add(ob, "one-more", (const uint8_t *)"x", 1, 0, NULL, NULL, err, sizeof err),
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

/* What the client's send_queued does: every QUEUED entry either goes (to INFLIGHT) or is held.
 * Returns the ids sent, in order. */
static const char *send_all(sdk_outbox_t *ob)
{
    static char out[512];
    out[0] = '\0';
    uint32_t id = sdk_outbox_first(ob, SDK_OUTBOX_QUEUED);
    while (id != SDK_OUTBOX_NONE) {
        sdk_outbox_entry_t *e = sdk_outbox_get(ob, id);
        uint32_t next = e->next;
        if (!sdk_outbox_hold(ob, id)) {
            size_t n = strlen(out);
            snprintf(out + n, sizeof out - n, "%s%s", n ? " " : "", e->event_id);
            sdk_outbox_move(ob, id, SDK_OUTBOX_INFLIGHT);
        }
        id = next;
    }
    return out;
}

static void settle(sdk_outbox_t *ob, const char *id)
{
    uint32_t h = sdk_outbox_find(ob, id);
    assert_int_not_equal(h, SDK_OUTBOX_NONE);
    sdk_outbox_remove(ob, h);
}

static void test_record_keys(void **state)
{
    (void)state;
    assert_int_equal(sdk_outbox_record(NULL, NULL), 0);
    assert_int_equal(sdk_outbox_record("", ""), 0);
    assert_int_not_equal(sdk_outbox_record("C-1", NULL), 0);
    assert_int_equal(sdk_outbox_record("C-1", NULL), sdk_outbox_record("C-1", "M-9"));
    assert_int_not_equal(sdk_outbox_record("C-1", NULL), sdk_outbox_record("C-2", NULL));
    /* without a source_record_id, the master_id; never confused with an equal record id */
    assert_int_equal(sdk_outbox_record(NULL, "M-9"), sdk_outbox_record("", "M-9"));
    assert_int_not_equal(sdk_outbox_record(NULL, "X"), sdk_outbox_record("X", NULL));
}

static void test_retry_holds_newer_events_of_record(void **state)
{
    (void)state;
    sdk_outbox_t *ob = sdk_outbox_new(16);
    uint32_t a1 = add_rec(ob, "A1", 1);
    add_rec(ob, "A2", 1);
    add_rec(ob, "B1", 2);
    add(ob, "N1");
    assert_string_equal(send_all(ob), "A1 A2 B1 N1"); /* pipelined: nothing is wrong yet */
    assert_int_equal(sdk_outbox_records(ob), 2);
    assert_int_equal(sdk_outbox_blocked(ob), 0);

    assert_int_equal(sdk_outbox_retry(ob, a1), SDK_OUTBOX_WAITING); /* A1 answered RETRY */
    assert_int_equal(sdk_outbox_blocked(ob), 1);
    add_rec(ob, "A3", 1); /* record A is blocked: held at once */
    add_rec(ob, "B2", 2);
    add(ob, "N2");
    assert_string_equal(list(ob, SDK_OUTBOX_HELD), "A3");
    assert_string_equal(send_all(ob), "B2 N2"); /* other records are not held */

    settle(ob, "A2"); /* the newer one in flight was accepted: nothing to do about it */
    assert_string_equal(list(ob, SDK_OUTBOX_HELD), "A3");
    assert_string_equal(list(ob, SDK_OUTBOX_WAITING), "A1");
    sdk_outbox_move_front(ob, a1, SDK_OUTBOX_QUEUED); /* due */
    assert_string_equal(send_all(ob), "A1");
    settle(ob, "A1"); /* OK: the record is free again and A3 goes */
    assert_int_equal(sdk_outbox_blocked(ob), 0);
    assert_string_equal(list(ob, SDK_OUTBOX_HELD), "");
    assert_string_equal(send_all(ob), "A3");
    settle(ob, "A3");
    settle(ob, "B1");
    settle(ob, "B2");
    assert_int_equal(sdk_outbox_records(ob), 0);
    sdk_outbox_destroy(&ob);
}

static void test_resends_one_at_a_time_in_publish_order(void **state)
{
    (void)state;
    sdk_outbox_t *ob = sdk_outbox_new(16);
    uint32_t a1 = add_rec(ob, "A1", 1);
    uint32_t a2 = add_rec(ob, "A2", 1);
    uint32_t a3 = add_rec(ob, "A3", 1);
    assert_string_equal(send_all(ob), "A1 A2 A3");
    /* RETRY answers in any order: only the oldest waits for its resend, the rest behind it */
    assert_int_equal(sdk_outbox_retry(ob, a3), SDK_OUTBOX_HELD);
    assert_int_equal(sdk_outbox_retry(ob, a2), SDK_OUTBOX_HELD);
    assert_int_equal(sdk_outbox_retry(ob, a1), SDK_OUTBOX_WAITING);
    sdk_outbox_get(ob, a2)->due_ms = 1000000; /* its own backoff no longer matters */
    sdk_outbox_move_front(ob, a1, SDK_OUTBOX_QUEUED);
    assert_string_equal(send_all(ob), "A1");
    assert_string_equal(send_all(ob), "");                          /* A2 waits for A1's answer */
    assert_int_equal(sdk_outbox_retry(ob, a1), SDK_OUTBOX_WAITING); /* RETRY again */
    sdk_outbox_move_front(ob, a1, SDK_OUTBOX_QUEUED);
    assert_string_equal(send_all(ob), "A1");
    settle(ob, "A1");
    assert_string_equal(send_all(ob), "A2");
    settle(ob, "A2");
    assert_string_equal(send_all(ob), "A3");
    settle(ob, "A3");
    assert_int_equal(sdk_outbox_blocked(ob), 0);

    /* The oldest is still in flight (first send) when a newer one is answered RETRY: the newer
     * waits for the older's answer, whatever it is - here a final refusal. */
    add_rec(ob, "B1", 2);
    uint32_t b2 = add_rec(ob, "B2", 2);
    assert_string_equal(send_all(ob), "B1 B2");
    assert_int_equal(sdk_outbox_retry(ob, b2), SDK_OUTBOX_HELD);
    add_rec(ob, "B3", 2);
    assert_string_equal(send_all(ob), "");
    settle(ob, "B1"); /* REJECTED (or withdrawn): as final as OK */
    assert_string_equal(send_all(ob), "B2");
    settle(ob, "B2");
    assert_string_equal(send_all(ob), "B3"); /* no resend pending: B3 goes */
    assert_int_equal(sdk_outbox_blocked(ob), 0);
    sdk_outbox_destroy(&ob);
}

static void test_timeout_resend_blocks_record(void **state)
{
    (void)state;
    sdk_outbox_t *ob = sdk_outbox_new(16);
    uint32_t a1 = add_rec(ob, "A1", 1);
    uint32_t a2 = add_rec(ob, "A2", 1);
    assert_string_equal(send_all(ob), "A1 A2");
    /* no CONFIRM in time for either: the oldest goes again, the other waits for it */
    assert_int_equal(sdk_outbox_resend(ob, a1), SDK_OUTBOX_QUEUED);
    assert_int_equal(sdk_outbox_resend(ob, a2), SDK_OUTBOX_HELD);
    add_rec(ob, "A3", 1);
    assert_string_equal(send_all(ob), "A1");
    settle(ob, "A1"); /* DUPLICATE: the first copy had made it */
    assert_string_equal(send_all(ob), "A2");
    settle(ob, "A2");
    assert_string_equal(send_all(ob), "A3");
    sdk_outbox_destroy(&ob);
}

static void test_requeue_blocks_records_in_flight(void **state)
{
    (void)state;
    sdk_outbox_t *ob = sdk_outbox_new(16);
    add_rec(ob, "A1", 1);
    add_rec(ob, "A2", 1);
    add_rec(ob, "B1", 2);
    add(ob, "N1");
    add(ob, "N2");
    add_rec(ob, "C1", 3);
    assert_string_equal(send_all(ob), "A1 A2 B1 N1 N2 C1");
    settle(ob, "C1");
    add_rec(ob, "A3", 1); /* queued, not yet sent */
    add_rec(ob, "C2", 3);
    sdk_outbox_requeue_inflight(ob); /* session lost: fate of everything in flight unknown */
    assert_string_equal(list(ob, SDK_OUTBOX_QUEUED), "A1 B1 N1 N2 A3 C2");
    assert_string_equal(list(ob, SDK_OUTBOX_HELD), "A2");
    assert_int_equal(sdk_outbox_blocked(ob), 2);
    assert_string_equal(send_all(ob), "A1 B1 N1 N2 C2"); /* C had nothing in flight */
    assert_string_equal(list(ob, SDK_OUTBOX_HELD), "A2 A3");
    settle(ob, "B1");
    settle(ob, "A1");
    assert_string_equal(send_all(ob), "A2"); /* a resend too: alone */
    settle(ob, "A2");
    assert_string_equal(send_all(ob), "A3");
    assert_int_equal(sdk_outbox_blocked(ob), 0);
    sdk_outbox_destroy(&ob);
}

static void test_release_keeps_publish_order(void **state)
{
    (void)state;
    sdk_outbox_t *ob = sdk_outbox_new(16);
    uint32_t a1 = add_rec(ob, "A1", 1);
    assert_string_equal(send_all(ob), "A1");
    uint32_t a2 = add_rec(ob, "A2", 1);
    add_rec(ob, "X1", 2);
    add_rec(ob, "A3", 1);
    sdk_outbox_retry(ob, a1);
    /* A batch filled up after A2 was looked at: A2 is held, A3 not yet looked at. */
    assert_int_equal(sdk_outbox_hold(ob, a2), 1);
    assert_string_equal(list(ob, SDK_OUTBOX_QUEUED), "X1 A3");
    settle(ob, "A1");
    assert_string_equal(list(ob, SDK_OUTBOX_QUEUED), "X1 A2 A3");
    assert_string_equal(send_all(ob), "X1 A2 A3");
    sdk_outbox_destroy(&ob);
}

static void test_records_reused(void **state)
{
    (void)state;
    enum { MAX = 300 };
    sdk_outbox_t *ob = sdk_outbox_new(MAX);
    char id[32];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < MAX; i++) {
            snprintf(id, sizeof id, "E%d-%d", round, i);
            /* round 0: each its own record; then fewer and fewer */
            assert_int_not_equal(add_rec(ob, id, 1 + (uint64_t)(i % (MAX >> (2 * round)))),
                                 SDK_OUTBOX_NONE);
        }
        assert_int_equal(sdk_outbox_records(ob), MAX >> (2 * round));
        send_all(ob);
        for (int i = MAX; i-- > 0;) { /* newest first: heads leave last */
            snprintf(id, sizeof id, "E%d-%d", round, i);
            settle(ob, id);
        }
        assert_int_equal(sdk_outbox_records(ob), 0);
        assert_int_equal(sdk_outbox_count(ob), 0);
    }
    sdk_outbox_destroy(&ob);
}

/* A model of the events, checked against every send the outbox allows. */
typedef struct {
    uint64_t rec;
    int live;   /* not yet settled */
    int resend; /* answered RETRY, timed out or in flight when the session was lost */
    int sent;
} model_t;

enum { MODEL_MAX = 4000 };
static model_t model[MODEL_MAX];

static size_t model_index(const sdk_outbox_entry_t *e)
{
    return (size_t)strtoul(e->event_id + 1, NULL, 10);
}

/* Sends what the outbox lets go, at most `batch`, and checks each against the rules: a record's
 * events go out first in publish order; nothing of a record goes while an older unsettled event
 * of it awaits a resend; a resend goes only as its record's oldest unsettled event. */
static size_t model_send(sdk_outbox_t *ob, size_t batch)
{
    size_t sent = 0;
    uint32_t id = sdk_outbox_first(ob, SDK_OUTBOX_QUEUED);
    while (id != SDK_OUTBOX_NONE && sent < batch) {
        sdk_outbox_entry_t *e = sdk_outbox_get(ob, id);
        uint32_t next = e->next;
        if (!sdk_outbox_hold(ob, id)) {
            size_t k = model_index(e);
            for (size_t j = 0; model[k].rec != 0 && j < k; j++) {
                if (model[j].live && model[j].rec == model[k].rec) {
                    if (model[j].sent == 0) {
                        fail_msg("E%zu sent before the older E%zu of its record", k, j);
                    }
                    if (model[j].resend || model[k].resend) {
                        fail_msg("E%zu sent while E%zu of its record is unsettled (%s)", k, j,
                                 model[j].resend ? "awaiting a resend" : "E%zu is a resend");
                    }
                }
            }
            model[k].sent++;
            sdk_outbox_move(ob, id, SDK_OUTBOX_INFLIGHT);
            sent++;
        }
        id = next;
    }
    return sent;
}

/* The n-th entry of a list (wrapping), or SDK_OUTBOX_NONE when it is empty. */
static uint32_t model_pick(sdk_outbox_t *ob, sdk_outbox_state_t st, unsigned n)
{
    size_t count = sdk_outbox_count_in(ob, st);
    if (count == 0) {
        return SDK_OUTBOX_NONE;
    }
    uint32_t id = sdk_outbox_first(ob, st);
    for (size_t i = n % count; i > 0; i--) {
        id = sdk_outbox_get(ob, id)->next;
    }
    return id;
}

static void model_settle(sdk_outbox_t *ob, uint32_t id)
{
    model[model_index(sdk_outbox_get(ob, id))].live = 0;
    sdk_outbox_remove(ob, id);
}

static void model_due(sdk_outbox_t *ob)
{
    uint32_t id;
    while ((id = sdk_outbox_last(ob, SDK_OUTBOX_WAITING)) != SDK_OUTBOX_NONE) {
        sdk_outbox_move_front(ob, id, SDK_OUTBOX_QUEUED);
    }
}

static void model_check_lists(sdk_outbox_t *ob)
{
    size_t total = 0;
    for (int st = 0; st < SDK_OUTBOX_NLISTS; st++) {
        size_t n = 0;
        for (uint32_t id = sdk_outbox_first(ob, st); id != SDK_OUTBOX_NONE;
             id = sdk_outbox_get(ob, id)->next) {
            assert_int_equal(sdk_outbox_get(ob, id)->state, st);
            n++;
        }
        assert_int_equal(n, sdk_outbox_count_in(ob, st));
        total += n;
    }
    assert_int_equal(total, sdk_outbox_count(ob));
}

static uint32_t model_rnd = 12345;

static uint32_t model_rand(void)
{
    model_rnd = model_rnd * 1103515245u + 12345u;
    return (model_rnd >> 8) & 0xffffff;
}

static void test_random_faults_keep_record_order(void **state)
{
    (void)state;
    for (int run = 0; run < 100; run++) {
        memset(model, 0, sizeof model);
        sdk_outbox_t *ob = sdk_outbox_new(64);
        size_t next = 0;
        for (int step = 0; step < 3000 && next < MODEL_MAX; step++) {
            uint32_t id;
            unsigned op = model_rand() % 100;
            if (op < 30) {
                if (!sdk_outbox_full(ob)) {
                    char eid[16];
                    snprintf(eid, sizeof eid, "E%zu", next);
                    model[next].rec = model_rand() % 6; /* 0: no record */
                    model[next].live = 1;
                    assert_int_not_equal(add_rec(ob, eid, model[next].rec), SDK_OUTBOX_NONE);
                    next++;
                }
            } else if (op < 45) { /* a batch limit or a full send queue stops it early */
                model_send(ob, 1 + model_rand() % 8);
            } else if (op < 60) { /* OK, DUPLICATE or REJECTED */
                if ((id = model_pick(ob, SDK_OUTBOX_INFLIGHT, model_rand())) != SDK_OUTBOX_NONE) {
                    model_settle(ob, id);
                }
            } else if (op < 75) { /* RETRY */
                if ((id = model_pick(ob, SDK_OUTBOX_INFLIGHT, model_rand())) != SDK_OUTBOX_NONE) {
                    model[model_index(sdk_outbox_get(ob, id))].resend = 1;
                    sdk_outbox_retry(ob, id);
                }
            } else if (op < 85) {
                model_due(ob);
            } else if (op < 90) { /* no answer in time */
                if ((id = sdk_outbox_first(ob, SDK_OUTBOX_INFLIGHT)) != SDK_OUTBOX_NONE) {
                    model[model_index(sdk_outbox_get(ob, id))].resend = 1;
                    sdk_outbox_resend(ob, id);
                }
            } else if (op < 93) { /* session lost */
                for (id = sdk_outbox_first(ob, SDK_OUTBOX_INFLIGHT); id != SDK_OUTBOX_NONE;
                     id = sdk_outbox_get(ob, id)->next) {
                    model[model_index(sdk_outbox_get(ob, id))].resend = 1;
                }
                sdk_outbox_requeue_inflight(ob);
            } else { /* withdrawn (joinery_publish gave up), wherever it is */
                sdk_outbox_state_t st = (sdk_outbox_state_t)(model_rand() % SDK_OUTBOX_NLISTS);
                if ((id = model_pick(ob, st, model_rand())) != SDK_OUTBOX_NONE) {
                    model_settle(ob, id);
                }
            }
            model_check_lists(ob);
        }
        /* The hub comes back for good: everything drains, nothing stays held. */
        for (int round = 0; sdk_outbox_count(ob) > 0; round++) {
            assert_true(round < 10000);
            model_due(ob);
            model_send(ob, SIZE_MAX);
            uint32_t id;
            while ((id = sdk_outbox_first(ob, SDK_OUTBOX_INFLIGHT)) != SDK_OUTBOX_NONE) {
                model_settle(ob, id);
            }
        }
        assert_int_equal(sdk_outbox_records(ob), 0);
        assert_int_equal(sdk_outbox_blocked(ob), 0);
        sdk_outbox_destroy(&ob);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_find_remove),
        cmocka_unit_test(test_lists_and_requeue),
        cmocka_unit_test(test_capacity_and_growth),
        cmocka_unit_test(test_refuses_bad_ids),
        cmocka_unit_test(test_record_keys),
        cmocka_unit_test(test_retry_holds_newer_events_of_record),
        cmocka_unit_test(test_resends_one_at_a_time_in_publish_order),
        cmocka_unit_test(test_timeout_resend_blocks_record),
        cmocka_unit_test(test_requeue_blocks_records_in_flight),
        cmocka_unit_test(test_release_keeps_publish_order),
        cmocka_unit_test(test_records_reused),
        cmocka_unit_test(test_random_faults_keep_record_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
