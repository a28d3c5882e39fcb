"""What an edit paints inside its mask: the surroundings continued, room for the subject, and recolouring.

An inpainting model given a mask and "a bright orange sun" paints a sun that fits the painted area over a sky that
continues the one around it; given "make it snow" it turns what the mask covers white.  This module holds the
pixel work for that, with no knowledge of scenes: ``continued`` fills a region from its surroundings (the colours
of each row carried across it, the fine texture mirrored in from its edges, so there is neither a flat box nor a
seam), ``spots`` finds where subjects fit in a region of any shape (one big square in a blob or box, a row of small
ones along a thin stroke), and ``snowed``, ``recoloured`` change what is already there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFilter

__all__ = ["continued", "recoloured", "snowed", "spots"]

_Box = tuple[int, int, int, int]
_Floats = npt.NDArray[np.float64]
_Ints = npt.NDArray[np.intp]
_Bools = npt.NDArray[np.bool_]


def _blur(array: _Floats, radius: int) -> _Floats:
    """A box blur of a 2-D or 3-D (HxWxC) array along its first two axes, edges clamped."""
    out = array
    for axis in (0, 1):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (radius + 1, radius)
        sums = np.cumsum(np.pad(out, pad, mode="edge"), axis=axis)
        ahead = np.take(sums, np.arange(2 * radius + 1, sums.shape[axis]), axis=axis)
        behind = np.take(sums, np.arange(0, sums.shape[axis] - 2 * radius - 1), axis=axis)
        out = (ahead - behind) / (2 * radius + 1)
    return out


def _nearest_known(known: _Bools) -> tuple[_Ints, _Ints]:
    """For every pixel, the column of the nearest known pixel of its row to the left and to the right (-1: none)."""
    width = known.shape[1]
    columns = np.broadcast_to(np.arange(width), known.shape)
    left = np.maximum.accumulate(np.where(known, columns, -1), axis=1)
    right = np.where(known, columns, width)[:, ::-1]
    right = np.minimum.accumulate(right, axis=1)[:, ::-1]
    return left, np.where(right >= width, -1, right)


def _across_rows(values: _Floats, known: _Bools) -> tuple[_Floats, _Bools]:
    """Unknown pixels take their row's known colours on either side, mixed linearly by distance."""
    left, right = _nearest_known(known)
    rows = np.arange(known.shape[0])[:, None]
    x = np.arange(known.shape[1])[None, :]
    from_left = values[rows, np.maximum(left, 0)]
    from_right = values[rows, np.maximum(right, 0)]
    span = np.maximum(right - left, 1)
    t = np.clip((x - left) / span, 0.0, 1.0)[..., None]
    both = (left >= 0) & (right >= 0)
    filled = np.where(
        both[..., None], from_left * (1 - t) + from_right * t, np.where((left >= 0)[..., None], from_left, from_right)
    )
    reached = (left >= 0) | (right >= 0)
    return np.where(known[..., None], values, filled), known | reached


def _mirrored(detail: _Floats, known: _Bools) -> tuple[_Floats, _Bools]:
    """Unknown pixels take the fine detail of their row mirrored in from the nearer known edge (stars, waves)."""
    height, width = known.shape
    left, right = _nearest_known(known)
    x = np.broadcast_to(np.arange(width)[None, :], known.shape)
    rows = np.broadcast_to(np.arange(height)[:, None], known.shape)
    from_left = 2 * left - x
    from_right = 2 * right - x
    use_left = (left >= 0) & ((right < 0) | (x - left <= right - x))
    source = np.where(use_left, from_left, from_right)
    ok = (np.where(use_left, left, right) >= 0) & (source >= 0) & (source < width)
    source = np.clip(source, 0, width - 1)
    ok &= known[rows, source]
    out = np.where((ok & ~known)[..., None], detail[rows, source], detail)
    return out, known | ok


def continued(canvas: Image.Image, hole: Image.Image) -> Image.Image:
    """``canvas`` (RGB) with ``hole`` ('L', 255 = unknown) painted over from its surroundings, as inpainting does.

    The colours, on a coarse grid: each row's colours on either side of the hole, mixed by distance (the bands of sky,
    sea and sand go on through it), then each column's for rows the hole spans entirely, softened so neighbouring
    rows agree.  The texture: the fine detail around the hole mirrored in from its nearer edge, so a starry sky keeps
    its stars.  Nothing of what the hole covered survives, and the fill meets the surroundings without a seam.
    """
    rgb_image = canvas.convert("RGB")
    width, height = rgb_image.size
    unknown = np.asarray(hole) > 127
    known = ~unknown
    if known.all():
        return rgb_image
    rgb = np.asarray(rgb_image, dtype=np.float64)
    if not known.any():
        return Image.new("RGB", canvas.size, tuple(int(v) for v in rgb.reshape(-1, 3).mean(axis=0)))
    factor = max(1, max(width, height) // 192)
    grid = (-(-width // factor), -(-height // factor))
    keep = Image.fromarray(known.astype(np.uint8) * 255)
    share = np.asarray(keep.resize(grid, Image.Resampling.BOX), dtype=np.float64) / 255.0
    kept = Image.fromarray((rgb * known[..., None]).astype(np.uint8)).resize(grid, Image.Resampling.BOX)
    cells = np.asarray(kept, dtype=np.float64) / np.maximum(share, 1e-6)[..., None]
    cells_known = share > 0.5
    # each edge colour averaged with its known neighbours: an outline at the edge must not streak across the hole
    spread = max(1, min(grid) // 96)
    weight = _blur(cells_known.astype(np.float64), spread)
    cells = np.where(
        cells_known[..., None], _blur(cells * cells_known[..., None], spread) / np.maximum(weight, 1e-6)[..., None], 0.0
    )
    base, reached = _across_rows(cells, cells_known)
    columns, reached_columns = _across_rows(base.transpose(1, 0, 2), reached.T)
    base = columns.transpose(1, 0, 2)
    if not reached_columns.all():
        base[~reached_columns.T] = rgb[known].mean(axis=0)
    radius = max(1, min(grid) // 48)
    base = np.where(cells_known[..., None], base, _blur(base, radius))
    low = Image.fromarray(np.clip(np.rint(base), 0, 255).astype(np.uint8)).resize(
        (width, height), Image.Resampling.BICUBIC
    )
    # the fine detail: what a small blur takes away, mirrored in along each row from the nearer edge
    blurred = np.asarray(rgb_image.filter(ImageFilter.BoxBlur(max(2, max(width, height) // 256))), dtype=np.float64)
    low_rgb = np.asarray(low, dtype=np.float64)
    carried = np.concatenate([np.where(known[..., None], rgb - blurred, 0.0), blurred], axis=-1)
    carried, got = _mirrored(carried, known)  # along rows only: mirrored down a column, waves land on the sand
    # detail only from where the colours are alike (stars from the sky into sky): no ghost of a tree in the sea
    alike = np.abs(carried[..., 3:] - low_rgb).max(axis=-1) < 28
    detail = np.where((alike & got)[..., None], carried[..., :3], 0.0)
    out = np.where(known[..., None], rgb, low_rgb + detail)
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8))


def _depth(cells: _Bools) -> _Ints:
    """The chessboard distance of each cell to the nearest cell outside ``cells`` or past the frame's edge: a square
    of side ``2 * d - 1`` centred on a cell of depth ``d`` fits inside both."""
    depth = np.zeros((cells.shape[0] + 2, cells.shape[1] + 2), dtype=np.intp)
    layer = Image.fromarray(np.pad(cells, 1).astype(np.uint8) * 255)
    while layer.getbbox():
        depth += np.asarray(layer) > 0
        layer = layer.filter(ImageFilter.MinFilter(3))
    return depth[1:-1, 1:-1]


def spots(
    hole: Image.Image,
    anchors: Sequence[tuple[float, float]],
    *,
    largest: float,
    thin: float = 0.12,
    aspect: float = 1.0,
) -> list[_Box]:
    """Squares in ``hole`` ('L', 255 = region) to draw subjects in, as large as the region holds, in pixels.

    A region that holds a square of at least ``thin`` of the picture's shorter side (a blob, a box, all but a
    corner) gets one square per anchor, the largest first, each nearest its anchor (where the subject would stand
    in a picture of its own) among the places nearly as roomy; none is bigger than ``largest`` of the shorter side.
    A thinner region (a brush stroke) gets a row of squares along it, each as big as the stroke is wide.
    """
    width, height = hole.size
    factor = max(1, max(width, height) // 256)
    grid = (-(-width // factor), -(-height // factor))
    free = np.asarray(hole.resize(grid, Image.Resampling.BOX)) > 127
    side = min(width, height)
    wanted = max(1, len(anchors))
    points = [(x / factor, y / factor) for x, y in anchors] or [(grid[0] / 2, grid[1] / 2)]
    depth = _depth(free)
    best = int(depth.max())
    if best == 0:
        return []
    cap = max(1, math.ceil((largest * side / factor + 1) / 2))
    if (2 * best - 1) * factor < thin * side:  # a stroke: a row of them, as wide as it, all along it
        found = _packed(free, points, min(best, cap), 40, gap=0, least=max(1, math.floor(0.6 * best)))
    elif wanted == 1:
        wide = _in_the_open(free, (points[0][0] * factor, points[0][1] * factor), factor, best, largest, side, aspect)
        found = [wide] if wide is not None else _packed(free, points, min(best, cap), 1, gap=1, least=1)
    else:  # several subjects share the region: the largest size at which all of them fit
        size = min(best, cap)
        found = _packed(free, points, size, wanted, gap=1, least=max(1, math.ceil(0.85 * size)))
        while len(found) < wanted and size > 1:
            size = max(1, math.floor(size * 0.8))
            found = _packed(free, points, size, wanted, gap=1, least=size)
    return [(x0 * factor, y0 * factor, x1 * factor, y1 * factor) for x0, y0, x1, y1 in found]


def _packed(
    free: _Bools, points: Sequence[tuple[float, float]], size: int, count: int, *, gap: int, least: int
) -> list[_Box]:
    """Up to ``count`` squares (in grid cells) of depth ``size`` (side ``2 * size - 1``) or, where none is left
    that deep, down to ``least``, each nearest its point (taken in turn), none overlapping another."""
    free = free.copy()
    boxes: list[_Box] = []
    while len(boxes) < count:
        depth = _depth(free)
        deepest = min(int(depth.max()), size)
        if deepest < least or deepest == 0:
            break
        ax, ay = points[len(boxes) % len(points)]
        ys, xs = np.nonzero(depth >= deepest)
        pick = int(np.argmin((xs + 0.5 - ax) ** 2 + (ys + 0.5 - ay) ** 2))
        cy, cx = int(ys[pick]), int(xs[pick])
        d = deepest
        boxes.append((cx - d + 1, cy - d + 1, cx + d, cy + d))
        free[max(0, cy - d - gap + 1) : cy + d + gap, max(0, cx - d - gap + 1) : cx + d + gap] = False
    return boxes


def _in_the_open(
    free: _Bools, anchor: tuple[float, float], factor: int, best: int, largest: float, side: int, aspect: float
) -> _Box | None:
    """For a region far bigger than the square it holds (all but the middle of the picture), a box (in grid cells)
    of ``aspect`` (width / height) as big as a subject of nearly half the region, at least 85% of it in the region,
    nearest ``anchor`` (in pixels); or None.

    What the mask keeps then hides a little of the subject, as something in front of it would, instead of the
    subject shrinking to the narrow margin the region leaves."""
    area = int(free.sum())
    span = 2 * best - 1
    if area < 3 * span * span:
        return None
    high = min(math.sqrt(area * 0.45 / aspect), largest * 1.35 * side / factor, free.shape[1] * 0.9 / aspect)
    sums = np.pad(np.cumsum(np.cumsum(free.astype(np.int64), axis=0), axis=1), ((1, 0), (1, 0)))
    while True:  # the largest size that some place holds
        h, w = max(1, round(high)), max(1, round(high * aspect))
        if h * w <= 1.3 * span * span or h >= free.shape[0] or w >= free.shape[1]:
            return None
        inside = sums[h:, w:] - sums[:-h, w:] - sums[h:, :-w] + sums[:-h, :-w]
        ys, xs = np.nonzero(inside >= 0.85 * h * w)
        if len(ys):
            break
        high *= 0.92
    ax, ay = anchor[0] / factor - w / 2, anchor[1] / factor - h / 2
    pick = int(np.argmin((xs - ax) ** 2 + (ys - ay) ** 2))
    x0, y0 = int(xs[pick]), int(ys[pick])
    return (x0, y0, x0 + w, y0 + h)


def snowed(canvas: Image.Image) -> Image.Image:
    """``canvas`` under snow: whitened, its shapes still showing through faintly, flakes falling over it."""
    rgb = np.asarray(canvas.convert("RGB"), dtype=np.float64)
    luminance = rgb @ np.array([0.299, 0.587, 0.114])
    white = np.array([232.0, 238.0, 248.0])
    out = rgb * 0.16 + white * 0.84 + (luminance - luminance.mean())[..., None] * 0.14
    rng = np.random.default_rng(int(rgb[::37, ::41].sum()) % (2**32))
    out += rng.normal(0.0, 7.0, luminance.shape)[..., None]  # the grain of fresh snow
    layer = Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8))
    # flakes: soft blue-grey-edged white dots, bigger on bigger pictures, the same for the same picture
    width, height = layer.size
    size = max(1.0, min(width, height) / 256)
    pen = ImageDraw.Draw(layer)
    for _ in range(width * height // 900):
        x, y = rng.random() * width, rng.random() * height
        r = size * (0.6 + 1.2 * rng.random())
        pen.ellipse((x - r - 1, y - r - 1, x + r + 1, y + r + 1), fill=(176, 188, 208))
        pen.ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, 255))
    return layer.filter(ImageFilter.GaussianBlur(0.5))


def recoloured(canvas: Image.Image, colour: tuple[int, int, int]) -> Image.Image:
    """``canvas`` painted ``colour``: its light and shade kept, its hue and saturation those of the colour."""
    rgb = np.asarray(canvas.convert("RGB"), dtype=np.float64)
    luminance = (rgb @ np.array([0.299, 0.587, 0.114]))[..., None]
    shade = 0.35 + 0.9 * luminance / 255.0
    target = np.asarray(colour, dtype=np.float64) * shade
    out = rgb * 0.2 + target * 0.8
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8))
