#!/usr/bin/env bash
# Backup and restore of the hub's private PostgreSQL cluster, as docs/operations.md ("Backup
# and restore") tells an operator to do it:
#  - pg_dump: a hub with WAL archiving on publishes N events, is dumped while it runs, publishes
#    M more and stops. The dump restored into a fresh data directory (the hub made the cluster,
#    the database is replaced by the dump) gives a hub whose journal holds exactly the first N,
#    which it serves to a new subscriber from the beginning, and whose next event is seq N+1.
#  - PITR: a base backup taken before any event, plus the archived WAL, restored over the
#    original data directory and recovered to the end of the archive: all N+M events, served,
#    and the next is seq N+M+1. Then recovered again with recovery_target_time between the two
#    batches: exactly the first N.
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

N=25
M=15
keys=$E2E_DIR/keys
make_keys "$keys" hub crm
export JOINERY_KEYS=$keys
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
port=$(free_port)

hub_config() { # FILE DATA_DIR
    cat >"$1" <<YAML
hub:
  listen: tcp://127.0.0.1:$port
  data_dir: $2
security:
  curve: true
  hub_key_file: $keys/hub.key
adapters:
  - name: crm
    public_key_file: $keys/crm.pub
    publish: ["crm.*"]
    subscribe: ["crm.*"]
    operator: true
YAML
}

# as_owner DATA_DIR CMD...: CMD as the user the private cluster runs as (postgres when the
# test, and so the hub, runs as root), from a directory that user may enter.
as_owner() {
    local data=$1/pg/data as=()
    shift
    [[ $(id -u) -eq 0 ]] && as=(runuser -u "$(stat -c %U "$data")" --)
    (cd /tmp && "${as[@]}" "$@")
}
# cluster DATA_DIR start|stop: the private cluster without the hub, for a restore.
cluster() {
    as_owner "$1" "$pgbin/pg_ctl" -D "$1/pg/data" -l "$1/pg/postgres.log" -w -t 300 "$2" >/dev/null ||
        fail "pg_ctl $2 on $1 failed: $(tail -n 20 "$1/pg/postgres.log")"
}
conninfo() { echo "host=$1/pg/run dbname=${2:-joinery} user=joinery"; }
sql() { psql_db "$(conninfo "$1")" "$2"; }

publish() { # COUNT FIRST_RECORD
    local i batch=$E2E_DIR/batch.json
    : >"$batch"
    for ((i = $2; i < $2 + $1; i++)); do
        "$JOINERY" --endpoint "tcp://127.0.0.1:$port" --adapter crm publish <<<"{\"type\": \"crm.contact.updated\",
            \"source_record_id\": \"C-$i\", \"payload\": {\"n\": $i}}" >>"$batch" ||
            fail "publishing C-$i failed: $(tail -n 1 "$batch")"
    done
    [[ $(grep -c '"status":"OK"' "$batch") -eq $1 ]] || fail "not all $1 publishes confirmed OK"
}

# check_hub DATA_DIR COUNT: the running hub's journal holds exactly COUNT events, seq 1..COUNT,
# a new subscriber from the beginning is served C-1..C-COUNT in that order, and the next
# publish is seq COUNT+1.
check_hub() {
    local dir=$1 n=$2 got want st out
    got=$(sql "$dir" "SELECT count(*) || ' ' || coalesce(max(seq), 0) FROM journal")
    want="$n $n"
    [[ $got == "$want" ]] || fail "journal of $dir: '$got', expected '$want'"
    st=$("$JOINERY" --endpoint "tcp://127.0.0.1:$port" --adapter crm status) || fail "status failed"
    [[ $st == *"\"head_seq\":$n,"* ]] || fail "hub on $dir: head_seq is not $n: $st"
    "$JOINERY" --endpoint "tcp://127.0.0.1:$port" --adapter crm tail 'crm.*' --from-beginning \
        --subscription "check-$RANDOM" --count "$n" --timeout 20000 >"$E2E_DIR/tail.out" ||
        fail "a subscriber got $(wc -l <"$E2E_DIR/tail.out") of $n events from the restored hub"
    got=$("$PY" -c 'import json,sys; print(",".join(json.loads(l)["source_record_id"] for l in open(sys.argv[1])))' \
        "$E2E_DIR/tail.out")
    [[ $got == "$(seq -s, -f 'C-%g' 1 "$n")" ]] || fail "the subscriber was served $got"
    out=$("$JOINERY" --endpoint "tcp://127.0.0.1:$port" --adapter crm publish \
        <<<'{"type": "crm.contact.updated", "source_record_id": "NEXT", "payload": {}}') ||
        fail "publish after the restore failed: $out"
    [[ $out == *'"status":"OK"'*"\"seq\":$((n + 1)),"* ]] ||
        fail "the first event after the restore: $out (expected seq $((n + 1)))"
}

# ---- the original hub, archiving its WAL ---------------------------------------------------
a=$E2E_DIR/a
hub_config "$E2E_DIR/a.yaml" "$a"
start_hub "$E2E_DIR/a.yaml" "$E2E_DIR/hub-a.log"
archive=$E2E_DIR/wal-archive
mkdir -p "$archive"
chown "$(stat -c %U "$a/pg/data")": "$archive"
sql "$a" "ALTER SYSTEM SET archive_mode = on"
sql "$a" "ALTER SYSTEM SET archive_command = 'test ! -f $archive/%f && cp %p $archive/%f'"
stop_hub # archive_mode needs a restart
start_hub "$E2E_DIR/a.yaml" "$E2E_DIR/hub-a.log"
[[ $(sql "$a" "SHOW archive_mode") == on ]] || fail "archive_mode did not survive the hub's restart"

# The base backup, before any event; the hub keeps running.
"$pgbin/pg_basebackup" -d "$(conninfo "$a" postgres)" -D "$E2E_DIR/base" -X stream -c fast \
    >"$E2E_DIR/basebackup.log" 2>&1 || fail "pg_basebackup failed: $(cat "$E2E_DIR/basebackup.log")"

publish "$N" 1
# The dump, while the hub runs: one snapshot.
"$pgbin/pg_dump" -d "$(conninfo "$a")" -Fc -f "$E2E_DIR/joinery.dump" 2>"$E2E_DIR/pg_dump.err" ||
    fail "pg_dump failed: $(cat "$E2E_DIR/pg_dump.err")"
sleep 1.1 # commit timestamps on both sides of the recovery target, at whole-second resolution
target=$(sql "$a" "SELECT now()")
sleep 1.1
publish "$M" $((N + 1))
[[ $(sql "$a" "SELECT count(*) FROM journal") -eq $((N + M)) ]] || fail "the original journal lacks events"
# The last segment to the archive too, and wait until it is there.
last=$(sql "$a" "SELECT pg_walfile_name(pg_switch_wal())")
wait_for 60 "WAL segment $last in the archive" test -f "$archive/$last"
stop_hub

# ---- pg_dump into a fresh data directory ---------------------------------------------------
b=$E2E_DIR/b
hub_config "$E2E_DIR/b.yaml" "$b"
start_hub "$E2E_DIR/b.yaml" "$E2E_DIR/hub-b.log" # makes the cluster and the empty schema
stop_hub
cluster "$b" start
psql_db "$(conninfo "$b" postgres)" "DROP DATABASE joinery"
psql_db "$(conninfo "$b" postgres)" "CREATE DATABASE joinery"
"$pgbin/pg_restore" -d "$(conninfo "$b")" --exit-on-error --single-transaction --no-owner \
    "$E2E_DIR/joinery.dump" 2>"$E2E_DIR/pg_restore.err" || fail "pg_restore failed: $(cat "$E2E_DIR/pg_restore.err")"
cluster "$b" stop
start_hub "$E2E_DIR/b.yaml" "$E2E_DIR/hub-b.log"
check_hub "$b" "$N"
stop_hub

# ---- PITR over the original data directory -------------------------------------------------
recovered() { [[ $(sql "$1" "SELECT pg_is_in_recovery()" 2>/dev/null) == f ]]; }
# recover DATA_DIR [SETTINGS]: the base backup in place of DATA_DIR's cluster, the archive as
# its WAL, recovered without the hub (hot_standby off: no one connects before it is done).
recover() {
    local dir=$1 owner
    owner=$(stat -c %U "$dir/pg/data")
    rm -rf "$dir/pg/data"
    cp -a "$E2E_DIR/base" "$dir/pg/data"
    chown -R "$owner": "$dir/pg/data"
    chmod 0700 "$dir/pg/data"
    cat >>"$dir/pg/data/postgresql.auto.conf" <<CONF
restore_command = 'cp $archive/%f %p'
hot_standby = off
${2:-}
CONF
    as_owner "$dir" touch "$dir/pg/data/recovery.signal"
    cluster "$dir" start
    # pg_ctl -w returns once the server runs, not once it has recovered.
    wait_for 120 "the recovery of $dir to end" recovered "$dir"
    cluster "$dir" stop
    # What recovery needed, not what the hub should run with.
    as_owner "$dir" sed -i -e '/^restore_command/d' -e '/^hot_standby/d' -e '/^recovery_target/d' \
        "$dir/pg/data/postgresql.auto.conf"
}
recover "$a"
start_hub "$E2E_DIR/a.yaml" "$E2E_DIR/hub-a2.log"
check_hub "$a" $((N + M))
stop_hub

recover "$a" "recovery_target_time = '$target'
recovery_target_action = 'promote'"
start_hub "$E2E_DIR/a.yaml" "$E2E_DIR/hub-a3.log"
check_hub "$a" "$N"
stop_hub
echo "ok: pg_dump restored $N of $((N + M)) events; PITR restored all $((N + M)), and $N to a time"
