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
