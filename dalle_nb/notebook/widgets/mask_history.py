"""The mask as a list of painting operations, rasterized with Pillow at the picture's resolution.

This is the part of the mask editor that knows nothing about widgets: the canvas shows what
these operations drew, but the mask itself is this raster, so it never depends on the display
size, the browser zoom or reading pixels back from a browser.  Undo keeps operations, not
bitmaps (a stroke is a few kilobytes of points; a 1536x1024 bitmap is 1.5 MB), and replays
them onto the raster the editor started from.

The raster is an "L" image: 255 where the picture should change, 0 where it is kept.
Every operation is drawn by the same functions whether it arrives point by point from the
mouse or whole from code, so undo followed by redo gives back exactly the same pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import ImageChops, ImageDraw

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["UNDO_LIMIT", "Clear", "Invert", "MaskHistory", "Operation", "Rectangle", "Stroke"]

#: How many operations undo can take back.  Older ones are drawn into the starting raster,
#: so a long session neither grows without bound nor makes undo slower and slower
#: (InvokeAI #2289: lag that grew with the undo history).
UNDO_LIMIT = 100

Point = tuple[float, float]
EDIT, KEEP = 255, 0
#: Pillow fills every pixel its outline touches (an ellipse covers both corners of its box), so
#: shapes are drawn half a pixel in from the exact outline: a stroke ``size`` wide then covers
#: ``size`` pixels, and its round ends line up with its body.
_INSET = 0.5


@dataclass(frozen=True)
class Stroke:
    """A brush (or, with ``erase``, eraser) stroke: round ends and joins, ``size`` pixels across."""

    points: tuple[Point, ...]
    size: float
    erase: bool = False


@dataclass(frozen=True)
class Rectangle:
    """A filled rectangle ``(x0, y0, x1, y1)``, half-open like ``mask[y0:y1, x0:x1]``."""

    box: tuple[int, int, int, int]
    erase: bool = False


@dataclass(frozen=True)
class Clear:
    """Nothing painted any more (undoable, unlike starting over)."""


@dataclass(frozen=True)
class Invert:
    """What was painted is kept and the rest is painted."""


Operation = Stroke | Rectangle | Clear | Invert


def _dot(draw: ImageDraw.ImageDraw, point: Point, size: float, fill: int) -> None:
    x, y = point
    r = size / 2 - _INSET
    draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)


def _segment(draw: ImageDraw.ImageDraw, start: Point, end: Point, size: float, fill: int) -> None:
    """The straight body of a stroke between two points, then a round end at ``end``.

    The round ends make the joins, so a stroke has no notches at its corners.  The body is
    the band's own polygon rather than Pillow's wide ``line``, whose even widths round to the
    other side than its discs do and left a one-pixel bump at every point along the edge.
    Per segment this is several times cheaper than a ``joint="curve"`` polyline, which draws
    a pie slice at every joint.
    """
    (x0, y0), (x1, y1) = start, end
    length = math.hypot(x1 - x0, y1 - y0)
    r = size / 2 - _INSET
    if length > 0 and r > 0:
        nx, ny = -(y1 - y0) / length * r, (x1 - x0) / length * r
        draw.polygon([(x0 + nx, y0 + ny), (x1 + nx, y1 + ny), (x1 - nx, y1 - ny), (x0 - nx, y0 - ny)], fill=fill)
    _dot(draw, end, size, fill)


def _normalized_box(box: Sequence[float]) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (round(float(v)) for v in box)
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


class MaskHistory:
    """The raster and the operations that made it, with undo and redo.

    ``start`` is the raster before any operation (an empty mask, or one the user carries on
    from); it is never modified.  A stroke in progress (``begin_stroke`` ... ``end_stroke``)
    is drawn onto the raster point by point and becomes one operation when it ends.
    """

    def __init__(self, start: Image.Image, *, limit: int = UNDO_LIMIT) -> None:
        if start.mode != "L":
            raise ValueError(f"the starting raster must be an L image, not {start.mode}")
        if limit < 1:
            raise ValueError("the undo limit must be at least 1")
        self._base = start.copy()
        self.limit = limit
        self.raster = start.copy()
        self._draw = self._drawer(self.raster)
        self._done: list[Operation] = []
        self._undone: list[Operation] = []
        self._live: list[Point] | None = None
        self._live_size = 0.0
        self._live_erase = False

    @staticmethod
    def _drawer(image: Image.Image) -> ImageDraw.ImageDraw:
        return ImageDraw.Draw(image)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the raster: the picture's own size."""
        return self.raster.size

    @property
    def operations(self) -> tuple[Operation, ...]:
        """The operations undo can take back, oldest first."""
        return tuple(self._done)

    @property
    def can_undo(self) -> bool:
        return bool(self._done) or self._live is not None

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    @property
    def stroking(self) -> bool:
        """Whether a stroke is in progress."""
        return self._live is not None

    @property
    def stroke_size(self) -> float:
        """The diameter of the stroke in progress (it keeps the size it started with)."""
        return self._live_size

    @property
    def stroke_erases(self) -> bool:
        """Whether the stroke in progress erases."""
        return self._live_erase

    # ------------------------------------------------------------------ a stroke, point by point

    def begin_stroke(self, point: Point, size: float, *, erase: bool = False) -> None:
        """Start a stroke at ``point`` (a dot is drawn at once); ends a stroke still in progress."""
        self.end_stroke()
        if not size > 0:
            raise ValueError(f"the brush size must be > 0, not {size!r}")
        self._live, self._live_size, self._live_erase = [point], float(size), erase
        _dot(self._draw, point, size, KEEP if erase else EDIT)

    def extend_stroke(self, point: Point) -> Point | None:
        """Draw the segment from the stroke's last point to ``point``; returns that last point.

        Returns ``None`` (and draws nothing) when no stroke is in progress, or when ``point``
        is the last point again (browsers repeat a position, for instance on mouse up).
        """
        if self._live is None:
            return None
        last = self._live[-1]
        if point == last:
            return None
        self._live.append(point)
        _segment(self._draw, last, point, self._live_size, KEEP if self._live_erase else EDIT)
        return last

    def end_stroke(self) -> Stroke | None:
        """Finish the stroke in progress as one operation (what undo takes back); None if none."""
        if self._live is None:
            return None
        stroke = Stroke(tuple(self._live), self._live_size, self._live_erase)
        self._live = None
        self._record(stroke)
        return stroke

    # ------------------------------------------------------------------ whole operations

    def apply(self, operation: Operation) -> Operation:
        """Draw a whole operation and record it (a normalized ``Rectangle`` box is what is kept)."""
        self.end_stroke()
        if isinstance(operation, Rectangle):
            operation = Rectangle(_normalized_box(operation.box), operation.erase)
        elif isinstance(operation, Stroke):
            if not operation.points:
                raise ValueError("a stroke needs at least one point")
            if not operation.size > 0:
                raise ValueError(f"the brush size must be > 0, not {operation.size!r}")
            operation = Stroke(
                tuple((float(x), float(y)) for x, y in operation.points), operation.size, operation.erase
            )
        self._paint(self._draw, self.raster, operation)
        self._record(operation)
        return operation

    def undo(self) -> bool:
        """Take back the last operation (a stroke in progress counts); False if there is none."""
        self.end_stroke()
        if not self._done:
            return False
        self._undone.append(self._done.pop())
        self.raster = self._base.copy()
        self._draw = self._drawer(self.raster)
        for operation in self._done:
            self._paint(self._draw, self.raster, operation)
        return True

    def redo(self) -> bool:
        """Do again the operation undo took back last; False if there is none."""
        self.end_stroke()
        if not self._undone:
            return False
        operation = self._undone.pop()
        self._paint(self._draw, self.raster, operation)
        self._done.append(operation)
        return True

    def _record(self, operation: Operation) -> None:
        self._done.append(operation)
        self._undone.clear()
        while len(self._done) > self.limit:
            oldest = self._done.pop(0)
            self._paint(self._drawer(self._base), self._base, oldest)

    @staticmethod
    def _paint(draw: ImageDraw.ImageDraw, raster: Image.Image, operation: Operation) -> None:
        if isinstance(operation, Stroke):
            fill = KEEP if operation.erase else EDIT
            points = operation.points
            _dot(draw, points[0], operation.size, fill)
            for start, end in zip(points, points[1:], strict=False):
                if start != end:
                    _segment(draw, start, end, operation.size, fill)
        elif isinstance(operation, Rectangle):
            x0, y0, x1, y1 = operation.box
            if x1 > x0 and y1 > y0:
                draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=KEEP if operation.erase else EDIT)
        elif isinstance(operation, Clear):
            raster.paste(KEEP, (0, 0, *raster.size))
        elif isinstance(operation, Invert):
            raster.paste(ImageChops.invert(raster))
        else:  # pragma: no cover - the union above is closed
            raise TypeError(f"not a mask operation: {operation!r}")
