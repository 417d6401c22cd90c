/* dashboard.js - the Joinery hub's live dashboard (docs/operations.md,
 * "Dashboard"). Plain JavaScript, no framework and nothing fetched but this
 * server's own API: the page is served with default-src 'self'.
 *
 * The token is kept in sessionStorage (this tab only) and sent as
 * Authorization: Bearer; never in a URL. Every figure comes from the API;
 * the page computes only the alerts, from what it saw over the last polls. */
"use strict";

const POLL_MS = 2000;
const HISTORY = 5; /* polls a backlog must have grown over to raise an alert */
const TOKEN_KEY = "joinery.admin.token";

const state = {
  seenConnected: {},  /* adapter -> true once seen connected by this page */
  waiting: {},        /* "adapter/sub" -> events waiting, the last HISTORY polls */
  deadLetters: [],    /* stored dead letters, the last HISTORY polls */
  dlShown: "",        /* what the dead-letter table shows, to redraw only on change */
  dlFailed: false,    /* the last list failed: its message goes when one succeeds */
  timer: null,
  steward: null,      /* null: not probed; false: not in this hub; true: available */
  stewardShown: "",
};

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children)
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function svg(tag, attrs, text) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function token() { return sessionStorage.getItem(TOKEN_KEY); }

/* {status, body} of one call; body is parsed JSON (or text for /metrics). */
async function api(method, path, body) {
  const headers = { "Authorization": "Bearer " + token() };
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const text = await r.text();
  let parsed = text;
  if ((r.headers.get("Content-Type") || "").startsWith("application/json")) {
    try { parsed = JSON.parse(text); } catch (e) { parsed = { error: "unreadable answer" }; }
  }
  return { status: r.status, body: parsed };
}

function errorText(res) {
  const why = res.body && res.body.error ? res.body.error : "unexpected answer";
  return why + " (HTTP " + res.status + ")";
}

function rate(x) { return (Number(x) || 0).toFixed(1); }

function when(us) {
  if (!us) return "never";
  return new Date(us / 1000).toLocaleString();
}

function setStatus(text, bad) {
  const s = $("#status");
  s.textContent = text;
  s.className = bad ? "error" : "";
}

/* ---- signing in ---- */

function showLogin(why) {
  clearTimeout(state.timer);
  $("#board").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = why || "";
  setStatus("Not signed in.");
  $("#token").focus();
}

function showBoard() {
  $("#login").hidden = true;
  $("#board").hidden = false;
  poll();
  probeSteward();
}

/* ---- event flow ---- */

function drawFlow(adapters, subs) {
  const g = $("#flow-svg");
  g.replaceChildren();
  const cx = 400, cy = 240, n = adapters.length || 1;
  const waiting = {};
  for (const s of subs) waiting[s.adapter] = (waiting[s.adapter] || 0) + (s.events_waiting || 0);
  adapters.forEach((a, i) => {
    const t = (2 * Math.PI * i) / n - Math.PI / 2;
    const x = cx + 300 * Math.cos(t), y = cy + 170 * Math.sin(t);
    g.append(svg("line", { x1: cx, y1: cy, x2: x, y2: y,
      class: "edge" + (a.connected ? "" : " gone") }));
    const mx = (cx + x) / 2, my = (cy + y) / 2;
    g.append(svg("text", { x: mx, y: my - 4, "text-anchor": "middle", class: "rate",
      "data-adapter": a.name, "data-dir": "in" }, "in " + rate(a.published_per_s) + "/s"));
    g.append(svg("text", { x: mx, y: my + 12, "text-anchor": "middle", class: "rate",
      "data-adapter": a.name, "data-dir": "out" }, "out " + rate(a.delivered_per_s) + "/s"));
    const node = svg("g", { class: "node" + (a.connected ? " up" : ""), "data-adapter": a.name });
    node.append(svg("title", {}, a.name + (a.connected ? ", connected" : ", not connected")));
    node.append(svg("circle", { cx: x, cy: y, r: 40 }));
    node.append(svg("text", { x: x, y: y + 4, "text-anchor": "middle" }, a.name));
    node.append(svg("text", { x: x, y: y + 56, "text-anchor": "middle" },
      (waiting[a.name] || 0) + " waiting"));
    g.append(node);
  });
  const hub = svg("g", { class: "node hub" });
  hub.append(svg("circle", { cx, cy, r: 42 }));
  hub.append(svg("text", { x: cx, y: cy + 4, "text-anchor": "middle" }, "hub"));
  g.append(hub);
}

function fillTable(sel, rows) {
  $(sel + " tbody").replaceChildren(...rows);
}

function drawAdapters(adapters) {
  fillTable("#adapters", adapters.map((a) => el("tr", { "data-adapter": a.name },
    el("th", { scope: "row" }, a.name),
    el("td", { class: a.connected ? "ok" : "error" }, a.connected ? "connected" : "not connected"),
    el("td", {}, when(a.last_seen_us)),
    el("td", { class: "num in" }, rate(a.published_per_s)),
    el("td", { class: "num out" }, rate(a.delivered_per_s)),
    el("td", { class: "num" }, a.published), el("td", { class: "num" }, a.delivered),
    el("td", { class: "num" }, a.rejected))));
}

function drawSubs(subs) {
  fillTable("#subs", subs.map((s) => el("tr", { "data-sub": s.adapter + "/" + s.name },
    el("td", {}, s.adapter), el("th", { scope: "row" }, s.name),
    el("td", {}, (s.patterns || []).join(", ")),
    el("td", { class: "num" }, s.events_waiting + (s.events_waiting_exact ? "" : "+")),
    el("td", { class: "num" }, s.in_flight), el("td", { class: "num" }, s.retrying),
    el("td", { class: "num" }, s.dead_letters === null ? "?" : s.dead_letters))));
}

/* ---- alerts ---- */

function push(list, v) {
  list.push(v);
  while (list.length > HISTORY) list.shift();
}

function growing(list) {
  if (list.length < HISTORY) return false;
  for (let i = 1; i < list.length; i++) if (list[i] <= list[i - 1]) return false;
  return true;
}

function metric(text, name) {
  const m = typeof text === "string" ? text.match(new RegExp("^" + name + " (\\S+)$", "m")) : null;
  return m ? Number(m[1]) : null;
}

function computeAlerts(adapters, subs, ready, metrics) {
  const out = [];
  if (ready.status !== 200)
    out.push(["bad", "Database down: " + ((ready.body && ready.body.reason) || "the hub is not ready")]);
  else if (metric(metrics, "joinery_database_up") === 0)
    out.push(["bad", "Database down: the hub's store is not committing"]);
  for (const a of adapters) {
    if (a.connected) state.seenConnected[a.name] = true;
    else if (state.seenConnected[a.name])
      out.push(["bad", "Adapter gone: " + a.name + " was connected and is not (last seen " +
        when(a.last_seen_us) + ")"]);
  }
  let dead = 0;
  for (const s of subs) {
    const k = s.adapter + "/" + s.name;
    push(state.waiting[k] = state.waiting[k] || [], s.events_waiting || 0);
    if (growing(state.waiting[k]))
      out.push(["warn", "Backlog growing: " + k + " has " + s.events_waiting +
        " events waiting, more at each of the last " + HISTORY + " polls"]);
    dead += s.dead_letters || 0;
  }
  const stored = metric(metrics, "joinery_dead_letters");
  if (stored !== null) dead = stored;
  const before = state.deadLetters.length ? state.deadLetters[state.deadLetters.length - 1] : dead;
  push(state.deadLetters, dead);
  if (dead > before)
    out.push(["bad", "Dead letters rising: " + dead + " stored (" + (dead - before) + " new)"]);
  else if (dead > 0)
    out.push(["warn", "Dead letters: " + dead + " stored, waiting for replay or discard"]);
  return out;
}

function drawAlerts(alerts) {
  const items = alerts.map(([level, text]) => el("li", { class: level }, text));
  if (!items.length) items.push(el("li", { class: "none" }, "No alerts."));
  $("#alert-list").replaceChildren(...items);
}

/* ---- dead letters ---- */

function dlQuery() {
  const f = new FormData($("#dl-filter"));
  const q = new URLSearchParams();
  for (const k of ["adapter", "subscription", "type"]) if (f.get(k)) q.set(k, f.get(k));
  q.set("limit", "200");
  return "/api/v1/dead-letters?" + q.toString();
}

function dlMessage(text, bad) {
  const m = $("#dl-message");
  m.textContent = text;
  m.className = bad ? "error" : "ok";
}

async function inspect(d) {
  const res = await api("GET", "/api/v1/dead-letters/" + d.id);
  if (res.status !== 200) return dlMessage("Inspect " + d.id + ": " + errorText(res), true);
  $("#dl-inspect-h").textContent = "Dead letter " + d.id + " (" + d.type + ")";
  $("#dl-inspect-body").textContent = JSON.stringify(res.body, null, 2);
  $("#dl-inspect").hidden = false;
  $("#dl-inspect-h").focus();
}

async function replay(d) {
  if (!confirm("Replay dead letter " + d.id + " (" + d.type + ", " + d.event_id + ") to " +
      d.adapter + "/" + d.subscription + "?")) return;
  const res = await api("POST", "/api/v1/dead-letters/" + d.id + "/replay");
  if (res.status === 200) dlMessage("Dead letter " + d.id + " replayed.");
  else dlMessage("Replay " + d.id + ": " + errorText(res), true);
  poll();
}

async function discard(d) {
  const reason = prompt("Discard dead letter " + d.id + " (" + d.event_id +
    ")? The reason is kept for audit:");
  if (reason === null) return;
  if (!reason.trim()) return dlMessage("Discard " + d.id + ": a reason is needed.", true);
  const res = await api("POST", "/api/v1/dead-letters/" + d.id + "/discard", { reason });
  if (res.status === 200) dlMessage("Dead letter " + d.id + " discarded.");
  else dlMessage("Discard " + d.id + ": " + errorText(res), true);
  poll();
}

function drawDeadLetters(list) {
  const shown = JSON.stringify(list);
  /* Redrawn only when it changed, so a focused button stays focused. */
  if (shown === state.dlShown) return;
  state.dlShown = shown;
  const what = (d) => "dead letter " + d.id + " (" + d.type + ")";
  const rows = list.map((d) => el("tr", { "data-id": d.id, "data-event-id": d.event_id },
    el("td", { class: "num" }, d.id), el("td", {}, d.adapter), el("td", {}, d.subscription),
    el("td", {}, d.type), el("td", {}, d.event_id), el("td", { class: "num" }, d.attempts),
    el("td", {}, d.reason), el("td", {}, when(d.dead_at_us)),
    el("td", {},
      el("button", { type: "button", class: "inspect", "aria-label": "Inspect " + what(d),
        onclick: () => inspect(d) }, "Inspect"), " ",
      el("button", { type: "button", class: "replay", "aria-label": "Replay " + what(d),
        onclick: () => replay(d) }, "Replay"), " ",
      el("button", { type: "button", class: "discard danger", "aria-label": "Discard " + what(d),
        onclick: () => discard(d) }, "Discard"))));
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 9 }, "No dead letters.")));
  /* A keyboard user whose row went (replayed, discarded) stays in the section. */
  const hadFocus = $("#dl").contains(document.activeElement);
  fillTable("#dl", rows);
  if (hadFocus && !$("#dl").contains(document.activeElement)) $("#dead").focus();
}

/* ---- steward worklist and trace ---- */

/* A hub whose API has no such endpoint yet says 404 "no such endpoint". */
function unavailable(where, what) {
  where.replaceChildren(el("p", { class: "note", "data-state": "unavailable" },
    what + " is not available in this hub version (the admin API has no such endpoint)."));
}

function missing(res) {
  return res.status === 404 && res.body && res.body.error === "no such endpoint";
}

const PERSON = [["master_id", "Master id"], ["state", "State"], ["given", "Given name"],
  ["family", "Family name"], ["birth_date", "Birth date"], ["postcode", "Postcode"],
  ["nhs_number_masked", "NHS number"]];

/* The two records side by side, a row per field, the rows that differ marked. */
function pairTable(p) {
  const a = p.master_a || {}, b = p.master_b || {};
  return el("table", { class: "pair-table", "aria-label": "Queue item " + p.id + ": the two records" },
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Field"),
      el("th", { scope: "col" }, "Record A"), el("th", { scope: "col" }, "Record B"))),
    el("tbody", {}, ...PERSON.map(([k, label]) => el("tr",
      { class: a[k] === b[k] ? "" : "differs" }, el("th", { scope: "row" }, label),
      el("td", {}, a[k] === null || a[k] === undefined ? "—" : a[k]),
      el("td", {}, b[k] === null || b[k] === undefined ? "—" : b[k])))));
}

function evidenceTable(p) {
  const ev = p.evidence || {};
  const fields = ev.fields || {};
  return el("table", { class: "evidence", "aria-label": "Queue item " + p.id + ": the evidence" },
    el("caption", {}, "Evidence: " + (ev.decision || "") + (ev.reason ? ", " + ev.reason : "") +
      (typeof ev.total === "number" ? " (total weight " + ev.total.toFixed(2) + ")" : "")),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Field"),
      el("th", { scope: "col" }, "Comparison"), el("th", { scope: "col" }, "Weight"))),
    el("tbody", {}, ...Object.entries(fields).map(([f, v]) => el("tr", {},
      el("th", { scope: "row" }, f), el("td", {}, v.level), el("td", { class: "num" },
        typeof v.weight === "number" ? v.weight.toFixed(2) : "—")))));
}

function stewardMessage(text, bad) {
  const m = $("#steward-message");
  m.textContent = text;
  m.className = bad ? "error" : "ok";
}

/* A decision on a queue item (the steward role): the engine's answer shown. */
async function decide(p, action, label) {
  const reason = prompt(label + " for queue item " + p.id + "? The reason is kept with the decision:");
  if (reason === null) return;
  if (!reason.trim()) return stewardMessage(label + " " + p.id + ": a reason is needed.", true);
  const res = await api("POST", "/api/v1/steward/" + action, { queue_id: p.id, reason });
  if (res.status === 200) stewardMessage("Item " + p.id + ": " + label.toLowerCase() + " done.");
  else if (res.status === 202) stewardMessage("Item " + p.id + ": sent, not yet committed; trace event " +
    (res.body.event_id || "") + ".", true);
  else stewardMessage(label + " " + p.id + ": " + errorText(res), true);
  state.stewardShown = "";
  probeSteward();
}

function decisions(p) {
  const what = (l) => ({ type: "button", "aria-label": l + " queue item " + p.id });
  return el("p", { class: "decisions" },
    el("button", { ...what("Link (one person)"), class: "link",
      onclick: () => decide(p, "link", "Link") }, "Link: one person"), " ",
    el("button", { ...what("Keep apart"), class: "keep-apart",
      onclick: () => decide(p, "keep-apart", "Keep apart") }, "Keep apart: two people"));
}

async function probeSteward() {
  const res = await api("GET", "/api/v1/steward/queue?limit=50");
  const body = $("#steward-body");
  if (missing(res)) { state.steward = false; return unavailable(body, "The steward worklist"); }
  if (res.status !== 200) return body.replaceChildren(el("p", { class: "error" }, errorText(res)));
  state.steward = true;
  const items = res.body.items || [];
  const shown = JSON.stringify(items);
  if (shown === state.stewardShown) return;
  state.stewardShown = shown;
  if (!items.length) {
    const hadFocus = body.contains(document.activeElement);
    body.replaceChildren(el("p", { "data-state": "empty" }, "Nothing awaits a steward."));
    if (hadFocus) $("#steward").focus();
    return;
  }
  /* Redrawn only when it changed, so a focused button stays focused. */
  const hadFocus = body.contains(document.activeElement);
  body.replaceChildren(el("p", { class: "note" }, items.length + " open item(s). A decision " +
    "needs a steward token."),
  ...items.map((p) => el("article", { class: "pair-item", "data-item": p.id },
    el("h3", {}, "Item " + p.id + ": score " + Number(p.score).toFixed(2) + ", " + p.state + ", since " +
      when(p.created_at_us)), el("div", { class: "pair" }, pairTable(p), evidenceTable(p)),
    decisions(p))));
  if (hadFocus && !body.contains(document.activeElement)) $("#steward").focus();
}

function deliveryLine(d) {
  let t = d.adapter + "/" + d.subscription + ": " + d.state;
  if (d.attempts !== null && d.attempts !== undefined) t += " (" + d.attempts + " attempt(s))";
  for (const x of d.dead_letters || [])
    t += "; dead letter " + x.id + " " + x.outcome + (x.reason ? ": " + x.reason : "");
  return el("li", {}, t);
}

/* The events, each with its deliveries and (a few levels of) what it caused. */
function traceEvents(list, depth) {
  return el("ul", {}, ...list.map((e) => {
    const li = el("li", { "data-seq": e.seq }, el("strong", {}, e.type),
      " seq " + e.seq + " from " + e.source + ", event " + e.event_id + ", received " +
      when(e.received_at_us),
      el("ul", { class: "deliveries" }, ...(e.deliveries || []).map(deliveryLine)));
    if (depth < 3 && e.derived && e.derived.length)
      li.append(el("div", {}, "Caused:", traceEvents(e.derived, depth + 1)));
    return li;
  }));
}

async function traceSearch(ev) {
  ev.preventDefault();
  const f = new FormData($("#trace-form"));
  const q = new URLSearchParams();
  q.set(f.get("key"), f.get("q").trim());
  if (f.get("source")) q.set("source", f.get("source").trim());
  const body = $("#trace-body");
  body.replaceChildren(el("p", {}, "Searching…"));
  const res = await api("GET", "/api/v1/trace?" + q.toString());
  if (missing(res)) return unavailable(body, "Trace search");
  if (res.status !== 200) return body.replaceChildren(el("p", { class: "error" }, errorText(res)));
  const j = res.body, events = j.events || [];
  const parts = [el("p", { "data-state": "found" }, events.length + " event(s)" +
    (j.truncated ? " (more: narrow the search)" : "") + (j.refusals && j.refusals.length ?
      ", " + j.refusals.length + " refused" : "") + (j.master ? ", a golden record" : "") + ".")];
  if (events.length) parts.push(traceEvents(events, 0));
  for (const r of j.refusals || [])
    parts.push(el("p", { class: "error" }, "Refused: " + (r.event_id || "") + " " + (r.reason || "")));
  parts.push(el("details", {}, el("summary", {}, "The whole answer"),
    el("pre", {}, JSON.stringify(j, null, 2))));
  body.replaceChildren(...parts);
  $("#trace-h").focus();
}

/* ---- polling ---- */

async function poll() {
  clearTimeout(state.timer);
  if (!token()) return showLogin();
  try {
    const [ad, su, ready, met, dl] = await Promise.all([
      api("GET", "/api/v1/adapters"), api("GET", "/api/v1/subscriptions"),
      api("GET", "/readyz"), api("GET", "/metrics"), api("GET", dlQuery())]);
    if (ad.status === 401) return showLogin("The hub refused the token: " + errorText(ad));
    if (ad.status !== 200 || su.status !== 200) {
      setStatus("The hub answered: " + errorText(ad.status !== 200 ? ad : su), true);
    } else {
      const adapters = ad.body.adapters, subs = su.body.subscriptions;
      drawFlow(adapters, subs);
      drawAdapters(adapters);
      drawSubs(subs);
      drawAlerts(computeAlerts(adapters, subs, ready, met.status === 200 ? met.body : null));
      setStatus("Live: " + adapters.filter((a) => a.connected).length + " of " +
        adapters.length + " adapters connected.");
    }
    if (dl.status === 200) {
      drawDeadLetters(dl.body.dead_letters);
      if (state.dlFailed) dlMessage("");
      state.dlFailed = false;
    } else {
      dlMessage("Dead letters: " + errorText(dl), true);
      state.dlFailed = true;
    }
    if (state.steward) probeSteward();
    $("#updated").textContent = "Last update " + new Date().toLocaleTimeString() + ".";
  } catch (e) {
    setStatus("The hub cannot be reached (" + e.message + "); trying again.", true);
    drawAlerts([["bad", "Hub unreachable: the admin API does not answer (" + e.message + ")"]]);
  }
  state.timer = setTimeout(poll, POLL_MS);
}

/* ---- keyboard: g then a section's letter ---- */

const SECTIONS = { f: "#flow", a: "#alerts", d: "#dead", s: "#steward", t: "#trace" };
let pendingG = 0;

function onKey(ev) {
  const t = ev.target;
  if (ev.ctrlKey || ev.metaKey || ev.altKey ||
      (t && (["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName) || t.isContentEditable))) return;
  if (ev.key === "g") { pendingG = Date.now(); return; }
  if (pendingG && Date.now() - pendingG < 1500 && SECTIONS[ev.key] && !$("#board").hidden) {
    const s = $(SECTIONS[ev.key]);
    s.scrollIntoView();
    s.focus();
    ev.preventDefault();
  }
  pendingG = 0;
}

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("#token").value.trim());
    $("#token").value = "";
    showBoard();
  });
  $("#signout").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin();
  });
  $("#dl-filter").addEventListener("submit", (ev) => { ev.preventDefault(); state.dlShown = ""; poll(); });
  $("#dl-inspect-close").addEventListener("click", () => { $("#dl-inspect").hidden = true; $("#dead").focus(); });
  $("#trace-form").addEventListener("submit", traceSearch);
  document.addEventListener("keydown", onKey);
  if (token()) showBoard(); else showLogin();
});
