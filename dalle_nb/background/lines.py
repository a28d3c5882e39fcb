"""A prompt list as Batch API input: every line planned and checked as ``generate`` and ``edit`` check theirs,
written to disk as JSONL within the Batch API's limits, before anything is sent.

Each item (a prompt, or a dict of ``generate`` / ``edit`` arguments) is planned by ``plan_generate`` or
``plan_edit``, so a batch refuses exactly what an interactive call refuses, and it refuses it here, before any
upload.  Prompts that share their options are planned once: the rest of the request is the same, so each further
prompt only needs the prompt checks (``plan.prompt_checker``), which keeps a 10,000-line file as cheap to make
as writing it.  Lines go straight to files (never a list in memory), one file per *part*: a batch takes one
endpoint and one model, and at most 50,000 requests and 200 MB, so a bigger job spans several batches.

Per part two files are written in the job's folder of the gallery: ``part-<k>.jsonl``, what each line asked as
the gallery keeps it (for generations, byte for byte the file that is uploaded), and for edits, whose uploaded
lines carry their pictures as data URLs, a separate upload file that is removed once sent.  Labels and parent
pictures, which are not API fields, go to ``extras.jsonl``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import repeat
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import IO, Any

from ..core.capabilities import DATA_URL_LIMIT, MODELS, get_model
from ..core.costs import Estimate, Tally
from ..core.errors import InvalidRequest
from ..core.imaging import data_url, data_url_chars
from ..core.options import GenerationOptions, RequestOptions, names
from ..core.plan import Job, PlanContext, plan_edit, plan_generate, prompt_checker
from ..core.request import EditRequest, GenerateRequest

#: The Batch API's limits per input file (``batch_create_params.py``): requests, and bytes (200 MB, counted
#: in decimal megabytes so no file is refused for a rounding).
MAX_REQUESTS_PER_FILE = 50_000
MAX_FILE_BYTES = 200_000_000
#: The only completion window the Batch API takes.
COMPLETION_WINDOW = "24h"
ENDPOINT_URLS = {"generate": "/v1/images/generations", "edit": "/v1/images/edits"}

#: The arguments a line of each kind plans with; any other is an API field of its own (``response_format``).
_GENERATE_ARGS = names(RequestOptions) | names(GenerationOptions)
_EDIT_ARGS = names(RequestOptions) | {"image", "mask", "input_fidelity", "fit"}
_NOT_IN_A_BATCH = {
    "stream": "a batch cannot stream: its pictures arrive with the batch, not as they are drawn",
    "partial_images": "a batch cannot stream partial pictures: its pictures arrive with the batch",
    "markup": "markup is sent as a multipart file, which a batch line (JSON) cannot carry; use a mask",
    "wait": "submit() never waits: call .wait() or .collect() on the job",
    "on_partial": "a batch cannot stream partial pictures",
    "on_event": "a batch reports no events; call .wait(progress=True) to follow it",
    "revise": "a batch sends each prompt to the Images API exactly as written, with no revised prompt",
}


@dataclass
class Part:
    """The lines of one batch: one endpoint, one model, within the per-file limits."""

    number: int
    kind: str
    model: str
    record: Path
    upload: Path
    lines: int = 0
    pictures: int = 0
    #: Bytes of the file that is uploaded (what the 200 MB limit counts).
    size: int = 0
    #: Counted only, never written (``write_lines`` with no folder: what ``dn.estimate(dn.submit, ...)`` plans).
    dry: bool = False
    _record_out: IO[bytes] | None = field(default=None, repr=False)
    _upload_out: IO[bytes] | None = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        return ENDPOINT_URLS[self.kind]

    def write(self, upload: bytes, record: bytes | None, pictures: int) -> None:
        if self.dry:
            pass
        elif self._record_out is None:
            self._record_out = self.record.open("wb")
            self._upload_out = self._record_out if self.upload == self.record else self.upload.open("wb")
        if not self.dry:
            assert self._upload_out is not None and self._record_out is not None
            self._upload_out.write(upload)
            if self._upload_out is not self._record_out:
                self._record_out.write(record if record is not None else upload)
        self.lines += 1
        self.pictures += pictures
        self.size += len(upload)

    def close(self) -> None:
        for handle in {id(h): h for h in (self._record_out, self._upload_out) if h is not None}.values():
            handle.close()
        self._record_out = self._upload_out = None


@dataclass
class LinePlan:
    """What ``write_lines`` wrote: the parts, and what to tell the person submitting."""

    parts: list[Part]
    pictures: int
    title: str
    notices: list[str]
    #: What the lines would cost (at the Batch API's price for a batch), added up line by line.
    estimate: Estimate

    @property
    def lines(self) -> int:
        return sum(part.lines for part in self.parts)


@dataclass
class _Template:
    """One checked request whose prompt alone changes from line to line: per line, its first picture, its
    number of pictures, and the rest of its body as JSON (without the prompt and the braces)."""

    check: Callable[[object], str]
    model: str
    lines: tuple[tuple[int, int, bytes], ...]
    #: The planned request (its first prompt's): each line's prompt in its place is what that line costs.
    request: GenerateRequest

    @property
    def offsets(self) -> list[int]:
        return [offset for offset, _, _ in self.lines]


#: One generation line: request index, first picture, the prompt as JSON text, the rest of the body.
_LINE = b'{"custom_id": "r%d-%d", "method": "POST", "url": "/v1/images/generations", "body": {"prompt": %s, %s}}\n'
_NONE: dict[str, Any] = {}  # the arguments of a plain prompt: none (never written to)


def custom_id(index: int, offset: int) -> str:
    """The id of one line: which request it belongs to and the number of its first picture (``r12-0``)."""
    return f"r{index}-{offset}"


def parse_custom_id(text: str) -> tuple[int, int]:
    """``(request index, first picture)`` from a line id; ``(-1, 0)`` for an id that is not ours."""
    head, _, offset = text.removeprefix("r").partition("-")
    return (int(head), int(offset)) if head.isdigit() and offset.isdigit() else (-1, 0)


def _units(n: int, model: str) -> tuple[int, ...]:
    """``n`` pictures as lines of at most the model's ``n`` per request (``dall-e-3``: four lines of one)."""
    per = get_model(model).n_max
    return tuple(min(per, n - start) for start in range(0, n, per))


def _api_body(fields: dict[str, Any], model: str) -> dict[str, Any]:
    if get_model(model).response_formats:
        # legacy models answer with a URL by default, which expires in an hour: a batch may be collected a day later
        fields.setdefault("response_format", "b64_json")
    return fields


def _refuse_unbatchable(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` without the arguments a batch cannot honour, each refused unless it asks for nothing."""
    for name, why in _NOT_IN_A_BATCH.items():
        if options.get(name) not in (None, False, 0) or (name == "partial_images" and options.get(name) == 0):
            raise InvalidRequest(f"{name}: {why}.", field=name, value=options.get(name))
    return {k: v for k, v in options.items() if k not in _NOT_IN_A_BATCH}


def _data_url(prepared: Any, where: str) -> dict[str, str]:
    if data_url_chars(prepared) > DATA_URL_LIMIT:  # measured, not encoded, before it is refused
        raise InvalidRequest(
            f"{where} is {len(prepared.data) / 1e6:.1f} MB: in a batch line a picture travels as a data URL of at "
            f"most {DATA_URL_LIMIT:,} characters (about 15 MB). Make it smaller, or send it with edit().",
            field=where, value=f"{len(prepared.data):,} bytes",
        )  # fmt: skip
    return {"image_url": data_url(prepared)}


class _Writer:
    """Parts by (kind, model): a new part starts when the next line would pass a per-file limit."""

    def __init__(self, directory: Path | None, max_lines: int, max_bytes: int) -> None:
        self.directory = directory
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.parts: list[Part] = []
        self._open: dict[tuple[str, str], Part] = {}

    def add(self, kind: str, model: str, upload: bytes, record: bytes | None, pictures: int) -> None:
        if len(upload) > self.max_bytes:
            raise InvalidRequest(
                f"one request is {len(upload) / 1e6:,.1f} MB as a batch line; a batch input file takes at most "
                f"{self.max_bytes / 1e6:,.0f} MB. Use smaller pictures for it, or send it with edit().",
                field="image", value=f"{len(upload):,} bytes",
            )  # fmt: skip
        part = self._open.get((kind, model))
        if part is None or part.lines + 1 > self.max_lines or part.size + len(upload) > self.max_bytes:
            if part is not None:
                part.close()
            number = len(self.parts)
            folder = self.directory or Path()
            record_path = folder / f"part-{number}.jsonl"
            upload_path = record_path if kind == "generate" else folder / f".upload-{number}.jsonl"
            part = Part(number, kind, model, record_path, upload_path, dry=self.directory is None)
            self.parts.append(part)
            self._open[(kind, model)] = part
        part.write(upload, record, pictures)

    def close(self) -> None:
        for part in self.parts:
            part.close()


def write_lines(
    items: Iterable[object],
    options: dict[str, Any],
    directory: Path | None,
    *,
    context: PlanContext,
    labels: Iterable[str | None] | None = None,
    max_lines: int | None = None,
    max_bytes: int | None = None,
    batch: bool = True,
) -> LinePlan:
    """Plan and check every item and write its lines into ``directory``; ``InvalidRequest`` before any is sent.

    ``context`` is what planning asks for the settings and the keys (the session the job is for).  With
    ``directory`` None nothing is written: the lines are planned, checked, counted and priced only.  The
    plan's ``estimate`` is at the Batch API's price (``batch``), or at the list price (a gateway's tasks).

    ``items`` may be any iterable (a generator of 100,000 prompts is never held as a list).  On a refusal the
    files written so far are left for the caller to remove with the folder.
    """
    max_lines = MAX_REQUESTS_PER_FILE if max_lines is None else max_lines
    max_bytes = MAX_FILE_BYTES if max_bytes is None else max_bytes
    options = _refuse_unbatchable(options)
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
    tally = Tally(context.settings(), batch=batch)
    writer = _Writer(directory, max_lines, max_bytes)
    templates: dict[Any, _Template] = {}
    plain: _Template | None = None
    notices: list[str] = []
    title = ""
    count = pictures = 0
    extras = None
    try:
        for index, (item, label) in enumerate(zip(items, _labels(labels), strict=False)):
            count += 1
            prompt, kind, args = (item, "generate", _NONE) if type(item) is str else _item(item, index)
            if args:
                label = args.pop("label", label)
            if not title:
                title = str(prompt)[:80]
            parents: tuple[str, ...] = ()
            if kind == "generate":
                if args:
                    template = _template(templates, {**options, **args}, prompt, context)
                else:  # a plain prompt: the list's own options, planned once
                    plain = plain or _template(templates, options, prompt, context)
                    template = plain
                # the prompt as JSON text, exactly as json.dumps writes a string
                checked = template.check(prompt)
                quoted = encode_basestring_ascii(checked).encode("ascii")
                for offset, unit, rest in template.lines:
                    writer.add("generate", template.model, _LINE % (index, offset, quoted, rest), None, unit)
                    pictures += unit
                offsets = template.offsets
                asked = template.request
                tally.add(asked if asked.prompt == checked else replace(asked, prompt=checked), len(offsets))
            else:
                job = plan_edit(prompt=prompt, **_edit_options({**options, **args}), revise=False, context=context)  # type: ignore[arg-type]
                parents = job.parent_ids(0)
                offsets = _edit_lines(writer, job, index)
                tally.add(job.requests[0], len(offsets))
                pictures += job.pictures
                notices.extend(n for n in job.notices if n not in notices)
            if (label is not None or parents) and directory is not None:
                if extras is None:
                    extras = (directory / "extras.jsonl").open("w", encoding="utf-8")
                for offset in offsets:
                    entry = {"custom_id": custom_id(index, offset), "label": label, "parents": list(parents)}
                    extras.write(json.dumps(entry) + "\n")
    finally:
        writer.close()
        if extras is not None:
            extras.close()
    if count == 0:
        raise InvalidRequest("submit() needs at least one prompt.", field="prompt")
    if len(writer.parts) > 1:
        notices.append(
            f"{sum(p.lines for p in writer.parts):,} lines go in {len(writer.parts)} batches: a batch takes one "
            f"endpoint and one model, and at most {max_lines:,} requests and {max_bytes / 1e6:,.0f} MB per file."
        )
    return LinePlan(writer.parts, pictures, title, notices, tally.result())


def _labels(labels: Iterable[str | None] | None) -> Iterator[str | None]:
    return iter(labels) if labels is not None else repeat(None)


def _item(item: object, index: int) -> tuple[object, str, dict[str, Any]]:
    """(prompt, "generate" or "edit", its own arguments) of one item of ``submit``'s list."""
    if isinstance(item, str):
        return item, "generate", {}
    if isinstance(item, dict):
        args = dict(item)
        if "image" in args and args.get("prompt") is None:
            raise InvalidRequest(
                f"item {index}: variations cannot run in a batch (the Batch API has no /v1/images/variations); "
                "call dalle_nb.vary() for it, or give a prompt to edit the picture.",
                field="image",
            )
        args = _refuse_unbatchable(args)
        prompt = args.pop("prompt", None)
        kind = "edit" if "image" in args else "generate"
        allowed = (_EDIT_ARGS if kind == "edit" else _GENERATE_ARGS) | {"label"}
        for name in args:
            if name not in allowed and name in _EDIT_ARGS | _GENERATE_ARGS:
                raise InvalidRequest(f"item {index}: '{name}' is not an argument of {kind}().", field=name)
        return prompt, kind, args
    kind_name = type(item).__name__
    if kind_name == "VaryRequest":
        raise InvalidRequest(
            "variations cannot run in a batch (the Batch API has no /v1/images/variations); call dalle_nb.vary().",
            field="image",
        )
    raise InvalidRequest(
        f"item {index} is a {kind_name}: submit() takes prompts (str) or dicts of generate()/edit() arguments, "
        "such as {'prompt': ..., 'size': ...} or {'image': ..., 'prompt': ...}.",
        field="prompt", value=kind_name,
    )  # fmt: skip


def _template(
    templates: dict[Any, _Template], options: dict[str, Any], prompt: object, context: PlanContext
) -> _Template:
    """The planned request for these options, made by ``plan_generate`` on the first prompt that uses them."""
    try:
        key: Any = tuple(sorted(options.items()))
        hash(key)
    except TypeError:  # an option that cannot be a key (a list in extras): planned every time, still correct
        key = object()
    found = templates.get(key)
    if found is not None:
        return found
    known = {k: v for k, v in options.items() if k in _GENERATE_ARGS}
    extra = {k: v for k, v in options.items() if k not in _GENERATE_ARGS}
    wanted = prompt if isinstance(prompt, str) else [prompt]  # not text: planning refuses it, saying why
    job: Job = plan_generate(wanted, **known, extra=extra, revise=False, context=context)  # type: ignore[arg-type]
    request = job.requests[0]
    lines = []
    offset = 0
    for unit in _units(request.n, request.model):
        fields = _api_body(request.with_n(unit).api_fields(), request.model)
        fields.pop("prompt", None)
        lines.append((offset, unit, json.dumps(fields).encode()[1:-1]))
        offset += unit
    assert isinstance(request, GenerateRequest)
    template = _Template(prompt_checker(request.model, context=context), request.model, tuple(lines), request)
    templates[key] = template
    return template


def _edit_options(options: dict[str, Any]) -> dict[str, Any]:
    """An edit's arguments: the ones ``edit`` knows, the unknown as extra API fields; options only a generation
    takes (``moderation``, ``style``), given for the whole list, do not apply to its edits."""
    known = {k: v for k, v in options.items() if k in _EDIT_ARGS}
    extra = {k: v for k, v in options.items() if k not in _EDIT_ARGS and k not in _GENERATE_ARGS}
    return {**known, "extra": extra} if extra else known


def _edit_lines(writer: _Writer, job: Job, index: int) -> list[int]:
    """Write the lines of one planned edit (its pictures inline as data URLs); returns their first pictures."""
    request = job.requests[0]
    assert isinstance(request, EditRequest)
    if not get_model(request.model).is_gpt:
        gpt = ", ".join(m.id for m in MODELS.values() if m.is_gpt and not m.retired and not m.snapshot_of)
        raise InvalidRequest(
            f"item {index}: {request.model} edits cannot be batched: a batch edit is JSON, which only GPT image "
            f"models take ({gpt}). Use edit() for it.",
            field="model", value=request.model,
        )  # fmt: skip
    images = [_data_url(p, f"item {index}: image {number + 1}") for number, p in enumerate(request.images)]
    mask = _data_url(request.mask, f"item {index}: mask") if request.mask is not None else None
    offsets = []
    offset = 0
    for unit in _units(request.n, request.model):
        one = request.with_n(unit)
        body = {**_api_body(one.api_fields(), one.model), "images": images}
        if mask is not None:
            body["mask"] = mask
        line_id = custom_id(index, offset)
        upload = {"custom_id": line_id, "method": "POST", "url": ENDPOINT_URLS["edit"], "body": body}
        record = {"custom_id": line_id, "method": "POST", "url": ENDPOINT_URLS["edit"], "body": one.params()}
        writer.add("edit", one.model, (json.dumps(upload) + "\n").encode(), (json.dumps(record) + "\n").encode(), unit)
        offsets.append(offset)
        offset += unit
    return offsets


__all__ = [
    "COMPLETION_WINDOW",
    "MAX_FILE_BYTES",
    "MAX_REQUESTS_PER_FILE",
    "LinePlan",
    "Part",
    "custom_id",
    "parse_custom_id",
    "write_lines",
]
