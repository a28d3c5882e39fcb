"""The digest of what dalle_nb/labextension/ is built from.

``make labextension`` stores it as ``dalle_nb/labextension/source.sha256`` after a build, and
``tests/test_labextension.py`` recomputes it: a source edited without rebuilding fails the tests
on a machine with no node.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = ("package.json", "package-lock.json", "tsconfig.json", "src", "style")


def digest(root: Path = HERE) -> str:
    sha = hashlib.sha256()
    for name in SOURCES:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            sha.update(file.relative_to(root).as_posix().encode() + b"\0")
            sha.update(file.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return sha.hexdigest()


if __name__ == "__main__":
    print(digest())
