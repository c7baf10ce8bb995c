// Issue 14 part 1 in real headless Chromium: a supervisor opens the live
// page, clicks "Watch" on an agent in a call, and sees both monitors play
// through Media Source Extensions; the frames change (canvas sampling),
// the media time keeps up with the call (at most 4 s behind the stream's
// wall-clock start on the agent PC, the synthetic source's clock), the view
// is in the audit log, a supervisor of another group gets 403, and the page
// says "ended" when the call is over. Screenshot: docs/images/console-live-view.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startProduct, launchBrowser, waitFor, root, basic, postEvent, consolePage, directoryToml, user, recordingOf } from './harness.mjs';

const TOKEN = 'live-test-integration-token';
const DIRECTORY = directoryToml({
  settings: { recording_when: 'always', live_notice: true },
  places: { P1: '1001' },
  users: [
    user('agent1', 'pw1', 'agent', { default_place: 'P1' }),
    user('agent2', 'pw2', 'agent'),
    user('sup', 'suppw', 'supervisor', { first_name: 'Sue' }),
    user('supb', 'supbpw', 'supervisor'),
    user('admin', 'adminpw', 'admin'),
  ],
  groups: [
    { name: 'team', supervisors: ['sup'], agents: ['agent1'] },
    { name: 'team_b', supervisors: ['supb'], agents: ['agent2'] },
  ],
});
const LATENCY_S = 4;

let product;
let browser;
const event = (body) => postEvent(product.rwsUrl, TOKEN, body);
const admin = { Authorization: basic('admin', 'adminpw') };
const recording = (call) => recordingOf(product.rwsUrl, call, ['admin', 'adminpw']);

before(async () => {
  product = await startProduct({
    directory: DIRECTORY,
    rwsArgs: ['--integration-token', TOKEN],
    srsArgs: ['--source', 'synthetic:320x240x2'],
  });
  assert.equal((await fetch(`${product.srsUrl}/api/v2/me`, { headers: { Authorization: basic('agent1', 'pw1') } })).status, 200);
  await event({ id: 'l-s', type: 'recording.started', call_id: 'live-1', dn: '1001', ani: '+3312345', dnis: '800' });
  await waitFor('two media files', async () => (await recording('live-1'))?.mediaFiles?.length === 2, 20000);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await product?.stop();
});

test('a supervisor watches an agent live: frames change, media time keeps up, audited, ends with the call', async () => {
  const { page, errors } = await consolePage(browser, product.rwsUrl, 'sup', 'suppw', { viewport: { width: 1280, height: 760 } });
  await page.click('#nav-live');
  const watch = page.locator('button.watch[data-agent="agent1"]');
  await waitFor('Watch enabled', async () => (await watch.count()) === 1 && (await watch.isEnabled()));
  await watch.click();
  await page.waitForSelector('#view-watch:not([hidden])');
  assert.match(page.url(), /#\/watch\/agent1$/);
  await waitFor('live', async () => (await page.getAttribute('#watch-state', 'data-state')) === 'live', 20000);
  assert.equal(await page.locator('#watch-screens video').count(), 2, 'one video per monitor');
  // "Live" means pictures: each video has a frame and plays (the page used
  // to say "live" on the stream's header, before the first fragment).
  const playing = await page.$$eval('#watch-screens video', (vs) => vs.map((v) => ({ ready: v.readyState, paused: v.paused })));
  assert.ok(playing.every((v) => v.ready >= 2 && !v.paused), `live, yet: ${JSON.stringify(playing)}`);

  // Frames that change: each monitor's picture, drawn into a canvas, differs
  // between two samples (the synthetic screen moves a block every frame).
  const sample = () => page.evaluate(() => [...document.querySelectorAll('#watch-screens video')].map((v) => {
    const c = document.createElement('canvas');
    c.width = 80; c.height = 60;
    const g = c.getContext('2d');
    g.drawImage(v, 0, 0, 80, 60);
    const d = g.getImageData(0, 0, 80, 60).data;
    let h = 0;
    let lit = 0;
    for (let i = 0; i < d.length; i += 4) { h = (h * 31 + d[i] + d[i + 1] * 7 + d[i + 2] * 13) >>> 0; if (d[i] + d[i + 1] + d[i + 2] > 60) lit++; }
    return { h, lit };
  }));
  const first = await sample();
  assert.ok(first.every((s) => s.lit > 100), `a picture, not black: ${JSON.stringify(first)}`);
  await waitFor('frames change on both monitors', async () => {
    const now = await sample();
    return now.every((s, i) => s.h !== first[i].h);
  }, 10000);

  // Media time against the call: the stream's media time zero is the
  // media file's start time on the agent PC (same machine, same clock).
  const rec = await recording('live-1');
  const starts = rec.mediaFiles.map((m) => Date.parse(m.startTime));
  const lags = [];
  const until = Date.now() + 8000;
  while (Date.now() < until) {
    const seen = await page.evaluate(() => ({ now: Date.now(), t: [...document.querySelectorAll('#watch-screens video')].map((v) => ({ t: v.currentTime, paused: v.paused })) }));
    seen.t.forEach((v, i) => {
      assert.equal(v.paused, false, `monitor ${i} plays`);
      lags.push((seen.now - starts[i]) / 1000 - v.t);
    });
    await page.waitForTimeout(500); // a sampling interval, not synchronisation
  }
  const worst = Math.max(...lags);
  console.log(`live view: worst media-time lag ${worst.toFixed(2)} s over ${lags.length} samples`);
  assert.ok(worst <= LATENCY_S, `the live view is ${worst.toFixed(2)} s behind (lags ${lags.map((l) => l.toFixed(2)).join(' ')})`);
  assert.ok(Math.min(...lags) > -0.5, 'not ahead of the agent');

  await page.screenshot({ path: path.join(root, 'docs/images/console-live-view.png') });

  // The view is in the audit log (one per monitor).
  const audit = await (await fetch(`${product.rwsUrl}/api/v2/audit?action=live_view`, { headers: admin })).json();
  const rows = audit.entries.filter((e) => e.user === 'sup' && e.target === 'agent1');
  assert.equal(rows.length, 2, JSON.stringify(audit));
  assert.deepEqual(rows.map((r) => r.detail.match(/monitor (\d)/)[1]).sort(), ['0', '1']);

  // A supervisor of another group: 403 in the envelope.
  const other = await fetch(`${product.rwsUrl}/api/v2/live/agent1`, { headers: { Authorization: basic('supb', 'supbpw') } });
  assert.equal(other.status, 403);
  assert.match((await other.json()).statusMessage, /do not supervise/);

  // The call ends: the page says so.
  await event({ id: 'l-r', type: 'call.released', call_id: 'live-1', dn: '1001' });
  await waitFor('ended', async () => (await page.getAttribute('#watch-state', 'data-state')) === 'ended', 30000);
  // Leaving the page ends the views: both are audited with their end.
  await page.click('#watch-back');
  await waitFor('live_view_end', async () => {
    const a = await (await fetch(`${product.rwsUrl}/api/v2/audit?action=live_view_end`, { headers: admin })).json();
    return a.entries.filter((e) => e.user === 'sup' && / to /.test(e.detail)).length === 2;
  });
  assert.deepEqual(errors, [], 'no script errors');
});

test('watching an agent who is not recorded says so', async () => {
  const { page } = await consolePage(browser, product.rwsUrl, 'admin', 'adminpw', { viewport: { width: 1280, height: 600 } });
  await page.goto(`${product.rwsUrl}/console/#/watch/agent2`);
  await waitFor('no recording', async () => (await page.getAttribute('#watch-state', 'data-state')) === 'none');
  assert.match(await page.textContent('#watch-state'), /not being recorded/);
});
