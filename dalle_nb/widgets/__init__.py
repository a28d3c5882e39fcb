"""The old path of ``dalle_nb.notebook.widgets`` (``MaskEditor``, ``Studio``, ``MAX_CANVAS_SIDE``), kept so
notebooks that import ``dalle_nb.widgets`` still work.  New code imports ``dalle_nb.notebook.widgets``."""

from ..notebook.widgets import *  # noqa: F403
from ..notebook.widgets import __all__ as __all__
