/* adapter_rest.h - a REST adapter's requests (a CRM's webhook, a case system's POST) answered
 * only once the hub has journaled what they carried: the request is suspended while its event
 * is with the hub, and answered when adapter_pending hears the CONFIRM.
 *
 * What every such adapter answers alike is answered here: 503 with Retry-After when too many
 * requests wait, when the hub has not confirmed in time (the event stays with the SDK; the
 * system's retry has the same event id and is a DUPLICATE or joins the wait) and when the
 * adapter stops before the hub answered; 422 with the hub's reason when it refuses the event.
 * What the adapter says on success is its own: the on_taken callback answers, from
 * adapter_rest_flush. Answers are JSON (jansson); the helpers below serve the adapter's other
 * answers too (401, 400, 422 for a body it cannot map).
 *
 * Runs in the adapter's loop: adapter_rest_closed from adapter_http's on_closed, and
 * adapter_rest_flush after each turn. Fixed pools: nothing is allocated per request but the
 * answer's JSON. */
#ifndef JOINERY_ADAPTER_REST_H
#define JOINERY_ADAPTER_REST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <joinery/joinery.h>

#include "common/adapter_http.h"

#define ADAPTER_REST_NOTE 4096 /* what the adapter keeps with a request (e.g. dropped fields) */

typedef struct adapter_rest adapter_rest_t;

/* A request whose event the hub journaled (OK or DUPLICATE). NOTE is what the adapter gave
 * adapter_rest_publish, NOTE_LEN bytes of it. */
typedef struct {
    int duplicate;
    const char *event_id;
    const char *master_id; /* the golden record, "" if none */
    const void *note;
    size_t note_len;
} adapter_rest_taken_t;

/* Answers R (adapter_rest_json) for a request whose event was taken. */
typedef void (*adapter_rest_taken_fn)(void *ud, adapter_http_req_t *r,
                                      const adapter_rest_taken_t *t);

typedef struct {
    const char *what;    /* for log lines, e.g. "webhook" */
    size_t max_waiting;  /* requests waiting for the hub at once */
    unsigned timeout_ms; /* then 503 */
    adapter_rest_taken_fn on_taken;
    void *ud;
} adapter_rest_opts_t;

/* NULL and ERR when out of memory. The client C is borrowed. */
adapter_rest_t *adapter_rest_new(const adapter_rest_opts_t *o, joinery_client_t *c, char *err,
                                 size_t errlen);
/* Answers what the closing client settled; the HTTP server's stop answers the rest. */
void adapter_rest_destroy(adapter_rest_t **a);

/* Publishes EV for R (suspended until answered), keeping NOTE (NOTE_LEN bytes, at most
 * ADAPTER_REST_NOTE) for on_taken. A request whose event is in flight already joins it. */
void adapter_rest_publish(adapter_rest_t *a, adapter_http_req_t *r, const joinery_event_t *ev,
                          const void *note, size_t note_len);
/* Answers the requests the hub has settled, and those that waited too long. */
void adapter_rest_flush(adapter_rest_t *a);
/* adapter_http's on_closed: the connection of request ID went; its event stays tracked. */
void adapter_rest_closed(adapter_rest_t *a, uint64_t id);
/* Requests waiting for the hub. */
size_t adapter_rest_waiting(const adapter_rest_t *a);

/* Answers R with OBJ (taken: freed here) as JSON; HEADERS as adapter_http_respond's. */
void adapter_rest_json(adapter_rest_t *a, adapter_http_req_t *r, unsigned status, json_t *obj,
                       const char *const *headers);
/* {"error": ERROR, "message": MESSAGE} */
void adapter_rest_error(adapter_rest_t *a, adapter_http_req_t *r, unsigned status,
                        const char *error, const char *message, const char *const *headers);
/* "Retry-After" with the adapter library's pause, for 503s. */
extern const char *const adapter_rest_retry_headers[];

#endif
