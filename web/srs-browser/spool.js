// spool.js — the browser recorder's spool: encrypted segments kept in the
// Origin Private File System until RWS confirms them (issue 15, crash safety).
//
// Layout under the OPFS root: screenrec-spool/<namespace>/<recording id>/
//   manifest.json   what the uploader needs to resume (see RecordingSpool)
//   seg-<n>.age     one age stream per fMP4 segment (init, then fragments)
// The namespace separates RWS servers and users sharing one browser profile.
// Nothing here is plaintext: segments are encrypted before they are written.
// Without OPFS (an old browser, a non-secure page) the spool is in memory:
// recording still works, a closed tab then loses what was not yet sent.

const ROOT = 'screenrec-spool';

/** A short, file-name-safe namespace for (server, username). */
export async function namespaceOf(server, username) {
  const bytes = new TextEncoder().encode(`${server}\n${username}`);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest.slice(0, 12), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The spool of one (server, user). */
export class Spool {
  /** @param {FileSystemDirectoryHandle|null} dir null: in memory */
  constructor(dir) {
    this._dir = dir;
    /** @type {Map<string, Map<string, Uint8Array|string>>} in-memory recordings */
    this._mem = new Map();
  }

  /** Opens the spool in OPFS, or in memory when OPFS is not available. */
  static async open(namespace) {
    try {
      const root = await navigator.storage.getDirectory();
      const top = await root.getDirectoryHandle(ROOT, { create: true });
      return new Spool(await top.getDirectoryHandle(namespace, { create: true }));
    } catch {
      return new Spool(null);
    }
  }

  /** True when segments survive a closed tab. */
  get durable() {
    return this._dir !== null;
  }

  /** A new recording's folder with its first manifest. */
  async create(manifest) {
    const rec = await this._recording(manifest.recordingId, true);
    await rec.save(manifest);
    return rec;
  }

  /** Every recording left in the spool, with its manifest. */
  async list() {
    const out = [];
    if (!this._dir) {
      for (const id of this._mem.keys()) {
        const rec = await this._recording(id, false);
        const manifest = await rec.load();
        if (manifest) out.push({ rec, manifest });
      }
      return out;
    }
    for await (const [name, handle] of this._dir.entries()) {
      if (handle.kind !== 'directory') continue;
      const rec = new RecordingSpool(this, name, handle);
      const manifest = await rec.load();
      if (manifest) out.push({ rec, manifest });
      else await rec.remove(); // a folder whose manifest never got written holds nothing to send
    }
    return out;
  }

  async _recording(id, create) {
    if (!/^[0-9a-f-]{36}$/i.test(id)) throw new Error(`not a recording id: ${id}`);
    if (!this._dir) {
      if (!this._mem.has(id)) this._mem.set(id, new Map());
      return new RecordingSpool(this, id, null);
    }
    return new RecordingSpool(this, id, await this._dir.getDirectoryHandle(id, { create }));
  }
}

/** One recording's folder: its manifest and encrypted segments. */
export class RecordingSpool {
  constructor(spool, id, dir) {
    this._spool = spool;
    this.id = id;
    this._dir = dir;
  }

  async _write(name, data) {
    if (!this._dir) {
      this._spool._mem.get(this.id)?.set(name, data);
      return;
    }
    const file = await this._dir.getFileHandle(name, { create: true });
    const w = await file.createWritable();
    await w.write(data);
    await w.close();
  }

  async _read(name) {
    if (!this._dir) return this._spool._mem.get(this.id)?.get(name) ?? null;
    try {
      const file = await (await this._dir.getFileHandle(name)).getFile();
      return name.endsWith('.json') ? await file.text() : new Uint8Array(await file.arrayBuffer());
    } catch {
      return null;
    }
  }

  async _delete(name) {
    if (!this._dir) {
      this._spool._mem.get(this.id)?.delete(name);
      return;
    }
    try {
      await this._dir.removeEntry(name);
    } catch {
      // already gone
    }
  }

  /** Writes the manifest (after the segment files it names). */
  async save(manifest) {
    await this._write('manifest.json', JSON.stringify(manifest));
  }

  /** The manifest, or null. */
  async load() {
    const text = await this._read('manifest.json');
    if (!text) return null;
    try {
      return JSON.parse(text);
    } catch {
      return null;
    }
  }

  async putSegment(n, bytes) {
    await this._write(`seg-${n}.age`, bytes);
  }

  async getSegment(n) {
    return this._read(`seg-${n}.age`);
  }

  /** RWS confirmed segment n: it leaves the browser. */
  async dropSegment(n) {
    await this._delete(`seg-${n}.age`);
  }

  /** The recording is on RWS (or RWS refused it for good): forget it. */
  async remove() {
    if (!this._dir) {
      this._spool._mem.delete(this.id);
      return;
    }
    const parent = this._spool._dir;
    try {
      await parent.removeEntry(this.id, { recursive: true });
    } catch {
      // already gone
    }
  }
}
