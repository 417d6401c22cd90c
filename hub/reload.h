/* reload.h - reloading the configuration while the hub runs (SIGHUP, POST /api/v1/reload,
 * `joinery reload`; docs/operations.md "Reloading the configuration"). Everything here runs on
 * the core thread, between two turns, so what a turn reads of the configuration never changes
 * under it and nothing takes a lock. Called by the router (SIGHUP) and admin_core.c (the API). */
#ifndef JOINERY_RELOAD_H
#define JOINERY_RELOAD_H

#include "core.h"

#include <jansson.h>

/* Loads c->cfg->path again and applies it, as reload_apply; WHO names the request in the log
 * ("SIGHUP"). The file is read and parsed here, on the core thread: a few milliseconds, no
 * database. */
void reload_from_file(core_t *c, const char *who);

/* Checks NEXT (taken: installed, or freed) fully, as start-up does, and against the running
 * configuration: if a part that cannot change while the hub runs differs, nothing is applied.
 * Otherwise installs it: adapters added, removed (their sessions closed with a GOODBYE saying
 * why) and changed (a new key closes the sessions made with the old one; narrowed subscribe
 * permissions close the sessions holding a subscription they no longer cover). Logs one line.
 * STARTED_US (core_now_us) is when the reload began, for the log line's "us on the core thread".
 * Returns the HTTP status, 200 applied or 422 refused, and in *ANSWER (the caller's) the body:
 * {"applied":true,"changes":{...}} or {"applied":false,"errors":[...],"error":"..."}. */
int reload_apply(core_t *c, config_t *next, const char *who, int64_t started_us, json_t **answer);

/* A reload refused before a configuration existed (the file did not load; ERR says why, with
 * its file and line): logged and answered as reload_apply's refusals are. */
int reload_refused(core_t *c, const char *who, const char *err, json_t **answer);

#endif
