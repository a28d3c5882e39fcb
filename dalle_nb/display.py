"""Everything a person sees of dalle_nb in a notebook or a terminal: cards, grids, progress, report tables.

One module, so the picture card the magics show, the one a ``GeneratedImage`` shows, and the
ones the widgets show are the same card, and the model table ``%dalle models`` prints is the
one ``dalle-nb models`` prints.  HTML uses JupyterLab's theme variables (with fallbacks for
other front ends), so it reads in light and dark themes alike.
"""

from __future__ import annotations

import base64
import html
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core.events import PartialImage
    from .core.results import GeneratedImage, ImageSet
    from .runtime.session import JobHandle

_ERROR = "var(--jp-error-color1, #d32f2f)"
_MUTED = "opacity:.7"


def esc(text: object) -> str:
    return html.escape(str(text))


# ---------------------------------------------------------------------------- pictures
def data_uri(webp: bytes) -> str:
    return "data:image/webp;base64," + base64.b64encode(webp).decode("ascii")


def caption(image: GeneratedImage) -> str:
    """What a picture shows under it: its prompt, or for a variation, what it varies ("variation of 'a red fox…'").

    A variation's own prompt is empty (the legacy endpoint) or dalle_nb's stated one (through
    edit), the same long sentence on every card: the parent's prompt says more.
    """
    from .core.plan import VARIATION_PROMPT

    if image.kind == "refine" and image.prompt:
        parent = parent_prompt(image)  # an instruction means little without what it changed
        return f"{image.prompt} (refining '{short(parent)}')" if parent else image.prompt
    if image.prompt and not (image.kind == "vary" and image.prompt == VARIATION_PROMPT):
        return image.prompt
    parent = parent_prompt(image)
    return f"variation of '{short(parent)}'" if parent else "variation"


def short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def parent_prompt(image: GeneratedImage) -> str | None:
    """The prompt of the picture ``image`` was made from, read from the gallery (None when unknown)."""
    if not image.parents:
        return None
    from .core.errors import DalleError
    from .runtime.session import default_session

    try:
        record = default_session().gallery().get(image.parents[0])
    except (KeyError, DalleError):
        return None
    return record.prompt or None


def _when(image: GeneratedImage) -> str:
    """When a picture was made, in local time, to the second: history tells a rerun of the same prompt apart."""
    if not image.created:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(image.created))


#: A revised prompt longer than this shows its beginning; the whole sentence opens on a click.
REVISED_SHOWN = 90


def revised_html(revised: str) -> str:
    """The revised prompt as its own labelled line; a long one opens in full on demand."""
    label = "<span class='dalle-nb-key' style='opacity:.7'>revised:</span> "
    if len(revised) <= REVISED_SHOWN:
        return f"<div class='dalle-nb-revised' title='the prompt the model used'>{label}{esc(revised)}</div>"
    start = esc(revised[:REVISED_SHOWN].rsplit(" ", 1)[0]) + "…"
    return (
        f"<details class='dalle-nb-revised' title='the prompt the model used'><summary>{label}{start}</summary>"
        f"{esc(revised)}</details>"
    )


def card_html(image: GeneratedImage, max_size: int) -> str:
    """One picture: a small WebP thumbnail (never the full picture), its label, prompt, revised prompt, model."""
    label = f"<div class='dalle-nb-label'><b>{esc(image.label)}</b></div>" if image.label else ""
    text = esc(caption(image))
    prompt = f"<div class='dalle-nb-prompt'><span class='dalle-nb-key' style='opacity:.7'>prompt:</span> {text}</div>"
    revised = revised_html(image.revised_prompt) if image.revised_prompt else ""
    by = f" · revised by {esc(image.text_model)}" if image.text_model else ""
    when = (
        f"<div class='dalle-nb-when' style='{_MUTED};white-space:nowrap'>{_when(image)}</div>" if image.created else ""
    )
    return (
        f"<figure class='dalle-nb-card' style='margin:4px;max-width:{max_size}px;font-size:12px'>"
        f"<img src='{data_uri(image.thumbnail_webp(max_size))}' alt='{text}' style='max-width:100%;border-radius:4px'/>"
        f"<figcaption>{label}{prompt}{revised}"
        f"<div class='dalle-nb-meta' style='{_MUTED}'>{esc(image.model)} · {image.size}{by}</div>{when}"
        f"</figcaption></figure>"
    )


def image_text(image: GeneratedImage, indent: str = "") -> str:
    """A picture in plain text: the prompt and the revised prompt as two labelled lines."""
    lines = [f"{indent}prompt:  {caption(image)}"]
    if image.revised_prompt:
        lines.append(f"{indent}revised: {image.revised_prompt}")
    return "\n".join(lines)


def image_bundle(image: GeneratedImage, max_size: int) -> dict[str, Any]:
    text = f"{image!r}\n{image_text(image, '  ')}"
    return {"text/plain": text, "text/html": f"<div style='display:flex'>{card_html(image, max_size)}</div>"}


def set_text(images: ImageSet) -> str:
    """A set in plain text: a line for the set, then each picture's prompt and revised prompt, failures, notices."""
    text = repr(images)
    for number, image in enumerate(images, 1):
        label = f" [{image.label}]" if image.label else ""
        text += f"\n  {number}.{label} " + image_text(image, "     ").lstrip()
    text += "".join(f"\n  ✗ {f}" for f in images.failures)
    return text + "".join(f"\n  note: {n}" for n in images.notices)


def set_bundle(images: ImageSet, max_size: int) -> dict[str, Any]:
    """A set of pictures: cards in request order (a prompt matrix as its grid), then failures and notices."""
    grid = matrix_grid(images)
    if grid is not None:
        body = grid_html(grid, max_size)
    elif images.images:
        cards = "".join(card_html(image, max_size) for image in images)
        body = f"<div class='dalle-nb-set' style='display:flex;flex-wrap:wrap'>{cards}</div>"
    else:
        body = f"<div class='dalle-nb-set' style='{_MUTED}'>{esc(repr(images))}</div>"
    problems = "".join(
        f"<div class='dalle-nb-failure' style='color:{_ERROR}'>✗ {esc(f)}</div>" for f in images.failures
    )
    notes = "".join(f"<div class='dalle-nb-notice' style='{_MUTED}'>{esc(n)}</div>" for n in images.notices)
    return {"text/plain": set_text(images), "text/html": body + problems + notes}


@dataclass(frozen=True)
class Grid:
    """A prompt matrix laid out as the grid it is: one row per choice of its first field, one column per
    combination of the others (a single field makes one row)."""

    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: dict[tuple[str, str], list[GeneratedImage]]


def matrix_grid(images: ImageSet) -> Grid | None:
    """The grid of a prompt matrix's pictures, or None when they are not one (no labels, mixed shapes)."""
    if len(images) < 2 or not all(image.label for image in images):
        return None
    parts = [str(image.label).split(" · ") for image in images]
    if len({len(p) for p in parts}) != 1:
        return None
    rows: list[str] = []
    columns: list[str] = []
    cells: dict[tuple[str, str], list[GeneratedImage]] = {}
    for image, choice in zip(images, parts, strict=True):
        row, column = (choice[0], " · ".join(choice[1:])) if len(choice) > 1 else ("", choice[0])
        rows += [row] if row not in rows else []
        columns += [column] if column not in columns else []
        cells.setdefault((row, column), []).append(image)
    return Grid(tuple(rows), tuple(columns), cells)


def grid_html(grid: Grid, max_size: int) -> str:
    """An HTML table: column labels across the top, row labels down the side, the pictures in the cells."""
    head = "".join(f"<th style='text-align:center;padding:2px 6px'>{esc(c)}</th>" for c in grid.columns)
    corner = "<th></th>" if any(grid.rows) else ""
    body = ""
    for row in grid.rows:
        label = f"<th style='text-align:right;padding:2px 6px'>{esc(row)}</th>" if any(grid.rows) else ""
        cells = "".join(
            "<td style='vertical-align:top'><div style='display:flex'>"
            + "".join(card_html(image, max_size) for image in grid.cells.get((row, column), []))
            + "</div></td>"
            for column in grid.columns
        )
        body += f"<tr>{label}{cells}</tr>"
    return f"<table class='dalle-nb-set dalle-nb-grid'><tr>{corner}{head}</tr>{body}</table>"


# ---------------------------------------------------------------------------- progress
def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel whose front end shows HTML (a terminal IPython is not)."""
    import sys

    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or getattr(shell, "kernel", None) is None:
        return False
    return "text/html" in shell.display_formatter.active_types


class Progress:
    """What a running job shows under its cell, from the first moment: an activity line with the time
    it has taken, the pictures that arrived, and partial pictures updating in place.

    It opens empty and is filled in by display updates; it ends empty again on ``close``, so
    a stored notebook (and a checker that ignores updates, such as nbval) sees the same as
    a live run.  Previews are the size of the final cards, so nothing jumps when they arrive.
    """

    def __init__(self, total: int, model: str = "", size: int = 256) -> None:
        from IPython.display import display

        self.total = total
        self.model = model
        self.size = size
        self.done = 0
        self.started = time.monotonic()
        self.shown_at = 0.0
        self.previews: dict[tuple[str, int], str] = {}
        self._shown_html = ""
        # a raw bundle whose plain text is empty: a stored notebook keeps no "<HTML object>" line behind
        self.handle = display(_bundle(""), raw=True, display_id=True)
        self.refresh()

    def line(self) -> str:
        seconds = int(time.monotonic() - self.started)
        what = f"{self.total} picture{'s' if self.total != 1 else ''}" + (f" from {self.model}" if self.model else "")
        if self.done == 0:
            return f"dalle_nb: making {what} … {seconds} s"
        return f"dalle_nb: {self.done} of {what} … {seconds} s"

    def html(self) -> str:
        cards = "".join(self.previews.values())
        return (
            f"<div class='dalle-nb-progress' style='{_MUTED}'>{esc(self.line())}</div>"
            f"<div style='display:flex;flex-wrap:wrap'>{cards}</div>"
        )

    def refresh(self) -> None:
        if self.handle is not None:
            self.shown_at = time.monotonic()
            html = self.html()
            if html != self._shown_html:  # a poll that changed nothing sends nothing
                self._shown_html = html
                self.handle.update(_bundle(html), raw=True)

    def tick(self) -> None:
        """Called while waiting: the elapsed time moves on every second."""
        if time.monotonic() - self.shown_at >= 1.0:
            self.refresh()

    def on_event(self, event: object) -> None:
        from .core.events import ImageSaved, PartialImage

        if isinstance(event, ImageSaved):
            self.done += 1
            self.refresh()
        elif isinstance(event, PartialImage):
            self.partial(event)

    def partial(self, partial: PartialImage) -> None:
        webp, (width, height) = preview_webp(partial, self.size)
        stage = "final" if partial.final else f"partial {(partial.partial_index or 0) + 1}"
        text = esc((partial.label or partial.prompt)[:80])
        # the final card's box (its thumbnail's size), so each new partial and then the card take the
        # same place without the output jumping, for wide and tall pictures too
        self.previews[(partial.prompt, partial.index)] = (
            f"<figure class='dalle-nb-preview' style='margin:4px;font-size:11px;width:{width}px'>"
            f"<img src='{data_uri(webp)}' style='width:{width}px;height:{height}px;"
            f"object-fit:contain;border-radius:4px'/><figcaption>{text} — {stage}</figcaption></figure>"
        )
        self.refresh()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.update(_bundle(""), raw=True)


def preview_webp(partial: PartialImage, longest: int) -> tuple[bytes, tuple[int, int]]:
    """A partial picture as a small WebP (a preview: low quality is fine) and the box its final card takes."""
    import io

    image = partial.to_pil()
    box = preview_box(image.size, longest)
    image.thumbnail((longest, longest))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="WEBP", quality=60)
    return buffer.getvalue(), box


def preview_box(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """The box a picture of ``size`` takes as a card ``longest`` pixels on its long side (as its thumbnail)."""
    width, height = size
    scale = longest / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _bundle(html: str) -> dict[str, str]:
    return {"text/html": html, "text/plain": ""}


def wait_showing(handle: JobHandle, progress: Progress | None) -> ImageSet:
    """Wait for a job, moving its activity line on every second; Ctrl-C cancels it (see ``JobHandle``)."""
    import concurrent.futures

    while True:
        try:
            return handle.result(timeout=None if progress is None else 1.0)
        except concurrent.futures.TimeoutError:
            assert progress is not None
            progress.tick()


# ---------------------------------------------------------------------------- report tables
@dataclass(frozen=True)
class Report:
    """A table (``%dalle models``, ``config``; ``dalle-nb models``): plain text in a terminal, HTML in a notebook."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    footer: str = ""

    def __repr__(self) -> str:
        widths = [max(len(row[i]) for row in (self.header, *self.rows)) for i in range(len(self.header))]

        def line(cells: Sequence[str]) -> str:
            return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

        parts = [self.title, "", line(self.header), "  ".join("-" * w for w in widths), *map(line, self.rows)]
        return "\n".join(parts + ([""] + [self.footer] if self.footer else []))

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{esc(h)}</th>" for h in self.header)
        whole = "<td style='text-align:left;white-space:nowrap'>{}</td>"  # ids and numbers never break
        wraps = "<td style='text-align:left'>{}</td>"
        last = len(self.header) - 1
        body = "".join(
            "<tr>" + "".join((whole if i in (0, last) else wraps).format(esc(c)) for i, c in enumerate(row)) + "</tr>"
            for row in self.rows
        )
        foot = f"<p style='{_MUTED}'>{esc(self.footer)}</p>" if self.footer else ""
        return f"<p><b>{esc(self.title)}</b></p><table><tr>{head}</tr>{body}</table>{foot}"


def models_report() -> Report:
    """The capability table, with the active backend and whether a key is set."""
    from .core.capabilities import MODELS, choices
    from .runtime.config import settings

    current = settings()
    key = f"✓ set ({current.key_source})" if current.has_key else "✗ not set"
    backend = {"offline": "offline (bundled server, free)", "openai": "OpenAI"}.get(
        current.backend, f"{current.backend} ({current.base_url})"
    )
    rows = []
    for spec in MODELS.values():
        if spec.retired:
            status = f"retired {spec.retired_on}" + (f", use {spec.replacements[0]}" if spec.replacements else "")
        else:
            status = "default" if spec.id == current.model else "active"
        if spec.is_gpt:
            sizes = "auto, standard" + (", any WxH" if spec.arbitrary_size else "")
        else:
            sizes = " ".join(choices(spec.id, "generations", "size").allowed)
        endpoints = ", ".join(e[:3] for e in spec.endpoints)
        quality = choices(spec.id, "generations", "quality").allowed
        n = choices(spec.id, "generations", "n")
        rows.append((spec.id, status, endpoints, sizes, " ".join(quality), f"{n.low}-{n.high}"))
    return Report(
        f"backend: {backend}    API key: {key}",
        ("model", "status", "endpoints", "sizes", "quality", "n"),
        tuple(rows),
        "gen/edi/var = generations/edits/variations; standard = 1024x1024 1536x1024 1024x1536; "
        "any WxH = multiples of 16, aspect 1:3 to 3:1, up to 3840x2160",
    )


def config_report() -> Report:
    """The effective settings, where each came from, and the key only as set / not set.

    A setting left unset shows what is actually used: the model's default size and quality,
    the real gallery folder, the base URL requests go to (the offline server's, when offline).
    """
    from .core.capabilities import choices
    from .runtime.config import settings
    from .runtime.gallery import default_dir
    from .runtime.session import default_session

    current = settings()
    effective: dict[str, tuple[str, str]] = {}
    for name in ("size", "quality"):
        if getattr(current, name) is None:
            effective[name] = (str(choices(current.model, "generations", name).default), f"{current.model}'s default")
    if current.gallery_dir is None:
        effective["gallery_dir"] = (str(default_dir()), "default")
    if current.base_url is None:
        if current.backend == "offline":
            url = default_session().offline_url or "started on first use, on loopback"
            effective["base_url"] = (url, "offline server")
        else:
            effective["base_url"] = ("https://api.openai.com/v1", "default")
    if current.revise is None:
        effective["revise"] = (str(current.revises(current.model)), f"default for {current.backend}")
    rows = tuple(
        (name, *effective[name]) if name in effective else (name, value, source)
        for name, value, source in current.table()
    )
    return Report("dalle_nb settings (%config Dalle.<name> = ... to change)", ("setting", "value", "from"), rows)


def jobs_report(limit: int = 20) -> Report:
    """The background batches of this gallery, newest first: where they run, their state and counts."""
    from .background.batch import jobs

    rows = []
    for job in jobs(limit):
        record = job.record
        counts = record.counts
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(record.created))
        engine = "Batch API" if record.engine == "batch" else "gateway tasks"
        rows.append(
            (record.id, when, engine, record.state, f"{counts.get('completed', 0):,}/{job.requests:,}",
             f"{counts.get('failed', 0):,}", record.title)
        )  # fmt: skip
    return Report(
        "background jobs (collect one with dn.jobs()[i].collect())",
        ("job", "submitted", "on", "state", "done", "failed", "prompts"),
        tuple(rows),
    )


__all__ = [
    "Progress",
    "in_notebook",
    "wait_showing",
    "Report",
    "card_html",
    "config_report",
    "jobs_report",
    "models_report",
    "set_bundle",
]
