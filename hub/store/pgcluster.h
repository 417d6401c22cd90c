/* pgcluster.h - the private PostgreSQL cluster the hub starts when no database
 * is configured: initdb + pg_ctl under DATA_DIR/pg, listening only on a Unix
 * socket inside that directory. A real database with no admin work. */
#ifndef JOINERY_PGCLUSTER_H
#define JOINERY_PGCLUSTER_H

#include <stddef.h>

typedef struct pgcluster pgcluster_t;

/* Start (initdb on first use) a cluster in DIR (created if missing), using
 * binaries from BINDIR (NULL: search PATH, then /usr/lib/postgresql/<newest>/bin).
 * When running as root, initdb refuses to run, so the cluster is owned by and
 * run as the unprivileged "postgres" user (or "nobody"), and this is logged.
 * A cluster already running in DIR (e.g. after the hub was killed) is reused.
 * Returns NULL with a message in err on failure. */
pgcluster_t *pgcluster_start(const char *dir, const char *bindir, char *err, size_t errlen);
/* libpq conninfo for the cluster: "host=DIR/run dbname=joinery user=joinery". Owned by pc. */
const char *pgcluster_conninfo(const pgcluster_t *pc);
/* pg_ctl stop -m fast; frees pc and nulls the pointer. */
int pgcluster_stop(pgcluster_t **pc, char *err, size_t errlen);
/* Frees without stopping the server (for a process that only borrowed it). */
void pgcluster_destroy(pgcluster_t **pc);

#endif
