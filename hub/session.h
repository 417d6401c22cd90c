/* session.h - adapter sessions: who is connected, on which ZeroMQ routing id,
 * under which configured adapter; heartbeats and expiry. The table itself is
 * the core's (core.h: core_session, core_session_find). A session's
 * subscriptions are deliver.c's: whoever closes a session releases them first
 * (deliver_session_closed), as the router does. */
#ifndef JOINERY_SESSION_H
#define JOINERY_SESSION_H

#include "core.h"

/* A session for ADAPTER on RID, or NULL if the table is full (or RID too
 * long). RID must not have a session already: close that one first. */
session_t *session_open(core_t *c, const uint8_t *rid, size_t rid_len,
                        const config_adapter_t *adapter);
/* Sends its gathered CONFIRMs and frees the slot. */
void session_close(core_t *c, session_t *s, const char *why);
/* The next open session, from *POS on, that has been silent for
 * heartbeat_misses intervals; NULL when there are no more. */
session_t *session_next_expired(core_t *c, size_t *pos);
/* A HEARTBEAT to every open session. */
void session_heartbeat(core_t *c);

#endif
