# shellcheck shell=bash
# bench/lib.sh - what the adapter benchmarks share (sourced from bench/*/run-*.sh, which cd to
# the repository root first): a Release build in build-bench/, a private directory removed at
# exit with every process it started, Curve keys, a random port, a process started and awaited
# until its log says "ready", and the machine line every report begins with.

# bench_build TARGET... - builds those targets (Release, no tests) in build-bench/.
bench_build() {
    cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DJOINERY_TESTS=OFF >/dev/null
    cmake --build build-bench -j2 --target "$@" >/dev/null
}

# bench_dir NAME - makes $dir (private, reachable by PostgreSQL's user) with keys/ in it, and
# removes it, and stops everything started in the background, at exit.
bench_dir() {
    dir=$(mktemp -d "/tmp/joinery-bench-$1.XXXXXX")
    chmod 0711 "$dir"
    trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
    mkdir -p "$dir/keys"
}

# bench_keys NAME... - a Curve key pair for each in $dir/keys.
bench_keys() {
    local n
    for n in "$@"; do
        build-bench/adapters/cli/joinery keygen "$n" --dir "$dir/keys" >/dev/null 2>&1
    done
}

# bench_port - a random port, with the next one free for an adapter's own listener.
bench_port() {
    echo $((20000 + RANDOM % 20000))
}

# bench_start LOG PROGRAM ARGS... - starts PROGRAM in the background with its output in LOG,
# waits (up to a minute) until LOG says "ready", and leaves its pid in $started.
bench_start() {
    local log=$1
    shift
    "$@" >"$log" 2>&1 &
    started=$!
    for _ in $(seq 1 600); do
        grep -q "ready" "$log" && return 0
        kill -0 "$started" 2>/dev/null || break
        sleep 0.1
    done
    echo "bench: $1 did not start; its log:" >&2
    tail -n 20 "$log" >&2
    return 1
}

# bench_machine - the line each report starts with.
bench_machine() {
    echo "machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print int($2/1048576)" GiB"}'), $(date -u +%Y-%m-%d), load average $(cut -d' ' -f1-3 /proc/loadavg)"
}
