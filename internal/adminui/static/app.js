// hookrelay admin page. Everything it shows comes from webhooks or the
// configuration, so it is written with textContent, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const pageSize = 50;

function say(msg, isError) {
  const s = $("status");
  s.textContent = msg;
  s.className = isError ? "error" : "";
}

// The token is traded once for a session cookie (HttpOnly, gone when the
// browser closes), so every tab of this browser is signed in; see
// docs/ADMIN.md. Changes carry X-Hookrelay-Page, which only this page sends.
async function api(method, path, body) {
  const headers = { Accept: "application/json", "X-Hookrelay-Page": "1" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  // A request made before signing out is awaited by the sign-out, and its
  // answer dropped: it never fills the page again.
  const epoch = state.epoch;
  const sent = fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  state.inflight.add(sent);
  let resp;
  try { resp = await sent; } finally { state.inflight.delete(sent); }
  let data = null;
  try { data = await resp.json(); } catch (_) { /* not JSON */ }
  if (epoch !== state.epoch) return new Promise(() => {}); // signed out meanwhile: the caller goes no further
  if (!resp.ok) {
    const why = data && data.error ? data.error : resp.statusText;
    if (resp.status === 401) {
      showSignIn(true);
      throw new Error("admin token missing or wrong: enter it above");
    }
    throw new Error(`${resp.status}: ${why}`);
  }
  return data;
}

// Times: relative ("12 min ago"), with the UTC time as a tooltip, kept
// fresh by tick().

function ago(t, now) {
  const d = Math.round((now - t) / 1000);
  const a = Math.abs(d);
  let s;
  if (a < 5) return d >= 0 ? "just now" : "now";
  if (a < 60) s = `${a} s`;
  else if (a < 3600) s = `${Math.floor(a / 60)} min`;
  else if (a < 86400) s = `${Math.floor(a / 3600)} h ${Math.floor((a % 3600) / 60)} min`;
  else s = `${Math.floor(a / 86400)} d ${Math.floor((a % 86400) / 3600)} h`;
  return d >= 0 ? `${s} ago` : `in ${s}`;
}

function utc(s) {
  return String(s).replace("T", " ").replace(/(\.\d{3})?\d*Z$/, "Z");
}

function timeEl(iso, prefix) {
  const t = document.createElement("time");
  if (!iso) { t.textContent = "-"; return t; }
  t.dateTime = iso;
  t.dataset.prefix = prefix || "";
  t.title = utc(iso);
  t.textContent = (prefix || "") + ago(Date.parse(iso), Date.now());
  return t;
}

function tick() {
  const now = Date.now();
  for (const t of document.querySelectorAll("time[datetime]")) {
    t.textContent = (t.dataset.prefix || "") + ago(Date.parse(t.dateTime), now);
  }
}

// DOM helpers

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function cell(tr, content, cls) {
  const td = el("td", cls);
  if (content instanceof Node) td.appendChild(content);
  else td.textContent = content === undefined || content === null || content === "" ? "-" : String(content);
  tr.appendChild(td);
  return td;
}

function button(parent, label, cls, onClick, key) {
  const b = el("button", cls, label);
  b.type = "button";
  if (key) b.dataset.key = key;
  b.addEventListener("click", onClick);
  parent.appendChild(b);
  return b;
}

// keepFocus re-renders a table without losing the keyboard's place: the
// focused button's data-key is focused again afterwards.
function keepFocus(tbody, render) {
  const a = document.activeElement;
  const key = a && tbody.contains(a) ? a.dataset.key : null;
  render();
  if (key) {
    const again = tbody.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
}

function confirmDialog(text, okLabel) {
  const d = $("confirm");
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = okLabel;
  return new Promise((resolve) => {
    const listening = new AbortController();
    const finish = (v) => {
      listening.abort(); // this question's listeners go with it
      d.close();
      resolve(v);
    };
    const opts = { signal: listening.signal };
    $("confirm-ok").addEventListener("click", () => finish(true), opts);
    $("confirm-cancel").addEventListener("click", () => finish(false), opts);
    d.addEventListener("cancel", (ev) => { ev.preventDefault(); finish(false); }, opts); // Escape
    d.showModal();
    $("confirm-cancel").focus();
  });
}

// Charts: hand-drawn SVG, one bar per interval (a line for the backlog),
// with each point's value in data-value and a tooltip.

const svgNS = "http://www.w3.org/2000/svg";

function svg(tag, attrs) {
  const e = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}

function stepMs(step) {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(step) || [];
  return ((+m[1] || 0) * 3600 + (+m[2] || 0) * 60 + (+m[3] || 0)) * 1000;
}

function chart(title, values, trend, cls, opts) {
  const o = Object.assign({ w: 240, h: 56, line: false, labels: true }, opts);
  const box = el("figure", "chart " + cls);
  const sum = values.reduce((a, v) => a + (v || 0), 0);
  const max = Math.max(1, ...values.map((v) => v || 0));
  const start = Date.parse(trend.start), step = stepMs(trend.step);
  const g = svg("svg", { viewBox: `0 0 ${o.w} ${o.h}`, width: o.w, height: o.h, role: "img", class: "chart-svg" });
  const last = [...values].reverse().find((v) => v !== null && v !== undefined);
  const label = o.line ? `${title}: now ${last ?? "unknown"}, peak ${max}` : `${title}: ${sum} in all, peak ${max} per ${trend.step}`;
  g.setAttribute("aria-label", label);
  g.appendChild(svg("title")).textContent = label;
  const bw = o.w / values.length;
  const pts = [];
  values.forEach((v, i) => {
    if (v === null || v === undefined) return;
    const x = i * bw, y = o.h - 2 - (v / max) * (o.h - 4);
    const at = new Date(start + i * step).toISOString().slice(11, 16);
    if (o.line) {
      pts.push(`${(x + bw / 2).toFixed(1)},${y.toFixed(1)}`);
      const c = g.appendChild(svg("circle", { cx: (x + bw / 2).toFixed(1), cy: y.toFixed(1), r: 1.6, class: "pt", "data-value": v }));
      c.appendChild(svg("title")).textContent = `${at} UTC: ${v}`;
    } else if (v > 0) {
      const r = g.appendChild(svg("rect", { x: x.toFixed(1), y: y.toFixed(1), width: Math.max(bw - 1, 1).toFixed(1), height: (o.h - 2 - y).toFixed(1), class: "pt", "data-value": v }));
      r.appendChild(svg("title")).textContent = `${at} UTC: ${v}`;
    }
  });
  if (o.line && pts.length > 1) g.insertBefore(svg("polyline", { points: pts.join(" "), class: "line" }), g.children[1]);
  g.appendChild(svg("line", { x1: 0, y1: o.h - 1, x2: o.w, y2: o.h - 1, class: "axis" }));
  if (o.labels) {
    const cap = el("figcaption", null, title + " ");
    cap.appendChild(el("b", null, o.line ? (last ?? "–") : sum));
    cap.appendChild(el("span", "muted", o.line ? " now" : " in all"));
    box.appendChild(cap);
  }
  box.appendChild(g);
  return box;
}

function charts(container, t) {
  container.replaceChildren(
    chart("Delivered", t.delivered, t, "delivered"),
    chart("Failed", t.failed, t, "failed"),
    chart("Throttled (429)", t.throttled, t, "throttled"),
    chart("Dead-lettered", t.dead_lettered, t, "dead"),
    chart("Backlog", t.backlog, t, "backlog", { line: true }),
  );
}

// At a glance

const state = { dests: [], destPage: 0, dlOffset: 0, dlTotal: 0, detail: null, canTrend: true, epoch: 0, inflight: new Set(), signingOut: false };

async function loadOverview() {
  if (!state.canTrend) return;
  try {
    const names = visibleDestinations().map((d) => d.name);
    if (state.detail) names.push(state.detail);
    const q = new URLSearchParams({ window: $("window").value });
    for (const n of new Set(names)) q.append("destination", n);
    const t = await api("GET", "/api/v1/trends?" + q.toString());
    charts($("overall-charts"), t.overall);
    for (const d of visibleDestinations()) {
      const td = document.querySelector(`#dest-rows tr[data-name="${CSS.escape(d.name)}"] td.spark`);
      const dt = t.destinations && t.destinations[d.name];
      if (td && dt) {
        td.replaceChildren(chart(`${d.name} delivered`, dt.delivered, dt, "delivered", { w: 120, h: 22, labels: false }),
          chart(`${d.name} failed or throttled`, dt.failed.map((v, i) => v + dt.throttled[i]), dt, "failed", { w: 120, h: 22, labels: false }));
      }
    }
    if (state.detail && t.destinations && t.destinations[state.detail]) charts($("dest-charts"), t.destinations[state.detail]);
  } catch (e) {
    if (/^404/.test(e.message)) { state.canTrend = false; return; } // not a dispatch instance
    say("trends: " + e.message, true);
  }
}

function summarize() {
  const bad = state.dests.filter((d) => d.health !== "ok");
  const backlog = state.dests.reduce((a, d) => a + d.backlog, 0);
  const items = [
    [`${bad.length} of ${state.dests.length}`, "destinations not ok", bad.length ? "bad" : "good"],
    [String(backlog), "deliveries waiting", backlog ? "warn" : "good"],
    [String(state.dlTotal), "dead letters matching the filter", state.dlTotal ? "warn" : "good"],
  ];
  $("summary").replaceChildren(...items.map(([n, what, cls]) => {
    const li = el("li", cls);
    li.appendChild(el("b", null, n));
    li.appendChild(document.createTextNode(" " + what));
    return li;
  }));
}

// Destinations

function filteredDestinations() {
  const q = $("dest-q").value.trim().toLowerCase();
  const problems = $("dest-problems").checked;
  return state.dests.filter((d) => (!q || d.name.toLowerCase().includes(q)) && (!problems || d.health !== "ok"));
}

function visibleDestinations() {
  const all = filteredDestinations();
  const pages = Math.max(1, Math.ceil(all.length / pageSize));
  state.destPage = Math.min(state.destPage, pages - 1);
  return all.slice(state.destPage * pageSize, (state.destPage + 1) * pageSize);
}

function healthCell(d) {
  const box = el("div");
  box.appendChild(el("span", "badge " + d.health, d.health));
  if (d.breaker !== "closed") {
    box.appendChild(el("div", "since", ""));
    box.lastChild.appendChild(timeEl(d.breaker_since, `breaker ${d.breaker === "open" ? "open" : "half-open"} since `));
    box.lastChild.appendChild(el("span", "muted", ` (${utc(d.breaker_since)})`));
  }
  if (!d.owned) box.appendChild(el("div", "muted", "dispatched by another instance"));
  return box;
}

function answerCell(a) {
  if (!a) return "-";
  const box = el("div");
  const head = box.appendChild(el("div"));
  head.appendChild(el("b", a.outcome === "delivered" ? "good" : "bad", a.status ? String(a.status) : a.outcome));
  head.appendChild(document.createTextNode(" "));
  head.appendChild(timeEl(a.at));
  const text = a.error || a.excerpt;
  if (text) box.appendChild(el("div", "excerpt", text));
  return box;
}

function nextCell(d) {
  const box = el("div");
  if (d.next_probe) box.appendChild(el("div")).appendChild(timeEl(d.next_probe, "probe "));
  // While the breaker is open the held delivery waits for the probe.
  if (d.next_attempt && !d.next_probe) box.appendChild(el("div")).appendChild(timeEl(d.next_attempt, "retry "));
  return box.childElementCount ? box : "-";
}

function backlogCell(d) {
  if (!d.backlog) return "0";
  const box = el("div", null, String(d.backlog));
  if (d.oldest) box.appendChild(el("div", "muted")).appendChild(timeEl(d.oldest, "oldest "));
  return box;
}

function renderDestinations() {
  const rows = $("dest-rows");
  const all = filteredDestinations();
  const page = visibleDestinations();
  keepFocus(rows, () => {
    rows.replaceChildren();
    for (const d of page) {
      const tr = el("tr");
      tr.dataset.name = d.name;
      tr.dataset.health = d.health;
      if (d.gone) tr.className = "gone";
      cell(tr, d.name, "name");
      cell(tr, healthCell(d), "health");
      cell(tr, answerCell(d.last_answer), "answer");
      cell(tr, nextCell(d));
      cell(tr, backlogCell(d), "backlog");
      cell(tr, (d.budget_left || []).map((b) => `${b.left}/${b.max} per ${b.per}`).join(", "), "budget");
      cell(tr, "", "spark");
      const td = cell(tr, "");
      td.textContent = "";
      button(td, "Trends", "details", () => { state.detail = d.name; $("dest-detail").hidden = false; $("dest-detail-h").textContent = `Trends of ${d.name}`; loadOverview(); }, "trend:" + d.name);
      button(td, "Dead letters", "", () => { $("dl-filter").elements.destination.value = d.name; state.dlOffset = 0; loadDeadLetters(); $("deadletters").scrollIntoView(); }, "dl:" + d.name);
      rows.appendChild(tr);
    }
  });
  const from = all.length ? state.destPage * pageSize + 1 : 0;
  $("dest-range").textContent = `${from}–${state.destPage * pageSize + page.length} of ${all.length}`;
  $("dest-prev").disabled = state.destPage === 0;
  $("dest-next").disabled = (state.destPage + 1) * pageSize >= all.length;
}

async function loadDestinations() {
  try {
    const data = await api("GET", "/api/v1/destinations");
    state.dests = (data && data.destinations) || [];
    renderDestinations();
    summarize();
    await loadOverview();
  } catch (e) {
    if (/^404/.test(e.message)) { $("dest-range").textContent = "this instance does not dispatch"; return; }
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

function describe(f) {
  return Object.entries(f).map(([k, v]) => `${k}=${v}`).join(" ");
}

// loadDeadLetters lists a page of the dead letters matching the filter,
// newest first; note, if given, says what was just done.
async function loadDeadLetters(note) {
  const q = new URLSearchParams(filter());
  q.set("order", "newest");
  q.set("limit", String(pageSize));
  q.set("offset", String(state.dlOffset));
  const rows = $("dl-rows");
  try {
    const data = await api("GET", "/api/v1/deadletters?" + q.toString());
    state.dlTotal = data.total;
    keepFocus(rows, () => {
      rows.replaceChildren();
      for (const e of data.deadletters) rows.appendChild(deadLetterRow(e));
    });
    const from = data.total ? state.dlOffset + 1 : 0;
    $("dl-range").textContent = `${from}–${state.dlOffset + data.count} of ${data.total}`;
    $("dl-prev").disabled = state.dlOffset === 0;
    $("dl-next").disabled = state.dlOffset + data.count >= data.total;
    summarize();
    say((typeof note === "string" ? note + "; " : "") + `${data.total} dead letter(s) match`);
  } catch (e) {
    say("dead letters: " + e.message, true);
  }
}

function deadLetterRow(e) {
  const tr = el("tr");
  tr.dataset.id = e.id;
  const d = e.delivery || {};
  const dead = el("div");
  dead.appendChild(timeEl(e.dead_at));
  dead.appendChild(el("div", "muted", utc(e.dead_at)));
  cell(tr, dead);
  const what = el("div");
  what.appendChild(el("div", "title", e.title || (d.card ? "(a card without a title)" : "(no card rendered)")));
  // An id is opaque: "<event id>:<destination>:<replays>", or a number for a
  // dead letter stored before ids were names. The event is named apart only
  // when the id does not name it already.
  const ids = what.appendChild(el("div", "muted"));
  ids.appendChild(el("code", "dl-id", e.id));
  if (!d.event_id || !e.id.startsWith(d.event_id + ":")) {
    ids.appendChild(document.createTextNode(" · event "));
    ids.appendChild(el("code", null, d.event_id || "-"));
  }
  if (d.source) ids.appendChild(document.createTextNode(` · from ${d.source}`));
  cell(tr, what, "what");
  cell(tr, d.destination);
  cell(tr, e.reason, "reason");
  const ans = el("div");
  if (e.last_status) ans.appendChild(el("b", "bad", String(e.last_status) + " "));
  const text = e.response_excerpt || e.last_error;
  ans.appendChild(el("span", "excerpt", text || (e.last_status ? "" : "no answer")));
  if (e.response_excerpt && e.last_error && !e.last_error.includes(e.response_excerpt)) ans.appendChild(el("div", "muted", e.last_error));
  cell(tr, ans, "answer");
  cell(tr, e.attempts);
  const td = cell(tr, "");
  td.textContent = "";
  td.className = "actions";
  const replayBtn = button(td, "Replay", "replay primary", () => replay({ ids: [e.id] }, false), "replay:" + e.id);
  if (!d.card) { replayBtn.disabled = true; replayBtn.title = "no card: replay from source after fixing the mapping"; }
  if (d.card) button(td, "Card", "card", () => showCard(d.card, `Dead letter ${e.id} for ${d.destination}`), "card:" + e.id);
  if (d.event_id) button(td, "History", "history", () => { $("ev-id").value = d.event_id; loadEvent(); $("history").scrollIntoView(); }, "hist:" + e.id);
  button(td, "Purge…", "purge danger", () => purge({ ids: [e.id] }, 1, `dead letter ${e.id}` + (e.title ? ` (“${e.title}”)` : "")), "purge:" + e.id);
  return tr;
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

// purge asks first, naming how many will go.
async function purge(body, count, what) {
  const noun = count === 1 ? "dead letter" : "dead letters";
  if (!await confirmDialog(`Purge ${what}? ${count} ${noun} will be deleted for good; this cannot be undone.`, `Purge ${count} ${noun}`)) {
    say("purge cancelled, nothing deleted");
    return;
  }
  try {
    const res = await api("POST", "/api/v1/deadletters/purge", body);
    await loadDeadLetters(`purged ${res.purged}`);
  } catch (e) {
    say("purge: " + e.message, true);
  }
}

// instantOf turns a duration ("2h", "1h30m": that long ago) into the time it
// names now, in RFC 3339, and leaves anything else as it is: the count and
// the purge then go by the same instant, not each by its own "now".
function instantOf(v) {
  const s = String(v).trim();
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(s)) return v;
  const unit = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1e3, m: 6e4, h: 3.6e6 };
  let ago = 0;
  for (const [, n, , u] of s.matchAll(/(\d+(\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ago += Number(n) * unit[u];
  return new Date(Date.now() - ago).toISOString();
}

// purgeMatching counts what matches now and bounds the purge by the newest
// id counted, so what arrives meanwhile is kept; a relative since or until
// is fixed once, for both.
async function purgeMatching() {
  const f = filter();
  for (const k of ["since", "until"]) if (f[k]) f[k] = instantOf(f[k]);
  const body = actionBody(f);
  if (Object.keys(body).length === 0) {
    say("set a filter first: acting on every dead letter is for the CLI's --all", true);
    return;
  }
  try {
    const q = new URLSearchParams(f);
    q.set("limit", "1");
    q.set("order", "newest");
    const data = await api("GET", "/api/v1/deadletters?" + q.toString());
    if (!data.total) { say("nothing matches: nothing to purge"); return; }
    body.max_id = data.max_id;
    await purge(body, data.total, `every dead letter matching ${describe(f)}`);
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

// The card as Teams would show it

function showCard(card, what) {
  const sec = $("preview");
  sec.hidden = false;
  $("preview-what").textContent = what;
  let obj = card;
  try {
    if (typeof card === "string") obj = JSON.parse(card);
  } catch (_) { /* shown raw below */ }
  $("preview-json").textContent = typeof obj === "string" ? obj : JSON.stringify(obj, null, 2);
  try {
    const kind = window.HookrelayCard.render($("preview-card"), obj, (a) => say("the card's action " + a));
    $("preview-what").textContent = `${what} · ${kind === "adaptive" ? "Adaptive Card, drawn by Microsoft's renderer" : "MessageCard, as Teams lays it out"}`;
  } catch (e) {
    $("preview-card").replaceChildren(el("p", "error", "cannot draw this card: " + e.message));
  }
  sec.scrollIntoView();
  $("preview-h").tabIndex = -1;
  $("preview-h").focus();
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
      const tr = el("tr");
      tr.dataset.kind = r.kind;
      const at = el("div");
      at.appendChild(timeEl(r.at));
      at.appendChild(el("div", "muted", utc(r.at)));
      cell(tr, at);
      cell(tr, r.stage);
      cell(tr, r.kind);
      cell(tr, r.destination);
      cell(tr, r.attempt);
      cell(tr, r.status);
      cell(tr, r.detail, "excerpt");
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

// loadEventCards renders the event's cards with today's routes and
// mappings: what its destinations would be sent now.
async function loadEventCards() {
  const id = $("ev-id").value.trim();
  if (!id) return;
  try {
    const res = await api("GET", "/api/v1/events/" + encodeURIComponent(id) + "/cards");
    const cards = res.cards || [];
    if (!cards.length) { say(`event ${id}: no route renders a card for it`); return; }
    const c = cards[0];
    if (c.error) { say(`event ${id}: route ${c.route}: ${c.error}`, true); return; }
    showCard(c.card, `Event ${id} for ${c.destination} (route ${c.route}), rendered now` + (cards.length > 1 ? ` · 1 of ${cards.length} cards` : ""));
  } catch (e) {
    say("cards: " + e.message, true);
  }
}

// Signing in

async function showSignIn(needed) {
  $("token-form").hidden = !needed;
  $("logout").hidden = needed;
  $("token-state").textContent = needed ? "sign in with the admin token (asked once per browser session)" : "";
  if (needed) $("token").focus();
}

async function session() {
  const s = await (await fetch("/ui/session", { credentials: "same-origin" })).json();
  if (!s.token_required) {
    $("token-form").hidden = true;
    $("logout").hidden = true;
    $("token-state").textContent = "no admin token configured (loopback only)";
    return true;
  }
  showSignIn(!s.authenticated);
  if (s.authenticated) $("token-state").textContent = "signed in for this browser session";
  return s.authenticated;
}

function refresh() {
  loadDestinations();
  loadDeadLetters();
}

document.addEventListener("DOMContentLoaded", async () => {
  $("token-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const token = $("token").value.trim();
    $("token").value = "";
    const resp = await fetch("/ui/session", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token }),
    });
    if (!resp.ok) { say("admin token missing or wrong: enter it above", true); return; }
    await session();
    refresh();
  });
  $("logout").addEventListener("click", async () => {
    // No poll starts from now on (it waits while signing out and while the
    // sign-in form shows), and the requests in flight finish before the
    // session ends, their answers dropped.
    state.epoch++;
    for (const id of ["dest-rows", "dl-rows", "ev-rows", "summary", "overall-charts", "dest-charts", "preview-card"]) $(id).replaceChildren();
    for (const id of ["ev-body", "preview-json", "dest-range", "dl-range"]) $(id).textContent = "";
    state.dests = [];
    state.signingOut = true;
    try {
      await Promise.allSettled([...state.inflight]);
      await fetch("/ui/session", { method: "DELETE", credentials: "same-origin" });
    } finally {
      state.signingOut = false;
    }
    await session();
    say("signed out");
  });
  $("window").addEventListener("change", loadOverview);
  $("dest-refresh").addEventListener("click", loadDestinations);
  $("dest-filter").addEventListener("submit", (ev) => ev.preventDefault());
  $("dest-q").addEventListener("input", () => { state.destPage = 0; renderDestinations(); loadOverview(); });
  $("dest-problems").addEventListener("change", () => { state.destPage = 0; renderDestinations(); loadOverview(); });
  $("dest-prev").addEventListener("click", () => { state.destPage--; renderDestinations(); loadOverview(); });
  $("dest-next").addEventListener("click", () => { state.destPage++; renderDestinations(); loadOverview(); });
  $("dl-filter").addEventListener("submit", (ev) => { ev.preventDefault(); state.dlOffset = 0; loadDeadLetters(); });
  $("dl-prev").addEventListener("click", () => { state.dlOffset = Math.max(0, state.dlOffset - pageSize); loadDeadLetters(); });
  $("dl-next").addEventListener("click", () => { state.dlOffset += pageSize; loadDeadLetters(); });
  $("dl-replay-dry").addEventListener("click", () => { const b = matching(); if (b) replay(b, true); });
  $("dl-replay-all").addEventListener("click", () => { const b = matching(); if (b) replay(b, false); });
  $("dl-purge-all").addEventListener("click", purgeMatching);
  $("ev-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadEvent(); });
  $("ev-cards").addEventListener("click", loadEventCards);
  let signedIn = false;
  try { signedIn = await session(); } catch (e) { say("session: " + e.message, true); }
  if (signedIn) refresh();
  else say("admin token missing or wrong: enter it above", true);
  // Every 5 s; a list of more than 200 destinations (up to ~1.2 KB each) every 15 s.
  const poll = async () => {
    if ($("token-form").hidden && !state.signingOut) await loadDestinations();
    setTimeout(poll, state.dests.length > 200 ? 15000 : 5000);
  };
  setTimeout(poll, 5000);
  setInterval(tick, 10000);
});
