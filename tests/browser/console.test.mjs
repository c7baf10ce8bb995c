// The supervisor console in real headless Chromium: log in, search, open a
// two-monitor recording, both monitors play on one clock; seeking from the
// timeline and changing speed apply to both; another group's agent is not
// visible; a download is audited; live and failures pages show what they must;
// an agent without agents_see_own gets a message, not an error page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startProduct, launchBrowser, waitFor, root, basic, postEvent, startTwoAgents, consolePage, directoryToml, user, recordingState } from './harness.mjs';

const TOKEN = 'console-test-integration-token';
const DIRECTORY = directoryToml({
  settings: { recording_when: 'always' },
  places: { P1: '1001', P2: '1002' },
  users: [
    user('agent1', 'pw1', 'agent', { default_place: 'P1' }),
    user('agent2', 'pw2', 'agent', { default_place: 'P2' }),
    user('sup', 'suppw', 'supervisor'),
    user('admin', 'adminpw', 'admin'),
  ],
  groups: [
    { name: 'mine', supervisors: ['sup'], agents: ['agent1'] },
    { name: 'other', agents: ['agent2'] },
  ],
});

let product;
let srs2;
let browser;

const event = (body) => postEvent(product.rwsUrl, TOKEN, body);
const state = (call) => recordingState(product.rwsUrl, call, ['admin', 'adminpw']);

before(async () => {
  product = await startProduct({
    directory: DIRECTORY,
    rwsArgs: ['--integration-token', TOKEN],
    srsArgs: ['--source', 'synthetic:320x240x2'],
  });
  // agent2 on a second SRS.
  srs2 = await startTwoAgents(product);
  // A two-monitor call for agent1 (with a PCI-style pause), one call for agent2.
  await event({ id: 'c1-e', type: 'call.established', call_id: 'con-1', dn: '1001', ani: '+3312345' });
  await event({ id: 'c1-s', type: 'recording.started', call_id: 'con-1', dn: '1001' });
  await event({ id: 'c2-s', type: 'recording.started', call_id: 'con-2', dn: '1002' });
  await waitFor('recording', async () => (await state('con-1')) === 'recording');
  await new Promise((r) => setTimeout(r, 2500));
  await event({ id: 'c1-h', type: 'call.held', call_id: 'con-1', dn: '1001' });
  await new Promise((r) => setTimeout(r, 2500));
  await event({ id: 'c1-r', type: 'call.released', call_id: 'con-1', dn: '1001' });
  await event({ id: 'c2-r', type: 'call.released', call_id: 'con-2', dn: '1002' });
  await waitFor('completed', async () => (await state('con-1')) === 'completed' && (await state('con-2')) === 'completed');
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await product?.stop();
});

test('a supervisor finds the call and watches both monitors in step with the timeline', async () => {
  const { page } = await consolePage(browser, product.rwsUrl, 'sup', 'suppw', { ready: '#view-search:not([hidden])' });
  // Only agent1's call is visible to this supervisor.
  await waitFor('results', async () => (await page.locator('#results tr').count()) === 1);
  assert.equal(await page.locator('#results tr').first().getAttribute('data-call'), 'con-1');
  await page.fill('#filters input[name=agent]', 'agent2');
  await page.click('#filters button');
  await waitFor('no results for agent2', async () => (await page.locator('#results tr').count()) === 0);
  await page.fill('#filters input[name=agent]', 'agent1');
  await page.click('#filters button');
  await waitFor('agent1 result', async () => (await page.locator('#results tr').count()) === 1);
  await page.screenshot({ path: path.join(root, 'target/console-search.png') });

  await page.click('#results tr');
  await page.waitForSelector('#view-recording:not([hidden])');
  await waitFor('two videos ready', () => page.evaluate(() => {
    const v = [...document.querySelectorAll('#stage video')];
    return v.length === 2 && v.every((x) => x.readyState >= 2);
  }), 15000);
  const sizes = await page.evaluate(() => [...document.querySelectorAll('#stage video')].map((v) => [v.videoWidth, v.videoHeight, v.style.left]));
  assert.deepEqual(sizes.map((s) => s.slice(0, 2)), [[320, 240], [320, 240]]);
  assert.notEqual(sizes[0][2], sizes[1][2], 'monitors laid out side by side');

  // Play: both clocks move together.
  await page.click('#play');
  await waitFor('both advance', () => page.evaluate(() => [...document.querySelectorAll('#stage video')].every((v) => v.currentTime > 1)), 10000);
  const drift = await page.evaluate(() => {
    const [a, b] = document.querySelectorAll('#stage video');
    return Math.abs(a.currentTime - Number(a.dataset.offset) - (b.currentTime - Number(b.dataset.offset)));
  });
  assert.ok(drift < 0.5, `monitors ${drift.toFixed(2)} s apart`);
  // Not blank: the frame has more than one colour.
  const colours = await page.evaluate(() => {
    const v = document.querySelector('#stage video');
    const c = Object.assign(document.createElement('canvas'), { width: 64, height: 48 });
    const g = c.getContext('2d');
    g.drawImage(v, 0, 0, 64, 48);
    const d = g.getImageData(0, 0, 64, 48).data;
    const seen = new Set();
    for (let i = 0; i < d.length; i += 4) seen.add(`${d[i] >> 4},${d[i + 1] >> 4},${d[i + 2] >> 4}`);
    return seen.size;
  });
  assert.ok(colours > 2, `${colours} colours in the frame`);
  await page.screenshot({ path: path.join(root, 'target/console-player.png') });

  // Speed applies to both.
  await page.selectOption('#speed', '2');
  await waitFor('both at 2x', () => page.evaluate(() => [...document.querySelectorAll('#stage video')].every((v) => v.playbackRate === 2)));
  // The timeline lists the call's events; clicking one moves both videos there.
  await page.click('#play'); // pause
  const items = await page.locator('#timeline li').allTextContents();
  assert.ok(items.some((t) => t.includes('call.held')), items.join('\n'));
  assert.ok(items.some((t) => t.includes('call.released')), items.join('\n'));
  const held = page.locator('#timeline li', { hasText: 'call.held' });
  const target = Number(await held.getAttribute('data-offset'));
  await held.click();
  await waitFor('both seeked', () => page.evaluate((t) => [...document.querySelectorAll('#stage video')].every((v) => Math.abs(v.currentTime + Number(v.dataset.offset) - t) < 0.35), target), 5000);

  // A download is audited.
  const href = await page.locator('#downloads a').first().getAttribute('href');
  const dl = await page.evaluate(async (u) => (await fetch(u)).status, href);
  assert.equal(dl, 200);
  const audit = await (await fetch(`${product.rwsUrl}/api/v2/audit?action=download`, { headers: { Authorization: basic('admin', 'adminpw') } })).json();
  assert.equal(audit.entries[0].user, 'sup');

  // The signed evidence export: a button on the player, a zip, audited.
  const exportHref = await page.locator('#downloads a.export').first().getAttribute('href');
  const ex = await page.evaluate(async (u) => { const r = await fetch(u); return [r.status, r.headers.get('content-type'), (await r.arrayBuffer()).byteLength]; }, exportHref);
  assert.equal(ex[0], 200, exportHref);
  assert.equal(ex[1], 'application/zip');
  assert.ok(ex[2] > 1000, `a bundle of ${ex[2]} bytes`);
  const exports = await (await fetch(`${product.rwsUrl}/api/v2/audit?action=export`, { headers: { Authorization: basic('admin', 'adminpw') } })).json();
  assert.equal(exports.entries[0].user, 'sup');

  // Live page lists the sessions; failures page is empty here.
  await page.goto(`${product.rwsUrl}/console/#/live`);
  await waitFor('live sessions', async () => (await page.locator('#live tr').count()) === 1);
  assert.equal(await page.locator('#live tr td').first().textContent(), 'agent1', "only the supervisor's agents");
  await page.screenshot({ path: path.join(root, 'target/console-live.png') });
  await page.goto(`${product.rwsUrl}/console/#/failures`);
  await page.waitForSelector('#view-failures:not([hidden])');
  assert.equal(await page.locator('#failures tr').count(), 0);
});

test('an agent without agents_see_own is told why there is nothing to see', async () => {
  const { page } = await consolePage(browser, product.rwsUrl, 'agent1', 'pw1', { viewport: { width: 1280, height: 800 }, ready: '#view-none:not([hidden])' });
  assert.match(await page.locator('#none-why').textContent(), /agents_see_own/);
  for (const id of ['#view-search', '#view-live', '#view-failures', '#view-recording']) {
    assert.equal(await page.locator(id).isHidden(), true, id);
  }
  for (const id of ['#nav-search', '#nav-mine', '#nav-live', '#nav-failures']) {
    assert.equal(await page.locator(id).isHidden(), true, id);
  }
  // A recording's URL shows the same message, not the player.
  await page.goto(`${product.rwsUrl}/console/#/recording/con-1`);
  await page.waitForSelector('#view-none:not([hidden])');
  assert.equal(await page.locator('#stage video').count(), 0);
});
