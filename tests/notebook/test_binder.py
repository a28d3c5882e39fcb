"""Binder builds: the files in ``binder/`` read the way repo2docker reads them, and they install.

repo2docker's rules are re-implemented here from its source, ``jupyterhub/repo2docker`` at
commit 808ae6bb (2026-08-21):

- ``buildpacks/base.py``, ``BuildPack.binder_dir``: ``binder/`` or ``.binder/`` (both is an
  error), else the repository root; ``BuildPack.runtime``: ``runtime.txt`` is ``name-version``,
  ``name-version-yyyy-mm-dd`` or ``name-yyyy-mm-dd``.
- ``buildpacks/python/__init__.py``, ``PythonBuildPack.python_version``: no runtime version means
  ``major_pythons["3"]`` (``"3.10"``, from ``buildpacks/conda/__init__.py``); a bare major
  (``python-3``) means that too; ``python-X.Y`` is used as written.  ``pyproject.toml``'s
  ``requires-python`` is read **only when there is no binder folder**, and then a default that
  does not satisfy it falls back to the highest of ``SUPPORTED_PYTHON_VERSION``
  (``buildpacks/conda/supported_python_version.py``) that does.  ``CondaBuildPack`` then needs
  an ``X.Y`` version that has a lock file (3.8 to 3.14 on linux-64).
- ``PythonBuildPack._get_pip_scripts`` / ``get_assemble_scripts``: ``pip install --no-cache-dir -r
  binder/requirements.txt`` in ``${REPO_DIR}`` (the image's ``WORKDIR``, the repository root), so a
  ``.`` in it is the root; a local requirement (``utils.is_local_pip_requirement``) makes it run
  after the whole repository is copied in.  ``pip install .`` is added only when there is no
  binder folder.
"""

from __future__ import annotations

import datetime
import json
import re
import shutil
import subprocess
import sys
import tomllib
import urllib.parse
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
MAJOR_PYTHONS = {"2": "2.7", "3": "3.10"}
SUPPORTED_PYTHON_VERSION = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
QUICKSTART = "notebooks/01_quickstart.ipynb"


# ------------------------------------------------------------------ repo2docker's rules


def binder_dir(repo: Path) -> str:
    has_binder, has_dotbinder = (repo / "binder").is_dir(), (repo / ".binder").is_dir()
    if has_binder and has_dotbinder:
        raise RuntimeError("The repository contains both a 'binder' and a '.binder' directory.")
    return ".binder" if has_dotbinder else "binder" if has_binder else ""


def runtime(repo: Path) -> tuple[str | None, str | None, datetime.date | None]:
    try:
        text = (repo / binder_dir(repo) / "runtime.txt").read_text().strip()
    except FileNotFoundError:
        return (None, None, None)
    parts = text.split("-")
    if len(parts) not in (2, 4, 5) or not all(parts):
        raise ValueError(f"Invalid runtime.txt: {text}")
    version = parts[1] if len(parts) in (2, 5) else None
    date = None
    if len(parts) in (4, 5):
        stamp = "-".join(parts[-3:])
        if not re.match(r"\d\d\d\d-\d\d-\d\d", stamp):
            raise ValueError(f"Invalid runtime.txt date: {stamp}")
        date = datetime.date.fromisoformat(stamp)
    return (parts[0], version, date)


def python_version(repo: Path) -> tuple[str, str]:
    """The Python repo2docker builds with, and where it came from ("default", "runtime", "fallback")."""
    name, version, _ = runtime(repo)
    if name is not None and name != "python":
        return MAJOR_PYTHONS["3"], "default"
    if name is None or version is None:
        chosen, source = MAJOR_PYTHONS["3"], "default"
    elif len(Version(version).release) <= 1:
        chosen, source = MAJOR_PYTHONS[version], "default"
    else:
        chosen, source = version, "runtime"
    pyproject = repo / "pyproject.toml"
    if not binder_dir(repo) and pyproject.exists():
        project = tomllib.loads(pyproject.read_text()).get("project", {})
        if "requires-python" in project:
            specifier = SpecifierSet(project["requires-python"])
            if Version(chosen) not in specifier:
                if source == "runtime":
                    raise RuntimeError("runtime.txt version not supported by pyproject.toml.")
                possible = list(specifier.filter(SUPPORTED_PYTHON_VERSION))
                if not possible:
                    raise RuntimeError("repo2docker does not support a Python version compatible with pyproject.toml.")
                chosen, source = possible[-1], "fallback"
    return chosen, source


def is_local_pip_requirement(line: str) -> bool:
    line = line.split("#", 1)[0].strip()
    if not line:
        return False
    if line.startswith(("-r", "-c", "--requirement", "--constraint")):
        return True
    if line.startswith("--pre"):
        return False
    if line.startswith("--") and "=" in line:
        _, line = line.split("=", 1)
    if line.startswith("-"):
        _, *rest = line.split(None, 1)
        if not rest:
            return False
        line = rest[0]
    if "file://" in line:
        return True
    path = line.split("://", 1)[1] if "://" in line else line
    return path.startswith(".")


# ------------------------------------------------------------------ this repository


def test_repo2docker_builds_on_a_python_the_package_supports() -> None:
    chosen, source = python_version(ROOT)
    assert (chosen, source) == ("3.11", "runtime"), "binder/runtime.txt picks it, not the 3.10 default"
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert Version(chosen) in SpecifierSet(requires)
    assert chosen in SUPPORTED_PYTHON_VERSION and len(chosen.split(".")) == 2, "the conda buildpack needs X.Y"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"binder/requirements.txt": ".[lab]\n"}, ("3.10", "default")),  # the bug: binder/ hides requires-python
        ({"binder/runtime.txt": "python-3\n"}, ("3.10", "default")),
        ({"binder/runtime.txt": "python-3.12-2026-01-02\n"}, ("3.12", "runtime")),
        ({"requirements.txt": ".\n"}, ("3.14", "fallback")),  # no binder/: requires-python is read
        ({".binder/runtime.txt": "python-3.13\n"}, ("3.13", "runtime")),
    ],
)
def test_the_rule_as_repo2docker_applies_it(tmp_path: Path, files: dict[str, str], expected: tuple[str, str]) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nrequires-python = ">=3.11"\n')
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    assert python_version(tmp_path) == expected


def test_a_malformed_runtime_is_refused_as_repo2docker_refuses_it(tmp_path: Path) -> None:
    (tmp_path / "binder").mkdir()
    (tmp_path / "binder" / "runtime.txt").write_text("python3.11\n")
    with pytest.raises(ValueError, match="Invalid runtime.txt"):
        python_version(tmp_path)


def requirement_lines() -> list[str]:
    lines = (ROOT / binder_dir(ROOT) / "requirements.txt").read_text().splitlines()
    return [stripped for line in lines if (stripped := line.split("#", 1)[0].strip())]


def test_the_requirements_install_this_repository_with_jupyterlab() -> None:
    assert binder_dir(ROOT) == "binder"
    lines = requirement_lines()
    local = [line for line in lines if is_local_pip_requirement(line)]
    assert local, "the package itself is installed from the repository"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for line in local:
        assert not line.startswith("-"), f"{line!r}: a plain path, resolved from the repository root"
        path, _, extras = line.partition("[")
        assert (ROOT / path / "pyproject.toml").samefile(ROOT / "pyproject.toml"), f"{line!r} is the repository root"
        wanted = {extra.strip() for extra in extras.rstrip("]").split(",") if extra.strip()}
        assert wanted == {"lab"}
    lab = [Requirement(r).name for r in pyproject["project"]["optional-dependencies"]["lab"]]
    assert "jupyterlab" in lab


def test_the_readme_launch_link_opens_the_quickstart_in_jupyterlab() -> None:
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"https://mybinder\.org/v2/gh/[^\s)\]>]+", readme)
    assert links and len(set(links)) == 1, "one launch link, used by the badge and the text"
    url = urllib.parse.urlsplit(links[0])
    owner, repo, ref = url.path.split("/")[3:6]
    assert (repo, ref) == ("dalle_nb", "main") and owner
    urlpath = urllib.parse.parse_qs(url.query)["urlpath"][0]
    assert urlpath == f"lab/tree/{QUICKSTART}" and (ROOT / QUICKSTART).exists()
    assert "mybinder.org/badge_logo.svg" in readme.split("\n## ", 1)[0], "the badge is on the first screen"


def test_the_binder_requirements_install_into_a_fresh_venv(tmp_path: Path) -> None:
    """What repo2docker's assemble step runs, from the repository root, with the Python it picks.

    Uses the package indexes pip is configured with here; the Python is the one binder/runtime.txt
    names when this machine has it, else this interpreter (which pyproject's requires-python allows).
    """
    chosen, _ = python_version(ROOT)
    python = shutil.which(f"python{chosen}") or sys.executable
    venv = tmp_path / "binder-env"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    bin_dir = venv / "bin"
    version = subprocess.run(
        [str(bin_dir / "python"), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if shutil.which(f"python{chosen}"):
        assert version == chosen
    install = subprocess.run(
        # repo2docker adds --no-cache-dir; pip's cache changes what is downloaded, not what is installed
        [str(bin_dir / "python"), "-m", "pip", "install", "-q", "-r", "binder/requirements.txt"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert install.returncode == 0, install.stderr[-4000:]
    check = subprocess.run(
        [str(bin_dir / "python"), "-c", "import dalle_nb, jupyterlab; print(jupyterlab.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert Version(check.stdout.strip()).major == 4
    # the wheel's data-files put the highlighting extension where JupyterLab finds it, no node involved
    extension = venv / "share" / "jupyter" / "labextensions" / "dalle-nb-highlight"
    assert json.loads((extension / "package.json").read_text())["name"] == "dalle-nb-highlight"
    assert json.loads((extension / "install.json").read_text())["packageName"] == "dalle_nb"
    listed = subprocess.run(
        [str(bin_dir / "jupyter"), "labextension", "list"],
        capture_output=True,
        text=True,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "JUPYTER_PLATFORM_DIRS": "1"},
    )
    line = next(line for line in (listed.stdout + listed.stderr).splitlines() if "dalle-nb-highlight" in line)
    assert "enabled" in line and "OK" in line, line
