# lib.sh - helpers for the end-to-end tests: a fresh database, Curve keys, a
# hub config, starting and stopping real joineryd processes, waiting for
# events, checking refusals, and the sanitizer scan every test ends with.
#
# Each tests/e2e/test_*.sh starts with
#     set -euo pipefail
#     source "$(dirname "$0")/lib.sh" || exit 1
#
# Exit codes: 0 passed, 77 skipped (SKIP_RETURN_CODE in tests/CMakeLists.txt),
# anything else failed. A test fails, whatever its own checks said, if a hub
# it started is still running at the end or died unexpectedly, if a
# background process of it is still running, or if any file it wrote (hub
# logs, the stderr of every program it ran) holds a sanitizer report.
set -euo pipefail

: "${JOINERY_BUILD_DIR:?run through ctest}"
: "${JOINERY_SOURCE_DIR:?run through ctest}"
export JOINERY_PYGEN="$JOINERY_BUILD_DIR/pygen"
JOINERYD="$JOINERY_BUILD_DIR/hub/joineryd"
JOINERY="$JOINERY_BUILD_DIR/adapters/cli/joinery"
PY=/usr/bin/python3 # Debian's, which has python3-zmq and python3-protobuf
E2E_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_SKIP=77

E2E_NAME=$(basename "$0" .sh)
E2E_DIR=$(mktemp -d "/tmp/joinery-$E2E_NAME.XXXXXX")
chmod 0711 "$E2E_DIR"
export E2E_DIR
HUB_PID=""

# What a sanitizer report looks like (ASan, UBSan, LSan, and the others for
# good measure). The test environment also gives the sanitizers an exit code
# of their own (tests/CMakeLists.txt), so a report ends a process with a
# status no check expects.
E2E_SANITIZER_RE='AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer|ThreadSanitizer|MemorySanitizer|runtime error:'

# sanitizer_scan [FILE|DIR...]: prints every sanitizer report line in the
# files (default: everything the test wrote, except PostgreSQL's own data
# directories); returns 1 if there was any.
sanitizer_scan() {
    local hits
    if [[ $# -eq 0 ]]; then
        hits=$(grep -rIsnE --exclude-dir=data --exclude-dir=pg "$E2E_SANITIZER_RE" "$E2E_DIR" || true)
    else
        hits=$(grep -rIsnE "$E2E_SANITIZER_RE" "$@" || true)
    fi
    [[ -z $hits ]] && return 0
    echo "---- sanitizer report(s):" >&2
    echo "$hits" | head -n 60 >&2
    return 1
}

e2e_cleanup() {
    local rc=$? left hub_rc
    set +e
    # A test that stopped the shared test database must leave it running.
    if [[ -n "${E2E_ON_EXIT:-}" ]]; then
        eval "$E2E_ON_EXIT"
    fi
    if [[ -n "$HUB_PID" ]]; then
        if kill -0 "$HUB_PID" 2>/dev/null; then
            if [[ $rc -eq 0 ]]; then
                echo "FAIL: joineryd (pid $HUB_PID) is still running at the end of the test" >&2
                rc=1
            fi
            kill -9 "$HUB_PID" 2>/dev/null
            wait "$HUB_PID" 2>/dev/null
        else
            wait "$HUB_PID" 2>/dev/null
            hub_rc=$?
            echo "FAIL: joineryd (pid $HUB_PID) had exited without the test stopping it, status $hub_rc$( ((hub_rc > 128)) && echo " (signal $((hub_rc - 128)))")" >&2
            [[ $rc -eq 0 || $rc -eq $E2E_SKIP ]] && rc=1
        fi
    fi
    left=$(jobs -pr)
    if [[ -n $left ]]; then
        if [[ $rc -eq 0 ]]; then
            echo "FAIL: background processes still running at the end of the test: $left" >&2
            rc=1
        fi
        # shellcheck disable=SC2086
        kill -9 $left 2>/dev/null
        wait 2>/dev/null
    fi
    if ! sanitizer_scan; then
        echo "FAIL: a sanitizer reported an error (above)" >&2
        [[ $rc -eq 0 || $rc -eq $E2E_SKIP ]] && rc=1
    fi
    if [[ $rc -eq $E2E_SKIP ]]; then
        rm -rf "$E2E_DIR"
    elif [[ $rc -ne 0 ]]; then
        echo "---- $E2E_NAME failed (rc=$rc); files kept in $E2E_DIR; hub log tail:" >&2
        tail -n 40 "$E2E_DIR"/hub*.log >&2 2>/dev/null
    else
        rm -rf "$E2E_DIR"
    fi
    exit "$rc"
}
trap e2e_cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# skip WHY: the test cannot run here; ctest reports it as skipped.
skip() {
    echo "SKIP: $*" >&2
    exit "$E2E_SKIP"
}

# The Python the checkers need; without it the test is skipped, not passed.
"$PY" -c 'import zmq, google.protobuf' 2>/dev/null ||
    skip "$PY lacks zmq or protobuf (Debian: python3-zmq python3-protobuf)"
command -v protoc >/dev/null || skip "protoc not found (Debian: protobuf-compiler)"

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

# make_keys DIR NAME...: a Curve key pair per NAME, as `joinery keygen`
# writes them: DIR/NAME.key (secret, mode 0600) and DIR/NAME.pub.
make_keys() {
    local dir=$1
    shift
    mkdir -p "$dir"
    "$PY" - "$dir" "$@" <<'PY' || fail "cannot make Curve keys"
import os, sys, zmq
d = sys.argv[1]
for name in sys.argv[2:]:
    public, secret = zmq.curve_keypair()
    with open(os.path.join(d, name + ".pub"), "w") as f:
        f.write(public.decode() + "\n")
    fd = os.open(os.path.join(d, name + ".key"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret.decode() + "\n")
PY
}

# wait_for SECONDS WHAT CMD [ARGS...]: runs CMD every 50 ms until it
# succeeds; fails naming WHAT if it has not after SECONDS.
wait_for() {
    local secs=$1 what=$2
    shift 2
    local deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || fail "timed out after ${secs}s waiting for $what"
        sleep 0.05
    done
}

# lines_at_least FILE N: FILE exists and has at least N lines.
lines_at_least() {
    [[ -e $1 && $(wc -l <"$1") -ge $2 ]]
}

# log_count FILE REGEX: how many lines of FILE match (0 if none or no file).
log_count() {
    grep -cE -- "$2" "$1" 2>/dev/null || true
}

# log_has FILE REGEX [N]: FILE has at least N (default 1) lines matching.
log_has() {
    [[ $(log_count "$1" "$2") -ge ${3:-1} ]]
}

# expect_fail RC REGEX CMD [ARGS...]: CMD must exit with exactly RC and say
# REGEX (extended) on stdout or stderr; its output goes to $E2E_DIR/last.out
# and last.err. A crash, a sanitizer's exit or report, or a refusal for
# another reason fails the test.
expect_fail() {
    local want=$1 re=$2 rc=0
    shift 2
    "$@" >"$E2E_DIR/last.out" 2>"$E2E_DIR/last.err" || rc=$?
    if ! sanitizer_scan "$E2E_DIR/last.out" "$E2E_DIR/last.err"; then
        fail "$* : sanitizer report (rc=$rc)"
    fi
    if [[ $rc -ne $want ]]; then
        cat "$E2E_DIR/last.out" "$E2E_DIR/last.err" >&2
        fail "$* : exit status $rc, expected $want"
    fi
    if ! grep -qE -- "$re" "$E2E_DIR/last.out" "$E2E_DIR/last.err"; then
        cat "$E2E_DIR/last.out" "$E2E_DIR/last.err" >&2
        fail "$* : exit status $rc as expected, but no /$re/ in its output"
    fi
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

# start_hub CONFIG [LOG]: starts joineryd (stdout and stderr to LOG) and waits
# until it logs that it is ready; fails if it exits meanwhile.
start_hub() {
    local cfg=$1 log=${2:-$E2E_DIR/hub.log} n0 deadline=$((SECONDS + 60))
    [[ -z $HUB_PID ]] || fail "start_hub: a hub (pid $HUB_PID) is already running"
    n0=$(log_count "$log" "ready: listening")
    "$JOINERYD" --config "$cfg" >>"$log" 2>&1 &
    HUB_PID=$!
    until [[ $(log_count "$log" "ready: listening") -gt $n0 ]]; do
        if ! kill -0 "$HUB_PID" 2>/dev/null; then
            local rc=0
            wait "$HUB_PID" || rc=$?
            HUB_PID=""
            fail "joineryd exited with status $rc during start-up (see $log)"
        fi
        ((SECONDS < deadline)) || fail "joineryd not ready after 60 s"
        sleep 0.05
    done
}

# stop_hub: SIGTERM; the hub must exit 0 (sanitizer exits are not 0).
stop_hub() {
    local rc=0
    [[ -n $HUB_PID ]] || fail "stop_hub: no hub running"
    kill -TERM "$HUB_PID"
    wait "$HUB_PID" || rc=$?
    HUB_PID=""
    [[ $rc -eq 0 ]] || fail "joineryd exited with status $rc on SIGTERM, not 0"
}

# kill_hub: a crash. The hub must still have been running, and must die of
# the SIGKILL (status 137), not of something of its own before it.
kill_hub() {
    local rc=0
    [[ -n $HUB_PID ]] || fail "kill_hub: no hub running"
    kill -0 "$HUB_PID" 2>/dev/null || fail "joineryd (pid $HUB_PID) died before it was to be killed"
    kill -KILL "$HUB_PID"
    { wait "$HUB_PID"; } 2>/dev/null || rc=$? # without bash's "Killed" line
    HUB_PID=""
    [[ $rc -eq 137 ]] || fail "joineryd killed with SIGKILL exited with status $rc, not 137"
}

# wait_exit PID WHAT: waits for a process the test started; it must exit 0.
wait_exit() {
    local rc=0
    wait "$1" || rc=$?
    [[ $rc -eq 0 ]] || fail "$2 exited with status $rc"
}
