/* health_view.h - the trust's local view of the golden records, for FHIR reads.
 *
 * Per golden record: what the trust has been told of it (the changed fields of every
 * person.changed merged into one Person, the version the hub gave, the trust's own id for it)
 * and what the trust itself sent and the hub confirmed. A GET answers from here, never from the
 * hub: the trust reads what it is entitled to, and reads keep working while the hub is away.
 *
 * Kept in DIR as one file per record (MASTER_ID.pb), each written whole to a temporary file,
 * fsync'd and renamed over the old one, so a crash leaves the old or the new record, never
 * half of one; DIR is read back at open. In memory the records are indexed by master id, by the
 * trust's local id and by NHS number.
 *
 * Ownership: the view owns every record; the pointers health_view_find hands out are valid until
 * the next call that changes the view. Not thread-safe. */
#ifndef JOINERY_HEALTH_VIEW_H
#define JOINERY_HEALTH_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "joinery/v1/person.pb-c.h"

typedef struct health_view health_view_t;

typedef struct {
    const char *master_id;
    const char *local_id; /* "" when the hub has not named one for this trust */
    uint64_t version;     /* the version of the last person.changed; 0 before the first */
    const Joinery__V1__Person *person;
} health_view_rec_t;

/* Opens DIR (created if missing) and reads every record in it. NULL and ERR when DIR cannot be
 * made or a record in it cannot be read (the file is named). */
health_view_t *health_view_open(const char *dir, char *err, size_t errlen);
void health_view_destroy(health_view_t **v);

size_t health_view_count(const health_view_t *v);

/* A person.changed: its changed fields (PC->changed_fields, paths as docs/master-data.md names
 * them) taken from PC->person, its version and local id. Written to disk before it returns 0;
 * -1 and ERR otherwise (the event should then be delivered again). */
int health_view_apply_changed(health_view_t *v, const Joinery__V1__PersonChanged *pc, char *err,
                              size_t errlen);
/* A person.merged: the retired record is dropped (its ids are found no more); the survivor
 * takes the survivor local id when one is given. */
int health_view_apply_merged(health_view_t *v, const Joinery__V1__PersonMerged *pm, char *err,
                             size_t errlen);
/* What the trust itself sent as LOCAL_ID and the hub confirmed for MASTER_ID: every field P has
 * replaces the view's; the version stays. */
int health_view_apply_own(health_view_t *v, const char *master_id, const char *local_id,
                          const Joinery__V1__Person *p, char *err, size_t errlen);

/* The record whose trust id is ID, else the one whose master id is ID; NULL when none. */
const health_view_rec_t *health_view_find(const health_view_t *v, const char *id);
/* The record with NHS number NHS (10 digits); NULL when none. */
const health_view_rec_t *health_view_find_nhs(const health_view_t *v, const char *nhs);

#endif
