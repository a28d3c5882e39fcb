"""The prebuilt JupyterLab extension that highlights ``%%dalle`` cells ships inside the package.

It is built from ``labextension/`` by ``make labextension`` (node, dev only) and committed under
``dalle_nb/labextension/``; the wheel's data-files put it in ``share/jupyter/labextensions/``,
where JupyterLab 4 and Notebook 7 load it, so ``pip install dalle_nb`` needs no node.  What it
does in a browser is tested in ``tests/browser/test_highlight_lab.py``.
"""

from __future__ import annotations

import json
import re
import runpy
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILT = ROOT / "dalle_nb" / "labextension"
SOURCE = ROOT / "labextension"
NAME = "dalle-nb-highlight"
SHARE = f"share/jupyter/labextensions/{NAME}"


def shipped() -> dict[str, bytes]:
    """What the wheel must install under share/jupyter/labextensions/dalle-nb-highlight/."""
    files = {
        "package.json": (BUILT / "package.json").read_bytes(),
        "install.json": (SOURCE / "install.json").read_bytes(),
    }
    for path in sorted((BUILT / "static").iterdir()):
        files[f"static/{path.name}"] = path.read_bytes()
    return files


def test_the_built_extension_is_committed_and_complete() -> None:
    meta = json.loads((BUILT / "package.json").read_text())
    assert meta["name"] == NAME
    entry = BUILT / meta["jupyterlab"]["_build"]["load"]
    assert entry.is_file(), "the entry point JupyterLab loads"
    static = {path.name for path in (BUILT / "static").iterdir()}
    assert [name for name in static if name.startswith("remoteEntry.")] == [entry.name], "no stale builds left"
    # the chunks the entry point loads on demand (webpack: {id: "hash"}) are exactly the other scripts
    chunks = re.search(r"\{(\d+:\"[0-9a-f]+\"(?:,\d+:\"[0-9a-f]+\")*)\}\[e\]", entry.read_text())
    assert chunks, "the entry point names its chunks"
    wanted = {f"{chunk}.{digest}.js" for chunk, digest in re.findall(r"(\d+):\"([0-9a-f]+)\"", chunks.group(1))}
    assert wanted == static - {entry.name, "style.js", "third-party-licenses.json"}
    assert "style.js" in static
    # small: the core's CodeMirror and JupyterLab packages are shared, not bundled
    assert sum((BUILT / "static" / name).stat().st_size for name in static) < 40_000


def test_the_build_is_from_the_committed_source() -> None:
    digest = runpy.run_path(str(SOURCE / "source_hash.py"))["digest"]
    assert (BUILT / "source.sha256").read_text().strip() == digest(SOURCE), (
        "labextension/ changed since dalle_nb/labextension/ was built: run `make labextension` and commit the result"
    )
    source, built = json.loads((SOURCE / "package.json").read_text()), json.loads((BUILT / "package.json").read_text())
    del built["jupyterlab"]["_build"]
    assert built == source
    install = json.loads((SOURCE / "install.json").read_text())
    assert install["packageManager"] == "python" and install["packageName"] == "dalle_nb"


def test_the_wheel_installs_the_extension_where_jupyterlab_finds_it(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-q", "-w", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("dalle_nb-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        prefix = next(n for n in archive.namelist() if n.endswith(".data/data/" + SHARE + "/package.json"))
        prefix = prefix.removesuffix("package.json")
        inside = {
            name.removeprefix(prefix): archive.read(name) for name in archive.namelist() if name.startswith(prefix)
        }
    assert inside == shipped()
