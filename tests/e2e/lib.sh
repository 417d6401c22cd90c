# lib.sh - helpers for the end-to-end tests: a fresh database, a hub config,
# starting and stopping real joineryd processes. Sourced by tests/e2e/test_*.sh.
set -euo pipefail

: "${JOINERY_BUILD_DIR:?run through ctest}"
: "${JOINERY_SOURCE_DIR:?run through ctest}"
export JOINERY_PYGEN="$JOINERY_BUILD_DIR/pygen"
JOINERYD="$JOINERY_BUILD_DIR/hub/joineryd"
JOINERY="$JOINERY_BUILD_DIR/adapters/cli/joinery"
PY=/usr/bin/python3 # Debian's, which has python3-zmq and python3-protobuf

E2E_NAME=$(basename "$0" .sh)
E2E_DIR=$(mktemp -d "/tmp/joinery-$E2E_NAME.XXXXXX")
chmod 0711 "$E2E_DIR"
HUB_PID=""

e2e_cleanup() {
    local rc=$?
    # A test that stopped the shared test database must leave it running.
    if [[ -n "${E2E_ON_EXIT:-}" ]]; then
        eval "$E2E_ON_EXIT" || true
    fi
    if [[ -n "$HUB_PID" ]] && kill -0 "$HUB_PID" 2>/dev/null; then
        kill -9 "$HUB_PID" 2>/dev/null || true
    fi
    jobs -p | xargs -r kill -9 2>/dev/null || true
    if [[ $rc -ne 0 ]]; then
        echo "---- $E2E_NAME failed (rc=$rc); hub log tail:" >&2
        tail -n 40 "$E2E_DIR"/hub*.log >&2 2>/dev/null || true
    else
        rm -rf "$E2E_DIR"
    fi
}
trap e2e_cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# A free TCP port on loopback.
free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# A fresh database in the test cluster; prints its conninfo.
fresh_db() {
    bash "$JOINERY_SOURCE_DIR/tests/support/pg-newdb.sh" "$1"
}

psql_db() { # CONNINFO SQL
    local bindir
    bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
    "$bindir/psql" -X -A -t -q -d "$1" -c "$2"
}

# Writes $E2E_DIR/pgctl.sh ACTION [ARGS] (pg_ctl on the shared test
# cluster, as its owner) and makes sure the cluster is running when the test
# exits, whatever happened: later tests need it.
make_pgctl() {
    local pgbin pg_as=()
    pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
    [[ $(id -u) -eq 0 ]] && pg_as=(runuser -u "$(stat -c %U "$JOINERY_TEST_PGDIR/data")" --)
    cat >"$E2E_DIR/pgctl.sh" <<SH
#!/usr/bin/env bash
cd /tmp && ${pg_as[*]} "$pgbin/pg_ctl" -D "$JOINERY_TEST_PGDIR/data" -l "$JOINERY_TEST_PGDIR/postgres.log" -w "\$@" >/dev/null
SH
    chmod +x "$E2E_DIR/pgctl.sh"
    E2E_ON_EXIT="'$E2E_DIR/pgctl.sh' status >/dev/null 2>&1 || '$E2E_DIR/pgctl.sh' start"
}

# start_hub CONFIG [LOG]: starts joineryd and waits until it is ready.
start_hub() {
    local cfg=$1 log=${2:-$E2E_DIR/hub.log}
    "$JOINERYD" --config "$cfg" >>"$log" 2>&1 &
    HUB_PID=$!
    local n0
    n0=$(grep -c "ready: listening" "$log" 2>/dev/null || true)
    for _ in $(seq 1 300); do
        if [[ $(grep -c "ready: listening" "$log" 2>/dev/null || true) -gt $n0 ]]; then
            return 0
        fi
        kill -0 "$HUB_PID" 2>/dev/null || fail "joineryd exited during start-up (see $log)"
        sleep 0.1
    done
    fail "joineryd not ready after 30 s"
}

stop_hub() { # graceful
    kill -TERM "$HUB_PID"
    wait "$HUB_PID" || fail "joineryd exited non-zero on SIGTERM"
    HUB_PID=""
}

kill_hub() { # crash
    kill -9 "$HUB_PID" 2>/dev/null || true
    wait "$HUB_PID" 2>/dev/null || true
    HUB_PID=""
}
