"""The small typed events a running job reports: a partial picture, a saved picture, a failed request, the end.

A job started with ``wait=False`` (``dn.generate(..., wait=False, on_event=...)``) reports
through these, on the asyncio loop given as ``loop=`` (a widget passes the kernel's) or on
the thread that waits for the result.  Match them by type::

    def on_event(event):
        match event:
            case dn.PartialImage(final=False): preview(event.to_pil())
            case dn.ImageSaved(image=image): grid.append(image)
            case dn.RequestFailed(failure=failure): status(str(failure))
            case dn.JobDone(result=result): status(f"{len(result)} pictures")
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

    from .results import Failure, GeneratedImage, ImageSet


def short_prompt(prompt: str, limit: int = 60) -> str:
    """``prompt`` as a repr shows it: cut to ``limit`` characters."""
    return prompt if len(prompt) <= limit else prompt[: limit - 3] + "..."


@dataclass(frozen=True, repr=False)
class PartialImage:
    """A picture on its way: ``partial_index`` counts up, ``final`` marks the finished one."""

    prompt: str
    index: int
    partial_index: int | None
    data: bytes
    label: str | None = None

    @property
    def final(self) -> bool:
        return self.partial_index is None

    def __repr__(self) -> str:
        """What it is and how big, never its bytes (a repr in a log or a traceback would hold the whole picture)."""
        stage = "final" if self.final else f"partial {self.partial_index}"
        label = f" ({self.label})" if self.label else ""
        return f"<PartialImage {short_prompt(self.prompt)!r}{label} #{self.index} {stage}, {len(self.data):,} bytes>"

    def to_pil(self) -> Image.Image:
        from PIL import Image as PILImage  # Pillow loads on first use, not at import

        with PILImage.open(io.BytesIO(self.data)) as image:
            image.load()
            return image.copy()


@dataclass(frozen=True)
class ImageSaved:
    """A finished picture, already on disk (or, if saving failed, held in memory with a failure beside it)."""

    image: GeneratedImage


@dataclass(frozen=True)
class RequestFailed:
    """One request of the job gave no picture; the others carry on."""

    failure: Failure


@dataclass(frozen=True)
class JobDone:
    """The job has ended: ``result`` holds every picture that arrived and every failure.

    ``result.cancelled`` is True when the job was cancelled (what had arrived is kept).
    """

    result: ImageSet


Event = PartialImage | ImageSaved | RequestFailed | JobDone
OnEvent = Callable[[Event], None]

__all__ = ["Event", "ImageSaved", "JobDone", "OnEvent", "PartialImage", "RequestFailed"]
