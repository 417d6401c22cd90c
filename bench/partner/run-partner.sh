#!/usr/bin/env bash
# run-partner.sh [COUNT] - events/s mirrored to a partner on Kafka (librdkafka's
# mock cluster, tests/support/kafka_mock.c: the real protocol over loopback TCP,
# in-memory brokers) beside the durable bench (bench.durable, publisher ->
# joineryd -> subscriber), with CurveZMQ on and the hub's own private
# PostgreSQL. Every event mirrored is minimised, consent is not required, a
# disclosure row is written per event, and the partner's cursor moves only on
# Kafka's delivery reports. Builds in build-bench/ (Release) first.
#
# run-partner.sh --mirror [COUNT]: the journal mirror (mirror:, types bench.*)
# instead of a partner: every event produced as journaled (no minimisation, no
# rows) to bench.mirror, keyed by master id or source record, the journal seq
# in a header. The durable run is mirrored too, and the rate the mirror
# produced it at is printed next to it.
set -euo pipefail
cd "$(dirname "$0")/../.."
MIRROR=0
if [[ ${1:-} == --mirror ]]; then
    MIRROR=1
    shift
fi
COUNT=${1:-50000}
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER_LAUNCHER=ccache >/dev/null
cmake --build build-bench -j 2 --target joineryd bench_throughput joinery_cli kafka_mock >/dev/null
dir=$(mktemp -d /tmp/joinery-bench-partner.XXXXXX)
chmod 0711 "$dir"
trap 'exec 3>&- 2>/dev/null; kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
mkdir -p "$dir/keys"
for n in hub bench-pub bench-sub; do build-bench/adapters/cli/joinery keygen "$n" --dir "$dir/keys" >/dev/null; done
mkfifo "$dir/mock.ctl"
build-bench/tests/kafka_mock --brokers 3 --topic bench.to-partner:6 --topic bench.mirror:6 <"$dir/mock.ctl" >"$dir/mock.out" 2>&1 &
exec 3>"$dir/mock.ctl"
for _ in $(seq 1 100); do grep -q '^bootstrap ' "$dir/mock.out" && break; sleep 0.1; done
boot=$(sed -n 's/^bootstrap //p' "$dir/mock.out")
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
  - name: bench-pub
    public_key_file: keys/bench-pub.pub
    publish: ["bench.*"]
  - name: bench-sub
    public_key_file: keys/bench-sub.pub
    subscribe: ["bench.*"]
$(if [[ $MIRROR == 1 ]]; then cat <<MIRROR
mirror:
  kafka: {brokers: "$boot"}
  topic: bench.mirror
  types: ["bench.*"]
MIRROR
else cat <<PARTNER
partners:
  - name: bench
    agreement: "bench agreement"
    purpose: bench
    consent_required: false
    kafka: {brokers: "$boot"}
    outbound:
      topic: bench.to-partner
      types: ["bench.referral"]
      fields:
        joinery.v1.Referral: [referral_id, service_area, priority]
PARTNER
fi)
YAML
build-bench/hub/joineryd --config "$dir/hub.yaml" >"$dir/hub.log" 2>&1 &
hub=$!
for _ in $(seq 1 300); do
    grep -q "linked to the hub" "$dir/hub.log" && break
    sleep 0.1
done
echo "machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print int($2/1048576)" GiB"}'), $(date -u +%Y-%m-%d)"
t0=$(date +%s.%N)
build-bench/bench/bench_throughput "tcp://127.0.0.1:$port" "$dir/keys" bench.durable "$COUNT" 300
t1=$(date +%s.%N)
topic=bench.to-partner
if [[ $MIRROR == 1 ]]; then
    # The mirror carries the durable run too: the rate it produced those at,
    # against the journal's full rate just printed.
    topic=bench.mirror
    /usr/bin/python3 bench/partner/partner_load.py "tcp://127.0.0.1:$port" "$dir/keys" "$boot" "$COUNT" "$topic" 0 --durable "$t0" "$t1"
fi
/usr/bin/python3 bench/partner/partner_load.py "tcp://127.0.0.1:$port" "$dir/keys" "$boot" "$COUNT" "$topic" "${BENCH_KEYS:-5000}"
echo "hub resident memory: $(grep VmRSS /proc/$hub/status | awk '{print $2/1024 " MiB"}')"
kill -TERM $hub
wait $hub || true
echo quit >&3
