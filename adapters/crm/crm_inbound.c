/* crm_inbound.c - the webhook endpoint of joinery-crm (contract in crm_inbound.h). The SDK's
 * confirmations reach a waiting request through adapter_pending and only mark it answered;
 * crm_inbound_flush writes the answers, so no socket is written from inside the SDK. */
#include "crm_inbound.h"
#include "crm_webhook.h"
#include "common/adapter_http.h"
#include "common/adapter_log.h"
#include "common/adapter_pending.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JSON_TYPE "application/json"
#define OUT_BYTES (64u << 10)
#define DROPPED_BYTES 4096
#define RETRY_AFTER "30"
#define REASON_LEN 256

typedef struct {
    int used, done, ok, duplicate, closing;
    adapter_http_req_t *req;
    uint64_t req_id;
    int64_t deadline_ms;
    char event_id[CRM_EVENT_ID_MAX + 1];
    char reason[REASON_LEN];
    char master[65];
    char dropped[DROPPED_BYTES]; /* the dropped attributes as a JSON array */
} wait_t;

struct crm_inbound {
    crm_inbound_opts_t o;
    joinery_client_t *client; /* borrowed */
    adapter_http_t *http;
    adapter_pending_t *pending;
    wait_t *waits;     /* o.max_waiting; owned */
    crm_mapped_t *map; /* one mapper's result, reused; owned */
    char *out;         /* OUT_BYTES: answers are written here; owned */
};

static const char *const retry_headers[] = {"Retry-After", RETRY_AFTER, NULL};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- answers ------------------------------------------------------------------------------- */

/* Answers R with OBJ (taken: freed here) as JSON. */
static void respond(crm_inbound_t *in, adapter_http_req_t *r, unsigned status, json_t *obj,
                    const char *const *headers)
{
    size_t len = obj ? json_dumpb(obj, in->out, OUT_BYTES, JSON_COMPACT) : 0;
    json_decref(obj);
    if (len == 0 || len > OUT_BYTES) {
        static const char fallback[] = "{\"error\":\"internal\"}";
        len = sizeof fallback - 1;
        memcpy(in->out, fallback, len);
    }
    if (adapter_http_respond(r, status, JSON_TYPE, in->out, len, headers) != 0)
        adapter_log(ADAPTER_LOG_WARN, "webhook: cannot answer %s %s", adapter_http_method(r),
                    adapter_http_path(r));
}

static void respond_error(crm_inbound_t *in, adapter_http_req_t *r, unsigned status,
                          const char *error, const char *message, const char *const *headers)
{
    respond(in, r, status, json_pack("{s:s, s:s}", "error", error, "message", message), headers);
}

/* ---- the waits ----------------------------------------------------------------------------- */

static wait_t *wait_take(crm_inbound_t *in)
{
    for (size_t i = 0; i < in->o.max_waiting; i++)
        if (!in->waits[i].used) {
            wait_t *w = &in->waits[i];
            memset(w, 0, sizeof *w);
            w->used = 1;
            return w;
        }
    return NULL;
}

static void wait_release(wait_t *w)
{
    memset(w, 0, sizeof *w);
}

/* adapter_pending's answer: only recorded here (it runs inside the SDK); flush answers. */
static void on_answer(void *ud, void *token, int ok, const char *reason,
                      const joinery_confirm_t *cf)
{
    (void)ud;
    wait_t *w = token;
    w->done = 1;
    w->ok = ok;
    w->duplicate = cf != NULL && cf->status == JOINERY_DUPLICATE;
    w->closing = cf != NULL && cf->status == JOINERY_UNCONFIRMED;
    (void)snprintf(w->reason, sizeof w->reason, "%s", reason ? reason : "");
    if (cf != NULL && cf->master_id != NULL)
        (void)snprintf(w->master, sizeof w->master, "%s", cf->master_id);
}

/* The mapper's dropped attributes as a JSON array into DST. */
static void dropped_json(const crm_mapped_t *m, char *dst, size_t cap)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < m->n_drops; i++)
        (void)json_array_append_new(a, json_pack("{s:s, s:s}", "attribute", m->drops[i].attribute,
                                                 "reason", m->drops[i].reason));
    size_t n = a ? json_dumpb(a, dst, cap - 1, JSON_COMPACT) : 0;
    json_decref(a);
    if (n == 0 || n >= cap)
        (void)snprintf(dst, cap, "[]");
    else
        dst[n] = '\0';
}

static void answer(crm_inbound_t *in, wait_t *w)
{
    if (w->ok) {
        json_error_t e;
        json_t *dropped = json_loads(w->dropped, 0, &e);
        respond(in, w->req, 200,
                json_pack("{s:s, s:s, s:s, s:o*}", "status", w->duplicate ? "duplicate" : "ok",
                          "event_id", w->event_id, "master_id", w->master, "dropped", dropped),
                NULL);
    } else if (w->closing) {
        respond_error(in, w->req, 503, "unavailable",
                      "the adapter is stopping; whether the hub has it is not known: send it again",
                      retry_headers);
    } else {
        char why[REASON_LEN + 32];
        (void)snprintf(why, sizeof why, "the hub refused it: %s", w->reason);
        adapter_log(ADAPTER_LOG_WARN, "webhook: event %s refused by the hub: %s", w->event_id,
                    w->reason);
        respond_error(in, w->req, 422, "rejected", why, NULL);
    }
}

void crm_inbound_flush(crm_inbound_t *in)
{
    if (in == NULL)
        return;
    int64_t now = now_ms();
    for (size_t i = 0; i < in->o.max_waiting; i++) {
        wait_t *w = &in->waits[i];
        if (!w->used)
            continue;
        if (w->done) {
            answer(in, w);
        } else if (now >= w->deadline_ms) {
            /* The event stays with the SDK and may still be journaled: Dataverse's retry has
             * the same id and is then a DUPLICATE, or joins this wait. */
            (void)adapter_pending_drop_owner(in->pending, w->req_id);
            respond_error(in, w->req, 503, "unavailable",
                          "the hub has not confirmed it in time; send it again later",
                          retry_headers);
        } else {
            continue;
        }
        wait_release(w);
    }
    adapter_http_run(in->http);
}

/* The connection of a waiting request went away: its waiter goes, the event stays tracked. */
static void on_closed(void *ud, adapter_http_req_t *r, uint64_t id)
{
    (void)r;
    crm_inbound_t *in = ud;
    for (size_t i = 0; i < in->o.max_waiting; i++)
        if (in->waits[i].used && in->waits[i].req_id == id) {
            (void)adapter_pending_drop_owner(in->pending, id);
            wait_release(&in->waits[i]);
        }
}

/* ---- the webhook --------------------------------------------------------------------------- */

static void publish(crm_inbound_t *in, adapter_http_req_t *r)
{
    crm_mapped_t *m = in->map;
    wait_t *w = wait_take(in);
    if (w == NULL) {
        respond_error(in, r, 503, "busy", "too many requests wait for the hub; send it again later",
                      retry_headers);
        return;
    }
    w->req = r;
    w->req_id = adapter_http_req_id(r);
    w->deadline_ms = now_ms() + in->o.answer_timeout_ms;
    (void)snprintf(w->event_id, sizeof w->event_id, "%s", m->event_id);
    dropped_json(m, w->dropped, sizeof w->dropped);
    int rc = adapter_pending_add(in->pending, m->event_id, w, w->req_id);
    if (rc < 0) {
        wait_release(w);
        respond_error(in, r, 503, "busy", "too many requests wait for the hub; send it again later",
                      retry_headers);
        return;
    }
    adapter_http_suspend(r);
    if (rc == 1)
        return; /* the same webhook is in flight already: this one waits for its answer */
    joinery_attr_t attrs[1] = {{"ticket", m->ticket}};
    joinery_event_t ev = {.event_id = m->event_id,
                          .type = m->type,
                          .source_record_id = m->record_id,
                          .payload_type = m->payload_type,
                          .payload = m->payload,
                          .payload_len = m->payload_len,
                          .attrs = attrs,
                          .nattrs = m->ticket[0] ? 1 : 0};
    if (joinery_publish_async(in->client, &ev, adapter_pending_on_confirm, in->pending, NULL) != 0)
        adapter_pending_fail(in->pending, m->event_id, joinery_last_error(in->client));
}

static void today(char out[11])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    (void)strftime(out, 11, "%Y-%m-%d", &tm);
}

static void on_post(void *ud, adapter_http_req_t *r)
{
    crm_inbound_t *in = ud;
    if (!adapter_http_key_ok(r, in->o.key_header, in->o.key)) {
        adapter_log(ADAPTER_LOG_WARN, "webhook: refused a POST without the right %s header",
                    in->o.key_header);
        respond_error(in, r, 401, "unauthorized",
                      "the webhook key is missing or wrong: send it in the header the adapter "
                      "is configured with",
                      NULL);
        return;
    }
    size_t len;
    const void *body = adapter_http_body(r, &len);
    char day[11];
    today(day);
    crm_webhook_opts_t mo = {.nhs_number_attribute = in->o.nhs_number_attribute, .today = day};
    crm_mapped_t *m = in->map;
    switch (crm_webhook_map(body, len, &mo, m)) {
    case CRM_MAP_OK:
        publish(in, r);
        return;
    case CRM_MAP_IGNORED:
        adapter_log(ADAPTER_LOG_INFO, "webhook: %s of %s %s ignored: %s", m->message, m->entity,
                    m->record_id, m->why);
        respond(in, r, 200, json_pack("{s:s, s:s}", "status", "ignored", "reason", m->why), NULL);
        return;
    case CRM_MAP_UNREADABLE:
        adapter_log(ADAPTER_LOG_WARN, "webhook: refused a body that is not JSON: %s", m->why);
        respond_error(in, r, 400, "malformed", m->why, NULL);
        return;
    case CRM_MAP_UNMAPPABLE:
        adapter_log(ADAPTER_LOG_WARN, "webhook: refused %s of %s: %s", m->message, m->entity,
                    m->why);
        respond_error(in, r, 422, "unmappable", m->why, NULL);
        return;
    }
}

static void on_other(void *ud, adapter_http_req_t *r)
{
    crm_inbound_t *in = ud;
    char why[300];
    (void)snprintf(why, sizeof why, "not an endpoint of this adapter: POST webhooks to %s",
                   in->o.path);
    respond_error(in, r, 404, "not-found", why, NULL);
}

/* ---- set-up -------------------------------------------------------------------------------- */

int crm_inbound_settings(const adapter_config_t *cfg, crm_inbound_opts_t *o, char *err,
                         size_t errlen)
{
    static const char *const keys[] = {
        "listen",   "path",           "key_header",        "key",
        "key_file", "max_body_bytes", "answer_timeout_ms", "max_waiting",
        NULL};
    unsigned long body, timeout, waiting;
    memset(o, 0, sizeof *o);
    if (adapter_config_keys(cfg, "webhook", keys, err, errlen) != 0 ||
        adapter_config_string(cfg, "webhook.listen", "127.0.0.1:8081", &o->listen, err, errlen) !=
            0 ||
        adapter_config_string(cfg, "webhook.path", "/webhook", &o->path, err, errlen) != 0 ||
        adapter_config_string(cfg, "webhook.key_header", "x-joinery-key", &o->key_header, err,
                              errlen) != 0 ||
        adapter_config_uint(cfg, "webhook.max_body_bytes", 1024, CRM_MAX_BODY, 256u << 10, &body,
                            err, errlen) != 0 ||
        adapter_config_uint(cfg, "webhook.answer_timeout_ms", 100, 600000, 30000, &timeout, err,
                            errlen) != 0 ||
        adapter_config_uint(cfg, "webhook.max_waiting", 1, 4096, 256, &waiting, err, errlen) != 0 ||
        adapter_config_string(cfg, "nhs_number_attribute", NULL, &o->nhs_number_attribute, err,
                              errlen) != 0 ||
        adapter_config_secret(cfg, "webhook", o->key, sizeof o->key, err, errlen) != 0)
        return -1;
    if (o->path[0] != '/' || o->path[1] == '\0') {
        (void)snprintf(err, errlen,
                       "'webhook.path' must start with '/' and name a path, e.g. "
                       "/webhook");
        return -1;
    }
    o->max_body = body;
    o->answer_timeout_ms = (unsigned)timeout;
    o->max_waiting = waiting;
    return 0;
}

crm_inbound_t *crm_inbound_new(const crm_inbound_opts_t *o, joinery_client_t *c, char *err,
                               size_t errlen)
{
    crm_inbound_t *in = calloc(1, sizeof *in);
    if (in == NULL) {
        (void)snprintf(err, errlen, "out of memory");
        return NULL;
    }
    in->o = *o;
    in->client = c;
    in->waits = calloc(o->max_waiting, sizeof *in->waits);
    in->map = malloc(sizeof *in->map);
    in->out = malloc(OUT_BYTES);
    in->pending = adapter_pending_new(o->max_waiting, o->max_waiting, on_answer, in);
    if (in->waits == NULL || in->map == NULL || in->out == NULL || in->pending == NULL) {
        (void)snprintf(err, errlen, "out of memory");
        crm_inbound_destroy(&in);
        return NULL;
    }
    adapter_http_opts_t ho = {
        .listen = o->listen, .max_body = o->max_body, .on_closed = on_closed, .closed_ud = in};
    if ((in->http = adapter_http_new(&ho, err, errlen)) == NULL) {
        crm_inbound_destroy(&in);
        return NULL;
    }
    if (adapter_http_route(in->http, "POST", in->o.path, on_post, in) != 0 ||
        adapter_http_route(in->http, NULL, "/", on_other, in) != 0) {
        (void)snprintf(err, errlen, "cannot add the webhook's routes");
        crm_inbound_destroy(&in);
        return NULL;
    }
    return in;
}

void crm_inbound_destroy(crm_inbound_t **inp)
{
    crm_inbound_t *in = *inp;
    if (in == NULL)
        return;
    /* What the closing client answered (UNCONFIRMED) goes out as a 503; then the server's stop
     * answers the rest and drops their waiters. */
    if (in->http != NULL && in->waits != NULL && in->pending != NULL)
        crm_inbound_flush(in);
    adapter_http_destroy(&in->http);
    adapter_pending_destroy(&in->pending);
    free(in->waits);
    free(in->map);
    free(in->out);
    free(in);
    *inp = NULL;
}

int crm_inbound_port(const crm_inbound_t *in)
{
    return in ? adapter_http_port(in->http) : -1;
}

int crm_inbound_fd(const crm_inbound_t *in)
{
    return in ? adapter_http_fd(in->http) : -1;
}

void crm_inbound_handle(crm_inbound_t *in)
{
    if (in != NULL)
        adapter_http_run(in->http);
}

size_t crm_inbound_waiting(const crm_inbound_t *in)
{
    size_t n = 0;
    for (size_t i = 0; in != NULL && i < in->o.max_waiting; i++)
        n += in->waits[i].used != 0;
    return n;
}
