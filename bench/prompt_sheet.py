"""A contact sheet of the offline painter: 40 prompts a teacher would use, each picture beside its revised prompt.

Run ``python bench/prompt_sheet.py [out.png]`` and look at the sheet at full size: every picture should show what
its revised prompt says (subjects, counts, places, setting, light, style, viewpoint) and nothing else, no stray
shapes.  ``tests/offline/test_scene_truth.py`` checks the same 40 prompts by the scene's own account of what it drew.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from dalle_nb.offline.painter import draw, revised, scene

#: Prompts a teacher would use: animals, food, places, people at work, vehicles, weather, maps, diagrams, art
#: styles, counts and viewpoints.
PROMPTS = (
    "a red fox in the snow",
    "three cats sitting on a sofa in a cosy living room",
    "an owl flying over a forest at night",
    "a whale swimming in the ocean",
    "a bowl of ramen",
    "a cup of coffee on a table",
    "a basket of apples",
    "two pizzas in a kitchen",
    "a lighthouse on a cliff at sunset",
    "a castle on a hill",
    "a desert with two camels",
    "a city street in the rain",
    "a teacher in a classroom",
    "a chef cooking in a kitchen",
    "an astronaut in space",
    "a warrior holding a sword",
    "a doctor and a nurse",
    "a farmer with a tractor on a farm",
    "two children playing football in a park",
    "a portrait of a woman",
    "three sailboats on the sea",
    "a red bus in the city",
    "a train crossing a bridge",
    "a rocket flying to the moon",
    "a snowman in a snowstorm",
    "a rainbow over a meadow",
    "a foggy morning in the mountains",
    "a map of an island",
    "a globe on a desk",
    "a volcano erupting",
    "a house made of candy",
    "a cat shaped like a cloud",
    "a dragon in pixel art",
    "a sunflower as a watercolor",
    "a horse as a pencil sketch",
    "seven ducks in a pond",
    "twelve apples",
    "top-down view of a farm with four cows",
    "a close-up of a butterfly",
    "aerial view of a beach with two boats",
)

_CELL = 256
_TEXT_W = 360


def sheet(prompts: tuple[str, ...] = PROMPTS, *, columns: int = 2) -> Image.Image:
    """A grid: each prompt's picture (256 px) with the prompt and its revised prompt beside it."""
    font = ImageFont.load_default(14)
    rows = (len(prompts) + columns - 1) // columns
    cell_w = _CELL + _TEXT_W
    out = Image.new("RGB", (columns * cell_w, rows * _CELL), "white")
    pen = ImageDraw.Draw(out)
    for n, prompt in enumerate(prompts):
        x, y = (n % columns) * cell_w, (n // columns) * _CELL
        view = scene.compose(prompt, _CELL, _CELL)
        out.paste(draw.render(view).convert("RGB"), (x, y))
        words = revised.describe(scene.compose(prompt, 1024, 1024))
        lines = [f"{n + 1}. {prompt}", ""] + textwrap.wrap(words, 44)
        pen.multiline_text((x + _CELL + 8, y + 6), "\n".join(lines), fill="black", font=font, spacing=3)
        pen.rectangle((x, y, x + cell_w - 1, y + _CELL - 1), outline=(200, 200, 200))
    return out


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "prompt_sheet.png")
    sheet().save(path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
