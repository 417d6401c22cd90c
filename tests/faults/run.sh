#!/usr/bin/env bash
# The fault suite (issue 22): run.sh each|combined
#
# A private PostgreSQL cluster, a real joineryd, the four real adapters (joinery-health over
# MLLP, joinery-crm's webhook, joinery-socialcare's REST API, joinery-agresso's watched
# directory) and a subscriber (fault_subscriber, on libjoinery). traffic.py plays the four
# systems while this script injects faults:
#   each      in turn: kill -9 of the hub (also frozen with publishes in flight, and with
#             its commit stuck in PostgreSQL on a lock); kill -9 of the subscriber, and of
#             each adapter; PostgreSQL stopped with pg_ctl stop -m immediate and started
#             again; the subscriber frozen (SIGSTOP) past the heartbeat expiry, then SIGCONT;
#             the journal's disk full (a tablespace on a small tmpfs, filled, then freed);
#             every broker of the partner's Kafka cluster down, then up;
#   combined  the same faults at once: the hub and PostgreSQL together (also with a commit
#             stuck in PostgreSQL); the hub and all four adapters together; the adapters
#             killed with publishes in a frozen hub; the hub killed while the subscriber is
#             frozen; adapters and the subscriber killed and PostgreSQL restarted while the
#             disk is full; the hub killed while every Kafka broker is down.
# The hub also shares person and case changes with a partner (an NHS trust) over Kafka:
# librdkafka's mock cluster (tests/support/kafka_mock.c, 3 brokers), the real protocol.
# Between two faults the script waits for new messages to be accepted: proof that everything
# came back. Then check.py compares what the systems were told was accepted with the journal
# and with what the subscriber was given (lost = 0, duplicates = 0, per-record order), reads
# the partner's topic and does the same for it, replays the journal's source events into a
# fresh hub on a fresh database and compares the golden records field by field.
#
# FAULTS_ROUNDS (default 2 each, 3 combined) repeats the fault sequence, for a long run; FAULTS_RATE (default
# 15) is messages per second per system; FAULTS_KAFKA_DOWN_S (default 3) how long the brokers
# stay down. The full-disk faults need root (a tmpfs mount); not
# root, they are left out and the script says so.
set -euo pipefail
MODE=${1:?usage: run.sh each|combined}
# lib.sh names the test's directory after the script; this one runs in two modes.
source "$(dirname "$0")/../e2e/lib.sh" || exit 1
[[ $MODE == each || $MODE == combined ]] || fail "mode '$MODE': each or combined"
FAULTS_SRC=$(cd "$(dirname "$0")" && pwd)
# Rounds by default: each about 2 minutes on 2 cores (faults.each ~1 min a round, faults.combined
# ~40 s a round).
if [[ $MODE == each ]]; then ROUNDS=${FAULTS_ROUNDS:-2}; else ROUNDS=${FAULTS_ROUNDS:-3}; fi
# How long the disk stays full: longer than the adapters' answer timeout (3 s), so the
# webhooks' senders are told "try again" (503) while it lasts.
FULL_S=${FAULTS_FULL_S:-6}
# How long every Kafka broker stays down: librdkafka's reconnect back-off (doubling from
# 100 ms) then brings the partner back within a few seconds.
KAFKA_DOWN_S=${FAULTS_KAFKA_DOWN_S:-3}
B=$JOINERY_BUILD_DIR
SUBSCRIBER="$B/tests/faults/fault_subscriber"
MOCK="$B/tests/kafka_mock"
for prog in "$B/adapters/health/joinery-health" "$B/adapters/crm/joinery-crm" \
    "$B/adapters/socialcare/joinery-socialcare" "$B/adapters/agresso/joinery-agresso" "$SUBSCRIBER" \
    "$MOCK"; do
    [[ -x $prog ]] || fail "$prog not built"
done
# The partner's topic is read back with a Kafka client no one here wrote.
"$PY" -c 'import confluent_kafka' 2>/dev/null ||
    skip "$PY lacks confluent_kafka (Debian: python3-confluent-kafka)"
D=$E2E_DIR
echo "== faults $MODE: files in $D"

# ---- a private PostgreSQL cluster --------------------------------------------------------------
PGDIR=$D/pg
bash "$JOINERY_SOURCE_DIR/tests/support/pg-start.sh" "$PGDIR" >/dev/null
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
PG_OWNER=$(stat -c %U "$PGDIR/data")
pg_as=()
[[ $(id -u) -eq 0 ]] && pg_as=(runuser -u "$PG_OWNER" --)
pgctl() { (cd /tmp && "${pg_as[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/postgres.log" -w "$@" >/dev/null); }
admin=$(cat "$PGDIR/conninfo")
db="${admin/dbname=postgres/dbname=faults}"
replay_db="${admin/dbname=postgres/dbname=faults_replay}"
psql_db "$admin" "CREATE DATABASE faults" || fail "cannot create the database"
psql_db "$admin" "CREATE DATABASE faults_replay" || fail "cannot create the replay database"

FULL=""
cleanup_faults() {
    [[ -n $FULL ]] && { rm -f "$FULL/filler"; }
    pgctl status >/dev/null 2>&1 || pgctl start >/dev/null 2>&1
    if [[ -n $FULL ]]; then # the journal back from the tmpfs, kept for a look after a failure
        psql_db "$db" "ALTER TABLE journal SET TABLESPACE pg_default" >>"$D/cleanup.log" 2>&1 ||
            psql_db "$admin" "DROP DATABASE IF EXISTS faults WITH (FORCE)" >/dev/null 2>&1
        psql_db "$admin" "DROP TABLESPACE IF EXISTS faults_full" >/dev/null 2>&1
    fi
    pgctl stop -m fast >/dev/null 2>&1 # the data stay for a look after a failure
    if [[ -n $FULL ]]; then
        umount "$FULL" 2>/dev/null
        rmdir "$FULL" 2>/dev/null
    fi
}
E2E_ON_EXIT="cleanup_faults"

# ---- the partner's Kafka cluster: 3 brokers, the trust's topic of 4 partitions -------------------
TOPIC=council.to-trust
mkfifo "$D/mock.ctl"
"$MOCK" --brokers 3 --topic "$TOPIC:4" <"$D/mock.ctl" >"$D/mock.out" 2>"$D/mock.err" &
MOCK_PID=$!
exec 7>"$D/mock.ctl" # held open: the mock's control channel
wait_for 30 "the mock Kafka cluster's bootstrap servers" grep -q '^bootstrap ' "$D/mock.out"
BOOT=$(sed -n 's/^bootstrap //p' "$D/mock.out")
# mock_cmd CMD: a control command ("down 2", "up 2"), waiting for its answer.
mock_cmd() {
    local n0
    n0=$(log_count "$D/mock.out" '^(ok|error)')
    echo "$*" >&7
    wait_for 10 "kafka_mock to answer '$*'" log_has "$D/mock.out" '^(ok|error)' $((n0 + 1))
    ! tail -n1 "$D/mock.out" | grep -q '^error' || fail "kafka_mock: $* : $(tail -n1 "$D/mock.out")"
}
stop_mock() {
    echo quit >&7
    exec 7>&-
    wait_exit "$MOCK_PID" "kafka_mock"
}

# The full disk: the journal on a tablespace of its own on a small tmpfs.
if [[ $(id -u) -eq 0 ]]; then
    FULL=$D/full
    mkdir -p "$FULL"
    mount -t tmpfs -o size=48m,mode=0700 tmpfs "$FULL" || { FULL=""; fail "cannot mount a tmpfs"; }
    chown "$PG_OWNER" "$FULL"
else
    echo "== not root: the full-disk faults are left out (they need a tmpfs mount)"
fi

# ---- the hub ------------------------------------------------------------------------------------
port=$(free_port)
ep="tcp://127.0.0.1:$port"
hub_yaml() { # DB DATA_DIR PORT HEARTBEAT_MS [KAFKA_BROKERS]
    cat <<YAML
hub:
  listen: tcp://127.0.0.1:$3
  data_dir: $2
  heartbeat_ms: $4
  heartbeat_misses: 4
database:
  conninfo: "$1"
security:
  curve: false
adapters:
  - name: health
    publish: ["person.*", "health.*"]
  - name: crm
    publish: ["person.*", "crm.*"]
    subscribe: ["person.*"]
  - name: socialcare
    publish: ["person.*", "case.*"]
    subscribe: ["person.*", "case.*", "health.discharge"]
  - name: agresso
    publish: ["person.*"]
    subscribe: ["person.*", "case.*"]
  - name: probe
    publish: ["probe.*"]
  - name: audit
    subscribe: ["person.*", "case.*", "crm.*", "health.*"]
master_data:
  person:
    fields:
      nhs_number: {owner: health}
    survivorship: [health, socialcare, crm, agresso]
  case:
    fields:
      person: {owner: socialcare}
      status: {owner: socialcare}
YAML
    [[ -n ${5:-} ]] || return 0
    # The trust, as a council shares with it for direct care (a shared care record): person
    # and case changes, minimised to what its clinicians need (no phone numbers, NI number,
    # lead worker, closure reason...). Direct care needs no recorded consent (UK GDPR 9(2)(h)),
    # so consent_required is off and every change is sent: check.py can name what must arrive.
    cat <<YAML
partners:
  - name: trust
    agreement: "DSA-2026-014 Leeds Teaching Hospitals: shared care record"
    purpose: direct-care
    consent_required: false
    kafka:
      brokers: "$5"
      properties:
        client.id: joinery-council
    outbound:
      topic: $TOPIC
      types: ["person.changed", "case.changed"]
      fields:
        joinery.v1.PersonChanged: [master_id, version, changed_fields, person.nhs_number,
                                   person.name, person.birth_date, person.addresses]
        joinery.v1.CaseChanged: [master_id, version, changed_fields, case.person_master_id,
                                 case.status, case.opened_on, case.closed_on, case.team]
YAML
}
hub_yaml "$db" "$D/data" "$port" 500 "$BOOT" >"$D/hub.yaml"
start_hub "$D/hub.yaml" "$D/hub.log"
# Linked before any traffic, so its subscription holds every change from the first.
wait_for 30 "the partner link" log_has "$D/hub.log" "partner 'trust': linked to the hub"
if [[ -n $FULL ]]; then
    psql_db "$db" "CREATE TABLESPACE faults_full LOCATION '$FULL'" || fail "cannot create the tablespace"
    psql_db "$db" "ALTER TABLE journal SET TABLESPACE faults_full" || fail "cannot move the journal"
fi

# ---- the adapters -------------------------------------------------------------------------------
mllp_port=$(free_port) crm_port=$(free_port) sc_port=$(free_port)
mkdir -p "$D/agresso-in" "$D/agresso-out" "$D/sc-data" "$D/refused"
printf 'k3y-for-the-crm-webhook-0123456789\n' >"$D/crm.key"
printf 'k3y-for-the-case-system-0123456789\n' >"$D/sc.key"
chmod 600 "$D/crm.key" "$D/sc.key"
adapter_head() { printf 'hub:\n  endpoint: %s\n  adapter: %s\nlog:\n  level: info\n' "$ep" "$1"; }
{
    adapter_head health
    cat <<YAML
mllp:
  listen: "127.0.0.1:$mllp_port"
  max_frame_bytes: 65536
  max_connections: 16
  window: 64
trust:
  ods_code: RR8
unmapped: accept
refused_dir: $D/refused
YAML
} >"$D/health.yaml"
{
    adapter_head crm
    cat <<YAML
webhook:
  listen: "127.0.0.1:$crm_port"
  path: /dataverse/webhook
  key_header: x-joinery-key
  key_file: $D/crm.key
  max_body_bytes: 65536
  answer_timeout_ms: 3000
nhs_number_attribute: jn_nhsnumber
YAML
} >"$D/crm.yaml"
{
    adapter_head socialcare
    cat <<YAML
api:
  listen: "127.0.0.1:$sc_port"
  key_header: x-joinery-key
  key_file: $D/sc.key
  max_body_bytes: 65536
  answer_timeout_ms: 3000
discharge:
  data_dir: $D/sc-data
YAML
} >"$D/socialcare.yaml"
{
    adapter_head agresso
    cat <<YAML
inbound:
  dir: $D/agresso-in
  delimiter: ","
  stable_ms: 200
  rescan_ms: 300
outbound:
  dir: $D/agresso-out
  customer_file_prefix: CUST
gl07:
  interface: BI
  voucher_type: GL
  client: LC
  account: "9110"
  cost_centre: SC100
  batch_prefix: JNY
YAML
} >"$D/agresso.yaml"

declare -A APID READY
READY=([health]="ready: listening" [crm]="ready: listening for webhooks" \
    [socialcare]="ready: listening on port" [agresso]="ready: watching")
ADAPTERS=(health crm socialcare agresso)
start_adapter() {
    local a=$1 n
    n=$(($(log_count "$D/$a.log" "${READY[$a]}") + 1))
    "$B/adapters/$a/joinery-$a" --config "$D/$a.yaml" >>"$D/$a.log" 2>&1 &
    APID[$a]=$!
    wait_for 30 "joinery-$a to be ready" log_has "$D/$a.log" "${READY[$a]}" "$n"
}
kill_adapter() {
    local a=$1 rc=0
    kill -0 "${APID[$a]}" 2>/dev/null || fail "joinery-$a (pid ${APID[$a]}) died before it was to be killed"
    kill -KILL "${APID[$a]}"
    { wait "${APID[$a]}"; } 2>/dev/null || rc=$?
    [[ $rc -eq 137 ]] || fail "joinery-$a killed with SIGKILL exited with status $rc"
}
for a in "${ADAPTERS[@]}"; do start_adapter "$a"; done

start_subscriber() {
    local n
    n=$(($(log_count "$D/subscriber.out" "^subscribed") + 1))
    "$SUBSCRIBER" "$ep" audit all "$D/received" 'person.*' 'case.*' 'crm.*' 'health.*' \
        >>"$D/subscriber.out" 2>&1 &
    SUB=$!
    wait_for 30 "the subscriber to subscribe" log_has "$D/subscriber.out" "^subscribed" "$n"
}
start_subscriber

"$PY" "$FAULTS_SRC/traffic.py" "$D" "$mllp_port" "$crm_port" "$sc_port" "$D/agresso-in" \
    >"$D/traffic.out" 2>&1 &
TRAFFIC=$!

# ---- faults -------------------------------------------------------------------------------------
accepted_n() { [[ -e $D/accepted.jsonl ]] && wc -l <"$D/accepted.jsonl" || echo 0; }
# progress [N] [SOURCE]: waits until N (default 40) more messages are accepted (of SOURCE, if
# given): everything is back after the fault before. Everything must still be running.
progress() {
    local want=${1:-40} src=${2:-} n0 deadline=$((SECONDS + 120)) n
    count_src() { if [[ -n $src ]]; then grep -c "\"source\": \"$src\"" "$D/accepted.jsonl" 2>/dev/null || true; else accepted_n; fi; }
    n0=$(count_src)
    while :; do
        n=$(count_src)
        ((n >= n0 + want)) && break
        kill -0 "$TRAFFIC" 2>/dev/null || fail "the traffic generator exited early: $(tail -n 5 "$D/traffic.out")"
        kill -0 "$SUB" 2>/dev/null || fail "the subscriber exited early: $(cat "$D/subscriber.out")"
        ((SECONDS < deadline)) || fail "fewer than $want messages${src:+ of $src} accepted in 120 s (after: $LAST_FAULT)"
        sleep 0.1
    done
    echo "   $(accepted_n) accepted so far; $want more $((SECONDS - FAULT_AT)) s after the fault began"
}
LAST_FAULT="start" FAULT_AT=$SECONDS
fault() {
    LAST_FAULT=$* FAULT_AT=$SECONDS
    echo "== $(date +%T) $*"
}

hub_kill_restart() {
    kill_hub
    start_hub "$D/hub.yaml" "$D/hub.log"
}
pg_immediate() {
    pgctl stop -m immediate
}
# The subscriber frozen until the hub has expired its session (4 heartbeats of 500 ms missed).
# Is the subscriber in session with the hub now running, and only it? Each session logs one
# "connected" and at most one "disconnected" line, so connected minus disconnected is the number
# of audit sessions open. A killed subscriber's old session stays open until it expires, which
# can be after its successor connected: the last line alone would then say "disconnected" while
# the new session is alive. (awk reads the whole log: a pipe that stops reading early fails
# under pipefail once the log outgrows the pipe's buffer)
sub_in_session() {
    awk '/ready: listening/ { n = 0 } /adapter .audit. connected$/ { n++ }
         /adapter .audit. disconnected/ { n-- } END { exit !(n == 1) }' "$D/hub.log"
}
sub_freeze() {
    local n0
    wait_for 30 "the subscriber to be in session" sub_in_session
    n0=$(log_count "$D/hub.log" "adapter 'audit' disconnected")
    kill -STOP "$SUB"
    wait_for 30 "the hub to expire the frozen subscriber's session" \
        log_has "$D/hub.log" "adapter 'audit' disconnected" $((n0 + 1))
}
sub_thaw() { kill -CONT "$SUB"; }
# commit_blocked: another session holds a lock on the journal for LOCK_S seconds, and this
# waits until the hub's commit is stuck on it, mid-transaction (the hub's batch is in
# PostgreSQL, not committed, not confirmed). The lock's session ends by itself.
LOCK_PID=""
commit_blocked() {
    psql_db "$db" "BEGIN; LOCK TABLE journal IN EXCLUSIVE MODE; SELECT pg_sleep(${1:-3}); COMMIT;" \
        >/dev/null 2>&1 &
    LOCK_PID=$!
    wait_for 30 "the hub's commit to wait on the lock" commit_waiting
}
commit_waiting() {
    [[ $(psql_db "$db" "SELECT count(*) FROM pg_stat_activity WHERE datname = 'faults'
        AND wait_event_type = 'Lock'") -ge 1 ]]
}
lock_done() {
    wait "$LOCK_PID" 2>/dev/null || true # it fails if PostgreSQL was stopped under it
    LOCK_PID=""
}
# The subscriber killed -9 with deliveries in flight (its credit is 200), and started again.
sub_kill_restart() {
    local rc=0
    kill -KILL "$SUB"
    { wait "$SUB"; } 2>/dev/null || rc=$?
    [[ $rc -eq 137 ]] || fail "the subscriber killed with SIGKILL exited with status $rc"
    start_subscriber
}
# The hub frozen while the systems keep sending, so that publishes are in flight (received,
# perhaps in a commit, not confirmed), then killed -9 and started again.
hub_freeze_kill_restart() {
    local n0
    kill -STOP "$HUB_PID"
    # (an answer already on its way may still arrive; an Agresso file finished is 20 at once)
    n0=$(grep -vc '"agresso"' "$D/accepted.jsonl")
    sleep 1 # messages arrive at the frozen hub meanwhile (45 a second)
    [[ $(grep -vc '"agresso"' "$D/accepted.jsonl") -le $((n0 + 3)) ]] ||
        fail "messages accepted while the hub was frozen"
    kill -KILL "$HUB_PID"
    { wait "$HUB_PID"; } 2>/dev/null || true
    HUB_PID=""
    start_hub "$D/hub.yaml" "$D/hub.log"
}
# disk_full: fills the tmpfs and waits until the hub says its commits fail; the systems must
# be told "try again" meanwhile (traffic.json counts the answers).
FAILS0=0 OKS0=0 FULL_T0=0
disk_full() {
    FAILS0=$(log_count "$D/hub.log" "commits are failing")
    OKS0=$(log_count "$D/hub.log" "commits succeed again")
    # The tmpfs is made 8 MiB larger than what the journal uses now, so the filler is small
    # however long the run has grown the journal.
    mount -o remount,size=$(($(df -k --output=used "$FULL" | tail -n1) + 8192))k "$FULL" ||
        fail "cannot resize the tmpfs"
    dd if=/dev/zero of="$FULL/filler" bs=64k status=none 2>/dev/null || true
    wait_for 60 "the hub to find the disk full" log_has "$D/hub.log" "commits are failing" $((FAILS0 + 1))
    FULL_T0=$(date +%s.%N)
    "$PY" "$FAULTS_SRC/check.py" probe "$ep" || fail "the hub did not answer RETRY while the disk was full"
}
# disk_free: frees it, after checking what the systems were told while it was full: the
# webhooks' senders told 503 "try again" (the HL7 sender gets no ACK, and the Agresso file
# stays where it is, until the hub has the message). A few messages may still be accepted: a
# row that fits in a page the journal already has needs no new disk space, so a small commit
# can succeed (the checker proves each accepted one is in the journal).
disk_free() {
    local t1
    t1=$(date +%s.%N)
    "$PY" - "$D" "$FULL_T0" "$t1" <<'PY' || fail "wrong answers while the disk was full (above)"
import json, sys
d, t0, t1 = sys.argv[1], float(sys.argv[2]) + 0.5, float(sys.argv[3])
acc = [json.loads(l) for l in open(d + "/accepted.jsonl")]
during = [a for a in acc if t0 < a["t"] < t1]
told = {}
for line in open(d + "/refusals.log"):
    t, what = line.split()
    if t0 < float(t) < t1:
        told[what] = told.get(what, 0) + 1
print("   while the disk was full (%.1f s): %d accepted (in pages the journal had); told: %s" %
      (t1 - t0, len(during), told))
ok = told.get("crm.http.503") and told.get("socialcare.http.503")
sys.exit(0 if ok else 1)
PY
    rm -f "$FULL/filler"
    # room again for the journal to grow until the next full disk
    mount -o remount,size=$(($(df -k --output=used "$FULL" | tail -n1) + 65536))k "$FULL" ||
        fail "cannot resize the tmpfs"
    wait_for 120 "the hub to write again" log_has "$D/hub.log" "commits succeed again" $((OKS0 + 1))
}

# kafka_down / kafka_up: every broker of the partner's cluster down, with traffic running, then
# up. Meanwhile the hub must keep accepting and delivering to its local subscriber, and no event
# journaled for the partner after the brokers went down may count as sent (its cursor may not
# pass one: nothing can reach Kafka); afterwards the partner catches up with everything
# journaled for it while the brokers were down.
FOR_PARTNER="type IN ('person.changed', 'case.changed') AND target IN ('', 'partner:trust')"
partner_head() { # the last journal event for the partner
    psql_db "$db" "SELECT coalesce(max(seq), 0) FROM journal WHERE $FOR_PARTNER"
}
partner_between() { # FROM TO: journal events for the partner with FROM < seq <= TO
    psql_db "$db" "SELECT count(*) FROM journal WHERE seq > $1 AND seq <= $2 AND $FOR_PARTNER"
}
partner_acked() {
    psql_db "$db" "SELECT coalesce(max(acked_seq), 0) FROM subscription WHERE adapter = 'partner:trust'"
}
partner_at() { [[ $(partner_acked) -ge $1 ]]; }
received_n() { [[ -e $D/received ]] && wc -l <"$D/received" || echo 0; }
KDOWN_ACC=0 KDOWN_RECV=0 KDOWN_LOG=0 KDOWN_T=0 KDOWN_HEAD=0
kafka_down() {
    local b
    KDOWN_LOG=$(log_count "$D/hub.log" "partner 'trust': kafka ")
    for b in 1 2 3; do mock_cmd "down $b"; done
    # Every broker is down now: whatever is journaled after this cannot reach Kafka.
    KDOWN_ACC=$(accepted_n) KDOWN_RECV=$(received_n) KDOWN_T=$SECONDS KDOWN_HEAD=$(partner_head)
}
kafka_up() {
    local b acc recv head acked during sent t_up
    acc=$(($(accepted_n) - KDOWN_ACC)) recv=$(($(received_n) - KDOWN_RECV))
    head=$(partner_head) acked=$(partner_acked)
    during=$(partner_between "$KDOWN_HEAD" "$head") sent=$(partner_between "$KDOWN_HEAD" "$acked")
    ((acc >= 10)) || fail "only $acc messages accepted while every Kafka broker was down"
    ((recv >= 10)) || fail "the subscriber was given only $recv events while every Kafka broker was down"
    ((during >= 1)) || fail "no event for the partner was journaled while every Kafka broker was down"
    ((sent == 0)) || fail "$sent of the $during events for the partner journaled while every" \
        "Kafka broker was down count as sent (its cursor is at $acked, the brokers went down at $KDOWN_HEAD)"
    for b in 1 2 3; do mock_cmd "up $b"; done
    t_up=$SECONDS
    wait_for 60 "the partner to catch up to seq $head after the brokers came back" partner_at "$head"
    echo "   brokers down $((t_up - KDOWN_T)) s: $acc accepted and $recv given to the subscriber" \
        "meanwhile; $during events for the partner journaled meanwhile, none counted as sent" \
        "(its cursor at $acked); caught up $((SECONDS - t_up)) s after the brokers came back;" \
        "the hub logged $(($(log_count "$D/hub.log" "partner 'trust': kafka ") - KDOWN_LOG)) Kafka warning(s)"
}

progress 60
for ((round = 1; round <= ROUNDS; round++)); do
    echo "== round $round of $ROUNDS ($MODE)"
    if [[ $MODE == each ]]; then
        fault "kill -9 the hub"
        hub_kill_restart
        progress
        fault "the hub frozen with publishes in flight, then kill -9"
        hub_freeze_kill_restart
        progress
        fault "kill -9 the hub while its commit waits in PostgreSQL (a lock on the journal)"
        commit_blocked 3
        hub_kill_restart
        lock_done
        progress
        fault "kill -9 the subscriber with deliveries in flight"
        sub_kill_restart
        progress
        for a in "${ADAPTERS[@]}"; do
            fault "kill -9 joinery-$a"
            kill_adapter "$a"
            start_adapter "$a"
            progress 10 "$a"
        done
        fault "PostgreSQL stopped (immediate) for 2 s"
        pg_immediate
        sleep 2 # an outage of some length: the hub must wait it out, not the test
        pgctl start
        progress
        fault "the subscriber frozen past its heartbeat expiry"
        sub_freeze
        sleep 1
        sub_thaw
        progress
        if [[ -n $FULL ]]; then
            fault "the journal's disk full for $FULL_S s"
            disk_full
            sleep "$FULL_S"
            disk_free
            progress
        fi
        fault "every Kafka broker down for $KAFKA_DOWN_S s"
        kafka_down
        sleep "$KAFKA_DOWN_S"
        kafka_up
        progress
    else
        fault "kill -9 the hub and PostgreSQL stopped (immediate) at once"
        pg_immediate
        kill_hub
        sleep 1
        pgctl start
        start_hub "$D/hub.yaml" "$D/hub.log"
        progress
        fault "PostgreSQL stopped (immediate) while the hub's commit waits in it, then the hub killed -9"
        commit_blocked 30
        pg_immediate
        lock_done
        sleep 1 # the hub meets the stopped database
        kill_hub
        pgctl start
        start_hub "$D/hub.yaml" "$D/hub.log"
        progress
        fault "kill -9 the hub and all four adapters at once"
        for a in "${ADAPTERS[@]}"; do kill_adapter "$a"; done
        kill_hub
        start_hub "$D/hub.yaml" "$D/hub.log"
        for a in "${ADAPTERS[@]}"; do start_adapter "$a"; done
        progress
        fault "the hub frozen; all four adapters killed -9 with publishes in it; the hub thawed"
        kill -STOP "$HUB_PID"
        sleep 1 # the systems' messages reach the adapters and the frozen hub
        for a in "${ADAPTERS[@]}"; do kill_adapter "$a"; done
        kill -CONT "$HUB_PID" # it commits and confirms to sessions that are gone
        for a in "${ADAPTERS[@]}"; do start_adapter "$a"; done
        progress
        fault "the subscriber frozen, and the hub killed -9 meanwhile"
        sub_freeze
        hub_kill_restart
        sleep 1
        sub_thaw
        progress
        if [[ -n $FULL ]]; then
            fault "the disk full; joinery-health, joinery-agresso and the subscriber killed -9, PostgreSQL restarted meanwhile"
            disk_full
            kill_adapter health
            kill_adapter agresso
            pgctl restart -m immediate
            start_adapter health
            start_adapter agresso
            sub_kill_restart
            sleep "$FULL_S"
            disk_free
            progress
        fi
        fault "every Kafka broker down; the hub killed -9 and started again meanwhile"
        kafka_down
        sleep 1 # the hub holds records for the partner when it dies
        hub_kill_restart
        sleep "$KAFKA_DOWN_S" # the new hub starts with no broker to reach
        kafka_up
        progress
    fi
done

# ---- the end: drain, then check ----------------------------------------------------------------
fault "traffic stops; the systems' last messages are answered"
touch "$D/stop-traffic"
wait_exit "$TRAFFIC" "the traffic generator ($(tail -n 5 "$D/traffic.out"))"
cat "$D/traffic.out"
# The subscriber catches up (check.py waits for it), then everything stops cleanly.
rc=0
"$PY" "$FAULTS_SRC/check.py" events "$D" "$db" "$D/received" "$MODE" 90 || rc=$?
# The partner too (check.py waits for its topic to hold everything for it).
"$PY" "$FAULTS_SRC/check.py" partner "$D" "$db" "$BOOT" "$TOPIC" "$MODE" 90 || rc=$?
kill -TERM "$SUB"
wait_exit "$SUB" "the subscriber on SIGTERM"
for a in "${ADAPTERS[@]}"; do
    kill -TERM "${APID[$a]}"
    wait_exit "${APID[$a]}" "joinery-$a on SIGTERM"
done
stop_hub
stop_mock
[[ $rc -eq 0 ]] || fail "lost, duplicated or reordered events (above)"
"$PY" "$FAULTS_SRC/check.py" cursors "$db" "$MODE" || fail "a subscription did not catch up (above)"
if [[ -n $FULL ]]; then
    grep -qE "commits are failing.*No space left on device" "$D/hub.log" ||
        fail "the hub's log does not say the disk was full"
    # Told "try again" while the disk was full: a 503 to the webhooks, not a 4xx.
    "$PY" - "$D/traffic.json" <<'PY' || fail "the systems were not told to try again while the disk was full"
import json, sys
a = json.load(open(sys.argv[1]))["answers"]
retry = {k: v for k, v in a.items() if ".http.5" in k or ".ack.A" in k and not k.endswith(".AA") or ".error." in k}
print("   answers other than accepted: %s" % (retry or "none"))
sys.exit(0 if retry else 1)
PY
fi

# The clean replay: the journal's source events, in order, into a fresh hub and database.
fault "clean replay into a fresh hub"
rport=$(free_port)
hub_yaml "$replay_db" "$D/replay-data" "$rport" 10000 >"$D/replay.yaml" # no partner
start_hub "$D/replay.yaml" "$D/hub-replay.log"
"$PY" "$FAULTS_SRC/check.py" replay "$D" "$db" "tcp://127.0.0.1:$rport" || rc=$?
stop_hub
[[ $rc -eq 0 ]] || fail "the replay failed"
"$PY" "$FAULTS_SRC/check.py" golden "$db" "$replay_db" "$MODE" ||
    fail "the golden records differ from a clean replay of the same input"
echo "faults $MODE: ok"
