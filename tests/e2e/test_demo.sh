#!/usr/bin/env bash
# The README's main command end to end (issue 19): deploy/run-demo.sh --once with this build
# (JOINERY_BUILD_DIR: no install, no build) in a temporary JOINERY_DEMO_DIR. The whole day runs
# as a user sees it: joineryd on its own private PostgreSQL, the four adapters on Curve keys,
# the simulators of the CRM, social care, Agresso and the trust (deploy/demo/council_day.py).
#   - it exits 0 within 2 minutes, having printed all six steps, and leaves nothing running
#     (no hub, adapter, simulator or PostgreSQL process of its directory)
#   - demo_check.py compares the JSON account with what the hub holds, read from the hub's
#     private PostgreSQL (started again by a hub on the demo's own configuration): every
#     event the account names is journaled, by its system, in that system's ids, for the
#     golden record it names; the hub's effects were made by the events the account says;
#     the golden records hold the new address and social care's birth date; the steward queue
#     holds the duplicate
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

demo="$E2E_DIR/demo"
account="$E2E_DIR/account.json"
start=$SECONDS
rc=0
JOINERY_DEMO_DIR=$demo JOINERY_DEMO_ACCOUNT=$account \
    bash "$JOINERY_SOURCE_DIR/deploy/run-demo.sh" --once >"$E2E_DIR/demo.out" 2>&1 || rc=$?
took=$((SECONDS - start))
cat "$E2E_DIR/demo.out"
[[ $rc -eq 0 ]] || fail "run-demo.sh --once exited with status $rc"
((took < 120)) || fail "run-demo.sh --once took ${took}s, not under 2 minutes"
echo "run-demo.sh --once: the day in ${took}s"

# Nothing of the demo's is left: no process names its directory (postgres -D, the configs).
left=$(pgrep -af -- "$demo" || true)
[[ -z $left ]] || fail "processes of the demo still running after --once: $left"
for n in 1 2 3 4 5 6; do
    grep -q "^== $n\. " "$E2E_DIR/demo.out" || fail "the account printed no step $n"
done
grep -q "^== the day went as planned" "$E2E_DIR/demo.out" || fail "the day did not say it went as planned"
grep -q "^== stopped: the adapters, joineryd and its PostgreSQL" "$E2E_DIR/demo.out" ||
    fail "run-demo.sh did not say it stopped everything"
grep -q "JOINERY_DB='host=$demo/var/joinery/pg/run" "$E2E_DIR/demo.out" ||
    fail "where-to-look-next does not give the hub's database"

# The hub's own database, as the day left it: a hub on the demo's configuration starts the
# private cluster again (and stops it when it stops).
start_hub "$demo/joinery.yaml" "$E2E_DIR/hub-after.log"
conn=$(sed -nE 's/.*private PostgreSQL cluster: psql "([^"]+)".*/\1/p' "$E2E_DIR/hub-after.log" | tail -n1)
[[ -n $conn ]] || fail "the hub did not log its private cluster's conninfo"
"$PY" "$E2E_SRC/demo_check.py" "$account" "$conn" || fail "the account does not match the hub's records"
stop_hub
left=$(pgrep -af -- "$demo" || true)
[[ -z $left ]] || fail "processes of the demo still running after the check: $left"
echo "test_demo: ok"
