/* partner_int.h - what the partner module's files share (partner.c: the
 * threads, the hub link and librdkafka; partner_min.c: minimisation and
 * consent). Internal to hub/partner/. */
#ifndef JOINERY_PARTNER_INT_H
#define JOINERY_PARTNER_INT_H

#include "partner/partner.h"

#include <joinery/v1/envelope.pb-c.h>
#include <stdbool.h>
#include <stdlib.h>

/* A buffer reused for every event of a thread: no allocation per event once
 * it has grown to the largest. */
typedef struct {
    uint8_t *data;
    size_t len, cap;
} pb_scratch_t;

static inline int scratch_reserve(pb_scratch_t *s, size_t n)
{
    if (n <= s->cap)
        return 0;
    size_t cap = s->cap ? s->cap : 1024;
    while (cap < n)
        cap *= 2;
    uint8_t *p = realloc(s->data, cap);
    if (!p)
        return -1;
    s->data = p;
    s->cap = cap;
    return 0;
}

/* What of IN leaves for partner P (CONSENT: the core's answer for its
 * person, when the agreement requires consent): 1 with the minimised envelope in OUT
 * (PAYLOAD is scratch for the payload) and the agreed fields it carries in
 * FIELDS; 0 withheld, with why (no agreed fields for its payload type, no
 * consent); -1 out of memory. */
int partner_minimise(const config_partner_t *p, const Joinery__V1__Envelope *in, bool consent,
                     pb_scratch_t *payload, pb_scratch_t *out, char *fields, size_t fcap, char *why,
                     size_t wcap);

#endif
