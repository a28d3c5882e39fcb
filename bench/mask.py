"""How fast the mask editor paints: the mask in Python, and the stroke on the canvas in a real browser.

(a) The Pillow mask for a 2,000-point stroke, drawn as the editor draws it, segment by segment
    as the mouse moves (``MaskHistory.extend_stroke``), at 1024x1024 and 1536x1024 and three
    brush sizes.  Baseline, in the same run on the same path: Pillow drawing the same polyline
    once from scratch, ``ImageDraw.line(points, width=w, joint="curve")`` plus round ends.
    Goals: the incremental total is within 1.2x of the baseline, and no step takes over 1 ms.
    A further row times the editor's whole mouse-move handler (the Pillow segment plus the
    canvas commands it sends), with no browser attached.

(b) In JupyterLab and headless Chromium (``tests/browser/_lab.py``): the time from a mouse move
    on the canvas to its segment appearing in the canvas the user sees, while painting a
    1024x1024 picture; median and p90 over 200 moves.  Measured in the page: the move is
    dispatched to the canvas, and a hook on the visible canvas's ``drawImage`` (where the view
    receives each new frame) checks the pixel at the move's position.  The moves are sent one
    after the other, each as soon as the previous one is on screen.
    Goal: p90 <= 30 ms.

    The browser leg is run twice, on a stock Jupyter server and on one whose kernel websocket
    has TCP_NODELAY set, and a trivial ipycanvas echo (a handler that sends one small message
    back, nothing drawn) gives the floor of each: Jupyter Server does not set TCP_NODELAY on
    kernel websockets, so a small message that follows another one waits for the browser's
    delayed ACK (about 40 ms on Linux) before it is sent.

Run from the repository root: ``.venv/bin/python bench/mask.py`` (about 2 minutes; ``--no-browser``
runs (a) only).  It prints figures and ratios and one MET / NOT MET line per goal; it never fails.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from _harness import table, verdict
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/browser/_lab.py: the same server and browser as the browser tests

from dalle_nb.notebook.widgets import MaskEditor  # noqa: E402
from dalle_nb.notebook.widgets.mask_history import MaskHistory  # noqa: E402

POINTS = 2000
SIZES = [(1024, 1024), (1536, 1024)]
BRUSHES = [10, 40, 100]
TOTAL_GOAL = 1.2
STEP_GOAL_MS = 1.0
REPEATS = 5
LATENCY_GOAL_MS = 30.0
MOVES = 200


def stroke_path(width: int, height: int, n: int = POINTS) -> list[tuple[float, float]]:
    """A long looping stroke over the whole picture, with curves and crossings, as a hand would draw."""
    t = np.linspace(0.0, 1.0, n)
    x = width / 2 + 0.42 * width * np.sin(2 * np.pi * 3 * t)
    y = height / 2 + 0.42 * height * np.sin(2 * np.pi * 2 * t + 0.3)
    return [(float(a), float(b)) for a, b in zip(x, y, strict=True)]


def baseline(size: tuple[int, int], points: list[tuple[float, float]], brush: int) -> float:
    """Pillow drawing the whole polyline at once, with round joins and ends."""
    image = Image.new("L", size, 0)
    draw = ImageDraw.Draw(image)
    start = time.perf_counter()
    draw.line(points, fill=255, width=brush, joint="curve")
    r = brush / 2
    for x, y in (points[0], points[-1]):
        draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return time.perf_counter() - start


def incremental(size: tuple[int, int], points: list[tuple[float, float]], brush: int) -> tuple[float, list[float]]:
    """The editor's mask, one segment per mouse move: the total and each step."""
    history = MaskHistory(Image.new("L", size, 0))
    steps = []
    start = time.perf_counter()
    history.begin_stroke(points[0], brush)
    for point in points[1:]:
        step = time.perf_counter()
        history.extend_stroke(point)
        steps.append(time.perf_counter() - step)
    history.end_stroke()
    return time.perf_counter() - start, steps


def handler_steps(size: tuple[int, int], points: list[tuple[float, float]], brush: int) -> list[float]:
    """The editor's whole mouse-move handler (Pillow segment + canvas commands), no browser attached."""
    editor = MaskEditor(Image.new("RGB", size, "white"), brush_size=brush)
    top = editor._canvas[-1]

    def send(event: str, x: float, y: float) -> None:
        top._handle_frontend_event(None, {"event": event, "x": x, "y": y}, [])

    send("mouse_down", *points[0])
    steps = []
    for x, y in points[1:]:
        step = time.perf_counter()
        send("mouse_move", x, y)
        steps.append(time.perf_counter() - step)
    send("mouse_up", *points[-1])
    return steps


def part_a() -> bool:
    print(f"(a) The Pillow mask for a {POINTS:,}-point stroke, median of {REPEATS} runs (alternating)")
    print()
    rows, met = [], True
    for size in SIZES:
        points = stroke_path(*size)
        for brush in BRUSHES:
            base, inc, runs = [], [], []
            for repeat in range(REPEATS + 1):  # the first round warms up and is not counted
                for arm in [0, 1] if repeat % 2 == 0 else [1, 0]:
                    if arm == 0:
                        b = baseline(size, points, brush)
                        if repeat:
                            base.append(b)
                    else:
                        total, steps = incremental(size, points, brush)
                        if repeat:
                            inc.append(total)
                            runs.append(steps)
            b_med, i_med = statistics.median(base), statistics.median(inc)
            ratio = i_med / b_med
            # each step's cost is its best of the runs: a step that is slow in one run only was
            # interrupted (this machine's 2 cores are shared); one slow in every run is slow
            per_step = np.min(np.array(runs), axis=0)
            worst, worst_any = float(per_step.max()), max(max(r) for r in runs)
            met = met and ratio <= TOTAL_GOAL and worst * 1000 <= STEP_GOAL_MS
            rows.append(
                [
                    f"{size[0]}x{size[1]}, brush {brush}",
                    f"{b_med * 1000:.1f}",
                    f"{i_med * 1000:.1f}",
                    f"{ratio:.2f}x",
                    f"{np.median(per_step) * 1e6:.1f}",
                    f"{worst * 1000:.3f}",
                    f"{worst_any * 1000:.3f}",
                ]
            )
        handler = np.min(np.array([handler_steps(size, points, 40) for _ in range(3)]), axis=0)
        rows.append(
            [
                f"{size[0]}x{size[1]}, brush 40, whole move handler",
                "",
                f"{handler.sum() * 1000:.1f}",
                "",
                f"{np.median(handler) * 1e6:.1f}",
                f"{handler.max() * 1000:.3f}",
                "",
            ]
        )
    headers = ["stroke", "from scratch ms", "incremental ms", "ratio", "median step us", "max step ms", "max any run"]
    print(table(headers, rows))
    print()
    print("max step: each step's best of the runs; max any run: the slowest single step seen (scheduling noise)")
    print(
        f"mask: incremental total / from scratch (goal <= {TOTAL_GOAL}x) and max step (goal <= {STEP_GOAL_MS:g} ms) "
        f"{verdict(met)}"
    )
    return met


# ---------------------------------------------------------------------------- (b) the browser

LATENCY_JS = """async ({moves}) => {
  const canvas = document.querySelector('canvas.dalle-nb-mask-canvas');
  const ctx = canvas.getContext('2d');
  const W = canvas.width, H = canvas.height;
  const points = [];  // rows of 20: every move ends on pixels no earlier segment touched
  for (let i = 0; i < moves; i++) {
    points.push([(60 + (i % 20) * 45) * W / 1024, (80 + Math.floor(i / 20) * 90) * H / 1024]);
  }
  const fire = (type, x, y) => {
    const b = canvas.getBoundingClientRect();
    const [clientX, clientY] = [b.left + x * b.width / W, b.top + y * b.height / H];
    canvas.dispatchEvent(new MouseEvent(type, {clientX, clientY, bubbles: true}));
  };
  const pixel = (x, y) => ctx.getImageData(Math.round(x), Math.round(y), 1, 1).data.join(',');
  const sleep = (ms) => new Promise(r => setTimeout(r, ms));
  fire('mousedown', 20 * W / 1024, 20 * H / 1024);
  await sleep(500);
  const before = points.map(([x, y]) => pixel(x, y));
  const latencies = new Array(points.length).fill(null);
  let current = -1, t0 = 0, seen = null;
  const original = ctx.drawImage;
  ctx.drawImage = function (...args) {  // the view receiving a new frame: what the user will see
    original.apply(this, args);
    if (current >= 0 && latencies[current] === null && pixel(...points[current]) !== before[current]) {
      latencies[current] = performance.now() - t0;
      if (seen) seen();
    }
  };
  try {
    for (let i = 0; i < points.length; i++) {
      const shown = new Promise(r => { seen = r; });
      current = i; t0 = performance.now();
      fire('mousemove', ...points[i]);
      await Promise.race([shown, sleep(3000)]);
    }
  } finally {
    ctx.drawImage = original;
    fire('mouseup', ...points[points.length - 1]);
  }
  return latencies;
}"""

ECHO_JS = """async ({moves}) => {
  const canvas = document.querySelector('canvas.dalle-nb-echo');
  const b = canvas.getBoundingClientRect();
  const sleep = (ms) => new Promise(r => setTimeout(r, ms));
  const times = [];
  for (let i = 0; i < moves; i++) {
    const echoed = new Promise(r => { window.__echo = r; });
    const t0 = performance.now();
    const [clientX, clientY] = [b.left + 5 + i % 50, b.top + 5];
    canvas.dispatchEvent(new MouseEvent('mousemove', {clientX, clientY, bubbles: true}));
    const ok = await Promise.race([echoed.then(() => true), sleep(3000).then(() => false)]);
    times.push(ok ? performance.now() - t0 : null);
  }
  return times;
}"""

#: Resolves window.__echo when a websocket frame mentioning the echo arrives (the init script
#: sees every frame the page receives, before JupyterLab parses it).
ECHO_HOOK = """(() => {
  const Original = window.WebSocket;
  window.WebSocket = class extends Original {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (event) => {
        const data = event.data;
        const text = typeof data === 'string' ? data : new TextDecoder().decode(new Uint8Array(data));
        if (window.__echo && text.includes('dalle-nb-echo')) {
          const done = window.__echo;
          window.__echo = null;
          done();
        }
      });
    }
  };
})()"""

NODELAY_CONFIG = """c.ServerApp.jpserver_extensions = {"dalle_nb.nodelay": True}  # TCP_NODELAY on kernel websockets
"""

SETUP = """\
import numpy as np
from PIL import Image
from ipycanvas import Canvas
from dalle_nb import MaskEditor
x = np.linspace(0, 255, 1024, dtype=np.uint8)[None, :].repeat(1024, 0)
picture = Image.fromarray(np.stack([x, x.T, np.full_like(x, 90)], axis=2))
editor = MaskEditor(picture, brush_size=20)
echo = Canvas(width=100, height=40)
echo.add_class('dalle-nb-echo')
echo.on_mouse_move(lambda x, y: echo.send({'echo': 'dalle-nb-echo'}))
display(echo, editor)
print('BENCH_READY')
"""


@contextlib.contextmanager
def lab_page(nodelay: bool) -> Iterator[Any]:
    import nbformat
    from playwright.sync_api import sync_playwright

    from tests.browser import _lab

    with tempfile.TemporaryDirectory(prefix="dalle-nb-bench-") as scratch:
        root = Path(scratch)
        notebook = nbformat.v4.new_notebook()
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        notebook.cells = [nbformat.v4.new_code_cell("")]
        nbformat.write(notebook, root / "bench.ipynb")
        original = _lab.isolated_env

        def env(base: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
            made = original(base, extra)
            if nodelay:
                (Path(made["JUPYTER_CONFIG_DIR"]) / "jupyter_server_config.py").write_text(NODELAY_CONFIG)
            return made

        _lab.isolated_env = env
        try:
            with _lab.lab_server(root) as lab, sync_playwright() as playwright, _lab.chromium(playwright) as context:
                page = context.new_page()
                page.add_init_script(ECHO_HOOK)
                _lab.open_notebook(page, lab.url("lab/tree/bench.ipynb"))
                _lab.run_cell(page, 0, SETUP, "BENCH_READY")
                page.locator("canvas.dalle-nb-mask-canvas").first.scroll_into_view_if_needed()
                time.sleep(1.0)
                yield page
        finally:
            _lab.isolated_env = original


def summary(values: list[float | None]) -> tuple[float, float, int]:
    got = [v for v in values if v is not None]
    return statistics.median(got), statistics.quantiles(got, n=10)[8], len(values) - len(got)


def part_b() -> bool:
    print()
    print(f"(b) Mouse move -> its segment in the visible canvas, 1024x1024 picture, JupyterLab, {MOVES} moves")
    print()
    rows, results = [], {}
    for nodelay in (False, True):
        with lab_page(nodelay) as page:
            echo = summary(page.evaluate(ECHO_JS, {"moves": MOVES}))
            paint = summary(page.evaluate(LATENCY_JS, {"moves": MOVES}))
        server = "TCP_NODELAY on kernel websockets" if nodelay else "stock Jupyter Server"
        results[nodelay] = paint
        rows.append([f"{server}: trivial ipycanvas echo (floor)", f"{echo[0]:.1f}", f"{echo[1]:.1f}", str(echo[2])])
        rows.append([f"{server}: MaskEditor segment on screen", f"{paint[0]:.1f}", f"{paint[1]:.1f}", str(paint[2])])
    print(table(["", "median ms", "p90 ms", "lost"], rows))
    print()
    stock = results[False]
    goal = f"(goal <= {LATENCY_GOAL_MS:.0f} ms)"
    print(f"browser latency, stock server: p90 {stock[1]:.1f} ms {goal} {verdict(stock[1] <= LATENCY_GOAL_MS)}")
    fast = results[True]
    print(f"(info) with TCP_NODELAY: p90 {fast[1]:.1f} ms {verdict(fast[1] <= LATENCY_GOAL_MS)}")
    return stock[1] <= LATENCY_GOAL_MS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-browser", action="store_true", help="run (a) only")
    args = parser.parse_args()
    part_a()
    if not args.no_browser:
        part_b()


if __name__ == "__main__":
    main()
