#!/usr/bin/env bash
# Schema fuzzing (threat model, "How we test it"): schemathesis against
# /api/v2/openapi.json of a throw-away RWS, once per identity: anonymous,
# agent, integration (bearer token) and admin. Checks: no server error,
# every status, content type and JSON body as the document says. Bounded
# examples per operation (SCHEMATHESIS_EXAMPLES, default 15; a few minutes
# on 2 cores). SSE (/api/v2/recordings/events) never ends, so it is left
# to the e2e tests. Prints "# pass N" / "# fail N" (counted by test.sh).
# schemathesis tries wrong credentials on every operation; the login
# throttle (tested in e2e/hostile_stranger.rs) would then answer 429 to the
# rest of the run and leave the operations' logic unfuzzed, so this
# throw-away RWS allows many failures (429 and 503 are still documented).
# Usage: SCREENREC_BIN=target/debug/screenrec scripts/schemathesis.sh
set -uo pipefail
cd "$(dirname "$0")/.."
bin=${SCREENREC_BIN:-$PWD/target/debug/screenrec}
st=${SCHEMATHESIS:-$PWD/target/schemathesis-venv/bin/schemathesis}
examples=${SCHEMATHESIS_EXAMPLES:-15}
if [ ! -x "$st" ]; then
  echo "schemathesis.sh: $st missing (scripts/setup.sh installs it)" >&2
  exit 1
fi

tmp=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

cat >"$tmp/directory.toml" <<'TOML'
recording_when = "always"

[[switch]]
name = "SIP_Switch"

[[place]]
name = "Place_1001"
devices = [{ dn = "1001", switch = "SIP_Switch" }]

[[user]]
username = "agent1"
password = "fuzz-agent-pw"
roles = ["agent"]
default_place = "Place_1001"

[[user]]
username = "admin"
password = "fuzz-admin-pw"
roles = ["admin"]
TOML
token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$token" >"$tmp/token"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
SCREENREC_LOG=warn "$bin" rws --listen "127.0.0.1:$port" --data-dir "$tmp/data" \
  --directory "$tmp/directory.toml" --integration-token-file "$tmp/token" \
  --auth-free-failures 1000000 >"$tmp/rws.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
  curl -fsS "$url/healthz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if ! curl -fsS "$url/healthz" >/dev/null 2>&1; then
  echo "schemathesis.sh: RWS did not start:" >&2
  cat "$tmp/rws.log" >&2
  exit 1
fi

pass=0
fail=0
run() {
  local who=$1
  shift
  echo "== schemathesis as $who"
  # From the temp dir: schemathesis keeps its own state in ./.schemathesis.
  if (cd "$tmp" && "$st" run "$url/api/v2/openapi.json" --url "$url" "$@" \
      --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
      --phases examples,coverage,fuzzing -n "$examples" --workers 2 --seed 1 \
      --exclude-path /api/v2/recordings/events --request-timeout 30 --no-color \
      --generation-database none); then
    echo "ok - schemathesis as $who"
    pass=$((pass + 1))
  else
    echo "not ok - schemathesis as $who"
    fail=$((fail + 1))
  fi
}
run anonymous
run agent -a agent1:fuzz-agent-pw
run integration -H "Authorization: Bearer $token"
run admin -a admin:fuzz-admin-pw

# RWS survived everything and never panicked.
if ! kill -0 "$pid" 2>/dev/null || grep -q "panicked" "$tmp/rws.log"; then
  echo "not ok - RWS stayed up without a panic"
  cat "$tmp/rws.log"
  fail=$((fail + 1))
else
  echo "ok - RWS stayed up without a panic"
  pass=$((pass + 1))
fi
echo "# pass $pass"
echo "# fail $fail"
[ "$fail" = 0 ]
