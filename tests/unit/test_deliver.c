/* test_deliver.c - durable subscriptions (hub/deliver.h) driven as the core
 * drives them, with the core's state built by hand and adapters that are real
 * ZeroMQ DEALERs on an inproc ROUTER, so DELIVERs are read back as an adapter
 * reads them and ACK/NACK/SUBSCRIBE bodies are the protobuf an adapter sends.
 *
 * Journal entries reach the core as committed batches through
 * ingest_committed (the window and the head), as they do after a commit.
 *
 * Covered: patterns and credit (an ACK gives its credit back), the gate of one
 * event per entity in flight and the release of the entity's next event, NACK
 * with doubling retry delays on the core's clock, dead letters after
 * max_attempts and on reject, a repeated NACK, the acked floor, addressed and
 * operator-only events, where a new subscription starts, transient events.
 *
 * JOINERY_NEEDS_PG: the catch-up cases run a real store thread against a
 * throwaway database: a subscription behind the window reads the journal back
 * (also across a gap the journal has where commits failed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include <joinery/v1/envelope.pb-c.h>
#include <joinery/v1/protocol.pb-c.h>

#include "core.h"
#include "deliver.h"
#include "ingest.h"
#include "session.h"
#include "store/migrate.h"
#include "support_fixture.h"
#include "testdb.h"

#define T0 1717200000000000LL /* the core's clock in these tests */
#define MS 1000LL
#define MAX_SEQS 64

static const char CONFIG_TEXT[] = "security: {curve: false}\n"
                                  "delivery:\n"
                                  "  max_attempts: 3\n"
                                  "  retry_base_ms: 100\n"
                                  "  retry_max_ms: 1000\n"
                                  "  transient: [\"crm.presence.*\"]\n"
                                  "adapters:\n"
                                  "  - name: crm\n"
                                  "    publish: [\"crm.*\"]\n"
                                  "    subscribe: [\"crm.*\"]\n"
                                  "  - name: socialcare\n"
                                  "    subscribe: [\"crm.*\"]\n"
                                  "  - name: ops\n"
                                  "    operator: true\n"
                                  "    subscribe: [\"*\"]\n";

/* ---- the hub around the core ------------------------------------------------ */

typedef struct {
    void *sock; /* the adapter's DEALER */
    session_t *s;
} peer_t;

typedef struct {
    char dir[256];
    config_t *cfg;
    core_t *c;
    char endpoint[64];
    peer_t peers[4];
    size_t npeers;
} hub_t;

static hub_t *hub_open(size_t window_events)
{
    hub_t *h = calloc(1, sizeof *h);
    assert_non_null(h);
    h->cfg = fixture_config(h->dir, sizeof h->dir, "/tmp/joinery-deliver-XXXXXX", CONFIG_TEXT);
    core_t *c = core_new(h->cfg);
    assert_non_null(c);
    h->c = c;
    window_destroy(&c->window); /* one of the size the test wants */
    c->window = window_new(window_events);
    assert_non_null(c->window);
    c->db_up = false; /* no database unless a test starts the store */
    c->now_us = T0;
    c->next_seq = 1;
    c->ctx = zmq_ctx_new();
    c->router = zmq_socket(c->ctx, ZMQ_ROUTER);
    (void)snprintf(h->endpoint, sizeof h->endpoint, "inproc://test-deliver-%p", (void *)h);
    assert_int_equal(zmq_bind(c->router, h->endpoint), 0);
    return h;
}

/* An adapter connects and opens a session. It says something first, so the
 * ROUTER knows its routing id before the hub sends it anything. */
static peer_t *connect_as(hub_t *h, const char *adapter)
{
    assert_true(h->npeers < 4);
    peer_t *p = &h->peers[h->npeers];
    char rid[32];
    (void)snprintf(rid, sizeof rid, "%s-%zu", adapter, h->npeers++);
    p->sock = zmq_socket(h->c->ctx, ZMQ_DEALER);
    int timeout_ms = 5000, linger = 0;
    assert_int_equal(zmq_setsockopt(p->sock, ZMQ_LINGER, &linger, sizeof linger), 0);
    assert_int_equal(zmq_setsockopt(p->sock, ZMQ_ROUTING_ID, rid, strlen(rid)), 0);
    assert_int_equal(zmq_setsockopt(p->sock, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms), 0);
    assert_int_equal(zmq_connect(p->sock, h->endpoint), 0);
    assert_int_equal(zmq_send(p->sock, "HELLO", 5, 0), 5);
    uint8_t got[32];
    char cmd[8];
    assert_int_equal(zmq_recv(h->c->router, got, sizeof got, 0), (int)strlen(rid));
    assert_int_equal(zmq_recv(h->c->router, cmd, sizeof cmd, 0), 5);
    p->s = session_open(h->c, (const uint8_t *)rid, strlen(rid), config_adapter(h->cfg, adapter));
    assert_non_null(p->s);
    return p;
}

static void hub_close(hub_t *h)
{
    core_t *c = h->c;
    for (size_t i = 0; i < h->npeers; i++)
        zmq_close(h->peers[i].sock);
    for (size_t i = 0; i < CORE_MAX_SESSIONS; i++) {
        deliver_session_closed(c, &c->sessions[i]);
        session_close(c, &c->sessions[i], "test over");
    }
    deliver_destroy_all(c);
    core_destroy(&h->c); /* stops the store thread, if a test started one */
    config_destroy(&h->cfg);
    fixture_remove_dir(h->dir);
    free(h);
}

/* ---- journal entries ----------------------------------------------------------- */

typedef struct {
    uint64_t seq;
    const char *type;
    const char *entity; /* entity key: events with the same key keep their order */
    const char *target; /* NULL: everyone; an adapter name; or JENTRY_OPERATORS_NAME */
} ev_t;

/* A batch holding these events, as ingest makes them. */
static jbatch_t *batch_of(hub_t *h, const ev_t *ev, size_t n)
{
    jbatch_t *b = jbatch_new(JB_COMMIT);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++) {
        char id[32];
        (void)snprintf(id, sizeof id, "E%llu", (unsigned long long)ev[i].seq);
        Joinery__V1__Envelope env = JOINERY__V1__ENVELOPE__INIT;
        env.event_id = id;
        env.type = (char *)ev[i].type;
        env.source = "crm";
        env.occurred_at = T0;
        uint8_t buf[256];
        size_t len = joinery__v1__envelope__pack(&env, buf);
        assert_non_null(jbatch_add(b, ev[i].seq, ev[i].type, strlen(ev[i].type), "crm", 3, id,
                                   strlen(id), ev[i].entity, strlen(ev[i].entity), buf, len,
                                   h->c->now_us));
        if (ev[i].target) {
            const config_adapter_t *a = config_adapter(h->cfg, ev[i].target);
            int16_t index = a ? (int16_t)(a - h->cfg->adapters + 1) : JENTRY_TARGET_OPERATORS;
            assert_int_equal(jbatch_set_target(b, index, ev[i].target, strlen(ev[i].target)), 0);
        }
    }
    return b;
}

/* The store said committed: the core takes the batch as router.c's on_store does. */
static void committed(hub_t *h, jbatch_t *b)
{
    b->status = JB_COMMITTED;
    owed_list_t owed = {0}; /* no CONFIRM owed: the test published nothing */
    ingest_committed(h->c, b, &owed);
    deliver_cursors_committed(h->c, b);
    jbatch_release(&b);
    deliver_pump_all(h->c);
}

static void journal(hub_t *h, const ev_t *ev, size_t n)
{
    committed(h, batch_of(h, ev, n));
}

/* ---- what adapters send --------------------------------------------------------- */

static void subscribe(hub_t *h, peer_t *p, const char *name, const char *pattern, uint32_t credit,
                      bool from_beginning)
{
    Joinery__V1__Subscribe m = JOINERY__V1__SUBSCRIBE__INIT;
    char *patterns[] = {(char *)pattern};
    m.subscription = (char *)name;
    m.patterns = patterns;
    m.n_patterns = 1;
    m.credit = credit;
    m.from_beginning = from_beginning;
    uint8_t buf[256];
    size_t len = joinery__v1__subscribe__pack(&m, buf);
    deliver_subscribe(h->c, p->s, buf, len);
}

static void ack(hub_t *h, peer_t *p, const char *name, uint64_t seq)
{
    Joinery__V1__Ack m = JOINERY__V1__ACK__INIT;
    m.subscription = (char *)name;
    m.seqs = &seq;
    m.n_seqs = 1;
    uint8_t buf[256];
    size_t len = joinery__v1__ack__pack(&m, buf);
    deliver_ack(h->c, p->s, buf, len);
}

static void nack(hub_t *h, peer_t *p, const char *name, uint64_t seq, bool reject,
                 const char *reason)
{
    Joinery__V1__Nack m = JOINERY__V1__NACK__INIT;
    m.subscription = (char *)name;
    m.seq = seq;
    m.action =
        reject ? JOINERY__V1__NACK_ACTION__NACK_REJECT : JOINERY__V1__NACK_ACTION__NACK_RETRY;
    m.reason = (char *)reason;
    uint8_t buf[256];
    size_t len = joinery__v1__nack__pack(&m, buf);
    deliver_nack(h->c, p->s, buf, len);
}

/* ---- what adapters receive --------------------------------------------------------- */

/* Reads messages until a DELIVER; its seqs and attempts. SUBSCRIBED and
 * HEARTBEAT on the way are skipped. */
typedef struct {
    char subscription[72];
    size_t n;
    uint64_t seq[MAX_SEQS];
    uint32_t attempt[MAX_SEQS];
    bool transient[MAX_SEQS];
} deliver_t;

static bool read_message(peer_t *p, char *cmd, size_t cap, zmq_msg_t *body, int flags)
{
    int n = zmq_recv(p->sock, cmd, cap - 1, flags);
    if (n < 0)
        return false;
    cmd[(size_t)n < cap - 1 ? (size_t)n : cap - 1] = '\0';
    zmq_msg_init(body);
    assert_true(zmq_msg_recv(body, p->sock, 0) >= 0);
    return true;
}

static deliver_t receive_deliver(peer_t *p)
{
    deliver_t d = {0};
    char cmd[32];
    zmq_msg_t body;
    for (;;) {
        if (!read_message(p, cmd, sizeof cmd, &body, 0))
            fail_msg("no DELIVER arrived: %s", zmq_strerror(zmq_errno()));
        if (strcmp(cmd, "DELIVER") == 0)
            break;
        if (strcmp(cmd, "SUBSCRIBED") != 0 && strcmp(cmd, "HEARTBEAT") != 0)
            fail_msg("expected DELIVER, got %s", cmd);
        zmq_msg_close(&body);
    }
    Joinery__V1__Deliver *m =
        joinery__v1__deliver__unpack(NULL, zmq_msg_size(&body), zmq_msg_data(&body));
    zmq_msg_close(&body);
    assert_non_null(m);
    (void)snprintf(d.subscription, sizeof d.subscription, "%s", m->subscription);
    assert_true(m->n_deliveries <= MAX_SEQS);
    for (size_t i = 0; i < m->n_deliveries; i++) {
        d.seq[d.n] = m->deliveries[i]->seq;
        d.attempt[d.n] = m->deliveries[i]->attempt;
        d.transient[d.n] = m->deliveries[i]->transient;
        /* The envelope is the journaled one. */
        Joinery__V1__Envelope *e = joinery__v1__envelope__unpack(
            NULL, m->deliveries[i]->envelope.len, m->deliveries[i]->envelope.data);
        assert_non_null(e);
        if (!d.transient[d.n]) {
            char id[32];
            (void)snprintf(id, sizeof id, "E%llu", (unsigned long long)d.seq[d.n]);
            assert_string_equal(e->event_id, id);
        }
        joinery__v1__envelope__free_unpacked(e, NULL);
        d.n++;
    }
    joinery__v1__deliver__free_unpacked(m, NULL);
    return d;
}

/* Nothing more for this adapter: no DELIVER waiting (SUBSCRIBED and
 * HEARTBEAT do not count). Sends on inproc are visible at once to a
 * non-blocking receive in the same thread. */
static void assert_no_deliver(peer_t *p)
{
    char cmd[32];
    zmq_msg_t body;
    while (read_message(p, cmd, sizeof cmd, &body, ZMQ_DONTWAIT)) {
        zmq_msg_close(&body);
        if (strcmp(cmd, "DELIVER") == 0)
            fail_msg("a DELIVER arrived but none was expected");
    }
    assert_int_equal(zmq_errno(), EAGAIN);
}

static void assert_seqs(const deliver_t *d, const uint64_t *want, size_t n)
{
    if (d->n != n)
        fail_msg("DELIVER held %zu deliveries, expected %zu (first seq %llu)", d->n, n,
                 d->n ? (unsigned long long)d->seq[0] : 0ULL);
    for (size_t i = 0; i < n; i++)
        if (d->seq[i] != want[i])
            fail_msg("delivery %zu is seq %llu, expected %llu", i, (unsigned long long)d->seq[i],
                     (unsigned long long)want[i]);
}

static void expect_deliver(peer_t *p, const uint64_t *want, size_t n)
{
    deliver_t d = receive_deliver(p);
    assert_seqs(&d, want, n);
    assert_no_deliver(p);
}

static sub_t *sub_named(hub_t *h, const char *adapter, const char *name)
{
    sub_t *s = deliver_sub_find(h->c, adapter, name);
    assert_non_null(s);
    return s;
}

/* ---- in memory ------------------------------------------------------------------ */

static void test_patterns_and_credit(void **state)
{
    (void)state;
    hub_t *h = hub_open(1000);
    peer_t *sc = connect_as(h, "socialcare");
    const ev_t ev[] = {
        {1, "crm.contact.updated", "r:crm/c-1", NULL},
        {2, "crm.account.updated", "r:crm/a-1", NULL},
        {3, "crm.contact.updated", "r:crm/c-3", NULL},
        {4, "crm.contact.created", "r:crm/c-4", NULL},
        {5, "crm.contact.updated", "r:crm/c-5", NULL},
    };
    journal(h, ev, 5);
    subscribe(h, sc, "main", "crm.contact.*", 2, true);
    /* Two credits: the first two contact events, not the account event. */
    expect_deliver(sc, (const uint64_t[]){1, 3}, 2);
    sub_t *s = sub_named(h, "socialcare", "main");
    assert_int_equal(s->credit, 0);
    assert_int_equal(hmap_count(s->inflight), 2);

    /* Each ACK gives one credit back: one more delivery each. */
    ack(h, sc, "main", 1);
    expect_deliver(sc, (const uint64_t[]){4}, 1);
    ack(h, sc, "main", 3);
    expect_deliver(sc, (const uint64_t[]){5}, 1);
    ack(h, sc, "main", 3); /* an ACK for a settled seq changes nothing */
    assert_no_deliver(sc);
    assert_int_equal(s->credit, 0);

    /* CREDIT raises the limit. */
    ack(h, sc, "main", 4);
    ack(h, sc, "main", 5);
    const ev_t more[] = {{6, "crm.contact.updated", "r:crm/c-6", NULL},
                         {7, "crm.contact.updated", "r:crm/c-7", NULL},
                         {8, "crm.contact.updated", "r:crm/c-8", NULL}};
    journal(h, more, 3);
    expect_deliver(sc, (const uint64_t[]){6, 7}, 2);
    Joinery__V1__Credit cr = JOINERY__V1__CREDIT__INIT;
    cr.subscription = "main";
    cr.credit = 5;
    uint8_t buf[64];
    deliver_credit(h->c, sc->s, buf, joinery__v1__credit__pack(&cr, buf));
    expect_deliver(sc, (const uint64_t[]){8}, 1);
    assert_int_equal(s->credit, 4);
    hub_close(h);
}

static void test_one_event_per_entity_in_flight(void **state)
{
    (void)state;
    hub_t *h = hub_open(1000);
    peer_t *sc = connect_as(h, "socialcare");
    const ev_t ev[] = {
        {1, "crm.contact.updated", "r:crm/A", NULL}, {2, "crm.contact.updated", "r:crm/A", NULL},
        {3, "crm.contact.updated", "r:crm/B", NULL}, {4, "crm.contact.updated", "r:crm/A", NULL},
        {5, "crm.contact.updated", "r:crm/B", NULL},
    };
    journal(h, ev, 5);
    subscribe(h, sc, "main", "crm.*", 10, true);
    /* A's first and B's first; the rest wait behind their entity. */
    expect_deliver(sc, (const uint64_t[]){1, 3}, 2);

    ack(h, sc, "main", 1);
    expect_deliver(sc, (const uint64_t[]){2}, 1);
    /* A NACK holds B back, and nothing else. */
    nack(h, sc, "main", 3, false, "downstream busy");
    assert_no_deliver(sc);
    ack(h, sc, "main", 2);
    expect_deliver(sc, (const uint64_t[]){4}, 1);
    ack(h, sc, "main", 4);
    assert_no_deliver(sc);

    /* B's retry falls due; only after its ACK does B's next event go. */
    h->c->now_us += 100 * MS;
    deliver_pump_all(h->c);
    deliver_t d = receive_deliver(sc);
    assert_seqs(&d, (const uint64_t[]){3}, 1);
    assert_int_equal(d.attempt[0], 2);
    assert_no_deliver(sc);
    ack(h, sc, "main", 3);
    expect_deliver(sc, (const uint64_t[]){5}, 1);
    ack(h, sc, "main", 5);
    assert_int_equal(deliver_floor(sub_named(h, "socialcare", "main")), 5);
    hub_close(h);
}

static void test_nack_retries_with_doubling_delay_then_dead_letters(void **state)
{
    (void)state;
    hub_t *h = hub_open(1000);
    peer_t *sc = connect_as(h, "socialcare");
    const ev_t ev[] = {{1, "crm.contact.updated", "r:crm/A", NULL},
                       {2, "crm.contact.updated", "r:crm/A", NULL}};
    journal(h, ev, 2);
    subscribe(h, sc, "main", "crm.*", 10, true);
    deliver_t d = receive_deliver(sc);
    assert_seqs(&d, (const uint64_t[]){1}, 1);
    assert_int_equal(d.attempt[0], 1);

    /* retry_base_ms 100, doubling: due after 100 ms, then 200 ms. */
    const int64_t delays[] = {100 * MS, 200 * MS};
    for (size_t i = 0; i < 2; i++) {
        nack(h, sc, "main", 1, false, "downstream timeout");
        int64_t at = h->c->now_us;
        h->c->now_us = at + delays[i] - 1;
        deliver_pump_all(h->c);
        assert_no_deliver(sc);
        h->c->now_us = at + delays[i];
        deliver_pump_all(h->c);
        d = receive_deliver(sc);
        assert_seqs(&d, (const uint64_t[]){1}, 1);
        assert_int_equal(d.attempt[0], i + 2);
    }
    assert_int_equal(h->c->pending->ndead, 0);

    /* The third NACK is the last of max_attempts (3): dead-lettered, settled,
     * and the entity's next event goes. */
    nack(h, sc, "main", 1, false, "downstream timeout");
    assert_int_equal(h->c->pending->ndead, 1);
    const jdead_t *dl = &h->c->pending->dead[0];
    assert_int_equal(dl->seq, 1);
    assert_int_equal(dl->attempts, 3);
    assert_string_equal(dl->reason, "too many attempts; last: downstream timeout");
    assert_string_equal(dl->subscription, "main");
    assert_int_equal(h->c->dead_letters, 1);
    expect_deliver(sc, (const uint64_t[]){2}, 1);
    assert_int_equal(deliver_floor(sub_named(h, "socialcare", "main")), 1);
    hub_close(h);
}

static void test_nack_reject_dead_letters_at_once(void **state)
{
    (void)state;
    hub_t *h = hub_open(1000);
    peer_t *sc = connect_as(h, "socialcare");
    const ev_t ev[] = {{1, "crm.contact.updated", "r:crm/A", NULL},
                       {2, "crm.contact.updated", "r:crm/A", NULL}};
    journal(h, ev, 2);
    subscribe(h, sc, "main", "crm.*", 10, true);
    expect_deliver(sc, (const uint64_t[]){1}, 1);
    nack(h, sc, "main", 1, true, "bad postcode");
    assert_int_equal(h->c->pending->ndead, 1);
    assert_int_equal(h->c->pending->dead[0].attempts, 1);
    assert_string_equal(h->c->pending->dead[0].reason, "bad postcode");
    expect_deliver(sc, (const uint64_t[]){2}, 1);
    hub_close(h);
}

static void test_repeated_nack_is_ignored(void **state)
{
    (void)state;
    hub_t *h = hub_open(1000);
    peer_t *sc = connect_as(h, "socialcare");
    const ev_t ev[] = {{1, "crm.contact.updated", "r:crm/A", NULL},
                       {2, "crm.contact.updated", "r:crm/B", NULL},
                       {3, "crm.contact.updated", "r:crm/C", NULL}};
    journal(h, ev, 3);
    subscribe(h, sc, "main", "crm.*", 1, true);
    expect_deliver(sc, (const uint64_t[]){1}, 1);
    nack(h, sc, "main", 1, false, "busy"); /* its credit comes back: 2 goes */
    expect_deliver(sc, (const uint64_t[]){2}, 1);
    nack(h, sc, "main", 1, false, "busy"); /* already waiting: no second credit */
    assert_no_deliver(sc);
    assert_int_equal(sub_named(h, "socialcare", "main")->credit, 0);
    hub_close(h);
}

static void test_acked_floor_stops_at_the_oldest_unsettled(void **state)
{
    (void)state;
    hub_t *h = hub_open(1000);
    peer_t *sc = connect_as(h, "socialcare");
    const ev_t ev[] = {{1, "crm.contact.updated", "r:crm/A", NULL},
                       {2, "crm.contact.updated", "r:crm/B", NULL},
                       {3, "crm.contact.updated", "r:crm/A", NULL},
                       {4, "crm.contact.updated", "r:crm/C", NULL}};
    journal(h, ev, 4);
    subscribe(h, sc, "main", "crm.*", 10, true);
    expect_deliver(sc, (const uint64_t[]){1, 2, 4}, 3);
    sub_t *s = sub_named(h, "socialcare", "main");
    assert_int_equal(deliver_floor(s), 0);
    ack(h, sc, "main", 2);
    ack(h, sc, "main", 4);
    assert_int_equal(deliver_floor(s), 0); /* 1 is still in flight */
    ack(h, sc, "main", 1);
    expect_deliver(sc, (const uint64_t[]){3}, 1);
    assert_int_equal(deliver_floor(s), 2); /* 3 is in flight */
    assert_int_equal(deliver_min_floor(h->c), 2);
    ack(h, sc, "main", 3);
    assert_int_equal(deliver_floor(s), 4);

    /* The floor is what is persisted: queued with the next batch. */
    deliver_queue_cursors(h->c);
    const jbatch_t *p = h->c->pending;
    bool queued = false;
    for (size_t i = 0; i < p->ncursors; i++)
        queued |= strcmp(p->cursors[i].subscription, "main") == 0 && p->cursors[i].acked_seq == 4;
    assert_true(queued);
    hub_close(h);
}

static void test_addressed_and_operator_events(void **state)
{
    (void)state;
    hub_t *h = hub_open(1000);
    peer_t *crm = connect_as(h, "crm");
    peer_t *sc = connect_as(h, "socialcare");
    peer_t *ops = connect_as(h, "ops");
    const ev_t ev[] = {
        {1, "crm.contact.updated", "e:1", NULL},
        {2, "crm.contact.correction", "e:2", "socialcare"},
        {3, "crm.contact.correction", "e:3", "crm"},
        {4, "crm.contact.updated", "e:4", JENTRY_OPERATORS_NAME},
        {5, "crm.contact.updated", "e:5", NULL},
    };
    journal(h, ev, 5);
    subscribe(h, crm, "mine", "crm.*", 10, true);
    subscribe(h, sc, "main", "crm.*", 10, true);
    subscribe(h, ops, "all", "*", 10, true);
    expect_deliver(crm, (const uint64_t[]){1, 3, 5}, 3);
    expect_deliver(sc, (const uint64_t[]){1, 2, 5}, 3);
    expect_deliver(ops, (const uint64_t[]){1, 4, 5}, 3);
    hub_close(h);
}

static void test_where_a_new_subscription_starts(void **state)
{
    (void)state;
    hub_t *h = hub_open(1000);
    peer_t *sc = connect_as(h, "socialcare");
    const ev_t ev[] = {{1, "crm.contact.updated", "e:1", NULL},
                       {2, "crm.contact.updated", "e:2", NULL}};
    journal(h, ev, 2);
    subscribe(h, sc, "late", "crm.*", 10, false);
    char cmd[32];
    zmq_msg_t body;
    assert_true(read_message(sc, cmd, sizeof cmd, &body, 0));
    assert_string_equal(cmd, "SUBSCRIBED");
    Joinery__V1__Subscribed *ok =
        joinery__v1__subscribed__unpack(NULL, zmq_msg_size(&body), zmq_msg_data(&body));
    zmq_msg_close(&body);
    assert_non_null(ok);
    assert_int_equal(ok->head_seq, 2);
    assert_int_equal(ok->acked_seq, 2);
    joinery__v1__subscribed__free_unpacked(ok, NULL);
    assert_no_deliver(sc);
    /* It is recorded from there, and it sees what comes next. */
    assert_int_equal(h->c->pending->ncursors, 1);
    assert_int_equal(h->c->pending->cursors[0].acked_seq, 2);
    const ev_t next[] = {{3, "crm.contact.updated", "e:3", NULL}};
    journal(h, next, 1);
    expect_deliver(sc, (const uint64_t[]){3}, 1);

    subscribe(h, sc, "all", "crm.*", 10, true);
    expect_deliver(sc, (const uint64_t[]){1, 2, 3}, 3);
    hub_close(h);
}

static void test_transient_events_follow_patterns(void **state)
{
    (void)state;
    hub_t *h = hub_open(1000);
    peer_t *crm = connect_as(h, "crm");
    peer_t *sc = connect_as(h, "socialcare");
    peer_t *ops = connect_as(h, "ops");
    subscribe(h, sc, "contacts", "crm.contact.*", 10, false);
    subscribe(h, ops, "presence", "crm.presence.*", 10, false);
    /* crm publishes a transient event; the router routes it right after. */
    Joinery__V1__Envelope env = JOINERY__V1__ENVELOPE__INIT;
    env.event_id = "P1";
    env.type = "crm.presence.online";
    env.occurred_at = T0;
    Joinery__V1__Envelope *events[] = {&env};
    Joinery__V1__Publish pub = JOINERY__V1__PUBLISH__INIT;
    pub.events = events;
    pub.n_events = 1;
    uint8_t buf[128];
    size_t len = joinery__v1__publish__pack(&pub, buf);
    ingest_publish(h->c, crm->s, buf, len);
    assert_int_equal(h->c->ntransient, 1);
    deliver_transients(h->c);
    deliver_flush_transient(h->c);
    deliver_t d = receive_deliver(ops);
    assert_string_equal(d.subscription, "presence");
    assert_int_equal(d.n, 1);
    assert_true(d.transient[0]);
    assert_int_equal(d.seq[0], 0);
    assert_no_deliver(sc);
    assert_int_equal(h->c->pending->n, 0); /* never journaled */
    hub_close(h);
}

/* ---- catching up from the journal (a real store) -------------------------------- */

typedef struct {
    hub_t *h;
    size_t fetches; /* journal reads the store answered */
} pg_hub_t;

static pg_hub_t open_with_store(const char *dbname, size_t window_events)
{
    pg_hub_t p = {hub_open(window_events), 0};
    char err[512] = "";
    char *conninfo = testdb_fresh(dbname, err, sizeof err);
    if (!conninfo)
        fail_msg("testdb_fresh: %s", err);
    PGconn *db = testdb_connect(conninfo);
    assert_non_null(db);
    if (migrate_apply(db, migrate_default_dir(), err, sizeof err) < 0)
        fail_msg("migrate_apply: %s", err);
    PQfinish(db);
    p.h->c->store = store_new(p.h->c->ctx, conninfo, err, sizeof err);
    free(conninfo);
    if (!p.h->c->store)
        fail_msg("store_new: %s", err);
    p.h->c->db_up = true;
    return p;
}

/* One message from the store thread, handled as router.c's on_store does
 * (journal reads go to their subscription). Returns the batch of a commit, or
 * NULL for anything else. Waits at most ten seconds. */
static jbatch_t *store_event(pg_hub_t *p)
{
    core_t *c = p->h->c;
    zmq_pollitem_t it = {store_socket(c->store), 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, 10000) != 1)
        fail_msg("the store said nothing for ten seconds");
    store_event_t ev;
    jbatch_t *b = NULL;
    store_job_t *job = NULL;
    assert_int_equal(store_receive(c->store, &ev, &b, &job), 0);
    assert_int_not_equal(ev, STORE_JOB); /* no engine here to ask for one */
    if (ev == STORE_DB_DOWN || ev == STORE_DB_UP) {
        c->db_up = ev == STORE_DB_UP;
        return NULL;
    }
    if (b->kind == JB_FETCH) {
        p->fetches++;
        deliver_fetched(c, b);
        return NULL;
    }
    return b;
}

/* Journals the events through the store, as a group commit. */
static void journal_in_db(pg_hub_t *p, const ev_t *ev, size_t n)
{
    jbatch_t *b = batch_of(p->h, ev, n);
    assert_int_equal(store_submit(p->h->c->store, b), 0);
    jbatch_t *back;
    while ((back = store_event(p)) == NULL)
        ;
    assert_ptr_equal(back, b);
    if (back->status != JB_COMMITTED)
        fail_msg("commit failed: %s", back->error);
    committed(p->h, back);
}

/* Drives the core's store events until the adapter holds N deliveries, in
 * journal order; fails after 40 store events without them. */
static void expect_caught_up(pg_hub_t *p, peer_t *peer, const uint64_t *want, size_t n)
{
    size_t got = 0;
    for (int turns = 0; got < n; turns++) {
        char cmd[32];
        zmq_msg_t body;
        while (got < n && read_message(peer, cmd, sizeof cmd, &body, ZMQ_DONTWAIT)) {
            bool deliver = strcmp(cmd, "DELIVER") == 0;
            Joinery__V1__Deliver *m =
                deliver
                    ? joinery__v1__deliver__unpack(NULL, zmq_msg_size(&body), zmq_msg_data(&body))
                    : NULL;
            zmq_msg_close(&body);
            for (size_t i = 0; m && i < m->n_deliveries; i++, got++) {
                if (got >= n || m->deliveries[i]->seq != want[got])
                    fail_msg("delivery %zu is seq %llu, expected %llu", got,
                             (unsigned long long)m->deliveries[i]->seq,
                             got < n ? (unsigned long long)want[got] : 0ULL);
            }
            if (m)
                joinery__v1__deliver__free_unpacked(m, NULL);
        }
        if (got >= n)
            break;
        if (turns == 40)
            fail_msg("after 40 store events only %zu of %zu deliveries (%zu journal reads)", got, n,
                     p->fetches);
        jbatch_t *b = store_event(p);
        if (b)
            fail_msg("an unexpected commit came back");
    }
    assert_no_deliver(peer);
}

static void test_catches_up_from_behind_the_window(void **state)
{
    (void)state;
    pg_hub_t p = open_with_store("test_deliver_catchup", 4);
    for (uint64_t first = 1; first <= 12; first += 4) {
        ev_t ev[4];
        char keys[4][16];
        for (size_t i = 0; i < 4; i++) {
            (void)snprintf(keys[i], sizeof keys[i], "e:%llu", (unsigned long long)(first + i));
            ev[i] = (ev_t){first + i, "crm.contact.updated", keys[i], NULL};
        }
        journal_in_db(&p, ev, 4);
    }
    /* The window holds the newest four; the first eight are only in the journal. */
    assert_int_equal(window_first(p.h->c->window), 9);
    assert_int_equal(p.h->c->head_seq, 12);

    peer_t *sc = connect_as(p.h, "socialcare");
    subscribe(p.h, sc, "main", "crm.*", 100, true);
    const uint64_t all[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    expect_caught_up(&p, sc, all, 12);
    assert_true(p.fetches >= 1);
    hub_close(p.h);
}

static void test_catches_up_across_a_gap(void **state)
{
    (void)state;
    pg_hub_t p = open_with_store("test_deliver_gap", 3);
    /* Seqs 4 to 6 were never journaled (their commit failed). */
    const ev_t a[] = {{1, "crm.contact.updated", "e:1", NULL},
                      {2, "crm.contact.updated", "e:2", NULL},
                      {3, "crm.contact.updated", "e:3", NULL}};
    const ev_t b[] = {{7, "crm.contact.updated", "e:7", NULL},
                      {8, "crm.contact.updated", "e:8", NULL},
                      {9, "crm.contact.updated", "e:9", NULL}};
    const ev_t c[] = {{10, "crm.contact.updated", "e:10", NULL},
                      {11, "crm.contact.updated", "e:11", NULL},
                      {12, "crm.contact.updated", "e:12", NULL}};
    journal_in_db(&p, a, 3);
    journal_in_db(&p, b, 3);
    journal_in_db(&p, c, 3);
    assert_int_equal(window_first(p.h->c->window), 10);

    /* A subscription known from before, acked up to 3: its next seq is in the gap. */
    char *patterns[] = {"crm.*"};
    assert_non_null(deliver_sub_restore(p.h->c, "socialcare", "main", patterns, 1, 3));
    peer_t *sc = connect_as(p.h, "socialcare");
    subscribe(p.h, sc, "main", "crm.*", 100, false);
    const uint64_t rest[] = {7, 8, 9, 10, 11, 12};
    expect_caught_up(&p, sc, rest, 6);
    hub_close(p.h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patterns_and_credit),
        cmocka_unit_test(test_one_event_per_entity_in_flight),
        cmocka_unit_test(test_nack_retries_with_doubling_delay_then_dead_letters),
        cmocka_unit_test(test_nack_reject_dead_letters_at_once),
        cmocka_unit_test(test_repeated_nack_is_ignored),
        cmocka_unit_test(test_acked_floor_stops_at_the_oldest_unsettled),
        cmocka_unit_test(test_addressed_and_operator_events),
        cmocka_unit_test(test_where_a_new_subscription_starts),
        cmocka_unit_test(test_transient_events_follow_patterns),
        cmocka_unit_test(test_catches_up_from_behind_the_window),
        cmocka_unit_test(test_catches_up_across_a_gap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
