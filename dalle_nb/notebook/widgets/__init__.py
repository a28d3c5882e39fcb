"""Notebook widgets: ``MaskEditor``, a painter for inpainting masks, and ``Studio``, a panel for the whole road.

Importing this package imports ipywidgets, ipycanvas, numpy and Pillow; ``import dalle_nb``
does not, and loads ``dalle_nb.MaskEditor`` and ``dalle_nb.Studio`` from here on first use.
"""

from __future__ import annotations

from .mask import MAX_CANVAS_SIDE, MaskEditor
from .mask_history import UNDO_LIMIT, Clear, Invert, Operation, Rectangle, Stroke
from .studio import Studio

__all__ = [
    "MAX_CANVAS_SIDE", "UNDO_LIMIT", "Clear", "Invert", "MaskEditor", "Operation", "Rectangle", "Stroke", "Studio",
]  # fmt: skip
