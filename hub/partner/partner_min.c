/* partner_min.c - what of an event leaves for a partner: the payload decoded
 * with its protobuf-c descriptor, only the agreed fields carried over into a
 * fresh message, that re-packed; the envelope's own fields that identify
 * the event kept, and those that could carry anything else (attributes, the
 * source system's local record id) dropped. Never done on bytes: a field
 * outside the agreement cannot survive by being unknown to a byte filter.
 * Consent is read from the payload (Person.consents, or those of the person
 * a payload carries). */
#include "partner/partner_int.h"

#include <joinery/v1/case.pb-c.h>
#include <joinery/v1/crm.pb-c.h>
#include <joinery/v1/finance.pb-c.h>
#include <joinery/v1/health.pb-c.h>
#include <joinery/v1/master.pb-c.h>
#include <joinery/v1/person.pb-c.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static const ProtobufCMessageDescriptor *const payload_types[] = {
    &joinery__v1__person__descriptor,
    &joinery__v1__person_changed__descriptor,
    &joinery__v1__person_merged__descriptor,
    &joinery__v1__address__descriptor,
    &joinery__v1__address_changed__descriptor,
    &joinery__v1__case_changed__descriptor,
    &joinery__v1__referral__descriptor,
    &joinery__v1__case__descriptor,
    &joinery__v1__assessment__descriptor,
    &joinery__v1__care_package__descriptor,
    &joinery__v1__crm_contact__descriptor,
    &joinery__v1__service_request__descriptor,
    &joinery__v1__admission__descriptor,
    &joinery__v1__discharge__descriptor,
    &joinery__v1__discharge_planned__descriptor,
    &joinery__v1__encounter__descriptor,
};

static const ProtobufCMessageDescriptor *descriptor_of(const char *name)
{
    for (size_t i = 0; i < sizeof payload_types / sizeof *payload_types; i++)
        if (strcmp(payload_types[i]->name, name) == 0)
            return payload_types[i];
    return NULL;
}

static const config_partner_fields_t *agreed(const config_partner_t *p, const char *type)
{
    for (size_t i = 0; i < p->nfields; i++)
        if (strcmp(p->fields[i].payload_type, type) == 0)
            return &p->fields[i];
    return NULL;
}

static bool listed(const config_strings_t *l, const char *name)
{
    for (size_t i = 0; i < l->count; i++)
        if (strcmp(l->items[i], name) == 0)
            return true;
    return false;
}

/* The bytes a singular field takes in its message struct. */
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
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    default:
        return 4;
    }
}

/* Whether the field holds anything worth naming in a disclosure row. */
static bool present(const ProtobufCFieldDescriptor *f, const uint8_t *m)
{
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return *(const size_t *)(m + f->quantifier_offset) > 0;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)(m + f->quantifier_offset) == f->id;
    const uint8_t *v = m + f->offset;
    if (f->type == PROTOBUF_C_TYPE_STRING) {
        const char *s = *(char *const *)v;
        return s && s[0];
    }
    if (f->type == PROTOBUF_C_TYPE_BYTES)
        return ((const ProtobufCBinaryData *)v)->len > 0;
    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        return *(void *const *)v != NULL;
    static const uint8_t zero[8];
    return memcmp(v, zero, value_size(f)) != 0;
}

/* Shallow: TO points into FROM's memory, and is packed before FROM is freed. */
static void copy_field(const ProtobufCFieldDescriptor *f, uint8_t *to, const uint8_t *from)
{
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        /* the count, and the pointer to the array */
        static const size_t array_ptr = sizeof(void *);
        memcpy(to + f->quantifier_offset, from + f->quantifier_offset, sizeof(size_t));
        memcpy(to + f->offset, from + f->offset, array_ptr);
        return;
    }
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        if (*(const uint32_t *)(from + f->quantifier_offset) != f->id)
            return;
        memcpy(to + f->quantifier_offset, from + f->quantifier_offset, sizeof(uint32_t));
    } else if (f->quantifier_offset) {
        memcpy(to + f->quantifier_offset, from + f->quantifier_offset, sizeof(protobuf_c_boolean));
    }
    memcpy(to + f->offset, from + f->offset, value_size(f));
}

static void note_field(char *fields, size_t cap, const char *name)
{
    size_t n = strlen(fields);
    if (n + strlen(name) + 2 < cap)
        snprintf(fields + n, cap - n, "%s%s", n ? "," : "", name);
}

/* Fresh messages for the parts of a payload that are kept, aligned for any
 * member; a payload's kept parts fit many times over. */
typedef struct {
    union {
        max_align_t align;
        uint8_t bytes[16384];
    } mem;
    size_t used;
} nest_t;

static uint8_t *nest_take(nest_t *n, size_t size)
{
    size_t at = (n->used + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
    if (at + size > sizeof n->mem.bytes)
        return NULL;
    n->used = at + size;
    return n->mem.bytes + at;
}

/* Does some agreed path lie below PREFIX ("person." for "person.name")? */
static bool below(const config_strings_t *keep, const char *prefix, size_t len)
{
    for (size_t i = 0; i < keep->count; i++)
        if (strncmp(keep->items[i], prefix, len) == 0 && keep->items[i][len] == '.')
            return true;
    return false;
}

/* A fresh message of D holding only what KEEP names of SRC, whose fields
 * are named PREFIX + name: a field named whole is kept whole, a singular
 * message field with agreed paths below it is rebuilt the same way, and
 * everything else is left out. Shallow: it points into SRC's memory and is
 * packed before SRC is freed. NULL when NEST is full. */
static uint8_t *keep_fields(const ProtobufCMessageDescriptor *d, const uint8_t *src,
                            const config_strings_t *keep, const char *prefix, nest_t *nest,
                            char *fields, size_t fcap)
{
    uint8_t *fresh = nest_take(nest, d->sizeof_message);
    if (!fresh)
        return NULL;
    protobuf_c_message_init(d, fresh);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        char path[256];
        int n = snprintf(path, sizeof path, "%s%s", prefix, f->name);
        if (n < 0 || (size_t)n >= sizeof path)
            continue;
        if (listed(keep, path)) {
            copy_field(f, fresh, src);
            if (present(f, src))
                note_field(fields, fcap, path);
        } else if (f->type == PROTOBUF_C_TYPE_MESSAGE && f->label != PROTOBUF_C_LABEL_REPEATED &&
                   !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && below(keep, path, (size_t)n) &&
                   *(uint8_t *const *)(src + f->offset)) {
            char inner[258];
            snprintf(inner, sizeof inner, "%s.", path);
            uint8_t *sub = keep_fields(f->descriptor, *(uint8_t *const *)(src + f->offset), keep,
                                       inner, nest, fields, fcap);
            if (!sub)
                return NULL;
            memcpy(fresh + f->offset, &sub, sizeof sub);
        }
    }
    return fresh;
}

/* Packs the minimised payload of SRC (described by D) into OUT. */
static int pack_agreed(const ProtobufCMessageDescriptor *d, const ProtobufCMessage *src,
                       const config_strings_t *keep, pb_scratch_t *out, char *fields, size_t fcap)
{
    static _Thread_local nest_t nest; /* 16 KiB a partner thread, not on its stack */
    nest.used = 0;
    uint8_t *fresh = keep_fields(d, (const uint8_t *)src, keep, "", &nest, fields, fcap);
    if (!fresh)
        return -1;
    size_t n = protobuf_c_message_get_packed_size((ProtobufCMessage *)fresh);
    if (scratch_reserve(out, n) < 0)
        return -1;
    out->len = protobuf_c_message_pack((ProtobufCMessage *)fresh, out->data);
    return 0;
}

int partner_minimise(const config_partner_t *p, const Joinery__V1__Envelope *in, bool consent,
                     pb_scratch_t *payload, pb_scratch_t *out, char *fields, size_t fcap, char *why,
                     size_t wcap)
{
    fields[0] = '\0';
    if (p->consent_required && !consent) {
        snprintf(why, wcap, "no consent granted for purpose '%.64s'", p->purpose);
        return 0;
    }
    const config_partner_fields_t *keep = in->payload_type ? agreed(p, in->payload_type) : NULL;
    const ProtobufCMessageDescriptor *d = in->payload_type ? descriptor_of(in->payload_type) : NULL;
    if (!keep || !d) {
        snprintf(why, wcap, "the agreement shares no fields of payload type '%.64s'",
                 in->payload_type ? in->payload_type : "");
        return 0;
    }
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, in->payload.len, in->payload.data);
    if (!m) {
        snprintf(why, wcap, "the payload does not decode as %s", d->name);
        return 0;
    }
    int rc = 1;
    if (pack_agreed(d, m, &keep->fields, payload, fields, fcap) < 0) {
        snprintf(why, wcap, "out of memory minimising the payload");
        rc = -1;
    }
    protobuf_c_message_free_unpacked(m, NULL);
    if (rc != 1)
        return rc;
    Joinery__V1__Envelope e = JOINERY__V1__ENVELOPE__INIT;
    e.event_id = in->event_id;
    e.type = in->type;
    e.source = in->source;
    e.master_id = in->master_id;
    e.occurred_at = in->occurred_at;
    e.received_at = in->received_at;
    e.correlation_id = in->correlation_id;
    e.causation_id = in->causation_id;
    e.schema_version = in->schema_version;
    e.payload_type = in->payload_type;
    e.payload.data = payload->data;
    e.payload.len = payload->len;
    size_t n = joinery__v1__envelope__get_packed_size(&e);
    if (scratch_reserve(out, n) < 0) {
        snprintf(why, wcap, "out of memory packing the envelope");
        return -1;
    }
    out->len = joinery__v1__envelope__pack(&e, out->data);
    return 1;
}
