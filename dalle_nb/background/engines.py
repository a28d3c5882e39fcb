"""The two engines a background job runs on, and the only ``openai`` SDK calls background jobs make.

``batch_*``: OpenAI's Batch API.  The JSONL is uploaded with ``purpose="batch"`` straight from its file (the SDK
hands an open file to the HTTP client, which sends it in 64 KB chunks, so a 200 MB file is never in memory), a
batch is created on it, polled, cancelled, and its output and error files are downloaded to disk as they stream.

``task_*``: the seed gateway's task mode.  Each line is sent as an ordinary image request with a ``callback_url``
(the gateway stores only tasks that have one) and our own ``trace_id``, answered at once with ``{"task_id"}``,
and later polled with ``POST /tasks {"action": "retrieve", "trace_id"}`` (``{}``: not visible yet, or forgotten:
the job tells them apart by time, ``batch.TASK_GRACE``).

All of them are coroutines for the session's private loop, on the connection the session builds for the job's
settings (same key, proxy and timeout as interactive calls); SDK failures become dalle_nb's typed errors, cut
loose from the SDK's exception (whose request holds the key).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..core.capabilities import FILE_FIELDS, KNOWN_FIELDS
from ..core.errors import APIError, ServerError, detach, from_body, from_sdk
from ..runtime.client import OFFLINE_INDEX_HEADER, download

if TYPE_CHECKING:
    from ..runtime.connections import Connection

T = TypeVar("T")

_DATA_URL = re.compile(r"data:(?P<type>[\w.+-]+/[\w.+-]+)?(?:;[^;,]*)*;base64,(?P<data>.*)", re.DOTALL)


async def _sdk(call: Callable[[], Awaitable[T]]) -> T:
    """Run one SDK call; its failures become ``APIError``s with the API's own words."""
    import openai  # the SDK loads with the first request, not at import

    try:
        return await call()
    except json.JSONDecodeError:
        raise ServerError("The API answered with a body that is not valid JSON.", kind="bad_response") from None
    except openai.OpenAIError as exc:
        raise detach(from_sdk(exc)) from None


# ---------------------------------------------------------------------------- the Batch API
async def batch_upload(conn: Connection, path: Path) -> str:
    """Upload a JSONL input file (streamed from disk); returns its file id."""
    with path.open("rb") as source:
        uploaded = await _sdk(lambda: conn.sdk.files.create(file=(path.name, source), purpose="batch"))
    return str(uploaded.id)


async def batch_create(conn: Connection, file_id: str, endpoint: str, metadata: Mapping[str, str]) -> dict[str, Any]:
    created = await _sdk(
        lambda: conn.sdk.batches.create(
            input_file_id=file_id, endpoint=endpoint, completion_window="24h", metadata=dict(metadata)
        )
    )
    return dict(created.model_dump())


async def batch_retrieve(conn: Connection, batch_id: str) -> dict[str, Any]:
    return dict((await _sdk(lambda: conn.sdk.batches.retrieve(batch_id))).model_dump())


async def batch_cancel(conn: Connection, batch_id: str) -> dict[str, Any]:
    return dict((await _sdk(lambda: conn.sdk.batches.cancel(batch_id))).model_dump())


async def batch_download(conn: Connection, file_id: str, target: Path) -> None:
    """Write an output or error file to ``target`` as it arrives (a big output never sits in memory)."""

    async def fetch() -> None:
        async with conn.sdk.files.with_streaming_response.content(file_id) as response:
            with target.open("wb") as out:
                async for chunk in response.iter_bytes():
                    out.write(chunk)

    await _sdk(fetch)


# ---------------------------------------------------------------------------- the gateway's task mode
def _split(endpoint: str, body: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """An API body as the SDK's keyword arguments and ``extra_body`` (fields the SDK does not name)."""
    known = KNOWN_FIELDS["edits" if endpoint == "edit" else "generations"] | FILE_FIELDS["edits"]
    return {k: v for k, v in body.items() if k in known}, {k: v for k, v in body.items() if k not in known}


def _picture(ref: object, name: str) -> tuple[str, bytes, str]:
    """A picture of a JSON edit line (``{"image_url": data URL}``) as the file tuple the SDK uploads."""
    url = ref.get("image_url") if isinstance(ref, Mapping) else None
    match = _DATA_URL.fullmatch(url) if isinstance(url, str) else None
    if match is None:
        raise APIError(f"The {name} of this line is not a data URL.", code="invalid_image_url")
    content_type = match.group("type") or "image/png"
    return f"{name}.{content_type.rsplit('/', 1)[-1]}", base64.b64decode(match.group("data")), content_type


async def task_send(
    conn: Connection, kind: str, body: Mapping[str, Any], *, callback_url: str, trace_id: str, first_index: int = 0
) -> str:
    """Send one request in task mode; returns the gateway's ``task_id``.

    ``first_index`` is the number of the line's first picture among those its request asked for: the offline
    server starts there, as it does for a fanned-out interactive call (the header ``client`` sends).
    """
    fields, extra = _split(kind, body)
    extra = {**extra, "callback_url": callback_url, "trace_id": trace_id}
    if conn.kind == "offline":
        fields["extra_headers"] = {OFFLINE_INDEX_HEADER: str(first_index)}
    images = conn.sdk.images.with_raw_response
    if kind == "edit":
        pictures = [_picture(ref, f"image-{number}") for number, ref in enumerate(fields.pop("images", []))]
        mask = fields.pop("mask", None)
        if mask is not None:
            fields["mask"] = _picture(mask, "mask")
        fields["image"] = pictures[0] if len(pictures) == 1 else pictures
        raw = await _sdk(lambda: images.edit(**fields, extra_body=extra))
    else:
        raw = await _sdk(lambda: images.generate(**fields, extra_body=extra))
    answer = raw.http_response.json()
    if isinstance(answer, dict) and answer.get("success") is False:  # a gateway refusal sent with HTTP 200
        raise from_body(raw.http_response.status_code, answer)
    task_id = answer.get("task_id") if isinstance(answer, dict) else None
    if not isinstance(task_id, str):
        raise ServerError(
            "The gateway answered a task-mode request without a task_id: this base URL may not speak task mode "
            "(configure(task_mode='batch') uses the Batch API instead).",
            kind="bad_response",
        )
    return task_id


async def task_retrieve(conn: Connection, trace_id: str) -> dict[str, Any]:
    """The stored task for ``trace_id`` (``{}`` while the gateway does not show it yet, or no longer knows it)."""
    answer = await _sdk(
        lambda: conn.sdk.post("/tasks", cast_to=object, body={"action": "retrieve", "trace_id": trace_id})
    )
    if isinstance(answer, dict) and answer.get("success") is False:
        raise from_body(None, answer)
    return answer if isinstance(answer, dict) else {}


async def task_pictures(conn: Connection, items: list[Any]) -> list[tuple[bytes | str, str | None]]:
    """The pictures of a finished task: ``b64_json`` as it came (decoded where it is saved, off the loop), or a
    ``url`` fetched at once, before it expires (``BackendUnreachable`` or ``APIError`` when it cannot be)."""
    out: list[tuple[bytes | str, str | None]] = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        revised = item.get("revised_prompt")
        if isinstance(item.get("b64_json"), str):
            out.append((item["b64_json"], revised))
        elif isinstance(item.get("url"), str):
            out.append((await download(conn, item["url"], "the task's picture"), revised))
    return out


__all__ = [
    "batch_cancel",
    "batch_create",
    "batch_download",
    "batch_retrieve",
    "batch_upload",
    "task_pictures",
    "task_retrieve",
    "task_send",
]
