"""The mask editor in JupyterLab 4 and headless Chromium: what a user does with the mouse, and what they get.

Each test shows a fresh editor in the notebook's stage cell, drives the real mouse over the
canvas (scaled by CSS: the picture's pixels are not the screen's) and reads the result from
the kernel: ``editor.mask_array``, the operations, an edit on the offline backend.  Pixels on
screen are checked in screenshots of the canvas.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from playwright.sync_api import expect

from ._lab import command, wait_kernel_idle
from ._painting import H, Mouse, W, click, drag, gradient, overlay_colour, pixel, show_editor
from .conftest import NotebookPage


def test_a_brush_drag_on_a_scaled_non_square_picture_paints_the_path_at_full_resolution(
    notebook: NotebookPage,
) -> None:
    canvas, mouse = show_editor(notebook)
    box = canvas.bounding_box()
    assert box["width"] < 0.8 * W, "shown smaller than its pixels"
    assert box["width"] / box["height"] == pytest.approx(W / H, rel=0.01), "aspect kept"

    drag(notebook, mouse, (200, 700), (1300, 700), steps=40)
    painted = notebook.array("editor.mask_array")
    assert painted.shape == (H, W)
    assert painted[700, 200:1301].all(), "every pixel along the path"
    assert painted[690:711, 768].all() and not painted[680, 768] and not painted[720, 768], "30 px across"
    assert not painted[:600].any() and not painted[800:].any(), "nothing away from the path"
    assert notebook.value("len(editor.operations)") == 1


def test_the_eraser_takes_paint_away_along_its_path(notebook: NotebookPage) -> None:
    _canvas, mouse = show_editor(notebook, "editor.rectangle((100, 100, 1400, 900))")
    click(notebook, "eraser", until="editor.tool == 'eraser'")
    drag(notebook, mouse, (50, 500), (1500, 500))
    painted = notebook.array("editor.mask_array")
    assert not painted[500, 100:1400].any() and not painted[490:511, 700].any()
    assert painted[450, 100:1400].all() and painted[550, 100:1400].all(), "the rest stays painted"


def test_the_rectangle_tool_paints_the_dragged_box(notebook: NotebookPage) -> None:
    _canvas, mouse = show_editor(notebook)
    click(notebook, "rect", until="editor.tool == 'rectangle'")
    drag(notebook, mouse, (300, 200), (900, 600), steps=10)
    painted = notebook.array("editor.mask_array")
    rows, cols = np.nonzero(painted)
    tolerance = 1 / mouse.scale + 1  # a mouse position is a whole CSS pixel
    assert abs(rows.min() - 200) <= tolerance and abs(rows.max() - 599) <= tolerance
    assert abs(cols.min() - 300) <= tolerance and abs(cols.max() - 899) <= tolerance
    assert painted[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all(), "a filled box"


def test_undo_and_redo_buttons(notebook: NotebookPage) -> None:
    _canvas, mouse = show_editor(notebook)
    drag(notebook, mouse, (200, 300), (1300, 300))
    drag(notebook, mouse, (200, 700), (1300, 700))
    assert notebook.array("editor.mask_array")[[300, 700], 768].all()
    click(notebook, "undo", until="len(editor.operations) == 1")
    painted = notebook.array("editor.mask_array")
    assert painted[300, 768] and not painted[700, 768], "the second stroke is taken back"
    click(notebook, "undo", until="len(editor.operations) == 0")
    assert not notebook.array("editor.mask_array").any()
    expect(notebook.page.locator("button.dalle-nb-mask-undo").first).to_be_disabled()
    click(notebook, "redo", until="len(editor.operations) == 1")
    click(notebook, "redo", until="len(editor.operations) == 2")
    assert notebook.array("editor.mask_array")[[300, 700], 768].all()
    expect(notebook.page.locator("button.dalle-nb-mask-redo").first).to_be_disabled()


def test_invert_and_clear_buttons(notebook: NotebookPage) -> None:
    _canvas, _mouse = show_editor(notebook, "editor.rectangle((0, 0, 768, 1024))")
    click(notebook, "invert", until="len(editor.operations) == 2")
    painted = notebook.array("editor.mask_array")
    assert not painted[:, :768].any() and painted[:, 768:].all()
    click(notebook, "clear", until="len(editor.operations) == 3")
    assert notebook.value("editor.coverage") == 0
    click(notebook, "undo", until="len(editor.operations) == 2")
    assert notebook.value("editor.coverage") == 0.5


def test_a_drag_that_ends_outside_the_canvas_is_kept_and_reaches_the_edge(notebook: NotebookPage) -> None:
    _canvas, mouse = show_editor(notebook)
    mouse.drag((1000, 500), (1700, 500), steps=30, release=False)  # 1700 is past the right edge
    notebook.page.mouse.up()  # released outside: the canvas never hears it
    notebook.wait_for("len(editor.operations) == 1")  # ended by the mouse leaving the canvas
    painted = notebook.array("editor.mask_array")
    assert painted[500, 1000:].all(), "painted to the last column"
    notebook.page.mouse.move(*mouse.at(1400, 800))  # back over the canvas, no button pressed
    notebook.page.mouse.move(*mouse.at(600, 800), steps=10)
    assert not notebook.array("editor.mask_array")[800].any(), "a move without a pressed button paints nothing"
    assert notebook.value("len(editor.operations)") == 1


SCROLLED = """(canvas) => {
    let e = canvas.parentElement;
    while (e && !(e.scrollHeight > e.clientHeight && /(auto|scroll)/.test(getComputedStyle(e).overflowY))) {
        e = e.parentElement;
    }
    return e ? e.scrollTop : null;
}"""


def test_the_wheel_over_the_canvas_sizes_the_brush_and_the_page_scrolls_around_it(notebook: NotebookPage) -> None:
    canvas, mouse = show_editor(notebook, brush=30)
    notebook.page.mouse.move(*mouse.at(700, 500))
    top = canvas.evaluate(SCROLLED)
    notebook.page.mouse.wheel(0, -100)
    notebook.page.mouse.wheel(0, -100)
    notebook.wait_for("editor.brush_size > 40")
    readout = notebook.page.locator(".jp-Notebook .jp-Cell >> nth=1 >> .dalle-nb-mask-size .widget-readout").first
    expect(readout).to_have_text(str(notebook.value("editor.brush_size")))
    assert canvas.evaluate(SCROLLED) == top, "over the picture the wheel sizes the brush (ipycanvas stops scrolling)"
    status = notebook.page.locator(".jp-Notebook .jp-Cell >> nth=1 >> .dalle-nb-mask-status").first
    status.scroll_into_view_if_needed()
    top, box = canvas.evaluate(SCROLLED), status.bounding_box()
    assert top > 0, "there is page above to scroll back to"
    notebook.page.mouse.move(box["x"] + 5, box["y"] + box["height"] / 2)
    notebook.page.mouse.wheel(0, -200)  # beside the picture, the wheel scrolls the notebook
    notebook.page.wait_for_function(f"(c) => ({SCROLLED})(c) < {top}", arg=canvas.element_handle())


def test_the_canvas_shows_the_mask_over_the_picture(notebook: NotebookPage) -> None:
    canvas, mouse = show_editor(notebook)
    drag(notebook, mouse, (200, 700), (1300, 700))
    notebook.page.mouse.move(*mouse.at(768, 200))  # the brush outline away from what is checked
    shot = notebook.screenshot(canvas, "lab-canvas")
    for x in (300, 768, 1200):
        assert np.abs(pixel(shot, mouse, x, 700) - overlay_colour(gradient(x, 700))).max() < 16, x
        assert np.abs(pixel(shot, mouse, x, 900) - gradient(x, 900)).max() < 16, x


def test_a_page_reload_shows_the_strokes_again(notebook: NotebookPage) -> None:
    canvas, mouse = show_editor(notebook)
    drag(notebook, mouse, (200, 700), (1300, 700))
    notebook.execute("editor.rectangle((100, 100, 400, 300))")
    command(notebook.page, "docmanager:save")  # the page reloads the notebook from disk
    time.sleep(0.5)
    notebook.page.reload()
    wait_kernel_idle(notebook.page)
    canvas = notebook.page.locator("canvas.dalle-nb-mask-canvas").first
    canvas.wait_for(state="visible")
    canvas.scroll_into_view_if_needed()
    mouse = Mouse(notebook.page, canvas)
    deadline = time.monotonic() + 20
    while True:
        shot = notebook.screenshot(canvas, "lab-after-reload")
        stroke = pixel(shot, mouse, 768, 700)
        box = pixel(shot, mouse, 250, 200)
        if np.abs(stroke - overlay_colour(gradient(768, 700))).max() < 16 or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert np.abs(stroke - overlay_colour(gradient(768, 700))).max() < 16, f"stroke redrawn: {stroke}"
    assert np.abs(box - overlay_colour(gradient(250, 200))).max() < 16, f"rectangle redrawn: {box}"
    assert np.abs(pixel(shot, mouse, 768, 900) - gradient(768, 900)).max() < 16, "picture redrawn"
    drag(notebook, mouse, (200, 500), (1300, 500))  # and it still paints
    assert notebook.array("editor.mask_array")[500, 200:1301].all()


def test_the_same_editor_shown_twice_shows_the_strokes_in_both(notebook: NotebookPage) -> None:
    _first, mouse = show_editor(notebook, views=2)
    drag(notebook, mouse, (200, 700), (1300, 700))
    second = notebook.page.locator(".jp-Notebook .jp-Cell >> nth=1 >> canvas.dalle-nb-mask-canvas").nth(1)
    second.scroll_into_view_if_needed()
    other = Mouse(notebook.page, second)
    shot = notebook.screenshot(second, "lab-second-view")
    assert np.abs(pixel(shot, other, 768, 700) - overlay_colour(gradient(768, 700))).max() < 16


def test_edit_with_the_editor_as_mask_keeps_every_pixel_outside_it(notebook: NotebookPage) -> None:
    _canvas, mouse = show_editor(notebook)
    drag(notebook, mouse, (300, 400), (1200, 600))
    answer = notebook.value(
        """(lambda result, kept: {
            "size": list(result.size),
            "outside_same": bool((np.asarray(result)[kept] == np.asarray(picture)[kept]).all()),
            "inside_changed": float((np.asarray(result)[~kept] != np.asarray(picture)[~kept]).any(axis=-1).mean()),
            "coverage": editor.coverage,
        })(dn.edit(picture, "a bright orange sun", mask=editor)[0].to_pil().convert("RGB"), ~editor.mask_array)"""
    )
    assert answer["size"] == [W, H]
    assert answer["coverage"] > 0.01
    assert answer["outside_same"], "every pixel outside the mask is the original's"
    assert answer["inside_changed"] > 0.5, "and the painted part was edited"
    refused = notebook.execute(
        "try:\n    dn.edit(picture, 'x', mask=MaskEditor(picture))\nexcept dn.InvalidRequest as e:\n    print(e)"
    )
    assert (
        refused.strip()
        == "the mask editor has nothing painted: paint where the picture should change, then run this again"
    )


@pytest.mark.parametrize("theme", ["JupyterLab Light", "JupyterLab Dark"])
def test_the_toolbar_is_tidy_in_light_and_dark_themes(notebook: NotebookPage, theme: str) -> None:
    command(notebook.page, "apputils:change-theme", {"theme": theme})
    notebook.page.wait_for_function(
        "(dark) => document.body.dataset.jpThemeLight === (dark ? 'false' : 'true')", arg=theme.endswith("Dark")
    )
    try:
        _canvas, mouse = show_editor(notebook, "editor.rectangle((100, 100, 700, 500))")
        drag(notebook, mouse, (800, 700), (1300, 800))
        notebook.page.mouse.move(*mouse.at(1000, 300))
        editor = notebook.page.locator(".jp-Notebook .jp-Cell >> nth=1 >> .dalle-nb-mask-editor").first
        notebook.screenshot(editor, f"editor-{theme.split()[-1].lower()}")
        report = notebook.page.evaluate(
            """() => {
                const toolbar = document.querySelector('.dalle-nb-mask-toolbar');
                const buttons = [...toolbar.querySelectorAll('button')];
                return {
                    height: toolbar.getBoundingClientRect().height,
                    width: toolbar.getBoundingClientRect().width,
                    buttons: buttons.map(b => {
                        const icon = b.querySelector('i');
                        const r = icon && icon.getBoundingClientRect();
                        const before = icon && getComputedStyle(icon, '::before');
                        return {
                            cls: b.className, title: b.title, width: r ? r.width : 0, height: r ? r.height : 0,
                            glyph: before ? before.content : 'none', family: before ? before.fontFamily : '',
                            color: icon ? getComputedStyle(icon).color : '',
                            background: getComputedStyle(b).backgroundColor,
                        };
                    }),
                };
            }"""
        )
        assert len(report["buttons"]) == 8  # three tools, undo, redo, clear, invert, show mask
        for button in report["buttons"]:
            assert button["title"], f"a tooltip on {button['cls']}"
            assert button["glyph"] not in ("none", "normal", '""'), f"an icon glyph on {button['cls']}"
            assert "Awesome" in button["family"], f"the icon font is loaded for {button['cls']}"
            assert button["width"] > 6 and button["height"] > 6, f"the icon has a size on {button['cls']}"
            assert button["color"] != button["background"], f"the icon is visible on {button['cls']}"
        assert report["height"] < 80, "one row at this width (two at most when narrow)"
    finally:
        command(notebook.page, "apputils:change-theme", {"theme": "JupyterLab Light"})
