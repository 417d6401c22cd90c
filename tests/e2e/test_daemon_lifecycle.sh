#!/usr/bin/env bash
# joineryd with no database configured: starts its own PostgreSQL cluster,
# applies migrations, says it is ready; SIGTERM stops it and the cluster; a
# second start reuses the data. Also: --check-config accepts a good file and
# refuses bad ones with the line number; a SIGHUP or SIGTERM that arrives while
# the hub is still starting (initdb, migrations) neither kills it nor leaves its
# PostgreSQL cluster running.
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

port=$(free_port)
cat >"$E2E_DIR/hub.yaml" <<YAML
hub:
  listen: tcp://127.0.0.1:$port
  data_dir: $E2E_DIR/data
security:
  curve: false
adapters:
  - name: crm
    publish: ["crm.*"]
    subscribe: ["crm.*"]
YAML

"$JOINERYD" --check-config "$E2E_DIR/hub.yaml" >"$E2E_DIR/check.out" ||
    fail "--check-config refused a valid file: $(cat "$E2E_DIR/check.out")"
grep -q "configuration is valid" "$E2E_DIR/check.out" || fail "--check-config: $(cat "$E2E_DIR/check.out")"

printf 'hub:\n  listen: tcp://127.0.0.1:1\n  colour: blue\n' >"$E2E_DIR/bad.yaml"
expect_fail 1 "bad.yaml:3: unknown key 'colour'" "$JOINERYD" --check-config "$E2E_DIR/bad.yaml"
expect_fail 1 "missing.yaml: cannot read" "$JOINERYD" --check-config "$E2E_DIR/missing.yaml"

# First start: initdb, migrations, ready.
start_hub "$E2E_DIR/hub.yaml"
log_has "$E2E_DIR/hub.log" "no database configured: using the private PostgreSQL cluster" ||
    fail "private cluster not announced"
log_has "$E2E_DIR/hub.log" "applied migration 0001_journal.sql" || fail "migrations not applied"
[[ -S "$E2E_DIR/data/pg/run/.s.PGSQL.5432" ]] || fail "no Unix socket inside the data directory"
conn="host=$E2E_DIR/data/pg/run dbname=joinery user=joinery"
[[ -z $(psql_db "$conn" "SHOW listen_addresses") ]] || fail "private cluster listens on TCP"

# Put something in the journal through the real protocol, so the restart can show it survived.
"$PY" - "tcp://127.0.0.1:$port" "$E2E_SRC" <<'PY'
import sys; sys.path.insert(0, sys.argv[2])
import pyjoinery as J
from joinery.v1 import protocol_pb2 as P
c = J.Client(sys.argv[1], "crm")
J.check(c.hello()[0] == "WELCOME", "crm connects")
evs = [c.event("crm.contact.updated", record_id="c%d" % i) for i in range(5)]
got = c.publish(evs)
J.check(len(got) == 5 and all(e.status == P.CONFIRM_OK for e in got.values()),
        "5 events confirmed OK")
PY
[[ $(psql_db "$conn" "SELECT count(*) FROM journal") == 5 ]] || fail "journal does not hold 5 events"

stop_hub
log_has "$E2E_DIR/hub.log" "stopped cleanly" || fail "no clean stop"
log_has "$E2E_DIR/hub.log" "private PostgreSQL cluster stopped" || fail "cluster not stopped"
[[ ! -e "$E2E_DIR/data/pg/data/postmaster.pid" ]] || fail "postmaster still running after SIGTERM"

# Second start reuses the cluster and its data: no initdb, no new migration.
start_hub "$E2E_DIR/hub.yaml" "$E2E_DIR/hub2.log"
log_has "$E2E_DIR/hub2.log" "journal head 5," || fail "second start did not find the journal"
log_has "$E2E_DIR/hub2.log" "database schema at version" ||
    fail "second start did not get to its migrations"
log_has "$E2E_DIR/hub2.log" "applied migration" && fail "migration applied twice"
stop_hub

# Signals during start-up, on a data directory of its own (so initdb runs and start-up takes
# seconds). An operator's reload or a service manager's stop can come at any time.
sed "s|$E2E_DIR/data|$E2E_DIR/data3|" "$E2E_DIR/hub.yaml" >"$E2E_DIR/hub3.yaml"
early_signal() { # SIGNAL LOG: sends SIGNAL once the hub is past its configuration, before ready
    "$JOINERYD" --config "$E2E_DIR/hub3.yaml" >>"$2" 2>&1 &
    HUB_PID=$!
    wait_for 30 "the hub to start its cluster" log_has "$2" "no database configured"
    log_has "$2" "ready: listening" && fail "start-up was over before the $1 could be sent"
    kill -"$1" "$HUB_PID"
}
# A reload asked for before the hub is ready is done once it is; the hub runs on.
early_signal HUP "$E2E_DIR/hub3.log"
wait_for 60 "the hub to be ready after an early SIGHUP" log_has "$E2E_DIR/hub3.log" "ready: listening"
kill -0 "$HUB_PID" 2>/dev/null || fail "an early SIGHUP killed the hub"
wait_for 10 "the early reload" log_has "$E2E_DIR/hub3.log" "SIGHUP"
stop_hub
log_has "$E2E_DIR/hub3.log" "private PostgreSQL cluster stopped" || fail "cluster not stopped"
# A stop asked for during start-up stops the hub cleanly, its cluster with it.
rm -rf "$E2E_DIR/data3"
early_signal TERM "$E2E_DIR/hub4.log"
rc=0
wait "$HUB_PID" || rc=$?
HUB_PID=""
[[ $rc -eq 0 ]] || fail "a SIGTERM during start-up: status $rc, not 0 (see hub4.log)"
log_has "$E2E_DIR/hub4.log" "private PostgreSQL cluster stopped" ||
    fail "a SIGTERM during start-up left the cluster running"
[[ ! -e "$E2E_DIR/data3/pg/data/postmaster.pid" ]] || fail "postmaster still running after an early SIGTERM"
echo "test_daemon_lifecycle: ok"
