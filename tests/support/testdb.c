/* testdb.c - see testdb.h. Talks to the fixture cluster's "postgres" database
 * to recreate the test's own database; the conninfo shape matches what
 * pg-start.sh writes to $JOINERY_TEST_PGDIR/conninfo. */
#include "testdb.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 63

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        (void)vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Plain lower-case names need no quoting as identifiers or conninfo values. */
static bool name_ok(const char *name)
{
    size_t n = name != NULL ? strlen(name) : 0;
    if (n == 0 || n > NAME_MAX_LEN || (name[0] >= '0' && name[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
              name[i] == '_'))
            return false;
    return true;
}

static char *conninfo_for(const char *pgdir, const char *dbname)
{
    const char *fmt = "host=%s/run dbname=%s user=joinery";
    int n = snprintf(NULL, 0, fmt, pgdir, dbname);
    char *s = n > 0 ? malloc((size_t)n + 1) : NULL;
    if (s != NULL)
        (void)snprintf(s, (size_t)n + 1, fmt, pgdir, dbname);
    return s;
}

static int exec_admin(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *res = PQexec(conn, sql);
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK
                 ? 0
                 : fail(err, errlen, "%s: %s", sql, PQerrorMessage(conn));
    PQclear(res);
    return rc;
}

static int recreate(PGconn *conn, const char *name, char *err, size_t errlen)
{
    char sql[160];
    /* FORCE ends sessions a crashed earlier run left open on the database. */
    (void)snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    if (exec_admin(conn, "SET client_min_messages = warning", err, errlen) != 0 ||
        exec_admin(conn, sql, err, errlen) != 0)
        return -1;
    (void)snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    return exec_admin(conn, sql, err, errlen);
}

char *testdb_fresh(const char *name, char *err, size_t errlen)
{
    const char *pgdir = getenv("JOINERY_TEST_PGDIR");
    if (pgdir == NULL || pgdir[0] == '\0') {
        fail(err, errlen,
             "JOINERY_TEST_PGDIR is not set: run under ctest, or start a cluster "
             "with tests/support/pg-start.sh DIR and export JOINERY_TEST_PGDIR=DIR");
        return NULL;
    }
    if (!name_ok(name)) {
        fail(err, errlen, "test database name must match [a-z_][a-z0-9_]*: %s",
             name != NULL ? name : "(null)");
        return NULL;
    }
    char *admin = conninfo_for(pgdir, "postgres");
    char *result = conninfo_for(pgdir, name);
    if (admin == NULL || result == NULL) {
        fail(err, errlen, "out of memory");
        free(admin);
        free(result);
        return NULL;
    }
    PGconn *conn = PQconnectdb(admin);
    int rc = PQstatus(conn) == CONNECTION_OK
                 ? recreate(conn, name, err, errlen)
                 : fail(err, errlen, "cannot connect to the test cluster (%s): %s", admin,
                        PQerrorMessage(conn));
    PQfinish(conn);
    free(admin);
    if (rc != 0) {
        free(result);
        return NULL;
    }
    return result;
}

PGconn *testdb_connect(const char *conninfo)
{
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "testdb_connect(%s): %s", conninfo, PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

long testdb_count(PGconn *conn, const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    long n = -1;
    char *end = NULL;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQnfields(r) == 1)
        n = strtol(PQgetvalue(r, 0, 0), &end, 10);
    if (n < 0 || end == NULL || *end != '\0') {
        fprintf(stderr, "testdb_count: %s: %s\n", sql, PQerrorMessage(conn));
        n = -1;
    }
    PQclear(r);
    return n;
}
