"""What OpenAI charges, as data: one row per model, each with the day it was read and its public source.

A price is only as good as its source, and OpenAI changes them (GPT-5.6 Luna's fell fivefold on
2026-07-30), so every row says where it came from and when; README "Prices" lists them.  GPT
image models are billed by the token at up to five rates (text in, cached text in, image in,
cached image in, image out; ``gpt-image-1.5`` also bills text out); ``dall-e-2`` and ``dall-e-3``
by the picture, by size and quality; the text models that revise prompts by the token.  A
model with no row has no known price, and dalle_nb says "price unknown" rather than guess
(Helicone's "Cost Unsupported" for a new model was the honest answer; a wrong number is not).

A person overrides or extends the table for a gateway, Azure or a negotiated rate:
``configure(prices={"gpt-image-2": {"image_out": 25}})`` or ``[tool.dalle_nb.prices]``;
``overrides`` checks such a mapping and turns it into rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from .capabilities import MODELS

#: The rates a row may carry, USD per 1M tokens.
TOKEN_RATES = ("text_in", "cached_text_in", "image_in", "cached_image_in", "image_out", "text_out")
#: The day the rows below were checked against their sources.
READ = date(2026, 12, 7)
#: What the Batch API charges for GPT image models, as a share of the list price ("at 50% lower cost").
BATCH_SHARE = 0.5


@dataclass(frozen=True)
class Price:
    """One model's public rates: USD per 1M tokens, or per picture (``per_picture``: quality, size, USD)."""

    model: str
    source: str
    read: date = READ
    text_in: float | None = None
    cached_text_in: float | None = None
    image_in: float | None = None
    cached_image_in: float | None = None
    image_out: float | None = None
    text_out: float | None = None
    per_picture: tuple[tuple[str, str, float], ...] = ()
    #: The share of the price the Batch API charges (None: no batch price known).
    batch: float | None = None
    note: str = ""
    #: Set by a person (``configure(prices=...)``, ``[tool.dalle_nb.prices]``), not read from a public source.
    mine: bool = False

    @property
    def by_picture(self) -> bool:
        return bool(self.per_picture)

    def picture(self, quality: str | None, size: str | None) -> float | None:
        """The price of one picture of ``quality`` and ``size`` (None where the row has no such picture)."""
        for row_quality, row_size, usd in self.per_picture:
            if row_size == size and (quality is None or row_quality == quality):
                return usd
        return None

    def describe(self) -> str:
        """The rates in words, per 1M tokens or per picture, for tables and ``%dalle prices``."""
        if self.by_picture:
            return ", ".join(f"{q} {s} ${usd:.3f}" for q, s, usd in self.per_picture)
        names = {"text_in": "text in", "cached_text_in": "cached text in", "image_in": "image in",
                 "cached_image_in": "cached image in", "image_out": "image out", "text_out": "text out"}  # fmt: skip
        rates = [f"{names[r]} ${getattr(self, r):.2f}" for r in TOKEN_RATES if getattr(self, r) is not None]
        return ", ".join(rates) + " per 1M tokens"


_LANGFUSE = "OpenAI pricing page as quoted in langfuse/langfuse#14123"


def _image(model: str, source: str, **rates: Any) -> Price:
    return Price(model, source, batch=BATCH_SHARE, **rates)


def _text(model: str, text_in: float, cached: float, text_out: float, source: str, note: str = "") -> Price:
    return Price(model, source, text_in=text_in, cached_text_in=cached, text_out=text_out, batch=0.5, note=note)


PRICES: dict[str, Price] = {
    price.model: price
    for price in (
        _image(
            "gpt-image-1", f"{_LANGFUSE}; Helicone/helicone#5003",
            text_in=5.00, cached_text_in=1.25, image_in=10.00, cached_image_in=2.50, image_out=40.00,
            note="shut down on OpenAI 2026-10-23; priced for gateways that still serve it",
        ),
        _image(
            "gpt-image-1-mini", f"{_LANGFUSE}; pollinations/pollinations#4830",
            text_in=2.00, cached_text_in=0.20, image_in=2.50, cached_image_in=0.25, image_out=8.00,
        ),
        _image(
            "gpt-image-1.5", f"{_LANGFUSE}; BerriAI/litellm#18088",
            text_in=5.00, cached_text_in=1.25, image_in=8.00, cached_image_in=2.00, image_out=32.00, text_out=10.00,
        ),
        _image(
            "chatgpt-image-latest", f"{_LANGFUSE}; BerriAI/litellm#18088",
            text_in=5.00, cached_text_in=1.25, image_in=8.00, cached_image_in=2.00, image_out=32.00, text_out=10.00,
        ),
        _image(
            "gpt-image-2", f"{_LANGFUSE}; BerriAI/litellm#26866; theopenco/llmgateway#2059 (text out)",
            text_in=5.00, cached_text_in=1.25, image_in=8.00, cached_image_in=2.00, image_out=30.00, text_out=10.00,
        ),
        _image(
            "gpt-image-2.5-sunburst", "theopenco/llmgateway#3985; Comfy-Org/docs#1664",
            text_in=5.00, image_in=8.00, image_out=30.00, note="no cached rates published",
        ),
        _image(
            "gpt-image-2.5-flare", "theopenco/llmgateway#3985; Comfy-Org/docs#1664",
            text_in=5.00, image_in=8.00, image_out=30.00, note="no cached rates published",
        ),
        Price(
            "dall-e-3", "OpenAI pricing page (per image), as collected in shared/design/prices.md",
            per_picture=(
                ("standard", "1024x1024", 0.040), ("standard", "1024x1792", 0.080), ("standard", "1792x1024", 0.080),
                ("hd", "1024x1024", 0.080), ("hd", "1024x1792", 0.120), ("hd", "1792x1024", 0.120),
            ),
            note="retired on OpenAI 2026-05-12; priced for gateways that still serve it",
        ),
        Price(
            "dall-e-2", "OpenAI pricing page (per image), as collected in shared/design/prices.md",
            per_picture=(("standard", "256x256", 0.016), ("standard", "512x512", 0.018),
                         ("standard", "1024x1024", 0.020)),
            note="retired on OpenAI 2026-05-12; priced for gateways that still serve it",
        ),
        _text(
            "gpt-5.6-luna", 0.20, 0.02, 1.20,
            "OpenAI pricing after the 2026-07-30 cut, as quoted in dust-tt/dust#29798 and "
            "pollinations/pollinations#13168",
        ),
        _text(
            "gpt-5.6-terra", 2.00, 0.20, 12.00,
            "OpenAI pricing after the 2026-07-30 cut, as quoted in HeyPuter/puter#3580 and anomalyco/models.dev#3964",
        ),
        _text("gpt-5.6-sol", 5.00, 0.50, 30.00, "OpenAI pricing as quoted in pydantic/genai-prices#461"),
    )
}  # fmt: skip


def _snapshot_base(model: str) -> str | None:
    spec = MODELS.get(model)
    return spec.snapshot_of if spec is not None else None


def find(model: str, extra: tuple[Price, ...] = ()) -> Price | None:
    """The price of ``model``: a row of ``extra`` (what a person set) first, then the table; a dated
    snapshot (``gpt-image-2-2026-04-21``) costs what its model costs.  None: no known price."""
    for candidate in (model, _snapshot_base(model)):
        if candidate is None:
            continue
        for price in extra:
            if price.model == candidate:
                return price
        if candidate in PRICES:
            return PRICES[candidate]
    return None


def _rate(model: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"prices: {model}.{name} must be a number of US dollars of 0 or more, not {value!r}.")
    return float(value)


def _pictures(model: str, value: object) -> tuple[tuple[str, str, float], ...]:
    """``{"1024x1024": 0.02}`` or ``{"hd 1024x1024": 0.08}`` as per-picture rows."""
    if not isinstance(value, Mapping) or not value:
        raise ValueError(f'prices: {model}.per_picture must map sizes to dollars, e.g. {{"1024x1024": 0.04}}.')
    rows = []
    for key, usd in value.items():
        words = str(key).split()
        quality, size = (words[0], words[1]) if len(words) == 2 else ("standard", words[0] if words else "")
        rows.append((quality, size, _rate(model, "per_picture", usd)))
    return tuple(rows)


def overrides(value: object, source: str = "your prices") -> tuple[Price, ...]:
    """A person's prices (model -> {rate: USD per 1M tokens, per_picture, batch}) as rows, each merged over
    the table's row for that model; ``ValueError`` saying what to write when one is not understood."""
    if not isinstance(value, Mapping):
        raise ValueError('prices must map model ids to rates, e.g. {"gpt-image-2": {"image_out": 25}}.')
    known = (*TOKEN_RATES, "per_picture", "batch")
    rows: list[Price] = []
    for model, rates in value.items():
        if not isinstance(rates, Mapping):
            raise ValueError(f"prices: {model!r} must map rate names to dollars; rate names are {', '.join(known)}.")
        unknown = sorted(set(rates) - set(known))
        if unknown:
            raise ValueError(f"prices: {model}.{unknown[0]} is not a rate; rate names are {', '.join(known)}.")
        changes: dict[str, Any] = {}
        for name, amount in rates.items():
            if name == "per_picture":
                changes[name] = _pictures(str(model), amount)
            elif name == "batch":
                share = _rate(str(model), name, amount)
                if share > 1:
                    raise ValueError(f"prices: {model}.batch is the share of the price a batch pays, 0 to 1.")
                changes[name] = share
            else:
                changes[name] = _rate(str(model), name, amount)
        base = find(str(model)) or Price(str(model), source)
        if "per_picture" in changes:  # a per-picture price replaces token rates, and the other way round
            cleared: dict[str, Any] = dict.fromkeys(TOKEN_RATES)
            base = replace(base, **cleared)
        elif set(changes) & set(TOKEN_RATES):
            base = replace(base, per_picture=())
        rows.append(replace(base, model=str(model), source=source, read=date.today(), note="", mine=True, **changes))
    return tuple(rows)


def table(extra: tuple[Price, ...] = ()) -> list[Price]:
    """Every known price, a person's rows in place of the table's: what ``%dalle prices`` lists."""
    mine = {price.model: price for price in extra}
    return [mine.pop(model, price) for model, price in PRICES.items()] + list(mine.values())


__all__ = ["BATCH_SHARE", "PRICES", "READ", "TOKEN_RATES", "Price", "find", "overrides", "table"]
