/* sdk_payload.h - a payload of one of the hub's schema types (joinery.v1.*) as JSON, driven by the
 * protobuf-c descriptors: the message an adapter or an operator sees instead of protobuf bytes.
 * The public face is joinery_payload_json (include/joinery/joinery.h). */
#ifndef JOINERY_SDK_PAYLOAD_H
#define JOINERY_SDK_PAYLOAD_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include <stddef.h>
#include <stdint.h>

/* The descriptor of the schema message named TYPE ("joinery.v1.Person"), NULL if the schemas
 * define no such payload message. */
const ProtobufCMessageDescriptor *sdk_payload_find(const char *type);

/* The message at P (N bytes) of type TYPE as a JSON object: fields by their proto names, fields
 * at their default left out (protobuf's JSON mapping does the same), enums by value name, bytes
 * and non-UTF-8 strings in base64, 64-bit integers as JSON numbers. NULL when TYPE is unknown or
 * the bytes are not such a message. */
json_t *sdk_payload_decode(const char *type, const uint8_t *p, size_t n);

#endif
