#!/usr/bin/env bash
# pg-newdb.sh NAME - for shell end-to-end tests: drop and create database NAME
# in the test cluster ($JOINERY_TEST_PGDIR, started by pg-start.sh) and print
# its libpq conninfo on stdout. The shell twin of testdb_fresh() in testdb.c.
set -euo pipefail

die() {
    printf 'pg-newdb.sh: %s\n' "$*" >&2
    exit 1
}

[[ $# -eq 1 ]] || die "usage: pg-newdb.sh NAME"
name=$1
# Restricting names keeps them safe as bare identifiers and conninfo values.
[[ "$name" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || die "database name must match [a-z_][a-z0-9_]*: $name"

# Default matches tests/CMakeLists.txt: ${CMAKE_BINARY_DIR}/testpg.
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
default_build=${JOINERY_BUILD_DIR:-$here/../../build}
pgdir=${JOINERY_TEST_PGDIR:-$default_build/testpg}
[[ -S "$pgdir/run/.s.PGSQL.${PGPORT:-5432}" ]] ||
    die "no test cluster running in $pgdir: run tests/support/pg-start.sh $pgdir first"

find_psql() {
    local d
    if [[ -n "${PG_BINDIR:-}" ]]; then
        printf '%s\n' "$PG_BINDIR/psql"
        return
    fi
    for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
        if [[ -x "$d/psql" ]]; then
            printf '%s\n' "$d/psql"
            return
        fi
    done
    command -v psql || true
}

psql=$(find_psql)
[[ -n "$psql" && -x "$psql" ]] || die "psql not found"

# FORCE ends sessions a previous run left behind, which would block the drop;
# the PGOPTIONS silence the "does not exist, skipping" notice on stderr.
PGOPTIONS='-c client_min_messages=warning' "$psql" -X -q -v ON_ERROR_STOP=1 -h "$pgdir/run" -U joinery -d postgres \
    -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" -c "CREATE DATABASE $name" >/dev/null ||
    die "could not recreate database $name in $pgdir"
printf 'host=%s dbname=%s user=joinery\n' "$pgdir/run" "$name"
