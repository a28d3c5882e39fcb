"""Background jobs through the library, over HTTP against the offline server: submit, wait, cancel, collect, resume."""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import openai
import pytest

import dalle_nb as dn
from dalle_nb import config
from dalle_nb.background import lines as batch_lines
from dalle_nb.background.batch import _engine
from dalle_nb.core.costs import usd
from dalle_nb.core.errors import ContentPolicyError, InvalidRequest
from dalle_nb.core.prices import BATCH_SHARE
from dalle_nb.offline import OfflineServer, ServerOptions
from dalle_nb.runtime.gallery import Gallery, JobRecord

from ..conftest import make_client, scene, use
from ..offline.test_offline_batches import _Receiver

FAST = {"size": "1024x1024", "quality": "low", "output_format": "jpeg", "output_compression": 50}


@pytest.fixture(scope="module")
def quick() -> Iterator[OfflineServer]:
    """A server whose batches take about a second."""
    with OfflineServer(ServerOptions(seed=5, batch_seconds=0.5)) as srv:
        yield srv


def uploads(server: OfflineServer) -> int:
    with make_client(server) as client:
        return len(client.files.list().data)


def test_a_thousand_prompts_come_back_into_the_gallery_with_their_prompts(quick: OfflineServer, fresh: Path) -> None:
    use(quick)
    prompts = [f"a red fox number {i} in the snow" for i in range(1000)]
    job = dn.submit(prompts, model="gpt-image-1.5", **FAST)
    assert dn.jobs()[0].id == job.id and job.engine == "batch" and len(job.batch_ids) == 1
    status = job.wait(progress=False)
    assert status.state == "completed" and (status.total, status.completed, status.failed) == (1000, 1000, 0)
    images = job.collect()
    assert [image.prompt for image in images] == prompts and not images.failures
    assert all(image.path is not None and image.path.is_file() for image in images)
    assert images[0].size == "1024x1024" and images[0].output_format == "jpeg" and images[0].model == "gpt-image-1.5"
    assert images[0].params["quality"] == "low" and images[0].usage and images[0].usage["output_tokens"] > 0
    assert len(Gallery(fresh)) == 1000
    assert [image.id for image in dn.history("red fox number 999")] == [images[999].id]


def test_a_bad_line_is_refused_before_anything_is_uploaded(quick: OfflineServer, fresh: Path) -> None:
    use(quick)
    before = uploads(quick)
    with pytest.raises(InvalidRequest) as refused:
        dn.submit(["a cat", {"prompt": "a dog", "size": "999x999"}, "a cow"], model="gpt-image-1.5")
    assert refused.value.field == "size" and "999x999" in str(refused.value)
    hole = np.zeros((1024, 1024), bool)
    hole[:100, :100] = True
    refusals = [
        (lambda: dn.submit([{"image": scene()}]), "variations cannot run in a batch"),
        (lambda: dn.submit(["a cat"], stream=True), "cannot stream"),
        (lambda: dn.submit(["a cat"], completion_window="1h"), "24h"),
        (lambda: dn.submit(["a cat"], callback_url="http://127.0.0.1:9/x"), "task mode"),
        (lambda: dn.submit([{"image": scene(), "prompt": "x", "mask": hole, "model": "dall-e-2"}]), "GPT"),
        (lambda: dn.submit([]), "at least one prompt"),
        (lambda: dn.submit([42]), "takes prompts"),
        (lambda: dn.submit(["a cat"], metadata={f"k{i}": "v" for i in range(15)}), "metadata"),
    ]
    for call, words in refusals:
        with pytest.raises(InvalidRequest, match=words):
            call()
    assert uploads(quick) == before and dn.jobs() == []
    assert not any((fresh / "jobs").glob("*/*")), "nothing of a refused job is left behind"


def test_a_class_budget_counts_the_pictures_of_a_batch_before_it_is_sent(quick: OfflineServer) -> None:
    use(quick)
    config.configure(max_images=5)
    before = uploads(quick)
    with pytest.raises(InvalidRequest, match="max_images=5"):
        dn.submit([f"a tulip {i}" for i in range(6)], **FAST)
    assert uploads(quick) == before and dn.jobs() == []
    dn.submit([f"a rose {i}" for i in range(4)], **FAST)
    with pytest.raises(InvalidRequest, match="1 left"):
        dn.submit(["a daisy", "a lily"], **FAST)


def test_a_line_the_server_refuses_is_a_failure_with_its_message_and_the_rest_are_collected(
    quick: OfflineServer,
) -> None:
    use(quick)
    job = dn.submit(["a green frog", "a #blocked frog", "a brown frog"], **FAST)
    images = job.collect()
    assert [image.prompt for image in images] == ["a green frog", "a brown frog"]
    (failure,) = images.failures
    assert failure.prompt == "a #blocked frog" and isinstance(failure.error, ContentPolicyError)
    assert "safety system" in failure.error.message and failure.error.request_id
    assert job.status().failed == 1


def test_collecting_twice_or_after_jobs_saves_each_picture_once(quick: OfflineServer, fresh: Path) -> None:
    use(quick)
    job = dn.submit([f"a yellow duck number {i}" for i in range(4)], labels=["a", "b", "c", "d"], **FAST)
    first = job.collect()
    again = dn.jobs()[0].collect()
    assert [i.id for i in again] == [i.id for i in first] and len(Gallery(fresh)) == 4
    assert [i.label for i in again] == ["a", "b", "c", "d"]


def test_waiting_shows_the_state_and_the_counts(quick: OfflineServer, capsys: pytest.CaptureFixture[str]) -> None:
    use(quick)
    job = dn.submit(["a pink pig", "a grey pig"], **FAST)
    assert job.wait().done
    shown = capsys.readouterr().out.splitlines()
    assert shown[-1] == f"dalle_nb: [{'#' * 20}] {job.id}: completed, 2 of 2 done, 0 failed"
    waiting = [line for line in shown if line.startswith("dalle_nb: [")]
    assert waiting[0].startswith(f"dalle_nb: [{'.' * 20}] {job.id}: ")  # the bar fills as lines are done
    assert any("validating" in line or "in_progress" in line for line in shown[:-1])


def test_cancel_stops_the_job_and_keeps_what_ran(fresh: Path) -> None:
    with OfflineServer(ServerOptions(batch_seconds=20)) as srv:
        use(srv)
        job = dn.submit([f"a dog number {i}" for i in range(20)], **FAST)
        while job.status().completed == 0:
            time.sleep(0.05)
        assert job.cancel().state in ("cancelling", "cancelled")
        images = job.collect()
        assert job.status().state == "cancelled"
        assert 0 < len(images) < 20 and len(images) + len(images.failures) == 20
        assert {failure.error.code for failure in images.failures} == {"batch_cancelled"}
        numbers = [int(image.prompt.split()[-1]) for image in images]
        assert numbers == sorted(set(numbers))  # in request order, each once


def test_a_kernel_restart_in_the_middle_loses_nothing(fresh: Path) -> None:
    with OfflineServer(ServerOptions(batch_seconds=4)) as srv:
        env = {**os.environ, "DALLE_NB_GALLERY_DIR": str(fresh), "PYTHONUNBUFFERED": "1"}
        setup = (
            "import json, dalle_nb as dn\n"
            f"dn.configure(api_key='offline', base_url={srv.base_url!r}, offline=False, max_retries=0)\n"
        )
        first = (
            setup + "job = dn.submit([f'a kite number {i}' for i in range(12)], size='1024x1024', quality='low')\n"
            "job.wait(progress=True)\nprint('NOT KILLED')\n"
        )
        proc = subprocess.Popen([sys.executable, "-c", first], env=env, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        seen = []
        for text in proc.stdout:
            seen.append(text)
            if "in_progress" in text:
                proc.kill()  # the kernel dies while it waits
                break
        proc.wait(30)
        assert not any("NOT KILLED" in text or "completed" in text for text in seen), seen
        second = setup + "images = dn.jobs()[0].collect()\nprint(json.dumps([i.prompt for i in images]))\n"
        done = subprocess.run([sys.executable, "-c", second], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        assert json.loads(done.stdout.splitlines()[-1]) == [f"a kite number {i}" for i in range(12)]


def test_a_list_larger_than_one_batch_takes_becomes_several_batches_of_one_job(
    quick: OfflineServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use(quick)
    monkeypatch.setattr(batch_lines, "MAX_REQUESTS_PER_FILE", 4)
    prompts = [f"a plum number {i}" for i in range(10)]
    job = dn.submit(prompts, **FAST)
    assert len(job.batch_ids) == 3 and "10 lines go in 3 batches" in capsys.readouterr().out
    assert [image.prompt for image in job.collect()] == prompts
    monkeypatch.setattr(batch_lines, "MAX_REQUESTS_PER_FILE", 50_000)
    monkeypatch.setattr(batch_lines, "MAX_FILE_BYTES", 1000)
    job = dn.submit([f"a pear number {i}" for i in range(10)], **FAST)
    assert len(job.batch_ids) > 1 and len(job.collect()) == 10
    with pytest.raises(InvalidRequest, match="one request is"):
        dn.submit(["a pear " * 200], **FAST)


def test_edits_and_fanned_out_models_run_in_a_batch_with_their_parents_and_labels(quick: OfflineServer) -> None:
    use(quick)
    lake = dn.generate("a blue lake", size="1024x1024", quality="low")[0]
    mask = np.zeros((1024, 1024), bool)
    mask[100:300, 100:300] = True
    job = dn.submit(
        [{"image": lake, "prompt": "a red boat", "mask": mask}, "a green hill"],
        labels=["boat", "hill"], size="1024x1024", quality="low",
    )  # fmt: skip
    assert len(job.batch_ids) == 2  # a batch takes one endpoint
    boat, hill = job.collect()
    assert (boat.kind, boat.label, boat.parents, boat.prompt) == ("edit", "boat", (lake.id,), "a red boat")
    assert boat.params["images"] == ["1024x1024 image/png"] and boat.params["mask"] == "1024x1024"
    assert (hill.kind, hill.label) == ("generate", "hill")
    towers = dn.submit(["a lighthouse"], model="dall-e-3", n=3)
    assert towers.requests == 3  # dall-e-3 takes n=1 per request: three lines
    pictures = towers.collect()
    assert len(pictures) == 3 and all(p.revised_prompt for p in pictures) and len({p.to_bytes() for p in pictures}) == 3


def test_on_a_gateway_the_same_job_runs_on_tasks_with_a_callback_and_by_polling(quick: OfflineServer) -> None:
    use(quick)
    config.configure(task_mode="gateway")
    receiver = _Receiver()
    try:
        job = dn.submit(["a white swan", "a #blocked swan", "a black swan"], callback_url=receiver.url, **FAST)
        assert job.engine == "tasks" and job.batch_ids == ()
        images = job.collect()  # polls the tasks with backoff until every one has ended
        assert [image.prompt for image in images] == ["a white swan", "a black swan"]
        assert [f.prompt for f in images.failures] == ["a #blocked swan"]
        prefix = job.record.parts[0]["trace_prefix"]
        while len(receiver.got) < 2:
            assert receiver.arrived.wait(30)
            receiver.arrived.clear()
        assert sorted(got["trace_id"] for got in receiver.got) == [f"{prefix}-r0-0", f"{prefix}-r2-0"]
        assert all(got["success"] for got in receiver.got)
        assert [i.id for i in dn.jobs()[0].collect()] == [i.id for i in images]  # nothing saved twice
        quiet = dn.submit(["a grey goose"], **FAST)  # no callback_url of ours: sent to nobody, found by polling
        assert [image.prompt for image in quiet.collect()] == ["a grey goose"]
    finally:
        receiver.close()


def test_a_task_whose_picture_url_has_expired_is_a_failed_line_and_the_job_ends() -> None:
    with OfflineServer(ServerOptions(seed=5, url_ttl=0.2)) as srv:
        use(srv)
        config.configure(task_mode="gateway")
        receiver = _Receiver()
        try:
            lines = ["a paper lantern", {"prompt": "a glass lantern", "response_format": "url"}]
            job = dn.submit(lines, model="dall-e-2", size="256x256", callback_url=receiver.url)
            while len(receiver.got) < 2:  # both tasks have ended
                assert receiver.arrived.wait(30)
                receiver.arrived.clear()
            time.sleep(0.4)  # the glass lantern's URL has expired before the job asks for it
            status = job.wait(progress=False, timeout=30)
            assert status.state == "completed" and (status.total, status.completed, status.failed) == (2, 1, 1)
            images = job.collect()
            assert [image.prompt for image in images] == ["a paper lantern"]
            (failure,) = images.failures
            assert failure.prompt == "a glass lantern" and failure.error.status == 404
            assert "Could not download the task's picture (HTTP 404)" in failure.error.message
        finally:
            receiver.close()


def test_a_job_whose_in_process_server_stopped_with_its_kernel_is_lost_and_says_so(fresh: Path) -> None:
    gallery = Gallery(fresh)
    folder = gallery.job_dir("job_gone")
    folder.mkdir(parents=True)
    lines = [{"custom_id": f"r{i}-0", "method": "POST", "url": "/v1/images/generations",
              "body": {"prompt": f"a moth {i}", "model": "gpt-image-1.5"}} for i in range(2)]  # fmt: skip
    (folder / "part-0.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    part = {"part": 0, "endpoint": "/v1/images/generations", "model": "gpt-image-1.5", "lines": 2, "pictures": 2,
            "record": "part-0.jsonl", "batch_id": "batch_x", "status": "in_progress"}  # fmt: skip
    gallery.save_job(JobRecord("job_gone", time.time(), "batch", "offline", "http://127.0.0.1:1/v1", 2, 2, "a moth",
                               (part,), "in_progress", {"total": 2, "completed": 0, "failed": 0}))  # fmt: skip
    job = dn.jobs()[0]
    assert job.status().state == "lost"
    images = job.collect()
    assert len(images) == 0 and [f.prompt for f in images.failures] == ["a moth 0", "a moth 1"]
    assert all("stopped with it" in f.error.message for f in images.failures)
    assert all("Submit the prompts again" in f.error.message for f in images.failures)


def _serve(port: int) -> subprocess.Popen[str]:
    """``dalle-nb serve`` on ``port``, once it accepts connections (it prints its URL then); batches take a minute."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dalle_nb.cli", "serve", "--port", str(port), "--batch-seconds", "60"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert proc.stdout is not None and f"127.0.0.1:{port}/v1" in proc.stdout.readline()
    return proc


def test_a_job_whose_server_was_restarted_ends_lost_and_says_what_to_do(fresh: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = _serve(port)
    try:
        config.configure(api_key="offline", base_url=f"http://127.0.0.1:{port}/v1", offline=False, max_retries=0)
        assert dn.submit(["a tin robot", "a wooden robot"], **FAST).status().state in ("validating", "in_progress")
        config.configure(task_mode="gateway")
        assert dn.submit(["a tin soldier"], **FAST).engine == "tasks"
    finally:
        server.kill()  # the server dies with its batches and tasks ...
        server.wait(10)
    server = _serve(port)  # ... and a new one on the same address knows neither
    try:
        kernel = (
            "import json, dalle_nb as dn\n"
            "dn.configure(api_key='offline')\n"
            "out = []\n"
            "for job in dn.jobs():\n"
            "    status = job.status()\n"
            "    ended = job.wait(progress=False, timeout=30)\n"
            "    images = job.collect()\n"
            "    out.append({'engine': job.engine, 'status': str(status), 'ended': ended.state, 'repr': repr(job),\n"
            "                'images': len(images), 'failures': [(f.prompt, f.error.code, f.error.message)\n"
            "                                                    for f in images.failures]})\n"
            "print(json.dumps(out))\n"
        )
        done = subprocess.run([sys.executable, "-c", kernel], capture_output=True, text=True, timeout=120)
    finally:
        server.terminate()
        server.wait(10)
    assert done.returncode == 0, done.stderr[-2000:]
    tasks, batch = json.loads(done.stdout.splitlines()[-1])  # newest first
    for job, prompts, what in ((batch, ["a tin robot", "a wooden robot"], "batch"), (tasks, ["a tin soldier"], "task")):
        assert job["status"].split(": ")[1].startswith("lost,") and "\n" not in job["status"], job
        assert "no longer knows" in job["status"] and what in job["status"]
        assert "Submit the prompts again: they are in the job's record" in job["status"]
        assert job["ended"] == "lost" and ", lost (" in job["repr"] and job["images"] == 0
        assert [prompt for prompt, _, _ in job["failures"]] == prompts
        for _, code, message in job["failures"]:
            assert code == "job_lost" and f"127.0.0.1:{port}" in message and "Submit the prompts again" in message


def test_an_index_of_version_2_gains_the_job_tables_and_keeps_its_pictures(fresh: Path) -> None:
    saved = Gallery(fresh).save(b"\x89PNG fake", prompt="an old picture", model="dall-e-2", kind="generate",
                                output_format="png", size="256x256")  # fmt: skip
    with sqlite3.connect(fresh / "index.sqlite3") as conn:  # as dalle_nb before jobs left it
        conn.execute("DROP TABLE jobs")
        conn.execute("DROP TABLE job_results")
        conn.execute("PRAGMA user_version = 2")
    reopened = Gallery(fresh)
    assert reopened.jobs() == [] and reopened.get(saved.id).prompt == "an old picture"
    with sqlite3.connect(fresh / "index.sqlite3") as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (4,)  # and the columns of version 4 (costs)
        assert {"cost", "session"} <= {row[1] for row in conn.execute("PRAGMA table_info(images)")}


def test_the_key_is_in_no_file_a_job_writes(fresh: Path) -> None:
    key = "sk-batch-" + "k" * 40
    with OfflineServer(ServerOptions(api_key=key, batch_seconds=0.3)) as srv:
        config.configure(api_key=key, base_url=srv.base_url, offline=False, max_retries=0)
        job = dn.submit(["a silver fish"], **FAST)
        assert len(job.collect()) == 1
        with pytest.raises(openai.AuthenticationError):  # the server does check it
            make_client(srv).files.list()
    written = [path for path in fresh.rglob("*") if path.is_file()]
    assert any(path.suffix == ".jsonl" for path in written)
    assert not any(key.encode() in path.read_bytes() for path in written)
    assert key not in repr(job) and key not in str(job.status())


def test_the_batch_magic_and_the_jobs_table(ip: Any, quick: OfflineServer, fresh: Path) -> None:
    use(quick)
    job = ip.run_cell_magic("dalle_batch", "-s 1024x1024 -q low -o week", "a red kite\na {blue|green} kite\n\n")
    assert ip.user_ns["week"] is job and job.requests == 3
    collected = job.collect()
    assert sorted(image.prompt for image in collected) == ["a blue kite", "a green kite", "a red kite"]
    table = ip.run_line_magic("dalle", "jobs")
    assert table.rows[0][0] == job.id and table.rows[0][3] == "completed" and table.rows[0][4] == "3/3"
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="no prompts"):
        ip.run_cell_magic("dalle_batch", "", "   \n")
    with pytest.raises(UsageError, match="size"):
        ip.run_cell_magic("dalle_batch", "-s 1000x1000", "a fox")


# ---------------------------------------------------------------------------- which engine a job runs on


@pytest.mark.parametrize(
    ("base_url", "engine"),
    [
        ("https://api.acedata.cloud/v1", "tasks"),
        ("https://acedata.cloud/openai", "tasks"),
        ("https://API.AceData.Cloud:443/v1", "tasks"),  # a host name is case-blind, and a port changes nothing
        ("https://api.openai.com/v1", "batch"),
        ("https://my-resource.openai.azure.com/openai/v1", "batch"),
        ("https://notacedata.cloud/v1", "batch"),  # only the gateway's own host and its subdomains
        ("https://acedata.cloud.example.com/v1", "batch"),
        ("http://127.0.0.1:8000/v1", "batch"),
        (None, "batch"),  # OpenAI itself
    ],
)
def test_auto_task_mode_runs_jobs_on_tasks_only_on_the_gateways_host(base_url: str | None, engine: str) -> None:
    settings = config.configure(api_key="sk-test", base_url=base_url, offline=False)
    assert settings.task_mode == "auto" and _engine(settings) == engine


def test_an_explicit_task_mode_overrides_what_the_base_url_suggests(monkeypatch: pytest.MonkeyPatch) -> None:
    config.configure(api_key="sk-test", base_url="https://api.acedata.cloud/v1", offline=False)
    assert _engine(config.configure(task_mode="batch")) == "batch"
    assert _engine(config.configure(task_mode="auto")) == "tasks"
    config.configure(base_url="https://api.openai.com/v1")
    assert _engine(config.settings()) == "batch"
    assert _engine(config.configure(task_mode="gateway")) == "tasks"
    config.reset("task_mode")
    monkeypatch.setenv("DALLE_NB_TASK_MODE", "gateway")  # from the environment too
    assert _engine(config.settings()) == "tasks" and config.settings().sources["task_mode"] == "DALLE_NB_TASK_MODE"
    with pytest.raises(InvalidRequest, match="'auto', 'batch', 'gateway'"):
        config.configure(task_mode="tasks")


def test_a_job_on_the_gateways_host_runs_on_tasks_unless_told_to_use_the_batch_api(
    quick: OfflineServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end: the gateway's host name is resolved to the offline server, which speaks both engines."""
    resolve = socket.getaddrinfo

    def to_the_offline_server(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)  # anyio passes the name IDNA-encoded
        return resolve("127.0.0.1" if name.endswith("acedata.cloud") else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", to_the_offline_server)
    config.configure(api_key="offline", base_url=f"http://api.acedata.cloud:{quick.port}/v1", offline=False,
                     max_retries=0)  # fmt: skip
    on_tasks = dn.submit(["a white heron", "a grey heron"], **FAST)
    assert on_tasks.engine == "tasks" and on_tasks.batch_ids == () and "on gateway tasks" in repr(on_tasks)
    assert [image.prompt for image in on_tasks.collect()] == ["a white heron", "a grey heron"]
    config.configure(task_mode="batch")
    on_batches = dn.submit(["a blue heron"], **FAST)
    assert on_batches.engine == "batch" and len(on_batches.batch_ids) == 1 and "on the Batch API" in repr(on_batches)
    assert [image.prompt for image in on_batches.collect()] == ["a blue heron"]
    assert [job.engine for job in dn.jobs()] == ["batch", "tasks"]  # the engine is kept with the job


def test_waiting_in_a_notebook_shows_one_line_that_counts_up_and_goes_when_the_job_ends(fresh: Path) -> None:
    from ..notebook.test_display import html_of, run_in_a_kernel

    with OfflineServer(ServerOptions(seed=5, batch_seconds=3)) as srv:
        code = (
            "import dalle_nb as dn\n"
            f"dn.configure(api_key='offline', base_url={srv.base_url!r}, offline=False, max_retries=0)\n"
            "job = dn.submit(['a red kite', 'a blue kite', 'a green kite'], size='1024x1024', quality='low',\n"
            "                output_format='jpeg')\n"
            "job.wait(progress=True, poll=0.25)\n"
        )
        shown = run_in_a_kernel(code, {"DALLE_NB_GALLERY_DIR": str(fresh)})
    updates = [html_of(m) for m in shown if m["type"] == "update_display_data"]
    lines = [re.sub(r"<[^>]+>", "", html) for html in updates if "dalle-nb-progress" in html]
    pattern = re.compile(r"dalle_nb: (job_\w+): (\w+), (\d) of 3 done, 0 failed … (\d+) s")
    told = [match for line in lines if (match := pattern.fullmatch(line))]  # the first line says "asking"
    assert told and len({match.group(1) for match in told}) == 1, lines
    counts = [int(match.group(3)) for match in told]
    bar = re.compile(r"<progress class='dalle-nb-batch-bar' value='(\d)' max='3'")
    bars = [bar.search(h) for h in updates if "of 3 done" in h]
    assert [int(found.group(1)) for found in bars if found] == counts, "the bar shows the same count as the line"
    steps = [count for i, count in enumerate(counts) if i == 0 or count != counts[i - 1]]
    assert steps[0] == 0 and steps[-1] == 3 and steps == sorted(steps) and len(steps) >= 3, lines  # counts up
    seconds = [int(match.group(4)) for match in told]
    assert seconds == sorted(seconds) and seconds[-1] >= 1, lines  # the elapsed time moves on
    states = [match.group(2) for match in told]
    assert states[0] in ("validating", "in_progress") and states[-1] == "completed", states
    assert updates[-1] == "", "the line is gone once the job has ended"
    (result,) = [m for m in shown if m["type"] == "execute_result"]
    assert result["data"]["text/plain"].endswith(": completed, 3 of 3 done, 0 failed")  # a sentence, not fields
    printed = "".join(m.get("text", "") for m in shown if m["type"] == "stream")
    assert "of 3 done" not in printed, "in a notebook the counts are in the line, not printed line after line"


# ---------------------------------------------------------------------------- what a background job costs
def test_a_batch_is_priced_at_the_batch_rate_before_and_its_pictures_after(quick: OfflineServer, fresh: Path) -> None:
    use(quick)
    prompts = ["a red fox in the snow", "a grey wolf at dusk"]
    direct = dn.generate(prompts, model="gpt-image-1.5", **FAST)
    asked = dn.estimate(dn.submit, prompts, model="gpt-image-1.5", **FAST)
    assert asked.batch and asked.requests == 2 and asked.pictures == 2 and "Batch API" in asked.summary()
    listed = dn.estimate(dn.generate, prompts, model="gpt-image-1.5", **FAST)
    assert asked.high == pytest.approx(listed.high * BATCH_SHARE)  # type: ignore[operator]
    assert not (fresh / "jobs").exists() or not any((fresh / "jobs").iterdir()), "an estimate writes nothing"
    job = dn.submit(prompts, model="gpt-image-1.5", **FAST)
    assert job.wait(progress=False).state == "completed"
    collected = job.collect()
    for made, batched in zip(direct, collected, strict=True):
        assert made.cost is not None and batched.cost is not None and made.cost.usd is not None
        assert batched.cost.usd == pytest.approx(made.cost.usd * BATCH_SHARE)
    assert collected.cost.usd == pytest.approx(direct.cost.usd * BATCH_SHARE)  # type: ignore[operator]


def test_a_batch_over_max_cost_is_refused_before_anything_is_uploaded(quick: OfflineServer, fresh: Path) -> None:
    use(quick)
    config.configure(max_cost=0.02)
    before = uploads(quick)
    prompts = [f"a heron number {i}" for i in range(20)]
    would = dn.estimate(dn.submit, prompts, model="gpt-image-1.5", size="1024x1024", quality="high")
    with pytest.raises(InvalidRequest, match=r"would cost up to .* has \$0\.02 left") as refused:
        dn.submit(prompts, model="gpt-image-1.5", size="1024x1024", quality="high")
    assert f"would cost up to {usd(would.high)} (20 pictures of gpt-image-1.5" in str(refused.value)
    assert uploads(quick) == before and dn.jobs() == []
