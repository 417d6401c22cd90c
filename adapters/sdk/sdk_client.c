/* sdk_client.c - the adapter side of the Joinery wire protocol (docs/protocol.md): session
 * set-up and recovery, batched publishing with confirmation tracking, subscriptions with
 * acknowledgement batching and redelivery de-duplication, heartbeats. One DEALER socket per
 * session; everything runs on the caller's thread inside the public calls. */
#include "../../include/joinery/joinery.h" /* by path: see sdk_codec.h */

#include "sdk_arena.h"
#include "sdk_backoff.h"
#include "sdk_codec.h"
#include "sdk_dedup.h"
#include "sdk_outbox.h"
#include "sdk_status.h"
#include "sdk_ulid.h"
#include "sdk_util.h"

#include <joinery/v1/protocol.pb-c.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#ifndef JOINERY_SDK_VERSION
#define JOINERY_SDK_VERSION "0.0.0"
#endif

#define DEDUP_CAPACITY 65536
#define ACK_BATCH 64
/* Resend an event the hub has neither confirmed nor refused after this long: a CONFIRM can be
 * lost when the hub's send queue to us overflows. The resend is answered DUPLICATE if the
 * first copy made it. */
#define CONFIRM_TIMEOUT_MS 30000
/* Backoff for events answered RETRY. */
#define RETRY_MIN_MS 200
#define RETRY_MAX_MS 30000
/* How long joinery_subscribe waits for SUBSCRIBED when a session is open. */
#define SUBSCRIBE_WAIT_MS 10000
/* Messages read per wait, so timers and sends are not starved by a busy hub. */
#define MAX_RECV_PER_WAKE 1024
/* Limits assumed before the first WELCOME tells the real ones. */
#define DEFAULT_MAX_MESSAGE 1048576u
#define DEFAULT_MAX_BATCH 1000u
/* Headroom under max_message_bytes for the PUBLISH framing of a batch (and its request_id). */
#define PUBLISH_SLACK 64u
/* Every request names itself with field 15 (protocol.proto), so the hub's ERROR can name it. */
#define REQUEST_ID_TAG 0x78u /* field 15, varint */
/* An event's outbox `request` while it waits to be sent in a PUBLISH of its own: it was in a
 * refused PUBLISH with others, and only alone can the hub's answer be pinned on it. */
#define REQUEST_ALONE UINT64_MAX

typedef enum { ST_IDLE, ST_HELLO, ST_READY } state_t;

/* A delivery its handler answered JOINERY_DEFER, awaiting joinery_settle. The event's key is
 * copied so that an ACK can still be remembered for de-duplication after the handler returned;
 * fixed-size, so holding one costs no allocation (the array grows once, to the credit). */
typedef struct {
    uint64_t seq;
    int remember; /* the key fitted: remember it on ACK */
    char source[65];
    char event_id[JOINERY_EVENT_ID_MAX + 1];
} deferred_t;

typedef struct {
    char *name;
    char **patterns;
    size_t npatterns;
    unsigned credit;
    int from_beginning;
    joinery_handler_fn handler;
    void *ud;
    uint64_t *acks; /* seqs handled but not yet acknowledged to the hub */
    size_t nacks;
    deferred_t *deferred; /* of the current session only: a lost session takes them along */
    size_t ndeferred, capdeferred;
    uint64_t request; /* request_id of the last SUBSCRIBE sent for it */
    int subscribed;   /* SUBSCRIBED received in the current session */
    int awaiting;     /* joinery_subscribe is waiting for the hub's answer */
    int refused;      /* the hub refused it while joinery_subscribe waited */
    int dead;         /* withdrawn after a refusal; kept so indices stay stable */
} sub_t;

/* A DELIVER that arrived while a handler was running (it called joinery_publish, say): kept
 * raw and handled after the handler returns, so handlers still run in arrival order. */
typedef struct backlog {
    struct backlog *next;
    uint64_t session;
    size_t len;
    uint8_t data[];
} backlog_t;

typedef struct {
    int done;
    joinery_status_t status;
    uint64_t seq;
    char event_id[JOINERY_EVENT_ID_MAX + 1];
    char reason[512];
    char master_id[256];
} sync_result_t;

struct joinery_client {
    char *endpoint;
    char *adapter;
    int curve;
    char hub_key[JOINERY_KEY_LEN];
    char public_key[JOINERY_KEY_LEN];
    char secret_key[JOINERY_KEY_LEN];
    unsigned heartbeat_wish;

    void *zctx;
    void *sock;
    void *monitor;
    unsigned socket_serial;
    state_t state;
    uint64_t session;      /* bumped whenever a session starts or ends */
    uint64_t last_request; /* request_ids go up from 1 for the client's life: never reused */

    unsigned heartbeat_ms;
    unsigned heartbeat_misses;
    unsigned max_message;
    unsigned max_batch;
    int64_t last_recv_ms;
    int64_t last_beat_ms;
    int64_t hello_sent_ms;
    int64_t next_connect_ms;
    int64_t waiting_due_ms;     /* earliest resend time on the WAITING list */
    int64_t confirm_timeout_ms; /* CONFIRM_TIMEOUT_MS; tests shorten it */
    sdk_backoff_t reconnect;

    sdk_ulid_t ulid;
    sdk_outbox_t *outbox;
    sdk_dedup_t *dedup;
    sdk_arena_t *arena;
    sdk_codec_t codec;
    sdk_buf_t enc;  /* the event being published */
    sdk_buf_t body; /* the message being sent */

    sub_t *subs;
    size_t nsubs;

    int dispatching; /* handler calls in progress */
    backlog_t *backlog_head;
    backlog_t *backlog_tail;

    int status_wanted; /* joinery_status waiting */
    int status_sent;
    int status_failed;
    char *status_json;

    int refused; /* the hub refused this adapter since the last joinery_poll */
    int closing;
    int interrupted;

    sync_result_t sync; /* strings behind the last joinery_publish result */
    char err[512];
};

static int poll_once(joinery_client_t *c, int wait_ms);

static void seterr(joinery_client_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void seterr(joinery_client_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
}

/* ---- sending ---------------------------------------------------------------------------- */

static int send_raw(joinery_client_t *c, const char *cmd, const void *data, size_t len)
{
    if (c->sock == NULL) {
        return -1;
    }
    /* Never block: with the hub away the DEALER queue fills and a blocking send would hang the
     * caller; whatever is not sent now is sent again later (events) or not needed. */
    if (zmq_send(c->sock, cmd, strlen(cmd), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        return -1;
    }
    if (zmq_send(c->sock, data, len, ZMQ_DONTWAIT) < 0) {
        return -1;
    }
    return 0;
}

static int send_msg(joinery_client_t *c, const char *cmd, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    if (sdk_buf_reserve(&c->body, n ? n : 1) != 0) {
        seterr(c, "out of memory");
        return -1;
    }
    c->body.len = protobuf_c_message_pack(m, c->body.data);
    return send_raw(c, cmd, c->body.data, c->body.len);
}

static void send_subscribe(joinery_client_t *c, sub_t *s)
{
    Joinery__V1__Subscribe m = JOINERY__V1__SUBSCRIBE__INIT;
    s->request = ++c->last_request;
    m.request_id = s->request;
    m.subscription = s->name;
    m.patterns = s->patterns;
    m.n_patterns = s->npatterns;
    m.credit = s->credit;
    m.from_beginning = s->from_beginning != 0;
    send_msg(c, "SUBSCRIBE", (const ProtobufCMessage *)&m);
}

static void flush_acks(joinery_client_t *c)
{
    if (c->state != ST_READY) {
        return;
    }
    for (size_t i = 0; i < c->nsubs; i++) {
        sub_t *s = &c->subs[i];
        if (s->nacks == 0) {
            continue;
        }
        Joinery__V1__Ack m = JOINERY__V1__ACK__INIT;
        m.subscription = s->name;
        m.seqs = s->acks;
        m.n_seqs = s->nacks;
        if (send_msg(c, "ACK", (const ProtobufCMessage *)&m) == 0) {
            s->nacks = 0;
        }
    }
}

static void send_nack(joinery_client_t *c, sub_t *s, uint64_t seq, int reject, const char *why)
{
    Joinery__V1__Nack m = JOINERY__V1__NACK__INIT;
    m.subscription = s->name;
    m.seq = seq;
    m.action =
        reject ? JOINERY__V1__NACK_ACTION__NACK_REJECT : JOINERY__V1__NACK_ACTION__NACK_RETRY;
    m.reason = (char *)(why ? why : "");
    /* A NACK lost to a full queue costs only a later redelivery. */
    send_msg(c, "NACK", (const ProtobufCMessage *)&m);
}

/* ---- session ---------------------------------------------------------------------------- */

static void socket_close(joinery_client_t *c)
{
    if (c->sock != NULL) {
        zmq_socket_monitor(c->sock, NULL, 0);
        zmq_close(c->sock);
        c->sock = NULL;
    }
    if (c->monitor != NULL) {
        zmq_close(c->monitor);
        c->monitor = NULL;
    }
}

/* ZeroMQ says only "Invalid argument" or "Protocol not supported" for an endpoint written
 * as a person would write an address; say what it wants instead. */
static void endpoint_error(joinery_client_t *c, int e)
{
    const char *ep = c->endpoint;
    if (strstr(ep, "://") == NULL) {
        seterr(c, "cannot connect to %s: the endpoint needs a transport: did you mean tcp://%s?",
               ep, ep);
    } else if (e == EPROTONOSUPPORT) {
        seterr(c,
               "cannot connect to %s: unknown transport; the hub listens on tcp://HOST:PORT "
               "or ipc://PATH",
               ep);
    } else if (e == EINVAL && strncmp(ep, "tcp://", 6) == 0) {
        seterr(c, "cannot connect to %s: give tcp://HOST:PORT, such as tcp://127.0.0.1:7600", ep);
    } else {
        seterr(c, "cannot connect to %s: %s", ep, zmq_strerror(e));
    }
}

static int socket_open(joinery_client_t *c)
{
    int linger = 0;
    int ivl = (int)c->reconnect.min_ms;
    int ivl_max = (int)c->reconnect.max_ms;
    c->sock = zmq_socket(c->zctx, ZMQ_DEALER);
    if (c->sock == NULL) {
        seterr(c, "zmq_socket: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(c->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(c->sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
    if (c->curve && (zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, c->hub_key, 41) != 0 ||
                     zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, c->public_key, 41) != 0 ||
                     zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, c->secret_key, 41) != 0)) {
        seterr(c, "cannot set Curve keys: %s", zmq_strerror(zmq_errno()));
        socket_close(c);
        return -1;
    }
    /* The monitor turns silent handshake failures into a message that names the cause. */
    char addr[96];
    snprintf(addr, sizeof addr, "inproc://joinery-monitor-%p-%u", (void *)c, ++c->socket_serial);
    if (zmq_socket_monitor(c->sock, addr,
                           ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) == 0) {
        c->monitor = zmq_socket(c->zctx, ZMQ_PAIR);
        if (c->monitor != NULL && zmq_connect(c->monitor, addr) != 0) {
            zmq_close(c->monitor);
            c->monitor = NULL;
        }
    }
    if (zmq_connect(c->sock, c->endpoint) != 0) {
        endpoint_error(c, zmq_errno());
        socket_close(c);
        return -1;
    }
    return 0;
}

static void session_start(joinery_client_t *c, int64_t now)
{
    if (socket_open(c) != 0) {
        c->next_connect_ms = now + sdk_backoff_next(&c->reconnect, randombytes_random());
        return;
    }
    Joinery__V1__Hello m = JOINERY__V1__HELLO__INIT;
    m.protocol_version = JOINERY_PROTOCOL_VERSION;
    m.adapter = c->adapter;
    m.sdk_version = (char *)"libjoinery/" JOINERY_SDK_VERSION;
    m.heartbeat_ms = c->heartbeat_wish;
    send_msg(c, "HELLO", (const ProtobufCMessage *)&m);
    c->state = ST_HELLO;
    c->hello_sent_ms = now;
}

static void backlog_clear(joinery_client_t *c)
{
    while (c->backlog_head != NULL) {
        backlog_t *b = c->backlog_head;
        c->backlog_head = b->next;
        free(b);
    }
    c->backlog_tail = NULL;
}

/* The session is gone (or never came): drop the socket and everything tied to the session,
 * and plan the next attempt. Unconfirmed events stay and are resent in the next session;
 * deliveries not yet acknowledged will be redelivered by the hub. */
static void session_lost(joinery_client_t *c, int64_t now)
{
    socket_close(c);
    c->state = ST_IDLE;
    c->session++;
    c->next_connect_ms = now + sdk_backoff_next(&c->reconnect, randombytes_random());
    sdk_outbox_requeue_inflight(c->outbox);
    for (size_t i = 0; i < c->nsubs; i++) {
        c->subs[i].nacks = 0;
        c->subs[i].ndeferred = 0; /* the hub delivers them again, to the next session */
        c->subs[i].subscribed = 0;
    }
    backlog_clear(c);
    c->status_sent = 0;
}

static unsigned hello_timeout_ms(const joinery_client_t *c)
{
    unsigned t = c->heartbeat_wish * 5;
    return t < 5000 ? 5000 : t;
}

/* ---- publishing ------------------------------------------------------------------------- */

static void confirm_final(joinery_client_t *c, uint32_t id, joinery_status_t status,
                          const char *reason, uint64_t seq, const char *master_id)
{
    sdk_outbox_entry_t *e = sdk_outbox_get(c->outbox, id);
    joinery_confirm_fn cb = e->cb;
    void *ud = e->ud;
    char event_id[JOINERY_EVENT_ID_MAX + 1];
    memcpy(event_id, e->event_id, sizeof event_id);
    /* Free the slot before the callback: the callback may publish and need it. */
    sdk_outbox_remove(c->outbox, id);
    if (cb != NULL) {
        joinery_confirm_t cf = {event_id, status, reason ? reason : "", seq,
                                master_id ? master_id : ""};
        cb(ud, &cf);
    }
}

static int put_request_id(sdk_buf_t *b, uint64_t id)
{
    uint8_t v[11];
    size_t n = 0;
    v[n++] = REQUEST_ID_TAG;
    while (id >= 0x80) {
        v[n++] = (uint8_t)(id | 0x80);
        id >>= 7;
    }
    v[n++] = (uint8_t)id;
    return sdk_buf_append(b, v, n);
}

/* Sends QUEUED events as PUBLISH batches within the hub's limits. An event whose record has an
 * older event awaiting a resend is not sent but held by the outbox until that one is settled
 * (sdk_outbox.h): resends keep each record's events in publish order. */
static void send_queued(joinery_client_t *c, int64_t now)
{
    while (c->state == ST_READY) {
        size_t limit = c->max_message > PUBLISH_SLACK ? c->max_message - PUBLISH_SLACK : 0;
        c->body.len = 0;
        size_t n = 0;
        uint32_t id = sdk_outbox_first(c->outbox, SDK_OUTBOX_QUEUED);
        int alone = 0;
        while (id != SDK_OUTBOX_NONE && n < c->max_batch && !alone) {
            sdk_outbox_entry_t *e = sdk_outbox_get(c->outbox, id);
            uint32_t next = e->next;
            if (sdk_outbox_hold(c->outbox, id)) {
                id = next;
                continue;
            }
            alone = e->request == REQUEST_ALONE;
            if (alone && n > 0) {
                break; /* it goes first in the next PUBLISH, by itself */
            }
            size_t need = e->bytes.len + sdk_codec_publish_overhead(e->bytes.len);
            if (c->body.len + need > limit ||
                sdk_codec_publish_append(&c->body, e->bytes.data, e->bytes.len) != 0) {
                break;
            }
            n++;
            id = next;
        }
        if (n == 0) {
            sdk_outbox_entry_t *e = id == SDK_OUTBOX_NONE ? NULL : sdk_outbox_get(c->outbox, id);
            if (e == NULL || e->bytes.len + sdk_codec_publish_overhead(e->bytes.len) <= limit) {
                return; /* nothing to send, or out of memory */
            }
            /* Checked at publish time too, but the hub may have lowered its limit since. */
            char why[128];
            snprintf(why, sizeof why, "event is %zu bytes; the hub takes at most %u per message",
                     e->bytes.len, c->max_message);
            confirm_final(c, id, JOINERY_REJECTED, why, 0, NULL);
            continue;
        }
        uint64_t request = c->last_request + 1;
        if (put_request_id(&c->body, request) != 0 ||
            send_raw(c, "PUBLISH", c->body.data, c->body.len) != 0) {
            return; /* queue full or socket gone: try again on the next wake */
        }
        c->last_request = request;
        /* The held ones left QUEUED during the walk: the batch is its first n entries. */
        for (size_t i = 0; i < n; i++) {
            id = sdk_outbox_first(c->outbox, SDK_OUTBOX_QUEUED);
            sdk_outbox_entry_t *e = sdk_outbox_get(c->outbox, id);
            e->due_ms = now;
            e->request = request;
            sdk_outbox_move(c->outbox, id, SDK_OUTBOX_INFLIGHT);
        }
    }
}

static void handle_confirm(joinery_client_t *c, const Joinery__V1__Confirm *m, int64_t now)
{
    for (size_t i = 0; i < m->n_entries; i++) {
        const Joinery__V1__ConfirmEntry *ce = m->entries[i];
        if (strlen(ce->event_id) > JOINERY_EVENT_ID_MAX) {
            continue;
        }
        uint32_t id = sdk_outbox_find(c->outbox, ce->event_id);
        if (id == SDK_OUTBOX_NONE) {
            continue; /* answer to an earlier copy of an event already settled */
        }
        switch (ce->status) {
        case JOINERY__V1__CONFIRM_STATUS__CONFIRM_OK:
            confirm_final(c, id, JOINERY_OK, ce->reason, ce->seq, ce->master_id);
            break;
        case JOINERY__V1__CONFIRM_STATUS__CONFIRM_DUPLICATE:
            confirm_final(c, id, JOINERY_DUPLICATE, ce->reason, ce->seq, ce->master_id);
            break;
        case JOINERY__V1__CONFIRM_STATUS__CONFIRM_REJECTED:
            confirm_final(c, id, JOINERY_REJECTED, ce->reason, ce->seq, ce->master_id);
            break;
        default: {
            /* RETRY, or a status newer than this SDK: keeping the event is the safe reading. */
            sdk_outbox_entry_t *e = sdk_outbox_get(c->outbox, id);
            e->attempts++;
            e->due_ms = now + sdk_backoff_delay(RETRY_MIN_MS, RETRY_MAX_MS, e->attempts,
                                                randombytes_random());
            int none_waiting = sdk_outbox_count_in(c->outbox, SDK_OUTBOX_WAITING) == 0;
            /* WAITING if it is its record's oldest unconfirmed event; else HELD behind that
             * one, and sent (backoff or not) once the hub has settled it. */
            if (sdk_outbox_retry(c->outbox, id) == SDK_OUTBOX_WAITING &&
                (none_waiting || e->due_ms < c->waiting_due_ms)) {
                c->waiting_due_ms = e->due_ms;
            }
            break;
        }
        }
    }
}

/* Moves due WAITING events back to QUEUED, and stale INFLIGHT ones too (or to HELD, behind an
 * older event of their record). */
static void resend_due(joinery_client_t *c, int64_t now)
{
    if (sdk_outbox_count_in(c->outbox, SDK_OUTBOX_WAITING) > 0 && now >= c->waiting_due_ms) {
        int64_t next = INT64_MAX;
        /* Walked backwards and put at the front of the queue: events sent earlier go out again
         * before events not yet sent, so a retried update is not overtaken by a newer one of
         * the same record. */
        uint32_t id = sdk_outbox_last(c->outbox, SDK_OUTBOX_WAITING);
        while (id != SDK_OUTBOX_NONE) {
            sdk_outbox_entry_t *e = sdk_outbox_get(c->outbox, id);
            uint32_t preceding = e->prev;
            if (e->due_ms <= now) {
                sdk_outbox_move_front(c->outbox, id, SDK_OUTBOX_QUEUED);
            } else if (e->due_ms < next) {
                next = e->due_ms;
            }
            id = preceding;
        }
        c->waiting_due_ms = next;
    }
    for (;;) {
        uint32_t id = sdk_outbox_first(c->outbox, SDK_OUTBOX_INFLIGHT);
        sdk_outbox_entry_t *e = id == SDK_OUTBOX_NONE ? NULL : sdk_outbox_get(c->outbox, id);
        if (e == NULL || now - e->due_ms < c->confirm_timeout_ms) {
            break;
        }
        sdk_outbox_resend(c->outbox, id);
    }
}

/* ---- receiving -------------------------------------------------------------------------- */

static sub_t *sub_find(joinery_client_t *c, const char *name, size_t *index)
{
    for (size_t i = 0; i < c->nsubs; i++) {
        if (!c->subs[i].dead && strcmp(c->subs[i].name, name) == 0) {
            if (index != NULL) {
                *index = i;
            }
            return &c->subs[i];
        }
    }
    return NULL;
}

static void ack_add(joinery_client_t *c, sub_t *s, uint64_t seq)
{
    s->acks[s->nacks++] = seq;
    if (s->nacks == ACK_BATCH) {
        flush_acks(c);
        /* Still full means the send queue is: drop the batch; the hub redelivers and the
         * de-duplication set answers for them. */
        s->nacks = 0;
    }
}

static deferred_t *deferred_find(sub_t *s, uint64_t seq)
{
    for (size_t i = 0; i < s->ndeferred; i++) {
        if (s->deferred[i].seq == seq) {
            return &s->deferred[i];
        }
    }
    return NULL;
}

/* Keeps SEQ for joinery_settle. A redelivery of a seq already held (the hub started the
 * subscription afresh) replaces it. -1 when out of memory. */
static int deferred_add(sub_t *s, uint64_t seq, const joinery_event_t *ev)
{
    deferred_t *d = deferred_find(s, seq);
    if (d == NULL) {
        if (s->ndeferred == s->capdeferred) {
            size_t cap = s->capdeferred ? s->capdeferred * 2 : 16;
            deferred_t *grown = realloc(s->deferred, cap * sizeof *grown);
            if (grown == NULL) {
                return -1;
            }
            s->deferred = grown;
            s->capdeferred = cap;
        }
        d = &s->deferred[s->ndeferred++];
    }
    d->seq = seq;
    const char *src = ev->source ? ev->source : "";
    const char *id = ev->event_id ? ev->event_id : "";
    d->remember = strlen(src) < sizeof d->source && strlen(id) < sizeof d->event_id;
    if (d->remember) {
        memcpy(d->source, src, strlen(src) + 1);
        memcpy(d->event_id, id, strlen(id) + 1);
    }
    return 0;
}

static void deliver_one(joinery_client_t *c, size_t si, const Joinery__V1__Delivery *d,
                        uint64_t session)
{
    sub_t *s = &c->subs[si];
    joinery_event_t ev;
    char why[256];
    sdk_arena_mark_t mark = sdk_arena_mark(c->arena);
    if (sdk_codec_decode(c->arena, d->envelope.data, d->envelope.len, &ev, why, sizeof why) != 0) {
        if (!d->transient) {
            send_nack(c, s, d->seq, 1, why);
        }
        return;
    }
    if (!d->transient && sdk_dedup_contains(c->dedup, s->name, ev.source, ev.event_id)) {
        ack_add(c, s, d->seq);
        sdk_arena_release(c->arena, mark);
        return;
    }
    char reason[256] = "";
    c->dispatching++;
    joinery_verdict_t v =
        s->handler(s->ud, &ev, d->seq, d->attempt ? d->attempt : 1, reason, sizeof reason);
    c->dispatching--;
    reason[sizeof reason - 1] = '\0';
    s = &c->subs[si]; /* the handler may have subscribed, moving the array */
    if (d->transient) {
        sdk_arena_release(c->arena, mark);
        return;
    }
    if (v == JOINERY_DEFER) {
        /* Not remembered for de-duplication until it is settled with ACK: its redelivery after
         * a lost session must reach the handler again. A session lost inside the handler
         * takes the delivery along; the hub delivers it again. */
        if (session == c->session && deferred_add(s, d->seq, &ev) != 0) {
            send_nack(c, s, d->seq, 0, "out of memory holding a deferred delivery");
        }
    } else if (v == JOINERY_ACK) {
        /* Remembered even if the session changed meanwhile: the redelivery is then ACKed
         * without running the handler again. */
        sdk_dedup_add(c->dedup, s->name, ev.source, ev.event_id);
        if (session == c->session) {
            ack_add(c, s, d->seq);
        }
    } else if (session == c->session) {
        send_nack(c, s, d->seq, v == JOINERY_REJECT, reason[0] ? reason : "rejected by handler");
    }
    sdk_arena_release(c->arena, mark);
}

static void handle_deliver(joinery_client_t *c, const Joinery__V1__Deliver *m)
{
    size_t si;
    if (sub_find(c, m->subscription, &si) == NULL) {
        return; /* not ours (withdrawn): without a handler we can only let it time out */
    }
    uint64_t session = c->session;
    for (size_t i = 0; i < m->n_deliveries && session == c->session; i++) {
        /* If the session ended inside a handler, the rest will be redelivered in order. */
        deliver_one(c, si, m->deliveries[i], session);
    }
}

/* The hub refused the PUBLISH with this request_id, and none of its events was accepted if
 * the hub kept to the protocol (an envelope that does not parse is refused by itself, though,
 * the rest taken). So an event that went alone is refused for good; events that went together
 * go again one per PUBLISH, where the hub's answer to each is its own: a repeat of one it took
 * is answered DUPLICATE. Events of other PUBLISHes are not touched. */
static void publish_refused(joinery_client_t *c, const Joinery__V1__Error *m)
{
    size_t n = 0;
    uint32_t only = SDK_OUTBOX_NONE;
    for (uint32_t id = sdk_outbox_first(c->outbox, SDK_OUTBOX_INFLIGHT); id != SDK_OUTBOX_NONE;
         id = sdk_outbox_get(c->outbox, id)->next) {
        if (sdk_outbox_get(c->outbox, id)->request == m->request_id) {
            n++;
            only = id;
        }
    }
    if (n == 1) {
        char why[600];
        snprintf(why, sizeof why, "hub refused the PUBLISH holding it: %s (error %d)",
                 m->reason[0] ? m->reason : "no reason given", (int)m->code);
        confirm_final(c, only, JOINERY_REJECTED, why, 0, NULL);
        return;
    }
    uint32_t id = sdk_outbox_first(c->outbox, SDK_OUTBOX_INFLIGHT);
    while (id != SDK_OUTBOX_NONE) {
        sdk_outbox_entry_t *e = sdk_outbox_get(c->outbox, id);
        uint32_t next = e->next;
        if (e->request == m->request_id) {
            e->request = REQUEST_ALONE;
            sdk_outbox_resend(c->outbox, id); /* keeps its record's order */
        }
        id = next;
    }
}

static sub_t *sub_by_request(joinery_client_t *c, uint64_t request)
{
    for (size_t i = 0; i < c->nsubs; i++) {
        if (!c->subs[i].dead && c->subs[i].request == request) {
            return &c->subs[i];
        }
    }
    return NULL;
}

/* The hub refused a SUBSCRIBE: the one its request_id names (a hub older than request_id
 * names none: then the one joinery_subscribe waits for). Refused while joinery_subscribe
 * waits, that call fails; refused on re-subscribing after a reconnect, it is the operator's
 * to fix, and joinery_poll says so. */
static void subscribe_refused(joinery_client_t *c, const Joinery__V1__Error *m)
{
    sub_t *s = m->request_id ? sub_by_request(c, m->request_id) : NULL;
    for (size_t i = 0; s == NULL && m->request_id == 0 && i < c->nsubs; i++) {
        if (c->subs[i].awaiting) {
            s = &c->subs[i];
        }
    }
    if (s != NULL && s->awaiting) {
        s->refused = 1;
        return;
    }
    c->refused = 1;
}

static void handle_error(joinery_client_t *c, const Joinery__V1__Error *m, int64_t now)
{
    const char *sub = m->subscription != NULL ? m->subscription : "";
    seterr(c, "hub refused %s%s%s: %s (error %d)", m->command[0] ? m->command : "a command",
           sub[0] ? " of subscription " : "", sub, m->reason[0] ? m->reason : "no reason given",
           (int)m->code);
    if (m->code == JOINERY__V1__ERROR_CODE__ERROR_NO_SESSION) {
        session_lost(c, now);
        return;
    }
    if (strcmp(m->command, "HELLO") == 0 || c->state == ST_HELLO) {
        /* Wrong name for our key, unknown adapter, or protocol version: the operator must
         * act, so say so loudly; keep retrying in case the hub's configuration changes. */
        c->refused = 1;
        session_lost(c, now);
        return;
    }
    if (strcmp(m->command, "PUBLISH") == 0 && m->request_id != 0) {
        publish_refused(c, m);
        return;
    }
    if (strcmp(m->command, "SUBSCRIBE") == 0) {
        subscribe_refused(c, m);
        return;
    }
    if (strcmp(m->command, "STATUS") == 0 && c->status_wanted) {
        c->status_failed = 1;
    }
}

static void handle_message(joinery_client_t *c, const char *cmd, const uint8_t *data, size_t len,
                           int64_t now);

static void backlog_drain(joinery_client_t *c, int64_t now)
{
    while (c->dispatching == 0 && c->backlog_head != NULL) {
        backlog_t *b = c->backlog_head;
        c->backlog_head = b->next;
        if (c->backlog_head == NULL) {
            c->backlog_tail = NULL;
        }
        if (b->session == c->session) {
            handle_message(c, "DELIVER", b->data, b->len, now);
        }
        free(b);
    }
}

static void backlog_push(joinery_client_t *c, const uint8_t *data, size_t len)
{
    backlog_t *b = malloc(sizeof *b + len);
    if (b == NULL) {
        return; /* unacknowledged, so the hub redelivers it */
    }
    b->next = NULL;
    b->session = c->session;
    b->len = len;
    memcpy(b->data, data, len);
    if (c->backlog_tail != NULL) {
        c->backlog_tail->next = b;
    } else {
        c->backlog_head = b;
    }
    c->backlog_tail = b;
}

#define UNPACK(type, fn)                                                                           \
    type *msg = fn(sdk_arena_allocator(c->arena), len, data);                                      \
    if (msg == NULL) {                                                                             \
        break;                                                                                     \
    }

static void handle_message(joinery_client_t *c, const char *cmd, const uint8_t *data, size_t len,
                           int64_t now)
{
    sdk_arena_mark_t mark = sdk_arena_mark(c->arena);
    if (c->state == ST_HELLO && strcmp(cmd, "WELCOME") == 0) {
        do {
            UNPACK(Joinery__V1__Welcome, joinery__v1__welcome__unpack);
            c->heartbeat_ms = msg->heartbeat_ms ? msg->heartbeat_ms : 1000;
            c->heartbeat_misses = msg->heartbeat_misses ? msg->heartbeat_misses : 5;
            c->max_message = msg->max_message_bytes ? msg->max_message_bytes : DEFAULT_MAX_MESSAGE;
            c->max_batch = msg->max_batch ? msg->max_batch : DEFAULT_MAX_BATCH;
            c->state = ST_READY;
            c->session++;
            c->last_beat_ms = now;
            sdk_backoff_reset(&c->reconnect);
            for (size_t i = 0; i < c->nsubs; i++) {
                if (!c->subs[i].dead) {
                    send_subscribe(c, &c->subs[i]);
                }
            }
            send_queued(c, now);
        } while (0);
    } else if (c->state != ST_READY) {
        /* Before WELCOME only an ERROR means anything. */
        if (strcmp(cmd, "ERROR") == 0) {
            do {
                UNPACK(Joinery__V1__Error, joinery__v1__error__unpack);
                handle_error(c, msg, now);
            } while (0);
        }
    } else if (strcmp(cmd, "CONFIRM") == 0) {
        do {
            UNPACK(Joinery__V1__Confirm, joinery__v1__confirm__unpack);
            handle_confirm(c, msg, now);
        } while (0);
    } else if (strcmp(cmd, "DELIVER") == 0) {
        if (c->dispatching > 0) {
            backlog_push(c, data, len);
        } else {
            do {
                UNPACK(Joinery__V1__Deliver, joinery__v1__deliver__unpack);
                handle_deliver(c, msg);
            } while (0);
        }
    } else if (strcmp(cmd, "SUBSCRIBED") == 0) {
        do {
            UNPACK(Joinery__V1__Subscribed, joinery__v1__subscribed__unpack);
            sub_t *s = sub_find(c, msg->subscription, NULL);
            if (s != NULL) {
                s->subscribed = 1;
            }
        } while (0);
    } else if (strcmp(cmd, "ERROR") == 0) {
        do {
            UNPACK(Joinery__V1__Error, joinery__v1__error__unpack);
            handle_error(c, msg, now);
        } while (0);
    } else if (strcmp(cmd, "GOODBYE") == 0) {
        do {
            UNPACK(Joinery__V1__Goodbye, joinery__v1__goodbye__unpack);
            seterr(c, "hub said goodbye: %s", msg->reason[0] ? msg->reason : "no reason");
        } while (0);
        session_lost(c, now);
    } else if (strcmp(cmd, "STATUS-REPLY") == 0 && c->status_wanted) {
        do {
            UNPACK(Joinery__V1__StatusReply, joinery__v1__status_reply__unpack);
            free(c->status_json);
            c->status_json = sdk_status_json(msg);
            c->status_failed = c->status_json == NULL;
        } while (0);
    }
    /* HEARTBEAT, and anything unknown, only prove the hub alive. */
    sdk_arena_release(c->arena, mark);
    backlog_drain(c, now);
}

static void read_monitor(joinery_client_t *c)
{
    for (;;) {
        zmq_msg_t a, b;
        zmq_msg_init(&a);
        if (zmq_msg_recv(&a, c->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&a);
            return;
        }
        int more = zmq_msg_more(&a);
        if (zmq_msg_size(&a) >= 6) {
            uint16_t event;
            uint32_t value;
            memcpy(&event, zmq_msg_data(&a), 2);
            memcpy(&value, (uint8_t *)zmq_msg_data(&a) + 2, 4);
            if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
                seterr(c,
                       "hub refused this adapter's Curve key (ZAP status %u): is its public "
                       "key in the hub's configuration?",
                       value);
                c->refused = 1;
            } else {
                seterr(c,
                       "Curve handshake with the hub failed (%s): check hub.pub and that both "
                       "sides use Curve",
                       event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? "protocol error"
                                                                    : "no detail");
            }
        }
        zmq_msg_close(&a);
        while (more) {
            zmq_msg_init(&b);
            if (zmq_msg_recv(&b, c->monitor, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&b);
                break;
            }
            more = zmq_msg_more(&b);
            zmq_msg_close(&b);
        }
    }
}

/* Reads one message: 1 if one was handled (or discarded as malformed), 0 if none waits. */
static int read_one(joinery_client_t *c, int64_t now)
{
    zmq_msg_t cmd, body;
    zmq_msg_init(&cmd);
    if (zmq_msg_recv(&cmd, c->sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&cmd);
        return 0;
    }
    int frames = 1;
    int more = zmq_msg_more(&cmd);
    zmq_msg_init(&body);
    if (more) {
        if (zmq_msg_recv(&body, c->sock, ZMQ_DONTWAIT) >= 0) {
            frames++;
            more = zmq_msg_more(&body);
        } else {
            more = 0;
        }
    }
    while (more) { /* extra frames make the message malformed: drain them */
        zmq_msg_t x;
        zmq_msg_init(&x);
        more = zmq_msg_recv(&x, c->sock, ZMQ_DONTWAIT) >= 0 && zmq_msg_more(&x);
        zmq_msg_close(&x);
        frames++;
    }
    c->last_recv_ms = now;
    size_t cmdlen = zmq_msg_size(&cmd);
    if (frames == 2 && cmdlen > 0 && cmdlen <= 16) {
        char name[17];
        memcpy(name, zmq_msg_data(&cmd), cmdlen);
        name[cmdlen] = '\0';
        handle_message(c, name, zmq_msg_data(&body), zmq_msg_size(&body), now);
    }
    zmq_msg_close(&cmd);
    zmq_msg_close(&body);
    return 1;
}

/* ---- the loop --------------------------------------------------------------------------- */

static int64_t next_timer_ms(const joinery_client_t *c, int64_t now)
{
    int64_t at = INT64_MAX;
    switch (c->state) {
    case ST_IDLE:
        at = c->next_connect_ms;
        break;
    case ST_HELLO:
        at = c->hello_sent_ms + hello_timeout_ms(c);
        break;
    case ST_READY: {
        at = c->last_beat_ms + c->heartbeat_ms;
        int64_t silent = c->last_recv_ms + (int64_t)c->heartbeat_ms * c->heartbeat_misses;
        if (silent < at) {
            at = silent;
        }
        if (sdk_outbox_count_in(c->outbox, SDK_OUTBOX_WAITING) > 0 && c->waiting_due_ms < at) {
            at = c->waiting_due_ms;
        }
        break;
    }
    }
    return at < now ? 0 : at - now;
}

static void run_timers(joinery_client_t *c, int64_t now)
{
    if (c->state == ST_IDLE && now >= c->next_connect_ms) {
        session_start(c, now);
    } else if (c->state == ST_HELLO && now - c->hello_sent_ms >= hello_timeout_ms(c)) {
        seterr(c, "no WELCOME from the hub at %s within %u ms", c->endpoint, hello_timeout_ms(c));
        session_lost(c, now);
    } else if (c->state == ST_READY) {
        int64_t limit = (int64_t)c->heartbeat_ms * c->heartbeat_misses;
        if (now - c->last_recv_ms > limit) {
            seterr(c, "hub silent for %lld ms", (long long)(now - c->last_recv_ms));
            session_lost(c, now);
            return;
        }
        if (now - c->last_beat_ms >= c->heartbeat_ms) {
            Joinery__V1__Heartbeat m = JOINERY__V1__HEARTBEAT__INIT;
            m.time_us = (uint64_t)sdk_wall_us();
            send_msg(c, "HEARTBEAT", (const ProtobufCMessage *)&m);
            c->last_beat_ms = now;
        }
        resend_due(c, now);
        if (c->status_wanted && !c->status_sent) {
            Joinery__V1__StatusRequest m = JOINERY__V1__STATUS_REQUEST__INIT;
            c->status_sent = send_msg(c, "STATUS", (const ProtobufCMessage *)&m) == 0;
        }
    }
}

/* One round: timers, sends, then wait up to wait_ms (-1: until something happens) and read
 * what came. Returns the number of messages read, -1 on a fatal ZeroMQ error. */
static int poll_once(joinery_client_t *c, int wait_ms)
{
    int64_t now = sdk_now_ms();
    run_timers(c, now);
    send_queued(c, now);
    flush_acks(c);

    int64_t t = next_timer_ms(c, now);
    if (wait_ms >= 0 && wait_ms < t) {
        t = wait_ms;
    }
    zmq_pollitem_t items[2];
    int n = 0;
    if (c->sock != NULL) {
        items[n++] = (zmq_pollitem_t){c->sock, 0, ZMQ_POLLIN, 0};
        if (c->monitor != NULL) {
            items[n++] = (zmq_pollitem_t){c->monitor, 0, ZMQ_POLLIN, 0};
        }
    }
    int rc = zmq_poll(n ? items : NULL, n, t > INT_MAX ? -1 : (long)t);
    if (rc < 0) {
        if (zmq_errno() == EINTR) {
            c->interrupted = 1;
            return 0;
        }
        seterr(c, "zmq_poll: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    int handled = 0;
    now = sdk_now_ms();
    if (n > 1 && (items[1].revents & ZMQ_POLLIN)) {
        read_monitor(c);
    }
    if (n > 0 && (items[0].revents & ZMQ_POLLIN)) {
        while (c->sock != NULL && handled < MAX_RECV_PER_WAKE && read_one(c, now)) {
            handled++;
        }
    }
    /* Acknowledge and publish what the handlers produced before the caller gets control. */
    send_queued(c, now);
    flush_acks(c);
    return handled;
}

typedef int (*done_fn)(joinery_client_t *c, const void *arg);

/* Runs the loop until done says so (0), or timeout_ms passes or the hub refuses us (-1). */
static int wait_until(joinery_client_t *c, int timeout_ms, done_fn done, const void *arg)
{
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : sdk_now_ms() + timeout_ms;
    c->refused = 0;
    while (!done(c, arg)) {
        int64_t left = deadline == INT64_MAX ? -1 : deadline - sdk_now_ms();
        if (c->refused) {
            return -1;
        }
        if (deadline != INT64_MAX && left <= 0) {
            return -1;
        }
        if (poll_once(c, left > INT_MAX ? INT_MAX : (int)left) < 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- public API ------------------------------------------------------------------------- */

static int load_keys(joinery_client_t *c, const joinery_options_t *o, char *err, size_t errlen)
{
    if (o->keys_dir == NULL && o->hub_public_key == NULL && o->secret_key == NULL &&
        o->public_key == NULL) {
        c->curve = 0;
        return 0;
    }
    c->curve = 1;
    if (o->keys_dir != NULL) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s.key", o->keys_dir, o->adapter);
        if (joinery_key_read(path, c->secret_key, err, errlen) != 0) {
            return -1;
        }
        snprintf(path, sizeof path, "%s/hub.pub", o->keys_dir);
        if (joinery_key_read(path, c->hub_key, err, errlen) != 0) {
            return -1;
        }
    } else {
        if (o->hub_public_key == NULL || o->secret_key == NULL) {
            sdk_errf(err, errlen, "Curve needs hub_public_key and secret_key (or keys_dir)");
            return -1;
        }
        sdk_strlcpy(c->hub_key, o->hub_public_key, sizeof c->hub_key);
        sdk_strlcpy(c->secret_key, o->secret_key, sizeof c->secret_key);
    }
    if (joinery_key_public(c->secret_key, c->public_key, err, errlen) != 0) {
        return -1;
    }
    if (o->public_key != NULL && o->keys_dir == NULL && strcmp(o->public_key, c->public_key) != 0) {
        sdk_errf(err, errlen, "public_key does not belong to secret_key");
        return -1;
    }
    char scratch[JOINERY_KEY_LEN];
    if (joinery_key_public(c->hub_key, scratch, NULL, 0) != 0) { /* validates the Z85 */
        sdk_errf(err, errlen, "hub public key is not a 40-character Z85 Curve key");
        return -1;
    }
    if (!zmq_has("curve")) {
        sdk_errf(err, errlen, "this libzmq was built without CurveZMQ");
        return -1;
    }
    return 0;
}

static void client_free(joinery_client_t *c)
{
    socket_close(c);
    if (c->zctx != NULL) {
        zmq_ctx_term(c->zctx);
    }
    for (size_t i = 0; i < c->nsubs; i++) {
        free(c->subs[i].name);
        for (size_t k = 0; k < c->subs[i].npatterns; k++) {
            free(c->subs[i].patterns[k]);
        }
        free(c->subs[i].patterns);
        free(c->subs[i].acks);
        free(c->subs[i].deferred);
    }
    free(c->subs);
    backlog_clear(c);
    sdk_outbox_destroy(&c->outbox);
    sdk_dedup_destroy(&c->dedup);
    sdk_arena_destroy(&c->arena);
    sdk_codec_free(&c->codec);
    sdk_buf_free(&c->enc);
    sdk_buf_free(&c->body);
    free(c->status_json);
    free(c->endpoint);
    free(c->adapter);
    sodium_memzero(c->secret_key, sizeof c->secret_key);
    free(c);
}

static int is_ready(joinery_client_t *c, const void *arg)
{
    (void)arg;
    return c->state == ST_READY;
}

joinery_client_t *joinery_connect(const joinery_options_t *o, char *err, size_t errlen)
{
    if (o == NULL || o->endpoint == NULL || o->endpoint[0] == '\0') {
        sdk_errf(err, errlen, "no hub endpoint given");
        return NULL;
    }
    if (!sdk_name_valid(o->adapter)) {
        sdk_errf(err, errlen, "adapter name \"%s\" is not [a-z0-9_-]{1,64}",
                 o->adapter ? o->adapter : "");
        return NULL;
    }
    if (sodium_init() < 0) {
        sdk_errf(err, errlen, "libsodium failed to initialise");
        return NULL;
    }
    joinery_client_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        sdk_errf(err, errlen, "out of memory");
        return NULL;
    }
    unsigned rmin = o->reconnect_min_ms ? o->reconnect_min_ms : 100;
    unsigned rmax = o->reconnect_max_ms ? o->reconnect_max_ms : 10000;
    sdk_backoff_init(&c->reconnect, rmin, rmax < rmin ? rmin : rmax);
    c->heartbeat_wish = o->heartbeat_ms ? o->heartbeat_ms : 1000;
    c->heartbeat_ms = c->heartbeat_wish;
    c->heartbeat_misses = 5;
    c->confirm_timeout_ms = CONFIRM_TIMEOUT_MS;
    c->max_message = DEFAULT_MAX_MESSAGE;
    c->max_batch = DEFAULT_MAX_BATCH;
    c->endpoint = sdk_strdup(o->endpoint);
    c->adapter = sdk_strdup(o->adapter);
    c->outbox = sdk_outbox_new(o->max_unconfirmed ? o->max_unconfirmed : 10000);
    c->dedup = sdk_dedup_new(DEDUP_CAPACITY);
    c->arena = sdk_arena_new(65536);
    c->zctx = zmq_ctx_new();
    sdk_codec_init(&c->codec);
    if (c->endpoint == NULL || c->adapter == NULL || c->outbox == NULL || c->dedup == NULL ||
        c->arena == NULL || c->zctx == NULL) {
        sdk_errf(err, errlen, "out of memory");
        client_free(c);
        return NULL;
    }
    if (load_keys(c, o, err, errlen) != 0) {
        client_free(c);
        return NULL;
    }
    int64_t now = sdk_now_ms();
    session_start(c, now);
    if (c->sock == NULL) {
        sdk_errf(err, errlen, "%s", c->err);
        client_free(c);
        return NULL;
    }
    if (o->connect_timeout_ms >= 0) {
        int t = o->connect_timeout_ms ? o->connect_timeout_ms : 10000;
        if (wait_until(c, t, is_ready, NULL) != 0) {
            if (c->refused) {
                sdk_errf(err, errlen, "%s", c->err);
            } else if (c->err[0] != '\0' && strncmp(c->err, "no WELCOME", 10) != 0) {
                sdk_errf(err, errlen, "no WELCOME from the hub at %s within %d ms: %s", c->endpoint,
                         t, c->err);
            } else {
                sdk_errf(err, errlen,
                         "no WELCOME from the hub at %s within %d ms: is it running there%s?",
                         c->endpoint, t,
                         c->curve ? ", is hub.pub its key, and does it know this adapter's key"
                                  : ", and with security.curve: false");
            }
            client_free(c);
            return NULL;
        }
    }
    c->err[0] = '\0';
    return c;
}

void joinery_close(joinery_client_t **cp)
{
    if (cp == NULL || *cp == NULL) {
        return;
    }
    joinery_client_t *c = *cp;
    c->closing = 1;
    if (c->state == ST_READY) {
        flush_acks(c);
        Joinery__V1__Goodbye m = JOINERY__V1__GOODBYE__INIT;
        m.reason = (char *)"adapter closing";
        send_msg(c, "GOODBYE", (const ProtobufCMessage *)&m);
        /* Give the ACKs and GOODBYE a moment to leave; the hub copes if they do not. */
        int linger = 1000;
        zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger);
    }
    socket_close(c);
    static const sdk_outbox_state_t order[] = {SDK_OUTBOX_INFLIGHT, SDK_OUTBOX_WAITING,
                                               SDK_OUTBOX_QUEUED, SDK_OUTBOX_HELD};
    /* Settling one may move others between lists (a held event's turn comes). */
    while (sdk_outbox_count(c->outbox) > 0) {
        uint32_t id = SDK_OUTBOX_NONE;
        for (size_t i = 0; i < SDK_OUTBOX_NLISTS && id == SDK_OUTBOX_NONE; i++) {
            id = sdk_outbox_first(c->outbox, order[i]);
        }
        confirm_final(c, id, JOINERY_UNCONFIRMED, "client closed before the hub confirmed", 0,
                      NULL);
    }
    client_free(c);
    *cp = NULL;
}

static int enqueue(joinery_client_t *c, const joinery_event_t *ev, joinery_confirm_fn cb, void *ud,
                   char *id_out, int64_t deadline)
{
    if (c->closing) {
        seterr(c, "client is closing");
        return -1;
    }
    if (ev == NULL) {
        seterr(c, "no event given");
        return -1;
    }
    char idbuf[SDK_ULID_LEN + 1];
    const char *event_id = ev->event_id;
    if (event_id == NULL || event_id[0] == '\0') {
        sdk_ulid_next(&c->ulid, idbuf);
        event_id = idbuf;
    }
    if (id_out != NULL) {
        sdk_strlcpy(id_out, event_id, JOINERY_EVENT_ID_MAX + 1);
    }
    if (sdk_codec_encode(&c->codec, ev, c->adapter, event_id, sdk_wall_us(), &c->enc, c->err,
                         sizeof c->err) != 0) {
        return -1;
    }
    size_t limit = c->max_message > PUBLISH_SLACK ? c->max_message - PUBLISH_SLACK : 0;
    if (c->enc.len + sdk_codec_publish_overhead(c->enc.len) > limit) {
        seterr(c, "event is %zu bytes; the hub takes at most %u per message", c->enc.len,
               c->max_message);
        return -1;
    }
    /* Backpressure: let the hub confirm some before taking more. */
    c->refused = 0;
    int waited = 0;
    while (sdk_outbox_full(c->outbox)) {
        waited = 1;
        int64_t left = deadline == INT64_MAX ? -1 : deadline - sdk_now_ms();
        if (c->refused || (deadline != INT64_MAX && left <= 0)) {
            if (!c->refused) {
                seterr(c, "%zu events await confirmation and no room came in time",
                       sdk_outbox_count(c->outbox));
            }
            return -1;
        }
        if (poll_once(c, left > INT_MAX ? INT_MAX : (int)left) < 0) {
            return -1;
        }
        if (c->closing) {
            return -1;
        }
    }
    /* A handler or callback run while waiting may have published and reused c->enc. */
    if (waited && sdk_codec_encode(&c->codec, ev, c->adapter, event_id, sdk_wall_us(), &c->enc,
                                   c->err, sizeof c->err) != 0) {
        return -1;
    }
    uint64_t record = sdk_outbox_record(ev->source_record_id, ev->master_id);
    uint32_t id = sdk_outbox_add(c->outbox, event_id, c->enc.data, c->enc.len, record, cb, ud,
                                 c->err, sizeof c->err);
    if (id == SDK_OUTBOX_NONE) {
        return -1;
    }
    sdk_outbox_get(c->outbox, id)->request = 0; /* a reused slot's is its last event's */
    return 0;
}

int joinery_publish_async(joinery_client_t *c, const joinery_event_t *ev, joinery_confirm_fn cb,
                          void *ud, char *event_id_out)
{
    return enqueue(c, ev, cb, ud, event_id_out, INT64_MAX);
}

static void sync_cb(void *ud, const joinery_confirm_t *cf)
{
    sync_result_t *r = ud;
    r->done = 1;
    r->status = cf->status;
    r->seq = cf->seq;
    sdk_strlcpy(r->reason, cf->reason, sizeof r->reason);
    sdk_strlcpy(r->master_id, cf->master_id, sizeof r->master_id);
}

static int sync_done(joinery_client_t *c, const void *arg)
{
    (void)c;
    return ((const sync_result_t *)arg)->done;
}

int joinery_publish(joinery_client_t *c, const joinery_event_t *ev, joinery_confirm_t *out,
                    int timeout_ms)
{
    /* On the stack, not in c: a handler run while we wait may itself call joinery_publish. */
    sync_result_t r;
    memset(&r, 0, sizeof r);
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : sdk_now_ms() + timeout_ms;
    int rc = enqueue(c, ev, sync_cb, &r, r.event_id, deadline);
    if (rc == 0) {
        int64_t left = deadline == INT64_MAX ? -1 : deadline - sdk_now_ms();
        if (deadline != INT64_MAX && left < 0) {
            left = 0;
        }
        rc = wait_until(c, left > INT_MAX ? INT_MAX : (int)left, sync_done, &r);
        if (rc != 0 && !r.done) {
            uint32_t id = sdk_outbox_find(c->outbox, r.event_id);
            sdk_outbox_entry_t *e = id == SDK_OUTBOX_NONE ? NULL : sdk_outbox_get(c->outbox, id);
            if (e != NULL && e->ud == &r) {
                sdk_outbox_remove(c->outbox, id); /* withdrawn: the caller decides what next */
            }
            if (!c->refused) {
                seterr(c, "no confirmation for event %s within %d ms", r.event_id, timeout_ms);
            }
        }
    }
    c->sync = r;
    if (out != NULL) {
        out->event_id = c->sync.event_id;
        out->status = r.done ? r.status : JOINERY_UNCONFIRMED;
        out->reason = r.done ? c->sync.reason : c->err;
        out->seq = r.seq;
        out->master_id = c->sync.master_id;
    }
    return r.done ? 0 : -1;
}

static int outbox_empty(joinery_client_t *c, const void *arg)
{
    (void)arg;
    return sdk_outbox_count(c->outbox) == 0;
}

int joinery_flush(joinery_client_t *c, int timeout_ms)
{
    if (wait_until(c, timeout_ms, outbox_empty, NULL) != 0) {
        if (!c->refused) {
            seterr(c, "%zu events still unconfirmed after %d ms", sdk_outbox_count(c->outbox),
                   timeout_ms);
        }
        return -1;
    }
    return 0;
}

size_t joinery_unconfirmed(const joinery_client_t *c)
{
    return sdk_outbox_count(c->outbox);
}

static int sub_answered(joinery_client_t *c, const void *arg)
{
    const sub_t *s = &c->subs[*(const size_t *)arg];
    return s->subscribed || s->refused || c->state != ST_READY;
}

static int sub_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 64) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' ||
              ch == '.')) {
            return 0;
        }
    }
    return 1;
}

int joinery_subscribe(joinery_client_t *c, const char *name, const char *const *patterns,
                      size_t npatterns, unsigned credit, joinery_handler_fn h, void *ud)
{
    joinery_subscription_t s = {name, patterns, npatterns, credit, 0, h, ud};
    return joinery_subscribe_with(c, &s);
}

int joinery_subscribe_with(joinery_client_t *c, const joinery_subscription_t *opt)
{
    const char *name = opt ? opt->name : NULL;
    const char *const *patterns = opt ? opt->patterns : NULL;
    size_t npatterns = opt ? opt->npatterns : 0;
    if (!sub_name_valid(name)) {
        seterr(c, "subscription name \"%s\" is not 1-64 of a-z 0-9 _ - .", name ? name : "");
        return -1;
    }
    if (opt->handler == NULL || patterns == NULL || npatterns == 0) {
        seterr(c, "subscription %s needs a handler and at least one pattern", name);
        return -1;
    }
    for (size_t i = 0; i < npatterns; i++) {
        if (patterns[i] == NULL || patterns[i][0] == '\0') {
            seterr(c, "subscription %s: pattern %zu is empty", name, i);
            return -1;
        }
    }
    if (sub_find(c, name, NULL) != NULL) {
        seterr(c, "already subscribed as %s", name);
        return -1;
    }
    sub_t *grown = realloc(c->subs, (c->nsubs + 1) * sizeof *grown);
    if (grown == NULL) {
        seterr(c, "out of memory");
        return -1;
    }
    c->subs = grown;
    sub_t *s = &c->subs[c->nsubs];
    memset(s, 0, sizeof *s);
    s->name = sdk_strdup(name);
    s->patterns = calloc(npatterns, sizeof *s->patterns);
    s->acks = malloc(ACK_BATCH * sizeof *s->acks);
    s->credit = opt->credit;
    s->from_beginning = opt->from_beginning;
    s->handler = opt->handler;
    s->ud = opt->ud;
    int ok = s->name != NULL && s->patterns != NULL && s->acks != NULL;
    for (size_t i = 0; ok && i < npatterns; i++) {
        s->patterns[i] = sdk_strdup(patterns[i]);
        ok = s->patterns[i] != NULL;
        s->npatterns = i + 1;
    }
    size_t index = c->nsubs++;
    if (!ok) {
        s->dead = 1;
        seterr(c, "out of memory");
        return -1;
    }
    if (c->state != ST_READY) {
        return 0; /* subscribed with everything else once the session opens */
    }
    s->awaiting = 1;
    send_subscribe(c, s);
    /* A refusal of another request (a re-SUBSCRIBE after a reconnect) ends wait_until early; it
     * is not this subscription's, so wait on, and leave it for joinery_poll to report. */
    int64_t deadline = sdk_now_ms() + SUBSCRIBE_WAIT_MS;
    int64_t left = SUBSCRIBE_WAIT_MS;
    int other_refused = 0;
    while (wait_until(c, (int)left, sub_answered, &index) != 0 && c->refused &&
           !c->subs[index].refused) {
        other_refused = 1;
        left = deadline - sdk_now_ms();
        if (left <= 0) {
            break;
        }
    }
    s = &c->subs[index]; /* handlers run while waiting may have grown the array */
    s->awaiting = 0;
    if (s->refused) {
        s->dead = 1; /* the message is already set from the hub's ERROR */
        return -1;
    }
    /* Also set when the other refusal came with our answer, in the same wait. */
    c->refused |= other_refused;
    return 0;
}

int joinery_settle(joinery_client_t *c, const char *subscription, uint64_t seq, joinery_verdict_t v,
                   const char *reason)
{
    if (v != JOINERY_ACK && v != JOINERY_RETRY && v != JOINERY_REJECT) {
        seterr(c, "joinery_settle: the verdict must be ACK, RETRY or REJECT");
        return -1;
    }
    sub_t *s = subscription != NULL ? sub_find(c, subscription, NULL) : NULL;
    deferred_t *d = s != NULL ? deferred_find(s, seq) : NULL;
    if (d == NULL) {
        seterr(c,
               "subscription %s has no deferred delivery %llu in this session (settled "
               "already, or its session was lost: the hub delivers it again)",
               subscription ? subscription : "(null)", (unsigned long long)seq);
        return -1;
    }
    if (v == JOINERY_ACK) {
        if (d->remember) {
            sdk_dedup_add(c->dedup, s->name, d->source, d->event_id);
        }
        ack_add(c, s, seq);
        /* Settled outside a handler, an ACK would otherwise wait for the next poll's end. */
        flush_acks(c);
    } else {
        send_nack(c, s, seq, v == JOINERY_REJECT,
                  reason != NULL && reason[0] ? reason : "rejected by handler");
    }
    *d = s->deferred[--s->ndeferred];
    return 0;
}

int joinery_poll(joinery_client_t *c, int timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : sdk_now_ms() + timeout_ms;
    c->interrupted = 0;
    int n = 0;
    for (;;) {
        int64_t left = deadline == INT64_MAX ? -1 : deadline - sdk_now_ms();
        if (left < -1) {
            left = 0;
        }
        n = poll_once(c, left > INT_MAX ? INT_MAX : (int)left);
        if (n != 0 || c->interrupted || c->refused || (deadline != INT64_MAX && left <= 0)) {
            break;
        }
    }
    if (c->refused) {
        c->refused = 0;
        return -1;
    }
    return n;
}

int joinery_fd(joinery_client_t *c)
{
    int fd = -1;
    size_t len = sizeof fd;
    if (c->sock == NULL || zmq_getsockopt(c->sock, ZMQ_FD, &fd, &len) != 0) {
        return -1;
    }
    return fd;
}

int joinery_timeout_ms(joinery_client_t *c)
{
    int64_t t = next_timer_ms(c, sdk_now_ms());
    if (sdk_outbox_count_in(c->outbox, SDK_OUTBOX_QUEUED) > 0 && c->state == ST_READY) {
        t = 0;
    }
    return t > INT_MAX ? INT_MAX : (int)t;
}

int joinery_connected(const joinery_client_t *c)
{
    return c->state == ST_READY;
}

static int status_done(joinery_client_t *c, const void *arg)
{
    (void)arg;
    return c->status_json != NULL || c->status_failed;
}

int joinery_status(joinery_client_t *c, char **json_out, int timeout_ms)
{
    free(c->status_json);
    c->status_json = NULL;
    c->status_wanted = 1;
    c->status_sent = 0;
    c->status_failed = 0;
    int rc = wait_until(c, timeout_ms, status_done, NULL);
    c->status_wanted = 0;
    if (rc != 0 || c->status_json == NULL) {
        if (rc != 0 && !c->status_failed && !c->refused) {
            seterr(c, "no STATUS-REPLY within %d ms", timeout_ms);
        }
        return -1;
    }
    *json_out = c->status_json;
    c->status_json = NULL;
    return 0;
}

const char *joinery_last_error(const joinery_client_t *c)
{
    return c == NULL ? "no client" : c->err;
}

void joinery_event_id_new(char out[27])
{
    /* Thread-local because this function has no client to keep the monotonic state in (ids
     * are wanted before connecting, e.g. to store in an outbox table), and per thread rather
     * than per process so no lock is needed and no thread sees another's state. */
    static _Thread_local sdk_ulid_t gen;
    if (!gen.started && sodium_init() < 0) {
        /* randombytes falls back to its own initialisation; ids stay valid. */
    }
    sdk_ulid_next(&gen, out);
}

const char *joinery_version(void)
{
    return JOINERY_SDK_VERSION;
}
