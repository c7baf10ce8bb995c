// The demo agent desktop: the page an integrator copies. It uses ../srs-client.js
// exactly as a custom desktop would. `?poll=MS` shortens the poll period and
// `?recpoll=MS` the recording-state poll (tests). "Record in this browser"
// (or `?recorder=browser`) uses ../srs-browser.js instead: the page itself
// records the screen, no SRS on the PC (docs/browser-recorder.md).
import { SrsClient } from '../srs-client.js';
import { BrowserSrs } from '../srs-browser.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
$('server').value = location.origin;
$('in-browser').checked = params.get('recorder') === 'browser';
let client = null;

function log(text, kind = 'info') {
  const li = document.createElement('li');
  li.className = kind;
  li.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  $('log').prepend(li);
}

function show(state) {
  const badge = $('state');
  badge.className = `badge ${state}`;
  badge.textContent = { loggedOut: 'logged out', connecting: 'connecting…', connected: 'connected', stale: 'reconnecting…' }[state] ?? state;
  $('session').hidden = state === 'loggedOut' || state === 'connecting';
  if (state === 'loggedOut') $('recording').hidden = true;
  $('login').hidden = !$('session').hidden;
}

// The recording indicator, from srs-client's 'recordingchange' events.
function showRecording(notice) {
  const el = $('recording');
  const at = notice.since ? new Date(notice.since).toLocaleTimeString() : '';
  const why = notice.reason ? ` (${notice.reason === 'desktop' ? 'card details' : notice.reason})` : '';
  const text = {
    recording: `● Recording since ${at}`,
    masked: `● Recording, some windows hidden${why} since ${at}`,
    paused: `❚❚ Paused${why} since ${at}`,
    idle: `Not recording since ${at}`,
    stopped_by_agent: `⚠ Not recording: screen sharing stopped at ${at}`,
  }[notice.state] ?? notice.state;
  $('share').hidden = notice.state !== 'stopped_by_agent';
  el.className = `rec ${notice.state}`;
  el.dataset.state = notice.state;
  el.textContent = text;
  el.hidden = false;
}

function parseDevices(text) {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const [dn, sw] = s.split('@');
      return { dn: dn.trim(), switch: (sw ?? '').trim() };
    });
}

$('login').addEventListener('submit', async (event) => {
  event.preventDefault();
  const inBrowser = $('in-browser').checked;
  client = inBrowser
    ? new BrowserSrs({ server: $('server').value || undefined })
    : new SrsClient({
      srsUrl: $('srs').value,
      pollIntervalMs: Number(params.get('poll')) || 30000,
      recordingPollMs: Number(params.get('recpoll')) || 2000,
      retryDelayMs: 1000,
    });
  client.addEventListener('recordingchange', (e) => {
    showRecording(e.detail);
    log(`screen recording: ${e.detail.state}${e.detail.reason ? ` (${e.detail.reason})` : ''}`);
  });
  client.addEventListener('state', (e) => show(e.detail.state));
  client.addEventListener('connected', () => log('SRS session connected'));
  client.addEventListener('stale', () => log('SRS did not answer the poll; retrying', 'warn'));
  client.addEventListener('loggedOut', () => log('logged out'));
  client.addEventListener('error', (e) => log(`error: ${e.detail.error.message}`, 'error'));
  try {
    const user = await client.login({
      username: $('username').value,
      password: $('password').value,
      server: $('server').value || undefined,
      peerServer: $('peer').value || undefined,
      place: $('place').value || undefined,
      devices: parseDevices($('devices').value),
    });
    $('who').textContent = `${user.firstName} ${user.lastName} (${user.userName})`.trim();
    $('how').textContent = inBrowser
      ? 'This browser tab records the screen you shared (keep it open).'
      : 'The SRS on this PC keeps its session with RWS while this page polls it.';
    client.pollRecording(); // show the indicator at once, not after the first period
  } catch (e) {
    show('loggedOut');
  }
});

// The browser recorder: the agent stopped sharing; ask for the screen again.
$('share').addEventListener('click', async () => {
  try {
    await client.share();
  } catch (e) {
    log(`screen not shared: ${e.message}`, 'error');
  }
});

$('logout').addEventListener('click', async () => {
  try {
    await client?.logout();
  } catch (e) {
    log(`logout failed: ${e.message}`, 'error');
  }
});

// PCI: blank the screen recording while the agent types card details.
$('pci').addEventListener('click', async () => {
  const pausing = $('pci').getAttribute('aria-pressed') !== 'true';
  try {
    const r = pausing ? await client.pauseRecording() : await client.resumeRecording();
    $('pci').setAttribute('aria-pressed', String(pausing));
    $('pci').textContent = pausing ? 'Resume screen recording' : 'Pause screen recording (card details)';
    log(pausing ? `screen recording paused${r.recording ? '' : ' (applies to the next recording)'}` : 'screen recording resumed');
  } catch (e) {
    log(`pause/resume failed: ${e.message}`, 'error');
  }
});

show('loggedOut');
window.srsDemo = { get client() { return client; } };
