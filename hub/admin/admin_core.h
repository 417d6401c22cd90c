/* admin_core.h - the core thread's end of the admin API: answers the admin
 * thread's requests (admin_proto.h) from the state the core keeps anyway, and
 * carries out replay, discard and delete-subscription as store jobs, so
 * delivery stays exactly as the core decides it. Called by the router only. */
#ifndef JOINERY_ADMIN_CORE_H
#define JOINERY_ADMIN_CORE_H

#include "core.h"

#include <stdbool.h>

/* Binds the core's inproc socket (c->admin) on c->ctx. 0, or -1 with ERR. */
int admin_core_open(core_t *c, char *err, size_t errlen);
/* The admin socket polled readable: answers what is waiting. */
void admin_core_request(core_t *c);
/* Once a turn: records settled replays (a store job), samples the rates
 * once a second. Costs a flag test otherwise. */
void admin_core_tick(core_t *c);
/* A store job came back: true if it was one of the admin's (then handled and freed). */
bool admin_core_job_done(core_t *c, store_job_t *job);
/* A group commit came back: its latency and size into the histograms. */
void admin_core_commit_observed(core_t *c, int64_t latency_us, size_t events);
void admin_core_close(core_t *c);

#endif
