// The demo agent desktop in real headless Chromium against real RWS and SRS
// processes: cross-origin login with CORS and CSRF for real, polling, logout,
// and a page from an origin not on the allow-list blocked by the browser.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { startProduct, launchBrowser, serveWebElsewhere, waitFor, root } from './harness.mjs';

let product;
let browser;

before(async () => {
  product = await startProduct();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await product?.stop();
});

async function openDesktop(base, { poll = 500 } = {}) {
  const page = await browser.newPage();
  const pings = [];
  page.on('response', (r) => {
    if (r.url().endsWith('/ping')) pings.push(r.status());
  });
  await page.goto(`${base}/desktop/?poll=${poll}`);
  await page.fill('#srs', product.srsUrl);
  return { page, pings };
}

async function login(page, user, password) {
  await page.fill('#username', user);
  await page.fill('#password', password);
  await page.click('#login-button');
}

test('the desktop served by RWS logs in to SRS cross-origin, polls, shows the state, logs out', async () => {
  const { page, pings } = await openDesktop(product.rwsUrl);
  assert.equal(await page.inputValue('#server'), product.rwsUrl, 'the RWS server defaults to the page origin');
  await login(page, 'agent1', 'pw1');
  await page.waitForSelector('[data-testid=state].connected', { timeout: 15000 });
  assert.match(await page.textContent('#who'), /Ada Agent \(agent1\)/);

  const sessions = await waitFor('the session on RWS', async () => {
    const s = await product.sessions();
    return s.length === 1 && s[0].state === 'connected' && s;
  });
  assert.equal(sessions[0].user, 'agent1');
  assert.equal(sessions[0].place, 'Place_1001');

  // Polling happens, and succeeds.
  await waitFor('three polls', () => pings.length >= 3, 10000);
  assert.ok(pings.every((s) => s === 200), `ping statuses ${pings}`);

  // CSRF was negotiated for real: the page holds a token, and a logout
  // without it is refused by SRS (and readable thanks to CORS on errors).
  const csrf = await page.evaluate(() => window.srsDemo.client._csrf);
  assert.match(csrf, /^[0-9a-f]{32,}$/);
  const forged = await page.evaluate(async (srs) => {
    const r = await fetch(`${srs}/api/v2/me`, {
      method: 'POST',
      credentials: 'include',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ operationName: 'EndContactCenterSession' }),
    });
    return { status: r.status, body: await r.json() };
  }, product.srsUrl);
  assert.equal(forged.status, 403);
  assert.equal(forged.body.statusMessage, 'Missing or invalid Csrf token');
  assert.equal((await product.sessions()).length, 1, 'the session survived the forged logout');

  // The PCI pause button goes through CORS and CSRF to SRS's recording endpoint.
  await page.click('#pci');
  await waitFor('pause logged', async () => (await page.textContent('#log')).includes('screen recording paused'));
  assert.equal(await page.getAttribute('#pci', 'aria-pressed'), 'true');
  await page.click('#pci');
  await waitFor('resume logged', async () => (await page.textContent('#log')).includes('screen recording resumed'));

  mkdirSync(path.join(root, 'docs/images'), { recursive: true });
  await page.setViewportSize({ width: 1000, height: 640 });
  await page.screenshot({ path: path.join(root, 'docs/images/desktop.png') });

  await page.click('#logout');
  await page.waitForSelector('[data-testid=state].loggedOut');
  await waitFor('the session gone from RWS', async () => (await product.sessions()).length === 0);
  await page.close();
});

test('a wrong password shows SRS\'s 401 message', async () => {
  const { page } = await openDesktop(product.rwsUrl);
  await login(page, 'agent1', 'wrong');
  await page.waitForSelector('#log li.error');
  assert.match(await page.textContent('#log'), /invalid user name or password/);
  assert.equal(await page.getAttribute('#state', 'class'), 'badge loggedOut');
  assert.equal((await product.sessions()).length, 0);
  await page.close();
});

test('a page from an origin not on the allow-list is blocked by the browser', async () => {
  const elsewhere = await serveWebElsewhere();
  try {
    const page = await browser.newPage();
    const consoleErrors = [];
    page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
    await page.goto(`${elsewhere.url}/desktop/`);
    await page.fill('#srs', product.srsUrl);
    await page.fill('#server', product.rwsUrl);
    await login(page, 'agent1', 'pw1');
    await page.waitForSelector('#log li.error', { timeout: 15000 });
    assert.match(await page.textContent('#log'), /did not answer|blocked/);
    assert.ok(consoleErrors.some((e) => /CORS|Access-Control/i.test(e)), `console: ${consoleErrors}`);
    assert.equal((await product.sessions()).length, 0, 'no session was opened');
    await page.close();
  } finally {
    await elsewhere.close();
  }
});
