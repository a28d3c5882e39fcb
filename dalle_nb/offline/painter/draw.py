"""Turn scenes, prompts and input images into the offline Images API's pixels and encoded bytes.

The offline server has no model to run, yet notebooks, tests and demos need results that behave like real ones: the
same request must give byte-identical pictures, another ``n`` index or seed another picture, and a reader should see
at a glance which prompt made which image.  ``reading`` reads the prompt, ``scene`` lays it out, ``revised`` says
what it shows; this module paints it (the setting from ``backdrops``, OpenMoji subjects from ``pictograms``, quoted
text, a shape per word that names nothing, weather, then the style from ``styles``), and makes edits, variations,
streaming previews and encoded bytes.  Nothing here knows about HTTP or models' limits; the server validates
requests first and only asks this module for pixels.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from . import backdrops, inpaint, pictograms, reading, revised, scene, styles
from .chance import Stream, digest
from .scene import Decoration, Scene

__all__ = [
    "edit_image",
    "edit_scene",
    "encode",
    "fit_for_edit",
    "generate_image",
    "palette",
    "partial_frames",
    "render",
    "revise_prompt",
    "vary_image",
]

_RGB = tuple[int, int, int]
_Ink = tuple[int, ...]


def palette(prompt: str) -> list[tuple[int, int, int]]:
    """The colours a prompt's picture is painted in: the ones it names, or a stable stand-in when it names none.

    Named colours win so that a prompt's picture is recognisably its own; the hashed fallback keeps unnamed prompts
    apart from each other instead of all falling back to one default look.
    """
    return reading.palette(prompt)


def _outline(colour: _RGB) -> _RGB:
    """An edge that separates a shape from a background of its own colour, as one-colour prompts often have."""
    luminance = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
    return backdrops.mix(colour, (0, 0, 0) if luminance > 90 else (255, 255, 255), 0.55)


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


# --------------------------------------------------------------------------------------------------- shapes


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


def _draw_shape(draw: ImageDraw.ImageDraw, shape: Decoration, width: int, height: int, alpha: bool) -> None:
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


# --------------------------------------------------------------------------------------------------- scenes


def _lighthouse(width: int, height: int, light: str) -> Image.Image:
    """The one subject drawn by hand (no emoji shows a lighthouse), in the pictograms' flat, outlined style."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    line = max(2, round(width * 0.045))
    ink = (0, 0, 0, 255)
    w, h = width, height
    lamp_top, lamp_bottom = h * 0.1, h * 0.26
    body_top = h * 0.28
    tower = [(w * 0.22, h - line), (w * 0.78, h - line), (w * 0.66, body_top), (w * 0.34, body_top)]
    draw.polygon(tower, fill=(250, 250, 250, 255), outline=ink, width=line)
    for k in range(3):  # red bands, as lighthouses are painted to be seen by day
        top = body_top + (h - body_top) * (0.12 + 0.3 * k)
        bottom = top + (h - body_top) * 0.14
        inset_top = (w * 0.12) * (1 - (top - body_top) / (h - body_top))
        inset_bottom = (w * 0.12) * (1 - (bottom - body_top) / (h - body_top))
        draw.polygon(
            [(w * 0.22 + inset_bottom, bottom), (w * 0.78 - inset_bottom, bottom),
             (w * 0.78 - inset_top, top), (w * 0.22 + inset_top, top)],
            fill=(218, 44, 44, 255),
        )  # fmt: skip
    draw.polygon(tower, outline=ink, width=line)
    glow = (255, 236, 140, 255) if light in ("night", "dusk", "sunset") else (255, 250, 210, 255)
    draw.rectangle((w * 0.3, lamp_bottom, w * 0.7, body_top + line), fill=(60, 60, 70, 255), outline=ink, width=line)
    draw.rectangle((w * 0.36, lamp_top, w * 0.64, lamp_bottom), fill=glow, outline=ink, width=line)
    draw.polygon(
        [(w * 0.3, lamp_top), (w * 0.7, lamp_top), (w * 0.5, 0)], fill=(218, 44, 44, 255), outline=ink, width=line
    )
    return image


def _submarine(width: int, height: int, tint: _RGB | None, light: str) -> Image.Image:
    """A submarine, yellow unless the prompt names its colour, drawn by hand like the lighthouse."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    w, h = width, height
    line = max(2, round(h * 0.05))
    ink = (0, 0, 0, 255)
    hull = (*backdrops.lit_colour(tint or (250, 206, 40), light), 255)
    shade = (*backdrops.mix(hull[:3], (0, 0, 0), 0.18), 255)
    draw.line((w * 0.5, h * 0.02, w * 0.5, h * 0.3), fill=ink, width=line)  # periscope
    draw.line((w * 0.5, h * 0.03, w * 0.6, h * 0.03), fill=ink, width=line)
    draw.rounded_rectangle((w * 0.4, h * 0.22, w * 0.66, h * 0.52), radius=h * 0.06, fill=hull, outline=ink, width=line)
    draw.polygon([(w * 0.02, h * 0.55), (w * 0.1, h * 0.42), (w * 0.1, h * 0.88), (w * 0.02, h * 0.76)], fill=shade,
                 outline=ink, width=line)  # fmt: skip
    draw.rounded_rectangle(
        (w * 0.08, h * 0.42, w * 0.98, h * 0.97), radius=h * 0.27, fill=hull, outline=ink, width=line
    )
    draw.rounded_rectangle((w * 0.14, h * 0.78, w * 0.92, h * 0.9), radius=h * 0.05, fill=shade)
    for k in range(3):  # portholes
        cx, cy, r = w * (0.4 + 0.17 * k), h * 0.63, h * 0.09
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(150, 210, 240, 255), outline=ink, width=line)
    return image


def _subject_image(placed: scene.Placed, light: str) -> Image.Image:
    x0, y0, x1, y1 = placed.box
    if placed.noun in reading.LUMINOUS:
        light = "day"
    if placed.prop == "lighthouse":
        return _lighthouse(x1 - x0, y1 - y0, light)
    if placed.prop == "submarine":
        picture = _submarine(x1 - x0, y1 - y0, placed.tint, light)
        return picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if placed.flip else picture
    return backdrops.lit_glyph(placed.emoji or "", x1 - x0, y1 - y0, placed.tint, placed.flip, light, strength=0.6)


def _shadow(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], colour: _RGB) -> None:
    x0, y0, x1, y1 = box
    w = x1 - x0
    draw.ellipse((x0 + w * 0.08, y1 - w * 0.06, x1 - w * 0.08, y1 + w * 0.06), fill=colour)


def _text_font(text: str, box: tuple[int, int, int, int]) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The largest Pillow default font size at which ``text`` fits the box (the default font ships with Pillow)."""
    width, height = box[2] - box[0], box[3] - box[1]
    size = max(6, round(height * 0.62))
    while size > 6:
        font = ImageFont.load_default(size)
        left, top, right, bottom = font.getbbox(text)
        if right - left <= width * 0.86 and bottom - top <= height * 0.8:
            return font
        size = max(6, round(size * 0.9)) if size > 7 else 6
    return ImageFont.load_default(6)


def _write(
    draw: ImageDraw.ImageDraw, text: str, box: tuple[int, int, int, int], *, banner: bool, alpha: bool, light: str
) -> None:
    """Quoted text, centred in its box: on a sign's board, painted clean first, or on a white banner of its own."""
    paper = backdrops.lit_colour((255, 255, 255), light) if not banner else (255, 255, 255)
    fill: _Ink = (*paper, 255) if alpha else paper
    if banner:
        radius = (box[3] - box[1]) * 0.3
        edge: _Ink = (40, 40, 48, 255) if alpha else (40, 40, 48)
        draw.rounded_rectangle(box, radius=radius, fill=fill, outline=edge, width=max(2, (box[3] - box[1]) // 18))
    else:
        draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=fill)  # Pillow's corners are inclusive
    font = _text_font(text, box)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    ink: _Ink = (24, 24, 32, 255) if alpha else (24, 24, 32)
    draw.text((cx, cy), text, font=font, fill=ink, anchor="mm")


def render(view: Scene, *, subjects: bool = True) -> Image.Image:
    """Paint a composed scene: setting, shapes for unknown words, subjects, text, weather, then the style.

    ``subjects=False`` paints only what is behind the subjects, which is what tests compare a subject's pixels with.
    A transparent scene has no setting and keeps real alpha around its subjects.
    """
    width, height = view.width, view.height
    if view.kind == "abstract":
        return _render_abstract(view)
    if view.transparent:
        image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    else:
        image = backdrops.backdrop(
            view.kind, view.ground, view.features, view.light, view.weather, view.tints,
            _card_colours(view) if view.kind == "studio" else (),  # only the plain backdrop is painted in them
            width, height, view.horizon, view.variant, view.cliff_box,
        ).copy()  # fmt: skip
    if subjects:
        draw = ImageDraw.Draw(image)
        for decoration in view.decorations:
            _draw_shape(draw, decoration, width, height, view.transparent)
        if not view.transparent:
            shade = backdrops.mix(image.getpixel((width // 2, min(height - 1, view.horizon + 2)))[:3], (0, 0, 0), 0.25)  # type: ignore[index]
            for placed in view.subjects:
                if placed.box[3] >= view.horizon and view.kind not in ("space", "sea") and placed.prop is None:
                    _shadow(draw, placed.box, shade)
        for placed in view.subjects:
            picture = _subject_image(placed, view.light)
            if image.mode == "RGBA":  # "over" compositing: a faint edge pixel must not come out alpha 0 but coloured
                image.alpha_composite(picture, placed.box[:2])
            else:
                image.paste(picture, placed.box[:2], picture)
        if view.text and view.text_box:
            banner = not any(p.noun in reading.SIGNS for p in view.subjects)
            _write(
                ImageDraw.Draw(image), view.text, view.text_box, banner=banner, alpha=view.transparent, light=view.light
            )
    image = backdrops.weather(image, view.weather, view.horizon, view.variant)
    return styles.stylise(image, view.style)


#: The plain backdrop's colour when every colour the prompt names belongs to a subject: a soft grey card.
_NEUTRAL_CARD = (168, 172, 180)


def _card_colours(view: Scene) -> tuple[_RGB, ...]:
    """The plain backdrop's colours: the prompt's colours that no subject wears, so a blue dog stands out on a
    neutral card instead of fading into a blue one."""
    worn = {placed.tint for placed in view.subjects if placed.tint is not None}
    rest = tuple(colour for colour in view.palette if colour not in worn)
    return rest or (_NEUTRAL_CARD,)


def _render_abstract(view: Scene) -> Image.Image:
    """A prompt that names nothing drawable: a gradient between its colours and one shape per word."""
    width, height = view.width, view.height
    colours = list(view.palette)
    layout = Stream("background", view.prompt, view.variant, width, height)
    if view.transparent:
        image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    else:
        stops = colours if len(colours) > 1 else [colours[0], _shade(colours[0])]
        turn = int(layout.pick(len(stops)))
        stops = stops[turn:] + stops[:turn]
        image = backdrops.gradient(stops, width, height, layout.between(0.0, 2.0 * math.pi))
    draw = ImageDraw.Draw(image)
    for shape in view.decorations:
        _draw_shape(draw, shape, width, height, view.transparent)
    return styles.stylise(image, view.style)


def _shade(colour: _RGB) -> _RGB:
    """A second gradient stop for one-colour palettes: darker for bright colours, lighter for dark ones."""
    if max(colour) > 100:
        return backdrops.mix(colour, (0, 0, 0), 0.45)
    return backdrops.mix(colour, (255, 255, 255), 0.45)


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
    """A picture of the prompt's scene that a person can tie to its words, the same every time it is asked for."""
    return render(scene.compose(prompt, width, height, model=model, index=index, seed=seed, transparent=transparent))


def revise_prompt(prompt: str, *, style: str | None = None, flavour: str = "", backdrop: bool = True) -> str:
    """The revised prompt: a sentence saying what the offline picture of ``prompt`` actually shows.

    dall-e-3 passes its ``style`` (vivid reads dramatic, natural restrained); the Responses API can pass a
    ``flavour`` per text model or refinement turn for its own deterministic wording of the same picture.  The
    layout's coarse positions do not depend on size or index, so one sentence is true of every picture of a request.
    """
    return revised.describe(scene.compose(prompt, 1024, 1024), style=style, flavour=flavour, backdrop=backdrop)


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


def _relit(canvas: Image.Image, region: tuple[int, int, int, int] | None, key: tuple[object, ...]) -> Image.Image:
    """``canvas`` under a soft pool of light over ``region``: the repainting that shows where an edit happened.

    Each picture of a request (``key``) puts the light a little elsewhere, as each candidate of an inpainting
    model differs everywhere it repainted.
    """
    width, height = canvas.size
    x0, y0, x1, y1 = region or (0, 0, width, height)
    grid_w, grid_h = max(2, min(64, width)), max(2, min(64, height))
    xs = (np.arange(grid_w) + 0.5) * width / grid_w
    ys = (np.arange(grid_h) + 0.5) * height / grid_h
    where = Stream("surroundings", *key)
    cx, cy = x0 + (x1 - x0) * where.between(0.3, 0.7), y0 + (y1 - y0) * where.between(0.3, 0.7)
    dx = (xs[None, :] - cx) / max(1.0, (x1 - x0) / 2)
    dy = (ys[:, None] - cy) / max(1.0, (y1 - y0) / 2)
    glow = np.clip(1.0 - np.hypot(dx, dy), 0.0, 1.0)
    light = Image.fromarray(np.rint(2 + 16 * glow).astype(np.uint8)).resize(canvas.size, Image.Resampling.BILINEAR)
    lit = ImageChops.add(canvas.convert("RGB"), Image.merge("RGB", (light, light, light)))
    if canvas.mode == "RGBA":
        lit = lit.convert("RGBA")
        lit.putalpha(canvas.getchannel("A"))
    return lit


def fit_for_edit(
    base: Image.Image, mask: Image.Image | None, size: tuple[int, int]
) -> tuple[Image.Image, Image.Image | None]:
    """The picture to edit and its mask (or None) at the output ``size``, the mask as RGBA.

    The picture is resampled smoothly (LANCZOS), the mask by nearest pixel, so what it protects keeps hard edges.
    """
    if base.size != size:
        base = base.resize(size, Image.Resampling.LANCZOS)
        if mask is not None:
            mask = mask.convert("RGBA").resize(size, Image.Resampling.NEAREST)
    return base, mask.convert("RGBA") if mask is not None else None


def edit_scene(
    base: Image.Image,
    prompt: str,
    *,
    mask: Image.Image | None = None,
    index: int = 0,
    seed: int = 0,
    model: str = "",
    transparent: bool = False,
) -> Scene:
    """The edit prompt's scene laid out inside the mask's edit region (the whole picture without a mask)."""
    hole = _edit_region(mask) if mask is not None else None
    return _scene_in(base.size, prompt, hole, index=index, seed=seed, model=model, transparent=transparent)


#: Materials that say what colour a subject is when no colour word does: "a wooden boat" is brown.
_MATERIALS: dict[str, _RGB] = {"wooden": (150, 96, 48), "wood": (150, 96, 48), "golden": (222, 170, 40)}
_MATERIAL_RE = re.compile(r"\b(" + "|".join(_MATERIALS) + r")\b", re.IGNORECASE)
#: What a subject made of wood is drawn as when its own pictogram is mostly of something else (a sailboat's sails).
_WOODEN = {"boat": "\U0001f6f6"}

#: The largest subject an edit draws, as a share of the picture's shorter side, however much room the mask leaves.
_LARGEST_SUBJECT = 0.45


def _scene_in(
    size: tuple[int, int],
    prompt: str,
    hole: Image.Image | None,
    *,
    index: int,
    seed: int,
    model: str,
    transparent: bool,
) -> Scene:
    """``edit_scene`` for an edit region already found (``hole``, see ``_edit_region``; None for the whole picture).

    The subjects are drawn to fit the region, whatever its shape (``inpaint.spots``): as large as a blob or a box
    holds, near where they would stand in a picture of their own; along a thin stroke, a row of them as wide as it.
    """
    width, height = size
    view = scene.compose(prompt, width, height, model=model, index=index, seed=seed, transparent=transparent)
    material = _MATERIAL_RE.search(prompt)
    if material and view.subjects:
        tint = _MATERIALS[material.group(1).lower()]
        wood = material.group(1).lower() in ("wood", "wooden")
        view = replace(view, subjects=tuple(
            replace(p, tint=p.tint or tint, emoji=_WOODEN.get(p.noun, p.emoji) if wood and p.prop is None else p.emoji)
            for p in view.subjects
        ))  # fmt: skip
    region = hole.getbbox() if hole is not None else None
    if hole is None or region is None or hole.getextrema() == (255, 255):
        return view
    inner = scene.compose(prompt, region[2] - region[0], region[3] - region[1], model=model, index=index, seed=seed)
    dx, dy = region[0], region[1]

    def shifted(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        return (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)

    where = Stream("edit spots", prompt, model, index, seed, width, height)
    side = min(width, height)
    anchors = [
        ((p.box[0] + p.box[2]) / 2 + where.between(-0.08, 0.08) * side,
         (p.box[1] + p.box[3]) / 2 + where.between(-0.08, 0.08) * side)
        for p in view.subjects
    ]  # fmt: skip
    first = view.subjects[0] if view.subjects else None
    aspect = _aspect(first) if first else 1.0
    boxes = inpaint.spots(hole, anchors, largest=_LARGEST_SUBJECT, aspect=aspect) if first else []
    subjects = []
    for number, box in enumerate(boxes):
        placed = view.subjects[number % len(view.subjects)]
        alone = len(boxes) <= len(view.subjects)  # else a row of them along a stroke, each as wide as it
        fill = where.between(0.88, 0.98) if alone else 1.0
        aspect = _aspect(placed)
        w, h = _grown(hole, box, aspect, max(1.0, min(1.6, aspect)) if not alone else 1.6)
        w, h = max(1, round(w * fill)), max(1, round(h * fill))
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        left, top = round(cx - w / 2), round(cy - h / 2)
        subjects.append(replace(placed, box=(left, top, left + w, top + h)))
    return replace(
        view,
        subjects=tuple(subjects),
        decorations=tuple(
            replace(d, cx=(d.cx * inner.width + dx) / width, cy=(d.cy * inner.height + dy) / height,
                    radius=d.radius * min(inner.width, inner.height) / min(width, height))
            for d in inner.decorations
        ),
        text_box=shifted(inner.text_box) if inner.text_box else None,
    )  # fmt: skip


def _aspect(placed: scene.Placed) -> float:
    """A subject's width over its height as drawn."""
    return reading.PROP_ASPECTS.get(placed.prop or "") or (pictograms.aspect(placed.emoji) if placed.emoji else 1.0)


def _grown(hole: Image.Image, box: tuple[int, int, int, int], aspect: float, most: float) -> tuple[int, int]:
    """The size of a subject of ``aspect`` (width / height) centred on the square ``box`` in ``hole``: as large as
    the region holds, up to ``most`` times the largest that fits the square (a blob holds a disc wider than its
    largest square; a box wider than tall holds a boat wider than the square).  Its outline's ellipse is what must
    fit: a pictogram's corners are empty."""
    cx, cy, side = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, box[2] - box[0]
    w0, h0 = side * min(1.0, aspect), side / max(1.0, aspect)
    scale = most
    while scale > 1.0:
        rx, ry = w0 * scale / 2, h0 * scale / 2
        if min(cx - rx, cy - ry, hole.width - cx - rx, hole.height - cy - ry) >= 0:
            disc = Image.new("L", hole.size, 0)
            ImageDraw.Draw(disc).ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=255)
            inside = ImageChops.multiply(disc, hole)
            if sum(inside.histogram()[128:]) >= 0.995 * sum(disc.histogram()[128:]):
                break
        scale -= 0.08
    scale = max(1.0, scale)
    return max(1, round(w0 * scale)), max(1, round(h0 * scale))


#: Words that ask for what is there to change (its colour, light or weather) rather than for something new.
_CHANGE_RE = re.compile(r"\b(make|turn|change|paint|colou?r|recolou?r|let it|it'?s)\b", re.IGNORECASE)
_SNOW_RE = re.compile(r"\b(snow\w*|winter\w*)\b", re.IGNORECASE)


def _changed(canvas: Image.Image, view: Scene, prompt: str) -> Image.Image | None:
    """``canvas`` changed as a prompt that names no subject asks ("make it snow", "make it night", "make it red"),
    or None when the prompt asks for no such change."""
    if view.subjects or view.text or not (_CHANGE_RE.search(prompt) or not view.named_setting):
        return None
    colours = reading.named_colours(prompt)
    snow = bool(_SNOW_RE.search(prompt)) or view.weather == "snowfall"
    if view.light == "day" and not colours and not snow:
        return None
    out = canvas.convert("RGB")
    if view.light != "day":
        out = _in_light(out, view.light, view.weather)
    if colours:
        out = inpaint.recoloured(out, reading.COLOURS[colours[0]])
    if snow:
        out = inpaint.snowed(out)
    if canvas.mode == "RGBA":
        out = out.convert("RGBA")
        out.putalpha(canvas.getchannel("A"))
    return out


#: An edit that asks for a variation of its picture (``dalle_nb.VARIATION_PROMPT``, or a person's own words) is
#: answered as one: the same scene with its parts moved and recoloured, not the words' subjects drawn on top.
_VARIATION_RE = re.compile(r"\bvariations? of (?:this|the|my) (?:image|picture|photo|drawing)\b", re.IGNORECASE)


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
    """An edit that keeps what the mask protects bit for bit and draws the edit prompt's subjects where it is clear.

    The cleared region gets the prompt's setting when it names one (the sky of "a night sky"), else the picture's own
    surroundings, filled in from around it as an inpainting model continues them; then the subjects, laid out
    inside the region.  Without a mask the whole picture is the region: it is relit (or, for a named setting, half
    repainted) so the source stays recognisable, and the subjects are drawn on it.
    Further input images only tint the new content: they should influence the result, never dominate it.
    """
    if mask is None and _VARIATION_RE.search(prompt):  # "a variation of this image": what vary() makes
        return vary_image(base, index=index, seed=seed)
    mode = "RGBA" if transparent or _has_alpha(base) else "RGB"
    canvas = base.convert(mode)
    width, height = canvas.size
    if mask is not None and mask.size != canvas.size:
        raise ValueError(f"mask size {mask.size[0]}x{mask.size[1]} differs from image size {width}x{height}")
    hole = _edit_region(mask) if mask is not None else None
    view = _scene_in(canvas.size, prompt, hole, index=index, seed=seed, model=model, transparent=transparent)
    changed = None if transparent else _changed(canvas, view, prompt)
    if changed is not None:  # "make it snow": what the mask covers, changed, rather than something new drawn on it
        if references:
            changed = _blend_rgb(changed, _mean_colour(references), 0.2)
        return changed if hole is None else Image.composite(changed, canvas, hole)
    if transparent:
        behind = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    elif view.kind in ("studio", "abstract"):  # no setting named: continue the picture around the edit
        key = (prompt, model, index, seed)
        behind = _relit(canvas, None, key) if hole is None else _repainted(_continued(canvas, hole), key)
    elif mask is None and not view.named_setting:  # "now make it dusk": the same picture in a new light
        behind = _in_light(canvas, view.light, view.weather)
    else:
        behind = render(view, subjects=False).convert(mode)
        if mask is None:
            behind = Image.blend(canvas, behind.convert(mode), 0.5)
    fresh = behind.convert(mode)
    painted = render(_on_transparent(view), subjects=True)
    if view.kind != "abstract":
        if fresh.mode == "RGBA":
            fresh.alpha_composite(painted.convert("RGBA"))
        else:
            fresh.paste(painted, (0, 0), painted)
    else:
        fresh = Image.blend(canvas, painted.convert(mode), 0.5) if mask is None else painted.convert(mode)
    if references:
        fresh = _blend_rgb(fresh, _mean_colour(references), 0.2)
    if hole is None:
        return fresh
    return Image.composite(fresh, canvas, hole)


def _continued(canvas: Image.Image, hole: Image.Image) -> Image.Image:
    """``canvas`` with the hole painted over from its surroundings (``inpaint.continued``), alpha kept."""
    out = inpaint.continued(canvas, hole)
    if canvas.mode == "RGBA":
        out = out.convert("RGBA")
        out.putalpha(canvas.getchannel("A"))
    return out


def _repainted(canvas: Image.Image, key: tuple[object, ...]) -> Image.Image:
    """``canvas`` with the faint, soft unevenness of a repaint: an inpainting model never gives back a flat sky's
    exact pixels, and each picture of a request (``key``) differs a little from the others."""
    width, height = canvas.size
    grid = (max(2, width // 48), max(2, height // 48))
    rng = np.random.default_rng(int.from_bytes(digest("repaint", *key)[:8], "big"))
    swell = np.repeat(rng.normal(0.0, 1.5, (grid[1], grid[0], 1)), 3, axis=2)  # lighter and darker, not coloured
    low = Image.fromarray(np.clip(np.rint(swell + 128), 0, 255).astype(np.uint8)).resize(
        canvas.size, Image.Resampling.BICUBIC
    )
    grain = rng.normal(0.0, 0.9, (height, width, 3))
    rgb = np.asarray(canvas.convert("RGB"), dtype=np.float64)
    out = Image.fromarray(
        np.clip(np.rint(rgb + np.asarray(low, dtype=np.float64) - 128 + grain), 0, 255).astype(np.uint8)
    )
    if canvas.mode == "RGBA":
        out = out.convert("RGBA")
        out.putalpha(canvas.getchannel("A"))
    return out


def _in_light(canvas: Image.Image, light: str, weather: str | None) -> Image.Image:
    """``canvas`` as it looks at another time of day: filtered like the backdrops' light, the sky end more than the
    ground (a vertical ramp), and greyed under fog.  Nothing moves and nothing turns see-through."""
    data = np.asarray(canvas, dtype=np.float32)
    height = data.shape[0]
    light_filter = np.asarray(backdrops.LIGHT_FILTERS.get(light, (1.0, 1.0, 1.0)), dtype=np.float32)
    ramp = np.linspace(1.15, 0.85, height, dtype=np.float32)[:, None, None]  # the sky takes the light most
    gain = 1.0 - (1.0 - light_filter[None, None, :]) * ramp
    rgb = data[..., :3] * gain
    if weather == "fog":
        rgb = rgb + (200.0 - rgb) * 0.35
    out = np.concatenate([np.clip(np.rint(rgb), 0, 255), data[..., 3:]], axis=-1).astype(np.uint8)
    return Image.fromarray(out, mode=canvas.mode)


def _on_transparent(view: Scene) -> Scene:
    """The scene's subjects, text and shapes alone on a transparent layer, with no setting and no weather."""
    if view.kind == "abstract":
        return view
    return replace(view, transparent=True, weather=None)


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


#: Cells of the grid on which a variation finds the picture's parts (its pictograms, a sign, a lighthouse).
_PART_GRID = 96


def _parts(source: Image.Image) -> list[tuple[tuple[int, int, int, int], Image.Image]]:
    """The distinct parts of a picture, each a box and a soft mask, as far as its pixels tell.

    A part is what a connected dark outline encloses (on a transparent picture, a connected opaque patch): on offline
    pictures the outlined pictograms; on a photograph its darkest shapes.  Patches too big to be a thing, and those
    the frame cuts, are left as background.
    """
    width, height = source.size
    # on a transparent picture a part is an opaque patch; otherwise what a dark outline (a pictogram's) encloses
    opaque = source.mode == "RGBA"
    found = np.asarray(source.getchannel("A")) > 0 if opaque else np.asarray(source.convert("L")) < 50
    step = max(1, max(width, height) // _PART_GRID)
    grid_h, grid_w = -(-height // step), -(-width // step)
    padded = np.zeros((grid_h * step, grid_w * step), dtype=bool)
    padded[:height, :width] = found
    cells = padded.reshape(grid_h, step, grid_w, step).mean(axis=(1, 3)) > 0.08
    cells = np.asarray(Image.fromarray(cells.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(3))) > 0
    labels = np.zeros(cells.shape, dtype=np.int32)
    boxes: list[tuple[int, int, int, int, int, int]] = []
    for y, x in zip(*np.nonzero(cells), strict=True):
        if labels[y, x]:
            continue
        label = len(boxes) + 1
        stack = [(int(y), int(x))]
        labels[y, x] = label
        x0 = x1 = int(x)
        y0 = y1 = int(y)
        area = 0
        while stack:
            cy, cx = stack.pop()
            area += 1
            x0, x1, y0, y1 = min(x0, cx), max(x1, cx), min(y0, cy), max(y1, cy)
            for ny, nx in ((cy - 1, cx), (cy + 1, cx), (cy, cx - 1), (cy, cx + 1)):
                if 0 <= ny < grid_h and 0 <= nx < grid_w and cells[ny, nx] and not labels[ny, nx]:
                    labels[ny, nx] = label
                    stack.append((ny, nx))
        boxes.append((area, x0, y0, x1, y1, label))
    total = grid_w * grid_h
    parts: list[tuple[tuple[int, int, int, int], Image.Image]] = []
    sized = [b for b in boxes if 4 <= b[0] <= total * 0.35]
    # a part inside another's box (a fox's eye) moves with it, not on its own
    whole = [b for b in sized if not any(o is not b and o[1] <= b[1] and o[2] <= b[2] and b[3] <= o[3] and b[4] <= o[4]
                                         for o in sized)]  # fmt: skip
    chosen = sorted(whole, reverse=True)[:8]
    for _, x0, y0, x1, y1, label in sorted(chosen, key=lambda b: (b[2], b[1])):
        box = (x0 * step, y0 * step, min(width, (x1 + 1) * step), min(height, (y1 + 1) * step))
        cells_of_part = labels[y0 : y1 + 1, x0 : x1 + 1] == label
        region = Image.fromarray(np.pad(cells_of_part, 1).astype(np.uint8) * 255).copy()  # writable: fromarray shares
        ImageDraw.floodfill(region, (0, 0), 128)  # what the outside reaches; the rest (holes inside) is the part
        solid = Image.fromarray((np.asarray(region)[1:-1, 1:-1] != 128).astype(np.uint8) * 255)
        if box[0] == 0 or box[1] == 0 or box[2] == width or box[3] == height:
            continue  # cut by the frame (a setting sun, a tree at the edge): not a whole thing to move
        size = (box[2] - box[0], box[3] - box[1])
        cells_mask = np.asarray(solid.resize(size, Image.Resampling.NEAREST)) > 0
        core = np.asarray(solid.filter(ImageFilter.MinFilter(3)).resize(size, Image.Resampling.NEAREST)) > 0
        ink = found[box[1] : box[3], box[0] : box[2]]
        exact = Image.fromarray(ink.astype(np.uint8) * 255)
        theirs = labels[y0 : y1 + 1, x0 : x1 + 1]
        others = Image.fromarray(np.isin(theirs, [c[5] for c in chosen if c[5] != label]).astype(np.uint8) * 255)
        near = np.asarray(others.resize(size, Image.Resampling.NEAREST)) == 0  # all but another moving part
        # to the pixel: what the part's outline encloses (a fox's white cheeks too), nothing of the ground around
        # it; the grid's blocks would carry bits of the old ground along as blocky patches
        enclosed = Image.fromarray(np.pad(_unlike_ground(source.crop(box), ink), 1)).copy()
        ImageDraw.floodfill(enclosed, (0, 0), 128)
        inside = (np.asarray(enclosed)[1:-1, 1:-1] != 128) & near
        if inside.sum() >= 1.5 * max(1, int(ink.sum())):
            mask = Image.fromarray(inside.astype(np.uint8) * 255)
        else:  # an outline with a gap: the part's own pixels near its outline and everything well inside it
            edge = np.asarray(exact.filter(ImageFilter.MaxFilter(7))) > 0
            mask = Image.fromarray(((cells_mask & edge) | core).astype(np.uint8) * 255)
        parts.append((box, mask.filter(ImageFilter.GaussianBlur(0.7))))
    return parts


def _unlike_ground(piece: Image.Image, ink: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint8]:
    """255 where a part's box shows the part rather than the ground behind it: its outline, and whatever differs
    from the ground each row has at the box's left and right ends (the box is a little wider than the part)."""
    rgb = np.asarray(piece.convert("RGB"), dtype=np.float64)
    edge = max(1, rgb.shape[1] // 40)
    ground = (rgb[:, :edge].mean(axis=1) + rgb[:, -edge:].mean(axis=1)) / 2
    unlike = np.abs(rgb - ground[:, None, :]).max(axis=-1) > 36
    out: npt.NDArray[np.uint8] = (unlike | ink).astype(np.uint8) * 255
    return out


def vary_image(
    source: Image.Image,
    *,
    index: int = 0,
    seed: int = 0,
    size: tuple[int, int] | None = None,
) -> Image.Image:
    """A sibling of the source: the same scene, slightly reframed and re-tinted, its parts moved, resized, recoloured.

    The parts are found in the pixels (see ``_parts``), lifted off a smoothed background, and put back a little
    elsewhere, a little bigger or smaller, in a turned hue.  Every choice is keyed on a thumbnail of the source plus
    index and seed, so the same request always gives the same variation.
    """
    mode = "RGBA" if _has_alpha(source) else "RGB"
    src = source.convert(mode)
    width, height = size if size is not None else src.size
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    thumb = src.resize((16, 16), Image.Resampling.BOX)
    stream = Stream("vary", thumb.tobytes(), src.size, (width, height), index, seed)
    parts = _parts(src)
    hole = Image.new("L", src.size, 0)
    for box, mask in parts:
        hole.paste(255, box[:2], mask.point(lambda v: 255 if v > 0 else 0).filter(ImageFilter.MaxFilter(7)))
    if mode == "RGBA":  # lifted off a transparent ground, a part leaves transparency behind
        cleared = src.copy()
        cleared.paste((0, 0, 0, 0), (0, 0), hole)
    else:  # the ground a part stood on, continued from around it (no blurred block where it was)
        cleared = inpaint.continued(src, hole) if parts else src
    zoom = stream.between(0.9, 0.96)
    crop_w, crop_h = src.width * zoom, src.height * zoom
    left, top = stream.unit() * (src.width - crop_w), stream.unit() * (src.height - crop_h)
    scale_x, scale_y = width / crop_w, height / crop_h
    out = cleared.resize((width, height), Image.Resampling.BICUBIC, box=(left, top, left + crop_w, top + crop_h))
    degrees = stream.between(3.0, 7.0) * stream.sign()
    saturation = stream.between(0.95, 1.08)
    out = _jitter_hues(out, degrees, saturation)
    side = min(width, height)
    for box, mask in parts:
        piece = src.crop(box)
        resize = stream.between(0.85, 1.18)
        pw = max(1, round((box[2] - box[0]) * scale_x * resize))
        ph = max(1, round((box[3] - box[1]) * scale_y * resize))
        piece = _jitter_hues(piece, stream.between(4.0, 12.0) * stream.sign(), stream.between(0.95, 1.1))
        piece = piece.resize((pw, ph), Image.Resampling.BICUBIC)
        cut = mask.resize((pw, ph), Image.Resampling.BILINEAR)
        if stream.unit() < 0.3:
            piece, cut = (
                piece.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
                cut.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
            )
        cx = ((box[0] + box[2]) / 2 - left) * scale_x + stream.between(-0.06, 0.06) * side
        bottom = (box[3] - top) * scale_y + stream.between(-0.03, 0.03) * side
        out.paste(piece, (round(cx - pw / 2), round(bottom - ph)), cut)
    return out


# --------------------------------------------------------------------------------------------------- streaming


#: How much of the final picture each preview shows over its sketch: a coarse pencil sketch with washes of colour
#: first, then blocks of colour, then nearly the picture.
_PREVIEW_COLOUR = (0.35, 0.7, 0.92)
_PREVIEW_BLOCKS = (64, 16, 4)


def _pixelate(image: Image.Image, block: int) -> Image.Image:
    """Average whole ``block``-sized squares; nested block sizes make each finer preview a refinement of the last."""
    if block <= 1:
        return image.copy()
    small = image.reduce(block)
    big = small.resize((small.width * block, small.height * block), Image.Resampling.NEAREST)
    return big.crop((0, 0, image.width, image.height))


def _sketch(image: Image.Image) -> Image.Image:
    """The picture as a pencil drawing on paper: what a coarse first preview shows."""
    rgb = image.convert("RGB")
    drawing = styles.stylise(rgb, "pencil sketch")
    if image.mode == "RGBA":
        drawing = drawing.convert("RGBA")
        drawing.putalpha(image.getchannel("A"))
    return drawing.convert(image.mode)


def partial_frames(final: Image.Image, count: int) -> list[Image.Image]:
    """Coarse-to-fine previews for ``partial_images`` streaming, each strictly nearer the final picture than the last.

    The first is mostly a pencil sketch of the picture under large blocks of its colour; each later one shows more of
    the colour in finer blocks (64, 16 and 4 px at 1024 px, scaling with the picture), until the final picture.
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
    sketch = _sketch(work) if work_mode in ("RGB", "RGBA") else Image.new(work_mode, work.size, (200,) * len(work_mode))
    grey = Image.new(work_mode, work.size, (128,) * len(work.getbands()))
    if "A" in work.getbands():
        grey.putalpha(work.getchannel("A"))
    frames: list[Image.Image] = []
    for block, colour in zip(blocks, _PREVIEW_COLOUR, strict=False):
        frame = Image.blend(sketch, _pixelate(work, block), colour)
        frame = Image.blend(frame, grey, 0.04)  # never equal to the final picture, even where it is flat
        frames.append(frame.convert(final.mode) if work_mode != final.mode else frame)
    return frames


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
