"""Review screen latency: the time from the "accept" key to the next image shown with its
boxes drawn, in headless Chromium (Debian's, driven by Playwright), on a large project.

    .venv/bin/python benchmarks/review_latency.py [--images 10000] [--n 50] [--zoomed]

The project (the demo generator at ``--images`` scenes, kept in data/bench-review-N) gets
a selection of ``--n + 5`` pool images whose pre-labels come from a stand-in model (the
ground truth at score 0.9). The app is served by the README's command; one annotator
accepts ``--n`` images with the A key. An image counts as shown when the URL names it,
its canvas exists, and a box's left edge is painted in its class colour on the canvas's
object layer (read back from its pixels). Prints p50, p95 and max in milliseconds.
``--zoomed``: before each key, the annotator zooms in twice (the + key) on the image, so
every "next" leaves a zoomed view (the next image opens whole).
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from al_core.simulation.demo import DemoConfig, create_demo_project  # noqa: E402
from al_core.store import Store  # noqa: E402
from al_core.types import SelectionItem  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TAG = "bench-latency"

SHOWN_JS = """([item, probes, explain]) => {
  if (!location.search.includes("item=" + item)) return explain ? "url " + location.search : false;
  const host = [...document.querySelectorAll('[class*="st-key-canvas-' + item + '-"] *')]
    .find((e) => e.shadowRoot && e.shadowRoot.querySelector("canvas.dc-canvas.lower-canvas"));
  if (!host) return explain ? "no canvas for " + item : false;
  const c = host.shadowRoot.querySelector("canvas.dc-canvas.lower-canvas");
  const r = window.devicePixelRatio || 1;
  const seen = probes.map(([x, y, rgb]) => {
    const px = c.getContext("2d").getImageData(Math.round(x * r), Math.round(y * r), 1, 1).data;
    return [Math.abs(px[0] - rgb[0]) + Math.abs(px[1] - rgb[1]) + Math.abs(px[2] - rgb[2]) < 60,
            Array.from(px)];
  });
  return explain ? "pixels " + JSON.stringify(seen) : seen.some(([ok]) => ok);
}"""


def project(n_images: int, n: int) -> Path:
    path = ROOT / "data" / f"bench-review-{n_images}"
    if not (path / "project.db").exists():
        print(f"creating a {n_images}-image demo project in {path} (once)...", flush=True)
        create_demo_project(path, DemoConfig(n_images=n_images, test_size=300)).close()
    with Store(path) as store:
        store.db.execute("DELETE FROM claims")
        if TAG in {s.tag for s in store.selections()}:
            sel = store.selection(TAG)
            labeled = store.items(ids=[i.item_id for i in sel.items], status="labeled")
            if labeled:  # a previous run labeled some: make a fresh selection
                tag_n = len(store.selections())
                store.db.execute("UPDATE selections SET tag = ? WHERE tag = ?",
                                 [f"{TAG}-old-{tag_n}", TAG])
                store.db.execute("UPDATE tags SET tag = ? WHERE tag = ?",
                                 [f"{TAG}-old-{tag_n}", TAG])
            else:
                return path
        pool = [i for i in store.query_pool()
                if store.oracle_boxes([i])[i]][: n + 5]
        truth = store.oracle_boxes(pool)
        model = store.add_model(name="stand-in", arch="external", status="external")
        store.add_predictions(model, [(i, b.class_id, b.box, 0.9) for i in pool
                                      for b in truth[i]])
        store.add_selection(tag=TAG, round=1, strategy="uncertainty", config={}, seed=0,
                            model_id=model, items=[SelectionItem(i, r, 1.0, False)
                                                   for r, i in enumerate(pool)])
    return path


def serve(path: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(ROOT / "dev.sh"), "app", "--", "--project", str(path)],
                            cwd=ROOT, env={**os.environ, "PORT": str(port)},
                            stdout=subprocess.DEVNULL,
                            stderr=open(os.environ.get("REVIEW_LATENCY_SERVER_LOG",
                                                       os.devnull), "w"))
    url = f"http://localhost:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=2)
            return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the app did not start")


def probes(store: Store, item_id: int, canvas_w: float) -> list:
    """For each shown box: the canvas point in the middle of its left edge and its class
    colour (the image counts as drawn when any of them is painted: a chip of a neighbour
    may cover one)."""
    item = store.item(item_id)
    colours = {c.id: c.color for c in store.classes()}
    scale = canvas_w / item.width
    return [[p["x1"] * scale + 1, (p["y1"] + p["y2"]) / 2 * scale,
             [int(colours[p["class_id"]][k:k + 2], 16) for k in (1, 3, 5)]]
            for p in store.predictions(store.selection(TAG).model_id, [item_id])]


def zoomed_scale(page) -> float:
    """The canvas's scale now (canvas px per image px), from the Review page's bridge."""
    return float(page.evaluate("window.__alsBridge.data.view[2]"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=800)
    ap.add_argument("--pause", type=int, default=300,
                    help="milliseconds between an image shown and the next key")
    ap.add_argument("--zoomed", action="store_true",
                    help="zoom in twice on each image before accepting it")
    args = ap.parse_args()
    path = project(args.images, args.n)
    proc, url = serve(path)
    from playwright.sync_api import sync_playwright

    times: list[float] = []
    try:
        with sync_playwright() as p, Store(path) as store:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            page.on("pageerror", lambda e: print(f"page error: {e}", file=sys.stderr))
            page.goto(f"{url}/review?selection={TAG}")
            page.get_by_label("Your name").fill("bench")
            page.get_by_role("button", name="Start reviewing").click()
            page.locator("canvas.upper-canvas").wait_for(timeout=180_000)
            page.wait_for_timeout(2000)  # the first image, the viewport report
            for k in range(args.n):
                current = int(page.evaluate("new URLSearchParams(location.search).get('item')"))
                upcoming = store.review_queue(store.selection(TAG).id, "bench",
                                              exclude=[current], limit=1)[0]
                canvas_w = page.locator("canvas.upper-canvas").bounding_box()["width"]
                points = probes(store, upcoming, canvas_w)
                if args.zoomed:  # the annotator looks closer first (not timed)
                    for _ in range(2):
                        z = zoomed_scale(page)
                        page.keyboard.press("+")
                        try:
                            page.wait_for_function(
                                "(z) => window.__alsBridge && window.__alsBridge.data && "
                                "window.__alsBridge.data.view[2] > z", arg=z, timeout=30_000)
                        except Exception:
                            page.screenshot(path="/tmp/review-latency-zoom-failure.png")
                            raise SystemExit("the + key did not zoom in: " + page.evaluate(
                                "JSON.stringify({pending: window.__alsBridge.pending, "
                                "data: window.__alsBridge.data})"))
                    page.wait_for_timeout(300)
                t0 = time.perf_counter()
                page.keyboard.press("a")
                try:
                    page.wait_for_function(SHOWN_JS, arg=[upcoming, points, False],
                                           polling="raf", timeout=30_000)
                except Exception:
                    page.screenshot(path="/tmp/review-latency-failure.png")
                    shown = page.evaluate("new URLSearchParams(location.search).get('item')")
                    raise SystemExit(
                        f"image {upcoming} was not shown within 30 s after A on image "
                        f"{current} (now {store.item(current).status}; the page shows "
                        f"{shown}): " + page.evaluate(SHOWN_JS, [upcoming, points, True]))
                times.append((time.perf_counter() - t0) * 1000)
                page.wait_for_timeout(args.pause)  # a person looks before the next key
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    print(f"review latency, next key -> next image with boxes drawn, {len(times)} images, "
          f"{args.images:,}-image project, {args.width}x{args.height}"
          f"{', zoomed in on each image first' if args.zoomed else ''}:")
    print(f"  p50 {statistics.median(times):.0f} ms   p95 {p95:.0f} ms   max {times[-1]:.0f} ms")


if __name__ == "__main__":
    main()
