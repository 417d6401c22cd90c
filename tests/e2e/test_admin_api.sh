#!/usr/bin/env bash
# The admin HTTP API (issue 20, first slice; docs/operations.md "Admin API"),
# against a real joineryd over CurveZMQ and a real PostgreSQL; the HTTP
# checks are in admin_check.py (urllib), one phase per call, the hub
# restarted between.
#
#  - every endpoint; authentication (no token, a wrong token: 401; a read
#    token replaying, discarding, deleting: 403; no token in any body) and
#    bad parameters (400 with a reason);
#  - dead-letter replay: a subscriber rejects an event (dead letter), is
#    "fixed", the event is replayed through the API and delivered exactly
#    once, and not again after a restart; discard keeps an audit row;
#  - events waiting per subscription (not journal positions), delete a
#    subscription; a replay for a subscription that is behind the window
#    skips none of the events it has still to receive;
#  - /metrics accepted by promtool (Debian's prometheus package: without it
#    the test fails), and the stored counts survive a restart;
#  - --check-config refuses a non-loopback listen without tokens, and a
#    token file others can read;
#  - TLS: with admin.tls (a self-signed certificate made here by openssl) the
#    API answers over HTTPS, verified against that certificate, and not over
#    plain HTTP; a key file others can read is refused.
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

PROMTOOL=$(command -v promtool || true)
[[ -n $PROMTOOL ]] || fail "promtool not found: install Debian's prometheus (deploy/install-deps.sh)"

db=$(fresh_db e2e_admin_api)
port=$(free_port)
aport=$(free_port)
make_keys "$E2E_DIR/keys" hub crm socialcare ops
printf 'operator-token-fedcba9876543210\n' >"$E2E_DIR/keys/operator.token"
chmod 600 "$E2E_DIR/keys/operator.token"
write_config() { # FILE LISTEN TOKENS(yes|no)
    cat >"$1" <<YAML
hub:
  listen: tcp://127.0.0.1:$port
  data_dir: $E2E_DIR/data
  heartbeat_ms: 5000  # the Python clients send no heartbeats while busy
database:
  conninfo: "$db"
security:
  curve: true
  hub_key_file: keys/hub.key
delivery:
  window_events: 64  # so a subscription can fall behind it (admin_check.py behind_the_window)
adapters:
  - name: crm
    public_key_file: keys/crm.pub
    publish: ["crm.*", "probe.*"]
    subscribe: ["probe.*"]
  - name: socialcare
    public_key_file: keys/socialcare.pub
    publish: ["probe.*"]
    subscribe: ["crm.*", "probe.*"]
  - name: ops
    public_key_file: keys/ops.pub
    operator: true
admin:
  enabled: true
  listen: $2
YAML
    if [[ $3 == yes ]]; then
        cat >>"$1" <<YAML
  tokens:
    - name: reader
      token: reader-token-0123456789abcdef
      role: read
    - name: operator
      token_file: keys/operator.token
      role: operate
YAML
    fi
}

# --check-config: no tokens and a listen others can reach is refused.
write_config "$E2E_DIR/open.yaml" "0.0.0.0:$aport" no
expect_fail 1 "not a loopback address, and admin.tokens is empty" "$JOINERYD" --check-config "$E2E_DIR/open.yaml"
write_config "$E2E_DIR/open-tokens.yaml" "0.0.0.0:$aport" yes
"$JOINERYD" --check-config "$E2E_DIR/open-tokens.yaml" >/dev/null ||
    fail "--check-config: a non-loopback listen with tokens is valid"
chmod 644 "$E2E_DIR/keys/operator.token"
expect_fail 1 "admin token file .* is readable by group or others" "$JOINERYD" --check-config "$E2E_DIR/open-tokens.yaml"
chmod 600 "$E2E_DIR/keys/operator.token"

write_config "$E2E_DIR/hub.yaml" "127.0.0.1:$aport" yes
check() { "$PY" "$E2E_SRC/admin_check.py" "$1" "tcp://127.0.0.1:$port" "$E2E_DIR/keys" "$db" "http://127.0.0.1:$aport"; }

start_hub "$E2E_DIR/hub.yaml"
log_has "$E2E_DIR/hub.log" "admin API listening on 127.0.0.1:$aport" || fail "the admin API is not announced"
check first
"$PROMTOOL" check metrics <"$E2E_DIR/metrics.txt" >"$E2E_DIR/promtool.out" 2>&1 || {
    cat "$E2E_DIR/promtool.out" >&2
    fail "promtool check metrics refused /metrics"
}
echo "ok - promtool check metrics accepts /metrics"
stop_hub
start_hub "$E2E_DIR/hub.yaml"
check after_restart
stop_hub
log_has "$E2E_DIR/hub.log" "dead letter [0-9]+ .* replayed by operator" || fail "no replay in the log"

# TLS.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$E2E_DIR/keys/admin.key" \
    -out "$E2E_DIR/keys/admin.crt" >"$E2E_DIR/openssl.out" 2>&1 || fail "openssl could not make a certificate"
cp "$E2E_DIR/hub.yaml" "$E2E_DIR/tls.yaml"
printf '  tls:\n    cert_file: keys/admin.crt\n    key_file: keys/admin.key\n' >>"$E2E_DIR/tls.yaml"
chmod 644 "$E2E_DIR/keys/admin.key"
expect_fail 1 "admin.tls.key_file .* is readable by group or others" "$JOINERYD" --check-config "$E2E_DIR/tls.yaml"
chmod 600 "$E2E_DIR/keys/admin.key"
start_hub "$E2E_DIR/tls.yaml"
log_has "$E2E_DIR/hub.log" "admin API listening on 127.0.0.1:$aport with TLS" || fail "TLS is not announced"
ADMIN_CAFILE="$E2E_DIR/keys/admin.crt" "$PY" "$E2E_SRC/admin_check.py" tls "tcp://127.0.0.1:$port" \
    "$E2E_DIR/keys" "$db" "https://127.0.0.1:$aport"
stop_hub
log_has "$E2E_DIR/hub.log" "discarded by operator: sent twice" || fail "no discard in the log"
if grep -qE "reader-token|operator-token" "$E2E_DIR/hub.log"; then
    fail "a token is in the hub's log"
fi
echo "test_admin_api: ok"
