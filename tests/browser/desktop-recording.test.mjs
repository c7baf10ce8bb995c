// The agent is told (issue 13): the demo desktop's recording indicator in real
// headless Chromium against real RWS and SRS processes (SRS records its synthetic
// source). A call posted to RWS → "Recording" within a poll; the PCI pause →
// "Paused"; resume → "Recording"; the call released → "Not recording".
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startProduct, launchBrowser, waitFor } from './harness.mjs';

const TOKEN = 'browser-test-integration-token-42';
const RECPOLL = 500;
let product;
let browser;

before(async () => {
  product = await startProduct({
    srsArgs: ['--source', 'synthetic:160x120'],
    rwsArgs: ['--integration-token', TOKEN],
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await product?.stop();
});

async function event(type, call) {
  const r = await fetch(`${product.rwsUrl}/api/v2/events`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ id: `${call}-${type}`, type, call_id: call, dn: '1001', switch: 'SIP_Switch', timestamp: new Date().toISOString() }),
  });
  assert.equal(r.status, 200, await r.text());
}

async function rwsState(call) {
  const admin = 'Basic ' + Buffer.from('admin:adminpw').toString('base64');
  const r = await fetch(`${product.rwsUrl}/api/v2/recordings/${call}`, { headers: { Authorization: admin } });
  if (r.status !== 200) return null;
  return (await r.json()).screenRecordings?.[0]?.state ?? null;
}

/**
 * The indicator reaches `state`. That SRS's notice changes within the desktop's poll is asserted
 * where it is measured, at `GET /api/v2/me/recording` (e2e `agent_notice.rs`); here the page polls
 * every RECPOLL, and a deadline of RECPOLL + 1.5 s left a loaded 2-core CI machine (Chromium, RWS,
 * SRS and the encoder on it) too little time for a command's way RWS → SRS plus a poll.
 */
async function indicatorBecomes(page, state) {
  await page.waitForSelector(`[data-testid=recording][data-state=${state}]`, { timeout: 10000 });
  return page.textContent('[data-testid=recording]');
}

test('the desktop indicator follows the call: recording, PCI pause, resume, released', async () => {
  const page = await browser.newPage();
  await page.goto(`${product.rwsUrl}/desktop/?poll=500&recpoll=${RECPOLL}`);
  await page.fill('#srs', product.srsUrl);
  await page.fill('#username', 'agent1');
  await page.fill('#password', 'pw1');
  assert.equal(await page.isHidden('[data-testid=recording]'), true, 'no indicator before login');
  await page.click('#login-button');
  await page.waitForSelector('[data-testid=state].connected', { timeout: 15000 });
  // Shown at login, before any call.
  assert.match(await indicatorBecomes(page, 'idle'), /^Not recording since \d/);
  assert.equal(await page.getAttribute('[data-testid=recording]', 'class'), 'rec idle');

  await event('recording.started', 'call-notice');
  await waitFor('RWS recording', async () => (await rwsState('call-notice')) === 'recording', 15000);
  const recording = await indicatorBecomes(page, 'recording');
  assert.match(recording, /^● Recording since \d/);
  assert.equal(await page.getAttribute('[data-testid=recording]', 'class'), 'rec recording');
  const red = await page.$eval('[data-testid=recording]', (el) => getComputedStyle(el).backgroundColor);
  assert.equal(red, 'rgb(198, 40, 40)', 'the recording badge is red');

  // The PCI pause (through CORS and CSRF) shows as paused, with its reason.
  await page.click('#pci');
  assert.match(await indicatorBecomes(page, 'paused'), /Paused \(card details\) since/);
  const amber = await page.$eval('[data-testid=recording]', (el) => getComputedStyle(el).backgroundColor);
  assert.equal(amber, 'rgb(242, 169, 0)', 'the paused badge is amber');
  await page.click('#pci');
  assert.match(await indicatorBecomes(page, 'recording'), /^● Recording since/);

  await event('call.released', 'call-notice');
  await waitFor('RWS final', async () => ['completed', 'partial'].includes(await rwsState('call-notice')), 20000);
  assert.match(await indicatorBecomes(page, 'idle'), /^Not recording since/);
  assert.equal(await rwsState('call-notice'), 'completed');

  // The log tells the same story, in order.
  const log = await page.$$eval('#log li', (lis) => lis.map((li) => li.textContent).reverse());
  const changes = log.filter((l) => l.includes('screen recording: ')).map((l) => l.split('screen recording: ')[1]);
  assert.deepEqual(changes, ['idle', 'recording', 'paused (desktop)', 'recording', 'idle']);

  await page.click('#logout');
  await page.waitForSelector('[data-testid=state].loggedOut');
  assert.equal(await page.isHidden('[data-testid=recording]'), true, 'no indicator after logout');
  await page.close();
});
