#!/usr/bin/env bash
# run-soak.sh - steady mixed traffic through a private joineryd for DURATION
# seconds (default 600): person.updated through the master-data engine and
# plain order.created events, RATE events/s in all (default 2000), PEOPLE
# residents (default 50,000), three subscribers. Samples every 10 s: events/s,
# publish -> subscriber p50/p99, the hub's RSS and fds, PostgreSQL's RSS,
# pg_database_size; then a verdict on the hub's memory (plateau: under
# PLATEAU_MIB, default 16, of growth over the last third) and the database's
# growth per million events. Driver: bench/soak/soak.py (Debian's python3-zmq
# and python3-protobuf). Builds in build-bench/ (Release); leaves nothing
# running. Exit status 1 if memory did not plateau.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-600}
RATE=${RATE:-2000}
PEOPLE=${PEOPLE:-20000}
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DJOINERY_TESTS=OFF >/dev/null
cmake --build build-bench -j "$(nproc)" --target joineryd joinery_cli >/dev/null
dir=$(mktemp -d /tmp/joinery-soak.XXXXXX)
chmod 0711 "$dir"
hub=
cleanup() {
    if [ -n "$hub" ] && kill -0 "$hub" 2>/dev/null; then
        kill -TERM "$hub"
        wait "$hub" 2>/dev/null || true
    fi
    left=$(ps -eo pid=,stat=,args= | awk -v d="$dir" '$2 !~ /^Z/ && index($0, d) && !index($0, "awk")' || true)
    [ -z "$left" ] || { echo "run-soak: still running:" >&2; echo "$left" >&2; }
    rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p "$dir/keys"
for n in hub crm shop warehouse socialcare audit; do
    build-bench/adapters/cli/joinery keygen "$n" --dir "$dir/keys" >/dev/null 2>&1
done
port=$(( 20000 + RANDOM % 20000 ))
cat >"$dir/hub.yaml" <<YAML
hub:
  listen: tcp://127.0.0.1:$port
  data_dir: $dir/data
  log_level: info
security:
  curve: true
  hub_key_file: keys/hub.key
adapters:
  - name: crm
    public_key_file: keys/crm.pub
    publish: ["person.*"]
  - name: shop
    public_key_file: keys/shop.pub
    publish: ["order.*"]
  - name: warehouse
    public_key_file: keys/warehouse.pub
    subscribe: ["order.*"]
  - name: socialcare
    public_key_file: keys/socialcare.pub
    subscribe: ["person.*"]
  - name: audit
    public_key_file: keys/audit.pub
    subscribe: ["*"]
master_data:
  person:
    fields:
      name.given:    {owner: crm}
      name.family:   {owner: crm}
      birth_date:    {owner: crm}
      address.home:  {owner: crm}
      telecom.phone: {owner: crm}
    survivorship: [crm]
YAML
build-bench/hub/joineryd --config "$dir/hub.yaml" >"$dir/hub.log" 2>&1 &
hub=$!
for _ in $(seq 1 300); do
    grep -q "ready" "$dir/hub.log" && break
    sleep 0.1
done
grep -q "ready" "$dir/hub.log" || { echo "run-soak: joineryd did not start" >&2; cat "$dir/hub.log" >&2; exit 1; }
echo "machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print int($2/1048576)" GiB"}'), $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "soak: $DURATION s at $RATE events/s (half person.updated over $PEOPLE residents, half order.created), 3 subscribers"
rc=0
JOINERY_PYGEN="$dir/pygen" /usr/bin/python3 bench/soak/soak.py "tcp://127.0.0.1:$port" "$dir/keys" "$hub" \
    "$dir/data" "$DURATION" "$RATE" "$PEOPLE" || rc=$?
grep -E "error|warn" "$dir/hub.log" | head -5 || true
exit $rc
