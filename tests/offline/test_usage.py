"""The offline backend bills like OpenAI: its answers carry ``usage`` counted as the real API counts it, so the
price a picture shows offline is what OpenAI would charge, and it agrees with ``dn.estimate`` made before the call.

The expected prices are worked out by hand here from the price table (USD per 1M tokens, or per picture) and the
token rules written out in ``dalle_nb.core.tokens``'s docstring, never by calling the library's own functions:

- text: 6 tokens of overhead plus one a started 4 characters ("a red fox in the snow", 21 characters: 6 + 6 = 12);
- an input picture: one token a 32x32-pixel patch (1024x1024: 1,024), with ``input_fidelity="high"`` a 16x16 one;
- output, ``gpt-image-1`` family: rows x (columns + 1) of a grid of 16 / 32 / 64 cells per 1024 pixels for low /
  medium / high; ``gpt-image-2`` and GPT Image 2.5: 196 (low) to 7,024 (high, max) a 1024x1024 picture, by area.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import openai
import pytest
from PIL import Image

import dalle_nb as dn
from dalle_nb.offline import OfflineServer, ServerOptions

from ..conftest import make_client, png_bytes, scene
from .test_offline_batches import rows, run

M = 1_000_000
PROMPT = "a red fox in the snow"  # 21 characters: 6 + ceil(21 / 4) = 12 text tokens
PROMPT_TOKENS = 12
#: The estimate and the bill add the same products in another order, so the two may differ in the last bits of a
#: float: a millionth of a cent, far below any price dalle_nb shows.  Nothing else may separate them.
ROUNDING = 1e-12


def parts(image: dn.GeneratedImage) -> dict[str, float]:
    return dict(image.cost.parts)


# ------------------------------------------------------------------------------------------------- by model family


def test_gpt_image_1_mini_low_costs_its_text_and_272_image_tokens() -> None:
    image = dn.generate(PROMPT, model="gpt-image-1-mini", quality="low", size="1024x1024", revise=False)[0]
    # a 16 x 16 grid, 17 tokens a row: 272 image tokens at $8.00, 12 text tokens at $2.00
    assert image.cost.usd == pytest.approx(12 * 2.00 / M + 272 * 8.00 / M, abs=ROUNDING)
    assert parts(image) == pytest.approx({"text in": 12 * 2.00 / M, "image out": 272 * 8.00 / M})
    assert image.cost.basis == "what OpenAI would charge; offline pictures are free"


def test_gpt_image_1_5_medium_wide_counts_the_published_1568_tokens() -> None:
    image = dn.generate(PROMPT, model="gpt-image-1.5", quality="medium", size="1536x1024", revise=False)[0]
    # 32 rows of 48 + 1: 1,568 tokens, OpenAI's published count for a medium 1536x1024 picture, at $32.00
    assert image.cost.usd == pytest.approx(12 * 5.00 / M + 1568 * 32.00 / M, abs=ROUNDING)


def test_gpt_image_2_high_at_an_arbitrary_size_counts_by_area() -> None:
    image = dn.generate(PROMPT, model="gpt-image-2", quality="high", size="1536x864", revise=False)[0]
    # 7,024 tokens a 1024x1024 picture; 1536x864 is 1.265625 of it: 8,889.75, so 8,890 tokens at $30.00
    assert image.cost.usd == pytest.approx(12 * 5.00 / M + 8890 * 30.00 / M, abs=ROUNDING)


def test_gpt_image_2_5_sunburst_max_tall_counts_by_area() -> None:
    image = dn.generate(PROMPT, model="gpt-image-2.5-sunburst", quality="max", size="1024x1536", revise=False)[0]
    # 7,024 tokens a 1024x1024 picture, half as many again: 10,536 at $30.00
    assert image.cost.usd == pytest.approx(12 * 5.00 / M + 10536 * 30.00 / M, abs=ROUNDING)


def test_dall_e_3_is_priced_by_the_picture_and_its_answer_has_no_usage() -> None:
    image = dn.generate(PROMPT, model="dall-e-3", quality="hd", size="1792x1024")[0]
    assert image.usage is None  # as on the real API: dall-e answers carry no token usage
    assert image.cost.usd == pytest.approx(0.120) and parts(image) == pytest.approx({"picture": 0.120})


def test_the_sdk_sees_usage_only_from_gpt_image_models(client: openai.OpenAI) -> None:
    gpt = client.images.generate(model="gpt-image-1.5", prompt=PROMPT, size="1024x1024", quality="low", n=3)
    assert gpt.usage is not None
    assert (gpt.usage.input_tokens, gpt.usage.output_tokens) == (3 * 12, 3 * 272)  # all three pictures
    assert gpt.usage.input_tokens_details.text_tokens == 36 and gpt.usage.total_tokens == 36 + 816
    legacy = client.images.generate(model="dall-e-3", prompt=PROMPT, size="1024x1024")
    assert legacy.usage is None


# ------------------------------------------------------------------------------------------------- inputs


def test_a_second_input_picture_adds_exactly_its_image_tokens() -> None:
    one = dn.edit(scene(), "add a moon", model="gpt-image-1.5", quality="low", size="1024x1024", revise=False)[0]
    two = dn.edit(
        [scene(), scene((512, 384))], "add a moon", model="gpt-image-1.5", quality="low", size="1024x1024",
        revise=False,
    )[0]  # fmt: skip
    # "add a moon": 6 + 3 text tokens at $5.00; 1024x1024 in: 32 x 32 patches at $8.00; 272 out at $32.00
    assert one.cost.usd == pytest.approx(9 * 5.00 / M + 1024 * 8.00 / M + 272 * 32.00 / M, abs=ROUNDING)
    # 512x384 is 16 x 12 patches: 192 image tokens more, nothing else
    assert two.cost.usd - one.cost.usd == pytest.approx(192 * 8.00 / M, abs=ROUNDING)
    assert parts(two)["image in"] == pytest.approx((1024 + 192) * 8.00 / M)


def test_high_input_fidelity_counts_16_pixel_patches(client: openai.OpenAI) -> None:
    picture = ("in.png", png_bytes(scene((512, 384))), "image/png")
    low = client.images.edit(model="gpt-image-1.5", image=picture, prompt="add a moon", quality="low", size="1024x1024")
    high = client.images.edit(
        model="gpt-image-1.5", image=picture, prompt="add a moon", quality="low", size="1024x1024",
        input_fidelity="high",
    )  # fmt: skip
    assert low.usage is not None and high.usage is not None
    assert low.usage.input_tokens_details.image_tokens == 16 * 12
    assert high.usage.input_tokens_details.image_tokens == 32 * 24


def test_an_edit_sent_as_json_counts_its_pictures_as_multipart_does(client: openai.OpenAI) -> None:
    import base64

    url = "data:image/png;base64," + base64.b64encode(png_bytes(scene((640, 480)))).decode()
    answer = client.post(
        "/images/edits", cast_to=openai.types.ImagesResponse,
        body={"model": "gpt-image-1.5", "prompt": "add a moon", "images": [{"image_url": url}] * 2, "quality": "low",
              "size": "1024x1024"},
    )  # fmt: skip
    assert answer.usage is not None and answer.usage.input_tokens_details.image_tokens == 2 * 20 * 15


# ------------------------------------------------------------------------------------------------- streams, revisions


def test_a_streamed_call_costs_what_the_same_call_costs_in_one_answer() -> None:
    asked: dict[str, Any] = dict(model="gpt-image-2.5-sunburst", quality="low", size="1024x1024", revise=False, n=2)
    streamed = dn.generate(PROMPT, stream=True, partial_images=1, **asked)
    whole = dn.generate(PROMPT, **asked)
    # each picture: 12 text tokens at $5.00 and 196 image tokens at $30.00
    each = 12 * 5.00 / M + 196 * 30.00 / M
    assert [image.cost.usd for image in streamed] == pytest.approx([each, each])
    assert [image.cost.usd for image in whole] == pytest.approx([each, each])


def test_a_revised_prompt_adds_the_text_models_tokens_at_its_rates() -> None:
    image = dn.generate(PROMPT, model="gpt-image-1.5", quality="low", size="1024x1024", revise=True)[0]
    assert image.revised_prompt and image.text_model == "gpt-5.6-luna"
    text_model = image.usage["text_model"]  # type: ignore[index]
    # the text model reads the prompt and the image tool's definition (40 tokens), and writes the revised prompt
    assert text_model["input_tokens"] == 12 + 40
    written = text_model["output_tokens"]
    assert 12 < written <= 12 + 150  # within the estimate's room for a revision
    revision = (12 + 40) * 0.20 / M + written * 1.20 / M  # gpt-5.6-luna: $0.20 in, $1.20 out
    # the image model reads the revised prompt: 6 + one token a started 4 characters
    revised_tokens = 6 + -(-len(image.revised_prompt.strip()) // 4)
    assert parts(image) == pytest.approx(
        {"text in": revised_tokens * 5.00 / M, "image out": 272 * 32.00 / M, "revision": revision}
    )
    assert image.cost.usd == pytest.approx(sum(parts(image).values()), abs=ROUNDING)


def test_a_batch_line_carries_the_usage_of_the_same_request_sent_directly() -> None:
    body = {"model": "gpt-image-1.5", "prompt": PROMPT, "size": "1536x1024", "quality": "medium", "n": 2}
    with OfflineServer(ServerOptions(seed=3, batch_seconds=0.5)) as srv, make_client(srv) as client:
        direct = client.images.generate(**body)
        line = {"custom_id": "fox", "method": "POST", "url": "/v1/images/generations", "body": body}
        batch, _ = run(client, [line])
        answered = rows(client, batch.output_file_id)["fox"]["response"]["body"]
    assert direct.usage is not None and answered["usage"] == json.loads(direct.usage.model_dump_json())


# ------------------------------------------------------------------------------------------------- estimate and bill


def _pictures() -> tuple[Image.Image, Image.Image]:
    return scene(), scene((640, 480))


Call = Callable[[], tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]]
CASES: dict[str, Call] = {
    "mini low square": lambda: (dn.generate, (PROMPT,), dict(model="gpt-image-1-mini", quality="low",
                                                              size="1024x1024", revise=False)),
    "mini auto everything": lambda: (dn.generate, (PROMPT,), dict(model="gpt-image-1-mini", revise=False)),
    "1.5 medium wide n=2": lambda: (dn.generate, (PROMPT,), dict(model="gpt-image-1.5", quality="medium",
                                                                 size="1536x1024", n=2, revise=False)),
    "1.5 high tall revised": lambda: (dn.generate, (PROMPT,), dict(model="gpt-image-1.5", quality="high",
                                                                   size="1024x1536", revise=True)),
    "2 low 1536x864": lambda: (dn.generate, (PROMPT,), dict(model="gpt-image-2", quality="low", size="1536x864",
                                                            revise=False)),
    "2 auto 1536x864 n=3": lambda: (dn.generate, (PROMPT,), dict(model="gpt-image-2", quality="auto",
                                                                 size="1536x864", n=3, revise=False)),
    "2 high 2048x1152 revised": lambda: (dn.generate, (PROMPT,), dict(model="gpt-image-2", quality="high",
                                                                      size="2048x1152", revise=True)),
    "2.5 xhigh square": lambda: (dn.generate, (PROMPT,), dict(model="gpt-image-2.5-sunburst", quality="xhigh",
                                                              size="1024x1024", revise=False)),
    "2.5 max 1280x720": lambda: (dn.generate, (PROMPT,), dict(model="gpt-image-2.5-sunburst", quality="max",
                                                              size="1280x720", revise=False)),
    "2.5 defaults revised": lambda: (dn.generate, ("a lighthouse on a cliff during a storm, waves crashing",), {}),
    "2.5 streamed n=2": lambda: (dn.generate, (PROMPT,), dict(quality="medium", size="1024x1024", n=2,
                                                              stream=True, partial_images=1, revise=False)),
    "dall-e-3 hd wide": lambda: (dn.generate, (PROMPT,), dict(model="dall-e-3", quality="hd", size="1792x1024")),
    "dall-e-3 standard": lambda: (dn.generate, (PROMPT,), dict(model="dall-e-3", size="1024x1024")),
    "edit 1.5 one input low": lambda: (dn.edit, (scene(), "add a moon"), dict(model="gpt-image-1.5", quality="low",
                                                                              size="1024x1024", revise=False)),
    "edit 1.5 two inputs high fidelity": lambda: (dn.edit, (list(_pictures()), "add a moon"), dict(
        model="gpt-image-1.5", quality="medium", input_fidelity="high", revise=False)),
    "edit 2 wide input size auto revised": lambda: (dn.edit, (scene((1536, 1024)), "add a moon"), dict(
        model="gpt-image-2", quality="low", revise=True)),
    "edit 2.5 two inputs revised": lambda: (dn.edit, (list(_pictures()), "make it night"), dict(
        model="gpt-image-2.5-sunburst", quality="high", size="1024x1024", input_fidelity="high", revise=True)),
    "edit mini n=2 small input": lambda: (dn.edit, (scene((800, 600)), "add a moon"), dict(
        model="gpt-image-1-mini", quality="auto", n=2, revise=False)),
    "1.5 long prompt revised n=2": lambda: (dn.generate, (
        "a cozy reading nook with a cat asleep on a stack of books beside a rain-streaked window, warm lamp light",
    ), dict(model="gpt-image-1.5", quality="low", size="1024x1024", n=2, revise=True)),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_the_estimate_before_and_the_bill_after_agree(case: str) -> None:
    call, args, kwargs = CASES[case]()
    before = dn.estimate(call, *args, **kwargs)
    after = call(*args, **kwargs)
    assert before.low is not None and before.high is not None and len(after) == before.pictures
    paid = sum(image.cost.usd for image in after)
    assert before.low - ROUNDING <= paid <= before.high + ROUNDING, (before.low, paid, before.high)


@pytest.mark.parametrize("size", ["1024x1024", "1536x1024"])
def test_the_estimate_before_and_the_bill_after_agree_for_a_refinement(size: str) -> None:
    # the earlier picture travels with the turn at its own size, whatever size the new one is asked at
    made = dn.generate(PROMPT, model="gpt-image-1.5", quality="low", size=size)[0]
    assert made.response_id  # so the refinement continues the conversation with previous_response_id
    before = dn.estimate(dn.refine, made, "now at dusk", quality="medium", size="1024x1024")
    after = dn.refine(made, "now at dusk", quality="medium", size="1024x1024")
    assert before.low is not None and before.high is not None
    assert after[0].params.get("previous_response_id") == made.response_id
    # the earlier picture travels with the turn: 1,024 image tokens in for 1024x1024, 1,536 for 1536x1024, at $8.00
    carried = 1024 if size == "1024x1024" else 1536
    assert parts(after[0])["image in"] == pytest.approx(carried * 8.00 / M)
    assert before.low - ROUNDING <= after[0].cost.usd <= before.high + ROUNDING
