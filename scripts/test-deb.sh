#!/usr/bin/env bash
# The .deb (issue 12, "Install like server software"): builds it with
# cargo-deb from the already-built screenrec binary (no second build),
# installs it with dpkg -i, checks its systemd units with systemd-analyze
# verify (any finding fails), starts RWS with the unit's own ExecStart and
# the packaged /etc/screenrec/rws.toml as the screenrec user (systemd does
# not run here), waits for /readyz, then dpkg -r and checks the data dir
# and its recordings database are still there, unchanged.
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
[ -f "$deb" ] || exit 1

# A previous run (or a failed one) may have left it installed.
if dpkg-query -W -f='${Status}' screenrec 2>/dev/null | grep -q "install ok installed"; then
  $SUDO dpkg -r screenrec >/dev/null
fi
check "dpkg -i" $SUDO dpkg -i "$deb"
check "the screenrec system user exists, no login shell" \
  bash -c '[ "$(getent passwd screenrec | cut -d: -f7)" = /usr/sbin/nologin ] && [ "$(id -u screenrec)" -lt 1000 ]'
check "/var/lib/screenrec is screenrec's, 0700" \
  bash -c '[ "$(stat -c "%U %a" /var/lib/screenrec)" = "screenrec 700" ]'
check "/etc/screenrec/rws.toml is root:screenrec 0640" \
  bash -c '[ "$(stat -c "%U:%G %a" /etc/screenrec/rws.toml)" = "root:screenrec 640" ]'

unit=/usr/lib/systemd/system/screenrec-rws.service
user_unit=/usr/lib/systemd/user/screenrec-srs.service
# systemd-analyze verify exits 0 on ignored (misspelt) keys: any output fails.
verify() {
  local out
  out=$("$@" 2>&1); local rc=$?
  [ -n "$out" ] && echo "$out"
  [ "$rc" = 0 ] && [ -z "$out" ]
}
check "systemd-analyze verify $unit" verify systemd-analyze verify "$unit"
runtime=$(mktemp -d); chmod 700 "$runtime"
check "systemd-analyze --user verify $user_unit" verify env XDG_RUNTIME_DIR="$runtime" systemd-analyze --user verify "$user_unit"
rm -rf "$runtime"
check "desktop-file-validate the XDG autostart entry" verify desktop-file-validate /etc/xdg/autostart/screenrec-srs.desktop
for key in "Restart=on-failure" "User=screenrec" "NoNewPrivileges=yes" "ProtectSystem=strict" \
           "ProtectHome=yes" "PrivateTmp=yes" "ReadWritePaths=/var/lib/screenrec"; do
  check "$unit has $key" grep -qx "$key" "$unit"
done
check "$user_unit is part of the graphical session" grep -qx "PartOf=graphical-session.target" "$user_unit"

# RWS as systemd would start it: the unit's ExecStart, as its User, in /.
# The listen address of the packaged config is moved to a free port with
# SCREENREC_RWS_LISTEN (the packaged 8090 may be taken on a test machine).
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
check "ExecStart reads the packaged config" test "$exec_start" = "/usr/bin/screenrec rws --config /etc/screenrec/rws.toml"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
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
$SUDO kill "$rws_pid"; wait "$rws_pid" 2>/dev/null; rws_pid=""
[ "$fail" = 0 ] || cat "$log"

before=$($SUDO sha256sum /var/lib/screenrec/screenrec.db /var/lib/screenrec/master.key)
check "dpkg -r" $SUDO dpkg -r screenrec
check "the binary is gone" test ! -e /usr/bin/screenrec
check "the data dir (database, master.key) is left unchanged" \
  test "$($SUDO sha256sum /var/lib/screenrec/screenrec.db /var/lib/screenrec/master.key)" = "$before"
