/* admin_metrics.h - the Prometheus text exposition format (version 0.0.4),
 * written into a growing buffer: HELP and TYPE once per family, then its
 * samples, label values escaped. Used on the core thread for what it counts
 * and on the admin thread for what it reads from the database; neither
 * allocates per event (this runs once per scrape). */
#ifndef JOINERY_ADMIN_METRICS_H
#define JOINERY_ADMIN_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *data; /* NUL-terminated; owned, freed by metrics_free */
    size_t len, cap;
    int failed; /* an allocation failed: the text is incomplete */
} metrics_t;

/* "# HELP NAME HELP" and "# TYPE NAME TYPE" (TYPE: counter, gauge, histogram). */
void metrics_family(metrics_t *m, const char *name, const char *type, const char *help);
/* One sample: NAME{K1="V1",...} VALUE. LABELS holds NLABELS key/value pairs
 * (2 * NLABELS strings); values are escaped as the format requires. */
void metrics_sample(metrics_t *m, const char *name, const char *const *labels, size_t nlabels,
                    double value);
/* A histogram's samples: NAME_bucket{...,le="B"} cumulative for each of the
 * NBOUNDS bounds and +Inf (COUNTS has NBOUNDS + 1 entries, not cumulative),
 * NAME_sum and NAME_count. */
void metrics_histogram(metrics_t *m, const char *name, const char *const *labels, size_t nlabels,
                       const double *bounds, size_t nbounds, const uint64_t *counts, double sum);
/* Appends raw text (another writer's output). */
void metrics_append(metrics_t *m, const char *text, size_t len);
void metrics_free(metrics_t *m);

#endif
