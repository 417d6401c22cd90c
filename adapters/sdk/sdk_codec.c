/* sdk_codec.c - Envelope encoding/decoding with protobuf-c. */
#include "sdk_codec.h"

#include <stdlib.h>
#include <string.h>

void sdk_codec_init(sdk_codec_t *k)
{
    k->entries = NULL;
    k->ptrs = NULL;
    k->cap = 0;
}

void sdk_codec_free(sdk_codec_t *k)
{
    free(k->entries);
    free(k->ptrs);
    sdk_codec_init(k);
}

static int reserve_attrs(sdk_codec_t *k, size_t n)
{
    if (n <= k->cap) {
        return 0;
    }
    Joinery__V1__Envelope__AttributesEntry *e = malloc(n * sizeof *e);
    Joinery__V1__Envelope__AttributesEntry **p = malloc(n * sizeof *p);
    if (e == NULL || p == NULL) {
        free(e);
        free(p);
        return -1;
    }
    free(k->entries);
    free(k->ptrs);
    k->entries = e;
    k->ptrs = p;
    k->cap = n;
    return 0;
}

/* protobuf-c's packer never writes through these; the casts only drop const. */
static char *str_or_empty(const char *s)
{
    return (char *)(s ? s : "");
}

int sdk_codec_encode(sdk_codec_t *k, const joinery_event_t *ev, const char *source,
                     const char *event_id, int64_t now_us, sdk_buf_t *out, char *err, size_t errlen)
{
    if (ev == NULL || ev->type == NULL || ev->type[0] == '\0') {
        sdk_errf(err, errlen, "event has no type");
        return -1;
    }
    size_t idlen = event_id ? strlen(event_id) : 0;
    if (idlen == 0 || idlen > JOINERY_EVENT_ID_MAX) {
        sdk_errf(err, errlen, "event_id must be 1 to %u bytes", JOINERY_EVENT_ID_MAX);
        return -1;
    }
    if (ev->payload_len > 0 && ev->payload == NULL) {
        sdk_errf(err, errlen, "payload_len is %zu but payload is NULL", ev->payload_len);
        return -1;
    }
    if (ev->nattrs > 0 && ev->attrs == NULL) {
        sdk_errf(err, errlen, "nattrs is %zu but attrs is NULL", ev->nattrs);
        return -1;
    }
    if (reserve_attrs(k, ev->nattrs) != 0) {
        sdk_errf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < ev->nattrs; i++) {
        if (ev->attrs[i].key == NULL || ev->attrs[i].key[0] == '\0') {
            sdk_errf(err, errlen, "attribute %zu has no key", i);
            return -1;
        }
        Joinery__V1__Envelope__AttributesEntry init = JOINERY__V1__ENVELOPE__ATTRIBUTES_ENTRY__INIT;
        k->entries[i] = init;
        k->entries[i].key = str_or_empty(ev->attrs[i].key);
        k->entries[i].value = str_or_empty(ev->attrs[i].value);
        k->ptrs[i] = &k->entries[i];
    }

    Joinery__V1__Envelope env = JOINERY__V1__ENVELOPE__INIT;
    env.event_id = str_or_empty(event_id);
    env.type = str_or_empty(ev->type);
    env.source = str_or_empty(source);
    env.source_record_id = str_or_empty(ev->source_record_id);
    env.master_id = str_or_empty(ev->master_id);
    env.occurred_at = ev->occurred_at_us ? ev->occurred_at_us : now_us;
    env.correlation_id = str_or_empty(ev->correlation_id);
    env.causation_id = str_or_empty(ev->causation_id);
    env.schema_version = ev->schema_version;
    env.payload_type = str_or_empty(ev->payload_type);
    env.payload.len = ev->payload_len;
    env.payload.data = (uint8_t *)ev->payload;
    env.n_attributes = ev->nattrs;
    env.attributes = ev->nattrs ? k->ptrs : NULL;
    env.base_version = ev->base_version;

    size_t n = joinery__v1__envelope__get_packed_size(&env);
    if (sdk_buf_reserve(out, n) != 0) {
        sdk_errf(err, errlen, "out of memory for a %zu-byte event", n);
        return -1;
    }
    out->len = joinery__v1__envelope__pack(&env, out->data);
    return 0;
}

int sdk_codec_decode(sdk_arena_t *a, const uint8_t *data, size_t len, joinery_event_t *ev,
                     char *err, size_t errlen)
{
    Joinery__V1__Envelope *env = joinery__v1__envelope__unpack(sdk_arena_allocator(a), len, data);
    if (env == NULL) {
        sdk_errf(err, errlen, "delivered envelope (%zu bytes) does not parse", len);
        return -1;
    }
    memset(ev, 0, sizeof *ev);
    joinery_attr_t *attrs = NULL;
    if (env->n_attributes > 0) {
        if (env->n_attributes > SIZE_MAX / sizeof *attrs ||
            (attrs = sdk_arena_alloc(a, env->n_attributes * sizeof *attrs)) == NULL) {
            sdk_errf(err, errlen, "out of memory");
            return -1;
        }
        for (size_t i = 0; i < env->n_attributes; i++) {
            attrs[i].key = env->attributes[i]->key;
            attrs[i].value = env->attributes[i]->value;
        }
    }
    ev->event_id = env->event_id;
    ev->type = env->type;
    ev->source = env->source;
    ev->source_record_id = env->source_record_id;
    ev->master_id = env->master_id;
    ev->occurred_at_us = env->occurred_at;
    ev->received_at_us = env->received_at;
    ev->correlation_id = env->correlation_id;
    ev->causation_id = env->causation_id;
    ev->schema_version = env->schema_version;
    ev->payload_type = env->payload_type;
    ev->payload = env->payload.data;
    ev->payload_len = env->payload.len;
    ev->attrs = attrs;
    ev->nattrs = env->n_attributes;
    ev->base_version = env->base_version;
    return 0;
}

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t sdk_codec_publish_overhead(size_t len)
{
    return 1 + varint_len(len);
}

int sdk_codec_publish_append(sdk_buf_t *body, const uint8_t *env, size_t len)
{
    uint8_t hdr[11];
    size_t n = 0;
    hdr[n++] = 0x0A; /* field 1 (events), wire type 2 (length-delimited) */
    uint64_t v = len;
    while (v >= 0x80) {
        hdr[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    hdr[n++] = (uint8_t)v;
    if (sdk_buf_append(body, hdr, n) != 0 || sdk_buf_append(body, env, len) != 0) {
        return -1;
    }
    return 0;
}
