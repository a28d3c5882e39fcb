"""``MaskEditor``: paint where a picture should change, in the notebook, and hand the mask to ``edit``.

The mask lives in Python, as a list of operations rasterized with Pillow at the picture's
own resolution (``_history.MaskHistory``).  The browser only shows it: an ipycanvas
``MultiCanvas`` with three layers (the picture, drawn once per client; the mask overlay; the
brush outline), whose bitmap has the picture's pixels and is scaled by CSS to the output
width.  ipycanvas maps every mouse position back to bitmap pixels from the element's
on-screen box, so the mask is right whatever the display size or the browser zoom.

Why it is built the way it is (see ``shared/design/mask-editor-anchors.md``):

- every mouse move draws its segment on the overlay at once, in one ``hold_canvas`` message,
  and on the Pillow mask incrementally; the canvas is never read back (``sync_image_data``
  PNG-encodes the whole canvas after every batch, and hangs some frontends);
- ipycanvas has no pointer capture, so a ``mouseup`` outside the canvas never arrives: a
  stroke ends on mouse out too, and is kept;
- a browser that connects late (a page reload, a second notebook window, Voila) gets nothing
  from ipycanvas by itself: the editor redraws picture and mask when a client says it is
  ready.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import ipywidgets as widgets
import numpy as np
import traitlets
from ipycanvas import Canvas, MultiCanvas, hold_canvas
from PIL import Image, ImageChops

from ...core.imaging import load_image, mask_alpha, normalize_mode
from .mask_history import EDIT, Clear, Invert, MaskHistory, Operation, Point, Rectangle, Stroke

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["MAX_CANVAS_SIDE", "MaskEditor"]

#: The canvas bitmap's longest side.  Larger pictures are shown downscaled (the mask is still
#: painted at the picture's own resolution, through an exact scale back): the browser keeps five
#: bitmaps of this size per editor (three layers, their composite, the view), and compositing
#: them after every mouse move is what made other painters lag on big pictures (A1111 #4477,
#: "nearly unusable beyond 3000px").  2048 is sharper than any notebook output is wide.
MAX_CANVAS_SIDE = 2048

#: The overlay's colour: a saturated pink that stands out on photos, skin, sky and foliage.
OVERLAY_RGB = (255, 0, 102)

#: Mouse-wheel scale per pixel of scroll: one notch of a mouse wheel (100 px) changes the brush
#: by about 20%; a touchpad's small deltas change it smoothly.
_WHEEL_PER_PIXEL = 1 / 500

#: The canvas is never taller than this share of the window, so the page around it can always
#: be scrolled (ipycanvas swallows wheel events over any canvas) and the whole picture is in
#: view while painting.
_MAX_HEIGHT_VH = 70

_TOOLS = ("brush", "eraser", "rectangle")

#: One editor action at a time, across every editor.  JupyterLab 4.6 with ipykernel 7 delivers
#: some widget messages (button clicks, slider changes) to a kernel *subshell* thread, while
#: canvas events and cells run on the main thread; and ipycanvas batches draw commands in one
#: global buffer (``hold_canvas``).  Two actions at once would interleave their commands (a
#: stroke's segment sent to the wrong layer) or replay undo over a half-drawn segment.
_ONE_AT_A_TIME = threading.RLock()

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _serialized(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``method`` holding ``_ONE_AT_A_TIME`` (re-entrant: actions call one another)."""

    @functools.wraps(method)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with _ONE_AT_A_TIME:
            return method(*args, **kwargs)

    return run


_LAYER_PICTURE, _LAYER_OVERLAY, _LAYER_CURSOR = 0, 1, 2


def _forget_current_canvas(canvas: Any) -> None:
    """Make ipycanvas name the target canvas again in the next draw message.

    ipycanvas 0.13-0.14 sends its "switch canvas" command only when the target differs from
    the one it sent last (``_CanvasManager._current_canvas``), and a browser that connected
    since then has never seen that command: its drawing would go nowhere (ipycanvas #322).
    This resets that private attribute; if a later ipycanvas drops it, there is nothing to reset.
    """
    manager = getattr(canvas, "_canvas_manager", None)
    if manager is not None and hasattr(manager, "_current_canvas"):
        manager._current_canvas = None


def _first(touches: Sequence[Sequence[float]]) -> tuple[float, float]:
    """The first finger's position; NaN when the event lists none (a lifted last finger)."""
    return (float(touches[0][0]), float(touches[0][1])) if touches else (math.nan, math.nan)


class MaskEditor(widgets.VBox):  # type: ignore[misc]
    """Paint an inpainting mask on a picture; ``dn.edit(picture, prompt, mask=editor)`` takes it.

    ``image`` is anything ``dn.edit`` takes as a picture (a path, bytes, ``BytesIO``,
    ``PIL.Image``, numpy array, ``GeneratedImage``); ``mask`` an existing mask of any kind
    ``dn.edit`` takes, to carry on painting it.

    Tools (each a button with a tooltip): brush and eraser (round, ``brush_size`` pixels of
    the picture across), rectangle (drag a box), undo and redo (the last ``UNDO_LIMIT``
    operations), clear, invert, the overlay's opacity and a "show mask" toggle.  The mouse
    wheel over the picture changes the brush size.  Touch paints like the mouse.

    The same operations from code: ``stroke``, ``rectangle``, ``undo``, ``redo``, ``clear``,
    ``invert`` and the ``brush_size`` trait.  The result: ``mask`` (RGBA, alpha 0 where
    painted, the API's convention), ``mask_array`` (True = edit here), ``coverage``,
    ``save(path)``; ``image`` is the picture.
    """

    #: Brush and eraser diameter, in pixels of the picture (not of the screen).
    brush_size = traitlets.Int(1)
    #: The tool the mouse paints with: "brush", "eraser" or "rectangle".
    tool = traitlets.Enum(_TOOLS, default_value="brush")
    #: How opaque the mask overlay is drawn, 0.1 to 1 (only the drawing changes, not the mask).
    opacity = traitlets.Float(0.5)
    #: Whether the overlay is shown; painting while it is hidden shows it again.
    show_mask = traitlets.Bool(True)

    def __init__(self, image: object, *, mask: object = None, brush_size: int | None = None) -> None:
        picture = normalize_mode(load_image(image, field="image"))
        width, height = picture.size
        notices: list[str] = []
        if mask is None:
            start = Image.new("L", (width, height), 0)
        else:
            alpha, notices = mask_alpha(mask, (width, height))
            start = ImageChops.invert(alpha)
        self._picture = picture
        self._history = MaskHistory(start)
        self._notices = notices

        scale = min(1.0, MAX_CANVAS_SIDE / max(width, height))
        canvas_w, canvas_h = max(1, round(width * scale)), max(1, round(height * scale))
        self._sx, self._sy = canvas_w / width, canvas_h / height  # picture -> canvas, exact per axis
        self._hairline = max(1.0, canvas_w / 640)  # ~1 screen pixel at a typical output width
        self._max_brush = max(16, round(max(width, height) / 4))

        self._canvas = MultiCanvas(
            3,
            width=canvas_w,
            height=canvas_h,
            layout=widgets.Layout(
                width=f"min(100%, {max(canvas_w, 512)}px, calc({_MAX_HEIGHT_VH}vh * {width} / {height}))",
                height="auto",
            ),
        )
        self._canvas.add_class("dalle-nb-mask-canvas")
        self._buffer = Canvas(width=canvas_w, height=canvas_h)  # the mask, opaque; never displayed
        self._pressed = False
        self._rect_from: Point | None = None
        self._rect_to: Point | None = None
        self._hover: tuple[float, float] | None = None  # the mouse, in canvas pixels, while over the canvas

        toolbar = self._build_toolbar()
        self._status = widgets.HTML(layout=widgets.Layout(margin="0 0 0 4px"))
        self._status.add_class("dalle-nb-mask-status")
        super().__init__(children=[toolbar, self._canvas, self._status])
        self.add_class("dalle-nb-mask-editor")

        default = max(4, min(200, round(max(width, height) / 24)))
        self.brush_size = default if brush_size is None else brush_size
        self.observe(self._on_tool, names="tool")
        self.observe(self._on_overlay_style, names=["opacity", "show_mask"])
        self.observe(self._on_brush_size, names="brush_size")
        self._connect_events()
        self._on_tool()
        self._update_controls()

    # ------------------------------------------------------------------ the toolbar

    def _build_toolbar(self) -> widgets.HBox:
        def toggle(name: str, icon: str, tip: str) -> widgets.ToggleButton:
            button = widgets.ToggleButton(
                value=False, icon=icon, tooltip=tip, layout=widgets.Layout(width="36px", padding="0")
            )
            button.add_class(f"dalle-nb-mask-{name}")
            return button

        def action(name: str, icon: str, tip: str, run: Callable[[], object]) -> widgets.Button:
            button = widgets.Button(icon=icon, tooltip=tip, layout=widgets.Layout(width="36px", padding="0"))
            button.add_class(f"dalle-nb-mask-{name}")
            button.on_click(lambda _button: run())
            return button

        self._tool_buttons = {
            "brush": toggle("brush", "paint-brush", "Brush: paint where the picture should change"),
            "eraser": toggle("eraser", "eraser", "Eraser: take paint away"),
            "rectangle": toggle("rect", "vector-square", "Rectangle: drag a box to paint it"),
        }
        for name, button in self._tool_buttons.items():
            button.observe(lambda change, name=name: self._on_tool_button(name, change["new"]), names="value")

        self._size = widgets.IntSlider(
            value=1,
            min=1,
            max=self._max_brush,
            description="size",
            tooltip="Brush size in pixels of the picture (or the mouse wheel over the picture)",
            continuous_update=True,
            style={"description_width": "initial"},
            layout=widgets.Layout(width="200px"),
        )
        self._size.add_class("dalle-nb-mask-size")
        widgets.link((self, "brush_size"), (self._size, "value"))

        self._undo = action("undo", "undo", "Undo the last stroke or action", self.undo)
        self._redo = action("redo", "redo", "Redo what undo took back", self.redo)
        self._clear = action("clear", "trash", "Clear: nothing painted (undo brings it back)", self.clear)
        self._invert = action("invert", "adjust", "Invert: keep what is painted, change the rest", self.invert)

        self._opacity = widgets.FloatSlider(
            min=0.1,
            max=1.0,
            step=0.05,
            description="opacity",
            tooltip="How strongly the mask is drawn over the picture (the mask itself does not change)",
            continuous_update=False,
            readout_format=".0%",
            style={"description_width": "initial"},
            layout=widgets.Layout(width="200px"),
        )
        self._opacity.add_class("dalle-nb-mask-opacity")
        widgets.link((self, "opacity"), (self._opacity, "value"))

        self._show = widgets.ToggleButton(
            value=True,
            icon="eye",
            tooltip="Show the mask over the picture",
            layout=widgets.Layout(width="36px", padding="0"),
        )
        self._show.add_class("dalle-nb-mask-show")
        widgets.link((self, "show_mask"), (self._show, "value"))

        def group(*children: widgets.Widget) -> widgets.HBox:
            return widgets.HBox(list(children), layout=widgets.Layout(align_items="center", margin="0 12px 0 0"))

        toolbar = widgets.HBox(
            [
                group(*self._tool_buttons.values()),
                group(self._size),
                group(self._undo, self._redo, self._clear, self._invert),
                group(self._opacity, self._show),
            ],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
        )
        toolbar.add_class("dalle-nb-mask-toolbar")
        return toolbar

    @_serialized
    def _on_tool_button(self, name: str, pressed: bool) -> None:
        if pressed:
            self.tool = name
        elif self.tool == name:  # one tool is always active: pressing it again keeps it
            self._tool_buttons[name].value = True

    @_serialized
    def _on_tool(self, _change: object = None) -> None:
        for name, button in self._tool_buttons.items():
            button.value = name == self.tool
        self._size.disabled = self.tool == "rectangle"

    @traitlets.validate("brush_size")
    def _valid_brush_size(self, proposal: dict[str, Any]) -> int:
        return int(min(max(1, proposal["value"]), getattr(self, "_max_brush", proposal["value"])))

    @traitlets.validate("opacity")
    def _valid_opacity(self, proposal: dict[str, Any]) -> float:
        return float(min(max(0.1, proposal["value"]), 1.0))

    @_serialized
    def _on_brush_size(self, _change: object) -> None:
        if self._hover is not None:  # show the new size where the mouse is (the wheel changes it there)
            with hold_canvas():
                self._draw_cursor(*self._hover)

    @_serialized
    def _on_overlay_style(self, _change: object) -> None:
        with hold_canvas():
            self._draw_overlay()  # the buffer is unchanged: no new bitmap is sent

    # ------------------------------------------------------------------ operations from code

    @property
    @_serialized
    def operations(self) -> tuple[Operation, ...]:
        """What undo can take back, oldest first: ``Stroke``, ``Rectangle``, ``Clear``, ``Invert``."""
        return self._history.operations

    @_serialized
    def stroke(self, points: Iterable[Sequence[float]], *, size: float | None = None, erase: bool = False) -> None:
        """Paint (or with ``erase=True`` erase) along ``points``, ``(x, y)`` pixels of the picture.

        ``size`` is the brush diameter in pixels (default: ``brush_size``).  One point paints a dot.
        """
        pts = tuple((float(x), float(y)) for x, y in points)
        if not pts:
            raise ValueError("stroke() needs at least one (x, y) point")
        width = float(self.brush_size if size is None else size)
        if not width > 0:
            raise ValueError(f"size must be > 0 pixels, not {size!r}")
        self._end_gesture()
        self._history.apply(Stroke(pts, width, erase))
        self._show_after_paint()
        self._redraw_if(True)

    @_serialized
    def rectangle(self, box: Sequence[float], *, erase: bool = False) -> None:
        """Paint (or erase) the box ``(x0, y0, x1, y1)``: the pixels ``mask_array[y0:y1, x0:x1]``."""
        if len(box) != 4:
            raise ValueError(f"rectangle() takes (x0, y0, x1, y1), not {box!r}")
        self._end_gesture()
        x0, y0, x1, y1 = (round(float(v)) for v in box)
        self._history.apply(Rectangle((x0, y0, x1, y1), erase))  # apply puts the corners in order
        self._show_after_paint()
        self._redraw_if(True)

    @_serialized
    def undo(self) -> bool:
        """Take back the last operation; False when there is nothing to undo."""
        self._end_gesture()
        return self._redraw_if(self._history.undo())

    @_serialized
    def redo(self) -> bool:
        """Do again what undo took back last; False when there is nothing to redo."""
        self._end_gesture()
        return self._redraw_if(self._history.redo())

    @_serialized
    def clear(self) -> None:
        """Nothing painted any more; undo brings it back."""
        self._end_gesture()
        self._history.apply(Clear())
        self._redraw_if(True)

    @_serialized
    def invert(self) -> None:
        """Swap painted and unpainted: the painted part is kept, the rest will change."""
        self._end_gesture()
        self._history.apply(Invert())
        self._redraw_if(True)

    def _redraw_if(self, changed: bool) -> bool:
        if changed:
            with hold_canvas():
                self._draw_mask()
            self._update_controls()
        return changed

    # ------------------------------------------------------------------ the result

    @property
    def image(self) -> Image.Image:
        """The picture being masked, as a PIL image (a copy)."""
        return self._picture.copy()

    @property
    @_serialized
    def mask(self) -> Image.Image:
        """The mask as the API wants it: RGBA at the picture's size, black, alpha 0 where painted."""
        black = Image.new("L", self._history.size, 0)
        return Image.merge("RGBA", (black, black, black, ImageChops.invert(self._history.raster)))

    def as_mask(self) -> Image.Image:
        """``mask``; what ``dn.edit(..., mask=editor)`` reads (``dalle_nb.imaging.MaskSource``)."""
        return self.mask

    @property
    @_serialized
    def mask_array(self) -> NDArray[np.bool_]:
        """A (height, width) bool array, True where the picture should change (alpha 0 in ``mask``)."""
        array: NDArray[np.bool_] = np.asarray(self._history.raster) == EDIT
        return array

    @property
    @_serialized
    def coverage(self) -> float:
        """The share of the picture that is painted, 0 to 1."""
        histogram = self._history.raster.histogram()
        width, height = self._history.size
        return histogram[EDIT] / (width * height)

    @_serialized
    def save(self, path: str | Path) -> Path:
        """Write ``mask`` to ``path`` as PNG (the format that keeps alpha exactly); returns the path."""
        target = Path(path).expanduser()
        if target.suffix.lower() != ".png":
            raise ValueError(f"save the mask as .png (it needs exact alpha), not {target.name!r}")
        self.mask.save(target, format="PNG")
        return target

    def __repr__(self) -> str:
        width, height = self._history.size
        return f"<MaskEditor {width}x{height}, {self.coverage:.1%} painted, {len(self.operations)} operations>"

    # ------------------------------------------------------------------ browser events

    @property
    def _picture_layer(self) -> Canvas:
        return self._canvas[_LAYER_PICTURE]

    @property
    def _overlay(self) -> Canvas:
        return self._canvas[_LAYER_OVERLAY]

    @property
    def _cursor(self) -> Canvas:
        return self._canvas[_LAYER_CURSOR]

    def _connect_events(self) -> None:
        canvas = self._canvas
        canvas.on_client_ready(self._on_client_ready)
        canvas.on_mouse_down(self._on_down)
        canvas.on_mouse_move(self._on_move)
        canvas.on_mouse_up(self._on_up)
        canvas.on_mouse_out(self._on_out)
        canvas.on_mouse_wheel(self._on_wheel)
        # Touch paints with the first finger; ipycanvas gives no pressure, so the brush stays round.
        canvas.on_touch_start(lambda touches: self._on_down(*_first(touches)))
        canvas.on_touch_move(lambda touches: self._on_move(*_first(touches)))
        canvas.on_touch_end(lambda touches: self._on_up(*_first(touches)))
        canvas.on_touch_cancel(lambda touches: self._on_out(*_first(touches)))

    def _to_picture(self, x: float, y: float) -> Point:
        return (x / self._sx, y / self._sy)

    @_serialized
    def _on_down(self, x: float, y: float) -> None:
        self._end_gesture()
        if math.isnan(x):
            return
        point = self._to_picture(x, y)
        self._pressed = True
        self._hover = (x, y)
        if self.tool == "rectangle":
            self._rect_from = self._rect_to = point
            with hold_canvas():
                self._draw_cursor(x, y)
            return
        erase = self.tool == "eraser"
        self._show_after_paint()
        self._history.begin_stroke(point, self.brush_size, erase=erase)
        radius = self.brush_size * self._sx / 2
        with hold_canvas():
            self._cursor.clear()  # while painting, the stroke itself shows where the brush is
            buffer = self._buffer
            buffer.global_composite_operation = "destination-out" if erase else "source-over"
            buffer.line_width = 2 * radius
            buffer.fill_circle(x, y, radius)
            self._show_region((x - radius, y - radius, x + radius, y + radius))

    @_serialized
    def _on_move(self, x: float, y: float) -> None:
        if math.isnan(x):
            return
        point = self._to_picture(x, y)
        self._hover = (x, y)
        with hold_canvas():
            if not self._pressed:
                self._draw_cursor(x, y)
            elif self.tool == "rectangle":
                self._rect_to = point
                self._draw_cursor(x, y)
            elif self._history.stroking:
                last = self._history.extend_stroke(point)
                if last is not None:
                    self._draw_segment(last, point)

    @_serialized
    def _on_up(self, x: float, y: float) -> None:
        if self._pressed and not math.isnan(x):
            self._on_move(x, y)
        self._end_gesture()
        if self._hover is not None:
            with hold_canvas():
                self._draw_cursor(*self._hover)

    @_serialized
    def _on_out(self, x: float, y: float) -> None:
        # The stroke ends here and is kept: a mouseup outside the canvas never reaches us.
        self._hover = None
        self._on_up(x, y)
        with hold_canvas():
            self._cursor.clear()

    @_serialized
    def _on_wheel(self, _delta_x: float, delta_y: float) -> None:
        # ipycanvas calls preventDefault on every wheel event over a canvas, whether or not
        # Python listens, so the page never scrolls there anyway: the wheel sizes the brush.
        if self.tool == "rectangle" or not math.isfinite(delta_y):
            return
        factor = math.exp(-delta_y * _WHEEL_PER_PIXEL)
        current = self.brush_size
        wanted = round(current * factor)
        if wanted == current:
            wanted = current + (1 if factor > 1 else -1 if factor < 1 else 0)
        self.brush_size = wanted

    def _end_gesture(self) -> None:
        """Finish what the mouse was doing: a stroke becomes one operation, a box is painted."""
        pressed, self._pressed = self._pressed, False
        if self._history.stroking:
            self._history.end_stroke()
            self._update_controls()
        elif pressed and self._rect_from is not None and self._rect_to is not None:
            (x0, y0), (x1, y1) = self._rect_from, self._rect_to
            width, height = self._history.size
            box = (
                round(min(max(min(x0, x1), 0), width)),
                round(min(max(min(y0, y1), 0), height)),
                round(min(max(max(x0, x1), 0), width)),
                round(min(max(max(y0, y1), 0), height)),
            )
            if box[2] > box[0] and box[3] > box[1]:
                self._history.apply(Rectangle(box, erase=False))
                self._show_after_paint()
                left, top, box_w, box_h = self._canvas_box(box)
                with hold_canvas():
                    self._cursor.clear()
                    self._buffer.global_composite_operation = "source-over"
                    self._buffer.fill_rect(left, top, box_w, box_h)
                    self._show_region((left, top, left + box_w, top + box_h))
                self._update_controls()
        self._rect_from = self._rect_to = None

    def _show_after_paint(self) -> None:
        if not self.show_mask:
            self.show_mask = True  # painting blind is never what anyone wants

    # ------------------------------------------------------------------ drawing on the canvas
    #
    # The mask is drawn opaque on ``_buffer``, a canvas that is never displayed, and the
    # overlay layer shows that buffer at ``opacity``.  Painting translucent strokes straight
    # onto the overlay would darken every place where two segments overlap (each mouse move
    # is a segment with round ends); and ipycanvas composes layers without any per-layer
    # opacity.  A move redraws only the segment's box of the overlay, so its cost does not
    # grow with the picture.

    def _canvas_box(self, box: Sequence[float]) -> tuple[float, float, float, float]:
        x0, y0, x1, y1 = box
        return (x0 * self._sx, y0 * self._sy, (x1 - x0) * self._sx, (y1 - y0) * self._sy)

    def _draw_segment(self, start: Point, end: Point) -> None:
        (x0, y0), (x1, y1) = (start[0] * self._sx, start[1] * self._sy), (end[0] * self._sx, end[1] * self._sy)
        radius = self._history.stroke_size * self._sx / 2
        buffer = self._buffer
        buffer.global_composite_operation = "destination-out" if self._history.stroke_erases else "source-over"
        buffer.stroke_line(x0, y0, x1, y1)
        self._show_region((min(x0, x1) - radius, min(y0, y1) - radius, max(x0, x1) + radius, max(y0, y1) + radius))

    def _show_region(self, box: tuple[float, float, float, float]) -> None:
        """Copy the buffer to the overlay inside ``box`` (canvas pixels), at the overlay's opacity."""
        if not self.show_mask:
            return
        # whole pixels, one more on each side for antialiased edges: a clip on a fractional
        # edge would blend the old and new overlay there and leave a faint seam
        left, top = max(0, math.floor(box[0]) - 1), max(0, math.floor(box[1]) - 1)
        right = min(self._canvas.width, math.ceil(box[2]) + 1)
        bottom = min(self._canvas.height, math.ceil(box[3]) + 1)
        if right <= left or bottom <= top:
            return
        overlay = self._overlay
        overlay.save()
        overlay.begin_path()
        overlay.rect(left, top, right - left, bottom - top)
        overlay.clip()
        overlay.clear_rect(left, top, right - left, bottom - top)
        overlay.draw_image(self._buffer, 0, 0)
        overlay.restore()

    def _draw_cursor(self, x: float, y: float) -> None:
        """The brush outline (dark and light rings, visible on any picture), or the box being dragged."""
        cursor = self._cursor
        cursor.clear()
        if self.tool == "rectangle":
            if self._pressed and self._rect_from is not None and self._rect_to is not None:
                (x0, y0), (x1, y1) = self._rect_from, self._rect_to
                box = self._canvas_box((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
                red, green, blue = OVERLAY_RGB
                cursor.fill_style = f"rgba({red}, {green}, {blue}, {self.opacity:.3f})"
                cursor.fill_rect(*box)
                cursor.line_width = self._hairline
                cursor.stroke_style = "rgba(255, 255, 255, 0.9)"
                cursor.stroke_rect(*box)
            arm = 8 * self._hairline
            for stroke_style, width in (("rgba(0, 0, 0, 0.8)", 3 * self._hairline), ("#fff", self._hairline)):
                cursor.line_width = width
                cursor.stroke_style = stroke_style
                cursor.stroke_line(x - arm, y, x + arm, y)
                cursor.stroke_line(x, y - arm, x, y + arm)
            return
        radius = max(self._hairline, self.brush_size * self._sx / 2)
        cursor.line_width = 2 * self._hairline
        cursor.stroke_style = "rgba(0, 0, 0, 0.8)"
        cursor.stroke_circle(x, y, radius + self._hairline)
        cursor.line_width = self._hairline
        cursor.stroke_style = "#fff"
        cursor.stroke_circle(x, y, radius)

    def _mask_pixels(self) -> NDArray[np.uint8] | None:
        """The mask as opaque overlay colour (RGBA at the canvas's size), or None when nothing is painted."""
        raster = self._history.raster
        if raster.getextrema()[1] == 0:
            return None
        width, height = self._canvas.width, self._canvas.height
        if raster.size != (width, height):
            raster = raster.resize((width, height), Image.Resampling.BILINEAR)
        red, green, blue = (Image.new("L", raster.size, value) for value in OVERLAY_RGB)
        return np.asarray(Image.merge("RGBA", (red, green, blue, raster)))

    def _draw_mask(self) -> None:
        """Redraw the buffer from the Pillow mask (after undo, invert, clear, a new client), then the overlay."""
        buffer = self._buffer
        buffer.clear()
        buffer.global_composite_operation = "source-over"
        pixels = self._mask_pixels()
        if pixels is not None:
            buffer.put_image_data(pixels, 0, 0)
        self._draw_overlay()

    def _draw_overlay(self) -> None:
        """The whole overlay from the buffer: shown at ``opacity``, or cleared when the mask is hidden."""
        overlay = self._overlay
        overlay.clear()
        if self.show_mask:
            overlay.global_alpha = self.opacity
            overlay.draw_image(self._buffer, 0, 0)

    def _picture_pixels(self) -> NDArray[np.uint8]:
        """The picture as RGB at the canvas's size; transparency shows as a grey checkerboard."""
        picture = self._picture
        size = (self._canvas.width, self._canvas.height)
        if picture.size != size:
            picture = picture.resize(size, Image.Resampling.LANCZOS)
        if picture.mode == "RGBA":
            cells = (np.indices((size[1], size[0])) // 16).sum(axis=0) % 2
            board = Image.fromarray(np.where(cells, 204, 255).astype(np.uint8)).convert("RGB")
            board.paste(picture, mask=picture.getchannel("A"))
            picture = board
        return np.asarray(picture.convert("RGB"))

    @_serialized
    def _on_client_ready(self) -> None:
        """A browser has just created this canvas (first display, page reload, another window): draw it all."""
        _forget_current_canvas(self._canvas)
        with hold_canvas():
            picture = self._picture_layer
            picture.clear()
            picture.put_image_data(self._picture_pixels(), 0, 0)
            buffer = self._buffer
            red, green, blue = OVERLAY_RGB
            buffer.fill_style = buffer.stroke_style = f"rgb({red}, {green}, {blue})"
            buffer.line_cap = "round"
            buffer.line_join = "round"
            self._draw_mask()
            self._cursor.clear()

    # ------------------------------------------------------------------ the status line

    def _update_controls(self) -> None:
        self._undo.disabled = not self._history.can_undo
        self._redo.disabled = not self._history.can_redo
        width, height = self._history.size
        shown = ""
        if (self._canvas.width, self._canvas.height) != (width, height):
            shown = f", shown at {self._canvas.width}x{self._canvas.height}"
        notices = "".join(f" · {notice}" for notice in self._notices)
        self._status.value = (
            f"<span style='color: var(--jp-ui-font-color2, #666); font-size: var(--jp-ui-font-size1, 12px)'>"
            f"{self.coverage:.1%} painted · {width}x{height}{shown}{notices}</span>"
        )
