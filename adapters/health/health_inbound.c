/* health_inbound.c - the MLLP listener of joinery-health (contract in health_inbound.h).
 *
 * Per connection: a framer, a FIFO of message slots (what each message is waiting for), a byte
 * ring beside it holding each slot's bytes (its MSH, to answer a refusal, and its ACK), and an
 * output buffer. The SDK's confirmations reach a slot through adapter_pending and only mark it
 * answered; health_inbound_flush writes the answered prefix of each queue, so ACK order is
 * message order and no socket is written from inside the SDK. */
#include "health_inbound.h"
#include "hl7.h"
#include "hl7_ack.h"
#include "hl7_map.h"
#include "mllp.h"
#include "common/adapter_log.h"
#include "common/adapter_pending.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 512 /* messages a connection may have in its queue */
#define RING_BYTES (256 * 1024)
#define RING_READ_FREE (64 * 1024) /* ring room needed before reading more */
#define OUT_BYTES (32 * 1024)
#define READ_CHUNK 8192
#define MSH_MAX 2048      /* longest MSH kept to answer a refusal */
#define ACK_MAX 16384     /* longest ACK written */
#define PAYLOAD_MAX 65536 /* largest packed payload */
#define REASON_MAX 400
#define MAX_ATTRS (4 + HL7_MAP_MAX_ISSUES)
#define ATTR_TEXT 4096
#define LOG_BURST 10 /* refusals logged per minute before the rest are only counted */
#define KEEP_ESCAPED (MLLP_KEEP * 4 + 8)

typedef enum { SLOT_WAIT, SLOT_READY, SLOT_ABANDONED } slot_state_t;

typedef struct conn conn_t;

typedef struct {
    conn_t *conn;
    uint32_t off, cap; /* this slot's bytes in the ring */
    uint32_t msh_len;  /* MSH copy at off (deferred answers) */
    uint32_t ack_off, ack_len;
    uint8_t state, nwait, failed, code;
    char reason[REASON_MAX];
} slot_t;

struct conn {
    int fd;
    uint64_t id;
    char peer[64];
    mllp_t *framer;
    slot_t slots[SLOTS];
    size_t first, count;
    unsigned char *ring; /* RING_BYTES; owned */
    size_t head, tail;
    unsigned char out[OUT_BYTES];
    size_t olen;
    int eof, dead;
    health_inbound_t *h;
};

struct health_inbound {
    health_inbound_opts_t o;
    joinery_client_t *client; /* borrowed */
    adapter_pending_t *pending;
    int lfd, port, quiet;
    conn_t **conns; /* max_connections; owned, each owned */
    size_t nconns;
    uint64_t next_id;
    hl7_msg_t *msg, *ack_msg;
    hl7_mapped_t *mapped;
    hl7_map_opts_t map_opts;
    char today[11];
    time_t today_at, stamp_at;
    char stamp[24];
    uint64_t ack_seq;
    char ack_prefix[24];
    char scratch[ACK_MAX];
    unsigned char payload[PAYLOAD_MAX];
    joinery_attr_t attrs[MAX_ATTRS];
    char attr_text[ATTR_TEXT];
    health_counters_t n, logged;
    struct {
        char type[8];
        uint64_t n;
    } by_type[32];
    size_t ntypes;
    time_t log_window;
    unsigned log_used;
    uint64_t log_skipped;
};

/* ---- small helpers ------------------------------------------------------------------------- */

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL, 0);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Refusals are logged, but a sender spraying garbage must not flood the log: LOG_BURST lines a
 * minute, then only a count. */
static int log_allowed(health_inbound_t *h)
{
    time_t now = time(NULL);
    if (now - h->log_window >= 60) {
        if (h->log_skipped)
            adapter_log(ADAPTER_LOG_WARN, "%" PRIu64 " more refusals in the last minute not logged",
                        h->log_skipped);
        h->log_window = now;
        h->log_used = 0;
        h->log_skipped = 0;
    }
    if (h->log_used < LOG_BURST) {
        h->log_used++;
        return 1;
    }
    h->log_skipped++;
    return 0;
}

/* A refused message's bytes, whole, in the refused directory (when one is configured): the
 * trust's analyst and ours can then look at exactly what came. */
static void keep_refused(health_inbound_t *h, const conn_t *c, const char *why, const void *data,
                         size_t len)
{
    if (h->o.refused_dir == NULL)
        return;
    char path[1024];
    struct timespec ts;
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    int n = snprintf(path, sizeof path, "%s/%lld.%09ld-c%" PRIu64 "-%s.hl7", h->o.refused_dir,
                     (long long)ts.tv_sec, ts.tv_nsec, c->id, why);
    if (n < 0 || (size_t)n >= sizeof path)
        return;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0) {
        if (log_allowed(h))
            adapter_log(ADAPTER_LOG_WARN, "cannot keep refused message in %s: %s", path,
                        strerror(errno));
        return;
    }
    const unsigned char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w <= 0)
            break;
        p += w;
        len -= (size_t)w;
    }
    close(fd);
}

static void refresh_clock(health_inbound_t *h)
{
    time_t now = time(NULL);
    if (now == h->stamp_at)
        return;
    struct tm tm;
    (void)gmtime_r(&now, &tm);
    (void)strftime(h->stamp, sizeof h->stamp, "%Y%m%d%H%M%S+0000", &tm);
    h->stamp_at = now;
    if (now / 86400 != h->today_at / 86400 || h->today[0] == '\0') {
        (void)strftime(h->today, sizeof h->today, "%Y-%m-%d", &tm);
        h->today_at = now;
    }
}

/* The ACK's own MSH-10: unique per process run (the start time) and per ACK. */
static const char *next_control_id(health_inbound_t *h, char *buf, size_t cap)
{
    (void)snprintf(buf, cap, "%s%" PRIu64, h->ack_prefix, ++h->ack_seq);
    return buf;
}

/* ---- the per-connection ring --------------------------------------------------------------- */

static size_t ring_free(const conn_t *c)
{
    if (c->count == 0)
        return RING_BYTES;
    if (c->tail >= c->head)
        return (RING_BYTES - c->tail) > c->head ? RING_BYTES - c->tail : c->head;
    return c->head - c->tail;
}

/* Takes N contiguous bytes after the newest slot's; -1 when they are not free. */
static int ring_take(conn_t *c, size_t n, uint32_t *off)
{
    if (c->count == 0)
        c->head = c->tail = 0;
    if (c->tail >= c->head) {
        if (RING_BYTES - c->tail >= n) {
            *off = (uint32_t)c->tail;
            c->tail += n;
            return 0;
        }
        /* Strictly less than head, so a full ring never looks empty. */
        if (n < c->head) {
            *off = 0;
            c->tail = n;
            return 0;
        }
        return -1;
    }
    if (c->head - c->tail > n) {
        *off = (uint32_t)c->tail;
        c->tail += n;
        return 0;
    }
    return -1;
}

/* A new slot at the end of the queue with CAP ring bytes; NULL when the queue or ring is full. */
static slot_t *slot_push(conn_t *c, size_t cap)
{
    uint32_t off;
    if (c->count == SLOTS || cap > RING_BYTES / 2 || ring_take(c, cap, &off) != 0)
        return NULL;
    slot_t *s = &c->slots[(c->first + c->count) % SLOTS];
    c->count++;
    memset(s, 0, offsetof(slot_t, reason));
    s->reason[0] = '\0';
    s->conn = c;
    s->off = off;
    s->cap = (uint32_t)cap;
    return s;
}

static void slot_pop(conn_t *c)
{
    c->first = (c->first + 1) % SLOTS;
    c->count--;
    if (c->count > 0)
        c->head = c->slots[c->first].off;
}

/* ---- answering ----------------------------------------------------------------------------- */

static void count_ack(health_inbound_t *h, hl7_ack_code_t code)
{
    if (code == HL7_AA)
        h->n.aa++;
    else if (code == HL7_AE)
        h->n.ae++;
    else
        h->n.ar++;
}

/* Builds the ACK for M into the slot's ring bytes after AT, framed. */
static int slot_ack(health_inbound_t *h, slot_t *s, const hl7_msg_t *m, const hl7_ack_t *a,
                    uint32_t at)
{
    char err[160], cid[40];
    hl7_ack_t ack = *a;
    refresh_clock(h);
    ack.timestamp = h->stamp;
    ack.control_id = next_control_id(h, cid, sizeof cid);
    size_t len, framed;
    if (hl7_ack_build(m, &ack, h->scratch, sizeof h->scratch, &len, err, sizeof err) != 0 ||
        mllp_wrap(h->scratch, len, s->conn->ring + s->off + at, s->cap - at, &framed) != 0)
        return -1;
    s->ack_off = s->off + at;
    s->ack_len = (uint32_t)framed;
    s->code = (uint8_t)a->code;
    s->state = SLOT_READY;
    return 0;
}

/* Every event of the slot's message has its answer: the ACK is now known. */
static void slot_complete(health_inbound_t *h, slot_t *s)
{
    if (s->state == SLOT_ABANDONED)
        return;
    if (!s->failed) {
        /* The success ACK was built when the message came; it is final now. */
        s->state = SLOT_READY;
        count_ack(h, (hl7_ack_code_t)s->code);
        return;
    }
    char err[160];
    const unsigned char *msh = s->conn->ring + s->off;
    hl7_issue_t is = {.code = HL7_ERR_INTERNAL, .severity = 'E'};
    (void)snprintf(is.text, sizeof is.text, "Joinery refused the event: %.200s", s->reason);
    hl7_ack_t a = {.code = HL7_AE, .issues = &is, .n_issues = 1};
    if (hl7_parse(h->ack_msg, msh, s->msh_len, err, sizeof err) == 0 &&
        slot_ack(h, s, h->ack_msg, &a, s->msh_len) == 0) {
        count_ack(h, HL7_AE);
    } else {
        /* Cannot happen with the room reserved at arrival; without an ACK the trust resends. */
        adapter_log(ADAPTER_LOG_ERROR, "connection %" PRIu64 ": cannot write the AE: %s",
                    s->conn->id, err);
        s->state = SLOT_ABANDONED;
    }
}

/* adapter_pending's answer: the hub's answer for one event of the slot's message. */
static void on_answer(void *ud, void *token, int ok, const char *reason,
                      const joinery_confirm_t *cf)
{
    health_inbound_t *h = ud;
    slot_t *s = token;
    if (cf != NULL && cf->status == JOINERY_UNCONFIRMED) {
        /* The client is closing: whether it is durable is unknown, so no ACK at all. */
        s->state = SLOT_ABANDONED;
    } else if (!ok) {
        h->n.rejected++;
        if (!s->failed)
            (void)snprintf(s->reason, sizeof s->reason, "%s", reason);
        s->failed = 1;
    }
    if (--s->nwait == 0)
        slot_complete(h, s);
}

/* ---- one message --------------------------------------------------------------------------- */

/* An answer now (unmapped, unreadable, unpublishable), queued behind the earlier ones. */
static int answer_now(health_inbound_t *h, conn_t *c, const hl7_msg_t *m, const hl7_ack_t *a)
{
    size_t cap = 1024 + (hl7_has_msh(m) ? hl7_segment(m, 0).n * 2 : 0) + a->n_issues * 700;
    slot_t *s = slot_push(c, cap);
    if (s == NULL)
        return -1;
    if (slot_ack(h, s, m, a, 0) == 0) {
        count_ack(h, a->code);
    } else {
        s->state = SLOT_ABANDONED;
        adapter_log(ADAPTER_LOG_ERROR, "connection %" PRIu64 ": cannot write an ACK", c->id);
    }
    return 0;
}

static int answer_issue(health_inbound_t *h, conn_t *c, const hl7_msg_t *m, hl7_ack_code_t code,
                        unsigned err_code, const char *text)
{
    hl7_issue_t is = {.code = err_code, .severity = 'E'};
    (void)snprintf(is.text, sizeof is.text, "%s", text);
    hl7_ack_t a = {.code = code, .issues = &is, .n_issues = 1};
    return answer_now(h, c, m, &a);
}

static uint64_t fnv(uint64_t x, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        x = (x ^ p[i]) * 1099511628211ull;
    return x;
}

/* The event id base "hl7-ODS-MSH10-CONTENT". MSH-10 as sent when it is printable ASCII and short
 * enough, else a hash of it. CONTENT hashes MSH-9 and every segment after MSH (each without its
 * terminator, so \r or \n endings do not matter): a resent message, even with a new MSH-7 time,
 * is the same event and so a DUPLICATE, while a different message that reuses a control id (an
 * interface engine reinstalled with its counter reset; sample messages that all say MSG00001) is
 * a new event rather than one silently taken for a resend. */
static int event_base(health_inbound_t *h, const hl7_msg_t *m, char *out, size_t cap)
{
    hl7_span_t id, type;
    if (hl7_get(m, 0, 10, 0, 0, 0, &id) != 0 || id.n == 0)
        return -1;
    uint64_t content = fnv(14695981039346656037ull, "", 0);
    if (hl7_get(m, 0, 9, 0, 0, 0, &type) == 0)
        content = fnv(content, type.p, type.n);
    for (size_t i = 1; i < hl7_segment_count(m); i++) {
        hl7_span_t seg = hl7_segment(m, i);
        content = fnv(fnv(content, "\r", 1), seg.p, seg.n);
    }
    int plain = id.n <= 64;
    for (size_t i = 0; i < id.n && plain; i++)
        plain = id.p[i] > 0x20 && id.p[i] < 0x7f && id.p[i] != ':';
    if (plain)
        (void)snprintf(out, cap, "hl7-%s-%.*s-%016" PRIx64, h->o.trust_ods, (int)id.n, id.p,
                       content);
    else
        (void)snprintf(out, cap, "hl7-%s-#%016" PRIx64 "-%016" PRIx64, h->o.trust_ods,
                       fnv(14695981039346656037ull, id.p, id.n), content);
    return 0;
}

/* The attributes every event of the message carries: what it was, and what was dropped from it,
 * with the bytes as sent (escaped), so the refused values are kept in the journal with it. */
static size_t make_attrs(health_inbound_t *h, const hl7_mapped_t *mp)
{
    size_t n = 0, used = 0;
    char *t = h->attr_text;
    int w = snprintf(t + used, ATTR_TEXT - used, "%s^%s", mp->type, mp->trigger);
    h->attrs[n++] = (joinery_attr_t){"hl7.message_type", t + used};
    used += (size_t)(w > 0 ? w : 0) + 1;
    if (mp->n_nulled > 0 && used < ATTR_TEXT) {
        char *start = t + used;
        size_t k = 0;
        for (size_t i = 0; i < mp->n_nulled && used + 1 < ATTR_TEXT; i++) {
            w = snprintf(t + used, ATTR_TEXT - used, "%s%s", k++ ? "," : "", mp->nulled[i]);
            if (w < 0 || (size_t)w >= ATTR_TEXT - used)
                break;
            used += (size_t)w;
        }
        used++;
        h->attrs[n++] = (joinery_attr_t){"hl7.nulled", start};
    }
    static const char *const keys[] = {
        "hl7.dropped.1",  "hl7.dropped.2",  "hl7.dropped.3",  "hl7.dropped.4",
        "hl7.dropped.5",  "hl7.dropped.6",  "hl7.dropped.7",  "hl7.dropped.8",
        "hl7.dropped.9",  "hl7.dropped.10", "hl7.dropped.11", "hl7.dropped.12",
        "hl7.dropped.13", "hl7.dropped.14", "hl7.dropped.15", "hl7.dropped.16"};
    for (size_t i = 0; i < mp->n_issues && i < 16 && used + 32 < ATTR_TEXT; i++) {
        const hl7_issue_t *is = &mp->issues[i];
        char *start = t + used;
        w = snprintf(start, ATTR_TEXT - used, "%s-%u: %s: ", is->segment, is->field,
                     is->person_field ? is->person_field : "-");
        if (w < 0 || (size_t)w >= ATTR_TEXT - used)
            break;
        size_t room = ATTR_TEXT - used - (size_t)w;
        adapter_log_escape(is->raw, is->raw ? is->raw_len : 0, start + w, room > 600 ? 600 : room);
        used += strlen(start) + 1;
        h->attrs[n++] = (joinery_attr_t){keys[i], start};
    }
    return n;
}

typedef struct {
    const char *type, *payload_type, *suffix;
    const ProtobufCMessage *msg;
} plan_t;

/* The events a mapped message becomes, in the order they must reach the journal. A merge goes
 * first so the survivor's details then land on the merged record. */
static size_t plan(const hl7_mapped_t *mp, plan_t out[2])
{
    plan_t person = {"person.updated", "joinery.v1.Person", "person",
                     (const ProtobufCMessage *)&mp->person};
    switch (mp->event) {
    case HL7_EVENT_ADMISSION:
        out[0] = person;
        out[1] = (plan_t){"health.admission", "joinery.v1.Admission", "admission",
                          (const ProtobufCMessage *)&mp->admission};
        return 2;
    case HL7_EVENT_DISCHARGE:
        out[0] = person;
        out[1] = (plan_t){"health.discharge", "joinery.v1.Discharge", "discharge",
                          (const ProtobufCMessage *)&mp->discharge};
        return 2;
    case HL7_EVENT_PERSON_MERGED:
        out[0] = (plan_t){"person.merged", "joinery.v1.PersonMerged", "merge",
                          (const ProtobufCMessage *)&mp->merged};
        out[1] = person;
        return 2;
    default:
        out[0] = person;
        return 1;
    }
}

/* Publishes one event of slot S; its answer comes through on_answer. */
static void publish_one(health_inbound_t *h, slot_t *s, const char *base, const plan_t *p,
                        size_t nattrs)
{
    char id[JOINERY_EVENT_ID_MAX + 1];
    int w = snprintf(id, sizeof id, "%.110s:%s", base, p->suffix);
    if (w < 0 || (size_t)w >= sizeof id) { /* not with event_base's lengths; still answered */
        (void)snprintf(s->reason, sizeof s->reason, "no event id can be made for the message");
        s->failed = 1;
        s->nwait--;
        return;
    }
    size_t len = protobuf_c_message_get_packed_size(p->msg);
    if (len > sizeof h->payload) {
        (void)snprintf(s->reason, sizeof s->reason,
                       "the message is too large to publish (%zu bytes of %s)", len,
                       p->payload_type);
        s->failed = 1;
        s->nwait--;
        return;
    }
    int rc = adapter_pending_add(h->pending, id, s, s->conn->id);
    if (rc < 0) {
        (void)snprintf(s->reason, sizeof s->reason,
                       "Joinery has too many messages waiting for the hub; send it again later");
        s->failed = 1;
        s->nwait--;
        return;
    }
    if (rc == 1)
        return; /* a resend of a message still in flight: it waits for the same answer */
    len = protobuf_c_message_pack(p->msg, h->payload);
    joinery_event_t ev = {.event_id = id,
                          .type = p->type,
                          .source_record_id = h->mapped->source_record_id,
                          .payload_type = p->payload_type,
                          .payload = h->payload,
                          .payload_len = len,
                          .attrs = h->attrs,
                          .nattrs = nattrs};
    if (joinery_publish_async(h->client, &ev, adapter_pending_on_confirm, h->pending, NULL) != 0)
        adapter_pending_fail(h->pending, id, joinery_last_error(h->client));
    else
        h->n.events++;
}

/* A mapped message: its success ACK is written now, and sent once the hub has its events. */
static int publish(health_inbound_t *h, conn_t *c, const hl7_msg_t *m)
{
    const hl7_mapped_t *mp = h->mapped;
    char base[JOINERY_EVENT_ID_MAX + 1];
    if (event_base(h, m, base, 112) != 0)
        return answer_issue(h, c, m, HL7_AE, HL7_ERR_REQUIRED_MISSING,
                            "MSH-10 (message control id) is empty: Joinery needs it to recognise "
                            "a message sent again");
    hl7_span_t msh = hl7_segment(m, 0);
    if (msh.n > MSH_MAX)
        return answer_issue(h, c, m, HL7_AR, HL7_ERR_INTERNAL,
                            "the MSH segment is longer than 2048 bytes");
    hl7_ack_t a = hl7_mapped_ack(mp);
    size_t cap = msh.n * 3 + 1536 + REASON_MAX + a.n_issues * 700;
    slot_t *s = slot_push(c, cap);
    if (s == NULL)
        return -1;
    memcpy(c->ring + s->off, msh.p, msh.n);
    s->msh_len = (uint32_t)msh.n;
    if (slot_ack(h, s, m, &a, s->msh_len) != 0) {
        s->state = SLOT_ABANDONED;
        return 0;
    }
    s->state = SLOT_WAIT; /* written, but not to be sent before the hub has answered */
    plan_t p[2];
    size_t np = plan(mp, p);
    size_t nattrs = make_attrs(h, mp);
    s->nwait = (uint8_t)(np + 1); /* one more than the events: none completes it early */
    for (size_t i = 0; i < np; i++)
        publish_one(h, s, base, &p[i], nattrs);
    if (--s->nwait == 0)
        slot_complete(h, s);
    return 0;
}

static void count_type(health_inbound_t *h, const char *type)
{
    size_t i = 0;
    while (i < h->ntypes && strcmp(h->by_type[i].type, type) != 0)
        i++;
    if (i == h->ntypes) {
        if (h->ntypes == sizeof h->by_type / sizeof h->by_type[0])
            i = h->ntypes - 1; /* the last row counts every type beyond the table */
        else {
            (void)snprintf(h->by_type[i].type, sizeof h->by_type[i].type, "%s",
                           h->ntypes == sizeof h->by_type / sizeof h->by_type[0] - 1 ? "other"
                                                                                     : type);
            h->ntypes++;
        }
    }
    h->by_type[i].n++;
}

static void log_refusal(health_inbound_t *h, conn_t *c, const char *what, const void *data,
                        size_t len, size_t total)
{
    if (!log_allowed(h))
        return;
    char esc[KEEP_ESCAPED];
    adapter_log_escape(data, len < MLLP_KEEP ? len : MLLP_KEEP, esc, sizeof esc);
    adapter_log(ADAPTER_LOG_WARN, "connection %" PRIu64 " (%s): %s (%zu bytes), first bytes: %s",
                c->id, c->peer, what, total, esc);
}

/* One complete frame. */
static int on_message(health_inbound_t *h, conn_t *c, const unsigned char *data, size_t len)
{
    char err[256] = "";
    h->n.received++;
    refresh_clock(h);
    h->map_opts.today = h->today;
    if (hl7_parse(h->msg, data, len, err, sizeof err) != 0) {
        log_refusal(h, c, err, data, len, len);
        keep_refused(h, c, "unreadable", data, len);
        int has = hl7_has_msh(h->msg);
        return answer_issue(h, c, h->msg, has ? HL7_AE : HL7_AR,
                            has ? HL7_ERR_SEGMENT_SEQUENCE : HL7_ERR_UNSUPPORTED_TYPE, err);
    }
    int rc = hl7_map_adt(h->msg, &h->map_opts, h->mapped, err, sizeof err);
    if (rc == 0)
        return publish(h, c, h->msg);
    if (rc == 1) {
        h->n.unmapped++;
        count_type(h, h->mapped->type[0] ? h->mapped->type : "?");
    } else {
        log_refusal(h, c, err, data, len, len);
        keep_refused(h, c, hl7_ack_code_name(h->mapped->ack), data, len);
    }
    hl7_ack_t a = hl7_mapped_ack(h->mapped);
    return answer_now(h, c, h->msg, &a);
}

static int on_frame(void *ctx, const mllp_event_t *ev)
{
    conn_t *c = ctx;
    health_inbound_t *h = c->h;
    int rc = 0;
    switch (ev->kind) {
    case MLLP_FRAME:
        rc = on_message(h, c, ev->data, ev->len);
        break;
    case MLLP_OVERSIZE: {
        h->n.oversize++;
        h->n.received++;
        char what[96];
        (void)snprintf(what, sizeof what, "frame over the %zu-byte limit refused", h->o.max_frame);
        log_refusal(h, c, what, ev->data, ev->len, ev->total);
        keep_refused(h, c, "oversize", ev->data, ev->len);
        char err[160];
        /* Answerable when the kept bytes hold the whole MSH: a segment follows it. */
        if (hl7_parse(h->msg, ev->data, ev->len, err, sizeof err) == 0 &&
            hl7_segment_count(h->msg) > 1) {
            char text[HL7_ISSUE_TEXT];
            (void)snprintf(text, sizeof text,
                           "the message is %zu bytes long; this interface takes at most %zu "
                           "(mllp.max_frame_bytes): it was not read",
                           ev->total, h->o.max_frame);
            rc = answer_issue(h, c, h->msg, HL7_AR, HL7_ERR_INTERNAL, text);
        }
        break;
    }
    case MLLP_ABORTED:
        /* The sender started again: it will send the message whole, so no answer. */
        h->n.aborted++;
        log_refusal(h, c, "frame abandoned by a new start byte", ev->data, ev->len, ev->total);
        break;
    case MLLP_GARBAGE:
        h->n.garbage_bytes += ev->total;
        /* A stray newline or two between frames is common and harmless: not worth a line. */
        if (ev->total > 2)
            log_refusal(h, c, "bytes outside any frame ignored", ev->data, ev->len, ev->total);
        break;
    }
    if (rc != 0) {
        h->n.overruns++;
        if (log_allowed(h))
            adapter_log(ADAPTER_LOG_WARN,
                        "connection %" PRIu64 " (%s): more than %d messages (or %d bytes of "
                        "ACKs) unanswered: the sender does not wait for ACKs; closing it",
                        c->id, c->peer, SLOTS, RING_BYTES);
        c->dead = 1;
    }
    return rc;
}

/* ---- connections --------------------------------------------------------------------------- */

static void conn_close(health_inbound_t *h, size_t i)
{
    conn_t *c = h->conns[i];
    (void)adapter_pending_drop_owner(h->pending, c->id);
    size_t partial = mllp_reset(c->framer);
    if (partial > 0 && log_allowed(h))
        adapter_log(ADAPTER_LOG_WARN,
                    "connection %" PRIu64 " (%s) closed %zu bytes into a message (not answered)",
                    c->id, c->peer, partial);
    if (c->count > 0)
        adapter_log(ADAPTER_LOG_DEBUG, "connection %" PRIu64 " closed with %zu unanswered", c->id,
                    c->count);
    close(c->fd);
    mllp_destroy(&c->framer);
    free(c->ring);
    free(c);
    h->conns[i] = h->conns[--h->nconns];
}

static void accept_all(health_inbound_t *h)
{
    for (;;) {
        struct sockaddr_storage sa;
        socklen_t sl = sizeof sa;
        int fd = accept4(h->lfd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && log_allowed(h))
                adapter_log(ADAPTER_LOG_WARN, "accept: %s", strerror(errno));
            return;
        }
        char host[48] = "?", serv[8] = "?";
        (void)getnameinfo((struct sockaddr *)&sa, sl, host, sizeof host, serv, sizeof serv,
                          NI_NUMERICHOST | NI_NUMERICSERV);
        if (h->nconns >= h->o.max_connections) {
            h->n.refused_connections++;
            if (log_allowed(h))
                adapter_log(ADAPTER_LOG_WARN,
                            "connection from %s:%s refused: mllp.max_connections (%zu) reached",
                            host, serv, h->o.max_connections);
            close(fd);
            continue;
        }
        conn_t *c = calloc(1, sizeof *c);
        unsigned char *ring = malloc(RING_BYTES);
        mllp_t *f = mllp_new(h->o.max_frame);
        if (c == NULL || ring == NULL || f == NULL) {
            adapter_log(ADAPTER_LOG_ERROR, "connection from %s:%s: out of memory", host, serv);
            free(c);
            free(ring);
            mllp_destroy(&f);
            close(fd);
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd = fd;
        c->id = ++h->next_id;
        c->ring = ring; /* owned by the connection */
        c->framer = f;  /* owned by the connection */
        c->h = h;
        (void)snprintf(c->peer, sizeof c->peer, "%s:%s", host, serv);
        h->conns[h->nconns++] = c;
        h->n.connections++;
        adapter_log(ADAPTER_LOG_DEBUG, "connection %" PRIu64 " from %s", c->id, c->peer);
    }
}

/* Whether to read more from C now: its queue, its ring and its output have room, and so has the
 * table of events in flight. Otherwise the sender waits (TCP flow control does the rest). */
static int wants_read(const health_inbound_t *h, const conn_t *c)
{
    return !h->quiet && !c->eof && !c->dead && c->count < h->o.window &&
           ring_free(c) >= RING_READ_FREE && c->olen < OUT_BYTES / 2 &&
           adapter_pending_room(h->pending) >= 2 * SLOTS;
}

static void conn_read(conn_t *c)
{
    unsigned char buf[READ_CHUNK];
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n == 0) {
        c->eof = 1;
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            c->dead = 1;
        return;
    }
    if (mllp_feed(c->framer, buf, (size_t)n, on_frame, c) != 0)
        c->dead = 1;
}

/* Moves the answered head of the queue into the output buffer and writes what the socket takes. */
static void conn_write(conn_t *c)
{
    while (c->count > 0) {
        slot_t *s = &c->slots[c->first];
        if (s->state == SLOT_WAIT)
            break;
        if (s->state == SLOT_ABANDONED) {
            /* Without its ACK, later ones would answer the wrong message: end the connection,
             * and the trust resends what was not acknowledged. */
            c->dead = 1;
            break;
        }
        if (c->olen + s->ack_len > OUT_BYTES)
            break;
        memcpy(c->out + c->olen, c->ring + s->ack_off, s->ack_len);
        c->olen += s->ack_len;
        slot_pop(c);
    }
    while (c->olen > 0) {
        ssize_t w = send(c->fd, c->out, c->olen, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                c->dead = 1;
            return;
        }
        memmove(c->out, c->out + w, c->olen - (size_t)w);
        c->olen -= (size_t)w;
    }
}

/* ---- the listener -------------------------------------------------------------------------- */

static int split_listen(const char *listen, char *host, size_t hcap, char *port, size_t pcap)
{
    const char *colon = strrchr(listen, ':');
    if (colon == NULL || colon == listen || colon[1] == '\0')
        return -1;
    const char *hs = listen, *he = colon;
    if (*hs == '[' && he[-1] == ']') {
        hs++;
        he--;
    }
    if ((size_t)(he - hs) >= hcap || strlen(colon + 1) >= pcap)
        return -1;
    memcpy(host, hs, (size_t)(he - hs));
    host[he - hs] = '\0';
    (void)snprintf(port, pcap, "%s", colon + 1);
    return 0;
}

static int bind_listener(health_inbound_t *h, char *err, size_t errlen)
{
    char host[256], port[16];
    if (split_listen(h->o.listen, host, sizeof host, port, sizeof port) != 0) {
        (void)snprintf(err, errlen, "mllp.listen '%s' must be HOST:PORT, e.g. 127.0.0.1:2575",
                       h->o.listen);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int g = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
    if (g != 0) {
        (void)snprintf(err, errlen, "mllp.listen '%s': %s", h->o.listen, gai_strerror(g));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0 ||
        set_nonblock(fd) != 0) {
        (void)snprintf(err, errlen, "cannot listen on %s: %s", h->o.listen, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    if (getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
        h->port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                                 : ((struct sockaddr_in *)&sa)->sin_port);
    h->lfd = fd;
    return 0;
}

size_t health_inbound_max_events(const health_inbound_opts_t *o)
{
    /* Two events a message, a window of messages a connection; the slack covers events whose
     * connection closed before the hub answered (they stay tracked until it does). */
    return o->max_connections * o->window * 2 + 4 * SLOTS;
}

health_inbound_t *health_inbound_new(const health_inbound_opts_t *o, joinery_client_t *c, char *err,
                                     size_t errlen)
{
    health_inbound_t *h = calloc(1, sizeof *h);
    if (h == NULL) {
        (void)snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->o = *o;
    h->client = c;
    h->lfd = -1;
    if (h->o.window == 0 || h->o.window > SLOTS)
        h->o.window = h->o.window == 0 ? 1 : SLOTS;
    size_t max = health_inbound_max_events(&h->o);
    h->pending = adapter_pending_new(max, max, on_answer, h);
    h->conns = calloc(o->max_connections ? o->max_connections : 1, sizeof *h->conns);
    h->msg = hl7_msg_new(HL7_MAX_SEGMENTS_DEFAULT);
    h->ack_msg = hl7_msg_new(4);
    h->mapped = calloc(1, sizeof *h->mapped);
    if (h->pending == NULL || h->conns == NULL || h->msg == NULL || h->ack_msg == NULL ||
        h->mapped == NULL) {
        (void)snprintf(err, errlen, "out of memory");
        health_inbound_destroy(&h);
        return NULL;
    }
    h->map_opts = (hl7_map_opts_t){.trust_ods = o->trust_ods, .unmapped = o->unmapped};
    (void)snprintf(h->ack_prefix, sizeof h->ack_prefix, "J%llx-", (unsigned long long)time(NULL));
    h->log_window = time(NULL);
    if (bind_listener(h, err, errlen) != 0) {
        health_inbound_destroy(&h);
        return NULL;
    }
    return h;
}

void health_inbound_destroy(health_inbound_t **hp)
{
    if (hp == NULL || *hp == NULL)
        return;
    health_inbound_t *h = *hp;
    while (h->nconns > 0)
        conn_close(h, h->nconns - 1);
    if (h->lfd >= 0)
        close(h->lfd);
    adapter_pending_destroy(&h->pending);
    free(h->conns);
    hl7_msg_destroy(&h->msg);
    hl7_msg_destroy(&h->ack_msg);
    free(h->mapped);
    free(h);
    *hp = NULL;
}

int health_inbound_port(const health_inbound_t *h)
{
    return h->port;
}

size_t health_inbound_fds(health_inbound_t *h, struct pollfd *fds, size_t cap)
{
    size_t n = 0;
    if (cap == 0)
        return 0;
    fds[n++] = (struct pollfd){.fd = h->quiet ? -1 : h->lfd, .events = POLLIN};
    for (size_t i = 0; i < h->nconns && n < cap; i++) {
        conn_t *c = h->conns[i];
        short ev = (short)((wants_read(h, c) ? POLLIN : 0) | (c->olen > 0 ? POLLOUT : 0));
        /* A peer that has closed makes poll report POLLHUP whatever is asked: leave its socket
         * out while its answers are pending, or the loop would spin until they come. */
        int fd = c->eof && c->olen == 0 ? -1 : c->fd;
        fds[n++] = (struct pollfd){.fd = fd, .events = ev};
    }
    return n;
}

void health_inbound_handle(health_inbound_t *h, const struct pollfd *fds, size_t n)
{
    if (n == 0)
        return;
    /* Connections first, by the order health_inbound_fds listed them, before accepting changes
     * the table. */
    for (size_t i = 1; i < n && i - 1 < h->nconns; i++) {
        conn_t *c = h->conns[i - 1];
        if (fds[i].fd != c->fd)
            continue; /* left out of this poll */
        if (fds[i].revents & (POLLERR | POLLNVAL))
            c->dead = 1;
        else if (fds[i].revents & (POLLIN | POLLHUP)) {
            if (wants_read(h, c))
                conn_read(c);
            else if (fds[i].revents & POLLHUP)
                c->eof = 1;
        }
    }
    if (fds[0].revents & POLLIN)
        accept_all(h);
}

void health_inbound_flush(health_inbound_t *h)
{
    for (size_t i = h->nconns; i-- > 0;) {
        conn_t *c = h->conns[i];
        if (!c->dead)
            conn_write(c);
        if (c->dead || (c->eof && c->count == 0 && c->olen == 0))
            conn_close(h, i);
    }
}

void health_inbound_quiesce(health_inbound_t *h)
{
    h->quiet = 1;
}

size_t health_inbound_unanswered(const health_inbound_t *h)
{
    size_t n = 0;
    for (size_t i = 0; i < h->nconns; i++)
        n += h->conns[i]->count;
    return n;
}

const health_counters_t *health_inbound_counters(const health_inbound_t *h)
{
    return &h->n;
}

void health_inbound_log_counters(health_inbound_t *h, int force)
{
    if (!force && memcmp(&h->n, &h->logged, sizeof h->n) == 0)
        return;
    h->logged = h->n;
    char types[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < h->ntypes; i++) {
        int w = snprintf(types + used, sizeof types - used, " %s=%" PRIu64, h->by_type[i].type,
                         h->by_type[i].n);
        if (w < 0 || (size_t)w >= sizeof types - used)
            break;
        used += (size_t)w;
    }
    const health_counters_t *n = &h->n;
    adapter_log(ADAPTER_LOG_INFO,
                "counters: received=%" PRIu64 " AA=%" PRIu64 " AE=%" PRIu64 " AR=%" PRIu64
                " events=%" PRIu64 " rejected=%" PRIu64 " unmapped=%" PRIu64 " oversize=%" PRIu64
                " aborted=%" PRIu64 " garbage_bytes=%" PRIu64 " overruns=%" PRIu64
                " connections=%" PRIu64 " refused_connections=%" PRIu64 " unmapped_by_type:%s",
                n->received, n->aa, n->ae, n->ar, n->events, n->rejected, n->unmapped, n->oversize,
                n->aborted, n->garbage_bytes, n->overruns, n->connections, n->refused_connections,
                types[0] ? types : " none");
}
