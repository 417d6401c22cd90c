/* health_fhir.c - the FHIR endpoint: Patient create and update answered after the hub's CONFIRM,
 * reads from the local view, the view kept from the hub's person.changed and person.merged. */
#include "health_fhir.h"
#include "fhir_patient.h"
#include "health_view.h"
#include "common/adapter_http.h"
#include "common/adapter_log.h"
#include "common/adapter_pending.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FHIR_JSON "application/fhir+json"
#define SUBSCRIPTION "fhir-view"
#define OUT_BYTES (512u << 10) /* one Patient written is far below FHIR_MAX_BYTES */
#define PAYLOAD_BYTES (256u << 10)
#define RETRY_AFTER "30"
#define REASON_LEN 256

typedef struct {
    int used, done, ok, closing;
    adapter_http_req_t *req;
    uint64_t req_id;
    int is_put;
    int64_t deadline_ms;
    char reason[REASON_LEN];
    char master[65];
    char local[257];
    uint8_t *payload; /* owned: the Person as published, for the view and the answer */
    size_t plen;
    char *outcome; /* owned, or NULL: the OperationOutcome of the fields not kept */
    size_t nproblems;
} wait_t;

struct health_fhir {
    health_fhir_opts_t o;
    joinery_client_t *client; /* borrowed */
    adapter_http_t *http;
    adapter_pending_t *pending;
    health_view_t *view;
    wait_t *waits;
    fhir_patient_t *pat; /* one reader's output, reused */
    char *out, *out2;    /* OUT_BYTES each: answers are written here */
    uint8_t payload[PAYLOAD_BYTES];
    char capability[8192];
    size_t capability_len;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void today(char out[11])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    (void)strftime(out, 11, "%Y-%m-%d", &tm);
}

/* ---- answers ------------------------------------------------------------------------------- */

static void respond_json(adapter_http_req_t *r, unsigned status, const char *body, size_t len,
                         const char *const *headers)
{
    if (adapter_http_respond(r, status, FHIR_JSON, body, len, headers) != 0)
        adapter_log(ADAPTER_LOG_WARN, "fhir: cannot answer %s %s", adapter_http_method(r),
                    adapter_http_path(r));
}

static void respond_outcome(health_fhir_t *f, adapter_http_req_t *r, unsigned status,
                            const fhir_problem_t *p, size_t n, const char *const *headers)
{
    size_t len;
    if (fhir_outcome_write(p, n, f->out, OUT_BYTES, &len) != 0) {
        static const char fallback[] = "{\"resourceType\":\"OperationOutcome\",\"issue\":[{"
                                       "\"severity\":\"error\",\"code\":\"exception\"}]}";
        respond_json(r, status, fallback, sizeof fallback - 1, headers);
        return;
    }
    respond_json(r, status, f->out, len, headers);
}

/* One issue, for the outcomes made here rather than by the reader. */
static void respond_issue(health_fhir_t *f, adapter_http_req_t *r, unsigned status,
                          fhir_issue_t code, const char *location, const char *reason,
                          const char *const *headers)
{
    fhir_problem_t p = {.severity = FHIR_ERROR, .code = code};
    (void)snprintf(p.location, sizeof p.location, "%s", location);
    (void)snprintf(p.reason, sizeof p.reason, "%s", reason);
    respond_outcome(f, r, status, &p, 1, headers);
}

static const char *const retry_headers[] = {"Retry-After", RETRY_AFTER, NULL};

/* ---- reads --------------------------------------------------------------------------------- */

/* REC as a Patient into OUT (OUT_BYTES): 0 and *LEN, or -1. */
static int write_patient(health_fhir_t *f, const health_view_rec_t *rec, char *out, size_t *len)
{
    fhir_view_t v = {.master_id = rec->master_id,
                     .version = rec->version,
                     .local_id = rec->local_id,
                     .local_system = f->o.local_system};
    char err[128];
    if (fhir_patient_write(rec->person, &v, out, OUT_BYTES, len, err, sizeof err) != 0) {
        adapter_log(ADAPTER_LOG_ERROR, "fhir: cannot write Patient %s: %s", rec->master_id, err);
        return -1;
    }
    return 0;
}

static void read_one(health_fhir_t *f, adapter_http_req_t *r, const char *id)
{
    const health_view_rec_t *rec = health_view_find(f->view, id);
    size_t len;
    if (rec == NULL) {
        respond_issue(f, r, 404, FHIR_ISSUE_NOT_FOUND, "Patient.id",
                      "no Patient with this id (the trust's id or the master id) is known here",
                      NULL);
        return;
    }
    if (write_patient(f, rec, f->out, &len) != 0) {
        respond_issue(f, r, 500, FHIR_ISSUE_INVALID, "Patient", "the record cannot be written",
                      NULL);
        return;
    }
    char etag[32];
    (void)snprintf(etag, sizeof etag, "W/\"%" PRIu64 "\"", rec->version);
    const char *const headers[] = {"ETag", etag, NULL};
    respond_json(r, 200, f->out, len, headers);
}

static void search(health_fhir_t *f, adapter_http_req_t *r)
{
    const char *token = adapter_http_query(r, "identifier");
    char nhs[11];
    fhir_problem_t why;
    if (token == NULL) {
        respond_issue(f, r, 400, FHIR_ISSUE_NOT_SUPPORTED, "identifier",
                      "Patient is searched by identifier=https://fhir.nhs.uk/Id/nhs-number|"
                      "NNNNNNNNNN only",
                      NULL);
        return;
    }
    if (fhir_search_nhs_number(token, nhs, &why) != 0) {
        respond_outcome(f, r, 400, &why, 1, NULL);
        return;
    }
    const health_view_rec_t *rec = health_view_find_nhs(f->view, nhs);
    size_t plen = 0;
    if (rec != NULL && write_patient(f, rec, f->out2, &plen) != 0)
        rec = NULL;
    const char *base = f->o.base_url ? f->o.base_url : "";
    int n = rec == NULL
                ? snprintf(f->out, OUT_BYTES,
                           "{\"resourceType\":\"Bundle\",\"type\":\"searchset\",\"total\":0}")
                : snprintf(f->out, OUT_BYTES,
                           "{\"resourceType\":\"Bundle\",\"type\":\"searchset\",\"total\":1,"
                           "\"entry\":[{\"fullUrl\":\"%s/Patient/%s\",\"resource\":%s,"
                           "\"search\":{\"mode\":\"match\"}}]}",
                           base, rec->master_id, f->out2);
    if (n < 0 || (size_t)n >= OUT_BYTES) {
        respond_issue(f, r, 500, FHIR_ISSUE_INVALID, "Bundle", "the Bundle cannot be written",
                      NULL);
        return;
    }
    respond_json(r, 200, f->out, (size_t)n, NULL);
}

static void on_get_patient(void *ud, adapter_http_req_t *r)
{
    health_fhir_t *f = ud;
    const char *path = adapter_http_path(r);
    if (strcmp(path, "/Patient") == 0 || strcmp(path, "/Patient/") == 0) {
        search(f, r);
        return;
    }
    const char *id = path + strlen("/Patient/");
    if (strchr(id, '/') != NULL) {
        respond_issue(f, r, 404, FHIR_ISSUE_NOT_SUPPORTED, "Patient",
                      "only read and search of Patient are supported", NULL);
        return;
    }
    read_one(f, r, id);
}

static void on_metadata(void *ud, adapter_http_req_t *r)
{
    health_fhir_t *f = ud;
    respond_json(r, 200, f->capability, f->capability_len, NULL);
}

static void on_other(void *ud, adapter_http_req_t *r)
{
    respond_issue(ud, r, 404, FHIR_ISSUE_NOT_SUPPORTED, adapter_http_path(r),
                  "not an endpoint of this server: see GET /metadata", NULL);
}

/* ---- writes -------------------------------------------------------------------------------- */

static wait_t *wait_take(health_fhir_t *f)
{
    for (size_t i = 0; i < f->o.max_waiting; i++)
        if (!f->waits[i].used) {
            wait_t *w = &f->waits[i];
            memset(w, 0, sizeof *w);
            w->used = 1;
            return w;
        }
    return NULL;
}

static void wait_release(wait_t *w)
{
    free(w->payload);
    free(w->outcome);
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
    w->closing = cf != NULL && cf->status == JOINERY_UNCONFIRMED;
    (void)snprintf(w->reason, sizeof w->reason, "%s", reason ? reason : "");
    if (cf != NULL && cf->master_id != NULL)
        (void)snprintf(w->master, sizeof w->master, "%s", cf->master_id);
}

/* The PUT's {id} must be the resource's own id when it has one (FHIR's update rule). */
static int put_id_ok(health_fhir_t *f, adapter_http_req_t *r, int is_put)
{
    const char *path = adapter_http_path(r);
    if (!is_put) {
        if (strcmp(path, "/Patient") == 0)
            return 1;
        respond_issue(f, r, 400, FHIR_ISSUE_INVALID, "Patient.id",
                      "POST creates at /Patient; to update, PUT /Patient/{id}", NULL);
        return 0;
    }
    const char *id = strncmp(path, "/Patient/", 9) == 0 ? path + 9 : "";
    if (id[0] == '\0' || strchr(id, '/') != NULL) {
        respond_issue(f, r, 400, FHIR_ISSUE_REQUIRED, "Patient.id",
                      "PUT needs the id in the URL: /Patient/{id}", NULL);
        return 0;
    }
    if (f->pat->id != NULL && strcmp(f->pat->id, id) != 0) {
        respond_issue(f, r, 400, FHIR_ISSUE_INVALID, "Patient.id",
                      "the resource's id is not the id in the URL", NULL);
        return 0;
    }
    return 1;
}

/* Keeps what the answer needs once the hub has confirmed: the Person, the trust's id and the
 * outcome of the fields that were not kept. */
static int wait_fill(health_fhir_t *f, wait_t *w, adapter_http_req_t *r, int is_put, size_t plen)
{
    w->req = r;
    w->req_id = adapter_http_req_id(r);
    w->is_put = is_put;
    w->deadline_ms = now_ms() + f->o.answer_timeout_ms;
    (void)snprintf(w->local, sizeof w->local, "%s", f->pat->local_id);
    w->payload = malloc(plen ? plen : 1); /* owned by the wait; one per request, like MHD's */
    if (w->payload == NULL)
        return -1;
    memcpy(w->payload, f->payload, plen);
    w->plen = plen;
    w->nproblems = f->pat->n_problems;
    size_t len;
    if (w->nproblems > 0 &&
        fhir_outcome_write(f->pat->problems, f->pat->n_problems, f->out, OUT_BYTES, &len) == 0) {
        w->outcome = strndup(f->out, len); /* owned by the wait */
        if (w->outcome == NULL)
            return -1;
    }
    return 0;
}

static void publish(health_fhir_t *f, adapter_http_req_t *r, int is_put)
{
    size_t plen = protobuf_c_message_get_packed_size(&f->pat->person.base);
    if (plen > sizeof f->payload) {
        respond_issue(f, r, 422, FHIR_ISSUE_TOO_LONG, "Patient", "the Patient is too large", NULL);
        return;
    }
    (void)protobuf_c_message_pack(&f->pat->person.base, f->payload);
    wait_t *w = wait_take(f);
    if (w == NULL) {
        respond_issue(f, r, 503, FHIR_ISSUE_TOO_LONG, "Patient",
                      "too many requests wait for the hub; send it again later", retry_headers);
        return;
    }
    if (wait_fill(f, w, r, is_put, plen) != 0) {
        wait_release(w);
        respond_issue(f, r, 503, FHIR_ISSUE_INVALID, "Patient", "out of memory", retry_headers);
        return;
    }
    /* A fresh id per request: the same values sent again later are a new change to apply, not
     * a duplicate of the old one. */
    char id[JOINERY_EVENT_ID_MAX + 1] = "fhir-";
    joinery_event_id_new(id + 5);
    if (adapter_pending_add(f->pending, id, w, w->req_id) != 0) {
        wait_release(w);
        respond_issue(f, r, 503, FHIR_ISSUE_TOO_LONG, "Patient",
                      "too many requests wait for the hub; send it again later", retry_headers);
        return;
    }
    joinery_event_t ev = {.event_id = id,
                          .type = "person.updated",
                          .source_record_id = f->pat->local_id,
                          .payload_type = "joinery.v1.Person",
                          .payload = f->payload,
                          .payload_len = plen};
    adapter_http_suspend(r);
    if (joinery_publish_async(f->client, &ev, adapter_pending_on_confirm, f->pending, NULL) != 0)
        adapter_pending_fail(f->pending, id, joinery_last_error(f->client));
}

static void on_write(health_fhir_t *f, adapter_http_req_t *r, int is_put)
{
    size_t len;
    const void *body = adapter_http_body(r, &len);
    char day[11];
    today(day);
    fhir_read_opts_t ro = {.local_system = f->o.local_system, .today = day};
    fhir_read_t rc = fhir_patient_read(body, len, &ro, f->pat);
    if (rc != FHIR_READ_OK) {
        respond_outcome(f, r, rc == FHIR_READ_UNREADABLE ? 400 : 422, f->pat->problems,
                        f->pat->n_problems, NULL);
        return;
    }
    if (put_id_ok(f, r, is_put))
        publish(f, r, is_put);
}

static void on_post(void *ud, adapter_http_req_t *r)
{
    on_write(ud, r, 0);
}

static void on_put(void *ud, adapter_http_req_t *r)
{
    on_write(ud, r, 1);
}

/* The hub has the Person: into the view, and back to the trust as the resource it now is. */
static void answer_ok(health_fhir_t *f, wait_t *w)
{
    Joinery__V1__Person *p = joinery__v1__person__unpack(NULL, w->plen, w->payload);
    char err[256];
    if (p != NULL && w->master[0] != '\0' &&
        health_view_apply_own(f->view, w->master, w->local, p, err, sizeof err) != 0)
        adapter_log(ADAPTER_LOG_ERROR, "fhir: the view did not take %s: %s", w->local, err);
    const health_view_rec_t *rec = w->master[0] ? health_view_find(f->view, w->master) : NULL;
    fhir_view_t v = {.master_id = w->master[0] ? w->master : w->local,
                     .version = rec ? rec->version : 0,
                     .local_id = w->local,
                     .local_system = f->o.local_system};
    size_t len = 0;
    int wrote =
        p != NULL && fhir_patient_write(p, &v, f->out, OUT_BYTES, &len, err, sizeof err) == 0;
    if (p != NULL)
        joinery__v1__person__free_unpacked(p, NULL);
    char location[512], warning[160];
    (void)snprintf(location, sizeof location, "%s/Patient/%s", f->o.base_url ? f->o.base_url : "",
                   v.master_id);
    (void)snprintf(warning, sizeof warning,
                   "199 joinery-health \"%zu value(s) not kept; send Prefer: "
                   "return=OperationOutcome to see which\"",
                   w->nproblems);
    const char *const headers[] = {"Location", location, w->nproblems ? "Warning" : NULL, warning,
                                   NULL};
    unsigned status = w->is_put ? 200 : 201;
    const char *prefer = adapter_http_header(w->req, "Prefer");
    if (prefer != NULL && strstr(prefer, "return=OperationOutcome") != NULL) {
        if (w->outcome)
            respond_json(w->req, status, w->outcome, strlen(w->outcome), headers);
        else
            respond_outcome(f, w->req, status, NULL, 0, headers);
    } else if (prefer != NULL && strstr(prefer, "return=minimal") != NULL) {
        respond_json(w->req, status, "", 0, headers);
    } else if (wrote) {
        respond_json(w->req, status, f->out, len, headers);
    } else {
        respond_json(w->req, status, "", 0, headers);
    }
}

static void answer(health_fhir_t *f, wait_t *w)
{
    if (w->ok) {
        answer_ok(f, w);
    } else if (w->closing) {
        respond_issue(f, w->req, 503, FHIR_ISSUE_INVALID, "Patient",
                      "the service is stopping; whether the hub has it is not known: send it "
                      "again",
                      retry_headers);
    } else {
        char why[FHIR_REASON];
        (void)snprintf(why, sizeof why, "the hub refused it: %.200s", w->reason);
        respond_issue(f, w->req, 422, FHIR_ISSUE_VALUE, "Patient", why, NULL);
    }
}

void health_fhir_flush(health_fhir_t *f)
{
    if (f == NULL)
        return;
    int64_t now = now_ms();
    for (size_t i = 0; i < f->o.max_waiting; i++) {
        wait_t *w = &f->waits[i];
        if (!w->used)
            continue;
        if (w->done) {
            answer(f, w);
        } else if (now >= w->deadline_ms) {
            /* The event stays with the SDK and may still be journaled: the trust's resend is
             * then a second, equal change, which the hub takes as no change. */
            (void)adapter_pending_drop_owner(f->pending, w->req_id);
            respond_issue(f, w->req, 503, FHIR_ISSUE_INVALID, "Patient",
                          "the hub has not confirmed it in time; send it again later",
                          retry_headers);
        } else {
            continue;
        }
        wait_release(w);
    }
    adapter_http_run(f->http);
}

/* The connection of a waiting request went away: its waiter goes, the event stays tracked. */
static void on_closed(void *ud, adapter_http_req_t *r, uint64_t id)
{
    (void)r;
    health_fhir_t *f = ud;
    for (size_t i = 0; i < f->o.max_waiting; i++)
        if (f->waits[i].used && f->waits[i].req_id == id) {
            (void)adapter_pending_drop_owner(f->pending, id);
            wait_release(&f->waits[i]);
        }
}

/* ---- the view's subscription --------------------------------------------------------------- */

static joinery_verdict_t on_event(void *ud, const joinery_event_t *ev, uint64_t seq,
                                  unsigned attempt, char *reason, size_t reason_len)
{
    (void)seq;
    (void)attempt;
    health_fhir_t *f = ud;
    char err[256] = "";
    int rc;
    if (strcmp(ev->type, "person.changed") == 0) {
        Joinery__V1__PersonChanged *pc =
            joinery__v1__person_changed__unpack(NULL, ev->payload_len, ev->payload);
        if (pc == NULL) {
            (void)snprintf(reason, reason_len, "not a joinery.v1.PersonChanged");
            return JOINERY_REJECT;
        }
        rc = health_view_apply_changed(f->view, pc, err, sizeof err);
        joinery__v1__person_changed__free_unpacked(pc, NULL);
    } else if (strcmp(ev->type, "person.merged") == 0) {
        Joinery__V1__PersonMerged *pm =
            joinery__v1__person_merged__unpack(NULL, ev->payload_len, ev->payload);
        if (pm == NULL) {
            (void)snprintf(reason, reason_len, "not a joinery.v1.PersonMerged");
            return JOINERY_REJECT;
        }
        rc = health_view_apply_merged(f->view, pm, err, sizeof err);
        joinery__v1__person_merged__free_unpacked(pm, NULL);
    } else {
        return JOINERY_ACK; /* not the view's */
    }
    if (rc != 0) {
        adapter_log(ADAPTER_LOG_ERROR, "fhir: the view cannot take %s: %s", ev->type, err);
        (void)snprintf(reason, reason_len, "%s", err);
        return JOINERY_RETRY;
    }
    return JOINERY_ACK;
}

/* ---- set-up -------------------------------------------------------------------------------- */

int health_fhir_settings(const adapter_config_t *cfg, health_fhir_opts_t *o, char *err,
                         size_t errlen)
{
    static const char *const keys[] = {
        "listen",         "data_dir",          "local_system", "base_url",
        "max_body_bytes", "answer_timeout_ms", "max_waiting",  NULL};
    unsigned long body, timeout, waiting;
    memset(o, 0, sizeof *o);
    if (adapter_config_keys(cfg, "fhir", keys, err, errlen) != 0 ||
        adapter_config_string(cfg, "fhir.listen", NULL, &o->listen, err, errlen) != 0 ||
        adapter_config_string(cfg, "fhir.data_dir", NULL, &o->data_dir, err, errlen) != 0 ||
        adapter_config_string(cfg, "fhir.local_system", NULL, &o->local_system, err, errlen) != 0 ||
        adapter_config_string(cfg, "fhir.base_url", NULL, &o->base_url, err, errlen) != 0 ||
        adapter_config_uint(cfg, "fhir.max_body_bytes", 1024, FHIR_MAX_BYTES, FHIR_MAX_BYTES, &body,
                            err, errlen) != 0 ||
        adapter_config_uint(cfg, "fhir.answer_timeout_ms", 100, 600000, 30000, &timeout, err,
                            errlen) != 0 ||
        adapter_config_uint(cfg, "fhir.max_waiting", 1, 4096, 256, &waiting, err, errlen) != 0)
        return -1;
    if (o->listen != NULL && o->data_dir == NULL) {
        (void)snprintf(err, errlen,
                       "'fhir.data_dir' is required with 'fhir.listen': where the FHIR view of "
                       "the golden records is kept (e.g. /var/lib/joinery-health/fhir)");
        return -1;
    }
    o->max_body = body;
    o->answer_timeout_ms = (unsigned)timeout;
    o->max_waiting = waiting;
    return 0;
}

size_t health_fhir_max_events(const health_fhir_opts_t *o)
{
    return o->listen ? o->max_waiting : 0;
}

static int routes(health_fhir_t *f)
{
    return adapter_http_route(f->http, "GET", "/metadata", on_metadata, f) == 0 &&
                   adapter_http_route(f->http, "GET", "/Patient", on_get_patient, f) == 0 &&
                   adapter_http_route(f->http, "POST", "/Patient", on_post, f) == 0 &&
                   adapter_http_route(f->http, "PUT", "/Patient", on_put, f) == 0 &&
                   adapter_http_route(f->http, NULL, "/", on_other, f) == 0
               ? 0
               : -1;
}

static int capability(health_fhir_t *f)
{
    char day[11];
    today(day);
    fhir_capability_t c = {.date = day,
                           .version = joinery_version(),
                           .base_url = f->o.base_url,
                           .local_system = f->o.local_system};
    return fhir_capability_write(&c, f->capability, sizeof f->capability, &f->capability_len);
}

health_fhir_t *health_fhir_new(const health_fhir_opts_t *o, joinery_client_t *c, char *err,
                               size_t errlen)
{
    health_fhir_t *f = calloc(1, sizeof *f);
    if (f == NULL) {
        (void)snprintf(err, errlen, "out of memory");
        return NULL;
    }
    f->o = *o;
    f->client = c;
    f->waits = calloc(o->max_waiting, sizeof *f->waits);
    f->pat = malloc(sizeof *f->pat);
    f->out = malloc(OUT_BYTES);
    f->out2 = malloc(OUT_BYTES);
    f->pending = adapter_pending_new(o->max_waiting, o->max_waiting, on_answer, f);
    if (f->waits == NULL || f->pat == NULL || f->out == NULL || f->out2 == NULL ||
        f->pending == NULL || capability(f) != 0) {
        (void)snprintf(err, errlen, "out of memory");
        health_fhir_destroy(&f);
        return NULL;
    }
    static const char *const patterns[] = {"person.changed", "person.merged"};
    adapter_http_opts_t ho = {
        .listen = o->listen, .max_body = o->max_body, .on_closed = on_closed, .closed_ud = f};
    if ((f->view = health_view_open(o->data_dir, err, errlen)) == NULL ||
        (f->http = adapter_http_new(&ho, err, errlen)) == NULL) {
        health_fhir_destroy(&f);
        return NULL;
    }
    if (routes(f) != 0 || joinery_subscribe(c, SUBSCRIPTION, patterns, 2, 0, on_event, f) != 0) {
        (void)snprintf(err, errlen, "cannot subscribe to person.changed and person.merged: %s",
                       joinery_last_error(c));
        health_fhir_destroy(&f);
        return NULL;
    }
    adapter_log(ADAPTER_LOG_INFO, "fhir: listening on port %d; the view holds %zu records from %s",
                adapter_http_port(f->http), health_view_count(f->view), o->data_dir);
    return f;
}

void health_fhir_destroy(health_fhir_t **fp)
{
    health_fhir_t *f = *fp;
    if (f == NULL)
        return;
    /* What the closing client answered (UNCONFIRMED) goes out as an OperationOutcome; then the
     * server's stop answers the rest and drops their waiters. */
    if (f->http != NULL && f->waits != NULL && f->pending != NULL)
        health_fhir_flush(f);
    adapter_http_destroy(&f->http);
    for (size_t i = 0; f->waits && i < f->o.max_waiting; i++)
        if (f->waits[i].used)
            wait_release(&f->waits[i]);
    adapter_pending_destroy(&f->pending);
    health_view_destroy(&f->view);
    free(f->waits);
    free(f->pat);
    free(f->out);
    free(f->out2);
    free(f);
    *fp = NULL;
}

int health_fhir_port(const health_fhir_t *f)
{
    return f ? adapter_http_port(f->http) : -1;
}

int health_fhir_fd(const health_fhir_t *f)
{
    return f ? adapter_http_fd(f->http) : -1;
}

int health_fhir_timeout_ms(const health_fhir_t *f)
{
    return f ? adapter_http_timeout_ms(f->http) : -1;
}

void health_fhir_handle(health_fhir_t *f)
{
    if (f != NULL)
        adapter_http_run(f->http);
}
