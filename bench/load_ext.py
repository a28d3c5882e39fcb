"""How long does ``%load_ext dalle_nb`` take, next to ``import openai``?

Loading the extension must feel instant: the SDK, numpy and Pillow load on the first request,
not when the magics are registered.  Each measurement runs in a fresh Python process (cold
imports; the OS file cache is warm for both arms alike), alternating the two arms.  The IPython
shell is created before the clock starts, since it exists before any ``%load_ext`` in a notebook.
Goal: ``%load_ext dalle_nb`` <= 0.3x a cold ``import openai``.
"""

from __future__ import annotations

import subprocess
import sys

from _harness import median, spread, table, verdict

GOAL = 0.3
REPEATS = 9

LOAD_EXT = """
import time
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
start = time.perf_counter()
ip.run_line_magic("load_ext", "dalle_nb")
print(time.perf_counter() - start)
"""

IMPORT_OPENAI = """
import time
start = time.perf_counter()
import openai
print(time.perf_counter() - start)
"""


def measure(code: str) -> float:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    for code in (LOAD_EXT, IMPORT_OPENAI):  # warm the file cache for both arms
        measure(code)
    times: dict[str, list[float]] = {"load_ext": [], "openai": []}
    for round_ in range(REPEATS):
        order = ["load_ext", "openai"] if round_ % 2 == 0 else ["openai", "load_ext"]
        for name in order:
            times[name].append(measure(LOAD_EXT if name == "load_ext" else IMPORT_OPENAI))
    base = median(times["openai"])
    ours = median(times["load_ext"])
    print(f"cold start in a fresh process, median of {REPEATS}")
    print()
    print(
        table(
            ["step", "median ms", "min-max ms", "vs import openai"],
            [
                ["import openai (baseline)", f"{base * 1000:.1f}", spread(times["openai"]), "1.00x"],
                ["%load_ext dalle_nb", f"{ours * 1000:.1f}", spread(times["load_ext"]), f"{ours / base:.2f}x"],
            ],
        )
    )
    print()
    print(f"load_ext: {ours / base:.2f}x of import openai (goal <= {GOAL}x) {verdict(ours / base <= GOAL)}")


if __name__ == "__main__":
    main()
