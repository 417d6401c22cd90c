#!/usr/bin/env bash
# run-tests.sh - the one test command: installs dependencies, then builds and
# runs the whole suite with ctest twice: with ASan + UBSan, then a normal
# build. The output ends with ctest's summary line of the normal build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
run_suite() { # BUILD_DIR CTEST_EXCLUDE CMAKE_ARGS...
    local dir=$1 exclude=$2
    shift 2
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$dir" -j "$jobs" >/dev/null
    (cd "$dir" && ctest --output-on-failure -j "$jobs" --timeout 900 ${exclude:+-E "$exclude"})
}

# The fuzz smoke builds its own harnesses with clang and libFuzzer's sanitizers whichever build
# runs it, so it runs once, in the normal pass. The fault suite (tests/faults: a hub killed, its
# database stopped, brokers down, about 3.5 minutes) checks the same behaviour in either build,
# so it too runs once, in the sanitizer pass, where a memory error on a recovery path shows.
echo "== sanitizer build (ASan + UBSan) =="
run_suite build-sanitize '^fuzz\.' -DJOINERY_SANITIZE=ON
echo "== normal build =="
run_suite build '^faults\.'
