"""One JupyterLab server, one headless Chromium and one open notebook for the whole browser suite.

These tests are part of ``make test``.  Without ``/usr/bin/chromium`` they fail (never skip):
``.ci/run`` installs it with apt-get, and a green run must mean the editor was really painted
on in a browser.  The server serves a scratch folder holding a fresh notebook, so saving (the
reload test saves) never writes outputs into the repository; its kernel runs without an API
key, so ``dn.edit`` uses the offline backend, with its gallery in a temporary folder.

The fixtures live as long as this package's tests, not the session: Playwright's sync API
keeps an event loop running in the main thread, which the rest of the suite (``asyncio.run``)
must not find.

Set ``DALLE_NB_SCREENSHOTS=/some/folder`` to keep the screenshots the tests take.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest

from ._lab import CHROMIUM, MISSING_CHROMIUM, Lab, chromium, execute, lab_server, open_notebook, run_cell

# read at import: the suite's autouse fixture clears DALLE_NB_* variables for each test
SCREENSHOTS = os.environ.get("DALLE_NB_SCREENSHOTS")

SETUP = """\
import json
import numpy as np
from PIL import Image
import dalle_nb as dn
from dalle_nb import MaskEditor

def gradient(width, height):
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.uint8)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([x, y, np.full_like(x, 90)], axis=2))

print("SETUP_DONE")
"""


def scratch_notebook(path: Path) -> Path:
    """A notebook with a setup cell and a stage cell that each test fills with its own code."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(SETUP), nbformat.v4.new_code_cell("print('stage')")]
    nbformat.write(notebook, path)
    return path


@pytest.fixture(scope="session")
def playwright_api() -> Any:
    try:
        from playwright import sync_api
    except ImportError:  # pragma: no cover - a broken install, not a reason to skip
        pytest.fail("the browser tests need the playwright wheel: pip install -e '.[test]'")
    return sync_api


@pytest.fixture(scope="package")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("lab-root")
    scratch_notebook(root / "mask.ipynb")
    scratch_notebook(root / "notebook7.ipynb")
    gallery = tmp_path_factory.mktemp("gallery")
    with lab_server(root, {"DALLE_NB_GALLERY_DIR": str(gallery)}) as server:
        yield server


@pytest.fixture(scope="package")
def browser_context(playwright_api: Any) -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(MISSING_CHROMIUM)
    with playwright_api.sync_playwright() as playwright, chromium(playwright) as context:
        context.set_default_timeout(30_000)
        # what the page shows after a kernel round trip: seconds on a loaded 2-core machine, never Playwright's 5
        playwright_api.expect.set_options(timeout=15_000)
        yield context


class NotebookPage:
    """The notebook open in a browser page, with the steps every test takes."""

    _runs = itertools.count(1)

    def __init__(self, page: Any, lab: Lab, out: Path) -> None:
        self.page = page
        self.lab = lab
        self.out = out
        self.console: list[str] = []
        page.on("console", lambda message: self.console.append(f"{message.type}: {message.text}"))

    def show(self, code: str) -> Any:
        """Run ``code`` in the stage cell (it should display an editor) and return its canvas locator."""
        marker = f"SHOWN_{next(self._runs)}"
        run_cell(self.page, 1, f"{code}\nprint({marker!r})", marker)
        canvas = self.page.locator(".jp-Notebook .jp-Cell").nth(1).locator("canvas.dalle-nb-mask-canvas").first
        canvas.wait_for(state="visible")
        canvas.scroll_into_view_if_needed()
        return canvas

    def execute(self, code: str) -> str:
        return execute(self.page, code)

    def value(self, expression: str) -> Any:
        """A JSON value computed in the kernel (the last line printed; notices may come before it)."""
        import json

        return json.loads(self.execute(f"print(json.dumps({expression}))").strip().splitlines()[-1])

    def wait_for(self, condition: str, timeout: float = 15) -> None:
        """Wait until ``condition`` holds in the kernel.

        Needed after a click: JupyterLab 4.6 sends some widget messages (button clicks) to a
        kernel subshell thread, so a query sent after a click may run before the click's handler.
        """
        import time

        deadline = time.monotonic() + timeout
        while not self.value(f"bool({condition})"):
            if time.monotonic() > deadline:
                raise AssertionError(f"still false after {timeout} s: {condition}")
            time.sleep(0.05)

    def array(self, expression: str) -> np.ndarray:
        """A numpy array computed in the kernel (through a .npy file in the scratch folder)."""
        path = self.out / f"array-{next(self._runs)}.npy"
        self.execute(f"np.save({str(path)!r}, np.asarray({expression}))")
        return np.load(path)

    def screenshot(self, locator: Any, name: str) -> np.ndarray:
        """The element as the user sees it, as an RGB array in CSS pixels; kept if DALLE_NB_SCREENSHOTS is set."""
        import io

        from PIL import Image

        png = locator.screenshot(animations="disabled", caret="hide")
        if SCREENSHOTS:
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            (Path(SCREENSHOTS) / f"{name}.png").write_bytes(png)
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


@pytest.fixture(scope="package")
def notebook(browser_context: Any, lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NotebookPage]:
    """The scratch notebook open in JupyterLab with its setup cell run; shared by the Lab tests."""
    page = browser_context.new_page()
    open_notebook(page, lab.url("lab/tree/mask.ipynb"))
    run_cell(page, 0, SETUP, "SETUP_DONE")
    yield NotebookPage(page, lab, tmp_path_factory.mktemp("kernel-out"))
    page.close()
