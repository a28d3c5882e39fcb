"""Read a prompt into a small scene, lay it out, and say in a sentence what it shows.

A scene is what an offline picture will show and where: a setting (sky, ground, background features) in some light
and weather, subjects (OpenMoji pictograms for the prompt's nouns, with their counts, colours, sizes and rough
positions), quoted text, a style, and one small shape for each word that names nothing drawable, so that no two
prompts look alike.  ``compose`` returns it with every subject's pixel box, which is what tests check pixels against
and what ``describe`` turns into the revised prompt.  Everything is a pure function of (prompt, model, size, index,
seed): no pixels are drawn here (``draw`` does that), and every choice comes from ``chance``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from . import pictograms
from .chance import Stream

__all__ = [
    "COLOURS",
    "Decoration",
    "Placed",
    "Scene",
    "Wanted",
    "compose",
    "describe",
    "named_colours",
]


def _split(words: str) -> list[str]:
    """A word list written as text, which reads (and diffs) better than a list of quoted words."""
    return words.split()


RGB = tuple[int, int, int]
Box = tuple[int, int, int, int]

#: Colour words a prompt may name, with the RGB each one paints.  Red, green, blue and friends are the pure primaries
#: so that "a blue dog" is unmistakably blue when a person (or a test) looks at the pixels.
COLOURS: dict[str, RGB] = {
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
    "golden": (255, 200, 0),
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
_COLOUR_RE = re.compile(r"\b(" + "|".join(sorted(COLOURS, key=len, reverse=True)) + r")\b", re.IGNORECASE)
_WORD_RE = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*|[,.;:!?]")

#: Words too common to say anything about a picture; they change nothing, so "a cat" and "the cat" look alike.
STOPWORDS = frozenset(
    _split(
        """
        a an the and or but nor of to into onto for from as is are was were be been being it its this that these
        those there here some any very so too than then my your our their his her i me we you he she they them
        us who whom which what while where when how all each both more most other such only own same just can
        will should would could may might must do does did not no up down out off again further once s t at
        through across along around against full has have having shows showing show made looking look looks like
        seen view scene picture image photo photograph says saying reads reading written words word text with
        during
        """
    )
)

_NUMBERS = {
    "one": 1,
    "single": 1,
    "lone": 1,
    "two": 2,
    "pair": 2,
    "couple": 2,
    "twin": 2,
    "twins": 2,
    "three": 3,
    "few": 3,
    "four": 4,
    "several": 4,
    "five": 5,
    "many": 5,
    "lots": 5,
    "flock": 5,
    "herd": 5,
    "group": 4,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "dozen": 12,
}
_MAX_COUNT = 12
_SIZES = {
    "big": 1.35,
    "large": 1.35,
    "huge": 1.6,
    "giant": 1.6,
    "enormous": 1.6,
    "massive": 1.6,
    "tall": 1.3,
    "small": 0.7,
    "little": 0.7,
    "short": 0.8,
    "baby": 0.75,
    "tiny": 0.45,
    "mini": 0.45,
    "miniature": 0.45,
}
_NUMBER_WORDS = {v: k for k, v in reversed(_NUMBERS.items()) if k not in ("pair", "couple", "few", "many", "lots")}

#: Styles, as phrases a prompt says them in; the longest phrase wins ("oil painting" before "painting").
_STYLES: dict[str, str] = {
    "pixel art": "pixel art",
    "pixel": "pixel art",
    "pixelated": "pixel art",
    "8 bit": "pixel art",
    "8bit": "pixel art",
    "retro game": "pixel art",
    "pencil sketch": "pencil sketch",
    "pencil drawing": "pencil sketch",
    "sketch": "pencil sketch",
    "pencil": "pencil sketch",
    "charcoal": "pencil sketch",
    "line art": "pencil sketch",
    "drawing": "pencil sketch",
    "watercolor": "watercolor",
    "watercolour": "watercolor",
    "watercolors": "watercolor",
    "watercolours": "watercolor",
    "aquarelle": "watercolor",
    "oil painting": "oil painting",
    "oil paint": "oil painting",
    "oils": "oil painting",
    "impasto": "oil painting",
    "impressionist": "oil painting",
    "painting": "oil painting",
    "neon": "neon",
    "cyberpunk": "neon",
    "synthwave": "neon",
    "glowing": "neon",
    "black and white": "black and white",
    "black & white": "black and white",
    "b&w": "black and white",
    "monochrome": "black and white",
    "grayscale": "black and white",
    "greyscale": "black and white",
    "noir": "black and white",
    "sepia": "sepia",
    "vintage": "sepia",
}
STYLES = tuple(dict.fromkeys(_STYLES.values()))

_LIGHTS: dict[str, str] = {
    "night": "night",
    "nighttime": "night",
    "midnight": "night",
    "moonlit": "night",
    "moonlight": "night",
    "starry": "night",
    "starlit": "night",
    "sunset": "sunset",
    "sundown": "sunset",
    "golden hour": "sunset",
    "dusk": "dusk",
    "twilight": "dusk",
    "evening": "dusk",
    "sunrise": "dawn",
    "dawn": "dawn",
    "daybreak": "dawn",
    "morning": "dawn",
    "day": "day",
    "daytime": "day",
    "noon": "day",
    "sunny": "day",
    "daylight": "day",
}
_WEATHER: dict[str, str] = {
    "rain": "rain",
    "rainy": "rain",
    "raining": "rain",
    "storm": "rain",
    "stormy": "rain",
    "thunderstorm": "rain",
    "drizzle": "rain",
    "downpour": "rain",
    "fog": "fog",
    "foggy": "fog",
    "mist": "fog",
    "misty": "fog",
    "haze": "fog",
    "hazy": "fog",
    "snowing": "snowfall",
    "snowfall": "snowfall",
    "blizzard": "snowfall",
    "snowflakes": "snowfall",
    "cloudy": "cloudy",
    "overcast": "cloudy",
    "clouds": "cloudy",
    "grey sky": "cloudy",
}


@dataclass(frozen=True)
class _Place:
    """What one setting word adds: its kind (for the description), the ground it implies, background features."""

    kind: str
    ground: str
    features: tuple[str, ...] = ()
    part: str = "ground"  # which part a colour named just before the word tints


_INDOOR = ("living room", "kitchen", "bedroom", "room")
_SETTING_WORDS: dict[str, _Place] = {
    **dict.fromkeys(
        ("snow", "snowy", "winter", "arctic", "icy", "ice", "frozen", "tundra", "snowfield"), _Place("snow", "snow")
    ),
    **dict.fromkeys(
        ("forest", "forests", "woods", "woodland", "jungle", "rainforest", "grove", "pines"),
        _Place("forest", "grass", ("trees",), "trees"),
    ),
    **dict.fromkeys(
        ("beach", "shore", "seaside", "coast", "coastline", "seashore", "sand", "sandy"),
        _Place("beach", "sand", ("sea",)),
    ),
    **dict.fromkeys(
        ("sea", "ocean", "waves", "lake", "harbour", "harbor", "bay", "water", "river", "pond", "underwater"),
        _Place("sea", "water", (), "water"),
    ),
    **dict.fromkeys(("desert", "dunes", "dune", "sahara"), _Place("desert", "sand", ("dunes",))),
    **dict.fromkeys(
        ("mountain", "mountains", "hills", "hill", "alps", "peaks", "peak", "valley", "hillside"),
        _Place("mountains", "grass", ("mountains",)),
    ),
    **dict.fromkeys(
        ("city", "town", "street", "streets", "downtown", "skyline", "village", "skyscrapers", "metropolis"),
        _Place("city", "road", ("skyline",), "skyline"),
    ),
    **dict.fromkeys(
        ("space", "outer space", "galaxy", "cosmos", "universe", "orbit", "nebula"), _Place("space", "none")
    ),
    "living room": _Place("living room", "floor", ("window", "rug"), "walls"),
    "lounge": _Place("living room", "floor", ("window", "rug"), "walls"),
    "kitchen": _Place("kitchen", "floor", ("window", "tiles"), "walls"),
    "bedroom": _Place("bedroom", "floor", ("window",), "walls"),
    **dict.fromkeys(
        ("room", "indoors", "inside", "interior", "office", "classroom", "library", "hallway"),
        _Place("room", "floor", ("window",), "walls"),
    ),
    **dict.fromkeys(
        ("field", "fields", "meadow", "grass", "grassy", "farm", "garden", "park", "countryside", "prairie", "lawn"),
        _Place("meadow", "grass"),
    ),
    **dict.fromkeys(("cliff", "cliffs", "clifftop"), _Place("cliff", "water", ("cliff",), "cliff")),
}
#: When several setting words meet, the most specific place names the scene ("a snowy forest" is a forest).
_KIND_ORDER = ("living room", "kitchen", "bedroom", "room", "space", "cliff", "beach", "sea", "desert", "city",
               "forest", "mountains", "snow", "meadow")  # fmt: skip
#: Words for parts of a scene that a colour can tint without being a setting of their own ("a pink sky").
_PART_WORDS = {"sky": "sky", "skies": "sky", "ground": "ground", "walls": "walls", "wall": "walls", "stars": "stars"}

_POSITIONS: dict[str, str] = {
    "on the left": "left",
    "to the left": "left",
    "at the left": "left",
    "on the left side": "left",
    "left side": "left",
    "on the right": "right",
    "to the right": "right",
    "at the right": "right",
    "on the right side": "right",
    "right side": "right",
    "in the middle": "centre",
    "in the center": "centre",
    "in the centre": "centre",
    "centered": "centre",
    "centred": "centre",
    "at the top": "sky",
    "in the sky": "sky",
    "in the air": "sky",
    "overhead": "sky",
    "up high": "sky",
    "at the bottom": "foreground",
    "in the foreground": "foreground",
    "up close": "foreground",
    "in the background": "background",
    "in the distance": "background",
    "far away": "background",
    "distant": "background",
}
_RELATIONS: dict[str, str] = {
    "on top of": "on",
    "on": "on",
    "onto": "on",
    "upon": "on",
    "atop": "on",
    "above": "above",
    "over": "above",
    "under": "below",
    "below": "below",
    "beneath": "below",
    "underneath": "below",
    "next to": "beside",
    "beside": "beside",
    "near": "beside",
    "by": "beside",
    "alongside": "beside",
    "with": "beside",
    "behind": "behind",
    "in front of": "front",
    "in": "in",
    "inside": "in",
    "within": "in",
}
#: Things that are drawn in the sky unless told otherwise.
_AIRBORNE = frozenset(
    _split(
        """
        sun moon star cloud rainbow comet planet plane airplane aeroplane jet helicopter rocket ufo balloon kite
        butterfly bee bat eagle parrot dove bird owl ghost fairy angel
        """
    )
)
_FLYING_VERBS = frozenset(_split("flying soaring hovering gliding floating flapping drifting orbiting"))
_CELESTIAL = frozenset(_split("sun moon star comet planet rainbow cloud"))
#: Things much bigger than a cat, and things much smaller, so "a mouse next to a house" reads right.
_BIG = frozenset(
    _split(
        """
        house home cottage cabin hut castle lighthouse tree oak pine fir palm building skyscraper church tower
        school hospital barn ship sofa couch bed car bus train truck tractor elephant whale dinosaur trex
        giraffe tent volcano bridge statue windmill piano
        """
    )
)
_SMALL = frozenset(
    _split(
        """
        bee butterfly ant ladybug ladybird snail mouse flower apple cherry banana cup mug ball key hat book
        candle cookie cake donut egg spider shell crown ring glasses lamp phone clock carrot gift present
        mushroom
        """
    )
)
_SUPPORTS = frozenset(_split("sofa couch bed chair bench table"))
#: Things that carry written text on them: a sign says 'hello'.
_SIGNS = frozenset(_split("sign signpost placard poster billboard banner board"))
#: Subjects drawn by hand because no emoji shows them.
PROPS = frozenset({"lighthouse", "submarine"})

#: Participles a prompt may use, and the present tense the description uses for them.
_VERB_OVERRIDES = {
    "lying": "lies",
    "flying": "flies",
    "sitting": "sits",
    "running": "runs",
    "swimming": "swims",
    "visiting": "visits",
    "opening": "opens",
    "shining": "shines",
    "carrying": "carries",
    "hurrying": "hurries",
}
#: Participles that tie the next subject to the last one: "a cat wearing a hat" puts the hat on the cat.
_WEARING = {"wearing": "worn", "holding": "held", "carrying": "held"}


# --------------------------------------------------------------------------------------------------- reading


@dataclass
class Wanted:
    """One kind of subject the prompt asks for, before it is placed."""

    phrase: str  # the prompt's own words for it, modifiers included: "baby sea otter"
    noun: str  # its noun as written: "otter", "cats"
    emoji: str | None
    prop: str | None
    count: int = 1
    colour: str | None = None
    scale: float = 1.0
    place: str | None = None
    relation: str | None = None
    anchor: int | None = None  # index of the subject it relates to; -1 is the cliff of the setting
    action: str | None = None
    airborne: bool = False
    sign: bool = False


@dataclass
class _Reading:
    subjects: list[Wanted] = field(default_factory=list)
    places: list[_Place] = field(default_factory=list)
    tints: dict[str, str] = field(default_factory=dict)
    light: str | None = None
    weather: str | None = None
    style: str | None = None
    text: str | None = None
    leftovers: list[str] = field(default_factory=list)
    accents: list[str] = field(default_factory=list)
    outdoor: bool = False  # the prompt mentions the sky


_QUOTED_RE = re.compile(
    r"\"([^\"]{1,80})\"|“([^”]{1,80})”|‘([^’]{1,80})’|(?:(?<=^)|(?<=[\s(:]))'([^']{1,80})'(?=$|[\s.,!?;:)])"
)
_SAYS_RE = re.compile(r"\b(?:says|saying|reads|reading|with the words?|written)\s+([A-Za-z0-9!?]+)", re.IGNORECASE)
_MAX_TEXT = 40


def _quoted_text(prompt: str) -> tuple[str | None, str]:
    """The first quoted text of the prompt (what a sign should say), and the prompt without it."""
    match = _QUOTED_RE.search(prompt)
    if match is not None:
        text = next(group for group in match.groups() if group is not None).strip()
        return text[:_MAX_TEXT] or None, prompt[: match.start()] + " " + prompt[match.end() :]
    said = _SAYS_RE.search(prompt)
    if said is not None:
        return said.group(1)[:_MAX_TEXT], prompt[: said.start(1)] + " " + prompt[said.end(1) :]
    return None, prompt


def _phrase_at(tokens: Sequence[str], i: int, table: dict[str, str] | dict[str, _Place], longest: int = 4) -> int:
    """Length of the longest phrase of ``table`` starting at token ``i`` (0 when none)."""
    for length in range(min(longest, len(tokens) - i), 0, -1):
        if " ".join(tokens[i : i + length]) in table:
            return length
    return 0


def _noun_at(tokens: Sequence[str], i: int) -> tuple[int, str | None, str | None]:
    """(length, emoji, prop) of the longest noun phrase starting at ``i`` that names a pictogram or a prop."""
    for length in (3, 2, 1):
        if i + length > len(tokens):
            continue
        words = tokens[i : i + length]
        if any(w in STOPWORDS or not w[0].isalnum() for w in words):
            continue
        phrase = " ".join(words)
        if length == 1:
            if phrase in PROPS or any(form in PROPS for form in pictograms.singular(phrase)):
                return 1, None, next(f for f in [phrase, *pictograms.singular(phrase)] if f in PROPS)
            if phrase.endswith("ing") and len(phrase) > 5 and phrase not in ("building", "painting", "ring", "king"):
                return 0, None, None
            if phrase in COLOURS or phrase in _NUMBERS or phrase in _SIZES:
                return 0, None, None
        char = pictograms.emoji_for(phrase)
        if char is not None:
            return length, char, None
    return 0, None, None


def _read(prompt: str) -> _Reading:
    """Walk the prompt once, left to right, gathering modifiers until the noun (or setting word) they qualify."""
    reading = _Reading()
    reading.text, rest = _quoted_text(prompt)
    tokens = [t.lower().replace("’", "'") for t in _WORD_RE.findall(rest)]
    tokens = [t[:-2] if t.endswith("'s") else t for t in tokens]
    count: int | None = None
    colour: str | None = None
    scale = 1.0
    words: list[str] = []
    place: str | None = None
    relation: tuple[str, int] | None = None
    last: int | None = None
    start: int | None = None  # where the noun phrase being read began, so the description can quote it
    worn: tuple[str, int] | None = None

    def flush() -> None:
        nonlocal count, colour, scale, words, start
        if colour is not None:
            reading.accents.append(colour)
        reading.leftovers.extend(words)
        count, colour, scale, words, start = None, None, 1.0, [], None

    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token[0].isalnum() or token in ("and", "but", "while"):
            flush()
            relation = worn = None
            i += 1
            continue
        if n := _phrase_at(tokens, i, _STYLES):
            reading.style = reading.style or _STYLES[" ".join(tokens[i : i + n])]
            i += n
            continue
        if n := _phrase_at(tokens, i, _POSITIONS):
            where = _POSITIONS[" ".join(tokens[i : i + n])]
            if last is not None and reading.subjects[last].place is None:
                reading.subjects[last].place = where
            else:
                place = where
            i += n
            continue
        if n := _phrase_at(tokens, i, _LIGHTS):
            reading.light = reading.light or _LIGHTS[" ".join(tokens[i : i + n])]
            i += n
            continue
        if n := _phrase_at(tokens, i, _WEATHER):
            reading.weather = reading.weather or _WEATHER[" ".join(tokens[i : i + n])]
            if colour is not None and " ".join(tokens[i : i + n]) == "clouds":
                reading.tints["clouds"] = colour
                colour = None
            i += n
            continue
        if token in _PART_WORDS:
            part = _PART_WORDS[token]
            reading.outdoor = reading.outdoor or part == "sky"
            if part == "stars":
                reading.light = reading.light or "night"
            if colour is not None:
                reading.tints[part] = colour
                colour = None
            flush()
            i += 1
            continue
        if n := _phrase_at(tokens, i, _SETTING_WORDS):
            spot = _SETTING_WORDS[" ".join(tokens[i : i + n])]
            noun_next, _, _ = _noun_at(tokens, i + n)
            if _phrase_at(tokens, i + n, _SETTING_WORDS):  # "a snowy park": both words set the scene
                noun_next = 0
            reading.places.append(spot)
            if colour is not None and not noun_next:
                reading.tints[spot.part] = colour
                colour = None
            if noun_next:  # "a sea otter", "a snow leopard": the word sets the scene and qualifies the noun
                words.extend(tokens[i : i + n])
                start = i if start is None else start
            else:
                if relation is not None and spot.kind == "cliff":
                    reading.subjects[relation[1]].relation = relation[0]
                    reading.subjects[relation[1]].anchor = -1
                relation = None
                flush()
            i += n
            continue
        if token in _NUMBERS or token.isdigit():
            count = min(_MAX_COUNT, max(1, int(token) if token.isdigit() else _NUMBERS[token]))
            start = i if start is None else start
            i += 1
            continue
        if token in COLOURS:
            colour = token
            start = i if start is None else start
            i += 1
            continue
        if token in _SIZES:
            scale *= _SIZES[token]
            start = i if start is None else start
            if token == "baby":
                words.append(token)
            i += 1
            continue
        if n := _phrase_at(tokens, i, _RELATIONS, longest=3):
            rel = _RELATIONS[" ".join(tokens[i : i + n])]
            if last is not None:
                relation = (rel, last)
            flush()
            i += n
            continue
        length, char, prop = _noun_at(tokens, i)
        if length:
            after, _, _ = _noun_at(tokens, i + length)
            if after:  # "a baby otter", "a dog house": the first noun qualifies the second
                words.extend(tokens[i : i + length])
                start = i if start is None else start
                i += length
                continue
            noun = tokens[i + length - 1]
            stem = pictograms.singular(noun)[0]
            wanted = Wanted(
                phrase=" ".join(
                    t
                    for t in tokens[(i if start is None else start) : i + length]
                    if t not in STOPWORDS and t not in _NUMBERS and not t.isdigit() and t[0].isalnum()
                ),
                noun=noun,
                emoji=char,
                prop=prop,
                count=count if count is not None else (2 if noun != stem and noun not in ("glasses",) else 1),
                colour=colour,
                scale=scale,
                place=place,
                airborne=stem in _AIRBORNE or noun in _AIRBORNE,
                sign=stem in _SIGNS or noun in _SIGNS,
            )
            reading.subjects.append(wanted)
            if worn is not None:  # the hat a cat is wearing is placed on the cat, not beside it
                wanted.relation, wanted.anchor = worn
                worn = None
            elif relation is not None:
                source = reading.subjects[relation[1]]
                source.relation, source.anchor = relation[0], len(reading.subjects) - 1
                relation = None
            last = len(reading.subjects) - 1
            count, colour, scale, words, place, start = None, None, 1.0, [], None, None
            i += length
            continue
        if token in _WEARING and last is not None:
            worn = (_WEARING[token], last)
            flush()
            i += 1
            continue
        if token.endswith("ing") and len(token) > 4:
            if last is not None and reading.subjects[last].action is None:
                reading.subjects[last].action = token
                if token in _FLYING_VERBS and not any(p.ground == "water" for p in reading.places):
                    reading.subjects[last].airborne = True
            i += 1
            continue
        if token not in STOPWORDS:
            words.append(token)
            start = i if start is None else start
        i += 1
    flush()
    return reading


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

    def tint(self, part: str) -> RGB | None:
        return dict(self.tints).get(part)

    def without_subjects(self) -> Scene:
        """The same scene with no pictograms, text or shapes: what is behind them (tests compare against it)."""
        return replace(self, subjects=(), decorations=(), text=None, text_box=None)


def named_colours(prompt: str) -> list[str]:
    """Colour words in order of first appearance; gray and grey (and gold and golden) count once."""
    names: list[str] = []
    seen: set[RGB] = set()
    for match in _COLOUR_RE.finditer(prompt):
        name = match.group(1).lower()
        if COLOURS[name] not in seen:
            seen.add(COLOURS[name])
            names.append(name)
    return names


def _setting(reading: _Reading) -> tuple[str, str, tuple[str, ...]]:
    if not reading.places:
        if reading.light is not None or reading.weather is not None or reading.outdoor:
            return "meadow", "grass", ()  # "in the rain", "at sunset": weather and light need an outdoors
        return "studio", "studio", ()
    kinds = {p.kind for p in reading.places}
    kind = next(k for k in _KIND_ORDER if k in kinds)
    features = list(dict.fromkeys(f for p in reading.places for f in p.features))
    if kind in _INDOOR:
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
_MAX_SHAPES = 40
_MIN_SHAPES = 3


def _hashed_palette(prompt: str) -> list[RGB]:
    """Three hues spread around the wheel, so an unnamed prompt still gets a distinct, harmonious look of its own."""
    import colorsys

    stream = Stream("palette", prompt)
    base = stream.unit()
    offsets = (0.0, stream.between(0.2, 0.4), stream.between(0.55, 0.75))
    colours: list[RGB] = []
    for offset in offsets:
        r, g, b = colorsys.hsv_to_rgb((base + offset) % 1.0, stream.between(0.5, 0.9), stream.between(0.6, 0.95))
        colours.append((round(r * 255), round(g * 255), round(b * 255)))
    return colours


def palette(prompt: str) -> list[RGB]:
    """The colours a prompt names, or a stable stand-in when it names none (so unnamed prompts differ)."""
    names = named_colours(prompt)
    return [COLOURS[name] for name in names] if names else _hashed_palette(prompt)


def _content_words(prompt: str) -> list[str]:
    words = [word.lower() for word in _WORD_RE.findall(prompt) if word[0].isalnum()]
    return [word for word in words if word not in STOPWORDS][:_MAX_SHAPES]


def _abstract_shapes(prompt: str, colours: Sequence[RGB], *, model: str, index: int, seed: int) -> list[Decoration]:
    """One big shape per content word: the picture of a prompt that names nothing drawable.

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


def _small_shapes(words: Sequence[str], colours: Sequence[RGB], boxes: Sequence[Box], scene_w: int, scene_h: int,
                  horizon: float, *, key: tuple[object, ...]) -> list[Decoration]:  # fmt: skip
    """One small shape per word that names nothing drawable, kept off the subjects, so the word still shows."""
    shapes: list[Decoration] = []
    counts: dict[str, int] = {}
    for word in words[:_MAX_SHAPES]:
        counts[word] = counts.get(word, 0) + 1
        home = Stream("small shape", word, counts[word], *key)
        kind = _SHAPE_KINDS[home.pick(len(_SHAPE_KINDS))]
        radius = home.between(0.018, 0.04)
        side = min(scene_w, scene_h)
        cx = cy = 0.5
        for _ in range(12):
            cx = home.between(0.05, 0.95)
            low_band = home.unit() < 0.6 and horizon < 0.95
            cy = home.between(horizon + 0.05, 0.95) if low_band else home.between(0.05, max(0.1, horizon - 0.08))
            x, y, r = cx * scene_w, cy * scene_h, radius * side
            if not any(b[0] - r < x < b[2] + r and b[1] - r < y < b[3] + r for b in boxes):
                break
        colour = colours[home.pick(len(colours))]
        shapes.append(
            Decoration(
                kind, cx, cy, radius, home.between(0, 2 * math.pi), home.between(0.45, 0.85), 5 + home.pick(4), colour
            )
        )
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
    if wanted.prop is not None or stem in _BIG or wanted.noun in _BIG:
        return 1.35
    if stem in _SMALL or wanted.noun in _SMALL:
        return 0.6
    if stem in ("child", "kid", "boy", "girl"):
        return 0.75
    return 1.0


def _layout(reading: _Reading, kind: str, horizon: float, width: int, height: int, stream: Stream,
            cliff: tuple[float, float, float] | None) -> list[_Slot]:  # fmt: skip
    """Rough positions, in fractions: ground subjects in a row on the ground, airborne ones in the sky, relations kept.

    The row's order is the prompt's order and never changes with index or seed (only small jitter does), so a
    description that says "on the left" stays true for every picture of a request.
    """
    subjects = reading.subjects
    aspect_ratio = width / height
    side_frac_w = min(width, height) / width  # converts a height in shorter-side units to a width fraction
    ground_y = horizon + (1.0 - horizon) * 0.68 if horizon < 0.99 else 0.78
    ground_count = sum(w.count for w in subjects if not w.airborne and w.relation not in ("on", "above", "in"))
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
            h = size_of(w) * (0.75 if stem in _CELESTIAL else 1.0)
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
            if w.relation in ("on", "in"):
                stem_t = pictograms.singular(t_wanted.noun)[0]
                support = stem_t in _SUPPORTS
                # a sofa's seat is a little below the middle of its pictogram; other things carry on their top
                seat = 0.62 if support else (0.45 if w.relation == "in" else 0.05)
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
    del aspect_ratio
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
    return {"lighthouse": 0.38, "submarine": 2.1}.get(prop, 1.0)


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
    reading = _read(prompt)
    colours = palette(prompt)
    if not (reading.subjects or reading.places or reading.text or reading.light or reading.weather or reading.outdoor):
        shapes = _abstract_shapes(prompt, colours, model=model, index=index, seed=seed)
        return Scene(
            prompt=prompt, width=width, height=height, kind="abstract", ground="none", features=(), light="day",
            weather=None, style=reading.style, text=None, text_box=None, subjects=(), decorations=tuple(shapes),
            horizon=height, tints=(), palette=tuple(colours), transparent=transparent,
            variant=Stream("variant", "abstract", model, index, seed).unit().hex().encode(),
        )  # fmt: skip
    kind, ground, features = _setting(reading)
    light = reading.light or "day"
    weather = reading.weather
    if kind in _INDOOR and weather in ("rain", "fog", "snowfall"):
        weather = None
    jitter = Stream("layout", " ".join(_content_words(prompt)), model, index, seed, variation)
    horizon = _HORIZONS.get(kind, 0.7 if kind in _INDOOR else 0.6)
    if kind in _INDOOR:
        horizon = 0.66
    if horizon < 0.99:
        horizon += Stream("horizon", kind, model, index, seed).between(-0.03, 0.03)
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
    boxes = [p.box for p in subjects] + ([text_box] if text_box else [])
    accents = [COLOURS[c] for c in reading.accents] or colours
    decorations = _small_shapes(
        reading.leftovers, accents, boxes, width, height, horizon, key=(model, index, seed, variation)
    )
    tints = tuple((part, COLOURS[name]) for part, name in sorted(reading.tints.items()))
    if kind == "studio" and reading.accents:
        tints = (*tints, ("studio", COLOURS[reading.accents[0]]))
    told = tuple(Told(w.phrase, w.noun, w.count, w.relation, w.anchor, w.action, w.prop) for w in reading.subjects)
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
        decorations=tuple(decorations),
        horizon=round(horizon * height),
        tints=tints,
        palette=tuple(colours),
        transparent=transparent,
        variant=Stream("variant", kind, model, index, seed).unit().hex().encode(),
        told=told,
        cliff_box=cliff_box,
    )


def _varied_tint(tint: RGB | None, stream: Stream) -> RGB | None:
    """A variation recolours: a tinted subject turns a nearby hue, an untinted one sometimes takes a new colour."""
    import colorsys

    if tint is None:
        if stream.unit() < 0.5:
            return None
        names = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "teal", "brown")
        return COLOURS[names[stream.pick(len(names))]]
    h, s, v = colorsys.rgb_to_hsv(*(c / 255 for c in tint))
    r, g, b = colorsys.hsv_to_rgb((h + stream.between(0.06, 0.14) * stream.sign()) % 1.0, s, v)
    return (round(r * 255), round(g * 255), round(b * 255))


def _text_box(reading: _Reading, subjects: Sequence[Placed], width: int, height: int) -> Box:
    """Where quoted text goes: on the board of the first sign, or on a banner across the top of the picture."""
    for w_index, wanted in enumerate(reading.subjects):
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
            del w_index
    band = round(height * 0.13)
    margin = round(width * 0.14)
    return (margin, round(height * 0.04), width - margin, round(height * 0.04) + band)


# --------------------------------------------------------------------------------------------------- describing

_SETTING_WORDING: dict[str, tuple[str, ...]] = {
    "studio": ("a plain {studio} backdrop", "a simple {studio} background"),
    "snow": ("a snowy field", "a field of fresh snow"),
    "forest": ("a {trees}forest", "a {trees}wood"),
    "beach": ("a sandy beach by the sea", "a sunny stretch of beach"),
    "sea": ("the open sea", "calm blue water"),
    "desert": ("a desert of rolling dunes", "sandy desert dunes"),
    "mountains": ("a valley below the mountains", "a green mountain valley"),
    "city": ("a city street below tall buildings", "a busy city street"),
    "space": ("outer space", "the darkness of space"),
    "meadow": ("a {ground}meadow", "an open {ground}field"),
    "cliff": ("a rocky cliff above the sea", "a cliff top over the sea"),
    "living room": ("a cosy living room", "a warm living room"),
    "kitchen": ("a bright kitchen", "a tidy kitchen"),
    "bedroom": ("a quiet bedroom", "a cosy bedroom"),
    "room": ("a simple room", "a quiet room"),
}
_LIGHT_WORDING: dict[str, tuple[str, ...]] = {
    "day": ("under a bright blue sky", "beneath a clear blue sky"),
    "snowday": ("under a pale winter sky", "beneath a pale winter sky"),
    "night": ("under a starry night sky", "beneath a dark sky full of stars"),
    "sunset": ("under a sky glowing orange at sunset", "as the sun sets in orange and pink"),
    "dusk": ("in the violet light of dusk", "as dusk turns the sky purple"),
    "dawn": ("in the soft pink light of dawn", "as dawn breaks in pale pink"),
    "indoor day": ("in warm daylight from the window", "lit by daylight through the window"),
    "indoor night": ("lit by a warm lamp at night", "in lamplight, with night at the window"),
    "space": ("among distant stars", "surrounded by stars"),
    "studio": ("in soft, even light", "in gentle studio light"),
}
_WEATHER_WORDING = {
    "rain": ("in falling rain", "as rain pours down"),
    "fog": ("half hidden in fog", "in a soft grey fog"),
    "snowfall": ("as snow falls", "with snowflakes drifting down"),
    "cloudy": ("with clouds drifting overhead", "under scattered clouds"),
}
_STYLE_WORDING = {
    "pixel art": ("drawn as chunky pixel art", "rendered in blocky pixel art"),
    "pencil sketch": ("drawn as a pencil sketch", "sketched in grey pencil lines"),
    "watercolor": ("painted in soft watercolor", "in loose watercolor washes"),
    "oil painting": ("painted in thick oil brush strokes", "as an oil painting with visible strokes"),
    "neon": ("glowing in neon colours on a dark ground", "outlined in glowing neon"),
    "black and white": ("in black and white", "in monochrome greys"),
    "sepia": ("in faded sepia tones", "like an old sepia photograph"),
}
#: What a dall-e-3 ``style`` adds: vivid reads dramatic, natural restrained, as the real model's rewrites do.
_TONE_WORDING = {
    "vivid": (
        "in bold, saturated colours with crisp, dramatic contrast",
        "with vivid colours and a striking, cinematic mood",
        "in intense, glowing colours with sharp detail",
    ),
    "natural": (
        "in soft, natural colours with gentle shadows",
        "with muted, true-to-life colours and a calm mood",
        "in subtle, realistic tones and even light",
    ),
}
REVISION_STYLES = tuple(_TONE_WORDING)

_VERBS = {
    "ground": ("stands", "stand"),
    "sit": ("sits", "sit"),
    "air": ("floats", "float"),
    "water": ("floats", "float"),
    "fly": ("flies", "fly"),
    "shine": ("shines", "shine"),
}
#: Airborne things that fly rather than float.
_FLIERS = frozenset(
    _split("bird owl eagle parrot dove bat butterfly bee dragon plane airplane aeroplane jet helicopter rocket ufo")
)


def _present(participle: str, plural: bool) -> str:
    """ "sitting" -> "sits" / "sit": the description's verb, from the prompt's own participle."""
    if participle in _VERB_OVERRIDES:
        singular = _VERB_OVERRIDES[participle]
    else:
        stem = participle[:-3]
        vowels = "aeiou"
        if len(stem) > 2 and stem[-1] == stem[-2] and stem[-1] not in "aeiouls":
            stem = stem[:-1]  # running -> run
        elif stem.endswith("c") or (
            len(stem) >= 3 and stem[-1] not in vowels + "wyxr" and stem[-2] in vowels and stem[-3] not in vowels
        ):
            stem += "e"  # dancing -> dance, skating -> skate, diving -> dive (but floating -> float)
        singular = stem + ("es" if stem.endswith(("sh", "ch", "ss", "x")) else "s")
    return singular[:-1] if plural and singular.endswith("s") and not singular.endswith("ss") else singular


def _where(box: Box, width: int) -> str:
    centre = (box[0] + box[2]) / 2 / width
    if centre < 0.38:
        return "on the left"
    if centre > 0.62:
        return "on the right"
    return "in the middle"


def _count_phrase(phrase: str, noun: str, count: int) -> str:
    if count == 1 and phrase in ("sun", "moon"):
        return f"the {phrase}"  # there is one
    if count == 1:
        article = "an" if phrase[:1] in "aeiou" else "a"
        return f"{article} {phrase}"
    stem = pictograms.singular(noun)[0]
    plural_phrase = phrase if noun != stem else phrase[: len(phrase) - len(noun)] + _plural(noun)
    number = _NUMBER_WORDS.get(count, str(count))
    return f"{number} {plural_phrase}"


def _plural(noun: str) -> str:
    irregular = {"mouse": "mice", "goose": "geese", "person": "people", "child": "children", "man": "men",
                 "woman": "women", "sheep": "sheep", "fish": "fish", "deer": "deer", "wolf": "wolves"}  # fmt: skip
    if noun in irregular:
        return irregular[noun]
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "o", "u"):
        return noun[:-1] + "ies"
    if noun.endswith(("s", "x", "ch", "sh", "z")):
        return noun + "es"
    return noun + "s"


def describe(scene: Scene, *, style: str | None = None, flavour: str = "") -> str:
    """The revised prompt: one or two sentences saying what the picture shows, where, in what light and style.

    ``style`` is dall-e-3's vivid or natural (None for none); ``flavour`` picks among equivalent wordings, so a
    caller can give each text model or refinement turn its own deterministic phrasing of the same picture.
    """
    if style is not None and style not in _TONE_WORDING:
        raise ValueError(f"style must be one of {sorted(_TONE_WORDING)} or None, got {style!r}")
    stream = Stream("describe", scene.prompt, style, flavour)

    def choose(options: Sequence[str]) -> str:
        return options[stream.pick(len(options))]

    finish = ""
    if scene.style:
        finish += ", " + choose(_STYLE_WORDING[scene.style])
    if style is not None:
        finish += ", " + choose(_TONE_WORDING[style])
    if scene.kind == "abstract":
        names = named_colours(scene.prompt) or ["softly shaded"]
        colours = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
        subject = " ".join(scene.prompt.split()).rstrip(" .!;,") or "an untitled scene"
        return f"An abstract composition of {colours} shapes evoking {subject}{finish}."
    place = choose(_SETTING_WORDING[scene.kind])
    ground = scene.tint("ground")
    trees = scene.tint("trees")
    studio = scene.tint("studio")
    place = place.format(
        ground=_colour_word(ground) + " " if ground else ("green " if scene.ground == "grass" else ""),
        trees=(_colour_word(trees) + " ") if trees else ("snowy " if scene.ground == "snow" else ""),
        studio=_colour_word(studio) if studio else "pastel",
    )
    if scene.kind == "meadow" and scene.ground == "snow":
        place = "a snowy meadow"
    if scene.kind in _INDOOR:
        light = choose(_LIGHT_WORDING["indoor night" if scene.light == "night" else "indoor day"])
    elif scene.kind in ("space", "studio"):
        light = choose(_LIGHT_WORDING[scene.kind])
    elif scene.light == "day" and scene.ground == "snow":
        light = choose(_LIGHT_WORDING["snowday"])
    else:
        light = choose(_LIGHT_WORDING[scene.light])
    sky = scene.tint("sky")
    if sky and scene.kind not in _INDOOR and scene.kind not in ("space", "studio"):
        light = f"under a {_colour_word(sky)} sky"
    if scene.weather:
        light += " " + choose(_WEATHER_WORDING[scene.weather])
    extras = []
    if "mountains" in scene.features and scene.kind != "mountains":
        extras.append("mountains rising behind")
    if "trees" in scene.features and scene.kind != "forest":
        extras.append("trees along the horizon")
    tail = (", with " + " and ".join(extras)) if extras else ""
    if not scene.told:
        opener = place[0].upper() + place[1:]
        sentence = f"{opener} {light}{tail}{finish}."
        return sentence + _text_sentence(scene, sign=False)
    dressing = {"worn", "held"}
    anchors = {t.anchor for t in scene.told if t.anchor is not None and t.anchor >= 0 and t.relation not in dressing}
    worn = {k for k, t in enumerate(scene.told) if t.relation in dressing}
    main = next((k for k, t in enumerate(scene.told) if k not in anchors and k not in worn), 0)
    clauses: list[str] = []
    for k, told in enumerate(scene.told):
        if (k in anchors or k in worn) and k != main:
            continue  # named in the clause of what relates to it ("three cats sit on a sofa", "a cat wearing a hat")
        clause = _subject_clause(scene, told, place, main=k == main, choose=choose)
        if k == main:
            clauses.insert(0, f"{clause} {light}")
        else:
            clauses.append(clause)
    sentence = clauses[0][0].upper() + clauses[0][1:]
    if len(clauses) > 1:
        sentence += ", with " + ", ".join(clauses[1:-1]) + (" and " if len(clauses) > 2 else "") + clauses[-1]
    return f"{sentence}{tail}{finish}." + _text_sentence(scene, sign=any(p.noun in _SIGNS for p in scene.subjects))


_RELATION_WORDS = {
    "worn": "wearing",
    "held": "holding",
    "on": "on",
    "in": "in",
    "above": "above",
    "below": "below",
    "beside": "next to",
    "behind": "behind",
    "front": "in front of",
}


def _boxes_of(scene: Scene, told: Told) -> Box:
    stem = pictograms.singular(told.noun)[0]
    boxes = [p.box for p in scene.subjects if p.noun in (stem, told.noun)]
    return _union(boxes) if boxes else (0, 0, scene.width, scene.height)


def _subject_clause(scene: Scene, told: Told, place: str, *, main: bool, choose: Callable[[Sequence[str]], str]) -> str:
    """ "three cats sit on a sofa in the middle of a cosy living room"; for a later subject, "a dog on the right"."""
    words = _count_phrase(told.phrase, told.noun, told.count)
    me = scene.told.index(told)
    for other in scene.told:
        if other.anchor == me and other.relation in ("worn", "held"):
            words += f" {_RELATION_WORDS[other.relation]} {_count_phrase(other.phrase, other.noun, other.count)}"
    plural = told.count > 1
    stem = pictograms.singular(told.noun)[0]
    box = _boxes_of(scene, told)
    if told.action:
        verb = _present(told.action, plural)
    elif told.relation in ("on", "in") and told.prop is None:
        verb = _VERBS["sit"][plural]
    elif stem in _CELESTIAL:
        verb = _VERBS["shine"][plural]
    elif stem in _FLIERS and box[3] < scene.horizon:
        verb = _VERBS["fly"][plural]
    elif stem in _AIRBORNE and box[3] < scene.horizon:
        verb = _VERBS["air"][plural]
    elif scene.ground == "water" and told.anchor != -1:
        verb = _VERBS["water"][plural]
    else:
        verb = _VERBS["ground"][plural]
    target = scene.told[told.anchor] if told.anchor is not None and told.anchor >= 0 else None
    if target is not None and told.relation is not None:
        where = f"{_RELATION_WORDS[told.relation]} {_count_phrase(target.phrase, target.noun, target.count)}"
        if main:
            position = _where(_boxes_of(scene, target), scene.width)
            if position == "in the middle":
                position = choose(("in the middle", "at the centre"))
            if scene.kind == "studio":
                return f"{words} {verb} {where}, in front of {place}"
            return f"{words} {verb} {where} {position} of {place}"
        return f"{words} {where}"
    if told.anchor == -1:  # on the cliff of the setting
        return f"{words} {verb} on {place}" if main else f"{words} on the cliff"
    if scene.kind == "space":
        verb = _VERBS["air"][plural] if not told.action else verb
        where = _where(box, scene.width)
    elif stem in _CELESTIAL and scene.kind not in _INDOOR:
        where = "in the sky"
    elif (
        scene.kind not in _INDOOR
        and scene.kind != "studio"
        and (
            box[3] < scene.horizon - 0.05 * scene.height
            or (box[3] < scene.horizon and (stem in _AIRBORNE or told.action in _FLYING_VERBS))
        )
    ):
        where = "high in the sky"
    elif plural and _where(box, scene.width) == "in the middle":
        where = "side by side"
    else:
        where = _where(box, scene.width)
    if not main:
        return f"{words} {where}"
    if where == "in the middle":
        where = choose(("at the centre", "in the middle"))
    if scene.kind == "studio":
        return f"{words} {verb} {where}, in front of {place}"
    link = " of " if where in ("at the centre", "in the middle", "on the left", "on the right") else " in "
    if where in ("in the sky", "high in the sky"):
        link = " above "
    return f"{words} {verb} {where}{link}{place}"


def _text_sentence(scene: Scene, *, sign: bool) -> str:
    if not scene.text:
        return ""
    return f' The sign reads "{scene.text}".' if sign else f' A banner reads "{scene.text}".'


def _union(boxes: Sequence[Box]) -> Box:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _colour_word(colour: RGB) -> str:
    for name, value in COLOURS.items():
        if value == colour and name not in ("grey", "golden"):
            return name
    return "coloured"
