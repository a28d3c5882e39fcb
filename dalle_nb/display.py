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
    from .events import PartialImage
    from .results import GeneratedImage, ImageSet

#: Previews stay this size from the first partial picture to the final card, so nothing jumps.
PREVIEW_SIZE = 192
_ERROR = "var(--jp-error-color1, #d32f2f)"
_MUTED = "opacity:.7"


def esc(text: object) -> str:
    return html.escape(str(text))


# ---------------------------------------------------------------------------- pictures
def data_uri(webp: bytes) -> str:
    return "data:image/webp;base64," + base64.b64encode(webp).decode("ascii")


def caption(image: GeneratedImage) -> str:
    """What a picture shows under it: its prompt, or for a prompt-less variation what it varies."""
    if image.prompt:
        return image.prompt
    return "variation" + (f" of {image.parents[0]}" if image.parents else "")


def card_html(image: GeneratedImage, max_size: int) -> str:
    """One picture: a small WebP thumbnail (never the full picture), its label, prompt, revised prompt, model."""
    label = f"<div class='dalle-nb-label'><b>{esc(image.label)}</b></div>" if image.label else ""
    revised = (
        f"<div class='dalle-nb-revised' title='the prompt the model used'>↳ {esc(image.revised_prompt)}</div>"
        if image.revised_prompt
        else ""
    )
    text = esc(caption(image))
    return (
        f"<figure class='dalle-nb-card' style='margin:4px;max-width:{max_size}px;font-size:12px'>"
        f"<img src='{data_uri(image.thumbnail_webp(max_size))}' alt='{text}' style='max-width:100%;border-radius:4px'/>"
        f"<figcaption>{label}<div class='dalle-nb-prompt'>{text}</div>{revised}"
        f"<div class='dalle-nb-meta' style='{_MUTED}'>{esc(image.model)} · {image.size}</div>"
        f"</figcaption></figure>"
    )


def image_bundle(image: GeneratedImage, max_size: int) -> dict[str, Any]:
    return {"text/plain": repr(image), "text/html": f"<div style='display:flex'>{card_html(image, max_size)}</div>"}


def set_text(images: ImageSet) -> str:
    text = repr(images) + "".join(f"\n  ✗ {f}" for f in images.failures)
    return text + "".join(f"\n  note: {n}" for n in images.notices)


def set_bundle(images: ImageSet, max_size: int) -> dict[str, Any]:
    """A set of pictures: cards in request order, then a line per failure and per notice."""
    cards = "".join(card_html(image, max_size) for image in images)
    problems = "".join(
        f"<div class='dalle-nb-failure' style='color:{_ERROR}'>✗ {esc(f)}</div>" for f in images.failures
    )
    notes = "".join(f"<div class='dalle-nb-notice' style='{_MUTED}'>{esc(n)}</div>" for n in images.notices)
    body = f"<div class='dalle-nb-set' style='display:flex;flex-wrap:wrap'>{cards}</div>{problems}{notes}"
    return {"text/plain": set_text(images), "text/html": body}


# ---------------------------------------------------------------------------- progress
class Progress:
    """What a running job shows under its cell: a count, and partial pictures updating in place.

    It opens empty and is filled in by display updates; it ends empty again on ``close``, so
    a stored notebook (and a checker that ignores updates, such as nbval) sees the same as
    a live run.
    """

    def __init__(self, total: int) -> None:
        from IPython.display import HTML, display

        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self.previews: dict[tuple[str, int], str] = {}
        self.handle = display(HTML(""), display_id=True)
        self.refresh()

    def html(self) -> str:
        cards = "".join(self.previews.values())
        return (
            f"<div class='dalle-nb-progress' style='{_MUTED}'>dalle_nb: {self.done}/{self.total} picture(s)…</div>"
            f"<div style='display:flex;flex-wrap:wrap'>{cards}</div>"
        )

    def refresh(self) -> None:
        if self.handle is not None:
            from IPython.display import HTML

            self.handle.update(HTML(self.html()))

    def saved(self) -> None:
        self.done += 1
        self.refresh()

    def partial(self, partial: PartialImage) -> None:
        import io

        image = partial.to_pil()
        image.thumbnail((PREVIEW_SIZE, PREVIEW_SIZE))
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="WEBP", quality=60)
        stage = "final" if partial.final else f"partial {(partial.partial_index or 0) + 1}"
        text = esc((partial.label or partial.prompt)[:80])
        # a fixed box, so each new partial replaces the last without the output jumping
        self.previews[(partial.prompt, partial.index)] = (
            f"<figure style='margin:4px;font-size:11px;width:{PREVIEW_SIZE}px'>"
            f"<img src='{data_uri(buffer.getvalue())}' style='width:{PREVIEW_SIZE}px;height:{PREVIEW_SIZE}px;"
            f"object-fit:contain'/><figcaption>{text} — {stage}</figcaption></figure>"
        )
        self.refresh()

    def close(self) -> None:
        if self.handle is not None:
            from IPython.display import HTML

            self.handle.update(HTML(""))


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
    from .config import settings
    from .models import MODELS, choices

    current = settings()
    key = f"✅ set ({current.key_source})" if current.has_key else "❌ not set"
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
    """The current settings, where each came from, and the key only as set / not set."""
    from .config import settings

    rows = tuple(settings().table())
    return Report("dalle_nb settings (%config Dalle.<name> = ... to change)", ("setting", "value", "from"), rows)


__all__ = ["PREVIEW_SIZE", "Progress", "Report", "card_html", "config_report", "models_report", "set_bundle"]
