/* sdk_payload.c - see sdk_payload.h. The walk itself is lib/protojson's, shared with the hub's
 * admin API; adapters never depend on hub code, and both depend on that library. */
#include "sdk_payload.h"

#include "../../include/joinery/joinery.h"

#include "protojson/protojson.h"

#include <stdlib.h>

const ProtobufCMessageDescriptor *sdk_payload_find(const char *type)
{
    return protojson_find(type);
}

json_t *sdk_payload_decode(const char *type, const uint8_t *p, size_t n)
{
    return protojson_unpack(protojson_find(type), p, n);
}

char *joinery_payload_json(const char *payload_type, const void *payload, size_t len)
{
    json_t *j = sdk_payload_decode(payload_type, payload, len);
    if (j == NULL) {
        return NULL;
    }
    char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    return text;
}
