/* cli_master_common.h - what the master-data commands of `joinery` share. The commands, one file
 * each, for data stewards and the data owner:
 *
 *   steward list | link | keep-apart | merge | unmerge   the steward queue and its decisions
 *                                                        (cli_steward.c)
 *   xref export                                          a cross-reference as CSV (persons,
 *                                                        addresses or cases; cli_xref.c)
 *   golden show                                          one golden person, address or case,
 *                                                        its ids and history (cli_golden.c)
 *   match train                                          Fellegi-Sunter m and u from local data
 *                                                        (cli_match.c)
 *
 * The reading commands query PostgreSQL directly: the tables are the durable truth and the hub
 * has no read API for them. The writing commands never touch the tables: the hub's in-memory
 * master-data engine owns those rows and would not see a change made behind its back, so each
 * decision goes through the hub as a steward.* event carrying a joinery.v1.StewardDecision. */
#ifndef JOINERY_CLI_MASTER_COMMON_H
#define JOINERY_CLI_MASTER_COMMON_H

#include <jansson.h>
#include <libpq-fe.h>

#include <stddef.h>

/* Helpers describe a failure here and return -1; the command's main prints it, once. */
typedef struct {
    char msg[1024];
} cm_err_t;

/* Sets e's message (without libpq's trailing newline) and returns -1. */
__attribute__((format(printf, 2, 3))) int cm_fail(cm_err_t *e, const char *fmt, ...);

/* A number in strtod's syntax with nothing after it: 0, or -1 for NULL, "" or junk. */
int cm_parse_double(const char *s, double *out);
/* UTC microseconds (the tables' clock) as "YYYY-MM-DD HH:MM:SS"; "" when absent or unreadable. */
const char *cm_fmt_time(const char *us_text, char *out, size_t len);

/* Connects for reading to the database --db DB names, else $JOINERY_DB, in one read-only
 * snapshot (a record, its cross-reference and its history then agree while the hub writes).
 * NULL after saying why on stderr as "joinery WHAT: ...", with *status CLI_USAGE when no
 * database is named and CLI_FAIL when it cannot be reached. */
PGconn *cm_db_connect(const char *what, const char *db, int *status);
/* Closes C and makes RC (0, or -1 with E's message) the command's exit status, saying why on
 * stderr as "joinery WHAT: ..." when it failed. */
int cm_db_close(const char *what, PGconn *c, int rc, const cm_err_t *e);
/* Runs a query with text parameters; its rows, or NULL with e set. */
PGresult *cm_db_rows(PGconn *c, const char *sql, int n, const char *const *params, cm_err_t *e);
/* A column's text, or NULL for SQL NULL. */
const char *cm_col(const PGresult *r, int row, int column);

/* JSON values from column text; SQL NULL (and for numbers, junk) becomes null. */
json_t *cm_jstr(const char *s);
json_t *cm_jint(const char *s);
json_t *cm_jreal(const char *s);
/* UTC microseconds as ISO 8601 ("2025-04-01T09:30:00Z"). */
json_t *cm_jtime(const char *us_text);
/* Sets o[key] = v; a NULL v (invalid UTF-8 or out of memory) makes it fail. */
int cm_jset(json_t *o, const char *key, json_t *v);
/* Prints v indented on stdout; frees it. */
int cm_json_print(json_t *v, cm_err_t *e);

#endif
