// Unit tests of the browser recorder's uploader (web/srs-browser/upload.js) and
// spool (in memory here: node has no OPFS) against a scripted tus server: the
// requests it sends, the resumption after a lost answer, and giving up on a
// recording RWS will never take. The real RWS is in browser-srs.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Uploader } from '../../web/srs-browser/upload.js';
import { Spool, namespaceOf } from '../../web/srs-browser/spool.js';

const RID = '0b7c1b9e-6a41-4a0e-9d1e-7d7f2b0c1a11';

function manifest() {
  return {
    recordingId: RID, server: 'http://rws.test', uploadUrl: 'http://rws.test/api/v2/srs/uploads', uploadToken: 'tok',
    startedAt: '2026-11-30T06:00:00.000Z', monitor: { name: 'screen', x: 0, y: 0, width: 8, height: 8, primary: true },
    location: null, offset: 0, segments: [], sent: 0, stopped: false, reason: null, stoppedAt: null, interrupted: false, marks: [], lengthSent: false,
  };
}

/** A tus server in a function: `script(req)` may answer first; otherwise it behaves. */
function server(script = () => null) {
  const s = { offset: 0, length: null, body: [], requests: [] };
  s.fetch = async (url, init = {}) => {
    const req = { url, method: init.method ?? 'GET', headers: init.headers ?? {}, body: init.body ? Buffer.from(init.body) : null };
    s.requests.push(req);
    const scripted = script(req, s);
    if (scripted) return scripted;
    if (req.method === 'POST') return new Response(null, { status: 201, headers: { Location: '/api/v2/srs/uploads/u1' } });
    if (req.method === 'HEAD') return new Response(null, { status: 200, headers: { 'Upload-Offset': String(s.offset) } });
    if (req.method === 'PATCH') {
      if (Number(req.headers['Upload-Offset']) !== s.offset) return new Response('offset', { status: 409 });
      if (req.body) {
        s.body.push(req.body);
        s.offset += req.body.length;
      }
      if (req.headers['Upload-Length']) s.length = Number(req.headers['Upload-Length']);
      return new Response(null, { status: 204, headers: { 'Upload-Offset': String(s.offset) } });
    }
    if (req.method === 'PUT') return Response.json({ id: RID, state: 'completed' });
    return new Response(null, { status: 404 });
  };
  return s;
}

async function uploader(srv, onDone = () => {}, onError = () => {}) {
  const spool = await Spool.open(await namespaceOf('http://rws.test', 'agent1'));
  const m = manifest();
  const rec = await spool.create(m);
  return { spool, u: new Uploader({ rec, manifest: m, fetch: srv.fetch, onDone, onError }) };
}

const seg = (n, len) => Buffer.alloc(len, n);

test('segments go up with the segments header and a checksum; the end closes the upload and empties the spool', async () => {
  const srv = server();
  let done = null;
  const { spool, u } = await uploader(srv, (r) => { done = r; });
  await u.add(seg(1, 100), 60, 0);
  await u.add(seg(2, 50), 30, 4000);
  await u.kick();
  const [create, patch] = srv.requests;
  assert.equal(create.method, 'POST');
  assert.equal(create.headers['Upload-Defer-Length'], '1');
  assert.equal(create.headers.Authorization, 'Bearer tok');
  const md = Object.fromEntries(create.headers['Upload-Metadata'].split(',').map((kv) => {
    const [k, v] = kv.split(' ');
    return [k, Buffer.from(v, 'base64').toString()];
  }));
  assert.deepEqual(md, { recording_id: RID, stream: '0', monitor: JSON.stringify(manifest().monitor), started_at: '2026-11-30T06:00:00.000Z', filetype: 'video/mp4+age' });
  assert.equal(patch.url, 'http://rws.test/api/v2/srs/uploads/u1');
  assert.equal(patch.headers['screenrec-segments'], '100:60:0,50:30:4000');
  assert.equal(patch.headers['Upload-Checksum'], `sha256 ${createHash('sha256').update(patch.body).digest('base64')}`);
  assert.equal(u.backlog, 0);

  await u.finish({ reason: 'call_released', stoppedAt: '2026-11-30T06:00:05.000Z', marks: [] });
  assert.equal(srv.length, 150);
  const end = srv.requests.at(-1);
  assert.equal(end.method, 'PUT');
  assert.equal(end.url, `http://rws.test/api/v2/srs/recordings/${RID}/end`);
  assert.deepEqual(JSON.parse(end.body.toString()), { reason: 'call_released', interrupted: false, stopped_at: '2026-11-30T06:00:05.000Z', media_files: 1, marks: [] });
  assert.deepEqual(done, { state: 'completed' });
  assert.deepEqual(await spool.list(), []);
});

test('an answer lost after RWS stored a PATCH: 409, HEAD, and only the rest is sent', async () => {
  let lost = true;
  const srv = server((req, s) => {
    // RWS stores the first PATCH, but its answer never arrives.
    if (req.method === 'PATCH' && lost) {
      lost = false;
      s.body.push(req.body.subarray(0, 100));
      s.offset = 100;
      throw new TypeError('network error');
    }
    return null;
  });
  const { u } = await uploader(srv);
  await u.add(seg(1, 100), 60, 0);
  // The first attempt fails on the network; the uploader retries after its back-off.
  await u.kick();
  await u.add(seg(2, 40), 20, 4000);
  await u.kick();
  const patches = srv.requests.filter((r) => r.method === 'PATCH');
  assert.ok(srv.requests.some((r) => r.method === 'HEAD'), 'asked RWS for its offset');
  assert.equal(patches.at(-1).headers['screenrec-segments'], '40:20:4000', 'segment 0 is not sent twice');
  assert.equal(srv.offset, 140);
  assert.deepEqual(Buffer.concat(srv.body), Buffer.concat([seg(1, 100), seg(2, 40)]));
});

test('RWS will never take it (410): the spool forgets the recording and the error is reported', async () => {
  const srv = server((req) => (req.method === 'PATCH' ? new Response('recording r is failed: the upload is closed', { status: 410 }) : null));
  const errors = [];
  let done = null;
  const { spool, u } = await uploader(srv, (r) => { done = r; }, (e) => errors.push(e.message));
  await u.add(seg(1, 10), 5, 0);
  await u.kick();
  assert.match(errors[0], /HTTP 410 recording r is failed/);
  assert.match(done.error, /410/);
  assert.deepEqual(await spool.list(), []);
});

test('with the plaintext hashes, each PATCH carries screenrec-segment-hashes (plain:cipher hex, one pair per segment)', async () => {
  const srv = server();
  const { u } = await uploader(srv);
  const plain = 'ab'.repeat(32);
  await u.add(seg(3, 100), 60, 0, plain);
  await u.add(seg(4, 50), 30, 4000, plain);
  await u.kick();
  const patches = srv.requests.filter((r) => r.method === 'PATCH');
  const hex = (b) => createHash('sha256').update(b).digest('hex');
  const sent = patches.map((p) => p.headers['screenrec-segment-hashes']).join(',');
  assert.equal(sent, `${plain}:${hex(seg(3, 100))},${plain}:${hex(seg(4, 50))}`);
  // Without them (an old spool), no claim is sent at all.
  const srv2 = server();
  const { u: u2 } = await uploader(srv2);
  await u2.add(seg(5, 10), 5, 0);
  await u2.kick();
  assert.equal(srv2.requests.find((r) => r.method === 'PATCH').headers['screenrec-segment-hashes'], undefined);
});
