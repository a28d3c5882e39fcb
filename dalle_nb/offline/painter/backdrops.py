"""Paint a scene's setting: sky, light, ground and background features, behind the subjects; cached.

A backdrop depends on the setting, the light, the colours named for its parts, the size, and a variant key derived
from (model, index, seed) — never on the rest of the prompt — so "a cat in the snow" and "a dog in the snow" share
one cached backdrop and differ only where their subjects do.  Drawing is flat, like the OpenMoji pictograms in front
of it: Pillow polygons at full size, gradients computed on a small grid and upscaled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFilter

from . import memo, pictograms
from .chance import Stream

__all__ = ["backdrop", "gradient", "lit_colour", "lit_glyph", "mix", "weather"]

RGB = tuple[int, int, int]
Box = tuple[int, int, int, int]

#: The gradient is computed on a grid this many pixels across and upscaled: a linear ramp survives bilinear
#: upscaling exactly, and it keeps a 4K background as cheap as a thumbnail.
_GRADIENT_GRID = 256

#: What the caches below may hold, in bytes (see ``memo``): a 1536x1024 backdrop takes 6 MiB, so 7 of them fit, and
#: a 3840x2160 one 32 MiB, so one; a 4K weather mask takes 8 MiB.  All the offline caches together stay under
#: 160 MiB, whatever sizes are asked for.
_BACKDROP_BYTES = 48 * 2**20
_LIT_GLYPH_BYTES = 32 * 2**20
_WEATHER_BYTES = 16 * 2**20

_SKIES: dict[str, tuple[RGB, ...]] = {
    "day": ((64, 132, 220), (140, 192, 238), (198, 226, 248)),
    "snowday": ((146, 174, 210), (200, 216, 234), (232, 239, 246)),
    "night": ((6, 10, 32), (16, 26, 66), (40, 52, 104)),
    "sunset": ((58, 40, 108), (196, 78, 108), (248, 146, 78), (255, 206, 120)),
    "dusk": ((28, 28, 78), (104, 68, 136), (214, 128, 140)),
    "dawn": ((104, 146, 206), (236, 178, 190), (255, 220, 172)),
    "cloudy": ((118, 128, 142), (166, 174, 186), (204, 207, 212)),
    "fog": ((184, 189, 195), (208, 212, 216), (226, 228, 230)),
}
_GROUNDS: dict[str, tuple[RGB, RGB]] = {  # (at the horizon, at the bottom)
    "grass": ((150, 198, 104), (72, 148, 62)),
    "snow": ((222, 230, 242), (252, 253, 255)),
    "sand": ((236, 216, 168), (222, 190, 130)),
    "water": ((78, 138, 196), (22, 84, 152)),
    "road": ((120, 120, 128), (78, 78, 86)),
    "floor": ((176, 124, 82), (136, 92, 58)),
    "rock": ((150, 136, 120), (110, 96, 84)),
}
#: How light colours the ground (and the pictograms) as a channel multiplier.
LIGHT_FILTERS: dict[str, tuple[float, float, float]] = {
    "day": (1.0, 1.0, 1.0),
    "night": (0.38, 0.44, 0.66),
    "sunset": (1.0, 0.82, 0.72),
    "dusk": (0.66, 0.6, 0.8),
    "dawn": (1.0, 0.92, 0.9),
}


def mix(colour: Sequence[int], other: Sequence[int], amount: float) -> RGB:
    r, g, b = (round(c + (o - c) * amount) for c, o in zip(colour, other, strict=True))
    return (r, g, b)


def lit_colour(colour: RGB, light: str) -> RGB:
    """A colour as the scene's light shows it."""
    return _lit(colour, light)


def _lit(colour: RGB, light: str) -> RGB:
    f = LIGHT_FILTERS.get(light, (1.0, 1.0, 1.0))
    r, g, b = (min(255, round(c * k)) for c, k in zip(colour, f, strict=True))
    return (r, g, b)


def gradient(stops: Sequence[RGB], width: int, height: int, angle: float = math.pi / 2) -> Image.Image:
    """A linear multi-stop gradient, computed on a small grid and upscaled, which is exact for a linear ramp.

    ``angle`` is the direction of travel; pi/2 runs from the top edge (first stop) to the bottom edge (last).
    """
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


def _band(image: Image.Image, stops: Sequence[RGB], top: int, bottom: int) -> None:
    """Paste a vertical gradient between rows ``top`` and ``bottom``."""
    if bottom - top < 1:
        return
    image.paste(gradient(stops, image.width, bottom - top), (0, top))


def _sky_stops(light: str, kind: str, ground: str, weather: str | None, tint: RGB | None) -> tuple[RGB, ...]:
    name = light
    if light == "day" and ground == "snow":
        name = "snowday"
    if weather in ("cloudy", "rain") and light == "day":
        name = "cloudy"
    if weather == "fog" and light == "day":
        name = "fog"
    stops = _SKIES[name]
    if tint is not None:
        keep = 0.35 if light in ("night", "dusk") else 0.0
        stops = tuple(mix(tint, stop, keep + 0.25 * k / max(1, len(stops) - 1)) for k, stop in enumerate(stops))
    return stops


@memo.image_cache(_BACKDROP_BYTES)
def backdrop(
    kind: str,
    ground: str,
    features: tuple[str, ...],
    light: str,
    weather: str | None,
    tints: tuple[tuple[str, RGB], ...],
    palette: tuple[RGB, ...],
    width: int,
    height: int,
    horizon: int,
    variant: bytes,
    cliff: Box | None,
) -> Image.Image:
    """The setting behind the subjects, as an RGB image (cached: callers must copy before drawing on it)."""
    tint = dict(tints)
    stream = Stream("backdrop", variant)
    side = min(width, height)
    if kind == "studio":
        return _studio(palette, tint.get("studio"), width, height, horizon)
    if kind == "space":
        return _space(width, height, stream)
    if kind in ("living room", "kitchen", "bedroom", "room"):
        return _room(kind, features, light, tint, width, height, horizon, stream)
    sky_stops = _sky_stops(light, kind, ground, weather, tint.get("sky"))
    image = gradient(sky_stops, width, max(1, horizon))
    canvas = Image.new("RGB", (width, height), sky_stops[-1])
    canvas.paste(image, (0, 0))
    draw = ImageDraw.Draw(canvas)
    if light in ("night", "dusk"):
        _stars(draw, width, horizon, stream, 420 if light == "night" else 60)
    _sun_or_moon(draw, light, weather, width, height, horizon, stream)
    if weather in (None, "cloudy") and light != "night":
        _clouds(draw, width, horizon, stream, tint.get("clouds"), light, 5 if weather == "cloudy" else 3)
    if "mountains" in features or kind == "mountains":
        _mountains(draw, width, height, horizon, stream, light, ground == "snow", sky_stops[-1])
    if "skyline" in features or kind == "city":
        _skyline(draw, width, height, horizon, stream, light, tint.get("skyline"))
    ground_top, ground_bottom = _GROUNDS.get(ground, _GROUNDS["grass"])
    named = tint.get("ground") or (tint.get("water") if ground == "water" else None)
    if named is not None:
        ground_top, ground_bottom = mix(ground_top, named, 0.8), mix(ground_bottom, named, 0.9)
    _band(canvas, (_lit(ground_top, light), _lit(ground_bottom, light)), horizon, height)
    if ground == "water":
        _waves(draw, width, height, horizon, stream, light)
    elif ground == "snow":
        _snow_drifts(draw, width, height, horizon, stream, light)
    elif ground == "grass":
        _tufts(draw, width, height, horizon, stream, light, named)
    elif ground == "road":
        _road(draw, width, height, horizon, light)
    if "sea" in features:
        _sea_band(canvas, draw, width, height, horizon, stream, light, tint.get("water"))
    if "dunes" in features:
        _dunes(draw, width, height, horizon, stream, light)
    if "cliff" in features and cliff is not None:
        _cliff(draw, cliff, width, height, stream, light)
    if "trees" in features or kind == "forest":
        _forest(canvas, width, height, horizon, stream, light, tint.get("trees"), ground == "snow")
    if kind == "desert":
        _prop_glyph(canvas, "\U0001f335", 0.2 * side, width, height, horizon, stream, light)
    if kind == "beach":
        _prop_glyph(canvas, "\U0001f334", 0.28 * side, width, height, horizon, stream, light)
    return canvas


# --------------------------------------------------------------------------------------------------- sky


def _stars(draw: ImageDraw.ImageDraw, width: int, bottom: int, stream: Stream, count: int) -> None:
    side = max(1.0, min(width, bottom) / 512)
    for _ in range(count):
        x, y = stream.unit() * width, stream.unit() * bottom * 0.95
        r = side * stream.between(0.6, 2.2)
        shade = round(stream.between(180, 255))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(shade, shade, min(255, shade + 20)))


def _sun_or_moon(
    draw: ImageDraw.ImageDraw, light: str, weather: str | None, width: int, height: int, horizon: int, stream: Stream
) -> None:
    side = min(width, height)
    if weather in ("rain", "fog", "cloudy"):
        return
    if light == "sunset":
        cx, cy, r = width * stream.between(0.3, 0.7), horizon - side * 0.02, side * 0.11
        for k, colour in enumerate(((255, 170, 90), (255, 140, 60), (255, 110, 40))):
            rr = r * (1.6 - 0.3 * k)
            draw.ellipse((cx - rr, cy - rr, cx + rr, cy + rr), fill=mix(colour, (248, 146, 78), 0.5 - 0.2 * k))
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(255, 226, 140))
    elif light == "dawn":
        cx, cy, r = width * stream.between(0.2, 0.8), horizon - side * 0.05, side * 0.07
        draw.ellipse((cx - r * 1.5, cy - r * 1.5, cx + r * 1.5, cy + r * 1.5), fill=(255, 228, 190))
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(255, 242, 200))
    elif light == "night":
        cx, cy, r = width * stream.between(0.7, 0.88), height * stream.between(0.1, 0.18), side * 0.055
        draw.ellipse((cx - r * 1.8, cy - r * 1.8, cx + r * 1.8, cy + r * 1.8), fill=(40, 52, 100))
        draw.ellipse((cx - r * 1.35, cy - r * 1.35, cx + r * 1.35, cy + r * 1.35), fill=(70, 80, 124))
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(246, 240, 212))
        draw.ellipse((cx - r * 0.35, cy - r * 0.1, cx - r * 0.05, cy + r * 0.2), fill=(226, 220, 190))
        draw.ellipse((cx + r * 0.2, cy - r * 0.5, cx + r * 0.45, cy - r * 0.25), fill=(228, 222, 194))
    elif light == "day":
        cx, cy, r = width * stream.between(0.08, 0.22), height * stream.between(0.08, 0.14), side * 0.05
        if stream.unit() < 0.5:
            cx = width - cx
        draw.ellipse((cx - r * 1.6, cy - r * 1.6, cx + r * 1.6, cy + r * 1.6), fill=(214, 234, 250))
        draw.ellipse((cx - r * 1.25, cy - r * 1.25, cx + r * 1.25, cy + r * 1.25), fill=(255, 246, 206))
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(255, 236, 150))


def _cloud(
    draw: ImageDraw.ImageDraw, cx: float, cy: float, size: float, colour: RGB, shadow: RGB, stream: Stream
) -> None:
    puffs = [(-0.55, 0.1, 0.38), (-0.2, -0.15, 0.5), (0.25, -0.05, 0.45), (0.6, 0.12, 0.32)]
    base = (cx - size * 0.9, cy, cx + size * 0.9, cy + size * 0.35)
    draw.rounded_rectangle(base, radius=size * 0.17, fill=shadow)
    for dx, dy, r in puffs:
        rr = r * size * stream.between(0.85, 1.1)
        x, y = cx + dx * size, cy + dy * size
        draw.ellipse((x - rr, y - rr + size * 0.06, x + rr, y + rr + size * 0.06), fill=shadow)
    for dx, dy, r in puffs:
        rr = r * size * stream.between(0.85, 1.0)
        x, y = cx + dx * size, cy + dy * size
        draw.ellipse((x - rr, y - rr, x + rr, y + rr), fill=colour)
    draw.rounded_rectangle(
        (base[0], base[1] - size * 0.1, base[2], base[3] - size * 0.08), radius=size * 0.15, fill=colour
    )


def _clouds(
    draw: ImageDraw.ImageDraw, width: int, horizon: int, stream: Stream, tint: RGB | None, light: str, count: int
) -> None:
    colour = tint or {"sunset": (255, 196, 176), "dawn": (255, 232, 228), "dusk": (186, 150, 190)}.get(
        light, (255, 255, 255)
    )
    shadow = mix(colour, (120, 130, 160), 0.18)
    side = min(width, horizon * 2)
    for k in range(count):
        cx = width * ((k + stream.between(0.2, 0.8)) / count)
        cy = horizon * stream.between(0.14, 0.55)
        _cloud(draw, cx, cy, side * stream.between(0.07, 0.12), colour, shadow, stream)


def _ridge(width: int, base: float, amplitude: float, stream: Stream, peaks: int) -> list[tuple[float, float]]:
    xs = [width * (k / peaks) + stream.between(-0.3, 0.3) * width / peaks for k in range(peaks + 1)]
    points = [(-width * 0.05, base)]
    for k, x in enumerate(xs):
        peak_y = base - amplitude * stream.between(0.45, 1.0)
        points.append((x, peak_y))
        if k < peaks:
            points.append((x + width / peaks / 2, base - amplitude * stream.between(0.05, 0.35)))
    points.append((width * 1.05, base))
    return points


def _mountains(draw: ImageDraw.ImageDraw, width: int, height: int, horizon: int, stream: Stream, light: str,
               snowy: bool, haze: RGB) -> None:  # fmt: skip
    side = min(width, height)
    for layer, (colour, amplitude, peaks) in enumerate((((118, 136, 170), 0.34, 3), ((86, 104, 128), 0.22, 4))):
        lit = mix(_lit(colour, light), haze, 0.35 - 0.15 * layer)
        points = _ridge(width, horizon + 2, amplitude * side, stream, peaks)
        draw.polygon(points, fill=lit)
        if snowy or layer == 0:
            snow = _lit((246, 248, 252), light)
            for k in range(1, len(points) - 1):
                x, y = points[k]
                if y < horizon - amplitude * side * 0.55:
                    depth = (horizon - y) * 0.22
                    left_x, left_y = points[k - 1]
                    right_x, right_y = points[k + 1]
                    lt = depth / max(1.0, left_y - y)
                    rt = depth / max(1.0, right_y - y)
                    draw.polygon(
                        [
                            (x, y),
                            (x + (right_x - x) * rt, y + depth),
                            (x, y + depth * 0.7),
                            (x + (left_x - x) * lt, y + depth),
                        ],
                        fill=snow,
                    )


def _skyline(
    draw: ImageDraw.ImageDraw, width: int, height: int, horizon: int, stream: Stream, light: str, tint: RGB | None
) -> None:
    side = min(width, height)
    night = light in ("night", "dusk")
    for layer in range(2):
        x = -stream.between(0, 0.05) * width
        while x < width:
            w = side * stream.between(0.07, 0.13) * (0.8 if layer == 0 else 1.0)
            h = side * stream.between(0.12, 0.36) * (1.15 if layer == 0 else 0.85)
            base_colour = tint or ((70, 78, 104) if layer == 0 else (96, 104, 130))
            colour = mix(_lit(base_colour, light), (30, 34, 56), 0.3) if night else _lit(base_colour, light)
            if layer == 0:
                colour = mix(colour, (150, 170, 200) if not night else (20, 24, 50), 0.35)
            top = horizon - h
            draw.rectangle((x, top, x + w, horizon + 1), fill=colour)
            if stream.unit() < 0.35:  # a rooftop: a water tank or an antenna
                roof = mix(colour, (0, 0, 0), 0.25)
                if stream.unit() < 0.5:
                    draw.rectangle((x + w * 0.2, top - side * 0.025, x + w * 0.45, top), fill=roof)
                else:
                    draw.line((x + w * 0.6, top, x + w * 0.6, top - side * 0.06), fill=roof, width=max(1, side // 300))
            if layer == 0 and night:
                for _ in range(int(h / (side * 0.03))):
                    if stream.unit() < 0.4:
                        wx, wy = x + w * stream.between(0.1, 0.8), top + h * stream.between(0.05, 0.9)
                        draw.rectangle(
                            (wx, wy, wx + side * 0.008, wy + side * 0.01), fill=mix(colour, (255, 214, 120), 0.5)
                        )
            if layer == 1:
                cols, rows = max(2, int(w / (side * 0.022))), max(3, int(h / (side * 0.03)))
                cw, rh = w / cols, h / rows
                for c in range(cols):
                    for r in range(rows - 1):
                        lit_window = stream.unit() < (0.55 if night else 0.0)
                        fill = (
                            (255, 214, 120)
                            if lit_window
                            else mix(colour, (170, 200, 230) if not night else (10, 12, 30), 0.45)
                        )
                        wx, wy = x + c * cw + cw * 0.25, top + r * rh + rh * 0.3
                        draw.rectangle((wx, wy, wx + cw * 0.5, wy + rh * 0.45), fill=fill)
            x += w + side * stream.between(0.0, 0.02)


# --------------------------------------------------------------------------------------------------- ground


def _waves(draw: ImageDraw.ImageDraw, width: int, height: int, horizon: int, stream: Stream, light: str) -> None:
    side = min(width, height)
    colour = _lit((150, 196, 232), light)
    for _ in range(int(26 * width / side)):
        t = stream.unit() ** 1.6
        y = horizon + (height - horizon) * (0.04 + 0.94 * t)
        length = side * (0.03 + 0.09 * t)
        x = stream.unit() * width
        thick = max(1, round(side * (0.002 + 0.006 * t)))
        draw.arc((x - length, y - length * 0.25, x + length, y + length * 0.25), 200, 340, fill=colour, width=thick)


def _snow_drifts(draw: ImageDraw.ImageDraw, width: int, height: int, horizon: int, stream: Stream, light: str) -> None:
    shadow = _lit((206, 218, 236), light)
    side = min(width, height)
    for _ in range(5):
        cx, cy = stream.unit() * width, horizon + (height - horizon) * stream.between(0.15, 0.95)
        rx, ry = side * stream.between(0.12, 0.3), side * stream.between(0.015, 0.035)
        draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=shadow)
        draw.ellipse((cx - rx * 0.92, cy - ry * 1.6, cx + rx * 0.92, cy + ry * 0.3), fill=_lit((250, 252, 255), light))


def _tufts(
    draw: ImageDraw.ImageDraw, width: int, height: int, horizon: int, stream: Stream, light: str, tint: RGB | None
) -> None:
    side = min(width, height)
    colour = _lit(mix(tint, (0, 0, 0), 0.3) if tint else (58, 128, 52), light)
    for _ in range(int(40 * width / side)):
        t = stream.unit()
        x, y = stream.unit() * width, horizon + (height - horizon) * (0.08 + 0.9 * t)
        h = side * (0.008 + 0.022 * t)
        for dx in (-0.5, 0.0, 0.5):
            draw.line((x + dx * h * 0.6, y, x + dx * h, y - h), fill=colour, width=max(1, round(h * 0.18)))


def _road(draw: ImageDraw.ImageDraw, width: int, height: int, horizon: int, light: str) -> None:
    side = min(width, height)
    pavement = _lit((168, 166, 160), light)
    kerb = horizon + (height - horizon) * 0.22
    draw.rectangle((0, horizon, width, kerb), fill=pavement)
    draw.line((0, kerb, width, kerb), fill=_lit((200, 198, 190), light), width=max(2, side // 160))
    for k in range(1, 12):  # paving slabs
        x = width * k / 11
        draw.line((x, horizon, x - side * 0.03, kerb), fill=mix(pavement, (0, 0, 0), 0.12), width=max(1, side // 400))
    night = light in ("night", "dusk")
    post = _lit((60, 64, 72), light) if not night else (40, 42, 50)
    for k in range(4):  # street lamps, lit at night
        x = width * (0.1 + 0.27 * k)
        foot, head = kerb - side * 0.01, horizon - side * 0.16
        if night:
            glow = mix(pavement, (255, 220, 150), 0.35)
            draw.ellipse((x - side * 0.08, foot - side * 0.025, x + side * 0.08, foot + side * 0.02), fill=glow)
        draw.line((x, foot, x, head), fill=post, width=max(2, side // 140))
        draw.line((x, head, x + side * 0.03, head), fill=post, width=max(2, side // 160))
        lamp = (255, 226, 150) if night else _lit((220, 220, 210), light)
        draw.ellipse((x + side * 0.018, head - side * 0.004, x + side * 0.045, head + side * 0.016), fill=lamp)
    dash_y = horizon + (height - horizon) * 0.62
    dash = _lit((236, 226, 170), light)
    x = 0.0
    while x < width:
        draw.rectangle((x, dash_y - side * 0.006, x + side * 0.07, dash_y + side * 0.006), fill=dash)
        x += side * 0.13


def _sea_band(canvas: Image.Image, draw: ImageDraw.ImageDraw, width: int, height: int, horizon: int, stream: Stream,
              light: str, tint: RGB | None) -> None:  # fmt: skip
    shore = horizon + round((height - horizon) * 0.3)
    top, bottom = _GROUNDS["water"]
    if tint is not None:
        top, bottom = mix(top, tint, 0.8), mix(bottom, tint, 0.9)
    _band(canvas, (_lit(top, light), _lit(mix(top, bottom, 0.6), light)), horizon, shore)
    foam = _lit((246, 250, 252), light)
    side = min(width, height)
    points = [(0.0, float(shore))]
    for k in range(25):
        x = width * k / 24
        points.append((x, shore + math.sin(k * 1.3 + stream.unit()) * side * 0.008))
    points.append((float(width), float(shore)))
    draw.line(points, fill=foam, width=max(2, round(side * 0.012)), joint="curve")
    _waves(draw, width, shore, horizon, stream, light)


def _dunes(draw: ImageDraw.ImageDraw, width: int, height: int, horizon: int, stream: Stream, light: str) -> None:
    for layer, colour in enumerate(((230, 200, 140), (214, 178, 116), (236, 206, 150))):
        base = horizon + (height - horizon) * (0.1 + 0.3 * layer)
        amp = (height - horizon) * 0.12
        phase, freq = stream.between(0, 6.28), stream.between(1.2, 2.4)
        points = [(0.0, float(height))]
        for k in range(41):
            x = width * k / 40
            points.append((x, base - amp * (0.5 + 0.5 * math.sin(phase + freq * 6.28 * k / 40))))
        points.append((float(width), float(height)))
        draw.polygon(points, fill=_lit(colour, light))


def _cliff(draw: ImageDraw.ImageDraw, box: Box, width: int, height: int, stream: Stream, light: str) -> None:
    x0, top, x1, bottom = box
    on_left = x0 == 0
    edge = x1 if on_left else x0
    side = min(width, height)
    rock, dark = _lit((128, 110, 94), light), _lit((96, 82, 72), light)
    points: list[tuple[float, float]] = [(0 if on_left else width, top), (edge, top)]
    steps = 7
    for k in range(1, steps + 1):
        y = top + (bottom - top) * k / steps
        jag = side * stream.between(0.0, 0.05) * (1 if on_left else -1)
        points.append((edge + jag + (bottom - top) * 0.08 * k / steps * (1 if on_left else -1), y))
    points.append((0 if on_left else width, bottom))
    draw.polygon(points, fill=rock)
    for _ in range(6):
        y = top + (bottom - top) * stream.between(0.15, 0.95)
        x_a = (0 if on_left else width) + (edge - (0 if on_left else width)) * stream.between(0.2, 0.9)
        draw.line(
            (x_a, y, x_a + side * 0.08 * (1 if on_left else -1), y + side * 0.02), fill=dark, width=max(2, side // 200)
        )
    grass = _lit((96, 160, 70), light)
    draw.rectangle(
        (
            min(0 if on_left else width, edge),
            top - side * 0.015,
            max(0 if on_left else width, edge),
            top + side * 0.012,
        ),
        fill=grass,
    )


def _forest(canvas: Image.Image, width: int, height: int, horizon: int, stream: Stream, light: str, tint: RGB | None,
            snowy: bool) -> None:  # fmt: skip
    """Rows of tree pictograms from the horizon forward, hazier further back; the middle stays open for subjects."""
    side = min(width, height)
    haze = _SKIES["snowday" if snowy else "day"][-1] if light == "day" else _lit((120, 130, 150), light)
    for row, (size, fade, spacing) in enumerate(((0.13, 0.45, 0.55), (0.2, 0.22, 0.6), (0.34, 0.0, 0.7))):
        h = round(side * size)
        y = horizon + round((height - horizon) * (0.02 + 0.16 * row)) - h
        x = -h * stream.between(0.2, 0.6)
        while x < width:
            if row == 2 and 0.22 * width < x + h * 0.3 < 0.74 * width:
                x += h * spacing
                continue
            char = "\U0001f332" if snowy or stream.unit() < 0.6 else "\U0001f333"
            ratio = pictograms.aspect(char)
            scale = stream.between(0.85, 1.12)
            th = pictograms.rung(h * scale)
            tree = lit_glyph(char, round(th * ratio), th, tint, False, light, haze, fade)
            canvas.paste(tree, (round(x), y + h - th), tree)
            x += th * ratio * spacing * stream.between(0.8, 1.2)


def _prop_glyph(canvas: Image.Image, char: str, size: float, width: int, height: int, horizon: int, stream: Stream,
                light: str) -> None:  # fmt: skip
    h = round(size)
    w = round(h * pictograms.aspect(char))
    x = (
        round(width * stream.between(0.02, 0.1))
        if stream.unit() < 0.5
        else round(width * stream.between(0.9, 0.98)) - w
    )
    y = horizon + round((height - horizon) * 0.35) - h
    image = lit_glyph(char, w, h, None, False, light)
    canvas.paste(image, (x, y), image)


@memo.image_cache(_LIT_GLYPH_BYTES)
def lit_glyph(
    char: str,
    width: int,
    height: int,
    tint: RGB | None = None,
    flip: bool = False,
    light: str = "day",
    haze: RGB = (0, 0, 0),
    fade: float = 0.0,
    strength: float = 1.0,
) -> Image.Image:
    """A pictogram in the scene's light (a fox at night is not lit like noon), faded toward ``haze`` with distance.

    ``strength`` below 1 lights it less than the setting: a subject stays the thing a viewer looks at.
    """
    image = pictograms.glyph(char, width, height, tint, flip)
    r, g, b = (1.0 - (1.0 - k) * strength for k in LIGHT_FILTERS.get(light, (1.0, 1.0, 1.0)))
    f = (r, g, b)
    if fade <= 0 and f == (1.0, 1.0, 1.0):
        return image
    data = np.asarray(image, dtype=np.float32)
    rgb = data[..., :3] * np.asarray(f, dtype=np.float32)
    rgb = rgb + (np.asarray(haze, dtype=np.float32) - rgb) * fade
    out = np.concatenate([np.clip(np.rint(rgb), 0, 255), data[..., 3:]], axis=-1).astype(np.uint8)
    return Image.fromarray(out)


# --------------------------------------------------------------------------------------------------- other places


def _studio(palette: Sequence[RGB], named: RGB | None, width: int, height: int, horizon: int) -> Image.Image:
    """A soft card in a pale version of the prompt's colours, with a floor: what a pictogram alone stands on."""
    base = named or palette[0]
    top = mix(base, (255, 255, 255), 0.72)
    low = mix(base, (255, 255, 255), 0.55)
    canvas = Image.new("RGB", (width, height))
    _band(canvas, (top, mix(top, low, 0.5)), 0, horizon)
    _band(canvas, (mix(low, (0, 0, 0), 0.04), mix(low, (0, 0, 0), 0.14)), horizon, height)
    return canvas


def _space(width: int, height: int, stream: Stream) -> Image.Image:
    small_w, small_h = max(8, width // 16), max(8, height // 16)
    nebula = Image.new("RGB", (small_w, small_h), (6, 6, 20))
    draw = ImageDraw.Draw(nebula)
    for _ in range(4):
        cx, cy = stream.unit() * small_w, stream.unit() * small_h
        r = min(small_w, small_h) * stream.between(0.15, 0.4)
        colour = ((70, 30, 110), (20, 50, 110), (110, 30, 80), (30, 80, 100))[stream.pick(4)]
        draw.ellipse((cx - r, cy - r * 0.6, cx + r, cy + r * 0.6), fill=colour)
    nebula = nebula.filter(ImageFilter.GaussianBlur(min(small_w, small_h) / 8))
    canvas = nebula.resize((width, height), Image.Resampling.BILINEAR)
    _stars(ImageDraw.Draw(canvas), width, height, stream, 260)
    side = min(width, height)
    planet = pictograms.glyph("\U0001fa90", round(side * 0.2 * 1.5), round(side * 0.2))
    canvas.paste(planet, (round(width * stream.between(0.04, 0.2)), round(height * stream.between(0.06, 0.2))), planet)
    return canvas


def _room(kind: str, features: tuple[str, ...], light: str, tint: dict[str, RGB], width: int, height: int,
          floor: int, stream: Stream) -> Image.Image:  # fmt: skip
    side = min(width, height)
    night = light in ("night", "dusk")
    wall = tint.get("walls") or {"kitchen": (226, 236, 226), "bedroom": (214, 206, 232)}.get(kind, (238, 222, 196))
    wall_lit = mix(wall, (60, 50, 60), 0.35) if night else wall
    canvas = Image.new("RGB", (width, height))
    _band(canvas, (mix(wall_lit, (255, 255, 255), 0.12), mix(wall_lit, (0, 0, 0), 0.08)), 0, floor)
    wood_top, wood_bottom = _GROUNDS["floor"]
    if night:
        wood_top, wood_bottom = mix(wood_top, (30, 20, 30), 0.4), mix(wood_bottom, (30, 20, 30), 0.4)
    _band(canvas, (wood_top, wood_bottom), floor, height)
    draw = ImageDraw.Draw(canvas)
    plank = mix(wood_bottom, (0, 0, 0), 0.18)
    for k in range(1, 7):
        y = floor + (height - floor) * (k / 7) ** 1.4
        draw.line((0, y, width, y), fill=plank, width=max(1, side // 400))
    draw.line((0, floor, width, floor), fill=mix(wall_lit, (0, 0, 0), 0.3), width=max(2, side // 120))
    if "tiles" in features:
        tile = mix(wall_lit, (255, 255, 255), 0.3)
        counter_top = floor - round(side * 0.2)
        draw.rectangle((0, counter_top, width, floor), fill=mix(wall_lit, (120, 90, 70), 0.5))
        draw.rectangle((0, counter_top - side * 0.02, width, counter_top), fill=(236, 236, 232))
        step = side * 0.06
        y = counter_top - step * 3
        while y < counter_top - 1:
            x = 0.0
            while x < width:
                draw.rectangle((x + 1, y + 1, x + step - 2, y + step - 2), outline=mix(tile, (0, 0, 0), 0.1), fill=tile)
                x += step
            y += step
    if "window" in features:
        ww, wh = side * 0.34, side * 0.3
        wx = width * (0.08 if stream.unit() < 0.5 else 0.6)
        wy = floor * 0.14
        stops = _SKIES.get(light, _SKIES["day"])
        pane = gradient(stops, round(ww), round(wh))
        canvas.paste(pane, (round(wx), round(wy)))
        if night:
            _stars(ImageDraw.Draw(canvas), width, 0, stream, 0)
            for _ in range(12):
                sx, sy = wx + stream.unit() * ww, wy + stream.unit() * wh
                draw.ellipse((sx - 1.5, sy - 1.5, sx + 1.5, sy + 1.5), fill=(240, 240, 255))
        else:
            _cloud(draw, wx + ww * 0.55, wy + wh * 0.45, ww * 0.16, (255, 255, 255), (226, 232, 242), stream)
        frame = (250, 248, 240) if not night else (150, 140, 140)
        bar = max(3, round(side * 0.012))
        draw.rectangle((wx, wy, wx + ww, wy + wh), outline=frame, width=bar * 2)
        draw.line((wx + ww / 2, wy, wx + ww / 2, wy + wh), fill=frame, width=bar)
        draw.line((wx, wy + wh / 2, wx + ww, wy + wh / 2), fill=frame, width=bar)
        draw.rectangle((wx - bar, wy + wh, wx + ww + bar, wy + wh + bar * 1.6), fill=frame)
    if "rug" in features:
        cx, cy = width * 0.5, floor + (height - floor) * 0.58
        rx, ry = width * 0.36, (height - floor) * 0.3
        colour = (178, 70, 60) if not night else (110, 50, 50)
        draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=colour)
        draw.ellipse(
            (cx - rx * 0.82, cy - ry * 0.74, cx + rx * 0.82, cy + ry * 0.74),
            outline=(236, 190, 120),
            width=max(2, side // 150),
        )
    if kind == "bedroom":
        frame_colour = (120, 90, 70)
        fx, fy, fw, fh = width * 0.72, floor * 0.2, side * 0.16, side * 0.12
        draw.rectangle(
            (fx, fy, fx + fw, fy + fh), fill=(180, 210, 190), outline=frame_colour, width=max(3, side // 100)
        )
    return canvas


# --------------------------------------------------------------------------------------------------- weather


@memo.image_cache(_WEATHER_BYTES)
def _weather_layer(kind: str, width: int, height: int, horizon: int, variant: bytes) -> Image.Image:
    """An 'L' mask of rain streaks, snowflakes or fog, cached like backdrops (it does not depend on the prompt)."""
    stream = Stream("weather", kind, variant)
    side = min(width, height)
    if kind == "fog":
        rows = np.linspace(0.0, 1.0, 64, dtype=np.float64)
        centre = horizon / height
        strength = 0.5 * np.exp(-(((rows - centre) / 0.25) ** 2)) + 0.12
        column = np.clip(np.rint(strength * 255), 0, 255).astype(np.uint8)[:, None]
        return Image.fromarray(np.repeat(column, 4, axis=1)).resize((width, height), Image.Resampling.BILINEAR)
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    if kind == "rain":
        for _ in range(int(320 * width * height / side**2)):
            x, y = stream.unit() * width * 1.1, stream.unit() * height
            length = side * stream.between(0.03, 0.07)
            draw.line(
                (x, y, x - length * 0.3, y + length), fill=round(stream.between(90, 170)), width=max(1, side // 512)
            )
    else:
        for _ in range(int(220 * width * height / side**2)):
            x, y = stream.unit() * width, stream.unit() * height
            r = side * stream.between(0.002, 0.008)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=round(stream.between(180, 255)))
    return mask


def weather(image: Image.Image, kind: str | None, horizon: int, variant: bytes) -> Image.Image:
    """Rain, falling snow or fog over the whole picture, subjects included, as weather is."""
    if kind not in ("rain", "snowfall", "fog"):
        return image
    mask = _weather_layer(kind, image.width, image.height, horizon, variant)
    colour = {"rain": (210, 222, 240), "snowfall": (255, 255, 255), "fog": (226, 229, 233)}[kind]
    layer = Image.new(image.mode, image.size, colour if image.mode == "RGB" else (*colour, 255))
    if image.mode == "RGBA":
        mask = Image.fromarray(np.minimum(np.asarray(mask), np.asarray(image.getchannel("A"))))
    return Image.composite(layer, image, mask)
