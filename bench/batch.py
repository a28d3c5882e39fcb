"""What ``dalle_nb.submit`` costs to send a long prompt list, next to writing the same JSONL by hand.

(a) Time: ``dalle_nb.submit(10,000 prompts, size=..., quality=...)`` -- every line planned and checked as
``generate`` checks its requests, written to disk, uploaded to the offline server (``dalle-nb serve`` in its own
process), the batch created and the job recorded in the gallery -- against the standard library alone writing
the same 10,000 lines (``json.dumps`` of the same dicts, one per line) to a file, in the same run.  The server is
started with ``--batch-seconds 3600`` so no line is drawn while the arms are timed.  Goal: <= 1.5x.

(b) Memory: the peak of Python allocations (``tracemalloc``) during ``submit`` of 1,000 and of 10,000 prompts
given as a generator, each in a fresh process (whose peak RSS is printed too).  Lines stream to disk and the
upload streams from the file, so the peak must not grow with the number of lines: goal, the 10,000-line peak
<= 1.5x the 1,000-line one.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import interleaved, median, serve_in_subprocess, spread, table, verdict

import dalle_nb
from dalle_nb.core.capabilities import DEFAULT_MODEL
from dalle_nb.runtime.config import reset

LINES = 10_000
REPEATS = 9
SIZE, QUALITY = "1024x1024", "low"
OPTIONS = {"size": SIZE, "quality": QUALITY}
GOAL_TIME, GOAL_MEMORY = 1.5, 1.5

_MEMORY = """
import json, resource, sys, tracemalloc
import dalle_nb
dalle_nb.configure(api_key="offline", base_url=sys.argv[1], offline=False, max_retries=0, gallery_dir=sys.argv[2])
dalle_nb.submit(["a warm-up"], size="1024x1024", quality="low")  # imports, connection, index: not counted
count = int(sys.argv[3])
tracemalloc.start()
dalle_nb.submit((f"a red fox in a snowy forest, study {i}" for i in range(count)), size="1024x1024", quality="low")
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
print(json.dumps({"peak": peak, "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def prompts(round_: int) -> list[str]:
    return [f"a red fox in a snowy forest, study {round_}-{i}" for i in range(LINES)]


def submit(round_: int) -> None:
    """The measured arm, then (untimed) its batch cancelled and settled, so the server's reading of one round's
    file never runs during the next arm's timing.  The line ``submit`` prints for a person is not shown."""
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        job = dalle_nb.submit(prompts(round_), **OPTIONS)
    _TIMED.append(time.perf_counter() - start)
    job.cancel()
    while not job.status().done:
        time.sleep(0.05)


#: The submit arm's own times: ``interleaved`` times the arm with its settling, which is not the measure.
_TIMED: list[float] = []


def stdlib(folder: Path, round_: int) -> None:
    """The baseline: the same lines, written with ``json`` alone (no checks, no upload)."""
    with (folder / f"stdlib-{round_}.jsonl").open("w", encoding="utf-8") as out:
        for index, prompt in enumerate(prompts(round_)):
            body = {"prompt": prompt, "model": DEFAULT_MODEL, "n": 1, "size": SIZE, "quality": QUALITY}
            line = {"custom_id": f"r{index}-0", "method": "POST", "url": "/v1/images/generations", "body": body}
            out.write(json.dumps(line) + "\n")


def memory(base_url: str, gallery: str, count: int) -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", _MEMORY, base_url, gallery, str(count)], capture_output=True, text=True, check=True
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    with (
        serve_in_subprocess(latency=0.0, seed=1, extra=["--batch-seconds", "3600"]) as server,
        tempfile.TemporaryDirectory(prefix="dalle-nb-bench-") as scratch,
    ):
        folder = Path(scratch)
        dalle_nb.configure(
            api_key="offline", base_url=server.base_url, offline=False, max_retries=0, gallery_dir=folder / "gallery"
        )
        try:
            times = interleaved(
                {"dalle_nb.submit": lambda r: submit(r), "stdlib json": lambda r: stdlib(folder, r)}, REPEATS
            )
            small = memory(server.base_url, str(folder / "memory-small"), 1_000)
            large = memory(server.base_url, str(folder / "memory-large"), LINES)
        finally:
            reset()
    ours, base = _TIMED[1:], times["stdlib json"]  # the first is the untimed warm-up of ``interleaved``
    # each round's two arms ran back to back: their ratio cancels the load of a shared machine, which a ratio
    # of medians does not; the ratio of the fastest runs (the least disturbed) is printed beside it
    ratio = median([a / b for a, b in zip(ours, base, strict=True)])
    fastest = min(ours) / min(base)
    growth = large["peak"] / small["peak"]
    print(f"{LINES:,} prompts, {SIZE} {QUALITY}, offline server in its own process, {REPEATS} interleaved rounds")
    print()
    print(
        table(
            ["arm", "median s", "min-max ms", "vs stdlib"],
            [
                ["stdlib json: write the JSONL (baseline)", f"{median(base):.4f}", spread(base), "1.00x"],
                [
                    "dalle_nb.submit: plan, check, write, upload, create, record",
                    f"{median(ours):.4f}",
                    spread(ours),
                    f"{ratio:.2f}x (fastest {fastest:.2f}x)",
                ],
            ],  # fmt: skip
        )
    )
    print()
    print(
        table(
            ["submit of", "tracemalloc peak KB", "process peak RSS MB"],
            [
                [f"{count:,} prompts", f"{found['peak'] / 1024:,.0f}", f"{found['rss_kb'] / 1024:,.0f}"]
                for count, found in ((1_000, small), (LINES, large))
            ],
        )
    )
    print()
    print(
        f"time: submit / stdlib json = {ratio:.2f}x, median of paired rounds (goal <= {GOAL_TIME}x) "
        f"{verdict(ratio <= GOAL_TIME)}"
    )
    print(
        f"memory: peak at {LINES:,} / at 1,000 lines = {growth:.2f}x (goal <= {GOAL_MEMORY}x: streamed, not held) "
        f"{verdict(growth <= GOAL_MEMORY)}"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
