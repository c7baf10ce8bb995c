#!/usr/bin/env bash
# Runs the product on this machine: RWS on 127.0.0.1:8090 with the demo directory
# (examples/demo-directory.toml) and an SRS on 127.0.0.1:8086 connected to it.
# Open the printed desktop URL and log in as an agent. Ctrl-C stops both.
# Data lives in $SCREENREC_DEMO_DIR (default: a folder under /tmp, new each run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh build
cargo build --release --locked -p cli
bin=$PWD/target/release/screenrec
dir=${SCREENREC_DEMO_DIR:-$(mktemp -d /tmp/screenrec-demo.XXXXXX)}
mkdir -p "$dir"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

"$bin" rws --listen 127.0.0.1:8090 --data-dir "$dir/rws" --directory examples/demo-directory.toml \
  2> >(sed 's/^/[rws] /' >&2) &
pids+=($!)
for _ in $(seq 100); do curl -fsS http://127.0.0.1:8090/healthz >/dev/null 2>&1 && break; sleep 0.1; done
"$bin" srs --listen 127.0.0.1:8086 --spool "$dir/spool" --server http://127.0.0.1:8090 \
  2> >(sed 's/^/[srs] /' >&2) &
pids+=($!)
for _ in $(seq 100); do curl -fsS http://127.0.0.1:8086/healthz >/dev/null 2>&1 && break; sleep 0.1; done

cat <<TXT

screenrec demo is running (data in $dir)
  agent desktop : http://127.0.0.1:8090/desktop/     (SRS address http://127.0.0.1:8086)
  agents        : agent1 / agent1-demo (Place_1001), agent2 / agent2-demo (Place_1002)
  hot seat      : place Place_Hot, devices 2001@SIP_Switch, 2002@SIP_Switch
  SRS sessions  : curl -u admin:admin-demo http://127.0.0.1:8090/api/v2/srs/sessions
  supervisor    : supervisor / supervisor-demo
Ctrl-C stops it.
TXT
wait -n "${pids[@]}"
