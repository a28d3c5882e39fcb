"""Art styles a prompt asks for (pixel art, pencil sketch, watercolor, oil painting, neon, black and white, sepia),
applied to a finished picture as post-processing.

Each style is a few Pillow passes, the slow ones (median filters) run on a reduced copy, so a styled 1536x1024
picture costs tens of milliseconds.  Alpha is set aside and put back, so a transparent picture stays transparent
exactly where it was.  Textures (paper grain, brush strokes) are keyed on the size only, and cached.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageEnhance, ImageFilter, ImageOps

from . import memo
from .chance import Stream, noise_bytes

__all__ = ["stylise"]

#: What each texture cache may hold, in bytes (see ``memo``): textures are 1 byte a pixel, 8 MB at 3840x2160.
_TEXTURE_BYTES = 12 * 2**20


def stylise(image: Image.Image, style: str | None) -> Image.Image:
    """``image`` in ``style`` (one ``reading`` finds in a prompt); None or an unknown style returns it unchanged."""
    painter = _PAINTERS.get(style or "")
    if painter is None:
        return image
    alpha = image.getchannel("A") if image.mode == "RGBA" else None
    out = painter(image.convert("RGB"))
    if alpha is not None:
        out = out.convert("RGBA")
        out.putalpha(alpha)
    return out


def _pixel_art(image: Image.Image) -> Image.Image:
    """Big square pixels in a small palette, as an 8-bit game would show it."""
    block = max(4, min(image.size) // 80)
    small_size = (-(-image.width // block), -(-image.height // block))
    small = image.resize(small_size, Image.Resampling.BOX)
    small = small.quantize(colors=24, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).convert("RGB")
    big = small.resize((small.width * block, small.height * block), Image.Resampling.NEAREST)
    return big.crop((0, 0, image.width, image.height))


def _pencil(image: Image.Image) -> Image.Image:
    """A graphite sketch: colour-dodge of the grey picture with its blurred negative keeps only the edges."""
    grey = image.convert("L")
    blur = ImageOps.invert(grey).filter(ImageFilter.GaussianBlur(max(1.0, min(image.size) / 180)))
    g = np.asarray(grey, dtype=np.float32)
    b = np.asarray(blur, dtype=np.float32)
    dodge = np.clip(g * 255.0 / np.maximum(1.0, 255.0 - b), 0, 255)
    lines = np.clip((dodge - 255.0) * 1.6 + 255.0, 0, 255)
    paper = np.asarray(_paper(image.size), dtype=np.float32)
    sketch = lines * (0.94 + 0.06 * paper / 255.0)
    tone = Image.fromarray(np.clip(np.rint(sketch), 0, 255).astype(np.uint8))
    return ImageOps.colorize(tone, black=(44, 44, 52), white=(250, 248, 240))


def _watercolor(image: Image.Image) -> Image.Image:
    """Soft washes: smoothed colour, darker pooled edges, light paper showing through its grain."""
    factor = 4 if min(image.size) >= 256 else 1
    small = image.reduce(factor).filter(ImageFilter.MedianFilter(5)).filter(ImageFilter.SMOOTH_MORE)
    washed = small.resize(image.size, Image.Resampling.BICUBIC)
    edges = ImageOps.invert(washed.convert("L").filter(ImageFilter.FIND_EDGES).point(lambda v: min(255, v * 3)))
    pooled = ImageChops.multiply(washed, Image.merge("RGB", (edges, edges, edges)))
    lighter = Image.blend(pooled, Image.new("RGB", image.size, (252, 250, 244)), 0.22)
    paper = _paper(image.size)
    return ImageChops.multiply(lighter, Image.merge("RGB", (paper, paper, paper)))


def _oil(image: Image.Image) -> Image.Image:
    """Thick paint: flattened colour patches, richer saturation, a brush-stroke texture in the light."""
    factor = 3 if min(image.size) >= 192 else 1
    small = image.reduce(factor).filter(ImageFilter.ModeFilter(5)).filter(ImageFilter.MedianFilter(3))
    painted = small.resize(image.size, Image.Resampling.BICUBIC)
    painted = ImageEnhance.Color(painted).enhance(1.3)
    strokes = _strokes(image.size)
    return ImageChops.overlay(painted, Image.merge("RGB", (strokes, strokes, strokes)))


def _neon(image: Image.Image) -> Image.Image:
    """Glowing outlines on a dark ground: the picture's edges in its own colours, saturated, with a halo."""
    edges = image.filter(ImageFilter.FIND_EDGES)
    edges = ImageOps.expand(edges.crop((1, 1, image.width - 1, image.height - 1)), 1)  # the frame is no edge
    bright = ImageEnhance.Color(ImageEnhance.Brightness(edges).enhance(2.6)).enhance(2.2)
    glow = bright.filter(ImageFilter.GaussianBlur(max(2.0, min(image.size) / 120)))
    dark = ImageEnhance.Brightness(image).enhance(0.12)
    return ImageChops.add(ImageChops.add(dark, ImageEnhance.Brightness(glow).enhance(2.0)), bright)


def _black_and_white(image: Image.Image) -> Image.Image:
    return ImageOps.autocontrast(image.convert("L"), cutoff=1).convert("RGB")


def _sepia(image: Image.Image) -> Image.Image:
    grey = ImageOps.autocontrast(image.convert("L"), cutoff=1)
    return ImageOps.colorize(grey, black=(46, 30, 16), white=(250, 236, 204), mid=(168, 130, 90))


@memo.image_cache(_TEXTURE_BYTES)
def _paper(size: tuple[int, int]) -> Image.Image:
    """Paper grain: soft noise in light greys, made on a small grid and upscaled, so it is cheap at any size."""
    width, height = size
    small_w, small_h = max(4, width // 3), max(4, height // 3)
    raw = np.frombuffer(noise_bytes(small_w * small_h, "paper", small_w, small_h), dtype=np.uint8)
    noise = 220.0 + raw.reshape(small_h, small_w).astype(np.float32) * (32.0 / 255.0)
    grain = Image.fromarray(np.clip(np.rint(noise), 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.8))
    return grain.resize(size, Image.Resampling.BILINEAR)


@memo.image_cache(_TEXTURE_BYTES)
def _strokes(size: tuple[int, int]) -> Image.Image:
    """Short diagonal brush strokes around mid grey, for an overlay blend (mid grey changes nothing)."""
    width, height = size
    texture = Image.new("L", size, 128)
    draw = ImageDraw.Draw(texture)
    stream = Stream("strokes", width, height)
    side = min(size)
    for _ in range(int(900 * width * height / max(1, side) ** 2)):
        x, y = stream.unit() * width, stream.unit() * height
        length = side * stream.between(0.015, 0.04)
        slope = stream.between(-0.6, 0.6)
        shade = round(stream.between(104, 152))
        draw.line((x, y, x + length, y + length * slope), fill=shade, width=max(2, side // 160))
    return texture.filter(ImageFilter.GaussianBlur(max(1.0, side / 700)))


_PAINTERS = {
    "pixel art": _pixel_art,
    "pencil sketch": _pencil,
    "watercolor": _watercolor,
    "oil painting": _oil,
    "neon": _neon,
    "black and white": _black_and_white,
    "sepia": _sepia,
}
