"""The old path of ``dalle_nb.core.config`` (settings and their sources),
kept so notebooks that import ``dalle_nb.config`` still work.

It is the same module object, not a copy: what one changes, the other sees.
"""

import sys

from .core import config as _module

sys.modules[__name__] = _module
