// A real X screen for the browser recorder's tests (issue 15): Xvfb with a
// blue root window and a red window at a known place, and Chromium *headful*
// on it (headless Chromium cannot capture a screen), with the switch that
// picks "Entire screen" in the share picker.
import { spawn, execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';
import { waitFor } from './harness.mjs';

/**
 * Xvfb on a display of its own; resolves to {display, proc, stop()}.
 *
 * Not `-displayfd`: on a machine where other sandboxes run their own Xvfb,
 * the lowest free number here may be one whose abstract socket another
 * server holds, and X clients (Chromium, xterm) try that socket first — they
 * would draw on, and capture, someone else's screen. So a random high
 * number, kept only when the server that answers there is ours (it has the
 * size we asked for, and our process is alive).
 */
export async function startXvfb(width = 1280, height = 720) {
  for (let attempt = 0; attempt < 10; attempt++) {
    const n = 200 + Math.floor(Math.random() * 700);
    const display = `:${n}`;
    const proc = spawn('Xvfb', [display, '-screen', '0', `${width}x${height}x24`, '-nolisten', 'tcp', '-noreset'], { stdio: 'ignore' });
    let exited = false;
    proc.on('exit', () => { exited = true; });
    const size = await waitFor(`Xvfb ${display}`, () => {
      if (exited) return 'exited';
      try {
        const info = execFileSync('xdpyinfo', ['-display', display], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
        return /dimensions:\s+(\d+x\d+)/.exec(info)?.[1] ?? null;
      } catch {
        return null;
      }
    }, 15000).catch(() => 'timeout');
    if (size === `${width}x${height}` && !exited) return { display, proc, stop: () => proc.kill('SIGKILL') };
    proc.kill('SIGKILL');
  }
  throw new Error('no free X display found for Xvfb');
}

/**
 * An xterm of X class `cls` titled `title` at `geometry` on `display` (running `sleep 600`);
 * resolves to its process once its window is mapped (xdotool finds it visible), so that what a
 * test does next happens with the window on screen however slowly xterm starts on a loaded
 * machine. Killed if it never shows.
 */
export async function xterm(display, cls, title, geometry = '40x10+10+10') {
  const env = { ...process.env, DISPLAY: display };
  const p = spawn('xterm', ['-class', cls, '-T', title, '-geometry', geometry, '-e', 'sleep', '600'], { env, stdio: 'ignore' });
  try {
    await waitFor(`the xterm of class ${cls} mapped`, () => {
      try {
        return execFileSync('xdotool', ['search', '--onlyvisible', '--class', `^${cls}$`], { env, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() !== '';
      } catch {
        return false; // xdotool exits 1 while no window matches
      }
    }, 15000);
  } catch (e) {
    p.kill('SIGKILL');
    throw e;
  }
  return p;
}

/** The geometry of the X window titled `title`: {x, y, width, height}. */
export function windowGeometry(display, title) {
  const text = execFileSync('xwininfo', ['-name', title], { env: { ...process.env, DISPLAY: display }, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  const num = (label) => Number(new RegExp(`${label}:\\s+(-?\\d+)`).exec(text)?.[1]);
  return { x: num('Absolute upper-left X'), y: num('Absolute upper-left Y'), width: num('Width'), height: num('Height') };
}

/**
 * The scene: a blue root, a red xterm (text drawn red on red, so the whole
 * window is one colour) at (100, 100). Resolves to the red window's geometry
 * and the processes to kill.
 */
export async function paintScene(display) {
  const env = { ...process.env, DISPLAY: display };
  execFileSync('xsetroot', ['-solid', '#0000ff'], { env });
  const red = spawn('xterm', ['-title', 'redwin', '-bg', '#ff0000', '-fg', '#ff0000', '-cr', '#ff0000', '-geometry', '40x12+100+100', '-e', 'sleep', '3600'], { env, stdio: 'ignore' });
  const geometry = await waitFor('red window', () => {
    try {
      // xterm maps a small window first, then its 40x12 size at (100, 100).
      const g = windowGeometry(display, 'redwin');
      return g.width > 100 && g.height > 100 && g.x >= 100 ? g : null;
    } catch {
      return null;
    }
  }, 15000);
  return { geometry, procs: [red] };
}

/** Chromium headful on `display`, sharing the entire screen without a picker. */
export async function launchHeadful(display, extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: false,
    env: { ...process.env, DISPLAY: display },
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run',
      '--auto-select-desktop-capture-source=Entire screen',
      // Out of the red window's way: the recording must show the red, not the browser.
      '--window-position=640,360', '--window-size=600,340', ...extraArgs],
  });
}

/**
 * Clicks Chromium's own "Stop sharing" button (the bar "… is sharing your
 * screen." is an X window, raised first; the button sits 118 px left of its
 * right edge),
 * as the agent would.
 */
export function clickStopSharing(display) {
  const env = { ...process.env, DISPLAY: display };
  const tree = execFileSync('xwininfo', ['-root', '-tree'], { env }).toString();
  const m = /(0x[0-9a-f]+) "[^"]* is sharing your screen\.": \(\)\s+(\d+)x(\d+)\+(-?\d+)\+(-?\d+)/.exec(tree);
  if (!m) throw new Error('no "is sharing your screen" bar on the X screen');
  const [w, h, x, y] = m.slice(2).map(Number);
  // No window manager: the browser window may have been raised over the bar.
  execFileSync('xdotool', ['windowraise', String(Number(m[1]))], { env });
  execFileSync('xdotool', ['mousemove', String(x + w - 118), String(y + Math.floor(h / 2)), 'click', '1'], { env });
}
