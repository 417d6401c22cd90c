/* sc_inbound.h - joinery-socialcare's inbound side: the case system's records, POSTed as JSON
 * (docs/socialcare-openapi.yaml), as Joinery events; the HTTP answer only once the hub has
 * answered.
 *
 * An HTTP endpoint (adapter_http) in the adapter's loop: POST /people, /referrals, /cases,
 * /assessments and /care-packages. A POST must carry the shared key in the configured header
 * (else 401, nothing published); its body is mapped (sc_map): not JSON is 400, a record without
 * its ids or one Agresso could not charge is 422. A mapped event is published (its id derived
 * from the body, so the case system's retry is a DUPLICATE) and the request is suspended until
 * the hub's CONFIRM: OK is 201, DUPLICATE 200, each with a small JSON body naming the fields that
 * were dropped; REJECTED is 422 with the hub's reason; no answer within answer_timeout_ms (the
 * hub unreachable) is 503 with Retry-After, so the case system sends it again.
 *
 * What the hub confirmed of people and cases is told to the discharge side (sc_discharge), so it
 * knows which golden persons have an open case.
 *
 * Memory is fixed at creation (a pool of waiting requests, the mapper's result, the answer
 * buffer); jansson allocates while a body is read and an answer is written, and frees it before
 * the call returns. */
#ifndef JOINERY_SC_INBOUND_H
#define JOINERY_SC_INBOUND_H

#include <stddef.h>

#include <joinery/joinery.h>

#include "common/adapter_config.h"
#include "sc_discharge.h"

#define SC_KEY_MAX 256

typedef struct {
    const char *listen;     /* "HOST:PORT"; port 0 picks a free one */
    const char *key_header; /* the header the case system sends the key in */
    char key[SC_KEY_MAX];   /* the shared key (api.key or api.key_file) */
    size_t max_body;
    unsigned answer_timeout_ms;
    size_t max_waiting; /* requests waiting for the hub at once */
} sc_inbound_opts_t;

typedef struct sc_inbound sc_inbound_t;

/* Reads the api section of CFG into O; -1 and ERR when wrong. */
int sc_inbound_settings(const adapter_config_t *cfg, sc_inbound_opts_t *o, char *err,
                        size_t errlen);

/* Binds the endpoint. C is the SDK client the events go through, D the discharge side told what
 * the hub confirmed (both borrowed; D may be NULL). NULL and ERR when the address cannot be
 * bound. */
sc_inbound_t *sc_inbound_new(const sc_inbound_opts_t *o, joinery_client_t *c, sc_discharge_t *d,
                             char *err, size_t errlen);
/* Answers what the hub already answered, then every other waiting request 503. */
void sc_inbound_destroy(sc_inbound_t **in);

int sc_inbound_port(const sc_inbound_t *in);
int sc_inbound_fd(const sc_inbound_t *in);
/* How long the loop may wait before sc_inbound_handle at most (-1: no limit): 0 while the
 * server has work due now (a request read whole, an answer to write). */
int sc_inbound_timeout_ms(const sc_inbound_t *in);
/* Does the server's work: call when its descriptor is readable, and after the loop's wait. */
void sc_inbound_handle(sc_inbound_t *in);
/* Answers the requests the hub has answered or whose time is up. Call after the SDK ran. */
void sc_inbound_flush(sc_inbound_t *in);
/* Requests waiting for the hub. */
size_t sc_inbound_waiting(const sc_inbound_t *in);

#endif
