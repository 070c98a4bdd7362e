// hookrelay admin page. Everything it shows comes from webhooks or the
// configuration, so it is written with textContent, never as HTML.
"use strict";

const tokenKey = "hookrelay-admin-token";
const $ = (id) => document.getElementById(id);

function say(msg, isError) {
  const s = $("status");
  s.textContent = msg;
  s.className = isError ? "error" : "";
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(tokenKey);
  if (token) headers.Authorization = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try { data = await resp.json(); } catch (_) { /* not JSON */ }
  if (!resp.ok) {
    const why = data && data.error ? data.error : resp.statusText;
    throw new Error(resp.status === 401 ? "admin token missing or wrong: enter it above" : `${resp.status}: ${why}`);
  }
  return data;
}

// when shortens an RFC 3339 time to milliseconds, UTC.
function when(s) {
  return s ? String(s).replace("T", " ").replace(/(\.\d{3})\d*Z$/, "$1Z") : "";
}

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === undefined || text === null || text === "" ? "-" : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function button(td, label, cls, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.className = cls;
  b.addEventListener("click", onClick);
  td.appendChild(b);
  return b;
}

// Destinations

async function loadDestinations() {
  const rows = $("dest-rows");
  try {
    const data = await api("GET", "/api/v1/destinations");
    const list = Array.isArray(data) ? data : (data && data.destinations) || [];
    rows.replaceChildren();
    for (const d of list) {
      const tr = document.createElement("tr");
      tr.dataset.name = d.name;
      if (d.gone) tr.className = "gone";
      cell(tr, d.name);
      cell(tr, d.breaker, d.breaker);
      cell(tr, d.gone ? "yes" : "no");
      cell(tr, d.backlog);
      cell(tr, (d.budget_left || []).map((b) => `${b.left}/${b.max} per ${b.per}`).join(", "));
      rows.appendChild(tr);
    }
  } catch (e) {
    say("destinations: " + e.message, true);
  }
}

// Dead letters

function filter() {
  const f = new FormData($("dl-filter"));
  const out = {};
  for (const [k, v] of f.entries()) {
    const s = String(v).trim();
    if (s !== "") out[k] = s;
  }
  return out;
}

function actionBody(f) {
  const body = {};
  for (const k of ["destination", "source", "reason", "since", "until"]) if (f[k]) body[k] = f[k];
  if (f.status) body.status = Number(f.status);
  if (f.id) body.ids = f.id.split(",").map((s) => s.trim()).filter(Boolean);
  return body;
}

// loadDeadLetters lists the dead letters matching the filter; note, if
// given, says what was just done and stays in the status line.
async function loadDeadLetters(note) {
  const q = new URLSearchParams(filter());
  const rows = $("dl-rows");
  try {
    const data = await api("GET", "/api/v1/deadletters?" + q.toString());
    rows.replaceChildren();
    for (const e of data.deadletters) {
      const tr = document.createElement("tr");
      tr.dataset.id = e.id;
      const d = e.delivery || {};
      cell(tr, e.id);
      cell(tr, when(e.dead_at));
      cell(tr, d.destination);
      cell(tr, d.source);
      cell(tr, e.reason);
      cell(tr, e.last_status);
      cell(tr, e.attempts);
      cell(tr, e.last_error, "error");
      const td = cell(tr, "");
      td.textContent = "";
      button(td, "Replay", "replay", () => replay({ ids: [e.id] }, false));
      button(td, "Purge", "purge danger", () => purge({ ids: [e.id] }, `dead letter ${e.id}`));
      if (d.event_id) button(td, "History", "history", () => { $("ev-id").value = d.event_id; loadEvent(); });
      rows.appendChild(tr);
    }
    say((typeof note === "string" ? note + "; " : "") + `${data.count} dead letter(s) listed`);
  } catch (e) {
    say("dead letters: " + e.message, true);
  }
}

async function replay(body, dryRun) {
  try {
    const res = await api("POST", "/api/v1/deadletters/replay", Object.assign({}, body, { dry_run: dryRun }));
    const skipped = (res.skipped || []).map((s) => `${s.id} (${s.reason})`).join(", ");
    const msg = `${dryRun ? "would replay" : "replayed"} ${res.count}: ${res.replayed.join(", ") || "none"}` +
      (skipped ? `; skipped ${skipped}` : "");
    if (dryRun) say(msg); else await loadDeadLetters(msg);
  } catch (e) {
    say("replay: " + e.message, true);
  }
}

async function purge(body, what) {
  if (!window.confirm(`Delete ${what}? This cannot be undone.`)) return;
  try {
    const res = await api("POST", "/api/v1/deadletters/purge", body);
    await loadDeadLetters(`purged ${res.purged}`);
  } catch (e) {
    say("purge: " + e.message, true);
  }
}

function matching() {
  const body = actionBody(filter());
  if (Object.keys(body).length === 0) {
    say("set a filter first: acting on every dead letter is for the CLI's --all", true);
    return null;
  }
  return body;
}

// Event history

async function loadEvent() {
  const id = $("ev-id").value.trim();
  if (!id) return;
  const rows = $("ev-rows");
  try {
    const v = await api("GET", "/api/v1/events/" + encodeURIComponent(id));
    rows.replaceChildren();
    for (const r of v.history) {
      const tr = document.createElement("tr");
      tr.dataset.kind = r.kind;
      cell(tr, when(r.at));
      cell(tr, r.stage);
      cell(tr, r.kind);
      cell(tr, r.destination);
      cell(tr, r.attempt);
      cell(tr, r.status);
      cell(tr, r.detail, "error");
      rows.appendChild(tr);
    }
    $("ev-body").textContent = v.event ? JSON.stringify(v.event, null, 2) : "The event is no longer stored.";
    say(`event ${id}: ${v.history.length} step(s)`);
  } catch (e) {
    rows.replaceChildren();
    $("ev-body").textContent = "";
    say("event: " + e.message, true);
  }
}

function refresh() {
  loadDestinations();
  loadDeadLetters();
}

function showTokenState() {
  $("token-state").textContent = sessionStorage.getItem(tokenKey) ? "token set for this tab" : "no token";
}

document.addEventListener("DOMContentLoaded", () => {
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("token").value.trim();
    if (t) sessionStorage.setItem(tokenKey, t); else sessionStorage.removeItem(tokenKey);
    $("token").value = "";
    showTokenState();
    refresh();
  });
  $("dest-refresh").addEventListener("click", loadDestinations);
  $("dl-filter").addEventListener("submit", (ev) => { ev.preventDefault(); loadDeadLetters(); });
  $("dl-replay-dry").addEventListener("click", () => { const b = matching(); if (b) replay(b, true); });
  $("dl-replay-all").addEventListener("click", () => { const b = matching(); if (b) replay(b, false); });
  $("dl-purge-all").addEventListener("click", () => { const b = matching(); if (b) purge(b, "every dead letter matching the filter"); });
  $("ev-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadEvent(); });
  showTokenState();
  refresh();
  setInterval(loadDestinations, 5000);
});
