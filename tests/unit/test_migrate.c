/* test_migrate.c - cmocka tests for hub/store/migrate.c against a real PostgreSQL.
 * JOINERY_NEEDS_PG: ctest gives this test the "pg" fixture (tests/CMakeLists.txt),
 * and each case recreates its own database there with testdb_fresh().
 *
 * The real migrations come from migrate_default_dir() ($JOINERY_SQL_DIR under
 * ctest); the failure cases write small migration directories under /tmp. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/migrate.h"
#include "testdb.h"

#define ERRLEN 512

/* Helpers ----------------------------------------------------------------- */

static PGconn *fresh_conn(const char *name)
{
    char err[ERRLEN] = "";
    char *conninfo = testdb_fresh(name, err, sizeof err);
    if (conninfo == NULL)
        fail_msg("testdb_fresh(%s): %s", name, err);
    PGconn *conn = testdb_connect(conninfo);
    free(conninfo);
    assert_non_null(conn);
    return conn;
}

/* The first column of the first row as malloc'd text; NULL for SQL NULL. */
static char *scalar(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        fail_msg("%s: %s", sql, PQerrorMessage(conn));
    char *v = PQgetisnull(res, 0, 0) ? NULL : strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

static void assert_scalar(PGconn *conn, const char *sql, const char *want)
{
    char *got = scalar(conn, sql);
    if (want == NULL) {
        assert_null(got);
    } else {
        assert_non_null(got);
        assert_string_equal(got, want);
    }
    free(got);
}

static void exec_ok(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(conn));
    PQclear(res);
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

/* Counted rather than hard-coded so that adding 0002 does not break the tests. */
static int count_real_migrations(void)
{
    DIR *d = opendir(migrate_default_dir());
    assert_non_null(d);
    int n = 0;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 9 && strcmp(e->d_name + len - 4, ".sql") == 0 && e->d_name[0] >= '0' &&
            e->d_name[0] <= '9')
            n++;
    }
    closedir(d);
    return n;
}

static char *make_sql_dir(void)
{
    char *dir = strdup("/tmp/joinery-migrate-XXXXXX");
    assert_non_null(dir);
    assert_non_null(mkdtemp(dir));
    return dir;
}

static void write_sql(const char *dir, const char *name, const char *body)
{
    char path[1024];
    (void)snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(body, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_dir(char *dir)
{
    assert_int_equal(nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS), 0);
    free(dir);
}

static int table_exists(PGconn *conn, const char *table)
{
    char sql[256];
    (void)snprintf(sql, sizeof sql, "SELECT to_regclass('%s') IS NOT NULL", table);
    char *v = scalar(conn, sql);
    int exists = v != NULL && strcmp(v, "t") == 0;
    free(v);
    return exists;
}

/* Tests -------------------------------------------------------------------- */

static void test_fresh_database_gets_every_migration(void **state)
{
    (void)state;
    PGconn *conn = fresh_conn("test_migrate_fresh");
    char err[ERRLEN] = "";
    assert_int_equal(migrate_current(conn, err, sizeof err), 0);
    int known = count_real_migrations();
    assert_true(known >= 1);
    int v = migrate_apply(conn, migrate_default_dir(), err, sizeof err);
    if (v < 0)
        fail_msg("migrate_apply: %s", err);
    assert_int_equal(v, known);
    assert_int_equal(migrate_current(conn, err, sizeof err), known);
    assert_true(table_exists(conn, "journal"));
    assert_scalar(conn, "SELECT name FROM joinery_schema_version WHERE version = 1",
                  "0001_journal.sql");
    assert_scalar(conn, "SELECT count(*) = max(version) FROM joinery_schema_version", "t");
    PQfinish(conn);
}

static void test_second_run_is_a_no_op(void **state)
{
    (void)state;
    PGconn *conn = fresh_conn("test_migrate_twice");
    char err[ERRLEN] = "";
    int first = migrate_apply(conn, migrate_default_dir(), err, sizeof err);
    assert_true(first >= 1);
    char *applied = scalar(conn, "SELECT applied_at FROM joinery_schema_version WHERE version = 1");
    int second = migrate_apply(conn, migrate_default_dir(), err, sizeof err);
    if (second < 0)
        fail_msg("second migrate_apply: %s", err);
    assert_int_equal(second, first);
    char want[32];
    (void)snprintf(want, sizeof want, "%d", first);
    assert_scalar(conn, "SELECT count(*) FROM joinery_schema_version", want);
    assert_scalar(conn, "SELECT applied_at FROM joinery_schema_version WHERE version = 1", applied);
    free(applied);
    PQfinish(conn);
}

static void test_newer_database_is_refused(void **state)
{
    (void)state;
    PGconn *conn = fresh_conn("test_migrate_newer");
    char err[ERRLEN] = "";
    assert_true(migrate_apply(conn, migrate_default_dir(), err, sizeof err) >= 1);
    exec_ok(conn, "INSERT INTO joinery_schema_version(version, name, applied_at) "
                  "VALUES (999, '0999_future.sql', now())");
    assert_int_equal(migrate_apply(conn, migrate_default_dir(), err, sizeof err), -1);
    char want[ERRLEN];
    (void)snprintf(want, sizeof want,
                   "database schema is version 999 but this hub knows only up to %d: "
                   "upgrade the hub (refusing to start)",
                   count_real_migrations());
    assert_string_equal(err, want);
    assert_int_equal(migrate_current(conn, err, sizeof err), 999);
    PQfinish(conn);
}

static void test_failed_migration_rolls_back(void **state)
{
    (void)state;
    PGconn *conn = fresh_conn("test_migrate_failure");
    char *dir = make_sql_dir();
    char err[ERRLEN] = "";
    write_sql(dir, "0001_ok.sql", "CREATE TABLE ok_table (i int);\n");
    assert_int_equal(migrate_apply(conn, dir, err, sizeof err), 1);
    write_sql(dir, "0002_bad.sql", "CREATE TABLE half_done (i int);\nSELEC 1;\n");
    assert_int_equal(migrate_apply(conn, dir, err, sizeof err), -1);
    assert_contains(err, "0002_bad.sql");
    assert_contains(err, "at line 2");
    assert_contains(err, "syntax error");
    assert_int_equal(PQtransactionStatus(conn), PQTRANS_IDLE);
    assert_int_equal(migrate_current(conn, err, sizeof err), 1);
    assert_true(table_exists(conn, "ok_table"));
    assert_false(table_exists(conn, "half_done"));
    remove_dir(dir);
    PQfinish(conn);
}

static void expect_bad_dir(const char *db, const char *files[][2], const char *needle)
{
    PGconn *conn = fresh_conn(db);
    char *dir = make_sql_dir();
    for (size_t i = 0; files[i][0] != NULL; i++)
        write_sql(dir, files[i][0], files[i][1]);
    char err[ERRLEN] = "";
    assert_int_equal(migrate_apply(conn, dir, err, sizeof err), -1);
    assert_contains(err, needle);
    /* Checked before touching the database: nothing at all was applied. */
    assert_int_equal(migrate_current(conn, err, sizeof err), 0);
    assert_false(table_exists(conn, "t1"));
    remove_dir(dir);
    PQfinish(conn);
}

static void test_gap_in_numbering_is_an_error(void **state)
{
    (void)state;
    const char *files[][2] = {{"0001_a.sql", "CREATE TABLE t1 (i int);"},
                              {"0003_c.sql", "CREATE TABLE t3 (i int);"},
                              {NULL, NULL}};
    expect_bad_dir("test_migrate_gap", files, "gap in migration numbering");
}

static void test_not_starting_at_one_is_an_error(void **state)
{
    (void)state;
    const char *files[][2] = {{"0002_b.sql", "CREATE TABLE t1 (i int);"}, {NULL, NULL}};
    expect_bad_dir("test_migrate_start", files, "expected 0001, found 0002_b.sql");
}

static void test_duplicate_number_is_an_error(void **state)
{
    (void)state;
    const char *files[][2] = {{"0001_a.sql", "CREATE TABLE t1 (i int);"},
                              {"0001_b.sql", "CREATE TABLE t2 (i int);"},
                              {NULL, NULL}};
    expect_bad_dir("test_migrate_dup", files, "duplicate migration number 0001");
}

static void test_misnamed_sql_file_is_an_error(void **state)
{
    (void)state;
    const char *files[][2] = {{"0001_a.sql", "CREATE TABLE t1 (i int);"},
                              {"02_b.sql", "CREATE TABLE t2 (i int);"},
                              {NULL, NULL}};
    expect_bad_dir("test_migrate_name", files, "02_b.sql: migration files must be named");
}

static void test_missing_dir_is_an_error(void **state)
{
    (void)state;
    PGconn *conn = fresh_conn("test_migrate_nodir");
    char err[ERRLEN] = "";
    assert_int_equal(migrate_apply(conn, "/nonexistent/joinery-sql", err, sizeof err), -1);
    assert_contains(err, "/nonexistent/joinery-sql");
    PQfinish(conn);
}

typedef struct {
    const char *conninfo;
    int result;
    char err[ERRLEN];
} racer_t;

static void *race_apply(void *arg)
{
    racer_t *r = arg;
    PGconn *conn = PQconnectdb(r->conninfo);
    r->result = PQstatus(conn) == CONNECTION_OK
                    ? migrate_apply(conn, migrate_default_dir(), r->err, sizeof r->err)
                    : -2;
    PQfinish(conn);
    return NULL;
}

/* Two hubs starting at once: the advisory lock makes one wait for the other. */
static void test_concurrent_hubs_do_not_race(void **state)
{
    (void)state;
    char err[ERRLEN] = "";
    char *conninfo = testdb_fresh("test_migrate_race", err, sizeof err);
    if (conninfo == NULL)
        fail_msg("testdb_fresh: %s", err);
    racer_t racers[4];
    pthread_t threads[4];
    for (size_t i = 0; i < 4; i++) {
        racers[i] = (racer_t){.conninfo = conninfo, .result = -3};
        assert_int_equal(pthread_create(&threads[i], NULL, race_apply, &racers[i]), 0);
    }
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    for (size_t i = 0; i < 4; i++)
        if (racers[i].result != count_real_migrations())
            fail_msg("racer %zu got %d: %s", i, racers[i].result, racers[i].err);
    free(conninfo);
}

static void test_default_dir_follows_environment(void **state)
{
    (void)state;
    const char *saved = getenv("JOINERY_SQL_DIR");
    char *copy = saved != NULL ? strdup(saved) : NULL;
    assert_int_equal(setenv("JOINERY_SQL_DIR", "/somewhere/sql", 1), 0);
    assert_string_equal(migrate_default_dir(), "/somewhere/sql");
    if (copy != NULL)
        assert_int_equal(setenv("JOINERY_SQL_DIR", copy, 1), 0);
    else
        assert_int_equal(unsetenv("JOINERY_SQL_DIR"), 0);
    free(copy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_database_gets_every_migration),
        cmocka_unit_test(test_second_run_is_a_no_op),
        cmocka_unit_test(test_newer_database_is_refused),
        cmocka_unit_test(test_failed_migration_rolls_back),
        cmocka_unit_test(test_gap_in_numbering_is_an_error),
        cmocka_unit_test(test_not_starting_at_one_is_an_error),
        cmocka_unit_test(test_duplicate_number_is_an_error),
        cmocka_unit_test(test_misnamed_sql_file_is_an_error),
        cmocka_unit_test(test_missing_dir_is_an_error),
        cmocka_unit_test(test_concurrent_hubs_do_not_race),
        cmocka_unit_test(test_default_dir_follows_environment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
