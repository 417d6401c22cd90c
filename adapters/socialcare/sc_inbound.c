/* sc_inbound.c - the REST endpoint of joinery-socialcare (contract in sc_inbound.h). The SDK's
 * confirmations reach a waiting request through adapter_pending and only mark it answered;
 * sc_inbound_flush writes the answers, so no socket is written from inside the SDK. */
#include "sc_inbound.h"
#include "sc_map.h"
#include "common/adapter_http.h"
#include "common/adapter_log.h"
#include "common/adapter_rest.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KINDS 5

/* What a request keeps while the hub has its event (adapter_rest's note): what the discharge
 * side learns once the hub took it, and the dropped fields for the answer. */
typedef struct {
    sc_kind_t kind;
    int case_open;
    char record_id[SC_ID_MAX + 1];
    char person_id[SC_ID_MAX + 1];
    char dropped[ADAPTER_REST_NOTE - 2 * (SC_ID_MAX + 1) - 2 * sizeof(int)];
} note_t;
_Static_assert(sizeof(note_t) <= ADAPTER_REST_NOTE, "a note fits adapter_rest's");

typedef struct {
    struct sc_inbound *in;
    sc_kind_t kind;
} route_t;

struct sc_inbound {
    sc_inbound_opts_t o;
    joinery_client_t *client;  /* borrowed */
    sc_discharge_t *discharge; /* borrowed, may be NULL */
    adapter_http_t *http;
    adapter_rest_t *rest; /* requests waiting for the hub's CONFIRM */
    route_t routes[KINDS];
    sc_mapped_t *map; /* one mapper's result, reused; owned */
    note_t note;      /* the note of the request being published */
};

static const char *const PATHS[KINDS] = {"/people", "/referrals", "/cases", "/assessments",
                                         "/care-packages"};

/* The mapper's dropped fields as a JSON array into DST. */
static void dropped_json(const sc_mapped_t *m, char *dst, size_t cap)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < m->n_drops; i++)
        (void)json_array_append_new(
            a, json_pack("{s:s, s:s}", "field", m->drops[i].field, "reason", m->drops[i].reason));
    size_t n = a ? json_dumpb(a, dst, cap - 1, JSON_COMPACT) : 0;
    json_decref(a);
    if (n == 0 || n >= cap)
        (void)snprintf(dst, cap, "[]");
    else
        dst[n] = '\0';
}

/* What the hub took of people and cases is what the discharge side knows them by. */
static void tell_discharge(sc_inbound_t *in, const note_t *n, const char *master)
{
    if (in->discharge == NULL || master[0] == '\0')
        return;
    if (n->kind == SC_PEOPLE)
        sc_discharge_person(in->discharge, n->record_id, master);
    else if (n->kind == SC_CASES && n->case_open >= 0)
        sc_discharge_case(in->discharge, n->person_id, n->record_id, n->case_open);
}

/* The hub has it: 201 (200 for a repeat), with what was dropped. */
static void on_taken(void *ud, adapter_http_req_t *r, const adapter_rest_taken_t *t)
{
    sc_inbound_t *in = ud;
    note_t n;
    memcpy(&n, t->note, sizeof n);
    tell_discharge(in, &n, t->master_id);
    json_error_t e;
    json_t *dropped = json_loads(n.dropped, 0, &e);
    adapter_rest_json(in->rest, r, t->duplicate ? 200 : 201,
                      json_pack("{s:s, s:s, s:s, s:o*}", "status",
                                t->duplicate ? "duplicate" : "ok", "event_id", t->event_id,
                                "master_id", t->master_id, "dropped", dropped),
                      NULL);
}

void sc_inbound_flush(sc_inbound_t *in)
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
    sc_inbound_t *in = ud;
    adapter_rest_closed(in->rest, id);
}

/* ---- the records --------------------------------------------------------------------------- */

static void publish(sc_inbound_t *in, adapter_http_req_t *r, sc_kind_t kind)
{
    sc_mapped_t *m = in->map;
    note_t *n = &in->note;
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->case_open = m->case_open;
    (void)snprintf(n->record_id, sizeof n->record_id, "%s", m->record_id);
    (void)snprintf(n->person_id, sizeof n->person_id, "%s", m->person_id);
    dropped_json(m, n->dropped, sizeof n->dropped);
    joinery_event_t ev = {.event_id = m->event_id,
                          .type = m->type,
                          .source_record_id = m->record_id,
                          .payload_type = m->payload_type,
                          .payload = m->payload,
                          .payload_len = m->payload_len};
    adapter_rest_publish(in->rest, r, &ev, n, sizeof *n);
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
    const route_t *rt = ud;
    sc_inbound_t *in = rt->in;
    if (!adapter_http_key_ok(r, in->o.key_header, in->o.key)) {
        adapter_log(ADAPTER_LOG_WARN, "api: refused a POST to %s without the right %s header",
                    PATHS[rt->kind], in->o.key_header);
        adapter_rest_error(in->rest, r, 401, "unauthorized",
                           "the key is missing or wrong: send it in the header the adapter is "
                           "configured with",
                           NULL);
        return;
    }
    size_t len;
    const void *body = adapter_http_body(r, &len);
    char day[11];
    today(day);
    sc_map_opts_t mo = {.today = day};
    sc_mapped_t *m = in->map;
    switch (sc_map(rt->kind, body, len, &mo, m)) {
    case SC_MAP_OK:
        publish(in, r, rt->kind);
        return;
    case SC_MAP_UNREADABLE:
        adapter_log(ADAPTER_LOG_WARN, "api: refused a body to %s that is not JSON: %s",
                    PATHS[rt->kind], m->why);
        adapter_rest_error(in->rest, r, 400, "malformed", m->why, NULL);
        return;
    case SC_MAP_UNMAPPABLE:
        adapter_log(ADAPTER_LOG_WARN, "api: refused a record to %s: %s", PATHS[rt->kind], m->why);
        adapter_rest_error(in->rest, r, 422, "unmappable", m->why, NULL);
        return;
    }
}

static void on_other(void *ud, adapter_http_req_t *r)
{
    sc_inbound_t *in = ud;
    adapter_rest_error(in->rest, r, 404, "not-found",
                       "not an endpoint of this adapter: POST to /people, /referrals, /cases, "
                       "/assessments or /care-packages",
                       NULL);
}

/* ---- set-up -------------------------------------------------------------------------------- */

int sc_inbound_settings(const adapter_config_t *cfg, sc_inbound_opts_t *o, char *err, size_t errlen)
{
    static const char *const keys[] = {
        "listen",         "key_header",        "key",         "key_file",
        "max_body_bytes", "answer_timeout_ms", "max_waiting", NULL};
    unsigned long body, timeout, waiting;
    memset(o, 0, sizeof *o);
    if (adapter_config_keys(cfg, "api", keys, err, errlen) != 0 ||
        adapter_config_string(cfg, "api.listen", "127.0.0.1:8082", &o->listen, err, errlen) != 0 ||
        adapter_config_string(cfg, "api.key_header", "x-joinery-key", &o->key_header, err,
                              errlen) != 0 ||
        adapter_config_uint(cfg, "api.max_body_bytes", 1024, SC_MAX_BODY, 256u << 10, &body, err,
                            errlen) != 0 ||
        adapter_config_uint(cfg, "api.answer_timeout_ms", 100, 600000, 30000, &timeout, err,
                            errlen) != 0 ||
        adapter_config_uint(cfg, "api.max_waiting", 1, 4096, 256, &waiting, err, errlen) != 0 ||
        adapter_config_secret(cfg, "api", o->key, sizeof o->key, err, errlen) != 0)
        return -1;
    o->max_body = body;
    o->answer_timeout_ms = (unsigned)timeout;
    o->max_waiting = waiting;
    return 0;
}

sc_inbound_t *sc_inbound_new(const sc_inbound_opts_t *o, joinery_client_t *c, sc_discharge_t *d,
                             char *err, size_t errlen)
{
    sc_inbound_t *in = calloc(1, sizeof *in);
    if (in == NULL) {
        (void)snprintf(err, errlen, "out of memory");
        return NULL;
    }
    in->o = *o;
    in->client = c;
    in->discharge = d;
    in->map = malloc(sizeof *in->map);
    adapter_rest_opts_t ro = {.what = "api",
                              .max_waiting = o->max_waiting,
                              .timeout_ms = o->answer_timeout_ms,
                              .on_taken = on_taken,
                              .ud = in};
    in->rest = adapter_rest_new(&ro, c, err, errlen);
    if (in->map == NULL || in->rest == NULL) {
        (void)snprintf(err, errlen, "out of memory");
        sc_inbound_destroy(&in);
        return NULL;
    }
    adapter_http_opts_t ho = {
        .listen = o->listen, .max_body = o->max_body, .on_closed = on_closed, .closed_ud = in};
    if ((in->http = adapter_http_new(&ho, err, errlen)) == NULL) {
        sc_inbound_destroy(&in);
        return NULL;
    }
    int rc = 0;
    for (int k = 0; k < KINDS; k++) {
        in->routes[k] = (route_t){in, (sc_kind_t)k};
        rc |= adapter_http_route(in->http, "POST", PATHS[k], on_post, &in->routes[k]);
    }
    if (rc != 0 || adapter_http_route(in->http, NULL, "/", on_other, in) != 0) {
        (void)snprintf(err, errlen, "cannot add the endpoint's routes");
        sc_inbound_destroy(&in);
        return NULL;
    }
    return in;
}

void sc_inbound_destroy(sc_inbound_t **inp)
{
    sc_inbound_t *in = *inp;
    if (in == NULL)
        return;
    /* What the closing client answered (UNCONFIRMED) goes out as a 503; then the server's stop
     * answers the rest and drops their waiters (on_closed, while the waits still exist). */
    if (in->http != NULL && in->rest != NULL)
        sc_inbound_flush(in);
    adapter_http_destroy(&in->http);
    adapter_rest_destroy(&in->rest);
    free(in->map);
    free(in);
    *inp = NULL;
}

int sc_inbound_port(const sc_inbound_t *in)
{
    return in ? adapter_http_port(in->http) : -1;
}

int sc_inbound_fd(const sc_inbound_t *in)
{
    return in ? adapter_http_fd(in->http) : -1;
}

int sc_inbound_timeout_ms(const sc_inbound_t *in)
{
    return in ? adapter_http_timeout_ms(in->http) : -1;
}

void sc_inbound_handle(sc_inbound_t *in)
{
    if (in != NULL)
        adapter_http_run(in->http);
}

size_t sc_inbound_waiting(const sc_inbound_t *in)
{
    return in ? adapter_rest_waiting(in->rest) : 0;
}
