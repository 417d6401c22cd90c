#!/usr/bin/env bash
# The operator tool against a real hub with CurveZMQ: keygen, publish (JSON
# and synthetic), tail, status, and failures that exit non-zero with the
# reason on stderr.
source "$(dirname "$0")/lib.sh"

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

"$JOINERY" --adapter socialcare tail 'crm.*' --subscription cli --count 3 --timeout 30000 \
    >"$E2E_DIR/tail.out" 2>"$E2E_DIR/tail.err" &
tail_pid=$!
sleep 1
out=$(echo '{"type": "crm.service_request.created", "source_record_id": "SR-1",
             "payload": {"category": "waste/missed-bin"}}' | "$JOINERY" --adapter crm publish)
"$PY" -c 'import json,sys; c=json.loads(sys.argv[1]); assert c["status"]=="OK" and c["seq"]>0, c' "$out" ||
    fail "publish printed $out"
"$JOINERY" --adapter crm publish --type crm.contact.updated --count 2 --entities 1 >"$E2E_DIR/pub.out" ||
    fail "synthetic publish failed: $(cat "$E2E_DIR/pub.out")"
wait $tail_pid || fail "tail failed: $(cat "$E2E_DIR/tail.err")"
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

# Failures: non-zero exit, reason on stderr.
if "$JOINERY" --adapter crm publish >"$E2E_DIR/bad.out" 2>"$E2E_DIR/bad.err" <<<'{"type": "case.referral.created", "source_record_id": "R-1"}'; then
    fail "a refused publish exited 0"
fi
grep -q "may not publish" "$E2E_DIR/bad.out" "$E2E_DIR/bad.err" || fail "refusal reason not shown"
if "$JOINERY" --adapter crm status >/dev/null 2>"$E2E_DIR/st.err"; then fail "non-operator status exited 0"; fi
grep -qi "operator" "$E2E_DIR/st.err" || fail "status refusal not explained: $(cat "$E2E_DIR/st.err")"
if "$JOINERY" --adapter stranger status >/dev/null 2>"$E2E_DIR/k.err"; then fail "missing key exited 0"; fi
[[ -s "$E2E_DIR/k.err" ]] || fail "missing key: nothing on stderr"
stop_hub
echo "test_cli: ok"
