// The browser recorder (issue 15): web/srs-browser.js in Chromium *headful* on
// Xvfb (headless cannot capture a screen) against a real RWS. A page on an
// allowed origin logs agent1 in with BrowserSrs; a call is recorded from the
// real X screen, encrypted in the page, uploaded with tus, and RWS has it within
// 3 s of the call's end; ffmpeg finds the red window where it is on the screen,
// black while paused; the independent `age` CLI opens an uploaded segment.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startProduct, waitFor, basic, bin, serveWebElsewhere, freePort } from './harness.mjs';
import { startXvfb, paintScene, launchHeadful, clickStopSharing } from './xscreen.mjs';

const TOKEN = 'browser-srs-integration-token-42';
const admin = { Authorization: basic('admin', 'adminpw') };
let x;
let scene;
let product;
let browser;
let agentContext;
let desk;
let work;

before(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'screenrec-browser-srs-'));
  x = await startXvfb(1280, 720);
  scene = await paintScene(x.display);
  // A desktop on another origin that the directory allows (the usual case: the CRM).
  desk = await serveWebElsewhere();
  product = await startProduct({ extraOrigins: [desk.url], rwsArgs: ['--integration-token', TOKEN], srsArgs: ['--source', 'synthetic:160x120'], directory: (origins) => `
allowed_origins = [${origins}]
[[switch]]
name = "SIP_Switch"
[[place]]
name = "Place_1001"
devices = [{ dn = "1001", switch = "SIP_Switch" }]
[[place]]
name = "Place_2001"
devices = [{ dn = "2001", switch = "SIP_Switch" }]
[[user]]
username = "agent1"
password = "pw1"
roles = ["agent"]
default_place = "Place_1001"
[[user]]
username = "agent2"
password = "pw2"
roles = ["agent"]
default_place = "Place_2001"
[[user]]
username = "admin"
password = "adminpw"
roles = ["admin"]
` });
  browser = await launchHeadful(x.display);
  // One browser profile for every agent page, as for a real agent: what a
  // closed tab left in OPFS is there for the next one.
  // No viewport emulation: Playwright's default would also shrink what
  // Chromium reports as the screen, and so the captured size.
  agentContext = await browser.newContext({ viewport: null });
});

after(async () => {
  await browser?.close();
  await desk?.close();
  await product?.stop();
  for (const p of scene?.procs ?? []) p.kill('SIGKILL');
  x?.stop();
  if (work && !process.env.KEEP) rmSync(work, { recursive: true, force: true });
});

async function event(type, call, dn = '1001') {
  const r = await fetch(`${product.rwsUrl}/api/v2/events`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ id: `${call}-${type}`, type, call_id: call, dn, switch: 'SIP_Switch', timestamp: new Date().toISOString() }),
  });
  assert.equal(r.status, 200, await r.text());
}

async function recordingOf(call) {
  const r = await fetch(`${product.rwsUrl}/api/v2/recordings/${call}`, { headers: admin });
  return r.ok ? r.json() : null;
}

/**
 * A page on RWS's origin (an allowed origin) with BrowserSrs on `window.srs`;
 * its fetch keeps the segments headers of the PATCHes RWS accepted and the
 * first PATCH body (base64), its events land in `window.notices`.
 */
async function browserPage() {
  const page = await agentContext.newPage();
  page.on('console', (m) => { if (process.env.DEBUG) console.log('page:', m.text()); });
  await page.goto(`${product.rwsUrl}/desktop/`);
  await page.evaluate(async () => {
    const { BrowserSrs } = await import('/srs-browser.js');
    window.patches = [];
    window.notices = [];
    window.errors = [];
    const spy = async (url, init = {}) => {
      const r = await fetch(url, init);
      const seg = init.headers?.['screenrec-segments'];
      if (init.method === 'PATCH' && seg && r.status === 204) {
        const first = window.patches.length === 0 ? btoa(Array.from(init.body, (b) => String.fromCharCode(b)).join('')) : null;
        window.patches.push({ segments: seg, body: first });
      }
      return r;
    };
    window.srs = new BrowserSrs({ fetch: spy });
    window.srs.addEventListener('recordingchange', (e) => window.notices.push(e.detail));
    window.srs.addEventListener('error', (e) => window.errors.push(String(e.detail.error?.message ?? e.detail.error)));
  });
  return page;
}

const mediaMs = (page) => page.evaluate(() => window.srs._active?.recorder.mediaMs ?? 0);
const segmentsSent = (page) => page.evaluate(() => window.patches.reduce((n, p) => n + p.segments.split(',').length, 0));

/**
 * RGB of pixel (x, y) of what the MP4 `file` shows at `seconds`, decoded by
 * ffmpeg. Frames come only when the screen changed (variable frame rate), so
 * the stream is first made constant-rate (`fps`: the last frame repeats) and
 * then cut at `seconds`: the frame on screen then, not the next one.
 */
function pixel(file, seconds, x0, y0, width) {
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-vf', 'fps=10', '-ss', String(seconds), '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 64 << 20 });
  const i = (y0 * width + x0) * 3;
  return [raw[i], raw[i + 1], raw[i + 2]];
}

const near = (got, want, tol = 40) => got.every((v, i) => Math.abs(v - want[i]) <= tol);

/**
 * Clicks Chrome's "Stop sharing" until `page` shows `done` (a page
 * expression): a click that lands while the bar is still being laid out is
 * clicked again; once the bar is gone there is nothing left to click.
 */
async function stopSharing(page, done) {
  await waitFor('Stop sharing taken', async () => {
    try {
      clickStopSharing(x.display);
    } catch {
      // no bar any more
    }
    return page.waitForFunction(done, null, { timeout: 1500 }).then(() => true, () => false);
  }, 10000);
}

test('a call is recorded in the page: on RWS within 3 s, plays, shows the red window, black while paused', async () => {
  const page = await browserPage();
  await page.evaluate(() => window.srs.login({ username: 'agent1', password: 'pw1' }));
  const sessions = await product.sessions();
  const mine = sessions.find((s) => s.user === 'agent1');
  assert.equal(mine?.kind, 'browser', JSON.stringify(sessions));
  assert.equal(mine.state, 'connected');

  await event('recording.started', 'call-b1');
  await page.waitForFunction(() => window.notices.some((n) => n.state === 'recording'), null, { timeout: 10000 });
  await waitFor('RWS recording', async () => (await recordingOf('call-b1'))?.screenRecordings?.[0]?.state === 'recording', 10000);
  // Fragments stream while the call goes on.
  await waitFor('2 s of screen uploaded', async () => (await mediaMs(page)) > 2500 && (await segmentsSent(page)) >= 2, 15000);

  const pausedAt = await page.evaluate(async () => { await window.srs.pause(); return window.srs._active.recorder.mediaMs; });
  await waitFor('2 s paused', async () => (await mediaMs(page)) > pausedAt + 2500, 10000);
  const resumedAt = await page.evaluate(async () => { await window.srs.resume(); return window.srs._active.recorder.mediaMs; });
  await waitFor('1.5 s more', async () => (await mediaMs(page)) > resumedAt + 1500, 10000);
  const states = await page.evaluate(() => window.notices.map((n) => n.state + (n.reason ? `(${n.reason})` : '')));
  assert.deepEqual(states, ['idle', 'recording', 'paused(desktop)', 'recording(desktop)']);

  await event('call.released', 'call-b1');
  const released = Date.now();
  const rec = await waitFor('completed on RWS', async () => {
    const j = await recordingOf('call-b1');
    return j?.screenRecordings?.[0]?.state === 'completed' && j;
  }, 10000);
  const after = (Date.now() - released) / 1000;
  assert.ok(after <= 3, `recording complete ${after.toFixed(1)} s after the call ended`);
  await page.waitForFunction(() => window.notices.at(-1).state === 'idle', null, { timeout: 5000 });
  assert.deepEqual(await page.evaluate(() => window.errors), []);

  // Played (decrypted by RWS) and judged by ffprobe/ffmpeg.
  assert.equal(rec.mediaFiles.length, 1, JSON.stringify(rec));
  const media = rec.mediaFiles[0];
  assert.equal(media.parameters.monitorGeometry.width, 1280);
  const played = await fetch(`${product.rwsUrl}${media.mediaUri}`, { headers: admin });
  assert.equal(played.status, 200);
  const file = path.join(work, 'call-b1.mp4');
  writeFileSync(file, Buffer.from(await played.arrayBuffer()));
  const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height:format=duration', '-of', 'json', file]).toString());
  assert.equal(probe.streams[0].codec_name, 'h264');
  assert.equal(probe.streams[0].width, 1280);
  assert.equal(probe.streams[0].height, 720);
  const duration = Number(probe.format.duration);
  assert.ok(duration > (resumedAt + 1000) / 1000, `duration ${duration} s covers the call`);

  // The signed evidence export: the page hashed each fragment's plaintext
  // before encrypting it, and `screenrec verify` accepts the bundle.
  const exp = await fetch(`${product.rwsUrl}/api/v2/recordings/call-b1/export`, { headers: admin });
  assert.equal(exp.status, 200);
  const bundle = path.join(work, 'call-b1.zip');
  writeFileSync(bundle, Buffer.from(await exp.arrayBuffer()));
  const manifest = JSON.parse(execFileSync('unzip', ['-p', bundle, 'manifest.json']).toString());
  const segs = manifest.media_files[0].segments;
  assert.ok(segs.length > 1 && segs.every((s) => s.plain_sha256_by === 'srs'), JSON.stringify(segs));
  assert.match(execFileSync(bin, ['verify', bundle]).toString(), /^OK:/);

  const { x: rx, y: ry, width: rw, height: rh } = scene.geometry;
  const cx = rx + Math.floor(rw / 2);
  const cy = ry + Math.floor(rh / 2);
  const before = pixel(file, 1.0, cx, cy, 1280);
  assert.ok(near(before, [255, 0, 0]), `red window at (${cx}, ${cy}) before the pause: ${before}`);
  const root = pixel(file, 1.0, 40, 40, 1280);
  assert.ok(near(root, [0, 0, 255]), `blue root at (40, 40): ${root}`);
  const paused = pixel(file, (pausedAt + resumedAt) / 2000, cx, cy, 1280);
  assert.ok(near(paused, [0, 0, 0], 20), `black while paused: ${paused}`);
  const resumed = pixel(file, (resumedAt + 1000) / 1000, cx, cy, 1280);
  assert.ok(near(resumed, [255, 0, 0]), `red again after resume: ${resumed}`);

  // The independent age CLI opens the first uploaded segment with the tenant key.
  const first = await page.evaluate(() => window.patches[0]);
  const cipherLen = Number(first.segments.split(',')[0].split(':')[0]);
  const plainLen = Number(first.segments.split(',')[0].split(':')[1]);
  const segment = Buffer.from(first.body, 'base64').subarray(0, cipherLen);
  assert.equal(segment.subarray(0, 22).toString(), 'age-encryption.org/v1\n');
  writeFileSync(path.join(work, 'seg0.age'), segment);
  execFileSync('age-keygen', ['-o', path.join(work, 'custodian.txt')], { stdio: 'ignore' });
  const custodian = execFileSync('age-keygen', ['-y', path.join(work, 'custodian.txt')]).toString().trim();
  execFileSync(bin, ['rws', 'keys', 'export', '--data-dir', path.join(product.dir, 'rws'), '--out', path.join(work, 'keys.age'), '--to', custodian]);
  writeFileSync(path.join(work, 'keys.txt'), execFileSync('age', ['-d', '-i', path.join(work, 'custodian.txt'), path.join(work, 'keys.age')]));
  const plain = execFileSync('age', ['-d', '-i', path.join(work, 'keys.txt'), path.join(work, 'seg0.age')]);
  assert.equal(plain.length, plainLen);
  assert.equal(plain.subarray(4, 8).toString(), 'ftyp', 'the first segment is the MP4 init segment');
  const played0 = Buffer.from(readFileSync(file)).subarray(0, plainLen);
  assert.ok(plain.equals(played0), 'what age decrypts is what RWS plays');

  await page.evaluate(() => window.srs.logout());
  assert.equal((await product.sessions()).some((s) => s.user === 'agent1'), false, 'logout ends the session');
  await page.close();
});

test('"Stop sharing": the recording ends stopped_by_agent, partial, on the failures page; share() asks again', async () => {
  const page = await browserPage();
  await page.evaluate(() => window.srs.login({ username: 'agent1', password: 'pw1' }));
  await event('recording.started', 'call-b2');
  await waitFor('a fragment uploaded', async () => (await segmentsSent(page)) >= 2, 15000);

  // The agent clicks Chrome's own "Stop sharing" bar on the X screen.
  await stopSharing(page, () => window.notices.at(-1).state === 'stopped_by_agent');
  const rec = await waitFor('partial on RWS', async () => {
    const r = (await recordingOf('call-b2'))?.screenRecordings?.[0];
    return r?.state === 'partial' && r;
  }, 10000);
  assert.equal(rec.reason, 'stopped_by_agent');

  // A call while nothing is shared cannot be recorded, and says why.
  await event('recording.started', 'call-b2b');
  const failed = await waitFor('failed on RWS', async () => {
    const r = (await recordingOf('call-b2b'))?.screenRecordings?.[0];
    return r?.state === 'failed' && r;
  }, 10000);
  assert.match(failed.reason, /stopped_by_agent/);
  await event('call.released', 'call-b2b');
  await event('call.released', 'call-b2');

  // Supervisors see both on the console's failures page.
  const console_ = await browser.newPage();
  await console_.goto(`${product.rwsUrl}/console/`);
  await console_.waitForSelector('#login:not([hidden])');
  await console_.fill('input[name=username]', 'admin');
  await console_.fill('input[name=password]', 'adminpw');
  await console_.click('#login button');
  await console_.waitForSelector('#view-search:not([hidden])');
  await console_.goto(`${product.rwsUrl}/console/#/failures`);
  await console_.waitForSelector('#failures tr[data-call=call-b2]', { timeout: 10000 });
  const row = await console_.textContent('#failures tr[data-call=call-b2]');
  assert.match(row, /partial/);
  assert.match(row, /stopped_by_agent/);
  assert.match(await console_.textContent('#failures tr[data-call=call-b2b]'), /stopped_by_agent/);
  await console_.close();

  // The module asks again; the next call is recorded.
  await page.evaluate(() => window.srs.share());
  await page.waitForFunction(() => window.notices.at(-1).state === 'idle', null, { timeout: 5000 });
  await event('recording.started', 'call-b3');
  await waitFor('a fragment of call-b3', async () => (await mediaMs(page)) > 2500, 15000);
  // A track stopped by script (no 'ended' event) is noticed too.
  await page.evaluate(() => window.srs.stream.getVideoTracks()[0].stop());
  const b3 = await waitFor('call-b3 partial', async () => {
    const r = (await recordingOf('call-b3'))?.screenRecordings?.[0];
    return r?.state === 'partial' && r;
  }, 10000);
  assert.equal(b3.reason, 'stopped_by_agent');
  await event('call.released', 'call-b3');
  assert.deepEqual(await page.evaluate(() => window.errors.filter((e) => !/not sharing a screen/.test(e))), []);
  await page.evaluate(() => window.srs.logout());
  await page.close();
});

test('a tab closed mid-call: its spooled segments upload at the next login and the recording ends partial with the gap', async () => {
  const page = await browserPage();
  await page.evaluate(() => window.srs.login({ username: 'agent1', password: 'pw1' }));
  await event('recording.started', 'call-b4');
  await waitFor('a fragment uploaded', async () => (await segmentsSent(page)) >= 2, 15000);
  const sentBefore = await segmentsSent(page);
  // RWS becomes unreachable for uploads: segments stay in OPFS.
  await page.route('**/api/v2/srs/uploads/**', (route) => route.abort());
  await waitFor('3 segments spooled, unsent', () => page.evaluate(() => {
    const m = window.srs._active.uploader.m;
    return m.segments.length - m.sent >= 3;
  }), 40000);
  const spooled = await page.evaluate(() => {
    const m = window.srs._active.uploader.m;
    return { id: m.recordingId, segments: m.segments.length, endMs: m.segments.at(-1).end_ms };
  });
  assert.equal(await segmentsSent(page), sentBefore, 'nothing reached RWS while blocked');
  await page.close(); // the tab is gone, mid-call
  await event('call.released', 'call-b4');
  const releasedAt = new Date();
  assert.notEqual((await recordingOf('call-b4')).screenRecordings[0].state, 'partial');

  // The agent opens the desktop again and logs in: the spool is sent.
  const again = await browserPage();
  await again.evaluate(() => window.srs.login({ username: 'agent1', password: 'pw1', share: false }));
  const rec = await waitFor('partial on RWS', async () => {
    const j = await recordingOf('call-b4');
    return j?.screenRecordings?.[0]?.state === 'partial' && j;
  }, 30000);
  const screen = rec.screenRecordings[0];
  assert.equal(screen.id ?? spooled.id, spooled.id);
  assert.equal(screen.reason, 'srs_restarted');
  // The gap: the recording stops where the spool stops, before the call ended.
  assert.ok(Date.parse(screen.stopTime) < releasedAt.getTime(), `${screen.stopTime} before ${releasedAt.toISOString()}`);
  const media = rec.mediaFiles[0];
  assert.equal(Number(media.duration), spooled.endMs, 'every spooled segment reached RWS');
  const played = await fetch(`${product.rwsUrl}${media.mediaUri}`, { headers: admin });
  const file = path.join(work, 'call-b4.mp4');
  writeFileSync(file, Buffer.from(await played.arrayBuffer()));
  const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'json', file]).toString());
  assert.ok(Math.abs(Number(probe.format.duration) * 1000 - spooled.endMs) < 1000, `plays ${probe.format.duration} s of ${spooled.endMs} ms`);
  const red = pixel(file, 1.0, scene.geometry.x + 20, scene.geometry.y + 20, 1280);
  assert.ok(near(red, [255, 0, 0]), `the red window: ${red}`);
  // The spool is empty afterwards.
  await waitFor('the spool is empty', () => again.evaluate(async () => (await window.srs._spool.list()).length === 0), 10000);
  await again.evaluate(() => window.srs.logout());
  await again.close();
});

/** A raw WebSocket handshake to the control channel; resolves to {status, body} (101: upgraded). */
function handshake(headers) {
  return new Promise((resolve, reject) => {
    const u = new URL(`${product.rwsUrl}/api/v2/srs/control`);
    const req = httpRequest({
      host: u.hostname, port: u.port, path: u.pathname,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers },
    });
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve({ status: res.statusCode, body: '' }); });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Opens a browser-kind session for `user` from node; returns RWS's answer. */
async function openSession(user, password, extra = {}) {
  const r = await fetch(`${product.rwsUrl}/api/v2/srs/sessions`, {
    method: 'POST',
    headers: { Authorization: basic(user, password), 'Content-Type': 'application/json' },
    body: JSON.stringify({ srs_version: 'test', kind: 'browser', ...extra }),
  });
  return { status: r.status, body: await r.json() };
}

test('hostile pages and agents: a foreign origin gets no control channel; agent2 cannot touch agent1\'s recording or place', async () => {
  // Rule: the page's Origin is checked before the upgrade, even with a valid token.
  const s = await openSession('agent1', 'pw1');
  assert.equal(s.status, 201, JSON.stringify(s.body));
  const protocols = `screenrec-control.v1, screenrec-token.${s.body.token}`;
  const foreign = await handshake({ Origin: 'http://evil.example', 'Sec-WebSocket-Protocol': protocols });
  assert.equal(foreign.status, 403);
  assert.equal(JSON.parse(foreign.body).statusCode, 3, foreign.body);
  assert.match(JSON.parse(foreign.body).statusMessage, /allowed_origins/);
  // The same token from the allowed origin upgrades (so the 403 was the origin).
  assert.equal((await handshake({ Origin: product.rwsUrl, 'Sec-WebSocket-Protocol': protocols })).status, 101);
  // A real page on another origin: its WebSocket never opens, and the session never connects.
  const s2 = await openSession('agent1', 'pw1');
  const elsewhere = await serveWebElsewhere();
  const evil = await agentContext.newPage();
  await evil.goto(`${elsewhere.url}/desktop/`);
  const outcome = await evil.evaluate(({ url, token }) => new Promise((resolve) => {
    const ws = new WebSocket(url, ['screenrec-control.v1', `screenrec-token.${token}`]);
    ws.onopen = () => resolve('open');
    ws.onclose = () => resolve('closed');
  }), { url: s2.body.control_url, token: s2.body.token });
  assert.equal(outcome, 'closed');
  const state = (await product.sessions()).find((x) => x.session_id === s2.body.session_id)?.state;
  assert.equal(state, 'opened', 'the foreign page never connected the session');
  await evil.close();
  await elsewhere.close();
  // The page that is allowed takes the place back (same user: hot seating replaces those sessions).
  const page1 = await browserPage();
  await page1.evaluate(() => window.srs.login({ username: 'agent1', password: 'pw1' }));
  assert.deepEqual((await product.sessions()).filter((x) => x.user === 'agent1').map((x) => x.kind), ['browser']);

  // One live session per place: agent2 cannot claim agent1's place.
  const claim = await openSession('agent2', 'pw2', { place: 'Place_1001' });
  assert.equal(claim.status, 409);
  assert.match(claim.body.statusMessage, /held by user 'agent1'/);

  // agent2 records nothing of agent1's: forged status frames on its own channel change nothing.
  const page2 = await browserPage();
  await page2.evaluate(() => window.srs.login({ username: 'agent2', password: 'pw2', share: false }));
  await event('recording.started', 'call-b5');
  const id = await waitFor('agent1 recording', async () => {
    const r = (await recordingOf('call-b5'))?.screenRecordings?.[0];
    return r?.state === 'recording' && r.id;
  }, 10000);
  await page2.evaluate((rid) => {
    const at = new Date().toISOString();
    for (const state of ['paused', 'stopped', 'failed']) {
      window.srs._ws.send(JSON.stringify({ type: 'status', recording_id: rid, state, reason: 'stopped_by_agent', at, bytes_spooled: 0 }));
    }
    window.srs._ws.send(JSON.stringify({ type: 'heartbeat' }));
  }, id);
  // agent2's session token is no upload token for agent1's recording either.
  const end = await fetch(`${product.rwsUrl}/api/v2/srs/recordings/${id}/end`, {
    method: 'PUT',
    headers: { Authorization: `Bearer ${await page2.evaluate(() => window.srs.session.token)}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ reason: 'stopped_by_agent', interrupted: true, stopped_at: new Date().toISOString(), media_files: 1, marks: [] }),
  });
  assert.equal(end.status, 401);
  await waitFor('agent1 still uploading', async () => (await segmentsSent(page1)) >= 2, 15000);
  const r5 = (await recordingOf('call-b5')).screenRecordings[0];
  assert.equal(r5.state, 'recording', 'the forged frames changed nothing');
  assert.deepEqual(r5.marks, [], 'no forged pause mark');
  assert.match(product.logs(), /status for a recording this session does not own; refused/);
  await event('call.released', 'call-b5');
  await waitFor('completed', async () => (await recordingOf('call-b5'))?.screenRecordings?.[0]?.state === 'completed', 10000);
  await page2.evaluate(() => window.srs.logout());
  // Hot seating: agent1 logs in elsewhere; this tab is told bye, acks it and lets the screen go.
  const elsewhereLogin = await openSession('agent1', 'pw1');
  assert.equal(elsewhereLogin.status, 201);
  await page1.waitForFunction(() => window.srs.state === 'loggedOut' && window.srs.stream === null, null, { timeout: 10000 });
  await waitFor('only the new session', async () => {
    const mine = (await product.sessions()).filter((x) => x.user === 'agent1');
    return mine.length === 1 && mine[0].session_id === elsewhereLogin.body.session_id;
  }, 10000);
  await page1.close();
  await page2.close();
});

test('the demo desktop\'s "Record in this browser": one click logs in and shares; the indicator follows the call', async () => {
  const page = await agentContext.newPage();
  await page.goto(`${product.rwsUrl}/desktop/`);
  await page.check('#in-browser');
  await page.fill('#username', 'agent1');
  await page.fill('#password', 'pw1');
  await page.click('#login-button');
  await page.waitForSelector('[data-testid=recording][data-state=idle]', { timeout: 10000 });
  assert.equal((await product.sessions()).find((s) => s.user === 'agent1')?.kind, 'browser');
  await event('recording.started', 'call-b6');
  await page.waitForSelector('[data-testid=recording][data-state=recording]', { timeout: 10000 });
  await page.click('#pci');
  await page.waitForSelector('[data-testid=recording][data-state=paused]', { timeout: 5000 });
  assert.match(await page.textContent('[data-testid=recording]'), /Paused \(card details\)/);
  await page.click('#pci');
  await page.waitForSelector('[data-testid=recording][data-state=recording]', { timeout: 5000 });
  await event('call.released', 'call-b6');
  await page.waitForSelector('[data-testid=recording][data-state=idle]', { timeout: 5000 });
  await waitFor('completed', async () => (await recordingOf('call-b6'))?.screenRecordings?.[0]?.state === 'completed', 10000);
  // Stop sharing shows on the desktop, with a button to share again.
  await stopSharing(page, () => document.querySelector('[data-testid=recording]')?.dataset.state === 'stopped_by_agent');
  assert.equal(await page.isVisible('#share'), true);
  await page.click('#share');
  await page.waitForSelector('[data-testid=recording][data-state=idle]', { timeout: 5000 });
  assert.equal(await page.isHidden('#share'), true);
  await page.click('#logout');
  await page.waitForSelector('[data-testid=state].loggedOut');
  await page.close();
});

test('a call that starts while the agent is still in the screen picker is recorded once the screen is shared', async () => {
  const page = await browserPage();
  // The picker stays open until the test "picks" (a real agent may take seconds).
  await page.evaluate(() => {
    const pick = window.srs._getDisplayMedia;
    const picked = new Promise((r) => { window.pickScreen = r; });
    window.srs._getDisplayMedia = async (c) => { await picked; return pick(c); };
    window.loggingIn = window.srs.login({ username: 'agent1', password: 'pw1' });
  });
  await page.waitForFunction(() => window.srs.state === 'connected', null, { timeout: 10000 });
  await event('recording.started', 'call-b8');
  // The start has reached the page (it is being applied) while nothing is shared yet.
  await page.waitForFunction(() => window.srs._lastSeq > 0, null, { timeout: 10000 });
  assert.equal(await page.evaluate(() => window.srs.stream), null);
  await page.evaluate(() => window.pickScreen());
  await page.waitForFunction(() => window.notices.some((n) => n.state === 'recording'), null, { timeout: 10000 });
  await waitFor('RWS recording', async () => (await recordingOf('call-b8'))?.screenRecordings?.[0]?.state === 'recording', 10000);
  await waitFor('1 s of screen', async () => (await mediaMs(page)) > 1000, 10000);
  await event('call.released', 'call-b8');
  const rec = await waitFor('completed', async () => {
    const j = await recordingOf('call-b8');
    return j?.screenRecordings?.[0]?.state === 'completed' && j;
  }, 10000);
  assert.equal(rec.mediaFiles.length, 1, JSON.stringify(rec));
  assert.deepEqual(await page.evaluate(() => window.errors), []);
  assert.deepEqual(await page.evaluate(() => window.notices.map((n) => n.state)), ['idle', 'recording', 'idle']);
  await page.evaluate(() => window.srs.logout());
  await page.close();
});

test('screenrec demo --record-in-browser prints the desktop URL; a tab there records the demo calls', async () => {
  const dir = path.join(work, 'demo');
  const rwsPort = await freePort();
  const srsPort = await freePort();
  const env = { ...process.env };
  delete env.DISPLAY; // the demo's own SRS stays idle on its synthetic source
  const demo = spawn(bin, ['demo', '--record-in-browser', '--data-dir', dir, '--rws-listen', `127.0.0.1:${rwsPort}`,
    '--srs-listen', `127.0.0.1:${srsPort}`, '--every', '8s', '--call-length', '4s'], { env });
  const output = [];
  demo.stdout.on('data', (d) => output.push(d));
  demo.stderr.on('data', (d) => output.push(d));
  try {
    const banner = await waitFor('demo banner', () => {
      const text = Buffer.concat(output).toString();
      return text.includes('screenrec demo is running') && text;
    }, 30000);
    const url = /open (http:\/\/\S+\/desktop\/\?recorder=browser) in Chrome or Edge, log in as agent1 \/ agent1-demo/.exec(banner)?.[1];
    assert.ok(url, banner);
    const page = await agentContext.newPage();
    await page.goto(url);
    assert.equal(await page.isChecked('#in-browser'), true, '?recorder=browser ticks the option');
    await page.fill('#username', 'agent1');
    await page.fill('#password', 'agent1-demo');
    await page.click('#login-button');
    await page.waitForSelector('[data-testid=recording][data-state=idle]', { timeout: 10000 });
    // The next demo call is recorded in this tab, and completes on the demo's RWS.
    await page.waitForSelector('[data-testid=recording][data-state=recording]', { timeout: 20000 });
    await page.waitForSelector('[data-testid=recording][data-state=idle]', { timeout: 15000 });
    const demoAdmin = { Authorization: basic('admin', 'admin-demo') };
    const done = await waitFor('a completed demo recording', async () => {
      const r = await fetch(`http://127.0.0.1:${rwsPort}/api/v2/recordings?state=completed`, { headers: demoAdmin });
      const list = r.ok ? (await r.json()).recordings : [];
      return list.length > 0 && list;
    }, 10000);
    assert.equal(done[0].agentId, 'agent1');
    const sessions = await (await fetch(`http://127.0.0.1:${rwsPort}/api/v2/srs/sessions`, { headers: demoAdmin })).json();
    assert.deepEqual(sessions.sessions.map((x) => [x.user, x.kind]), [['agent1', 'browser']], 'the demo left agent1 to the browser');
    await page.click('#logout');
    await page.close();
  } finally {
    demo.kill('SIGKILL');
  }
});

test('a desktop on another allowed origin loads the module from RWS and records (CORS); a foreign one cannot load it', async () => {
  const page = await agentContext.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${desk.url}/desktop/`);
  await page.evaluate(async (server) => {
    const { BrowserSrs } = await import(`${server}/srs-browser.js`);
    window.notices = [];
    window.srs = new BrowserSrs({ server });
    window.srs.addEventListener('recordingchange', (e) => window.notices.push(e.detail.state));
    await window.srs.login({ username: 'agent2', password: 'pw2' });
  }, product.rwsUrl);
  assert.equal((await product.sessions()).find((s) => s.user === 'agent2')?.kind, 'browser');
  await event('recording.started', 'call-b7', '2001');
  await page.waitForFunction(() => window.notices.includes('recording'), null, { timeout: 10000 });
  await waitFor('a fragment', () => page.evaluate(() => (window.srs._active?.recorder.mediaMs ?? 0) > 2500), 15000);
  await event('call.released', 'call-b7', '2001');
  const rec = await waitFor('completed', async () => {
    const j = await recordingOf('call-b7');
    return j?.screenRecordings?.[0]?.state === 'completed' && j;
  }, 10000);
  assert.equal(rec.screenRecordings[0].agentId, 'agent2');
  assert.ok(Number(rec.mediaFiles[0].size) > 0);
  await page.evaluate(() => window.srs.logout());
  assert.deepEqual(errors, []);
  await page.close();

  // A page on an origin the directory does not list gets no CORS answer: the import fails.
  const foreign = await serveWebElsewhere();
  const evil = await agentContext.newPage();
  await evil.goto(`${foreign.url}/desktop/`);
  const loaded = await evil.evaluate((server) => import(`${server}/srs-browser.js`).then(() => 'loaded', (e) => `refused: ${e.message}`), product.rwsUrl);
  assert.match(loaded, /^refused/);
  const opened = await evil.evaluate((server) => fetch(`${server}/api/v2/srs/sessions`, {
    method: 'POST', headers: { Authorization: 'Basic ' + btoa('agent2:pw2'), 'Content-Type': 'application/json' }, body: '{"srs_version":"x"}',
  }).then((r) => `read ${r.status}`, (e) => `refused: ${e.message}`), product.rwsUrl);
  assert.match(opened, /^refused/);
  assert.equal((await product.sessions()).some((s) => s.user === 'agent2'), false, 'the pre-flight failed: no session was opened');
  await evil.close();
  await foreign.close();
});
