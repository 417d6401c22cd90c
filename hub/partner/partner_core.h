/* partner_core.h - the partner module on the core thread: the router's hooks
 * (start, a socket to poll, stop). Kept apart from router.c so that file only
 * calls these three. */
#ifndef JOINERY_PARTNER_CORE_H
#define JOINERY_PARTNER_CORE_H

#include "core.h"

/* Binds the router's loopback endpoint for the partners' links and starts
 * their threads; nothing when no partner is configured. 0, or -1 and ERR. */
int partner_core_start(core_t *c, char *err, size_t errlen);
/* The socket to poll for reports, or NULL. */
void *partner_core_socket(core_t *c);
/* Each report: its disclosure and refusal rows into the pending batch, the
 * deliveries it settled ACKed, and the cursors queued into the same batch. */
void partner_core_receive(core_t *c);
/* A commit came back: its disclosure and refusal rows are written (COMMITTED),
 * or (FAILED, after ingest_failed) they go into the pending batch again, so
 * they reach the table no later than the cursors the failed batch held,
 * which deliver.c queues again too. */
void partner_core_committed(core_t *c, const jbatch_t *b);
void partner_core_failed(core_t *c);
void partner_core_stop(core_t *c);

#endif
