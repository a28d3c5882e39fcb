"""What a person sees of a picture, a set or a table: values in, HTML or plain text out.

One module, so the picture card the magics show, the one a ``GeneratedImage`` shows, and the
ones the widgets show are the same card, and a report table reads the same in a notebook and a
terminal.  Nothing here asks the gallery or the session: what a card needs (a parent's prompt)
is on the picture already.  HTML uses JupyterLab's theme variables (with fallbacks for other
front ends), so it reads in light and dark themes alike.
"""

from __future__ import annotations

import base64
import html
import io
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .request import VARIATION_PROMPT

if TYPE_CHECKING:
    from .events import PartialImage
    from .results import GeneratedImage, ImageSet

_ERROR = "var(--jp-error-color1, #d32f2f)"
#: The style of what is said beside the pictures (notices, dates, the activity line): quieter than they.
MUTED = "opacity:.7"


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
    if image.kind == "refine" and image.prompt:
        parent = image.parent_prompt  # an instruction means little without what it changed
        return f"{image.prompt} (refining '{short(parent)}')" if parent else image.prompt
    if image.prompt and not (image.kind == "vary" and image.prompt == VARIATION_PROMPT):
        return image.prompt
    parent = image.parent_prompt
    return f"variation of '{short(parent)}'" if parent else "variation"


def short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


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


#: Why a picture has no cost: none was recorded for it (kept before costs were, or collected without its usage).
_UNRECORDED = "no cost was recorded for this picture"


def cost_text(image: GeneratedImage) -> str:
    """What a picture cost, in a few characters: ``$0.0085``, or ``price unknown``."""
    return str(image.cost) if image.cost is not None and image.cost.known else "price unknown"


def cost_title(image: GeneratedImage) -> str:
    """The whole story of a picture's cost, for a tooltip: its parts and whose price it is, or why it is unknown."""
    cost = image.cost
    if cost is None:
        return _UNRECORDED
    if not cost.known:
        return cost.reason or "no known price"
    return f"{cost.breakdown()} · {cost.basis}" if cost.basis else cost.breakdown()


def cost_html(image: GeneratedImage, style: str = MUTED) -> str:
    """A card's cost line: the amount, with its parts and basis in a tooltip (class ``dalle-nb-cost``)."""
    return f"<div class='dalle-nb-cost' style='{style}' title='{esc(cost_title(image))}'>{esc(cost_text(image))}</div>"


def card_html(image: GeneratedImage, max_size: int) -> str:
    """One picture: a small WebP thumbnail (never the full picture), its label, prompt, revised prompt, model, cost."""
    label = f"<div class='dalle-nb-label'><b>{esc(image.label)}</b></div>" if image.label else ""
    text = esc(caption(image))
    prompt = f"<div class='dalle-nb-prompt'><span class='dalle-nb-key' style='opacity:.7'>prompt:</span> {text}</div>"
    revised = revised_html(image.revised_prompt) if image.revised_prompt else ""
    by = f" · revised by {esc(image.text_model)}" if image.text_model else ""
    when = (
        f"<div class='dalle-nb-when' style='{MUTED};white-space:nowrap'>{_when(image)}</div>" if image.created else ""
    )
    return (
        f"<figure class='dalle-nb-card' style='margin:4px;max-width:{max_size}px;font-size:12px'>"
        f"<img src='{data_uri(image.thumbnail_webp(max_size))}' alt='{text}' style='max-width:100%;border-radius:4px'/>"
        f"<figcaption>{label}{prompt}{revised}"
        f"<div class='dalle-nb-meta' style='{MUTED}'>{esc(image.model)} · {image.size}{by}</div>"
        f"{cost_html(image)}{when}"
        f"</figcaption></figure>"
    )


def image_text(image: GeneratedImage, indent: str = "") -> str:
    """A picture in plain text: the prompt, the revised prompt and the cost as labelled lines."""
    lines = [f"{indent}prompt:  {caption(image)}"]
    if image.revised_prompt:
        lines.append(f"{indent}revised: {image.revised_prompt}")
    lines.append(f"{indent}cost:    {cost_line(image)}")
    return "\n".join(lines)


def cost_line(image: GeneratedImage) -> str:
    """A picture's cost in plain text: the amount with its parts and basis, or why it is unknown."""
    if image.cost is None:
        return f"price unknown ({_UNRECORDED})"
    if not image.cost.known:
        return str(image.cost)
    return f"{image.cost.breakdown()} · {image.cost.basis}" if image.cost.basis else image.cost.breakdown()


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
        body = f"<div class='dalle-nb-set' style='{MUTED}'>{esc(repr(images))}</div>"
    problems = "".join(
        f"<div class='dalle-nb-failure' style='color:{_ERROR}'>✗ {esc(f)}</div>" for f in images.failures
    )
    notes = "".join(f"<div class='dalle-nb-notice' style='{MUTED}'>{esc(n)}</div>" for n in images.notices)
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


# ---------------------------------------------------------------------------- previews
def preview_webp(partial: PartialImage, longest: int) -> tuple[bytes, tuple[int, int]]:
    """A partial picture as a small WebP (a preview: low quality is fine) and the box its final card takes."""
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
        foot = f"<p style='{MUTED}'>{esc(self.footer)}</p>" if self.footer else ""
        return f"<p><b>{esc(self.title)}</b></p><table><tr>{head}</tr>{body}</table>{foot}"


__all__ = [
    "MUTED", "REVISED_SHOWN", "Grid", "Report", "caption", "card_html", "cost_html", "cost_line", "cost_text",
    "cost_title", "data_uri", "esc", "grid_html", "image_bundle",
    "image_text", "matrix_grid", "preview_box", "preview_webp", "revised_html", "set_bundle", "set_text", "short",
]  # fmt: skip
