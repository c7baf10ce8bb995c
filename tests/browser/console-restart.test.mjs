// Issue 13 part 4 in real headless Chromium: SRS restarted with SIGTERM in
// the middle of a call continues the same recording in a new media file;
// the console's player shows both files on the call's clock (the second
// starts where the restart ended) and the timeline shades the restart's
// gap (`gap` … `gap_end` marks) with its own legend entry.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { once } from 'node:events';
import { startProduct, launchBrowser, waitFor, basic, postEvent, consolePage, freePort, healthy, oneTeam, recordingOf, recordingState } from './harness.mjs';

const TOKEN = 'restart-test-integration-token';
const DIRECTORY = oneTeam({ admin: false });

let product;
let browser;
const pause = (ms) => new Promise((r) => setTimeout(r, ms)); // recording length, not synchronisation
const event = (body) => postEvent(product.rwsUrl, TOKEN, body);
const recording = (call) => recordingOf(product.rwsUrl, call);
const state = (call) => recordingState(product.rwsUrl, call);

before(async () => {
  product = await startProduct({ directory: DIRECTORY, rwsArgs: ['--integration-token', TOKEN], srsArgs: ['--source', 'synthetic:320x240'] });
  // The agent's SRS under test: its own port and spool, restarted below.
  const port = await freePort();
  const srsUrl = `http://127.0.0.1:${port}`;
  const args = ['srs', '--listen', `127.0.0.1:${port}`, '--spool', path.join(product.dir, 'spool-r'), '--server', product.rwsUrl, '--source', 'synthetic:320x240'];
  const login = async () => assert.equal((await fetch(`${srsUrl}/api/v2/me`, { headers: { Authorization: basic('agent1', 'pw1') } })).status, 200);
  let srs = product.run('srs-r', args);
  await waitFor('SRS', () => healthy(`${srsUrl}/healthz`));
  await login();
  await event({ id: 'r-s', type: 'recording.started', call_id: 'rs-1', dn: '1001' });
  await waitFor('recording', async () => (await state('rs-1')) === 'recording');
  await pause(2500);
  const exited = once(srs, 'exit');
  srs.kill('SIGTERM');
  const [code] = await exited;
  assert.equal(code, 0, 'SRS exits 0 on SIGTERM');
  srs = product.run('srs-r2', args);
  await waitFor('SRS again', () => healthy(`${srsUrl}/healthz`));
  await login();
  await waitFor('recording again', async () => {
    const r = await fetch(`${srsUrl}/api/v2/me/recording`, { headers: { Authorization: basic('agent1', 'pw1') } });
    return (await r.json()).state === 'recording';
  });
  await pause(2500);
  await event({ id: 'r-r', type: 'call.released', call_id: 'rs-1', dn: '1001' });
  await waitFor('completed', async () => (await state('rs-1')) === 'completed', 20000);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await product?.stop();
});

test('a call whose SRS restarted plays as one recording with the gap shaded on the timeline', async () => {
  const rec = await recording('rs-1');
  assert.equal(rec.screenRecordings.length, 1, 'the same recording');
  assert.equal(rec.mediaFiles.length, 2, 'a media file before and one after the restart');
  assert.deepEqual(rec.screenRecordings[0].marks.map((m) => m.type), ['gap', 'gap_end']);

  const { page, errors } = await consolePage(browser, product.rwsUrl, 'sup', 'suppw', { viewport: { width: 1280, height: 1000 } });
  await page.goto(`${product.rwsUrl}/console/#/recording/rs-1`);
  await page.waitForSelector('#view-recording:not([hidden])');
  await waitFor('two videos ready', () => page.evaluate(() => {
    const v = [...document.querySelectorAll('#stage video')];
    return v.length === 2 && v.every((x) => x.readyState >= 2);
  }), 15000);
  // Both files on one clock: the second starts after the first.
  const offsets = await page.evaluate(() => [...document.querySelectorAll('#stage video')].map((v) => Number(v.dataset.offset)).sort((a, b) => a - b));
  assert.equal(offsets[0], 0);
  assert.ok(offsets[1] >= 2, `the file after the restart starts ${offsets[1]} s in`);

  await waitFor('the gap span', async () => (await page.locator('#vt-track .vt-span.gap').count()) === 1);
  const gap = page.locator('#vt-track .vt-span.gap');
  assert.match(await gap.getAttribute('data-tip'), /^gap .*srs_restarted/);
  // The span ends where the second file starts.
  const from = Number(await gap.getAttribute('data-offset'));
  assert.ok(from > 1 && from <= offsets[1], `gap from ${from} s, second file at ${offsets[1]} s`);
  assert.equal(await page.locator('#vt-legend [data-kind="gap"]').isVisible(), true, 'the legend names the gap');
  assert.deepEqual(errors, []);
  await page.close();
});
