/* crm_webhook.h - a Dynamics 365 / Dataverse webhook (the JSON of a RemoteExecutionContext) as a
 * Joinery event: its type, the CRM's own id for the record, the packed payload, the event id, and
 * every attribute that had to be dropped, with why.
 *
 *   contact  Create, Update -> person.updated               (joinery.v1.Person)
 *   incident Create         -> crm.service_request.created  (joinery.v1.ServiceRequest)
 *   incident Update         -> crm.service_request.updated  (joinery.v1.ServiceRequest)
 *   contact, incident Delete -> ignored: the hub's master data has no person.deleted
 *
 * Attributes are read from the Target entity of InputParameters; an attribute Target does not
 * carry (an Update carries only what changed) is taken from the first PostEntityImages entity,
 * when the step registered one. A value the hub would refuse (an NHS number failing its check
 * digit, a birth date in the future or not a date, a postcode that cannot exist, text with
 * control characters) is dropped on its own and the rest is still published.
 *
 * The event id is "crm-" CorrelationId "-" PrimaryEntityId "-" MessageName "-" and a hash of
 * the body's bytes, so a POST that Dataverse retries is a DUPLICATE at the hub, not a second
 * event, while a later change of the same record in the same operation is a new one.
 *
 * Ownership: jansson allocates while the body is parsed, and all of it is freed before
 * crm_webhook_map returns; every string kept is copied into the crm_mapped_t the caller passed
 * (large: keep it on the heap and reuse it), whose payload is packed there too. No sockets, no
 * hub headers: a pure function over a buffer. */
#ifndef JOINERY_CRM_WEBHOOK_H
#define JOINERY_CRM_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "joinery/v1/crm.pb-c.h"
#include "joinery/v1/person.pb-c.h"

#define CRM_MAX_BODY (1u << 20) /* a body longer than this is not read */
#define CRM_TEXT 16384          /* the kept text of one record */
#define CRM_MAX_TEXT 512        /* bytes of one attribute value kept */
#define CRM_PAYLOAD_MAX 32768
#define CRM_MAX_DROPS 16
#define CRM_REASON 200
#define CRM_EVENT_ID_MAX 128

typedef enum {
    CRM_MAP_OK = 0,          /* an event to publish */
    CRM_MAP_IGNORED = 1,     /* nothing Joinery keeps: answer 200 and publish nothing */
    CRM_MAP_UNREADABLE = -1, /* not JSON, or not one object: HTTP 400 */
    CRM_MAP_UNMAPPABLE = -2, /* an entity or message not mapped, or no usable ids: HTTP 422 */
} crm_map_rc_t;

typedef struct {
    char attribute[64]; /* the Dataverse logical name, e.g. "birthdate" */
    char reason[CRM_REASON];
} crm_drop_t;

typedef struct {
    /* The logical name of the contact's NHS number attribute (a custom column, e.g.
     * "jn_nhsnumber"). NULL or "": no NHS number is read. */
    const char *nhs_number_attribute;
    /* YYYY-MM-DD: a birth date after it is dropped. NULL: not checked against today. */
    const char *today;
} crm_webhook_opts_t;

typedef struct {
    char text[CRM_TEXT];
    size_t used;
    char *given[2];
    Joinery__V1__HumanName name;
    Joinery__V1__Address addr;
    Joinery__V1__Address *addr_ptr[1];
    char *lines[3];
    Joinery__V1__ContactPoint tel[3];
    Joinery__V1__ContactPoint *tel_ptrs[3];
} crm_store_t;

typedef struct {
    const char *type;         /* "person.updated", "crm.service_request.created", ... */
    const char *payload_type; /* "joinery.v1.Person" or "joinery.v1.ServiceRequest" */
    char message[32];         /* MessageName as sent (cut short), "" if none */
    char entity[64];          /* PrimaryEntityName as sent (cut short), "" if none */
    char record_id[40];       /* PrimaryEntityId, lower case: the event's source_record_id */
    char event_id[CRM_EVENT_ID_MAX + 1];
    char ticket[64];                 /* incident ticketnumber, "" if none: an event attribute */
    char why[CRM_REASON];            /* IGNORED, UNREADABLE, UNMAPPABLE: why */
    crm_drop_t drops[CRM_MAX_DROPS]; /* attributes not kept */
    size_t n_drops, drops_lost;
    uint8_t payload[CRM_PAYLOAD_MAX];
    size_t payload_len;
    Joinery__V1__Person person;
    Joinery__V1__ServiceRequest request;
    crm_store_t st;
} crm_mapped_t;

/* Maps LEN bytes of BODY into OUT (overwritten). Returns a crm_map_rc_t; for CRM_MAP_OK the
 * type, ids and payload are set, for the others OUT->why says why. OUT->drops are set in every
 * case that got as far as the attributes. */
crm_map_rc_t crm_webhook_map(const void *body, size_t len, const crm_webhook_opts_t *o,
                             crm_mapped_t *out);

/* The body's hash, as the event id uses it (FNV-1a, 64 bits). */
uint64_t crm_webhook_hash(const void *body, size_t len);

#endif
