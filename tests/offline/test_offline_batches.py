"""The offline server's Files and Batch APIs, JSON edits and the gateway's task mode, as the official SDK sees them."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import openai
import pytest
from openai.types import Batch
from PIL import Image

from dalle_nb.cli import build_parser
from dalle_nb.offline import OfflineServer, ServerOptions
from dalle_nb.offline import batches as batches_module
from dalle_nb.offline import tasks as tasks_module
from dalle_nb.offline.batches import MAX_REQUESTS, tail_usage
from dalle_nb.offline.http import DRAWING_THREADS as _DRAWING_THREADS

from ..conftest import decode, hole_mask, make_client, png_bytes
from ..conftest import scene as conftest_scene

MODEL = "gpt-image-1.5"
GENERATIONS = "/v1/images/generations"


def line(custom_id: str, prompt: str, **body: Any) -> dict[str, Any]:
    body = {"model": MODEL, "prompt": prompt, "size": "1024x1024", "quality": "low", "output_format": "jpeg", **body}
    return {"custom_id": custom_id, "method": "POST", "url": GENERATIONS, "body": body}


def upload(client: openai.OpenAI, lines: list[Any], purpose: str = "batch") -> str:
    text = "\n".join(item if isinstance(item, str) else json.dumps(item) for item in lines) + "\n"
    return client.files.create(file=("input.jsonl", io.BytesIO(text.encode())), purpose=purpose).id  # type: ignore[arg-type]


def run(client: openai.OpenAI, lines: list[Any], endpoint: str = GENERATIONS) -> tuple[Batch, list[str]]:
    """Create a batch and poll it to its end; returns it and every status it was seen in, in order."""
    batch = client.batches.create(input_file_id=upload(client, lines), endpoint=endpoint, completion_window="24h")  # type: ignore[arg-type]
    seen = [batch.status]
    while batch.status not in ("completed", "failed", "expired", "cancelled"):
        time.sleep(0.05)
        batch = client.batches.retrieve(batch.id)
        if batch.status != seen[-1]:
            seen.append(batch.status)
    return batch, seen


def run_out(client: openai.OpenAI, batch_id: str) -> str:
    """Poll a started batch to its end; its last status."""
    while (status := client.batches.retrieve(batch_id).status) not in ("completed", "failed", "expired", "cancelled"):
        time.sleep(0.05)
    return status


def start(client: openai.OpenAI, lines: list[Any]) -> Batch:
    return client.batches.create(input_file_id=upload(client, lines), endpoint=GENERATIONS, completion_window="24h")


def rows(client: openai.OpenAI, file_id: str | None) -> dict[str, dict[str, Any]]:
    if file_id is None:
        return {}
    return {row["custom_id"]: row for row in map(json.loads, client.files.content(file_id).text.splitlines())}


@pytest.fixture(scope="module")
def quick() -> Iterator[OfflineServer]:
    """A server whose batches take about a second."""
    with OfflineServer(ServerOptions(seed=3, batch_seconds=0.5)) as srv:
        yield srv


@pytest.fixture
def qclient(quick: OfflineServer) -> Iterator[openai.OpenAI]:
    with make_client(quick) as c:
        yield c


# ------------------------------------------------------------------------------------------------- files


def test_a_file_is_uploaded_described_listed_downloaded_and_deleted(qclient: openai.OpenAI) -> None:
    data = b'{"custom_id": "a"}\n' * 1000
    uploaded = qclient.files.create(file=("in.jsonl", io.BytesIO(data)), purpose="batch")
    assert uploaded.bytes == len(data) and uploaded.filename == "in.jsonl" and uploaded.purpose == "batch"
    assert uploaded.expires_at == uploaded.created_at + 30 * 24 * 3600  # batch files live 30 days
    assert qclient.files.retrieve(uploaded.id) == uploaded
    assert uploaded.id in [f.id for f in qclient.files.list(purpose="batch")]
    assert qclient.files.content(uploaded.id).content == data
    assert qclient.files.delete(uploaded.id).deleted
    with pytest.raises(openai.NotFoundError, match=uploaded.id):
        qclient.files.retrieve(uploaded.id)
    with pytest.raises(openai.BadRequestError, match="purpose"):
        qclient.files.create(file=("x.png", b"x"), purpose="nonsense")  # type: ignore[arg-type]


def test_a_files_list_with_a_bad_limit_is_a_400_naming_it(qclient: openai.OpenAI) -> None:
    # it was a 500: the listing's refusal was raised outside the route's own error handling
    with pytest.raises(openai.BadRequestError) as refused:
        qclient.files.list(limit=0)
    assert refused.value.code == "invalid_value" and refused.value.param == "limit"


def test_files_are_kept_within_the_servers_cap() -> None:
    with OfflineServer(ServerOptions(files_limit=3000)) as srv, make_client(srv) as client:
        client.files.create(file=("a.jsonl", b"x" * 2000), purpose="batch")
        with pytest.raises(openai.BadRequestError) as refused:
            client.files.create(file=("b.jsonl", b"x" * 2000), purpose="batch")
        assert refused.value.code == "storage_limit_exceeded" and "DELETE /v1/files" in refused.value.message


# ------------------------------------------------------------------------------------------------- batches


def test_a_batch_moves_through_its_statuses_and_answers_every_custom_id(qclient: openai.OpenAI) -> None:
    lines = [line(f"fox-{i}", f"a red fox number {i}") for i in range(6)]
    lines.append(line("blocked", "a #blocked fox"))
    lines.append(line("too-big", "a fox", size="999x999"))
    batch, seen = run(qclient, lines)
    order = ["validating", "in_progress", "finalizing", "completed"]
    assert seen == [s for s in order if s in seen] and seen[-1] == "completed", seen
    assert batch.request_counts is not None
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (8, 6, 2)
    assert batch.in_progress_at and batch.finalizing_at and batch.completed_at and batch.model == MODEL
    assert batch.usage is not None and batch.usage.output_tokens > 0
    output, errors = rows(qclient, batch.output_file_id), rows(qclient, batch.error_file_id)
    assert sorted(output) == sorted(f"fox-{i}" for i in range(6)) and sorted(errors) == ["blocked", "too-big"]
    answer = output["fox-0"]["response"]
    assert answer["status_code"] == 200 and answer["request_id"].startswith("req_") and output["fox-0"]["error"] is None
    picture = decode(answer["body"]["data"][0]["b64_json"])
    assert picture.format == "JPEG" and picture.size == (1024, 1024)
    assert errors["blocked"]["response"]["body"]["error"]["code"] == "moderation_blocked"
    assert errors["too-big"]["response"]["status_code"] == 400
    assert errors["too-big"]["response"]["body"]["error"]["param"] == "size"
    assert qclient.files.retrieve(batch.output_file_id or "").purpose == "batch_output"
    counted = {name: sum(row["response"]["body"]["usage"][name] for row in output.values())
               for name in ("input_tokens", "output_tokens", "total_tokens")}  # fmt: skip
    assert batch.usage.model_dump(include=set(counted)) == counted


def test_a_lines_usage_is_read_from_the_tail_of_its_answer_as_a_whole_parse_reads_it(quick: OfflineServer) -> None:
    def answer(body: dict[str, Any]) -> bytes:
        request = urllib.request.Request(quick.base_url + "/images/generations", data=json.dumps(body).encode(),
                                         headers={"content-type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(request) as reply:
            data: bytes = reply.read()
        return data

    quoting = 'a sign that reads "usage": {"input_tokens": 99}'
    bodies = [
        answer({"model": MODEL, "prompt": quoting, "n": 2, "quality": "low"}),
        answer({"model": "dall-e-3", "prompt": quoting}),  # no usage, and a revised prompt quoting one
        b'{"data": [], "usage" : {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}}',
        b'{"data": [], "usage": 7}',
        b'{"error": {"message": "no"}}',
    ]
    assert b'\\"usage\\"' in bodies[1]
    for body in bodies:
        assert tail_usage(body) == json.loads(body).get("usage")


def test_a_file_that_does_not_pass_fails_the_batch_with_its_line_numbers(qclient: openai.OpenAI) -> None:
    lines: list[Any] = [
        line("ok", "a cat"),
        "{not json",
        line("ok", "a dog"),
        {**line("wrong-url", "x"), "url": "/v1/chat/completions"},
        {**line("get", "x"), "method": "GET"},
        {"custom_id": "no-model", "method": "POST", "url": GENERATIONS, "body": {"prompt": "x"}},
        line("other-model", "x", model="gpt-image-2"),
    ]
    batch, seen = run(qclient, lines)
    assert seen[-1] == "failed" and batch.failed_at and batch.errors is not None
    found = {(e.line, e.code) for e in batch.errors.data or []}
    assert found == {
        (2, "invalid_json_line"), (3, "duplicate_custom_id"), (4, "invalid_url"), (5, "invalid_method"),
        (6, "missing_required_parameter"), (7, "mismatched_model"),
    }  # fmt: skip
    assert batch.output_file_id is None and batch.error_file_id is None


@pytest.mark.parametrize("trouble", ["duplicate_custom_id", "too_many_requests"])
def test_a_file_known_bad_fails_its_batch_at_once_however_long_batches_take(trouble: str) -> None:
    """Its errors are known once it is read: the batch fails then, not after a tenth of ``batch_seconds``
    spent ``validating`` (a minute here)."""
    if trouble == "duplicate_custom_id":
        lines: list[Any] = [line("same", "a cat"), line("same", "a dog")]
    else:
        one = json.dumps(line("x", "a cat"))
        lines = [one.replace('"x"', f'"{i}"') for i in range(MAX_REQUESTS + 1)]
    with OfflineServer(ServerOptions(seed=3, batch_seconds=600)) as slow, make_client(slow) as client:
        batch = start(client, lines)
        deadline = time.monotonic() + 10
        while batch.status == "validating" and time.monotonic() < deadline:
            time.sleep(0.05)
            batch = client.batches.retrieve(batch.id)
        assert batch.status == "failed" and batch.errors is not None
        assert [e.code for e in batch.errors.data or []] == [trouble]


def test_finished_batches_beyond_the_bound_are_forgotten_oldest_first(
    qclient: openai.OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = run(qclient, [line("a", "a frog")])
    # a bound of one batch, as 1024 (or 64 MB of them) is for a long-running server: the older are forgotten
    monkeypatch.setattr(batches_module, "BATCH_CAPACITY", 1, raising=False)
    second, _ = run(qclient, [line("b", "a fox")])
    assert qclient.batches.retrieve(second.id).status == "completed"
    with pytest.raises(openai.NotFoundError, match=first.id):
        qclient.batches.retrieve(first.id)
    # a running batch is never forgotten: a new one, still validating, makes the finished one go instead
    third = start(qclient, [line("c", "a hen")])
    assert [b.id for b in qclient.batches.list()] == [third.id]
    assert run_out(qclient, third.id) == "completed"


def test_a_batch_is_refused_at_once_for_what_openai_refuses(qclient: openai.OpenAI) -> None:
    file_id = upload(qclient, [line("a", "a cat")])
    batches = qclient.batches
    with pytest.raises(openai.BadRequestError, match="24h"):
        batches.create(input_file_id=file_id, endpoint=GENERATIONS, completion_window="1h")  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError, match="/v1/chat/completions' is not served here"):
        batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h")
    with pytest.raises(openai.BadRequestError, match="does not exist"):
        batches.create(input_file_id="file-nope", endpoint=GENERATIONS, completion_window="24h")
    vision = upload(qclient, [line("a", "a cat")], purpose="vision")
    with pytest.raises(openai.BadRequestError, match="purpose 'batch'"):
        batches.create(input_file_id=vision, endpoint=GENERATIONS, completion_window="24h")
    with pytest.raises(openai.BadRequestError, match="metadata"):
        batches.create(input_file_id=file_id, endpoint=GENERATIONS, completion_window="24h",
                       metadata={f"k{i}": "v" for i in range(17)})  # fmt: skip
    with pytest.raises(openai.NotFoundError):
        batches.retrieve("batch_nope")


def test_batches_list_in_pages_newest_first(qclient: openai.OpenAI) -> None:
    file_id = upload(qclient, [line("a", "a cat")])
    made = [
        qclient.batches.create(input_file_id=file_id, endpoint=GENERATIONS, completion_window="24h").id
        for _ in range(3)
    ]
    first = qclient.batches.list(limit=2)
    assert [b.id for b in first.data] == made[::-1][:2] and first.has_more
    everything = [b.id for b in qclient.batches.list(limit=2)]  # the SDK follows `after` page by page
    assert everything[:3] == made[::-1] and len(everything) == len(set(everything))


def test_cancel_keeps_what_ran_and_answers_the_rest_as_cancelled() -> None:
    with OfflineServer(ServerOptions(batch_seconds=20)) as srv, make_client(srv) as client:
        lines = [line(f"c{i}", f"a cat number {i}") for i in range(20)]
        batch = start(client, lines)
        while (batch := client.batches.retrieve(batch.id)).request_counts is None or not batch.request_counts.completed:
            time.sleep(0.05)
        cancelling = client.batches.cancel(batch.id)
        assert cancelling.status == "cancelling" and cancelling.cancelling_at
        while (batch := client.batches.retrieve(batch.id)).status == "cancelling":
            time.sleep(0.05)
        assert batch.status == "cancelled" and batch.cancelled_at and batch.request_counts is not None
        done, failed = batch.request_counts.completed, batch.request_counts.failed
        assert 0 < done < 20 and done + failed == 20
        output, errors = rows(client, batch.output_file_id), rows(client, batch.error_file_id)
        assert len(output) == done and set(output) | set(errors) == {f"c{i}" for i in range(20)}
        assert {row["error"]["code"] for row in errors.values()} == {"batch_cancelled"}
        with pytest.raises(openai.ConflictError):
            client.batches.cancel(batch.id)


def test_a_batch_past_its_window_expires_and_answers_the_rest_as_expired() -> None:
    with OfflineServer(ServerOptions(batch_seconds=30, batch_window=1)) as srv, make_client(srv) as client:
        batch, seen = run(client, [line(f"e{i}", f"an eel number {i}") for i in range(10)])
        assert seen[-1] == "expired" and batch.expired_at
        errors = rows(client, batch.error_file_id)
        assert errors and {row["error"]["code"] for row in errors.values()} == {"batch_expired"}
        assert batch.request_counts is not None and batch.request_counts.failed == len(errors)


def test_the_batch_draws_through_the_servers_semaphore_and_leaves_it_answering() -> None:
    with OfflineServer(ServerOptions(batch_seconds=3)) as srv, make_client(srv) as client:
        lines = [line(f"b{i}", f"a blue bird number {i}") for i in range(24)]
        batch = start(client, lines)
        while client.batches.retrieve(batch.id).status == "validating":
            time.sleep(0.02)
        interactive = client.images.generate(model=MODEL, prompt="a red kite", size="1024x1024", quality="low")
        assert interactive.data and client.batches.retrieve(batch.id).status == "in_progress"  # answered meanwhile
        while client.batches.retrieve(batch.id).status != "completed":
            time.sleep(0.05)
        with urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/health", timeout=10) as reply:
            health = json.loads(reply.read())
        assert 1 <= health["peak_drawing"] <= _DRAWING_THREADS


# ------------------------------------------------------------------------------------------------- JSON edits


def data_url(image: Image.Image) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode()


def test_an_edit_sent_as_json_takes_data_urls_and_file_ids(qclient: openai.OpenAI) -> None:
    scene, hole = conftest_scene().convert("RGBA"), hole_mask()
    mask_id = qclient.files.create(file=("mask.png", png_bytes(hole)), purpose="vision").id
    body = {"model": MODEL, "prompt": "a red sun", "images": [{"image_url": data_url(scene)}]}
    body["mask"] = {"file_id": mask_id}
    answer = qclient.post("/images/edits", body=body, cast_to=openai.types.ImagesResponse)
    assert answer.data
    out = np.asarray(decode(answer.data[0].b64_json or "").convert("RGBA"))
    keep = np.asarray(hole)[..., 3] != 0
    assert np.array_equal(out[keep], np.asarray(scene)[keep])  # exactly as the multipart edit keeps them
    with pytest.raises(openai.BadRequestError, match="GPT image 'model'"):
        qclient.post("/images/edits", body={**body, "model": "dall-e-2"}, cast_to=object)
    with pytest.raises(openai.BadRequestError) as unknown:
        qclient.post("/images/edits", body={**body, "mask": {"file_id": "file-nope"}}, cast_to=object)
    assert unknown.value.param == "mask.file_id"
    with pytest.raises(openai.BadRequestError) as both:
        qclient.post("/images/edits", body={**body, "images": [{"image_url": "x", "file_id": "y"}]}, cast_to=object)
    assert both.value.param == "images[0]"


def test_a_batch_of_edits_runs_on_json_edit_lines(qclient: openai.OpenAI) -> None:
    picture = png_bytes(conftest_scene().convert("RGBA"))
    scene_id = qclient.files.create(file=("scene.png", picture), purpose="vision").id
    edits = [
        {"custom_id": f"e{i}", "method": "POST", "url": "/v1/images/edits",
         "body": {"model": MODEL, "prompt": f"a boat number {i}", "images": [{"file_id": scene_id}], "quality": "low"}}
        for i in range(3)
    ]  # fmt: skip
    batch, seen = run(qclient, edits, endpoint="/v1/images/edits")
    assert seen[-1] == "completed" and sorted(rows(qclient, batch.output_file_id)) == ["e0", "e1", "e2"]


# ------------------------------------------------------------------------------------------------- gateway tasks


class _Receiver:
    """A loopback webhook: what the server POSTs to it."""

    def __init__(self, redirect: tuple[int, str] | None = None) -> None:
        self.got: list[dict[str, Any]] = []
        self.hits: list[str] = []  # every request, whatever its method (urllib follows a POST's 302 as a GET)
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.hits.append("POST")
                receiver.got.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
                receiver.arrived.set()
                if redirect is None:
                    self.send_response(204)
                else:
                    self.send_response(redirect[0])
                    self.send_header("location", redirect[1])
                    self.send_header("content-length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                receiver.hits.append("GET")
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/done"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_task_mode_answers_at_once_calls_back_on_loopback_and_keeps_the_task(
    quick: OfflineServer, qclient: openai.OpenAI
) -> None:
    receiver = _Receiver()
    gateway = openai.OpenAI(base_url=f"http://127.0.0.1:{quick.port}/openai", api_key="offline", max_retries=0)
    try:
        answer = qclient.post(
            "/images/generations", cast_to=object,
            body={"model": MODEL, "prompt": "a green frog", "size": "1024x1024", "callback_url": receiver.url,
                  "trace_id": "my-trace-1"},
        )  # fmt: skip
        assert isinstance(answer, dict) and list(answer) == ["task_id"]
        assert receiver.arrived.wait(60)
        (delivered,) = receiver.got
        assert delivered["success"] is True and delivered["task_id"] == answer["task_id"]
        assert delivered["trace_id"] == "my-trace-1"
        assert decode(delivered["data"]["data"][0]["b64_json"]).size == (1024, 1024)
        by_id = qclient.post("/tasks", cast_to=object, body={"action": "retrieve", "id": answer["task_id"]})
        gateway_path = gateway.post("/tasks", cast_to=object, body={"action": "retrieve", "trace_id": "my-trace-1"})
        assert isinstance(by_id, dict) and isinstance(gateway_path, dict) and by_id["id"] == gateway_path["id"]
        assert by_id["response"]["success"] is True and by_id["finished_at"] and by_id["type"] == "images_generations"
        assert qclient.post("/tasks", cast_to=object, body={"action": "retrieve", "id": "nope"}) == {}
    finally:
        receiver.close()
        gateway.close()


@pytest.mark.parametrize("status", [302, 307])
def test_a_callback_that_redirects_is_not_followed_and_the_task_says_so(
    quick: OfflineServer, qclient: openai.OpenAI, status: int
) -> None:
    """A loopback receiver may redirect anywhere (``0.0.0.0``, another host) the server refuses as a callback_url:
    the server follows no redirect, and the task's record tells why the result did not arrive."""
    beyond = _Receiver()
    hop = _Receiver(redirect=(status, beyond.url.replace("127.0.0.1", "0.0.0.0")))
    try:
        body = {"model": MODEL, "prompt": "a frog", "size": "1024x1024", "callback_url": hop.url}
        answer = qclient.post("/images/generations", cast_to=object, body=body)
        assert isinstance(answer, dict) and hop.arrived.wait(60)
        time.sleep(0.5)  # a redirect followed would have reached it by now
        assert beyond.hits == [] and hop.hits == ["POST"]
        deadline = time.monotonic() + 30
        while (task := qclient.post("/tasks", cast_to=object, body={"action": "retrieve", "id": answer["task_id"]}))[
            "callback"
        ] is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert task["callback"]["status"] == status and "redirect not followed" in task["callback"]["outcome"]
        assert task["response"]["success"] is True  # the result itself is kept, for retrieve
    finally:
        hop.close()
        beyond.close()


def test_task_mode_calls_back_only_on_this_machine_and_refuses_bad_requests_at_once(qclient: openai.OpenAI) -> None:
    body = {"model": MODEL, "prompt": "a frog", "callback_url": "https://example.com/hook"}
    with pytest.raises(openai.BadRequestError) as elsewhere:
        qclient.post("/images/generations", cast_to=object, body=body)
    assert elsewhere.value.code == "invalid_callback_url" and "loopback" in elsewhere.value.message
    with pytest.raises(openai.BadRequestError, match="size"):
        qclient.post("/images/generations", cast_to=object,
                     body={**body, "callback_url": "http://127.0.0.1:9/x", "size": "13x13"})  # fmt: skip


def test_the_openai_profile_has_no_task_mode(oa_client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="callback_url"):
        oa_client.post("/images/generations", cast_to=object,
                       body={"model": MODEL, "prompt": "a frog", "callback_url": "http://127.0.0.1:9/x"})  # fmt: skip
    with pytest.raises(openai.NotFoundError):
        oa_client.post("/tasks", cast_to=object, body={"action": "retrieve", "id": "x"})


# ------------------------------------------------------------------------------------------------- settings


def test_batch_seconds_and_window_come_from_flags_and_the_environment() -> None:
    args = build_parser().parse_args(["serve", "--batch-seconds", "2.5", "--batch-window", "60"])
    assert (args.batch_seconds, args.batch_window) == (2.5, 60)
    env = {"DALLE_NB_OFFLINE_BATCH_SECONDS": "4", "DALLE_NB_OFFLINE_FILES_LIMIT_MB": "1"}
    options = ServerOptions.from_env(env)
    assert options.batch_seconds == 4 and options.files_limit == 1024 * 1024 and options.batch_window == 86400
    with pytest.raises(ValueError, match="batch_seconds"):
        ServerOptions(batch_seconds=-1)


def test_a_thousand_line_batch_through_the_sdk_alone_answers_every_line_with_its_picture(
    qclient: openai.OpenAI,
) -> None:
    """The SDK only, as a script without dalle_nb would run it: upload, create, poll, read the output file.

    dall-e-2 at 256x256 and 512x512 is what this server draws fastest; each line's size says which answer is its own.
    """
    sizes = {f"fox-{i:04d}": ("256x256", "512x512")[i % 2] for i in range(1000)}
    lines = [
        {"custom_id": custom_id, "method": "POST", "url": GENERATIONS,
         "body": {"model": "dall-e-2", "prompt": f"a red fox number {i}", "size": size, "response_format": "b64_json"}}
        for i, (custom_id, size) in enumerate(sizes.items())
    ]  # fmt: skip
    file_id = upload(qclient, lines)
    assert qclient.files.retrieve(file_id).bytes > 100_000
    batch = qclient.batches.create(input_file_id=file_id, endpoint=GENERATIONS, completion_window="24h")  # type: ignore[arg-type]
    deadline = time.monotonic() + 120
    while batch.status not in ("completed", "failed", "expired", "cancelled"):
        assert time.monotonic() < deadline, batch
        time.sleep(0.2)
        batch = qclient.batches.retrieve(batch.id)
    assert batch.status == "completed" and batch.request_counts is not None
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (1000, 1000, 0)
    assert batch.output_file_id and batch.error_file_id is None
    output = [json.loads(text) for text in qclient.files.content(batch.output_file_id).text.splitlines()]
    assert len(output) == 1000 and sorted(row["custom_id"] for row in output) == sorted(sizes)  # each line once
    for row in output:
        assert row["error"] is None and row["response"]["status_code"] == 200, row["custom_id"]
        (picture,) = row["response"]["body"]["data"]
        image = decode(picture["b64_json"])
        assert image.format == "PNG" and "x".join(map(str, image.size)) == sizes[row["custom_id"]], row["custom_id"]


def test_finished_tasks_are_kept_within_a_byte_bound_oldest_forgotten_first(
    quick: OfflineServer, qclient: openai.OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = _Receiver()
    try:

        def finished(prompt: str) -> str:
            receiver.arrived.clear()
            body = {
                "model": MODEL,
                "prompt": prompt,
                "size": "1024x1024",
                "quality": "low",
                "callback_url": receiver.url,
            }
            answer = qclient.post("/images/generations", cast_to=object, body=body)
            assert isinstance(answer, dict) and receiver.arrived.wait(60)
            return str(answer["task_id"])

        def kept(task_id: str) -> dict[str, Any]:
            found = qclient.post("/tasks", cast_to=object, body={"action": "retrieve", "id": task_id})
            assert isinstance(found, dict)
            return found

        first = finished("a green frog")
        one_task = len(json.dumps(kept(first)))  # a finished task holds its picture, a few hundred KB of base64
        # a bound that holds one finished task and not two (1024 of them, of a few MB each, once all stayed)
        monkeypatch.setattr(tasks_module, "TASK_BYTES", one_task * 3 // 2, raising=False)
        second = finished("a red fox")
        assert kept(second)["response"]["success"] is True
        assert kept(first) == {}  # forgotten, as an unknown task is
    finally:
        receiver.close()
