/* adapter_rest.c - see adapter_rest.h. */
#include "common/adapter_rest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/adapter_log.h"
#include "common/adapter_pending.h"

#define JSON_TYPE "application/json"
#define OUT_BYTES (64u << 10)
#define REASON_LEN 256

const char *const adapter_rest_retry_headers[] = {"Retry-After", "30", NULL};

typedef struct {
    int used, done, ok, duplicate, closing;
    adapter_http_req_t *req;
    uint64_t req_id;
    int64_t deadline_ms;
    char event_id[JOINERY_EVENT_ID_MAX + 1];
    char reason[REASON_LEN];
    char master[65];
    size_t note_len;
    unsigned char note[ADAPTER_REST_NOTE];
} wait_t;

struct adapter_rest {
    adapter_rest_opts_t o;
    joinery_client_t *client; /* borrowed */
    adapter_pending_t *pending;
    wait_t *waits; /* o.max_waiting; owned */
    char *out;     /* OUT_BYTES: answers are written here; owned */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void adapter_rest_json(adapter_rest_t *a, adapter_http_req_t *r, unsigned status, json_t *obj,
                       const char *const *headers)
{
    size_t len = obj ? json_dumpb(obj, a->out, OUT_BYTES, JSON_COMPACT) : 0;
    json_decref(obj);
    if (len == 0 || len > OUT_BYTES) {
        static const char fallback[] = "{\"error\":\"internal\"}";
        len = sizeof fallback - 1;
        memcpy(a->out, fallback, len);
    }
    if (adapter_http_respond(r, status, JSON_TYPE, a->out, len, headers) != 0)
        adapter_log(ADAPTER_LOG_WARN, "%s: cannot answer %s %s", a->o.what, adapter_http_method(r),
                    adapter_http_path(r));
}

void adapter_rest_error(adapter_rest_t *a, adapter_http_req_t *r, unsigned status,
                        const char *error, const char *message, const char *const *headers)
{
    adapter_rest_json(a, r, status, json_pack("{s:s, s:s}", "error", error, "message", message),
                      headers);
}

/* ---- the waits ----------------------------------------------------------------------------- */

static wait_t *wait_take(adapter_rest_t *a)
{
    for (size_t i = 0; i < a->o.max_waiting; i++)
        if (!a->waits[i].used) {
            wait_t *w = &a->waits[i];
            memset(w, 0, offsetof(wait_t, note));
            w->used = 1;
            return w;
        }
    return NULL;
}

static void wait_release(wait_t *w)
{
    w->used = 0;
    w->req = NULL;
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

static void answer(adapter_rest_t *a, wait_t *w)
{
    if (w->ok) {
        adapter_rest_taken_t t = {.duplicate = w->duplicate,
                                  .event_id = w->event_id,
                                  .master_id = w->master,
                                  .note = w->note,
                                  .note_len = w->note_len};
        a->o.on_taken(a->o.ud, w->req, &t);
    } else if (w->closing) {
        adapter_rest_error(a, w->req, 503, "unavailable",
                           "the adapter is stopping; whether the hub has it is not known: send it "
                           "again",
                           adapter_rest_retry_headers);
    } else {
        char why[REASON_LEN + 32];
        (void)snprintf(why, sizeof why, "the hub refused it: %s", w->reason);
        adapter_log(ADAPTER_LOG_WARN, "%s: event %s refused by the hub: %s", a->o.what, w->event_id,
                    w->reason);
        adapter_rest_error(a, w->req, 422, "rejected", why, NULL);
    }
}

void adapter_rest_flush(adapter_rest_t *a)
{
    if (a == NULL)
        return;
    int64_t now = now_ms();
    for (size_t i = 0; i < a->o.max_waiting; i++) {
        wait_t *w = &a->waits[i];
        if (!w->used)
            continue;
        if (w->done) {
            answer(a, w);
        } else if (now >= w->deadline_ms) {
            /* The event stays with the SDK and may still be journaled: the system's retry has
             * the same id and is then a DUPLICATE, or joins this wait. */
            (void)adapter_pending_drop_owner(a->pending, w->req_id);
            adapter_rest_error(a, w->req, 503, "unavailable",
                               "the hub has not confirmed it in time; send it again later",
                               adapter_rest_retry_headers);
        } else {
            continue;
        }
        wait_release(w);
    }
}

void adapter_rest_closed(adapter_rest_t *a, uint64_t id)
{
    for (size_t i = 0; a != NULL && i < a->o.max_waiting; i++)
        if (a->waits[i].used && a->waits[i].req_id == id) {
            (void)adapter_pending_drop_owner(a->pending, id);
            wait_release(&a->waits[i]);
        }
}

size_t adapter_rest_waiting(const adapter_rest_t *a)
{
    size_t n = 0;
    for (size_t i = 0; a != NULL && i < a->o.max_waiting; i++)
        n += a->waits[i].used != 0;
    return n;
}

static void busy(adapter_rest_t *a, adapter_http_req_t *r)
{
    adapter_rest_error(a, r, 503, "busy", "too many requests wait for the hub; send it again later",
                       adapter_rest_retry_headers);
}

void adapter_rest_publish(adapter_rest_t *a, adapter_http_req_t *r, const joinery_event_t *ev,
                          const void *note, size_t note_len)
{
    wait_t *w = wait_take(a);
    if (w == NULL || note_len > sizeof w->note) {
        if (w != NULL)
            wait_release(w);
        busy(a, r);
        return;
    }
    w->req = r;
    w->req_id = adapter_http_req_id(r);
    w->deadline_ms = now_ms() + a->o.timeout_ms;
    (void)snprintf(w->event_id, sizeof w->event_id, "%s", ev->event_id);
    if (note_len)
        memcpy(w->note, note, note_len);
    w->note_len = note_len;
    int rc = adapter_pending_add(a->pending, ev->event_id, w, w->req_id);
    if (rc < 0) {
        wait_release(w);
        busy(a, r);
        return;
    }
    adapter_http_suspend(r);
    if (rc == 1)
        return; /* the same request is in flight already: this one waits for its answer */
    if (joinery_publish_async(a->client, ev, adapter_pending_on_confirm, a->pending, NULL) != 0)
        adapter_pending_fail(a->pending, ev->event_id, joinery_last_error(a->client));
}

adapter_rest_t *adapter_rest_new(const adapter_rest_opts_t *o, joinery_client_t *c, char *err,
                                 size_t errlen)
{
    adapter_rest_t *a = calloc(1, sizeof *a);
    if (a == NULL) {
        (void)snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->o = *o;
    a->client = c;
    a->waits = calloc(o->max_waiting, sizeof *a->waits);
    a->out = malloc(OUT_BYTES);
    a->pending = adapter_pending_new(o->max_waiting, o->max_waiting, on_answer, a);
    if (a->waits == NULL || a->out == NULL || a->pending == NULL) {
        (void)snprintf(err, errlen, "out of memory");
        adapter_rest_destroy(&a);
        return NULL;
    }
    return a;
}

void adapter_rest_destroy(adapter_rest_t **ap)
{
    adapter_rest_t *a = *ap;
    if (a == NULL)
        return;
    /* What the closing client answered (UNCONFIRMED) goes out as a 503; the server's stop
     * answers the rest. */
    if (a->waits != NULL && a->pending != NULL && a->out != NULL)
        adapter_rest_flush(a);
    adapter_pending_destroy(&a->pending);
    free(a->waits);
    free(a->out);
    free(a);
    *ap = NULL;
}
