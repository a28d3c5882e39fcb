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
    "estimate": "pricing",
    "spent": "pricing",
    "Estimate": "core.costs",
    "Cost": "core.costs",
    "submit": "background.batch",
    "jobs": "background.batch",
    "BatchJob": "background.batch",
    "configure": "runtime.config",
    "settings": "runtime.config",
    "GeneratedImage": "core.results",
    "ImageSet": "core.results",
    "DalleError": "core.errors",
    "InvalidRequest": "core.errors",
    "APIError": "core.errors",
    "VARIATION_PROMPT": "core.plan",
    "JobHandle": "runtime.session",
    "PartialImage": "core.events",
    "ImageSaved": "core.events",
    "RequestFailed": "core.events",
    "JobDone": "core.events",
    "MaskEditor": "notebook.widgets",
    "Studio": "notebook.widgets",
}

__all__ = [
    "VARIATION_PROMPT",
    "APIError",
    "BatchJob",
    "Cost",
    "DalleError",
    "Estimate",
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
    "estimate",
    "generate",
    "history",
    "jobs",
    "load_ipython_extension",
    "refine",
    "settings",
    "spent",
    "submit",
    "unload_ipython_extension",
    "vary",
]

if TYPE_CHECKING:
    from .api import aedit, agenerate, arefine, avary, edit, generate, history, refine, vary
    from .background.batch import BatchJob, jobs, submit
    from .core.costs import Cost, Estimate
    from .core.errors import APIError, DalleError, InvalidRequest
    from .core.events import ImageSaved, JobDone, PartialImage, RequestFailed
    from .core.plan import VARIATION_PROMPT
    from .core.results import GeneratedImage, ImageSet
    from .notebook.widgets import MaskEditor, Studio
    from .pricing import estimate, spent
    from .runtime.config import configure, settings
    from .runtime.session import JobHandle


def load_ipython_extension(shell: Any) -> None:
    """``%load_ext dalle_nb``: register ``%%dalle``, ``%%dalle_edit``, ``%dalle_vary`` and ``%config Dalle``."""
    # the magics load with %load_ext, not with import dalle_nb
    from .notebook.magics import load_ipython_extension as load

    load(shell)


def unload_ipython_extension(shell: Any) -> None:
    """``%unload_ext dalle_nb``: remove the magics again."""
    # the magics load with %load_ext, not with import dalle_nb
    from .notebook.magics import unload_ipython_extension as unload

    unload(shell)


#: Modules that moved into the wings keep their old path (``dalle_nb.config.reset()``, ``dalle_nb.models.choices``):
#: each is an alias of its new home (``config``: of the rules and of the default session's settings functions),
#: loaded on first use like the names above.
_OLD_PATHS = frozenset({"config", "errors", "imaging", "models", "widgets"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    if name in _OLD_PATHS:
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module 'dalle_nb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
