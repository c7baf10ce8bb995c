// The supervisor console: search, a player that lays out every monitor by
// its geometry and plays them on one clock with the call's timeline, live
// SRS sessions, and recordings that did not complete. Plain ES module,
// served by RWS from the binary; talks to the RWS API with the console's
// session cookie.
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
async function whoAmI() {
  const r = await api('/api/v2/recordings?limit=1&from=2000-01-01T00:00:00Z&to=2000-01-01T00:00:01Z');
  return r.status !== 401;
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
let cursorUrl = null;
let links = { next: null, prev: null };

function searchUrl() {
  const f = new FormData($('filters'));
  const p = new URLSearchParams();
  for (const [k, v] of f) {
    if (!v) continue;
    p.set(k, k === 'from' || k === 'to' ? new Date(v).toISOString() : v);
  }
  p.set('limit', '25');
  return `/api/v2/recordings?${p}`;
}

async function runSearch(url) {
  $('search-error').textContent = '';
  const r = await api(url);
  const body = await r.json();
  if (!r.ok) {
    $('search-error').textContent = body.statusMessage;
    return;
  }
  links = { next: body.next, prev: body.prev };
  $('next').disabled = !body.next;
  $('prev').disabled = !body.prev;
  $('results').replaceChildren(...body.recordings.map((rec) => {
    const tr = el('tr');
    tr.dataset.call = rec.callId;
    tr.append(
      el('td', { textContent: new Date(rec.startTime).toLocaleString() }),
      el('td', { textContent: rec.callId }),
      el('td', { textContent: rec.agentId }),
      el('td', { textContent: fmtTime(Number(rec.duration) / 1000) }),
      el('td', { textContent: String(rec.mediaFiles.length) }),
      el('td', { textContent: rec.state + (rec.reason && rec.state !== 'completed' ? ` (${rec.reason})` : ''), className: `state-${rec.state}` }),
      el('td', {}, ...rec.labels.map((l) => el('span', { className: 'label', textContent: l }))),
    );
    tr.addEventListener('click', () => { location.hash = `#/recording/${encodeURIComponent(rec.callId)}`; });
    return tr;
  }));
}

$('filters').addEventListener('submit', (e) => {
  e.preventDefault();
  cursorUrl = searchUrl();
  runSearch(cursorUrl);
});
$('next').addEventListener('click', () => links.next && runSearch(links.next));
$('prev').addEventListener('click', () => links.prev && runSearch(links.prev));

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
    const scale = Math.min(1, (stage.clientWidth || 1000) / (maxX - minX));
    stage.style.height = `${(maxY - minY) * scale}px`;
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
  setSpeed(s) { this.speed = s; this.render(false); }
  destroy() { cancelAnimationFrame(this.raf); this.videos.forEach((v) => { v.pause(); v.removeAttribute('src'); v.load(); }); }
}

$('play').addEventListener('click', () => player && (player.playing ? player.pause() : player.play()));
$('seek').addEventListener('input', (e) => player?.seek(Number(e.target.value)));
$('speed').addEventListener('change', (e) => player?.setSpeed(Number(e.target.value)));

async function openRecording(callId) {
  player?.destroy();
  player = null;
  const r = await api(`/api/v2/recordings/${encodeURIComponent(callId)}`);
  const res = await r.json();
  if (!r.ok) {
    $('rec-title').textContent = res.statusMessage || 'not found';
    return;
  }
  $('rec-title').textContent = `Call ${callId}`;
  $('rec-state').replaceChildren(...res.screenRecordings.map((s) => el('span', {
    className: `state-${s.state}`,
    textContent: `${s.agentId}: ${s.state}${s.reason ? ` (${s.reason})` : ''}${s.legalHold ? ' — legal hold' : ''}  `,
  })));
  const media = res.mediaFiles.filter((m) => m.parameters.stored);
  if (media.length) player = new Player($('stage'), media);
  // The timeline: the call's events, then pauses; click to jump.
  const items = [];
  const ev = await api(`/api/v2/interactions/${encodeURIComponent(callId)}/events`);
  if (ev.ok) {
    for (const e of (await ev.json()).events) items.push({ at: Date.parse(e.timestamp), text: `${e.type}${e.dn ? ` (${e.dn})` : ''}${e.agent ? ` (${e.agent})` : ''}` });
  }
  for (const s of res.screenRecordings) {
    for (const m of s.marks) items.push({ at: Date.parse(m.time), text: `screen ${m.type} — ${m.reason} (${s.agentId})` });
  }
  items.sort((a, b) => a.at - b.at);
  $('timeline').replaceChildren(...items.map((i) => {
    const offset = player ? (i.at - player.origin) / 1000 : 0;
    const li = el('li', { textContent: `${fmtTime(offset)}  ${i.text}` });
    li.dataset.offset = String(offset);
    li.addEventListener('click', () => player?.seek(offset));
    return li;
  }));
  $('downloads').replaceChildren(...res.mediaFiles.map((m) => el('li', {},
    el('a', { href: m.mediaUri.replace('/play/', '/download/'), textContent: `${m.parameters.agentId} ${m.parameters.monitor} (${fmtTime(Number(m.duration) / 1000)})` }))));
}

// ---------- live ----------
async function refreshLive() {
  const [s, active] = await Promise.all([
    api('/api/v2/srs/sessions'),
    api(`/api/v2/recordings?state=recording&limit=200`),
  ]);
  if (!s.ok) return;
  const sessions = (await s.json()).sessions;
  const recording = active.ok ? (await active.json()).recordings : [];
  $('live').replaceChildren(...sessions.map((x) => {
    const now = recording.find((r) => r.agentId === x.user);
    return el('tr', {},
      el('td', { textContent: x.user }), el('td', { textContent: x.place }), el('td', { textContent: x.hostname || '' }),
      el('td', { textContent: x.state }), el('td', { textContent: now ? now.callId : (x.recording ? 'yes' : '') }),
      el('td', { textContent: x.upload_backlog_bytes ? `${(x.upload_backlog_bytes / 1024).toFixed(0)} KiB` : '0' }),
      el('td', { textContent: x.last_error || '', className: x.last_error ? 'error' : '' }),
      el('td', { textContent: x.last_heartbeat ? new Date(x.last_heartbeat).toLocaleTimeString() : '' }));
  }));
}

function startLive() {
  refreshLive();
  if (liveSource) return;
  liveSource = new EventSource('/api/v2/recordings/events');
  liveSource.addEventListener('recording', (e) => {
    const d = JSON.parse(e.data);
    $('live-events').prepend(el('li', { textContent: `${new Date(d.at).toLocaleTimeString()} ${d.agent} ${d.call_id}: ${d.state}${d.reason ? ` (${d.reason})` : ''}` }));
    refreshLive();
  });
}

// ---------- failures ----------
async function refreshFailures() {
  const from = new Date(Date.now() - 7 * 86400e3).toISOString();
  const to = new Date(Date.now() + 3600e3).toISOString();
  const lists = await Promise.all(['partial', 'failed', 'requested', 'finalizing'].map(async (st) => {
    const r = await api(`/api/v2/recordings?state=${st}&from=${from}&to=${to}&limit=200`);
    return r.ok ? (await r.json()).recordings : [];
  }));
  const stuck = (r) => ['requested', 'finalizing'].includes(r.state) ? Date.now() - Date.parse(r.startTime) > 10 * 60e3 : true;
  const rows = lists.flat().filter(stuck).sort((a, b) => Date.parse(b.startTime) - Date.parse(a.startTime));
  $('failures').replaceChildren(...rows.map((r) => {
    const tr = el('tr', {},
      el('td', { textContent: new Date(r.startTime).toLocaleString() }), el('td', { textContent: r.callId }),
      el('td', { textContent: r.agentId || '(no agent)' }), el('td', { textContent: r.state, className: `state-${r.state}` }),
      el('td', { textContent: r.reason || (r.state === 'requested' ? 'never started' : 'upload never completed') }));
    tr.dataset.call = r.callId;
    tr.addEventListener('click', () => { location.hash = `#/recording/${encodeURIComponent(r.callId)}`; });
    return tr;
  }));
}

// ---------- routing ----------
async function route() {
  const logged = await whoAmI();
  $('login').hidden = logged;
  $('nav').hidden = !logged;
  $('logout').hidden = !logged;
  $('who').textContent = logged ? sessionStorage.getItem('who') || '' : '';
  for (const v of document.querySelectorAll('.view')) v.hidden = true;
  if (!logged) return;
  const [, view, arg] = (location.hash || '#/search').match(/^#\/(\w+)\/?(.*)$/) || [null, 'search', ''];
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.getAttribute('href') === `#/${view}`);
  if (view !== 'recording') { player?.destroy(); player = null; }
  if (view === 'recording') {
    $('view-recording').hidden = false;
    await openRecording(decodeURIComponent(arg));
  } else if (view === 'live') {
    $('view-live').hidden = false;
    startLive();
  } else if (view === 'failures') {
    $('view-failures').hidden = false;
    await refreshFailures();
  } else {
    $('view-search').hidden = false;
    const f = $('filters');
    if (!f.from.value) {
      f.from.value = localInput(new Date(Date.now() - 86400e3));
      f.to.value = localInput(new Date(Date.now() + 3600e3));
    }
    cursorUrl = cursorUrl || searchUrl();
    await runSearch(cursorUrl);
  }
}

window.addEventListener('hashchange', route);
// Sessions connect and heartbeat without recording events: refresh the live page too.
setInterval(() => { if (!$('view-live').hidden) refreshLive(); }, 5000);
window.screenrecConsole = { get player() { return player; } };
route();
