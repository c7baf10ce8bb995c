#!/usr/bin/env bash
# Benchmark: `screenrec record` against ffmpeg x11grab + libx264 (veryfast, stillimage) on the same
# Xvfb display, the same scripted content, in the same run. Prints, for each: CPU-seconds per minute
# recorded, MB per minute, peak RSS, SSIM against a lossless reference of the same frames, and the
# our/ffmpeg ratios. Machines here are noisy: compare the ratios, not the absolute times.
#
#   scripts/bench-recorder.sh            # busy 40 s, idle 30 s, SSIM on 20 s, 2-monitor RSS 20 s
#   BENCH_SECONDS=20 scripts/bench-recorder.sh   # shorter runs
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --locked -p cli >&2
bin=$PWD/target/release/screenrec
busy_s=${BENCH_SECONDS:-40}
idle_s=$(( busy_s * 3 / 4 ))
ssim_s=$(( busy_s / 2 ))
fps=5
work=$(mktemp -d /tmp/screenrec-bench.XXXXXX)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
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
start_busy() {
  xterm -geometry 110x45+0+0 -e top -d 1 & pids+=($!)
  xclock -update 1 -geometry 200x200+1500+20 & pids+=($!)
  xterm -geometry 90x20+800+600 -e bash -c '
    s="The customer asked about the invoice from March and the delivery address on file. "
    while :; do for ((i=0;i<${#s};i++)); do printf "%s" "${s:i:1}"; sleep 0.16; done; echo; sleep 1; done' &
  pids+=($!)
  sleep 2
}
start_idle() {
  xclock -update 1 -geometry 200x200+1500+20 & pids+=($!)
  xterm -geometry 90x30+100+100 -e bash -c 'echo "Notes: waiting for the next call."; sleep 100000' & pids+=($!)
  sleep 2
}
stop_content() { pkill -f "xterm -geometry" 2>/dev/null || true; pkill xclock 2>/dev/null || true; sleep 0.5; }

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
row "screenrec, 2 x 1080p (all monitors)" "$ssim_s" "$o2_cpu" "$o2_rss" "$o2_bytes" "-"
echo
printf "ratios ours/ffmpeg: busy CPU %.2f, busy bytes %.2f, idle CPU %.2f, idle bytes %.2f, RSS %.2f\n" \
  "$(echo "$ob_cpu / $fb_cpu" | bc -l)" "$(echo "$ob_bytes / $fb_bytes" | bc -l)" \
  "$(echo "$oi_cpu / $fi_cpu" | bc -l)" "$(echo "$oi_bytes / $fi_bytes" | bc -l)" \
  "$(echo "$ob_rss / $fb_rss" | bc -l)"
echo "SSIM is measured on the same ${ssim_s} s of frames captured losslessly, encoded by each."
