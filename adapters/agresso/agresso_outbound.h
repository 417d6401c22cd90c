/* agresso_outbound.h - joinery-agresso's outbound side: what the hub delivers, as files a nightly
 * Agresso job loads.
 *
 *   person.changed (in Agresso's own customer id)  -> a customer-master import file
 *   case.care_package.* (CarePackage)             -> a GL07 batch-input file
 *
 * One file per delivery, named after the delivery's journal sequence number (CUST-SEQ.csv,
 * GL07-SEQ.csv): written in the outbound directory's .tmp/, fsynced, renamed into the directory,
 * and the directory fsynced, before the handler returns ACK. The SDK's handler must answer each
 * delivery when it is called (it has no deferred acknowledgement), so the delivery is the batch.
 * A delivery that comes again (the adapter died between the rename and the ACK) writes the same
 * name with the same content: the file is replaced, never doubled. A delivery that cannot be
 * mapped is rejected with the reason (the hub dead-letters it); one that cannot be written (disk
 * full, directory gone) is answered RETRY and comes back later. */
#ifndef JOINERY_AGRESSO_OUTBOUND_H
#define JOINERY_AGRESSO_OUTBOUND_H

#include <stddef.h>
#include <stdint.h>

#include <joinery/joinery.h>

#include "gl07.h"

typedef struct {
    const char *dir;             /* the directory Agresso's job loads from */
    const char *customer_prefix; /* e.g. CUST */
    const char *gl07_prefix;     /* e.g. GL07 */
    char delimiter;
    gl07_coding_t coding;
} agresso_outbound_opts_t;

typedef struct {
    uint64_t customers, gl07, skipped, rejected, write_failures;
} agresso_outbound_counters_t;

typedef struct agresso_outbound agresso_outbound_t;

/* Opens O->dir (made with its .tmp/ if missing). NULL and ERR on failure. */
agresso_outbound_t *agresso_outbound_new(const agresso_outbound_opts_t *o, char *err,
                                         size_t errlen);
void agresso_outbound_destroy(agresso_outbound_t **o);

/* The SDK's joinery_handler_fn, with the outbound as UD. */
joinery_verdict_t agresso_outbound_handle(void *ud, const joinery_event_t *ev, uint64_t seq,
                                          unsigned attempt, char *reason, size_t reason_len);

const agresso_outbound_counters_t *agresso_outbound_counters(const agresso_outbound_t *o);

#endif
