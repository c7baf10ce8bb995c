#!/usr/bin/env bash
# Runs the product on this machine: `screenrec demo` — RWS (127.0.0.1:8090) and SRS
# (127.0.0.1:8086) in one process with the demo directory, recording this display (synthetic
# test content when there is none), a recorded call every minute. Open the printed
# recordings URL and log in as supervisor / supervisor-demo. Ctrl-C stops it.
# Data lives in $SCREENREC_DEMO_DIR (default: a new folder under /tmp each run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh build
cargo build --release --locked -p cli
dir=${SCREENREC_DEMO_DIR:-$(mktemp -d /tmp/screenrec-demo.XXXXXX)}
exec target/release/screenrec demo --data-dir "$dir" "$@"
