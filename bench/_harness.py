"""Shared helpers for the benchmarks in this folder: an offline server, dalle_nb pointed at it, timing, tables.

Not a benchmark itself.  Each ``bench/*.py`` script imports it (Python puts the script's folder
first on ``sys.path``), so every script stays runnable as ``python bench/NAME.py``.
"""

from __future__ import annotations

import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import openai

import dalle_nb
from dalle_nb.runtime.config import reset

API_KEY = "offline"


@dataclass(frozen=True)
class ServerProcess:
    base_url: str


@contextlib.contextmanager
def serve_in_subprocess(
    *, latency: float, seed: int, extra: Sequence[str] = (), nice: int = 0
) -> Iterator[ServerProcess]:
    """``dalle-nb serve`` in its own process, as a remote API would be: its drawing does not
    share this process's GIL with the client being measured (both still share the 2 cores;
    ``nice`` lowers the server's priority, where a remote server would not compete at all)."""
    command = [sys.executable, "-m", "dalle_nb.cli", "serve", "--latency", str(latency), "--seed", str(seed), *extra]
    proc = subprocess.Popen(
        ["nice", "-n", str(nice), *command] if nice else command,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        match = re.search(r"(http://127\.0\.0\.1:\d+/v1)", proc.stdout.readline())
        if match is None:
            raise RuntimeError("dalle-nb serve did not print its base URL")
        wait_healthy(match.group(1))
        yield ServerProcess(match.group(1))
    finally:
        proc.terminate()
        proc.wait(10)


def wait_healthy(base_url: str, timeout: float = 30.0) -> None:
    """Return once ``GET /health`` answers, so no measurement includes the server's start."""
    import urllib.request

    url = base_url.removesuffix("/v1") + "/health"
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the offline server at {base_url} never became healthy") from None
        time.sleep(0.05)


@contextlib.contextmanager
def offline_setup(
    *, latency: float, seed: int = 1, nice: int = 0, **settings: Any
) -> Iterator[tuple[ServerProcess, openai.OpenAI]]:
    """An offline server with ``latency`` (own process), dalle_nb configured to use it, and a raw SDK client.

    dalle_nb's gallery goes to a temporary folder that is removed afterwards, and its settings
    are reset, so nothing of the run is left behind.
    """
    with (
        serve_in_subprocess(latency=latency, seed=seed, nice=nice) as server,
        tempfile.TemporaryDirectory(prefix="dalle-nb-bench-") as gallery,
    ):
        dalle_nb.configure(
            api_key=API_KEY, base_url=server.base_url, offline=False, max_retries=0, gallery_dir=gallery, **settings
        )
        raw = openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
        try:
            yield server, raw
        finally:
            raw.close()
            reset()


def interleaved(arms: dict[str, Callable[[int], object]], repeats: int) -> dict[str, list[float]]:
    """Time each arm ``repeats`` times, taking turns round by round so drift hits every arm alike.

    Each arm is called once untimed first (warm-up: imports, connections, the gallery index).
    An arm gets the round number, so arms can use the same prompt within a round and a fresh
    one in the next (the offline server draws a different picture per prompt).  The order of
    the arms alternates every round.
    """
    for fn in arms.values():
        fn(-1)
    times: dict[str, list[float]] = {name: [] for name in arms}
    names = list(arms)
    for round_ in range(repeats):
        for name in names if round_ % 2 == 0 else reversed(names):
            start = time.perf_counter()
            arms[name](round_)
            times[name].append(time.perf_counter() - start)
    return times


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float]) -> str:
    """min-max of the timed repeats, in ms."""
    return f"{min(values) * 1000:.0f}-{max(values) * 1000:.0f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])


def verdict(met: bool) -> str:
    return "MET" if met else "NOT MET"
