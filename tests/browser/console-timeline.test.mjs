// Issue 14 (parts 2 and 4) in real headless Chromium: the visual timeline
// under the player (markers seek every monitor, pause spans shaded, a
// tooltip on hover), the keyboard shortcuts, search results with caller,
// dialed number and DN whose search (filters and page) survives a visit
// to the player, `/` and the favicon, and an agent's "My recordings".
// Screenshots of search, player and live page go to docs/images/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startProduct, launchBrowser, waitFor, root, postEvent, startTwoAgents, consolePage, directoryToml, user, recordingOf, recordingState } from './harness.mjs';

const TOKEN = 'timeline-test-integration-token';
const DIRECTORY = directoryToml({
  settings: { recording_when: 'always', agents_see_own: true },
  places: { P1: '1001', P2: '1002' },
  users: [
    user('agent1', 'pw1', 'agent', { default_place: 'P1' }),
    user('agent2', 'pw2', 'agent', { default_place: 'P2' }),
    user('sup', 'suppw', 'supervisor'),
  ],
  groups: [{ name: 'team', supervisors: ['sup'], agents: ['agent1', 'agent2'] }],
});

let product;
let browser;
const pause = (ms) => new Promise((r) => setTimeout(r, ms)); // recording length, not synchronisation

const event = (body) => postEvent(product.rwsUrl, TOKEN, body);
const recording = (call) => recordingOf(product.rwsUrl, call);
const state = (call) => recordingState(product.rwsUrl, call);

before(async () => {
  product = await startProduct({
    directory: DIRECTORY,
    rwsArgs: ['--integration-token', TOKEN],
    srsArgs: ['--source', 'synthetic:320x240x2'],
  });
  await startTwoAgents(product);
  // An earlier short call of agent1, and agent2's call (someone else's).
  await event({ id: 'e0-s', type: 'recording.started', call_id: 'early-1', dn: '1001', ani: '+4470000', dnis: '900' });
  await event({ id: 'o-s', type: 'recording.started', call_id: 'other-1', dn: '1002', ani: '+4471111', dnis: '901' });
  await waitFor('early recording', async () => (await state('early-1')) === 'recording');
  await pause(1000);
  await event({ id: 'e0-r', type: 'call.released', call_id: 'early-1', dn: '1001' });
  await event({ id: 'o-r', type: 'call.released', call_id: 'other-1', dn: '1002' });
  await waitFor('early completed', async () => (await state('early-1')) === 'completed');
  // The call under test: two monitors, a hold, a pause, a transfer.
  await event({ id: 'c-e', type: 'call.established', call_id: 'tl-1', dn: '1001', ani: '+3312345', dnis: '800' });
  await event({ id: 'c-s', type: 'recording.started', call_id: 'tl-1', dn: '1001', ani: '+3312345', dnis: '800' });
  await waitFor('recording', async () => (await state('tl-1')) === 'recording');
  await pause(2500);
  await event({ id: 'c-h', type: 'call.held', call_id: 'tl-1', dn: '1001' });
  await pause(1500);
  await event({ id: 'c-p', type: 'recording.paused', call_id: 'tl-1', dn: '1001' });
  await waitFor('paused', async () => (await state('tl-1')) === 'paused');
  await pause(1500);
  await event({ id: 'c-u', type: 'recording.resumed', call_id: 'tl-1', dn: '1001' });
  await waitFor('resumed', async () => (await state('tl-1')) === 'recording');
  await event({ id: 'c-g', type: 'call.retrieved', call_id: 'tl-1', dn: '1001' });
  await pause(2500);
  await event({ id: 'c-r', type: 'call.released', call_id: 'tl-1', dn: '1001' });
  await waitFor('completed', async () => ['completed', 'other-1'].length && (await state('tl-1')) === 'completed' && (await state('other-1')) === 'completed', 20000);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await product?.stop();
});

/** Logs in through the bare host name (which must lead to the console); a screenshot of the form. */
const login = (user, pass, viewport) => consolePage(browser, product.rwsUrl, user, pass, {
  viewport,
  entry: '/',
  onForm: async (page) => {
    assert.match(page.url(), /\/console\/(#.*)?$/, 'the bare host name leads to the console');
    await page.screenshot({ path: path.join(root, 'target/console-login.png') });
  },
});

const clocks = (page) => page.evaluate(() => [...document.querySelectorAll('#stage video')].map((v) => v.currentTime + Number(v.dataset.offset)));

test('/ redirects to the console and the favicon is an SVG', async () => {
  const r = await fetch(`${product.rwsUrl}/`, { redirect: 'manual' });
  assert.equal(r.status, 307);
  assert.equal(r.headers.get('location'), '/console/');
  const icon = await fetch(`${product.rwsUrl}/favicon.svg`);
  assert.equal(icon.status, 200);
  assert.equal(icon.headers.get('content-type'), 'image/svg+xml');
});

test('a supervisor searches, plays on the visual timeline with the keyboard, and goes back to the same search', async () => {
  const { page, errors } = await login('sup', 'suppw', { width: 1280, height: 1000 });
  await page.waitForSelector('#view-search:not([hidden])');
  await waitFor('three results', async () => (await page.locator('#results tr').count()) === 3);

  // Caller, dialed number and DN in the results.
  const row = page.locator('#results tr[data-call="tl-1"]');
  assert.equal(await row.locator('td.dn').textContent(), '1001');
  assert.equal(await row.locator('td.caller').textContent(), '+3312345');
  assert.equal(await row.locator('td.dialed').textContent(), '800');

  // agent1's calls, one per page: the second page is early-1.
  await page.fill('#filters input[name=agent]', 'agent1');
  await page.click('#filters button');
  await waitFor('agent1 only', async () => (await page.locator('#results tr').count()) === 2);
  await page.screenshot({ path: path.join(root, 'docs/images/console-search.png') });
  await page.goto(`${product.rwsUrl}/console/${new URL(page.url()).hash.replace('limit=25', 'limit=1')}`);
  await waitFor('page 1 of agent1', async () => (await page.locator('#results tr').count()) === 1
    && (await page.locator('#results tr').first().getAttribute('data-call')) === 'tl-1');
  await page.click('#next');
  await waitFor('page 2 of agent1', async () => (await page.locator('#results tr').first().getAttribute('data-call')) === 'early-1');
  assert.match(page.url(), /cursor=/);
  const searchHash = new URL(page.url()).hash;
  await page.click('#prev');
  await waitFor('page 1 again', async () => (await page.locator('#results tr').first().getAttribute('data-call')) === 'tl-1');

  // Open the call.
  await page.click('#results tr[data-call="tl-1"]');
  await page.waitForSelector('#view-recording:not([hidden])');
  await waitFor('two videos ready', () => page.evaluate(() => {
    const v = [...document.querySelectorAll('#stage video')];
    return v.length === 2 && v.every((x) => x.readyState >= 2);
  }), 15000);
  assert.match(await page.locator('#rec-meta').textContent(), /DN 1001 · caller \+3312345 · dialed 800/);

  // Markers for the call's states (hold in its own colour) and a shaded pause span.
  await waitFor('markers', async () => (await page.locator('#vt-track .vt-mark').count()) >= 4);
  assert.equal(await page.locator('#vt-track .vt-mark.hold').count(), 2, 'held and retrieved');
  assert.equal(await page.locator('#vt-track .vt-span.pause').count(), 1, 'one pause span');
  assert.equal(await page.locator('#vt-apps-lane').isHidden(), true, 'no app lane without app events');
  const span = await page.locator('#vt-track .vt-span.pause').boundingBox();
  assert.ok(span.width > 10, `the pause span is visible (${span.width}px)`);

  // Hover: a tooltip element with the event.
  const held = page.locator('#vt-track .vt-mark.hold').first();
  await held.hover();
  await page.waitForSelector('#vt-tip:not([hidden])');
  assert.match(await page.locator('#vt-tip').textContent(), /call\.held/);

  // Click: both monitors go there.
  const target = Number(await held.getAttribute('data-offset'));
  assert.ok(target > 1, `held at ${target}`);
  await held.click();
  await waitFor('both monitors at the hold', async () => (await clocks(page)).every((t) => Math.abs(t - target) < 0.35), 5000);
  const cursor = await page.evaluate(() => document.getElementById('vt-cursor').style.left);
  assert.notEqual(cursor, '0%');
  // A click elsewhere on the bar: the last tenth.
  const bar = await page.locator('#vt-track').boundingBox();
  await page.mouse.click(bar.x + bar.width * 0.9, bar.y + 2);
  const duration = await page.evaluate(() => window.screenrecConsole.player.duration);
  await waitFor('both monitors near the end', async () => (await clocks(page)).every((t) => Math.abs(t - duration * 0.9) < 0.5), 5000);

  // Keyboard. ← twice from 90 %: 5 s earlier each, clamped at 0.
  await page.locator('body').click({ position: { x: 5, y: 5 } });
  const t0 = await page.evaluate(() => window.screenrecConsole.player.t);
  await page.keyboard.press('ArrowLeft');
  const t1 = await page.evaluate(() => window.screenrecConsole.player.t);
  assert.ok(Math.abs(t0 - 5 - t1) < 0.01 || (t0 < 5 && t1 === 0), `← from ${t0} to ${t1}`);
  await page.keyboard.press('ArrowLeft');
  await page.keyboard.press('ArrowLeft');
  assert.equal(await page.evaluate(() => window.screenrecConsole.player.t), 0);
  await page.keyboard.press('ArrowRight');
  await waitFor('→ moves both monitors 5 s', async () => (await clocks(page)).every((t) => Math.abs(t - 5) < 0.35), 5000);
  await page.keyboard.press('.');
  assert.ok(Math.abs(await page.evaluate(() => window.screenrecConsole.player.t) - 5.2) < 0.01, '. steps one frame');
  await page.keyboard.press(',');
  await page.keyboard.press(',');
  assert.ok(Math.abs(await page.evaluate(() => window.screenrecConsole.player.t) - 4.8) < 0.01, ', steps back');
  await page.keyboard.press(']');
  await waitFor('] raises the rate of both', () => page.evaluate(() => [...document.querySelectorAll('#stage video')].every((v) => v.playbackRate === 1.5)));
  assert.equal(await page.inputValue('#speed'), '1.5');
  await page.keyboard.press('[');
  await page.keyboard.press('[');
  await waitFor('[ lowers it', () => page.evaluate(() => [...document.querySelectorAll('#stage video')].every((v) => v.playbackRate === 0.5)));
  await page.keyboard.press(']');
  await page.keyboard.press('Space');
  await waitFor('space plays both', () => page.evaluate(() => [...document.querySelectorAll('#stage video')].every((v) => !v.paused)), 5000);
  await page.keyboard.press('Space');
  await waitFor('space pauses both', () => page.evaluate(() => [...document.querySelectorAll('#stage video')].every((v) => v.paused)), 5000);
  // Typing in a field is not a shortcut.
  await page.focus('#speed');
  await page.keyboard.press(']');
  await page.keyboard.press('Space');
  assert.equal(await page.evaluate(() => window.screenrecConsole.player.playing), false, 'space in a field does not play');

  // On the position slider the shortcuts still work (it is not a text field).
  await page.focus('#seek');
  const before = await page.evaluate(() => window.screenrecConsole.player.t);
  await page.keyboard.press('ArrowLeft');
  const after = await page.evaluate(() => window.screenrecConsole.player.t);
  assert.ok(Math.abs(before - after - Math.min(5, before)) < 0.01, `← on the slider: ${before} → ${after}`);

  // The player screenshot, at the hold with the tooltip showing.
  await page.locator('body').click({ position: { x: 5, y: 5 } });
  await held.click();
  await held.hover();
  await page.waitForSelector('#vt-tip:not([hidden])');
  await page.screenshot({ path: path.join(root, 'docs/images/console-player.png') });

  // Back: the same filters, the same page.
  await page.click('#back');
  await page.waitForSelector('#view-search:not([hidden])');
  assert.match(new URL(page.url()).hash, /^#\/search\?.*agent=agent1.*limit=1/);
  assert.equal(await page.inputValue('#filters input[name=agent]'), 'agent1');
  await waitFor('page 1 restored', async () => (await page.locator('#results tr').count()) === 1
    && (await page.locator('#results tr').first().getAttribute('data-call')) === 'tl-1');
  // And the second page's back link leads to the second page.
  await page.goto(`${product.rwsUrl}/console/${searchHash}`);
  await waitFor('page 2', async () => (await page.locator('#results tr').first().getAttribute('data-call')) === 'early-1');
  await page.click('#results tr');
  await page.waitForSelector('#view-recording:not([hidden])');
  await page.click('#back');
  await waitFor('page 2 restored', async () => (await page.locator('#results tr').first().getAttribute('data-call')) === 'early-1');
  assert.equal(new URL(page.url()).hash, searchHash);

  // The live page: units and what is empty.
  await page.click('#nav-live');
  await waitFor('live sessions', async () => (await page.locator('#live tr').count()) === 2);
  const backlog = await page.locator('#live tr td:nth-child(6)').allTextContents();
  assert.ok(backlog.every((t) => / KB/.test(t)), backlog.join());
  const beat = await page.locator('#live tr td:nth-child(8)').allTextContents();
  assert.ok(beat.every((t) => / s ago| min ago|none yet/.test(t)), beat.join());
  assert.equal(await page.locator('#live-events-empty').isVisible(), true);
  await page.screenshot({ path: path.join(root, 'docs/images/console-live.png') });
  assert.deepEqual(errors, [], 'no script errors');
});

test("an agent's My recordings shows only their own", async () => {
  const { page } = await login('agent1', 'pw1', { width: 1280, height: 800 });
  await page.waitForSelector('#view-search:not([hidden])');
  assert.equal(await page.locator('#nav-mine').isVisible(), true);
  assert.equal(await page.locator('#nav-search').isVisible(), false);
  assert.equal(await page.locator('#nav-live').isVisible(), false);
  assert.equal(await page.locator('#search-title').textContent(), 'My recordings');
  assert.match(page.url(), /#\/mine\?/);
  await waitFor('own results', async () => (await page.locator('#results tr').count()) === 2);
  const calls = await page.locator('#results tr').evaluateAll((rows) => rows.map((r) => r.dataset.call).sort());
  assert.deepEqual(calls, ['early-1', 'tl-1']);
  // The live page is not theirs: the console falls back to their recordings.
  await page.goto(`${product.rwsUrl}/console/#/live`);
  await page.waitForSelector('#view-search:not([hidden])');
  assert.equal(await page.locator('#view-live').isHidden(), true);
  // agent2's call is not reachable by its URL either.
  await page.goto(`${product.rwsUrl}/console/#/recording/other-1`);
  await waitFor('not found', async () => /not found|no recording|No /i.test(await page.locator('#rec-title').textContent()));
  assert.equal(await page.locator('#stage video').count(), 0);
});
