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
/* Keeps refused bytes that never became an envelope (bad frames). */
void ingest_keep_refused(core_t *c, const char *adapter, const char *reason, const void *bytes,
                         size_t len);

#endif
