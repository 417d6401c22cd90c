/* fuzz_hl7_build.c - libFuzzer harness for the outbound builder, as a round trip: any bytes
 * parsed and mapped as a trust's ADT; what maps to a person is built again as Joinery would send
 * it (an A28 of the whole Person, or the A40), which must build, parse and map to the same event
 * for the same patient, with the same NHS number, dates and sex. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "health/hl7.h"
#include "health/hl7_build.h"
#include "health/hl7_map.h"

static hl7_msg_t *msg, *back;
static hl7_mapped_t *mapped, *again;
static char out[1 << 17];

static const hl7_build_opts_t OPTS = {.sending_facility = "LCC",
                                      .trust_ods = "RR8",
                                      .timestamp = "20240301093000+0000",
                                      .control_id = "J-1"};

static int same(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (msg == NULL) {
        msg = hl7_msg_new(HL7_MAX_SEGMENTS_DEFAULT);
        back = hl7_msg_new(16);
        mapped = calloc(1, sizeof *mapped);
        again = calloc(1, sizeof *again);
        if (msg == NULL || back == NULL || mapped == NULL || again == NULL)
            abort();
    }
    char *copy = malloc(size ? size : 1);
    if (copy == NULL)
        abort();
    memcpy(copy, data, size);
    char err[256];
    hl7_map_opts_t o = {.trust_ods = "RR8", .today = "2024-06-01"};
    int r = -1;
    if (hl7_parse(msg, copy, size, err, sizeof err) == 0)
        r = hl7_map_adt(msg, &o, mapped, err, sizeof err);
    free(copy);
    if (r != 0 || mapped->event == HL7_EVENT_NONE)
        return 0;
    size_t len;
    int merge = mapped->event == HL7_EVENT_PERSON_MERGED;
    int b = merge ? hl7_build_merged(&mapped->merged, &mapped->person, &OPTS, out, sizeof out, &len,
                                     err, sizeof err)
                  : hl7_build_person(&mapped->person, mapped->source_record_id, HL7_BUILD_A28,
                                     &OPTS, out, sizeof out, &len, err, sizeof err);
    if (b != 0) {
        /* the one refusal possible: a merge whose two ids are the same */
        if (merge && same(mapped->merged.survivor_local_id, mapped->merged.retired_local_id))
            return 0;
        abort();
    }
    if (hl7_parse(back, out, len, err, sizeof err) != 0 ||
        hl7_map_adt(back, &o, again, err, sizeof err) != 0)
        abort();
    const Joinery__V1__Person *p = &mapped->person, *q = &again->person;
    if (again->event != (merge ? HL7_EVENT_PERSON_MERGED : HL7_EVENT_PERSON_UPDATED) ||
        !same(again->source_record_id, mapped->source_record_id) ||
        (merge && !same(again->retired_id, mapped->retired_id)) ||
        !same(p->nhs_number, q->nhs_number) || !same(p->birth_date, q->birth_date) ||
        !same(p->death_date, q->death_date) || p->sex != q->sex ||
        p->nhs_number_verification != q->nhs_number_verification)
        abort();
    return 0;
}
