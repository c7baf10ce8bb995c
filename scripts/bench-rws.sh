#!/usr/bin/env bash
# RWS benchmark (issue 12, item 5): one RWS (SQLite, temp data dir) on this
# machine against `screenrec loadgen`, in two phases, and one summary:
#
#   1. hold + latency: N simulated SRS sessions held (real session API,
#      control channel, heartbeats), call events at EPS calls/s for SECS s;
#      event → `start` latency p50/p99, RWS RSS with the sessions held, RWS
#      CPU seconds.
#   2. ingest: UPLOAD_AGENTS sessions, the same call rate, every recording
#      uploading SEG_KIB KiB every SEG_MS ms (tus PATCHes RWS fsyncs):
#      ingest MB/s RWS accepted.
#
# Parameters (env): N (1000), EPS (50), SECS (60), CALL_SECS (10),
# UPLOAD_AGENTS (min(N, 500)), SEG_KIB (256), SEG_MS (500),
# SCREENREC_BIN (a binary to use instead of building release),
# DATABASE (passed to RWS as --database when set: PostgreSQL, next round),
# NODES (1; more is "not yet").
# --smoke: CI size (N=50, SECS=10, UPLOAD_AGENTS=20); fails only on errors
# (a loadgen error, RWS dying), never on figures.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

smoke=0
for a in "$@"; do
  case "$a" in
    --smoke) smoke=1 ;;
    *) echo "bench-rws.sh: unknown argument '$a' (only --smoke)" >&2; exit 2 ;;
  esac
done
if [ "$smoke" = 1 ]; then
  N=${N:-50}; SECS=${SECS:-10}; UPLOAD_AGENTS=${UPLOAD_AGENTS:-20}
fi
N=${N:-1000}
EPS=${EPS:-50}
SECS=${SECS:-60}
CALL_SECS=${CALL_SECS:-10}
UPLOAD_AGENTS=${UPLOAD_AGENTS:-$(( N < 500 ? N : 500 ))}
SEG_KIB=${SEG_KIB:-256}
SEG_MS=${SEG_MS:-500}
NODES=${NODES:-1}
DATABASE=${DATABASE:-}

if [ "$NODES" != 1 ]; then
  echo "bench-rws.sh: NODES=$NODES: several RWS nodes are not yet supported (they need the PostgreSQL store; next round)" >&2
  exit 2
fi

# Each side holds one socket per session, plus files and the database.
want_fds=$(( N + UPLOAD_AGENTS + 1024 ))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want_fds" ]; then
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fi
fds=$(ulimit -n)
if [ "$fds" != unlimited ] && [ "$fds" -lt "$want_fds" ]; then
  echo "bench-rws.sh: open-file limit $fds is below the $want_fds that N=$N needs (raise the hard limit: ulimit -Hn)" >&2
  exit 1
fi

if [ -n "${SCREENREC_BIN:-}" ]; then
  bin=$SCREENREC_BIN
else
  # cargo does nothing when the release binary is fresh.
  cargo build --release -p cli --bin screenrec --locked >&2
  bin=$root/target/release/screenrec
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-rws.XXXXXX")
rws_pid=
cleanup() {
  if [ -n "$rws_pid" ]; then kill "$rws_pid" 2>/dev/null || true; wait "$rws_pid" 2>/dev/null || true; fi
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

password=bench-$RANDOM$RANDOM
token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
t0=$(date +%s.%N)
"$bin" loadgen make-directory --agents "$N" --out "$work/directory.toml" --password "$password" 2>&1 | sed 's/^/  /' >&2
dir_secs=$(echo "$(date +%s.%N) $t0" | awk '{printf "%.2f", $1 - $2}')

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
rws_args=(rws --listen "127.0.0.1:$port" --data-dir "$work/data" --directory "$work/directory.toml"
  --integration-token "$token"
  # The default cap (20,000) counts WebSockets: room for N of them and the uploads.
  --max-connections "$(( N + UPLOAD_AGENTS + 1000 ))")
if [ -n "$DATABASE" ]; then rws_args+=(--database "$DATABASE"); fi
"$bin" "${rws_args[@]}" >"$work/rws.log" 2>&1 &
rws_pid=$!
deadline=$(( $(date +%s) + 60 ))
until curl -sf "$url/healthz" >/dev/null; do
  if ! kill -0 "$rws_pid" 2>/dev/null || [ "$(date +%s)" -gt "$deadline" ]; then
    echo "bench-rws.sh: RWS did not start:" >&2; tail -20 "$work/rws.log" >&2; exit 1
  fi
  sleep 0.1
done

tck=$(getconf CLK_TCK)
cpu() { awk -v t="$tck" '{printf "%.2f", ($14 + $15) / t}' "/proc/$rws_pid/stat"; }
rss_mib() { awk -v k="$1" '$1 == k":" {printf "%.1f", $2 / 1024}' "/proc/$rws_pid/status"; }
json() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2]); print("-" if v is None else (f"{v:.1f}" if isinstance(v, float) else v))' "$1" "$2"; }

# Samples RWS's RSS every second while a phase runs; the phase's "held"
# figure is the highest sample (sessions open, before loadgen lets go).
sample() {
  while kill -0 "$rws_pid" 2>/dev/null; do rss_mib VmRSS >>"$1" || true; echo >>"$1"; sleep 1; done
}

status=0
phase() { # name, agents, extra loadgen flags…
  local name=$1 agents=$2; shift 2
  local s_pid cpu0 cpu1 rc=0
  cpu0=$(cpu)
  sample "$work/rss-$name" & s_pid=$!
  "$bin" loadgen --url "$url" --agents "$agents" --password "$password" \
    --integration-token "$token" --events-per-sec "$EPS" --secs "$SECS" --call-secs "$CALL_SECS" \
    --json "$@" >"$work/$name.json" 2>"$work/$name.log" || rc=$?
  kill "$s_pid" 2>/dev/null || true; wait "$s_pid" 2>/dev/null || true
  cpu1=$(cpu)
  echo "$cpu0 $cpu1" | awk '{printf "%.1f", $2 - $1}' >"$work/cpu-$name"
  if [ "$rc" != 0 ] || [ "$(json "$work/$name.json" errors)" != 0 ]; then
    echo "bench-rws.sh: loadgen ($name) reported errors:" >&2
    cat "$work/$name.json" >&2 2>/dev/null || true
    tail -20 "$work/$name.log" >&2
    status=1
  fi
  if ! kill -0 "$rws_pid" 2>/dev/null; then
    echo "bench-rws.sh: RWS died during $name:" >&2; tail -20 "$work/rws.log" >&2; exit 1
  fi
}

echo "bench-rws: N=$N EPS=$EPS SECS=$SECS CALL_SECS=$CALL_SECS UPLOAD_AGENTS=$UPLOAD_AGENTS SEG_KIB=$SEG_KIB SEG_MS=$SEG_MS database=${DATABASE:-sqlite} (open files: $fds)" >&2
phase hold "$N"
phase ingest "$UPLOAD_AGENTS" --upload --segment-kib "$SEG_KIB" --segment-ms "$SEG_MS"

h=$work/hold.json; i=$work/ingest.json
peak_held=$(sort -n "$work/rss-hold" | tail -1)
echo
echo "== RWS benchmark ($(nproc) cores; $(uptime | sed 's/.*load average/load average/'))"
echo "directory          $N agents written in ${dir_secs}s"
echo "sessions held      $(json "$h" sessions_held) of $N (opened in $(json "$h" open_secs)s)"
echo "RWS RSS            ${peak_held:-?} MiB with the sessions held; peak $(rss_mib VmHWM) MiB"
echo "RWS CPU            $(cat "$work/cpu-hold") s (hold phase, $(json "$h" open_secs)s opening + ${SECS}s events), $(cat "$work/cpu-ingest") s (ingest phase)"
echo "event→start        p50 $(json "$h" latency_ms_p50) ms, p99 $(json "$h" latency_ms_p99) ms, max $(json "$h" latency_ms_max) ms at $EPS calls/s ($(json "$h" starts_received) starts, $(json "$h" starts_missing) missing)"
echo "  with uploads     p50 $(json "$i" latency_ms_p50) ms, p99 $(json "$i" latency_ms_p99) ms"
echo "ingest             $(json "$i" upload_mb_per_s) MB/s with fsync ($(json "$i" upload_bytes) bytes, $(json "$i" recordings_ended) recordings ended)"
echo "errors             hold $(json "$h" errors), ingest $(json "$i" errors)"
exit "$status"
