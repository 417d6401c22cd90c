#!/usr/bin/env bash
# run.sh - mutation check of the routing core: does the test suite notice when
# the core is broken on purpose? See tests/mutation/README.md.
#
#   tests/mutation/run.sh [--only NAME[,NAME...]] [--list] [--head] [--workdir DIR]
#                         [--jobs N] [--timeout SECS] [--no-baseline] [--allow-missing]
#
# Each mutation in mutations.txt (file, exact original snippet, replacement,
# the ctest tests to run) is applied on its own to a COPY of the tree, which
# is rebuilt incrementally (a normal build, not the sanitizer one) and tested;
# the file is then restored. The checkout this script is run from is never
# touched: by default the copy is a snapshot of the working tree (tracked and
# untracked, not ignored, files), with --head a detached git worktree at HEAD.
#
# Every alternative of each mutation's test regex must name an existing test
# (a typo would otherwise make a mutant look caught or survive unnoticed);
# --allow-missing only warns, for a run before the tests exist.
#
# Outcomes: caught (a selected test failed or timed out; ctest stops at the
# first failure), survived (all passed), build-failed (the mutant does not
# compile; counted apart). The selected tests must pass on the unmutated copy
# first (the baseline), or nothing is tried.
# Exit status: 0 when every mutation was caught, 1 when any survived or failed
# to build, 2 on a usage or set-up error.
set -euo pipefail

PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd -P)
# The checkout: a git work tree, or (an exported tree) the directory two up.
if ROOT=$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null); then
    IS_GIT=1
else
    ROOT=$(cd "$HERE/../.." && pwd -P)
    IS_GIT=0
fi
LIST="$HERE/mutations.txt"

only="" head=0 workdir="" jobs=2 timeout_default=240 baseline=1 list_only=0 allow_missing=0
usage() {
    sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}
while [[ $# -gt 0 ]]; do
    case $1 in
    --only) only=${2:?--only needs a name}; shift 2 ;;
    --list) list_only=1; shift ;;
    --head) head=1; shift ;;
    --workdir) workdir=${2:?--workdir needs a directory}; shift 2 ;;
    --jobs) jobs=${2:?--jobs needs a number}; shift 2 ;;
    --timeout) timeout_default=${2:?--timeout needs seconds}; shift 2 ;;
    --no-baseline) baseline=0; shift ;;
    --allow-missing) allow_missing=1; shift ;;
    -h | --help) usage ;;
    *) echo "run.sh: unknown option $1" >&2; usage ;;
    esac
done

die() {
    echo "run.sh: $*" >&2
    exit 2
}

# The mutation list, checked and applied by one small Python program, so that
# "exactly once" is a byte-for-byte string count, not a regex.
mutate() { # list FILE | check SRCDIR FILE | apply SRCDIR FILE NAME
    "$PY" - "$@" <<'PY'
import sys

KEYS = ("name", "file", "find", "replace", "tests", "why", "timeout")


def unescape(s):
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s) and s[i + 1] in "nt\\":
            out.append({"n": "\n", "t": "\t", "\\": "\\"}[s[i + 1]])
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def load(path):
    recs, cur = [], {}
    for no, line in enumerate(open(path, encoding="utf-8"), 1):
        line = line.rstrip("\n")
        if line.startswith("#"):
            continue
        if not line.strip():
            if cur:
                recs.append(cur)
                cur = {}
            continue
        key, sep, val = line.partition(":")
        key = key.strip()
        if not sep or key not in KEYS:
            sys.exit("%s:%d: expected one of %s followed by ':'" % (path, no, ", ".join(KEYS)))
        if key in cur:
            sys.exit("%s:%d: %s given twice in one mutation" % (path, no, key))
        cur[key] = val.strip()
        cur.setdefault("_line", no)
    if cur:
        recs.append(cur)
    names = set()
    for r in recs:
        for k in ("name", "file", "find", "replace", "tests", "why"):
            if k not in r:
                sys.exit("%s:%d: mutation without %s" % (path, r["_line"], k))
        if r["name"] in names:
            sys.exit("%s: mutation %s listed twice" % (path, r["name"]))
        names.add(r["name"])
        r["find"], r["replace"] = unescape(r["find"]), unescape(r["replace"])
        if r["find"] == r["replace"]:
            sys.exit("%s: mutation %s does not change anything" % (path, r["name"]))
    return recs


cmd = sys.argv[1]
if cmd == "list":
    for r in load(sys.argv[2]):
        print("\t".join((r["name"], r["file"], r["tests"], r.get("timeout", "-"), r["why"])))
elif cmd == "check":
    src, bad = sys.argv[2], 0
    for r in load(sys.argv[3]):
        try:
            text = open("%s/%s" % (src, r["file"]), encoding="utf-8").read()
        except OSError as e:
            print("mutation %s: %s" % (r["name"], e), file=sys.stderr)
            bad += 1
            continue
        n = text.count(r["find"])
        if n != 1:
            print("mutation %s: the snippet occurs %d times in %s (must be exactly once):\n%s"
                  % (r["name"], n, r["file"], r["find"]), file=sys.stderr)
            bad += 1
    sys.exit(1 if bad else 0)
elif cmd == "apply":
    src, name = sys.argv[2], sys.argv[4]
    r = [r for r in load(sys.argv[3]) if r["name"] == name]
    if not r:
        sys.exit("no mutation named %s" % name)
    r = r[0]
    path = "%s/%s" % (src, r["file"])
    text = open(path, encoding="utf-8").read()
    n = text.count(r["find"])
    if n != 1:
        sys.exit("mutation %s: the snippet occurs %d times in %s (must be exactly once)"
                 % (name, n, r["file"]))
    open(path, "w", encoding="utf-8").write(text.replace(r["find"], r["replace"], 1))
PY
}

[[ -f "$LIST" ]] || die "no mutation list at $LIST"
mapfile -t ALL < <(mutate list "$LIST") || die "cannot read $LIST"
[[ ${#ALL[@]} -gt 0 ]] || die "$LIST lists no mutations"

if [[ $list_only -eq 1 ]]; then
    printf '%s\n' "${ALL[@]}" | awk -F'\t' '{printf "%-28s %-30s %s\n", $1, $2, $5}'
    exit 0
fi

SELECTED=()
if [[ -n "$only" ]]; then
    IFS=',' read -r -a wanted <<<"$only"
    for w in "${wanted[@]}"; do
        found=0
        for rec in "${ALL[@]}"; do
            if [[ ${rec%%$'\t'*} == "$w" ]]; then
                SELECTED+=("$rec")
                found=1
            fi
        done
        [[ $found -eq 1 ]] || die "no mutation named $w (see --list)"
    done
else
    SELECTED=("${ALL[@]}")
fi

# ---- the copy --------------------------------------------------------------
if [[ -n "$workdir" ]]; then
    mkdir -p "$workdir"
    WORK=$(cd "$workdir" && pwd -P)
    keep=1
else
    WORK=$(mktemp -d /tmp/joinery-mutation.XXXXXX)
    keep=0
fi
case "$WORK/" in
"$ROOT"/*) die "the work directory $WORK is inside the checkout $ROOT" ;;
esac
# The run uses a snapshot of the list, so editing it meanwhile changes nothing.
cp "$LIST" "$WORK/mutations.txt"
LIST="$WORK/mutations.txt"
SRC="$WORK/src"
BUILD="$WORK/build"
LOGS="$WORK/logs"
mkdir -p "$LOGS"

PG_STARTED=0
CURRENT_FILE=""
cleanup() {
    local rc=$?
    if [[ -n "$CURRENT_FILE" && -f "$WORK/orig" ]]; then
        cp -p "$WORK/orig" "$SRC/$CURRENT_FILE" || true
        touch "$SRC/$CURRENT_FILE" || true
    fi
    if [[ $PG_STARTED -eq 1 ]]; then
        (cd "$BUILD" && ctest -R '^pg\.stop$' >"$LOGS/pg-stop.log" 2>&1) || true
    fi
    if [[ $head -eq 1 && $keep -eq 0 ]]; then
        git -C "$ROOT" worktree remove --force "$SRC" >/dev/null 2>&1 || true
    fi
    if [[ $keep -eq 0 ]]; then
        if [[ $rc -eq 0 ]]; then
            rm -rf "$WORK"
        elif [[ $rc -eq 1 ]]; then
            rm -rf "$SRC" "$BUILD" # the copy; the logs of the survivors stay
            echo "run.sh: logs and report kept in $WORK" >&2
        else
            echo "run.sh: kept $WORK for inspection" >&2
        fi
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The files of the tree as a tar stream on stdout: tracked and untracked files
# that are not ignored (the working tree as the developer sees it, without
# build directories), or everything but build*/ and .git outside git.
tree_tar() {
    if [[ $IS_GIT -eq 1 ]]; then
        (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard |
            while IFS= read -r -d '' f; do [[ -f $f ]] && printf '%s\0' "$f"; done |
            tar -c --null -T - -f -)
    else
        (cd "$ROOT" && tar -c --exclude='./build*' --exclude='./.git' -f - .)
    fi
}

echo "== copying the tree to $SRC"
if [[ $head -eq 1 ]]; then
    [[ $IS_GIT -eq 1 ]] || die "--head needs a git checkout"
    [[ -e "$SRC" ]] && die "$SRC exists; --head needs a fresh work directory"
    git -C "$ROOT" worktree add --detach --quiet "$SRC" HEAD
elif [[ ! -d "$SRC" ]]; then
    mkdir -p "$SRC"
    tree_tar | tar -x -C "$SRC" -f -
else
    # A reused --workdir: only files whose content differs are copied, and
    # they get the current time. (Extracting over the old copy would give
    # them the checkout's older times, and the build would keep objects
    # compiled from an earlier run's mutant.) Files gone from the tree go.
    rm -rf "$WORK/stage"
    mkdir -p "$WORK/stage"
    tree_tar | tar -x -C "$WORK/stage" -f -
    (cd "$WORK/stage" && find . -type f -print0) | while IFS= read -r -d '' f; do
        if ! cmp -s "$WORK/stage/$f" "$SRC/$f"; then
            mkdir -p "$(dirname "$SRC/$f")"
            cp "$WORK/stage/$f" "$SRC/$f"
        fi
    done
    (cd "$SRC" && find . -type f -print0) | while IFS= read -r -d '' f; do
        [[ -e "$WORK/stage/$f" ]] || rm -f "$SRC/$f"
    done
    rm -rf "$WORK/stage"
fi

echo "== checking that every snippet occurs exactly once"
mutate check "$SRC" "$LIST" || die "fix $LIST before running"

echo "== building (normal build, -j$jobs)"
cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJOINERY_SANITIZE=OFF \
    >"$LOGS/configure.log" 2>&1 || die "configure failed: see $LOGS/configure.log"
cmake --build "$BUILD" -j"$jobs" >"$LOGS/build.log" 2>&1 || die "the unmutated tree does not build: see $LOGS/build.log"

# One PostgreSQL for the whole run; each ctest below leaves the fixture alone.
(cd "$BUILD" && ctest -R '^pg\.start$' >"$LOGS/pg-start.log" 2>&1) || die "pg.start failed: see $LOGS/pg-start.log"
PG_STARTED=1

# Each alternative of each test regex must select at least one test.
count_tests() { # REGEX
    (cd "$BUILD" && ctest -N -R "$1" 2>/dev/null | sed -n 's/^Total Tests: //p')
}
missing=0
for rec in "${SELECTED[@]}"; do
    IFS=$'\t' read -r name _ tests _ _ <<<"$rec"
    IFS='|' read -r -a alts <<<"$tests"
    for alt in "${alts[@]}"; do
        if [[ $(count_tests "$alt") == 0 ]]; then
            echo "run.sh: mutation $name: no test matches $alt" >&2
            missing=$((missing + 1))
        fi
    done
    if [[ $(count_tests "$tests") == 0 && $allow_missing -eq 0 ]]; then
        die "mutation $name selects no test at all"
    fi
done
[[ $missing -eq 0 || $allow_missing -eq 1 ]] || die "$missing test pattern(s) match nothing (--allow-missing to go on)"

# A mutant's tests stop at the first failure (caught is caught); the baseline
# runs them all.
run_tests() { # REGEX LOG TIMEOUT [--stop-on-failure] -> ctest's status (124 on timeout)
    local rc=0
    (cd "$BUILD" && timeout -k 10 "$3" ctest -R "$1" -FA '.*' --no-tests=error ${4:+"$4"} \
        --output-on-failure >"$2" 2>&1) || rc=$?
    return $rc
}

if [[ $baseline -eq 1 ]]; then
    union=$(printf '%s\n' "${SELECTED[@]}" | cut -f3 | paste -sd'|')
    echo "== baseline: the selected tests must pass on the unmutated tree"
    run_tests "$union" "$LOGS/baseline.log" 1800 ||
        die "the selected tests fail without any mutation: see $LOGS/baseline.log"
fi

# ---- the mutations -----------------------------------------------------------
caught=0 survived=0 broken=0
ROWS=()
started=$(date +%s)
for rec in "${SELECTED[@]}"; do
    IFS=$'\t' read -r name file tests tmo why <<<"$rec"
    [[ $tmo == - ]] && tmo=$timeout_default
    t0=$(date +%s)
    cp -p "$SRC/$file" "$WORK/orig"
    CURRENT_FILE=$file
    mutate apply "$SRC" "$LIST" "$name" || die "cannot apply $name"
    outcome="" detail=""
    if ! cmake --build "$BUILD" -j"$jobs" >"$LOGS/$name.build.log" 2>&1; then
        outcome=build-failed
        detail="see logs/$name.build.log"
        broken=$((broken + 1))
    elif [[ $(count_tests "$tests") == 0 ]]; then
        outcome=SURVIVED
        detail="no test selected"
        survived=$((survived + 1))
    else
        rc=0
        run_tests "$tests" "$LOGS/$name.test.log" "$tmo" --stop-on-failure || rc=$?
        if [[ $rc -eq 0 ]]; then
            outcome=SURVIVED
            survived=$((survived + 1))
        else
            outcome=caught
            caught=$((caught + 1))
            if [[ $rc -eq 124 || $rc -eq 137 ]]; then
                detail="timed out after ${tmo}s"
            else
                detail=$(grep -E '\*\*\*(Failed|Timeout|Exception)' "$LOGS/$name.test.log" |
                    sed -E 's/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: ([^ ]+).*\*\*\*([A-Za-z]+).*/\1 \2/' |
                    paste -sd',' | cut -c1-60 || true)
            fi
        fi
    fi
    cp -p "$WORK/orig" "$SRC/$file"
    touch "$SRC/$file" # newer than the mutant's objects: the next build recompiles it
    CURRENT_FILE=""
    secs=$(($(date +%s) - t0))
    printf '%-33s %-13s %4ss  %s\n' "$name" "$outcome" "$secs" "$detail"
    ROWS+=("$(printf '%s\t%s\t%s\t%s\t%s\t%s' "$name" "$file" "$outcome" "$secs" "$tests" "$why")")
done

# ---- the report --------------------------------------------------------------
tried=${#SELECTED[@]}
{
    echo
    rev=$([[ $IS_GIT -eq 1 ]] && git -C "$ROOT" rev-parse --short HEAD || echo "exported tree")
    echo "Mutation report, $(date -u '+%Y-%m-%d %H:%M UTC'), $rev$([[ $head -eq 1 || $IS_GIT -eq 0 ]] || echo ' + working tree')"
    echo
    printf '| %-32s | %-28s | %-12s | %5s | %s\n' mutation file outcome secs "what it breaks"
    printf '|%s|%s|%s|%s|%s\n' "----------------------------------" "------------------------------" \
        "--------------" "-------" "---------------"
    for row in "${ROWS[@]}"; do
        IFS=$'\t' read -r name file outcome secs tests why <<<"$row"
        printf '| %-32s | %-28s | %-12s | %5s | %s\n' "$name" "$file" "$outcome" "$secs" "$why"
    done
    echo
    echo "tried $tried, caught $caught, survived $survived, build-failed $broken" \
        "($(($(date +%s) - started)) s)"
    if [[ $survived -gt 0 ]]; then
        echo "survivors:"
        for row in "${ROWS[@]}"; do
            IFS=$'\t' read -r name file outcome secs tests why <<<"$row"
            [[ $outcome == SURVIVED ]] && echo "  $name ($file): $why [tests: $tests]"
        done
    fi
} | tee "$WORK/report.txt"
[[ $keep -eq 1 ]] && echo "(logs and report in $WORK)"

[[ $survived -eq 0 && $broken -eq 0 ]]
