// upload.js — the browser recorder's uploader: tus 1.0 to RWS's
// /api/v2/srs/uploads, exactly as the native SRS does it (docs/srs.md):
// creation with Upload-Defer-Length and the same Upload-Metadata, PATCH
// bodies of whole encrypted segments with the `screenrec-segments` header
// (cipher_len:plain_len:end_ms,…), their SHA-256s in `screenrec-segment-hashes`
// (plain:cipher hex, for the signed evidence manifest) and a sha256 Upload-Checksum, HEAD to
// find the offset again, a final empty PATCH with Upload-Length, then
// PUT /api/v2/srs/recordings/{id}/end.
//
// Our own small client rather than tus-js-client: that library uploads one
// Blob or stream of known bytes with one set of headers, while here each
// PATCH carries its own segments header and the bytes are segments that
// arrive while the call goes on. tests/browser/tus-conformance.test.mjs
// checks RWS against tus-js-client itself.
//
// A segment leaves the spool only when RWS has confirmed it (its PATCH
// answered 204 with an Upload-Offset past it); the manifest is saved after
// every step, so a closed tab resumes at the next login where it stopped.

/** Bytes per PATCH at most (RWS accepts more; smaller bodies retry cheaper). */
const MAX_BODY = 8 << 20;

const b64 = (s) => btoa(String.fromCharCode(...new TextEncoder().encode(s)));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** An answer that means RWS will never take this recording (token or recording gone). */
class Gone extends Error {}

/** Lowercase hex of a digest. */
const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');

async function sha256(bytes) {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return btoa(String.fromCharCode(...d));
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Uploads one recording from its spool folder.
 * The manifest (saved in the spool after each step) holds: recordingId,
 * server, uploadUrl (absolute), uploadToken, startedAt, monitor, location,
 * offset, segments [{cipher_len, plain_len, end_ms, plain_sha256}], sent (segments RWS
 * confirmed), stopped, reason, stoppedAt, interrupted, marks, lengthSent.
 */
export class Uploader {
  /**
   * @param {{rec: import('./spool.js').RecordingSpool, manifest: object, fetch: typeof fetch,
   *          onError?: (e: Error) => void, onDone?: (result: {state?: string, error?: string}) => void}} o
   */
  constructor({ rec, manifest, fetch, onError, onDone }) {
    this.rec = rec;
    this.m = manifest;
    this._fetch = fetch;
    this._onError = onError ?? (() => {});
    this._onDone = onDone ?? (() => {});
    this._running = null;
    this._again = false;
    this._closed = false;
    this.lastError = null;
  }

  /** Encrypted bytes RWS has not confirmed yet. */
  get backlog() {
    return this.m.segments.slice(this.m.sent).reduce((n, s) => n + s.cipher_len, 0);
  }

  /** Keeps a new encrypted segment (spool first, then the manifest) and sends it. */
  async add(cipher, plainLen, endMs, plainSha256) {
    if (this._closed) return; // RWS refused the recording for good, or logged out
    const n = this.m.segments.length;
    await this.rec.putSegment(n, cipher);
    this.m.segments.push({ cipher_len: cipher.length, plain_len: plainLen, end_ms: Math.max(0, Math.round(endMs)), ...(plainSha256 ? { plain_sha256: plainSha256 } : {}) });
    await this.rec.save(this.m);
    this.kick();
  }

  /** The recording is over: send the rest, close the upload, report the end. */
  async finish({ reason, interrupted = false, stoppedAt = new Date().toISOString(), marks = [] }) {
    this.m.stopped = true;
    this.m.reason = reason;
    this.m.interrupted = interrupted;
    this.m.stoppedAt = stoppedAt;
    this.m.marks = marks;
    await this.rec.save(this.m);
    return this.kick();
  }

  /** Stops retrying (logout); what is spooled stays for the next login. */
  close() {
    this._closed = true;
  }

  /** Runs the upload loop (one at a time); resolves when it is idle. */
  kick() {
    if (this._running) {
      this._again = true;
      return this._running;
    }
    this._running = (async () => {
      try {
        do {
          this._again = false;
          await this._drain();
        } while (this._again && !this._closed);
      } finally {
        this._running = null;
      }
    })();
    return this._running;
  }

  async _drain() {
    for (let delay = 500; !this._closed; delay = Math.min(delay * 2, 15000)) {
      try {
        await this._step();
        this.lastError = null;
        return;
      } catch (e) {
        if (e instanceof Gone) {
          // RWS will not take it (recording final, token unknown): nothing
          // to retry, and keeping it would resend it at every login.
          this.lastError = e.message;
          this._closed = true;
          this._onError(e);
          await this.rec.remove();
          this._onDone({ error: e.message });
          return;
        }
        this.lastError = e.message;
        this._onError(e);
        await sleep(delay);
      }
    }
  }

  _auth(extra = {}) {
    return { Authorization: `Bearer ${this.m.uploadToken}`, 'Tus-Resumable': '1.0.0', ...extra };
  }

  async _request(method, url, { headers, body } = {}) {
    const r = await this._fetch(url, { method, headers, body, credentials: 'omit' });
    if ([401, 403, 404, 410].includes(r.status)) {
      throw new Gone(`${method} ${new URL(url).pathname}: HTTP ${r.status} ${(await r.text()).slice(0, 200)}`);
    }
    return r;
  }

  async _step() {
    const m = this.m;
    if (!m.location) await this._create();
    while (m.sent < m.segments.length) {
      const first = m.sent;
      const parts = [];
      const header = [];
      const hashes = []; // screenrec-segment-hashes, when every segment has both
      let size = 0;
      for (let i = first; i < m.segments.length && (size === 0 || size + m.segments[i].cipher_len <= MAX_BODY); i++) {
        const bytes = await this.rec.getSegment(i);
        if (!bytes || bytes.length !== m.segments[i].cipher_len) throw new Error(`segment ${i} is missing from the spool`);
        parts.push(bytes);
        const s = m.segments[i];
        header.push(`${s.cipher_len}:${s.plain_len}:${s.end_ms}`);
        // The ciphertext's hash is taken from the spooled bytes as they are sent.
        if (s.plain_sha256) hashes.push(`${s.plain_sha256}:${hex(await crypto.subtle.digest('SHA-256', bytes))}`);
        size += s.cipher_len;
      }
      const body = concat(parts);
      const r = await this._request('PATCH', m.location, {
        headers: this._auth({
          'Content-Type': 'application/offset+octet-stream',
          'Upload-Offset': String(m.offset),
          'Upload-Checksum': `sha256 ${await sha256(body)}`,
          'screenrec-segments': header.join(','),
          ...(hashes.length === header.length ? { 'screenrec-segment-hashes': hashes.join(',') } : {}),
        }),
        body,
      });
      if (r.status === 409) {
        await this._resync();
        continue;
      }
      if (r.status !== 204) throw new Error(`PATCH: HTTP ${r.status} ${(await r.text()).slice(0, 200)}`);
      m.offset += size;
      m.sent = first + parts.length;
      await this.rec.save(m);
      for (let i = first; i < m.sent; i++) await this.rec.dropSegment(i);
    }
    if (!m.stopped) return;
    if (!m.lengthSent) {
      const r = await this._request('PATCH', m.location, {
        headers: this._auth({ 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(m.offset), 'Upload-Length': String(m.offset) }),
      });
      if (r.status !== 204) throw new Error(`final PATCH: HTTP ${r.status} ${(await r.text()).slice(0, 200)}`);
      m.lengthSent = true;
      await this.rec.save(m);
    }
    const url = new URL(`/api/v2/srs/recordings/${m.recordingId}/end`, m.uploadUrl).href;
    const r = await this._request('PUT', url, {
      headers: { Authorization: `Bearer ${m.uploadToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ reason: m.reason, interrupted: m.interrupted, stopped_at: m.stoppedAt, media_files: 1, marks: m.marks }),
    });
    if (!r.ok) throw new Error(`end: HTTP ${r.status} ${(await r.text()).slice(0, 200)}`);
    const answer = await r.json().catch(() => ({}));
    await this.rec.remove();
    this._onDone({ state: answer.state });
  }

  async _create() {
    const m = this.m;
    const metadata = [
      ['recording_id', m.recordingId],
      ['stream', '0'],
      ['monitor', JSON.stringify(m.monitor)],
      ['started_at', m.startedAt],
      ['filetype', 'video/mp4+age'],
    ].map(([k, v]) => `${k} ${b64(v)}`).join(',');
    const r = await this._request('POST', m.uploadUrl, {
      headers: this._auth({ 'Upload-Defer-Length': '1', 'Upload-Metadata': metadata }),
    });
    if (r.status !== 201) throw new Error(`create: HTTP ${r.status} ${(await r.text()).slice(0, 200)}`);
    const location = new URL(r.headers.get('Location') ?? '', m.uploadUrl);
    // The upload token goes only where the creation URL is.
    if (location.origin !== new URL(m.uploadUrl).origin) throw new Gone(`create: Location on another origin (${location.origin})`);
    m.location = location.href;
    await this.rec.save(m);
  }

  /** RWS's offset differs from ours (an answer was lost): find the segment boundary it is at. */
  async _resync() {
    const m = this.m;
    const r = await this._request('HEAD', m.location, { headers: this._auth() });
    const offset = Number(r.headers.get('Upload-Offset'));
    if (!r.ok || !Number.isSafeInteger(offset)) throw new Error(`HEAD: HTTP ${r.status}`);
    let at = 0;
    let n = 0;
    while (n < m.segments.length && at < offset) at += m.segments[n++].cipher_len;
    if (at !== offset) throw new Error(`RWS offset ${offset} is not on a segment boundary`);
    for (let i = m.sent; i < n; i++) await this.rec.dropSegment(i);
    m.offset = offset;
    m.sent = Math.max(m.sent, n);
    await this.rec.save(m);
  }
}
