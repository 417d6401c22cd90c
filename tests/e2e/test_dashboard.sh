#!/usr/bin/env bash
# The live dashboard (issue 20; docs/operations.md "Dashboard"), in a real
# headless Chromium driven over WebDriver (chromedriver; dashboard_check.py
# speaks its HTTP protocol with urllib), against a real joineryd with the
# admin API on and a real PostgreSQL, under traffic: a publisher at a steady
# rate and a subscriber that rejects one event (a dead letter) until it is
# "fixed".
#
#  - the page and its files are served without a token, with their
#    Content-Type, Cache-Control: no-store and Content-Security-Policy
#    default-src 'self'; the API still wants one;
#  - the page asks for the token, shows the adapters with non-zero rates,
#    the dead letter and its alert; a read token's replay shows the API's
#    403; an operate token's replay (by keyboard, confirmed) delivers the
#    event exactly once;
#  - the steward worklist shows a real queue item (two systems' Brian Jones
#    with different postcodes) with both records and the evidence; an
#    operate token's decision shows the API's 403, a steward token keeps
#    the pair apart (the item decided, by that token's name); the
#    trace search (typed and submitted by keyboard) shows the dead letter;
#  - the alerts: dead letters; backlog growing (a subscription whose
#    adapter left); adapter gone (the publisher says GOODBYE);
#    database down (PostgreSQL stopped), and cleared when it is back;
#  - the page loaded nothing but this hub's own URLs;
#  - a screenshot is saved under the build tree (test-artefacts/).
# Without Chromium and chromedriver (Debian: chromium chromium-driver,
# deploy/install-deps.sh) the test fails: it does not skip.
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

CHROMIUM=$(command -v chromium || true)
CHROMEDRIVER=$(command -v chromedriver || true)
[[ -n $CHROMIUM && -n $CHROMEDRIVER ]] ||
    fail "chromium or chromedriver not found: install Debian's chromium chromium-driver (deploy/install-deps.sh)"

db=$(fresh_db e2e_dashboard)
port=$(free_port)
aport=$(free_port)
dport=$(free_port)
make_keys "$E2E_DIR/keys" hub crm socialcare
cat >"$E2E_DIR/hub.yaml" <<YAML
hub:
  listen: tcp://127.0.0.1:$port
  data_dir: $E2E_DIR/data
  heartbeat_ms: 30000  # the Python clients send no heartbeats
database:
  conninfo: "$db"
security:
  curve: true
  hub_key_file: keys/hub.key
adapters:
  - name: crm
    public_key_file: keys/crm.pub
    publish: ["crm.*", "probe.*", "person.*"]
  - name: socialcare
    public_key_file: keys/socialcare.pub
    publish: ["probe.*", "person.*"]
    subscribe: ["crm.*", "probe.*"]
admin:
  enabled: true
  listen: 127.0.0.1:$aport
  tokens:
    - name: reader
      token: reader-token-0123456789abcdef
      role: read
    - name: operator
      token: operator-token-fedcba9876543210
      role: operate
    - name: steward
      token: steward-token-0f1e2d3c4b5a6978
      role: steward
YAML

# Chromium's profile lives outside E2E_DIR: the sanitizer scan of E2E_DIR
# is for what the hub and the test programs wrote.
CHROME_PROFILE=$(mktemp -d /tmp/joinery-dashboard-chrome.XXXXXX)
make_pgctl # the "database down" alert: the check stops PostgreSQL and starts it again
E2E_ON_EXIT="$E2E_ON_EXIT; rm -rf '$CHROME_PROFILE'"
ARTEFACTS="$JOINERY_BUILD_DIR/test-artefacts"
mkdir -p "$ARTEFACTS"

start_hub "$E2E_DIR/hub.yaml"
"$CHROMEDRIVER" --port="$dport" --log-path="$CHROME_PROFILE/chromedriver.log" >"$CHROME_PROFILE/chromedriver.out" 2>&1 &
DRIVER_PID=$!
rc=0
PGCTL="$E2E_DIR/pgctl.sh" CHROMIUM="$CHROMIUM" CHROME_PROFILE="$CHROME_PROFILE" SCREENSHOT="$ARTEFACTS/dashboard.png" \
    "$PY" "$E2E_SRC/dashboard_check.py" "tcp://127.0.0.1:$port" "$E2E_DIR/keys" "$db" \
    "http://127.0.0.1:$aport" "http://127.0.0.1:$dport" || rc=$?
kill -TERM "$DRIVER_PID" 2>/dev/null || true
wait "$DRIVER_PID" 2>/dev/null || true
[[ $rc -eq 0 ]] || {
    tail -n 30 "$CHROME_PROFILE/chromedriver.log" >&2 2>/dev/null || true
    fail "dashboard_check.py failed (status $rc)"
}
stop_hub
log_has "$E2E_DIR/hub.log" "dead letter [0-9]+ .* replayed by operator" || fail "no replay by operator in the hub's log"
if grep -qE "reader-token|operator-token|steward-token" "$E2E_DIR/hub.log"; then
    fail "a token is in the hub's log"
fi
echo "test_dashboard: ok"
