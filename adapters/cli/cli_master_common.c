/* cli_master_common.c - what the master-data commands (steward, xref, golden, match) share:
 * the error they carry back to their main, the read-only connection to the hub's database, and
 * the small parsers, time formatting and JSON helpers their tables and --json output use. */
#include "cli_master_common.h"
#include "cli_common.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Errors --------------------------------------------------------------------------------- */

__attribute__((format(printf, 2, 3))) int cm_fail(cm_err_t *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    /* libpq's messages end in a newline; the caller adds its own. */
    size_t n = strlen(e->msg);
    while (n > 0 && (e->msg[n - 1] == '\n' || e->msg[n - 1] == ' ')) {
        e->msg[--n] = '\0';
    }
    return -1;
}

/* Small parsers and formatters ------------------------------------------------------------ */

static int parse_i64(const char *s, long long *out)
{
    if (s == NULL || *s == '\0') {
        return -1;
    }
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

int cm_parse_double(const char *s, double *out)
{
    if (s == NULL || *s == '\0') {
        return -1;
    }
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

/* UTC microseconds (the tables' clock) as "YYYY-MM-DD HH:MM:SS"; "" when absent or unreadable. */
const char *cm_fmt_time(const char *us_text, char *out, size_t len)
{
    long long us = 0;
    out[0] = '\0';
    if (parse_i64(us_text, &us) != 0) {
        return out;
    }
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    if (gmtime_r(&t, &tm) != NULL) {
        (void)strftime(out, len, "%Y-%m-%d %H:%M:%S", &tm);
    }
    return out;
}

/* Database --------------------------------------------------------------------------------- */

static const char *db_conninfo(const char *opt)
{
    if (opt != NULL && opt[0] != '\0') {
        return opt;
    }
    const char *env = getenv("JOINERY_DB");
    return env != NULL && env[0] != '\0' ? env : NULL;
}

/* Said when the read commands have neither --db nor $JOINERY_DB: a usage error. */
static const char NO_DB[] = "no database given: use --db CONNINFO or set JOINERY_DB (the hub's "
                            "database.conninfo, e.g. \"host=/run/postgresql dbname=joinery\")";

static int db_exec(PGconn *c, const char *sql, cm_err_t *e)
{
    PGresult *r = PQexecParams(c, sql, 0, NULL, NULL, NULL, NULL, 0);
    int ok = r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) {
        cm_fail(e, "database: %s", PQerrorMessage(c));
    }
    PQclear(r);
    return ok ? 0 : -1;
}

/* Connects for reading. Everything runs in one read-only snapshot: a record, its
 * cross-reference and its history then agree even while the hub writes, and a mistake in
 * this tool cannot write to tables the engine owns. */
static PGconn *db_open(const char *conninfo, cm_err_t *e)
{
    PGconn *c = PQconnectdb(conninfo);
    if (c == NULL) {
        cm_fail(e, "out of memory");
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        cm_fail(e, "cannot connect to the database: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    if (PQsetClientEncoding(c, "UTF8") != 0) {
        cm_fail(e, "database: cannot use UTF8: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    if (db_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", e) != 0) {
        PQfinish(c);
        return NULL;
    }
    return c;
}

PGconn *cm_db_connect(const char *what, const char *db, int *status)
{
    const char *conninfo = db_conninfo(db);
    if (conninfo == NULL) {
        fprintf(stderr, "joinery %s: %s\n", what, NO_DB);
        *status = CLI_USAGE;
        return NULL;
    }
    cm_err_t e = {""};
    PGconn *c = db_open(conninfo, &e);
    if (c == NULL) {
        fprintf(stderr, "joinery %s: %s\n", what, e.msg);
        *status = CLI_FAIL;
    }
    return c;
}

int cm_db_close(const char *what, PGconn *c, int rc, const cm_err_t *e)
{
    PQfinish(c);
    if (rc != 0) {
        fprintf(stderr, "joinery %s: %s\n", what, e->msg);
        return CLI_FAIL;
    }
    return CLI_OK;
}

PGresult *cm_db_rows(PGconn *c, const char *sql, int n, const char *const *params, cm_err_t *e)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK) {
        cm_fail(e, "database: %s", PQerrorMessage(c));
        PQclear(r);
        return NULL;
    }
    return r;
}

/* A column's text, or NULL for SQL NULL. */
const char *cm_col(const PGresult *r, int row, int column)
{
    return PQgetisnull(r, row, column) ? NULL : PQgetvalue(r, row, column);
}

/* JSON helpers ----------------------------------------------------------------------------- */

json_t *cm_jstr(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

json_t *cm_jint(const char *s)
{
    long long v = 0;
    return parse_i64(s, &v) == 0 ? json_integer((json_int_t)v) : json_null();
}

json_t *cm_jreal(const char *s)
{
    double v = 0;
    return cm_parse_double(s, &v) == 0 && isfinite(v) ? json_real(v) : json_null();
}

/* UTC microseconds as ISO 8601, for JSON readers that are people or spreadsheets. */
json_t *cm_jtime(const char *us_text)
{
    char when[32];
    cm_fmt_time(us_text, when, sizeof when);
    if (when[0] == '\0') {
        return json_null();
    }
    when[10] = 'T';
    char iso[40];
    (void)snprintf(iso, sizeof iso, "%sZ", when);
    return json_string(iso);
}

/* Sets o[key] = v; a NULL v (invalid UTF-8 or out of memory) makes it fail. */
int cm_jset(json_t *o, const char *key, json_t *v)
{
    return v == NULL ? -1 : json_object_set_new(o, key, v);
}

/* Prints v indented on stdout; frees it. */
int cm_json_print(json_t *v, cm_err_t *e)
{
    char *s = v != NULL ? json_dumps(v, JSON_INDENT(2)) : NULL;
    json_decref(v);
    if (s == NULL) {
        return cm_fail(e, "cannot render JSON");
    }
    puts(s);
    free(s);
    return 0;
}
