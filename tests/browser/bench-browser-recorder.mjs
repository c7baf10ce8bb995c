// Benchmark (issue 15): the browser recorder against the native recorder
// (`screenrec record`, what SRS runs) and ffmpeg x11grab + libx264 (veryfast,
// stillimage) recording the same busy 1920x1080 Xvfb screen at the same time,
// beside a lossless reference capture. Prints CPU-seconds per minute recorded
// (for the browser: every Chromium process, renderer, GPU and utility ones
// included), MB per minute and SSIM against the reference over the common
// wall-clock window. Run by scripts/bench-browser-recorder.sh; not a test.
// The machine is shared and noisy: compare the ratios of one run.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startProduct, waitFor, basic, bin } from './harness.mjs';
import { startXvfb, launchHeadful } from './xscreen.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS || 30);
const FPS = 5;
const TOKEN = 'bench-browser-recorder-token-42';
const TICK = 100; // clock ticks per second in /proc/<pid>/stat (USER_HZ)
const work = mkdtempSync(path.join(tmpdir(), 'screenrec-bench-browser-'));
const started = [];
const run = (cmd, args, env) => {
  const p = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  p.stderr.on('data', () => {});
  started.push(p);
  return p;
};

/** CPU seconds (user + system) used so far by the processes whose executable is under `dir`. */
function cpuOf(dir) {
  let ticks = 0;
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      if (!readlinkSync(`/proc/${pid}/exe`).startsWith(dir)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]); // utime, stime
    } catch {
      // gone meanwhile
    }
  }
  return ticks / TICK;
}

/** CPU seconds of one process (and its reaped children) when it exits. */
function cpuAtExit(p) {
  return new Promise((resolve) => {
    const pid = p.pid;
    let last = 0;
    const t = setInterval(() => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        last = (Number(f[11]) + Number(f[12])) / TICK;
      } catch {
        // exited
      }
    }, 200);
    p.on('exit', () => {
      clearInterval(t);
      resolve(last);
    });
  });
}

/** SSIM (All) of `file` against the reference `ref` over `seconds`, each from its own offset. */
function ssim(file, fileOffset, ref, refOffset, seconds) {
  const r = spawnSync('ffmpeg', ['-v', 'info', '-ss', String(fileOffset), '-t', String(seconds), '-i', file,
    '-ss', String(refOffset), '-t', String(seconds), '-i', ref,
    '-lavfi', `[0:v]fps=${FPS},scale=1920:1080,format=gbrp[a];[1:v]fps=${FPS},format=gbrp[b];[a][b]ssim=shortest=1`, '-f', 'null', '-']);
  return /SSIM .* All:([0-9.]+)/.exec(r.stderr?.toString() ?? '')?.[1] ?? `n/a (${r.stderr?.toString().slice(-200)})`;
}

async function main() {
  const x = await startXvfb(1920, 1080);
  const env = { ...process.env, DISPLAY: x.display };
  // The busy content of scripts/bench-recorder.sh: top, a clock, a sentence being typed.
  run('xsetroot', ['-solid', '#336699'], env);
  run('xterm', ['-geometry', '110x45+0+0', '-e', 'top', '-d', '1'], env);
  run('xclock', ['-update', '1', '-geometry', '200x200+1500+20'], env);
  run('xterm', ['-geometry', '90x20+800+600', '-e', 'bash', '-c',
    's="The customer asked about the invoice from March and the delivery address on file. "; while :; do for ((i=0;i<${#s};i++)); do printf "%s" "${s:i:1}"; sleep 0.16; done; echo; sleep 1; done'], env);
  const product = await startProduct({ rwsArgs: ['--integration-token', TOKEN], srsArgs: ['--source', 'synthetic:160x120'] });
  const browser = await launchHeadful(x.display, ['--window-position=1500,900', '--window-size=400,160']);
  try {
    // No viewport emulation: it would shrink the captured screen to 1280x720.
    const page = await browser.newPage({ viewport: null });
    await page.goto(`${product.rwsUrl}/desktop/`);
    await page.evaluate(async () => {
      const { BrowserSrs } = await import('/srs-browser.js');
      window.srs = new BrowserSrs();
      await window.srs.login({ username: 'agent1', password: 'pw1' });
    });
    // Debian's /usr/bin/chromium is a script; the browser's processes run from here.
    const chromiumDir = '/usr/lib/chromium/';
    // Chromium sharing the screen but not recording: its idle cost.
    const idle0 = cpuOf(chromiumDir);
    const idleStart = Date.now();
    await new Promise((r) => setTimeout(r, 10000));
    const idleCpu = cpuOf(chromiumDir) - idle0;
    const idleSecs = (Date.now() - idleStart) / 1000;

    const post = (type) => fetch(`${product.rwsUrl}/api/v2/events`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ id: `bench-${type}`, type, call_id: 'bench', dn: '1001', switch: 'SIP_Switch', timestamp: new Date().toISOString() }),
    });
    // All three, and the lossless reference, on the same screen at the same time.
    const refStart = Date.now();
    const ref = run('ffmpeg', ['-y', '-v', 'error', '-f', 'x11grab', '-draw_mouse', '0', '-framerate', String(FPS), '-video_size', '1920x1080',
      '-i', x.display, '-t', String(SECONDS + 2), '-c:v', 'libx264rgb', '-preset', 'ultrafast', '-qp', '0', path.join(work, 'ref.mkv')], env);
    const refDone = new Promise((r) => ref.on('exit', r));
    await post('recording.started');
    await page.waitForFunction(() => window.srs.recording?.state === 'recording', null, { timeout: 10000 });
    const c0 = cpuOf(chromiumDir);
    const t0 = Date.now();
    const nativeStart = Date.now();
    const native = run(bin, ['record', '--out', path.join(work, 'native.mp4'), '--fps', String(FPS), '--duration', `${SECONDS}s`, '--no-cursor'], env);
    const nativeCpu = cpuAtExit(native);
    const ffStart = Date.now();
    const ff = run('ffmpeg', ['-y', '-v', 'error', '-f', 'x11grab', '-draw_mouse', '0', '-framerate', String(FPS), '-video_size', '1920x1080',
      '-i', x.display, '-t', String(SECONDS), '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'stillimage', '-pix_fmt', 'yuv420p',
      '-g', String(FPS * 30), path.join(work, 'ffmpeg.mp4')], env);
    const ffCpu = cpuAtExit(ff);
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    await post('call.released');
    const admin = { Authorization: basic('admin', 'adminpw') };
    const rec = await waitFor('browser recording completed', async () => {
      const j = await (await fetch(`${product.rwsUrl}/api/v2/recordings/bench`, { headers: admin })).json();
      return j.screenRecordings?.[0]?.state === 'completed' && j;
    }, 20000);
    const browserCpu = cpuOf(chromiumDir) - c0;
    const browserSecs = (Date.now() - t0) / 1000;
    const media = rec.mediaFiles[0];
    const played = await fetch(`${product.rwsUrl}${media.mediaUri}`, { headers: admin });
    writeFileSync(path.join(work, 'browser.mp4'), Buffer.from(await played.arrayBuffer()));
    const [nCpu, fCpu] = await Promise.all([nativeCpu, ffCpu, refDone]);
    const browserStart = Date.parse(media.startTime);
    // The common window: from the latest start (+1 s) for SECONDS - 4 s.
    const common = Math.max(browserStart, nativeStart, ffStart, refStart) + 1000;
    const span = SECONDS - 4;
    const refFile = path.join(work, 'ref.mkv');
    const off = (s) => ((common - s) / 1000).toFixed(3);
    const rows = [
      ['browser recorder (all Chromium processes)', browserCpu, browserSecs, statSync(path.join(work, 'browser.mp4')).size, Number(media.parameters.uploadedBytes),
        ssim(path.join(work, 'browser.mp4'), off(browserStart), refFile, off(refStart), span)],
      ['native recorder (screenrec record)', nCpu, SECONDS, statSync(path.join(work, 'native.mp4')).size, null,
        ssim(path.join(work, 'native.mp4'), off(nativeStart), refFile, off(refStart), span)],
      ['ffmpeg x11grab + x264 veryfast stillimage', fCpu, SECONDS, statSync(path.join(work, 'ffmpeg.mp4')).size, null,
        ssim(path.join(work, 'ffmpeg.mp4'), off(ffStart), refFile, off(refStart), span)],
    ];
    console.log(`\nbusy 1920x1080 screen, ${SECONDS} s at ${FPS} fps, recorded by all three at once (SSIM over the common ${span} s vs a lossless capture)\n`);
    console.log('| recorder | CPU-s/min | MB/min | SSIM |');
    console.log('|---|---|---|---|');
    for (const [name, cpu, secs, bytes, cipher, s] of rows) {
      const mb = (bytes / 1e6) * 60 / secs;
      console.log(`| ${name} | ${(cpu * 60 / secs).toFixed(2)} | ${mb.toFixed(2)}${cipher ? ` (${((cipher / 1e6) * 60 / secs).toFixed(2)} encrypted)` : ''} | ${s} |`);
    }
    console.log(`| Chromium sharing the screen, not recording | ${(idleCpu * 60 / idleSecs).toFixed(2)} | – | – |`);
    await page.evaluate(() => window.srs.logout());
  } finally {
    await browser.close();
    await product.stop();
    for (const p of started) p.kill('SIGKILL');
    x.stop();
    if (!process.env.BENCH_KEEP) rmSync(work, { recursive: true, force: true });
    else console.log(`files kept in ${work}`);
  }
}

await main();
