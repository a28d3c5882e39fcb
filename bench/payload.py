"""How many bytes a displayed 1024x1024 result adds to a saved notebook.

dalle_nb shows a result as a small WebP thumbnail card, never the full picture, so notebooks
stay small enough to commit, share and open.  Measured: ``len(json.dumps(image._repr_mimebundle_()))``
for a ``GeneratedImage``, against ``IPython.display.Image(data=png)`` as IPython formats it for
the notebook (``format_display_data``: the PNG as base64 text, which is how .ipynb stores
image/png).  Both are the JSON a notebook keeps for that output.

Two pictures:

(i)  a picture from the offline backend: flat shapes, so its PNG is small and the thumbnail
     is a large share of it (shown for honesty, not judged);
(ii) a photo-like picture with the byte size of a real model PNG: deterministic coloured 1/f
     ("pink") noise, FFT-filtered white noise with a fixed seed, which has the statistics of
     natural images.  It goes straight into a ``GeneratedImage``, the object users display.

Goal: the dalle_nb output is <= 1/10 of the full PNG, judged on the photo-like picture, since
real model output is photographic.
"""

from __future__ import annotations

import io
import json

import numpy as np
from _harness import offline_setup, table, verdict
from IPython.core.formatters import format_display_data
from IPython.display import Image as IPythonImage
from PIL import Image

import dalle_nb
from dalle_nb.core.capabilities import DEFAULT_MODEL
from dalle_nb.core.results import GeneratedImage

SIZE = 1024
GOAL = 0.10
#: Amplitude spectrum ~ 1/f^ALPHA; natural photographs lie between about 1 and 1.4.  1.3 gives
#: a PNG of about 1.9 MB, the size of a real 1024x1024 model PNG.
ALPHA = 1.3
SEED = 20261122


def pink_noise_png(size: int = SIZE, alpha: float = ALPHA, seed: int = SEED) -> bytes:
    """A deterministic photo-like RGB PNG: 1/f noise, channels partly shared so colours correlate as in photos."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    radius = np.hypot(fx, fy)
    radius[0, 0] = 1.0
    gain = radius**-alpha
    gain[0, 0] = 0.0

    def field() -> np.ndarray:
        return np.fft.irfft2(np.fft.rfft2(rng.standard_normal((size, size))) * gain, s=(size, size))

    shared = field()
    rgb = np.stack([0.8 * shared + 0.45 * field() for _ in range(3)], axis=-1)
    rgb = (rgb - rgb.mean()) / (6 * rgb.std()) + 0.5
    pixels = np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def offline_picture() -> GeneratedImage:
    with offline_setup(latency=0.0) as _:
        return dalle_nb.generate("a red fox in a green forest under a blue sky", size=f"{SIZE}x{SIZE}")[0]


def notebook_bytes_dalle_nb(image: GeneratedImage) -> int:
    return len(json.dumps(image._repr_mimebundle_()))


def notebook_bytes_ipython(png: bytes) -> int:
    data, _metadata = format_display_data(IPythonImage(data=png))
    return len(json.dumps(data))


def main() -> None:
    offline = offline_picture()
    offline_png = offline.to_bytes()
    photo_png = pink_noise_png()
    photo = GeneratedImage(
        data=photo_png, path=None, prompt="photo-like test picture", model=DEFAULT_MODEL, size=f"{SIZE}x{SIZE}"
    )
    rows = []
    ratios = {}
    for label, image, png in [
        ("(i) offline-backend picture (flat shapes, not judged)", offline, offline_png),
        ("(ii) photo-like picture, 1/f noise (judged)", photo, photo_png),
    ]:
        ours, full = notebook_bytes_dalle_nb(image), notebook_bytes_ipython(png)
        ratios[label] = ours / full
        rows.append([label, f"{len(png):,}", f"{full:,}", f"{ours:,}", f"{ours / full:.3f}", f"1/{full / ours:.0f}"])
    print(f"Bytes a displayed {SIZE}x{SIZE} result adds to the notebook JSON (lower is better)")
    print()
    print(
        table(
            ["picture", "PNG bytes", "IPython Image (baseline)", "dalle_nb display", "ratio", "share"],
            rows,
        )
    )
    print()
    offline_ratio = ratios[rows[0][0]]
    photo_ratio = ratios[rows[1][0]]
    print(f"(info) offline-backend picture: {offline_ratio:.3f} of the full PNG (its PNG is tiny; not judged)")
    print(f"payload: {photo_ratio:.3f} of the full PNG (goal <= {GOAL:.2f}) {verdict(photo_ratio <= GOAL)}")


if __name__ == "__main__":
    main()
