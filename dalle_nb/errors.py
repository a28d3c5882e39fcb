"""The old path of ``dalle_nb.core.errors`` (the typed exceptions),
kept so notebooks that import ``dalle_nb.errors`` still work.

It is the same module object, not a copy: what one changes, the other sees.
"""

import sys

from .core import errors as _module

sys.modules[__name__] = _module
