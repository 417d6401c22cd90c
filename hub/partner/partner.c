/* partner.c - a thread per partner (partner.h): its link to the hub as the
 * adapter "partner:NAME", its librdkafka producer and consumer, and the
 * reports that carry what Kafka acknowledged to the core.
 *
 * Every protocol exchange here is an ordinary adapter's (docs/protocol.md),
 * so the hub's checks, permissions, master data, durable cursor, per-entity
 * order and retries apply to a partner unchanged. What is particular is
 * when a delivery is settled: when Kafka's delivery report says the record
 * is on the partner's brokers, never before. A Kafka outage therefore holds
 * the deliveries in flight (up to the subscription's credit), the hub stops
 * sending more, and the cursor waits; local subscribers are not affected. */
#include "partner/partner_int.h"

#include "base/log.h"
#include "base/pbwire.h"

#include <joinery/v1/protocol.pb-c.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define PIPE_ENDPOINT "inproc://joinery-partner-reports"
#define SUBSCRIPTION "kafka"
/* Deliveries in flight to Kafka at most: the subscription's credit, and the
 * size of the pool of their records, allocated once. */
#define CREDIT 1000
/* The mirror's: with 1,000 in flight it produced at about 35,000 events/s on
 * the 2-core bench machine, with 5,000 it keeps up with the journal (see
 * bench/partner/README.md). It must stay well below the router's send
 * high-water mark per peer (10,000 messages, router.c): in the worst case
 * each delivery is a DELIVER of its own, and a DELIVER dropped at the mark
 * would hold its credit until the session ends (10,000 stalled the bench).
 * Its records need no pool: each carries its seq. */
#ifndef MIRROR_CREDIT
#define MIRROR_CREDIT 5000
#endif
#define POLL_MS 5
#define HELLO_EVERY_US 1000000
#define RETRY_PUBLISH_US 500000
#define KAFKA_LOG_US 10000000

typedef struct flight {
    partner_disclosure_t d;
    struct flight *next;
} flight_t;

typedef struct link {
    struct partner *owner;
    const config_t *hub;
    const config_partner_t *cfg;
    const char *endpoint;
    pthread_t thread;
    bool started;
    void *dealer, *pipe, *answers;
    rd_kafka_t *producer, *consumer;
    partner_report_t *report;
    pb_scratch_t payload, out, publish;
    flight_t *pool, *free;
    bool welcomed;
    int64_t hb_us, next_hb_us, next_hello_us;
    /* the inbound record the hub has not yet CONFIRMed */
    rd_kafka_message_t *in_msg;
    char in_event_id[PARTNER_ID_MAX];
    int64_t in_resend_us;
    _Atomic int64_t log_us; /* librdkafka's log lines (kafka_log) */
    _Atomic uint64_t log_suppressed;
} link_t;

struct partner {
    void *ctx;
    void *pull;
    void **answer; /* per link, the core's end of its answers (PUSH) */
    link_t *links;
    size_t n;
    atomic_bool stop;
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- reports ---- */

void partner_report_free(partner_report_t **rp)
{
    partner_report_t *r = *rp;
    if (!r)
        return;
    if (r->held)
        joinery__v1__deliver__free_unpacked(r->held, NULL);
    free(r->d);
    free(r->seqs);
    free(r->r);
    free(r->ids);
    free(r->granted);
    free(r);
    *rp = NULL;
}

static partner_report_t *report_new(link_t *l)
{
    partner_report_t *r = calloc(1, sizeof *r);
    if (r) {
        r->partner = l->cfg;
        r->link = (size_t)(l - l->owner->links);
    }
    return r;
}

static partner_report_t *report_get(link_t *l)
{
    if (!l->report)
        l->report = report_new(l);
    return l->report;
}

static partner_disclosure_t *report_add(link_t *l)
{
    partner_report_t *r = report_get(l);
    if (r && r->nd == r->capd) {
        size_t cap = r->capd ? 2 * r->capd : 64;
        partner_disclosure_t *d = realloc(r->d, cap * sizeof *d);
        if (!d)
            return NULL;
        r->d = d;
        r->capd = cap;
    }
    return r ? &r->d[r->nd++] : NULL;
}

/* A settled delivery of the mirror: only its seq. 0, or -1 out of memory. */
static int report_seq(link_t *l, uint64_t seq)
{
    partner_report_t *r = report_get(l);
    if (r && r->nseqs == r->capseqs) {
        size_t cap = r->capseqs ? 2 * r->capseqs : 1024;
        uint64_t *q = realloc(r->seqs, cap * sizeof *q);
        if (!q)
            return -1;
        r->seqs = q;
        r->capseqs = cap;
    }
    if (!r)
        return -1;
    r->seqs[r->nseqs++] = seq;
    return 0;
}

static partner_refusal_t *report_refusal(link_t *l)
{
    partner_report_t *r = report_get(l);
    if (r && r->nr == r->capr) {
        size_t cap = r->capr ? 2 * r->capr : 8;
        partner_refusal_t *x = realloc(r->r, cap * sizeof *x);
        if (!x)
            return NULL;
        r->r = x;
        r->capr = cap;
    }
    return r ? &r->r[r->nr++] : NULL;
}

/* Hands the turn's report to the core; ownership passes with the pointer. */
static void report_send(link_t *l)
{
    if (!l->report || (!l->report->nd && !l->report->nr && !l->report->nseqs))
        return;
    partner_report_t *r = l->report;
    if (zmq_send(l->pipe, &r, sizeof r, 0) == (int)sizeof r)
        l->report = NULL;
}

/* ---- the hub link ---- */

static size_t link_credit(const link_t *l)
{
    return l->cfg->mirror ? MIRROR_CREDIT : CREDIT;
}

static void send_cmd(link_t *l, const char *cmd, const void *body, size_t len)
{
    zmq_send(l->dealer, cmd, strlen(cmd), ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(l->dealer, body, len, ZMQ_DONTWAIT);
}

static void send_hello(link_t *l)
{
    Joinery__V1__Hello h = JOINERY__V1__HELLO__INIT;
    h.protocol_version = 1;
    h.adapter = l->cfg->adapter;
    h.sdk_version = (char *)"joineryd-partner";
    uint8_t buf[256];
    if (joinery__v1__hello__get_packed_size(&h) <= sizeof buf)
        send_cmd(l, "HELLO", buf, joinery__v1__hello__pack(&h, buf));
}

static void send_heartbeat(link_t *l, int64_t now)
{
    Joinery__V1__Heartbeat h = JOINERY__V1__HEARTBEAT__INIT;
    h.time_us = (uint64_t)now;
    uint8_t buf[32];
    send_cmd(l, "HEARTBEAT", buf, joinery__v1__heartbeat__pack(&h, buf));
}

static void send_subscribe(link_t *l)
{
    Joinery__V1__Subscribe s = JOINERY__V1__SUBSCRIBE__INIT;
    s.subscription = (char *)SUBSCRIPTION;
    s.patterns = l->cfg->out_types.items;
    s.n_patterns = l->cfg->out_types.count;
    s.credit = (uint32_t)link_credit(l);
    size_t n = joinery__v1__subscribe__get_packed_size(&s);
    if (scratch_reserve(&l->publish, n) == 0)
        send_cmd(l, "SUBSCRIBE", l->publish.data,
                 joinery__v1__subscribe__pack(&s, l->publish.data));
}

static void send_nack(link_t *l, uint64_t seq, const char *why)
{
    Joinery__V1__Nack m = JOINERY__V1__NACK__INIT;
    m.subscription = (char *)SUBSCRIPTION;
    m.seq = seq;
    m.reason = (char *)why;
    uint8_t buf[512];
    if (joinery__v1__nack__get_packed_size(&m) <= sizeof buf)
        send_cmd(l, "NACK", buf, joinery__v1__nack__pack(&m, buf));
}

/* ---- outbound ---- */

static void copy_text(char *to, size_t cap, const char *from)
{
    snprintf(to, cap, "%s", from ? from : "");
}

static void fill(partner_disclosure_t *d, uint64_t seq, const Joinery__V1__Envelope *e)
{
    memset(d, 0, sizeof *d);
    d->seq = seq;
    copy_text(d->event_id, sizeof d->event_id, e ? e->event_id : "");
    copy_text(d->master_id, sizeof d->master_id, e ? e->master_id : "");
    copy_text(d->type, sizeof d->type, e ? e->type : "");
    d->at_us = now_us();
}

static void withhold(link_t *l, uint64_t seq, const Joinery__V1__Envelope *e, const char *why)
{
    partner_disclosure_t *d = report_add(l);
    if (!d) {
        send_nack(l, seq, "hub out of memory");
        return;
    }
    fill(d, seq, e);
    copy_text(d->reason, sizeof d->reason, why);
}

/* The record key: the golden record, so one person's events share a
 * partition and keep their order. */
static const char *record_key(const Joinery__V1__Envelope *e)
{
    if (e->master_id && e->master_id[0])
        return e->master_id;
    if (e->source_record_id && e->source_record_id[0])
        return e->source_record_id;
    return e->event_id ? e->event_id : "";
}

static void produce(link_t *l, uint64_t seq, const Joinery__V1__Envelope *e, const char *fields)
{
    flight_t *f = l->free;
    if (!f) { /* cannot be: the hub sends no more than CREDIT unsettled */
        send_nack(l, seq, "partner bridge has too many records in flight");
        return;
    }
    l->free = f->next;
    fill(&f->d, seq, e);
    f->d.shared = true;
    copy_text(f->d.fields, sizeof f->d.fields, fields);
    char version[16];
    snprintf(version, sizeof version, "%u", e->schema_version);
    const char *key = record_key(e);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        l->producer, RD_KAFKA_V_TOPIC(l->cfg->out_topic), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE(l->out.data, l->out.len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADER("joinery-type", e->type, -1),
        RD_KAFKA_V_HEADER("joinery-event-id", e->event_id, -1),
        RD_KAFKA_V_HEADER("joinery-schema-version", version, -1), RD_KAFKA_V_OPAQUE(f),
        RD_KAFKA_V_END);
    if (err) {
        f->next = l->free;
        l->free = f;
        send_nack(l, seq, rd_kafka_err2str(err));
    }
}

static void on_delivery(link_t *l, const Joinery__V1__Delivery *dv, bool consent)
{
    if (dv->transient)
        return; /* at most once, and nothing to settle */
    Joinery__V1__Envelope *e =
        joinery__v1__envelope__unpack(NULL, dv->envelope.len, dv->envelope.data);
    char fields[PARTNER_FIELDS_MAX], why[160];
    int rc = e ? partner_minimise(l->cfg, e, consent, &l->payload, &l->out, fields, sizeof fields,
                                  why, sizeof why)
               : 0;
    if (!e)
        snprintf(why, sizeof why, "the journaled event is not an envelope");
    if (rc == 1)
        produce(l, dv->seq, e, fields);
    else if (rc == 0)
        withhold(l, dv->seq, e, why);
    else
        send_nack(l, dv->seq, why);
    if (e)
        joinery__v1__envelope__free_unpacked(e, NULL);
}

/* The master id a delivery's consent is looked up by ("" if none). */
static void master_of(const Joinery__V1__Delivery *dv, char out[PARTNER_ID_MAX])
{
    out[0] = '\0';
    Joinery__V1__Envelope *e =
        joinery__v1__envelope__unpack(NULL, dv->envelope.len, dv->envelope.data);
    if (e)
        copy_text(out, PARTNER_ID_MAX, e->master_id);
    if (e)
        joinery__v1__envelope__free_unpacked(e, NULL);
}

/* Asks the core about the consent of M's persons; M goes with the question. */
static int ask(link_t *l, Joinery__V1__Deliver *m)
{
    partner_report_t *q = report_new(l);
    if (!q || !(q->ids = calloc(m->n_deliveries + 1, sizeof *q->ids)) ||
        !(q->granted = calloc(m->n_deliveries + 1, sizeof *q->granted))) {
        partner_report_free(&q);
        return -1;
    }
    for (size_t i = 0; i < m->n_deliveries; i++)
        master_of(m->deliveries[i], q->ids[i]);
    q->nq = m->n_deliveries;
    q->held = m;
    if (zmq_send(l->pipe, &q, sizeof q, 0) != (int)sizeof q) {
        q->held = NULL;
        partner_report_free(&q);
        return -1;
    }
    return 0;
}

/* ---- the journal mirror (config_partner_t.mirror) ----
 *
 * Each delivery's envelope is produced as the journal holds it: no
 * minimisation, no consent, no disclosure row. DELIVER and envelope are read
 * in place (pbwire), so an event costs no allocation of ours (librdkafka's
 * copy of the record aside) and no query. Order per key: the hub has at most
 * one event per entity in flight (deliver.h), and the next one comes only
 * after Kafka acknowledged this one, so the topic holds each key's events in
 * journal order; the idempotent producer keeps its retries in order too. */

/* A record's opaque carries its seq. */
_Static_assert(sizeof(uintptr_t) >= sizeof(uint64_t), "the mirror needs 64-bit pointers");

typedef struct {
    const uint8_t *event_id, *type, *source, *record, *master;
    size_t event_id_len, type_len, source_len, record_len, master_len;
    uint64_t schema_version;
} mirror_env_t;

/* The envelope's fields the record's key and headers need (last value wins,
 * as protobuf reads them: the hub appends master_id to the journaled bytes). */
static int mirror_scan(const uint8_t *buf, size_t len, mirror_env_t *m)
{
    memset(m, 0, sizeof *m);
    pb_reader_t r = {buf, buf + len};
    pb_field_t f;
    int rc;
    while ((rc = pb_next(&r, &f)) == 1) {
        if (f.wire == PB_VARINT && f.field == 10)
            m->schema_version = f.u;
        if (f.wire != PB_LEN)
            continue;
        switch (f.field) {
        case 1:
            m->event_id = f.ptr, m->event_id_len = f.len;
            break;
        case 2:
            m->type = f.ptr, m->type_len = f.len;
            break;
        case 3:
            m->source = f.ptr, m->source_len = f.len;
            break;
        case 4:
            m->record = f.ptr, m->record_len = f.len;
            break;
        case 5:
            m->master = f.ptr, m->master_len = f.len;
            break;
        default:
            break;
        }
    }
    return rc == 0 && m->event_id_len ? 0 : -1;
}

/* The record key: the golden record, or else the source's entity
 * ("SOURCE/RECORD", or "SOURCE/EVENT_ID" for an event about no record),
 * as the hub orders delivery (ingest.c's entity_key). */
static size_t mirror_key(const mirror_env_t *m, char *out, size_t cap)
{
    int n;
    if (m->master_len)
        n = snprintf(out, cap, "%.*s", (int)m->master_len, (const char *)m->master);
    else if (m->record_len)
        n = snprintf(out, cap, "%.*s/%.*s", (int)m->source_len, (const char *)m->source,
                     (int)m->record_len, (const char *)m->record);
    else
        n = snprintf(out, cap, "%.*s/%.*s", (int)m->source_len, (const char *)m->source,
                     (int)m->event_id_len, (const char *)m->event_id);
    return n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
}

static void mirror_produce(link_t *l, uint64_t seq, const uint8_t *env, size_t len)
{
    mirror_env_t m;
    if (mirror_scan(env, len, &m) < 0) {
        /* cannot be: the hub journals only envelopes with an event id */
        send_nack(l, seq, "the journaled event is not an envelope");
        return;
    }
    char key[2 * PARTNER_ID_MAX + 2], sseq[24], version[24];
    size_t klen = mirror_key(&m, key, sizeof key);
    int sl = snprintf(sseq, sizeof sseq, "%llu", (unsigned long long)seq);
    int vl = snprintf(version, sizeof version, "%llu", (unsigned long long)m.schema_version);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        l->producer, RD_KAFKA_V_TOPIC(l->cfg->out_topic), RD_KAFKA_V_KEY(key, klen),
        RD_KAFKA_V_VALUE((void *)env, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADER("joinery-seq", sseq, sl),
        RD_KAFKA_V_HEADER("joinery-event-id", m.event_id, (ssize_t)m.event_id_len),
        RD_KAFKA_V_HEADER("joinery-type", m.type, (ssize_t)m.type_len),
        RD_KAFKA_V_HEADER("joinery-schema-version", version, vl),
        RD_KAFKA_V_OPAQUE((void *)(uintptr_t)seq), RD_KAFKA_V_END);
    if (err)
        send_nack(l, seq, rd_kafka_err2str(err));
}

/* A DELIVER for the mirror, read in place: Deliver{2: Delivery{1 seq,
 * 3 envelope, 4 transient}}. */
static void mirror_deliver(link_t *l, const uint8_t *body, size_t len)
{
    pb_reader_t r = {body, body + len};
    pb_field_t f;
    while (pb_next(&r, &f) == 1) {
        if (f.field != 2 || f.wire != PB_LEN)
            continue;
        pb_reader_t d = {f.ptr, f.ptr + f.len};
        pb_field_t g;
        uint64_t seq = 0, transient = 0;
        const uint8_t *env = NULL;
        size_t env_len = 0;
        while (pb_next(&d, &g) == 1) {
            if (g.field == 1 && g.wire == PB_VARINT)
                seq = g.u;
            else if (g.field == 3 && g.wire == PB_LEN)
                env = g.ptr, env_len = g.len;
            else if (g.field == 4 && g.wire == PB_VARINT)
                transient = g.u;
        }
        if (!transient && seq && env)
            mirror_produce(l, seq, env, env_len);
    }
}

static void on_deliver(link_t *l, const uint8_t *body, size_t len)
{
    if (l->cfg->mirror) {
        mirror_deliver(l, body, len);
        return;
    }
    Joinery__V1__Deliver *m = joinery__v1__deliver__unpack(NULL, len, body);
    if (!m)
        return;
    if (l->cfg->consent_required && ask(l, m) == 0)
        return; /* answered in on_answer */
    /* Without a question (none needed, or none could be asked) consent
     * counts as not given: withheld where the agreement requires it. */
    for (size_t i = 0; i < m->n_deliveries; i++)
        on_delivery(l, m->deliveries[i], false);
    joinery__v1__deliver__free_unpacked(m, NULL);
}

static void on_answer(link_t *l)
{
    partner_report_t *q;
    while (zmq_recv(l->answers, &q, sizeof q, ZMQ_DONTWAIT) == (int)sizeof q) {
        Joinery__V1__Deliver *m = q->held;
        for (size_t i = 0; i < m->n_deliveries && i < q->nq; i++)
            on_delivery(l, m->deliveries[i], q->granted[i]);
        partner_report_free(&q);
    }
}

/* librdkafka's delivery report, called from rd_kafka_poll on this thread. */
static void delivered(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    link_t *l = opaque;
    if (l->cfg->mirror) { /* the record's opaque is its seq (mirror_produce) */
        uint64_t seq = (uint64_t)(uintptr_t)msg->_private;
        if (msg->err)
            send_nack(l, seq, rd_kafka_err2str(msg->err));
        else if (report_seq(l, seq) < 0)
            send_nack(l, seq, "hub out of memory");
        return;
    }
    flight_t *f = msg->_private;
    if (msg->err) {
        /* With message.timeout.ms 0 only a fatal error or a purge ends here:
         * the event is offered again (the hub counts the attempts). */
        send_nack(l, f->d.seq, rd_kafka_err2str(msg->err));
    } else {
        partner_disclosure_t *d = report_add(l);
        if (d)
            *d = f->d;
        else
            send_nack(l, f->d.seq, "hub out of memory");
    }
    f->next = l->free;
    l->free = f;
}

/* ---- inbound ---- */

static void put_varint(pb_scratch_t *b, uint64_t v)
{
    while (v >= 0x80) {
        b->data[b->len++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b->data[b->len++] = (uint8_t)v;
}

/* PUBLISH of the record's bytes as they are, with the partner's adapter
 * appended as source (protobuf's last value wins), so whatever the partner
 * wrote there, the hub sees who sent it. Bytes that are not an envelope are
 * published all the same: the hub refuses them and keeps them. */
static void publish_record(link_t *l)
{
    const rd_kafka_message_t *m = l->in_msg;
    const char *src = l->cfg->adapter;
    size_t slen = strlen(src), env_len = m->len + (l->in_event_id[0] ? 2 + slen : 0);
    if (scratch_reserve(&l->publish, env_len + 32) < 0)
        return;
    l->publish.len = 0;
    l->publish.data[l->publish.len++] = 0x0a; /* Publish.events, length-delimited */
    put_varint(&l->publish, env_len);
    if (m->len)
        memcpy(l->publish.data + l->publish.len, m->payload, m->len);
    l->publish.len += m->len;
    if (l->in_event_id[0]) {
        l->publish.data[l->publish.len++] = 0x1a; /* Envelope.source */
        l->publish.data[l->publish.len++] = (uint8_t)slen;
        memcpy(l->publish.data + l->publish.len, src, slen);
        l->publish.len += slen;
    }
    send_cmd(l, "PUBLISH", l->publish.data, l->publish.len);
    l->in_resend_us = now_us() + RETRY_PUBLISH_US * 10;
}

static void refuse_record(link_t *l, const rd_kafka_message_t *m, const char *why)
{
    partner_refusal_t *r = report_refusal(l);
    if (r) {
        copy_text(r->topic, sizeof r->topic, rd_kafka_topic_name(m->rkt));
        r->partition = m->partition;
        r->offset = m->offset;
        copy_text(r->reason, sizeof r->reason, why);
        r->at_us = now_us();
    }
    /* Before the PUBLISH, so the core has the row by the time it refuses it. */
    report_send(l);
    log_warn("partner", "partner '%s': record %s/%d@%lld refused: %s", l->cfg->name,
             rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset, why);
}

static void take_record(link_t *l, rd_kafka_message_t *m)
{
    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            log_warn("partner", "partner '%s': consumer: %s", l->cfg->name,
                     rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        return;
    }
    l->in_msg = m;
    l->in_event_id[0] = '\0';
    Joinery__V1__Envelope *e = joinery__v1__envelope__unpack(NULL, m->len, m->payload);
    if (e && e->event_id && e->event_id[0])
        copy_text(l->in_event_id, sizeof l->in_event_id, e->event_id);
    else
        refuse_record(l, m,
                      e ? "the record is an envelope without an event_id"
                        : "the record is not a joinery.v1.Envelope");
    if (e)
        joinery__v1__envelope__free_unpacked(e, NULL);
    publish_record(l);
}

/* The next offset to read, committed by librdkafka from here on. */
static void store_offset(link_t *l)
{
    const rd_kafka_message_t *m = l->in_msg;
    rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(t, rd_kafka_topic_name(m->rkt), m->partition)->offset =
        m->offset + 1;
    rd_kafka_resp_err_t e = rd_kafka_offsets_store(l->consumer, t);
    if (e)
        log_warn("partner", "partner '%s': cannot store offset %lld: %s", l->cfg->name,
                 (long long)m->offset + 1, rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(t);
}

/* The hub answered the record in flight: journaled, a duplicate, or refused
 * (and kept) all let the partition move on; RETRY sends it again later. */
static void on_confirm(link_t *l, const uint8_t *body, size_t len)
{
    Joinery__V1__Confirm *m = joinery__v1__confirm__unpack(NULL, len, body);
    if (!m)
        return;
    for (size_t i = 0; i < m->n_entries && l->in_msg; i++) {
        const Joinery__V1__ConfirmEntry *c = m->entries[i];
        if (strcmp(c->event_id ? c->event_id : "", l->in_event_id) != 0)
            continue;
        if (c->status == JOINERY__V1__CONFIRM_STATUS__CONFIRM_RETRY) {
            l->in_resend_us = now_us() + RETRY_PUBLISH_US;
            continue;
        }
        if (c->status == JOINERY__V1__CONFIRM_STATUS__CONFIRM_REJECTED && l->in_event_id[0])
            log_warn("partner", "partner '%s': event %s refused by the hub: %s", l->cfg->name,
                     l->in_event_id, c->reason ? c->reason : "");
        store_offset(l);
        rd_kafka_message_destroy(l->in_msg);
        l->in_msg = NULL;
    }
    joinery__v1__confirm__free_unpacked(m, NULL);
}

/* ---- messages from the hub ---- */

static void on_welcome(link_t *l, const uint8_t *body, size_t len)
{
    Joinery__V1__Welcome *w = joinery__v1__welcome__unpack(NULL, len, body);
    l->hb_us = (w && w->heartbeat_ms ? w->heartbeat_ms : 1000) * 1000LL / 2;
    if (w)
        joinery__v1__welcome__free_unpacked(w, NULL);
    l->welcomed = true;
    log_info("partner", "partner '%s': linked to the hub as adapter '%s'", l->cfg->name,
             l->cfg->adapter);
    if (l->producer)
        send_subscribe(l);
    if (l->in_msg)
        publish_record(l);
}

/* The record in flight was refused before it had an event id (the hub
 * keeps its bytes, and answers ERROR, as it cannot CONFIRM by event id). */
static void record_refused(link_t *l)
{
    store_offset(l);
    rd_kafka_message_destroy(l->in_msg);
    l->in_msg = NULL;
}

static void on_error(link_t *l, const uint8_t *body, size_t len)
{
    Joinery__V1__Error *e = joinery__v1__error__unpack(NULL, len, body);
    if (e && e->code == JOINERY__V1__ERROR_CODE__ERROR_NO_SESSION)
        l->welcomed = false; /* expired meanwhile: HELLO again */
    if (e && e->command && !strcmp(e->command, "PUBLISH") && l->in_msg && !l->in_event_id[0] &&
        e->code == JOINERY__V1__ERROR_CODE__ERROR_BAD_FRAME) {
        record_refused(l);
        joinery__v1__error__free_unpacked(e, NULL);
        return;
    }
    log_warn("partner", "partner '%s': the hub answered %s with an error: %s", l->cfg->name,
             e && e->command ? e->command : "?", e && e->reason ? e->reason : "?");
    if (e && e->command && !strcmp(e->command, "HELLO"))
        l->welcomed = false;
    if (e)
        joinery__v1__error__free_unpacked(e, NULL);
}

static void on_hub(link_t *l, const char *cmd, const uint8_t *body, size_t len)
{
    if (!strcmp(cmd, "DELIVER"))
        on_deliver(l, body, len);
    else if (!strcmp(cmd, "CONFIRM"))
        on_confirm(l, body, len);
    else if (!strcmp(cmd, "WELCOME"))
        on_welcome(l, body, len);
    else if (!strcmp(cmd, "ERROR"))
        on_error(l, body, len);
    else if (!strcmp(cmd, "GOODBYE"))
        l->welcomed = false;
}

static void read_hub(link_t *l)
{
    for (;;) {
        zmq_msg_t cmd, body;
        zmq_msg_init(&cmd);
        zmq_msg_init(&body);
        int ok = zmq_msg_recv(&cmd, l->dealer, ZMQ_DONTWAIT) >= 0 && zmq_msg_more(&cmd) &&
                 zmq_msg_recv(&body, l->dealer, 0) >= 0;
        while (ok && zmq_msg_more(&body)) /* a frame more than the protocol has: drop it */
            zmq_msg_recv(&body, l->dealer, 0);
        if (ok && zmq_msg_size(&cmd) < 32) {
            char name[32];
            memcpy(name, zmq_msg_data(&cmd), zmq_msg_size(&cmd));
            name[zmq_msg_size(&cmd)] = '\0';
            on_hub(l, name, zmq_msg_data(&body), zmq_msg_size(&body));
        }
        zmq_msg_close(&cmd);
        zmq_msg_close(&body);
        if (!ok)
            return;
    }
}

/* ---- the thread ---- */

static void turn(link_t *l)
{
    int64_t now = now_us();
    if (!l->welcomed && now >= l->next_hello_us) {
        send_hello(l);
        l->next_hello_us = now + HELLO_EVERY_US;
    }
    zmq_pollitem_t it[2] = {{l->dealer, 0, ZMQ_POLLIN, 0}, {l->answers, 0, ZMQ_POLLIN, 0}};
    if (zmq_poll(it, 2, POLL_MS) > 0) {
        if (it[1].revents & ZMQ_POLLIN)
            on_answer(l);
        if (it[0].revents & ZMQ_POLLIN)
            read_hub(l);
    }
    now = now_us();
    if (l->welcomed && now >= l->next_hb_us) {
        send_heartbeat(l, now);
        l->next_hb_us = now + l->hb_us;
    }
    if (l->producer)
        rd_kafka_poll(l->producer, 0);
    if (l->consumer && l->welcomed && !l->in_msg) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(l->consumer, 0);
        if (m)
            take_record(l, m);
    } else if (l->in_msg && l->welcomed && now >= l->in_resend_us) {
        publish_record(l);
    }
    report_send(l);
}

static void *run(void *arg)
{
    link_t *l = arg;
    while (!atomic_load(&l->owner->stop))
        turn(l);
    return NULL;
}

/* ---- librdkafka ---- */

/* librdkafka's own lines (from its threads): warnings and worse, at most
 * one every KAFKA_LOG_US per partner, with a count of those left out; a
 * broker that is down would otherwise say so many times a second. */
static void kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    link_t *l = rd_kafka_opaque(rk);
    if (level > 4 || !l)
        return;
    int64_t now = now_us(), last = atomic_load(&l->log_us);
    if (now - last < KAFKA_LOG_US || !atomic_compare_exchange_strong(&l->log_us, &last, now)) {
        atomic_fetch_add(&l->log_suppressed, 1);
        return;
    }
    uint64_t left = atomic_exchange(&l->log_suppressed, 0);
    log_warn("partner", "partner '%s': kafka %s: %s (%llu similar line(s) left out before)",
             l->cfg->name, fac, buf, (unsigned long long)left);
}

static rd_kafka_conf_t *kafka_conf(link_t *l, char *err, size_t errlen)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    const config_partner_t *p = l->cfg;
    if (rd_kafka_conf_set(c, "bootstrap.servers", p->brokers, err, errlen) != RD_KAFKA_CONF_OK)
        goto fail;
    /* librdkafka waits up to 10 s between attempts to reach a broker that was down, so after an
     * outage the partner sat idle for up to 10 s with its brokers back (measured: 10 s after a
     * 4 s outage, 0.9 s with this). One attempt a second costs a broker nothing. Before the
     * configuration's own properties, which may set it otherwise. */
    if (rd_kafka_conf_set(c, "reconnect.backoff.max.ms", "1000", err, errlen) != RD_KAFKA_CONF_OK)
        goto fail;
    for (size_t i = 0; i + 1 < p->kprops.count; i += 2)
        if (rd_kafka_conf_set(c, p->kprops.items[i], p->kprops.items[i + 1], err, errlen) !=
            RD_KAFKA_CONF_OK)
            goto fail;
    rd_kafka_conf_set_log_cb(c, kafka_log);
    rd_kafka_conf_set_opaque(c, l);
    return c;
fail:
    rd_kafka_conf_destroy(c);
    return NULL;
}

static int set_all(rd_kafka_conf_t *c, const char *const *kv, char *err, size_t errlen)
{
    for (; kv[0]; kv += 2)
        if (rd_kafka_conf_set(c, kv[0], kv[1], err, errlen) != RD_KAFKA_CONF_OK)
            return -1;
    return 0;
}

static int start_producer(link_t *l, char *err, size_t errlen)
{
    /* Idempotent: a retried send is written once and in order. No timeout:
     * an outage holds the records (and the cursor) until the brokers are back. */
    static const char *const kv[] = {
        "enable.idempotence", "true", "message.timeout.ms", "0", "linger.ms", "5", NULL};
    rd_kafka_conf_t *c = kafka_conf(l, err, errlen);
    if (!c || set_all(c, kv, err, errlen) < 0) {
        if (c)
            rd_kafka_conf_destroy(c);
        return -1;
    }
    rd_kafka_conf_set_dr_msg_cb(c, delivered);
    l->producer = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, errlen);
    if (!l->producer)
        rd_kafka_conf_destroy(c);
    return l->producer ? 0 : -1;
}

static int start_consumer(link_t *l, char *err, size_t errlen)
{
    /* Offsets are stored only once the hub answered (on_confirm), and
     * committed by librdkafka from the store. */
    static const char *const kv[] = {"enable.auto.offset.store", "false", "auto.offset.reset",
                                     "earliest", NULL};
    rd_kafka_conf_t *c = kafka_conf(l, err, errlen);
    if (!c || set_all(c, kv, err, errlen) < 0 ||
        rd_kafka_conf_set(c, "group.id", l->cfg->in_group, err, errlen) != RD_KAFKA_CONF_OK) {
        if (c)
            rd_kafka_conf_destroy(c);
        return -1;
    }
    l->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, errlen);
    if (!l->consumer) {
        rd_kafka_conf_destroy(c);
        return -1;
    }
    rd_kafka_poll_set_consumer(l->consumer);
    rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(t, l->cfg->in_topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(l->consumer, t);
    rd_kafka_topic_partition_list_destroy(t);
    if (e)
        snprintf(err, errlen, "cannot subscribe to %s: %s", l->cfg->in_topic, rd_kafka_err2str(e));
    return e ? -1 : 0;
}

/* The link's end of the core's answers, and the core's end (partner_answer). */
static int open_answers(partner_t *p, link_t *l, char *err, size_t errlen)
{
    size_t i = (size_t)(l - p->links);
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://joinery-partner-answers-%zu", i);
    l->answers = zmq_socket(p->ctx, ZMQ_PULL);
    p->answer[i] = zmq_socket(p->ctx, ZMQ_PUSH);
    if (!l->answers || !p->answer[i] || zmq_bind(l->answers, ep) < 0 ||
        zmq_connect(p->answer[i], ep) < 0)
        return snprintf(err, errlen, "cannot open %s: %s", ep, zmq_strerror(zmq_errno())), -1;
    return 0;
}

static int connect_hub(link_t *l, void *ctx, char *err, size_t errlen)
{
    l->dealer = zmq_socket(ctx, ZMQ_DEALER);
    l->pipe = zmq_socket(ctx, ZMQ_PUSH);
    if (!l->dealer || !l->pipe)
        return snprintf(err, errlen, "cannot make the partner's sockets"), -1;
    int linger = 0;
    zmq_setsockopt(l->dealer, ZMQ_LINGER, &linger, sizeof linger);
    if (l->hub->curve) {
        char hub_pub[41], pub[41];
        zmq_curve_public(hub_pub, l->hub->hub_secret_key);
        zmq_curve_public(pub, l->cfg->secret_key);
        zmq_setsockopt(l->dealer, ZMQ_CURVE_SERVERKEY, hub_pub, 40);
        zmq_setsockopt(l->dealer, ZMQ_CURVE_PUBLICKEY, pub, 40);
        zmq_setsockopt(l->dealer, ZMQ_CURVE_SECRETKEY, l->cfg->secret_key, 40);
    }
    if (zmq_connect(l->pipe, PIPE_ENDPOINT) < 0 || zmq_connect(l->dealer, l->endpoint) < 0)
        return snprintf(err, errlen, "cannot connect the partner link: %s",
                        zmq_strerror(zmq_errno())),
               -1;
    return 0;
}

static int link_start(partner_t *p, link_t *l, char *err, size_t errlen)
{
    char why[512] = "";
    if (open_answers(p, l, why, sizeof why) < 0 || connect_hub(l, p->ctx, why, sizeof why) < 0 ||
        (l->cfg->out_topic && start_producer(l, why, sizeof why) < 0) ||
        (l->cfg->in_topic && start_consumer(l, why, sizeof why) < 0)) {
        snprintf(err, errlen, "partner '%s': %s", l->cfg->name, why);
        return -1;
    }
    /* The mirror's records carry their seq as their opaque: no pool. */
    size_t credit = l->cfg->mirror ? 0 : link_credit(l);
    if (credit && (l->pool = calloc(credit, sizeof *l->pool)) == NULL)
        return snprintf(err, errlen, "out of memory"), -1;
    for (size_t i = 0; i < credit; i++) {
        l->pool[i].next = l->free;
        l->free = &l->pool[i];
    }
    if (pthread_create(&l->thread, NULL, run, l) != 0)
        return snprintf(err, errlen, "cannot start the thread of partner '%s'", l->cfg->name), -1;
    l->started = true;
    return 0;
}

/* ---- the module ---- */

int partner_make_keys(config_t *cfg, char *err, size_t errlen)
{
    if (!cfg->curve)
        return 0;
    for (size_t i = 0; i < cfg->npartners; i++) {
        config_partner_t *p = &cfg->partners[i];
        char pub[41], sec[41];
        if (zmq_curve_keypair(pub, sec) != 0) {
            snprintf(err, errlen, "cannot make a Curve key pair: %s", zmq_strerror(zmq_errno()));
            return -1;
        }
        for (size_t j = 0; j < cfg->nadapters; j++) {
            config_adapter_t *a = &cfg->adapters[j];
            if (strcmp(a->name, p->adapter) != 0)
                continue;
            free(a->public_key);
            a->public_key = strdup(pub);
        }
        free(p->secret_key);
        p->secret_key = strdup(sec);
        explicit_bzero(sec, sizeof sec);
        if (!p->secret_key) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

partner_t *partner_new(void *ctx, const config_t *cfg, const char *endpoint, char *err,
                       size_t errlen)
{
    partner_t *p = calloc(1, sizeof *p);
    if (!p || !(p->links = calloc(cfg->npartners, sizeof *p->links)) ||
        !(p->answer = calloc(cfg->npartners, sizeof *p->answer))) {
        if (p)
            free(p->links);
        free(p);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->ctx = ctx;
    atomic_init(&p->stop, false);
    p->pull = zmq_socket(ctx, ZMQ_PULL);
    if (!p->pull || zmq_bind(p->pull, PIPE_ENDPOINT) < 0) {
        snprintf(err, errlen, "cannot bind %s: %s", PIPE_ENDPOINT, zmq_strerror(zmq_errno()));
        partner_destroy(&p);
        return NULL;
    }
    for (size_t i = 0; i < cfg->npartners; i++) {
        link_t *l = &p->links[i];
        p->n = i + 1;
        l->owner = p;
        l->hub = cfg;
        l->cfg = &cfg->partners[i];
        l->endpoint = endpoint;
        if (link_start(p, l, err, errlen) < 0) {
            partner_destroy(&p);
            return NULL;
        }
    }
    return p;
}

void *partner_socket(partner_t *p)
{
    return p->pull;
}

void partner_answer(partner_t *p, partner_report_t **rp)
{
    partner_report_t *r = *rp;
    *rp = NULL;
    if (r->link >= p->n ||
        zmq_send(p->answer[r->link], &r, sizeof r, ZMQ_DONTWAIT) != (int)sizeof r)
        partner_report_free(&r); /* its deliveries stay unsettled and come again */
}

partner_report_t *partner_receive(partner_t *p)
{
    partner_report_t *r = NULL;
    if (zmq_recv(p->pull, &r, sizeof r, ZMQ_DONTWAIT) != (int)sizeof r)
        return NULL;
    return r;
}

static void link_stop(link_t *l)
{
    if (l->started)
        pthread_join(l->thread, NULL);
    if (l->producer) {
        /* What Kafka has not acknowledged stays unsettled in the hub and is
         * sent again after the restart: no report can reach the core now. */
        rd_kafka_purge(l->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(l->producer, 0);
        rd_kafka_destroy(l->producer);
    }
    if (l->consumer) {
        rd_kafka_consumer_close(l->consumer);
        rd_kafka_destroy(l->consumer);
    }
    if (l->in_msg)
        rd_kafka_message_destroy(l->in_msg);
    if (l->answers) {
        partner_report_t *q;
        while (zmq_recv(l->answers, &q, sizeof q, ZMQ_DONTWAIT) == (int)sizeof q)
            partner_report_free(&q);
        zmq_close(l->answers);
    }
    if (l->dealer)
        zmq_close(l->dealer);
    if (l->pipe)
        zmq_close(l->pipe);
    partner_report_free(&l->report);
    free(l->pool);
    free(l->payload.data);
    free(l->out.data);
    free(l->publish.data);
}

void partner_destroy(partner_t **pp)
{
    partner_t *p = *pp;
    if (!p)
        return;
    atomic_store(&p->stop, true);
    for (size_t i = 0; i < p->n; i++)
        link_stop(&p->links[i]);
    if (p->pull) {
        partner_report_t *r;
        while ((r = partner_receive(p)) != NULL)
            partner_report_free(&r);
        zmq_close(p->pull);
    }
    for (size_t i = 0; i < p->n; i++)
        if (p->answer[i])
            zmq_close(p->answer[i]);
    free(p->answer);
    free(p->links);
    free(p);
    *pp = NULL;
}
