#!/usr/bin/env bash
# pg-start.sh DIR - start a throwaway PostgreSQL cluster in DIR for the test
# suite (ctest runs it as the setup of the "pg" fixture; pg-stop.sh is the
# cleanup). Settings follow hub/store/pgcluster.c: Unix socket in DIR/run only, no
# TCP, trust auth for user "joinery". When run as root the cluster belongs to
# the "postgres" user (or "nobody"), because initdb and postgres refuse root.
# Idempotent: an already running cluster in DIR is reused. On success
# DIR/conninfo holds "host=DIR/run dbname=postgres user=joinery".
set -euo pipefail

die() {
    printf 'pg-start.sh: %s\n' "$*" >&2
    exit 1
}

[[ $# -eq 1 && -n "$1" ]] || die "usage: pg-start.sh DIR"

# Server binaries: $PG_BINDIR, then PATH, then the newest Debian-style
# /usr/lib/postgresql/*/bin (Debian keeps initdb off PATH).
find_bindir() {
    local d
    if [[ -n "${PG_BINDIR:-}" ]]; then
        printf '%s\n' "$PG_BINDIR"
        return
    fi
    if d=$(command -v initdb 2>/dev/null) && [[ -x "$(dirname "$d")/pg_ctl" ]]; then
        dirname "$d"
        return
    fi
    for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
        if [[ -x "$d/initdb" ]]; then
            printf '%s\n' "$d"
            return
        fi
    done
}

bindir=$(find_bindir)
for prog in initdb pg_ctl postgres; do
    [[ -n "$bindir" && -x "$bindir/$prog" ]] ||
        die "PostgreSQL server binaries not found (need initdb, pg_ctl, postgres in \$PG_BINDIR, PATH or /usr/lib/postgresql/*/bin): apt-get install postgresql"
done

mkdir -p -- "$1"
dir=$(cd -- "$1" && pwd -P)
# These end up unquoted inside conninfo strings and postgresql.conf lists.
[[ "$dir" != *[[:space:]\'\"\\,]* ]] || die "$dir: spaces, quotes, backslashes and commas are not supported"
# The kernel limits a Unix socket path to 107 bytes.
(("${#dir}" + 20 < 108)) || die "$dir: path too long for a Unix socket (${#dir} bytes)"

# As root, run server programs as an unprivileged user: the owner of an
# existing cluster, else postgres, else nobody.
runas=()
user=$(id -un)
if [[ $(id -u) -eq 0 ]]; then
    if [[ -e "$dir/data/PG_VERSION" ]]; then
        user=$(stat -c %U -- "$dir/data")
    elif id -u postgres >/dev/null 2>&1; then
        user=postgres
    else
        user=nobody
    fi
    [[ "$user" != root ]] || die "$dir/data belongs to root; remove it"
    runas=(runuser -u "$user" --)
    chmod 0711 -- "$dir"
    "${runas[@]}" test -x "$dir" ||
        die "user $user cannot reach $dir: make its parent directories traversable (chmod o+x)"
fi

pgctl() {
    "${runas[@]}" "$bindir/pg_ctl" -D "$dir/data" "$@"
}

write_conninfo() {
    printf 'host=%s dbname=postgres user=joinery\n' "$dir/run" >"$dir/conninfo"
}

if [[ -e "$dir/data/PG_VERSION" ]] && pgctl status >/dev/null 2>&1; then
    write_conninfo
    echo "pg-start.sh: reusing the cluster already running in $dir"
    exit 0
fi

mkdir -p -- "$dir/data" "$dir/run"
chmod 0700 -- "$dir/data" "$dir/run"
touch -- "$dir/postgres.log"
if [[ ${#runas[@]} -gt 0 ]]; then
    chown -- "$user:" "$dir/data" "$dir/run" "$dir/postgres.log"
fi

if [[ ! -e "$dir/data/PG_VERSION" ]]; then
    locale=C
    if locale -a 2>/dev/null | grep -qix 'c.utf-\?8'; then
        locale=C.UTF-8
    fi
    # cd: initdb warns when it cannot read the caller's working directory.
    (cd "$dir" && "${runas[@]}" "$bindir/initdb" -D "$dir/data" -U joinery --auth=trust \
        -E UTF8 --locale="$locale" >"$dir/initdb.log" 2>&1) ||
        die "initdb failed: see $dir/initdb.log"
    # Same settings idea as the hub's cluster, scaled down for a test machine;
    # fsync stays on so tests see real durability behaviour.
    cat >>"$dir/data/postgresql.conf" <<CONF
# Added by tests/support/pg-start.sh
listen_addresses = ''
unix_socket_directories = '$dir/run'
unix_socket_permissions = 0700
shared_buffers = 128MB
wal_buffers = 16MB
max_wal_size = 1GB
checkpoint_timeout = 15min
fsync = on
synchronous_commit = on
max_connections = 200
timezone = 'UTC'
CONF
fi

(cd "$dir" && pgctl -l "$dir/postgres.log" -w -t 60 start >/dev/null) ||
    die "pg_ctl start failed: see $dir/postgres.log"
write_conninfo
echo "pg-start.sh: PostgreSQL running in $dir (socket $dir/run, user $user)"
