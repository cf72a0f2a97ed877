/* The Dots and Boxes board: a canvas drawn from the view, with pointer, touch and keyboard
 * input (an edge cursor), and screen-reader text for the cursor. */

import { seatColor, seatInk, h, sameEdge } from "./ui.js";

export const isDrawn = (v, e) => (e.dir === "h" ? !!v.h_edges[e.y * v.width + e.x] : !!v.v_edges[e.y * (v.width + 1) + e.x]);
const edgeExists = (v, e) => e && (e.dir === "h"
  ? e.x >= 0 && e.x < v.width && e.y >= 0 && e.y <= v.height
  : e.x >= 0 && e.x <= v.width && e.y >= 0 && e.y < v.height);
function firstFreeEdge(v) {
  for (let y = 0; y <= v.height; y++) for (let x = 0; x < v.width; x++) if (!v.h_edges[y * v.width + x]) return { dir: "h", x, y };
  for (let y = 0; y < v.height; y++) for (let x = 0; x <= v.width; x++) if (!v.v_edges[y * (v.width + 1) + x]) return { dir: "v", x, y };
  return { dir: "h", x: 0, y: 0 };
}
/** The keyboard cursor's next edge. Left/Right walk a row band: v(0,y) h(0,y) v(1,y) h(1,y) …
 * v(w,y); Up/Down keep the orientation and change the row. */
function stepEdge(v, e, key) {
  const W = v.width, H = v.height;
  let n = { ...e };
  if (key === "ArrowRight") {
    if (e.dir === "h") n = e.y < H && e.x + 1 <= W ? { dir: "v", x: e.x + 1, y: e.y } : { dir: "h", x: e.x + 1, y: e.y };
    else n = { dir: "h", x: e.x, y: e.y };
  } else if (e.dir === "h" && key === "ArrowLeft") {
    n = e.y < H ? { dir: "v", x: e.x, y: e.y } : { dir: "h", x: e.x - 1, y: e.y };
  } else if (key === "ArrowLeft") {
    n = { dir: "h", x: e.x - 1, y: e.y };
  } else if (key === "ArrowDown") {
    n = e.dir === "h" ? { dir: "h", x: e.x, y: e.y + 1 } : e.y + 1 < H ? { dir: "v", x: e.x, y: e.y + 1 } : { dir: "h", x: Math.min(e.x, W - 1), y: H };
  } else if (key === "ArrowUp") {
    n = e.dir === "h" ? { dir: "h", x: e.x, y: e.y - 1 } : e.y > 0 ? { dir: "v", x: e.x, y: e.y - 1 } : { dir: "h", x: Math.min(e.x, W - 1), y: 0 };
  }
  return edgeExists(v, n) ? n : e;
}
function describeEdge(e) {
  return e.dir === "h"
    ? `horizontal line ${e.x + 1} in row ${e.y + 1}`
    : `vertical line ${e.x + 1} in row ${e.y + 1}`;
}

export class DotsBoard {
  /** `opts.interactive`: hover, click and keyboard input; `onPick(edge)` is called to draw. */
  constructor(wrap, { interactive = false, onPick = null, canPick = () => false, label = "Dots and Boxes board", maxVh = 0.72 } = {}) {
    this.wrap = wrap;
    this.maxVh = maxVh;
    this.interactive = interactive;
    this.onPick = onPick;
    this.canPick = canPick;
    this.view = null;
    this.o = {};
    this.hover = null;
    this.cursor = null;
    this.focused = false;
    this.geo = null;
    this.canvas = h("canvas", { id: "board", role: "img", "aria-label": label });
    this.live = h("p", { class: "sr-only", "aria-live": "polite", id: "board-status" });
    if (interactive) {
      this.canvas.tabIndex = 0;
      this.canvas.setAttribute("role", "application");
      this.canvas.setAttribute("aria-roledescription", "game board");
      this.canvas.setAttribute("aria-label", `${label}. Arrow keys choose a line, Enter or Space draws it.`);
      this.canvas.addEventListener("pointermove", (e) => this.onMove(e));
      this.canvas.addEventListener("pointerleave", () => this.setHover(null));
      this.canvas.addEventListener("pointerdown", (e) => { this.viaPointer = true; if (e.pointerType !== "mouse") this.onMove(e); });
      this.canvas.addEventListener("click", (e) => this.onClick(e));
      this.canvas.addEventListener("keydown", (e) => this.onKey(e));
      this.canvas.addEventListener("focus", () => {
        this.focused = true;
        if (this.viaPointer) return; // a click focuses the board: no keyboard cursor until a key
        if (this.view && !this.cursor) this.cursor = firstFreeEdge(this.view);
        this.announce();
        this.draw();
      });
      this.canvas.addEventListener("blur", () => { this.focused = false; this.viaPointer = false; this.draw(); });
    }
    wrap.append(this.canvas, this.live);
    this.lastW = 0;
    this.ro = new ResizeObserver(() => {
      const w = this.wrap.clientWidth;
      if (w !== this.lastW) { this.lastW = w; this.draw(); }
    });
    this.ro.observe(wrap);
    this.onDpr = () => this.draw();
    window.addEventListener("resize", this.onDpr);
  }
  destroy() { this.ro.disconnect(); window.removeEventListener("resize", this.onDpr); }

  /** o: {lastMove:{seat, move}, pending:edge, mySeat, names:[..], active:bool} */
  update(view, o = {}) {
    this.view = view;
    this.o = o;
    if (this.hover && (!this.view || !this.canPick() || isDrawn(this.view, this.hover))) this.hover = null;
    if (this.cursor && this.view && !edgeExists(this.view, this.cursor)) this.cursor = null;
    this.draw();
  }

  layout() {
    const v = this.view;
    const W = Math.max(120, this.wrap.clientWidth || 300);
    const pad = W < 420 ? 14 : 22;
    const maxH = Math.max(220, Math.min(window.innerHeight * this.maxVh, 780));
    const cell = Math.max(6, Math.min((W - 2 * pad) / v.width, (maxH - 2 * pad) / v.height, 96));
    const bw = cell * v.width, bh = cell * v.height;
    const cssW = Math.round(Math.min(W, bw + 2 * pad + 0)), cssH = Math.round(bh + 2 * pad);
    const dpr = window.devicePixelRatio || 1;
    const c = this.canvas;
    const pw = Math.round(cssW * dpr), ph = Math.round(cssH * dpr);
    if (c.width !== pw || c.height !== ph) { c.width = pw; c.height = ph; }
    c.style.width = cssW + "px";
    c.style.height = cssH + "px";
    this.geo = { cell, ox: (cssW - bw) / 2, oy: pad, cssW, cssH, dpr };
    return this.geo;
  }

  draw() {
    const v = this.view;
    if (!v) { this.geo = null; return; }
    const { cell, ox, oy, cssW, cssH, dpr } = this.layout();
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cssW, cssH);
    const P = (x, y) => [ox + x * cell, oy + y * cell];
    const o = this.o;
    const names = o.names || [];

    // Boxes: filled in the owner's colour, with the owner's initial.
    for (let y = 0; y < v.height; y++) for (let x = 0; x < v.width; x++) {
      const owner = v.owners[y * v.width + x];
      if (owner == null) continue;
      const [px, py] = P(x, y);
      ctx.fillStyle = seatColor(owner);
      ctx.globalAlpha = 0.26;
      ctx.fillRect(px, py, cell, cell);
      ctx.globalAlpha = 1;
      if (cell >= 22) {
        ctx.fillStyle = seatInk(owner);
        ctx.globalAlpha = 0.8;
        ctx.font = `650 ${Math.round(cell * 0.3)}px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif`;
        ctx.textAlign = "center";
        ctx.textBaseline = "middle";
        ctx.fillText(((names[owner] || "").trim()[0] || String(owner + 1)).toUpperCase(), px + cell / 2, py + cell / 2 + 1);
        ctx.globalAlpha = 1;
      }
    }

    const lw = Math.max(2.5, Math.min(8, cell * 0.085));
    const line = (e, color, width, alpha = 1, dash = null) => {
      const [x1, y1] = P(e.x, e.y);
      const [x2, y2] = e.dir === "h" ? P(e.x + 1, e.y) : P(e.x, e.y + 1);
      ctx.save();
      ctx.globalAlpha = alpha;
      ctx.strokeStyle = color;
      ctx.lineWidth = width;
      ctx.lineCap = "round";
      if (dash) ctx.setLineDash(dash);
      ctx.beginPath();
      ctx.moveTo(x1, y1);
      ctx.lineTo(x2, y2);
      ctx.stroke();
      ctx.restore();
    };
    const each = (fn) => {
      for (let y = 0; y <= v.height; y++) for (let x = 0; x < v.width; x++) fn({ dir: "h", x, y }, v.h_edges[y * v.width + x]);
      for (let y = 0; y < v.height; y++) for (let x = 0; x <= v.width; x++) fn({ dir: "v", x, y }, v.v_edges[y * (v.width + 1) + x]);
    };
    // Free edges: a faint guide. Drawn edges: dark.
    each((e, d) => { if (!d) line(e, "#d5dbe3", Math.max(1, lw * 0.3), 1, cell > 20 ? [2, Math.max(3, cell * 0.08)] : null); });
    each((e, d) => { if (d) line(e, "#2b3441", lw); });

    const mine = o.mySeat != null && o.mySeat >= 0 ? o.mySeat : 0;
    // The last move, in its mover's colour with a halo.
    const lm = o.lastMove;
    if (lm && lm.move && lm.move.dir && edgeExists(v, lm.move)) {
      line(lm.move, seatColor(lm.seat), lw * 2.6, 0.25);
      line(lm.move, seatColor(lm.seat), lw);
    }
    if (o.pending && edgeExists(v, o.pending) && !isDrawn(v, o.pending)) line(o.pending, seatColor(mine), lw, 0.55);
    if (this.hover && !isDrawn(v, this.hover)) {
      line(this.hover, seatColor(mine), lw * 2.4, 0.18);
      line(this.hover, seatColor(mine), lw, 0.7);
    }
    if (this.focused && !this.viaPointer && this.cursor) {
      const e = this.cursor;
      const [x1, y1] = P(e.x, e.y);
      const half = Math.max(6, lw * 1.6);
      ctx.save();
      ctx.strokeStyle = "#1d4ed8";
      ctx.lineWidth = 2;
      ctx.setLineDash([4, 3]);
      if (e.dir === "h") ctx.strokeRect(x1 + 2, y1 - half, cell - 4, half * 2);
      else ctx.strokeRect(x1 - half, y1 + 2, half * 2, cell - 4);
      ctx.restore();
      if (!isDrawn(v, e) && this.canPick()) line(e, seatColor(mine), lw, 0.55);
    }

    // Dots on top.
    const r = Math.max(2.5, Math.min(6.5, cell * 0.085));
    ctx.fillStyle = "#1f2937";
    for (let y = 0; y <= v.height; y++) for (let x = 0; x <= v.width; x++) {
      const [px, py] = P(x, y);
      ctx.beginPath();
      ctx.arc(px, py, r, 0, Math.PI * 2);
      ctx.fill();
    }
    if (this.interactive) this.canvas.style.cursor = this.hover ? "pointer" : "default";
  }

  /** The free edge nearest to a viewport point, within half a cell, or null. */
  edgeAt(clientX, clientY, includeDrawn = false) {
    const v = this.view, g = this.geo;
    if (!v || !g) return null;
    const rect = this.canvas.getBoundingClientRect();
    const sx = g.cssW / (rect.width || g.cssW), sy = g.cssH / (rect.height || g.cssH);
    const fx = ((clientX - rect.left) * sx - g.ox) / g.cell;
    const fy = ((clientY - rect.top) * sy - g.oy) / g.cell;
    const c = [];
    const hy = Math.round(fy), hx = Math.floor(fx);
    if (hy >= 0 && hy <= v.height && hx >= 0 && hx < v.width) c.push({ e: { dir: "h", x: hx, y: hy }, d: Math.abs(fy - hy) });
    const vx = Math.round(fx), vy = Math.floor(fy);
    if (vx >= 0 && vx <= v.width && vy >= 0 && vy < v.height) c.push({ e: { dir: "v", x: vx, y: vy }, d: Math.abs(fx - vx) });
    c.sort((a, b) => a.d - b.d);
    for (const { e, d } of c) if (d <= 0.5 && (includeDrawn || !isDrawn(v, e))) return e;
    return null;
  }
  edgePoint(move) {
    const v = this.view, g = this.geo;
    if (!v || !g || !move) return null;
    let p = this.pointOf(move);
    // Scroll the point into the viewport first, so that it can be clicked.
    const top = (document.querySelector(".topbar")?.getBoundingClientRect().bottom ?? 0) + 8; // sticky header
    if (p.y < top || p.y > window.innerHeight - 8 || p.x < 0 || p.x > window.innerWidth) {
      window.scrollBy({ top: p.y - window.innerHeight / 2, left: 0, behavior: "instant" });
      p = this.pointOf(move);
    }
    return p;
  }
  pointOf(move) {
    const g = this.geo;
    const rect = this.canvas.getBoundingClientRect();
    const sx = (rect.width || g.cssW) / g.cssW, sy = (rect.height || g.cssH) / g.cssH;
    const mx = move.dir === "h" ? move.x + 0.5 : move.x;
    const my = move.dir === "h" ? move.y : move.y + 0.5;
    return { x: rect.left + (g.ox + mx * g.cell) * sx, y: rect.top + (g.oy + my * g.cell) * sy };
  }

  setHover(e) {
    if (!sameEdge(e, this.hover) && !(e == null && this.hover == null)) { this.hover = e; this.draw(); }
  }
  onMove(ev) {
    if (!this.view || !this.canPick()) { this.setHover(null); return; }
    this.setHover(this.edgeAt(ev.clientX, ev.clientY));
  }
  onClick(ev) {
    if (!this.view || !this.onPick) return;
    const e = this.edgeAt(ev.clientX, ev.clientY);
    if (e) { this.cursor = e; this.onPick(e); }
  }
  onKey(ev) {
    if (!this.view) return;
    const k = ev.key;
    if (this.viaPointer && (k.startsWith("Arrow") || k === "Enter" || k === " ")) {
      this.viaPointer = false;
      if (!this.cursor || isDrawn(this.view, this.cursor)) this.cursor = this.cursor ?? firstFreeEdge(this.view);
      if (k.startsWith("Arrow")) { ev.preventDefault(); this.announce(); this.draw(); return; }
    }
    if (k.startsWith("Arrow")) {
      ev.preventDefault();
      this.cursor = this.cursor ? stepEdge(this.view, this.cursor, k) : firstFreeEdge(this.view);
      this.announce();
      this.draw();
    } else if (k === "Enter" || k === " " || k === "Spacebar") {
      ev.preventDefault();
      if (!this.cursor) { this.cursor = firstFreeEdge(this.view); this.draw(); return; }
      this.onPick?.(this.cursor);
    } else if (k === "Escape") {
      this.cursor = null;
      this.draw();
    }
  }
  announce() {
    if (!this.cursor || !this.view) return;
    this.live.textContent = `${describeEdge(this.cursor)}, ${isDrawn(this.view, this.cursor) ? "drawn" : "free"}`;
  }
}
