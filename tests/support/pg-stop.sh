#!/usr/bin/env bash
# pg-stop.sh DIR - stop the throwaway cluster pg-start.sh started in DIR (fast
# shutdown: tests do not need a clean checkpoint) and remove DIR. Succeeds
# when nothing is running or DIR does not exist, so ctest's fixture cleanup
# never fails on a half-started fixture.
set -euo pipefail

die() {
    printf 'pg-stop.sh: %s\n' "$*" >&2
    exit 1
}

[[ $# -eq 1 && -n "$1" ]] || die "usage: pg-stop.sh DIR"
dir=$1
[[ -e "$dir" ]] || exit 0

find_pg_ctl() {
    local d
    if [[ -n "${PG_BINDIR:-}" ]]; then
        printf '%s\n' "$PG_BINDIR/pg_ctl"
        return
    fi
    if command -v pg_ctl >/dev/null 2>&1; then
        command -v pg_ctl
        return
    fi
    for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
        if [[ -x "$d/pg_ctl" ]]; then
            printf '%s\n' "$d/pg_ctl"
            return
        fi
    done
}

if [[ -e "$dir/data/PG_VERSION" ]]; then
    pg_ctl=$(find_pg_ctl)
    [[ -n "$pg_ctl" && -x "$pg_ctl" ]] || die "pg_ctl not found: cannot stop the cluster in $dir"
    runas=()
    if [[ $(id -u) -eq 0 ]]; then
        runas=(runuser -u "$(stat -c %U -- "$dir/data")" --)
    fi
    # Status 3 means not running; anything else still gets a stop attempt.
    if (cd "$dir" && "${runas[@]}" "$pg_ctl" -D "$dir/data" status >/dev/null 2>&1); then
        (cd "$dir" && "${runas[@]}" "$pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null) ||
            die "pg_ctl stop failed for $dir/data"
    fi
fi
rm -rf -- "$dir"
