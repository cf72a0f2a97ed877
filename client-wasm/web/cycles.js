/*
 * Light cycles on a canvas: the arena the page's client reduced (the server's ticks, checked
 * hash by hash), with the player's own cycle drawn ahead of it as the SDK predicts it
 * (`client.prediction`). Drawing and input only: the rules, the prediction and the mapping
 * of a direction to a turn are Rust (client-wasm/src/cycles.rs), reached through the SDK.
 *
 * Input: arrow keys and WASD (anywhere on the page but a form field) and swipes on the
 * canvas give an absolute direction — up is north — which `onSteer(heading)` receives; the
 * client turns it into the quarter turn that leads there (a second direction within one tick
 * is sent once the first turn is applied: a U-turn takes two keys).
 *
 * Test hooks: canvas#cycles-board (data-tick = the server's tick drawn, data-lead = ticks the
 * own cycle is drawn ahead, data-heading = the own cycle's heading drawn), #cycles-tick (the
 * tick, as text), #cycles-legend li[data-seat] with data-state = "riding" | "crashed" |
 * "winner".
 */

const KEYS = {
  ArrowUp: "north", ArrowRight: "east", ArrowDown: "south", ArrowLeft: "west",
  w: "north", d: "east", s: "south", a: "west", W: "north", D: "east", S: "south", A: "west",
};
/** A swipe shorter than this (CSS pixels) is a tap. */
const SWIPE_PX = 24;
const BACKGROUND = "#0f172a";
const GRID = "rgba(148, 163, 184, 0.14)";

/** The heading a key asks for, or null. */
export function keyHeading(key) {
  return KEYS[key] ?? null;
}

/** The heading of a swipe by (dx, dy) CSS pixels, or null for a tap. */
export function swipeHeading(dx, dy) {
  if (Math.max(Math.abs(dx), Math.abs(dy)) < SWIPE_PX) return null;
  if (Math.abs(dx) > Math.abs(dy)) return dx > 0 ? "east" : "west";
  return dy > 0 ? "south" : "north";
}

function isFormField(el) {
  return !!el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
}

export class CyclesBoard {
  /**
   * `colors(seat)`: a seat's colour. `onSteer(heading)`: a direction asked for (omit it for a
   * board without input). `predict()`: the SDK's prediction for the own cycle, or undefined;
   * while it is given, the board redraws each frame the prediction changes.
   */
  constructor(wrap, { colors, label = "Light cycles arena", onSteer = null, predict = null, maxVh = 0.7 } = {}) {
    this.wrap = wrap;
    this.colors = colors;
    this.onSteer = onSteer;
    this.predict = predict;
    this.maxVh = maxVh;
    this.view = null;
    this.o = {};
    this.prediction = null;
    this.predictionSig = "";
    this.canvas = document.createElement("canvas");
    this.canvas.id = "cycles-board";
    this.canvas.className = "cycles-board";
    this.canvas.setAttribute("role", "img");
    this.canvas.setAttribute("aria-label", onSteer ? `${label}. Arrow keys, WASD or swipes steer your cycle.` : label);
    this.tickEl = document.createElement("span");
    this.tickEl.id = "cycles-tick";
    this.tickEl.className = "mono";
    this.legend = document.createElement("ol");
    this.legend.id = "cycles-legend";
    this.legend.className = "cycles-legend";
    const bar = document.createElement("div");
    bar.className = "cycles-bar";
    bar.append(this.legend, this.tickEl);
    const box = document.createElement("div");
    box.className = "cycles-box";
    box.append(this.canvas, bar);
    wrap.append(box);
    this.box = box;
    this.listen();
    this.ro = new ResizeObserver(() => this.draw());
    this.ro.observe(wrap);
    this.frame = 0;
    if (predict) this.loop();
  }

  listen() {
    if (!this.onSteer) return;
    this.onKey = (e) => {
      const heading = keyHeading(e.key);
      if (!heading || e.altKey || e.ctrlKey || e.metaKey || isFormField(e.target)) return;
      e.preventDefault();
      this.onSteer(heading);
    };
    document.addEventListener("keydown", this.onKey);
    let start = null;
    this.canvas.addEventListener("pointerdown", (e) => { start = { x: e.clientX, y: e.clientY }; });
    this.canvas.addEventListener("pointerup", (e) => {
      if (!start) return;
      const heading = swipeHeading(e.clientX - start.x, e.clientY - start.y);
      start = null;
      if (heading) this.onSteer(heading);
    });
    this.canvas.addEventListener("pointercancel", () => { start = null; });
  }

  /** Redraws when the prediction changes (it moves with time as well as with ticks). */
  loop() {
    this.frame = requestAnimationFrame(() => {
      this.loop();
      const p = this.predict?.() ?? null;
      const sig = p ? `${p.tick}:${p.heading}:${JSON.stringify(p.cells)}` : "";
      if (sig !== this.predictionSig) {
        this.predictionSig = sig;
        this.prediction = p;
        this.draw();
      }
    });
  }

  destroy() {
    cancelAnimationFrame(this.frame);
    this.ro.disconnect();
    if (this.onKey) document.removeEventListener("keydown", this.onKey);
  }

  /** `view`: the game's view (width, height, tick, cycles). `o`: {mySeat, over, names}. */
  update(view, o = {}) {
    this.view = view;
    this.o = o;
    if (this.predict) this.prediction = this.predict() ?? null;
    this.renderLegend();
    this.draw();
  }

  seatState(c) {
    const winners = this.o.over?.winners;
    if (winners?.includes(c.seat)) return "winner";
    return c.alive ? "riding" : "crashed";
  }

  renderLegend() {
    const v = this.view;
    if (!v) return;
    this.tickEl.textContent = `tick ${v.tick}`;
    this.canvas.dataset.tick = String(v.tick);
    const items = v.cycles.map((c) => {
      const li = document.createElement("li");
      const state = this.seatState(c);
      li.dataset.seat = String(c.seat);
      li.dataset.state = state;
      li.style.setProperty("--c", this.colors(c.seat));
      const name = this.o.names?.[c.seat] || `Seat ${c.seat + 1}`;
      const you = c.seat === this.o.mySeat ? " (you)" : "";
      li.textContent = `${name}${you}: ${state}`;
      return li;
    });
    this.legend.replaceChildren(...items);
  }

  layout() {
    const v = this.view;
    const W = Math.max(160, this.wrap.clientWidth || 320);
    const maxH = Math.max(200, Math.min(window.innerHeight * this.maxVh, 760));
    const cell = Math.max(4, Math.floor(Math.min(W / v.width, maxH / v.height, 28)));
    const cssW = cell * v.width, cssH = cell * v.height;
    const dpr = window.devicePixelRatio || 1;
    const c = this.canvas;
    if (c.width !== Math.round(cssW * dpr) || c.height !== Math.round(cssH * dpr)) {
      c.width = Math.round(cssW * dpr);
      c.height = Math.round(cssH * dpr);
      c.style.width = `${cssW}px`;
      c.style.height = `${cssH}px`;
    }
    return { cell, dpr, cssW, cssH };
  }

  draw() {
    const v = this.view;
    if (!v) return;
    const { cell, dpr, cssW, cssH } = this.layout();
    const g = this.canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.fillStyle = BACKGROUND;
    g.fillRect(0, 0, cssW, cssH);
    this.drawGrid(g, cell, cssW, cssH);
    const own = this.prediction && this.prediction.seat === this.o.mySeat ? this.prediction : null;
    for (const c of v.cycles) this.drawCycle(g, c, cell, own && own.seat === c.seat ? own : null);
    this.canvas.dataset.lead = String(own ? own.lead : 0);
    this.canvas.dataset.heading = own ? own.heading : "";
  }

  drawGrid(g, cell, w, h) {
    g.strokeStyle = GRID;
    g.lineWidth = 1;
    g.beginPath();
    for (let x = cell; x < w; x += cell) { g.moveTo(x + 0.5, 0); g.lineTo(x + 0.5, h); }
    for (let y = cell; y < h; y += cell) { g.moveTo(0, y + 0.5); g.lineTo(w, y + 0.5); }
    g.stroke();
  }

  /** One cycle: its trail, its head, and (for the own cycle) the cells predicted ahead. */
  drawCycle(g, c, cell, ahead) {
    const color = this.colors(c.seat);
    const state = this.seatState(c);
    g.globalAlpha = state === "crashed" ? 0.35 : 1;
    g.fillStyle = color;
    const inset = Math.max(1, cell * 0.12);
    for (const [x, y] of c.trail) g.fillRect(x * cell + inset, y * cell + inset, cell - 2 * inset, cell - 2 * inset);
    if (ahead) {
      g.globalAlpha = 0.55;
      for (const [x, y] of ahead.cells) g.fillRect(x * cell + inset, y * cell + inset, cell - 2 * inset, cell - 2 * inset);
      g.globalAlpha = 1;
    }
    const [hx, hy] = ahead && ahead.cells.length ? ahead.cells[ahead.cells.length - 1] : c.at;
    if (state === "crashed") this.drawCrash(g, c.at, cell, color);
    else this.drawHead(g, hx, hy, cell, color, state === "winner");
    g.globalAlpha = 1;
  }

  drawHead(g, x, y, cell, color, winner) {
    g.fillStyle = "#ffffff";
    g.fillRect(x * cell, y * cell, cell, cell);
    g.fillStyle = color;
    const inset = Math.max(1, cell * 0.22);
    g.fillRect(x * cell + inset, y * cell + inset, cell - 2 * inset, cell - 2 * inset);
    if (winner) {
      g.strokeStyle = "#facc15";
      g.lineWidth = Math.max(2, cell * 0.15);
      g.strokeRect(x * cell - 1, y * cell - 1, cell + 2, cell + 2);
    }
  }

  /** A crashed cycle's head: an X where it crashed (the cell may be outside the walls). */
  drawCrash(g, [x, y], cell, color) {
    const cx = Math.min(Math.max(x, 0), this.view.width - 1) * cell;
    const cy = Math.min(Math.max(y, 0), this.view.height - 1) * cell;
    g.globalAlpha = 0.8;
    g.strokeStyle = color;
    g.lineWidth = Math.max(2, cell * 0.18);
    g.beginPath();
    g.moveTo(cx + 2, cy + 2); g.lineTo(cx + cell - 2, cy + cell - 2);
    g.moveTo(cx + cell - 2, cy + 2); g.lineTo(cx + 2, cy + cell - 2);
    g.stroke();
  }
}
