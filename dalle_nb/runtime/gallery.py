"""On-disk history of every generated image: atomic image files plus an SQLite index.

Images cost money and time, and a Jupyter kernel can die at any moment, so every picture is
written to disk *before* it is returned or shown ("save before show").  The file is written
atomically (temp file in the same folder, ``fsync``, ``os.replace``), so a crash leaves either the
whole picture or nothing -- never half a PNG.  Only then is a row added to ``index.sqlite3``; if
that fails the picture stays on disk and the caller hears about it through
``GalleryIndexError`` (a ``DalleError``), which names the file.

The index runs in WAL mode with a busy timeout, so a second kernel (or the CLI) can read the
history while this one writes.  Paths are stored relative to the gallery folder, so the whole
folder can be moved or synced elsewhere and still work.  Layout::

    <directory>/index.sqlite3
    <directory>/images/YYYY-MM-DD/img_YYYYmmddTHHMMSS_<hex>.<ext>   (dates in UTC)
    <directory>/jobs/<job id>/...   (what a background job asked, line by line: see ``batch``)

Background jobs (``dalle_nb.batch``) are history too: a job is a row of ``jobs`` the moment it is
submitted, and each of its lines a row of ``job_results`` once its pictures are saved, so a kernel
restart loses neither the job nor what was already collected.  Schema version 3 added both tables,
version 4 each picture's ``cost`` (``dn.spent()`` sums them) and the kernel ``session`` that made it; an older
index gains what it lacks when it is first opened (its pictures' costs stay unknown).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import os
import pathlib
import secrets
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..core.costs import Cost
from ..core.errors import GalleryError
from ..core.results import Record

__all__ = ["Gallery", "GalleryIndexError", "GallerySaveError", "JobRecord", "Record", "default_dir"]

SCHEMA_VERSION = 4
INDEX_NAME = "index.sqlite3"
IMAGES_DIR = "images"
JOBS_DIR = "jobs"
KINDS = frozenset({"generate", "edit", "vary", "refine"})
FORMATS = frozenset({"png", "webp", "jpeg"})
_BUSY_TIMEOUT_S = 10.0
_TMP = ".tmp"
#: A picture's metadata, written beside it before the picture itself and removed once its row is in
#: the index: a writer killed in between leaves what is needed to index the picture on the next open.
_SIDECAR = ".json"
_LIKE_ESCAPE = "\\"
#: How old a temp file must be to be removed even though a process with its writer's id runs.
_STALE_S = 3600.0

_COLUMNS = (
    "id",
    "path",
    "prompt",
    "revised_prompt",
    "model",
    "kind",
    "size",
    "output_format",
    "params",
    "usage",
    "created",
    "parent_ids",
    "backend",
    "text_model",
    "response_id",
    "cost",
    "session",
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM images"
_PROMPT = "SELECT prompt FROM images WHERE id = ?"
_INSERT = f"INSERT INTO images ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})"
_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS images (
        id             TEXT PRIMARY KEY,
        path           TEXT NOT NULL,
        prompt         TEXT NOT NULL,
        revised_prompt TEXT,
        model          TEXT NOT NULL,
        kind           TEXT NOT NULL,
        size           TEXT NOT NULL,
        output_format  TEXT NOT NULL,
        params         TEXT NOT NULL,
        usage          TEXT,
        created        REAL NOT NULL,
        parent_ids     TEXT NOT NULL,
        backend        TEXT NOT NULL,
        text_model     TEXT,
        response_id    TEXT,
        cost           TEXT,
        session        TEXT
    )
    """,
    "CREATE INDEX IF NOT EXISTS images_created ON images (created)",
    "CREATE INDEX IF NOT EXISTS images_model ON images (model, created)",
    # version 3: background jobs and what was collected of each of their lines
    """
    CREATE TABLE IF NOT EXISTS jobs (
        id       TEXT PRIMARY KEY,
        created  REAL NOT NULL,
        engine   TEXT NOT NULL,
        backend  TEXT NOT NULL,
        base_url TEXT NOT NULL,
        requests INTEGER NOT NULL,
        pictures INTEGER NOT NULL,
        title    TEXT NOT NULL,
        parts    TEXT NOT NULL,
        state    TEXT NOT NULL,
        counts   TEXT NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created)",
    """
    CREATE TABLE IF NOT EXISTS job_results (
        job_id    TEXT NOT NULL,
        custom_id TEXT NOT NULL,
        image_ids TEXT NOT NULL,
        error     TEXT,
        PRIMARY KEY (job_id, custom_id)
    )
    """,
)
_JOB_COLUMNS = ("id", "created", "engine", "backend", "base_url", "requests", "pictures", "title", "parts", "state",
                "counts")  # fmt: skip


def default_dir() -> pathlib.Path:
    """The history folder used when none is given; the env variable lets tests and shared machines redirect it."""
    override = os.environ.get("DALLE_NB_GALLERY_DIR")
    if override:
        return pathlib.Path(override).expanduser()
    import platformdirs  # only when no gallery folder is set

    return platformdirs.user_data_path("dalle_nb") / "gallery"


class GallerySaveError(GalleryError):
    """The picture could not be written to the gallery (disk full, no permission); its bytes are only in memory."""


class GalleryIndexError(GalleryError):
    """The image *is* safely on disk at ``path``, but the index row could not be written.

    A separate type so that a caller can still show the picture (and tell the user where it is)
    instead of treating the whole generation as lost.
    """


@dataclass(frozen=True)
class JobRecord:
    """A background job as the index keeps it: where it runs, what it asked, and its last known state.

    ``engine`` is ``"batch"`` (the Batch API) or ``"tasks"`` (a gateway's task mode); ``requests`` counts the
    lines sent; ``parts`` holds the engine's own ids (one entry per batch); the lines themselves are files in
    ``Gallery.job_dir(id)``.
    Never a key: only the base URL, so the job can be found again with the key set in the new kernel.
    """

    id: str
    created: float
    engine: str
    backend: str
    base_url: str
    requests: int
    pictures: int
    title: str
    parts: tuple[dict[str, Any], ...]
    state: str
    counts: dict[str, int]

    def row(self) -> tuple[Any, ...]:
        return (self.id, self.created, self.engine, self.backend, self.base_url, self.requests, self.pictures,
                self.title, json.dumps(list(self.parts)), self.state, json.dumps(self.counts))  # fmt: skip

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> JobRecord:
        (jid, created, engine, backend, base_url, requests, pictures, title, parts, state, counts) = row
        return cls(jid, float(created), engine, backend, base_url, int(requests), int(pictures), title,
                   tuple(json.loads(parts)), state, json.loads(counts))  # fmt: skip


def _new_id(created: float) -> str:
    """Time first so ids sort chronologically; 32 random bits so two images in one second never clash."""
    stamp = _dt.datetime.fromtimestamp(created, tz=_dt.UTC).strftime("%Y%m%dT%H%M%S")
    return f"img_{stamp}_{secrets.token_hex(4)}"


def _to_json(value: Mapping[str, Any]) -> str:
    # default=str: a stray Path or datetime in the request must not cost the user the picture.
    return json.dumps(dict(value), sort_keys=True, default=str, ensure_ascii=False)


def _escape_like(text: str) -> str:
    return (
        text.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2).replace("%", _LIKE_ESCAPE + "%").replace("_", _LIKE_ESCAPE + "_")
    )


def _where(query: str | None, model: str | None = None, kind: str | None = None) -> tuple[str, list[Any]]:
    """The ``WHERE`` clause (or "") and its arguments for rows whose prompt or revised prompt holds ``query``
    literally, of ``model`` and of ``kind`` (a test is left out when its value is None, or the query empty)."""
    clauses: list[str] = []
    args: list[Any] = []
    if query:
        pattern = f"%{_escape_like(query)}%"
        clauses.append("(prompt LIKE ? ESCAPE ? OR revised_prompt LIKE ? ESCAPE ?)")
        args += [pattern, _LIKE_ESCAPE, pattern, _LIKE_ESCAPE]
    if model is not None:
        clauses.append("model = ?")
        args.append(model)
    if kind is not None:
        clauses.append("kind = ?")
        args.append(kind)
    return (f" WHERE {' AND '.join(clauses)}" if clauses else ""), args


def _fsync_dir(directory: pathlib.Path) -> None:
    """Make the rename itself durable; best effort, since Windows cannot open folders."""
    flags = getattr(os, "O_DIRECTORY", None)
    if flags is None:
        return
    try:
        fd = os.open(directory, os.O_RDONLY | flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_atomic(path: pathlib.Path, data: bytes, *, durable: bool = True) -> None:
    """Readers (and a crash) see either no file or the complete file, never a partial one.

    The temp file's name carries this process's id, so a later open can tell a leftover of a
    killed writer (removed) from a file another live kernel is writing right now (left alone).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.{os.getpid()}.", suffix=_TMP)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    if durable:
        _fsync_dir(path.parent)


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction, taken at once (no upgrade from a read lock to deadlock on), rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a writer whose files must not be touched).

    A writer killed by a parent that has not reaped it yet is a zombie: it still answers
    ``kill(pid, 0)``, yet writes nothing ever again, so its files are leftovers too.
    """
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # it exists, under another user
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS, Windows): it runs as far as we can tell
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _stale(entry: os.DirEntry[str]) -> bool:
    """A temp file untouched for an hour is a leftover whatever its process id says: a save takes
    seconds, and a killed kernel's id may have been given to another process since."""
    try:
        return time.time() - entry.stat(follow_symlinks=False).st_mtime > _STALE_S
    except OSError:
        return False


#: Pictures this process is saving right now (by record id): their files are not leftovers.
_SAVING: set[str] = set()
_SAVING_LOCK = threading.Lock()


def _record_id(name: str) -> str | None:
    return next((part for part in name.split(".") if part.startswith("img_")), None)


def _writer_pid(name: str) -> int | None:
    """The process id a temp or sidecar name carries (``.<stem>.<pid>.<rest>``), or None."""
    return next((int(part) for part in name.split(".")[1:-1] if part.isdigit()), None)


def _saving_failed(path: pathlib.Path, exc: OSError) -> GallerySaveError:
    """A save that could not write the picture: say what a person can do, and that the bytes are in memory."""
    if exc.errno == errno.ENOSPC:
        why = "disk full"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = "no permission to write there"
    else:
        why = exc.strerror or type(exc).__name__
    return GallerySaveError(
        f"could not save the picture to {path.parent}: {why}. It is only in memory: call .save(path) on it, "
        "or free space / choose another folder with dalle_nb.configure(gallery_dir=...)",
        path=None,
    )


def _print(text: str) -> None:
    print(f"dalle_nb: {text}", flush=True)


class Gallery:
    """The history of generated images in one folder, safe to share between threads and kernels.

    Nothing is created on disk until the first ``save``, so merely importing or constructing a
    gallery (e.g. to search an empty history) leaves no stray folders behind.  It keeps one
    SQLite connection, guarded by a lock; a forked process opens its own.
    """

    def __init__(
        self, directory: str | os.PathLike[str] | None = None, *, tell: Callable[[str], None] | None = None
    ) -> None:
        """``tell`` hears the one line an open says when it tidied up after a killed writer (the session's
        notice); without it, the line is printed."""
        raw = pathlib.Path(directory) if directory is not None else default_dir()
        self._tell = tell or _print
        self._directory = raw.expanduser().absolute()
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()

    @property
    def directory(self) -> pathlib.Path:
        return self._directory

    @property
    def index_path(self) -> pathlib.Path:
        return self._directory / INDEX_NAME

    # -- connections -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _connect(self, *, create: bool) -> Iterator[sqlite3.Connection | None]:
        """The gallery's one connection, or ``None`` when there is no history yet and ``create`` is false.

        One connection per gallery, kept open: opening one and reading the schema for every
        picture cost more than writing the picture's row.  A forked process opens its own; a
        connection that failed is dropped and opened afresh next time (the index may have been
        replaced).  Must be called with ``self._lock`` held.
        """
        if self._conn is not None and self._pid != os.getpid():
            self._conn = None  # inherited through fork: never share a handle between processes
        if self._conn is None:
            if not create and not self.index_path.exists() and not (self._directory / IMAGES_DIR).is_dir():
                # no history yet; a writer killed before its first row was in leaves pictures but no index:
                # then the index is made, and they are adopted
                yield None
                return
            self._directory.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: transactions are explicit, so none is left open by accident.
            conn = sqlite3.connect(
                self.index_path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
                self._ensure_schema(conn)
                self._recover(conn)
                # In WAL mode, NORMAL syncs at checkpoints, not at every commit: a committed row survives
                # any crash of the process (kill -9, a dead kernel), and only a power loss can undo the
                # last commits.  The picture file itself is fsynced before its row is written, and an
                # index opened after such a loss re-indexes the pictures that lack a row, so nothing
                # paid for is lost either way, while each save costs one fsync less.
                conn.execute("PRAGMA synchronous = NORMAL")
            except BaseException:
                conn.close()
                raise
            self._conn, self._pid = conn, os.getpid()
        try:
            yield self._conn
        except BaseException:
            self._drop()
            raise

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    def close(self) -> None:
        """Close the index connection (it reopens on the next use)."""
        with self._lock:
            self._drop()

    def _ensure_schema(self, conn: sqlite3.Connection) -> None:
        """Create the index (WAL, tables) safely even when several kernels open a new gallery at once.

        Switching to WAL needs a lock that SQLite's busy timeout does not wait for, so a second
        kernel opening the same new folder got "database is locked"; it now waits its turn.
        """
        deadline = time.monotonic() + _BUSY_TIMEOUT_S
        delay = 0.005
        while True:
            try:
                self._create_schema(conn)
                return
            except sqlite3.OperationalError as exc:
                text = str(exc).lower()
                if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.1)

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        # WAL lets other processes read while we write; it is a property of the file, set once.
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
        if str(mode).lower() != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        with _transaction(conn):
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.index_path} has schema version {version}, newer than this dalle_nb understands "
                    f"({SCHEMA_VERSION}); upgrade dalle_nb to read it"
                )
            for statement in _SCHEMA:
                conn.execute(statement)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(images)")}
            # version 2: pictures made through the Responses API; version 4: what each picture cost, and in which
            # kernel session it was made
            for added in ("text_model", "response_id", "cost", "session"):
                if added not in columns:
                    conn.execute(f"ALTER TABLE images ADD COLUMN {added} TEXT")
            if version < SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _recover(self, conn: sqlite3.Connection) -> None:
        """After a crash: index the pictures a killed writer saved but never indexed, and remove its temp files.

        Runs once per process when the index is opened, and says what it did in one line.  Files of
        writers that still run (another kernel saving right now) are left alone.
        """
        images = self._directory / IMAGES_DIR
        if not images.is_dir():
            return
        folders = [day.path for day in os.scandir(images) if day.is_dir()]
        if (self._directory / "thumbs").is_dir():
            folders.append(str(self._directory / "thumbs"))  # thumbnails a killed writer left half-written
        adopted = removed = 0
        for folder in folders:
            for entry in os.scandir(folder):
                if not entry.name.startswith("."):
                    continue
                pid = _writer_pid(entry.name)
                if pid == os.getpid():
                    with _SAVING_LOCK:
                        if _record_id(entry.name) in _SAVING:
                            continue  # being saved by another thread of this process
                elif pid is not None and _alive(pid) and not _stale(entry):
                    continue
                path = pathlib.Path(entry.path)
                if entry.name.endswith(_SIDECAR):
                    adopted += self._reindex(conn, path)
                elif entry.name.endswith(_TMP):
                    with contextlib.suppress(OSError):
                        path.unlink()
                        removed += 1
        said = []
        if adopted:
            said.append(f"adopted {adopted} picture{'' if adopted == 1 else 's'} saved without their index row")
        if removed:
            said.append(f"removed {removed} unfinished file{'' if removed == 1 else 's'}")
        if said:
            self._tell(f"the gallery at {self._directory} {' and '.join(said)}, left by a process that was killed.")

    def _reindex(self, conn: sqlite3.Connection, sidecar: pathlib.Path) -> int:
        """Index the picture ``sidecar`` describes, when it is on disk without its row; 1 if it was adopted."""
        try:
            row = tuple(json.loads(sidecar.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            row = ()
        if 13 <= len(row) < len(_COLUMNS):  # written by an older version, before the last columns were added
            row = (*row, *([None] * (len(_COLUMNS) - len(row))))
        adopted = 0
        if len(row) == len(_COLUMNS) and self._directory.joinpath(*pathlib.PurePosixPath(row[1]).parts).is_file():
            with _transaction(conn):
                adopted = conn.execute(f"INSERT OR IGNORE {_INSERT.removeprefix('INSERT ')}", row).rowcount
        with contextlib.suppress(OSError):
            sidecar.unlink()
        return max(0, adopted)

    # -- writing -----------------------------------------------------------------------------

    def save(
        self,
        data: bytes,
        *,
        prompt: str,
        model: str,
        kind: str,
        output_format: str,
        size: str,
        revised_prompt: str | None = None,
        params: Mapping[str, Any] | None = None,
        usage: Mapping[str, Any] | None = None,
        parent_ids: Sequence[str] = (),
        backend: str = "offline",
        created: float | None = None,
        text_model: str | None = None,
        response_id: str | None = None,
        cost: Cost | None = None,
        session: str | None = None,
    ) -> Record:
        """Persist one image before anyone sees it, so a crash or restart can never lose a paid-for result.

        Raises ``ValueError`` for caller mistakes (checked before anything is written) and
        ``GalleryIndexError`` when the file was saved but the index row was not.
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {sorted(KINDS)}, not {kind!r}")
        fmt = output_format.lower()
        if fmt == "jpg":
            fmt = "jpeg"
        if fmt not in FORMATS:
            raise ValueError(f"output_format must be one of {sorted(FORMATS)}, not {output_format!r}")
        if not data:
            raise ValueError("refusing to save an empty image")
        if isinstance(parent_ids, str):
            raise TypeError("parent_ids must be a sequence of ids, not a single string")

        when = time.time() if created is None else float(created)
        params_json = _to_json(params or {})
        usage_json = None if usage is None else _to_json(usage)
        parents = tuple(str(p) for p in parent_ids)
        day = _dt.datetime.fromtimestamp(when, tz=_dt.UTC).strftime("%Y-%m-%d")

        record_id = _new_id(when)
        relative = pathlib.PurePosixPath(IMAGES_DIR, day, f"{record_id}.{fmt}")
        path = self._directory.joinpath(*relative.parts)
        while path.exists():  # os.replace would silently overwrite; astronomically rare
            record_id = _new_id(when)
            relative = pathlib.PurePosixPath(IMAGES_DIR, day, f"{record_id}.{fmt}")
            path = self._directory.joinpath(*relative.parts)

        row = (
            record_id,
            str(relative),
            prompt,
            revised_prompt,
            model,
            kind,
            size,
            fmt,
            params_json,
            usage_json,
            when,
            json.dumps(list(parents)),
            backend,
            text_model,
            response_id,
            None if cost is None else cost.to_json(),
            session,
        )
        sidecar = path.with_name(f".{record_id}.{os.getpid()}{_SIDECAR}")
        with _SAVING_LOCK:
            _SAVING.add(record_id)
        try:
            return self._save(row, path, sidecar, data)
        finally:
            with _SAVING_LOCK:
                _SAVING.discard(record_id)

    def _save(self, row: tuple[Any, ...], path: pathlib.Path, sidecar: pathlib.Path, data: bytes) -> Record:
        record_id = row[0]
        try:
            # the metadata first (no fsync: it only matters until the row is in), then the picture
            _write_atomic(sidecar, json.dumps(row).encode(), durable=False)
            _write_atomic(path, data)
        except OSError as exc:
            with contextlib.suppress(OSError):
                sidecar.unlink()
            raise _saving_failed(path, exc) from None
        try:
            with self._lock, self._connect(create=True) as conn:
                if conn is None:  # pragma: no cover - create=True always connects
                    raise RuntimeError("no index connection")
                with _transaction(conn):
                    conn.execute(_INSERT, row)
        except (sqlite3.Error, OSError, RuntimeError) as exc:
            # the sidecar stays: the next open of this gallery indexes the picture from it
            raise GalleryIndexError(
                f"image saved to {path}, but it could not be added to the index {self.index_path}: {exc}",
                path=path,
                record_id=record_id,
            ) from exc
        with contextlib.suppress(OSError):
            sidecar.unlink()
        record = self._record(row)
        return replace(record, parent_prompt=self.prompt_of(record.parent_ids[0])) if record.parent_ids else record

    # -- reading -----------------------------------------------------------------------------

    def _record(self, row: Sequence[Any]) -> Record:
        (
            rid,
            rel,
            prompt,
            revised,
            model,
            kind,
            size,
            fmt,
            params,
            usage,
            created,
            parents,
            backend,
            text,
            response,
            cost,
            session,
        ) = row
        return Record(
            id=rid,
            path=self._directory.joinpath(*pathlib.PurePosixPath(rel).parts),
            prompt=prompt,
            revised_prompt=revised,
            model=model,
            kind=kind,
            size=size,
            output_format=fmt,
            params=json.loads(params),
            usage=None if usage is None else json.loads(usage),
            created=float(created),
            parent_ids=tuple(json.loads(parents)),
            backend=backend,
            text_model=text,
            response_id=response,
            cost=Cost.from_json(cost),
            session=session,
        )

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection | None]:
        """The connection for a read; a broken index is a ``GalleryError`` that says where the pictures are."""
        try:
            with self._lock, self._connect(create=False) as conn:
                yield conn
        except (sqlite3.Error, ValueError) as exc:
            raise GalleryError(
                f"the gallery index {self.index_path} cannot be read ({exc}); the pictures themselves are in "
                f"{self._directory / IMAGES_DIR}. Move the index aside and it is rebuilt for new pictures."
            ) from None

    def _with_parent(self, conn: sqlite3.Connection, record: Record) -> Record:
        """``record`` with its parent's prompt: a card tells what an edit or a variation was made from by it."""
        if not record.parent_ids:
            return record
        found = conn.execute(_PROMPT, (record.parent_ids[0],)).fetchone()
        return replace(record, parent_prompt=found[0] or None) if found is not None else record

    def get(self, record_id: str) -> Record:
        """The record even if its file was since deleted: the history of what was asked stays useful."""
        with self._reading() as conn:
            row = None if conn is None else conn.execute(f"{_SELECT} WHERE id = ?", (record_id,)).fetchone()
            if row is not None and conn is not None:
                return self._with_parent(conn, self._record(row))
        raise KeyError(f"no image with id {record_id!r} in the gallery at {self._directory}")

    def prompt_of(self, record_id: str) -> str | None:
        """The prompt of the picture ``record_id`` (None when this gallery does not know it, or it had none):
        what a picture made from it says it came from ("variation of 'a red fox…'")."""
        try:
            with self._reading() as conn:
                if conn is None:
                    return None
                found = conn.execute(_PROMPT, (record_id,)).fetchone()
        except GalleryError:
            return None
        return (found[0] or None) if found is not None else None

    def search(
        self,
        query: str | None = None,
        *,
        limit: int = 50,
        model: str | None = None,
        kind: str | None = None,
        offset: int = 0,
    ) -> list[Record]:
        """Newest first; images the user deleted from disk are skipped, yet ``limit`` is still filled from older ones.

        ``offset`` skips that many matching rows first (a page of a long history: the index
        does the skipping, so page 400 of 10,000 pictures costs what page 1 does).

        ``query`` matches literally (``%`` and ``_`` are not wildcards), case-insensitively for
        ASCII letters (SQLite's ``LIKE``), in either the prompt or the revised prompt.
        """
        if limit < 0:
            raise ValueError(f"limit must be >= 0, not {limit}")
        if limit == 0:
            return []
        where, args = _where(query, model, kind)
        # rowid breaks ties between images saved within the same clock tick: later insert = newer.
        sql = f"{_SELECT}{where} ORDER BY created DESC, rowid DESC"
        if offset:
            sql += " LIMIT -1 OFFSET ?"
            args.append(int(offset))

        found: list[Record] = []
        with self._reading() as conn:
            if conn is None:
                return []
            for row in conn.execute(sql, args):
                record = self._record(row)
                if record.path.is_file():
                    found.append(self._with_parent(conn, record))
                    if len(found) >= limit:
                        break
        return found

    def count(self, query: str | None = None) -> int:
        """How many rows match ``query`` (all when None), counted by the index."""
        if not query:
            return len(self)
        where, args = _where(query)
        with self._reading() as conn:
            if conn is None:
                return 0
            (total,) = conn.execute(f"SELECT COUNT(*) FROM images{where}", args).fetchone()
        return int(total)

    def costs(self, since: float | None = None) -> list[tuple[float, str, str | None, str | None]]:
        """``(created, model, cost as JSON, session)`` of every picture made at ``since`` (a Unix time) or later,
        oldest first: what ``dn.spent()`` sums, read by the index alone (no record is built, no file touched)."""
        sql = "SELECT created, model, cost, session FROM images"
        args: list[Any] = []
        if since is not None:
            sql += " WHERE created >= ?"
            args.append(float(since))
        with self._reading() as conn:
            if conn is None:
                return []
            return [(float(c), str(m), cost, ses) for c, m, cost, ses in conn.execute(f"{sql} ORDER BY created", args)]

    def __len__(self) -> int:
        """Rows in the index (including any whose file was deleted); cheap, because it never touches the images."""
        with self._reading() as conn:
            if conn is None:
                return 0
            (count,) = conn.execute("SELECT COUNT(*) FROM images").fetchone()
        return int(count)

    # -- background jobs ----------------------------------------------------------------------

    def job_dir(self, job_id: str) -> pathlib.Path:
        """Where a job's line files live (``jobs/<id>/`` in the gallery, so the folder moves as one)."""
        return self._directory / JOBS_DIR / job_id

    def _write(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """Run ``statements`` in one transaction; a failure is a ``GalleryError`` naming the index."""
        try:
            with self._lock, self._connect(create=True) as conn:
                assert conn is not None  # create=True always connects
                with _transaction(conn):
                    for sql, args in statements:
                        conn.execute(sql, args)
        except (sqlite3.Error, OSError, RuntimeError) as exc:
            raise GalleryError(f"the gallery index {self.index_path} could not record the job: {exc}") from None

    def save_job(self, job: JobRecord) -> None:
        """Record a job (or replace its row): done before it is sent, so a restart cannot lose it."""
        marks = ", ".join("?" for _ in _JOB_COLUMNS)
        self._write([(f"INSERT OR REPLACE INTO jobs ({', '.join(_JOB_COLUMNS)}) VALUES ({marks})", job.row())])

    def update_job(
        self,
        job_id: str,
        *,
        parts: Sequence[Mapping[str, Any]] | None = None,
        state: str | None = None,
        counts: Mapping[str, int] | None = None,
    ) -> None:
        changes: dict[str, Any] = {}
        if parts is not None:
            changes["parts"] = json.dumps([dict(p) for p in parts])
        if state is not None:
            changes["state"] = state
        if counts is not None:
            changes["counts"] = json.dumps(dict(counts))
        if changes:
            assignments = ", ".join(f"{name} = ?" for name in changes)
            self._write([(f"UPDATE jobs SET {assignments} WHERE id = ?", [*changes.values(), job_id])])

    def get_job(self, job_id: str) -> JobRecord:
        with self._reading() as conn:
            row = None
            if conn is not None:
                row = conn.execute(f"SELECT {', '.join(_JOB_COLUMNS)} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise KeyError(f"no job with id {job_id!r} in the gallery at {self._directory}")
        return JobRecord.from_row(row)

    def jobs(self, limit: int = 50) -> list[JobRecord]:
        """Jobs, newest first."""
        with self._reading() as conn:
            if conn is None:
                return []
            sql = f"SELECT {', '.join(_JOB_COLUMNS)} FROM jobs ORDER BY created DESC, rowid DESC LIMIT ?"
            return [JobRecord.from_row(row) for row in conn.execute(sql, (limit,))]

    def delete_job(self, job_id: str) -> None:
        """Forget a job that never reached its engine (its upload failed): nothing of it exists anywhere else."""
        self._write(
            [("DELETE FROM job_results WHERE job_id = ?", (job_id,)), ("DELETE FROM jobs WHERE id = ?", (job_id,))]
        )

    def record_job_result(
        self, job_id: str, custom_id: str, image_ids: Sequence[str], error: Mapping[str, Any] | None = None
    ) -> None:
        """What one line of a job gave: the ids of its saved pictures, or its error.  Once per line."""
        self._write([(
            "INSERT OR REPLACE INTO job_results (job_id, custom_id, image_ids, error) VALUES (?, ?, ?, ?)",
            (job_id, custom_id, json.dumps(list(image_ids)), None if error is None else _to_json(error)),
        )])  # fmt: skip

    def job_results(self, job_id: str) -> dict[str, tuple[tuple[str, ...], dict[str, Any] | None]]:
        """Every collected line of a job: custom_id -> (image ids, error or None)."""
        with self._reading() as conn:
            if conn is None:
                return {}
            rows = conn.execute("SELECT custom_id, image_ids, error FROM job_results WHERE job_id = ?", (job_id,))
            return {cid: (tuple(json.loads(ids)), None if err is None else json.loads(err)) for cid, ids, err in rows}

    def __repr__(self) -> str:
        try:
            n = len(self)
        except GalleryError:
            return f"<Gallery {self._directory} (index unreadable)>"
        return f"<Gallery {self._directory} ({n} image{'' if n == 1 else 's'})>"
