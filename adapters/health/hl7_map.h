/* hl7_map.h - an HL7 v2 ADT message as a Joinery event: the Person (and for an admission or a
 * discharge its encounter, for a merge the retired id), the event type, the trust's local id for
 * the patient, and every field that had to be dropped, with why and the bytes that were sent.
 *
 *   ADT^A01 admit        -> health.admission  (Person + Admission)
 *   ADT^A03 discharge    -> health.discharge  (Person + Discharge)
 *   ADT^A08, A28, A31    -> person.updated    (Person)
 *   ADT^A40 merge        -> person.merged     (Person of the survivor + PersonMerged; MRG-1 is the
 *                                              retired id)
 * Any other type or trigger is not mapped: acknowledged AA or AR, as configured.
 *
 * A field the hub would refuse (an NHS number failing its check digit, 29 February of a year
 * that has none, a postcode that cannot exist, text that is not UTF-8) is dropped on its own and
 * the rest is still published; the ACK then is AE and lists what was dropped. A message that
 * cannot be published at all (no PID, no hospital number, a merge without MRG) is answered AE;
 * an unsupported MSH-9, MSH-11 or MSH-12 is answered AR.
 *
 * Nothing is allocated per message: the result, every string it points to and the Person's arrays
 * live inside hl7_mapped_t, which the caller allocates once (it is large: keep it on the heap) and
 * reuses. The protobuf messages in it are only for packing: never free_unpacked them. */
#ifndef JOINERY_HEALTH_HL7_MAP_H
#define JOINERY_HEALTH_HL7_MAP_H

#include <stddef.h>

#include "hl7.h"
#include "hl7_ack.h"
#include "joinery/v1/health.pb-c.h"
#include "joinery/v1/person.pb-c.h"

#define HL7_MAP_TEXT 16384  /* decoded text of one message */
#define HL7_MAP_RAW_MAX 512 /* bytes of a refused field kept */
#define HL7_MAP_MAX_IDS 8
#define HL7_MAP_MAX_NAMES 4 /* the name and up to three other names */
#define HL7_MAP_MAX_GIVEN 4
#define HL7_MAP_MAX_ADDRS 4
#define HL7_MAP_MAX_LINES 4
#define HL7_MAP_MAX_TELECOM 6
#define HL7_MAP_MAX_ISSUES 16
#define HL7_MAP_MAX_NULLED 8

typedef enum {
    HL7_EVENT_NONE,
    HL7_EVENT_PERSON_UPDATED,
    HL7_EVENT_PERSON_MERGED,
    HL7_EVENT_ADMISSION,
    HL7_EVENT_DISCHARGE,
} hl7_event_t;

/* "person.updated", "person.merged", "health.admission", "health.discharge"; "" for none. */
const char *hl7_event_name(hl7_event_t e);

typedef enum {
    HL7_UNMAPPED_ACCEPT, /* AA: accepted and ignored (counted by the caller) */
    HL7_UNMAPPED_REJECT, /* AR: unsupported message type or event */
} hl7_unmapped_t;

typedef struct {
    /* The trust's ODS code: the PID-3 repetition of type MR with this assigning authority is the
     * patient's local id. NULL or "": the first MR. */
    const char *trust_ods;
    /* YYYY-MM-DD: a birth or death date after it is refused. NULL: not checked. */
    const char *today;
    /* The MSH-11 processing ids accepted, one letter each. NULL: "PT" (production and test). */
    const char *processing_ids;
    hl7_unmapped_t unmapped;
} hl7_map_opts_t;

/* Private storage behind the pointers of hl7_mapped_t. */
typedef struct {
    char text[HL7_MAP_TEXT];
    size_t used;
    Joinery__V1__Identifier ids[HL7_MAP_MAX_IDS];
    Joinery__V1__Identifier *id_ptrs[HL7_MAP_MAX_IDS];
    Joinery__V1__HumanName names[HL7_MAP_MAX_NAMES];
    Joinery__V1__HumanName *other_ptrs[HL7_MAP_MAX_NAMES];
    char *given[HL7_MAP_MAX_NAMES][HL7_MAP_MAX_GIVEN];
    Joinery__V1__Address addrs[HL7_MAP_MAX_ADDRS];
    Joinery__V1__Address *addr_ptrs[HL7_MAP_MAX_ADDRS];
    char *lines[HL7_MAP_MAX_ADDRS][HL7_MAP_MAX_LINES];
    Joinery__V1__ContactPoint tel[HL7_MAP_MAX_TELECOM];
    Joinery__V1__ContactPoint *tel_ptrs[HL7_MAP_MAX_TELECOM];
} hl7_map_store_t;

typedef struct {
    hl7_event_t event;
    hl7_ack_code_t ack;               /* the answer: AA (only once the hub has confirmed), AE, AR */
    char type[8], trigger[8];         /* MSH-9.1 and MSH-9.2 as sent ("" if unreadable) */
    const char *source_record_id;     /* the trust's local id for the patient */
    const char *retired_id;           /* A40: MRG-1's, NULL otherwise */
    Joinery__V1__Person person;       /* identity and demographics (every mapped event) */
    Joinery__V1__PersonMerged merged; /* A40 */
    Joinery__V1__Encounter encounter; /* A01, A03: PV1 */
    Joinery__V1__Admission admission; /* A01: encounter -> &encounter */
    Joinery__V1__Discharge discharge; /* A03: encounter -> &encounter */
    hl7_issue_t issues[HL7_MAP_MAX_ISSUES]; /* refused fields, or why nothing could be published */
    size_t n_issues;
    size_t issues_lost;                     /* issues beyond HL7_MAP_MAX_ISSUES, not listed */
    const char *nulled[HL7_MAP_MAX_NULLED]; /* Person fields sent as "" (HL7's explicit null) */
    size_t n_nulled;
    hl7_map_store_t st;
} hl7_mapped_t;

/* Maps the parsed message M into OUT (overwritten; it points into M's buffer nowhere, so M may be
 * reused once this returns). Returns
 *    0: an event to publish (OUT->event and the payloads); OUT->ack is AA, or AE with the
 *       dropped fields in OUT->issues. The ACK goes back only after the hub's CONFIRM.
 *    1: a message type this adapter does not map; OUT->ack is AA or AR as O->unmapped says.
 *   -1: a message that cannot be published; OUT->ack is AR or AE, OUT->issues say why, and so
 *       does ERR. */
int hl7_map_adt(const hl7_msg_t *m, const hl7_map_opts_t *o, hl7_mapped_t *out, char *err,
                size_t errlen);

/* The ACK's fields for OUT: code and issues, to complete with a timestamp and control id. */
hl7_ack_t hl7_mapped_ack(const hl7_mapped_t *out);

#endif
