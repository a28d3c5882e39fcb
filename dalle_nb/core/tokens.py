"""How many tokens a GPT image request uses: the rules the price estimate and the offline backend share.

OpenAI bills GPT image models by the token: text in, image in, image out.  The API reports
the tokens a request used (``usage``), but only afterwards; a price *before* the click needs
the counts from the request alone.  This module holds those counts, with where each came from:

- **Output image tokens.**  OpenAI's image-generation guide publishes, for ``gpt-image-1``,
  272 / 1056 / 4160 tokens for a low / medium / high 1024x1024 picture, 408 / 1584 / 6240 for
  1024x1536 and 400 / 1568 / 6208 for 1536x1024 (quoted in traceloop/openllmetry-js#623 and
  many price maps).  All nine are ``rows x (columns + 1)`` of a grid whose side is ``base``
  cells per 1024 pixels (``base`` = 16, 32, 64): the rule used for that family.  For
  ``gpt-image-2``, OpenAI's calculator as quoted on community.openai.com (threads 1379464 and
  1381388, 2026) gives 196 tokens for a low 1024x1024 picture (129 for 976x704, 130 for 960x720:
  in proportion to the area) and 7,024 for a high one; for GPT Image 2.5, Comfy-Org/docs#1664
  gives 196 for ``low`` and about 7,024 for ``max``.  Those counts scale with the area here.
  The tiers between are not published: they are spaced evenly between the two ends on a log
  scale and marked ``published=False``, and an estimate that uses them says so.  The
  calculator's ``gpt-image-2`` counts for other shapes do not follow the area (5,488 for
  1536x1024 high), so a wide picture's estimate may be high: the bill afterwards is always
  the API's own count.
- **Input image tokens** (edits, references): like OpenAI's patch-based vision models, a picture
  is covered by 32x32-pixel patches, scaled down first to at most 1,536 patches; 1024x1024 is
  1,024 tokens (Comfy-Org/docs#1664: "each 1024x1024 reference image adds about 2.47 credits",
  1,023 tokens at its rate).  ``input_fidelity="high"`` keeps more detail and "uses more image
  input tokens" (OpenAI's guide, no number): counted as four times as many patches (16-pixel
  patches, up to 6,144), an estimate.
- **Text tokens**: about four characters a token (OpenAI's rule of thumb for English), plus
  the 6-token overhead a request carries (community.openai.com thread 1381388).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: ``gpt-image-1`` family: grid cells per 1024 pixels of side, per quality (all published).
_GRID = {"low": 16, "medium": 32, "high": 64}
_GRID_MODELS = ("gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "chatgpt-image-latest")
#: Later families: tokens of a 1024x1024 picture, per quality, and whether OpenAI published the count.
_PER_MEGAPIXEL: dict[str, dict[str, tuple[int, bool]]] = {
    "gpt-image-2": {"low": (196, True), "medium": (1173, False), "high": (7024, True)},
    "gpt-image-2.5": {
        "low": (196, True), "medium": (480, False), "high": (1174, False), "xhigh": (2872, False), "max": (7024, True),
    },
}  # fmt: skip
#: What a request without a size gets from GPT image models (``auto`` picks among these; 1024x1024 mostly).
DEFAULT_SIZE = (1024, 1024)
TEXT_OVERHEAD = 6
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class Count:
    """A token count and whether OpenAI published it (False: derived here, an estimate)."""

    tokens: int
    published: bool = True


def _family(model: str) -> str:
    if model in _GRID_MODELS or model.startswith(("gpt-image-1.5-", "gpt-image-1-")):
        return "gpt-image-1"
    return "gpt-image-2.5" if model.startswith("gpt-image-2.5") else "gpt-image-2"


def qualities(model: str) -> tuple[str, ...]:
    """The qualities with a token count for ``model``, cheapest first (what ``auto`` ranges over)."""
    family = _family(model)
    return tuple(_GRID if family == "gpt-image-1" else _PER_MEGAPIXEL[family])


def output_tokens(model: str, width: int, height: int, quality: str) -> Count:
    """Image tokens one ``width x height`` picture of ``quality`` costs on GPT image ``model``.

    ``quality`` must be concrete (not ``auto``, which the caller turns into a range); a quality
    the table has no row for (a newer tier) counts as the highest one, unpublished.
    """
    family = _family(model)
    if family == "gpt-image-1":
        base, published = (_GRID[quality], True) if quality in _GRID else (_GRID["high"], False)
        rows = max(1, math.ceil(base * height / 1024))
        columns = max(1, math.ceil(base * width / 1024))
        return Count(rows * (columns + 1), published)
    counts = _PER_MEGAPIXEL[family]
    per_megapixel, published = counts.get(quality, (max(c for c, _ in counts.values()), False))
    return Count(max(1, math.ceil(per_megapixel * width * height / (1024 * 1024))), published)


def input_image_tokens(width: int, height: int, fidelity: str | None = None) -> Count:
    """Image tokens one input picture of ``width x height`` costs (an edit's image, a reference)."""
    side = 16 if fidelity == "high" else 32
    most = 6144 if fidelity == "high" else 1536
    patches = math.ceil(width / side) * math.ceil(height / side)
    if patches > most:
        scale = math.sqrt(most * side * side / (width * height))
        patches = math.ceil(width * scale / side) * math.ceil(height * scale / side)
        patches = min(patches, most)
    return Count(patches, published=fidelity != "high")


def text_tokens(text: str) -> int:
    """About how many tokens ``text`` is, with a request's overhead: what a prompt costs as input."""
    return TEXT_OVERHEAD + math.ceil(len(text.strip()) / CHARS_PER_TOKEN)


__all__ = ["CHARS_PER_TOKEN", "DEFAULT_SIZE", "TEXT_OVERHEAD", "Count", "input_image_tokens", "output_tokens",
           "qualities", "text_tokens"]  # fmt: skip
