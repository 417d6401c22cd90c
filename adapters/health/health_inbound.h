/* health_inbound.h - joinery-health's inbound side: a trust's HL7 v2 over MLLP, in, as Joinery
 * events; the ACK back once the hub has answered.
 *
 * A non-blocking TCP listener; each connection has its own MLLP framer and a queue of its
 * messages in arrival order. Each frame is parsed and mapped (hl7_map_adt); a mapped message is
 * published through the SDK (one or two events, ids derived from the trust and MSH-10, so a
 * resent message is a DUPLICATE, not a second event) and its ACK waits for the hub's CONFIRM:
 * AA, or AE naming the fields that were dropped, or AE with the hub's reason when it refused the
 * event. Unmapped types are answered at once, AA or AR as configured, and counted by type;
 * unreadable messages at once, AE or AR. ACKs leave a connection in message order: a later
 * message's ACK waits for every earlier one's.
 *
 * Memory is fixed per connection (framer, message queue, byte ring for the ACKs to come, output
 * buffer). A connection with too many unanswered messages, or whose ACKs the trust does not
 * read, is not read from until that changes: while the hub is away, messages wait and trusts
 * slow down, and nothing grows. */
#ifndef JOINERY_HEALTH_INBOUND_H
#define JOINERY_HEALTH_INBOUND_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include <joinery/joinery.h>

#include "hl7_map.h"

typedef struct {
    const char *listen;     /* "HOST:PORT"; port 0 picks a free one (health_inbound_port) */
    size_t max_frame;       /* largest MLLP frame taken, bytes */
    size_t max_connections; /* connections beyond it are closed at once */
    size_t window;          /* unanswered messages per connection before it is no longer read */
    const char *trust_ods;  /* the trust's ODS code: event ids and the patient's local id */
    hl7_unmapped_t unmapped;
    const char *refused_dir; /* NULL, or where refused messages are written whole */
} health_inbound_opts_t;

typedef struct {
    uint64_t received, aa, ae, ar;
    uint64_t events, rejected; /* events published; refused by the hub */
    uint64_t unmapped;
    uint64_t oversize, aborted, garbage_bytes, overruns;
    uint64_t connections, refused_connections;
} health_counters_t;

typedef struct health_inbound health_inbound_t;

/* Binds the listener. C is the SDK client the events go through (borrowed; may not be NULL).
 * NULL and ERR when the address cannot be bound. */
health_inbound_t *health_inbound_new(const health_inbound_opts_t *o, joinery_client_t *c, char *err,
                                     size_t errlen);
/* Closes every connection (unanswered messages get no ACK: the trust resends them). */
void health_inbound_destroy(health_inbound_t **h);

/* The port the listener is bound to. */
int health_inbound_port(const health_inbound_t *h);

/* Upper bound of the events the SDK may have unconfirmed at once on behalf of this listener:
 * give the client at least this max_unconfirmed, so publishing never waits. */
size_t health_inbound_max_events(const health_inbound_opts_t *o);

/* Writes the poll set (listener and connections) into FDS (CAP entries); returns how many. */
size_t health_inbound_fds(health_inbound_t *h, struct pollfd *fds, size_t cap);
/* Acts on the events poll found on the set health_inbound_fds gave. */
void health_inbound_handle(health_inbound_t *h, const struct pollfd *fds, size_t n);
/* Sends the ACKs that are due and closes connections that are done. Call after the SDK ran. */
void health_inbound_flush(health_inbound_t *h);
/* Stops accepting and reading; answered ACKs still go out. */
void health_inbound_quiesce(health_inbound_t *h);
/* Messages received and not yet answered, over all connections. */
size_t health_inbound_unanswered(const health_inbound_t *h);

const health_counters_t *health_inbound_counters(const health_inbound_t *h);
/* Logs the counters if they changed since the last call, or FORCE. */
void health_inbound_log_counters(health_inbound_t *h, int force);

#endif
