"""What the browser tests do to an editor: show it, move the real mouse in picture pixels, click, look."""

from __future__ import annotations

from typing import Any

import numpy as np
from playwright.sync_api import expect

from .conftest import NotebookPage

W, H = 1536, 1024
PINK = np.array([255, 0, 102])


def gradient(x: float, y: float) -> np.ndarray:
    """The colour of the test picture (``gradient`` in the setup cell) at picture pixel ``(x, y)``."""
    return np.array([round(x * 255 / (W - 1)), round(y * 255 / (H - 1)), 90])


class Mouse:
    """The real mouse, moved in picture pixels over a canvas scaled by CSS."""

    def __init__(self, page: Any, canvas: Any, width: int = W) -> None:
        self.page = page
        self.box = canvas.bounding_box()
        self.scale = self.box["width"] / width  # CSS pixels per picture pixel

    def at(self, x: float, y: float) -> tuple[float, float]:
        return (self.box["x"] + x * self.scale, self.box["y"] + y * self.scale)

    def drag(self, start: tuple[float, float], end: tuple[float, float], steps: int = 30, release: bool = True) -> None:
        self.page.mouse.move(*self.at(*start))
        self.page.mouse.down()
        self.page.mouse.move(*self.at(*end), steps=steps)
        if release:
            self.page.mouse.up()


def show_editor(notebook: NotebookPage, extra: str = "", brush: int = 30, views: int = 1) -> tuple[Any, Mouse]:
    canvas = notebook.show(
        f"picture = gradient({W}, {H})\neditor = MaskEditor(picture, brush_size={brush})\n{extra}\n"
        + "display(editor)\n" * views
    )
    return canvas, Mouse(notebook.page, canvas)


def click(notebook: NotebookPage, name: str, until: str) -> None:
    """Click a toolbar button and wait until the kernel shows its effect (``until``)."""
    button = notebook.page.locator(f".jp-Notebook .jp-Cell >> nth=1 >> button.dalle-nb-mask-{name}").first
    expect(button).to_be_enabled()
    button.click()
    notebook.wait_for(until)


def drag(notebook: NotebookPage, mouse: Mouse, start: tuple[float, float], end: tuple[float, float], **kw: Any) -> None:
    """A drag with the mouse, then wait until the kernel has the stroke as one more operation."""
    before = notebook.value("len(editor.operations)")
    mouse.drag(start, end, **kw)
    notebook.wait_for(f"len(editor.operations) == {before + 1}")


def overlay_colour(picture: np.ndarray, opacity: float = 0.5) -> np.ndarray:
    return picture * (1 - opacity) + PINK * opacity


def pixel(shot: np.ndarray, mouse: Mouse, x: float, y: float) -> np.ndarray:
    """The screenshot's colour at picture pixel ``(x, y)``: the mean of a 3x3 patch (JPEG, scaling)."""
    cx, cy = round(x * mouse.scale), round(y * mouse.scale)
    return np.asarray(shot[cy - 1 : cy + 2, cx - 1 : cx + 2].reshape(-1, 3).mean(axis=0))
