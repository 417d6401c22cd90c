/* test_sdk_defer_pg.c - deferred settlement (JOINERY_DEFER, joinery_settle) against the real hub
 * (joineryd) and PostgreSQL: a deferred delivery settled later with ACK is never delivered
 * again; settled with REJECT it is dead-lettered with the handler's reason; deferred and then
 * cut off by a hub restart it is delivered again (attempt 2) and reaches the handler, not the
 * SDK's de-duplication; a settle of a seq that is not deferred fails. Issue 18.
 * JOINERY_NEEDS_PG: ctest starts the throwaway cluster first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* See test_sdk_ulid.c for why the sources are included. */
#include "../../include/joinery/joinery.h"
#include "../../adapters/sdk/sdk_arena.c"
#include "../../adapters/sdk/sdk_backoff.c"
#include "../../adapters/sdk/sdk_client.c"
#include "../../adapters/sdk/sdk_codec.c"
#include "../../adapters/sdk/sdk_dedup.c"
#include "../../adapters/sdk/sdk_hindex.c"
#include "../../adapters/sdk/sdk_keys.c"
#include "../../adapters/sdk/sdk_outbox.c"
#include "../../adapters/sdk/sdk_status.c"
#include "../../adapters/sdk/sdk_ulid.c"
#include "../../adapters/sdk/sdk_util.c"

#include "support_hubproc.h"
#include "testdb.h"

#define WAIT_MS 15000

typedef struct {
    hubproc_t *hub;
    joinery_client_t *pub;
} rig_t;

/* What the subscriber's handler saw last, and what it answers. */
typedef struct {
    joinery_verdict_t verdict;
    unsigned calls;
    uint64_t seq;
    unsigned attempt;
    char event_id[64];
} seen_t;

static joinery_verdict_t on_event(void *ud, const joinery_event_t *ev, uint64_t seq,
                                  unsigned attempt, char *reason, size_t reason_len)
{
    (void)reason;
    (void)reason_len;
    seen_t *s = ud;
    s->calls++;
    s->seq = seq;
    s->attempt = attempt;
    snprintf(s->event_id, sizeof s->event_id, "%s", ev->event_id);
    return s->verdict;
}

static int rig_setup(void **state)
{
    rig_t *r = calloc(1, sizeof *r);
    assert_non_null(r);
    *state = r;
    int rc = hubproc_start(&r->hub, "sdk_defer",
                           "  - name: pub\n    publish: [\"crm.*\"]\n"
                           "  - name: sub\n    subscribe: [\"crm.*\"]\n");
    if (rc != 0 || r->hub == NULL) {
        return rc;
    }
    joinery_options_t o = {.endpoint = r->hub->endpoint, .adapter = "pub"};
    char err[512];
    r->pub = joinery_connect(&o, err, sizeof err);
    if (r->pub == NULL) {
        fprintf(stderr, "connect pub: %s\n", err);
        return -1;
    }
    return 0;
}

static int rig_teardown(void **state)
{
    rig_t *r = *state;
    joinery_close(&r->pub);
    hubproc_stop(&r->hub);
    free(r);
    return 0;
}

static joinery_client_t *subscriber(rig_t *r, const char *name, seen_t *seen)
{
    joinery_options_t o = {.endpoint = r->hub->endpoint,
                           .adapter = "sub",
                           .reconnect_min_ms = 100,
                           .reconnect_max_ms = 200};
    char err[512];
    joinery_client_t *c = joinery_connect(&o, err, sizeof err);
    if (c == NULL) {
        fail_msg("connect sub: %s", err);
    }
    const char *patterns[] = {"crm.*"};
    if (joinery_subscribe(c, name, patterns, 1, 8, on_event, seen) != 0) {
        fail_msg("subscribe %s: %s", name, joinery_last_error(c));
    }
    return c;
}

static void publish(rig_t *r, const char *event_id)
{
    joinery_event_t ev = {.event_id = event_id,
                          .type = "crm.contact.updated",
                          .source_record_id = event_id,
                          .payload_type = "application/json",
                          .payload = "{}",
                          .payload_len = 2};
    joinery_confirm_t cf;
    assert_int_equal(joinery_publish(r->pub, &ev, &cf, WAIT_MS), 0);
    assert_int_equal(cf.status, JOINERY_OK);
}

/* Polls C until the handler has been called CALLS times; fails after WAIT_MS. */
static void await_calls(joinery_client_t *c, const seen_t *s, unsigned calls)
{
    int64_t deadline = sdk_now_ms() + WAIT_MS;
    while (s->calls < calls && sdk_now_ms() < deadline) {
        joinery_poll(c, 50);
    }
    if (s->calls < calls) {
        fail_msg("handler called %u times, not %u, in %d ms", s->calls, calls, WAIT_MS);
    }
}

/* Drives C for MS milliseconds (the hub's acknowledgements and any redelivery). */
static void drive(joinery_client_t *c, int ms)
{
    int64_t until = sdk_now_ms() + ms;
    while (sdk_now_ms() < until) {
        joinery_poll(c, 20);
    }
}

static long long query_ll(rig_t *r, const char *q)
{
    PGresult *res = PQexec(r->hub->db, q);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        fail_msg("%s: %s", q, PQerrorMessage(r->hub->db));
    }
    long long v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

/* The hub's acked floor of subscription NAME reaches SEQ within WAIT_MS. */
static void await_acked(rig_t *r, joinery_client_t *c, const char *name, uint64_t seq)
{
    char q[256];
    snprintf(q, sizeof q,
             "SELECT coalesce(max(acked_seq), 0) FROM subscription WHERE adapter = 'sub' AND "
             "name = '%s'",
             name);
    int64_t deadline = sdk_now_ms() + WAIT_MS;
    while ((uint64_t)query_ll(r, q) < seq && sdk_now_ms() < deadline) {
        joinery_poll(c, 50);
    }
    assert_true((uint64_t)query_ll(r, q) >= seq);
}

static void test_deferred_then_acked(void **state)
{
    rig_t *r = *state;
    if (r->hub == NULL) {
        skip();
    }
    seen_t seen = {.verdict = JOINERY_DEFER};
    joinery_client_t *c = subscriber(r, "defer-ack", &seen);
    publish(r, "ack-1");
    await_calls(c, &seen, 1);
    assert_string_equal(seen.event_id, "ack-1");
    uint64_t seq = seen.seq;
    /* Held: not acknowledged while deferred. */
    drive(c, 300);
    char q[160];
    snprintf(q, sizeof q,
             "SELECT count(*) FROM subscription WHERE name = 'defer-ack' AND "
             "acked_seq >= %llu",
             (unsigned long long)seq);
    assert_int_equal(query_ll(r, q), 0);
    assert_int_equal(joinery_settle(c, "defer-ack", seq, JOINERY_ACK, NULL), 0);
    await_acked(r, c, "defer-ack", seq);
    /* Settled once: a second settle of it is refused, and it is not delivered again. */
    assert_int_equal(joinery_settle(c, "defer-ack", seq, JOINERY_ACK, NULL), -1);
    drive(c, 500);
    assert_int_equal(seen.calls, 1);
    joinery_close(&c);
}

static void test_deferred_then_rejected(void **state)
{
    rig_t *r = *state;
    if (r->hub == NULL) {
        skip();
    }
    seen_t seen = {.verdict = JOINERY_DEFER};
    joinery_client_t *c = subscriber(r, "defer-reject", &seen);
    publish(r, "reject-1");
    await_calls(c, &seen, 1);
    uint64_t seq = seen.seq;
    assert_int_equal(joinery_settle(c, "defer-reject", seq, JOINERY_REJECT,
                                    "the trust said: NHS number not known"),
                     0);
    char q[256];
    snprintf(q, sizeof q,
             "SELECT count(*) FROM dead_letter WHERE adapter = 'sub' AND subscription = "
             "'defer-reject' AND seq = %llu AND event_id = 'reject-1' AND reason = 'the trust "
             "said: NHS number not known'",
             (unsigned long long)seq);
    int64_t deadline = sdk_now_ms() + WAIT_MS;
    while (query_ll(r, q) == 0 && sdk_now_ms() < deadline) {
        joinery_poll(c, 50);
    }
    assert_int_equal(query_ll(r, q), 1);
    drive(c, 300);
    assert_int_equal(seen.calls, 1);
    joinery_close(&c);
}

static void test_settle_unknown_seq(void **state)
{
    rig_t *r = *state;
    if (r->hub == NULL) {
        skip();
    }
    seen_t seen = {.verdict = JOINERY_DEFER};
    joinery_client_t *c = subscriber(r, "defer-unknown", &seen);
    assert_int_equal(joinery_settle(c, "defer-unknown", 999999, JOINERY_ACK, NULL), -1);
    assert_non_null(strstr(joinery_last_error(c), "no deferred delivery 999999"));
    assert_int_equal(joinery_settle(c, "no-such-sub", 1, JOINERY_ACK, NULL), -1);
    /* DEFER is no settlement. */
    publish(r, "unknown-1");
    await_calls(c, &seen, 1);
    assert_int_equal(joinery_settle(c, "defer-unknown", seen.seq, JOINERY_DEFER, NULL), -1);
    assert_int_equal(joinery_settle(c, "defer-unknown", seen.seq, JOINERY_ACK, NULL), 0);
    joinery_close(&c);
}

/* SIGTERM to the hub, then the same binary and configuration again, its log appended. */
static void hub_restart(hubproc_t *h)
{
    kill(h->hub, SIGTERM);
    waitpid(h->hub, NULL, 0);
    char hubbin[512], cfg[160];
    snprintf(hubbin, sizeof hubbin, "%s/hub/joineryd", getenv("JOINERY_BUILD_DIR"));
    snprintf(cfg, sizeof cfg, "%s/hub.yaml", h->dir);
    int fd = open(h->log, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    close(fd); /* so "ready: listening" is the new hub's */
    h->hub = fork();
    if (h->hub == 0) {
        fd = open(h->log, O_WRONLY | O_APPEND);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(hubbin, hubbin, "--config", cfg, (char *)NULL);
        _exit(127);
    }
    assert_true(h->hub > 0);
    for (int i = 0; i < 300 && !hubproc_log_has(h, "ready: listening"); i++) {
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    assert_true(hubproc_log_has(h, "ready: listening"));
}

static void test_deferred_then_hub_restarted(void **state)
{
    rig_t *r = *state;
    if (r->hub == NULL) {
        skip();
    }
    seen_t seen = {.verdict = JOINERY_DEFER};
    joinery_client_t *c = subscriber(r, "defer-restart", &seen);
    publish(r, "restart-1");
    await_calls(c, &seen, 1);
    uint64_t seq = seen.seq;
    assert_int_equal(seen.attempt, 1);
    /* The hub counts a first delivery within about half a second (protocol.md 7.2). */
    drive(c, 1000);
    hub_restart(r->hub);
    /* The session went with the hub, and the deferred delivery with it. */
    int64_t deadline = sdk_now_ms() + WAIT_MS;
    while (joinery_connected(c) && sdk_now_ms() < deadline) {
        joinery_poll(c, 20);
    }
    assert_int_equal(joinery_settle(c, "defer-restart", seq, JOINERY_ACK, NULL), -1);
    /* Delivered again to the next session, and to the handler: the SDK's de-duplication does
     * not take it for an event already handled. */
    await_calls(c, &seen, 2);
    assert_int_equal(seen.seq, seq);
    assert_int_equal(seen.attempt, 2);
    assert_string_equal(seen.event_id, "restart-1");
    assert_int_equal(joinery_settle(c, "defer-restart", seq, JOINERY_ACK, NULL), 0);
    await_acked(r, c, "defer-restart", seq);
    joinery_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deferred_then_acked),
        cmocka_unit_test(test_deferred_then_rejected),
        cmocka_unit_test(test_settle_unknown_seq),
        cmocka_unit_test(test_deferred_then_hub_restarted),
    };
    return cmocka_run_group_tests(tests, rig_setup, rig_teardown);
}
