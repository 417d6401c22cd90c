/* hl7_build.h - what Joinery sends to an NHS trust, as HL7 v2.5, and what the trust answers.
 *
 *   PersonChanged, a person the trust knows -> ADT^A31^ADT_A05 (update person information)
 *   PersonChanged, a person new to the trust -> ADT^A28^ADT_A05 (add person information)
 *   PersonMerged                             -> ADT^A40^ADT_A39, MRG-1 the retired id
 *
 * The message is written with "|^~\&", segments ended by \r (not framed: see mllp.h), MSH-12
 * 2.5 and MSH-18 UNICODE UTF-8. Every value is escaped (\F\ \S\ \T\ \R\ \E\); a value that is
 * literally "" is sent as \X22\" so that it is not read as a null.
 *
 * A PersonChanged holds only the fields that changed (its changed_fields, the hub's field
 * paths: "name.family", "birth_date", "address.home", ...). A field not among them is left
 * empty, which HL7 reads as "not sent: keep what you have"; a field among them whose value is
 * empty is sent as "", HL7's explicit null ("delete what you have"). A whole Person
 * (hl7_build_person) is sent as it is: what it lacks is left empty.
 *
 * Pure functions over buffers: nothing is allocated, nothing is kept between calls. */
#ifndef JOINERY_HEALTH_HL7_BUILD_H
#define JOINERY_HEALTH_HL7_BUILD_H

#include <stddef.h>

#include "hl7.h"
#include "hl7_ack.h"
#include "joinery/v1/person.pb-c.h"

/* The longest MSH-10 written. HL7 2.5 gives MSH-10 20 characters and some engines cut it
 * there, which would make the ACK's MSA-2 answer a different id: keep control ids short. */
#define HL7_BUILD_CONTROL_ID_MAX 199

typedef enum {
    HL7_BUILD_A31, /* the trust has the person: update */
    HL7_BUILD_A28, /* the person is new to the trust: add */
} hl7_build_kind_t;

typedef struct {
    const char *sending_app;      /* MSH-3; NULL: "JOINERY" */
    const char *sending_facility; /* MSH-4: the council (its ODS code or short name); required */
    const char *receiving_app;    /* MSH-5: the trust's interface engine; NULL: empty */
    const char *trust_ods;        /* MSH-6, and the assigning authority of PID-3 and MRG-1 */
    const char *timestamp;        /* MSH-7 and EVN-2, HL7 DTM: "20240301093000+0000" */
    const char *control_id;       /* MSH-10: the outbound event's id or sequence number */
    char processing_id;           /* MSH-11: 'P', 'T' or 'D'; 0 means 'P' */
} hl7_build_opts_t;

/* ADT^A31 (or A28) for PC in the trust's id PC->local_id; only PC's changed fields are filled.
 * An A31 needs the trust's id; an A28 without one names the person by PC->master_id (type PI,
 * assigning authority the sending facility). 0 and *LEN (the bytes at OUT, NUL-terminated) on
 * success; -1 and ERR when an option is missing, a date is not YYYY-MM-DD or CAP is too small. */
int hl7_build_changed(const Joinery__V1__PersonChanged *pc, hl7_build_kind_t kind,
                      const hl7_build_opts_t *o, char *out, size_t cap, size_t *len, char *err,
                      size_t errlen);

/* ADT^A31 (or A28) for the whole Person P (a golden record view) in the trust's id LOCAL_ID:
 * every field P holds, with its other names, addresses and contact points. */
int hl7_build_person(const Joinery__V1__Person *p, const char *local_id, hl7_build_kind_t kind,
                     const hl7_build_opts_t *o, char *out, size_t cap, size_t *len, char *err,
                     size_t errlen);

/* ADT^A40 for PM: PID-3 the survivor's id, MRG-1 the retired one (both the trust's ids,
 * required and different). SURVIVOR (may be NULL) fills the rest of PID as hl7_build_person
 * does; HL7 requires PID-5, which is left empty without it. */
int hl7_build_merged(const Joinery__V1__PersonMerged *pm, const Joinery__V1__Person *survivor,
                     const hl7_build_opts_t *o, char *out, size_t cap, size_t *len, char *err,
                     size_t errlen);

/* Reads the trust's answer to the message sent with MSH-10 EXPECTED_CONTROL_ID, parsing it
 * into M (reused, as for hl7_parse). 0 and *CODE when it is an acknowledgement of that message:
 * MSA-1 AA or CA gives HL7_AA, AE or CE HL7_AE, AR or CR HL7_AR; for AE and AR, REASON gets the
 * trust's words (each ERR's ERR-8, located by ERR-2, else MSA-3, else ERR-3 or ERR-1's text) as
 * UTF-8 text on one line, cut to CAP. -1 and REASON when it is not: not HL7, no MSA, an unknown
 * MSA-1, or an MSA-2 that answers another message. */
int hl7_build_read_ack(hl7_msg_t *m, const void *buf, size_t len, const char *expected_control_id,
                       hl7_ack_code_t *code, char *reason, size_t cap);

#endif
