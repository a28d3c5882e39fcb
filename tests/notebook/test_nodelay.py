"""The opt-in server extension that sends kernel websockets' small messages at once (TCP_NODELAY)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path


def test_the_extension_loads_into_a_jupyter_server_and_says_so(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
           "JUPYTER_DATA_DIR": str(tmp_path / "data"), "JUPYTER_PLATFORM_DIRS": "1"}  # fmt: skip
    command = [
        sys.executable, "-m", "jupyter", "server", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        "--ServerApp.jpserver_extensions={'dalle_nb.nodelay': True}", f"--ServerApp.root_dir={tmp_path}",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    seen: list[str] = []
    try:
        assert server.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = server.stdout.readline()
            seen.append(line)
            if "dalle_nb.nodelay: kernel websockets send small messages at once" in line or not line:
                break
    finally:
        server.terminate()
        server.wait(20)
    log = "".join(seen)
    assert "dalle_nb.nodelay: kernel websockets send small messages at once" in log, log[-2000:]
    assert "failed to load" not in log.lower()
