"""Turn prompts and input images into deterministic stand-in pixels for the offline Images API.

The offline server has no model to run, yet notebooks, tests and demos still need results that behave like real
ones: the same request must give byte-identical pictures, another ``n`` index or seed must give another picture, and
a reader should see at a glance which prompt made which image (its colour words dominate, its other words place
shapes).  Every choice here is keyed on BLAKE2b digests, never on Python's salted ``hash()``, so pictures are stable
across processes, machines and Python versions.  Nothing here knows about HTTP, models' limits or base64; the server
validates requests first and only asks this module for pixels and encoded bytes.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

__all__ = ["edit_image", "encode", "generate_image", "palette", "partial_frames", "revise_prompt", "vary_image"]

_RGB = tuple[int, int, int]
_Ink = tuple[int, ...]

#: Colour words a prompt may name, with the RGB each one paints.  Red, green, blue and friends are the pure primaries
#: so that "a red balloon" is unmistakably red when a person (or a test) looks at the pixels.
_COLOURS: dict[str, _RGB] = {
    "red": (255, 0, 0),
    "orange": (255, 140, 0),
    "yellow": (255, 230, 0),
    "green": (0, 170, 0),
    "blue": (0, 0, 255),
    "purple": (128, 0, 160),
    "violet": (143, 0, 255),
    "pink": (255, 105, 180),
    "brown": (139, 69, 19),
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "gray": (128, 128, 128),
    "grey": (128, 128, 128),
    "cyan": (0, 255, 255),
    "magenta": (255, 0, 255),
    "teal": (0, 128, 128),
    "gold": (255, 200, 0),
    "silver": (192, 192, 192),
    "navy": (0, 0, 128),
    "maroon": (128, 0, 0),
    "lime": (50, 255, 50),
    "olive": (128, 128, 0),
    "turquoise": (64, 224, 208),
    "beige": (245, 235, 200),
    "indigo": (75, 0, 130),
    "crimson": (220, 20, 60),
    "amber": (255, 191, 0),
    "coral": (255, 127, 80),
    "lavender": (181, 126, 220),
}
_COLOUR_RE = re.compile(r"\b(" + "|".join(sorted(_COLOURS, key=len, reverse=True)) + r")\b", re.IGNORECASE)
_WORD_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)*")

#: Words too common to say anything about a picture; they place no shape, so "a cat" and "the cat" look alike.
_STOPWORD_TEXT = """
    a an the and or but nor of in on at to into onto over under above below with without for from by as is are was
    were be been being it its this that these those there here some any very so too than then my your our their his
    her i me we you he she they them us who whom which what while where when how all each both few more most other
    such only own same just can will should would could may might must do does did not no up down out off again
    further once s t"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())

_SHAPE_KINDS = ("circle", "ellipse", "rectangle", "triangle", "polygon", "star", "stripes", "ring")
_MAX_SHAPES = 40
_MIN_SHAPES = 3
#: The gradient is computed on a grid this many pixels across and upscaled: a linear ramp survives bilinear
#: upscaling exactly, and it keeps a 4K background as cheap as a thumbnail.
_GRADIENT_GRID = 256


# --------------------------------------------------------------------------------------------------- hashing


def _digest(*parts: object) -> bytes:
    """Key every decision on ``repr`` of plain values so a digest never depends on the process or platform."""
    h = hashlib.blake2b(digest_size=32)
    for part in parts:
        h.update(part if isinstance(part, bytes) else repr(part).encode("utf-8"))
        h.update(b"\x1f")
    return h.digest()


class _Stream:
    """A counter-mode BLAKE2b stream of floats in [0, 1).

    ``random.Random`` and numpy's generators make no promise that their streams stay the same across versions; this
    does, which is what byte-identical pictures across upgrades need.
    """

    def __init__(self, *parts: object) -> None:
        self._key = _digest(*parts)
        self._counter = 0
        self._buffer = b""

    def unit(self) -> float:
        if len(self._buffer) < 8:
            block = hashlib.blake2b(self._counter.to_bytes(8, "little"), key=self._key).digest()
            self._counter += 1
            self._buffer += block
        chunk, self._buffer = self._buffer[:8], self._buffer[8:]
        return (int.from_bytes(chunk, "little") >> 11) / float(1 << 53)

    def between(self, low: float, high: float) -> float:
        return low + (high - low) * self.unit()

    def pick(self, count: int) -> int:
        return min(count - 1, int(self.unit() * count))


# --------------------------------------------------------------------------------------------------- colours


def _named_colours(prompt: str) -> list[str]:
    """Colour words in order of first appearance; gray and grey are one colour, so only the first spelling counts."""
    names: list[str] = []
    seen: set[_RGB] = set()
    for match in _COLOUR_RE.finditer(prompt):
        name = match.group(1).lower()
        rgb = _COLOURS[name]
        if rgb not in seen:
            seen.add(rgb)
            names.append(name)
    return names


def _hashed_palette(prompt: str) -> list[_RGB]:
    """Three hues spread around the wheel, so an unnamed prompt still gets a distinct, harmonious look of its own."""
    stream = _Stream("palette", prompt)
    base = stream.unit()
    offsets = (0.0, stream.between(0.2, 0.4), stream.between(0.55, 0.75))
    colours: list[_RGB] = []
    for offset in offsets:
        r, g, b = colorsys.hsv_to_rgb((base + offset) % 1.0, stream.between(0.5, 0.9), stream.between(0.6, 0.95))
        colours.append((round(r * 255), round(g * 255), round(b * 255)))
    return colours


def palette(prompt: str) -> list[tuple[int, int, int]]:
    """The colours a prompt's picture is painted in: the ones it names, or a stable stand-in when it names none.

    Named colours win so that a prompt's picture is recognisably its own; the hashed fallback keeps unnamed prompts
    apart from each other instead of all falling back to one default look.
    """
    names = _named_colours(prompt)
    if names:
        return [_COLOURS[name] for name in names]
    return _hashed_palette(prompt)


def _mix(colour: _RGB, other: _RGB, amount: float) -> _RGB:
    r, g, b = (round(c + (o - c) * amount) for c, o in zip(colour, other, strict=True))
    return (r, g, b)


def _shade(colour: _RGB) -> _RGB:
    """A second gradient stop for one-colour palettes: darker for bright colours, lighter for dark ones."""
    if max(colour) > 100:
        return _mix(colour, (0, 0, 0), 0.45)
    return _mix(colour, (255, 255, 255), 0.45)


def _outline(colour: _RGB) -> _RGB:
    """An edge that separates a shape from a background of its own colour, as one-colour prompts often have."""
    luminance = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
    return _mix(colour, (0, 0, 0) if luminance > 90 else (255, 255, 255), 0.55)


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


# --------------------------------------------------------------------------------------------------- composition


@dataclass(frozen=True)
class _Shape:
    kind: str
    cx: float  # fraction of width
    cy: float  # fraction of height
    radius: float  # fraction of the shorter side
    angle: float
    aspect: float
    sides: int
    colour: _RGB


def _content_words(prompt: str) -> list[str]:
    words = [word.lower() for word in _WORD_RE.findall(prompt)]
    return [word for word in words if word not in _STOPWORDS][:_MAX_SHAPES]


def _plan_shapes(prompt: str, colours: Sequence[_RGB], *, model: str, index: int, seed: int) -> list[_Shape]:
    """One shape per content word, so editing a word visibly moves or reshapes that part of the picture.

    A shape's kind and home position depend on the word alone; index, seed and model only jitter it, which is what
    makes the ``n`` pictures of one request look like siblings rather than strangers.
    """
    words = _content_words(prompt)
    keys: list[tuple[str, int]] = []
    counts: dict[str, int] = {}
    for word in words:
        counts[word] = counts.get(word, 0) + 1
        keys.append((word, counts[word]))
    filler = 0
    while len(keys) < _MIN_SHAPES:
        keys.append((f"\x00{filler}\x00{prompt}", 0))
        filler += 1
    # Many words would bury the background; shrink shapes as their number grows.
    scale = 1.0 / math.sqrt(max(1.0, len(keys) / 4.0))
    shapes: list[_Shape] = []
    for word, occurrence in keys:
        home = _Stream("shape", word, occurrence)
        jitter = _Stream("jitter", word, occurrence, model, index, seed)
        kind = _SHAPE_KINDS[home.pick(len(_SHAPE_KINDS))]
        cx = min(0.94, max(0.06, home.between(0.12, 0.88) + jitter.between(-0.2, 0.2)))
        cy = min(0.94, max(0.06, home.between(0.12, 0.88) + jitter.between(-0.2, 0.2)))
        radius = home.between(0.10, 0.28) * scale * jitter.between(0.8, 1.25)
        angle = home.between(0.0, 2.0 * math.pi) + jitter.between(-0.6, 0.6)
        aspect = home.between(0.45, 0.85)
        sides = 5 + home.pick(4)
        if word in _COLOURS:
            colour = _COLOURS[word]
        else:
            colour = colours[(home.pick(len(colours)) + index + seed) % len(colours)]
        shapes.append(_Shape(kind, cx, cy, radius, angle, aspect, sides, colour))
    shapes.sort(key=lambda shape: -shape.radius)  # big first, so small shapes stay visible on top
    return shapes


def _rotated(points: Sequence[tuple[float, float]], cx: float, cy: float, angle: float) -> list[tuple[float, float]]:
    cos, sin = math.cos(angle), math.sin(angle)
    return [(cx + x * cos - y * sin, cy + x * sin + y * cos) for x, y in points]


def _star_points(radius: float, sides: int, inner: float) -> list[tuple[float, float]]:
    points: list[tuple[float, float]] = []
    for k in range(2 * sides):
        r = radius if k % 2 == 0 else radius * inner
        theta = math.pi * k / sides
        points.append((r * math.cos(theta), r * math.sin(theta)))
    return points


def _ngon_points(radius: float, sides: int, aspect: float = 1.0) -> list[tuple[float, float]]:
    return [
        (radius * math.cos(2 * math.pi * k / sides), aspect * radius * math.sin(2 * math.pi * k / sides))
        for k in range(sides)
    ]


def _draw_shape(draw: ImageDraw.ImageDraw, shape: _Shape, width: int, height: int, alpha: bool) -> None:
    side = min(width, height)
    cx, cy = shape.cx * width, shape.cy * height
    r = max(3.0, shape.radius * side)
    line = max(1, round(side * 0.006))
    fill: _Ink = (*shape.colour, 255) if alpha else shape.colour
    edge: _Ink = (*_outline(shape.colour), 255) if alpha else _outline(shape.colour)
    kind = shape.kind
    if kind == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill, outline=edge, width=line)
    elif kind == "ring":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=fill, width=max(2, round(r * 0.35)))
    elif kind == "ellipse":
        draw.polygon(
            _rotated(_ngon_points(r, 48, shape.aspect), cx, cy, shape.angle), fill=fill, outline=edge, width=line
        )
    elif kind == "rectangle":
        h = r * shape.aspect
        corners = [(-r, -h), (r, -h), (r, h), (-r, h)]
        draw.polygon(_rotated(corners, cx, cy, shape.angle), fill=fill, outline=edge, width=line)
    elif kind == "triangle":
        draw.polygon(_rotated(_ngon_points(r, 3), cx, cy, shape.angle), fill=fill, outline=edge, width=line)
    elif kind == "polygon":
        draw.polygon(_rotated(_ngon_points(r, shape.sides), cx, cy, shape.angle), fill=fill, outline=edge, width=line)
    elif kind == "star":
        points = _star_points(r, shape.sides, 0.45)
        draw.polygon(_rotated(points, cx, cy, shape.angle), fill=fill, outline=edge, width=line)
    else:  # stripes: parallel bars filling a rotated square
        bars = shape.sides - 2
        pitch = 2 * r / (2 * bars - 1)
        for k in range(bars):
            x0 = -r + 2 * k * pitch
            bar = [(x0, -r), (x0 + pitch, -r), (x0 + pitch, r), (x0, r)]
            draw.polygon(_rotated(bar, cx, cy, shape.angle), fill=fill, outline=edge, width=line)


def _gradient(stops: Sequence[_RGB], width: int, height: int, angle: float) -> Image.Image:
    """A linear multi-stop gradient, computed on a small grid and upscaled, which is exact for a linear ramp."""
    scale = min(1.0, _GRADIENT_GRID / max(width, height))
    grid_w, grid_h = max(2, round(width * scale)), max(2, round(height * scale))
    xs = (np.arange(grid_w, dtype=np.float64) + 0.5) * (width / grid_w)
    ys = (np.arange(grid_h, dtype=np.float64) + 0.5) * (height / grid_h)
    cos, sin = math.cos(angle), math.sin(angle)
    projection = xs[np.newaxis, :] * cos + ys[:, np.newaxis] * sin
    corners = [x * cos + y * sin for x in (0.0, float(width)) for y in (0.0, float(height))]
    t = (projection - min(corners)) / max(1e-9, max(corners) - min(corners))
    positions = np.linspace(0.0, 1.0, len(stops))
    table = np.asarray(stops, dtype=np.float64)
    channels = [np.interp(t, positions, table[:, c]) for c in range(3)]
    pixels: npt.NDArray[np.uint8] = np.clip(np.rint(np.stack(channels, axis=-1)), 0, 255).astype(np.uint8)
    small = Image.fromarray(np.ascontiguousarray(pixels))
    if small.size == (width, height):
        return small
    return small.resize((width, height), Image.Resampling.BILINEAR)


def generate_image(
    prompt: str,
    width: int,
    height: int,
    *,
    model: str = "",
    index: int = 0,
    seed: int = 0,
    transparent: bool = False,
) -> Image.Image:
    """A picture that a person can tie to its prompt, and that is the same every time the same request is made.

    The background is a gradient between the palette colours (transparent when asked, as ``background=transparent``
    requests are); each content word adds one shape in a palette colour.  Drawing is done by Pillow at full size with
    no per-pixel Python work, so even 4K pictures stay cheap for the server.
    """
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    colours = palette(prompt)
    layout = _Stream("background", prompt, model, width, height, index, seed)
    if transparent:
        image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    else:
        stops = list(colours) if len(colours) > 1 else [colours[0], _shade(colours[0])]
        turn = (index + seed) % len(stops)
        stops = stops[turn:] + stops[:turn]
        image = _gradient(stops, width, height, layout.between(0.0, 2.0 * math.pi))
    draw = ImageDraw.Draw(image)
    for shape in _plan_shapes(prompt, colours, model=model, index=index, seed=seed):
        _draw_shape(draw, shape, width, height, transparent)
    return image


# --------------------------------------------------------------------------------------------------- edits


def _mean_colour(images: Sequence[Image.Image]) -> _RGB:
    total = [0.0, 0.0, 0.0]
    for image in images:
        pixels = np.asarray(image.convert("RGB").resize((16, 16), Image.Resampling.BOX), dtype=np.float64)
        for c in range(3):
            total[c] += float(pixels[:, :, c].mean())
    r, g, b = (round(value / len(images)) for value in total)
    return (r, g, b)


def _blend_rgb(image: Image.Image, colour: _RGB, amount: float) -> Image.Image:
    """Mix a flat colour into the colour channels only, so transparency decided elsewhere is left alone."""
    rgb = image.convert("RGB")
    mixed = Image.blend(rgb, Image.new("RGB", image.size, colour), amount)
    if image.mode == "RGBA":
        mixed.putalpha(image.getchannel("A"))
    return mixed


def _edit_region(mask: Image.Image) -> Image.Image:
    """255 where the edit may paint: the mask's fully transparent pixels, as the Images API defines them.

    A mask without an alpha channel is read as luminance (black = edit), which is the only meaning it could have.
    """
    alpha = mask.convert("RGBA").getchannel("A") if _has_alpha(mask) else mask.convert("L")
    return alpha.point([255] + [0] * 255)


def edit_image(
    base: Image.Image,
    prompt: str,
    *,
    mask: Image.Image | None = None,
    references: list[Image.Image] | None = None,
    index: int = 0,
    seed: int = 0,
    model: str = "",
    transparent: bool = False,
) -> Image.Image:
    """An edit that keeps what the mask protects bit for bit and shows the prompt where the mask is cleared.

    Without a mask the whole picture is fair game, but half of the base stays so the source remains recognisable.
    Further input images only tint the new content: they should influence the result, never dominate it.
    """
    mode = "RGBA" if transparent or _has_alpha(base) else "RGB"
    canvas = base.convert(mode)
    width, height = canvas.size
    fresh = generate_image(prompt, width, height, model=model, index=index, seed=seed, transparent=transparent)
    fresh = fresh.convert(mode)
    if references:
        fresh = _blend_rgb(fresh, _mean_colour(references), 0.2)
    if mask is None:
        return Image.blend(canvas, fresh, 0.5)
    if mask.size != canvas.size:
        raise ValueError(f"mask size {mask.size[0]}x{mask.size[1]} differs from image size {width}x{height}")
    return Image.composite(fresh, canvas, _edit_region(mask))


# --------------------------------------------------------------------------------------------------- variations


def _jitter_hues(image: Image.Image, degrees: float, saturation: float) -> Image.Image:
    """Nudge hue and saturation a little, so a variation stays within the source's palette but is not a copy.

    Both are the luminance-preserving colour matrices of SVG's ``hueRotate`` and ``saturate``, applied by Pillow in
    one C pass; an HSV round trip would cost several times more for a 1024 px picture.
    """
    cos, sin = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    hue = np.array(
        [
            [0.213 + cos * 0.787 - sin * 0.213, 0.715 - cos * 0.715 - sin * 0.715, 0.072 - cos * 0.072 + sin * 0.928],
            [0.213 - cos * 0.213 + sin * 0.143, 0.715 + cos * 0.285 + sin * 0.140, 0.072 - cos * 0.072 - sin * 0.283],
            [0.213 - cos * 0.213 - sin * 0.787, 0.715 - cos * 0.715 + sin * 0.715, 0.072 + cos * 0.928 + sin * 0.072],
        ]
    )
    s = saturation
    sat = np.array(
        [
            [0.213 + 0.787 * s, 0.715 - 0.715 * s, 0.072 - 0.072 * s],
            [0.213 - 0.213 * s, 0.715 + 0.285 * s, 0.072 - 0.072 * s],
            [0.213 - 0.213 * s, 0.715 - 0.715 * s, 0.072 + 0.928 * s],
        ]
    )
    combined = sat @ hue
    matrix = tuple(float(v) for row in combined for v in (*row, 0.0))
    result = image.convert("RGB").convert("RGB", matrix)
    if image.mode == "RGBA":
        result.putalpha(image.getchannel("A"))
    return result


def vary_image(
    source: Image.Image,
    *,
    index: int = 0,
    seed: int = 0,
    size: tuple[int, int] | None = None,
) -> Image.Image:
    """A sibling of the source: same layout and palette, slightly reframed, re-tinted and re-decorated.

    The reframing is a small zoom and shift, the colours come from the source itself, and every choice is keyed on a
    thumbnail of the source plus index and seed, so the same request always gives the same variation.
    """
    mode = "RGBA" if _has_alpha(source) else "RGB"
    src = source.convert(mode)
    width, height = size if size is not None else src.size
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    thumb = src.resize((16, 16), Image.Resampling.BOX)
    stream = _Stream("vary", thumb.tobytes(), src.size, (width, height), index, seed)
    zoom = stream.between(0.9, 0.96)
    crop_w, crop_h = src.width * zoom, src.height * zoom
    left, top = stream.unit() * (src.width - crop_w), stream.unit() * (src.height - crop_h)
    out = src.resize((width, height), Image.Resampling.BICUBIC, box=(left, top, left + crop_w, top + crop_h))
    degrees = stream.between(3.0, 7.0) * (1 if stream.unit() < 0.5 else -1)
    out = _jitter_hues(out, degrees, stream.between(0.95, 1.08))
    samples: npt.NDArray[np.uint8] = np.asarray(thumb, dtype=np.uint8)
    draw = ImageDraw.Draw(out)
    side = min(width, height)
    for _ in range(3 + stream.pick(4)):
        ink: _Ink = tuple(int(c) for c in samples[stream.pick(16), stream.pick(16)])
        cx, cy = stream.unit() * width, stream.unit() * height
        r = max(2.0, stream.between(0.025, 0.06) * side)
        sides = 3 + stream.pick(4)
        points = _rotated(_ngon_points(r, sides), cx, cy, stream.between(0.0, 2.0 * math.pi))
        if sides == 6:
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=ink)
        else:
            draw.polygon(points, fill=ink)
    return out


# --------------------------------------------------------------------------------------------------- streaming


#: Fraction of each preview faded toward mid grey, so no preview equals the final image even where it is flat.
_PREVIEW_FADES = (0.3, 0.15, 0.05)
_PREVIEW_BLOCKS = (64, 16, 4)


def _pixelate(image: Image.Image, block: int) -> Image.Image:
    """Average whole ``block``-sized squares; nested block sizes make each finer preview a refinement of the last."""
    if block <= 1:
        return image.copy()
    small = image.reduce(block)
    big = small.resize((small.width * block, small.height * block), Image.Resampling.NEAREST)
    return big.crop((0, 0, image.width, image.height))


def partial_frames(final: Image.Image, count: int) -> list[Image.Image]:
    """Coarse-to-fine previews for ``partial_images`` streaming, each strictly nearer the final picture than the last.

    Block sizes are 64, 16 and 4 px at 1024 px and scale with the picture, keeping the 4x nesting so that a finer
    preview never loses detail a coarser one showed.
    """
    if not 0 <= count <= len(_PREVIEW_BLOCKS):
        raise ValueError(f"partial image count must be 0..{len(_PREVIEW_BLOCKS)}, got {count}")
    if count == 0:
        return []
    work_mode = final.mode if final.mode in ("L", "LA", "RGB", "RGBA") else ("RGBA" if _has_alpha(final) else "RGB")
    work = final.convert(work_mode) if work_mode != final.mode else final
    finest = max(2, round(_PREVIEW_BLOCKS[-1] * max(work.size) / 1024))
    ratio = _PREVIEW_BLOCKS[0] // _PREVIEW_BLOCKS[1]
    blocks = [finest * ratio ** (len(_PREVIEW_BLOCKS) - 1 - k) for k in range(len(_PREVIEW_BLOCKS))][:count]
    grey_value = (128,) * len(work.getbands())
    frames: list[Image.Image] = []
    for block, fade in zip(blocks, _PREVIEW_FADES, strict=False):
        frame = _pixelate(work, block)
        grey = Image.new(work_mode, work.size, grey_value)
        if "A" in work.getbands():
            grey.putalpha(frame.getchannel("A"))
        frame = Image.blend(frame, grey, fade)
        frames.append(frame.convert(final.mode) if work_mode != final.mode else frame)
    return frames


# --------------------------------------------------------------------------------------------------- prompts


_STYLE_PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    "vivid": {
        "opener": (
            "A dramatic, hyper-detailed illustration of",
            "A bold, cinematic rendering of",
            "A striking, high-contrast image of",
        ),
        "composition": (
            "framed in a dynamic low-angle composition with a strong diagonal leading the eye",
            "set in a sweeping wide-angle composition with deep, layered space behind the subject",
            "placed off-centre in an energetic composition with bold overlapping shapes",
        ),
        "lighting": (
            "lit by intense golden-hour rim light with deep, glowing shadows",
            "under theatrical chiaroscuro spotlights with luminous highlights",
            "bathed in neon-bright backlight that makes every edge glow",
        ),
        "palette": ("saturated, electric tones of", "intensely saturated hues of", "rich, glowing shades of"),
        "finish": (
            "razor-sharp detail and an epic, larger-than-life mood",
            "hyper-real textures and a thrilling sense of scale",
            "crisp detail and a dramatic, awe-inspiring atmosphere",
        ),
    },
    "natural": {
        "opener": (
            "A soft, realistic photograph of",
            "A calm, true-to-life depiction of",
            "A gentle, naturalistic image of",
        ),
        "composition": (
            "framed at eye level in a balanced, uncluttered composition",
            "seen from a relaxed medium distance with a quiet, simple background",
            "composed with plenty of breathing room and a natural sense of depth",
        ),
        "lighting": (
            "in soft, diffused natural daylight with gentle shadows",
            "under overcast light that keeps the contrast low and even",
            "in the warm, muted light of early morning",
        ),
        "palette": ("subtle, muted tones of", "soft, understated shades of", "natural, slightly desaturated hues of"),
        "finish": (
            "fine realistic textures and an unhurried, peaceful mood",
            "true-to-life detail and a quiet, documentary feel",
            "delicate realistic detail and an honest, everyday atmosphere",
        ),
    },
}


def _nearest_colour_name(colour: _RGB) -> str:
    names = [name for name in _COLOURS if name != "grey"]
    return min(names, key=lambda name: sum((a - b) ** 2 for a, b in zip(_COLOURS[name], colour, strict=True)))


def _join_names(names: Sequence[str]) -> str:
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def revise_prompt(prompt: str, *, style: str = "vivid") -> str:
    """The richer rewrite a dall-e-3-like model reports, so code that shows ``revised_prompt`` has something real.

    It keeps the prompt verbatim (users look for their own words), names the colours the picture is painted in, and
    reads dramatic for ``vivid`` and restrained for ``natural`` just as the real model's rewrites do.
    """
    if style not in _STYLE_PHRASES:
        raise ValueError(f"style must be one of {sorted(_STYLE_PHRASES)}, got {style!r}")
    phrases = _STYLE_PHRASES[style]
    subject = " ".join(prompt.split()).rstrip(" .!;,") or "an untitled scene"
    names = _named_colours(prompt)
    if not names:
        names = list(dict.fromkeys(_nearest_colour_name(colour) for colour in _hashed_palette(prompt)))
    stream = _Stream("revise", prompt, style)

    def choose(kind: str) -> str:
        options = phrases[kind]
        return options[stream.pick(len(options))]

    opener = choose("opener")
    composition = choose("composition")
    lighting = choose("lighting")
    colours = f"{choose('palette')} {_join_names(names)}"
    finish = choose("finish")
    return f"{opener} {subject}, {composition}, {lighting}, painted in {colours}, with {finish}."


# --------------------------------------------------------------------------------------------------- encoding


def encode(image: Image.Image, fmt: str, *, compression: int = 100) -> bytes:
    """The bytes the API returns for ``output_format`` and ``output_compression``.

    PNG is always lossless; WebP keeps alpha and is lossless only at 100; JPEG has no alpha, so transparency is
    flattened onto white (as viewers show it) and quality is capped at 95, above which JPEG only grows.
    """
    kind = fmt.lower()
    buffer = io.BytesIO()
    alpha = _has_alpha(image)
    if kind == "png":
        pic = image if image.mode in ("1", "L", "LA", "P", "RGB", "RGBA") else image.convert("RGBA" if alpha else "RGB")
        pic.save(buffer, format="PNG")
    elif kind == "webp":
        pic = image.convert("RGBA" if alpha else "RGB")
        quality = min(100, max(0, compression))
        if quality == 100:
            pic.save(buffer, format="WEBP", lossless=True, quality=100)
        else:
            pic.save(buffer, format="WEBP", quality=quality)
    elif kind in ("jpeg", "jpg"):
        if alpha:
            rgba = image.convert("RGBA")
            pic = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
        else:
            pic = image.convert("RGB")
        pic.save(buffer, format="JPEG", quality=min(95, max(1, compression)))
    else:
        raise ValueError(f"unsupported image format {fmt!r}; expected png, webp or jpeg")
    return buffer.getvalue()
