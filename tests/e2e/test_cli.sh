#!/usr/bin/env bash
# The operator tool against a real hub with CurveZMQ: keygen, publish (JSON
# and synthetic), tail, status, and failures that exit non-zero with the
# reason on stderr.
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

db=$(fresh_db e2e_cli)
port=$(free_port)
keys="$E2E_DIR/keys"
for n in hub crm socialcare ops; do "$JOINERY" keygen "$n" --dir "$keys" >/dev/null; done
[[ $(stat -c %a "$keys/crm.key") == 600 ]] || fail "secret key is not mode 600"
[[ $(wc -c <"$keys/crm.pub") -eq 41 ]] || fail "public key is not 40 Z85 characters + newline"
cat >"$E2E_DIR/hub.yaml" <<YAML
hub:
  listen: tcp://127.0.0.1:$port
  data_dir: $E2E_DIR/data
database:
  conninfo: "$db"
security:
  curve: true
  hub_key_file: keys/hub.key
adapters:
  - name: crm
    public_key_file: keys/crm.pub
    publish: ["crm.*"]
  - name: socialcare
    public_key_file: keys/socialcare.pub
    subscribe: ["crm.*"]
  - name: ops
    public_key_file: keys/ops.pub
    subscribe: ["*"]
    operator: true
YAML
start_hub "$E2E_DIR/hub.yaml"
export JOINERY_ENDPOINT="tcp://127.0.0.1:$port" JOINERY_KEYS="$keys"

# subscribed NAME: the operator's status shows subscription NAME connected.
subscribed() {
    "$JOINERY" --adapter ops status >"$E2E_DIR/status.json" &&
        "$PY" -c 'import json,sys; s=json.load(open(sys.argv[1]))
sys.exit(0 if [x for x in s["subscriptions"] if x["subscription"] == sys.argv[2] and x["connected"]] else 1)' \
            "$E2E_DIR/status.json" "$1"
}

"$JOINERY" --adapter socialcare tail 'crm.*' --subscription cli --count 3 --timeout 30000 \
    >"$E2E_DIR/tail.out" 2>"$E2E_DIR/tail.err" &
tail_pid=$!
# A new subscription starts after the newest event: publish only once it is open.
wait_for 30 "the tail's subscription to be open" subscribed cli
out=$(echo '{"type": "crm.service_request.created", "source_record_id": "SR-1",
             "payload": {"category": "waste/missed-bin"}}' | "$JOINERY" --adapter crm publish)
"$PY" -c 'import json,sys; c=json.loads(sys.argv[1]); assert c["status"]=="OK" and c["seq"]>0, c' "$out" ||
    fail "publish printed $out"
"$JOINERY" --adapter crm publish --type crm.contact.updated --count 2 --entities 1 >"$E2E_DIR/pub.out" ||
    fail "synthetic publish failed: $(cat "$E2E_DIR/pub.out")"
wait_exit $tail_pid "joinery tail ($(cat "$E2E_DIR/tail.err"))"
[[ $(wc -l <"$E2E_DIR/tail.out") -eq 3 ]] || fail "tail printed $(wc -l <"$E2E_DIR/tail.out") lines"
"$PY" - "$E2E_DIR/tail.out" <<'PY' || fail "tail output"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert lines[0]["type"] == "crm.service_request.created" and lines[0]["source"] == "crm", lines[0]
assert json.loads(lines[0]["payload"])["category"] == "waste/missed-bin", lines[0]
assert [l["type"] for l in lines[1:]] == ["crm.contact.updated"] * 2, lines
assert lines[0]["seq"] < lines[1]["seq"] < lines[2]["seq"]
PY

status=$("$JOINERY" --adapter ops status)
"$PY" -c 'import json,sys; s=json.loads(sys.argv[1]); subs=[x for x in s["subscriptions"] if x["subscription"]=="cli"]; assert subs and s["head_seq"]>=3, s' "$status" ||
    fail "status: $status"

# Failures: exit status 1, and the reason.
expect_fail 1 "adapter 'crm' may not publish 'case.referral.created'" \
    "$JOINERY" --adapter crm publish <<<'{"type": "case.referral.created", "source_record_id": "R-1"}'
expect_fail 1 "adapter 'crm' is not an operator" "$JOINERY" --adapter crm status
expect_fail 1 "cannot open key file $keys/stranger.key" "$JOINERY" --adapter stranger status
stop_hub
echo "test_cli: ok"
