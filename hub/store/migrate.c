/* migrate.c - numbered SQL migrations applied at hub start-up (contract in
 * migrate.h).
 *
 * The files in the SQL directory are read and checked first (names, gaps,
 * duplicates) so a broken install fails before touching the database. Each
 * migration then runs in its own transaction together with its row in
 * joinery_schema_version, under a transaction-scoped advisory lock: two hubs
 * starting at once serialise, and the second finds the work already done.
 * Migration files must not contain transaction control of their own. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "store/migrate.h"

#include "base/err.h"
#include "base/log.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef JOINERY_SQL_DIR
#define JOINERY_SQL_DIR "hub/store/sql"
#endif
#ifndef JOINERY_SQL_INSTALL_DIR
#define JOINERY_SQL_INSTALL_DIR "/usr/local/share/joinery/sql"
#endif

#define MIG_LOG "pg"
#define MIN_DIGITS 4
#define MAX_SQL_BYTES (64L * 1024 * 1024)
/* Any fixed key works; this one spells "JOIN" so it is recognisable in pg_locks. */
#define LOCK_SQL "SELECT pg_advisory_xact_lock(1246710094)"
#define TABLE_SQL                                                                                  \
    "CREATE TABLE IF NOT EXISTS joinery_schema_version ("                                          \
    " version integer PRIMARY KEY,"                                                                \
    " name text NOT NULL,"                                                                         \
    " applied_at timestamptz NOT NULL)"

typedef struct {
    int version;
    char *file; /* e.g. "0001_journal.sql"; owned */
} migration_t;

typedef struct {
    migration_t *items; /* owned, sorted by version */
    size_t count;
} migration_list_t;

/* libpq messages end in a newline, which would split our one-line errors. */
static const char *chomp(char *buf, size_t len, const char *msg)
{
    (void)snprintf(buf, len, "%s", msg != NULL ? msg : "");
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    return buf;
}

/* Reading the directory ---------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s);
    size_t m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* 1: a migration (version set), 0: not an .sql file, -1: a misnamed .sql file,
 * which is an error rather than silently skipped. */
static int parse_name(const char *name, int *version)
{
    if (!ends_with(name, ".sql"))
        return 0;
    long v = 0;
    size_t digits = 0;
    for (; name[digits] >= '0' && name[digits] <= '9'; digits++) {
        v = v * 10 + (name[digits] - '0');
        if (v > INT_MAX)
            return -1;
    }
    if (digits < MIN_DIGITS || name[digits] != '_' || strlen(name) <= digits + 1 + strlen(".sql"))
        return -1;
    *version = (int)v;
    return 1;
}

static void list_free(migration_list_t *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->items[i].file);
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

static int list_add(migration_list_t *list, int version, const char *file)
{
    migration_t *grown = realloc(list->items, (list->count + 1) * sizeof *grown);
    if (grown == NULL)
        return -1;
    list->items = grown;
    migration_t *m = &list->items[list->count];
    m->version = version;
    m->file = strdup(file);
    if (m->file == NULL)
        return -1;
    list->count++;
    return 0;
}

static int by_version(const void *a, const void *b)
{
    const migration_t *x = a;
    const migration_t *y = b;
    if (x->version != y->version)
        return x->version < y->version ? -1 : 1;
    return strcmp(x->file, y->file);
}

/* Versions must run 1, 2, 3...: a gap means a file went missing in packaging. */
static int check_sequence(const migration_list_t *list, char *err, size_t errlen)
{
    for (size_t i = 0; i < list->count; i++) {
        const migration_t *m = &list->items[i];
        if (i > 0 && m->version == list->items[i - 1].version)
            return err_set(err, errlen, "duplicate migration number %04d: %s and %s", m->version,
                           list->items[i - 1].file, m->file);
        if ((size_t)m->version != i + 1)
            return err_set(err, errlen, "gap in migration numbering: expected %04zu, found %s%s%s",
                           i + 1, m->file, i > 0 ? " after " : "",
                           i > 0 ? list->items[i - 1].file : "");
    }
    return 0;
}

static int list_load(const char *sql_dir, migration_list_t *list, char *err, size_t errlen)
{
    DIR *d = opendir(sql_dir);
    if (d == NULL)
        return err_set(err, errlen, "cannot open migration directory %s: %s", sql_dir,
                       strerror(errno));
    int rc = 0;
    const struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        int version = 0;
        int kind = parse_name(e->d_name, &version);
        if (kind < 0)
            rc = err_set(err, errlen, "%s/%s: migration files must be named NNNN_name.sql", sql_dir,
                         e->d_name);
        else if (kind > 0 && list_add(list, version, e->d_name) != 0)
            rc = err_set(err, errlen, "out of memory");
    }
    (void)closedir(d);
    if (rc == 0 && list->count > 0) {
        qsort(list->items, list->count, sizeof *list->items, by_version);
        rc = check_sequence(list, err, errlen);
    }
    if (rc != 0)
        list_free(list);
    return rc;
}

/* The whole file, NUL-terminated, malloc'd. */
static char *read_sql(const char *sql_dir, const char *file, char *err, size_t errlen)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%s", sql_dir, file);
    if (n < 0 || (size_t)n >= sizeof path) {
        err_set(err, errlen, "%s/%s: path too long", sql_dir, file);
        return NULL;
    }
    FILE *f = fopen(path, "re");
    struct stat st;
    if (f == NULL || fstat(fileno(f), &st) != 0 || st.st_size > MAX_SQL_BYTES) {
        err_set(err, errlen, "cannot read %s: %s", path,
                f ? "too large or unreadable" : strerror(errno));
        if (f != NULL)
            (void)fclose(f);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    char *sql = malloc(size + 1);
    size_t got = sql != NULL ? fread(sql, 1, size, f) : 0;
    (void)fclose(f);
    if (sql == NULL || got != size || memchr(sql, '\0', size) != NULL) {
        err_set(err, errlen, "cannot read %s: %s", path,
                sql == NULL ? "out of memory" : "short read or NUL byte");
        free(sql);
        return NULL;
    }
    sql[size] = '\0';
    return sql;
}

/* Talking to the database ----------------------------------------------- */

static int exec_sql(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    PQclear(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return 0;
    char msg[512];
    return err_set(err, errlen, "%s: %s", sql, chomp(msg, sizeof msg, PQerrorMessage(conn)));
}

static void rollback(PGconn *conn)
{
    PQclear(PQexec(conn, "ROLLBACK"));
}

/* Quiet notices ("already exists, skipping") and no statement timeout: an index
 * build in a migration may legitimately take long. */
static int begin_locked(PGconn *conn, char *err, size_t errlen)
{
    if (exec_sql(conn, "BEGIN", err, errlen) != 0)
        return -1;
    if (exec_sql(conn, "SET LOCAL client_min_messages = warning", err, errlen) != 0 ||
        exec_sql(conn, "SET LOCAL statement_timeout = 0", err, errlen) != 0 ||
        exec_sql(conn, LOCK_SQL, err, errlen) != 0) {
        rollback(conn);
        return -1;
    }
    return 0;
}

static int query_version(PGconn *conn, int *version, char *err, size_t errlen)
{
    PGresult *res = PQexec(conn, "SELECT coalesce(max(version), 0) FROM joinery_schema_version");
    int rc = 0;
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        char msg[512];
        rc = err_set(err, errlen, "cannot read the schema version: %s",
                     chomp(msg, sizeof msg, PQerrorMessage(conn)));
    } else {
        char *end = NULL;
        long v = strtol(PQgetvalue(res, 0, 0), &end, 10);
        if (*end != '\0' || v < 0 || v > INT_MAX)
            rc = err_set(err, errlen, "odd schema version \"%s\"", PQgetvalue(res, 0, 0));
        *version = (int)v;
    }
    PQclear(res);
    return rc;
}

/* Server positions count characters; the files are UTF-8. */
static long line_of(const char *sql, const char *position)
{
    if (position == NULL)
        return 0;
    long chars = strtol(position, NULL, 10);
    long line = 1;
    for (const char *p = sql; *p != '\0' && chars > 1; p++) {
        if (((unsigned char)*p & 0xC0) != 0x80)
            chars--;
        if (*p == '\n')
            line++;
    }
    return line;
}

static int run_migration_sql(PGconn *conn, const char *sql, const char *file, char *err,
                             size_t errlen)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
        char msg[512];
        const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        long line = line_of(sql, PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION));
        char where[32] = "";
        if (line > 0)
            (void)snprintf(where, sizeof where, " at line %ld", line);
        rc =
            err_set(err, errlen, "migration %s failed%s: %s (SQLSTATE %s); rolled back", file,
                    where, chomp(msg, sizeof msg, primary != NULL ? primary : PQerrorMessage(conn)),
                    state != NULL ? state : "?");
    }
    PQclear(res);
    return rc;
}

static int record_version(PGconn *conn, const migration_t *m, char *err, size_t errlen)
{
    char version[16];
    (void)snprintf(version, sizeof version, "%d", m->version);
    const char *params[2] = {version, m->file};
    PGresult *res = PQexecParams(conn,
                                 "INSERT INTO joinery_schema_version(version, name, applied_at) "
                                 "VALUES ($1, $2, now())",
                                 2, NULL, params, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        char msg[512];
        rc = err_set(err, errlen, "cannot record migration %s: %s", m->file,
                     chomp(msg, sizeof msg, PQerrorMessage(conn)));
    }
    PQclear(res);
    return rc;
}

/* One migration, one transaction. Re-reads the version under the lock: a hub
 * that started alongside us may have applied it meanwhile. */
static int apply_one(PGconn *conn, const char *sql_dir, const migration_t *m, char *err,
                     size_t errlen)
{
    char *sql = read_sql(sql_dir, m->file, err, errlen);
    if (sql == NULL)
        return -1;
    int now = 0;
    int rc = begin_locked(conn, err, errlen);
    if (rc == 0)
        rc = query_version(conn, &now, err, errlen);
    bool needed = rc == 0 && now < m->version;
    if (needed && now != m->version - 1)
        rc = err_set(err, errlen, "schema is at version %d, cannot apply %s", now, m->file);
    if (needed && rc == 0)
        rc = run_migration_sql(conn, sql, m->file, err, errlen);
    if (needed && rc == 0)
        rc = record_version(conn, m, err, errlen);
    free(sql);
    if (rc != 0) {
        if (PQtransactionStatus(conn) != PQTRANS_IDLE)
            rollback(conn);
        return -1;
    }
    if (exec_sql(conn, "COMMIT", err, errlen) != 0) {
        char msg[512];
        return err_set(err, errlen, "migration %s failed at commit: %s", m->file,
                       chomp(msg, sizeof msg, PQerrorMessage(conn)));
    }
    if (needed)
        log_info(MIG_LOG, "applied migration %s", m->file);
    return 0;
}

/* Creates the version table if needed and returns the current version. */
static int prepare_table(PGconn *conn, int *version, char *err, size_t errlen)
{
    if (begin_locked(conn, err, errlen) != 0)
        return -1;
    if (exec_sql(conn, TABLE_SQL, err, errlen) != 0 ||
        query_version(conn, version, err, errlen) != 0) {
        rollback(conn);
        return -1;
    }
    return exec_sql(conn, "COMMIT", err, errlen);
}

static int check_connection(PGconn *conn, char *err, size_t errlen)
{
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
        return err_set(err, errlen, "migrate: no database connection");
    if (PQtransactionStatus(conn) != PQTRANS_IDLE)
        return err_set(err, errlen, "migrate: the connection is inside a transaction");
    return 0;
}

/* Public API ------------------------------------------------------------- */

int migrate_apply(PGconn *conn, const char *sql_dir, char *err, size_t errlen)
{
    if (check_connection(conn, err, errlen) != 0)
        return -1;
    if (sql_dir == NULL)
        return err_set(err, errlen, "migrate: no migration directory");
    migration_list_t list = {NULL, 0};
    if (list_load(sql_dir, &list, err, errlen) != 0)
        return -1;
    int known = (int)list.count; /* the sequence check makes count the top version */
    int current = 0;
    int rc = prepare_table(conn, &current, err, errlen);
    if (rc == 0 && current > known)
        rc = err_set(err, errlen,
                     "database schema is version %d but this hub knows only up to %d: "
                     "upgrade the hub (refusing to start)",
                     current, known);
    for (size_t i = 0; rc == 0 && i < list.count; i++)
        if (list.items[i].version > current)
            rc = apply_one(conn, sql_dir, &list.items[i], err, errlen);
    list_free(&list);
    if (rc != 0)
        return -1;
    return migrate_current(conn, err, errlen);
}

int migrate_current(PGconn *conn, char *err, size_t errlen)
{
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
        return err_set(err, errlen, "migrate: no database connection");
    PGresult *res = PQexec(conn, "SELECT to_regclass('joinery_schema_version') IS NOT NULL");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        char msg[512];
        err_set(err, errlen, "cannot look for joinery_schema_version: %s",
                chomp(msg, sizeof msg, PQerrorMessage(conn)));
        PQclear(res);
        return -1;
    }
    bool exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    int version = 0;
    if (exists && query_version(conn, &version, err, errlen) != 0)
        return -1;
    return version;
}

const char *migrate_default_dir(void)
{
    const char *env = getenv("JOINERY_SQL_DIR");
    if (env != NULL && env[0] != '\0')
        return env;
    struct stat st;
    if (stat(JOINERY_SQL_DIR, &st) == 0 && S_ISDIR(st.st_mode))
        return JOINERY_SQL_DIR;
    return JOINERY_SQL_INSTALL_DIR;
}
