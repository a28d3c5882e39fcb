"""The scene composer: a prompt becomes a setting, subjects, text and a style, drawn where the composer says.

Every check compares pixels of pictures rendered here (never stored files): the composer reports where it placed
each subject, and the test looks there.
"""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageFont

from dalle_nb.offline.painter import backdrops, pictograms
from dalle_nb.offline.painter.draw import edit_image, edit_scene, generate_image, partial_frames, render, vary_image
from dalle_nb.offline.painter.scene import Placed, Scene, compose

SIZE = 256


def rgb(image: Image.Image) -> npt.NDArray[np.int16]:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def luminance(image: Image.Image) -> npt.NDArray[np.float64]:
    return np.asarray(image.convert("L"), dtype=np.float64)


def ink(view: Scene, placed: Placed) -> npt.NDArray[np.bool_]:
    """Pixels of a subject's box that the subject changed: the scene with it against the scene without it."""
    with_it = rgb(render(view).crop(placed.box))
    without = rgb(render(view.without_subjects()).crop(placed.box))
    return np.asarray(np.any(with_it != without, axis=-1))


def subjects_named(view: Scene, noun: str) -> list[Placed]:
    return [placed for placed in view.subjects if placed.noun == noun]


# ----------------------------------------------------------------------------------------------------- settings


def test_a_snow_scene_has_a_bright_lower_half_and_a_meadow_does_not() -> None:
    snow = generate_image("a red fox sitting in the snow", SIZE, SIZE)
    grass = generate_image("a red fox sitting in a meadow", SIZE, SIZE)
    assert luminance(snow)[SIZE // 2 :].mean() > 200
    assert luminance(grass)[SIZE // 2 :].mean() < 170


def test_a_night_scene_has_a_dark_sky_with_stars() -> None:
    night = compose("a cabin in the mountains at night", SIZE, SIZE)
    day = compose("a cabin in the mountains", SIZE, SIZE)
    sky = luminance(render(night))[: night.horizon // 2]
    assert sky.mean() < 60
    assert ((sky > 170).mean() > 0.003) and ((sky > 170).mean() < 0.2)  # stars: small bright points
    assert luminance(render(day))[: day.horizon // 2].mean() > 130


@pytest.mark.parametrize(
    ("prompt", "kind"),
    [
        ("a dog on the beach", "beach"),
        ("a boat on the sea", "sea"),
        ("a camel in the desert", "desert"),
        ("a deer in the forest", "forest"),
        ("a goat in the mountains", "mountains"),
        ("a bus in the city", "city"),
        ("an astronaut in space", "space"),
        ("a cat in the kitchen", "kitchen"),
        ("a dog in the living room", "living room"),
        ("a horse in a field", "meadow"),
        ("a lighthouse on a cliff", "cliff"),
        ("a penguin in the snow", "snow"),
        ("a cat wearing a hat", "studio"),
        ("an unnamed mood of harmony", "abstract"),
    ],
)
def test_scene_words_choose_the_setting(prompt: str, kind: str) -> None:
    view = compose(prompt, SIZE, SIZE)
    assert view.kind == kind
    image = render(view)
    assert image.size == (SIZE, SIZE)
    if kind not in ("studio", "abstract"):  # each setting looks like itself, not like the plain backdrop
        plain = render(compose("a thing", SIZE, SIZE))
        assert np.abs(rgb(image) - rgb(plain)).mean() > 20


def test_light_and_weather_change_the_picture_of_the_same_place() -> None:
    pictures = {
        light: rgb(generate_image(f"a horse in a field {light}", SIZE, SIZE))
        for light in ("", "at sunset", "at dusk", "at dawn", "in the rain", "in the fog")
    }
    for a, b in itertools.combinations(pictures, 2):
        assert np.abs(pictures[a] - pictures[b]).mean() > 4, (a, b)
    sunset_sky = pictures["at sunset"][SIZE // 3 : SIZE // 2]
    assert sunset_sky[..., 0].mean() > sunset_sky[..., 2].mean() + 30  # warm, not blue


# ----------------------------------------------------------------------------------------------------- subjects


def test_three_cats_are_three_cat_glyphs_where_the_composer_says() -> None:
    view = compose("three cats on a sofa in a living room", 512, 512)
    cats = subjects_named(view, "cat")
    assert len(cats) == 3 and all(cat.emoji == pictograms.emoji_for("cat") for cat in cats)
    assert len({cat.box for cat in cats}) == 3
    assert len(subjects_named(view, "sofa")) == 1
    sofa = subjects_named(view, "sofa")[0]
    for cat in cats:
        assert ink(view, cat).mean() > 0.25  # a cat is drawn in its box
        assert sofa.box[0] - 40 <= (cat.box[0] + cat.box[2]) / 2 <= sofa.box[2] + 40  # on the sofa, not beside it
        assert cat.box[3] < sofa.box[3]


def test_counts_plurals_and_number_words() -> None:
    assert len(compose("two dogs", SIZE, SIZE).subjects) == 2
    assert len(compose("dogs", SIZE, SIZE).subjects) == 2
    assert len(compose("5 apples on a table", SIZE, SIZE).subjects) == 5
    assert len(compose("a dozen eggs", 512, 512).subjects) == 12
    assert [p.noun for p in compose("a mouse and two geese", SIZE, SIZE).subjects].count("goose") == 2


def test_a_blue_dog_is_blue_where_the_dog_is_and_a_plain_dog_is_not() -> None:
    def blue_share(prompt: str) -> float:
        view = compose(prompt, SIZE, SIZE)
        (dog,) = subjects_named(view, "dog")
        px = rgb(render(view).crop(dog.box))
        drawn = ink(view, dog) & (px.sum(axis=-1) > 120)  # the dog's colours, not its black outline
        blue = (px[..., 2] > px[..., 0] + 60) & (px[..., 2] > px[..., 1] + 60)
        return float(blue[drawn].mean())

    assert blue_share("a blue dog on the beach") > 0.6
    assert blue_share("a dog on the beach") < 0.1


def test_a_red_fox_stays_a_fox_only_redder() -> None:
    view = compose("a red fox", SIZE, SIZE)
    (fox,) = view.subjects
    red = rgb(render(view).crop(fox.box))
    plain_view = compose("a fox", SIZE, SIZE)
    plain = rgb(render(plain_view).crop(plain_view.subjects[0].box))
    warm = (red[..., 0] > 180) & (red[..., 2] < 90)
    assert warm.mean() > 0.2
    assert red[warm][:, 1].mean() < plain[(plain[..., 0] > 180) & (plain[..., 2] < 90)][:, 1].mean()  # less orange


def test_positions_and_sizes_follow_the_words() -> None:
    view = compose("a cat on the left and a dog on the right", 512, 384)
    (cat,) = subjects_named(view, "cat")
    (dog,) = subjects_named(view, "dog")
    assert (cat.box[0] + cat.box[2]) / 2 < 512 * 0.4 < 512 * 0.6 < (dog.box[0] + dog.box[2]) / 2
    above = compose("a bird above a house", SIZE, SIZE)
    (bird,) = subjects_named(above, "bird")
    (house,) = subjects_named(above, "house")
    assert bird.box[3] <= house.box[1] + 2
    big = compose("a big dog", SIZE, SIZE).subjects[0].box
    tiny = compose("a tiny dog", SIZE, SIZE).subjects[0].box
    assert (big[3] - big[1]) > 2 * (tiny[3] - tiny[1])


def test_a_hat_worn_by_a_cat_sits_on_the_cat() -> None:
    view = compose("a cat wearing a hat", SIZE, SIZE)
    (cat,) = subjects_named(view, "cat")
    (hat,) = subjects_named(view, "hat")
    assert cat.box[0] <= (hat.box[0] + hat.box[2]) / 2 <= cat.box[2]
    assert hat.box[1] < cat.box[1] < hat.box[3]


def test_quoted_text_is_written_on_the_sign() -> None:
    view = compose("a sign that says 'hello' in a forest", 512, 512)
    (sign,) = subjects_named(view, "sign")
    assert view.text == "hello" and view.text_box is not None
    x0, y0, x1, y1 = view.text_box
    assert sign.box[0] <= x0 < x1 <= sign.box[2] and sign.box[1] <= y0 < y1 <= sign.box[3]
    from dataclasses import replace

    written = rgb(render(view))
    blank = rgb(render(replace(view, text=None)))
    changed = np.any(written != blank, axis=-1)
    ys, xs = np.nonzero(changed)
    assert x0 <= xs.min() and xs.max() < x1 and y0 <= ys.min() and ys.max() < y1  # only on the board
    dark = (written[y0:y1, x0:x1].sum(axis=-1) < 200).astype(bool)
    ys, xs = np.nonzero(dark)
    # the ink has the shape of the word written alone in the same font: compare width over height
    alone = ImageFont.load_default(100).getbbox("hello")
    assert (np.ptp(xs) + 1) / (np.ptp(ys) + 1) == pytest.approx((alone[2] - alone[0]) / (alone[3] - alone[1]), rel=0.25)
    longer = compose("a sign that says 'hello world' in a forest", 512, 512)
    assert longer.text == "hello world"
    assert not np.array_equal(rgb(render(longer)), written)


def test_text_without_a_sign_gets_a_banner() -> None:
    view = compose('a cake with the words "happy birthday"', SIZE, SIZE)
    assert view.text == "happy birthday" and view.text_box is not None
    x0, y0, x1, y1 = view.text_box
    board = rgb(render(view))[y0:y1, x0:x1]
    assert (board.sum(axis=-1) > 700).mean() > 0.4  # a white banner
    assert (board.sum(axis=-1) < 200).mean() > 0.02  # with dark letters on it


@pytest.mark.parametrize("noun", ["sign", "board", "poster"])
def test_every_sign_noun_carries_its_text_on_its_board(noun: str) -> None:
    """What the revised prompt calls a sign is drawn as one: the text on the thing's board, not on a banner."""
    from dalle_nb.offline.painter.draw import revise_prompt

    prompt = f"a {noun} that says 'hi'"
    view = compose(prompt, SIZE, SIZE)
    assert view.text_box is not None
    x0, y0, x1, y1 = view.text_box
    # a banner has a dark edge; a sign's board is painted clean up to the text box's edge
    assert tuple(rgb(render(view))[y0, (x0 + x1) // 2]) == (255, 255, 255)
    assert revise_prompt(prompt).endswith(' The sign reads "hi".')


def test_a_lighthouse_is_drawn_on_the_cliff() -> None:
    view = compose("a lighthouse on a cliff at sunset", 512, 512)
    (lighthouse,) = view.subjects
    assert lighthouse.prop == "lighthouse" and view.cliff_box is not None
    assert view.cliff_box[0] <= (lighthouse.box[0] + lighthouse.box[2]) / 2 <= view.cliff_box[2]
    assert abs(lighthouse.box[3] - view.cliff_box[1]) < 512 * 0.05
    assert ink(view, lighthouse).mean() > 0.3


# ----------------------------------------------------------------------------------------------------- words


def test_words_without_a_pictogram_draw_nothing() -> None:
    plain = compose("a cat in the snow", SIZE, SIZE)
    odd = compose("a cat named zork in the snow", SIZE, SIZE)
    assert odd.decorations == () == plain.decorations  # no stray shape stands for a word
    assert odd.left_out == ("named", "zork")


def test_a_hundred_different_prompts_give_a_hundred_different_pictures() -> None:
    subjects = ["cat", "dog", "fox", "owl", "house", "tree", "boat", "robot", "apple", "horse"]
    places = ["", "in the snow", "on the beach", "in a forest", "in the city", "at night", "in the desert",
              "in space", "in a kitchen", "on a hill at sunset"]  # fmt: skip
    prompts = [f"a {s} {p}".strip() for s, p in itertools.product(subjects, places)]
    assert len(set(prompts)) == 100
    pictures = np.stack([rgb(generate_image(p, 64, 64)) for p in prompts]).reshape(100, -1)
    for k in range(100):
        differing = np.any((pictures[k] != pictures).reshape(100, 64 * 64, 3), axis=-1).mean(axis=-1)
        differing[k] = 1.0
        assert differing.min() > 0.01, (prompts[k], prompts[int(differing.argmin())])


def test_scenes_are_deterministic_and_differ_per_index_and_seed() -> None:
    prompt = "three cats on a sofa in a living room"
    first = generate_image(prompt, 200, 150, model="dall-e-3", index=1, seed=4)
    assert first.tobytes() == generate_image(prompt, 200, 150, model="dall-e-3", index=1, seed=4).tobytes()
    assert compose(prompt, 200, 150, index=1, seed=4) == compose(prompt, 200, 150, index=1, seed=4)
    assert first.tobytes() != generate_image(prompt, 200, 150, model="dall-e-3", index=2, seed=4).tobytes()
    assert first.tobytes() != generate_image(prompt, 200, 150, model="dall-e-3", index=1, seed=5).tobytes()


def test_backdrops_are_cached_across_prompts_of_one_setting() -> None:
    generate_image("a cat in the desert", 320, 200)
    before = backdrops.backdrop.cache_info().hits
    generate_image("a dog in the desert", 320, 200)
    assert backdrops.backdrop.cache_info().hits == before + 1


# ----------------------------------------------------------------------------------------------------- styles


def test_styles_post_process_the_picture() -> None:
    prompt = "a fox in a forest"
    plain = generate_image(prompt, SIZE, SIZE)
    pixel = generate_image(f"{prompt}, pixel art", SIZE, SIZE)
    blocks = rgb(pixel)[: SIZE // 4 * 4, : SIZE // 4 * 4].reshape(SIZE // 4, 4, SIZE // 4, 4, 3)
    assert (blocks == blocks[:, :1, :, :1]).all()  # square blocks of one colour
    assert len(np.unique(rgb(pixel).reshape(-1, 3), axis=0)) <= 24
    mono = rgb(generate_image(f"{prompt} in black and white", SIZE, SIZE))
    assert (mono[..., 0] == mono[..., 1]).all() and (mono[..., 1] == mono[..., 2]).all()
    sketch = rgb(generate_image(f"a pencil sketch of {prompt}", SIZE, SIZE))
    assert (sketch.max(axis=-1) - sketch.min(axis=-1)).mean() < 12  # grey pencil on paper
    assert luminance(generate_image(f"{prompt}, neon", SIZE, SIZE)).mean() < luminance(plain).mean() / 2
    for style in ("watercolor", "oil painting", "sepia"):
        styled = generate_image(f"{prompt}, {style}", SIZE, SIZE)
        assert np.abs(rgb(styled) - rgb(plain)).mean() > 5, style


# ----------------------------------------------------------------------------------------------------- edits etc.


def test_an_edit_draws_its_subjects_inside_the_mask_and_nothing_outside() -> None:
    base = generate_image("a meadow", 320, 240)
    mask = Image.new("RGBA", (320, 240), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (180, 60, 300, 200))
    result = edit_image(base, "two cats", mask=mask)
    keep = np.asarray(mask.getchannel("A")) != 0
    assert np.array_equal(rgb(result)[keep], rgb(base)[keep])
    cats = edit_scene(base, "two cats", mask=mask).subjects
    assert len(cats) == 2
    for cat in cats:
        left, top, right, bottom = cat.box
        assert 180 <= left < right <= 300 and 60 <= top < bottom <= 200
        assert np.any(rgb(result.crop(cat.box)) != rgb(base.crop(cat.box)), axis=-1).mean() > 0.2


def test_transparent_background_drops_the_setting_and_keeps_the_subjects() -> None:
    view = compose("a blue dog on the beach", SIZE, SIZE, transparent=True)
    image = render(view)
    assert image.mode == "RGBA"
    alpha = np.asarray(image.getchannel("A"))
    (dog,) = view.subjects
    x0, y0, x1, y1 = dog.box
    outside = np.ones_like(alpha, dtype=bool)
    outside[y0:y1, x0:x1] = False
    assert (alpha[outside] == 0).all()  # no sky, no sand, no sea
    assert (alpha[y0:y1, x0:x1] == 255).mean() > 0.3
    opaque = rgb(image)[alpha == 255]
    assert ((opaque[:, 2] > opaque[:, 0] + 60) | (opaque.sum(axis=-1) < 100)).mean() > 0.8  # blue dog, black lines


def test_partial_frames_go_from_a_grey_sketch_to_the_coloured_picture() -> None:
    final = generate_image("a red fox sitting in the snow", 256, 256)
    frames = partial_frames(final, 3)

    def colourfulness(image: Image.Image) -> float:
        px = rgb(image)
        return float((px.max(axis=-1) - px.min(axis=-1)).mean())

    levels = [colourfulness(frame) for frame in [*frames, final]]
    assert levels[0] < levels[1] < levels[2] < levels[3]


def test_a_variation_keeps_the_scene_and_moves_and_recolours_its_parts() -> None:
    view = compose("a fox in the snow", 256, 256)
    source = render(view)
    varied = vary_image(source, index=1)
    (fox,) = view.subjects
    inside = np.zeros((256, 256), dtype=bool)
    inside[fox.box[1] : fox.box[3], fox.box[0] : fox.box[2]] = True
    change = np.abs(rgb(varied) - rgb(source)).sum(axis=-1)
    assert change[inside].mean() > 3 * change[~inside].mean()  # the fox moved or changed, the snow stayed snow
    assert luminance(varied)[128:].mean() > 200


def test_a_scene_variation_keeps_setting_and_subjects_and_moves_and_recolours_them() -> None:
    """For callers that know the prompt (a refinement turn): the same scene, its subjects moved and recoloured."""
    base = compose("three cats in a meadow", 512, 384)
    varied = [compose("three cats in a meadow", 512, 384, variation=k) for k in range(4)]
    assert all(v.kind == base.kind and v.horizon == base.horizon for v in varied)
    assert all([p.noun for p in v.subjects] == [p.noun for p in base.subjects] for v in varied)
    assert all(v.subjects != base.subjects for v in varied)
    assert any(p.tint is not None for v in varied for p in v.subjects)  # recoloured
    assert varied[0] == compose("three cats in a meadow", 512, 384, variation=0)


# ------------------------------------------------------------------------------------------- words said twice, turns


def test_a_subject_named_again_with_the_is_the_same_subject() -> None:
    view = compose("a cat on a sofa. make the cat black", SIZE, SIZE)
    (cat,) = subjects_named(view, "cat")  # one cat, made black, not a second cat
    assert cat.tint == (0, 0, 0) and len(subjects_named(view, "sofa")) == 1
    plain = compose("a cat on a sofa", SIZE, SIZE)
    (orange,) = subjects_named(plain, "cat")
    dark, light = luminance(render(view).crop(cat.box)), luminance(render(plain).crop(orange.box))
    assert dark.mean() < light.mean() - 30  # darker where the cat is than the same cat untold
    blue = compose("a cat and a dog, the dog is blue", SIZE, SIZE)
    assert [p.noun for p in blue.subjects].count("dog") == 1 and subjects_named(blue, "dog")[0].tint == (0, 0, 255)


def test_words_about_standing_together_draw_nothing_of_their_own() -> None:
    view = compose("two dogs side by side", SIZE, SIZE)
    assert [p.noun for p in view.subjects] == ["dog", "dog"] and view.decorations == ()


def test_a_colour_a_subject_wears_does_not_paint_its_backdrop() -> None:
    for prompt in ("a blue dog", "a red cat"):
        picture = rgb(generate_image(prompt, SIZE, SIZE))
        corner = picture[:20, :20].reshape(-1, 3).mean(axis=0)
        assert corner.max() - corner.min() < 20, f"{prompt}: the card is tinted {corner}"


def test_an_edit_asking_for_a_variation_makes_one() -> None:
    from dalle_nb.core.plan import VARIATION_PROMPT

    fox = generate_image("a red fox sitting in the snow", SIZE, SIZE)
    varied = edit_image(fox, VARIATION_PROMPT, index=1)
    assert np.array_equal(rgb(varied), rgb(vary_image(fox, index=1)))  # no artist's palette drawn on top
    assert not np.array_equal(rgb(varied), rgb(fox))


def test_a_change_of_light_without_a_mask_relights_the_picture_and_keeps_it_solid() -> None:
    fox = generate_image("a red fox sitting in the snow", SIZE, SIZE)
    dusk = edit_image(fox, "now make it dusk")
    before, after = luminance(fox), luminance(dusk)
    assert after.mean() < before.mean() - 20  # darker: dusk
    assert np.corrcoef(before.ravel(), after.ravel())[0, 1] > 0.97  # the same picture: nothing moved or ghosted
    (placed,) = compose("a red fox sitting in the snow", SIZE, SIZE).subjects
    x0, y0, x1, y1 = placed.box
    centre = rgb(dusk)[(y0 + y1) // 2 - 4 : (y0 + y1) // 2 + 4, (x0 + x1) // 2 - 4 : (x0 + x1) // 2 + 4]
    red = centre.reshape(-1, 3).mean(axis=0)
    assert red[0] > red[1] + 40 and red[0] > red[2] + 40  # the fox is still a solid red, not see-through


def test_a_boat_sits_on_the_scenes_water_not_on_a_block_of_its_own() -> None:
    boat = pictograms.glyph(pictograms.emoji_for("boat") or "", 200, 200)
    pixels = np.asarray(boat, dtype=np.int16)
    seen = pixels[..., 3] > 0
    water = np.abs(pixels[..., :3] - np.asarray((145, 210, 244))).max(axis=-1) <= 24
    assert seen.any() and (seen & water).sum() < 0.01 * seen.sum()  # a few edge pixels at most (it was a third)
    view = compose("a small boat on a stormy sea", SIZE, SIZE)
    (placed,) = subjects_named(view, "boat")

    def pale_blue(picture: Image.Image) -> float:
        drawn = rgb(picture.crop(placed.box))
        return float((np.abs(drawn - np.asarray((145, 210, 244))).max(axis=-1) <= 24).mean())

    assert pale_blue(render(view)) <= pale_blue(render(view.without_subjects())) + 0.005  # the boat adds none


@pytest.mark.parametrize("prompt", ["a sign that says {hello}", "a sign that says 'hello'", "a sign that says (hello)"])
def test_the_words_a_sign_says_are_read_in_quotes_or_brackets(prompt: str) -> None:
    view = compose(prompt, SIZE, SIZE)
    assert view.text == "hello" and view.text_box is not None
