"""What a request can make the offline server hold, measured as the operating system sees it.

The server runs as ``dalle-nb serve`` in its own process, and its peak resident memory (``VmHWM`` in
``/proc/PID/status``) is read before and after: a picture that is tiny as a file but huge once decoded is refused
from its header, and stored responses are bounded in bytes, not only in number.
"""

from __future__ import annotations

import base64
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from PIL import Image

from dalle_nb.core.capabilities import INPUT_MAX_PIXELS
from dalle_nb.offline.responses import STORE_BYTES

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc/PID/status (Linux)")

MB = 1024 * 1024


@pytest.fixture
def served() -> Iterator[tuple[int, openai.OpenAI]]:
    """A ``dalle-nb serve`` process (its pid) and an SDK client of it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dalle_nb.cli", "serve", "--latency", "0", "--seed", "3"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        match = re.search(r"(http://127\.0\.0\.1:\d+/v1)", proc.stdout.readline())
        assert match, "dalle-nb serve printed no base URL"
        with openai.OpenAI(base_url=match.group(1), api_key="offline", max_retries=0, timeout=60) as client:
            # a first request loads what every request needs (Pillow, the SDK's model list), so the baseline is warm
            with pytest.raises(openai.BadRequestError):
                client.responses.create(model="gpt-5.5", input=[_picture_message(b"not a picture")])
            yield proc.pid, client
    finally:
        proc.terminate()
        proc.wait(10)


def _peak(pid: int) -> int:
    """The process's peak resident memory so far, in bytes."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    assert match, status
    return int(match.group(1)) * 1024


def _picture_message(data: bytes) -> dict[str, object]:
    url = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return {
        "role": "user",
        "content": [{"type": "input_text", "text": "make it blue"}, {"type": "input_image", "image_url": url}],
    }


def test_a_picture_with_too_many_pixels_is_refused_before_it_is_decoded(
    served: tuple[int, openai.OpenAI],
) -> None:
    pid, client = served
    buffer = io.BytesIO()
    Image.new("L", (8192, 8192)).save(buffer, "PNG")  # a few hundred KB; 64 MB and more once decoded
    before = _peak(pid)
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(
            model="gpt-5.5", input=[_picture_message(buffer.getvalue())], tools=[{"type": "image_generation"}]
        )
    grew = _peak(pid) - before
    error = refused.value.body
    assert isinstance(error, dict)
    assert error["code"] == "image_too_large" and error["param"] == "input[0].content[1]"
    assert "8192x8192" in error["message"] and f"{INPUT_MAX_PIXELS:,}" in error["message"]
    assert grew < 150 * MB, f"the server's peak memory grew by {grew / MB:.0f} MB for one refused picture"


def test_stored_responses_are_bounded_in_bytes_oldest_dropped_first(served: tuple[int, openai.OpenAI]) -> None:
    pid, client = served
    before = _peak(pid)
    instructions = "draw carefully. " * (10 * MB // 16)  # 10 MB of text, kept in each stored response
    ids = [client.responses.create(model="gpt-5.5", input="a fox", instructions=instructions).id for _ in range(20)]
    grew = _peak(pid) - before
    # 200 MB sent and all of it once kept; now what is kept is STORE_BYTES, the rest is reading and answering
    assert grew < STORE_BYTES + 128 * MB, f"the server's peak memory grew by {grew / MB:.0f} MB for 200 MB sent"
    assert client.responses.retrieve(ids[-1]).instructions == instructions  # the newest is kept
    with pytest.raises(openai.NotFoundError, match=ids[0]):
        client.responses.retrieve(ids[0])
    with pytest.raises(openai.BadRequestError, match=f"Previous response with id '{ids[0]}' not found") as gone:
        client.responses.create(model="gpt-5.5", input="and a moon", previous_response_id=ids[0])
    assert isinstance(gone.value.body, dict) and gone.value.body["param"] == "previous_response_id"


def test_the_images_edits_route_measures_pictures_first_too(served: tuple[int, openai.OpenAI]) -> None:
    pid, client = served
    huge, large = io.BytesIO(), io.BytesIO()
    Image.new("L", (8192, 8192)).save(huge, "PNG")
    Image.new("L", (4096, 4096)).save(large, "PNG")  # at the limit for one picture; five are past the request's
    before = _peak(pid)
    with pytest.raises(openai.BadRequestError, match="8192x8192") as one:
        client.images.edit(model="gpt-image-2", image=("a.png", huge.getvalue()), prompt="make it blue")
    assert isinstance(one.value.body, dict) and one.value.body["code"] == "image_too_large"
    five = [(f"{n}.png", large.getvalue()) for n in range(5)]
    with pytest.raises(openai.BadRequestError, match=r"at most 67,108,864 \(four 4096x4096 images\)"):
        client.images.edit(model="gpt-image-2", image=five, prompt="make it blue")
    grew = _peak(pid) - before
    assert grew < 150 * MB, f"the server's peak memory grew by {grew / MB:.0f} MB for refused pictures"
