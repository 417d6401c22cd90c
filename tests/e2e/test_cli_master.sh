#!/usr/bin/env bash
# The master-data commands of the joinery CLI against a real hub and its database:
# steward list / link / keep-apart / merge / unmerge, xref export, golden show and
# match train. Residents come in through the hub (cli_master_data.py); every write
# the CLI makes goes through the hub as a steward.* event, and what it reads is
# checked against what the engine decided.
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1
"$PY" -c 'import yaml' 2>/dev/null || skip "$PY lacks yaml (Debian: python3-yaml)"

db=$(fresh_db e2e_cli_master)
port=$(free_port)
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
    operator: true
YAML
start_hub "$E2E_DIR/hub.yaml"
export JOINERY_ENDPOINT="tcp://127.0.0.1:$port" JOINERY_DB="$db"
unset JOINERY_KEYS
out="$E2E_DIR/out"
checks=0
ok() {
    checks=$((checks + 1))
    echo "ok - $*"
}
# json FILE EXPR: evaluates a Python expression over the JSON in FILE (as d); fails if false.
json() {
    "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); r=eval("(" + sys.argv[2] + ")"); sys.exit(0 if r else 1)' "$1" "$2"
}
# id LOCAL_ID: the golden record the hub gave that local id when it was published.
id() {
    "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]]["master_id"])' \
        "$E2E_DIR/small.json" "$1"
}

# --- Residents ------------------------------------------------------------------------------
"$PY" "$E2E_SRC/cli_master_data.py" "$JOINERY_ENDPOINT" small >"$E2E_DIR/small.json" ||
    fail "publishing the residents failed"
echo "published: $(cat "$E2E_DIR/small.json")"
json "$E2E_DIR/small.json" 'all(v["status"] == "OK" for v in d.values())' || fail "a resident was refused"
ann=$(id SC-1) brian_a=$(id SC-2) carol=$(id SC-3) brian_b=$(id CRM-2)
[[ $(id CRM-1) == "$ann" ]] || fail "Ann's CRM record did not link by NHS number"
[[ $brian_b != "$brian_a" && $carol != "$ann" ]] || fail "Brian's or Carol's records were joined"
ok "Ann links by NHS number; Brian (no NHS number, another postcode) and Carol keep their own records"

# --- steward list ---------------------------------------------------------------------------
"$JOINERY" steward list >"$out" || fail "steward list failed"
cat "$out"
queue=$(psql_db "$db" "SELECT id FROM steward_queue WHERE master_a = '$brian_a' AND master_b = '$brian_b' AND state = 'OPEN'")
if [[ -z $queue ]]; then
    psql_db "$db" "SELECT id, master_a, master_b, state, evidence FROM steward_queue" >&2
    fail "Brian's pair did not land in the steward queue"
fi
grep -q "^$queue .*OPEN.*$brian_a.*Brian Jones, born 1971-03-02, M1 1AE, no NHS number" "$out" &&
    grep -q "$brian_b  Brian Jones, born 1971-03-02, LS6 2QT" "$out" ||
    fail "steward list does not show queue item $queue with both records"
grep -qE "evidence: given exact \+[0-9.]+, family exact \+[0-9.]+, birth_date exact \+[0-9.]+, .*postcode different -[0-9]" "$out" ||
    fail "steward list does not show the evidence"
grep -q 'NHS \*\*\*\*\*\*\*[0-9]\{3\}' "$out" || fail "an NHS number is not masked to its last 3 digits"
grep -qE '[0-9]{10}' "$out" && fail "steward list shows a whole NHS number"
ok "steward list: item $queue, both records summarised, evidence per field, NHS numbers masked"
"$JOINERY" steward list --json >"$out" || fail "steward list --json failed"
json "$out" "[i for i in d if i['id'] == $queue and i['state'] == 'OPEN' and i['master_a']['master_id'] == '$brian_a'
      and i['master_b']['postcode'] == 'LS6 2QT' and i['evidence']['fields']['given']['level'] == 'exact'
      and i['evidence']['fields']['postcode']['level'] == 'different' and i['score'] > 16]" ||
    fail "steward list --json: $(cat "$out")"
json "$out" "[x for i in d for x in (i['master_a']['nhs_number_masked'], i['master_b']['nhs_number_masked'])
      if x is not None] and all(x is None or (x[:7] == '*' * 7 and len(x) == 10 and x[7:].isdigit())
      for i in d for x in (i['master_a']['nhs_number_masked'], i['master_b']['nhs_number_masked']))" ||
    fail "steward list --json does not mask NHS numbers"
ok "steward list --json: the same item with level per field"

# --- xref export ----------------------------------------------------------------------------
"$JOINERY" xref export >"$E2E_DIR/xref0.csv" || fail "xref export failed"
cat "$E2E_DIR/xref0.csv"
"$PY" - "$E2E_DIR/xref0.csv" "$E2E_DIR/small.json" <<'PY' || fail "xref export is not the expected CSV"
import csv, json, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
small = json.load(open(sys.argv[2]))
assert rows[0] == ["system", "local_id", "master_id", "link_state", "score", "linked_records"], rows[0]
body = rows[1:]
assert all(len(r) == 6 for r in body), body
assert body == sorted(body, key=lambda r: (r[0].encode(), r[1].encode())), "not ordered"
got = {(r[0], r[1]): r for r in body}
assert set(got) == {(v["system"], k) for k, v in small.items()}, sorted(got)
for k, v in small.items():
    assert got[(v["system"], k)][2] == v["master_id"], (k, got[(v["system"], k)])
state = {k: got[(v["system"], k)][3] for k, v in small.items()}
assert state["CRM-1"] == "MATCH" and state["CRM-2"] == "POSSIBLE_MATCH", state
# Ann's founding record reads MATCH once CRM-1 linked to it; Carol's stays alone.
assert state["SC-1"] == "MATCH" and state["SC-3"] == 'NO_MATCH', state
assert state['CRM-"5",x'] == "NO_MATCH", state
linked = {k: got[(v["system"], k)][5] for k, v in small.items()}
assert linked["SC-1"] == linked["CRM-1"] == "1" and linked["SC-3"] == "0", linked
assert float(got[("crm", "CRM-2")][4]) > 16, got[("crm", "CRM-2")]
PY
grep -qF 'crm,"CRM-""5"",x",' "$E2E_DIR/xref0.csv" || fail "a local id with quotes and a comma is not quoted"
"$JOINERY" xref export --system socialcare >"$out" || fail "xref export --system failed"
[[ $(tail -n +2 "$out" | cut -d, -f1 | sort -u) == socialcare && $(wc -l <"$out") -eq 5 ]] ||
    fail "xref export --system socialcare: $(cat "$out")"
ok "xref export: RFC 4180 CSV, one row per local id, ordered, quoted where needed, --system filters"

# --- golden show ----------------------------------------------------------------------------
"$JOINERY" golden show "$ann" >"$out" || fail "golden show failed"
cat "$out"
grep -q "^Golden record $ann   version 1   ACTIVE" "$out" &&
    grep -qE "^birth_date +1960-01-05 +socialcare +[0-9]{4}-" "$out" &&
    grep -qE "^crm +CRM-1 +MATCH +rule" "$out" && grep -qE "^socialcare +SC-1 +NO_MATCH" "$out" &&
    grep -qE "^1 +name.family +\(none\) -> Smith +socialcare" "$out" ||
    fail "golden show does not show Ann's fields, local ids and history"
"$JOINERY" golden show "$ann" --json >"$out" || fail "golden show --json failed"
json "$out" "d['master_id'] == '$ann' and d['state'] == 'ACTIVE' and d['fields']['birth_date']['value'] == '1960-01-05'
      and d['fields']['name.given']['source'] == 'socialcare' and len(d['xref']) == 2
      and d['history'] and [h['version'] for h in d['history']] == sorted([h['version'] for h in d['history']], reverse=True)" ||
    fail "golden show --json: $(cat "$out")"
ok "golden show: fields with source and time, cross-reference, history newest first (table and JSON)"

# --- merge and unmerge through the hub ------------------------------------------------------
"$JOINERY" --insecure steward merge "$ann" "$carol" --reason "e2e: merge" --by "e2e steward" >"$out" ||
    fail "steward merge failed: $(cat "$out")"
cat "$out"
json "$out" "d['status'] == 'OK' and d['master_id'] == '$ann'" || fail "merge not confirmed: $(cat "$out")"
[[ $(psql_db "$db" "SELECT master_id || ' ' || link_state FROM xref WHERE local_id = 'SC-3'") == "$ann REDIRECTED" ]] ||
    fail "after the merge Carol's local id does not follow the survivor"
"$JOINERY" golden show "$carol" >"$out" || fail "golden show of a merged record failed"
grep -q "REDIRECTED" "$out" && grep -q "MERGED AWAY: redirects to $ann" "$out" ||
    fail "golden show does not say where a merged record went: $(cat "$out")"
"$JOINERY" golden show "$carol" --json >"$out" && json "$out" "d['redirect_to'] == '$ann' and d['final_master_id'] == '$ann'" ||
    fail "golden show --json of a merged record: $(cat "$out")"
ok "steward merge: confirmed OK by the hub; the retired record redirects to the survivor"
"$JOINERY" --insecure steward unmerge "$ann" "$carol" --reason "e2e: undo" >"$out" ||
    fail "steward unmerge failed: $(cat "$out")"
json "$out" "d['status'] == 'OK'" || fail "unmerge not confirmed: $(cat "$out")"
"$JOINERY" xref export >"$E2E_DIR/xref1.csv" || fail "xref export after unmerge failed"
diff "$E2E_DIR/xref0.csv" "$E2E_DIR/xref1.csv" || fail "xref export after unmerge differs from before the merge"
ok "steward unmerge: confirmed OK; xref export before the merge == after the unmerge"
expect_fail 1 "rejected: .*not merged" "$JOINERY" --insecure steward unmerge "$ann" "$carol"
json "$E2E_DIR/last.out" "d['status'] == 'REJECTED'" ||
    fail "a refused decision does not print REJECTED: $(cat "$E2E_DIR/last.out")"
ok "a refused decision exits 1 with the hub's reason on stderr: $(cat "$E2E_DIR/last.err")"

# --- keep apart -----------------------------------------------------------------------------
"$JOINERY" --insecure steward keep-apart "$queue" --reason "e2e: two Brians" --by "e2e steward" >"$out" ||
    fail "steward keep-apart failed: $(cat "$out")"
json "$out" "d['status'] == 'OK'" || fail "keep-apart not confirmed: $(cat "$out")"
"$JOINERY" steward list --json >"$out"
json "$out" "not [i for i in d if i['id'] == $queue]" || fail "the kept-apart item is still OPEN"
"$JOINERY" steward list --state ALL --json >"$out"
json "$out" "[i for i in d if i['id'] == $queue and i['state'] == 'KEPT_APART' and i['decided_by'] == 'e2e steward'
      and i['reason'] == 'e2e: two Brians']" || fail "the item is not KEPT_APART: $(cat "$out")"
[[ $(psql_db "$db" "SELECT link_state FROM xref WHERE system = 'crm' AND local_id = 'CRM-2'") == NO_MATCH ]] ||
    fail "CRM-2 is still waiting on a steward"
expect_fail 1 "not open" "$JOINERY" --insecure steward link "$queue"
ok "steward keep-apart: item $queue is KEPT_APART (not OPEN), with who and why; deciding it again is refused"

# --- failures -------------------------------------------------------------------------------
expect_fail 2 "no database given: use --db" env -u JOINERY_DB "$JOINERY" steward list
expect_fail 1 'no golden record "P00000000000000000000000000"' \
    "$JOINERY" golden show P00000000000000000000000000
expect_fail 1 "crm's local id for $ann" "$JOINERY" golden show CRM-1
expect_fail 1 "not a golden record" \
    "$JOINERY" --insecure steward merge "$ann" P00000000000000000000000000
expect_fail 1 "cannot connect" "$JOINERY" xref export --db "host=/nonexistent dbname=x"
ok "failures exit 2 (no --db) or 1 with the reason on stderr (unknown or local id, bad database)"

# --- match train ----------------------------------------------------------------------------
"$JOINERY" match train >"$out" || fail "match train on a few records failed"
cat "$out"
grep -q "Too little data" "$out" || fail "match train on a handful of records does not say there is too little data"
ok "match train on a handful of records says there is too little data (exit 0)"
"$PY" "$E2E_SRC/cli_master_data.py" "$JOINERY_ENDPOINT" bulk 300 >"$E2E_DIR/bulk.json" ||
    fail "publishing the synthetic residents failed"
json "$E2E_DIR/bulk.json" "len(d) == 300 and all(v['status'] == 'OK' for v in d.values())" ||
    fail "a synthetic resident was refused"
echo "golden records: $(psql_db "$db" "SELECT count(*) FROM golden_person WHERE state = 'ACTIVE'"), " \
    "open steward items: $(psql_db "$db" "SELECT count(*) FROM steward_queue WHERE state = 'OPEN'")"
"$JOINERY" match train --out "$E2E_DIR/params.yaml" >"$out" || fail "match train failed"
cat "$out"
"$PY" - "$E2E_DIR/params.yaml" <<'PY' || fail "match train's parameters"
import sys, yaml
text = open(sys.argv[1]).read()
assert "For review" in text and "master_data.matching" in text, text[:400]
doc = yaml.safe_load(text)
fields = doc["master_data"]["matching"]["fields"]
# Trained on the source records (each system's local ids), not the golden records.
assert doc["master_data"]["matching"]["trained"]["source_records"] >= 300, doc["master_data"]
for f in ("given", "family", "birth_date", "sex", "postcode"):
    ex = fields[f]["exact"]
    assert ex["m"] > ex["u"], (f, ex)
    assert abs(sum(v["m"] for v in fields[f].values()) - 1) < 1e-3, (f, fields[f])
    assert abs(sum(v["u"] for v in fields[f].values()) - 1) < 1e-3, (f, fields[f])
    print("%-10s exact: m %.4f > u %.6f" % (f, ex["m"], ex["u"]))
PY
grep -qE "^birth_date +exact +0\.[0-9]+ +0\.[0-9]+ +\+" "$out" || fail "match train prints no table"
"$JOINERY" match train >"$E2E_DIR/params2.yaml" || fail "match train to stdout failed"
diff "$E2E_DIR/params.yaml" "$E2E_DIR/params2.yaml" >/dev/null || fail "match train is not reproducible"
"$JOINERY" match train --seed 7 --sample 5000 >"$E2E_DIR/params3.yaml" || fail "match train --seed failed"
rc=0
diff "$E2E_DIR/params.yaml" "$E2E_DIR/params3.yaml" >/dev/null || rc=$?
[[ $rc -eq 1 ]] || fail "--seed/--sample: diff exited $rc (1: the parameters differ, as they should)"
ok "match train on 300 residents: m > u at every EXACT level, valid YAML for review, reproducible"

# The hub takes what match train wrote, and the built-in defaults in the same form.
for params in params.yaml defaults.yaml; do
    [[ $params == defaults.yaml ]] && { "$JOINERY" match defaults >"$E2E_DIR/defaults.yaml" || fail "match defaults failed"; }
    cat "$E2E_DIR/hub.yaml" "$E2E_DIR/$params" >"$E2E_DIR/trained.yaml"
    "$JOINERYD" --check-config "$E2E_DIR/trained.yaml" >"$out" 2>&1 || { cat "$out"; fail "the hub refuses $params"; }
done
sed 's/^\( *"exact": *{m: \)[0-9.e-]*/\10.5/' "$E2E_DIR/defaults.yaml" >"$E2E_DIR/broken.yaml"
cat "$E2E_DIR/hub.yaml" "$E2E_DIR/broken.yaml" >"$E2E_DIR/trained.yaml"
expect_fail 1 "must add up to 1" "$JOINERYD" --check-config "$E2E_DIR/trained.yaml"
ok "the hub's configuration takes match train's parameters and match defaults, and refuses m that do not add up to 1"

# master_data.matching.parameters_file: the hub loads the reviewed file, and says so.
params_cfg() {
    cat "$E2E_DIR/hub.yaml"
    printf 'master_data:\n  matching:\n    parameters_file: %s\n' "$1"
}
params_cfg "$E2E_DIR/params.yaml" >"$E2E_DIR/withfile.yaml"
"$JOINERYD" --check-config "$E2E_DIR/withfile.yaml" >"$out" 2>&1 || { cat "$out"; fail "the hub refuses parameters_file params.yaml"; }
params_cfg "$E2E_DIR/nowhere.yaml" >"$E2E_DIR/nofile.yaml"
expect_fail 1 "the matching parameters file $E2E_DIR/nowhere.yaml: cannot read" "$JOINERYD" --check-config "$E2E_DIR/nofile.yaml"
params_cfg "$E2E_DIR/broken.yaml" >"$E2E_DIR/badfile.yaml"
expect_fail 1 "broken.yaml:" "$JOINERYD" --check-config "$E2E_DIR/badfile.yaml"
expect_fail 1 "must add up to 1" "$JOINERYD" --check-config "$E2E_DIR/badfile.yaml"
"$PY" - "$E2E_DIR/params.yaml" "$E2E_DIR/partial.yaml" <<'PY' || fail "cannot write a parameters file without one field"
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
del doc["master_data"]["matching"]["fields"]["email"]
yaml.safe_dump(doc, open(sys.argv[2], "w"))
PY
params_cfg "$E2E_DIR/partial.yaml" >"$E2E_DIR/partialfile.yaml"
expect_fail 1 "'email' is missing" "$JOINERYD" --check-config "$E2E_DIR/partialfile.yaml"
stop_hub
start_hub "$E2E_DIR/withfile.yaml"
sum=$("$PY" -c '
import sys
h = 0xcbf29ce484222325
for b in open(sys.argv[1], "rb").read():
    h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
print("%016x" % h)' "$E2E_DIR/params.yaml")
log_has "$E2E_DIR/hub.log" "matching parameters: $E2E_DIR/params.yaml \\(fnv1a-64 $sum\\)" ||
    { grep "matching parameters" "$E2E_DIR/hub.log" >&2; fail "the hub does not log the parameters file it loaded"; }
ok "parameters_file: loaded and logged with its checksum; a missing, wrong or partial file stops the hub with the reason"

stop_hub
echo "test_cli_master: ok ($checks checks)"
