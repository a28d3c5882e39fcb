"""What a request will cost before it is sent (``Estimate``) and what a picture cost after (``Cost``).

Both come from one place, so every face (the API, the magics, the Studio, background jobs)
shows the same numbers: ``estimate`` reads a planned job, nothing else, and sends nothing;
``bill`` reads the ``usage`` the API returned for a picture.  The rates are ``prices``'s, the
token counts before the request ``tokens``'s.  The mistakes of other price maps are avoided
on purpose: input-image tokens are priced at the image-input rate (LiteLLM #13847 left them
out), the Images API's output tokens, which come without a breakdown, are image tokens
(LiteLLM #31142 priced them as text), and the text model's tokens on the Responses path are a
usage block of their own, priced at that model's rates.

A price that cannot be known (a model with no row, a gateway's own model) is ``None`` with
the reason: never a number that only looks known.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import tokens
from .capabilities import STANDARD_SIZES, get_model, parse_size
from .formatting import esc
from .prices import Price, find
from .request import EditRequest, GenerateRequest, ResponsesRequest, VaryRequest

if TYPE_CHECKING:
    from .config import Settings
    from .plan import Job
    from .request import Request

MILLION = 1_000_000
#: Tokens the Responses API adds around a prompt for the image tool's definition (offline: the same).
TOOL_TOKENS = 40
#: The most tokens a revision adds to the prompt it rewrites: the high end of an estimate's revised prompt.
REVISION_TOKENS = 150


def usd(amount: float | None) -> str:
    """Dollars as a person reads them: ``$1.23``, ``$0.042``, ``$0.0042``; "price unknown" for None."""
    if amount is None:
        return "price unknown"
    if amount == 0:
        return "$0"
    if amount >= 1:
        return f"${amount:,.2f}"
    places = 3 if amount >= 0.01 else max(4, 1 - math.floor(math.log10(amount)))  # tiny: two significant digits
    text = f"{amount:.{places}f}".rstrip("0")
    return f"${text}{'0' * max(0, 2 - len(text.partition('.')[2]))}"


def basis(settings: Settings, price: Price | None = None) -> str:
    """Whose price a number is, in words: the offline backend's pictures are free, a gateway bills its own."""
    if price is not None and price.mine:
        return "your prices"
    if settings.backend == "offline":
        return "what OpenAI would charge; offline pictures are free"
    if settings.backend in ("azure", "compatible"):
        return "OpenAI's list price; your gateway may bill otherwise"
    return "OpenAI's list price"


# ------------------------------------------------------------------------------------------------ after: the bill
@dataclass(frozen=True)
class Cost:
    """What one picture cost, in US dollars, with its parts; ``usd`` None when it cannot be known (``reason``).

    ``basis`` says whose price it is: OpenAI's list price, what OpenAI would charge (offline,
    where pictures are free), or the person's own prices.
    """

    usd: float | None
    parts: tuple[tuple[str, float], ...] = ()
    reason: str = ""
    basis: str = ""

    @property
    def known(self) -> bool:
        return self.usd is not None

    def __str__(self) -> str:
        return usd(self.usd) if self.usd is not None else f"price unknown ({self.reason})"

    def said(self) -> str:
        """The amount and whose price it is, for a summary line: ``$0.034 (OpenAI's list price)``, or
        ``price unknown (why)``."""
        if self.usd is None:
            return str(self)
        return f"{usd(self.usd)} ({self.basis})" if self.basis else usd(self.usd)

    def breakdown(self) -> str:
        """``$0.0132 (image out $0.0130, text in $0.0002)`` or ``price unknown (why)``."""
        if self.usd is None or not self.parts:
            return str(self)
        return f"{usd(self.usd)} ({', '.join(f'{name} {usd(part)}' for name, part in self.parts)})"

    def to_json(self) -> str:
        return json.dumps({"usd": self.usd, "parts": self.parts, "reason": self.reason, "basis": self.basis})

    @classmethod
    def from_json(cls, text: str | None) -> Cost | None:
        if not text:
            return None
        data = json.loads(text)
        parts = tuple((str(name), float(part)) for name, part in data.get("parts") or ())
        return cls(data.get("usd"), parts, data.get("reason", ""), data.get("basis", ""))


def unknown(reason: str) -> Cost:
    return Cost(None, reason=reason)


def _priced(parts: list[tuple[str, float]], basis_text: str, share: float = 1.0) -> Cost:
    kept = tuple((name, amount * share) for name, amount in parts if amount)
    return Cost(sum(amount for _, amount in kept), kept, basis=basis_text)


def _no_price(model: str) -> str:
    return f"no known price for {model}; set one with configure(prices=...)"


def _image_tokens_cost(price: Price, usage: Mapping[str, Any]) -> tuple[list[tuple[str, float]], str | None]:
    """The parts of an image model's usage, each at its own rate; a problem when a rate is missing."""
    details = usage.get("input_tokens_details") or {}
    total_in = int(usage.get("input_tokens") or 0)
    image_in = int(details.get("image_tokens") or 0)
    text_in = int(details.get("text_tokens", total_in - image_in) or 0)
    out = int(usage.get("output_tokens") or 0)
    out_details = usage.get("output_tokens_details") or {}
    # the Images API gives output tokens with no breakdown: an image model's output is image tokens
    text_out = int(out_details.get("text_tokens") or 0)
    image_out = int(out_details.get("image_tokens", out - text_out) or 0)
    wanted = {"text_in": text_in, "image_in": image_in, "image_out": image_out, "text_out": text_out}
    parts = []
    for rate, count in wanted.items():
        if not count:
            continue
        per_million = getattr(price, rate)
        if per_million is None:
            return [], f"{price.model} has no '{rate.replace('_', ' ')}' rate"
        parts.append((rate.replace("_", " "), count * per_million / MILLION))
    return parts, None


def _text_model_cost(model: str, usage: Mapping[str, Any], extra: tuple[Price, ...]) -> tuple[float, str | None]:
    price = find(model, extra)
    if price is None or price.text_in is None or price.text_out is None:
        return 0.0, _no_price(model)
    details = usage.get("input_tokens_details") or {}
    cached = int(details.get("cached_tokens") or 0)
    fresh = int(usage.get("input_tokens") or 0) - cached
    cached_rate = price.cached_text_in if price.cached_text_in is not None else price.text_in
    amount = fresh * price.text_in + cached * cached_rate + int(usage.get("output_tokens") or 0) * price.text_out
    return amount / MILLION, None


def bill(
    request: Request | Mapping[str, Any], usage: Mapping[str, Any] | None, settings: Settings, *,
    share: float = 1.0, batch: bool = False, size: str | None = None,
) -> Cost:  # fmt: skip
    """What one picture of ``request`` cost, from the ``usage`` its answer carried.

    ``request``: the request, or the body a batch line asked (its ``model``, ``quality``, ``size``).
    ``share``: the part of ``usage`` that is this picture's (an Images API answer's usage counts
    all ``n`` pictures of the call).  ``batch``: made by the Batch API, at its discount.
    ``size``: the picture's own size (a per-picture price needs it).
    """
    if isinstance(request, Mapping):
        model, quality, asked = str(request.get("model") or ""), request.get("quality"), request.get("size")
    else:
        image = request.image if isinstance(request, ResponsesRequest) else request
        model, quality, asked = request.model, getattr(image, "quality", None), image.size
    price = find(model, settings.prices)
    if price is None:
        return unknown(_no_price(model))
    where = basis(settings, price)
    discount = 1.0
    if batch:
        if price.batch is None:
            return unknown(f"no known batch price for {model}")
        discount = price.batch
    if price.by_picture:
        quality = quality or "standard"
        amount = price.picture(quality, size or asked)
        if amount is None:
            return unknown(f"no known price for a {quality} {size or asked} picture of {model}")
        return _priced([("picture", amount)], where, discount)
    if not usage:
        return unknown(f"the answer carried no token usage for {model}")
    parts, problem = _image_tokens_cost(price, usage)
    if problem is not None:
        return unknown(problem)
    cost = _priced(parts, where, share * discount)
    text_usage = usage.get("text_model")
    if isinstance(request, ResponsesRequest) and isinstance(text_usage, Mapping):
        amount, problem = _text_model_cost(request.text_model, text_usage, settings.prices)
        if problem is not None:
            return Cost(None, cost.parts, problem, where)
        revision = ("revision", amount * discount)
        return Cost((cost.usd or 0) + revision[1], (*cost.parts, revision), basis=where)
    return cost


def total(costs: Iterable[Cost | None]) -> Cost:
    """The sum of ``costs``; unknown when one of them is (its reason), so a total never looks complete
    when it is not.  An empty sum is $0."""
    amount, reasons = 0.0, []
    where = ""
    for cost in costs:
        if cost is None or cost.usd is None:
            reasons.append(cost.reason if cost is not None else "a picture has no recorded cost")
            continue
        amount += cost.usd
        where = where or cost.basis
    if reasons:
        return Cost(None, reason=reasons[0] if len(set(reasons)) == 1 else f"{len(reasons)} pictures unpriced")
    return Cost(amount, basis=where)


# ------------------------------------------------------------------------------------------------ what was spent
@dataclass(frozen=True)
class SpendingRow:
    """One day, model or session of ``dn.spent()``: its pictures, what the priced ones cost, how many are unpriced."""

    key: str
    pictures: int
    usd: float
    unpriced: int = 0

    @property
    def amount(self) -> str:
        """``$1.23``, with ``+ 2 unpriced`` when some pictures have no known cost."""
        return usd(self.usd) + (f" + {self.unpriced} unpriced" if self.unpriced else "")


@dataclass(frozen=True)
class Spending:
    """What the gallery's pictures cost, summed ``by`` day, model or session (``dn.spent()``)."""

    by: str
    rows: tuple[SpendingRow, ...]
    since: str | None = None

    @property
    def pictures(self) -> int:
        return sum(row.pictures for row in self.rows)

    @property
    def unpriced(self) -> int:
        return sum(row.unpriced for row in self.rows)

    @property
    def usd(self) -> float:
        """What the priced pictures cost together (the unpriced ones are not in it: see ``unpriced``)."""
        return sum(row.usd for row in self.rows)

    @property
    def total(self) -> Cost:
        """The whole as a ``Cost``: unknown (saying how many) when a picture's cost is, as ``total`` is."""
        if self.unpriced:
            noun = "picture" if self.unpriced == 1 else "pictures"
            return Cost(None, reason=f"{self.unpriced} {noun} unpriced; the priced ones cost {usd(self.usd)}")
        return Cost(self.usd)

    def _title(self) -> str:
        since = f" since {self.since}" if self.since else ""
        pictures = f"{self.pictures} picture{'s' if self.pictures != 1 else ''}"
        amount = SpendingRow("", self.pictures, self.usd, self.unpriced).amount
        return f"spent{since}, by {self.by}: {pictures}, {amount}"

    def __str__(self) -> str:
        lines = [self._title()]
        width = max((len(row.key) for row in self.rows), default=0)
        for row in self.rows:
            noun = "pictures" if row.pictures != 1 else "picture "
            lines.append(f"  {row.key:<{width}}  {row.pictures:>6} {noun}  {row.amount}")
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        head = f"<tr><th style='text-align:left'>{esc(self.by)}</th><th>pictures</th><th>cost</th></tr>"
        body = "".join(
            f"<tr><td style='text-align:left'>{esc(row.key)}</td><td>{row.pictures}</td><td>{esc(row.amount)}</td></tr>"
            for row in self.rows
        )
        return f"<table class='dalle-nb-spent'><caption>{esc(self._title())}</caption>{head}{body}</table>"


def spending(
    rows: Iterable[tuple[str, str | None]], by: str, since: str | None = None, order: str = "first"
) -> Spending:
    """``(key, cost as JSON)`` pairs, one a picture, summed by key in the order keys first appear
    (``order="cost"``: the costliest first)."""
    sums: dict[str, list[float]] = {}
    for key, cost_json in rows:
        entry = sums.setdefault(key, [0, 0.0, 0])
        entry[0] += 1
        cost = Cost.from_json(cost_json)
        if cost is None or cost.usd is None:
            entry[2] += 1
        else:
            entry[1] += cost.usd
    found = [SpendingRow(key, int(n), amount, int(unpriced)) for key, (n, amount, unpriced) in sums.items()]
    if order == "cost":
        found.sort(key=lambda row: -row.usd)
    return Spending(by, tuple(found), since)


# ------------------------------------------------------------------------------------------------ before: the estimate
@dataclass(frozen=True)
class Estimate:
    """What a planned call would cost, before anything is sent: ``low`` to ``high`` US dollars.

    The two differ where the API leaves room (``quality="auto"``, ``size="auto"``, how long a
    revised prompt will be); ``low`` and ``high`` are None when the price cannot be known
    (``reason``).  ``published`` is False when a token count OpenAI has not published went into
    it.  ``requests`` counts the HTTP requests, ``pictures`` the pictures.
    """

    low: float | None
    high: float | None
    requests: int = 0
    pictures: int = 0
    models: tuple[str, ...] = ()
    sizes: tuple[str, ...] = ()
    basis: str = ""
    reason: str = ""
    published: bool = True
    batch: bool = False

    @property
    def known(self) -> bool:
        return self.high is not None

    @property
    def price(self) -> str:
        """``$0.042``, ``$0.0061–$0.21`` or ``price unknown``."""
        if self.low is None or self.high is None:
            return "price unknown"
        if usd(self.low) == usd(self.high):
            return usd(self.high)
        return f"{usd(self.low)}–{usd(self.high)}"

    def __str__(self) -> str:
        return self.price if self.known else f"price unknown ({self.reason})"

    def summary(self) -> str:
        """One line: what would be sent and its price, e.g. for ``%%dalle --dry-run`` and the Studio."""
        requests = f"{self.requests} request{'s' if self.requests != 1 else ''}"
        pictures = f"{self.pictures} picture{'s' if self.pictures != 1 else ''}"
        what = f"{requests} · {pictures} · {', '.join(self.models)}"
        if self.sizes:
            what += f" · {', '.join(self.sizes)}"
        if self.batch:
            what += " · Batch API"
        if not self.known:
            return f"{what} · price unknown ({self.reason})"
        approx = "" if self.published else " (estimated token counts)"
        return f"{what} · {self.price}{approx} · {self.basis}"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(f"<dalle_nb estimate: {self.summary()}>")


@dataclass
class _Sum:
    low: float = 0.0
    high: float = 0.0
    published: bool = True
    reason: str = ""

    def add(self, low: float, high: float, published: bool = True) -> None:
        self.low += low
        self.high += high
        self.published = self.published and published


def _sizes(request: GenerateRequest | EditRequest) -> list[tuple[int, int]]:
    """The sizes the picture may have: its own, or for ``auto`` / unset the model's standard ones."""
    if request.size and request.size != "auto":
        return [parse_size(request.size)]
    return [parse_size(size) for size in STANDARD_SIZES]


def _qualities(request: GenerateRequest | EditRequest) -> list[str]:
    quality = request.quality or "auto"
    return list(tokens.qualities(request.model)) if quality == "auto" else [quality]


@functools.lru_cache(maxsize=256)
def _output_range(model: str, size: str | None, quality: str | None) -> tuple[int, int, bool]:
    """The fewest and most image tokens one picture may cost, and whether every count is published: the same
    for every prompt, so a background job's 10,000 lines count them once."""
    asked = GenerateRequest(model=model, size=size, quality=quality)
    counts = [tokens.output_tokens(model, w, h, q) for w, h in _sizes(asked) for q in _qualities(asked)]
    return min(c.tokens for c in counts), max(c.tokens for c in counts), all(c.published for c in counts)


def _image_request(
    request: GenerateRequest | EditRequest, price: Price, pictures: int, into: _Sum, *, revised: bool
) -> None:
    """Add what ``pictures`` pictures of ``request`` cost on a token-billed GPT image model to ``into``."""
    low_out, high_out, published = _output_range(request.model, request.size, request.quality)
    text = tokens.text_tokens(request.prompt)
    text_high = text + REVISION_TOKENS if revised else text
    image_in = 0
    if isinstance(request, EditRequest):
        for picture in request.images:
            count = tokens.input_image_tokens(picture.width, picture.height, request.input_fidelity)
            image_in += count.tokens
            published = published and count.published
    rates = {name: getattr(price, name) for name in ("text_in", "image_in", "image_out")}
    missing = [name for name, rate in rates.items() if rate is None and (name != "image_in" or image_in)]
    if missing:
        into.reason = into.reason or f"{price.model} has no '{missing[0].replace('_', ' ')}' rate"
        return
    fixed = image_in * (rates["image_in"] or 0)
    low = (text * (rates["text_in"] or 0) + fixed + low_out * (rates["image_out"] or 0)) / MILLION
    high = (text_high * (rates["text_in"] or 0) + fixed + high_out * (rates["image_out"] or 0)) / MILLION
    into.add(low * pictures, high * pictures, published)


def _revision(request: ResponsesRequest, pictures: int, into: _Sum, extra: tuple[Price, ...]) -> None:
    """Add the text model's part: it reads the prompt (and the pictures) and writes the revised prompt."""
    price = find(request.text_model, extra)
    if price is None or price.text_in is None or price.text_out is None:
        into.reason = into.reason or _no_price(request.text_model)
        return
    image = request.image
    seen = tokens.text_tokens(image.prompt) + TOOL_TOKENS
    if isinstance(image, EditRequest):
        seen += sum(tokens.input_image_tokens(p.width, p.height).tokens for p in image.images)
    written = tokens.text_tokens(image.prompt)
    low = (seen * price.text_in + written * price.text_out) / MILLION
    high = (seen * price.text_in + (written + REVISION_TOKENS) * price.text_out) / MILLION
    into.add(low * pictures, high * pictures)


def _one(request: Request, settings: Settings, into: _Sum) -> tuple[str, ...]:
    """Add ``request`` (all its pictures) to ``into``; return the sizes it may have, for the summary."""
    model = request.model
    price = find(model, settings.prices)
    image = request.image if isinstance(request, ResponsesRequest) else request
    shown = (image.size,) if image.size else ("auto",) if get_model(model).is_gpt else ()
    if price is None:
        into.reason = into.reason or _no_price(model)
        return shown
    if price.by_picture:
        spec = get_model(model)
        endpoint = image.endpoint
        size = image.size or (spec.sizes.get(endpoint) or ("1024x1024",))[-1]
        quality = getattr(image, "quality", None) or "standard"
        amount = price.picture(quality, size)
        if amount is None:
            into.reason = into.reason or f"no known price for a {quality} {size} picture of {model}"
        else:
            into.add(amount * request.n, amount * request.n)
        return (size,)
    if isinstance(image, VaryRequest):
        into.reason = into.reason or f"no known price for variations of {model}"
        return shown
    _image_request(image, price, request.n, into, revised=isinstance(request, ResponsesRequest))
    if isinstance(request, ResponsesRequest):
        if request.previous_response_id:  # the earlier picture travels with the turn, as image input
            earlier = request.fallback.image if request.fallback is not None else None
            if isinstance(earlier, EditRequest) and earlier.images:  # the picture itself: its own size
                width, height = earlier.images[0].width, earlier.images[0].height
            elif image.size and image.size != "auto":
                width, height = parse_size(image.size)
            else:
                width, height = tokens.DEFAULT_SIZE
            carried = tokens.input_image_tokens(width, height).tokens * (price.image_in or 0) / MILLION
            into.add(carried * request.n, carried * request.n)
        _revision(request, request.n, into, settings.prices)
    return shown


def _calls(request: Request) -> int:
    """How many HTTP requests ``request`` becomes: ``n`` over what one call may ask for."""
    per_call = max(1, request.per_call)
    return -(-request.n // per_call)


class Tally:
    """An ``Estimate`` added up one request at a time: what ``estimate_requests`` does for a list, and what a
    background job's lines use, which are planned one by one and never held in a list."""

    def __init__(self, settings: Settings, *, batch: bool = False) -> None:
        self.settings = settings
        self.batch = batch
        self._into = _Sum()
        self._sizes: list[str] = []
        self._models: list[str] = []
        self._share: float | None = 1.0
        self._pictures = 0
        self._calls = 0

    def add(self, request: Request, calls: int | None = None) -> None:
        """Add ``request`` (all its pictures); ``calls``: the HTTP requests (or batch lines) it becomes, when
        the caller knows them better than the model's ``n`` per call."""
        for size in _one(request, self.settings, self._into):
            if size not in self._sizes:
                self._sizes.append(size)
        if request.model not in self._models:
            self._models.append(request.model)
        if self.batch:
            price = find(request.model, self.settings.prices)
            share = self._share
            self._share = None if price is None or price.batch is None or share is None else min(share, price.batch)
        self._pictures += request.n
        self._calls += _calls(request) if calls is None else calls

    def result(self) -> Estimate:
        into, batch, models, sizes = self._into, self.batch, tuple(self._models), tuple(self._sizes)
        where = basis(self.settings, find(models[0], self.settings.prices) if models else None)
        reason = into.reason or ("no known batch price" if batch and self._share is None else "")
        if reason:
            return Estimate(None, None, self._calls, self._pictures, models, sizes, where, reason, batch=batch)
        factor = self._share if batch and self._share is not None else 1.0
        return Estimate(
            into.low * factor, into.high * factor, self._calls, self._pictures, models, sizes, where,
            published=into.published, batch=batch,
        )  # fmt: skip


def estimate_requests(requests: Sequence[Request], settings: Settings, *, batch: bool = False) -> Estimate:
    """The ``Estimate`` of sending ``requests`` with ``settings`` (its prices and backend); ``batch``: through
    the Batch API, at its discount."""
    tally = Tally(settings, batch=batch)
    for request in requests:
        tally.add(request)
    return tally.result()


def estimate(job: Job, *, batch: bool = False) -> Estimate:
    """The ``Estimate`` of a planned job: what ``generate``/``edit``/``vary``/``refine``/``submit`` would send."""
    return estimate_requests(job.requests, job.settings, batch=batch)


__all__ = [
    "Cost",
    "Estimate",
    "Spending",
    "SpendingRow",
    "Tally",
    "spending",
    "basis",
    "bill",
    "estimate",
    "estimate_requests",
    "total",
    "unknown",
    "usd",
]
