/* protojson.h - a message of the hub's schemas (joinery.v1.*) as JSON, driven by the protobuf-c
 * descriptors: what the admin API shows for a stored envelope and `joinery tail` prints for a
 * delivered one. Shared by the hub (hub/admin/admin_decode.c) and the SDK (adapters/sdk/
 * sdk_payload.c); it includes no hub or SDK header. Every JSON value returned is the caller's. */
#ifndef JOINERY_PROTOJSON_H
#define JOINERY_PROTOJSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include <stddef.h>
#include <stdint.h>

/* The descriptor of the payload message named TYPE ("joinery.v1.Person"), NULL if the schemas
 * define no such payload message (protocol.proto and the envelope are not payloads). */
const ProtobufCMessageDescriptor *protojson_find(const char *type);

/* M as a JSON object: fields by their proto names, fields at their default left out (protobuf's
 * JSON mapping does the same), enums by value name, bytes and non-UTF-8 strings in base64,
 * 64-bit integers as numbers (above INT64_MAX as a string of digits). NULL when out of memory or
 * nested deeper than any schema (a hostile message): never half an answer. */
json_t *protojson_message(const ProtobufCMessage *m);

/* The N bytes at P unpacked as D and then as protojson_message; NULL if they are not such a
 * message. */
json_t *protojson_unpack(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n);

/* N bytes as a JSON string in standard base64 with padding; NULL when out of memory. */
json_t *protojson_base64(const uint8_t *p, size_t n);

#endif
