"""Live progress under a notebook cell: the activity line a waiting call shows, with its partial pictures.

The blocking calls (``api``, and through it the magics) and background jobs (``background.batch``)
show the same line, from the first moment: what is being made, for how long, what arrived.
"""

from __future__ import annotations

import concurrent.futures
import sys
import time
from typing import TYPE_CHECKING

from ..core.events import ImageSaved, PartialImage
from ..core.formatting import MUTED, data_uri, esc, preview_webp

if TYPE_CHECKING:
    from ..core.results import ImageSet
    from .session import JobHandle


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel whose front end shows HTML (a terminal IPython is not)."""
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
        from IPython.display import display  # only where a line is shown: a script never loads IPython's display

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
            f"<div class='dalle-nb-progress' style='{MUTED}'>{esc(self.line())}</div>"
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


def _bundle(html: str) -> dict[str, str]:
    return {"text/html": html, "text/plain": ""}


def wait_showing(handle: JobHandle, progress: Progress | None) -> ImageSet:
    """Wait for a job, moving its activity line on every second; Ctrl-C cancels it (see ``JobHandle``)."""
    while True:
        try:
            return handle.result(timeout=None if progress is None else 1.0)
        except concurrent.futures.TimeoutError:
            assert progress is not None
            progress.tick()


__all__ = ["Progress", "in_notebook", "wait_showing"]
