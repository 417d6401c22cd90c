#!/usr/bin/env bash
# Reloading the configuration without a restart (issue 20; docs/operations.md
# "Reloading the configuration"): a real joineryd over CurveZMQ with its admin
# API, a real PostgreSQL, raw protocol clients (pyjoinery); the scenario is in
# reload_check.py:
#
#  - SIGHUP adding adapter b (it connects and publishes at once, and a's
#    subscription made before receives it) and changing a's permissions (a
#    publish allowed before is refused with the permission reason, one refused
#    before is accepted, a's session kept);
#  - SIGHUP removing b: its session is closed with a GOODBYE saying why, its
#    HELLO on the open connection and a new connection with its key refused;
#  - a file with a syntax error and one changing database.conninfo refused
#    with their reasons, nothing applied (a as before, b still refused);
#  - POST /api/v1/reload: no token 401, a read token 403, an operate token
#    200 with what changed (b back, a's key changed: a's session closed, its
#    old key refused, the new one welcome); 422 with the reasons for a bad
#    file and a conninfo change;
#  - `joinery reload`: 403 and 422 exit 1 with the reason, an applied reload
#    exit 0 printing what changed;
#  - SIGHUP narrowing a's subscribe permissions (its session, holding a
#    subscription they no longer cover, is closed; the subscription refused)
#    and making b a subscriber of person.changed (the master-data engine is
#    rebuilt, and b receives the person.changed of a's person event);
#  - one log line per reload, applied or refused, checked here and by the
#    checker; a restart with the last file then starts as it ran.
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

db=$(fresh_db e2e_reload)
port=$(free_port)
aport=$(free_port)
make_keys "$E2E_DIR/keys" hub a a2 b ops
printf 'reader-token-0123456789abcdef\n' >"$E2E_DIR/keys/reader.token"
printf 'operator-token-fedcba9876543210\n' >"$E2E_DIR/keys/operator.token"
chmod 600 "$E2E_DIR/keys/"*.token

check() { # MODE [HUB_PID]
    "$PY" "$E2E_SRC/reload_check.py" "$1" "tcp://127.0.0.1:$port" "$E2E_DIR/keys" "$db" \
        "http://127.0.0.1:$aport" "${2:-0}" "$JOINERY"
}
check write
"$JOINERYD" --check-config "$E2E_DIR/hub.yaml" >/dev/null || fail "the starting configuration is not valid"
start_hub "$E2E_DIR/hub.yaml"
check run "$HUB_PID"

# The log: one line per reload. Applied: three SIGHUPs, the API's, the CLI's.
# Refused: by SIGHUP a syntax error and a conninfo change; by the API a
# conninfo change and a syntax error; by the CLI a syntax error and a
# conninfo change.
log="$E2E_DIR/hub.log"
[[ $(log_count "$log" "configuration reloaded from .*hub.yaml") -eq 5 ]] ||
    fail "expected 5 applied reloads in the log, got $(log_count "$log" "configuration reloaded")"
[[ $(log_count "$log" "configuration reload \(.*\) refused, nothing applied") -eq 6 ]] ||
    fail "expected 6 refused reloads in the log, got $(log_count "$log" "refused, nothing applied")"
[[ $(log_count "$log" "\(SIGHUP\) refused, nothing applied: database.conninfo changed: needs a restart") -eq 1 ]] ||
    fail "the refused conninfo change by SIGHUP is not logged with its key"
[[ $(log_count "$log" "\(admin API, token operator\) refused, nothing applied: .*hub.yaml:[0-9]+") -eq 2 ]] ||
    fail "the refused syntax errors through the API are not logged with file and line"
log_has "$log" "adapter 'b' disconnected: adapter 'b' was removed from the hub's configuration" ||
    fail "b's removal is not in the log"
log_has "$log" "adapter 'a' disconnected: the Curve key of adapter 'a' was changed" ||
    fail "a's key change is not in the log"
# What each applied reload cost the core thread (a SIGHUP's includes reading the file).
sed -nE 's/.*\((SIGHUP|admin API, token [a-z]+)\): .*\(([0-9]+) us on the core thread\)$/reload by \1: \2 us on the core thread/p' "$log"
if grep -qE "reader-token|operator-token" "$log"; then
    fail "a token is in the hub's log"
fi

# The file as last applied starts the hub as it ran.
stop_hub
start_hub "$E2E_DIR/hub.yaml"
stop_hub
echo "test_reload: ok"
