/* crm_inbound.h - joinery-crm's inbound side: Dynamics 365 / Dataverse webhooks, in, as Joinery
 * events; the HTTP answer only once the hub has answered.
 *
 * An HTTP endpoint (adapter_http) in the adapter's loop. A POST to the webhook path must carry
 * the shared key in the configured header (else 401, nothing published); its body is mapped
 * (crm_webhook_map): not JSON is 400, an entity or message not mapped is 422, a Delete or a
 * change of nothing Joinery keeps is 200 at once with a log line. A mapped event is published
 * (its id derived from the webhook, so Dataverse's retry is a DUPLICATE) and the request is
 * suspended until the hub's CONFIRM: OK or DUPLICATE is 200 with a small JSON body naming the
 * attributes that were dropped, REJECTED is 422 with the hub's reason, and no answer within
 * answer_timeout_ms (the hub unreachable) is 503 with Retry-After, so Dataverse sends it again.
 *
 * Memory is fixed at creation (a pool of waiting requests, the mapper's result, the answer
 * buffer); jansson allocates while a body is read and an answer is written, and frees it before
 * the call returns. */
#ifndef JOINERY_CRM_INBOUND_H
#define JOINERY_CRM_INBOUND_H

#include <stddef.h>

#include <joinery/joinery.h>

#include "common/adapter_config.h"

#define CRM_KEY_MAX 256

typedef struct {
    const char *listen;     /* "HOST:PORT"; port 0 picks a free one */
    const char *path;       /* the webhook's path prefix, e.g. "/webhook" */
    const char *key_header; /* the header Dataverse sends the key in, e.g. "x-joinery-key" */
    char key[CRM_KEY_MAX];  /* the shared key (from webhook.key or webhook.key_file) */
    size_t max_body;
    unsigned answer_timeout_ms;
    size_t max_waiting;               /* requests waiting for the hub at once */
    const char *nhs_number_attribute; /* NULL: the contact's NHS number is not read */
} crm_inbound_opts_t;

typedef struct crm_inbound crm_inbound_t;

/* Reads the webhook section and nhs_number_attribute of CFG into O; -1 and ERR when wrong. */
int crm_inbound_settings(const adapter_config_t *cfg, crm_inbound_opts_t *o, char *err,
                         size_t errlen);

/* Binds the endpoint. C is the SDK client the events go through (borrowed). NULL and ERR when
 * the address cannot be bound. */
crm_inbound_t *crm_inbound_new(const crm_inbound_opts_t *o, joinery_client_t *c, char *err,
                               size_t errlen);
/* Answers what the hub already answered, then every other waiting request 503. */
void crm_inbound_destroy(crm_inbound_t **in);

int crm_inbound_port(const crm_inbound_t *in);
int crm_inbound_fd(const crm_inbound_t *in);
/* How long the loop may wait before crm_inbound_handle at most (-1: no limit): 0 while the
 * server has work due now (a request read whole, an answer to write). */
int crm_inbound_timeout_ms(const crm_inbound_t *in);
/* Does the server's work: call when its descriptor is readable, and after the loop's wait. */
void crm_inbound_handle(crm_inbound_t *in);
/* Answers the requests the hub has answered or whose time is up. Call after the SDK ran. */
void crm_inbound_flush(crm_inbound_t *in);
/* Requests waiting for the hub. */
size_t crm_inbound_waiting(const crm_inbound_t *in);

#endif
