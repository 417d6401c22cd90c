#!/usr/bin/env bash
# check-includes.sh [SOURCE_DIR] - the hub's parts depend on each other one way
# only (docs/architecture.md, "The parts of the hub"). Every quoted #include in
# a part must name a header that part may use; a system header (<...>) and a
# generated protobuf header ("joinery/v1/...") are always allowed. Prints each
# include that breaks the rule and exits 1 if there is one.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root"

# part (a path glob) -> the extended regex its quoted includes must match.
# Headers in the same folder may be included by bare name.
declare -A allowed=(
    ["lib/match"]='^(match/[a-z_]+\.h|[a-z_]+\.h)$'
    ["lib/protojson"]='^(protojson/[a-z_]+\.h|joinery/v1/[a-z_]+\.pb-c\.h|[a-z_]+\.h)$'
    ["hub/base"]='^(base/[a-z_]+\.h|match/[a-z_]+\.h|[a-z_]+\.h)$'
    ["hub/store"]='^(store/[a-z_]+\.h|base/[a-z_]+\.h|joinery/v1/[a-z_]+\.pb-c\.h|[a-z_]+\.h)$'
    ["hub/master"]='^(master/[a-z_]+\.h|base/[a-z_]+\.h|match/[a-z_]+\.h|joinery/v1/[a-z_]+\.pb-c\.h|[a-z_]+\.h)$'
    # adapters: a bare name may hold digits (adapters/health/hl7.h)
    ["adapters"]='^((\.\./\.\./include/)?joinery/[a-z_/]+\.h|common/adapter_[a-z_]+\.h|joinery/v1/[a-z_]+\.pb-c\.h|match/[a-z_]+\.h|protojson/[a-z_]+\.h|[a-z0-9_]+\.h)$'
    ["bench"]='^(joinery/[a-z_/]+\.h|joinery/v1/[a-z_]+\.pb-c\.h|match/[a-z_]+\.h|[a-z_]+\.h)$'
)

bad=0
checked=0
for part in "${!allowed[@]}"; do
    [[ -d $part ]] || {
        echo "check-includes: $part is missing" >&2
        exit 1
    }
    while IFS= read -r file; do
        while IFS= read -r line; do
            inc=${line#*\"}
            inc=${inc%%\"*}
            checked=$((checked + 1))
            # A bare name must be a header of the same folder, not one found
            # through an include path.
            if [[ $inc != */* && ! -f $(dirname "$file")/$inc ]]; then
                echo "$file: #include \"$inc\" is not a header of its own folder"
                bad=1
            elif ! [[ $inc =~ ${allowed[$part]} ]]; then
                echo "$file: #include \"$inc\" crosses from $part into a part it may not use"
                bad=1
            fi
        done < <(grep -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" || true)
    done < <(find "$part" -name '*.[ch]' | sort)
done
if [[ $checked -lt 50 ]]; then
    echo "check-includes: only $checked includes found under $root; wrong directory?" >&2
    exit 1
fi
[[ $bad == 0 ]] && echo "check-includes: $checked includes, every one within its part's rules"
exit $bad
