/* router.h - the hub's core thread (router.c). */
#ifndef JOINERY_ROUTER_H
#define JOINERY_ROUTER_H

#include "base/config.h"

/* Runs the hub until SIGTERM/SIGINT (SIGHUP reloads the configuration:
 * reload.h); 0 on a clean stop. CFG stays the caller's (core.h, core_t.cfg). */
int router_run(const config_t *cfg, const char *conninfo);

#endif
