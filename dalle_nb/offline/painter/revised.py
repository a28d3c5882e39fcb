"""Say in a sentence what a composed scene shows: the revised prompt of the offline server.

dall-e-3 returns a revised prompt, and the Responses API's image tool does too; offline, it describes what was
actually drawn ("A red fox sits in the middle of a field of fresh snow beneath a pale winter sky."), worded from
the prompt's own noun phrases, with the positions, setting, light, weather and style of the scene.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from . import pictograms
from .chance import Stream
from .reading import (
    AIRBORNE,
    CELESTIAL,
    COLOURS,
    DISHES,
    FLYING_VERBS,
    INDOOR,
    LUMINOUS,
    NUMBER_WORDS,
    SIGNS,
    SMALL,
    VERB_OVERRIDES,
    named_colours,
)
from .scene import RGB, Box, Scene, Told

__all__ = ["describe"]


# --------------------------------------------------------------------------------------------------- describing

_SETTING_WORDING: dict[str, tuple[str, ...]] = {
    "studio": ("a plain {studio} backdrop", "a simple {studio} background"),
    "snow": ("a snowy field", "a field of fresh snow"),
    "forest": ("a {trees}forest", "a {trees}wood"),
    "beach": ("a sandy beach by the sea", "a sandy stretch of beach"),
    "sea": ("the open sea", "calm blue water"),
    "desert": ("a desert of rolling dunes", "sandy desert dunes"),
    "mountains": ("a valley below the mountains", "a green mountain valley"),
    "city": ("a city street below tall buildings", "a city street lined with buildings"),
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
    "grey day": ("under a heavy grey sky", "beneath low grey clouds"),
}
#: Weather that hides a day's blue sky: rain and fog come with a grey one, never "a clear blue sky".
_GREY_WEATHER = frozenset({"rain", "fog"})
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

_VERBS = {
    "ground": ("stands", "stand"),
    "sit": ("sits", "sit"),
    "air": ("floats", "float"),
    "water": ("floats", "float"),
    "fly": ("flies", "fly"),
    "shine": ("shines", "shine"),
    "swim": ("swims", "swim"),
}
#: Creatures that swim wherever they are drawn, so "a jellyfish" never "stands".
_SWIMMERS = frozenset({"fish", "jellyfish", "whale", "dolphin", "octopus", "shark", "squid", "seal", "crab", "shrimp"})
#: Airborne things that fly rather than float.
_FLIERS = frozenset(
    {
        "bird",
        "owl",
        "eagle",
        "parrot",
        "dove",
        "bat",
        "butterfly",
        "bee",
        "dragon",
        "plane",
        "airplane",
        "aeroplane",
        "jet",
        "helicopter",
        "rocket",
        "ufo",
    }
)


def _present(participle: str, plural: bool) -> str:
    """ "sitting" -> "sits" / "sit": the description's verb, from the prompt's own participle."""
    if participle in VERB_OVERRIDES:
        singular = VERB_OVERRIDES[participle]
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


#: Nouns with no plural and no "a": "some bread", "two bowls of ramen".
MASS_NOUNS = frozenset(
    [
        "bread",
        "cheese",
        "rice",
        "pasta",
        "spaghetti",
        "soup",
        "ramen",
        "noodles",
        "coffee",
        "tea",
        "cocoa",
        "milk",
        "juice",
        "water",
        "honey",
        "sushi",
        "salad",
        "popcorn",
        "chocolate",
        "money",
        "fire",
        "ice",
        "sand",
        "snow",
        "grass",
        "smoke",
        "lava",
        "butter",
        "meat",
        "broccoli",
        "corn",
        "food",
        "fruit",
        "luggage",
        "furniture",
    ]
)
#: Words that begin with a vowel letter but not a vowel sound, and the reverse: "a unicorn", "an hour".
_CONSONANT_SOUND = ("uni", "use", "usu", "eu", "one", "ufo", "ukulele")
_VOWEL_SOUND = ("hour", "honest", "honour", "honor", "heir")


def article(word: str) -> str:
    """ "a" or "an", by the sound that ``word`` begins with."""
    low = word.lower()
    if low.startswith(_VOWEL_SOUND):
        return "an"
    if low.startswith(_CONSONANT_SOUND):
        return "a"
    return "an" if low[:1] in "aeiou" else "a"


def _count_phrase(phrase: str, noun: str, count: int, holder: str | None = None, material: str | None = None) -> str:
    """ "a red fox", "three sailboats", "a bowl of ramen", "two bowls of ramen", "some bread", "the sun"."""
    stem = pictograms.singular(noun)[0]
    if material is not None and material not in phrase.split():
        phrase = f"{material} {phrase}"
    if holder is None and (stem in DISHES or noun in DISHES) and noun in MASS_NOUNS:
        holder = DISHES.get(noun) or DISHES[stem]
    if holder is not None:  # the pictogram shows the container: say it, and count the containers
        content = phrase
        if count == 1:
            return f"{article(holder)} {holder} of {content}"
        return f"{NUMBER_WORDS.get(count, str(count))} {_plural(holder)} of {content}"
    if count == 1 and phrase in ("sun", "moon"):
        return f"the {phrase}"  # there is one
    if count == 1 and (noun in MASS_NOUNS or stem in MASS_NOUNS):
        return f"some {phrase}"
    if count == 1:
        return f"{article(phrase)} {phrase}"
    plural_phrase = phrase if noun != stem else phrase[: len(phrase) - len(noun)] + _plural(noun)
    number = NUMBER_WORDS.get(count, str(count))
    return f"{number} {plural_phrase}"


def _told_phrase(told: Told) -> str:
    return _count_phrase(told.phrase, told.noun, told.count, told.holder, told.material)


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


_VIEW_WORDING = {
    "above": ("seen from directly above", "in a top-down view"),
    "close": ("in close-up", "seen up close"),
    "wide": ("in a wide view", "seen from far back"),
}


def describe(scene: Scene, *, style: str | None = None, flavour: str = "", backdrop: bool = True) -> str:
    """The revised prompt: one or two sentences saying what the picture shows, where, in what light and style.

    ``style`` is dall-e-3's vivid or natural (None for none); ``flavour`` picks among equivalent wordings, so a
    caller can give each text model or refinement turn its own deterministic phrasing of the same picture.
    ``backdrop`` False says the setting is a picture's own (an edit of a person's picture): a setting the words do
    not name is then not claimed ("in front of a pastel background" would be false of a beach photo).
    """
    if style is not None and style not in _TONE_WORDING:
        raise ValueError(f"style must be one of {sorted(_TONE_WORDING)} or None, got {style!r}")
    stream = Stream("describe", scene.prompt, style, flavour)

    def choose(options: Sequence[str]) -> str:
        return options[stream.pick(len(options))]

    finish = ""
    if scene.view:
        finish += ", " + choose(_VIEW_WORDING[scene.view])
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
    if scene.kind in INDOOR:
        light = choose(_LIGHT_WORDING["indoor night" if scene.light == "night" else "indoor day"])
    elif scene.kind in ("space", "studio"):
        light = choose(_LIGHT_WORDING[scene.kind])
    elif scene.light == "day" and scene.ground == "snow":
        light = choose(_LIGHT_WORDING["snowday"])
    elif scene.light == "day" and scene.weather in _GREY_WEATHER:
        light = choose(_LIGHT_WORDING["grey day"])
    else:
        light = choose(_LIGHT_WORDING[scene.light])
    sky = scene.tint("sky")
    if sky and scene.kind not in INDOOR and scene.kind not in ("space", "studio"):
        light = f"under a {_colour_word(sky)} sky"
    if scene.weather:
        light += " " + choose(_WEATHER_WORDING[scene.weather])
    unknown = not backdrop and not scene.named_setting  # the picture's own setting, which the words do not tell
    if unknown:
        place = ""
        if scene.kind == "studio" or scene.light == "day" and not scene.weather:
            light = ""
    extras = []
    if "mountains" in scene.features and scene.kind != "mountains":
        extras.append("mountains rising behind")
    if "trees" in scene.features and scene.kind != "forest":
        extras.append("trees along the horizon")
    tail = (", with " + " and ".join(extras)) if extras else ""
    if not scene.told:
        sentence = f"{place} {light}".strip() if place else f"The picture, {light}".rstrip(", ")
        sentence = sentence[0].upper() + sentence[1:] + f"{tail}{finish}."
        return sentence + _text_sentence(scene, sign=False)
    dressing = {"worn", "held", "of"}
    anchors = {t.anchor for t in scene.told if t.anchor is not None and t.anchor >= 0 and t.relation not in dressing}
    worn = {k for k, t in enumerate(scene.told) if t.relation in dressing}
    main = next((k for k, t in enumerate(scene.told) if k not in anchors and k not in worn), 0)
    clauses: list[str] = []
    for k, told in enumerate(scene.told):
        if (k in anchors or k in worn) and k != main:
            continue  # named in the clause of what relates to it ("three cats sit on a sofa", "a cat wearing a hat")
        clause = _subject_clause(scene, told, place, main=k == main, choose=choose)
        if k == main:
            clauses.insert(0, f"{clause}{',' if not place and light else ''} {light}".rstrip())
        else:
            clauses.append(clause)
    sentence = clauses[0][0].upper() + clauses[0][1:]
    if len(clauses) > 1:
        sentence += ", with " + ", ".join(clauses[1:-1]) + (" and " if len(clauses) > 2 else "") + clauses[-1]
    likeness = [t for t in scene.told if t.likeness]
    said = "".join(
        f' Its {t.material} colour stands in for "{t.likeness}".'
        if t.material
        else f' "{(t.likeness or "").capitalize()}" could not be drawn, so the {t.phrase} is plain.'
        for t in likeness
    )
    return (
        f"{sentence}{tail}{finish}." + said + _text_sentence(scene, sign=any(p.noun in SIGNS for p in scene.subjects))
    )


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
    words = _told_phrase(told)
    me = scene.told.index(told)
    for other in scene.told:
        if other.anchor == me and other.relation in ("worn", "held"):
            words += f" {_RELATION_WORDS[other.relation]} {_told_phrase(other)}"
        elif other.anchor == me and other.relation == "of":  # "a basket of apples"
            content = _told_phrase(other).split(" ", 1)[1] if other.count > 1 else _told_phrase(other)
            words += f" of {content}"
    plural = told.count > 1
    stem = pictograms.singular(told.noun)[0]
    box = _boxes_of(scene, told)
    if told.action:
        verb = _present(told.action, plural)
    elif told.relation in ("on", "in") and told.prop is None:
        verb = _VERBS["sit"][plural]
    elif stem in LUMINOUS:
        verb = _VERBS["shine"][plural]
    elif stem in _SWIMMERS:
        verb = _VERBS["swim"][plural]
    elif stem in _FLIERS and box[3] < scene.horizon:
        verb = _VERBS["fly"][plural]
    elif stem in AIRBORNE and box[3] < scene.horizon:
        verb = _VERBS["air"][plural]
    elif scene.ground == "water" and told.anchor != -1:
        verb = _VERBS["water"][plural]
    elif stem in SMALL or told.holder or stem in DISHES or stem in MASS_NOUNS or told.relation == "of":
        verb = _VERBS["sit"][plural]
    else:
        verb = _VERBS["ground"][plural]
    target = scene.told[told.anchor] if told.anchor is not None and told.anchor >= 0 else None
    if target is not None and told.relation is not None:
        where = f"{_RELATION_WORDS[told.relation]} {_told_phrase(target)}"
        if main:
            position = _where(_boxes_of(scene, target), scene.width)
            if position == "in the middle":
                position = choose(("in the middle", "at the centre"))
            if not place:
                return f"{words} {verb} {where} {position}"
            if scene.kind == "studio":
                return f"{words} {verb} {where}, in front of {place}"
            return f"{words} {verb} {where} {position} of {place}"
        return f"{words} {where}"
    if told.anchor == -1:  # on the cliff of the setting
        return f"{words} {verb} on {place}" if main else f"{words} on the cliff"
    if scene.kind == "space":
        verb = _VERBS["air"][plural] if not told.action else verb
        where = _where(box, scene.width)
    elif stem in CELESTIAL and scene.kind not in INDOOR:
        where = "in the sky"
    elif (
        scene.kind not in INDOOR
        and scene.kind != "studio"
        and (
            box[3] < scene.horizon - 0.05 * scene.height
            or (box[3] < scene.horizon and (stem in AIRBORNE or told.action in FLYING_VERBS))
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
    if not place:
        return f"{words} {verb} {where}"
    if scene.kind == "studio":
        return f"{words} {verb} {where}, in front of {place}"
    link = " of " if where in ("at the centre", "in the middle", "on the left", "on the right") else " in "
    if where in ("in the sky", "high in the sky"):
        link = " above "
    elif link == " in " and scene.kind == "beach":
        link = " on "  # on a beach, not in it
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
