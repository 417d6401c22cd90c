/* admin_steward.h - the steward's reads for the admin API, on the admin
 * thread's read-only connection: the steward queue with scores and the
 * per-field evidence, and a bounded search of golden person records. (A
 * golden record with its local ids and history is admin_trace_golden.) NHS
 * numbers are shown with all but their last three digits masked, as the
 * CLI does. */
#ifndef JOINERY_ADMIN_STEWARD_H
#define JOINERY_ADMIN_STEWARD_H

#include <jansson.h>
#include <libpq-fe.h>

#define STEWARD_LIMIT_DEFAULT 100
#define STEWARD_LIMIT_MAX 1000
#define GOLDEN_LIMIT_DEFAULT 20
#define GOLDEN_LIMIT_MAX 100
#define GOLDEN_TERM_MAX 128 /* bytes of one search term */

/* STATE: OPEN, LINKED, KEPT_APART, MERGED or ALL (checked by the caller).
 * {"items": [...], "next_after": id or null}, or NULL with ERR. */
json_t *admin_steward_queue(PGconn *c, const char *state, long long after, int limit, char *err,
                            size_t errlen);

typedef struct {
    const char *name, *birth_date, *postcode, *nhs_number; /* "" for any; one at least set */
    int limit;
} admin_golden_search_t;

/* {"records": [...], "truncated": bool}, or NULL with ERR. */
json_t *admin_golden_search(PGconn *c, const admin_golden_search_t *q, char *err, size_t errlen);

#endif
