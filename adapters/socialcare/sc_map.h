/* sc_map.h - a social-care case system's JSON record (the contract in docs/socialcare-openapi.yaml)
 * as a Joinery event: its type, the case system's own id for the record, the packed payload, the
 * event id, and every field that had to be dropped, with why.
 *
 *   POST /people         -> person.updated                    (joinery.v1.Person)
 *   POST /referrals      -> case.referral.created             (joinery.v1.Referral)
 *   POST /cases          -> case.updated                      (joinery.v1.Case)
 *   POST /assessments    -> case.assessment.completed         (joinery.v1.Assessment)
 *   POST /care-packages  -> case.care_package.created/updated (joinery.v1.CarePackage)
 *
 * The record's id (person_id, referral_id, ...) is the event's source_record_id; a referral's or
 * case's person_id is its person_local_id, which the hub resolves through the person
 * cross-reference. A value the hub would refuse (an NHS number failing its check digit, a date
 * that is not one, a birth date in the future, a postcode that cannot exist, text with control
 * characters) is dropped on its own and the rest is still published; a record without its ids,
 * or a care package Agresso could not charge (docs/adapters.md, GL07), is refused whole.
 *
 * The event id is "sc-" KIND "-" ID "-" and a hash of the body's bytes: the case system's retry
 * of the same POST is a DUPLICATE at the hub, a later change of the record a new event.
 *
 * Ownership: jansson allocates while the body is parsed and all of it is freed before sc_map
 * returns; every string kept is copied into the sc_mapped_t the caller passed (large: keep it on
 * the heap and reuse it), whose payload is packed there too. A pure function over a buffer. */
#ifndef JOINERY_SC_MAP_H
#define JOINERY_SC_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "joinery/v1/case.pb-c.h"
#include "joinery/v1/person.pb-c.h"

#define SC_MAX_BODY (1u << 20) /* a body longer than this is not read */
#define SC_TEXT 16384          /* the kept text of one record */
#define SC_MAX_TEXT 511        /* bytes of one value kept: the hub's limit */
#define SC_ID_MAX 64           /* bytes of a case-system id */
#define SC_PAYLOAD_MAX 32768
#define SC_MAX_DROPS 16
#define SC_REASON 200
#define SC_EVENT_ID_MAX 128
#define SC_MAX_LIST 8 /* given names, address lines, eligible outcomes kept */

typedef enum {
    SC_PEOPLE,
    SC_REFERRALS,
    SC_CASES,
    SC_ASSESSMENTS,
    SC_CARE_PACKAGES,
} sc_kind_t;

typedef enum {
    SC_MAP_OK = 0,          /* an event to publish */
    SC_MAP_UNREADABLE = -1, /* not JSON, or not one object: HTTP 400 */
    SC_MAP_UNMAPPABLE = -2, /* no usable ids, or a record the hub or Agresso could not take: 422 */
} sc_map_rc_t;

typedef struct {
    char field[64]; /* the contract's field name, e.g. "birth_date" */
    char reason[SC_REASON];
} sc_drop_t;

typedef struct {
    /* YYYY-MM-DD: a birth or death date after it is dropped. NULL: not checked against today. */
    const char *today;
} sc_map_opts_t;

typedef struct {
    char text[SC_TEXT];
    size_t used;
    char *list[3][SC_MAX_LIST];
    Joinery__V1__HumanName name;
    Joinery__V1__Address addr;
    Joinery__V1__Address *addr_ptr[1];
    Joinery__V1__ContactPoint tel[3];
    Joinery__V1__ContactPoint *tel_ptrs[3];
} sc_store_t;

typedef struct {
    const char *type;         /* "person.updated", "case.updated", ... */
    const char *payload_type; /* "joinery.v1.Person", ... */
    char record_id[SC_ID_MAX + 1];
    char person_id[SC_ID_MAX + 1]; /* a case's or referral's person_id, else "" */
    char event_id[SC_EVENT_ID_MAX + 1];
    char why[SC_REASON]; /* UNREADABLE, UNMAPPABLE: why */
    sc_drop_t drops[SC_MAX_DROPS];
    size_t n_drops, drops_lost;
    int case_open; /* a case: 1 when its status is open (or on hold), 0 when closed, -1 unsaid */
    uint8_t payload[SC_PAYLOAD_MAX];
    size_t payload_len;
    union {
        Joinery__V1__Person person;
        Joinery__V1__Referral referral;
        Joinery__V1__Case kase;
        Joinery__V1__Assessment assessment;
        Joinery__V1__CarePackage package;
    } m;
    sc_store_t st;
} sc_mapped_t;

/* Maps LEN bytes of BODY, a record of KIND, into OUT (overwritten). For SC_MAP_OK the type, ids
 * and payload are set, for the others OUT->why says why. OUT->drops are set in every case that
 * got as far as the fields. */
sc_map_rc_t sc_map(sc_kind_t kind, const void *body, size_t len, const sc_map_opts_t *o,
                   sc_mapped_t *out);

/* The body's hash, as the event id uses it (FNV-1a, 64 bits). */
uint64_t sc_map_hash(const void *body, size_t len);

#endif
