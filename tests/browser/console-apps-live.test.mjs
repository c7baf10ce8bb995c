// Issue 13 part 3, live: while the call is still recording, the console's
// live view of the agent lists each app the agent switches to (SRS sends
// every active-window change on its control channel; the page re-reads the
// recording every 5 s). Real SRS on a real X display (Xvfb, two xterms).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startProduct, launchBrowser, waitFor, postEvent, oneTeam, consolePage, loginAgent, recordingOf } from './harness.mjs';
import { startXvfb, xterm as openXterm } from './xscreen.mjs';

const TOKEN = 'apps-live-test-integration-token';
const DIRECTORY = oneTeam();

let product;
let browser;
let x;
const windows = [];
const event = (body) => postEvent(product.rwsUrl, TOKEN, { dn: '1001', call_id: 'app-live', ...body });
const recording = () => recordingOf(product.rwsUrl, 'app-live');
const xterm = async (cls, title, geometry) => windows.push(await openXterm(x.display, cls, title, geometry));

before(async () => {
  x = await startXvfb(640, 480);
  product = await startProduct({
    directory: DIRECTORY,
    rwsArgs: ['--integration-token', TOKEN],
    srsArgs: ['--display', x.display],
  });
  await loginAgent(product);
  await event({ id: 'l1', type: 'call.established' });
  await event({ id: 'l2', type: 'recording.started' });
  await waitFor('recording', async () => (await recording())?.screenRecordings[0].state === 'recording', 20000);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  for (const w of windows) w.kill('SIGKILL');
  await product?.stop();
  x?.stop();
});

test('the live view lists the apps the agent switches to while the call records', async () => {
  const { page, errors } = await consolePage(browser, product.rwsUrl, 'sup', 'suppw');
  await page.goto(`${product.rwsUrl}/console/#/watch/agent1`);
  await page.waitForSelector('#watch-apps-box:not([hidden])');
  const items = () => page.locator('#watch-apps li').allTextContents();

  await xterm('CrmDesk', 'Customer 42', '40x10+10+10');
  await waitFor('CrmDesk listed', async () => (await items()).length === 1, 20000);
  assert.match((await items())[0], /CrmDesk — Customer 42/);
  await xterm('Editor', 'notes.txt', '40x10+300+10');
  await waitFor('Editor listed', async () => (await items()).length === 2, 20000);
  // Newest first.
  const [newest, oldest] = await items();
  assert.match(newest, /Editor — notes\.txt/);
  assert.match(oldest, /CrmDesk — Customer 42/);
  // All of it while the call is still being recorded.
  assert.equal((await recording()).screenRecordings[0].state, 'recording');
  await event({ id: 'l3', type: 'call.released' });
  await waitFor('completed', async () => (await recording())?.screenRecordings[0].state === 'completed', 30000);
  const marks = (await recording()).screenRecordings[0].marks.filter((m) => m.type === 'app');
  assert.deepEqual(marks.map((m) => m.class), ['CrmDesk', 'Editor'], JSON.stringify(marks));
  assert.deepEqual(errors, []);
});
