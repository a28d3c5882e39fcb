"""A budget in money (``max_cost``), what pictures cost and what was spent, over HTTP against the offline server:
a call over the budget is refused before anything is sent (counted on the server), and what is left goes down by
what the pictures actually cost."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest
from IPython.core.interactiveshell import InteractiveShell

import dalle_nb as dn
from dalle_nb import config
from dalle_nb.core.costs import usd
from dalle_nb.offline import OfflineServer
from dalle_nb.runtime.session import default_session

from ..conftest import use

LOW = {"model": "gpt-image-2", "size": "1024x1024", "quality": "low"}
HIGH = {"model": "gpt-image-2", "size": "1024x1024", "quality": "high"}


def received(server: OfflineServer) -> int:
    """The image requests the server has answered in all (its /health)."""
    return int(httpx.get(server.base_url.removesuffix("/v1") + "/health").json()["received"])


def test_a_call_over_max_cost_is_refused_in_one_line_before_anything_is_sent(server: OfflineServer) -> None:
    use(server)
    config.configure(max_cost=0.05)
    before = received(server)
    would = dn.estimate(dn.generate, "four foxes", n=4, **HIGH)
    with pytest.raises(dn.InvalidRequest) as refused:
        dn.generate("four foxes", n=4, **HIGH)
    said = refused.value.one_line()
    assert "\n" not in said and refused.value.field == "max_cost"
    assert f"would cost up to {usd(would.high)} (4 pictures of gpt-image-2" in said
    assert "budget (max_cost=$0.05) has $0.05 left" in said and "configure(max_cost=...)" in said
    assert received(server) == before, "nothing was sent"


def test_what_is_left_goes_down_by_what_the_pictures_cost(server: OfflineServer) -> None:
    use(server)
    config.configure(max_cost=0.25)
    session = default_session()
    assert session.money_left() == pytest.approx(0.25)
    made = dn.generate(["a red fox", "a grey wolf"], **LOW)
    spent = made.cost.usd
    assert spent is not None and spent > 0 and all(image.cost and image.cost.known for image in made)
    assert session.money_left() == pytest.approx(0.25 - spent)
    before = received(server)
    with pytest.raises(dn.InvalidRequest, match=rf"has {usd(0.25 - spent).replace('$', '[$]')} left"):
        dn.generate("a pack of wolves", n=2, **HIGH)
    assert received(server) == before
    config.configure(max_cost=0.5)  # a new budget counts from the moment it is set
    assert session.money_left() == pytest.approx(0.5)


def test_max_cost_from_the_environment(server: OfflineServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DALLE_NB_MAX_COST", "$0.03")
    use(server)
    assert dn.settings().max_cost == 0.03
    before = received(server)
    with pytest.raises(dn.InvalidRequest, match=r"max_cost=\$0\.03"):
        dn.generate("an owl", n=2, **HIGH)
    assert received(server) == before


def test_a_model_without_a_price_says_price_unknown_before_and_after(server: OfflineServer) -> None:
    config.configure(base_url=server.base_url, offline=False, api_key="sk-test", max_retries=0)
    model = {"model": "gpt-image-2.6-sunburst", "size": "1024x1024"}
    before = dn.estimate(dn.generate, "a heron", **model)
    assert before.high is None and "price unknown" in before.summary() and "$" not in before.summary()
    (image,) = dn.generate("a heron", **model)
    assert image.cost is not None and image.cost.usd is None and str(image.cost).startswith("price unknown")
    config.configure(max_cost=0.07)  # a cap cannot be kept on an unknown price
    sent = received(server)
    with pytest.raises(
        dn.InvalidRequest, match=r"the price of this call is unknown \(.*\), so max_cost cannot be kept"
    ):
        dn.generate("a heron", **model)
    assert received(server) == sent


def test_prices_from_pyproject(ip: InteractiveShell, tmp_path: Path, server: OfflineServer) -> None:
    from dalle_nb.notebook.magics import Dalle, apply_pyproject

    table = '[tool.dalle_nb.prices]\n"gpt-image-2.6-sunburst" = {image_out = 30, text_in = 5}\n'
    (tmp_path / "pyproject.toml").write_text(table)
    magics = next(c for c in ip.configurables if isinstance(c, Dalle))
    assert "prices" in apply_pyproject(magics, tmp_path)
    _priced_as_mine(server)


def test_prices_from_configure(server: OfflineServer) -> None:
    config.configure(prices={"gpt-image-2.6-sunburst": {"image_out": 30, "text_in": 5}})
    _priced_as_mine(server)


def _priced_as_mine(server: OfflineServer) -> None:
    """A model with no price in the table costs what a person's price says, before and after."""
    config.configure(base_url=server.base_url, offline=False, api_key="sk-test", max_retries=0)
    model = {"model": "gpt-image-2.6-sunburst", "size": "1024x1024"}
    assert dn.estimate(dn.generate, "a heron", **model).basis == "your prices"
    (image,) = dn.generate("a heron", **model)
    assert image.cost is not None and image.cost.usd is not None and image.cost.basis == "your prices"


def test_spent_sums_what_the_pictures_cost_by_day_model_and_session(server: OfflineServer) -> None:
    use(server)
    foxes = dn.generate(["a fox", "a vixen"], **LOW)
    kite = dn.generate("a kite", model="dall-e-2", size="256x256")
    assert kite.cost.usd == pytest.approx(0.016)
    whole = foxes.cost.usd + kite.cost.usd  # type: ignore[operator]
    today = dt.date.today().isoformat()
    by_day = dn.spent()
    assert [(r.key, r.pictures) for r in by_day.rows] == [(today, 3)] and by_day.total.usd == pytest.approx(whole)
    by_model = dn.spent(by="model")
    assert {r.key: (r.pictures, pytest.approx(r.usd)) for r in by_model.rows} == {
        "gpt-image-2": (2, foxes.cost.usd), "dall-e-2": (1, 0.016),
    }  # fmt: skip
    by_session = dn.spent(by="session")
    assert [(r.key, r.pictures) for r in by_session.rows] == [("this session", 3)]
    assert "this session" in str(by_session) and usd(whole) in str(by_session)
    assert dn.spent(since=dt.date.today() + dt.timedelta(days=1)).rows == ()
    assert dn.spent(since=today).pictures == 3
    with pytest.raises(dn.InvalidRequest, match="YYYY-MM-DD"):
        dn.spent(since="yesterday")
