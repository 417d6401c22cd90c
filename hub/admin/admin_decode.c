/* admin_decode.c - see admin_decode.h. */
#include "admin/admin_decode.h"

#include <joinery/v1/case.pb-c.h>
#include <joinery/v1/crm.pb-c.h>
#include <joinery/v1/envelope.pb-c.h>
#include <joinery/v1/finance.pb-c.h>
#include <joinery/v1/health.pb-c.h>
#include <joinery/v1/master.pb-c.h>
#include <joinery/v1/person.pb-c.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The payload types the hub's schemas define (nested ones are reached
 * through their fields). */
static const ProtobufCMessageDescriptor *const known[] = {
    &joinery__v1__referral__descriptor,
    &joinery__v1__case__descriptor,
    &joinery__v1__assessment__descriptor,
    &joinery__v1__care_package__descriptor,
    &joinery__v1__case_changed__descriptor,
    &joinery__v1__crm_contact__descriptor,
    &joinery__v1__service_request__descriptor,
    &joinery__v1__complaint__descriptor,
    &joinery__v1__envelope__attributes_entry__descriptor,
    &joinery__v1__erp_customer__descriptor,
    &joinery__v1__erp_supplier__descriptor,
    &joinery__v1__gl07_line__descriptor,
    &joinery__v1__care_charge_invoice__descriptor,
    &joinery__v1__encounter__descriptor,
    &joinery__v1__admission__descriptor,
    &joinery__v1__discharge__descriptor,
    &joinery__v1__discharge_planned__descriptor,
    &joinery__v1__steward_decision__descriptor,
    &joinery__v1__person_proposal__descriptor,
    &joinery__v1__field_correction__descriptor,
    &joinery__v1__field_proposal__descriptor,
    &joinery__v1__identifier__descriptor,
    &joinery__v1__human_name__descriptor,
    &joinery__v1__address__descriptor,
    &joinery__v1__contact_point__descriptor,
    &joinery__v1__consent__descriptor,
    &joinery__v1__person__descriptor,
    &joinery__v1__person_changed__descriptor,
    &joinery__v1__person_correction__descriptor,
    &joinery__v1__person_merged__descriptor,
    &joinery__v1__address_changed__descriptor,
    &joinery__v1__duplicate_found__descriptor,
    &joinery__v1__dropped_field__descriptor,
    &joinery__v1__data_quality__descriptor,
};

const ProtobufCMessageDescriptor *admin_decode_find(const char *name)
{
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (strcmp(known[i]->name, name) == 0)
            return known[i];
    return NULL;
}

static json_t *base64(const uint8_t *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1);
    if (!out)
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

json_t *admin_decode_base64(const uint8_t *p, size_t n)
{
    return base64(p, n);
}

static json_t *message_json(const ProtobufCMessage *m, int depth);

/* One value of field F at P. */
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
        return v ? json_string(v->name) : json_integer(*(const int *)p);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        json_t *j = s ? json_string(s) : json_string("");
        return j ? j : base64((const uint8_t *)s, strlen(s)); /* not UTF-8 */
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        return base64(b->data, b->len);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(const ProtobufCMessage *const *)p;
        return m ? message_json(m, depth + 1) : json_null();
    }
    }
    return json_null();
}

static size_t value_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default:
        return 4;
    }
}

/* Whether a proto3 scalar field holds its default (left out, as protobuf's JSON does). */
static bool is_default(const ProtobufCFieldDescriptor *f, const void *p)
{
    if (f->type == PROTOBUF_C_TYPE_STRING) {
        const char *s = *(char *const *)p;
        return !s || !*s;
    }
    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        return *(void *const *)p == NULL;
    if (f->type == PROTOBUF_C_TYPE_BYTES)
        return ((const ProtobufCBinaryData *)p)->len == 0;
    static const uint8_t zero[8];
    return memcmp(p, zero, value_size(f)) == 0;
}

static json_t *message_json(const ProtobufCMessage *m, int depth)
{
    if (depth > 32)
        return json_string("(nested too deep)");
    const ProtobufCMessageDescriptor *d = m->descriptor;
    json_t *o = json_object();
    for (unsigned i = 0; o && i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)m;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            const char *arr = *(char *const *)(base + f->offset);
            if (!n)
                continue;
            json_t *a = json_array();
            for (size_t k = 0; a && k < n; k++)
                json_array_append_new(a, value_json(f, arr + k * value_size(f), depth));
            json_object_set_new(o, f->name, a ? a : json_null());
            continue;
        }
        if (f->quantifier_offset &&
            (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF
                 ? *(const uint32_t *)(base + f->quantifier_offset) != f->id
                 : !*(const protobuf_c_boolean *)(base + f->quantifier_offset)))
            continue;
        if (!f->quantifier_offset && is_default(f, base + f->offset))
            continue;
        json_object_set_new(o, f->name, value_json(f, base + f->offset, depth));
    }
    return o;
}

json_t *admin_decode_message(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n)
{
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, n, p);
    if (!m)
        return NULL;
    json_t *j = message_json(m, 0);
    protobuf_c_message_free_unpacked(m, NULL);
    return j;
}

json_t *admin_decode_envelope(const uint8_t *p, size_t n)
{
    Joinery__V1__Envelope *e = joinery__v1__envelope__unpack(NULL, n, p);
    if (!e)
        return json_pack("{so}", "envelope_base64", base64(p, n));
    json_t *j = message_json(&e->base, 0);
    const ProtobufCMessageDescriptor *d =
        e->payload_type && *e->payload_type ? admin_decode_find(e->payload_type) : NULL;
    json_t *payload = d ? admin_decode_message(d, e->payload.data, e->payload.len) : NULL;
    if (j && payload)
        json_object_set_new(j, "payload", payload);
    joinery__v1__envelope__free_unpacked(e, NULL);
    return j;
}
