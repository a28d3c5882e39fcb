"""The offline pictures: deterministic, tied to their prompt, and faithful to edit masks and formats."""

from __future__ import annotations

import gc
import io
import os
import subprocess
import sys

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from dalle_nb.offline.painter.draw import (
    edit_image,
    edit_scene,
    encode,
    generate_image,
    palette,
    partial_frames,
    render,
    revise_prompt,
    vary_image,
)
from dalle_nb.offline.painter.scene import compose

from ..conftest import hole_mask, noise

RED = (255, 0, 0)
BLUE = (0, 0, 255)


def pixels(image: Image.Image) -> npt.NDArray[np.int16]:
    return np.asarray(image, dtype=np.int16)


def near_fraction(image: Image.Image, colour: tuple[int, int, int], tolerance: float = 60.0) -> float:
    """Share of pixels within ``tolerance`` (Euclidean RGB) of ``colour``."""
    rgb = pixels(image.convert("RGB")).astype(np.float64)
    distance = np.linalg.norm(rgb - np.asarray(colour, dtype=np.float64), axis=-1)
    return float((distance < tolerance).mean())


def changed_fraction(a: Image.Image, b: Image.Image) -> float:
    """Share of pixels that differ anywhere in any channel."""
    return float(np.any(pixels(a) != pixels(b), axis=-1).mean())


def thumb_correlation(a: Image.Image, b: Image.Image) -> float:
    """Pearson correlation of 8x8 luminance thumbnails: do the two pictures share a layout?"""

    def thumb(image: Image.Image) -> npt.NDArray[np.float64]:
        small = image.convert("RGB").convert("L").resize((8, 8), Image.Resampling.BOX)
        return np.asarray(small, dtype=np.float64).ravel()

    return float(np.corrcoef(thumb(a), thumb(b))[0, 1])


def mean_colour(image: Image.Image) -> npt.NDArray[np.float64]:
    flat = np.asarray(image.convert("RGB"), dtype=np.float64).reshape(-1, 3)
    return np.asarray(flat.mean(axis=0), dtype=np.float64)


def mae(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(pixels(a) - pixels(b)).mean())


# ----------------------------------------------------------------------------------------------------- palette


def test_palette_lists_named_colours_in_order_once() -> None:
    prompt = "A Red car under a BLUE sky, red roof, grey walls and gray road; gold trim"
    assert palette(prompt) == [RED, BLUE, (128, 128, 128), (255, 200, 0)]


def test_palette_matches_whole_words_only() -> None:
    hashed = palette("a reddish bluebird on a goldfinch")
    assert len(hashed) == 3
    assert RED not in hashed and BLUE not in hashed


def test_hashed_palette_is_stable_and_prompt_specific() -> None:
    cat = palette("a cat wearing a hat")
    assert cat == palette("a cat wearing a hat")
    assert cat != palette("a dog wearing a hat")
    assert len(cat) == 3 and len(set(cat)) == 3
    assert all(0 <= channel <= 255 and isinstance(channel, int) for colour in cat for channel in colour)


def test_pictures_are_identical_across_processes_with_different_hash_seeds() -> None:
    code = (
        "import hashlib; from dalle_nb.offline.painter.draw import generate_image, palette;"
        "im = generate_image('a cat wearing a hat', 128, 96, model='dall-e-3', index=2, seed=5);"
        "print(hashlib.sha256(im.tobytes()).hexdigest(), palette('an unnamed mood'))"
    )
    outputs = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        outputs.add(result.stdout)
    assert len(outputs) == 1


# ----------------------------------------------------------------------------------------------------- generate


def test_generate_is_byte_identical_for_the_same_request() -> None:
    first = generate_image("a red balloon over a blue sea", 320, 200, model="dall-e-3", index=1, seed=9)
    second = generate_image("a red balloon over a blue sea", 320, 200, model="dall-e-3", index=1, seed=9)
    assert first.mode == "RGB" and first.size == (320, 200)
    assert first.tobytes() == second.tobytes()


@pytest.mark.parametrize(("index", "seed"), [(1, 0), (2, 0), (0, 1), (0, 42)])
def test_generate_differs_clearly_per_index_and_seed(index: int, seed: int) -> None:
    base = generate_image("a lighthouse on a rocky coast", 256, 256)
    varied = generate_image("a lighthouse on a rocky coast", 256, 256, index=index, seed=seed)
    assert changed_fraction(base, varied) > 0.2


def reddish(image: Image.Image) -> npt.NDArray[np.bool_]:
    px = pixels(image.convert("RGB"))
    return np.asarray((px[..., 0] > 150) & (px[..., 1] < 90) & (px[..., 2] < 90))


def test_red_balloon_is_red_where_the_balloon_is() -> None:
    view = compose("a red balloon", 256, 256)
    (balloon,) = view.subjects
    image = render(view)
    assert balloon.noun == "balloon"
    inside = reddish(image.crop(balloon.box)).mean()
    assert inside > 0.3
    assert reddish(image).mean() < inside / 2  # the red is the balloon's, not the picture's
    assert near_fraction(image, BLUE) == 0.0


def test_blue_sea_is_mostly_blue() -> None:
    image = generate_image("blue sea", 256, 256, index=3)
    assert near_fraction(image, BLUE) > 0.4
    assert near_fraction(image, RED) == 0.0


def test_two_named_colours_both_show_where_they_were_named() -> None:
    view = compose("a red kite in a blue sky", 256, 256)
    (kite,) = view.subjects
    image = render(view)
    sky = image.crop((0, 0, 256, view.horizon))
    assert near_fraction(sky, BLUE) > 0.3
    ink = np.asarray(render(view).crop(kite.box)) != np.asarray(render(view, subjects=False).crop(kite.box))
    painted = np.any(ink, axis=-1) & (pixels(image.crop(kite.box)).sum(axis=-1) > 120)  # the kite, not its outline
    assert reddish(image.crop(kite.box))[painted].mean() > 0.5


def test_changing_one_word_changes_the_composition() -> None:
    cat = generate_image("a cat on a mat", 256, 256)
    dog = generate_image("a dog on a mat", 256, 256)
    assert changed_fraction(cat, dog) > 0.05
    # Same palette, no background: only the shapes the words place can differ.
    red_cat = np.asarray(generate_image("a red cat", 256, 256, transparent=True).getchannel("A"))
    red_dog = np.asarray(generate_image("a red dog", 256, 256, transparent=True).getchannel("A"))
    assert (red_cat != red_dog).mean() > 0.02


def test_prompt_without_content_words_still_draws_shapes() -> None:
    for prompt in ("", "the of and"):
        image = generate_image(prompt, 128, 128, transparent=True)
        assert (np.asarray(image)[:, :, 3] == 255).any()


def test_transparent_background_has_real_alpha_zero_and_opaque_subjects() -> None:
    image = generate_image("a cat wearing a hat", 256, 256, transparent=True)
    assert image.mode == "RGBA"
    alpha = np.asarray(image.getchannel("A"))
    assert (alpha == 0).mean() > 0.2
    assert (alpha == 255).mean() > 0.05
    assert ((alpha > 0) & (alpha < 255)).mean() < 0.05  # only the anti-aliased edges of the pictograms
    assert alpha[0, 0] == alpha[0, -1] == alpha[-1, 0] == alpha[-1, -1] == 0


@pytest.mark.parametrize("size", [(1536, 1024), (1024, 1536), (3840, 2160), (256, 256), (64, 64), (1024, 1024)])
def test_generate_renders_at_requested_size(size: tuple[int, int]) -> None:
    image = generate_image("a tiny house in a green valley", *size)
    assert image.size == size
    assert near_fraction(image, (0, 170, 0)) > 0.1


def test_generate_rejects_empty_size() -> None:
    with pytest.raises(ValueError):
        generate_image("x", 0, 64)


def live_picture_bytes() -> int:
    """The pixel memory of every Pillow picture still alive (RGB is stored 4 bytes a pixel, L and P 1)."""
    gc.collect()
    pictures = [o for o in gc.get_objects() if isinstance(o, Image.Image)]
    return sum(p.width * p.height * (1 if p.mode in ("1", "L", "P") else 4) for p in pictures)


def test_drawing_4k_pictures_does_not_keep_them_in_the_kernel() -> None:
    # The offline server draws inside the user's kernel: a generate(n=40, size="3840x2160") used to leave 1.28 GB
    # behind, one cached 32 MiB backdrop per picture (plus their glyphs); the caches are now bounded by bytes.
    settings = ("in the snow", "at sunset on the beach", "in a forest", "in the city at night", "in the rain", "")
    before = live_picture_bytes()
    for index, setting in enumerate(settings * 2):
        generate_image(f"a fox {setting}", 3840, 2160, index=index)
    kept = live_picture_bytes() - before
    assert kept <= 160 * 2**20, f"{kept / 2**20:.0f} MiB of pictures kept after drawing 12 distinct 4K pictures"


# ----------------------------------------------------------------------------------------------------- edit


def test_edit_keeps_every_pixel_outside_the_mask_and_paints_inside() -> None:
    base = noise(200, 160, 1234)
    box = (40, 30, 150, 120)
    mask = hole_mask((200, 160), box)
    result = edit_image(base, "a red balloon", mask=mask)
    assert result.mode == "RGB" and result.size == base.size
    keep = np.asarray(mask.getchannel("A")) != 0
    assert np.array_equal(pixels(result)[keep], pixels(base)[keep])
    inside = result.crop(box)
    assert changed_fraction(inside, base.crop(box)) > 0.9
    (balloon,) = edit_scene(base, "a red balloon", mask=mask).subjects
    left, top, right, bottom = balloon.box
    assert box[0] <= left and box[1] <= top and right <= box[2] and bottom <= box[3]  # drawn into the hole
    assert reddish(result.crop(balloon.box)).mean() > 0.3


def test_edit_with_alpha_base_keeps_rgba_pixels_exactly() -> None:
    base = noise(128, 128, 1234, mode="RGBA")
    mask = hole_mask((128, 128), (0, 0, 64, 128))
    result = edit_image(base, "blue sea", mask=mask, seed=3)
    assert result.mode == "RGBA"
    keep = np.asarray(mask.getchannel("A")) != 0
    assert np.array_equal(pixels(result)[keep], pixels(base)[keep])
    assert near_fraction(result.crop((0, 0, 64, 128)), BLUE) > 0.4


def test_transparent_edit_of_rgb_base_keeps_pixels_and_clears_background() -> None:
    base = noise(128, 128, 1234)
    mask = hole_mask((128, 128), (32, 32, 96, 96))
    result = edit_image(base, "a cat wearing a hat", mask=mask, transparent=True)
    assert result.mode == "RGBA"
    keep = np.asarray(mask.getchannel("A")) != 0
    assert np.array_equal(pixels(result)[keep], pixels(base.convert("RGBA"))[keep])
    hole_alpha = np.asarray(result.getchannel("A"))[~keep]
    assert (hole_alpha == 0).any()


def test_edit_is_deterministic_and_differs_per_index() -> None:
    base = generate_image("a quiet harbour", 160, 160)
    mask = hole_mask((160, 160), (20, 20, 140, 140))
    first = edit_image(base, "a yellow submarine", mask=mask, index=0)
    again = edit_image(base, "a yellow submarine", mask=mask, index=0)
    second = edit_image(base, "a yellow submarine", mask=mask, index=1)
    assert first.tobytes() == again.tobytes()
    assert changed_fraction(first, second) > 0.1


def test_edit_without_mask_changes_everything_but_keeps_the_layout() -> None:
    base = generate_image("green grass and yellow sun, white clouds", 256, 256)
    result = edit_image(base, "a purple dragon")
    assert result.size == base.size and result.mode == "RGB"
    assert changed_fraction(result, base) > 0.5
    assert thumb_correlation(result, base) > 0.7
    (dragon,) = edit_scene(base, "a purple dragon").subjects
    purple = np.asarray((128, 0, 160), dtype=np.float64)
    inside, before = mean_colour(result.crop(dragon.box)), mean_colour(base.crop(dragon.box))
    assert np.linalg.norm(inside - purple) < np.linalg.norm(before - purple) - 40


def test_edit_references_tint_deterministically() -> None:
    base = noise(96, 96, 1234)
    mask = hole_mask((96, 96), (0, 0, 96, 48))
    green = Image.new("RGB", (32, 32), (0, 200, 0))
    plain = edit_image(base, "a red balloon", mask=mask)
    tinted = edit_image(base, "a red balloon", mask=mask, references=[green])
    assert tinted.tobytes() == edit_image(base, "a red balloon", mask=mask, references=[green]).tobytes()
    assert tinted.tobytes() != plain.tobytes()
    assert mean_colour(tinted.crop((0, 0, 96, 48)))[1] > mean_colour(plain.crop((0, 0, 96, 48)))[1]
    keep = np.asarray(mask.getchannel("A")) != 0
    assert np.array_equal(pixels(tinted)[keep], pixels(base)[keep])


def test_edit_rejects_mask_of_another_size() -> None:
    with pytest.raises(ValueError, match="mask size"):
        edit_image(noise(64, 64, 1234), "x", mask=hole_mask((32, 32), (0, 0, 8, 8)))


# ----------------------------------------------------------------------------------------------------- vary


@pytest.mark.parametrize("index", [0, 1, 2])
def test_variation_keeps_layout_and_palette_but_is_new(index: int) -> None:
    source = generate_image("a cat wearing a hat", 256, 256)
    varied = vary_image(source, index=index)
    assert varied.size == source.size and varied.mode == "RGB"
    assert np.linalg.norm(mean_colour(varied) - mean_colour(source)) < 25
    assert thumb_correlation(varied, source) > 0.8
    assert mae(varied, source) > 3


def test_variations_are_deterministic_and_differ_per_index_and_seed() -> None:
    source = generate_image("sunset over mountains", 192, 128)
    first = vary_image(source, index=0)
    assert first.tobytes() == vary_image(source, index=0).tobytes()
    assert changed_fraction(first, vary_image(source, index=1)) > 0.2
    assert changed_fraction(first, vary_image(source, seed=1)) > 0.2


def test_variation_resizes_and_keeps_alpha() -> None:
    source = generate_image("a red balloon", 300, 200, transparent=True)
    varied = vary_image(source, size=(256, 256), index=1)
    assert varied.size == (256, 256)
    assert varied.mode == "RGBA"
    alpha = np.asarray(varied.getchannel("A"))
    assert (alpha == 0).any() and (alpha == 255).any()


# ----------------------------------------------------------------------------------------------------- partials


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_partial_frames_refine_monotonically_toward_final(mode: str) -> None:
    final = generate_image("a red kite in a blue sky", 512, 384, transparent=mode == "RGBA")
    frames = partial_frames(final, 3)
    assert len(frames) == 3
    assert all(frame.size == final.size and frame.mode == final.mode for frame in frames)
    errors = [mae(frame, final) for frame in frames]
    assert errors[0] > errors[1] > errors[2] > 0


def test_partial_frames_counts() -> None:
    final = generate_image("a small boat", 64, 64)
    assert partial_frames(final, 0) == []
    for count in (1, 2, 3):
        frames = partial_frames(final, count)
        assert len(frames) == count
        assert all(frame.tobytes() != final.tobytes() for frame in frames)
    flat = Image.new("RGB", (64, 64), (10, 200, 30))
    assert all(frame.tobytes() != flat.tobytes() for frame in partial_frames(flat, 3))
    with pytest.raises(ValueError):
        partial_frames(final, 4)


# ----------------------------------------------------------------------------------------------------- revise


def test_revised_prompt_describes_what_was_drawn_in_a_sentence() -> None:
    revised = revise_prompt("a red fox sitting in the snow")
    assert revised == revise_prompt("a red fox sitting in the snow")
    assert revised.startswith("A red fox sits") and revised.endswith(".")
    assert "snow" in revised and "winter sky" in revised
    cats = revise_prompt("three cats on a sofa in a living room")
    assert cats.startswith("Three cats sit on a sofa") and "living room" in cats
    assert "lighthouse" in revise_prompt("a lighthouse on a cliff at sunset")
    assert "sunset" in revise_prompt("a lighthouse on a cliff at sunset")
    assert "pixel art" in revise_prompt("a city at night in pixel art")
    assert '"hello"' in revise_prompt("a sign that says 'hello' in a forest")


def test_what_the_revised_prompt_says_shines_is_what_the_night_leaves_lit() -> None:
    """A lantern is drawn in its own light at night, so it shines; a cloud is darkened with the sky, so it floats."""
    assert revise_prompt("a lantern in a forest at night").startswith("A lantern shines")
    assert revise_prompt("a cloud in a field at night").startswith("A cloud floats")


def test_revised_prompt_reads_differently_per_style_and_flavour_but_tells_the_same_picture() -> None:
    prompt = "a cat wearing a hat"
    vivid = revise_prompt(prompt, style="vivid")
    natural = revise_prompt(prompt, style="natural")
    plain = revise_prompt(prompt)
    assert len({vivid, natural, plain}) == 3
    assert any(word in vivid for word in ("bold", "vivid", "intense", "dramatic"))
    assert any(word in natural for word in ("soft", "natural", "muted", "realistic"))
    assert "dramatic" not in natural and "realistic" not in vivid
    flavours = {revise_prompt(prompt, flavour=f"turn {k}") for k in range(8)}
    assert len(flavours) > 1
    assert all("A cat wearing a hat" in text for text in {vivid, natural, plain, *flavours})


def test_revised_prompt_handles_empty_prompt_and_rejects_unknown_style() -> None:
    assert len(revise_prompt("")) > 0
    assert "abstract" in revise_prompt("an unnamed mood")
    with pytest.raises(ValueError):
        revise_prompt("a cat", style="moody")


# ----------------------------------------------------------------------------------------------------- encode


def test_png_round_trip_is_lossless_with_alpha() -> None:
    image = generate_image("a cat wearing a hat", 128, 128, transparent=True)
    decoded = Image.open(io.BytesIO(encode(image, "png")))
    assert decoded.format == "PNG" and decoded.mode == "RGBA"
    assert decoded.tobytes() == image.tobytes()


def test_webp_lossless_at_100_keeps_alpha_and_lossy_shrinks() -> None:
    image = generate_image("a cat wearing a hat", 128, 128, transparent=True)
    decoded = Image.open(io.BytesIO(encode(image, "webp", compression=100)))
    assert decoded.format == "WEBP" and decoded.mode == "RGBA"
    assert decoded.tobytes() == image.tobytes()
    busy = noise(128, 128, 1234)
    assert len(encode(busy, "webp", compression=20)) < len(encode(busy, "webp", compression=90))


def test_jpeg_flattens_alpha_onto_white_and_quality_orders_size() -> None:
    image = generate_image("a cat wearing a hat", 128, 128, transparent=True)
    decoded = Image.open(io.BytesIO(encode(image, "jpeg", compression=90)))
    assert decoded.format == "JPEG" and decoded.mode == "RGB" and decoded.size == (128, 128)
    clear = np.asarray(image.getchannel("A")) == 0
    assert pixels(decoded)[clear].mean() > 240
    busy = noise(128, 128, 1234)
    sizes = [len(encode(busy, "jpeg", compression=q)) for q in (10, 50, 90)]
    assert sizes[0] < sizes[1] < sizes[2]
    assert encode(busy, "jpeg", compression=100) == encode(busy, "jpeg", compression=95)


def test_encode_rejects_unknown_format() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        encode(noise(8, 8, 1234), "gif")
