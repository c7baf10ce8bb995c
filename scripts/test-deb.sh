#!/usr/bin/env bash
# The .deb packages (issue 12, "Install like server software"), built with
# cargo-deb from the already-built screenrec binary (no second build):
# - screenrec-srs (agent PCs): dpkg -i, systemd-analyze --user verify of the
#   user unit, desktop-file-validate of the XDG autostart entry, the
#   autostart launcher starts SRS (no user manager here: its direct path),
#   dpkg -r;
# - screenrec (the server): dpkg -i, the screenrec user and private dirs,
#   systemd-analyze verify of the RWS unit (any finding fails), RWS started
#   with the unit's own ExecStart and the packaged /etc/screenrec/rws.toml
#   as the screenrec user (systemd does not run here) answers /readyz;
#   dpkg -r leaves the data dir (database, master.key) unchanged.
# Idempotent: a previous run's install and data dir are fine.
# Usage: scripts/test-deb.sh [BINARY]   (default target/debug/screenrec)
# Prints "# pass N" / "# fail N" at the end, like the other suites.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin=${1:-${SCREENREC_BIN:-target/debug/screenrec}}
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

pass=0; fail=0
ok() { echo "ok - $*"; pass=$((pass + 1)); }
not_ok() { echo "not ok - $*"; fail=$((fail + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }
finish() {
  [ -n "${rws_pid:-}" ] && $SUDO kill "$rws_pid" 2>/dev/null
  echo "# pass $pass"; echo "# fail $fail"
  [ "$fail" = 0 ]
}
trap 'finish; exit $?' EXIT

[ -x "$bin" ] || { not_ok "binary $bin exists (build it first)"; exit 1; }
command -v cargo-deb >/dev/null || { not_ok "cargo-deb installed (scripts/setup.sh)"; exit 1; }

# cargo-deb packages target/release/screenrec; point it at a staging
# target dir holding the binary already built, instead of building again.
stage=$root/target/deb-stage
mkdir -p "$stage/release"
cp "$bin" "$stage/release/screenrec"
deb=$(CARGO_TARGET_DIR=$stage cargo deb -p cli --no-build --fast -q -o "$root/target/debian/" | tail -1)
check "cargo deb built $deb" test -f "$deb"
srs_deb=$(CARGO_TARGET_DIR=$stage cargo deb -p cli --variant srs --no-build --fast -q -o "$root/target/debian/" | tail -1)
check "cargo deb --variant srs built $srs_deb" test -f "$srs_deb"
[ -f "$deb" ] && [ -f "$srs_deb" ] || exit 1

# A previous run (or a failed one) may have left one installed (purged:
# the data dir stays whatever happens, see packaging/debian/postrm).
for p in screenrec screenrec-srs; do
  case "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" in
    i* | r* | h*) $SUDO dpkg -P "$p" >/dev/null ;;
  esac
done
# systemd-analyze verify exits 0 on ignored (misspelt) keys: any output fails.
verify() {
  local out
  out=$("$@" 2>&1); local rc=$?
  [ -n "$out" ] && echo "$out"
  [ "$rc" = 0 ] && [ -z "$out" ]
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# --- the agent PC's package
user_unit=/usr/lib/systemd/user/screenrec-srs.service
check "dpkg -i screenrec-srs" $SUDO dpkg -i "$srs_deb"
runtime=$(mktemp -d); chmod 700 "$runtime"
check "systemd-analyze --user verify $user_unit" verify env XDG_RUNTIME_DIR="$runtime" systemd-analyze --user verify "$user_unit"
rm -rf "$runtime"
check "$user_unit is part of the graphical session" grep -qx "PartOf=graphical-session.target" "$user_unit"
check "desktop-file-validate the XDG autostart entry" verify desktop-file-validate /etc/xdg/autostart/screenrec-srs.desktop
check "the autostart entry runs the launcher" grep -qx "Exec=/usr/lib/screenrec/srs-session" /etc/xdg/autostart/screenrec-srs.desktop
check "no RWS service on an agent PC" test ! -e /usr/lib/systemd/system/screenrec-rws.service
# The launcher as a login would run it; without a user manager it starts
# SRS itself, with the spool in the user's state dir.
home=$(mktemp -d)
srs_port=$(free_port)
env -i PATH=/usr/bin:/bin HOME="$home" SCREENREC_SRS_LISTEN="127.0.0.1:$srs_port" \
  /usr/lib/screenrec/srs-session >"$root/target/test-deb-srs.log" 2>&1 &
srs_pid=$!
up=""
for _ in $(seq 1 200); do
  up=$(curl -fsS "http://127.0.0.1:$srs_port/healthz" 2>/dev/null) && break
  kill -0 "$srs_pid" 2>/dev/null || break
  sleep 0.1
done
check "the autostart launcher started SRS: $up" test -n "$up"
check "SRS spools in ~/.local/state/screenrec/spool" test -d "$home/.local/state/screenrec/spool"
kill "$srs_pid" 2>/dev/null; wait "$srs_pid" 2>/dev/null
[ -n "$up" ] || cat "$root/target/test-deb-srs.log"
rm -rf "$home"
check "dpkg -r screenrec-srs" $SUDO dpkg -r screenrec-srs
# dpkg -r keeps conffiles: the autostart entry stays, inert (TryExec).
check "the autostart entry left by dpkg -r is inert (TryExec names the removed launcher)" \
  bash -c 'grep -qx "TryExec=/usr/lib/screenrec/srs-session" /etc/xdg/autostart/screenrec-srs.desktop && [ ! -e /usr/lib/screenrec/srs-session ]'
check "dpkg -P screenrec-srs removes the autostart entry" \
  bash -c "$SUDO dpkg -P screenrec-srs >/dev/null && [ ! -e /etc/xdg/autostart/screenrec-srs.desktop ]"

# --- the server's package
check "dpkg -i screenrec" $SUDO dpkg -i "$deb"
check "the screenrec system user exists, no login shell" \
  bash -c '[ "$(getent passwd screenrec | cut -d: -f7)" = /usr/sbin/nologin ] && [ "$(id -u screenrec)" -lt 1000 ]'
check "/var/lib/screenrec is screenrec's, 0700" \
  bash -c '[ "$(stat -c "%U %a" /var/lib/screenrec)" = "screenrec 700" ]'
check "/etc/screenrec/rws.toml is root:screenrec 0640" \
  bash -c '[ "$(stat -c "%U:%G %a" /etc/screenrec/rws.toml)" = "root:screenrec 640" ]'

# An upgrade (here: the same package again) keeps the administrator's
# configuration and the data dir's owner and mode.
echo "# changed by the administrator" | $SUDO tee -a /etc/screenrec/rws.toml >/dev/null
check "dpkg -i again (upgrade path)" $SUDO dpkg -i "$deb"
check "the administrator's rws.toml is kept" grep -qx "# changed by the administrator" /etc/screenrec/rws.toml
check "/var/lib/screenrec still screenrec's, 0700" \
  bash -c '[ "$(stat -c "%U %a" /var/lib/screenrec)" = "screenrec 700" ]'

unit=/usr/lib/systemd/system/screenrec-rws.service
check "systemd-analyze verify $unit" verify systemd-analyze verify "$unit"
check "no SRS autostart on the server" test ! -e /etc/xdg/autostart/screenrec-srs.desktop
for key in "Restart=on-failure" "User=screenrec" "NoNewPrivileges=yes" "ProtectSystem=strict" \
           "ProtectHome=yes" "PrivateTmp=yes" "ReadWritePaths=/var/lib/screenrec"; do
  check "$unit has $key" grep -qx "$key" "$unit"
done

# RWS as systemd would start it: the unit's ExecStart, as its User, in /.
# The listen address of the packaged config is moved to a free port with
# SCREENREC_RWS_LISTEN (the packaged 8090 may be taken on a test machine).
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
check "ExecStart reads the packaged config" test "$exec_start" = "/usr/bin/screenrec rws --config /etc/screenrec/rws.toml"
port=$(free_port)
log=$root/target/test-deb-rws.log
# shellcheck disable=SC2086 # the command line is split as systemd splits it
(cd / && exec $SUDO runuser -u screenrec -- env SCREENREC_RWS_LISTEN="127.0.0.1:$port" $exec_start) >"$log" 2>&1 &
rws_pid=$!
ready=""
for _ in $(seq 1 200); do
  ready=$(curl -fsS "http://127.0.0.1:$port/readyz" 2>/dev/null) && break
  kill -0 "$rws_pid" 2>/dev/null || break
  sleep 0.1
done
check "RWS from the unit answers /readyz: $ready" \
  test "$ready" = '{"database":"ok","status":"ready","storage":"ok"}'
check "RWS made its database and key in /var/lib/screenrec, screenrec's, 0600" \
  bash -c '[ "$(stat -c "%U %a" /var/lib/screenrec/screenrec.db /var/lib/screenrec/master.key | sort -u)" = "screenrec 600" ]'
# The backup command of docs/operations.md, as screenrec, while RWS runs.
backups=$(mktemp -d)
$SUDO chown screenrec "$backups"
check "screenrec rws backup --config /etc/screenrec/rws.toml as screenrec, RWS running" \
  $SUDO runuser -u screenrec -- /usr/bin/screenrec rws backup --config /etc/screenrec/rws.toml --out "$backups/b"
check "the backup holds the database and master.key, 0600" \
  $SUDO bash -c "[ \"\$(stat -c %a $backups/b/screenrec.db $backups/b/master.key | sort -u)\" = 600 ]"
$SUDO rm -rf "$backups"
$SUDO kill "$rws_pid"; wait "$rws_pid" 2>/dev/null; rws_pid=""
[ "$fail" = 0 ] || cat "$log"

before=$($SUDO sha256sum /var/lib/screenrec/screenrec.db /var/lib/screenrec/master.key)
check "dpkg -r screenrec" $SUDO dpkg -r screenrec
check "the binary is gone" test ! -e /usr/bin/screenrec
check "the data dir (database, master.key) is left unchanged" \
  test "$($SUDO sha256sum /var/lib/screenrec/screenrec.db /var/lib/screenrec/master.key)" = "$before"
