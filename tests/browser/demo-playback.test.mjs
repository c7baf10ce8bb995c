// `screenrec demo` end to end in a real browser: the demo places calls, the
// supervisor logs in to the recordings page, a finished call's screen
// recording appears and plays in Chromium's own <video> decoder.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bin, freePort, launchBrowser, waitFor, root } from './harness.mjs';

let demo;
let dir;
let browser;
let rwsUrl;
const output = [];

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'screenrec-demo-'));
  const rwsPort = await freePort();
  const srsPort = await freePort();
  rwsUrl = `http://127.0.0.1:${rwsPort}`;
  const env = { ...process.env };
  delete env.DISPLAY; // the synthetic source: no display in CI
  demo = spawn(bin, ['demo', '--data-dir', dir, '--rws-listen', `127.0.0.1:${rwsPort}`,
    '--srs-listen', `127.0.0.1:${srsPort}`, '--every', '6s', '--call-length', '3s'], { env });
  demo.stdout.on('data', (d) => output.push(d));
  demo.stderr.on('data', (d) => output.push(d));
  await waitFor('demo banner', () => Buffer.concat(output).toString().includes('screenrec demo is running'), 30000);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  demo?.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a demo call is playable in the browser seconds after it ends', async () => {
  const banner = Buffer.concat(output).toString();
  assert.match(banner, /supervisor \/ supervisor-demo/);
  assert.match(banner, new RegExp(`${rwsUrl}/recordings/`));
  const page = await browser.newPage();
  await page.goto(`${rwsUrl}/recordings/`);
  // Not logged in: the page's own form, not the browser's Basic prompt.
  await page.waitForSelector('#login:not([hidden])');
  await page.fill('input[name=username]', 'supervisor');
  await page.fill('input[name=password]', 'wrong');
  await page.click('#login button');
  await waitFor('login error', async () => (await page.textContent('#login-error')).includes('invalid'));
  await page.fill('input[name=password]', 'supervisor-demo');
  await page.click('#login button');
  await page.waitForSelector('#list:not([hidden])');

  // The first call ends ~5 s after start; its recording must be completed and playable.
  const ended = await waitFor('a call ended', () => Buffer.concat(output).toString().match(/call (\S+): ended/), 30000);
  const callId = ended[1];
  const endedAt = Date.now();
  const row = await waitFor('completed row with Play', async () => {
    const r = page.locator(`button[data-call="${callId}"]`);
    return (await r.count()) > 0 && r;
  }, 15000);
  const shownAfter = (Date.now() - endedAt) / 1000;
  assert.ok(shownAfter <= 3, `recording playable ${shownAfter.toFixed(1)} s after the call ended`);
  const state = await page.locator('tr', { has: row }).locator('td').nth(2).textContent();
  assert.equal(state, 'completed');
  await row.click();
  const info = await waitFor('video decoded', () => page.evaluate(() => {
    const v = document.querySelector('#videos video');
    return v && v.readyState >= 2 && v.videoWidth > 0
      ? { w: v.videoWidth, h: v.videoHeight, d: v.duration, err: v.error && v.error.message }
      : null;
  }), 15000);
  assert.equal(info.w, 1280);
  assert.equal(info.h, 720);
  assert.ok(info.d > 2 && info.d < 5, `duration ${info.d}`);
  // It actually plays: the clock moves.
  const t0 = await page.evaluate(() => document.querySelector('#videos video').currentTime);
  await waitFor('playback advances', () => page.evaluate((t) => document.querySelector('#videos video').currentTime > t + 0.5, t0), 10000);
  const timeline = await page.textContent('#timeline');
  assert.match(timeline, new RegExp(`agent1: voice ${callId}`));
  mkdirSync(path.join(root, 'docs/images'), { recursive: true });
  await page.screenshot({ path: path.join(root, 'target/recordings-page.png') });
});
