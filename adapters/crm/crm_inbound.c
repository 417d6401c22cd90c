/* crm_inbound.c - the webhook endpoint of joinery-crm (contract in crm_inbound.h). The SDK's
 * confirmations reach a waiting request through adapter_pending and only mark it answered;
 * crm_inbound_flush writes the answers, so no socket is written from inside the SDK. */
#include "crm_inbound.h"
#include "crm_webhook.h"
#include "common/adapter_http.h"
#include "common/adapter_log.h"
#include "common/adapter_rest.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct crm_inbound {
    crm_inbound_opts_t o;
    joinery_client_t *client; /* borrowed */
    adapter_http_t *http;
    adapter_rest_t *rest;         /* requests waiting for the hub's CONFIRM */
    crm_mapped_t *map;            /* one mapper's result, reused; owned */
    char note[ADAPTER_REST_NOTE]; /* the dropped attributes of the request being published */
};

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

/* The hub has it: 200, with what was dropped (the note). */
static void on_taken(void *ud, adapter_http_req_t *r, const adapter_rest_taken_t *t)
{
    crm_inbound_t *in = ud;
    json_error_t e;
    json_t *dropped = json_loadb(t->note, t->note_len, 0, &e);
    adapter_rest_json(in->rest, r, 200,
                      json_pack("{s:s, s:s, s:s, s:o*}", "status",
                                t->duplicate ? "duplicate" : "ok", "event_id", t->event_id,
                                "master_id", t->master_id, "dropped", dropped),
                      NULL);
}

void crm_inbound_flush(crm_inbound_t *in)
{
    if (in == NULL)
        return;
    adapter_rest_flush(in->rest);
    adapter_http_run(in->http);
}

/* The connection of a waiting request went away: its waiter goes, the event stays tracked. */
static void on_closed(void *ud, adapter_http_req_t *r, uint64_t id)
{
    (void)r;
    crm_inbound_t *in = ud;
    adapter_rest_closed(in->rest, id);
}

/* ---- the webhook --------------------------------------------------------------------------- */

static void publish(crm_inbound_t *in, adapter_http_req_t *r)
{
    crm_mapped_t *m = in->map;
    dropped_json(m, in->note, sizeof in->note);
    joinery_attr_t attrs[1] = {{"ticket", m->ticket}};
    joinery_event_t ev = {.event_id = m->event_id,
                          .type = m->type,
                          .source_record_id = m->record_id,
                          .payload_type = m->payload_type,
                          .payload = m->payload,
                          .payload_len = m->payload_len,
                          .attrs = attrs,
                          .nattrs = m->ticket[0] ? 1 : 0};
    adapter_rest_publish(in->rest, r, &ev, in->note, strlen(in->note));
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
        adapter_rest_error(in->rest, r, 401, "unauthorized",
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
        adapter_rest_json(in->rest, r, 200,
                          json_pack("{s:s, s:s}", "status", "ignored", "reason", m->why), NULL);
        return;
    case CRM_MAP_UNREADABLE:
        adapter_log(ADAPTER_LOG_WARN, "webhook: refused a body that is not JSON: %s", m->why);
        adapter_rest_error(in->rest, r, 400, "malformed", m->why, NULL);
        return;
    case CRM_MAP_UNMAPPABLE:
        adapter_log(ADAPTER_LOG_WARN, "webhook: refused %s of %s: %s", m->message, m->entity,
                    m->why);
        adapter_rest_error(in->rest, r, 422, "unmappable", m->why, NULL);
        return;
    }
}

static void on_other(void *ud, adapter_http_req_t *r)
{
    crm_inbound_t *in = ud;
    char why[300];
    (void)snprintf(why, sizeof why, "not an endpoint of this adapter: POST webhooks to %s",
                   in->o.path);
    adapter_rest_error(in->rest, r, 404, "not-found", why, NULL);
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
    in->map = malloc(sizeof *in->map);
    adapter_rest_opts_t ro = {.what = "webhook",
                              .max_waiting = o->max_waiting,
                              .timeout_ms = o->answer_timeout_ms,
                              .on_taken = on_taken,
                              .ud = in};
    in->rest = adapter_rest_new(&ro, c, err, errlen);
    if (in->map == NULL || in->rest == NULL) {
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
     * answers the rest and drops their waiters (on_closed, while the waits still exist). */
    if (in->http != NULL && in->rest != NULL)
        crm_inbound_flush(in);
    adapter_http_destroy(&in->http);
    adapter_rest_destroy(&in->rest);
    free(in->map);
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

int crm_inbound_timeout_ms(const crm_inbound_t *in)
{
    return in ? adapter_http_timeout_ms(in->http) : -1;
}

void crm_inbound_handle(crm_inbound_t *in)
{
    if (in != NULL)
        adapter_http_run(in->http);
}

size_t crm_inbound_waiting(const crm_inbound_t *in)
{
    return in ? adapter_rest_waiting(in->rest) : 0;
}
