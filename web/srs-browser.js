// srs-browser.js — the screen recorder in the agent's browser (issue 15): an SRS
// that runs in the desktop page, for agents on Windows, macOS or ChromeOS with
// Chrome or Edge and nothing installed. Same shape as srs-client.js, so a
// desktop switches with one line:
//
//   import { BrowserSrs } from '/srs-browser.js';
//   const srs = new BrowserSrs({ server: 'https://rws.example.com' }); // default: location.origin
//   srs.addEventListener('recordingchange', (e) => e.detail.state);  // idle | recording | paused | stopped_by_agent
//   await srs.login({ username, password /*, place, devices */ });   // RWS session + control channel, then the screen
//   await srs.pause(); await srs.resume();                           // the PCI pause
//   await srs.logout();
//
// What it does, as the native SRS does (docs/browser-recorder.md):
// - opens an SRS session at RWS (POST /api/v2/srs/sessions, kind "browser") with
//   the agent's credentials (kept in this object's memory only, for re-login);
// - speaks the control channel (GET /api/v2/srs/control, WebSocket; the token in
//   the subprotocol list since a page cannot set Authorization), obeys
//   start/stop/pause/resume/config/bye with seq idempotence, acks each command,
//   reports status frames and heartbeats;
// - records the shared screen (recorder.js), keeps encrypted segments in OPFS
//   (spool.js) and uploads them with tus (upload.js); segments a closed tab left
//   behind are sent at the next login and that recording ends `partial`;
// - when the agent stops sharing (Chrome's "Stop sharing" bar), the running
//   recording ends with reason `stopped_by_agent`, 'recordingchange' tells the
//   desktop, and share() asks for the screen again.
//
// Events (EventTarget): 'connected', 'loggedOut', 'error' (detail: {error}),
// 'state' (detail: {state}), 'recordingchange' (detail: a RecordingNotice as in
// srs-client.js, with state 'stopped_by_agent' while the screen is not shared).

import { Spool, namespaceOf } from './srs-browser/spool.js';
import { Uploader } from './srs-browser/upload.js';
import { Recorder } from './srs-browser/recorder.js';

/** Reported to RWS as the SRS version. */
export const VERSION = 'srs-browser/0.1.0';

const CONTROL_PROTOCOL = 'screenrec-control.v1';
/** How long logout waits for uploads before leaving the rest to the spool. */
const LOGOUT_UPLOAD_WAIT_MS = 10000;
// A call that starts while the agent is still in the screen picker (at login,
// or after "Stop sharing") waits this long for the share before it fails.
const SHARE_WAIT_MS = 60000;
const b64 = (s) => btoa(String.fromCharCode(...new TextEncoder().encode(s)));

/** An error answered by RWS in the GWS envelope, or a network failure. */
export class BrowserSrsError extends Error {
  constructor(message, info = {}) {
    super(message);
    this.name = 'BrowserSrsError';
    this.status = info.status ?? 0;
    this.statusCode = info.statusCode;
    this.statusMessage = info.statusMessage;
  }
}

export class BrowserSrs extends EventTarget {
  /**
   * @param {object} [options]
   * @param {string} [options.server] RWS base URL (default: this page's origin).
   * @param {typeof fetch} [options.fetch] fetch implementation (tests).
   * @param {(constraints: object) => Promise<MediaStream>} [options.getDisplayMedia]
   *   how to ask for the screen (default: navigator.mediaDevices.getDisplayMedia).
   * @param {number} [options.fragmentSeconds] seconds between key frames and fragments
   *   (default 4: what a crashed tab can lose, against file size).
   */
  constructor({ server, fetch: f, getDisplayMedia, fragmentSeconds } = {}) {
    super();
    this.fragmentSeconds = fragmentSeconds;
    this.server = (server ?? globalThis.location?.origin ?? '').replace(/\/+$/, '');
    this._fetch = f ?? globalThis.fetch.bind(globalThis);
    this._getDisplayMedia = getDisplayMedia ?? ((c) => navigator.mediaDevices.getDisplayMedia(c));
    this._state = 'loggedOut';
    /** @type {object|null} the RecordingNotice last emitted */
    this.recording = null;
    this.user = null;
    this.session = null;
    this.stream = null;
    this._lastSeq = 0;
    this._desktopPaused = false;
    this._active = null; // {id, interactionId, recorder, uploader, paused, marks}
    this._uploaders = new Set();
    this._done = new Set(); // recording ids started in this session (start is idempotent)
    this._ws = null;
    this._wsTimer = null;
    this._hbTimer = null;
    this.lastError = null;
  }

  /** 'loggedOut' | 'connecting' | 'connected' */
  get state() {
    return this._state;
  }

  _set(state) {
    if (state === this._state) return;
    this._state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state } }));
    if (state === 'connected' || state === 'loggedOut') this.dispatchEvent(new CustomEvent(state));
  }

  _error(error) {
    this.lastError = error?.message ?? String(error);
    this.dispatchEvent(new CustomEvent('error', { detail: { error } }));
  }

  _notice(state, extra = {}) {
    const notice = { state, since: new Date().toISOString(), ...extra };
    this.recording = notice;
    this.dispatchEvent(new CustomEvent('recordingchange', { detail: notice }));
  }

  /**
   * Opens the SRS session at RWS and its control channel, sends what a closed
   * tab left in the spool, then asks for the screen.
   * @param {{username: string, password: string, place?: string,
   *          devices?: {dn: string, switch: string}[], share?: boolean}} params
   *   share: false logs in without asking for the screen (call share() later,
   *   e.g. from a click where the browser wants a user gesture).
   * @returns {Promise<object>} the user resource
   */
  async login({ username, password, place, devices, share = true }) {
    if (!username || password === undefined) throw new BrowserSrsError('username and password are required');
    this._set('connecting');
    let response;
    try {
      response = await this._fetch(`${this.server}/api/v2/srs/sessions`, {
        method: 'POST',
        headers: { Authorization: 'Basic ' + b64(`${username}:${password}`), 'Content-Type': 'application/json' },
        body: JSON.stringify({ place, devices, srs_version: VERSION, kind: 'browser', standby: false }),
        credentials: 'omit',
      });
    } catch (e) {
      this._set('loggedOut');
      throw new BrowserSrsError(`RWS at ${this.server} did not answer: ${e.message}`);
    }
    const body = await response.json().catch(() => ({}));
    if (response.status !== 201) {
      this._set('loggedOut');
      const err = new BrowserSrsError(body.statusMessage || `RWS answered HTTP ${response.status}`, {
        status: response.status, statusCode: body.statusCode, statusMessage: body.statusMessage,
      });
      this._error(err);
      throw err;
    }
    this.session = body;
    this.user = body.user;
    this._lastSeq = 0;
    this._done.clear();
    this._spool = await Spool.open(await namespaceOf(this.server, username));
    try {
      await this._connect();
    } catch (e) {
      // No control channel (this origin is not allowed, or RWS went away): no session.
      const session = this.session;
      this.session = null;
      this._closeChannel();
      this._fetch(`${this.server}/api/v2/srs/sessions/${session.session_id}`, {
        method: 'DELETE', headers: { Authorization: `Bearer ${session.token}` }, credentials: 'omit',
      }).catch(() => {});
      this._set('loggedOut');
      this._error(e);
      throw e;
    }
    this._heartbeats();
    this._set('connected');
    this._notice('idle');
    this._resumeSpooled();
    // A declined picker does not undo the login: share() has reported it
    // ('error', and 'recordingchange' → stopped_by_agent) and can be called again.
    if (share) await this.share().catch(() => {});
    return this.user;
  }

  /**
   * Asks the agent for the whole screen (again, after "Stop sharing").
   * Refuses a window or a tab: only a whole screen is a recording of the desk.
   */
  share() {
    if (this.stream?.active) return Promise.resolve(this.stream);
    // One picker at a time; a start that arrives meanwhile waits for it.
    this._sharing ??= this._share().finally(() => { this._sharing = null; });
    return this._sharing;
  }

  async _share() {
    const fps = this.session?.capture?.fps ?? 5;
    let stream;
    try {
      stream = await this._getDisplayMedia({
        video: { displaySurface: 'monitor', frameRate: { max: fps } },
        audio: false,
        monitorTypeSurfaces: 'include',
        selfBrowserSurface: 'exclude',
        surfaceSwitching: 'exclude',
        systemAudio: 'exclude',
      });
    } catch (e) {
      const err = new BrowserSrsError(`the screen was not shared: ${e.message}`);
      this._error(err);
      if (this.recording?.state !== 'stopped_by_agent') this._notice('stopped_by_agent', { reason: 'not_shared' });
      throw err;
    }
    const [track] = stream.getVideoTracks();
    const surface = track?.getSettings().displaySurface;
    if (!track || (surface && surface !== 'monitor')) {
      stream.getTracks().forEach((t) => t.stop());
      const err = new BrowserSrsError(`share the entire screen, not a ${surface ?? 'source without video'}`);
      this._error(err);
      throw err;
    }
    this.stream = stream;
    // 'ended' fires when the agent clicks "Stop sharing" (or the screen goes
    // away); a track stopped by script fires nothing, so its state is also
    // watched.
    track.addEventListener('ended', () => this._onStopSharing(stream));
    clearInterval(this._watchTimer);
    this._watchTimer = setInterval(() => {
      if (track.readyState === 'ended') this._onStopSharing(stream);
    }, 500);
    if (this.recording?.state === 'stopped_by_agent') this._notice('idle');
    return stream;
  }

  /** The agent's PCI pause: frames are blanked until resume(). Held across recordings, like the native SRS. */
  async pause() {
    this._desktopPaused = true;
    this._setPaused(true, 'desktop');
    return { paused: true, recording: !!this._active };
  }

  /** Shows the screen again after pause(). */
  async resume() {
    this._desktopPaused = false;
    if (!this._active?.rwsPaused) this._setPaused(false, 'desktop');
    return { paused: false, recording: !!this._active };
  }

  /** srs-client.js names, so a desktop switches with one line. */
  pauseRecording() {
    return this.pause();
  }

  resumeRecording() {
    return this.resume();
  }

  /** The last RecordingNotice (events push changes; nothing to poll). */
  async pollRecording() {
    return this.recording;
  }

  /** Ends the session: a running recording stops (reason logout) and is uploaded. */
  async logout() {
    const session = this.session;
    if (!session) {
      this._set('loggedOut');
      return;
    }
    if (this._active) await this._stopRecording(this._active.id, 'logout');
    // Give the uploads a few seconds; what is left stays in the spool for the next login.
    const uploads = Promise.all([...this._uploaders].map((u) => u.kick()));
    await Promise.race([uploads, new Promise((r) => setTimeout(r, LOGOUT_UPLOAD_WAIT_MS))]);
    for (const u of this._uploaders) u.close();
    this._uploaders.clear();
    this._closeChannel();
    try {
      await this._fetch(`${this.server}/api/v2/srs/sessions/${session.session_id}`, {
        method: 'DELETE', headers: { Authorization: `Bearer ${session.token}` }, credentials: 'omit',
      });
    } catch {
      // RWS drops a silent session by itself
    }
    clearInterval(this._watchTimer);
    this.stream?.getTracks().forEach((t) => t.stop());
    this.stream = null;
    this.session = null;
    this.user = null;
    this._notice('idle');
    this._set('loggedOut');
  }

  // ---------- control channel ----------

  _connect() {
    return new Promise((resolve, reject) => {
      const s = this.session;
      if (!s) return reject(new BrowserSrsError('no session'));
      let ws;
      try {
        ws = new WebSocket(s.control_url, [CONTROL_PROTOCOL, `screenrec-token.${s.token}`]);
      } catch (e) {
        return reject(new BrowserSrsError(`control channel: ${e.message}`));
      }
      this._ws = ws;
      let opened = false;
      ws.addEventListener('open', () => {
        opened = true;
        this._wsDownSince = null;
        this._send(this._hello());
        resolve();
      });
      ws.addEventListener('message', (e) => this._onFrame(e.data));
      ws.addEventListener('close', () => {
        if (this._ws !== ws) return;
        this._ws = null;
        if (!opened) reject(new BrowserSrsError('RWS refused the control channel (origin not allowed, or the session ended)'));
        if (this.session !== s) return;
        // Reconnect while the session lasts (RWS resends unacknowledged
        // commands); past RWS's silence timeout it has dropped the session.
        this._wsDownSince ??= Date.now();
        if (Date.now() - this._wsDownSince > ((s.silence_timeout_s ?? 60) + 15) * 1000) {
          this._error(new BrowserSrsError('RWS ended the session (no control channel for too long): log in again'));
          this._ended('session_ended').catch((err) => this._error(err));
          return;
        }
        this._wsTimer = setTimeout(() => this._connect().catch((err) => this._error(err)), 2000);
      });
    });
  }

  _closeChannel() {
    clearTimeout(this._wsTimer);
    clearInterval(this._hbTimer);
    const ws = this._ws;
    this._ws = null;
    ws?.close();
  }

  _send(msg) {
    if (this._ws?.readyState === WebSocket.OPEN) this._ws.send(JSON.stringify(msg));
  }

  _hello() {
    const t = this.stream?.getVideoTracks()[0]?.getSettings() ?? {};
    const a = this._active;
    return {
      type: 'hello',
      session_id: this.session.session_id,
      version: VERSION,
      monitors: t.width ? [this._monitor()] : [],
      state: a ? (a.paused ? 'paused' : 'recording') : 'idle',
      ...(a ? { active_recording: a.id } : {}),
      last_seq: this._lastSeq,
    };
  }

  _monitor() {
    const t = this.stream?.getVideoTracks()[0]?.getSettings() ?? {};
    return { name: 'screen', x: 0, y: 0, width: t.width ?? 0, height: t.height ?? 0, primary: true };
  }

  _heartbeats() {
    clearInterval(this._hbTimer);
    const every = Math.max(1, this.session?.heartbeat_interval_s ?? 10) * 1000;
    this._hbTimer = setInterval(() => {
      const backlog = [...this._uploaders].reduce((n, u) => n + u.backlog, 0);
      this._send({
        type: 'heartbeat',
        ...(this._active ? { recording: this._active.id } : {}),
        upload_backlog_bytes: backlog,
        ...(this.lastError ? { last_error: this.lastError.slice(0, 200) } : {}),
      });
    }, every);
  }

  _status(recordingId, state, reason, bytes = 0) {
    this._send({ type: 'status', recording_id: recordingId, state, ...(reason ? { reason } : {}), at: new Date().toISOString(), bytes_spooled: bytes });
  }

  _onFrame(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (msg.type === 'heartbeat' || typeof msg.seq !== 'number') return;
    // One command at a time, in order (a stop waits for its start).
    this._commands = (this._commands ?? Promise.resolve()).then(() => this._command(msg));
  }

  async _command(msg) {
    // A command applied before is acknowledged again, not applied again.
    if (msg.seq <= this._lastSeq) {
      this._send({ type: 'ack', seq: msg.seq, ok: true });
      return;
    }
    this._lastSeq = msg.seq;
    let ok = true;
    let error;
    try {
      await this._apply(msg);
    } catch (e) {
      ok = false;
      error = e.message;
      this._error(e);
    }
    this._send({ type: 'ack', seq: msg.seq, ok, ...(error ? { error: error.slice(0, 200) } : {}) });
    const after = this._afterAck;
    this._afterAck = null;
    if (after) await after();
  }

  /** RWS ended the session (bye): the recording stops, the screen is released. */
  async _ended(reason) {
    if (this._active) await this._stopRecording(this._active.id, reason);
    this._closeChannel();
    clearInterval(this._watchTimer);
    this.stream?.getTracks().forEach((t) => t.stop());
    this.stream = null;
    this.session = null;
    this._notice('idle');
    this._set('loggedOut');
  }

  async _apply(cmd) {
    switch (cmd.type) {
      case 'config':
        if (this.session) this.session.capture = cmd.capture;
        return;
      case 'start':
        return this._startRecording(cmd);
      case 'stop':
        return this._stopRecording(cmd.recording_id, cmd.reason);
      case 'pause':
      case 'resume':
        if (this._active?.id !== cmd.recording_id) return;
        this._active.rwsPaused = cmd.type === 'pause';
        if (cmd.type === 'pause' || !this._desktopPaused) this._setPaused(cmd.type === 'pause', cmd.reason);
        return;
      case 'live':
        // Someone watches live: the native SRS cuts shorter fragments; the
        // browser recorder's segments keep their length (the view is
        // further behind, but works).
        return;
      case 'bye':
        // Acknowledged first (RWS ends the session on that ack), then closed.
        this._afterAck = () => this._ended(cmd.reason === 'session_replaced' ? 'session_replaced' : 'session_ended');
        return;
      default:
        throw new Error(`unknown command '${cmd.type}'`);
    }
  }

  // ---------- recordings ----------

  async _startRecording(cmd) {
    if (this._active?.id === cmd.recording_id || this._done.has(cmd.recording_id)) return;
    if (this._active) await this._stopRecording(this._active.id, 'recording_stopped');
    if (this._sharing && !this.stream?.active) {
      // The screen picker is open (the call came right after login): record once it is shared.
      let timer;
      await Promise.race([
        this._sharing.catch(() => {}),
        new Promise((r) => { timer = setTimeout(r, SHARE_WAIT_MS); }),
      ]);
      clearTimeout(timer);
    }
    const track = this.stream?.getVideoTracks()[0];
    if (!track || track.readyState !== 'live') {
      // Nothing to record: say so at once, so the recording fails with a reason.
      this._done.add(cmd.recording_id);
      this._status(cmd.recording_id, 'failed', 'stopped_by_agent');
      throw new Error('the agent is not sharing a screen (stopped_by_agent)');
    }
    this._done.add(cmd.recording_id);
    const active = { id: cmd.recording_id, interactionId: cmd.interaction_id, paused: false, rwsPaused: false, marks: [], bytes: 0 };
    const uploadUrl = new URL(cmd.upload_url, this.server + '/').href;
    let uploaderReady;
    const ready = new Promise((r) => { uploaderReady = r; });
    const recorder = new Recorder({
      track,
      fps: cmd.capture?.fps ?? 5,
      recipients: cmd.recipients,
      fragmentSeconds: this.fragmentSeconds,
      onSegment: async (cipher, plainLen, endMs, plainSha256) => {
        active.bytes += cipher.length;
        await (await ready).add(cipher, plainLen, endMs, plainSha256);
      },
      onError: (e) => this._error(e),
    });
    active.recorder = recorder;
    this._active = active;
    try {
      await recorder.start();
    } catch (e) {
      this._active = null;
      this._status(cmd.recording_id, 'failed', 'capture_failed');
      throw e;
    }
    const manifest = {
      recordingId: cmd.recording_id, interactionId: cmd.interaction_id, server: this.server,
      uploadUrl, uploadToken: cmd.upload_token, startedAt: recorder.startedAt, monitor: this._monitor(),
      location: null, offset: 0, segments: [], sent: 0, stopped: false, reason: null, stoppedAt: null,
      interrupted: false, marks: [], lengthSent: false,
    };
    const rec = await this._spool.create(manifest);
    active.uploader = this._uploader(rec, manifest);
    uploaderReady(active.uploader);
    this._status(cmd.recording_id, 'recording');
    this._notice('recording', { recordingId: active.id, interactionId: active.interactionId });
    if (this._desktopPaused) this._setPaused(true, 'desktop');
  }

  _uploader(rec, manifest) {
    const u = new Uploader({
      rec, manifest, fetch: this._fetch,
      onError: (e) => this._error(e),
      onDone: () => this._uploaders.delete(u),
    });
    this._uploaders.add(u);
    return u;
  }

  _setPaused(paused, reason) {
    const a = this._active;
    if (!a || a.paused === paused) return;
    a.paused = paused;
    a.recorder.setPaused(paused);
    const at = new Date().toISOString();
    a.marks.push({ at, kind: paused ? 'paused' : 'resumed', reason });
    this._status(a.id, paused ? 'paused' : 'recording', reason, a.bytes);
    this._notice(paused ? 'paused' : 'recording', { reason, recordingId: a.id, interactionId: a.interactionId });
  }

  async _stopRecording(recordingId, reason) {
    const a = this._active;
    if (!a || a.id !== recordingId) return; // unknown or already ended: nothing to do
    this._active = null;
    await a.recorder.stop();
    const stoppedAt = new Date().toISOString();
    // Stopped by the agent: the rest of the call is not on screen; RWS marks it partial.
    const interrupted = reason === 'stopped_by_agent';
    this._status(a.id, 'stopped', reason, a.bytes);
    if (reason !== 'stopped_by_agent') this._notice('idle');
    // The upload finishes in the background; the spool keeps it across a closed tab.
    a.uploader.finish({ reason, interrupted, stoppedAt, marks: a.marks });
  }

  _onStopSharing(stream) {
    if (this.stream !== stream) return;
    clearInterval(this._watchTimer);
    this.stream = null;
    const a = this._active;
    this._notice('stopped_by_agent', a ? { recordingId: a.id, interactionId: a.interactionId } : {});
    if (a) this._stopRecording(a.id, 'stopped_by_agent').catch((e) => this._error(e));
  }

  /** Sends what a closed or crashed tab left in the spool; those recordings end partial. */
  async _resumeSpooled() {
    let left;
    try {
      left = await this._spool.list();
    } catch (e) {
      this._error(e);
      return;
    }
    for (const { rec, manifest } of left) {
      if (this._active?.id === manifest.recordingId) continue;
      const u = this._uploader(rec, manifest);
      if (manifest.stopped) {
        u.kick();
        continue;
      }
      // The tab ended mid-recording: what reached the spool is the recording,
      // up to the end of its last segment; the rest of the call is the gap.
      const last = manifest.segments.at(-1);
      const stoppedAt = new Date(Date.parse(manifest.startedAt) + (last?.end_ms ?? 0)).toISOString();
      u.finish({ reason: 'srs_restarted', interrupted: true, stoppedAt, marks: manifest.marks ?? [] }).catch((e) => this._error(e));
    }
  }
}
