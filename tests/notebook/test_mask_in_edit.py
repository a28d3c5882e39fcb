"""The mask editor in the edit road: keep_unmasked in dn.edit, --keep-unmasked, %dalle_mask, the editor as a mask."""

from __future__ import annotations

import numpy as np
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from PIL import Image

import dalle_nb as dn
from dalle_nb.core.imaging import KEEP_UNMASKED_FEATHER

from ..conftest import scene


def far_from_the_edge(mask: np.ndarray, margin: int) -> np.ndarray:
    """Pixels outside ``mask`` and more than ``margin`` pixels (in x and y) from it."""
    grown = mask.copy()
    for _ in range(margin):
        grown[1:, :] |= grown[:-1, :]
        grown[:-1, :] |= grown[1:, :]
        grown[:, 1:] |= grown[:, :-1]
        grown[:, :-1] |= grown[:, 1:]
    return ~grown


def test_keep_unmasked_pastes_the_original_back_and_says_so() -> None:
    picture = scene((1536, 1024))
    editor = dn.MaskEditor(picture)
    editor.rectangle((900, 100, 1400, 600))
    result = dn.edit(picture, "a bright orange sun", mask=editor, size="1536x1024", output_format="png",
                     keep_unmasked=True)  # fmt: skip
    out = np.asarray(result[0].to_pil().convert("RGB"))
    original = np.asarray(picture)
    keep = far_from_the_edge(editor.mask_array, KEEP_UNMASKED_FEATHER // 2 + 1)
    assert np.array_equal(out[keep], original[keep]), "outside the mask, the original's pixels exactly"
    inside = editor.mask_array & far_from_the_edge(~editor.mask_array, KEEP_UNMASKED_FEATHER // 2 + 1)
    assert (out[inside] != original[inside]).any(axis=-1).mean() > 0.3, "inside, the edit"
    assert any("keep_unmasked" in note and "not by the API" in note for note in result.notices)
    assert result[0].path is not None and np.array_equal(np.asarray(Image.open(result[0].path).convert("RGB")), out), (
        "the gallery keeps the composited picture"
    )


def test_keep_unmasked_needs_a_mask_and_an_empty_editor_is_refused() -> None:
    with pytest.raises(dn.InvalidRequest, match="keep_unmasked needs a mask"):
        dn.edit(scene(), "a moon", keep_unmasked=True)
    with pytest.raises(dn.InvalidRequest, match="nothing painted") as err:
        dn.edit(scene(), "a moon", mask=dn.MaskEditor(scene()))
    assert "\n" not in err.value.one_line()


def test_the_mask_magic_shows_an_editor_the_edit_magic_takes(ip: InteractiveShell) -> None:
    ip.user_ns["photo"] = scene()
    editor = ip.run_line_magic("dalle_mask", "photo -o hole")
    assert isinstance(editor, dn.MaskEditor) and ip.user_ns["hole"] is editor
    editor.rectangle((100, 100, 400, 300))
    result = ip.run_cell_magic("dalle_edit", "photo --mask hole --keep-unmasked -s 1024x1024 -o fixed",
                               "a red door")  # fmt: skip
    assert ip.user_ns["fixed"] is result and any("keep_unmasked" in n for n in result.notices)
    out = np.asarray(result[0].to_pil().convert("RGB"))
    keep = far_from_the_edge(editor.mask_array, KEEP_UNMASKED_FEATHER // 2 + 1)
    assert np.array_equal(out[keep], np.asarray(scene())[keep])
    with pytest.raises(UsageError, match="not defined"):
        ip.run_line_magic("dalle_mask", "no_such_picture")
