#!/usr/bin/env bash
# run-demo.sh - the main job: installs what is needed, builds, and runs the
# Joinery hub on its own private PostgreSQL with the example configuration
# (CurveZMQ on, a key pair made for the hub and every adapter). It shows the
# hub at work — a CRM service request published and received by social care,
# the hub's status — and then keeps the hub running until Ctrl-C.
#
#   JOINERY_DEMO_DIR  where keys, configuration and data live
#                     (default /var/tmp/joinery-demo; reused on the next run)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bash deploy/install-deps.sh
echo "== building (Release) in build-demo/"
cmake -S . -B build-demo -DCMAKE_BUILD_TYPE=Release -DJOINERY_TESTS=OFF >/dev/null
cmake --build build-demo -j "$(nproc)" >/dev/null
joineryd="$root/build-demo/hub/joineryd"
joinery="$root/build-demo/adapters/cli/joinery"

demo=${JOINERY_DEMO_DIR:-/var/tmp/joinery-demo}
mkdir -p "$demo/keys"
chmod 0711 "$demo" # the private cluster runs as "postgres" when we are root
cp deploy/joinery.example.yaml "$demo/joinery.yaml"
for name in hub crm socialcare agresso health ops; do
    [[ -f "$demo/keys/$name.key" ]] || "$joinery" keygen "$name" --dir "$demo/keys" >/dev/null
done
"$joineryd" --check-config "$demo/joinery.yaml"

echo "== starting joineryd (log: $demo/joineryd.log)"
"$joineryd" --config "$demo/joinery.yaml" >>"$demo/joineryd.log" 2>&1 &
hub=$!
trap 'kill -TERM $hub 2>/dev/null; wait $hub 2>/dev/null; echo "joineryd stopped"' EXIT
for _ in $(seq 1 600); do
    grep -q "ready: listening" "$demo/joineryd.log" && break
    kill -0 $hub 2>/dev/null || { tail -20 "$demo/joineryd.log"; exit 1; }
    sleep 0.1
done
grep "ready: listening" "$demo/joineryd.log" | tail -n1
export JOINERY_KEYS="$demo/keys" JOINERY_ENDPOINT=tcp://127.0.0.1:7600

echo "== social care waits for CRM service requests"
"$joinery" --adapter socialcare tail 'crm.service_request.*' --subscription demo \
    --count 1 --timeout 20000 >"$demo/tail.out" &
tail_pid=$!
sleep 1
echo "== the CRM publishes one"
echo '{"type": "crm.service_request.created", "source_record_id": "SR-1001",
       "payload": {"category": "adult-social-care/enquiry", "channel": "phone",
                   "description": "Carer asks for an assessment for her father"}}' |
    "$joinery" --adapter crm publish
wait $tail_pid
echo "== social care received:"
cat "$demo/tail.out"
echo "== hub status"
"$joinery" --adapter ops status --table || "$joinery" --adapter ops status

echo
echo "joineryd is running on tcp://127.0.0.1:7600 with its private PostgreSQL in $demo/var/joinery/pg."
echo "Keys are in $demo/keys. Try:"
echo "  JOINERY_KEYS=$demo/keys $joinery --adapter ops status"
echo "Press Ctrl-C to stop the hub."
wait $hub
