#!/usr/bin/env bash
# The Debian package (docs/operations.md, "Installing as a service"): cpack builds it from this
# build tree; its contents (every program, the systemd units, the configuration as conffiles,
# the migrations) and its Depends are checked; dpkg installs it into a scratch root (never this
# machine's: --root with chrootless maintainer scripts, which honour DPKG_ROOT), where the
# postinst makes the user joinery, /var/lib/joinery and the key pairs. Then the installed
# joineryd checks and runs the installed configuration (paths moved into the scratch root),
# the installed joinery CLI publishes to it and joinery-health connects, a second configure
# (an upgrade) keeps the keys, and a purge removes data and keys.
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

for tool in cpack dpkg dpkg-deb useradd; do
    command -v "$tool" >/dev/null || skip "$tool not found (Debian: cmake, dpkg, passwd)"
done
# chown to the package's user and useradd --prefix need root; nothing outside the scratch
# root is changed.
[[ $(id -u) -eq 0 ]] || skip "needs root (dpkg --root with the maintainer scripts' chown)"

pkgdir=$E2E_DIR/pkg
root=$E2E_DIR/root
mkdir -p "$pkgdir"

# ---- the package -----------------------------------------------------------------------------
cpack --config "$JOINERY_BUILD_DIR/CPackConfig.cmake" -B "$pkgdir" >"$E2E_DIR/cpack.log" 2>&1 ||
    fail "cpack failed: $(tail -n 20 "$E2E_DIR/cpack.log")"
debs=("$pkgdir"/joinery_*.deb)
[[ ${#debs[@]} -eq 1 && -f ${debs[0]} ]] || fail "cpack made no single joinery_*.deb: ${debs[*]}"
deb=${debs[0]}

dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$E2E_DIR/contents"
has_file() { grep -qxF -- "$1" "$E2E_DIR/contents" || fail "the package lacks $1"; }
for prog in joineryd joinery joinery-crm joinery-socialcare joinery-agresso joinery-health; do
    has_file "/usr/bin/$prog"
done
units=(joineryd joinery-crm joinery-socialcare joinery-agresso joinery-health)
for unit in "${units[@]}"; do has_file "/usr/lib/systemd/system/$unit.service"; done
etc=(joinery.yaml crm.yaml socialcare.yaml agresso.yaml health.yaml)
for f in "${etc[@]}"; do has_file "/etc/joinery/$f"; done
for f in "$JOINERY_SOURCE_DIR"/hub/store/sql/*.sql; do has_file "/usr/share/joinery/sql/$(basename "$f")"; done
has_file /usr/lib/libjoinery.so.0
has_file /usr/share/doc/joinery/operations.md

# Every file under /etc is a conffile, and every conffile is in the package.
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | sort >"$E2E_DIR/conffiles"
grep '^/etc/.*[^/]$' "$E2E_DIR/contents" | sort >"$E2E_DIR/etcfiles"
diff -u "$E2E_DIR/etcfiles" "$E2E_DIR/conffiles" >&2 || fail "conffiles differ from the files under /etc"

# Depends: PostgreSQL 15's server programs for the private cluster, and the shared libraries
# dpkg-shlibdeps found the programs need.
depends=$(dpkg-deb -f "$deb" Depends)
for dep in postgresql-15 libzmq5 libpq5 libsodium23 libyaml-0-2 libc6; do
    [[ ", $depends," == *", $dep"[\ ,]* ]] || fail "Depends lacks $dep: $depends"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -t >"$E2E_DIR/control"
for script in postinst prerm postrm triggers; do
    grep -qx "./$script" "$E2E_DIR/control" || fail "the package has no $script"
done

# ---- the units -------------------------------------------------------------------------------
dpkg-deb -x "$deb" "$E2E_DIR/x"
for unit in "${units[@]}"; do
    u=$E2E_DIR/x/usr/lib/systemd/system/$unit.service
    conf=/etc/joinery/${unit#joinery-}.yaml
    [[ $unit == joineryd ]] && conf=/etc/joinery/joinery.yaml
    grep -qx "User=joinery" "$u" || fail "$unit.service does not run as joinery"
    grep -qx "ExecStart=/usr/bin/$unit --config $conf" "$u" ||
        fail "$unit.service: no ExecStart of /usr/bin/$unit on $conf"
    grep -qx "StandardError=journal" "$u" || fail "$unit.service: stderr does not go to the journal"
    grep -q '@' "$u" && fail "$unit.service has an unfilled @PLACEHOLDER@: $(grep '@' "$u")"
    # Every absolute program and file a unit's settings name is in the package.
    grep -v '^#' "$u" | grep -oE '(^|[ =])/(usr|etc)/[^ ]+' | sed 's/^[ =]//' | sort -u |
        while read -r path; do
            [[ -e $E2E_DIR/x$path ]] || fail "$unit.service names $path, which the package does not install"
        done
done
u=$E2E_DIR/x/usr/lib/systemd/system/joineryd.service
for line in "ExecStart=/usr/bin/joineryd --config /etc/joinery/joinery.yaml" "StateDirectory=joinery" \
    "ConfigurationDirectory=joinery" "ReadWritePaths=/var/lib/joinery" "NoNewPrivileges=yes" \
    "ProtectSystem=strict" "ProtectHome=yes" "PrivateTmp=yes" "Restart=on-failure" "KillMode=mixed"; do
    grep -qxF "$line" "$u" || fail "joineryd.service lacks $line"
done
for unit in "${units[@]:1}"; do
    grep -qx "After=network-online.target joineryd.service" \
        "$E2E_DIR/x/usr/lib/systemd/system/$unit.service" || fail "$unit.service is not ordered after joineryd"
done
# systemd's own parser on the units: an unknown or misspelt setting is reported (the programs
# are not installed on this machine, so that complaint alone is expected).
if command -v systemd-analyze >/dev/null; then
    complaints=$(systemd-analyze verify "$E2E_DIR"/x/usr/lib/systemd/system/*.service 2>&1 |
        grep -v "is not executable" || true)
    [[ -z $complaints ]] || fail "systemd-analyze verify: $complaints"
fi
# The installed configuration names absolute paths only, under /etc/joinery and /var/lib/joinery.
cfg=$E2E_DIR/x/etc/joinery/joinery.yaml
grep -qx "  data_dir: /var/lib/joinery .*" "$cfg" || fail "joinery.yaml: data_dir is not /var/lib/joinery"
grep -qx "  hub_key_file: /etc/joinery/keys/hub.key" "$cfg" || fail "joinery.yaml: hub_key_file not absolute"
relative=$(grep -nE '^\s*[a-z_]*(_file|_dir|dir): *[^/ "#]' "$E2E_DIR"/x/etc/joinery/*.yaml || true)
[[ -z $relative ]] || fail "relative paths in the installed configuration: $relative"

# ---- install into the scratch root -----------------------------------------------------------
# The smallest root dpkg and useradd --prefix work in: dpkg's database, and root in the
# account files.
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/etc"
: >"$root/var/lib/dpkg/status"
echo "root:x:0:0:root:/root:/bin/bash" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"
(
    umask 077
    echo "root:*:19000:0:99999:7:::" >"$root/etc/shadow"
    echo "root:*::" >"$root/etc/gshadow"
)
# The scratch root's libjoinery.so.0, for the installed programs and the postinst's keygen.
export LD_LIBRARY_PATH=$root/usr/lib
# Its dependencies are this machine's, not the empty root's: --force-depends.
dpkg --root="$root" --force-script-chrootless --force-depends -i "$deb" >"$E2E_DIR/dpkg-i.log" 2>&1 ||
    fail "dpkg -i into the scratch root failed: $(tail -n 20 "$E2E_DIR/dpkg-i.log")"
dpkg --root="$root" -s joinery | grep -qx "Status: install ok installed" ||
    fail "joinery is not 'install ok installed' in the scratch root"

uid=$(awk -F: '$1 == "joinery" {print $3}' "$root/etc/passwd")
gid=$(awk -F: '$1 == "joinery" {print $3}' "$root/etc/group")
[[ -n $uid && -n $gid ]] || fail "the postinst made no user and group joinery: $(cat "$root/etc/passwd")"
((uid < 1000)) || fail "joinery is not a system user (uid $uid)"
grep -q "^joinery:.*:/usr/sbin/nologin$" "$root/etc/passwd" || fail "joinery can log in: $(grep ^joinery: "$root/etc/passwd")"
[[ $(stat -c '%u:%g %a' "$root/var/lib/joinery") == "$uid:$gid 750" ]] ||
    fail "/var/lib/joinery is $(stat -c '%u:%g %a' "$root/var/lib/joinery"), not $uid:$gid 750"
keys=$root/etc/joinery/keys
for name in hub crm socialcare agresso health ops; do
    [[ -s $keys/$name.key && -s $keys/$name.pub ]] || fail "the postinst made no $name key pair"
    want="$uid 600"
    [[ $name == ops ]] && want="0 600"
    [[ $(stat -c '%u %a' "$keys/$name.key") == "$want" ]] ||
        fail "$name.key is $(stat -c '%u %a' "$keys/$name.key"), not $want"
done
for name in crm-webhook socialcare-api; do
    [[ $(stat -c '%u %a' "$root/etc/joinery/secrets/$name.key") == "$uid 600" ]] ||
        fail "the postinst made no secrets/$name.key owned by joinery, mode 600"
done
[[ -L $root/etc/systemd/system/multi-user.target.wants/joineryd.service ]] ||
    fail "joineryd.service is not enabled in the scratch root"

# An upgrade's configure keeps every key (a new hub key would lock every adapter out).
sha256sum "$keys"/* "$root"/etc/joinery/secrets/* >"$E2E_DIR/keys.sum"
DPKG_ROOT=$root DPKG_MAINTSCRIPT_NAME=postinst sh "$root/var/lib/dpkg/info/joinery.postinst" configure 0.1.0 ||
    fail "the postinst failed when run again (an upgrade)"
sha256sum --quiet -c "$E2E_DIR/keys.sum" || fail "a second configure replaced keys"

# ---- run what was installed ------------------------------------------------------------------
# The configuration as installed, its /etc/joinery and /var/lib/joinery moved into the test's
# directories and its ports made free; everything else as the package has it.
port=$(free_port)
mllp=$(free_port)
relocate() { # FILE
    sed -e "s|/etc/joinery/|$root/etc/joinery/|g" -e "s|/var/lib/joinery|$E2E_DIR/data|g" \
        -e "s|tcp://127.0.0.1:7600|tcp://127.0.0.1:$port|" -e "s|\"127.0.0.1:2575\"|\"127.0.0.1:$mllp\"|" \
        "$root/etc/joinery/$1"
}
relocate joinery.yaml >"$E2E_DIR/joinery.yaml"
for a in crm socialcare agresso health; do relocate "$a.yaml" >"$E2E_DIR/$a.yaml"; done
# The migrations where the unit says, inside the scratch root (not the source tree's).
sqldir=$(sed -n 's|^Environment=JOINERY_SQL_DIR=||p' "$root/usr/lib/systemd/system/joineryd.service")
[[ -n $sqldir ]] || fail "joineryd.service sets no JOINERY_SQL_DIR"
export JOINERY_SQL_DIR=$root$sqldir

JOINERYD=$root/usr/bin/joineryd
JOINERY=$root/usr/bin/joinery
"$JOINERYD" --check-config "$E2E_DIR/joinery.yaml" >"$E2E_DIR/check.out" 2>&1 ||
    fail "installed joineryd --check-config: $(cat "$E2E_DIR/check.out")"
grep -q "configuration is valid (5 adapters)" "$E2E_DIR/check.out" || fail "check-config said: $(cat "$E2E_DIR/check.out")"
for a in crm socialcare agresso health; do
    "$root/usr/bin/joinery-$a" --config "$E2E_DIR/$a.yaml" --check-config >"$E2E_DIR/check-$a.out" 2>&1 ||
        fail "installed joinery-$a --check-config: $(cat "$E2E_DIR/check-$a.out")"
done

start_hub "$E2E_DIR/joinery.yaml"
log_has "$E2E_DIR/hub.log" "applied migration 0001_journal.sql" || fail "the hub applied no migrations"
cli=("$JOINERY" --endpoint "tcp://127.0.0.1:$port" --keys "$keys")
out=$("${cli[@]}" --adapter crm publish <<<'{"type": "crm.contact.updated", "source_record_id": "C-1",
    "payload": {"name": "Ada"}}') || fail "installed joinery publish failed: $out"
[[ $out == *'"status":"OK"'*'"seq":1,'* ]] || fail "publish printed $out"

# An installed adapter on its installed configuration connects with the postinst's keys.
"$root/usr/bin/joinery-health" --config "$E2E_DIR/health.yaml" >"$E2E_DIR/health.log" 2>&1 &
health=$!
connected() {
    local st
    st=$("${cli[@]}" status) && [[ $st == *'"name":"health","connected":true'* ]]
}
wait_for 30 "joinery-health to connect" connected
status=$("${cli[@]}" status) || fail "installed joinery status failed"
[[ $status == *'"head_seq":1,'* ]] || fail "status after one publish: $status"
kill -TERM "$health"
wait_exit "$health" "joinery-health"
stop_hub

# ---- purge -----------------------------------------------------------------------------------
mkdir -p "$root/var/lib/joinery/pg" # as if the hub had run there
dpkg --root="$root" --force-script-chrootless --purge joinery >"$E2E_DIR/dpkg-purge.log" 2>&1 ||
    fail "dpkg --purge in the scratch root failed: $(tail -n 20 "$E2E_DIR/dpkg-purge.log")"
for gone in /usr/bin/joineryd /var/lib/joinery /etc/joinery/keys /etc/joinery/joinery.yaml \
    /etc/systemd/system/multi-user.target.wants/joineryd.service; do
    [[ ! -e $root$gone && ! -L $root$gone ]] || fail "$gone is still there after the purge"
done
echo "ok: package $(basename "$deb") built, installed in a scratch root, ran, purged"
