/* fuzz_envelope.c - libFuzzer harness for the hub's hand-written protobuf wire reader
 * (hub/base/pbwire.c), which parses every PUBLISH body and envelope in place on the hot path:
 * any bytes as an envelope. Nothing may read out of bounds; every field the reader hands out
 * must lie inside the input; and where protobuf-c's generated parser also accepts the bytes,
 * both must read the same values (last value wins in both). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/pbwire.h"

#include <joinery/v1/envelope.pb-c.h>

static void inside(const uint8_t *data, size_t size, const void *p, size_t len)
{
    const uint8_t *q = p;
    if (len == 0)
        return;
    if (q == NULL || q < data || len > size || q > data + size - len)
        abort();
}

/* A string field the reader found (P, LEN) against protobuf-c's (S): the same bytes. */
static void same_str(const char *p, size_t len, const char *s)
{
    if (p == NULL) {
        if (s != NULL && s[0] != '\0')
            abort();
        return;
    }
    /* protobuf-c ends its copy at the first NUL; the reader keeps the length */
    if (s == NULL || strlen(s) > len || strncmp(p, s, strlen(s)) != 0)
        abort();
}

static void walk(const uint8_t *data, size_t size)
{
    pb_reader_t r = {data, data + size};
    pb_field_t f;
    int rc;
    while ((rc = pb_next(&r, &f)) == 1)
        if (f.wire == PB_LEN)
            inside(data, size, f.ptr, f.len);
    if (rc != 0 && rc != -1)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    walk(data, size);
    pb_envelope_t e;
    char why[256];
    if (pb_envelope_parse(data, size, &e, why, sizeof why) < 0) {
        if (memchr(why, '\0', sizeof why) == NULL || why[0] == '\0')
            abort(); /* a refusal always says why */
        return 0;
    }
    inside(data, size, e.event_id, e.event_id_len);
    inside(data, size, e.type, e.type_len);
    inside(data, size, e.source, e.source_len);
    inside(data, size, e.source_record_id, e.source_record_id_len);
    inside(data, size, e.master_id, e.master_id_len);
    inside(data, size, e.payload_type, e.payload_type_len);
    inside(data, size, e.correlation_id, e.correlation_id_len);
    inside(data, size, e.payload, e.payload_len);
    Joinery__V1__Envelope *pc = joinery__v1__envelope__unpack(NULL, size, data);
    if (pc == NULL)
        return 0; /* protobuf-c also checks fields the hot path leaves untouched */
    same_str(e.event_id, e.event_id_len, pc->event_id);
    same_str(e.type, e.type_len, pc->type);
    same_str(e.source, e.source_len, pc->source);
    same_str(e.payload_type, e.payload_type_len, pc->payload_type);
    if (e.payload_len != pc->payload.len ||
        (e.payload_len && memcmp(e.payload, pc->payload.data, e.payload_len) != 0))
        abort();
    if ((uint64_t)e.occurred_at != (uint64_t)pc->occurred_at ||
        e.base_version != (uint64_t)pc->base_version)
        abort();
    joinery__v1__envelope__free_unpacked(pc, NULL);
    return 0;
}
