// web/srs-client.js against a scripted fake fetch: the request shapes, CSRF,
// retry then 'stale', re-login after a 401, envelope errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SrsClient, SrsError } from '../../web/srs-client.js';

function fakeFetch(script) {
  const calls = [];
  const f = async (url, init) => {
    calls.push({ url, ...init, headers: { ...init.headers } });
    const next = script.shift();
    if (!next) throw new Error(`unexpected call ${init.method} ${url}`);
    if (next instanceof Error) throw next;
    const [status, body, headers = {}] = next;
    return new Response(body === undefined ? null : JSON.stringify(body), { status, headers });
  };
  return { f, calls };
}

const user = { userName: 'agent1', firstName: 'Ada', lastName: 'Agent' };

test('login posts the configuration with Basic credentials and asks for CSRF', async () => {
  const { f, calls } = fakeFetch([[200, { statusCode: 0, user }, { 'X-CSRF-Token': 'tok' }], [200, { statusCode: 0 }]]);
  const c = new SrsClient({ srsUrl: 'http://srs', fetch: f, pollIntervalMs: 1e9 });
  const states = [];
  c.addEventListener('state', (e) => states.push(e.detail.state));
  assert.deepEqual(await c.login({ username: 'agent1', password: 'p', server: 'http://rws', place: 'P', devices: [{ dn: '1', switch: 'S' }] }), user);
  assert.equal(calls[0].method, 'POST');
  assert.equal(calls[0].url, 'http://srs/api/v2/me');
  assert.equal(calls[0].headers.Authorization, 'Basic ' + btoa('agent1:p'));
  assert.equal(calls[0].headers['X-Support-CSRFP'], 'true');
  assert.deepEqual(JSON.parse(calls[0].body), [
    { name: 'server', value: 'http://rws' }, { name: 'place', value: 'P' }, { name: 'devices', value: [{ dn: '1', switch: 'S' }] },
  ]);
  assert.deepEqual(states, ['connecting', 'connected']);
  await c.logout();
  assert.equal(calls[1].headers['X-CSRF-Token'], 'tok');
  assert.deepEqual(JSON.parse(calls[1].body), { operationName: 'EndContactCenterSession' });
  assert.equal(c.state, 'loggedOut');
});

test('login with credentials only uses GET; errors carry the envelope', async () => {
  const { f, calls } = fakeFetch([[401, { statusCode: 20, statusMessage: 'invalid user name or password' }]]);
  const c = new SrsClient({ fetch: f });
  const errors = [];
  c.addEventListener('error', (e) => errors.push(e.detail.error));
  await assert.rejects(c.login({ username: 'a', password: 'b' }), (e) => e instanceof SrsError && e.status === 401 && e.statusCode === 20 && /invalid/.test(e.message));
  assert.equal(calls[0].method, 'GET');
  assert.equal(errors.length, 1);
  assert.equal(c.state, 'loggedOut');
});

test('a 401 on poll logs in again; network failures are retried, then stale', async () => {
  const { f, calls } = fakeFetch([
    [200, { statusCode: 0, user }],
    [401, { statusCode: 20 }], [200, { statusCode: 0, user }], // poll → 401 → re-login
    new TypeError('network'), new TypeError('network'), new TypeError('network'), // poll: 1 + 2 retries
    [200, { statusCode: 0 }], // logout
  ]);
  const c = new SrsClient({ fetch: f, pollIntervalMs: 1e9, retries: 2, retryDelayMs: 1 });
  const seen = [];
  for (const ev of ['connected', 'stale', 'error']) c.addEventListener(ev, () => seen.push(ev));
  await c.login({ username: 'a', password: 'b' });
  await c.poll();
  assert.equal(calls[2].url.endsWith('/api/v2/me'), true, 're-login after 401');
  assert.equal(c.state, 'connected');
  await c.poll();
  assert.equal(c.state, 'stale');
  assert.deepEqual(seen, ['connected', 'stale', 'connected', 'stale', 'error']);
  assert.equal(calls.length, 6);
  await c.logout(); // stops the poll timer too
  assert.equal(calls.length, 7);
  assert.equal(c.state, 'loggedOut');
});

test('pollRecording emits recordingchange only when the state changes; logout ends it', async () => {
  const since1 = '2026-01-01T10:00:00.000Z';
  const since2 = '2026-01-01T10:00:05.000Z';
  const { f, calls } = fakeFetch([
    [200, { statusCode: 0, user }, { 'X-CSRF-Token': 'tok' }],
    [200, { statusCode: 0, state: 'idle', since: since1 }],
    [200, { statusCode: 0, state: 'idle', since: since1 }], // unchanged: no event
    [200, { statusCode: 0, state: 'recording', since: since2, recordingId: 'r1', interactionId: 'c1' }],
    [200, { statusCode: 0, state: 'paused', since: since2, reason: 'desktop', recordingId: 'r1', interactionId: 'c1' }],
    [401, { statusCode: 20, statusMessage: 'no session' }], // quiet: /ping handles sessions
    [200, { statusCode: 0 }], // logout
  ]);
  const c = new SrsClient({ fetch: f, pollIntervalMs: 1e9, recordingPollMs: 1e9 });
  const seen = [];
  c.addEventListener('recordingchange', (e) => seen.push(e.detail));
  const errors = [];
  c.addEventListener('error', (e) => errors.push(e));
  await c.login({ username: 'agent1', password: 'p' });
  for (let i = 0; i < 5; i++) await c.pollRecording();
  assert.equal(calls[1].method, 'GET');
  assert.equal(calls[1].url, 'http://127.0.0.1:8086/api/v2/me/recording');
  assert.equal(calls[1].headers.Authorization, 'Basic ' + btoa('agent1:p'));
  assert.deepEqual(seen.map((n) => n.state), ['idle', 'recording', 'paused']);
  assert.deepEqual(seen[1], { state: 'recording', since: since2, recordingId: 'r1', interactionId: 'c1' });
  assert.equal(seen[2].reason, 'desktop');
  assert.equal(c.recording.state, 'paused', 'a failed poll keeps the last state');
  assert.equal(errors.length, 0);
  await c.logout();
  assert.equal(seen.at(-1).state, 'idle', 'logout ends the recording');
  assert.ok(!Number.isNaN(Date.parse(seen.at(-1).since)));
});

test('an SRS without the recording endpoint (404) is not asked again', async () => {
  const { f, calls } = fakeFetch([
    [200, { statusCode: 0, user }],
    [404, { statusCode: 1, statusMessage: 'no such endpoint' }],
  ]);
  const c = new SrsClient({ fetch: f, pollIntervalMs: 1e9, recordingPollMs: 1e9 });
  let events = 0;
  c.addEventListener('recordingchange', () => events++);
  await c.login({ username: 'a', password: 'b' });
  await c.pollRecording();
  await c.pollRecording();
  assert.equal(calls.length, 2);
  assert.equal(events, 0);
  assert.equal(c.recording, null);
  c._stopPolling();
});

test('the recording poll runs on its own timer after login', async () => {
  const { f, calls } = fakeFetch([
    [200, { statusCode: 0, user }],
    [200, { statusCode: 0, state: 'recording', since: '2026-01-01T10:00:00.000Z' }],
    [200, { statusCode: 0 }], // logout
  ]);
  const c = new SrsClient({ fetch: f, pollIntervalMs: 1e9, recordingPollMs: 20 });
  const got = new Promise((resolve) => c.addEventListener('recordingchange', (e) => resolve(e.detail)));
  await c.login({ username: 'a', password: 'b' });
  assert.equal((await got).state, 'recording');
  await c.logout();
  assert.equal(calls[1].url.endsWith('/api/v2/me/recording'), true);
});
