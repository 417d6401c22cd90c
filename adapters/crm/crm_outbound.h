/* crm_outbound.h - joinery-crm's write-back side: golden-record changes and case progress, out,
 * to Dynamics 365 / Dataverse over its Web API.
 *
 * A durable subscription (default "crm-writeback") to person.changed, person.correction and
 * case.changed. Its handler builds the request and keeps the delivery unsettled (JOINERY_DEFER)
 * until Dataverse has answered:
 *
 *   person.changed, person.correction with the CRM's contactid
 *       -> PATCH {base}/api/data/v9.2/contacts(<contactid>), If-Match: * (an update, never a
 *          create), a body with only the changed fields as contact attributes;
 *   case.changed naming the CRM's contactid (person_local_id)
 *       -> POST {base}/api/data/v9.2/annotations: a note on the contact's timeline.
 *
 * An event without the CRM's id for the person, or with nothing the CRM holds, is ACKed at once
 * without a request. 2xx settles ACK; a 4xx (adapter_httpc's final failure) REJECT with
 * Dataverse's error.message; giving up after the retries RETRY, so the hub delivers it again
 * later. The hub delivers a person's next event only once the previous is settled, and nothing
 * is settled before Dataverse answered, so each contact's changes reach Dataverse in order.
 *
 * Memory is fixed at creation: one record per delivery the credit allows, the unpacking arena
 * and the build buffers; adapter_httpc keeps its own pool. Nothing is allocated per event but
 * jansson's reading of a refused request's error body. */
#ifndef JOINERY_CRM_OUTBOUND_H
#define JOINERY_CRM_OUTBOUND_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include <joinery/joinery.h>

#include "common/adapter_config.h"
#include "joinery/v1/case.pb-c.h"
#include "joinery/v1/person.pb-c.h"

#define CRM_TOKEN_MAX 4096 /* adapter_httpc's limit for a bearer token */

typedef struct {
    const char *base_url;             /* the org URL, e.g. https://leedscc.crm11.dynamics.com */
    char token[CRM_TOKEN_MAX];        /* the bearer token, "" for none */
    unsigned timeout_ms;              /* one attempt */
    unsigned max_attempts;            /* tries of one request */
    unsigned retry_min_ms;            /* the first pause after a failure */
    unsigned retry_max_ms;            /* the pause doubles up to this */
    const char *subscription;         /* the durable subscription's name */
    const char *nhs_number_attribute; /* NULL: the NHS number is not written */
    unsigned credit;                  /* deliveries held at most; 0: 64 */
} crm_outbound_opts_t;

typedef struct crm_outbound crm_outbound_t;

/* Reads the optional section
 *   dataverse: {base_url: URL, token: ... | token_file: FILE, timeout_ms: 30000,
 *               max_attempts: 5, retry_min_ms: 500, retry_max_ms: 60000,
 *               subscription: crm-writeback}
 * and nhs_number_attribute into O (its strings point into CFG). *ENABLED is 0 without the
 * section. -1 and ERR for a wrong key or value, or a section without its base_url. */
int crm_outbound_settings(const adapter_config_t *cfg, crm_outbound_opts_t *o, int *enabled,
                          char *err, size_t errlen);

/* Subscribes through C (borrowed; it must outlive the result, except that the result may be
 * destroyed after C is closed). NULL and ERR when memory is short, libcurl cannot start or the
 * hub refuses the subscription. */
crm_outbound_t *crm_outbound_new(const crm_outbound_opts_t *o, joinery_client_t *c, char *err,
                                 size_t errlen);
/* Ends every request; what is unsettled the hub delivers again to the next session. Settles
 * nothing, so it may run after the client is closed. */
void crm_outbound_destroy(crm_outbound_t **out);

/* The HTTP client's poll entry into FDS (CAP entries); returns how many (0 or 1). */
size_t crm_outbound_fds(crm_outbound_t *out, struct pollfd *fds, size_t cap);
/* Milliseconds until the HTTP client needs crm_outbound_handle; -1 when never. */
int crm_outbound_timeout_ms(const crm_outbound_t *out);
/* Runs the requests (FDS as crm_outbound_fds wrote them; N may be 0) and settles the answered
 * ones. Call after the SDK ran, so new deliveries go out at once. */
void crm_outbound_handle(crm_outbound_t *out, const struct pollfd *fds, size_t n);
/* Deliveries held (a request running, waiting or pausing before a retry). */
size_t crm_outbound_held(const crm_outbound_t *out);

/* ---- the bodies, pure functions (tests/unit/test_crm_outbound.c) ---------------------------
 * Each writes JSON into OUT (CAP bytes, NUL-ended, *LEN its length) and returns 1, or 0 when
 * there is nothing to write, or -1 and WHY when it does not fit or the event is malformed. */

/* The contact attributes of PC's changed fields: firstname and middlename (name.given),
 * lastname (name.family), birthdate, gendercode (1 male, 2 female, else null),
 * address1_line1..3 and address1_city (address.home), address1_postalcode, telephone1
 * (telecom.phone), emailaddress1 (telecom.email) and NHS_ATTR (nhs_number; NULL or "": not
 * written). A changed field without a value (cleared) is null. */
int crm_outbound_contact_json(const Joinery__V1__PersonChanged *pc, const char *nhs_attr, char *out,
                              size_t cap, size_t *len, char *why, size_t whylen);

/* The same for a correction: PC's field set to its current_value (the hub's canonical text). */
int crm_outbound_correction_json(const Joinery__V1__PersonCorrection *pc, const char *nhs_attr,
                                 char *out, size_t cap, size_t *len, char *why, size_t whylen);

/* The annotation for CC on contact CONTACTID: subject "Social care case <id>: <status>", a
 * sentence of what changed, and objectid_contact@odata.bind. DAY (YYYY-MM-DD) is when it was
 * recorded. 0 when the change holds nothing a resident's contact centre needs. */
int crm_outbound_note_json(const Joinery__V1__CaseChanged *cc, const char *contactid,
                           const char *day, char *out, size_t cap, size_t *len, char *why,
                           size_t whylen);

/* The reason a refused request is rejected with, from Dataverse's answer: its JSON
 * error.message when there is one, else the status and an excerpt of the body (printable ASCII
 * only). Into OUT (CAP bytes). */
void crm_outbound_reason(long status, const char *body, size_t len, char *out, size_t cap);

#endif
