// The Review canvas's bridge (ui/review_zoom.py): what streamlit-drawable-canvas cannot
// do itself. Installed once per page; each render hands it the canvas's current boxes.
//
// - Draw mode keeps drawing, and a press on a box's edge or corner resizes it, a press
//   inside the highlighted box moves it, a click on a box highlights it, a drag inside a
//   box that is not highlighted draws a new box there (the canvas would too).
// - + / = zoom in, - zoom out, 0 (unless a class named zero owns it) or Esc the whole
//   image (about the pointer when it is over the image); the wheel over the image zooms;
//   Space+drag or the middle button pans, and the arrows pan when no box is highlighted.
// - With a box highlighted: an arrow moves it 1 image pixel, Shift+arrow pushes the edge on
//   that side out 1 pixel, Ctrl (or Alt)+arrow pulls it in; Esc drops the highlight.
// - E toggles the canvas's edit mode, N returns to drawing, Delete/Backspace deletes the
//   box selected in edit mode, else the highlighted one.
// Keys typed into any text field are left alone, as Streamlit's own shortcuts do.
// Every change goes to Python as one trigger ("act"); Python owns the boxes and the view.
export default function ({ data, setTriggerValue, parentElement }) {
  const B = window.__alsBridge || (window.__alsBridge = {});
  B.data = data;
  B.el = parentElement; // on the page while the editor is: else every key is left alone
  B.send = setTriggerValue;
  // changes Python has applied are dropped; those it has not seen are sent again (a key
  // pressed while the page was redrawing the bridge once went nowhere)
  B.pending = (B.pending || []).filter((a) => a.n > (data.acked || 0));
  if (B.installed) return;
  B.installed = true;
  B.seq = data.acked || 0;
  setInterval(() => {
    if (B.pending.length && Date.now() - B.sentAt > 1500) transmit();
  }, 500);
  const GRAB = 6; // canvas px: how near an edge a press grabs it
  const CURSOR = { n: "ns-resize", s: "ns-resize", e: "ew-resize", w: "ew-resize",
    nw: "nwse-resize", se: "nwse-resize", ne: "nesw-resize", sw: "nesw-resize",
    move: "move", draw: "crosshair" };

  const typing = (e) => e.composedPath().some((n) => n && n.nodeType === 1 &&
    (["INPUT", "TEXTAREA", "SELECT"].includes(n.tagName) || n.isContentEditable));

  const findRoot = (key) => {
    const scope = document.querySelector(".st-key-" + key);
    if (!scope) return null;
    for (const el of scope.querySelectorAll("*")) {
      if (el.shadowRoot && el.shadowRoot.querySelector("canvas.upper-canvas")) {
        return el.shadowRoot;
      }
    }
    return null;
  };

  // the canvas now: its data, its upper (event) canvas, where it is, edit mode
  const ctx = () => {
    const d = B.data;
    if (!d || !d.canvas_key) return null;
    if (!(B.root && B.rootKey === d.canvas_key && B.root.host && B.root.host.isConnected)) {
      B.root = findRoot(d.canvas_key);
      B.rootKey = d.canvas_key;
    }
    if (!B.root) return null;
    const upper = B.root.querySelector("canvas.upper-canvas");
    if (!upper) return null;
    const edit = B.root.querySelector('button[aria-label="Edit"]');
    return { d, upper, edit, rect: upper.getBoundingClientRect(),
      editing: !!edit && edit.getAttribute("aria-pressed") === "true" };
  };
  const over = (c, e) => e.clientX >= c.rect.left && e.clientX <= c.rect.right &&
    e.clientY >= c.rect.top && e.clientY <= c.rect.bottom;
  const at = (c, e) => [(e.clientX - c.rect.left) * c.d.canvas_w / c.rect.width,
    (e.clientY - c.rect.top) * c.d.canvas_h / c.rect.height];

  // what a press at canvas point (x, y) would take: an edge or corner of a box (the
  // highlighted one first, then the smallest), else the inside of one
  const hit = (d, x, y) => {
    let best = null;
    for (const b of d.boxes) {
      const r = b.l + b.w, bt = b.t + b.h;
      const g = Math.max(2, Math.min(GRAB, Math.min(b.w, b.h) / 3));
      if (x < b.l - g || x > r + g || y < b.t - g || y > bt + g) continue;
      const dl = Math.abs(x - b.l), dr = Math.abs(x - r);
      const dt = Math.abs(y - b.t), db = Math.abs(y - bt);
      let mode = (Math.min(dt, db) <= g ? (dt <= db ? "n" : "s") : "") +
        (Math.min(dl, dr) <= g ? (dl <= dr ? "w" : "e") : "");
      const inside = x > b.l && x < r && y > b.t && y < bt;
      if (!mode && inside) mode = b.k === d.focus ? "move" : "draw";
      if (!mode) continue;
      const rank = (b.k === d.focus ? 0 : 2) + (mode === "move" || mode === "draw" ? 4 : 0);
      if (!best || rank < best.rank || (rank === best.rank && b.w * b.h < best.area)) {
        best = { b, mode, rank, area: b.w * b.h };
      }
    }
    return best;
  };

  B.ctx = ctx; // for tests and debugging in the browser's console
  B.hit = hit;

  // every change not yet applied goes in one trigger, in order (one trigger value per
  // rerun reaches Python: two sent at once would keep only the last)
  const transmit = () => {
    if (!B.send || !B.pending.length) return;
    B.sentAt = Date.now();
    B.send("act", { acts: B.pending.slice() });
  };
  const send = (payload) => {
    if (!B.data) return;
    B.pending.push(Object.assign({ tag: B.data.tag, n: ++B.seq }, payload));
    // a drawing the canvas has not sent yet (it waits 200 ms after a mouse-up) goes first
    const wait = 350 - (Date.now() - (B.canvasUp || 0));
    if (wait > 0) setTimeout(transmit, wait); else transmit();
  };

  const overlay = () => {
    if (!B.box || !B.box.isConnected) {
      B.box = document.createElement("div");
      B.box.setAttribute("data-testid", "als-drag-box");
      B.box.style.cssText = "position:fixed;pointer-events:none;z-index:100000;" +
        "border:2px dashed #fff;outline:2px dashed #000;display:none;box-sizing:border-box";
      document.body.appendChild(B.box);
    }
    return B.box;
  };
  const show = (c, nb, color) => {
    const o = overlay(), kx = c.rect.width / c.d.canvas_w, ky = c.rect.height / c.d.canvas_h;
    o.style.left = (c.rect.left + nb[0] * kx) + "px";
    o.style.top = (c.rect.top + nb[1] * ky) + "px";
    o.style.width = Math.max(1, (nb[2] - nb[0]) * kx) + "px";
    o.style.height = Math.max(1, (nb[3] - nb[1]) * ky) + "px";
    o.style.borderColor = color || "#fff";
    o.style.display = "block";
  };
  const hide = () => { if (B.box) B.box.style.display = "none"; };

  document.addEventListener("mousedown", (e) => {
    const c = ctx();
    if (!c || !over(c, e) || typing(e)) return;
    if (e.button === 1 || (e.button === 0 && B.space)) { // pan
      if (!c.d.zoomed) return;
      e.preventDefault();
      e.stopImmediatePropagation();
      B.drag = { pan: true, c, sx: e.clientX, sy: e.clientY };
      return;
    }
    if (e.button !== 0 || e.ctrlKey || e.metaKey || e.altKey || c.editing) return;
    const [x, y] = at(c, e);
    const h = hit(c.d, x, y);
    if (!h) { B.canvasDown = true; return; } // the canvas draws
    e.preventDefault();
    e.stopImmediatePropagation();
    B.drag = { c, k: h.b.k, mode: h.mode, b: h.b, sx: x, sy: y, moved: false, nb: null };
  }, true);

  window.addEventListener("mousemove", (e) => {
    const g = B.drag;
    if (g) {
      e.stopImmediatePropagation();
      if (g.pan) return;
      const [x, y] = at(g.c, e);
      const dx = x - g.sx, dy = y - g.sy;
      if (!g.moved && Math.hypot(dx, dy) < 3) return;
      g.moved = true;
      let l = g.b.l, t = g.b.t, r = g.b.l + g.b.w, b = g.b.t + g.b.h;
      if (g.mode === "move") { l += dx; r += dx; t += dy; b += dy; }
      else if (g.mode === "draw") { l = g.sx; t = g.sy; r = x; b = y; }
      else {
        if (g.mode.includes("w")) l += dx;
        if (g.mode.includes("e")) r += dx;
        if (g.mode.includes("n")) t += dy;
        if (g.mode.includes("s")) b += dy;
      }
      g.nb = [Math.min(l, r), Math.min(t, b), Math.max(l, r), Math.max(t, b)];
      show(g.c, g.nb, g.mode === "draw" ? g.c.d.color : g.b.color);
      return;
    }
    B.client = [e.clientX, e.clientY]; // where the pointer is, whatever is under it
    const c = ctx();
    if (!c) return;
    B.inside = over(c, e);
    if (!B.inside) return;
    B.pointer = at(c, e);
    if (e.buttons || c.editing) return; // the canvas's own drag or edit mode
    const h = hit(c.d, B.pointer[0], B.pointer[1]);
    if (h) {
      c.upper.style.cursor = CURSOR[h.mode];
      e.stopImmediatePropagation(); // the canvas would set its own cursor
    }
  }, true);

  window.addEventListener("mouseup", (e) => {
    const g = B.drag;
    if (!g) {
      if (B.canvasDown) { B.canvasDown = false; B.canvasUp = Date.now(); }
      return;
    }
    B.drag = null;
    hide();
    e.preventDefault();
    e.stopImmediatePropagation();
    if (g.pan) {
      const kx = g.c.d.canvas_w / g.c.rect.width, ky = g.c.d.canvas_h / g.c.rect.height;
      const dx = (g.sx - e.clientX) * kx, dy = (g.sy - e.clientY) * ky;
      if (Math.hypot(dx, dy) >= 3) send({ act: "pan", dx, dy });
      return;
    }
    if (!g.moved) { send({ act: "focus", k: g.k }); return; }
    if (g.mode === "draw") send({ act: "add", box: g.nb });
    else send({ act: "box", k: g.k, box: g.nb });
  }, true);

  document.addEventListener("wheel", (e) => {
    const c = ctx();
    if (!c || !over(c, e) || c.editing) return;
    e.preventDefault();
    e.stopImmediatePropagation();
    B.wheel = (B.wheel || 0) + e.deltaY;
    B.pointer = at(c, e);
    if (B.wheelTimer) return;
    B.wheelTimer = setTimeout(() => {
      const steps = B.wheel < 0 ? 1 : -1;
      B.wheel = 0;
      B.wheelTimer = null;
      send({ act: "zoom", steps, at: B.pointer });
    }, 120);
  }, { capture: true, passive: false });

  // the canvas point to zoom about: the pointer's, read against the canvas as it is
  // now (it is replaced after every change, and the page may have moved under a still
  // pointer); while it is being replaced, the last point read over it
  const anchor = (c) => {
    if (c && B.client) {
      const e = { clientX: B.client[0], clientY: B.client[1] };
      return over(c, e) ? at(c, e) : null;
    }
    return B.inside ? B.pointer : null;
  };

  const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
  // the edges (dx1, dy1, dx2, dy2) an arrow moves: all (move), the side's edge out, or in
  const edges = (key, mode) => {
    const [ux, uy] = ARROWS[key];
    if (mode === "move") return [ux, uy, ux, uy];
    const s = mode === "out" ? 1 : -1; // out: away from the box's middle
    if (key === "ArrowLeft") return [-s, 0, 0, 0];
    if (key === "ArrowRight") return [0, 0, s, 0];
    if (key === "ArrowUp") return [0, -s, 0, 0];
    return [0, 0, 0, s];
  };
  const flushNudge = () => {
    const n = B.nudge;
    B.nudge = null;
    if (n) send({ act: "nudge", k: n.k, d: n.d });
  };

  document.addEventListener("keydown", (e) => {
    if (typing(e)) return;
    // zoom, pan and nudge need only the page's data: a key pressed while the canvas is
    // being replaced (after each change) still counts; the toolbar keys need the canvas
    const d = B.data;
    if (!d || !d.canvas_key || !((B.el && B.el.isConnected) ||
        document.querySelector(".st-key-rv-zoom-row"))) return; // not the editor's page
    const c = ctx();
    if (e.key === " ") {
      B.space = true;
      if (B.inside) e.preventDefault(); // not a page scroll while panning
      return;
    }
    if (e.metaKey) return;
    const plain = !e.ctrlKey && !e.altKey;
    if (plain && (e.key === "+" || e.key === "=" || e.key === "-" || e.key === "_" ||
        (e.key === "0" && !d.zero_is_class))) { // a class named zero owns key 0
      e.preventDefault();
      const steps = e.key === "0" ? 0 : (e.key === "-" || e.key === "_") ? -1 : 1;
      send({ act: "zoom", steps, at: anchor(c) });
      return;
    }
    if (ARROWS[e.key]) {
      const focused = d.focus !== null && d.focus !== undefined;
      if (focused) {
        const mode = e.shiftKey && plain ? "out" : (e.ctrlKey || e.altKey) && !e.shiftKey
          ? "in" : !e.shiftKey ? "move" : null;
        if (!mode) return;
        e.preventDefault();
        e.stopPropagation();
        const add = edges(e.key, mode);
        if (!B.nudge || B.nudge.k !== d.focus) { flushNudge(); B.nudge = { k: d.focus, d: [0, 0, 0, 0] }; }
        B.nudge.d = B.nudge.d.map((v, i) => v + add[i]);
        clearTimeout(B.nudgeTimer);
        B.nudgeTimer = setTimeout(flushNudge, 150);
      } else if (d.zoomed && plain) {
        e.preventDefault();
        const [ux, uy] = ARROWS[e.key];
        send({ act: "pan", dx: ux * d.canvas_w / 4, dy: uy * d.canvas_h / 4 });
      }
      return;
    }
    if (!plain) return;
    if (e.key === "Escape") { // the highlight goes, else the whole image comes back
      if (d.focus !== null && d.focus !== undefined) send({ act: "focus", k: null });
      else if (d.zoomed) send({ act: "zoom", steps: 0, at: null });
      return;
    }
    let button = null;
    if (!c) return;
    if (e.key === "e" || e.key === "E") button = c.edit;
    else if ((e.key === "n" || e.key === "N") && c.editing) button = c.edit;
    else if (e.key === "Delete" || e.key === "Backspace") {
      button = c.editing ? B.root.querySelector('button[aria-label="Delete selected"]') : null;
      if (!button && d.focus !== null && d.focus !== undefined) {
        e.preventDefault();
        send({ act: "delete", k: d.focus });
        return;
      }
    }
    if (button) { e.preventDefault(); button.click(); }
  });
  document.addEventListener("keyup", (e) => { if (e.key === " ") B.space = false; });
}
