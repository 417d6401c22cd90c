/* sc_outbound.h - joinery-socialcare's outbound side: the hub's changes POSTed to the case
 * system's configured endpoint (docs/socialcare-openapi.yaml, the paths "implemented by the case
 * system"), each delivery settled only once the case system has answered.
 *
 * A durable subscription (outbound.subscription, default "socialcare-out") to person.changed,
 * person.correction and crm.service_request.created. Its handler builds the body (sc_outmap),
 * queues the POST on an HTTP client in the adapter's loop (adapter_httpc) and keeps the delivery
 * unsettled (JOINERY_DEFER):
 *
 *   person.changed, person.correction   POST {base}/people/{social care's id}; a person social
 *                                       care does not hold (empty local id) is ACKed unsent
 *   crm.service_request.created         POST {base}/referrals/inbound
 *
 * The answer settles it: 2xx ACK; a final 4xx (not 408, 429) REJECT with the case system's
 * reason (its JSON message or error, else the status and the start of the body), so the hub
 * dead-letters it; 5xx, 408, 429, no connection or a timeout are tried again by the client
 * (retry_min_ms doubling to retry_max_ms, Retry-After honoured) up to max_attempts, and then the
 * delivery is NACKed RETRY: the hub delivers it again later, never ACKed unsent. The hub
 * delivers a person's next change only once the previous is settled, so each person's changes
 * reach the case system in order.
 *
 * The discharge side (sc_discharge) POSTs its tasks through the same client (sc_outbound_post).
 *
 * Memory is fixed at creation: a slot per delivery the credit allows, the client's request pool,
 * a decode arena and a body buffer; nothing is allocated per event (libcurl aside). */
#ifndef JOINERY_SC_OUTBOUND_H
#define JOINERY_SC_OUTBOUND_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include <joinery/joinery.h>

#include "common/adapter_config.h"
#include "common/adapter_httpc.h"

#define SC_OUT_KEY_MAX 256

typedef struct {
    const char *base_url;   /* e.g. http://127.0.0.1:8091; NULL: no outbound section */
    const char *key_header; /* the header the shared key goes in */
    char key[SC_OUT_KEY_MAX];
    unsigned timeout_ms;   /* one attempt */
    unsigned max_attempts; /* of one request, before the delivery is NACKed RETRY */
    unsigned retry_min_ms, retry_max_ms;
    const char *subscription; /* durable; "socialcare-out" */
    unsigned credit;          /* deliveries held at once */
    unsigned extra_requests;  /* room in the client for others' requests (the discharge tasks) */
} sc_outbound_opts_t;

typedef struct sc_outbound sc_outbound_t;

/* Reads the optional outbound section of CFG into O (strings point into CFG). O->base_url is
 * NULL without it. -1 and ERR for an unknown key, a wrong value, a section without base_url or
 * its key. */
int sc_outbound_settings(const adapter_config_t *cfg, sc_outbound_opts_t *o, char *err,
                         size_t errlen);

/* Starts the HTTP client and subscribes through C (borrowed; it must outlive the result). NULL
 * and ERR when the client cannot start or the hub refuses the subscription. */
sc_outbound_t *sc_outbound_new(const sc_outbound_opts_t *o, joinery_client_t *c, char *err,
                               size_t errlen);
/* Ends every request: their callbacks come with stopped 1 and nothing is settled, so the hub
 * delivers those events again next time. */
void sc_outbound_destroy(sc_outbound_t **out);

/* POSTs LEN bytes of the JSON BODY to the base URL + PATH (e.g. "/tasks"); DONE(UD, result)
 * once, from sc_outbound_handle (or sc_outbound_destroy, stopped). 0, or -1 and ERR. */
int sc_outbound_post(sc_outbound_t *out, const char *path, const char *body, size_t len,
                     adapter_httpc_done_fn done, void *ud, char *err, size_t errlen);

/* What the case system's answer R means for the delivery that asked: ACK (a 2xx); REJECT for a
 * final 4xx, WHY its reason; RETRY when the tries ran out, WHY the last error; DEFER (settle
 * nothing: the hub delivers it again) when the client stopped first. */
joinery_verdict_t sc_outbound_verdict(const adapter_httpc_result_t *r, char *why, size_t len);

/* The client's descriptor into FDS (CAP entries); how many were written. */
size_t sc_outbound_fds(sc_outbound_t *out, struct pollfd *fds, size_t cap);
/* How long the loop may wait at most (-1: no limit). */
int sc_outbound_timeout_ms(const sc_outbound_t *out);
/* Does the client's work and settles what was answered. Call after the loop's wait. */
void sc_outbound_handle(sc_outbound_t *out, const struct pollfd *fds, size_t n);

/* Deliveries held, waiting for the case system. */
size_t sc_outbound_held(const sc_outbound_t *out);

#endif
