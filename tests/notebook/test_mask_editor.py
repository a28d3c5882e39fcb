"""The mask editor without a browser: operations, undo, the raster at full resolution, events as ipycanvas sends them.

Mouse and touch events are fed through the canvas's own comm handler, with the payloads the
ipycanvas frontend sends; what the editor draws is read from the messages it would send to
the browser.  The real browser is in ``tests/browser``.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ipycanvas import Canvas
from ipycanvas.canvas import _CANVAS_MANAGER, COMMANDS
from PIL import Image

from dalle_nb import MaskEditor
from dalle_nb.core.errors import InvalidRequest
from dalle_nb.core.imaging import EMPTY_EDITOR, MaskSource, keep_unmasked, prepare_mask
from dalle_nb.notebook.widgets import MAX_CANVAS_SIDE, UNDO_LIMIT, Clear, Invert, Rectangle, Stroke
from dalle_nb.notebook.widgets.mask import _forget_current_canvas

NAMES = {index: name for name, index in COMMANDS.items()}


def picture(width: int = 1536, height: int = 1024) -> Image.Image:
    """A gradient picture whose pixels differ, so a wrong scale or a swapped axis shows."""
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.uint8)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([x, y, np.full_like(x, 90)], axis=2))


class Browser:
    """Sends the editor's canvas what the ipycanvas frontend sends, and keeps what the editor draws back."""

    def __init__(self, editor: MaskEditor) -> None:
        self.editor = editor
        self.top = editor._canvas[-1]
        self.layers: dict[str, Any] = {
            f"IPY_MODEL_{layer.model_id}": index for index, layer in enumerate(editor._canvas._canvases)
        }
        self.layers[f"IPY_MODEL_{editor._buffer.model_id}"] = "buffer"
        self.messages: list[list[tuple[str, Any]]] = []

    def record(self, command: list[Any], buffers: list[Any] | None = None) -> None:
        batch = command if command and isinstance(command[0], list) else [command]
        # a switchCanvas names a layer by its model id: keep the layer's index instead
        self.messages.append([(NAMES[c[0]], self._layer(c) if NAMES[c[0]] == "switchCanvas" else c[1]) for c in batch])

    def _layer(self, command: list[Any]) -> Any:
        return self.layers.get(command[1][0], command[1])

    def send(self, event: str, **payload: Any) -> None:
        self.top._handle_frontend_event(None, {"event": event, **payload}, [])

    def down(self, x: float, y: float) -> None:
        self.send("mouse_down", x=x, y=y)

    def move(self, x: float, y: float) -> None:
        self.send("mouse_move", x=x, y=y)

    def up(self, x: float, y: float) -> None:
        self.send("mouse_up", x=x, y=y)

    def out(self, x: float, y: float) -> None:
        self.send("mouse_out", x=x, y=y)

    def drag(self, start: tuple[float, float], end: tuple[float, float], steps: int = 20, release: bool = True) -> None:
        self.down(*start)
        for i in range(1, steps + 1):
            self.move(start[0] + (end[0] - start[0]) * i / steps, start[1] + (end[1] - start[1]) * i / steps)
        if release:
            self.up(*end)


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A factory: ``browser(editor)`` -> a ``Browser`` recording every draw message sent."""
    made: list[Browser] = []

    def record(command: list[Any], buffers: list[Any] | None = None) -> None:
        for b in made:
            b.record(command, buffers)

    monkeypatch.setattr(_CANVAS_MANAGER, "_send_custom", record)

    def factory(editor: MaskEditor) -> Browser:
        made.append(Browser(editor))
        return made[-1]

    yield factory


def disc(shape: tuple[int, int], center: tuple[float, float], radius: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (xx - center[0]) ** 2 + (yy - center[1]) ** 2 <= radius**2


# ---------------------------------------------------------------------------- out


def test_a_new_editor_has_the_picture_and_an_empty_mask_at_its_size() -> None:
    editor = MaskEditor(picture())
    assert editor.image.size == (1536, 1024)
    assert np.array_equal(np.asarray(editor.image), np.asarray(picture()))
    mask = editor.mask
    assert (mask.mode, mask.size) == ("RGBA", (1536, 1024))
    assert np.asarray(mask)[..., 3].min() == 255, "nothing painted: every pixel is kept (alpha 255)"
    assert editor.mask_array.shape == (1024, 1536) and not editor.mask_array.any()
    assert editor.coverage == 0.0


def test_it_takes_every_kind_of_picture_edit_takes(tmp_path: Path) -> None:
    pic = picture(64, 48)
    path = tmp_path / "pic.png"
    pic.save(path)

    class Generated:
        def to_pil(self) -> Image.Image:
            return pic

    sources = (path, str(path), path.read_bytes(), io.BytesIO(path.read_bytes()), pic, np.asarray(pic), Generated())
    for source in sources:
        assert np.array_equal(np.asarray(MaskEditor(source).image), np.asarray(pic)), type(source)
    with pytest.raises(InvalidRequest, match="image file not found"):
        MaskEditor(tmp_path / "missing.png")


def test_stroke_paints_along_the_path_at_the_brush_size() -> None:
    editor = MaskEditor(picture())
    editor.stroke([(100, 200), (700, 200)], size=40)
    painted = editor.mask_array
    assert painted[200, 100:701].all(), "the whole path is painted"
    assert painted[181:220, 400].all() and not painted[175, 400] and not painted[225, 400], "40 px across"
    assert painted[200, 81] and not painted[200, 75], "round end reaching 20 px past the first point"
    assert not painted[600, 1000] and not painted[200, 760]
    alpha = np.asarray(editor.mask)[..., 3]
    assert alpha[200, 400] == 0 and alpha[600, 1000] == 255, "the API's convention: alpha 0 where painted"
    assert editor.coverage == pytest.approx(painted.mean())
    assert editor.operations == (Stroke(((100.0, 200.0), (700.0, 200.0)), 40.0, False),)


def test_one_point_paints_a_dot_of_the_trait_size() -> None:
    editor = MaskEditor(picture(400, 300))
    editor.brush_size = 30
    editor.stroke([(200, 150)])
    yy, xx = np.nonzero(editor.mask_array)
    assert 29 <= xx.max() - xx.min() + 1 <= 31 and 29 <= yy.max() - yy.min() + 1 <= 31
    assert abs(xx.mean() - 200) < 1 and abs(yy.mean() - 150) < 1


def test_erase_and_rectangle() -> None:
    editor = MaskEditor(picture(300, 200))
    editor.rectangle((50, 40, 250, 160))
    expected = np.zeros((200, 300), bool)
    expected[40:160, 50:250] = True
    assert np.array_equal(editor.mask_array, expected), "half-open, like mask[y0:y1, x0:x1]"
    editor.rectangle((260, 150, 240, 100), erase=True)  # corners in any order
    expected[100:150, 240:260] = False
    assert np.array_equal(editor.mask_array, expected)
    editor.stroke([(60, 100), (200, 100)], size=10, erase=True)
    assert not editor.mask_array[100, 60:201].any() and editor.mask_array[90, 60:201].all()
    assert editor.operations[1] == Rectangle((240, 100, 260, 150), erase=True)


def test_undo_and_redo_take_back_more_than_fifty_steps_exactly() -> None:
    editor = MaskEditor(picture(512, 512), brush_size=6)
    states = [editor.mask_array]
    for i in range(60):
        editor.stroke([(10 + 8 * i, 20), (10 + 8 * i, 490)]) if i % 7 else editor.rectangle((i, i, i + 50, i + 30))
        states.append(editor.mask_array)
    for i in range(60, 0, -1):
        assert editor.undo()
        assert np.array_equal(editor.mask_array, states[i - 1]), f"undo back to step {i - 1}"
    assert not editor.undo(), "nothing left to undo"
    for i in range(1, 61):
        assert editor.redo()
        assert np.array_equal(editor.mask_array, states[i]), f"redo to step {i}"
    assert not editor.redo()
    editor.undo()
    editor.stroke([(5, 5)])
    assert not editor.redo(), "a new operation drops what was undone"


def test_history_is_operations_and_old_ones_are_kept_in_the_mask() -> None:
    editor = MaskEditor(picture(200, 200), brush_size=2)
    for i in range(UNDO_LIMIT + 30):
        editor.stroke([(i, 10), (i, 190)])
    assert len(editor.operations) == UNDO_LIMIT
    assert all(isinstance(op, Stroke) for op in editor.operations)
    while editor.undo():
        pass
    assert editor.mask_array[100, 0:29].all() and not editor.mask_array[100, 32:].any(), "the oldest 30 stay"


def test_invert_and_clear_are_undoable() -> None:
    editor = MaskEditor(picture(300, 200))
    editor.rectangle((0, 0, 100, 200))
    before = editor.mask_array
    editor.invert()
    assert np.array_equal(editor.mask_array, ~before)
    assert editor.coverage == pytest.approx(2 / 3)
    editor.clear()
    assert editor.coverage == 0
    assert editor.operations[-2:] == (Invert(), Clear())
    editor.undo()
    assert np.array_equal(editor.mask_array, ~before)
    editor.undo()
    assert np.array_equal(editor.mask_array, before)


def test_a_mask_carries_on_and_undo_stops_at_it() -> None:
    carried = np.zeros((1024, 1536), bool)
    carried[100:300, 200:600] = True
    editor = MaskEditor(picture(), mask=carried)
    assert np.array_equal(editor.mask_array, carried) and editor.operations == ()
    editor.stroke([(1000, 800), (1200, 800)], size=20)
    assert editor.mask_array[800, 1100] and editor.mask_array[200, 400]
    assert editor.undo() and np.array_equal(editor.mask_array, carried), "undo goes back to the mask given"
    assert not editor.undo()

    again = MaskEditor(editor.image, mask=editor)  # an editor is a mask too
    assert np.array_equal(again.mask_array, carried)
    rgba = MaskEditor(picture(), mask=editor.mask)
    assert np.array_equal(rgba.mask_array, carried)
    half = MaskEditor(picture(), mask=Image.fromarray(carried[::2, ::2]))  # same aspect, resized
    assert np.array_equal(half.mask_array, carried)
    assert "mask was 768x512; resized to 1536x1024" in half._status.value
    with pytest.raises(InvalidRequest, match="its shape differs"):
        MaskEditor(picture(), mask=np.zeros((100, 100), bool))


def test_save_writes_the_rgba_mask(tmp_path: Path) -> None:
    editor = MaskEditor(picture(300, 200))
    editor.rectangle((10, 10, 50, 50))
    path = editor.save(tmp_path / "mask.png")
    saved = Image.open(path)
    assert (saved.mode, saved.size) == ("RGBA", (300, 200))
    assert np.array_equal(np.asarray(saved), np.asarray(editor.mask))
    with pytest.raises(ValueError, match=r"\.png"):
        editor.save(tmp_path / "mask.jpg")


# ---------------------------------------------------------------------------- into edit


def test_prepare_mask_takes_the_editor_and_refuses_an_empty_one_in_one_line() -> None:
    editor = MaskEditor(picture())
    assert isinstance(editor, MaskSource)
    with pytest.raises(InvalidRequest) as refused:
        prepare_mask(editor, (1536, 1024))
    assert str(refused.value) == EMPTY_EDITOR and "\n" not in str(refused.value)
    assert "paint where the picture should change" in str(refused.value)
    editor.rectangle((0, 0, 100, 100))
    prepared = prepare_mask(editor, (1536, 1024))
    alpha = np.asarray(Image.open(io.BytesIO(prepared.data)))[..., 3]
    assert (alpha == 0).sum() == 100 * 100 and alpha[50, 50] == 0 and alpha[500, 500] == 255


def test_keep_unmasked_takes_the_editor() -> None:
    original = picture(300, 200)
    edited = Image.new("RGB", (300, 200), (0, 200, 0))
    editor = MaskEditor(original)
    editor.rectangle((100, 50, 200, 150))
    out = np.asarray(keep_unmasked(original, edited, editor, feather=0))
    assert (out[100, 150] == (0, 200, 0)).all()
    assert np.array_equal(out[:50], np.asarray(original)[:50])


# ---------------------------------------------------------------------------- the mouse


def test_a_drag_paints_at_full_resolution_on_a_non_square_picture(browser: Any) -> None:
    editor = MaskEditor(picture())  # 1536x1024; CSS shows it at whatever width the output has
    b = browser(editor)
    assert (editor._canvas.width, editor._canvas.height) == (1536, 1024), "the bitmap is the picture's pixels"
    editor.brush_size = 30
    b.drag((200, 700), (1300, 700), steps=50)
    painted = editor.mask_array
    assert painted.shape == (1024, 1536)
    assert painted[700, 200:1301].all() and painted[686:715, 768].all()
    assert not painted[680, 768] and not painted[720, 768] and not painted[100, 100]
    assert len(editor.operations) == 1 and len(editor.operations[0].points) == 51


def test_each_move_draws_its_segment_on_the_overlay_in_one_message(browser: Any) -> None:
    editor = MaskEditor(picture(400, 300), brush_size=10)
    b = browser(editor)
    b.down(50, 50)
    b.messages.clear()
    b.move(80, 60)
    assert len(b.messages) == 1, "one comm message per mouse move (hold_canvas)"
    [message] = b.messages
    buffer_at, overlay_at = message.index(("switchCanvas", "buffer")), message.index(("switchCanvas", 1))
    assert ("strokeLine", [50.0, 50.0, 80.0, 60.0]) in message[buffer_at:overlay_at], "the segment, on the mask"
    shown = message[overlay_at:]
    assert ("rect", [44, 44, 42, 22]) in shown and ("drawImage", shown[shown.index(("clip", [])) + 2][1]) in shown
    assert [name for name, _ in shown][-4:] == ["clip", "clearRect", "drawImage", "restore"], "only its box"
    assert not any(name in ("putImageData", "getImageData") for name, _ in message), "no bitmap per move"
    assert ("switchCanvas", 2) not in message, "no brush outline while painting: one layer to compose"
    assert all(not layer.sync_image_data for layer in editor._canvas._canvases), "never read back from the browser"
    assert not editor._buffer.sync_image_data


def test_the_overlay_shows_the_buffer_at_the_opacity_without_a_new_bitmap(browser: Any) -> None:
    editor = MaskEditor(picture(400, 300))
    editor.rectangle((10, 10, 100, 100))
    b = browser(editor)
    editor.opacity = 0.8
    assert editor._opacity.value == 0.8
    [message] = b.messages
    assert ("set", [Canvas.ATTRS["global_alpha"], 0.8]) in message and "drawImage" in [n for n, _ in message]
    assert "putImageData" not in [n for n, _ in message], "the mask is already in the browser"


def test_a_move_without_a_pressed_button_paints_nothing(browser: Any) -> None:
    editor = MaskEditor(picture(400, 300))
    b = browser(editor)
    b.move(10, 10)
    b.move(300, 200)
    assert editor.coverage == 0 and editor.operations == ()
    b.drag((50, 50), (150, 50))
    b.move(150, 250)
    assert not editor.mask_array[200, 150], "after mouse up, moving paints nothing"


def test_a_stroke_that_leaves_the_canvas_is_kept_and_ends_there(browser: Any) -> None:
    editor = MaskEditor(picture(400, 300), brush_size=10)
    b = browser(editor)
    b.drag((100, 150), (390, 150), steps=10, release=False)
    b.out(405, 150)  # the browser's mouseout, just past the edge; the mouseup outside never comes
    assert editor.mask_array[150, 100:400].all(), "painted right up to the edge"
    assert len(editor.operations) == 1
    b.move(300, 250)  # back over the canvas, button still held or not: no new stroke without a mouse down
    b.move(200, 250)
    assert not editor.mask_array[250].any()
    assert editor.undo() and editor.coverage == 0, "the stroke is one operation"


def test_the_rectangle_tool_paints_the_dragged_box_even_when_released_outside(browser: Any) -> None:
    editor = MaskEditor(picture(400, 300))
    b = browser(editor)
    editor.tool = "rectangle"
    b.drag((100, 80), (200, 160))
    expected = np.zeros((300, 400), bool)
    expected[80:160, 100:200] = True
    assert np.array_equal(editor.mask_array, expected)
    b.drag((300, 200), (390, 290), release=False)
    b.out(420, 310)
    expected[200:300, 300:400] = True
    assert np.array_equal(editor.mask_array, expected), "clamped to the picture"
    editor.tool = "eraser"
    b.drag((100, 120), (199, 120))
    assert not editor.mask_array[120, 100:200].any()


def test_touch_paints_like_the_mouse(browser: Any) -> None:
    editor = MaskEditor(picture(400, 300), brush_size=8)
    b = browser(editor)
    b.send("touch_start", touches=[{"x": 50, "y": 100}])
    for x in range(60, 260, 10):
        b.send("touch_move", touches=[{"x": x, "y": 100}])
    b.send("touch_end", touches=[])
    assert editor.mask_array[100, 50:251].all()
    b.send("touch_move", touches=[{"x": 100, "y": 200}])
    assert not editor.mask_array[200].any()


def test_the_wheel_sizes_the_brush_within_its_limits(browser: Any) -> None:
    editor = MaskEditor(picture(1024, 1024))
    b = browser(editor)
    start = editor.brush_size
    b.send("mouse_wheel", x=0, y=-100)
    assert editor.brush_size > start
    for _ in range(200):
        b.send("mouse_wheel", x=0, y=100)
    assert editor.brush_size == 1
    for _ in range(200):
        b.send("mouse_wheel", x=0, y=-100)
    assert editor.brush_size == editor._size.max == 256
    editor.brush_size = 10_000
    assert editor.brush_size == 256


def test_a_big_picture_is_shown_capped_and_painted_at_full_size(browser: Any) -> None:
    editor = MaskEditor(Image.new("RGB", (4096, 2048), "white"), brush_size=40)
    b = browser(editor)
    assert (editor._canvas.width, editor._canvas.height) == (MAX_CANVAS_SIDE, MAX_CANVAS_SIDE // 2)
    b.drag((100, 500), (1000, 500))  # canvas pixels: half the picture's
    painted = editor.mask_array
    assert painted.shape == (2048, 4096)
    assert painted[1000, 200:2001].all() and painted[981:1020, 1000].all() and not painted[975, 1000]
    assert "shown at 2048x1024" in editor._status.value


# ---------------------------------------------------------------------------- the page


def test_a_browser_that_connects_late_gets_the_picture_and_the_mask(browser: Any) -> None:
    editor = MaskEditor(picture(400, 300))
    editor.rectangle((10, 10, 100, 100))
    b = browser(editor)
    _CANVAS_MANAGER._current_canvas = editor._canvas[1]  # what a page reload leaves behind (ipycanvas #322)
    b.send("client_ready")
    [message] = b.messages
    assert message[0] == ("switchCanvas", 0), "names its target although Python 'already' switched to one"
    images = [i for i, (name, _) in enumerate(message) if name == "putImageData"]
    assert len(images) == 2, "the picture and the mask"
    layer_of: dict[str, set[Any]] = {}
    current = None
    for name, args in message:
        if name == "switchCanvas":
            current = args
        layer_of.setdefault(name, set()).add(current)
    assert layer_of["putImageData"] == {0, "buffer"}
    assert layer_of["drawImage"] == {1}, "the overlay shows the buffer"


def test_actions_from_two_threads_take_turns(browser: Any) -> None:
    # JupyterLab 4.6 sends button clicks to a kernel subshell thread while canvas events run on
    # the main thread: an undo clicked mid-move must wait for the move, not interleave with it.
    editor = MaskEditor(picture(400, 300), brush_size=10)
    b = browser(editor)
    b.down(10, 150)
    inside, release = threading.Event(), threading.Event()
    extend = editor._history.extend_stroke

    def slow_extend(point: tuple[float, float]) -> Any:
        inside.set()
        release.wait(5)
        return extend(point)

    editor._history.extend_stroke = slow_extend  # type: ignore[method-assign]
    mover = threading.Thread(target=b.move, args=(300, 150))
    mover.start()
    assert inside.wait(5)
    undoer = threading.Thread(target=editor.undo)
    undoer.start()
    undoer.join(0.3)
    assert undoer.is_alive(), "undo waits for the move in progress"
    release.set()
    mover.join(5)
    undoer.join(5)
    assert editor.coverage == 0 and editor.operations == (), "the whole stroke, then undone"
    assert not _CANVAS_MANAGER._caching, "ipycanvas's shared batch is closed again"
    sent = [name for message in b.messages for name, _ in message]
    last_clear = len(sent) - 1 - sent[::-1].index("clear")
    assert sent.index("strokeLine") < last_clear, "the segment was sent whole, before undo's redraw"


def test_forget_current_canvas_survives_an_ipycanvas_without_the_attribute() -> None:
    class Bare:
        pass

    _forget_current_canvas(Bare())  # nothing to reset, no error
    editor = MaskEditor(picture(64, 64))
    _CANVAS_MANAGER._current_canvas = editor._canvas[0]
    _forget_current_canvas(editor._canvas)
    assert _CANVAS_MANAGER._current_canvas is None


def test_hiding_the_mask_clears_the_overlay_and_painting_shows_it_again(browser: Any) -> None:
    editor = MaskEditor(picture(400, 300))
    editor.rectangle((10, 10, 100, 100))
    b = browser(editor)
    editor.show_mask = False
    names = [name for name, _ in b.messages[-1]]
    assert "clear" in names and "putImageData" not in names
    b.drag((200, 200), (250, 200))
    assert editor.show_mask and editor._show.value


# ---------------------------------------------------------------------------- the widgets


def _tree(widget: Any) -> Iterator[Any]:
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _tree(child)


def test_stable_css_classes_for_automation() -> None:
    editor = MaskEditor(picture(64, 64))
    classes = {cls: w for w in _tree(editor) for cls in w._dom_classes}
    for name in ("canvas", "brush", "eraser", "rect", "undo", "redo", "clear", "invert", "size"):
        assert f"dalle-nb-mask-{name}" in classes, name
    assert classes["dalle-nb-mask-canvas"] is editor._canvas
    assert classes["dalle-nb-mask-size"] is editor._size
    assert all(w.tooltip for n, w in classes.items() if n.split("-")[-1] in ("brush", "eraser", "rect", "undo", "redo"))


def test_the_tool_buttons_are_one_choice() -> None:
    editor = MaskEditor(picture(64, 64))
    buttons = editor._tool_buttons
    assert [b.value for b in buttons.values()] == [True, False, False]
    buttons["eraser"].value = True
    assert editor.tool == "eraser" and [b.value for b in buttons.values()] == [False, True, False]
    buttons["eraser"].value = False  # pressing the active tool again keeps it
    assert editor.tool == "eraser" and buttons["eraser"].value
    editor.tool = "rectangle"
    assert [b.value for b in buttons.values()] == [False, False, True]


def test_undo_redo_buttons_follow_the_history() -> None:
    editor = MaskEditor(picture(64, 64))
    assert editor._undo.disabled and editor._redo.disabled
    editor.stroke([(10, 10)])
    assert not editor._undo.disabled and editor._redo.disabled
    editor._undo.click()
    assert editor.coverage == 0 and editor._undo.disabled and not editor._redo.disabled
    editor._redo.click()
    assert editor.coverage > 0
    editor._invert.click()
    assert editor.coverage > 0.5
    editor._clear.click()
    assert editor.coverage == 0


def test_the_api_key_is_never_in_widget_state(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-test-never-in-widget-state-1234"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    editor = MaskEditor(picture(64, 64))
    editor.stroke([(10, 10), (50, 50)])
    state = json.dumps([w.get_state() for w in _tree(editor)], default=lambda value: repr(value))
    assert secret not in state


def test_importing_dalle_nb_does_not_import_the_widgets() -> None:
    code = (
        "import sys, dalle_nb\n"
        "print(sorted(m for m in ('ipywidgets', 'ipycanvas', 'numpy', 'PIL') if m in sys.modules))\n"
        "print(dalle_nb.MaskEditor.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["[]", "dalle_nb.notebook.widgets.mask"]
