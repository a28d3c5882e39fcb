"""``dn.estimate``: the price of a call before it is sent, planned exactly as the call would be."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

import dalle_nb as dn
from dalle_nb.runtime.session import default_session


def received() -> int:
    """How many picture requests the session's offline server has received (its ``/health`` counts them)."""
    health = default_session().offline_server().base_url.removesuffix("/v1") + "/health"
    return int(httpx.get(health).json()["received"])


def test_an_estimate_sends_nothing_and_prices_what_the_call_would_send() -> None:
    dn.generate("warm up the server", size="1024x1024", quality="low", revise=False)
    before = received()
    one = dn.estimate(dn.generate, "a red fox", size="1024x1024", quality="low", revise=False)
    four = dn.estimate(dn.generate, "a red fox", n=4, size="1024x1024", quality="low", revise=False)
    assert received() == before, "pricing a call must not send it"
    assert (one.requests, one.pictures, four.pictures) == (1, 1, 4)
    assert one.low == one.high  # nothing left to the API: one number
    assert four.high == pytest.approx(4 * one.high)
    # gpt-image-2.5-sunburst, low 1024x1024: 196 image tokens out at $30/1M, 9 prompt tokens in at $5/1M
    assert one.high == pytest.approx((196 * 30.00 + 9 * 5.00) / 1e6)
    assert "what OpenAI would charge; offline pictures are free" in one.summary()


def test_a_prompt_first_is_generates_and_auto_quality_is_a_range() -> None:
    auto = dn.estimate("a red fox", size="1024x1024", revise=False)
    low = dn.estimate("a red fox", size="1024x1024", quality="low", revise=False)
    top = dn.estimate("a red fox", size="1024x1024", quality="max", revise=False)
    assert auto.low == pytest.approx(low.low) and auto.high == pytest.approx(top.high)
    assert "–" in auto.price and auto.low < auto.high


def test_an_edit_with_two_pictures_costs_more_than_with_one() -> None:
    photo = np.full((1024, 1024, 3), 120, np.uint8)
    one = dn.estimate(dn.edit, photo, "make it night", size="1024x1024", quality="low", revise=False)
    two = dn.estimate(dn.edit, [photo, photo], "make it night", size="1024x1024", quality="low", revise=False)
    # a 1024x1024 input is 1,024 image tokens at gpt-image-2.5-sunburst's $8/1M image-input rate
    assert two.high - one.high == pytest.approx(1024 * 8.00 / 1e6)


def test_an_estimate_refuses_what_the_call_refuses() -> None:
    with pytest.raises(dn.InvalidRequest, match="quality"):
        dn.estimate(dn.generate, "a fox", quality="ultra")
    with pytest.raises(TypeError, match="prompt"):
        dn.estimate(dn.generate)
    with pytest.raises(TypeError, match="generate, edit, vary, refine"):
        dn.estimate(print, "a fox")


def test_a_model_without_a_price_is_unknown_never_a_number() -> None:
    est = dn.estimate("a fox", model="gpt-image-2.6-sunburst", revise=False)
    assert est.low is None and est.high is None and not est.known
    assert "price unknown (no known price for gpt-image-2.6-sunburst" in est.summary()
    dn.configure(prices={"gpt-image-2.6-sunburst": {"text_in": 5, "image_in": 8, "image_out": 30}})
    mine = dn.estimate("a fox", model="gpt-image-2.6-sunburst", size="1024x1024", quality="low", revise=False)
    assert mine.known and "your prices" in mine.summary()


def test_pricing_a_call_leaves_its_one_time_notices_to_the_call() -> None:
    default_session()._notified.clear()  # as a new kernel: no notice said yet
    dn.estimate("a fox", model="dall-e-2")
    made = dn.generate("a fox", model="dall-e-2")
    assert any("retired" in notice for notice in made.notices), "the estimate must not use up the notice"
