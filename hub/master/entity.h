/* entity.h - master data for the keyed entities: addresses and cases.
 *
 * A person is recognised by probabilistic matching (master.h); an address or
 * a case is not. Its identity is deterministic:
 *   - an address is its UPRN: one golden address per UPRN, whichever system
 *     sends it;
 *   - a case is the (system, local id) that first sent it, or the golden case
 *     an event names by master id; it is about one person, named by the
 *     sender's own id for them (resolved through the person engine's
 *     cross-reference) or by their person master id.
 * Each golden record has a master id ("A" or "C" + a ULID), a version, fields
 * with the system that supplied them, a history row per version and the
 * cross-reference (system, local id) -> master id. Field ownership and
 * survivorship follow master_data.address / master_data.case with the same
 * rules as persons: a non-owner's different value for an owned field is
 * refused (the rest of the event applies) and the sender is sent the owner's
 * value.
 *
 * Like the person engine, it decides on the core thread from memory only and
 * hands every row and derived event to a master_sink_t, so they commit in the
 * transaction of the event that caused them. See docs/master-data.md. */
#ifndef JOINERY_ENTITY_H
#define JOINERY_ENTITY_H

#include <libpq-fe.h>
#include <stddef.h>

#include "base/config.h"
#include "master/master.h"

typedef enum { ENTITY_ADDRESS = 0, ENTITY_CASE = 1, ENTITY_KINDS } entity_kind_t;

typedef struct entity entity_t;

/* Is PATH a field of KIND a master_data rule may name? */
int entity_field_known(entity_kind_t kind, const char *path);
/* Does the engine handle events of this type? (address.updated,
 * address.created, case.updated, case.created) */
int entity_handles(const char *type, size_t len);

/* CFG must outlive the engine. NULL with a message on failure. */
entity_t *entity_new(const config_t *cfg, char *err, size_t errlen);
void entity_destroy(entity_t **e);
/* Empties the engine and loads the golden addresses and cases with their
 * cross-references from the tables (0006_entities.sql), in one snapshot.
 * Also how the engine recovers after a commit of its rows failed (see
 * master_load). On failure the engine refuses every event until a later
 * load succeeds. */
int entity_load(entity_t *e, PGconn *conn, char *err, size_t errlen);

/* Applies one address or case event. PERSONS resolves a case's person (it is
 * only read). EV->master_id may name the golden case an event is about. As
 * master_apply: -1 on an internal failure (sink refused) with nothing
 * changed; otherwise RES says APPLIED or REFUSED (WHY says what to fix). */
int entity_apply(entity_t *e, const master_t *persons, const master_event_t *ev,
                 master_sink_t *sink, master_result_t *res, char *why, size_t why_len);

/* Golden records of KIND. */
size_t entity_count(const entity_t *e, entity_kind_t kind);
/* The golden record SYSTEM's LOCAL_ID of KIND is linked to, copied to
 * MASTER_ID; NULL if unknown, else "MATCH". */
const char *entity_lookup(const entity_t *e, entity_kind_t kind, const char *system,
                          const char *local_id, char master_id[MASTER_ID_MAX]);
/* Field FIELD of MASTER_ID (an address or a case; "uprn" gives an address's
 * UPRN, with *source ""), or NULL; *source (may be NULL) gets the supplying
 * system. Valid until the next apply or load. */
const char *entity_value(const entity_t *e, const char *master_id, const char *field,
                         const char **source);
/* Replaces the id generator (tests), as master_set_id_generator. */
void entity_set_id_generator(entity_t *e, master_id_fn fn, void *ctx);
/* The whole state as canonical sorted text, one fact per line (tests compare
 * it across a reload). *OUT is malloc'd; the caller frees it. */
int entity_dump(const entity_t *e, char **out, size_t *len);

#endif
