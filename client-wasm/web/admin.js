/* The operator's page (#/admin): live rooms, connections, rates and recent errors over the
 * admin endpoints (PROTOCOL.md 9.15), which it fetches itself with the admin token. */

import { $, SERVER, COLORS, h, ago, shortId, swatch } from "./ui.js";

// Plain fetch over the admin endpoints (PROTOCOL.md 9.15): the SDK does not wrap them, since
// they are for operators. The token lives in sessionStorage: it is forgotten with the tab.

const ADMIN_KEY = "arbiter.admin";
const ADMIN_POLL_MS = 1000;
const CHART_POINTS = 60; // one per poll: the last minute
const CHART_SERIES = [
  // Drawn in this order: moves last, on top, since one commit per move draws the same line.
  { key: "commits", label: "commits/s", color: COLORS[0], dash: [6, 4] },
  { key: "moves", label: "moves/s", color: COLORS[1], dash: [] },
];
const ADMIN_TEXT = {
  admin_disabled: "This server has no admin token. Start it with --admin-token (or ARBITER_ADMIN_TOKEN) to use this page.",
  admin_token_invalid: "That is not this server's admin token.",
  admin_token_required: "Enter the admin token.",
};
const ADMIN_REFUSED = new Set(Object.keys(ADMIN_TEXT));
const NOTE_ERRORS = new Set(["append_failed", "room_panicked", "room_unloadable"]);

/** Calls an admin endpoint; rejects, like the SDK's helpers, with an Error carrying `.status`
 * (0 when the server was not reached) and `.code`. */
async function adminCall(method, path, token) {
  let res;
  try {
    res = await fetch(`${SERVER}/api/admin/${path}`, {
      method, cache: "no-store", headers: { Authorization: `Bearer ${token}` },
    });
  } catch (e) {
    throw Object.assign(new Error(`cannot reach the server (${e?.message ?? e})`), { status: 0, code: null });
  }
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    const err = body?.error ?? {};
    throw Object.assign(new Error(err.message ?? `HTTP ${res.status}`), { status: res.status, code: err.code ?? null });
  }
  return body;
}

export function adminPage(app) {
  document.title = "Admin · Arbiter";
  let current = null;
  const show = (message) => {
    current?.destroy();
    const token = sessionStorage.getItem(ADMIN_KEY);
    current = token && !message ? adminDashboard(app, token, refused) : adminTokenForm(app, message, accepted);
  };
  function refused(message) {
    sessionStorage.removeItem(ADMIN_KEY);
    show(message);
  }
  function accepted(token) {
    sessionStorage.setItem(ADMIN_KEY, token);
    show(null);
  }
  show(null);
  return { destroy() { current?.destroy(); } };
}

function adminTokenForm(app, message, accepted) {
  const input = h("input", {
    id: "admin-token-input", type: "password", autocomplete: "off", required: true,
    spellcheck: "false", "aria-describedby": "admin-token-hint",
  });
  const err = h("p", { id: "admin-error", class: "error", role: "alert" }, message ?? "");
  const save = h("button", { id: "admin-token-save", type: "submit", class: "btn primary" }, "Open");
  const form = h("form", { class: "card name-card", "aria-labelledby": "admin-title", novalidate: true },
    h("h1", { id: "admin-title" }, "Server admin"),
    h("p", { class: "muted", id: "admin-token-hint" },
      "Live rooms, connections and recent errors of this server. Enter the admin token it was started with (",
      h("code", {}, "--admin-token"), "); this tab keeps it until it closes."),
    h("label", { for: "admin-token-input" }, "Admin token"),
    h("div", { class: "row name-row" }, input, save),
    err);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const token = input.value.trim();
    err.textContent = "";
    if (!token) { err.textContent = ADMIN_TEXT.admin_token_required; input.focus(); return; }
    save.disabled = true;
    try {
      await adminCall("GET", "overview", token);
      accepted(token);
    } catch (e) {
      err.textContent = ADMIN_TEXT[e.code] ?? `Could not check the token: ${e.message}`;
      save.disabled = false;
      input.focus();
    }
  });
  const box = h("div", { class: "center-page" }, form);
  app.append(box);
  input.focus();
  return { destroy() { box.remove(); } };
}

/** The largest of 1, 2 or 5 times a power of ten that is at least `v`: a round axis top. */
function niceCeil(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((c) => c >= v - 1e-9);
}

const fmtRate = (r) => (r >= 100 ? Math.round(r).toString() : r.toFixed(1));

/** Draws `points` ({moves, commits} per second, oldest first) as a line chart. */
function drawRateChart(canvas, points) {
  const w = canvas.clientWidth;
  const ht = canvas.clientHeight;
  if (!w || !ht) return;
  const dpr = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(ht * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(ht * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, ht);
  const pad = { l: 40, r: 10, t: 10, b: 22 };
  const top = niceCeil(Math.max(1, ...points.flatMap((p) => CHART_SERIES.map((s) => p[s.key]))));
  const x = (i) => pad.l + ((w - pad.l - pad.r) * (CHART_POINTS - points.length + i)) / (CHART_POINTS - 1);
  const y = (v) => pad.t + (ht - pad.t - pad.b) * (1 - v / top);
  ctx.font = "11px system-ui, sans-serif";
  ctx.lineWidth = 1;
  for (const f of [0, 0.5, 1]) {
    ctx.strokeStyle = f ? "#e2e6ec" : "#c9d0da";
    ctx.beginPath();
    ctx.moveTo(pad.l, Math.round(y(top * f)) + 0.5);
    ctx.lineTo(w - pad.r, Math.round(y(top * f)) + 0.5);
    ctx.stroke();
    ctx.fillStyle = "#566070";
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    ctx.fillText(fmtRate(top * f), pad.l - 6, y(top * f));
  }
  ctx.textBaseline = "alphabetic";
  ctx.textAlign = "left";
  ctx.fillText(`${CHART_POINTS} s ago`, pad.l, ht - 6);
  ctx.textAlign = "right";
  ctx.fillText("now", w - pad.r, ht - 6);
  ctx.lineWidth = 2;
  ctx.lineJoin = "round";
  const last = points[points.length - 1];
  for (const s of CHART_SERIES) {
    ctx.strokeStyle = s.color;
    ctx.fillStyle = s.color;
    ctx.setLineDash(s.dash);
    ctx.beginPath();
    points.forEach((p, i) => (i ? ctx.lineTo(x(i), y(p[s.key])) : ctx.moveTo(x(i), y(p[s.key]))));
    ctx.stroke();
    ctx.setLineDash([]);
    if (last) {
      // The latest value as a dot: a line of a few points is easy to miss at the right edge.
      ctx.beginPath();
      ctx.arc(x(points.length - 1), y(last[s.key]), 3, 0, 2 * Math.PI);
      ctx.fill();
    }
  }
  canvas.dataset.points = String(points.length);
  canvas.dataset.drawn = "true";
  canvas.setAttribute("aria-label", last
    ? `Rates over the last minute; now ${fmtRate(last.moves)} moves and ${fmtRate(last.commits)} commits per second.`
    : "Rates over the last minute; waiting for a second sample.");
}

/** Keeps `tbody`'s rows in step with `items`: a row whose item did not change is kept (with
 * its focus), others are built anew. */
function syncRows(tbody, items, keyOf, sigOf, build) {
  const old = new Map([...tbody.children].map((tr) => [tr.dataset.key, tr]));
  const keep = new Set();
  let ref = tbody.firstChild;
  for (const item of items) {
    const key = String(keyOf(item));
    const sig = sigOf(item);
    let tr = old.get(key);
    if (!tr || tr._sig !== sig) {
      const fresh = build(item);
      fresh.dataset.key = key;
      fresh._sig = sig;
      if (tr) {
        const focused = tr.contains(document.activeElement) ? document.activeElement.dataset.action : null;
        tr.replaceWith(fresh);
        if (ref === tr) ref = fresh;
        if (focused) $(`[data-action="${focused}"]`, fresh)?.focus();
      }
      tr = fresh;
    }
    keep.add(tr);
    if (tr === ref) ref = ref.nextSibling;
    else tbody.insertBefore(tr, ref);
  }
  for (const tr of [...tbody.children]) if (!keep.has(tr)) tr.remove();
}

const td = (label, ...kids) => h("td", { "data-label": label }, ...kids);

function adminRoomRow(row, onClose) {
  const d = row.details;
  const link = h("a", { href: `#/match/${row.match_id}`, class: "mid", title: row.match_id }, shortId(row.match_id));
  const close = h("button", {
    type: "button", class: "btn small danger", "data-action": "close",
    "aria-label": `Close match ${row.match_id}`, onclick: (ev) => onClose(row, ev.currentTarget),
  }, "Close");
  if (!d) {
    return h("tr", { "data-match-id": row.match_id },
      td("Match", link), h("td", { colspan: "5", class: "muted", "data-label": "Details" }, "did not answer in time"), td("", close));
  }
  const seats = d.seats.map((s, i) => s
    ? h("li", { class: "chip", title: `${s.player_id}${s.connected ? " · connected" : " · not connected"}` },
        swatch(i), h("span", {}, s.name), s.bot ? h("span", { class: "bot-tag" }, "bot") : null,
        h("span", { class: `online${s.connected ? " on" : ""}`, "aria-label": s.connected ? "connected" : "not connected" }))
    : h("li", { class: "chip free" }, swatch(i), h("span", {}, "open seat")));
  return h("tr", { "data-match-id": row.match_id },
    td("Match", link),
    td("Game", d.game),
    td("Status", h("span", { class: `badge${d.status === "live" ? " live" : ""}` }, d.status)),
    td("Players", h("ul", { class: "chips", "aria-label": "Seats" }, seats)),
    td("Spectators", h("span", { class: "num", "data-spectators": d.spectators }, String(d.spectators))),
    td("Seq", h("span", { class: "num" }, String(d.head_seq))),
    td("", close));
}

function adminConnRow(c, onDisconnect) {
  const who = c.player_id
    ? h("span", { title: c.player_id }, c.name)
    : h("span", { class: "muted" }, "not signed in");
  const follows = c.matches.length
    ? c.matches.map((m, i) => [i ? ", " : null, h("a", { href: `#/match/${m}`, class: "mid", title: m }, shortId(m))])
    : h("span", { class: "muted" }, "nothing");
  return h("tr", { "data-conn": c.conn },
    td("Id", h("span", { class: "num" }, String(c.conn))),
    td("Transport", h("span", { class: "tag" }, c.transport)),
    td("Player", who),
    td("Address", h("span", { class: "mono" }, c.peer)),
    td("Following", h("span", {}, follows)),
    td("Opened", ago(c.opened_at_ms)),
    td("", h("button", {
      type: "button", class: "btn small danger", "data-action": "disconnect",
      "aria-label": `Disconnect connection ${c.conn}`, onclick: (ev) => onDisconnect(c, ev.currentTarget),
    }, "Disconnect")));
}

function adminTable(id, heads, empty) {
  const tbody = h("tbody");
  const emptyP = h("p", { class: "empty", hidden: true }, empty);
  const table = h("table", { id, class: "admin-table" },
    h("thead", {}, h("tr", {}, heads.map((t) => h("th", { scope: "col" }, t)))), tbody);
  return { tbody, emptyP, el: h("div", { class: "table-wrap" }, table, emptyP) };
}

function adminDashboard(app, token, refused) {
  let alive = true;
  let inflight = false;
  let lastOk = 0;
  let prev = null; // the previous poll's {now_ms, counters}
  const points = [];

  const updated = h("span", { id: "admin-updated", class: "updated", "aria-live": "off" },
    h("span", { class: "pulse", "aria-hidden": "true" }), h("span", { class: "updated-text" }, "loading…"));
  const message = h("p", { id: "admin-message", class: "notice", role: "status", hidden: true });
  const stat = (id, label) => {
    const value = h("strong", { id, class: "stat-value" }, "–");
    return [h("div", { class: "stat" }, h("span", { class: "stat-label" }, label), value), value];
  };
  const [roomsBox, roomsN] = stat("admin-rooms-loaded", "Rooms loaded");
  const [wsBox, wsN] = stat("admin-conns-ws", "WebSocket");
  const [quicBox, quicN] = stat("admin-conns-quic", "QUIC");
  const [movesBox, movesN] = stat("admin-moves-rate", "Moves/s");
  const [commitsBox, commitsN] = stat("admin-commits-rate", "Commits/s");
  const canvas = h("canvas", { id: "admin-chart", role: "img", "aria-label": "Rates over the last minute" });
  const legend = h("ul", { class: "chart-legend" }, [...CHART_SERIES].reverse().map((s) =>
    h("li", {}, h("span", { class: `swatch${s.dash.length ? " dashed" : ""}`, style: `--c:${s.color}`, "aria-hidden": "true" }), s.label)));
  const rooms = adminTable("admin-rooms", ["Match", "Game", "Status", "Players", "Spectators", "Seq", ""], "No room is loaded.");
  const conns = adminTable("admin-connections", ["Id", "Transport", "Player", "Address", "Following", "Opened", ""], "Nobody is connected.");
  const roomsCount = h("span", { class: "count" });
  const connsCount = h("span", { class: "count" });
  const recent = h("ul", { id: "admin-recent", class: "events recent" });
  const recentEmpty = h("p", { class: "empty", hidden: true }, "Nothing notable has happened yet.");

  const box = h("div", { class: "admin-page" },
    h("div", { class: "lobby-head" },
      h("div", {}, h("h1", {}, "Server admin"), h("p", { class: "muted" }, "Live rooms, connections and recent errors, updated every second.")),
      h("div", { class: "lobby-head-tools" }, updated,
        h("button", { id: "admin-forget", type: "button", class: "btn small ghost", onclick: () => refused(null) }, "Forget token"))),
    message,
    h("div", { class: "stats" }, roomsBox, wsBox, quicBox, movesBox, commitsBox),
    h("section", { class: "card chart-card", "aria-labelledby": "chart-title" },
      h("h2", { id: "chart-title" }, "Moves and commits per second"), h("div", { class: "chart-wrap" }, canvas), legend),
    h("section", { class: "card", "aria-labelledby": "rooms-title" },
      h("h2", { id: "rooms-title" }, "Live rooms ", roomsCount), rooms.el),
    h("section", { class: "card", "aria-labelledby": "conns-title" },
      h("h2", { id: "conns-title" }, "Connections ", connsCount), conns.el),
    h("section", { class: "card", "aria-labelledby": "recent-title" },
      h("h2", { id: "recent-title" }, "Recent errors and actions"), recent, recentEmpty));
  app.append(box);

  function say(text, kind) {
    message.textContent = text;
    message.dataset.kind = kind;
    message.hidden = false;
  }
  /** An admin refusal ends the dashboard; true if `e` was one. */
  function ended(e) {
    if (!ADMIN_REFUSED.has(e?.code)) return false;
    refused(ADMIN_TEXT[e.code]);
    return true;
  }

  async function act(button, question, path, done) {
    if (!window.confirm(question)) return;
    button.disabled = true;
    try {
      say(done(await adminCall("POST", path, token)), "info");
    } catch (e) {
      if (ended(e)) return;
      say(`Could not do it: ${e.message}${e.code ? ` (${e.code})` : ""}`, "error");
      button.disabled = false;
    }
    refresh();
  }
  const closeRoom = (row, button) => {
    const n = row.details ? row.details.subscribers : "its";
    act(button,
      `Close match ${row.match_id}?\n\nIts room unloads and its ${n} connection(s) are disconnected (close 1008). Its log is kept: the match reloads from it on its next use.`,
      `matches/${encodeURIComponent(row.match_id)}/close`,
      (r) => (r.was_loaded
        ? `Closed match ${r.match_id}: ${r.disconnected} connection(s) disconnected.`
        : `Match ${r.match_id} was not loaded: nothing to close.`));
  };
  const disconnect = (c, button) => act(button,
    `Disconnect connection ${c.conn} (${c.name ?? "not signed in"}, ${c.transport} from ${c.peer})?\n\nIts client may reconnect.`,
    `connections/${c.conn}/disconnect`,
    (r) => `Disconnected connection ${r.connection.conn}.`);

  function sample(o) {
    if (prev && o.now_ms > prev.now_ms) {
      const s = (o.now_ms - prev.now_ms) / 1000;
      const rate = (k) => Math.max(0, (o.counters[k] - prev.counters[k]) / s);
      points.push({ moves: rate("moves_accepted"), commits: rate("group_commits") });
      if (points.length > CHART_POINTS) points.shift();
    }
    prev = { now_ms: o.now_ms, counters: o.counters };
    const last = points[points.length - 1];
    movesN.textContent = last ? fmtRate(last.moves) : "–";
    commitsN.textContent = last ? fmtRate(last.commits) : "–";
    drawRateChart(canvas, points);
  }

  function render(o) {
    roomsN.textContent = String(o.rooms_loaded);
    wsN.textContent = String(o.connections.ws);
    quicN.textContent = String(o.connections.quic);
    sample(o);
    syncRows(rooms.tbody, o.rooms, (r) => r.match_id, (r) => JSON.stringify(r), (r) => adminRoomRow(r, closeRoom));
    rooms.emptyP.hidden = o.rooms.length > 0;
    roomsCount.textContent = o.rooms_loaded > o.rooms.length ? `${o.rooms.length} of ${o.rooms_loaded}` : String(o.rooms_loaded || "");
    syncRows(conns.tbody, o.sessions, (c) => c.conn, (c) => JSON.stringify(c) + ago(c.opened_at_ms), (c) => adminConnRow(c, disconnect));
    conns.emptyP.hidden = o.sessions.length > 0;
    connsCount.textContent = o.connections.total > o.sessions.length ? `${o.sessions.length} of ${o.connections.total}` : String(o.connections.total || "");
    recent.replaceChildren(...o.recent.map((n) => h("li", { "data-kind": n.kind },
      h("time", { class: "seq", datetime: new Date(n.at_ms).toISOString() }, new Date(n.at_ms).toLocaleTimeString()), " ",
      h("span", { class: `tag${NOTE_ERRORS.has(n.kind) ? " bad" : ""}` }, n.kind), " ", n.message)));
    recent.hidden = o.recent.length === 0;
    recentEmpty.hidden = o.recent.length > 0;
  }

  async function refresh() {
    if (!alive || inflight) return;
    inflight = true;
    try {
      const o = await adminCall("GET", "overview", token);
      if (!alive) return;
      render(o);
      lastOk = Date.now();
      updated.classList.remove("stale");
      $(".updated-text", updated).textContent = "live · updated just now";
    } catch (e) {
      if (!alive || ended(e)) return;
      updated.classList.add("stale");
      $(".updated-text", updated).textContent = `can't reach the server — retrying (${e.message})`;
    } finally {
      inflight = false;
    }
  }
  const onResize = () => drawRateChart(canvas, points);
  window.addEventListener("resize", onResize);
  refresh();
  const poll = setInterval(refresh, ADMIN_POLL_MS);
  return {
    destroy() {
      alive = false;
      clearInterval(poll);
      window.removeEventListener("resize", onResize);
      box.remove();
    },
  };
}
