/* health_fhir.h - joinery-health's FHIR endpoint: a trust's UK Core Patient in by HTTP, the
 * golden record out (docs/adapters.md section 6, "Running the FHIR endpoint").
 *
 *   POST /Patient, PUT /Patient/{id}   read (fhir_patient_read), published as person.updated;
 *                                      201 / 200 only once the hub has confirmed it
 *   GET /Patient/{id}                  {id}: the trust's id or the master id
 *   GET /Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|{nhs}   a searchset Bundle
 *   GET /metadata                      the CapabilityStatement
 *
 * GETs answer from the local view (health_view), which the adapter keeps from its own durable
 * subscription "fhir-view" to person.changed and person.merged, and from what the trust sent and
 * the hub confirmed. Configuration (section "fhir", optional: no section, no endpoint):
 *
 *   fhir:
 *     listen: "127.0.0.1:8080"
 *     data_dir: /var/lib/joinery-health/fhir   # required: the view, one file per record
 *     local_system: https://fhir.rr8.nhs.uk/Id/local-patient-identifier  # the trust's ids
 *     base_url: https://joinery.example/fhir   # optional: Location and fullUrl
 *     max_body_bytes: 1048576
 *     answer_timeout_ms: 30000                 # no CONFIRM by then: 503 with Retry-After
 *     max_waiting: 256                         # requests waiting for the hub at once */
#ifndef JOINERY_HEALTH_FHIR_H
#define JOINERY_HEALTH_FHIR_H

#include <stddef.h>

#include <joinery/joinery.h>

#include "common/adapter_config.h"

typedef struct {
    const char *listen; /* NULL: the section is absent and there is no endpoint */
    const char *data_dir;
    const char *local_system;
    const char *base_url;
    size_t max_body;
    unsigned answer_timeout_ms;
    size_t max_waiting;
} health_fhir_opts_t;

typedef struct health_fhir health_fhir_t;

/* Reads the "fhir" section of CFG into O (O->listen NULL when there is none); -1 and ERR when it
 * is wrong. */
int health_fhir_settings(const adapter_config_t *cfg, health_fhir_opts_t *o, char *err,
                         size_t errlen);

/* Opens the view, subscribes through C (borrowed) and listens. NULL and ERR on failure. */
health_fhir_t *health_fhir_new(const health_fhir_opts_t *o, joinery_client_t *c, char *err,
                               size_t errlen);
/* Requests still waiting get 503; then the view is closed. Call after joinery_close. */
void health_fhir_destroy(health_fhir_t **f);

/* Events the SDK may have unconfirmed at once for the endpoint (0 when O has none). */
size_t health_fhir_max_events(const health_fhir_opts_t *o);

/* Everything below takes F NULL and does nothing then. */
int health_fhir_port(const health_fhir_t *f);
/* The descriptor to poll for POLLIN (-1: none). */
int health_fhir_fd(const health_fhir_t *f);
/* How long the loop may wait at most (-1: no limit): 0 while the server has work due now. */
int health_fhir_timeout_ms(const health_fhir_t *f);
/* The server's work: call after every poll. */
void health_fhir_handle(health_fhir_t *f);
/* Answers what the hub has answered and what waited too long. Call after the SDK ran. */
void health_fhir_flush(health_fhir_t *f);

#endif
