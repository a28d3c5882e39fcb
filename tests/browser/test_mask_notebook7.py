"""The mask editor in Notebook 7 (served by the same Jupyter server as the Lab tests): it shows and paints."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from ._lab import Lab, open_notebook, run_cell
from ._painting import W, drag, gradient, overlay_colour, pixel, show_editor
from .conftest import SETUP, NotebookPage


@pytest.fixture(scope="module")
def notebook7(browser_context: Any, lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NotebookPage]:
    page = browser_context.new_page()
    open_notebook(page, lab.url("notebooks/notebook7.ipynb"))  # Notebook 7's own page, not Lab's
    assert page.locator("#main-panel, .jp-NotebookPanel").first.is_visible()
    assert "/notebooks/" in page.url
    run_cell(page, 0, SETUP, "SETUP_DONE")
    yield NotebookPage(page, lab, tmp_path_factory.mktemp("notebook7-out"))
    page.close()


def test_notebook7_shows_the_editor_and_a_drag_paints_the_mask(notebook7: NotebookPage) -> None:
    canvas, mouse = show_editor(notebook7)
    assert canvas.bounding_box()["width"] < W, "scaled to the page"
    drag(notebook7, mouse, (200, 500), (1300, 500))
    painted = notebook7.array("editor.mask_array")
    assert painted[500, 200:1301].all() and not painted[:450].any() and not painted[550:].any()
    notebook7.page.mouse.move(*mouse.at(700, 900))
    shot = notebook7.screenshot(canvas, "notebook7-canvas")
    assert np.abs(pixel(shot, mouse, 768, 500) - overlay_colour(gradient(768, 500))).max() < 16
    assert np.abs(pixel(shot, mouse, 768, 200) - gradient(768, 200)).max() < 16
    toolbar = notebook7.page.locator(".dalle-nb-mask-toolbar").first
    notebook7.screenshot(toolbar, "notebook7-toolbar")
    for name in ("brush", "eraser", "rect", "undo", "redo", "clear", "invert"):
        assert notebook7.page.locator(f"button.dalle-nb-mask-{name}").first.is_visible(), name
