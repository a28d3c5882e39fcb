"""Lay a read prompt out as a scene: where the setting's horizon is, where each subject stands, how big, what colour.

A scene is what an offline picture will show and where: a setting (sky, ground, background features) in some light
and weather, subjects (OpenMoji pictograms for the prompt's nouns, with their counts, colours, sizes and rough
positions), quoted text, a style, and one small shape for each word that names nothing drawable, so that no two
prompts look alike.  ``compose`` returns it with every subject's pixel box, which is what tests check pixels against
and what ``revised.describe`` turns into the revised prompt.  Everything is a pure function of (prompt, model, size,
index, seed): no pixels are drawn here (``draw`` does that), and every choice comes from ``chance``.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from . import pictograms
from .chance import Stream
from .reading import (
    BIG,
    CELESTIAL,
    COLOURS,
    INDOOR,
    KIND_ORDER,
    PROP_ASPECTS,
    SMALL,
    SUPPORTS,
    Reading,
    Wanted,
    content_words,
    palette,
    read,
)

__all__ = ["Decoration", "Placed", "Scene", "Told", "compose"]

RGB = tuple[int, int, int]
Box = tuple[int, int, int, int]


# --------------------------------------------------------------------------------------------------- the scene


@dataclass(frozen=True)
class Placed:
    """One pictogram (or prop) in the picture: what it is, where its ink is, and how it is coloured."""

    noun: str  # the subject's noun, singular: "cat"
    emoji: str | None
    prop: str | None
    box: Box  # left, top, right, bottom in pixels; the drawing's ink fills it
    tint: RGB | None
    flip: bool


@dataclass(frozen=True)
class Decoration:
    """A shape for a word that names nothing drawable (the fallback vocabulary), in fractions of the picture."""

    kind: str
    cx: float
    cy: float
    radius: float  # fraction of the shorter side
    angle: float
    aspect: float
    sides: int
    colour: RGB


@dataclass(frozen=True)
class Told:
    """A subject as the prompt put it, for the description: its words, count and how it relates to the others."""

    phrase: str
    noun: str
    count: int
    relation: str | None
    anchor: int | None
    action: str | None
    prop: str | None
    holder: str | None = None  # "bowl": the container the pictogram shows ("a bowl of ramen")
    likeness: str | None = None  # "made of candy", as the prompt said it, when the picture could not show it all
    material: str | None = None  # the colour that stands in for what it is made of ("pink" for candy)


@dataclass(frozen=True)
class Scene:
    """What a picture shows and where, as ``compose`` laid it out; ``draw.render`` turns it into pixels."""

    prompt: str
    width: int
    height: int
    kind: str  # the setting: "snow", "forest", ..., "studio" (no setting), "abstract" (nothing recognisable)
    ground: str
    features: tuple[str, ...]
    light: str
    weather: str | None
    style: str | None
    text: str | None
    text_box: Box | None
    subjects: tuple[Placed, ...]
    decorations: tuple[Decoration, ...]
    horizon: int  # y of the horizon (or the floor line indoors) in pixels
    tints: tuple[tuple[str, RGB], ...]
    palette: tuple[RGB, ...]
    transparent: bool
    variant: bytes  # keys the backdrop's details (cloud shapes, ridges, stars); not the prompt, so backdrops cache
    told: tuple[Told, ...] = ()
    cliff_box: Box | None = None
    named_setting: bool = True  # the prompt names a place ("in a forest"), not only light or weather ("at dusk")
    view: str | None = None  # "above", "close" or "wide": the framing the prompt asked for
    left_out: tuple[str, ...] = ()  # the prompt's words that name nothing drawable, so nothing was drawn for them

    def tint(self, part: str) -> RGB | None:
        return dict(self.tints).get(part)

    def without_subjects(self) -> Scene:
        """The same scene with no pictograms, text or shapes: what is behind them (tests compare against it)."""
        return replace(self, subjects=(), decorations=(), text=None, text_box=None)


def _setting(reading: Reading) -> tuple[str, str, tuple[str, ...]]:
    if not reading.places:
        if reading.light is not None or reading.weather is not None or reading.outdoor:
            return "meadow", "grass", ()  # "in the rain", "at sunset": weather and light need an outdoors
        return "studio", "studio", ()
    kinds = {p.kind for p in reading.places}
    kind = next(k for k in KIND_ORDER if k in kinds)
    features = list(dict.fromkeys(f for p in reading.places for f in p.features))
    if kind in INDOOR:
        spot = next(p for p in reading.places if p.kind == kind)
        return kind, "floor", spot.features
    if kind == "space":
        return "space", "none", ()
    ground = next(p.ground for p in reading.places if p.kind == kind)
    if "snow" in kinds and ground in ("grass", "road", "sand"):
        ground = "snow"
    if kind == "cliff" and "beach" in kinds:
        ground = "water"
    features = [f for f in features if not (f == "sea" and kind in ("sea", "cliff"))]
    return kind, ground, tuple(features)


_HORIZONS = {
    "studio": 0.74,
    "snow": 0.55,
    "forest": 0.6,
    "beach": 0.46,
    "sea": 0.5,
    "desert": 0.56,
    "mountains": 0.62,
    "city": 0.66,
    "space": 1.0,
    "meadow": 0.56,
    "cliff": 0.58,
    "abstract": 1.0,
}
_SHAPE_KINDS = ("circle", "ellipse", "rectangle", "triangle", "polygon", "star", "stripes", "ring")
_MIN_SHAPES = 3


def _abstract_shapes(prompt: str, colours: Sequence[RGB], *, model: str, index: int, seed: int) -> list[Decoration]:
    """One big shape per content word: the picture of a prompt that names nothing drawable.

    A shape's kind and home position depend on the word alone; index, seed and model only jitter it, which is what
    makes the ``n`` pictures of one request look like siblings rather than strangers.
    """
    words = content_words(prompt)
    keys: list[tuple[str, int]] = []
    counts: dict[str, int] = {}
    for word in words:
        counts[word] = counts.get(word, 0) + 1
        keys.append((word, counts[word]))
    filler = 0
    while len(keys) < _MIN_SHAPES:
        keys.append((f"\x00{filler}\x00{prompt}", 0))
        filler += 1
    scale = 1.0 / math.sqrt(max(1.0, len(keys) / 4.0))  # many words would bury the background
    shapes: list[Decoration] = []
    for word, occurrence in keys:
        home = Stream("shape", word, occurrence)
        jitter = Stream("jitter", word, occurrence, model, index, seed)
        kind = _SHAPE_KINDS[home.pick(len(_SHAPE_KINDS))]
        cx = min(0.94, max(0.06, home.between(0.12, 0.88) + jitter.between(-0.2, 0.2)))
        cy = min(0.94, max(0.06, home.between(0.12, 0.88) + jitter.between(-0.2, 0.2)))
        radius = home.between(0.10, 0.28) * scale * jitter.between(0.8, 1.25)
        angle = home.between(0.0, 2.0 * math.pi) + jitter.between(-0.6, 0.6)
        aspect = home.between(0.45, 0.85)
        sides = 5 + home.pick(4)
        colour = COLOURS[word] if word in COLOURS else colours[(home.pick(len(colours)) + index + seed) % len(colours)]
        shapes.append(Decoration(kind, cx, cy, radius, angle, aspect, sides, colour))
    shapes.sort(key=lambda shape: -shape.radius)  # big first, so small shapes stay visible on top
    return shapes


@dataclass
class _Slot:
    wanted: int
    x: float  # centre, fraction of width
    base: float  # bottom, fraction of height
    height: float  # fraction of the shorter side
    order: float  # drawing order: further back first


def _class_scale(wanted: Wanted) -> float:
    stem = pictograms.singular(wanted.noun)[0]
    if wanted.prop is not None or stem in BIG or wanted.noun in BIG:
        return 1.35
    if stem in SMALL or wanted.noun in SMALL:
        return 0.6
    if stem in ("child", "kid", "boy", "girl"):
        return 0.75
    return 1.0


def _layout(reading: Reading, kind: str, horizon: float, width: int, height: int, stream: Stream,
            cliff: tuple[float, float, float] | None) -> list[_Slot]:  # fmt: skip
    """Rough positions, in fractions: ground subjects in a row on the ground, airborne ones in the sky, relations kept.

    The row's order is the prompt's order and never changes with index or seed (only small jitter does), so a
    description that says "on the left" stays true for every picture of a request.
    """
    subjects = reading.subjects
    side_frac_w = min(width, height) / width  # converts a height in shorter-side units to a width fraction
    ground_y = horizon + (1.0 - horizon) * 0.68 if horizon < 0.99 else 0.78
    ground_count = sum(w.count for w in subjects if not w.airborne and w.relation not in ("on", "above", "in", "of"))
    base_h = min(0.5, 0.58 / math.sqrt(max(1.0, ground_count)))
    slots: list[_Slot] = []
    placed: dict[int, list[_Slot]] = {}

    def size_of(w: Wanted) -> float:
        h = base_h * _class_scale(w) * w.scale
        if w.place == "background":
            h *= 0.6
        elif w.place == "foreground":
            h *= 1.25
        if w.airborne and not w.place and len(subjects) > 1:
            h *= 0.7
        return max(0.04, min(0.8, h))

    order = sorted(range(len(subjects)), key=lambda k: (subjects[k].anchor is not None and subjects[k].anchor != -1, k))
    # free ground subjects share the row; subjects tied to another are placed after it, relative to it
    free = [k for k in order if subjects[k].relation is None or subjects[k].anchor in (None, -1)]
    row = [k for k in free if not subjects[k].airborne and subjects[k].place not in ("sky",)]
    row_instances = [(k, c) for k in row for c in range(subjects[k].count)]
    lefts = [(k, c) for k, c in row_instances if subjects[k].place == "left"]
    rights = [(k, c) for k, c in row_instances if subjects[k].place == "right"]
    middles = [(k, c) for k, c in row_instances if subjects[k].place not in ("left", "right")]

    def spread(items: list[tuple[int, int]], low: float, high: float) -> None:
        for n, (k, _copy) in enumerate(items):
            w = subjects[k]
            frac = (n + 0.5) / len(items)
            x = low + (high - low) * frac + stream.between(-0.02, 0.02)
            depth = 0.0 if len(items) < 3 else (0.05 if n % 2 else -0.02)
            base = ground_y + depth * (1.0 - horizon) + stream.between(-0.015, 0.015)
            if w.place == "background":
                base = horizon + (1.0 - horizon) * 0.25 if horizon < 0.99 else 0.6
            elif w.place == "foreground":
                base = 0.97
            h = size_of(w) * (1.0 + (depth * 2.0)) * stream.between(0.95, 1.05)
            if cliff is not None and w.anchor == -1:
                x = (cliff[0] + cliff[1]) / 2 + stream.between(-0.02, 0.02)
                base = cliff[2]
            slot = _Slot(k, x, base, h, base)
            slots.append(slot)
            placed.setdefault(k, []).append(slot)

    on_cliff = [(k, c) for k, c in middles if subjects[k].anchor == -1]
    middles = [item for item in middles if item not in on_cliff]
    if cliff is not None:
        spread(on_cliff, cliff[0], cliff[1])
        lo, hi = (cliff[1] + 0.04, 0.92) if cliff[0] < 0.3 else (0.08, cliff[0] - 0.04)
    else:
        lo, hi = (0.3, 0.7) if len(middles) == 1 else (0.1, 0.9)
        if lefts:
            lo = 0.4
        if rights:
            hi = 0.6
    spread(lefts, 0.06, 0.36)
    spread(rights, 0.64, 0.94)
    if len(middles) == 1 and cliff is None:
        spread(middles, 0.5 - 0.04, 0.5 + 0.04)
    else:
        spread(middles, lo, hi)

    sky_items = [k for k in free if k not in row]
    sky_n = sum(subjects[k].count for k in sky_items)
    n = 0
    for k in sky_items:
        w = subjects[k]
        for _ in range(w.count):
            stem = pictograms.singular(w.noun)[0]
            if stem in ("sun", "moon") and w.count == 1:
                x = 0.8 if w.place != "left" else 0.2
            elif w.place == "left":
                x = 0.12 + 0.25 * (n + 0.5) / max(1, sky_n)
            elif w.place == "right":
                x = 0.63 + 0.25 * (n + 0.5) / max(1, sky_n)
            else:
                x = 0.12 + 0.76 * (n + 0.5) / max(1, sky_n)
            h = size_of(w) * (0.75 if stem in CELESTIAL else 1.0)
            top_room = max(0.2, min(horizon, 0.8))
            base = min(top_room - 0.02, 0.06 + h * min(width, height) / height + stream.between(0.0, 0.18) * top_room)
            if kind == "space" or horizon >= 0.99:
                base = 0.12 + h * min(width, height) / height + stream.between(0.0, 0.3)
            slot = _Slot(k, x + stream.between(-0.03, 0.03), base, h, -1.0)
            slots.append(slot)
            placed.setdefault(k, []).append(slot)
            n += 1

    # subjects tied to another: on a sofa, above a house, next to a dog, behind a tree
    for k in order:
        w = subjects[k]
        if w.anchor is None or w.anchor == -1 or k in placed:
            continue
        targets = placed.get(w.anchor)
        if not targets:
            continue
        target = targets[0]
        left_x = min(t.x for t in targets)
        right_x = max(t.x for t in targets)
        t_h = target.height
        t_wanted = subjects[w.anchor]
        t_w = (
            t_h
            * side_frac_w
            * (_prop_aspect(t_wanted.prop) if t_wanted.prop else pictograms.aspect(_glyph_key(t_wanted)))
        )
        own_aspect = _prop_aspect(w.prop) if w.prop else pictograms.aspect(_glyph_key(w))
        for c in range(w.count):
            h = size_of(w)
            frac = (c + 0.5) / w.count
            if w.relation in ("on", "in", "of"):
                stem_t = pictograms.singular(t_wanted.noun)[0]
                support = stem_t in SUPPORTS
                # a sofa's seat is a little below the middle of its pictogram; other things carry on their top
                seat = 0.62 if support else (0.45 if w.relation in ("in", "of") else 0.05)
                span = t_w * (0.85 if support else 0.9)
                room = span / w.count / side_frac_w / own_aspect * (1.15 if w.count > 1 else 1.0)
                h = min(h, t_h * (0.6 if w.relation == "on" else 0.5), room)
                x = (left_x + right_x) / 2 - span / 2 + span * frac - (t_w * 0.08 if support else 0.0)
                base = target.base - t_h * min(width, height) / height * (1.0 - seat)
                slot = _Slot(k, x, base, h, target.order + 0.01)
            elif w.relation == "worn":
                h = min(h, t_h * 0.4)
                fx, fy = (0.5, 0.0) if t_wanted.prop else pictograms.head(_glyph_key(t_wanted))
                x = target.x - t_w / 2 + fx * t_w
                top = target.base - t_h * min(width, height) / height
                base = top + (fy + 0.12) * t_h * min(width, height) / height
                slot = _Slot(k, x, base, h, target.order + 0.01)
            elif w.relation == "held":
                h = min(h, t_h * 0.45)
                x = target.x + t_w * 0.42
                base = target.base - t_h * min(width, height) / height * 0.2
                slot = _Slot(k, x, base, h, target.order + 0.01)
            elif w.relation == "above":
                h = min(h, t_h * 0.8)
                x = (left_x + right_x) / 2 + (frac - 0.5) * t_w
                base = target.base - t_h * min(width, height) / height - 0.03
                slot = _Slot(k, x, base, h, target.order + 0.01)
            elif w.relation == "below":
                x = (left_x + right_x) / 2 + (frac - 0.5) * t_w
                base = min(0.98, target.base + h * min(width, height) / height + 0.02)
                slot = _Slot(k, x, base, h, target.order + 0.02)
            elif w.relation == "behind":
                h *= 0.8
                x = target.x + 0.12 * (1 if target.x < 0.5 else -1) + (frac - 0.5) * 0.1
                base = target.base - 0.06
                slot = _Slot(k, x, base, h, target.order - 0.05)
            elif w.relation == "front":
                h *= 1.1
                x = target.x + 0.08 * (1 if target.x < 0.5 else -1) + (frac - 0.5) * 0.1
                base = min(0.98, target.base + 0.08)
                slot = _Slot(k, x, base, h, target.order + 0.05)
            else:  # beside
                gap = (t_w + h * side_frac_w) / 2 + 0.02
                direction = 1 if right_x < 0.6 else -1
                x = (right_x if direction > 0 else left_x) + direction * (gap + c * h * side_frac_w)
                slot = _Slot(k, x, target.base, min(h, t_h * 1.2), target.order)
            slots.append(slot)
            placed.setdefault(k, []).append(slot)
    # anything left (ties to subjects that never got placed) joins the row's right end
    for k, w in enumerate(subjects):
        if k not in placed:
            for c in range(w.count):
                slot = _Slot(k, 0.7 + 0.1 * c, ground_y, size_of(w), ground_y)
                slots.append(slot)
                placed.setdefault(k, []).append(slot)
    return slots


def _fit_row(slots: list[_Slot], subjects: Sequence[Wanted], width: int, height: int) -> None:
    """Shrink a crowded row so that its pictograms fit across the picture without hiding each other."""
    side = min(width, height)
    row = [s for s in slots if s.order >= 0 and subjects[s.wanted].anchor is None]
    if len(row) < 2:
        return
    needed = sum(s.height * side * pictograms.aspect(_glyph_key(subjects[s.wanted])) for s in row)
    room = width * 0.9
    if needed > room:
        shrink = room / needed
        for s in row:
            s.height *= shrink


def _glyph_key(wanted: Wanted) -> str:
    return wanted.emoji if wanted.emoji is not None else "\U0001f5fc"  # props are measured like a tower


def _prop_aspect(prop: str) -> float:
    return PROP_ASPECTS[prop]


def compose(
    prompt: str,
    width: int,
    height: int,
    *,
    model: str = "",
    index: int = 0,
    seed: int = 0,
    transparent: bool = False,
    variation: int | None = None,
) -> Scene:
    """Read ``prompt`` and lay it out on a ``width`` x ``height`` picture, deterministically.

    ``index`` and ``seed`` move things a little (the ``n`` pictures of a request are siblings); ``variation`` moves,
    resizes and recolours the subjects further, keeping the scene, which is what a variation of it is.
    """
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    reading = read(prompt)
    colours = palette(prompt)
    if not (reading.subjects or reading.places or reading.text or reading.light or reading.weather or reading.outdoor):
        shapes = _abstract_shapes(prompt, colours, model=model, index=index, seed=seed)
        return Scene(
            prompt=prompt, width=width, height=height, kind="abstract", ground="none", features=(), light="day",
            weather=None, style=reading.style, text=None, text_box=None, subjects=(), decorations=tuple(shapes),
            horizon=height, tints=(), palette=tuple(colours), transparent=transparent,
            variant=Stream("variant", "abstract", model, index, seed).unit().hex().encode(), named_setting=False,
        )  # fmt: skip
    kind, ground, features = _setting(reading)
    view = reading.view
    for w in reading.subjects:  # a close-up fills the picture with its subjects; a view from above shrinks them
        w.scale *= {"close": 1.7, "above": 0.6, "wide": 0.7}.get(view or "", 1.0)
    light = reading.light or "day"
    weather = reading.weather
    if kind in INDOOR and weather in ("rain", "fog", "snowfall"):
        weather = None
    jitter = Stream("layout", " ".join(content_words(prompt)), model, index, seed, variation)
    horizon = _HORIZONS.get(kind, 0.7 if kind in INDOOR else 0.6)
    if kind in INDOOR:
        horizon = 0.66
    if horizon < 0.99:
        horizon += Stream("horizon", kind, model, index, seed).between(-0.03, 0.03)
        if view == "above" and kind not in INDOOR and kind != "studio":
            horizon = 0.14  # seen from above: the ground fills the picture, the sky is a strip at the top
        elif view == "close" and kind not in INDOOR:
            horizon = min(horizon, 0.5)
    cliff: tuple[float, float, float] | None = None
    cliff_box: Box | None = None
    if kind == "cliff" or "cliff" in features:
        on_left = Stream("cliff side", model, index, seed).unit() < 0.5
        top = horizon - 0.08
        cliff = (0.04, 0.42, top) if on_left else (0.58, 0.96, top)
        cliff_box = (
            0 if on_left else round(cliff[0] * width - 0.04 * width),
            round(top * height),
            round(cliff[1] * width + 0.04 * width) if on_left else width,
            height,
        )
    slots = _layout(reading, kind, horizon, width, height, jitter, cliff)
    _fit_row(slots, reading.subjects, width, height)
    side = min(width, height)
    placed: list[tuple[float, Placed]] = []
    flips = Stream("flip", prompt, model, index, seed, variation)
    dressed = {w.anchor for w in reading.subjects if w.relation in ("worn", "held")}
    for slot in slots:
        w = reading.subjects[slot.wanted]
        h_px = pictograms.rung(slot.height * side)
        ratio = _prop_aspect(w.prop) if w.prop else pictograms.aspect(w.emoji or "")
        w_px = max(4, round(h_px * ratio))
        if w_px > width * 0.95:
            w_px = round(width * 0.95)
            h_px = max(4, round(w_px / ratio))
        room = slot.base * height - 0.03 * height  # whatever stands on the ground keeps its head in the picture
        if h_px > max(room, 0.2 * height):
            h_px = round(max(room, 0.2 * height))
            w_px = max(4, round(h_px * ratio))
        cx = slot.x * width
        bottom = slot.base * height
        if variation is not None:
            cx += jitter.between(-0.06, 0.06) * width
            bottom += jitter.between(-0.03, 0.03) * height
        x0 = round(min(max(0.0, cx - w_px / 2), width - w_px))
        y0 = round(min(max(0.0, bottom - h_px), height - h_px))
        tint = COLOURS[w.colour] if w.colour else None
        if variation is not None and not w.sign:
            tint = _varied_tint(tint, jitter)
        steady = w.sign or w.prop == "lighthouse" or w.relation in ("worn", "held") or slot.wanted in dressed
        flip = not steady and flips.unit() < 0.35
        noun = pictograms.singular(w.noun)[0] if pictograms.emoji_for(pictograms.singular(w.noun)[0]) else w.noun
        placed.append((slot.order, Placed(noun, w.emoji, w.prop, (x0, y0, x0 + w_px, y0 + h_px), tint, flip)))
    placed.sort(key=lambda item: item[0])
    subjects = tuple(p for _, p in placed)
    text_box = _text_box(reading, subjects, width, height) if reading.text else None
    # a word that names nothing drawable draws nothing (no stray shape: that would be litter, not the word)
    tints = tuple((part, COLOURS[name]) for part, name in sorted(reading.tints.items()))
    if kind == "studio" and reading.accents:
        tints = (*tints, ("studio", COLOURS[reading.accents[0]]))
    likeness = {k: (how, material) for k, how, material in reading.likeness}
    told = tuple(
        Told(w.phrase, w.noun, w.count, w.relation, w.anchor, w.action, w.prop, w.holder,
             likeness.get(k, (None, None))[0], likeness.get(k, (None, None))[1])
        for k, w in enumerate(reading.subjects)
    )  # fmt: skip
    return Scene(
        prompt=prompt,
        width=width,
        height=height,
        kind=kind,
        ground=ground,
        features=features,
        light=light,
        weather=weather,
        style=reading.style,
        text=reading.text,
        text_box=text_box,
        subjects=subjects,
        decorations=(),
        horizon=round(horizon * height),
        tints=tints,
        palette=tuple(colours),
        transparent=transparent,
        variant=Stream("variant", kind, model, index, seed).unit().hex().encode(),
        told=told,
        cliff_box=cliff_box,
        named_setting=bool(reading.places),
        view=view,
        left_out=tuple(dict.fromkeys(reading.leftovers)),
    )


def _varied_tint(tint: RGB | None, stream: Stream) -> RGB | None:
    """A variation recolours: a tinted subject turns a nearby hue, an untinted one sometimes takes a new colour."""
    if tint is None:
        if stream.unit() < 0.5:
            return None
        names = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "teal", "brown")
        return COLOURS[names[stream.pick(len(names))]]
    h, s, v = colorsys.rgb_to_hsv(*(c / 255 for c in tint))
    r, g, b = colorsys.hsv_to_rgb((h + stream.between(0.06, 0.14) * stream.sign()) % 1.0, s, v)
    return (round(r * 255), round(g * 255), round(b * 255))


def _text_box(reading: Reading, subjects: Sequence[Placed], width: int, height: int) -> Box:
    """Where quoted text goes: on the board of the first sign, or on a banner across the top of the picture."""
    for wanted in reading.subjects:
        if wanted.sign:
            for placed in subjects:
                if placed.emoji == wanted.emoji and placed.noun == (pictograms.singular(wanted.noun)[0]):
                    x0, y0, x1, y1 = placed.box
                    bw, bh = x1 - x0, y1 - y0
                    # the OpenMoji placard's board spans nearly its whole width and the upper half of its height
                    return (
                        x0 + round(bw * 0.07),
                        y0 + round(bh * 0.125),
                        x1 - round(bw * 0.07),
                        y0 + round(bh * 0.575),
                    )
    band = round(height * 0.13)
    margin = round(width * 0.14)
    return (margin, round(height * 0.04), width - margin, round(height * 0.04) + band)
