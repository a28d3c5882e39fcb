"""What the Studio says of money: the price of what a button would send, the question a dear click asks
first, and what a job cost when it ends.

Driven from Python inside a running event loop, as a kernel runs widget callbacks (the browser test
``tests/browser/test_studio_lab.py`` looks at the same lines on a real page).  Requests are counted by
the offline server itself (its ``/health``), so "nothing was sent" means nothing reached it.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx

import dalle_nb as dn
from dalle_nb import config
from dalle_nb.core.costs import usd
from dalle_nb.notebook.widgets.studio import _CUSTOM, CONFIRM_OVER, Studio
from dalle_nb.offline import OfflineServer

from ..conftest import use
from .test_studio import finished, in_a_kernel


def received(server: OfflineServer) -> int:
    """How many image requests the server has received."""
    return int(httpx.get(server.base_url.removesuffix("/v1") + "/health").json()["received"])


def text(html: str) -> str:
    """What a person reads of an HTML line: no tags, entities as characters."""
    import html as html_module

    return html_module.unescape(re.sub(r"<[^>]+>", "", html))


def shown(widget: Any) -> bool:
    return widget.layout.display != "none"


def test_the_price_line_says_what_generate_would_cost_and_follows_size_quality_and_number() -> None:
    studio = Studio(namespace={})
    line = studio._price_lines["generate"]
    assert "dalle-nb-price" in line._dom_classes and studio.generate_options.model.value == dn.settings().model
    assert text(line.value) == "write a prompt first"  # nothing to price yet, said quietly
    assert "dalle-nb-studio-dim" in line.value

    studio.prompt.value = "a {red|blue} kite over the sea"
    seen = [text(line.value)]
    controls = studio.generate_options.controls
    for name, value in (("size", "1024x1024"), ("quality", "low"), ("n", 3), ("quality", "high")):
        controls[name].value = value
        seen.append(text(line.value))
    assert len(set(seen)) == len(seen), seen  # each change of size, quality or number gives another price
    assert all(said.startswith("≈ $") for said in seen), seen
    assert "6 pictures" in seen[-1] and "2 pictures" in seen[0]
    # the same price the API gives for the same call
    same = dn.estimate(dn.generate, ["a red kite over the sea", "a blue kite over the sea"], size="1024x1024",
                       quality="high", n=3)  # fmt: skip
    assert seen[-1].startswith(f"≈ {same.price}") and "what OpenAI would charge" in seen[-1]

    controls["size"].value = _CUSTOM
    studio.generate_options.custom.value = "100x100"  # a bad option: its one line instead of a price
    assert "dalle-nb-studio-problem" in line.value and "multiples of 16" in text(line.value) and "$" not in line.value
    studio.generate_options.custom.value = "1536x864"
    assert text(line.value).startswith("≈ $")


def test_the_price_line_of_a_batch_is_the_batch_price_and_a_model_without_one_says_why() -> None:
    studio = Studio(namespace={})
    studio.prompt.value = "a lighthouse"
    studio.generate_options.controls["size"].value = "1024x1024"
    studio.generate_options.controls["quality"].value = "high"
    studio.generate_options.revise.value = False
    single = text(studio._price_lines["generate"].value)
    studio.as_batch.value = True
    batch = text(studio._price_lines["generate"].value)
    assert "Batch API" in batch and batch != single
    studio.generate_options.model.value = "dall-e-2"
    assert text(studio._price_lines["generate"].value).startswith("price unknown (no known batch price)")


def test_a_click_over_confirm_over_asks_first_and_sends_nothing_until_send() -> None:
    config.configure(confirm_over=0.05)
    with OfflineServer() as server:
        use(server)

        async def body() -> tuple[Studio, list[int]]:
            studio = Studio(namespace={})
            studio.prompt.value = "a {red|blue} kite"
            studio.generate_options.controls["size"].value = "1024x1024"
            studio.generate_options.controls["quality"].value = "high"
            counts = []
            assert studio.generate() is None  # held: the question is asked in the panel
            await asyncio.sleep(0.2)
            counts.append(received(server))
            assert shown(studio.confirmation) and "dalle-nb-confirm" in studio.confirmation._dom_classes
            price = studio._estimates["generate"][1].price
            assert studio.confirm_send.description == f"Send ({price})"
            assert "more than $0.05 (your confirm_over setting)" in text(studio.confirm_text.value)
            assert "Nothing sent yet" in studio.status.value and studio._handle is None

            studio.decline()  # Cancel: nothing is sent, the question goes
            await asyncio.sleep(0.2)
            counts.append(received(server))
            assert not shown(studio.confirmation) and "Not sent." in studio.status.value

            studio.generate()
            studio.generate_options.controls["n"].value = 2  # the question was about other options: withdrawn
            assert not shown(studio.confirmation) and studio.confirm() is None
            counts.append(received(server))

            studio.generate()
            handle = studio.confirm()  # Send
            assert handle is not None and not shown(studio.confirmation)
            await finished(studio)
            counts.append(received(server))
            return studio, counts

        studio, counts = in_a_kernel(body)
    assert counts[:3] == [0, 0, 0] and counts[3] >= 2, counts
    assert len(studio.results) == 4 and "Done: 4 pictures" in studio.status.value


def test_the_studios_own_threshold_applies_where_pictures_are_billed_not_offline() -> None:
    with OfflineServer() as server:
        use(server)  # a server of its own: an OpenAI-compatible API, which bills

        async def body() -> tuple[Studio, bool, bool]:
            studio = Studio(namespace={})
            assert studio.confirm_over() == CONFIRM_OVER
            studio.prompt.value = "a {red|blue|green} kite"
            studio.generate_options.controls["quality"].value = "high"
            studio.generate_options.controls["size"].value = "1024x1024"
            studio.generate_options.controls["n"].value = 10
            asked = studio.generate() is None and shown(studio.confirmation)
            studio.decline()
            studio.generate_options.controls["n"].value = 1
            studio.prompt.value = "a kite"
            cheap = studio.generate() is not None  # well under the threshold: sent at once
            await finished(studio)
            return studio, asked, cheap

        studio, asked, cheap = in_a_kernel(body)
        assert asked and cheap and received(server) == 1
    config.configure(offline=True)  # the offline backend's pictures are free: nothing to ask about
    assert Studio(namespace={}).confirm_over() is None
    config.configure(confirm_over=0.2)  # unless the setting asks for it
    assert Studio(namespace={}).confirm_over() == 0.2


def test_an_edit_over_the_threshold_is_priced_off_the_kernels_thread_then_asked_about() -> None:
    config.configure(confirm_over=0.001)
    with OfflineServer() as server:
        use(server)

        async def body() -> tuple[Studio, str, int]:
            studio = Studio(namespace={})
            studio.prompt.value = "a grey wall"
            studio.generate_options.controls["size"].value = "1024x1024"
            studio.generate_options.controls["quality"].value = "low"
            assert studio.generate() is None
            studio.confirm()
            await finished(studio)
            studio.select(studio.results[0])
            studio.edit_prompt.value = "a red door"
            line = studio._price_lines["edit"]
            for _ in range(200):  # priced on a worker once the changes stop
                if "≈" in line.value:
                    break
                await asyncio.sleep(0.02)
            said = text(line.value)
            before = received(server)
            studio.edit_options.controls["quality"].value = "high"  # the line's price is stale: priced on a worker
            assert studio.edit() is None
            for _ in range(200):
                if shown(studio.confirmation):
                    break
                await asyncio.sleep(0.02)
            assert shown(studio.confirmation) and received(server) == before
            studio.confirm()
            await finished(studio)
            return studio, said, before

        studio, said, before = in_a_kernel(body)
        assert said.startswith("≈ $") and "1 picture" in said, said
        assert received(server) == before + 1 and studio.results[0].kind == "edit"


def test_the_status_says_what_the_job_cost_and_every_card_shows_its_picture_cost() -> None:
    async def body() -> Studio:
        studio = Studio(namespace={})
        studio.prompt.value = "a {green|white} boat"
        studio.generate_options.controls["size"].value = "1024x1024"
        studio.generate()
        await finished(studio)
        return studio

    studio = in_a_kernel(body)
    cost = studio.results.cost
    assert cost.known and cost.usd == sum(image.cost.usd for image in studio.results if image.cost and image.cost.usd)
    said = text(studio.status.value)
    assert said.startswith("Done: 2 pictures in ") and f"· {usd(cost.usd)} (what OpenAI would charge" in said, said
    cards = [c for c in studio.grid.children if "dalle-nb-studio-card" in c._dom_classes]
    for card, image in zip(cards, studio.results, strict=True):
        assert "class='dalle-nb-cost'" in card.text.value and f">{usd(image.cost.usd)}</div>" in card.text.value
