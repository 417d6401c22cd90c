/* fuzz_admin_decode.c - libFuzzer harness for the decoders that show a stored envelope in the
 * admin API (GET /api/v1/dead-letters/{id}, /api/v1/trace: hub/admin/admin_decode.c over
 * lib/protojson, which `joinery tail` shares). The envelope was an adapter's, so its bytes are
 * outside input too. The whole input is decoded as an envelope; the input after its first byte
 * is also walked as the payload type that byte picks.
 *
 * Beyond "no crash, no leak, nothing out of bounds": a decoded envelope is a JSON object that
 * prints and reads back the same (so every string in it is UTF-8), and is base64 of exactly the
 * bytes when protobuf-c refuses them; a payload decodes whenever protobuf-c takes it (no schema
 * nests past protojson's depth limit); the same bytes decode the same twice.
 *
 * Kept apart from fuzz_admin.c: in one process, random protobuf bytes give so much new coverage
 * that the request checks' corner cases were left unexplored (tests/fuzz/README.md: a limit of
 * 1001 let through on purpose went unnoticed for 60 s with the decoders beside the checks). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <joinery/v1/envelope.pb-c.h>

#include "admin/admin_decode.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

/* J prints, reads back equal (so its strings are UTF-8), and is what a second decode gave. */
static void check_json(json_t *j, json_t *again)
{
    check(json_is_object(j) && json_equal(j, again));
    char *text = json_dumps(j, JSON_COMPACT);
    check(text != NULL);
    json_t *back = json_loads(text, 0, NULL);
    check(back != NULL && json_equal(back, j));
    json_decref(back);
    free(text);
}

static void envelope_checked(const uint8_t *p, size_t n)
{
    json_t *j = admin_decode_envelope(p, n), *k = admin_decode_envelope(p, n);
    check_json(j, k);
    Joinery__V1__Envelope *e = joinery__v1__envelope__unpack(NULL, n, p);
    json_t *b64 = json_object_get(j, "envelope_base64");
    check((e == NULL) == (b64 != NULL));
    if (b64)
        check(json_string_length(b64) == (n + 2) / 3 * 4 && json_object_size(j) == 1);
    if (e)
        joinery__v1__envelope__free_unpacked(e, NULL);
    json_decref(j);
    json_decref(k);
}

static void payload_checked(const char *type, const uint8_t *p, size_t n)
{
    const ProtobufCMessageDescriptor *d = admin_decode_find(type);
    check(d != NULL);
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, n, p);
    json_t *j = admin_decode_message(d, p, n), *k = admin_decode_message(d, p, n);
    check((m == NULL) == (j == NULL));
    if (m) {
        check_json(j, k);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    json_decref(j);
    json_decref(k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const types[] = {
        "joinery.v1.Person",       "joinery.v1.ServiceRequest",    "joinery.v1.Case",
        "joinery.v1.Admission",    "joinery.v1.StewardDecision",   "joinery.v1.Gl07Line",
        "joinery.v1.PersonMerged", "joinery.v1.CareChargeInvoice", "joinery.v1.DataQuality",
        "joinery.v1.CrmContact"};
    /* an exact-size copy, so a read past the end is caught */
    uint8_t *p = malloc(size ? size : 1);
    check(p != NULL);
    memcpy(p, data, size);
    envelope_checked(p, size);
    if (size > 0)
        payload_checked(types[p[0] % (sizeof types / sizeof *types)], p + 1, size - 1);
    free(p);
    return 0;
}
