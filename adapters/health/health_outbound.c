/* health_outbound.c - joinery-health's outbound side (contract in health_outbound.h).
 *
 * The SDK's handler only builds: it turns the event into a framed HL7 message in the next free
 * slot of a FIFO and answers JOINERY_DEFER. Everything on the socket happens in
 * health_outbound_handle, outside the SDK: the head slot is the message in flight; its ACK
 * settles it (joinery_settle) and frees the slot, a failure keeps it for the next attempt. */
#include "health_outbound.h"
#include "hl7.h"
#include "hl7_build.h"
#include "mllp.h"
#include "common/adapter_arena.h"
#include "common/adapter_config.h"
#include "common/adapter_log.h"

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
#include <time.h>
#include <unistd.h>

#define SLOT_BYTES (32 * 1024) /* one framed message: far beyond any person's ADT */
#define ARENA_BYTES (256 * 1024)
#define ACK_FRAME_MAX (64 * 1024)
#define READ_CHUNK 4096
#define REASON_MAX 400
#define CONTROL_ID_MAX 21 /* 20 characters, HL7 2.5's MSH-10, and the NUL */
#define DEFAULT_CREDIT 64
#define CHANGED_TYPE "person.changed"
#define MERGED_TYPE "person.merged"

typedef struct {
    uint64_t seq;
    size_t len;
    char control_id[CONTROL_ID_MAX];
    unsigned char *frame; /* SLOT_BYTES inside h->frames */
} slot_t;

typedef enum { LINK_DOWN, LINK_CONNECTING, LINK_UP } link_t;

struct health_outbound {
    health_outbound_opts_t o;
    joinery_client_t *client; /* borrowed */
    struct sockaddr_storage addr;
    socklen_t addrlen;

    slot_t *slots; /* o.credit of them; owned */
    unsigned char *frames;
    size_t first, count;

    int fd;
    link_t link;
    int in_flight;    /* the head slot has been (partly) written on this connection */
    size_t written;   /* of the head slot's frame */
    int attempted;    /* the head slot was sent before: the next send is a resend */
    int64_t deadline; /* of the connect or of the ACK */
    int64_t retry_at; /* no connect before this */
    unsigned backoff; /* the next pause */
    unsigned streak;  /* failures since the trust last answered */
    mllp_t *framer;
    hl7_msg_t *ack_msg;
    int answered;
    hl7_ack_code_t code;
    char reason[REASON_MAX];

    adapter_arena_t *arena; /* payloads unpacked, reset per event; owned */
    char build[SLOT_BYTES - 3];
    char stamp[24];
    health_outbound_counters_t n;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static slot_t *slot_at(health_outbound_t *h, size_t i)
{
    return &h->slots[(h->first + i) % h->o.credit];
}

static slot_t *slot_find(health_outbound_t *h, uint64_t seq)
{
    for (size_t i = 0; i < h->count; i++) {
        if (slot_at(h, i)->seq == seq)
            return slot_at(h, i);
    }
    return NULL;
}

/* ---- building ------------------------------------------------------------------------------ */

static void refresh_stamp(health_outbound_t *h)
{
    time_t now = time(NULL);
    struct tm tm;
    (void)gmtime_r(&now, &tm);
    (void)strftime(h->stamp, sizeof h->stamp, "%Y%m%d%H%M%S+0000", &tm);
}

/* The message for EV into h->build: 1 and *LEN when there is one to send, 0 when the event
 * asks nothing of the trust, -1 and WHY when it can never be sent. */
static int build(health_outbound_t *h, const joinery_event_t *ev, const char *control_id,
                 size_t *len, char *why, size_t whylen)
{
    refresh_stamp(h);
    hl7_build_opts_t bo = {.sending_facility = h->o.sending_facility,
                           .receiving_app = h->o.receiving_app,
                           .trust_ods = h->o.trust_ods,
                           .timestamp = h->stamp,
                           .control_id = control_id};
    adapter_arena_reset(h->arena);
    if (strcmp(ev->type, CHANGED_TYPE) == 0) {
        Joinery__V1__PersonChanged *pc = joinery__v1__person_changed__unpack(
            adapter_arena_pb(h->arena), ev->payload_len, ev->payload);
        if (pc == NULL) {
            (void)snprintf(why, whylen, "the payload (%zu bytes) is not a joinery.v1.PersonChanged",
                           ev->payload_len);
            return -1;
        }
        /* No id of the trust's yet: the person is new to it. */
        hl7_build_kind_t kind = pc->local_id[0] ? HL7_BUILD_A31 : HL7_BUILD_A28;
        return hl7_build_changed(pc, kind, &bo, h->build, sizeof h->build, len, why, whylen) == 0
                   ? 1
                   : -1;
    }
    if (strcmp(ev->type, MERGED_TYPE) == 0) {
        Joinery__V1__PersonMerged *pm = joinery__v1__person_merged__unpack(
            adapter_arena_pb(h->arena), ev->payload_len, ev->payload);
        if (pm == NULL) {
            (void)snprintf(why, whylen, "the payload (%zu bytes) is not a joinery.v1.PersonMerged",
                           ev->payload_len);
            return -1;
        }
        /* The trust can merge only two of its own records; with one or none of them known to
         * it, its ids need no change (the survivor's next A31 names the id it holds). */
        if (pm->survivor_local_id[0] == '\0' || pm->retired_local_id[0] == '\0' ||
            strcmp(pm->survivor_local_id, pm->retired_local_id) == 0)
            return 0;
        return hl7_build_merged(pm, NULL, &bo, h->build, sizeof h->build, len, why, whylen) == 0
                   ? 1
                   : -1;
    }
    return 0;
}

/* The SDK's handler: runs inside joinery_poll, so it touches no socket. */
static joinery_verdict_t on_event(void *ud, const joinery_event_t *ev, uint64_t seq,
                                  unsigned attempt, char *reason, size_t reason_len)
{
    health_outbound_t *h = ud;
    (void)attempt;
    /* A redelivery (the hub session was lost) of what is still held: keep the one copy. */
    if (slot_find(h, seq) != NULL)
        return JOINERY_DEFER;
    if (h->count == h->o.credit) {
        (void)snprintf(reason, reason_len, "outbound queue full (%u messages)", h->o.credit);
        return JOINERY_RETRY;
    }
    slot_t *s = slot_at(h, h->count);
    (void)snprintf(s->control_id, sizeof s->control_id, "%" PRIu64, seq);
    size_t len = 0;
    char why[REASON_MAX];
    int b = build(h, ev, s->control_id, &len, why, sizeof why);
    if (b == 0)
        return JOINERY_ACK;
    if (b < 0 || mllp_wrap(h->build, len, s->frame, SLOT_BYTES, &s->len) != 0) {
        if (b > 0)
            (void)snprintf(why, sizeof why, "the HL7 message is over %d bytes", SLOT_BYTES - 3);
        (void)snprintf(reason, reason_len, "cannot be sent to the trust as HL7: %s", why);
        adapter_log(ADAPTER_LOG_WARN, "outbound: %s %s (seq %" PRIu64 ") refused: %s", ev->type,
                    ev->event_id, seq, why);
        return JOINERY_REJECT;
    }
    s->seq = seq;
    h->count++;
    return JOINERY_DEFER;
}

/* ---- the connection ------------------------------------------------------------------------ */

static void link_close(health_outbound_t *h)
{
    if (h->fd >= 0)
        close(h->fd);
    h->fd = -1;
    h->link = LINK_DOWN;
    h->in_flight = 0;
    h->written = 0;
    h->answered = 0;
    (void)mllp_reset(h->framer);
}

/* The attempt failed: the message stays at the head and goes again after the pause. */
static void link_fail(health_outbound_t *h, const char *why)
{
    if (h->streak++ == 0)
        adapter_log(ADAPTER_LOG_WARN,
                    "outbound: trust at %s: %s; messages wait and are sent again, every %u ms at "
                    "first, then up to every %u ms",
                    h->o.endpoint, why, h->o.retry_min_ms, h->o.retry_max_ms);
    h->n.failures++;
    link_close(h);
    h->retry_at = now_ms() + h->backoff;
    h->backoff = h->backoff >= h->o.retry_max_ms / 2 ? h->o.retry_max_ms : h->backoff * 2;
}

static void link_start(health_outbound_t *h)
{
    int fd = socket(h->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        link_fail(h, strerror(errno));
        return;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    h->fd = fd;
    h->deadline = now_ms() + h->o.connect_timeout_ms;
    if (connect(fd, (const struct sockaddr *)&h->addr, h->addrlen) == 0) {
        h->link = LINK_UP;
        h->n.connects++;
    } else if (errno == EINPROGRESS) {
        h->link = LINK_CONNECTING;
    } else {
        link_fail(h, strerror(errno));
    }
}

static void connect_done(health_outbound_t *h)
{
    int e = 0;
    socklen_t l = sizeof e;
    if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &e, &l) != 0)
        e = errno;
    if (e != 0) {
        link_fail(h, strerror(e));
        return;
    }
    h->link = LINK_UP;
    h->n.connects++;
}

static void write_head(health_outbound_t *h)
{
    slot_t *s = slot_at(h, 0);
    while (h->written < s->len) {
        ssize_t w = send(h->fd, s->frame + h->written, s->len - h->written, MSG_NOSIGNAL);
        if (w >= 0) {
            h->written += (size_t)w;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return; /* the rest when poll says there is room */
        } else if (errno != EINTR) {
            link_fail(h, strerror(errno));
            return;
        }
    }
}

static void send_head(health_outbound_t *h)
{
    h->in_flight = 1;
    h->written = 0;
    h->answered = 0;
    h->deadline = now_ms() + h->o.ack_timeout_ms;
    if (h->attempted)
        h->n.resent++;
    else
        h->n.sent++;
    h->attempted = 1;
    write_head(h);
}

static int on_frame(void *ctx, const mllp_event_t *ev)
{
    health_outbound_t *h = ctx;
    if (ev->kind != MLLP_FRAME) {
        adapter_log(ADAPTER_LOG_DEBUG, "outbound: %zu bytes from the trust outside a frame",
                    ev->total);
        return 0;
    }
    if (!h->in_flight || h->answered || h->count == 0) {
        adapter_log(ADAPTER_LOG_WARN, "outbound: a frame from the trust with nothing awaiting it");
        return 0;
    }
    char why[REASON_MAX] = "";
    if (hl7_build_read_ack(h->ack_msg, ev->data, ev->len, slot_at(h, 0)->control_id, &h->code, why,
                           sizeof why) != 0) {
        adapter_log(ADAPTER_LOG_WARN, "outbound: the trust's answer to %s is not its ACK: %s",
                    slot_at(h, 0)->control_id, why);
        return 0;
    }
    (void)snprintf(h->reason, sizeof h->reason, "%s", why);
    h->answered = 1;
    return 0;
}

static void settle_head(health_outbound_t *h);

/* Reads what the trust sent; -1 when the connection is gone (already handled). */
static int read_link(health_outbound_t *h)
{
    unsigned char buf[READ_CHUNK];
    for (;;) {
        ssize_t r = recv(h->fd, buf, sizeof buf, 0);
        if (r > 0) {
            (void)mllp_feed(h->framer, buf, (size_t)r, on_frame, h);
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (r < 0 && errno == EINTR)
            continue;
        /* An answer that came with the close still counts. */
        if (h->answered)
            settle_head(h);
        if (h->in_flight)
            link_fail(h, r == 0 ? "connection closed before the ACK" : strerror(errno));
        else
            link_close(h); /* an idle connection the trust closed: reopened when needed */
        return -1;
    }
}

/* The head slot's answer came: settle it with the hub and free the slot. */
static void settle_head(health_outbound_t *h)
{
    slot_t *s = slot_at(h, 0);
    int rc;
    if (h->code == HL7_AA) {
        h->n.aa++;
        rc = joinery_settle(h->client, h->o.subscription, s->seq, JOINERY_ACK, NULL);
    } else {
        h->n.rejected++;
        char why[REASON_MAX + 32];
        (void)snprintf(why, sizeof why, "the trust answered %s: %s", hl7_ack_code_name(h->code),
                       h->reason[0] ? h->reason : "no reason given");
        adapter_log(ADAPTER_LOG_WARN, "outbound: message %s %s", s->control_id, why);
        rc = joinery_settle(h->client, h->o.subscription, s->seq, JOINERY_REJECT, why);
    }
    /* The hub session was lost meanwhile: the hub delivers it again, and it is sent again. */
    if (rc != 0)
        h->n.dropped++;
    if (h->streak > 0)
        adapter_log(ADAPTER_LOG_INFO, "outbound: trust at %s answering again after %u failures",
                    h->o.endpoint, h->streak);
    h->streak = 0;
    h->backoff = h->o.retry_min_ms;
    h->first = (h->first + 1) % h->o.credit;
    h->count--;
    h->in_flight = 0;
    h->answered = 0;
    h->attempted = 0;
}

/* Moves things on as far as they go without waiting. */
static void pump(health_outbound_t *h)
{
    int64_t now = now_ms();
    if (h->link == LINK_CONNECTING && now >= h->deadline)
        link_fail(h, "connect timed out");
    if (h->link == LINK_UP && h->in_flight && !h->answered && now >= h->deadline)
        link_fail(h, "no ACK in time");
    while (h->count > 0) {
        if (h->link == LINK_DOWN) {
            if (now < h->retry_at)
                return;
            link_start(h);
        }
        if (h->link != LINK_UP)
            return;
        if (h->answered) {
            settle_head(h);
            continue;
        }
        if (!h->in_flight) {
            send_head(h);
            continue;
        }
        return;
    }
}

/* ---- the interface ------------------------------------------------------------------------- */

int health_outbound_config(const adapter_config_t *cfg, const char *trust_ods,
                           health_outbound_opts_t *o, int *enabled, char *err, size_t errlen)
{
    static const char *const keys[] = {
        "endpoint",     "connect_timeout_ms", "ack_timeout_ms", "retry_min_ms",
        "retry_max_ms", "sending_facility",   "receiving_app",  NULL};
    static const char *const none[] = {NULL};
    unsigned long ct, at, rmin, rmax;
    char probe[8];
    memset(o, 0, sizeof *o);
    /* A section with any key at all is one the operator meant: it must then name its endpoint. */
    int present = adapter_config_keys(cfg, "outbound", none, probe, sizeof probe) != 0;
    if (adapter_config_keys(cfg, "outbound", keys, err, errlen) != 0 ||
        adapter_config_string(cfg, "outbound.endpoint", NULL, &o->endpoint, err, errlen) != 0 ||
        adapter_config_uint(cfg, "outbound.connect_timeout_ms", 10, 600000, 5000, &ct, err,
                            errlen) != 0 ||
        adapter_config_uint(cfg, "outbound.ack_timeout_ms", 10, 3600000, 30000, &at, err, errlen) !=
            0 ||
        adapter_config_uint(cfg, "outbound.retry_min_ms", 10, 600000, 500, &rmin, err, errlen) !=
            0 ||
        adapter_config_uint(cfg, "outbound.retry_max_ms", 10, 3600000, 60000, &rmax, err, errlen) !=
            0 ||
        adapter_config_string(cfg, "outbound.sending_facility", "JOINERY", &o->sending_facility,
                              err, errlen) != 0 ||
        adapter_config_string(cfg, "outbound.receiving_app", NULL, &o->receiving_app, err,
                              errlen) != 0)
        return -1;
    *enabled = o->endpoint != NULL;
    if (present && o->endpoint == NULL) {
        (void)snprintf(err, errlen,
                       "'outbound.endpoint' is required when there is an "
                       "'outbound' section: the trust's MLLP receiver, HOST:PORT");
        return -1;
    }
    if (rmin > rmax) {
        (void)snprintf(err, errlen,
                       "'outbound.retry_min_ms' (%lu) is above "
                       "'outbound.retry_max_ms' (%lu)",
                       rmin, rmax);
        return -1;
    }
    o->connect_timeout_ms = (unsigned)ct;
    o->ack_timeout_ms = (unsigned)at;
    o->retry_min_ms = (unsigned)rmin;
    o->retry_max_ms = (unsigned)rmax;
    o->trust_ods = trust_ods;
    return 0;
}

static int resolve(health_outbound_t *h, char *err, size_t errlen)
{
    const char *ep = h->o.endpoint, *colon = ep ? strrchr(ep, ':') : NULL;
    char host[256], port[16];
    if (colon == NULL || colon == ep || colon[1] == '\0' || (size_t)(colon - ep) >= sizeof host ||
        strlen(colon + 1) >= sizeof port) {
        (void)snprintf(err, errlen,
                       "outbound.endpoint '%s' must be HOST:PORT, e.g. "
                       "10.1.2.3:2576",
                       ep ? ep : "");
        return -1;
    }
    const char *hs = ep, *he = colon;
    if (*hs == '[' && he[-1] == ']') {
        hs++;
        he--;
    }
    memcpy(host, hs, (size_t)(he - hs));
    host[he - hs] = '\0';
    (void)snprintf(port, sizeof port, "%s", colon + 1);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int g = getaddrinfo(host, port, &hints, &ai);
    if (g != 0) {
        (void)snprintf(err, errlen, "outbound.endpoint '%s': %s", ep, gai_strerror(g));
        return -1;
    }
    memcpy(&h->addr, ai->ai_addr, ai->ai_addrlen);
    h->addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

health_outbound_t *health_outbound_new(const health_outbound_opts_t *o, joinery_client_t *c,
                                       char *err, size_t errlen)
{
    health_outbound_t *h = calloc(1, sizeof *h);
    if (h == NULL) {
        (void)snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->o = *o;
    h->o.sending_facility = o->sending_facility ? o->sending_facility : "JOINERY";
    h->o.subscription = o->subscription ? o->subscription : "trust-out";
    h->o.credit = o->credit ? o->credit : DEFAULT_CREDIT;
    h->client = c;
    h->fd = -1;
    h->backoff = h->o.retry_min_ms;
    h->slots = calloc(h->o.credit, sizeof *h->slots);
    h->frames = malloc((size_t)h->o.credit * SLOT_BYTES);
    h->arena = adapter_arena_new(ARENA_BYTES);
    h->framer = mllp_new(ACK_FRAME_MAX);
    h->ack_msg = hl7_msg_new(HL7_MAX_SEGMENTS_DEFAULT);
    if (h->slots == NULL || h->frames == NULL || h->arena == NULL || h->framer == NULL ||
        h->ack_msg == NULL) {
        (void)snprintf(err, errlen, "out of memory");
        health_outbound_destroy(&h);
        return NULL;
    }
    for (size_t i = 0; i < h->o.credit; i++)
        h->slots[i].frame = h->frames + i * SLOT_BYTES;
    if (resolve(h, err, errlen) != 0) {
        health_outbound_destroy(&h);
        return NULL;
    }
    /* The credit is what bounds the slots: the hub never has more deliveries in our hands. */
    static const char *const patterns[] = {CHANGED_TYPE, MERGED_TYPE};
    if (joinery_subscribe(c, h->o.subscription, patterns, 2, h->o.credit, on_event, h) != 0) {
        (void)snprintf(err, errlen, "cannot subscribe to person.changed and person.merged: %s",
                       joinery_last_error(c));
        health_outbound_destroy(&h);
        return NULL;
    }
    return h;
}

void health_outbound_destroy(health_outbound_t **hp)
{
    health_outbound_t *h = *hp;
    if (h == NULL)
        return;
    if (h->fd >= 0)
        close(h->fd);
    mllp_destroy(&h->framer);
    hl7_msg_destroy(&h->ack_msg);
    adapter_arena_destroy(&h->arena);
    free(h->frames);
    free(h->slots);
    free(h);
    *hp = NULL;
}

size_t health_outbound_fds(health_outbound_t *h, struct pollfd *fds, size_t cap)
{
    if (h->fd < 0 || cap == 0)
        return 0;
    short ev = POLLIN; /* an ACK, or the trust closing an idle connection */
    if (h->link == LINK_CONNECTING)
        ev = POLLOUT;
    else if (h->in_flight && h->written < slot_at(h, 0)->len)
        ev = POLLIN | POLLOUT;
    fds[0] = (struct pollfd){.fd = h->fd, .events = ev};
    return 1;
}

void health_outbound_handle(health_outbound_t *h, const struct pollfd *fds, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (fds[i].fd != h->fd || fds[i].revents == 0)
            continue;
        if (h->link == LINK_CONNECTING) {
            connect_done(h);
        } else if (h->link == LINK_UP) {
            if ((fds[i].revents & (POLLIN | POLLERR | POLLHUP)) && read_link(h) != 0)
                break;
            if (h->link == LINK_UP && h->in_flight && (fds[i].revents & POLLOUT))
                write_head(h);
        }
        break;
    }
    pump(h);
}

int health_outbound_timeout_ms(const health_outbound_t *h)
{
    int64_t at;
    if (h->link == LINK_CONNECTING || (h->link == LINK_UP && h->in_flight && !h->answered))
        at = h->deadline;
    else if (h->link == LINK_DOWN && h->count > 0)
        at = h->retry_at;
    else
        return -1;
    int64_t left = at - now_ms();
    return left < 0 ? 0 : left > 60000 ? 60000 : (int)left;
}

size_t health_outbound_held(const health_outbound_t *h)
{
    return h->count;
}

const health_outbound_counters_t *health_outbound_counters(const health_outbound_t *h)
{
    return &h->n;
}
