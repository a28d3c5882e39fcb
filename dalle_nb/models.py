"""The old path of ``dalle_nb.core.capabilities`` (the capability table),
kept so notebooks that import ``dalle_nb.models`` still work.

It is the same module object, not a copy: what one changes, the other sees.
"""

import sys

from .core import capabilities as _module

sys.modules[__name__] = _module
