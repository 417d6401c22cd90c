#!/usr/bin/env bash
# pg-pair.sh DIR start|stop - two throwaway PostgreSQL clusters for the
# high-availability test (tests/e2e/test_ha_failover.sh): a primary in
# DIR/primary and a synchronous streaming standby of it in DIR/standby, each
# on its own private Unix socket (DIR/NAME/run, no TCP), trust auth for the
# user joinery, fsync on. synchronous_standby_names names the standby, so a
# commit (and so a CONFIRM) returns only once the standby has flushed it.
# The standby's own settings leave synchronous_standby_names empty: once
# promoted, alone, it must not wait for a standby it does not have.
#
# start prints the hub's conninfo naming both (target_session_attrs=read-write,
# database joinery) and writes it to DIR/conninfo; DIR/pgctl.sh NAME ARGS runs
# pg_ctl on one of them as its owner (e.g. "primary stop -m immediate",
# "standby promote"). stop stops both, whatever state they are in.
# The single test cluster of pg-start.sh is not touched.
set -euo pipefail

die() {
    printf 'pg-pair.sh: %s\n' "$*" >&2
    exit 1
}

[[ $# -eq 2 && -n "$1" ]] || die "usage: pg-pair.sh DIR start|stop"
bindir=${PG_BINDIR:-$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n1)}
for prog in initdb pg_ctl pg_basebackup psql; do
    [[ -x "$bindir/$prog" ]] || die "$bindir/$prog not found (apt-get install postgresql)"
done
mkdir -p -- "$1"
dir=$(cd -- "$1" && pwd -P)
[[ "$dir" != *[[:space:]\'\"\\,]* ]] || die "$dir: spaces, quotes, backslashes and commas are not supported"
(("${#dir}" + 28 < 108)) || die "$dir: path too long for a Unix socket"

runas=()
if [[ $(id -u) -eq 0 ]]; then
    user=postgres
    id -u postgres >/dev/null 2>&1 || user=nobody
    runas=(runuser -u "$user" --)
    chmod 0711 -- "$dir"
fi

cat >"$dir/pgctl.sh" <<SH
#!/usr/bin/env bash
# pgctl.sh primary|standby PG_CTL_ARGS...: pg_ctl on one of the pair, as its owner.
name=\$1
shift
cd /tmp && ${runas[*]} "$bindir/pg_ctl" -D "$dir/\$name/data" -l "$dir/\$name/postgres.log" -w -t 60 "\$@" >/dev/null
SH
chmod +x "$dir/pgctl.sh"

if [[ $2 == stop ]]; then
    for n in standby primary; do
        [[ -e "$dir/$n/data/PG_VERSION" ]] || continue
        "$dir/pgctl.sh" "$n" status >/dev/null 2>&1 || continue
        "$dir/pgctl.sh" "$n" -m immediate stop || die "cannot stop $n"
    done
    exit 0
fi
[[ $2 == start ]] || die "usage: pg-pair.sh DIR start|stop"
[[ ! -e "$dir/primary" ]] || die "$dir/primary exists: the pair is made afresh each time"

for n in primary standby; do
    mkdir -p -- "$dir/$n/run"
    touch -- "$dir/$n/postgres.log"
    chmod 0700 -- "$dir/$n/run"
    if [[ ${#runas[@]} -gt 0 ]]; then
        chown -R -- "$user:" "$dir/$n"
        chmod 0711 -- "$dir/$n"
    fi
done

locale=C
locale -a 2>/dev/null | grep -qix 'c.utf-\?8' && locale=C.UTF-8
(cd /tmp && "${runas[@]}" "$bindir/initdb" -D "$dir/primary/data" -U joinery --auth=trust \
    -E UTF8 --locale="$locale" >"$dir/primary/initdb.log" 2>&1) ||
    die "initdb failed: see $dir/primary/initdb.log"
"${runas[@]}" tee -a "$dir/primary/data/postgresql.conf" >/dev/null <<CONF
# Added by tests/support/pg-pair.sh
listen_addresses = ''
unix_socket_directories = '$dir/primary/run'
unix_socket_permissions = 0700
shared_buffers = 128MB
max_wal_size = 1GB
fsync = on
synchronous_commit = on
max_connections = 100
timezone = 'UTC'
wal_level = replica
max_wal_senders = 4
hot_standby = on
synchronous_standby_names = 'standby'
CONF
"$dir/pgctl.sh" primary start || die "the primary did not start: see $dir/primary/postgres.log"
# -R writes standby.signal and primary_conninfo (with application_name, the
# name synchronous_standby_names waits for); -X stream: the WAL of the copy.
(cd /tmp && "${runas[@]}" "$bindir/pg_basebackup" -D "$dir/standby/data" -R -X stream \
    -d "host=$dir/primary/run user=joinery application_name=standby" \
    >"$dir/standby/basebackup.log" 2>&1) || die "pg_basebackup failed: see $dir/standby/basebackup.log"
"${runas[@]}" tee -a "$dir/standby/data/postgresql.conf" >/dev/null <<CONF
# The standby's own (pg-pair.sh): its socket, and no standby of its own to wait for.
unix_socket_directories = '$dir/standby/run'
synchronous_standby_names = ''
CONF
"$dir/pgctl.sh" standby start || die "the standby did not start: see $dir/standby/postgres.log"

psql_p() { "${runas[@]}" "$bindir/psql" -X -A -t -q -h "$dir/primary/run" -U joinery -d postgres -c "$1"; }
for _ in $(seq 1 300); do
    [[ $(psql_p "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'") == sync ]] && break
    sleep 0.1
done
[[ $(psql_p "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'") == sync ]] ||
    die "the standby is not streaming synchronously (see $dir/*/postgres.log)"
psql_p "CREATE DATABASE joinery" || die "cannot create the database joinery"
conninfo="host=$dir/primary/run,$dir/standby/run dbname=joinery user=joinery target_session_attrs=read-write connect_timeout=2"
printf '%s\n' "$conninfo" >"$dir/conninfo"
printf '%s\n' "$conninfo"
