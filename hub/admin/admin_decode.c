/* admin_decode.c - see admin_decode.h. */
#include "admin/admin_decode.h"

#include "protojson/protojson.h"

#include <joinery/v1/envelope.pb-c.h>

const ProtobufCMessageDescriptor *admin_decode_find(const char *name)
{
    return protojson_find(name);
}

json_t *admin_decode_message(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n)
{
    return protojson_unpack(d, p, n);
}

json_t *admin_decode_base64(const uint8_t *p, size_t n)
{
    return protojson_base64(p, n);
}

json_t *admin_decode_envelope(const uint8_t *p, size_t n)
{
    Joinery__V1__Envelope *e = joinery__v1__envelope__unpack(NULL, n, p);
    if (!e)
        return json_pack("{so}", "envelope_base64", protojson_base64(p, n));
    json_t *j = protojson_message(&e->base);
    const ProtobufCMessageDescriptor *d =
        e->payload_type && *e->payload_type ? admin_decode_find(e->payload_type) : NULL;
    json_t *payload = d ? admin_decode_message(d, e->payload.data, e->payload.len) : NULL;
    if (j && payload)
        json_object_set_new(j, "payload", payload);
    else
        json_decref(payload);
    joinery__v1__envelope__free_unpacked(e, NULL);
    return j;
}
