// The upload endpoint against an independent tus 1.0 client (tus-js-client):
// chunked upload, abort and resume from the server's offset, termination; the
// extensions advertised; the protocol errors (412, 415, 409, 460). The bytes
// uploaded are age streams made by the independent `age` CLI, and RWS plays
// their plaintext back — so storage, indexing and decryption are checked too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import * as tus from 'tus-js-client';
import { startProduct, waitFor, bin } from './harness.mjs';

const TOKEN = 'tus-test-integration-token';
let product;

before(async () => {
  product = await startProduct({
    rwsArgs: ['--integration-token', TOKEN],
    srsArgs: ['--source', 'synthetic:320x240'],
  });
});

after(async () => {
  await product?.stop();
});

const basic = (u, p) => 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64');

async function event(type) {
  const r = await fetch(`${product.rwsUrl}/api/v2/events`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ id: `tus-${type}`, type, call_id: 'c-tus', dn: '1001', switch: 'SIP_Switch', timestamp: new Date().toISOString() }),
  });
  assert.equal(r.status, 200, await r.text());
}

function upload(data, options) {
  return new Promise((resolve, reject) => {
    const u = new tus.Upload(data, {
      retryDelays: null,
      ...options,
      onSuccess: () => resolve(u),
      onError: reject,
    });
    if (options.start !== false) u.start();
  });
}

test('tus-js-client uploads, resumes and terminates; RWS stores and decrypts what it sent', async () => {
  // A recording in progress gives an upload token (SRS keeps it in its spool manifest).
  const login = await fetch(`${product.srsUrl}/api/v2/me`, { headers: { Authorization: basic('agent1', 'pw1') } });
  assert.equal(login.status, 200);
  await event('recording.started');
  const manifest = await waitFor('a spooled recording', () => {
    const root = path.join(product.dir, 'spool', 'rec');
    if (!existsSync(root)) return null;
    const d = readdirSync(root)[0];
    return d && existsSync(path.join(root, d, 'recording.json')) && JSON.parse(readFileSync(path.join(root, d, 'recording.json')));
  });
  const endpoint = `${product.rwsUrl}/api/v2/srs/uploads`;
  const auth = { Authorization: `Bearer ${manifest.upload_token}` };

  // What the server says it supports.
  const opts = await fetch(endpoint, { method: 'OPTIONS' });
  assert.equal(opts.status, 204);
  assert.equal(opts.headers.get('tus-version'), '1.0.0');
  for (const ext of ['creation', 'creation-defer-length', 'termination', 'checksum']) {
    assert.ok(opts.headers.get('tus-extension').split(',').includes(ext), ext);
  }
  assert.ok(opts.headers.get('tus-checksum-algorithm').split(',').includes('sha1'));

  // Three segments, each its own age stream made by the age CLI.
  const keys = execFileSync(bin, ['rws', 'keys', 'list', '--data-dir', path.join(product.dir, 'rws')]).toString();
  const recipient = keys.match(/age1[0-9a-z]+/)[0];
  const parts = ['first segment|', 'second segment|', 'third and last segment'];
  const cipher = Buffer.concat(parts.map((p) => execFileSync('age', ['-r', recipient], { input: p })));
  const plain = parts.join('');

  // Chunked upload, aborted after two chunks…
  let chunks = 0;
  let first;
  await new Promise((resolve, reject) => {
    first = new tus.Upload(cipher, {
      endpoint, headers: auth, chunkSize: 100, retryDelays: null,
      metadata: { recording_id: manifest.recording_id, stream: '5', filetype: 'video/mp4+age' },
      onChunkComplete: () => {
        chunks += 1;
        if (chunks === 2) first.abort().then(resolve, reject);
      },
      onError: reject,
      onSuccess: () => reject(new Error('should have been aborted')),
    });
    first.start();
  });
  const url = first.url;
  assert.ok(url, 'creation gave a Location');
  const head = await fetch(url, { method: 'HEAD', headers: { ...auth, 'Tus-Resumable': '1.0.0' } });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('upload-offset'), '200');
  assert.equal(head.headers.get('upload-length'), String(cipher.length));
  assert.equal(head.headers.get('cache-control'), 'no-store');
  // …then resumed by a new client from the server's offset.
  let resumedFrom = null;
  await upload(cipher, {
    uploadUrl: url, headers: auth, chunkSize: 100,
    onProgress: (sent) => { if (resumedFrom === null) resumedFrom = sent; },
  });
  assert.ok(resumedFrom >= 200, `resumed from ${resumedFrom}`);
  const done = await fetch(url, { method: 'HEAD', headers: { ...auth, 'Tus-Resumable': '1.0.0' } });
  assert.equal(done.headers.get('upload-offset'), String(cipher.length));

  // Protocol errors, each with its status and nothing written.
  const other = await upload(Buffer.from('x'.repeat(50)), {
    endpoint, headers: auth, chunkSize: 10, metadata: { recording_id: manifest.recording_id, stream: '6' },
    start: true,
  }).catch((e) => e);
  assert.ok(other instanceof tus.Upload, String(other));
  const create = await fetch(endpoint, { method: 'POST', headers: { ...auth, 'Tus-Resumable': '1.0.0', 'Upload-Defer-Length': '1', 'Upload-Metadata': `recording_id ${Buffer.from(manifest.recording_id).toString('base64')},stream ${Buffer.from('8').toString('base64')}` } });
  assert.equal(create.status, 201);
  const eight = new URL(create.headers.get('location'), endpoint).href;
  const patch = (headers, body = 'abc') => fetch(eight, { method: 'PATCH', headers: { ...auth, 'Content-Type': 'application/offset+octet-stream', 'Tus-Resumable': '1.0.0', 'Upload-Offset': '0', ...headers }, body });
  const noVersion = await fetch(eight, { method: 'PATCH', headers: { ...auth, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0' }, body: 'abc' });
  assert.equal(noVersion.status, 412);
  assert.equal(noVersion.headers.get('tus-version'), '1.0.0');
  assert.equal((await patch({ 'Content-Type': 'text/plain' })).status, 415);
  assert.equal((await patch({ 'Upload-Offset': '7' })).status, 409);
  const sha1 = (s) => execFileSync('sh', ['-c', 'openssl dgst -sha1 -binary | base64'], { input: s }).toString().trim();
  assert.equal((await patch({ 'Upload-Checksum': `sha1 ${sha1('xyz')}` })).status, 460);
  assert.equal((await patch({ 'Upload-Checksum': `md5 ${sha1('abc')}` })).status, 400);
  const good = await patch({ 'Upload-Checksum': `sha1 ${sha1('abc')}` });
  assert.equal(good.status, 204);
  assert.equal(good.headers.get('upload-offset'), '3');
  assert.equal(good.headers.get('upload-defer-length'), '1');
  // Termination: the upload is gone.
  await tus.Upload.terminate(eight, { headers: auth });
  assert.equal((await fetch(eight, { method: 'HEAD', headers: { ...auth, 'Tus-Resumable': '1.0.0' } })).status, 404);
  await tus.Upload.terminate(other.url, { headers: auth });
  // A wrong token opens nothing.
  assert.equal((await fetch(url, { method: 'HEAD', headers: { Authorization: 'Bearer nope', 'Tus-Resumable': '1.0.0' } })).status, 401);

  // The call ends: the recording completes with SRS's stream and ours.
  await event('call.released');
  const admin = { Authorization: basic('admin', 'adminpw') };
  const res = await waitFor('recording completed', async () => {
    const r = await fetch(`${product.rwsUrl}/api/v2/recordings/c-tus`, { headers: admin });
    const j = r.ok && (await r.json());
    return j && j.screenRecordings[0].state === 'completed' && j;
  });
  const ours = res.mediaFiles.find((m) => m.parameters.stream === '5');
  assert.ok(ours, JSON.stringify(res));
  assert.equal(ours.size, String(Buffer.byteLength(plain)));
  assert.equal(res.mediaFiles.length, 2, 'terminated uploads are not part of the recording');
  const played = await fetch(`${product.rwsUrl}${ours.mediaUri}`, { headers: admin });
  assert.equal(await played.text(), plain);
  const ranged = await fetch(`${product.rwsUrl}${ours.mediaUri}`, { headers: { ...admin, Range: 'bytes=10-30' } });
  assert.equal(ranged.status, 206);
  assert.equal(await ranged.text(), plain.slice(10, 31));
});
