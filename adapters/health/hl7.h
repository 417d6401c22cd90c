/* hl7.h - an HL7 v2 message (versions 2.3 to 2.8), read in place.
 *
 * hl7_parse indexes the segments of a message held in the caller's buffer; nothing is copied, and
 * the buffer must outlive every span taken from it. Fields, repetitions, components and
 * subcomponents are found on demand by their HL7 positions (PID-3, second repetition, component 4,
 * subcomponent 1), and hl7_decode turns a span into text, resolving the escapes. The delimiters
 * are the message's own, read from MSH-1 and MSH-2: nothing assumes "|^~\&". A delimiter MSH-2
 * does not define (fewer than four encoding characters) is simply not used.
 *
 * Tolerated, because real senders do it: a UTF-8 byte order mark and blank lines before MSH;
 * segments ended by \r, \n or \r\n (empty segments are skipped); a trailing 2.7 truncation
 * character in MSH-2. Every access is bounds-checked against the buffer, on any input. */
#ifndef JOINERY_HEALTH_HL7_H
#define JOINERY_HEALTH_HL7_H

#include <stddef.h>

#define HL7_MAX_SEGMENTS_DEFAULT 2000

typedef struct hl7_msg hl7_msg_t;

/* A run of bytes inside the message (raw: escapes not resolved). P is NULL only when N is 0. */
typedef struct {
    const char *p;
    size_t n;
} hl7_span_t;

/* The delimiters, as MSH-1 and MSH-2 declared them; -1 for one the message does not use. */
typedef struct {
    int field, component, repetition, escape, subcomponent;
} hl7_delims_t;

/* A message index for up to MAX_SEGMENTS segments; NULL if out of memory. Reused for message
 * after message: parsing allocates nothing. */
hl7_msg_t *hl7_msg_new(size_t max_segments);
void hl7_msg_destroy(hl7_msg_t **m);

/* Indexes the LEN bytes at BUF (borrowed, not copied). 0 when there is an MSH with usable
 * delimiters; -1 and a reason in ERR otherwise (no MSH, bad encoding characters, too many
 * segments). After a failure the message keeps whatever of MSH it could read, so an ACK can still
 * quote MSH-10 (hl7_has_msh says whether there is one). */
int hl7_parse(hl7_msg_t *m, const void *buf, size_t len, char *err, size_t errlen);

int hl7_has_msh(const hl7_msg_t *m);
hl7_delims_t hl7_delims(const hl7_msg_t *m);

size_t hl7_segment_count(const hl7_msg_t *m);
/* The segment's bytes, without its terminator. */
hl7_span_t hl7_segment(const hl7_msg_t *m, size_t seg);
/* 1 if segment SEG's id (the bytes before the first field separator) is ID. */
int hl7_segment_is(const hl7_msg_t *m, size_t seg, const char *id);
/* The index of the first segment named ID at or after FROM; -1 if there is none. */
long hl7_segment_find(const hl7_msg_t *m, const char *id, size_t from);

/* The value at SEG, FIELD (1-based, as HL7 numbers them: MSH-1 is the field separator, MSH-2 the
 * encoding characters, unsplit), repetition REP (1-based), component COMP and subcomponent SUB
 * (1-based; 0 means the whole repetition or the whole component). 0 and *OUT when the position
 * exists in the message (it may be empty), -1 when it does not (*OUT then empty). */
int hl7_get(const hl7_msg_t *m, size_t seg, unsigned field, unsigned rep, unsigned comp,
            unsigned sub, hl7_span_t *out);

/* How many repetitions FIELD of SEG has: 0 when it is absent or empty. */
unsigned hl7_repetitions(const hl7_msg_t *m, size_t seg, unsigned field);

/* 1 if V is the explicit null "" (HL7's "delete this value"). */
int hl7_is_null(hl7_span_t v);

/* Writes V as text to OUT (NUL-terminated): the escapes \F\ \S\ \T\ \R\ \E\ become the
 * delimiters, \Xhh..\ the bytes, \.br\ a newline; highlighting and character-set escapes (\H\ \N\
 * \C..\ \M..\ \Z..\) are dropped; anything else is kept as written. 0 and *WRITTEN (may be NULL)
 * on success; -1 when OUT is too small or the text would hold a NUL byte. */
int hl7_decode(const hl7_msg_t *m, hl7_span_t v, char *out, size_t cap, size_t *written);

/* The version in MSH-12 as major * 100 + minor (2.5.1 gives 205), 0 if it is not a version. */
int hl7_version(const hl7_msg_t *m);

#endif
