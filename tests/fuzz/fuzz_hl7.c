/* fuzz_hl7.c - libFuzzer harness for the HL7 v2 parser, the ADT mapping and the ACK: any bytes
 * as one message. Nothing may read out of bounds, and whatever happens an ACK must be written
 * that parses again and answers with the message's MSH-10. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "health/hl7.h"
#include "health/hl7_ack.h"
#include "health/hl7_map.h"

static hl7_msg_t *msg, *back;
static hl7_mapped_t *mapped;
static char ack[1 << 16];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (msg == NULL) {
        msg = hl7_msg_new(HL7_MAX_SEGMENTS_DEFAULT);
        back = hl7_msg_new(64);
        mapped = calloc(1, sizeof *mapped);
        if (msg == NULL || back == NULL || mapped == NULL)
            abort();
    }
    /* an exact-size copy, so a read past the end is caught */
    char *copy = malloc(size ? size : 1);
    if (copy == NULL)
        abort();
    memcpy(copy, data, size);
    char err[256];
    (void)hl7_parse(msg, copy, size, err, sizeof err);
    hl7_map_opts_t o = {.trust_ods = "RR8",
                        .today = "2024-06-01",
                        .unmapped = size % 2 ? HL7_UNMAPPED_ACCEPT : HL7_UNMAPPED_REJECT};
    (void)hl7_map_adt(msg, &o, mapped, err, sizeof err);
    if (mapped->event != HL7_EVENT_NONE) {
        size_t n = joinery__v1__person__get_packed_size(&mapped->person);
        uint8_t *wire = malloc(n ? n : 1);
        if (wire == NULL || joinery__v1__person__pack(&mapped->person, wire) != n)
            abort();
        free(wire);
    }
    hl7_ack_t a = hl7_mapped_ack(mapped);
    a.timestamp = "20240101000000";
    a.control_id = "F1";
    size_t len;
    if (hl7_ack_build(msg, &a, ack, sizeof ack, &len, err, sizeof err) != 0)
        abort();
    if (hl7_parse(back, ack, len, err, sizeof err) != 0 || hl7_segment_find(back, "MSA", 0) != 1)
        abort();
    free(copy);
    return 0;
}
