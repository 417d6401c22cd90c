#!/usr/bin/env bash
# `joinery tail` and `joinery status --admin` against a real hub with its admin API on, and the
# master-data decisions in /metrics (issue 20):
#  - tail prints a person event's payload decoded to JSON, with the values that were published
#    and the envelope's fields; --raw keeps the old payload_b64;
#  - tail --from-beginning (ephemeral unless told otherwise) and --ephemeral leave no
#    subscription behind: after a normal exit, after SIGINT and after SIGTERM the admin API's
#    list holds none; without an admin API --from-beginning is refused at once;
#  - status --admin: the table and --json show the adapters and the subscriptions with the same
#    figures;
#  - joinery_master_decisions_total after a known sequence (records created, one linked, one
#    pair queued) equals it and the database's master_audit, is the same after a hub restart,
#    goes on counting after it, and promtool accepts /metrics.
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1
"$PY" -c 'import yaml' 2>/dev/null || skip "$PY lacks yaml (Debian: python3-yaml)"
PROMTOOL=$(command -v promtool || true)
[[ -n $PROMTOOL ]] || fail "promtool not found: install Debian's prometheus (deploy/install-deps.sh)"
PSQL="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)/psql"
export PSQL

db=$(fresh_db e2e_cli_tail)
port=$(free_port)
aport=$(free_port)
mkdir -p "$E2E_DIR/keys"
printf 'operator-token-0123456789abcdef\n' >"$E2E_DIR/keys/operator.token"
printf 'reader-token-0123456789abcdef\n' >"$E2E_DIR/keys/reader.token"
chmod 600 "$E2E_DIR/keys/"*.token
cat >"$E2E_DIR/hub.yaml" <<YAML
hub:
  listen: tcp://127.0.0.1:$port
  data_dir: $E2E_DIR/data
  heartbeat_ms: 5000  # the Python clients here send no heartbeats while busy
database:
  conninfo: "$db"
security:
  curve: false
adapters:
  - name: socialcare
    publish: ["person.*"]
    subscribe: ["person.*"]
  - name: crm
    publish: ["person.*"]
    subscribe: ["person.*"]
  - name: ops
    publish: ["steward.*"]
    subscribe: ["*"]
    operator: true
admin:
  enabled: true
  listen: 127.0.0.1:$aport
  tokens:
    - name: operator
      token_file: keys/operator.token
      role: operate
    - name: reader
      token_file: keys/reader.token
      role: read
YAML
start_hub "$E2E_DIR/hub.yaml"
export JOINERY_ENDPOINT="tcp://127.0.0.1:$port" JOINERY_ADAPTER=ops
unset JOINERY_KEYS JOINERY_ADMIN JOINERY_ADMIN_TOKEN_FILE
admin=(--admin "http://127.0.0.1:$aport" --token-file "$E2E_DIR/keys/operator.token")
url="http://127.0.0.1:$aport"
tok="$E2E_DIR/keys/operator.token"
# The hub runs without Curve: every joinery call says --insecure.
joinery() { "$JOINERY" --insecure "$@"; }
check() { "$PY" "$E2E_SRC/cli_tail_check.py" "$@"; }
ok() { echo "ok - $*"; }

# Before anything is decided: the stored count (none) is in, every person outcome at 0.
wait_for 30 "the decisions counted at start" check decisions "$url" "$tok" "$db" "person/create=0"
ok "decisions at 0 on a fresh database"

# --- residents, then tail decodes them ------------------------------------------------------
check publish "$JOINERY_ENDPOINT" "$E2E_DIR/published.json" || fail "publishing the residents"
# --from-beginning alone: ephemeral, so a second run starts from the beginning again.
for run in 1 2; do
    joinery tail 'person.updated' --from-beginning --count 4 --timeout 30000 "${admin[@]}" \
        >"$E2E_DIR/tail$run.out" 2>"$E2E_DIR/tail$run.err" ||
        fail "tail --from-beginning run $run: $(cat "$E2E_DIR/tail$run.err")"
    check decoded "$E2E_DIR/tail$run.out" "$E2E_DIR/published.json" ||
        fail "tail output (run $run): $(cat "$E2E_DIR/tail$run.out")"
    check no-ephemeral "$url" "$tok" || fail "after tail --from-beginning run $run"
done
ok "tail --from-beginning: person payloads decoded to the published fields, twice from the start, no subscription left"
# Derived events of other schema types (PersonChanged, DuplicateFound...) decode too. The
# operator's subscription sees the person events for everyone, for operators and for ops.
n=$(psql_db "$db" "SELECT count(*) FROM journal WHERE type LIKE 'person.%' AND target IN ('', 'ops', '@operators')")
joinery tail 'person.*' --from-beginning --count "$n" --timeout 30000 "${admin[@]}" \
    >"$E2E_DIR/all.out" 2>"$E2E_DIR/all.err" || fail "tail person.*: $(cat "$E2E_DIR/all.err")"
"$PY" - "$E2E_DIR/all.out" "$n" <<'PY' || fail "tail person.*: $(cat "$E2E_DIR/all.out")"
import json, sys
ls = [json.loads(l) for l in open(sys.argv[1])]
assert len(ls) == int(sys.argv[2]) > 4, ls
assert all(isinstance(l["payload"], dict) for l in ls if l["payload_type"].startswith("joinery.v1.")), ls
assert any(l["type"] != "person.updated" for l in ls), [l["type"] for l in ls]
PY
joinery tail 'person.updated' --from-beginning --count 1 --raw --timeout 30000 "${admin[@]}" \
    >"$E2E_DIR/raw.out" 2>"$E2E_DIR/raw.err" || fail "tail --raw: $(cat "$E2E_DIR/raw.err")"
check raw "$E2E_DIR/raw.out" || fail "tail --raw"
ok "tail --raw keeps payload_b64; derived events decoded"

# --- ephemeral ends: SIGINT, SIGTERM --------------------------------------------------------
for sig in INT TERM; do
    "$JOINERY" --insecure tail '*' --ephemeral "${admin[@]}" >"$E2E_DIR/eph.out" 2>"$E2E_DIR/eph.err" &
    pid=$!
    wait_for 30 "the ephemeral subscription to be open" check ephemeral-connected "$url" "$tok"
    kill -"$sig" "$pid"
    wait_exit "$pid" "tail --ephemeral stopped by SIG$sig ($(cat "$E2E_DIR/eph.err"))"
    check no-ephemeral "$url" "$tok" || fail "after SIG$sig"
done
ok "tail --ephemeral: no subscription left after SIGINT nor SIGTERM"

# Refusals, at once and before any subscription exists.
expect_fail 2 "give --admin URL" joinery tail 'person.*' --from-beginning --count 1
expect_fail 2 "takes neither --subscription nor --durable" \
    joinery tail 'person.*' --ephemeral --subscription x "${admin[@]}"
expect_fail 1 "the admin API is needed to delete the ephemeral subscription on exit, and .*HTTP 401" \
    joinery tail 'person.*' --ephemeral --admin "$url"
check no-ephemeral "$url" "$tok" || fail "after the refusals"
# A read token cannot delete: the tail says what it left behind and how to remove it.
expect_fail 1 "ephemeral subscription ops/tail-eph-[0-9a-z]+ is left behind .*HTTP 403.*joinery subscriptions delete ops tail-eph-" \
    joinery tail 'person.updated' --from-beginning --count 1 --timeout 30000 \
    --admin "$url" --token-file "$E2E_DIR/keys/reader.token"
left=$("$PY" -c 'import re,sys; print(re.search(r"(tail-eph-[0-9a-z]+)", open(sys.argv[1]).read()).group(1))' "$E2E_DIR/last.err")
joinery subscriptions delete ops "$left" "${admin[@]}" >/dev/null || fail "deleting $left"
check no-ephemeral "$url" "$tok" || fail "after deleting $left"
ok "refusals: no admin API, conflicting options, no token; a read token's leftover is named"

# --- a durable tail stays, and status --admin shows it -------------------------------------
joinery tail 'person.*' --subscription watch --from-beginning --count 1 --timeout 30000 \
    >"$E2E_DIR/watch.out" 2>"$E2E_DIR/watch.err" || fail "durable tail: $(cat "$E2E_DIR/watch.err")"
joinery status "${admin[@]}" >"$E2E_DIR/status.txt" || fail "status --admin failed"
cat "$E2E_DIR/status.txt"
joinery status "${admin[@]}" --json >"$E2E_DIR/status.json" || fail "status --admin --json failed"
check status-json "$E2E_DIR/status.json" "$E2E_DIR/status.txt" || fail "status --admin"
seq=$("$PY" -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["seq"])' "$E2E_DIR/watch.out")
# Acked up to the event it printed, or past it over events that were never its to receive.
"$PY" -c 'import json,sys; w=[s for s in json.load(open(sys.argv[1]))["subscriptions"] if s["name"]=="watch"][0]; sys.exit(0 if w["acked_seq"] >= int(sys.argv[2]) else 1)' \
    "$E2E_DIR/status.json" "$seq" || fail "ops/watch is not acked at seq $seq: $(cat "$E2E_DIR/status.json")"
# Without --admin, the protocol STATUS as before.
joinery status >"$E2E_DIR/proto.json" || fail "status (protocol)"
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert "head_seq" in d and "hub_version" in d, d' \
    "$E2E_DIR/proto.json" || fail "status without --admin: $(cat "$E2E_DIR/proto.json")"
expect_fail 2 "--json is for --admin" joinery status --json
expect_fail 1 "HTTP 401" joinery status --admin "$url"
ok "status --admin: table and --json agree (adapters, ops/watch at seq $seq); protocol STATUS unchanged"

# --- decisions by outcome, before and after a restart --------------------------------------
# Ann: created (SC-1), linked (CRM-1). Brian: created (SC-2), created and queued (CRM-2).
spec="person/create=3,person/link=1,person/queue=1"
check decisions "$url" "$tok" "$db" "$spec" || fail "decisions after the residents"
ok "decisions: $spec, as master_audit holds"
stop_hub
start_hub "$E2E_DIR/hub.yaml"
wait_for 30 "the decisions counted after the restart" check decisions "$url" "$tok" "$db" "$spec"
ok "decisions after a restart: $spec"
"$PY" - "$JOINERY_ENDPOINT" "$E2E_SRC" <<'PY' || fail "publishing Carol"
import sys
sys.path.insert(0, sys.argv[2])
import pyjoinery as J
c = J.Client(sys.argv[1], "socialcare")
assert c.hello()[0] == "WELCOME"
e = c.event("person.updated", record_id="SC-3", payload=J.person("Carol", "White", "1985-07-19", postcode="BD1 1AA"),
            payload_type="joinery.v1.Person")
assert c.publish_one(e, timeout_ms=30000).status == 0
PY
check decisions "$url" "$tok" "$db" "person/create=4,person/link=1,person/queue=1" ||
    fail "decisions after Carol"
"$PY" -c 'import sys, urllib.request as u
r = u.Request(sys.argv[1] + "/metrics", headers={"Authorization": "Bearer " + open(sys.argv[2]).read().strip()})
sys.stdout.write(u.urlopen(r, timeout=30).read().decode())' "$url" "$tok" >"$E2E_DIR/metrics.txt" ||
    fail "GET /metrics"
"$PROMTOOL" check metrics <"$E2E_DIR/metrics.txt" >"$E2E_DIR/promtool.out" 2>&1 ||
    fail "promtool refuses /metrics: $(cat "$E2E_DIR/promtool.out")"
ok "decisions count on after the restart; promtool accepts /metrics"
stop_hub
echo "test_cli_tail: ok"
