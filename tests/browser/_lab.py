"""A private JupyterLab server and a headless Debian Chromium, for tests and benchmarks that need a real browser.

Adapted from ``shared/recipes/jupyterlab_browser.py`` (proven with Debian chromium, JupyterLab 4,
ipywidgets 8, ipycanvas 0.14 and the ``playwright`` wheel, whose bundled driver needs no browser
download).  Everything the server and the kernel write goes to private folders, so no user
state leaks in or out, and nothing reaches the network.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MISSING_CHROMIUM = (
    f"{CHROMIUM} is missing: the browser tests need Debian's chromium (apt-get update && apt-get install -y chromium); "
    "never download a browser with 'playwright install'"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def isolated_env(base: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The server's environment: private Jupyter and IPython folders, no news or update checks, no key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "DALLE_NB_", "JUPYTER", "IPYTHON"))}
    dirs = {
        name: base / name.lower()
        for name in (
            "JUPYTER_CONFIG_DIR",
            "JUPYTER_DATA_DIR",
            "JUPYTER_RUNTIME_DIR",
            "JUPYTERLAB_SETTINGS_DIR",
            "JUPYTERLAB_WORKSPACES_DIR",
            "IPYTHONDIR",
        )
    }
    for name, path in dirs.items():
        path.mkdir(parents=True, exist_ok=True)
        env[name] = str(path)
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env["JUPYTER_PREFER_ENV_PATH"] = "1"  # the venv's kernel, never one from the user's folders
    (base / "tmp").mkdir(exist_ok=True)
    env["TMPDIR"] = str(base / "tmp")
    (dirs["JUPYTER_CONFIG_DIR"] / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "LabApp": {
                    "news_url": None,
                    "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
                    "extension_manager": "readonly",
                }
            }
        )
    )
    notifications = dirs["JUPYTERLAB_SETTINGS_DIR"] / "@jupyterlab" / "apputils-extension"
    notifications.mkdir(parents=True, exist_ok=True)
    (notifications / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    env.update(extra or {})
    return env


class Lab:
    """``jupyter lab`` on a free loopback port with a token, serving ``root``; Notebook 7 is served by it too."""

    def __init__(self, root: Path, state: Path, extra_env: dict[str, str] | None = None) -> None:
        self.root = root.resolve()
        self.state = state
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = isolated_env(state, extra_env)
        self.log_path = state / "lab.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.startup_s = 0.0

    def start(self, timeout: float = 90) -> Lab:
        cmd = [
            sys.executable, "-m", "jupyter", "lab", "--no-browser",
            "--ip=127.0.0.1", f"--port={self.port}", "--port-retries=0",
            f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
            "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: wait for the kernel, run commands
            "--JupyterNotebookApp.expose_app_in_browser=True",
            # as `make lab` runs it: widget replies leave at once (dalle_nb/nodelay.py)
            "--ServerApp.jpserver_extensions={'dalle_nb.nodelay': True}",
        ]  # fmt: skip
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        started = time.monotonic()
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, env=self.env, cwd=self.root, start_new_session=True
        )
        url = f"{self.base}/api/status?token={self.token}"
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}\n{self.log()}")
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    break
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"jupyter lab was not up after {timeout} s\n{self.log()}")
            time.sleep(0.1)
        self.startup_s = time.monotonic() - started
        return self

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}?token={self.token}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    def stop(self, timeout: float = 20) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # /api/shutdown also shuts down the kernels this server started
            request = urllib.request.Request(
                f"{self.base}/api/shutdown", method="POST", headers={"Authorization": f"token {self.token}"}
            )
            with contextlib.suppress(OSError), urllib.request.urlopen(request, timeout=5) as answer:
                answer.read()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGTERM)  # our own child, by its PID
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


@contextlib.contextmanager
def lab_server(root: Path, extra_env: dict[str, str] | None = None) -> Iterator[Lab]:
    state = Path(tempfile.mkdtemp(prefix="dalle-nb-lab-"))
    lab = Lab(root, state, extra_env)
    try:
        yield lab.start()
    finally:
        lab.stop()
        shutil.rmtree(state, ignore_errors=True)


@contextlib.contextmanager
def chromium(playwright: Any, viewport: tuple[int, int] = (1400, 1000)) -> Iterator[Any]:
    """A persistent Chromium context with a fresh profile, removed afterwards."""
    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(MISSING_CHROMIUM)
    profile = tempfile.mkdtemp(prefix="dalle-nb-chromium-")
    context = playwright.chromium.launch_persistent_context(
        profile,
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": viewport[0], "height": viewport[1]},
    )
    try:
        yield context
    finally:
        context.close()
        shutil.rmtree(profile, ignore_errors=True)


# ---------------------------------------------------------------------------- pages

_KERNEL_READY = """() => {
    const app = window.jupyterapp;
    const w = app && app.shell.currentWidget;
    const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
    return !!k && k.status === 'idle' && k.connectionStatus === 'connected';
}"""

_RUN_CELL = """async ([index, source]) => {
    const app = window.jupyterapp;
    const panel = app.shell.currentWidget;
    const notebook = panel.content;
    notebook.activeCellIndex = index;
    notebook.activeCell.model.sharedModel.setSource(source);
    await app.commands.execute('notebook:run-cell');
}"""

_EXECUTE = """async (code) => {
    const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
    const future = kernel.requestExecute({code, silent: false, store_history: false});
    let out = '', error = null;
    future.onIOPub = (msg) => {
        if (msg.header.msg_type === 'stream') out += msg.content.text;
        if (msg.header.msg_type === 'error') error = msg.content.ename + ': ' + msg.content.evalue;
    };
    await future.done;
    return {out, error};
}"""


def open_notebook(page: Any, url: str, timeout: float = 60_000) -> None:
    """Open a notebook (JupyterLab or Notebook 7 URL) and wait for its kernel to be idle and connected."""
    page.goto(url)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout)
    wait_kernel_idle(page, timeout)


def wait_kernel_idle(page: Any, timeout: float = 60_000) -> None:
    page.wait_for_function(_KERNEL_READY, timeout=timeout)


def run_cell(page: Any, index: int, source: str, marker: str, timeout: float = 60_000) -> None:
    """Put ``source`` into cell ``index``, run it, and wait for ``marker`` in its output and an idle kernel."""
    page.evaluate(_RUN_CELL, [index, source])
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    cell.locator(f".jp-OutputArea-output:has-text('{marker}')").wait_for(timeout=timeout)
    wait_kernel_idle(page, timeout)


def execute(page: Any, code: str) -> str:
    """Run ``code`` in the notebook's kernel (no cell, no output shown) and return what it printed.

    The kernel handles messages in order, so this sees every mouse event the page sent before it.
    """
    answer = page.evaluate(_EXECUTE, code)
    if answer["error"]:
        raise AssertionError(f"the kernel raised {answer['error']} running:\n{code}")
    out: str = answer["out"]
    return out


def command(page: Any, name: str, args: dict[str, Any] | None = None) -> None:
    """Run a JupyterLab command (``docmanager:save``, ``apputils:change-theme``, ...)."""
    page.evaluate("([name, args]) => window.jupyterapp.commands.execute(name, args)", [name, args or {}])
