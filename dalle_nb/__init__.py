"""dalle_nb: OpenAI's image models as a native part of Jupyter.

The public API fits on one line: ``generate``, ``edit``, ``vary`` (and ``agenerate``,
``aedit``, ``avary``), ``history``, ``configure``, ``settings``, ``GeneratedImage``,
``ImageSet``, and ``%load_ext dalle_nb``; long lists run in the background with ``submit``
(a ``BatchJob``; ``jobs()`` finds them after a restart); with ``wait=False`` a call returns a ``JobHandle``
that reports ``PartialImage``, ``ImageSaved``, ``RequestFailed`` and ``JobDone`` events.
Names load on first use, so importing the package (and loading the extension) does not
import the SDK, numpy or Pillow.
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
    "refine": "api",
    "arefine": "api",
    "history": "api",
    "submit": "batch",
    "jobs": "batch",
    "BatchJob": "batch",
    "configure": "config",
    "settings": "config",
    "GeneratedImage": "results",
    "ImageSet": "results",
    "DalleError": "errors",
    "InvalidRequest": "errors",
    "APIError": "errors",
    "VARIATION_PROMPT": "plan",
    "JobHandle": "session",
    "PartialImage": "events",
    "ImageSaved": "events",
    "RequestFailed": "events",
    "JobDone": "events",
    "MaskEditor": "widgets",
    "Studio": "widgets",
}

__all__ = [
    "VARIATION_PROMPT",
    "APIError",
    "BatchJob",
    "DalleError",
    "GeneratedImage",
    "ImageSaved",
    "ImageSet",
    "InvalidRequest",
    "JobDone",
    "JobHandle",
    "PartialImage",
    "RequestFailed",
    "MaskEditor",
    "Studio",
    "__version__",
    "aedit",
    "agenerate",
    "arefine",
    "avary",
    "configure",
    "edit",
    "generate",
    "history",
    "jobs",
    "load_ipython_extension",
    "refine",
    "settings",
    "submit",
    "unload_ipython_extension",
    "vary",
]

if TYPE_CHECKING:
    from .api import aedit, agenerate, arefine, avary, edit, generate, history, refine, vary
    from .batch import BatchJob, jobs, submit
    from .config import configure, settings
    from .errors import APIError, DalleError, InvalidRequest
    from .events import ImageSaved, JobDone, PartialImage, RequestFailed
    from .plan import VARIATION_PROMPT
    from .results import GeneratedImage, ImageSet
    from .session import JobHandle
    from .widgets import MaskEditor, Studio


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
