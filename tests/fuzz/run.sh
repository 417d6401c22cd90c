#!/usr/bin/env bash
# run.sh BUILD_DIR [SECONDS] [HARNESS...] - builds the libFuzzer harnesses with clang
# (-fsanitize=fuzzer,address,undefined) and runs each for SECONDS (default 10) over its seed
# corpus: the HL7 samples in tests/data/hl7v2 (framed with MLLP for the framer; as they are for
# the parser and for the outbound round trip, hl7_build), the Patients in fhir_seeds/ for the
# FHIR reader (fhir), the CSV files in seeds_csv/ for the CSV reader (csv), the Dataverse webhooks in
# tests/data/crm for the CRM webhook mapper (crm), envelopes in seeds_envelope/ for the hub's
# in-place wire reader checked against protobuf-c (envelope), the shipped configurations for the
# configuration loader (config), the requests in seeds_admin/ for the admin API's request checks
# (admin), envelopes in seeds_envelope/ and seeds_admin_decode/ for its envelope decoders
# (admin_decode), and every input in regressions/, which are first replayed one by one: an
# input that once crashed must not crash again. A harness's dictionary, HARNESS.dict beside this
# script, is used where there is one. HARNESS names (mllp hl7 hl7_build fhir csv crm envelope
# config admin admin_decode) build and run only those. Exits 77 (skipped) without clang or
# libFuzzer (Debian: clang, libclang-rt-14-dev).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${1:?usage: run.sh BUILD_DIR [SECONDS] [HARNESS...]}
secs=${2:-10}
all=(mllp hl7 hl7_build fhir csv crm envelope config admin admin_decode)
only=("${@:3}")
for h in "${only[@]}"; do
    [[ " ${all[*]} " == *" $h "* ]] || {
        echo "fuzz: no harness $h (there are: ${all[*]})" >&2
        exit 2
    }
done
[[ ${#only[@]} -gt 0 ]] || only=("${all[@]}")
wanted() { [[ " ${only[*]} " == *" $1 "* ]]; }
cc=$(command -v clang || command -v clang-14 || true)
if [[ -z $cc ]]; then
    echo "fuzz: no clang; skipped" >&2
    exit 77
fi
work=$(mktemp -d /tmp/joinery-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
if ! echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n){(void)d;(void)n;return 0;}' \
    >"$work/probe.c" || ! "$cc" -fsanitize=fuzzer "$work/probe.c" -o "$work/probe" 2>/dev/null; then
    echo "fuzz: $cc has no libFuzzer; skipped" >&2
    exit 77
fi
gen=$build/gen
if [[ ! -f $gen/joinery/v1/person.pb-c.c ]]; then
    echo "fuzz: $gen has no generated protobuf code; build the project first" >&2
    exit 1
fi
flags=(-std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined -I"$src/adapters" -I"$src/lib" -I"$gen")
health=("$src"/adapters/health/{mllp,hl7,hl7_ack,hl7_map}.c)
proto=("$gen"/joinery/v1/{person,health}.pb-c.c)
# Each harness is built only when it is to run.
if wanted mllp; then
    "$cc" "${flags[@]}" "$here/fuzz_mllp.c" "$src/adapters/health/mllp.c" -o "$work/fuzz_mllp"
fi
if wanted hl7; then
    "$cc" "${flags[@]}" "$here/fuzz_hl7.c" "${health[@]}" "$src"/lib/match/*.c "${proto[@]}" \
        $(pkg-config --cflags --libs libprotobuf-c) -lm -o "$work/fuzz_hl7"
fi
if wanted hl7_build; then
    "$cc" "${flags[@]}" "$here/fuzz_hl7_build.c" "${health[@]}" \
        "$src/adapters/health/hl7_build.c" "$src"/lib/match/*.c "${proto[@]}" \
        $(pkg-config --cflags --libs libprotobuf-c) -lm -o "$work/fuzz_hl7_build"
fi
if wanted fhir; then
    "$cc" "${flags[@]}" "$here/fuzz_fhir_patient.c" "$src/adapters/health/fhir_patient.c" \
        "$src"/lib/match/*.c "$gen/joinery/v1/person.pb-c.c" \
        $(pkg-config --cflags --libs libprotobuf-c jansson) -lm -o "$work/fuzz_fhir"
fi
# The shared CSV reader and writer, with the Agresso customer mapping behind it.
if wanted csv; then
    "$cc" "${flags[@]}" "$here/fuzz_csv.c" "$src"/adapters/common/adapter_csv.c \
        "$src"/adapters/agresso/agresso_customer.c "$src"/lib/match/*.c \
        "$gen"/joinery/v1/person.pb-c.c $(pkg-config --cflags --libs libprotobuf-c) -lm \
        -o "$work/fuzz_csv"
fi
# The Dataverse webhook mapper of joinery-crm.
if wanted crm; then
    "$cc" "${flags[@]}" "$here/fuzz_crm_webhook.c" "$src/adapters/crm/crm_webhook.c" \
        "$src"/lib/match/*.c "$gen"/joinery/v1/{person,crm}.pb-c.c \
        $(pkg-config --cflags --libs libprotobuf-c jansson) -lm -o "$work/fuzz_crm"
fi
# The hub's in-place envelope reader (pbwire), checked against protobuf-c's parser.
if wanted envelope; then
    "$cc" "${flags[@]}" -I"$src/hub" "$here/fuzz_envelope.c" "$src/hub/base/pbwire.c" \
        "$gen/joinery/v1/envelope.pb-c.c" $(pkg-config --cflags --libs libprotobuf-c) \
        -o "$work/fuzz_envelope"
fi
# The configuration loader (libyaml underneath).
if wanted config; then
    "$cc" "${flags[@]}" -I"$src/hub" "$here/fuzz_config.c" \
        $(ls "$src"/hub/base/*.c | grep -v '/pbwire\.c$\|/pbarena\.c$') "$src"/lib/match/*.c \
        $(pkg-config --cflags --libs yaml-0.1) -lm -lpthread -o "$work/fuzz_config"
fi
# The admin API's request checks (tokens, routes, query, JSON bodies); libpq's headers for the
# types only. Its envelope decoders (admin_decode, lib/protojson over every payload schema)
# apart, so their coverage does not crowd out the requests' corner cases (fuzz_admin_decode.c).
if wanted admin; then
    "$cc" "${flags[@]}" -I"$src/hub" "$here/fuzz_admin.c" \
        "$src"/hub/admin/{admin_request,admin_auth}.c \
        $(pkg-config --cflags --libs jansson) $(pkg-config --cflags libpq) -o "$work/fuzz_admin"
fi
if wanted admin_decode; then
    "$cc" "${flags[@]}" -I"$src/hub" "$here/fuzz_admin_decode.c" "$src/hub/admin/admin_decode.c" \
        "$src/lib/protojson/protojson.c" \
        "$gen"/joinery/v1/{envelope,person,case,crm,finance,health,master}.pb-c.c \
        $(pkg-config --cflags --libs libprotobuf-c jansson) -o "$work/fuzz_admin_decode"
fi

# Seeds: the samples as they are for the parser; framed, several to an input, for the framer
# (its first byte chooses the frame limit and the read size).
mkdir -p "$work/seed_hl7" "$work/seed_mllp" "$work/seed_fhir" "$work/new_hl7" "$work/new_mllp" \
    "$work/new_hl7_build" "$work/new_fhir"
cp "$src"/tests/data/hl7v2/*.hl7 "$work/seed_hl7/"
ln -s "$work/seed_hl7" "$work/seed_hl7_build"
cp "$here"/fhir_seeds/*.json "$work/seed_fhir/"
i=0
for f in "$src"/tests/data/hl7v2/*.hl7; do
    { printf "$(printf '\\x%02x' $(( (i * 37) % 256 )))"; printf 'junk\x0b'; cat "$f"; printf '\x1c\r\x0b'; \
      head -c 200 "$f"; printf '\x1c'; } >"$work/seed_mllp/$i"
    i=$((i + 1))
done
# CSV: the seeds in seeds_csv/ (their first byte picks the delimiter and limits).
mkdir -p "$work/seed_csv" "$work/new_csv"
cp "$here"/seeds_csv/* "$work/seed_csv/"
# Webhooks: the Dataverse samples in tests/data/crm.
mkdir -p "$work/seed_crm" "$work/new_crm"
cp "$src"/tests/data/crm/*.json "$work/seed_crm/"
# Envelopes: a few in seeds_envelope/; configurations: the shipped ones.
mkdir -p "$work/seed_envelope" "$work/new_envelope" "$work/seed_config" "$work/new_config"
cp "$here"/seeds_envelope/* "$work/seed_envelope/"
cp "$src"/deploy/joinery.example.yaml "$work/seed_config/example.yaml"
cp "$src"/deploy/demo/joinery.yaml "$work/seed_config/demo.yaml"
# Admin requests: a few per endpoint of docs/operations.md, and refusals (seeds_admin/).
mkdir -p "$work/seed_admin" "$work/new_admin"
cp "$here"/seeds_admin/* "$work/seed_admin/"
# Stored envelopes and payloads (the first byte picks the payload type) for the decoders.
mkdir -p "$work/seed_admin_decode" "$work/new_admin_decode"
cp "$here"/seeds_envelope/* "$here"/seeds_admin_decode/* "$work/seed_admin_decode/"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for h in "${only[@]}"; do
    reg=("$here"/regressions/"$h"-*)
    if [[ -e ${reg[0]} ]]; then
        echo "fuzz: replaying ${#reg[@]} $h regression inputs"
        "$work/fuzz_$h" "${reg[@]}" >"$work/$h-regress.log" 2>&1 || {
            cat "$work/$h-regress.log" >&2
            echo "fuzz: a $h regression input fails again" >&2
            exit 1
        }
    fi
    echo "fuzz: $h for ${secs}s"
    dict=()
    [[ ! -f $here/$h.dict ]] || dict=(-dict="$here/$h.dict")
    if ! "$work/fuzz_$h" "${dict[@]}" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=1024 \
        -artifact_prefix="$work/crash-$h-" -print_final_stats=1 \
        "$work/new_$h" "$work/seed_$h" >"$work/$h.log" 2>&1; then
        tail -60 "$work/$h.log" >&2
        mkdir -p "$build/fuzz-crashes"
        cp "$work"/crash-"$h"-* "$build/fuzz-crashes/" 2>/dev/null || true
        echo "fuzz: $h found a crash; the input is in $build/fuzz-crashes (add it to" \
            "tests/fuzz/regressions/$h-NAME)" >&2
        exit 1
    fi
    grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$work/$h.log" || true
done
echo "fuzz: no crash"
