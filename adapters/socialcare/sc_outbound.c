/* sc_outbound.c - the hub's changes POSTed to the case system (contract in sc_outbound.h).
 *
 * The SDK's handler only builds: the body into one buffer, the request queued on the HTTP client
 * (which copies it into its own slot), the delivery kept in a slot of ours and DEFERred.
 * Everything on the network happens in sc_outbound_handle, outside the SDK; the request's
 * callback settles the delivery and frees our slot. */
#include "sc_outbound.h"
#include "sc_outmap.h"
#include "common/adapter_arena.h"
#include "common/adapter_log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "joinery/v1/crm.pb-c.h"
#include "joinery/v1/person.pb-c.h"

#define DEFAULT_SUBSCRIPTION "socialcare-out"
#define DEFAULT_CREDIT 32
#define ARENA_BYTES (64u << 10) /* one payload decoded */
#define PAYLOAD_MAX (32u << 10) /* a payload longer than this is none of ours */
#define REASON_MAX 400
#define WHAT_MAX 96

typedef struct {
    struct sc_outbound *out; /* back to the owner, for the client's callback */
    int used;
    uint64_t seq;
    char what[WHAT_MAX]; /* "person.changed 42" for the log */
} slot_t;

struct sc_outbound {
    sc_outbound_opts_t o;
    joinery_client_t *client; /* borrowed */
    adapter_httpc_t *http;    /* owned */
    slot_t *slots;            /* o.credit; owned */
    adapter_arena_t *arena;   /* payloads unpacked, reset per event; owned */
    char body[SC_OUT_BODY_MAX];
    char url[SC_OUT_URL_MAX];
};

/* ---- decoding without an allocation per event ---------------------------------------------- */

static ProtobufCMessage *decode(sc_outbound_t *o, const ProtobufCMessageDescriptor *desc,
                                const joinery_event_t *ev)
{
    if (ev->payload_len > PAYLOAD_MAX)
        return NULL;
    return adapter_arena_unpack(o->arena, desc, ev->payload, ev->payload_len);
}

/* ---- the answer ---------------------------------------------------------------------------- */

/* A 4xx but 408 and 429 is the case system saying no for good; anything else that is not a 2xx
 * (5xx, no connection, a timeout) was tried max_attempts times and may work later. */
static int refused_for_good(const adapter_httpc_result_t *r)
{
    return r->status >= 400 && r->status < 500 && r->status != 408 && r->status != 429;
}

static void settle(slot_t *s, joinery_verdict_t v, const char *why)
{
    sc_outbound_t *o = s->out;
    /* A lost session took the delivery along: the hub delivers it again and it is sent again. */
    if (joinery_settle(o->client, o->o.subscription, s->seq, v, why) != 0)
        adapter_log(ADAPTER_LOG_WARN, "outbound: %s: %s", s->what, joinery_last_error(o->client));
}

joinery_verdict_t sc_outbound_verdict(const adapter_httpc_result_t *r, char *why, size_t len)
{
    why[0] = '\0';
    if (r->stopped)
        return JOINERY_DEFER;
    if (r->ok)
        return JOINERY_ACK;
    if (refused_for_good(r)) {
        sc_outmap_reason(r->status, r->body, r->len, why, len);
        return JOINERY_REJECT;
    }
    (void)snprintf(why, len, "the case system did not take it: %s", r->error);
    return JOINERY_RETRY;
}

static void on_answer(void *ud, const adapter_httpc_result_t *r)
{
    slot_t *s = ud;
    char why[REASON_MAX];
    joinery_verdict_t v = sc_outbound_verdict(r, why, sizeof why);
    if (v == JOINERY_REJECT)
        adapter_log(ADAPTER_LOG_WARN, "outbound: %s refused: %s", s->what, why);
    else if (v == JOINERY_RETRY)
        adapter_log(ADAPTER_LOG_WARN, "outbound: %s: %s; the hub delivers it again later", s->what,
                    why);
    /* Stopped: unsettled, so the hub delivers it again to the next session. */
    if (v != JOINERY_DEFER)
        settle(s, v, v == JOINERY_ACK ? NULL : why);
    s->used = 0;
}

/* ---- the subscription ---------------------------------------------------------------------- */

static slot_t *slot_of(sc_outbound_t *o, uint64_t seq)
{
    for (unsigned i = 0; i < o->o.credit; i++)
        if (o->slots[i].used && o->slots[i].seq == seq)
            return &o->slots[i];
    return NULL;
}

static slot_t *slot_free(sc_outbound_t *o)
{
    for (unsigned i = 0; i < o->o.credit; i++)
        if (!o->slots[i].used)
            return &o->slots[i];
    return NULL;
}

/* The body of EV into o->body and its path into o->url: 1 to send, 0 when there is nothing for
 * the case system, -1 and WHY when it can never be sent. */
static int build(sc_outbound_t *o, const joinery_event_t *ev, size_t *len, char *why, size_t wl)
{
    int rc = -1;
    if (strcmp(ev->type, "person.changed") == 0) {
        Joinery__V1__PersonChanged *pc =
            (Joinery__V1__PersonChanged *)decode(o, &joinery__v1__person_changed__descriptor, ev);
        if (pc == NULL) {
            (void)snprintf(why, wl, "the payload is not a joinery.v1.PersonChanged");
            return -1;
        }
        if (pc->local_id[0] == '\0')
            return 0; /* social care does not hold this person */
        rc = sc_outmap_person_changed(pc, o->body, sizeof o->body, len) == 0 &&
                     sc_outmap_url(o->o.base_url, "/people/", pc->local_id, o->url,
                                   sizeof o->url) == 0
                 ? 1
                 : -1;
    } else if (strcmp(ev->type, "person.correction") == 0) {
        Joinery__V1__PersonCorrection *pc = (Joinery__V1__PersonCorrection *)decode(
            o, &joinery__v1__person_correction__descriptor, ev);
        if (pc == NULL) {
            (void)snprintf(why, wl, "the payload is not a joinery.v1.PersonCorrection");
            return -1;
        }
        if (pc->local_id[0] == '\0')
            return 0;
        rc = sc_outmap_correction(pc, o->body, sizeof o->body, len) == 0 &&
                     sc_outmap_url(o->o.base_url, "/people/", pc->local_id, o->url,
                                   sizeof o->url) == 0
                 ? 1
                 : -1;
    } else if (strcmp(ev->type, "crm.service_request.created") == 0) {
        Joinery__V1__ServiceRequest *sr =
            (Joinery__V1__ServiceRequest *)decode(o, &joinery__v1__service_request__descriptor, ev);
        if (sr == NULL) {
            (void)snprintf(why, wl, "the payload is not a joinery.v1.ServiceRequest");
            return -1;
        }
        /* The envelope names the golden person when the hub knows one; else the CRM may. */
        const char *master =
            ev->master_id && ev->master_id[0] ? ev->master_id : sr->person_master_id;
        sc_outmap_referral_t r = {
            .request_id = ev->source_record_id, .master_id = master, .sr = sr};
        rc = sc_outmap_referral(&r, o->body, sizeof o->body, len) == 0 &&
                     sc_outmap_url(o->o.base_url, "/referrals/inbound", NULL, o->url,
                                   sizeof o->url) == 0
                 ? 1
                 : -1;
    } else {
        return 0;
    }
    if (rc < 0)
        (void)snprintf(why, wl, "its body is over %d bytes or its URL over %d", SC_OUT_BODY_MAX,
                       SC_OUT_URL_MAX);
    return rc;
}

/* The SDK's handler: runs inside joinery_poll, so it only queues. */
static joinery_verdict_t on_event(void *ud, const joinery_event_t *ev, uint64_t seq,
                                  unsigned attempt, char *reason, size_t reason_len)
{
    sc_outbound_t *o = ud;
    (void)attempt;
    /* A redelivery (the hub session was lost) of what is still on its way: keep the one copy. */
    if (slot_of(o, seq) != NULL)
        return JOINERY_DEFER;
    slot_t *s = slot_free(o);
    if (s == NULL) {
        (void)snprintf(reason, reason_len, "outbound: %u deliveries wait already", o->o.credit);
        return JOINERY_RETRY;
    }
    size_t len = 0;
    char why[REASON_MAX];
    int b = build(o, ev, &len, why, sizeof why);
    if (b == 0)
        return JOINERY_ACK;
    if (b < 0) {
        (void)snprintf(reason, reason_len, "cannot be sent to the case system: %s", why);
        adapter_log(ADAPTER_LOG_WARN, "outbound: %s %s (seq %" PRIu64 ") refused: %s", ev->type,
                    ev->event_id, seq, why);
        return JOINERY_REJECT;
    }
    static const char *const hdr[] = {"Content-Type", "application/json", NULL};
    if (adapter_httpc_request(o->http, "POST", o->url, hdr, o->body, len, on_answer, s, why,
                              sizeof why) != 0) {
        (void)snprintf(reason, reason_len, "outbound: %s", why);
        return JOINERY_RETRY;
    }
    s->used = 1;
    s->seq = seq;
    (void)snprintf(s->what, sizeof s->what, "%s %" PRIu64, ev->type, seq);
    return JOINERY_DEFER;
}

/* ---- set-up -------------------------------------------------------------------------------- */

/* A header name: an HTTP token, so it cannot smuggle another header in. */
static int header_name_ok(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
            return 0;
    return n > 0 && n <= 64;
}

static int base_url_ok(const char *s)
{
    return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

static int read_numbers(const adapter_config_t *cfg, sc_outbound_opts_t *o, char *err,
                        size_t errlen)
{
    unsigned long timeout, attempts, rmin, rmax, credit;
    if (adapter_config_uint(cfg, "outbound.timeout_ms", 100, 600000, 30000, &timeout, err,
                            errlen) != 0 ||
        adapter_config_uint(cfg, "outbound.max_attempts", 1, 100, 5, &attempts, err, errlen) != 0 ||
        adapter_config_uint(cfg, "outbound.retry_min_ms", 10, 600000, 500, &rmin, err, errlen) !=
            0 ||
        adapter_config_uint(cfg, "outbound.retry_max_ms", 10, 3600000, 60000, &rmax, err, errlen) !=
            0 ||
        adapter_config_uint(cfg, "outbound.credit", 1, 1024, DEFAULT_CREDIT, &credit, err,
                            errlen) != 0)
        return -1;
    if (rmin > rmax) {
        (void)snprintf(err, errlen,
                       "'outbound.retry_min_ms' (%lu) is above 'outbound.retry_max_ms' (%lu)", rmin,
                       rmax);
        return -1;
    }
    o->timeout_ms = (unsigned)timeout;
    o->max_attempts = (unsigned)attempts;
    o->retry_min_ms = (unsigned)rmin;
    o->retry_max_ms = (unsigned)rmax;
    o->credit = (unsigned)credit;
    return 0;
}

int sc_outbound_settings(const adapter_config_t *cfg, sc_outbound_opts_t *o, char *err,
                         size_t errlen)
{
    static const char *const keys[] = {
        "base_url",     "key_header",   "key",    "key_file",     "timeout_ms", "max_attempts",
        "retry_min_ms", "retry_max_ms", "credit", "subscription", NULL};
    static const char *const none[] = {NULL};
    char probe[8];
    memset(o, 0, sizeof *o);
    /* A section with any key at all is one the operator meant: it must then be complete. */
    if (adapter_config_keys(cfg, "outbound", none, probe, sizeof probe) == 0)
        return 0;
    if (adapter_config_keys(cfg, "outbound", keys, err, errlen) != 0 ||
        adapter_config_string(cfg, "outbound.base_url", NULL, &o->base_url, err, errlen) != 0 ||
        adapter_config_string(cfg, "outbound.key_header", "x-joinery-key", &o->key_header, err,
                              errlen) != 0 ||
        adapter_config_string(cfg, "outbound.subscription", DEFAULT_SUBSCRIPTION, &o->subscription,
                              err, errlen) != 0 ||
        read_numbers(cfg, o, err, errlen) != 0)
        return -1;
    if (o->base_url == NULL || !base_url_ok(o->base_url)) {
        (void)snprintf(err, errlen,
                       "'outbound.base_url' is required when there is an 'outbound' section: "
                       "the case system's http:// or https:// address, e.g. "
                       "https://casesystem.example.gov.uk/joinery");
        o->base_url = NULL;
        return -1;
    }
    if (!header_name_ok(o->key_header)) {
        (void)snprintf(err, errlen,
                       "'outbound.key_header' must be a header name: letters, digits, '-', '_'");
        return -1;
    }
    return adapter_config_secret(cfg, "outbound", o->key, sizeof o->key, err, errlen);
}

sc_outbound_t *sc_outbound_new(const sc_outbound_opts_t *o, joinery_client_t *c, char *err,
                               size_t errlen)
{
    sc_outbound_t *out = calloc(1, sizeof *out);
    if (out == NULL) {
        (void)snprintf(err, errlen, "out of memory");
        return NULL;
    }
    out->o = *o;
    out->o.subscription = o->subscription ? o->subscription : DEFAULT_SUBSCRIPTION;
    out->o.credit = o->credit ? o->credit : DEFAULT_CREDIT;
    out->client = c;
    out->slots = calloc(out->o.credit, sizeof *out->slots);
    out->arena = adapter_arena_new(ARENA_BYTES);
    if (out->slots == NULL || out->arena == NULL) {
        (void)snprintf(err, errlen, "out of memory");
        sc_outbound_destroy(&out);
        return NULL;
    }
    for (unsigned i = 0; i < out->o.credit; i++)
        out->slots[i].out = out;
    const char *const headers[] = {out->o.key_header, out->o.key, NULL}; /* copied by the client */
    adapter_httpc_opts_t ho = {.timeout_ms = o->timeout_ms,
                               .retry_min_ms = o->retry_min_ms,
                               .retry_max_ms = o->retry_max_ms,
                               .max_attempts = o->max_attempts,
                               .max_queued = out->o.credit + o->extra_requests,
                               .max_body = SC_OUT_BODY_MAX,
                               .headers = headers};
    out->http = adapter_httpc_new(&ho, err, errlen);
    if (out->http == NULL) {
        sc_outbound_destroy(&out);
        return NULL;
    }
    static const char *const patterns[] = {"person.changed", "person.correction",
                                           "crm.service_request.created"};
    if (joinery_subscribe(c, out->o.subscription, patterns, 3, out->o.credit, on_event, out) != 0) {
        (void)snprintf(err, errlen,
                       "cannot subscribe to person.changed, person.correction and "
                       "crm.service_request.created: %s",
                       joinery_last_error(c));
        sc_outbound_destroy(&out);
        return NULL;
    }
    return out;
}

void sc_outbound_destroy(sc_outbound_t **op)
{
    sc_outbound_t *o = *op;
    if (o == NULL)
        return;
    adapter_httpc_destroy(&o->http); /* the callbacks come now, stopped, and settle nothing */
    adapter_arena_destroy(&o->arena);
    free(o->slots);
    free(o);
    *op = NULL;
}

/* ---- the loop ------------------------------------------------------------------------------ */

int sc_outbound_post(sc_outbound_t *out, const char *path, const char *body, size_t len,
                     adapter_httpc_done_fn done, void *ud, char *err, size_t errlen)
{
    static const char *const hdr[] = {"Content-Type", "application/json", NULL};
    if (sc_outmap_url(out->o.base_url, path, NULL, out->url, sizeof out->url) != 0) {
        (void)snprintf(err, errlen, "the URL is over %d bytes", SC_OUT_URL_MAX);
        return -1;
    }
    return adapter_httpc_request(out->http, "POST", out->url, hdr, body, len, done, ud, err,
                                 errlen);
}

size_t sc_outbound_fds(sc_outbound_t *out, struct pollfd *fds, size_t cap)
{
    return out ? adapter_httpc_fds(out->http, fds, cap) : 0;
}

int sc_outbound_timeout_ms(const sc_outbound_t *out)
{
    return out ? adapter_httpc_timeout_ms(out->http) : -1;
}

void sc_outbound_handle(sc_outbound_t *out, const struct pollfd *fds, size_t n)
{
    if (out != NULL)
        adapter_httpc_handle(out->http, fds, n);
}

size_t sc_outbound_held(const sc_outbound_t *out)
{
    size_t n = 0;
    for (unsigned i = 0; out != NULL && i < out->o.credit; i++)
        n += out->slots[i].used != 0;
    return n;
}
