"""What dalle_nb adds to one picture, next to the raw ``openai`` SDK call it wraps.

``dalle_nb.generate(prompt, size="1024x1024")`` against
``client.images.generate(model=DEFAULT_MODEL, prompt=..., size="1024x1024")``, both on the same
offline server with 0.25 s of latency per request (a real request takes seconds, so this is a
strict setting).  dalle_nb's time includes everything the user gets before the call returns:
validation, its private event loop, decoding the picture and saving it to the gallery
(atomic write with fsync, then an SQLite row).  The raw call stops at the parsed JSON response.

The same comparison is made for the Responses API path (``revise=True``: a text model revises the
prompt and calls the image tool): ``dalle_nb.generate(prompt, revise=True)`` against the raw
``client.responses.create(model=..., input=prompt, tools=[{"type": "image_generation", ...}],
tool_choice={"type": "image_generation"})``.

Goal: dalle_nb/raw <= 1.02x, or at most 20 ms per image -- a notebook user should not be able to
tell the two apart.  Both take the same prompt within a round and a new one each round.
"""

from __future__ import annotations

import sys

from _harness import interleaved, median, offline_setup, spread, table, verdict

import dalle_nb
from dalle_nb.core.capabilities import DEFAULT_MODEL
from dalle_nb.core.config import DEFAULT_TEXT_MODEL

LATENCY = 0.25
REPEATS = 20
SIZE = "1024x1024"
GOAL_RATIO = 1.02
GOAL_MS = 20.0


def prompt(round_: int) -> str:
    return f"a red fox in a green forest, study {round_ + 2}"


def compare(name: str, ours: list[float], base: list[float], baseline: str) -> bool:
    """Print one comparison; True when the goal is met."""
    # Each round asks both the same prompt, back to back: the per-round difference cancels the
    # server's drawing time and the machine's drift, which a difference of medians does not.
    paired = median([a - b for a, b in zip(ours, base, strict=True)])
    overhead_ms = paired * 1000
    ratio = (median(base) + paired) / median(base)
    print(
        table(
            ["call", "median s", "min-max ms", "vs raw"],
            [
                [f"{baseline} (baseline)", f"{median(base):.4f}", spread(base), "1.00x"],
                [f"{name} (incl. save)", f"{median(ours):.4f}", spread(ours), f"{ratio:.3f}x"],
            ],
        )
    )
    print(f"(info) difference of medians: {(median(ours) - median(base)) * 1000:+.1f} ms")
    met = ratio <= GOAL_RATIO or overhead_ms <= GOAL_MS
    print(
        f"overhead {name}: median per-round difference {overhead_ms:+.1f} ms/image, {ratio:.3f}x "
        f"(goal <= {GOAL_RATIO:.2f}x or <= {GOAL_MS:.0f} ms) {verdict(met)}"
    )
    print()
    return met


def main() -> None:
    tool = {"type": "image_generation", "model": DEFAULT_MODEL, "size": SIZE}
    with offline_setup(latency=LATENCY) as (_server, raw):
        times = interleaved(
            {
                "images": lambda r: dalle_nb.generate(prompt(r), size=SIZE, revise=False),
                "raw images": lambda r: raw.images.generate(model=DEFAULT_MODEL, prompt=prompt(r), size=SIZE),
                "responses": lambda r: dalle_nb.generate(prompt(r), size=SIZE, revise=True),
                "raw responses": lambda r: raw.responses.create(
                    model=DEFAULT_TEXT_MODEL,
                    input=prompt(r),
                    tools=[tool],  # type: ignore[list-item]
                    tool_choice={"type": "image_generation"},
                ),
            },
            REPEATS,
        )
    print(f"One {SIZE} picture from {DEFAULT_MODEL}, offline server latency {LATENCY} s, {REPEATS} paired rounds")
    print()
    compare("dalle_nb.generate", times["images"], times["raw images"], "raw SDK images.generate")
    compare("dalle_nb.generate(revise=True)", times["responses"], times["raw responses"], "raw SDK responses.create")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
