"""The revised prompt says what was drawn, in correct English, and the picture draws what was asked (issue #21).

The scene knows what it drew (``Scene.subjects``); its revised prompt must name each of those subjects and no
pictogram noun that is not among them.  Counts are checked in the scene and in pixels, person words draw people,
words that name nothing drawable draw nothing, and viewpoints change the framing.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from dalle_nb.offline.painter import pictograms, revised, scene
from dalle_nb.offline.painter.draw import render
from dalle_nb.offline.painter.reading import COLOURS, NUMBER_WORDS

SIZE = 256


def _sheet() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "prompt_sheet.py"
    spec = importlib.util.spec_from_file_location("prompt_sheet", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PROMPTS: tuple[str, ...] = _sheet().PROMPTS
_WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")


def _forms(noun: str) -> set[str]:
    stem = pictograms.singular(noun)[0]
    return {noun, stem, revised._plural(stem)}


def _named_pictograms(text: str) -> set[str]:
    """The pictogram nouns a revised prompt names, outside the wording of settings, light, weather and styles."""
    quoted = re.sub(r'"[^"]*"', " ", text.lower())  # what the prompt said and could not be drawn is quoted
    return {w for w in _WORD.findall(quoted) if pictograms.emoji_for(w) is not None}


def _setting_vocabulary() -> set[str]:
    tables = (revised._SETTING_WORDING, revised._LIGHT_WORDING, revised._WEATHER_WORDING, revised._STYLE_WORDING,
              revised._TONE_WORDING, revised._VIEW_WORDING)  # fmt: skip
    words = {w for table in tables for options in table.values() for o in options for w in _WORD.findall(o)}
    return words | {"sky", "sea", "cliff", "mountains", "trees", "horizon", "clouds"}


@pytest.mark.parametrize("prompt", PROMPTS)
def test_the_revised_prompt_names_every_drawn_subject_and_nothing_else(prompt: str) -> None:
    view = scene.compose(prompt, 1024, 1024)
    text = revised.describe(view)
    drawn = {p.noun for p in view.subjects}
    lower = text.lower()
    for noun in drawn:
        told = next((t for t in view.told if noun in _forms(t.noun)), None)
        assert told is not None, (prompt, noun)
        assert any(re.search(rf"\b{re.escape(form)}\b", lower) for form in _forms(told.noun)), (prompt, noun, text)
    allowed = {form for noun in drawn for form in _forms(noun)} | {t.phrase for t in view.told}
    allowed |= {t.holder for t in view.told if t.holder} | _setting_vocabulary()
    allowed |= {v for pair in revised._VERBS.values() for v in pair}  # "flies" is a verb here, not a fly
    allowed |= {revised._present(t.action, t.count > 1) for t in view.told if t.action}
    extra = _named_pictograms(text) - allowed - set(COLOURS)
    assert not extra, (prompt, extra, text)
    assert not view.decorations  # no stray shapes


_PLURAL_ARTICLE = re.compile(r"\ban? ([a-z]+s)\b(?! of)")


@pytest.mark.parametrize("prompt", PROMPTS)
def test_revised_prompts_use_articles_and_plurals_correctly(prompt: str) -> None:
    view = scene.compose(prompt, 1024, 1024)
    text = revised.describe(view)
    lower = text.lower()
    for match in re.finditer(r"\b(a|an) ([a-z]+)", lower):
        article, word = match.groups()
        assert article == revised.article(word), (prompt, match.group(0), text)
    for told in view.told:
        if told.noun in revised.MASS_NOUNS:
            assert not re.search(rf"\ban? {told.noun}\b", lower), (prompt, text)
    for count, word in NUMBER_WORDS.items():
        for match in re.finditer(rf"\b{word} ([a-z]+)", lower):
            if count > 1:
                noun = match.group(1)
                assert noun.endswith("s") or noun in ("children", "people", "sheep", "fish", "mice", "geese",
                                                       "deer", "men", "women") or match.group(0).startswith(
                    tuple(f"{word} {c}" for c in COLOURS)), (prompt, match.group(0), text)  # fmt: skip
    assert "  " not in text and ",," not in text and " ," not in text


def test_the_issue_s_examples_read_right() -> None:
    assert revised.describe(scene.compose("a bowl of ramen", 1024, 1024)).startswith("A bowl of ramen ")
    assert "a ramen" not in revised.describe(scene.compose("a bowl of ramen and a cat", 1024, 1024))
    teaching = revised.describe(scene.compose("a robot teaching two children about volcanoes", 1024, 1024))
    assert "two children" in teaching and "about" not in teaching and "class" not in teaching
    assert revised.describe(scene.compose("two bowls of ramen", 1024, 1024)).startswith("Two bowls of ramen")
    assert revised.describe(scene.compose("an umbrella and a unicorn", 1024, 1024)).startswith("An umbrella")
    assert "a unicorn" in revised.describe(scene.compose("an umbrella and a unicorn", 1024, 1024))


_COUNTS = [(n, NUMBER_WORDS[n]) for n in range(1, 13)]


@pytest.mark.parametrize(("count", "word"), _COUNTS)
def test_counts_up_to_twelve_are_drawn_exactly(count: int, word: str) -> None:
    noun = "sailboat" if count == 1 else "sailboats"
    view = scene.compose(f"{word} {noun} on the sea", 1024, 1024)
    assert [p.noun for p in view.subjects] == ["sailboat"] * count
    boxes = sorted(p.box for p in view.subjects)
    for left, right in zip(boxes, boxes[1:], strict=False):  # side by side, none hidden behind another
        assert right[0] >= left[0] + (left[2] - left[0]) * 0.35
    text = revised.describe(view)
    assert (f"{word} sailboat" if count > 1 else "a sailboat") in text.lower()


@pytest.mark.parametrize("count", [1, 3, 5, 8, 12])
def test_counts_can_be_seen_in_the_pixels(count: int) -> None:
    """Red balls on a plain card: the connected patches of pure-ish red are the balls."""
    word = NUMBER_WORDS[count]
    view = scene.compose(f"{word} red {'apple' if count == 1 else 'apples'}", 768, 512)
    image = np.asarray(render(view).convert("RGB")).astype(int)
    red = (image[..., 0] > 190) & (image[..., 1] < 80) & (image[..., 2] < 80)
    assert _components(red, min_size=20) == count


def _components(mask: np.ndarray, *, min_size: int) -> int:
    """Connected components (4-neighbour) of ``mask`` with at least ``min_size`` pixels."""
    seen = np.zeros_like(mask, dtype=bool)
    found = 0
    height, width = mask.shape
    for y, x in zip(*np.nonzero(mask), strict=True):
        if seen[y, x]:
            continue
        stack, size = [(y, x)], 0
        seen[y, x] = True
        while stack:
            cy, cx = stack.pop()
            size += 1
            for ny, nx in ((cy + 1, cx), (cy - 1, cx), (cy, cx + 1), (cy, cx - 1)):
                if 0 <= ny < height and 0 <= nx < width and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    stack.append((ny, nx))
        found += size >= min_size
    return found


_PERSON_GLYPHS = {pictograms.emoji_for(w) for w in pictograms.PEOPLE}


@pytest.mark.parametrize("word", ["warrior", "teacher", "child", "chef", "astronaut", "doctor", "pilot", "knight"])
def test_a_person_word_draws_a_person(word: str) -> None:
    view = scene.compose(f"a {word} in a park", SIZE, SIZE)
    assert [p.noun for p in view.subjects] == [word]
    assert view.subjects[0].emoji in _PERSON_GLYPHS
    assert word in revised.describe(view)


def test_a_portrait_draws_a_person_close_up() -> None:
    alone = scene.compose("a portrait", SIZE, SIZE)
    assert [p.noun for p in alone.subjects] == ["person"] and alone.view == "close"
    far = scene.compose("a woman", SIZE, SIZE).subjects[0].box
    near = scene.compose("a portrait of a woman", SIZE, SIZE).subjects[0].box
    assert near[3] - near[1] > (far[3] - far[1]) * 1.3
    assert "close" in revised.describe(scene.compose("a portrait of a woman", 1024, 1024))


def test_viewpoints_change_the_framing() -> None:
    plain = scene.compose("a cow on a farm", SIZE, SIZE)
    above = scene.compose("top-down view of a cow on a farm", SIZE, SIZE)
    assert above.view == "above" and above.horizon < plain.horizon * 0.5
    assert above.subjects[0].box[3] - above.subjects[0].box[1] < plain.subjects[0].box[3] - plain.subjects[0].box[1]
    close = scene.compose("a close-up of a butterfly", SIZE, SIZE)
    far = scene.compose("a butterfly", SIZE, SIZE)
    assert close.subjects[0].box[2] - close.subjects[0].box[0] > far.subjects[0].box[2] - far.subjects[0].box[0]
    assert "above" in revised.describe(scene.compose("aerial view of a beach", 1024, 1024))


def test_made_of_and_shaped_like_draw_one_thing_and_say_so() -> None:
    candy = scene.compose("a house made of candy", SIZE, SIZE)
    assert [p.noun for p in candy.subjects] == ["house"] and candy.subjects[0].tint == COLOURS["pink"]
    text = revised.describe(candy)
    assert "pink house" in text and '"made of candy"' in text
    cloud = scene.compose("a cat shaped like a cloud", SIZE, SIZE)
    assert [p.noun for p in cloud.subjects] == ["cat"]
    assert "could not be drawn" in revised.describe(cloud)


def test_words_without_a_pictogram_leave_no_litter() -> None:
    plain = scene.compose("a cat in the snow", SIZE, SIZE)
    odd = scene.compose("a cat named zork in the snow", SIZE, SIZE)
    assert odd.decorations == () == plain.decorations and "zork" in odd.left_out
    lounge = scene.compose("a lounge with a barcode", SIZE, SIZE)
    assert lounge.decorations == ()
    assert "barcode" not in revised.describe(lounge)


def test_an_edit_of_a_person_s_picture_claims_no_setting_it_was_not_told() -> None:
    text = revised.describe(scene.compose("add a hat", 1024, 1024), backdrop=False)
    assert "pastel" not in text and "background" not in text and "hat" in text
    night = revised.describe(scene.compose("make it night", 1024, 1024), backdrop=False)
    assert "meadow" not in night and "field" not in night and "star" in night


def test_a_refinement_keeps_the_subjects() -> None:
    from dalle_nb.offline import responses

    for step in ("make it night", "now it is night", "at night"):
        text = responses.revision("a fox in a meadow", (step,), text_model="gpt-4o")
        assert "fox" in text and ("star" in text or "night" in text), text
        assert len(text) <= len("a fox in a meadow. " + step) + 500
