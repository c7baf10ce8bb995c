// recorder.js — capture, encode, mux and encrypt one recording in the page
// (issue 15): the shared screen's track → MediaStreamTrackProcessor →
// WebCodecs H.264 (`contentHint = 'text'`, a key frame every few seconds) →
// fragmented MP4 (mediabunny) → one age stream per segment (the init
// segment, then each moof+mdat fragment), encrypted to the tenant's
// recipients before it leaves this module. The caller gets each encrypted
// segment through onSegment and keeps it (spool, upload).
//
// Frames are encoded only when the browser delivers one (Chrome's screen
// capture sends frames when the screen changed) and at most `fps` a second;
// when nothing changes for a key-frame interval the last picture is encoded
// again as a key frame, so a fragment closes and reaches RWS every few
// seconds even on a still screen. A pause encodes black frames instead of
// the screen (the file goes on, like the native SRS's blanking).

import { Output, Mp4OutputFormat, NullTarget, EncodedVideoPacketSource, EncodedPacket } from '../vendor/mediabunny.js';
import { Encrypter } from '../vendor/age-encryption.js';

/** Lowercase hex of a digest. */
const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');

/**
 * Default seconds between key frames, and so between fragments (mediabunny
 * starts a fragment only at a key frame). Shorter: less lost when a tab
 * crashes, sooner on RWS; longer: smaller files (a 1080p key frame is
 * ~150 KB, a text-screen delta frame well under 1 KB).
 */
export const FRAGMENT_SECONDS = 4;

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The H.264 config for a width × height screen that this browser can encode. */
export async function encoderConfig(width, height, fps) {
  const even = (n) => Math.max(2, Math.floor(n / 2) * 2);
  const w = even(width);
  const h = even(height);
  // High profile; level 4.0 holds 1080p, 5.1 up to 4K.
  const codecs = w * h <= 1920 * 1088 ? ['avc1.640028', 'avc1.42E028', 'avc1.640033'] : ['avc1.640033', 'avc1.640034'];
  for (const codec of codecs) {
    const config = {
      codec, width: w, height: h, framerate: fps, bitrate: 2_000_000,
      avc: { format: 'avc' }, contentHint: 'text', latencyMode: 'realtime', hardwareAcceleration: 'no-preference',
    };
    try {
      const { supported } = await VideoEncoder.isConfigSupported(config);
      if (supported) return config;
    } catch {
      // try the next one
    }
  }
  throw new Error(`this browser cannot encode H.264 at ${w}x${h}`);
}

export class Recorder {
  /**
   * @param {{track: MediaStreamTrack, fps: number, recipients: string[],
   *          onSegment: (cipher: Uint8Array, plainLen: number, endMs: number, plainSha256: string) => Promise<void>,
   *          onError: (e: Error) => void, fragmentSeconds?: number}} o
   */
  constructor({ track, fps, recipients, onSegment, onError, fragmentSeconds = FRAGMENT_SECONDS }) {
    if (!recipients?.length) throw new Error('RWS sent no recipients: a recording cannot be encrypted');
    this.track = track;
    this.fps = Math.min(Math.max(fps || 5, 1), 30);
    this.fragmentS = Math.min(Math.max(fragmentSeconds, 1), 60);
    this.recipients = recipients;
    this.onSegment = onSegment;
    this.onError = onError;
    this.paused = false;
    this.frames = 0;
    this._latest = null; // the newest frame from the screen, not yet encoded
    this._last = null; // the last frame encoded (for still screens)
    this._lastKeyUs = -Infinity;
    this._lastEncodeUs = -Infinity;
    this._chain = Promise.resolve(); // muxing, in order
    this._out = Promise.resolve(); // encrypted segments handed over, in order
    this._ts = 0; // µs of the packet being muxed (ends the fragment before it)
    this._init = [];
    this._moof = null;
    this._stopped = false;
  }

  /** Starts capturing; resolves once the encoder is configured. */
  async start() {
    const s = this.track.getSettings();
    this.width = s.width;
    this.height = s.height;
    this.config = await encoderConfig(s.width, s.height, this.fps);
    this.t0 = performance.now();
    this.startedAt = new Date().toISOString();

    this.source = new EncodedVideoPacketSource('avc');
    this.output = new Output({
      target: new NullTarget(),
      format: new Mp4OutputFormat({
        fastStart: 'fragmented',
        minimumFragmentDuration: this.fragmentS * 0.5,
        onFtyp: (d) => this._init.push(d.slice()),
        onMoov: (d) => {
          this._init.push(d.slice());
          this._emit(concat(this._init), 0);
          this._init = [];
        },
        onMoof: (d) => { this._moof = d.slice(); },
        onMdat: (d) => {
          if (!this._moof) return;
          this._emit(concat([this._moof, d]), this._ts / 1000);
          this._moof = null;
        },
      }),
    });
    this.output.addVideoTrack(this.source, { frameRate: this.fps });
    await this.output.start();

    let first = true;
    this.encoder = new VideoEncoder({
      output: (chunk, meta) => {
        const packet = EncodedPacket.fromEncodedChunk(chunk);
        const m = first ? meta : undefined;
        first = false;
        this._chain = this._chain.then(() => {
          this._ts = chunk.timestamp;
          return this.source.add(packet, m);
        }).catch((e) => this.onError(e));
      },
      error: (e) => this.onError(e),
    });
    this.encoder.configure(this.config);

    this.track.contentHint = 'text';
    const processor = new MediaStreamTrackProcessor({ track: this.track });
    this._reader = processor.readable.getReader();
    this._pump();
    this._timer = setInterval(() => this._tick(), Math.round(1000 / this.fps));
    this._tick();
  }

  /** Reads frames as the browser delivers them; keeps only the newest. */
  async _pump() {
    for (;;) {
      let r;
      try {
        r = await this._reader.read();
      } catch {
        return;
      }
      if (r.done) return;
      if (this._stopped) {
        r.value.close();
        return;
      }
      this._latest?.close();
      this._latest = r.value;
    }
  }

  _nowUs() {
    return Math.round((performance.now() - this.t0) * 1000);
  }

  _black() {
    if (!this._blackCanvas) {
      this._blackCanvas = new OffscreenCanvas(this.config.width, this.config.height);
      const g = this._blackCanvas.getContext('2d');
      g.fillStyle = '#000';
      g.fillRect(0, 0, this.config.width, this.config.height);
    }
    return this._blackCanvas;
  }

  /** One capture tick: encode the newest frame, or repeat the last one as a key frame. */
  _tick(forceKey = false) {
    if (this._stopped || this.encoder.state !== 'configured') return;
    const now = this._nowUs();
    if (now <= this._lastEncodeUs) return;
    const keyDue = forceKey || now - this._lastKeyUs >= this.fragmentS * 1e6;
    let source = null;
    if (this.paused) {
      if (keyDue) source = this._black();
    } else if (this._latest) {
      this._last?.close();
      this._last = this._latest;
      this._latest = null;
      source = this._last;
    } else if (keyDue && this._last) {
      source = this._last;
    }
    if (!source) return;
    // Backpressure: a slow encoder skips frames rather than queue them.
    if (this.encoder.encodeQueueSize > 2 && !keyDue) return;
    let frame;
    try {
      frame = new VideoFrame(source, { timestamp: now, duration: Math.round(1e6 / this.fps) });
    } catch (e) {
      this.onError(e);
      return;
    }
    try {
      this.encoder.encode(frame, { keyFrame: keyDue });
      this.frames++;
      this._lastEncodeUs = now;
      if (keyDue) this._lastKeyUs = now;
    } finally {
      frame.close();
    }
  }

  /** Blanks (true) or shows (false) the screen from now on. */
  setPaused(paused) {
    if (this.paused === paused) return;
    this.paused = paused;
    // A key frame at once, so the blank (or the screen) starts exactly here.
    this._tick(true);
  }

  /** Media time now, in ms. */
  get mediaMs() {
    return this.t0 === undefined ? 0 : (performance.now() - this.t0);
  }

  _emit(plain, endMs) {
    // The plaintext's SHA-256 is taken before encryption (the start of the
    // evidence chain, as the native SRS does); encryption starts at once;
    // the hand-over keeps segment order.
    const plainHash = crypto.subtle.digest('SHA-256', plain);
    const cipher = (async () => {
      const e = new Encrypter();
      for (const r of this.recipients) e.addRecipient(r);
      return e.encrypt(plain);
    })();
    this._out = this._out.then(async () => this.onSegment(await cipher, plain.length, endMs, hex(await plainHash))).catch((e) => this.onError(e));
  }

  /** Stops: the last fragment is written, encrypted and handed over. */
  async stop() {
    if (this._stopped) return this._chain;
    // One last frame at the stop time, so the file lasts until now.
    this._tick(false);
    this._stopped = true;
    clearInterval(this._timer);
    try {
      await this._reader?.cancel();
    } catch {
      // the track already ended
    }
    this._latest?.close();
    this._latest = null;
    try {
      if (this.encoder.state === 'configured') await this.encoder.flush();
      this.encoder.close();
    } catch (e) {
      this.onError(e);
    }
    await this._chain;
    this._ts = this._nowUs();
    try {
      await this.output.finalize();
    } catch (e) {
      this.onError(e);
    }
    this._last?.close();
    this._last = null;
    await this._chain;
    await this._out;
  }
}
