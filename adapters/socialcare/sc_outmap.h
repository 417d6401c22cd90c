/* sc_outmap.h - the hub's events as the JSON the case system receives: the outbound half of the
 * contract in docs/socialcare-openapi.yaml ("implemented by the case system").
 *
 *   person.changed, person.correction -> POST /people/{person_id}   the inbound Person schema,
 *                                        with person_id, master_id, version, changed and only
 *                                        the changed fields (null: the hub no longer has one)
 *   crm.service_request.created       -> POST /referrals/inbound    the contact centre's enquiry
 *   a discharge made a task           -> POST /tasks                kind "hospital_discharge"
 *
 * Pure functions over the caller's buffers: nothing is allocated, so building a body costs the
 * hot path no allocation (sc_outmap_reason, on the refusal path only, parses with jansson). Text
 * goes out as JSON strings with any byte that is not UTF-8 replaced by U+FFFD, so the case
 * system's parser never sees an invalid body. */
#ifndef JOINERY_SC_OUTMAP_H
#define JOINERY_SC_OUTMAP_H

#include <stddef.h>

#include "joinery/v1/crm.pb-c.h"
#include "joinery/v1/health.pb-c.h"
#include "joinery/v1/person.pb-c.h"

#define SC_OUT_BODY_MAX 16384 /* a body: far beyond one person's changed fields */
#define SC_OUT_URL_MAX 2048

/* PersonChanged PC as the body of POST /people/{pc->local_id}: 0 and *LEN (BUF NUL-ended), or
 * -1 when it does not fit CAP. The fields are those named in changed_fields that the inbound
 * schema has (nhs_number_verification and consent.* are only listed in "changed"). */
int sc_outmap_person_changed(const Joinery__V1__PersonChanged *pc, char *buf, size_t cap,
                             size_t *len);

/* PersonCorrection PC (the owner's value of one field the hub refused from social care) as the
 * same body: changed is [pc->field], the field set to current_value (null when empty). */
int sc_outmap_correction(const Joinery__V1__PersonCorrection *pc, char *buf, size_t cap,
                         size_t *len);

typedef struct {
    const char *request_id;                /* the CRM's id: the event's source_record_id */
    const char *master_id;                 /* the golden person; "" or NULL when none */
    const Joinery__V1__ServiceRequest *sr; /* the payload; NULL: the fields are left out */
    const char *received_at;               /* used when sr has no opened_at; NULL: left out */
} sc_outmap_referral_t;

/* The body of POST /referrals/inbound: source_system "crm", request_id, master_id, category,
 * channel, description, received_at. -1 when it does not fit CAP. */
int sc_outmap_referral(const sc_outmap_referral_t *r, char *buf, size_t cap, size_t *len);

typedef struct {
    const char *task_id;   /* the task's event id (case.discharge_notified) */
    const char *case_id;   /* the case system's case */
    const char *person_id; /* the case system's id for the person; NULL or "": left out */
    const char *master_id; /* the golden person */
    const Joinery__V1__Discharge *discharge; /* NULL: only the ids */
    const char *discharged_on; /* YYYY-MM-DD used when the encounter has no end date */
} sc_outmap_task_t;

/* The body of POST /tasks: task_id, kind "hospital_discharge", case_id, person_id, master_id,
 * discharged_on, trust, summary (one line for the team's worklist). -1 when over CAP. */
int sc_outmap_task(const sc_outmap_task_t *t, char *buf, size_t cap, size_t *len);

/* BASE (no trailing slash needed), PATH ("/people/") and ID percent-encoded (RFC 3986: all but
 * the unreserved characters), into OUT. ID may be NULL. -1 when over CAP. */
int sc_outmap_url(const char *base, const char *path, const char *id, char *out, size_t cap);

/* Why the case system refused: its JSON "message", else its "error", else "HTTP STATUS: " and
 * the start of BODY (LEN bytes, not NUL-ended) made printable. Always NUL-ends OUT. */
void sc_outmap_reason(long status, const char *body, size_t len, char *out, size_t cap);

#endif
