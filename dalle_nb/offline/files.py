"""The offline server's Files API: uploads kept on disk in a private temporary folder, within a size cap.

Batches read their input from a file and write their results to files, and image inputs may name a file by
its id instead of carrying its bytes, so ``POST /v1/files``, ``GET /v1/files[/{id}[/content]]`` and
``DELETE /v1/files/{id}`` answer as OpenAI's do.  An upload is streamed to disk, never held whole in memory;
the folder is made at the first upload, removed when the server goes away, and holds at most
``ServerOptions.files_limit`` bytes (2 GB by default) of uploads and batch outputs together.  Files expire
as OpenAI's do (``purpose=batch``: after 30 days, or ``expires_after``).

This module also reads the JSON form of an edit (``images`` and ``mask`` given as ``{"image_url": data URL}``
or ``{"file_id": ...}``) and resolves the same references for the Responses API, since resolving those references
is resolving files.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from ..core.capabilities import DATA_URL_LIMIT, MB, MODELS
from .app import APIFailure, _FileTooLarge, read_form
from .options import Fault

if TYPE_CHECKING:
    from .app import OfflineImagesAPI

#: What ``purpose`` an upload may give (the SDK's ``FilePurpose``).
PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
#: OpenAI takes files of up to 512 MB.
UPLOAD_LIMIT = 512 * MB
#: ``purpose=batch`` files (and batch outputs) expire after 30 days unless ``expires_after`` says otherwise.
BATCH_FILE_TTL = 30 * 24 * 3600
EXPIRY_RANGE = (3600, 30 * 24 * 3600)
#: An edit sent as JSON takes 1 to 16 input images (OpenAPI ``EditImageBodyJsonParam``).
MAX_JSON_IMAGES = 16
_DATA_URL = re.compile(r"data:(?:[\w.+-]+/[\w.+-]+)?(?:;[^;,]*)*;base64,(?P<data>.*)", re.DOTALL)


def new_id(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(12)}"


@dataclass
class StoredFile:
    """One file the server keeps: its ``FileObject`` fields and where its bytes are."""

    id: str
    filename: str
    purpose: str
    bytes: int
    created_at: int
    expires_at: int | None
    path: Path

    def body(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
            "expires_at": self.expires_at,
        }


class FileStore:
    """Files on disk under one temporary folder, and the bytes they (and files being written) take.

    Thread-safe: uploads are copied, batch outputs written and image inputs read in worker threads.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._files: dict[str, StoredFile] = {}
        self._reserved = 0
        self._lock = threading.Lock()

    @property
    def directory(self) -> Path:
        with self._lock:
            if self._folder is None:
                # removed when the server is garbage-collected or the process exits, whichever comes first
                self._folder = tempfile.TemporaryDirectory(prefix="dalle-nb-files-")
            return Path(self._folder.name)

    def new_path(self, file_id: str) -> Path:
        return self.directory / file_id

    def used(self) -> int:
        """Bytes kept now: stored files and bytes set aside for files being written."""
        with self._lock:
            return sum(f.bytes for f in self._files.values()) + self._reserved

    def reserve(self, nbytes: int) -> bool:
        """Set aside ``nbytes`` for a file being written; False when that would pass the cap."""
        with self._lock:
            if sum(f.bytes for f in self._files.values()) + self._reserved + nbytes > self.limit:
                return False
            self._reserved += nbytes
            return True

    def release(self, nbytes: int) -> None:
        with self._lock:
            self._reserved = max(0, self._reserved - nbytes)

    def add(
        self, file_id: str, path: Path, *, filename: str, purpose: str, expires_after: int | None, reserved: int = 0
    ) -> StoredFile:
        """Keep the file written at ``path`` (its reserved bytes become the file's)."""
        now = int(time.time())
        size = path.stat().st_size
        stored = StoredFile(
            file_id, filename, purpose, size, now, None if expires_after is None else now + expires_after, path
        )
        with self._lock:
            self._reserved = max(0, self._reserved - reserved)
            self._files[file_id] = stored
        return stored

    def get(self, file_id: str) -> StoredFile | None:
        """The file, or None when it never existed, was deleted or has expired (then it is removed)."""
        with self._lock:
            stored = self._files.get(file_id)
            if stored is None or stored.expires_at is None or stored.expires_at > time.time():
                return stored
            del self._files[file_id]
        with contextlib.suppress(OSError):
            stored.path.unlink()
        return None

    def delete(self, file_id: str) -> bool:
        stored = self.get(file_id)
        if stored is None:
            return False
        with self._lock:
            self._files.pop(file_id, None)
        with contextlib.suppress(OSError):
            stored.path.unlink()
        return True

    def lookup(self, file_id: str) -> bytes | None:
        """A file's bytes, for an image given by ``file_id`` (called off the server's loop)."""
        stored = self.get(file_id)
        if stored is None:
            return None
        try:
            return stored.path.read_bytes()
        except OSError:
            return None

    def listed(self, purpose: str | None = None) -> list[StoredFile]:
        """Live files, newest first."""
        with self._lock:
            ids = list(self._files)
        found = [f for f in map(self.get, ids) if f is not None and (purpose is None or f.purpose == purpose)]
        return sorted(found, key=lambda f: f.created_at, reverse=True)

    def close(self) -> None:
        with self._lock:
            folder, self._folder = self._folder, None
            self._files.clear()
            self._reserved = 0
        if folder is not None:
            folder.cleanup()


def not_found(file_id: str) -> APIFailure:
    return APIFailure(404, f"No such File object: {file_id}", param="id", code="file_not_found")


def _expiry(fields: Mapping[str, Any], purpose: str) -> int | None:
    """Seconds a new file lives: ``expires_after[seconds]`` (anchor ``created_at``), else 30 days for batch files."""
    anchor, seconds = fields.get("expires_after[anchor]"), fields.get("expires_after[seconds]")
    if anchor is None and seconds is None:
        return BATCH_FILE_TTL if purpose == "batch" else None
    if anchor != "created_at":
        raise APIFailure(
            400, "expires_after.anchor must be 'created_at'.", param="expires_after.anchor", code="invalid_value"
        )
    low, high = EXPIRY_RANGE
    if not (isinstance(seconds, str) and seconds.isdigit() and low <= int(seconds) <= high):
        raise APIFailure(
            400, f"expires_after.seconds must be a whole number from {low} to {high}, not {seconds!r}.",
            param="expires_after.seconds", code="invalid_value",
        )  # fmt: skip
    return int(seconds)


class FilesAPI:
    """``/v1/files`` bound to one ``OfflineImagesAPI``: its key check, faults, limits and error bodies."""

    def __init__(self, api: OfflineImagesAPI) -> None:
        self.api = api
        self.store = FileStore(api.options.files_limit)

    def routes(self) -> list[Route]:
        return [
            Route("/v1/files", self.create, methods=["POST"]),
            Route("/v1/files", self.listing, methods=["GET"]),
            Route("/v1/files/{file_id}", self.retrieve, methods=["GET"]),
            Route("/v1/files/{file_id}", self.delete, methods=["DELETE"]),
            Route("/v1/files/{file_id}/content", self.content, methods=["GET"]),
        ]

    # ------------------------------------------------------------------ routes
    async def create(self, request: Request) -> Response:
        return await self.api._guard(request, "files", self._create, limit=UPLOAD_LIMIT + MB)

    async def _create(self, request: Request, fault: Fault | None) -> Response:
        try:
            form = await read_form(
                request, "Upload a file as 'multipart/form-data' with a 'file' part and a 'purpose' field.",
                max_files=1, max_fields=16, file_limit=UPLOAD_LIMIT,
            )  # fmt: skip
        except _FileTooLarge:
            raise APIFailure(
                413, f"The file is larger than {UPLOAD_LIMIT // MB} MB, the most the Files API takes.",
                param="file", code="file_too_large",
            ) from None  # fmt: skip
        try:
            upload = form.get("file")
            fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
            if not isinstance(upload, UploadFile):
                raise APIFailure(
                    400, "A 'file' part is required.", param="file", code="missing_required_parameter"
                )  # fmt: skip
            purpose = fields.get("purpose")
            if purpose not in PURPOSES:
                raise APIFailure(
                    400, f"'purpose' must be one of {', '.join(PURPOSES)}, not {purpose!r}.", param="purpose",
                    code="invalid_value" if purpose is not None else "missing_required_parameter",
                )  # fmt: skip
            ttl = _expiry(fields, purpose)
            return JSONResponse((await run_in_threadpool(self._keep, upload, purpose, ttl)).body())
        finally:
            await form.close()

    def _keep(self, upload: UploadFile, purpose: str, ttl: int | None) -> StoredFile:
        """Copy a parsed upload into the store, within its cap (in a worker thread)."""
        upload.file.seek(0, os.SEEK_END)
        size = upload.file.tell()
        upload.file.seek(0)
        if not self.store.reserve(size):
            raise APIFailure(
                400,
                f"The offline server keeps at most {self.store.limit / MB:,.0f} MB of files and "
                f"{self.store.used() / MB:,.1f} MB are in use; delete files you no longer need "
                "(DELETE /v1/files/{id}) or start it with a larger DALLE_NB_OFFLINE_FILES_LIMIT_MB.",
                param="file", code="storage_limit_exceeded",
            )  # fmt: skip
        file_id = new_id("file-")
        path = self.store.new_path(file_id)
        try:
            with path.open("wb") as out:
                shutil.copyfileobj(upload.file, out, 1024 * 1024)
        except BaseException:
            self.store.release(size)
            with contextlib.suppress(OSError):
                path.unlink()
            raise
        name = os.path.basename(upload.filename or "upload")
        return self.store.add(file_id, path, filename=name, purpose=purpose, expires_after=ttl, reserved=size)

    async def retrieve(self, request: Request) -> Response:
        self.api._check_key(request)
        return JSONResponse(self._found(request).body())

    async def content(self, request: Request) -> Response:
        self.api._check_key(request)
        stored = self._found(request)
        # streamed from disk in chunks: a 200 MB output file never sits in the server's memory
        return FileResponse(stored.path, media_type="application/octet-stream")

    async def delete(self, request: Request) -> Response:
        self.api._check_key(request)
        file_id = request.path_params["file_id"]
        if not await run_in_threadpool(self.store.delete, file_id):
            raise not_found(file_id)
        return JSONResponse({"id": file_id, "object": "file", "deleted": True})

    async def listing(self, request: Request) -> Response:
        self.api._check_key(request)
        files = self.store.listed(request.query_params.get("purpose"))
        if request.query_params.get("order") == "asc":
            files.reverse()
        return JSONResponse(page([f.body() for f in files], request.query_params.get("after"),
                                 request.query_params.get("limit"), default=10000, most=10000))  # fmt: skip

    def _found(self, request: Request) -> StoredFile:
        file_id = request.path_params["file_id"]
        stored = self.store.get(file_id)
        if stored is None:
            raise not_found(file_id)
        return stored

    # ------------------------------------------------------------------ edits sent as JSON
    async def json_edit(self, request: Request) -> tuple[dict[str, Any], dict[str, list[bytes]]]:
        """The fields and files of an edit sent as ``application/json``, as the multipart form gives them.

        ``images`` (1-16) and ``mask`` are ``{"image_url": "data:..."}`` or ``{"file_id": "file-..."}``;
        GPT image models only, as OpenAI documents (``dall-e-2`` edits stay multipart).
        """
        params = await self.api._json_params(request)
        for name in ("image", "image[]", "markup"):
            if name in params:
                raise APIFailure(
                    400, f"'{name}' is a multipart file field; an edit sent as JSON gives its pictures as "
                    "'images': [{'image_url': 'data:image/png;base64,...'} or {'file_id': 'file-...'}].",
                    param=name, code="unknown_parameter",
                )  # fmt: skip
        model = params.get("model")
        spec = MODELS.get(model) if isinstance(model, str) else None
        if model is None or (spec is not None and not spec.is_gpt):
            raise APIFailure(
                400, "An edit sent as JSON needs a GPT image 'model' (gpt-image-1.5, gpt-image-2, ...); send "
                "dall-e-2 edits as multipart/form-data.", param="model",
                code="missing_required_parameter" if model is None else "unsupported_value",
            )  # fmt: skip
        images = params.pop("images", None)
        if not isinstance(images, list) or not 1 <= len(images) <= MAX_JSON_IMAGES:
            raise APIFailure(
                400, f"'images' must be a list of 1 to {MAX_JSON_IMAGES} image references "
                "({'image_url': data URL} or {'file_id': id}).", param="images",
                code="missing_required_parameter" if images is None else "invalid_value",
            )  # fmt: skip
        mask = params.pop("mask", None)
        refs = [(f"images[{i}]", ref) for i, ref in enumerate(images)]
        if mask is not None:
            refs.append(("mask", mask))
        loaded = await run_in_threadpool(lambda: [(where, self.image_ref(ref, where)) for where, ref in refs])
        files: dict[str, list[bytes]] = {"image": [data for where, data in loaded if where != "mask"]}
        if mask is not None:
            files["mask"] = [loaded[-1][1]]
        return params, files

    def image_ref(self, ref: object, where: str, *, loose: bool = False) -> bytes:
        """The bytes behind ``{"image_url": data URL}`` or ``{"file_id": id}`` (exactly one of them not null).

        ``where`` names ``ref`` in the request.  ``loose``: other keys may sit beside them (a Responses
        ``input_image`` part's ``type`` and ``detail``); a JSON edit's references hold only the one.
        """
        url = ref.get("image_url") if isinstance(ref, Mapping) else None
        file_id = ref.get("file_id") if isinstance(ref, Mapping) else None
        if not isinstance(ref, Mapping) or (url is None) == (file_id is None) or (not loose and len(ref) != 1):
            raise APIFailure(
                400, f"'{where}' needs exactly one of 'image_url' (a data URL) or 'file_id'.", param=where,
                code="invalid_value",
            )  # fmt: skip
        if file_id is None:
            return data_url(url, f"{where}.image_url")
        at = f"{where}.file_id"
        if not isinstance(file_id, str):
            raise APIFailure(400, f"'{at}' must be a string.", param=at, code="invalid_type")
        data = self.store.lookup(file_id)
        if data is None:
            raise APIFailure(400, f"No file found with id '{file_id}'.", param=at, code="image_file_not_found")
        return data


def data_url(url: object, where: str) -> bytes:
    """The bytes of a base64 ``data:`` URL; ``where`` names the field in refusals."""
    if not isinstance(url, str):
        raise APIFailure(400, f"'{where}' must be a string.", param=where, code="invalid_type")
    if len(url) > DATA_URL_LIMIT:
        raise APIFailure(
            400,
            f"'{where}' is {len(url):,} characters; a data URL may be at most {DATA_URL_LIMIT:,}.",
            param=where,
            code="string_above_max_length",
        )
    if url.startswith(("http://", "https://")):
        raise APIFailure(
            400,
            f"The offline server cannot download '{url[:80]}': send the image as a data URL "
            "(data:image/png;base64,...).",
            param=where,
            code="invalid_image_url",
        )
    match = _DATA_URL.fullmatch(url)
    if match is None:
        raise APIFailure(
            400, f"'{where}' must be a base64 data URL (data:image/png;base64,...).", param=where,
            code="invalid_image_url",
        )  # fmt: skip
    try:
        return base64.b64decode(match.group("data"), validate=True)
    except (binascii.Error, ValueError):
        raise APIFailure(
            400, f"The data URL in '{where}' is not valid base64.", param=where, code="invalid_base64_image"
        ) from None


def page(
    items: list[dict[str, Any]], after: str | None, limit: str | None, *, default: int, most: int
) -> dict[str, Any]:
    """One page of a cursor list as the SDK's ``CursorPage`` reads it: items after the id ``after``, ``has_more``."""
    if limit is None:
        count = default
    elif limit.isdigit() and 1 <= int(limit) <= most:
        count = int(limit)
    else:
        raise APIFailure(400, f"limit must be a whole number from 1 to {most}, not {limit!r}.", param="limit",
                         code="invalid_value")  # fmt: skip
    start = 0
    if after is not None:
        ids = [item["id"] for item in items]
        start = ids.index(after) + 1 if after in ids else len(items)
    chosen = items[start : start + count]
    return {
        "object": "list",
        "data": chosen,
        "first_id": chosen[0]["id"] if chosen else None,
        "last_id": chosen[-1]["id"] if chosen else None,
        "has_more": start + count < len(items),
    }
