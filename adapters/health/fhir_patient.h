/* fhir_patient.h - a trust's FHIR R4 UK Core Patient as a Joinery Person, and back; the
 * OperationOutcome that says what was wrong with one, and the CapabilityStatement.
 *
 * Reading keeps what the hub would keep: a field the hub would refuse (an NHS number failing
 * its check digit, a partial or impossible birth date, a postcode that cannot exist, a number
 * where text belongs) is refused on its own, with a FHIRPath location and a reason, and the
 * rest of the Patient is still taken. Only three things refuse the whole resource: bytes that
 * are not one JSON object, a resourceType other than Patient (both FHIR_READ_UNREADABLE, for an
 * HTTP 400), and no usable identity, i.e. no identifier giving the trust's own id for the
 * patient (FHIR_READ_INVALID, for an HTTP 422).
 *
 * Ownership: jansson allocates while a document is parsed or written, and everything it
 * allocated is freed before the call returns; no jansson object is ever handed out. A read
 * copies every string it keeps into the fhir_patient_t the caller passed, so the Person's
 * strings and arrays live exactly as long as that struct (until it is read into again) and are
 * never freed one by one. Writers write into the caller's buffer. */
#ifndef JOINERY_HEALTH_FHIR_PATIENT_H
#define JOINERY_HEALTH_FHIR_PATIENT_H

#include <stddef.h>
#include <stdint.h>

#include "joinery/v1/person.pb-c.h"

#define FHIR_NHS_NUMBER_SYSTEM "https://fhir.nhs.uk/Id/nhs-number"
#define FHIR_NHS_VERIFICATION_URL                                                                  \
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
#define FHIR_NHS_VERIFICATION_SYSTEM                                                               \
    "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland"
#define FHIR_UKCORE_PATIENT "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"

#define FHIR_MAX_BYTES (1u << 20) /* a Patient longer than this is not read */
#define FHIR_MAX_ITEMS 32         /* elements of one array looked at; the rest are reported */
#define FHIR_MAX_TEXT 1024        /* bytes of one string value */
#define FHIR_TEXT 32768           /* the kept text of one Patient */
#define FHIR_MAX_IDS 8
#define FHIR_MAX_NAMES 4
#define FHIR_MAX_GIVEN 4
#define FHIR_MAX_ADDRS 4
#define FHIR_MAX_LINES 4
#define FHIR_MAX_TELECOM 6
#define FHIR_MAX_PROBLEMS 32
#define FHIR_LOCATION 128
#define FHIR_REASON 240

/* OperationOutcome.issue.code (FHIR's IssueType), the ones used here. */
typedef enum {
    FHIR_ISSUE_INVALID,       /* "invalid": generic */
    FHIR_ISSUE_STRUCTURE,     /* "structure": not JSON, or a value of the wrong JSON type */
    FHIR_ISSUE_REQUIRED,      /* "required": something that must be there is not */
    FHIR_ISSUE_VALUE,         /* "value": the value breaks a rule (check digit, date, code) */
    FHIR_ISSUE_TOO_LONG,      /* "too-long": too long, or too many */
    FHIR_ISSUE_NOT_SUPPORTED, /* "not-supported": valid FHIR that Joinery has no place for */
    FHIR_ISSUE_NOT_FOUND,     /* "not-found": for the caller's own outcomes */
} fhir_issue_t;

typedef enum { FHIR_ERROR, FHIR_WARNING, FHIR_INFORMATION } fhir_severity_t;

/* "invalid", "structure", ...; "error", "warning", "information". */
const char *fhir_issue_name(fhir_issue_t code);
const char *fhir_severity_name(fhir_severity_t s);

typedef struct {
    fhir_severity_t severity; /* ERROR: the value was refused; WARNING: it has no place here */
    fhir_issue_t code;
    char location[FHIR_LOCATION]; /* FHIRPath, e.g. "Patient.identifier[0].value" */
    char reason[FHIR_REASON];     /* for the trust's developer; quotes no personal data */
    const char *person_field;     /* static text, e.g. "nhs_number"; NULL when none was refused */
} fhir_problem_t;

typedef struct {
    /* The system of the trust's identifier for its patients, e.g.
     * "https://fhir.rr8.nhs.uk/Id/local-patient-identifier". NULL or "": the first identifier
     * that is not an NHS number. */
    const char *local_system;
    /* YYYY-MM-DD: a birth or death date after it is refused. NULL: not checked. */
    const char *today;
} fhir_read_opts_t;

typedef enum {
    FHIR_READ_OK = 0,          /* a Person (problems may list refused fields) */
    FHIR_READ_UNREADABLE = -1, /* not a JSON object, or not a Patient: HTTP 400 */
    FHIR_READ_INVALID = -2,    /* a Patient without the trust's id for it: HTTP 422 */
} fhir_read_t;

/* Private storage behind the pointers of fhir_patient_t. */
typedef struct {
    char text[FHIR_TEXT];
    size_t used;
    Joinery__V1__Identifier ids[FHIR_MAX_IDS];
    Joinery__V1__Identifier *id_ptrs[FHIR_MAX_IDS];
    Joinery__V1__HumanName names[FHIR_MAX_NAMES];
    Joinery__V1__HumanName *other_ptrs[FHIR_MAX_NAMES];
    char *given[FHIR_MAX_NAMES][FHIR_MAX_GIVEN];
    Joinery__V1__Address addrs[FHIR_MAX_ADDRS];
    Joinery__V1__Address *addr_ptrs[FHIR_MAX_ADDRS];
    char *lines[FHIR_MAX_ADDRS][FHIR_MAX_LINES];
    Joinery__V1__ContactPoint tel[FHIR_MAX_TELECOM];
    Joinery__V1__ContactPoint *tel_ptrs[FHIR_MAX_TELECOM];
} fhir_store_t;

/* One Patient, read. Large (about 46 KiB): allocate it once and reuse it. The protobuf messages
 * in it are only for packing: never free_unpacked them. */
typedef struct {
    Joinery__V1__Person person;
    const char *local_id; /* the trust's id for the patient (the event's source_record_id) */
    const char *id;       /* Patient.id as sent, NULL if none (or not a FHIR id) */
    fhir_problem_t problems[FHIR_MAX_PROBLEMS];
    size_t n_problems;
    size_t problems_lost; /* problems beyond FHIR_MAX_PROBLEMS, not listed */
    fhir_store_t st;
} fhir_patient_t;

/* Reads the LEN bytes at JSON (not NUL-terminated; not kept) into OUT, overwritten. Returns
 * FHIR_READ_OK, FHIR_READ_UNREADABLE or FHIR_READ_INVALID; OUT->problems say why in every case.
 * O may be NULL. */
fhir_read_t fhir_patient_read(const void *json, size_t len, const fhir_read_opts_t *o,
                              fhir_patient_t *out);

/* What the golden record is to the trust that reads it. */
typedef struct {
    const char *master_id;    /* Patient.id: the golden record's id (required) */
    uint64_t version;         /* meta.versionId: the golden record's version */
    const char *local_id;     /* the trust's id for the person, as an identifier; may be NULL */
    const char *local_system; /* that identifier's system (NULL: the local id is not written) */
    const char *last_updated; /* meta.lastUpdated, FHIR instant; NULL: not written */
} fhir_view_t;

/* P as a UK Core Patient (JSON, compact, UTF-8 kept as it is) at OUT: 0 and *LEN (bytes
 * written, NUL-terminated), or -1 and ERR when CAP is too small or a string is not UTF-8. */
int fhir_patient_write(const Joinery__V1__Person *p, const fhir_view_t *v, char *out, size_t cap,
                       size_t *len, char *err, size_t errlen);

/* An OperationOutcome with one issue per problem (one "informational" issue when N is 0). */
int fhir_outcome_write(const fhir_problem_t *problems, size_t n, char *out, size_t cap,
                       size_t *len);

typedef struct {
    const char *date;         /* CapabilityStatement.date, e.g. the build date (required) */
    const char *software;     /* software.name; NULL: "joinery-health" */
    const char *version;      /* software.version; NULL: not written */
    const char *base_url;     /* implementation.url, e.g. "https://joinery.example/fhir"; NULL */
    const char *local_system; /* the trust's identifier system, for the documentation; NULL */
} fhir_capability_t;

/* The CapabilityStatement for GET /metadata: Patient read, search by identifier, create and
 * update; FHIR 4.0.1; JSON. */
int fhir_capability_write(const fhir_capability_t *c, char *out, size_t cap, size_t *len);

/* The NHS number in a search parameter "identifier=https://fhir.nhs.uk/Id/nhs-number|NNNNNNNNNN"
 * (already URL-decoded), as its ten digits in OUT: 0, or -1 and WHY (a problem located at
 * "identifier", for the OperationOutcome) when it is another system or not a valid number. */
int fhir_search_nhs_number(const char *token, char out[11], fhir_problem_t *why);

#endif
