/* fuzz_fhir_patient.c - libFuzzer harness for the FHIR Patient reader and writers: any bytes as
 * the body of a POST /Patient. Nothing may read out of bounds or leak; the problems must make an
 * OperationOutcome; and a Patient that was read, written back as the golden record and read
 * again must give the same Person (its identifiers aside: only the NHS number and the trust's
 * id are written). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "health/fhir_patient.h"

#define LOCAL "https://fhir.rr8.nhs.uk/Id/local-patient-identifier"

static fhir_patient_t *first, *again;
static char json[1 << 18];

/* P packed without its identifiers, in a fresh allocation (the caller frees it). */
static uint8_t *packed(Joinery__V1__Person *p, size_t *n)
{
    size_t ids = p->n_identifiers;
    p->n_identifiers = 0;
    *n = joinery__v1__person__get_packed_size(p);
    uint8_t *wire = malloc(*n ? *n : 1);
    if (wire == NULL || joinery__v1__person__pack(p, wire) != *n)
        abort();
    p->n_identifiers = ids;
    return wire;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (first == NULL) {
        first = calloc(1, sizeof *first);
        again = calloc(1, sizeof *again);
        if (first == NULL || again == NULL)
            abort();
    }
    /* an exact-size copy, so a read past the end is caught */
    char *copy = malloc(size ? size : 1);
    if (copy == NULL)
        abort();
    memcpy(copy, data, size);
    /* the first byte chooses whether the trust's system is configured */
    fhir_read_opts_t o = {.local_system = size && data[0] % 2 ? LOCAL : NULL,
                          .today = "2024-06-01"};
    fhir_read_t r = fhir_patient_read(copy, size, &o, first);
    free(copy);
    size_t len;
    if (first->n_problems == 0 && r != FHIR_READ_OK)
        abort(); /* a refusal always says why */
    if (fhir_outcome_write(first->problems, first->n_problems, json, sizeof json, &len) != 0)
        abort();
    if (r != FHIR_READ_OK)
        return 0;
    fhir_view_t v = {
        .master_id = "P01HZX", .version = 3, .local_id = first->local_id, .local_system = LOCAL};
    char err[128];
    if (fhir_patient_write(&first->person, &v, json, sizeof json, &len, err, sizeof err) != 0)
        abort();
    fhir_read_opts_t back = {.local_system = LOCAL, .today = "2024-06-01"};
    if (fhir_patient_read(json, len, &back, again) != FHIR_READ_OK ||
        strcmp(again->local_id, first->local_id) != 0)
        abort();
    size_t na, nb;
    uint8_t *a = packed(&first->person, &na), *b = packed(&again->person, &nb);
    if (na != nb || memcmp(a, b, na) != 0)
        abort();
    free(a);
    free(b);
    return 0;
}
