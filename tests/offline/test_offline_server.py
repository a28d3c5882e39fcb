"""The offline server's sockets: small responses are not held back, and `dalle-nb serve` is ready when it says so."""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys

import openai
import pytest

from dalle_nb.offline import OfflineServer, ServerOptions

from ..conftest import decode


def test_connections_are_accepted_with_nagle_off() -> None:
    """Without TCP_NODELAY, a second small response on a kept-alive connection waits ~40 ms for a delayed ACK."""
    with OfflineServer(ServerOptions(seed=0)) as server:
        assert server._socket.proto == socket.IPPROTO_TCP
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            for _ in range(2):  # two requests on one keep-alive connection
                connection.request("GET", "/health")
                response = connection.getresponse()
                assert response.status == 200 and response.read()
            accepted = [
                protocol.transport.get_extra_info("socket") for protocol in server._server.server_state.connections
            ]
            assert accepted, "the server holds the kept-alive connection"
            for sock in accepted:
                assert sock.proto == socket.IPPROTO_TCP
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        finally:
            connection.close()


def test_serve_prints_its_url_only_once_it_accepts_connections() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dalle_nb.cli", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/v1", line)
        assert match, line
        with socket.create_connection(("127.0.0.1", int(match.group(1))), timeout=5):  # no retry: it must listen
            pass
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("stream", [False, True])
def test_pictures_drawn_in_parallel_keep_their_order(stream: bool) -> None:
    with OfflineServer(ServerOptions(seed=3)) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="offline", max_retries=0)
        prompt = "three cats on a sofa in a living room"
        singles = [
            client.images.generate(
                model="gpt-image-1.5",
                prompt=prompt,
                size="1024x1024",
                extra_headers={"x-dalle-nb-first-index": str(index)},
            )
            for index in range(3)
        ]
        expected = [single.data[0].b64_json for single in singles if single.data]
        if stream:
            events = client.images.generate(model="gpt-image-1.5", prompt=prompt, size="1024x1024", n=3, stream=True)
            got = [event.b64_json for event in events if event.type == "image_generation.completed"]
        else:
            together = client.images.generate(model="gpt-image-1.5", prompt=prompt, size="1024x1024", n=3)
            got = [item.b64_json for item in together.data or []]
        assert got == expected
        assert len({decode(b64 or "").tobytes() for b64 in got}) == 3
        client.close()
