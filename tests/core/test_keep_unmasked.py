"""keep_unmasked: the original pasted back outside the mask, with a soft seam only near the edge."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from dalle_nb.core.errors import InvalidRequest
from dalle_nb.core.imaging import KEEP_UNMASKED_FEATHER, keep_unmasked

W, H = 300, 200
BOX = (100, 50, 220, 150)  # x0, y0, x1, y1 of the mask: mask[50:150, 100:220]


def noise(seed: int, channels: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (H, W, channels), dtype=np.uint8)


def box_mask() -> np.ndarray:
    mask = np.zeros((H, W), bool)
    x0, y0, x1, y1 = BOX
    mask[y0:y1, x0:x1] = True
    return mask


def distance_outside() -> np.ndarray:
    """For each pixel, how many pixels (in x or y) it lies outside the box; <= 0 inside."""
    yy, xx = np.mgrid[:H, :W]
    x0, y0, x1, y1 = BOX
    return np.maximum(np.maximum(x0 - xx, xx - (x1 - 1)), np.maximum(y0 - yy, yy - (y1 - 1)))


@pytest.mark.parametrize("feather", [0, 1, 3, KEEP_UNMASKED_FEATHER, 13, 20.5])
def test_far_from_the_edge_the_pixels_are_exactly_the_original_or_the_edit(feather: float) -> None:
    original, edited = noise(1), noise(2)
    out = np.asarray(keep_unmasked(original, edited, box_mask(), feather=feather))
    assert out.shape == (H, W, 3)
    reach = math.ceil(feather / 2)
    d = distance_outside()
    assert (out[d > reach] == original[d > reach]).all(), "outside the mask, beyond the feather: the original"
    assert (out[d <= -reach] == edited[d <= -reach]).all(), "inside the mask, beyond the feather: the edit"


def test_the_default_feather_softens_the_seam_on_both_sides() -> None:
    original = np.zeros((H, W, 3), np.uint8)
    edited = np.full((H, W, 3), 255, np.uint8)
    out = np.asarray(keep_unmasked(original, edited, box_mask()))[:, :, 0].astype(int)
    row = out[100, 90:110]  # across the left edge at x = 100
    assert list(row) == sorted(row), "a ramp, no step back"
    assert row[0] == 0 and row[-1] == 255 and 0 < out[100, 99] < 255 and 0 < out[100, 100] < 255
    assert np.count_nonzero((row > 0) & (row < 255)) == KEEP_UNMASKED_FEATHER


def test_feather_zero_is_a_hard_paste() -> None:
    original, edited = noise(3), noise(4)
    mask = box_mask()
    out = np.asarray(keep_unmasked(original, edited, mask, feather=0))
    assert (out[mask] == edited[mask]).all() and (out[~mask] == original[~mask]).all()


def test_every_mask_kind_and_transparency() -> None:
    original, edited = noise(5, 4), noise(6, 3)
    mask = box_mask()
    rgba_mask = np.zeros((H, W, 4), np.uint8)
    rgba_mask[..., 3] = np.where(mask, 0, 255)
    for given in (mask, Image.fromarray(mask), rgba_mask, Image.fromarray(mask[::2, ::2])):
        out = keep_unmasked(original, edited, given, feather=0)
        assert out.mode == "RGBA", "the original's transparency is kept"
        pixels = np.asarray(out)
        assert (pixels[~mask] == original[~mask]).all()
        assert (pixels[mask][:, :3] == edited[mask]).all() and (pixels[mask][:, 3] == 255).all()


def test_an_edit_of_another_size_gets_the_original_resized_to_it() -> None:
    original = Image.new("RGB", (W, H), (10, 20, 30))
    edited = Image.new("RGB", (W * 2, H * 2), (200, 100, 0))
    out = keep_unmasked(original, edited, box_mask(), feather=0)
    assert out.size == (W * 2, H * 2)
    pixels = np.asarray(out)
    assert tuple(pixels[10, 10]) == (10, 20, 30) and tuple(pixels[200, 320]) == (200, 100, 0)
    with pytest.raises(InvalidRequest, match="another shape"):
        keep_unmasked(original, Image.new("RGB", (400, 400)), box_mask())


@pytest.mark.parametrize("feather", [-1, math.inf, math.nan, "8", True])
def test_a_bad_feather_is_refused(feather: object) -> None:
    with pytest.raises(InvalidRequest, match="feather must be a number of pixels >= 0"):
        keep_unmasked(noise(1), noise(2), box_mask(), feather=feather)  # type: ignore[arg-type]
