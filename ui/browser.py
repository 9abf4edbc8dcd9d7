"""Two small inline components (Streamlit Components v2, no iframe, JS in the page):

- :func:`viewport` reports the width of the column it sits in and the window's height,
  so the canvas can fill the available width;
- :func:`canvas_keys` gives the canvas the keys it cannot take itself: ``E`` toggles the
  canvas toolbar's edit mode (move, resize, relabel), ``N`` returns to drawing, ``Delete``
  or ``Backspace`` deletes the selected box. It clicks the canvas's own toolbar buttons in
  its open shadow root, and ignores keys typed into any text field (the canvas's inline
  label editor included), as Streamlit's own shortcuts do.
"""
from __future__ import annotations

import streamlit as st

_VIEWPORT_JS = """
export default function ({ parentElement, setStateValue }) {
  const el = parentElement;
  let last = "";
  const report = () => {
    const w = Math.floor(el.getBoundingClientRect().width / 16) * 16;
    const h = Math.floor(window.innerHeight / 16) * 16;
    const now = w + "x" + h;
    if (w > 0 && now !== last) {
      last = now;
      setStateValue("size", { width: w, height: h });
    }
  };
  const ro = new ResizeObserver(report);
  ro.observe(el);
  window.addEventListener("resize", report);
  report();
  return () => { ro.disconnect(); window.removeEventListener("resize", report); };
}
"""

_KEYS_JS = """
export default function ({ data }) {
  window.__alsCanvasKey = data.canvas_key;
  if (window.__alsKeyBridge) return;
  window.__alsKeyBridge = true;
  const typing = (e) => e.composedPath().some((n) => n && n.nodeType === 1 &&
    (["INPUT", "TEXTAREA", "SELECT"].includes(n.tagName) || n.isContentEditable));
  const toolbar = () => {
    // only its own canvas: the Review page's bridge (ui/review_zoom.py) has these keys there
    const scope = document.querySelector(".st-key-" + window.__alsCanvasKey);
    if (!scope) return null;
    for (const host of scope.querySelectorAll("*")) {
      if (host.shadowRoot && host.shadowRoot.querySelector('button[aria-label="Edit"]')) {
        return host.shadowRoot;
      }
    }
    return null;
  };
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e)) return;
    const root = toolbar();
    if (!root) return;
    const edit = root.querySelector('button[aria-label="Edit"]');
    const editing = edit && edit.getAttribute("aria-pressed") === "true";
    let button = null;
    if (e.key === "e" || e.key === "E") button = edit;
    else if ((e.key === "n" || e.key === "N") && editing) button = edit;
    else if (e.key === "Delete" || e.key === "Backspace") {
      button = root.querySelector('button[aria-label="Delete selected"]');
    }
    if (button) { e.preventDefault(); button.click(); }
  });
}
"""

_viewport = st.components.v2.component("als_viewport", js=_VIEWPORT_JS, html="<div></div>",
                                       isolate_styles=False)
_keys = st.components.v2.component("als_canvas_keys", js=_KEYS_JS, html="<span></span>",
                                   isolate_styles=False)


def viewport(*, key: str, default_width: int = 960, default_height: int = 800
             ) -> tuple[int, int]:
    """(column width, window height) in CSS pixels; the defaults until the browser has
    reported (in tests, and for one run after the page opens)."""
    result = _viewport(key=key, default={"size": None}, on_size_change=lambda: None,
                       width="stretch", height="content")
    size = result.get("size") if hasattr(result, "get") else None
    if not size:
        return default_width, default_height
    return int(size["width"]), int(size["height"])


def canvas_keys(canvas_key: str) -> None:
    """Bind E, N and Delete to the canvas keyed ``canvas_key`` (rebinds on every call)."""
    _keys(key="als-canvas-keys", data={"canvas_key": canvas_key}, width="content",
          height="content")
