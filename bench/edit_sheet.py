"""A contact sheet of offline edits, to look at: rows are masks, columns are edit prompts.

Each cell shows the input picture with the mask's edge outlined in cyan (left) and the edit's result (right), so a
person can judge at a glance whether the asked subject appears where the mask was painted, whether the masked area
continues its surroundings, and whether anything outside it changed.  The edits are made by the offline painter
(``dalle_nb.offline.painter.draw``), exactly as the offline server makes them for ``images.edit``.

Run from the repository root: ``.venv/bin/python bench/edit_sheet.py [--out edit_sheet.png] [--base PROMPT]``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from dalle_nb.offline.painter import draw

SIZE = 1024
BASES = ("a beach at night with the sea", "a night sky over a city")
PROMPTS = ("a bright orange sun", "a red balloon", "make it snow", "a wooden boat")


def _mask(paint: Callable[[ImageDraw.ImageDraw], None], *, inverted: bool = False) -> Image.Image:
    """An RGBA mask, opaque everywhere but where ``paint`` draws (alpha 0 = edit); ``inverted`` swaps the two."""
    alpha = Image.new("L", (SIZE, SIZE), 0 if inverted else 255)
    paint(ImageDraw.Draw(alpha))
    mask = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 255))
    mask.putalpha(alpha)
    return mask


def stroke(pen: ImageDraw.ImageDraw) -> None:
    """A thin brush stroke across the sky, as a person drags a 28 px brush."""
    points = [(140, 330), (300, 280), (480, 260), (660, 285), (860, 250)]
    pen.line(points, fill=0, width=28, joint="curve")
    for x, y in (points[0], points[-1]):
        pen.ellipse((x - 14, y - 14, x + 14, y + 14), fill=0)


def blob(pen: ImageDraw.ImageDraw) -> None:
    """An irregular blob, a few overlapping dabs."""
    for x, y, r in ((600, 300, 150), (700, 360, 110), (520, 380, 100), (650, 220, 90)):
        pen.ellipse((x - r, y - r, x + r, y + r), fill=0)


def rectangle(pen: ImageDraw.ImageDraw) -> None:
    """A rectangle over the lower middle (sea and sand on a beach)."""
    pen.rectangle((260, 480, 760, 860), fill=0)


def keep_middle(pen: ImageDraw.ImageDraw) -> None:
    """An inverted mask's kept part: an ellipse in the middle; everything else is edited."""
    pen.ellipse((330, 330, 700, 700), fill=255)


MASKS: dict[str, Image.Image] = {
    "stroke": _mask(stroke),
    "blob": _mask(blob),
    "rectangle": _mask(rectangle),
    "inverted": _mask(keep_middle, inverted=True),
}


def outlined(picture: Image.Image, mask: Image.Image) -> Image.Image:
    """``picture`` with the edit region's edge drawn in cyan."""
    region = mask.getchannel("A").point(lambda v: 255 if v == 0 else 0)
    edge = Image.fromarray(
        (
            (__import__("numpy").asarray(region.filter(ImageFilter.MaxFilter(7))) > 0)
            & (__import__("numpy").asarray(region.filter(ImageFilter.MinFilter(7))) == 0)
        ).astype("uint8")
        * 255
    )
    out = picture.convert("RGB").copy()
    out.paste((0, 255, 255), (0, 0), edge)
    return out


def sheet(base_prompt: str, cell: int = 320) -> Image.Image:
    """The grid for one base picture."""
    base = draw.generate_image(base_prompt, SIZE, SIZE)
    label_h = 28
    width = 110 + len(PROMPTS) * (2 * cell + 12)
    height = label_h + len(MASKS) * (cell + 12)
    out = Image.new("RGB", (width, height), (250, 250, 250))
    pen = ImageDraw.Draw(out)
    font = ImageFont.load_default(16)
    for column, prompt in enumerate(PROMPTS):
        pen.text((110 + column * (2 * cell + 12), 6), f"{prompt!r} on {base_prompt!r}", fill=(0, 0, 0), font=font)
    for row, (name, mask) in enumerate(MASKS.items()):
        y = label_h + row * (cell + 12)
        pen.text((8, y + cell // 2), name, fill=(0, 0, 0), font=font)
        source, guide = draw.fit_for_edit(base, mask, (SIZE, SIZE))
        for column, prompt in enumerate(PROMPTS):
            x = 110 + column * (2 * cell + 12)
            result = draw.edit_image(source, prompt, mask=guide)
            out.paste(outlined(source, mask).resize((cell, cell), Image.Resampling.LANCZOS), (x, y))
            out.paste(outlined(result, mask).resize((cell, cell), Image.Resampling.LANCZOS), (x + cell, y))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="edit_sheet.png", help="where to write the PNG (one per base picture)")
    parser.add_argument("--base", action="append", help="base prompt(s); default: two night scenes")
    args = parser.parse_args()
    stem = Path(args.out)
    for number, base_prompt in enumerate(args.base or BASES):
        path = stem.with_name(f"{stem.stem}-{number}{stem.suffix}")
        sheet(base_prompt).save(path)
        print(path)


if __name__ == "__main__":
    main()
