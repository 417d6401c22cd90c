/* test_deliver_attempts.c - delivery's attempt count (docs/protocol.md 7.2 and 7.3):
 * an event left unsettled when its subscription lets go of it (the session
 * ends, a SUBSCRIBE starts the subscription afresh or takes it over from
 * another session) is delivered again with its attempt counting on, and once
 * it has been delivered max_attempts times it is dead-lettered instead of
 * delivered again, and the next event of its entity follows. NACK retries and
 * lost sessions share the count; a settled event's count is forgotten.
 *
 * The core runs as in the daemon, without a store: events are put in the
 * window as if committed, and each adapter's session is a DEALER on an
 * inproc ROUTER, so the DELIVERs the hub sends are read back as sent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <joinery/v1/protocol.pb-c.h>
#include <zmq.h>

#include "core.h"
#include "deliver.h"
#include "session.h"
#include "support_fixture.h"

#define MAX_ATTEMPTS 3
#define ENDPOINT "inproc://test-deliver"

static const char CONFIG_TEXT[] = "security: {curve: false}\n"
                                  "delivery:\n"
                                  "  max_attempts: 3\n"
                                  "adapters:\n"
                                  "  - name: crm\n"
                                  "    publish: [\"crm.*\"]\n"
                                  "  - name: socialcare\n"
                                  "    subscribe: [\"crm.*\"]\n";

typedef struct {
    void *sock;      /* the adapter's DEALER */
    int32_t session; /* its session on the hub */
} peer_t;

typedef struct {
    char dir[128];
    config_t *cfg;
    core_t *c;
    peer_t peers[8];
    size_t npeers;
} fixture_t;

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->cfg = fixture_config(fx->dir, sizeof fx->dir, "/tmp/joinery-deliver-XXXXXX", CONFIG_TEXT);
    assert_int_equal(fx->cfg->max_attempts, MAX_ATTEMPTS);
    fx->c = core_new(fx->cfg);
    assert_non_null(fx->c);
    fx->c->ctx = zmq_ctx_new();
    fx->c->router = zmq_socket(fx->c->ctx, ZMQ_ROUTER);
    assert_int_equal(zmq_bind(fx->c->router, ENDPOINT), 0);
    fx->c->now_us = core_now_us();
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    for (size_t i = 0; i < fx->npeers; i++)
        zmq_close(fx->peers[i].sock);
    for (size_t i = 0; i < CORE_MAX_SESSIONS; i++) {
        deliver_session_closed(fx->c, &fx->c->sessions[i]);
        session_close(fx->c, &fx->c->sessions[i], "test over");
    }
    deliver_destroy_all(fx->c);
    core_destroy(&fx->c);
    config_destroy(&fx->cfg);
    fixture_remove_dir(fx->dir);
    free(fx);
    return 0;
}

/* A new connection of socialcare with a session on the hub. */
static peer_t *connect_peer(fixture_t *fx)
{
    assert_true(fx->npeers < sizeof fx->peers / sizeof *fx->peers);
    peer_t *p = &fx->peers[fx->npeers++];
    p->sock = zmq_socket(fx->c->ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(p->sock, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_connect(p->sock, ENDPOINT), 0);
    /* As in the daemon, the session is on the routing id a message came from. */
    assert_int_equal(zmq_send(p->sock, "HELLO", 5, 0), 5);
    uint8_t rid[CORE_ROUTING_ID_MAX];
    int n = zmq_recv(fx->c->router, rid, sizeof rid, 0);
    assert_true(n > 0);
    char cmd[16];
    assert_int_equal(zmq_recv(fx->c->router, cmd, sizeof cmd, 0), 5);
    session_t *s = session_open(fx->c, rid, (size_t)n, config_adapter(fx->cfg, "socialcare"));
    assert_non_null(s);
    p->session = s->id;
    return p;
}

static session_t *session_of(fixture_t *fx, const peer_t *p)
{
    session_t *s = core_session(fx->c, p->session);
    assert_non_null(s);
    return s;
}

/* The session ends (expiry, GOODBYE), as the router ends it. */
static void lose(fixture_t *fx, const peer_t *p)
{
    session_t *s = session_of(fx, p);
    deliver_session_closed(fx->c, s);
    session_close(fx->c, s, "lost");
}

/* Journals an event of RECORD as committed: it joins the window. */
static uint64_t journal(fixture_t *fx, const char *record)
{
    core_t *c = fx->c;
    uint64_t seq = ++c->head_seq;
    char event_id[32], key[64];
    snprintf(event_id, sizeof event_id, "ev-%llu", (unsigned long long)seq);
    snprintf(key, sizeof key, "r:crm/%s", record);
    jbatch_t *b = jbatch_new(JB_COMMIT);
    assert_non_null(b);
    const char type[] = "crm.contact.updated";
    assert_non_null(jbatch_add(b, seq, type, strlen(type), "crm", 3, event_id, strlen(event_id),
                               key, strlen(key), (const uint8_t *)event_id, strlen(event_id),
                               c->now_us));
    b->status = JB_COMMITTED;
    assert_int_equal(window_push(c->window, b), 0);
    jbatch_release(&b); /* the window's reference keeps it */
    c->next_seq = seq + 1;
    return seq;
}

static void subscribe(fixture_t *fx, const peer_t *p, const char *pattern)
{
    Joinery__V1__Subscribe m = JOINERY__V1__SUBSCRIBE__INIT;
    char *patterns[] = {(char *)pattern};
    m.subscription = "s";
    m.patterns = patterns;
    m.n_patterns = 1;
    m.credit = 10;
    m.from_beginning = 1; /* a new subscription starts before the events journaled here */
    uint8_t buf[256];
    size_t n = joinery__v1__subscribe__pack(&m, buf);
    deliver_subscribe(fx->c, session_of(fx, p), buf, n);
}

static void ack(fixture_t *fx, const peer_t *p, uint64_t seq)
{
    Joinery__V1__Ack m = JOINERY__V1__ACK__INIT;
    m.subscription = "s";
    m.seqs = &seq;
    m.n_seqs = 1;
    uint8_t buf[64];
    size_t n = joinery__v1__ack__pack(&m, buf);
    deliver_ack(fx->c, session_of(fx, p), buf, n);
}

static void nack_retry(fixture_t *fx, const peer_t *p, uint64_t seq)
{
    Joinery__V1__Nack m = JOINERY__V1__NACK__INIT;
    m.subscription = "s";
    m.seq = seq;
    m.action = JOINERY__V1__NACK_ACTION__NACK_RETRY;
    m.reason = "downstream timeout";
    uint8_t buf[128];
    size_t n = joinery__v1__nack__pack(&m, buf);
    deliver_nack(fx->c, session_of(fx, p), buf, n);
}

/* Reads P's messages until the next DELIVER (skipping SUBSCRIBED) and
 * returns its only delivery's (seq, attempt); (0, 0) if none comes. */
static void next_delivery(const peer_t *p, uint64_t *seq, uint32_t *attempt)
{
    *seq = 0;
    *attempt = 0;
    for (;;) {
        zmq_pollitem_t it = {p->sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 100) <= 0)
            return;
        char cmd[32] = "";
        uint8_t body[4096];
        int cn = zmq_recv(p->sock, cmd, sizeof cmd - 1, 0);
        assert_true(cn > 0);
        cmd[cn] = '\0';
        int bn = zmq_recv(p->sock, body, sizeof body, 0);
        assert_true(bn >= 0);
        if (strcmp(cmd, "DELIVER") != 0)
            continue;
        Joinery__V1__Deliver *d = joinery__v1__deliver__unpack(NULL, (size_t)bn, body);
        assert_non_null(d);
        assert_int_equal(d->n_deliveries, 1);
        *seq = d->deliveries[0]->seq;
        *attempt = d->deliveries[0]->attempt;
        joinery__v1__deliver__free_unpacked(d, NULL);
        return;
    }
}

static void expect_delivery(const peer_t *p, uint64_t seq, uint32_t attempt)
{
    uint64_t got_seq;
    uint32_t got_attempt;
    next_delivery(p, &got_seq, &got_attempt);
    assert_int_equal(got_seq, seq);
    assert_int_equal(got_attempt, attempt);
}

static void expect_nothing(const peer_t *p)
{
    expect_delivery(p, 0, 0);
}

static sub_t *the_sub(fixture_t *fx)
{
    sub_t *s = deliver_sub_find(fx->c, "socialcare", "s");
    assert_non_null(s);
    return s;
}

static size_t tries_held(fixture_t *fx)
{
    sub_t *s = the_sub(fx);
    return s->tries ? hmap_count(s->tries) : 0;
}

/* Delivered, never settled: the session is lost, a SUBSCRIBE starts it
 * afresh, another session takes it over. The fourth time it would go out it
 * is dead-lettered, saying why, and the event of its record held behind it
 * comes instead, at attempt 1. */
static void test_unsettled_deliveries_count_on_and_dead_letter(void **state)
{
    fixture_t *fx = *state;
    uint64_t poison = journal(fx, "r-1");
    uint64_t next = journal(fx, "r-1");
    peer_t *a = connect_peer(fx);
    subscribe(fx, a, "crm.*");
    expect_delivery(a, poison, 1);
    expect_nothing(a); /* the next event of the record waits behind it */
    lose(fx, a);
    assert_int_equal(tries_held(fx), 1);

    peer_t *b = connect_peer(fx);
    subscribe(fx, b, "crm.*");
    expect_delivery(b, poison, 2);
    assert_int_equal(tries_held(fx), 0); /* the delivery in flight counts now */
    subscribe(fx, b, "crm.*");           /* afresh, on the same session */
    expect_delivery(b, poison, 3);

    peer_t *c = connect_peer(fx);
    subscribe(fx, c, "crm.*"); /* takes it over: b is still open */
    expect_delivery(c, next, 1);
    expect_nothing(c);
    expect_nothing(b);

    const jbatch_t *pending = fx->c->pending;
    assert_int_equal(pending->ndead, 1);
    assert_int_equal(pending->dead[0].seq, poison);
    assert_int_equal(pending->dead[0].attempts, MAX_ATTEMPTS);
    assert_string_equal(pending->dead[0].subscription, "s");
    assert_non_null(strstr(pending->dead[0].reason, "delivered 3 times without being settled"));
    assert_int_equal(fx->c->dead_letters, 1);
    assert_int_equal(the_sub(fx)->dead, 1);
    assert_int_equal(tries_held(fx), 0);

    ack(fx, c, next);
    assert_int_equal(deliver_floor(the_sub(fx)), next);
}

/* An ACK settles the event: its count is gone, and nothing comes again. */
static void test_settled_event_is_forgotten(void **state)
{
    fixture_t *fx = *state;
    uint64_t seq = journal(fx, "r-1");
    peer_t *a = connect_peer(fx);
    subscribe(fx, a, "crm.*");
    expect_delivery(a, seq, 1);
    lose(fx, a);
    peer_t *b = connect_peer(fx);
    subscribe(fx, b, "crm.*");
    expect_delivery(b, seq, 2);
    ack(fx, b, seq);
    assert_int_equal(deliver_floor(the_sub(fx)), seq);
    lose(fx, b);
    assert_int_equal(tries_held(fx), 0);
    peer_t *c = connect_peer(fx);
    subscribe(fx, c, "crm.*");
    expect_nothing(c);
    uint64_t later = journal(fx, "r-1");
    deliver_pump_all(fx->c);
    expect_delivery(c, later, 1);
    assert_int_equal(fx->c->pending->ndead, 0);
}

/* A NACK retry and a lost session are both a delivery that did not settle:
 * they count together, and the NACK of the last allowed attempt dead-letters. */
static void test_nack_retries_and_lost_sessions_share_the_count(void **state)
{
    fixture_t *fx = *state;
    uint64_t seq = journal(fx, "r-1");
    peer_t *a = connect_peer(fx);
    subscribe(fx, a, "crm.*");
    expect_delivery(a, seq, 1);
    nack_retry(fx, a, seq); /* waits retry_base_ms; the session is lost meanwhile */
    lose(fx, a);
    peer_t *b = connect_peer(fx);
    subscribe(fx, b, "crm.*");
    expect_delivery(b, seq, 2);
    lose(fx, b);
    peer_t *c = connect_peer(fx);
    subscribe(fx, c, "crm.*");
    expect_delivery(c, seq, 3);
    nack_retry(fx, c, seq);
    const jbatch_t *pending = fx->c->pending;
    assert_int_equal(pending->ndead, 1);
    assert_int_equal(pending->dead[0].attempts, MAX_ATTEMPTS);
    assert_non_null(strstr(pending->dead[0].reason, "too many attempts"));
    assert_int_equal(deliver_floor(the_sub(fx)), seq);
    expect_nothing(c);
}

/* The counts are only for events in flight: one the subscription no longer
 * matches after a SUBSCRIBE with other patterns is forgotten once the acked
 * floor passes it. */
static void test_counts_are_pruned_past_the_floor(void **state)
{
    fixture_t *fx = *state;
    uint64_t seq = journal(fx, "r-1");
    peer_t *a = connect_peer(fx);
    subscribe(fx, a, "crm.*");
    expect_delivery(a, seq, 1);
    lose(fx, a);
    assert_int_equal(tries_held(fx), 1);
    peer_t *b = connect_peer(fx);
    subscribe(fx, b, "crm.other.*");
    expect_nothing(b);
    assert_int_equal(deliver_floor(the_sub(fx)), seq);
    deliver_queue_cursors(fx->c);
    assert_int_equal(tries_held(fx), 0);
    assert_int_equal(fx->c->pending->ndead, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unsettled_deliveries_count_on_and_dead_letter, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_settled_event_is_forgotten, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nack_retries_and_lost_sessions_share_the_count, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_counts_are_pruned_past_the_floor, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
