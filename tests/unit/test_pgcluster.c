/* test_pgcluster.c - cmocka tests for hub/store/pgcluster.c: a real private cluster
 * started, used, stopped and restarted in a temporary directory.
 * JOINERY_NEEDS_PG: ctest attaches the "pg" fixture, so PostgreSQL's server
 * binaries are known to be installed; this test starts its own cluster anyway,
 * because initdb and reuse are what it checks. Takes a few seconds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/pgcluster.h"

#define ERRLEN 512

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static char *make_tmp_dir(void)
{
    char *dir = strdup("/tmp/joinery-pgcluster-XXXXXX");
    assert_non_null(dir);
    assert_non_null(mkdtemp(dir));
    return dir;
}

static void remove_dir(char *dir)
{
    assert_int_equal(nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS), 0);
    free(dir);
}

static pgcluster_t *start_ok(const char *dir)
{
    char err[ERRLEN] = "";
    pgcluster_t *pc = pgcluster_start(dir, NULL, err, sizeof err);
    if (pc == NULL)
        fail_msg("pgcluster_start(%s): %s", dir, err);
    return pc;
}

static void stop_ok(pgcluster_t **pc)
{
    char err[ERRLEN] = "";
    if (pgcluster_stop(pc, err, sizeof err) != 0)
        fail_msg("pgcluster_stop: %s", err);
    assert_null(*pc);
}

static PGconn *connect_ok(const pgcluster_t *pc)
{
    PGconn *conn = PQconnectdb(pgcluster_conninfo(pc));
    if (PQstatus(conn) != CONNECTION_OK)
        fail_msg("connect %s: %s", pgcluster_conninfo(pc), PQerrorMessage(conn));
    return conn;
}

static void exec_expect(PGconn *conn, const char *sql, ExecStatusType want, const char *value)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != want)
        fail_msg("%s: %s", sql, PQerrorMessage(conn));
    if (value != NULL) {
        assert_int_equal(PQntuples(res), 1);
        assert_string_equal(PQgetvalue(res, 0, 0), value);
    }
    PQclear(res);
}

/* Start, use, reuse while running, stop, restart on the same data, stop. */
static void test_start_stop_restart_keeps_data(void **state)
{
    (void)state;
    char *dir = make_tmp_dir();
    pgcluster_t *pc = start_ok(dir);

    char want[1024];
    (void)snprintf(want, sizeof want, "host=%s/run dbname=joinery user=joinery", dir);
    assert_string_equal(pgcluster_conninfo(pc), want);

    PGconn *conn = connect_ok(pc);
    exec_expect(conn, "SELECT 1", PGRES_TUPLES_OK, "1");
    exec_expect(conn, "SHOW listen_addresses", PGRES_TUPLES_OK, "");
    exec_expect(conn, "SHOW fsync", PGRES_TUPLES_OK, "on");
    exec_expect(conn, "SHOW synchronous_commit", PGRES_TUPLES_OK, "on");
    exec_expect(conn, "CREATE TABLE keepme (v text)", PGRES_COMMAND_OK, NULL);
    exec_expect(conn, "INSERT INTO keepme VALUES ('survives')", PGRES_COMMAND_OK, NULL);
    PQfinish(conn);

    /* What a hub restarted after kill -9 sees: the server still running. */
    pgcluster_t *again = start_ok(dir);
    assert_string_equal(pgcluster_conninfo(again), want);
    stop_ok(&pc);
    assert_int_equal(PQping(want), PQPING_NO_RESPONSE);
    /* Stopping a server that is already down is not an error. */
    stop_ok(&again);

    pc = start_ok(dir);
    conn = connect_ok(pc);
    exec_expect(conn, "SELECT v FROM keepme", PGRES_TUPLES_OK, "survives");
    PQfinish(conn);
    stop_ok(&pc);
    remove_dir(dir);
}

static void test_destroy_leaves_server_running(void **state)
{
    (void)state;
    char *dir = make_tmp_dir();
    pgcluster_t *pc = start_ok(dir);
    char *conninfo = strdup(pgcluster_conninfo(pc));
    assert_non_null(conninfo);
    pgcluster_destroy(&pc);
    assert_null(pc);
    assert_int_equal(PQping(conninfo), PQPING_OK);
    pc = start_ok(dir);
    stop_ok(&pc);
    assert_int_equal(PQping(conninfo), PQPING_NO_RESPONSE);
    free(conninfo);
    remove_dir(dir);
}

static void test_missing_binaries_are_reported(void **state)
{
    (void)state;
    char *dir = make_tmp_dir();
    char err[ERRLEN] = "";
    pgcluster_t *pc = pgcluster_start(dir, "/nonexistent/pg/bin", err, sizeof err);
    assert_null(pc);
    if (strstr(err, "not found in /nonexistent/pg/bin") == NULL)
        fail_msg("unexpected error: %s", err);
    remove_dir(dir);
}

static void write_script(const char *dir, const char *name, const char *body)
{
    char path[1024];
    (void)snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(body, f) >= 0);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, 0755), 0);
}

/* A stand-in initdb that fails, to pin the message an operator sees. */
static void test_initdb_failure_names_its_log(void **state)
{
    (void)state;
    char *bindir = make_tmp_dir();
    assert_int_equal(chmod(bindir, 0755), 0); /* reachable when run as postgres */
    write_script(bindir, "initdb", "#!/bin/sh\necho 'initdb: pretend failure' >&2\nexit 1\n");
    write_script(bindir, "pg_ctl", "#!/bin/sh\nexit 1\n");
    write_script(bindir, "postgres", "#!/bin/sh\nexit 1\n");
    char *dir = make_tmp_dir();
    char err[ERRLEN] = "";
    pgcluster_t *pc = pgcluster_start(dir, bindir, err, sizeof err);
    assert_null(pc);
    char want[1024];
    (void)snprintf(want, sizeof want, "initdb failed (exit 1): see %s/initdb.log", dir);
    assert_string_equal(err, want);
    remove_dir(dir);
    remove_dir(bindir);
}

/* As root the server runs as another user, who must be able to reach DIR. */
static void test_unreachable_dir_is_reported_as_root(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    char *parent = make_tmp_dir(); /* mkdtemp: 0700, so no one else gets in */
    char dir[1024];
    (void)snprintf(dir, sizeof dir, "%s/pg", parent);
    char err[ERRLEN] = "";
    pgcluster_t *pc = pgcluster_start(dir, NULL, err, sizeof err);
    assert_null(pc);
    if (strstr(err, "cannot enter") == NULL || strstr(err, "chmod o+x") == NULL)
        fail_msg("unexpected error: %s", err);
    remove_dir(parent);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_stop_restart_keeps_data),
        cmocka_unit_test(test_destroy_leaves_server_running),
        cmocka_unit_test(test_missing_binaries_are_reported),
        cmocka_unit_test(test_initdb_failure_names_its_log),
        cmocka_unit_test(test_unreachable_dir_is_reported_as_root),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
