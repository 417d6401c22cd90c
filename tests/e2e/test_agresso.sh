#!/usr/bin/env bash
# joinery-agresso end to end (issue 19): a real joineryd, a real joinery-agresso, real files in
# real directories, and social care as a raw Python client (pyjoinery). agresso_check.py writes
# the files and plays social care.
#   (a) 50 customers with 2 bad rows (29 February 2023, an impossible postcode): 48 golden
#       records, the report names lines and columns, the file in done/
#   (b) the same file dropped again: not applied again (the journal unchanged)
#   (c) a binary file and a CSV with the wrong header: failed/, each with a report
#   (d) a file written slowly, its writer holding it open: not taken before it is complete
#   (e) a golden-record change for a customer: a customer import file in Agresso's own id; a
#       care package: a GL07 file, field by field; an unmappable one dead-lettered
#   (f) kill -9 in the middle of a 2,000-row file, restart: every row journaled exactly once,
#       the file in done/, one ledger line
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

AGRESSO="$JOINERY_BUILD_DIR/adapters/agresso/joinery-agresso"
[[ -x $AGRESSO ]] || fail "$AGRESSO not built"
CHECK=("$PY" "$E2E_SRC/agresso_check.py")

db=$(fresh_db e2e_agresso)
port=$(free_port)
in="$E2E_DIR/in" out="$E2E_DIR/out" stage="$E2E_DIR/stage"
mkdir -p "$in" "$out" "$stage"
cat >"$E2E_DIR/hub.yaml" <<YAML
hub:
  listen: tcp://127.0.0.1:$port
  data_dir: $E2E_DIR/data
  heartbeat_ms: 5000  # the Python client sends no heartbeats while busy
database:
  conninfo: "$db"
security:
  curve: false
adapters:
  - name: agresso
    publish: ["person.*"]
    subscribe: ["person.*", "case.*"]
  - name: socialcare
    publish: ["person.*", "case.*"]
    subscribe: ["person.*"]
delivery:
  max_attempts: 1
YAML
cat >"$E2E_DIR/agresso.yaml" <<YAML
hub:
  endpoint: tcp://127.0.0.1:$port
  adapter: agresso
log:
  level: info
inbound:
  dir: $in
  delimiter: ","
  stable_ms: 300
  rescan_ms: 500
outbound:
  dir: $out
  customer_file_prefix: CUST
gl07:
  interface: BI
  voucher_type: GL
  client: LC
  account: "9110"
  cost_centre: SC100
  batch_prefix: JNY
YAML

# The configuration is checked, and a wrong one refused with its file and line.
"$AGRESSO" --config "$E2E_DIR/agresso.yaml" --check-config >/dev/null ||
    fail "--check-config refused a valid file"
sed 's/^  stable_ms: 300/  stabel_ms: 300/' "$E2E_DIR/agresso.yaml" >"$E2E_DIR/bad.yaml"
expect_fail 1 "bad.yaml:[0-9]+: unknown key 'stabel_ms' in 'inbound'" \
    "$AGRESSO" --config "$E2E_DIR/bad.yaml" --check-config
sed 's/^  delimiter: ","/  delimiter: colon/' "$E2E_DIR/agresso.yaml" >"$E2E_DIR/bad.yaml"
expect_fail 1 "bad.yaml:[0-9]+: 'inbound.delimiter' is 'colon'" \
    "$AGRESSO" --config "$E2E_DIR/bad.yaml" --check-config

start_hub "$E2E_DIR/hub.yaml"
AGRESSO_PID=""
start_agresso() {
    local n
    n=$(($(log_count "$E2E_DIR/agresso.log" "ready: watching") + 1))
    "$AGRESSO" --config "$E2E_DIR/agresso.yaml" >>"$E2E_DIR/agresso.log" 2>&1 &
    AGRESSO_PID=$!
    wait_for 30 "joinery-agresso to be ready" log_has "$E2E_DIR/agresso.log" "ready: watching" "$n"
}
start_agresso

q() { psql_db "$db" "$1"; }
journaled() { q "SELECT count(*) FROM journal WHERE source = 'agresso' AND type = 'person.updated'"; }
# drop NAME: moves a file from the staging directory in, as a complete file arrives.
drop() { mv "$stage/$1" "$in/$1"; }
is_file() { [[ -f $1 ]]; }

# (a) 50 customers, 2 bad rows.
"${CHECK[@]}" customers "$stage/customers-1.csv" 50 12:dob 31:postcode >/dev/null
cp "$stage/customers-1.csv" "$E2E_DIR/customers-1.copy"
drop customers-1.csv
wait_for 60 "customers-1.csv in done/" is_file "$in/done/customers-1.csv"
[[ $(journaled) == 48 ]] || fail "48 customers journaled, not $(journaled)"
[[ $(q "SELECT count(DISTINCT master_id) FROM xref WHERE system = 'agresso'") == 48 ]] ||
    fail "48 golden records for Agresso's customers"
"${CHECK[@]}" report "$in/done/customers-1.csv.errors.csv" 12:date_of_birth 31:postcode
grep -q "2023-02-29" "$in/done/customers-1.csv.errors.csv" || fail "the report lacks the bad date"
[[ ! -e $in/customers-1.csv ]] || fail "customers-1.csv still in the inbound directory"
[[ $(wc -l <"$in/.joinery-ledger") == 1 ]] || fail "one ledger line after the first file"
log_has "$E2E_DIR/agresso.log" "customers-1.csv: 48 customers taken, 2 rows refused" ||
    fail "the log does not say 48 taken, 2 refused"
echo "ok - (a) 48 of 50 customers taken, lines 12 and 31 reported"

# (b) The same file again: recognised by the ledger, nothing published.
cp "$E2E_DIR/customers-1.copy" "$stage/customers-1.csv"
seq_before=$(q "SELECT max(seq) FROM journal")
drop customers-1.csv
wait_for 30 "the second customers-1.csv in done/" is_file "$in/done/customers-1.csv.1"
[[ $(journaled) == 48 && $(q "SELECT max(seq) FROM journal") == "$seq_before" ]] ||
    fail "the file dropped again changed the journal"
log_has "$E2E_DIR/agresso.log" "customers-1.csv: applied before" || fail "no 'applied before' line"
echo "ok - (b) the same file again is not applied again"

# (c) Not customer files: a binary file, a CSV with the wrong header.
# A gzip'd export, as someone might drop by mistake: a NUL in its fifth byte.
{ printf '\x1f\x8b\x08\x00\x00'; head -c 3000 /dev/urandom; } >"$stage/export.bin"
printf 'supplier_id,name,vat_reg_no\r\nS-1,Acme Care,GB123\r\n' >"$stage/suppliers.csv"
drop export.bin
drop suppliers.csv
wait_for 30 "export.bin in failed/" is_file "$in/failed/export.bin.errors.csv"
wait_for 30 "suppliers.csv in failed/" is_file "$in/failed/suppliers.csv.errors.csv"
[[ -f $in/failed/export.bin && -f $in/failed/suppliers.csv ]] || fail "the files are not in failed/"
grep -q "header row cannot be read" "$in/failed/export.bin.errors.csv" ||
    fail "the binary file's report does not say why"
grep -q "'supplier_id', which is not a customer-master column" "$in/failed/suppliers.csv.errors.csv" ||
    fail "the wrong header's report does not say why"
[[ $(journaled) == 48 ]] || fail "the refused files published something"
echo "ok - (c) a binary file and a wrong header go to failed/ with a report"

# (d) A file written slowly: the half written is never taken.
"${CHECK[@]}" slow "$in/slow.csv" 10 2.5 "$in/done" >/dev/null
wait_for 30 "slow.csv in done/" is_file "$in/done/slow.csv"
[[ ! -e $in/done/slow.csv.errors.csv ]] || { cat "$in/done/slow.csv.errors.csv" >&2; fail "the slow file had refused rows (read half-written?)"; }
echo "ok - (d) a file still being written is taken only when complete"

# (e) Social care: a golden-record change for C-1007, a care package, an unmappable one.
"${CHECK[@]}" socialcare "tcp://127.0.0.1:$port" "$db" "$out"
echo "ok - (e) customer import and GL07 files"

# (f) kill -9 in the middle of 2,000 rows, then a restart.
"${CHECK[@]}" customers "$stage/big.csv" 2000 >/dev/null
sha=$(sha256sum "$stage/big.csv" | cut -c1-32)
of_big() { q "SELECT count(*) FROM journal WHERE source = 'agresso' AND event_id LIKE 'agr-$sha-%'"; }
some_of_big() { [[ $(of_big) -gt 0 ]]; }
drop big.csv
wait_for 60 "rows of big.csv journaled" some_of_big
kill -KILL "$AGRESSO_PID"
rc=0
{ wait "$AGRESSO_PID"; } 2>/dev/null || rc=$?
[[ $rc -eq 137 ]] || fail "joinery-agresso killed with SIGKILL exited with status $rc"
at_kill=$(of_big)
[[ -f $in/big.csv && ! -e $in/done/big.csv ]] || fail "big.csv was finished before the kill"
echo "killed with $at_kill of 2000 rows journaled"
start_agresso
wait_for 60 "big.csv in done/" is_file "$in/done/big.csv"
[[ $(of_big) == 2000 ]] || fail "big.csv: $(of_big) rows journaled, not 2000"
[[ $(q "SELECT count(*) FROM journal WHERE event_id LIKE 'agr-$sha-%' GROUP BY event_id HAVING count(*) > 1") == "" ]] ||
    fail "a row of big.csv was journaled twice"
[[ $(grep -c "big.csv" "$in/.joinery-ledger") == 1 ]] || fail "big.csv is not once in the ledger"
log_has "$E2E_DIR/agresso.log" "big.csv: 2000 customers taken, 0 rows refused" ||
    fail "the restarted adapter did not count all 2000 rows as taken (DUPLICATE is success)"
echo "ok - (f) after kill -9 and a restart, every row exactly once"

kill -TERM "$AGRESSO_PID"
rc=0
wait "$AGRESSO_PID" || rc=$?
[[ $rc -eq 0 ]] || fail "joinery-agresso exited with status $rc on SIGTERM, not 0"
stop_hub
grep "counters:" "$E2E_DIR/agresso.log" | tail -n1
echo "test_agresso: ok"
