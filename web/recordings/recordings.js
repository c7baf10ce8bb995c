// The minimal recordings page: log in (console session cookie), list the
// recent screen recordings, play one (every monitor side by side, kept in
// step). The full console (search, synchronized player, live view) is the
// next step; this page is what `screenrec demo` points at.
const api = (path, options = {}) =>
  fetch(path, { ...options, headers: { "X-Screenrec-Console": "1", ...(options.headers || {}) } });
const $ = (id) => document.getElementById(id);

async function refresh() {
  // The last week (a search without filters needs a time range).
  const from = new Date(Date.now() - 7 * 86400e3).toISOString();
  const to = new Date(Date.now() + 3600e3).toISOString();
  const r = await api(`/api/v2/recordings?limit=50&from=${from}&to=${to}`);
  if (r.status === 401) return showLogin();
  if (!r.ok) return;
  $("login").hidden = true;
  $("list").hidden = false;
  $("logout").hidden = false;
  const { recordings } = await r.json();
  $("empty").hidden = recordings.length > 0;
  const rows = $("rows");
  rows.replaceChildren(
    ...recordings.map((rec) => {
      const tr = document.createElement("tr");
      const secs = Math.max(0, ...rec.mediaFiles.map((m) => Number(m.duration) / 1000));
      for (const [text, cls] of [
        [rec.callId], [rec.agentId], [rec.state, `state-${rec.state}`], [rec.reason ?? ""],
        [new Date(rec.startTime).toLocaleString()], [rec.mediaFiles.length ? `${secs.toFixed(1)} s` : ""],
      ]) {
        const td = document.createElement("td");
        td.textContent = text;
        if (cls) td.className = cls;
        tr.append(td);
      }
      const td = document.createElement("td");
      if (rec.mediaFiles.some((m) => m.stored)) {
        const b = document.createElement("button");
        b.textContent = "Play";
        b.dataset.call = rec.callId;
        b.onclick = () => play(rec.callId);
        td.append(b);
      }
      tr.append(td);
      return tr;
    }),
  );
}

async function play(callId) {
  const r = await api(`/api/v2/recordings/${encodeURIComponent(callId)}`);
  if (!r.ok) return;
  const res = await r.json();
  $("player").hidden = false;
  $("player-title").textContent = `Call ${callId}`;
  const videos = res.mediaFiles
    .filter((m) => m.parameters.stored)
    .map((m) => {
      const v = document.createElement("video");
      v.src = m.mediaUri;
      v.controls = true;
      v.muted = true;
      v.title = `${m.parameters.agentId} — ${m.parameters.monitor}`;
      return v;
    });
  // Keep the monitors of a recording in step with the first one.
  const [lead, ...rest] = videos;
  if (lead) {
    for (const ev of ["play", "pause", "seeked"]) {
      lead.addEventListener(ev, () => rest.forEach((v) => {
        v.currentTime = lead.currentTime;
        if (ev === "play") v.play(); else if (ev === "pause") v.pause();
      }));
    }
  }
  $("videos").replaceChildren(...videos);
  const items = res.screenRecordings.flatMap((s) => [
    ...s.interactions.map((i) => `${s.agentId}: ${i.media} ${i.id} from ${Number(i.startOffset) / 1000} s` +
      (i.stopOffset ? ` to ${Number(i.stopOffset) / 1000} s` : "")),
    ...s.marks.map((m) => `${s.agentId}: ${m.type} at ${Number(m.offset) / 1000} s (${m.reason})`),
  ]);
  $("timeline").replaceChildren(...items.map((t) => Object.assign(document.createElement("li"), { textContent: t })));
  if (lead) lead.play().catch(() => {});
}

function showLogin() {
  $("login").hidden = false;
  $("list").hidden = true;
  $("logout").hidden = true;
}

$("login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  const r = await api("/api/v2/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: f.get("username"), password: f.get("password") }),
  });
  if (!r.ok) {
    $("login-error").textContent = (await r.json()).statusMessage ?? "login failed";
    return;
  }
  $("who").textContent = (await r.json()).user.userName;
  $("login-error").textContent = "";
  refresh();
});
$("logout").addEventListener("click", async () => {
  await api("/api/v2/auth/logout", { method: "POST" });
  showLogin();
});

refresh();
setInterval(refresh, 3000);
