// Real screenrec processes and headless Chromium for the browser tests.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '../..');
export const bin = process.env.SCREENREC_BIN || path.join(root, 'target/debug/screenrec');

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** GET url → true on 200; accepts SRS's self-signed certificate. */
export async function healthy(url) {
  const { get } = await import(url.startsWith('https') ? 'node:https' : 'node:http');
  return new Promise((resolve) => {
    const req = get(url, { rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
  });
}

export async function waitFor(what, fn, ms = 15000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The `Authorization` header value for Basic credentials. */
export const basic = (u, p) => 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64');

/** `POST /api/v2/events` with the integration `token`, the switch and a timestamp filled in; asserts 200. */
export async function postEvent(rwsUrl, token, body) {
  const r = await fetch(`${rwsUrl}/api/v2/events`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ switch: 'SIP_Switch', timestamp: new Date().toISOString(), ...body }),
  });
  assert.equal(r.status, 200, await r.text());
}

/** The recording resource of `call` as `who` (`[user, password]`, sup unless told); null unless 200. */
export async function recordingOf(rwsUrl, call, who = ['sup', 'suppw']) {
  const r = await fetch(`${rwsUrl}/api/v2/recordings/${call}`, { headers: { Authorization: basic(...who) } });
  return r.ok ? r.json() : null;
}

/** The state of `call`'s first screen recording as `who` (see `recordingOf`); undefined if none. */
export const recordingState = async (rwsUrl, call, who) => (await recordingOf(rwsUrl, call, who))?.screenRecordings[0].state;

/**
 * Logs `user` in on the product's SRS (`GET /api/v2/me`, 200 asserted) and returns once RWS lists
 * the session `connected`: its control channel is up, not only its login answered.
 */
export async function loginAgent(product, user = 'agent1', pass = 'pw1') {
  assert.equal((await fetch(`${product.srsUrl}/api/v2/me`, { headers: { Authorization: basic(user, pass) } })).status, 200);
  await waitFor(`${user} connected`, async () => (await product.sessions()).some((s) => s.user === user && s.state === 'connected'));
}

/**
 * A second SRS (`srs-2`, synthetic 320x240) on `product`'s RWS, then agent1
 * logged in on the product's SRS and agent2 on the second (200 asserted for
 * each); returns the second SRS's process.
 */
export async function startTwoAgents(product) {
  const port = await freePort();
  const srs2 = product.run('srs-2', ['srs', '--listen', `127.0.0.1:${port}`, '--spool', path.join(product.dir, 'spool2'), '--server', product.rwsUrl, '--source', 'synthetic:320x240']);
  await waitFor('SRS 2', () => healthy(`http://127.0.0.1:${port}/healthz`));
  assert.equal((await fetch(`${product.srsUrl}/api/v2/me`, { headers: { Authorization: basic('agent1', 'pw1') } })).status, 200);
  assert.equal((await fetch(`http://127.0.0.1:${port}/api/v2/me`, { headers: { Authorization: basic('agent2', 'pw2') } })).status, 200);
  return srs2;
}

/** A TOML value: a string, a number or boolean, or an array of strings. */
const tomlValue = (v) => (Array.isArray(v) ? `[${v.map((x) => JSON.stringify(x)).join(', ')}]` : typeof v === 'string' ? JSON.stringify(v) : String(v));

/**
 * A directory TOML, the way the browser tests write one: top-level `settings` first (e.g.
 * `{ recording_when: 'always' }`), `allowed_origins = [origins]` when `origins` is given (the
 * TOML list `startProduct` passes to a `directory` function), the switch `SIP_Switch`, one place
 * per `places` entry (name → DN on that switch), one `[[user]]` per `users` entry (see `user`)
 * and one `[[group]]` per `groups` entry (`{ name, supervisors, agents }`).
 */
export function directoryToml({ settings = {}, origins, places = {}, users = [], groups = [] } = {}) {
  const table = (name, fields) => [`[[${name}]]`, ...Object.entries(fields).map(([k, v]) => `${k} = ${tomlValue(v)}`)];
  return [
    ...Object.entries(settings).map(([k, v]) => `${k} = ${tomlValue(v)}`),
    ...(origins === undefined ? [] : [`allowed_origins = [${origins}]`]),
    ...table('switch', { name: 'SIP_Switch' }),
    ...Object.entries(places).flatMap(([name, dn]) => [`[[place]]`, `name = ${tomlValue(name)}`, `devices = [{ dn = ${tomlValue(dn)}, switch = "SIP_Switch" }]`]),
    ...users.flatMap((u) => table('user', u)),
    ...groups.flatMap((g) => table('group', g)),
  ].join('\n') + '\n';
}

/** A `[[user]]` of `directoryToml`: `username`, `password`, `roles = [role]`, then `more` fields. */
export const user = (username, password, role, more = {}) => ({ username, password, roles: [role], ...more });

/**
 * The one-team directory of the console tests (a function of the allowed origins, for
 * `startProduct`): `recording_when = "always"`, agent1 (pw1) at place P1 (DN 1001), supervisor
 * sup (suppw) of group `team` = [agent1], and admin (adminpw) unless `admin: false`.
 */
export const oneTeam = ({ admin = true } = {}) => (origins) => directoryToml({
  settings: { recording_when: 'always' },
  origins,
  places: { P1: '1001' },
  users: [
    user('agent1', 'pw1', 'agent', { default_place: 'P1' }),
    ...(admin ? [user('admin', 'adminpw', 'admin')] : []),
    user('sup', 'suppw', 'supervisor'),
  ],
  groups: [{ name: 'team', supervisors: ['sup'], agents: ['agent1'] }],
});

/**
 * RWS + SRS on free ports with a directory that allows RWS's own origin
 * (`directory`: the TOML text, or a function of the allowed origins' TOML list).
 */
export async function startProduct({ extraOrigins = [], srsArgs = [], rwsArgs = [], srsScheme = 'http', srsPort: fixedSrsPort, directory } = {}) {
  if (!existsSync(bin)) throw new Error(`${bin} not built (cargo build)`);
  const dir = mkdtempSync(path.join(tmpdir(), 'screenrec-browser-'));
  const rwsPort = await freePort();
  const srsPort = fixedSrsPort ?? (await freePort());
  const rwsUrl = `http://127.0.0.1:${rwsPort}`;
  const srsUrl = `${srsScheme}://127.0.0.1:${srsPort}`;
  const origins = [rwsUrl, ...extraOrigins].map((o) => JSON.stringify(o)).join(', ');
  writeFileSync(path.join(dir, 'directory.toml'), typeof directory === 'function' ? directory(origins) : directory ?? `
allowed_origins = [${origins}]
[[switch]]
name = "SIP_Switch"
[[place]]
name = "Place_1001"
devices = [{ dn = "1001", switch = "SIP_Switch" }]
[[place]]
name = "Place_Hot"
devices = [{ dn = "2001", switch = "SIP_Switch" }, { dn = "2002", switch = "SIP_Switch" }]
[[user]]
username = "agent1"
password = "pw1"
first_name = "Ada"
last_name = "Agent"
roles = ["agent"]
default_place = "Place_1001"
[[user]]
username = "admin"
password = "adminpw"
roles = ["admin"]
`);
  const procs = [];
  const logs = [];
  const run = (name, args) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks = [];
    p.stdout.on('data', (d) => chunks.push(d));
    p.stderr.on('data', (d) => chunks.push(d));
    logs.push({ name, chunks });
    procs.push(p);
    return p;
  };
  run('rws', ['rws', '--listen', `127.0.0.1:${rwsPort}`, '--data-dir', path.join(dir, 'rws'), '--directory', path.join(dir, 'directory.toml'), ...rwsArgs]);
  await waitFor('RWS', async () => (await fetch(`${rwsUrl}/healthz`)).ok);
  run('srs', ['srs', '--listen', `127.0.0.1:${srsPort}`, '--spool', path.join(dir, 'spool'), '--server', rwsUrl, ...srsArgs]);
  await waitFor('SRS', () => healthy(`${srsUrl}/healthz`));
  const admin = 'Basic ' + Buffer.from('admin:adminpw').toString('base64');
  return {
    dir, rwsUrl, srsUrl,
    async sessions() {
      const r = await fetch(`${rwsUrl}/api/v2/srs/sessions`, { headers: { Authorization: admin } });
      return (await r.json()).sessions;
    },
    logs() {
      return logs.map(({ name, chunks }) => `--- ${name}\n${Buffer.concat(chunks).toString()}`).join('\n');
    },
    run,
    async stop() {
      for (const p of procs) p.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A fresh page of `browser` on the console of `rwsUrl`, logged in as `user`: opens `entry`
 * (`/console/` unless told), waits for the login form, calls `onForm(page)` when given (for a
 * test's own checks of the form), submits and returns once `ready` (a selector: the navigation
 * bar unless told) is shown. `errors` collects the page's script errors and console errors,
 * except the console's first `/api/v2/me` before the login (a 401 by design): a test asserts it
 * empty at its end.
 */
export async function consolePage(browser, rwsUrl, user, pass, { viewport = { width: 1280, height: 900 }, entry = '/console/', onForm, ready = '#nav:not([hidden])' } = {}) {
  const page = await browser.newPage({ viewport });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 401/.test(m.text())) errors.push(m.text()); });
  await page.goto(`${rwsUrl}${entry}`);
  await page.waitForSelector('#login:not([hidden])');
  if (onForm) await onForm(page);
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', pass);
  await page.click('#login button');
  await page.waitForSelector(ready);
  return { page, errors };
}

export async function launchBrowser(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', ...extraArgs],
  });
}

/** A static server for web/ on another origin; HTTPS when given {cert, key}. */
export async function serveWebElsewhere(tls) {
  const { createServer: createHttp } = await import('node:http');
  const { createServer: createHttps } = await import('node:https');
  const port = tls?.port ?? (await freePort());
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };
  const handler = (req, res) => {
    let p = new URL(req.url, 'http://x').pathname;
    if (p.endsWith('/')) p += 'index.html';
    const file = path.join(root, 'web', path.normalize(p));
    if (!file.startsWith(path.join(root, 'web')) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': types[path.extname(file)] || 'application/octet-stream' });
    res.end(readFileSync(file));
  };
  const server = tls ? createHttps(tls, handler) : createHttp(handler);
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) };
}
