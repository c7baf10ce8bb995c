// The supervisor console: search (its state kept in the URL so the player
// links back to it), a player that lays out every monitor by its geometry
// and plays them on one clock under a visual timeline, live SRS sessions,
// recordings that did not complete, and an agent's own recordings. Plain ES
// module, served by RWS from the binary; talks to the RWS API with the
// console's session cookie. What the user may see comes from /api/v2/me.
const $ = (id) => document.getElementById(id);
// Changes (not GET) carry the CSRF token RWS gave at login.
const api = (path, options = {}) =>
  fetch(path, {
    ...options,
    headers: {
      'X-Screenrec-Console': '1',
      ...(options.method && options.method !== 'GET' ? { 'X-CSRF-Token': sessionStorage.getItem('csrf') || '' } : {}),
      ...(options.headers || {}),
    },
  });
const el = (tag, props = {}, ...children) => {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
};
const fmtTime = (s) => {
  s = Math.max(0, s || 0);
  return `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
};
const localInput = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);

let player = null;
let liveSource = null;

// ---------- login ----------
let me = null;
// Who am I and what may I do: null when not logged in.
async function whoAmI() {
  const r = await api('/api/v2/me');
  me = r.ok ? await r.json() : null;
  return me;
}

$('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  const r = await api('/api/v2/auth/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: f.get('username'), password: f.get('password') }),
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    $('login-error').textContent = body.statusMessage || 'login failed';
    return;
  }
  sessionStorage.setItem('who', body.user.userName);
  sessionStorage.setItem('csrf', body.csrfToken);
  $('login-error').textContent = '';
  route();
});

$('logout').addEventListener('click', async () => {
  await api('/api/v2/auth/logout', { method: 'POST' });
  sessionStorage.removeItem('who');
  location.hash = '#/search';
  route();
});

// ---------- search ----------
// The search lives in the URL (`#/search?agent=…&cursor=…`): reloading,
// the back button and the player's "back" link all return to the same page
// of the same results.
let searchQuery = '';
let links = { next: null, prev: null };
let searchView = 'search';

function formQuery() {
  const f = new FormData($('filters'));
  const p = new URLSearchParams();
  for (const [k, v] of f) {
    if (!v) continue;
    p.set(k, k === 'from' || k === 'to' ? new Date(v).toISOString() : v);
  }
  p.set('limit', '25');
  return p.toString();
}

function fillForm(query) {
  const p = new URLSearchParams(query);
  const f = $('filters');
  for (const input of f.elements) {
    if (!input.name) continue;
    const v = p.get(input.name) || '';
    input.value = v && (input.name === 'from' || input.name === 'to') ? localInput(new Date(v)) : v;
  }
}

const queryOf = (apiUrl) => apiUrl.slice(apiUrl.indexOf('?') + 1);
const cell = (text, className = '') => el('td', { textContent: text ?? '', className });

async function runSearch(query) {
  searchQuery = query;
  $('search-error').textContent = '';
  const r = await api(`/api/v2/recordings?${query}`);
  const body = await r.json();
  if (!r.ok) {
    $('search-error').textContent = body.statusMessage;
    return;
  }
  links = { next: body.next, prev: body.prev };
  $('next').disabled = !body.next;
  $('prev').disabled = !body.prev;
  $('results-empty').hidden = body.recordings.length > 0;
  $('results').replaceChildren(...body.recordings.map((rec) => {
    const tr = el('tr');
    tr.dataset.call = rec.callId;
    tr.append(
      cell(new Date(rec.startTime).toLocaleString()),
      cell(rec.callId),
      cell(rec.agentId),
      cell(rec.dn, 'dn'),
      cell(rec.callerPhoneNumber, 'caller'),
      cell(rec.dialedPhoneNumber, 'dialed'),
      cell(fmtTime(Number(rec.duration) / 1000), 'num'),
      cell(String(rec.mediaFiles.length), 'num'),
      cell(rec.state + (rec.reason && rec.state !== 'completed' ? ` (${rec.reason})` : ''), `state-${rec.state}`),
      el('td', {}, ...rec.labels.map((l) => el('span', { className: 'label', textContent: l }))),
    );
    // The player gets the search to go back to.
    tr.addEventListener('click', () => {
      location.hash = `#/recording/${encodeURIComponent(rec.callId)}?${new URLSearchParams({ back: `#/${searchView}?${query}` })}`;
    });
    return tr;
  }));
}

// Changing the search or its page changes the URL; `route` runs it.
const showSearch = (query) => {
  const hash = `#/${searchView}?${query}`;
  if (location.hash === hash) route(); else location.hash = hash;
};
$('filters').addEventListener('submit', (e) => {
  e.preventDefault();
  showSearch(formQuery());
});
$('next').addEventListener('click', () => links.next && showSearch(queryOf(links.next)));
$('prev').addEventListener('click', () => links.prev && showSearch(queryOf(links.prev)));

// ---------- player ----------
class Player {
  // One clock for every monitor: `t` is seconds since the earliest media
  // start; each video shows t minus its own start offset.
  constructor(stage, media) {
    this.t = 0;
    this.speed = 1;
    this.playing = false;
    const t0 = Math.min(...media.map((m) => Date.parse(m.startTime)));
    this.origin = t0;
    const xs = media.map((m) => m.parameters.monitorGeometry);
    const minX = Math.min(...xs.map((g) => g.x)), minY = Math.min(...xs.map((g) => g.y));
    const maxX = Math.max(...xs.map((g) => g.x + g.width)), maxY = Math.max(...xs.map((g) => g.y + g.height));
    stage.style.width = '';
    const scale = Math.min(1, (stage.clientWidth || 1000) / (maxX - minX));
    stage.style.height = `${(maxY - minY) * scale}px`;
    // As wide as the monitors: no black band beside small screens.
    stage.style.width = `${(maxX - minX) * scale}px`;
    stage.replaceChildren();
    this.duration = 0;
    this.videos = media.map((m) => {
      const g = m.parameters.monitorGeometry;
      const v = el('video', { src: m.mediaUri, muted: true, preload: 'auto', playsInline: true });
      v.title = `${m.parameters.agentId} — ${m.parameters.monitor}`;
      Object.assign(v.style, {
        left: `${(g.x - minX) * scale}px`, top: `${(g.y - minY) * scale}px`,
        width: `${g.width * scale}px`, height: `${g.height * scale}px`,
      });
      v.dataset.offset = String((Date.parse(m.startTime) - t0) / 1000);
      this.duration = Math.max(this.duration, Number(v.dataset.offset) + Number(m.duration) / 1000);
      stage.append(v);
      return v;
    });
    $('seek').max = String(this.duration);
    this.last = performance.now();
    this.tick = this.tick.bind(this);
    this.raf = requestAnimationFrame(this.tick);
    this.render(true);
  }

  local(v) { return this.t - Number(v.dataset.offset); }

  render(force) {
    for (const v of this.videos) {
      const want = this.local(v);
      const inside = want >= 0 && (!v.duration || want <= v.duration);
      v.style.visibility = inside ? 'visible' : 'hidden';
      v.playbackRate = this.speed;
      if (force || Math.abs(v.currentTime - want) > 0.3) {
        if (inside) v.currentTime = Math.max(0, want);
      }
      if (this.playing && inside && v.paused) v.play().catch(() => {});
      if ((!this.playing || !inside) && !v.paused) v.pause();
    }
    $('seek').value = String(this.t);
    $('vt-cursor').style.left = `${this.duration ? (100 * this.t) / this.duration : 0}%`;
    $('clock').textContent = `${fmtTime(this.t)} / ${fmtTime(this.duration)}`;
    $('play').textContent = this.playing ? 'Pause' : 'Play';
  }

  tick(now) {
    const dt = (now - this.last) / 1000;
    this.last = now;
    if (this.playing) {
      this.t = Math.min(this.duration, this.t + dt * this.speed);
      if (this.t >= this.duration) this.playing = false;
      this.render(false);
    }
    this.raf = requestAnimationFrame(this.tick);
  }

  play() { this.playing = true; this.last = performance.now(); this.render(false); }
  pause() { this.playing = false; this.render(false); }
  seek(t) { this.t = Math.max(0, Math.min(this.duration, t)); this.render(true); }
  setSpeed(s) { this.speed = s; $('speed').value = String(s); this.render(false); }
  destroy() { cancelAnimationFrame(this.raf); this.videos.forEach((v) => { v.pause(); v.removeAttribute('src'); v.load(); }); }
}

$('play').addEventListener('click', () => player && (player.playing ? player.pause() : player.play()));
$('seek').addEventListener('input', (e) => player?.seek(Number(e.target.value)));
$('speed').addEventListener('change', (e) => player?.setSpeed(Number(e.target.value)));

// Keyboard: not while the user types in a field, nor with modifiers (the
// browser's own shortcuts stay).
const SPEEDS = [0.25, 0.5, 1, 1.5, 2, 4];
// Screen recordings run at 5 fps by default (capture settings): one frame.
const FRAME_S = 0.2;
document.addEventListener('keydown', (e) => {
  if (!player || $('view-recording').hidden) return;
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  // The position slider is not a text field: the shortcuts apply there too.
  if (e.target.closest?.('input:not([type=range]), select, textarea, [contenteditable]')) return;
  const speedStep = (d) => {
    const i = SPEEDS.indexOf(player.speed);
    const next = SPEEDS[Math.max(0, Math.min(SPEEDS.length - 1, (i < 0 ? 2 : i) + d))];
    player.setSpeed(next);
  };
  const actions = {
    ' ': () => (player.playing ? player.pause() : player.play()),
    ArrowLeft: () => player.seek(player.t - 5),
    ArrowRight: () => player.seek(player.t + 5),
    ',': () => { player.pause(); player.seek(player.t - FRAME_S); },
    '.': () => { player.pause(); player.seek(player.t + FRAME_S); },
    '[': () => speedStep(-1),
    ']': () => speedStep(1),
  };
  const act = actions[e.key];
  if (!act) return;
  e.preventDefault();
  // A focused button would also "click" on the key's release.
  if (e.target instanceof HTMLButtonElement) e.target.blur();
  act();
});

// Which marker a timeline event gets.
const markerKind = (type) => (type === 'call.held' || type === 'call.retrieved' ? 'hold'
  : type === 'call.transferred' || type === 'call.conferenced' ? 'transfer' : 'call');
// Span-shaped marks: a start kind and the kind that ends it. Any other kind
// that comes in pairs (`x` … `unx`, `x.start` … `x.end`) is drawn too.
// `gap` … `gap_end`: an SRS restart mid-call (nothing recorded between).
const SPAN_END = { paused: 'resumed', masked: 'unmasked', mask: 'unmask', gap: 'gap_end' };
const spanClass = (kind) => (kind === 'paused' ? 'pause' : kind === 'gap' ? 'gap' : 'mask');
const spanEnd = (kind) => SPAN_END[kind] || (kind.endsWith('.start') ? kind.replace(/\.start$/, '.end') : null);

function drawTimeline(items, spans, apps) {
  const track = $('vt-track');
  const cursor = $('vt-cursor');
  track.replaceChildren(cursor);
  $('vt-apps').replaceChildren();
  $('vt-apps-lane').hidden = apps.length === 0;
  if (!player) return;
  const pct = (t) => `${Math.max(0, Math.min(100, (100 * t) / (player.duration || 1)))}%`;
  for (const sp of spans) {
    const d = el('div', { className: `vt-span ${spanClass(sp.kind)}` });
    d.style.left = pct(sp.from);
    d.style.width = `calc(${pct(sp.to)} - ${pct(sp.from)})`;
    d.dataset.tip = sp.text;
    d.dataset.offset = String(sp.from);
    track.append(d);
  }
  for (const a of apps) {
    const d = el('div', { className: 'vt-span app' });
    d.style.left = pct(a.from);
    d.style.width = `calc(${pct(a.to)} - ${pct(a.from)})`;
    d.dataset.tip = a.text;
    d.dataset.offset = String(a.from);
    $('vt-apps').append(d);
  }
  // The legend names only what this recording has.
  const present = new Set([...items.map((i) => markerKind(i.type)), ...spans.map((sp) => spanClass(sp.kind)), ...(apps.length ? ['app'] : [])]);
  for (const k of document.querySelectorAll('#vt-legend [data-kind]')) k.hidden = !present.has(k.dataset.kind);
  for (const i of items) {
    const b = el('button', { className: `vt-mark ${markerKind(i.type)}`, type: 'button' });
    b.setAttribute('aria-label', `${fmtTime(i.offset)} ${i.text}`);
    b.style.left = pct(i.offset);
    b.dataset.tip = `${fmtTime(i.offset)}  ${i.text}`;
    b.dataset.offset = String(i.offset);
    track.append(b);
  }
}

// Hover shows a tooltip; a click on a marker or span seeks every monitor to
// it, a click elsewhere on the bar seeks to that point.
function tip(e) {
  const t = e.target.closest?.('[data-tip]');
  const box = $('vt-tip');
  if (!t) { box.hidden = true; return; }
  box.textContent = t.dataset.tip;
  const vt = $('vt').getBoundingClientRect();
  const r = t.getBoundingClientRect();
  box.style.left = `${Math.min(vt.width - 80, Math.max(80, r.left + r.width / 2 - vt.left))}px`;
  box.style.top = `${r.top - vt.top - 30}px`;
  box.hidden = false;
}
for (const id of ['vt-track', 'vt-apps']) {
  $(id).addEventListener('mouseover', tip);
  $(id).addEventListener('focusin', tip);
  $(id).addEventListener('mouseleave', () => { $('vt-tip').hidden = true; });
  $(id).addEventListener('click', (e) => {
    if (!player) return;
    const t = e.target.closest('[data-offset]');
    if (t) { player.seek(Number(t.dataset.offset)); return; }
    const r = e.currentTarget.getBoundingClientRect();
    player.seek(((e.clientX - r.left) / r.width) * player.duration);
  });
}

async function openRecording(callId, back) {
  player?.destroy();
  player = null;
  $('back').href = back && back.startsWith('#/') ? back : `#/${searchView}`;
  $('rec-meta').textContent = '';
  const r = await api(`/api/v2/recordings/${encodeURIComponent(callId)}`);
  const res = await r.json();
  if (!r.ok) {
    $('rec-title').textContent = res.statusMessage || 'not found';
    return;
  }
  $('rec-title').textContent = `Call ${callId}`;
  const first = res.screenRecordings[0] || {};
  $('rec-meta').textContent = [
    first.dn && `DN ${first.dn}`,
    first.callerPhoneNumber && `caller ${first.callerPhoneNumber}`,
    first.dialedPhoneNumber && `dialed ${first.dialedPhoneNumber}`,
    res.startTime && new Date(res.startTime).toLocaleString(),
  ].filter(Boolean).join(' · ');
  $('rec-state').replaceChildren(...res.screenRecordings.map((s) => el('span', {
    className: `state-${s.state}`,
    textContent: `${s.agentId}: ${s.state}${s.reason ? ` (${s.reason})` : ''}${s.legalHold ? ' — legal hold' : ''}  `,
  })));
  const media = res.mediaFiles.filter((m) => m.parameters.stored);
  if (media.length) player = new Player($('stage'), media);
  await showTimeline(callId, res);
  // A call still recording: SRS sends app changes (and marks) live, so the
  // timeline is read again every 5 s until every recording is final. The
  // resource is the database's, so this works whichever RWS node answers.
  clearInterval(timelineTimer);
  const shown = player;
  const inProgress = (r) => r.screenRecordings.some((s) => ['requested', 'recording', 'paused', 'finalizing'].includes(s.state));
  if (inProgress(res)) {
    timelineTimer = setInterval(async () => {
      if (player !== shown || $('view-recording').hidden) { clearInterval(timelineTimer); return; }
      const again = await api(`/api/v2/recordings/${encodeURIComponent(callId)}`);
      if (!again.ok) return;
      const fresh = await again.json();
      if (player !== shown) return;
      await showTimeline(callId, fresh);
      if (!inProgress(fresh)) clearInterval(timelineTimer);
    }, 5000);
  }
  $('downloads').replaceChildren(...res.mediaFiles.map((m) => el('li', {},
    el('a', { href: m.mediaUri.replace('/play/', '/download/'), textContent: `${m.parameters.agentId} ${m.parameters.monitor} (${fmtTime(Number(m.duration) / 1000)})` }))),
  // Signed evidence export (a zip `screenrec verify` checks offline): once
  // a recording is final, one per screen recording of the call.
  ...res.screenRecordings.filter((r) => ['completed', 'partial', 'failed'].includes(r.state)).map((r) => el('li', {},
    el('a', { className: 'button export', href: `/api/v2/recordings/${encodeURIComponent(res.id)}/export?recording=${encodeURIComponent(r.id)}`, download: '', textContent: `Export ${r.agentId} (signed evidence)` }))));
}

// The timeline of a call's resource `res`: events, screen marks, app lane.
let timelineTimer = null;
async function showTimeline(callId, res) {
  const at = (ms) => (player ? (ms - player.origin) / 1000 : 0);
  // Events of the call (markers; `app.*` events on their own lane), then
  // the screen marks (pause spans, and any other paired kind).
  const items = [];
  const apps = [];
  const ev = await api(`/api/v2/interactions/${encodeURIComponent(callId)}/events`);
  if (ev.ok) {
    for (const e of (await ev.json()).events) {
      const text = `${e.type}${e.dn ? ` (${e.dn})` : ''}${e.agent ? ` (${e.agent})` : ''}`;
      if (e.type.startsWith('app.')) apps.push({ at: at(Date.parse(e.timestamp)), text: `${e.type} ${e.attached_data?.app || e.attached_data?.title || ''}`.trim() });
      else items.push({ offset: at(Date.parse(e.timestamp)), type: e.type, text });
    }
  }
  const spans = [];
  for (const s of res.screenRecordings) {
    const open = {};
    for (const m of s.marks) {
      const offset = at(Date.parse(m.time));
      // The agent switched windows (SRS's app lane): class, and the title
      // unless the directory keeps none (a masked window's is its rule's name).
      if (m.type === 'app') {
        apps.push({ at: offset, text: `${m.class}${m.title ? ` — ${m.title}` : ''} (${s.agentId})` });
        continue;
      }
      items.push({ offset, type: `screen.${m.type}`, text: `screen ${m.type} — ${m.reason} (${s.agentId})` });
      const ender = Object.entries(open).find(([kind]) => spanEnd(kind) === m.type);
      if (ender) {
        spans.push({ kind: ender[0], from: ender[1].offset, to: offset, text: `${ender[0]} ${fmtTime(ender[1].offset)}–${fmtTime(offset)} — ${ender[1].reason}` });
        delete open[ender[0]];
      } else if (spanEnd(m.type)) {
        open[m.type] = { offset, reason: m.reason };
      }
    }
    // Still open at the end of the recording.
    for (const [kind, o] of Object.entries(open)) spans.push({ kind, from: o.offset, to: player?.duration ?? o.offset, text: `${kind} from ${fmtTime(o.offset)} — ${o.reason}` });
  }
  // An app lane span lasts until the next app event (or the end).
  apps.sort((a, b) => a.at - b.at);
  const appSpans = apps.map((a, i) => ({ from: a.at, to: apps[i + 1]?.at ?? player?.duration ?? a.at, text: a.text }));
  items.sort((a, b) => a.offset - b.offset);
  drawTimeline(items, spans, appSpans);
  $('timeline').replaceChildren(...items.map((i) => {
    const li = el('li', { textContent: `${fmtTime(i.offset)}  ${i.text}` });
    li.dataset.offset = String(i.offset);
    li.addEventListener('click', () => player?.seek(i.offset));
    return li;
  }));
}

// ---------- live ----------
const kb = (bytes) => `${Math.ceil((bytes || 0) / 1024).toLocaleString()} KB`;
const ago = (iso) => {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 90 ? `${s} s ago` : `${Math.round(s / 60)} min ago`;
};
// How long each SRS's upload backlog has been non-empty, as seen by this
// page (SRS reports bytes only).
const backlogSince = new Map();

async function refreshLive() {
  const [s, active] = await Promise.all([
    api('/api/v2/srs/sessions'),
    api(`/api/v2/recordings?state=recording,paused&limit=200`),
  ]);
  if (!s.ok) return;
  const sessions = (await s.json()).sessions;
  const recording = active.ok ? (await active.json()).recordings : [];
  $('live-empty').hidden = sessions.length > 0;
  $('live').replaceChildren(...sessions.map((x) => {
    const now = recording.find((r) => r.agentId === x.user);
    let backlog = '0 KB';
    if (x.upload_backlog_bytes) {
      if (!backlogSince.has(x.session_id)) backlogSince.set(x.session_id, Date.now());
      const secs = Math.round((Date.now() - backlogSince.get(x.session_id)) / 1000);
      backlog = secs >= 1 ? `${kb(x.upload_backlog_bytes)}, pending ≥ ${secs} s` : `${kb(x.upload_backlog_bytes)}, just now`;
    } else {
      backlogSince.delete(x.session_id);
    }
    return el('tr', {},
      cell(x.user), cell(x.place), cell(x.hostname || ''),
      cell(x.state), cell(now ? `${now.callId} (${now.state})` : (x.recording ? 'yes' : 'no')),
      cell(backlog, 'num'),
      cell(x.last_error || '—', x.last_error ? 'error' : ''),
      cell(x.last_heartbeat ? ago(x.last_heartbeat) : 'none yet', 'num'),
      el('td', {}, watchButton(x.user, Boolean(now || x.recording))));
  }));
}

function watchButton(agent, recording) {
  // The directory's live_view = "always": agents not being recorded can be
  // watched too (an on-demand capture that stores nothing).
  const always = me?.settings?.live_view === 'always';
  const b = el('button', {
    className: 'watch',
    textContent: 'Watch',
    disabled: !recording && !always,
    title: recording ? `Watch ${agent}'s screen live`
      : always ? `Watch ${agent}'s screen live (not recorded: nothing is stored)`
        : 'Live view works while a recording runs',
  });
  b.dataset.agent = agent;
  b.addEventListener('click', () => { location.hash = `#/watch/${encodeURIComponent(agent)}`; });
  return b;
}

// ---------- live view ----------
// One <video> per monitor fed by Media Source Extensions from
// GET /api/v2/live/{agent}?monitor=N (fragmented MP4: init, then fragments
// as they land). The player stays at the live edge, and drops what is far
// behind so a long view does not fill memory.
let watching = null;

// `avc1.PPCCLL` from the init segment's avcC box (profile, compatibility, level).
function codecOf(bytes) {
  for (let i = 4; i + 8 < bytes.length; i++) {
    if (bytes[i] === 0x61 && bytes[i + 1] === 0x76 && bytes[i + 2] === 0x63 && bytes[i + 3] === 0x43) {
      const hex = (b) => b.toString(16).padStart(2, '0');
      return `avc1.${hex(bytes[i + 5])}${hex(bytes[i + 6])}${hex(bytes[i + 7])}`;
    }
  }
  return null;
}

// Where the init segment (ftyp + moov) ends, once it is complete.
function initEnd(bytes) {
  let at = 0;
  while (at + 8 <= bytes.length) {
    const size = ((bytes[at] << 24) >>> 0) + (bytes[at + 1] << 16) + (bytes[at + 2] << 8) + bytes[at + 3];
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    if (size < 8 || at + size > bytes.length) return null;
    at += size;
    if (type === 'moov') return at;
  }
  return null;
}

class LiveMonitor {
  constructor(agent, monitor, video, report) {
    Object.assign(this, { agent, monitor, video, report, abort: new AbortController(), queue: [], state: 'connecting' });
  }

  async run() {
    let r;
    try {
      r = await api(`/api/v2/live/${encodeURIComponent(this.agent)}?monitor=${this.monitor}`, { signal: this.abort.signal });
    } catch (e) {
      return this.set('error', `cannot reach the server: ${e.message}`);
    }
    if (!r.ok) {
      const body = await r.json().catch(() => ({}));
      return this.set(r.status === 409 ? 'none' : 'error', body.statusMessage || `HTTP ${r.status}`, r.status);
    }
    const reader = r.body.getReader();
    let head = new Uint8Array(0);
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (!this.buffer) {
          const joined = new Uint8Array(head.length + value.length);
          joined.set(head); joined.set(value, head.length);
          head = joined;
          if (initEnd(head) === null) continue;
          await this.open(codecOf(head) || 'avc1.42c01f');
          // "live" once this monitor shows a picture, not when the stream's
          // header arrived: its first fragment may still be seconds away.
          this.video.addEventListener('playing', () => {
            if (this.state === 'connecting') this.set('live', 'live');
          }, { once: true });
          this.push(head);
          head = null;
        } else {
          this.push(value);
        }
      }
      await this.drain();
      if (this.source?.readyState === 'open') this.source.endOfStream();
      this.set('ended', 'the recording ended');
    } catch (e) {
      if (!this.abort.signal.aborted) this.set('error', `the stream broke off: ${e.message}`);
    }
  }

  open(codec) {
    return new Promise((resolve, reject) => {
      const type = `video/mp4; codecs="${codec}"`;
      if (!window.MediaSource || !MediaSource.isTypeSupported(type)) {
        reject(new Error(`this browser cannot play ${type}`));
        return;
      }
      this.source = new MediaSource();
      this.video.src = URL.createObjectURL(this.source);
      this.source.addEventListener('sourceopen', () => {
        this.buffer = this.source.addSourceBuffer(type);
        this.buffer.mode = 'segments';
        this.buffer.addEventListener('updateend', () => this.pump());
        resolve();
      }, { once: true });
    });
  }

  push(bytes) {
    this.queue.push(bytes);
    this.pump();
  }

  pump() {
    const b = this.buffer;
    if (!b || b.updating) return;
    const v = this.video;
    // Keep up: jump to the live edge when more than 3 s behind, and drop
    // what is more than 30 s behind the playhead.
    if (b.buffered.length) {
      const end = b.buffered.end(b.buffered.length - 1);
      if (end - v.currentTime > 3 || v.currentTime < b.buffered.start(0)) v.currentTime = Math.max(b.buffered.start(0), end - 0.3);
      if (v.paused) v.play().catch(() => {});
      if (v.currentTime - b.buffered.start(0) > 60) {
        b.remove(0, v.currentTime - 30);
        return;
      }
    }
    const next = this.queue.shift();
    if (next) b.appendBuffer(next);
    else this.idle?.();
  }

  drain() {
    return new Promise((resolve) => {
      if (!this.queue.length && !this.buffer?.updating) { resolve(); return; }
      this.idle = () => { this.idle = null; resolve(); };
    });
  }

  set(state, text, status) {
    this.state = state;
    this.report(this, state, text, status);
  }

  stop() {
    this.abort.abort();
  }
}

function stopWatching() {
  watching?.monitors.forEach((m) => m.stop());
  watching = null;
}

async function openWatch(agent) {
  stopWatching();
  $('watch-title').textContent = `Live view: ${agent}`;
  const stateLine = $('watch-state');
  const show = (state, text) => { stateLine.dataset.state = state; stateLine.textContent = text; };
  show('connecting', 'Connecting…');
  $('watch-screens').replaceChildren();
  // How many monitors: the agent's current recording's media files.
  const p = new URLSearchParams({ agent, state: 'recording,paused', limit: '1' });
  const r = await api(`/api/v2/recordings?${p}`);
  const current = r.ok ? (await r.json()).recordings[0] : null;
  const count = Math.max(1, current?.mediaFiles?.length || 0);
  const mine = { agent, monitors: [] };
  watching = mine;
  const report = () => {
    if (watching !== mine) return;
    const states = mine.monitors.map((m) => m.state);
    const first = mine.monitors.find((m) => m.state !== 'live' && m.message);
    if (states.every((s) => s === 'live')) show('live', `Live${current ? ` — call ${current.callId}` : ''}`);
    else if (states.includes('none')) show('none', `No recording: ${first?.message || 'the agent is not being recorded'}`);
    else if (states.includes('error')) show('error', first?.message || 'error');
    else if (states.every((s) => s === 'ended' || s === 'live') && states.includes('ended')) show('ended', 'Ended: the recording is over.');
    else show('connecting', 'Connecting…');
  };
  for (let n = 0; n < count; n++) {
    const video = el('video', { muted: true, autoplay: true, playsInline: true });
    video.dataset.monitor = String(n);
    const status = el('span', { textContent: 'connecting' });
    const geometry = current?.mediaFiles?.[n]?.monitor;
    const name = geometry?.name ? `Monitor ${n + 1} (${geometry.name}${geometry.width ? `, ${geometry.width}×${geometry.height}` : ''})` : `Monitor ${n + 1}`;
    $('watch-screens').append(el('figure', {}, video, el('figcaption', {}, el('span', { textContent: name }), status)));
    const m = new LiveMonitor(agent, n, video, (mon, state, text) => {
      mon.message = text;
      status.textContent = state === 'live' ? 'live' : state;
      report();
    });
    mine.monitors.push(m);
    m.run();
  }
  watchApps(mine, current?.callId);
}

// The app lane of the call being watched (SRS sends each window change
// live): read again every 5 s while this view watches; newest first.
async function watchApps(mine, callId) {
  $('watch-apps').replaceChildren();
  $('watch-apps-box').hidden = !callId;
  while (callId && watching === mine) {
    const r = await api(`/api/v2/recordings/${encodeURIComponent(callId)}`);
    if (watching !== mine) return;
    if (r.ok) {
      const res = await r.json();
      const marks = res.screenRecordings.filter((s) => s.agentId === mine.agent).flatMap((s) => s.marks.filter((m) => m.type === 'app'));
      marks.sort((a, b) => Date.parse(b.time) - Date.parse(a.time));
      $('watch-apps').replaceChildren(...marks.map((m) => el('li', { textContent: `${new Date(m.time).toLocaleTimeString()}  ${m.class}${m.title ? ` — ${m.title}` : ''}` })));
      if (!res.screenRecordings.some((s) => ['requested', 'recording', 'paused'].includes(s.state))) return;
    }
    await new Promise((done) => setTimeout(done, 5000));
  }
}

function startLive() {
  refreshLive();
  if (liveSource) return;
  liveSource = new EventSource('/api/v2/recordings/events');
  liveSource.addEventListener('recording', (e) => {
    const d = JSON.parse(e.data);
    $('live-events-empty').hidden = true;
    $('live-events').prepend(el('li', { textContent: `${new Date(d.at).toLocaleTimeString()} ${d.agent} ${d.call_id}: ${d.state}${d.reason ? ` (${d.reason})` : ''}` }));
    refreshLive();
  });
}

// ---------- failures ----------
// One query for every state that did not complete; requested/finalizing
// count only when stuck for 10 minutes.
async function refreshFailures() {
  const p = new URLSearchParams({
    state: 'partial,failed,requested,finalizing',
    from: new Date(Date.now() - 7 * 86400e3).toISOString(),
    to: new Date(Date.now() + 3600e3).toISOString(),
    limit: '200',
  });
  const r = await api(`/api/v2/recordings?${p}`);
  const list = r.ok ? (await r.json()).recordings : [];
  const stuck = (x) => ['requested', 'finalizing'].includes(x.state) ? Date.now() - Date.parse(x.startTime) > 10 * 60e3 : true;
  const rows = list.filter(stuck);
  $('failures-empty').hidden = rows.length > 0;
  $('failures').replaceChildren(...rows.map((x) => {
    const tr = el('tr', {},
      cell(new Date(x.startTime).toLocaleString()), cell(x.callId),
      cell(x.agentId || '(no agent)'), cell(x.state, `state-${x.state}`),
      cell(x.reason || (x.state === 'requested' ? 'never started' : 'upload never completed')));
    tr.dataset.call = x.callId;
    tr.addEventListener('click', () => { location.hash = `#/recording/${encodeURIComponent(x.callId)}`; });
    return tr;
  }));
}

// ---------- routing ----------
// `#/view/arg?query`.
function parseHash() {
  const m = (location.hash || '').match(/^#\/(\w+)\/?([^?]*)\??(.*)$/);
  return m ? { view: m[1], arg: decodeURIComponent(m[2]), query: m[3] } : { view: '', arg: '', query: '' };
}

async function route() {
  const who = await whoAmI();
  const logged = Boolean(who);
  $('login').hidden = logged;
  $('nav').hidden = !logged;
  $('logout').hidden = !logged;
  $('who').textContent = logged ? `${who.user.userName} (${who.roles.join(', ')})` : '';
  for (const v of document.querySelectorAll('.view')) v.hidden = true;
  if (!logged) return;
  const may = who.may;
  // Agents who may see their own recordings get "My recordings" only.
  searchView = may.ownRecordingsOnly ? 'mine' : 'search';
  $('nav-search').hidden = !may.search || may.ownRecordingsOnly;
  $('nav-mine').hidden = !may.ownRecordingsOnly;
  $('nav-live').hidden = !may.live;
  $('nav-failures').hidden = !may.failures;
  let { view, arg, query } = parseHash();
  if (!may.search) {
    $('none-why').textContent = who.roles.includes('agent')
      ? 'Agents see their own recordings here only when the directory allows it (agents_see_own = true). Ask your administrator.'
      : `Your roles (${who.roles.join(', ') || 'none'}) give no access to recordings in the console.`;
    $('view-none').hidden = false;
    return;
  }
  const allowed = { search: !may.ownRecordingsOnly, mine: may.ownRecordingsOnly, recording: true, live: may.live, watch: may.live, failures: may.failures };
  if (!allowed[view]) { view = searchView; arg = ''; }
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.getAttribute('href') === `#/${view}`);
  if (view !== 'recording') { player?.destroy(); player = null; }
  if (view !== 'watch') stopWatching();
  if (view === 'recording') {
    $('view-recording').hidden = false;
    $('media-title').hidden = !may.download;
    $('downloads').hidden = !may.download;
    await openRecording(arg, new URLSearchParams(query).get('back'));
  } else if (view === 'live') {
    $('view-live').hidden = false;
    startLive();
  } else if (view === 'watch') {
    $('view-watch').hidden = false;
    for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.getAttribute('href') === '#/live');
    await openWatch(arg);
  } else if (view === 'failures') {
    $('view-failures').hidden = false;
    await refreshFailures();
  } else {
    $('view-search').hidden = false;
    $('search-title').hidden = !may.ownRecordingsOnly;
    for (const l of document.querySelectorAll('#filters .oversee')) l.hidden = may.ownRecordingsOnly;
    if (!query) {
      // A fresh search: the last day.
      const f = $('filters');
      f.reset();
      f.from.value = localInput(new Date(Date.now() - 86400e3));
      f.to.value = localInput(new Date(Date.now() + 3600e3));
      query = formQuery();
      history.replaceState(null, '', `#/${view}?${query}`);
    } else {
      fillForm(query);
    }
    await runSearch(query);
  }
}

window.addEventListener('hashchange', route);
// Sessions connect and heartbeat without recording events: refresh the live page too.
setInterval(() => { if (!$('view-live').hidden) refreshLive(); }, 5000);
window.screenrecConsole = { get player() { return player; }, get watching() { return watching; } };
route();
