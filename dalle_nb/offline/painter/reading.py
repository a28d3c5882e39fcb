"""Read a prompt: the words that set a scene, name its subjects and qualify them, gathered in one pass.

The vocabulary lives here (colours, counts, sizes, styles, light, weather, setting words, positions, relations) and
``read`` walks a prompt once, left to right, holding modifiers ("three", "big", "blue") until the noun or setting
word they qualify.  Nouns are looked up in ``pictograms``; nothing here lays anything out or draws.
"""

from __future__ import annotations

import colorsys
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import pictograms
from .chance import Stream

__all__ = [
    "AIRBORNE",
    "BIG",
    "CELESTIAL",
    "COLOURS",
    "FLYING_VERBS",
    "INDOOR",
    "KIND_ORDER",
    "LUMINOUS",
    "DISHES",
    "MATERIALS",
    "MAX_SHAPES",
    "NUMBER_WORDS",
    "PROPS",
    "PROP_ASPECTS",
    "SIGNS",
    "SMALL",
    "STOPWORDS",
    "SUPPORTS",
    "VERB_OVERRIDES",
    "VIEWS",
    "Place",
    "Reading",
    "Wanted",
    "content_words",
    "named_colours",
    "palette",
    "read",
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
#: The words of an instruction ("now make it dusk", "add a moon", "a storm rolls in") are among them, so a
#: refinement's wording is read as what it asks for, not as things to draw.
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
        now make makes add adds put puts turn turns change changes let please also instead keep same again
        rolls comes falls appears begins starts gets becomes
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
#: Words beyond this many place no shape: a 32,000-character prompt must not bury its picture (or the server).
MAX_SHAPES = 40
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
NUMBER_WORDS = {v: k for k, v in reversed(_NUMBERS.items()) if k not in ("pair", "couple", "few", "many", "lots")}

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
    "snowstorm": "snowfall",
    "snowflakes": "snowfall",
    "cloudy": "cloudy",
    "overcast": "cloudy",
    "clouds": "cloudy",
    "grey sky": "cloudy",
}


@dataclass(frozen=True)
class Place:
    """What one setting word adds: its kind (for the description), the ground it implies, background features."""

    kind: str
    ground: str
    features: tuple[str, ...] = ()
    part: str = "ground"  # which part a colour named just before the word tints


INDOOR = ("living room", "kitchen", "bedroom", "room")
_SETTING_WORDS: dict[str, Place] = {
    **dict.fromkeys(
        ("snow", "snowy", "winter", "arctic", "icy", "ice", "frozen", "tundra", "snowfield"), Place("snow", "snow")
    ),
    **dict.fromkeys(
        ("forest", "forests", "woods", "woodland", "jungle", "rainforest", "grove", "pines"),
        Place("forest", "grass", ("trees",), "trees"),
    ),
    **dict.fromkeys(
        ("beach", "shore", "seaside", "coast", "coastline", "seashore", "sand", "sandy"),
        Place("beach", "sand", ("sea",)),
    ),
    **dict.fromkeys(
        ("sea", "ocean", "waves", "lake", "harbour", "harbor", "bay", "water", "river", "pond", "underwater"),
        Place("sea", "water", (), "water"),
    ),
    **dict.fromkeys(("desert", "dunes", "dune", "sahara"), Place("desert", "sand", ("dunes",))),
    **dict.fromkeys(
        ("mountain", "mountains", "hills", "hill", "alps", "peaks", "peak", "valley", "hillside"),
        Place("mountains", "grass", ("mountains",)),
    ),
    **dict.fromkeys(
        ("city", "town", "street", "streets", "downtown", "skyline", "village", "skyscrapers", "metropolis"),
        Place("city", "road", ("skyline",), "skyline"),
    ),
    **dict.fromkeys(
        ("space", "outer space", "galaxy", "cosmos", "universe", "orbit", "nebula"), Place("space", "none")
    ),
    "living room": Place("living room", "floor", ("window", "rug"), "walls"),
    "lounge": Place("living room", "floor", ("window", "rug"), "walls"),
    "kitchen": Place("kitchen", "floor", ("window", "tiles"), "walls"),
    "bedroom": Place("bedroom", "floor", ("window",), "walls"),
    **dict.fromkeys(
        ("room", "indoors", "inside", "interior", "office", "classroom", "library", "hallway"),
        Place("room", "floor", ("window",), "walls"),
    ),
    **dict.fromkeys(
        ("field", "fields", "meadow", "grass", "grassy", "farm", "garden", "park", "countryside", "prairie", "lawn"),
        Place("meadow", "grass"),
    ),
    **dict.fromkeys(("cliff", "cliffs", "clifftop"), Place("cliff", "water", ("cliff",), "cliff")),
}
#: When several setting words meet, the most specific place names the scene ("a snowy forest" is a forest).
KIND_ORDER = ("living room", "kitchen", "bedroom", "room", "space", "cliff", "beach", "sea", "desert", "city",
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
#: Words that say several subjects stand together; the layout's row already does, so they add nothing else.
_TOGETHER: dict[str, str] = {
    phrase: "together" for phrase in ("side by side", "facing each other", "together", "in a row", "next to each other")
}

#: Viewpoints, as a prompt says them: each changes the framing (``scene.compose``) and the revised prompt's words.
VIEWS: dict[str, str] = {
    "top-down": "above",
    "top down": "above",
    "aerial": "above",
    "aerial view": "above",
    "bird's-eye": "above",
    "birds-eye": "above",
    "bird's eye": "above",
    "from above": "above",
    "overhead view": "above",
    "close-up": "close",
    "closeup": "close",
    "close up": "close",
    "macro": "close",
    "portrait": "close",
    "headshot": "close",
    "wide shot": "wide",
    "wide-angle": "wide",
    "wide angle": "wide",
    "panorama": "wide",
    "panoramic": "wide",
    "establishing shot": "wide",
}
#: What a subject "made of" something is drawn in: the material's colour (the one part of it a pictogram can show).
MATERIALS: dict[str, str] = {
    "candy": "pink", "sweets": "pink", "gingerbread": "brown", "chocolate": "brown", "wood": "brown",
    "wooden": "brown", "cardboard": "brown", "gold": "gold", "silver": "silver", "metal": "silver", "steel": "silver",
    "iron": "grey", "stone": "grey", "rock": "grey", "concrete": "grey", "ice": "cyan", "glass": "turquoise",
    "crystal": "lavender", "cheese": "yellow", "paper": "white", "snow": "white", "clouds": "white",
    "cloud": "white", "fire": "orange", "lava": "red", "leaves": "green", "grass": "green", "moss": "green",
    "flowers": "pink", "jelly": "red", "lego": "red", "bricks": "red", "brick": "red", "water": "blue",
    "sand": "beige", "marble": "white", "bone": "beige", "plastic": "yellow",
}  # fmt: skip
_LIKENESS_RE = re.compile(
    r"\b(shaped like|in the shape of|looking like|that looks like|made (?:out )?of|made from|built (?:out )?of|"
    r"carved (?:out )?of|carved from)\s+(?:an?\s+|the\s+|some\s+)?([a-z][a-z'-]*)",
    re.IGNORECASE,
)
#: Things whose pictogram already shows them in their container: "a bowl of ramen" is one ramen pictogram.
DISHES: dict[str, str] = {
    "ramen": "bowl", "noodles": "bowl", "soup": "bowl", "curry": "bowl", "rice": "bowl", "stew": "bowl",
    "coffee": "cup", "tea": "cup", "cocoa": "cup", "spaghetti": "plate", "pasta": "plate", "popcorn": "box",
}  # fmt: skip
#: Containers that hold what follows "of": "a basket of apples" puts the apples in the basket.
_CONTAINERS = frozenset(
    _split(
        "bowl bowls cup cups mug mugs plate plates glass glasses basket baskets box boxes jar jars bag bags "
        "bucket buckets pot pots bottle bottles tray trays vase vases"
    )
)

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
AIRBORNE = frozenset(
    _split(
        """
        sun moon star cloud rainbow comet planet plane airplane aeroplane jet helicopter rocket ufo balloon kite
        butterfly bee bat eagle parrot dove bird owl ghost fairy angel
        """
    )
)
FLYING_VERBS = frozenset(_split("flying soaring hovering gliding floating flapping drifting orbiting"))
CELESTIAL = frozenset(_split("sun moon star comet planet rainbow cloud"))
#: Things that give light: the night does not darken them, and the revised prompt says they shine.
LUMINOUS = frozenset(_split("sun moon star comet lantern candle fire lamp bulb rainbow"))
#: Things much bigger than a cat, and things much smaller, so "a mouse next to a house" reads right.
BIG = frozenset(
    _split(
        """
        house home cottage cabin hut castle lighthouse tree oak pine fir palm building skyscraper church tower
        school hospital barn ship sofa couch bed car bus train truck tractor elephant whale dinosaur trex
        giraffe tent volcano bridge statue windmill piano
        """
    )
)
SMALL = frozenset(
    _split(
        """
        bee butterfly ant ladybug ladybird snail mouse flower apple cherry banana cup mug ball key hat book
        candle cookie cake donut egg spider shell crown ring glasses lamp phone clock carrot gift present
        mushroom football soccer basketball baseball tennis
        """
    )
)
SUPPORTS = frozenset(_split("sofa couch bed chair bench table"))
#: Things that carry written text on them: a sign says 'hello'.
SIGNS = frozenset(_split("sign signpost placard poster billboard banner board"))
#: Subjects drawn by hand because no emoji shows them (``draw`` paints each), with their width over height.
PROP_ASPECTS: dict[str, float] = {"lighthouse": 0.38, "submarine": 2.1}
PROPS = frozenset(PROP_ASPECTS)

#: Participles a prompt may use, and the present tense the description uses for them.
VERB_OVERRIDES = {
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
    holder: str | None = None  # the container a pictogram already shows: "bowl" for "a bowl of ramen"


@dataclass
class Reading:
    subjects: list[Wanted] = field(default_factory=list)
    places: list[Place] = field(default_factory=list)
    tints: dict[str, str] = field(default_factory=dict)
    light: str | None = None
    weather: str | None = None
    style: str | None = None
    text: str | None = None
    leftovers: list[str] = field(default_factory=list)
    accents: list[str] = field(default_factory=list)
    outdoor: bool = False  # the prompt mentions the sky
    view: str | None = None  # "above", "close" or "wide": the framing a prompt asks for
    #: What could not be drawn as asked, in the prompt's words, with what was drawn instead (``None``: left out).
    likeness: list[tuple[int, str, str | None]] = field(default_factory=list)


_QUOTED_RE = re.compile(
    r"\"([^\"]{1,80})\"|“([^”]{1,80})”|‘([^’]{1,80})’|(?:(?<=^)|(?<=[\s(:]))'([^']{1,80})'(?=$|[\s.,!?;:)])"
)
_SAYS_RE = re.compile(
    r"\b(?:says|saying|reads|reading|with the words?|written)\s+[{\[(<]?([A-Za-z0-9!?]+)", re.IGNORECASE
)  # a word in brackets is the word: "a sign that says {hello}"
_MAX_TEXT = 40


#: Words before a noun that point back at a subject already named: "the cat" after "a cat" is that cat.
_RECALLING = frozenset({"the", "that", "this", "its", "their"})


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


def _phrase_at(tokens: Sequence[str], i: int, table: dict[str, str] | dict[str, Place], longest: int = 4) -> int:
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


def read(prompt: str) -> Reading:
    """Walk the prompt once, left to right, gathering modifiers until the noun (or setting word) they qualify."""
    reading = Reading()
    reading.text, rest = _quoted_text(prompt)
    likes: list[tuple[int, str, str]] = []  # (offset in rest, how, what): "made of", "candy"
    for match in _LIKENESS_RE.finditer(rest):
        likes.append((match.start(), " ".join(match.group(0).lower().split()), match.group(2).lower()))
    if likes:
        rest = _LIKENESS_RE.sub(lambda m: " \x00 ", rest)
    tokens = [t.lower().replace("’", "'") for t in re.findall(_WORD_RE.pattern + "|\x00", rest)]
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
    recalled: int | None = None  # a subject named again with "the" ("make the cat black"): colours after it are its
    kept: set[int] = set()  # tokens a subject's phrase may quote: what is drawn (its colour, size, kind), not more
    holder: tuple[str, int] | None = None  # "a bowl of": the container, and the subject it is
    likeness = iter(likes)

    def flush() -> None:
        nonlocal count, colour, scale, words, start, kept
        if colour is not None:
            reading.accents.append(colour)
        reading.leftovers.extend(words)
        count, colour, scale, words, start, kept = None, None, 1.0, [], None, set()

    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "\x00":  # "shaped like a cloud", "made of candy": how the subject before it looks
            how, what = next(likeness)[1:]
            if last is not None:
                material = MATERIALS.get(what) if how.startswith(("made", "built", "carved")) else None
                if material is not None and reading.subjects[last].colour is None:
                    reading.subjects[last].colour = material
                reading.likeness.append((last, how, material))
            flush()
            relation = worn = None
            i += 1
            continue
        if n := _phrase_at(tokens, i, VIEWS, longest=2):
            reading.view = reading.view or VIEWS[" ".join(tokens[i : i + n])]
            i += n
            if i < len(tokens) and tokens[i] == "view":
                i += 1
            continue
        if token == "of" and last is not None and i > 0 and tokens[i - 1] == reading.subjects[last].noun:
            holder = (tokens[i - 1], last)  # "a bowl of ramen", "a basket of apples", "a map of an island"
            i += 1
            continue
        if not token[0].isalnum() or token in ("and", "but", "while"):
            flush()
            relation = worn = recalled = None
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
                kept.update(range(i, i + n))
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
            if (
                recalled is not None
                and not _noun_at(tokens, i + 1)[0]
                and not _phrase_at(tokens, i + 1, _SETTING_WORDS)
            ):
                reading.subjects[recalled].colour = token  # "make the cat black", "the dog is blue"
                i += 1
                continue
            colour = token
            start = i if start is None else start
            kept.add(i)
            i += 1
            continue
        if token in _SIZES:
            scale *= _SIZES[token]
            start = i if start is None else start
            kept.add(i)
            if token == "baby":
                words.append(token)
            i += 1
            continue
        if n := _phrase_at(tokens, i, _TOGETHER, longest=3):
            i += n  # how several of one subject stand: the row already puts them side by side
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
                kept.update(range(i, i + length))
                start = i if start is None else start
                i += length
                continue
            noun = tokens[i + length - 1]
            stem = pictograms.singular(noun)[0]
            first = i if start is None else start
            same = next(
                (k for k, known in enumerate(reading.subjects) if pictograms.singular(known.noun)[0] == stem), None
            )
            if same is not None and first > 0 and tokens[first - 1] in _RECALLING and count is None:
                # "a cat on a sofa. make the cat black": the cat again, not a second cat
                known = reading.subjects[same]
                known.colour = colour or known.colour
                known.scale *= scale
                known.place = place or known.place
                last = recalled = same
                count, colour, scale, words, place, start = None, None, 1.0, [], None, None
                i += length
                continue
            recalled = None
            kept.update(range(i, i + length))
            wanted = Wanted(
                phrase=" ".join(
                    tokens[k]
                    for k in range(first, i + length)
                    if k in kept and tokens[k] not in STOPWORDS and tokens[k] not in _NUMBERS and tokens[k][0].isalnum()
                ),
                noun=noun,
                emoji=char,
                prop=prop,
                count=count if count is not None else (2 if noun != stem and noun not in ("glasses",) else 1),
                colour=colour,
                scale=scale,
                place=place,
                airborne=stem in AIRBORNE or noun in AIRBORNE,
                sign=stem in SIGNS or noun in SIGNS,
            )
            if holder is not None and holder[1] == len(reading.subjects) - 1:
                box_noun, box_index = holder
                box = reading.subjects[box_index]
                if (
                    DISHES.get(stem) == pictograms.singular(box_noun)[0] and box_noun in _CONTAINERS
                ):  # the pictogram shows the bowl already
                    wanted.count, wanted.holder = box.count, pictograms.singular(box_noun)[0]
                    wanted.place, wanted.colour = wanted.place or box.place, wanted.colour or box.colour
                    reading.subjects.pop()
                else:
                    wanted.relation, wanted.anchor = "of", box_index
                    worn = relation = None
                holder = None
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
            kept = set()
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
                if token in FLYING_VERBS and not any(p.ground == "water" for p in reading.places):
                    reading.subjects[last].airborne = True
            i += 1
            continue
        if token not in STOPWORDS:
            words.append(token)
            start = i if start is None else start
        i += 1
    flush()
    if reading.view == "close" and not reading.subjects and not reading.places and "portrait" in tokens:
        # "a portrait": a person, seen close
        reading.subjects.append(Wanted("person", "person", pictograms.emoji_for("person"), None))
    return reading


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


def _hashed_palette(prompt: str) -> list[RGB]:
    """Three hues spread around the wheel, so an unnamed prompt still gets a distinct, harmonious look of its own."""
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


def content_words(prompt: str) -> list[str]:
    words = [word.lower() for word in _WORD_RE.findall(prompt) if word[0].isalnum()]
    return [word for word in words if word not in STOPWORDS][:MAX_SHAPES]
