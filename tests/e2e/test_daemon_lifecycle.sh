#!/usr/bin/env bash
# joineryd with no database configured: starts its own PostgreSQL cluster,
# applies migrations, says it is ready; SIGTERM stops it and the cluster; a
# second start reuses the data. Also: --check-config accepts a good file and
# refuses bad ones with the line number.
source "$(dirname "$0")/lib.sh"

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

"$JOINERYD" --check-config "$E2E_DIR/hub.yaml" | grep -q "configuration is valid" ||
    fail "--check-config refused a valid file"

printf 'hub:\n  listen: tcp://127.0.0.1:1\n  colour: blue\n' >"$E2E_DIR/bad.yaml"
if out=$("$JOINERYD" --check-config "$E2E_DIR/bad.yaml" 2>&1); then fail "unknown key accepted"; fi
grep -q "bad.yaml:3: unknown key 'colour'" <<<"$out" || fail "unknown key message: $out"
if out=$("$JOINERYD" --check-config "$E2E_DIR/missing.yaml" 2>&1); then fail "missing file accepted"; fi
grep -q "missing.yaml: cannot read" <<<"$out" || fail "missing file message: $out"

# First start: initdb, migrations, ready.
start_hub "$E2E_DIR/hub.yaml"
grep -q "no database configured: using the private PostgreSQL cluster" "$E2E_DIR/hub.log" ||
    fail "private cluster not announced"
grep -q "applied migration 0001_journal.sql" "$E2E_DIR/hub.log" || fail "migrations not applied"
[[ -S "$E2E_DIR/data/pg/run/.s.PGSQL.5432" ]] || fail "no Unix socket inside the data directory"
conn="host=$E2E_DIR/data/pg/run dbname=joinery user=joinery"
[[ -z $(psql_db "$conn" "SHOW listen_addresses") ]] || fail "private cluster listens on TCP"

# Put something in the journal through the real protocol, so the restart can show it survived.
"$PY" - "tcp://127.0.0.1:$port" <<'PY'
import sys; sys.path.insert(0, __import__("os").environ["JOINERY_SOURCE_DIR"] + "/tests/e2e")
import pyjoinery as J
c = J.Client(sys.argv[1], "crm"); assert c.hello()[0] == "WELCOME"
evs = [c.event("crm.contact.updated", record_id="c%d" % i) for i in range(5)]
got = c.publish(evs); assert len(got) == 5 and all(e.status == 0 for e in got.values()), got
PY
[[ $(psql_db "$conn" "SELECT count(*) FROM journal") == 5 ]] || fail "journal does not hold 5 events"

stop_hub
grep -q "stopped cleanly" "$E2E_DIR/hub.log" || fail "no clean stop"
grep -q "private PostgreSQL cluster stopped" "$E2E_DIR/hub.log" || fail "cluster not stopped"
[[ ! -e "$E2E_DIR/data/pg/data/postmaster.pid" ]] || fail "postmaster still running after SIGTERM"

# Second start reuses the cluster and its data: no initdb, no new migration.
start_hub "$E2E_DIR/hub.yaml" "$E2E_DIR/hub2.log"
grep -q "journal head 5" "$E2E_DIR/hub2.log" || fail "second start did not find the journal"
grep -q "applied migration" "$E2E_DIR/hub2.log" && fail "migration applied twice"
stop_hub
echo "test_daemon_lifecycle: ok"
