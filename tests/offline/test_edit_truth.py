"""Edits show what they were asked for, inside the mask, as a new user tries them through the SDK (#21).

For four masks a person might paint (a thin brush stroke, a blob, a rectangle, and an inverted mask that keeps
only the middle), on two generated night pictures, each of four edit prompts must (a) put the asked subject's
colours over a good share of the masked pixels, (b) leave the masked region not a flat fill, and (c) keep every
unmasked pixel identical.  Thresholds are honest, not tuned to the pixel: a sun or a balloon covers at least 15% of
the region in its colour, a wooden boat (a long, thin hull with a paddle) 12%, and snow whitens at least 40% of it.
The inverted mask edits about 90% of the picture: one subject half the picture wide is about 9% of that, so there
a subject must cover 7%.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import openai
import pytest
from PIL import Image, ImageDraw

from ..conftest import png_bytes

SIZE = 512
BASES = ("a beach at night with the sea", "a night sky over a city")

Pen = Callable[[ImageDraw.ImageDraw], None]


def _mask(paint: Pen, *, inverted: bool = False) -> Image.Image:
    """An RGBA mask, opaque but where ``paint`` draws (alpha 0: edit here, as the API defines it); or the reverse."""
    alpha = Image.new("L", (SIZE, SIZE), 0 if inverted else 255)
    paint(ImageDraw.Draw(alpha))
    mask = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 255))
    mask.putalpha(alpha)
    return mask


def _stroke(pen: ImageDraw.ImageDraw) -> None:
    pen.line([(70, 165), (150, 140), (240, 130), (330, 142), (430, 125)], fill=0, width=14, joint="curve")


def _blob(pen: ImageDraw.ImageDraw) -> None:
    for x, y, r in ((300, 150, 75), (350, 180, 55), (260, 190, 50), (325, 110, 45)):
        pen.ellipse((x - r, y - r, x + r, y + r), fill=0)


def _rectangle(pen: ImageDraw.ImageDraw) -> None:
    pen.rectangle((130, 240, 380, 430), fill=0)


def _keep_middle(pen: ImageDraw.ImageDraw) -> None:
    pen.ellipse((165, 165, 350, 350), fill=255)


MASKS = {
    "stroke": _mask(_stroke),
    "blob": _mask(_blob),
    "rectangle": _mask(_rectangle),
    "inverted": _mask(_keep_middle, inverted=True),
}


def _hsv(pixels: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.float64], ...]:
    """Hue in degrees, saturation and value in 0..1, of an N x 3 array of RGB pixels."""
    rgb = pixels.astype(np.float64) / 255.0
    top, low = rgb.max(axis=1), rgb.min(axis=1)
    spread = np.maximum(top - low, 1e-9)
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    hue = np.where(top == r, (g - b) / spread % 6, np.where(top == g, (b - r) / spread + 2, (r - g) / spread + 4)) * 60
    return hue, np.where(top > 0, (top - low) / np.maximum(top, 1e-9), 0.0), top


def orange(p: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    hue, sat, val = _hsv(p)
    return (hue >= 15) & (hue <= 55) & (sat > 0.5) & (val > 0.55)


def red(p: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    hue, sat, val = _hsv(p)
    return ((hue <= 14) | (hue >= 340)) & (sat > 0.5) & (val > 0.35)


def brown(p: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    hue, sat, val = _hsv(p)
    return (hue >= 12) & (hue <= 45) & (sat > 0.3) & (val > 0.2) & (val < 0.8)


def whitish(p: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    q = p.astype(np.int16)
    return (q.min(axis=1) >= 180) & (q.max(axis=1) - q.min(axis=1) <= 60)


#: prompt -> (what its colour looks like, the share of the masked pixels that must look so)
PROMPTS: dict[str, tuple[Callable[[npt.NDArray[np.uint8]], npt.NDArray[np.bool_]], float]] = {
    "a bright orange sun": (orange, 0.15),
    "a red balloon": (red, 0.15),
    "make it snow": (whitish, 0.40),
    "a wooden boat": (brown, 0.12),
}


def _decode(b64: str | None) -> Image.Image:
    assert b64 is not None
    return Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB")


@pytest.fixture(scope="module")
def bases(server: object) -> dict[str, Image.Image]:
    from dalle_nb.offline import OfflineServer

    assert isinstance(server, OfflineServer)
    with openai.OpenAI(base_url=server.base_url, api_key="offline", max_retries=0) as c:
        made = {}
        for prompt in BASES:
            res = c.images.generate(model="dall-e-2", prompt=prompt, size="512x512", response_format="b64_json")
            made[prompt] = _decode(res.data[0].b64_json if res.data else None)
        return made


@pytest.mark.parametrize("base_prompt", BASES)
@pytest.mark.parametrize("mask_name", list(MASKS))
@pytest.mark.parametrize("prompt", list(PROMPTS))
def test_edit_paints_the_request_into_the_mask_and_nothing_else(
    client: openai.OpenAI, bases: dict[str, Image.Image], base_prompt: str, mask_name: str, prompt: str
) -> None:
    source, mask = bases[base_prompt], MASKS[mask_name]
    res = client.images.edit(
        model="dall-e-2", image=png_bytes(source), mask=png_bytes(mask), prompt=prompt, size="512x512",
        response_format="b64_json",
    )  # fmt: skip
    result = _decode(res.data[0].b64_json if res.data else None)
    assert result.size == source.size
    region = np.asarray(mask.getchannel("A")) == 0
    after, before = np.asarray(result), np.asarray(source)
    # (c) outside the mask: every pixel exactly as it was
    assert np.array_equal(after[~region], before[~region])
    inside = after[region]
    # (a) the asked subject (or snow) covers a substantial share of the masked pixels
    looks, share = PROMPTS[prompt]
    if mask_name == "inverted" and looks is not whitish:
        share = 0.07
    assert looks(inside).mean() >= share, f"{looks.__name__} covers {looks(inside).mean():.0%} of the mask"
    # (b) not a flat fill: the region varies, and no single colour takes most of it
    assert inside.astype(np.float64).std(axis=0).mean() > 8
    _, counts = np.unique(inside // 8, axis=0, return_counts=True)
    assert counts.max() / len(inside) < 0.6


# ----------------------------------------------------------------------------------------------------- variations


def _fox_face(image: Image.Image) -> npt.NDArray[np.bool_]:
    """The fox's face: its orange fur and whatever the fur encloses (eyes, muzzle, and any patch pasted in it)."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.int16)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    fur = (r > 180) & (g > 70) & (g < 150) & (b < 90)
    outside = Image.fromarray(np.pad(fur, 1).astype(np.uint8) * 255).copy()
    ImageDraw.floodfill(outside, (0, 0), 128)
    return np.asarray(outside)[1:-1, 1:-1] != 128


def test_variations_of_a_fox_are_clean_foxes(client: openai.OpenAI) -> None:
    """A variation moves and resizes the fox a little; it neither turns it pink or olive nor pastes blocks of the
    ground (the grid the parts were found on) into its face, around its eyes or beside its ears (#21)."""
    made = client.images.generate(model="dall-e-2", prompt="a fox", size="512x512", response_format="b64_json")
    source = _decode(made.data[0].b64_json if made.data else None)
    face = _fox_face(source)
    ground = np.asarray(source, dtype=np.int16)[[2, -3], :].mean(axis=1)  # the backdrop's top and bottom colours
    res = client.images.create_variation(
        model="dall-e-2", image=png_bytes(source), n=4, size="512x512", response_format="b64_json"
    )
    assert res.data and len(res.data) == 4
    for item in res.data:
        varied = _decode(item.b64_json)
        assert not np.array_equal(np.asarray(varied), np.asarray(source))
        fox = _fox_face(varied)
        assert 0.5 < fox.sum() / face.sum() < 2.0  # still an orange fox of about its size
        pixels = np.asarray(varied, dtype=np.int16)[fox]
        patches = np.zeros(len(pixels), dtype=bool)
        for colour in ground:
            patches |= np.abs(pixels - colour).max(axis=1) < 30
        assert patches.mean() < 0.01, f"{patches.mean():.1%} of the face is the ground's colour"
