/* support_hubproc.h - a real joineryd for unit tests that drive it from outside (the SDK
 * against the hub): started on a fresh database of the throwaway cluster, in plaintext mode,
 * with the adapters a test gives, its log in a directory of its own; stopped with SIGTERM.
 * Tests using it mention JOINERY_NEEDS_PG so ctest starts the cluster first. */
#ifndef JOINERY_SUPPORT_HUBPROC_H
#define JOINERY_SUPPORT_HUBPROC_H

#include <libpq-fe.h>
#include <sys/types.h>

typedef struct {
    char dir[64];
    char log[128];
    char endpoint[64];
    char *conninfo; /* the hub's database */
    PGconn *db;     /* the test's own connection to it */
    pid_t hub;
} hubproc_t;

/* Starts joineryd on database NAME (made afresh) with ADAPTERS, the YAML of the "adapters:"
 * list. Returns 0 with *OUT set; 0 with *OUT NULL when JOINERY_BUILD_DIR has no joineryd (the
 * test skips); -1 on failure, said on stderr. */
int hubproc_start(hubproc_t **out, const char *name, const char *adapters);
/* SIGTERM, wait, remove the directory, free; *H becomes NULL. */
void hubproc_stop(hubproc_t **h);
/* Does the hub's log have a line containing WHAT? */
int hubproc_log_has(const hubproc_t *h, const char *what);

#endif
