// An HTTPS desktop page calling SRS over HTTPS (mixed content forbids HTTP):
// SRS with its self-signed certificate, the page served over HTTPS with the
// same certificate; the browser is told to accept it, as an agent PC that
// trusts it would.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startProduct, launchBrowser, serveWebElsewhere, waitFor, freePort } from './harness.mjs';

let product;
let browser;
let site;

before(async () => {
  const pagePort = await freePort();
  const pageOrigin = `https://127.0.0.1:${pagePort}`;
  product = await startProduct({ srsArgs: ['--tls-self-signed', '--allowed-origin', pageOrigin], srsScheme: 'https' });
  const tls = {
    cert: readFileSync(path.join(product.dir, 'spool/tls/srs-cert.pem')),
    key: readFileSync(path.join(product.dir, 'spool/tls/srs-key.pem')),
  };
  site = await serveWebElsewhere({ ...tls, port: pagePort });
  browser = await launchBrowser(['--ignore-certificate-errors']);
});

after(async () => {
  await browser?.close();
  await site?.close();
  await product?.stop();
});

test('an HTTPS desktop logs in to SRS over HTTPS with a Secure cookie, polls and logs out', async () => {
  const page = await browser.newPage();
  const pings = [];
  page.on('response', (r) => {
    if (r.url().endsWith('/ping')) pings.push(r.status());
  });
  await page.goto(`${site.url}/desktop/?poll=500`);
  await page.fill('#srs', product.srsUrl);
  await page.fill('#server', product.rwsUrl);
  await page.fill('#username', 'agent1');
  await page.fill('#password', 'pw1');
  const loginResponse = page.waitForResponse((r) => r.url().startsWith(`${product.srsUrl}/api/v2/me`) && r.request().method() !== 'OPTIONS');
  await page.click('#login-button');
  const cookie = (await (await loginResponse).allHeaders())['set-cookie'];
  assert.match(cookie, /Secure/);
  assert.match(cookie, /SameSite=None/);
  await page.waitForSelector('[data-testid=state].connected', { timeout: 15000 });
  await waitFor('the session on RWS', async () => (await product.sessions()).length === 1);
  // A few polls over HTTPS, counted as they are answered (not a fixed
  // wait that a loaded machine fills with fewer polls than it assumes).
  const seen = pings.length;
  await waitFor('two more polls', () => pings.length >= seen + 2, 15000);
  assert.ok(pings.every((s) => s === 200), `ping statuses ${pings}`);
  assert.equal(await page.getAttribute('#state', 'class'), 'badge connected');
  await page.click('#logout');
  await page.waitForSelector('[data-testid=state].loggedOut');
  await waitFor('the session gone', async () => (await product.sessions()).length === 0);
  await page.close();
});
