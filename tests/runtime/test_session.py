"""The widget-ready core: a job started without blocking, settings changed mid-flight, rules read as data."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import dalle_nb as dn
from dalle_nb import config
from dalle_nb.core import errors, plan
from dalle_nb.core.capabilities import ARBITRARY, DEFAULT_MODEL, MODELS, choices
from dalle_nb.notebook.magics import OPTIONS, help_text, parse
from dalle_nb.offline import OfflineServer, ServerOptions
from dalle_nb.runtime.session import default_session

from ..conftest import faulty, use


def settle() -> None:
    """Wait until no request task is left on the private loop."""
    deadline = time.monotonic() + 10
    while default_session().in_flight() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert default_session().in_flight() == 0, "no request may be left running"


# ---------------------------------------------------------------------------- settings mid-flight
def test_changing_a_setting_mid_flight_never_fails_a_running_request() -> None:
    with OfflineServer(ServerOptions(latency=2)) as slow:
        use(slow)
        outcome: list[object] = []
        worker = threading.Thread(target=lambda: outcome.append(dn.generate("a patient heron", size="1024x1024")))
        worker.start()
        time.sleep(0.7)
        old = [conn for conn in default_session()._connections.values()]
        config.configure(concurrency=2)  # what a panel's dropdown does while a picture is being made
        worker.join(10)
        assert isinstance(outcome[0], dn.ImageSet) and outcome[0][0].prompt == "a patient heron"
        assert old and all(conn.retired and conn.closed for conn in old), "the old connection closes after its job"
        assert dn.generate("a second heron", size="1024x1024")[0].path is not None  # new jobs use a new one


# ---------------------------------------------------------------------------- wait=False
def test_wait_false_returns_a_future_at_once_and_delivers_events_to_the_waiting_thread() -> None:
    with OfflineServer(ServerOptions(latency=0.5)) as slow:
        use(slow)
        seen: list[tuple[str, bool]] = []

        def on_event(event: object) -> None:
            seen.append((type(event).__name__, threading.current_thread() is threading.main_thread()))

        started = time.monotonic()
        handle = dn.generate(["a red kite", "a blue kite"], size="1024x1024", wait=False, on_event=on_event)
        assert time.monotonic() - started < 0.4, "submitting must not wait for the pictures"
        assert isinstance(handle, concurrent.futures.Future) and isinstance(handle, dn.JobHandle)
        assert not handle.done()
        result = handle.result(timeout=20)
    assert [image.prompt for image in result] == ["a red kite", "a blue kite"]
    assert [name for name, _ in seen] == ["ImageSaved", "ImageSaved", "JobDone"]
    assert all(on_main for _, on_main in seen), "without a loop, events arrive on the thread that waits"
    assert handle.done() and not handle.cancelled() and handle.images.images == result.images


def test_events_arrive_on_the_given_loop_while_it_keeps_running() -> None:
    async def notebook() -> tuple[list[str], int, dn.ImageSet]:
        loop_thread = threading.get_ident()
        names: list[str] = []
        ticks = 0

        def on_event(event: object) -> None:
            assert threading.get_ident() == loop_thread
            names.append(type(event).__name__)

        handle = dn.generate(
            "a jellyfish", size="1024x1024", stream=True, partial_images=2, wait=False, on_event=on_event,
            loop=asyncio.get_running_loop(),
        )  # fmt: skip
        while not handle.done():  # the loop (a kernel's) stays free: other cells run meanwhile
            ticks += 1
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # the last events are scheduled on this loop
        return names, ticks, handle.result()

    names, ticks, result = asyncio.run(notebook())
    assert names[:2] == ["PartialImage", "PartialImage"] and names[-1] == "JobDone" and "ImageSaved" in names
    assert ticks > 0 and len(result) == 1


def _straddling_seed() -> int:
    """A seed whose first two fault draws hold exactly one of two requests (rate 0.5)."""
    for seed in range(100):
        rng = random.Random(seed)
        draws = [rng.random() < 0.5 for _ in range(2)]
        if draws.count(True) == 1:
            return seed
    raise AssertionError("no seed found")


def test_partial_pictures_and_failures_show_a_short_repr_never_their_bytes() -> None:
    server = faulty("nofinal:1")  # every partial picture arrives, the final one never does
    try:
        use(server)
        config.configure(revise=True)
        events: list[dn.Event] = []
        handle = dn.generate("a fox " * 20, size="1024x1024", partial_images=2, wait=False, on_event=events.append)
        assert isinstance(handle.exception(30), errors.IncompleteStream)
        partial = [event for event in events if isinstance(event, dn.PartialImage)][-1]
        failed = next(event for event in events if isinstance(event, dn.RequestFailed))
    finally:
        server.stop()
    prompt = repr(("a fox " * 20)[:57] + "...")
    assert repr(partial) == f"<PartialImage {prompt} #0 partial 1, {len(partial.data):,} bytes>"
    assert len(partial.data) > 10_000 and f"{len(partial.data):,}" in repr(partial)
    final = dn.PartialImage("a fox", 3, None, partial.data, label="fox=1")
    assert repr(final) == f"<PartialImage 'a fox' (fox=1) #3 final, {len(partial.data):,} bytes>"
    assert failed.failure.partial is not None
    for shown in (repr(failed), repr(failed.failure), repr(handle.images.failures), repr(events)):
        assert len(shown) < 2_000 and "\\x" not in shown and repr(partial) in shown


def test_cancel_stops_what_is_in_flight_and_keeps_exactly_what_arrived(fresh: Path) -> None:
    server = faulty("timeout:0.5", seed=_straddling_seed())  # one of the two requests is held
    try:
        use(server)
        arrived = threading.Event()
        handle = dn.generate(
            ["a lantern", "a compass"], size="1024x1024", wait=False,
            on_event=lambda e: arrived.set() if isinstance(e, dn.ImageSaved) else None, loop=None,
        )  # fmt: skip
        # no loop and no running loop: events wait for a thread in result(); watch the handle instead
        deadline = time.monotonic() + 20
        while not handle.images.images and time.monotonic() < deadline:
            time.sleep(0.02)
        assert handle.cancel() and handle.cancelling
        with pytest.raises(concurrent.futures.CancelledError):
            handle.result(timeout=10)
        assert handle.cancelled() and len(handle.images) == 1 and handle.images.cancelled
        settle()
        on_disk = [p for p in fresh.rglob("*.png")]
        assert [p.name for p in on_disk] == [handle.images[0].path.name]  # type: ignore[union-attr]
        assert not handle.cancel(), "a finished job cannot be cancelled again"
    finally:
        server.stop()


def test_ctrl_c_keeps_exactly_what_arrived() -> None:
    import _thread

    server = faulty("timeout:0.5", seed=_straddling_seed())
    try:
        use(server)

        def interrupt_after_first(event: object) -> None:
            if isinstance(event, dn.ImageSaved):
                threading.Timer(0.1, _thread.interrupt_main).start()

        with pytest.raises(KeyboardInterrupt) as err:
            dn.generate(["a lantern", "a compass"], size="1024x1024", on_event=interrupt_after_first)
        kept = err.value.images  # type: ignore[attr-defined]
        assert len(kept) == 1 and kept.cancelled and kept[0].path.is_file()
        settle()
    finally:
        server.stop()


def test_async_twins_prepare_images_off_the_callers_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[threading.Thread] = []
    original = plan.prepare_images

    def watched(*args: object, **kwargs: object) -> object:
        threads.append(threading.current_thread())
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(plan, "prepare_images", watched)
    photo = np.random.default_rng(3).integers(0, 255, (1200, 1600, 3), dtype=np.uint8)

    async def main() -> dn.ImageSet:
        return await dn.aedit(photo, "add a rainbow")

    result = asyncio.run(main())  # asyncio.run drives its loop on this (the main) thread
    assert result[0].kind == "edit"
    assert threads and all(t is not threading.main_thread() for t in threads)


def test_edit_wait_false_returns_before_the_picture_is_prepared() -> None:
    photo = np.random.default_rng(5).integers(0, 255, (1800, 2400, 3), dtype=np.uint8)  # noise: slow to encode
    started = time.perf_counter()
    plan.plan_edit(photo, "a red door", revise=False, context=default_session())
    planning = time.perf_counter() - started

    started = time.perf_counter()
    handle = dn.edit(photo, "a red door", wait=False, revise=False)
    called = time.perf_counter() - started
    assert called < planning / 4, f"the call took {called:.2f} s; preparing the picture alone takes {planning:.2f} s"
    photo[:] = 0  # the caller's array may change once the call has returned: the edit sends it as it was
    result = handle.result(timeout=60)
    assert len(result) == 1 and result[0].kind == "edit" and result[0].prompt == "a red door"
    assert result[0].path is not None and result[0].path.is_file()
    assert handle.job is not None and handle.job.requests[0].params()["images"] == ["2400x1800 image/png"]
    assert len(handle.job.requests[0].images[0].data) > 10_000_000, "the noise was sent, not the zeroed array"


def test_edit_wait_false_fails_a_bad_option_at_once_and_a_bad_picture_through_the_handle(tmp_path: Path) -> None:
    missing = tmp_path / "missing.png"
    with pytest.raises(dn.InvalidRequest, match="qualty"):  # checked before the picture is looked at
        dn.edit(missing, "a red door", wait=False, qualty="high")
    with pytest.raises(dn.InvalidRequest, match="fit='stretch' is not an option"):
        dn.vary(missing, wait=False, fit="stretch")  # type: ignore[arg-type]

    seen: list[object] = []
    handle = dn.edit(missing, "a red door", wait=False, on_event=seen.append)
    with pytest.raises(dn.InvalidRequest, match="image file not found"):
        handle.result(timeout=20)
    error = handle.exception()
    assert isinstance(error, dn.InvalidRequest) and "\n" not in error.one_line()
    assert [type(event).__name__ for event in seen] == ["RequestFailed", "JobDone"]
    failed, done = seen
    assert isinstance(failed, dn.RequestFailed) and failed.failure.error is error
    assert failed.failure.prompt == "a red door"
    assert isinstance(done, dn.JobDone) and not done.result.images and done.result.failures == [failed.failure]
    assert default_session()._reserved == 0, "a job that never started holds no budget"


def test_cancelling_while_the_picture_is_prepared_ends_the_job_with_nothing(fresh: Path) -> None:
    photo = np.random.default_rng(6).integers(0, 255, (1800, 2400, 3), dtype=np.uint8)
    handle = dn.edit(photo, "a red door", wait=False, revise=False)
    assert handle.cancel()
    with pytest.raises(concurrent.futures.CancelledError):
        handle.result(timeout=20)
    assert handle.cancelled() and handle.images.cancelled and not handle.images
    deadline = time.monotonic() + 20  # the preparing thread finishes on its own and gives back what it took
    while default_session()._reserved and time.monotonic() < deadline:
        time.sleep(0.05)
    assert default_session()._reserved == 0
    settle()
    assert not list(fresh.rglob("*.png")), "nothing was sent"


FIRST_CLICK = """
import asyncio, json, time
import dalle_nb as dn
import dalle_nb.api  # loaded, as in a notebook where the Studio shows before its first click
from dalle_nb.runtime.session import default_session

TICK = 0.005
dn.configure(max_images=1)
try:
    dn.generate("two kites", n=2, wait=False)
    refused = None
except dn.InvalidRequest as error:  # the budget refuses at the call, before any server starts
    refused = error.field if default_session().offline_url is None else "a server was started"
dn.configure(max_images=None)


async def main():
    loop = asyncio.get_running_loop()
    ticks = []  # (when each tick began, how late it woke)
    done = False

    async def ticker():
        while not done:
            before = time.perf_counter()
            await asyncio.sleep(TICK)
            ticks.append((before, time.perf_counter() - before - TICK))

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.1)
    handles = []
    clicked = time.perf_counter()
    loop.call_soon(lambda: handles.append(dn.generate("a red kite", wait=False, loop=loop)))
    while default_session().offline_url is None or not handles:
        await asyncio.sleep(TICK)
    up = time.perf_counter()
    result = await asyncio.wrap_future(handles[0])
    done = True
    await tick
    worst = max(late for began, late in ticks if clicked - 2 * TICK <= began <= up)
    print(json.dumps({"refused": refused, "pictures": len(result), "worst_ms": worst * 1000,
                      "server_ms": (up - clicked) * 1000}))


asyncio.run(main())
"""


def test_the_first_job_starts_the_offline_server_off_the_callers_loop() -> None:
    """A Studio's first click must not freeze the kernel while the offline server starts (a second or two).

    In a fresh process with no offline server yet, a 5 ms ticker runs on an asyncio loop (as a
    kernel's) and ``generate(wait=False, loop=...)`` is called from a callback on that loop; the
    ticker's longest lateness from the call until the server is up is what the call held the loop.
    A subprocess with its own loop stands in for the kernel: a fresh one is needed, so that the
    server is not running yet, and it measures the same loop a kernel's callback runs on.
    """
    root = Path(dn.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "DALLE_NB_OFFLINE": "1", "OPENAI_API_KEY": ""}
    held = []
    for _ in range(3):  # the median of three fresh processes: one can catch the system scheduling something else
        run = subprocess.run([sys.executable, "-c", FIRST_CLICK], capture_output=True, text=True, env=env, timeout=120)
        assert run.returncode == 0, run.stderr
        found = json.loads(run.stdout.strip().splitlines()[-1])
        assert found["refused"] == "max_images"
        assert found["pictures"] == 1
        held.append(found["worst_ms"] / found["server_ms"])
    # a share of the server's own start, not a time: started on the loop, the call holds it the whole start
    # (a share near 1, 1-2 s); started off it, the loop only misses a tick or two (18-46 ms here, a share < 0.1)
    assert sorted(held)[1] < 0.5, f"the call held the caller's loop for {sorted(held)[1]:.0%} of the server's start"


# ---------------------------------------------------------------------------- exit
EXITING = """
import atexit, os, sys, time

def open_sockets():
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            found += [fd] if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:") else []
        except OSError:
            pass
    return len(found)

if os.path.isdir("/proc/self/fd"):  # registered before dalle_nb is imported, so it runs after dalle_nb's hooks
    atexit.register(lambda: print(f"open sockets at exit: {open_sockets()}", file=sys.stderr))
import dalle_nb as dn
from dalle_nb.runtime.session import default_session

assert len(dn.generate("a fox at dusk", size="1024x1024")) == 1
if sys.argv[1] == "busy":  # the private loop stuck in someone's callback as the script ends
    default_session().loop().loop.call_soon_threadsafe(time.sleep, 60)
    time.sleep(0.1)
print(time.time(), flush=True)
"""


@pytest.mark.parametrize("loop", ["idle", "busy"])
def test_a_script_exits_promptly_with_every_connection_closed(loop: str) -> None:
    root = Path(dn.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONWARNINGS": "always"}
    run = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error::ResourceWarning", "-c", EXITING, loop],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    ended = time.time()
    assert run.returncode == 0, run.stderr
    took = ended - float(run.stdout.split()[-1])
    assert took < 5, f"the interpreter took {took:.1f} s to exit"
    for trouble in ("ResourceWarning", "unclosed", "Exception ignored", "Task was destroyed"):
        assert trouble not in run.stderr, run.stderr
    if loop == "idle" and "open sockets at exit" in run.stderr:
        assert "open sockets at exit: 0" in run.stderr, "the SDK's connections and the private loop are closed"


# ---------------------------------------------------------------------------- every failure is a DalleError
def test_a_broken_gallery_index_is_a_dalle_error_naming_the_saved_file(fresh: Path) -> None:
    fresh.mkdir(parents=True)
    (fresh / "index.sqlite3").write_bytes(b"this is not a database" * 100)
    result = dn.generate("a fox in a broken gallery", size="1024x1024")
    error = result.failures[0].error
    assert isinstance(error, errors.DalleError)
    line = error.one_line()
    assert "\n" not in line and "could not be added to the index" in line and str(result[0].path) in line
    assert result[0].path is not None and result[0].path.is_file(), "the picture itself is on disk"


# ---------------------------------------------------------------------------- rules as data
def test_choices_give_menus_defaults_and_rules() -> None:
    size = choices("dall-e-3", "generations", "size")
    assert size.allowed == ("1024x1024", "1792x1024", "1024x1792") and size.default == "1024x1024"
    assert not size.rule
    assert choices("dall-e-3", "generations", "quality").allowed == ("standard", "hd")
    assert choices("dall-e-3", "generations", "quality").default == "standard"
    assert choices("dall-e-3", "generations", "n").allowed == (1,)
    assert choices("dall-e-3", "generations", "style").allowed == ("vivid", "natural")
    open_size = choices(DEFAULT_MODEL, "generations", "size")
    assert open_size.allowed[0] == "auto" and "multiples of 16" in open_size.rule
    assert open_size.check("1536x864") == "1536x864"
    style = choices(DEFAULT_MODEL, "generations", "style")
    assert not style.supported and "only dall-e-3" in style.why_not
    assert not choices("gpt-image-2", "edits", "input_fidelity").supported
    assert choices("gpt-image-1-mini", "edits", "input_fidelity").allowed == ("low",)
    assert not choices(DEFAULT_MODEL, "edits", "moderation").supported  # generations only
    assert choices(DEFAULT_MODEL, "generations", "output_compression").check("50") == 50
    for model in MODELS:
        for endpoint in MODELS[model].endpoints:
            n = choices(model, endpoint, "n")
            assert n.low == 1 and n.high == MODELS[model].n_max


def test_choices_offer_the_nearest_valid_size() -> None:
    with pytest.raises(dn.InvalidRequest, match="multiples of 16. Nearest valid: '992x704', '1008x704'"):
        dn.generate("x", size="1000x700")
    assert ARBITRARY.problem(1008, 704) is None


def test_configure_checks_settings_together_in_any_order() -> None:
    settings = config.configure(quality="hd", model="dall-e-3")
    assert (settings.model, settings.quality) == ("dall-e-3", "hd")
    with pytest.raises(dn.InvalidRequest, match="does not suit the model gpt-image-1.5"):
        config.configure(model="gpt-image-1.5")  # hd is dall-e-3's
    assert config.settings().model == "dall-e-3", "a refused update changes nothing"
    config.reset("quality", "model")
    assert config.settings().model == DEFAULT_MODEL and config.settings().quality is None


def test_library_limits_are_written_once() -> None:
    rule = config.RULES["n"]
    with pytest.raises(dn.InvalidRequest, match=rule.rule):
        dn.generate("x", n=int(rule.high) + 1)  # type: ignore[arg-type]
    with pytest.raises(dn.InvalidRequest, match=config.RULES["concurrency"].rule):
        config.configure(concurrency=0)


# ---------------------------------------------------------------------------- magics as one parsed call
def test_help_is_written_from_the_option_table_the_parser_uses() -> None:
    text = help_text()
    for option in OPTIONS:
        for flag in option.flags:
            assert flag in text, f"{flag} missing from %dalle help"
    assert "low, medium, high, xhigh, max, auto" in text  # the current model's qualities, from the table
    assert "vivid, natural" in help_text("dall-e-3")
    call = parse("dalle", "-m dall-e-3 -n 2 --style natural -o pics", "a fox")
    assert call.options["model"] == "dall-e-3" and call.options["n"] == 2 and call.options["out"] == "pics"
    edit = parse("dalle_edit", "base[0] --mask hole --fidelity high", "a door")
    assert (edit.image, edit.options["mask"], edit.prompt) == ("base[0]", "hole", "a door")
    assert parse("dalle", "history owls", None).subcommand == ("history", ["owls"])


def test_the_model_table_is_rendered_once_for_magics_and_cli(capsys: pytest.CaptureFixture[str]) -> None:
    from dalle_nb.cli import main
    from dalle_nb.notebook.reports import models_report

    assert main(["models"]) == 0
    assert capsys.readouterr().out.strip() == repr(models_report()).strip()


def test_a_budget_cap_refuses_the_call_that_would_pass_it(fresh: Path) -> None:
    config.configure(max_images=3)
    assert len(dn.generate("a first apple", n=2, size="1024x1024")) == 2
    with pytest.raises(dn.InvalidRequest, match=r"budget \(max_images=3\) has 1 left") as err:
        dn.generate("two more apples", n=2, size="1024x1024")
    assert "\n" not in err.value.one_line() and "configure(max_images=" in err.value.one_line()
    assert len([p for p in fresh.rglob("*.png") if not p.name.startswith(".")]) == 2, "nothing was sent"
    assert len(dn.generate("one last apple", size="1024x1024")) == 1
    with pytest.raises(dn.InvalidRequest, match="has 0 left"):
        dn.generate("an apple too many", size="1024x1024")
    config.configure(max_images=5)  # a new budget counts from now
    assert len(dn.generate(["a pear", "a plum"], n=2, size="1024x1024")) == 4


def test_a_prepared_upload_shows_a_short_repr_never_its_bytes() -> None:
    from dalle_nb.core.imaging import prepare_image

    from ..conftest import noise

    prepared = prepare_image(noise(512, 512), "gpt-image-1.5")
    shown = repr(prepared)
    assert len(prepared.data) > 100_000 and len(shown) < 200 and "\\x" not in shown
    assert "512x512" in shown and f"{len(prepared.data):,} bytes" in shown


CANCELLED_FIRST = """
import concurrent.futures
import dalle_nb as dn

dn.configure(max_images=1)
first = dn.generate("a red kite", wait=False)  # the first offline job: the server starts on a worker thread
first.cancel()
try:
    first.result(timeout=60)
except concurrent.futures.CancelledError:
    pass
print(len(dn.generate("a blue kite")))  # the budget of one picture is whole again
"""


def test_a_first_offline_job_cancelled_at_once_gives_its_pictures_back_to_the_budget() -> None:
    """The first offline job reserves its pictures at the call (a budget refuses there) and starts the server
    later; cancelled before that, what it reserved goes back, or the next call would be refused."""
    root = Path(dn.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "DALLE_NB_OFFLINE": "1", "OPENAI_API_KEY": ""}
    run = subprocess.run([sys.executable, "-c", CANCELLED_FIRST], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "1"
