// Issue 13 part 3 in real headless Chromium: the console player's app lane
// from what a real SRS saw on a real X display (Xvfb, two xterms with their
// own WM_CLASS mapped one after the other): one span per app, hover shows
// class and title, a click seeks the player to where the app became active.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startProduct, launchBrowser, waitFor, postEvent, consolePage, oneTeam, loginAgent, recordingOf } from './harness.mjs';
import { startXvfb, xterm as openXterm } from './xscreen.mjs';

const TOKEN = 'apps-test-integration-token';
const DIRECTORY = oneTeam();

let product;
let browser;
let x;
const windows = [];
// Keeps each window active longer than SRS's 500 ms debounce: paces the
// scenario, synchronises nothing (the stored timeline is checked).
const hold = () => new Promise((r) => setTimeout(r, 2000));
const event = (body) => postEvent(product.rwsUrl, TOKEN, { dn: '1001', call_id: 'app-1', ...body });
const recording = () => recordingOf(product.rwsUrl, 'app-1');
const xterm = async (cls, title) => windows.push(await openXterm(x.display, cls, title));

before(async () => {
  x = await startXvfb(640, 480);
  product = await startProduct({
    directory: DIRECTORY,
    rwsArgs: ['--integration-token', TOKEN],
    srsArgs: ['--display', x.display],
  });
  await loginAgent(product);
  await event({ id: 'a1', type: 'call.established' });
  await event({ id: 'a2', type: 'recording.started' });
  await waitFor('recording', async () => (await recording())?.screenRecordings[0].state === 'recording', 20000);
  await hold();
  await xterm('CrmDesk', 'Customer 42');
  await hold();
  await xterm('Editor', 'notes.txt');
  await hold();
  await event({ id: 'a3', type: 'call.released' });
  await waitFor('completed', async () => (await recording())?.screenRecordings[0].state === 'completed', 30000);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  for (const w of windows) w.kill('SIGKILL');
  await product?.stop();
  x?.stop();
});

test('the app lane shows each app, its title on hover, and a click seeks there', async () => {
  const marks = (await recording()).screenRecordings[0].marks.filter((m) => m.type === 'app');
  assert.deepEqual(marks.map((m) => m.class), ['CrmDesk', 'Editor'], JSON.stringify(marks));

  const { page, errors } = await consolePage(browser, product.rwsUrl, 'sup', 'suppw', { viewport: { width: 1280, height: 900 } });
  await page.goto(`${product.rwsUrl}/console/#/recording/app-1`);
  await waitFor('video ready', () => page.evaluate(() => [...document.querySelectorAll('#stage video')].some((v) => v.readyState >= 2)), 15000);
  await waitFor('two app spans', async () => (await page.locator('#vt-apps .vt-span.app').count()) === 2);
  assert.equal(await page.locator('#vt-apps-lane').isHidden(), false);

  const second = page.locator('#vt-apps .vt-span.app').nth(1);
  const box = await second.boundingBox();
  assert.ok(box.width > 5, `the Editor span is visible (${box.width}px)`);
  await second.hover();
  await page.waitForSelector('#vt-tip:not([hidden])');
  assert.match(await page.locator('#vt-tip').textContent(), /Editor — notes\.txt/);
  await page.locator('#vt-apps .vt-span.app').first().hover();
  await waitFor('first tip', async () => /CrmDesk — Customer 42/.test(await page.locator('#vt-tip').textContent()));

  const target = Number(await second.getAttribute('data-offset'));
  assert.ok(target > 1, `Editor became active at ${target} s`);
  await second.click({ position: { x: 2, y: 2 } });
  await waitFor('the player at the Editor span', async () => Math.abs(await page.evaluate(() => window.screenrecConsole.player.t) - target) < 0.35, 5000);
  assert.deepEqual(errors, []);
});
