/* The generic view of any game: its status, view as JSON, and legal moves as buttons. */

import { h } from "./ui.js";

/** JSON with two-space indents, but arrays of scalars on one line. */
function pretty(v) {
  return JSON.stringify(v ?? null, null, 2).replace(/\[\s+([^\[\]{}]*?)\s+\]/g, (_, inner) => `[${inner.replace(/,\s+/g, ", ")}]`);
}

export class GenericView {
  constructor(container, { onMove = null, showMoves = true } = {}) {
    this.onMove = onMove;
    this.statusPre = h("pre", { class: "mono status-pre", id: "gv-status" });
    this.viewPre = h("pre", { class: "mono view-pre", id: "gv-view" });
    this.moves = h("div", { id: "legal-moves", class: "legal-moves" });
    this.movesNote = h("p", { class: "hint" });
    this.events = h("ol", { id: "gv-events", class: "events mono" });
    this.movesSig = null;
    this.el = h("div", { id: "generic-view", class: "generic" },
      h("div", { class: "gv-grid" },
        h("section", {}, h("h3", {}, "Status"), this.statusPre,
          showMoves ? [h("h3", {}, "Legal moves"), this.moves, this.movesNote] : null),
        h("section", {}, h("h3", {}, "View"), this.viewPre)),
      h("section", {}, h("h3", {}, "Events"), this.events));
    container.append(this.el);
  }
  update({ status, view, events = [], legal = [], note = "" }) {
    this.statusPre.textContent = pretty(status);
    this.viewPre.textContent = pretty(view);
    const sig = JSON.stringify(legal);
    if (sig !== this.movesSig) {
      this.movesSig = sig;
      const hadFocus = this.moves.contains(document.activeElement);
      this.moves.replaceChildren(...legal.map((m) => {
        const j = JSON.stringify(m);
        return h("button", { type: "button", class: "btn small mono", "data-move": j, onclick: () => this.onMove?.(m) }, j);
      }));
      if (hadFocus) this.moves.firstElementChild?.focus();
    }
    this.movesNote.textContent = legal.length ? "" : note;
    // Events: newest first, at most 300.
    const shown = events.slice(-300).reverse();
    const top = this.events.firstElementChild?.dataset.seq;
    if (String(shown[0]?.seq) !== top || this.events.children.length !== shown.length) {
      this.events.replaceChildren(...shown.map((ev) => h("li", { "data-seq": String(ev.seq) },
        h("span", { class: "seq" }, `#${ev.seq}`), " ", h("span", { class: "body" }, JSON.stringify(ev.body ?? { view: ev.view })))));
    }
  }
}
