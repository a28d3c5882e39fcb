"""Prices and bills as a person reads them: every price row says where it came from, a bill adds up the usage
the API returned at the right rates, and an unknown price is said, never a number that only looks known."""

from __future__ import annotations

import datetime as dt

import pytest

from dalle_nb.core.config import Settings
from dalle_nb.core.costs import Cost, bill, estimate_requests, spending, total, usd
from dalle_nb.core.prices import PRICES, find, overrides
from dalle_nb.core.request import GenerateRequest, ResponsesRequest

OPENAI = Settings(model="gpt-image-2")
ASKED = GenerateRequest(model="gpt-image-2", prompt="a red fox", size="1024x1024", quality="low")
#: What the Images API returns: output tokens with no breakdown.
IMAGES_USAGE = {
    "input_tokens": 50, "input_tokens_details": {"text_tokens": 50, "image_tokens": 0},
    "output_tokens": 272, "total_tokens": 322,
}  # fmt: skip


def test_every_price_row_says_where_it_came_from_and_when() -> None:
    for model, price in PRICES.items():
        assert price.model == model
        assert price.source.strip(), f"{model} has no source"
        assert isinstance(price.read, dt.date) and price.read <= dt.date.today()


def test_a_dated_snapshot_costs_what_its_model_costs() -> None:
    assert find("gpt-image-2-2026-04-21") == find("gpt-image-2") is not None
    assert find("gpt-image-2.6-sunburst") is None


def test_overrides_merge_over_the_table_and_refuse_a_misspelt_rate_in_one_line() -> None:
    (mine,) = overrides({"gpt-image-2": {"image_out": 25}})
    table = PRICES["gpt-image-2"]
    assert mine.image_out == 25 and mine.text_in == table.text_in and mine.mine
    assert find("gpt-image-2", (mine,)) is mine
    with pytest.raises(ValueError) as err:
        overrides({"gpt-image-2": {"imge_out": 25}})
    said = str(err.value)
    assert "\n" not in said and "imge_out is not a rate" in said and "image_out" in said


def test_dollars_read_as_a_person_writes_them() -> None:
    assert usd(None) == "price unknown"
    assert usd(0) == "$0"
    assert usd(1234.5) == "$1,234.50"
    assert usd(0.5) == "$0.50"
    assert usd(0.042) == "$0.042"
    assert usd(0.00612) == "$0.0061"


def test_the_images_apis_output_tokens_are_image_tokens() -> None:
    """LiteLLM #31142 priced them as text: an image model's output without a breakdown is image tokens."""
    cost = bill(ASKED, IMAGES_USAGE, OPENAI)
    assert cost.usd == pytest.approx((50 * 5.00 + 272 * 30.00) / 1e6)
    assert dict(cost.parts) == pytest.approx({"text in": 50 * 5.00 / 1e6, "image out": 272 * 30.00 / 1e6})
    assert cost.basis == "OpenAI's list price"


def test_a_breakdown_of_output_tokens_bills_each_at_its_rate() -> None:
    usage = {**IMAGES_USAGE, "output_tokens_details": {"image_tokens": 200, "text_tokens": 72}}
    cost = bill(ASKED, usage, OPENAI)
    assert dict(cost.parts)["image out"] == pytest.approx(200 * 30.00 / 1e6)
    assert dict(cost.parts)["text out"] == pytest.approx(72 * 10.00 / 1e6)
    assert cost.usd == pytest.approx((50 * 5 + 200 * 30 + 72 * 10) / 1e6)


def test_a_share_and_a_batch_scale_the_bill() -> None:
    whole = bill(ASKED, IMAGES_USAGE, OPENAI).usd
    assert whole is not None
    assert bill(ASKED, IMAGES_USAGE, OPENAI, share=0.5).usd == pytest.approx(whole / 2)
    assert bill(ASKED, IMAGES_USAGE, OPENAI, batch=True).usd == pytest.approx(whole / 2)
    # a batch line's asked body bills as its request does
    assert bill(ASKED.params(), IMAGES_USAGE, OPENAI, batch=True).usd == pytest.approx(whole / 2)


def test_a_responses_bill_adds_the_revision() -> None:
    request = ResponsesRequest(ASKED, text_model="gpt-5.6-luna")
    usage = {**IMAGES_USAGE, "text_model": {"input_tokens": 100, "output_tokens": 40}}
    cost = bill(request, usage, OPENAI)
    parts = dict(cost.parts)
    assert parts["revision"] == pytest.approx((100 * 0.20 + 40 * 1.20) / 1e6)
    assert cost.usd == pytest.approx(bill(ASKED, IMAGES_USAGE, OPENAI).usd + parts["revision"])  # type: ignore[operator]


def test_a_model_without_a_price_costs_price_unknown_never_a_number() -> None:
    asked = GenerateRequest(model="gpt-image-2.6-sunburst", prompt="a fox", size="1024x1024")
    gateway = Settings(model="gpt-image-2.6-sunburst", base_url="http://127.0.0.1:9/v1")
    cost = bill(asked, IMAGES_USAGE, gateway)
    assert cost.usd is None and str(cost).startswith("price unknown (") and "configure(prices=" in cost.reason
    before = estimate_requests([asked], gateway)
    assert before.low is None and before.high is None and "price unknown" in before.summary()
    assert "$" not in before.summary()


def test_a_total_with_an_unknown_part_is_unknown() -> None:
    known = bill(ASKED, IMAGES_USAGE, OPENAI)
    assert total([known, known]).usd == pytest.approx(2 * known.usd)  # type: ignore[operator]
    both = total([known, Cost(None, reason="no known price for x")])
    assert both.usd is None and str(both) == "price unknown (no known price for x)"
    assert total([]).usd == 0


def test_spending_sums_by_key_and_counts_the_unpriced() -> None:
    a, b = Cost(0.5).to_json(), Cost(0.25).to_json()
    found = spending([("2026-12-01", a), ("2026-12-02", b), ("2026-12-01", None), ("2026-12-01", a)], "day")
    assert [(r.key, r.pictures, r.usd, r.unpriced) for r in found.rows] == [
        ("2026-12-01", 3, 1.0, 1), ("2026-12-02", 1, 0.25, 0),
    ]  # fmt: skip
    assert found.total.usd is None and "1 picture unpriced" in found.total.reason and "$1.25" in found.total.reason
    assert "2026-12-01" in str(found) and "$1.00 + 1 unpriced" in str(found)
    assert "<table" in found._repr_html_() and "$0.25" in found._repr_html_()
