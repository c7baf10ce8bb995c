#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what is missing
# (scripts/setup.sh), checks formatting, RWS's layering and lints, builds
# once, then runs the Rust unit and end-to-end tests (real screenrec
# processes, Xvfb, ffprobe), the browser tests (playwright-core driving Debian's chromium)
# and schema fuzzing of the RWS API (scripts/schemathesis.sh).
# Exits non-zero if anything failed; ends with one "N passed, N failed" line.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bash scripts/setup.sh || exit 1

export CARGO_TERM_COLOR=never
mkdir -p target
status=0

step() { echo; echo "== $*"; }

step "cargo fmt --check"
cargo fmt --all --check || status=1

step "layers (scripts/check-layers.py: RWS's imports point down, no cycle)"
python3 scripts/check-layers.py || status=1

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings || status=1

step "cargo build (once, for every test below)"
cargo build --workspace --all-targets --locked || exit 1

step "cargo test"
cargo test --workspace --locked --no-fail-fast 2>&1 | tee target/cargo-test.log
[ "${PIPESTATUS[0]}" = 0 ] || status=1

# The same e2e binary (no new build) with RWS on PostgreSQL + S3 (servers
# the tests start: initdb/pg_ctl, moto). The SQLite pass above stays the
# default; this one proves the second backend (issue 11, docs/testing.md).
step "e2e on PostgreSQL + S3 (SCREENREC_TEST_BACKEND=postgres-s3)"
pg_start=$(date +%s)
SCREENREC_TEST_BACKEND=postgres-s3 cargo test -p cli --test e2e --locked --no-fail-fast 2>&1 | tee target/cargo-test-postgres.log
[ "${PIPESTATUS[0]}" = 0 ] || status=1
echo "postgres-s3 pass: $(( $(date +%s) - pg_start )) s"

if [ -d tests/browser ] && ls tests/browser/*.test.mjs >/dev/null 2>&1; then
  step "browser tests (node --test, headless chromium)"
  (cd tests/browser && SCREENREC_BIN="$root/target/debug/screenrec" \
     timeout 900 node --test --test-reporter=tap --test-concurrency=1 --test-timeout=120000 ./*.test.mjs) 2>&1 | tee target/browser-test.log
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
fi

step "schema fuzzing (schemathesis: anonymous, agent, integration, admin)"
rm -f target/schemathesis.log
SCREENREC_BIN="$root/target/debug/screenrec" timeout 900 bash scripts/schemathesis.sh 2>&1 | tee target/schemathesis.log
[ "${PIPESTATUS[0]}" = 0 ] || status=1

step ".deb package (cargo-deb, dpkg -i, systemd-analyze verify, RWS from its unit, dpkg -r)"
rm -f target/deb-test.log
timeout 600 bash scripts/test-deb.sh "$root/target/debug/screenrec" 2>&1 | tee target/deb-test.log
[ "${PIPESTATUS[0]}" = 0 ] || status=1

step "RWS benchmark, CI size (scripts/bench-rws.sh --smoke: fails on errors, not on figures)"
SCREENREC_BIN="$root/target/debug/screenrec" timeout 300 bash scripts/bench-rws.sh --smoke || status=1
step "RWS benchmark, CI size, 2 nodes on a throw-away PostgreSQL behind a TCP balancer (~40 s)"
DATABASE=postgres NODES=2 SCREENREC_BIN="$root/target/debug/screenrec" timeout 300 bash scripts/bench-rws.sh --smoke || status=1

passed=0; failed=0
while read -r p f; do passed=$((passed + p)); failed=$((failed + f)); done < <(
  sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p' target/cargo-test.log target/cargo-test-postgres.log)
if [ -f target/browser-test.log ]; then
  p=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' target/browser-test.log | tail -1)
  f=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' target/browser-test.log | tail -1)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
fi
if [ -f target/schemathesis.log ]; then
  p=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' target/schemathesis.log | tail -1)
  f=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' target/schemathesis.log | tail -1)
  # No summary line: the run itself broke; count it as one failure.
  [ -n "$p$f" ] || f=1
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
fi
if [ -f target/deb-test.log ]; then
  p=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' target/deb-test.log | tail -1)
  f=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' target/deb-test.log | tail -1)
  [ -n "$p$f" ] || f=1
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
fi
echo
[ "$status" = 0 ] || echo "test.sh: some step failed (see above)"
echo "${passed} passed, ${failed} failed"
exit "$status"
