"""The offline Responses API for the image_generation tool, through the official SDK over real HTTP.

Faithfulness is judged the way a client meets it: bodies and events validate into the SDK's own types with no field
missing and none extra, ``responses.stream()`` accepts the lifecycle, and failures raise the SDK's exception classes.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from openai import BaseModel
from openai.types.responses import Response, ResponseStreamEvent
from PIL import Image
from pydantic import TypeAdapter

from dalle_nb.offline import OfflineServer, ServerOptions, parse_faults
from dalle_nb.offline.responses import TOOL_DEFAULT_MODEL, revision

from ..conftest import decode, make_client, png_bytes

TEXT_MODEL = "gpt-5.5"
TOOL: dict[str, Any] = {"type": "image_generation", "size": "1024x1024", "quality": "low"}
EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)


def create(client: openai.OpenAI, prompt: Any = "a red fox in a snowy field", **kw: Any) -> Response:
    kw.setdefault("model", TEXT_MODEL)
    kw.setdefault("tools", [TOOL])
    response: Response = client.responses.create(input=prompt, **kw)
    return response


def stream(client: openai.OpenAI, prompt: Any = "a blue boat", **kw: Any) -> openai.Stream[ResponseStreamEvent]:
    kw.setdefault("model", TEXT_MODEL)
    kw.setdefault("tools", [TOOL])
    events: openai.Stream[ResponseStreamEvent] = client.responses.create(input=prompt, stream=True, **kw)
    return events


def exact(model: BaseModel, where: str = "response") -> None:
    """No field the SDK type lacks, none it requires missing, all the way down."""
    assert not model.model_extra, f"{where} has fields the SDK does not know: {sorted(model.model_extra)}"
    required = {name for name, info in type(model).model_fields.items() if info.is_required()}
    assert required <= model.model_fields_set, f"{where} lacks {sorted(required - model.model_fields_set)}"
    for name in model.model_fields_set:
        value = getattr(model, name)
        for number, child in enumerate(value if isinstance(value, list) else [value]):
            if isinstance(child, BaseModel):
                exact(child, f"{where}.{name}[{number}]" if isinstance(value, list) else f"{where}.{name}")


def post(server: OfflineServer, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.base_url}/responses", json=body, timeout=60)


def raw_events(server: OfflineServer, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The stream's events as sent, before the SDK reads them."""
    events = []
    with httpx.stream("POST", f"{server.base_url}/responses", json={**body, "stream": True}, timeout=60) as reply:
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
        for line in reply.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[len("data: ") :]))
    return events


def data_url(image: Image.Image) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode()


def pixels(b64: str) -> np.ndarray[Any, Any]:
    return np.asarray(decode(b64).convert("RGB"), dtype=np.int16)


def image_call(response: Response) -> Any:
    (call,) = [item for item in response.output if item.type == "image_generation_call"]
    return call


@pytest.fixture
def fresh() -> Iterator[openai.OpenAI]:
    """A server of its own, for tests that change its memory."""
    with OfflineServer(ServerOptions(seed=7)) as srv, make_client(srv) as c:
        yield c


# ------------------------------------------------------------------------------------------------- JSON


def test_a_response_validates_into_the_sdk_types_with_every_field(server: OfflineServer) -> None:
    reply = post(server, {"model": TEXT_MODEL, "input": "a red fox", "tools": [TOOL]})
    assert reply.status_code == 200 and reply.headers["x-request-id"].startswith("req_")
    response = Response.model_validate(reply.json())  # validation, not the SDK's lenient construct
    exact(response)
    assert [item.type for item in response.output] == ["image_generation_call", "message"]
    assert response.status == "completed" and response.object == "response" and response.completed_at


def test_the_image_call_carries_picture_revised_prompt_size_and_usage(client: openai.OpenAI) -> None:
    prompt = "a red fox in a snowy field"
    response = create(client, prompt, tool_choice={"type": "image_generation"})
    exact(response)
    call = image_call(response)
    assert (call.status, call.action, call.size, call.quality, call.background, call.output_format) == (
        "completed", "generate", "1024x1024", "low", "opaque", "png",
    )  # fmt: skip
    picture = decode(call.result)
    assert picture.format == "PNG" and picture.size == (1024, 1024)
    revised = call.revised_prompt.lower()
    assert all(word in revised for word in ("red fox", "snow")) and len(revised) > 2 * len(prompt)
    assert response.id.startswith("resp_") and call.id.startswith("ig_")
    assert response.output_text  # the assistant's message
    assert response.model == TEXT_MODEL and response.tool_choice.type == "image_generation"  # type: ignore[union-attr]
    usage, image_usage = response.usage, response.tool_usage.image_gen  # type: ignore[union-attr]
    assert usage is not None and usage.total_tokens == usage.input_tokens + usage.output_tokens > 0
    assert image_usage.output_tokens > 0
    assert image_usage.total_tokens == image_usage.input_tokens + image_usage.output_tokens
    (tool,) = response.tools
    assert tool.type == "image_generation" and tool.model == TOOL_DEFAULT_MODEL == "gpt-image-2.6-sunburst"


def test_revised_prompts_are_deterministic_and_differ_per_text_model(client: openai.OpenAI) -> None:
    first, again = create(client), create(client)
    assert image_call(first).revised_prompt == image_call(again).revised_prompt
    assert image_call(first).result == image_call(again).result
    assert first.id != again.id
    revised = {image_call(create(client, model=m)).revised_prompt for m in ("gpt-5.5", "gpt-4.1", "o3")}
    assert len(revised) == 3
    # the picture is the scene the prompt asks for, whichever text model rewrote it (the rewrite's framing words
    # are not drawn): the same picture the Images API gives for the prompt
    assert image_call(create(client, model="gpt-4.1")).result == image_call(first).result


def test_revision_names_every_turn() -> None:
    one = revision("a red fox", text_model=TEXT_MODEL)
    two = revision("a red fox", ("make it dusk",), text_model=TEXT_MODEL)
    three = revision("a red fox", ("make it dusk", "add snow"), text_model=TEXT_MODEL)
    assert len({one, two, three}) == 3
    # each turn's revision describes the picture that turn draws: the fox stays, the changes arrive
    assert all("red fox" in text.lower() for text in (one, two, three))
    assert "dusk" not in one and "dusk" in two and "dusk" in three and "snow" in three and "snow" not in two


def test_transparent_webp(client: openai.OpenAI) -> None:
    tool = {"type": "image_generation", "background": "transparent", "output_format": "webp", "size": "1024x1024"}
    call = image_call(create(client, "a green leaf", tools=[tool]))
    picture = decode(call.result)
    assert picture.format == "WEBP" and picture.mode == "RGBA" and picture.getchannel("A").getextrema()[0] == 0
    assert (call.background, call.output_format) == ("transparent", "webp")


def test_arbitrary_sizes_and_extra_qualities_follow_the_tool_model(client: openai.OpenAI) -> None:
    tool = {"type": "image_generation", "model": "gpt-image-2.5-sunburst", "size": "1536x864", "quality": "xhigh"}
    call = image_call(create(client, tools=[tool]))
    assert decode(call.result).size == (1536, 864) and call.quality == "xhigh"


# ------------------------------------------------------------------------------------------------- streaming


def test_the_stream_sends_the_full_lifecycle_in_order(server: OfflineServer) -> None:
    body = {"model": TEXT_MODEL, "input": "a blue boat", "tools": [{**TOOL, "partial_images": 3}]}
    events = raw_events(server, body)
    parsed = [EVENTS.validate_python(event) for event in events]
    for event in parsed:
        exact(event, event.type)
    kinds = [event.type for event in parsed]
    image_part = [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.image_generation_call.in_progress",
        "response.image_generation_call.generating",
        *["response.image_generation_call.partial_image"] * 3,
        "response.image_generation_call.completed",
        "response.output_item.done",
    ]
    assert kinds[: len(image_part)] == image_part
    assert kinds[len(image_part)] == "response.output_item.added" and kinds[-1] == "response.completed"
    assert [event.sequence_number for event in parsed] == list(range(len(parsed)))
    lifecycle = [
        event.response for event in parsed if event.type.startswith("response.") and hasattr(event, "response")
    ]
    assert len({response.id for response in lifecycle}) == 1
    partials = [event for event in parsed if event.type == "response.image_generation_call.partial_image"]
    assert [event.partial_image_index for event in partials] == [0, 1, 2]
    assert all(decode(event.partial_image_b64).size == (1024, 1024) for event in partials)
    added, done = parsed[2], parsed[len(image_part) - 1]
    assert added.item.id == done.item.id and added.item.result is None
    final = parsed[-1].response
    assert image_call(final).result == done.item.result and done.item.revised_prompt
    assert "revised_prompt" not in events[5]  # partial images carry no revised prompt
    # the finest partial is nearer the final picture than the coarsest
    final_pixels = pixels(image_call(final).result)
    errors = [np.abs(pixels(event.partial_image_b64) - final_pixels).mean() for event in partials]
    assert errors[0] > errors[-1]


def test_sdk_stream_and_helper_give_the_picture_and_revised_prompt(client: openai.OpenAI) -> None:
    seen = list(stream(client, "a blue boat"))
    assert seen[0].type == "response.created" and seen[-1].type == "response.completed"
    assert not any(event.type == "response.image_generation_call.partial_image" for event in seen)  # 0 asked
    for event in seen:
        exact(event, event.type)
    with client.responses.stream(
        model=TEXT_MODEL,
        input="a blue boat",
        tools=[{**TOOL, "partial_images": 2}],  # type: ignore[list-item]
    ) as helper:
        kinds = [event.type for event in helper]
        final = helper.get_final_response()
    assert kinds.count("response.image_generation_call.partial_image") == 2
    call = image_call(final)
    assert "blue boat" in call.revised_prompt.lower() and decode(call.result).size == (1024, 1024)
    assert final.status == "completed" and final.output_text


# ------------------------------------------------------------------------------------------------- conversations


def test_previous_response_id_refines_the_previous_picture(client: openai.OpenAI) -> None:
    first = create(client, "a red fox in a snowy field")
    second = create(client, "make it dusk", previous_response_id=first.id)
    third = create(client, "add a full moon", previous_response_id=second.id)
    assert (second.previous_response_id, third.previous_response_id) == (first.id, second.id)
    calls = [image_call(r) for r in (first, second, third)]
    assert [c.action for c in calls] == ["generate", "edit", "edit"]
    assert all(word in calls[1].revised_prompt.lower() for word in ("red fox", "snow", "dusk"))
    assert all(word in calls[2].revised_prompt.lower() for word in ("red fox", "dusk", "moon"))
    # derived from the previous picture: nearer to it than a fresh picture of the same words is
    unrelated = image_call(create(client, "make it dusk"))
    before, after = pixels(calls[0].result), pixels(calls[1].result)
    assert 0 < np.abs(after - before).mean() < np.abs(pixels(unrelated.result) - before).mean()
    assert client.responses.retrieve(second.id).model_dump() == second.model_dump()
    # each turn is the whole scene drawn again with its change (the fox stays where it was, solid, at dusk, with
    # the moon added), the picture the Images API gives for the conversation's words together
    together = client.images.generate(
        model=TOOL_DEFAULT_MODEL, prompt="a red fox in a snowy field. make it dusk. add a full moon",
        size="1024x1024", quality="low",
    )  # fmt: skip
    assert together.data is not None and together.data[0].b64_json is not None
    assert np.array_equal(pixels(calls[2].result), pixels(together.data[0].b64_json))


def test_the_picture_follows_the_prompt_not_the_rewrite(client: openai.OpenAI) -> None:
    """The rewrite's framing words ("generous negative space", "glowing colours") are never drawn."""
    for prompt in ("a cat on a sofa", "three cats on a beach", "a red fox sitting in the snow"):
        revised = image_call(create(client, prompt))
        exact = client.images.generate(model=TOOL_DEFAULT_MODEL, prompt=prompt, size="1024x1024", quality="low")
        assert exact.data is not None and exact.data[0].b64_json is not None
        assert revised.revised_prompt != prompt
        assert np.array_equal(pixels(revised.result), pixels(exact.data[0].b64_json)), prompt


def test_an_unknown_previous_response_is_a_400_naming_the_param(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        create(client, "make it dusk", previous_response_id="resp_missing")
    assert err.value.param == "previous_response_id" and "resp_missing" in err.value.message


def test_an_earlier_image_call_can_be_sent_back_by_id(client: openai.OpenAI) -> None:
    call = image_call(create(client, "a red fox"))
    message = {"role": "user", "content": [{"type": "input_text", "text": "make it blue"}]}
    again = image_call(create(client, [message, {"type": "image_generation_call", "id": call.id}]))
    assert again.action == "edit"
    with pytest.raises(openai.BadRequestError) as err:
        create(client, [message, {"type": "image_generation_call", "id": "ig_missing"}])
    assert err.value.param == "input[1].id"


def test_get_returns_stored_responses_only(fresh: openai.OpenAI) -> None:
    kept = create(fresh)
    assert fresh.responses.retrieve(kept.id).model_dump() == kept.model_dump()
    unstored = create(fresh, store=False)
    for missing in (unstored.id, "resp_never"):
        with pytest.raises(openai.NotFoundError):
            fresh.responses.retrieve(missing)


def test_health_counts_each_responses_request_received_and_no_lookup() -> None:
    with OfflineServer(ServerOptions(seed=7)) as srv, make_client(srv) as c:

        def received() -> int:
            return int(httpx.get(srv.base_url.removesuffix("/v1") + "/health").json()["received"])

        kept = create(c)
        assert list(stream(c))[-1].type == "response.completed"
        assert received() == 2, "a Responses request, streamed or not, is an image request received"
        c.responses.retrieve(kept.id)
        assert received() == 2, "looking a response up draws nothing"


def test_memory_is_bounded() -> None:
    with OfflineServer(ServerOptions(seed=7)) as srv, make_client(srv) as c:
        srv.app.responses.memory.capacity = 2
        oldest, *newer = [create(c, f"picture {n}") for n in range(3)]
        assert [c.responses.retrieve(r.id).id for r in newer] == [r.id for r in newer]
        with pytest.raises(openai.NotFoundError):
            c.responses.retrieve(oldest.id)
        with pytest.raises(openai.BadRequestError):
            create(c, "again", previous_response_id=oldest.id)


# ------------------------------------------------------------------------------------------------- input images


def test_a_mask_edit_keeps_every_pixel_outside_the_mask(client: openai.OpenAI) -> None:
    ramp = np.linspace(0, 255, 1024, dtype=np.uint8)
    base = Image.fromarray(np.stack([np.tile(ramp, (1024, 1)), np.tile(ramp[:, None], (1, 1024)),
                                     np.full((1024, 1024), 90, np.uint8)], axis=-1))  # fmt: skip
    alpha = np.full((1024, 1024), 255, np.uint8)
    alpha[300:700, 200:600] = 0  # transparent: edit here
    mask = Image.fromarray(np.dstack([np.zeros((1024, 1024, 3), np.uint8), alpha]), "RGBA")
    content = [{"type": "input_text", "text": "a yellow sun"}, {"type": "input_image", "image_url": data_url(base)}]
    tool = {"type": "image_generation", "input_image_mask": {"image_url": data_url(mask)}}
    call = image_call(create(client, [{"role": "user", "content": content}], tools=[tool]))
    assert call.action == "edit" and call.size == "1024x1024"  # size auto follows the input
    result, source = pixels(call.result), np.asarray(base, dtype=np.int16)
    outside = alpha == 255
    assert np.array_equal(result[outside], source[outside])
    assert np.abs(result[~outside] - source[~outside]).mean() > 10


def test_a_file_id_names_an_uploaded_picture_and_an_unknown_one_is_named(client: openai.OpenAI) -> None:
    base = Image.new("RGB", (1024, 1024), (40, 90, 160))
    uploaded = client.files.create(file=("base.png", png_bytes(base)), purpose="vision")
    content = [
        {"type": "input_text", "text": "a yellow sun"},
        {"type": "input_image", "file_id": uploaded.id, "detail": "auto"},
    ]
    call = image_call(create(client, [{"role": "user", "content": content}]))
    assert call.action == "edit" and call.size == "1024x1024"  # the uploaded picture is what was edited
    content[1]["file_id"] = "file-abc"
    with pytest.raises(openai.BadRequestError) as err:
        create(client, [{"role": "user", "content": content}])
    assert err.value.param == "input[0].content[1].file_id" and "file-abc" in err.value.message


def test_bad_input_images_are_named(client: openai.OpenAI) -> None:
    def send(url: str) -> openai.BadRequestError:
        content = [{"type": "input_text", "text": "a cat"}, {"type": "input_image", "image_url": url}]
        with pytest.raises(openai.BadRequestError) as err:
            create(client, [{"role": "user", "content": content}])
        return err.value

    assert send("https://example.com/cat.png").code == "invalid_image_url"
    assert send("data:image/png;base64,!!!").code == "invalid_base64_image"
    not_an_image = send("data:image/png;base64," + base64.b64encode(b"hello").decode())
    assert not_an_image.code == "invalid_image_format" and not_an_image.param == "input[0].content[1]"
    with pytest.raises(openai.BadRequestError) as err:
        create(client, "a cat", tools=[{"type": "image_generation", "action": "edit"}])
    assert err.value.param == "tools[0].action"


# ------------------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"size": "1000x1000"}, "tools[0].size"),
        ({"quality": "xhigh"}, "tools[0].quality"),  # the default tool model has no xhigh
        ({"partial_images": 4}, "tools[0].partial_images"),
        ({"model": "dall-e-3"}, "tools[0].model"),
        ({"background": "transparent", "output_format": "jpeg"}, "tools[0].background"),
        ({"model": "gpt-image-2", "input_fidelity": "high"}, "tools[0].input_fidelity"),
        ({"output_format": "gif"}, "tools[0].output_format"),
        ({"output_compression": 50}, "tools[0].output_compression"),  # png is lossless
        ({"moderation": "strict"}, "tools[0].moderation"),
        ({"n": 2}, "tools[0].n"),
    ],
)
def test_every_tool_field_is_checked_by_the_capability_table(
    client: openai.OpenAI, fields: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        create(client, tools=[{"type": "image_generation", **fields}])
    assert err.value.param == param and err.value.type == "invalid_request_error"


def test_the_retired_tool_model_follows_the_profile(client: openai.OpenAI, oa_client: openai.OpenAI) -> None:
    tool = {"type": "image_generation", "model": "gpt-image-1", "size": "1024x1024"}
    assert image_call(create(client, tools=[tool])).status == "completed"
    with pytest.raises(openai.BadRequestError, match="shut down") as err:
        create(oa_client, tools=[tool])
    assert err.value.param == "tools[0].model"


@pytest.mark.parametrize(("model", "code"), [("gpt-image-2", "unsupported_model"), ("gpt-nope", "model_not_found")])
def test_the_model_must_be_a_text_model(client: openai.OpenAI, model: str, code: str) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        create(client, model=model)
    assert (err.value.param, err.value.code) == ("model", code)
    assert isinstance(err.value.body, dict) and set(err.value.body) == {"message", "type", "param", "code"}


def test_tool_choice(client: openai.OpenAI) -> None:
    quiet = create(client, tool_choice="none")
    assert [item.type for item in quiet.output] == ["message"] and quiet.tool_usage.image_gen.output_tokens == 0  # type: ignore[union-attr]
    assert image_call(create(client, tool_choice="required")).status == "completed"
    for choice, tools in (({"type": "image_generation"}, []), ("required", []), ({"type": "web_search"}, [TOOL])):
        with pytest.raises(openai.BadRequestError) as err:
            create(client, tool_choice=choice, tools=tools)
        assert err.value.param == "tool_choice"
    with pytest.raises(openai.BadRequestError) as err:
        create(client, tools=[TOOL, {"type": "web_search"}])
    assert err.value.param == "tools[1].type"


def test_unknown_parameters_are_refused(server: OfflineServer) -> None:
    reply = post(server, {"model": TEXT_MODEL, "input": "x", "tools": [TOOL], "n": 2})
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "n"


@pytest.mark.parametrize(
    ("fields", "param", "code"),
    [
        ({"metadata": "x"}, "metadata", "invalid_type"),
        ({"metadata": {"run": {"nested": "no"}}}, "metadata.run", "invalid_type"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata", "object_above_max_properties"),
        ({"metadata": {"k" * 65: "v"}}, "metadata", "string_above_max_length"),
        ({"metadata": {"k": "v" * 513}}, "metadata.k", "string_above_max_length"),
        ({"temperature": "hot"}, "temperature", "invalid_type"),
        ({"temperature": 2.5}, "temperature", "decimal_above_max_value"),
        ({"top_p": "1"}, "top_p", "invalid_type"),
        ({"max_output_tokens": 1.5}, "max_output_tokens", "invalid_type"),
        ({"top_logprobs": 21}, "top_logprobs", "integer_above_max_value"),
        ({"user": 5}, "user", "invalid_type"),
        ({"parallel_tool_calls": "yes"}, "parallel_tool_calls", "invalid_type"),
        ({"truncation": "sometimes"}, "truncation", "invalid_value"),
        ({"tools": [{**TOOL, "partial_images": "3"}]}, "tools[0].partial_images", "invalid_type"),
        ({"tools": [{**TOOL, "output_compression": True}]}, "tools[0].output_compression", "invalid_type"),
        ({"tools": [{**TOOL, "size": 1024}]}, "tools[0].size", "invalid_type"),
    ],
)
def test_fields_the_sdk_types_are_refused_with_the_wrong_type(
    server: OfflineServer, fields: dict[str, Any], param: str, code: str
) -> None:
    """OpenAI answers these with a 400 naming the field; they used to be echoed back with a 200."""
    reply = post(server, {"model": TEXT_MODEL, "input": "a fox", "tools": [TOOL], **fields})
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error")
    assert f"'{param}'" in error["message"] or "'metadata'" in error["message"]


def test_well_typed_fields_are_taken_and_echoed(client: openai.OpenAI) -> None:
    metadata = {f"k{i}": "v" * 512 for i in range(15)} | {"k" * 64: "run 7"}
    response = create(
        client,
        metadata=metadata,
        temperature=0.5,
        top_p=1,
        max_output_tokens=500,
        user="person-1",
        truncation="auto",
        tools=[{**TOOL, "partial_images": 3, "output_compression": 100}],
    )
    assert response.metadata == metadata and response.temperature == 0.5 and response.user == "person-1"
    assert response.max_output_tokens == 500 and response.truncation == "auto"
    assert image_call(response).status == "completed"


# ------------------------------------------------------------------------------------------------- failures


def test_a_blocked_prompt_fails_the_call_and_the_response(client: openai.OpenAI) -> None:
    response = create(client, "a #blocked cat")
    exact(response)
    assert response.status == "failed" and response.error is not None
    assert response.error.code == "image_content_policy_violation"
    call = image_call(response)
    assert call.status == "failed" and call.result is None and call.error is not None
    assert call.error.code == "moderation_blocked" and call.error.moderation_details is not None
    assert response.tool_usage.image_gen.total_tokens == 0  # type: ignore[union-attr]
    assert client.responses.retrieve(response.id).status == "failed"


def test_a_blocked_prompt_ends_a_stream_with_response_failed(client: openai.OpenAI) -> None:
    kinds = [event.type for event in stream(client, "a #blocked cat")]
    assert kinds[0] == "response.created" and kinds[-1] == "response.failed"
    assert "response.image_generation_call.generating" not in kinds
    with client.responses.stream(model=TEXT_MODEL, input="a #blocked cat", tools=[TOOL]) as helper:  # type: ignore[list-item]
        failed = [event.response for event in helper if event.type == "response.failed"]
        assert failed and image_call(failed[0]).error.code == "moderation_blocked"
        with pytest.raises(RuntimeError, match="response.completed"):
            helper.get_final_response()


@pytest.mark.parametrize(
    ("kind", "error"),
    [("429", openai.RateLimitError), ("500", openai.InternalServerError), ("503", openai.InternalServerError)],
)
def test_http_faults_raise_the_sdk_classes(kind: str, error: type[Exception]) -> None:
    with OfflineServer(ServerOptions(faults=parse_faults(f"{kind}:1"))) as srv, make_client(srv) as c:
        with pytest.raises(error):
            create(c)
        with pytest.raises(error):
            stream(c)


def test_drop_cuts_a_response_and_a_stream_half_way() -> None:
    with OfflineServer(ServerOptions(faults=parse_faults("drop:1"))) as srv, make_client(srv) as c:
        with pytest.raises(openai.APIConnectionError):
            create(c)
        seen: list[str] = []
        with pytest.raises(openai.APIConnectionError):
            for event in stream(c, tools=[{**TOOL, "partial_images": 3}]):
                seen.append(event.type)
        assert seen[0] == "response.created" and "response.completed" not in seen


def test_garbage_and_reset() -> None:
    for kind, error in (("garbage", json.JSONDecodeError), ("reset", openai.APIConnectionError)):
        server = OfflineServer(ServerOptions(faults=parse_faults(f"{kind}:1")))
        with server as srv, make_client(srv) as c, pytest.raises(error):
            create(c)


def test_the_key_is_checked_when_configured() -> None:
    with OfflineServer(ServerOptions(api_key="sesame")) as srv:
        with make_client(srv, api_key="wrong") as c, pytest.raises(openai.AuthenticationError):
            create(c)
        with make_client(srv, api_key="sesame") as c:
            kept = create(c)
        with make_client(srv, api_key="wrong") as c, pytest.raises(openai.AuthenticationError):
            c.responses.retrieve(kept.id)


def test_oversized_bodies_are_refused_while_reading(server: OfflineServer) -> None:
    huge = "data:image/png;base64," + "A" * (51 * 1024 * 1024)
    content = [{"type": "input_text", "text": "x"}, {"type": "input_image", "image_url": huge}]
    reply = post(server, {"model": TEXT_MODEL, "input": [{"role": "user", "content": content}], "tools": [TOOL]})
    assert reply.status_code == 413 and reply.json()["error"]["code"] == "request_too_large"


def test_a_picture_round_trips_as_input(client: openai.OpenAI) -> None:
    source = Image.new("RGB", (1024, 1024), (20, 40, 200))
    content = [{"type": "input_text", "text": "a red kite"}, {"type": "input_image", "image_url": data_url(source)}]
    call = image_call(create(client, [{"role": "user", "content": content}]))
    assert call.action == "edit" and decode(call.result).size == (1024, 1024)
    generated = image_call(
        create(client, [{"role": "user", "content": content}], tools=[{**TOOL, "action": "generate"}])
    )
    assert generated.action == "generate"
    assert io.BytesIO(base64.b64decode(generated.result)).getbuffer().nbytes > 0
