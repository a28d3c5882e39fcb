"""The offline server as the official openai SDK sees it, over real HTTP on loopback."""

from __future__ import annotations

import base64
import io
import time
import urllib.request

import httpx2 as httpx
import numpy as np
import openai
import pytest
from PIL import Image

from dalle_nb.core.capabilities import DEFAULT_MODEL
from dalle_nb.offline import OfflineServer, ServerOptions

from ..conftest import decode, hole_mask, make_client, png_bytes, scene


def test_generate_returns_base64_png_with_usage(client: openai.OpenAI) -> None:
    res = client.images.generate(model=DEFAULT_MODEL, prompt="a red fox in green grass", size="1536x1024")
    assert res.data is not None and len(res.data) == 1
    image = decode(res.data[0].b64_json or "")
    assert image.format == "PNG" and image.size == (1536, 1024)
    assert res.data[0].url is None and res.data[0].revised_prompt is None
    assert res.size == "1536x1024" and res.output_format == "png" and res.background == "opaque"
    assert res.usage is not None and res.usage.output_tokens > 0
    assert res.usage.total_tokens == res.usage.input_tokens + res.usage.output_tokens


def test_pictures_are_deterministic_and_differ_per_index(client: openai.OpenAI) -> None:
    first = client.images.generate(model="gpt-image-1.5", prompt="a blue boat", n=2, size="1024x1024")
    again = client.images.generate(model="gpt-image-1.5", prompt="a blue boat", n=2, size="1024x1024")
    assert first.data and again.data
    assert [d.b64_json for d in first.data] == [d.b64_json for d in again.data]
    assert first.data[0].b64_json != first.data[1].b64_json
    other = client.images.generate(model="gpt-image-1.5", prompt="a blue house", size="1024x1024")
    assert other.data and other.data[0].b64_json != first.data[0].b64_json


def test_named_colours_appear(client: openai.OpenAI) -> None:
    res = client.images.generate(model=DEFAULT_MODEL, prompt="a red balloon", size="1024x1024")
    assert res.data
    px = np.asarray(decode(res.data[0].b64_json or "").convert("RGB")).astype(int)
    reddish = (px[..., 0] > 150) & (px[..., 1] < 90) & (px[..., 2] < 90)
    assert reddish.mean() > 0.05


def test_transparent_background_has_real_alpha(client: openai.OpenAI) -> None:
    res = client.images.generate(
        model=DEFAULT_MODEL,
        prompt="a yellow star",
        background="transparent",
        output_format="webp",
        output_compression=90,
    )
    assert res.data and res.background == "transparent" and res.output_format == "webp"
    image = decode(res.data[0].b64_json or "")
    assert image.format == "WEBP"
    alpha = np.asarray(image.convert("RGBA"))[..., 3]
    assert (alpha == 0).any() and (alpha == 255).any()


def test_jpeg_compression_changes_bytes(client: openai.OpenAI) -> None:
    sizes = []
    for compression in (95, 20):
        res = client.images.generate(
            model=DEFAULT_MODEL,
            prompt="a purple city",
            output_format="jpeg",
            output_compression=compression,
            size="1024x1024",
        )
        assert res.data
        assert decode(res.data[0].b64_json or "").format == "JPEG"
        sizes.append(len(base64.b64decode(res.data[0].b64_json or "")))
    assert sizes[1] < sizes[0]


def test_dalle3_returns_url_and_revised_prompt(client: openai.OpenAI) -> None:
    res = client.images.generate(model="dall-e-3", prompt="a baby sea otter", quality="hd", style="natural")
    assert res.data and res.data[0].url and res.data[0].b64_json is None
    revised = res.data[0].revised_prompt or ""
    assert "sea otter" in revised and len(revised) > len("a baby sea otter") + 20
    assert res.data[0].url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(res.data[0].url) as r:
        image = Image.open(io.BytesIO(r.read()))
    assert image.size == (1024, 1024)


def test_legacy_b64_response_format(client: openai.OpenAI) -> None:
    res = client.images.generate(
        model="dall-e-2", prompt="a white siamese cat", size="256x256", response_format="b64_json", n=3
    )
    assert res.data and len(res.data) == 3
    assert all(decode(d.b64_json or "").size == (256, 256) for d in res.data)


def test_urls_expire() -> None:
    with OfflineServer(ServerOptions(url_ttl=0.5)) as srv, make_client(srv) as c:
        res = c.images.generate(model="dall-e-2", prompt="a cat", size="256x256")
        assert res.data and res.data[0].url
        with urllib.request.urlopen(res.data[0].url) as r:
            assert r.status == 200
        time.sleep(0.7)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(res.data[0].url)
        assert err.value.code == 404


def test_validation_errors_are_openai_shaped(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.images.generate(model="gpt-image-1.5", prompt="x", size="1000x1000")
    assert err.value.status_code == 400
    assert isinstance(err.value.body, dict)
    assert err.value.body["param"] == "size" and err.value.body["type"] == "invalid_request_error"
    assert "'1024x1024'" in err.value.body["message"]
    assert err.value.request_id and err.value.request_id.startswith("req_")


def test_unknown_field_is_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.images.generate(model=DEFAULT_MODEL, prompt="x", extra_body={"colour": "red"})
    assert err.value.code == "unknown_parameter" and err.value.param == "colour"


def test_retired_models_per_profile(client: openai.OpenAI, oa_client: openai.OpenAI) -> None:
    assert client.images.generate(model="gpt-image-1", prompt="x", size="1024x1024").data
    with pytest.raises(openai.NotFoundError) as err:
        oa_client.images.generate(model="gpt-image-1", prompt="x")
    assert "shut down on October 23, 2026" in str(err.value)
    assert "gpt-image-2.5-sunburst" in str(err.value)
    with pytest.raises(openai.NotFoundError, match="retired on May 12, 2026"):
        oa_client.images.generate(model="dall-e-3", prompt="x")


def test_variations_per_profile(client: openai.OpenAI, oa_client: openai.OpenAI) -> None:
    source = Image.new("RGB", (256, 256), (30, 120, 200))
    source.paste((250, 200, 20), (60, 60, 190, 190))
    with pytest.warns(DeprecationWarning):
        res = client.images.create_variation(
            image=png_bytes(source), model="dall-e-2", n=2, size="256x256", response_format="b64_json"
        )
    assert res.data and len(res.data) == 2
    a, b = (np.asarray(decode(d.b64_json or "").convert("RGB")).astype(float) for d in res.data)
    src = np.asarray(source).astype(float)
    assert a.shape == src.shape and not np.array_equal(a, b)
    assert np.abs(a.mean(axis=(0, 1)) - src.mean(axis=(0, 1))).max() < 40  # palette kept
    with pytest.warns(DeprecationWarning), pytest.raises(openai.NotFoundError, match="variations endpoint is retired"):
        oa_client.images.create_variation(image=png_bytes(source), model="dall-e-2")
    with pytest.warns(DeprecationWarning), pytest.raises(openai.BadRequestError, match="needs a square image"):
        client.images.create_variation(image=png_bytes(Image.new("RGB", (300, 200))), model="dall-e-2")


def test_edit_preserves_every_pixel_outside_the_mask(client: openai.OpenAI) -> None:
    picture, mask = scene().convert("RGBA"), hole_mask()
    res = client.images.edit(
        model=DEFAULT_MODEL,
        image=("scene.png", png_bytes(picture), "image/png"),
        mask=("mask.png", png_bytes(mask), "image/png"),
        prompt="a red sun",
        size="1024x1024",
    )
    assert res.data
    out = np.asarray(decode(res.data[0].b64_json or "").convert("RGBA"))
    keep = np.asarray(mask)[..., 3] != 0
    assert np.array_equal(out[keep], np.asarray(picture)[keep])
    assert (out[~keep] != np.asarray(picture)[~keep]).any(axis=-1).mean() > 0.5


def test_edit_sniffs_uploads_and_takes_several_images(client: openai.OpenAI) -> None:
    jpeg = io.BytesIO()
    scene().save(jpeg, format="JPEG")
    jpeg.seek(0)  # a BytesIO goes up as "upload" with application/octet-stream
    second = io.BytesIO(png_bytes(Image.new("RGB", (512, 512), (200, 20, 20))))
    res = client.images.edit(model=DEFAULT_MODEL, image=[jpeg, second], prompt="blend them", size="1024x1024")
    assert res.data and decode(res.data[0].b64_json or "").size == (1024, 1024)
    assert res.usage and res.usage.input_tokens_details.image_tokens > 0


def test_edit_input_rules(client: openai.OpenAI) -> None:
    picture = png_bytes(scene())
    with pytest.raises(openai.BadRequestError, match="same dimensions"):
        client.images.edit(
            model=DEFAULT_MODEL, image=picture, prompt="x", mask=png_bytes(Image.new("RGBA", (512, 512)))
        )
    jpeg_mask = io.BytesIO()
    hole_mask().convert("RGB").save(jpeg_mask, format="JPEG")
    with pytest.raises(openai.BadRequestError, match="mask must be a PNG"):
        client.images.edit(model=DEFAULT_MODEL, image=picture, prompt="x", mask=jpeg_mask.getvalue())
    with pytest.raises(openai.BadRequestError, match="not a PNG, JPEG or WebP"):
        client.images.edit(model=DEFAULT_MODEL, image=b"definitely not an image", prompt="x")
    with pytest.raises(openai.BadRequestError, match="cannot be combined"):
        client.images.edit(
            model="gpt-image-2.5-flare",
            image=picture,
            prompt="x",
            mask=png_bytes(hole_mask()),
            markup=png_bytes(hole_mask()),
        )
    with pytest.raises(openai.BadRequestError, match="input_fidelity is not supported for gpt-image-2") as err:
        client.images.edit(model="gpt-image-2", image=picture, prompt="x", input_fidelity="high")
    assert err.value.code == "invalid_input_fidelity_model" and err.value.type == "image_generation_user_error"
    res = client.images.edit(model="gpt-image-2.5-flare", image=picture, prompt="x", markup=png_bytes(hole_mask()))
    assert res.data


def test_dalle2_edit_uses_the_images_own_transparency(client: openai.OpenAI) -> None:
    picture = scene((512, 512)).convert("RGBA")
    picture.paste((0, 0, 0, 0), (100, 100, 200, 200))
    res = client.images.edit(
        model="dall-e-2", image=png_bytes(picture), prompt="a green frog", size="512x512", response_format="b64_json"
    )
    assert res.data
    out = np.asarray(decode(res.data[0].b64_json or "").convert("RGBA"))
    keep = np.asarray(picture)[..., 3] != 0
    assert np.array_equal(out[keep], np.asarray(picture)[keep])


def test_streaming_generation_events(client: openai.OpenAI) -> None:
    stream = client.images.generate(
        model=DEFAULT_MODEL, prompt="an orange lighthouse", stream=True, partial_images=3, size="1024x1024"
    )
    events = list(stream)
    assert [e.type for e in events] == ["image_generation.partial_image"] * 3 + ["image_generation.completed"]
    assert [getattr(e, "partial_image_index", None) for e in events[:3]] == [0, 1, 2]
    final = np.asarray(decode(events[-1].b64_json).convert("RGB")).astype(int)
    errors = [np.abs(np.asarray(decode(e.b64_json).convert("RGB")).astype(int) - final).mean() for e in events[:3]]
    assert errors[0] > errors[1] > errors[2] > 0  # coarse to fine
    completed = events[-1]
    assert completed.type == "image_generation.completed" and completed.usage.total_tokens > 0
    plain = client.images.generate(model=DEFAULT_MODEL, prompt="an orange lighthouse", size="1024x1024")
    assert plain.data and plain.data[0].b64_json == completed.b64_json


def test_streaming_edit_events(client: openai.OpenAI) -> None:
    stream = client.images.edit(
        model=DEFAULT_MODEL,
        image=png_bytes(scene()),
        mask=png_bytes(hole_mask()),
        prompt="a moon",
        stream=True,
        partial_images=1,
        n=2,
    )
    types = [e.type for e in stream]
    assert types == ["image_edit.partial_image", "image_edit.completed"] * 2


def test_models_endpoint_per_profile(client: openai.OpenAI, oa_client: openai.OpenAI) -> None:
    compat_ids = {m.id for m in client.models.list()}
    current_ids = {m.id for m in oa_client.models.list()}
    assert {"dall-e-2", "dall-e-3", DEFAULT_MODEL} <= compat_ids
    assert "dall-e-3" not in current_ids and DEFAULT_MODEL in current_ids
    assert client.models.retrieve("dall-e-3").id == "dall-e-3"
    with pytest.raises(openai.NotFoundError):
        oa_client.models.retrieve("dall-e-3")


def test_unknown_route_and_request_ids(server: OfflineServer) -> None:
    r = httpx.post(server.base_url + "/images/nope", json={})
    assert r.status_code == 404 and r.json()["error"]["message"] == "Invalid URL (POST /v1/images/nope)"
    assert r.headers["x-request-id"].startswith("req_")
    ok = httpx.get(server.base_url + "/models")
    assert ok.headers["x-request-id"] != r.headers["x-request-id"]


def test_malformed_json_and_oversized_bodies(server: OfflineServer) -> None:
    r = httpx.post(
        server.base_url + "/images/generations", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and "could not parse the JSON body" in r.json()["error"]["message"]
    huge = b'{"prompt": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    r = httpx.post(server.base_url + "/images/generations", content=huge, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"

    def chunks():  # no Content-Length: refused while reading, not after
        for _ in range(40):
            yield b"a" * 65536

    r = httpx.post(
        server.base_url + "/images/generations", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413


def test_api_key_is_required_when_configured() -> None:
    with OfflineServer(ServerOptions(api_key="sk-offline-secret")) as srv:
        with make_client(srv, api_key="sk-wrong") as c, pytest.raises(openai.AuthenticationError) as err:
            c.images.generate(model=DEFAULT_MODEL, prompt="x")
        assert "sk-wrong" not in str(err.value) and "sk-offline-secret" not in str(err.value)
        with make_client(srv, api_key="sk-offline-secret") as c:
            assert c.images.generate(model=DEFAULT_MODEL, prompt="x", size="1024x1024").data
        r = httpx.post(srv.base_url + "/images/generations", json={"prompt": "x"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "missing_api_key"
    assert "sk-offline-secret" not in repr(ServerOptions(api_key="sk-offline-secret"))


# ---------------------------------------------------------------------------- the API's remaining rules
def test_a_2023_client_edits_and_varies_without_a_model_on_compat(
    client: openai.OpenAI, oa_client: openai.OpenAI
) -> None:
    """Clients written for the API the seed documents send dall-e-2's fields to ``images.edit`` and name no model."""
    picture = png_bytes(scene((256, 256)).convert("RGBA"))
    mask = png_bytes(hole_mask((256, 256), (60, 40, 180, 120)))
    edited = client.images.edit(image=picture, mask=mask, prompt="a red sun", size="256x256", response_format="url")
    assert edited.usage is None and edited.data and edited.data[0].url  # dall-e-2: a URL, no token usage
    with urllib.request.urlopen(edited.data[0].url) as reply:
        assert Image.open(io.BytesIO(reply.read())).size == (256, 256)
    with pytest.warns(DeprecationWarning):
        varied = client.images.create_variation(image=picture, size="256x256", response_format="url")
    assert varied.data and varied.data[0].url
    with pytest.raises(openai.BadRequestError, match="'256x256' on gpt-image-1.5"):  # today's API: a GPT edit
        oa_client.images.edit(image=picture, mask=mask, prompt="a red sun", size="256x256", response_format="url")


@pytest.mark.parametrize(
    ("source", "expected"),
    [((2856, 2142), (1536, 1024)), ((300, 450), (1024, 1536)), ((800, 800), (1024, 1024))],
)
def test_edit_size_auto_is_the_models_own_size_nearest_the_inputs_shape(
    client: openai.OpenAI, source: tuple[int, int], expected: tuple[int, int]
) -> None:
    photo = png_bytes(Image.new("RGB", source, (90, 120, 200)))
    for size in ("auto", None):
        extra = {"size": size} if size else {}
        res = client.images.edit(model="gpt-image-1.5", image=photo, prompt="add a kite", **extra)  # type: ignore[arg-type]
        assert decode(res.data[0].b64_json).size == expected and res.size == f"{expected[0]}x{expected[1]}"


def test_unknown_parameters_are_refused_in_openais_words(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.images.generate(model=DEFAULT_MODEL, prompt="a fox", response_format="url")
    assert err.value.code == "unknown_parameter" and err.value.param == "response_format"
    assert err.value.body["message"] == "Unknown parameter: 'response_format'."  # type: ignore[index]


def test_an_omitted_model_is_chosen_as_openai_chooses(client: openai.OpenAI, oa_client: openai.OpenAI) -> None:
    legacy = client.images.generate(prompt="a fox")  # type: ignore[call-arg]
    assert legacy.usage is None and legacy.data[0].url  # dall-e-2: URLs, no token usage
    gpt = client.images.generate(prompt="a fox", quality="high")  # type: ignore[call-arg]
    assert gpt.quality == "high" and gpt.usage is not None and gpt.data[0].b64_json  # gpt-image-1.5
    assert client.images.generate(prompt="a fox", size="1536x1024").size == "1536x1024"  # type: ignore[call-arg]
    dark = png_bytes(Image.new("RGB", (512, 512), (10, 10, 10)))
    edited = oa_client.images.edit(image=dark, prompt="add a moon")  # type: ignore[call-arg]
    assert edited.usage is not None and decode(edited.data[0].b64_json).size == (1024, 1024)  # gpt-image-1.5
    gpt_edit = client.images.edit(image=dark, prompt="add a moon", quality="high")  # type: ignore[call-arg]
    assert gpt_edit.usage is not None and gpt_edit.quality == "high"  # compat: a GPT-only value picks gpt-image-1.5
    with pytest.raises(openai.NotFoundError, match="retired"):
        oa_client.images.generate(prompt="a fox")  # type: ignore[call-arg]  # dall-e-2, which OpenAI retired
    assert oa_client.images.generate(prompt="a fox", background="opaque").usage is not None  # type: ignore[call-arg]
