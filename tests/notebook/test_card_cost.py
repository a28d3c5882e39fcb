"""The picture card says what the picture cost: the amount, its parts and whose price in a tooltip, and the same
in plain text; "price unknown" (with the reason) where it is not known."""

from __future__ import annotations

import html
import re

import dalle_nb as dn
from dalle_nb.core.costs import Cost, usd


def cost_div(bundle: dict[str, str]) -> tuple[str, str]:
    """The card's cost line: its tooltip and its text, as a person reads them."""
    found = re.search(r"<div class='dalle-nb-cost'[^>]*title='([^']*)'>([^<]*)</div>", bundle["text/html"])
    assert found is not None, bundle["text/html"]
    return html.unescape(found.group(1)), html.unescape(found.group(2))


def test_a_card_shows_the_pictures_cost_with_its_parts_in_the_tooltip() -> None:
    image = dn.generate("a small red boat", size="1024x1024", quality="low")[0]
    assert image.cost is not None and image.cost.usd is not None
    title, shown = cost_div(image._repr_mimebundle_())
    assert shown == usd(image.cost.usd)
    assert title.startswith(image.cost.breakdown()) and "image out $" in title
    assert title.endswith("what OpenAI would charge; offline pictures are free")
    plain = image._repr_mimebundle_()["text/plain"]
    assert f"  cost:    {image.cost.breakdown()} · what OpenAI would charge" in plain
    # a set's cards and text say each picture's cost too
    bundle = dn.ImageSet([image, image])._repr_mimebundle_()
    assert bundle["text/html"].count("class='dalle-nb-cost'") == 2 and bundle["text/plain"].count("cost:") == 2


def test_a_card_says_price_unknown_with_the_reason() -> None:
    image = dn.generate("a small red boat", size="1024x1024", quality="low")[0]
    image.cost = Cost(None, reason="no known price for my-model; set one with configure(prices=...)")
    title, shown = cost_div(image._repr_mimebundle_())
    assert shown == "price unknown" and title.startswith("no known price for my-model")
    assert "cost:    price unknown (no known price for my-model" in image._repr_mimebundle_()["text/plain"]
    image.cost = None  # as a picture read from a gallery kept before costs were
    title, shown = cost_div(image._repr_mimebundle_())
    assert shown == "price unknown" and title == "no cost was recorded for this picture"
