/* protojson.c - see protojson.h. One walk over protobuf-c's descriptors serves every message:
 * no code per type, so a schema change needs nothing here but a new message in the list. */
#include "protojson/protojson.h"

#include <joinery/v1/case.pb-c.h>
#include <joinery/v1/crm.pb-c.h>
#include <joinery/v1/finance.pb-c.h>
#include <joinery/v1/health.pb-c.h>
#include <joinery/v1/master.pb-c.h>
#include <joinery/v1/person.pb-c.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every message of the payload schemas (schemas/joinery/v1, protocol.proto and the envelope
 * aside): a payload_type names one of these. Nested types are reached through their fields. */
static const ProtobufCMessageDescriptor *const known[] = {
    /* case.proto */
    &joinery__v1__referral__descriptor,
    &joinery__v1__case__descriptor,
    &joinery__v1__assessment__descriptor,
    &joinery__v1__care_package__descriptor,
    &joinery__v1__case_changed__descriptor,
    /* crm.proto */
    &joinery__v1__crm_contact__descriptor,
    &joinery__v1__service_request__descriptor,
    &joinery__v1__complaint__descriptor,
    /* finance.proto */
    &joinery__v1__erp_customer__descriptor,
    &joinery__v1__erp_supplier__descriptor,
    &joinery__v1__gl07_line__descriptor,
    &joinery__v1__care_charge_invoice__descriptor,
    /* health.proto */
    &joinery__v1__encounter__descriptor,
    &joinery__v1__admission__descriptor,
    &joinery__v1__discharge__descriptor,
    &joinery__v1__discharge_planned__descriptor,
    /* master.proto */
    &joinery__v1__steward_decision__descriptor,
    &joinery__v1__person_proposal__descriptor,
    &joinery__v1__field_correction__descriptor,
    &joinery__v1__field_proposal__descriptor,
    /* person.proto */
    &joinery__v1__identifier__descriptor,
    &joinery__v1__human_name__descriptor,
    &joinery__v1__address__descriptor,
    &joinery__v1__contact_point__descriptor,
    &joinery__v1__consent__descriptor,
    &joinery__v1__person__descriptor,
    &joinery__v1__person_changed__descriptor,
    &joinery__v1__person_correction__descriptor,
    &joinery__v1__duplicate_found__descriptor,
    &joinery__v1__dropped_field__descriptor,
    &joinery__v1__data_quality__descriptor,
    &joinery__v1__person_merged__descriptor,
    &joinery__v1__address_changed__descriptor,
};

/* Deeper nesting than any schema has is a hostile payload, not a record. */
#define MAX_DEPTH 32

const ProtobufCMessageDescriptor *protojson_find(const char *type)
{
    if (type == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (strcmp(known[i]->name, type) == 0)
            return known[i];
    return NULL;
}

json_t *protojson_base64(const uint8_t *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (n > (SIZE_MAX - 1) / 4 * 3 - 2)
        return NULL;
    char *out = malloc((n + 2) / 3 * 4 + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    json_t *j = json_string(out);
    free(out);
    return j;
}

static json_t *message_json(const ProtobufCMessage *m, int depth);

/* The size of one element of a repeated field of F's type, as protobuf-c lays arrays out. */
static size_t element_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return sizeof(int64_t);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default:
        return sizeof(int32_t);
    }
}

/* One value of field F stored at P. */
static json_t *value_json(const ProtobufCFieldDescriptor *f, const void *p, int depth)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return json_integer(*(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        /* Above INT64_MAX jansson cannot hold it as an integer: text keeps every digit. */
        if (*(const uint64_t *)p > (uint64_t)INT64_MAX) {
            char digits[24];
            (void)snprintf(digits, sizeof digits, "%llu", (unsigned long long)*(const uint64_t *)p);
            return json_string(digits);
        }
        return json_integer((json_int_t) * (const uint64_t *)p);
    case PROTOBUF_C_TYPE_FLOAT:
        return json_real(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE:
        return json_real(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *v =
            protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)p);
        return v != NULL ? json_string(v->name) : json_integer(*(const int *)p);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        if (s == NULL) {
            return json_string("");
        }
        json_t *j = json_string(s);
        /* protobuf-c does not check UTF-8; jansson refuses it: keep the bytes. */
        return j != NULL ? j : protojson_base64((const uint8_t *)s, strlen(s));
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        return protojson_base64(b->data, b->len);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(const ProtobufCMessage *const *)p;
        return m != NULL ? message_json(m, depth + 1) : json_null();
    }
    }
    return json_null();
}

/* Whether a proto3 singular field without presence holds its default. */
static int is_default(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return s == NULL || *s == '\0';
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(void *const *)p == NULL;
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)p)->len == 0;
    case PROTOBUF_C_TYPE_FLOAT:
        return *(const float *)p == 0.0f;
    case PROTOBUF_C_TYPE_DOUBLE:
        return *(const double *)p == 0.0;
    default: {
        static const uint8_t zero[sizeof(int64_t)];
        return memcmp(p, zero, element_size(f)) == 0;
    }
    }
}

/* Whether field F of message BASE is absent (unset oneof member, unset optional, default). */
static int absent(const ProtobufCFieldDescriptor *f, const char *base)
{
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        return *(const uint32_t *)(base + f->quantifier_offset) != f->id;
    }
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset != 0) {
        return !*(const protobuf_c_boolean *)(base + f->quantifier_offset);
    }
    return is_default(f, base + f->offset);
}

static json_t *message_json(const ProtobufCMessage *m, int depth)
{
    if (depth > MAX_DEPTH) {
        return NULL;
    }
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    json_t *o = json_object();
    for (unsigned i = 0; o != NULL && i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        json_t *v;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            const char *arr = *(char *const *)(base + f->offset);
            if (n == 0) {
                continue;
            }
            v = json_array();
            for (size_t k = 0; v != NULL && k < n; k++) {
                json_t *e = value_json(f, arr + k * element_size(f), depth);
                if (e == NULL || json_array_append_new(v, e) != 0) {
                    json_decref(v);
                    v = NULL;
                }
            }
        } else if (absent(f, base)) {
            continue;
        } else {
            v = value_json(f, base + f->offset, depth);
        }
        if (v == NULL || json_object_set_new(o, f->name, v) != 0) {
            json_decref(o); /* out of memory or nested too deep: no half answers */
            o = NULL;
        }
    }
    return o;
}

json_t *protojson_message(const ProtobufCMessage *m)
{
    return m != NULL ? message_json(m, 0) : NULL;
}

json_t *protojson_unpack(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n)
{
    if (d == NULL || (p == NULL && n > 0))
        return NULL;
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, n, n ? p : (const uint8_t *)"");
    if (m == NULL)
        return NULL;
    json_t *j = message_json(m, 0);
    protobuf_c_message_free_unpacked(m, NULL);
    return j;
}
