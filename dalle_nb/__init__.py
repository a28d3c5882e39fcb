"""dalle_nb: OpenAI's image models as a native part of Jupyter.

The public API fits on one line: ``generate``, ``edit``, ``vary`` (and ``agenerate``,
``aedit``, ``avary``), ``history``, ``configure``, ``settings``, ``GeneratedImage``,
``ImageSet``, and ``%load_ext dalle_nb``.  Names load on first use, so importing the
package (and loading the extension) does not import the SDK, numpy or Pillow.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "generate": "api",
    "edit": "api",
    "vary": "api",
    "agenerate": "api",
    "aedit": "api",
    "avary": "api",
    "history": "api",
    "configure": "config",
    "settings": "config",
    "GeneratedImage": "results",
    "ImageSet": "results",
    "DalleError": "errors",
    "InvalidRequest": "errors",
    "APIError": "errors",
    "MaskEditor": "widgets",
}

__all__ = [
    "APIError",
    "DalleError",
    "GeneratedImage",
    "ImageSet",
    "InvalidRequest",
    "MaskEditor",
    "__version__",
    "aedit",
    "agenerate",
    "avary",
    "configure",
    "edit",
    "generate",
    "history",
    "load_ipython_extension",
    "settings",
    "unload_ipython_extension",
    "vary",
]

if TYPE_CHECKING:
    from .api import aedit, agenerate, avary, edit, generate, history, vary
    from .config import configure, settings
    from .errors import APIError, DalleError, InvalidRequest
    from .results import GeneratedImage, ImageSet
    from .widgets import MaskEditor


def load_ipython_extension(shell: Any) -> None:
    """``%load_ext dalle_nb``: register ``%%dalle``, ``%%dalle_edit``, ``%dalle_vary`` and ``%config Dalle``."""
    from .magics import load_ipython_extension as load

    load(shell)


def unload_ipython_extension(shell: Any) -> None:
    """``%unload_ext dalle_nb``: remove the magics again."""
    from .magics import unload_ipython_extension as unload

    unload(shell)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'dalle_nb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
