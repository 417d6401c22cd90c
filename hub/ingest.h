/* ingest.h - PUBLISH: each envelope checked, de-duplicated and added to the
 * pending group commit; CONFIRMs when the commit comes back (see ingest.c). */
#ifndef JOINERY_INGEST_H
#define JOINERY_INGEST_H

#include "core.h"

void ingest_publish(core_t *c, session_t *s, const uint8_t *body, size_t len);
/* A commit came back: B is the batch the store wrote, OWED what the core kept
 * of it while it was away (emptied here). */
void ingest_committed(core_t *c, jbatch_t *b, owed_list_t *owed);
void ingest_failed(core_t *c, jbatch_t *b, owed_list_t *owed);
/* Keeps refused bytes that never became an envelope (bad frames), within the
 * day's quota (config refusals:). ADAPTER is the sender's configured name, or
 * "" before HELLO; any other name is taken for a claim, and kept as text in
 * the reason. Nothing of what it is given needs to be valid text. */
void ingest_keep_refused(core_t *c, const char *adapter, const char *reason, const void *bytes,
                         size_t len);
/* Once a turn: logs refusals not kept for the quota (once a minute at most),
 * and every refusals.expire_every_s hands the store the job that expires old
 * refusals. Never waits. */
void ingest_tick(core_t *c);
/* A job came back from the store: true if it was ingest_tick's (now done
 * with and freed), false if it is someone else's. */
bool ingest_job_done(core_t *c, store_job_t *job);

#endif
