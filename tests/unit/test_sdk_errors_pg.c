/* test_sdk_errors_pg.c - the SDK against the real hub (joineryd) and PostgreSQL: an ERROR is
 * pinned on the request it names (its request_id, issue 23 item 13). A PUBLISH the hub refuses
 * fails exactly its own event, not the others outstanding; an event refused in a PUBLISH with
 * others is found by sending them again one at a time; a SUBSCRIBE refused while another waits
 * fails the right one. The refusal used is the hub's for an envelope it cannot parse (a string
 * field over 65535 bytes), the one the SDK does not check for itself.
 * JOINERY_NEEDS_PG: ctest starts the throwaway cluster first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

typedef hubproc_t rig_t;

static int rig_setup(void **state)
{
    rig_t *r;
    int rc = hubproc_start(&r, "sdk_errors",
                           "  - name: crm\n    publish: [\"crm.*\"]\n    subscribe: [\"crm.*\"]\n");
    *state = r;
    return rc;
}

static int rig_teardown(void **state)
{
    rig_t *r = *state;
    hubproc_stop(&r);
    return 0;
}

/* Over the 65535 bytes the hub takes in one envelope string field. */
#define HUGE_FIELD 70000

typedef struct {
    char event_id[JOINERY_EVENT_ID_MAX + 1];
    int answered;
    joinery_status_t status;
    char reason[600];
} answer_t;

static void on_confirm(void *ud, const joinery_confirm_t *cf)
{
    answer_t *a = ud;
    a->answered++;
    a->status = cf->status;
    snprintf(a->reason, sizeof a->reason, "%s", cf->reason);
}

static joinery_client_t *connect_crm(const rig_t *r)
{
    joinery_options_t o = {.endpoint = r->endpoint, .adapter = "crm"};
    char err[512];
    joinery_client_t *c = joinery_connect(&o, err, sizeof err);
    if (c == NULL) {
        fail_msg("connect: %s", err);
    }
    return c;
}

/* Queues one event; a huge one carries a correlation_id the hub cannot parse. */
static void publish(joinery_client_t *c, answer_t *a, const char *id, int huge)
{
    static char big[HUGE_FIELD + 1];
    memset(big, 'x', HUGE_FIELD);
    joinery_event_t ev = {.event_id = id,
                          .type = "crm.contact.updated",
                          .correlation_id = huge ? big : NULL,
                          .payload_type = "application/json",
                          .payload = "{}",
                          .payload_len = 2};
    memset(a, 0, sizeof *a);
    snprintf(a->event_id, sizeof a->event_id, "%s", id);
    assert_int_equal(joinery_publish_async(c, &ev, on_confirm, a, NULL), 0);
}

static long journaled(rig_t *r, const char *event_id)
{
    char q[256];
    snprintf(q, sizeof q, "SELECT count(*) FROM journal WHERE source = 'crm' AND event_id = '%s'",
             event_id);
    PGresult *res = PQexec(r->db, q);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    long n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return n;
}

static void assert_taken(rig_t *r, const answer_t *a)
{
    if (a->answered != 1 || (a->status != JOINERY_OK && a->status != JOINERY_DUPLICATE)) {
        fail_msg("%s: answered %d time(s), status %d (%s); expected OK or DUPLICATE once",
                 a->event_id, a->answered, (int)a->status, a->reason);
    }
    assert_int_equal(journaled(r, a->event_id), 1);
}

static void assert_refused(rig_t *r, const answer_t *a)
{
    if (a->answered != 1 || a->status != JOINERY_REJECTED || !strstr(a->reason, "65535")) {
        fail_msg("%s: answered %d time(s), status %d (%s); expected REJECTED once, with the "
                 "hub's reason",
                 a->event_id, a->answered, (int)a->status, a->reason);
    }
    assert_int_equal(journaled(r, a->event_id), 0);
}

/* Three PUBLISHes outstanding, the middle one refused: only its event fails. */
static void test_refused_publish_fails_only_its_event(void **state)
{
    rig_t *r = *state;
    if (r == NULL) {
        skip();
    }
    joinery_client_t *c = connect_crm(r);
    answer_t a[3];
    publish(c, &a[0], "sep-good-1", 0);
    joinery_poll(c, 0); /* each goes out in a PUBLISH of its own */
    publish(c, &a[1], "sep-bad", 1);
    joinery_poll(c, 0);
    publish(c, &a[2], "sep-good-2", 0);
    if (joinery_flush(c, 10000) != 0) {
        fail_msg("flush: %s (the refused event never got an answer)", joinery_last_error(c));
    }
    joinery_close(&c);
    assert_taken(r, &a[0]);
    assert_refused(r, &a[1]);
    assert_taken(r, &a[2]);
}

/* One PUBLISH with the refused event among good ones: the hub took the good ones, so they must
 * not be failed with it; sent again one by one, each gets its own answer. */
static void test_refused_event_among_others_is_singled_out(void **state)
{
    rig_t *r = *state;
    if (r == NULL) {
        skip();
    }
    joinery_client_t *c = connect_crm(r);
    answer_t a[4];
    publish(c, &a[0], "mix-good-1", 0);
    publish(c, &a[1], "mix-bad", 1);
    publish(c, &a[2], "mix-good-2", 0);
    publish(c, &a[3], "mix-good-3", 0);
    if (joinery_flush(c, 10000) != 0) {
        fail_msg("flush: %s (the refused event never got an answer)", joinery_last_error(c));
    }
    joinery_close(&c);
    assert_taken(r, &a[0]);
    assert_refused(r, &a[1]);
    assert_taken(r, &a[2]);
    assert_taken(r, &a[3]);
}

static joinery_verdict_t on_event(void *ud, const joinery_event_t *ev, uint64_t seq,
                                  unsigned attempt, char *reason, size_t reason_len)
{
    (void)ud, (void)ev, (void)seq, (void)attempt, (void)reason, (void)reason_len;
    return JOINERY_ACK;
}

/* A subscription the hub refuses is asked for when the session opens; its refusal comes back
 * while joinery_subscribe waits for another's answer, and must not fail that one. */
static void test_refused_subscribe_is_the_right_one(void **state)
{
    rig_t *r = *state;
    if (r == NULL) {
        skip();
    }
    joinery_options_t o = {.endpoint = r->endpoint, .adapter = "crm", .connect_timeout_ms = -1};
    char err[512];
    joinery_client_t *c = joinery_connect(&o, err, sizeof err);
    if (c == NULL) {
        fail_msg("connect: %s", err);
    }
    const char *beyond[] = {"person.*"}, *allowed[] = {"crm.*"};
    /* No session yet: queued, and sent as soon as WELCOME comes. */
    assert_int_equal(joinery_subscribe(c, "beyond", beyond, 1, 0, on_event, NULL), 0);
    int refused_early = 0;
    for (int i = 0; i < 100 && !joinery_connected(c); i++) {
        refused_early |= joinery_poll(c, 100) < 0;
    }
    assert_true(joinery_connected(c));
    int rc = joinery_subscribe(c, "allowed", allowed, 1, 0, on_event, NULL);
    if (rc != 0) {
        fail_msg("the permitted subscription was refused: %s", joinery_last_error(c));
    }
    if (!refused_early) {
        /* The refusal of "beyond" came while "allowed" waited: joinery_poll reports it. */
        assert_int_equal(joinery_poll(c, 0), -1);
    }
    assert_non_null(strstr(joinery_last_error(c), "beyond"));
    joinery_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_refused_publish_fails_only_its_event, rig_setup,
                                        rig_teardown),
        cmocka_unit_test_setup_teardown(test_refused_event_among_others_is_singled_out, rig_setup,
                                        rig_teardown),
        cmocka_unit_test_setup_teardown(test_refused_subscribe_is_the_right_one, rig_setup,
                                        rig_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
