/* Small shared helpers of the web UI: DOM building, seat colours, icons, and reading
 * statuses and errors as the SDK gives them. No state. */

export const SERVER = ""; // same origin

export const COLORS = ["#e4572e", "#2e86ab", "#7fb800", "#9b5de5", "#f4a259", "#3d5a80", "#c9184a", "#2a9d8f"];
// Darker companions of COLORS for text on white (contrast ≥ 4.5:1).
const INKS = ["#b5391a", "#1c6686", "#4a6b00", "#7339c4", "#a35a12", "#3d5a80", "#a0133a", "#1d6f66"];

export const $ = (sel, root = document) => root.querySelector(sel);
export const seatColor = (s) => COLORS[((s % COLORS.length) + COLORS.length) % COLORS.length];
export const seatInk = (s) => INKS[((s % INKS.length) + INKS.length) % INKS.length];

// ── small helpers ────────────────────────────────────────────────────────────────────────────

/** Creates an element. Props: class, text, on<event>, value/checked/disabled/hidden/selected
 * (set as properties), anything else as an attribute. Children: nodes, strings, arrays. */
export function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k === "style") el.style.cssText = v;
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (["value", "checked", "disabled", "hidden", "selected"].includes(k)) el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, kids);
  return el;
}
function append(el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k == null || k === false) continue;
    el.append(k instanceof Node ? k : String(k));
  }
}

// HTTP helpers reject with an Error that has a `.code`; the server's `error` updates carry one
// too. Client methods (move, Replay.at, …) throw a plain message string.
export const codeOf = (e) => e?.code ?? null;
export function errText(e) {
  const code = codeOf(e);
  if (code) return `${FRIENDLY[code] ?? e.message} (${code})`;
  return e instanceof Error ? e.message : String(e ?? "Something went wrong.");
}

// A status is "waiting", "simultaneous", {turn: seat} or {over: {scores, winners}}.
export const turnOf = (st) => st?.turn ?? null;
export const overOf = (st) => st?.over ?? null;
export const statusWord = (st) => (typeof st === "string" ? st : Object.keys(st)[0]);

export function ago(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 45) return "just now";
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const hr = Math.round(m / 60);
  if (hr < 24) return `${hr} h ago`;
  return new Date(ms).toLocaleDateString();
}

export const edgeLabel = (e) => (e && e.dir ? `${e.dir}(${e.x},${e.y})` : JSON.stringify(e));
export const sameEdge = (a, b) => !!a && !!b && a.dir === b.dir && a.x === b.x && a.y === b.y;
export const shortId = (id) => (id.length > 9 ? id.slice(0, 7) + "…" : id);
export const matchLink = (id) => `${location.origin}${location.pathname}#/match/${id}`;

const ICONS = {
  back: '<path d="M6 5v14" /><path d="M18 6 9 12l9 6z" fill="currentColor" />',
  forward: '<path d="M18 5v14" /><path d="m6 6 9 6-9 6z" fill="currentColor" />',
  play: '<path d="M8 5.5v13l11-6.5z" fill="currentColor" />',
  pause: '<path d="M8 5v14M16 5v14" stroke-width="3.2" />',
  trophy: '<path d="M8 21h8M12 17v4M7 4h10v5a5 5 0 0 1-10 0z" /><path d="M17 5h3v2a3 3 0 0 1-3 3M7 5H4v2a3 3 0 0 0 3 3" />',
  draw: '<circle cx="9" cy="12" r="5.5" /><circle cx="15" cy="12" r="5.5" />',
};
/** A decorative inline SVG icon. */
export function icon(name, size = 20) {
  const span = document.createElement("span");
  span.className = `icon icon-${name}`;
  span.setAttribute("aria-hidden", "true");
  span.innerHTML = `<svg viewBox="0 0 24 24" width="${size}" height="${size}" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" focusable="false">${ICONS[name]}</svg>`;
  return span;
}

export function swatch(seat) {
  return h("span", { class: "swatch", style: `--c:${seatColor(seat)}`, "aria-hidden": "true" });
}
