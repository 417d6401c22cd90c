#!/usr/bin/env bash
# run-demo.sh - the main job: a council's day with Joinery. Installs what is needed, builds
# (Release, in build-demo/), makes a Curve key pair for the hub and every adapter, starts
# joineryd on its own private PostgreSQL and the four adapters (joinery-crm, joinery-socialcare,
# joinery-agresso, joinery-health), then plays the day with small simulators of the council's
# systems (deploy/demo/council_day.py) and prints its account: what happened, in which system,
# in whose ids. Then it says where to look next and keeps everything running until Ctrl-C,
# when it stops it all (the hub stops its PostgreSQL).
#
#   bash deploy/run-demo.sh            the day, then keep running until Ctrl-C
#   bash deploy/run-demo.sh --once     the day, stop everything, exit 0 if it went as planned
#
#   JOINERY_DEMO_DIR   where keys, configuration, data and logs live
#                      (default /var/tmp/joinery-demo; the day starts afresh each run)
#   JOINERY_BUILD_DIR  an existing build tree (with hub/joineryd in it): use it, and skip the
#                      install and the build (the test suite runs the demo this way)
#   JOINERY_DEMO_ACCOUNT  also write the day's account as JSON here (default DEMO_DIR/account.json)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

once=0
for arg in "$@"; do
    case $arg in
    --once) once=1 ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "run-demo.sh: unknown argument '$arg' (try --help)" >&2
        exit 2
        ;;
    esac
done

demo=${JOINERY_DEMO_DIR:-/var/tmp/joinery-demo}
mkdir -p "$demo"
demo=$(cd "$demo" && pwd)
chmod 0711 "$demo" # the private cluster runs as "postgres" when we are root
account=${JOINERY_DEMO_ACCOUNT:-$demo/account.json}
tty=0
[[ -t 1 ]] && tty=1

# ---- processes, and stopping them all ------------------------------------------------------
# Everything this script starts is its own child, stopped here on any exit (Ctrl-C included):
# the progress line, the day, the adapters, then the hub, which stops its PostgreSQL.
hub=""
declare -A pid=()
day=""
monitor=""
stopping=0
stop_all() {
    local rc=$? p a bad=0
    ((stopping)) && return
    stopping=1
    set +e
    trap - INT TERM
    if [[ -n $monitor ]]; then
        kill "$monitor" 2>/dev/null
        wait "$monitor" 2>/dev/null
        printf '\r\033[K'
    fi
    if [[ -n $day ]] && kill -0 "$day" 2>/dev/null; then
        kill -TERM "$day" 2>/dev/null
        wait "$day" 2>/dev/null
    fi
    for a in "${!pid[@]}"; do kill -TERM "${pid[$a]}" 2>/dev/null; done
    for a in "${!pid[@]}"; do
        wait "${pid[$a]}" 2>/dev/null
        p=$?
        ((p == 0)) || {
            echo "joinery-$a exited with status $p (log: $demo/logs/$a.log)" >&2
            bad=1
        }
    done
    if [[ -n $hub ]]; then
        kill -TERM "$hub" 2>/dev/null
        wait "$hub" 2>/dev/null
        p=$?
        ((p == 0)) || {
            echo "joineryd exited with status $p (log: $demo/logs/joineryd.log)" >&2
            bad=1
        }
    fi
    if [[ -n $hub ]]; then
        echo "== stopped: the adapters, joineryd and its PostgreSQL"
    fi
    ((rc == 0 && bad)) && rc=1
    exit "$rc"
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# progress LABEL LOG CMD...: runs CMD (output to LOG) in the foreground, so that Ctrl-C stops
# it, while a line says how it goes: the build's percentage when CMD prints one, and the time
# taken. On failure: LOG's tail.
progress() {
    local label=$1 log=$2 start=$SECONDS rc=0
    shift 2
    if ((tty)); then
        (
            while sleep 0.5; do
                pct=$(grep -oE '^\[ *[0-9]+%\]' "$log" 2>/dev/null | tail -n1 | sed 's/[][ ]//g' || true)
                printf '\r== %s ... %s%ds ' "$label" "${pct:+$pct, }" $((SECONDS - start))
            done
        ) &
        monitor=$!
    fi
    "$@" >"$log" 2>&1 || rc=$?
    if [[ -n $monitor ]]; then
        kill "$monitor" 2>/dev/null
        wait "$monitor" 2>/dev/null || true
        monitor=""
        printf '\r\033[K'
    fi
    if ((rc != 0)); then
        echo "== $label FAILED (exit $rc); the end of $log:" >&2
        tail -n 30 "$log" >&2
        return "$rc"
    fi
    echo "== $label: done in $((SECONDS - start))s"
}

if [[ -n ${JOINERY_BUILD_DIR:-} ]]; then
    build=$(cd "$JOINERY_BUILD_DIR" && pwd)
    [[ -x $build/hub/joineryd ]] || {
        echo "run-demo.sh: JOINERY_BUILD_DIR=$build has no hub/joineryd" >&2
        exit 1
    }
    echo "== using the build in $build (JOINERY_BUILD_DIR): no install, no build"
else
    if [[ $(id -u) -eq 0 ]] || sudo -n true 2>/dev/null; then
        progress "installing what is needed (log: $demo/install.log)" "$demo/install.log" \
            bash deploy/install-deps.sh
    else # sudo will ask for a password: let it be seen
        bash deploy/install-deps.sh
    fi
    build=$root/build-demo
    progress "configuring (Release) in build-demo/" "$demo/build.log" \
        cmake -S . -B build-demo -DCMAKE_BUILD_TYPE=Release -DJOINERY_TESTS=OFF
    progress "building in build-demo/ (log: $demo/build.log)" "$demo/build.log" \
        cmake --build build-demo -j "$(nproc)"
fi
joineryd=$build/hub/joineryd
joinery=$build/adapters/cli/joinery
declare -A bin=([crm]=$build/adapters/crm/joinery-crm [socialcare]=$build/adapters/socialcare/joinery-socialcare
    [agresso]=$build/adapters/agresso/joinery-agresso [health]=$build/adapters/health/joinery-health)
for a in crm socialcare agresso health; do
    [[ -x ${bin[$a]} ]] || {
        echo "run-demo.sh: ${bin[$a]} is not built" >&2
        exit 1
    }
done
psql=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n1)/psql
[[ -x $psql ]] || psql=$(command -v psql) || {
    echo "run-demo.sh: psql not found (Debian: postgresql-client)" >&2
    exit 1
}

# A fresh day: the previous run's data and logs go; keys stay.
rm -rf "${demo:?}/var" "$demo/agresso" "$demo/logs" "$demo/secrets" "$account"
mkdir -p "$demo/keys" "$demo/logs" "$demo/var/socialcare" "$demo/agresso/in" "$demo/agresso/out" \
    "$demo/secrets"
chmod 0700 "$demo/secrets"
for name in hub crm socialcare agresso health ops; do
    [[ -f "$demo/keys/$name.key" ]] || "$joinery" keygen "$name" --dir "$demo/keys" >>"$demo/logs/keygen.log" 2>&1
done
secret() { # NAME: a random shared key in secrets/NAME, readable by us only
    (umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$demo/secrets/$1" && echo >>"$demo/secrets/$1")
}
for s in crm-webhook.key socialcare-api.key case-system.key dataverse.token admin.token; do secret "$s"; done

# The ports: each one's usual number if it is free on loopback, else any free one (all held
# open until all are chosen, so no two are the same).
declare -A P
names=(HUB_PORT CRM_PORT SC_PORT MLLP_PORT TRUST_PORT DATAVERSE_PORT CASESYS_PORT ADMIN_PORT)
read -r -a ports < <(/usr/bin/python3 - 7600 8081 8082 2575 2576 8091 8092 7680 <<'PY'
import socket, sys
held = []
for want in sys.argv[1:]:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", int(want)))
    except OSError:
        s.bind(("127.0.0.1", 0))
    held.append(s)
print(" ".join(str(s.getsockname()[1]) for s in held))
PY
)
[[ ${#ports[@]} -eq ${#names[@]} ]] || {
    echo "run-demo.sh: could not choose the demo's ports" >&2
    exit 1
}
for i in "${!names[@]}"; do P[${names[$i]}]=${ports[$i]}; done
fill() { # TEMPLATE: deploy/demo/TEMPLATE with @DEMO@ and the ports filled in, on stdout
    local args=(-e "s|@DEMO@|$demo|g") k
    for k in "${!P[@]}"; do args+=(-e "s|@$k@|${P[$k]}|g"); done
    sed "${args[@]}" "deploy/demo/$1"
}
fill joinery.yaml >"$demo/joinery.yaml"
for a in crm socialcare agresso health; do fill "$a.yaml" >"$demo/$a.yaml"; done
"$joineryd" --check-config "$demo/joinery.yaml" >/dev/null

# The write-back sides are being built in parallel (branches crm-out, sc-out): their
# configuration is added when this build takes it, and the day says plainly when it does not.
writeback=false
{ cat "$demo/crm.yaml" && fill crm-dataverse.yaml; } >"$demo/crm-full.yaml"
if "${bin[crm]}" --config "$demo/crm-full.yaml" --check-config >/dev/null 2>&1; then
    mv "$demo/crm-full.yaml" "$demo/crm.yaml" && writeback=true
else
    rm -f "$demo/crm-full.yaml"
fi
sc_outbound=false
{ cat "$demo/socialcare.yaml" && fill socialcare-outbound.yaml; } >"$demo/sc-full.yaml"
if "${bin[socialcare]}" --config "$demo/sc-full.yaml" --check-config >/dev/null 2>&1; then
    mv "$demo/sc-full.yaml" "$demo/socialcare.yaml" && sc_outbound=true
else
    rm -f "$demo/sc-full.yaml"
fi
for a in crm socialcare agresso health; do
    "${bin[$a]}" --config "$demo/$a.yaml" --check-config >/dev/null
done

# wait_log LOG REGEX PID WHAT: until LOG has REGEX, with a progress line; fails if PID exits
# first or 60 s pass.
wait_log() {
    local deadline=$((SECONDS + 60))
    until grep -qE -- "$2" "$1" 2>/dev/null; do
        kill -0 "$3" 2>/dev/null || {
            echo "$4 exited during start-up; the end of $1:" >&2
            tail -n 20 "$1" >&2
            return 1
        }
        ((SECONDS < deadline)) || {
            echo "$4 not ready after 60 s; the end of $1:" >&2
            tail -n 20 "$1" >&2
            return 1
        }
        ((tty)) && printf '\r== starting %s ... %ds ' "$4" $((SECONDS - started))
        sleep 0.1
    done
    if ((tty)); then printf '\r\033[K'; fi
}

started=$SECONDS
echo "== starting joineryd (its own PostgreSQL; the first start runs initdb) and the 4 adapters"
"$joineryd" --config "$demo/joinery.yaml" >>"$demo/logs/joineryd.log" 2>&1 &
hub=$!
wait_log "$demo/logs/joineryd.log" "ready: listening" "$hub" joineryd
conninfo=$(sed -nE 's/.*private PostgreSQL cluster: psql "([^"]+)".*/\1/p' "$demo/logs/joineryd.log" | tail -n1)
[[ -n $conninfo ]] || {
    echo "run-demo.sh: joineryd did not log its private cluster's conninfo" >&2
    exit 1
}
for a in crm socialcare agresso health; do
    "${bin[$a]}" --config "$demo/$a.yaml" >>"$demo/logs/$a.log" 2>&1 &
    pid[$a]=$!
done
for a in crm socialcare agresso health; do
    wait_log "$demo/logs/$a.log" "ready:" "${pid[$a]}" "joinery-$a"
done
echo "== joineryd and joinery-crm, -socialcare, -agresso, -health ready in $((SECONDS - started))s"

# ---- the day -----------------------------------------------------------------------------
key() { head -n1 "$demo/secrets/$1"; }
cat >"$demo/day.json" <<JSON
{"psql": "$psql", "db": "$conninfo", "joinery": "$joinery",
 "crm": {"webhook_url": "http://127.0.0.1:${P[CRM_PORT]}/webhook", "key": "$(key crm-webhook.key)",
         "key_header": "x-joinery-key", "dataverse_port": ${P[DATAVERSE_PORT]},
         "token": "$(key dataverse.token)", "writeback": $writeback},
 "socialcare": {"api_url": "http://127.0.0.1:${P[SC_PORT]}", "key": "$(key socialcare-api.key)",
                "key_header": "x-joinery-key", "outbound_port": ${P[CASESYS_PORT]},
                "outbound_key": "$(key case-system.key)", "outbound_key_header": "x-case-system-key",
                "outbound": $sc_outbound},
 "agresso": {"in_dir": "$demo/agresso/in", "out_dir": "$demo/agresso/out"},
 "trust": {"ods": "RR8", "mllp": "127.0.0.1:${P[MLLP_PORT]}", "listen_port": ${P[TRUST_PORT]}}}
JSON
chmod 600 "$demo/day.json"

where_next() {
    local mary
    mary=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["residents"][0].get("master",""))' \
        "$account" 2>/dev/null || true)
    cat <<EOF

== where to look next
   the account, as JSON:  $account
   logs:                  $demo/logs/ (joineryd, crm, socialcare, agresso, health)
   Agresso's folders:     $demo/agresso/in/done (exports taken), $demo/agresso/out (CUST-*.csv imports)
   the joinery tool, in this environment:
     export JOINERY_KEYS=$demo/keys JOINERY_ENDPOINT=tcp://127.0.0.1:${P[HUB_PORT]}
     export JOINERY_DB='$conninfo'
     $joinery --adapter ops status --table    # adapters, subscriptions, lag, dead letters
     $joinery steward list                    # the steward queue (step 5)
     $joinery golden show ${mary:-MASTER_ID}  # Mary Shelley's golden record, ids and history
     $joinery xref export                     # every system's ids and their golden records
   the hub's database:    $psql '$conninfo'
   the admin API:         curl -H "Authorization: Bearer \$(cat $demo/secrets/admin.token)" \\
                            http://127.0.0.1:${P[ADMIN_PORT]}/api/v1/subscriptions   (also /metrics,
                            /api/v1/adapters, /api/v1/dead-letters; docs/operations.md)
EOF
}

if ((once)); then
    dayrc=0
    /usr/bin/python3 deploy/demo/council_day.py --settings "$demo/day.json" --account "$account" || dayrc=$?
    where_next
    exit "$dayrc"
fi
/usr/bin/python3 deploy/demo/council_day.py --settings "$demo/day.json" --account "$account" --serve &
day=$!
while [[ ! -s $account ]] && kill -0 "$day" 2>/dev/null; do sleep 0.2; done
where_next
echo
echo "Everything keeps running, the simulators too. Press Ctrl-C to stop it all."
wait "$day" || true
