#!/usr/bin/env bash
# run-agresso.sh [ROWS] - customer rows per second through a customer-master CSV export of ROWS
# rows (default 100,000) dropped into joinery-agresso's inbound directory -> person.updated ->
# joineryd (CurveZMQ on, its private PostgreSQL with fsync and synchronous_commit on, the
# master-data engine matching and creating each golden record) -> CONFIRM -> the file moved to
# done/. Timed from the move into the directory to the file appearing in done/, which happens
# only after every row is confirmed; the file's stability check (inbound.stable_ms, 200 ms here)
# is inside that time.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS=${1:-100000}
. bench/lib.sh
bench_build joineryd joinery-agresso joinery_cli
bench_dir agresso
mkdir -p "$dir/in" "$dir/out" "$dir/stage"
bench_keys hub agresso
port=$(bench_port)
cat >"$dir/hub.yaml" <<YAML
hub:
  listen: tcp://127.0.0.1:$port
  data_dir: $dir/data
security:
  curve: true
  hub_key_file: keys/hub.key
adapters:
  - name: agresso
    public_key_file: keys/agresso.pub
    publish: ["person.*"]
    subscribe: ["person.*", "case.*"]
YAML
cat >"$dir/agresso.yaml" <<YAML
hub: {endpoint: "tcp://127.0.0.1:$port", adapter: agresso, keys_dir: $dir/keys}
inbound: {dir: $dir/in, stable_ms: 200, rescan_ms: 1000}
outbound: {dir: $dir/out}
gl07: {client: LC, account: "9110", cost_centre: SC100}
YAML
# ROWS distinct customers: names, dates of birth, postcodes and phones all vary.
python3 - "$dir/stage/customers.csv" "$ROWS" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
given = ["Ann", "Bob", "Cara", "Dev", "Ewa", "Finn", "Gita", "Hal", "Ines", "Joe", "Kit", "Lee"]
pcs = ["LS1 4AP", "LS2 7HY", "M1 1AE", "B33 8TH", "CR2 6XH", "LS6 2QT", "YO1 7HH", "EC1A 1BB"]
with open(path, "w") as f:
    f.write("customer_id,name,given_name,family_name,date_of_birth,address_line1,address_line2,"
            "town,postcode,phone,email,nhs_number\r\n")
    for i in range(n):
        g, fam = given[i % 12], "Family%d" % (i // 12)
        f.write("C-%d,%s %s,%s,%s,%04d-%02d-%02d,%d High Street,,Leeds,%s,0113 496 %04d,,\r\n" % (
            100000 + i, g, fam, g, fam, 1930 + i % 70, 1 + i % 12, 1 + i % 28, i % 500 + 1,
            pcs[i % 8], i % 10000))
PY
bench_start "$dir/hub.log" build-bench/hub/joineryd --config "$dir/hub.yaml"
hub=$started
bench_start "$dir/agresso.log" build-bench/adapters/agresso/joinery-agresso --config "$dir/agresso.yaml"
agresso=$started
bench_machine
echo "file: $ROWS rows, $(stat -c %s "$dir/stage/customers.csv") bytes"
t0=$(date +%s.%N)
mv "$dir/stage/customers.csv" "$dir/in/customers.csv"
until [[ -f $dir/in/done/customers.csv ]]; do sleep 0.02; done
t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" -v n="$ROWS" 'BEGIN { printf "%d rows in %.2f s: %.0f rows/s (drop -> every row confirmed -> done/)\n", n, b - a, n / (b - a) }'
grep "customers.csv:" "$dir/agresso.log" | tail -n1
echo "CPU seconds used: joinery-agresso $(ps -o cputime= -p "$agresso"), joineryd $(ps -o cputime= -p "$hub")"
echo "joinery-agresso peak resident memory: $(grep VmHWM /proc/$agresso/status | awk '{print $2/1024 " MiB"}')"
kill -TERM "$agresso"
wait "$agresso" || true
kill -TERM "$hub"
wait "$hub" || true
