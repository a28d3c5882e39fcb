"""The offline server's Responses API for the image tool: ``POST /v1/responses`` and ``GET /v1/responses/{id}``.

GPT image models return no ``revised_prompt`` from the Images API.  The Responses API's image tool does (a text model
rewrites the prompt and calls the image model), and it lets a person refine a picture by pointing at the previous
response.  This module answers those requests as OpenAI does, in JSON and in server-sent events in the order the
SDK's ``responses.stream()`` helper enforces, so the official SDK and dalle_nb's client work unchanged offline.

Its one job is the Responses protocol: reading the request, the conversation memory and the event lifecycle.  Auth,
faults, body limits, error bodies and the drawing threads come from the ``Gate`` (``http``); every image field is
checked by ``dalle_nb.models``; pixels and encoding come from the painter's ``draw``.

Where OpenAI's behaviour is not documented the choice is local and says so: the wording of the refusal of an image
model as ``model``, that ``tool_choice="auto"`` with the tool present always calls it, and that a moderation block
fails the whole response (HTTP 200, ``status: "failed"``) besides failing the call item.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import itertools
import json
import re
import secrets
import threading
import time
import typing
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..core import tokens
from ..core.capabilities import (
    MODELS,
    RESPONSES_MAX_BYTES,
    RESPONSES_MAX_IMAGES,
    Endpoint,
    ParamError,
    check_inputs,
    get_model,
    resolve_size,
    validate,
)
from ..core.costs import TOOL_TOKENS
from .http import (
    BLOCKED_WORD,
    REFERENCE_SIDE,
    APIFailure,
    Body,
    BrokenResponse,
    Gate,
    StreamCut,
    approx_bytes,
    check_pictures,
    first_index,
    measure,
    sleep_unless_gone,
    sse,
    token_usage,
)
from .options import Fault
from .typed import check_create_fields, check_tool_types

#: How many responses the server remembers for ``previous_response_id`` and ``GET``; the oldest unused go first.
STORE_CAPACITY = 256
#: And how many bytes they may hold together (their text and their last picture), so that a few requests with a
#: 20 MB ``instructions`` each cannot make the server keep gigabytes: 20 of them once kept 470 MB.  A turn with a
#: picture holds some 2 to 4 MB, so this keeps the last 16 or more: what a conversation refers back to.
STORE_BYTES = 64 * 1024 * 1024
#: The image model the tool uses when none is named (``ImageGeneration.model`` in the SDK: "Default:
#: `gpt-image-2.6-sunburst`"); the capability table's row says so too.
TOOL_DEFAULT_MODEL = "gpt-image-2.6-sunburst"

#: The body fields of ``client.responses.create`` (SDK 3.54 ``ResponseCreateParams``) plus ``stream``.
CREATE_FIELDS = frozenset(
    {
        "access_programs", "background", "background_options", "context_management", "conversation", "image",
        "include", "input", "instructions", "max_output_tokens", "max_tool_calls", "metadata", "model", "moderation",
        "parallel_tool_calls", "previous_response_id", "prompt", "prompt_cache_key", "prompt_cache_options",
        "prompt_cache_retention", "reasoning", "safety_identifier", "service_tier", "store", "stream",
        "stream_options", "temperature", "text", "tool_choice", "tools", "top_logprobs", "top_p", "truncation", "user",
    }
)  # fmt: skip
#: The fields of the SDK's ``ImageGeneration`` tool.
TOOL_FIELDS = frozenset(
    {
        "type", "action", "background", "complexity", "frame_count", "frame_duration_ms", "input_fidelity",
        "input_image_mask", "model", "moderation", "output_compression", "output_format", "partial_images", "quality",
        "size", "svg",
    }
)  # fmt: skip
#: Tool fields with the same meaning as the Images API field of the same name, checked by ``models.validate``.
_SHARED_FIELDS = (
    "size", "quality", "background", "output_format", "output_compression", "complexity", "partial_images",
    "frame_count", "frame_duration_ms", "svg",
)  # fmt: skip
_ACTIONS = ("generate", "edit", "auto")
_NO_IMAGE_USAGE: dict[str, Any] = {
    "input_tokens": 0,
    "input_tokens_details": {"image_tokens": 0, "text_tokens": 0},
    "output_tokens": 0,
    "output_tokens_details": {"image_tokens": 0, "text_tokens": 0},
    "total_tokens": 0,
}

# ------------------------------------------------------------------------------------------------- revised prompts

_FRAMINGS = (
    "seen in a classic 35 mm framing",
    "composed like a carefully lit studio shot",
    "shown in a wide establishing view",
    "brought close in an intimate, detailed view",
    "arranged along a gentle rule-of-thirds grid",
    "staged with a clear foreground, middle ground and background",
)
_TOUCHES = (
    "a single clear focal point",
    "a subtle, even film grain",
    "a shallow depth of field",
    "crisp, clean edges",
    "generous negative space",
    "softly blended ambient shadows",
    "a faint atmospheric haze",
)


def revision(
    original: str, steps: tuple[str, ...] = (), *, text_model: str, index: int = 0, backdrop: bool = True
) -> str:
    """The prompt the text model hands the image tool: ``original`` (and each refinement in ``steps``) made richer.

    A real text model rewrites differently per model and per turn, so the style and the closing phrases are picked
    by a digest of the text model, the turn and the picture index; the user's own words stay verbatim, so a person
    finds them in the rewrite.  It is the one place a revision is made, so a scene-describing rewrite can replace it.
    ``backdrop`` False: the picture is an edit of a person's own, whose setting the words do not tell, so a setting
    they do not name is not claimed.
    """
    from .painter import draw  # not at the top: the painter (numpy, Pillow) loads with the first picture

    subject = scene_words(original, steps)
    digest = hashlib.blake2b(f"{text_model}\0{len(steps)}\0{index}".encode(), digest_size=8).digest()
    style = ("vivid", "natural")[digest[0] % 2]
    base = draw.revise_prompt(subject, style=style, backdrop=backdrop).rstrip(".")
    return f"{base}, {_FRAMINGS[digest[1] % len(_FRAMINGS)]}, finished with {_TOUCHES[digest[2] % len(_TOUCHES)]}."


def scene_words(original: str, steps: tuple[str, ...] = ()) -> str:
    """The words a conversation's picture is drawn from: the first prompt, then each turn's change, in order.

    The picture is drawn from these and not from the revised prompt: the rewrite's framing phrases ("generous
    negative space", "glowing colours") would otherwise be read as scene words, and the picture stop following
    what the person asked.  The revised prompt describes this same scene, so the two agree.
    """
    return ". ".join(text.strip().rstrip(".") for text in (original, *steps) if text.strip())


@functools.cache
def text_models() -> frozenset[str]:
    """The text model ids the installed SDK names (``ChatModel``): the models that can call the image tool.

    The list moves with every SDK release, so it is read from the SDK rather than copied here.
    """
    from openai.types.shared.chat_model import ChatModel  # not at the top: the SDK's types take ~0.5 s to import

    return frozenset(typing.get_args(ChatModel))


def check_text_model(model: object) -> str:
    """``model`` when it names a text model; otherwise the 400 OpenAI gives for a model it cannot use here."""
    if model is None:
        raise APIFailure(400, "Missing required parameter: 'model'.", param="model", code="missing_required_parameter")
    if not isinstance(model, str):
        raise APIFailure(400, "Invalid type for 'model': expected a string.", param="model", code="invalid_type")
    if model in text_models():
        return model
    if model in MODELS:  # local wording: OpenAI's own for this case is not documented
        raise APIFailure(
            400,
            f"The model '{model}' is an image model, not a text model. The Responses API needs a text model (such "
            f"as 'gpt-5.5') that calls the image_generation tool; name the image model in tools[].model.",
            param="model",
            code="unsupported_model",
        )
    raise APIFailure(400, f"The requested model '{model}' does not exist.", param="model", code="model_not_found")


# ------------------------------------------------------------------------------------------------- memory


@dataclass(frozen=True)
class _Turn:
    """What a stored response remembers so that a later ``previous_response_id`` can continue it."""

    body: dict[str, Any]
    original: str
    steps: tuple[str, ...]
    #: The latest picture of the conversation (this turn's, or an earlier one's), encoded as it was sent.
    image: bytes | None
    #: The picture is what ``original`` and ``steps`` describe (every turn drawn from words, no input picture),
    #: so a next turn can draw the changed scene afresh instead of painting over the last picture.
    drawn: bool = False


class _Memory:
    """Stored responses, least recently used first, at most ``capacity`` of them and ``limit`` bytes together.

    The least recently used go first when either is passed; a response larger than ``limit`` on its own is not
    kept at all, so a later ``previous_response_id`` naming it is answered as for any response not found.
    Requests are parsed in worker threads while the event loop stores results, hence the lock.
    """

    def __init__(self, capacity: int = STORE_CAPACITY, limit: int = STORE_BYTES) -> None:
        self.capacity = capacity
        self.limit = limit
        self._turns: OrderedDict[str, tuple[_Turn, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def bytes(self) -> int:
        """What the stored responses hold, as ``put`` counts it."""
        return self._bytes

    def put(self, turn: _Turn) -> None:
        """Remember ``turn``, counted by its body, its picture and its words."""
        size = (
            approx_bytes(turn.body)
            + len(turn.image or b"")
            + len(turn.original)
            + sum(len(step) for step in turn.steps)
        )
        key = turn.body["id"]
        with self._lock:
            old = self._turns.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._turns[key] = (turn, size)
            self._bytes += size
            while self._turns and (len(self._turns) > self.capacity or self._bytes > self.limit):
                self._bytes -= self._turns.popitem(last=False)[1][1]

    def get(self, response_id: str) -> _Turn | None:
        with self._lock:
            found = self._turns.get(response_id)
            if found is None:
                return None
            self._turns.move_to_end(response_id)
            return found[0]

    def find_item(self, item_id: str) -> dict[str, Any] | None:
        """An output item of any stored response, by its id (``ig_…``, ``msg_…``)."""
        with self._lock:
            for turn, _ in reversed(self._turns.values()):
                for item in turn.body["output"]:
                    if item.get("id") == item_id:
                        return dict(item)
        return None


# ------------------------------------------------------------------------------------------------- a parsed request


@dataclass
class _Call:
    """The image tool call a request leads to, fully decided before any waiting or drawing."""

    item_id: str
    action: str  # "generate" or "edit"
    model: str
    width: int
    height: int
    output_format: str
    compression: int
    quality: str  # effective: what the item and the events report
    background: str  # effective: "transparent" or "opaque"
    partial_images: int
    revised_prompt: str
    blocked: bool
    #: What an edit draws into the picture: the latest turn's own words ("add a full moon"), not the revised
    #: description of the whole scene, which would draw the fox that is already there a second time.
    instruction: str = ""
    #: The words the picture is drawn from (``scene_words``): the prompt and each turn's change.
    scene: str = ""
    #: A turn of a conversation whose picture came from words: draw the changed scene again (the same layout, the
    #: new light, the added subject) rather than paint over the last picture, which would look like two exposures.
    redraw: bool = False
    base: Any = None  # PIL image to edit, or None to generate
    mask: Any = None
    references: list[Any] = field(default_factory=list)
    #: The sizes of the pictures the image model reads (an edit's), as sent: what its input tokens count.
    inputs: list[tuple[int, int]] = field(default_factory=list)
    input_fidelity: str | None = None

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"


@dataclass
class _Plan:
    """One valid request: everything needed to draw and to answer."""

    response_id: str
    created_at: int
    model: str
    echo: dict[str, Any]
    stream: bool
    store: bool
    original: str
    steps: tuple[str, ...]
    index: int
    input_tokens: int
    message: str
    call: _Call | None
    earlier_image: bytes | None

    @property
    def message_deltas(self) -> list[str]:
        return re.findall(r"\S+\s*", self.message)


@dataclass
class _Input:
    user_texts: list[str] = field(default_factory=list)
    other_texts: list[str] = field(default_factory=list)
    #: (param path, encoded picture): checked by their headers (``check_pictures``), decoded only by ``_call``.
    pictures: list[tuple[str, bytes]] = field(default_factory=list)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


def _refused(error: ParamError, param: str) -> APIFailure:
    """A capability-table refusal, named by its place in the Responses request (``tools[0].size``, ``input``)."""
    return APIFailure(413 if error.status == 413 else 400, error.message, param=param, code=error.code)


# ------------------------------------------------------------------------------------------------- the routes


class ResponsesAPI:
    """``/v1/responses`` bound to one server's ``Gate``: its options, its faults and its error handling.

    Input images given as a data URL or a ``file_id`` are read through the gate (``Gate.image_ref``), from the
    server's file store.
    """

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.options = gate.options
        self.memory = _Memory()

    def routes(self) -> list[Route]:
        return [
            Route("/v1/responses", self.create, methods=["POST"]),
            Route("/v1/responses/{response_id}", self.retrieve, methods=["GET"]),
        ]

    async def create(self, request: Request) -> Response:
        return await self.gate.guard(request, "responses", self._create, limit=RESPONSES_MAX_BYTES)

    async def retrieve(self, request: Request) -> Response:
        self.gate.check_key(request)
        response_id = request.path_params["response_id"]
        turn = self.memory.get(response_id)
        if turn is None:
            return APIFailure(404, f"Response with id '{response_id}' not found.").response()
        return JSONResponse(turn.body)

    # ------------------------------------------------------------------ answering
    async def _create(self, request: Request, reader: Body, fault: Fault | None) -> Response:
        params = await reader.json()
        plan = await run_in_threadpool(self._plan, params, first_index(request))
        if plan.stream:
            return StreamingResponse(
                self._stream(plan, fault), media_type="text/event-stream", headers={"cache-control": "no-cache"}
            )
        call = plan.call
        if call is not None and call.blocked:
            body = self._finish(plan, [self._failed_item(call)], failed=True)
        else:
            output: list[dict[str, Any]] = []
            encoded = None
            if call is not None:
                # the request is valid and read: now take as long as a real model would (refusals come at once)
                from .painter import draw  # not at the top: the painter (numpy, Pillow) loads with the first picture

                started = time.monotonic()
                drawing = asyncio.ensure_future(
                    self.gate.draw(
                        lambda _: draw.encode(self._draw(plan, call), call.output_format, compression=call.compression),
                        0,
                    )
                )
                try:
                    await sleep_unless_gone(request, self.options.latency - (time.monotonic() - started))
                    encoded = await drawing
                finally:
                    if not drawing.done():
                        drawing.cancel()
                output.append(self._image_item(call, encoded))
            output.append(self._message_item(plan, _new_id("msg")))
            body = self._finish(plan, output, failed=False, image=encoded)
        payload = json.dumps(body).encode()
        if fault is not None and fault.kind == "drop":
            return BrokenResponse(payload[: len(payload) // 2], len(payload))
        return Response(payload, media_type="application/json")

    async def _stream(self, plan: _Plan, fault: Fault | None) -> AsyncIterator[bytes]:
        """The events of ``_lifecycle``; a ``drop`` fault cuts the connection half-way through them."""
        total = _event_count(plan)
        sent = 0
        async for chunk in self._lifecycle(plan):
            if fault is not None and fault.kind == "nofinal" and b'"response.image_generation_call.completed"' in chunk:
                return  # the stream ends cleanly without its final picture
            yield chunk
            sent += 1
            if fault is not None and fault.kind == "drop" and sent * 2 >= total:
                raise StreamCut

    async def _lifecycle(self, plan: _Plan) -> AsyncIterator[bytes]:
        """Server-sent events in the order the SDK's stream helper checks (responses-image-tool.md, B3)."""
        from .painter import draw  # not at the top: the painter (numpy, Pillow) loads with the first picture

        counter = itertools.count()

        def emit(kind: str, **fields: Any) -> bytes:
            return sse({"type": kind, "sequence_number": next(counter), **fields})

        pending = self._body(plan, status="in_progress", output=[])
        yield emit("response.created", response=pending)
        yield emit("response.in_progress", response=pending)
        output: list[dict[str, Any]] = []
        encoded: bytes | None = None
        call = plan.call
        if call is not None:
            at = {"output_index": 0, "item_id": call.item_id}
            started = {"id": call.item_id, "type": "image_generation_call", "status": "in_progress", "result": None}
            yield emit("response.output_item.added", output_index=0, item=started)
            yield emit("response.image_generation_call.in_progress", **at)
            if call.blocked:
                failed = self._failed_item(call)
                yield emit("response.output_item.done", output_index=0, item=failed)
                yield emit("response.failed", response=self._finish(plan, [failed], failed=True))
                return
            yield emit("response.image_generation_call.generating", **at)
            picture = await self.gate.draw(lambda _: self._draw(plan, call), 0)
            frames = await run_in_threadpool(draw.partial_frames, picture, call.partial_images)
            # a stream spreads the latency over its pictures, so partial images arrive over time
            pause = self.options.latency / (len(frames) + 1)
            common = {
                "background": call.background,
                "output_format": call.output_format,
                "quality": call.quality,
                "size": call.size,
            }
            for number, frame in enumerate(frames):
                await asyncio.sleep(pause)
                data = await run_in_threadpool(draw.encode, frame, call.output_format, compression=call.compression)
                b64 = base64.b64encode(data).decode("ascii")
                yield emit(
                    "response.image_generation_call.partial_image",
                    **at,
                    partial_image_index=number,
                    partial_image_b64=b64,
                    **common,
                )
            await asyncio.sleep(pause)
            encoded = await run_in_threadpool(draw.encode, picture, call.output_format, compression=call.compression)
            yield emit("response.image_generation_call.completed", **at)
            item = self._image_item(call, encoded)
            yield emit("response.output_item.done", output_index=0, item=item)
            output.append(item)
        message = self._message_item(plan, _new_id("msg"))
        index = len(output)
        where = {"item_id": message["id"], "output_index": index, "content_index": 0}
        yield emit(
            "response.output_item.added", output_index=index, item={**message, "status": "in_progress", "content": []}
        )
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        yield emit("response.content_part.added", **where, part=part)
        for delta in plan.message_deltas:
            yield emit("response.output_text.delta", **where, delta=delta, logprobs=[])
        yield emit("response.output_text.done", **where, text=plan.message, logprobs=[])
        yield emit("response.content_part.done", **where, part=message["content"][0])
        yield emit("response.output_item.done", output_index=index, item=message)
        output.append(message)
        yield emit("response.completed", response=self._finish(plan, output, failed=False, image=encoded))

    # ------------------------------------------------------------------ building the answer
    def _draw(self, plan: _Plan, call: _Call) -> Any:
        """The picture: the scene the words describe (and the revised prompt describes), or an edit of the base."""
        from .painter import draw  # not at the top: the painter (numpy, Pillow) loads with the first picture

        transparent = call.background == "transparent"
        if call.base is None or call.redraw:
            return draw.generate_image(
                call.scene,
                call.width,
                call.height,
                model=call.model,
                index=plan.index,
                seed=self.options.seed,
                transparent=transparent,
            )
        source, guide = draw.fit_for_edit(call.base, call.mask, (call.width, call.height))
        return draw.edit_image(
            source,
            call.instruction or call.revised_prompt,
            mask=guide,
            references=call.references,
            index=plan.index,
            seed=self.options.seed,
            model=call.model,
            transparent=transparent,
        )

    def _image_item(self, call: _Call, encoded: bytes) -> dict[str, Any]:
        return {
            **self._call_fields(call),
            "status": "completed",
            "result": base64.b64encode(encoded).decode("ascii"),
            "error": None,
        }

    def _failed_item(self, call: _Call) -> dict[str, Any]:
        error = {
            "code": "moderation_blocked",
            "message": _BLOCKED_MESSAGE,
            "param": None,
            "type": "image_generation_user_error",
            "moderation_details": {"categories": ["offline_blocked_word"], "moderation_stage": "input"},
        }
        return {**self._call_fields(call), "status": "failed", "result": None, "error": error}

    @staticmethod
    def _call_fields(call: _Call) -> dict[str, Any]:
        return {
            "id": call.item_id,
            "type": "image_generation_call",
            "action": call.action,
            "background": call.background,
            "output_format": call.output_format,
            "quality": call.quality,
            "revised_prompt": call.revised_prompt,
            "size": call.size,
            "svg_usage": None,
        }

    @staticmethod
    def _message_item(plan: _Plan, item_id: str) -> dict[str, Any]:
        return {
            "id": item_id,
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": plan.message, "annotations": [], "logprobs": []}],
        }

    def _body(
        self,
        plan: _Plan,
        *,
        status: str,
        output: list[dict[str, Any]],
        usage: dict[str, Any] | None = None,
        tool_usage: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A ``Response`` object: every field OpenAI sends, none the SDK's type lacks."""
        return {
            "id": plan.response_id,
            "object": "response",
            "created_at": plan.created_at,
            "status": status,
            "completed_at": int(time.time()) if status == "completed" else None,
            "error": error,
            "incomplete_details": None,
            "model": plan.model,
            "output": output,
            "usage": usage,
            "tool_usage": tool_usage,
            "conversation": None,
            "prompt": None,
            **plan.echo,
        }

    def _finish(
        self, plan: _Plan, output: list[dict[str, Any]], *, failed: bool, image: bytes | None = None
    ) -> dict[str, Any]:
        """The final ``Response`` (completed or failed), remembered for ``GET`` and ``previous_response_id``."""
        call = plan.call
        # what the text model wrote: the revised prompt it handed the tool and its message, counted as core counts
        # text, so the bill stays within the estimate's room for a revision (``costs.REVISION_TOKENS``)
        written = plan.message if call is None else f"{call.revised_prompt} {plan.message}"
        output_tokens = tokens.text_tokens(written)
        usage = {
            "input_tokens": plan.input_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": plan.input_tokens + output_tokens,
        }
        image_usage = _NO_IMAGE_USAGE  # a blocked call is not charged, like a refused Images request
        if call is not None and not failed:
            size = (call.width, call.height)
            image_usage = token_usage(
                call.model, call.revised_prompt, call.quality, size, 1, call.inputs, call.input_fidelity
            )
        error = None
        if failed:
            error = {
                "code": "image_content_policy_violation",
                "message": _BLOCKED_MESSAGE,
                "param": None,
                "type": "image_generation_user_error",
            }
        body = self._body(
            plan,
            status="failed" if failed else "completed",
            output=output,
            usage=usage,
            tool_usage={"image_gen": image_usage, "web_search": {"num_requests": 0}},
            error=error,
        )
        if plan.store:
            drawn = plan.call is not None and (plan.call.base is None or plan.call.redraw)
            self.memory.put(_Turn(body, plan.original, plan.steps, image or plan.earlier_image, drawn=drawn))
        return body

    # ------------------------------------------------------------------ reading the request
    def _plan(self, params: dict[str, Any], index: int) -> _Plan:
        """Check the whole request and decide the answer; raises ``APIFailure`` for the first problem."""
        unknown = sorted(set(params) - CREATE_FIELDS)
        if unknown:
            raise APIFailure(400, f"Unknown parameter: '{unknown[0]}'.", param=unknown[0], code="unknown_parameter")
        model = check_text_model(params.get("model"))
        check_create_fields(params)
        for name, why in (
            ("conversation", "the offline server keeps no conversations; chain turns with previous_response_id"),
            ("prompt", "the offline server has no stored prompt templates; send the text in input"),
        ):
            if params.get(name) is not None:
                raise APIFailure(
                    400, f"'{name}' is not supported offline: {why}.", param=name, code="unsupported_parameter"
                )
        stream = _flag(params, "stream", False)
        store = _flag(params, "store", True)
        previous = self._previous(params.get("previous_response_id"))
        tool_index, tool = _image_tool(params.get("tools"))
        calls_tool = _calls_tool(params.get("tool_choice", "auto"), tool is not None)
        read = self._read_input(params.get("input"))
        seen = check_pictures(read.pictures, most=RESPONSES_MAX_IMAGES, extra=_mask_bytes(self.gate, tool, tool_index))
        prompt = " ".join(text.strip() for text in read.user_texts if text.strip())
        if calls_tool and not prompt:
            raise APIFailure(
                400,
                "The image_generation tool needs a text prompt: send 'input' as a string or with an input_text part.",
                param="input",
                code="missing_required_parameter",
            )
        if previous is not None and previous.original:
            original, steps = previous.original, (*previous.steps, prompt)
        else:
            original, steps = prompt, ()
        call = None
        settings: dict[str, Any] = {}
        if tool is not None:
            settings = _check_tool(tool, tool_index, prompt or "-", self.options.profile)
        if calls_tool and tool is not None:
            call = self._call(tool, tool_index, settings, prompt, read, previous, original, steps, model, index)
        instructions = params.get("instructions")
        if instructions is not None and not isinstance(instructions, str):
            raise APIFailure(400, "'instructions' must be a string.", param="instructions", code="invalid_type")
        # what the text model reads, counted as ``core.costs`` estimates it: the text, the tool's definition and
        # each picture in the input at its size (a previous response's picture goes to the image tool, not here)
        text = " ".join(t.strip() for t in (*read.user_texts, *read.other_texts, instructions or "") if t.strip())
        input_tokens = (
            tokens.text_tokens(text)
            + sum(tokens.input_image_tokens(width, height).tokens for width, height in seen)
            + (TOOL_TOKENS if tool is not None else 0)
        )
        if call is None:
            message = (
                'This offline stand-in only draws pictures: add tools=[{"type": "image_generation"}] '
                "(and leave tool_choice on 'auto') to get one."
            )
        elif steps:
            message = "Here is the picture again, changed as you asked."
        else:
            message = "Here is your picture, drawn from a fuller description of your prompt."
        echo_tools = [] if tool is None else [{**tool, **settings}]
        return _Plan(
            response_id=_new_id("resp"),
            created_at=int(time.time()),
            model=model,
            echo=_echo(params, echo_tools),
            stream=stream,
            store=store,
            original=original,
            steps=steps,
            index=index,
            input_tokens=input_tokens,
            message=message,
            call=call,
            earlier_image=previous.image if previous is not None else None,
        )

    def _previous(self, response_id: object) -> _Turn | None:
        if response_id is None:
            return None
        if not isinstance(response_id, str):
            raise APIFailure(
                400, "'previous_response_id' must be a string.", param="previous_response_id", code="invalid_type"
            )
        turn = self.memory.get(response_id)
        if turn is None:  # local choice of code; the message is OpenAI's
            raise APIFailure(
                400,
                f"Previous response with id '{response_id}' not found.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        return turn

    def _call(
        self,
        tool: Mapping[str, Any],
        tool_index: int,
        settings: dict[str, Any],
        prompt: str,
        read: _Input,
        previous: _Turn | None,
        original: str,
        steps: tuple[str, ...],
        text_model: str,
        index: int,
    ) -> _Call:
        """Decide what the tool call draws: a new picture, or an edit of the first image in context."""
        where = f"tools[{tool_index}]"
        pictures = list(read.pictures)
        if not pictures and previous is not None and previous.image is not None:
            pictures.append(("previous_response_id", previous.image))
        action = settings["action"]
        if action == "edit" and not pictures:
            raise APIFailure(
                400,
                "action 'edit' needs an image in context: an input_image, an image_generation_call item, or a "
                "previous_response_id whose response made one.",
                param=f"{where}.action",
                code="invalid_value",
            )
        editing = action != "generate" and bool(pictures)
        spec = get_model(settings["model"])
        mask = None
        mask_ref = tool.get("input_image_mask")
        if mask_ref is not None:
            if not editing:
                raise APIFailure(
                    400,
                    "input_image_mask needs an image to edit: send an input_image (the mask applies to the first).",
                    param=f"{where}.input_image_mask",
                    code="invalid_value",
                )
            mask_at = f"{where}.input_image_mask"
            mask = measure(mask_at, self.gate.image_ref(mask_ref, mask_at, loose=True))
        # one at a time, after their headers passed: the first at full size (the picture edited), the others only
        # tint the drawing and are kept small, so the request's pictures are never all held decoded at once
        decoded = [
            measure(at, data, keep=REFERENCE_SIDE if n else None)
            for n, (at, data) in enumerate(pictures if editing else [])
        ]
        if editing:
            try:
                check_inputs(spec, "edits", [p.info for p in decoded], mask.info if mask else None)
            except ParamError as error:
                names = {"mask": f"{where}.input_image_mask", "image": pictures[0][0]}
                param = names.get(error.field) or _picture_param(error.field, pictures)
                raise _refused(error, param) from None
        base = decoded[0].image if editing else None
        fidelity = tool.get("input_fidelity")
        # auto is the model's own size nearest the picture's shape, as for the Images API's edits
        endpoint: Endpoint = "edits" if base is not None else "generations"
        width, height = resolve_size(spec, settings["size"], endpoint, base.size if base is not None else None)
        quality = settings["quality"]
        redraw = editing and not read.pictures and mask is None and previous is not None and previous.drawn
        return _Call(
            item_id=_new_id("ig"),
            action="edit" if editing else "generate",
            model=spec.id,
            width=width,
            height=height,
            output_format=settings["output_format"],
            compression=settings["output_compression"],
            quality="medium" if quality == "auto" else quality,
            background="transparent" if settings["background"] == "transparent" else "opaque",
            partial_images=settings["partial_images"],
            revised_prompt=revision(
                original, steps, text_model=text_model, index=index, backdrop=base is None or redraw
            ),
            blocked=BLOCKED_WORD in " ".join((original, *steps)).lower(),
            instruction=steps[-1] if steps else original,
            scene=scene_words(original, steps),
            redraw=redraw,
            base=base,
            mask=mask.image if mask is not None else None,
            references=[p.image for p in decoded[1:]] if editing else [],
            inputs=[(p.info.width, p.info.height) for p in decoded],
            input_fidelity=fidelity if isinstance(fidelity, str) else None,
        )

    def _read_input(self, value: object) -> _Input:
        """The texts and pictures of ``input``: a string, or a list of messages and earlier image calls."""
        read = _Input()
        if value is None:
            raise APIFailure(
                400, "Missing required parameter: 'input'.", param="input", code="missing_required_parameter"
            )
        if isinstance(value, str):
            read.user_texts.append(value)
            return read
        if not isinstance(value, list):
            raise APIFailure(
                400, "'input' must be a string or a list of input items.", param="input", code="invalid_type"
            )
        for number, item in enumerate(value):
            where = f"input[{number}]"
            if not isinstance(item, dict):
                raise APIFailure(400, f"'{where}' must be an object.", param=where, code="invalid_type")
            kind = item.get("type", "message" if "role" in item else None)
            if kind == "message":
                self._read_message(item, where, read)
            elif kind in ("image_generation_call", "item_reference"):
                self._read_call(item, where, read)
            elif kind == "reasoning":
                continue  # a real model's private notes: nothing to draw from
            else:
                raise APIFailure(
                    400,
                    f"Input items of type {kind!r} are not supported offline; send messages, image_generation_call "
                    "or item_reference items.",
                    param=f"{where}.type",
                    code="invalid_value",
                )
        return read

    def _read_message(self, item: Mapping[str, Any], where: str, read: _Input) -> None:
        role = item.get("role")
        if role not in ("user", "assistant", "system", "developer"):
            raise APIFailure(
                400,
                f"Invalid value for '{where}.role': {role!r}. Supported values are: 'user', 'assistant', 'system', "
                "'developer'.",
                param=f"{where}.role",
                code="invalid_value",
            )
        texts = read.user_texts if role == "user" else read.other_texts
        content = item.get("content")
        if isinstance(content, str):
            texts.append(content)
            return
        if not isinstance(content, list):
            raise APIFailure(
                400, f"'{where}.content' must be a string or a list of parts.", param=f"{where}.content",
                code="invalid_type",
            )  # fmt: skip
        for number, part in enumerate(content):
            at = f"{where}.content[{number}]"
            if not isinstance(part, dict):
                raise APIFailure(400, f"'{at}' must be an object.", param=at, code="invalid_type")
            kind = part.get("type")
            if kind in ("input_text", "output_text") and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind == "refusal":
                continue
            elif kind == "input_image" and role == "user":
                read.pictures.append((at, self.gate.image_ref(part, at, loose=True)))
            else:
                raise APIFailure(
                    400,
                    f"Content parts of type {kind!r} are not supported offline for role '{role}'; send input_text "
                    "and input_image (as a data URL).",
                    param=f"{at}.type",
                    code="invalid_value",
                )

    def _read_call(self, item: Mapping[str, Any], where: str, read: _Input) -> None:
        """An earlier image call sent back as context: its ``result``, or the stored one with its ``id``."""
        result = item.get("result")
        if not isinstance(result, str):
            item_id = item.get("id")
            found = self.memory.find_item(item_id) if isinstance(item_id, str) else None
            if found is None or found.get("type") != "image_generation_call":
                raise APIFailure(400, f"Item with id {item_id!r} not found.", param=f"{where}.id", code="invalid_value")
            result = found.get("result")
            if not isinstance(result, str):
                return  # a failed call: no picture to carry on
        try:
            data = base64.b64decode(result, validate=True)
        except (binascii.Error, ValueError):
            raise APIFailure(
                400, f"'{where}.result' is not valid base64.", param=f"{where}.result", code="invalid_base64_image"
            ) from None
        read.pictures.append((where, data))


_BLOCKED_MESSAGE = (
    "Your request was rejected by the safety system. If you believe this is an error, contact us at "
    f"help.openai.com. (offline: the prompt contains '{BLOCKED_WORD}')"
)


def _flag(params: Mapping[str, Any], name: str, default: bool) -> bool:
    value = params.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise APIFailure(400, f"Invalid type for '{name}': expected a boolean.", param=name, code="invalid_type")
    return value


def _image_tool(tools: object) -> tuple[int, dict[str, Any] | None]:
    """The one ``image_generation`` tool of ``tools`` and its position; other tools cannot run offline."""
    if tools is None:
        return 0, None
    if not isinstance(tools, list):
        raise APIFailure(400, "'tools' must be a list.", param="tools", code="invalid_type")
    found: tuple[int, dict[str, Any] | None] = (0, None)
    for number, tool in enumerate(tools):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "image_generation":
            raise APIFailure(
                400,
                f"Tools of type {kind!r} are not available offline; the offline server runs only the "
                "image_generation tool.",
                param=f"tools[{number}].type",
                code="unsupported_value",
            )
        if found[1] is not None:
            raise APIFailure(
                400, "Only one image_generation tool may be given.", param=f"tools[{number}]", code="invalid_value"
            )
        assert isinstance(tool, dict)
        found = (number, tool)
    return found


def _calls_tool(choice: object, has_tool: bool) -> bool:
    """Whether the text model calls the image tool.  ``auto`` with the tool present always does (local choice)."""
    if choice in ("auto", "required"):
        if choice == "required" and not has_tool:
            raise APIFailure(
                400, "tool_choice 'required' needs at least one tool in 'tools'.", param="tool_choice",
                code="invalid_value",
            )  # fmt: skip
        return has_tool
    if choice == "none":
        return False
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "image_generation":
        if not has_tool:
            raise APIFailure(
                400, "Tool choice 'image_generation' not found in 'tools' parameter.", param="tool_choice",
                code="invalid_value",
            )  # fmt: skip
        return True
    if kind == "allowed_tools" and isinstance(choice, dict):
        allowed = choice.get("tools")
        return (
            has_tool
            and isinstance(allowed, list)
            and any(isinstance(t, dict) and t.get("type") == "image_generation" for t in allowed)
        )
    raise APIFailure(
        400,
        f"Invalid value for 'tool_choice': {choice!r}. Use 'auto', 'none', 'required' or "
        "{'type': 'image_generation'}.",
        param="tool_choice",
        code="invalid_value",
    )


def _validated(
    endpoint: Any, model: str, prompt: str, fields: Mapping[str, Any], where: str, profile: Any
) -> dict[str, Any]:
    """``models.validate`` for tool fields, its refusals renamed to where they sit in the request."""
    try:
        return validate(endpoint, {"model": model, "prompt": prompt, **fields}, profile=profile)
    except ParamError as error:
        raise _refused(error, "input" if error.field == "prompt" else f"{where}.{error.field}") from None


def _check_tool(tool: Mapping[str, Any], tool_index: int, prompt: str, profile: Any) -> dict[str, Any]:
    """The tool's effective settings, every field checked against the capability table."""
    where = f"tools[{tool_index}]"
    unknown = sorted(set(tool) - TOOL_FIELDS)
    if unknown:
        raise APIFailure(
            400, f"Unknown parameter: '{where}.{unknown[0]}'.", param=f"{where}.{unknown[0]}", code="unknown_parameter"
        )
    check_tool_types(tool, where)
    model = tool.get("model")
    model = TOOL_DEFAULT_MODEL if model is None else model
    gpt_models = tuple(m.id for m in MODELS.values() if m.is_gpt)
    if model not in gpt_models:
        raise APIFailure(
            400,
            f"Invalid value for '{where}.model': {model!r}. The image_generation tool takes a GPT image model: "
            f"{', '.join(gpt_models)}.",
            param=f"{where}.model",
            code="invalid_value",
        )
    action = tool.get("action")
    action = "auto" if action is None else action
    if action not in _ACTIONS:
        raise APIFailure(
            400,
            f"Invalid value for '{where}.action': {action!r}. Supported values are: 'generate', 'edit', 'auto'.",
            param=f"{where}.action",
            code="invalid_value",
        )
    mask = tool.get("input_image_mask")
    if mask is not None and not isinstance(mask, dict):
        raise APIFailure(
            400, f"'{where}.input_image_mask' must be an object.", param=f"{where}.input_image_mask",
            code="invalid_type",
        )  # fmt: skip
    shared = {name: tool[name] for name in _SHARED_FIELDS if tool.get(name) is not None}
    if tool.get("moderation") is not None:
        shared["moderation"] = tool["moderation"]
    checked = _validated("generations", model, prompt, shared, where, profile)
    if tool.get("input_fidelity") is not None:  # an edits field in the Images API
        _validated("edits", model, prompt, {"input_fidelity": tool["input_fidelity"]}, where, profile)
    return {
        "model": model,
        "action": action,
        "size": checked["size"],
        "quality": checked["quality"],
        "background": checked["background"],
        "output_format": checked["output_format"],
        "output_compression": checked["output_compression"],
        "moderation": checked.get("moderation", "auto"),
        "partial_images": checked.get("partial_images", 0),
    }


def _mask_bytes(gate: Gate, tool: Mapping[str, Any] | None, tool_index: int) -> list[tuple[str, bytes]]:
    """The tool's ``input_image_mask`` as (param, bytes), for ``check_pictures``; its other refusals are
    ``_call``'s."""
    ref = tool.get("input_image_mask") if tool is not None else None
    if not isinstance(ref, dict):
        return []
    at = f"tools[{tool_index}].input_image_mask"
    return [(at, gate.image_ref(ref, at, loose=True))]


def _picture_param(field_name: str, pictures: list[tuple[str, bytes]]) -> str:
    match = re.fullmatch(r"image\[(\d+)\]", field_name)
    if match and int(match.group(1)) < len(pictures):
        return pictures[int(match.group(1))][0]
    return "input"


def _echo(params: Mapping[str, Any], tools: list[dict[str, Any]]) -> dict[str, Any]:
    """The request settings a ``Response`` repeats, with OpenAI's defaults for those not sent."""
    defaults: dict[str, Any] = {
        "background": False,
        "instructions": None,
        "max_output_tokens": None,
        "max_tool_calls": None,
        "metadata": {},
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "prompt_cache_key": None,
        "prompt_cache_retention": None,
        "reasoning": {"effort": None, "summary": None},
        "safety_identifier": None,
        "service_tier": "default",
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "top_logprobs": 0,
        "top_p": 1.0,
        "truncation": "disabled",
        "user": None,
    }
    echo = {name: params[name] if params.get(name) is not None else value for name, value in defaults.items()}
    echo["tools"] = tools
    if isinstance(params.get("image"), dict):
        echo["image"] = params["image"]
    return echo


def _event_count(plan: _Plan) -> int:
    """How many events ``_lifecycle`` sends for ``plan``, so a ``drop`` fault can cut at the half."""
    count = 3  # created, in_progress, and completed or failed
    if plan.call is not None:
        if plan.call.blocked:
            return count + 3  # added, in_progress, done (failed)
        count += 5 + plan.call.partial_images  # added, in_progress, generating, partials, completed, done
    return count + 5 + len(plan.message_deltas)  # added, part added, deltas, text done, part done, done
