"""Request bodies, read by every route of the offline server one way: limited in size and time, checked in type."""

from __future__ import annotations

import ast
import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import dalle_nb.offline
from dalle_nb.offline import OfflineServer, ServerOptions

TASK_PATHS = ("/tasks", "/v1/tasks", "/openai/tasks")


@pytest.fixture(scope="module")
def impatient() -> Iterator[OfflineServer]:
    """A compat server (it serves the gateway's task mode) that waits half a second for a stalled body."""
    with OfflineServer(ServerOptions(profile="compat", seed=5, read_timeout=0.5)) as srv:
        yield srv


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def _error(answer: bytes) -> dict[str, object]:
    error = json.loads(answer.partition(b"\r\n\r\n")[2])["error"]
    assert isinstance(error, dict)
    return error


def _read_answer(conn: socket.socket) -> bytes:
    """The whole answer: its head, then as many body bytes as its content-length says."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    while len(body) < length and (chunk := conn.recv(65536)):
        body += chunk
    return head + b"\r\n\r\n" + body


def _send_until_answered(port: int, path: str, chunks: int, size: int = 65536) -> tuple[bytes, int]:
    """POST a chunked JSON body of ``chunks * size`` bytes, stopping as soon as the server answers;
    returns the answer and how many body bytes were sent before it came."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=30)
    sent = 0
    try:
        conn.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        piece = f"{size:x}\r\n".encode() + b"a" * size + b"\r\n"
        for _ in range(chunks):
            if select.select([conn], [], [], 0)[0]:
                break  # the server has answered
            try:
                conn.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += size
        else:
            conn.sendall(b"0\r\n\r\n")
        return _read_answer(conn), sent
    finally:
        conn.close()


@pytest.mark.parametrize("path", TASK_PATHS)
def test_a_task_lookup_with_a_body_over_the_limit_is_refused_while_it_arrives(
    impatient: OfflineServer, path: str
) -> None:
    """A 256 MB body with no length announced: refused with a 413 long before it is all sent (it once was read
    whole, 300 MB of request costing 600 MB of server memory, and answered 200)."""
    answer, sent = _send_until_answered(impatient.port, path, chunks=4096)
    assert _status(answer) == 413 and _error(answer)["code"] == "request_too_large"
    assert sent < 16 * 1024 * 1024, f"{sent:,} bytes went in before the refusal"


def test_a_task_lookup_announcing_a_body_over_the_limit_is_refused_before_any_of_it_is_read(
    impatient: OfflineServer,
) -> None:
    with socket.create_connection(("127.0.0.1", impatient.port), timeout=10) as conn:
        conn.sendall(
            b"POST /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 314572800\r\n\r\n{"
        )
        answer = _read_answer(conn)
    assert _status(answer) == 413 and "300.0 MB" in str(_error(answer)["message"])


def test_a_task_lookup_whose_body_stalls_is_answered_408_after_the_read_timeout(impatient: OfflineServer) -> None:
    with socket.create_connection(("127.0.0.1", impatient.port), timeout=10) as conn:
        conn.sendall(
            b"POST /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"action": '
        )
        started = time.monotonic()
        answer = _read_answer(conn)
    assert _status(answer) == 408 and _error(answer)["code"] == "request_timeout"
    assert time.monotonic() - started < 5


def test_a_task_lookup_that_is_not_json_is_refused_by_its_content_type(impatient: OfflineServer) -> None:
    body = b'{"action": "retrieve", "id": "x"}'
    with socket.create_connection(("127.0.0.1", impatient.port), timeout=10) as conn:
        conn.sendall(
            b"POST /v1/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        answer = _read_answer(conn)
    assert _status(answer) == 400 and _error(answer)["code"] == "invalid_content_type"
    assert "text/plain" in str(_error(answer)["message"])


def test_only_the_shared_reader_reads_a_request_body() -> None:
    """Every route reads its body through ``http.Body``, which ``Gate.guard`` alone makes: a route that read
    ``request.body()`` itself would skip the limit and the read timeout, as the gateway's task lookups once did."""
    package = Path(dalle_nb.offline.__file__).parent
    reads = {"body", "json", "form", "stream", "receive"}
    found = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "http.py" and path.parent == package:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in reads
                and isinstance(node.value, ast.Name)
                and node.value.id in ("request", "req")
            ):
                found.append(f"{path.relative_to(package)}:{node.lineno} request.{node.attr}")
            # a parser of its own, a reader outside the gate (``read_json`` once was), or a reader made by hand
            if isinstance(node, ast.Name) and node.id in ("MultiPartParser", "FormParser", "read_json", "read_form"):
                found.append(f"{path.relative_to(package)}:{node.lineno} {node.id}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("Body", "Request"):
                found.append(f"{path.relative_to(package)}:{node.lineno} {node.func.id}(...)")
    assert found == []
