"""The session: what one process shares, and the one path every job is submitted on.

A ``Session`` owns the settings (its ``settings_store``: what ``configure()`` set, the key, the
keys to hide), the private event loop (a daemon thread, so blocking calls work the same in a
script and in Jupyter, whose own loop is already running), the SDK connections, the galleries,
the offline server, the notices already said, and the concurrency limit of each backend.  The
module-level functions (``dn.generate``, ``dn.configure`` ...) use ``default_session()``; a test
can make a ``Session()`` of its own and read its state.

Planning asks the session for what it needs (a ``Session`` is a ``core.plan.PlanContext``): the
settings, the backend's rules, a notice said once, the keys never to send.

``submit`` starts a planned ``Job`` and returns a ``JobHandle`` at once.  A job keeps the
connection it started with: ``configure()`` only stops *new* jobs from using an old
connection, which is closed when its last job ends, so touching a setting (a widget's
dropdown) never breaks a request already in flight.  At exit, ``close()`` closes every
connection and the private loop, and stops the offline server, waiting a bounded time.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import queue
import secrets
import sys
import textwrap
import threading
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..core.capabilities import Profile
from ..core.config import Settings
from ..core.costs import Estimate, estimate, usd
from ..core.errors import DalleError, InvalidRequest, detach
from ..core.events import Event, ImageSaved, JobDone, OnEvent, RequestFailed
from ..core.plan import Job
from ..core.results import Failure, GeneratedImage, ImageSet
from .client import run_job
from .connections import Connection, connection_ident, open_connection
from .gallery import Gallery
from .settings_store import SettingsStore

if TYPE_CHECKING:
    from ..offline import OfflineServer
    from .gallery import Gallery


#: How many galleries keep their index open at once (``Session.gallery``).
_OPEN_GALLERIES = 4


def new_session_id() -> str:
    """A kernel session's id, ordered by time as the gallery's ids are: ``ses_20261207T101500_3fa9c2``."""
    return f"ses_{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}_{secrets.token_hex(3)}"


class _Loop:
    """One event loop in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="dalle-nb-loop", daemon=True)
        self.thread.start()

    def submit(self, coro: Awaitable[Any]) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]


class Limiter:
    """How many requests may be in flight at once to one backend, across every job of the process.

    The capacity follows the ``concurrency`` setting each job starts with, so 8 threads or
    20 gathered ``agenerate`` calls still keep ``concurrency`` requests in flight, as a
    person reading the setting expects.  Lives on the session's loop.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> None:
        if self.active < self.capacity and not self._waiters:
            self.active += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over just as we were cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        self.active -= 1
        self._wake()

    def resize(self, capacity: int) -> None:
        self.capacity = capacity
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.active < self.capacity:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.active += 1
                waiter.set_result(None)


class JobHandle(concurrent.futures.Future[ImageSet]):
    """A running job: a ``concurrent.futures.Future[ImageSet]`` with what has arrived so far.

    ``result(timeout)`` waits for the ``ImageSet`` (and raises the error when every request
    failed); ``done()``; ``cancel()`` stops what is in flight and keeps what arrived in
    ``images``, after which ``result()`` raises ``CancelledError`` as any cancelled future
    does.  Events (``on_event=``) arrive on the loop given at submit time, or, without one,
    on the thread that waits in ``result()``.
    """

    def __init__(self) -> None:
        super().__init__()
        #: The checked job; ``None`` while a ``wait=False`` call still prepares its pictures on a worker thread.
        self.job: Job | None = None
        #: Every picture and failure so far, in arrival order (the final result keeps request order).
        self.images = ImageSet()
        #: How many pictures the job asks for in all (0 until it is planned).
        self.expected = 0
        self.started = time.monotonic()
        self._cancel_requested = False
        self._task: asyncio.Task[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._events: queue.SimpleQueue[Event] | None = None
        self._on_event: OnEvent | None = None
        self._callback_error: BaseException | None = None

    def __repr__(self) -> str:
        state = "done" if self.done() else "cancelling" if self._cancel_requested else "running"
        if state == "running" and self.job is None:
            state = "preparing"
        return f"<JobHandle {state}: {len(self.images)}/{self.expected} picture(s)>"

    def _planned(self, job: Job) -> None:
        self.job, self.expected = job, job.pictures
        self.images = ImageSet(notices=list(job.notices))

    def cancel(self) -> bool:
        """Stop what is in flight; pictures that arrived stay in ``images`` (and in the gallery)."""
        if self.done():
            return False
        self._cancel_requested = True
        if self._loop is not None and self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        return True

    @property
    def cancelling(self) -> bool:
        return self._cancel_requested

    def result(self, timeout: float | None = None) -> ImageSet:
        self._wait(timeout)
        return super().result(0)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self._wait(timeout)
        return super().exception(0)

    def _wait(self, timeout: float | None) -> None:
        """Wait, delivering queued events on this thread.  Ctrl-C (or a raising callback) cancels the job
        and the exception carries ``.images``, what had arrived."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while not self.done():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise concurrent.futures.TimeoutError()
                slice_ = 0.05 if left is None else min(0.05, left)
                if self._events is None:
                    self._sleep(slice_)  # nothing to deliver here: woken the moment the job ends
                else:
                    self._deliver(self._next_event(slice_))
            while self._events is not None and (event := self._next_event(0)) is not None:
                self._deliver(event)
        except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
            raise
        except BaseException as stop:
            self.cancel()
            # a cancelled job ends promptly: what was being saved is kept, the rest stops
            give_up = time.monotonic() + 30
            while not self.done() and time.monotonic() < give_up:
                with contextlib.suppress(BaseException):  # a second Ctrl-C does not leave requests running
                    self._sleep(0.05)
            with contextlib.suppress(AttributeError, TypeError):
                stop.images = self.images  # type: ignore[attr-defined]
            raise

    def _sleep(self, seconds: float) -> None:
        concurrent.futures.wait([self], seconds)

    def _next_event(self, timeout: float) -> Event | None:
        # no `continue` inside an except clause here: on CPython 3.11 a Ctrl-C landing on that jump
        # escapes an enclosing `except KeyboardInterrupt`
        assert self._events is not None
        try:
            return self._events.get(timeout=timeout) if timeout else self._events.get_nowait()
        except queue.Empty:
            return None

    def _deliver(self, event: Event | None) -> None:
        if event is not None and self._on_event is not None:
            self._on_event(event)


def _finish(result: ImageSet) -> ImageSet:
    """A job whose every request failed raises its first error; otherwise its pictures are its result."""
    if result.images or not result.failures or result.cancelled:
        return result
    raise result.failures[0].error


class Session:
    """The state of dalle_nb; ``default_session()`` is the one the module functions use."""

    def __init__(self) -> None:
        #: What ``configure()`` set, the key and the keys to hide; a change retires today's connections.
        self.settings_store = SettingsStore()
        self._lock = threading.RLock()
        self._loop: _Loop | None = None
        self._connections: dict[tuple[Any, ...], Connection] = {}
        #: Every connection not closed yet, retired ones included: what ``close()`` closes.
        self._opened: set[Connection] = set()
        self._exit_hooked = False
        self._galleries: dict[Any, Gallery] = {}
        self._offline: OfflineServer | None = None
        #: Held while the offline server starts (a second or two), instead of ``_lock``: a call on another
        #: thread meanwhile (a second click reserving its pictures) does not wait for it.
        self._starting = threading.Lock()
        self._notified: set[str] = set()
        self._limiters: dict[tuple[str, str], Limiter] = {}
        #: Which kernel session made a picture (the gallery's ``session`` column; ``dn.spent(by="session")``).
        self.id = new_session_id()
        #: Pictures made in this session, and those asked for by jobs still running (``max_images``).
        self.made = 0
        self._reserved = 0
        self._cap: int | None = None
        self._made_before_cap = 0
        #: US dollars spent in this session (what its pictures cost), and set aside by jobs still running
        #: (``max_cost``).
        self.spent = 0.0
        self._held = 0.0
        self._money_cap: float | None = None
        self._spent_before_cap = 0.0
        #: What ``reserve_job`` set aside for each job still running, by the job's id.
        self._holds: dict[int, list[float]] = {}
        self.settings_store.on_change(self.retire_connections)

    # ------------------------------------------------------------------ what planning asks (PlanContext)
    def settings(self, **arguments: Any) -> Settings:
        """The effective settings, with per-call ``arguments`` (not None) taking precedence."""
        return self.settings_store.settings(**arguments)

    def secrets(self) -> frozenset[str]:
        """The keys that must never be sent as a parameter, nor shown."""
        return self.settings_store.secrets()

    # ------------------------------------------------------------------ shared state
    def loop(self) -> _Loop:
        with self._lock:
            if self._loop is None:
                self._loop = _Loop()
                self._hook_exit()
            return self._loop

    def _hook_exit(self) -> None:
        """Close what this session holds when the interpreter exits (the hook keeps no session alive)."""
        if not self._exit_hooked:
            self._exit_hooked = True
            atexit.register(_close_at_exit, weakref.ref(self))

    def close(self, timeout: float = 2.0) -> None:
        """Close every connection and the private loop, and stop the offline server; run at exit.

        Jobs still running are cancelled (keeping what arrived) and the SDK clients closed on the
        loop, so no socket is left open, waiting at most about ``timeout`` seconds: a loop stuck
        in someone's callback must not hold up the interpreter's exit, and is then left as it is.
        The session stays usable: the next job opens a new loop and new connections.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            looper, self._loop = self._loop, None
            opened, self._opened = list(self._opened), set()
            offline, self._offline = self._offline, None
            self._connections.clear()
            self._limiters.clear()  # they live on the loop that closes
            for conn in opened:
                conn.retired = conn.closed = True
        if looper is not None and looper.thread.is_alive():
            finished = looper.submit(_shut_down(opened, deadline))
            try:
                finished.result(max(0.0, deadline - time.monotonic()))
            except concurrent.futures.TimeoutError:
                finished.cancel()
            else:
                looper.loop.call_soon_threadsafe(looper.loop.stop)
                looper.thread.join(max(0.0, deadline - time.monotonic()))
                if not looper.thread.is_alive():
                    looper.loop.close()
        if offline is not None:
            offline.stop(timeout=max(0.5, deadline - time.monotonic()))

    def in_flight(self) -> int:
        """How many request tasks are running now (0 after a job returns or is cancelled)."""
        if self._loop is None:
            return 0
        return sum(1 for task in asyncio.all_tasks(self._loop.loop) if not task.done())

    def first_time(self, key: str) -> bool:
        """True the first time ``key`` is asked about in this session, False ever after: what is said once."""
        with self._lock:
            if key in self._notified:
                return False
            self._notified.add(key)
            return True

    def notice(self, text: str, *, once: bool = False) -> None:
        """One line for the person at the notebook (with ``once``, only the first time in this session)."""
        if not self.first_time(text) and once:
            return

        # wrapped at spaces: a notebook breaks a long output line anywhere, mid-word included
        print(textwrap.fill(f"dalle_nb: {text}", width=100, subsequent_indent="  "), file=sys.stdout, flush=True)

    def offline_server(self) -> OfflineServer:
        """The process's offline server, started on a free loopback port the first time."""
        with self._starting:
            server = self._offline
            if server is None or not server.running:
                from ..offline import start  # starlette and uvicorn load only when the offline backend is used

                server = start()
                with self._lock:
                    self._offline = server
                    self._hook_exit()
            return server

    @property
    def offline_url(self) -> str | None:
        """The offline server's base URL, when it is running."""
        server = self._offline
        return server.base_url if server is not None and server.running else None

    @contextlib.contextmanager
    def holding(self, conn: Connection) -> Iterator[Connection]:
        """Use ``conn`` outside a job (a batch upload, a poll) without ``configure()`` closing it meanwhile."""
        self._hold(conn)
        try:
            yield conn
        finally:
            self._let_go(conn)

    def _hold(self, conn: Connection) -> None:
        with self._lock:
            conn.jobs += 1

    def _let_go(self, conn: Connection) -> None:
        """One user fewer; a connection ``configure()`` retired closes with its last user."""
        with self._lock:
            conn.jobs -= 1
            if conn.retired and conn.jobs == 0:
                self._close(conn)

    def profile_for(self, settings: Settings) -> Profile:
        """Which rules a request must pass for this backend, before it is sent."""
        if settings.backend == "offline":
            from ..offline import ServerOptions  # starlette and uvicorn load only when the offline backend is used

            running = self._offline
            return running.options.profile if running is not None else ServerOptions.from_env().profile
        return "openai" if settings.backend == "openai" else "compat"

    def gallery(self, settings: Settings | None = None) -> Gallery:
        """The history store for ``settings.gallery_dir`` (default: the user's data folder).

        Each gallery keeps its index open (three descriptors: the database, its WAL and shared memory),
        so only the ``_OPEN_GALLERIES`` used last are kept, the others closed: a kernel that saves into a
        new folder per run or per test would otherwise gain three open files per folder until it ran out.
        A closed one reopens on its next use; a job still saving into it reopens it for itself, closed with it
        when the job lets it go.
        """
        directory = (settings or self.settings()).gallery_dir
        with self._lock:
            found = self._galleries.pop(directory, None)
            if found is None:
                found = Gallery(directory, tell=self.notice)  # a tidy-up after a killed writer is said as any notice
            self._galleries[directory] = found  # the most recently used last
            idle = [self._galleries.pop(old) for old in list(self._galleries)[:-_OPEN_GALLERIES]]
        for store in idle:  # outside the session's lock: a close waits for that gallery's save to finish
            store.close()
        return found

    # ------------------------------------------------------------------ connections
    def connection(self, settings: Settings) -> Connection:
        """The SDK client for ``settings``' backend, built once and shared until a setting changes."""
        offline_url = self.offline_server().base_url if settings.backend == "offline" else None
        ident, base_url, key = connection_ident(settings, self.settings_store.api_key(), offline_url)
        with self._lock:
            found = self._connections.get(ident)
            if found is None:
                found = open_connection(settings, base_url, key, self.profile_for(settings))
                self._connections[ident] = found
                self._opened.add(found)
                if found.kind == "offline" and settings.sources.get("offline") == "no API key":
                    self.notice(
                        f"no OpenAI API key set, so pictures come from the offline backend at {base_url} (drawn "
                        "locally, free). To use OpenAI, set OPENAI_API_KEY or call dalle_nb.configure(api_key=...).",
                        once=True,
                    )
            return found

    def retire_connections(self) -> None:
        """Stop new jobs from using today's connections; each closes once its last job ends."""
        with self._lock:
            old = list(self._connections.values())
            self._connections.clear()
            for conn in old:
                conn.retired = True
                if conn.jobs == 0:
                    self._close(conn)

    def _close(self, conn: Connection) -> None:
        if self._loop is not None and not conn.closed:
            conn.closed = True
            closing = self._loop.submit(conn.sdk.close())
            closing.add_done_callback(lambda _: self._opened.discard(conn))  # closed: nothing left for close()

    def _limiter(self, conn: Connection, capacity: int) -> Limiter:
        key = (conn.kind, conn.base_url)
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = self._limiters[key] = Limiter(capacity)
        elif limiter.capacity != capacity:
            limiter.resize(capacity)
        return limiter

    # ------------------------------------------------------------------ the budget
    def reserve_pictures(self, settings: Settings, pictures: int, cost: Estimate | None = None) -> float:
        """Refuse, before anything is sent, work that would pass ``max_images`` or ``max_cost``; returns the US
        dollars set aside (0 without ``max_cost``), which ``settle_pictures`` gives back.

        The pictures made (and dollars spent) since the cap was set, and those asked for by jobs still running,
        count (a ``Job``'s, a background job's).  ``cost``: what the work would cost (its ``high`` is set aside);
        without ``max_cost`` it is not needed.
        """
        cap = settings.max_images
        with self._lock:
            held = self._money_needed(settings, cost)  # refuses before anything is set aside
            if cap != self._cap:  # a new budget counts from the moment it is set
                self._cap, self._made_before_cap = cap, self.made
            used = self.made - self._made_before_cap + self._reserved
            if cap is not None and used + pictures > cap:
                left = max(0, cap - used)
                raise InvalidRequest(
                    f"this call asks for {pictures} picture(s), but this session's budget (max_images={cap}) has "
                    f"{left} left; ask for fewer, or raise it with dalle_nb.configure(max_images=...).",
                    field="max_images",
                    value=pictures,
                    allowed=f"at most {left}",
                )
            self._reserved += pictures
            self._held += held
            return held

    def _money_needed(self, settings: Settings, cost: Estimate | None) -> float:
        """What ``max_cost`` sets aside for work that would cost ``cost``; ``InvalidRequest`` when it would pass
        what is left, or when its price is unknown (a cap cannot be kept on an unknown price)."""
        cap = settings.max_cost
        if cap != self._money_cap:  # a new budget counts from the moment it is set
            self._money_cap, self._spent_before_cap = cap, self.spent
        if cap is None:
            return 0.0
        if cost is None or cost.high is None:
            why = cost.reason if cost is not None else "nothing priced it"
            raise InvalidRequest(
                f"the price of this call is unknown ({why}), so max_cost cannot be kept; set a price with "
                "dalle_nb.configure(prices=...) or unset max_cost with dalle_nb.configure(max_cost=None).",
                field="max_cost", value=None, allowed="a call with a known price",
            )  # fmt: skip
        left = max(0.0, cap - (self.spent - self._spent_before_cap) - self._held)
        if cost.high > left + 1e-12:
            pictures = f"{cost.pictures} picture{'s' if cost.pictures != 1 else ''}"
            what = f"{pictures} of {', '.join(cost.models)}" if cost.models else pictures
            raise InvalidRequest(
                f"this call would cost up to {usd(cost.high)} ({what}, {cost.basis}), but this session's budget "
                f"(max_cost={usd(cap)}) has {usd(left)} left; ask for less, or raise it with "
                "dalle_nb.configure(max_cost=...).",
                field="max_cost", value=cost.high, allowed=f"at most {usd(left)}",
            )  # fmt: skip
        return cost.high

    def settle_pictures(self, reserved: int, made: int, *, held: float = 0.0, spent: float = 0.0) -> None:
        """Give back what ``reserve_pictures`` set aside (``reserved`` pictures, ``held`` dollars), counting
        ``made`` pictures and ``spent`` dollars (a background job: all it sent, at its estimate)."""
        with self._lock:
            self._reserved -= reserved
            self.made += made
            self._held -= held
            self.spent += spent

    def money_left(self, settings: Settings | None = None) -> float | None:
        """The US dollars ``max_cost`` still allows (jobs still running count at their estimate); None: no cap."""
        settings = settings or self.settings()
        with self._lock:
            if settings.max_cost != self._money_cap:
                return settings.max_cost
            if settings.max_cost is None:
                return None
            return max(0.0, settings.max_cost - (self.spent - self._spent_before_cap) - self._held)

    def reserve_job(self, job: Job) -> None:
        """``reserve_pictures`` for a planned job: its pictures and, under ``max_cost``, its estimate."""
        cost = estimate(job) if job.settings.max_cost is not None else None
        held = self.reserve_pictures(job.settings, job.pictures, cost)
        with self._lock:
            self._holds.setdefault(id(job), []).append(held)

    def settle_job(self, job: Job, images: Sequence[GeneratedImage] = ()) -> None:
        """Give back what ``reserve_job`` set aside for ``job``, counting the pictures it made at what they
        cost; a picture whose cost is unknown counts at its share of what was set aside for it."""
        with self._lock:
            holds = self._holds.get(id(job)) or [0.0]
            held = holds.pop()
            if not holds:
                self._holds.pop(id(job), None)
        spent = 0.0
        for image in images:
            cost = image.cost.usd if image.cost is not None else None
            spent += cost if cost is not None else held / max(1, job.pictures)
        self.settle_pictures(job.pictures, len(images), held=held, spent=spent)

    # ------------------------------------------------------------------ the one submit path
    def submit(
        self, job: Job, *, on_event: OnEvent | None = None, loop: asyncio.AbstractEventLoop | None = None,
        deliver_here: bool = False,
    ) -> JobHandle:  # fmt: skip
        """Start ``job`` without blocking and return its handle.

        Events go to ``on_event`` on ``loop`` when one is given; otherwise on the caller's
        running loop when it has one (a notebook cell's), unless ``deliver_here`` asks for
        them on the thread that waits in ``handle.result()`` (what the blocking calls do).
        A job over the ``max_images`` budget raises ``InvalidRequest`` here, before anything runs.

        The first offline job starts the offline server, which takes a second or two: that is done
        on a worker thread of the session's loop, never on the caller's thread, whose loop (a
        kernel's, running the Studio) would freeze meanwhile; a failure to start it is the job's.
        """
        handle, emit = self._handle(on_event, loop, deliver_here)
        if job.settings.backend == "offline" and self.offline_url is None:
            self.reserve_job(job)  # the budget still refuses at the call
            handle._planned(job)
            prompt = getattr(job.requests[0], "prompt", "") if job.requests else ""
            connect = self._prepare_then_run(handle, lambda: (job, self._connect(job)), emit, prompt, job)
            self.loop().submit(connect)
            return handle
        conn = self._claim(job)
        handle._planned(job)
        self.loop().submit(self._run(handle, job, conn, emit))
        return handle

    def submit_planning(
        self, plan: Callable[[], Job], *, on_event: OnEvent | None = None,
        loop: asyncio.AbstractEventLoop | None = None, prompt: str = "",
    ) -> JobHandle:  # fmt: skip
        """``submit`` for a job still to be planned: ``plan`` runs on a worker thread, so this returns at once.

        Reading and preparing a big picture takes seconds, which a ``wait=False`` call must not
        spend on its caller's thread (a widget's click).  A planning failure (an ``InvalidRequest``
        for a picture that cannot be read, the budget) is the job's: ``result()`` raises it,
        ``exception()`` returns it, and ``on_event`` hears ``RequestFailed`` (for ``prompt``) and
        ``JobDone`` as for a request that failed.  ``cancel()`` while planning ends the job with nothing.
        """
        handle, emit = self._handle(on_event, loop, False)

        def prepare() -> tuple[Job, Connection]:
            job = plan()
            return job, self._claim(job)

        self.loop().submit(self._prepare_then_run(handle, prepare, emit, prompt))
        return handle

    async def _prepare_then_run(
        self, handle: JobHandle, prepare: Callable[[], tuple[Job, Connection]], emit: Callable[[Event], None],
        prompt: str, reserved: Job | None = None,
    ) -> None:  # fmt: skip
        """On the session's loop: ``prepare`` the job and claim its connection on a worker thread, then run it.

        A failure to prepare (a ``DalleError``) is the job's, heard as a ``RequestFailed`` for ``prompt``.
        ``reserved``: the job whose pictures the budget set aside at the call, given back if it is cancelled before
        ``prepare`` runs (once it runs, ``prepare`` and ``_unclaim`` settle them).
        """
        running = asyncio.get_running_loop()
        handle._task, handle._loop = asyncio.current_task(), running
        if handle.cancelling:  # cancelled before it started
            if reserved is not None:
                self.settle_job(reserved)
            self._end(handle, ImageSet(cancelled=True), emit)
            return
        work = running.run_in_executor(None, prepare)
        try:
            job, conn = await asyncio.shield(work)  # a cancel stops the wait, never a half-claimed job
        except asyncio.CancelledError:
            # what was claimed goes back before the handle says "cancelled": a call made the moment after
            # ``result()`` raised must find the budget whole (preparing is a server start or a picture read)
            with contextlib.suppress(BaseException):
                await work
            self._unclaim(work)
            self._end(handle, ImageSet(cancelled=True), emit)
            return
        except DalleError as error:
            detach(error)
            failure = Failure(prompt, error)
            emit(RequestFailed(failure))
            self._end(handle, ImageSet(failures=[failure]), emit)
            return
        except BaseException as error:  # a fault of ours: the caller must hear of it, never hang
            handle.set_exception(error)
            raise
        handle._planned(job)
        await self._run(handle, job, conn, emit)

    def _handle(
        self, on_event: OnEvent | None, loop: asyncio.AbstractEventLoop | None, deliver_here: bool
    ) -> tuple[JobHandle, Callable[[Event], None]]:
        """A new handle, and the ``emit`` that records each event on it and passes it to ``on_event``."""
        if loop is None and not deliver_here and on_event is not None:
            with contextlib.suppress(RuntimeError):
                loop = asyncio.get_running_loop()
        handle = JobHandle()
        handle._on_event = on_event
        if loop is None and on_event is not None:
            handle._events = queue.SimpleQueue()

        def emit(event: Event) -> None:
            if isinstance(event, ImageSaved):
                handle.images.images.append(event.image)
            elif isinstance(event, RequestFailed):
                self.settings_store.hide(event.failure.error)  # before anyone sees it: keys an answer echoed
                handle.images.failures.append(event.failure)
            if on_event is None:
                return
            if loop is not None:
                loop.call_soon_threadsafe(guarded, event)
            else:  # no loop: the thread waiting in result() delivers it
                assert handle._events is not None
                handle._events.put(event)

        def guarded(event: Event) -> None:
            # a callback that raises stops the job, as Ctrl-C does, and its error is the job's
            if handle._callback_error is not None:
                return
            try:
                assert on_event is not None
                on_event(event)
            except BaseException as error:  # the user's callback: anything may come out
                handle._callback_error = error
                handle.cancel()

        return handle, emit

    def _claim(self, job: Job) -> Connection:
        """Reserve the job's pictures and a connection for it (``_release`` gives both back)."""
        self.reserve_job(job)
        return self._connect(job)

    def _connect(self, job: Job) -> Connection:
        """A connection held for ``job``, whose pictures are reserved; they go back if none can be had."""
        try:
            conn = self.connection(job.settings)
        except BaseException:
            self.settle_job(job)
            raise
        self._hold(conn)
        return conn

    def _release(self, job: Job, conn: Connection, made: Sequence[GeneratedImage]) -> None:
        self._let_go(conn)
        self.settle_job(job, made)

    def _unclaim(self, work: asyncio.Future[tuple[Job, Connection]]) -> None:
        """A job cancelled while it was being planned: what ``_claim`` took, if it got that far, goes back."""
        if not work.cancelled() and work.exception() is None:
            job, conn = work.result()
            self._release(job, conn, ())

    def _end(self, handle: JobHandle, result: ImageSet, emit: Callable[[Event], None]) -> None:
        """Settle ``handle`` with ``result``: its pictures, the cancellation, or the job's error."""
        handle.images = result
        emit(JobDone(result))
        if handle._callback_error is not None:
            with contextlib.suppress(AttributeError, TypeError):
                handle._callback_error.images = result  # type: ignore[attr-defined]
            handle.set_exception(handle._callback_error)
        elif result.cancelled:
            # the state moves to CANCELLED only now, once what arrived is kept in ``images``
            concurrent.futures.Future.cancel(handle)
        else:
            try:
                handle.set_result(_finish(result))
            except Exception as error:  # every request failed: that failure is the job's error
                handle.set_exception(error)

    async def _run(self, handle: JobHandle, job: Job, conn: Connection, emit: Callable[[Event], None]) -> None:
        """Run a claimed job on the session's loop and settle its handle."""
        task = asyncio.current_task()
        assert task is not None
        handle._task, handle._loop = task, asyncio.get_running_loop()
        if handle.cancelling:  # cancelled before it started
            task.cancel()
        try:
            # the limiter lives on this loop: only this thread creates or resizes it
            limiter = self._limiter(conn, job.settings.concurrency)
            result = await run_job(job, conn, self.gallery(job.settings), limiter, emit, self.id)
        except BaseException as error:  # a fault of ours: the caller must hear of it, never hang
            handle.set_exception(error)
            raise
        finally:
            self._release(job, conn, handle.images.images)
        self._end(handle, result, emit)


async def _shut_down(conns: list[Connection], deadline: float) -> None:
    """On the loop that closes: cancel what runs on it, then close the SDK clients and async generators."""
    me = asyncio.current_task()
    others = [task for task in asyncio.all_tasks() if task is not me]
    for task in others:
        task.cancel()
    if others:  # a cancelled job keeps what arrived; leave time to close the connections
        await asyncio.wait(others, timeout=max(0.0, deadline - time.monotonic() - 0.5))
    await asyncio.gather(*(conn.sdk.close() for conn in conns), return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()


def _close_at_exit(ref: weakref.ref[Session]) -> None:
    session = ref()
    if session is not None:
        session.close()


_default: Session | None = None
_default_lock = threading.Lock()


def default_session() -> Session:
    """The session behind ``dn.generate`` and friends, made on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Session()
        return _default


__all__ = ["JobHandle", "Limiter", "Session", "default_session", "new_session_id"]
