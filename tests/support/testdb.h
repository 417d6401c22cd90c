/* testdb.h - throwaway databases for unit tests, in the cluster that
 * tests/support/pg-start.sh started in $JOINERY_TEST_PGDIR (ctest's "pg"
 * fixture). Each test asks for its own named database, so tests never see
 * each other's rows even when ctest runs them in parallel. */
#ifndef JOINERY_TESTDB_H
#define JOINERY_TESTDB_H

#include <libpq-fe.h>
#include <stddef.h>

/* Drop (ending any sessions) and create database NAME ([a-z_][a-z0-9_]*).
 * Returns its malloc'd conninfo, which the caller frees; NULL with a message in
 * err when JOINERY_TEST_PGDIR is unset or the cluster cannot be reached. */
char *testdb_fresh(const char *name, char *err, size_t errlen);
/* PQconnectdb that prints the reason and returns NULL on failure. */
PGconn *testdb_connect(const char *conninfo);
/* The number SQL answers (one row, one column, an integer): -1, with the reason printed, when it
 * answers anything else. */
long testdb_count(PGconn *conn, const char *sql);

#endif
