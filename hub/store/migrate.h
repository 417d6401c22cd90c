/* migrate.h - numbered SQL migrations (hub/store/sql/NNNN_name.sql) applied at
 * start-up, each inside one transaction together with its row in
 * joinery_schema_version. A database whose schema is newer than any migration
 * this hub knows is refused: an older hub must not write to a newer schema. */
#ifndef JOINERY_MIGRATE_H
#define JOINERY_MIGRATE_H

#include <libpq-fe.h>
#include <stddef.h>

/* Apply every migration in SQL_DIR newer than the database's version.
 * Serialised against other hubs with an advisory lock. Returns the resulting
 * version (>= 0), or -1 with a message in err. */
int migrate_apply(PGconn *conn, const char *sql_dir, char *err, size_t errlen);
/* The database's current schema version (0 for an empty database), -1 on error. */
int migrate_current(PGconn *conn, char *err, size_t errlen);
/* The directory holding the migrations: $JOINERY_SQL_DIR if set, else the
 * source tree's hub/store/sql if present (a build-tree run), else the installed one. */
const char *migrate_default_dir(void);

#endif
