"""Injected faults and latency, as the openai SDK sees them; the CLI and the environment."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import openai
import pytest

from dalle_nb.core.capabilities import DEFAULT_MODEL
from dalle_nb.offline import OfflineServer, ServerOptions, parse_faults

from ..conftest import faulty, make_client


def test_429_carries_retry_after_and_the_sdk_retries() -> None:
    with faulty("429") as srv, make_client(srv) as c:
        with pytest.raises(openai.RateLimitError) as err:
            c.images.generate(model=DEFAULT_MODEL, prompt="x")
        assert err.value.response.headers["retry-after"] == "1"
        assert err.value.code == "rate_limit_exceeded"
    # half the requests fail: with its default retries the SDK gets through
    with (
        OfflineServer(ServerOptions(faults=parse_faults("429:0.5"), seed=3)) as srv,
        make_client(srv, max_retries=6) as c,
    ):
        for _ in range(3):
            assert c.images.generate(model=DEFAULT_MODEL, prompt="x", size="1024x1024").data


@pytest.mark.parametrize(("kind", "status"), [("500", 500), ("503", 503)])
def test_server_errors(kind: str, status: int) -> None:
    with faulty(kind) as srv, make_client(srv) as c, pytest.raises(openai.InternalServerError) as err:
        c.images.generate(model=DEFAULT_MODEL, prompt="x")
    assert err.value.status_code == status and err.value.request_id


def test_timeout_holds_the_request_past_the_client_timeout() -> None:
    with faulty("timeout") as srv, make_client(srv, timeout=0.5) as c, pytest.raises(openai.APITimeoutError):
        c.images.generate(model=DEFAULT_MODEL, prompt="x")


def test_reset_closes_the_connection() -> None:
    with faulty("reset") as srv, make_client(srv) as c, pytest.raises(openai.APIConnectionError):
        c.images.generate(model=DEFAULT_MODEL, prompt="x")


def test_drop_cuts_a_response_half_way() -> None:
    with faulty("drop") as srv, make_client(srv) as c:
        with pytest.raises(openai.APIConnectionError):
            c.images.generate(model=DEFAULT_MODEL, prompt="x", size="1024x1024")
        stream = c.images.generate(model=DEFAULT_MODEL, prompt="x", size="1024x1024", stream=True, partial_images=3)
        seen = []
        with pytest.raises(openai.APIConnectionError):
            for event in stream:
                seen.append(event.type)
        assert seen and "image_generation.completed" not in seen


def test_garbage_body_is_not_parsed_as_images() -> None:
    # a 200 whose JSON is cut off: the SDK raises the decoder's own error, which dalle_nb maps
    with faulty("garbage") as srv, make_client(srv) as c, pytest.raises(json.JSONDecodeError):
        c.images.generate(model=DEFAULT_MODEL, prompt="x")


def test_latency_is_added_to_image_requests() -> None:
    with OfflineServer(ServerOptions(latency=0.3)) as srv, make_client(srv) as c:
        c.models.list()  # not an image request: no latency
        start = time.perf_counter()
        c.images.generate(model=DEFAULT_MODEL, prompt="x", size="1024x1024")
        assert time.perf_counter() - start >= 0.3


def test_faults_and_options_from_the_environment() -> None:
    env = {
        "DALLE_NB_OFFLINE_FAULTS": "429:0.5,500:0.1",
        "DALLE_NB_OFFLINE_LATENCY": "0.25",
        "DALLE_NB_OFFLINE_SEED": "9",
        "DALLE_NB_OFFLINE_PROFILE": "openai",
    }
    options = ServerOptions.from_env(env)
    assert [(f.kind, f.rate) for f in options.faults] == [("429", 0.5), ("500", 0.1)]
    assert options.latency == 0.25 and options.seed == 9 and options.profile == "openai"
    assert ServerOptions.from_env(env, seed=1).seed == 1  # a keyword beats the environment
    with pytest.raises(ValueError, match="unknown fault kind 'boom'"):
        parse_faults("boom:0.5")
    with pytest.raises(ValueError, match="between 0 and 1"):
        parse_faults("500:2")


@pytest.fixture
def cli_server() -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dalle_nb.cli", "serve", "--profile", "openai", "--fault", "500:0", "--seed", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/v1)", line)
        assert match, f"no base URL in {line!r}"
        yield proc, match.group(1)
    finally:
        proc.terminate()
        proc.wait(10)


def test_cli_serve_prints_a_base_url_the_sdk_can_use(cli_server: tuple[subprocess.Popen[str], str]) -> None:
    _, base_url = cli_server
    with openai.OpenAI(base_url=base_url, api_key="offline", max_retries=0) as c:
        assert c.images.generate(model="gpt-image-2", prompt="a green tree", size="1536x864").data
        with pytest.raises(openai.NotFoundError, match="retired"):
            c.images.generate(model="dall-e-2", prompt="x")


def test_cli_rejects_bad_fault_flags() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "dalle_nb.cli", "serve", "--fault", "explode:1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2 and "unknown fault kind 'explode'" in out.stderr


def test_a_stream_spreads_the_latency_over_its_events() -> None:
    with OfflineServer(ServerOptions(latency=0.6)) as srv, make_client(srv) as c:
        arrivals = []
        for event in c.images.generate(model=DEFAULT_MODEL, prompt="x", size="1024x1024", stream=True,
                                       partial_images=2):  # fmt: skip
            arrivals.append((event.type, time.perf_counter()))
        assert [kind for kind, _ in arrivals][-1] == "image_generation.completed" and len(arrivals) == 3
        assert arrivals[-1][1] - arrivals[0][1] >= 0.35  # two more pauses of 0.2 s after the first picture
