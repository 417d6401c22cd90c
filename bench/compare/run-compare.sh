#!/usr/bin/env bash
# run-compare.sh [COUNT] - Joinery and RabbitMQ side by side on this machine,
# the same workload for both: one publisher, one durable queue (Joinery: one
# durable subscription), one consumer, persistent ~300-byte messages,
# publisher confirms with INFLIGHT unconfirmed, manual acks, COUNT messages
# (default 200,000). ROUNDS rounds (default 3), Joinery then RabbitMQ in each;
# events/s end to end and publish -> consumer p50/p99 for each, and the ratio.
# RATE=N paces both publishers at N events/s (latency below saturation), each
# waiting up to 1 ms when ahead of its schedule (BENCH_PACE_TICK_MS=1).
#
# Starts a private joineryd (its own PostgreSQL, fsync on) and a private
# rabbitmq-server (its own node name, ports, Erlang cookie, epmd and data
# under a temporary directory; not the system service), stops both, and
# checks that nothing it started is left running. Installs nothing:
# deploy/install-deps.sh lists rabbitmq-server and librabbitmq-dev.
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT=${1:-200000}
ROUNDS=${ROUNDS:-3}
INFLIGHT=${INFLIGHT:-5000}
RATE=${RATE:-0}
SIZE=300
RABBIT_BIN=/usr/lib/rabbitmq/bin
EPMD=/usr/bin/epmd
if [ ! -x "$RABBIT_BIN/rabbitmq-server" ] || [ ! -f /usr/include/amqp.h ] || [ ! -x "$EPMD" ]; then
    echo "run-compare: needs rabbitmq-server and librabbitmq-dev (deploy/install-deps.sh)" >&2
    exit 1
fi

cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DJOINERY_TESTS=OFF >/dev/null
cmake --build build-bench -j "$(nproc)" --target joineryd bench_throughput joinery_cli >/dev/null
cc -O2 -Wall -Wextra -Werror -o build-bench/rabbit_load bench/compare/rabbit_load.c -lrabbitmq -lpthread

dir=$(mktemp -d /tmp/joinery-compare.XXXXXX)
chmod 0711 "$dir"
hub=
beam=
node="jcompare$$@localhost"
port=$(( 20000 + RANDOM % 10000 ))
amqp_port=$(( port + 1 ))
dist_port=$(( port + 2 ))
epmd_port=$(( port + 3 ))

rabbit_env() {
    env HOME="$dir/rabbit/home" RABBITMQ_MNESIA_BASE="$dir/rabbit/mnesia" \
        RABBITMQ_LOG_BASE="$dir/rabbit/log" RABBITMQ_NODENAME="$node" \
        RABBITMQ_NODE_PORT="$amqp_port" ERL_EPMD_PORT="$epmd_port" \
        RABBITMQ_ENABLED_PLUGINS_FILE="$dir/rabbit/enabled_plugins" \
        RABBITMQ_PID_FILE="$dir/rabbit/rabbit.pid" RABBITMQ_CONFIG_FILE="$dir/rabbit/rabbitmq" \
        RABBITMQ_ADVANCED_CONFIG_FILE="$dir/rabbit/advanced.config" \
        RABBITMQ_CONF_ENV_FILE="$dir/rabbit/rabbitmq-env.conf" "$@"
}

cleanup() {
    if [ -n "$hub" ] && kill -0 "$hub" 2>/dev/null; then
        kill -TERM "$hub"
        wait "$hub" 2>/dev/null || true
    fi
    if [ -f "$dir/rabbit/rabbit.pid" ]; then
        beam=$(cat "$dir/rabbit/rabbit.pid")
        rabbit_env "$RABBIT_BIN/rabbitmqctl" -n "$node" stop "$dir/rabbit/rabbit.pid" >/dev/null 2>&1 ||
            kill -TERM "$beam" 2>/dev/null || true
    fi
    # Our epmd only: it listens on the private port, the system's (if any) on 4369.
    ERL_EPMD_PORT=$epmd_port "$EPMD" -kill >/dev/null 2>&1 || true
    wait 2>/dev/null || true
    left=$(ps -eo pid=,stat=,args= | awk -v d="$dir" -v n="$node" \
        '$2 !~ /^Z/ && (index($0, d) || index($0, n)) && !index($0, "awk")' || true)
    # epmd's command line names neither; its private port does.
    left+=$(ss -Hltnp "sport = :$epmd_port" 2>/dev/null || true)
    if [ -n "$left" ]; then
        echo "run-compare: still running:" >&2
        echo "$left" >&2
    else
        echo "nothing left running (ps: no process of $dir or $node)"
    fi
    rm -rf "$dir"
}
trap cleanup EXIT

# --- joineryd, as bench/run-throughput.sh starts it ---
mkdir -p "$dir/keys"
for n in hub bench-pub bench-sub; do build-bench/adapters/cli/joinery keygen "$n" --dir "$dir/keys" >/dev/null 2>&1; done
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
YAML
build-bench/hub/joineryd --config "$dir/hub.yaml" >"$dir/hub.log" 2>&1 &
hub=$!

# --- rabbitmq-server, private: no plugins, its own cookie, epmd and ports ---
mkdir -p "$dir/rabbit/home" "$dir/rabbit/mnesia" "$dir/rabbit/log"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/rabbit/home/.erlang.cookie"
chmod 0400 "$dir/rabbit/home/.erlang.cookie"
echo "[]." >"$dir/rabbit/enabled_plugins"
: >"$dir/rabbit/rabbitmq-env.conf"
# The distribution port is the server's alone: the CLI would take it otherwise.
(cd "$dir/rabbit" && rabbit_env RABBITMQ_DIST_PORT="$dist_port" "$RABBIT_BIN/rabbitmq-server" \
    >"$dir/rabbit/server.log" 2>&1) &

for _ in $(seq 1 300); do
    grep -q "ready" "$dir/hub.log" && break
    sleep 0.1
done
grep -q "ready" "$dir/hub.log" || { echo "run-compare: joineryd did not start" >&2; cat "$dir/hub.log" >&2; exit 1; }
if ! rabbit_env "$RABBIT_BIN/rabbitmqctl" -n "$node" wait "$dir/rabbit/rabbit.pid" --timeout 120 >/dev/null; then
    echo "run-compare: rabbitmq-server did not start" >&2
    tail -20 "$dir/rabbit/server.log" >&2
    exit 1
fi
rabbit_version=$(rabbit_env "$RABBIT_BIN/rabbitmqctl" -n "$node" version 2>/dev/null || echo "?")

echo "machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print int($2/1048576)" GiB"}'), $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "workload: $COUNT persistent messages of $SIZE bytes, $INFLIGHT unconfirmed, manual acks, window/prefetch 5000$([ "$RATE" != 0 ] && echo ", paced at $RATE/s")"
echo "rabbitmq-server $rabbit_version (classic durable queue, default settings)"

# Fields of "end to end (acked) N events/s" and "publish -> subscriber p50 X ms p99 Y ms".
figures() {
    awk '/end to end/ {e=$5} /publish -> subscriber/ {p50=$5; p99=$8} END {print e, p50, p99}' "$1"
}
results=()
for r in $(seq 1 "$ROUNDS"); do
    BENCH_PACE_TICK_MS=1 build-bench/bench/bench_throughput "tcp://127.0.0.1:$port" "$dir/keys" bench.durable "$COUNT" "$SIZE" \
        "$COUNT" "$RATE" "$INFLIGHT" >"$dir/j$r.out" || { cat "$dir/j$r.out"; exit 1; }
    build-bench/rabbit_load 127.0.0.1 "$amqp_port" bench.durable "$COUNT" "$SIZE" "$INFLIGHT" 5000 \
        "$RATE" >"$dir/r$r.out" || { cat "$dir/r$r.out"; exit 1; }
    read -r je jp50 jp99 < <(figures "$dir/j$r.out")
    read -r re rp50 rp99 < <(figures "$dir/r$r.out")
    results+=("$r $je $jp50 $jp99 $re $rp50 $rp99")
    printf 'round %d: joinery %s events/s (p50 %s ms, p99 %s ms); rabbitmq %s events/s (p50 %s ms, p99 %s ms)\n' \
        "$r" "$je" "$jp50" "$jp99" "$re" "$rp50" "$rp99"
done
echo "hub resident memory: $(grep VmRSS /proc/$hub/status | awk '{print $2/1024 " MiB"}'); rabbitmq (beam) resident memory: $(grep VmRSS "/proc/$(cat "$dir/rabbit/rabbit.pid")/status" | awk '{print $2/1024 " MiB"}')"
echo
printf '| round | Joinery events/s | p50 / p99 ms | RabbitMQ events/s | p50 / p99 ms | ratio |\n'
printf '|---|---|---|---|---|---|\n'
for line in "${results[@]}"; do
    read -r r je jp50 jp99 re rp50 rp99 <<<"$line"
    printf '| %s | %s | %s / %s | %s | %s / %s | %.1f× |\n' "$r" "$je" "$jp50" "$jp99" "$re" "$rp50" "$rp99" \
        "$(echo "$je $re" | awk '{print $1 / $2}')"
done
jmed=$(printf '%s\n' "${results[@]}" | awk '{print $2}' | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
rmed=$(printf '%s\n' "${results[@]}" | awk '{print $5}' | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
echo "median of $ROUNDS: joinery $jmed events/s, rabbitmq $rmed events/s, ratio $(echo "$jmed $rmed" | awk '{printf "%.1f", $1 / $2}')x"
