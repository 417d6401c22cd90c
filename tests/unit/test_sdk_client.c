/* test_sdk_client.c - cmocka tests for the SDK client (adapters/sdk/sdk_client.c) against a
 * scripted fake hub: a ROUTER socket on loopback served by a thread in this process. They pin
 * the adapter side of docs/protocol.md without a database or the real joineryd: HELLO/WELCOME,
 * batching, CONFIRM matching by event_id, RETRY resends, session loss and recovery with
 * resend of unconfirmed events, per-record order through RETRY, timeouts and reconnects,
 * delivery de-duplication, ACK/NACK, refusals and STATUS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* ---- the fake hub ------------------------------------------------------------------------ */

#define FH_MAX_IDS 4096
#define FH_MAX_DELIVER 16

typedef struct {
    uint64_t seq;
    char event_id[32];
} fh_delivery_t;

/* How the hub treats one event_id: its first `swallow` sightings get no answer at all (as if
 * the CONFIRM was lost), then its first `retry` answers are RETRY. */
typedef struct {
    char event_id[40];
    int swallow;
    int retry;
} fh_rule_t;

typedef struct {
    pthread_t thread;
    pthread_mutex_t mu;
    void *ctx;
    void *router;
    char endpoint[64];
    int stop;

    /* policy, set by the test */
    int refuse_hello;
    int hold_confirms;  /* record PUBLISHes but do not answer them */
    int retry_times;    /* answer RETRY this often per event before OK */
    int expire_session; /* answer the next command with ERROR NO_SESSION */
    int silent;         /* send nothing at all (not even heartbeats) */
    int bad;            /* protocol violations seen; cmocka asserts only work in main */
    fh_delivery_t script[FH_MAX_DELIVER]; /* DELIVERed after SUBSCRIBED, each its own message */
    size_t nscript;
    fh_rule_t rules[8];
    size_t nrules;

    /* what happened */
    int hellos;
    int subscribes;
    int last_from_beginning;
    int goodbyes;
    int heartbeats_in;
    int publishes; /* PUBLISH messages */
    size_t max_batch_seen;
    char ids[FH_MAX_IDS][40]; /* event_ids received, in order, repeats included */
    int retries[FH_MAX_IDS];
    size_t nids;
    char journal[FH_MAX_IDS][40]; /* accepted event_ids; seq = index + 1 */
    size_t njournal;
    uint64_t acks[256];
    size_t nacks;
    uint64_t nack_seq;
    int nack_action;
    char nack_reason[128];
    int nacks_in;
    char held[FH_MAX_IDS][40]; /* event_ids awaiting an answer while hold_confirms */
    size_t nheld;

    uint8_t ident[256];
    size_t identlen;
    int64_t last_beat;
} fakehub_t;

static void fh_send(fakehub_t *h, const char *cmd, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    protobuf_c_message_pack(m, buf);
    zmq_send(h->router, h->ident, h->identlen, ZMQ_SNDMORE);
    zmq_send(h->router, cmd, strlen(cmd), ZMQ_SNDMORE);
    zmq_send(h->router, buf, n, 0);
    free(buf);
}

static void fh_error(fakehub_t *h, int code, const char *cmd, const char *reason)
{
    Joinery__V1__Error e = JOINERY__V1__ERROR__INIT;
    e.code = code;
    e.command = (char *)cmd;
    e.reason = (char *)reason;
    fh_send(h, "ERROR", (const ProtobufCMessage *)&e);
}

static uint64_t fh_journal_find(fakehub_t *h, const char *id)
{
    for (size_t i = 0; i < h->njournal; i++) {
        if (strcmp(h->journal[i], id) == 0) {
            return i + 1;
        }
    }
    return 0;
}

static fh_rule_t *fh_rule(fakehub_t *h, const char *id)
{
    for (size_t i = 0; i < h->nrules; i++) {
        if (strcmp(h->rules[i].event_id, id) == 0) {
            return &h->rules[i];
        }
    }
    return NULL;
}

/* Answers for the given ids, decided (and journaled) in message order like the real hub, but
 * sent split over two CONFIRM messages in reverse order: the SDK must match by event_id, not
 * position. */
static void fh_confirm(fakehub_t *h, char (*ids)[40], size_t n)
{
    Joinery__V1__ConfirmEntry *entries = calloc(n ? n : 1, sizeof *entries);
    Joinery__V1__ConfirmEntry **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    for (size_t i = 0; i < n; i++) {
        size_t k = n - 1 - i;
        Joinery__V1__ConfirmEntry init = JOINERY__V1__CONFIRM_ENTRY__INIT;
        entries[k] = init;
        entries[k].event_id = ids[i];
        size_t slot = 0;
        for (size_t j = 0; j < h->nids; j++) {
            if (strcmp(h->ids[j], ids[i]) == 0) {
                slot = j; /* first sighting carries the retry count */
                break;
            }
        }
        fh_rule_t *rule = fh_rule(h, ids[i]);
        uint64_t seq = fh_journal_find(h, ids[i]);
        if (seq != 0) {
            entries[k].status = JOINERY__V1__CONFIRM_STATUS__CONFIRM_DUPLICATE;
            entries[k].seq = seq;
        } else if ((rule != NULL && rule->retry > 0) || h->retries[slot] < h->retry_times) {
            if (rule != NULL && rule->retry > 0) {
                rule->retry--;
            } else {
                h->retries[slot]++;
            }
            entries[k].status = JOINERY__V1__CONFIRM_STATUS__CONFIRM_RETRY;
            entries[k].reason = (char *)"database away";
        } else if (strncmp(ids[i], "BAD", 3) == 0) {
            entries[k].status = JOINERY__V1__CONFIRM_STATUS__CONFIRM_REJECTED;
            entries[k].reason = (char *)"no such type";
        } else {
            memcpy(h->journal[h->njournal], ids[i], 40);
            entries[k].status = JOINERY__V1__CONFIRM_STATUS__CONFIRM_OK;
            entries[k].seq = ++h->njournal;
            entries[k].master_id = (char *)"M-1";
        }
        ptrs[k] = &entries[k];
    }
    size_t half = n / 2;
    Joinery__V1__Confirm c1 = JOINERY__V1__CONFIRM__INIT;
    c1.entries = ptrs;
    c1.n_entries = half;
    if (half > 0) {
        fh_send(h, "CONFIRM", (const ProtobufCMessage *)&c1);
    }
    Joinery__V1__Confirm c2 = JOINERY__V1__CONFIRM__INIT;
    c2.entries = ptrs + half;
    c2.n_entries = n - half;
    if (n > 0) {
        fh_send(h, "CONFIRM", (const ProtobufCMessage *)&c2);
    }
    free(entries);
    free(ptrs);
}

static void fh_deliver_script(fakehub_t *h, const char *sub)
{
    for (size_t i = 0; i < h->nscript; i++) {
        Joinery__V1__Envelope env = JOINERY__V1__ENVELOPE__INIT;
        env.event_id = h->script[i].event_id;
        env.type = (char *)"person.updated";
        env.source = (char *)"crm";
        env.source_record_id = (char *)"C-1";
        env.received_at = 42;
        uint8_t buf[512];
        size_t n = joinery__v1__envelope__pack(&env, buf);
        Joinery__V1__Delivery d = JOINERY__V1__DELIVERY__INIT;
        d.seq = h->script[i].seq;
        d.attempt = 1;
        d.envelope.data = buf;
        d.envelope.len = n;
        Joinery__V1__Delivery *dp = &d;
        Joinery__V1__Deliver m = JOINERY__V1__DELIVER__INIT;
        m.subscription = (char *)sub;
        m.deliveries = &dp;
        m.n_deliveries = 1;
        fh_send(h, "DELIVER", (const ProtobufCMessage *)&m);
    }
    h->nscript = 0;
}

static void fh_handle(fakehub_t *h, const char *cmd, const uint8_t *data, size_t len)
{
    if (strcmp(cmd, "HEARTBEAT") == 0) {
        h->heartbeats_in++;
    }
    if (h->silent) {
        return;
    }
    if (h->expire_session && strcmp(cmd, "HELLO") != 0) {
        h->expire_session = 0;
        fh_error(h, JOINERY__V1__ERROR_CODE__ERROR_NO_SESSION, cmd, "session expired");
        return;
    }
    if (strcmp(cmd, "HELLO") == 0) {
        Joinery__V1__Hello *m = joinery__v1__hello__unpack(NULL, len, data);
        h->hellos++;
        if (m == NULL || m->protocol_version != 1 || strcmp(m->adapter, "crm") != 0 ||
            h->refuse_hello) {
            fh_error(h, JOINERY__V1__ERROR_CODE__ERROR_NOT_AUTHORISED, "HELLO",
                     "adapter crm2 is not configured");
        } else {
            Joinery__V1__Welcome w = JOINERY__V1__WELCOME__INIT;
            w.protocol_version = 1;
            w.hub_version = (char *)"fake";
            w.heartbeat_ms = 100;
            w.heartbeat_misses = 3;
            w.max_message_bytes = 1 << 20;
            w.max_batch = 100;
            fh_send(h, "WELCOME", (const ProtobufCMessage *)&w);
        }
        joinery__v1__hello__free_unpacked(m, NULL);
    } else if (strcmp(cmd, "PUBLISH") == 0) {
        Joinery__V1__Publish *m = joinery__v1__publish__unpack(NULL, len, data);
        if (m == NULL) {
            h->bad++;
            return;
        }
        h->publishes++;
        if (m->n_events > h->max_batch_seen) {
            h->max_batch_seen = m->n_events;
        }
        char(*ids)[40] = calloc(m->n_events + 1, 40);
        size_t nanswer = 0;
        for (size_t i = 0; i < m->n_events; i++) {
            h->bad += strcmp(m->events[i]->source, "crm") != 0;
            snprintf(ids[nanswer], 40, "%s", m->events[i]->event_id);
            if (h->nids < FH_MAX_IDS) {
                memcpy(h->ids[h->nids++], ids[nanswer], 40);
            }
            if (h->hold_confirms && h->nheld < FH_MAX_IDS) {
                memcpy(h->held[h->nheld++], ids[nanswer], 40);
            }
            fh_rule_t *rule = fh_rule(h, ids[nanswer]);
            if (rule != NULL && rule->swallow > 0) {
                rule->swallow--; /* no answer: the client must resend it by itself */
                continue;
            }
            nanswer++;
        }
        if (!h->hold_confirms) {
            fh_confirm(h, ids, nanswer);
        }
        free(ids);
        joinery__v1__publish__free_unpacked(m, NULL);
    } else if (strcmp(cmd, "SUBSCRIBE") == 0) {
        Joinery__V1__Subscribe *m = joinery__v1__subscribe__unpack(NULL, len, data);
        h->subscribes++;
        h->last_from_beginning = m->from_beginning;
        if (strcmp(m->patterns[0], "forbidden.*") == 0) {
            fh_error(h, JOINERY__V1__ERROR_CODE__ERROR_NOT_AUTHORISED, "SUBSCRIBE",
                     "crm may not subscribe to forbidden.*");
        } else {
            Joinery__V1__Subscribed s = JOINERY__V1__SUBSCRIBED__INIT;
            s.subscription = m->subscription;
            fh_send(h, "SUBSCRIBED", (const ProtobufCMessage *)&s);
            fh_deliver_script(h, m->subscription);
        }
        joinery__v1__subscribe__free_unpacked(m, NULL);
    } else if (strcmp(cmd, "ACK") == 0) {
        Joinery__V1__Ack *m = joinery__v1__ack__unpack(NULL, len, data);
        for (size_t i = 0; i < m->n_seqs && h->nacks < 256; i++) {
            h->acks[h->nacks++] = m->seqs[i];
        }
        joinery__v1__ack__free_unpacked(m, NULL);
    } else if (strcmp(cmd, "NACK") == 0) {
        Joinery__V1__Nack *m = joinery__v1__nack__unpack(NULL, len, data);
        h->nacks_in++;
        h->nack_seq = m->seq;
        h->nack_action = m->action;
        snprintf(h->nack_reason, sizeof h->nack_reason, "%s", m->reason);
        joinery__v1__nack__free_unpacked(m, NULL);
    } else if (strcmp(cmd, "GOODBYE") == 0) {
        h->goodbyes++;
    } else if (strcmp(cmd, "STATUS") == 0) {
        Joinery__V1__AdapterStatus a = JOINERY__V1__ADAPTER_STATUS__INIT;
        a.name = (char *)"crm";
        a.connected = 1;
        a.published = 3;
        Joinery__V1__AdapterStatus *ap = &a;
        Joinery__V1__StatusReply r = JOINERY__V1__STATUS_REPLY__INIT;
        r.hub_version = (char *)"fake";
        r.database_up = 1;
        r.head_seq = 99;
        r.adapters = &ap;
        r.n_adapters = 1;
        fh_send(h, "STATUS-REPLY", (const ProtobufCMessage *)&r);
    }
}

static void *fh_main(void *arg)
{
    fakehub_t *h = arg;
    for (;;) {
        pthread_mutex_lock(&h->mu);
        int stop = h->stop;
        pthread_mutex_unlock(&h->mu);
        if (stop) {
            break;
        }
        zmq_pollitem_t it = {h->router, 0, ZMQ_POLLIN, 0};
        zmq_poll(&it, 1, 10);
        pthread_mutex_lock(&h->mu);
        while (zmq_poll(&it, 1, 0) > 0) {
            zmq_msg_t f[3];
            for (int i = 0; i < 3; i++) {
                zmq_msg_init(&f[i]);
                zmq_msg_recv(&f[i], h->router, 0);
                if (!zmq_msg_more(&f[i])) {
                    break;
                }
            }
            h->identlen = zmq_msg_size(&f[0]);
            memcpy(h->ident, zmq_msg_data(&f[0]), h->identlen);
            char cmd[17] = "";
            memcpy(cmd, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]) < 16 ? zmq_msg_size(&f[1]) : 16);
            fh_handle(h, cmd, zmq_msg_data(&f[2]), zmq_msg_size(&f[2]));
            for (int i = 0; i < 3; i++) {
                zmq_msg_close(&f[i]);
            }
        }
        int64_t now = sdk_now_ms();
        if (!h->silent && h->identlen > 0 && now - h->last_beat >= 100) {
            Joinery__V1__Heartbeat b = JOINERY__V1__HEARTBEAT__INIT;
            fh_send(h, "HEARTBEAT", (const ProtobufCMessage *)&b);
            h->last_beat = now;
        }
        if (!h->hold_confirms && h->nheld > 0) {
            h->nheld = 0; /* released: the client's resends get answered as they come */
        }
        pthread_mutex_unlock(&h->mu);
    }
    return NULL;
}

static int fh_setup(void **state)
{
    fakehub_t *h = calloc(1, sizeof *h);
    pthread_mutex_init(&h->mu, NULL);
    h->ctx = zmq_ctx_new();
    h->router = zmq_socket(h->ctx, ZMQ_ROUTER);
    int linger = 0;
    zmq_setsockopt(h->router, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_bind(h->router, "tcp://127.0.0.1:*"), 0);
    size_t len = sizeof h->endpoint;
    zmq_getsockopt(h->router, ZMQ_LAST_ENDPOINT, h->endpoint, &len);
    pthread_create(&h->thread, NULL, fh_main, h);
    *state = h;
    return 0;
}

static int fh_teardown(void **state)
{
    fakehub_t *h = *state;
    pthread_mutex_lock(&h->mu);
    h->stop = 1;
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->thread, NULL);
    zmq_close(h->router);
    zmq_ctx_term(h->ctx);
    pthread_mutex_destroy(&h->mu);
    int bad = h->bad;
    free(h);
    if (bad) {
        fprintf(stderr, "fake hub saw %d protocol violations\n", bad);
        return -1;
    }
    return 0;
}

#define LOCKED(h, ...)                                                                             \
    do {                                                                                           \
        pthread_mutex_lock(&(h)->mu);                                                              \
        __VA_ARGS__;                                                                               \
        pthread_mutex_unlock(&(h)->mu);                                                            \
    } while (0)

static joinery_client_t *connect_to(fakehub_t *h)
{
    joinery_options_t o = {.endpoint = h->endpoint, .adapter = "crm", .reconnect_min_ms = 20};
    char err[256] = "";
    joinery_client_t *c = joinery_connect(&o, err, sizeof err);
    if (c == NULL) {
        fail_msg("connect: %s", err);
    }
    return c;
}

/* Polls the client until cond holds (checked under the hub's lock) or ms pass. */
#define POLL_UNTIL(c, h, ms, cond)                                                                 \
    do {                                                                                           \
        int64_t until_ = sdk_now_ms() + (ms);                                                      \
        int ok_ = 0;                                                                               \
        while (!ok_ && sdk_now_ms() < until_) {                                                    \
            joinery_poll((c), 10);                                                                 \
            LOCKED((h), ok_ = (cond));                                                             \
        }                                                                                          \
        if (!ok_) {                                                                                \
            fail_msg("timed out waiting for " #cond);                                              \
        }                                                                                          \
    } while (0)

/* ---- tests ------------------------------------------------------------------------------- */

static void test_publish_confirm_and_duplicate(void **state)
{
    fakehub_t *h = *state;
    joinery_client_t *c = connect_to(h);
    assert_true(joinery_connected(c));
    joinery_event_t ev = {.type = "person.updated", .source_record_id = "C-1"};
    joinery_confirm_t cf;
    assert_int_equal(joinery_publish(c, &ev, &cf, 5000), 0);
    assert_int_equal(cf.status, JOINERY_OK);
    assert_int_equal(cf.seq, 1);
    assert_string_equal(cf.master_id, "M-1");
    assert_int_equal(strlen(cf.event_id), 26); /* a ULID made by the SDK */

    char id[64];
    snprintf(id, sizeof id, "%s", cf.event_id);
    ev.event_id = id; /* the same event again: the hub says DUPLICATE with the original seq */
    assert_int_equal(joinery_publish(c, &ev, &cf, 5000), 0);
    assert_int_equal(cf.status, JOINERY_DUPLICATE);
    assert_int_equal(cf.seq, 1);
    assert_string_equal(cf.event_id, id);

    ev.event_id = "BAD-1";
    assert_int_equal(joinery_publish(c, &ev, &cf, 5000), 0);
    assert_int_equal(cf.status, JOINERY_REJECTED);
    assert_string_equal(cf.reason, "no such type");
    assert_int_equal(joinery_unconfirmed(c), 0);
    joinery_close(&c);
    assert_null(c);
    int goodbyes = 0;
    for (int i = 0; i < 100 && goodbyes == 0; i++) {
        LOCKED(h, goodbyes = h->goodbyes);
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(goodbyes, 1);
}

static void test_retry_resends_same_id(void **state)
{
    fakehub_t *h = *state;
    LOCKED(h, h->retry_times = 2);
    joinery_client_t *c = connect_to(h);
    joinery_event_t ev = {.event_id = "R-1", .type = "person.updated"};
    joinery_confirm_t cf;
    int64_t t0 = sdk_now_ms();
    assert_int_equal(joinery_publish(c, &ev, &cf, 10000), 0);
    assert_int_equal(cf.status, JOINERY_OK);
    assert_true(sdk_now_ms() - t0 >= 150 * 2); /* backed off twice (with jitter) */
    size_t sent = 0;
    LOCKED(h, for (size_t i = 0; i < h->nids; i++) sent += strcmp(h->ids[i], "R-1") == 0);
    assert_int_equal(sent, 3);
    joinery_close(&c);
}

typedef struct {
    int ok, dup, rejected, unconfirmed;
    char last_id[64];
} tally_t;

static void tally_cb(void *ud, const joinery_confirm_t *cf)
{
    tally_t *t = ud;
    switch (cf->status) {
    case JOINERY_OK:
        t->ok++;
        break;
    case JOINERY_DUPLICATE:
        t->dup++;
        break;
    case JOINERY_REJECTED:
        t->rejected++;
        break;
    case JOINERY_UNCONFIRMED:
        t->unconfirmed++;
        break;
    }
    snprintf(t->last_id, sizeof t->last_id, "%s", cf->event_id);
}

static void test_async_batches(void **state)
{
    fakehub_t *h = *state;
    joinery_client_t *c = connect_to(h);
    tally_t t = {0};
    for (int i = 0; i < 1000; i++) {
        char rec[16];
        snprintf(rec, sizeof rec, "C-%d", i % 7);
        joinery_event_t ev = {.type = "person.updated", .source_record_id = rec};
        assert_int_equal(joinery_publish_async(c, &ev, tally_cb, &t, NULL), 0);
    }
    assert_int_equal(joinery_flush(c, 10000), 0);
    assert_int_equal(t.ok, 1000);
    int publishes;
    size_t biggest, nids;
    LOCKED(h, publishes = h->publishes; biggest = h->max_batch_seen; nids = h->nids);
    assert_int_equal(nids, 1000);
    assert_true(publishes >= 10);  /* max_batch 100 from WELCOME */
    assert_true(publishes <= 200); /* but batched, not one message per event */
    assert_int_equal(biggest, 100);
    /* ids are ULIDs in publish order */
    int ordered = 1;
    LOCKED(h, for (size_t i = 1; i < h->nids; i++) ordered &= strcmp(h->ids[i - 1], h->ids[i]) < 0);
    assert_true(ordered);
    joinery_close(&c);
}

static void test_session_loss_resends_unconfirmed(void **state)
{
    fakehub_t *h = *state;
    joinery_client_t *c = connect_to(h);
    static const char *patterns[] = {"person.*"};
    assert_int_equal(joinery_subscribe(c, "s1", patterns, 1, 10, NULL, NULL), -1); /* no handler */
    LOCKED(h, h->hold_confirms = 1);
    tally_t t = {0};
    const char *ids[] = {"U-1", "U-2", "U-3"};
    for (int i = 0; i < 3; i++) {
        joinery_event_t ev = {.event_id = ids[i], .type = "person.updated"};
        assert_int_equal(joinery_publish_async(c, &ev, tally_cb, &t, NULL), 0);
    }
    POLL_UNTIL(c, h, 3000, h->nheld == 3);
    /* the hub forgets the session and answers the next command (a heartbeat) NO_SESSION */
    LOCKED(h, h->hold_confirms = 0; h->expire_session = 1);
    assert_int_equal(joinery_flush(c, 5000), 0);
    assert_int_equal(t.ok, 3);
    size_t seen[3] = {0};
    int hellos;
    LOCKED(h, hellos = h->hellos; for (size_t i = 0; i < h->nids; i++) for (int k = 0; k < 3; k++)
                                      seen[k] += strcmp(h->ids[i], ids[k]) == 0);
    assert_int_equal(hellos, 2);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(seen[k], 2); /* once per session, same event_id */
    }
    joinery_close(&c);
}

typedef struct {
    char order[16][32];
    int calls;
    joinery_client_t *c;
    int publish_inside;
} handler_log_t;

static joinery_verdict_t handler(void *ud, const joinery_event_t *ev, uint64_t seq,
                                 unsigned attempt, char *reason, size_t reason_len)
{
    handler_log_t *log = ud;
    (void)seq;
    (void)attempt;
    assert_string_equal(ev->source, "crm");
    assert_string_equal(ev->type, "person.updated");
    assert_int_equal(ev->received_at_us, 42);
    snprintf(log->order[log->calls++ % 16], 32, "%s", ev->event_id);
    if (log->publish_inside && strcmp(ev->event_id, "D-1") == 0) {
        /* waits for the hub while more DELIVERs arrive: they must queue behind this one */
        joinery_event_t out = {.type = "person.linked", .causation_id = ev->event_id};
        joinery_confirm_t cf;
        assert_int_equal(joinery_publish(log->c, &out, &cf, 5000), 0);
        assert_int_equal(cf.status, JOINERY_OK);
    }
    if (strcmp(ev->event_id, "D-3") == 0) {
        snprintf(reason, reason_len, "cannot parse");
        return JOINERY_REJECT;
    }
    return JOINERY_ACK;
}

static void test_deliveries_dedup_ack_nack(void **state)
{
    fakehub_t *h = *state;
    LOCKED(h, h->nscript = 4; h->script[0] = (fh_delivery_t){1, "D-1"};
           h->script[1] = (fh_delivery_t){2, "D-2"}; h->script[2] = (fh_delivery_t){3, "D-3"};
           /* a redelivery of D-2, as after a lost ACK: ACKed, handler not called again */
           h->script[3] = (fh_delivery_t){2, "D-2"});
    joinery_client_t *c = connect_to(h);
    handler_log_t log = {.c = c, .publish_inside = 1};
    static const char *patterns[] = {"person.*"};
    assert_int_equal(joinery_subscribe(c, "s1", patterns, 1, 10, handler, &log), 0);
    POLL_UNTIL(c, h, 3000, h->nacks >= 3 && h->nacks_in == 1);
    assert_int_equal(log.calls, 3);
    assert_string_equal(log.order[0], "D-1");
    assert_string_equal(log.order[1], "D-2");
    assert_string_equal(log.order[2], "D-3");
    static fakehub_t snap; /* large: keep it off the stack */
    LOCKED(h, memcpy(&snap, h, sizeof snap); h->nacks = 0);
    assert_int_equal(snap.nacks, 3);
    assert_int_equal(snap.acks[0], 1);
    assert_int_equal(snap.acks[1], 2);
    assert_int_equal(snap.acks[2], 2);
    assert_int_equal(snap.nack_seq, 3);
    assert_int_equal(snap.nack_action, JOINERY__V1__NACK_ACTION__NACK_REJECT);
    assert_string_equal(snap.nack_reason, "cannot parse");

    /* After a session loss the hub redelivers; D-1 and D-2 were handled, D-3 was not ACKed. */
    LOCKED(h, h->nscript = 3; h->script[0] = (fh_delivery_t){1, "D-1"};
           h->script[1] = (fh_delivery_t){2, "D-2"}; h->script[2] = (fh_delivery_t){3, "D-3"};
           h->expire_session = 1);
    POLL_UNTIL(c, h, 3000, h->subscribes == 2 && h->nacks >= 2 && h->nacks_in == 2);
    assert_int_equal(log.calls, 4); /* only D-3 ran again */
    assert_string_equal(log.order[3], "D-3");
    joinery_close(&c);
}

static void test_subscribe_refused(void **state)
{
    fakehub_t *h = *state;
    joinery_client_t *c = connect_to(h);
    static const char *bad[] = {"forbidden.*"};
    handler_log_t log = {0};
    assert_int_equal(joinery_subscribe(c, "s2", bad, 1, 0, handler, &log), -1);
    assert_non_null(strstr(joinery_last_error(c), "may not subscribe"));
    static const char *good[] = {"person.*"};
    assert_int_equal(joinery_subscribe(c, "s2", good, 1, 0, handler, &log), 0); /* name free */
    assert_int_equal(joinery_subscribe(c, "s2", good, 1, 0, handler, &log), -1);
    assert_non_null(strstr(joinery_last_error(c), "already"));
    assert_int_equal(joinery_subscribe(c, "Bad Name", good, 1, 0, handler, &log), -1);
    joinery_subscription_t sub = {.name = "s3",
                                  .patterns = good,
                                  .npatterns = 1,
                                  .from_beginning = 1,
                                  .handler = handler,
                                  .ud = &log};
    assert_int_equal(joinery_subscribe_with(c, &sub), 0);
    int fb;
    LOCKED(h, fb = h->last_from_beginning);
    assert_int_equal(fb, 1);
    joinery_close(&c);
}

static void test_subscribe_before_session(void **state)
{
    fakehub_t *h = *state;
    joinery_options_t o = {.endpoint = h->endpoint, .adapter = "crm", .connect_timeout_ms = -1};
    char err[256];
    joinery_client_t *c = joinery_connect(&o, err, sizeof err);
    assert_non_null(c);
    static const char *good[] = {"person.*"};
    handler_log_t log = {0};
    /* no session yet: registered now, subscribed once WELCOME comes */
    assert_int_equal(joinery_subscribe(c, "early", good, 1, 5, handler, &log), 0);
    POLL_UNTIL(c, h, 3000, h->subscribes == 1 && joinery_connected(c));
    assert_true(joinery_timeout_ms(c) >= 0);
    assert_true(joinery_fd(c) >= 0);
    joinery_close(&c);
}

static void test_hello_refused(void **state)
{
    fakehub_t *h = *state;
    LOCKED(h, h->refuse_hello = 1);
    joinery_options_t o = {.endpoint = h->endpoint, .adapter = "crm", .connect_timeout_ms = 3000};
    char err[256] = "";
    int64_t t0 = sdk_now_ms();
    assert_null(joinery_connect(&o, err, sizeof err));
    assert_true(sdk_now_ms() - t0 < 2000); /* refused promptly, not by timeout */
    assert_non_null(strstr(err, "not configured"));

    o.adapter = "Bad Name";
    assert_null(joinery_connect(&o, err, sizeof err));
    assert_non_null(strstr(err, "adapter name"));
    o.adapter = "crm";
    o.keys_dir = "/nonexistent";
    assert_null(joinery_connect(&o, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/crm.key"));
}

static void test_no_hub_times_out(void **state)
{
    (void)state;
    joinery_options_t o = {
        .endpoint = "tcp://127.0.0.1:1", .adapter = "crm", .connect_timeout_ms = 300};
    char err[256] = "";
    assert_null(joinery_connect(&o, err, sizeof err));
    assert_non_null(strstr(err, "WELCOME"));
}

static void test_silence_reconnects(void **state)
{
    fakehub_t *h = *state;
    joinery_client_t *c = connect_to(h);
    LOCKED(h, h->silent = 1);
    /* 100 ms heartbeats x 3 misses: the client gives up on the session and starts again */
    POLL_UNTIL(c, h, 3000, !joinery_connected(c));
    LOCKED(h, h->silent = 0);
    /* the HELLO sent while the hub was silent went unanswered: the SDK waits 5 s for it */
    POLL_UNTIL(c, h, 9000, h->hellos >= 2 && joinery_connected(c));
    int beats;
    LOCKED(h, beats = h->heartbeats_in);
    assert_true(beats >= 2);
    joinery_close(&c);
}

static void test_status_json(void **state)
{
    fakehub_t *h = *state;
    joinery_client_t *c = connect_to(h);
    char *json = NULL;
    assert_int_equal(joinery_status(c, &json, 3000), 0);
    assert_non_null(strstr(json, "\"hub_version\":\"fake\""));
    assert_non_null(strstr(json, "\"head_seq\":99"));
    assert_non_null(strstr(json, "\"name\":\"crm\""));
    free(json);
    joinery_close(&c);
}

/* ---- per-record order ------------------------------------------------------------------ */

/* Helpers below run under the hub's lock. */

static void fh_add_rule(fakehub_t *h, const char *id, int swallow, int retry)
{
    fh_rule_t *r = &h->rules[h->nrules++];
    snprintf(r->event_id, sizeof r->event_id, "%s", id);
    r->swallow = swallow;
    r->retry = retry;
}

/* Where the n-th (1-based) copy of id arrived among everything the hub received; FH_MAX_IDS
 * if it never did. */
static size_t fh_sighting(fakehub_t *h, const char *id, int n)
{
    for (size_t i = 0; i < h->nids; i++) {
        if (strcmp(h->ids[i], id) == 0 && --n == 0) {
            return i;
        }
    }
    return FH_MAX_IDS;
}

/* The journaled event ids that start with prefix, in journal order, space-separated. */
static void fh_journal_of(fakehub_t *h, const char *prefix, char *out, size_t cap)
{
    out[0] = '\0';
    for (size_t i = 0; i < h->njournal; i++) {
        if (strncmp(h->journal[i], prefix, strlen(prefix)) == 0) {
            size_t n = strlen(out);
            snprintf(out + n, cap - n, "%s%s", n ? " " : "", h->journal[i]);
        }
    }
}

static void publish_for(joinery_client_t *c, const char *id, const char *record)
{
    joinery_event_t ev = {.event_id = id, .type = "person.updated", .source_record_id = record};
    assert_int_equal(joinery_publish_async(c, &ev, NULL, NULL, NULL), 0);
}

static void test_retry_holds_newer_events_of_record(void **state)
{
    fakehub_t *h = *state;
    LOCKED(h, fh_add_rule(h, "R1-1", 0, 1));
    joinery_client_t *c = connect_to(h);
    publish_for(c, "R1-1", "R1");
    /* answered RETRY: the client backs off before resending it */
    POLL_UNTIL(c, h, 3000, sdk_outbox_count_in(c->outbox, SDK_OUTBOX_WAITING) == 1);
    publish_for(c, "R1-2", "R1");
    publish_for(c, "S1-1", "S1");
    publish_for(c, "R1-3", "R1");
    publish_for(c, "S1-2", "S1");
    publish_for(c, "N-1", NULL); /* no record: never held */
    /* other records' events go at once, while R1-1 waits */
    POLL_UNTIL(c, h, 3000, fh_journal_find(h, "S1-2") != 0 && fh_journal_find(h, "N-1") != 0);
    assert_int_equal(joinery_flush(c, 5000), 0);
    char order[256];
    size_t retried, next, s_at, r_at;
    LOCKED(h, fh_journal_of(h, "R1-", order, sizeof order); retried = fh_sighting(h, "R1-1", 2);
           next = fh_sighting(h, "R1-2", 1); s_at = fh_journal_find(h, "S1-2");
           r_at = fh_journal_find(h, "R1-1"));
    assert_string_equal(order, "R1-1 R1-2 R1-3");
    assert_true(next > retried); /* R1-2 not even sent before R1-1 went again */
    assert_true(s_at < r_at);    /* S1 was not held behind R1 */
    joinery_close(&c);
}

static void test_resends_in_publish_order(void **state)
{
    fakehub_t *h = *state;
    /* Both in flight when the RETRYs come; the older needs more tries than the newer. */
    LOCKED(h, fh_add_rule(h, "R2-1", 0, 2); fh_add_rule(h, "R2-2", 0, 1));
    joinery_client_t *c = connect_to(h);
    publish_for(c, "R2-1", "R2");
    publish_for(c, "R2-2", "R2");
    assert_int_equal(joinery_flush(c, 5000), 0);
    char order[256];
    size_t older_ok, newer_again;
    LOCKED(h, fh_journal_of(h, "R2-", order, sizeof order); older_ok = fh_sighting(h, "R2-1", 3);
           newer_again = fh_sighting(h, "R2-2", 2));
    assert_string_equal(order, "R2-1 R2-2");
    assert_true(newer_again > older_ok);
    joinery_close(&c);
}

static void test_timeout_holds_newer_events_of_record(void **state)
{
    fakehub_t *h = *state;
    /* R3-1's CONFIRM is lost twice: the client resends it after its confirmation timeout */
    LOCKED(h, fh_add_rule(h, "R3-1", 2, 0));
    joinery_client_t *c = connect_to(h);
    c->confirm_timeout_ms = 300;
    publish_for(c, "R3-1", "R3");
    POLL_UNTIL(c, h, 3000, fh_sighting(h, "R3-1", 2) != FH_MAX_IDS);
    publish_for(c, "R3-2", "R3");
    publish_for(c, "S3-1", "S3");
    POLL_UNTIL(c, h, 3000, fh_journal_find(h, "S3-1") != 0);
    assert_int_equal(joinery_flush(c, 5000), 0);
    char order[256];
    size_t answered, next;
    LOCKED(h, fh_journal_of(h, "R3-", order, sizeof order); answered = fh_sighting(h, "R3-1", 3);
           next = fh_sighting(h, "R3-2", 1));
    assert_string_equal(order, "R3-1 R3-2");
    assert_true(next > answered);
    joinery_close(&c);
}

static void test_reconnect_holds_newer_events_of_record(void **state)
{
    fakehub_t *h = *state;
    joinery_client_t *c = connect_to(h);
    LOCKED(h, h->hold_confirms = 1);
    publish_for(c, "R4-1", "R4");
    publish_for(c, "R4-2", "R4");
    publish_for(c, "S4-1", "S4");
    POLL_UNTIL(c, h, 3000, h->nheld == 3);
    /* The session is lost with all three unanswered; in the next one R4-1 is answered RETRY. */
    LOCKED(h, h->hold_confirms = 0; h->expire_session = 1; fh_add_rule(h, "R4-1", 0, 1));
    assert_int_equal(joinery_flush(c, 5000), 0);
    char order[256];
    int hellos;
    size_t older_ok, newer_again;
    LOCKED(h, fh_journal_of(h, "R4-", order, sizeof order); hellos = h->hellos;
           older_ok = fh_sighting(h, "R4-1", 3); newer_again = fh_sighting(h, "R4-2", 2));
    assert_int_equal(hellos, 2);
    assert_string_equal(order, "R4-1 R4-2");
    assert_true(newer_again > older_ok);
    joinery_close(&c);
}

static void test_close_reports_unconfirmed(void **state)
{
    fakehub_t *h = *state;
    LOCKED(h, h->hold_confirms = 1);
    joinery_client_t *c = connect_to(h);
    tally_t t = {0};
    joinery_event_t ev = {.type = "person.updated"};
    char id[JOINERY_EVENT_ID_MAX + 1];
    assert_int_equal(joinery_publish_async(c, &ev, tally_cb, &t, id), 0);
    assert_int_equal(joinery_publish_async(c, &ev, tally_cb, &t, NULL), 0);
    assert_int_equal(joinery_flush(c, 200), -1);
    assert_int_equal(joinery_unconfirmed(c), 2);
    joinery_confirm_t cf;
    assert_int_equal(joinery_publish(c, &ev, &cf, 100), -1); /* times out, withdrawn */
    assert_int_equal(cf.status, JOINERY_UNCONFIRMED);
    assert_int_equal(strlen(cf.event_id), 26);
    assert_int_equal(joinery_unconfirmed(c), 2);
    joinery_close(&c);
    assert_int_equal(t.unconfirmed, 2);
    assert_int_equal(strlen(id), 26);
}

static void test_event_id_new(void **state)
{
    (void)state;
    char a[27], b[27];
    joinery_event_id_new(a);
    joinery_event_id_new(b);
    assert_int_equal(strlen(a), 26);
    assert_true(strcmp(a, b) < 0);
}

static void test_keys(void **state)
{
    (void)state;
    char dir[] = "/tmp/joinery-keys-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char err[256];
    assert_int_equal(joinery_keygen(dir, "crm", err, sizeof err), 0);
    assert_int_equal(joinery_keygen(dir, "crm", err, sizeof err), -1); /* never overwrites */
    assert_non_null(strstr(err, "already exists"));
    assert_int_equal(joinery_keygen(dir, "../evil", err, sizeof err), -1);
    char path[256], sec[41], pub[41], derived[41];
    snprintf(path, sizeof path, "%s/crm.key", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(joinery_key_read(path, sec, err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/crm.pub", dir);
    assert_int_equal(joinery_key_read(path, pub, err, sizeof err), 0);
    assert_int_equal(joinery_key_public(sec, derived, err, sizeof err), 0);
    assert_string_equal(pub, derived);
    assert_int_equal(joinery_key_public("short", derived, err, sizeof err), -1);
    FILE *f = fopen(path, "w");
    fputs("not a key\n", f);
    fclose(f);
    assert_int_equal(joinery_key_read(path, pub, err, sizeof err), -1);
    assert_non_null(strstr(err, "Z85"));
    unlink(path);
    snprintf(path, sizeof path, "%s/crm.key", dir);
    unlink(path);
    rmdir(dir);
}

static void test_curve_end_to_end(void **state)
{
    (void)state;
    /* A Curve ROUTER with ZAP is the hub's job; here only that the keys reach the socket and a
     * Curve session forms: a ROUTER that knows the server secret and accepts any client. */
    char hub_pub[41], hub_sec[41], cli_pub[41], cli_sec[41];
    zmq_curve_keypair(hub_pub, hub_sec);
    zmq_curve_keypair(cli_pub, cli_sec);
    void *ctx = zmq_ctx_new();
    void *r = zmq_socket(ctx, ZMQ_ROUTER);
    int one = 1, linger = 0;
    zmq_setsockopt(r, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(r, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(r, ZMQ_CURVE_SECRETKEY, hub_sec, 41);
    assert_int_equal(zmq_bind(r, "tcp://127.0.0.1:*"), 0);
    char ep[64];
    size_t len = sizeof ep;
    zmq_getsockopt(r, ZMQ_LAST_ENDPOINT, ep, &len);
    joinery_options_t o = {.endpoint = ep,
                           .adapter = "crm",
                           .hub_public_key = hub_pub,
                           .secret_key = cli_sec,
                           .connect_timeout_ms = -1};
    char err[256];
    joinery_client_t *c = joinery_connect(&o, err, sizeof err);
    assert_non_null(c);
    zmq_pollitem_t it = {r, 0, ZMQ_POLLIN, 0};
    int got = 0;
    for (int i = 0; i < 200 && !got; i++) {
        joinery_poll(c, 5);
        got = zmq_poll(&it, 1, 5) > 0;
    }
    assert_true(got);
    zmq_msg_t id, cmd;
    zmq_msg_init(&id);
    zmq_msg_init(&cmd);
    zmq_msg_recv(&id, r, 0);
    zmq_msg_recv(&cmd, r, 0);
    assert_int_equal(zmq_msg_size(&cmd), 5);
    assert_memory_equal(zmq_msg_data(&cmd), "HELLO", 5);
    zmq_msg_close(&id);
    zmq_msg_close(&cmd);
    joinery_close(&c);
    zmq_close(r);
    zmq_ctx_term(ctx);

    o.public_key = hub_pub; /* not the secret key's partner */
    assert_null(joinery_connect(&o, err, sizeof err));
    assert_non_null(strstr(err, "does not belong"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_publish_confirm_and_duplicate, fh_setup, fh_teardown),
        cmocka_unit_test_setup_teardown(test_retry_resends_same_id, fh_setup, fh_teardown),
        cmocka_unit_test_setup_teardown(test_async_batches, fh_setup, fh_teardown),
        cmocka_unit_test_setup_teardown(test_session_loss_resends_unconfirmed, fh_setup,
                                        fh_teardown),
        cmocka_unit_test_setup_teardown(test_deliveries_dedup_ack_nack, fh_setup, fh_teardown),
        cmocka_unit_test_setup_teardown(test_subscribe_refused, fh_setup, fh_teardown),
        cmocka_unit_test_setup_teardown(test_subscribe_before_session, fh_setup, fh_teardown),
        cmocka_unit_test_setup_teardown(test_hello_refused, fh_setup, fh_teardown),
        cmocka_unit_test(test_no_hub_times_out),
        cmocka_unit_test_setup_teardown(test_silence_reconnects, fh_setup, fh_teardown),
        cmocka_unit_test_setup_teardown(test_status_json, fh_setup, fh_teardown),
        cmocka_unit_test_setup_teardown(test_retry_holds_newer_events_of_record, fh_setup,
                                        fh_teardown),
        cmocka_unit_test_setup_teardown(test_resends_in_publish_order, fh_setup, fh_teardown),
        cmocka_unit_test_setup_teardown(test_timeout_holds_newer_events_of_record, fh_setup,
                                        fh_teardown),
        cmocka_unit_test_setup_teardown(test_reconnect_holds_newer_events_of_record, fh_setup,
                                        fh_teardown),
        cmocka_unit_test_setup_teardown(test_close_reports_unconfirmed, fh_setup, fh_teardown),
        cmocka_unit_test(test_event_id_new),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_curve_end_to_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
