/* sc_discharge.h - a hospital discharge of a person with an open social-care case becomes a task
 * for the social-care team: case.discharge_notified.
 *
 * The adapter keeps which golden persons have an open case, and under which of the case
 * system's case ids: from what the hub confirmed of its own people (the case system's person id
 * and the golden id the CONFIRM names) and cases (open or on hold, closed or transferred), and
 * from case.changed for cases other systems hold. It keeps them in memory and in a small
 * append-only file, DATA_DIR/socialcare-cases, replayed and compacted at start, so a restart
 * keeps them. One open case per person: the latest opened is the one a discharge goes to.
 *
 * It subscribes to health.discharge and case.changed. A discharge names its person by the
 * envelope's master_id when the hub set one, else by the Discharge's encounter.person_master_id.
 * For a person with an open case it publishes case.discharge_notified: the Discharge payload as
 * it came, source_record_id the case id, attributes case_id, person_master_id and
 * discharge_event_id; and it acknowledges the discharge only once the hub has CONFIRMED that
 * (JOINERY_DEFER, then joinery_settle). With an outbound section (sc_outbound) the confirmed task
 * is also POSTed to the case system's /tasks (sc_outmap_task: task_id the task's event id, the
 * case, social care's id for the person when known), and the discharge is settled only by the
 * case system's answer: 2xx ACK, a final 4xx REJECT with its reason, tries exhausted RETRY. A
 * task the hub refuses dead-letters the discharge with the hub's reason, unposted. A discharge
 * of anyone else is acknowledged at once.
 *
 * Memory is fixed at creation: the three tables, the pool of deferred deliveries (as many as the
 * subscription's credit), and a buffer payloads are decoded into. Not thread-safe. */
#ifndef JOINERY_SC_DISCHARGE_H
#define JOINERY_SC_DISCHARGE_H

#include <stddef.h>

#include <joinery/joinery.h>

#include "common/adapter_config.h"
#include "sc_outbound.h"

#define SC_DISCHARGE_SUBSCRIPTION "socialcare-discharge"

typedef struct {
    const char *data_dir; /* NULL: no discharge section, nothing subscribed */
    size_t max_people;    /* persons (and open cases) kept */
    unsigned credit;      /* discharges waiting for their task's CONFIRM at once */
} sc_discharge_opts_t;

typedef struct sc_discharge sc_discharge_t;

/* Reads the discharge section of CFG into O; -1 and ERR when wrong. */
int sc_discharge_settings(const adapter_config_t *cfg, sc_discharge_opts_t *o, char *err,
                          size_t errlen);

/* Loads (and compacts) DATA_DIR/socialcare-cases. C and OUT are borrowed; OUT (NULL: no
 * outbound section) is where the tasks are POSTed, and must be destroyed before the result (its
 * stopped callbacks reach the result's slots). NULL and ERR when the file cannot be read or
 * written, or holds more persons than max_people. */
sc_discharge_t *sc_discharge_new(const sc_discharge_opts_t *o, joinery_client_t *c,
                                 sc_outbound_t *out, char *err, size_t errlen);
void sc_discharge_destroy(sc_discharge_t **d);

/* Opens the subscription: 0, or -1 and ERR when the hub refused it. */
int sc_discharge_subscribe(sc_discharge_t *d, char *err, size_t errlen);

/* The hub confirmed the case system's person LOCAL_ID as golden person MASTER_ID. */
void sc_discharge_person(sc_discharge_t *d, const char *local_id, const char *master_id);
/* The hub confirmed case CASE_ID of person PERSON_LOCAL_ID, OPEN (1) or closed (0). */
void sc_discharge_case(sc_discharge_t *d, const char *person_local_id, const char *case_id,
                       int open);

/* POSTs the tasks the hub has confirmed (with an outbound section) and settles the discharges
 * whose task is answered. Call after the SDK and the HTTP client ran. */
void sc_discharge_flush(sc_discharge_t *d);
/* Open cases known; discharges waiting for their task's CONFIRM. */
size_t sc_discharge_open_cases(const sc_discharge_t *d);
size_t sc_discharge_waiting(const sc_discharge_t *d);

#endif
