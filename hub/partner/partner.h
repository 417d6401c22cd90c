/* partner.h - partners over Kafka (docs/operations.md "Partners (Kafka)").
 *
 * One thread per partner, off the core thread: it is the internal adapter
 * "partner:NAME", which speaks the wire protocol to the hub over a loopback
 * connection the router binds for it (so its events pass the same checks,
 * permissions and master-data rules as any adapter's, and its outbound
 * cursor is an ordinary durable subscription with an acked floor), and
 * librdkafka to the partner's brokers.
 *
 *  - outbound: each DELIVER is minimised to the agreed fields (decoded with
 *    protobuf-c, every other field dropped, re-packed), checked against the
 *    person's consent, and produced keyed by master id; a delivery is
 *    settled only when Kafka acknowledged it (or it was withheld). The
 *    settlement and its disclosure rows reach the core as one report, by
 *    pointer over an inproc PAIR socket, and go into one pending batch, so
 *    a disclosure row is committed no later than the cursor it lets move.
 *  - inbound: records of the inbound topic are PUBLISHed as the partner;
 *    an offset is committed only once the hub CONFIRMed (journaled or
 *    refused) the record. A record that is not an envelope is refused and
 *    kept with its topic, partition and offset (partner_refused).
 *
 * Ownership: a report passes from the partner thread to the core with the
 * message that carries its pointer; the core frees it (partner_report_free). */
#ifndef JOINERY_PARTNER_H
#define JOINERY_PARTNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"

typedef struct partner partner_t;

#define PARTNER_ID_MAX 129
#define PARTNER_FIELDS_MAX 512

/* One event the agreement covered: sent (shared) or withheld, and why. */
typedef struct {
    uint64_t seq;
    bool shared;
    char event_id[PARTNER_ID_MAX];
    char master_id[PARTNER_ID_MAX];
    char type[PARTNER_ID_MAX];
    char fields[PARTNER_FIELDS_MAX]; /* the agreed fields the event carried, comma-separated */
    char reason[160];                /* why withheld; "" when shared */
    int64_t at_us;
} partner_disclosure_t;

/* An inbound record that was not an envelope. */
typedef struct {
    char topic[256];
    int32_t partition;
    int64_t offset;
    char reason[160];
    int64_t at_us;
} partner_refusal_t;

/* What one turn of a partner thread settled, or a question about consent.
 *
 * Consent is master data, which only the core thread may read: a partner
 * whose agreement requires consent sends each DELIVER's master ids as a
 * question (HELD set), the core writes GRANTED from the golden records and
 * sends the report back (partner_answer), and only then is anything
 * produced. So consent is as of the moment of disclosure: one withdrawn
 * after an event was journaled stops it. */
typedef struct {
    const config_partner_t *partner; /* the configuration's, not owned */
    size_t link;                     /* which partner thread to answer */
    partner_disclosure_t *d;         /* settled deliveries: ACK these seqs */
    size_t nd, capd;
    uint64_t *seqs; /* the mirror's settled deliveries (no rows): ACK these too */
    size_t nseqs, capseqs;
    partner_refusal_t *r;
    size_t nr, capr;
    void *held; /* the question's DELIVER, the partner thread's; NULL: no question */
    char (*ids)[PARTNER_ID_MAX];
    bool *granted;
    size_t nq;
} partner_report_t;

/* Makes each partner's Curve key pair for its link to the hub, and binds the
 * public half to its adapter. Called by main before the configuration is
 * handed to the core (the only time it changes). 0, or -1 and ERR. */
int partner_make_keys(config_t *cfg, char *err, size_t errlen);

/* Starts a thread per partner, connecting to ENDPOINT (the router's loopback
 * endpoint for partners). NULL and ERR on failure. */
partner_t *partner_new(void *zmq_ctx, const config_t *cfg, const char *endpoint, char *err,
                       size_t errlen);
/* The PAIR socket the core polls for reports. */
void *partner_socket(partner_t *p);
/* The next report, or NULL when none is waiting; the caller owns it. */
partner_report_t *partner_receive(partner_t *p);
void partner_report_free(partner_report_t **r);
/* Sends a question back to its thread, answered; ownership goes with it. */
void partner_answer(partner_t *p, partner_report_t **r);
/* Stops the threads (each finishes its turn; what Kafka has not acknowledged
 * stays unsettled, and is sent again after a restart) and frees everything. */
void partner_destroy(partner_t **p);

#endif
