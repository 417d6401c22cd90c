/* hl7_ack.h - the HL7 v2 acknowledgement (ACK) a trust's interface engine waits for.
 *
 * MSA-1 is AA (the message is durable: send it only after the hub's CONFIRM), AE (its content is
 * wrong: one ERR segment per problem, with a message an interface analyst can act on) or AR (the
 * message type, processing id or version is not supported, or the message cannot be read). MSA-2
 * is the original MSH-10. The ACK is written with the original's own delimiters and version, its
 * sending and receiving application and facility swapped. From 2.5 on, ERR-2 locates the problem,
 * ERR-3 codes it (HL7 table 0357), ERR-4 is its severity and ERR-8 the message; before 2.5, ERR-1
 * locates and codes it and MSA-3 carries the first message. */
#ifndef JOINERY_HEALTH_HL7_ACK_H
#define JOINERY_HEALTH_HL7_ACK_H

#include <stddef.h>

#include "hl7.h"

typedef enum { HL7_AA, HL7_AE, HL7_AR } hl7_ack_code_t;

/* HL7 table 0357, the codes used here. */
#define HL7_ERR_SEGMENT_SEQUENCE 100
#define HL7_ERR_REQUIRED_MISSING 101
#define HL7_ERR_DATA_TYPE 102
#define HL7_ERR_TABLE_VALUE 103
#define HL7_ERR_UNSUPPORTED_TYPE 200
#define HL7_ERR_UNSUPPORTED_EVENT 201
#define HL7_ERR_UNSUPPORTED_PROCESSING_ID 202
#define HL7_ERR_UNSUPPORTED_VERSION 203
#define HL7_ERR_INTERNAL 207

#define HL7_ISSUE_TEXT 240

/* One problem with a message: where (segment SEGMENT, its SEQ-th occurrence, FIELD, repetition
 * REP, component COMP; 0 where it does not apply), what (CODE from table 0357, SEVERITY 'E', 'W'
 * or 'I') and why (TEXT, plain text: the builder escapes it). The mapping also says which Person
 * field it dropped and keeps the field's original bytes. */
typedef struct {
    char segment[4];
    unsigned seq, field, rep, comp;
    unsigned code;
    char severity;
    char text[HL7_ISSUE_TEXT];
    const char *person_field; /* static text, e.g. "nhs_number"; NULL when no field was dropped */
    const char *raw;          /* the refused value as sent (in the mapping's storage), or NULL */
    size_t raw_len;
} hl7_issue_t;

typedef struct {
    hl7_ack_code_t code;
    const char *timestamp;     /* the ACK's MSH-7, e.g. "20240229120000+0000" */
    const char *control_id;    /* the ACK's own MSH-10 */
    const hl7_issue_t *issues; /* ERR segments, N_ISSUES of them (none for AA) */
    size_t n_issues;
} hl7_ack_t;

const char *hl7_ack_code_name(hl7_ack_code_t c);

/* Writes the ACK for M (segments ended by \r, not framed) to OUT; 0 and *LEN, or -1 and ERR
 * when CAP is too small. M may be a message hl7_parse refused: without an MSH it is answered
 * with "|^~\&", version 2.5 and an empty MSA-2. TIMESTAMP and CONTROL_ID are written as given:
 * they must not contain the message's delimiters. */
int hl7_ack_build(const hl7_msg_t *m, const hl7_ack_t *a, char *out, size_t cap, size_t *len,
                  char *err, size_t errlen);

#endif
