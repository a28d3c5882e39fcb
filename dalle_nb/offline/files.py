"""The offline server's Files API: ``POST /v1/files``, ``GET /v1/files[/{id}[/content]]``, ``DELETE /v1/files/{id}``.

Batches read their input from a file and write their results to files, and image inputs may name a file by its id
instead of carrying its bytes, so these routes answer as OpenAI's do.  An upload is streamed to disk, never held
whole in memory, into the server's ``FileStore`` (``store``), within its cap.  Files expire as OpenAI's do
(``purpose=batch``: after 30 days, or ``expires_after``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from ..core.capabilities import MB
from .http import APIFailure, Body, FileTooLarge, Gate, new_id, page
from .options import Fault
from .store import EXPIRY_RANGE, StoredFile

#: What ``purpose`` an upload may give (the SDK's ``FilePurpose``).
PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
#: OpenAI takes files of up to 512 MB.
UPLOAD_LIMIT = 512 * MB
#: ``purpose=batch`` files (and batch outputs) expire after 30 days unless ``expires_after`` says otherwise.
BATCH_FILE_TTL = 30 * 24 * 3600


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
    """``/v1/files`` bound to one server's ``Gate``: its key check, faults, limits, and the file store it shares."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.store = gate.store

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
        return await self.gate.guard(request, "files", self._create, limit=UPLOAD_LIMIT + MB)

    async def _create(self, request: Request, reader: Body, fault: Fault | None) -> Response:
        try:
            form = await reader.form(
                "Upload a file as 'multipart/form-data' with a 'file' part and a 'purpose' field.",
                max_files=1, max_fields=16, file_limit=UPLOAD_LIMIT,
            )  # fmt: skip
        except FileTooLarge:
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
        self.gate.check_key(request)
        return JSONResponse(self._found(request).body())

    async def content(self, request: Request) -> Response:
        self.gate.check_key(request)
        stored = self._found(request)
        # streamed from disk in chunks: a 200 MB output file never sits in the server's memory
        return FileResponse(stored.path, media_type="application/octet-stream")

    async def delete(self, request: Request) -> Response:
        self.gate.check_key(request)
        file_id = request.path_params["file_id"]
        if not await run_in_threadpool(self.store.delete, file_id):
            raise not_found(file_id)
        return JSONResponse({"id": file_id, "object": "file", "deleted": True})

    async def listing(self, request: Request) -> Response:
        self.gate.check_key(request)
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
