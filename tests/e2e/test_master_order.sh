#!/usr/bin/env bash
# Golden records after faults (issue 23, item 1): the CRM, through libjoinery,
# sends a stream of person.updated for 40 residents, each update carrying a
# new phone number, while PostgreSQL is away for a few seconds (publishes
# answered RETRY and resent) and the hub is killed with -9. A stale update
# resent after a newer one would win the golden record. Afterwards every
# resident's golden record must hold the phone number of the last update
# published for it, and the journal the updates in publish order.
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

N=${JOINERY_E2E_EVENTS:-2400}
K=40
db=$(fresh_db e2e_master_order)
port=$(free_port)
ep="tcp://127.0.0.1:$port"
cat >"$E2E_DIR/hub.yaml" <<YAML
hub:
  listen: $ep
  data_dir: $E2E_DIR/data
  heartbeat_ms: 500
database:
  conninfo: "$db"
security:
  curve: false
adapters:
  - name: crm
    publish: ["person.*"]
master_data:
  person:
    fields:
      telecom.phone: {owner: crm}
    survivorship: [crm]
YAML
BIN="$JOINERY_BUILD_DIR/tests"
start_hub "$E2E_DIR/hub.yaml"
make_pgctl

"$BIN/e2e_publisher" "$ep" crm - "$N" "$K" 300 ev "$E2E_DIR/confirmed" "$E2E_DIR/published" person \
    >"$E2E_DIR/pub.out" 2>&1 &
PUB=$!
wait_for 60 "$((N / 4)) updates confirmed" lines_at_least "$E2E_DIR/confirmed" $((N / 4))
echo "== PostgreSQL away for 3 s"
"$E2E_DIR/pgctl.sh" stop -m fast
sleep 3
"$E2E_DIR/pgctl.sh" start
wait_for 60 "$((N / 2)) updates confirmed" lines_at_least "$E2E_DIR/confirmed" $((N / 2))
echo "== kill -9 the hub"
kill_hub
start_hub "$E2E_DIR/hub.yaml" "$E2E_DIR/hub.log"
wait_for 60 "$((3 * N / 4)) updates confirmed" lines_at_least "$E2E_DIR/confirmed" $((3 * N / 4))
echo "== restart PostgreSQL (immediate)"
"$E2E_DIR/pgctl.sh" restart -m immediate
wait_exit "$PUB" "the publisher ($(cat "$E2E_DIR/pub.out"))"
cat "$E2E_DIR/pub.out"
stop_hub

"$PY" - "$E2E_SRC" "$E2E_DIR/published" "$db" <<'PY'
import os, sys
sys.path.insert(0, sys.argv[1])
import pyjoinery as J
published, db = sys.argv[2:4]
sql = J.Sql(db)
last = {}
for line in open(published):
    _, record, nth = line.split()
    last[record] = int(nth)
rows = sql("SELECT x.local_id, g.fields->'telecom.phone'->>'v' FROM xref x "
           "JOIN golden_person g USING (master_id) WHERE x.system = 'crm'")
phone = dict(r.split("|", 1) for r in rows.splitlines() if r)
J.check(len(phone) == len(last), "every resident has one golden record (%d of %d)"
        % (len(phone), len(last)))
stale = sorted((r, phone.get(r), n) for r, n in last.items()
               if not (phone.get(r) or "").replace(" ", "").endswith("%05d" % n))
J.check(not stale, "every golden record holds the phone of its resident's last update "
        "(%d stale, e.g. %s)" % (len(stale), stale[:3]))
inv = sql("SELECT count(*) FROM (SELECT seq, "
          "lag(event_id) OVER (PARTITION BY entity_key ORDER BY seq) AS prev, event_id "
          "FROM journal WHERE type = 'person.updated') j "
          "WHERE prev IS NOT NULL AND split_part(prev, '-', 2)::int > split_part(event_id, '-', 2)::int")
J.check(inv == "0", "the journal holds each resident's updates in publish order (%s inversions)" % inv)
J.finish("test_master_order")
PY
echo "test_master_order: ok"
