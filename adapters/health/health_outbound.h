/* health_outbound.h - joinery-health's outbound side: the golden record, out, to the trust's
 * MLLP receiver as HL7 v2.5 ADT, in the trust's own patient id.
 *
 * A durable subscription to person.changed and person.merged. Its handler builds the message
 * (hl7_build: A31 when the event names the trust's id, A28 by master id when the trust has none,
 * A40 for a merge of two persons the trust knows), MSH-10 the event's journal seq, and keeps the
 * delivery unsettled (JOINERY_DEFER). One connection to the trust, one message in flight on it:
 * the messages go in arrival order, and the hub delivers an entity's next event only once the
 * previous is settled, so each person's messages reach the trust in order. AA settles the event
 * with ACK; AE or AR with REJECT and the trust's words, so the hub dead-letters it. A refused
 * connection, a timeout or a closed connection keeps the message and sends it again (same
 * control id) after a backoff, retry_min_ms doubling to retry_max_ms, for as long as it takes.
 *
 * Memory is fixed at creation: one slot per delivery the subscription's credit allows, each with
 * room for its framed message; nothing is allocated per event. */
#ifndef JOINERY_HEALTH_OUTBOUND_H
#define JOINERY_HEALTH_OUTBOUND_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include <joinery/joinery.h>

#include "common/adapter_config.h"

typedef struct {
    const char *endpoint;         /* "HOST:PORT" of the trust's MLLP receiver; required */
    unsigned connect_timeout_ms;  /* a connect not done by then counts as refused */
    unsigned ack_timeout_ms;      /* a message unanswered by then is sent again */
    unsigned retry_min_ms;        /* first pause after a failure */
    unsigned retry_max_ms;        /* the pause doubles up to this */
    const char *trust_ods;        /* MSH-6, the assigning authority of the trust's ids */
    const char *sending_facility; /* MSH-4, the council; NULL: "JOINERY" */
    const char *receiving_app;    /* MSH-5, the trust's engine; NULL: empty */
    const char *subscription;     /* the durable subscription's name; NULL: "trust-out" */
    unsigned credit;              /* deliveries held at most; 0: 64 */
} health_outbound_opts_t;

typedef struct {
    uint64_t sent, aa, rejected, resent, dropped; /* dropped: settle found the session gone */
    uint64_t connects, failures;
} health_outbound_counters_t;

typedef struct health_outbound health_outbound_t;

/* Reads the optional section
 *   outbound: {endpoint: "HOST:PORT", connect_timeout_ms: 5000, ack_timeout_ms: 30000,
 *              retry_min_ms: 500, retry_max_ms: 60000, sending_facility: JOINERY,
 *              receiving_app: ...}
 * into O (its strings point into CFG). *ENABLED is 0 without the section. -1 and ERR for a wrong
 * key or value, or a section without its endpoint. */
int health_outbound_config(const adapter_config_t *cfg, const char *trust_ods,
                           health_outbound_opts_t *o, int *enabled, char *err, size_t errlen);

/* Subscribes through C (borrowed; it must outlive the result). NULL and ERR when the endpoint is
 * not HOST:PORT, memory is short, or the hub refuses the subscription. */
health_outbound_t *health_outbound_new(const health_outbound_opts_t *o, joinery_client_t *c,
                                       char *err, size_t errlen);
/* Closes the connection; what is held unsettled the hub delivers again next time. */
void health_outbound_destroy(health_outbound_t **h);

/* Writes the connection's poll entry into FDS (CAP entries); returns how many (0 or 1). */
size_t health_outbound_fds(health_outbound_t *h, struct pollfd *fds, size_t cap);
/* Acts on FDS (as health_outbound_fds wrote them; may be N 0) and on the timers: connects,
 * sends, reads ACKs and settles. Call after the SDK ran, so new deliveries go out at once. */
void health_outbound_handle(health_outbound_t *h, const struct pollfd *fds, size_t n);
/* Milliseconds until a timer of its own is due (a retry, a timeout); -1 when none. */
int health_outbound_timeout_ms(const health_outbound_t *h);

/* Deliveries held (sent or waiting). */
size_t health_outbound_held(const health_outbound_t *h);
const health_outbound_counters_t *health_outbound_counters(const health_outbound_t *h);

#endif
