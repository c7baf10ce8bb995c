#!/usr/bin/env bash
# RWS benchmark (issue 12, item 5): RWS on this machine (one node on SQLite,
# or on a throw-away PostgreSQL, or two nodes on that PostgreSQL behind a
# TCP round-robin balancer) against `screenrec loadgen`, in two phases, and
# one summary:
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
# DATABASE (empty: SQLite in the data dir; `postgres`: a throw-away
#   PostgreSQL cluster, `initdb` + `pg_ctl` in a temp dir as the e2e tests
#   do, fsync on, removed at the end; any other value is passed to RWS as
#   --database, e.g. postgres://user:pw@host/db),
# NODES (1; 2 or more: that many RWS nodes in cluster mode on the PostgreSQL,
#   DATABASE=postgres by default, sharing one master key and one media store
#   `file://<temp>/media` (the shared bucket of a real cluster; STORAGE=s3://…
#   with the AWS_* environment to use a real one), behind
#   scripts/tcp-balancer.py; loadgen is given the balancer's URL only),
# STORAGE (passed as --storage when set).
# Figures are per node (RSS, CPU, control channels held, bytes uploaded) and
# in total; with PostgreSQL, its CPU too; with NODES>1, the balancer's CPU.
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
STORAGE=${STORAGE:-}

case "$NODES" in
  ''|*[!0-9]*) echo "bench-rws.sh: NODES=$NODES: expected a number of nodes (1, 2, …)" >&2; exit 2 ;;
esac
if [ "$NODES" -lt 1 ] || [ "$NODES" -gt 8 ]; then
  echo "bench-rws.sh: NODES=$NODES: expected 1 to 8" >&2; exit 2
fi
if [ "$NODES" -gt 1 ]; then
  # Several nodes share their state through PostgreSQL (crates/rws/src/cluster.rs).
  DATABASE=${DATABASE:-postgres}
  case "$DATABASE" in
    postgres|postgres://*|postgresql://*) ;;
    *) echo "bench-rws.sh: NODES=$NODES needs PostgreSQL (DATABASE=postgres or a postgres:// URL), not '$DATABASE'" >&2; exit 2 ;;
  esac
fi

# The limit is per process: RWS and loadgen each hold one socket per session
# (plus files and the database); the balancer, with NODES>1, holds two.
want_fds=$(( N + UPLOAD_AGENTS + 1024 ))
if [ "$NODES" -gt 1 ]; then
  want_fds=$(( 2 * (N + UPLOAD_AGENTS) + 256 ))
fi
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
pids=()   # the RWS nodes
urls=()   # their URLs
lb_pid=
pg_dir=
pg_bin=
# Root cannot run `postgres`: as root its programs run as `nobody` (as in
# crates/cli/tests/e2e/backends.rs).
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi; }
cleanup() {
  local p
  for p in "${pids[@]}" $lb_pid; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  if [ -n "$pg_dir" ]; then
    (cd "$pg_dir" && as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate -w stop >/dev/null 2>&1) || true
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $pg_dir" >&2; else rm -rf "$pg_dir"; fi
  fi
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# DATABASE=postgres: a PostgreSQL cluster of our own, as the e2e tests make
# one (crates/cli/tests/e2e/backends.rs), but with fsync on, like SQLite's.
db_label=${DATABASE:-sqlite}
if [ "$DATABASE" = postgres ]; then
  pg_bin=${SCREENREC_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
  if [ ! -x "$pg_bin/initdb" ]; then
    echo "bench-rws.sh: PostgreSQL's server programs (initdb, pg_ctl) not found: run scripts/setup.sh or set SCREENREC_PG_BIN" >&2
    exit 1
  fi
  # Its own temp dir (not under $work, which is 0700 and closed to `nobody`).
  pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/bench-rws-pg.XXXXXX")
  pg_password=bench-$RANDOM$RANDOM
  echo "$pg_password" >"$pg_dir/pwfile"
  if [ "$(id -u)" = 0 ]; then chown -R nobody:nogroup "$pg_dir"; fi
  if ! (cd "$pg_dir" && as_pg "$pg_bin/initdb" -D "$pg_dir/data" -U screenrec --auth=scram-sha-256 \
      --no-locale -E UTF8 --pwfile="$pg_dir/pwfile") >"$work/initdb.log" 2>&1; then
    echo "bench-rws.sh: initdb failed:" >&2; tail -20 "$work/initdb.log" >&2; exit 1
  fi
  pg_port=$(free_port)
  # Room for every node's pool, listener and lock connection.
  if ! (cd "$pg_dir" && as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -w -t 60 -l "$pg_dir/server.log" \
      -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c max_connections=$(( 100 + 50 * NODES ))" start) \
      >"$work/pg_ctl.log" 2>&1; then
    echo "bench-rws.sh: PostgreSQL did not start:" >&2; tail -20 "$pg_dir/server.log" >&2; exit 1
  fi
  PGPASSWORD=$pg_password "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U screenrec screenrec
  DATABASE=postgres://screenrec:$pg_password@127.0.0.1:$pg_port/screenrec
  db_label="postgres (throw-away, $(basename "$(dirname "$pg_bin")"), fsync on)"
elif [ -n "$DATABASE" ]; then
  db_label="${DATABASE%%://*}://…"
fi

password=bench-$RANDOM$RANDOM
token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
t0=$(date +%s.%N)
"$bin" loadgen make-directory --agents "$N" --out "$work/directory.toml" --password "$password" 2>&1 | sed 's/^/  /' >&2
dir_secs=$(echo "$(date +%s.%N) $t0" | awk '{printf "%.2f", $1 - $2}')

rws_args=(rws --directory "$work/directory.toml" --integration-token "$token"
  # The default cap (20,000) counts WebSockets: room for N of them and the uploads.
  --max-connections "$(( N + UPLOAD_AGENTS + 1000 ))")
if [ -n "$DATABASE" ]; then rws_args+=(--database "$DATABASE"); fi
if [ -z "$STORAGE" ] && [ "$NODES" -gt 1 ]; then
  # Every node reads and writes the same media store (the cluster's bucket).
  STORAGE=file://$work/media
fi
if [ -n "$STORAGE" ]; then rws_args+=(--storage "$STORAGE"); fi
if [ "$NODES" -gt 1 ]; then
  # The same master key on every node, or one cannot decrypt the tenant key.
  SCREENREC_MASTER_KEY=${SCREENREC_MASTER_KEY:-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')}
  export SCREENREC_MASTER_KEY
fi
wait_healthy() { # url, pid, log
  local deadline=$(( $(date +%s) + 60 ))
  until curl -sf "$1/healthz" >/dev/null; do
    if ! kill -0 "$2" 2>/dev/null || [ "$(date +%s)" -gt "$deadline" ]; then
      echo "bench-rws.sh: $1 did not start:" >&2; tail -20 "$3" >&2; exit 1
    fi
    sleep 0.1
  done
}
# One after another: the first node runs the migrations.
for i in $(seq 1 "$NODES"); do
  port=$(free_port)
  "$bin" "${rws_args[@]}" --listen "127.0.0.1:$port" --data-dir "$work/data$i" >"$work/rws$i.log" 2>&1 &
  pids+=($!)
  urls+=("http://127.0.0.1:$port")
  wait_healthy "http://127.0.0.1:$port" "$!" "$work/rws$i.log"
done
if [ "$NODES" = 1 ]; then
  url=${urls[0]}
else
  lb_port=$(free_port)
  python3 "$root/scripts/tcp-balancer.py" "$lb_port" "${urls[@]#http://}" >"$work/lb.log" 2>&1 &
  lb_pid=$!
  url=http://127.0.0.1:$lb_port
  wait_healthy "$url" "$lb_pid" "$work/lb.log"
fi

tck=$(getconf CLK_TCK)
# CPU seconds (utime + stime) of a process.
cpu_of() { awk -v t="$tck" '{printf "%.2f", ($14 + $15) / t}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# PostgreSQL's: the postmaster (with its waited-for children) and its live children.
pg_cpu() {
  local pm
  pm=$(head -1 "$pg_dir/data/postmaster.pid" 2>/dev/null) || { echo 0; return; }
  { awk '{print $14 + $15 + $16 + $17}' "/proc/$pm/stat"
    for c in $(ps -o pid= --ppid "$pm"); do awk '{print $14 + $15}' "/proc/$c/stat" 2>/dev/null; done
  } | awk -v t="$tck" '{s += $1} END {printf "%.2f", s / t}'
}
rss_mib() { awk -v k="$2" '$1 == k":" {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
json() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2]); print("-" if v is None else (f"{v:.1f}" if isinstance(v, float) else v))' "$1" "$2"; }
# A counter of a node's /metrics (summed over its labels).
metric() { curl -sf "$1/metrics" | awk -v m="$2" '$1 == m || index($1, m "{") == 1 {s += $2} END {printf "%.0f", s}'; }
alive() { local p; for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || return 1; done; }

# Samples every node's RSS each second while a phase runs, one line of
# "node1 node2 …" MiB per sample; a phase's "held" figure is the highest
# sample (sessions open, before loadgen lets go).
sample() {
  local p
  while alive; do
    for p in "${pids[@]}"; do printf '%s ' "$(rss_mib "$p" VmRSS)"; done >>"$1"
    echo >>"$1"
    sleep 1
  done
}
# Counters at the start and end of a phase, one line per node:
# "cpu channels_connected upload_bytes".
counters() {
  local i
  for i in "${!pids[@]}"; do
    echo "$(cpu_of "${pids[$i]}") $(grep -c 'control channel connected' "$work/rws$((i + 1)).log") $(metric "${urls[$i]}" screenrec_rws_upload_bytes_total)"
  done
}

status=0
phase() { # name, agents, extra loadgen flags…
  local name=$1 agents=$2; shift 2
  local s_pid rc=0
  counters >"$work/c0-$name"
  if [ -n "$pg_dir" ]; then pg_cpu >"$work/pg0-$name"; fi
  if [ -n "$lb_pid" ]; then cpu_of "$lb_pid" >"$work/lb0-$name"; fi
  sample "$work/rss-$name" & s_pid=$!
  "$bin" loadgen --url "$url" --agents "$agents" --password "$password" \
    --integration-token "$token" --events-per-sec "$EPS" --secs "$SECS" --call-secs "$CALL_SECS" \
    --json "$@" >"$work/$name.json" 2>"$work/$name.log" || rc=$?
  kill "$s_pid" 2>/dev/null || true; wait "$s_pid" 2>/dev/null || true
  counters >"$work/c1-$name"
  if [ -n "$pg_dir" ]; then echo "$(cat "$work/pg0-$name") $(pg_cpu)" | awk '{printf "%.1f", $2 - $1}' >"$work/pgcpu-$name"; fi
  if [ -n "$lb_pid" ]; then echo "$(cat "$work/lb0-$name") $(cpu_of "$lb_pid")" | awk '{printf "%.1f", $2 - $1}' >"$work/lbcpu-$name"; fi
  if [ "$rc" != 0 ] || [ "$(json "$work/$name.json" errors)" != 0 ]; then
    echo "bench-rws.sh: loadgen ($name) reported errors:" >&2
    cat "$work/$name.json" >&2 2>/dev/null || true
    tail -20 "$work/$name.log" >&2
    status=1
  fi
  if ! alive; then
    echo "bench-rws.sh: an RWS node died during $name:" >&2; tail -20 "$work"/rws*.log >&2; exit 1
  fi
}
# Per-node figure of a phase: column `col` of the counters, end minus start;
# "total" sums the nodes.
delta() { # name, node index (0-based) or "total", column, printf format
  paste -d' ' "$work/c0-$1" "$work/c1-$1" | awk -v n="$2" -v c="$3" -v f="$4" -v k=3 \
    'n == "total" || NR == n + 1 {s += $(c + k) - $c} END {printf f, s}'
}
# The highest RSS sample of node i (0-based), or of the sum over nodes.
held() { # name, node index or "total"
  awk -v n="$2" '{v = 0; if (n == "total") {for (i = 1; i <= NF; i++) v += $i} else v = $(n + 1); if (v > m) m = v} END {printf "%.1f", m}' "$work/rss-$1"
}

echo "bench-rws: N=$N EPS=$EPS SECS=$SECS CALL_SECS=$CALL_SECS UPLOAD_AGENTS=$UPLOAD_AGENTS SEG_KIB=$SEG_KIB SEG_MS=$SEG_MS NODES=$NODES database=$db_label (open files: $fds)" >&2
phase hold "$N"
phase ingest "$UPLOAD_AGENTS" --upload --segment-kib "$SEG_KIB" --segment-ms "$SEG_MS"

h=$work/hold.json; i=$work/ingest.json
echo
echo "== RWS benchmark ($(nproc) cores; $(uptime | sed 's/.*load average/load average/'); $NODES node(s), database $db_label)"
echo "directory          $N agents written in ${dir_secs}s"
echo "sessions held      $(json "$h" sessions_held) of $N (opened in $(json "$h" open_secs)s)"
echo "RWS RSS            $(held hold total) MiB with the sessions held$([ "$NODES" -gt 1 ] && echo " (all nodes)"); peak $(for p in "${pids[@]}"; do echo "$(rss_mib "$p" VmHWM)"; done | awk '{s += $1} END {printf "%.1f", s}') MiB"
echo "RWS CPU            $(delta hold total 1 %.1f) s (hold phase, $(json "$h" open_secs)s opening + ${SECS}s events), $(delta ingest total 1 %.1f) s (ingest phase)$([ "$NODES" -gt 1 ] && echo " (all nodes)")"
echo "event→start        p50 $(json "$h" latency_ms_p50) ms, p99 $(json "$h" latency_ms_p99) ms, max $(json "$h" latency_ms_max) ms at $EPS calls/s ($(json "$h" starts_received) starts, $(json "$h" starts_missing) missing)"
echo "  with uploads     p50 $(json "$i" latency_ms_p50) ms, p99 $(json "$i" latency_ms_p99) ms"
echo "ingest             $(json "$i" upload_mb_per_s) MB/s with fsync ($(json "$i" upload_bytes) bytes, $(json "$i" recordings_ended) recordings ended)"
if [ -n "$pg_dir" ]; then
  echo "PostgreSQL CPU     $(cat "$work/pgcpu-hold") s (hold phase), $(cat "$work/pgcpu-ingest") s (ingest phase)"
fi
if [ -n "$lb_pid" ]; then
  echo "balancer CPU       $(cat "$work/lbcpu-hold") s (hold phase), $(cat "$work/lbcpu-ingest") s (ingest phase)"
fi
if [ "$NODES" -gt 1 ]; then
  for n in "${!pids[@]}"; do
    echo "node $((n + 1))             RSS $(held hold "$n") MiB held (peak $(rss_mib "${pids[$n]}" VmHWM)), CPU $(delta hold "$n" 1 %.1f) + $(delta ingest "$n" 1 %.1f) s, channels $(delta hold "$n" 2 %d) + $(delta ingest "$n" 2 %d), ingest $(delta ingest "$n" 3 %d | awk '{printf "%.1f", $1 / 1e6}') MB"
  done
fi
echo "errors             hold $(json "$h" errors), ingest $(json "$i" errors)"
exit "$status"
