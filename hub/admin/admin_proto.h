/* admin_proto.h - the messages between the admin thread (admin_server.c) and
 * the core thread (admin_core.c), over one inproc PAIR socket the core binds
 * and polls.
 *
 *   admin -> core  [request id, 8 bytes][verb][arguments: JSON, may be empty]
 *   core -> admin  [request id][HTTP status, 3 digits][body]
 *
 * One request is outstanding at a time (the admin thread waits for its
 * answer); an answer whose id is not the one awaited (it came after the
 * admin gave up) is dropped. Verbs and their bodies: */
#ifndef JOINERY_ADMIN_PROTO_H
#define JOINERY_ADMIN_PROTO_H

#define ADMIN_INPROC "inproc://joinery-admin"

#define ADMIN_VERB_STATUS "status"                  /* -> {database_up, database_state, head_seq} */
#define ADMIN_VERB_ADAPTERS "adapters"              /* -> [adapter] */
#define ADMIN_VERB_SUBSCRIPTIONS "subscriptions"    /* -> [subscription] */
#define ADMIN_VERB_METRICS "metrics"                /* -> Prometheus text */
#define ADMIN_VERB_REPLAY "replay"                  /* {ids, who} -> {replayed, not_replayed} */
#define ADMIN_VERB_DISCARD "discard"                /* {id, who, reason} -> {discarded} */
#define ADMIN_VERB_DELETE_SUB "delete-subscription" /* {adapter, name} -> {deleted} */
/* {action, master_id_a, master_id_b, queue_id, reason, who} -> 202 {event_id, source}: taken
 * to be journaled (the engine's answer is read back from the database by the admin thread),
 * or 409/503 with the reason the core refused it at once. */
#define ADMIN_VERB_STEWARD "steward"
/* {who, config: a config_t * in hex, the admin thread's load of the file, which the core takes}
 * or {who, error: why the file did not load} -> 200 {applied: true, changes} or 422 {applied:
 * false, errors, error} (hub/reload.h). */
#define ADMIN_VERB_RELOAD "reload"

#define ADMIN_MAX_REPLAY 1000 /* ids in one replay request */

#endif
