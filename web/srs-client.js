// srs-client.js — a dependency-free ES module for agent desktops that talk to the
// Screen Recording Service (screenrec srs, or Genesys' SRS) on the agent's PC.
//
//   import { SrsClient } from './srs-client.js';
//   const srs = new SrsClient({ srsUrl: 'http://127.0.0.1:8086' });
//   srs.addEventListener('connected', () => ...);
//   await srs.login({ username, password, server: 'https://rws.example.com' });
//   ...
//   await srs.logout();
//
// It follows the GIR Screen Recording API: login (GET or POST /api/v2/me with
// Basic credentials), a poll of GET /ping every 30 s, logout (POST /api/v2/me
// {"operationName":"EndContactCenterSession"}), with CSRF protection negotiated
// (X-Support-CSRFP / X-CSRF-Token). The password is kept in this object's memory
// only, for the page's life: SRS answers 401 to a poll after its inactivity
// timeout, and the client then logs in again with it.
//
// Events (EventTarget): 'connected', 'stale', 'loggedOut', 'error' (detail: {error}),
// 'state' for every change (detail: {state}), and 'recordingchange' when the
// screen recording's state changes (detail: the {@link RecordingNotice}; screenrec
// extension: polled from GET /api/v2/me/recording every recordingPollMs).

/**
 * What SRS tells the agent about the screen recording (GET /api/v2/me/recording).
 * @typedef {object} RecordingNotice
 * @property {'idle'|'recording'|'paused'|'masked'} state
 * @property {string} since ISO-8601 time of the last change (SRS clock).
 * @property {string} [reason] Why: 'desktop' (the PCI pause), RWS's pause reason, or a masking rule's name.
 * @property {string} [recordingId] The recording in progress.
 * @property {string} [interactionId] The interaction (call) it records.
 */

/** An error answered by SRS in the GWS envelope, or a network failure. */
export class SrsError extends Error {
  /**
   * @param {string} message
   * @param {{status?: number, statusCode?: number, statusMessage?: string}} [info]
   */
  constructor(message, info = {}) {
    super(message);
    this.name = 'SrsError';
    /** HTTP status (0: no answer: SRS not running, or blocked by CORS). */
    this.status = info.status ?? 0;
    /** GWS statusCode (20 not authenticated, 10 validation, 4 internal, 3 forbidden, 1 missing). */
    this.statusCode = info.statusCode;
    /** SRS's message. */
    this.statusMessage = info.statusMessage;
  }
}

const b64 = (s) => btoa(String.fromCharCode(...new TextEncoder().encode(s)));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class SrsClient extends EventTarget {
  /**
   * @param {object} [options]
   * @param {string} [options.srsUrl] SRS address (HTTP for an HTTP page, HTTPS for an HTTPS page).
   * @param {number} [options.pollIntervalMs] Poll period (SRS's timeout defaults to 60 s).
   * @param {number} [options.retries] Poll retries after a network/5xx failure before 'stale'.
   * @param {number} [options.retryDelayMs] Delay between those retries.
   * @param {typeof fetch} [options.fetch] fetch implementation (tests).
   * @param {number} [options.recordingPollMs] Period of the recording-state poll behind
   *   'recordingchange' (0: off). An SRS without the endpoint (404) is not asked again.
   */
  constructor({ srsUrl = 'http://127.0.0.1:8086', pollIntervalMs = 30000, retries = 3, retryDelayMs = 2000, fetch: f, recordingPollMs = 2000 } = {}) {
    super();
    this.recordingPollMs = recordingPollMs;
    /** @type {RecordingNotice|null} the last recording state SRS reported */
    this.recording = null;
    this._recTimer = null;
    this._recSupported = true;
    this.srsUrl = srsUrl.replace(/\/+$/, '');
    this.pollIntervalMs = pollIntervalMs;
    this.retries = retries;
    this.retryDelayMs = retryDelayMs;
    this._fetch = f ?? globalThis.fetch.bind(globalThis);
    this._state = 'loggedOut';
    this._csrf = null;
    this._login = null;
    this._timer = null;
    this.user = null;
  }

  /** 'loggedOut' | 'connecting' | 'connected' | 'stale' */
  get state() {
    return this._state;
  }

  _set(state) {
    if (state === this._state) return;
    this._state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state } }));
    if (state === 'connected' || state === 'stale' || state === 'loggedOut') {
      this.dispatchEvent(new CustomEvent(state));
    }
  }

  _error(error) {
    this.dispatchEvent(new CustomEvent('error', { detail: { error } }));
  }

  async _request(method, path, { body, headers = {} } = {}) {
    let response;
    try {
      response = await this._fetch(this.srsUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'include',
        mode: 'cors',
      });
    } catch (e) {
      throw new SrsError(`SRS at ${this.srsUrl} did not answer (not running, or the browser blocked it: CORS/HTTPS): ${e.message}`);
    }
    let envelope = {};
    try {
      envelope = await response.json();
    } catch {
      // no JSON body
    }
    if (!response.ok) {
      throw new SrsError(envelope.statusMessage || `SRS answered HTTP ${response.status}`, {
        status: response.status,
        statusCode: envelope.statusCode,
        statusMessage: envelope.statusMessage,
      });
    }
    return { response, envelope };
  }

  /**
   * Logs the agent in to SRS, which opens its session on RWS.
   * @param {{username: string, password: string, server?: string, peerServer?: string,
   *          place?: string, devices?: {dn: string, switch: string}[]}} params
   * @returns {Promise<object>} the user resource
   */
  async login({ username, password, server, peerServer, place, devices }) {
    if (!username || password === undefined) throw new SrsError('username and password are required');
    this._login = { username, password, server, peerServer, place, devices };
    this._set('connecting');
    try {
      await this._doLogin();
    } catch (e) {
      this._stopPolling();
      this._set('loggedOut');
      this._error(e);
      throw e;
    }
    this._startPolling();
    return this.user;
  }

  async _doLogin() {
    const { username, password, server, peerServer, place, devices } = this._login;
    const headers = {
      Authorization: 'Basic ' + b64(`${username}:${password}`),
      'X-Support-CSRFP': 'true',
    };
    const config = [];
    if (server) config.push({ name: 'server', value: server });
    if (peerServer) config.push({ name: 'peer_server', value: peerServer });
    if (place) config.push({ name: 'place', value: place });
    if (devices && devices.length) config.push({ name: 'devices', value: devices });
    const { response, envelope } = config.length
      ? await this._request('POST', '/api/v2/me', { body: config, headers: { ...headers, 'Content-Type': 'application/json' } })
      : await this._request('GET', '/api/v2/me', { headers });
    this._csrf = response.headers.get('X-CSRF-Token');
    this.user = envelope.user ?? null;
    this._set('connected');
  }

  _startPolling() {
    this._stopPolling();
    if (this.recordingPollMs > 0 && this._recSupported) {
      const recTick = async () => {
        await this.pollRecording();
        if (this._state !== 'loggedOut' && this._login && this._recSupported) this._recTimer = setTimeout(recTick, this.recordingPollMs);
      };
      // (A page that wants the state at once calls pollRecording() after login.)
      this._recTimer = setTimeout(recTick, this.recordingPollMs);
    }
    const tick = async () => {
      await this.poll();
      if (this._state !== 'loggedOut') this._timer = setTimeout(tick, this.pollIntervalMs);
    };
    this._timer = setTimeout(tick, this.pollIntervalMs);
  }

  _stopPolling() {
    if (this._timer) clearTimeout(this._timer);
    this._timer = null;
    if (this._recTimer) clearTimeout(this._recTimer);
    this._recTimer = null;
  }

  /**
   * Asks SRS for the screen recording's state once (done automatically every
   * recordingPollMs); emits 'recordingchange' when it differs from the last one.
   * Failures are quiet: the /ping poll reports the session's health.
   * @returns {Promise<RecordingNotice|null>}
   */
  async pollRecording() {
    const login = this._login;
    if (!login || !this._recSupported) return this.recording;
    let envelope;
    try {
      ({ envelope } = await this._request('GET', '/api/v2/me/recording', {
        headers: { Authorization: 'Basic ' + b64(`${login.username}:${login.password}`) },
      }));
    } catch (e) {
      if (e.status === 404) this._recSupported = false; // an SRS without this extension
      return this.recording;
    }
    if (this._login !== login) return this.recording; // logged out meanwhile
    const { state, since, reason, recordingId, interactionId } = envelope;
    /** @type {RecordingNotice} */
    const notice = { state, since };
    if (reason !== undefined) notice.reason = reason;
    if (recordingId !== undefined) notice.recordingId = recordingId;
    if (interactionId !== undefined) notice.interactionId = interactionId;
    this._setRecording(notice);
    return notice;
  }

  _setRecording(notice) {
    const last = this.recording;
    const same = last && last.state === notice.state && last.since === notice.since
      && last.reason === notice.reason && last.recordingId === notice.recordingId;
    if (same) return;
    this.recording = notice;
    this.dispatchEvent(new CustomEvent('recordingchange', { detail: notice }));
  }

  /** One poll (done automatically every pollIntervalMs). */
  async poll() {
    if (!this._login) return;
    const auth = { Authorization: 'Basic ' + b64(`${this._login.username}:${this._login.password}`) };
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      try {
        await this._request('GET', '/ping', { headers: auth });
        this._set('connected');
        return;
      } catch (e) {
        if (e.status === 401) {
          // SRS timed out (or restarted): log in again.
          this._set('stale');
          try {
            await this._doLogin();
            return;
          } catch (again) {
            this._error(again);
            return;
          }
        }
        if (attempt === this.retries) {
          this._set('stale');
          this._error(e);
          return;
        }
        await sleep(this.retryDelayMs);
      }
    }
  }

  /** Logs out: SRS finishes any recording and ends the session. */
  /**
   * Pauses the screen recording for a sensitive moment (card number, PCI):
   * frames are blanked until {@link resumeRecording}. A screenrec extension
   * to the GIR API. Resolves to `{paused, recording}`.
   */
  async pauseRecording() {
    return this._recordingOperation('PauseScreenRecording');
  }

  /** Shows the screen again after {@link pauseRecording}. */
  async resumeRecording() {
    return this._recordingOperation('ResumeScreenRecording');
  }

  async _recordingOperation(operationName) {
    const login = this._login;
    if (!login) throw new Error('not logged in');
    const headers = {
      Authorization: 'Basic ' + b64(`${login.username}:${login.password}`),
      'Content-Type': 'application/json',
    };
    if (this._csrf) headers['X-CSRF-Token'] = this._csrf;
    const { envelope } = await this._request('POST', '/api/v2/me/recording', { body: { operationName }, headers });
    return envelope;
  }

  async logout() {
    this._stopPolling();
    const login = this._login;
    this._login = null;
    if (!login) {
      this._set('loggedOut');
      return;
    }
    const headers = {
      Authorization: 'Basic ' + b64(`${login.username}:${login.password}`),
      'Content-Type': 'application/json',
    };
    if (this._csrf) headers['X-CSRF-Token'] = this._csrf;
    try {
      await this._request('POST', '/api/v2/me', { body: { operationName: 'EndContactCenterSession' }, headers });
    } finally {
      this._csrf = null;
      this.user = null;
      // SRS ends the recording with the session.
      if (this.recording && this.recording.state !== 'idle') {
        this._setRecording({ state: 'idle', since: new Date().toISOString() });
      }
      this._set('loggedOut');
    }
  }
}
