/* test_ingest.c - PUBLISH as the core handles it (hub/core.h: ingest_publish,
 * ingest_committed, ingest_failed), with the core's state built by hand and
 * the store played by the test: a batch is "dispatched" as core_dispatch does
 * and comes back committed or failed as the store thread would return it.
 *
 * The adapter is a real ZeroMQ DEALER on an inproc ROUTER, so what the hub
 * sends (CONFIRM, ERROR) is read back as the adapter would read it.
 *
 * Covered: every check of an envelope (ids, type, source, UTF-8 text, the
 * bounds on occurred_at, permissions, entity payloads) with its boundary;
 * the batch limit; in-memory de-duplication, also of an event still on its
 * way to the journal; CONFIRM only after COMMIT; a failed commit answered
 * RETRY and its events free to be sent again; RETRY while the database is
 * away; entity keys (what keeps an entity's events in order); and that a
 * committed batch advances the head and joins the window.
 *
 * JOINERY_NEEDS_PG: two cases run the whole core (router_run) in a thread
 * against a throwaway database, for what is decided where messages arrive
 * and batches come back: a PUBLISH body of exactly max_message_bytes is
 * taken, one byte more is refused; and a group commit the database refuses
 * is answered RETRY for each of its events, none of them journaled; while
 * the database is away the core says so (STATUS) and answers RETRY, and
 * takes events again once it is back. */
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
#include <joinery/v1/person.pb-c.h>
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
#define DAY_US (24LL * 3600 * 1000000)
#define MAX_BATCH 4

static const char CONFIG_TEXT[] = "hub:\n"
                                  "  max_batch: 4\n"
                                  "security: {curve: false}\n"
                                  "delivery:\n"
                                  "  transient: [\"crm.presence.*\"]\n"
                                  "adapters:\n"
                                  "  - name: crm\n"
                                  "    publish: [\"crm.*\", \"person.*\"]\n"
                                  "  - name: socialcare\n"
                                  "    publish: [\"case.*\"]\n";

/* ---- the hub around the core ------------------------------------------------ */

typedef struct {
    char dir[256];
    config_t *cfg;
    core_t *c;
    void *peer; /* the adapter's DEALER */
    session_t *s;
    jbatch_t *away; /* the batch "with the store" (see dispatch) */
    char endpoint[64];
} hub_t;

static hub_t *hub_open(void)
{
    hub_t *h = calloc(1, sizeof *h);
    assert_non_null(h);
    h->cfg = fixture_config(h->dir, sizeof h->dir, "/tmp/joinery-ingest-XXXXXX", CONFIG_TEXT);
    core_t *c = core_new(h->cfg);
    assert_non_null(c);
    h->c = c;
    c->now_us = T0;
    c->next_seq = 1;
    c->ctx = zmq_ctx_new();
    c->router = zmq_socket(c->ctx, ZMQ_ROUTER);
    (void)snprintf(h->endpoint, sizeof h->endpoint, "inproc://test-ingest-%p", (void *)h);
    assert_int_equal(zmq_bind(c->router, h->endpoint), 0);

    /* The adapter connects and says something, so the ROUTER knows its
     * routing id before the hub sends it anything. */
    h->peer = zmq_socket(c->ctx, ZMQ_DEALER);
    int timeout_ms = 2000, linger = 0;
    assert_int_equal(zmq_setsockopt(h->peer, ZMQ_ROUTING_ID, "crm-1", 5), 0);
    assert_int_equal(zmq_setsockopt(h->peer, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms), 0);
    assert_int_equal(zmq_setsockopt(h->peer, ZMQ_LINGER, &linger, sizeof linger), 0);
    assert_int_equal(zmq_connect(h->peer, h->endpoint), 0);
    assert_int_equal(zmq_send(h->peer, "HELLO", 5, 0), 5);
    uint8_t rid[16];
    assert_int_equal(zmq_recv(c->router, rid, sizeof rid, 0), 5);
    char cmd[8];
    assert_int_equal(zmq_recv(c->router, cmd, sizeof cmd, 0), 5);
    h->s = session_open(c, rid, 5, config_adapter(h->cfg, "crm"));
    assert_non_null(h->s);
    return h;
}

static void hub_close(hub_t *h)
{
    core_t *c = h->c;
    zmq_close(h->peer);
    for (size_t i = 0; i < CORE_MAX_SESSIONS; i++) {
        deliver_session_closed(c, &c->sessions[i]);
        session_close(c, &c->sessions[i], "test over");
    }
    deliver_destroy_all(c);
    jbatch_release(&h->away);
    core_destroy(&h->c);
    config_destroy(&h->cfg);
    fixture_remove_dir(h->dir);
    free(h);
}

/* The end of a loop turn: CONFIRMs gathered in it go out. */
static void turn_end(hub_t *h)
{
    for (size_t i = 0; i < CORE_MAX_SESSIONS; i++)
        if (h->c->sessions[i].active)
            core_flush_confirms(h->c, &h->c->sessions[i]);
}

/* core_dispatch without a store thread: the pending batch goes away (the test
 * holds it as the store would) and the core keeps its bookkeeping of it, as
 * core_dispatch leaves it (core.h, commit_t). */
static void dispatch(hub_t *h)
{
    core_t *c = h->c;
    assert_false(c->inflight.away);
    assert_false(core_pending_empty(c));
    h->away = c->pending;
    c->pending = jbatch_new(JB_COMMIT);
    assert_non_null(c->pending);
    c->inflight.away = true;
    owed_list_t owed = c->inflight.owed;
    c->inflight.owed = c->pending_owed;
    c->pending_owed = owed;
    c->pending_owed.n = 0;
}

/* The store hands the batch back, and the core takes it as router.c's on_store does. */
static void store_returns(hub_t *h, bool committed)
{
    core_t *c = h->c;
    jbatch_t *b = h->away;
    assert_non_null(b);
    h->away = NULL;
    c->inflight.away = false;
    if (committed) {
        b->status = JB_COMMITTED;
        ingest_committed(c, b, &c->inflight.owed);
        deliver_cursors_committed(c, b);
    } else {
        b->status = JB_FAILED;
        (void)snprintf(b->error, sizeof b->error, "COMMIT: the test said no");
        ingest_failed(c, b, &c->inflight.owed);
    }
    jbatch_release(&b);
    deliver_pump_all(c);
    turn_end(h);
}

static void commit(hub_t *h)
{
    dispatch(h);
    store_returns(h, true);
}

/* ---- envelopes and PUBLISH ----------------------------------------------------- */

static Joinery__V1__Envelope envelope(const char *event_id, const char *type, const char *record)
{
    Joinery__V1__Envelope e = JOINERY__V1__ENVELOPE__INIT;
    e.event_id = (char *)event_id;
    e.type = (char *)type;
    e.source_record_id = (char *)record;
    e.occurred_at = T0 - 1000000;
    e.payload_type = "application/json";
    e.payload.data = (uint8_t *)"{}";
    e.payload.len = 2;
    return e;
}

static void publish(hub_t *h, Joinery__V1__Envelope *const *envs, size_t n)
{
    Joinery__V1__Publish p = JOINERY__V1__PUBLISH__INIT;
    p.events = (Joinery__V1__Envelope **)envs;
    p.n_events = n;
    size_t len = joinery__v1__publish__get_packed_size(&p);
    uint8_t *body = malloc(len ? len : 1);
    assert_non_null(body);
    joinery__v1__publish__pack(&p, body);
    ingest_publish(h->c, h->s, body, len);
    if (h->c->ntransient) /* as the router does, while the message is still there */
        deliver_transients(h->c);
    free(body);
    turn_end(h);
}

static void publish_one(hub_t *h, Joinery__V1__Envelope e)
{
    Joinery__V1__Envelope *one[] = {&e};
    publish(h, one, 1);
}

/* ---- what the adapter receives ----------------------------------------------- */

/* The next message's command into CMD and its body, malloc'd, into *BODY. */
static size_t receive(hub_t *h, char *cmd, size_t cap, uint8_t **body)
{
    int n = zmq_recv(h->peer, cmd, cap - 1, 0);
    if (n < 0)
        fail_msg("the adapter received nothing: %s", zmq_strerror(zmq_errno()));
    cmd[(size_t)n < cap - 1 ? (size_t)n : cap - 1] = '\0';
    zmq_msg_t m;
    zmq_msg_init(&m);
    assert_true(zmq_msg_recv(&m, h->peer, 0) >= 0);
    size_t len = zmq_msg_size(&m);
    *body = malloc(len ? len : 1);
    assert_non_null(*body);
    memcpy(*body, zmq_msg_data(&m), len);
    zmq_msg_close(&m);
    return len;
}

static void assert_nothing_received(hub_t *h)
{
    char buf[64];
    int n = zmq_recv(h->peer, buf, sizeof buf, ZMQ_DONTWAIT);
    if (n >= 0)
        fail_msg("the adapter received '%.*s' but expected nothing yet", n < 64 ? n : 64, buf);
    assert_int_equal(zmq_errno(), EAGAIN);
}

static Joinery__V1__Confirm *receive_confirm(hub_t *h)
{
    char cmd[32];
    uint8_t *body;
    size_t len = receive(h, cmd, sizeof cmd, &body);
    assert_string_equal(cmd, "CONFIRM");
    Joinery__V1__Confirm *m = joinery__v1__confirm__unpack(NULL, len, body);
    free(body);
    assert_non_null(m);
    return m;
}

static Joinery__V1__Error *receive_error(hub_t *h)
{
    char cmd[32];
    uint8_t *body;
    size_t len = receive(h, cmd, sizeof cmd, &body);
    assert_string_equal(cmd, "ERROR");
    Joinery__V1__Error *m = joinery__v1__error__unpack(NULL, len, body);
    free(body);
    assert_non_null(m);
    return m;
}

/* The one entry of a CONFIRM holding exactly one. */
typedef struct {
    char event_id[160];
    int status;
    uint64_t seq;
    char reason[512];
} entry_t;

static entry_t confirm_only(hub_t *h)
{
    Joinery__V1__Confirm *m = receive_confirm(h);
    assert_int_equal(m->n_entries, 1);
    entry_t e = {.status = (int)m->entries[0]->status, .seq = m->entries[0]->seq};
    (void)snprintf(e.event_id, sizeof e.event_id, "%s", m->entries[0]->event_id);
    (void)snprintf(e.reason, sizeof e.reason, "%s", m->entries[0]->reason);
    joinery__v1__confirm__free_unpacked(m, NULL);
    return e;
}

static void assert_contains(const char *text, const char *part)
{
    if (strstr(text, part) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", text, part);
}

/* Published, committed: the one CONFIRM must say OK, or REJECTED with a reason
 * containing WHY. */
static void expect_accepted(hub_t *h, Joinery__V1__Envelope e)
{
    publish_one(h, e);
    commit(h);
    entry_t got = confirm_only(h);
    assert_string_equal(got.event_id, e.event_id);
    if (got.status != JOINERY__V1__CONFIRM_STATUS__CONFIRM_OK)
        fail_msg("%s: expected OK, got status %d: %s", e.event_id, got.status, got.reason);
    assert_true(got.seq > 0);
}

static void expect_refused(hub_t *h, Joinery__V1__Envelope e, const char *why)
{
    size_t rejects = h->c->pending->nrejects;
    publish_one(h, e);
    /* Refused, but not answered before the refusal's row is committed. */
    assert_nothing_received(h);
    assert_int_equal(h->c->pending->n, 0);
    assert_int_equal(h->c->pending->nrejects, rejects + 1);
    commit(h);
    entry_t got = confirm_only(h);
    /* An overlong event_id is answered with its first 128 characters (see
     * refuse() in ingest.c), so only those are compared. */
    assert_int_equal(strncmp(got.event_id, e.event_id, 128), 0);
    if (got.status != JOINERY__V1__CONFIRM_STATUS__CONFIRM_REJECTED)
        fail_msg("%s: expected REJECTED (%s), got status %d", e.event_id, why, got.status);
    assert_int_equal(got.seq, 0);
    assert_contains(got.reason, why);
}

/* ---- tests ----------------------------------------------------------------- */

static void test_confirmed_only_after_commit(void **state)
{
    (void)state;
    hub_t *h = hub_open();
    publish_one(h, envelope("E1", "crm.contact.updated", "c-1"));
    assert_nothing_received(h);
    assert_int_equal(h->c->pending->n, 1);

    jbatch_t *b = h->c->pending;
    jentry_t *e = &b->e[0];
    assert_int_equal(e->seq, 1);
    assert_int_equal(e->session, h->s->id);
    /* Journaled as received, with the hub's received_at and source added. */
    Joinery__V1__Envelope *j =
        joinery__v1__envelope__unpack(NULL, e->env_len, jentry_envelope(b, e));
    assert_non_null(j);
    assert_string_equal(j->event_id, "E1");
    assert_string_equal(j->source, "crm");
    assert_int_equal(j->received_at, T0);
    joinery__v1__envelope__free_unpacked(j, NULL);

    dispatch(h);
    assert_nothing_received(h);
    store_returns(h, true);
    entry_t got = confirm_only(h);
    assert_string_equal(got.event_id, "E1");
    assert_int_equal(got.status, JOINERY__V1__CONFIRM_STATUS__CONFIRM_OK);
    assert_int_equal(got.seq, 1);
    /* The head moved and the batch joined the window, for delivery. */
    assert_int_equal(h->c->head_seq, 1);
    assert_int_equal(window_first(h->c->window), 1);
    assert_int_equal(window_last(h->c->window), 1);
    jbatch_t *in;
    assert_non_null(window_find(h->c->window, 1, &in));
    hub_close(h);
}

static void test_committed_duplicate_answered_from_memory(void **state)
{
    (void)state;
    hub_t *h = hub_open();
    expect_accepted(h, envelope("E1", "crm.contact.updated", "c-1"));
    publish_one(h, envelope("E2", "crm.contact.updated", "c-1"));
    commit(h);
    (void)confirm_only(h);

    /* Sent again: answered at once with the original seq; nothing is journaled. */
    publish_one(h, envelope("E1", "crm.contact.updated", "c-1"));
    entry_t got = confirm_only(h);
    assert_string_equal(got.event_id, "E1");
    assert_int_equal(got.status, JOINERY__V1__CONFIRM_STATUS__CONFIRM_DUPLICATE);
    assert_int_equal(got.seq, 1);
    assert_true(jbatch_empty(h->c->pending));
    assert_int_equal(h->c->next_seq, 3);
    hub_close(h);
}

static void test_duplicate_of_an_event_on_its_way(void **state)
{
    (void)state;
    hub_t *h = hub_open();
    Joinery__V1__Envelope e = envelope("E1", "crm.contact.updated", "c-1");
    Joinery__V1__Envelope *twice[] = {&e, &e};
    publish(h, twice, 2); /* the same event twice in one PUBLISH */
    assert_int_equal(h->c->pending->n, 1);
    assert_nothing_received(h);

    dispatch(h);
    publish_one(h, e); /* and again while its commit is in flight */
    assert_true(jbatch_empty(h->c->pending));
    assert_nothing_received(h);

    store_returns(h, true);
    Joinery__V1__Confirm *m = receive_confirm(h);
    assert_int_equal(m->n_entries, 3);
    size_t ok = 0, dup = 0;
    for (size_t i = 0; i < m->n_entries; i++) {
        assert_string_equal(m->entries[i]->event_id, "E1");
        assert_int_equal(m->entries[i]->seq, 1);
        ok += m->entries[i]->status == JOINERY__V1__CONFIRM_STATUS__CONFIRM_OK;
        dup += m->entries[i]->status == JOINERY__V1__CONFIRM_STATUS__CONFIRM_DUPLICATE;
    }
    assert_int_equal(ok, 1);
    assert_int_equal(dup, 2);
    joinery__v1__confirm__free_unpacked(m, NULL);
    hub_close(h);
}

static void test_failed_commit_is_retried_not_remembered(void **state)
{
    (void)state;
    hub_t *h = hub_open();
    Joinery__V1__Envelope e = envelope("E1", "crm.contact.updated", "c-1");
    publish_one(h, e);
    dispatch(h);
    store_returns(h, false);
    entry_t got = confirm_only(h);
    assert_string_equal(got.event_id, "E1");
    assert_int_equal(got.status, JOINERY__V1__CONFIRM_STATUS__CONFIRM_RETRY);
    assert_int_equal(got.seq, 0);
    assert_contains(got.reason, "resend");
    assert_int_equal(h->c->head_seq, 0);
    assert_int_equal(window_events(h->c->window), 0);

    /* The re-send is a new event, not a duplicate of one never journaled. */
    publish_one(h, e);
    assert_int_equal(h->c->pending->n, 1);
    commit(h);
    got = confirm_only(h);
    assert_int_equal(got.status, JOINERY__V1__CONFIRM_STATUS__CONFIRM_OK);
    assert_int_equal(got.seq, 2); /* the failed batch's seq stays a gap */
    hub_close(h);
}

static void test_database_away_answers_retry(void **state)
{
    (void)state;
    hub_t *h = hub_open();
    h->c->db_up = false;
    publish_one(h, envelope("E1", "crm.contact.updated", "c-1"));
    entry_t got = confirm_only(h);
    assert_int_equal(got.status, JOINERY__V1__CONFIRM_STATUS__CONFIRM_RETRY);
    assert_contains(got.reason, "database is unavailable");
    assert_true(jbatch_empty(h->c->pending));

    h->c->db_up = true;
    expect_accepted(h, envelope("E1", "crm.contact.updated", "c-1"));
    hub_close(h);
}

static void test_event_id_rules(void **state)
{
    (void)state;
    hub_t *h = hub_open();
    char id128[129], id129[130];
    memset(id128, 'a', 128);
    id128[128] = '\0';
    memset(id129, 'b', 129);
    id129[129] = '\0';
    expect_accepted(h, envelope(id128, "crm.contact.updated", "c-1"));
    expect_refused(h, envelope(id129, "crm.contact.updated", "c-1"), "event_id must be");
    expect_refused(h, envelope("has space", "crm.contact.updated", "c-1"), "event_id must be");
    expect_refused(h, envelope("tab\there", "crm.contact.updated", "c-1"), "event_id must be");
    expect_refused(h, envelope("caf\xc3\xa9", "crm.contact.updated", "c-1"), "event_id must be");
    expect_accepted(h, envelope("!~", "crm.contact.updated", "c-1"));
    hub_close(h);
}

static void test_type_source_and_permission(void **state)
{
    (void)state;
    hub_t *h = hub_open();
    expect_refused(h, envelope("T1", "crm..updated", "c-1"), "type 'crm..updated' is invalid");
    expect_refused(h, envelope("T2", "crm.*", "c-1"), "is invalid");
    expect_refused(h, envelope("T3", "case.referral.created", "c-1"),
                   "adapter 'crm' may not publish 'case.referral.created'");

    Joinery__V1__Envelope other = envelope("T4", "crm.contact.updated", "c-1");
    other.source = "socialcare";
    expect_refused(h, other, "source 'socialcare' does not match");
    Joinery__V1__Envelope own = envelope("T5", "crm.contact.updated", "c-1");
    own.source = "crm";
    expect_accepted(h, own);
    hub_close(h);
}

static void test_text_must_be_clean_utf8(void **state)
{
    (void)state;
    hub_t *h = hub_open();
    static const struct {
        const char *text, *what;
    } bad[] = {
        {"c-\xc3\x28", "a lead byte without its continuation"},
        {"c-\xc3\xc3", "a lead byte followed by another lead byte"},
        {"c-\xe2\x82", "a three-byte character cut short"},
        {"c-\xc3", "a two-byte character cut short at the end"},
        {"c-\x80", "a lone continuation byte"},
        {"c-\xf8\x88\x80\x80\x80", "a five-byte form"},
        {"line\nbreak", "a newline"},
        {"tab\there", "a tab"},
        {"esc\x1b[0m", "an escape"},
    };
    char id[32];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        print_message("source_record_id with %s\n", bad[i].what);
        (void)snprintf(id, sizeof id, "U%zu", i);
        expect_refused(h, envelope(id, "crm.contact.updated", bad[i].text),
                       "source_record_id must be UTF-8 text");
        Joinery__V1__Envelope m = envelope(id, "crm.contact.updated", "c-1");
        m.master_id = (char *)bad[i].text;
        (void)snprintf(id, sizeof id, "M%zu", i);
        m.event_id = id;
        expect_refused(h, m, "master_id must be UTF-8 text");
    }
    /* Good text of every width passes. */
    expect_accepted(
        h, envelope("G1", "crm.contact.updated", "caf\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x99\x82"));
    hub_close(h);
}

static void test_record_id_length(void **state)
{
    (void)state;
    hub_t *h = hub_open();
    char r256[257], r257[258];
    memset(r256, 'r', 256);
    r256[256] = '\0';
    memset(r257, 'r', 257);
    r257[257] = '\0';
    expect_accepted(h, envelope("R1", "crm.contact.updated", r256));
    expect_refused(h, envelope("R2", "crm.contact.updated", r257), "at most 256 bytes");
    hub_close(h);
}

static void test_occurred_at_bounds(void **state)
{
    (void)state;
    hub_t *h = hub_open();
    Joinery__V1__Envelope e = envelope("O1", "crm.contact.updated", "c-1");
    e.occurred_at = 0;
    expect_refused(h, e, "occurred_at must be set");
    e.event_id = "O2";
    e.occurred_at = -5;
    expect_refused(h, e, "occurred_at must be set");
    /* A day ahead is clock drift; a microsecond more is an error. */
    e.event_id = "O3";
    e.occurred_at = T0 + DAY_US;
    expect_accepted(h, e);
    e.event_id = "O4";
    e.occurred_at = T0 + DAY_US + 1;
    expect_refused(h, e, "not be more than a day ahead");
    e.event_id = "O5";
    e.occurred_at = T0 + 365 * DAY_US;
    expect_refused(h, e, "not be more than a day ahead");
    e.event_id = "O6";
    e.occurred_at = 1;
    expect_accepted(h, e);
    hub_close(h);
}

static void test_entity_payload_must_decode(void **state)
{
    (void)state;
    hub_t *h = hub_open();
    Joinery__V1__Envelope e = envelope("P1", "person.updated", "p-1");
    expect_refused(h, e, "needs payload_type naming a Joinery message");

    Joinery__V1__Person person = JOINERY__V1__PERSON__INIT;
    person.nhs_number = "9434765919";
    uint8_t buf[64];
    size_t n = joinery__v1__person__pack(&person, buf);
    e.event_id = "P2";
    e.payload_type = "joinery.v1.Person";
    e.payload.data = (uint8_t *)"\xff\xff\xff";
    e.payload.len = 3;
    expect_refused(h, e, "payload does not decode as joinery.v1.Person");
    e.event_id = "P3";
    e.payload.data = buf;
    e.payload.len = n;
    expect_accepted(h, e); /* no master-data engine here: journaled as it came */
    hub_close(h);
}

static void test_batch_limit(void **state)
{
    (void)state;
    hub_t *h = hub_open();
    Joinery__V1__Envelope e[MAX_BATCH + 1];
    Joinery__V1__Envelope *p[MAX_BATCH + 1];
    char ids[MAX_BATCH + 1][8];
    for (size_t i = 0; i <= MAX_BATCH; i++) {
        (void)snprintf(ids[i], sizeof ids[i], "B%zu", i);
        e[i] = envelope(ids[i], "crm.contact.updated", "c-1");
        p[i] = &e[i];
    }
    publish(h, p, MAX_BATCH + 1);
    Joinery__V1__Error *err = receive_error(h);
    assert_int_equal(err->code, JOINERY__V1__ERROR_CODE__ERROR_BAD_FRAME);
    assert_string_equal(err->command, "PUBLISH");
    assert_contains(err->reason, "the limit is 4");
    joinery__v1__error__free_unpacked(err, NULL);
    /* Nothing in it was accepted; its bytes are kept. */
    assert_int_equal(h->c->pending->n, 0);
    assert_int_equal(h->c->pending->nrejects, 1);

    publish(h, p, MAX_BATCH);
    assert_int_equal(h->c->pending->n, MAX_BATCH);
    hub_close(h);
}

static void test_entity_keys_keep_a_record_together(void **state)
{
    (void)state;
    hub_t *h = hub_open();
    Joinery__V1__Envelope e[] = {
        envelope("K1", "crm.contact.updated", "c-1"), envelope("K2", "crm.contact.updated", "c-2"),
        envelope("K3", "crm.contact.deleted", "c-1"), envelope("K4", "crm.contact.updated", ""),
        envelope("K5", "crm.contact.updated", ""),
    };
    Joinery__V1__Envelope *p[] = {&e[0], &e[1], &e[2], &e[3]};
    publish(h, p, 4);
    publish_one(h, e[4]);
    const jbatch_t *b = h->c->pending;
    assert_int_equal(b->n, 5);
    assert_int_equal(b->e[0].entity, b->e[2].entity);
    assert_int_not_equal(b->e[0].entity, b->e[1].entity);
    assert_int_not_equal(b->e[3].entity, b->e[4].entity);
    assert_int_not_equal(b->e[3].entity, b->e[0].entity);
    const jentry_t *k = &b->e[0];
    assert_int_equal(k->entity_key_len, strlen("r:crm/c-1"));
    assert_memory_equal(jentry_entity_key(b, k), "r:crm/c-1", k->entity_key_len);
    hub_close(h);
}

static void test_transient_confirmed_at_once_not_journaled(void **state)
{
    (void)state;
    hub_t *h = hub_open();
    publish_one(h, envelope("X1", "crm.presence.online", "agent-7"));
    entry_t got = confirm_only(h);
    assert_int_equal(got.status, JOINERY__V1__CONFIRM_STATUS__CONFIRM_OK);
    assert_int_equal(got.seq, 0);
    assert_true(jbatch_empty(h->c->pending));
    hub_close(h);
}

/* ---- the running core ----------------------------------------------------------- */

/* The next message other than HEARTBEAT: command into CMD, body into BODY;
 * fails after ten seconds. */
static void client_reply(running_t *r, char *cmd, size_t cap, zmq_msg_t *body)
{
    for (;;) {
        if (!client_recv(r, cmd, cap, body, 10000))
            fail_msg("the core said nothing for ten seconds");
        if (strcmp(cmd, "HEARTBEAT") != 0)
            return;
        zmq_msg_close(body);
    }
}

static const char RUNNING_CONFIG[] = "hub:\n"
                                     "  listen: \"%s\"\n"
                                     "  max_message_bytes: 1024\n"
                                     "database: {conninfo: \"%s\"}\n"
                                     "security: {curve: false}\n"
                                     "adapters:\n"
                                     "  - name: crm\n"
                                     "    operator: true\n"
                                     "    publish: [\"crm.*\"]\n";

/* A PUBLISH body of LEN bytes holding one envelope (its payload padded to fit). */
static uint8_t *publish_body(const char *event_id, size_t len)
{
    static uint8_t pad[2048];
    Joinery__V1__Envelope env = JOINERY__V1__ENVELOPE__INIT;
    env.event_id = (char *)event_id;
    env.type = "crm.contact.updated";
    env.occurred_at = core_now_us();
    env.payload.data = pad;
    Joinery__V1__Envelope *events[] = {&env};
    Joinery__V1__Publish pub = JOINERY__V1__PUBLISH__INIT;
    pub.events = events;
    pub.n_events = 1;
    for (env.payload.len = 0; env.payload.len < sizeof pad; env.payload.len++) {
        if (joinery__v1__publish__get_packed_size(&pub) == len) {
            uint8_t *body = malloc(len);
            assert_non_null(body);
            joinery__v1__publish__pack(&pub, body);
            return body;
        }
    }
    fail_msg("no PUBLISH of %zu bytes", len);
    return NULL;
}

/* CONFIRM entries until one for each of the N ids has come; their statuses. */
static void confirms_for(running_t *r, const char *const *ids, int *status, size_t n)
{
    size_t got = 0;
    for (size_t i = 0; i < n; i++)
        status[i] = -1;
    while (got < n) {
        char cmd[32];
        zmq_msg_t body;
        client_reply(r, cmd, sizeof cmd, &body);
        assert_string_equal(cmd, "CONFIRM");
        Joinery__V1__Confirm *c =
            joinery__v1__confirm__unpack(NULL, zmq_msg_size(&body), zmq_msg_data(&body));
        zmq_msg_close(&body);
        assert_non_null(c);
        for (size_t e = 0; e < c->n_entries; e++)
            for (size_t i = 0; i < n; i++)
                if (strcmp(c->entries[e]->event_id, ids[i]) == 0 && status[i] < 0) {
                    status[i] = (int)c->entries[e]->status;
                    got++;
                }
        joinery__v1__confirm__free_unpacked(c, NULL);
    }
}

static void test_body_of_exactly_the_limit_is_taken(void **state)
{
    (void)state;
    running_t *r = start_core("test_ingest_limit", RUNNING_CONFIG, "crm");
    uint8_t *body = publish_body("L1", 1024);
    client_send(r, "PUBLISH", body, 1024);
    free(body);
    const char *ids[] = {"L1"};
    int status;
    confirms_for(r, ids, &status, 1);
    assert_int_equal(status, JOINERY__V1__CONFIRM_STATUS__CONFIRM_OK);

    body = publish_body("L2", 1025);
    client_send(r, "PUBLISH", body, 1025);
    free(body);
    char cmd[32];
    zmq_msg_t msg;
    client_reply(r, cmd, sizeof cmd, &msg);
    assert_string_equal(cmd, "ERROR");
    Joinery__V1__Error *e =
        joinery__v1__error__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
    zmq_msg_close(&msg);
    assert_non_null(e);
    assert_int_equal(e->code, JOINERY__V1__ERROR_CODE__ERROR_TOO_LARGE);
    joinery__v1__error__free_unpacked(e, NULL);
    stop_core(r);
}

static void test_refused_commit_answered_retry(void **state)
{
    (void)state;
    running_t *r = start_core("test_ingest_refused_commit", RUNNING_CONFIG, "crm");
    /* The database refuses any batch holding an event whose id starts "fail-". */
    PGresult *res = PQexec(
        r->db, "CREATE FUNCTION refuse_marked() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
               "IF NEW.event_id LIKE 'fail-%' THEN RAISE EXCEPTION 'refused by the test'; END IF; "
               "RETURN NEW; END $$; CREATE TRIGGER refuse_marked BEFORE INSERT ON journal FOR "
               "EACH ROW EXECUTE FUNCTION refuse_marked()");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);

    Joinery__V1__Envelope a = envelope("fail-1", "crm.contact.updated", "c-1");
    Joinery__V1__Envelope b = envelope("fine-1", "crm.contact.updated", "c-2");
    a.occurred_at = b.occurred_at = core_now_us();
    Joinery__V1__Envelope *events[] = {&a, &b};
    Joinery__V1__Publish pub = JOINERY__V1__PUBLISH__INIT;
    pub.events = events;
    pub.n_events = 2;
    uint8_t buf[512];
    size_t len = joinery__v1__publish__pack(&pub, buf);
    client_send(r, "PUBLISH", buf, len);
    /* One group commit, refused: both events are to be sent again. */
    const char *ids[] = {"fail-1", "fine-1"};
    int status[2];
    confirms_for(r, ids, status, 2);
    assert_int_equal(status[0], JOINERY__V1__CONFIRM_STATUS__CONFIRM_RETRY);
    assert_int_equal(status[1], JOINERY__V1__CONFIRM_STATUS__CONFIRM_RETRY);
    res = PQexec(r->db, "SELECT count(*) FROM journal");
    assert_string_equal(PQgetvalue(res, 0, 0), "0");
    PQclear(res);

    /* Sent again once the database takes them: journaled. */
    res = PQexec(r->db, "DROP TRIGGER refuse_marked ON journal");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    client_send(r, "PUBLISH", buf, len);
    confirms_for(r, ids, status, 2);
    assert_int_equal(status[0], JOINERY__V1__CONFIRM_STATUS__CONFIRM_OK);
    assert_int_equal(status[1], JOINERY__V1__CONFIRM_STATUS__CONFIRM_OK);
    res = PQexec(r->db, "SELECT count(*) FROM journal");
    assert_string_equal(PQgetvalue(res, 0, 0), "2");
    PQclear(res);
    stop_core(r);
}

static bool database_up(running_t *r)
{
    Joinery__V1__StatusRequest q = JOINERY__V1__STATUS_REQUEST__INIT;
    uint8_t buf[8];
    client_send(r, "STATUS", buf, joinery__v1__status_request__pack(&q, buf));
    char cmd[32];
    zmq_msg_t body;
    client_reply(r, cmd, sizeof cmd, &body);
    assert_string_equal(cmd, "STATUS-REPLY");
    Joinery__V1__StatusReply *m =
        joinery__v1__status_reply__unpack(NULL, zmq_msg_size(&body), zmq_msg_data(&body));
    zmq_msg_close(&body);
    assert_non_null(m);
    bool up = m->database_up;
    joinery__v1__status_reply__free_unpacked(m, NULL);
    return up;
}

static int publish_status(running_t *r, const char *event_id)
{
    Joinery__V1__Envelope e = envelope(event_id, "crm.contact.updated", "c-1");
    e.occurred_at = core_now_us();
    Joinery__V1__Envelope *events[] = {&e};
    Joinery__V1__Publish pub = JOINERY__V1__PUBLISH__INIT;
    pub.events = events;
    pub.n_events = 1;
    uint8_t buf[256];
    client_send(r, "PUBLISH", buf, joinery__v1__publish__pack(&pub, buf));
    const char *ids[] = {event_id};
    int status;
    confirms_for(r, ids, &status, 1);
    return status;
}

static void admin_exec(const char *conninfo, const char *sql)
{
    char info[512];
    (void)snprintf(info, sizeof info, "%s dbname=postgres", conninfo);
    PGconn *admin = testdb_connect(info);
    assert_non_null(admin);
    PGresult *res = PQexec(admin, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(admin));
    PQclear(res);
    PQfinish(admin);
}

static void test_database_away_and_back(void **state)
{
    (void)state;
    running_t *r = start_core("test_ingest_outage", RUNNING_CONFIG, "crm");
    assert_int_equal(publish_status(r, "A1"), JOINERY__V1__CONFIRM_STATUS__CONFIRM_OK);
    assert_true(database_up(r));

    /* The database goes away for the core: its connection ends and no new one
     * is let in. The next commit finds it gone. */
    admin_exec(r->conninfo, "ALTER DATABASE test_ingest_outage WITH ALLOW_CONNECTIONS false");
    char sql[256];
    (void)snprintf(sql, sizeof sql,
                   "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE "
                   "datname = 'test_ingest_outage' AND pid <> %d",
                   PQbackendPID(r->db));
    admin_exec(r->conninfo, sql);
    assert_int_equal(publish_status(r, "A2"), JOINERY__V1__CONFIRM_STATUS__CONFIRM_RETRY);
    /* From then on the core knows, says so, and answers RETRY itself. */
    assert_false(database_up(r));
    assert_int_equal(publish_status(r, "A3"), JOINERY__V1__CONFIRM_STATUS__CONFIRM_RETRY);

    /* Back: the store reconnects and the core takes events again. Asked once
     * per heartbeat of the hub's, for up to twenty seconds. */
    admin_exec(r->conninfo, "ALTER DATABASE test_ingest_outage WITH ALLOW_CONNECTIONS true");
    int64_t deadline = core_now_us() + 20 * 1000000LL;
    while (!database_up(r)) {
        if (core_now_us() > deadline)
            fail_msg("the core never heard that the database is back");
        zmq_pollitem_t it = {r->sock, 0, ZMQ_POLLIN, 0};
        (void)zmq_poll(&it, 1, 1000); /* the hub's next HEARTBEAT, if nothing else */
    }
    assert_int_equal(publish_status(r, "A2"), JOINERY__V1__CONFIRM_STATUS__CONFIRM_OK);
    PGresult *res = PQexec(r->db, "SELECT count(*) FROM journal");
    assert_string_equal(PQgetvalue(res, 0, 0), "2");
    PQclear(res);
    stop_core(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_confirmed_only_after_commit),
        cmocka_unit_test(test_committed_duplicate_answered_from_memory),
        cmocka_unit_test(test_duplicate_of_an_event_on_its_way),
        cmocka_unit_test(test_failed_commit_is_retried_not_remembered),
        cmocka_unit_test(test_database_away_answers_retry),
        cmocka_unit_test(test_event_id_rules),
        cmocka_unit_test(test_type_source_and_permission),
        cmocka_unit_test(test_text_must_be_clean_utf8),
        cmocka_unit_test(test_record_id_length),
        cmocka_unit_test(test_occurred_at_bounds),
        cmocka_unit_test(test_entity_payload_must_decode),
        cmocka_unit_test(test_batch_limit),
        cmocka_unit_test(test_entity_keys_keep_a_record_together),
        cmocka_unit_test(test_transient_confirmed_at_once_not_journaled),
        cmocka_unit_test(test_body_of_exactly_the_limit_is_taken),
        cmocka_unit_test(test_refused_commit_answered_retry),
        cmocka_unit_test(test_database_away_and_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
