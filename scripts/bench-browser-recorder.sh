#!/usr/bin/env bash
# Benchmark (issue 15): the browser recorder (web/srs-browser.js in Chromium
# headful on Xvfb), the native recorder (`screenrec record`, what SRS runs) and
# ffmpeg x11grab + libx264 veryfast stillimage recording the same busy
# 1920x1080 screen at the same time, beside a lossless reference capture.
# Prints a markdown table: CPU-seconds per minute recorded (the browser: every
# Chromium process), MB per minute, SSIM against the reference over the common
# window; and Chromium's cost while sharing without recording.
#
#   scripts/bench-browser-recorder.sh                  # 30 s
#   BENCH_SECONDS=60 scripts/bench-browser-recorder.sh
#   BENCH_BIN=path/to/screenrec ...                    # that binary instead of a release build
#   BENCH_KEEP=1 ...                                   # keep the recordings
#
# The four recorders share the machine's cores while they run: compare the
# figures of one run, not across runs. Only processes it started are stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
if [ -n "${BENCH_BIN:-}" ]; then
  bin=$BENCH_BIN
else
  cargo build --release --locked -p cli --bin screenrec >&2
  bin=$PWD/target/release/screenrec
fi
cd tests/browser
SCREENREC_BIN=$bin exec node bench-browser-recorder.mjs
