/* fuzz_crm_webhook.c - libFuzzer harness for the Dataverse webhook mapper: any bytes as the body
 * of a webhook POST. Nothing may read out of bounds or leak; a mapped event must have a type, a
 * printable event id the hub takes, a GUID as its record id and a payload that decodes as the
 * message it names; the same bytes must map to the same event id; and a reason is given for
 * everything that is not mapped. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crm/crm_webhook.h"

static crm_mapped_t *out;
static char first_id[CRM_EVENT_ID_MAX + 1];

static void check_mapped(const crm_mapped_t *m)
{
    size_t n = strlen(m->event_id);
    if (m->type == NULL || m->payload_type == NULL || n == 0 || n > 128 ||
        strlen(m->record_id) != 36 || m->n_drops > CRM_MAX_DROPS)
        abort();
    for (size_t i = 0; i < n; i++)
        if (m->event_id[i] < 0x21 || m->event_id[i] > 0x7e)
            abort();
    if (strcmp(m->payload_type, "joinery.v1.Person") == 0) {
        Joinery__V1__Person *p = joinery__v1__person__unpack(NULL, m->payload_len, m->payload);
        if (p == NULL)
            abort();
        joinery__v1__person__free_unpacked(p, NULL);
    } else {
        Joinery__V1__ServiceRequest *r =
            joinery__v1__service_request__unpack(NULL, m->payload_len, m->payload);
        if (r == NULL)
            abort();
        joinery__v1__service_request__free_unpacked(r, NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (out == NULL && (out = calloc(1, sizeof *out)) == NULL)
        abort();
    /* an exact-size copy, so a read past the end is caught */
    char *copy = malloc(size ? size : 1);
    if (copy == NULL)
        abort();
    memcpy(copy, data, size);
    /* the first byte chooses whether an NHS number attribute is configured */
    crm_webhook_opts_t o = {.nhs_number_attribute = size && data[0] % 2 ? "jn_nhsnumber" : NULL,
                            .today = "2026-12-01"};
    crm_map_rc_t rc = crm_webhook_map(copy, size, &o, out);
    if (rc == CRM_MAP_OK) {
        check_mapped(out);
        memcpy(first_id, out->event_id, sizeof first_id);
        if (crm_webhook_map(copy, size, &o, out) != CRM_MAP_OK ||
            strcmp(first_id, out->event_id) != 0)
            abort();
    } else if (out->why[0] == '\0') {
        abort();
    }
    free(copy);
    return 0;
}
