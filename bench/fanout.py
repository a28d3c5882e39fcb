"""Does dalle_nb run many requests at once, so that many pictures cost about the time of one?

(a) ``dalle_nb.generate(prompt, model="dall-e-3", n=4)``: dall-e-3 takes n=1 per request, so
    dalle_nb fans the call out into 4 parallel requests.  Baseline: one raw SDK call for one
    dall-e-3 picture.  Goal: <= 1.15x.  For reference: 4 raw calls in a loop (~4x), 4 raw calls
    on 4 threads (what a perfect fan-out costs on this server), and one raw call plus the GET of
    the ``url`` it returns (dall-e-3 answers with a URL by default; dalle_nb fetches the picture
    and saves it before returning, the raw call stops at the URL).
(b) ``dalle_nb.generate([16 prompts], size="1024x1024")`` with ``configure(concurrency=8)``:
    two waves of 8 requests.  Against a perfect client, the raw SDK on a pool of 8 threads
    on the same server in the same run: goal <= 1.03x (what dalle_nb's own work costs).  Also
    printed: the ratio to one raw call (sequential is 16x).

The offline server runs in its own process (as a remote API would) and adds latency per request
(0.5 s for (a), 1.5 s for (b)), so waiting outweighs drawing; still, on a 2-core machine its 16
pictures cost ~0.4 s of CPU that no client can hide.  The "perfect client" rows show that floor.  Every arm
gets fresh prompts each round (the server draws a different picture per prompt).
"""

from __future__ import annotations

import urllib.request
from concurrent.futures import ThreadPoolExecutor

from _harness import interleaved, median, offline_setup, spread, table, verdict

import dalle_nb
from dalle_nb.core.capabilities import DEFAULT_MODEL

LATENCY = 0.5
#: For the 16-prompt list: real image requests take 10-60 s, so waiting dwarfs the client's work;
#: 1.5 s keeps the offline server's own drawing (~0.4 s of CPU for 16 pictures on 2 cores) from
#: dominating what is measured, while the run stays short.
LATENCY_LIST = 1.5
CONCURRENCY = 8
SIZE = "1024x1024"
GOAL_N4 = 1.15
GOAL_VS_PERFECT = 1.03
HEADERS = ["call", "median s", "min-max ms", "vs raw", "goal"]


def prompt(round_: int, index: int = 0) -> str:
    return f"a lighthouse on a rocky coast at dusk, study {round_ + 2}-{index}"


def row(label: str, values: list[float], base: float, goal: str = "") -> list[object]:
    return [label, f"{median(values):.3f}", spread(values), f"{median(values) / base:.2f}x", goal]


def fanout_n4(repeats: int) -> float:
    with offline_setup(latency=LATENCY) as (_server, raw), ThreadPoolExecutor(4) as pool:

        def one(r: int, i: int = 0) -> object:
            return raw.images.generate(model="dall-e-3", prompt=prompt(r, i), n=1)

        def one_and_download(r: int) -> bytes:
            url = raw.images.generate(model="dall-e-3", prompt=prompt(r), n=1).data[0].url  # type: ignore[index]
            with urllib.request.urlopen(str(url)) as response:
                return bytes(response.read())

        times = interleaved(
            {
                "raw": one,
                "dalle_nb": lambda r: dalle_nb.generate(prompt(r), model="dall-e-3", n=4),
                "sequential": lambda r: [one(r, i) for i in range(4)],
                "threads": lambda r: list(pool.map(lambda i: one(r, i), range(4))),
                "download": one_and_download,
            },
            repeats,
        )
    base = median(times["raw"])
    ratio = median(times["dalle_nb"]) / base
    print(f"(a) fan-out of n=4 for dall-e-3, offline server latency {LATENCY} s, median of {repeats}")
    print()
    print(
        table(
            HEADERS,
            [
                row("raw SDK, 1 dall-e-3 picture (baseline)", times["raw"], base),
                row("dalle_nb.generate(n=4), dall-e-3", times["dalle_nb"], base, f"<= {GOAL_N4:.2f}x"),
                row("ref: raw SDK, 4 calls in a loop", times["sequential"], base),
                row("ref: raw SDK, 4 calls on 4 threads", times["threads"], base),
                row("ref: raw SDK, 1 call + GET of its url", times["download"], base),
            ],
        )
    )
    print()
    return ratio


def prompt_list16(repeats: int) -> tuple[float, float]:
    with (
        offline_setup(latency=LATENCY_LIST, concurrency=CONCURRENCY) as (_server, raw),
        ThreadPoolExecutor(8) as pool,
    ):

        def one(r: int, i: int = 0) -> object:
            return raw.images.generate(model=DEFAULT_MODEL, prompt=prompt(r, i), size=SIZE)

        times = interleaved(
            {
                "raw": one,
                "dalle_nb": lambda r: dalle_nb.generate([prompt(r, i) for i in range(16)], size=SIZE),
                "threads": lambda r: list(pool.map(lambda i: one(r, i), range(16))),
            },
            repeats,
        )
    base = median(times["raw"])
    print(f"(b) a list of 16 prompts, {SIZE}, offline server latency {LATENCY_LIST} s, median of {repeats}")
    print()
    print(
        table(
            HEADERS,
            [
                row(f"raw SDK, 1 {DEFAULT_MODEL} picture (baseline)", times["raw"], base),
                row("perfect client: raw SDK, 16 calls on 8 threads", times["threads"], base),
                row(f"dalle_nb.generate([16 prompts]), concurrency={CONCURRENCY}", times["dalle_nb"], base),
                ["ref: raw SDK, 16 calls in a loop", "", "", "~16x", ""],
            ],
        )
    )
    print()
    return median(times["dalle_nb"]) / base, median(times["dalle_nb"]) / median(times["threads"])


def main() -> None:
    ratio_a = fanout_n4(repeats=7)
    ratio_b, vs_threads = prompt_list16(repeats=5)
    print(f"fanout n=4 (dall-e-3): {ratio_a:.2f}x one call (goal <= {GOAL_N4:.2f}x) {verdict(ratio_a <= GOAL_N4)}")
    print(
        f"16 prompts, concurrency {CONCURRENCY}: {vs_threads:.3f}x the perfect client "
        f"(goal <= {GOAL_VS_PERFECT:.2f}x) {verdict(vs_threads <= GOAL_VS_PERFECT)}; {ratio_b:.2f}x one call"
    )


if __name__ == "__main__":
    main()
