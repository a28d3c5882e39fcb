"""Background jobs for long prompt lists: ``submit`` them, find them again with ``jobs()``, ``collect`` the pictures.

A list of hundreds of prompts sent interactively costs full price, meets the rate limits, and dies with the
kernel.  OpenAI's Batch API runs it on OpenAI's side within 24 hours, at half the price and under separate rate
limits; the seed gateway offers the same as a task mode.  ``submit`` plans every line as ``generate`` and
``edit`` plan theirs (a refusal comes before anything is uploaded: ``batch_lines``), uploads the file, creates
the batch(es) and records the job in the gallery's index at once, so a kernel restart loses nothing:
``dn.jobs()[0].collect()`` in a new process picks it up.  ``collect`` saves every picture into the gallery with
its prompt and parameters and keeps every failed line as a ``Failure`` with the API's own message; a line is
collected once, so collecting again returns the same pictures without saving them twice.

On a base URL that speaks the gateway's task mode (``configure(task_mode="gateway")``, or ``"auto"`` on the
gateway's own host) the same ``BatchJob`` runs on tasks: each line is sent with a ``callback_url`` and our own
``trace_id``, and the job polls the tasks with backoff, saving each picture as soon as its task has finished.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import datetime as _dt
import json
import secrets
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Unpack
from urllib.parse import urlsplit

from ..core.config import Settings
from ..core.costs import bill
from ..core.errors import APIError, DalleError, GalleryError, InvalidRequest, NotFound, from_body
from ..core.formatting import esc
from ..core.imaging import sniff
from ..core.options import ApiFields, BatchOptions, names, shows_options
from ..core.results import Failure, GeneratedImage, ImageSet
from ..runtime.gallery import Gallery, JobRecord
from ..runtime.progress import Progress, in_notebook
from ..runtime.session import default_session
from .engines import (
    batch_cancel,
    batch_create,
    batch_download,
    batch_retrieve,
    batch_upload,
    task_pictures,
    task_retrieve,
    task_send,
)
from .lines import COMPLETION_WINDOW, LinePlan, parse_custom_id, write_lines

if TYPE_CHECKING:
    from ..runtime.connections import Connection

T = TypeVar("T")

#: A line's pictures with their revised prompts: bytes, or base64 still to decode (on a saver thread).
_Pictures = list[tuple[bytes | str, str | None]]

#: States after which a job changes no more.
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled", "lost"})
#: The order in which the states of a job's batches are told, the least advanced first.
_ACTIVE = ("submitting", "cancelling", "validating", "in_progress", "finalizing")
_ENDED = ("cancelled", "expired", "failed", "lost", "completed")
#: Hosts whose base URLs speak the gateway's task mode (``task_mode="auto"``).
GATEWAY_HOSTS = ("acedata.cloud",)
#: What a job sends as ``callback_url`` when given none: the gateway stores a task only when there is one, and a
#: notebook has no public address, so it is a loopback address nobody listens on (the discard port), and the
#: job polls instead.  Pass your own webhook as ``callback_url=`` to be called.
DEFAULT_CALLBACK_URL = "http://127.0.0.1:9/dalle-nb/task-callback"
#: Polling: the first wait, how it grows, and its ceiling for a server on this machine and for a remote one.
POLL_FIRST, POLL_GROWTH, POLL_LOCAL, POLL_REMOTE = 0.2, 1.5, 2.0, 30.0
#: Pictures decoded and saved at once while collecting, and lines waiting for a saver.
_SAVERS, _QUEUED = 4, 16
#: Requests of a gateway job sent (or polled) per round trip to the loop.
_TASK_CHUNK = 64
#: How long a remote gateway may answer ``{}`` for a task after it was sent before the task counts as forgotten
#: (its store may show a task late).  A server on this machine (the offline server) stores a task before it answers
#: with its id, so there ``{}`` means forgotten at once.
TASK_GRACE = 600.0
#: Why a job is ``lost``: the server that ran it cannot answer for it any more.  ``_lost`` adds what to do.
_STOPPED = (
    "the offline server that ran this job was part of the kernel that submitted it, and stopped with it (a server "
    "started with `dalle-nb serve` outlives kernels)"
)
_FORGOTTEN = "the server at {url} no longer knows {what} (it was restarted, or dropped it)"
#: The code of a line that a lost job never answered.
_LOST_CODE = "job_lost"


def _lost(why: str, folder: Path) -> str:
    """The one line a lost job tells: what happened, and what to do about it."""
    return (
        f"{why}; its results are gone. Submit the prompts again: they are in the job's record (each failure of "
        f"collect() has its prompt; the lines are in {folder})."
    )


class _Lost(DalleError):
    """The server that ran a job cannot answer for it any more (the message is the whole line, ``_lost``'s)."""


@dataclass(frozen=True)
class BatchStatus:
    """Where a job stands: its state, its request counts, each batch's own status, and whole-file errors."""

    job_id: str
    state: str
    total: int
    completed: int
    failed: int
    parts: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def done(self) -> bool:
        """True once the job changes no more (``completed``, ``failed``, ``expired``, ``cancelled``, ``lost``)."""
        return self.state in TERMINAL

    def __str__(self) -> str:
        text = f"{self.job_id}: {self.state}, {self.completed:,} of {self.total:,} done, {self.failed:,} failed"
        if self.errors:
            text += f"; {self.errors[0]}" + (f" (+{len(self.errors) - 1} more)" if len(self.errors) > 1 else "")
        return text

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """What ``job.wait()`` leaves under a cell: the sentence, not the dataclass's fields."""
        printer.text(str(self))


# ---------------------------------------------------------------------------- plumbing
def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the session's private loop and wait for it here; Ctrl-C stops it.

    An error it raises has the session's keys masked in it (an answer may echo one), as a job's failures do.
    """
    session = default_session()
    future = session.loop().submit(coro)
    try:
        return future.result()  # type: ignore[no-any-return]
    except DalleError as error:
        session.settings_store.hide(error)
        raise
    except BaseException:
        future.cancel()
        raise


def _engine(settings: Settings) -> str:
    """``"tasks"`` on a gateway's task mode, else ``"batch"`` (the Batch API)."""
    mode = settings.task_mode
    if mode == "auto":
        host = (urlsplit(settings.base_url or "").hostname or "").lower()
        mode = "gateway" if any(host == h or host.endswith("." + h) for h in GATEWAY_HOSTS) else "batch"
    return "tasks" if mode == "gateway" else "batch"


def _new_id(created: float) -> str:
    stamp = _dt.datetime.fromtimestamp(created, tz=_dt.UTC).strftime("%Y%m%dT%H%M%S")
    return f"job_{stamp}_{secrets.token_hex(4)}"


def _metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """The user's batch metadata; two of the Batch API's 16 pairs are the job's own (``dalle_nb_job``, ``_part``)."""
    given = dict(metadata or {})
    ok = len(given) <= 14 and all(
        isinstance(k, str) and len(k) <= 64 and isinstance(v, str) and len(v) <= 512 for k, v in given.items()
    )
    if not ok:
        raise InvalidRequest(
            "metadata takes at most 14 pairs of strings (keys up to 64 characters, values up to 512): the Batch "
            "API takes 16 and the job uses two.", field="metadata", value=metadata,
        )  # fmt: skip
    return given


def _callback(url: str | None) -> str:
    if url is None:
        return DEFAULT_CALLBACK_URL
    parsed = urlsplit(url) if isinstance(url, str) else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InvalidRequest(f"callback_url must be an http(s) URL, not {url!r}.", field="callback_url", value=url)
    return url


def _error_json(error: APIError) -> dict[str, Any]:
    """A line's error as the gallery keeps it, with the session's keys masked (an answer may echo one)."""
    default_session().settings_store.hide(error)
    return {"status": error.status, "code": error.code, "message": error.message, "request_id": error.request_id}


def _error_from(stored: Mapping[str, Any]) -> APIError:
    body = {"error": {"code": stored.get("code"), "message": stored.get("message")}}
    return from_body(stored.get("status"), body, request_id=stored.get("request_id"))


def _local(url: str) -> bool:
    """Whether ``url`` is a server on this machine."""
    return (urlsplit(url).hostname or "") in ("127.0.0.1", "localhost", "::1")


def _combine(states: list[str]) -> str:
    """One state for a job of several batches: the least advanced while any runs, then the most telling end."""
    for state in _ACTIVE:
        if state in states:
            return state
    for state in _ENDED:
        if state in states:
            return state
    return states[0] if states else "completed"


# ---------------------------------------------------------------------------- what each line asked
@dataclass(frozen=True)
class _Asked:
    custom_id: str
    part: int
    kind: str
    body: dict[str, Any]
    label: str | None
    parents: tuple[str, ...]

    @property
    def prompt(self) -> str:
        return str(self.body.get("prompt", ""))


class _Lines:
    """Where each line of a job is described in its folder: read on demand, never all at once."""

    def __init__(self, folder: Path, parts: Iterable[Mapping[str, Any]]) -> None:
        self.folder = folder
        self._where: dict[str, tuple[int, Path, int]] = {}
        for entry in parts:
            path = folder / str(entry["record"])
            with contextlib.suppress(FileNotFoundError), path.open("rb") as source:
                offset = 0
                for raw in source:
                    head = raw[:80].decode("ascii", "replace")  # '{"custom_id": "r12-0", ...': our own lines
                    start = head.find('"custom_id": "') + 14
                    self._where[head[start : head.index('"', start)]] = (int(entry["part"]), path, offset)
                    offset += len(raw)
        self._extras: dict[str, tuple[str | None, tuple[str, ...]]] = {}
        with contextlib.suppress(FileNotFoundError), (folder / "extras.jsonl").open(encoding="utf-8") as extras:
            for text in extras:
                entry = json.loads(text)
                self._extras[entry["custom_id"]] = (entry.get("label"), tuple(entry.get("parents") or ()))

    def __len__(self) -> int:
        return len(self._where)

    def ids(self) -> list[str]:
        """Every line's id, in request order."""
        return sorted(self._where, key=parse_custom_id)

    def part(self, custom_id: str) -> int:
        return self._where[custom_id][0]

    def asked(self, custom_id: str) -> _Asked:
        part, path, offset = self._where[custom_id]
        with path.open("rb") as source:
            source.seek(offset)
            line = json.loads(source.readline())
        label, parents = self._extras.get(custom_id, (None, ()))
        kind = "edit" if str(line.get("url", "")).endswith("/edits") else "generate"
        return _Asked(custom_id, part, kind, dict(line.get("body") or {}), label, parents)

    def label(self, custom_id: str) -> str | None:
        return self._extras.get(custom_id, (None, ()))[0]


# ---------------------------------------------------------------------------- progress
class _TextProgress:
    """A job's progress in a terminal: one line, rewritten in place on a terminal, one line per change otherwise."""

    def __init__(self) -> None:
        self.last = ""
        self.tty = sys.stdout.isatty()

    def show(self, status: BatchStatus) -> None:
        filled = round(20 * (status.completed + status.failed) / max(1, status.total))
        text = f"dalle_nb: [{'#' * filled}{'.' * (20 - filled)}] {status}"
        if text == self.last:
            return
        self.last = text
        print(("\r\x1b[2K" if self.tty else "") + text, end="" if self.tty else "\n", flush=True)

    def close(self) -> None:
        if self.tty and self.last:
            print(flush=True)


def _progress(job: BatchJob) -> _TextProgress | _NotebookProgress:
    return _NotebookProgress.open(job.requests) if in_notebook() else _TextProgress()


class _JobProgress(Progress):
    """``Progress``'s line, telling a background job's state and counts where a call shows its pictures."""

    text = ""

    def line(self) -> str:
        seconds = int(time.monotonic() - self.started)
        return f"dalle_nb: {self.text or 'asking'} … {seconds} s"

    def html(self) -> str:  # a bar of the requests done, then the line: hours of work read at a glance
        bar = (
            f"<progress class='dalle-nb-batch-bar' value='{self.done}' max='{max(1, self.total)}' "
            "style='width:200px;height:10px;vertical-align:middle;margin-right:8px'></progress>"
        )
        return f"<div class='dalle-nb-progress' style='opacity:.7'>{bar}{esc(self.line())}</div>"


class _NotebookProgress:
    """A job's progress under a notebook cell: the activity line, telling the job's state and counts."""

    def __init__(self, progress: _JobProgress) -> None:
        self.progress = progress

    @classmethod
    def open(cls, total: int) -> _NotebookProgress:
        return cls(_JobProgress(total))

    def show(self, status: BatchStatus) -> None:
        self.progress.text = str(status)
        self.progress.done = status.completed + status.failed
        self.progress.refresh()

    def close(self) -> None:
        self.progress.close()


# ---------------------------------------------------------------------------- the job
class BatchJob:
    """A background job: its lines run on the Batch API (or a gateway's tasks) while the kernel is free.

    ``status()`` asks where it stands, ``wait(progress=True)`` follows it, ``cancel()`` stops it, and
    ``collect()`` saves its pictures into the gallery and returns them as an ``ImageSet`` (failures kept as
    ``Failure``\\ s with the API's message).  ``dalle_nb.jobs()`` gives the jobs back after a restart.
    """

    def __init__(self, record: JobRecord, gallery: Gallery) -> None:
        self.record = record
        self.gallery = gallery
        self._lines: _Lines | None = None

    # ------------------------------------------------------------------ facts
    @property
    def id(self) -> str:
        return self.record.id

    @property
    def engine(self) -> str:
        """``"batch"`` (the Batch API) or ``"tasks"`` (a gateway's task mode)."""
        return self.record.engine

    @property
    def requests(self) -> int:
        """How many requests the job sends (a prompt asking for more pictures than one request gives is several)."""
        return self.record.requests

    @property
    def batch_ids(self) -> tuple[str, ...]:
        """The ids of the job's batches on the Batch API (several when the list was larger than one batch takes)."""
        return tuple(str(entry["batch_id"]) for entry in self.record.parts if entry.get("batch_id"))

    @property
    def folder(self) -> Path:
        return self.gallery.job_dir(self.id)

    def __repr__(self) -> str:
        record = self.record
        engine = "the Batch API" if record.engine == "batch" else "gateway tasks"
        counts = record.counts
        return (
            f"<BatchJob {record.id} on {engine}: {self.requests:,} request(s), {record.state} "
            f"({counts.get('completed', 0):,} done, {counts.get('failed', 0):,} failed) {record.title!r}>"
        )

    # ------------------------------------------------------------------ reading and writing its row
    def _reload(self) -> JobRecord:
        """The row as the index has it now: another kernel may have moved the job on."""
        with contextlib.suppress(KeyError):
            self.record = self.gallery.get_job(self.id)
        return self.record

    def _save(self, **changes: Any) -> None:
        self.gallery.update_job(self.id, **changes)
        self._reload()

    def _asked(self) -> _Lines:
        if self._lines is None:
            self._lines = _Lines(self.folder, self.record.parts)
        return self._lines

    def _connection(self) -> Connection:
        """The connection to the backend the job was sent to (the key is the one set now: it is never stored)."""
        record = self.record
        session = default_session()
        if record.backend == "offline":
            if session.offline_url != record.base_url:
                raise _Lost(_lost(_STOPPED, self.folder))
            settings = session.settings(offline=True)
        else:
            settings = session.settings(base_url=record.base_url, offline=False)
        return session.connection(settings)

    def _status(self) -> BatchStatus:
        record = self.record
        errors = tuple(str(e) for entry in record.parts for e in entry.get("errors", ()))
        return BatchStatus(
            record.id, record.state, int(record.counts.get("total", self.requests)),
            int(record.counts.get("completed", 0)), int(record.counts.get("failed", 0)),
            tuple(str(entry.get("status", "?")) for entry in record.parts), errors,
        )  # fmt: skip

    def _forgotten(self, what: str) -> str:
        """The line of a job whose server no longer knows ``what`` (a batch, a file, tasks)."""
        return _lost(_FORGOTTEN.format(url=self.record.base_url, what=what), self.folder)

    def _lose(self, messages: Mapping[int, str]) -> None:
        """The parts (by number) the server cannot answer for any more end ``lost``, each with its line, and so
        does the job once no other part runs; their lines nobody answered fail with that line when collected."""
        if not messages:
            return
        parts = [dict(entry) for entry in self.record.parts]
        for entry in parts:
            if int(entry["part"]) in messages:
                entry.update(status="lost", errors=[messages[int(entry["part"])]])
        self._save(parts=parts, state=_combine([str(e.get("status")) for e in parts]), counts=self._counts(parts))

    def _counts(self, parts: list[dict[str, Any]]) -> dict[str, int]:
        """The job's counts from its parts': a failed part's lines all failed; a lost part's lines failed but those
        collected before it was lost."""
        collected: dict[int, int] = {}
        if any(e.get("status") == "lost" for e in parts):
            lines = self._asked()
            for custom_id, (_, error) in self.gallery.job_results(self.id).items():
                if error is None:
                    collected[lines.part(custom_id)] = collected.get(lines.part(custom_id), 0) + 1
        total = done = failed = 0
        for entry in parts:
            counts, state = entry.get("counts") or {}, entry.get("status")
            total += int(counts.get("total") or entry["lines"])
            if state == "lost":
                kept = collected.get(int(entry["part"]), 0)
                done, failed = done + kept, failed + int(entry["lines"]) - kept
            else:
                done += int(counts.get("completed") or 0)
                failed += int(entry["lines"]) if state == "failed" else int(counts.get("failed") or 0)
        return {"total": total, "completed": done, "failed": failed}

    # ------------------------------------------------------------------ sending
    def _send(self, conn: Connection, plan: LinePlan, metadata: dict[str, str], callback: str) -> None:
        try:
            if self.engine == "batch":
                self._send_batches(conn, plan, metadata)
            else:
                self._send_tasks(conn, plan, callback)
        finally:
            for part in plan.parts:
                if part.upload != part.record:
                    part.upload.unlink(missing_ok=True)  # an edit's pictures as data URLs: sent, so not kept twice

    def _send_batches(self, conn: Connection, plan: LinePlan, metadata: dict[str, str]) -> None:
        parts = [dict(entry) for entry in self.record.parts]
        try:
            for part, entry in zip(plan.parts, parts, strict=True):
                entry["input_file_id"] = _run(batch_upload(conn, part.upload))
                mine = {**metadata, "dalle_nb_job": self.id, "dalle_nb_part": str(part.number)}
                batch = _run(batch_create(conn, entry["input_file_id"], part.endpoint, mine))
                entry.update(batch_id=batch["id"], status=batch["status"])
                self._save(parts=parts, state=_combine([str(e.get("status", "submitting")) for e in parts]))
        except BaseException:
            self._abandon(parts, sum(1 for entry in parts if entry.get("batch_id")))
            raise

    def _abandon(self, parts: list[dict[str, Any]], started: int) -> None:
        """After a failed send: forget a job nothing of which reached the engine, else keep what did."""
        if started == 0:
            self.gallery.delete_job(self.id)
            shutil.rmtree(self.folder, ignore_errors=True)
            return
        self._save(parts=parts, state=_combine([str(e.get("status", "failed")) for e in parts]))
        default_session().notice(
            f"{self.id}: {started} of {len(parts)} part(s) were sent before this failure; the job is kept "
            "(dalle_nb.jobs()) and its other lines will be reported as never sent."
        )

    def _trace_id(self, custom_id: str) -> str:
        return f"{self.record.parts[0]['trace_prefix']}-{custom_id}"

    def _send_tasks(self, conn: Connection, plan: LinePlan, callback: str) -> None:
        """Send every line as a task, ``concurrency`` at a time; a refused line is recorded as failed at once."""
        parts = [dict(entry) for entry in self.record.parts]
        limit = asyncio.Semaphore(max(1, default_session().settings().concurrency))
        accepted = 0
        first_error: APIError | None = None

        async def one(kind: str, line: dict[str, Any]) -> tuple[str, APIError | None]:
            async with limit:
                try:
                    await task_send(conn, kind, line["body"], callback_url=callback,
                                    trace_id=self._trace_id(line["custom_id"]),
                                    first_index=parse_custom_id(line["custom_id"])[1])  # fmt: skip
                except APIError as error:
                    return line["custom_id"], error
            return line["custom_id"], None

        async def many(kind: str, lines: list[dict[str, Any]]) -> list[tuple[str, APIError | None]]:
            return await asyncio.gather(*(one(kind, line) for line in lines))

        try:
            for part, entry in zip(plan.parts, parts, strict=True):
                with part.upload.open("rb") as source:
                    while chunk := [json.loads(raw) for _, raw in zip(range(_TASK_CHUNK), source, strict=False)]:
                        for custom_id, error in _run(many(part.kind, chunk)):
                            if error is None:
                                accepted += 1
                            else:
                                first_error = first_error or error
                                self.gallery.record_job_result(self.id, custom_id, [], _error_json(error))
                entry.update(status="in_progress", sent=time.time())  # when its tasks may be forgotten from
        except BaseException:
            self._abandon(parts, accepted)
            raise
        if accepted == 0 and first_error is not None:
            self._abandon(parts, 0)
            raise first_error
        self._save(parts=parts, state="in_progress")

    # ------------------------------------------------------------------ following it
    def status(self) -> BatchStatus:
        """Where the job stands now (asks the backend unless the job has ended).

        On the gateway's tasks, the pictures of tasks that have finished are saved into the gallery now.
        """
        record = self._reload()
        if record.state in TERMINAL:
            return self._status()
        try:
            conn = self._connection()
        except _Lost as lost:
            self._lose({int(e["part"]): lost.message for e in record.parts if e.get("status") not in TERMINAL})
            return self._status()
        with default_session().holding(conn):
            if self.engine == "batch":
                self._poll_batches(conn)
            else:
                self._poll_tasks(conn)
        return self._status()

    def _poll_batches(self, conn: Connection) -> None:
        parts = [dict(entry) for entry in self.record.parts]
        for entry in parts:
            if not entry.get("batch_id"):
                entry["status"] = "failed"
                entry["errors"] = ["this part was never sent: its upload failed"]
                continue
            if entry.get("status") in TERMINAL:
                continue
            try:
                batch = _run(batch_retrieve(conn, str(entry["batch_id"])))
            except NotFound:  # the server was restarted, or dropped it: it will never end otherwise
                entry.update(status="lost", errors=[self._forgotten(f"batch {entry['batch_id']}")])
                continue
            counts = batch.get("request_counts") or {}
            errors = ((batch.get("errors") or {}).get("data")) or []
            entry.update(
                status=batch["status"],
                output_file_id=batch.get("output_file_id"),
                error_file_id=batch.get("error_file_id"),
                counts={k: int(counts.get(k) or 0) for k in ("total", "completed", "failed")},
                errors=[
                    (f"line {e['line']}: " if e.get("line") else "") + str(e.get("message") or e.get("code"))
                    for e in errors
                ],
            )
        self._save(parts=parts, state=_combine([str(e.get("status")) for e in parts]), counts=self._counts(parts))

    def _poll_tasks(self, conn: Connection) -> None:
        """Ask for every task still out; save the pictures of those that have finished."""
        lines = self._asked()
        results = self.gallery.job_results(self.id)
        pending = [custom_id for custom_id in lines.ids() if custom_id not in results]
        record = self.record
        sent = max(float(entry.get("sent", record.created)) for entry in record.parts)
        grace = 0.0 if _local(record.base_url) else TASK_GRACE
        may_forget = record.state != "submitting" and time.time() - sent >= grace

        async def one(custom_id: str) -> tuple[str, _Pictures, APIError | None] | None:
            trace_id = self._trace_id(custom_id)
            task = await task_retrieve(conn, trace_id)
            if not task and may_forget:  # {}: a task the server no longer knows never ends otherwise
                return custom_id, [], APIError(self._forgotten(f"this line's task {trace_id}"), code=_LOST_CODE)
            response = task.get("response")
            if not isinstance(response, dict) or "success" not in response:
                return None  # not visible yet ({}, within the grace), or still running
            if response.get("success") is not True:
                return custom_id, [], from_body(None, response)
            data = response.get("data")
            items = data.get("data") if isinstance(data, dict) else data
            try:
                return custom_id, await task_pictures(conn, items if isinstance(items, list) else []), None
            except APIError as error:  # a picture URL that expired or cannot be reached: the line failed
                return custom_id, [], error

        async def many(ids: list[str]) -> list[Any]:
            return await asyncio.gather(*(one(custom_id) for custom_id in ids))

        with _Savers(self) as savers:
            for start in range(0, len(pending), _TASK_CHUNK):
                for found in _run(many(pending[start : start + _TASK_CHUNK])):
                    if found is not None:
                        custom_id, pictures, error = found
                        savers.keep(custom_id, pictures, None, error)
        results = self.gallery.job_results(self.id)
        failed = sum(1 for _, error in results.values() if error is not None)
        lost = sum(1 for _, error in results.values() if error is not None and error.get("code") == _LOST_CODE)
        counts = {"total": len(lines), "completed": len(results) - failed, "failed": failed}
        state = ("lost" if lost else "completed") if len(results) >= len(lines) else "in_progress"
        why = {"errors": [self._forgotten(f"{lost:,} of this job's tasks")]} if lost else {}
        self._save(state=state, counts=counts, parts=[{**e, "status": state, **why} for e in self.record.parts])

    def wait(self, progress: bool = True, *, timeout: float | None = None, poll: float | None = None) -> BatchStatus:
        """Wait until the job ends, showing its state and counts (``progress=False``: quietly); returns the status.

        Polls with backoff (from 0.2 s up to ``poll``, by default 2 s for a server on this machine and 30 s
        otherwise).  ``timeout`` seconds without an end raise ``TimeoutError``.  Ctrl-C stops waiting, not the job.
        """
        shown = _progress(self) if progress else None
        ceiling = poll if poll is not None else (POLL_LOCAL if _local(self.record.base_url) else POLL_REMOTE)
        interval = min(POLL_FIRST, ceiling)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                status = self.status()
                if shown is not None:
                    shown.show(status)
                if status.done:
                    return status
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(f"{self.id} is still {status.state} after {timeout:g} s; wait() again later.")
                time.sleep(interval if deadline is None else max(0.0, min(interval, deadline - time.monotonic())))
                interval = min(ceiling, interval * POLL_GROWTH)
        except KeyboardInterrupt:
            default_session().notice(f"stopped waiting; {self.id} goes on running (dalle_nb.jobs() finds it).")
            raise
        finally:
            if shown is not None:
                shown.close()

    def cancel(self) -> BatchStatus:
        """Stop the job: running batches move to ``cancelling`` and then ``cancelled`` (what ran is kept).

        A gateway has no way to stop a task: the job stops waiting for its tasks, which may still run.
        """
        record = self._reload()
        if record.state in TERMINAL:
            return self._status()
        if self.engine == "tasks":
            self._save(state="cancelled")
            return self._status()
        try:
            conn = self._connection()
        except _Lost:
            return self.status()  # which ends the job as lost
        parts = [dict(entry) for entry in record.parts]
        forgotten: dict[int, str] = {}
        with default_session().holding(conn):
            for entry in parts:
                if entry.get("batch_id") and entry.get("status") not in TERMINAL:
                    try:
                        entry["status"] = _run(batch_cancel(conn, str(entry["batch_id"])))["status"]
                    except NotFound:
                        forgotten[int(entry["part"])] = self._forgotten(f"batch {entry['batch_id']}")
        self._save(parts=parts, state=_combine([str(e.get("status")) for e in parts]))
        self._lose(forgotten)
        return self.status()

    # ------------------------------------------------------------------ collecting
    def collect(self, *, wait: bool = True, progress: bool = False) -> ImageSet:
        """The job's pictures, saved into the gallery with their prompts and parameters, in request order.

        Waits for the job to end first (``wait=False``: collects what has finished and says what has not).
        Failed lines are ``Failure``\\ s with the API's message.  Each line is saved once: collecting again,
        in this kernel or another, returns the same pictures.
        """
        lines = self._asked()
        results = self.gallery.job_results(self.id)
        notices: list[str] = []
        if len(results) < len(lines):
            status = self.wait(progress=progress) if wait else self.status()
            if self.engine == "batch":
                self._collect_files(lines, results)
            results = self.gallery.job_results(self.id)
            missing = [custom_id for custom_id in lines.ids() if custom_id not in results]
            if status.done:
                self._no_answer(missing)
                results = self.gallery.job_results(self.id)
            elif missing:
                notices.append(
                    f"{self.id}: {len(missing):,} request(s) are still {status.state}; collect() again later."
                )
        return self._image_set(lines, results, notices)

    def _collect_files(self, lines: _Lines, results: dict[str, tuple[tuple[str, ...], dict[str, Any] | None]]) -> None:
        """Download the output and error files of the ended batches and save the lines not collected yet.

        A part whose files the server cannot give any more (restarted, or in a kernel that stopped) ends ``lost``.
        """
        wanted = {lines.part(custom_id) for custom_id in lines.ids() if custom_id not in results}
        files = [
            (int(entry["part"]), str(entry[key]))
            for entry in self.record.parts
            if int(entry["part"]) in wanted and entry.get("status") in TERMINAL
            for key in ("output_file_id", "error_file_id")
            if entry.get(key)
        ]
        if not files:
            return
        try:
            conn = self._connection()
        except _Lost as lost:
            self._lose({part: lost.message for part, _ in files})
            return
        forgotten: dict[int, str] = {}
        with default_session().holding(conn), _Savers(self) as savers:
            for part, file_id in files:
                target = self.folder / f".{file_id}.download"
                try:
                    _run(batch_download(conn, file_id, target))
                    with target.open("rb") as source:
                        for raw in source:
                            row = json.loads(raw)
                            custom_id = row.get("custom_id")
                            if isinstance(custom_id, str) and custom_id not in results:
                                savers.keep(custom_id, *_answer(row))
                except NotFound:
                    forgotten.setdefault(part, self._forgotten(f"the file {file_id} of this job's results"))
                finally:
                    target.unlink(missing_ok=True)
        self._lose(forgotten)

    def _no_answer(self, missing: list[str]) -> None:
        """Lines of an ended job that no file answers: failed, and said why (recorded, so it stays said)."""
        if not missing:
            return
        lines = self._asked()
        by_part = {int(entry["part"]): entry for entry in self.record.parts}
        for custom_id in missing:
            entry = by_part.get(lines.part(custom_id), {})
            why = next(iter(entry.get("errors") or ()), None)
            state = str(entry.get("status", self.record.state))
            # (a job recorded lost before its parts were kept its parts' last states)
            if state == "lost" or (self.record.state == "lost" and state not in TERMINAL):
                message, code = why or _lost(_STOPPED, self.folder), _LOST_CODE
            elif self.record.state == "cancelled":
                message, code = "the job was cancelled before this request finished", "batch_cancelled"
            elif why:
                message, code = f"the batch {state}: {why}", f"batch_{state}"
            else:
                message, code = f"the batch ended ({state}) without an answer for this request", f"batch_{state}"
            error = APIError(message, code=code)
            self.gallery.record_job_result(self.id, custom_id, [], _error_json(error))

    def _image_set(
        self, lines: _Lines, results: dict[str, tuple[tuple[str, ...], dict[str, Any] | None]], notices: list[str]
    ) -> ImageSet:
        images: list[GeneratedImage] = []
        failures: list[Failure] = []
        shown = default_session().settings().thumbnail_size
        for custom_id in lines.ids():
            found = results.get(custom_id)
            if found is None:
                continue
            ids, error = found
            label = lines.label(custom_id)
            for image_id in ids:
                try:
                    image = GeneratedImage.from_record(self.gallery.get(image_id), preview_size=shown)
                except KeyError:  # indexed at the next open of the gallery (a save whose row failed)
                    continue
                image.label = label
                images.append(image)
            if error is not None:
                failures.append(Failure(lines.asked(custom_id).prompt, _error_from(error), label))
        return ImageSet(images, failures, notices)


def _answer(row: Mapping[str, Any]) -> tuple[_Pictures, dict[str, Any] | None, APIError | None]:
    """One line of an output or error file: its pictures (base64, decoded by the savers) and usage, or its error."""
    error = row.get("error")
    response = row.get("response")
    if isinstance(error, Mapping):
        return [], None, from_body(None, error)
    if not isinstance(response, Mapping):
        return [], None, APIError("The batch answered this request with neither a response nor an error.")
    status = response.get("status_code")
    body = response.get("body")
    request_id = response.get("request_id")
    if status != 200 or not isinstance(body, Mapping):
        return [], None, from_body(status if isinstance(status, int) else None, body, request_id=request_id)
    pictures: _Pictures = []
    for item in body.get("data") or []:
        if isinstance(item, Mapping) and isinstance(item.get("b64_json"), str):
            pictures.append((item["b64_json"], item.get("revised_prompt")))
    if not pictures:
        return (
            [],
            None,
            APIError("The batch answered this request without pictures in b64_json.", request_id=request_id),
        )
    usage = body.get("usage")
    return pictures, dict(usage) if isinstance(usage, Mapping) else None, None


class _Savers:
    """Decode and save the pictures of answered lines in a few threads, then record each line as collected.

    A line is recorded only once every picture of it is on disk, so a line cut off by a crash is collected again
    (never half).  A picture that cannot be saved leaves its line unrecorded and is reported.
    """

    def __init__(self, job: BatchJob) -> None:
        self.job = job
        self.lines = job._asked()
        record = job.record
        self.backend = record.backend if record.backend in ("offline", "openai") else record.base_url
        self.pool = concurrent.futures.ThreadPoolExecutor(_SAVERS, thread_name_prefix="dalle-nb-collect")
        self.room = threading.BoundedSemaphore(_QUEUED)  # an output file is read no faster than it is saved
        self.problems: list[BaseException] = []
        session = default_session()
        #: The prices collected pictures are billed at (the settings now: a price set since the job was sent counts).
        self.settings = session.settings()
        self.session = session.id
        self.batch = record.engine == "batch"  # the Batch API's discount; a gateway's tasks bill as it does

    def __enter__(self) -> _Savers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(wait=True)
        if self.problems and exc[0] is None:
            raise self.problems[0]

    def keep(
        self,
        custom_id: str,
        pictures: _Pictures,
        usage: dict[str, Any] | None,
        error: APIError | None,
    ) -> None:
        """Save a line's pictures (bytes, or base64 decoded here, on a saver thread) or record its error."""
        self.room.acquire()
        self.pool.submit(self._keep, custom_id, pictures, usage, error).add_done_callback(lambda _: self.room.release())

    def _keep(
        self,
        custom_id: str,
        pictures: _Pictures,
        usage: dict[str, Any] | None,
        error: APIError | None,
    ) -> None:
        gallery = self.job.gallery
        try:
            if error is not None:
                gallery.record_job_result(self.job.id, custom_id, [], _error_json(error))
                return
            asked = self.lines.asked(custom_id)
            ids = []
            for data, revised in pictures:
                raw = base64.b64decode(data) if isinstance(data, str) else data
                fmt, size = sniff(raw)
                # the line's usage counts all its pictures; each picture is its share, at the batch's price
                cost = bill(asked.body, usage, self.settings, share=1 / len(pictures), batch=self.batch, size=size)
                try:
                    saved = gallery.save(
                        raw, prompt=asked.prompt, model=str(asked.body.get("model", "")), kind=asked.kind,
                        output_format=fmt, size=size, revised_prompt=revised, params=asked.body, usage=usage,
                        parent_ids=asked.parents, backend=self.backend, cost=cost, session=self.session,
                    )  # fmt: skip
                    ids.append(saved.id)
                except GalleryError as failed:
                    if failed.record_id is None:  # not on disk: the line is collected again next time
                        raise
                    ids.append(failed.record_id)  # on disk, indexed at the gallery's next open
            gallery.record_job_result(self.job.id, custom_id, ids)
        except BaseException as problem:  # reported once the file is read; the other lines go on
            self.problems.append(problem)


# ---------------------------------------------------------------------------- the public functions
#: ``submit``'s own options, which are left out when None (the settings decide); what it passes on (the
#: ``ApiFields``, an undeclared field) is sent as given.
_UNSET_WHEN_NONE = names(BatchOptions) - names(ApiFields)


@shows_options(BatchOptions, extra=True)
def submit(
    prompts: str | Iterable[object],
    *,
    labels: Iterable[str | None] | None = None,
    metadata: Mapping[str, str] | None = None,
    callback_url: str | None = None,
    completion_window: str = COMPLETION_WINDOW,
    **options: Unpack[BatchOptions],
) -> BatchJob:
    """Run a list of prompts (or of ``generate`` / ``edit`` argument dicts) as a background job; returns at once.

    Every line is checked as ``generate`` and ``edit`` check theirs, and a refusal (``InvalidRequest``) comes
    before anything is uploaded; so do the Batch API's limits: no variations, only the 24 h window.  A list
    larger than one batch takes (50,000 requests or 200 MB) becomes several batches of one job.  ``prompts``
    may be a generator: lines are written to disk as they are planned, never held in memory.  The job is in
    the gallery's index before this returns (``dalle_nb.jobs()``).  Options apply to every line; a dict item
    overrides them for its line (``{"prompt": ..., "size": ...}``; ``{"image": ..., "prompt": ..., "mask": ...}``
    is an edit).  ``labels`` name the lines (a prompt matrix's choices).  ``callback_url`` is for a gateway's
    task mode.  Prompts go to the Images API exactly as written: a batch revises none (``revise`` is for
    interactive calls).  The pictures count against ``max_images``, and their estimate at the batch price
    against ``max_cost``, when the job is sent (``dalle_nb.estimate(dalle_nb.submit, prompts, ...)`` prices it
    first).  An option not listed is sent as an API field of its own on every line (checked as the rest).
    """
    if completion_window != COMPLETION_WINDOW:
        raise InvalidRequest(
            f"completion_window must be {COMPLETION_WINDOW!r}: the Batch API runs a batch within 24 hours and takes "
            f"no other window (not {completion_window!r}).", field="completion_window", value=completion_window,
            allowed=(COMPLETION_WINDOW,),
        )  # fmt: skip
    session = default_session()
    settings = session.settings(model=options.get("model"), size=options.get("size"), quality=options.get("quality"))
    engine = _engine(settings)
    mine = _metadata(metadata)
    if callback_url is not None and engine != "tasks":
        raise InvalidRequest(
            "callback_url is for a gateway's task mode; the Batch API calls no URL (configure(task_mode='gateway') "
            "on a gateway that speaks it).", field="callback_url", value=callback_url,
        )  # fmt: skip
    callback = _callback(callback_url)
    given = _given(options)
    gallery = session.gallery(settings)
    created = time.time()
    job_id = _new_id(created)
    folder = gallery.job_dir(job_id)
    items: Iterable[object] = [prompts] if isinstance(prompts, str) else prompts
    try:
        plan = write_lines(items, given, folder, context=session, labels=labels, batch=engine == "batch")
        conn = session.connection(settings)
        # a class's budget (max_images, max_cost) counts background jobs too, at the price they are billed
        held = session.reserve_pictures(settings, plan.pictures, plan.estimate)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    token = uuid.uuid4().hex
    parts = tuple(
        {"part": p.number, "endpoint": p.endpoint, "model": p.model, "lines": p.lines, "pictures": p.pictures,
         "record": p.record.name, **({"trace_prefix": token} if engine == "tasks" else {})}
        for p in plan.parts
    )  # fmt: skip
    record = JobRecord(
        job_id, created, engine, settings.backend, conn.base_url, plan.lines, plan.pictures, plan.title, parts,
        "submitting", {"total": plan.lines, "completed": 0, "failed": 0},
    )  # fmt: skip
    sent = 0
    try:
        try:
            gallery.save_job(record)  # before anything is sent: a restart from here on loses nothing
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        for notice in plan.notices:
            session.notice(notice)
        job = BatchJob(record, gallery)
        with session.holding(conn):
            job._send(conn, plan, mine, callback)
        sent = plan.pictures  # paid for once sent, whenever and wherever they are collected
    finally:
        spent = (plan.estimate.high or 0.0) if sent else 0.0  # billed as collected: the estimate counts until then
        session.settle_pictures(plan.pictures, sent, held=held, spent=spent)
    where = "the Batch API (results within 24 h)" if engine == "batch" else "gateway tasks"
    session.notice(
        f"{job.id}: {plan.lines:,} request(s) sent to {where}; dalle_nb.jobs() finds the job after a restart."
    )
    return job


def _given(options: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in options.items() if value is not None or name not in _UNSET_WHEN_NONE}


def plan_submit(
    prompts: str | Iterable[object], *, labels: Iterable[str | None] | None = None, **options: Any
) -> LinePlan:
    """What ``submit(prompts, labels=labels, **options)`` would send, planned and checked as it plans it, and
    priced (``.estimate``, at the Batch API's price where the job would go there): nothing is written, sent
    or taken from the budget.  What ``dn.estimate(dn.submit, ...)`` reads."""
    session = default_session()
    settings = session.settings(model=options.get("model"), size=options.get("size"), quality=options.get("quality"))
    items: Iterable[object] = [prompts] if isinstance(prompts, str) else prompts
    batch = _engine(settings) == "batch"
    return write_lines(items, _given(options), None, context=session, labels=labels, batch=batch)


def jobs(limit: int = 20) -> list[BatchJob]:
    """The background jobs of this gallery, newest first, from any kernel that ran: ``jobs()[0].collect()``."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidRequest(f"limit must be a whole number of jobs, 1 or more, not {limit!r}.", field="limit")
    gallery = default_session().gallery()
    return [BatchJob(record, gallery) for record in gallery.jobs(limit)]


__all__ = ["BatchJob", "BatchStatus", "jobs", "plan_submit", "submit"]
