/*
 * Arbiter web UI: ES modules over the JavaScript SDK (./pkg/arbiter.js, docs/CLIENT.md). This
 * one holds the identity, the router and the pages; ui.js the shared helpers, dots.js and
 * cycles.js the game boards, generic.js the view of any other game, admin.js the operator's page.
 * No framework, no bundler, no dependencies: everything here goes through the SDK, whose
 * values are plain JSON-like objects and numbers and whose HTTP helpers reject with an `Error`
 * carrying `.status` and `.code`. The one exception is #/admin, which fetches the admin
 * endpoints (PROTOCOL.md 9.15) itself, with errors of the same shape.
 *
 * Routes (location.hash):
 *   #/              lobby: name, create a match, open / live / finished matches
 *   #/match/ID      play (if you hold a seat) or watch a match live
 *   #/replay/ID     replay a match with a scrubber; follows it while it is live
 *   #/admin         the operator's view: live rooms, connections, moves and commits per second,
 *                   recent errors; close a match, disconnect a connection (admin token needed)
 *
 * The identity {token, player_id, name, expires_at} is kept in localStorage under
 * "arbiter.identity"; a missing or expired one (or a token the server refuses) asks for a name.
 * The admin page needs no identity: it asks for the server's admin token (`--admin-token`) and
 * keeps it in sessionStorage under "arbiter.admin" (forgotten with the tab, or by a refusal).
 *
 * ── Test hooks (stable; automated browser tests rely on them) ──────────────────────────────
 * Name:     #name-input, #name-save (a submit button; the name form shows on any route while
 *           there is no valid identity), #change-name (header).
 * Lobby:    #create-form, #create-game (select), #create-width, #create-height,
 *           #create-players (number inputs), #bot-seat-N (checkbox: seat N, 0-based, is a bot),
 *           #bot-strategy-N (select greedy|random), #bot-think-N (number, ms), #create-config
 *           (JSON textarea, games other than dots), #timer-on (checkbox), #timer-move-s,
 *           #timer-total-min (number inputs), #timer-expiry (select pass|forfeit),
 *           #create-submit, #create-error, #quick-bot.
 *           #open-matches, #live-matches, #finished-matches: <ul>s whose items are
 *           li[data-match-id], with buttons [data-action="join"|"watch"|"replay"].
 *           #lobby-updated ("updated N s ago"), #lobby-message.
 *           performance.mark("lobby-ready"): once per page load, when the lobby's lists first
 *           show the server's matches.
 * Match:    #board (the canvas; focusable: arrows move an edge cursor, Enter/Space draws),
 *           #turn (whose turn; data-seat = seat to move, data-my-turn = "true"|"false"),
 *           #scores (one [data-seat=N] per seat, with the score in .score),
 *           #conn-status (data-state = the SDK's connection state), #message (last
 *           rejection/info text; data-kind = "error"|"info"), #match-over (hidden unless the
 *           match is over), #take-seat, #toggle-view (Dots: board <-> raw view),
 *           #generic-view, #legal-moves (buttons with data-move = the move's JSON; a click sends
 *           it), #gv-status, #gv-view, #gv-events (li[data-seq]), #last-move, #join-link,
 *           #copy-link, #copy-invite, #role ("playing as …" | "watching"), #timer-terms (the
 *           match's own turn timer in words; hidden without one), #board-status
 *           (screen-reader text for the keyboard cursor).
 *           A click on the board draws the nearest free edge within half a cell of the pointer.
 * Cycles:   light cycles draw on canvas#cycles-board instead of #board (its hooks are listed
 *           in cycles.js), on the match page and the replay page alike.
 * Replay:   #replay-range (0..head), #replay-seq, #replay-hash (state_hash of the shown
 *           state), #replay-live, #replay-play, #replay-back, #replay-forward,
 *           #replay-speed (select: 0.5, 1, 2, 4), #replay-caption; also #board, #scores,
 *           #conn-status (while following a live match).
 * Admin:    #admin-token-input, #admin-token-save (a submit button), #admin-error (the form
 *           shows while no token is kept, or after the server refused it), #admin-forget,
 *           #admin-updated ("live · updated …"; class "stale" when polling fails),
 *           #admin-message (the last action's result; data-kind = "info"|"error"),
 *           #admin-rooms-loaded, #admin-conns-ws, #admin-conns-quic, #admin-moves-rate,
 *           #admin-commits-rate (numbers), #admin-chart (canvas; data-drawn = "true" once drawn,
 *           data-points = the rates drawn, one per second of polling, at most 60),
 *           #admin-rooms (table; rows tr[data-match-id], with [data-spectators] and
 *           button[data-action="close"]), #admin-connections (table; rows tr[data-conn] = the
 *           connection id, with button[data-action="disconnect"]), #admin-recent (li[data-kind]).
 *           Both actions ask window.confirm() first.
 * window.arbiterUI = {
 *   edgePoint(move) -> {x, y} | null   viewport (client) coordinates of the centre of Dots
 *                                      edge `move` ({dir, x, y}) on the current #board canvas
 *                                      (scrolls the page first if that point is off-screen or
 *                                      under the sticky header),
 *   client      the current sdk.Client (match page, or the live follower of a replay) or null,
 *   matchId     the match shown, or null,
 *   replay      the current sdk.Replay on the replay page, or null,
 *   seq         on the replay page, the seq shown,
 * }
 * ───────────────────────────────────────────────────────────────────────────────────────────
 */
import init, * as sdk from "./pkg/arbiter.js";
import { CyclesBoard } from "./cycles.js";
import {
  $, SERVER, seatColor, seatInk, h, codeOf, errText, turnOf, overOf, statusWord, ago, edgeLabel, sameEdge, shortId, matchLink, icon, swatch,
} from "./ui.js";
import { isDrawn, DotsBoard } from "./dots.js";
import { GenericView } from "./generic.js";
import { adminPage } from "./admin.js";

const POLL_MS = 2000;
const ID_KEY = "arbiter.identity";
const AUTH_CODES = new Set(["token_invalid", "token_expired", "token_malformed", "token_missing"]);
const FRIENDLY = {
  not_your_turn: "It is not your turn.",
  already_taken: "That line is already drawn.",
  out_of_range: "That is off the board.",
  match_over: "The match is over.",
  not_a_seat: "That seat does not exist.",
  malformed_move: "That move is not understood.",
  illegal_move: "That move is not allowed.",
  waiting_for_players: "Waiting for every seat to be taken.",
  superseded: "A later move replaced that one before the tick.",
  not_joined: "Not following this match (yet).",
  not_seated: "You hold no seat in this match.",
  spectator: "You are watching this match.",
  match_full: "Every seat of that match is taken.",
  unknown_match: "No such match.",
  too_many_matches: "You have too many unfinished matches.",
  bad_name: "A name is 1 to 32 printable characters.",
  bad_code: "A code is six letters and digits.",
  unknown_code: "No open match has that code.",
  not_creator: "Only the player who created the match may cancel it.",
  match_started: "The match has started; resign instead.",
  match_not_started: "The match has not started yet.",
  already_queued: "You are already looking for an opponent.",
};


// ── identity ─────────────────────────────────────────────────────────────────────────────────

function loadIdentity() {
  try {
    const v = JSON.parse(localStorage.getItem(ID_KEY) || "null");
    if (v && v.token && v.player_id && v.expires_at * 1000 > Date.now() + 60_000) return v;
  } catch { /* ignore */ }
  return null;
}
function lastName() {
  try { return JSON.parse(localStorage.getItem(ID_KEY) || "null")?.name ?? ""; } catch { return ""; }
}
let me = loadIdentity();
let renamingFrom = null; // set while "Change name" is open
// A one-off message for the next page (e.g. "session expired").
let notice = !me && lastName() ? "Your guest session has expired. Pick a name to continue." : null;

function saveIdentity(g) {
  me = { token: g.token, player_id: g.player_id, name: g.name, expires_at: g.expires_at };
  localStorage.setItem(ID_KEY, JSON.stringify(me));
  renderHeader();
}
/** Refreshes the token while it is valid and less than an hour from expiry, so a player in
 * a long match never loses their seat to a clock; the open client presents it next time. */
const REFRESH_WITHIN_S = 3600;
async function keepFresh() {
  if (!me || me.expires_at - Date.now() / 1000 > REFRESH_WITHIN_S) return;
  try {
    saveIdentity(await sdk.refresh(SERVER, me.token));
    arbiterUI.client?.setToken(me.token);
  } catch { /* an expired or refused token: the next request asks for a name */ }
}

function expireIdentity(why) {
  me = null;
  notice = why;
  renderHeader();
  route();
}
/** If `e` says our token is no good, asks for a name again and returns true. */
function authFailed(e) {
  const code = codeOf(e);
  if (code && AUTH_CODES.has(code)) {
    expireIdentity("Your guest session has ended. Pick a name to continue.");
    return true;
  }
  return false;
}

function renderHeader() {
  const box = $("#me");
  if (!box) return;
  box.replaceChildren();
  if (!me) return;
  box.append(
    h("span", { class: "me-name", title: `player ${me.player_id}` },
      h("span", { class: "me-avatar", "aria-hidden": "true" }, (me.name[0] || "?").toUpperCase()),
      h("span", { class: "me-text" }, me.name)),
    h("button", {
      id: "change-name", type: "button", class: "btn ghost small",
      onclick: () => { renamingFrom = location.hash || "#/"; route(); },
    }, "Change name"),
  );
}

// ── API helpers ──────────────────────────────────────────────────────────────────────────────

// The game list never changes while the server runs: fetched once, again only after a failure.
let gamesCache = null;
function games() {
  if (!gamesCache) {
    gamesCache = sdk.listGames(SERVER);
    gamesCache.catch(() => { gamesCache = null; });
  }
  return gamesCache;
}
async function gameName(id) {
  try { return (await games()).find((g) => g.id === id)?.name ?? id; } catch { return id; }
}

/** A match summary (PROTOCOL.md 9.8): seats with their bots' details, outcome. */
const fetchSummary = (id) => sdk.fetchMatch(SERVER, id);

// ── router ───────────────────────────────────────────────────────────────────────────────────

const arbiterUI = {
  client: null,
  matchId: null,
  replay: null,
  seq: null,
  board: null, // the current DotsBoard
  edgePoint(move) {
    return this.board ? this.board.edgePoint(move) : null;
  },
};
window.arbiterUI = arbiterUI;

let page = null;
function route() {
  try { page?.destroy(); } catch (e) { console.error(e); }
  page = null;
  Object.assign(arbiterUI, { client: null, matchId: null, replay: null, seq: null, board: null });
  document.title = "Arbiter";
  const app = $("#app");
  app.replaceChildren();
  const hash = location.hash || "#/";
  markNav(hash);
  if (me && me.expires_at * 1000 <= Date.now() + 60_000) {
    me = null;
    notice = "Your guest session has expired. Pick a name to continue.";
    renderHeader();
  }
  // The admin page needs the admin token, not a player's identity.
  const admin = /^#\/admin\/?$/.test(hash);
  if (renamingFrom || (!me && !admin)) {
    page = namePage(app);
    return;
  }
  let m;
  if (admin) page = adminPage(app);
  else if ((m = hash.match(/^#\/match\/([A-Za-z0-9_-]{1,64})\/?$/))) page = matchPage(app, m[1]);
  else if ((m = hash.match(/^#\/replay\/([A-Za-z0-9_-]{1,64})\/?$/))) page = replayPage(app, m[1]);
  else page = lobbyPage(app);
}
function markNav(hash) {
  for (const a of document.querySelectorAll(".topnav a")) {
    if (a.getAttribute("href") === "#/" && (hash === "#/" || hash === "#" || hash === "")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}
function takeNotice() {
  const n = notice;
  notice = null;
  return n;
}

// ── name page ────────────────────────────────────────────────────────────────────────────────

function namePage(app) {
  const input = h("input", {
    id: "name-input", type: "text", maxlength: "32", autocomplete: "nickname", required: true,
    spellcheck: "false", value: me?.name ?? lastName(), placeholder: "e.g. Ada",
  });
  const err = h("p", { id: "name-error", class: "error", role: "alert" });
  const save = h("button", { id: "name-save", type: "submit", class: "btn primary" }, "Continue");
  const cancel = renamingFrom && me
    ? h("button", { type: "button", class: "btn ghost", onclick: () => { const to = renamingFrom; renamingFrom = null; if (location.hash === to) route(); else location.hash = to; } }, "Cancel")
    : null;
  const n = takeNotice();
  const form = h("form", { class: "card name-card", "aria-labelledby": "name-title", novalidate: true },
    h("h1", { id: "name-title" }, renamingFrom && me ? "Change your name" : "Welcome to Arbiter"),
    renamingFrom && me ? null : h("p", { class: "muted" }, "Play Dots and Boxes and other turn-based games, live, against friends or bots. Pick a name to get started — no account needed."),
    n ? h("p", { class: "notice" }, n) : null,
    renamingFrom && me ? h("p", { class: "hint" }, "A new name makes you a new guest: seats you hold now stay with your current name.") : null,
    h("label", { for: "name-input" }, "Your name"),
    h("div", { class: "row name-row" }, input, save),
    cancel,
    err,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = input.value.trim();
    err.textContent = "";
    if (!name) { err.textContent = "Please enter a name."; input.focus(); return; }
    save.disabled = true;
    save.textContent = "Saving…";
    try {
      saveIdentity(await sdk.guest(SERVER, name));
      const to = renamingFrom;
      renamingFrom = null;
      if (to && to !== (location.hash || "#/")) location.hash = to;
      else route();
    } catch (e) {
      err.textContent = errText(e);
      save.disabled = false;
      save.textContent = "Continue";
    }
  });
  app.append(h("div", { class: "center-page" }, form));
  input.focus();
  input.select();
  return { destroy() {} };
}

// ── lobby ────────────────────────────────────────────────────────────────────────────────────

function lobbyPage(app) {
  let alive = true;
  let lastOk = 0;
  let inflight = false;
  let failures = 0;
  const gameNames = new Map();

  const lobbyMsg = h("p", { id: "lobby-message", class: "notice", role: "status", hidden: true });
  const n = takeNotice();
  if (n) { lobbyMsg.textContent = n; lobbyMsg.hidden = false; }
  const updated = h("span", { id: "lobby-updated", class: "updated", "aria-live": "off" },
    h("span", { class: "pulse", "aria-hidden": "true" }), h("span", { class: "updated-text" }, "loading…"));

  const sections = {};
  const listCol = h("div", { class: "lists" });
  const defs = [
    ["open", "Open matches", "No open matches right now — create one!"],
    ["live", "Live now", "Nobody is playing right now."],
    ["finished", "Recently finished", "No finished matches yet."],
  ];
  for (const [status, title, empty] of defs) {
    const ul = h("ul", { id: `${status}-matches`, class: "match-list", "aria-labelledby": `${status}-title` });
    const emptyP = h("p", { class: "empty", hidden: true }, empty);
    const count = h("span", { class: "count", "aria-hidden": "true" });
    sections[status] = { ul, emptyP, count };
    listCol.append(h("section", { class: `card list-card list-${status}` },
      h("h2", { id: `${status}-title` }, title, " ", count), ul, emptyP));
  }

  const createCard = createForm();
  const codeInput = h("input", { id: "join-code", type: "text", maxlength: "6", size: "7", placeholder: "Code", autocomplete: "off", "aria-label": "A private match's code", class: "mono" });
  const codeBtn = h("button", { id: "join-code-go", type: "button", class: "btn small" }, "Join by code");
  codeBtn.addEventListener("click", async () => {
    codeBtn.disabled = true;
    try {
      const seat = await sdk.joinByCode(SERVER, me.token, codeInput.value);
      location.hash = `#/match/${seat.match_id}`;
    } catch (e) {
      if (authFailed(e)) return;
      lobbyMsg.textContent = `Could not join by code: ${errText(e)}`;
      lobbyMsg.hidden = false;
    } finally {
      codeBtn.disabled = false;
    }
  });
  app.append(h("div", { class: "lobby" },
    h("div", { class: "lobby-head" },
      h("div", {}, h("h1", {}, "Lobby"), h("p", { class: "muted" }, "Join a match, watch one live, or start your own.")),
      h("div", { class: "lobby-head-tools" },
        updated, codeInput, codeBtn,
        h("button", {
          type: "button", class: "btn small primary jump-new",
          onclick: () => { createCard.scrollIntoView({ behavior: "smooth", block: "start" }); $("#create-game", createCard)?.focus({ preventScroll: true }); },
        }, "New match"))),
    lobbyMsg,
    h("div", { class: "lobby-grid" }, createCard, listCol)));

  games().then((gs) => { for (const g of gs) gameNames.set(g.id, g.name); }).catch(() => {});

  async function refresh() {
    if (!alive || inflight) return;
    inflight = true;
    try {
      const [open, live, finished] = await Promise.all([
        sdk.listMatches(SERVER, { status: "open", limit: 50 }),
        sdk.listMatches(SERVER, { status: "live", limit: 50 }),
        sdk.listMatches(SERVER, { status: "finished", limit: 20 }),
      ]);
      if (!alive) return;
      renderList("open", open);
      renderList("live", live);
      renderList("finished", finished);
      // For the browser tests' first-paint figures: when a player first sees the matches.
      if (!performance.getEntriesByName("lobby-ready").length) performance.mark("lobby-ready");
      lastOk = Date.now();
      failures = 0;
      updated.classList.remove("stale");
      tick();
    } catch (e) {
      failures++;
      if (!alive) return;
      updated.classList.add("stale");
      $(".updated-text", updated).textContent = `can't reach the server — retrying (${errText(e)})`;
    } finally {
      inflight = false;
    }
  }
  function tick() {
    if (!lastOk || failures) return;
    const s = Math.floor((Date.now() - lastOk) / 1000);
    $(".updated-text", updated).textContent = s < 1 ? "live · updated just now" : `live · updated ${s} s ago`;
  }

  function renderList(status, matches) {
    const { ul, emptyP, count } = sections[status];
    // My matches first, then as the server ordered them (newest first).
    const mine = (m) => m.seats.some((s) => s && s.player_id === me.player_id);
    matches = [...matches.filter(mine), ...matches.filter((m) => !mine(m))];
    const old = new Map();
    for (const li of ul.children) old.set(li.dataset.matchId, li);
    const keep = new Set();
    let ref = ul.firstChild;
    for (const m of matches) {
      const sig = JSON.stringify(m) + "|" + (gameNames.get(m.game) ?? "");
      let li = old.get(m.match_id);
      if (!li || li._sig !== sig) {
        const fresh = matchItem(m, status);
        fresh._sig = sig;
        if (li) {
          const focused = li.contains(document.activeElement) ? document.activeElement.dataset.action : null;
          li.replaceWith(fresh);
          if (ref === li) ref = fresh;
          if (focused) $(`[data-action="${focused}"]`, fresh)?.focus();
        }
        li = fresh;
      }
      keep.add(li);
      if (li === ref) ref = ref.nextSibling;
      else ul.insertBefore(li, ref);
    }
    for (const li of [...ul.children]) if (!keep.has(li)) li.remove();
    emptyP.hidden = matches.length > 0;
    count.textContent = matches.length ? String(matches.length) : "";
  }

  function matchItem(m, status) {
    const seats = m.seats;
    const mySeat = seats.findIndex((s) => s && s.player_id === me.player_id);
    const free = seats.filter((s) => !s).length;
    const chips = seats.map((s, i) => s
      ? h("li", { class: "chip" + (i === mySeat ? " me" : ""), title: s.bot ? `${s.bot.strategy} bot, thinks ${s.bot.think_ms} ms` : s.name },
          swatch(i), h("span", {}, i === mySeat ? `${s.name} (you)` : s.name), s.bot ? h("span", { class: "bot-tag" }, "bot") : null)
      : h("li", { class: "chip free" }, swatch(i), h("span", {}, "open seat")));
    let meta;
    if (status === "finished" && m.outcome) meta = resultText(m.outcome, seats, mySeat);
    else if (status === "open") meta = `${free} open seat${free === 1 ? "" : "s"} · created ${ago(m.created_at_ms)}`;
    else meta = `${m.head_seq} events · started ${ago(m.created_at_ms)}`;

    const actions = [];
    const go = (hash) => () => { location.hash = hash; };
    if (status === "open") {
      actions.push(h("button", {
        type: "button", class: "btn primary small", "data-action": "join",
        "aria-label": `${mySeat >= 0 ? "Resume" : "Join"} match ${m.match_id}`,
        onclick: async (ev) => {
          const b = ev.currentTarget;
          b.disabled = true;
          b.textContent = "Joining…";
          try {
            await sdk.takeSeat(SERVER, me.token, m.match_id);
            location.hash = `#/match/${m.match_id}`;
          } catch (e) {
            if (authFailed(e)) return;
            b.disabled = false;
            b.textContent = mySeat >= 0 ? "Resume" : "Join";
            lobbyMsg.textContent = `Could not join: ${errText(e)}`;
            lobbyMsg.hidden = false;
            refresh();
          }
        },
      }, mySeat >= 0 ? "Resume" : "Join"));
      actions.push(h("button", { type: "button", class: "btn small", "data-action": "watch", "aria-label": `Watch match ${m.match_id}`, onclick: go(`#/match/${m.match_id}`) }, "Watch"));
    } else if (status === "live") {
      actions.push(h("button", {
        type: "button", class: "btn small" + (mySeat >= 0 ? " primary" : ""), "data-action": "watch",
        "aria-label": `${mySeat >= 0 ? "Resume" : "Watch"} match ${m.match_id}`, onclick: go(`#/match/${m.match_id}`),
      }, mySeat >= 0 ? "Resume" : "Watch"));
      actions.push(h("button", { type: "button", class: "btn ghost small", "data-action": "replay", "aria-label": `Replay match ${m.match_id} from the start`, onclick: go(`#/replay/${m.match_id}`) }, "Replay"));
    } else {
      actions.push(h("button", { type: "button", class: "btn small", "data-action": "replay", "aria-label": `Replay match ${m.match_id}`, onclick: go(`#/replay/${m.match_id}`) }, "Replay"));
    }
    const name = gameNames.get(m.game) ?? m.game;
    return h("li", { class: "match-item", "data-match-id": m.match_id, "data-status": status },
      h("div", { class: "mi-main" },
        h("div", { class: "mi-title" },
          h("span", { class: "game-name" }, name),
          h("span", { class: "mid", title: m.match_id }, shortId(m.match_id)),
          mySeat >= 0 ? h("span", { class: "badge" }, "your match") : null,
          status === "live" ? h("span", { class: "badge live" }, "live") : null),
        h("ul", { class: "chips", "aria-label": "Seats" }, chips),
        h("div", { class: "mi-meta" }, meta)),
      h("div", { class: "mi-actions" }, actions));
  }

  refresh();
  const poll = setInterval(refresh, POLL_MS);
  const ticker = setInterval(tick, 1000);
  return {
    destroy() {
      alive = false;
      clearInterval(poll);
      clearInterval(ticker);
    },
  };
}

function resultText(out, seats, mySeat) {
  const winners = out.winners;
  const scores = out.scores.join("–");
  const nameOf = (s) => (s === mySeat ? "You" : seats[s]?.name ?? `Seat ${s + 1}`);
  if (winners.length === 1) return `${nameOf(winners[0])} won${scores ? " · " + scores : ""}`;
  if (winners.length > 1) return `Draw: ${winners.map(nameOf).join(" & ")}${scores ? " · " + scores : ""}`;
  return scores ? `Over · ${scores}` : "Over";
}

// ── create form ──────────────────────────────────────────────────────────────────────────────

function createForm() {
  const gameSel = h("select", { id: "create-game", name: "game" }, h("option", { value: "dots" }, "Loading games…"));
  const num = (id, label, min, max, value) => h("div", { class: "field" },
    h("label", { for: id }, label),
    h("input", { id, name: id, type: "number", min, max, step: "1", value: String(value), inputmode: "numeric", required: true }));
  const dotsFields = h("div", { class: "dots-fields three" },
    num("create-width", "Width", 1, 16, 5), num("create-height", "Height", 1, 16, 5), num("create-players", "Players", 2, 4, 2));
  const cfgArea = h("textarea", { id: "create-config", rows: "4", spellcheck: "false", class: "mono" }, "{}");
  const genericFields = h("div", { class: "field generic-fields", hidden: true },
    h("label", { for: "create-config" }, "Config (JSON)"), cfgArea,
    h("p", { class: "hint" }, "The game's default config; edit it as you like."));
  const seatsBox = h("div", { class: "seat-rows" });
  const seatsField = h("fieldset", { class: "seats" },
    h("legend", {}, "Seats"),
    h("p", { class: "hint" }, "Tick the seats a bot should play. You take the first free seat."),
    seatsBox);
  const err = h("p", { id: "create-error", class: "error", role: "alert" });
  const submit = h("button", { id: "create-submit", type: "submit", class: "btn primary wide" }, "Create match");
  const quick = h("button", { id: "quick-bot", type: "button", class: "btn wide" }, "Quick game: 5×5 vs a bot");
  const findBtn = h("button", { id: "quick-match", type: "button", class: "btn wide" }, "Find an opponent");
  const finding = h("p", { id: "quick-status", class: "notice", role: "status", hidden: true }, "finding an opponent…");
  const privateBox = h("label", { class: "check", for: "create-private" },
    h("input", { id: "create-private", type: "checkbox" }), " Private: listed to nobody, joined by its code");
  const timerBox = timerFields();
  const form = h("form", { id: "create-form", class: "card create-card", "aria-labelledby": "create-title", novalidate: true },
    h("h2", { id: "create-title" }, "New match"),
    h("div", { class: "field" }, h("label", { for: "create-game" }, "Game"), gameSel),
    dotsFields, genericFields, seatsField, timerBox.el, privateBox, err,
    h("div", { class: "actions-col" }, submit, quick, findBtn, finding));

  let gameList = [];
  const botState = new Map(); // seat -> {on, strategy, think}

  function currentGame() { return gameList.find((g) => g.id === gameSel.value) || { id: gameSel.value, min_seats: 2, max_seats: 2, default_config: {} }; }
  function seatCount() {
    const g = currentGame();
    if (g.id === "dots") {
      const p = parseInt($("#create-players", form).value, 10);
      return Number.isFinite(p) ? Math.min(4, Math.max(2, p)) : 2;
    }
    let players = null;
    try { players = JSON.parse(cfgArea.value || "null")?.players; } catch { /* not JSON yet */ }
    const max = g.max_seats || 8;
    return Number.isInteger(players) ? Math.min(max, Math.max(g.min_seats || 2, players)) : Math.max(1, g.min_seats || 2);
  }
  function saveBots() {
    for (const row of seatsBox.children) {
      const n = Number(row.dataset.botSeat);
      botState.set(n, {
        on: $(`#bot-seat-${n}`, row).checked,
        strategy: $(`#bot-strategy-${n}`, row).value,
        think: $(`#bot-think-${n}`, row).value,
      });
    }
  }
  function renderSeats() {
    saveBots();
    seatsBox.replaceChildren();
    const n = seatCount();
    for (let i = 0; i < n; i++) {
      const st = botState.get(i) || { on: false, strategy: "greedy", think: "500" };
      const cb = h("input", { type: "checkbox", id: `bot-seat-${i}`, checked: st.on });
      const strat = h("select", { id: `bot-strategy-${i}`, "aria-label": `Seat ${i + 1} bot strategy` },
        h("option", { value: "greedy", selected: st.strategy === "greedy" }, "greedy"),
        h("option", { value: "random", selected: st.strategy === "random" }, "random"));
      const think = h("input", { type: "number", id: `bot-think-${i}`, min: "0", max: "60000", step: "100", value: st.think, inputmode: "numeric", "aria-label": `Seat ${i + 1} bot think time in milliseconds` });
      const who = h("span", { class: "seat-who" });
      const opts = h("span", { class: "bot-opts" }, strat, think, h("span", { class: "unit", "aria-hidden": "true" }, "ms"));
      const row = h("div", { class: "seat-row", "data-bot-seat": String(i) },
        h("span", { class: "seat-name" }, swatch(i), `Seat ${i + 1}`),
        h("label", { class: "check", for: `bot-seat-${i}` }, cb, "Bot"),
        opts, who);
      cb.addEventListener("change", updateSeats);
      seatsBox.append(row);
    }
    updateSeats();
  }
  function updateSeats() {
    const rows = [...seatsBox.children];
    let firstHuman = -1;
    rows.forEach((row, i) => {
      const on = $(`#bot-seat-${i}`, row).checked;
      row.classList.toggle("is-bot", on);
      $(".bot-opts", row).hidden = !on;
      if (!on && firstHuman < 0) firstHuman = i;
    });
    rows.forEach((row, i) => {
      const on = $(`#bot-seat-${i}`, row).checked;
      $(".seat-who", row).textContent = on ? "" : i === firstHuman ? "you" : "a player";
    });
    const allBots = firstHuman < 0;
    err.textContent = allBots ? "Leave at least one seat for a person." : "";
    submit.disabled = allBots;
  }
  function showGameFields() {
    const g = currentGame();
    const dots = g.id === "dots";
    dotsFields.hidden = !dots;
    genericFields.hidden = dots;
    for (const i of dotsFields.querySelectorAll("input")) i.disabled = !dots;
    cfgArea.disabled = dots;
    if (!dots) cfgArea.value = JSON.stringify(g.default_config ?? {}, null, 2);
    else {
      const d = g.default_config;
      if (d.width) $("#create-width", form).value = d.width;
      if (d.height) $("#create-height", form).value = d.height;
      if (d.players) $("#create-players", form).value = d.players;
    }
    renderSeats();
  }
  gameSel.addEventListener("change", showGameFields);
  $("#create-players", form).addEventListener("input", renderSeats);
  cfgArea.addEventListener("input", renderSeats);

  games().then((gs) => {
    gameList = gs;
    gameSel.replaceChildren(...gs.map((g) => h("option", { value: g.id }, g.name)));
    gameSel.value = gs.some((g) => g.id === "dots") ? "dots" : gs[0]?.id ?? "";
    showGameFields();
  }).catch((e) => {
    gameSel.replaceChildren(h("option", { value: "dots" }, "Dots and Boxes"));
    err.textContent = `Could not load the games: ${errText(e)}`;
    renderSeats();
  });
  renderSeats();

  async function create(req, button) {
    err.textContent = "";
    const label = button.textContent;
    button.disabled = true;
    button.textContent = "Creating…";
    try {
      const res = await sdk.createMatch(SERVER, me.token, req);
      await sdk.takeSeat(SERVER, me.token, res.match_id);
      if (res.code) notice = `Private match: others join with the code ${res.code}.`;
      location.hash = `#/match/${res.match_id}`;
    } catch (e) {
      if (authFailed(e)) return;
      err.textContent = errText(e);
      button.disabled = false;
      button.textContent = label;
    }
  }

  // The form's config for the game picked, or (with the reason shown) undefined.
  function readConfig(g) {
    let config;
    if (g.id === "dots") {
      const read = (id, lo, hi, label) => {
        const v = Number($(id, form).value);
        if (!Number.isInteger(v) || v < lo || v > hi) throw new Error(`${label} must be a whole number from ${lo} to ${hi}.`);
        return v;
      };
      try {
        config = { width: read("#create-width", 1, 16, "Width"), height: read("#create-height", 1, 16, "Height"), players: read("#create-players", 2, 4, "Players") };
      } catch (e) { err.textContent = e.message; return; }
    } else {
      try { config = JSON.parse(cfgArea.value || "null"); } catch (e) { err.textContent = `The config is not valid JSON: ${e.message}`; return; }
    }
    return config;
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const g = currentGame();
    const config = readConfig(g);
    if (config === undefined) return;
    const bots = [];
    const n = seatsBox.children.length;
    for (let i = 0; i < n; i++) {
      if (!$(`#bot-seat-${i}`, form).checked) continue;
      const think = Number($(`#bot-think-${i}`, form).value);
      if (!Number.isInteger(think) || think < 0 || think > 60000) { err.textContent = `Seat ${i + 1}: think time is 0 to 60000 ms.`; return; }
      bots.push({ seat: i, strategy: $(`#bot-strategy-${i}`, form).value, think_ms: think });
    }
    if (bots.length >= n) { err.textContent = "Leave at least one seat for a person."; return; }
    const visibility = $("#create-private", form).checked ? "private" : "public";
    const timer = timerBox.read();
    if (timer === undefined) { err.textContent = timerBox.error; return; }
    create({ game: g.id, config, bots, visibility, ...(timer ? { timer } : {}) }, submit);
  });
  findBtn.addEventListener("click", async () => {
    const g = currentGame();
    const config = readConfig(g);
    if (config === undefined) return;
    err.textContent = "";
    findBtn.disabled = true;
    finding.hidden = false;
    try {
      const seat = await sdk.quickMatch(SERVER, me.token, { game: g.id, config });
      location.hash = `#/match/${seat.match_id}`;
    } catch (e) {
      if (authFailed(e)) return;
      err.textContent = e.code === "quickmatch_timeout" ? "Nobody came in time; try again." : errText(e);
    } finally {
      findBtn.disabled = false;
      finding.hidden = true;
    }
  });
  quick.addEventListener("click", () => create({
    game: "dots", config: { width: 5, height: 5, players: 2 }, bots: [{ seat: 1, strategy: "greedy", think_ms: 500 }],
  }, quick));
  return form;
}

// ── turn timer ───────────────────────────────────────────────────────────────────────────────

/** The create form's turn timer: off, or seconds per move, an optional total in minutes, and
 * what running out means. `read()` gives the API's `timer` (null when off), or undefined with
 * `error` set when a field is out of range (PROTOCOL.md 9.6). */
function timerFields() {
  const on = h("input", { id: "timer-on", type: "checkbox" });
  const moveS = h("input", { id: "timer-move-s", type: "number", min: "1", max: "86400", step: "1", value: "30", inputmode: "numeric" });
  const totalMin = h("input", { id: "timer-total-min", type: "number", min: "0", max: "10080", step: "1", value: "0", inputmode: "numeric" });
  const expiry = h("select", { id: "timer-expiry" },
    h("option", { value: "pass" }, "the turn passes"), h("option", { value: "forfeit" }, "the seat loses"));
  const opts = h("div", { class: "timer-opts three", hidden: true },
    h("div", { class: "field" }, h("label", { for: "timer-move-s" }, "Seconds a move"), moveS),
    h("div", { class: "field" }, h("label", { for: "timer-total-min" }, "Minutes in all (0: none)"), totalMin),
    h("div", { class: "field" }, h("label", { for: "timer-expiry" }, "Out of time"), expiry));
  on.addEventListener("change", () => { opts.hidden = !on.checked; });
  const el = h("fieldset", { class: "timer" }, h("legend", {}, "Turn timer"),
    h("label", { class: "check", for: "timer-on" }, on, " Time each turn"), opts);
  const box = { el, error: "" };
  box.read = () => {
    if (!on.checked) return null;
    const move = Number(moveS.value), total = Number(totalMin.value);
    if (!Number.isInteger(move) || move < 1 || move > 86400) { box.error = "Seconds a move: a whole number from 1 to 86400."; return undefined; }
    if (!Number.isInteger(total) || total < 0 || total > 10080) { box.error = "Minutes in all: a whole number from 0 to 10080."; return undefined; }
    return { move_ms: move * 1000, ...(total ? { total_ms: total * 60000 } : {}), on_expiry: expiry.value };
  };
  return box;
}

/** A match's own turn timer in words: "30 s a move · 10 min in all · out of time loses". */
function timerTerms(t) {
  const parts = [`${t.move_ms / 1000} s a move`];
  if (t.total_ms) parts.push(`${t.total_ms / 60000} min in all`);
  parts.push(t.on_expiry === "forfeit" ? "out of time loses" : "out of time passes");
  return parts.join(" · ");
}

// ── connection pill ──────────────────────────────────────────────────────────────────────────

class ConnPill {
  constructor() {
    this.el = h("span", { id: "conn-status", class: "conn", "data-state": "idle", title: "connection" },
      h("span", { class: "conn-dot", "aria-hidden": "true" }), this.text = h("span", { class: "conn-text" }, "idle"));
    this.timer = null;
  }
  set(u) {
    const state = u.state;
    this.el.dataset.state = state;
    clearInterval(this.timer);
    this.timer = null;
    const labels = { idle: "idle", connecting: "connecting…", authenticated: "connected", reconnecting: "reconnecting…", closed: "offline" };
    this.text.textContent = labels[state] ?? state;
    this.el.title = `Connection: ${labels[state] ?? state}${u.attempt ? ` (attempt ${u.attempt})` : ""}`;
    if (state === "reconnecting" && u.retry_in_ms != null) {
      const until = Date.now() + u.retry_in_ms;
      const show = () => {
        const left = Math.max(0, until - Date.now());
        this.text.textContent = left > 0 ? `reconnecting in ${Math.ceil(left / 1000)} s` : "reconnecting…";
        if (left <= 0) { clearInterval(this.timer); this.timer = null; }
      };
      show();
      this.timer = setInterval(show, 250);
    }
  }
  destroy() { clearInterval(this.timer); }
}

// ── shared match widgets ─────────────────────────────────────────────────────────────────────

/** The seats of a state (or, before there is one, of the summary), each with `bot` set for a
 * bot: the summary's details (strategy, think time) once it lists that seat, else `{}` from the
 * bot's player id (`bot-…`, PROTOCOL.md 9.6). */
function seatsOf(m, summary) {
  return (m?.seats ?? summary?.seats ?? []).map((s, i) => {
    if (!s) return null;
    const known = summary?.seats[i];
    const bot = known?.player_id === s.player_id && known.bot ? known.bot : s.player_id.startsWith("bot-") ? {} : undefined;
    return { ...s, bot };
  });
}

/** Fills #scores: one li[data-seat] per seat, with name, badges and .score. */
function renderScores(ol, { seats, scores, toMove, mySeat, over }) {
  const n = seats.length;
  while (ol.children.length > n) ol.lastElementChild.remove();
  const winners = new Set(over?.winners);
  for (let i = 0; i < n; i++) {
    let li = ol.children[i];
    if (!li) {
      li = h("li", { class: "player", "data-seat": String(i), style: `--c:${seatColor(i)};--ink:${seatInk(i)}` },
        swatch(i),
        h("span", { class: "pwho" }, h("span", { class: "pname" }), h("span", { class: "ptags" })),
        h("span", { class: "score", title: "score" }));
      ol.append(li);
    }
    const s = seats[i];
    $(".pname", li).textContent = s ? s.name : "Open seat";
    const tags = [];
    if (i === mySeat) tags.push(h("span", { class: "tag you" }, "you"));
    if (s?.bot) tags.push(h("span", { class: "tag" }, "bot"));
    if (over && winners.has(i)) tags.push(h("span", { class: "tag win" }, winners.size > 1 ? "tie" : "winner"));
    else if (!over && toMove === i) tags.push(h("span", { class: "tag tomove" }, "to move"));
    $(".ptags", li).replaceChildren(...tags);
    const sc = scores?.[i];
    $(".score", li).textContent = sc == null ? "" : String(sc); // empty: hidden (style.css)
    li.classList.toggle("active", !over && toMove === i);
    li.classList.toggle("free", !s);
    li.classList.toggle("winner", !!over && winners.has(i));
  }
}

function overBanner(el, over, seats, mySeat, extra) {
  if (!over) { el.hidden = true; el._key = null; return; }
  const key = JSON.stringify([over, seats.map((s) => s?.name), mySeat]);
  if (el._key === key && !el.hidden) return;
  el._key = key;
  const winners = over.winners;
  const nameOf = (s) => seats[s]?.name ?? `Seat ${s + 1}`;
  let title;
  if (winners.length === 1) title = winners[0] === mySeat ? "You win!" : `${nameOf(winners[0])} wins!`;
  else if (winners.length > 1) title = winners.includes(mySeat) ? `It's a draw — you tie with ${winners.filter((w) => w !== mySeat).map(nameOf).join(" & ")}` : `Draw between ${winners.map(nameOf).join(" & ")}`;
  else title = "Match over";
  const scores = over.scores.map((s, i) => h("span", { class: "ov-score", style: `--ink:${seatInk(i)}` }, String(s)));
  const sep = [];
  scores.forEach((s, i) => { if (i) sep.push(h("span", { class: "ov-sep", "aria-hidden": "true" }, "–")); sep.push(s); });
  el.replaceChildren(
    h("span", { class: "trophy" }, icon(winners.length === 1 ? "trophy" : "draw", 30)),
    h("div", { class: "ov-text" }, h("strong", {}, title), h("span", { class: "ov-scores" }, "Final score ", sep)),
    h("div", { class: "ov-actions" }, extra));
  el.hidden = false;
}

// ── match page ───────────────────────────────────────────────────────────────────────────────

function matchPage(app, id) {
  let alive = true;
  const ui = { client: null, summary: null, role: null, events: [], pending: null, generic: false, game: null, canPick: false };
  arbiterUI.matchId = id;

  const conn = new ConnPill();
  const title = h("h1", {}, "Match");
  const sub = h("p", { class: "muted sub" }, shortId(id));
  const role = h("span", { id: "role", class: "role-pill" }, "…");
  const timerEl = h("span", { id: "timer-terms", class: "muted", hidden: true });
  const turn = h("div", { id: "turn", class: "turn", role: "status", "aria-live": "polite" }, "Connecting…");
  const lastMoveEl = h("p", { id: "last-move", class: "last-move muted" });
  const message = h("p", { id: "message", class: "toast", role: "status", "aria-live": "assertive" });
  const over = h("div", { id: "match-over", class: "match-over", hidden: true, role: "status" });
  const boardWrap = h("div", { class: "board-wrap" });
  const genericBox = h("div", { class: "generic-box" });
  const coarse = window.matchMedia?.("(pointer: coarse)").matches;
  const keyHint = h("p", { class: "hint key-hint" }, coarse
    ? "Tap a line to draw it."
    : "Click a line to draw it. Keyboard: Tab to the board, arrow keys choose a line, Enter draws it.");
  const scores = h("ol", { id: "scores", class: "players" });
  const takeSeat = h("button", { id: "take-seat", type: "button", class: "btn primary small", hidden: true }, "Take a seat");
  const toggle = h("button", { id: "toggle-view", type: "button", class: "btn small ghost", hidden: true, "aria-pressed": "false" }, "Raw view");
  const replayLink = h("a", { class: "btn small", href: `#/replay/${id}` }, "Replay");
  const linkInput = h("input", { id: "join-link", type: "text", readonly: true, value: matchLink(id), class: "mono", "aria-label": "Link to this match" });
  const copyBtn = h("button", { id: "copy-link", type: "button", class: "btn small" }, "Copy");
  const inviteBtn = h("button", { id: "copy-invite", type: "button", class: "btn small", hidden: true }, "Copy invite link");
  const leaveBtn = h("button", { id: "leave-match", type: "button", class: "btn small", hidden: true }, "Leave");
  const cancelBtn = h("button", { id: "cancel-match", type: "button", class: "btn small", hidden: true }, "Cancel match");
  const resignBtn = h("button", { id: "resign-match", type: "button", class: "btn small", hidden: true }, "Resign");

  const boardCard = h("section", { class: "card board-card", "aria-label": "Board" },
    h("div", { class: "board-top" }, turn, h("div", { class: "board-tools" }, takeSeat, inviteBtn, leaveBtn, cancelBtn, resignBtn, toggle)),
    over,
    h("div", { class: "board-stage" }, boardWrap, genericBox, message),
    lastMoveEl, keyHint);
  const playersCard = h("section", { class: "card players-card", "aria-labelledby": "players-title" },
    h("h2", { id: "players-title" }, "Players"), scores);
  const infoCard = h("section", { class: "card info-card", "aria-labelledby": "info-title" },
    h("h2", { id: "info-title" }, "Invite"),
    h("p", { class: "hint" }, "Send this link to a friend to play or watch:"),
    h("div", { class: "row copy-row" }, linkInput, copyBtn),
    h("div", { class: "row links" }, replayLink, h("a", { class: "btn small ghost", href: "#/" }, "Back to lobby")));

  app.append(h("div", { class: "match-page" },
    h("div", { class: "page-head" },
      h("div", { class: "ph-left" }, title, h("div", { class: "ph-sub" }, sub, role, timerEl)),
      conn.el),
    h("div", { class: "match-grid" }, boardCard, h("div", { class: "side" }, playersCard, infoCard))));

  const toast = makeToast(message);
  const pageNotice = takeNotice();
  if (pageNotice) infoCard.append(h("p", { id: "page-notice", class: "notice", role: "status" }, pageNotice));
  copyBtn.addEventListener("click", () => copyText(linkInput, copyBtn));
  inviteBtn.addEventListener("click", () => copyText(linkInput, inviteBtn));

  let board = null;
  let cycles = null;
  let generic = null;
  let rafId = 0;
  const schedule = () => { if (!rafId) rafId = requestAnimationFrame(() => { rafId = 0; if (alive) render(); }); };

  const state = () => ui.client?.state(id);

  function startClient(role) {
    if (ui.client) { try { ui.client.close(); } catch { /* ignore */ } }
    ui.events = [];
    ui.pending = null;
    ui.role = role;
    const c = new sdk.Client(SERVER, me.token);
    ui.client = c;
    arbiterUI.client = c;
    c.onUpdate((u) => { if (alive && ui.client === c) onUpdate(c, u); });
    c.connect();
    c.join(id, role);
    schedule();
  }

  function onUpdate(c, u) {
    switch (u.kind) {
      case "connection":
        conn.set(u);
        break;
      case "event": {
        if (u.match_id !== id) break;
        ui.events.push(u.event);
        if (ui.events.length > 2000) ui.events.splice(0, ui.events.length - 1000);
        const mv = u.event.body?.move;
        if (ui.pending && mv && sameEdge(mv.move, ui.pending.move)) ui.pending = null;
        if (u.event.body?.seated && c.state(id)?.caught_up) refreshSummary(); // for bot details
        schedule();
        break;
      }
      case "caught_up":
        if (u.match_id === id) schedule();
        break;
      case "verdict": {
        if (u.match_id !== id) break;
        if (ui.pending && ui.pending.moveId === u.move_id) ui.pending = null;
        const rej = u.result?.rejected;
        // A light cycle's turn replaced by a later one before its tick is expected.
        if (rej && !(ui.game === "lightcycles" && rej.code === "superseded")) toast(`${FRIENDLY[rej.code] ?? rej.message} (${rej.code})`, "error", rej.message);
        schedule();
        break;
      }
      case "error":
        if (u.match_id && u.match_id !== id) break;
        if (AUTH_CODES.has(u.code)) { try { c.close(); } catch { /* ignore */ } authFailed(u); return; }
        if (u.code === "not_seated" && ui.role === "player") { toast("You hold no seat here; watching instead.", "info"); startClient("spectator"); return; }
        toast(`${FRIENDLY[u.code] ?? u.message} (${u.code})`, "error", u.message);
        if (u.code === "unknown_match") { turn._key = null; turn.textContent = "No such match."; }
        break;
      case "desync":
        if (u.match_id === id) toast(`Resynced with the server (state mismatch at #${u.seq}).`, "info");
        schedule();
        break;
      default:
        break;
    }
  }

  async function refreshSummary() {
    try { ui.summary = await fetchSummary(id); schedule(); } catch { /* keep the old one */ }
  }

  function sendMove(move) {
    const c = ui.client;
    const m = state();
    if (!c || !m) return;
    if (m.role !== "player") { toast("You are watching this match. Take a seat to play.", "info"); return; }
    if (overOf(m.status)) { toast("The match is over.", "info"); return; }
    if (m.seats.includes(null)) { toast("Waiting for every seat to be taken — share the link!", "info"); return; }
    if (ui.game === "dots" && isDrawn(m.view, move)) { toast("That line is already drawn.", "info"); return; }
    try {
      const moveId = c.move(id, move);
      if (m.my_turn) ui.pending = { move, moveId };
      schedule();
    } catch (e) {
      toast(errText(e), "error");
    }
  }

  // A direction key or swipe; true when the page took it as steering.
  function steer(heading) {
    const c = ui.client;
    const m = state();
    if (!c || !m) return false;
    if (m.role !== "player") return false;
    if (overOf(m.status)) return false;
    try {
      c.steer(id, heading);
    } catch (e) {
      toast(errText(e), "info");
    }
    return true;
  }

  function addViewToggle() {
    toggle.hidden = false;
    toggle.addEventListener("click", () => {
      ui.generic = !ui.generic;
      toggle.setAttribute("aria-pressed", String(ui.generic));
      toggle.textContent = ui.generic ? "Board view" : "Raw view";
      schedule();
    });
  }

  function ensureRenderers(game) {
    if (ui.game === game) return;
    ui.game = game;
    if (game === "lightcycles") {
      cycles = new CyclesBoard(boardWrap, {
        colors: seatColor,
        onSteer: steer,
        predict: () => ui.client?.prediction(id),
      });
      keyHint.textContent = coarse ? "Swipe on the arena to steer your cycle." : "Arrow keys or WASD steer your cycle (or swipe on a touch screen).";
      addViewToggle();
    } else if (game === "dots") {
      board = new DotsBoard(boardWrap, {
        interactive: true,
        canPick: () => ui.canPick, // as of the last render
        onPick: (e) => sendMove(e),
      });
      arbiterUI.board = board;
      addViewToggle();
    } else {
      keyHint.hidden = true;
      ui.generic = true;
    }
    generic = new GenericView(genericBox, { onMove: (mv) => sendMove(mv) });
    gameName(game).then((n) => { title.textContent = n; });
  }

  function render() {
    const m = state();
    const summary = ui.summary;
    const game = m?.game ?? summary?.game;
    if (game) ensureRenderers(game);
    if (!m || m.view == null) {
      ui.canPick = false;
      turn._key = null;
      turn.textContent = ui.client?.connection() === "reconnecting" ? "Reconnecting…" : "Loading the match…";
      if (summary) renderScores(scores, { seats: seatsOf(null, summary), scores: null, toMove: null, mySeat: -1, over: summary.outcome ?? null });
      return;
    }
    const seats = seatsOf(m, summary);
    const me_ = m.seat ?? -1;
    const st = m.status;
    const ov = overOf(st);
    const toMove = turnOf(st);
    const free = seats.filter((s) => !s).length;
    ui.canPick = m.my_turn;
    const view = m.view;
    const isPlayer = m.role === "player";

    // Sub-heading and role.
    const dims = game === "dots" && view.width ? `${view.width}×${view.height} · ` : "";
    sub.textContent = `${dims}match ${shortId(id)}`;
    role.textContent = isPlayer ? `playing as ${seats[me_]?.name ?? "seat " + (me_ + 1)}` : "watching";
    role.dataset.role = isPlayer ? "player" : "spectator";

    // Turn line (rebuilt only when it changes: it is a live region).
    turn.dataset.myTurn = String(m.my_turn);
    turn.dataset.seat = toMove == null ? "" : String(toMove);
    const riding = game === "lightcycles" ? !!view.cycles?.[me_]?.alive : null;
    const turnKey = JSON.stringify([!!ov, free, toMove, me_, seats[toMove ?? -1]?.name, !!m.caught_up, statusWord(st), riding]);
    if (turn._key !== turnKey) {
      turn._key = turnKey;
      turn.replaceChildren();
      if (ov) {
        turn.append(h("strong", {}, "Match over"));
      } else if (free > 0) {
        turn.append(h("span", { class: "spinner", "aria-hidden": "true" }), `Waiting for ${free} more player${free === 1 ? "" : "s"}…`);
      } else if (game === "lightcycles") {
        const mine = isPlayer && view.cycles?.[me_];
        turn.append(h("strong", {}, !isPlayer ? "Live" : mine?.alive ? "Ride! Steer your cycle" : "Your cycle crashed"));
      } else if (toMove != null) {
        const nm = toMove === me_ ? null : seats[toMove]?.name ?? `Seat ${toMove + 1}`;
        turn.append(swatch(toMove), nm == null ? h("strong", { style: `color:${seatInk(toMove)}` }, "Your turn") : h("span", {}, h("strong", { style: `color:${seatInk(toMove)}` }, nm), " to move"));
        if (nm == null && !m.caught_up) turn.append(h("span", { class: "muted" }, " (catching up…)"));
      } else {
        turn.append(h("strong", {}, statusWord(st)));
      }
    }
    turn.classList.toggle("mine", m.my_turn);
    document.title = m.my_turn && game !== "lightcycles" ? "● Your turn — Arbiter" : "Arbiter";

    // Last move.
    const lm = m.last_move;
    if (lm) {
      const who = lm.seat === me_ ? "You" : seats[lm.seat]?.name ?? `Seat ${lm.seat + 1}`;
      lastMoveEl.replaceChildren(swatch(lm.seat), ` Last move: ${who} ${game === "dots" ? "drew " + edgeLabel(lm.move) : "played " + JSON.stringify(lm.move)}`);
    } else lastMoveEl.textContent = "";

    // Scores.
    // Once over, the result's scores (a resignation or a timer decides them, not the board),
    // as the banner shows; before, the view's (a game's view may keep none).
    const sc = ov?.scores ?? view.scores ?? null;
    renderScores(scores, { seats, scores: sc, toMove: free ? null : toMove, mySeat: me_, over: ov });

    // Take a seat.
    takeSeat.hidden = isPlayer || !!ov || free === 0;
    inviteBtn.hidden = !isPlayer || !!ov || free === 0;
    // Before every seat is taken a player may leave (and its creator cancel); after, resign.
    leaveBtn.hidden = cancelBtn.hidden = !isPlayer || !!ov || free === 0;
    resignBtn.hidden = !isPlayer || !!ov || free > 0;

    // Board or generic view.
    const showGeneric = ui.generic || (game !== "dots" && game !== "lightcycles");
    boardWrap.hidden = showGeneric;
    keyHint.hidden = showGeneric || !isPlayer || !!ov;
    genericBox.hidden = !showGeneric;
    if (board && !showGeneric) {
      if (ui.pending && isDrawn(view, ui.pending.move)) ui.pending = null;
      board.update(view, {
        lastMove: lm && lm.move && lm.move.dir ? lm : null,
        pending: ui.pending?.move ?? null,
        mySeat: me_,
        names: seats.map((s) => s?.name ?? ""),
      });
    }
    if (cycles && !showGeneric) cycles.update(view, { mySeat: me_, over: ov, names: seats.map((s) => s?.name ?? "") });
    if (generic && showGeneric) {
      // Buttons only when a click may move: not while a seat is free (the rules would offer
      // moves the server refuses), nor while a move of ours awaits its verdict.
      const legal = m.my_turn ? ui.client.legalMoves(id) : [];
      const note = !isPlayer ? "Spectators make no moves." : ov ? "The match is over."
        : free ? "Waiting for every seat to be taken." : toMove === me_ ? "" : "Not your turn.";
      generic.update({ status: st, view, events: ui.events, legal, note });
    }

    // Match over.
    overBanner(over, ov, seats, me_, [
      h("a", { class: "btn small primary", href: `#/replay/${id}` }, "Watch the replay"),
      h("a", { class: "btn small", href: "#/" }, "Back to lobby"),
    ]);
  }

  // Leave, cancel or resign: the server checks and logs it; its event updates the page.
  function lobbyAct(button, call, done) {
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await call(SERVER, me.token, id);
        done();
      } catch (e) {
        if (authFailed(e)) return;
        toast(errText(e), "error");
      } finally {
        button.disabled = false;
      }
    });
  }
  lobbyAct(leaveBtn, sdk.leaveMatch, () => { notice = "You left the match."; location.hash = "#/"; });
  lobbyAct(cancelBtn, sdk.cancelMatch, () => { toast("The match is cancelled.", "info"); refreshSummary(); });
  lobbyAct(resignBtn, sdk.resignMatch, () => { toast("You resigned.", "info"); refreshSummary(); });

  takeSeat.addEventListener("click", async () => {
    takeSeat.disabled = true;
    takeSeat.textContent = "Taking a seat…";
    try {
      const r = await sdk.takeSeat(SERVER, me.token, id);
      toast(`You took seat ${r.seat + 1}.`, "info");
      startClient("player");
      refreshSummary();
    } catch (e) {
      if (authFailed(e)) return;
      toast(`Could not take a seat: ${errText(e)}`, "error");
    } finally {
      takeSeat.disabled = false;
      takeSeat.textContent = "Take a seat";
    }
  });

  (async () => {
    let role = "spectator";
    try {
      ui.summary = await fetchSummary(id);
      if (ui.summary.seats.some((s) => s && s.player_id === me.player_id)) role = "player";
      if (ui.summary.timer) {
        timerEl.textContent = `Turn timer: ${timerTerms(ui.summary.timer)}`;
        timerEl.hidden = false;
      }
    } catch (e) {
      if (codeOf(e) === "unknown_match") {
        if (!alive) return;
        app.querySelector(".match-page").replaceWith(h("div", { class: "card center-card" },
          h("h1", {}, "No such match"), h("p", { class: "muted" }, `There is no match ${id}.`), h("a", { class: "btn primary", href: "#/" }, "Back to lobby")));
        return;
      }
      // Otherwise go on without a summary: the client's state has the seats.
    }
    if (!alive) return;
    if (ui.summary?.game) ensureRenderers(ui.summary.game);
    startClient(role);
  })();

  return {
    destroy() {
      alive = false;
      cancelAnimationFrame(rafId);
      conn.destroy();
      board?.destroy();
      cycles?.destroy();
      toast.destroy();
      if (ui.client) { try { ui.client.close(); } catch { /* ignore */ } }
    },
  };
}

function makeToast(el) {
  let t = 0;
  const f = (text, kind = "info", title = "") => {
    el.textContent = text;
    el.dataset.kind = kind;
    el.title = title || "";
    el.classList.remove("show");
    void el.offsetWidth; // restart the animation
    el.classList.add("show");
    clearTimeout(t);
    t = setTimeout(() => el.classList.remove("show"), kind === "error" ? 5000 : 3500);
  };
  f.destroy = () => clearTimeout(t);
  return f;
}

async function copyText(input, btn) {
  const old = btn.textContent;
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    input.select();
    try { document.execCommand("copy"); } catch { /* ignore */ }
  }
  btn.textContent = "Copied!";
  setTimeout(() => { btn.textContent = old; }, 1500);
}

// ── replay page ──────────────────────────────────────────────────────────────────────────────

function replayPage(app, id) {
  let alive = true;
  arbiterUI.matchId = id;
  const r = {
    replay: null, events: [], head: 0, seq: 0, playing: false, timer: 0, speed: 1,
    following: false, live: false, client: null, game: null, filling: false,
  };

  const conn = new ConnPill();
  conn.el.hidden = true;
  const title = h("h1", {}, "Replay");
  const sub = h("p", { class: "muted sub" }, `match ${shortId(id)}`);
  const stage = h("div", { class: "board-wrap" });
  const genericBox = h("div", { class: "generic-box", hidden: true });
  const caption = h("p", { id: "replay-caption", class: "caption", "aria-live": "polite" }, "Loading…");
  const range = h("input", { id: "replay-range", type: "range", min: "0", max: "0", step: "1", value: "0", "aria-label": "Event", disabled: true });
  const back = h("button", { id: "replay-back", type: "button", class: "btn icon", "aria-label": "Step back", title: "Step back (←)" }, icon("back"));
  const play = h("button", { id: "replay-play", type: "button", class: "btn icon primary", "aria-label": "Play", "aria-pressed": "false", title: "Play / pause (Space)" }, icon("play"));
  const fwd = h("button", { id: "replay-forward", type: "button", class: "btn icon", "aria-label": "Step forward", title: "Step forward (→)" }, icon("forward"));
  const speed = h("select", { id: "replay-speed", "aria-label": "Speed" },
    ...[0.5, 1, 2, 4].map((s) => h("option", { value: String(s), selected: s === 1 }, `${s}×`)));
  const liveBtn = h("button", { id: "replay-live", type: "button", class: "btn small live-btn", hidden: true, "aria-pressed": "false" },
    h("span", { class: "live-dot", "aria-hidden": "true" }), "Live");
  const forkBtn = h("button", { id: "fork-here", type: "button", class: "btn small", hidden: true, title: "A new match from this position, its seats open" }, "Play from here");
  const seqEl = h("span", { id: "replay-seq", class: "mono" }, "0");
  const headEl = h("span", { class: "mono muted" }, "/ 0");
  const hashEl = h("code", { id: "replay-hash", class: "mono" }, "");
  const scores = h("ol", { id: "scores", class: "players" });
  const over = h("div", { id: "match-over", class: "match-over", hidden: true, role: "status" });
  const turn = h("div", { id: "turn", class: "turn" }, "");

  const controls = h("div", { class: "replay-controls" },
    h("div", { class: "rc-row" }, back, play, fwd,
      h("label", { class: "rc-pos", for: "replay-range" }, h("span", { class: "sr-only" }, "Event "), seqEl, " ", headEl),
      h("span", { class: "rc-spacer" }),
      h("label", { class: "rc-speed" }, h("span", { class: "sr-only" }, "Speed"), speed),
      liveBtn, forkBtn),
    range,
    h("div", { class: "rc-hash" }, h("span", { class: "muted" }, "state hash "), hashEl));

  app.append(h("div", { class: "match-page replay-page" },
    h("div", { class: "page-head" },
      h("div", { class: "ph-left" }, title, h("div", { class: "ph-sub" }, sub, h("span", { class: "role-pill" }, "replay"))),
      conn.el),
    h("div", { class: "match-grid" },
      h("section", { class: "card board-card", "aria-label": "Board" },
        h("div", { class: "board-top" }, turn),
        over,
        h("div", { class: "board-stage" }, stage, genericBox),
        caption, controls),
      h("div", { class: "side" },
      h("section", { class: "card players-card", "aria-labelledby": "players-title" },
        h("h2", { id: "players-title" }, "Players"), scores),
      h("section", { class: "card info-card" },
        h("h2", {}, "About replays"),
        h("p", { class: "hint" }, "Every state is rebuilt in your browser from the match's event log, and its hash is checked against the server's."),
        h("div", { class: "row links" },
          h("a", { class: "btn small", href: `#/match/${id}` }, "Open the match"),
          h("a", { class: "btn small ghost", href: "#/" }, "Back to lobby")))))));

  let board = null;
  let cycles = null;
  let generic = null;

  function setupRenderer(game) {
    r.game = game;
    gameName(game).then((n) => { title.textContent = `Replay · ${n}`; });
    if (game === "lightcycles") {
      cycles = new CyclesBoard(stage, { colors: seatColor, label: "Light cycles arena (replay)", maxVh: 0.56 });
    } else if (game === "dots") {
      board = new DotsBoard(stage, { interactive: false, label: "Dots and Boxes board (replay)", maxVh: 0.56 });
      arbiterUI.board = board;
    } else {
      stage.hidden = true;
      genericBox.hidden = false;
      generic = new GenericView(genericBox, { showMoves: false });
    }
  }

  function describe(ev, seats, prev, cur) {
    const b = ev?.body;
    if (!b) return ev ? `#${ev.seq}: hidden event` : "";
    const nm = (s) => seats[s]?.name ?? `Seat ${s + 1}`;
    if (b.created) {
      const c = b.created.config;
      const size = c?.width ? ` ${c.width}×${c.height},` : "";
      return `#${ev.seq}: match created —${size} ${b.created.seats} seats`;
    }
    if (b.seated) return `#${ev.seq}: ${b.seated.name} took seat ${b.seated.seat + 1}`;
    if (b.move) {
      let s = `#${ev.seq}: ${nm(b.move.seat)} ${r.game === "dots" ? "drew " + edgeLabel(b.move.move) : "played " + JSON.stringify(b.move.move)}`;
      const a = prev?.view?.scores?.[b.move.seat], z = cur?.view?.scores?.[b.move.seat];
      if (a != null && z != null && z > a) s += ` and closed ${z - a === 1 ? "a box" : z - a + " boxes"}`;
      return s;
    }
    if (b.tick && r.game === "lightcycles") {
      const turns = (b.tick.inputs ?? []).map((i) => `${nm(i.seat)} turned ${i.move?.turn}`);
      return `#${ev.seq}: tick ${cur?.view?.tick ?? ""}${turns.length ? " — " + turns.join(", ") : ""}`;
    }
    if (b.tick) return b.tick.inputs?.length ? `#${ev.seq}: tick with ${b.tick.inputs.length} inputs` : `#${ev.seq}: time ran out — the turn passes`;
    if (b.left) return `#${ev.seq}: seat ${b.left.seat + 1} is free again`;
    if (b.resigned) return `#${ev.seq}: ${nm(b.resigned.seat)} resigned`;
    if (b.forfeited) return `#${ev.seq}: ${nm(b.forfeited.seat)} ran out of time and forfeits`;
    if (b.cancelled) return `#${ev.seq}: the match was cancelled`;
    return `#${ev.seq}: ${JSON.stringify(b)}`;
  }

  function show(seq) {
    if (!r.replay) return;
    seq = Math.max(0, Math.min(r.head, seq | 0));
    r.seq = seq;
    arbiterUI.seq = seq;
    let s;
    try { s = r.replay.at(seq); } catch (e) { caption.textContent = `Cannot show #${seq}: ${errText(e)}`; return; }
    let prev = null;
    if (seq > 0 && r.game === "dots") { try { prev = r.replay.at(seq - 1); } catch { prev = null; } }
    range.max = String(r.head);
    range.value = String(seq);
    range.setAttribute("aria-valuetext", `event ${seq} of ${r.head}`);
    seqEl.textContent = String(seq);
    headEl.textContent = `/ ${r.head}`;
    hashEl.textContent = s.state_hash ?? "";
    const seats = seatsOf(s, null);
    const ov = overOf(s.status);
    const toMove = turnOf(s.status);
    const view = s.view;
    if (board) {
      board.update(view, { lastMove: s.last_move && s.last_move.move?.dir ? s.last_move : null, mySeat: -1, names: seats.map((x) => x?.name ?? "") });
    }
    if (generic) generic.update({ status: s.status, view, events: r.events.slice(0, seq + 1) });
    if (cycles) cycles.update(view, { mySeat: -1, over: ov, names: seats.map((x) => x?.name ?? "") });
    renderScores(scores, { seats, scores: ov?.scores ?? view?.scores ?? null, toMove, mySeat: -1, over: ov });
    turn.replaceChildren();
    if (ov) turn.append(h("strong", {}, "Match over"));
    else if (toMove != null && seats.length) turn.append(swatch(toMove), h("strong", { style: `color:${seatInk(toMove)}` }, seats[toMove]?.name ?? `Seat ${toMove + 1}`), " to move");
    else turn.append(h("strong", {}, r.game === "lightcycles" ? "Riding" : statusWord(s.status)));
    caption.textContent = describe(r.events[seq], seats, prev, s);
    overBanner(over, ov, seats, -1, []);
    back.disabled = seq <= 0;
    fwd.disabled = seq >= r.head;
    // A position can be played on unless the match is over there.
    forkBtn.hidden = !me || !!ov;
    liveBtn.setAttribute("aria-pressed", String(r.following));
    liveBtn.classList.toggle("on", r.following);
  }

  forkBtn.addEventListener("click", async () => {
    forkBtn.disabled = true;
    try {
      const fork = await sdk.forkMatch(SERVER, me.token, id, r.seq);
      await sdk.takeSeat(SERVER, me.token, fork.match_id);
      notice = `A fork of match ${shortId(id)} at event ${r.seq}: its other seats are open.`;
      location.hash = `#/match/${fork.match_id}`;
    } catch (e) {
      if (authFailed(e)) return;
      caption.textContent = `Could not fork: ${errText(e)}`;
    } finally {
      forkBtn.disabled = false;
    }
  });

  function stop() {
    r.playing = false;
    clearTimeout(r.timer);
    play.replaceChildren(icon("play"));
    play.setAttribute("aria-label", "Play");
    play.setAttribute("aria-pressed", "false");
  }
  // Light cycles play back at their tick rate; other games at one event per 0.7 s.
  function stepMs() {
    const hz = r.events[0]?.body?.created?.config?.tick_hz;
    return r.game === "lightcycles" && hz > 0 ? 1000 / hz : 700;
  }
  function step() {
    if (!r.playing) return;
    if (r.seq >= r.head) {
      if (r.live) { r.following = true; stop(); show(r.head); return; }
      stop();
      return;
    }
    show(r.seq + 1);
    r.timer = setTimeout(step, stepMs() / r.speed);
  }
  function start() {
    if (r.seq >= r.head) show(0);
    r.following = false;
    r.playing = true;
    play.replaceChildren(icon("pause"));
    play.setAttribute("aria-label", "Pause");
    play.setAttribute("aria-pressed", "true");
    clearTimeout(r.timer);
    r.timer = setTimeout(step, stepMs() / r.speed);
    show(r.seq);
  }

  // Being at the newest event of a live match is following it; anywhere else is not.
  const atHead = () => { r.following = r.live && r.seq >= r.head; liveBtn.setAttribute("aria-pressed", String(r.following)); liveBtn.classList.toggle("on", r.following); };
  range.addEventListener("input", () => { stop(); show(Number(range.value)); atHead(); });
  back.addEventListener("click", () => { stop(); show(r.seq - 1); atHead(); });
  fwd.addEventListener("click", () => { stop(); show(r.seq + 1); atHead(); });
  play.addEventListener("click", () => (r.playing ? stop() : start()));
  speed.addEventListener("change", () => { r.speed = Number(speed.value) || 1; });
  liveBtn.addEventListener("click", () => { stop(); r.following = true; show(r.head); });
  const onKey = (e) => {
    const t = e.target;
    if (t && (t.closest?.("input, select, textarea, button") || t.isContentEditable)) return;
    if (e.key === "ArrowLeft") { e.preventDefault(); stop(); show(r.seq - 1); atHead(); }
    else if (e.key === "ArrowRight") { e.preventDefault(); stop(); show(r.seq + 1); atHead(); }
    else if (e.key === " ") { e.preventDefault(); r.playing ? stop() : start(); }
  };
  document.addEventListener("keydown", onKey);

  function setLive(live) {
    r.live = live;
    liveBtn.hidden = !live;
    if (!live) r.following = false;
  }

  // Live events go through a queue so that they are pushed in order, without gaps: a gap (the
  // follower's catch-up may start from a snapshot) is filled from the HTTP log.
  const queue = new Map();
  function addEvent(ev) {
    if (!r.replay || ev.seq <= r.head) return;
    queue.set(ev.seq, ev);
    drain(true);
  }
  function drain(mayFill) {
    const before = r.head;
    const wasFollowing = r.following;
    while (queue.has(r.head + 1)) {
      const ev = queue.get(r.head + 1);
      queue.delete(r.head + 1);
      try {
        r.replay.push(ev);
      } catch (e) {
        caption.textContent = `Could not follow the match: ${errText(e)}`;
        queue.clear();
        return;
      }
      r.events.push(ev);
      r.head = ev.seq;
      if (overOf(ev.status)) setLive(false);
    }
    for (const k of [...queue.keys()]) if (k <= r.head) queue.delete(k);
    if (r.head !== before) grown(wasFollowing);
    if (queue.size && mayFill && !r.filling) fill();
  }
  function grown(wasFollowing) {
    if (wasFollowing) show(r.head);
    else {
      range.max = String(r.head);
      headEl.textContent = `/ ${r.head}`;
      fwd.disabled = r.seq >= r.head;
      if (!r.live) { liveBtn.setAttribute("aria-pressed", "false"); liveBtn.classList.remove("on"); }
    }
  }
  async function fill() {
    r.filling = true;
    try {
      const all = await sdk.fetchEvents(SERVER, id, me.token);
      for (const ev of all) if (ev.seq > r.head && !queue.has(ev.seq)) queue.set(ev.seq, ev);
    } catch { /* the next event tries again */ } finally { r.filling = false; }
    if (alive) drain(false);
  }

  function follow() {
    const c = new sdk.Client(SERVER, me.token);
    r.client = c;
    arbiterUI.client = c;
    conn.el.hidden = false;
    c.onUpdate((u) => {
      if (!alive || r.client !== c) return;
      if (u.kind === "connection") conn.set(u);
      else if (u.kind === "event" && u.match_id === id) addEvent(u.event);
      else if (u.kind === "error" && AUTH_CODES.has(u.code)) { try { c.close(); } catch { /* ignore */ } authFailed(u); }
    });
    c.connect();
    c.join(id, "spectator");
  }

  (async () => {
    try {
      const rep = await sdk.Replay.fetch(SERVER, id, me.token);
      if (!alive) return;
      r.replay = rep;
      arbiterUI.replay = rep;
      r.events = rep.events();
      r.head = rep.head();
      const created = r.events[0]?.body?.created;
      setupRenderer(created?.game ?? "unknown");
      range.disabled = false;
      const last = r.events[r.events.length - 1];
      const live = !overOf(last?.status);
      setLive(live);
      r.following = live;
      show(r.head);
      if (live) follow();
    } catch (e) {
      if (authFailed(e)) return;
      if (!alive) return;
      caption.textContent = codeOf(e) === "unknown_match" ? `There is no match ${id}.` : `Could not load the replay: ${errText(e)}`;
    }
  })();

  return {
    destroy() {
      alive = false;
      stop();
      conn.destroy();
      board?.destroy();
      cycles?.destroy();
      document.removeEventListener("keydown", onKey);
      if (r.client) { try { r.client.close(); } catch { /* ignore */ } }
    },
  };
}


// ── start ────────────────────────────────────────────────────────────────────────────────────

window.addEventListener("hashchange", () => {
  if (me) renamingFrom = null; // navigating away cancels "Change name"
  route();
});
renderHeader();
try {
  await init();
  await keepFresh();
  setInterval(keepFresh, 10 * 60 * 1000);
  route();
} catch (e) {
  console.error(e);
  $("#app").replaceChildren(h("div", { class: "card center-card" },
    h("h1", {}, "Arbiter could not start"),
    h("p", {}, "The client library (/pkg/arbiter.js and its WebAssembly) did not load."),
    h("pre", { class: "mono" }, errText(e))));
}
