/* test_session.c - adapter sessions (hub/session.h: session_open,
 * session_close, session_next_expired, session_heartbeat; hub/core.h:
 * core_session, core_session_find, core_confirm) with the core's state built
 * by hand; adapters are real ZeroMQ DEALERs on an inproc ROUTER, and the
 * heartbeat timer closes expired sessions as router.c does.
 *
 * Covered: heartbeat expiry on the core's clock, at its exact boundary
 * (silence of more than heartbeat_ms x heartbeat_misses closes a session);
 * HEARTBEATs to live sessions; a closed session's deliveries in flight are
 * released and come again to the next session (docs/protocol.md 4.2);
 * session ids are not reused when a slot is; a routing id finds only its own
 * session; CONFIRMs owed are sent when a session closes.
 *
 * JOINERY_NEEDS_PG: one case runs the whole core (router_run) in a thread
 * against a throwaway database, because what counts as a sign of life is
 * decided where messages arrive: an adapter that answers the hub's
 * HEARTBEATs keeps its session far past the expiry time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include <joinery/v1/envelope.pb-c.h>
#include <joinery/v1/protocol.pb-c.h>

#include "core.h"
#include "deliver.h"
#include "ingest.h"
#include "router.h"
#include "session.h"
#include "store/migrate.h"
#include "support_core.h"
#include "support_fixture.h"
#include "testdb.h"

#define T0 1717200000000000LL /* the core's clock in these tests */
#define HEARTBEAT_US (100 * 1000LL)
#define MISSES 3

static const char CONFIG_TEXT[] = "hub:\n"
                                  "  heartbeat_ms: 100\n"
                                  "  heartbeat_misses: 3\n"
                                  "security: {curve: false}\n"
                                  "adapters:\n"
                                  "  - name: crm\n"
                                  "    publish: [\"crm.*\"]\n"
                                  "  - name: socialcare\n"
                                  "    subscribe: [\"crm.*\"]\n";

/* ---- the hub around the core ------------------------------------------------ */

typedef struct {
    char dir[256];
    config_t *cfg;
    core_t *c;
    char endpoint[64];
    void *socks[4];
    size_t nsocks;
} hub_t;

static hub_t *hub_open(void)
{
    hub_t *h = calloc(1, sizeof *h);
    assert_non_null(h);
    h->cfg = fixture_config(h->dir, sizeof h->dir, "/tmp/joinery-session-XXXXXX", CONFIG_TEXT);
    core_t *c = core_new(h->cfg);
    assert_non_null(c);
    h->c = c;
    c->db_up = false; /* no database: everything is in the window */
    c->now_us = T0;
    c->next_seq = 1;
    c->ctx = zmq_ctx_new();
    c->router = zmq_socket(c->ctx, ZMQ_ROUTER);
    (void)snprintf(h->endpoint, sizeof h->endpoint, "inproc://test-session-%p", (void *)h);
    assert_int_equal(zmq_bind(c->router, h->endpoint), 0);
    return h;
}

static void hub_close(hub_t *h)
{
    core_t *c = h->c;
    for (size_t i = 0; i < h->nsocks; i++)
        zmq_close(h->socks[i]);
    for (size_t i = 0; i < CORE_MAX_SESSIONS; i++) {
        deliver_session_closed(c, &c->sessions[i]);
        session_close(c, &c->sessions[i], "test over");
    }
    deliver_destroy_all(c);
    core_destroy(&h->c);
    config_destroy(&h->cfg);
    fixture_remove_dir(h->dir);
    free(h);
}

/* The core's heartbeat timer, as router.c runs it: sessions silent too long
 * are closed (their subscriptions let go first), the others sent HEARTBEAT. */
static void tick(hub_t *h)
{
    size_t pos = 0;
    session_t *s;
    while ((s = session_next_expired(h->c, &pos)) != NULL) {
        deliver_session_closed(h->c, s);
        session_close(h->c, s, "silent");
    }
    session_heartbeat(h->c);
}

/* An adapter's DEALER with routing id RID, known to the ROUTER (it has said
 * something), and its session. */
static session_t *connect_as(hub_t *h, const char *adapter, const char *rid, void **sock)
{
    assert_true(h->nsocks < 4);
    void *d = zmq_socket(h->c->ctx, ZMQ_DEALER);
    h->socks[h->nsocks++] = d;
    int timeout_ms = 5000, linger = 0;
    assert_int_equal(zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger), 0);
    assert_int_equal(zmq_setsockopt(d, ZMQ_ROUTING_ID, rid, strlen(rid)), 0);
    assert_int_equal(zmq_setsockopt(d, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms), 0);
    assert_int_equal(zmq_connect(d, h->endpoint), 0);
    assert_int_equal(zmq_send(d, "HELLO", 5, 0), 5);
    uint8_t got[32];
    char cmd[8];
    assert_int_equal(zmq_recv(h->c->router, got, sizeof got, 0), (int)strlen(rid));
    assert_int_equal(zmq_recv(h->c->router, cmd, sizeof cmd, 0), 5);
    session_t *s =
        session_open(h->c, (const uint8_t *)rid, strlen(rid), config_adapter(h->cfg, adapter));
    assert_non_null(s);
    if (sock)
        *sock = d;
    return s;
}

/* The commands waiting for this adapter, in order, as "A B C" (bodies dropped). */
static void pending_commands(void *sock, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    char cmd[32];
    int len;
    while ((len = zmq_recv(sock, cmd, sizeof cmd - 1, ZMQ_DONTWAIT)) >= 0) {
        cmd[len] = '\0';
        char body[16];
        assert_true(zmq_recv(sock, body, sizeof body, 0) >= 0);
        n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? " " : "", cmd);
        assert_true(n < cap);
    }
    assert_int_equal(zmq_errno(), EAGAIN);
}

/* One event committed into the window, and a subscription of socialcare that
 * holds it in flight on session S. */
static sub_t *one_delivery_in_flight(hub_t *h, session_t *s, void *sock)
{
    jbatch_t *b = jbatch_new(JB_COMMIT);
    Joinery__V1__Envelope env = JOINERY__V1__ENVELOPE__INIT;
    env.event_id = "E1";
    env.type = "crm.contact.updated";
    uint8_t buf[64];
    size_t len = joinery__v1__envelope__pack(&env, buf);
    assert_non_null(
        jbatch_add(b, 1, env.type, strlen(env.type), "crm", 3, "E1", 2, "e:1", 3, buf, len, T0));
    b->status = JB_COMMITTED;
    owed_list_t owed = {0};
    ingest_committed(h->c, b, &owed);
    jbatch_release(&b);

    Joinery__V1__Subscribe m = JOINERY__V1__SUBSCRIBE__INIT;
    char *patterns[] = {"crm.*"};
    m.subscription = "main";
    m.patterns = patterns;
    m.n_patterns = 1;
    m.credit = 10;
    m.from_beginning = true;
    len = joinery__v1__subscribe__pack(&m, buf);
    deliver_subscribe(h->c, s, buf, len);
    char got[128];
    pending_commands(sock, got, sizeof got);
    assert_string_equal(got, "SUBSCRIBED DELIVER");
    sub_t *sub = deliver_sub_find(h->c, "socialcare", "main");
    assert_non_null(sub);
    assert_int_equal(sub->session, s->id);
    assert_int_equal(hmap_count(sub->inflight), 1);
    return sub;
}

/* ---- tests ----------------------------------------------------------------- */

static void test_silence_expires_a_session_at_the_boundary(void **state)
{
    (void)state;
    hub_t *h = hub_open();
    void *sock;
    session_t *s = connect_as(h, "socialcare", "sc-1", &sock);
    int32_t id = s->id;
    sub_t *sub = one_delivery_in_flight(h, s, sock);
    char got[128];

    /* Silent for exactly heartbeat_ms x heartbeat_misses: still alive, and
     * sent a HEARTBEAT. */
    h->c->now_us = T0 + HEARTBEAT_US * MISSES;
    tick(h);
    assert_ptr_equal(core_session(h->c, id), s);
    pending_commands(sock, got, sizeof got);
    assert_string_equal(got, "HEARTBEAT");

    /* A sign of life resets the clock (the router sets last_seen_us on every message). */
    s->last_seen_us = h->c->now_us;
    h->c->now_us += HEARTBEAT_US * MISSES;
    tick(h);
    assert_ptr_equal(core_session(h->c, id), s);
    pending_commands(sock, got, sizeof got);
    assert_string_equal(got, "HEARTBEAT");

    /* A microsecond more: closed, and what it had in flight is released. */
    h->c->now_us += 1;
    tick(h);
    assert_null(core_session(h->c, id));
    assert_null(core_session_find(h->c, (const uint8_t *)"sc-1", 4));
    pending_commands(sock, got, sizeof got);
    assert_string_equal(got, "");
    assert_int_equal(sub->session, -1);
    assert_int_equal(hmap_count(sub->inflight), 0);
    assert_int_equal(deliver_floor(sub), 0);
    hub_close(h);
}

static void test_deliveries_come_again_to_the_next_session(void **state)
{
    (void)state;
    hub_t *h = hub_open();
    void *old_sock, *new_sock;
    session_t *old = connect_as(h, "socialcare", "sc-1", &old_sock);
    (void)one_delivery_in_flight(h, old, old_sock);
    h->c->now_us = T0 + HEARTBEAT_US * MISSES + 1;
    tick(h);
    assert_false(old->active);

    session_t *s = connect_as(h, "socialcare", "sc-2", &new_sock);
    Joinery__V1__Subscribe m = JOINERY__V1__SUBSCRIBE__INIT;
    char *patterns[] = {"crm.*"};
    m.subscription = "main";
    m.patterns = patterns;
    m.n_patterns = 1;
    m.credit = 10;
    uint8_t buf[64];
    size_t len = joinery__v1__subscribe__pack(&m, buf);
    deliver_subscribe(h->c, s, buf, len);
    /* SUBSCRIBED says nothing is acknowledged yet, and seq 1 comes again. */
    char cmd[32];
    uint8_t body[512];
    int n = zmq_recv(new_sock, cmd, sizeof cmd, 0);
    assert_int_equal(n, 10);
    assert_memory_equal(cmd, "SUBSCRIBED", 10);
    n = zmq_recv(new_sock, body, sizeof body, 0);
    assert_true(n > 0);
    Joinery__V1__Subscribed *ok = joinery__v1__subscribed__unpack(NULL, (size_t)n, body);
    assert_non_null(ok);
    assert_int_equal(ok->acked_seq, 0);
    joinery__v1__subscribed__free_unpacked(ok, NULL);
    n = zmq_recv(new_sock, cmd, sizeof cmd, 0);
    assert_int_equal(n, 7);
    assert_memory_equal(cmd, "DELIVER", 7);
    n = zmq_recv(new_sock, body, sizeof body, 0);
    assert_true(n > 0);
    Joinery__V1__Deliver *d = joinery__v1__deliver__unpack(NULL, (size_t)n, body);
    assert_non_null(d);
    assert_int_equal(d->n_deliveries, 1);
    assert_int_equal(d->deliveries[0]->seq, 1);
    joinery__v1__deliver__free_unpacked(d, NULL);
    hub_close(h);
}

static void test_session_ids_are_not_reused(void **state)
{
    (void)state;
    hub_t *h = hub_open();
    session_t *a = connect_as(h, "crm", "crm-1", NULL);
    int32_t first = a->id;
    session_close(h->c, a, "said goodbye");
    assert_null(core_session(h->c, first));

    session_t *b = connect_as(h, "crm", "crm-2", NULL);
    assert_ptr_equal(a, b); /* the same slot... */
    assert_int_equal(SESSION_SLOT(b->id), SESSION_SLOT(first));
    assert_int_not_equal(b->id, first); /* ...under another id */
    assert_null(core_session(h->c, first));
    assert_ptr_equal(core_session(h->c, b->id), b);
    assert_null(core_session(h->c, -1));
    hub_close(h);
}

static void test_routing_ids_are_matched_whole(void **state)
{
    (void)state;
    hub_t *h = hub_open();
    session_t *longer = connect_as(h, "crm", "crm-10", NULL);
    assert_null(core_session_find(h->c, (const uint8_t *)"crm-1", 5));
    assert_null(core_session_find(h->c, (const uint8_t *)"crm-100", 7));
    session_t *shorter = connect_as(h, "socialcare", "crm-1", NULL);
    assert_ptr_equal(core_session_find(h->c, (const uint8_t *)"crm-1", 5), shorter);
    assert_ptr_equal(core_session_find(h->c, (const uint8_t *)"crm-10", 6), longer);
    assert_string_equal(shorter->adapter->name, "socialcare");
    hub_close(h);
}

static void test_closing_sends_the_confirms_owed(void **state)
{
    (void)state;
    hub_t *h = hub_open();
    void *sock;
    session_t *s = connect_as(h, "crm", "crm-1", &sock);
    int32_t id = s->id;
    core_confirm(h->c, s, "E1", 2, JOINERY__V1__CONFIRM_STATUS__CONFIRM_RETRY, 0, "later");
    session_close(h->c, s, "said goodbye");
    assert_null(core_session(h->c, id));
    assert_null(core_session_find(h->c, (const uint8_t *)"crm-1", 5));
    char got[64];
    pending_commands(sock, got, sizeof got);
    assert_string_equal(got, "CONFIRM");
    hub_close(h);
}

/* ---- the running core ----------------------------------------------------------- */

static const char RUNNING_CONFIG[] = "hub:\n"
                                     "  listen: \"%s\"\n"
                                     "  heartbeat_ms: 100\n"
                                     "  heartbeat_misses: 5\n"
                                     "database: {conninfo: \"%s\"}\n"
                                     "security: {curve: false}\n"
                                     "adapters:\n"
                                     "  - name: crm\n"
                                     "    publish: [\"crm.*\"]\n";

/* An adapter that only answers the hub's HEARTBEATs keeps its session for many
 * times heartbeat_ms x heartbeat_misses (500 ms): any message is a sign of life. */
static void test_answering_heartbeats_keeps_the_session(void **state)
{
    (void)state;
    running_t *r = start_core("test_session_alive", RUNNING_CONFIG, "crm");
    Joinery__V1__Heartbeat hb = JOINERY__V1__HEARTBEAT__INIT;
    uint8_t buf[32];
    size_t hb_len = joinery__v1__heartbeat__pack(&hb, buf);
    char cmd[32];
    zmq_msg_t body;
    for (int beats = 0; beats < 20; beats++) { /* about two seconds */
        if (!client_recv(r, cmd, sizeof cmd, &body, 2000))
            fail_msg("after %d heartbeats the hub went silent: the session was expired", beats);
        zmq_msg_close(&body);
        assert_string_equal(cmd, "HEARTBEAT");
        client_send(r, "HEARTBEAT", buf, hb_len);
    }
    /* Still the same session: a PUBLISH is confirmed, not refused NO_SESSION. */
    Joinery__V1__Envelope env = JOINERY__V1__ENVELOPE__INIT;
    env.event_id = "E1";
    env.type = "crm.contact.updated";
    env.occurred_at = core_now_us();
    Joinery__V1__Envelope *events[] = {&env};
    Joinery__V1__Publish pub = JOINERY__V1__PUBLISH__INIT;
    pub.events = events;
    pub.n_events = 1;
    uint8_t pbuf[128];
    client_send(r, "PUBLISH", pbuf, joinery__v1__publish__pack(&pub, pbuf));
    for (;;) {
        if (!client_recv(r, cmd, sizeof cmd, &body, 10000))
            fail_msg("no answer to PUBLISH");
        if (strcmp(cmd, "HEARTBEAT") != 0)
            break;
        zmq_msg_close(&body);
    }
    assert_string_equal(cmd, "CONFIRM");
    Joinery__V1__Confirm *c =
        joinery__v1__confirm__unpack(NULL, zmq_msg_size(&body), zmq_msg_data(&body));
    zmq_msg_close(&body);
    assert_non_null(c);
    assert_int_equal(c->n_entries, 1);
    assert_int_equal(c->entries[0]->status, JOINERY__V1__CONFIRM_STATUS__CONFIRM_OK);
    joinery__v1__confirm__free_unpacked(c, NULL);
    stop_core(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_silence_expires_a_session_at_the_boundary),
        cmocka_unit_test(test_deliveries_come_again_to_the_next_session),
        cmocka_unit_test(test_session_ids_are_not_reused),
        cmocka_unit_test(test_routing_ids_are_matched_whole),
        cmocka_unit_test(test_closing_sends_the_confirms_owed),
        cmocka_unit_test(test_answering_heartbeats_keeps_the_session),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
