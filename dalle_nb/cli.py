"""The ``dalle-nb`` command: ``serve`` the offline API, ``demo`` the quickstart, ``models``, ``run-notebooks``."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dalle_nb

from .core.capabilities import PROFILES


def _serve(args: argparse.Namespace) -> int:
    from .offline import OfflineServer, ServerOptions  # starlette and uvicorn: only dalle-nb serve needs them

    try:
        options = ServerOptions.from_env(
            profile=args.profile,
            seed=args.seed,
            latency=args.latency,
            faults=",".join(args.fault) if args.fault else None,
            api_key=args.api_key,
            url_ttl=args.url_ttl,
            read_timeout=args.read_timeout,
            batch_seconds=args.batch_seconds,
            batch_window=args.batch_window,
        )
    except ValueError as exc:
        print(f"dalle-nb serve: {exc}", file=sys.stderr)
        return 2
    server = OfflineServer(options, host=args.host, port=args.port)
    faults = ", ".join(f"{f.kind}:{f.rate:g}" for f in options.faults) or "none"
    key_hint = "<the key>" if args.api_key else "offline"

    def announce() -> None:  # only once the socket takes connections, so a script may use the URL at once
        print(f"dalle_nb offline Images API on {server.base_url}  (profile={options.profile}, faults={faults})")
        print(f"Use it:  export OPENAI_BASE_URL={server.base_url}  OPENAI_API_KEY={key_hint}")
        sys.stdout.flush()

    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever(on_ready=announce)
    return 0


def _notebooks_dir() -> Path:
    for candidate in (Path(__file__).resolve().parents[1] / "notebooks", Path.cwd() / "notebooks"):
        if candidate.is_dir():
            return candidate
    raise SystemExit("dalle-nb: no notebooks/ folder found; run this from a checkout of dalle_nb.")


def execute_notebook(source: Path, target: Path, *, gallery: Path, timeout: int = 600, progress: bool = False) -> None:
    """Run ``source`` top to bottom on the offline backend and write it, with outputs, to ``target``.

    With ``progress``, each section's heading is printed as the run reaches it.  The kernel
    talks over local IPC sockets, not TCP, so it has no transport warning to print.
    """
    import nbclient  # a kernel only for run-notebooks
    import nbformat
    from jupyter_client.manager import KernelManager

    notebook = nbformat.read(source, as_version=4)  # type: ignore[no-untyped-call]
    saved = {name: os.environ.get(name) for name in ("DALLE_NB_OFFLINE", "DALLE_NB_GALLERY_DIR")}
    os.environ.update(DALLE_NB_OFFLINE="1", DALLE_NB_GALLERY_DIR=str(gallery))
    sections: list[str | None] = []  # per cell, the last heading above it: found once, not at every cell
    above: str | None = None
    for cell in notebook.cells:
        sections.append(above)
        above = _heading(cell) or above

    def started(cell_index: int, **_: Any) -> None:
        section = sections[cell_index]
        if section and section != state["section"]:
            state["section"] = section
            print(f"  ... {section}", flush=True)

    state: dict[str, str | None] = {"section": None}
    with tempfile.TemporaryDirectory(prefix="dalle-nb-kernel-") as runtime:
        manager = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(runtime) / "kernel"))
        try:
            client = nbclient.NotebookClient(
                notebook, km=manager, timeout=timeout, kernel_name="python3",
                resources={"metadata": {"path": str(source.parent)}},
                on_cell_start=started if progress else None,
                # widgets are for a live kernel: their state (a canvas's pixels) would only bloat the file
                store_widget_state=False,
            )  # fmt: skip
            client.execute()
        finally:
            if manager.has_kernel:
                manager.shutdown_kernel(now=True)  # ours to stop: nbclient leaves a kernel it was given running
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)  # type: ignore[no-untyped-call]


def _heading(cell: Any) -> str | None:
    """A markdown cell's first heading ("## Generate" -> "Generate"), or None."""
    if cell.cell_type != "markdown":
        return None
    for line in cell.source.splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip() or None
    return None


def _demo(args: argparse.Namespace) -> int:
    out = Path(args.out).resolve()
    gallery = out / "gallery"
    source = _notebooks_dir() / "01_quickstart.ipynb"
    target = out / source.name
    started = time.time()
    print(f"Running {source.name} on the offline backend (no key, no network):", flush=True)
    execute_notebook(source, target, gallery=gallery, progress=True)
    print("Drawing the contact sheet ...", flush=True)
    sheet = _contact_sheet(out, gallery)
    # only what this run made: an earlier demo's pictures stay in the folder, but are not news
    pictures = sorted(
        p
        for p in (gallery / "images").rglob("*")  # not thumbs/: previews of these pictures, not pictures
        if p.suffix in (".png", ".webp", ".jpeg", ".jpg") and p.stat().st_mtime >= started
    )
    print()
    print(f"Executed notebook: {target}")
    print(f"Pictures made now ({len(pictures)}): {gallery / 'images'}")
    for picture in pictures[:5]:
        print(f"  {picture}")
    if len(pictures) > 5:
        print(f"  ... and {len(pictures) - 5} more")
    print(f"Contact sheet of a dozen prompts: {sheet}")
    print("Open the tutorials in JupyterLab with: make lab")
    return 0


#: What the demo's contact sheet shows: a dozen prompts a class would try first.
CONTACT_PROMPTS = (
    "a red fox sitting in the snow",
    "three cats on a sofa in a living room",
    "a lighthouse on a cliff at sunset",
    "a blue dog on the beach",
    "a city at night in pixel art",
    "a sign that says 'hello' in a forest",
    "a yellow submarine under the sea",
    "two owls in a tree at night",
    "a watercolor of mountains and a lake",
    "a small boat on a stormy sea",
    "an astronaut and a rocket in space",
    "a pencil sketch of a bicycle",
)


def _contact_sheet(out: Path, gallery: Path) -> Path:
    """A dozen prompts and their offline pictures on one PNG: what the offline backend draws, at a glance."""
    from PIL import Image, ImageDraw  # Pillow loads on first use, not at import

    dalle_nb.configure(offline=True, gallery_dir=gallery)
    images = dalle_nb.generate(list(CONTACT_PROMPTS), size="1024x1024", revise=False)
    cell, pad, caption = 320, 16, 44
    columns = 4
    rows = -(-len(images) // columns)
    sheet = Image.new("RGB", (columns * (cell + pad) + pad, rows * (cell + caption + pad) + pad), (250, 250, 248))
    draw = ImageDraw.Draw(sheet)
    for number, image in enumerate(images):
        x = pad + (number % columns) * (cell + pad)
        y = pad + (number // columns) * (cell + caption + pad)
        sheet.paste(image.thumbnail(cell).convert("RGB"), (x, y))
        words, lines = image.prompt.split(), [""]
        for word in words:  # wrap the prompt to the picture's width, two lines at most
            trial = f"{lines[-1]} {word}".strip()
            if draw.textlength(trial, font_size=14) <= cell or not lines[-1]:
                lines[-1] = trial
            elif len(lines) < 2:
                lines.append(word)
            else:
                lines[-1] = lines[-1].rstrip(".") + "…"
                break
        draw.multiline_text((x, y + cell + 4), "\n".join(lines), fill=(40, 40, 40), font_size=14, spacing=3)
    target = out / "contact_sheet.png"
    sheet.save(target)
    return target


def _run_notebooks(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as gallery:
        for name in args.paths:
            path = Path(name)
            print(f"executing {path} in place", flush=True)
            execute_notebook(path, path, gallery=Path(gallery))
    return 0


def _models(args: argparse.Namespace) -> int:
    from .notebook.reports import models_report  # the session and the batch store load for this command only

    print(repr(models_report()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dalle-nb", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser(
        "serve",
        help="run the offline OpenAI-compatible Images API server",
        description="Run the offline OpenAI-compatible Images API server: deterministic pictures of the prompt's "
        "scene, drawn locally, with no key and no network.",
        epilog="The pictures' subjects are OpenMoji pictograms (https://openmoji.org), the open-source emoji "
        "project, licensed CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/).",
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback only)")
    serve.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    serve.add_argument(
        "--profile",
        choices=PROFILES,
        default=None,
        help="compat: also serve retired models and variations (default); openai: answer as OpenAI does",
    )
    serve.add_argument("--seed", type=int, default=None, help="changes every picture, deterministically")
    serve.add_argument("--latency", type=float, default=None, metavar="SECONDS", help="added to each image request")
    serve.add_argument(
        "--fault",
        action="append",
        metavar="KIND:RATE",
        help="inject failures: 429, 500, 503, timeout, reset, drop, garbage, nofinal (repeatable)",
    )
    serve.add_argument("--api-key", default=None, help="require this bearer key")
    serve.add_argument(
        "--url-ttl", type=float, default=None, metavar="SECONDS", help="how long legacy image URLs live (default 3600)"
    )
    serve.add_argument(
        "--read-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="answer 408 when a request body stops arriving for this long (default 30)",
    )
    serve.add_argument(
        "--batch-seconds",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long a batch (/v1/batches) takes from validating to completed (default 10)",
    )
    serve.add_argument(
        "--batch-window",
        type=float,
        default=None,
        metavar="SECONDS",
        help="a batch's completion window; one not done by then expires (default 86400, OpenAI's 24h)",
    )
    serve.set_defaults(func=_serve)

    demo = sub.add_parser("demo", help="run the quickstart notebook offline and say where the pictures are")
    demo.add_argument("--out", default="demo-output", help="folder for the executed notebook and the pictures")
    demo.set_defaults(func=_demo)

    run_nb = sub.add_parser("run-notebooks", help="re-execute notebooks in place on the offline backend (maintainers)")
    run_nb.add_argument("paths", nargs="+")
    run_nb.set_defaults(func=_run_notebooks)

    models = sub.add_parser("models", help="print the model capability table")
    models.set_defaults(func=_models)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
