#!/usr/bin/env bash
# Benchmark: `screenrec record` against ffmpeg x11grab + libx264 (veryfast, stillimage) on the same
# Xvfb display, the same scripted content, in the same run. Prints, for each: CPU-seconds per minute
# recorded, MB per minute, peak RSS (one and two 1080p monitors), SSIM against a lossless reference
# of the same frames, start latency (p50/p99 over BENCH_STARTS starts of `screenrec record`, from
# `Recorder::start` to the first fragment on disk, read from the recorder's "first fragment on disk"
# log line) and the our/ffmpeg ratios. Machines here are noisy: compare the ratios, not the
# absolute times.
#
#   scripts/bench-recorder.sh            # busy 40 s, idle 30 s, SSIM on 20 s, 2-monitor RSS 20 s
#   BENCH_SECONDS=20 scripts/bench-recorder.sh   # shorter runs
#   scripts/bench-recorder.sh --quick    # smoke run (~2 min after the build): 10 s runs
#   BENCH_BIN=path/to/screenrec ...      # measure that binary (e.g. an older build) instead of building
#
# Only processes this script started are stopped (tracked by PID): other screenrec, Xvfb or xterm
# processes on the machine are left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = --quick ] && quick=1
[ "${BENCH_QUICK:-0}" = 1 ] && quick=1
bash scripts/setup.sh
if [ -n "${BENCH_BIN:-}" ]; then
  bin=$BENCH_BIN
else
  cargo build --release --locked -p cli --bin screenrec >&2
  bin=$PWD/target/release/screenrec
fi
busy_s=${BENCH_SECONDS:-40}
((quick)) && busy_s=${BENCH_SECONDS:-10}
idle_s=$(( busy_s * 3 / 4 ))
ssim_s=$(( busy_s / 2 ))
starts=${BENCH_STARTS:-20}
fps=5
work=$(mktemp -d /tmp/screenrec-bench.XXXXXX)
pids=()         # everything this script started (Xvfb, content, recorders)
content=()      # the current content's processes
cleanup() {
  ((${#pids[@]})) && kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

start_xvfb() { # WxH -> sets DISPLAY
  local fifo=$work/displayfd.$RANDOM
  mkfifo "$fifo"
  Xvfb -displayfd 3 -screen 0 "${1}x24" -nolisten tcp -noreset 3>"$fifo" 2>/dev/null &
  pids+=($!)
  export DISPLAY=:$(head -n1 "$fifo")
}

# Busy office content: a terminal with `top`, a clock, and a terminal where a sentence is "typed"
# at ~6 characters per second with a pause per line.
spawn() { "$@" & pids+=($!); content+=($!); }
start_busy() {
  spawn xterm -geometry 110x45+0+0 -e top -d 1
  spawn xclock -update 1 -geometry 200x200+1500+20
  spawn xterm -geometry 90x20+800+600 -e bash -c '
    s="The customer asked about the invoice from March and the delivery address on file. "
    while :; do for ((i=0;i<${#s};i++)); do printf "%s" "${s:i:1}"; sleep 0.16; done; echo; sleep 1; done'
  sleep 2 # let the windows map and draw before recording (setup, not synchronisation of a result)
}
start_idle() {
  spawn xclock -update 1 -geometry 200x200+1500+20
  spawn xterm -geometry 90x30+100+100 -e bash -c 'echo "Notes: waiting for the next call."; sleep 100000'
  sleep 2
}
# A screen where nothing changes at all: only the heartbeat costs anything.
start_still() {
  spawn xterm -geometry 90x30+100+100 -e bash -c 'echo "Notes: waiting for the next call."; sleep 100000'
  sleep 2
}
stop_content() {
  ((${#content[@]})) && kill "${content[@]}" 2>/dev/null || true
  for p in "${content[@]}"; do wait "$p" 2>/dev/null || true; done
  content=()
}

# Start latency: BENCH_STARTS runs of `screenrec record`, each logging the time from
# `Recorder::start` to its first fragment on disk; prints "p50 p99" in ms (nearest rank).
start_latency() {
  local i ms=()
  for ((i = 0; i < starts; i++)); do
    SCREENREC_LOG=info "$bin" record --out "$work/start.$i.mp4" --fps $fps --duration 1s --no-cursor \
      >/dev/null 2>"$work/start.$i.log" || { echo "bench: start run $i failed" >&2; tail -5 "$work/start.$i.log" >&2; exit 1; }
    local v
    v=$(sed -n 's/.*since_start_ms=\([0-9.]*\).*first fragment on disk.*/\1/p; s/.*first fragment on disk.*since_start_ms=\([0-9.]*\).*/\1/p' \
      "$work/start.$i.log" | head -n1)
    [ -n "$v" ] || { echo "bench: no 'first fragment on disk' line in run $i" >&2; tail -5 "$work/start.$i.log" >&2; exit 1; }
    ms+=("$v")
    rm -f "$work/start.$i.mp4"
  done
  printf "%s\n" "${ms[@]}" | sort -g | awk '{v[NR]=$1} END {
    p50 = int((NR * 50 + 99) / 100); p99 = int((NR * 99 + 99) / 100);
    printf "%.0f %.0f\n", v[p50], v[p99] }'
}

# measure NAME OUTFILE-GLOB  (runs "${cmd[@]}")  -> prints "cpu_s rss_kb bytes"
measure() {
  local name=$1 out=$2
  /usr/bin/time -f "%U %S %M" -o "$work/$name.time" "${cmd[@]}" >/dev/null 2>"$work/$name.log" \
    || { echo "bench: $name failed:" >&2; tail -5 "$work/$name.log" >&2; exit 1; }
  local u s rss bytes
  read -r u s rss < <(tail -n1 "$work/$name.time")
  bytes=$(cat $out 2>/dev/null | wc -c)
  echo "$(echo "$u + $s" | bc -l) $rss $bytes"
}

# The commands measured (arrays, so /usr/bin/time runs the programs themselves).
ours() { # secs out [extra] -> sets cmd
  local secs=$1 out=$2; shift 2
  cmd=("$bin" record --out "$out" --fps $fps --duration "${secs}s" --no-cursor "$@")
}
theirs() { # secs out -> sets cmd
  cmd=(ffmpeg -y -loglevel error -f x11grab -draw_mouse 0 -framerate $fps -video_size 1920x1080 -i "$DISPLAY"
    -t "$1" -c:v libx264 -preset veryfast -tune stillimage -pix_fmt yuv420p -g $((fps * 30)) "$2")
}

row() { # label secs cpu rss bytes ssim
  printf "%-34s %8.2f %8.2f %8.0f %8s\n" "$1" "$(echo "$3 * 60 / $2" | bc -l)" \
    "$(echo "$5 / 1000000 * 60 / $2" | bc -l)" "$(echo "$4 / 1024" | bc -l)" "$6"
}

ssim_of() { # encoded.mp4 -> SSIM All vs the raw reference
  ffmpeg -loglevel info -i "$1" -f rawvideo -pix_fmt bgr0 -video_size 1920x1080 -framerate $fps -i "$work/ref.bgra" \
    -lavfi "[0:v]fps=$fps,format=gbrp[a];[1:v]format=gbrp[b];[a][b]ssim=shortest=1" -f null - 2>&1 \
    | sed -n 's/.*SSIM .* All:\([0-9.]*\).*/\1/p' | tail -1
}

start_xvfb 1920x1080
echo "== busy content, ${busy_s} s, ${fps} fps, 1920x1080 (display $DISPLAY)" >&2
start_busy
ours "$busy_s" "$work/ours_busy.mp4"; read -r ob_cpu ob_rss ob_bytes < <(measure ours_busy "$work/ours_busy.mp4")
theirs "$busy_s" "$work/ff_busy.mp4"; read -r fb_cpu fb_rss fb_bytes < <(measure ff_busy "$work/ff_busy.mp4")

echo "== lossless reference of the same content, ${ssim_s} s" >&2
ffmpeg -y -loglevel error -f x11grab -draw_mouse 0 -framerate $fps -video_size 1920x1080 -i "$DISPLAY" \
  -t "$ssim_s" -f rawvideo -pix_fmt bgr0 "$work/ref.bgra"
frames=$(( $(stat -c %s "$work/ref.bgra") / (1920 * 1080 * 4) ))
"$bin" record --source "raw:$work/ref.bgra:1920x1080:$fps" --fps $fps --duration "$(( frames / fps ))s" \
  --out "$work/ours_ref.mp4" 2>/dev/null >/dev/null
ffmpeg -y -loglevel error -f rawvideo -pix_fmt bgr0 -video_size 1920x1080 -framerate $fps -i "$work/ref.bgra" \
  -c:v libx264 -preset veryfast -tune stillimage -pix_fmt yuv420p -g $((fps * 30)) "$work/ff_ref.mp4"
ours_ssim=$(ssim_of "$work/ours_ref.mp4")
ff_ssim=$(ssim_of "$work/ff_ref.mp4")
rm -f "$work/ref.bgra"
stop_content

echo "== idle content, ${idle_s} s" >&2
start_idle
ours "$idle_s" "$work/ours_idle.mp4"; read -r oi_cpu oi_rss oi_bytes < <(measure ours_idle "$work/ours_idle.mp4")
theirs "$idle_s" "$work/ff_idle.mp4"; read -r fi_cpu fi_rss fi_bytes < <(measure ff_idle "$work/ff_idle.mp4")
stop_content

echo "== still screen (nothing changes), ${idle_s} s" >&2
start_still
ours "$idle_s" "$work/ours_still.mp4"; read -r os_cpu os_rss os_bytes < <(measure ours_still "$work/ours_still.mp4")
theirs "$idle_s" "$work/ff_still.mp4"; read -r fs_cpu fs_rss fs_bytes < <(measure ff_still "$work/ff_still.mp4")
for f in ours_busy ff_busy ours_idle ours_still; do
  ffprobe -v error -show_entries format=duration -of csv=p=0 "$work/$f.mp4" >/dev/null \
    || { echo "bench: ffprobe cannot read $f.mp4" >&2; exit 1; }
done
echo "== start latency, $starts starts (still screen)" >&2
read -r lat_p50 lat_p99 < <(start_latency)
stop_content

echo "== two 1080p monitors, busy, ${ssim_s} s" >&2
start_xvfb 3840x1080
xrandr --setmonitor LEFT 1920/508x1080/286+0+0 screen >/dev/null
xrandr --setmonitor RIGHT 1920/508x1080/286+1920+0 none >/dev/null
start_busy
ours "$ssim_s" "$work/two.mp4" --monitor all; read -r o2_cpu o2_rss o2_bytes < <(measure ours_two "$work/two.*.mp4")
stop_content

echo
echo "screenrec record vs ffmpeg x11grab + libx264 -preset veryfast -tune stillimage, ${fps} fps, 1920x1080"
printf "%-34s %8s %8s %8s %8s\n" "run" "CPU-s/min" "MB/min" "RSS MB" "SSIM"
row "screenrec, busy" "$busy_s" "$ob_cpu" "$ob_rss" "$ob_bytes" "$ours_ssim"
row "ffmpeg x264, busy" "$busy_s" "$fb_cpu" "$fb_rss" "$fb_bytes" "$ff_ssim"
row "screenrec, idle" "$idle_s" "$oi_cpu" "$oi_rss" "$oi_bytes" "-"
row "ffmpeg x264, idle" "$idle_s" "$fi_cpu" "$fi_rss" "$fi_bytes" "-"
row "screenrec, still" "$idle_s" "$os_cpu" "$os_rss" "$os_bytes" "-"
row "ffmpeg x264, still" "$idle_s" "$fs_cpu" "$fs_rss" "$fs_bytes" "-"
row "screenrec, 2 x 1080p (all monitors)" "$ssim_s" "$o2_cpu" "$o2_rss" "$o2_bytes" "-"
echo
printf "peak RSS: 1 x 1080p %.1f MB (target <= 60), 2 x 1080p %.1f MB (target <= 80)\n" \
  "$(echo "$ob_rss / 1024" | bc -l)" "$(echo "$o2_rss / 1024" | bc -l)"
printf "idle CPU-s/min: ours %.2f, ffmpeg %.2f (target <= 0.3); still: ours %.2f, ffmpeg %.2f\n" \
  "$(echo "$oi_cpu * 60 / $idle_s" | bc -l)" "$(echo "$fi_cpu * 60 / $idle_s" | bc -l)" \
  "$(echo "$os_cpu * 60 / $idle_s" | bc -l)" "$(echo "$fs_cpu * 60 / $idle_s" | bc -l)"
echo "start -> first fragment on disk over $starts starts: p50 ${lat_p50} ms, p99 ${lat_p99} ms (target p99 <= 250)"
echo
printf "ratios ours/ffmpeg: busy CPU %.2f, busy bytes %.2f, idle CPU %.2f, idle bytes %.2f, RSS %.2f\n" \
  "$(echo "$ob_cpu / $fb_cpu" | bc -l)" "$(echo "$ob_bytes / $fb_bytes" | bc -l)" \
  "$(echo "$oi_cpu / $fi_cpu" | bc -l)" "$(echo "$oi_bytes / $fi_bytes" | bc -l)" \
  "$(echo "$ob_rss / $fb_rss" | bc -l)"
echo "SSIM is measured on the same ${ssim_s} s of frames captured losslessly, encoded by each."
