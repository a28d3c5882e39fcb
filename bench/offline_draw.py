"""Is the offline server's drawing cheap enough never to be the bottleneck of a benchmark?

(a) Drawing and encoding one offline picture (the scene composer, backdrops, OpenMoji pictograms, PNG) at
    1024x1024 and 1536x1024, against the baseline every image server pays as well: Pillow encoding a same-size
    photo-like picture (deterministic 1/f noise, as in payload.py) as PNG, measured in the same run, taking turns.
    Each round draws another teaching prompt, so caches (glyphs, backdrops) are warm as on a running server; the
    first, cold draw is printed too.  Goal: <= 1.5x.
(b) Keep-alive: two GET /health on one connection to `dalle-nb serve` (own process).  Without TCP_NODELAY the
    second waits for the client's delayed ACK (~40 ms); reported in ms against a first request on a fresh
    connection.  Goal: the second request under 5 ms.
(c) Latency overlaps drawing: one request for n=4 pictures at 1024x1024 with `--latency 0.5`, against the latency
    itself.  Drawing happens during the latency, in parallel, so the ratio stays near 1.  Goal: <= 1.2x.
"""

from __future__ import annotations

import http.client
import io
import time

import openai
from _harness import API_KEY, interleaved, median, serve_in_subprocess, spread, table, verdict
from payload import pink_noise_png
from PIL import Image

from dalle_nb.offline.painter import draw

GOAL_DRAW = 1.5
GOAL_SECOND_REQUEST_MS = 5.0
GOAL_LATENCY = 1.2
REPEATS = 12
PROMPTS = (
    "a red fox sitting in the snow",
    "three cats on a sofa in a living room",
    "a lighthouse on a cliff at sunset",
    "a blue dog on the beach",
    "a city at night",
    "a sign that says 'hello' in a forest",
    "a baby sea otter floating on its back",
    "a purple dragon flying over the mountains at dusk",
    "an astronaut in space",
    "two dogs playing in a park",
    "a bird above a house in the rain",
    "a teacher in a classroom",
    "a camel in the desert",
)


def photo(width: int, height: int) -> Image.Image:
    side = max(width, height)
    square = Image.open(io.BytesIO(pink_noise_png(side)))
    square.load()
    return square.crop((0, 0, width, height))


def drawing_rows() -> tuple[list[list[str]], dict[str, float]]:
    rows, ratios = [], {}
    for width, height in ((1024, 1024), (1536, 1024)):
        picture = photo(width, height)
        start = time.perf_counter()
        draw.encode(draw.generate_image("a tortoise in a meadow", width, height), "png")
        cold = time.perf_counter() - start

        def offline(round_: int, width: int = width, height: int = height) -> object:
            prompt = PROMPTS[round_ % len(PROMPTS)]
            return draw.encode(draw.generate_image(prompt, width, height, index=max(0, round_)), "png")

        def pillow(round_: int, picture: Image.Image = picture) -> object:
            buffer = io.BytesIO()
            picture.save(buffer, format="PNG")
            return buffer

        times = interleaved({"offline": offline, "pillow": pillow}, REPEATS)
        ratio = median(times["offline"]) / median(times["pillow"])
        label = f"{width}x{height}"
        ratios[label] = ratio
        rows.append(
            [
                label,
                f"{median(times['offline']) * 1000:.0f} ({spread(times['offline'])})",
                f"{cold * 1000:.0f}",
                f"{median(times['pillow']) * 1000:.0f} ({spread(times['pillow'])})",
                f"{ratio:.2f}x",
            ]
        )
    return rows, ratios


def keep_alive_ms(port: int) -> tuple[float, float]:
    """(first request on a fresh connection, second request on the same connection), medians in ms."""
    firsts, seconds = [], []
    for _ in range(20):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for k in range(2):
            start = time.perf_counter()
            connection.request("GET", "/health")
            connection.getresponse().read()
            (firsts if k == 0 else seconds).append((time.perf_counter() - start) * 1000)
        connection.close()
    return median(firsts), median(seconds)


def main() -> None:
    rows, ratios = drawing_rows()
    print("(a) draw + PNG-encode one offline picture vs Pillow PNG-encoding a photo-like picture of the same size")
    print()
    print(table(["size", "offline, ms (min-max)", "first, cold", "Pillow photo PNG, ms", "ratio"], rows))
    print()
    latency = 0.5
    with serve_in_subprocess(latency=latency, seed=1) as server:
        port = int(server.base_url.rsplit(":", 1)[1].split("/")[0])
        first_ms, second_ms = keep_alive_ms(port)
        print(
            f"(b) GET /health: first on a fresh connection {first_ms:.2f} ms, second on the same one {second_ms:.2f} ms"
        )
        client = openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
        client.images.generate(model="gpt-image-1.5", prompt="warm-up", size="1024x1024")
        totals = []
        for round_ in range(3):
            start = time.perf_counter()
            client.images.generate(model="gpt-image-1.5", prompt=PROMPTS[round_], size="1024x1024", n=4)
            totals.append(time.perf_counter() - start)
        client.close()
    overlap = median(totals) / latency
    print(f"(c) n=4 at 1024x1024 with --latency {latency}: {median(totals) * 1000:.0f} ms = {overlap:.2f}x the latency")
    print()
    for label, ratio in ratios.items():
        print(
            f"draw {label}: {ratio:.2f}x Pillow's PNG of a photo (goal <= {GOAL_DRAW}x) {verdict(ratio <= GOAL_DRAW)}"
        )
    print(
        f"keep-alive: second GET {second_ms:.2f} ms (goal < {GOAL_SECOND_REQUEST_MS:.0f} ms) "
        f"{verdict(second_ms < GOAL_SECOND_REQUEST_MS)}"
    )
    print(f"latency overlap: {overlap:.2f}x (goal <= {GOAL_LATENCY}x) {verdict(overlap <= GOAL_LATENCY)}")


if __name__ == "__main__":
    main()
