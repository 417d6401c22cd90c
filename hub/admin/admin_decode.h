/* admin_decode.h - a stored envelope as JSON for the admin API: its fields,
 * and its payload decoded through the protobuf-c descriptor its payload_type
 * names (any message of schemas/joinery/v1, walked field by field: no code
 * per type); a payload of an unknown type stays base64. */
#ifndef JOINERY_ADMIN_DECODE_H
#define JOINERY_ADMIN_DECODE_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

/* A new JSON object (the caller's), or NULL out of memory. An envelope that
 * does not parse comes back as {"envelope_base64": ...}. */
json_t *admin_decode_envelope(const uint8_t *p, size_t n);
/* The descriptor of a payload type ("joinery.v1.Person"), or NULL. */
const ProtobufCMessageDescriptor *admin_decode_find(const char *name);
json_t *admin_decode_message(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n);
json_t *admin_decode_base64(const uint8_t *p, size_t n);

#endif
