/* pbwire.h - just enough of the protobuf wire format for the hot path.
 *
 * The hub parses PUBLISH bodies and envelopes in place and writes CONFIRM and
 * DELIVER bodies by hand, so that moving an event costs no allocation and no
 * re-encoding: an envelope is journaled and delivered as the very bytes the
 * publisher sent, with the hub's own fields (received_at, master_id) appended
 * — protobuf's "last value wins" rule makes an appended scalar override an
 * earlier one. Everything else uses the protobuf-c generated code. */
#ifndef JOINERY_PBWIRE_H
#define JOINERY_PBWIRE_H

#include <stddef.h>
#include <stdint.h>

enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
} pb_reader_t;

typedef struct {
    uint32_t field;
    int wire;
    uint64_t u;         /* varint / fixed value */
    const uint8_t *ptr; /* PB_LEN: the bytes (inside the reader's buffer) */
    size_t len;
} pb_field_t;

/* Next varint from R (e.g. inside a packed repeated field): 0, or -1 at the
 * end or on a truncated or overlong varint. */
int pb_next_varint(pb_reader_t *r, uint64_t *v);

/* Next field; 1 = got one, 0 = clean end, -1 = malformed (truncated, bad tag,
 * group wire types, lengths past the end). */
int pb_next(pb_reader_t *r, pb_field_t *f);

/* A view of an Envelope's fields, pointing into the parsed buffer. */
typedef struct {
    const char *event_id, *type, *source, *source_record_id, *master_id;
    const char *payload_type, *correlation_id;
    uint16_t event_id_len, type_len, source_len, source_record_id_len, master_id_len;
    uint16_t payload_type_len, correlation_id_len;
    int64_t occurred_at, received_at;
    uint64_t base_version;
    size_t payload_len;
    const uint8_t *payload;
} pb_envelope_t;

/* Parse an Envelope; -1 with a reason in why if malformed or a string field is
 * longer than 65535 bytes. */
int pb_envelope_parse(const uint8_t *buf, size_t len, pb_envelope_t *e, char *why, size_t why_len);

/* Growable output buffer. */
typedef struct {
    uint8_t *data;
    size_t len, cap;
} pb_buf_t;

int pb_buf_reserve(pb_buf_t *b, size_t extra);
void pb_buf_free(pb_buf_t *b);
size_t pb_varint_size(uint64_t v);
/* The writers assume pb_buf_reserve was called for enough room; pb_put_* reserve themselves. */
int pb_put_varint_field(pb_buf_t *b, uint32_t field, uint64_t v);
int pb_put_bytes_field(pb_buf_t *b, uint32_t field, const void *p, size_t len);
/* Writes a tag + length for a nested message of LEN bytes that the caller writes next. */
int pb_put_len_header(pb_buf_t *b, uint32_t field, size_t len);
int pb_put_raw(pb_buf_t *b, const void *p, size_t len);
size_t pb_field_size_len(uint32_t field, size_t len);    /* tag + length + len */
size_t pb_field_size_varint(uint32_t field, uint64_t v); /* tag + varint */

#endif
