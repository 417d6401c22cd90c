#!/usr/bin/env bash
# install-deps.sh - installs every Debian package Joinery needs to build, test
# and run (Debian 12). Idempotent; needs root (or sudo).
set -euo pipefail

packages=(
    build-essential cmake pkg-config git
    libzmq3-dev libsodium-dev               # ZeroMQ with CurveZMQ
    protobuf-c-compiler libprotobuf-c-dev   # schemas -> C
    librdkafka-dev                          # partner exchange (Kafka)
    libpq-dev postgresql-15 postgresql-client-15
    libssl-dev                              # SHA-256 of refused input (libcrypto)
    libmicrohttpd-dev libjansson-dev libyaml-dev
    libcurl4-openssl-dev                    # adapters: HTTP client (adapter_httpc)
    libcmocka-dev                           # unit tests
    python3 python3-zmq python3-protobuf protobuf-compiler  # e2e wire-protocol tests
    python3-hl7                             # e2e: an MLLP client no one here wrote (mllp_send)
    prometheus                              # e2e: promtool checks the admin API's /metrics
    kcat python3-confluent-kafka            # e2e: Kafka clients no one here wrote (partners)
    chromium chromium-driver                # e2e: the dashboard in a headless browser (WebDriver)
    clang-format cppcheck
    clang libclang-rt-14-dev                # libFuzzer harnesses (tests/fuzz)
    rabbitmq-server librabbitmq-dev         # bench/compare: RabbitMQ side by side
)

sudo=()
if [[ $(id -u) -ne 0 ]]; then
    sudo=(sudo)
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-deps: all ${#packages[@]} packages already installed"
    exit 0
fi
echo "install-deps: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
# The Debian package starts a system cluster on port 5432; Joinery runs its
# own private clusters and does not need it.
if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q online; then
    "${sudo[@]}" pg_ctlcluster 15 main stop 2>/dev/null || true
fi
echo "install-deps: done"
